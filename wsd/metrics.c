/*
 * metrics.c: counters, histograms and the Prometheus text format.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "metrics.h"
#include "metricsub.h"
#include "wsd.h"
#include "xalloc.h"

static const double batch_bounds[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000};
static const double delivery_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01,
                                         0.025, 0.05, 0.1, 0.25, 0.5, 1};

struct wsd_stats wsd_stats = {
    .batch_size = {batch_bounds, sizeof(batch_bounds) / sizeof(double)},
    .delivery_seconds = {delivery_bounds,
                         sizeof(delivery_bounds) / sizeof(double)},
};

void
wsd_hist_observe(struct wsd_hist *h, double v)
{
    size_t i = 0;

    while (i < h->nbounds && v > h->bounds[i])
        i++;
    h->counts[i]++;
    h->sum += v;
    h->count++;
}

struct out {
    char *s;
    size_t len, cap;
};

static void __attribute__((format(printf, 2, 3)))
put(struct out *o, const char *fmt, ...)
{
    va_list ap;
    int n;

    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(o->s + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        SB_ASSERT(n >= 0);
        if ((size_t)n < o->cap - o->len)
            break;
        o->cap = (o->cap + (size_t)n) * 2;
        o->s = sb_realloc(o->s, o->cap);
    }
    o->len += (size_t)n;
}

static void
family(struct out *o, const char *name, const char *type, const char *help)
{
    put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
sample(struct out *o, const char *name, const char *type, const char *help,
       double v)
{
    family(o, name, type, help);
    put(o, "%s{node=\"%s\"} %.17g\n", name, wsd_srv.common.node_id, v);
}

static void
hist(struct out *o, const char *name, const char *help,
     const struct wsd_hist *h)
{
    uint64_t cum = 0;
    const char *node = wsd_srv.common.node_id;

    family(o, name, "histogram", help);
    for (size_t i = 0; i < h->nbounds; i++) {
        cum += h->counts[i];
        put(o, "%s_bucket{node=\"%s\",le=\"%g\"} %llu\n", name, node,
            h->bounds[i], (unsigned long long)cum);
    }
    cum += h->counts[h->nbounds];
    put(o, "%s_bucket{node=\"%s\",le=\"+Inf\"} %llu\n", name, node,
        (unsigned long long)cum);
    put(o, "%s_sum{node=\"%s\"} %.9g\n", name, node, h->sum);
    put(o, "%s_count{node=\"%s\"} %llu\n", name, node,
        (unsigned long long)h->count);
}

static void
publishes(struct out *o)
{
    const char *node = wsd_srv.common.node_id;
    const char *n = "switchboard_publishes_total";

    family(o, n, "counter", "durable events acknowledged, by result");
    put(o, "%s{node=\"%s\",result=\"stored\"} %llu\n", n, node,
        (unsigned long long)wsd_stats.publishes_stored);
    put(o, "%s{node=\"%s\",result=\"duplicate\"} %llu\n", n, node,
        (unsigned long long)wsd_stats.publishes_duplicate);
    put(o, "%s{node=\"%s\",result=\"error\"} %llu\n", n, node,
        (unsigned long long)wsd_stats.publishes_error);
}

static void
gauges(struct out *o)
{
    sample(o, "switchboard_up", "gauge", "1 while the process runs", 1);
    sample(o, "switchboard_db_connected", "gauge",
           "1 when the database connection is up", wsd_db_up());
    sample(o, "switchboard_listen_connected", "gauge",
           "1 when the LISTEN connection is up", wsd_db_listening());
    sample(o, "switchboard_connections", "gauge",
           "open WebSocket connections", (double)wsd_srv.nconns);
    sample(o, "switchboard_subscriptions", "gauge",
           "channel subscriptions held", (double)wsd_srv.nsubs);
    sample(o, "switchboard_metrics_subscriptions", "gauge",
           "metrics subscriptions held", (double)wsd_metricsub_count());
}

static void
counters(struct out *o)
{
    const struct wsd_stats *s = &wsd_stats;

    sample(o, "switchboard_messages_in_total", "counter",
           "client messages received", (double)s->messages_in);
    sample(o, "switchboard_messages_out_total", "counter",
           "messages sent to clients", (double)s->messages_out);
    sample(o, "switchboard_frames_out_total", "counter",
           "WebSocket frames written", (double)s->frames_out);
    publishes(o);
    sample(o, "switchboard_signals_total", "counter", "signals sent",
           (double)s->signals);
    sample(o, "switchboard_queue_drops_total", "counter",
           "messages dropped because a connection was closing",
           (double)s->queue_drops);
    sample(o, "switchboard_slow_consumer_closes_total", "counter",
           "connections closed with 4008", (double)s->slow_closes);
    sample(o, "switchboard_rate_limited_total", "counter",
           "requests refused with rate_limited", (double)s->rate_limited);
    sample(o, "switchboard_auth_failures_total", "counter", "tokens refused",
           (double)s->auth_failures);
    sample(o, "switchboard_connection_refusals_total", "counter",
           "upgrades refused because max_connections were open",
           (double)s->conn_refusals);
    sample(o, "switchboard_db_reconnects_total", "counter",
           "database reconnections", (double)wsd_db_reconnects());
    sample(o, "switchboard_db_stalls_total", "counter",
           "database connections reset after db_stall_timeout",
           (double)s->db_stalls);
    sample(o, "switchboard_metrics_queries_total", "counter",
           "metrics snapshots computed by the database",
           (double)s->metrics_queries);
    sample(o, "switchboard_metrics_pushes_total", "counter",
           "changed metrics snapshots pushed to subscribers",
           (double)s->metrics_pushes);
}

char *
wsd_metrics_text(size_t *len)
{
    struct out o = {sb_malloc(4096), 0, 4096};

    o.s[0] = '\0';
    gauges(&o);
    counters(&o);
    hist(&o, "switchboard_commit_batch_size", "events per group commit",
         &wsd_stats.batch_size);
    hist(&o, "switchboard_doorbell_delivery_seconds",
         "from doorbell receipt to the bytes being queued to subscribers",
         &wsd_stats.delivery_seconds);
    *len = o.len;
    return o.s;
}
