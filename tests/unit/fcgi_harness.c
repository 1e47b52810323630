/*
 * fcgi_harness.c: the stand-ins and helpers of fcgi_harness.h. Each Check
 * test runs in its own process, so redirecting stdin and stdout here
 * touches that test alone.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "cgi.h"
#include "fcgi_harness.h"
#include "xalloc.h"

struct fcgi_app fcgi_app = {.listen_fd = -1};
int64_t harness_clock_ms = 1000000;

static int saved_stdout = -1;
static FILE *capture_file;

int64_t
fcgi_mono_ms(void)
{
    return harness_clock_ms;
}

int64_t
fcgi_now_ms(void)
{
    return harness_clock_ms;
}

void
fcgi_cgi_done(void)
{
}

unsigned
harness_seed(void)
{
    const char *env = getenv("SWITCHBOARD_TEST_SEED");
    unsigned seed;

    if (env != NULL && *env != '\0')
        seed = (unsigned)strtoul(env, NULL, 10);
    else
        seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    fprintf(stderr, "SWITCHBOARD_TEST_SEED=%u\n", seed);
    return seed;
}

void
harness_cgi_env(const char *const *pairs)
{
    static const char *const vars[] = {
        "REQUEST_METHOD", "REQUEST_URI",        "QUERY_STRING",   "SCRIPT_NAME",
        "PATH_INFO",      "CONTENT_TYPE",       "CONTENT_LENGTH", "HTTP_HOST",
        "HTTP_ORIGIN",    "HTTP_LAST_EVENT_ID",
    };

    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        unsetenv(vars[i]);
    for (; pairs != NULL && pairs[0] != NULL; pairs += 2) {
        if (pairs[1] != NULL)
            ck_assert_int_eq(setenv(pairs[0], pairs[1], 1), 0);
    }
}

void
harness_stdin(const char *data, size_t len)
{
    FILE *f = tmpfile();

    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fflush(f), 0);
    ck_assert_int_eq(lseek(fileno(f), 0, SEEK_SET), 0);
    ck_assert_int_eq(dup2(fileno(f), STDIN_FILENO), STDIN_FILENO);
    fclose(f);
}

long
harness_stdin_consumed(void)
{
    return (long)lseek(STDIN_FILENO, 0, SEEK_CUR);
}

void
harness_capture(void)
{
    SB_ASSERT(capture_file == NULL);
    fflush(stdout);
    capture_file = tmpfile();
    ck_assert_ptr_nonnull(capture_file);
    saved_stdout = dup(STDOUT_FILENO);
    ck_assert_int_ge(saved_stdout, 0);
    ck_assert_int_eq(dup2(fileno(capture_file), STDOUT_FILENO), STDOUT_FILENO);
}

char *
harness_output(void)
{
    long len;
    char *out;

    SB_ASSERT(capture_file != NULL);
    ck_assert_int_eq(dup2(saved_stdout, STDOUT_FILENO), STDOUT_FILENO);
    close(saved_stdout);
    saved_stdout = -1;
    len = (long)lseek(fileno(capture_file), 0, SEEK_END);
    ck_assert_int_ge(len, 0);
    out = sb_malloc((size_t)len + 1);
    ck_assert_int_eq(pread(fileno(capture_file), out, (size_t)len, 0), len);
    out[len] = '\0';
    fclose(capture_file);
    capture_file = NULL;
    return out;
}

int
harness_status(const char *out)
{
    int status = 0;

    if (strncmp(out, "Status: ", 8) == 0)
        status = atoi(out + 8);
    return status;
}

int
harness_has_header(const char *out, const char *line)
{
    const char *end = strstr(out, "\r\n\r\n");
    size_t n = strlen(line);

    for (const char *p = out; p != NULL && end != NULL && p <= end;) {
        if (strncmp(p, line, n) == 0 && p[n] == '\r' && p[n + 1] == '\n')
            return 1;
        p = strstr(p, "\r\n");
        if (p != NULL)
            p += 2;
    }
    return 0;
}

json_t *
harness_body(const char *out)
{
    const char *end = strstr(out, "\r\n\r\n");

    return end != NULL ? json_loads(end + 4, 0, NULL) : NULL;
}

char *
harness_assert_error(const char *out, int status, const char *code)
{
    json_t *body = harness_body(out);
    const char *got_code, *message;
    char *copy;

    ck_assert_msg(harness_status(out) == status, "status %d, not %d in: %s",
                  harness_status(out), status, out);
    ck_assert(harness_has_header(out, "Content-Type: application/json; "
                                      "charset=utf-8"));
    ck_assert(harness_has_header(out, "Cache-Control: no-store"));
    ck_assert_msg(body != NULL, "body is not JSON: %s", out);
    got_code = json_string_value(
        json_object_get(json_object_get(body, "error"), "code"));
    message = json_string_value(
        json_object_get(json_object_get(body, "error"), "message"));
    ck_assert_msg(got_code != NULL && strcmp(got_code, code) == 0,
                  "code %s, not %s in: %s", got_code ? got_code : "(none)",
                  code, out);
    ck_assert_ptr_nonnull(message);
    copy = sb_strdup(message);
    json_decref(body);
    return copy;
}
