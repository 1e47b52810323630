/*
 * wsload.c: a WebSocket load generator that runs the same scenarios
 * against wsd and against nginx with the Nchan module, and prints per
 * scenario a table of both and their ratios.
 *
 *   wsload [--wsd HOST:PORT[,PORT...] --wsd-pids PID,... --pg-pid PID
 *           --wsd-token-file FILE --wsd-pub-token-file FILE]
 *          [--nchan HOST:PORT --nchan-pid PID --nchan-auth QUERY]
 *          [--procs N] [--scenarios abcde] [--quick] [--grace S]
 *          [size options below] [--help]
 *
 * Scenarios (each for every target given):
 *   a  memory per idle connection: RSS and PSS of the server processes
 *      before and after opening --idle connections (10000,19000), each
 *      subscribed to one of 100 channels;
 *   b  connection set-up rate with token auth: --setup connections (10000)
 *      opened as fast as the server takes them (64 handshakes in flight per
 *      load process), from TCP connect until subscribed; wsd twice: the
 *      channel in the upgrade request (?subscribe=), then a subscribe op
 *      after auth.ok (row wsd/op);
 *   c  fan-out: --fanout subscribers (1000,10000) on one channel, and one
 *      publisher sending --deliveries / subscribers publishes (1000000 in
 *      all) as fast as the server acknowledges them (64 in flight on wsd,
 *      one HTTP request at a time on Nchan);
 *   d  publish-to-receive latency: --latency-subs subscribers (1000) on one
 *      channel and one publisher at each of --latency-rates (100,20) per
 *      second for --latency-seconds (10);
 *   e  publish ingest: --ingest-conns connections (64), each on a channel of
 *      its own with --ingest-window publishes in flight (32; Nchan: 1), for
 *      --ingest-seconds (5); counted when acknowledged.
 * Several ports after --wsd (one per wsd process, when they cannot share
 * one) take the connections in turn, as a load balancer would.
 * Server CPU time is utime + stime from /proc/PID/stat of the server
 * processes (wsd: --wsd-pids; Nchan: the master and its children), and for
 * wsd separately of the PostgreSQL postmaster and all its children; memory
 * is VmRSS and the Pss of smaps_rollup. Every case is bounded in time (a
 * publishing case by its planned length plus --grace, 30 s); a case whose
 * connections or publishes failed says so in its table and in the exit
 * status (1). A bad command line exits 2.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "benchopt.h"
#include "procstat.h"
#include "wsload.h"
#include "xalloc.h"

#define PIDS_MAX      32
#define LIST_MAX      8
#define IDLE_CHANNELS 100
#define OPEN_PENDING  64
#define WSD_WINDOW    64
#define SETTLE_US     1000000 /* after subscribing, before measuring */
/* --grace: how long a publishing case may run beyond its planned length
 * before what is unanswered counts as failed (a slow commit or a full
 * window, not a server that stopped). */
#define GRACE_S     30
#define GRACE_MAX_S 86400
/* Scenario c publishes unpaced, so its planned length is its deliveries
 * at this rate: well under what either server does on one core, so only a
 * server that has stalled runs past it (plus --grace). */
#define FANOUT_FLOOR_PER_S 10000

struct wl_target_conf wl_targets[WL_NTARGETS] = {{.name = "wsd"},
                                                 {.name = "nchan"}};

/* --- I/O --- */

/* Exactly len bytes: read into rb, or, when rb is NULL, write wb. -1 on an
 * error or end of file. */
