/*
 * metricsub.c: metrics subscriptions (PROTOCOL.md 4.12).
 *
 * A snapshot is the database's metrics_overview(window) for one window
 * (1..168 hours). Snapshots are kept per window and shared: each tick
 * (one second) issues one query per distinct window that some due
 * subscription needs, whatever the number of connections, and a request
 * that finds a snapshot younger than a tick is answered from it. A
 * subscription is due every interval_s ticks; it is pushed the snapshot
 * only when its data differs from the last one this connection was sent
 * (replies to subscribe, refresh and interval count as sent).
 *
 * Requests that need a snapshot wait, in arrival order, on their window;
 * the subscriptions due at a tick are checked after them, so a subscribe's
 * reply always comes before the pushes of its subscription.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "metrics.h"
#include "metricsub.h"
#include "proto.h"
#include "server.h"
#include "wsd.h"
#include "xalloc.h"

#define OVERVIEW_SQL                                                           \
    "SELECT switchboard.time_text(now()), "                                    \
    "switchboard.metrics_overview($1::integer)::text"
/* The permission a metrics subscription needs: read on this channel. */
#define OVERVIEW_CHANNEL "metrics:overview"
/* Protocol ranges (PROTOCOL.md 4.12 and 7): out-of-range values are
 * clamped, not refused. metrics_overview() clamps the window the same. */
#define WINDOW_MIN     1
#define WINDOW_MAX     168
#define WINDOW_DEFAULT 24
#define INTERVAL_MIN   1
#define INTERVAL_MAX   60
/* How often due subscriptions are checked, and how old a shared snapshot
 * may be when a request is answered from it. */
#define TICK_MS 1000

/* One snapshot, shared by the window's cache and every subscription that
 * was last sent it. */
struct snap {
    unsigned refs;
    char generated_at[40];
    char *text; /* the data, compact: what is sent and what "changed"
                 * compares */
    size_t len;
};

/* A request answered with its window's next snapshot. */
struct waiter {
    struct waiter *next;
    struct wsd_conn *c; /* a reference */
    json_t *ref;
};

/* The snapshots of one window. */
struct window {
    struct snap *snap; /* the newest, or NULL */
    int64_t snap_us;   /* when the query that made snap started */
    int64_t flight_us; /* when the query in flight started */
    bool in_flight;
    bool check; /* due subscriptions wait for the query in flight */
    struct waiter *head, *tail;
};

struct wsd_metrics_sub {
    struct wsd_metrics_sub *prev, *next;
    struct wsd_conn *c; /* not counted: the subscription ends with it */
    int window;
    int interval;
    uint64_t next_tick; /* due at this tick */
    bool due;           /* waiting for its window's snapshot */
    struct snap *last;  /* the last snapshot sent, or NULL */
};

static struct window windows[WINDOW_MAX + 1];
static struct wsd_metrics_sub *subs;
static size_t nsubs;
static uint64_t ticks;
static bool ticking;
static lws_sorted_usec_list_t tick_sul;

/* --- snapshots --- */

static struct snap *
snap_new(const char *generated_at, const char *json, struct sb_error *err)
{
    json_error_t jerr;
    json_t *data = json_loads(json, 0, &jerr);
    struct snap *s;

    if (!json_is_object(data)) {
        json_decref(data);
        sb_error_set(err, SB_E_INTERNAL,
                     "internal error: bad metrics "
                     "snapshot");
        return NULL;
    }
    s = sb_calloc(1, sizeof(*s));
    s->refs = 1;
    snprintf(s->generated_at, sizeof(s->generated_at), "%s", generated_at);
    s->text = json_dumps(data, JSON_COMPACT);
    json_decref(data);
    s->len = strlen(s->text);
    return s;
}

static struct snap *
snap_ref(struct snap *s)
{
    s->refs++;
    return s;
}

static void
snap_unref(struct snap *s)
{
    if (s == NULL || --s->refs > 0)
        return;
    free(s->text);
    free(s);
}

static bool
snap_same(const struct snap *a, const struct snap *b)
{
    return a == b || (a != NULL && b != NULL && a->len == b->len &&
                      memcmp(a->text, b->text, a->len) == 0);
}

/* --- sending --- */

