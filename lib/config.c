/*
 * config.c: option tables read from defaults, a file, the environment and
 * the command line, and the options both daemons share. See config.h.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base64url.h"
#include "channel.h"
#include "limits.h"
#include "log.h"
#include "pg.h"
#include "xalloc.h"

#define ERROR_MAX  1024
#define WHY_MAX    256
#define ENV_PREFIX "SWITCHBOARD_"
/* A secret file holds base64url text of a few dozen bytes. */
#define SECRET_FILE_MAX 4096

#define STR(x)  #x
#define XSTR(x) STR(x)

struct entry {
    const struct sb_option *opt;
    void *base;
};

struct sb_config {
    char *program;
    char *version;
    struct entry *entries;
    size_t nentries;
    struct sb_common_config *common;
    char *file;
    char error[ERROR_MAX];
    sb_config_check_fn check; /* across options, or NULL */
    void *check_arg;
};

/* A suffix and what it multiplies by. */
struct unit {
    const char *suffix;
    long long factor;
};

static const struct unit byte_units[] = {
    {"", 1},   {"k", 1024}, {"m", 1024 * 1024}, {"g", 1024 * 1024 * 1024},
    {NULL, 0},
};

static const struct unit duration_units[] = {
    {"ms", 1}, {"s", 1000}, {"m", 60 * 1000}, {"h", 60 * 60 * 1000}, {NULL, 0},
};

static const char *const type_names[] = {"INTEGER", "BOOL", "STRING", "BYTES",
                                         "DURATION"};

static int __attribute__((format(printf, 2, 3)))
fail(struct sb_config *cfg, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(cfg->error, sizeof(cfg->error), "config: ");

    va_start(ap, fmt);
    vsnprintf(cfg->error + n, sizeof(cfg->error) - (size_t)n, fmt, ap);
    va_end(ap);
    return SB_ERR;
}

static int __attribute__((format(printf, 2, 3)))
why_set(char *why, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, WHY_MAX, fmt, ap);
    va_end(ap);
    return SB_ERR;
}

static void *
target(const struct entry *e)
{
    return (char *)e->base + e->opt->offset;
}

/* Option names match with '-' and '_' taken as the same character. */
static bool
name_eq(const char *a, const char *b)
{
    for (; *a != '\0' && *b != '\0'; a++, b++) {
        char x = *a == '-' ? '_' : *a, y = *b == '-' ? '_' : *b;

        if (x != y)
            return false;
    }
    return *a == *b;
}

static struct entry *
find(const struct sb_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->nentries; i++) {
        if (name_eq(cfg->entries[i].opt->name, name))
            return &cfg->entries[i];
    }
    return NULL;
}

/* --- parsing values --- */

/* Decimal digits then a suffix from units (case ignored). */
static int
parse_scaled(const char *text, const struct unit *units, long long *value)
{
    char *end;
    long long v;

    if (!isdigit((unsigned char)text[0]))
        return SB_ERR;
    errno = 0;
    v = strtoll(text, &end, 10);
    if (errno != 0)
        return SB_ERR;
    if (*end == '\0' && v == 0) { /* "0" needs no unit */
        *value = 0;
        return SB_OK;
    }
    for (const struct unit *u = units; u->suffix != NULL; u++) {
        if (strcasecmp(end, u->suffix) == 0)
            return __builtin_mul_overflow(v, u->factor, value) ? SB_ERR : SB_OK;
    }
    return SB_ERR;
}

static int
parse_int(const char *text, long long *value)
{
    char *end;
    const char *digits = text + (text[0] == '-' || text[0] == '+');

    if (!isdigit((unsigned char)digits[0]))
        return SB_ERR;
    errno = 0;
    *value = strtoll(text, &end, 10);
    return errno == 0 && *end == '\0' ? SB_OK : SB_ERR;
}

static int
parse_bool(const char *text, bool *value)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(text, yes[i]) == 0 || strcasecmp(text, no[i]) == 0) {
            *value = strcasecmp(text, yes[i]) == 0;
            return SB_OK;
        }
    }
    return SB_ERR;
}

