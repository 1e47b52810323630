/*
 * check_doorbell.c: the NOTIFY doorbell payload: parse, build, round trip,
 * splitting at SB_NOTIFY_PAYLOAD_MAX, and each kind of bad payload.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "doorbell.h"
#include "xalloc.h"

static const char xs[] = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";

/* A valid payload of exactly target bytes (target >= 40). */
static char *
payload_of_size(size_t target)
{
    char *s = sb_malloc(target + 1);
    size_t len = 1, i, left, name;

    strcpy(s, "{");
    for (i = 0;; i++) {
        left = target - len - 1; /* bytes before the closing brace */
        /* an entry costs name + 9 bytes, plus its comma */
        name = left > 138 ? 100 : left - 9 - (i > 0);
        len += (size_t)sprintf(s + len, "%s\"chat:%04zu%.*s\":1", i ? "," : "",
                               i, (int)(name - 4), xs);
        if (name != 100)
            break;
    }
    strcpy(s + len, "}");
    ck_assert_int_eq(strlen(s), target);
    return s;
}

static struct sb_doorbell *
doorbell_of(size_t n)
{
    struct sb_doorbell *db = sb_doorbell_new();
    char ch[64];
    size_t i;

    for (i = 0; i < n; i++) {
        snprintf(ch, sizeof(ch), "chat:agent-%04zu", i);
        ck_assert_int_eq(sb_doorbell_add(db, ch, (int64_t)i * 1000, NULL),
                         SB_OK);
    }
    return db;
}

/* --- core --- */

START_TEST(build_and_parse_back)
{
    struct sb_doorbell *db = sb_doorbell_new(), *back;
    struct sb_error err;
    char **p;
    size_t n;

    ck_assert_int_eq(sb_doorbell_add(db, "chat:a", 42, &err), SB_OK);
    ck_assert_int_eq(sb_doorbell_add(db, "activity:main", 17, &err), SB_OK);
    ck_assert_int_eq(sb_doorbell_build(db, 0, &p, &n, &err), SB_OK);
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(p[0], "{\"chat:a\":42,\"activity:main\":17}");
    ck_assert_int_eq(sb_doorbell_parse(p[0], strlen(p[0]), &back, &err), SB_OK);
    ck_assert_int_eq(back->count, 2);
    ck_assert_str_eq(back->entries[0].channel, "chat:a");
    ck_assert_int_eq(back->entries[0].seq, 42);
    ck_assert_str_eq(back->entries[1].channel, "activity:main");
    ck_assert_int_eq(back->entries[1].seq, 17);
    sb_doorbell_payloads_free(p, n);
    sb_doorbell_free(db);
    sb_doorbell_free(back);
    sb_doorbell_free(NULL);
    sb_doorbell_payloads_free(NULL, 0);
}
END_TEST

START_TEST(parse_edge_values)
{
    const char *text = "{ \"chat:a\" : 0 , \"workflow:x\":9223372036854775807}";
    struct sb_doorbell *db;
    struct sb_error err;

    ck_assert_int_eq(sb_doorbell_parse(text, strlen(text), &db, &err), SB_OK);
    ck_assert_int_eq(db->count, 2);
    ck_assert_int_eq(db->entries[0].seq, 0);
    ck_assert_int_eq(db->entries[1].seq, INT64_MAX);
    sb_doorbell_free(db);
    ck_assert_int_eq(sb_doorbell_parse("{}", 2, &db, &err), SB_OK);
    ck_assert_int_eq(db->count, 0);
    sb_doorbell_free(db);
}
END_TEST

START_TEST(build_empty)
{
    struct sb_doorbell *db = sb_doorbell_new();
    char **p;
    size_t n;

    ck_assert_int_eq(sb_doorbell_build(db, 0, &p, &n, NULL), SB_OK);
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(p[0], "{}");
    sb_doorbell_payloads_free(p, n);
    sb_doorbell_free(db);
}
END_TEST

struct seen {
    char text[256];
    int calls;
    int stop_at;
};

static int
collect(const char *channel, int64_t seq, void *arg)
{
    struct seen *s = arg;
    size_t len = strlen(s->text);

    snprintf(s->text + len, sizeof(s->text) - len, "%s=%" PRId64 ";", channel,
             seq);
    return ++s->calls == s->stop_at ? 7 : 0;
}

START_TEST(parse_callback)
{
    const char *text = "{\"chat:a\":1,\"chat:b\":2,\"chat:c\":3}";
    struct seen s = {"", 0, 0};
    struct sb_error err;

    ck_assert_int_eq(
        sb_doorbell_parse_cb(text, strlen(text), collect, &s, &err), 0);
    ck_assert_str_eq(s.text, "chat:a=1;chat:b=2;chat:c=3;");
    memset(&s, 0, sizeof(s));
    s.stop_at = 2;
    ck_assert_int_eq(
        sb_doorbell_parse_cb(text, strlen(text), collect, &s, &err), 7);
    ck_assert_str_eq(s.text, "chat:a=1;chat:b=2;");
}
END_TEST

