/*
 * waiter.c: the waiter thread (see waiter.h): its loop around epoll (the
 * LISTEN connection's socket, an eventfd that workers ring when they hand
 * over a request, and the web server's connection of every parked
 * request, watched for EPOLLRDHUP), the timer heap, the inbox of handed
 * over requests, the LISTEN connection itself and the node heartbeat.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "app.h"
#include "deliver.h"
#include "log.h"
#include "metricsub.h"
#include "pg.h"
#include "poll.h"
#include "release.h"
#include "sse.h"
#include "timerheap.h"
#include "waiter.h"
#include "xalloc.h"

/* Between attempts to get the LISTEN connection back. */
#define RECONNECT_MS 1000
/* Longest sleep: bounds how late a stop or reconnect is noticed. */
#define TICK_MS 1000
/* Rounds of "drain notifications, then read" per wake-up. */
#define ROUNDS_MAX 16

#define HEARTBEAT_SQL                                                          \
    "SELECT switchboard.node_heartbeat($1, 'fcgi', $2, $3::integer, "          \
    "$4::integer, $5::integer, $6::jsonb)"
#define GONE_SQL "SELECT switchboard.node_gone($1)"

static char wake_tag, pg_tag;

static struct {
    pthread_mutex_t lock; /* guards started, inbox */
    bool started;
    pthread_t thread;
    struct fcgi_parked **inbox;
    size_t ninbox, capinbox;
    int wake_fd;
    int ep;
    PGconn *conn;
    int conn_fd;
    int64_t next_connect;
    int64_t next_beat;
    struct fcgi_deliver *d;
    struct fcgi_heap heap;
    struct fcgi_parked *all;
    struct fcgi_release_list released; /* this turn's, for release.c */
    struct fcgi_metricsub_round round; /* metrics snapshots of one round */
    atomic_bool stop;
} W = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake_fd = -1, .ep = -1,
       .conn_fd = -1};

uint64_t
fcgi_waiter_gen(void)
{
    return W.d != NULL ? fcgi_deliver_gen(W.d) : 0;
}

enum fcgi_known
fcgi_waiter_known(const struct fcgi_pos *pos, size_t n, uint64_t *gen)
{
    if (W.d == NULL) {
        *gen = 0;
        return FCGI_KNOWN_NOT;
    }
    return fcgi_deliver_known(W.d, pos, n, gen);
}

/* --- requests in and out --- */

static void
watch_fd(struct fcgi_parked *p, int op)
{
    int fd = fcgi_req_fd(p->req);
    struct epoll_event ev = {.events = EPOLLRDHUP, .data.ptr = p};

    if (fd >= 0)
        epoll_ctl(W.ep, op, fd, &ev);
}

/* Take p out of everything and hand it to the release threads, which
 * answer it (answer: a long-poll, with what it gathered) and finish it. */
static void
release(struct fcgi_parked *p, bool answer)
{
    fcgi_deliver_remove(W.d, p);
    fcgi_heap_remove(&W.heap, &p->timer);
    watch_fd(p, EPOLL_CTL_DEL);
    if (p->prev != NULL)
        p->prev->next = p->next;
    else
        W.all = p->next;
    if (p->next != NULL)
        p->next->prev = p->prev;
    atomic_fetch_sub(&fcgi_app.n.parked_subs, (long long)p->npos);
    p->ready_answer = answer;
    fcgi_release_add(&W.released, p);
    /* Hand over chunk by chunk: the first answers go out while the waiter
     * is still taking the rest of a large release apart. */
    if (W.released.n >= FCGI_RELEASE_CHUNK)
        fcgi_release_hand(&W.released);
}

static void
drop(struct fcgi_parked *p)
{
    release(p, false);
}

static void
answer(struct fcgi_parked *p)
{
    release(p, true);
}

/* A stream's next timer: its heartbeat after from, its expiry, or (a
 * metrics stream) its next look, whichever comes first. */
