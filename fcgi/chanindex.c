/*
 * chanindex.c: parked requests by channel (see chanindex.h): a hash table
 * of a fixed number of chains (the channels with waiters are few next to
 * the requests, so chains stay short).
 */
#include <stdlib.h>
#include <string.h>

#include "chanindex.h"
#include "xalloc.h"

#define NBUCKETS 4096

unsigned
fcgi_index_hash(const char *s)
{
    unsigned h = 2166136261u; /* FNV-1a */

    while (*s != '\0')
        h = (h ^ (unsigned char)*s++) * 16777619u;
    return h;
}

static size_t
hash(const char *s)
{
    return fcgi_index_hash(s) % NBUCKETS;
}

struct fcgi_index *
fcgi_index_new(void)
{
    struct fcgi_index *x = sb_calloc(1, sizeof(*x));

    x->table = sb_calloc(NBUCKETS, sizeof(*x->table));
    return x;
}

static void
chan_free(struct fcgi_chan *c)
{
    free(c->name);
    free(c->v);
    free(c);
}

void
fcgi_index_free(struct fcgi_index *x)
{
    if (x == NULL)
        return;
    for (size_t i = 0; i < NBUCKETS; i++) {
        while (x->table[i] != NULL) {
            struct fcgi_chan *c = x->table[i];

            x->table[i] = c->next;
            chan_free(c);
        }
    }
    free(x->table);
    free(x);
}

struct fcgi_chan *
fcgi_index_find(const struct fcgi_index *x, const char *channel)
{
    struct fcgi_chan *c = x->table[hash(channel)];

    while (c != NULL && strcmp(c->name, channel) != 0)
        c = c->next;
    return c;
}

static struct fcgi_chan *
find_or_add(struct fcgi_index *x, const char *channel)
{
    size_t h = hash(channel);
    struct fcgi_chan *c = fcgi_index_find(x, channel);

    if (c != NULL)
        return c;
    c = sb_calloc(1, sizeof(*c));
    c->name = sb_strdup(channel);
    c->next = x->table[h];
    x->table[h] = c;
    x->nchans++;
    return c;
}

void
fcgi_index_add(struct fcgi_index *x, struct fcgi_parked *p)
{
    for (size_t i = 0; i < p->npos; i++) {
        struct fcgi_chan *c = find_or_add(x, p->pos[i].channel);

        if (c->n == c->cap) {
            c->cap = c->cap == 0 ? 4 : c->cap * 2;
            c->v = sb_realloc(c->v, c->cap * sizeof(*c->v));
        }
        c->v[c->n].p = p;
        c->v[c->n].pos = i;
        p->pos[i].chan = c;
        p->pos[i].slot = c->n++;
    }
}

static void
unlink_chan(struct fcgi_index *x, struct fcgi_chan *c)
{
    struct fcgi_chan **pp = &x->table[hash(c->name)];

    while (*pp != c)
        pp = &(*pp)->next;
    *pp = c->next;
    x->nchans--;
    chan_free(c);
}

void
fcgi_index_remove(struct fcgi_index *x, struct fcgi_parked *p)
{
    for (size_t i = 0; i < p->npos; i++) {
        struct fcgi_chan *c = p->pos[i].chan;
        size_t s = p->pos[i].slot;

        if (c == NULL)
            continue;
        SB_ASSERT(s < c->n && c->v[s].p == p);
        c->v[s] = c->v[--c->n];
        if (s < c->n)
            c->v[s].p->pos[c->v[s].pos].slot = s;
        p->pos[i].chan = NULL;
        if (c->n == 0)
            unlink_chan(x, c);
    }
}

void
fcgi_index_each(const struct fcgi_index *x,
                void (*fn)(struct fcgi_chan *c, void *arg), void *arg)
{
    for (size_t i = 0; i < NBUCKETS; i++) {
        for (struct fcgi_chan *c = x->table[i]; c != NULL; c = c->next)
            fn(c, arg);
    }
}
