/*
 * options.c: wsd's option table (the common options are lib/config.c's),
 * the checks that span several options, and SIGHUP reloading. A reload
 * reads every source again into a fresh configuration and, when it is
 * valid, takes over what can change while running: the log level, the
 * token secret, anonymous_read, allowed_origins and the per-connection
 * limits and timeouts. Listening address, port, database settings,
 * max_connections, node_id and log_file need a restart (a reload that
 * changes them says so in the log).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "limits.h"
#include "log.h"
#include "channel.h"
#include "options.h"
#include "xalloc.h"

#define OFF(field) offsetof(struct wsd_config, field)
#define XSTR(x) STR(x)
#define STR(x) #x

static const struct sb_option wsd_options[] = {
    {"listen_address", SB_OPT_STRING, 1, 255, "127.0.0.1",
     "address or interface to accept WebSocket connections on",
     OFF(listen_address), 0, NULL},
    {"listen_port", SB_OPT_INT, 1, 65535, "8080",
     "TCP port; several wsd processes may share one (SO_REUSEPORT)",
     OFF(listen_port), 0, NULL},
    {"max_connections", SB_OPT_INT, 1, 1000000, "10000",
     "WebSocket connections this process holds; an upgrade beyond is "
     "refused with 503 (read at start only)",
     OFF(max_connections), 0, NULL},
    {"max_message_bytes", SB_OPT_BYTES, 1024, 2097152, "131072",
     "largest WebSocket message from a client (close 1009 beyond)",
     OFF(max_message_bytes), 0, NULL},
    {"max_subscriptions", SB_OPT_INT, 1, 1024, "64",
     "channels per WebSocket connection", OFF(max_subscriptions), 0, NULL},
    {"send_queue_max", SB_OPT_BYTES, 65536, 67108864, "1m",
     "bytes queued to one connection before it is closed as a slow "
     "consumer (4008)",
     OFF(send_queue_max), 0, NULL},
    {"publish_rate", SB_OPT_INT, 1, 100000, "100",
     "publishes and signals per second per connection", OFF(publish_rate), 0,
     NULL},
    {"publish_burst", SB_OPT_INT, 1, 100000, "200",
     "bucket size for publish_rate", OFF(publish_burst), 0, NULL},
    {"auth_timeout", SB_OPT_DURATION_MS, 1000, 300000, "10s",
     "time to authenticate after connecting (close 4001)",
     OFF(auth_timeout_ms), 0, NULL},
    {"token_grace", SB_OPT_DURATION_MS, 0, 3600000, "30s",
     "time to refresh a token in band after it expired (close 4002)",
     OFF(token_grace_ms), 0, NULL},
    {"ws_ping_interval", SB_OPT_DURATION_MS, 1000, 3600000, "30s",
     "time between WebSocket pings to each client", OFF(ws_ping_interval_ms),
     0, NULL},
    {"ws_idle_timeout", SB_OPT_DURATION_MS, 2000, 7200000, "75s",
     "a client silent this long (not even a pong) is closed",
     OFF(ws_idle_timeout_ms), 0, NULL},
    {"commit_window", SB_OPT_DURATION_MS, 0, 1000, "0ms",
     "longest time a publish reaching an idle writer waits for others to "
     "share its transaction (0: until the loop turn ends)",
     OFF(commit_window_ms), 0, NULL},
    {"db_pool_size", SB_OPT_INT, 1, 16, "2",
     "database connections for reads and writes (plus one for LISTEN)",
     OFF(db_pool_size), 0, NULL},
    {"shutdown_timeout", SB_OPT_DURATION_MS, 1000, 300000, "10s",
     "on SIGTERM, longest wait for the last database writes (node_gone, "
     "presence leaves, audit records) before exiting",
     OFF(shutdown_timeout_ms), 0, NULL},
    {"db_stall_timeout", SB_OPT_DURATION_MS, 1000, 3600000, "30s",
     "a database query unanswered (or not sent whole) this long resets its "
     "connection",
     OFF(db_stall_timeout_ms), 0, NULL},
    {"allowed_origins", SB_OPT_STRING, 0, 16384, NULL,
     "browser origins allowed to open WebSockets, separated by commas or "
     "spaces (empty: any)",
     OFF(allowed_origins), 0, NULL},
};

void
wsd_options_register(struct sb_config *cfg, struct sb_common_config *common,
                     struct wsd_config *conf)
{
    sb_config_add_common(cfg, common);
    sb_config_add(cfg, wsd_options,
                  sizeof(wsd_options) / sizeof(wsd_options[0]), conf);
}

int
wsd_options_check(const struct sb_common_config *common,
                  const struct wsd_config *conf, char *why, size_t size)
{
    if (sb_config_check_auth(common, why, size) != SB_OK)
        return SB_ERR;
    if (conf->ws_idle_timeout_ms <= conf->ws_ping_interval_ms) {
        snprintf(why, size, "ws_idle_timeout (%lldms) must be longer than "
                            "ws_ping_interval (%lldms)",
                 conf->ws_idle_timeout_ms, conf->ws_ping_interval_ms);
        return SB_ERR;
    }
    return SB_OK;
}

/* Take over the reloadable values of a freshly loaded configuration. */
static void
take_over(struct wsd_server *s, const struct sb_common_config *common,
          const struct wsd_config *conf)
{
    enum sb_log_level level;

    if (sb_log_level_from_name(common->log_level, &level) == SB_OK)
        sb_log_set_level(level);
    s->conf.max_message_bytes = conf->max_message_bytes;
    s->conf.max_subscriptions = conf->max_subscriptions;
    s->conf.send_queue_max = conf->send_queue_max;
    s->conf.publish_rate = conf->publish_rate;
    s->conf.publish_burst = conf->publish_burst;
    s->conf.auth_timeout_ms = conf->auth_timeout_ms;
    s->conf.token_grace_ms = conf->token_grace_ms;
    s->conf.commit_window_ms = conf->commit_window_ms;
    s->conf.ws_ping_interval_ms = conf->ws_ping_interval_ms;
    s->conf.ws_idle_timeout_ms = conf->ws_idle_timeout_ms;
    s->common.commit_batch = common->commit_batch;
    s->common.heartbeat_interval_ms = common->heartbeat_interval_ms;
    s->conf.db_stall_timeout_ms = conf->db_stall_timeout_ms;
    s->conf.shutdown_timeout_ms = conf->shutdown_timeout_ms;
    s->common.max_data_bytes = common->max_data_bytes;
    sb_config_list_free(s->anon_patterns);
    s->anon_patterns = sb_config_list(common->anonymous_read);
    sb_config_list_free(s->origins);
    s->origins = sb_config_list(conf->allowed_origins);
    wsd_options_set_secret(s, common->secret, common->secret_len);
}

