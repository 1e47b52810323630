/*
 * buf.h: a growable byte buffer, always NUL-terminated, for responses
 * that are put together from pieces (long-poll answers, SSE frames).
 */
#ifndef FCGI_BUF_H
#define FCGI_BUF_H

#include <stddef.h>

struct fcgi_buf {
    char *data; /* owned; NULL until the first append */
    size_t len;
    size_t cap;
};

void fcgi_buf_put(struct fcgi_buf *b, const char *s, size_t n);
void fcgi_buf_puts(struct fcgi_buf *b, const char *s);
void fcgi_buf_printf(struct fcgi_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Forget the contents, keep the memory. */
void fcgi_buf_reset(struct fcgi_buf *b);
/* Release the memory; the buffer is empty again. */
void fcgi_buf_release(struct fcgi_buf *b);

#endif
