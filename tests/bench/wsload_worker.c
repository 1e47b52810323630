/*
 * wsload_worker.c: one load process of wsload (see wsload.h). One epoll
 * loop over non-blocking sockets, level-triggered; commands come on the
 * control socket and each is answered with one report.
 *
 * The WebSocket client is the minimum of RFC 6455 a benchmark needs: an
 * upgrade request (the Sec-WebSocket-Accept answer is not checked), masked
 * text frames out, unmasked frames in (text, continuation, ping answered
 * with pong, close), fragmented messages joined. An idle connection keeps
 * no buffer: input is read into one buffer of the loop and only an
 * incomplete tail is kept per connection.
 *
 * wsd: the token goes in the Authorization header; a subscriber names its
 * channel in the upgrade request (/ws?subscribe=<channel>), or with
 * by_message sends subscribe after auth.ok, and counts as set up on
 * subscribed; a publisher
 * sends publish messages with a fresh id and counts ack and error answers.
 * Nchan: a subscriber is a WebSocket on /sub/<channel>?<auth query>, set up
 * on the 101 answer; a publisher POSTs to /pub/<channel> on a keep-alive
 * connection, one request at a time.
 *
 * A delivery is every "t": member in a message a subscriber receives: the
 * publisher's CLOCK_MONOTONIC in µs when it sent the publish, so now minus
 * it is publish-to-receive latency (both run on this machine).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "wsload.h"
#include "xalloc.h"

/* Bytes of an upgrade or HTTP response header we wait for at most. */
#define HEADER_MAX   8192
#define READ_BUF     65536
#define FRAME_MAX    (16u << 20)
#define PUB_CONNS    256
#define OPEN_TIMEOUT 30000000 /* µs for one OPEN, or a PUBLISH's connects */
#define PUB_GRACE    30000000 /* µs after the last send for the answers */
#define EVENTS_MAX   512

enum kind { SUBSCRIBER, PUBLISHER };
enum state {
    ST_CONNECTING,  /* TCP connect in progress */
    ST_UPGRADING,   /* upgrade request sent, reading the 101 answer */
    ST_AUTHING,     /* wsd: waiting for auth.ok */
    ST_SUBSCRIBING, /* wsd: subscribe sent, waiting for subscribed */
    ST_OPEN,        /* subscribed, or a publisher ready to publish */
};

struct conn {
    int fd;
    int slot; /* index in W.conns */
    enum kind kind;
    enum wl_target target;
    enum state state;
    int chan;
    int port;
    int inflight; /* publisher: requests not yet answered */
    bool want_out;
    bool dead;              /* closed; freed at the end of the turn */
    struct conn *next_dead; /* W.dead */
    uint8_t *in;            /* unparsed input */
    size_t in_len, in_cap;
    uint8_t *out; /* unsent output */
    size_t out_len, out_off;
    uint8_t *msg; /* a fragmented message being joined */
    size_t msg_len, msg_cap;
};

struct open_task {
    bool active;
    struct wl_cmd cmd;
    int64_t started, ok, failed, pending, deadline;
    int64_t t_begin, t_end;
};

struct pub_task {
    bool active, sending;
    struct wl_cmd cmd;
    struct conn *conns[PUB_CONNS];
    int nconns, nready, rr;
    int64_t sent, acked, failed, dup, t_begin, t_last, deadline;
};

static struct {
    int ep, ctl, index;
    struct sockaddr_in src;
    bool bind_src;
    struct conn **conns;
    int nconns;
    struct conn *dead;
    uint64_t rng, id_hi;
    unsigned next_port;
    struct wl_report rep; /* deliveries since RESET, and the first error */
    struct open_task open;
    struct pub_task pub;
    bool waiting;
    int64_t wait_expect, wait_deadline;
} W;

static int process(struct conn *c, uint8_t *p, size_t n);

/* --- small helpers --- */

static uint64_t
rnd(void)
{
    W.rng ^= W.rng << 13;
    W.rng ^= W.rng >> 7;
    W.rng ^= W.rng << 17;
    return W.rng;
}

/* Keep the first error of a command for its report. */
static void
note_error(const char *what, const char *detail, size_t len)
{
    char *e = W.rep.error;

    if (e[0] != '\0')
        return;
    snprintf(e, sizeof(W.rep.error), "%s: %.*s", what,
             (int)(len > 150 ? 150 : len), detail);
}

