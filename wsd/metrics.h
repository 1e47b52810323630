/*
 * metrics.h: this process's counters and histograms, and their Prometheus
 * text (GET /metrics). Every family carries the label node="<node id>".
 */
#ifndef WSD_METRICS_H
#define WSD_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* A histogram with fixed upper bounds (the +Inf bucket is implicit). */
struct wsd_hist {
    const double *bounds;
    size_t nbounds;
    uint64_t counts[16]; /* per bound, not cumulative; [nbounds] is +Inf */
    double sum;
    uint64_t count;
};

struct wsd_stats {
    uint64_t messages_in;
    uint64_t messages_out;
    uint64_t frames_out;
    uint64_t publishes_stored;
    uint64_t publishes_duplicate;
    uint64_t publishes_error;
    uint64_t signals;
    uint64_t queue_drops;
    uint64_t slow_closes;
    uint64_t rate_limited;
    uint64_t auth_failures;
    uint64_t conn_refusals; /* upgrades refused at max_connections */
    uint64_t metrics_queries; /* snapshot queries (one per window per tick) */
    uint64_t metrics_pushes;  /* changed snapshots pushed */
    uint64_t db_stalls;       /* connections reset by the watchdog */
    struct wsd_hist batch_size;       /* events per group commit */
    struct wsd_hist delivery_seconds; /* doorbell receipt to queued */
};

extern struct wsd_stats wsd_stats;

void wsd_hist_observe(struct wsd_hist *h, double v);
/* The Prometheus text of every family, as a new string the caller frees;
 * its length in *len. */
char *wsd_metrics_text(size_t *len);

#endif
