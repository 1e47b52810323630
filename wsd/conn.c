/*
 * conn.c: one WebSocket connection (see conn.h): lifetime, assembling
 * client messages from fragments within max_message_bytes, the send queue
 * with its slow-consumer bound, the writable callback, and liveness: a
 * client silent for ws_ping_interval gets a WebSocket ping, one silent for
 * ws_idle_timeout is closed (a deadline per connection, deadline.h).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "auth.h"
#include "conn.h"
#include "error.h"
#include "flush.h"
#include "log.h"
#include "metrics.h"
#include "metricsub.h"
#include "proto.h"
#include "sub.h"
#include "wsd.h"
#include "xalloc.h"

static void
link_conn(struct wsd_conn *c)
{
    c->next = wsd_srv.conns;
    if (c->next != NULL)
        c->next->prev = c;
    wsd_srv.conns = c;
    wsd_srv.nconns++;
}

static void
unlink_conn(struct wsd_conn *c)
{
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        wsd_srv.conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    wsd_srv.nconns--;
}

static void
ping_cb(struct wsd_deadline *d)
{
    struct wsd_conn *c = lws_container_of(d, struct wsd_conn, ping_due);
    const struct wsd_config *k = &wsd_srv.conf;
    int64_t silent = sb_mono_ms() - c->rx_ms;
    int64_t next = k->ws_ping_interval_ms - silent;

    if (!wsd_conn_alive(c))
        return;
    if (silent >= k->ws_idle_timeout_ms) {
        sb_log_info("conn %s: silent for %lld ms: closing", c->idtext,
                    (long long)silent);
        wsd_conn_close(c, SB_CLOSE_GOING_AWAY, "idle timeout", false);
        return;
    }
    if (silent >= k->ws_ping_interval_ms) {
        c->ping_wanted = true;
        lws_callback_on_writable(c->wsi);
        next = k->ws_idle_timeout_ms - silent;
        if (next > k->ws_ping_interval_ms)
            next = k->ws_ping_interval_ms;
    }
    wsd_deadline_set(d, next, ping_cb);
}

/* The peer's address as text: IPv4 in dotted form (also when it reached
 * an IPv6 socket as a mapped address), IPv6 in its short form; "" when
 * unknown. */
static void
peer_name(int fd, char *out, size_t size)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
    const void *addr = NULL;
    int family = AF_INET;

    out[0] = '\0';
    if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0)
        return;
    if (ss.ss_family == AF_INET) {
        addr = &((const struct sockaddr_in *)&ss)->sin_addr;
    } else if (ss.ss_family == AF_INET6 &&
               IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
        addr = in6->sin6_addr.s6_addr + 12;
    } else if (ss.ss_family == AF_INET6) {
        family = AF_INET6;
        addr = &in6->sin6_addr;
    }
    if (addr == NULL || inet_ntop(family, addr, out, (socklen_t)size) == NULL)
        out[0] = '\0';
}

struct wsd_conn *
wsd_conn_new(struct lws *wsi)
{
    struct wsd_conn *c = sb_calloc(1, sizeof(*c));

    c->wsi = wsi;
    c->refs = 1;
    c->id = ++wsd_srv.next_conn_id;
    snprintf(c->idtext, sizeof(c->idtext), "%llu", (unsigned long long)c->id);
    peer_name(lws_get_socket_fd(wsi), c->remote, sizeof(c->remote));
    c->bucket = (double)wsd_srv.conf.publish_burst;
    c->bucket_us = wsd_mono_us();
    c->rx_ms = sb_mono_ms();
    wsd_deadline_set(&c->ping_due, wsd_srv.conf.ws_ping_interval_ms, ping_cb);
    link_conn(c);
    return c;
}

struct wsd_conn *
wsd_conn_ref(struct wsd_conn *c)
{
    c->refs++;
    return c;
}

void
wsd_conn_unref(struct wsd_conn *c)
{
    if (c == NULL)
        return;
    SB_ASSERT(c->refs > 0);
    if (--c->refs > 0)
        return;
    wsd_sendq_clear(&c->q);
    sb_token_free(c->token);
    free(c->open_subs);
    free(c->rx);
    free(c);
}

bool
wsd_conn_alive(const struct wsd_conn *c)
{
    return c->wsi != NULL && c->close_code == 0;
}

/* --- sending --- */

static void
slow_consumer(struct wsd_conn *c)
{
    wsd_stats.slow_closes++;
    sb_log_info("conn %s: slow consumer: %zu bytes queued, closing",
                c->idtext, c->q.bytes);
    wsd_conn_close(c, SB_CLOSE_SLOW_CONSUMER, "slow consumer", false);
}

void
wsd_conn_send(struct wsd_conn *c, struct wsd_buf *buf, bool replay)
{
    if (!wsd_conn_alive(c)) {
        wsd_stats.queue_drops++;
        return;
    }
    if (!replay && c->q.live_bytes + buf->len >
                       (size_t)wsd_srv.conf.send_queue_max) {
        slow_consumer(c);
        return;
    }
    wsd_sendq_push(&c->q, buf, replay);
    wsd_flush_want(c);
}

void
wsd_conn_send_json(struct wsd_conn *c, json_t *msg)
{
    size_t len = json_dumpb(msg, NULL, 0, JSON_COMPACT);
    struct wsd_buf *b = wsd_buf_new(len);

    json_dumpb(msg, (char *)wsd_buf_payload(b), len, JSON_COMPACT);
    json_decref(msg);
    wsd_conn_send(c, b, false);
    wsd_buf_unref(b);
}

