/*
 * options.h: the demo agent's options, declared once in a table of the
 * library's config module (lib/config.h): command line, SWITCHBOARD_*
 * environment variables and a --config file, with --help, --version and
 * --check-config.
 */
#ifndef AGENT_OPTIONS_H
#define AGENT_OPTIONS_H

#include "config.h"

struct agent_config {
    char *dsn;      /* libpq conninfo; "" uses PG* variables */
    char *channels; /* chat channel patterns to answer */
    long long token_interval_ms;
    long long max_turns;    /* turns running at once */
    char *name;             /* sender agent:<name>, channel agent:<name> */
    char *activity_channel; /* where log entries go */
    char *workflow_channel; /* where each turn's task lives */
    char *log_level;
    char *log_file; /* unset: stderr */
    /* Derived by agent_options_load: */
    char *sender;        /* "agent:<name>" */
    char *agent_channel; /* "agent:<name>" */
    char **patterns;     /* channels split into a NULL-terminated list */
};

/* Read every source into conf (which cfg owns; *cfg is new and freed with
 * agent_options_free), apply the log settings, and handle --help,
 * --version and --check-config. Returns SB_CONFIG_CONTINUE, or the exit
 * status to leave with (0 after those three, 2 for a bad option, with the
 * reason on stderr). */
int agent_options_load(struct sb_config **cfg, struct agent_config *conf,
                       int argc, char **argv);
/* Release the derived fields and cfg; NULL cfg only frees the fields. */
void agent_options_free(struct sb_config *cfg, struct agent_config *conf);

#endif
