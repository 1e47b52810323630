/*
 * parked.h: a long-poll or SSE request waiting for events: the request
 * itself (whose FCGX_Request stays open), the channels with the client's
 * positions, and the waiter's bookkeeping (timer, index slots, what a
 * long-poll has gathered). Made by a worker thread, owned by the waiter
 * thread once handed over (fcgi_waiter_park), released by it.
 */
#ifndef FCGI_PARKED_H
#define FCGI_PARKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"
#include "limits.h"
#include "req.h"
#include "timerheap.h"

/* A cursor meaning "from the channel's current last seq". */
#define FCGI_FROM_NOW (-1)

enum fcgi_park_kind {
    FCGI_PARK_POLL,
    FCGI_PARK_SSE,
    FCGI_PARK_METRICS, /* an SSE stream of metrics snapshots, no channels */
};

struct fcgi_chan;

/* One channel of a request and the last seq its client has. */
struct fcgi_pos {
    char channel[SB_CHANNEL_MAX + 1];
    int64_t cursor; /* >= 0, or FCGI_FROM_NOW before it is resolved */
    /* The waiter's: this position's slot in the channel index. */
    struct fcgi_chan *chan;
    size_t slot;
};

struct fcgi_parked {
    struct fcgi_req *req; /* owned */
    enum fcgi_park_kind kind;
    struct fcgi_pos *pos; /* owned */
    size_t npos;
    struct fcgi_timer timer; /* the next deadline or heartbeat */
    int64_t deadline;        /* monotonic ms: the wait ends (poll) */
    int64_t expires;         /* monotonic ms: the token expires */
    uint64_t gen;            /* doorbell generation before the last read */
    int64_t wrote_at;        /* sse: monotonic ms of the last write */
    long long limit;         /* poll: most events in the answer */
    bool event_names;        /* sse: an event: line per event */
    struct sb_strbuf events;  /* poll: gathered events, comma-separated */
    size_t nevents;
    struct sb_strbuf reload; /* poll: gathered reload entries */
    long long window_hours; /* metrics: the overview's window */
    int64_t interval_ms;    /* metrics: how often to look for a change */
    int64_t due;            /* metrics: monotonic ms of the next look */
    char *last_data;        /* metrics: the "data" last sent; owned */
    bool ready;             /* poll: answer now; sse: gone */
    bool ready_answer;      /* poll: answer when released (else the
                               client went away: only finish) */
    bool behind;            /* poll: parked without a read although its
                               channels have newer events: the waiter
                               reads them (once per channel for all) */
    bool queued;            /* in the waiter's list of ready requests */
    struct fcgi_parked *ready_next;
    struct fcgi_parked *prev, *next; /* the waiter's list of all */
};

/* A new parked request for r (taken over) with npos positions, zeroed. */
struct fcgi_parked *fcgi_parked_new(struct fcgi_req *r,
                                    enum fcgi_park_kind kind, size_t npos);
/* Release p and its request (finished towards the web server). NULL does
 * nothing. */
void fcgi_parked_free(struct fcgi_parked *p);
/* Release p but not its request (still the worker's). */
struct fcgi_req *fcgi_parked_release(struct fcgi_parked *p);

/* The position of channel in p, or -1. */
int fcgi_parked_find(const struct fcgi_parked *p, const char *channel);

#endif
