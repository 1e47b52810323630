/*
 * check_error.c: the error table (names, HTTP statuses, SQLSTATEs, default
 * messages), SQLSTATE mapping, sb_error_set() truncation and the JSON form.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "error.h"
#include "xalloc.h"

struct row {
    enum sb_errcode code;
    const char *name;
    int status;
    const char *sqlstate;
};

/* The table of the protocol, as docs/PROTOCOL.md states it. */
static const struct row rows[] = {
    {SB_E_BAD_REQUEST, "bad_request", 400, NULL},
    {SB_E_INVALID_JSON, "invalid_json", 400, NULL},
    {SB_E_INVALID_UTF8, "invalid_utf8", 400, NULL},
    {SB_E_INVALID_CURSOR, "invalid_cursor", 400, "SB010"},
    {SB_E_UNAUTHORIZED, "unauthorized", 401, NULL},
    {SB_E_TOKEN_EXPIRED, "token_expired", 401, NULL},
    {SB_E_FORBIDDEN, "forbidden", 403, NULL},
    {SB_E_NOT_FOUND, "not_found", 404, "SB011"},
    {SB_E_METHOD_NOT_ALLOWED, "method_not_allowed", 405, NULL},
    {SB_E_INVALID_TRANSITION, "invalid_transition", 409, "SB012"},
    {SB_E_TOO_LARGE, "too_large", 413, "SB005"},
    {SB_E_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", 415, NULL},
    {SB_E_INVALID_CHANNEL, "invalid_channel", 422, "SB001"},
    {SB_E_UNKNOWN_NAMESPACE, "unknown_namespace", 422, "SB002"},
    {SB_E_INVALID_TYPE, "invalid_type", 422, "SB003"},
    {SB_E_INVALID_DATA, "invalid_data", 422, "SB004"},
    {SB_E_INVALID_ID, "invalid_id", 422, "SB006"},
    {SB_E_INVALID_SENDER, "invalid_sender", 422, "SB007"},
    {SB_E_INVALID_PARAMETER, "invalid_parameter", 422, "SB008"},
    {SB_E_RATE_LIMITED, "rate_limited", 429, NULL},
    {SB_E_UNAVAILABLE, "unavailable", 503, NULL},
    {SB_E_INTERNAL, "internal", 500, NULL},
};
#define NROWS ((int)(sizeof(rows) / sizeof(rows[0])))

START_TEST(table_rows)
{
    const struct row *r = &rows[_i];
    const char *msg = sb_errcode_message(r->code);
    const char *p;

    ck_assert_str_eq(sb_errcode_name(r->code), r->name);
    ck_assert_int_eq(sb_errcode_http_status(r->code), r->status);
    if (r->sqlstate == NULL)
        ck_assert_ptr_null(sb_errcode_sqlstate(r->code));
    else
        ck_assert_str_eq(sb_errcode_sqlstate(r->code), r->sqlstate);
    ck_assert_int_eq(sb_errcode_from_name(r->name), r->code);
    ck_assert_ptr_nonnull(msg);
    ck_assert_int_gt(strlen(msg), 0);
    for (p = msg; *p; p++)
        ck_assert_msg(!isupper((unsigned char)*p), "upper case in '%s'", msg);
}
END_TEST

START_TEST(table_complete)
{
    /* every code but SB_E_NONE has a row above, each with its own name */
    ck_assert_int_eq(NROWS, SB_E__COUNT - 1);
    ck_assert_int_eq(sb_errcode_http_status(SB_E_NONE), 200);
}
END_TEST

START_TEST(sqlstate_round_trip)
{
    const struct row *r = &rows[_i];

    if (r->sqlstate != NULL)
        ck_assert_int_eq(sb_errcode_from_sqlstate(r->sqlstate), r->code);
}
END_TEST

START_TEST(sqlstate_classes)
{
    ck_assert_int_eq(sb_errcode_from_sqlstate("08006"), SB_E_UNAVAILABLE);
    ck_assert_int_eq(sb_errcode_from_sqlstate("08001"), SB_E_UNAVAILABLE);
    ck_assert_int_eq(sb_errcode_from_sqlstate("57P01"), SB_E_UNAVAILABLE);
    ck_assert_int_eq(sb_errcode_from_sqlstate("57P03"), SB_E_UNAVAILABLE);
    ck_assert_int_eq(sb_errcode_from_sqlstate("53300"), SB_E_UNAVAILABLE);
    ck_assert_int_eq(sb_errcode_from_sqlstate("57014"), SB_E_INTERNAL);
    ck_assert_int_eq(sb_errcode_from_sqlstate("23505"), SB_E_INTERNAL);
    ck_assert_int_eq(sb_errcode_from_sqlstate("SB099"), SB_E_INTERNAL);
    ck_assert_int_eq(sb_errcode_from_sqlstate("SB00"), SB_E_INTERNAL);
    ck_assert_int_eq(sb_errcode_from_sqlstate("SB0010"), SB_E_INTERNAL);
    ck_assert_int_eq(sb_errcode_from_sqlstate(""), SB_E_INTERNAL);
    ck_assert_int_eq(sb_errcode_from_sqlstate(NULL), SB_E_INTERNAL);
}
END_TEST

START_TEST(unknown_codes)
{
    ck_assert_str_eq(sb_errcode_name(SB_E__COUNT), "internal");
    ck_assert_str_eq(sb_errcode_name((enum sb_errcode)(SB_E__COUNT + 7)),
                     "internal");
    ck_assert_int_eq(sb_errcode_http_status(SB_E__COUNT), 500);
    ck_assert_int_eq(sb_errcode_from_name("no_such_error"), SB_E__COUNT);
    ck_assert_int_eq(sb_errcode_from_name(""), SB_E__COUNT);
    ck_assert_int_eq(sb_errcode_from_name(NULL), SB_E__COUNT);
    ck_assert_int_eq(sb_errcode_from_name("Invalid_Channel"), SB_E__COUNT);
}
END_TEST

START_TEST(close_codes)
{
    ck_assert_int_eq(SB_CLOSE_NORMAL, 1000);
    ck_assert_int_eq(SB_CLOSE_GOING_AWAY, 1001);
    ck_assert_int_eq(SB_CLOSE_PROTOCOL, 1002);
    ck_assert_int_eq(SB_CLOSE_UNSUPPORTED, 1003);
    ck_assert_int_eq(SB_CLOSE_INVALID_UTF8, 1007);
    ck_assert_int_eq(SB_CLOSE_POLICY, 1008);
    ck_assert_int_eq(SB_CLOSE_TOO_BIG, 1009);
    ck_assert_int_eq(SB_CLOSE_INTERNAL, 1011);
    ck_assert_int_eq(SB_CLOSE_UNAUTHORIZED, 4001);
    ck_assert_int_eq(SB_CLOSE_TOKEN_EXPIRED, 4002);
    ck_assert_int_eq(SB_CLOSE_SLOW_CONSUMER, 4008);
    ck_assert_int_eq(SB_CLOSE_RATE_LIMITED, 4029);
}
END_TEST

START_TEST(set_default_and_format)
{
    struct sb_error err;

    ck_assert_int_eq(sb_error_set(&err, SB_E_NOT_FOUND, NULL), SB_ERR);
    ck_assert_int_eq(err.code, SB_E_NOT_FOUND);
    ck_assert_str_eq(err.message, "not found");
    ck_assert_int_eq(sb_error_set(&err, SB_E_INVALID_PARAMETER,
                                  "invalid parameter: max %d out of range", 0),
                     SB_ERR);
    ck_assert_int_eq(err.code, SB_E_INVALID_PARAMETER);
    ck_assert_str_eq(err.message, "invalid parameter: max 0 out of range");
    ck_assert_int_eq(sb_error_set(NULL, SB_E_INTERNAL, "x"), SB_ERR);
}
END_TEST

START_TEST(set_truncates)
{
    struct sb_error err;
    char big[600];

    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    sb_error_set(&err, SB_E_BAD_REQUEST, "%s", big);
    ck_assert_int_eq(strlen(err.message), SB_ERROR_MESSAGE_MAX - 1);
}
END_TEST

START_TEST(set_truncates_on_utf8_boundary)
{
    struct sb_error err;
    char big[601] = "";
    char *json;
    int i;

    /* 2-byte characters: byte 255 would split the 128th in half */
    for (i = 0; i < 200; i++)
        strcat(big, "\xc3\xa9");
    sb_error_set(&err, SB_E_BAD_REQUEST, "%s", big);
    ck_assert_int_eq(strlen(err.message), 254);
    ck_assert_str_eq(err.message + 252, "\xc3\xa9");
    json = sb_error_json(&err);
    ck_assert_ptr_nonnull(strstr(json, "\"message\":\"\xc3\xa9"));
    free(json);

    /* three-byte characters: 1 + 3 * 84 = 253, the 85th would be split */
    strcpy(big, "x");
    for (i = 0; i < 100; i++)
        strcat(big, "\xe2\x98\x83");
    sb_error_set(&err, SB_E_BAD_REQUEST, "%s", big);
    ck_assert_int_eq(strlen(err.message), 253);
}
END_TEST

START_TEST(json_escapes)
{
    struct sb_error err;
    char *json;

    sb_error_set(&err, SB_E_INVALID_DATA, "invalid data: say \"hi\"\\\n\t/%s",
                 "\xc3\xa9");
    json = sb_error_json(&err);
    ck_assert_str_eq(json, "{\"error\":{\"code\":\"invalid_data\",\"message\":"
                           "\"invalid data: say \\\"hi\\\"\\\\\\n\\t/"
                           "\xc3\xa9\"}}");
    free(json);
}
END_TEST

START_TEST(json_default_and_bad_utf8)
{
    struct sb_error err;
    char *json;

    sb_error_set(&err, SB_E_UNAVAILABLE, NULL);
    json = sb_error_json(&err);
    ck_assert_str_eq(json, "{\"error\":{\"code\":\"unavailable\",\"message\":"
                           "\"service unavailable\"}}");
    free(json);

    /* a message that is not UTF-8 falls back to the code's own text */
    sb_error_set(&err, SB_E_INVALID_SENDER, "invalid sender: \xff\xfe");
    json = sb_error_json(&err);
    ck_assert_str_eq(json, "{\"error\":{\"code\":\"invalid_sender\","
                           "\"message\":\"invalid sender\"}}");
    free(json);
}
END_TEST

static Suite *
error_suite(void)
{
    Suite *s = suite_create("error");
    TCase *core = tcase_create("core");
    TCase *limits = tcase_create("limits");
    TCase *errors = tcase_create("errors");

    tcase_add_loop_test(core, table_rows, 0, NROWS);
    tcase_add_test(core, table_complete);
    tcase_add_loop_test(core, sqlstate_round_trip, 0, NROWS);
    tcase_add_test(core, close_codes);
    tcase_add_test(core, set_default_and_format);
    tcase_add_test(core, json_escapes);
    tcase_add_test(limits, set_truncates);
    tcase_add_test(limits, set_truncates_on_utf8_boundary);
    tcase_add_test(errors, sqlstate_classes);
    tcase_add_test(errors, unknown_codes);
    tcase_add_test(errors, json_default_and_bad_utf8);
    suite_add_tcase(s, core);
    suite_add_tcase(s, limits);
    suite_add_tcase(s, errors);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(error_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
