/*
 * wsd.h: the state of one wsd process. wsd is one thread around one
 * libwebsockets loop; everything here is touched only from that thread
 * (the signal handling reaches it through a signalfd the loop watches).
 * wsd_srv is the one instance; modules keep their own state in it.
 */
#ifndef WSD_H
#define WSD_H

#include <stdbool.h>
#include <stdint.h>

#include <libwebsockets.h>

#include "clock.h"
#include "config.h"

/* The options of wsd besides the common ones (options.c declares them). */
struct wsd_config {
    char *listen_address;
    long long listen_port;
    long long max_connections;
    long long max_message_bytes;
    long long max_subscriptions;
    long long send_queue_max;
    long long publish_rate;
    long long publish_burst;
    long long auth_timeout_ms;
    long long token_grace_ms;
    long long ws_ping_interval_ms;
    long long ws_idle_timeout_ms;
    long long commit_window_ms;
    long long db_pool_size;
    long long db_stall_timeout_ms;
    long long shutdown_timeout_ms;
    char *allowed_origins; /* comma- or space-separated origins, or unset */
};

struct wsd_db;
struct wsd_channels;
struct wsd_metrics;

enum wsd_phase {
    WSD_RUNNING,
    WSD_DRAINING, /* SIGTERM: flushing publishes, closing clients */
    WSD_STOPPED,  /* leave the loop */
};

struct wsd_server {
    struct sb_config *cfg;
    struct sb_common_config common;
    struct wsd_config conf;
    char **anon_patterns; /* parsed anonymous_read; NULL-terminated */
    char **origins;       /* parsed allowed_origins; NULL-terminated */
    unsigned char *secret; /* the token secret in force (owned copy) */
    size_t secret_len;
    int argc;
    char **argv;

    struct lws_context *context;
    struct lws_vhost *vhost;
    enum wsd_phase phase;
    int exit_status;

    struct wsd_db *db;
    struct wsd_channels *channels;
    struct wsd_conn *conns; /* every open WebSocket connection */
    uint64_t next_conn_id;
    long long nconns;
    long long nsubs;
    char host[256];
};

extern struct wsd_server wsd_srv;

/* Milliseconds since the epoch (wall clock). */
int64_t wsd_now_ms(void);
/* Microseconds of the monotonic clock (sb_mono_us; one seam for wsd). */
int64_t wsd_mono_us(void);

#endif