static int
parse_number(const struct sb_option *opt, const char *text, long long *v,
             char *why)
{
    static const char *const expected[] = {
        "an integer", "", "", "a size (e.g. 65536, 64k, 1m)",
        "a duration (e.g. 500ms, 2s, 5m, 1h)"};
    int rc;

    if (opt->type == SB_OPT_INT)
        rc = parse_int(text, v);
    else
        rc = parse_scaled(
            text, opt->type == SB_OPT_BYTES ? byte_units : duration_units, v);
    if (rc != SB_OK)
        return why_set(why, "'%s' is not %s", text, expected[opt->type]);
    if (*v < opt->min)
        return why_set(why, "%s is below the minimum %lld", text, opt->min);
    if (*v > opt->max)
        return why_set(why, "%s is above the maximum %lld", text, opt->max);
    return SB_OK;
}

static int
check_string(const struct sb_option *opt, const char *text, char *why)
{
    long long len = (long long)strlen(text);

    if (opt->max <= 0)
        return SB_OK;
    if (len < opt->min)
        return why_set(why, "'%s' is shorter than %lld bytes", text, opt->min);
    if (len > opt->max)
        return why_set(why, "value is longer than %lld bytes", opt->max);
    return SB_OK;
}

static void
free_string(const struct entry *e)
{
    char **p = target(e);

    if (*p != NULL && (e->opt->flags & SB_OPT_SECRET))
        explicit_bzero(*p, strlen(*p));
    free(*p);
    *p = NULL;
}

/* Parse text for e and store it. SB_ERR with why filled leaves the old
 * value in place. */
static int
set_value(const struct entry *e, const char *text, char *why)
{
    const struct sb_option *opt = e->opt;
    long long v = 0;
    bool b = false;

    if (opt->type == SB_OPT_BOOL) {
        if (parse_bool(text, &b) != SB_OK)
            return why_set(why, "'%s' is not true or false", text);
    } else if (opt->type == SB_OPT_STRING) {
        if (check_string(opt, text, why) != SB_OK)
            return SB_ERR;
    } else if (parse_number(opt, text, &v, why) != SB_OK) {
        return SB_ERR;
    }
    if (opt->check != NULL && opt->check(text, why, WHY_MAX) != SB_OK)
        return SB_ERR;
    if (opt->type == SB_OPT_STRING) {
        free_string(e);
        *(char **)target(e) = sb_strdup(text);
    } else if (opt->type == SB_OPT_BOOL) {
        *(bool *)target(e) = b;
    } else {
        *(long long *)target(e) = v;
    }
    return SB_OK;
}

/* set_value with errors reported as "config: <where>: <name>: <why>". */
static int
apply(struct sb_config *cfg, const char *where, const struct entry *e,
      const char *text)
{
    char why[WHY_MAX];

    if (set_value(e, text, why) != SB_OK)
        return fail(cfg, "%s: %s: %s", where, e->opt->name, why);
    return SB_OK;
}

/* --- tables --- */

struct sb_config *
sb_config_new(const char *program, const char *version)
{
    struct sb_config *cfg = sb_calloc(1, sizeof(*cfg));

    cfg->program = sb_strdup(program);
    cfg->version = sb_strdup(version);
    return cfg;
}

void
sb_config_free(struct sb_config *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < cfg->nentries; i++) {
        if (cfg->entries[i].opt->type == SB_OPT_STRING)
            free_string(&cfg->entries[i]);
    }
    if (cfg->common != NULL && cfg->common->secret != NULL) {
        explicit_bzero(cfg->common->secret, cfg->common->secret_len);
        free(cfg->common->secret);
        cfg->common->secret = NULL;
    }
    free(cfg->entries);
    free(cfg->program);
    free(cfg->version);
    free(cfg->file);
    free(cfg);
}

/* Initialise e's target (whatever it held) and store the default. */
static void
store_default(const struct entry *e)
{
    char why[WHY_MAX];
    int rc = SB_OK;

    if (e->opt->type == SB_OPT_STRING)
        *(char **)target(e) = NULL;
    else if (e->opt->type == SB_OPT_BOOL)
        *(bool *)target(e) = false;
    else
        *(long long *)target(e) = 0;
    if (e->opt->def != NULL)
        rc = set_value(e, e->opt->def, why);
    SB_ASSERT(rc == SB_OK); /* a bad default is a bug in the table */
}

