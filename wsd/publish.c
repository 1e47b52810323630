/*
 * publish.c: publish and signal (see publish.h).
 *
 * Group commit: at most one batch is in flight on the writer. While it
 * runs, publishes gather; when it commits, everything gathered (up to
 * commit_batch) goes at once, so batches grow with the load instead of
 * queueing behind each other. commit_window bounds only how long the
 * first publish of an idle writer waits for company; at 0 (the default)
 * it goes when the loop turn that received it ends, with every publish
 * that turn read. (A batch that failed
 * for one bad element is retried element by element; those single
 * batches are in flight together.)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "envelope.h"
#include "limits.h"
#include "log.h"
#include "metrics.h"
#include "proto.h"
#include "publish.h"
#include "server.h"
#include "wsd.h"
#include "xalloc.h"

/* The audit rows of the publishes (one per sender, client address and
 * channel of each batch, with their seqs) are written by the same
 * statement: no round trip of their own, and only what was stored is
 * audited. */
#define BATCH_SQL                                                              \
    "SELECT ord, seq, id, duplicate FROM switchboard.publish_batch_audited("   \
    "$1::jsonb, $2, $3::jsonb)"
#define SIGNAL_SQL                                                             \
    "SELECT switchboard.signal($1, $2, $3::jsonb, $4)::json->>'id'"
#define RETRY_MS 1000

struct pending {
    struct pending *next;
    struct wsd_conn *c; /* a reference */
    json_t *ref;
    struct sb_event *ev;
    char *sender;
};

struct batch {
    struct pending *head, *tail;
    size_t n;
};

static struct batch gathering;
static lws_sorted_usec_list_t commit_sul;
static size_t in_flight;      /* publishes sent, not yet answered */
static size_t batches_flying; /* batches sent, not yet answered */

static void send_batch(struct batch *b);

/* --- rate limit --- */

static int
rate_take(const struct wsd_req *r)
{
    struct wsd_conn *c = r->c;
    double rate = (double)wsd_srv.conf.publish_rate;
    double burst = (double)wsd_srv.conf.publish_burst;
    int64_t now = wsd_mono_us();
    char msg[128];

    c->bucket = fmin(burst, c->bucket + (double)(now - c->bucket_us) / 1e6 *
                                            rate);
    c->bucket_us = now;
    if (c->bucket >= burst) /* quiet long enough to refill: forgiven */
        c->refusals = 0;
    if (c->bucket >= 1.0) {
        c->bucket -= 1.0;
        return SB_OK;
    }
    wsd_stats.rate_limited++;
    snprintf(msg, sizeof(msg), "rate limited: %lld messages/s, burst %lld",
             wsd_srv.conf.publish_rate, wsd_srv.conf.publish_burst);
    wsd_reply_error(c, r->ref, SB_E_RATE_LIMITED, msg, wsd_req_named(r),
                    (long long)ceil((1.0 - c->bucket) / rate * 1000.0));
    if (++c->refusals >= wsd_srv.conf.publish_burst)
        wsd_conn_close(c, SB_CLOSE_RATE_LIMITED, "rate limited", true);
    return SB_ERR;
}

/* --- answering --- */

static void
pending_free(struct pending *p)
{
    wsd_conn_unref(p->c);
    json_decref(p->ref);
    sb_event_free(p->ev);
    free(p->sender);
    free(p);
}

static void
ack(struct pending *p, const char *seq, const char *id, bool duplicate)
{
    json_t *o;

    if (duplicate)
        wsd_stats.publishes_duplicate++;
    else
        wsd_stats.publishes_stored++;
    if (!wsd_conn_alive(p->c))
        return;
    o = wsd_reply_new("ack", p->ref);
    json_object_set_new(o, "channel", json_string(p->ev->channel));
    json_object_set_new(o, "seq", json_integer(strtoll(seq, NULL, 10)));
    json_object_set_new(o, "id", json_string(id));
    json_object_set_new(o, "duplicate", json_boolean(duplicate));
    wsd_conn_send_json(p->c, o);
}