static int
io_all(int fd, void *rb, const void *wb, size_t len)
{
    size_t done = 0;

    while (done < len) {
        ssize_t n = rb != NULL ? read(fd, (char *)rb + done, len - done)
                               : write(fd, (const char *)wb + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        done += (size_t)n;
    }
    return 0;
}

int
wl_write_all(int fd, const void *p, size_t len)
{
    return io_all(fd, NULL, p, len);
}

int
wl_read_all(int fd, void *p, size_t len)
{
    return io_all(fd, p, NULL, len);
}

/* --- server processes: CPU time and memory from /proc --- */

/* Processes to account: listed ones, and a parent with all its children. */
struct pidset {
    pid_t pids[PIDS_MAX];
    int n;
    pid_t parent;
};

struct usage {
    double cpu_s;
    double rss_kb, pss_kb;
};

static void
usage_of(const struct pidset *ps, struct usage *u)
{
    struct procstat_usage sum = {0};

    for (int i = 0; i < ps->n; i++)
        procstat_add(ps->pids[i], false, &sum);
    if (ps->parent > 0)
        procstat_add(ps->parent, true, &sum);
    u->cpu_s = (double)sum.ticks / (double)sysconf(_SC_CLK_TCK);
    u->rss_kb = (double)sum.rss_kb;
    u->pss_kb = (double)sum.pss_kb;
}

/* --- options --- */

static struct {
    int procs;
    const char *scenarios;
    int64_t idle[LIST_MAX];
    int nidle;
    int64_t setup;
    int64_t fanout[LIST_MAX];
    int nfanout;
    int64_t deliveries;
    int64_t latency_subs;
    int64_t latency_rates[LIST_MAX];
    int nlatency_rates;
    double latency_seconds;
    int ingest_conns, ingest_window;
    double ingest_seconds;
    int grace;
    struct pidset server[WL_NTARGETS];
    struct pidset pg;
    char tag[16];
} opt = {
    .procs = 4,
    .scenarios = "abcde",
    .idle = {10000, 19000},
    .nidle = 2,
    .setup = 10000,
    .fanout = {1000, 10000},
    .nfanout = 2,
    .deliveries = 1000000,
    .latency_subs = 1000,
    .latency_rates = {100, 20},
    .nlatency_rates = 2,
    .latency_seconds = 10,
    .ingest_conns = 64,
    .ingest_window = 32,
    .ingest_seconds = 5,
    .grace = GRACE_S,
};

static int failures;

static void
usage(FILE *to)
{
    fprintf(
        to,
        "usage: wsload [--wsd HOST:PORT[,PORT...] --wsd-pids PID,... "
        "--pg-pid PID\n"
        "               --wsd-token-file F --wsd-pub-token-file F]\n"
        "              [--nchan HOST:PORT --nchan-pid PID --nchan-auth "
        "QUERY]\n"
        "              [--procs N (1-%d, 4)] [--scenarios abcde] [--quick]\n"
        "              [--idle N,N] [--setup N] [--fanout N,N] "
        "[--deliveries N]\n"
        "              [--latency-subs N] [--latency-rates R,R] "
        "[--latency-seconds S]\n"
        "              [--ingest-conns N] [--ingest-window N] "
        "[--ingest-seconds S]\n"
        "              [--grace S (1-%d, %d)] [--help]\n"
        "A publishing case (c, d, e) may take its planned length plus "
        "--grace seconds,\n"
        "from the first publish to the last answer; what is unanswered "
        "then counts as\n"
        "failed. Planned: d, publishes / rate; e, --ingest-seconds; c, the "
        "deliveries\n"
        "at %d a second.\n",
        WL_PROCS_MAX, GRACE_MAX_S, GRACE_S, FANOUT_FLOOR_PER_S);
}

static void
usage_exit(const char *why)
{
    if (why != NULL)
        fprintf(stderr, "wsload: %s\n", why);
    usage(stderr);
    exit(2);
}

/* A list of at most LIST_MAX numbers from min to max, comma-separated. */
static int
number_list(const char *name, const char *s, int64_t *out, int64_t min,
            int64_t max)
{
    char buf[256], *rest = buf, *item;
    int n = 0;

    if (strlen(s) >= sizeof(buf))
        benchopt_fail(name, "list too long");
    snprintf(buf, sizeof(buf), "%s", s);
    while ((item = strsep(&rest, ",")) != NULL) {
        if (n == LIST_MAX)
            benchopt_fail(name, "more than 8 numbers in the list");
        out[n++] = benchopt_int(name, item, min, max);
    }
    return n;
}

/* HOST:PORT[,PORT...] */
static void
address(const char *name, const char *s, struct wl_target_conf *t)
{
    const char *colon = strrchr(s, ':');
    int64_t ports[LIST_MAX];

    if (colon == NULL || (size_t)(colon - s) >= sizeof(t->host))
        benchopt_fail(name, "HOST:PORT[,PORT...] expected");
    memcpy(t->host, s, (size_t)(colon - s));
    t->host[colon - s] = '\0';
    t->nports = number_list(name, colon + 1, ports, 1, 65535);
    for (int i = 0; i < t->nports; i++)
        t->ports[i] = (int)ports[i];
    t->port = t->ports[0];
}

/* A token file's first line. */
static const char *
token_file(const char *path)
{
    char buf[20000];
    FILE *f = fopen(path, "r");

    if (f == NULL || fgets(buf, sizeof(buf), f) == NULL)
        usage_exit("cannot read a token file");
    fclose(f);
    buf[strcspn(buf, "\r\n")] = '\0';
    return sb_strdup(buf);
}

static void
parse(int argc, char **argv)
{
    enum {
        O_WSD = 256,
        O_WSD_PIDS,
        O_PG_PID,
        O_TOKEN,
        O_PUB_TOKEN,
        O_NCHAN,
        O_NCHAN_PID,
        O_NCHAN_AUTH,
        O_PROCS,
        O_SCEN,
        O_QUICK,
        O_IDLE,
        O_SETUP,
        O_FANOUT,
        O_DELIV,
        O_LSUBS,
        O_LRATES,
        O_LSECS,
        O_ICONNS,
        O_IWIN,
        O_ISECS,
        O_GRACE,
        O_HELP,
    };
    static const struct option lo[] = {
        {"wsd", 1, 0, O_WSD},
        {"wsd-pids", 1, 0, O_WSD_PIDS},
        {"pg-pid", 1, 0, O_PG_PID},
        {"wsd-token-file", 1, 0, O_TOKEN},
        {"wsd-pub-token-file", 1, 0, O_PUB_TOKEN},
        {"nchan", 1, 0, O_NCHAN},
        {"nchan-pid", 1, 0, O_NCHAN_PID},
        {"nchan-auth", 1, 0, O_NCHAN_AUTH},
        {"procs", 1, 0, O_PROCS},
        {"scenarios", 1, 0, O_SCEN},
        {"quick", 0, 0, O_QUICK},
        {"idle", 1, 0, O_IDLE},
        {"setup", 1, 0, O_SETUP},
        {"fanout", 1, 0, O_FANOUT},
        {"deliveries", 1, 0, O_DELIV},
        {"latency-subs", 1, 0, O_LSUBS},
        {"latency-rates", 1, 0, O_LRATES},
        {"latency-seconds", 1, 0, O_LSECS},
        {"ingest-conns", 1, 0, O_ICONNS},
        {"ingest-window", 1, 0, O_IWIN},
        {"ingest-seconds", 1, 0, O_ISECS},
        {"grace", 1, 0, O_GRACE},
        {"help", 0, 0, O_HELP},
        {0, 0, 0, 0}};
    int64_t pids[PIDS_MAX];
    char name[32] = "";
    int c, li = 0;

    while ((c = getopt_long(argc, argv, "", lo, &li)) != -1) {
        if (c != '?')
            snprintf(name, sizeof(name), "--%s", lo[li].name);
        switch (c) {
        case O_WSD:
            address(name, optarg, &wl_targets[WL_WSD]);
            break;
        case O_WSD_PIDS:
            opt.server[WL_WSD].n =
                number_list(name, optarg, pids, 1, INT32_MAX);
            for (int i = 0; i < opt.server[WL_WSD].n; i++)
                opt.server[WL_WSD].pids[i] = (pid_t)pids[i];
            break;
        case O_PG_PID:
            opt.pg.parent = (pid_t)benchopt_int(name, optarg, 1, INT32_MAX);
            break;
        case O_TOKEN:
            wl_targets[WL_WSD].sub_auth = token_file(optarg);
            break;
        case O_PUB_TOKEN:
            wl_targets[WL_WSD].pub_auth = token_file(optarg);
            break;
        case O_NCHAN:
            address(name, optarg, &wl_targets[WL_NCHAN]);
            break;
        case O_NCHAN_PID:
            opt.server[WL_NCHAN].parent =
                (pid_t)benchopt_int(name, optarg, 1, INT32_MAX);
            break;
        case O_NCHAN_AUTH:
            wl_targets[WL_NCHAN].sub_auth = optarg;
            break;
        case O_PROCS:
            opt.procs = (int)benchopt_int(name, optarg, 1, WL_PROCS_MAX);
            break;
        case O_SCEN:
            opt.scenarios = optarg;
            break;
        case O_QUICK: /* a smoke run: every scenario, small */
            opt.idle[0] = 500, opt.idle[1] = 1000;
            opt.setup = 1000;
            opt.fanout[0] = 100, opt.fanout[1] = 1000;
            opt.deliveries = 20000;
            opt.latency_subs = 100;
            opt.latency_seconds = 2;
            opt.ingest_conns = 8;
            opt.ingest_seconds = 2;
            break;
        case O_IDLE:
            opt.nidle = number_list(name, optarg, opt.idle, 1, 1000000);
            break;
        case O_SETUP:
            opt.setup = benchopt_int(name, optarg, 1, 1000000);
            break;
        case O_FANOUT:
            opt.nfanout = number_list(name, optarg, opt.fanout, 1, 1000000);
            break;
        case O_DELIV:
            opt.deliveries = benchopt_int(name, optarg, 1, 1000000000);
            break;
        case O_LSUBS:
            opt.latency_subs = benchopt_int(name, optarg, 1, 1000000);
            break;
        case O_LRATES:
            opt.nlatency_rates =
                number_list(name, optarg, opt.latency_rates, 1, 100000);
            break;
        case O_LSECS:
            opt.latency_seconds = (double)benchopt_int(name, optarg, 1, 600);
            break;
        case O_ICONNS:
            opt.ingest_conns = (int)benchopt_int(name, optarg, 1, 4096);
            break;
        case O_IWIN:
            opt.ingest_window = (int)benchopt_int(name, optarg, 1, 1000);
            break;
        case O_ISECS:
            opt.ingest_seconds = (double)benchopt_int(name, optarg, 1, 600);
            break;
        case O_GRACE:
            opt.grace = (int)benchopt_int(name, optarg, 1, GRACE_MAX_S);
            break;
        case O_HELP:
            usage(stdout);
            exit(0);
        default:
            usage_exit(NULL);
        }
    }
    if (optind != argc)
        usage_exit("unexpected argument");
    if (opt.scenarios[0] == '\0' ||
        opt.scenarios[strspn(opt.scenarios, "abcde")] != '\0')
        usage_exit("--scenarios: letters a to e");
    if (wl_targets[WL_WSD].port != 0 &&
        (wl_targets[WL_WSD].sub_auth == NULL ||
         wl_targets[WL_WSD].pub_auth == NULL || opt.server[WL_WSD].n == 0))
        usage_exit("--wsd needs --wsd-pids and both token files");
    if (wl_targets[WL_NCHAN].port != 0 &&
        (opt.server[WL_NCHAN].parent == 0 ||
         wl_targets[WL_NCHAN].sub_auth == NULL))
        usage_exit("--nchan needs --nchan-pid and --nchan-auth");
    if (wl_targets[WL_WSD].port == 0 && wl_targets[WL_NCHAN].port == 0)
        usage_exit("no target: give --wsd or --nchan");
}

/* --- the load processes --- */

static struct {
    pid_t pid;
    int fd;
} procs[WL_PROCS_MAX];

static struct pidset load_pids;

static void
spawn(void)
{
    for (int i = 0; i < opt.procs; i++) {
        int sv[2];

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
            perror("wsload: socketpair");
            exit(1);
        }
        fflush(stdout);
        pid_t pid = fork();
        if (pid < 0) {
            perror("wsload: fork");
            exit(1);
        }
        if (pid == 0) {
            for (int j = 0; j < i; j++)
                close(procs[j].fd);
            close(sv[0]);
            wl_worker_run(sv[1], i);
        }
        close(sv[1]);
        procs[i].pid = pid;
        procs[i].fd = sv[0];
        load_pids.pids[load_pids.n++] = pid;
    }
}

