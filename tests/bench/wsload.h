/*
 * wsload.h: what the parts of wsload share: the targets (wsd and
 * nginx+Nchan), the commands the coordinating process sends to its load
 * processes and the reports they send back (latencies in a latency.h
 * histogram).
 *
 * wsload is one coordinating process (wsload.c: options, scenarios, server
 * CPU and memory from /proc, tables) and several load processes
 * (wsload_worker.c: an epoll loop over non-blocking sockets speaking a
 * minimal RFC 6455 client, wsd's protocol and Nchan's HTTP publisher).
 * Each load process may hold at most WL_CONNS_MAX sockets, so that it stays
 * under a per-process limit of 20,000 descriptors.
 */
#ifndef WSLOAD_H
#define WSLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clock.h"
#include "latency.h"

/* Sockets per load process: under 20,000 descriptors with room for the
 * epoll descriptor, the control socket and stdio. */
#define WL_CONNS_MAX 19900
#define WL_PROCS_MAX 16
/* Server processes on ports of their own, when they cannot share one. */
#define WL_PORTS_MAX 16

enum wl_target { WL_WSD, WL_NCHAN, WL_NTARGETS };

/* Where a target listens and how its clients authenticate. */
struct wl_target_conf {
    const char *name;        /* "wsd", "nchan" */
    char host[64];           /* an IPv4 address */
    int port;                /* the first of ports; 0: not benchmarked */
    int ports[WL_PORTS_MAX]; /* connections go round-robin over these */
    int nports;
    const char *sub_auth; /* wsd: token; nchan: query string */
    const char *pub_auth; /* wsd: token with publish; nchan: unused */
};

extern struct wl_target_conf wl_targets[WL_NTARGETS];

/* --- coordinator to load process --- */

enum wl_op {
    WL_OP_OPEN,    /* open subscribers; reply when all are subscribed */
    WL_OP_CLOSE,   /* close every connection (RST); reply at once */
    WL_OP_RESET,   /* zero the delivery counters and histogram */
    WL_OP_WAIT,    /* reply once `expect` deliveries arrived, or timeout */
    WL_OP_PUBLISH, /* open publishers, publish, reply after the last ack */
    WL_OP_QUIT,
};

struct wl_cmd {
    enum wl_op op;
    enum wl_target target;
    int64_t count;     /* OPEN: connections; PUBLISH: publishes (0: by time) */
    int64_t expect;    /* WAIT: deliveries this process should receive */
    int channels;      /* OPEN: spread over this many channels */
    int first_channel; /* OPEN: index of this process's first channel */
    int conns;         /* PUBLISH: publishing connections */
    int window;        /* PUBLISH: publishes in flight per connection */
    int pending_max;   /* OPEN: handshakes in flight */
    bool own_channel;  /* PUBLISH: each connection to a channel of its own */
    bool by_message;   /* OPEN, wsd: subscribe op after auth.ok instead of
                          the upgrade's subscribe parameter */
    double rate;       /* PUBLISH: publishes per second in all, 0: unpaced */
    double seconds;    /* PUBLISH: duration when count is 0; WAIT: timeout */
    double deadline;   /* PUBLISH: seconds from the first publish until the
                          last answer is due; what is unanswered then fails */
    char prefix[64];   /* channel names: <prefix>-<index> */
};

/* --- load process to coordinator --- */

struct wl_report {
    enum wl_op op;
    int64_t ok;       /* connections subscribed, or publishes acknowledged */
    int64_t failed;   /* connections or publishes that failed */
    int64_t dup;      /* acknowledgements marked duplicate */
    int64_t received; /* deliveries since the last RESET */
    int64_t lost;     /* subscribers closed by the server meanwhile */
    int64_t t_begin;  /* CLOCK_MONOTONIC µs: first connect or publish */
    int64_t t_end;    /* last subscribed, last ack, or last delivery */
    int64_t t_first;  /* first delivery since RESET */
    char error[200];  /* the first error seen, if any */
    struct lat_hist hist; /* publish-to-receive latency since RESET */
};

/* The load process's main loop over control socket ctl; never returns. */
void wl_worker_run(int ctl, int index) __attribute__((noreturn));

/* Write or read exactly len bytes; -1 on error or end of file. */
int wl_write_all(int fd, const void *p, size_t len);
int wl_read_all(int fd, void *p, size_t len);

#endif
