/*
 * check_config.c: unit tests of lib/config.c: each type's parsing and
 * bounds, precedence of command line over environment over file over
 * default, file syntax errors with line numbers, unknown options,
 * environment names, --help output, and the common options (secrets,
 * node_id, log level, database_url).
 */
#include <check.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base64url.h"
#include "config.h"
#include "limits.h"
#include "log.h"
#include "xalloc.h"

struct test_conf {
    long long count;
    bool flag;
    char *name;
    long long size;
    long long wait;
    char *opt_value;
};

#define OFF(f) offsetof(struct test_conf, f)

static const struct sb_option test_options[] = {
    {"count", SB_OPT_INT, -5, 100, "7", "a count", OFF(count), 0, NULL},
    {"flag", SB_OPT_BOOL, 0, 0, "false", "a flag", OFF(flag), 0, NULL},
    {"name", SB_OPT_STRING, 1, 8, "abc", "a name", OFF(name), 0, NULL},
    {"size", SB_OPT_BYTES, 1, 1048576, "64k", "a size", OFF(size), 0, NULL},
    {"wait", SB_OPT_DURATION_MS, 100, 3600000, "2s", "a wait", OFF(wait), 0,
     NULL},
    {"opt_value", SB_OPT_STRING, 0, 0, NULL, "unset by default", OFF(opt_value),
     0, NULL},
};
#define NOPTIONS (sizeof(test_options) / sizeof(test_options[0]))

/* 32 bytes "0123456789abcdef0123456789abcdef" as base64url. */
#define SECRET_B64 "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"

static struct sb_config *cfg;
static struct test_conf conf;
static struct sb_common_config common;
static char *tmp_paths[4];
static int ntmp;

static void
clear_env(void)
{
    static const char *const vars[] = {
        "SWITCHBOARD_CONFIG",         "SWITCHBOARD_COUNT",
        "SWITCHBOARD_FLAG",           "SWITCHBOARD_NAME",
        "SWITCHBOARD_SIZE",           "SWITCHBOARD_WAIT",
        "SWITCHBOARD_OPT_VALUE",      "SWITCHBOARD_DATABASE_URL",
        "SWITCHBOARD_LOG_LEVEL",      "SWITCHBOARD_LOG_FILE",
        "SWITCHBOARD_TOKEN_SECRET",   "SWITCHBOARD_TOKEN_SECRET_FILE",
        "SWITCHBOARD_MAX_DATA_BYTES", "SWITCHBOARD_NODE_ID",
    };

    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        unsetenv(vars[i]);
}

static void
setup(void)
{
    clear_env();
    cfg = sb_config_new("check_config", "1.2.3");
    sb_config_add(cfg, test_options, NOPTIONS, &conf);
}

static void
setup_common(void)
{
    clear_env();
    cfg = sb_config_new("check_config", "1.2.3");
    sb_config_add_common(cfg, &common);
}

static void
teardown(void)
{
    sb_config_free(cfg);
    cfg = NULL;
    for (int i = 0; i < ntmp; i++) {
        unlink(tmp_paths[i]);
        free(tmp_paths[i]);
    }
    ntmp = 0;
    clear_env();
}

/* A temporary file holding text; removed by teardown. */
static const char *
write_file(const char *text)
{
    char *path = sb_strdup("/tmp/check_config_XXXXXX");
    int fd = mkstemp(path);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    SB_ASSERT(ntmp < 4);
    tmp_paths[ntmp++] = path;
    return path;
}

/* A copy of a NULL-terminated argument list after argv[0]; free with
 * free_argv. */
static char **
make_argv(const char *const *args, int *argc)
{
    char **argv = sb_calloc(16, sizeof(char *));

    *argc = 0;
    argv[(*argc)++] = sb_strdup("check_config");
    for (; args != NULL && *args != NULL; args++) {
        SB_ASSERT(*argc < 15);
        argv[(*argc)++] = sb_strdup(*args);
    }
    return argv;
}

static void
free_argv(char **argv)
{
    for (char **p = argv; *p != NULL; p++)
        free(*p);
    free(argv);
}

/* sb_config_load over a NULL-terminated list of arguments. */
static int
load_args(enum sb_config_action *action, const char *const *args)
{
    int argc;
    char **argv = make_argv(args, &argc);
    int rc = sb_config_load(cfg, argc, argv, action);

    free_argv(argv);
    return rc;
}

#define LOAD(...) load_args(&action, (const char *const[]){__VA_ARGS__, NULL})

/* Load one value from the command line; SB_OK or SB_ERR. */
static int
set_arg(const char *name, const char *value)
{
    enum sb_config_action action;
    char *arg = sb_asprintf("--%s=%s", name, value);
    int rc = LOAD(arg);

    free(arg);
    return rc;
}

