/*
 * sub.c: channels and subscriptions (see sub.h): the subscribe and
 * unsubscribe ops, the per-subscription next_seq rule, and paced replay.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "db.h"
#include "fanout.h"
#include "log.h"
#include "node.h"
#include "proto.h"
#include "sub.h"
#include "wsd.h"
#include "xalloc.h"

/* Events per replay read (events_after's ceiling). */
#define REPLAY_PAGE "1000"
#define NBUCKETS 16384

struct wsd_channels {
    struct wsd_channel *buckets[NBUCKETS];
};

static struct wsd_channels table;

/* --- the channel table --- */

static size_t
bucket(const char *name)
{
    uint64_t h = 1469598103934665603ULL;

    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return (size_t)(h % NBUCKETS);
}

struct wsd_channel *
wsd_channel_find(const char *name)
{
    struct wsd_channel *ch = table.buckets[bucket(name)];

    while (ch != NULL && strcmp(ch->name, name) != 0)
        ch = ch->hnext;
    return ch;
}

static struct wsd_channel *
channel_get(const char *name)
{
    struct wsd_channel *ch = wsd_channel_find(name);
    size_t b;

    if (ch != NULL)
        return ch;
    b = bucket(name);
    ch = sb_calloc(1, sizeof(*ch));
    ch->name = sb_strdup(name);
    ch->delivered = -1;
    ch->target = -1;
    ch->hnext = table.buckets[b];
    table.buckets[b] = ch;
    return ch;
}

void
wsd_channel_release(struct wsd_channel *ch)
{
    struct wsd_channel **pp = &table.buckets[bucket(ch->name)];

    if (ch->nsubs > 0 || ch->reading || ch->asking > 0)
        return;
    lws_sul_cancel(&ch->sul);
    while (*pp != ch)
        pp = &(*pp)->hnext;
    *pp = ch->hnext;
    free(ch->name);
    free(ch);
}

void
wsd_channel_each(void (*fn)(struct wsd_channel *ch))
{
    for (size_t i = 0; i < NBUCKETS; i++) {
        struct wsd_channel *ch = table.buckets[i];

        while (ch != NULL) {
            struct wsd_channel *next = ch->hnext;

            fn(ch);
            ch = next;
        }
    }
}

/* --- subscription lifetime --- */

static struct wsd_sub *
sub_new(struct wsd_conn *c, const char *channel, int64_t since,
        const json_t *ref)
{
    struct wsd_sub *s = sb_calloc(1, sizeof(*s));
    struct wsd_channel *ch = channel_get(channel);

    s->conn = wsd_conn_ref(c);
    s->ch = ch;
    s->refs = 1;
    s->since = since;
    s->ref = ref != NULL ? json_deep_copy(ref) : NULL;
    s->c_next = c->subs;
    c->subs = s;
    c->nsubs++;
    s->ch_next = ch->subs;
    if (ch->subs != NULL)
        ch->subs->ch_prev = s;
    ch->subs = s;
    ch->nsubs++;
    wsd_srv.nsubs++;
    return s;
}

static void
sub_unref(struct wsd_sub *s)
{
    SB_ASSERT(s->refs > 0);
    if (--s->refs > 0)
        return;
    wsd_conn_unref(s->conn);
    json_decref(s->ref);
    free(s);
}

/* Take s out of its connection and channel; presence says whether to
 * leave the channel's presence list too. */
static void
sub_detach(struct wsd_sub *s, bool presence)
{
    struct wsd_conn *c = s->conn;
    struct wsd_channel *ch = s->ch;
    struct wsd_sub **pp = &c->subs;

    while (*pp != s)
        pp = &(*pp)->c_next;
    *pp = s->c_next;
    c->nsubs--;
    if (s->ch_prev != NULL)
        s->ch_prev->ch_next = s->ch_next;
    else
        ch->subs = s->ch_next;
    if (s->ch_next != NULL)
        s->ch_next->ch_prev = s->ch_prev;
    ch->nsubs--;
    wsd_srv.nsubs--;
    if (presence && s->present)
        wsd_node_presence_leave(c, ch->name);
    s->gone = true;
    s->ch = NULL;
    wsd_channel_release(ch);
    sub_unref(s);
}

static struct wsd_sub *
sub_find(struct wsd_conn *c, const char *channel)
{
    for (struct wsd_sub *s = c->subs; s != NULL; s = s->c_next) {
        if (strcmp(s->ch->name, channel) == 0)
            return s;
    }
    return NULL;
}

/* --- delivery --- */

