/*
 * cors.h: cross-origin requests (PROTOCOL.md section 5.15). An Origin in
 * allowed_origins is echoed with credentials allowed; a POST or PATCH
 * from any other origin that is not the server's own (the Host the
 * request was sent to) is refused before anything is read or stored.
 */
#ifndef FCGI_CORS_H
#define FCGI_CORS_H

#include "req.h"

/* Decide for r: sets r->cors_origin for an allowed Origin. SB_OK, or
 * SB_ERR after answering 403 (a write from a foreign origin). */
int fcgi_cors_check(struct fcgi_req *r);
/* Answer an OPTIONS request: 204 with the preflight headers for an
 * allowed origin, 403 otherwise. */
int fcgi_cors_preflight(struct fcgi_req *r);

#endif
