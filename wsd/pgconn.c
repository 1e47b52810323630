/*
 * pgconn.c: one PostgreSQL connection driven by the lws loop (see
 * pgconn.h). States: DOWN (waiting to retry), CONNECTING (PQconnectPoll
 * steps), READY (queries flow). Nothing here blocks: libpq is in
 * non-blocking mode and is only called when lws reports the socket ready.
 *
 * Output: a statement larger than the socket's send buffer leaves libpq
 * with output pending (PQflush() returns 1). Every libpq call that can
 * leave output behind is followed by flush(), which asks for writable
 * again for as long as PQflush() returns 1. lws 4.1's raw-file role clears
 * POLLOUT after the writable callback returns, undoing a request made
 * inside it, so a request from there is made on the next loop turn
 * (sul_write) instead.
 *
 * Watchdog: once a second each connection checks its running query; one
 * unanswered (or not even sent whole) for db_stall_timeout is logged and
 * the connection reconnected, so that queries queued behind it fail with
 * unavailable and are retried instead of waiting for good.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "pg.h"
#include "pgconn.h"
#include "server.h"
#include "wsd.h"
#include "xalloc.h"

/* First retry delay, and the ceiling the doubling stops at. */
#define RETRY_MIN_MS 250
#define RETRY_MAX_MS 15000
/* A connect that has not finished after this long is abandoned. */
#define CONNECT_TIMEOUT_MS 15000
/* How often the watchdog looks at the running query. */
#define WATCH_MS 1000

enum pg_state { PG_DOWN, PG_CONNECTING, PG_READY };

struct wsd_query {
    struct wsd_query *next;
    char *sql;
    int nparams;
    char **params;
    wsd_query_fn fn;
    void *arg;
};

struct wsd_pgconn {
    char *name;
    const char *conninfo;
    struct lws_vhost *vh;
    struct wsd_pghooks hooks;
    PGconn *pg;
    struct lws *wsi;
    int sock; /* libpq's socket that wsi watches a duplicate of */
    enum pg_state state;
    struct wsd_query *head, *tail; /* head is on the wire when busy */
    size_t pending;
    bool busy;
    bool unsent;      /* libpq holds output it could not send yet */
    bool in_writable; /* inside the writable callback */
    int64_t sent_us;  /* when the running query was handed to libpq */
    PGresult *result; /* the running query's kept result */
    unsigned attempts;
    unsigned long reconnects;
    lws_sorted_usec_list_t sul;       /* retry or connect timeout */
    lws_sorted_usec_list_t sul_write; /* writable asked on the next turn */
    lws_sorted_usec_list_t sul_watch; /* the watchdog's tick */
};

static void lost(struct wsd_pgconn *pc, const char *why);
static void pump(struct wsd_pgconn *pc);

static void
query_free(struct wsd_query *q)
{
    for (int i = 0; i < q->nparams; i++)
        free(q->params[i]);
    free(q->params);
    free(q->sql);
    free(q);
}

/* --- the adopted socket --- */

static void
write_cb(lws_sorted_usec_list_t *sul)
{
    struct wsd_pgconn *pc = lws_container_of(sul, struct wsd_pgconn, sul_write);

    if (pc->wsi != NULL)
        lws_callback_on_writable(pc->wsi);
}

/* Ask for the writable callback (see the top of the file for why not
 * directly from inside it). */
static void
want_write(struct wsd_pgconn *pc)
{
    if (pc->wsi == NULL)
        return;
    if (pc->in_writable)
        wsd_timer_schedule(&pc->sul_write, write_cb, 0);
    else
        lws_callback_on_writable(pc->wsi);
}

/* Send what libpq holds; ask for writable while some is left. SB_OK, or
 * SB_ERR after the connection was declared lost. */
static int
flush(struct wsd_pgconn *pc)
{
    int rc = PQflush(pc->pg);

    if (rc < 0) {
        lost(pc, PQerrorMessage(pc->pg));
        return SB_ERR;
    }
    pc->unsent = rc == 1;
    if (pc->unsent)
        want_write(pc);
    return SB_OK;
}

