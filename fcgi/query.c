/*
 * query.c: percent-decoding and query strings (see query.h).
 */
#include <stdlib.h>
#include <string.h>

#include "query.h"
#include "xalloc.h"

static int
hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *
fcgi_url_decode(const char *s, size_t len, int plus)
{
    char *out = sb_malloc(len + 1);
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        int hi, lo;

        if (s[i] == '+' && plus) {
            out[n++] = ' ';
            continue;
        }
        if (s[i] != '%') {
            out[n++] = s[i];
            continue;
        }
        if (i + 2 >= len)
            goto bad;
        hi = hexval(s[i + 1]);
        lo = hexval(s[i + 2]);
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
            goto bad;
        out[n++] = (char)(hi * 16 + lo);
        i += 2;
    }
    out[n] = '\0';
    return out;
bad:
    free(out);
    return NULL;
}

static void
add_pair(struct fcgi_query *q, const char *p, size_t len)
{
    const char *eq = memchr(p, '=', len);
    size_t nlen = eq != NULL ? (size_t)(eq - p) : len;
    char *name = fcgi_url_decode(p, nlen, 1);
    char *value =
        eq != NULL ? fcgi_url_decode(eq + 1, len - nlen - 1, 1) : sb_strdup("");

    if (name == NULL || value == NULL) {
        free(name);
        free(value);
        q->bad = 1;
        return;
    }
    q->pairs = sb_realloc(q->pairs, (q->count + 1) * sizeof(*q->pairs));
    q->pairs[q->count].name = name;
    q->pairs[q->count].value = value;
    q->count++;
}

struct fcgi_query *
fcgi_query_new(const char *qs)
{
    struct fcgi_query *q = sb_calloc(1, sizeof(*q));
    const char *p = qs != NULL ? qs : "";

    while (*p != '\0') {
        size_t len = strcspn(p, "&");

        if (len > 0)
            add_pair(q, p, len);
        p += len;
        if (*p == '&')
            p++;
    }
    return q;
}

void
fcgi_query_free(struct fcgi_query *q)
{
    if (q == NULL)
        return;
    for (size_t i = 0; i < q->count; i++) {
        free(q->pairs[i].name);
        free(q->pairs[i].value);
    }
    free(q->pairs);
    free(q);
}

const char *
fcgi_query_get(const struct fcgi_query *q, const char *name)
{
    for (size_t i = 0; i < q->count; i++) {
        if (strcmp(q->pairs[i].name, name) == 0)
            return q->pairs[i].value;
    }
    return NULL;
}

size_t
fcgi_query_count(const struct fcgi_query *q, const char *name)
{
    size_t n = 0;

    for (size_t i = 0; i < q->count; i++)
        n += strcmp(q->pairs[i].name, name) == 0;
    return n;
}