static void
assert_error(const char *expect)
{
    ck_assert_str_eq(sb_config_error(cfg), expect);
}

/* --- core --- */

START_TEST(defaults)
{
    ck_assert_int_eq(conf.count, 7);
    ck_assert(!conf.flag);
    ck_assert_str_eq(conf.name, "abc");
    ck_assert_int_eq(conf.size, 65536);
    ck_assert_int_eq(conf.wait, 2000);
    ck_assert_ptr_null(conf.opt_value);
}
END_TEST

START_TEST(no_arguments)
{
    enum sb_config_action action = SB_CONFIG_HELP;

    ck_assert_int_eq(load_args(&action, NULL), SB_OK);
    ck_assert_int_eq(action, SB_CONFIG_RUN);
    ck_assert_int_eq(conf.count, 7);
    ck_assert_ptr_null(sb_config_file(cfg));
}
END_TEST

START_TEST(parse_int)
{
    ck_assert_int_eq(set_arg("count", "42"), SB_OK);
    ck_assert_int_eq(conf.count, 42);
    ck_assert_int_eq(set_arg("count", "-3"), SB_OK);
    ck_assert_int_eq(conf.count, -3);
    ck_assert_int_eq(set_arg("count", "+9"), SB_OK);
    ck_assert_int_eq(conf.count, 9);
}
END_TEST

START_TEST(parse_bool)
{
    static const char *const yes[] = {"true", "YES", "on", "1"};
    static const char *const no[] = {"false", "no", "Off", "0"};
    enum sb_config_action action;

    for (size_t i = 0; i < 4; i++) {
        ck_assert_int_eq(set_arg("flag", yes[i]), SB_OK);
        ck_assert(conf.flag);
        ck_assert_int_eq(set_arg("flag", no[i]), SB_OK);
        ck_assert(!conf.flag);
    }
    ck_assert_int_eq(LOAD("--flag", "--count", "3"), SB_OK);
    ck_assert(conf.flag);
    ck_assert_int_eq(conf.count, 3);
}
END_TEST

START_TEST(parse_string)
{
    enum sb_config_action action;

    ck_assert_int_eq(LOAD("--name", "with sp"), SB_OK);
    ck_assert_str_eq(conf.name, "with sp");
    ck_assert_int_eq(LOAD("--opt_value="), SB_OK);
    ck_assert_str_eq(conf.opt_value, "");
    ck_assert_int_eq(LOAD("--opt_value=a=b#c"), SB_OK);
    ck_assert_str_eq(conf.opt_value, "a=b#c");
}
END_TEST

START_TEST(parse_bytes)
{
    static const struct {
        const char *text;
        long long value;
    } cases[] = {{"512", 512},    {"64k", 65536},  {"64K", 65536},
                 {"1m", 1048576}, {"1M", 1048576}, {"1000", 1000}};

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_msg(set_arg("size", cases[i].text) == SB_OK, "%s",
                      sb_config_error(cfg));
        ck_assert_int_eq(conf.size, cases[i].value);
    }
}
END_TEST

START_TEST(parse_duration)
{
    static const struct {
        const char *text;
        long long ms;
    } cases[] = {{"500ms", 500},  {"2s", 2000},   {"5m", 300000},
                 {"1h", 3600000}, {"100MS", 100}, {"30S", 30000}};

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_msg(set_arg("wait", cases[i].text) == SB_OK, "%s",
                      sb_config_error(cfg));
        ck_assert_int_eq(conf.wait, cases[i].ms);
    }
}
END_TEST

START_TEST(dashes_and_underscores)
{
    enum sb_config_action action;

    ck_assert_int_eq(LOAD("--opt-value=x", "--check_config"), SB_OK);
    ck_assert_str_eq(conf.opt_value, "x");
    ck_assert_int_eq(action, SB_CONFIG_CHECK);
}
END_TEST

START_TEST(precedence)
{
    enum sb_config_action action;
    const char *path = write_file("count = 1\nname = file\nsize = 1k\n"
                                  "wait = 1s\n");

    ck_assert_int_eq(LOAD("--config", path), SB_OK);
    ck_assert_int_eq(conf.count, 1);
    ck_assert_str_eq(conf.name, "file");
    ck_assert_int_eq(conf.size, 1024);
    ck_assert_int_eq(conf.wait, 1000); /* file over default */
    ck_assert_str_eq(sb_config_file(cfg), path);

    setenv("SWITCHBOARD_COUNT", "2", 1);
    setenv("SWITCHBOARD_NAME", "env", 1);
    ck_assert_int_eq(LOAD("--config", path), SB_OK);
    ck_assert_int_eq(conf.count, 2); /* environment over file */
    ck_assert_str_eq(conf.name, "env");
    ck_assert_int_eq(conf.size, 1024);

    ck_assert_int_eq(LOAD("--config", path, "--count=3"), SB_OK);
    ck_assert_int_eq(conf.count, 3); /* command line over both */
    ck_assert_str_eq(conf.name, "env");
    ck_assert_int_eq(conf.wait, 1000);
}
END_TEST