static void
detach(struct wsd_pgconn *pc)
{
    if (pc->wsi == NULL)
        return;
    lws_set_opaque_user_data(pc->wsi, NULL);
    lws_set_timeout(pc->wsi, PENDING_TIMEOUT_KILLED_BY_PARENT,
                    LWS_TO_KILL_ASYNC);
    pc->wsi = NULL;
    pc->sock = -1;
}

static int
adopt(struct wsd_pgconn *pc)
{
    lws_sock_file_fd_type fd;
    int sock = PQsocket(pc->pg);

    detach(pc);
    if (sock < 0)
        return SB_ERR;
    fd.filefd = dup(sock);
    if (fd.filefd < 0)
        return SB_ERR;
    pc->wsi = lws_adopt_descriptor_vhost(pc->vh, LWS_ADOPT_RAW_FILE_DESC, fd,
                                         WSD_PG_PROTOCOL, NULL);
    if (pc->wsi == NULL) {
        close(fd.filefd);
        return SB_ERR;
    }
    lws_set_opaque_user_data(pc->wsi, pc);
    pc->sock = sock;
    return SB_OK;
}

/* --- connecting --- */

static void
retry_cb(lws_sorted_usec_list_t *sul)
{
    struct wsd_pgconn *pc = lws_container_of(sul, struct wsd_pgconn, sul);

    if (pc->state == PG_CONNECTING)
        lost(pc, "connect timed out");
    else if (pc->state == PG_DOWN)
        wsd_pgconn_start(pc);
}

static void
schedule(struct wsd_pgconn *pc, long long ms)
{
    wsd_timer_schedule(&pc->sul, retry_cb, ms * LWS_US_PER_MS);
}

/* Exponential backoff with jitter: half the delay fixed, half random. */
static long long
backoff_ms(unsigned attempts)
{
    long long ms = RETRY_MIN_MS;

    for (unsigned i = 0; i < attempts && ms < RETRY_MAX_MS; i++)
        ms *= 2;
    if (ms > RETRY_MAX_MS)
        ms = RETRY_MAX_MS;
    return ms / 2 + random() % (ms / 2 + 1);
}

static void
connected(struct wsd_pgconn *pc)
{
    lws_sul_cancel(&pc->sul);
    if (PQsetnonblocking(pc->pg, 1) != 0) {
        lost(pc, "cannot make the connection non-blocking");
        return;
    }
    pc->state = PG_READY;
    if (pc->attempts > 0 || pc->reconnects > 0)
        sb_log_info("database %s: connected", pc->name);
    else
        sb_log_debug("database %s: connected", pc->name);
    pc->attempts = 0;
    if (pc->hooks.up != NULL)
        pc->hooks.up(pc, pc->hooks.arg);
    pump(pc);
}

static void
connect_step(struct wsd_pgconn *pc)
{
    struct sb_error err;
    int wait = 0;
    int rc = sb_pg_connect_step(pc->pg, &wait, &err);

    if (rc == SB_OK) {
        connected(pc);
        return;
    }
    if (rc != SB_AGAIN) {
        lost(pc, err.message);
        return;
    }
    if (PQsocket(pc->pg) != pc->sock && adopt(pc) != SB_OK) {
        lost(pc, "cannot watch the new socket");
        return;
    }
    if (wait & SB_PG_WAIT_WRITE)
        want_write(pc);
}

void
wsd_pgconn_start(struct wsd_pgconn *pc)
{
    struct sb_error err;
    int wait = 0;

    SB_ASSERT(pc->state == PG_DOWN);
    pc->pg = sb_pg_connect_start(pc->conninfo, "wsd", &wait, &err);
    if (pc->pg == NULL) {
        lost(pc, err.message);
        return;
    }
    pc->state = PG_CONNECTING;
    if (adopt(pc) != SB_OK) {
        lost(pc, "cannot watch the socket");
        return;
    }
    schedule(pc, CONNECT_TIMEOUT_MS);
    if (wait & SB_PG_WAIT_WRITE)
        want_write(pc);
}

/* --- queries --- */

static void
complete(struct wsd_pgconn *pc, struct wsd_query *q, PGresult *res)
{
    struct sb_error err = {SB_E_NONE, ""};

    if (sb_pg_result_error(res, pc->pg, &err) == SB_OK)
        q->fn(res, NULL, q->arg);
    else
        q->fn(NULL, &err, q->arg);
    query_free(q);
}

