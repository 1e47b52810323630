/*
 * db.h: the agent's one PostgreSQL connection, driven without blocking from
 * a poll() loop. The connect is asynchronous, LISTEN switchboard is sent on
 * every (re)connect, and doorbells are handed to a hook.
 *
 * Queries wait in a FIFO and one is on the wire at a time, so what one
 * caller queues runs in the order it queued it. Each query completes by
 * calling its function exactly once. A lost connection is reconnected with
 * exponential backoff and jitter; the query that was on the wire is sent
 * again when it was queued with AGENT_DB_RETRY (every durable write of the
 * agent carries its own id, so a second try stores nothing twice), and
 * completes with an unavailable error otherwise. Queued queries wait for
 * the next connection. A query that takes longer than AGENT_DB_QUERY_MAX_MS
 * counts as a lost connection.
 */
#ifndef AGENT_DB_H
#define AGENT_DB_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "error.h"

/* A query that may be sent again after the connection is lost. */
#define AGENT_DB_RETRY 1u

/* How long one query may take before the connection is given up. */
#define AGENT_DB_QUERY_MAX_MS 30000
/* How long a connect may take (libpq's connect_timeout is not applied to
 * asynchronous connects). */
#define AGENT_DB_CONNECT_MAX_MS 10000
/* Reconnect backoff: doubling from the first to the last, full jitter on
 * half of it. */
#define AGENT_DB_RETRY_MIN_MS 250
#define AGENT_DB_RETRY_MAX_MS 10000

struct agent_db;

/* A query finished: res (owned by the connection, valid during the call)
 * on success, or res NULL and err set. */
typedef void (*agent_db_fn)(PGresult *res, const struct sb_error *err,
                            void *arg);

struct agent_db_hooks {
    /* Connected and listening (after every reconnect too). */
    void (*up)(void *arg);
    /* A doorbell: the payload of NOTIFY switchboard. */
    void (*doorbell)(const char *payload, void *arg);
    void *arg;
};

/* A connection to conninfo (copied), not yet started. Never NULL. */
struct agent_db *agent_db_new(const char *conninfo,
                              const struct agent_db_hooks *hooks);
/* Close; queued queries complete with unavailable. NULL does nothing. */
void agent_db_free(struct agent_db *db);

/* Queue sql with nparams text parameters (copied; a NULL entry is SQL
 * NULL). fn (may be NULL) is called once, never from inside this call. */
void agent_db_query(struct agent_db *db, const char *sql, int nparams,
                    const char *const *params, unsigned flags, agent_db_fn fn,
                    void *arg);
/* Queries queued or on the wire. */
unsigned agent_db_pending(const struct agent_db *db);
/* True while connected and listening. */
bool agent_db_up(const struct agent_db *db);

/* For poll(): the socket and the events to wait for (fd -1 when there is
 * no connection), and the ms until agent_db_tick wants to run (-1: no
 * deadline). */
void agent_db_pollfd(const struct agent_db *db, int *fd, short *events);
int64_t agent_db_timeout(const struct agent_db *db, int64_t now_ms);
/* After poll(): revents of the socket (0 when it was not polled), then the
 * timers (connect, reconnect, query deadlines). */
void agent_db_ready(struct agent_db *db, short revents, int64_t now_ms);

#endif
