/*
 * bench_store.c: how fast the event store takes durable events, and how soon
 * a doorbell listener reads them.
 *
 * Throughput: C connections (-c, default 4) publish for a fixed time (-d,
 * default 10 s per case) or event count (-n), over 4 fresh channels, first
 * one event per transaction (switchboard.publish in autocommit: one commit
 * and one NOTIFY each), then switchboard.publish_batch with batches of 10,
 * 100, 500 and 1000 events spread over the channels (one commit, one NOTIFY per
 * batch; -o puts each connection on a channel of its own instead). Every
 * event carries a client-chosen id, as a retrying client would.
 *
 * Latency: a listener LISTENs on the doorbell and, on each one, reads the new
 * events with events_after; each event's data carries the monotonic time the
 * writer took just before sending it, so now - that time is publish-to-read
 * latency (the commit's fsync included). Two steady loads: 200 batches/s of
 * 10 events, and 500 single publishes/s (-l seconds each, default 5).
 *
 * The server should be the only load; fsync stays as configured. The DSN
 * is -D, else $SB_BENCH_DSN, else $SB_TEST_DSN; it needs EXECUTE on the
 * publish and read functions. Every case is bounded by its duration plus a
 * 10 s drain; a failed call ends the run with exit status 1.
 */
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
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

#include "benchopt.h"
#include "clock.h"
#include "doorbell.h"
#include "limits.h"
#include "pg.h"
#include "xalloc.h"

#define N_CHANNELS              4
#define DEFAULT_CONNS           4
#define DEFAULT_SECONDS         10.0
#define DEFAULT_LATENCY_SECONDS 5.0
#define MAX_CONNS               64
/* Room for one batch event's JSON text. */
#define EVENT_JSON_MAX 320
#define DRAIN_SECONDS  10.0
#define READ_PAGE      SB_HISTORY_MAX
#define POLL_MS        500

/* Options and the per-run channel tag. */
static struct {
    const char *dsn;
    int conns;
    double seconds, latency_seconds;
    long max_events;
    bool own_channel;
    unsigned tag;
    int cases;
} O;

/* One measured case. */
struct result {
    const char *label;
    int batch;
    long events, calls;
    double seconds;
};

/* A publishing connection: a thread, its channels and its counts. */
struct worker {
    pthread_t thread;
    PGconn *conn;
    int index, batch;
    double rate; /* calls per second; 0 = as fast as possible */
    char channel[N_CHANNELS][64];
    long events, calls;
    double end;
    const atomic_bool *stop;
    atomic_long *total;
};

static double
now_s(void)
{
    return (double)sb_mono_us() / 1e6;
}

static void
die(const char *what, const char *detail)
{
    fprintf(stderr, "bench_store: %s: %s\n", what, detail);
    exit(1);
}

/* Server notices would interleave with the table; the figures suffice. */
static void
ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static PGconn *
connect_db(void)
{
    struct sb_error err = {0};
    PGconn *conn = sb_pg_connect(O.dsn, "bench_store", &err);

    if (conn == NULL)
        die("connect", err.message);
    PQsetNoticeProcessor(conn, ignore_notice, NULL);
    return conn;
}

static void
exec_ok(PGconn *conn, const char *sql, ExecStatusType want)
{
    PGresult *res = PQexec(conn, sql);

    if (PQresultStatus(res) != want)
        die(sql, PQresultErrorMessage(res));
    PQclear(res);
}

static void
prepare(PGconn *conn, const char *name, const char *sql)
{
    PGresult *res = PQprepare(conn, name, sql, 0, NULL);

    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        die("prepare", PQresultErrorMessage(res));
    PQclear(res);
}

/* Fresh channel names for one case, so every case starts at seq 0. */
static void
case_channels(char (*channel)[64])
{
    int n = ++O.cases;

    for (int c = 0; c < N_CHANNELS; c++)
        snprintf(channel[c], 64, "metrics:bench-%08x-%d-%d", O.tag, n, c);
}

