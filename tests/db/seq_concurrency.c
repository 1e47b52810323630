/*
 * seq_concurrency.c: the proof of switchboard's seq invariant under load.
 *
 * Eight (or -w) writer threads, each on its own connection, publish 40,000
 * (or -n) distinct events over four fresh channels, mixing single publishes
 * (switchboard.publish) and batches of 2..200 events spanning channels
 * (switchboard.publish_batch), with client-chosen ids. About a tenth of the
 * publishes are retries of an id already sent: at once, later, from another
 * thread, repeated inside one batch, and raced by two threads released by a
 * barrier. Every result must carry the id's one seq; every retry of an
 * acknowledged id must say duplicate = true; exactly one publication of each
 * id may say duplicate = false.
 *
 * Meanwhile one reader LISTENs on the doorbell (parsed by lib/doorbell.h)
 * and, on every doorbell (and every 500 ms), reads each channel with
 * events_after(channel, since) until caught up. It checks that each
 * channel's seqs arrive as 1, 2, 3, ... and that every event is one a writer
 * published, seen exactly once. At the end it compares reader, writers,
 * channel_info and the events table.
 *
 * Environment: SB_TEST_DSN (a member of switchboard_app: publishing and
 * reading), SB_TEST_OWNER_DSN (optional: the final table check reads
 * switchboard.events, which only the owner may; without it the check reads
 * the event_log view over SB_TEST_DSN). Exit 0 on pass, 1 on failure.
 * The whole run is bounded by 120 s (-t).
 */
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <libpq-fe.h>
#include <uuid/uuid.h>

#include "clock.h"
#include "doorbell.h"
#include "pg.h"
#include "xalloc.h"

#define N_CHANNELS        4
#define DEFAULT_WRITERS   8
#define DEFAULT_EVENTS    40000
#define DEFAULT_TIMEOUT_S 120
/* Ids raced by the two writers of a pair, released together by a barrier. */
#define CONTESTED_PER_PAIR 100
#define BATCH_MIN          2
#define BATCH_MAX          200
/* Room in one call: a batch, later retries, an in-batch repeat. */
#define CALL_MAX (BATCH_MAX + 16)
/* Percent of calls that are single publishes (the rest are batches). */
#define SINGLE_PCT 95
/* Percent chances of the retry kinds. */
#define RETRY_NOW_PCT    15
#define RETRY_LATER_PCT  15
#define RETRY_BATCH_PCT  8
#define BATCH_LATER_PCT  30
#define BATCH_REPEAT_PCT 10
#define READ_PAGE        1000
#define POLL_MS          500
#define MAX_REPORTS      20

/* Expected "duplicate" of one result. */
enum expect { EXPECT_NEW, EXPECT_DUP, EXPECT_EITHER };

/* One distinct id and what every party saw of it. */
struct event {
    uuid_t id;
    char id_text[37];
    int channel;
    _Atomic int64_t seq; /* from the first result; 0 until acknowledged */
    atomic_int firsts;   /* results with duplicate = false */
    atomic_int dups;     /* results with duplicate = true */
    int64_t read_seq;    /* reader thread only */
    int read_count;      /* reader thread only */
};

/* The items of one publish call and what each should return. */
struct call {
    int n;
    int idx[CALL_MAX];
    enum expect expect[CALL_MAX];
};

struct writer {
    int index;
    pthread_t thread;
    PGconn *conn;
    uint64_t rng;
    int own_begin, own_next, own_end;
    int contested_base, contested_done;
    long singles, batches;
};

struct reader {
    pthread_t thread;
    PGconn *conn;
    int64_t seen[N_CHANNELS];
    int64_t bell[N_CHANNELS];
    int64_t last[N_CHANNELS];
    long doorbells, reads;
    int rc; /* of the doorbells followed in one drain */
};

/* The run: set up by main, shared read-only except for the atomics. */
static struct {
    const char *dsn, *owner_dsn;
    int writers, n_events, n_own, contested;
    unsigned seed;
    double timeout, start;
    char channel[N_CHANNELS][64];
    struct event *ev;
    pthread_barrier_t *pair;
    atomic_int running;
    atomic_bool writers_done;
    atomic_bool failed;
    atomic_int reports;
} R;

