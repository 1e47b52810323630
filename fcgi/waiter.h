/*
 * waiter.h: the one thread that holds every waiting long-poll and SSE
 * stream, so that waiting costs no worker thread. It owns the LISTEN
 * connection (LISTEN switchboard, switchboard_signal), a min-heap of
 * timers (poll deadlines, SSE heartbeats, token expiry) and the parked
 * requests indexed by channel. On a doorbell it reads events_after once
 * per channel from the lowest position waiting on it and answers (long-
 * poll) or streams to (SSE) every request on that channel; a signal goes
 * to the same requests as it is. A request whose client went away (the
 * web server closed the connection, or a write failed) is released.
 *
 * Lost wake-ups: a worker reads the doorbell generation before its own
 * read of the database and parks the request with it; the waiter keeps
 * the channels of recent doorbells per generation and reads again for a
 * request that missed one (or for every channel after the LISTEN
 * connection came back: resync, PROTOCOL.md invariant 3).
 */
#ifndef FCGI_WAITER_H
#define FCGI_WAITER_H

#include <stddef.h>
#include <stdint.h>

#include "deliver.h"
#include "parked.h"

/* Start the thread (the LISTEN connection is made there, and remade
 * while lost). Idempotent. SB_OK or SB_ERR (no thread). */
int fcgi_waiter_start(void);
/* Answer every parked request (long-polls with what they have, SSE
 * streams end), leave switchboard.nodes, and join the thread. */
void fcgi_waiter_stop(void);

/* The doorbell generation, to read before the database read that decides
 * whether to park. */
uint64_t fcgi_waiter_gen(void);
/* What the doorbells say about pos[0..n) (fcgi_deliver_known): a
 * long-poll that is current or behind may park with *gen without reading
 * the database. *gen is always set. */
enum fcgi_known fcgi_waiter_known(const struct fcgi_pos *pos, size_t n,
                                  uint64_t *gen);

/* Hand p over (p->gen set, positions resolved, timers set by the waiter
 * from p->deadline and p->expires). SB_OK: the waiter owns p. SB_AGAIN:
 * max_parked requests wait already; p is still the caller's. With p NULL,
 * only say whether there is room (SB_OK) or not (SB_AGAIN). */
int fcgi_waiter_park(struct fcgi_parked *p);

#endif
