/*
 * deliver.h: the waiter's delivery of events to parked requests: the
 * index by channel, the doorbells rung since the last read (at most one
 * read per channel per round), the ring of recent doorbells by generation
 * (to catch a doorbell that came between a worker's read and its park),
 * signals, and the list of requests ready to be answered or released.
 * Used by the waiter thread only, except fcgi_deliver_gen and
 * fcgi_deliver_known (any thread).
 */
#ifndef FCGI_DELIVER_H
#define FCGI_DELIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "error.h"
#include "parked.h"

struct fcgi_deliver;

/* Never NULL. */
struct fcgi_deliver *fcgi_deliver_new(void);
/* NULL does nothing; the parked requests are not released. */
void fcgi_deliver_free(struct fcgi_deliver *d);

/* The doorbell generation (atomic; any thread). */
uint64_t fcgi_deliver_gen(const struct fcgi_deliver *d);
/* The LISTEN connection is (again) live: a new generation, the ring
 * starts over, and every channel with waiters is read again. */
void fcgi_deliver_listening(struct fcgi_deliver *d);
/* The LISTEN connection is lost: the last seqs known from doorbells are
 * no longer trusted (until fcgi_deliver_listening). */
void fcgi_deliver_lost(struct fcgi_deliver *d);
/* What the doorbells say about a long-poll's positions. */
enum fcgi_known {
    FCGI_KNOWN_NOT,     /* a channel not known (or a cursor beyond it or
                           far behind, or none given, or LISTEN is down):
                           read */
    FCGI_KNOWN_CURRENT, /* every cursor is its channel's last seq */
    FCGI_KNOWN_BEHIND,  /* every cursor known, some behind (by at most
                           SB_HISTORY_MAX): the waiter may read the events
                           once per channel for all */
};

/* Any thread: compare pos[0..n) with the channels' last seqs as the
 * doorbells of the live LISTEN connection announced them. *gen is set to
 * the generation that answer holds for. */
enum fcgi_known fcgi_deliver_known(struct fcgi_deliver *d,
                                   const struct fcgi_pos *pos, size_t n,
                                   uint64_t *gen);

/* Index p. When a doorbell for one of its channels may have come after
 * its worker read (p->gen), or p was parked behind (p->behind), its
 * channels are read in the next round. */
void fcgi_deliver_add(struct fcgi_deliver *d, struct fcgi_parked *p);
/* Take p out of the index and the ready list. */
void fcgi_deliver_remove(struct fcgi_deliver *d, struct fcgi_parked *p);

/* A NOTIFY switchboard payload: remember its channels (ring) and ring
 * the bell of those with waiters. Bad payloads are logged and dropped. */
void fcgi_deliver_doorbell(struct fcgi_deliver *d, const char *payload);
/* A NOTIFY switchboard_signal payload: hand it to its channel's waiters. */
void fcgi_deliver_signal(struct fcgi_deliver *d, const char *payload);

/* Read every rung channel (events_after from its lowest waiting position)
 * on conn and deliver. SB_OK, or SB_ERR with err set when a read failed
 * (the bells stay rung for the next round). */
int fcgi_deliver_run(struct fcgi_deliver *d, PGconn *conn,
                     struct sb_error *err);

/* Mark p ready (a long-poll to answer, an SSE stream gone). */
void fcgi_deliver_ready(struct fcgi_deliver *d, struct fcgi_parked *p);
/* The next ready request (taken off the list), or NULL. */
struct fcgi_parked *fcgi_deliver_next_ready(struct fcgi_deliver *d);

#endif
