/*
 * pollload.c: load for long-polling and REST over HTTP/1.1, against
 * switchboard-fcgi behind a web server (-k sb) or Nchan's long-poll
 * subscriber in nginx (-k nchan). One thread drives every client
 * connection through epoll (keep-alive, non-blocking); a second thread
 * publishes.
 *
 *   pollload park -k sb|nchan -u URL [-n 5000] [-p LABEL=PID[+]]...
 *       n long-polls on one channel; once the server reports all n waiting
 *       (switchboard: switchboard_parked_requests in /api/v1/metrics;
 *       Nchan: "subscribers" in its stub status), the resident memory of
 *       each -p process is read again, one event is published, and the
 *       time until every poll has its answer is measured (each poll is
 *       answered once; nobody polls again).
 *   pollload rate -k sb|nchan -u URL [-n 1000] [-C 10] [-b 10] [-r 5] [-d 10]
 *       n pollers over C channels (poller i on channel i mod C), each
 *       polling again at once with its cursor; r times a second the
 *       publisher sends b events to every channel (switchboard: one
 *       publish_batch call from its own database connection; Nchan: b
 *       pipelined POSTs per channel on one keep-alive connection). Reports
 *       deliveries per second, events per response, publish-to-receive
 *       latency and the CPU time of the -p processes per delivery.
 *   pollload rest -u URL [-n 16] [-C 10] [-d 5] [-l 100]
 *       n connections, each sending its next request when the last is
 *       answered: d seconds of single-event POST .../events, then d seconds
 *       of GET .../events?after=N&limit=l at random N.
 *
 * -p LABEL=PID names a process to measure (RSS from /proc/PID/status, CPU
 * from utime+stime in /proc/PID/stat); PID+ adds its child processes (the
 * PostgreSQL backends, the nginx workers). The token comes from
 * $SB_BENCH_TOKEN, the publisher's conninfo from -D or $SB_BENCH_DSN.
 * Every wait is bounded: for the polls to park or be answered (WAIT_S), and
 * on the server's socket (-t, POLLHTTP_TIMEOUT_S: a connect, a send, an
 * answer beyond a long-poll's own timeout); a poll or request that waits
 * longer fails, and a run that cannot finish exits 1 saying why. A bad
 * command line exits 2.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "benchopt.h"
#include "latency.h"
#include "limits.h"
#include "pollhttp.h"
#include "procstat.h"
#include "xalloc.h"

/* Longest wait for the pollers to be parked or for a drain. */
#define WAIT_S 60
/* After a publish stops: how long stragglers may take to arrive. */
#define DRAIN_S 10
/* How long a poll may wait at the server (seconds): longer than a case. */
#define POLL_TIMEOUT_S 55
#define PIDS_MAX       8
#define CHANNELS_MAX   1000
/* Option bounds: beyond them a run measures the machine, not a server. */
#define POLLERS_MAX 100000
#define RATE_MAX    10000
#define SECONDS_MAX 3600
#define RAMP_MAX    1000000

enum kind { KIND_SB, KIND_NCHAN };

static struct {
    const char *mode, *url, *dsn, *token, *status_path;
    enum kind kind;
    int n, channels, batch, limit, timeout;
    double rate, seconds, ramp;
    unsigned tag;
    struct {
        const char *label;
        int pid;
        bool children;
    } pids[PIDS_MAX];
    int npids;
} O = {.n = -1,
       .channels = 1,
       .batch = 10,
       .limit = 100,
       .rate = 5,
       .seconds = 10,
       .ramp = 2500,
       .timeout = POLLHTTP_TIMEOUT_S};

static struct ploop L;

/* --- latencies --- */

static struct lat_samples lat;

/* The end of a row: the median, p90, p99 and largest of s in ms. */
static void
print_quantiles(struct lat_samples *s)
{
    lat_samples_sort(s);
    printf(" %8.2f %8.2f %8.2f %8.2f\n", lat_samples_quantile(s, 0.5) / 1000.0,
           lat_samples_quantile(s, 0.9) / 1000.0,
           lat_samples_quantile(s, 0.99) / 1000.0,
           lat_samples_quantile(s, 1.0) / 1000.0);
}

static void
print_latency_row(const char *label, struct lat_samples *s)
{
    printf("%-26s %9zu", label, s->n);
    print_quantiles(s);
}

/* --- processes: memory and CPU --- */

/* Process k of -p (with PID+, and its children). */
static struct procstat_usage
proc_usage(int k)
{
    struct procstat_usage u = {0};

    procstat_add(O.pids[k].pid, O.pids[k].children, &u);
    return u;
}