START_TEST(command_line_before_config_still_wins)
{
    enum sb_config_action action;
    const char *path = write_file("count = 1\n");

    ck_assert_int_eq(LOAD("--count=5", "--config", path), SB_OK);
    ck_assert_int_eq(conf.count, 5);
}
END_TEST

START_TEST(config_from_environment)
{
    enum sb_config_action action;
    const char *path = write_file("name = viaenv\n");

    setenv("SWITCHBOARD_CONFIG", path, 1);
    ck_assert_int_eq(LOAD("--flag"), SB_OK);
    ck_assert_str_eq(conf.name, "viaenv");
    ck_assert_str_eq(sb_config_file(cfg), path);
}
END_TEST

START_TEST(file_syntax)
{
    enum sb_config_action action;
    const char *path = write_file("# a comment\n\n   \t\n  # indented\n"
                                  "count=9\r\n  name   =  sp aced  \n"
                                  "opt-value = x # not a comment\n"
                                  "flag = yes");

    ck_assert_msg(LOAD("--config", path) == SB_OK, "%s", sb_config_error(cfg));
    ck_assert_int_eq(conf.count, 9);
    ck_assert_str_eq(conf.name, "sp aced");
    ck_assert_str_eq(conf.opt_value, "x # not a comment");
    ck_assert(conf.flag);
}
END_TEST

START_TEST(env_names)
{
    char *a = sb_config_env_name("max_data_bytes");
    char *b = sb_config_env_name("listen-port.v2");

    ck_assert_str_eq(a, "SWITCHBOARD_MAX_DATA_BYTES");
    ck_assert_str_eq(b, "SWITCHBOARD_LISTEN_PORT_V2");
    free(a);
    free(b);
}
END_TEST

START_TEST(environment_values)
{
    enum sb_config_action action;

    setenv("SWITCHBOARD_FLAG", "on", 1);
    setenv("SWITCHBOARD_WAIT", "5m", 1);
    setenv("SWITCHBOARD_OPT_VALUE", "", 1);
    setenv("SWITCHBOARD_NO_SUCH_OPTION", "ignored", 1);
    ck_assert_int_eq(LOAD("--count=1"), SB_OK);
    ck_assert(conf.flag);
    ck_assert_int_eq(conf.wait, 300000);
    ck_assert_str_eq(conf.opt_value, "");
    unsetenv("SWITCHBOARD_NO_SUCH_OPTION");
}
END_TEST

START_TEST(actions)
{
    enum sb_config_action action;

    ck_assert_int_eq(LOAD("--help"), SB_OK);
    ck_assert_int_eq(action, SB_CONFIG_HELP);
    ck_assert_int_eq(LOAD("--version"), SB_OK);
    ck_assert_int_eq(action, SB_CONFIG_VERSION);
    ck_assert_int_eq(LOAD("--check-config", "--help"), SB_OK);
    ck_assert_int_eq(action, SB_CONFIG_HELP);
    /* --help reads no file: a missing one is no error then. */
    ck_assert_int_eq(LOAD("--config", "/nonexistent/x.conf", "--help"), SB_OK);
}
END_TEST

/* Everything written by fn(cfg, f), as a new string. */
static char *
capture(void (*fn)(const struct sb_config *, FILE *))
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    fn(cfg, f);
    fclose(f);
    return text;
}

START_TEST(help_lists_every_option)
{
    char *text = capture(sb_config_print_help);

    for (size_t i = 0; i < NOPTIONS; i++) {
        char *line = sb_asprintf("--%s=", test_options[i].name);

        ck_assert_msg(strstr(text, line) != NULL, "%s missing", line);
        ck_assert_ptr_nonnull(strstr(text, test_options[i].help));
        free(line);
    }
    ck_assert_ptr_nonnull(strstr(text, "Usage: check_config"));
    ck_assert_ptr_nonnull(
        strstr(text, "--count=INTEGER  range -5..100  default \"7\""));
    ck_assert_ptr_nonnull(
        strstr(text, "--wait=DURATION  range 100ms..3600000ms  default"));
    ck_assert_ptr_nonnull(
        strstr(text, "--size=BYTES  range 1..1048576  default \"64k\""));
    ck_assert_ptr_nonnull(strstr(text, "--name=STRING  length 1..8"));
    ck_assert_ptr_nonnull(strstr(text, "--opt_value=STRING  default none"));
    ck_assert_ptr_nonnull(strstr(text, "--flag=BOOL  default \"false\""));
    free(text);
}
END_TEST