static void
send_report(enum wl_op op, struct wl_report *r)
{
    r->op = op;
    if (wl_write_all(W.ctl, r, sizeof(*r)) != 0)
        _exit(1);
}

static void
grow(uint8_t **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return;
    size_t n = *cap ? *cap : 512;
    while (n < need)
        n *= 2;
    *buf = sb_realloc(*buf, n);
    *cap = n;
}

/* --- connection lifetime --- */

static void
set_events(struct conn *c, bool out)
{
    struct epoll_event ev = {.data.ptr = c};

    ev.events =
        c->state == ST_CONNECTING ? EPOLLOUT : EPOLLIN | (out ? EPOLLOUT : 0);
    c->want_out = out;
    epoll_ctl(W.ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Close the socket at once; the memory goes at the end of the loop's
 * turn, since events of this turn may still name the connection. */
static void
conn_free(struct conn *c)
{
    struct linger lg = {1, 0}; /* RST: no TIME_WAIT on either side */

    if (c->dead)
        return;
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(c->fd);
    W.nconns--;
    W.conns[c->slot] = W.conns[W.nconns];
    W.conns[c->slot]->slot = c->slot;
    c->dead = true;
    c->next_dead = W.dead;
    W.dead = c;
}

static void
bury(void)
{
    while (W.dead != NULL) {
        struct conn *c = W.dead;

        W.dead = c->next_dead;
        free(c->in);
        free(c->out);
        free(c->msg);
        free(c);
    }
}

static struct conn *
conn_start(enum wl_target t, enum kind kind, int chan)
{
    struct wl_target_conf *tc = &wl_targets[t];
    struct sockaddr_in sa = {.sin_family = AF_INET};
    struct epoll_event ev = {.events = EPOLLOUT};
    int one = 1;
    int fd;

    if (W.nconns >= WL_CONNS_MAX)
        return NULL;
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (W.bind_src) {
#ifdef IP_BIND_ADDRESS_NO_PORT
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
#endif
        bind(fd, (struct sockaddr *)&W.src, sizeof(W.src));
    }
    int port = tc->ports[W.next_port++ % tc->nports];
    sa.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, tc->host, &sa.sin_addr);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 &&
        errno != EINPROGRESS) {
        close(fd);
        return NULL;
    }
    struct conn *c = sb_calloc(1, sizeof(*c));
    c->fd = fd;
    c->kind = kind;
    c->target = t;
    c->chan = chan;
    c->port = port;
    c->state = ST_CONNECTING;
    c->slot = W.nconns;
    W.conns[W.nconns++] = c;
    ev.data.ptr = c;
    epoll_ctl(W.ep, EPOLL_CTL_ADD, fd, &ev);
    return c;
}

/* --- the tasks' bookkeeping --- */

static void
open_check_done(void)
{
    struct open_task *o = &W.open;
    struct wl_report r;

    if (!o->active || o->ok + o->failed < o->cmd.count)
        return;
    memset(&r, 0, sizeof(r));
    r.ok = o->ok;
    r.failed = o->failed;
    r.t_begin = o->t_begin;
    r.t_end = o->t_end;
    memcpy(r.error, W.rep.error, sizeof(r.error));
    o->active = false;
    send_report(WL_OP_OPEN, &r);
}

static void pub_conn_gone(struct conn *c);

/* A connection failed or was closed by the server. */
static void
conn_lost(struct conn *c, const char *why, size_t len)
{
    if (c->kind == PUBLISHER) {
        note_error("publisher", why, len);
        pub_conn_gone(c);
    } else if (c->state == ST_OPEN) {
        note_error("subscriber lost", why, len);
        W.rep.lost++;
    } else if (W.open.active) {
        note_error("subscriber set-up", why, len);
        W.open.failed++;
        W.open.pending--;
    }
    conn_free(c);
    open_check_done();
}

static void
opened(struct conn *c)
{
    c->state = ST_OPEN;
    if (!W.open.active)
        return;
    W.open.ok++;
    W.open.pending--;
    W.open.t_end = sb_mono_us();
    open_check_done();
}

/* --- output --- */