static void
fail(struct pending *p, const struct sb_error *err)
{
    wsd_stats.publishes_error++;
    if (wsd_conn_alive(p->c))
        wsd_reply_sberr(p->c, p->ref, err, p->ev->channel);
}

/* --- the batch --- */

static void
batch_add(struct batch *b, struct pending *p)
{
    p->next = NULL;
    if (b->tail != NULL)
        b->tail->next = p;
    else
        b->head = p;
    b->tail = p;
    b->n++;
}

/* The events of b as publish_batch takes them, and in *remotes the
 * clients' addresses in the same order; both new strings. */
static char *
batch_json(const struct batch *b, char **remotes)
{
    json_t *arr = json_array(), *addrs = json_array();
    char *text;

    for (const struct pending *p = b->head; p != NULL; p = p->next) {
        json_t *o = json_pack("{s:s, s:s, s:O, s:s}", "channel",
                              p->ev->channel, "type", p->ev->type, "data",
                              p->ev->data, "sender", p->sender);

        if (p->ev->id[0] != '\0')
            json_object_set_new(o, "id", json_string(p->ev->id));
        json_array_append_new(arr, o);
        json_array_append_new(addrs, json_string(p->c->remote));
    }
    text = json_dumps(arr, JSON_COMPACT);
    *remotes = json_dumps(addrs, JSON_COMPACT);
    json_decref(arr);
    json_decref(addrs);
    return text;
}

static struct pending **
batch_index(const struct batch *b)
{
    struct pending **index = sb_calloc(b->n, sizeof(*index));
    size_t i = 0;

    for (struct pending *p = b->head; p != NULL; p = p->next)
        index[i++] = p;
    return index;
}

static void
batch_free(struct batch *b)
{
    while (b->head != NULL) {
        struct pending *p = b->head;

        b->head = p->next;
        pending_free(p);
    }
    free(b);
}

static void
acks(struct batch *b, PGresult *res)
{
    struct pending **index = batch_index(b);
    int rows = PQntuples(res);

    for (int i = 0; i < rows; i++) {
        long ord = strtol(PQgetvalue(res, i, 0), NULL, 10);

        if (ord < 0 || (size_t)ord >= b->n || index[ord] == NULL)
            continue;
        ack(index[ord], PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
            PQgetvalue(res, i, 3)[0] == 't');
        index[ord] = NULL;
    }
    free(index);
}

/* One element was bad although it passed validation here (say, an unknown
 * namespace): publish every element alone, so only the bad one fails. */
static void
one_by_one(struct batch *b)
{
    while (b->head != NULL) {
        struct batch *single = sb_calloc(1, sizeof(*single));
        struct pending *p = b->head;

        b->head = p->next;
        batch_add(single, p);
        send_batch(single);
    }
    b->tail = NULL;
    b->n = 0;
}

/* "event 0: unknown namespace: x" from a batch of one reads better
 * without its prefix. */
static void
fail_single(struct pending *p, const struct sb_error *err)
{
    struct sb_error e = *err;
    const char *colon = strncmp(e.message, "event ", 6) == 0
                            ? strstr(e.message, ": ")
                            : NULL;

    if (colon != NULL)
        memmove(e.message, colon + 2, strlen(colon + 2) + 1);
    fail(p, &e);
}

static void send_gathered(void);

static void
batch_done(PGresult *res, const struct sb_error *err, void *arg)
{
    struct batch *b = arg;

    in_flight -= b->n;
    batches_flying--;
    if (res != NULL) {
        acks(b, res);
    } else if (err->code == SB_E_UNAVAILABLE || err->code == SB_E_INTERNAL) {
        for (struct pending *p = b->head; p != NULL; p = p->next)
            fail(p, err);
    } else if (b->n == 1) {
        fail_single(b->head, err);
    } else {
        one_by_one(b);
    }
    batch_free(b);
    if (batches_flying == 0 && gathering.n > 0)
        send_gathered();
}

