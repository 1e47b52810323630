/*
 * route.h: the thin dispatch of a request to the handler of its path and
 * method (PROTOCOL.md section 5.2). Unknown paths are 404, known paths
 * with another method 405 (with Allow), OPTIONS the CORS preflight; then
 * the origin check and, for routes that need one, the token, then the
 * handler of the owning module.
 *
 * A handler returns SB_OK or SB_ERR once it has answered, or SB_AGAIN
 * when it parked the request: the waiter thread owns it from then on.
 */
#ifndef FCGI_ROUTE_H
#define FCGI_ROUTE_H

#include "req.h"

/* Answer r (or park it). Returns what the handler returned, SB_AGAIN
 * meaning the caller must not touch r again. */
int fcgi_route_dispatch(struct fcgi_req *r);

#endif