static void
reload(struct wsd_sub *s, const char *reason, int64_t last, int64_t oldest)
{
    json_t *o = wsd_reply_new("reload", NULL);

    json_object_set_new(o, "channel", json_string(s->ch->name));
    json_object_set_new(o, "reason", json_string(reason));
    json_object_set_new(o, "last_seq", json_integer(last));
    json_object_set_new(o, "oldest_seq", json_integer(oldest));
    wsd_conn_send_json(s->conn, o);
    sb_log_info("conn %s: %s: reload (%s) at %lld", s->conn->idtext,
                s->ch->name, reason, (long long)last);
}

bool
wsd_channel_congested(const struct wsd_channel *ch)
{
    size_t half = (size_t)wsd_srv.conf.send_queue_max / 2;

    for (const struct wsd_sub *s = ch->subs; s != NULL; s = s->ch_next) {
        if (s->state == WSD_SUB_LIVE && s->conn->q.live_bytes > half)
            return true;
    }
    return false;
}

void
wsd_sub_deliver(struct wsd_channel *ch, int64_t seq, struct wsd_buf *frame)
{
    for (struct wsd_sub *s = ch->subs; s != NULL; s = s->ch_next) {
        if (s->state != WSD_SUB_LIVE || seq < s->next_seq)
            continue;
        if (seq > s->next_seq) { /* behind: catch up from the table */
            s->state = WSD_SUB_REPLAY;
            wsd_sub_replay(s);
            continue;
        }
        wsd_conn_send(s->conn, frame, false);
        s->next_seq++;
    }
}

void
wsd_sub_deliver_signal(struct wsd_channel *ch, struct wsd_buf *frame)
{
    for (struct wsd_sub *s = ch->subs; s != NULL; s = s->ch_next) {
        if (s->state != WSD_SUB_STARTING)
            wsd_conn_send(s->conn, frame, false);
    }
}

/* --- replay --- */

static void
replay_rows(struct wsd_sub *s, PGresult *res)
{
    int n = PQntuples(res);

    for (int i = 0; i < n; i++) {
        int64_t seq = strtoll(PQgetvalue(res, i, 0), NULL, 10);
        struct wsd_buf *b;

        if (seq < s->next_seq)
            continue;
        if (seq > s->next_seq) { /* retention removed what it needed */
            reload(s, "pruned", seq - 1, seq);
            s->next_seq = seq;
        }
        b = wsd_buf_event(PQgetvalue(res, i, 1),
                          (size_t)PQgetlength(res, i, 1));
        wsd_conn_send(s->conn, b, true);
        wsd_buf_unref(b);
        s->next_seq++;
    }
}

/* After a page: live again once past what the channel delivered. */
static void
replay_next(struct wsd_sub *s, int rows)
{
    struct wsd_channel *ch = s->ch;

    if (s->next_seq > ch->delivered) {
        s->state = WSD_SUB_LIVE;
        if (ch->target > ch->delivered)
            wsd_fanout_kick(ch);
        return;
    }
    if (rows == 0) { /* the table has less than we delivered: rewound */
        reload(s, "rewound", ch->delivered, ch->delivered + 1);
        s->next_seq = ch->delivered + 1;
        s->state = WSD_SUB_LIVE;
        return;
    }
    wsd_sub_replay(s);
}

static void
replay_done(PGresult *res, const struct sb_error *err, void *arg)
{
    struct wsd_sub *s = arg;

    s->reading = false;
    if (s->gone || !wsd_conn_alive(s->conn)) {
        sub_unref(s);
        return;
    }
    if (res == NULL) {
        /* Retried when the database is back (wsd_fanout_resync). */
        sb_log_warn("conn %s: %s: replay failed: %s", s->conn->idtext,
                    s->ch->name, err->message);
        sub_unref(s);
        return;
    }
    replay_rows(s, res);
    replay_next(s, PQntuples(res));
    sub_unref(s);
}

void
wsd_sub_replay(struct wsd_sub *s)
{
    char since[24];
    const char *params[3] = {s->ch->name, since, REPLAY_PAGE};

    if (s->reading || s->state != WSD_SUB_REPLAY ||
        s->conn->q.bytes >= (size_t)wsd_srv.conf.send_queue_max / 2)
        return;
    snprintf(since, sizeof(since), "%lld", (long long)(s->next_seq - 1));
    if (wsd_db_read("SELECT seq, event FROM switchboard.events_after($1, "
                    "$2, $3)",
                    3, params, replay_done, s) != SB_OK)
        return; /* retried when the database is back */
    s->reading = true;
    s->refs++;
}

void
wsd_sub_conn_drained(struct wsd_conn *c)
{
    for (struct wsd_sub *s = c->subs; s != NULL; s = s->c_next) {
        if (s->state == WSD_SUB_REPLAY && !s->reading)
            wsd_sub_replay(s);
    }
}

/* --- subscribe --- */

/* Printed rather than built as a JSON tree: the channel name's grammar
 * needs no escaping and reason is one of ours. */
