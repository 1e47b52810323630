/*
 * metricsub.h: metrics subscriptions over Server-Sent Events (PROTOCOL.md
 * section 5.13): GET /metrics/stream?window_hours=24&interval_s=5 sends an
 * "event: metrics" with the overview snapshot at once, then again only
 * when its data changed, looked at every interval_s seconds (1..60,
 * clamped; window_hours 1..168, clamped; a value that is not an integer
 * is 422 invalid_parameter). The stream is parked with the waiter like
 * other SSE streams (heartbeats, token expiry, max_parked).
 *
 * Looks happen on a process-wide grid (multiples of the interval on the
 * monotonic clock), so streams with the same interval look together, and
 * the waiter computes one snapshot per distinct window per round of
 * timers, shared by every stream due in that round (struct
 * fcgi_metricsub_round).
 */
#ifndef FCGI_METRICSUB_H
#define FCGI_METRICSUB_H

#include <stdint.h>

#include <libpq-fe.h>

#include "parked.h"
#include "req.h"

/* Most distinct windows one round remembers (there are 168). */
#define FCGI_METRICSUB_WINDOWS 168

/* The snapshots of one round of timers, by window (the waiter's). */
struct fcgi_metricsub_round {
    struct {
        long long hours;
        char *body;     /* {"window_hours","generated_at","data"}, owned */
        size_t data_at; /* where "data"'s value starts in body */
    } v[FCGI_METRICSUB_WINDOWS];
    size_t n;
};

/* GET /metrics/stream (a route handler: SB_OK, SB_ERR, or SB_AGAIN when
 * parked). */
int fcgi_metricsub_handle(struct fcgi_req *r);

/* The stream p is due (p->due <= now): send the snapshot of its window if
 * its data differs from what p last sent, reading it on conn unless
 * round has it, and set p->due to the next look. SB_OK, or SB_ERR when
 * the client went away. A failed read is logged and skipped (the next
 * look tries again). */
int fcgi_metricsub_look(struct fcgi_parked *p, PGconn *conn,
                        struct fcgi_metricsub_round *round, int64_t now);
/* Forget the round's snapshots (at the start of each round). */
void fcgi_metricsub_round_reset(struct fcgi_metricsub_round *round);

#endif
