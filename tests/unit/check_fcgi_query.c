/*
 * check_fcgi_query.c: unit tests of fcgi/query.c: percent-decoding ('+'
 * only in a query, both hex cases, UTF-8 bytes, bad and truncated
 * escapes, an encoded NUL), and query strings (order kept, repeated
 * names, empty names and values, '=' inside values, empty pairs, pairs
 * that do not decode left out and flagged, long input).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query.h"
#include "xalloc.h"

static void
assert_decodes(const char *in, int plus, const char *want)
{
    char *got = fcgi_url_decode(in, strlen(in), plus);

    ck_assert_msg(got != NULL, "'%s' did not decode", in);
    ck_assert_str_eq(got, want);
    free(got);
}

/* --- core --- */

START_TEST(decode_plain_and_escapes)
{
    assert_decodes("", 0, "");
    assert_decodes("chat:room1@41", 0, "chat:room1@41");
    assert_decodes("%41%42c", 0, "ABc");
    assert_decodes("%6a%6A", 0, "jj");
    assert_decodes("chat%3Ateam%2Falpha", 0, "chat:team/alpha");
    assert_decodes("%25", 0, "%");
    assert_decodes("%2541", 0, "%41"); /* decoded once, not twice */
    assert_decodes("%C3%A9t%C3%A9", 0, "\xc3\xa9t\xc3\xa9");
    assert_decodes("%FF", 0, "\xff"); /* bytes, not characters */
    assert_decodes("%01", 0, "\x01");
}
END_TEST

START_TEST(decode_plus)
{
    assert_decodes("a+b", 1, "a b");
    assert_decodes("a+b", 0, "a+b"); /* a path segment keeps '+' */
    assert_decodes("a%2Bb", 1, "a+b");
    assert_decodes("+++", 1, "   ");
}
END_TEST

START_TEST(decode_only_len_bytes)
{
    char *got = fcgi_url_decode("abc%41def", 3, 0);

    ck_assert_str_eq(got, "abc");
    free(got);
    /* an escape cut by len is truncated: refused, not read past len */
    ck_assert_ptr_null(fcgi_url_decode("abc%41def", 4, 0));
    ck_assert_ptr_null(fcgi_url_decode("abc%41def", 5, 0));
    got = fcgi_url_decode("abc%41def", 6, 0);
    ck_assert_str_eq(got, "abcA");
    free(got);
    got = fcgi_url_decode("abc%41def", 0, 0);
    ck_assert_str_eq(got, "");
    free(got);
}
END_TEST

START_TEST(query_order_and_repeats)
{
    struct fcgi_query *q =
        fcgi_query_new("cursor=chat:a@1&timeout=5&cursor=chat:b@2&limit=9");

    ck_assert_uint_eq(q->count, 4);
    ck_assert_int_eq(q->bad, 0);
    ck_assert_str_eq(q->pairs[0].name, "cursor");
    ck_assert_str_eq(q->pairs[0].value, "chat:a@1");
    ck_assert_str_eq(q->pairs[1].name, "timeout");
    ck_assert_str_eq(q->pairs[2].value, "chat:b@2");
    ck_assert_str_eq(q->pairs[3].value, "9");
    ck_assert_str_eq(fcgi_query_get(q, "cursor"), "chat:a@1"); /* first */
    ck_assert_uint_eq(fcgi_query_count(q, "cursor"), 2);
    ck_assert_uint_eq(fcgi_query_count(q, "limit"), 1);
    ck_assert_uint_eq(fcgi_query_count(q, "since"), 0);
    ck_assert_ptr_null(fcgi_query_get(q, "since"));
    ck_assert_ptr_null(fcgi_query_get(q, "Cursor")); /* names are exact */
    ck_assert_ptr_null(fcgi_query_get(q, "cursor="));
    fcgi_query_free(q);
}
END_TEST

START_TEST(query_empty)
{
    static const char *const empty[] = {"", "&", "&&&"};
    struct fcgi_query *q = fcgi_query_new(NULL);

    ck_assert_ptr_nonnull(q);
    ck_assert_uint_eq(q->count, 0);
    ck_assert_ptr_null(fcgi_query_get(q, ""));
    fcgi_query_free(q);
    for (size_t i = 0; i < sizeof(empty) / sizeof(empty[0]); i++) {
        q = fcgi_query_new(empty[i]);
        ck_assert_uint_eq(q->count, 0);
        ck_assert_int_eq(q->bad, 0);
        fcgi_query_free(q);
    }
    fcgi_query_free(NULL);
}
END_TEST

START_TEST(query_empty_names_and_values)
{
    struct fcgi_query *q = fcgi_query_new("&a=&b&=v&&c=x=y&=&d=%3D&");

    ck_assert_int_eq(q->bad, 0);
    ck_assert_uint_eq(q->count, 6);
    ck_assert_str_eq(fcgi_query_get(q, "a"), "");
    ck_assert_str_eq(fcgi_query_get(q, "b"), ""); /* no '=': empty value */
    ck_assert_str_eq(fcgi_query_get(q, ""), "v");
    ck_assert_uint_eq(fcgi_query_count(q, ""), 2);
    ck_assert_str_eq(fcgi_query_get(q, "c"), "x=y"); /* split at first '=' */
    ck_assert_str_eq(fcgi_query_get(q, "d"), "=");
    fcgi_query_free(q);
}
END_TEST

