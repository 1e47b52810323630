/*
 * config.h: options declared once in tables (name, type, bounds, default,
 * help, where the value goes), read from four sources. A later source wins:
 *   default < file < environment < command line
 * File: "name = value" lines; blank lines and lines starting with '#' are
 * ignored; the value is the rest of the line, trimmed (no quoting, so '#'
 * inside a value is kept). The file is named by --config FILE or the
 * environment variable SWITCHBOARD_CONFIG.
 * Environment: SWITCHBOARD_<NAME>, the name upper-cased with '-' and '.'
 * as '_' (max_data_bytes -> SWITCHBOARD_MAX_DATA_BYTES). Variables that
 * match no option are ignored, so fcgi and wsd can share one environment.
 * Command line: --name=value or --name value; a bool option alone (--name)
 * means true and never takes the next argument. '-' and '_' are the same
 * in names given in a file or on the command line. Also --config FILE,
 * --check-config, --help and --version.
 * Unknown options and bad values are errors naming the source:
 *   config: /etc/switchboard.conf:12: max_data_bytes: 2000000 is above the
 *   maximum 1048576
 */
#ifndef SB_CONFIG_H
#define SB_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum sb_opt_type {
    SB_OPT_INT,         /* long long; decimal */
    SB_OPT_BOOL,        /* bool; true/false, yes/no, on/off, 1/0 */
    SB_OPT_STRING,      /* char *, owned by the sb_config; NULL when unset */
    SB_OPT_BYTES,       /* long long; 65536, 64k, 1m, 1g (powers of 1024) */
    SB_OPT_DURATION_MS, /* long long ms; 500ms, 2s, 5m, 1h ("0" alone) */
};

/* Flags of an option. */
#define SB_OPT_SECRET   1u /* shown as "(set)" by --check-config */
#define SB_OPT_CONNINFO 2u /* a libpq conninfo: shown with password hidden */

struct sb_option {
    const char *name; /* lower case, words joined by '_' */
    enum sb_opt_type type;
    /* Bounds, inclusive: of the value for numbers, of the length in bytes
     * for strings (max 0: unbounded); unused for bools. */
    long long min, max;
    const char *def; /* default as text, parsed like any source; NULL for
                        a string means unset */
    const char *help;
    size_t offset; /* of the value in the struct given to sb_config_add */
    unsigned flags;
    /* Optional extra check of a value that parsed and is within bounds:
     * returns SB_OK, or SB_ERR after writing why into why[0..size). */
    int (*check)(const char *value, char *why, size_t size);
};

/* The options both daemons share (sb_config_add_common declares them).
 * NULL or "" leaves an optional string unset, so a later source can unset
 * what an earlier one set. */
struct sb_common_config {
    char *database_url; /* "" means libpq defaults and PG* variables */
    char *log_level;
    char *log_file; /* unset: stderr */
    char *token_secret;
    char *token_secret_file;
    long long max_data_bytes;
    char *node_id; /* unset: "<hostname>-<pid>" (sb_config_finish) */
    long long commit_batch;          /* events per group commit */
    long long heartbeat_interval_ms; /* node rows in switchboard.nodes */
    char *anonymous_read; /* comma- or space-separated patterns, or unset */
    /* Set by sb_config_finish: the decoded secret, owned by the sb_config
     * (NULL, 0 when neither token_secret nor token_secret_file is set). */
    unsigned char *secret;
    size_t secret_len;
};

/* Shortest token secret accepted: HS256 wants a key of at least 256 bits
 * (RFC 7518 section 3.2). */
#define SB_SECRET_MIN 32

struct sb_config;

/* What the command line asked for besides options. */
enum sb_config_action {
    SB_CONFIG_RUN,
    SB_CONFIG_HELP,
    SB_CONFIG_VERSION,
    SB_CONFIG_CHECK,
};

/* A new, empty configuration for program (e.g. "wsd") at version. Release
 * with sb_config_free. */
