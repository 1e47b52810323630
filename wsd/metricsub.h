/*
 * metricsub.h: metrics subscriptions (PROTOCOL.md 4.12): the
 * metrics.subscribe, metrics.refresh, metrics.interval and
 * metrics.unsubscribe ops, and the pushes of changed snapshots. At most
 * one subscription per connection; snapshots are shared per window.
 */
#ifndef WSD_METRICSUB_H
#define WSD_METRICSUB_H

#include <stddef.h>

#include "conn.h"

struct wsd_req;

void wsd_metricsub_handle_subscribe(const struct wsd_req *r);
void wsd_metricsub_handle_refresh(const struct wsd_req *r);
void wsd_metricsub_handle_interval(const struct wsd_req *r);
void wsd_metricsub_handle_unsubscribe(const struct wsd_req *r);
/* The connection closed: end its metrics subscription. */
void wsd_metricsub_conn_closed(struct wsd_conn *c);
/* The connection's token changed: end its subscription (telling it, with
 * metrics.unsubscribed and reason "forbidden") when it may no longer read
 * metrics. */
void wsd_metricsub_recheck(struct wsd_conn *c);
/* Metrics subscriptions held. */
size_t wsd_metricsub_count(void);
/* Stop the timer and drop the shared snapshots; call after the database
 * connections were closed (every query answered). */
void wsd_metricsub_stop(void);

#endif