/* Printed with the snapshot's data text encoded once (snap_new), not
 * dumped again for every subscriber. */
static void
send_snapshot(struct wsd_conn *c, const json_t *ref, int window, struct snap *s)
{
    struct wsd_metrics_sub *sub = c->msub;
    struct sb_strbuf b = {NULL, 0, 0};

    sb_strbuf_reserve(&b, s->len + 256);
    sb_strbuf_puts(&b, "{\"op\":\"metrics\",");
    wsd_reply_put_ref(&b, ref);
    sb_strbuf_printf(&b, "\"window_hours\":%d,\"interval_s\":", window);
    if (sub != NULL)
        sb_strbuf_printf(&b, "%d", sub->interval);
    else
        sb_strbuf_puts(&b, "null");
    sb_strbuf_puts(&b, ",\"generated_at\":");
    sb_strbuf_quote(&b, s->generated_at, strlen(s->generated_at));
    sb_strbuf_puts(&b, ",\"data\":");
    sb_strbuf_put(&b, s->text, s->len);
    sb_strbuf_putc(&b, '}');
    wsd_conn_send_text(c, b.data, b.len);
    sb_strbuf_release(&b);
    if (sub != NULL && sub->window == window) {
        snap_unref(sub->last);
        sub->last = snap_ref(s);
    }
}

/* The due subscriptions of window w get s if it differs from their last. */
static void
check_due(int w, struct snap *s)
{
    for (struct wsd_metrics_sub *sub = subs; sub != NULL; sub = sub->next) {
        if (!sub->due || sub->window != w)
            continue;
        sub->due = false;
        sub->next_tick = ticks + (uint64_t)sub->interval;
        if (snap_same(sub->last, s) || !wsd_conn_alive(sub->c))
            continue;
        wsd_stats.metrics_pushes++;
        send_snapshot(sub->c, NULL, w, s);
    }
}

/* --- queries --- */

static void
waiter_free(struct waiter *wt)
{
    wsd_conn_unref(wt->c);
    json_decref(wt->ref);
    free(wt);
}

/* Answer every request waiting on w with s, or with err when s is NULL;
 * then the due subscriptions, when they wait too. */
static void
deliver(int w, struct snap *s, const struct sb_error *err)
{
    struct window *win = &windows[w];
    struct waiter *wt = win->head;
    bool check = win->check;

    win->head = win->tail = NULL;
    win->check = false;
    while (wt != NULL) {
        struct waiter *next = wt->next;

        if (wsd_conn_alive(wt->c)) {
            if (s != NULL)
                send_snapshot(wt->c, wt->ref, w, s);
            else
                wsd_reply_sberr(wt->c, wt->ref, err, NULL);
        }
        waiter_free(wt);
        wt = next;
    }
    if (check && s != NULL)
        check_due(w, s);
}

static void
query_done(PGresult *res, const struct sb_error *err, void *arg)
{
    int w = (int)(intptr_t)arg;
    struct window *win = &windows[w];
    struct sb_error e;
    struct snap *s = NULL;

    win->in_flight = false;
    if (res != NULL && PQntuples(res) == 1)
        s = snap_new(PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), &e);
    else if (res != NULL)
        sb_error_set(&e, SB_E_INTERNAL,
                     "internal error: no metrics "
                     "snapshot");
    if (s == NULL) {
        if (res == NULL)
            e = *err;
        sb_log_warn("metrics: snapshot of %d h failed: %s", w, e.message);
        deliver(w, NULL, &e);
        return;
    }
    snap_unref(win->snap);
    win->snap = s;
    win->snap_us = win->flight_us;
    deliver(w, s, NULL);
}

/* Ask the database for window w's snapshot; whoever waits on w is
 * answered when it comes (or at once, with an error, when no connection
 * can take the query). */
static void
query(int w)
{
    struct window *win = &windows[w];
    char hours[8];
    const char *params[1] = {hours};
    struct sb_error err;

    if (win->in_flight)
        return;
    snprintf(hours, sizeof(hours), "%d", w);
    if (wsd_db_read(OVERVIEW_SQL, 1, params, query_done, (void *)(intptr_t)w) !=
        SB_OK) {
        sb_error_set(&err, SB_E_UNAVAILABLE,
                     "unavailable: database "
                     "unreachable");
        deliver(w, NULL, &err);
        return;
    }
    win->in_flight = true;
    win->flight_us = wsd_mono_us();
    wsd_stats.metrics_queries++;
}

