/*
 * sse.h: Server-Sent Events (PROTOCOL.md section 5.9). GET /sse with
 * channels=a,b@12; the starting positions come from Last-Event-ID, the
 * last_event_id parameter, @seq in channels, else "from now". The stream
 * opens with retry:, replays what is stored after the positions, then is
 * parked with the waiter, which writes later events, signals, heartbeat
 * comments, reloads and the final "expired" event.
 */
#ifndef FCGI_SSE_H
#define FCGI_SSE_H

#include <stddef.h>
#include <stdint.h>

#include "parked.h"
#include "req.h"

/* GET /sse (a route handler: SB_OK, SB_ERR, or SB_AGAIN when parked). */
int fcgi_sse_handle(struct fcgi_req *r);

/* Begin a stream on r: the 200 head (text/event-stream) and the retry:
 * hint. SB_OK, or SB_ERR when the client went away. */
int fcgi_sse_open(struct fcgi_req *r);
/* When r's token expires (with the leeway), in monotonic ms. */
int64_t fcgi_sse_expires(const struct fcgi_req *r);

/* Each writes one SSE event to p's stream (buffered until
 * fcgi_sse_flush). SB_OK, or SB_ERR when the client went away. */
/* A durable event of position i: id: (the combined cursor after it),
 * event: (its type, unless event_names=0), data:. */
int fcgi_sse_send_event(struct fcgi_parked *p, size_t i, int64_t seq,
                        const char *event, size_t len);
/* A signal: no id: line. */
int fcgi_sse_send_signal(struct fcgi_parked *p, const char *event,
                         size_t len);
/* event: reload for position i, whose cursor becomes last_seq. */
int fcgi_sse_send_reload(struct fcgi_parked *p, size_t i, const char *reason,
                         int64_t last_seq, int64_t oldest_seq);
/* ": heartbeat". */
int fcgi_sse_send_heartbeat(struct fcgi_parked *p);
/* event: expired (the token ran out); the stream ends after it. */
int fcgi_sse_send_expired(struct fcgi_parked *p);
int fcgi_sse_flush(struct fcgi_parked *p);

/* The string member key of an event's JSON (channel, id, type: members
 * whose values never hold a quote or backslash) into out[0..size).
 * SB_OK or SB_ERR. */
int fcgi_event_field(const char *json, const char *key, char *out,
                     size_t size);

#endif
