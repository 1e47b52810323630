/*
 * ops.h: operations over REST (PROTOCOL.md sections 5.13 and 5.14):
 * GET /health (no token), GET /status (admin: every live node), GET
 * /metrics (Prometheus text of this process, no token) and GET
 * /metrics/overview (a snapshot for a time window, read on
 * metrics:overview, computed by switchboard.metrics_overview()).
 */
#ifndef FCGI_OPS_H
#define FCGI_OPS_H

#include <libpq-fe.h>

#include "req.h"

/* The channel whose read verb the overview needs. */
#define FCGI_OVERVIEW_CHANNEL "metrics:overview"
/* The snapshot time and the overview for $1 hours (already clamped). */
#define FCGI_OVERVIEW_SQL                                                      \
    "SELECT switchboard.time_text(now()), "                                    \
    "switchboard.metrics_overview($1::integer)::text"

int fcgi_ops_handle_health(struct fcgi_req *r);
int fcgi_ops_handle_status(struct fcgi_req *r);
int fcgi_ops_handle_metrics(struct fcgi_req *r);
int fcgi_ops_handle_overview(struct fcgi_req *r);

/* An integer query parameter name (absent: dflt), clamped to [min, max].
 * SB_OK, or SB_ERR after answering 422 invalid_parameter when it is not
 * an integer. */
int fcgi_ops_int_param(struct fcgi_req *r, const char *name, long long dflt,
                       long long min, long long max, long long *v);
/* The token may read the overview, and window_hours (default 24, clamped
 * to 1..168) into *hours. SB_OK, or SB_ERR after answering. */
int fcgi_ops_overview_params(struct fcgi_req *r, long long *hours);
/* {"window_hours","generated_at","data"} from a FCGI_OVERVIEW_SQL result.
 * The caller frees it. */
char *fcgi_ops_overview_body(long long hours, const PGresult *res);

#endif
