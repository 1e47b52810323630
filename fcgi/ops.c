/*
 * ops.c: health, status, Prometheus metrics and the metrics overview (see
 * ops.h).
 *
 * The overview is computed from the views the application role may read
 * (event_log, live_nodes, channel_summary) and workflow_stats(): its
 * "tasks" counts every task of every workflow channel, not only those
 * created within the window (the role cannot read switchboard.tasks).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "auth.h"
#include "buf.h"
#include "chan.h"
#include "db.h"
#include "ops.h"
#include "xalloc.h"

#define STATUS_SQL                                                             \
    "SELECT id, kind, host, pid, switchboard.time_text(started_at), "         \
    "switchboard.time_text(seen_at), connections, subscriptions FROM "         \
    "switchboard.live_nodes ORDER BY kind, id"

#define OVERVIEW_SQL                                                           \
    "WITH e AS (SELECT channel, type, data->>'level' AS level FROM "           \
    "switchboard.event_log WHERE time >= now() - make_interval(hours => "      \
    "$1::integer)), "                                                          \
    "n AS (SELECT kind, count(*) AS c, sum(connections) AS conns, "            \
    "sum(subscriptions) AS subs FROM switchboard.live_nodes GROUP BY kind), "  \
    "t AS (SELECT switchboard.workflow_stats(channel) AS s FROM "              \
    "switchboard.channel_summary WHERE namespace = 'workflow') "               \
    "SELECT switchboard.time_text(now()), json_build_object("                  \
    "'events', json_build_object('total', (SELECT count(*) FROM e), "          \
    "'by_namespace', (SELECT coalesce(json_object_agg(ns, c), '{}') FROM "     \
    "(SELECT split_part(channel, ':', 1) AS ns, count(*) AS c FROM e GROUP "   \
    "BY 1) x)), "                                                              \
    "'chat', (SELECT json_build_object("                                       \
    "'messages', count(*) FILTER (WHERE type = 'message'), "                   \
    "'replies', count(*) FILTER (WHERE type = 'reply'), "                      \
    "'tool_calls', count(*) FILTER (WHERE type = 'tool_call'), "               \
    "'errors', count(*) FILTER (WHERE type = 'error'), "                       \
    "'cancelled', count(*) FILTER (WHERE type = 'cancelled')) "                \
    "FROM e WHERE channel LIKE 'chat:%'), "                                    \
    "'activity', (SELECT json_build_object("                                   \
    "'info', count(*) FILTER (WHERE level = 'info'), "                         \
    "'success', count(*) FILTER (WHERE level = 'success'), "                   \
    "'warning', count(*) FILTER (WHERE level = 'warning'), "                   \
    "'error', count(*) FILTER (WHERE level = 'error')) "                       \
    "FROM e WHERE type = 'log'), "                                             \
    "'tasks', (SELECT json_build_object("                                      \
    "'queued', coalesce(sum((s->>'queued')::bigint), 0), "                     \
    "'active', coalesce(sum((s->>'active')::bigint), 0), "                     \
    "'completed', coalesce(sum((s->>'completed')::bigint), 0), "               \
    "'failed', coalesce(sum((s->>'failed')::bigint), 0), "                     \
    "'cancelled', coalesce(sum((s->>'cancelled')::bigint), 0), "               \
    "'total', coalesce(sum((s->>'total')::bigint), 0)) FROM t), "              \
    "'nodes', (SELECT json_build_object("                                      \
    "'wsd', coalesce(sum(c) FILTER (WHERE kind = 'wsd'), 0), "                 \
    "'fcgi', coalesce(sum(c) FILTER (WHERE kind = 'fcgi'), 0)) FROM n), "      \
    "'connections', (SELECT coalesce(sum(conns), 0) FROM n), "                 \
    "'subscriptions', (SELECT coalesce(sum(subs), 0) FROM n))::text"

#define OVERVIEW_CHANNEL "metrics:overview"
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
metric(struct fcgi_buf *b, const char *name, const char *type,
       const char *help, long long value)
{
    fcgi_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s{node=\"%s\"} %lld\n",
                    name, help, name, type, name, fcgi_app.common.node_id,
                    value);
}

static void
publishes(struct fcgi_buf *b)
{
    static const char *const name = "switchboard_publishes_total";
    const char *node = fcgi_app.common.node_id;

    fcgi_buf_printf(b,
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
requests(struct fcgi_buf *b)
{
    static const char *const name = "switchboard_http_requests_total";

    fcgi_buf_printf(b, "# HELP %s requests answered, by HTTP status\n"
                       "# TYPE %s counter\n",
                    name, name);
    for (int s = 100; s < 600; s++) {
        long long v = atomic_load(&fcgi_app.n.by_status[s]);

        if (v > 0)
            fcgi_buf_printf(b, "%s{node=\"%s\",code=\"%d\"} %lld\n", name,
                            fcgi_app.common.node_id, s, v);
    }
}

int
fcgi_ops_handle_metrics(struct fcgi_req *r)
{
    struct fcgi_counters *n = &fcgi_app.n;
    struct fcgi_buf b = {0};

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
    publishes(&b);
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
    fcgi_buf_release(&b);
    return SB_OK;
}

/* window_hours: an integer, clamped to 1..WINDOW_MAX. */
static int
window(struct fcgi_req *r, long long *hours)
{
    const char *text = fcgi_query_get(r->query, "window_hours");
    char *end;

    *hours = WINDOW_DEFAULT;
    if (text == NULL)
        return SB_OK;
    *hours = strtoll(text, &end, 10);
    if (*text == '\0' || *end != '\0' || strlen(text) > 18)
        return fcgi_req_fail(r, SB_E_INVALID_PARAMETER,
                             "invalid parameter: window_hours must be an "
                             "integer");
    *hours = *hours < 1 ? 1 : *hours > WINDOW_MAX ? WINDOW_MAX : *hours;
    return SB_OK;
}

int
fcgi_ops_handle_overview(struct fcgi_req *r)
{
    long long hours;
    char h[16];
    const char *params[1] = {h};
    struct sb_error err;
    PGresult *res;
    char *body;

    if (fcgi_auth_allow(r, SB_VERB_READ, OVERVIEW_CHANNEL) != SB_OK ||
        window(r, &hours) != SB_OK)
        return SB_ERR;
    snprintf(h, sizeof(h), "%lld", hours);
    res = fcgi_db_exec(r->db, OVERVIEW_SQL, 1, params, true, &err);
    if (res == NULL)
        return fcgi_req_error(r, &err, NULL);
    body = sb_asprintf("{\"window_hours\":%lld,\"generated_at\":\"%s\","
                       "\"data\":%s}",
                       hours, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
    PQclear(res);
    fcgi_req_reply(r, 200, body);
    free(body);
    return SB_OK;
}