static int
flush_out(struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
                         MSG_NOSIGNAL);
        if (w < 0 && (errno == EAGAIN || errno == EINTR))
            break;
        if (w < 0) {
            conn_lost(c, strerror(errno), strlen(strerror(errno)));
            return -1;
        }
        c->out_off += (size_t)w;
    }
    if (c->out_off == c->out_len) {
        free(c->out);
        c->out = NULL;
        c->out_len = c->out_off = 0;
    }
    return 0;
}

/* Send, keeping what the socket did not take; -1: the connection is gone. */
static int
conn_write(struct conn *c, const void *p, size_t n)
{
    size_t before;

    if (c->out_len > c->out_off) {
        before = c->out_len;
        c->out = sb_realloc(c->out, before + n);
        memcpy(c->out + before, p, n);
        c->out_len = before + n;
        return 0;
    }
    ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno != EAGAIN && errno != EINTR) {
        conn_lost(c, strerror(errno), strlen(strerror(errno)));
        return -1;
    }
    if (w < 0)
        w = 0;
    if ((size_t)w < n) {
        c->out = sb_malloc(n - (size_t)w);
        memcpy(c->out, (const uint8_t *)p + w, n - (size_t)w);
        c->out_len = n - (size_t)w;
        c->out_off = 0;
        set_events(c, true);
    }
    return 0;
}

/* A masked frame (RFC 6455 §5.2, §5.3). */
static int
ws_send(struct conn *c, int opcode, const void *payload, size_t len)
{
    uint8_t stack[1024];
    size_t head = len < 126 ? 6 : len < 65536 ? 8 : 14;
    uint8_t *f = head + len <= sizeof(stack) ? stack : sb_malloc(head + len);
    uint32_t key = (uint32_t)rnd();
    uint8_t *mask = f + head - 4;
    int rc;

    f[0] = (uint8_t)(0x80 | opcode);
    if (len < 126) {
        f[1] = (uint8_t)(0x80 | len);
    } else if (len < 65536) {
        f[1] = 0x80 | 126;
        f[2] = (uint8_t)(len >> 8);
        f[3] = (uint8_t)len;
    } else {
        f[1] = 0x80 | 127;
        for (int i = 0; i < 8; i++)
            f[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    }
    memcpy(mask, &key, 4);
    for (size_t i = 0; i < len; i++)
        f[head + i] = ((const uint8_t *)payload)[i] ^ mask[i & 3];
    rc = conn_write(c, f, head + len);
    if (f != stack)
        free(f);
    return rc;
}

static int
ws_send_text(struct conn *c, const char *text, int len)
{
    return ws_send(c, 0x1, text, (size_t)len);
}

/* --- the upgrade --- */

static void
random_key(char out[25])
{
    static const char b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint64_t a = rnd(), b = rnd();

    for (int i = 0; i < 21; i++) {
        out[i] = b64[(i < 10 ? a : b) & 63];
        if (i < 10)
            a >>= 6;
        else
            b >>= 6;
    }
    out[21] = b64[(b & 3) << 4];
    memcpy(out + 22, "==", 3);
}

static int
send_upgrade(struct conn *c)
{
    struct wl_target_conf *tc = &wl_targets[c->target];
    char req[20480];
    char key[25];
    int n;

    random_key(key);
    if (c->target == WL_WSD && c->kind == SUBSCRIBER && !W.open.cmd.by_message)
        n = snprintf(req, sizeof(req),
                     "GET /ws?subscribe=metrics:%s-%d HTTP/1.1\r\n"
                     "Host: %s:%d\r\n"
                     "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                     "Sec-WebSocket-Protocol: switchboard.v1\r\n"
                     "Authorization: Bearer %s\r\n\r\n",
                     W.open.cmd.prefix, c->chan, tc->host, c->port, key,
                     tc->sub_auth);
    else if (c->target == WL_WSD)
        n = snprintf(req, sizeof(req),
                     "GET /ws HTTP/1.1\r\nHost: %s:%d\r\n"
                     "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                     "Sec-WebSocket-Protocol: switchboard.v1\r\n"
                     "Authorization: Bearer %s\r\n\r\n",
                     tc->host, c->port, key,
                     c->kind == PUBLISHER ? tc->pub_auth : tc->sub_auth);
    else
        n = snprintf(req, sizeof(req),
                     "GET /sub/%s-%d?%s HTTP/1.1\r\nHost: %s:%d\r\n"
                     "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
                     W.open.cmd.prefix, c->chan, tc->sub_auth, tc->host,
                     c->port, key);
    c->state = ST_UPGRADING;
    set_events(c, false);
    return conn_write(c, req, (size_t)n);
}

static void pub_ready(struct conn *c);

static void
connected(struct conn *c)
{
    int err = 0;
    socklen_t len = sizeof(err);

    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
        conn_lost(c, strerror(err), strlen(strerror(err)));
        return;
    }
    if (c->kind == PUBLISHER && c->target == WL_NCHAN) {
        c->state = ST_OPEN; /* plain HTTP keep-alive */
        set_events(c, false);
        pub_ready(c);
        return;
    }
    send_upgrade(c);
}

