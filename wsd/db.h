/*
 * db.h: wsd's database connections: a small pool for queries (the first
 * connection carries every write, in order, so one connection's publishes
 * and signals reach the database in the order they were sent; reads go to
 * the least busy connection) and one connection that LISTENs for
 * doorbells and signals. Health is "up" when the writer is connected and
 * "listening" when LISTEN is in force.
 */
#ifndef WSD_DB_H
#define WSD_DB_H

#include <stdbool.h>

#include "pgconn.h"

/* Create the connections and start connecting. */
void wsd_db_start(void);
/* Close everything. */
void wsd_db_stop(void);

/* Queue a write (publish, signal, presence, heartbeat) on the writer, or a
 * read (or a write that needs no order with the others, such as audit
 * records) on the least busy connection. Same contract as
 * wsd_pgconn_query: SB_ERR (fn not called) when no connection can take
 * it. */
int wsd_db_write(const char *sql, int nparams, const char *const *params,
                 wsd_query_fn fn, void *arg);
int wsd_db_read(const char *sql, int nparams, const char *const *params,
                wsd_query_fn fn, void *arg);

bool wsd_db_up(void);
bool wsd_db_listening(void);
/* Writes queued or running on the writer. */
size_t wsd_db_write_pending(void);
/* Queries queued or running on any pool connection, and whether none. */
size_t wsd_db_pending(void);
bool wsd_db_idle(void);
/* Reconnections of every connection so far. */
unsigned long wsd_db_reconnects(void);

#endif
