/*
 * pgconn.h: one PostgreSQL connection driven asynchronously by the lws
 * loop. A duplicate of libpq's socket is adopted as a raw file descriptor
 * (lws closes the duplicate, libpq keeps its own), and the raw protocol's
 * RX and WRITEABLE callbacks drive the connect (PQconnectPoll), the writes
 * (PQflush) and the reads (PQconsumeInput, PQgetResult, PQnotifies).
 *
 * Queries wait in a FIFO; one is on the wire at a time, and each completes
 * by calling its function once, with the first (or the failing) result, or
 * with an error when the connection is lost. A lost connection is
 * reconnected with exponential backoff and jitter.
 */
#ifndef WSD_PGCONN_H
#define WSD_PGCONN_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>
#include <libwebsockets.h>

#include "error.h"

/* The raw protocol's name in the server's protocol table. */
#define WSD_PG_PROTOCOL "sb-pg"

struct wsd_pgconn;

/* A query finished: res (owned by the connection, valid during the call)
 * on success, or res NULL and err set (unavailable when the connection was
 * lost, else the mapped SQLSTATE). */
typedef void (*wsd_query_fn)(PGresult *res, const struct sb_error *err,
                             void *arg);

/* What the owner hears about a connection. Any may be NULL. */
struct wsd_pghooks {
    void (*up)(struct wsd_pgconn *pc, void *arg);   /* connected */
    void (*down)(struct wsd_pgconn *pc, void *arg); /* lost; retrying */
    void (*notify)(const char *relname, const char *payload, void *arg);
    void *arg;
};

/* A connection named name (for logs), not yet started. conninfo is
 * borrowed and must outlive it. Never NULL. */
struct wsd_pgconn *wsd_pgconn_new(struct lws_vhost *vh, const char *name,
                                  const char *conninfo,
                                  const struct wsd_pghooks *hooks);
/* Close and release; queued queries complete with unavailable. NULL does
 * nothing. */
void wsd_pgconn_free(struct wsd_pgconn *pc);
/* Start connecting (and keep reconnecting after losses). */
void wsd_pgconn_start(struct wsd_pgconn *pc);

/* Queue sql with nparams text parameters (copied; NULL entries are SQL
 * NULL). nparams 0 sends sql as a simple query, which may hold several
 * statements. Returns SB_OK (fn will be called exactly once), or SB_ERR
 * when the connection is not up (fn is never called). */
int wsd_pgconn_query(struct wsd_pgconn *pc, const char *sql, int nparams,
                     const char *const *params, wsd_query_fn fn, void *arg);

/* True when connected and accepting queries. */
bool wsd_pgconn_ready(const struct wsd_pgconn *pc);
/* Queries queued or running. */
size_t wsd_pgconn_pending(const struct wsd_pgconn *pc);
/* Reconnections after a loss so far. */
unsigned long wsd_pgconn_reconnects(const struct wsd_pgconn *pc);

/* The raw protocol callback (RX, WRITEABLE, CLOSE of adopted sockets). */
int wsd_pgconn_callback(struct lws *wsi, enum lws_callback_reasons reason,
                        void *user, void *in, size_t len);

#endif