START_TEST(print_effective)
{
    char *text;

    ck_assert_int_eq(set_arg("wait", "3s"), SB_OK);
    text = capture(sb_config_print);
    ck_assert_str_eq(text, "count = 7\nflag = false\nname = abc\n"
                           "size = 65536\nwait = 3000ms\nopt_value = \n");
    free(text);
}
END_TEST

/* --- limits --- */

START_TEST(int_bounds)
{
    ck_assert_int_eq(set_arg("count", "-5"), SB_OK);
    ck_assert_int_eq(conf.count, -5);
    ck_assert_int_eq(set_arg("count", "100"), SB_OK);
    ck_assert_int_eq(conf.count, 100);
    ck_assert_int_eq(set_arg("count", "-6"), SB_ERR);
    assert_error("config: command line: count: -6 is below the minimum -5");
    ck_assert_int_eq(set_arg("count", "101"), SB_ERR);
    assert_error("config: command line: count: 101 is above the maximum 100");
    ck_assert_int_eq(conf.count, 100);
}
END_TEST

START_TEST(bytes_bounds)
{
    ck_assert_int_eq(set_arg("size", "1"), SB_OK);
    ck_assert_int_eq(set_arg("size", "1m"), SB_OK);
    ck_assert_int_eq(conf.size, 1048576);
    ck_assert_int_eq(set_arg("size", "1048577"), SB_ERR);
    assert_error("config: command line: size: 1048577 is above the maximum "
                 "1048576");
    ck_assert_int_eq(set_arg("size", "0"), SB_ERR);
    assert_error("config: command line: size: 0 is below the minimum 1");
    ck_assert_int_eq(set_arg("size", "1g"), SB_ERR);
    ck_assert_int_eq(set_arg("size", "99999999999999g"), SB_ERR);
    assert_error("config: command line: size: '99999999999999g' is not a "
                 "size (e.g. 65536, 64k, 1m)");
}
END_TEST

START_TEST(duration_bounds)
{
    ck_assert_int_eq(set_arg("wait", "100ms"), SB_OK);
    ck_assert_int_eq(set_arg("wait", "1h"), SB_OK);
    ck_assert_int_eq(conf.wait, 3600000);
    ck_assert_int_eq(set_arg("wait", "99ms"), SB_ERR);
    assert_error("config: command line: wait: 99ms is below the minimum 100");
    ck_assert_int_eq(set_arg("wait", "3600001ms"), SB_ERR);
    ck_assert_int_eq(set_arg("wait", "0"), SB_ERR);
    assert_error("config: command line: wait: 0 is below the minimum 100");
}
END_TEST

START_TEST(string_bounds)
{
    ck_assert_int_eq(set_arg("name", "a"), SB_OK);
    ck_assert_int_eq(set_arg("name", "12345678"), SB_OK);
    ck_assert_int_eq(set_arg("name", "123456789"), SB_ERR);
    assert_error("config: command line: name: value is longer than 8 bytes");
    ck_assert_int_eq(set_arg("name", ""), SB_ERR);
    assert_error("config: command line: name: '' is shorter than 1 bytes");
    ck_assert_str_eq(conf.name, "12345678");
}
END_TEST

START_TEST(int_overflow)
{
    ck_assert_int_eq(set_arg("count", "99999999999999999999"), SB_ERR);
    assert_error("config: command line: count: '99999999999999999999' is not "
                 "an integer");
}
END_TEST

START_TEST(error_names_file_and_line)
{
    enum sb_config_action action;
    const char *path = write_file("# switchboard\n\n\n\n\n\n\n\n\n\n\n"
                                  "size = 2000000\n");
    char *expect = sb_asprintf("config: %s:12: size: 2000000 is above the "
                               "maximum 1048576",
                               path);

    ck_assert_int_eq(LOAD("--config", path), SB_ERR);
    assert_error(expect);
    free(expect);
}
END_TEST

/* --- errors --- */

START_TEST(bad_values)
{
    ck_assert_int_eq(set_arg("count", "12abc"), SB_ERR);
    assert_error("config: command line: count: '12abc' is not an integer");
    ck_assert_int_eq(set_arg("count", " 1"), SB_ERR);
    ck_assert_int_eq(set_arg("count", ""), SB_ERR);
    ck_assert_int_eq(set_arg("flag", "maybe"), SB_ERR);
    assert_error("config: command line: flag: 'maybe' is not true or false");
    ck_assert_int_eq(set_arg("size", "64kb"), SB_ERR);
    ck_assert_int_eq(set_arg("size", "-1"), SB_ERR);
    ck_assert_int_eq(set_arg("size", "1.5m"), SB_ERR);
    ck_assert_int_eq(set_arg("wait", "5"), SB_ERR);
    assert_error("config: command line: wait: '5' is not a duration (e.g. "
                 "500ms, 2s, 5m, 1h)");
    ck_assert_int_eq(set_arg("wait", "5x"), SB_ERR);
    ck_assert_int_eq(set_arg("wait", "-1s"), SB_ERR);
    ck_assert_int_eq(set_arg("wait", "s"), SB_ERR);
}
END_TEST