void
sb_config_add(struct sb_config *cfg, const struct sb_option *options,
              size_t count, void *base)
{

    cfg->entries = sb_realloc(cfg->entries,
                              (cfg->nentries + count) * sizeof(struct entry));
    for (size_t i = 0; i < count; i++) {
        struct entry *e = &cfg->entries[cfg->nentries];

        SB_ASSERT(find(cfg, options[i].name) == NULL);
        e->opt = &options[i];
        e->base = base;
        cfg->nentries++;
        store_default(e);
    }
}

/* --- sources --- */

static char *
trim(char *s)
{
    char *end = s + strlen(s);

    while (isspace((unsigned char)*s))
        s++;
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

static int
load_line(struct sb_config *cfg, const char *path, int lineno, char *line)
{
    char *eq, *name, *where;
    const struct entry *e;
    int rc;

    line = trim(line);
    if (*line == '\0' || *line == '#')
        return SB_OK;
    eq = strchr(line, '=');
    if (eq == NULL || eq == line)
        return fail(cfg, "%s:%d: expected 'name = value'", path, lineno);
    *eq = '\0';
    name = trim(line);
    e = find(cfg, name);
    if (e == NULL)
        return fail(cfg, "%s:%d: unknown option '%s'", path, lineno, name);
    where = sb_asprintf("%s:%d", path, lineno);
    rc = apply(cfg, where, e, trim(eq + 1));
    free(where);
    return rc;
}

int
sb_config_load_file(struct sb_config *cfg, const char *path)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0, rc = SB_OK;

    if (f == NULL)
        return fail(cfg, "%s: %s", path, strerror(errno));
    while (rc == SB_OK && getline(&line, &cap, f) >= 0)
        rc = load_line(cfg, path, ++lineno, line);
    if (rc == SB_OK && ferror(f))
        rc = fail(cfg, "%s: %s", path, strerror(errno));
    free(line);
    fclose(f);
    return rc;
}

char *
sb_config_env_name(const char *name)
{
    char *env = sb_asprintf(ENV_PREFIX "%s", name);

    for (char *p = env + strlen(ENV_PREFIX); *p != '\0'; p++) {
        if (*p == '-' || *p == '.')
            *p = '_';
        else
            *p = (char)toupper((unsigned char)*p);
    }
    return env;
}

static int
load_env(struct sb_config *cfg)
{
    int rc = SB_OK;

    for (size_t i = 0; rc == SB_OK && i < cfg->nentries; i++) {
        char *env = sb_config_env_name(cfg->entries[i].opt->name);
        const char *value = getenv(env);

        if (value != NULL) {
            char *where = sb_asprintf("environment %s", env);

            rc = apply(cfg, where, &cfg->entries[i], value);
            free(where);
        }
        free(env);
    }
    return rc;
}

/* The command line, walked twice: first for --config, --help, --version,
 * --check-config and names (apply false), then to store values. */
struct args {
    enum sb_config_action action;
    const char *config;
};

/* Handle a built-in flag; returns 1 when arg was one, 0 when not, SB_ERR. */
static int
builtin(struct sb_config *cfg, char *const argv[], int argc, int *i,
        const char *name, const char *value, struct args *args)
{
    static const struct {
        const char *name;
        enum sb_config_action action;
    } flags[] = {{"help", SB_CONFIG_HELP},
                 {"version", SB_CONFIG_VERSION},
                 {"check_config", SB_CONFIG_CHECK}};

    for (size_t k = 0; k < sizeof(flags) / sizeof(flags[0]); k++) {
        if (!name_eq(name, flags[k].name))
            continue;
        if (value != NULL)
            return fail(cfg, "command line: --%s takes no value", name);
        if (args->action == SB_CONFIG_RUN || args->action == SB_CONFIG_CHECK)
            args->action = flags[k].action;
        return 1;
    }
    if (!name_eq(name, "config"))
        return 0;
    if (value == NULL && *i + 1 >= argc)
        return fail(cfg, "command line: --config needs a file name");
    args->config = value != NULL ? value : argv[++*i];
    return 1;
}

