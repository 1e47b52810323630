/*
 * check_fcgi_cors.c: unit tests of fcgi/cors.c through the real req.c in
 * CGI mode (fcgi_harness.c stands in for the rest of the program): an
 * allowed Origin echoed with credentials, reads from any origin answered
 * without CORS headers, writes from a foreign origin refused with 403
 * before anything else, the server's own origin, look-alike origins, and
 * preflight answers (PROTOCOL.md section 5.15).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "cors.h"
#include "fcgi_harness.h"
#include "xalloc.h"

#define DASH "https://dash.example.com"
#define HOST "api.example.com"

static char dash[] = DASH;
static char local[] = "http://127.0.0.1:8081";
static char *allowed[] = {dash, local, NULL};
static char *none[] = {NULL};

struct outcome {
    int rc;
    char *echoed; /* r->cors_origin after the check, or NULL */
    char *out;    /* the response: the check's error, else a 200 reply */
};

static struct outcome o;

static void
forget(void)
{
    free(o.echoed);
    free(o.out);
    memset(&o, 0, sizeof(o));
}

static void
setup(void)
{
    fcgi_app.origins = allowed;
    memset(&o, 0, sizeof(o));
}

static void
teardown(void)
{
    forget();
}

/* A request with this method, Origin and Host (NULL: not sent) through
 * fcgi_cors_check, or fcgi_cors_preflight; a request that passes the
 * check is answered 200 so its CORS headers can be seen. */
static void
run(const char *method, const char *origin, const char *host, int preflight)
{
    struct fcgi_req *r;

    forget();
    harness_cgi_env((const char *const[]){
        "REQUEST_METHOD", method, "REQUEST_URI", "/api/v1/channels/chat:a",
        "HTTP_ORIGIN", origin, "HTTP_HOST", host, NULL});
    harness_capture();
    r = fcgi_req_new(NULL, NULL);
    o.rc = preflight ? fcgi_cors_preflight(r) : fcgi_cors_check(r);
    o.echoed = r->cors_origin != NULL ? sb_strdup(r->cors_origin) : NULL;
    if (o.rc == SB_OK && !preflight)
        fcgi_req_reply(r, 200, "{}");
    fcgi_req_finish(r);
    o.out = harness_output();
}

static void
assert_passes_plain(const char *method, const char *origin, const char *host)
{
    run(method, origin, host, 0);
    ck_assert_msg(o.rc == SB_OK, "%s from %s refused: %s", method,
                  origin ? origin : "(none)", o.out);
    ck_assert_ptr_null(o.echoed);
    ck_assert_int_eq(harness_status(o.out), 200);
    ck_assert_ptr_null(strstr(o.out, "Access-Control-"));
}

static void
assert_refused(const char *method, const char *origin, const char *host)
{
    char *message;

    run(method, origin, host, 0);
    ck_assert_msg(o.rc == SB_ERR, "%s from %s passed", method,
                  origin ? origin : "(none)");
    ck_assert_ptr_null(o.echoed);
    message = harness_assert_error(o.out, 403, "forbidden");
    ck_assert_ptr_nonnull(strstr(message, "forbidden: origin "));
    ck_assert_ptr_null(strstr(o.out, "Access-Control-Allow-Origin"));
    free(message);
}

/* --- core --- */

START_TEST(no_origin)
{
    static const char *const methods[] = {"GET", "POST", "PATCH", "DELETE"};

    for (size_t i = 0; i < 4; i++) {
        assert_passes_plain(methods[i], NULL, HOST);
        assert_passes_plain(methods[i], "", HOST);
        assert_passes_plain(methods[i], NULL, NULL);
    }
}
END_TEST

START_TEST(allowed_origin_echoed)
{
    static const char *const methods[] = {"GET", "POST", "PATCH", "HEAD"};

    for (size_t i = 0; i < 4; i++) {
        run(methods[i], DASH, HOST, 0);
        ck_assert_int_eq(o.rc, SB_OK);
        ck_assert_str_eq(o.echoed, DASH);
        ck_assert_int_eq(harness_status(o.out), 200);
        ck_assert(
            harness_has_header(o.out, "Access-Control-Allow-Origin: " DASH));
        ck_assert(harness_has_header(o.out, "Vary: Origin"));
        ck_assert(harness_has_header(o.out,
                                     "Access-Control-Allow-Credentials: true"));
    }
    run("POST", "http://127.0.0.1:8081", NULL, 0);
    ck_assert_str_eq(o.echoed, "http://127.0.0.1:8081");
}
END_TEST

/* Origins compare without case; the origin is echoed as the browser sent
 * it. */
START_TEST(allowed_origin_any_case)
{
    run("POST", "HTTPS://Dash.Example.COM", HOST, 0);
    ck_assert_int_eq(o.rc, SB_OK);
    ck_assert_str_eq(o.echoed, "HTTPS://Dash.Example.COM");
}
END_TEST

START_TEST(foreign_reads_pass_without_headers)
{
    assert_passes_plain("GET", "https://evil.example.net", HOST);
    assert_passes_plain("HEAD", "https://evil.example.net", HOST);
    assert_passes_plain("OPTIONS", "https://evil.example.net", HOST);
    assert_passes_plain("GET", "null", HOST);
}
END_TEST