/* Resident memory in KiB: VmRSS of a single process; for a process and
 * its children the sum of their Pss, so pages they share (PostgreSQL's
 * shared buffers, Nchan's shared memory) count once. */
static void
rss_kb(long long *out)
{
    for (int k = 0; k < O.npids; k++) {
        struct procstat_usage u = proc_usage(k);

        out[k] = O.pids[k].children ? u.pss_kb : u.rss_kb;
    }
}

static void
cpu_ticks(long long *out)
{
    for (int k = 0; k < O.npids; k++)
        out[k] = proc_usage(k).ticks;
}

/* Print each -p process's CPU time between a and b, per unit (µs each). */
static void
print_cpu(const long long *a, const long long *b, long units, const char *unit)
{
    double hz = (double)sysconf(_SC_CLK_TCK), total = 0;

    printf("\nserver CPU time %-10s seconds  us per %s\n", "", unit);
    for (int k = 0; k < O.npids; k++) {
        double s = (double)(b[k] - a[k]) / hz;

        total += s;
        printf("  %-24s %8.2f %10.2f\n", O.pids[k].label, s,
               units > 0 ? s * 1e6 / (double)units : 0);
    }
    printf("  %-24s %8.2f %10.2f\n", "all", total,
           units > 0 ? total * 1e6 / (double)units : 0);
}

/* --- channels and the status probe --- */

static void
channel_name(char *buf, size_t size, int i)
{
    snprintf(buf, size, "%spoll-%u-%d", O.kind == KIND_SB ? "metrics:" : "",
             O.tag, i);
}

static void
take_waiting(const struct presp *r, void *arg)
{
    /* At a line's start: not the "# HELP" and "# TYPE" lines. */
    const char *key =
        O.kind == KIND_SB ? "\nswitchboard_parked_requests" : "\nsubscribers";

    *(long long *)arg =
        r->status == 200 ? poll_number_after(r->body.data, key) : -1;
}

/* How many requests the server reports waiting (-1: cannot tell). */
static long long
server_waiting(void)
{
    int fd = phttp_connect(&L);
    struct sb_strbuf req = {0};
    long long n = -1;

    sb_strbuf_printf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", O.status_path,
                    L.host);
    phttp_exchange(&L, fd, &req, 1, take_waiting, &n);
    close(fd);
    sb_strbuf_release(&req);
    return n;
}

/* --- pollers --- */

struct poller {
    int chan;
    long long seq; /* switchboard cursor; -1: from now */
    char last_modified[POLLHTTP_TAG_MAX], etag[POLLHTTP_TAG_MAX];
    bool once;    /* park: stop after the first answer with events */
    bool stopped; /* answered (park) or failed */
    long events, responses, errors;
    int64_t done_us;
};

static struct {
    struct pconn *conns;
    struct poller *p;
    int n;
    long events, responses, errors, finished;
} P;

static void
poll_request_sb(const struct poller *p, struct sb_strbuf *out)
{
    char ch[64];

    channel_name(ch, sizeof(ch), p->chan);
    sb_strbuf_printf(out, "GET /api/v1/poll?cursor=%s", ch);
    if (p->seq >= 0)
        sb_strbuf_printf(out, "@%lld", p->seq);
    sb_strbuf_printf(out,
                    "&timeout=%d&limit=1000 HTTP/1.1\r\nHost: %s\r\n"
                    "Authorization: Bearer %s\r\n\r\n",
                    POLL_TIMEOUT_S, L.host, O.token);
}

static void
poll_request_nchan(const struct poller *p, struct sb_strbuf *out)
{
    char ch[64];

    channel_name(ch, sizeof(ch), p->chan);
    sb_strbuf_printf(out, "GET /sub/%s HTTP/1.1\r\nHost: %s\r\n", ch, L.host);
    if (p->etag[0] != '\0')
        sb_strbuf_printf(out, "If-Modified-Since: %s\r\nIf-None-Match: %s\r\n",
                        p->last_modified, p->etag);
    sb_strbuf_put(out, "\r\n", 2);
}

static bool
poll_request(struct pconn *c, struct sb_strbuf *out)
{
    struct poller *p = c->arg;

    if (p->stopped)
        return false;
    if (O.kind == KIND_SB)
        poll_request_sb(p, out);
    else
        poll_request_nchan(p, out);
    return true;
}