/* One "--name[=value]" argument (and its value argument). */
static int
walk_arg(struct sb_config *cfg, int argc, char *const argv[], int *i,
         bool store, struct args *args)
{
    const char *arg = argv[*i] + 2;
    const char *eq = strchr(arg, '=');
    /* The value points into argv, which outlives cfg's use of it. */
    const char *value = eq != NULL ? eq + 1 : NULL;
    char *name = sb_strndup(arg, eq != NULL ? (size_t)(eq - arg) : strlen(arg));
    const struct entry *e;
    int rc;

    rc = builtin(cfg, argv, argc, i, name, value, args);
    if (rc != 0)
        goto out;
    rc = SB_ERR;
    e = find(cfg, name);
    if (e == NULL) {
        fail(cfg, "command line: unknown option '--%s'", name);
        goto out;
    }
    if (value == NULL && e->opt->type == SB_OPT_BOOL) {
        value = "true";
    } else if (value == NULL) {
        if (*i + 1 >= argc) {
            fail(cfg, "command line: --%s needs a value", name);
            goto out;
        }
        value = argv[++*i];
    }
    rc = store ? apply(cfg, "command line", e, value) : SB_OK;
out:
    free(name);
    return rc < 0 ? SB_ERR : SB_OK;
}

static int
walk_args(struct sb_config *cfg, int argc, char *const argv[], bool store,
          struct args *args)
{
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--", 2) != 0 || argv[i][2] == '\0')
            return fail(cfg, "command line: unexpected argument '%s'", argv[i]);
        if (walk_arg(cfg, argc, argv, &i, store, args) != SB_OK)
            return SB_ERR;
    }
    return SB_OK;
}

int
sb_config_load(struct sb_config *cfg, int argc, char *const argv[],
               enum sb_config_action *action)
{
    struct args args = {SB_CONFIG_RUN, NULL};

    cfg->error[0] = '\0';
    if (walk_args(cfg, argc, argv, false, &args) != SB_OK)
        return SB_ERR;
    *action = args.action;
    if (args.action == SB_CONFIG_HELP || args.action == SB_CONFIG_VERSION)
        return SB_OK;
    if (args.config == NULL)
        args.config = getenv(ENV_PREFIX "CONFIG");
    free(cfg->file);
    cfg->file = args.config != NULL ? sb_strdup(args.config) : NULL;
    if (cfg->file != NULL && sb_config_load_file(cfg, cfg->file) != SB_OK)
        return SB_ERR;
    if (load_env(cfg) != SB_OK)
        return SB_ERR;
    return walk_args(cfg, argc, argv, true, &args);
}

const char *
sb_config_error(const struct sb_config *cfg)
{
    return cfg->error;
}

const char *
sb_config_file(const struct sb_config *cfg)
{
    return cfg->file;
}

/* --- output --- */

static void
print_bounds(const struct sb_option *opt, FILE *out)
{
    const char *unit = opt->type == SB_OPT_DURATION_MS ? "ms" : "";

    if (opt->type == SB_OPT_BOOL)
        return;
    if (opt->type == SB_OPT_STRING) {
        if (opt->max > 0)
            fprintf(out, "  length %lld..%lld", opt->min, opt->max);
        return;
    }
    fprintf(out, "  range %lld%s..%lld%s", opt->min, unit, opt->max, unit);
}

void
sb_config_print_help(const struct sb_config *cfg, FILE *out)
{
    fprintf(out,
            "Usage: %s [--config FILE] [--check-config] [--help] "
            "[--version] [--NAME=VALUE ...]\n\n"
            "Each option is also read from the file as \"NAME = VALUE\" and "
            "from the\nenvironment as SWITCHBOARD_NAME; the command line "
            "wins over the environment,\nwhich wins over the file. "
            "SWITCHBOARD_CONFIG names the file too.\n\nOptions:\n",
            cfg->program);
    for (size_t i = 0; i < cfg->nentries; i++) {
        const struct sb_option *opt = cfg->entries[i].opt;

        fprintf(out, "  --%s=%s", opt->name, type_names[opt->type]);
        print_bounds(opt, out);
        if (opt->def == NULL)
            fprintf(out, "  default none\n");
        else
            fprintf(out, "  default \"%s\"\n", opt->def);
        fprintf(out, "        %s\n", opt->help);
    }
}

