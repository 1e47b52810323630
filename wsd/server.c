/*
 * server.c: the lws context and the main protocol's dispatch (see
 * server.h).
 */
#include <errno.h>
#include <string.h>
#include <sys/resource.h>

#include <ev.h>

#include "auth.h"
#include "conn.h"
#include "flush.h"
#include "http.h"
#include "listen.h"
#include "log.h"
#include "metrics.h"
#include "pgconn.h"
#include "publish.h"
#include "server.h"
#include "sig.h"
#include "wsd.h"
#include "xalloc.h"

#define PROTOCOL_NAME "switchboard.v1"
#define WS_PATH "/ws"
/* Descriptors besides the connections: the database connections, the
 * listening socket, the loop's own, and handshakes still in progress. */
#define FD_RESERVE 1024
/* The upgrade request may carry a token of SB_TOKEN_MAX bytes. */
#define HEADER_DATA_MAX 20480
/* lws allocates a receive buffer of this size for every connection, idle
 * or not, so it is most of an idle connection's cost: client messages are
 * small, and longer ones (up to max_message_bytes) arrive in pieces of
 * this size that conn.c joins. */
#define RX_BUFFER_SIZE 512
/* Bytes lws hands to one send() (without it, lws takes the receive buffer
 * size): a whole "events" frame (flush.c's BATCH_MAX_BYTES) and most single
 * events in one call; what the socket does not take lws keeps and sends
 * when it is writable again. */
#define TX_PACKET_SIZE 262144

/* Per-session data of the main protocol: a WebSocket connection or an
 * HTTP exchange. */
struct wsd_pss {
    struct wsd_conn *conn;
    struct wsd_http *http;
};

/* All zero: lws arms no ping or hang-up timer of its own per connection
 * (conn.c keeps ws_ping_interval and ws_idle_timeout on deadline.c's wheel). */
static const lws_retry_bo_t retry_policy;
/* The event loop: libev (epoll), given to lws as a foreign loop so that
 * wsd runs and stops it itself. lws's own poll() loop walks every
 * descriptor on every turn, which made each new connection cost O(open
 * connections). The signals stay with sig.c's signalfd (lws installs no
 * signal watcher on a foreign loop). */
static struct ev_loop *loop;
/* lws 4.1.6 re-arms its libev timer with ev_timer_set() on a watcher that
 * may be active, which libev ignores: a timer due before the one pending
 * (a 2 ms commit window before a 100 ms tick) would fire only with the
 * later one. wsd_timer_schedule() therefore also arms this timer of its
 * own for the earliest due time, and its expiry wakes lws, which then runs
 * what is due. */
static struct ev_timer kick;
static ev_tstamp kick_at;
/* Runs when a loop turn ends, before the loop waits: sends the publishes
 * the turn gathered (publish.h) and writes what it queued (flush.h). */
static struct ev_prepare turn_end;
/* Waking a little after the due time makes sure lws finds it ripe. */
#define KICK_SLACK_US 500

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

/* Why an upgrade request is refused. */
struct refusal {
    unsigned status; /* 0: accepted */
    const char *code;
    const char *message;
};

/* The refusal of an upgrade request (for another path, offering only
 * other subprotocols, from an origin not allowed, while shutting down or
 * with max_connections open), or status 0 to accept it. */
static struct refusal
upgrade_refusal(struct lws *wsi)
{
    char uri[256];

    if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0 ||
        strcmp(uri, WS_PATH) != 0)
        return (struct refusal){HTTP_STATUS_NOT_FOUND, "not_found",
                                "not found: WebSocket connections are "
                                "accepted on " WS_PATH};
    if (!subprotocol_ok(wsi))
        return (struct refusal){HTTP_STATUS_BAD_REQUEST, "bad_request",
                                "bad request: subprotocols offered, "
                                "but not " PROTOCOL_NAME};
    if (!origin_ok(wsi))
        return (struct refusal){HTTP_STATUS_FORBIDDEN, "forbidden",
                                "forbidden: origin not allowed"};
    if (wsd_srv.phase != WSD_RUNNING)
        return (struct refusal){HTTP_STATUS_SERVICE_UNAVAILABLE,
                                "unavailable",
                                "unavailable: this node is shutting down"};
    if (wsd_srv.nconns >= wsd_srv.conf.max_connections) {
        wsd_stats.conn_refusals++;
        return (struct refusal){HTTP_STATUS_SERVICE_UNAVAILABLE,
                                "unavailable",
                                "unavailable: this node holds max_connections "
                                "connections"};
    }
    return (struct refusal){0, NULL, NULL};
}

/* Write the refusal of an upgrade request, if it is to be refused, and
 * return rc; else return 0. Checked in LWS_CALLBACK_HTTP_CONFIRM_UPGRADE,
 * before lws matches subprotocols (lws 4.1 drops a request offering none
 * of ours without any answer), where rc 1 says the response was written;
 * and again once the subprotocol was selected, where rc -1 drops it. */
static int
check_upgrade(struct lws *wsi, int rc)
{
    struct refusal r = upgrade_refusal(wsi);

    if (r.status == 0)
        return 0;
    if (wsd_http_refuse(wsi, r.status, r.code, r.message) != 0)
        return -1;
    return rc;
}

/* An upgrade accepted: hold its 101 back until the hello is written. */
static int
filter_upgrade(struct lws *wsi)
{
    if (check_upgrade(wsi, -1) != 0)
        return -1;
    wsd_flush_cork(wsi);
    return 0;
}