/* Parse the 101 answer; returns bytes used, 0 when incomplete, -1 when
 * the connection was lost. */
static int
upgrade_answer(struct conn *c, const uint8_t *p, size_t n)
{
    const uint8_t *end = memmem(p, n, "\r\n\r\n", 4);

    if (end == NULL) {
        if (n < HEADER_MAX)
            return 0;
        conn_lost(c, "upgrade answer too long", 23);
        return -1;
    }
    if (n < 12 || memcmp(p + 9, "101", 3) != 0) {
        const uint8_t *eol = memchr(p, '\r', n);
        conn_lost(c, (const char *)p, (size_t)(eol - p));
        return -1;
    }
    if (c->target == WL_WSD)
        c->state = ST_AUTHING;
    else
        opened(c);
    return (int)(end + 4 - p);
}

/* --- wsd messages --- */

static bool
is_op(const uint8_t *m, size_t len, const char *op)
{
    char needle[40];
    int n = snprintf(needle, sizeof(needle), "\"op\":\"%s\"", op);

    return memmem(m, len < 64 ? len : 64, needle, (size_t)n) != NULL;
}

/* Every "t": in a message is one delivery. */
static void
deliveries(const uint8_t *m, size_t len)
{
    const uint8_t *end = m + len;
    const uint8_t *p = m;
    int64_t now = sb_mono_us();
    int64_t found = 0;

    while ((p = memmem(p, (size_t)(end - p), "\"t\":", 4)) != NULL) {
        int64_t t = 0;

        p += 4;
        while (p < end && *p == ' ')
            p++;
        while (p < end && *p >= '0' && *p <= '9')
            t = t * 10 + (*p++ - '0');
        lat_hist_add(&W.rep.hist, t > 0 && t <= now ? (uint64_t)(now - t) : 0);
        found++;
    }
    if (found == 0)
        return;
    if (W.rep.received == 0)
        W.rep.t_first = now;
    W.rep.received += found;
    W.rep.t_end = now;
}

static int
wsd_subscribe(struct conn *c)
{
    char msg[256];
    int n = snprintf(msg, sizeof(msg),
                     "{\"op\":\"subscribe\",\"channel\":\"metrics:%s-%d\"}",
                     W.open.cmd.prefix, c->chan);

    c->state = ST_SUBSCRIBING;
    return ws_send_text(c, msg, n);
}

static void pub_answer(struct conn *c, bool ok, bool dup, const uint8_t *m,
                       size_t len);

/* One whole text message; -1 when the connection was lost. */
static int
on_message(struct conn *c, const uint8_t *m, size_t len)
{
    if (c->target == WL_NCHAN || c->state == ST_OPEN) {
        if (c->kind == SUBSCRIBER)
            deliveries(m, len);
        else if (is_op(m, len, "ack"))
            pub_answer(c, true, memmem(m, len, "\"duplicate\":true", 16), m,
                       len);
        else if (is_op(m, len, "error"))
            pub_answer(c, false, false, m, len);
        return 0;
    }
    if (is_op(m, len, "error")) {
        conn_lost(c, (const char *)m, len);
        return -1;
    }
    if (c->state == ST_AUTHING && is_op(m, len, "auth.ok")) {
        if (c->kind == PUBLISHER) {
            c->state = ST_OPEN;
            pub_ready(c);
            return 0;
        }
        if (!W.open.cmd.by_message) { /* subscribed by the upgrade */
            c->state = ST_SUBSCRIBING;
            return 0;
        }
        return wsd_subscribe(c);
    }
    if (c->state == ST_SUBSCRIBING && is_op(m, len, "subscribed"))
        opened(c);
    return 0;
}