static void
send_subscribed(struct wsd_sub *s, int64_t last, int64_t oldest,
                const char *reason)
{
    struct sb_strbuf b = {NULL, 0, 0};

    sb_strbuf_reserve(&b, 256);
    sb_strbuf_puts(&b, "{\"op\":\"subscribed\",");
    wsd_reply_put_ref(&b, s->ref);
    sb_strbuf_printf(&b,
                     "\"channel\":\"%s\",\"last_seq\":%lld,"
                     "\"oldest_seq\":%lld,\"recovered\":%s",
                     s->ch->name, (long long)last, (long long)oldest,
                     reason == NULL ? "true" : "false");
    if (reason != NULL)
        sb_strbuf_printf(&b, ",\"reason\":\"%s\"", reason);
    sb_strbuf_putc(&b, '}');
    wsd_conn_send_text(s->conn, b.data, b.len);
    sb_strbuf_release(&b);
    json_decref(s->ref);
    s->ref = NULL;
}

/* Where the subscription starts, and why not where it asked. */
static const char *
start_at(struct wsd_sub *s, int64_t last, int64_t oldest)
{
    if (s->since < 0) {
        s->next_seq = last + 1;
        return NULL;
    }
    if (s->since < oldest - 1 || s->since > last) {
        s->next_seq = last + 1;
        return s->since > last ? "rewound" : "pruned";
    }
    s->next_seq = s->since + 1;
    return NULL;
}

static void
begin(struct wsd_sub *s, int64_t last, int64_t oldest)
{
    struct wsd_channel *ch = s->ch;

    send_subscribed(s, last, oldest, start_at(s, last, oldest));
    ch->oldest = oldest;
    if (ch->delivered < 0)
        ch->delivered = last;
    if (last > ch->target)
        ch->target = last;
    s->state = s->next_seq <= ch->delivered ? WSD_SUB_REPLAY : WSD_SUB_LIVE;
    if (s->state == WSD_SUB_REPLAY)
        wsd_sub_replay(s);
    if (ch->target > ch->delivered)
        wsd_fanout_kick(ch);
    if (s->conn->auth != WSD_AUTH_ANON && wsd_node_presence_join(s->conn,
                                                                 ch->name))
        s->present = true;
}

/* One channel_info query of a channel: its answer starts every
 * subscription of the channel waiting for this ask or an earlier one (a
 * storm of subscribers to one channel asks once, not once each). */
struct ask {
    struct wsd_channel *ch;
    unsigned n;
};

static void
info_done(PGresult *res, const struct sb_error *err, void *arg)
{
    struct ask *a = arg;
    struct wsd_channel *ch = a->ch;
    bool ok = res != NULL && PQntuples(res) == 1;
    int64_t last = ok ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    int64_t oldest = ok ? strtoll(PQgetvalue(res, 0, 1), NULL, 10) : 0;
    struct sb_error e;

    if (err == NULL)
        sb_error_set(&e, SB_E_INTERNAL, "internal error: no channel row");
    for (struct wsd_sub *s = ch->subs, *next; s != NULL; s = next) {
        next = s->ch_next;
        if (!s->waiting || s->ask > a->n || !wsd_conn_alive(s->conn))
            continue;
        s->waiting = false;
        if (ok) {
            begin(s, last, oldest);
        } else {
            wsd_reply_sberr(s->conn, s->ref, err != NULL ? err : &e, ch->name);
            sub_detach(s, false);
        }
    }
    ch->asking--;
    free(a);
    wsd_channel_release(ch);
}

/* Ask the database where s's channel stands. A subscription without
 * since waits for a query already on its way (it starts wherever the
 * channel stood then, and the fan-out brings what came after); one with
 * since needs an answer from after its request, which tells whether since
 * is beyond the channel. SB_ERR when the database is unreachable. */
static int
ask_info(struct wsd_sub *s)
{
    struct wsd_channel *ch = s->ch;
    const char *params[1] = {ch->name};
    struct ask *a;

    s->waiting = true;
    if (s->since < 0 && ch->asking > 0) {
        s->ask = ch->asked;
        return SB_OK;
    }
    a = sb_malloc(sizeof(*a));
    a->ch = ch;
    a->n = ch->asked + 1;
    if (wsd_db_read("SELECT last_seq, oldest_seq FROM "
                    "switchboard.channel_info($1)",
                    1, params, info_done, a) != SB_OK) {
        free(a);
        s->waiting = false;
        return SB_ERR;
    }
    s->ask = ++ch->asked;
    ch->asking++;
    return SB_OK;
}

/* A channel this node already follows, while LISTEN holds: its last seq
 * is the newest doorbell heard (a commit whose doorbell is still on its
 * way is then delivered to the new subscriber as well), so the
 * subscription begins without asking the database. Only where no replay
 * is needed: since absent, or between what was delivered and that last
 * seq. */