static void
print_string(const struct sb_option *opt, const char *s, FILE *out)
{
    char *redacted;

    if (s == NULL || *s == '\0') {
        fputc('\n', out);
    } else if (opt->flags & SB_OPT_SECRET) {
        fprintf(out, "(set)\n");
    } else if (opt->flags & SB_OPT_CONNINFO) {
        redacted = sb_pg_conninfo_redact(s);
        fprintf(out, "%s\n", redacted);
        free(redacted);
    } else {
        fprintf(out, "%s\n", s);
    }
}

void
sb_config_print(const struct sb_config *cfg, FILE *out)
{
    for (size_t i = 0; i < cfg->nentries; i++) {
        const struct entry *e = &cfg->entries[i];
        const void *p = target(e);

        fprintf(out, "%s = ", e->opt->name);
        if (e->opt->type == SB_OPT_STRING)
            print_string(e->opt, *(char *const *)p, out);
        else if (e->opt->type == SB_OPT_BOOL)
            fprintf(out, "%s\n", *(const bool *)p ? "true" : "false");
        else
            fprintf(out, "%lld%s\n", *(const long long *)p,
                    e->opt->type == SB_OPT_DURATION_MS ? "ms" : "");
    }
}

/* --- the common options --- */

/* Decode a secret's base64url text into a new buffer of at least
 * SB_SECRET_MIN bytes. */
static int
decode_secret(const char *text, unsigned char **secret, size_t *len, char *why,
              size_t size)
{
    *secret = sb_base64url_decode(text, strlen(text), len);
    if (*secret == NULL) {
        snprintf(why, size, "not base64url text");
        return SB_ERR;
    }
    if (*len < SB_SECRET_MIN) {
        snprintf(why, size, "decodes to %zu bytes, fewer than the minimum %d",
                 *len, SB_SECRET_MIN);
        explicit_bzero(*secret, *len);
        free(*secret);
        *secret = NULL;
        return SB_ERR;
    }
    return SB_OK;
}

static int
check_secret(const char *value, char *why, size_t size)
{
    unsigned char *secret;
    size_t len;

    if (*value == '\0') /* empty: unset */
        return SB_OK;
    if (decode_secret(value, &secret, &len, why, size) != SB_OK)
        return SB_ERR;
    explicit_bzero(secret, len);
    free(secret);
    return SB_OK;
}

static int
check_log_level(const char *value, char *why, size_t size)
{
    enum sb_log_level level;

    if (sb_log_level_from_name(value, &level) == SB_OK)
        return SB_OK;
    snprintf(why, size, "'%s' is not error, warn, info or debug", value);
    return SB_ERR;
}

/* A node id is printed as is into JSON (hello, /healthz, /status),
 * Prometheus labels and log lines, and stored in switchboard.nodes. */
static int
check_node_id(const char *value, char *why, size_t size)
{
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        if (*p <= ' ' || *p >= 0x7f || *p == '"' || *p == '\\') {
            snprintf(why, size,
                     "only printable ASCII without spaces, quotes or "
                     "backslashes (byte %d is 0x%02x)",
                     (int)(p - (const unsigned char *)value), *p);
            return SB_ERR;
        }
    }
    return SB_OK;
}

static int
check_conninfo(const char *value, char *why, size_t size)
{
    char reason[WHY_MAX];

    if (sb_pg_conninfo_check(value, reason, sizeof(reason)) == SB_OK)
        return SB_OK;
    snprintf(why, size, "not a connection string: %s", reason);
    return SB_ERR;
}

#define COMMON(field) offsetof(struct sb_common_config, field)

