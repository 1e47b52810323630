/*
 * poll.c: long-polling (see poll.h). The answer is gathered in the parked
 * request as JSON text (events are spliced in as the database printed
 * them), so the worker's immediate answer and the waiter's later one are
 * the same code.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "auth.h"
#include "body.h"
#include "catchup.h"
#include "cursor.h"
#include "limits.h"
#include "poll.h"
#include "waiter.h"
#include "xalloc.h"

#define DEFAULT_LIMIT 100

struct poll_args {
    struct fcgi_parked *p;
    long long timeout_ms;
    long long limit;
};

/* --- the answer --- */

int
fcgi_poll_add_event(struct fcgi_parked *p, size_t i, int64_t seq,
                    const char *event, size_t len)
{
    if ((long long)p->nevents >= p->limit)
        return SB_ERR;
    if (p->nevents++ > 0)
        sb_strbuf_put(&p->events, ",", 1);
    sb_strbuf_put(&p->events, event, len);
    p->pos[i].cursor = seq;
    return SB_OK;
}

int
fcgi_poll_add_signal(struct fcgi_parked *p, const char *event, size_t len)
{
    if ((long long)p->nevents >= p->limit)
        return SB_ERR;
    if (p->nevents++ > 0)
        sb_strbuf_put(&p->events, ",", 1);
    sb_strbuf_put(&p->events, event, len);
    return SB_OK;
}

void
fcgi_poll_add_reload(struct fcgi_parked *p, size_t i, const char *reason,
                     int64_t last_seq, int64_t oldest_seq)
{
    sb_strbuf_printf(&p->reload,
                    "%s{\"channel\":\"%s\",\"reason\":\"%s\",\"last_seq\":%lld,"
                    "\"oldest_seq\":%lld}",
                    p->reload.len > 0 ? "," : "", p->pos[i].channel, reason,
                    (long long)last_seq, (long long)oldest_seq);
    p->pos[i].cursor = last_seq;
}

void
fcgi_poll_answer(struct fcgi_parked *p)
{
    struct sb_strbuf b = {0};
    bool nothing = p->nevents == 0 && p->reload.len == 0;

    sb_strbuf_puts(&b, "{\"events\":[");
    if (p->events.len > 0)
        sb_strbuf_put(&b, p->events.data, p->events.len);
    sb_strbuf_puts(&b, "],\"cursors\":{");
    for (size_t i = 0; i < p->npos; i++)
        sb_strbuf_printf(&b, "%s\"%s\":%lld", i > 0 ? "," : "",
                        p->pos[i].channel, (long long)p->pos[i].cursor);
    sb_strbuf_printf(&b, "},\"timeout\":%s", nothing ? "true" : "false");
    if (p->reload.len > 0) {
        sb_strbuf_puts(&b, ",\"reload\":[");
        sb_strbuf_put(&b, p->reload.data, p->reload.len);
        sb_strbuf_puts(&b, "]");
    }
    sb_strbuf_puts(&b, "}");
    fcgi_req_reply(p->req, 200, b.data);
    sb_strbuf_release(&b);
}

/* --- parsing --- */

static int
add_pos(struct fcgi_req *r, struct poll_args *a, const struct fcgi_pos *pos)
{
    struct fcgi_parked *p = a->p;

    if (fcgi_parked_find(p, pos->channel) >= 0)
        return fcgi_req_fail(r, SB_E_INVALID_CURSOR,
                             "invalid cursor: %s is named twice",
                             pos->channel);
    p->pos[p->npos++] = *pos;
    return SB_OK;
}

static int
check_count(struct fcgi_req *r, size_t n)
{
    if (n == 0)
        return fcgi_req_fail(r, SB_E_INVALID_PARAMETER,
                             "invalid parameter: no channel to poll");
    if ((long long)n > fcgi_app.conf.max_subscriptions)
        return fcgi_req_fail(r, SB_E_INVALID_PARAMETER,
                             "invalid parameter: %zu channels, at most %lld",
                             n, fcgi_app.conf.max_subscriptions);
    return SB_OK;
}