/* --- frames --- */

static int
on_frame(struct conn *c, int fin, int opcode, uint8_t *pl, size_t len)
{
    if (opcode == 0x9)
        return ws_send(c, 0xA, pl, len);
    if (opcode == 0xA)
        return 0;
    if (opcode == 0x8) {
        char why[64];
        int code = len >= 2 ? (pl[0] << 8 | pl[1]) : 0;
        int n = snprintf(why, sizeof(why), "closed by the server (%d %.*s)",
                         code, (int)(len > 2 && len < 40 ? len - 2 : 0),
                         (const char *)pl + 2);
        conn_lost(c, why, (size_t)n);
        return -1;
    }
    if (fin && c->msg_len == 0 && opcode != 0x0)
        return on_message(c, pl, len);
    grow(&c->msg, &c->msg_cap, c->msg_len + len);
    memcpy(c->msg + c->msg_len, pl, len);
    c->msg_len += len;
    if (!fin)
        return 0;
    int rc = on_message(c, c->msg, c->msg_len);
    if (rc == 0) {
        free(c->msg);
        c->msg = NULL;
        c->msg_len = c->msg_cap = 0;
    }
    return rc;
}

/* One frame from p; returns bytes used, 0 when incomplete, -1 when the
 * connection was lost. */
static int
frame(struct conn *c, uint8_t *p, size_t n)
{
    size_t head = 2;
    uint64_t len;

    if (n < 2)
        return 0;
    len = p[1] & 0x7f;
    if (len == 126) {
        head = 4;
        if (n < head)
            return 0;
        len = (uint64_t)p[2] << 8 | p[3];
    } else if (len == 127) {
        head = 10;
        if (n < head)
            return 0;
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | p[2 + i];
    }
    if (p[1] & 0x80)
        head += 4;
    if (len > FRAME_MAX) {
        conn_lost(c, "frame too large", 15);
        return -1;
    }
    if (n < head + len)
        return 0;
    if (p[1] & 0x80) {
        for (size_t i = 0; i < len; i++)
            p[head + i] ^= p[head - 4 + (i & 3)];
    }
    if (on_frame(c, p[0] >> 7, p[0] & 0x0f, p + head, (size_t)len) < 0)
        return -1;
    return (int)(head + len);
}

/* --- Nchan's HTTP publisher answers --- */

static int
http_answer(struct conn *c, const uint8_t *p, size_t n)
{
    const uint8_t *end = memmem(p, n, "\r\n\r\n", 4);
    const uint8_t *cl;
    size_t body = 0;

    if (end == NULL) {
        if (n < HEADER_MAX)
            return 0;
        conn_lost(c, "answer too long", 15);
        return -1;
    }
    cl = memmem(p, (size_t)(end - p), "Content-Length:", 15);
    if (cl != NULL)
        body = strtoul((const char *)cl + 15, NULL, 10);
    if ((size_t)(end + 4 - p) + body > n)
        return 0;
    bool ok = n > 12 &&
              (memcmp(p + 9, "201", 3) == 0 || memcmp(p + 9, "202", 3) == 0);
    const uint8_t *eol = memchr(p, '\r', n);
    pub_answer(c, ok, false, p, (size_t)(eol - p));
    return (int)((size_t)(end + 4 - p) + body);
}

/* Everything parseable in p; returns bytes used or -1 (connection lost). */
static int
process(struct conn *c, uint8_t *p, size_t n)
{
    size_t used = 0;

    while (used < n) {
        int k;

        if (c->state == ST_UPGRADING)
            k = upgrade_answer(c, p + used, n - used);
        else if (c->kind == PUBLISHER && c->target == WL_NCHAN)
            k = http_answer(c, p + used, n - used);
        else
            k = frame(c, p + used, n - used);
        if (k < 0 || c->dead)
            return -1;
        if (k == 0)
            break;
        used += (size_t)k;
    }
    return (int)used;
}