START_TEST(env_error_names_variable)
{
    enum sb_config_action action;

    setenv("SWITCHBOARD_COUNT", "1000", 1);
    ck_assert_int_eq(LOAD("--flag"), SB_ERR);
    assert_error("config: environment SWITCHBOARD_COUNT: count: 1000 is above "
                 "the maximum 100");
}
END_TEST

START_TEST(file_syntax_errors)
{
    enum sb_config_action action;
    const char *p1 = write_file("count = 1\n\nthis line has no equals\n");
    const char *p2 = write_file("# x\n= 5\n");
    const char *p3 = write_file("count = 1\ncolour = red\n");
    char *e1 = sb_asprintf("config: %s:3: expected 'name = value'", p1);
    char *e2 = sb_asprintf("config: %s:2: expected 'name = value'", p2);
    char *e3 = sb_asprintf("config: %s:2: unknown option 'colour'", p3);

    ck_assert_int_eq(LOAD("--config", p1), SB_ERR);
    assert_error(e1);
    ck_assert_int_eq(LOAD("--config", p2), SB_ERR);
    assert_error(e2);
    ck_assert_int_eq(LOAD("--config", p3), SB_ERR);
    assert_error(e3);
    free(e1);
    free(e2);
    free(e3);
}
END_TEST

START_TEST(missing_file)
{
    enum sb_config_action action;

    ck_assert_int_eq(LOAD("--config=/nonexistent/switchboard.conf"), SB_ERR);
    assert_error("config: /nonexistent/switchboard.conf: No such file or "
                 "directory");
}
END_TEST

START_TEST(command_line_errors)
{
    enum sb_config_action action;

    ck_assert_int_eq(LOAD("--colour=red"), SB_ERR);
    assert_error("config: command line: unknown option '--colour'");
    ck_assert_int_eq(LOAD("stray"), SB_ERR);
    assert_error("config: command line: unexpected argument 'stray'");
    ck_assert_int_eq(LOAD("-c"), SB_ERR);
    ck_assert_int_eq(LOAD("--"), SB_ERR);
    ck_assert_int_eq(LOAD("--count"), SB_ERR);
    assert_error("config: command line: --count needs a value");
    ck_assert_int_eq(LOAD("--config"), SB_ERR);
    assert_error("config: command line: --config needs a file name");
    ck_assert_int_eq(LOAD("--help=yes"), SB_ERR);
    assert_error("config: command line: --help takes no value");
}
END_TEST

/* --- common options --- */

START_TEST(common_defaults)
{
    char host[256] = "";
    char *node;

    ck_assert_str_eq(common.database_url, "");
    ck_assert_str_eq(common.log_level, "info");
    ck_assert_ptr_null(common.log_file);
    ck_assert_int_eq(common.max_data_bytes, SB_DATA_MAX_DEFAULT);
    ck_assert_int_eq(common.commit_batch, SB_BATCH_MAX);
    ck_assert_int_eq(common.heartbeat_interval_ms, 10000);
    ck_assert_ptr_null(common.anonymous_read);
    ck_assert_int_eq(sb_config_finish(cfg), SB_OK);
    ck_assert_ptr_null(common.secret);
    gethostname(host, sizeof(host) - 1);
    node = sb_asprintf("%s-%ld", host, (long)getpid());
    ck_assert_str_eq(common.node_id, node);
    free(node);
}
END_TEST

START_TEST(common_secret)
{
    enum sb_config_action action;

    ck_assert_int_eq(LOAD("--token_secret=" SECRET_B64), SB_OK);
    ck_assert_int_eq(sb_config_finish(cfg), SB_OK);
    ck_assert_uint_eq(common.secret_len, 32);
    ck_assert_mem_eq(common.secret, "0123456789abcdef0123456789abcdef", 32);
}
END_TEST

/* A node without a secret serves anonymous readers or nobody. */
START_TEST(common_auth_check)
{
    enum sb_config_action action;
    char why[256] = "";

    ck_assert_int_eq(sb_config_finish(cfg), SB_OK);
    ck_assert_int_eq(sb_config_check_auth(&common, why, sizeof(why)), SB_ERR);
    ck_assert_msg(strstr(why, "token_secret") != NULL, "%s", why);
    ck_assert_int_eq(LOAD("--anonymous_read=activity:*"), SB_OK);
    ck_assert_int_eq(sb_config_finish(cfg), SB_OK);
    ck_assert_int_eq(sb_config_check_auth(&common, why, sizeof(why)), SB_OK);
    ck_assert_int_eq(LOAD("--anonymous_read=", "--token_secret=" SECRET_B64),
                     SB_OK);
    ck_assert_int_eq(sb_config_finish(cfg), SB_OK);
    ck_assert_int_eq(sb_config_check_auth(&common, why, sizeof(why)), SB_OK);
    ck_assert_int_eq(LOAD("--anonymous_read=chat:bad name"), SB_ERR);
}
END_TEST

