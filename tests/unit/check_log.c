/*
 * check_log.c: unit tests of lib/log.c: line format, levels, suppressed
 * arguments left unevaluated, truncation, scrubbing, log files, threads.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "xalloc.h"

#define LINE_RE                                                                \
    "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "      \
    "(error|warn|info|debug) [a-z_-]+\\[[0-9]+\\]: "

static int pipe_fds[2];

static void
setup_pipe(void)
{
    ck_assert_int_eq(pipe2(pipe_fds, O_NONBLOCK), 0);
    sb_log_set_fd(pipe_fds[1]);
    sb_log_set_program("check_log");
    sb_log_set_level(SB_LOG_INFO);
}

static void
teardown_pipe(void)
{
    sb_log_set_fd(-1);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
}

/* Everything written to the pipe so far, as a new string. */
static char *
drain(void)
{
    size_t cap = 1 << 17, len = 0;
    char *buf = sb_malloc(cap + 1);
    ssize_t n;

    while ((n = read(pipe_fds[0], buf + len, cap - len)) > 0)
        len += (size_t)n;
    buf[len] = '\0';
    return buf;
}

static void
assert_line(const char *line, const char *level, const char *message)
{
    regex_t re;
    char *want =
        sb_asprintf("%s check_log[%ld]: %s\n", level, (long)getpid(), message);

    ck_assert_int_eq(regcomp(&re, LINE_RE, REG_EXTENDED | REG_NOSUB), 0);
    ck_assert_msg(regexec(&re, line, 0, NULL, 0) == 0, "bad line: %s", line);
    regfree(&re);
    /* What follows the 24-character timestamp and a space. */
    ck_assert_str_eq(line + 25, want);
    free(want);
}

START_TEST(line_format)
{
    char *out;

    sb_log_info("conn %s: subscribed %d", "c7", 3);
    out = drain();
    assert_line(out, "info", "conn c7: subscribed 3");
    free(out);
}
END_TEST

START_TEST(each_level_name)
{
    char *out;

    sb_log_set_level(SB_LOG_DEBUG);
    sb_log_error("e");
    out = drain();
    assert_line(out, "error", "e");
    free(out);
    sb_log_warn("w");
    out = drain();
    assert_line(out, "warn", "w");
    free(out);
    sb_log_debug("d");
    out = drain();
    assert_line(out, "debug", "d");
    free(out);
}
END_TEST

START_TEST(lower_levels_suppressed)
{
    char *out;

    sb_log_set_level(SB_LOG_WARN);
    sb_log_info("hidden");
    sb_log_debug("hidden");
    sb_log_warn("shown");
    sb_log_error("shown too");
    out = drain();
    ck_assert_ptr_null(strstr(out, "hidden"));
    ck_assert_ptr_nonnull(strstr(out, "warn check_log"));
    ck_assert_ptr_nonnull(strstr(out, "shown too"));
    free(out);
}
END_TEST

START_TEST(suppressed_arguments_not_evaluated)
{
    int calls = 0;
    char *out;

    sb_log_set_level(SB_LOG_ERROR);
    sb_log_debug("%d", calls++);
    SB_LOG(SB_LOG_INFO, "%d", calls++);
    sb_log_warn("%d", calls++);
    ck_assert_int_eq(calls, 0);
    sb_log_error("%d", calls++);
    ck_assert_int_eq(calls, 1);
    out = drain();
    assert_line(out, "error", "0");
    free(out);
}
END_TEST

START_TEST(set_and_get_level)
{
    sb_log_set_level(SB_LOG_DEBUG);
    ck_assert_int_eq(sb_log_get_level(), SB_LOG_DEBUG);
    sb_log_set_level(SB_LOG_ERROR);
    ck_assert_int_eq(sb_log_get_level(), SB_LOG_ERROR);
}
END_TEST

START_TEST(level_names)
{
    enum sb_log_level level = SB_LOG_INFO;

    ck_assert_int_eq(sb_log_level_from_name("debug", &level), SB_OK);
    ck_assert_int_eq(level, SB_LOG_DEBUG);
    ck_assert_int_eq(sb_log_level_from_name("ERROR", &level), SB_OK);
    ck_assert_int_eq(level, SB_LOG_ERROR);
    ck_assert_int_eq(sb_log_level_from_name("warning", &level), SB_OK);
    ck_assert_int_eq(level, SB_LOG_WARN);
    ck_assert_int_eq(sb_log_level_from_name("Info", &level), SB_OK);
    ck_assert_int_eq(level, SB_LOG_INFO);
    ck_assert_str_eq(sb_log_level_name(SB_LOG_WARN), "warn");
    ck_assert_str_eq(sb_log_level_name((enum sb_log_level)9), "?");
}
END_TEST

START_TEST(level_name_errors)
{
    enum sb_log_level level = SB_LOG_INFO;

    ck_assert_int_eq(sb_log_level_from_name("verbose", &level), SB_ERR);
    ck_assert_int_eq(sb_log_level_from_name("", &level), SB_ERR);
    ck_assert_int_eq(sb_log_level_from_name(NULL, &level), SB_ERR);
    ck_assert_int_eq(level, SB_LOG_INFO);
}
END_TEST

START_TEST(long_message_cut)
{
    char *big = sb_malloc(3 * SB_LOG_LINE_MAX);
    char *out;
    size_t len;

    memset(big, 'x', 3 * SB_LOG_LINE_MAX - 1);
    big[3 * SB_LOG_LINE_MAX - 1] = '\0';
    sb_log_info("%s", big);
    out = drain();
    len = strlen(out);
    ck_assert_uint_eq(len, SB_LOG_LINE_MAX - 1);
    ck_assert_str_eq(out + len - 4, "...\n");
    ck_assert_ptr_eq(strchr(out, '\n'), out + len - 1);
    free(out);
    free(big);
}
END_TEST