static void
send_batch(struct batch *b)
{
    char *remotes;
    char *json = batch_json(b, &remotes);
    const char *params[3] = {json, wsd_srv.common.node_id, remotes};
    struct sb_error err;

    wsd_hist_observe(&wsd_stats.batch_size, (double)b->n);
    in_flight += b->n;
    batches_flying++;
    if (wsd_db_write(BATCH_SQL, 3, params, batch_done, b) != SB_OK) {
        sb_error_set(&err, SB_E_UNAVAILABLE, "unavailable: database "
                                             "unreachable");
        batch_done(NULL, &err, b);
    }
    free(json);
    free(remotes);
}

/* Send the first commit_batch of the gathered publishes as one batch;
 * the rest keep gathering for the next. */
static void
send_gathered(void)
{
    struct batch *b = sb_calloc(1, sizeof(*b));
    size_t max = (size_t)wsd_srv.common.commit_batch;

    lws_sul_cancel(&commit_sul);
    while (gathering.head != NULL && b->n < max) {
        struct pending *p = gathering.head;

        gathering.head = p->next;
        gathering.n--;
        batch_add(b, p);
    }
    if (gathering.head == NULL)
        gathering.tail = NULL;
    send_batch(b);
}

void
wsd_publish_flush(void)
{
    lws_sul_cancel(&commit_sul);
    if (gathering.n > 0 && batches_flying == 0)
        send_gathered();
}

static void
commit_cb(lws_sorted_usec_list_t *sul)
{
    wsd_publish_flush();
}

void
wsd_publish_turn_end(void)
{
    if (wsd_srv.conf.commit_window_ms == 0)
        wsd_publish_flush();
}

bool
wsd_publish_busy(void)
{
    return gathering.n > 0 || in_flight > 0;
}

/* --- the ops --- */

/* The event of a publish or signal message, validated; NULL after
 * answering the error. */
static struct sb_event *
read_event(const struct wsd_req *r, const char *channel)
{
    json_t *copy = json_copy(r->msg);
    struct sb_event *ev = NULL;
    struct sb_error err;

    json_object_del(copy, "op");
    json_object_del(copy, "ref");
    if (sb_event_from_json(copy, (size_t)wsd_srv.common.max_data_bytes, &ev,
                           &err) != SB_OK) {
        wsd_reply_sberr(r->c, r->ref, &err, channel);
    } else if (strncmp(ev->type, "presence.", 9) == 0) {
        /* PROTOCOL.md 1.4.4: the server alone sends presence events. */
        wsd_reply_error(r->c, r->ref, SB_E_FORBIDDEN,
                        "forbidden: presence.* events are sent by the server",
                        channel, -1);
        sb_event_free(ev);
        ev = NULL;
    }
    json_decref(copy);
    return ev;
}

static void
gather(const struct wsd_req *r, struct sb_event *ev)
{
    struct pending *p = sb_calloc(1, sizeof(*p));

    p->c = wsd_conn_ref(r->c);
    p->ref = json_deep_copy(r->ref);
    p->ev = ev;
    p->sender = sb_strdup(sb_token_sender(r->c->token));
    batch_add(&gathering, p);
    if (batches_flying > 0)
        return; /* sent when the running batch is answered */
    if (gathering.n >= (size_t)wsd_srv.common.commit_batch)
        send_gathered();
    else if (gathering.n == 1 && wsd_srv.conf.commit_window_ms > 0)
        wsd_timer_schedule(&commit_sul, commit_cb,
                           wsd_srv.conf.commit_window_ms * LWS_US_PER_MS);
}