START_TEST(parse_callback_not_called_on_error)
{
    /* the bad entry is last: nothing is delivered before the check */
    const char *text = "{\"chat:a\":1,\"chat:b\":-2}";
    struct seen s = {"", 0, 0};
    struct sb_error err;

    ck_assert_int_eq(
        sb_doorbell_parse_cb(text, strlen(text), collect, &s, &err), SB_ERR);
    ck_assert_int_eq(s.calls, 0);
    ck_assert_int_eq(err.code, SB_E_BAD_REQUEST);
}
END_TEST

/* --- limits --- */

START_TEST(payload_size_limit)
{
    char *at = payload_of_size(SB_NOTIFY_PAYLOAD_MAX);
    char *over = payload_of_size(SB_NOTIFY_PAYLOAD_MAX + 1);
    struct sb_doorbell *db;
    struct sb_error err;

    ck_assert_int_eq(sb_doorbell_parse(at, strlen(at), &db, &err), SB_OK);
    ck_assert_int_gt(db->count, 50);
    sb_doorbell_free(db);
    ck_assert_int_eq(sb_doorbell_parse(over, strlen(over), &db, &err), SB_ERR);
    ck_assert_ptr_null(db);
    ck_assert_int_eq(err.code, SB_E_TOO_LARGE);
    ck_assert_str_eq(err.message, "too large: doorbell longer than 7999 bytes");
    free(at);
    free(over);
}
END_TEST

START_TEST(split_small)
{
    static const char *const want[] = {
        "{\"chat:a\":1,\"chat:b\":2,\"chat:c\":3}",
        "{\"chat:d\":4,\"chat:e\":5,\"chat:f\":6}",
        "{\"chat:g\":7}",
    };
    struct sb_doorbell *db = sb_doorbell_new();
    char ch[] = "chat:a", **p;
    size_t n, i;

    for (i = 0; i < 7; i++) {
        ch[5] = (char)('a' + i);
        sb_doorbell_add(db, ch, (int64_t)i + 1, NULL);
    }
    /* 34 bytes hold three entries; a fourth would make 45 */
    ck_assert_int_eq(sb_doorbell_build(db, 40, &p, &n, NULL), SB_OK);
    ck_assert_int_eq(n, 3);
    for (i = 0; i < n; i++)
        ck_assert_str_eq(p[i], want[i]);
    sb_doorbell_payloads_free(p, n);
    ck_assert_int_eq(sb_doorbell_build(db, 34, &p, &n, NULL), SB_OK);
    ck_assert_int_eq(n, 3);
    sb_doorbell_payloads_free(p, n);
    ck_assert_int_eq(sb_doorbell_build(db, 33, &p, &n, NULL), SB_OK);
    ck_assert_int_eq(n, 4);
    sb_doorbell_payloads_free(p, n);
    sb_doorbell_free(db);
}
END_TEST

START_TEST(split_round_trip)
{
    struct sb_doorbell *db = doorbell_of(1000), *back;
    struct sb_error err;
    char **p;
    size_t n, i, j, k = 0, first_len;

    ck_assert_int_eq(sb_doorbell_build(db, 0, &p, &n, &err), SB_OK);
    ck_assert_int_gt(n, 1);
    for (i = 0; i < n; i++) {
        ck_assert_int_le(strlen(p[i]), SB_NOTIFY_PAYLOAD_MAX);
        ck_assert_int_eq(sb_doorbell_parse(p[i], strlen(p[i]), &back, &err),
                         SB_OK);
        for (j = 0; j < back->count; j++, k++) {
            ck_assert_str_eq(back->entries[j].channel, db->entries[k].channel);
            ck_assert_int_eq(back->entries[j].seq, db->entries[k].seq);
        }
        /* greedy: the next payload's first entry did not fit in this one */
        if (i + 1 < n) {
            first_len =
                strlen(db->entries[k].channel) + 3 +
                (size_t)snprintf(NULL, 0, "%" PRId64, db->entries[k].seq);
            ck_assert_int_gt(strlen(p[i]) + 1 + first_len,
                             SB_NOTIFY_PAYLOAD_MAX);
        }
        sb_doorbell_free(back);
    }
    ck_assert_int_eq(k, 1000);
    sb_doorbell_payloads_free(p, n);
    sb_doorbell_free(db);
}
END_TEST

START_TEST(build_max_clamped)
{
    struct sb_doorbell *db = doorbell_of(1000);
    char **p;
    size_t n, i;

    ck_assert_int_eq(sb_doorbell_build(db, 1000000, &p, &n, NULL), SB_OK);
    ck_assert_int_gt(n, 1);
    for (i = 0; i < n; i++)
        ck_assert_int_le(strlen(p[i]), SB_NOTIFY_PAYLOAD_MAX);
    sb_doorbell_payloads_free(p, n);
    sb_doorbell_free(db);
}
END_TEST

/* --- errors --- */

