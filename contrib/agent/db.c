/*
 * db.c: the agent's PostgreSQL connection for a poll() loop (see db.h).
 * States: down (waiting to reconnect), connecting (PQconnectPoll steps),
 * up (LISTEN sent first, then the FIFO, one query on the wire).
 */
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "pg.h"
#include "xalloc.h"

#define APPLICATION_NAME "switchboard-demo-agent"

struct query {
    struct query *next;
    char *sql;
    int nparams;
    char **params;
    unsigned flags;
    agent_db_fn fn;
    void *arg;
};

enum db_state { DB_DOWN, DB_CONNECTING, DB_UP };

struct agent_db {
    char *conninfo;
    struct agent_db_hooks hooks;
    PGconn *pg;
    enum db_state state;
    int wait;                  /* SB_PG_WAIT_* while connecting */
    bool want_write;           /* PQflush left bytes to send */
    bool listening;            /* LISTEN acknowledged on this connection */
    struct query *head, *tail; /* waiting */
    struct query *wire;        /* sent, result not complete */
    PGresult *first;           /* the wire query's first result */
    unsigned count;            /* waiting + on the wire */
    int64_t deadline;          /* retry, connect or query deadline; -1 */
    unsigned attempts;         /* connects failed in a row */
};

static void
query_free(struct query *q)
{
    for (int i = 0; i < q->nparams; i++)
        free(q->params[i]);
    free(q->params);
    free(q->sql);
    free(q);
}

/* Call q's function with res or err, and release q. */
static void
complete(struct agent_db *db, struct query *q, PGresult *res,
         const struct sb_error *err)
{
    db->count--;
    if (q->fn != NULL)
        q->fn(res, err, q->arg);
    query_free(q);
}

static void
push_front(struct agent_db *db, struct query *q)
{
    q->next = db->head;
    db->head = q;
    if (db->tail == NULL)
        db->tail = q;
}

static struct query *
pop_front(struct agent_db *db)
{
    struct query *q = db->head;

    if (q != NULL) {
        db->head = q->next;
        if (db->head == NULL)
            db->tail = NULL;
        q->next = NULL;
    }
    return q;
}

static struct query *
query_new(const char *sql, int nparams, const char *const *params,
          unsigned flags, agent_db_fn fn, void *arg)
{
    struct query *q = sb_calloc(1, sizeof(*q));

    q->sql = sb_strdup(sql);
    q->nparams = nparams;
    q->params = sb_calloc((size_t)nparams + 1, sizeof(char *));
    for (int i = 0; i < nparams; i++)
        q->params[i] = params[i] != NULL ? sb_strdup(params[i]) : NULL;
    q->flags = flags;
    q->fn = fn;
    q->arg = arg;
    return q;
}

void
agent_db_query(struct agent_db *db, const char *sql, int nparams,
               const char *const *params, unsigned flags, agent_db_fn fn,
               void *arg)
{
    struct query *q = query_new(sql, nparams, params, flags, fn, arg);

    if (db->tail != NULL)
        db->tail->next = q;
    else
        db->head = q;
    db->tail = q;
    db->count++;
}

/* --- connecting -------------------------------------------------------- */

/* Exponential backoff with jitter: half the delay fixed, half random. */
static int64_t
backoff_ms(unsigned attempts)
{
    int64_t ms = AGENT_DB_RETRY_MIN_MS;

    for (unsigned i = 0; i < attempts && ms < AGENT_DB_RETRY_MAX_MS; i++)
        ms *= 2;
    if (ms > AGENT_DB_RETRY_MAX_MS)
        ms = AGENT_DB_RETRY_MAX_MS;
    return ms / 2 + random() % (ms / 2 + 1);
}

/* Drop the connection and schedule the next attempt. The query on the
 * wire goes back to the head of the queue when it may be retried. */