static void
readable(struct conn *c)
{
    static uint8_t buf[READ_BUF];
    ssize_t n = read(c->fd, buf, sizeof(buf));
    int used;

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        const char *why = n == 0 ? "connection closed" : strerror(errno);
        conn_lost(c, why, strlen(why));
        return;
    }
    if (c->in_len == 0) {
        used = process(c, buf, (size_t)n);
        if (used >= 0 && used < n) {
            grow(&c->in, &c->in_cap, (size_t)(n - used));
            memcpy(c->in, buf + used, (size_t)(n - used));
            c->in_len = (size_t)(n - used);
        }
        return;
    }
    grow(&c->in, &c->in_cap, c->in_len + (size_t)n);
    memcpy(c->in + c->in_len, buf, (size_t)n);
    c->in_len += (size_t)n;
    used = process(c, c->in, c->in_len);
    if (used < 0)
        return;
    c->in_len -= (size_t)used;
    if (c->in_len == 0) {
        free(c->in);
        c->in = NULL;
        c->in_cap = 0;
    } else {
        memmove(c->in, c->in + used, c->in_len);
    }
}

static void
conn_event(struct conn *c, uint32_t events)
{
    if (c->dead)
        return;
    if (c->state == ST_CONNECTING) {
        connected(c);
        return;
    }
    if ((events & EPOLLOUT) && c->want_out) {
        if (flush_out(c) != 0)
            return;
        if (c->out == NULL)
            set_events(c, false);
    }
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
        readable(c);
}

/* --- opening subscribers --- */

static void
open_pump(void)
{
    struct open_task *o = &W.open;

    while (o->active && o->started < o->cmd.count &&
           o->pending < o->cmd.pending_max) {
        int chan = (int)((o->cmd.first_channel + o->started) % o->cmd.channels);
        o->started++;
        if (conn_start(o->cmd.target, SUBSCRIBER, chan) == NULL) {
            note_error("connect", strerror(errno), strlen(strerror(errno)));
            o->failed++;
            continue;
        }
        o->pending++;
    }
    if (o->active && sb_mono_us() > o->deadline) {
        note_error("set-up", "timed out", 9);
        o->failed = o->cmd.count - o->ok;
    }
    open_check_done();
}

static void
open_begin(const struct wl_cmd *cmd)
{
    memset(&W.open, 0, sizeof(W.open));
    W.rep.error[0] = '\0';
    W.open.cmd = *cmd;
    W.open.active = true;
    W.open.t_begin = sb_mono_us();
    W.open.deadline = W.open.t_begin + OPEN_TIMEOUT;
    open_pump();
}

/* --- publishing --- */

static int
publish_one(struct conn *c)
{
    struct pub_task *p = &W.pub;
    char body[160], msg[512];
    int64_t n = p->sent;
    int bl = snprintf(body, sizeof(body),
                      "{\"t\":%lld,\"n\":%lld,\"text\":\"bench\"}",
                      (long long)sb_mono_us(), (long long)n);
    int len;

    p->sent++;
    c->inflight++;
    if (c->target == WL_NCHAN) {
        struct wl_target_conf *tc = &wl_targets[WL_NCHAN];
        len = snprintf(msg, sizeof(msg),
                       "POST /pub/%s-%d HTTP/1.1\r\nHost: %s:%d\r\n"
                       "Content-Type: application/json\r\n"
                       "Content-Length: %d\r\n\r\n%s",
                       p->cmd.prefix, c->chan, tc->host, c->port, bl, body);
        return conn_write(c, msg, (size_t)len);
    }
    len = snprintf(msg, sizeof(msg),
                   "{\"op\":\"publish\",\"ref\":%lld,\"channel\":"
                   "\"metrics:%s-%d\",\"type\":\"bench\",\"data\":%s,"
                   "\"id\":\"%08llx-%04llx-4%03llx-a%03llx-%012llx\"}",
                   (long long)n, p->cmd.prefix, c->chan, body,
                   (unsigned long long)(W.id_hi >> 32),
                   (unsigned long long)(W.id_hi >> 16) & 0xffff,
                   (unsigned long long)W.id_hi & 0xfff,
                   (unsigned long long)(n >> 48) & 0xfff,
                   (unsigned long long)n & 0xffffffffffffULL);
    return ws_send_text(c, msg, len);
}

