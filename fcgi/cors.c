/*
 * cors.c: origin checks and preflight answers (see cors.h).
 */
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "xalloc.h"
#include "app.h"
#include "cors.h"

#define PREFLIGHT_HEADERS                                                      \
    "Access-Control-Allow-Methods: GET, POST, PATCH, OPTIONS\r\n"              \
    "Access-Control-Allow-Headers: Authorization, Content-Type, "              \
    "Idempotency-Key, Last-Event-ID\r\n"                                       \
    "Access-Control-Max-Age: 600\r\n"

static bool
listed(const char *origin)
{
    for (char **o = fcgi_app.origins; *o != NULL; o++) {
        if (strcasecmp(*o, origin) == 0)
            return true;
    }
    return false;
}

/* True when origin names the host the request was sent to. */
static bool
own_origin(const struct fcgi_req *r, const char *origin)
{
    const char *host = fcgi_req_param(r, "HTTP_HOST");
    const char *p = strstr(origin, "://");

    return host != NULL && p != NULL && strcasecmp(p + 3, host) == 0;
}

static bool
is_write(const struct fcgi_req *r)
{
    return strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0 &&
           strcmp(r->method, "OPTIONS") != 0;
}

int
fcgi_cors_check(struct fcgi_req *r)
{
    const char *origin = fcgi_req_param(r, "HTTP_ORIGIN");

    if (origin == NULL || *origin == '\0')
        return SB_OK;
    if (listed(origin)) {
        r->cors_origin = origin;
        return SB_OK;
    }
    if (is_write(r) && !own_origin(r, origin))
        return fcgi_req_fail(r, SB_E_FORBIDDEN,
                             "forbidden: origin %.100s is not allowed",
                             origin);
    return SB_OK;
}

int
fcgi_cors_preflight(struct fcgi_req *r)
{
    const char *origin = fcgi_req_param(r, "HTTP_ORIGIN");

    if (origin == NULL || !listed(origin))
        return fcgi_req_fail(r, SB_E_FORBIDDEN,
                             "forbidden: origin not allowed");
    r->cors_origin = origin;
    return fcgi_req_head(r, 204, "application/json; charset=utf-8",
                         PREFLIGHT_HEADERS);
}
