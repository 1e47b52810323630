/*
 * base64url.c: strict base64url codec without padding. See base64url.h.
 */
#include "base64url.h"

#include <stdint.h>
#include <stdlib.h>

#include "xalloc.h"

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t
sb_base64url_encoded_len(size_t len)
{
    return len / 3 * 4 + (len % 3 ? len % 3 + 1 : 0);
}

size_t
sb_base64url_decoded_len(size_t len)
{
    if (len % 4 == 1)
        return (size_t)-1;
    return len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
}

size_t
sb_base64url_encode_to(char *dst, const unsigned char *src, size_t len)
{
    size_t i, n = 0;

    for (i = 0; i + 3 <= len; i += 3) {
        uint32_t v =
            (uint32_t)src[i] << 16 | (uint32_t)src[i + 1] << 8 | src[i + 2];

        dst[n++] = alphabet[v >> 18];
        dst[n++] = alphabet[v >> 12 & 63];
        dst[n++] = alphabet[v >> 6 & 63];
        dst[n++] = alphabet[v & 63];
    }
    if (len - i == 1) {
        dst[n++] = alphabet[src[i] >> 2];
        dst[n++] = alphabet[(src[i] & 3) << 4];
    } else if (len - i == 2) {
        dst[n++] = alphabet[src[i] >> 2];
        dst[n++] = alphabet[(src[i] & 3) << 4 | src[i + 1] >> 4];
        dst[n++] = alphabet[(src[i + 1] & 15) << 2];
    }
    dst[n] = '\0';
    return n;
}

char *
sb_base64url_encode(const unsigned char *src, size_t len)
{
    char *dst = sb_malloc(sb_base64url_encoded_len(len) + 1);

    sb_base64url_encode_to(dst, src, len);
    return dst;
}

/* Value of one alphabet character, or -1. */
static int
value_of(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* Decode 2, 3 or 4 characters into 1, 2 or 3 bytes at dst. Returns SB_OK,
 * or SB_ERR for a bad character or non-zero bits past the last byte. */
static int
decode_group(unsigned char *dst, const char *src, size_t n)
{
    uint32_t v = 0;

    for (size_t i = 0; i < n; i++) {
        int c = value_of(src[i]);

        if (c < 0)
            return SB_ERR;
        v = v << 6 | (uint32_t)c;
    }
    v <<= 6 * (4 - n);
    if (n < 4 && (v & (0xffffffu >> 8 * (n - 1))) != 0)
        return SB_ERR;
    dst[0] = (unsigned char)(v >> 16);
    if (n > 2)
        dst[1] = (unsigned char)(v >> 8);
    if (n > 3)
        dst[2] = (unsigned char)v;
    return SB_OK;
}

int
sb_base64url_decode_to(unsigned char *dst, const char *src, size_t len,
                       size_t *out_len)
{
    size_t n = 0;

    if (sb_base64url_decoded_len(len) == (size_t)-1)
        return SB_ERR;
    for (size_t i = 0; i < len; i += 4) {
        size_t group = len - i < 4 ? len - i : 4;

        if (decode_group(dst + n, src + i, group) != SB_OK)
            return SB_ERR;
        n += group - 1;
    }
    *out_len = n;
    return SB_OK;
}

unsigned char *
sb_base64url_decode(const char *src, size_t len, size_t *out_len)
{
    size_t max = sb_base64url_decoded_len(len);
    unsigned char *dst;

    if (max == (size_t)-1)
        return NULL;
    dst = sb_malloc(max + 1);
    if (sb_base64url_decode_to(dst, src, len, out_len) != SB_OK) {
        free(dst);
        return NULL;
    }
    dst[*out_len] = '\0';
    return dst;
}