START_TEST(build_limit_too_small)
{
    struct sb_doorbell *db = sb_doorbell_new();
    struct sb_error err;
    char **p = (char **)&p;
    size_t n = 9;

    sb_doorbell_add(db, "chat:a", 1, NULL);
    /* {"chat:a":1} is 12 bytes */
    ck_assert_int_eq(sb_doorbell_build(db, 11, &p, &n, &err), SB_ERR);
    ck_assert_int_eq(err.code, SB_E_INVALID_PARAMETER);
    ck_assert_ptr_null(p);
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(sb_doorbell_build(db, 12, &p, &n, &err), SB_OK);
    ck_assert_str_eq(p[0], "{\"chat:a\":1}");
    sb_doorbell_payloads_free(p, n);
    sb_doorbell_free(db);
}
END_TEST

START_TEST(add_errors)
{
    struct sb_doorbell *db = sb_doorbell_new();
    struct sb_error err;

    ck_assert_int_eq(sb_doorbell_add(db, "nochannel", 1, &err), SB_ERR);
    ck_assert_int_eq(err.code, SB_E_INVALID_CHANNEL);
    ck_assert_int_eq(sb_doorbell_add(db, "chat:a", -1, &err), SB_ERR);
    ck_assert_int_eq(err.code, SB_E_INVALID_PARAMETER);
    ck_assert_int_eq(db->count, 0);
    sb_doorbell_free(db);
}
END_TEST

struct bad {
    const char *text;
    enum sb_errcode code;
};

static const struct bad bad_payloads[] = {
    {"", SB_E_INVALID_JSON},
    {"{", SB_E_INVALID_JSON},
    {"{\"chat:a\":1}x", SB_E_INVALID_JSON},
    {"{\"chat:a\":1,\"chat:a\":2}", SB_E_INVALID_JSON},
    {"{\"chat:a\":99999999999999999999}", SB_E_INVALID_JSON},
    {"{\"chat:\xff\":1}", SB_E_INVALID_UTF8},
    {"[]", SB_E_BAD_REQUEST},
    {"[{\"chat:a\":1}]", SB_E_BAD_REQUEST},
    {"42", SB_E_BAD_REQUEST},
    {"\"chat:a\"", SB_E_BAD_REQUEST},
    {"null", SB_E_BAD_REQUEST},
    {"{\"chat:a\":-1}", SB_E_BAD_REQUEST},
    {"{\"chat:a\":1.5}", SB_E_BAD_REQUEST},
    {"{\"chat:a\":1e2}", SB_E_BAD_REQUEST},
    {"{\"chat:a\":\"1\"}", SB_E_BAD_REQUEST},
    {"{\"chat:a\":null}", SB_E_BAD_REQUEST},
    {"{\"chat:a\":true}", SB_E_BAD_REQUEST},
    {"{\"chat:a\":{}}", SB_E_BAD_REQUEST},
    {"{\"agent\":1}", SB_E_INVALID_CHANNEL},
    {"{\"\":1}", SB_E_INVALID_CHANNEL},
    {"{\"chat:a b\":1}", SB_E_INVALID_CHANNEL},
    {"{\"Chat:a\":1}", SB_E_INVALID_CHANNEL},
    {"{\"chat:*\":1}", SB_E_INVALID_CHANNEL},
};

START_TEST(bad_payload)
{
    const struct bad *b = &bad_payloads[_i];
    struct sb_doorbell *db = (struct sb_doorbell *)&db;
    struct sb_error err;

    ck_assert_int_eq(sb_doorbell_parse(b->text, strlen(b->text), &db, &err),
                     SB_ERR);
    ck_assert_ptr_null(db);
    ck_assert_msg(err.code == b->code, "'%s': got %s, want %s", b->text,
                  sb_errcode_name(err.code), sb_errcode_name(b->code));
}
END_TEST

START_TEST(bad_payload_messages)
{
    struct sb_doorbell *db;
    struct sb_error err;

    sb_doorbell_parse("{\"chat:a\":-1}", 13, &db, &err);
    ck_assert_str_eq(err.message, "bad request: seq of \"chat:a\" is not a "
                                  "non-negative integer");
    sb_doorbell_parse("{\"agent\":1}", 11, &db, &err);
    ck_assert_str_eq(err.message, "invalid channel: missing namespace");
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *
doorbell_suite(void)
{
    Suite *s = suite_create("doorbell");
    TCase *core = tcase_create("core");
    TCase *limits = tcase_create("limits");
    TCase *errors = tcase_create("errors");

    tcase_add_test(core, build_and_parse_back);
    tcase_add_test(core, parse_edge_values);
    tcase_add_test(core, build_empty);
    tcase_add_test(core, parse_callback);
    tcase_add_test(core, parse_callback_not_called_on_error);
    tcase_add_test(limits, payload_size_limit);
    tcase_add_test(limits, split_small);
    tcase_add_test(limits, split_round_trip);
    tcase_add_test(limits, build_max_clamped);
    tcase_add_test(errors, build_limit_too_small);
    tcase_add_test(errors, add_errors);
    tcase_add_loop_test(errors, bad_payload, 0, N(bad_payloads));
    tcase_add_test(errors, bad_payload_messages);
    suite_add_tcase(s, core);
    suite_add_tcase(s, limits);
    suite_add_tcase(s, errors);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(doorbell_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
