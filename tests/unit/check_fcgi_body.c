/*
 * check_fcgi_body.c: unit tests of fcgi/body.c through the real req.c in
 * CGI mode (environment, stdin, stdout captured; fcgi_harness.c stands in
 * for the rest of the program): the content types accepted and refused
 * (415), max_body_bytes (413 without reading), short and negative
 * lengths, invalid JSON, duplicate keys, invalid UTF-8, numbers out of
 * range, nesting, a body that is not an object, U+0000 let through, and
 * fcgi_body_known's unknown members.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "body.h"
#include "fcgi_harness.h"
#include "xalloc.h"

#define MAX_BODY 1024

struct posted {
    json_t *json;  /* what fcgi_body_json returned */
    char *out;     /* the response written, "" when none */
    long consumed; /* bytes of the body read */
};

static struct posted result;

static void
setup(void)
{
    fcgi_app.conf.max_body_bytes = MAX_BODY;
    memset(&result, 0, sizeof(result));
}

static void
teardown(void)
{
    json_decref(result.json);
    free(result.out);
}

/* POST body[0..len) with this Content-Type (NULL: none) and
 * Content-Length (NULL: len) to fcgi_body_json. */
static void
post_with(const char *type, const char *length, const char *body, size_t len)
{
    char lenbuf[32];
    struct fcgi_req *r;

    json_decref(result.json);
    free(result.out);
    snprintf(lenbuf, sizeof(lenbuf), "%zu", len);
    harness_cgi_env((const char *const[]){
        "REQUEST_METHOD", "POST", "REQUEST_URI",
        "/api/v1/channels/chat:a/events", "CONTENT_TYPE", type,
        "CONTENT_LENGTH", length != NULL ? length : lenbuf, NULL});
    harness_stdin(body, len);
    harness_capture();
    r = fcgi_req_new(NULL, NULL);
    result.json = fcgi_body_json(r);
    result.consumed = harness_stdin_consumed();
    fcgi_req_finish(r);
    result.out = harness_output();
}

/* fcgi_body_known on a POST request; the response goes to result.out. */
static int
known_of(const json_t *obj, const char *const *known)
{
    struct fcgi_req *r;
    int rc;

    free(result.out);
    harness_cgi_env((const char *const[]){"REQUEST_METHOD", "POST", NULL});
    harness_capture();
    r = fcgi_req_new(NULL, NULL);
    rc = fcgi_body_known(r, obj, known);
    fcgi_req_finish(r);
    result.out = harness_output();
    return rc;
}

static void
post(const char *body)
{
    post_with("application/json", NULL, body, strlen(body));
}

static void
assert_refused(int status, const char *code)
{
    ck_assert_ptr_null(result.json);
    free(harness_assert_error(result.out, status, code));
}

/* --- core --- */

START_TEST(json_object_accepted)
{
    static const char body[] =
        "{\"type\":\"message\",\"data\":{\"text\":\"caf\xc3\xa9\"}}";

    post(body);
    ck_assert_ptr_nonnull(result.json);
    ck_assert_str_eq(result.out, ""); /* nothing answered */
    ck_assert_str_eq(json_string_value(json_object_get(result.json, "type")),
                     "message");
    ck_assert_int_eq(result.consumed, (long)strlen(body));
    post("{}");
    ck_assert_ptr_nonnull(result.json);
    ck_assert_uint_eq(json_object_size(result.json), 0);
}
END_TEST

START_TEST(content_types_accepted)
{
    static const char *const ok[] = {
        "application/json",
        "APPLICATION/JSON",
        "application/json; charset=utf-8",
        "application/json;charset=UTF-8",
        "application/json; charset=\"utf-8\"",
        "application/json \t",
        "application/json\t;\tcharset=Utf-8 ",
    };

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        post_with(ok[i], NULL, "{\"a\":1}", 7);
        ck_assert_msg(result.json != NULL, "'%s' refused: %s", ok[i],
                      result.out);
        ck_assert_str_eq(result.out, "");
    }
}
END_TEST