START_TEST(common_secret_file)
{
    enum sb_config_action action;
    const char *path = write_file(SECRET_B64 "\n");
    char *arg = sb_asprintf("--token_secret_file=%s", path);

    ck_assert_int_eq(LOAD(arg), SB_OK);
    ck_assert_int_eq(sb_config_finish(cfg), SB_OK);
    ck_assert_uint_eq(common.secret_len, 32);
    ck_assert_mem_eq(common.secret, "0123456789abcdef0123456789abcdef", 32);
    free(arg);
}
END_TEST

START_TEST(common_max_data_bytes_bounds)
{
    enum sb_config_action action;

    ck_assert_int_eq(LOAD("--max_data_bytes=1m"), SB_OK);
    ck_assert_int_eq(common.max_data_bytes, SB_DATA_MAX_HARD);
    ck_assert_int_eq(LOAD("--max_data_bytes=1"), SB_OK);
    ck_assert_int_eq(LOAD("--max_data_bytes=1048577"), SB_ERR);
    assert_error("config: command line: max_data_bytes: 1048577 is above the "
                 "maximum 1048576");
    ck_assert_int_eq(LOAD("--max_data_bytes=0"), SB_ERR);
}
END_TEST

START_TEST(common_print_hides_secrets)
{
    enum sb_config_action action;
    char *text;

    ck_assert_int_eq(
        LOAD("--token_secret=" SECRET_B64, "--node_id=n1",
             "--database_url=postgresql://bob:s3cret@db.example/sw"),
        SB_OK);
    ck_assert_int_eq(sb_config_finish(cfg), SB_OK);
    text = capture(sb_config_print);
    ck_assert_ptr_nonnull(strstr(text, "token_secret = (set)\n"));
    ck_assert_ptr_nonnull(strstr(text, "token_secret_file = \n"));
    ck_assert_ptr_nonnull(strstr(text, "node_id = n1\n"));
    ck_assert_ptr_nonnull(strstr(text, "password=***"));
    ck_assert_ptr_nonnull(strstr(text, "host='db.example'"));
    ck_assert_ptr_null(strstr(text, "s3cret"));
    ck_assert_ptr_null(strstr(text, SECRET_B64));
    free(text);
}
END_TEST

START_TEST(common_help_lists_every_option)
{
    static const char *const names[] = {
        "database_url",      "log_level",      "log_file", "token_secret",
        "token_secret_file", "max_data_bytes", "node_id"};
    char *text = capture(sb_config_print_help);

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char *opt = sb_asprintf("--%s=", names[i]);

        ck_assert_msg(strstr(text, opt) != NULL, "%s missing", opt);
        free(opt);
    }
    ck_assert_ptr_nonnull(
        strstr(text, "--max_data_bytes=BYTES  range 1..1048576  default "
                     "\"65536\""));
    free(text);
}
END_TEST

START_TEST(common_errors)
{
    enum sb_config_action action;
    char long_id[10 + 129 + 1] = "--node_id=";

    setenv("SWITCHBOARD_LOG_LEVEL", "verbose", 1);
    ck_assert_int_eq(LOAD("--node_id=x"), SB_ERR);
    assert_error("config: environment SWITCHBOARD_LOG_LEVEL: log_level: "
                 "'verbose' is not error, warn, info or debug");
    unsetenv("SWITCHBOARD_LOG_LEVEL");
    ck_assert_int_eq(LOAD("--token_secret=not+base64"), SB_ERR);
    assert_error("config: command line: token_secret: not base64url text");
    ck_assert_int_eq(LOAD("--token_secret=c2hvcnQ"), SB_ERR);
    assert_error("config: command line: token_secret: decodes to 5 bytes, "
                 "fewer than the minimum 32");
    ck_assert_int_eq(LOAD("--database_url=host=a port"), SB_ERR);
    ck_assert_ptr_nonnull(
        strstr(sb_config_error(cfg), "database_url: not a connection string"));
    memset(long_id + 10, 'n', 129);
    ck_assert_int_eq(LOAD(long_id), SB_ERR);
    assert_error("config: command line: node_id: value is longer than 128 "
                 "bytes");
    ck_assert_int_eq(LOAD("--node_id=web 1"), SB_ERR);
    assert_error("config: command line: node_id: only printable ASCII "
                 "without spaces, quotes or backslashes (byte 3 is 0x20)");
    ck_assert_int_eq(LOAD("--node_id=a\"b"), SB_ERR);
    ck_assert_int_eq(LOAD("--node_id=n\xc3\xa9"), SB_ERR);
    ck_assert_int_eq(LOAD("--node_id=web1-wsd.2:a@b/c_d"), SB_OK);
}
END_TEST