static bool
begin_known(struct wsd_sub *s)
{
    struct wsd_channel *ch = s->ch;
    int64_t last = ch->target > ch->delivered ? ch->target : ch->delivered;

    if (ch->delivered < 0 || ch->nsubs < 2 || !wsd_db_listening() ||
        (s->since >= 0 && (s->since < ch->delivered || s->since > last)))
        return false;
    begin(s, last, ch->oldest);
    return true;
}

/* since: absent (-1), or an integer >= 0; else answers invalid_cursor. */
static int
read_since(const struct wsd_req *r, int64_t *since)
{
    json_t *v = json_object_get(r->msg, "since");

    *since = -1;
    if (v == NULL)
        return SB_OK;
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *since = json_integer_value(v);
        return SB_OK;
    }
    wsd_req_error(r, SB_E_INVALID_CURSOR,
                  "invalid cursor: since must be an integer >= 0", -1);
    return SB_ERR;
}

static int
room_for(struct wsd_conn *c, const json_t *ref, const char *channel)
{
    char msg[128];

    if (sub_find(c, channel) != NULL ||
        c->nsubs < wsd_srv.conf.max_subscriptions)
        return SB_OK;
    snprintf(msg, sizeof(msg), "invalid parameter: at most %lld "
                               "subscriptions per connection",
             wsd_srv.conf.max_subscriptions);
    wsd_reply_error(c, ref, SB_E_INVALID_PARAMETER, msg, channel, -1);
    return SB_ERR;
}

/* Subscribe c to channel (checked) from since (-1: live only), answering
 * with ref. */
static void
subscribe(struct wsd_conn *c, const json_t *ref, const char *channel,
          int64_t since)
{
    struct wsd_sub *old, *s;

    if (room_for(c, ref, channel) != SB_OK)
        return;
    old = sub_find(c, channel);
    s = sub_new(c, channel, since, ref);
    if (old != NULL) {
        s->present = old->present; /* a repeated join sends nothing */
        sub_detach(old, false);
    }
    if (begin_known(s) || ask_info(s) == SB_OK)
        return;
    wsd_reply_error(c, ref, SB_E_UNAVAILABLE,
                    "unavailable: database unreachable", channel, 1000);
    sub_detach(s, true);
}

void
wsd_sub_handle_subscribe(const struct wsd_req *r)
{
    static const char *const allowed[] = {"channel", "since", NULL};
    const char *channel;
    int64_t since;

    if (wsd_req_members(r, allowed) == SB_OK &&
        (channel = wsd_req_channel(r, SB_VERB_READ)) != NULL &&
        read_since(r, &since) == SB_OK)
        subscribe(r->c, r->ref, channel, since);
}

void
wsd_sub_open_list(struct wsd_conn *c, const char *list)
{
    while (*list != '\0' && wsd_conn_alive(c)) {
        const char *end = strchr(list, ',');
        size_t len = end != NULL ? (size_t)(end - list) : strlen(list);
        char channel[SB_CHANNEL_MAX + 1];
        int64_t since;
        struct sb_error err;

        if (sb_position_parse(list, len, channel, &since, &err) != SB_OK)
            wsd_reply_sberr(c, NULL, &err, NULL);
        else if (wsd_channel_check(c, NULL, channel, SB_VERB_READ) == SB_OK)
            subscribe(c, NULL, channel, since);
        list += len + (end != NULL);
    }
}

void
wsd_sub_handle_unsubscribe(const struct wsd_req *r)
{
    static const char *const allowed[] = {"channel", NULL};
    const char *channel;
    struct wsd_sub *s;
    json_t *o;

    if (wsd_req_members(r, allowed) != SB_OK ||
        (channel = wsd_req_string(r, "channel")) == NULL)
        return;
    s = sub_find(r->c, channel);
    if (s != NULL)
        sub_detach(s, true);
    o = wsd_reply_new("unsubscribed", r->ref);
    json_object_set_new(o, "channel", json_string(channel));
    wsd_conn_send_json(r->c, o);
}

/* --- connection events --- */

void
wsd_sub_conn_closed(struct wsd_conn *c)
{
    bool present = false;

    while (c->subs != NULL) {
        present |= c->subs->present;
        sub_detach(c->subs, false);
    }
    if (present)
        wsd_node_presence_leave(c, NULL);
}

void
wsd_sub_recheck(struct wsd_conn *c)
{
    struct wsd_sub *s = c->subs;

    while (s != NULL) {
        struct wsd_sub *next = s->c_next;

        if (wsd_req_allows(c, SB_VERB_READ, s->ch->name) != SB_OK) {
            json_t *o = wsd_reply_new("unsubscribed", NULL);

            json_object_set_new(o, "channel", json_string(s->ch->name));
            json_object_set_new(o, "reason", json_string("forbidden"));
            wsd_conn_send_json(c, o);
            sub_detach(s, true);
        }
        s = next;
    }
}