/* U+0000 passes here, so the event checks can say where it is. */
START_TEST(nul_character_let_through)
{
    post("{\"text\":\"a\\u0000b\"}");
    ck_assert_ptr_nonnull(result.json);
    ck_assert_uint_eq(json_string_length(json_object_get(result.json, "text")),
                      3);
}
END_TEST

START_TEST(known_members)
{
    static const char *const known[] = {"type", "data", "id", NULL};
    static const char *const none[] = {NULL};
    json_t *o = json_pack("{s:s, s:{}}", "type", "t", "data");
    json_t *empty = json_object();

    ck_assert_int_eq(known_of(o, known), SB_OK);
    ck_assert_str_eq(result.out, "");
    ck_assert_int_eq(known_of(empty, none), SB_OK);
    ck_assert_str_eq(result.out, "");
    json_decref(o);
    json_decref(empty);
}
END_TEST

/* --- limits --- */

START_TEST(body_at_the_limit)
{
    char body[MAX_BODY + 2];

    memset(body, ' ', sizeof(body));
    memcpy(body, "{\"a\":1}", 7); /* trailing spaces are valid JSON */
    post_with("application/json", NULL, body, MAX_BODY);
    ck_assert_ptr_nonnull(result.json);
    ck_assert_int_eq(result.consumed, MAX_BODY);
    post_with("application/json", NULL, body, MAX_BODY + 1);
    assert_refused(413, "too_large");
    ck_assert_int_eq(result.consumed, 0); /* not read */
    ck_assert_ptr_nonnull(strstr(result.out, "1025"));
}
END_TEST

START_TEST(declared_length_too_large)
{
    post_with("application/json", "99999999999", "{}", 2);
    assert_refused(413, "too_large");
    ck_assert_int_eq(result.consumed, 0);
}
END_TEST

START_TEST(nesting_too_deep)
{
    enum { DEPTH = 3000 };
    char *body = sb_malloc(2 * DEPTH + 16), *p = body;

    fcgi_app.conf.max_body_bytes = 1 << 20;
    p += sprintf(p, "{\"a\":");
    memset(p, '[', DEPTH);
    p += DEPTH;
    memset(p, ']', DEPTH);
    p += DEPTH;
    strcpy(p, "}");
    post(body);
    assert_refused(422, "invalid_data");
    free(body);
}
END_TEST

START_TEST(numbers_out_of_range)
{
    static const char *const big[] = {
        "{\"n\":99999999999999999999}",
        "{\"n\":-99999999999999999999}",
        "{\"n\":1e400}",
    };

    for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++) {
        post(big[i]);
        assert_refused(422, "invalid_data");
    }
    post("{\"n\":9223372036854775807,\"m\":-9223372036854775808}");
    ck_assert_ptr_nonnull(result.json);
}
END_TEST

/* --- errors --- */

START_TEST(content_types_refused)
{
    static const char *const bad[] = {
        NULL,
        "",
        "text/plain",
        "application/jsonx",
        "application/json-patch+json",
        "application/x-www-form-urlencoded",
        "application/json; charset=latin1",
        "application/json; charset=utf-16",
        "application/json; charset=utf-8x",
        "application/json; charset=utf-8; x=y",
        "application/json; charsetXutf-8",
        "application/json; charset:utf-8",
        "application/json; charset=",
        "application/json;",
        "application/json; boundary=x",
        "application/json, text/plain",
        "text/json",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        post_with(bad[i], NULL, "{\"a\":1}", 7);
        ck_assert_msg(result.json == NULL, "'%s' accepted",
                      bad[i] ? bad[i] : "(none)");
        assert_refused(415, "unsupported_media_type");
        ck_assert_int_eq(result.consumed, 0);
    }
}
END_TEST