/* ---- publishing ------------------------------------------------------- */

static void
event_data(char *buf, size_t size, long n)
{
    snprintf(buf, size, "{\"n\":%ld,\"t\":%" PRId64 ",\"text\":\"bench\"}", n,
             sb_mono_us());
}

/* The channel of a worker's n-th event: round-robin over the channels, or
 * the worker's own one with -o. */
static const char *
event_channel(const struct worker *w, long n)
{
    return w->channel[(O.own_channel ? w->index : n) % N_CHANNELS];
}

static void
publish_single(struct worker *w)
{
    char data[96], id[37];
    uuid_t u;
    const char *params[5] = {event_channel(w, w->calls), "message", data,
                             "agent:bench", id};
    PGresult *res;

    uuid_generate_random(u);
    uuid_unparse_lower(u, id);
    event_data(data, sizeof data, w->events);
    res = PQexecPrepared(w->conn, "pub", 5, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
        die("publish", PQresultErrorMessage(res));
    PQclear(res);
}

/* The publish_batch argument: w->batch events round-robin over channels. */
static char *
batch_json(const struct worker *w)
{
    size_t cap = (size_t)w->batch * EVENT_JSON_MAX + 4, len = 0;
    char *buf = sb_malloc(cap);

    buf[len++] = '[';
    for (int i = 0; i < w->batch; i++) {
        char data[96], id[37];
        uuid_t u;

        uuid_generate_random(u);
        uuid_unparse_lower(u, id);
        event_data(data, sizeof data, w->events + i);
        len += (size_t)snprintf(buf + len, cap - len,
                                "%s{\"channel\":\"%s\",\"type\":\"message\","
                                "\"data\":%s,\"sender\":\"agent:bench\","
                                "\"id\":\"%s\"}",
                                i ? "," : "", event_channel(w, w->index + i),
                                data, id);
        SB_ASSERT(len < cap);
    }
    buf[len++] = ']';
    buf[len] = '\0';
    return buf;
}

static void
publish_batch(struct worker *w)
{
    char *json = batch_json(w);
    const char *params[1] = {json};
    PGresult *res = PQexecPrepared(w->conn, "batch", 1, params, NULL, NULL, 0);

    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != w->batch)
        die("publish_batch", PQresultErrorMessage(res));
    PQclear(res);
    free(json);
}

static void
worker_connect(struct worker *w)
{
    w->conn = connect_db();
    prepare(w->conn, "pub",
            "SELECT seq FROM switchboard.publish($1, $2, $3::jsonb, $4, "
            "$5::uuid)");
    prepare(w->conn, "batch",
            "SELECT seq FROM switchboard.publish_batch($1::jsonb)");
}

/* Sleep until the worker's next call is due at its steady rate. */
static void
pace(const struct worker *w, double start)
{
    double due = start + (double)w->calls / w->rate;
    double wait = due - now_s();

    if (wait > 0)
        usleep((useconds_t)(wait * 1e6));
}

static void *
worker_main(void *arg)
{
    struct worker *w = arg;
    double start = now_s();

    while (!atomic_load(w->stop)) {
        if (w->rate > 0)
            pace(w, start);
        if (w->batch == 0)
            publish_single(w);
        else
            publish_batch(w);
        w->calls++;
        w->events += w->batch ? w->batch : 1;
        atomic_fetch_add(w->total, w->batch ? w->batch : 1);
    }
    w->end = now_s();
    return NULL;
}

static struct worker *
workers_new(int n, int batch, double rate, const atomic_bool *stop,
            atomic_long *total)
{
    struct worker *ws = sb_calloc((size_t)n, sizeof *ws);
    char channel[N_CHANNELS][64];

    case_channels(channel);
    for (int i = 0; i < n; i++) {
        ws[i].index = i;
        ws[i].batch = batch;
        ws[i].rate = rate / n;
        ws[i].stop = stop;
        ws[i].total = total;
        memcpy(ws[i].channel, channel, sizeof channel);
        worker_connect(&ws[i]);
    }
    return ws;
}