void
wsd_conn_send_text(struct wsd_conn *c, const char *text, size_t len)
{
    struct wsd_buf *b = wsd_buf_from_text(text, len);

    wsd_conn_send(c, b, false);
    wsd_buf_unref(b);
}

void
wsd_conn_close(struct wsd_conn *c, int code, const char *reason, bool flush)
{
    if (!wsd_conn_alive(c))
        return;
    c->close_code = code;
    snprintf(c->close_reason, sizeof(c->close_reason), "%s", reason);
    if (!flush) {
        /* The peer may not read at all: if the close frame cannot be
         * written within a second, the socket is dropped. */
        wsd_stats.queue_drops += wsd_sendq_clear(&c->q);
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND, 1);
    }
    lws_callback_on_writable(c->wsi);
}

size_t
wsd_conn_close_some(size_t max)
{
    size_t open = 0;

    for (struct wsd_conn *c = wsd_srv.conns; c != NULL; c = c->next) {
        if (!wsd_conn_alive(c)) {
            open += c->wsi != NULL;
            continue;
        }
        open++;
        if (max > 0) {
            wsd_conn_close(c, SB_CLOSE_GOING_AWAY, "server shutting down",
                           true);
            max--;
        }
    }
    return open;
}

/* --- receiving --- */

static int
refuse(struct wsd_conn *c, int code, const char *reason)
{
    free(c->rx);
    c->rx = NULL;
    c->rx_len = c->rx_cap = 0;
    wsd_conn_close(c, code, reason, false);
    return 0;
}

static void
append(struct wsd_conn *c, const void *in, size_t len)
{
    if (c->rx_len + len + 1 > c->rx_cap) {
        size_t cap = c->rx_cap ? c->rx_cap : 1024;

        while (cap < c->rx_len + len + 1)
            cap *= 2;
        c->rx = sb_realloc(c->rx, cap);
        c->rx_cap = cap;
    }
    memcpy(c->rx + c->rx_len, in, len);
    c->rx_len += len;
    c->rx[c->rx_len] = '\0';
}

void
wsd_conn_handle_pong(struct wsd_conn *c)
{
    c->rx_ms = sb_mono_ms();
}

int
wsd_conn_handle_receive(struct wsd_conn *c, const void *in, size_t len)
{
    c->rx_ms = sb_mono_ms();
    if (!wsd_conn_alive(c))
        return 0;
    if (lws_frame_is_binary(c->wsi))
        return refuse(c, SB_CLOSE_UNSUPPORTED, "text frames only");
    if (c->rx_len + len > (size_t)wsd_srv.conf.max_message_bytes)
        return refuse(c, SB_CLOSE_TOO_BIG, "message too big");
    if (!lws_is_final_fragment(c->wsi) ||
        lws_remaining_packet_payload(c->wsi) > 0) {
        append(c, in, len);
        return 0;
    }
    wsd_stats.messages_in++;
    if (c->rx_len == 0) { /* whole in one piece: no copy */
        wsd_proto_message(c, in, len);
        return 0;
    }
    append(c, in, len);
    wsd_proto_message(c, c->rx, c->rx_len);
    /* An idle connection keeps no buffer. */
    free(c->rx);
    c->rx = NULL;
    c->rx_len = c->rx_cap = 0;
    return 0;
}

/* --- writing --- */

/* A ping frame. It carries a payload because lws 4.1 reports no empty
 * pong to the protocol (and so the pong would not count as heard). */
static int
write_ping(struct wsd_conn *c)
{
    unsigned char buf[LWS_PRE + 3];

    c->ping_wanted = false;
    memcpy(buf + LWS_PRE, "wsd", 3);
    if (lws_write(c->wsi, buf + LWS_PRE, 3, LWS_WRITE_PING) < 0)
        return -1;
    if (c->q.head != NULL)
        lws_callback_on_writable(c->wsi);
    return 0;
}

int
wsd_conn_handle_writable(struct wsd_conn *c)
{
    if (c->broken)
        return -1;
    if (c->ping_wanted && c->close_code == 0)
        return write_ping(c);
    if (c->q.head == NULL && c->close_code != 0) {
        lws_close_reason(c->wsi, (enum lws_close_status)c->close_code,
                         (unsigned char *)c->close_reason,
                         strlen(c->close_reason));
        return -1;
    }
    if (wsd_flush_write(c) != 0)
        return -1;
    if (c->q.head != NULL || c->close_code != 0)
        lws_callback_on_writable(c->wsi);
    if (c->close_code == 0 &&
        c->q.bytes < (size_t)wsd_srv.conf.send_queue_max / 2)
        wsd_sub_conn_drained(c);
    return 0;
}

void
wsd_conn_handle_closed(struct wsd_conn *c)
{
    sb_log_debug("conn %s: closed", c->idtext);
    wsd_deadline_cancel(&c->auth_due);
    wsd_deadline_cancel(&c->ping_due);
    wsd_sub_conn_closed(c);
    wsd_metricsub_conn_closed(c);
    wsd_auth_conn_closed(c);
    wsd_stats.queue_drops += wsd_sendq_clear(&c->q);
    c->wsi = NULL;
    unlink_conn(c);
    wsd_conn_unref(c);
}
