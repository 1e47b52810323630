/*
 * metricsub.c: metrics snapshots over SSE (see metricsub.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "db.h"
#include "log.h"
#include "metricsub.h"
#include "ops.h"
#include "pg.h"
#include "sse.h"
#include "waiter.h"
#include "xalloc.h"

#define INTERVAL_DEFAULT 5
#define INTERVAL_MAX     60

/* The next look of a stream with this interval after now: the grid. */
static int64_t
next_due(int64_t interval_ms, int64_t now)
{
    return (now / interval_ms + 1) * interval_ms;
}

/* Where the "data" member's value starts in a snapshot body. */
static size_t
data_offset(const char *body)
{
    const char *d = strstr(body, "\"data\":");

    return d != NULL ? (size_t)(d - body) + 7 : 0;
}

/* Send body if its data differs from the last sent. SB_OK or SB_ERR. */
static int
send_if_changed(struct fcgi_parked *p, const char *body, size_t data_at)
{
    const char *data = body + data_at;
    size_t len = strlen(data) - 1; /* without the body's closing brace */
    struct sb_strbuf b = {0};
    int rc;

    if (p->last_data != NULL && strlen(p->last_data) == len &&
        memcmp(p->last_data, data, len) == 0)
        return SB_OK;
    free(p->last_data);
    p->last_data = sb_malloc(len + 1);
    memcpy(p->last_data, data, len);
    p->last_data[len] = '\0';
    sb_strbuf_printf(&b, "event: metrics\ndata: %s\n\n", body);
    rc = fcgi_req_write(p->req, b.data, b.len);
    if (rc == SB_OK)
        rc = fcgi_req_flush(p->req);
    p->wrote_at = fcgi_mono_ms();
    sb_strbuf_release(&b);
    return rc;
}

/* --- the request --- */

static int
first_snapshot(struct fcgi_req *r, struct fcgi_parked *p)
{
    char h[24];
    const char *params[1] = {h};
    struct sb_error err;
    PGresult *res;
    char *body;
    int rc;

    snprintf(h, sizeof(h), "%lld", p->window_hours);
    res = fcgi_db_exec(r->db, FCGI_OVERVIEW_SQL, 1, params, true, &err);
    if (res == NULL)
        return fcgi_req_error(r, &err, NULL);
    body = fcgi_ops_overview_body(p->window_hours, res);
    PQclear(res);
    rc = fcgi_sse_open(r);
    if (rc == SB_OK)
        rc = send_if_changed(p, body, data_offset(body));
    free(body);
    return rc == SB_OK ? SB_OK : SB_AGAIN; /* SB_AGAIN: the client left */
}

int
fcgi_metricsub_handle(struct fcgi_req *r)
{
    struct fcgi_parked *p = fcgi_parked_new(r, FCGI_PARK_METRICS, 0);
    long long interval;
    int rc;

    rc = fcgi_ops_overview_params(r, &p->window_hours);
    if (rc == SB_OK)
        rc = fcgi_ops_int_param(r, "interval_s", INTERVAL_DEFAULT, 1,
                                INTERVAL_MAX, &interval);
    if (rc == SB_OK && fcgi_waiter_park(NULL) != SB_OK)
        rc = fcgi_req_fail(r, SB_E_UNAVAILABLE,
                           "unavailable: too many waiting requests");
    if (rc == SB_OK)
        rc = first_snapshot(r, p);
    if (rc == SB_OK) {
        p->interval_ms = interval * 1000;
        p->due = next_due(p->interval_ms, fcgi_mono_ms());
        p->expires = fcgi_sse_expires(r);
        p->deadline = p->expires;
        if (fcgi_waiter_park(p) == SB_OK)
            return SB_AGAIN;
    }
    fcgi_parked_release(p);
    return rc == SB_ERR ? SB_ERR : SB_OK;
}

/* --- the waiter's looks --- */

void
fcgi_metricsub_round_reset(struct fcgi_metricsub_round *round)
{
    for (size_t i = 0; i < round->n; i++)
        free(round->v[i].body);
    round->n = 0;
}

/* The index of the round's snapshot for hours, read on conn when it has
 * none yet; FCGI_METRICSUB_WINDOWS when it cannot be read. */
static size_t
snapshot(struct fcgi_metricsub_round *round, PGconn *conn, long long hours)
{
    char h[24];
    const char *params[1] = {h};
    struct sb_error err;
    PGresult *res;
    size_t i;

    for (i = 0; i < round->n; i++) {
        if (round->v[i].hours == hours)
            return i;
    }
    if (conn == NULL || i == FCGI_METRICSUB_WINDOWS)
        return FCGI_METRICSUB_WINDOWS;
    snprintf(h, sizeof(h), "%lld", hours);
    res = PQexecParams(conn, FCGI_OVERVIEW_SQL, 1, NULL, params, NULL, NULL, 0);
    if (sb_pg_result_error(res, conn, &err) != SB_OK) {
        sb_log_warn("metrics stream: %s", err.message);
        PQclear(res);
        return FCGI_METRICSUB_WINDOWS;
    }
    round->v[i].hours = hours;
    round->v[i].body = fcgi_ops_overview_body(hours, res);
    round->v[i].data_at = data_offset(round->v[i].body);
    round->n++;
    PQclear(res);
    return i;
}

int
fcgi_metricsub_look(struct fcgi_parked *p, PGconn *conn,
                    struct fcgi_metricsub_round *round, int64_t now)
{
    size_t i = snapshot(round, conn, p->window_hours);

    p->due = next_due(p->interval_ms, now);
    if (i == FCGI_METRICSUB_WINDOWS)
        return SB_OK;
    return send_if_changed(p, round->v[i].body, round->v[i].data_at);
}