/* An integer parameter within [min, max]; absent leaves *v. */
static int
int_param(struct fcgi_req *r, const char *name, const json_t *j,
          const char *text, long long min, long long max, long long *v)
{
    long long x;

    if (j != NULL && json_is_integer(j))
        x = json_integer_value(j);
    else if (j != NULL || (text != NULL &&
                           fcgi_cursor_seq(text, strlen(text), &x) != SB_OK))
        x = min - 1;
    else if (text == NULL)
        return SB_OK;
    if (x < min || x > max)
        return fcgi_req_fail(r, SB_E_INVALID_PARAMETER,
                             "invalid parameter: %s must be an integer from "
                             "%lld to %lld",
                             name, min, max);
    *v = x;
    return SB_OK;
}

static int
parse_get(struct fcgi_req *r, struct poll_args *a)
{
    struct fcgi_query *q = r->query;
    size_t n = fcgi_query_count(q, "cursor");
    struct sb_error err;
    long long secs = fcgi_app.conf.poll_timeout_ms / 1000;

    if (check_count(r, n) != SB_OK)
        return SB_ERR;
    a->p = fcgi_parked_new(r, FCGI_PARK_POLL, n);
    a->p->npos = 0;
    for (size_t i = 0; i < q->count; i++) {
        struct fcgi_pos pos = {0};

        if (strcmp(q->pairs[i].name, "cursor") != 0)
            continue;
        if (fcgi_cursor_parse(q->pairs[i].value, strlen(q->pairs[i].value),
                              &pos, &err) != SB_OK)
            return fcgi_req_error(r, &err, NULL);
        if (add_pos(r, a, &pos) != SB_OK)
            return SB_ERR;
    }
    if (int_param(r, "timeout", NULL, fcgi_query_get(q, "timeout"), 0,
                  fcgi_app.conf.poll_timeout_max_ms / 1000, &secs) != SB_OK ||
        int_param(r, "limit", NULL, fcgi_query_get(q, "limit"), 1,
                  SB_HISTORY_MAX, &a->limit) != SB_OK)
        return SB_ERR;
    a->timeout_ms = secs * 1000;
    return SB_OK;
}

static int
body_pos(struct fcgi_req *r, struct poll_args *a, const char *channel,
         const json_t *v)
{
    struct fcgi_pos pos = {0};
    struct sb_error err;

    if (fcgi_cursor_parse(channel, strlen(channel), &pos, &err) != SB_OK ||
        (pos.cursor != FCGI_FROM_NOW &&
         sb_error_set(&err, SB_E_INVALID_CHANNEL,
                      "invalid channel: %.170s", channel) != SB_OK))
        return fcgi_req_error(r, &err, NULL);
    if (!json_is_null(v) && (!json_is_integer(v) || json_integer_value(v) < 0))
        return fcgi_req_fail(r, SB_E_INVALID_CURSOR,
                             "invalid cursor: %s must map to a seq >= 0 or "
                             "null",
                             channel);
    pos.cursor = json_is_null(v) ? FCGI_FROM_NOW : json_integer_value(v);
    return add_pos(r, a, &pos);
}

static int
parse_body(struct fcgi_req *r, struct poll_args *a, json_t *body)
{
    static const char *const known[] = {"cursors", "timeout", "limit", NULL};
    json_t *cursors = json_object_get(body, "cursors");
    long long secs = fcgi_app.conf.poll_timeout_ms / 1000;
    const char *key;
    json_t *v;

    if (fcgi_body_known(r, body, known) != SB_OK)
        return SB_ERR;
    if (!json_is_object(cursors))
        return fcgi_req_fail(r, SB_E_BAD_REQUEST,
                             "bad request: \"cursors\" must be an object");
    if (check_count(r, json_object_size(cursors)) != SB_OK)
        return SB_ERR;
    a->p = fcgi_parked_new(r, FCGI_PARK_POLL, json_object_size(cursors));
    a->p->npos = 0;
    json_object_foreach(cursors, key, v)
    {
        if (body_pos(r, a, key, v) != SB_OK)
            return SB_ERR;
    }
    if (int_param(r, "timeout", json_object_get(body, "timeout"), NULL, 0,
                  fcgi_app.conf.poll_timeout_max_ms / 1000, &secs) != SB_OK ||
        int_param(r, "limit", json_object_get(body, "limit"), NULL, 1,
                  SB_HISTORY_MAX, &a->limit) != SB_OK)
        return SB_ERR;
    a->timeout_ms = secs * 1000;
    return SB_OK;
}