START_TEST(query_decodes_names_and_values)
{
    struct fcgi_query *q =
        fcgi_query_new("%63ursor=chat%3Aa%401&q=hello+world&a+b=1&x=%26%3D");

    ck_assert_uint_eq(q->count, 4);
    ck_assert_str_eq(fcgi_query_get(q, "cursor"), "chat:a@1");
    ck_assert_str_eq(fcgi_query_get(q, "q"), "hello world");
    ck_assert_str_eq(fcgi_query_get(q, "a b"), "1");
    ck_assert_str_eq(fcgi_query_get(q, "x"), "&="); /* escaped separators */
    fcgi_query_free(q);
    /* ';' and '#' are not separators in a query string */
    q = fcgi_query_new("a=1;b=2#c");
    ck_assert_uint_eq(q->count, 1);
    ck_assert_str_eq(fcgi_query_get(q, "a"), "1;b=2#c");
    fcgi_query_free(q);
}
END_TEST

/* --- limits --- */

START_TEST(query_long_input)
{
    enum { PAIRS = 20000, VALUE = 1 << 20 };
    size_t len = (size_t)PAIRS * 16 + VALUE + 16;
    char *qs = sb_malloc(len), *p = qs;
    struct fcgi_query *q;

    for (int i = 0; i < PAIRS; i++)
        p += sprintf(p, "k%d=%d&", i, i);
    p += sprintf(p, "big=");
    memset(p, 'x', VALUE);
    p[VALUE] = '\0';
    q = fcgi_query_new(qs);
    ck_assert_uint_eq(q->count, PAIRS + 1);
    ck_assert_str_eq(fcgi_query_get(q, "k0"), "0");
    ck_assert_str_eq(fcgi_query_get(q, "k19999"), "19999");
    ck_assert_uint_eq(strlen(fcgi_query_get(q, "big")), VALUE);
    fcgi_query_free(q);
    free(qs);
}
END_TEST

/* --- errors --- */

START_TEST(decode_bad_escapes)
{
    static const char *const bad[] = {"%",   "%4",   "a%",   "%G1",
                                      "%1G", "%%41", "%-1",  "% 1",
                                      "%+1", "%4%1", "ok%zz"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        for (int plus = 0; plus <= 1; plus++)
            ck_assert_msg(fcgi_url_decode(bad[i], strlen(bad[i]), plus) == NULL,
                          "'%s' decoded", bad[i]);
    }
}
END_TEST

/* A decoded string is always a C string: an encoded NUL is refused. */
START_TEST(decode_refuses_nul)
{
    char *got;

    ck_assert_ptr_null(fcgi_url_decode("%00", 3, 0));
    ck_assert_ptr_null(fcgi_url_decode("abc%00def", 9, 1));
    ck_assert_ptr_null(fcgi_url_decode("%00", 3, 1));
    /* bytes next to NUL are fine */
    got = fcgi_url_decode("%01%10", 6, 0);
    ck_assert_str_eq(got, "\x01\x10");
    free(got);
}
END_TEST

START_TEST(query_bad_pairs_left_out)
{
    static const char *const qs[] = {
        "a=1&b=%zz&c=3", "a=1&%zz=2&c=3", "a=1&b=%00&c=3",
        "a=1&%00=x&c=3", "a=1&b=%4&c=3",  "a=1&b=x%&c=3",
    };

    for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
        struct fcgi_query *q = fcgi_query_new(qs[i]);

        ck_assert_msg(q->bad == 1, "'%s' not flagged", qs[i]);
        ck_assert_uint_eq(q->count, 2);
        ck_assert_str_eq(fcgi_query_get(q, "a"), "1");
        ck_assert_str_eq(fcgi_query_get(q, "c"), "3");
        ck_assert_ptr_null(fcgi_query_get(q, "b"));
        fcgi_query_free(q);
    }
}
END_TEST

static Suite *
query_suite(void)
{
    Suite *s = suite_create("fcgi_query");
    TCase *core = tcase_create("core");
    TCase *limits = tcase_create("limits");
    TCase *errors = tcase_create("errors");

    tcase_add_test(core, decode_plain_and_escapes);
    tcase_add_test(core, decode_plus);
    tcase_add_test(core, decode_only_len_bytes);
    tcase_add_test(core, query_order_and_repeats);
    tcase_add_test(core, query_empty);
    tcase_add_test(core, query_empty_names_and_values);
    tcase_add_test(core, query_decodes_names_and_values);
    suite_add_tcase(s, core);

    tcase_add_test(limits, query_long_input);
    suite_add_tcase(s, limits);

    tcase_add_test(errors, decode_bad_escapes);
    tcase_add_test(errors, decode_refuses_nul);
    tcase_add_test(errors, query_bad_pairs_left_out);
    suite_add_tcase(s, errors);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(query_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
