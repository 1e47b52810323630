/*
 * sse.c: Server-Sent Events (see sse.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "auth.h"
#include "catchup.h"
#include "cursor.h"
#include "limits.h"
#include "sse.h"
#include "waiter.h"
#include "xalloc.h"

#define SSE_TYPE "text/event-stream; charset=utf-8"
/* Proxies that honour it (nginx) then stream instead of buffering. */
#define SSE_HEADERS "X-Accel-Buffering: no\r\n"

int
fcgi_event_field(const char *json, const char *key, char *out, size_t size)
{
    char pat[24];
    const char *p, *end;

    snprintf(pat, sizeof(pat), "\"%s\":\"", key);
    p = strstr(json, pat);
    if (p == NULL)
        return SB_ERR;
    p += strlen(pat);
    end = strchr(p, '"');
    if (end == NULL || (size_t)(end - p) >= size)
        return SB_ERR;
    memcpy(out, p, (size_t)(end - p));
    out[end - p] = '\0';
    return SB_OK;
}

/* --- writing --- */

static int
put(struct fcgi_parked *p, struct sb_strbuf *b)
{
    int rc = fcgi_req_write(p->req, b->data, b->len);

    p->wrote_at = fcgi_mono_ms();
    sb_strbuf_release(b);
    return rc;
}

static void
event_line(const struct fcgi_parked *p, const char *event, struct sb_strbuf *b)
{
    char type[SB_TYPE_MAX + 1];

    if (p->event_names &&
        fcgi_event_field(event, "type", type, sizeof(type)) == SB_OK)
        sb_strbuf_printf(b, "event: %s\n", type);
}

int
fcgi_sse_send_event(struct fcgi_parked *p, size_t i, int64_t seq,
                    const char *event, size_t len)
{
    struct sb_strbuf b = {0};

    p->pos[i].cursor = seq;
    sb_strbuf_puts(&b, "id: ");
    fcgi_cursor_format(p->pos, p->npos, &b);
    sb_strbuf_puts(&b, "\n");
    event_line(p, event, &b);
    sb_strbuf_puts(&b, "data: ");
    sb_strbuf_put(&b, event, len);
    sb_strbuf_puts(&b, "\n\n");
    return put(p, &b);
}

int
fcgi_sse_send_signal(struct fcgi_parked *p, const char *event, size_t len)
{
    struct sb_strbuf b = {0};

    event_line(p, event, &b);
    sb_strbuf_puts(&b, "data: ");
    sb_strbuf_put(&b, event, len);
    sb_strbuf_puts(&b, "\n\n");
    return put(p, &b);
}

int
fcgi_sse_send_reload(struct fcgi_parked *p, size_t i, const char *reason,
                     int64_t last_seq, int64_t oldest_seq)
{
    struct sb_strbuf b = {0};

    p->pos[i].cursor = last_seq;
    sb_strbuf_puts(&b, "id: ");
    fcgi_cursor_format(p->pos, p->npos, &b);
    sb_strbuf_printf(&b,
                    "\nevent: reload\ndata: {\"op\":\"reload\",\"channel\":"
                    "\"%s\",\"reason\":\"%s\",\"last_seq\":%lld,"
                    "\"oldest_seq\":%lld}\n\n",
                    p->pos[i].channel, reason, (long long)last_seq,
                    (long long)oldest_seq);
    return put(p, &b);
}

int
fcgi_sse_send_heartbeat(struct fcgi_parked *p)
{
    return fcgi_req_puts(p->req, ": heartbeat\n\n");
}

int
fcgi_sse_send_expired(struct fcgi_parked *p)
{
    return fcgi_req_puts(p->req,
                         "event: expired\ndata: {\"op\":\"error\",\"code\":"
                         "\"token_expired\",\"message\":\"token expired\"}"
                         "\n\n");
}

int
fcgi_sse_flush(struct fcgi_parked *p)
{
    return fcgi_req_flush(p->req);
}

