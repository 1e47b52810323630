/*
 * commit.c: group commit of publishes (see commit.h).
 *
 * One group gathers at a time (G.open). Its leader waits on the group's
 * "full" condition until the window ends or the group cannot grow; the
 * members wait on "done" until the leader has put their answers in place.
 * The last thread out releases the group. Nothing is held across a
 * database call but the leader's own connection.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "commit.h"
#include "db.h"
#include "limits.h"
#include "xalloc.h"

#define PUBLISH_SQL                                                            \
    "SELECT seq, id, duplicate FROM switchboard.publish($1, $2, $3::jsonb, "   \
    "$4, $5::uuid)"
#define BATCH_SQL                                                              \
    "SELECT ord, seq, id, duplicate FROM "                                     \
    "switchboard.publish_batch($1::jsonb) "                                    \
    "ORDER BY ord"

/* One publish request in a group, and the answer the leader leaves it. */
struct member {
    struct member *next;
    struct sb_event *const *events; /* borrowed from the request */
    size_t n;
    bool single;
    const char *sender;
    /* The answer: status and body, or err (and index, -1 for none). */
    int status;
    char *body;
    struct sb_error err;
    long index;
};

struct group {
    struct member *head, *tail;
    size_t nreq, nevents;
    bool closed; /* no more members: the leader is committing */
    bool done;   /* every member has its answer */
    int refs;    /* threads still to leave */
    pthread_cond_t full, finished;
};

