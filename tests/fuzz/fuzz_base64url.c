/*
 * fuzz_base64url.c: the strict base64url codec on arbitrary bytes. Text
 * that decodes must decode to sb_base64url_decoded_len() bytes and encode
 * back to itself (one accepted encoding per byte string); any bytes must
 * encode to sb_base64url_encoded_len() characters that decode back to
 * them. Decoding into a buffer of exactly the announced size lets the
 * sanitizers catch a write past it.
 */
#include <stdlib.h>
#include <string.h>

#include "base64url.h"
#include "fuzz.h"

/* The input as text: if it decodes, it is the one encoding of its bytes. */
static void
check_decode(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    size_t want = sb_base64url_decoded_len(size), got = 0, got_to = 0;
    unsigned char *raw, *exact;
    char *again;
    int rc;

    raw = sb_base64url_decode(text, size, &got);
    exact = want == (size_t)-1 ? NULL : sb_malloc(want ? want : 1);
    rc = exact == NULL ? SB_ERR
                       : sb_base64url_decode_to(exact, text, size, &got_to);
    SB_ASSERT((raw != NULL) == (rc == SB_OK));
    if (raw != NULL) {
        SB_ASSERT(got == want && got_to == want && raw[got] == '\0');
        SB_ASSERT(memcmp(raw, exact, got) == 0);
        again = sb_base64url_encode(raw, got);
        SB_ASSERT(strlen(again) == size && memcmp(again, text, size) == 0);
        free(again);
    }
    free(exact);
    free(raw);
}

/* The input as bytes: encoding then decoding returns them. */
static void
check_encode(const uint8_t *data, size_t size)
{
    size_t len = sb_base64url_encoded_len(size), n;
    char *text = sb_malloc(len + 1);
    unsigned char *back;

    SB_ASSERT(sb_base64url_encode_to(text, data, size) == len);
    SB_ASSERT(strlen(text) == len);
    SB_ASSERT(sb_base64url_decoded_len(len) == size);
    back = sb_base64url_decode(text, len, &n);
    SB_ASSERT(back != NULL && n == size);
    SB_ASSERT(size == 0 || memcmp(back, data, size) == 0);
    free(back);
    free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_decode(data, size);
    check_encode(data, size);
    return 0;
}
