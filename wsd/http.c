/*
 * http.c: /healthz, /metrics and /status (see http.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "db.h"
#include "http.h"
#include "limits.h"
#include "metrics.h"
#include "token.h"
#include "wsd.h"
#include "xalloc.h"

#define JSON_TYPE "application/json; charset=utf-8"
#define PROM_TYPE "text/plain; version=0.0.4"
#define STATUS_SQL                                                             \
    "SELECT coalesce(json_agg(json_build_object('id', id, 'kind', kind, "      \
    "'host', host, 'pid', pid, 'started_at', "                                 \
    "switchboard.time_text(started_at), 'seen_at', "                           \
    "switchboard.time_text(seen_at), 'connections', connections, "            \
    "'subscriptions', subscriptions) ORDER BY kind, id), '[]')::text, "        \
    "count(*), coalesce(sum(connections), 0), "                                \
    "coalesce(sum(subscriptions), 0) FROM switchboard.live_nodes"

struct wsd_http {
    struct lws *wsi; /* NULL once the client went away */
    int status;
    const char *type;
    struct wsd_buf *body; /* NULL until the answer is known */
    bool headers_sent;
};

static void
http_free(struct wsd_http *h)
{
    if (h == NULL)
        return;
    wsd_buf_unref(h->body);
    free(h);
}

static void
answer(struct wsd_http *h, int status, const char *type, const char *text)
{
    h->status = status;
    h->type = type;
    h->body = wsd_buf_from_text(text, strlen(text));
    lws_callback_on_writable(h->wsi);
}

/* The JSON error body {"error":{"code","message"}}; code and message are
 * ours (no escaping needed). A new string. */
static char *
error_text(const char *code, const char *message)
{
    return sb_asprintf("{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}",
                       code, message);
}

static void
answer_error(struct wsd_http *h, int status, const char *code,
             const char *message)
{
    char *text = error_text(code, message);

    answer(h, status, JSON_TYPE, text);
    free(text);
}

/* The headers every answer has: status, type, length, no caching, and
 * Retry-After on a 503. Non-zero when they do not fit. */
static int
add_headers(struct lws *wsi, unsigned status, const char *type, size_t len,
            unsigned char **p, unsigned char *end)
{
    return lws_add_http_common_headers(wsi, status, type, (lws_filepos_t)len,
                                       p, end) ||
           lws_add_http_header_by_name(wsi,
                                       (const unsigned char *)"cache-control:",
                                       (const unsigned char *)"no-store", 8, p,
                                       end) ||
           (status == 503 &&
            lws_add_http_header_by_name(wsi,
                                        (const unsigned char *)"retry-after:",
                                        (const unsigned char *)"1", 1, p, end));
}

/* --- endpoints --- */

static void
healthz(struct wsd_http *h)
{
    bool db = wsd_db_up(), listen = wsd_db_listening();
    char *text = sb_asprintf(
        "{\"status\":\"%s\",\"node\":\"%s\",\"database\":\"%s\","
        "\"listen\":\"%s\"}",
        db && listen ? "ok" : "unavailable", wsd_srv.common.node_id,
        db ? "up" : "down", listen ? "up" : "down");

    answer(h, db && listen ? 200 : 503, JSON_TYPE, text);
    free(text);
}

static void
metrics(struct wsd_http *h)
{
    size_t len;
    char *text = wsd_metrics_text(&len);

    answer(h, 200, PROM_TYPE, text);
    free(text);
}

static void
status_done(PGresult *res, const struct sb_error *err, void *arg)
{
    struct wsd_http *h = arg;
    char *text;

    if (h->wsi == NULL) {
        http_free(h);
        return;
    }
    if (res == NULL || PQntuples(res) != 1) {
        answer_error(h, 503, "unavailable", "unavailable: database unreachable");
        return;
    }
    text = sb_asprintf("{\"node\":\"%s\",\"nodes\":%s,\"totals\":{\"nodes\":%s,"
                       "\"connections\":%s,\"subscriptions\":%s}}",
                       wsd_srv.common.node_id, PQgetvalue(res, 0, 0),
                       PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2),
                       PQgetvalue(res, 0, 3));
    answer(h, 200, JSON_TYPE, text);
    free(text);
}

