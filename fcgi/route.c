/*
 * route.c: the route table and dispatch (see route.h). A pattern is a
 * list of segments; "*" matches any one segment (a channel or a task id,
 * already percent-decoded).
 */
#include <stdbool.h>
#include <string.h>

#include "activity.h"
#include "auth.h"
#include "cors.h"
#include "history.h"
#include "metricsub.h"
#include "ops.h"
#include "poll.h"
#include "publish.h"
#include "route.h"
#include "sse.h"
#include "tasks.h"
#include "xalloc.h"

struct route {
    const char *pattern; /* segments joined by '/' */
    const char *method;
    int (*handle)(struct fcgi_req *r);
    bool auth;
};

static const struct route routes[] = {
    {"channels/*/events", "POST", fcgi_publish_handle_events, true},
    {"channels/*/events", "GET", fcgi_history_handle_events, true},
    {"channels/*/signals", "POST", fcgi_publish_handle_signal, true},
    {"channels/*/presence", "GET", fcgi_history_handle_presence, true},
    {"channels/*", "GET", fcgi_history_handle_channel, true},
    {"channels", "GET", fcgi_history_handle_channels, true},
    {"poll", "GET", fcgi_poll_handle, true},
    {"poll", "POST", fcgi_poll_handle, true},
    {"sse", "GET", fcgi_sse_handle, true},
    {"activity", "GET", fcgi_activity_handle, true},
    {"workflows/*/tasks", "GET", fcgi_tasks_handle_list, true},
    {"workflows/*/tasks", "POST", fcgi_tasks_handle_create, true},
    {"workflows/*/stats", "GET", fcgi_tasks_handle_stats, true},
    {"tasks/*", "GET", fcgi_tasks_handle_get, true},
    {"tasks/*", "PATCH", fcgi_tasks_handle_update, true},
    {"metrics/overview", "GET", fcgi_ops_handle_overview, true},
    {"metrics/stream", "GET", fcgi_metricsub_handle, true},
    {"health", "GET", fcgi_ops_handle_health, false},
    {"status", "GET", fcgi_ops_handle_status, true},
    {"metrics", "GET", fcgi_ops_handle_metrics, false},
};

#define NROUTES (sizeof(routes) / sizeof(routes[0]))

static bool
path_matches(const char *pattern, const struct fcgi_req *r)
{
    const char *p = pattern;
    size_t i = 0;

    for (; *p != '\0' && i < r->nsegs; i++) {
        size_t len = strcspn(p, "/");

        if (!(len == 1 && *p == '*') &&
            (strlen(r->segs[i]) != len || strncmp(p, r->segs[i], len) != 0))
            return false;
        p += len;
        if (*p == '/')
            p++;
    }
    return *p == '\0' && i == r->nsegs;
}

/* The route for r's method, or NULL with allow[] listing the methods the
 * path has ("" when the path is unknown). */
static const struct route *
find(const struct fcgi_req *r, char *allow, size_t size)
{
    allow[0] = '\0';
    for (size_t i = 0; i < NROUTES; i++) {
        if (!path_matches(routes[i].pattern, r))
            continue;
        if (strcmp(routes[i].method, r->method) == 0)
            return &routes[i];
        if (allow[0] != '\0')
            strncat(allow, ", ", size - strlen(allow) - 1);
        strncat(allow, routes[i].method, size - strlen(allow) - 1);
    }
    return NULL;
}

int
fcgi_route_dispatch(struct fcgi_req *r)
{
    char allow[64];
    const struct route *route;

    if (r->bad_path)
        return fcgi_req_fail(r, SB_E_NOT_FOUND, "not found: no such path");
    route = find(r, allow, sizeof(allow));
    if (route == NULL && allow[0] == '\0')
        return fcgi_req_fail(r, SB_E_NOT_FOUND, "not found: no such path");
    if (strcmp(r->method, "OPTIONS") == 0)
        return fcgi_cors_preflight(r);
    if (route == NULL)
        return fcgi_req_method_not_allowed(r, allow);
    if (fcgi_cors_check(r) != SB_OK)
        return SB_ERR;
    if (route->auth && fcgi_auth(r) != SB_OK)
        return SB_ERR;
    return route->handle(r);
}