static void
send_cmd(int i, const struct wl_cmd *c)
{
    if (wl_write_all(procs[i].fd, c, sizeof(*c)) != 0) {
        fprintf(stderr, "wsload: load process %d is gone\n", i);
        exit(1);
    }
}

static void
read_report(int i, struct wl_report *r)
{
    if (wl_read_all(procs[i].fd, r, sizeof(*r)) != 0) {
        fprintf(stderr, "wsload: load process %d is gone\n", i);
        exit(1);
    }
}

/* One report of kind op from each process in need[]; others that come
 * first (a publisher's) go to *other. */
static void
collect(enum wl_op op, struct wl_report *per, const bool *need,
        struct wl_report *other)
{
    bool want[WL_PROCS_MAX];
    int left = 0;
    struct wl_report *r = sb_malloc(sizeof(*r));

    for (int i = 0; i < opt.procs; i++) {
        want[i] = need == NULL || need[i];
        left += want[i];
    }
    while (left > 0) {
        struct pollfd pf[WL_PROCS_MAX];

        for (int i = 0; i < opt.procs; i++)
            pf[i] = (struct pollfd){.fd = procs[i].fd, .events = POLLIN};
        poll(pf, (nfds_t)opt.procs, -1);
        for (int i = 0; i < opt.procs; i++) {
            if (!(pf[i].revents & (POLLIN | POLLHUP)))
                continue;
            read_report(i, r);
            if (r->op == op && want[i]) {
                per[i] = *r;
                want[i] = false;
                left--;
            } else if (other != NULL) {
                *other = *r;
            }
        }
    }
    free(r);
}

