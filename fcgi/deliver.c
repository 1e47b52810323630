/*
 * deliver.c: events to parked requests (see deliver.h).
 *
 * A round: doorbells ring channels (deduplicated); fcgi_deliver_run reads
 * each rung channel once from the lowest position waiting on it, in pages
 * of SB_HISTORY_MAX, and hands every page to each waiter of the channel,
 * which takes the events after its own position. Long-polls are marked
 * ready and answered by the waiter after the round; SSE streams are
 * written at once. Requests are never removed from the index during a
 * round, only marked, so the index can be walked safely.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chanindex.h"
#include "db.h"
#include "deliver.h"
#include "doorbell.h"
#include "lastseq.h"
#include "limits.h"
#include "log.h"
#include "poll.h"
#include "sse.h"
#include "xalloc.h"

/* Doorbell entries remembered for requests parked late. */
#define RING_MAX 1024
/* A forced read (resync, late park): read up to the newest event. */
#define BELL_ALL INT64_MAX

#define AFTER_SQL                                                              \
    "SELECT seq, event FROM switchboard.events_after($1, $2::bigint, "        \
    "$3::integer)"

#define INFO_SQL                                                               \
    "SELECT last_seq, oldest_seq FROM switchboard.channel_info($1)"

/* Prepared once per LISTEN connection. */
static const struct fcgi_stmt after_stmt = {"sb_deliver_after", AFTER_SQL, 3};
static const struct fcgi_stmt info_stmt = {"sb_deliver_info", INFO_SQL, 1};

struct ring_entry {
    uint64_t gen;
    char channel[SB_CHANNEL_MAX + 1];
};

struct rung {
    char *channel;
    int64_t seq;
};

struct fcgi_deliver {
    struct fcgi_index *index;
    /* Guards gen's increments and known, so that a worker sees a
     * generation and the last seqs of every doorbell up to it together. */
    pthread_mutex_t lock;
    _Atomic uint64_t gen;
    struct fcgi_lastseq *known; /* from the doorbells of this connection */
    bool live;                  /* LISTEN holds: known may be trusted */
    struct fcgi_prepared prepared; /* on the LISTEN connection */
    struct ring_entry *ring; /* RING_MAX entries, a circular buffer */
    size_t ring_next;
    uint64_t ring_base; /* every doorbell of a generation >= this is kept */
    struct rung *rung;
    size_t nrung, caprung;
    struct fcgi_parked *ready_head, *ready_tail;
};

struct fcgi_deliver *
fcgi_deliver_new(void)
{
    struct fcgi_deliver *d = sb_calloc(1, sizeof(*d));

    d->index = fcgi_index_new();
    pthread_mutex_init(&d->lock, NULL);
    d->known = fcgi_lastseq_new();
    d->ring = sb_calloc(RING_MAX, sizeof(*d->ring));
    d->ring_base = UINT64_MAX; /* nothing is known before LISTEN */
    return d;
}

void
fcgi_deliver_free(struct fcgi_deliver *d)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < d->nrung; i++)
        free(d->rung[i].channel);
    free(d->rung);
    free(d->ring);
    fcgi_index_free(d->index);
    fcgi_lastseq_free(d->known);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

uint64_t
fcgi_deliver_gen(const struct fcgi_deliver *d)
{
    return atomic_load(&d->gen);
}

/* Ring channel (if it has waiters) up to seq. */
static void
ring_bell(struct fcgi_deliver *d, const char *channel, int64_t seq)
{
    struct fcgi_chan *c = fcgi_index_find(d->index, channel);

    if (c == NULL)
        return;
    if (c->rung) {
        for (size_t i = 0; i < d->nrung; i++) {
            if (strcmp(d->rung[i].channel, channel) == 0 &&
                d->rung[i].seq < seq)
                d->rung[i].seq = seq;
        }
        return;
    }
    if (d->nrung == d->caprung) {
        d->caprung = d->caprung == 0 ? 16 : d->caprung * 2;
        d->rung = sb_realloc(d->rung, d->caprung * sizeof(*d->rung));
    }
    d->rung[d->nrung].channel = sb_strdup(channel);
    d->rung[d->nrung].seq = seq;
    d->nrung++;
    c->rung = true;
}

static void
ring_all(struct fcgi_chan *c, void *arg)
{
    ring_bell(arg, c->name, BELL_ALL);
}