/* An empty value unsets what an earlier source set. */
START_TEST(common_empty_unsets)
{
    enum sb_config_action action;
    const char *path = write_file("token_secret_file = /nonexistent/s\n"
                                  "log_file = /nonexistent/log\n"
                                  "node_id = from-file\n");
    char *arg = sb_asprintf("--config=%s", path);

    setenv("SWITCHBOARD_TOKEN_SECRET_FILE", "", 1);
    ck_assert_int_eq(
        LOAD(arg, "--token_secret=" SECRET_B64, "--log_file=", "--node_id="),
        SB_OK);
    ck_assert_int_eq(sb_config_finish(cfg), SB_OK);
    ck_assert_uint_eq(common.secret_len, 32);
    ck_assert_str_ne(common.node_id, "");
    ck_assert_str_ne(common.node_id, "from-file");
    ck_assert_str_eq(common.log_file, "");
    free(arg);
}
END_TEST

START_TEST(common_secret_conflicts)
{
    enum sb_config_action action;
    const char *bad = write_file("not base64!\n");
    char *arg = sb_asprintf("--token_secret_file=%s", bad);
    char *expect = sb_asprintf("config: token_secret_file: %s: not base64url "
                               "text",
                               bad);

    ck_assert_int_eq(LOAD("--token_secret=" SECRET_B64, arg), SB_OK);
    ck_assert_int_eq(sb_config_finish(cfg), SB_ERR);
    assert_error("config: token_secret and token_secret_file are both set: "
                 "keep one");
    sb_config_free(cfg);
    cfg = sb_config_new("check_config", "1.2.3");
    sb_config_add_common(cfg, &common);
    ck_assert_int_eq(LOAD(arg), SB_OK);
    ck_assert_int_eq(sb_config_finish(cfg), SB_ERR);
    assert_error(expect);
    ck_assert_int_eq(LOAD("--token_secret_file=/nonexistent/secret"), SB_OK);
    ck_assert_int_eq(sb_config_finish(cfg), SB_ERR);
    assert_error("config: token_secret_file: /nonexistent/secret: No such "
                 "file or directory");
    free(arg);
    free(expect);
}
END_TEST

/* sb_config_startup with one argument, stdout and stderr sent to
 * /dev/null meanwhile. */
