/*
 * check_fcgi_cursor.c: unit tests of fcgi/cursor.c: seqs (0, 2^63-1, one
 * past it, 20 digits, signs, spaces, junk), "channel@seq" and "channel"
 * positions (long-poll cursors and SSE list entries), their errors and
 * messages, and the combined cursor "a@1,b@2" written by
 * fcgi_cursor_format read back entry by entry, as the SSE id: line and
 * Last-Event-ID are. Splitting a list, duplicates and the channel count
 * are sse.c's business.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cursor.h"
#include "fcgi_harness.h"
#include "xalloc.h"

static int
seq_of(const char *s, long long *v)
{
    return fcgi_cursor_seq(s, strlen(s), v);
}

static int
parse(const char *s, struct fcgi_pos *pos, struct sb_error *err)
{
    memset(pos, 0, sizeof(*pos));
    memset(err, 0, sizeof(*err));
    return fcgi_cursor_parse(s, strlen(s), pos, err);
}

static void
assert_bad(const char *text, enum sb_errcode code)
{
    struct fcgi_pos pos;
    struct sb_error err;

    ck_assert_msg(parse(text, &pos, &err) == SB_ERR, "'%s' parsed", text);
    ck_assert_msg(err.code == code, "'%s': %s, not %s", text,
                  sb_errcode_name(err.code), sb_errcode_name(code));
    ck_assert_uint_gt(strlen(err.message), 0);
}

/* --- core --- */

START_TEST(seq_values)
{
    static const struct {
        const char *text;
        long long v;
    } ok[] = {
        {"0", 0},
        {"1", 1},
        {"41", 41},
        {"007", 7},
        {"9223372036854775806", INT64_MAX - 1},
        {"9223372036854775807", INT64_MAX},
        {"0000000000000000041", 41},
    };

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        long long v = -5;

        ck_assert_msg(seq_of(ok[i].text, &v) == SB_OK, "'%s'", ok[i].text);
        ck_assert_int_eq(v, ok[i].v);
    }
}
END_TEST

START_TEST(parse_positions)
{
    struct fcgi_pos pos;
    struct sb_error err;

    ck_assert_int_eq(parse("chat:room1@41", &pos, &err), SB_OK);
    ck_assert_str_eq(pos.channel, "chat:room1");
    ck_assert_int_eq(pos.cursor, 41);
    ck_assert_int_eq(parse("chat:room1", &pos, &err), SB_OK);
    ck_assert_str_eq(pos.channel, "chat:room1");
    ck_assert_int_eq(pos.cursor, FCGI_FROM_NOW);
    ck_assert_int_eq(parse("chat:room1@0", &pos, &err), SB_OK);
    ck_assert_int_eq(pos.cursor, 0);
    ck_assert_int_eq(parse("chat:room1@9223372036854775807", &pos, &err),
                     SB_OK);
    ck_assert_int_eq(pos.cursor, INT64_MAX);
    ck_assert_int_eq(parse("workflow:team/alpha-1.x_y@3", &pos, &err), SB_OK);
    ck_assert_str_eq(pos.channel, "workflow:team/alpha-1.x_y");
    ck_assert_int_eq(pos.cursor, 3);
}
END_TEST

/* Only text[0..len) counts: an SSE list is parsed in place. */
START_TEST(parse_reads_only_len)
{
    const char *list = "chat:a@12,chat:b@7";
    struct fcgi_pos pos = {0};
    struct sb_error err = {0};

    ck_assert_int_eq(fcgi_cursor_parse(list, 9, &pos, &err), SB_OK);
    ck_assert_str_eq(pos.channel, "chat:a");
    ck_assert_int_eq(pos.cursor, 12);
    ck_assert_int_eq(fcgi_cursor_parse(list, 8, &pos, &err), SB_OK);
    ck_assert_int_eq(pos.cursor, 1);
    ck_assert_int_eq(fcgi_cursor_parse(list, 6, &pos, &err), SB_OK);
    ck_assert_int_eq(pos.cursor, FCGI_FROM_NOW);
    ck_assert_int_eq(fcgi_cursor_parse(list + 10, 8, &pos, &err), SB_OK);
    ck_assert_str_eq(pos.channel, "chat:b");
    ck_assert_int_eq(pos.cursor, 7);
}
END_TEST

