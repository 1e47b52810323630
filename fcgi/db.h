/*
 * db.h: a worker thread's database connection. Each worker owns one
 * fcgi_db and runs its queries blocking, with parameters only
 * (PQexecParams: no value ever becomes SQL text). A lost connection is
 * reconnected by the next query; while the database is unreachable every
 * query fails at once with unavailable (503, retry), at most one connect
 * attempt per second.
 */
#ifndef FCGI_DB_H
#define FCGI_DB_H

#include <stdbool.h>

#include <libpq-fe.h>

#include "error.h"

struct fcgi_db;

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

#endif