/* --- parsing --- */

/* Split list at ',' into positions, each parsed by fcgi_cursor_parse. */
static int
parse_channels(struct fcgi_req *r, struct fcgi_parked *p, const char *list)
{
    struct sb_error err;

    for (const char *s = list; *s != '\0';) {
        size_t len = strcspn(s, ",");
        struct fcgi_pos pos = {0};

        if ((long long)p->npos >= fcgi_app.conf.max_subscriptions)
            return fcgi_req_fail(r, SB_E_INVALID_PARAMETER,
                                 "invalid parameter: more than %lld channels",
                                 fcgi_app.conf.max_subscriptions);
        if (fcgi_cursor_parse(s, len, &pos, &err) != SB_OK)
            return fcgi_req_error(r, &err, NULL);
        if (fcgi_parked_find(p, pos.channel) >= 0)
            return fcgi_req_fail(r, SB_E_INVALID_CURSOR,
                                 "invalid cursor: %s is named twice",
                                 pos.channel);
        p->pos[p->npos++] = pos;
        s += len;
        if (*s == ',')
            s++;
    }
    if (p->npos == 0)
        return fcgi_req_fail(r, SB_E_INVALID_PARAMETER,
                             "invalid parameter: channels is empty");
    return SB_OK;
}

/* Apply a combined cursor: its channels that the stream has. */
static int
apply_last_id(struct fcgi_req *r, struct fcgi_parked *p, const char *id)
{
    struct sb_error err;

    for (const char *s = id; *s != '\0';) {
        size_t len = strcspn(s, ",");
        struct fcgi_pos pos = {0};
        int i;

        if (fcgi_cursor_parse(s, len, &pos, &err) != SB_OK ||
            (pos.cursor == FCGI_FROM_NOW &&
             sb_error_set(&err, SB_E_INVALID_CURSOR,
                          "invalid cursor: %.*s has no @seq", (int)len,
                          s) != SB_OK)) {
            if (err.code == SB_E_INVALID_CHANNEL)
                err.code = SB_E_INVALID_CURSOR;
            return fcgi_req_error(r, &err, NULL);
        }
        i = fcgi_parked_find(p, pos.channel);
        if (i >= 0)
            p->pos[i].cursor = pos.cursor;
        s += len;
        if (*s == ',')
            s++;
    }
    return SB_OK;
}

static int
parse(struct fcgi_req *r, struct fcgi_parked *p)
{
    const char *channels = fcgi_query_get(r->query, "channels");
    const char *id = fcgi_req_param(r, "HTTP_LAST_EVENT_ID");
    const char *names = fcgi_query_get(r->query, "event_names");

    if (channels == NULL)
        return fcgi_req_fail(r, SB_E_INVALID_PARAMETER,
                             "invalid parameter: channels is required");
    if (names != NULL && strcmp(names, "0") != 0 && strcmp(names, "1") != 0)
        return fcgi_req_fail(r, SB_E_INVALID_PARAMETER,
                             "invalid parameter: event_names must be 0 or 1");
    p->event_names = names == NULL || strcmp(names, "1") == 0;
    if (id == NULL || *id == '\0')
        id = fcgi_query_get(r->query, "last_event_id");
    if (parse_channels(r, p, channels) != SB_OK)
        return SB_ERR;
    return id != NULL ? apply_last_id(r, p, id) : SB_OK;
}

/* --- replay and parking --- */

