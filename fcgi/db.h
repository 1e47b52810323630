/*
 * db.h: a worker thread's database connection, and statements prepared
 * once per connection. Each worker owns one fcgi_db and runs its queries
 * blocking, with parameters only (no value ever becomes SQL text). A lost
 * connection is reconnected by the next query; while the database is
 * unreachable every query fails at once with unavailable (503, retry), at
 * most one connect attempt per second.
 *
 * The hot reads (long-poll catch-up, history pages, the waiter's
 * events_after) are named statements: each connection parses and plans
 * them once (PQprepare) and then only executes them (PQexecPrepared). A
 * replaced connection prepares them again on first use.
 */
#ifndef FCGI_DB_H
#define FCGI_DB_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "error.h"

struct fcgi_db;

/* A statement prepared on first use on each connection. */
struct fcgi_stmt {
    const char *name; /* unique in the process */
    const char *sql;
    int nparams;
};

/* Most distinct statements one connection prepares. */
#define FCGI_PREPARED_MAX 16

/* The statements already prepared on one connection. Zero it (or call
 * fcgi_prepared_reset) whenever the connection is replaced. */
struct fcgi_prepared {
    const struct fcgi_stmt *done[FCGI_PREPARED_MAX];
    size_t n;
};

void fcgi_prepared_reset(struct fcgi_prepared *set);

/* Run st on conn (a connection the caller owns, such as the waiter's),
 * preparing it first when set says it is not. Returns a successful result
 * the caller releases with PQclear, or NULL with err set. */
PGresult *fcgi_stmt_exec(PGconn *conn, struct fcgi_prepared *set,
                         const struct fcgi_stmt *st, const char *const *params,
                         struct sb_error *err);

/* A connection that connects on first use. Never NULL. */
struct fcgi_db *fcgi_db_new(const char *conninfo);
/* Close and release; NULL does nothing. */
void fcgi_db_free(struct fcgi_db *db);

/*
 * Run sql with n text parameters (NULL entries are SQL NULL). Returns a
 * successful result the caller releases with PQclear, or NULL with err set
 * from the SQLSTATE (SB0xx codes, unavailable, internal). retry: the
 * statement may run twice (a read, or a publish with an id), so a
 * connection found dead is replaced and the statement sent once more.
 */
PGresult *fcgi_db_exec(struct fcgi_db *db, const char *sql, int n,
                       const char *const *params, bool retry,
                       struct sb_error *err);
/* The same for a prepared statement on the worker's connection. */
PGresult *fcgi_db_exec_stmt(struct fcgi_db *db, const struct fcgi_stmt *st,
                            const char *const *params, bool retry,
                            struct sb_error *err);

#endif