void
wsd_options_set_secret(struct wsd_server *s, const unsigned char *secret,
                       size_t len)
{
    if (s->secret != NULL) {
        explicit_bzero(s->secret, s->secret_len);
        free(s->secret);
    }
    s->secret = NULL;
    s->secret_len = 0;
    if (secret == NULL)
        return;
    s->secret = sb_malloc(len);
    memcpy(s->secret, secret, len);
    s->secret_len = len;
}

static void
warn_restart(const struct wsd_server *s, const struct sb_common_config *common,
             const struct wsd_config *conf)
{
    if (strcmp(s->conf.listen_address, conf->listen_address) != 0 ||
        s->conf.listen_port != conf->listen_port ||
        strcmp(s->common.database_url ? s->common.database_url : "",
               common->database_url ? common->database_url : "") != 0 ||
        s->conf.db_pool_size != conf->db_pool_size ||
        s->conf.max_connections != conf->max_connections ||
        strcmp(s->common.node_id, common->node_id) != 0 ||
        strcmp(s->common.log_file ? s->common.log_file : "",
               common->log_file ? common->log_file : "") != 0)
        sb_log_warn("reload: listen address, port, database settings, "
                    "max_connections, node_id and log_file change only at "
                    "restart");
}

int
wsd_options_reload(struct wsd_server *s)
{
    struct sb_config *cfg = sb_config_new("wsd", PACKAGE_VERSION);
    struct sb_common_config common;
    struct wsd_config conf;
    enum sb_config_action action;
    char why[256];
    int rc = SB_ERR;

    wsd_options_register(cfg, &common, &conf);
    if (sb_config_load(cfg, s->argc, s->argv, &action) != SB_OK ||
        sb_config_finish(cfg) != SB_OK) {
        sb_log_error("reload: %s; keeping the running configuration",
                     sb_config_error(cfg));
        goto out;
    }
    if (wsd_options_check(&common, &conf, why, sizeof(why)) != SB_OK) {
        sb_log_error("reload: %s; keeping the running configuration", why);
        goto out;
    }
    warn_restart(s, &common, &conf);
    take_over(s, &common, &conf);
    sb_log_info("configuration reloaded");
    rc = SB_OK;
out:
    sb_config_free(cfg);
    return rc;
}