static int64_t
sse_next(const struct fcgi_parked *p, int64_t from)
{
    int64_t at = from + fcgi_app.conf.sse_heartbeat_ms;

    if (p->kind == FCGI_PARK_METRICS && p->due < at)
        at = p->due;
    return at < p->expires ? at : p->expires;
}

static void
adopt(struct fcgi_parked *p)
{
    int64_t now = fcgi_mono_ms();

    p->next = W.all;
    p->prev = NULL;
    if (W.all != NULL)
        W.all->prev = p;
    W.all = p;
    atomic_fetch_add(&fcgi_app.n.parked_subs, (long long)p->npos);
    p->timer.at = p->kind == FCGI_PARK_POLL ? p->deadline : sse_next(p, now);
    p->wrote_at = now;
    fcgi_heap_push(&W.heap, &p->timer);
    watch_fd(p, EPOLL_CTL_ADD);
    fcgi_deliver_add(W.d, p);
}

static void
take_inbox(void)
{
    struct fcgi_parked **v;
    size_t n;
    uint64_t one;

    if (read(W.wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        sb_log_debug("waiter: eventfd: %s", strerror(errno));
    pthread_mutex_lock(&W.lock);
    v = W.inbox;
    n = W.ninbox;
    W.inbox = NULL;
    W.ninbox = W.capinbox = 0;
    pthread_mutex_unlock(&W.lock);
    for (size_t i = 0; i < n; i++)
        adopt(v[i]);
    free(v);
}

int
fcgi_waiter_park(struct fcgi_parked *p)
{
    uint64_t one = 1;

    if (p == NULL)
        return atomic_load(&fcgi_app.n.parked) < fcgi_app.conf.max_parked
                   ? SB_OK
                   : SB_AGAIN;
    if (atomic_fetch_add(&fcgi_app.n.parked, 1) >= fcgi_app.conf.max_parked ||
        fcgi_waiter_start() != SB_OK) {
        atomic_fetch_sub(&fcgi_app.n.parked, 1);
        return SB_AGAIN;
    }
    /* From here on the request only waits: drop what it no longer needs
     * (a stream keeps its output, it writes for as long as it lives). */
    fcgi_req_park(p->req, p->kind != FCGI_PARK_POLL);
    pthread_mutex_lock(&W.lock);
    if (W.ninbox == W.capinbox) {
        W.capinbox = W.capinbox == 0 ? 64 : W.capinbox * 2;
        W.inbox = sb_realloc(W.inbox, W.capinbox * sizeof(*W.inbox));
    }
    W.inbox[W.ninbox++] = p;
    pthread_mutex_unlock(&W.lock);
    if (write(W.wake_fd, &one, sizeof(one)) < 0)
        sb_log_warn("waiter: eventfd: %s", strerror(errno));
    return SB_OK;
}

/* --- the LISTEN connection --- */

static void
lost(const char *why)
{
    sb_log_warn("waiter: LISTEN connection lost: %s", why);
    if (W.conn_fd >= 0)
        epoll_ctl(W.ep, EPOLL_CTL_DEL, W.conn_fd, NULL);
    PQfinish(W.conn);
    W.conn = NULL;
    W.conn_fd = -1;
    W.next_connect = fcgi_mono_ms() + RECONNECT_MS;
    atomic_store(&fcgi_app.n.listen_up, 0);
    fcgi_deliver_lost(W.d);
}

static int
listen_now(void)
{
    PGresult *res = PQexec(W.conn, "LISTEN switchboard; "
                                   "LISTEN switchboard_signal");
    struct sb_error err;
    int rc = sb_pg_result_error(res, W.conn, &err);

    PQclear(res);
    if (rc != SB_OK)
        sb_log_warn("waiter: LISTEN: %s", err.message);
    return rc;
}

static void
connect_listen(void)
{
    struct sb_error err;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &pg_tag};

    if (W.conn != NULL || fcgi_mono_ms() < W.next_connect)
        return;
    W.conn = sb_pg_connect(fcgi_app.common.database_url,
                           "switchboard-fcgi listen", &err);
    if (W.conn == NULL || listen_now() != SB_OK) {
        lost(W.conn == NULL ? err.message : "LISTEN failed");
        return;
    }
    W.conn_fd = PQsocket(W.conn);
    epoll_ctl(W.ep, EPOLL_CTL_ADD, W.conn_fd, &ev);
    atomic_store(&fcgi_app.n.listen_up, 1);
    sb_log_info("waiter: listening for doorbells");
    fcgi_deliver_listening(W.d); /* resync every waiting channel */
    W.next_beat = 0;
}

static void
on_notify(const char *relname, const char *payload, void *arg)
{
    if (strcmp(relname, "switchboard") == 0)
        fcgi_deliver_doorbell(W.d, payload);
    else if (strcmp(relname, "switchboard_signal") == 0)
        fcgi_deliver_signal(W.d, payload);
}

/* Drain notifications and read the rung channels until quiet. */
static void
serve_listen(void)
{
    struct sb_error err;

    for (int round = 0; W.conn != NULL && round < ROUNDS_MAX; round++) {
        int n = sb_pg_drain_notifies(W.conn, on_notify, NULL, &err);

        if (n < 0) {
            lost(err.message);
            return;
        }
        if (fcgi_deliver_run(W.d, W.conn, &err) != SB_OK) {
            if (PQstatus(W.conn) != CONNECTION_OK)
                lost(err.message);
            return;
        }
        if (n == 0)
            return;
    }
}

/* --- timers and the heartbeat --- */

static void
fire_sse(struct fcgi_parked *p, int64_t now)
{
    if (now >= p->expires) {
        fcgi_sse_send_expired(p);
        drop(p);
        return;
    }
    if (p->kind == FCGI_PARK_METRICS && now >= p->due &&
        fcgi_metricsub_look(p, W.conn, &W.round, now) != SB_OK) {
        drop(p);
        return;
    }
    if (now - p->wrote_at >= fcgi_app.conf.sse_heartbeat_ms &&
        (fcgi_sse_send_heartbeat(p) != SB_OK || fcgi_sse_flush(p) != SB_OK)) {
        drop(p);
        return;
    }
    if (now - p->wrote_at >= fcgi_app.conf.sse_heartbeat_ms)
        p->wrote_at = now;
    fcgi_heap_set(&W.heap, &p->timer, sse_next(p, p->wrote_at));
}

static void
fire_timers(void)
{
    int64_t now = fcgi_mono_ms();
    struct fcgi_timer *t;

    fcgi_metricsub_round_reset(&W.round);
    while ((t = fcgi_heap_top(&W.heap)) != NULL && t->at <= now) {
        struct fcgi_parked *p = t->owner;

        if (p->kind == FCGI_PARK_POLL)
            answer(p);
        else
            fire_sse(p, now);
    }
}

static void
heartbeat(void)
{
    char pid[16], conns[24], subs[24], *detail;
    const char *params[6];
    struct sb_error err;
    PGresult *res;

    if (W.conn == NULL || fcgi_mono_ms() < W.next_beat)
        return;
    W.next_beat = fcgi_mono_ms() + fcgi_app.common.heartbeat_interval_ms;
    snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    snprintf(conns, sizeof(conns), "%lld", atomic_load(&fcgi_app.n.parked));
    snprintf(subs, sizeof(subs), "%lld", atomic_load(&fcgi_app.n.parked_subs));
    detail = sb_asprintf("{\"version\":\"%s\",\"threads\":%lld}",
                         PACKAGE_VERSION, fcgi_app.conf.threads);
    params[0] = fcgi_app.common.node_id;
    params[1] = fcgi_app.host;
    params[2] = pid;
    params[3] = conns;
    params[4] = subs;
    params[5] = detail;
    res = PQexecParams(W.conn, HEARTBEAT_SQL, 6, NULL, params, NULL, NULL, 0);
    if (sb_pg_result_error(res, W.conn, &err) != SB_OK)
        sb_log_warn("waiter: heartbeat: %s", err.message);
    PQclear(res);
    free(detail);
}

static int
next_timeout(void)
{
    struct fcgi_timer *t = fcgi_heap_top(&W.heap);
    int64_t wait = TICK_MS;

    if (t != NULL && t->at - fcgi_mono_ms() < wait)
        wait = t->at - fcgi_mono_ms();
    return wait > 0 ? (int)wait : 0;
}

/* --- the loop --- */

static void
handle_events(const struct epoll_event *evs, int n)
{
    for (int i = 0; i < n; i++) {
        if (evs[i].data.ptr == &wake_tag)
            take_inbox();
        else if (evs[i].data.ptr != &pg_tag)
            drop(evs[i].data.ptr); /* the web server hung up */
    }
}

static void
answer_ready(void)
{
    struct fcgi_parked *p;

    while ((p = fcgi_deliver_next_ready(W.d)) != NULL)
        answer(p);
}

static void
shutdown_all(void)
{
    const char *params[1] = {fcgi_app.common.node_id};

    take_inbox();
    while (W.all != NULL)
        answer(W.all);
    fcgi_release_hand(&W.released);
    if (W.conn != NULL)
        PQclear(PQexecParams(W.conn, GONE_SQL, 1, NULL, params, NULL, NULL, 0));
}

static void *
run(void *arg)
{
    struct epoll_event evs[64];

    while (!atomic_load(&W.stop)) {
        int n;

        connect_listen();
        n = epoll_wait(W.ep, evs, 64, next_timeout());
        if (n < 0 && errno != EINTR)
            sb_log_warn("waiter: epoll_wait: %s", strerror(errno));
        handle_events(evs, n > 0 ? n : 0);
        serve_listen();
        answer_ready();
        fire_timers();
        fcgi_release_hand(&W.released);
        heartbeat();
    }
    shutdown_all();
    return NULL;
}

static int
setup(void)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &wake_tag};

    W.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    W.ep = epoll_create1(EPOLL_CLOEXEC);
    if (W.wake_fd < 0 || W.ep < 0 ||
        epoll_ctl(W.ep, EPOLL_CTL_ADD, W.wake_fd, &ev) != 0) {
        sb_log_error("waiter: %s", strerror(errno));
        return SB_ERR;
    }
    W.d = fcgi_deliver_new();
    fcgi_release_start((size_t)fcgi_app.conf.release_threads);
    return SB_OK;
}

int
fcgi_waiter_start(void)
{
    int rc = SB_OK;

    pthread_mutex_lock(&W.lock);
    if (!W.started) {
        rc = setup();
        if (rc == SB_OK && pthread_create(&W.thread, NULL, run, NULL) != 0)
            rc = SB_ERR;
        W.started = rc == SB_OK;
    }
    pthread_mutex_unlock(&W.lock);
    return rc;
}

void
fcgi_waiter_stop(void)
{
    uint64_t one = 1;

    pthread_mutex_lock(&W.lock);
    if (!W.started) {
        pthread_mutex_unlock(&W.lock);
        return;
    }
    pthread_mutex_unlock(&W.lock);
    atomic_store(&W.stop, true);
    if (write(W.wake_fd, &one, sizeof(one)) < 0)
        sb_log_warn("waiter: eventfd: %s", strerror(errno));
    pthread_join(W.thread, NULL);
    fcgi_release_stop();
    PQfinish(W.conn);
    W.conn = NULL;
    fcgi_deliver_free(W.d);
    W.d = NULL;
    fcgi_heap_release(&W.heap);
    fcgi_metricsub_round_reset(&W.round);
    close(W.wake_fd);
    close(W.ep);
    W.started = false;
}