/* A write from the origin the request was sent to is same-origin. */
START_TEST(own_origin_writes)
{
    assert_passes_plain("POST", "https://" HOST, HOST);
    assert_passes_plain("PATCH", "http://" HOST, HOST);
    assert_passes_plain("POST", "https://API.Example.com", HOST);
    assert_passes_plain("POST", "http://127.0.0.1:8080", "127.0.0.1:8080");
}
END_TEST

START_TEST(preflight_allowed)
{
    static const char *const want[] = {
        "Access-Control-Allow-Origin: " DASH,
        "Vary: Origin",
        "Access-Control-Allow-Credentials: true",
        "Access-Control-Allow-Methods: GET, POST, PATCH, OPTIONS",
        "Access-Control-Allow-Headers: Authorization, Content-Type, "
        "Idempotency-Key, Last-Event-ID",
        "Access-Control-Max-Age: 600",
        "Cache-Control: no-store",
    };

    run("OPTIONS", DASH, HOST, 1);
    ck_assert_int_eq(o.rc, SB_OK);
    ck_assert_int_eq(harness_status(o.out), 204);
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        ck_assert_msg(harness_has_header(o.out, want[i]), "no '%s' in: %s",
                      want[i], o.out);
    /* a 204 has no body */
    ck_assert_str_eq(strstr(o.out, "\r\n\r\n"), "\r\n\r\n");
}
END_TEST

/* --- limits --- */

START_TEST(no_origins_configured)
{
    fcgi_app.origins = none;
    assert_passes_plain("GET", DASH, HOST);
    assert_refused("POST", DASH, HOST);
    assert_passes_plain("POST", "https://" HOST, HOST);
    run("OPTIONS", DASH, HOST, 1);
    free(harness_assert_error(o.out, 403, "forbidden"));
}
END_TEST

/* The message quotes at most 100 bytes of the origin. */
START_TEST(long_origin_cut_in_message)
{
    char origin[600];
    char *message;

    strcpy(origin, "https://");
    memset(origin + 8, 'a', sizeof(origin) - 9);
    origin[sizeof(origin) - 1] = '\0';
    run("POST", origin, HOST, 0);
    ck_assert_int_eq(o.rc, SB_ERR);
    message = harness_assert_error(o.out, 403, "forbidden");
    ck_assert_uint_eq(strlen(message),
                      strlen("forbidden: origin  is not allowed") + 100);
    free(message);
}
END_TEST

/* --- errors --- */

START_TEST(foreign_writes_refused)
{
    static const char *const methods[] = {"POST", "PATCH", "PUT", "DELETE"};

    for (size_t i = 0; i < 4; i++)
        assert_refused(methods[i], "https://evil.example.net", HOST);
}
END_TEST

/* Origins that only resemble an allowed one or the server's own. */
START_TEST(look_alike_origins_refused)
{
    static const char *const bad[] = {
        DASH ".evil.net",
        DASH "/",
        DASH ":443",
        "http://dash.example.com", /* another scheme is another origin */
        "https://dash.example.co",
        "https://" HOST ".evil.net",
        "https://evil.net/https://" HOST,
        "https://" HOST ":8443",
        HOST, /* no scheme */
        "null",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_refused("POST", bad[i], HOST);
    /* the server's own origin needs the Host it was sent to */
    assert_refused("POST", "https://" HOST, NULL);
    assert_refused("POST", "https://" HOST, "other.example.com");
}
END_TEST

START_TEST(preflight_refused)
{
    static const char *const bad[] = {
        NULL, "", "https://evil.example.net", "https://" HOST, DASH "/",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        run("OPTIONS", bad[i], HOST, 1);
        ck_assert_int_eq(o.rc, SB_ERR);
        ck_assert_ptr_null(o.echoed);
        free(harness_assert_error(o.out, 403, "forbidden"));
        ck_assert_ptr_null(strstr(o.out, "Access-Control-"));
    }
}
END_TEST

static Suite *
cors_suite(void)
{
    Suite *s = suite_create("fcgi_cors");
    TCase *core = tcase_create("core");
    TCase *limits = tcase_create("limits");
    TCase *errors = tcase_create("errors");

    tcase_add_checked_fixture(core, setup, teardown);
    tcase_add_test(core, no_origin);
    tcase_add_test(core, allowed_origin_echoed);
    tcase_add_test(core, allowed_origin_any_case);
    tcase_add_test(core, foreign_reads_pass_without_headers);
    tcase_add_test(core, own_origin_writes);
    tcase_add_test(core, preflight_allowed);
    suite_add_tcase(s, core);

    tcase_add_checked_fixture(limits, setup, teardown);
    tcase_add_test(limits, no_origins_configured);
    tcase_add_test(limits, long_origin_cut_in_message);
    suite_add_tcase(s, limits);

    tcase_add_checked_fixture(errors, setup, teardown);
    tcase_add_test(errors, foreign_writes_refused);
    tcase_add_test(errors, look_alike_origins_refused);
    tcase_add_test(errors, preflight_refused);
    suite_add_tcase(s, errors);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(cors_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