static struct {
    pthread_mutex_t lock; /* guards open and every group's fields */
    struct group *open;   /* the group gathering, or NULL */
} G = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Events per transaction, for switchboard_commit_batch_size (the same
 * buckets as wsd's). */
static const long long bounds[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000};
#define NBOUNDS (sizeof(bounds) / sizeof(bounds[0]))

static struct {
    atomic_llong buckets[NBOUNDS + 1];
    atomic_llong events, commits, requests, fallbacks;
} M;

static void
observe(size_t events, size_t requests)
{
    size_t i = 0;

    while (i < NBOUNDS && (long long)events > bounds[i])
        i++;
    atomic_fetch_add(&M.buckets[i], 1);
    atomic_fetch_add(&M.events, (long long)events);
    atomic_fetch_add(&M.commits, 1);
    atomic_fetch_add(&M.requests, (long long)requests);
}

void
fcgi_commit_metrics(struct sb_strbuf *b)
{
    static const char *const h = "switchboard_commit_batch_size";
    static const char *const c = "switchboard_commit_requests_total";
    static const char *const f = "switchboard_commit_fallbacks_total";
    const char *node = fcgi_app.common.node_id;
    long long cum = 0;

    sb_strbuf_printf(
        b, "# HELP %s events per group commit\n# TYPE %s histogram\n", h, h);
    for (size_t i = 0; i <= NBOUNDS; i++) {
        cum += atomic_load(&M.buckets[i]);
        if (i < NBOUNDS)
            sb_strbuf_printf(b, "%s_bucket{node=\"%s\",le=\"%lld\"} %lld\n", h,
                            node, bounds[i], cum);
        else
            sb_strbuf_printf(b, "%s_bucket{node=\"%s\",le=\"+Inf\"} %lld\n", h,
                            node, cum);
    }
    sb_strbuf_printf(b, "%s_sum{node=\"%s\"} %lld\n%s_count{node=\"%s\"} %lld\n",
                    h, node, atomic_load(&M.events), h, node,
                    atomic_load(&M.commits));
    sb_strbuf_printf(b,
                    "# HELP %s publish requests answered by group commits "
                    "(more than %s_count: requests shared a transaction)\n"
                    "# TYPE %s counter\n%s{node=\"%s\"} %lld\n",
                    c, h, c, c, node, atomic_load(&M.requests));
    sb_strbuf_printf(b,
                    "# HELP %s group commits refused by the database and "
                    "stored request by request\n# TYPE %s counter\n"
                    "%s{node=\"%s\"} %lld\n",
                    f, f, f, node, atomic_load(&M.fallbacks));
}

static void
count(long long stored, long long dup, long long errors)
{
    atomic_fetch_add(&fcgi_app.n.publish_stored, stored);
    atomic_fetch_add(&fcgi_app.n.publish_duplicate, dup);
    atomic_fetch_add(&fcgi_app.n.publish_error, errors);
}

/* --- answers --- */

/* The index a database error names ("event 3: ..."), or -1. */
static long
error_index(const char *message)
{
    long i;

    if (sscanf(message, "event %ld:", &i) == 1)
        return i;
    return -1;
}

static void
fail(struct member *m, const struct sb_error *err, long index)
{
    m->err = *err;
    m->index = index;
    count(0, 0, (long long)m->n);
}

/* m's answer from rows first.. of res (ord, seq, id, duplicate). */
static void
answer(struct member *m, PGresult *res, int first)
{
    struct sb_strbuf b = {0};
    long long stored = 0, dup = 0;

    if (!m->single)
        sb_strbuf_puts(&b, "{\"results\":[");
    for (size_t i = 0; i < m->n; i++) {
        int row = first + (int)i;
        bool d = PQgetvalue(res, row, 3)[0] == 't';

        if (m->single)
            sb_strbuf_printf(&b, "{\"channel\":\"%s\",", m->events[0]->channel);
        else
            sb_strbuf_puts(&b, i > 0 ? ",{" : "{");
        sb_strbuf_printf(&b, "\"seq\":%s,\"id\":\"%s\",\"duplicate\":%s}",
                        PQgetvalue(res, row, 1), PQgetvalue(res, row, 2),
                        d ? "true" : "false");
        stored += !d;
        dup += d;
    }
    if (!m->single)
        sb_strbuf_puts(&b, "]}");
    m->status = m->single && stored == 1 ? 201 : 200;
    m->body = b.data;
    count(stored, dup, 0);
}

/* --- storing --- */

/* The events of nreq members from m on, as publish_batch takes them. */
static char *
events_json(const struct member *m, size_t nreq)
{
    json_t *arr = json_array();
    char *text;

    for (size_t k = 0; k < nreq; k++, m = m->next) {
        for (size_t i = 0; i < m->n; i++) {
            const struct sb_event *ev = m->events[i];
            json_t *o = json_pack("{s:s, s:s, s:O, s:s}", "channel",
                                  ev->channel, "type", ev->type, "data",
                                  ev->data, "sender", m->sender);

            if (ev->id[0] != '\0')
                json_object_set_new(o, "id", json_string(ev->id));
            json_array_append_new(arr, o);
        }
    }
    text = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    return text;
}

/* A statement may be sent twice (after a lost connection) only when every
 * event has an id: a repeat then answers duplicates instead of storing
 * twice. */
static bool
retry_safe(const struct member *m, size_t nreq)
{
    for (size_t k = 0; k < nreq; k++, m = m->next) {
        for (size_t i = 0; i < m->n; i++) {
            if (m->events[i]->id[0] == '\0')
                return false;
        }
    }
    return true;
}

/* The events of nreq members from m on in one publish_batch call; NULL
 * with err set when the database refused them. */
static PGresult *
store_batch(struct fcgi_db *db, const struct member *m, size_t nreq,
            struct sb_error *err)
{
    char *text = events_json(m, nreq);
    const char *params[1] = {text};
    PGresult *res =
        fcgi_db_exec(db, BATCH_SQL, 1, params, retry_safe(m, nreq), err);

    free(text);
    return res;
}

static void
answer_single(struct member *m, PGresult *res)
{
    const struct sb_event *ev = m->events[0];
    bool dup = PQgetvalue(res, 0, 2)[0] == 't';

    m->status = dup ? 200 : 201;
    m->body = sb_asprintf("{\"channel\":\"%s\",\"seq\":%s,\"id\":\"%s\","
                          "\"duplicate\":%s}",
                          ev->channel, PQgetvalue(res, 0, 0),
                          PQgetvalue(res, 0, 1), dup ? "true" : "false");
    count(!dup, dup, 0);
}

/* m alone: switchboard.publish for a single event (its errors read as
 * they always did), publish_batch for a batch. */
static void
store_member(struct fcgi_db *db, struct member *m)
{
    const struct sb_event *ev = m->events[0];
    struct sb_error err;
    PGresult *res;

    if (m->single) {
        const char *params[5] = {ev->channel, ev->type, ev->data_text,
                                 m->sender, ev->id[0] ? ev->id : NULL};

        res = fcgi_db_exec(db, PUBLISH_SQL, 5, params, ev->id[0] != '\0', &err);
    } else {
        res = store_batch(db, m, 1, &err);
    }
    if (res == NULL) {
        fail(m, &err, m->single ? -1 : error_index(err.message));
        return;
    }
    observe(m->n, 1);
    if (m->single)
        answer_single(m, res);
    else
        answer(m, res, 0);
    PQclear(res);
}

/* The leader's work: every member gets its answer. */
static void
commit(struct fcgi_db *db, struct group *g)
{
    struct sb_error err;
    PGresult *res;
    int first = 0;

    if (g->nreq == 1) {
        store_member(db, g->head);
        return;
    }
    res = store_batch(db, g->head, g->nreq, &err);
    if (res != NULL && PQntuples(res) == (int)g->nevents) {
        observe(g->nevents, g->nreq);
        for (struct member *m = g->head; m != NULL; m = m->next) {
            answer(m, res, first);
            first += (int)m->n;
        }
    } else if (res == NULL &&
               (err.code == SB_E_UNAVAILABLE || err.code == SB_E_INTERNAL)) {
        for (struct member *m = g->head; m != NULL; m = m->next)
            fail(m, &err, -1);
    } else {
        atomic_fetch_add(&M.fallbacks, 1);
        for (struct member *m = g->head; m != NULL; m = m->next)
            store_member(db, m);
    }
    PQclear(res);
}

/* --- gathering --- */

static struct group *
group_new(void)
{
    struct group *g = sb_calloc(1, sizeof(*g));
    pthread_condattr_t attr;

    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&g->full, &attr);
    pthread_cond_init(&g->finished, NULL);
    pthread_condattr_destroy(&attr);
    return g;
}