static void
pub_check_done(void)
{
    struct pub_task *p = &W.pub;
    struct wl_report r;

    if (!p->active || p->sending || p->sent > p->acked + p->failed)
        return;
    memset(&r, 0, sizeof(r));
    r.ok = p->acked;
    r.failed = p->failed;
    r.dup = p->dup;
    r.t_begin = p->t_begin;
    r.t_end = p->t_last;
    memcpy(r.error, W.rep.error, sizeof(r.error));
    for (int i = 0; i < p->nconns; i++) {
        if (p->conns[i] != NULL)
            conn_free(p->conns[i]);
    }
    p->active = false;
    send_report(WL_OP_PUBLISH, &r);
}

static int
live_publishers(void)
{
    int n = 0;

    for (int i = 0; i < W.pub.nconns; i++)
        n += W.pub.conns[i] != NULL;
    return n;
}

/* Send what the pace and the windows allow. */
static void
pub_pump(void)
{
    struct pub_task *p = &W.pub;
    int64_t now = sb_mono_us();
    int64_t limit = p->cmd.count > 0 ? p->cmd.count : INT64_MAX;

    if (!p->sending)
        return;
    if (p->cmd.count == 0 && now - p->t_begin >= p->cmd.seconds * 1e6)
        limit = p->sent;
    if (p->cmd.rate > 0) {
        int64_t due =
            (int64_t)((double)(now - p->t_begin) * p->cmd.rate / 1e6) + 1;
        limit = due < limit ? due : limit;
    }
    if ((p->cmd.count > 0 && p->sent >= p->cmd.count) ||
        (p->cmd.count == 0 && limit == p->sent &&
         now - p->t_begin >= p->cmd.seconds * 1e6)) {
        p->sending = false;
        if (now + PUB_GRACE < p->deadline)
            p->deadline = now + PUB_GRACE;
        pub_check_done();
        return;
    }
    if (live_publishers() == 0) {
        note_error("publish", "no publishing connection left", 29);
        p->sending = false;
        pub_check_done();
        return;
    }
    for (int tried = 0; p->sent < limit && tried < p->nconns;) {
        struct conn *c = p->conns[p->rr];

        p->rr = (p->rr + 1) % p->nconns;
        if (c == NULL || c->inflight >= p->cmd.window) {
            tried++;
            continue;
        }
        tried = 0;
        publish_one(c);
    }
}

/* Every publisher is ready or gone: publishing starts, and from now on
 * the command's deadline counts. */
static void
pub_start(struct pub_task *p)
{
    p->t_begin = sb_mono_us();
    p->sending = true;
    p->deadline = p->t_begin + (int64_t)(p->cmd.deadline * 1e6);
}

static void
pub_ready(struct conn *c)
{
    struct pub_task *p = &W.pub;

    if (++p->nready < p->nconns)
        return;
    pub_start(p);
    pub_pump();
}

static void
pub_answer(struct conn *c, bool ok, bool dup, const uint8_t *m, size_t len)
{
    struct pub_task *p = &W.pub;

    c->inflight--;
    if (ok) {
        p->acked++;
        p->dup += dup;
    } else {
        p->failed++;
        note_error("publish", (const char *)m, len);
    }
    p->t_last = sb_mono_us();
    pub_pump();
    pub_check_done();
}

static void
pub_conn_gone(struct conn *c)
{
    struct pub_task *p = &W.pub;

    for (int i = 0; i < p->nconns; i++) {
        if (p->conns[i] == c)
            p->conns[i] = NULL;
    }
    p->failed += c->inflight;
    c->inflight = 0;
    if (c->state != ST_OPEN) { /* never ready: give up on it */
        if (++p->nready >= p->nconns && !p->sending && p->t_begin == 0)
            pub_start(p);
    }
}

static void
pub_begin(const struct wl_cmd *cmd)
{
    struct pub_task *p = &W.pub;

    memset(p, 0, sizeof(*p));
    W.rep.error[0] = '\0';
    p->cmd = *cmd;
    p->active = true;
    p->nconns = cmd->conns < PUB_CONNS ? cmd->conns : PUB_CONNS;
    for (int i = 0; i < p->nconns; i++) {
        int chan = cmd->own_channel ? W.index * PUB_CONNS + i : 0;
        p->conns[i] = conn_start(cmd->target, PUBLISHER, chan);
        if (p->conns[i] == NULL) {
            note_error("publisher connect", strerror(errno),
                       strlen(strerror(errno)));
            p->nready++;
        }
    }
    p->deadline = sb_mono_us() + OPEN_TIMEOUT;
}

