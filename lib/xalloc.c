/*
 * xalloc.c: allocation wrappers that abort on failure, and the assertion
 * handler. See xalloc.h.
 */
#include "xalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void __attribute__((noreturn))
oom(size_t size)
{
    fprintf(stderr, "switchboard: out of memory allocating %zu bytes\n", size);
    abort();
}

void
sb_assert_fail(const char *cond, const char *file, int line)
{
    fprintf(stderr, "switchboard: assertion failed: %s (%s:%d)\n", cond, file,
            line);
    abort();
}

void *
sb_malloc(size_t size)
{
    void *p = malloc(size ? size : 1);

    if (p == NULL)
        oom(size);
    return p;
}

void *
sb_calloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);

    if (p == NULL)
        oom(nmemb * size);
    return p;
}

void *
sb_realloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);

    if (p == NULL)
        oom(size);
    return p;
}

char *
sb_strdup(const char *s)
{
    return sb_strndup(s, strlen(s));
}

char *
sb_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = sb_malloc(len + 1);

    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *
sb_asprintf(const char *fmt, ...)
{
    va_list ap;
    char *s;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        oom(0);
    return s;
}
