/*
 * timerheap.c: the binary min-heap of timers (see timerheap.h).
 */
#include <stdlib.h>

#include "timerheap.h"
#include "xalloc.h"

static void
put(struct fcgi_heap *h, size_t i, struct fcgi_timer *t)
{
    h->v[i] = t;
    t->index = i;
}

static void
up(struct fcgi_heap *h, size_t i)
{
    struct fcgi_timer *t = h->v[i];

    while (i > 0 && h->v[(i - 1) / 2]->at > t->at) {
        put(h, i, h->v[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    put(h, i, t);
}

static void
down(struct fcgi_heap *h, size_t i)
{
    struct fcgi_timer *t = h->v[i];

    for (;;) {
        size_t c = 2 * i + 1;

        if (c >= h->n)
            break;
        if (c + 1 < h->n && h->v[c + 1]->at < h->v[c]->at)
            c++;
        if (h->v[c]->at >= t->at)
            break;
        put(h, i, h->v[c]);
        i = c;
    }
    put(h, i, t);
}

void
fcgi_heap_push(struct fcgi_heap *h, struct fcgi_timer *t)
{
    SB_ASSERT(t->index == FCGI_HEAP_NONE);
    if (h->n == h->cap) {
        h->cap = h->cap == 0 ? 64 : h->cap * 2;
        h->v = sb_realloc(h->v, h->cap * sizeof(*h->v));
    }
    put(h, h->n++, t);
    up(h, h->n - 1);
}

void
fcgi_heap_remove(struct fcgi_heap *h, struct fcgi_timer *t)
{
    size_t i = t->index;
    struct fcgi_timer *last;

    if (i == FCGI_HEAP_NONE)
        return;
    SB_ASSERT(i < h->n && h->v[i] == t);
    t->index = FCGI_HEAP_NONE;
    last = h->v[--h->n];
    if (i == h->n)
        return;
    put(h, i, last);
    up(h, i);
    down(h, last->index);
}

void
fcgi_heap_set(struct fcgi_heap *h, struct fcgi_timer *t, int64_t at)
{
    fcgi_heap_remove(h, t);
    t->at = at;
    fcgi_heap_push(h, t);
}

struct fcgi_timer *
fcgi_heap_top(const struct fcgi_heap *h)
{
    return h->n > 0 ? h->v[0] : NULL;
}

void
fcgi_heap_release(struct fcgi_heap *h)
{
    free(h->v);
    h->v = NULL;
    h->n = h->cap = 0;
}
