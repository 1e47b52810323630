/*
 * timerheap.h: a binary min-heap of timers keyed by a monotonic time in
 * ms, for the waiter's deadlines and heartbeats: O(log n) insert, remove
 * and change, O(1) earliest. Each element records its own position
 * (*index_of(elem)), so any element can be removed without a search.
 * Not thread-safe: one owner (the waiter thread).
 */
#ifndef FCGI_TIMERHEAP_H
#define FCGI_TIMERHEAP_H

#include <stddef.h>
#include <stdint.h>

/* Not in the heap. */
#define FCGI_HEAP_NONE ((size_t)-1)

struct fcgi_timer {
    int64_t at;   /* when it fires */
    size_t index; /* position in the heap, or FCGI_HEAP_NONE */
    void *owner;
};

struct fcgi_heap {
    struct fcgi_timer **v; /* owned array; the timers are the caller's */
    size_t n, cap;
};

/* Add t (not in a heap) to fire at t->at. */
void fcgi_heap_push(struct fcgi_heap *h, struct fcgi_timer *t);
/* Remove t if it is in the heap. */
void fcgi_heap_remove(struct fcgi_heap *h, struct fcgi_timer *t);
/* Move t (in the heap or not) to fire at at. */
void fcgi_heap_set(struct fcgi_heap *h, struct fcgi_timer *t, int64_t at);
/* The earliest timer, or NULL when empty. */
struct fcgi_timer *fcgi_heap_top(const struct fcgi_heap *h);
/* Release the array (not the timers). */
void fcgi_heap_release(struct fcgi_heap *h);

#endif