/* Join the workers and sum their counts into r; frees them. */
static void
workers_join(struct worker *ws, int n, double start, struct result *r)
{
    double end = start;

    for (int i = 0; i < n; i++) {
        pthread_join(ws[i].thread, NULL);
        r->events += ws[i].events;
        r->calls += ws[i].calls;
        end = ws[i].end > end ? ws[i].end : end;
        PQfinish(ws[i].conn);
    }
    r->seconds = end - start;
    free(ws);
}

/* Run until the duration has passed or the event count is reached. */
static void
run_for(double start, const atomic_long *total)
{
    while (now_s() - start < O.seconds &&
           (O.max_events == 0 || atomic_load(total) < O.max_events))
        usleep(10000);
}

static struct result
run_throughput(const char *label, int batch)
{
    struct result r = {.label = label, .batch = batch};
    atomic_bool stop = false;
    atomic_long total = 0;
    struct worker *ws = workers_new(O.conns, batch, 0, &stop, &total);
    double start = now_s();

    for (int i = 0; i < O.conns; i++)
        pthread_create(&ws[i].thread, NULL, worker_main, &ws[i]);
    run_for(start, &total);
    atomic_store(&stop, true);
    workers_join(ws, O.conns, start, &r);
    return r;
}

/* ---- the doorbell listener -------------------------------------------- */

struct listener {
    PGconn *conn;
    char channel[N_CHANNELS][64];
    int64_t seen[N_CHANNELS];
    double *lat; /* milliseconds, one per event read */
    size_t n, cap;
    long doorbells;
};

static void
listener_record(struct listener *l, const char *event, int64_t now)
{
    json_t *ev = json_loads(event, 0, NULL);
    json_t *t = json_object_get(json_object_get(ev, "data"), "t");

    if (!json_is_integer(t))
        die("event without data.t", event);
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4096;
        l->lat = sb_realloc(l->lat, l->cap * sizeof *l->lat);
    }
    l->lat[l->n++] = (double)(now - json_integer_value(t)) / 1000.0;
    json_decref(ev);
}

/* Read channel c from its last seen seq until caught up. */
static void
listener_read(struct listener *l, int c)
{
    char since[24], max[8];
    const char *params[3] = {l->channel[c], since, max};
    int n;

    do {
        PGresult *res;
        int64_t now;

        snprintf(since, sizeof since, "%" PRId64, l->seen[c]);
        snprintf(max, sizeof max, "%d", READ_PAGE);
        res = PQexecPrepared(l->conn, "after", 3, params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK)
            die("events_after", PQresultErrorMessage(res));
        now = sb_mono_us();
        n = PQntuples(res);
        for (int i = 0; i < n; i++)
            listener_record(l, PQgetvalue(res, i, 1), now);
        if (n > 0)
            l->seen[c] = strtoll(PQgetvalue(res, n - 1, 0), NULL, 10);
        PQclear(res);
    } while (n == READ_PAGE);
}

static int
channel_of(const struct listener *l, const char *name)
{
    for (int c = 0; c < N_CHANNELS; c++) {
        if (strcmp(l->channel[c], name) == 0)
            return c;
    }
    return -1;
}

static int
listener_entry(const char *channel, int64_t seq, void *arg)
{
    struct listener *l = arg;
    int c = channel_of(l, channel);

    if (c >= 0 && seq > l->seen[c])
        listener_read(l, c);
    return 0;
}

/* Follow one doorbell payload {"channel": last_seq, ...}. */
static void
listener_ring(struct listener *l, const char *payload)
{
    struct sb_error err;

    if (sb_doorbell_parse_cb(payload, strlen(payload), listener_entry, l,
                             &err) != SB_OK)
        die("doorbell payload", err.message);
    l->doorbells++;
}

static void
on_notify(const char *relname, const char *payload, void *arg)
{
    if (strcmp(relname, "switchboard") == 0)
        listener_ring(arg, payload);
}