void
fcgi_deliver_listening(struct fcgi_deliver *d)
{
    uint64_t g = atomic_load(&d->gen) + 1;

    fcgi_prepared_reset(&d->prepared);
    d->ring_base = g + 1;
    d->ring_next = 0;
    pthread_mutex_lock(&d->lock);
    atomic_store(&d->gen, g);
    fcgi_lastseq_clear(d->known);
    d->live = true;
    pthread_mutex_unlock(&d->lock);
    fcgi_index_each(d->index, ring_all, d);
}

void
fcgi_deliver_lost(struct fcgi_deliver *d)
{
    pthread_mutex_lock(&d->lock);
    d->live = false;
    pthread_mutex_unlock(&d->lock);
}

enum fcgi_known
fcgi_deliver_known(struct fcgi_deliver *d, const struct fcgi_pos *pos,
                   size_t n, uint64_t *gen)
{
    enum fcgi_known k = FCGI_KNOWN_CURRENT;

    pthread_mutex_lock(&d->lock);
    if (!d->live || n == 0)
        k = FCGI_KNOWN_NOT;
    for (size_t i = 0; k != FCGI_KNOWN_NOT && i < n; i++) {
        int64_t last = fcgi_lastseq_get(d->known, pos[i].channel);

        /* Far behind: the poll reads its own bounded page, the waiter's
         * shared read stays one page. */
        if (pos[i].cursor < 0 || last < 0 || pos[i].cursor > last ||
            pos[i].cursor < last - SB_HISTORY_MAX)
            k = FCGI_KNOWN_NOT;
        else if (pos[i].cursor < last)
            k = FCGI_KNOWN_BEHIND;
    }
    *gen = atomic_load(&d->gen);
    pthread_mutex_unlock(&d->lock);
    return k;
}

/* True when a doorbell of a generation after gen may have rung one of
 * p's channels. */
static bool
missed(const struct fcgi_deliver *d, const struct fcgi_parked *p, size_t i)
{
    uint64_t now = atomic_load(&d->gen);

    if (p->gen >= now)
        return false;
    if (d->ring_base == UINT64_MAX || p->gen + 1 < d->ring_base)
        return true;
    for (size_t k = 0; k < RING_MAX; k++) {
        const struct ring_entry *e = &d->ring[k];

        if (e->gen > p->gen && strcmp(e->channel, p->pos[i].channel) == 0)
            return true;
    }
    return false;
}

void
fcgi_deliver_add(struct fcgi_deliver *d, struct fcgi_parked *p)
{
    fcgi_index_add(d->index, p);
    for (size_t i = 0; i < p->npos; i++) {
        if (p->behind || missed(d, p, i))
            ring_bell(d, p->pos[i].channel, BELL_ALL);
    }
}

void
fcgi_deliver_remove(struct fcgi_deliver *d, struct fcgi_parked *p)
{
    fcgi_index_remove(d->index, p);
    if (!p->queued)
        return;
    for (struct fcgi_parked **pp = &d->ready_head; *pp != NULL;
         pp = &(*pp)->ready_next) {
        if (*pp == p) {
            *pp = p->ready_next;
            break;
        }
    }
    d->ready_tail = NULL;
    for (struct fcgi_parked *q = d->ready_head; q != NULL; q = q->ready_next)
        d->ready_tail = q;
    p->queued = false;
}

/* --- doorbells --- */

static int
remember(const char *channel, int64_t seq, void *arg)
{
    struct fcgi_deliver *d = arg;
    struct ring_entry *e = &d->ring[d->ring_next];

    if (e->gen != 0 && e->gen >= d->ring_base)
        d->ring_base = e->gen + 1; /* that generation is no longer whole */
    e->gen = atomic_load(&d->gen);
    snprintf(e->channel, sizeof(e->channel), "%s", channel);
    d->ring_next = (d->ring_next + 1) % RING_MAX;
    fcgi_lastseq_set(d->known, channel, seq);
    ring_bell(d, channel, seq);
    return 0;
}