static int
parse(struct fcgi_req *r, struct poll_args *a)
{
    json_t *body;
    int rc;

    a->limit = DEFAULT_LIMIT;
    if (strcmp(r->method, "GET") == 0)
        return parse_get(r, a);
    body = fcgi_body_json(r);
    if (body == NULL)
        return SB_ERR;
    rc = parse_body(r, a, body);
    json_decref(body);
    return rc;
}

/* --- the first read, and parking --- */

static void
take(struct fcgi_parked *p, const struct fcgi_catchup *c)
{
    for (size_t i = 0; i < p->npos; i++) {
        const struct fcgi_catchup_chan *cc = &c->chans[i];

        if (cc->reload != NULL)
            fcgi_poll_add_reload(p, i, cc->reload, cc->last_seq,
                                 cc->oldest_seq);
        else if (p->pos[i].cursor == FCGI_FROM_NOW)
            p->pos[i].cursor = cc->last_seq;
        for (size_t k = 0; k < cc->count; k++) {
            const struct fcgi_catchup_row *row = &c->rows[cc->first + k];

            if (fcgi_poll_add_event(p, i, row->seq, row->event, row->len) !=
                SB_OK)
                return;
        }
    }
}

/* Milliseconds until the token expires, with the leeway its check
 * allows (never negative). */
static long long
token_left_ms(const struct fcgi_req *r)
{
    long long left =
        (r->token->exp + SB_TOKEN_LEEWAY) * 1000 - fcgi_now_ms();

    return left > 0 ? left : 0;
}

static int
park(struct fcgi_req *r, struct poll_args *a, uint64_t gen)
{
    struct fcgi_parked *p = a->p;
    long long wait = a->timeout_ms;

    if (token_left_ms(r) < wait)
        wait = token_left_ms(r);
    p->gen = gen;
    p->deadline = fcgi_mono_ms() + wait;
    p->expires = p->deadline;
    if (fcgi_waiter_park(p) == SB_OK)
        return SB_AGAIN;
    return fcgi_req_fail(r, SB_E_UNAVAILABLE,
                         "unavailable: too many waiting requests");
}

/* The first read, unless the doorbells tell enough: nothing when every
 * cursor is its channel's last seq (a re-poll right after an answer), or,
 * for a poll that may wait, when some are behind: it parks and the waiter
 * reads those channels once for all such polls. Else the catch-up read.
 * *gen: the doorbell generation the outcome holds for. */
static int
first_read(struct fcgi_req *r, struct fcgi_parked *p, bool may_wait,
           uint64_t *gen)
{
    enum fcgi_known k = fcgi_waiter_known(p->pos, p->npos, gen);
    struct sb_error err;
    struct fcgi_catchup *c;

    if (k == FCGI_KNOWN_CURRENT || (k == FCGI_KNOWN_BEHIND && may_wait)) {
        p->behind = k == FCGI_KNOWN_BEHIND;
        atomic_fetch_add(&fcgi_app.n.poll_known, 1);
        return SB_OK;
    }
    *gen = fcgi_waiter_gen();
    c = fcgi_catchup_read(r->db, NULL, p->pos, p->npos, (int)p->limit, &err);
    if (c == NULL)
        return fcgi_req_error(r, &err, NULL);
    take(p, c);
    fcgi_catchup_free(c);
    return SB_OK;
}

static int
answer_or_park(struct fcgi_req *r, struct poll_args *a)
{
    struct fcgi_parked *p = a->p;
    bool may_wait = a->timeout_ms > 0 && token_left_ms(r) > 0;
    uint64_t gen;

    p->limit = a->limit;
    if (first_read(r, p, may_wait, &gen) != SB_OK)
        return SB_ERR;
    if (p->nevents > 0 || p->reload.len > 0 || !may_wait) {
        fcgi_poll_answer(p);
        return SB_OK;
    }
    return park(r, a, gen);
}

int
fcgi_poll_handle(struct fcgi_req *r)
{
    struct poll_args a = {0};
    int rc = parse(r, &a);

    for (size_t i = 0; rc == SB_OK && i < a.p->npos; i++)
        rc = fcgi_auth_allow(r, SB_VERB_READ, a.p->pos[i].channel);
    if (rc == SB_OK)
        rc = answer_or_park(r, &a);
    if (rc != SB_AGAIN)
        fcgi_parked_release(a.p);
    return rc;
}
