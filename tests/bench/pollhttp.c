/*
 * pollhttp.c: HTTP/1.1 client connections for pollload (see pollhttp.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "benchopt.h"
#include "pollhttp.h"
#include "xalloc.h"

#define READ_CHUNK 65536
#define EVENTS_MAX 512
/* How often the loop looks for connections whose wait is over (µs). */
#define SWEEP_US 100000
/* Failed connections reported one by one; the rest are only counted. */
#define REPORTS_MAX 5

void
poll_die(const char *what, const char *detail)
{
    fprintf(stderr, "pollload: %s: %s\n", what, detail ? detail : "");
    exit(1);
}

/* --- buffers --- */

void
pbuf_consume(struct sb_strbuf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
    } else {
        memmove(b->data, b->data + n, b->len - n);
        b->len -= n;
    }
    if (b->data != NULL)
        b->data[b->len] = '\0';
}

/* --- the response parser --- */

/* The value of header name in head (lines ending "\r\n"), or NULL. */
static const char *
header(const char *head, const char *end, const char *name, size_t *len)
{
    size_t nl = strlen(name);

    for (const char *p = strstr(head, "\r\n"); p != NULL && p + 2 < end;
         p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2, *eol = strstr(line, "\r\n");

        if (eol == NULL || eol > end || strncasecmp(line, name, nl) != 0 ||
            line[nl] != ':')
            continue;
        line += nl + 1;
        while (*line == ' ')
            line++;
        *len = (size_t)(eol - line);
        return line;
    }
    return NULL;
}

static void
copy_header(char *dst, const char *head, const char *end, const char *name)
{
    size_t len;
    const char *v = header(head, end, name, &len);

    if (v == NULL || len >= POLLHTTP_TAG_MAX)
        len = 0;
    memcpy(dst, v ? v : "", len);
    dst[len] = '\0';
}

/* Decode a chunked body starting at p; returns the end of the body's
 * last byte (after the final CRLF), NULL when incomplete, or (char *)-1. */
static const char *
dechunk(struct sb_strbuf *body, const char *p, const char *end)
{
    for (;;) {
        char *eol;
        unsigned long size = strtoul(p, &eol, 16);
        const char *crlf = memmem(p, (size_t)(end - p), "\r\n", 2);

        if (crlf == NULL)
            return end - p > 32 ? (const char *)-1 : NULL;
        if (eol == p || size > POLLHTTP_BODY_MAX)
            return (const char *)-1;
        p = crlf + 2;
        if ((size_t)(end - p) < size + 2)
            return NULL;
        if (size == 0)
            return p + 2; /* no trailers here */
        sb_strbuf_put(body, p, size);
        p += size + 2;
    }
}

long
presp_parse(struct presp *r, const char *buf, size_t len)
{
    const char *hend = memmem(buf, len, "\r\n\r\n", 4), *end = buf + len;
    const char *v, *body;
    size_t vlen;

    if (hend == NULL)
        return len > POLLHTTP_HEAD_MAX ? -1 : 0;
    if (len < 12 || strncmp(buf, "HTTP/1.", 7) != 0)
        return -1;
    r->status = atoi(buf + 9);
    body = hend + 4;
    r->body.len = 0;
    sb_strbuf_put(&r->body, "", 0);
    v = header(buf, body, "Connection", &vlen);
    r->close = v != NULL && strncasecmp(v, "close", 5) == 0;
    copy_header(r->last_modified, buf, body, "Last-Modified");
    copy_header(r->etag, buf, body, "Etag");
    v = header(buf, body, "Transfer-Encoding", &vlen);
    if (v != NULL && strncasecmp(v, "chunked", 7) == 0) {
        const char *done = dechunk(&r->body, body, end);

        if (done == (const char *)-1)
            return -1;
        return done == NULL ? 0 : (long)(done - buf);
    }
    v = header(buf, body, "Content-Length", &vlen);
    vlen = v != NULL ? strtoul(v, NULL, 10) : 0;
    if (vlen > POLLHTTP_BODY_MAX)
        return -1;
    if ((size_t)(end - body) < vlen)
        return 0;
    sb_strbuf_put(&r->body, body, vlen);
    return (long)(body - buf) + (long)vlen;
}

/* --- the loop --- */

void
ploop_init(struct ploop *l, const char *url, int timeout_s)
{
    const char *p = strncmp(url, "http://", 7) == 0 ? url + 7 : url;
    const char *colon = strchr(p, ':');
    struct in_addr ip;

    memset(l, 0, sizeof(*l));
    if (colon == NULL || (size_t)(colon - p) >= sizeof(l->host))
        benchopt_fail("-u", "want http://HOST:PORT");
    memcpy(l->host, p, (size_t)(colon - p));
    if (inet_pton(AF_INET, l->host, &ip) != 1)
        benchopt_fail("-u", "HOST must be an IPv4 address");
    l->port = (int)benchopt_int("-u PORT", colon + 1, 1, 65535);
    l->timeout_s = timeout_s;
    l->ep = epoll_create1(EPOLL_CLOEXEC);
    if (l->ep < 0)
        poll_die("epoll_create1", strerror(errno));
}