/* Wait up to ms for doorbells and follow them; on a quiet timeout read
 * every channel anyway (the doorbell is a hint). */
static void
listener_turn(struct listener *l, int ms)
{
    struct pollfd p = {.fd = PQsocket(l->conn), .events = POLLIN};
    int ready = poll(&p, 1, ms);
    struct sb_error err = {0};

    if (ready < 0 || sb_pg_drain_notifies(l->conn, on_notify, l, &err) < 0)
        die("listener", err.message);
    for (int c = 0; ready == 0 && c < N_CHANNELS; c++)
        listener_read(l, c);
}

static void
listener_start(struct listener *l, const struct worker *w)
{
    memset(l, 0, sizeof *l);
    memcpy(l->channel, w->channel, sizeof l->channel);
    l->conn = connect_db();
    prepare(l->conn, "after",
            "SELECT seq, event FROM switchboard.events_after($1, "
            "$2::bigint, $3::integer)");
    exec_ok(l->conn, "LISTEN switchboard", PGRES_COMMAND_OK);
}

/* ---- latency ------------------------------------------------------------ */

struct latency {
    const char *label;
    double rate; /* calls per second */
    int batch;
    long events, doorbells;
    double seconds, p50, p90, p99, max;
};

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* Nearest-rank percentile q (0..1] of n sorted values. */
static double
percentile(const double *sorted, size_t n, double q)
{
    size_t rank = (size_t)(q * (double)n);

    if ((double)rank < q * (double)n)
        rank++;
    return n == 0 ? 0 : sorted[rank > 0 ? rank - 1 : 0];
}

static void
latency_stats(struct latency *lr, struct listener *l)
{
    qsort(l->lat, l->n, sizeof *l->lat, cmp_double);
    lr->events = (long)l->n;
    lr->doorbells = l->doorbells;
    lr->p50 = percentile(l->lat, l->n, 0.50);
    lr->p90 = percentile(l->lat, l->n, 0.90);
    lr->p99 = percentile(l->lat, l->n, 0.99);
    lr->max = l->n ? l->lat[l->n - 1] : 0;
}

/* Follow doorbells while the writers run their steady load. */
static void
listen_for(struct listener *l, atomic_bool *stop, double start)
{
    while (now_s() - start < O.latency_seconds)
        listener_turn(l, 50);
    atomic_store(stop, true);
}

/* After the writers stopped: read until every published event is in. */
static void
listen_drain(struct listener *l, long events)
{
    double end = now_s() + DRAIN_SECONDS;

    while ((long)l->n < events && now_s() < end)
        listener_turn(l, 50);
}

static struct latency
run_latency(const char *label, int batch, double rate)
{
    struct latency lr = {.label = label, .rate = rate, .batch = batch};
    atomic_bool stop = false;
    atomic_long total = 0;
    int n = O.conns < 2 ? O.conns : 2;
    struct worker *ws = workers_new(n, batch, rate, &stop, &total);
    struct listener l;
    struct result r = {0};
    double start;

    listener_start(&l, &ws[0]);
    start = now_s();
    for (int i = 0; i < n; i++)
        pthread_create(&ws[i].thread, NULL, worker_main, &ws[i]);
    listen_for(&l, &stop, start);
    workers_join(ws, n, start, &r);
    listen_drain(&l, r.events);
    if ((long)l.n != r.events)
        fprintf(stderr, "bench_store: %s: read %zu of %ld events\n", label, l.n,
                r.events);
    lr.seconds = r.seconds;
    latency_stats(&lr, &l);
    PQfinish(l.conn);
    free(l.lat);
    return lr;
}

/* ---- report ------------------------------------------------------------- */

static double
rate_of(const struct result *r)
{
    return r->seconds > 0 ? (double)r->events / r->seconds : 0;
}