static const struct sb_option common_options[] = {
    {"database_url", SB_OPT_STRING, 0, 0, "",
     "PostgreSQL connection string (URI or key=value); empty uses the libpq "
     "defaults and PG* variables",
     COMMON(database_url), SB_OPT_CONNINFO, check_conninfo},
    {"log_level", SB_OPT_STRING, 0, 0, "info", "error, warn, info or debug",
     COMMON(log_level), 0, check_log_level},
    {"log_file", SB_OPT_STRING, 0, 4096, NULL,
     "append log lines to this file instead of stderr (empty: stderr)",
     COMMON(log_file), 0, NULL},
    {"token_secret", SB_OPT_STRING, 0, 0, NULL,
     "HS256 token secret as base64url text (SELECT "
     "switchboard.token_secret())",
     COMMON(token_secret), SB_OPT_SECRET, check_secret},
    {"token_secret_file", SB_OPT_STRING, 0, 4096, NULL,
     "file holding the token secret as base64url text (empty: none)",
     COMMON(token_secret_file), 0, NULL},
    {"max_data_bytes", SB_OPT_BYTES, 1, SB_DATA_MAX_HARD,
     XSTR(SB_DATA_MAX_DEFAULT), "largest serialized event data accepted",
     COMMON(max_data_bytes), 0, NULL},
    {"node_id", SB_OPT_STRING, 0, 128, NULL,
     "name of this process in switchboard.nodes: printable ASCII without "
     "spaces, quotes or backslashes (empty: <hostname>-<pid>)",
     COMMON(node_id), 0, check_node_id},
    {"commit_batch", SB_OPT_INT, 1, SB_BATCH_MAX, XSTR(SB_BATCH_MAX),
     "most events in one group commit", COMMON(commit_batch), 0, NULL},
    {"heartbeat_interval", SB_OPT_DURATION_MS, 1000, 30000, "10s",
     "how often the node records its counts in switchboard.nodes",
     COMMON(heartbeat_interval_ms), 0, NULL},
    {"anonymous_read", SB_OPT_STRING, 0, 16384, NULL,
     "channel patterns readable without a token, separated by commas or "
     "spaces (empty: none)",
     COMMON(anonymous_read), 0, sb_config_check_patterns},
};

void
sb_config_add_common(struct sb_config *cfg, struct sb_common_config *common)
{
    SB_ASSERT(cfg->common == NULL);
    memset(common, 0, sizeof(*common));
    cfg->common = common;
    sb_config_add(cfg, common_options,
                  sizeof(common_options) / sizeof(common_options[0]), common);
}

/* Optional strings: unset when NULL or empty, so a later source can unset
 * what an earlier one set. */
static bool
is_set(const char *s)
{
    return s != NULL && *s != '\0';
}

/* The base64url text of a secret file (trailing whitespace kept). */
static int
read_secret_file(struct sb_config *cfg, const char *path, char **text)
{
    FILE *f = fopen(path, "r");
    size_t n;

    if (f == NULL)
        return fail(cfg, "token_secret_file: %s: %s", path, strerror(errno));
    *text = sb_malloc(SECRET_FILE_MAX + 1);
    n = fread(*text, 1, SECRET_FILE_MAX + 1, f);
    (*text)[n > SECRET_FILE_MAX ? SECRET_FILE_MAX : n] = '\0';
    fclose(f);
    if (n > SECRET_FILE_MAX) {
        explicit_bzero(*text, SECRET_FILE_MAX);
        free(*text);
        *text = NULL;
        return fail(cfg, "token_secret_file: %s: longer than %d bytes", path,
                    SECRET_FILE_MAX);
    }
    return SB_OK;
}

static int
load_secret(struct sb_config *cfg, struct sb_common_config *c)
{
    char why[WHY_MAX];
    char *text = NULL;
    int rc = SB_OK;

    if (is_set(c->token_secret) && is_set(c->token_secret_file))
        return fail(cfg, "token_secret and token_secret_file are both set: "
                         "keep one");
    if (is_set(c->token_secret_file))
        rc = read_secret_file(cfg, c->token_secret_file, &text);
    else if (is_set(c->token_secret))
        text = sb_strdup(c->token_secret);
    if (text == NULL)
        return rc;
    if (decode_secret(trim(text), &c->secret, &c->secret_len, why,
                      sizeof(why)) != SB_OK)
        rc = is_set(c->token_secret_file)
                 ? fail(cfg, "token_secret_file: %s: %s", c->token_secret_file,
                        why)
                 : fail(cfg, "token_secret: %s", why);
    explicit_bzero(text, strlen(text));
    free(text);
    return rc;
}