START_TEST(format_lists)
{
    struct fcgi_pos pos[3] = {{.channel = "chat:a", .cursor = 1},
                              {.channel = "chat:b", .cursor = 0},
                              {.channel = "x:y/z", .cursor = INT64_MAX}};
    struct sb_strbuf b = {0};

    fcgi_cursor_format(pos, 0, &b);
    ck_assert_uint_eq(b.len, 0);
    fcgi_cursor_format(pos, 1, &b);
    ck_assert_str_eq(b.data, "chat:a@1");
    sb_strbuf_reset(&b);
    fcgi_cursor_format(pos, 3, &b);
    ck_assert_str_eq(b.data, "chat:a@1,chat:b@0,x:y/z@9223372036854775807");
    ck_assert_uint_eq(b.len, strlen(b.data));
    /* appends to what the buffer holds (an "id: " prefix) */
    sb_strbuf_reset(&b);
    sb_strbuf_puts(&b, "id: ");
    fcgi_cursor_format(pos + 1, 1, &b);
    ck_assert_str_eq(b.data, "id: chat:b@0");
    sb_strbuf_release(&b);
}
END_TEST

/* What the server writes as the SSE id: line comes back as Last-Event-ID:
 * every entry parses to the same channel and seq. */
START_TEST(format_then_parse_round_trip)
{
    enum { N = 64, ROUNDS = 200 };
    struct fcgi_pos *pos = sb_calloc(N, sizeof(*pos));
    unsigned seed = harness_seed();

    srandom(seed);
    for (int round = 0; round < ROUNDS; round++) {
        size_t n = 1 + (size_t)random() % N, k = 0;
        struct sb_strbuf b = {0};
        const char *s;

        for (size_t i = 0; i < n; i++) {
            snprintf(pos[i].channel, sizeof(pos[i].channel), "ns%ld:r.%zu-%ld",
                     random() % 10, i, random());
            pos[i].cursor = random() % 3 == 0
                                ? INT64_MAX - random() % 2
                                : (int64_t)random() * (random() % 5);
        }
        fcgi_cursor_format(pos, n, &b);
        for (s = b.data; *s != '\0'; k++) {
            size_t len = strcspn(s, ",");
            struct fcgi_pos got = {0};
            struct sb_error err;

            ck_assert_msg(fcgi_cursor_parse(s, len, &got, &err) == SB_OK,
                          "seed %u: %.*s: %s", seed, (int)len, s, err.message);
            ck_assert_msg(k < n && strcmp(got.channel, pos[k].channel) == 0 &&
                              got.cursor == pos[k].cursor,
                          "seed %u: entry %zu of %s", seed, k, b.data);
            s += len + (s[len] == ',');
        }
        ck_assert_msg(k == n, "seed %u: %zu entries of %zu", seed, k, n);
        sb_strbuf_release(&b);
    }
    free(pos);
}
END_TEST

/* --- limits --- */

START_TEST(channel_length_limit)
{
    char text[SB_CHANNEL_MAX + 16];
    struct fcgi_pos pos;
    struct sb_error err;

    /* the longest channel: 32-byte namespace, ':', 128-byte name */
    memset(text, 'n', SB_NAMESPACE_MAX);
    text[SB_NAMESPACE_MAX] = ':';
    memset(text + SB_NAMESPACE_MAX + 1, 'x', SB_CHANNEL_NAME_MAX);
    strcpy(text + SB_CHANNEL_MAX, "@5");
    ck_assert_int_eq(parse(text, &pos, &err), SB_OK);
    ck_assert_uint_eq(strlen(pos.channel), SB_CHANNEL_MAX);
    ck_assert_int_eq(pos.cursor, 5);
    /* one byte longer */
    memset(text + SB_NAMESPACE_MAX + 1, 'x', SB_CHANNEL_NAME_MAX + 1);
    strcpy(text + SB_CHANNEL_MAX + 1, "@5");
    assert_bad(text, SB_E_INVALID_CHANNEL);
    text[SB_CHANNEL_MAX + 1] = '\0';
    assert_bad(text, SB_E_INVALID_CHANNEL);
}
END_TEST