START_TEST(bad_lengths)
{
    post_with("application/json", "-1", "{}", 2);
    assert_refused(400, "bad_request");
    post_with("application/json", "10", "{\"a\":1}", 7); /* shorter */
    assert_refused(400, "bad_request");
    post_with("application/json", "", "{}", 2); /* none: empty body */
    assert_refused(400, "invalid_json");
}
END_TEST

START_TEST(invalid_json)
{
    static const char *const bad[] = {
        "",
        "{",
        "{\"a\":}",
        "{'a':1}",
        "{\"a\":1,}",
        "{\"a\":1} x",
        "{\"a\":1}{}",
        "{\"a\":1,\"a\":2}", /* duplicate keys */
        "{\"a\":{\"b\":1,\"b\":1}}",
        "null",
        "42",
        "\"text\"",
        "{\"a\":NaN}",
        "{\"a\":\"\\ud800\"}", /* a lone surrogate */
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        post(bad[i]);
        ck_assert_msg(result.json == NULL, "'%s' accepted", bad[i]);
        assert_refused(400, "invalid_json");
    }
}
END_TEST

START_TEST(invalid_utf8)
{
    static const char *const bad[] = {
        "{\"a\":\"\xff\"}",
        "{\"a\":\"\xc3\"}",
        "{\"a\":\"\xc0\x80\"}",     /* overlong NUL */
        "{\"a\":\"\xed\xa0\x80\"}", /* encoded surrogate */
        "{\"\xfe\":1}",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        post(bad[i]);
        assert_refused(400, "invalid_utf8");
    }
}
END_TEST

START_TEST(not_an_object)
{
    char *message;

    post("[1,2]");
    ck_assert_ptr_null(result.json);
    message = harness_assert_error(result.out, 400, "bad_request");
    ck_assert_str_eq(message, "bad request: the body must be a JSON object");
    free(message);
}
END_TEST

START_TEST(unknown_member_named)
{
    static const char *const known[] = {"type", "data", NULL};
    char longkey[100];
    json_t *o;
    char *message;

    memset(longkey, 'k', sizeof(longkey) - 1);
    longkey[sizeof(longkey) - 1] = '\0';
    o = json_pack("{s:s, s:i}", "type", "t", longkey, 1);
    ck_assert_int_eq(known_of(o, known), SB_ERR);
    message = harness_assert_error(result.out, 400, "bad_request");
    /* the name is cut at 64 bytes */
    ck_assert_uint_eq(strlen(message),
                      strlen("bad request: unknown member \"\"") + 64);
    ck_assert_ptr_nonnull(strstr(message, "unknown member \"kkkk"));
    free(message);
    json_decref(o);
}
END_TEST

static Suite *
body_suite(void)
{
    Suite *s = suite_create("fcgi_body");
    TCase *core = tcase_create("core");
    TCase *limits = tcase_create("limits");
    TCase *errors = tcase_create("errors");

    tcase_add_checked_fixture(core, setup, teardown);
    tcase_add_test(core, json_object_accepted);
    tcase_add_test(core, content_types_accepted);
    tcase_add_test(core, nul_character_let_through);
    tcase_add_test(core, known_members);
    suite_add_tcase(s, core);

    tcase_add_checked_fixture(limits, setup, teardown);
    tcase_add_test(limits, body_at_the_limit);
    tcase_add_test(limits, declared_length_too_large);
    tcase_add_test(limits, nesting_too_deep);
    tcase_add_test(limits, numbers_out_of_range);
    suite_add_tcase(s, limits);

    tcase_add_checked_fixture(errors, setup, teardown);
    tcase_add_test(errors, content_types_refused);
    tcase_add_test(errors, bad_lengths);
    tcase_add_test(errors, invalid_json);
    tcase_add_test(errors, invalid_utf8);
    tcase_add_test(errors, not_an_object);
    tcase_add_test(errors, unknown_member_named);
    suite_add_tcase(s, errors);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(body_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