int
sb_config_finish(struct sb_config *cfg)
{
    struct sb_common_config *c = cfg->common;
    char host[256];

    if (c == NULL)
        return SB_OK;
    if (c->secret != NULL) {
        explicit_bzero(c->secret, c->secret_len);
        free(c->secret);
        c->secret = NULL;
        c->secret_len = 0;
    }
    if (load_secret(cfg, c) != SB_OK)
        return SB_ERR;
    if (!is_set(c->node_id)) {
        free(c->node_id);
        if (gethostname(host, sizeof(host)) != 0)
            snprintf(host, sizeof(host), "localhost");
        host[sizeof(host) - 1] = '\0';
        c->node_id = sb_asprintf("%.100s-%ld", host, (long)getpid());
    }
    return SB_OK;
}

static int
apply_log(struct sb_config *cfg)
{
    const struct sb_common_config *c = cfg->common;
    enum sb_log_level level;

    sb_log_set_program(cfg->program);
    if (c == NULL)
        return SB_OK;
    if (sb_log_level_from_name(c->log_level, &level) == SB_OK)
        sb_log_set_level(level);
    if (is_set(c->log_file) && sb_log_open(c->log_file) != SB_OK)
        return fail(cfg, "log_file: %s: %s", c->log_file, strerror(errno));
    return SB_OK;
}

void
sb_config_set_check(struct sb_config *cfg, sb_config_check_fn fn, void *arg)
{
    cfg->check = fn;
    cfg->check_arg = arg;
}

int
sb_config_startup(struct sb_config *cfg, int argc, char *const argv[])
{
    enum sb_config_action action = SB_CONFIG_RUN;
    char why[ERROR_MAX];

    if (sb_config_load(cfg, argc, argv, &action) != SB_OK)
        goto fail;
    if (action == SB_CONFIG_HELP) {
        sb_config_print_help(cfg, stdout);
        return 0;
    }
    if (action == SB_CONFIG_VERSION) {
        printf("%s %s\n", cfg->program, cfg->version);
        return 0;
    }
    if (sb_config_finish(cfg) != SB_OK || apply_log(cfg) != SB_OK)
        goto fail;
    if (cfg->check != NULL &&
        cfg->check(cfg->check_arg, why, sizeof(why)) != SB_OK) {
        /* The check mode answers on stderr even when a log file is set. */
        if (action == SB_CONFIG_CHECK)
            fprintf(stderr, "%s: config: %s\n", cfg->program, why);
        else
            sb_log_error("config: %s", why);
        return 2;
    }
    if (action == SB_CONFIG_CHECK) {
        sb_config_print(cfg, stdout);
        return 0;
    }
    return SB_CONFIG_CONTINUE;
fail:
    fprintf(stderr, "%s: %s\n", cfg->program, cfg->error);
    return 2;
}

char **
sb_config_list(const char *value)
{
    char **list = sb_calloc(1, sizeof(*list));
    size_t n = 0;
    const char *p = value != NULL ? value : "";

    while (*p != '\0') {
        size_t len = strcspn(p, ", \t");

        if (len > 0) {
            list = sb_realloc(list, (n + 2) * sizeof(*list));
            list[n++] = sb_strndup(p, len);
            list[n] = NULL;
        }
        p += len;
        p += strspn(p, ", \t");
    }
    return list;
}

void
sb_config_list_free(char **list)
{
    if (list == NULL)
        return;
    for (char **p = list; *p != NULL; p++)
        free(*p);
    free(list);
}

int
sb_config_check_patterns(const char *value, char *why, size_t size)
{
    char **list = sb_config_list(value);
    int rc = SB_OK;

    for (char **p = list; *p != NULL && rc == SB_OK; p++) {
        if (!sb_pattern_valid(*p)) {
            snprintf(why, size, "'%s' is not a channel pattern", *p);
            rc = SB_ERR;
        }
    }
    sb_config_list_free(list);
    return rc;
}

int
sb_config_check_auth(const struct sb_common_config *common, char *why,
                     size_t size)
{
    char **anon = sb_config_list(common->anonymous_read);
    bool anonymous = anon[0] != NULL;

    sb_config_list_free(anon);
    if (common->secret == NULL && !anonymous) {
        snprintf(why, size, "no token_secret or token_secret_file: set one "
                            "(or anonymous_read for a read-only node)");
        return SB_ERR;
    }
    return SB_OK;
}