/* Record every "pt" (publish time, µs) in body; returns how many. */
static long
take_events(const char *body, int64_t now)
{
    long n = 0;

    for (const char *s = strstr(body, "\"pt\":"); s != NULL;
         s = strstr(s + 5, "\"pt\":")) {
        long long pt = poll_number_after(s, "\"pt\"");

        if (pt > 0) {
            lat_samples_add(&lat, now - pt);
            n++;
        }
    }
    return n;
}

/* The channel's next cursor from a switchboard answer. */
static long long
next_seq(const char *body, int chan)
{
    char key[80], ch[64];
    const char *cursors = strstr(body, "\"cursors\":{");

    channel_name(ch, sizeof(ch), chan);
    snprintf(key, sizeof(key), "\"%s\"", ch);
    return cursors ? poll_number_after(cursors, key) : -1;
}

/* The poll failed: the server answered an error, or the loop gave up on
 * it (it said why). */
static void
poll_failed(struct pconn *c)
{
    struct poller *p = c->arg;

    p->errors++;
    P.errors++;
    p->stopped = true;
}

static void
poll_response(struct pconn *c, const struct presp *r)
{
    struct poller *p = c->arg;
    int64_t now = sb_mono_us();
    long n;

    p->responses++;
    P.responses++;
    if (r->status == 304 || r->status == 408)
        return; /* Nchan's "nothing new" and timeout: poll again */
    if (r->status != 200) {
        fprintf(stderr, "pollload: poll answered %d: %.200s\n", r->status,
                r->body.data);
        poll_failed(c);
        return;
    }
    n = take_events(r->body.data, now);
    p->events += n;
    P.events += n;
    if (O.kind == KIND_SB && next_seq(r->body.data, p->chan) >= 0)
        p->seq = next_seq(r->body.data, p->chan);
    if (O.kind == KIND_NCHAN && r->etag[0] != '\0') {
        memcpy(p->last_modified, r->last_modified, sizeof(p->last_modified));
        memcpy(p->etag, r->etag, sizeof(p->etag));
    }
    if (p->once && n > 0) {
        p->stopped = true;
        p->done_us = now;
        P.finished++;
    }
}

static const struct pconn_ops poll_ops = {poll_request, poll_response,
                                          poll_failed};

/* Open n pollers, at most O.ramp new connections a second, and wait until
 * the server reports every one of them waiting. */
static void
pollers_start(int n, bool once)
{
    int64_t start = sb_mono_us(), deadline = start + WAIT_S * 1000000LL;
    int opened = 0;
    long long waiting = -1;

    P.n = n;
    P.conns = sb_calloc((size_t)n, sizeof(*P.conns));
    P.p = sb_calloc((size_t)n, sizeof(*P.p));
    while (sb_mono_us() < deadline) {
        double due = (double)(sb_mono_us() - start) / 1e6 * O.ramp + 1;

        while (opened < n && opened < due) {
            struct pconn *c = &P.conns[opened];

            P.p[opened] = (struct poller){
                .chan = opened % O.channels, .seq = -1, .once = once};
            *c = (struct pconn){.fd = -1,
                                .ops = &poll_ops,
                                .arg = &P.p[opened],
                                .index = opened,
                                .hold_s = POLL_TIMEOUT_S};
            pconn_open(&L, c);
            opened++;
        }
        ploop_turn(&L, 10);
        if (opened == n && (waiting = server_waiting()) >= n)
            return;
    }
    fprintf(stderr,
            "pollload: %d polls opened, the server reports %lld "
            "waiting after %d s\n",
            opened, waiting, WAIT_S);
    exit(1);
}

static void
pollers_stop(void)
{
    for (int i = 0; i < P.n; i++) {
        pconn_close(&L, &P.conns[i]);
        sb_strbuf_release(&P.conns[i].in);
        sb_strbuf_release(&P.conns[i].out);
        sb_strbuf_release(&P.conns[i].resp.body);
    }
    free(P.conns);
    free(P.p);
    memset(&P, 0, sizeof(P));
}

/* --- publishing --- */

struct publisher {
    pthread_t thread;
    PGconn *conn;
    int fd;
    long ticks, events, late;
    int64_t first_us, last_us;
    atomic_bool done;
};

/* A statement waits at most -t seconds, like every wait on the HTTP side. */
static void
bound_statements(PGconn *conn)
{
    char set[64];
    PGresult *res;

    snprintf(set, sizeof(set), "SET statement_timeout = %d",
             L.timeout_s * 1000);
    res = PQexec(conn, set);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        poll_die("statement_timeout", PQresultErrorMessage(res));
    PQclear(res);
}

