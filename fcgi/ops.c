/*
 * ops.c: health, status, Prometheus metrics and the metrics overview (see
 * ops.h). The overview is switchboard.metrics_overview()'s.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "auth.h"
#include "strbuf.h"
#include "chan.h"
#include "commit.h"
#include "db.h"
#include "ops.h"
#include "xalloc.h"

#define STATUS_SQL                                                             \
    "SELECT id, kind, host, pid, switchboard.time_text(started_at), "         \
    "switchboard.time_text(seen_at), connections, subscriptions FROM "         \
    "switchboard.live_nodes ORDER BY kind, id"

#define WINDOW_DEFAULT 24
#define WINDOW_MAX 168

int
fcgi_ops_handle_health(struct fcgi_req *r)
{
    struct sb_error err;
    PGresult *res = fcgi_db_exec(r->db, "SELECT 1", 0, NULL, true, &err);
    bool db = res != NULL;
    bool listen = atomic_load(&fcgi_app.n.listen_up) != 0 ||
                  fcgi_app.mode == FCGI_MODE_CGI;
    char *body;

    PQclear(res);
    body = sb_asprintf("{\"status\":\"%s\",\"node\":\"%s\",\"database\":\"%s\","
                       "\"listen\":\"%s\"}",
                       db && listen ? "ok" : "unavailable",
                       fcgi_app.common.node_id, db ? "up" : "down",
                       listen ? "up" : "down");
    fcgi_req_reply(r, db && listen ? 200 : 503, body);
    free(body);
    return SB_OK;
}

static json_t *
node_object(PGresult *res, int i)
{
    return json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:I, s:I}", "id",
                     PQgetvalue(res, i, 0), "kind", PQgetvalue(res, i, 1),
                     "host", PQgetvalue(res, i, 2), "pid",
                     (json_int_t)atoll(PQgetvalue(res, i, 3)), "started_at",
                     PQgetvalue(res, i, 4), "seen_at", PQgetvalue(res, i, 5),
                     "connections", (json_int_t)atoll(PQgetvalue(res, i, 6)),
                     "subscriptions",
                     (json_int_t)atoll(PQgetvalue(res, i, 7)));
}

int
fcgi_ops_handle_status(struct fcgi_req *r)
{
    struct sb_error err;
    PGresult *res;
    json_t *nodes, *o;
    json_int_t conns = 0, subs = 0;

    if (r->token->role != SB_ROLE_ADMIN)
        return fcgi_req_fail(r, SB_E_FORBIDDEN,
                             "forbidden: /status needs an admin token");
    res = fcgi_db_exec(r->db, STATUS_SQL, 0, NULL, true, &err);
    if (res == NULL)
        return fcgi_req_error(r, &err, NULL);
    nodes = json_array();
    for (int i = 0; i < PQntuples(res); i++) {
        json_array_append_new(nodes, node_object(res, i));
        conns += atoll(PQgetvalue(res, i, 6));
        subs += atoll(PQgetvalue(res, i, 7));
    }
    o = json_pack("{s:s, s:o, s:{s:I, s:I, s:I}}", "node",
                  fcgi_app.common.node_id, "nodes", nodes, "totals", "nodes",
                  (json_int_t)PQntuples(res), "connections", conns,
                  "subscriptions", subs);
    PQclear(res);
    fcgi_req_reply_json(r, 200, o);
    json_decref(o);
    return SB_OK;
}

static void
metric(struct sb_strbuf *b, const char *name, const char *type,
       const char *help, long long value)
{
    sb_strbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s{node=\"%s\"} %lld\n",
                    name, help, name, type, name, fcgi_app.common.node_id,
                    value);
}

static void
publishes(struct sb_strbuf *b)
{
    static const char *const name = "switchboard_publishes_total";
    const char *node = fcgi_app.common.node_id;

    sb_strbuf_printf(b,
                    "# HELP %s durable events acknowledged, by result\n"
                    "# TYPE %s counter\n"
                    "%s{node=\"%s\",result=\"stored\"} %lld\n"
                    "%s{node=\"%s\",result=\"duplicate\"} %lld\n"
                    "%s{node=\"%s\",result=\"error\"} %lld\n",
                    name, name, name, node,
                    atomic_load(&fcgi_app.n.publish_stored), name, node,
                    atomic_load(&fcgi_app.n.publish_duplicate), name, node,
                    atomic_load(&fcgi_app.n.publish_error));
}

static void
requests(struct sb_strbuf *b)
{
    static const char *const name = "switchboard_http_requests_total";

    sb_strbuf_printf(b, "# HELP %s requests answered, by HTTP status\n"
                       "# TYPE %s counter\n",
                    name, name);
    for (int s = 100; s < 600; s++) {
        long long v = atomic_load(&fcgi_app.n.by_status[s]);

        if (v > 0)
            sb_strbuf_printf(b, "%s{node=\"%s\",code=\"%d\"} %lld\n", name,
                            fcgi_app.common.node_id, s, v);
    }
}

int
fcgi_ops_handle_metrics(struct fcgi_req *r)
{
    struct fcgi_counters *n = &fcgi_app.n;
    struct sb_strbuf b = {0};

    metric(&b, "switchboard_up", "gauge", "1", 1);
    metric(&b, "switchboard_db_connected", "gauge",
           "1 when the last query reached the database", atomic_load(&n->db_up));
    metric(&b, "switchboard_listen_connected", "gauge",
           "1 when the LISTEN connection is up", atomic_load(&n->listen_up));
    metric(&b, "switchboard_connections", "gauge",
           "parked long-polls and SSE streams", atomic_load(&n->parked));
    metric(&b, "switchboard_parked_requests", "gauge",
           "waiting long-polls and SSE streams", atomic_load(&n->parked));
    metric(&b, "switchboard_subscriptions", "gauge",
           "channels the parked requests wait on", atomic_load(&n->parked_subs));
    metric(&b, "switchboard_poll_known_total", "counter",
           "long-polls parked without their own database read: the "
           "doorbells told the last seq of every channel polled",
           atomic_load(&n->poll_known));
    publishes(&b);
    fcgi_commit_metrics(&b);
    metric(&b, "switchboard_signals_total", "counter", "signals sent",
           atomic_load(&n->signals));
    metric(&b, "switchboard_rate_limited_total", "counter",
           "requests refused with rate_limited", atomic_load(&n->rate_limited));
    metric(&b, "switchboard_auth_failures_total", "counter", "tokens refused",
           atomic_load(&n->auth_failures));
    metric(&b, "switchboard_db_reconnects_total", "counter",
           "database reconnections", atomic_load(&n->db_reconnects));
    requests(&b);
    if (fcgi_req_head(r, 200, "text/plain; version=0.0.4", NULL) == SB_OK)
        fcgi_req_write(r, b.data, b.len);
    sb_strbuf_release(&b);
    return SB_OK;
}

int
fcgi_ops_int_param(struct fcgi_req *r, const char *name, long long dflt,
                   long long min, long long max, long long *v)
{
    const char *text = fcgi_query_get(r->query, name);
    char *end;

    *v = dflt;
    if (text == NULL)
        return SB_OK;
    *v = strtoll(text, &end, 10);
    if (*text == '\0' || *end != '\0' || strlen(text) > 18)
        return fcgi_req_fail(r, SB_E_INVALID_PARAMETER,
                             "invalid parameter: %s must be an integer", name);
    *v = *v < min ? min : *v > max ? max : *v;
    return SB_OK;
}

int
fcgi_ops_overview_params(struct fcgi_req *r, long long *hours)
{
    if (fcgi_auth_allow(r, SB_VERB_READ, FCGI_OVERVIEW_CHANNEL) != SB_OK)
        return SB_ERR;
    return fcgi_ops_int_param(r, "window_hours", WINDOW_DEFAULT, 1, WINDOW_MAX,
                              hours);
}

char *
fcgi_ops_overview_body(long long hours, const PGresult *res)
{
    return sb_asprintf("{\"window_hours\":%lld,\"generated_at\":\"%s\","
                       "\"data\":%s}",
                       hours, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
}

int
fcgi_ops_handle_overview(struct fcgi_req *r)
{
    long long hours;
    char h[24];
    const char *params[1] = {h};
    struct sb_error err;
    PGresult *res;
    char *body;

    if (fcgi_ops_overview_params(r, &hours) != SB_OK)
        return SB_ERR;
    snprintf(h, sizeof(h), "%lld", hours);
    res = fcgi_db_exec(r->db, FCGI_OVERVIEW_SQL, 1, params, true, &err);
    if (res == NULL)
        return fcgi_req_error(r, &err, NULL);
    body = fcgi_ops_overview_body(hours, res);
    PQclear(res);
    fcgi_req_reply(r, 200, body);
    free(body);
    return SB_OK;
}