static void
print_result(const struct result *r)
{
    printf("%-22s %5d %9ld %9ld %8.2f %12.0f %10.0f\n", r->label, O.conns,
           r->events, r->calls, r->seconds, rate_of(r),
           r->seconds > 0 ? (double)r->calls / r->seconds : 0);
}

static void
print_latency(const struct latency *lr)
{
    printf("%-22s %7.0f/s %8ld %9ld %8.2f %8.2f %8.2f %8.2f\n", lr->label,
           lr->rate, lr->events, lr->doorbells, lr->p50, lr->p90, lr->p99,
           lr->max);
}

static void
print_command(int argc, char **argv)
{
    printf("command:");
    for (int i = 0; i < argc; i++)
        printf(" %s", argv[i]);
    printf("\n%d connections, %.0f s per throughput case%s, %d channels, %s\n",
           O.conns, O.seconds, O.max_events ? " (or the event count)" : "",
           N_CHANNELS,
           O.own_channel ? "each connection publishing to one channel"
                         : "each batch spread over all channels");
}

static void
usage(void)
{
    fprintf(stderr, "usage: bench_store [-D dsn] [-c connections] [-d seconds] "
                    "[-n events] [-l latency-seconds] [-o]\n");
    exit(1);
}

static void
parse_args(int argc, char **argv)
{
    int opt;

    O.conns = DEFAULT_CONNS;
    O.seconds = DEFAULT_SECONDS;
    O.latency_seconds = DEFAULT_LATENCY_SECONDS;
    O.dsn =
        getenv("SB_BENCH_DSN") ? getenv("SB_BENCH_DSN") : getenv("SB_TEST_DSN");
    while ((opt = getopt(argc, argv, "D:c:d:n:l:o")) != -1) {
        switch (opt) {
        case 'D':
            O.dsn = optarg;
            break;
        case 'c':
            O.conns = (int)benchopt_int("-c", optarg, 1, MAX_CONNS);
            break;
        case 'd':
            O.seconds = benchopt_real("-d", optarg, 0.01, 600);
            break;
        case 'n':
            O.max_events = (long)benchopt_int("-n", optarg, 0, INT64_MAX);
            break;
        case 'l':
            O.latency_seconds = benchopt_real("-l", optarg, 0.01, 600);
            break;
        case 'o':
            O.own_channel = true;
            break;
        default:
            usage();
        }
    }
    if (O.dsn == NULL)
        benchopt_fail("-D", "no database: give -D or set SB_BENCH_DSN");
}

static void
throughput_table(void)
{
    static const struct {
        const char *label;
        int batch;
    } cases[] = {{"single (1 per tx)", 0},
                 {"batch of 10", 10},
                 {"batch of 100", 100},
                 {"batch of 500", 500},
                 {"batch of 1000", 1000}};
    struct result r[5];

    printf("\n%-22s %5s %9s %9s %8s %12s %10s\n", "durable publish", "conns",
           "events", "commits", "seconds", "events/s", "commits/s");
    for (int i = 0; i < 5; i++) {
        r[i] = run_throughput(cases[i].label, cases[i].batch);
        print_result(&r[i]);
    }
    for (int i = 2; i < 5; i++)
        printf("ratio %s / single: %.1fx\n", cases[i].label,
               rate_of(&r[0]) > 0 ? rate_of(&r[i]) / rate_of(&r[0]) : 0);
}

static void
latency_table(void)
{
    struct latency a, b;

    printf("\n%-22s %9s %8s %9s %8s %8s %8s %8s\n", "publish-to-read (ms)",
           "rate", "events", "doorbells", "p50", "p90", "p99", "max");
    a = run_latency("batches of 10", 10, 200);
    print_latency(&a);
    b = run_latency("single publishes", 0, 500);
    print_latency(&b);
}

int
main(int argc, char **argv)
{
    parse_args(argc, argv);
    setvbuf(stdout, NULL, _IOLBF, 0);
    O.tag = (unsigned)time(NULL) ^ ((unsigned)getpid() << 16);
    print_command(argc, argv);
    throughput_table();
    latency_table();
    return 0;
}