void
fcgi_deliver_doorbell(struct fcgi_deliver *d, const char *payload)
{
    struct sb_error err;
    int rc;

    pthread_mutex_lock(&d->lock);
    atomic_fetch_add(&d->gen, 1);
    rc = sb_doorbell_parse_cb(payload, strlen(payload), remember, d, &err);
    pthread_mutex_unlock(&d->lock);
    if (rc != SB_OK)
        sb_log_warn("waiter: bad doorbell dropped: %s", err.message);
}

/* --- delivering a page of events --- */

struct page {
    PGresult *res;
    int n;
    int64_t from; /* the position the page was read after */
    int64_t bell;
};

static int64_t
row_seq(const struct page *pg, int i)
{
    return strtoll(PQgetvalue(pg->res, i, 0), NULL, 10);
}

void
fcgi_deliver_ready(struct fcgi_deliver *d, struct fcgi_parked *p)
{
    if (p->queued)
        return;
    p->queued = true;
    p->ready_next = NULL;
    if (d->ready_tail != NULL)
        d->ready_tail->ready_next = p;
    else
        d->ready_head = p;
    d->ready_tail = p;
}

struct fcgi_parked *
fcgi_deliver_next_ready(struct fcgi_deliver *d)
{
    struct fcgi_parked *p = d->ready_head;

    if (p == NULL)
        return NULL;
    d->ready_head = p->ready_next;
    if (d->ready_head == NULL)
        d->ready_tail = NULL;
    p->queued = false;
    return p;
}

/* Events c+1.. were pruned before this waiter read them: the channel is
 * at last, its oldest event is oldest. */
static void
reload_at(struct fcgi_deliver *d, struct fcgi_parked *p, size_t i,
          int64_t last, int64_t oldest)
{
    if (p->kind == FCGI_PARK_POLL) {
        fcgi_poll_add_reload(p, i, "pruned", last, oldest);
        fcgi_deliver_ready(d, p);
    } else if (fcgi_sse_send_reload(p, i, "pruned", last, oldest) != SB_OK) {
        fcgi_deliver_ready(d, p);
    }
}

static void
reload(struct fcgi_deliver *d, struct fcgi_parked *p, size_t i,
       const struct page *pg)
{
    int64_t last = row_seq(pg, pg->n - 1);

    if (pg->bell != BELL_ALL && pg->bell > last)
        last = pg->bell;
    reload_at(d, p, i, last, row_seq(pg, 0));
}

/* The read after the lowest waiting position found nothing. When that
 * is because retention removed the events after it (a channel read for
 * a request parked behind, or rung by a doorbell, has newer events than
 * that position), whoever waits before the oldest event reloads. */
static int
all_gone(struct fcgi_deliver *d, PGconn *conn, struct fcgi_chan *c,
         struct sb_error *err)
{
    const char *params[1] = {c->name};
    PGresult *res = fcgi_stmt_exec(conn, &d->prepared, &info_stmt, params, err);
    int64_t last, oldest;

    if (res == NULL)
        return err->code == SB_E_UNAVAILABLE ? SB_ERR : SB_OK;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return SB_OK;
    }
    last = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    oldest = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    PQclear(res);
    for (size_t k = 0; k < c->n; k++) {
        struct fcgi_parked *p = c->v[k].p;
        size_t i = c->v[k].pos;

        if (p->pos[i].cursor < oldest - 1 &&
            !(p->kind == FCGI_PARK_SSE && p->ready))
            reload_at(d, p, i, last, oldest);
    }
    return SB_OK;
}

static void
give(struct fcgi_deliver *d, struct fcgi_parked *p, size_t i,
     const struct page *pg)
{
    int64_t c = p->pos[i].cursor;

    if (p->kind == FCGI_PARK_SSE && p->ready)
        return;
    if (row_seq(pg, 0) > c + 1 && pg->from <= c) {
        reload(d, p, i, pg);
        return;
    }
    for (int k = 0; k < pg->n; k++) {
        int64_t seq = row_seq(pg, k);
        const char *ev = PQgetvalue(pg->res, k, 1);
        size_t len = (size_t)PQgetlength(pg->res, k, 1);

        if (seq <= p->pos[i].cursor)
            continue;
        if (p->kind == FCGI_PARK_POLL) {
            if (fcgi_poll_add_event(p, i, seq, ev, len) != SB_OK)
                break;
            fcgi_deliver_ready(d, p);
        } else if (fcgi_sse_send_event(p, i, seq, ev, len) != SB_OK) {
            p->ready = true;
            fcgi_deliver_ready(d, p);
            return;
        }
    }
    if (p->kind == FCGI_PARK_SSE && fcgi_sse_flush(p) != SB_OK) {
        p->ready = true;
        fcgi_deliver_ready(d, p);
    }
}