static struct wsd_query *
unlink_head(struct wsd_pgconn *pc)
{
    struct wsd_query *q = pc->head;

    pc->head = q->next;
    if (pc->head == NULL)
        pc->tail = NULL;
    pc->pending--;
    return q;
}

static void
fail_all(struct wsd_pgconn *pc)
{
    struct sb_error err;

    sb_error_set(&err, SB_E_UNAVAILABLE, "unavailable: database connection "
                                         "lost");
    while (pc->head != NULL) {
        struct wsd_query *q = unlink_head(pc);

        q->fn(NULL, &err, q->arg);
        query_free(q);
    }
    PQclear(pc->result);
    pc->result = NULL;
    pc->busy = false;
}

static int
send_head(struct wsd_pgconn *pc)
{
    struct wsd_query *q = pc->head;
    int ok;

    if (q->nparams == 0)
        ok = PQsendQuery(pc->pg, q->sql);
    else
        ok = PQsendQueryParams(pc->pg, q->sql, q->nparams, NULL,
                               (const char *const *)q->params, NULL, NULL, 0);
    if (!ok) {
        lost(pc, PQerrorMessage(pc->pg));
        return SB_ERR;
    }
    pc->busy = true;
    pc->sent_us = wsd_mono_us();
    return flush(pc);
}

/* Keep the first result, but an error result wins over a good one. */
static void
keep_result(struct wsd_pgconn *pc, PGresult *res)
{
    ExecStatusType st = PQresultStatus(res);
    bool bad = st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE;

    if (pc->result == NULL) {
        pc->result = res;
    } else if (bad && PQresultStatus(pc->result) != PGRES_FATAL_ERROR) {
        PQclear(pc->result);
        pc->result = res;
    } else {
        PQclear(res);
    }
}

/* Collect results while libpq has them; returns true when the running
 * query completed. */
static bool
collect(struct wsd_pgconn *pc)
{
    while (!PQisBusy(pc->pg)) {
        PGresult *res = PQgetResult(pc->pg);

        if (res == NULL)
            return true;
        keep_result(pc, res);
    }
    return false;
}

static void
pump(struct wsd_pgconn *pc)
{
    while (pc->state == PG_READY) {
        if (pc->busy) {
            PGresult *res;

            if (!collect(pc))
                return;
            res = pc->result;
            pc->result = NULL;
            pc->busy = false;
            complete(pc, unlink_head(pc), res);
            PQclear(res);
            continue;
        }
        if (pc->head == NULL || send_head(pc) != SB_OK)
            return;
    }
}

int
wsd_pgconn_query(struct wsd_pgconn *pc, const char *sql, int nparams,
                 const char *const *params, wsd_query_fn fn, void *arg)
{
    struct wsd_query *q;

    if (pc->state != PG_READY)
        return SB_ERR;
    q = sb_calloc(1, sizeof(*q));
    q->sql = sb_strdup(sql);
    q->nparams = nparams;
    q->params = sb_calloc(nparams > 0 ? (size_t)nparams : 1, sizeof(char *));
    for (int i = 0; i < nparams; i++)
        q->params[i] = params[i] != NULL ? sb_strdup(params[i]) : NULL;
    q->fn = fn;
    q->arg = arg;
    if (pc->tail != NULL)
        pc->tail->next = q;
    else
        pc->head = q;
    pc->tail = q;
    pc->pending++;
    if (!pc->busy)
        pump(pc);
    return SB_OK;
}

/* --- loss and events --- */

static void
lost(struct wsd_pgconn *pc, const char *why)
{
    bool was_ready = pc->state == PG_READY;

    sb_log_warn("database %s: %s", pc->name,
                why != NULL && *why != '\0' ? why : "connection lost");
    detach(pc);
    lws_sul_cancel(&pc->sul_write);
    PQfinish(pc->pg);
    pc->pg = NULL;
    pc->state = PG_DOWN;
    pc->unsent = false;
    fail_all(pc);
    if (was_ready) {
        pc->reconnects++;
        if (pc->hooks.down != NULL)
            pc->hooks.down(pc, pc->hooks.arg);
    }
    schedule(pc, backoff_ms(pc->attempts++));
}

