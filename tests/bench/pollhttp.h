/*
 * pollhttp.h: the HTTP/1.1 client side of pollload: non-blocking keep-alive
 * connections to one loopback server driven by one epoll loop, and a
 * response parser (Content-Length or chunked bodies) that also serves a
 * blocking caller. Limits: a response head of at most POLLHTTP_HEAD_MAX
 * bytes, a body of at most POLLHTTP_BODY_MAX bytes; more ends the run.
 */
#ifndef SB_BENCH_POLLHTTP_H
#define SB_BENCH_POLLHTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "clock.h"

/* Larger heads or bodies are a server fault here, not something to bench. */
#define POLLHTTP_HEAD_MAX 16384
#define POLLHTTP_BODY_MAX (8 * 1024 * 1024)
/* Long enough for an Etag or an HTTP date. */
#define POLLHTTP_TAG_MAX 96

/* Drop the first n bytes of b (fcgi/buf.c's buffer, shared here). */
void pbuf_consume(struct fcgi_buf *b, size_t n);

/* One parsed response. */
struct presp {
    int status;
    bool close;                           /* Connection: close */
    char last_modified[POLLHTTP_TAG_MAX]; /* "" when absent */
    char etag[POLLHTTP_TAG_MAX];
    struct fcgi_buf body;
};

/* Parse one response at the start of buf. Returns the bytes it takes when
 * complete (r filled in; r->body is replaced), 0 when more is needed, -1
 * on a malformed or oversized response. */
long presp_parse(struct presp *r, const char *buf, size_t len);

struct pconn;

/* What a connection does: build its next request into out (return false
 * to stay idle), and take a complete response. */
struct pconn_ops {
    bool (*request)(struct pconn *c, struct fcgi_buf *out);
    void (*response)(struct pconn *c, const struct presp *r);
};

struct pconn {
    int fd;
    const struct pconn_ops *ops;
    void *arg; /* the scenario's per-connection state */
    int index; /* the scenario's number for it */
    bool busy; /* a request is out, its response not yet in */
    bool writing;
    struct fcgi_buf out, in;
    size_t out_off;
    struct presp resp;
    int64_t sent_us; /* when the request's last byte was written */
    long reconnects;
};

/* The loop: the server's address, and every connection on it. */
struct ploop {
    int ep;
    char host[64];
    int port;
    long connects; /* completed connects */
};

/* Print "pollload: what: detail" and exit 1. */
void poll_die(const char *what, const char *detail) __attribute__((noreturn));

void ploop_init(struct ploop *l, const char *url);
/* A connection in the loop; it sends its first request at once. */
void pconn_open(struct ploop *l, struct pconn *c);
/* Ask c for its next request now (after it was idle). */
void pconn_kick(struct ploop *l, struct pconn *c);
void pconn_close(struct ploop *l, struct pconn *c);
/* Run the loop for at most ms milliseconds (one epoll_wait and what it
 * reported). */
void ploop_turn(struct ploop *l, int ms);

/* A blocking connection to the loop's server (the publisher's). */
int phttp_connect(const char *host, int port);
/* Write all of buf, then read n responses; each goes to check (may be
 * NULL). Dies on any I/O or parse error. */
void phttp_exchange(int fd, const struct fcgi_buf *req, int n,
                    void (*check)(const struct presp *r, void *arg), void *arg);

/* The number after key in text ("key 12", "key: 12", "key{...} 12"), or
 * -1 when key is absent. */
long long poll_number_after(const char *text, const char *key);

#endif
