/*
 * buf.c: growable byte buffers (see buf.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "xalloc.h"

static void
reserve(struct fcgi_buf *b, size_t more)
{
    size_t want = b->len + more + 1;

    if (want <= b->cap)
        return;
    b->cap = b->cap == 0 ? 256 : b->cap;
    while (b->cap < want)
        b->cap *= 2;
    b->data = sb_realloc(b->data, b->cap);
}

void
fcgi_buf_put(struct fcgi_buf *b, const char *s, size_t n)
{
    reserve(b, n);
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void
fcgi_buf_puts(struct fcgi_buf *b, const char *s)
{
    fcgi_buf_put(b, s, strlen(s));
}

void
fcgi_buf_printf(struct fcgi_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    SB_ASSERT(n >= 0);
    reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void
fcgi_buf_reset(struct fcgi_buf *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

void
fcgi_buf_release(struct fcgi_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