/* Write what c read; SB_OK, SB_AGAIN when a channel may have more. */
static int
replay(struct fcgi_parked *p, const struct fcgi_catchup *c)
{
    int rc = SB_OK;

    for (size_t i = 0; i < p->npos; i++) {
        if (p->pos[i].cursor == FCGI_FROM_NOW || c->chans[i].reload != NULL)
            p->pos[i].cursor = c->chans[i].last_seq;
    }
    for (size_t i = 0; i < p->npos; i++) {
        const struct fcgi_catchup_chan *cc = &c->chans[i];

        if (cc->reload != NULL &&
            fcgi_sse_send_reload(p, i, cc->reload, cc->last_seq,
                                 cc->oldest_seq) != SB_OK)
            return SB_ERR;
        for (size_t k = 0; k < cc->count; k++) {
            const struct fcgi_catchup_row *row = &c->rows[cc->first + k];

            if (fcgi_sse_send_event(p, i, row->seq, row->event, row->len) !=
                SB_OK)
                return SB_ERR;
        }
        if (cc->count == SB_HISTORY_MAX)
            rc = SB_AGAIN;
    }
    return rc;
}

int
fcgi_sse_open(struct fcgi_req *r)
{
    char retry[48];

    snprintf(retry, sizeof(retry), "retry: %lld\n\n",
             fcgi_app.conf.sse_retry_ms);
    if (fcgi_req_head(r, 200, SSE_TYPE, SSE_HEADERS) != SB_OK)
        return SB_ERR;
    return fcgi_req_puts(r, retry);
}

int64_t
fcgi_sse_expires(const struct fcgi_req *r)
{
    return fcgi_mono_ms() +
           ((r->token->exp + SB_TOKEN_LEEWAY) * 1000 - fcgi_now_ms());
}

static int
start(struct fcgi_req *r, struct fcgi_parked *p, struct fcgi_catchup *c)
{
    if (fcgi_sse_open(r) != SB_OK)
        return SB_ERR;
    return replay(p, c);
}

/* Read again while a channel had a full page (a long replay). */
static int
catch_up(struct fcgi_req *r, struct fcgi_parked *p, int rc)
{
    struct sb_error err;

    while (rc == SB_AGAIN) {
        struct fcgi_catchup *c;

        p->gen = fcgi_waiter_gen();
        c = fcgi_catchup_read(r->db, NULL, p->pos, p->npos, SB_HISTORY_MAX,
                              &err);
        if (c == NULL)
            return SB_ERR; /* the stream has begun: end it */
        rc = replay(p, c);
        fcgi_catchup_free(c);
    }
    return rc == SB_OK ? fcgi_req_flush(r) : SB_ERR;
}

static int
stream(struct fcgi_req *r, struct fcgi_parked *p)
{
    struct sb_error err;
    struct fcgi_catchup *c;
    int rc;

    p->gen = fcgi_waiter_gen();
    c = fcgi_catchup_read(r->db, NULL, p->pos, p->npos, SB_HISTORY_MAX, &err);
    if (c == NULL)
        return fcgi_req_error(r, &err, NULL);
    rc = start(r, p, c);
    fcgi_catchup_free(c);
    if (catch_up(r, p, rc) != SB_OK)
        return SB_OK; /* answered, if shortly */
    p->expires = fcgi_sse_expires(r);
    p->deadline = p->expires;
    if (fcgi_waiter_park(p) == SB_OK)
        return SB_AGAIN;
    return SB_OK; /* full: the stream ends; EventSource comes back */
}

int
fcgi_sse_handle(struct fcgi_req *r)
{
    struct fcgi_parked *p =
        fcgi_parked_new(r, FCGI_PARK_SSE, (size_t)fcgi_app.conf.max_subscriptions);
    int rc;

    p->npos = 0;
    rc = parse(r, p);
    for (size_t i = 0; rc == SB_OK && i < p->npos; i++)
        rc = fcgi_auth_allow(r, SB_VERB_READ, p->pos[i].channel);
    if (rc == SB_OK && fcgi_waiter_park(NULL) != SB_OK)
        rc = fcgi_req_fail(r, SB_E_UNAVAILABLE,
                           "unavailable: too many waiting requests");
    if (rc == SB_OK)
        rc = stream(r, p);
    if (rc != SB_AGAIN)
        fcgi_parked_release(p);
    return rc;
}
