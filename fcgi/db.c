/*
 * db.c: a worker thread's database connection (see db.h).
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "app.h"
#include "db.h"
#include "log.h"
#include "pg.h"
#include "xalloc.h"

/* Between two connect attempts while the database is unreachable. */
#define RECONNECT_MS 1000

struct fcgi_db {
    char *conninfo;
    PGconn *conn;
    int64_t next_try; /* monotonic ms */
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
    return SB_OK;
}

static PGresult *
run(struct fcgi_db *db, const char *sql, int n, const char *const *params,
    struct sb_error *err)
{
    PGresult *res = PQexecParams(db->conn, sql, n, NULL, params, NULL, NULL, 0);

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

PGresult *
fcgi_db_exec(struct fcgi_db *db, const char *sql, int n,
             const char *const *params, bool retry, struct sb_error *err)
{
    PGresult *res;

    if (ensure(db, err) != SB_OK)
        return NULL;
    res = run(db, sql, n, params, err);
    if (res != NULL || !retry || PQstatus(db->conn) == CONNECTION_OK)
        return res;
    /* The connection died under us (a database restart): once more. */
    if (ensure(db, err) != SB_OK)
        return NULL;
    return run(db, sql, n, params, err);
}