void
wsd_publish_handle_publish(const struct wsd_req *r)
{
    static const char *const allowed[] = {"channel", "type", "data", "id",
                                          NULL};
    const char *channel;
    struct sb_event *ev;

    if (wsd_req_members(r, allowed) != SB_OK)
        return;
    if (r->ref == NULL) {
        wsd_reply_error(r->c, NULL, SB_E_BAD_REQUEST,
                        "bad request: publish needs a \"ref\"",
                        wsd_req_named(r), -1);
        return;
    }
    if (rate_take(r) != SB_OK ||
        (channel = wsd_req_channel(r, SB_VERB_PUBLISH)) == NULL ||
        (ev = read_event(r, channel)) == NULL)
        return;
    if (!wsd_db_up() || wsd_srv.phase != WSD_RUNNING) {
        wsd_stats.publishes_error++;
        wsd_reply_error(r->c, r->ref, SB_E_UNAVAILABLE,
                        "unavailable: database unreachable", channel,
                        RETRY_MS);
        sb_event_free(ev);
        return;
    }
    gather(r, ev);
}

/* --- signals --- */

struct signal_req {
    struct wsd_conn *c;
    json_t *ref;
    char *channel;
    char *type;
};

static void
signal_free(struct signal_req *s)
{
    wsd_conn_unref(s->c);
    json_decref(s->ref);
    free(s->channel);
    free(s->type);
    free(s);
}

static void
signal_done(PGresult *res, const struct sb_error *err, void *arg)
{
    struct signal_req *s = arg;
    char msg[SB_ERROR_MESSAGE_MAX + SB_TYPE_MAX + SB_CHANNEL_MAX + 16];
    json_t *o;

    if (res != NULL)
        wsd_stats.signals++;
    if (!wsd_conn_alive(s->c) || (res != NULL && s->ref == NULL)) {
        signal_free(s);
        return;
    }
    if (res == NULL) {
        snprintf(msg, sizeof(msg), "signal %s on %s: %s", s->type, s->channel,
                 err->message);
        wsd_reply_error(s->c, s->ref, err->code, s->ref ? err->message : msg,
                        s->channel,
                        err->code == SB_E_UNAVAILABLE ? RETRY_MS : -1);
    } else {
        o = wsd_reply_new("ack", s->ref);
        json_object_set_new(o, "channel", json_string(s->channel));
        json_object_set_new(o, "seq", json_null());
        json_object_set_new(o, "id", json_string(PQgetvalue(res, 0, 0)));
        json_object_set_new(o, "duplicate", json_false());
        wsd_conn_send_json(s->c, o);
    }
    signal_free(s);
}

static void
send_signal(const struct wsd_req *r, struct sb_event *ev)
{
    struct signal_req *s = sb_calloc(1, sizeof(*s));
    const char *params[4] = {ev->channel, ev->type, ev->data_text,
                             sb_token_sender(r->c->token)};
    struct sb_error err;

    s->c = wsd_conn_ref(r->c);
    s->ref = r->ref != NULL ? json_deep_copy(r->ref) : NULL;
    s->channel = sb_strdup(ev->channel);
    s->type = sb_strdup(ev->type);
    if (wsd_db_write(SIGNAL_SQL, 4, params, signal_done, s) != SB_OK) {
        sb_error_set(&err, SB_E_UNAVAILABLE, "unavailable: database "
                                             "unreachable");
        signal_done(NULL, &err, s);
    }
}

void
wsd_publish_handle_signal(const struct wsd_req *r)
{
    static const char *const allowed[] = {"channel", "type", "data", NULL};
    const char *channel;
    struct sb_event *ev;

    if (wsd_req_members(r, allowed) != SB_OK || rate_take(r) != SB_OK ||
        (channel = wsd_req_channel(r, SB_VERB_SIGNAL)) == NULL ||
        (ev = read_event(r, channel)) == NULL)
        return;
    send_signal(r, ev);
    sb_event_free(ev);
}