static int
startup_with(const char *arg)
{
    const char *const args[] = {arg, NULL};
    int argc, rc, out = dup(STDOUT_FILENO), err = dup(STDERR_FILENO);
    int null = open("/dev/null", O_WRONLY);
    char **argv = make_argv(args, &argc);

    fflush(stdout);
    fflush(stderr);
    dup2(null, STDOUT_FILENO);
    dup2(null, STDERR_FILENO);
    rc = sb_config_startup(cfg, argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(out, STDOUT_FILENO);
    dup2(err, STDERR_FILENO);
    close(null);
    close(out);
    close(err);
    free_argv(argv);
    return rc;
}

START_TEST(startup_exit_codes)
{
    ck_assert_int_eq(startup_with("--help"), 0);
    ck_assert_int_eq(startup_with("--version"), 0);
    ck_assert_int_eq(startup_with("--nope"), 2);
    ck_assert_int_eq(startup_with("--token_secret=short"), 2);
    ck_assert_int_eq(startup_with("--check-config"), 0);
    ck_assert_int_eq(startup_with("--log_level=warn"), SB_CONFIG_CONTINUE);
    ck_assert_int_eq(sb_log_get_level(), SB_LOG_WARN);
}
END_TEST

/* A check across options that refuses log level warn, and counts calls. */
static int across_calls;

static int
refuse_warn(void *arg, char *why, size_t size)
{
    (void)arg;
    across_calls++;
    if (sb_log_get_level() != SB_LOG_WARN)
        return SB_OK;
    snprintf(why, size, "log_level warn is refused here");
    return SB_ERR;
}

/* The check across options runs for a start and for --check-config, and
 * its refusal is exit status 2 in both. */
START_TEST(startup_check_across)
{
    sb_config_set_check(cfg, refuse_warn, NULL);
    across_calls = 0;
    ck_assert_int_eq(startup_with("--help"), 0);
    ck_assert_int_eq(across_calls, 0);
    ck_assert_int_eq(startup_with("--log_level=info"), SB_CONFIG_CONTINUE);
    ck_assert_int_eq(across_calls, 1);
    ck_assert_int_eq(startup_with("--log_level=warn"), 2);
    ck_assert_int_eq(across_calls, 2);
    setenv("SWITCHBOARD_LOG_LEVEL", "info", 1);
    ck_assert_int_eq(startup_with("--check-config"), 0);
    ck_assert_int_eq(across_calls, 3);
    setenv("SWITCHBOARD_LOG_LEVEL", "warn", 1);
    ck_assert_int_eq(startup_with("--check-config"), 2);
    unsetenv("SWITCHBOARD_LOG_LEVEL");
    ck_assert_int_eq(across_calls, 4);
}
END_TEST

START_TEST(list_split)
{
    char **l = sb_config_list(" chat:*, activity:main\t,,system:x ");

    ck_assert_str_eq(l[0], "chat:*");
    ck_assert_str_eq(l[1], "activity:main");
    ck_assert_str_eq(l[2], "system:x");
    ck_assert_ptr_null(l[3]);
    sb_config_list_free(l);
    l = sb_config_list(NULL);
    ck_assert_ptr_null(l[0]);
    sb_config_list_free(l);
    l = sb_config_list(" ,\t, ");
    ck_assert_ptr_null(l[0]);
    sb_config_list_free(l);
    sb_config_list_free(NULL);
}
END_TEST

START_TEST(list_patterns_check)
{
    char why[128] = "";

    ck_assert_int_eq(sb_config_check_patterns("chat:*, activity:main *", why,
                                              sizeof(why)),
                     SB_OK);
    ck_assert_int_eq(sb_config_check_patterns("", why, sizeof(why)), SB_OK);
    ck_assert_int_eq(sb_config_check_patterns("chat:*,Chat:x", why,
                                              sizeof(why)),
                     SB_ERR);
    ck_assert_str_eq(why, "'Chat:x' is not a channel pattern");
    ck_assert_int_eq(sb_config_check_patterns("chat:a*b", why, sizeof(why)),
                     SB_ERR);
}
END_TEST

static Suite *
config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *core = tcase_create("core");
    TCase *limits = tcase_create("limits");
    TCase *errors = tcase_create("errors");
    TCase *common_tc = tcase_create("common");

    tcase_add_checked_fixture(core, setup, teardown);
    tcase_add_test(core, defaults);
    tcase_add_test(core, no_arguments);
    tcase_add_test(core, parse_int);
    tcase_add_test(core, parse_bool);
    tcase_add_test(core, parse_string);
    tcase_add_test(core, parse_bytes);
    tcase_add_test(core, parse_duration);
    tcase_add_test(core, dashes_and_underscores);
    tcase_add_test(core, precedence);
    tcase_add_test(core, command_line_before_config_still_wins);
    tcase_add_test(core, config_from_environment);
    tcase_add_test(core, file_syntax);
    tcase_add_test(core, env_names);
    tcase_add_test(core, environment_values);
    tcase_add_test(core, actions);
    tcase_add_test(core, help_lists_every_option);
    tcase_add_test(core, print_effective);
    suite_add_tcase(s, core);

    tcase_add_checked_fixture(limits, setup, teardown);
    tcase_add_test(limits, int_bounds);
    tcase_add_test(limits, bytes_bounds);
    tcase_add_test(limits, duration_bounds);
    tcase_add_test(limits, string_bounds);
    tcase_add_test(limits, int_overflow);
    tcase_add_test(limits, error_names_file_and_line);
    suite_add_tcase(s, limits);

    tcase_add_checked_fixture(errors, setup, teardown);
    tcase_add_test(errors, bad_values);
    tcase_add_test(errors, env_error_names_variable);
    tcase_add_test(errors, file_syntax_errors);
    tcase_add_test(errors, missing_file);
    tcase_add_test(errors, command_line_errors);
    suite_add_tcase(s, errors);

    tcase_add_checked_fixture(common_tc, setup_common, teardown);
    tcase_add_test(common_tc, common_defaults);
    tcase_add_test(common_tc, common_secret);
    tcase_add_test(common_tc, common_secret_file);
    tcase_add_test(common_tc, common_auth_check);
    tcase_add_test(common_tc, common_max_data_bytes_bounds);
    tcase_add_test(common_tc, common_print_hides_secrets);
    tcase_add_test(common_tc, common_help_lists_every_option);
    tcase_add_test(common_tc, common_errors);
    tcase_add_test(common_tc, common_secret_conflicts);
    tcase_add_test(common_tc, common_empty_unsets);
    tcase_add_test(common_tc, startup_exit_codes);
    tcase_add_test(common_tc, startup_check_across);
    tcase_add_test(common_tc, list_split);
    tcase_add_test(common_tc, list_patterns_check);
    suite_add_tcase(s, common_tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(config_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