/* A non-blocking socket connecting to the loop's server. */
static int
socket_to(const struct ploop *l)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)l->port)};
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

    if (fd < 0)
        poll_die("socket", strerror(errno));
    inet_pton(AF_INET, l->host, &sa.sin_addr); /* checked by ploop_init */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 &&
        errno != EINPROGRESS)
        poll_die("connect", strerror(errno));
    return fd;
}

static void
watch(struct ploop *l, struct pconn *c, int op)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP |
                                       (c->writing ? EPOLLOUT : 0),
                             .data.ptr = c};

    if (epoll_ctl(l->ep, op, c->fd, &ev) != 0)
        poll_die("epoll_ctl", strerror(errno));
}

void
pconn_open(struct ploop *l, struct pconn *c)
{
    c->fd = socket_to(l);
    c->busy = false;
    c->writing = false;
    c->due_us = 0;
    c->in.len = 0;
    if (l->nopen == l->open_cap) {
        l->open_cap = l->open_cap ? 2 * l->open_cap : 1024;
        l->open = sb_realloc(l->open, (size_t)l->open_cap * sizeof(*l->open));
    }
    c->slot = l->nopen++;
    l->open[c->slot] = c;
    watch(l, c, EPOLL_CTL_ADD);
    l->connects++;
    pconn_kick(l, c);
}

void
pconn_close(struct ploop *l, struct pconn *c)
{
    if (c->fd < 0)
        return;
    epoll_ctl(l->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    /* The last open connection takes c's place. */
    l->open[c->slot] = l->open[--l->nopen];
    l->open[c->slot]->slot = c->slot;
}

/* Close c for good, say why (the first few), and tell its scenario. */
static void
fail(struct ploop *l, struct pconn *c, const char *why)
{
    if (l->failures < REPORTS_MAX)
        fprintf(stderr, "pollload: connection %d to %s:%d: %s\n", c->index,
                l->host, l->port, why);
    else if (l->failures == REPORTS_MAX)
        fprintf(stderr, "pollload: more connections failed (not shown)\n");
    l->failures++;
    pconn_close(l, c);
    c->in.len = 0;
    c->busy = false;
    c->writing = false;
    c->due_us = 0;
    c->ops->failed(c);
}

/* The server closed c, or a send on it failed: connect and send again,
 * unless that keeps happening to a request without an answer. */
static void
reconnect(struct ploop *l, struct pconn *c)
{
    if (c->busy && ++c->closes >= POLLHTTP_CLOSES_MAX) {
        fail(l, c, "closed by the server each time, no answer");
        return;
    }
    pconn_close(l, c);
    c->reconnects++;
    pconn_open(l, c);
}

static void
flush_out(struct ploop *l, struct pconn *c)
{
    while (c->out_off < c->out.len) {
        ssize_t n = send(c->fd, c->out.data + c->out_off,
                         c->out.len - c->out_off, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == ENOTCONN))
            break;
        if (n <= 0) {
            reconnect(l, c);
            return;
        }
        c->out_off += (size_t)n;
        c->due_us = sb_mono_us() + l->timeout_s * 1000000LL;
    }
    bool more = c->out_off < c->out.len;

    if (more != c->writing) {
        c->writing = more;
        watch(l, c, EPOLL_CTL_MOD);
    }
    if (!more) {
        c->sent_us = sb_mono_us();
        c->due_us = c->sent_us + (c->hold_s + l->timeout_s) * 1000000LL;
    }
}

void
pconn_kick(struct ploop *l, struct pconn *c)
{
    if (c->busy || c->fd < 0)
        return;
    c->out.len = 0;
    c->out_off = 0;
    if (!c->ops->request(c, &c->out))
        return;
    c->busy = true;
    c->due_us = sb_mono_us() + l->timeout_s * 1000000LL;
    flush_out(l, c);
}

/* Hand every complete response in c->in to the scenario. */
static void
take_responses(struct ploop *l, struct pconn *c)
{
    for (;;) {
        long used = presp_parse(&c->resp, c->in.data, c->in.len);

        if (used < 0)
            poll_die("malformed response", c->in.data);
        if (used == 0)
            return;
        pbuf_consume(&c->in, (size_t)used);
        c->busy = false;
        c->due_us = 0;
        c->closes = 0;
        c->ops->response(c, &c->resp);
        if (c->resp.close) {
            reconnect(l, c);
            return;
        }
        pconn_kick(l, c);
        if (c->fd < 0)
            return;
    }
}