static int
handle_established(struct lws *wsi, struct wsd_pss *pss)
{
    pss->conn = wsd_conn_new(wsi);
    pss->conn->corked = true;
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
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        return check_upgrade(wsi, 1);
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return filter_upgrade(wsi);
    case LWS_CALLBACK_ESTABLISHED:
        return handle_established(wsi, pss);
    case LWS_CALLBACK_RECEIVE:
        return pss->conn ? wsd_conn_handle_receive(pss->conn, in, len) : -1;
    case LWS_CALLBACK_RECEIVE_PONG:
        if (pss->conn != NULL)
            wsd_conn_handle_pong(pss->conn);
        return 0;
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
    {PROTOCOL_NAME, callback_main, sizeof(struct wsd_pss), RX_BUFFER_SIZE, 0,
     NULL, TX_PACKET_SIZE},
    {WSD_PG_PROTOCOL, wsd_pgconn_callback, 0, 0, 0, NULL, 0},
    {WSD_LISTEN_PROTOCOL, wsd_listen_callback, 0, 0, 0, NULL, 0},
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

static void
turn_end_cb(struct ev_loop *l, struct ev_prepare *w, int revents)
{
    wsd_publish_turn_end();
    wsd_flush_all();
}

static void
kick_cb(struct ev_loop *l, struct ev_timer *w, int revents)
{
    if (wsd_srv.context != NULL)
        lws_cancel_service(wsd_srv.context);
}

void
wsd_timer_schedule(lws_sorted_usec_list_t *sul, sul_cb_t cb, lws_usec_t us)
{
    ev_tstamp after = (double)(us + KICK_SLACK_US) / 1e6;

    lws_sul_schedule(wsd_srv.context, 0, sul, cb, us);
    if (ev_is_active(&kick) && kick_at <= ev_now(loop) + after)
        return;
    ev_timer_stop(loop, &kick);
    ev_timer_set(&kick, after, 0.);
    ev_timer_start(loop, &kick);
    kick_at = ev_now(loop) + after;
}

/* Size the descriptor limit to max_connections: enough for them (up to
 * the hard limit), and no more, since libwebsockets keeps (and on every
 * close scans) a table with an entry per possible descriptor. */
static void
size_descriptors(void)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)wsd_srv.conf.max_connections + FD_RESERVE;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_max != RLIM_INFINITY && want > rl.rlim_max) {
        sb_log_warn("max_connections %lld needs %llu descriptors, but the "
                    "process may open %llu: connections beyond about %llu "
                    "wait until others close",
                    wsd_srv.conf.max_connections, (unsigned long long)want,
                    (unsigned long long)rl.rlim_max,
                    (unsigned long long)(rl.rlim_max > FD_RESERVE
                                             ? rl.rlim_max - FD_RESERVE
                                             : 0));
        want = rl.rlim_max;
    }
    if (want == rl.rlim_cur)
        return;
    rl.rlim_cur = want;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        sb_log_warn("cannot set the descriptor limit to %llu: %s",
                    (unsigned long long)want, strerror(errno));
}

int
wsd_server_start(void)
{
    struct lws_context_creation_info info;
    static void *foreign[1];

    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log);
    size_descriptors();
    memset(&info, 0, sizeof(info));
    /* A server vhost without a listener of its own: listen.c accepts. */
    info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
    info.protocols = protocols;
    loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
    if (loop == NULL) {
        sb_log_error("cannot create the event loop");
        return SB_ERR;
    }
    ev_timer_init(&kick, kick_cb, 0., 0.);
    ev_prepare_init(&turn_end, turn_end_cb);
    ev_prepare_start(loop, &turn_end);
    foreign[0] = loop;
    info.foreign_loops = foreign;
    info.options = LWS_SERVER_OPTION_VALIDATE_UTF8 | LWS_SERVER_OPTION_LIBEV;
    info.max_http_header_data = HEADER_DATA_MAX;
    info.retry_and_idle_policy = &retry_policy;
    wsd_srv.context = lws_create_context(&info);
    if (wsd_srv.context == NULL) {
        sb_log_error("cannot create the libwebsockets context");
        return SB_ERR;
    }
    wsd_srv.vhost = lws_get_vhost_by_name(wsd_srv.context, "default");
    SB_ASSERT(wsd_srv.vhost != NULL);
    if (wsd_listen_start() != SB_OK) {
        wsd_server_stop();
        return SB_ERR;
    }
    sb_log_info("listening on %s:%lld", wsd_srv.conf.listen_address,
                wsd_srv.conf.listen_port);
    return SB_OK;
}

void
wsd_server_run(void)
{
    if (wsd_srv.phase != WSD_STOPPED)
        ev_run(loop, 0);
}

void
wsd_server_stop(void)
{
    if (wsd_srv.context != NULL)
        lws_context_destroy(wsd_srv.context);
    wsd_srv.context = NULL;
    wsd_flush_all(); /* drops the references of closed connections */
    if (loop != NULL) {
        ev_timer_stop(loop, &kick);
        ev_prepare_stop(loop, &turn_end);
        ev_loop_destroy(loop);
    }
    loop = NULL;
}

void
wsd_server_break(void)
{
    if (loop != NULL)
        ev_break(loop, EVBREAK_ALL);
}