/* The lowest position waiting on c below bell, or -1 when none. */
static int64_t
lowest(const struct fcgi_chan *c, int64_t bell)
{
    int64_t min = -1;

    for (size_t k = 0; k < c->n; k++) {
        int64_t cur = c->v[k].p->pos[c->v[k].pos].cursor;

        if (cur < bell && (min < 0 || cur < min))
            min = cur;
    }
    return min;
}

static PGresult *
read_after(struct fcgi_deliver *d, PGconn *conn, const char *channel,
           int64_t from, struct sb_error *err)
{
    char since[24], max[16];
    const char *params[3] = {channel, since, max};

    snprintf(since, sizeof(since), "%lld", (long long)from);
    snprintf(max, sizeof(max), "%d", SB_HISTORY_MAX);
    return fcgi_stmt_exec(conn, &d->prepared, &after_stmt, params, err);
}

/* Read and hand out channel's events from its lowest waiter up to bell. */
static int
run_channel(struct fcgi_deliver *d, PGconn *conn, const struct rung *rg,
            struct sb_error *err)
{
    struct fcgi_chan *c = fcgi_index_find(d->index, rg->channel);
    struct page pg = {NULL, 0, lowest(c, rg->seq), rg->seq};
    bool first = true;

    while (pg.from >= 0) {
        pg.res = read_after(d, conn, rg->channel, pg.from, err);
        if (pg.res == NULL)
            return err->code == SB_E_UNAVAILABLE ? SB_ERR : SB_OK;
        pg.n = PQntuples(pg.res);
        if (pg.n == 0 && first && all_gone(d, conn, c, err) != SB_OK) {
            PQclear(pg.res);
            return SB_ERR;
        }
        first = false;
        for (size_t k = 0; k < c->n && pg.n > 0; k++)
            give(d, c->v[k].p, c->v[k].pos, &pg);
        if (pg.n < SB_HISTORY_MAX || row_seq(&pg, pg.n - 1) >= rg->seq)
            pg.from = -1;
        else
            pg.from = row_seq(&pg, pg.n - 1);
        PQclear(pg.res);
    }
    return SB_OK;
}

int
fcgi_deliver_run(struct fcgi_deliver *d, PGconn *conn, struct sb_error *err)
{
    size_t i;
    int rc = SB_OK;

    for (i = 0; i < d->nrung && rc == SB_OK; i++) {
        struct fcgi_chan *c = fcgi_index_find(d->index, d->rung[i].channel);

        if (c == NULL)
            continue;
        rc = run_channel(d, conn, &d->rung[i], err);
        if (rc == SB_OK)
            c->rung = false;
    }
    if (rc != SB_OK)
        i--; /* keep the failed one and the rest for the next round */
    for (size_t k = 0; k < i; k++)
        free(d->rung[k].channel);
    if (i > 0 && i < d->nrung)
        memmove(d->rung, d->rung + i, (d->nrung - i) * sizeof(*d->rung));
    d->nrung -= i;
    return rc;
}

/* --- signals --- */

void
fcgi_deliver_signal(struct fcgi_deliver *d, const char *payload)
{
    char channel[SB_CHANNEL_MAX + 1];
    struct fcgi_chan *c;
    size_t len = strlen(payload);

    if (strncmp(payload, "{\"channel\":\"", 12) != 0 ||
        fcgi_event_field(payload, "channel", channel, sizeof(channel)) != SB_OK)
        return;
    c = fcgi_index_find(d->index, channel);
    for (size_t k = 0; c != NULL && k < c->n; k++) {
        struct fcgi_parked *p = c->v[k].p;

        if (p->kind == FCGI_PARK_POLL) {
            if (fcgi_poll_add_signal(p, payload, len) == SB_OK)
                fcgi_deliver_ready(d, p);
        } else if (!p->ready && (fcgi_sse_send_signal(p, payload, len) !=
                                     SB_OK ||
                                 fcgi_sse_flush(p) != SB_OK)) {
            p->ready = true;
            fcgi_deliver_ready(d, p);
        }
    }
}
