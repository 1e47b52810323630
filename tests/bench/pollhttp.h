/*
 * pollhttp.h: the HTTP/1.1 client side of pollload: non-blocking keep-alive
 * connections to one loopback server driven by one epoll loop, and a
 * response parser (Content-Length or chunked bodies) that also serves a
 * blocking caller. Limits: a response head of at most POLLHTTP_HEAD_MAX
 * bytes, a body of at most POLLHTTP_BODY_MAX bytes; more ends the run.
 * Every wait on the server is bounded by the loop's timeout: a connect or a
 * send that makes no progress for that long, or an answer that takes that
 * long beyond what the request may be held (a long-poll's own timeout),
 * fails the connection (loop) or ends the run (blocking caller).
 */
#ifndef SB_BENCH_POLLHTTP_H
#define SB_BENCH_POLLHTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"
#include "clock.h"

/* Larger heads or bodies are a server fault here, not something to bench. */
#define POLLHTTP_HEAD_MAX 16384
#define POLLHTTP_BODY_MAX (8 * 1024 * 1024)
/* Long enough for an Etag or an HTTP date. */
#define POLLHTTP_TAG_MAX 96
/* The default timeout (seconds, pollload -t): far above any answer of a
 * server that works on loopback, short enough not to stall a run. */
#define POLLHTTP_TIMEOUT_S     10
#define POLLHTTP_TIMEOUT_MAX_S 3600
/* A connection the server closes this many times in a row without an
 * answer fails instead of reconnecting again. */
#define POLLHTTP_CLOSES_MAX 3

/* Drop the first n bytes of b (fcgi/buf.c's buffer, shared here). */
void pbuf_consume(struct sb_strbuf *b, size_t n);

/* One parsed response. */
struct presp {
    int status;
    bool close;                           /* Connection: close */
    char last_modified[POLLHTTP_TAG_MAX]; /* "" when absent */
    char etag[POLLHTTP_TAG_MAX];
    struct sb_strbuf body;
};

/* Parse one response at the start of buf. Returns the bytes it takes when
 * complete (r filled in; r->body is replaced), 0 when more is needed, -1
 * on a malformed or oversized response. */
long presp_parse(struct presp *r, const char *buf, size_t len);

struct pconn;

/* What a connection does: build its next request into out (return false
 * to stay idle), take a complete response, and learn that it failed (the
 * server did not answer in time, or kept closing it; it is closed then and
 * stays so). */
struct pconn_ops {
    bool (*request)(struct pconn *c, struct sb_strbuf *out);
    void (*response)(struct pconn *c, const struct presp *r);
    void (*failed)(struct pconn *c);
};

struct pconn {
    int fd;
    const struct pconn_ops *ops;
    void *arg; /* the scenario's per-connection state */
    int index; /* the scenario's number for it */
    bool busy; /* a request is out, its response not yet in */
    bool writing;
    struct sb_strbuf out, in;
    size_t out_off;
    struct presp resp;
    int64_t sent_us; /* when the request's last byte was written */
    int64_t due_us;  /* 0, or when the awaited send or answer is late */
    long reconnects;
    int hold_s; /* how long the server may hold a request before it answers
                   (a long-poll's timeout); the loop's timeout comes on top */
    int closes; /* closed by the server since the last answer */
    int slot;   /* index in the loop's open connections */
};

/* The loop: the server's address, and every connection on it. */
struct ploop {
    int ep;
    char host[64];
    int port;
    int timeout_s; /* the bound of every wait on the server */
    long connects; /* completed connects */
    long failures; /* connections failed by the loop (first few reported) */
    int64_t swept_us;
    struct pconn **open; /* the connections with a socket */
    int nopen, open_cap;
};

/* Print "pollload: what: detail" and exit 1. */
void poll_die(const char *what, const char *detail) __attribute__((noreturn));

/* The loop on url (http://HOST:PORT, HOST an IPv4 address); each wait on
 * the server at most timeout_s seconds. Exits 2 on a bad url. */
void ploop_init(struct ploop *l, const char *url, int timeout_s);
/* A connection in the loop; it sends its first request at once. */
void pconn_open(struct ploop *l, struct pconn *c);
/* Ask c for its next request now (after it was idle). */
void pconn_kick(struct ploop *l, struct pconn *c);
void pconn_close(struct ploop *l, struct pconn *c);
/* Run the loop for at most ms milliseconds (one epoll_wait and what it
 * reported), and fail the connections whose wait is over. */
void ploop_turn(struct ploop *l, int ms);

/* A connection to the loop's server for phttp_exchange() (the publisher's
 * and the status probe's). Dies when the connect fails or takes longer than
 * the loop's timeout. */
int phttp_connect(const struct ploop *l);
/* Write all of req, then read n responses; each goes to check (may be
 * NULL). Dies on any I/O or parse error, and when a send or a receive
 * waits longer than the loop's timeout. */
void phttp_exchange(const struct ploop *l, int fd, const struct sb_strbuf *req,
                    int n, void (*check)(const struct presp *r, void *arg),
                    void *arg);

/* The number after key in text ("key 12", "key: 12", "key{...} 12"), or
 * -1 when key is absent. */
long long poll_number_after(const char *text, const char *key);

#endif
