/*
 * server.c: the lws context and the main protocol's dispatch (see
 * server.h).
 */
#include <string.h>

#include "auth.h"
#include "conn.h"
#include "http.h"
#include "log.h"
#include "pgconn.h"
#include "server.h"
#include "sig.h"
#include "wsd.h"
#include "xalloc.h"

#define PROTOCOL_NAME "switchboard.v1"
#define WS_PATH "/ws"
/* The upgrade request may carry a token of SB_TOKEN_MAX bytes. */
#define HEADER_DATA_MAX 20480

/* Per-session data of the main protocol: a WebSocket connection or an
 * HTTP exchange. */
struct wsd_pss {
    struct wsd_conn *conn;
    struct wsd_http *http;
};

static lws_retry_bo_t retry_policy;

/* Origin allowed? Absent, or listed when allowed_origins is set. */
static bool
origin_ok(struct lws *wsi)
{
    char origin[256];

    if (wsd_srv.origins == NULL || wsd_srv.origins[0] == NULL ||
        lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN) <= 0)
        return true;
    for (char **o = wsd_srv.origins; *o != NULL; o++) {
        if (strcmp(*o, origin) == 0)
            return true;
    }
    return false;
}

/* A handshake offering subprotocols must offer ours. */
static bool
subprotocol_ok(struct lws *wsi)
{
    char list[512];
    char *save = NULL;

    if (lws_hdr_copy(wsi, list, sizeof(list), WSI_TOKEN_PROTOCOL) <= 0)
        return true;
    for (char *p = strtok_r(list, ", ", &save); p != NULL;
         p = strtok_r(NULL, ", ", &save)) {
        if (strcmp(p, PROTOCOL_NAME) == 0)
            return true;
    }
    return false;
}

/* An upgrade request: refused when it is for another path, offers only
 * other subprotocols, or comes from an origin not allowed. */
static int
handle_filter(struct lws *wsi)
{
    char uri[256];
    unsigned status = 0;

    if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0 ||
        strcmp(uri, WS_PATH) != 0)
        status = HTTP_STATUS_NOT_FOUND;
    else if (!subprotocol_ok(wsi))
        status = HTTP_STATUS_BAD_REQUEST;
    else if (!origin_ok(wsi))
        status = HTTP_STATUS_FORBIDDEN;
    else if (wsd_srv.phase != WSD_RUNNING)
        status = HTTP_STATUS_SERVICE_UNAVAILABLE;
    if (status == 0)
        return 0;
    lws_return_http_status(wsi, status, NULL);
    return -1;
}

static int
handle_established(struct lws *wsi, struct wsd_pss *pss)
{
    pss->conn = wsd_conn_new(wsi);
    sb_log_debug("conn %s: open from %s", pss->conn->idtext,
                 pss->conn->remote);
    wsd_auth_open(pss->conn);
    return 0;
}

static int
handle_closed(struct wsd_pss *pss)
{
    if (pss->conn != NULL)
        wsd_conn_handle_closed(pss->conn);
    pss->conn = NULL;
    return 0;
}

static int
callback_main(struct lws *wsi, enum lws_callback_reasons reason, void *user,
              void *in, size_t len)
{
    struct wsd_pss *pss = user;

    switch (reason) {
    case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
        return wsd_srv.phase == WSD_RUNNING ? 0 : -1;
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return handle_filter(wsi);
    case LWS_CALLBACK_ESTABLISHED:
        return handle_established(wsi, pss);
    case LWS_CALLBACK_RECEIVE:
        return pss->conn ? wsd_conn_handle_receive(pss->conn, in, len) : -1;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return pss->conn ? wsd_conn_handle_writable(pss->conn) : -1;
    case LWS_CALLBACK_CLOSED:
        return handle_closed(pss);
    case LWS_CALLBACK_HTTP:
        return wsd_http_handle_request(wsi, &pss->http, in);
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return wsd_http_handle_writable(wsi, &pss->http);
    case LWS_CALLBACK_CLOSED_HTTP:
        wsd_http_handle_closed(&pss->http);
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

static const struct lws_protocols protocols[] = {
    {PROTOCOL_NAME, callback_main, sizeof(struct wsd_pss), 4096, 0, NULL, 0},
    {WSD_PG_PROTOCOL, wsd_pgconn_callback, 0, 0, 0, NULL, 0},
    {WSD_SIG_PROTOCOL, wsd_sig_callback, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0}};

static void
lws_log(int level, const char *line)
{
    size_t n = strlen(line);

    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    if (level == LLL_ERR)
        sb_log_error("lws: %.*s", (int)n, line);
    else
        sb_log_warn("lws: %.*s", (int)n, line);
}

int
wsd_server_start(void)
{
    struct lws_context_creation_info info;

    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log);
    memset(&info, 0, sizeof(info));
    retry_policy.secs_since_valid_ping =
        (uint16_t)(wsd_srv.conf.ws_ping_interval_ms / 1000);
    retry_policy.secs_since_valid_hangup =
        (uint16_t)(wsd_srv.conf.ws_idle_timeout_ms / 1000);
    info.port = (int)wsd_srv.conf.listen_port;
    info.iface = wsd_srv.conf.listen_address;
    info.protocols = protocols;
    info.options = LWS_SERVER_OPTION_VALIDATE_UTF8 |
                   LWS_SERVER_OPTION_ALLOW_LISTEN_SHARE;
    /* lws binds an IPv4 address only with IPv6 off; otherwise it would
     * listen on every interface. */
    if (strchr(wsd_srv.conf.listen_address, ':') == NULL)
        info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    info.max_http_header_data = HEADER_DATA_MAX;
    info.retry_and_idle_policy = &retry_policy;
    wsd_srv.context = lws_create_context(&info);
    if (wsd_srv.context == NULL) {
        sb_log_error("cannot listen on %s:%lld", wsd_srv.conf.listen_address,
                     wsd_srv.conf.listen_port);
        return SB_ERR;
    }
    wsd_srv.vhost = lws_get_vhost_by_name(wsd_srv.context, "default");
    SB_ASSERT(wsd_srv.vhost != NULL);
    sb_log_info("listening on %s:%lld", wsd_srv.conf.listen_address,
                wsd_srv.conf.listen_port);
    return SB_OK;
}

void
wsd_server_run(void)
{
    while (wsd_srv.phase != WSD_STOPPED) {
        if (lws_service(wsd_srv.context, 0) < 0)
            break;
    }
}

void
wsd_server_stop(void)
{
    if (wsd_srv.context != NULL)
        lws_context_destroy(wsd_srv.context);
    wsd_srv.context = NULL;
}