/* Answer r (its connection and ref) with window w's snapshot: the shared
 * one when it is younger than a tick, else the next one. */
static void
request(const struct wsd_req *r, int w)
{
    struct window *win = &windows[w];
    struct waiter *wt;

    if (win->snap != NULL &&
        wsd_mono_us() - win->snap_us < TICK_MS * LWS_US_PER_MS) {
        send_snapshot(r->c, r->ref, w, win->snap);
        return;
    }
    wt = sb_calloc(1, sizeof(*wt));
    wt->c = wsd_conn_ref(r->c);
    wt->ref = r->ref != NULL ? json_deep_copy(r->ref) : NULL;
    if (win->tail != NULL)
        win->tail->next = wt;
    else
        win->head = wt;
    win->tail = wt;
    query(w);
}

/* --- the tick --- */

static void
tick_cb(lws_sorted_usec_list_t *sul)
{
    bool wanted[WINDOW_MAX + 1] = {false};

    ticks++;
    for (struct wsd_metrics_sub *sub = subs; sub != NULL; sub = sub->next) {
        if (sub->due || ticks >= sub->next_tick) {
            sub->due = true;
            wanted[sub->window] = true;
        }
    }
    for (int w = WINDOW_MIN; w <= WINDOW_MAX; w++) {
        if (!wanted[w])
            continue;
        windows[w].check = true;
        query(w);
    }
    ticking = nsubs > 0;
    if (ticking)
        wsd_timer_schedule(&tick_sul, tick_cb, TICK_MS * LWS_US_PER_MS);
}

static void
start_ticking(void)
{
    if (ticking)
        return;
    ticking = true;
    wsd_timer_schedule(&tick_sul, tick_cb, TICK_MS * LWS_US_PER_MS);
}

/* --- subscriptions --- */

static struct wsd_metrics_sub *
sub_get(struct wsd_conn *c)
{
    struct wsd_metrics_sub *sub = c->msub;

    if (sub != NULL)
        return sub;
    sub = sb_calloc(1, sizeof(*sub));
    sub->c = c;
    sub->next = subs;
    if (subs != NULL)
        subs->prev = sub;
    subs = sub;
    nsubs++;
    c->msub = sub;
    return sub;
}

static void
sub_end(struct wsd_conn *c)
{
    struct wsd_metrics_sub *sub = c->msub;

    if (sub == NULL)
        return;
    if (sub->prev != NULL)
        sub->prev->next = sub->next;
    else
        subs = sub->next;
    if (sub->next != NULL)
        sub->next->prev = sub->prev;
    nsubs--;
    snap_unref(sub->last);
    free(sub);
    c->msub = NULL;
}

/* --- the ops --- */

/* The integer member name clamped to [min, max]; dflt when absent (a
 * missing member is a bad_request when dflt < 0). SB_ERR after answering
 * an error. */
static int
read_clamped(const struct wsd_req *r, const char *name, int min, int max,
             int dflt, int *v)
{
    json_t *j = json_object_get(r->msg, name);
    json_int_t n;
    char msg[128];

    if (j == NULL && dflt >= 0) {
        *v = dflt;
        return SB_OK;
    }
    if (j == NULL) {
        snprintf(msg, sizeof(msg), "bad request: \"%s\" is missing", name);
        wsd_req_error(r, SB_E_BAD_REQUEST, msg, -1);
        return SB_ERR;
    }
    if (!json_is_integer(j)) {
        snprintf(msg, sizeof(msg),
                 "invalid parameter: %s must be an integer (%d to %d)", name,
                 min, max);
        wsd_req_error(r, SB_E_INVALID_PARAMETER, msg, -1);
        return SB_ERR;
    }
    n = json_integer_value(j);
    *v = n < min ? min : n > max ? max : (int)n;
    return SB_OK;
}

