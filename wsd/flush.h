/*
 * flush.h: writing connections' queued messages. Messages queued during a
 * turn of the event loop are written when the turn ends (before the loop
 * waits again), several WebSocket frames in one send(): a new connection's
 * hello and auth.ok leave with the handshake's 101 in one segment, and a
 * doorbell's events reach every subscriber without a round through the
 * poller. Only what the socket does not take waits for the writable
 * callback.
 */
#ifndef WSD_FLUSH_H
#define WSD_FLUSH_H

#include "conn.h"

/* Write c's queue when the current loop turn ends (c is referenced until
 * then). */
void wsd_flush_want(struct wsd_conn *c);
/* Write every connection asked for; called when a loop turn ends. */
void wsd_flush_all(void);
/* Write frames from c's queue now, as many as one send() carries; -1 if
 * the socket failed. From the writable callback or wsd_flush_all(). */
int wsd_flush_write(struct wsd_conn *c);
/* Hold back c's first bytes (the 101 answer) until its hello is written,
 * so both leave in one segment. */
void wsd_flush_cork(struct lws *wsi);

#endif
