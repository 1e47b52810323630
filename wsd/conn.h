/*
 * conn.h: one WebSocket connection: its authentication, subscriptions,
 * send queue, publish rate bucket and timers. Connections are reference
 * counted because database queries finish after the socket may have gone:
 * a query holds a reference, and code that finishes for a closed
 * connection (wsi NULL) just drops what it has.
 *
 * Everything queues (wsd_conn_send); flush.c writes the queue when the
 * loop turn ends, and the writable callback what the socket did not take.
 */
#ifndef WSD_CONN_H
#define WSD_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <libwebsockets.h>

#include "buf.h"
#include "deadline.h"
#include "sendq.h"
#include "token.h"

enum wsd_auth {
    WSD_AUTH_WAITING, /* no token yet: only auth and ping */
    WSD_AUTH_ANON,    /* anonymous reader (anonymous_read) */
    WSD_AUTH_OK,      /* a valid token */
    WSD_AUTH_GRACE,   /* token expired: refresh before the grace ends */
};

struct wsd_sub;

struct wsd_conn {
    struct wsd_conn *prev, *next; /* wsd_srv.conns */
    struct lws *wsi;              /* NULL once the socket closed */
    unsigned refs;
    uint64_t id;
    char idtext[24];
    char remote[64];

    enum wsd_auth auth;
    struct sb_token *token; /* WSD_AUTH_OK and WSD_AUTH_GRACE */
    struct wsd_deadline auth_due; /* auth timeout, expiry, grace end */
    struct wsd_deadline ping_due; /* next ping or idle check */
    int64_t rx_ms;                /* when the client was last heard */
    bool ping_wanted;             /* a ping frame is to be written */

    struct wsd_sub *subs; /* this connection's subscriptions */
    int nsubs;

    struct wsd_sendq q;
    int close_code; /* non-zero: close once the queue is written */
    char close_reason[64];

    char *rx; /* message being assembled from fragments */
    size_t rx_len, rx_cap;

    double bucket;    /* publish tokens left */
    int64_t bucket_us; /* when the bucket was last filled */
    long long refusals; /* rate_limited answers in a row */

    struct wsd_metrics_sub *msub; /* metrics subscription, or NULL */
    char *open_subs; /* the upgrade's subscribe list, until authenticated */
    struct wsd_conn *flush_next;  /* flush.c's list of queues to write */
    bool flush_wanted;            /* on that list */
    bool corked;                  /* the 101 waits for the hello */
    bool broken;                  /* a write failed: close */
};

/* A new connection for an established WebSocket (one reference held by
 * the socket), linked into wsd_srv.conns. */
struct wsd_conn *wsd_conn_new(struct lws *wsi);
struct wsd_conn *wsd_conn_ref(struct wsd_conn *c);
void wsd_conn_unref(struct wsd_conn *c);
/* True while the socket is open and not closing. */
bool wsd_conn_alive(const struct wsd_conn *c);

/* Queue buf (a reference is taken). A live push that would take the queue
 * over send_queue_max closes the connection with 4008 instead; replay
 * pushes are paced by their sender and not counted. Messages for a closed
 * or closing connection are dropped. */
void wsd_conn_send(struct wsd_conn *c, struct wsd_buf *buf, bool replay);
/* Encode msg compactly and queue it; msg is released. */
void wsd_conn_send_json(struct wsd_conn *c, json_t *msg);
/* Queue the message text[0..len). */
void wsd_conn_send_text(struct wsd_conn *c, const char *text, size_t len);
/* Close with code and reason: after what is queued has been written when
 * flush is true, at once (dropping the queue) otherwise. */
void wsd_conn_close(struct wsd_conn *c, int code, const char *reason,
                    bool flush);

/* Socket events, called from the server's dispatch. */
int wsd_conn_handle_receive(struct wsd_conn *c, const void *in, size_t len);
void wsd_conn_handle_pong(struct wsd_conn *c);
int wsd_conn_handle_writable(struct wsd_conn *c);
void wsd_conn_handle_closed(struct wsd_conn *c);

/* Close every connection with 1001, at most max of them now; returns how
 * many remain open. */
size_t wsd_conn_close_some(size_t max);

#endif