/* Members, ref (when needed) and the permission; SB_ERR after answering. */
static int
check(const struct wsd_req *r, const char *const *allowed, bool need_ref)
{
    if (wsd_req_members(r, allowed) != SB_OK)
        return SB_ERR;
    if (need_ref && r->ref == NULL) {
        wsd_req_error(r, SB_E_BAD_REQUEST,
                      "bad request: this op needs a \"ref\"", -1);
        return SB_ERR;
    }
    if (wsd_req_allows(r->c, SB_VERB_READ, OVERVIEW_CHANNEL) != SB_OK) {
        wsd_req_error(r, SB_E_FORBIDDEN, "forbidden: read on " OVERVIEW_CHANNEL,
                      -1);
        return SB_ERR;
    }
    return SB_OK;
}

void
wsd_metricsub_handle_subscribe(const struct wsd_req *r)
{
    static const char *const allowed[] = {"window_hours", "interval_s", NULL};
    struct wsd_metrics_sub *sub;
    int window, interval;

    if (check(r, allowed, true) != SB_OK ||
        read_clamped(r, "window_hours", WINDOW_MIN, WINDOW_MAX, -1, &window) !=
            SB_OK ||
        read_clamped(r, "interval_s", INTERVAL_MIN, INTERVAL_MAX, -1,
                     &interval) != SB_OK)
        return;
    sub = sub_get(r->c);
    sub->window = window;
    sub->interval = interval;
    sub->next_tick = ticks + (uint64_t)interval;
    sub->due = false;
    snap_unref(sub->last); /* a new subscription: its first reply is full */
    sub->last = NULL;
    start_ticking();
    request(r, window);
}

void
wsd_metricsub_handle_refresh(const struct wsd_req *r)
{
    static const char *const allowed[] = {"window_hours", NULL};
    struct wsd_metrics_sub *sub = r->c->msub;
    int window;

    if (check(r, allowed, false) != SB_OK ||
        read_clamped(r, "window_hours", WINDOW_MIN, WINDOW_MAX,
                     sub != NULL ? sub->window : WINDOW_DEFAULT,
                     &window) != SB_OK)
        return;
    if (sub != NULL)
        sub->window = window;
    request(r, window);
}

void
wsd_metricsub_handle_interval(const struct wsd_req *r)
{
    static const char *const allowed[] = {"interval_s", NULL};
    struct wsd_metrics_sub *sub = r->c->msub;
    int interval;

    if (check(r, allowed, false) != SB_OK ||
        read_clamped(r, "interval_s", INTERVAL_MIN, INTERVAL_MAX, -1,
                     &interval) != SB_OK)
        return;
    if (sub == NULL) {
        wsd_req_error(r, SB_E_BAD_REQUEST,
                      "bad request: no metrics subscription (send "
                      "metrics.subscribe first)",
                      -1);
        return;
    }
    sub->interval = interval;
    sub->next_tick = ticks + (uint64_t)interval;
    request(r, sub->window);
}

void
wsd_metricsub_handle_unsubscribe(const struct wsd_req *r)
{
    if (wsd_req_members(r, NULL) != SB_OK)
        return;
    sub_end(r->c);
    wsd_conn_send_json(r->c, wsd_reply_new("metrics.unsubscribed", r->ref));
}

/* --- connection events --- */

void
wsd_metricsub_conn_closed(struct wsd_conn *c)
{
    sub_end(c);
}

void
wsd_metricsub_recheck(struct wsd_conn *c)
{
    json_t *o;

    if (c->msub == NULL ||
        wsd_req_allows(c, SB_VERB_READ, OVERVIEW_CHANNEL) == SB_OK)
        return;
    sub_end(c);
    o = wsd_reply_new("metrics.unsubscribed", NULL);
    json_object_set_new(o, "reason", json_string("forbidden"));
    wsd_conn_send_json(c, o);
}

size_t
wsd_metricsub_count(void)
{
    return nsubs;
}

void
wsd_metricsub_stop(void)
{
    lws_sul_cancel(&tick_sul);
    ticking = false;
    for (int w = WINDOW_MIN; w <= WINDOW_MAX; w++) {
        SB_ASSERT(windows[w].head == NULL && !windows[w].in_flight);
        snap_unref(windows[w].snap);
        windows[w].snap = NULL;
    }
}
