/*
 * options.c: the demo agent's option table and what is derived from it
 * (sender, agent channel, pattern list). Only channels of the chat
 * namespace are answered, so every pattern must name chat channels.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "log.h"
#include "options.h"
#include "pg.h"
#include "xalloc.h"

#define OFF(field) offsetof(struct agent_config, field)

/* Patterns (comma or space separated) that can only match chat channels:
 * "chat:" followed by anything. */
static int
check_chat_patterns(const char *value, char *why, size_t size)
{
    char **list;
    int rc = sb_config_check_patterns(value, why, size);

    if (rc != SB_OK)
        return rc;
    list = sb_config_list(value);
    if (list[0] == NULL) {
        snprintf(why, size, "at least one pattern is needed");
        rc = SB_ERR;
    }
    for (char **p = list; rc == SB_OK && *p != NULL; p++) {
        if (strncmp(*p, "chat:", 5) != 0) {
            snprintf(why, size, "'%s' is not a chat channel pattern", *p);
            rc = SB_ERR;
        }
    }
    sb_config_list_free(list);
    return rc;
}

/* The agent's name becomes a channel name ("agent:<name>"). */
static int
check_name(const char *value, char *why, size_t size)
{
    struct sb_error err;
    char *channel = sb_asprintf("agent:%s", value);
    int rc = sb_channel_check(channel, &err);

    free(channel);
    if (rc != SB_OK)
        snprintf(why, size, "not usable in a channel name: %s", err.message);
    return rc;
}

static int
check_channel(const char *value, char *why, size_t size)
{
    struct sb_error err;

    if (sb_channel_check(value, &err) == SB_OK)
        return SB_OK;
    snprintf(why, size, "%s", err.message);
    return SB_ERR;
}

static const struct sb_option agent_options[] = {
    {"dsn", SB_OPT_STRING, 0, 0, "",
     "PostgreSQL connection string (URI or key=value) of a role in "
     "switchboard_app; empty uses the libpq defaults and PG* variables",
     OFF(dsn), SB_OPT_CONNINFO, sb_pg_conninfo_check},
    {"channels", SB_OPT_STRING, 1, 16384, "chat:*",
     "chat channel patterns whose messages are answered, separated by "
     "commas or spaces",
     OFF(channels), 0, check_chat_patterns},
    {"token_interval_ms", SB_OPT_INT, 1, 10000, "40",
     "pause between two streamed reply tokens, in milliseconds",
     OFF(token_interval_ms), 0, NULL},
    {"max_turns", SB_OPT_INT, 1, 1000, "16",
     "turns answered at once; a message beyond gets a 'busy' error event",
     OFF(max_turns), 0, NULL},
    {"name", SB_OPT_STRING, 1, 64, "demo",
     "the agent's name: it publishes as agent:<name> and reports its work "
     "on channel agent:<name>",
     OFF(name), 0, check_name},
    {"activity_channel", SB_OPT_STRING, 1, 161, "activity:main",
     "channel of the activity log entries", OFF(activity_channel), 0,
     check_channel},
    {"workflow_channel", SB_OPT_STRING, 1, 161, "workflow:demo",
     "channel of the workflow task each turn creates and moves",
     OFF(workflow_channel), 0, check_channel},
    {"log_level", SB_OPT_STRING, 0, 0, "info", "error, warn, info or debug",
     OFF(log_level), 0, NULL},
    {"log_file", SB_OPT_STRING, 0, 4096, NULL,
     "append log lines to this file instead of stderr (empty: stderr)",
     OFF(log_file), 0, NULL},
};

/* The log level and destination (checked here, when they are applied). */
static int
apply_log(const struct agent_config *conf)
{
    enum sb_log_level level;

    if (sb_log_level_from_name(conf->log_level, &level) != SB_OK) {
        fprintf(stderr,
                "switchboard-demo-agent: config: log_level: '%s' is not "
                "error, warn, info or debug\n",
                conf->log_level);
        return SB_ERR;
    }
    sb_log_set_level(level);
    if (conf->log_file != NULL && conf->log_file[0] != '\0' &&
        sb_log_open(conf->log_file) != SB_OK) {
        fprintf(stderr, "switchboard-demo-agent: config: log_file: %s: %s\n",
                conf->log_file, strerror(errno));
        return SB_ERR;
    }
    return SB_OK;
}

int
agent_options_load(struct sb_config **cfg, struct agent_config *conf, int argc,
                   char **argv)
{
    int status;

    memset(conf, 0, sizeof(*conf));
    *cfg = sb_config_new("switchboard-demo-agent", PACKAGE_VERSION);
    sb_config_add(*cfg, agent_options,
                  sizeof(agent_options) / sizeof(agent_options[0]), conf);
    status = sb_config_startup(*cfg, argc, argv);
    if (status != SB_CONFIG_CONTINUE)
        return status;
    if (apply_log(conf) != SB_OK)
        return 2;
    conf->sender = sb_asprintf("agent:%s", conf->name);
    conf->agent_channel = sb_asprintf("agent:%s", conf->name);
    conf->patterns = sb_config_list(conf->channels);
    return SB_CONFIG_CONTINUE;
}

void
agent_options_free(struct sb_config *cfg, struct agent_config *conf)
{
    free(conf->sender);
    free(conf->agent_channel);
    sb_config_list_free(conf->patterns);
    conf->sender = conf->agent_channel = NULL;
    conf->patterns = NULL;
    sb_config_free(cfg);
}