struct sb_config *sb_config_new(const char *program, const char *version);
/* Release cfg, every string it stored in the registered structs (secrets
 * are wiped first) and the common secret; NULL does nothing. */
void sb_config_free(struct sb_config *cfg);

/* Declare count options whose values live in base (at each option's
 * offset) and store their defaults there now. The table and base must
 * outlive cfg. A name declared twice or an invalid default aborts. */
void sb_config_add(struct sb_config *cfg, const struct sb_option *options,
                   size_t count, void *base);
/* Declare the common options (database_url, log_level, log_file,
 * token_secret, token_secret_file, max_data_bytes, node_id) into common. */
void sb_config_add_common(struct sb_config *cfg,
                          struct sb_common_config *common);

/* Read the file (if named), the environment and the command line (argv[0]
 * is the program path). Returns SB_OK with *action set, or SB_ERR with
 * sb_config_error() saying what and where. With --help or --version the
 * sources are not read and *action says which was asked for. */
int sb_config_load(struct sb_config *cfg, int argc, char *const argv[],
                   enum sb_config_action *action);
/* Read one file of "name = value" lines. Returns SB_OK or SB_ERR. */
int sb_config_load_file(struct sb_config *cfg, const char *path);
/* Validate the common options after loading: log_level is a level name,
 * at most one of token_secret and token_secret_file, the secret is
 * base64url of at least SB_SECRET_MIN bytes, database_url parses; decode
 * the secret and fill in node_id. Returns SB_OK or SB_ERR. */
int sb_config_finish(struct sb_config *cfg);

/* The last error, e.g. "config: --threads: 0 is below the minimum 1"
 * ("" when none); owned by cfg. */
const char *sb_config_error(const struct sb_config *cfg);
/* The config file read by the last sb_config_load, or NULL. */
const char *sb_config_file(const struct sb_config *cfg);

/* Usage and the option table (name, type, bounds, default, help). */
void sb_config_print_help(const struct sb_config *cfg, FILE *out);
/* The effective configuration, one "name = value" line per option. */
void sb_config_print(const struct sb_config *cfg, FILE *out);

/* SWITCHBOARD_<NAME> for an option name, as a new string. */
char *sb_config_env_name(const char *name);

/* A check across options (e.g. one timeout above another), run once every
 * source was read: SB_OK, or SB_ERR with why (size bytes) saying what is
 * wrong. */
typedef int (*sb_config_check_fn)(void *arg, char *why, size_t size);
/* Have sb_config_startup run fn(arg, ...) before it goes on, and before it
 * prints the configuration for --check-config. */
void sb_config_set_check(struct sb_config *cfg, sb_config_check_fn fn,
                         void *arg);

/* Returned by sb_config_startup when the program should go on. */
#define SB_CONFIG_CONTINUE (-1)
/*
 * A daemon's start: load, finish, apply the log settings (program name,
 * level, log file), and handle --help, --version and --check-config
 * (printed on stdout). Errors are printed on stderr as
 * "<program>: config: ...". Returns SB_CONFIG_CONTINUE, or the exit status
 * to leave with: 0 after --help, --version or --check-config, 2 on error.
 */
int sb_config_startup(struct sb_config *cfg, int argc, char *const argv[]);

/*
 * A list option's items: value split at commas, spaces and tabs, empty
 * items dropped. Returns a NULL-terminated array of new strings (just the
 * NULL for a NULL or empty value); release it with sb_config_list_free.
 */
char **sb_config_list(const char *value);
/* Release a list from sb_config_list; NULL does nothing. */
void sb_config_list_free(char **list);
/* An sb_option check hook: every item of the list is a channel pattern
 * (channel.h); otherwise SB_ERR with why naming the first bad item. */
/* A node needs a token secret unless it serves anonymous readers only:
 * SB_OK, or SB_ERR with why saying so. */
int sb_config_check_auth(const struct sb_common_config *common, char *why,
                         size_t size);
int sb_config_check_patterns(const char *value, char *why, size_t size);

#endif
