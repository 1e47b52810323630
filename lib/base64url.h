/*
 * base64url.h: the URL-safe base64 alphabet of RFC 4648 section 5, without
 * padding, as JWTs use it. Decoding is strict: only A-Z a-z 0-9 '-' '_',
 * no '=', no whitespace, no length that leaves a lone 6-bit group
 * (len % 4 == 1), and the unused low bits of the last character must be
 * zero, so every byte string has exactly one accepted encoding.
 */
#ifndef SB_BASE64URL_H
#define SB_BASE64URL_H

#include <stddef.h>

/* Characters needed to encode len bytes (no NUL). */
size_t sb_base64url_encoded_len(size_t len);
/* Bytes that len characters decode to, or (size_t)-1 when no valid encoding
 * has that length. */
size_t sb_base64url_decoded_len(size_t len);

/* Encode src[0..len) into dst, which must hold sb_base64url_encoded_len(len)
 * + 1 bytes; dst is NUL-terminated. Returns the number of characters. */
size_t sb_base64url_encode_to(char *dst, const unsigned char *src, size_t len);
/* Encode into a new NUL-terminated string the caller frees. */
char *sb_base64url_encode(const unsigned char *src, size_t len);

/* Decode src[0..len) into dst, which must hold sb_base64url_decoded_len(len)
 * bytes. Returns SB_OK and sets *out_len, or SB_ERR on any invalid input
 * (dst contents are then unspecified). */
int sb_base64url_decode_to(unsigned char *dst, const char *src, size_t len,
                           size_t *out_len);
/* Decode into a new buffer the caller frees; one extra NUL byte follows the
 * data (not counted in *out_len), so decoded text can be used as a string.
 * Returns NULL on invalid input. */
unsigned char *sb_base64url_decode(const char *src, size_t len,
                                   size_t *out_len);

#endif