START_TEST(message_at_limit_not_cut)
{
    char *out, *msg;
    size_t prefix, len;

    sb_log_info("x");
    out = drain();
    prefix = strlen(out) - 2; /* "x\n" */
    free(out);
    /* The longest message that fits: line = prefix + message + '\n'. */
    len = SB_LOG_LINE_MAX - 2 - prefix;
    msg = sb_malloc(len + 1);
    memset(msg, 'y', len);
    msg[len] = '\0';
    sb_log_info("%s", msg);
    out = drain();
    ck_assert_uint_eq(strlen(out), prefix + len + 1);
    ck_assert_ptr_null(strstr(out, "..."));
    free(out);
    free(msg);
}
END_TEST

START_TEST(control_characters_scrubbed)
{
    char *out;

    sb_log_warn("user said %s", "hi\n2026-01-01T00:00:00.000Z error x\r\x1b");
    out = drain();
    assert_line(out, "warn", "user said hi?2026-01-01T00:00:00.000Z error x??");
    free(out);
}
END_TEST

START_TEST(program_name_cut)
{
    char *out;

    sb_log_set_program("a-very-long-program-name-that-goes-on-and-on");
    sb_log_info("m");
    out = drain();
    ck_assert_ptr_nonnull(strstr(out, " a-very-long-program-name-that-g["));
    free(out);
}
END_TEST

START_TEST(log_file_appends)
{
    char path[] = "/tmp/check_log_XXXXXX";
    int fd = mkstemp(path);
    char buf[512];
    ssize_t n;

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "old\n", 4), 4);
    ck_assert_int_eq(sb_log_open(path), SB_OK);
    sb_log_info("to the file");
    sb_log_set_fd(-1);
    n = pread(fd, buf, sizeof(buf) - 1, 0);
    ck_assert_int_gt(n, 4);
    buf[n] = '\0';
    ck_assert_int_eq(strncmp(buf, "old\n", 4), 0);
    ck_assert_ptr_nonnull(strstr(buf + 4, "info check_log["));
    ck_assert_ptr_nonnull(strstr(buf, ": to the file\n"));
    close(fd);
    unlink(path);
}
END_TEST

START_TEST(log_file_open_fails)
{
    char *out;

    errno = 0;
    ck_assert_int_eq(sb_log_open("/nonexistent-dir/x/switchboard.log"), SB_ERR);
    ck_assert_int_eq(errno, ENOENT);
    sb_log_info("still here");
    out = drain();
    ck_assert_ptr_nonnull(strstr(out, "still here"));
    free(out);
}
END_TEST

#define THREADS 8
#define LINES   500

static void *
writer(void *arg)
{
    for (int i = 0; i < LINES; i++)
        sb_log_info("thread %ld line %d %s", (long)(intptr_t)arg, i,
                    "padding-padding-padding-padding-padding-padding");
    return NULL;
}

/* Lines of many threads arrive whole: each starts with a timestamp. */
START_TEST(threads_do_not_interleave)
{
    char path[] = "/tmp/check_log_XXXXXX";
    int fd = mkstemp(path);
    pthread_t t[THREADS];
    FILE *f;
    char line[1024];
    int count = 0;
    regex_t re;

    ck_assert_int_ge(fd, 0);
    sb_log_set_fd(fd);
    for (long i = 0; i < THREADS; i++)
        ck_assert_int_eq(
            pthread_create(&t[i], NULL, writer, (void *)(intptr_t)i), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    sb_log_set_fd(-1);
    ck_assert_int_eq(regcomp(&re, LINE_RE "thread [0-9] line [0-9]+ pad",
                             REG_EXTENDED | REG_NOSUB),
                     0);
    f = fopen(path, "r");
    while (fgets(line, sizeof(line), f) != NULL) {
        ck_assert_msg(regexec(&re, line, 0, NULL, 0) == 0, "torn: %s", line);
        count++;
    }
    ck_assert_int_eq(count, THREADS * LINES);
    regfree(&re);
    fclose(f);
    close(fd);
    unlink(path);
}
END_TEST

static Suite *
log_suite(void)
{
    Suite *s = suite_create("log");
    TCase *core = tcase_create("core");
    TCase *limits = tcase_create("limits");
    TCase *errors = tcase_create("errors");

    tcase_add_checked_fixture(core, setup_pipe, teardown_pipe);
    tcase_add_test(core, line_format);
    tcase_add_test(core, each_level_name);
    tcase_add_test(core, lower_levels_suppressed);
    tcase_add_test(core, suppressed_arguments_not_evaluated);
    tcase_add_test(core, set_and_get_level);
    tcase_add_test(core, level_names);
    tcase_add_test(core, log_file_appends);
    tcase_add_test(core, threads_do_not_interleave);
    suite_add_tcase(s, core);

    tcase_add_checked_fixture(limits, setup_pipe, teardown_pipe);
    tcase_add_test(limits, long_message_cut);
    tcase_add_test(limits, message_at_limit_not_cut);
    tcase_add_test(limits, control_characters_scrubbed);
    tcase_add_test(limits, program_name_cut);
    suite_add_tcase(s, limits);

    tcase_add_checked_fixture(errors, setup_pipe, teardown_pipe);
    tcase_add_test(errors, level_name_errors);
    tcase_add_test(errors, log_file_open_fails);
    suite_add_tcase(s, errors);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(log_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
