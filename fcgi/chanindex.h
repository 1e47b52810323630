/*
 * chanindex.h: the waiter's index of parked requests by channel, so a
 * doorbell or a signal finds its waiters without a scan. A channel's
 * entry lists (request, position) slots; each position records its slot,
 * so removal is O(1). An entry is freed when its last slot goes. Owned
 * by the waiter thread alone.
 */
#ifndef FCGI_CHANINDEX_H
#define FCGI_CHANINDEX_H

#include <stdbool.h>
#include <stddef.h>

#include "parked.h"

struct fcgi_slot {
    struct fcgi_parked *p;
    size_t pos; /* index into p->pos */
};

struct fcgi_chan {
    struct fcgi_chan *next; /* hash chain */
    char *name;             /* owned */
    struct fcgi_slot *v;    /* owned */
    size_t n, cap;
    bool rung; /* in the delivery's list of rung channels */
};

struct fcgi_index {
    struct fcgi_chan **table; /* owned */
    size_t nchans;
};

/* The hash of a channel name (also used by lastseq.c). */
unsigned fcgi_index_hash(const char *s);
/* An empty index. Never NULL. */
struct fcgi_index *fcgi_index_new(void);
/* Release the index and its entries (not the requests). NULL: nothing. */
void fcgi_index_free(struct fcgi_index *x);
/* The entry of channel, or NULL. */
struct fcgi_chan *fcgi_index_find(const struct fcgi_index *x,
                                  const char *channel);
/* List every position of p. */
void fcgi_index_add(struct fcgi_index *x, struct fcgi_parked *p);
/* Take every position of p out (p must have been added). */
void fcgi_index_remove(struct fcgi_index *x, struct fcgi_parked *p);
/* Call fn for each entry (fn must not change the index). */
void fcgi_index_each(const struct fcgi_index *x,
                     void (*fn)(struct fcgi_chan *c, void *arg), void *arg);

#endif