static void
drain_notifies(struct wsd_pgconn *pc)
{
    PGnotify *n;

    while ((n = PQnotifies(pc->pg)) != NULL) {
        if (pc->hooks.notify != NULL)
            pc->hooks.notify(n->relname, n->extra, pc->hooks.arg);
        PQfreemem(n);
    }
}

static void
on_readable(struct wsd_pgconn *pc)
{
    if (pc->state == PG_CONNECTING) {
        connect_step(pc);
        return;
    }
    if (pc->state != PG_READY)
        return;
    if (!PQconsumeInput(pc->pg)) {
        lost(pc, PQerrorMessage(pc->pg));
        return;
    }
    /* PQconsumeInput() sends pending output too, and may leave some. */
    if (pc->unsent && flush(pc) != SB_OK)
        return;
    drain_notifies(pc);
    pump(pc);
}

static void
on_writable(struct wsd_pgconn *pc)
{
    pc->in_writable = true;
    if (pc->state == PG_CONNECTING)
        connect_step(pc);
    else if (pc->state == PG_READY)
        flush(pc);
    pc->in_writable = false;
}

/* The watchdog (see the top of the file). */
static void
watch_cb(lws_sorted_usec_list_t *sul)
{
    struct wsd_pgconn *pc = lws_container_of(sul, struct wsd_pgconn, sul_watch);
    long long limit_ms = wsd_srv.conf.db_stall_timeout_ms;
    long long ms = (wsd_mono_us() - pc->sent_us) / 1000;
    char why[160];

    wsd_timer_schedule(&pc->sul_watch, watch_cb, WATCH_MS * LWS_US_PER_MS);
    if (pc->state != PG_READY || !pc->busy || ms < limit_ms)
        return;
    snprintf(why, sizeof(why),
             "%s for %lld ms (db_stall_timeout %lld ms): reconnecting",
             pc->unsent ? "statement not sent whole" : "no answer", ms,
             limit_ms);
    wsd_stats.db_stalls++;
    lost(pc, why);
}

int
wsd_pgconn_callback(struct lws *wsi, enum lws_callback_reasons reason,
                    void *user, void *in, size_t len)
{
    struct wsd_pgconn *pc = lws_get_opaque_user_data(wsi);

    if (pc == NULL || pc->wsi != wsi)
        return 0;
    switch (reason) {
    case LWS_CALLBACK_RAW_RX_FILE:
        on_readable(pc);
        break;
    case LWS_CALLBACK_RAW_WRITEABLE_FILE:
        on_writable(pc);
        break;
    case LWS_CALLBACK_RAW_CLOSE_FILE:
        pc->wsi = NULL;
        lost(pc, "socket closed");
        break;
    default:
        break;
    }
    return 0;
}

/* --- life --- */

struct wsd_pgconn *
wsd_pgconn_new(struct lws_vhost *vh, const char *name, const char *conninfo,
               const struct wsd_pghooks *hooks)
{
    struct wsd_pgconn *pc = sb_calloc(1, sizeof(*pc));

    pc->name = sb_strdup(name);
    pc->conninfo = conninfo;
    pc->vh = vh;
    if (hooks != NULL)
        pc->hooks = *hooks;
    pc->sock = -1;
    pc->state = PG_DOWN;
    wsd_timer_schedule(&pc->sul_watch, watch_cb, WATCH_MS * LWS_US_PER_MS);
    return pc;
}

void
wsd_pgconn_free(struct wsd_pgconn *pc)
{
    if (pc == NULL)
        return;
    lws_sul_cancel(&pc->sul);
    lws_sul_cancel(&pc->sul_write);
    lws_sul_cancel(&pc->sul_watch);
    detach(pc);
    fail_all(pc);
    PQfinish(pc->pg);
    free(pc->name);
    free(pc);
}

bool
wsd_pgconn_ready(const struct wsd_pgconn *pc)
{
    return pc != NULL && pc->state == PG_READY;
}

size_t
wsd_pgconn_pending(const struct wsd_pgconn *pc)
{
    return pc->pending;
}

unsigned long
wsd_pgconn_reconnects(const struct wsd_pgconn *pc)
{
    return pc->reconnects;
}
