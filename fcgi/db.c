/*
 * db.c: a worker thread's database connection (see db.h).
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "db.h"
#include "log.h"
#include "pg.h"
#include "xalloc.h"

/* Between two connect attempts while the database is unreachable. */
#define RECONNECT_MS 1000
/* SQLSTATE invalid_sql_statement_name: a prepared statement is gone (a
 * pooler in between ran DISCARD ALL); prepare it again. */
#define SQLSTATE_NO_STATEMENT "26000"

struct fcgi_db {
    char *conninfo;
    PGconn *conn;
    struct fcgi_prepared prepared; /* on conn */
    int64_t next_try;              /* monotonic ms */
    bool was_connected;
};

struct fcgi_db *
fcgi_db_new(const char *conninfo)
{
    struct fcgi_db *db = sb_calloc(1, sizeof(*db));

    db->conninfo = sb_strdup(conninfo != NULL ? conninfo : "");
    return db;
}

void
fcgi_db_free(struct fcgi_db *db)
{
    if (db == NULL)
        return;
    PQfinish(db->conn);
    free(db->conninfo);
    free(db);
}

static int
ensure(struct fcgi_db *db, struct sb_error *err)
{
    int64_t now = fcgi_mono_ms();

    if (db->conn != NULL && PQstatus(db->conn) == CONNECTION_OK)
        return SB_OK;
    PQfinish(db->conn);
    db->conn = NULL;
    if (now < db->next_try)
        return sb_error_set(err, SB_E_UNAVAILABLE,
                            "unavailable: database unreachable");
    db->conn = sb_pg_connect(db->conninfo, "switchboard-fcgi", err);
    if (db->conn == NULL) {
        db->next_try = now + RECONNECT_MS;
        atomic_store(&fcgi_app.n.db_up, 0);
        sb_log_warn("database: %s", err->message);
        if (err->code != SB_E_INTERNAL)
            err->code = SB_E_UNAVAILABLE;
        return SB_ERR;
    }
    if (db->was_connected)
        atomic_fetch_add(&fcgi_app.n.db_reconnects, 1);
    db->was_connected = true;
    fcgi_prepared_reset(&db->prepared);
    return SB_OK;
}

/* --- prepared statements --- */

void
fcgi_prepared_reset(struct fcgi_prepared *set)
{
    memset(set, 0, sizeof(*set));
}

static bool
is_prepared(const struct fcgi_prepared *set, const struct fcgi_stmt *st)
{
    for (size_t i = 0; i < set->n; i++) {
        if (set->done[i] == st)
            return true;
    }
    return false;
}

/* Prepare st unless set has it: NULL when done, else the failed result. */
static PGresult *
prepare(PGconn *conn, struct fcgi_prepared *set, const struct fcgi_stmt *st)
{
    PGresult *res;

    if (is_prepared(set, st))
        return NULL;
    res = PQprepare(conn, st->name, st->sql, st->nparams, NULL);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        return res != NULL ? res : PQmakeEmptyPGresult(conn, PGRES_FATAL_ERROR);
    PQclear(res);
    SB_ASSERT(set->n < FCGI_PREPARED_MAX);
    set->done[set->n++] = st;
    return NULL;
}

static void
forget(struct fcgi_prepared *set, const struct fcgi_stmt *st)
{
    for (size_t i = 0; i < set->n; i++) {
        if (set->done[i] == st) {
            set->done[i] = set->done[--set->n];
            return;
        }
    }
}

static bool
statement_gone(const PGresult *res)
{
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

    return state != NULL && strcmp(state, SQLSTATE_NO_STATEMENT) == 0;
}

/* Prepare if needed and execute: the raw result (success or error). */
static PGresult *
send_stmt(PGconn *conn, struct fcgi_prepared *set, const struct fcgi_stmt *st,
          const char *const *params)
{
    PGresult *res = prepare(conn, set, st);

    if (res != NULL)
        return res;
    res = PQexecPrepared(conn, st->name, st->nparams, params, NULL, NULL, 0);
    if (!statement_gone(res))
        return res;
    PQclear(res);
    forget(set, st);
    res = prepare(conn, set, st);
    if (res != NULL)
        return res;
    return PQexecPrepared(conn, st->name, st->nparams, params, NULL, NULL, 0);
}

PGresult *
fcgi_stmt_exec(PGconn *conn, struct fcgi_prepared *set,
               const struct fcgi_stmt *st, const char *const *params,
               struct sb_error *err)
{
    PGresult *res = send_stmt(conn, set, st, params);

    if (sb_pg_result_error(res, conn, err) == SB_OK)
        return res;
    PQclear(res);
    return NULL;
}

/* --- the worker's connection --- */

/* Run st (prepared) or sql (n parameters) on the worker's connection. */
static PGresult *
run(struct fcgi_db *db, const struct fcgi_stmt *st, const char *sql, int n,
    const char *const *params, struct sb_error *err)
{
    PGresult *res = st != NULL ? send_stmt(db->conn, &db->prepared, st, params)
                               : PQexecParams(db->conn, sql, n, NULL, params,
                                              NULL, NULL, 0);

    if (sb_pg_result_error(res, db->conn, err) == SB_OK) {
        atomic_store(&fcgi_app.n.db_up, 1);
        return res;
    }
    PQclear(res);
    if (PQstatus(db->conn) != CONNECTION_OK) {
        err->code = SB_E_UNAVAILABLE;
        atomic_store(&fcgi_app.n.db_up, 0);
    }
    return NULL;
}

static PGresult *
exec_retry(struct fcgi_db *db, const struct fcgi_stmt *st, const char *sql,
           int n, const char *const *params, bool retry, struct sb_error *err)
{
    PGresult *res;

    if (ensure(db, err) != SB_OK)
        return NULL;
    res = run(db, st, sql, n, params, err);
    if (res != NULL || !retry || PQstatus(db->conn) == CONNECTION_OK)
        return res;
    /* The connection died under us (a database restart): once more. */
    if (ensure(db, err) != SB_OK)
        return NULL;
    return run(db, st, sql, n, params, err);
}

PGresult *
fcgi_db_exec(struct fcgi_db *db, const char *sql, int n,
             const char *const *params, bool retry, struct sb_error *err)
{
    return exec_retry(db, NULL, sql, n, params, retry, err);
}

PGresult *
fcgi_db_exec_stmt(struct fcgi_db *db, const struct fcgi_stmt *st,
                  const char *const *params, bool retry, struct sb_error *err)
{
    return exec_retry(db, st, NULL, st->nparams, params, retry, err);
}