START_TEST(seq_out_of_range)
{
    static const char *const bad[] = {
        "9223372036854775808",  /* 2^63 */
        "9999999999999999999",  /* 19 digits, above 2^63-1 */
        "18446744073709551615", /* 2^64-1: 20 digits */
        "18446744073709551616", /* wraps an unsigned 64-bit value */
        "99999999999999999999", "00000000000000000001", /* 20 digits */
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        long long v = -5;
        char *cursor = sb_asprintf("chat:a@%s", bad[i]);

        ck_assert_msg(seq_of(bad[i], &v) == SB_ERR, "'%s' accepted", bad[i]);
        ck_assert_int_eq(v, -5); /* untouched */
        assert_bad(cursor, SB_E_INVALID_CURSOR);
        free(cursor);
    }
}
END_TEST

/* The message quotes the cursor, cut at 200 bytes. */
START_TEST(error_message_is_bounded)
{
    char text[1000];
    struct fcgi_pos pos;
    struct sb_error err;

    strcpy(text, "chat:a@");
    memset(text + 7, '9', sizeof(text) - 8);
    text[sizeof(text) - 1] = '\0';
    ck_assert_int_eq(parse(text, &pos, &err), SB_ERR);
    ck_assert_int_eq(err.code, SB_E_INVALID_CURSOR);
    ck_assert_ptr_nonnull(strstr(err.message, "chat:a@999"));
    ck_assert_uint_eq(strlen(err.message),
                      strlen("invalid cursor: '' is not channel@seq") + 200);
    ck_assert_int_eq(parse("chat:a@x1", &pos, &err), SB_ERR);
    ck_assert_str_eq(err.message,
                     "invalid cursor: 'chat:a@x1' is not channel@seq");
}
END_TEST

/* --- errors --- */

START_TEST(seq_junk)
{
    static const char *const bad[] = {
        "",  "-1", "+1",  " 1", "1 ", "0x10", "1e3", "1.0",  "1,2",
        "a", "١٢", "\t7", "4:", "/",  ":",    "1/2", "9\x7f"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        long long v = -5;

        ck_assert_msg(seq_of(bad[i], &v) == SB_ERR, "'%s' accepted", bad[i]);
        ck_assert_int_eq(v, -5);
    }
    /* a digit beyond len does not count */
    ck_assert_int_eq(fcgi_cursor_seq("12", 0, &(long long){0}), SB_ERR);
}
END_TEST

START_TEST(bad_cursors)
{
    static const char *const cursor[] = {
        "chat:room1@",    "chat:room1@-1",   "chat:room1@+1",
        "chat:room1@ 1",  "chat:room1@1 ",   "chat:room1@41@2",
        "chat:room1@@41", "chat:room1@0x1",  "chat:a@1,chat:b@2",
        "chat:room1@1e3", "chat:room1@null",
    };
    static const char *const channel[] = {
        "",         "@41",       "chat@1",        "chat",          ":room@1",
        "chat:@1",  "Chat:a@1",  "chat:room 1@4", "chat:a,b@1",    "chat:a\n@1",
        "chat:*@1", "1chat:a@1", "chat:a:b",      "chat:\xc3\xa9", ",chat:a@1",
    };

    for (size_t i = 0; i < sizeof(cursor) / sizeof(cursor[0]); i++)
        assert_bad(cursor[i], SB_E_INVALID_CURSOR);
    for (size_t i = 0; i < sizeof(channel) / sizeof(channel[0]); i++)
        assert_bad(channel[i], SB_E_INVALID_CHANNEL);
}
END_TEST

static Suite *
cursor_suite(void)
{
    Suite *s = suite_create("fcgi_cursor");
    TCase *core = tcase_create("core");
    TCase *limits = tcase_create("limits");
    TCase *errors = tcase_create("errors");

    tcase_add_test(core, seq_values);
    tcase_add_test(core, parse_positions);
    tcase_add_test(core, parse_reads_only_len);
    tcase_add_test(core, format_lists);
    tcase_add_test(core, format_then_parse_round_trip);
    suite_add_tcase(s, core);

    tcase_add_test(limits, channel_length_limit);
    tcase_add_test(limits, seq_out_of_range);
    tcase_add_test(limits, error_message_is_bounded);
    suite_add_tcase(s, limits);

    tcase_add_test(errors, seq_junk);
    tcase_add_test(errors, bad_cursors);
    suite_add_tcase(s, errors);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(cursor_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