static void
all(enum wl_op op)
{
    struct wl_cmd c = {.op = op};
    struct wl_report *per = sb_calloc(WL_PROCS_MAX, sizeof(*per));

    for (int i = 0; i < opt.procs; i++)
        send_cmd(i, &c);
    collect(op, per, NULL, NULL);
    free(per);
}

static void
sleep_us(int64_t us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Close everything and give the server a moment to let go of it. */
static void
close_all(void)
{
    all(WL_OP_CLOSE);
    sleep_us(SETTLE_US);
}

/* --- opening subscribers --- */

struct opened {
    int64_t ok, failed;
    int64_t t_begin, t_end;
    int64_t per[WL_PROCS_MAX]; /* subscribers per process */
    char error[200];
};

static void
first_error(char *into, size_t size, const char *e)
{
    if (into[0] == '\0' && e[0] != '\0')
        snprintf(into, size, "%s", e);
}

/* Widen [*begin, *end] (0: none yet) to take in report r's. */
static void
span_add(int64_t *begin, int64_t *end, const struct wl_report *r)
{
    if (*begin == 0 || r->t_begin < *begin)
        *begin = r->t_begin;
    if (r->t_end > *end)
        *end = r->t_end;
}

/* wsd subscribers send a subscribe op rather than naming their channel
 * in the upgrade request (scenario b's second wsd row). */
static bool open_by_message;

/* total more subscribers on channels <prefix>-0..channels-1, numbered
 * from base on. */

static void
open_subs(enum wl_target t, int64_t total, int64_t base, int channels,
          const char *prefix, struct opened *o)
{
    struct wl_report *per = sb_calloc(WL_PROCS_MAX, sizeof(*per));
    bool need[WL_PROCS_MAX];
    int64_t next = base;

    memset(o, 0, sizeof(*o));
    for (int i = 0; i < opt.procs; i++) {
        struct wl_cmd c = {.op = WL_OP_OPEN, .target = t};
        int64_t share = total / opt.procs + (i < total % opt.procs);

        c.count = share;
        c.channels = channels;
        c.first_channel = (int)next;
        c.pending_max = OPEN_PENDING;
        c.by_message = open_by_message;
        snprintf(c.prefix, sizeof(c.prefix), "%s", prefix);
        next += share;
        o->per[i] = share;
        need[i] = share > 0;
        if (need[i])
            send_cmd(i, &c);
    }
    collect(WL_OP_OPEN, per, need, NULL);
    for (int i = 0; i < opt.procs; i++) {
        if (!need[i])
            continue;
        o->ok += per[i].ok;
        o->failed += per[i].failed;
        o->per[i] = per[i].ok;
        span_add(&o->t_begin, &o->t_end, &per[i]);
        first_error(o->error, sizeof(o->error), per[i].error);
    }
    if (o->failed > 0) {
        failures++;
        fprintf(stderr, "wsload: %s: %lld of %lld connections failed: %s\n",
                wl_targets[t].name, (long long)o->failed, (long long)total,
                o->error);
    }
    free(per);
}

/* --- publishing and receiving --- */

struct delivered {
    struct wl_report pub; /* the publisher's report */
    int64_t received, expected, lost;
    int64_t t_first, t_end;
    struct lat_hist hist;
    char error[200];
};

/* Seconds from a case's first publish until its last answer is due: its
 * planned length plus --grace. */
static double
publish_deadline(double planned)
{
    return planned + (double)opt.grace;
}

/* Worker 0 publishes count publishes at rate (0: unpaced) to channel
 * <prefix>-0 while every process waits for its subscribers' share, until
 * the deadline that follows from the publishes and the rate (unpaced: the
 * deliveries at FANOUT_FLOOR_PER_S). */
static void
publish_wait(enum wl_target t, const struct opened *subs, const char *prefix,
             int64_t count, double rate, struct delivered *d)
{
    struct wl_report *per = sb_calloc(WL_PROCS_MAX, sizeof(*per));
    struct wl_cmd pc = {.op = WL_OP_PUBLISH, .target = t};
    double planned = rate > 0 ? (double)count / rate
                              : (double)(subs->ok * count) / FANOUT_FLOOR_PER_S;

    memset(d, 0, sizeof(*d));
    pc.deadline = publish_deadline(planned);
    all(WL_OP_RESET);
    for (int i = 0; i < opt.procs; i++) {
        struct wl_cmd wc = {.op = WL_OP_WAIT};

        wc.expect = subs->per[i] * count;
        /* The publisher connects first, and the last deliveries may
         * arrive after the last answer. */
        wc.seconds = pc.deadline + 2 * SETTLE_US / 1e6;
        d->expected += wc.expect;
        send_cmd(i, &wc);
    }
    pc.count = count;
    pc.conns = 1;
    pc.window = t == WL_WSD ? WSD_WINDOW : 1;
    pc.rate = rate;
    snprintf(pc.prefix, sizeof(pc.prefix), "%s", prefix);
    send_cmd(0, &pc);
    collect(WL_OP_WAIT, per, NULL, &d->pub);
    if (d->pub.op != WL_OP_PUBLISH) { /* it came after worker 0's WAIT */
        read_report(0, &d->pub);
    }
    for (int i = 0; i < opt.procs; i++) {
        d->received += per[i].received;
        d->lost += per[i].lost;
        if (per[i].received > 0 &&
            (d->t_first == 0 || per[i].t_first < d->t_first))
            d->t_first = per[i].t_first;
        if (per[i].t_end > d->t_end)
            d->t_end = per[i].t_end;
        lat_hist_merge(&d->hist, &per[i].hist);
        first_error(d->error, sizeof(d->error), per[i].error);
    }
    first_error(d->error, sizeof(d->error), d->pub.error);
    if (d->received < d->expected || d->pub.failed > 0 || d->lost > 0) {
        failures++;
        fprintf(stderr,
                "wsload: %s: %lld of %lld deliveries, %lld failed "
                "publishes, %lld subscribers lost: %s\n",
                wl_targets[t].name, (long long)d->received,
                (long long)d->expected, (long long)d->pub.failed,
                (long long)d->lost, d->error);
    }
    free(per);
}

/* --- the scenarios --- */

static bool
wanted(enum wl_target t)
{
    return wl_targets[t].port != 0;
}

/* The first target from t on that was given on the command line, else
 * WL_NTARGETS: the loop over them is
 *   for (int t = next_target(0); t < WL_NTARGETS; t = next_target(t + 1)) */
static int
next_target(int t)
{
    while (t < WL_NTARGETS && !wanted(t))
        t++;
    return t;
}

/* Both targets given: the ratio lines are printed. */
static bool
both_targets(void)
{
    return wanted(WL_WSD) && wanted(WL_NCHAN);
}

/* CPU microseconds per unit (n of them) between samples a and b. */
static double
cpu_us_per(const struct usage *a, const struct usage *b, int64_t n)
{
    return (b->cpu_s - a->cpu_s) * 1e6 / (double)(n > 0 ? n : 1);
}

static void
sample(enum wl_target t, struct usage *srv, struct usage *pg,
       struct usage *load)
{
    usage_of(&opt.server[t], srv);
    memset(pg, 0, sizeof(*pg));
    if (t == WL_WSD)
        usage_of(&opt.pg, pg);
    usage_of(&load_pids, load);
}

static double
ratio(double a, double b)
{
    return b > 0 ? a / b : 0;
}

static void
rule(const char *title)
{
    printf("\n%s\n", title);
}

struct idle_row {
    int64_t conns, failed;
    double rss_kb, pss_kb;
};

static void
idle_target(enum wl_target t, struct idle_row *rows)
{
    struct usage base, now, pg, load;
    struct opened o;
    int64_t have = 0;
    char prefix[32];

    snprintf(prefix, sizeof(prefix), "%s-idle", opt.tag);
    sleep_us(SETTLE_US / 2);
    sample(t, &base, &pg, &load);
    for (int i = 0; i < opt.nidle; i++) {
        open_subs(t, opt.idle[i] - have, have, IDLE_CHANNELS, prefix, &o);
        have += o.ok;
        sleep_us(2 * SETTLE_US);
        sample(t, &now, &pg, &load);
        rows[i].conns = have;
        rows[i].failed = o.failed;
        rows[i].rss_kb = now.rss_kb - base.rss_kb;
        rows[i].pss_kb = now.pss_kb - base.pss_kb;
    }
    close_all();
}

static void
scenario_idle(void)
{
    struct idle_row rows[WL_NTARGETS][LIST_MAX];

    memset(rows, 0, sizeof(rows));
    rule("a. memory per idle connection (each subscribed to one of 100 "
         "channels; KiB = 1024 bytes)");
    for (int t = next_target(0); t < WL_NTARGETS; t = next_target(t + 1))
        idle_target(t, rows[t]);
    printf("%-8s %8s %7s %11s %10s %10s\n", "server", "conns", "failed",
           "RSS delta", "RSS/conn", "PSS/conn");
    for (int i = 0; i < opt.nidle; i++) {
        for (int t = next_target(0); t < WL_NTARGETS; t = next_target(t + 1)) {
            struct idle_row *r = &rows[t][i];

            if (r->conns == 0)
                continue;
            printf("%-8s %8lld %7lld %7.1f MiB %6.2f KiB %6.2f KiB\n",
                   wl_targets[t].name, (long long)r->conns,
                   (long long)r->failed, r->rss_kb / 1024,
                   r->rss_kb / (double)r->conns, r->pss_kb / (double)r->conns);
        }
    }
    if (!both_targets())
        return;
    for (int i = 0; i < opt.nidle; i++) {
        struct idle_row *w = &rows[WL_WSD][i], *n = &rows[WL_NCHAN][i];

        printf(
            "ratio wsd/nchan at %lld: %.2f (RSS per connection), %.2f "
            "(PSS)\n",
            (long long)opt.idle[i],
            ratio(w->rss_kb / (double)w->conns, n->rss_kb / (double)n->conns),
            ratio(w->pss_kb / (double)w->conns, n->pss_kb / (double)n->conns));
    }
}

struct rate_row {
    int64_t ok, failed;
    double seconds, srv_us, pg_us, load_us;
};

static void
setup_target(enum wl_target t, struct rate_row *r)
{
    struct usage s0, p0, l0, s1, p1, l1;
    struct opened o;
    char prefix[32];

    snprintf(prefix, sizeof(prefix), "%s-setup", opt.tag);
    sample(t, &s0, &p0, &l0);
    open_subs(t, opt.setup, 0, IDLE_CHANNELS, prefix, &o);
    sample(t, &s1, &p1, &l1);
    r->ok = o.ok;
    r->failed = o.failed;
    r->seconds = (double)(o.t_end - o.t_begin) / 1e6;
    r->srv_us = cpu_us_per(&s0, &s1, o.ok);
    r->pg_us = cpu_us_per(&p0, &p1, o.ok);
    r->load_us = cpu_us_per(&l0, &l1, o.ok);
    close_all();
    /* Let the servers finish with the closed connections (wsd writes
     * disconnect audit records once a second) before the next row. */
    usleep(1500 * 1000);
}

static void
scenario_setup(void)
{
    struct rate_row r[WL_NTARGETS + 1];
    const char *names[WL_NTARGETS + 1];
    int n = 0;

    memset(r, 0, sizeof(r));
    rule("b. connection set-up with token auth (TCP connect, upgrade, "
         "token checked, subscribed), 64 in flight per load process");
    for (int t = next_target(0); t < WL_NTARGETS; t = next_target(t + 1)) {
        names[n] = wl_targets[t].name;
        setup_target(t, &r[n++]);
        if (t == WL_WSD) {
            open_by_message = true;
            names[n] = "wsd/op";
            setup_target(t, &r[n++]);
            open_by_message = false;
        }
    }
    printf("%-8s %8s %7s %8s %9s %12s %12s %12s\n", "server", "conns", "failed",
           "seconds", "conns/s", "server us/c", "postgres us/c", "wsload us/c");
    for (int i = 0; i < n; i++)
        printf("%-8s %8lld %7lld %8.2f %9.0f %12.1f %12.1f %12.1f\n", names[i],
               (long long)r[i].ok, (long long)r[i].failed, r[i].seconds,
               (double)r[i].ok / r[i].seconds, r[i].srv_us, r[i].pg_us,
               r[i].load_us);
    printf("(wsd: channel in the upgrade request, ?subscribe=; wsd/op: a "
           "subscribe op after auth.ok)\n");
    if (both_targets()) {
        struct rate_row *w = &r[0], *x = &r[n - 1];

        printf("ratio wsd/nchan: %.2f (connections/s), %.2f (server CPU per "
               "connection), %.2f (with PostgreSQL)\n",
               ratio((double)w->ok / w->seconds, (double)x->ok / x->seconds),
               ratio(w->srv_us, x->srv_us),
               ratio(w->srv_us + w->pg_us, x->srv_us));
    }
}

struct flow_row {
    int64_t subs, publishes, deliveries, expected;
    double rate, seconds, srv_us, pg_us, srv_pct, pg_pct, load_pct;
    uint64_t p50, p90, p99, max;
};

/* Subscribers on one channel, publishes, deliveries, CPU. */
static void
flow(enum wl_target t, int64_t subs, int64_t count, double rate,
     const char *prefix, struct flow_row *r)
{
    struct usage s0, p0, l0, s1, p1, l1;
    struct opened o;
    struct delivered *d = sb_malloc(sizeof(*d));
    double wall;

    memset(r, 0, sizeof(*r));
    open_subs(t, subs, 0, 1, prefix, &o);
    sleep_us(SETTLE_US);
    sample(t, &s0, &p0, &l0);
    int64_t t0 = sb_mono_us();
    publish_wait(t, &o, prefix, count, rate, d);
    wall = (double)(sb_mono_us() - t0) / 1e6;
    sample(t, &s1, &p1, &l1);
    r->subs = o.ok;
    r->publishes = d->pub.ok;
    r->deliveries = d->received;
    r->expected = d->expected;
    r->rate = rate;
    r->seconds = (double)(d->t_end - d->pub.t_begin) / 1e6;
    r->srv_us = cpu_us_per(&s0, &s1, d->received);
    r->pg_us = cpu_us_per(&p0, &p1, d->received);
    r->srv_pct = (s1.cpu_s - s0.cpu_s) * 100 / wall;
    r->pg_pct = (p1.cpu_s - p0.cpu_s) * 100 / wall;
    r->load_pct = (l1.cpu_s - l0.cpu_s) * 100 / wall;
    r->p50 = lat_hist_quantile(&d->hist, 0.50);
    r->p90 = lat_hist_quantile(&d->hist, 0.90);
    r->p99 = lat_hist_quantile(&d->hist, 0.99);
    r->max = d->hist.max;
    free(d);
    close_all();
}

/* flow() on every target given, into row[t]; its channels are named after
 * the case (what) and its size (n). */
static void
flow_targets(int64_t subs, int64_t count, double rate, const char *what,
             int64_t n, struct flow_row *row)
{
    char prefix[32];

    snprintf(prefix, sizeof(prefix), "%s-%s%lld", opt.tag, what, (long long)n);
    for (int t = next_target(0); t < WL_NTARGETS; t = next_target(t + 1))
        flow(t, subs, count, rate, prefix, &row[t]);
}

static void
scenario_fanout(void)
{
    struct flow_row r[LIST_MAX][WL_NTARGETS];

    memset(r, 0, sizeof(r));
    rule("c. fan-out to one channel's subscribers, publishes as fast as "
         "acknowledged (wsd: durable, group-committed)");
    for (int i = 0; i < opt.nfanout; i++) {
        int64_t n = opt.deliveries / opt.fanout[i];

        flow_targets(opt.fanout[i], n > 0 ? n : 1, 0, "fan", opt.fanout[i],
                     r[i]);
    }
    printf("%-8s %6s %6s %10s %7s %12s %9s %9s %7s %7s\n", "server", "subs",
           "pubs", "deliveries", "seconds", "deliveries/s", "server us",
           "postgr us", "p50 ms", "p99 ms");
    for (int i = 0; i < opt.nfanout; i++) {
        for (int t = next_target(0); t < WL_NTARGETS; t = next_target(t + 1)) {
            struct flow_row *x = &r[i][t];

            printf("%-8s %6lld %6lld %10lld %7.2f %12.0f %9.2f %9.2f %7.1f "
                   "%7.1f\n",
                   wl_targets[t].name, (long long)x->subs,
                   (long long)x->publishes, (long long)x->deliveries,
                   x->seconds, (double)x->deliveries / x->seconds, x->srv_us,
                   x->pg_us, (double)x->p50 / 1000, (double)x->p99 / 1000);
        }
    }
    printf("(server us, postgr us: CPU microseconds per delivery)\n");
    if (!both_targets())
        return;
    for (int i = 0; i < opt.nfanout; i++) {
        struct flow_row *w = &r[i][WL_WSD], *n = &r[i][WL_NCHAN];

        printf("ratio wsd/nchan at %lld subscribers: %.2f (CPU per "
               "delivery), %.2f (with PostgreSQL), %.2f (deliveries/s)\n",
               (long long)opt.fanout[i], ratio(w->srv_us, n->srv_us),
               ratio(w->srv_us + w->pg_us, n->srv_us),
               ratio((double)w->deliveries / w->seconds,
                     (double)n->deliveries / n->seconds));
    }
}

static void
scenario_latency(void)
{
    struct flow_row r[LIST_MAX][WL_NTARGETS];

    memset(r, 0, sizeof(r));
    printf("\nd. publish-to-receive latency, %lld subscribers on one channel, "
           "paced publishes for %.0f s (wsd: durable commit included)\n",
           (long long)opt.latency_subs, opt.latency_seconds);
    for (int i = 0; i < opt.nlatency_rates; i++) {
        double rate = (double)opt.latency_rates[i];

        flow_targets(opt.latency_subs, (int64_t)(rate * opt.latency_seconds),
                     rate, "lat", opt.latency_rates[i], r[i]);
    }
    printf("%-8s %6s %6s %10s %8s %8s %8s %8s %7s %7s %7s\n", "server",
           "rate/s", "pubs", "deliveries", "p50 ms", "p90 ms", "p99 ms",
           "max ms", "server", "postgr", "wsload");
    for (int i = 0; i < opt.nlatency_rates; i++) {
        for (int t = next_target(0); t < WL_NTARGETS; t = next_target(t + 1)) {
            struct flow_row *x = &r[i][t];

            printf("%-8s %6.0f %6lld %10lld %8.2f %8.2f %8.2f %8.2f %6.1f%% "
                   "%6.1f%% %6.1f%%\n",
                   wl_targets[t].name, x->rate, (long long)x->publishes,
                   (long long)x->deliveries, (double)x->p50 / 1000,
                   (double)x->p90 / 1000, (double)x->p99 / 1000,
                   (double)x->max / 1000, x->srv_pct, x->pg_pct, x->load_pct);
        }
    }
    printf("(server, postgr, wsload: CPU time as %% of one core)\n");
    if (!both_targets())
        return;
    for (int i = 0; i < opt.nlatency_rates; i++)
        printf("ratio wsd/nchan p99 at %lld/s: %.3f\n",
               (long long)opt.latency_rates[i],
               ratio((double)r[i][WL_WSD].p99, (double)r[i][WL_NCHAN].p99));
}

struct ingest_row {
    int64_t acked, failed, dup;
    double seconds, srv_us, pg_us;
    int window;
};

static void
ingest_target(enum wl_target t, struct ingest_row *r)
{
    struct usage s0, p0, l0, s1, p1, l1;
    struct wl_report *per = sb_calloc(WL_PROCS_MAX, sizeof(*per));
    int64_t t_begin = 0, t_end = 0;
    char err[200] = "";

    memset(r, 0, sizeof(*r));
    r->window = t == WL_WSD ? opt.ingest_window : 1;
    sample(t, &s0, &p0, &l0);
    for (int i = 0; i < opt.procs; i++) {
        struct wl_cmd c = {.op = WL_OP_PUBLISH, .target = t};

        c.conns =
            opt.ingest_conns / opt.procs + (i < opt.ingest_conns % opt.procs);
        c.window = r->window;
        c.own_channel = true;
        c.seconds = opt.ingest_seconds;
        c.deadline = publish_deadline(opt.ingest_seconds);
        snprintf(c.prefix, sizeof(c.prefix), "%s-ingest", opt.tag);
        send_cmd(i, &c);
    }
    collect(WL_OP_PUBLISH, per, NULL, NULL);
    sample(t, &s1, &p1, &l1);
    for (int i = 0; i < opt.procs; i++) {
        r->acked += per[i].ok;
        r->failed += per[i].failed;
        r->dup += per[i].dup;
        span_add(&t_begin, &t_end, &per[i]);
        first_error(err, sizeof(err), per[i].error);
    }
    r->seconds = (double)(t_end - t_begin) / 1e6;
    r->srv_us = cpu_us_per(&s0, &s1, r->acked);
    r->pg_us = cpu_us_per(&p0, &p1, r->acked);
    if (r->failed > 0 || r->dup > 0 || r->acked == 0) {
        failures++;
        fprintf(stderr,
                "wsload: %s: %lld publishes failed, %lld "
                "duplicates: %s\n",
                wl_targets[t].name, (long long)r->failed, (long long)r->dup,
                err);
    }
    free(per);
    sleep_us(SETTLE_US);
}

static void
scenario_ingest(void)
{
    struct ingest_row r[WL_NTARGETS];

    memset(r, 0, sizeof(r));
    printf("\ne. publish ingest, %d connections each on its own channel, "
           "%.0f s (wsd: acknowledged after the group commit; nchan: in "
           "memory, not durable)\n",
           opt.ingest_conns, opt.ingest_seconds);
    for (int t = next_target(0); t < WL_NTARGETS; t = next_target(t + 1))
        ingest_target(t, &r[t]);
    printf("%-8s %6s %6s %8s %9s %7s %9s %10s %10s\n", "server", "conns",
           "window", "seconds", "acked", "failed", "events/s", "server us/e",
           "postgr us/e");
    for (int t = next_target(0); t < WL_NTARGETS; t = next_target(t + 1))
        printf("%-8s %6d %6d %8.2f %9lld %7lld %9.0f %10.1f %10.1f\n",
               wl_targets[t].name, opt.ingest_conns, r[t].window, r[t].seconds,
               (long long)r[t].acked, (long long)r[t].failed,
               (double)r[t].acked / r[t].seconds, r[t].srv_us, r[t].pg_us);
    if (both_targets())
        printf("ratio wsd/nchan: %.2f (events/s)\n",
               ratio((double)r[0].acked / r[0].seconds,
                     (double)r[1].acked / r[1].seconds));
}

int
main(int argc, char **argv)
{
    parse(argc, argv);
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    snprintf(opt.tag, sizeof(opt.tag), "w%ld", (long)time(NULL) % 100000000);
    spawn();
    printf("wsload: %d load processes;", opt.procs);
    for (int t = next_target(0); t < WL_NTARGETS; t = next_target(t + 1))
        printf(" %s at %s:%d%s;", wl_targets[t].name, wl_targets[t].host,
               wl_targets[t].port,
               wl_targets[t].nports > 1 ? " and more ports" : "");
    printf(" CPU clock tick %ld per second\n", sysconf(_SC_CLK_TCK));
    for (const char *s = opt.scenarios; *s != '\0'; s++) {
        switch (*s) {
        case 'a':
            scenario_idle();
            break;
        case 'b':
            scenario_setup();
            break;
        case 'c':
            scenario_fanout();
            break;
        case 'd':
            scenario_latency();
            break;
        case 'e':
            scenario_ingest();
            break;
        default:
            usage_exit("scenarios are letters a to e");
        }
    }
    for (int i = 0; i < opt.procs; i++) {
        struct wl_cmd c = {.op = WL_OP_QUIT};

        send_cmd(i, &c);
        waitpid(procs[i].pid, NULL, 0);
    }
    if (failures > 0)
        fprintf(stderr, "wsload: %d case(s) had failures (see above)\n",
                failures);
    return failures > 0 ? 1 : 0;
}
