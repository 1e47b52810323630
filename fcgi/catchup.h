/*
 * catchup.h: one read of several channels after their positions, as a
 * long-poll, an SSE stream and the waiter need it: each channel's
 * last_seq and oldest_seq (channel_info) and its events after the
 * position (events_after), in one statement. Positions that cannot be
 * continued (PROTOCOL.md section 2.7: before oldest_seq - 1, "pruned", or
 * beyond last_seq, "rewound") read nothing and are reported for a reload.
 */
#ifndef FCGI_CATCHUP_H
#define FCGI_CATCHUP_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "error.h"
#include "parked.h"

struct fcgi_db;

/* One channel as read. */
struct fcgi_catchup_chan {
    int64_t last_seq;
    int64_t oldest_seq;
    const char *reload; /* "pruned", "rewound" or NULL */
    size_t first, count; /* its rows: rows[first .. first + count) */
};

/* One event: its seq and JSON text (owned by the result). */
struct fcgi_catchup_row {
    size_t chan;
    int64_t seq;
    const char *event;
    size_t len;
};

struct fcgi_catchup {
    PGresult *res; /* owned; holds the row texts */
    struct fcgi_catchup_chan *chans; /* one per position */
    size_t nchans;
    struct fcgi_catchup_row *rows; /* ascending seq per channel */
    size_t nrows;
};

/* Read up to max (1..1000) events per channel after pos[0..n) with the
 * worker's connection (conn NULL) or with conn (the waiter's). Returns a
 * new result the caller frees with fcgi_catchup_free, or NULL with err set
 * (unknown_namespace, unavailable, internal). */
struct fcgi_catchup *fcgi_catchup_read(struct fcgi_db *db, PGconn *conn,
                                       const struct fcgi_pos *pos, size_t n,
                                       int max, struct sb_error *err);
/* NULL does nothing. */
void fcgi_catchup_free(struct fcgi_catchup *c);

#endif
