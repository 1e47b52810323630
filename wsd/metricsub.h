/*
 * metricsub.h: metrics subscriptions (PROTOCOL.md 4.12).
 */
#ifndef WSD_METRICSUB_H
#define WSD_METRICSUB_H

#include "conn.h"

struct wsd_req;

void wsd_metricsub_handle_subscribe(const struct wsd_req *r);
void wsd_metricsub_handle_refresh(const struct wsd_req *r);
void wsd_metricsub_handle_interval(const struct wsd_req *r);
void wsd_metricsub_handle_unsubscribe(const struct wsd_req *r);
/* The connection closed: end its metrics subscription. */
void wsd_metricsub_conn_closed(struct wsd_conn *c);

#endif
