/*
 * strbuf.c: growable strings and JSON quoting (see strbuf.h).
 */
#include "strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

void
sb_strbuf_reserve(struct sb_strbuf *b, size_t more)
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
sb_strbuf_put(struct sb_strbuf *b, const char *s, size_t n)
{
    sb_strbuf_reserve(b, n);
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void
sb_strbuf_puts(struct sb_strbuf *b, const char *s)
{
    sb_strbuf_put(b, s, strlen(s));
}

void
sb_strbuf_putc(struct sb_strbuf *b, char c)
{
    sb_strbuf_put(b, &c, 1);
}

void
sb_strbuf_printf(struct sb_strbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    SB_ASSERT(n >= 0);
    sb_strbuf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* The escape for byte c, or NULL when c prints as itself. PostgreSQL
 * escapes '"', '\\' and control characters only ("/" and non-ASCII print
 * as they are), with lower-case hex in \u00XX. */
static const char *
escape_for(unsigned char c, char tmp[8])
{
    switch (c) {
    case '"':
        return "\\\"";
    case '\\':
        return "\\\\";
    case '\b':
        return "\\b";
    case '\f':
        return "\\f";
    case '\n':
        return "\\n";
    case '\r':
        return "\\r";
    case '\t':
        return "\\t";
    default:
        if (c >= 0x20)
            return NULL;
        snprintf(tmp, 8, "\\u%04x", c);
        return tmp;
    }
}

void
sb_strbuf_quote(struct sb_strbuf *b, const char *s, size_t n)
{
    char tmp[8];
    const char *esc;
    size_t i, run = 0;

    sb_strbuf_reserve(b, n + 2);
    sb_strbuf_putc(b, '"');
    for (i = 0; i < n; i++) {
        esc = escape_for((unsigned char)s[i], tmp);
        if (esc == NULL)
            continue;
        sb_strbuf_put(b, s + run, i - run);
        sb_strbuf_puts(b, esc);
        run = i + 1;
    }
    sb_strbuf_put(b, s + run, n - run);
    sb_strbuf_putc(b, '"');
}

void
sb_strbuf_reset(struct sb_strbuf *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

void
sb_strbuf_release(struct sb_strbuf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
