/*
 * poll.h: long-polling (PROTOCOL.md section 5.8). GET /poll with repeated
 * cursor=channel@seq, or POST /poll with {"cursors":{...}}; answers at once
 * when any channel has something after its cursor (or timeout=0), else
 * parks the request with the waiter until an event, a signal, the
 * timeout or the token's expiry.
 */
#ifndef FCGI_POLL_H
#define FCGI_POLL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parked.h"
#include "req.h"

/* GET or POST /poll (a route handler: SB_OK, SB_ERR, or SB_AGAIN when
 * parked). */
int fcgi_poll_handle(struct fcgi_req *r);

/* Add an event of position i to p's answer and move its cursor. SB_OK,
 * or SB_ERR when the answer is full (limit). */
int fcgi_poll_add_event(struct fcgi_parked *p, size_t i, int64_t seq,
                        const char *event, size_t len);
/* Add a signal (the event JSON) to p's answer; SB_ERR when full. */
int fcgi_poll_add_signal(struct fcgi_parked *p, const char *event,
                         size_t len);
/* Add a reload entry for position i, whose cursor becomes last_seq. */
void fcgi_poll_add_reload(struct fcgi_parked *p, size_t i, const char *reason,
                          int64_t last_seq, int64_t oldest_seq);
/* Write p's answer: events, cursors, timeout (true when nothing was
 * gathered), reload. The request stays p's. */
void fcgi_poll_answer(struct fcgi_parked *p);

#endif