static double
now_s(void)
{
    return (double)sb_mono_us() / 1e6;
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Record a failure; the first MAX_REPORTS are printed. */
static void
fail(const char *fmt, ...)
{
    va_list ap;

    atomic_store(&R.failed, true);
    if (atomic_fetch_add(&R.reports, 1) >= MAX_REPORTS)
        return;
    va_start(ap, fmt);
    fputs("seq_concurrency: FAIL: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static bool
past_deadline(void)
{
    return now_s() - R.start > R.timeout;
}

static uint64_t
rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static int
rnd_range(uint64_t *s, int lo, int hi)
{
    return lo + (int)(rnd(s) % (uint64_t)(hi - lo + 1));
}

static bool
chance(uint64_t *s, int pct)
{
    return (int)(rnd(s) % 100) < pct;
}

static PGconn *
connect_db(const char *dsn)
{
    struct sb_error err = {0};
    PGconn *conn = sb_pg_connect(dsn, "seq_concurrency", &err);

    if (conn == NULL)
        fail("connect: %s", err.message);
    return conn;
}

/* ---- the events: ids carry their index in the last four bytes ---------- */

static void
event_init(struct event *e, int index, uint64_t *rng)
{
    uuid_generate_random(e->id);
    e->id[12] = (unsigned char)(index >> 24);
    e->id[13] = (unsigned char)(index >> 16);
    e->id[14] = (unsigned char)(index >> 8);
    e->id[15] = (unsigned char)index;
    uuid_unparse_lower(e->id, e->id_text);
    e->channel = rnd_range(rng, 0, N_CHANNELS - 1);
}

/* Index of the event with this id text, or -1 when no writer made it. */
static int
event_lookup(const char *text)
{
    uuid_t u;
    int index;

    if (text == NULL || uuid_parse(text, u) != 0)
        return -1;
    index = (u[12] << 24) | (u[13] << 16) | (u[14] << 8) | u[15];
    if (index < 0 || index >= R.n_events)
        return -1;
    return uuid_compare(u, R.ev[index].id) == 0 ? index : -1;
}

/* Record one publish result for event idx; checks seq and duplicate. */
static void
record_result(int idx, int64_t seq, bool dup, enum expect expect)
{
    struct event *e = &R.ev[idx];
    int64_t old = 0;

    if (seq <= 0)
        fail("id %s: seq %" PRId64 " returned", e->id_text, seq);
    if (!atomic_compare_exchange_strong(&e->seq, &old, seq) && old != seq)
        fail("id %s: seq %" PRId64 " returned, earlier %" PRId64, e->id_text,
             seq, old);
    if (expect == EXPECT_DUP && !dup)
        fail("retry of %s returned duplicate = false", e->id_text);
    if (expect == EXPECT_NEW && dup)
        fail("first publish of %s returned duplicate = true", e->id_text);
    atomic_fetch_add(dup ? &e->dups : &e->firsts, 1);
}

/* ---- writers: building and sending calls ------------------------------- */

static void
call_add(struct call *c, int idx, enum expect expect)
{
    SB_ASSERT(c->n < CALL_MAX);
    c->idx[c->n] = idx;
    c->expect[c->n] = expect;
    c->n++;
}

/* An event any writer has had acknowledged, or -1 when none was found. */
static int
pick_acknowledged(struct writer *w)
{
    for (int tries = 0; tries < 8; tries++) {
        int idx = rnd_range(&w->rng, 0, R.n_events - 1);
        if (atomic_load(&R.ev[idx].seq) != 0)
            return idx;
    }
    return -1;
}

static int
event_data(char *buf, size_t size, int idx)
{
    return snprintf(buf, size, "{\"n\": %d}", idx);
}

static int
send_single(struct writer *w, int idx, enum expect expect)
{
    const struct event *e = &R.ev[idx];
    char data[32], sender[32];
    const char *params[5] = {R.channel[e->channel], "message", data, sender,
                             e->id_text};
    PGresult *res;
    int rc = SB_ERR;

    event_data(data, sizeof data, idx);
    snprintf(sender, sizeof sender, "agent:writer-%d", w->index);
    res = PQexecPrepared(w->conn, "pub", 5, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        fail("publish %s: %s", e->id_text, PQresultErrorMessage(res));
        goto out;
    }
    if (strcmp(PQgetvalue(res, 0, 1), e->id_text) != 0)
        fail("publish %s returned id %s", e->id_text, PQgetvalue(res, 0, 1));
    record_result(idx, strtoll(PQgetvalue(res, 0, 0), NULL, 10),
                  PQgetvalue(res, 0, 2)[0] == 't', expect);
    w->singles++;
    rc = SB_OK;
out:
    PQclear(res);
    return rc;
}

/* The publish_batch argument for a call, as a new string. */
static char *
batch_json(const struct writer *w, const struct call *c)
{
    size_t cap = (size_t)c->n * 256 + 4, len = 0;
    char *buf = sb_malloc(cap);

    buf[len++] = '[';
    for (int i = 0; i < c->n; i++) {
        const struct event *e = &R.ev[c->idx[i]];
        char data[32];

        event_data(data, sizeof data, c->idx[i]);
        len += (size_t)snprintf(buf + len, cap - len,
                                "%s{\"channel\":\"%s\",\"type\":\"message\","
                                "\"data\":%s,\"sender\":\"agent:writer-%d\","
                                "\"id\":\"%s\"}",
                                i ? "," : "", R.channel[e->channel], data,
                                w->index, e->id_text);
        SB_ASSERT(len < cap);
    }
    buf[len++] = ']';
    buf[len] = '\0';
    return buf;
}

/* Check one publish_batch row against the call and record it. */
static void
batch_row(const struct call *c, PGresult *res, int row, bool *got)
{
    int ord = atoi(PQgetvalue(res, row, 0));
    const struct event *e;

    if (ord < 0 || ord >= c->n || got[ord]) {
        fail("publish_batch returned ord %d (batch of %d)", ord, c->n);
        return;
    }
    got[ord] = true;
    e = &R.ev[c->idx[ord]];
    if (strcmp(PQgetvalue(res, row, 1), R.channel[e->channel]) != 0 ||
        strcmp(PQgetvalue(res, row, 3), e->id_text) != 0)
        fail("publish_batch ord %d: channel %s id %s, sent %s %s", ord,
             PQgetvalue(res, row, 1), PQgetvalue(res, row, 3),
             R.channel[e->channel], e->id_text);
    record_result(c->idx[ord], strtoll(PQgetvalue(res, row, 2), NULL, 10),
                  PQgetvalue(res, row, 4)[0] == 't', c->expect[ord]);
}

static int
send_batch(struct writer *w, const struct call *c)
{
    char *json = batch_json(w, c);
    const char *params[1] = {json};
    bool got[CALL_MAX] = {false};
    PGresult *res = PQexecPrepared(w->conn, "batch", 1, params, NULL, NULL, 0);
    int rc = SB_ERR;

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        fail("publish_batch: %s", PQresultErrorMessage(res));
        goto out;
    }
    if (PQntuples(res) != c->n)
        fail("publish_batch of %d returned %d rows", c->n, PQntuples(res));
    for (int row = 0; row < PQntuples(res); row++)
        batch_row(c, res, row, got);
    w->batches++;
    rc = SB_OK;
out:
    PQclear(res);
    free(json);
    return rc;
}

/* A single publish of a fresh event, sometimes retried at once, sometimes
 * followed by a retry of an event acknowledged earlier (by anyone). */
static int
op_single(struct writer *w)
{
    int idx = w->own_next++, later;

    if (send_single(w, idx, EXPECT_NEW) < 0)
        return SB_ERR;
    if (chance(&w->rng, RETRY_NOW_PCT) && send_single(w, idx, EXPECT_DUP) < 0)
        return SB_ERR;
    if (!chance(&w->rng, RETRY_LATER_PCT))
        return SB_OK;
    later = pick_acknowledged(w);
    return later < 0 ? SB_OK : send_single(w, later, EXPECT_DUP);
}

/* Items of a batch: fresh events, maybe some acknowledged ones, maybe one
 * repeated inside the batch. */
static void
fill_batch(struct writer *w, struct call *c)
{
    int k = rnd_range(&w->rng, BATCH_MIN, BATCH_MAX);

    c->n = 0;
    while (c->n < k && w->own_next < w->own_end)
        call_add(c, w->own_next++, EXPECT_NEW);
    if (c->n < BATCH_MIN || chance(&w->rng, BATCH_LATER_PCT)) {
        for (int i = rnd_range(&w->rng, 1, 5); i > 0; i--) {
            int later = pick_acknowledged(w);
            if (later >= 0)
                call_add(c, later, EXPECT_DUP);
        }
    }
    if (c->n > 0 && chance(&w->rng, BATCH_REPEAT_PCT))
        call_add(c, c->idx[rnd_range(&w->rng, 0, c->n - 1)], EXPECT_DUP);
}

/* A batch, sometimes sent again whole right away. */
static int
op_batch(struct writer *w)
{
    struct call c;

    fill_batch(w, &c);
    if (c.n == 0)
        return SB_OK;
    if (send_batch(w, &c) < 0)
        return SB_ERR;
    if (!chance(&w->rng, RETRY_BATCH_PCT))
        return SB_OK;
    for (int i = 0; i < c.n; i++)
        c.expect[i] = EXPECT_DUP;
    return send_batch(w, &c);
}

/* The next raced id: both writers of a pair wait at the barrier, then one
 * publishes it alone and the other inside a batch with fresh events. */
static int
op_contested(struct writer *w)
{
    int idx = w->contested_base + w->contested_done++;
    struct call c = {0};

    pthread_barrier_wait(&R.pair[w->index / 2]);
    if (w->index % 2 == 0)
        return send_single(w, idx, EXPECT_EITHER);
    for (int i = rnd_range(&w->rng, 0, 9); i > 0; i--) {
        if (w->own_next < w->own_end)
            call_add(&c, w->own_next++, EXPECT_NEW);
    }
    call_add(&c, idx, EXPECT_EITHER);
    return send_batch(w, &c);
}

/* Raced ids are spread evenly over a writer's run. */
static bool
contested_due(const struct writer *w)
{
    long done = w->own_next - w->own_begin;
    long total = w->own_end - w->own_begin;

    if (w->contested_done >= R.contested)
        return false;
    return w->own_next == w->own_end ||
           done * R.contested >= (long)w->contested_done * total;
}

static int
writer_prepare(struct writer *w)
{
    static const char *pub = "SELECT seq, id, duplicate FROM "
                             "switchboard.publish($1, $2, $3::jsonb, $4, "
                             "$5::uuid)";
    static const char *batch = "SELECT ord, channel, seq, id, duplicate FROM "
                               "switchboard.publish_batch($1::jsonb)";
    PGresult *a = PQprepare(w->conn, "pub", pub, 0, NULL);
    PGresult *b = PQprepare(w->conn, "batch", batch, 0, NULL);
    int rc = SB_OK;

    if (PQresultStatus(a) != PGRES_COMMAND_OK ||
        PQresultStatus(b) != PGRES_COMMAND_OK) {
        fail("prepare: %s%s", PQresultErrorMessage(a), PQresultErrorMessage(b));
        rc = SB_ERR;
    }
    PQclear(a);
    PQclear(b);
    return rc;
}

static bool
writer_busy(const struct writer *w)
{
    return w->own_next < w->own_end || w->contested_done < R.contested;
}

static void *
writer_main(void *arg)
{
    struct writer *w = arg;
    int rc = SB_OK;

    while (rc == SB_OK && writer_busy(w) && !atomic_load(&R.failed)) {
        if (contested_due(w))
            rc = op_contested(w);
        else if (chance(&w->rng, SINGLE_PCT))
            rc = op_single(w);
        else
            rc = op_batch(w);
    }
    PQfinish(w->conn);
    w->conn = NULL;
    atomic_fetch_sub(&R.running, 1);
    return NULL;
}

/* ---- the reader -------------------------------------------------------- */

static int
channel_index(const char *name)
{
    for (int c = 0; c < N_CHANNELS; c++) {
        if (strcmp(name, R.channel[c]) == 0)
            return c;
    }
    return -1;
}

/* Check one event row of channel c: the next seq, a known id, first time. */
static void
read_row(struct reader *rd, int c, int64_t seq, const char *text)
{
    json_t *ev = json_loads(text, 0, NULL);
    json_t *jseq = json_object_get(ev, "seq");
    const char *ch = json_string_value(json_object_get(ev, "channel"));
    int idx = event_lookup(json_string_value(json_object_get(ev, "id")));

    if (seq != rd->seen[c] + 1)
        fail("%s: read seq %" PRId64 " after %" PRId64, R.channel[c], seq,
             rd->seen[c]);
    if (!json_is_integer(jseq) || json_integer_value(jseq) != seq ||
        ch == NULL || strcmp(ch, R.channel[c]) != 0)
        fail("%s seq %" PRId64 ": event %s", R.channel[c], seq, text);
    if (idx < 0)
        fail("%s seq %" PRId64 ": id no writer published: %s", R.channel[c],
             seq, text);
    else if (R.ev[idx].channel != c || R.ev[idx].read_count++ > 0)
        fail("%s seq %" PRId64 ": id %s seen twice or on the wrong channel",
             R.channel[c], seq, R.ev[idx].id_text);
    else
        R.ev[idx].read_seq = seq;
    rd->seen[c] = seq;
    json_decref(ev);
}

/* One events_after page of channel c; returns rows read or SB_ERR. */
static int
read_page(struct reader *rd, int c)
{
    char since[24], max[8];
    const char *params[3] = {R.channel[c], since, max};
    PGresult *res;
    int n;

    snprintf(since, sizeof since, "%" PRId64, rd->seen[c]);
    snprintf(max, sizeof max, "%d", READ_PAGE);
    res = PQexecParams(rd->conn,
                       "SELECT seq, event FROM "
                       "switchboard.events_after($1, $2::bigint, $3::integer)",
                       3, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        fail("events_after(%s, %s): %s", R.channel[c], since,
             PQresultErrorMessage(res));
        PQclear(res);
        return SB_ERR;
    }
    n = PQntuples(res);
    for (int i = 0; i < n; i++)
        read_row(rd, c, strtoll(PQgetvalue(res, i, 0), NULL, 10),
                 PQgetvalue(res, i, 1));
    rd->reads++;
    PQclear(res);
    return n;
}

/* Read channel c until a page comes back short: caught up. */
static int
catch_up(struct reader *rd, int c)
{
    int n;

    do {
        n = read_page(rd, c);
    } while (n == READ_PAGE);
    return n < 0 ? SB_ERR : SB_OK;
}

/* A doorbell said channel c reached seq bell: read, and check we got there. */
static int
ring(struct reader *rd, int c, int64_t bell)
{
    if (bell > rd->bell[c])
        rd->bell[c] = bell;
    if (rd->seen[c] >= bell)
        return SB_OK;
    if (catch_up(rd, c) < 0)
        return SB_ERR;
    if (rd->seen[c] < bell)
        fail("%s: doorbell said %" PRId64 " but events_after ends at %" PRId64,
             R.channel[c], bell, rd->seen[c]);
    return SB_OK;
}

static int
doorbell_entry(const char *channel, int64_t seq, void *arg)
{
    int c = channel_index(channel);

    return c < 0 ? SB_OK : ring(arg, c, seq);
}

/* Follow one doorbell payload {"channel": last_seq, ...} (lib/doorbell.h). */
static int
doorbell(struct reader *rd, const char *payload)
{
    struct sb_error err;
    int rc;

    rd->doorbells++;
    rc = sb_doorbell_parse_cb(payload, strlen(payload), doorbell_entry, rd,
                              &err);
    if (rc == SB_ERR && !atomic_load(&R.failed))
        fail("doorbell payload %s: %s", payload, err.message);
    return rc == SB_OK ? SB_OK : SB_ERR;
}

static void
on_notify(const char *relname, const char *payload, void *arg)
{
    struct reader *rd = arg;

    if (rd->rc == SB_OK && strcmp(relname, "switchboard") == 0)
        rd->rc = doorbell(rd, payload);
}

static int
drain_notifies(struct reader *rd)
{
    struct sb_error err = {0};

    rd->rc = SB_OK;
    if (sb_pg_drain_notifies(rd->conn, on_notify, rd, &err) < 0) {
        fail("listener: %s", err.message);
        return SB_ERR;
    }
    return rd->rc;
}

/* Wait up to ms for the listener socket; >0 readable, 0 timeout. */
static int
wait_socket(struct reader *rd, int ms)
{
    struct pollfd p = {.fd = PQsocket(rd->conn), .events = POLLIN};

    return poll(&p, 1, ms);
}

static int
catch_up_all(struct reader *rd)
{
    for (int c = 0; c < N_CHANNELS; c++) {
        if (catch_up(rd, c) < 0)
            return SB_ERR;
    }
    return SB_OK;
}

/* channel_info(c).last_seq for each channel, into rd->last. */
static int
fetch_last_seqs(PGconn *conn, int64_t *last)
{
    for (int c = 0; c < N_CHANNELS; c++) {
        const char *params[1] = {R.channel[c]};
        PGresult *res = PQexecParams(
            conn, "SELECT last_seq FROM switchboard.channel_info($1)", 1, NULL,
            params, NULL, NULL, 0);
        bool ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;

        if (!ok)
            fail("channel_info(%s): %s (%d rows)", R.channel[c],
                 PQresultErrorMessage(res), PQntuples(res));
        else
            last[c] = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        PQclear(res);
        if (!ok)
            return SB_ERR;
    }
    return SB_OK;
}

/* Writers are done: caught up to last_seq, and every last doorbell in? */
static bool
reader_finished(struct reader *rd)
{
    for (int c = 0; c < N_CHANNELS; c++) {
        if (rd->seen[c] < rd->last[c] || rd->bell[c] < rd->last[c])
            return false;
    }
    return true;
}

static int
reader_listen(struct reader *rd)
{
    PGresult *res = PQexec(rd->conn, "LISTEN switchboard");
    int rc = PQresultStatus(res) == PGRES_COMMAND_OK ? SB_OK : SB_ERR;

    if (rc < 0)
        fail("LISTEN switchboard: %s", PQresultErrorMessage(res));
    PQclear(res);
    return rc;
}

/* One turn of the reader loop; SB_AGAIN to go on, SB_OK when finished. */
static int
reader_turn(struct reader *rd, bool *have_last)
{
    int ready = wait_socket(rd, POLL_MS);

    if (ready < 0 || drain_notifies(rd) < 0)
        return SB_ERR;
    if (ready == 0 && catch_up_all(rd) < 0)
        return SB_ERR;
    if (!*have_last && atomic_load(&R.writers_done)) {
        if (fetch_last_seqs(rd->conn, rd->last) < 0 || catch_up_all(rd) < 0)
            return SB_ERR;
        *have_last = true;
    }
    return *have_last && reader_finished(rd) ? SB_OK : SB_AGAIN;
}

static void *
reader_main(void *arg)
{
    struct reader *rd = arg;
    bool have_last = false;
    int rc = SB_AGAIN;

    while (rc == SB_AGAIN && !atomic_load(&R.failed)) {
        rc = reader_turn(rd, &have_last);
        if (rc == SB_AGAIN && past_deadline()) {
            fail("reader not caught up after %.0f s", R.timeout);
            rc = SB_ERR;
        }
    }
    return NULL;
}

/* ---- final checks ------------------------------------------------------ */

/* Every id: published once as new, one seq everywhere, read exactly once. */
static long
check_events(long *per_channel)
{
    long dups = 0;

    for (int i = 0; i < R.n_events; i++) {
        struct event *e = &R.ev[i];
        int firsts = atomic_load(&e->firsts);

        per_channel[e->channel]++;
        dups += atomic_load(&e->dups);
        if (firsts != 1)
            fail("id %s: %d publishes returned duplicate = false", e->id_text,
                 firsts);
        if (e->read_count != 1)
            fail("id %s: reader saw it %d times", e->id_text, e->read_count);
        else if (e->read_seq != atomic_load(&e->seq))
            fail("id %s: writer got seq %" PRId64 ", reader saw %" PRId64,
                 e->id_text, atomic_load(&e->seq), e->read_seq);
    }
    return dups;
}

static void
check_channels(const struct reader *rd, const long *planned)
{
    for (int c = 0; c < N_CHANNELS; c++) {
        if (planned[c] != rd->last[c] || planned[c] != rd->seen[c])
            fail("%s: %ld distinct ids published, last_seq %" PRId64
                 ", reader at %" PRId64,
                 R.channel[c], planned[c], rd->last[c], rd->seen[c]);
    }
    if (rd->doorbells == 0)
        fail("no doorbell arrived");
}

static void
check_table_row(PGresult *res, int i, const long *planned)
{
    int c = channel_index(PQgetvalue(res, i, 0));
    long n = c < 0 ? -1 : planned[c];

    if (c < 0 || atol(PQgetvalue(res, i, 1)) != n ||
        atol(PQgetvalue(res, i, 2)) != n || atol(PQgetvalue(res, i, 3)) != 1 ||
        atol(PQgetvalue(res, i, 4)) != n)
        fail("table: %s count %s distinct ids %s seqs %s..%s, expected %ld",
             PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
             PQgetvalue(res, i, 2), PQgetvalue(res, i, 3),
             PQgetvalue(res, i, 4), n);
}

/* The table itself: per channel count = distinct ids = max seq = N_c, min 1. */
static void
check_table(const long *planned)
{
    const char *sql = R.owner_dsn
                          ? "SELECT channel, count(*), count(DISTINCT id), "
                            "min(seq), max(seq) FROM switchboard.events "
                            "WHERE channel = ANY($1::text[]) GROUP BY channel"
                          : "SELECT channel, count(*), count(DISTINCT id), "
                            "min(seq), max(seq) FROM switchboard.event_log "
                            "WHERE channel = ANY($1::text[]) GROUP BY channel";
    char names[N_CHANNELS * 64 + 8];
    const char *params[1] = {names};
    PGconn *conn = connect_db(R.owner_dsn ? R.owner_dsn : R.dsn);
    PGresult *res;

    if (conn == NULL)
        return;
    snprintf(names, sizeof names, "{%s,%s,%s,%s}", R.channel[0], R.channel[1],
             R.channel[2], R.channel[3]);
    res = PQexecParams(conn, sql, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != N_CHANNELS)
        fail("table check: %s (%d channels)", PQresultErrorMessage(res),
             PQntuples(res));
    for (int i = 0; i < PQntuples(res); i++)
        check_table_row(res, i, planned);
    PQclear(res);
    PQfinish(conn);
}

/* ---- setup and main ---------------------------------------------------- */

static void
usage(void)
{
    fprintf(stderr, "usage: seq_concurrency [-w writers (>= 2, even)] "
                    "[-n events] [-t seconds] [-s seed]\n");
    exit(1);
}

static void
parse_args(int argc, char **argv)
{
    int opt;

    R.writers = DEFAULT_WRITERS;
    R.n_events = DEFAULT_EVENTS;
    R.timeout = DEFAULT_TIMEOUT_S;
    R.seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    while ((opt = getopt(argc, argv, "w:n:t:s:")) != -1) {
        switch (opt) {
        case 'w':
            R.writers = atoi(optarg);
            break;
        case 'n':
            R.n_events = atoi(optarg);
            break;
        case 't':
            R.timeout = atof(optarg);
            break;
        case 's':
            R.seed = (unsigned)strtoul(optarg, NULL, 10);
            break;
        default:
            usage();
        }
    }
    if (R.writers < 2 || R.writers % 2 || R.timeout <= 0)
        usage();
    R.contested = CONTESTED_PER_PAIR;
    R.n_own = (R.n_events - R.writers / 2 * R.contested) / R.writers;
    if (R.n_own < 1)
        usage();
    R.n_events = R.n_own * R.writers + R.writers / 2 * R.contested;
}

/* Fresh channels and ids for this run. */
static void
setup_run(void)
{
    uint64_t rng = ((uint64_t)R.seed << 1) | 1;
    unsigned tag = (unsigned)rnd(&rng) ^ (unsigned)time(NULL);

    for (int c = 0; c < N_CHANNELS; c++)
        snprintf(R.channel[c], sizeof R.channel[c], "chat:stress-%08x-%d", tag,
                 c);
    R.ev = sb_calloc((size_t)R.n_events, sizeof *R.ev);
    for (int i = 0; i < R.n_events; i++)
        event_init(&R.ev[i], i, &rng);
    R.pair = sb_calloc((size_t)R.writers / 2, sizeof *R.pair);
    for (int p = 0; p < R.writers / 2; p++)
        pthread_barrier_init(&R.pair[p], NULL, 2);
}

static int
start_writers(struct writer *ws)
{
    int contested_base = R.n_own * R.writers;

    atomic_store(&R.running, R.writers);
    for (int i = 0; i < R.writers; i++) {
        struct writer *w = &ws[i];

        w->index = i;
        w->rng =
            ((uint64_t)R.seed << 8) ^ (uint64_t)(i + 1) * 0x9e3779b97f4a7c15ULL;
        w->own_begin = w->own_next = i * R.n_own;
        w->own_end = w->own_begin + R.n_own;
        w->contested_base = contested_base + i / 2 * R.contested;
        w->conn = connect_db(R.dsn);
        if (w->conn == NULL || writer_prepare(w) < 0)
            return SB_ERR;
    }
    for (int i = 0; i < R.writers; i++)
        pthread_create(&ws[i].thread, NULL, writer_main, &ws[i]);
    return SB_OK;
}

/* Wait for the writers, bounded; a stuck run exits here (threads are left
 * behind, possibly at a barrier whose partner failed). */
static void
wait_writers(struct writer *ws)
{
    while (atomic_load(&R.running) > 0) {
        if (atomic_load(&R.failed) || past_deadline()) {
            fail("writers %s after %.1f s",
                 atomic_load(&R.failed) ? "failed" : "not done",
                 now_s() - R.start);
            exit(1);
        }
        usleep(20000);
    }
    for (int i = 0; i < R.writers; i++)
        pthread_join(ws[i].thread, NULL);
    atomic_store(&R.writers_done, true);
}

static void
summary(const struct writer *ws, const struct reader *rd, long dups)
{
    long singles = 0, batches = 0;

    for (int i = 0; i < R.writers; i++) {
        singles += ws[i].singles;
        batches += ws[i].batches;
    }
    printf("seq_concurrency: ok: %d events over %d channels (%" PRId64
           "/%" PRId64 "/%" PRId64 "/%" PRId64 "), %d writers, %ld duplicates "
           "retried, %ld single + %ld batch calls, %ld doorbells, %ld reads, "
           "seed %u, %.1f s\n",
           R.n_events, N_CHANNELS, rd->last[0], rd->last[1], rd->last[2],
           rd->last[3], R.writers, dups, singles, batches, rd->doorbells,
           rd->reads, R.seed, now_s() - R.start);
}

int
main(int argc, char **argv)
{
    struct writer *ws;
    struct reader rd = {0};
    long planned[N_CHANNELS] = {0}, dups;

    parse_args(argc, argv);
    R.dsn = getenv("SB_TEST_DSN");
    R.owner_dsn = getenv("SB_TEST_OWNER_DSN");
    if (R.dsn == NULL) {
        fprintf(stderr, "seq_concurrency: FAIL: SB_TEST_DSN is not set\n");
        return 1;
    }
    setbuf(stdout, NULL);
    R.start = now_s();
    setup_run();
    ws = sb_calloc((size_t)R.writers, sizeof *ws);
    rd.conn = connect_db(R.dsn);
    if (rd.conn == NULL || reader_listen(&rd) < 0 || start_writers(ws) < 0)
        return 1;
    pthread_create(&rd.thread, NULL, reader_main, &rd);
    wait_writers(ws);
    pthread_join(rd.thread, NULL);
    PQfinish(rd.conn);
    if (atomic_load(&R.failed))
        return 1;
    dups = check_events(planned);
    check_channels(&rd, planned);
    check_table(planned);
    if (atomic_load(&R.failed))
        return 1;
    summary(ws, &rd, dups);
    free(ws);
    free(R.ev);
    return 0;
}