static void
readable(struct ploop *l, struct pconn *c)
{
    char buf[READ_CHUNK];
    ssize_t n = recv(c->fd, buf, sizeof(buf), 0);

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        /* The server closed a kept-alive connection: send again. */
        reconnect(l, c);
        return;
    }
    sb_strbuf_put(&c->in, buf, (size_t)n);
    take_responses(l, c);
}

/* Fail the connections whose send or answer is late. */
static void
sweep(struct ploop *l)
{
    int64_t now = sb_mono_us();
    char why[96];

    if (now - l->swept_us < SWEEP_US)
        return;
    l->swept_us = now;
    /* Backwards: fail() moves the last connection into the place it frees. */
    for (int i = l->nopen - 1; i >= 0; i--) {
        struct pconn *c = l->open[i];

        if (c->due_us == 0 || now < c->due_us)
            continue;
        if (c->writing)
            snprintf(why, sizeof(why), "connect or send stalled for %d s (-t)",
                     l->timeout_s);
        else
            snprintf(why, sizeof(why), "no answer within %d s (-t)",
                     c->hold_s + l->timeout_s);
        fail(l, c, why);
    }
}

void
ploop_turn(struct ploop *l, int ms)
{
    struct epoll_event ev[EVENTS_MAX];
    int n = epoll_wait(l->ep, ev, EVENTS_MAX, ms);

    for (int i = 0; i < n; i++) {
        struct pconn *c = ev[i].data.ptr;

        if (c->fd < 0)
            continue;
        if (ev[i].events & EPOLLOUT)
            flush_out(l, c);
        if (c->fd >= 0 &&
            (ev[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)))
            readable(l, c);
    }
    sweep(l);
}

/* --- blocking exchanges --- */

/* Wait until fd is ready for events, at most the loop's timeout; ends the
 * run when it is not (what: "connect to", "send to", "answer from"). */
static void
wait_ready(const struct ploop *l, int fd, short events, const char *what)
{
    struct pollfd pf = {.fd = fd, .events = events};
    int64_t deadline = sb_mono_us() + l->timeout_s * 1000000LL;
    char why[128];

    for (;;) {
        int64_t left = deadline - sb_mono_us();
        int n = left > 0 ? poll(&pf, 1, (int)((left + 999) / 1000)) : 0;

        if (n > 0)
            return;
        if (n < 0 && errno != EINTR)
            poll_die("poll", strerror(errno));
        if (n == 0 && sb_mono_us() >= deadline) {
            snprintf(why, sizeof(why), "%s %s:%d took over %d s (-t)", what,
                     l->host, l->port, l->timeout_s);
            poll_die("timeout", why);
        }
    }
}

int
phttp_connect(const struct ploop *l)
{
    int fd = socket_to(l), err = 0;
    socklen_t len = sizeof(err);

    wait_ready(l, fd, POLLOUT, "connect to");
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if (err != 0)
        poll_die("connect", strerror(err));
    return fd;
}

/* Send all of req on fd (non-blocking), waiting for room as needed. */
static void
send_all(const struct ploop *l, int fd, const struct sb_strbuf *req)
{
    for (size_t off = 0; off < req->len;) {
        ssize_t w = send(fd, req->data + off, req->len - off, MSG_NOSIGNAL);

        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            wait_ready(l, fd, POLLOUT, "send to");
        else if (w < 0 && errno != EINTR)
            poll_die("send", strerror(errno));
        else if (w > 0)
            off += (size_t)w;
    }
}

void
phttp_exchange(const struct ploop *l, int fd, const struct sb_strbuf *req, int n,
               void (*check)(const struct presp *r, void *arg), void *arg)
{
    struct sb_strbuf in = {0};
    struct presp r = {0};
    char buf[READ_CHUNK];

    send_all(l, fd, req);
    while (n > 0) {
        long used = presp_parse(&r, in.data ? in.data : "", in.len);
        ssize_t got;

        if (used < 0)
            poll_die("malformed response", in.data);
        if (used > 0) {
            pbuf_consume(&in, (size_t)used);
            if (check != NULL)
                check(&r, arg);
            n--;
            continue;
        }
        wait_ready(l, fd, POLLIN, "answer from");
        got = recv(fd, buf, sizeof(buf), 0);
        if (got < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (got <= 0)
            poll_die("recv", got == 0 ? "server closed" : strerror(errno));
        sb_strbuf_put(&in, buf, (size_t)got);
    }
    sb_strbuf_release(&in);
    sb_strbuf_release(&r.body);
}

long long
poll_number_after(const char *text, const char *key)
{
    const char *p = strstr(text, key);

    if (p == NULL)
        return -1;
    p += strlen(key);
    if (*p == '{')
        p = strchr(p, '}') ? strchr(p, '}') + 1 : p;
    while (*p == ' ' || *p == ':' || *p == '\t')
        p++;
    return (*p >= '0' && *p <= '9') ? strtoll(p, NULL, 10) : -1;
}
