/*
 * auth.h: authentication of a WebSocket connection (PROTOCOL.md 3.4-3.6,
 * 4.1, 4.3, 4.4): the token of the upgrade request (Authorization header,
 * then access_token), the hello message, the auth op with in-band refresh,
 * the auth timeout, and expiry with its grace period.
 */
#ifndef WSD_AUTH_H
#define WSD_AUTH_H

#include "conn.h"

struct wsd_req;

/* A connection was established: send hello and authenticate it from the
 * upgrade request, or start waiting for auth. */
void wsd_auth_open(struct wsd_conn *c);
/* The auth op. */
void wsd_auth_handle(const struct wsd_req *r);
/* The connection closed. */
void wsd_auth_conn_closed(struct wsd_conn *c);

#endif