static void
pub_connect(struct publisher *pb)
{
    PGresult *res;

    if (O.kind == KIND_NCHAN) {
        pb->fd = phttp_connect(&L);
        return;
    }
    if (O.dsn == NULL)
        poll_die("no conninfo", "give -D or set SB_BENCH_DSN");
    pb->conn = PQconnectdb(O.dsn);
    if (PQstatus(pb->conn) != CONNECTION_OK)
        poll_die("connect", PQerrorMessage(pb->conn));
    bound_statements(pb->conn);
    res = PQprepare(pb->conn, "batch",
                    "SELECT count(*) FROM switchboard.publish_batch($1::jsonb)",
                    0, NULL);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        poll_die("prepare", PQresultErrorMessage(res));
    PQclear(res);
}

static void
pub_disconnect(struct publisher *pb)
{
    if (pb->conn != NULL)
        PQfinish(pb->conn);
    if (O.kind == KIND_NCHAN)
        close(pb->fd);
}

/* One switchboard call: per events on every channel, one transaction. */
static void
publish_sb(struct publisher *pb, int per)
{
    struct sb_strbuf json = {0};
    int64_t now = sb_mono_us();
    const char *params[1];
    PGresult *res;
    char ch[64];

    sb_strbuf_put(&json, "[", 1);
    for (int c = 0; c < O.channels; c++) {
        channel_name(ch, sizeof(ch), c);
        for (int k = 0; k < per; k++)
            sb_strbuf_printf(&json,
                            "%s{\"channel\":\"%s\",\"type\":\"message\","
                            "\"sender\":\"agent:bench\",\"data\":{\"pt\":%lld,"
                            "\"n\":%ld}}",
                            json.len > 1 ? "," : "", ch, (long long)now,
                            pb->events + k);
    }
    sb_strbuf_put(&json, "]", 1);
    params[0] = json.data;
    res = PQexecPrepared(pb->conn, "batch", 1, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        poll_die("publish_batch", PQresultErrorMessage(res));
    PQclear(res);
    sb_strbuf_release(&json);
}

static void
check_published(const struct presp *r, void *arg)
{
    (void)arg;
    if (r->status != 201 && r->status != 202)
        poll_die("Nchan publish", r->body.data);
}

/* Nchan: per POSTs to every channel, pipelined on one connection. */
static void
publish_nchan(struct publisher *pb, int per)
{
    struct sb_strbuf req = {0};
    int64_t now = sb_mono_us();
    char ch[64], body[96];

    for (int c = 0; c < O.channels; c++) {
        channel_name(ch, sizeof(ch), c);
        for (int k = 0; k < per; k++) {
            int len = snprintf(body, sizeof(body), "{\"pt\":%lld,\"n\":%ld}",
                               (long long)now, pb->events + k);

            sb_strbuf_printf(&req,
                            "POST /pub/%s HTTP/1.1\r\nHost: %s\r\n"
                            "Content-Type: application/json\r\n"
                            "Content-Length: %d\r\n\r\n%s",
                            ch, L.host, len, body);
        }
    }
    phttp_exchange(&L, pb->fd, &req, O.channels * per, check_published, NULL);
    sb_strbuf_release(&req);
}

static void
publish(struct publisher *pb, int per)
{
    int64_t now = sb_mono_us();

    if (pb->first_us == 0)
        pb->first_us = now;
    if (O.kind == KIND_SB)
        publish_sb(pb, per);
    else
        publish_nchan(pb, per);
    pb->events += per;
    pb->ticks++;
    pb->last_us = sb_mono_us();
}

static void
sleep_until_us(int64_t t)
{
    struct timespec ts = {.tv_sec = t / 1000000,
                          .tv_nsec = (long)(t % 1000000) * 1000};

    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

/* The rate case's publisher: O.rate ticks a second for O.seconds. */
static void *
publisher_main(void *arg)
{
    struct publisher *pb = arg;
    int64_t start = sb_mono_us(), step = (int64_t)(1e6 / O.rate);
    long ticks = (long)(O.seconds * O.rate);

    for (long t = 0; t < ticks; t++) {
        int64_t due = start + t * step;

        if (sb_mono_us() > due + step)
            pb->late++;
        sleep_until_us(due);
        publish(pb, O.batch);
    }
    atomic_store(&pb->done, true);
    return NULL;
}

/* --- park: memory per waiting poll, and one publish to all --- */

static void
print_rss(const long long *a, const long long *b, int n)
{
    printf("\nmemory (KiB; PID+: Pss)      before     parked  per poll\n");
    for (int k = 0; k < O.npids; k++)
        printf("  %-24s %10lld %10lld %9.2f\n", O.pids[k].label, a[k], b[k],
               (double)(b[k] - a[k]) / n);
}

static void
run_park(void)
{
    long long rss0[PIDS_MAX], rss1[PIDS_MAX], cpu0[PIDS_MAX], cpu1[PIDS_MAX];
    struct publisher pb = {0};
    struct lat_samples done = {0};
    int64_t t0, deadline;

    rss_kb(rss0);
    pollers_start(O.n, true);
    sleep(1); /* let the servers settle after the last poll parked */
    rss_kb(rss1);
    printf("%d polls waiting on one channel (the server reports %lld)\n", O.n,
           server_waiting());
    print_rss(rss0, rss1, O.n);
    pub_connect(&pb);
    cpu_ticks(cpu0);
    t0 = sb_mono_us();
    publish(&pb, 1);
    deadline = t0 + WAIT_S * 1000000LL;
    while (P.finished + P.errors < P.n && sb_mono_us() < deadline)
        ploop_turn(&L, 10);
    cpu_ticks(cpu1);
    for (int i = 0; i < P.n; i++)
        if (P.p[i].done_us > 0)
            lat_samples_add(&done, P.p[i].done_us - t0);
    printf("\none publish to every waiting poll: %ld of %d answered, %ld "
           "errors; the publish call took %.2f ms\n",
           P.finished, P.n, P.errors, (double)(pb.last_us - t0) / 1000);
    printf("\npublish to answer (ms)        polls      p50      p90      "
           "p99      all\n");
    print_latency_row("answered", &done);
    print_cpu(cpu0, cpu1, O.n, "answer");
    pub_disconnect(&pb);
    if (P.errors > 0 || done.n < (size_t)O.n) {
        fprintf(stderr,
                "pollload: %zu of %d polls answered within %d s, %ld "
                "failed\n",
                done.n, O.n, WAIT_S, P.errors);
        exit(1);
    }
    pollers_stop();
    lat_samples_free(&done);
}

/* --- rate: deliveries per second under a steady publish --- */

static void
run_rate(void)
{
    long long cpu0[PIDS_MAX], cpu1[PIDS_MAX];
    struct publisher pb = {0};
    long expected;
    int64_t deadline, last = 0;
    double secs;

    pollers_start(O.n, false);
    printf("%d pollers over %d channels, %d events per channel %.0f times a "
           "second for %.0f s (%.0f events/s published, %.0f deliveries/s "
           "offered)\n",
           O.n, O.channels, O.batch, O.rate, O.seconds,
           O.batch * O.rate * O.channels, O.batch * O.rate * O.n);
    pub_connect(&pb);
    cpu_ticks(cpu0);
    pthread_create(&pb.thread, NULL, publisher_main, &pb);
    deadline = sb_mono_us() + (int64_t)((O.seconds + DRAIN_S) * 1e6);
    for (;;) {
        long before = P.events;

        ploop_turn(&L, 10);
        if (P.events != before)
            last = sb_mono_us();
        expected = pb.events * P.n;
        if ((atomic_load(&pb.done) && P.events >= expected) ||
            sb_mono_us() > deadline)
            break;
    }
    pthread_join(pb.thread, NULL);
    cpu_ticks(cpu1);
    expected = pb.events * P.n;
    secs = (double)(last - pb.first_us) / 1e6;
    printf("\nlong-poll                published  delivered  responses  "
           "per resp  seconds  deliveries/s\n");
    printf("%-24s %9ld %10ld %10ld %9.1f %8.2f %13.0f\n",
           O.kind == KIND_SB ? "switchboard-fcgi" : "nchan",
           pb.events * O.channels, P.events, P.responses,
           P.responses ? (double)P.events / (double)P.responses : 0, secs,
           secs > 0 ? (double)P.events / secs : 0);
    if (pb.late > 0)
        printf("the publisher fell behind its rate %ld times\n", pb.late);
    printf("\npublish to receive (ms)  deliveries      p50      p90      p99  "
           "    max\n");
    print_latency_row("events", &lat);
    print_cpu(cpu0, cpu1, P.events, "delivery");
    pub_disconnect(&pb);
    if (P.events != expected || P.errors > 0) {
        fprintf(stderr,
                "pollload: %ld deliveries of %ld expected, %ld "
                "errors\n",
                P.events, expected, P.errors);
        exit(1);
    }
    pollers_stop();
}

/* --- rest: publish and history requests per second --- */

struct rester {
    int chan;
    int64_t start_us;
};

static struct {
    bool history, stop;
    long done, errors, seq_max[CHANNELS_MAX];
    struct lat_samples lat;
} R;

static bool
rest_request(struct pconn *c, struct sb_strbuf *out)
{
    struct rester *x = c->arg;
    char ch[64];

    if (R.stop)
        return false;
    channel_name(ch, sizeof(ch), x->chan);
    x->start_us = sb_mono_us();
    if (R.history) {
        long top = R.seq_max[x->chan] - O.limit;
        long after = top > 0 ? random() % (top + 1) : 0;

        sb_strbuf_printf(
            out,
            "GET /api/v1/channels/%s/events?after=%ld&limit=%d "
            "HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n",
            ch, after, O.limit, L.host, O.token);
        return true;
    }
    char body[128];
    int len = snprintf(body, sizeof(body),
                       "{\"type\":\"message\",\"data\":{\"n\":%ld,"
                       "\"text\":\"bench\"}}",
                       R.done);

    sb_strbuf_printf(
        out,
        "POST /api/v1/channels/%s/events HTTP/1.1\r\nHost: %s\r\n"
        "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
        "Content-Length: %d\r\n\r\n%s",
        ch, L.host, O.token, len, body);
    return true;
}

static void
rest_response(struct pconn *c, const struct presp *r)
{
    struct rester *x = c->arg;
    long long seq;

    lat_samples_add(&R.lat, sb_mono_us() - x->start_us);
    R.done++;
    if (r->status != (R.history ? 200 : 201)) {
        if (R.errors++ < 5)
            fprintf(stderr, "pollload: answered %d: %.200s\n", r->status,
                    r->body.data);
        return;
    }
    seq = R.history ? -1 : poll_number_after(r->body.data, "\"seq\"");
    if (seq > R.seq_max[x->chan])
        R.seq_max[x->chan] = seq;
}

/* The loop gave up on the request (it said why). */
static void
rest_failed(struct pconn *c)
{
    (void)c;
    R.errors++;
}

static const struct pconn_ops rest_ops = {rest_request, rest_response,
                                          rest_failed};

/* One phase: n connections for O.seconds; prints its row. */
static void
rest_phase(const char *label, struct pconn *cs, long long *cpu)
{
    int64_t start = sb_mono_us(), end = start + (int64_t)(O.seconds * 1e6);
    /* Each request is answered or failed within the timeout (-t). */
    int64_t deadline = end + (O.timeout + 1) * 1000000LL;
    long busy;
    double secs;

    R.done = R.errors = 0;
    R.lat.n = 0;
    R.stop = false;
    cpu_ticks(cpu);
    for (int i = 0; i < O.n; i++)
        pconn_kick(&L, &cs[i]);
    do {
        ploop_turn(&L, 10);
        R.stop = sb_mono_us() >= end;
        busy = 0;
        for (int i = 0; i < O.n; i++)
            busy += cs[i].busy;
    } while ((!R.stop || busy > 0) && sb_mono_us() < deadline);
    R.errors += busy; /* unanswered at the deadline */
    secs = (double)(sb_mono_us() - start) / 1e6;
    cpu_ticks(cpu + PIDS_MAX);
    printf("%-22s %5d %8ld %7ld %8.2f %9.0f", label, O.n, R.done, R.errors,
           secs, (double)R.done / secs);
    print_quantiles(&R.lat);
}

static void
run_rest(void)
{
    struct pconn *cs = sb_calloc((size_t)O.n, sizeof(*cs));
    struct rester *xs = sb_calloc((size_t)O.n, sizeof(*xs));
    long long cpu[2][2 * PIDS_MAX];
    long done[2], errors = 0;

    R.stop = true; /* connect first, send when the phase starts */
    for (int i = 0; i < O.n; i++) {
        xs[i].chan = i % O.channels;
        cs[i] = (struct pconn){
            .fd = -1, .ops = &rest_ops, .arg = &xs[i], .index = i};
        pconn_open(&L, &cs[i]);
    }
    printf("%d connections, %.0f s per phase, %d channels, history pages of "
           "%d\n\n",
           O.n, O.seconds, O.channels, O.limit);
    printf("REST (ms)              conns requests  errors  seconds  "
           "requests/s      p50      p90      p99      max\n");
    rest_phase("publish (1 event)", cs, cpu[0]);
    done[0] = R.done;
    errors += R.errors;
    R.history = true;
    rest_phase("history (after=N)", cs, cpu[1]);
    done[1] = R.done;
    errors += R.errors;
    print_cpu(cpu[0], cpu[0] + PIDS_MAX, done[0], "publish");
    print_cpu(cpu[1], cpu[1] + PIDS_MAX, done[1], "history");
    for (int i = 0; i < O.n; i++) {
        pconn_close(&L, &cs[i]);
        sb_strbuf_release(&cs[i].in);
        sb_strbuf_release(&cs[i].out);
        sb_strbuf_release(&cs[i].resp.body);
    }
    free(cs);
    free(xs);
    lat_samples_free(&R.lat);
    if (errors > 0) {
        fprintf(stderr, "pollload: %ld requests failed\n", errors);
        exit(1);
    }
}

/* --- options --- */

/* Print the usage text to to and exit with status. */
static void usage(FILE *to, int status) __attribute__((noreturn));

static void
usage(FILE *to, int status)
{
    fprintf(
        to,
        "usage: pollload park|rate|rest -u http://HOST:PORT [option]...\n"
        "  -k sb|nchan      switchboard-fcgi behind a web server, or Nchan "
        "(sb)\n"
        "  -n N             connections (1-%d; park 5000, rate 1000, rest "
        "16)\n"
        "  -C N             channels (1-%d, 1)\n"
        "  -b N             rate: events per channel a tick (1-%d, 10; sb: "
        "-b times -C\n"
        "                   at most %d, one publish_batch call)\n"
        "  -r N             rate: ticks a second (0.01-%d, 5)\n"
        "  -d S             rate, rest: seconds (0.1-%d, 10)\n"
        "  -l N             rest: events a history page (1-%d, 100)\n"
        "  -R N             connections opened a second (1-%d, 2500)\n"
        "  -t S             the longest wait on the server (1-%d, %d): for a "
        "connect, a\n"
        "                   send, or an answer beyond the %d s a long-poll "
        "may be held;\n"
        "                   a poll or request that waits longer fails, and "
        "so does the run;\n"
        "                   a publisher or status request that does ends "
        "the run at once\n"
        "  -s PATH          the status page (sb: /api/v1/metrics, nchan: "
        "/nchan_status)\n"
        "  -D CONNINFO      the publisher's database (sb; default "
        "$SB_BENCH_DSN)\n"
        "  -p LABEL=PID[+]  a process to measure, + with its children (at "
        "most %d)\n"
        "  -h               this text\n"
        "Exit status: 0 done, 1 a case failed, 2 a bad command line.\n",
        POLLERS_MAX, CHANNELS_MAX, SB_BATCH_MAX, SB_BATCH_MAX, RATE_MAX,
        SECONDS_MAX, SB_HISTORY_MAX, RAMP_MAX, POLLHTTP_TIMEOUT_MAX_S,
        POLLHTTP_TIMEOUT_S, POLL_TIMEOUT_S, PIDS_MAX);
    exit(status);
}

/* The numeric options: where each goes and its bounds. */
static const struct {
    int letter;
    int *whole;  /* a whole number, or */
    double *dec; /* a decimal one */
    double min, max;
} num_opts[] = {
    {'n', &O.n, NULL, 1, POLLERS_MAX},
    {'C', &O.channels, NULL, 1, CHANNELS_MAX},
    {'b', &O.batch, NULL, 1, SB_BATCH_MAX},
    {'l', &O.limit, NULL, 1, SB_HISTORY_MAX},
    {'t', &O.timeout, NULL, 1, POLLHTTP_TIMEOUT_MAX_S},
    {'r', NULL, &O.rate, 0.01, RATE_MAX},
    {'d', NULL, &O.seconds, 0.1, SECONDS_MAX},
    {'R', NULL, &O.ramp, 1, RAMP_MAX},
};

/* Set numeric option letter from text; false when it is not one. */
static bool
num_opt(int letter, const char *text)
{
    char name[3] = {'-', (char)letter, '\0'};

    for (size_t i = 0; i < sizeof(num_opts) / sizeof(num_opts[0]); i++) {
        if (num_opts[i].letter != letter)
            continue;
        if (num_opts[i].whole != NULL)
            *num_opts[i].whole = (int)benchopt_int(
                name, text, (int64_t)num_opts[i].min, (int64_t)num_opts[i].max);
        else
            *num_opts[i].dec =
                benchopt_real(name, text, num_opts[i].min, num_opts[i].max);
        return true;
    }
    return false;
}

/* -p LABEL=PID[+] */
static void
add_pid(const char *arg)
{
    const char *eq = strchr(arg, '=');
    size_t len;
    char pid[16];

    if (O.npids == PIDS_MAX)
        benchopt_fail("-p", "too many processes");
    if (eq == NULL || eq == arg)
        benchopt_fail("-p", "want LABEL=PID or LABEL=PID+");
    len = strlen(eq + 1);
    O.pids[O.npids].children = len > 0 && eq[len] == '+';
    len -= O.pids[O.npids].children;
    snprintf(pid, sizeof(pid), "%.*s", (int)len, eq + 1);
    if (len >= sizeof(pid))
        benchopt_fail("-p", "PID too long");
    O.pids[O.npids].pid = (int)benchopt_int("-p PID", pid, 1, INT32_MAX);
    O.pids[O.npids].label = sb_strndup(arg, (size_t)(eq - arg));
    O.npids++;
}

static enum kind
kind_of(const char *s)
{
    if (strcmp(s, "sb") == 0)
        return KIND_SB;
    if (strcmp(s, "nchan") == 0)
        return KIND_NCHAN;
    benchopt_fail("-k", "want sb or nchan");
}

static void
parse_args(int argc, char **argv)
{
    int opt;

    if (argc < 2 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "--help") == 0)
        usage(argc < 2 ? stderr : stdout, argc < 2 ? 2 : 0);
    O.mode = argv[1];
    if (strcmp(O.mode, "park") != 0 && strcmp(O.mode, "rate") != 0 &&
        strcmp(O.mode, "rest") != 0)
        benchopt_fail(O.mode, "not a case (park, rate or rest)");
    opterr = 0; /* argv[1] is the case, not the program: report here */
    while ((opt = getopt(argc - 1, argv + 1, ":u:k:n:C:b:r:d:l:R:s:D:p:t:h")) !=
           -1) {
        char name[3] = {'-', (char)optopt, '\0'};

        switch (opt) {
        case 'u':
            O.url = optarg;
            break;
        case 'k':
            O.kind = kind_of(optarg);
            break;
        case 's':
            O.status_path = optarg;
            break;
        case 'D':
            O.dsn = optarg;
            break;
        case 'p':
            add_pid(optarg);
            break;
        case 'h':
            usage(stdout, 0);
        case ':':
            benchopt_fail(name, "needs a value");
        case '?':
            benchopt_fail(name, "unknown option");
        default:
            if (!num_opt(opt, optarg))
                usage(stderr, 2);
        }
    }
    if (optind != argc - 1)
        benchopt_fail(argv[optind + 1], "unexpected argument");
    if (O.url == NULL)
        benchopt_fail("-u", "missing (http://HOST:PORT of the server)");
    if (strcmp(O.mode, "rest") == 0 && O.kind != KIND_SB)
        benchopt_fail("-k", "rest runs against switchboard only (sb)");
    if (O.kind == KIND_SB && strcmp(O.mode, "rate") == 0 &&
        O.batch * O.channels > SB_BATCH_MAX)
        benchopt_fail("-b", "times -C is more than one publish_batch call "
                            "takes (1000 events)");
}

static void
defaults(void)
{
    struct rlimit rl;

    if (O.n < 0)
        O.n = strcmp(O.mode, "park") == 0   ? 5000
              : strcmp(O.mode, "rate") == 0 ? 1000
                                            : 16;
    if (O.status_path == NULL)
        O.status_path = O.kind == KIND_SB ? "/api/v1/metrics" : "/nchan_status";
    if (O.dsn == NULL)
        O.dsn = getenv("SB_BENCH_DSN");
    O.token = getenv("SB_BENCH_TOKEN");
    if (O.kind == KIND_SB && O.token == NULL)
        poll_die("no token", "set SB_BENCH_TOKEN");
    O.tag = (unsigned)getpid() ^ (unsigned)time(NULL);
    /* One descriptor per connection: take what the hard limit allows. */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int
main(int argc, char **argv)
{
    parse_args(argc, argv);
    defaults();
    ploop_init(&L, O.url, O.timeout);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (strcmp(O.mode, "park") == 0)
        run_park();
    else if (strcmp(O.mode, "rate") == 0)
        run_rate();
    else
        run_rest();
    lat_samples_free(&lat);
    return 0;
}
