/*
 * http.h: the plain HTTP endpoints on wsd's port: GET /healthz (200 when
 * the database and LISTEN are up, else 503; JSON), GET /metrics
 * (Prometheus text) and GET /status (admin token; every live node from
 * switchboard.live_nodes, JSON). Anything else is 404 (405 for a method
 * other than GET). Responses are written from the writable callback:
 * headers first, then the body.
 */
#ifndef WSD_HTTP_H
#define WSD_HTTP_H

#include <libwebsockets.h>

struct wsd_http;

int wsd_http_handle_request(struct lws *wsi, struct wsd_http **slot,
                            const char *uri);
int wsd_http_handle_writable(struct lws *wsi, struct wsd_http **slot);
/* Answer a refused upgrade request at once with status and the JSON error
 * {"error":{"code","message"}} (a 503 with Retry-After: 1). 0 when it was
 * written. */
int wsd_http_refuse(struct lws *wsi, unsigned status, const char *code,
                    const char *message);
void wsd_http_handle_closed(struct wsd_http **slot);

#endif
