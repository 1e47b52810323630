/*
 * check_base64url.c: unit tests of lib/base64url.c: RFC 4648 vectors, the
 * URL-safe alphabet, round trips at every length, and strict rejection.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "base64url.h"
#include "xalloc.h"

static const struct {
    const char *plain;
    const char *encoded;
} vectors[] = {
    {"", ""},
    {"f", "Zg"},
    {"fo", "Zm8"},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg"},
    {"fooba", "Zm9vYmE"},
    {"foobar", "Zm9vYmFy"},
};

START_TEST(rfc4648_vectors)
{
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        const char *plain = vectors[i].plain;
        char *enc =
            sb_base64url_encode((const unsigned char *)plain, strlen(plain));
        size_t n = 99;
        unsigned char *dec = sb_base64url_decode(
            vectors[i].encoded, strlen(vectors[i].encoded), &n);

        ck_assert_str_eq(enc, vectors[i].encoded);
        ck_assert_ptr_nonnull(dec);
        ck_assert_uint_eq(n, strlen(plain));
        ck_assert_mem_eq(dec, plain, n);
        ck_assert_int_eq(dec[n], '\0');
        free(enc);
        free(dec);
    }
}
END_TEST

START_TEST(url_safe_alphabet)
{
    static const unsigned char raw[] = {0xfb, 0xff, 0xbf};
    char *enc = sb_base64url_encode(raw, sizeof(raw));
    size_t n;
    unsigned char *dec = sb_base64url_decode("-_-_", 4, &n);

    ck_assert_str_eq(enc, "-_-_");
    ck_assert_ptr_nonnull(dec);
    ck_assert_uint_eq(n, 3);
    ck_assert_mem_eq(dec, raw, 3);
    free(enc);
    free(dec);
}
END_TEST

START_TEST(round_trip_every_length)
{
    unsigned char raw[300];
    char enc[401];

    for (size_t i = 0; i < sizeof(raw); i++)
        raw[i] = (unsigned char)(i * 131 + 7);
    for (size_t len = 0; len <= sizeof(raw); len++) {
        size_t n = sb_base64url_encode_to(enc, raw, len);
        size_t out_len;
        unsigned char *dec;

        ck_assert_uint_eq(n, sb_base64url_encoded_len(len));
        ck_assert_uint_eq(strlen(enc), n);
        ck_assert_uint_eq(sb_base64url_decoded_len(n), len);
        dec = sb_base64url_decode(enc, n, &out_len);
        ck_assert_ptr_nonnull(dec);
        ck_assert_uint_eq(out_len, len);
        ck_assert_mem_eq(dec, raw, len);
        free(dec);
    }
}
END_TEST

START_TEST(decode_into_buffer)
{
    unsigned char buf[6];
    size_t n = 0;

    ck_assert_int_eq(sb_base64url_decode_to(buf, "Zm9vYmFy", 8, &n), SB_OK);
    ck_assert_uint_eq(n, 6);
    ck_assert_mem_eq(buf, "foobar", 6);
}
END_TEST

START_TEST(lengths)
{
    ck_assert_uint_eq(sb_base64url_encoded_len(0), 0);
    ck_assert_uint_eq(sb_base64url_encoded_len(1), 2);
    ck_assert_uint_eq(sb_base64url_encoded_len(2), 3);
    ck_assert_uint_eq(sb_base64url_encoded_len(3), 4);
    ck_assert_uint_eq(sb_base64url_encoded_len(32), 43);
    ck_assert_uint_eq(sb_base64url_decoded_len(43), 32);
    ck_assert_uint_eq(sb_base64url_decoded_len(4), 3);
    ck_assert_uint_eq(sb_base64url_decoded_len(1), (size_t)-1);
    ck_assert_uint_eq(sb_base64url_decoded_len(5), (size_t)-1);
}
END_TEST

/* Every byte value decodes only from its single canonical encoding. */
START_TEST(canonical_trailing_bits)
{
    for (int b = 0; b < 256; b++) {
        unsigned char raw = (unsigned char)b;
        char enc[3];
        size_t n;

        sb_base64url_encode_to(enc, &raw, 1);
        for (int low = 1; low < 16; low++) {
            static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcde"
                                           "fghijklmnopqrstuvwxyz0123456789"
                                           "-_";
            const char *pos = strchr(alphabet, enc[1]);
            char bad[3] = {enc[0], alphabet[(pos - alphabet) | low], '\0'};

            ck_assert_ptr_null(sb_base64url_decode(bad, 2, &n));
        }
    }
}
END_TEST

static void
assert_rejected(const char *text)
{
    size_t n = 0;
    unsigned char *dec = sb_base64url_decode(text, strlen(text), &n);

    ck_assert_msg(dec == NULL, "accepted \"%s\"", text);
}

START_TEST(rejects_padding)
{
    assert_rejected("Zg==");
    assert_rejected("Zm8=");
    assert_rejected("Zm9v====");
    assert_rejected("=");
}
END_TEST

START_TEST(rejects_standard_alphabet)
{
    assert_rejected("+/+/");
    assert_rejected("ab+c");
    assert_rejected("ab/c");
}
END_TEST

START_TEST(rejects_whitespace_and_other_bytes)
{
    assert_rejected("Zm9v Zg");
    assert_rejected("Zm9v\nZg");
    assert_rejected(" Zm9v");
    assert_rejected("Zm9v\t");
    assert_rejected("Zm.v");
    assert_rejected("Zm\x80v");
    assert_rejected("Zm\xffv");
}
END_TEST

START_TEST(rejects_embedded_nul)
{
    size_t n;

    ck_assert_ptr_null(sb_base64url_decode("Zm\0v", 4, &n));
}
END_TEST

START_TEST(rejects_impossible_length)
{
    assert_rejected("Z");
    assert_rejected("Zm9vY");
    assert_rejected("Zm9vYmFyZ");
}
END_TEST

START_TEST(rejects_nonzero_trailing_bits)
{
    assert_rejected("Zh");     /* 'h' leaves low bits 0001 */
    assert_rejected("Zm9");    /* '9' leaves low bits 01 */
    assert_rejected("Zm9vYh"); /* the same in a later group */
}
END_TEST

static Suite *
base64url_suite(void)
{
    Suite *s = suite_create("base64url");
    TCase *core = tcase_create("core");
    TCase *limits = tcase_create("limits");
    TCase *errors = tcase_create("errors");

    tcase_add_test(core, rfc4648_vectors);
    tcase_add_test(core, url_safe_alphabet);
    tcase_add_test(core, round_trip_every_length);
    tcase_add_test(core, decode_into_buffer);
    suite_add_tcase(s, core);

    tcase_add_test(limits, lengths);
    tcase_add_test(limits, canonical_trailing_bits);
    suite_add_tcase(s, limits);

    tcase_add_test(errors, rejects_padding);
    tcase_add_test(errors, rejects_standard_alphabet);
    tcase_add_test(errors, rejects_whitespace_and_other_bytes);
    tcase_add_test(errors, rejects_embedded_nul);
    tcase_add_test(errors, rejects_impossible_length);
    tcase_add_test(errors, rejects_nonzero_trailing_bits);
    suite_add_tcase(s, errors);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(base64url_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
