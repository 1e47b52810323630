/*
 * strbuf.h: a growable string, always NUL-terminated, for text put
 * together from pieces (JSON envelopes, audit records, HTTP answers), and
 * JSON string quoting as PostgreSQL's to_json(text) does it.
 */
#ifndef SB_STRBUF_H
#define SB_STRBUF_H

#include <stddef.h>

struct sb_strbuf {
    char *data; /* owned; NULL until the first append or reserve */
    size_t len;
    size_t cap;
};

/* Room for at least more bytes after the current ones. */
void sb_strbuf_reserve(struct sb_strbuf *b, size_t more);
void sb_strbuf_put(struct sb_strbuf *b, const char *s, size_t n);
void sb_strbuf_puts(struct sb_strbuf *b, const char *s);
void sb_strbuf_putc(struct sb_strbuf *b, char c);
void sb_strbuf_printf(struct sb_strbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* s[0..n) as a JSON string, quotes included. '"', '\\' and control
 * characters are escaped (lower-case \u00XX), the rest is copied as is:
 * the bytes PostgreSQL's to_json(text) prints for the same text. */
void sb_strbuf_quote(struct sb_strbuf *b, const char *s, size_t n);
/* Forget the contents, keep the memory. */
void sb_strbuf_reset(struct sb_strbuf *b);
/* Release the memory; the buffer is empty again. */
void sb_strbuf_release(struct sb_strbuf *b);

#endif
