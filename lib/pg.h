/*
 * pg.h: libpq helpers shared by the daemons, tools and tests: blocking and
 * asynchronous connects (application_name set, PostgreSQL 15 or later
 * required), PGresult errors mapped to switchboard error codes, the
 * LISTEN notification drain, and conninfo checking and redaction.
 *
 * Error mapping: SQLSTATE SB0xx (raised by the switchboard functions) maps
 * to its code with the server's primary message as the client message;
 * connection-class states (08xxx, 57P0x, 53xxx) and a lost connection map
 * to SB_E_UNAVAILABLE; anything else to SB_E_INTERNAL. See error.h.
 */
#ifndef SB_PG_H
#define SB_PG_H

#include <stddef.h>

#include <libpq-fe.h>

#include "error.h"

/* PostgreSQL 15: the first release with the features the schema uses. */
#define SB_PG_SERVER_VERSION_MIN 150000

/* Seconds a connect may take unless the conninfo says otherwise. */
#define SB_PG_CONNECT_TIMEOUT "10"

/* What an asynchronous connect waits for on PQsocket(). */
enum sb_pg_wait {
    SB_PG_WAIT_READ = 1,
    SB_PG_WAIT_WRITE = 2,
};

/*
 * Connect and wait (for tools, tests and fcgi). conninfo is a URI or
 * key=value string; NULL or "" uses libpq defaults and the PG* environment.
 * application_name (may be NULL) overrides the conninfo's. Then checks the
 * server version (SB_PG_SERVER_VERSION_MIN) and that the switchboard schema
 * exists. Returns a connection the caller closes with PQfinish, or NULL
 * with err set: SB_E_INVALID_PARAMETER for a conninfo that does not parse,
 * SB_E_UNAVAILABLE when the server cannot be reached, SB_E_INTERNAL for an
 * old server or a database without the schema.
 */
PGconn *sb_pg_connect(const char *conninfo, const char *application_name,
                      struct sb_error *err);

/* SB_OK when the connected server is recent enough, else SB_ERR with
 * err set to SB_E_INTERNAL naming both versions. */
int sb_pg_check_version(const PGconn *conn, struct sb_error *err);
/* Version check, then a (blocking) query for the switchboard schema.
 * SB_OK, or SB_ERR with err set ("database has no switchboard schema: run
 * switchboard-migrate"). */
int sb_pg_check_server(PGconn *conn, struct sb_error *err);

/*
 * Start a non-blocking connect (for wsd). Returns the connection, owned by
 * the caller (PQfinish), with *wait set to SB_PG_WAIT_WRITE: wait for that
 * on PQsocket(), then call sb_pg_connect_step. Returns NULL with err set
 * when the conninfo does not parse or libpq fails at once.
 */
PGconn *sb_pg_connect_start(const char *conninfo, const char *application_name,
                            int *wait, struct sb_error *err);
/*
 * Advance a connect started by sb_pg_connect_start once its socket is
 * ready. Returns SB_AGAIN with *wait saying what to wait for next (the
 * socket may change between steps: look at PQsocket() again), SB_OK when
 * connected to a recent enough server, or SB_ERR with err set
 * (SB_E_UNAVAILABLE, or SB_E_INTERNAL for an old server). The connection
 * stays the caller's in every case.
 */
int sb_pg_connect_step(PGconn *conn, int *wait, struct sb_error *err);

/*
 * SB_OK when res is a successful result (command, tuples, single tuple,
 * copy), else SB_ERR with err set from its SQLSTATE and primary message.
 * res NULL means the query could not be sent: SB_E_UNAVAILABLE when conn
 * is NULL or its status is CONNECTION_BAD, SB_E_INTERNAL otherwise. Neither
 * argument is released.
 */
int sb_pg_result_error(const PGresult *res, const PGconn *conn,
                       struct sb_error *err);
/* The mapping behind sb_pg_result_error: fill err from a SQLSTATE (may be
 * NULL) and primary message (may be NULL). SB0xx states keep the message as
 * it is; others get the code's default message with the primary message as
 * detail ("internal error: relation \"x\" does not exist"). Returns
 * SB_ERR. */
int sb_pg_error_from_fields(const char *sqlstate, const char *primary,
                            struct sb_error *err);

/* Called for each notification: the channel LISTENed to and the payload
 * (both owned by the caller of the callback, valid during the call). */
typedef void (*sb_pg_notify_fn)(const char *relname, const char *payload,
                                void *arg);
/*
 * Read what the socket holds (PQconsumeInput) and hand every pending
 * notification to fn. Returns the number handled (0 or more), or SB_ERR
 * with err set to SB_E_UNAVAILABLE when the connection is lost.
 */
int sb_pg_drain_notifies(PGconn *conn, sb_pg_notify_fn fn, void *arg,
                         struct sb_error *err);

/* SB_OK when conninfo (NULL counts as "") parses as a URI or key=value
 * string, else SB_ERR with libpq's reason in why[0..size). */
int sb_pg_conninfo_check(const char *conninfo, char *why, size_t size);
/* conninfo rewritten as key='value' pairs with the password shown as ***,
 * as a new string the caller frees ("(invalid)" when it does not parse). */
char *sb_pg_conninfo_redact(const char *conninfo);
/* value quoted for a key=value conninfo: 'it\'s', as a new string. */
char *sb_pg_conninfo_quote(const char *value);

#endif
