/*
 * app.h: the state of one switchboard-fcgi process, shared by its worker
 * threads and its waiter thread. The configuration is read once at start
 * (and on SIGHUP for the values take_over() copies); counters are atomics
 * so any thread may bump them; everything else has one owner, named below.
 */
#ifndef FCGI_APP_H
#define FCGI_APP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clock.h"
#include "config.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

/* switchboard-fcgi's own options (options.c declares them). */
struct fcgi_config {
    char *listen;
    long long threads;
    long long max_parked;
    long long release_threads;
    long long poll_timeout_ms;
    long long poll_timeout_max_ms;
    long long max_body_bytes;
    long long sse_heartbeat_ms;
    long long sse_retry_ms;
    long long max_subscriptions;
    long long publish_rate;
    long long publish_burst;
    long long commit_window_ms;
    char *allowed_origins; /* comma- or space-separated origins, or unset */
};

/* How the process talks to its web server. */
enum fcgi_mode {
    FCGI_MODE_SERVER,    /* FastCGI on the socket named by --listen */
    FCGI_MODE_INHERITED, /* FastCGI on a listening socket given as fd 0 */
    FCGI_MODE_CGI,       /* one CGI request on stdin/stdout, then exit */
};

/* Counters for GET /metrics; any thread updates them. */
struct fcgi_counters {
    atomic_llong parked;        /* waiting long-polls and SSE streams */
    atomic_llong parked_subs;   /* channels those wait on */
    atomic_llong poll_known;    /* long-polls parked without a read */
    atomic_llong publish_stored;
    atomic_llong publish_duplicate;
    atomic_llong publish_error;
    atomic_llong signals;
    atomic_llong rate_limited;
    atomic_llong auth_failures;
    atomic_llong db_reconnects;
    atomic_llong http_2xx, http_4xx, http_5xx;
    atomic_llong by_status[600];
    atomic_int db_up;     /* the last worker query reached the database */
    atomic_int listen_up; /* the waiter's LISTEN connection is live */
};

struct fcgi_app {
    struct sb_config *cfg;
    struct sb_common_config common;
    struct fcgi_config conf;
    char **anon_patterns; /* parsed anonymous_read; NULL-terminated */
    char **origins;       /* parsed allowed_origins; NULL-terminated */
    enum fcgi_mode mode;
    int listen_fd;
    char host[256];
    atomic_bool stopping;
    struct fcgi_counters n;
};

extern struct fcgi_app fcgi_app;

/* Milliseconds of the wall clock since the epoch. */
int64_t fcgi_now_ms(void);
/* Milliseconds of the monotonic clock (sb_mono_ms; unit tests stub it). */
int64_t fcgi_mono_ms(void);

#endif
