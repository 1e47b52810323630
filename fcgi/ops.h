/*
 * ops.h: operations over REST (PROTOCOL.md sections 5.13 and 5.14):
 * GET /health (no token), GET /status (admin: every live node), GET
 * /metrics (Prometheus text of this process, no token) and GET
 * /metrics/overview (a snapshot for a time window, read on
 * metrics:overview).
 */
#ifndef FCGI_OPS_H
#define FCGI_OPS_H

#include "req.h"

int fcgi_ops_handle_health(struct fcgi_req *r);
int fcgi_ops_handle_status(struct fcgi_req *r);
int fcgi_ops_handle_metrics(struct fcgi_req *r);
int fcgi_ops_handle_overview(struct fcgi_req *r);

#endif