static void
group_leave(struct group *g)
{
    if (--g->refs > 0)
        return;
    pthread_cond_destroy(&g->full);
    pthread_cond_destroy(&g->finished);
    free(g);
}

static void
join(struct group *g, struct member *m)
{
    if (g->tail != NULL)
        g->tail->next = m;
    else
        g->head = m;
    g->tail = m;
    g->nreq++;
    g->nevents += m->n;
    g->refs++;
}

/* The group can take no one else (a CGI process serves one request): the
 * leader need not wait longer. */
static bool
complete(const struct group *g)
{
    return g->closed || g->nevents >= (size_t)fcgi_app.common.commit_batch ||
           (long long)g->nreq >= fcgi_app.conf.threads ||
           fcgi_app.mode == FCGI_MODE_CGI;
}

static void
close_open(void)
{
    if (G.open == NULL)
        return;
    G.open->closed = true;
    pthread_cond_signal(&G.open->full);
    G.open = NULL;
}

/* With G.lock held: wait as the leader of g until it is complete or the
 * window has passed, then close it. */
static void
lead(struct group *g)
{
    struct timespec end;
    long long ns;

    clock_gettime(CLOCK_MONOTONIC, &end);
    ns = end.tv_nsec + fcgi_app.conf.commit_window_ms * 1000000LL;
    end.tv_sec += ns / 1000000000LL;
    end.tv_nsec = ns % 1000000000LL;
    while (fcgi_app.conf.commit_window_ms > 0 && !complete(g) &&
           pthread_cond_timedwait(&g->full, &G.lock, &end) == 0)
        ;
    if (G.open == g)
        G.open = NULL;
    g->closed = true;
}

/* Join the open group, or lead a new one. Returns the group, and whether
 * this thread leads it in *leader. With G.lock held. */
static struct group *
gather(struct member *m, bool *leader)
{
    struct group *g = G.open;

    if (g != NULL && g->nevents + m->n <= (size_t)fcgi_app.common.commit_batch) {
        join(g, m);
        if (complete(g))
            pthread_cond_signal(&g->full);
        *leader = false;
        return g;
    }
    close_open(); /* full for this request: let it go now */
    g = group_new();
    join(g, m);
    *leader = true;
    if (!complete(g))
        G.open = g;
    return g;
}

static int
reply(struct fcgi_req *r, struct member *m)
{
    json_t *extra;

    if (m->body != NULL) {
        fcgi_req_reply(r, m->status, m->body);
        free(m->body);
        return SB_OK;
    }
    extra = m->index >= 0 ? json_pack("{s:I}", "index", (json_int_t)m->index)
                          : NULL;
    fcgi_req_error(r, &m->err, extra);
    json_decref(extra);
    return SB_ERR;
}

int
fcgi_commit_publish(struct fcgi_req *r, struct sb_event *const *events,
                    size_t n, bool single)
{
    struct member m = {.events = events,
                       .n = n,
                       .single = single,
                       .sender = r->token->sender,
                       .index = -1};
    struct group *g;
    bool leader;

    pthread_mutex_lock(&G.lock);
    g = gather(&m, &leader);
    if (leader) {
        lead(g);
        pthread_mutex_unlock(&G.lock);
        commit(r->db, g); /* the members only wait: g is the leader's */
        pthread_mutex_lock(&G.lock);
        g->done = true;
        pthread_cond_broadcast(&g->finished);
    }
    while (!g->done)
        pthread_cond_wait(&g->finished, &G.lock);
    group_leave(g);
    pthread_mutex_unlock(&G.lock);
    return reply(r, &m);
}