/* The deadline passed: what is unanswered, and what was not sent of a
 * counted run, failed. */
static void
pub_expire(struct pub_task *p)
{
    const char *why = p->t_begin == 0 ? "publishers not ready in time"
                      : p->sending    ? "deadline passed while publishing"
                                      : "answers timed out";

    note_error("publish", why, strlen(why));
    p->sending = false;
    p->failed = p->sent - p->acked;
    if (p->cmd.count > p->sent)
        p->failed += p->cmd.count - p->sent;
    pub_check_done();
}

static void
pub_tick(void)
{
    struct pub_task *p = &W.pub;

    if (!p->active)
        return;
    if (!p->sending && p->t_begin == 0 && p->nready >= p->nconns)
        pub_start(p);
    pub_pump();
    if (p->active && sb_mono_us() > p->deadline)
        pub_expire(p);
}

/* --- commands --- */

static void
wait_check(void)
{
    if (!W.waiting ||
        (W.rep.received < W.wait_expect && sb_mono_us() < W.wait_deadline))
        return;
    W.waiting = false;
    send_report(WL_OP_WAIT, &W.rep);
}

static void
close_all(void)
{
    while (W.nconns > 0)
        conn_free(W.conns[W.nconns - 1]);
    memset(&W.open, 0, sizeof(W.open));
    memset(&W.pub, 0, sizeof(W.pub));
}

static void
command(void)
{
    struct wl_cmd cmd;

    if (wl_read_all(W.ctl, &cmd, sizeof(cmd)) != 0)
        _exit(0); /* the coordinator is gone */
    switch (cmd.op) {
    case WL_OP_OPEN:
        open_begin(&cmd);
        break;
    case WL_OP_CLOSE:
        close_all();
        send_report(WL_OP_CLOSE, &W.rep);
        break;
    case WL_OP_RESET:
        memset(&W.rep, 0, sizeof(W.rep));
        send_report(WL_OP_RESET, &W.rep);
        break;
    case WL_OP_WAIT:
        W.waiting = true;
        W.wait_expect = cmd.expect;
        W.wait_deadline = sb_mono_us() + (int64_t)(cmd.seconds * 1e6);
        wait_check();
        break;
    case WL_OP_PUBLISH:
        pub_begin(&cmd);
        break;
    case WL_OP_QUIT:
        close_all();
        _exit(0);
    }
}

static int
timeout_ms(void)
{
    if (W.pub.sending && W.pub.cmd.rate > 0)
        return 1;
    if (W.open.active || W.pub.active || W.waiting)
        return 20;
    return -1;
}

void
wl_worker_run(int ctl, int index)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    struct epoll_event evs[EVENTS_MAX];

    signal(SIGPIPE, SIG_IGN);
    W.ctl = ctl;
    W.index = index;
    W.rng = (uint64_t)sb_mono_us() * 2654435761u ^ (uint64_t)getpid() << 32;
    W.rng |= 1;
    W.id_hi = rnd();
    W.conns = sb_calloc(WL_CONNS_MAX, sizeof(*W.conns));
    W.ep = epoll_create1(EPOLL_CLOEXEC);
    epoll_ctl(W.ep, EPOLL_CTL_ADD, ctl, &ev);
    /* Each process its own loopback source address, so that ports do not
     * run short: 127.0.0.(10 + index). */
    if (strncmp(wl_targets[WL_WSD].host, "127.", 4) == 0) {
        W.src.sin_family = AF_INET;
        W.src.sin_addr.s_addr = htonl(0x7f00000aU + (uint32_t)index);
        W.bind_src = true;
    }
    for (;;) {
        int n = epoll_wait(W.ep, evs, EVENTS_MAX, timeout_ms());

        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL)
                command();
            else
                conn_event(evs[i].data.ptr, evs[i].events);
        }
        open_pump();
        pub_tick();
        wait_check();
        bury();
    }
}
