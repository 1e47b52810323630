/*
 * metricsub.c: metrics subscriptions (PROTOCOL.md 4.12). Not served by this
 * version: the ops are answered with an error, except unsubscribe, which
 * always succeeds.
 */
#include "metricsub.h"
#include "proto.h"

static void
not_served(const struct wsd_req *r)
{
    wsd_reply_error(r->c, r->ref, SB_E_INTERNAL,
                    "internal error: metrics subscriptions are not served by "
                    "this version of wsd",
                    NULL, -1);
}

void
wsd_metricsub_handle_subscribe(const struct wsd_req *r)
{
    not_served(r);
}

void
wsd_metricsub_handle_refresh(const struct wsd_req *r)
{
    not_served(r);
}

void
wsd_metricsub_handle_interval(const struct wsd_req *r)
{
    not_served(r);
}

void
wsd_metricsub_handle_unsubscribe(const struct wsd_req *r)
{
    wsd_conn_send_json(r->c, wsd_reply_new("metrics.unsubscribed", r->ref));
}

void
wsd_metricsub_conn_closed(struct wsd_conn *c)
{
    (void)c;
}
