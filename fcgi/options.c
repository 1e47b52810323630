/*
 * options.c: switchboard-fcgi's option table (the common options are
 * lib/config.c's) and the checks that span several options. Durations are
 * kept in milliseconds; the protocol's seconds are converted where used.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "channel.h"
#include "limits.h"
#include "log.h"
#include "options.h"
#include "xalloc.h"

#define OFF(field) offsetof(struct fcgi_config, field)
#define XSTR(x) STR(x)
#define STR(x) #x

/* "host:port" with a port of 1..65535, or an absolute Unix socket path. */
static int
check_listen(const char *value, char *why, size_t size)
{
    const char *colon = strrchr(value, ':');
    char *end;
    long port;

    if (value[0] == '/')
        return SB_OK;
    if (colon == NULL || colon == value)
        goto bad;
    port = strtol(colon + 1, &end, 10);
    if (colon[1] < '0' || colon[1] > '9' || *end != '\0' || port < 1 ||
        port > 65535)
        goto bad;
    return SB_OK;
bad:
    snprintf(why, size, "'%s' is not host:port or a socket path", value);
    return SB_ERR;
}

static const struct sb_option fcgi_options[] = {
    {"listen", SB_OPT_STRING, 1, 256, "127.0.0.1:9000",
     "FastCGI socket to listen on: host:port, or an absolute Unix socket "
     "path (not used when fd 0 is a listening socket or when run as CGI)",
     OFF(listen), 0, check_listen},
    {"threads", SB_OPT_INT, 1, 256, "8",
     "request threads, each with its own database connection", OFF(threads),
     0, NULL},
    {"max_parked", SB_OPT_INT, 1, 100000, "10000",
     "waiting long-polls and SSE streams per process (503 beyond)",
     OFF(max_parked), 0, NULL},
    {"release_threads", SB_OPT_INT, 0, 64, "2",
     "threads that answer and close the long-polls one doorbell releases "
     "(0: the waiter thread does it alone)",
     OFF(release_threads), 0, NULL},
    {"poll_timeout", SB_OPT_DURATION_MS, 0, 60000, "25s",
     "long-poll wait when the client gives no timeout", OFF(poll_timeout_ms),
     0, NULL},
    {"poll_timeout_max", SB_OPT_DURATION_MS, 1000, 300000, "60s",
     "the longest timeout a client may ask for", OFF(poll_timeout_max_ms), 0,
     NULL},
    {"max_body_bytes", SB_OPT_BYTES, 1024, 16777216, "1m",
     "largest request body (413 beyond)", OFF(max_body_bytes), 0, NULL},
    {"sse_heartbeat", SB_OPT_DURATION_MS, 1000, 300000, "15s",
     "a ': heartbeat' comment after this much silence on an SSE stream",
     OFF(sse_heartbeat_ms), 0, NULL},
    {"sse_retry", SB_OPT_DURATION_MS, 100, 600000, "2000ms",
     "the retry: hint sent to EventSource", OFF(sse_retry_ms), 0, NULL},
    {"max_subscriptions", SB_OPT_INT, 1, 1024, "64",
     "channels per long-poll or SSE stream", OFF(max_subscriptions), 0, NULL},
    {"publish_rate", SB_OPT_INT, 1, 100000, "100",
     "publishes and signals per second per token subject", OFF(publish_rate),
     0, NULL},
    {"publish_burst", SB_OPT_INT, 1, 100000, "200",
     "bucket size for publish_rate", OFF(publish_burst), 0, NULL},
    {"commit_window", SB_OPT_DURATION_MS, 0, 1000, "2ms",
     "longest time a publish waits for others to share its transaction",
     OFF(commit_window_ms), 0, NULL},
    {"allowed_origins", SB_OPT_STRING, 0, 16384, NULL,
     "browser origins allowed to call the API from other sites, separated "
     "by commas or spaces (empty: no CORS headers)",
     OFF(allowed_origins), 0, NULL},
};

void
fcgi_options_register(struct sb_config *cfg, struct sb_common_config *common,
                      struct fcgi_config *conf)
{
    sb_config_add_common(cfg, common);
    sb_config_add(cfg, fcgi_options,
                  sizeof(fcgi_options) / sizeof(fcgi_options[0]), conf);
}

int
fcgi_options_check(const struct sb_common_config *common,
                   const struct fcgi_config *conf, char *why, size_t size)
{
    if (sb_config_check_auth(common, why, size) != SB_OK)
        return SB_ERR;
    if (conf->poll_timeout_ms > conf->poll_timeout_max_ms) {
        snprintf(why, size,
                 "poll_timeout (%lldms) must not exceed poll_timeout_max "
                 "(%lldms)",
                 conf->poll_timeout_ms, conf->poll_timeout_max_ms);
        return SB_ERR;
    }
    return SB_OK;
}

int
fcgi_options_reload(int argc, char **argv)
{
    struct sb_config *cfg = sb_config_new("switchboard-fcgi", PACKAGE_VERSION);
    struct sb_common_config common;
    struct fcgi_config conf;
    enum sb_config_action action;
    enum sb_log_level level;
    int rc;

    char why[256];

    fcgi_options_register(cfg, &common, &conf);
    rc = sb_config_load(cfg, argc, argv, &action);
    if (rc == SB_OK)
        rc = sb_config_finish(cfg);
    if (rc != SB_OK) {
        snprintf(why, sizeof(why), "%s", sb_config_error(cfg));
    } else if (fcgi_options_check(&common, &conf, why, sizeof(why)) != SB_OK ||
               sb_log_level_from_name(common.log_level, &level) != SB_OK) {
        rc = SB_ERR;
    }
    if (rc == SB_OK) {
        sb_log_set_level(level);
        fcgi_auth_set_secret(common.secret, common.secret_len);
        sb_log_info("configuration reloaded (log level %s, token secret)",
                    sb_log_level_name(level));
    } else {
        sb_log_warn("reload failed, configuration kept: %s", why);
    }
    sb_config_free(cfg);
    return rc;
}