/* The HTTP status the Authorization header earns for /status: 0 for a
 * valid admin token, 403 for a valid token of another role, 401 for a
 * missing or invalid one. */
static int
admin_check(struct lws *wsi)
{
    char buf[SB_TOKEN_MAX + 16];
    struct sb_error err;
    struct sb_token *t;
    int len = lws_hdr_copy(wsi, buf, sizeof(buf), WSI_TOKEN_HTTP_AUTHORIZATION);
    int status;

    if (len <= 7 || strncasecmp(buf, "Bearer ", 7) != 0 ||
        wsd_srv.secret == NULL)
        return 401;
    t = sb_token_verify(buf + 7, (size_t)len - 7, wsd_srv.secret,
                        wsd_srv.secret_len, time(NULL), &err);
    if (t == NULL)
        return 401;
    status = t->role == SB_ROLE_ADMIN ? 0 : 403;
    sb_token_free(t);
    return status;
}

static void
status(struct wsd_http *h)
{
    int refused = admin_check(h->wsi);

    if (refused == 401) {
        wsd_stats.auth_failures++;
        answer_error(h, 401, "unauthorized", "unauthorized: an admin token "
                                             "is needed");
        return;
    }
    if (refused == 403) {
        answer_error(h, 403, "forbidden", "forbidden: an admin token is "
                                          "needed");
        return;
    }
    if (wsd_db_read(STATUS_SQL, 0, NULL, status_done, h) != SB_OK)
        answer_error(h, 503, "unavailable", "unavailable: database unreachable");
}

/* --- the callbacks --- */

int
wsd_http_handle_request(struct lws *wsi, struct wsd_http **slot,
                        const char *uri)
{
    struct wsd_http *h = sb_calloc(1, sizeof(*h));

    h->wsi = wsi;
    *slot = h;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0)
        answer_error(h, 405, "method_not_allowed", "method not allowed");
    else if (strcmp(uri, "/healthz") == 0)
        healthz(h);
    else if (strcmp(uri, "/metrics") == 0)
        metrics(h);
    else if (strcmp(uri, "/status") == 0)
        status(h);
    else
        answer_error(h, 404, "not_found", "not found");
    return 0;
}

static int
write_headers(struct lws *wsi, struct wsd_http *h)
{
    unsigned char buf[LWS_PRE + 512];
    unsigned char *start = buf + LWS_PRE, *p = start;
    unsigned char *end = buf + sizeof(buf) - 1;

    if (add_headers(wsi, (unsigned)h->status, h->type, h->body->len, &p,
                    end) ||
        lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    h->headers_sent = true;
    lws_callback_on_writable(wsi);
    return 0;
}

int
wsd_http_refuse(struct lws *wsi, unsigned status, const char *code,
                const char *message)
{
    unsigned char buf[LWS_PRE + 1024];
    unsigned char *start = buf + LWS_PRE, *p = start;
    unsigned char *end = buf + sizeof(buf) - 1;
    char *body = error_text(code, message);
    size_t n = strlen(body);
    int rc = -1;

    if (add_headers(wsi, status, JSON_TYPE, n, &p, end) == 0 &&
        lws_finalize_http_header(wsi, &p, end) == 0 &&
        (size_t)(end - p) >= n) {
        memcpy(p, body, n);
        p += n;
        if (lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP) ==
            (int)(p - start))
            rc = 0;
    }
    free(body);
    return rc;
}

int
wsd_http_handle_writable(struct lws *wsi, struct wsd_http **slot)
{
    struct wsd_http *h = *slot;

    if (h == NULL || h->body == NULL)
        return 0;
    if (!h->headers_sent)
        return write_headers(wsi, h);
    if (lws_write(wsi, wsd_buf_payload(h->body), h->body->len,
                  LWS_WRITE_HTTP_FINAL) < 0)
        return -1;
    http_free(h);
    *slot = NULL;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

void
wsd_http_handle_closed(struct wsd_http **slot)
{
    struct wsd_http *h = *slot;

    *slot = NULL;
    if (h == NULL)
        return;
    if (h->body == NULL) { /* a query still holds it */
        h->wsi = NULL;
        return;
    }
    http_free(h);
}
