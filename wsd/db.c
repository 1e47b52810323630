/*
 * db.c: the query pool and the LISTEN connection (see db.h).
 */
#include <stdio.h>
#include <stdlib.h>

#include "db.h"
#include "fanout.h"
#include "log.h"
#include "node.h"
#include "wsd.h"
#include "xalloc.h"

#define LISTEN_SQL "LISTEN switchboard; LISTEN switchboard_signal"

struct wsd_db {
    struct wsd_pgconn *listen;
    struct wsd_pgconn **pool; /* pool[0] is the writer */
    size_t npool;
    bool listening;
};

static struct wsd_db db;

static const char *
conninfo(void)
{
    return wsd_srv.common.database_url != NULL ? wsd_srv.common.database_url
                                               : "";
}

/* --- the LISTEN connection --- */

static void
listen_done(PGresult *res, const struct sb_error *err, void *arg)
{
    if (res == NULL) {
        sb_log_warn("database listen: LISTEN failed: %s", err->message);
        return;
    }
    db.listening = true;
    sb_log_debug("database listen: listening");
    /* Doorbells rung while nobody listened are lost: read the table. */
    wsd_fanout_resync();
}

static void
listen_up(struct wsd_pgconn *pc, void *arg)
{
    if (wsd_pgconn_query(pc, LISTEN_SQL, 0, NULL, listen_done, NULL) != SB_OK)
        sb_log_warn("database listen: cannot send LISTEN");
}

static void
listen_down(struct wsd_pgconn *pc, void *arg)
{
    db.listening = false;
}

static void
notify(const char *relname, const char *payload, void *arg)
{
    wsd_fanout_notify(relname, payload);
}

/* --- the pool --- */

static void
writer_up(struct wsd_pgconn *pc, void *arg)
{
    wsd_node_db_up();
}

void
wsd_db_start(void)
{
    struct wsd_pghooks lh = {listen_up, listen_down, notify, NULL};
    struct wsd_pghooks wh = {writer_up, NULL, NULL, NULL};

    db.npool = (size_t)wsd_srv.conf.db_pool_size;
    db.pool = sb_calloc(db.npool, sizeof(*db.pool));
    for (size_t i = 0; i < db.npool; i++) {
        char name[32];

        snprintf(name, sizeof(name), i == 0 ? "writer" : "reader %zu", i);
        db.pool[i] = wsd_pgconn_new(wsd_srv.vhost, name, conninfo(),
                                    i == 0 ? &wh : NULL);
        wsd_pgconn_start(db.pool[i]);
    }
    db.listen = wsd_pgconn_new(wsd_srv.vhost, "listen", conninfo(), &lh);
    wsd_pgconn_start(db.listen);
}

void
wsd_db_stop(void)
{
    for (size_t i = 0; i < db.npool; i++)
        wsd_pgconn_free(db.pool[i]);
    free(db.pool);
    db.pool = NULL;
    db.npool = 0;
    wsd_pgconn_free(db.listen);
    db.listen = NULL;
    db.listening = false;
}

int
wsd_db_write(const char *sql, int nparams, const char *const *params,
             wsd_query_fn fn, void *arg)
{
    if (db.npool == 0)
        return SB_ERR;
    return wsd_pgconn_query(db.pool[0], sql, nparams, params, fn, arg);
}

/* The ready connection with the fewest queries, readers before the
 * writer. */
static struct wsd_pgconn *
pick_reader(void)
{
    struct wsd_pgconn *best = NULL;

    for (size_t i = db.npool; i-- > 0;) {
        struct wsd_pgconn *pc = db.pool[i];

        if (!wsd_pgconn_ready(pc))
            continue;
        if (best == NULL || wsd_pgconn_pending(pc) < wsd_pgconn_pending(best))
            best = pc;
    }
    return best;
}

int
wsd_db_read(const char *sql, int nparams, const char *const *params,
            wsd_query_fn fn, void *arg)
{
    struct wsd_pgconn *pc = pick_reader();

    if (pc == NULL)
        return SB_ERR;
    return wsd_pgconn_query(pc, sql, nparams, params, fn, arg);
}

bool
wsd_db_up(void)
{
    return db.npool > 0 && wsd_pgconn_ready(db.pool[0]);
}

bool
wsd_db_listening(void)
{
    return db.listening && wsd_pgconn_ready(db.listen);
}

size_t
wsd_db_write_pending(void)
{
    return db.npool > 0 ? wsd_pgconn_pending(db.pool[0]) : 0;
}

size_t
wsd_db_pending(void)
{
    size_t n = 0;

    for (size_t i = 0; i < db.npool; i++)
        n += wsd_pgconn_pending(db.pool[i]);
    return n;
}

bool
wsd_db_idle(void)
{
    return wsd_db_pending() == 0;
}

unsigned long
wsd_db_reconnects(void)
{
    unsigned long n = db.listen != NULL ? wsd_pgconn_reconnects(db.listen) : 0;

    for (size_t i = 0; i < db.npool; i++)
        n += wsd_pgconn_reconnects(db.pool[i]);
    return n;
}