static void
lost(struct agent_db *db, const char *why, int64_t now)
{
    struct sb_error err = {SB_E_UNAVAILABLE, "database connection lost"};
    struct query *q = db->wire;
    int64_t delay = backoff_ms(db->attempts++);

    sb_log_warn("database: %s; reconnecting in %lld ms", why, (long long)delay);
    PQclear(db->first);
    db->first = NULL;
    PQfinish(db->pg);
    db->pg = NULL;
    db->state = DB_DOWN;
    db->want_write = db->listening = false;
    db->wire = NULL;
    db->deadline = now + delay;
    if (q != NULL && (q->flags & AGENT_DB_RETRY))
        push_front(db, q);
    else if (q != NULL)
        complete(db, q, NULL, &err);
}

static void
start_connect(struct agent_db *db, int64_t now)
{
    struct sb_error err;

    db->pg =
        sb_pg_connect_start(db->conninfo, APPLICATION_NAME, &db->wait, &err);
    if (db->pg == NULL) {
        lost(db, err.message, now);
        return;
    }
    db->state = DB_CONNECTING;
    db->deadline = now + AGENT_DB_CONNECT_MAX_MS;
}

static void
listened(PGresult *res, const struct sb_error *err, void *arg)
{
    struct agent_db *db = arg;

    if (res == NULL) {
        /* A lost connection sends it again on the next connect. */
        if (err->code != SB_E_UNAVAILABLE)
            sb_log_error("database: LISTEN switchboard failed: %s",
                         err->message);
        return;
    }
    db->listening = true;
    if (db->hooks.up != NULL)
        db->hooks.up(db->hooks.arg);
}

static void
connect_step(struct agent_db *db, int64_t now)
{
    struct sb_error err;
    int rc = sb_pg_connect_step(db->pg, &db->wait, &err);

    if (rc == SB_AGAIN)
        return;
    if (rc != SB_OK || PQsetnonblocking(db->pg, 1) != 0) {
        lost(db, rc != SB_OK ? err.message : "cannot set non-blocking", now);
        return;
    }
    sb_log_info("database: connected%s",
                db->attempts > 0 ? " again, resuming" : "");
    db->state = DB_UP;
    db->attempts = 0;
    db->deadline = -1;
    /* LISTEN before anything is read, so no doorbell falls in between. */
    push_front(db, query_new("LISTEN switchboard", 0, NULL, 0, listened, db));
    db->count++;
}

/* --- up: sending, reading ---------------------------------------------- */

static void
flush(struct agent_db *db, int64_t now)
{
    int rc = PQflush(db->pg);

    db->want_write = rc == 1;
    if (rc < 0)
        lost(db, PQerrorMessage(db->pg), now);
}

/* Put the next waiting query on the wire. */
static void
pump(struct agent_db *db, int64_t now)
{
    struct query *q;
    int ok;

    if (db->state != DB_UP || db->wire != NULL || db->head == NULL)
        return;
    q = pop_front(db);
    db->wire = q;
    db->deadline = now + AGENT_DB_QUERY_MAX_MS;
    if (q->nparams == 0)
        ok = PQsendQuery(db->pg, q->sql);
    else
        ok = PQsendQueryParams(db->pg, q->sql, q->nparams, NULL,
                               (const char *const *)q->params, NULL, NULL, 0);
    if (!ok) {
        lost(db, PQerrorMessage(db->pg), now);
        return;
    }
    flush(db, now);
}

static void
on_notify(const char *relname, const char *payload, void *arg)
{
    struct agent_db *db = arg;

    if (strcmp(relname, "switchboard") == 0 && db->hooks.doorbell != NULL)
        db->hooks.doorbell(payload, db->hooks.arg);
}

/* The wire query's results are all in: complete it. A failure that is
 * the connection's (it is now bad) is a loss, and the query may retry. */
static void
finish_wire(struct agent_db *db, int64_t now)
{
    struct query *q = db->wire;
    PGresult *res = db->first;
    struct sb_error err = {SB_E_NONE, ""};
    int rc = sb_pg_result_error(res, db->pg, &err);

    if (rc != SB_OK && PQstatus(db->pg) == CONNECTION_BAD) {
        lost(db, err.message, now);
        return;
    }
    db->wire = NULL;
    db->first = NULL;
    db->deadline = -1;
    complete(db, q, rc == SB_OK ? res : NULL, &err);
    PQclear(res);
}

static int
drain(struct agent_db *db, int64_t now)
{
    struct sb_error err;

    if (sb_pg_drain_notifies(db->pg, on_notify, db, &err) < 0) {
        lost(db, err.message, now);
        return SB_ERR;
    }
    return SB_OK;
}

static void
read_results(struct agent_db *db, int64_t now)
{
    if (drain(db, now) != SB_OK)
        return;
    while (db->state == DB_UP && db->wire != NULL && !PQisBusy(db->pg)) {
        PGresult *res = PQgetResult(db->pg);

        if (res == NULL)
            finish_wire(db, now);
        else if (db->first == NULL)
            db->first = res;
        else
            PQclear(res);
    }
    if (db->state == DB_UP)
        drain(db, now);
}

/* --- the poll() interface ---------------------------------------------- */

void
agent_db_pollfd(const struct agent_db *db, int *fd, short *events)
{
    *fd = -1;
    *events = 0;
    if (db->state == DB_CONNECTING) {
        *fd = PQsocket(db->pg);
        *events = db->wait == SB_PG_WAIT_READ ? POLLIN : POLLOUT;
    } else if (db->state == DB_UP) {
        *fd = PQsocket(db->pg);
        *events = POLLIN | (db->want_write ? POLLOUT : 0);
    }
}

int64_t
agent_db_timeout(const struct agent_db *db, int64_t now_ms)
{
    if (db->state == DB_UP && db->wire == NULL && db->head != NULL)
        return 0; /* something to send */
    if (db->deadline < 0)
        return -1;
    return db->deadline > now_ms ? db->deadline - now_ms : 0;
}

void
agent_db_ready(struct agent_db *db, short revents, int64_t now)
{
    switch (db->state) {
    case DB_DOWN:
        if (now >= db->deadline)
            start_connect(db, now);
        break;
    case DB_CONNECTING:
        if (revents != 0)
            connect_step(db, now);
        else if (now >= db->deadline)
            lost(db, "connect timed out", now);
        break;
    case DB_UP:
        if (revents & POLLOUT)
            flush(db, now);
        if (db->state == DB_UP && (revents & (POLLIN | POLLERR | POLLHUP)))
            read_results(db, now);
        if (db->state == DB_UP && db->wire != NULL && now >= db->deadline)
            lost(db, "query timed out", now);
        break;
    }
    pump(db, now);
}

/* --- life -------------------------------------------------------------- */

struct agent_db *
agent_db_new(const char *conninfo, const struct agent_db_hooks *hooks)
{
    struct agent_db *db = sb_calloc(1, sizeof(*db));

    db->conninfo = sb_strdup(conninfo != NULL ? conninfo : "");
    db->hooks = *hooks;
    db->state = DB_DOWN;
    db->deadline = 0; /* connect at the first tick */
    return db;
}

void
agent_db_free(struct agent_db *db)
{
    struct sb_error err = {SB_E_UNAVAILABLE, "agent stopping"};
    struct query *q;

    if (db == NULL)
        return;
    PQclear(db->first);
    if (db->wire != NULL)
        complete(db, db->wire, NULL, &err);
    while ((q = pop_front(db)) != NULL)
        complete(db, q, NULL, &err);
    PQfinish(db->pg);
    free(db->conninfo);
    free(db);
}

unsigned
agent_db_pending(const struct agent_db *db)
{
    return db->count;
}

bool
agent_db_up(const struct agent_db *db)
{
    return db->state == DB_UP && db->listening;
}
