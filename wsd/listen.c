/*
 * listen.c: the listening socket (see listen.h). Accepting is bounded per
 * wake-up, and paused for a moment when the process runs out of
 * descriptors (the socket stays readable, so the loop would otherwise
 * spin on it).
 */
#include <errno.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "listen.h"
#include "log.h"
#include "server.h"
#include "wsd.h"
#include "xalloc.h"

/* Pending connections the kernel queues for us (it caps this at
 * net.core.somaxconn): a burst of thousands of clients reconnecting after
 * a restart should wait in the queue, not be refused. */
#define LISTEN_BACKLOG 4096
/* Connections accepted per wake-up, so that a storm of new connections
 * leaves the loop time for those already open. */
#define ACCEPT_BATCH 128
/* How long accepting pauses when descriptors or memory run out. */
#define ACCEPT_PAUSE_MS 100

static struct lws *listen_wsi;
static int listen_fd = -1;
static lws_sorted_usec_list_t pause_sul;

/* The first address of network interface name (IPv4 before IPv6) with
 * port. SB_OK, or SB_ERR when no interface has that name. */
static int
iface_addr(const char *name, int port, struct sockaddr_storage *ss,
           socklen_t *len)
{
    static const int families[] = {AF_INET, AF_INET6};
    struct ifaddrs *ifs;
    int rc = SB_ERR;

    if (getifaddrs(&ifs) != 0)
        return SB_ERR;
    for (size_t f = 0; f < 2 && rc != SB_OK; f++) {
        for (struct ifaddrs *i = ifs; i != NULL && rc != SB_OK;
             i = i->ifa_next) {
            if (i->ifa_addr == NULL || i->ifa_addr->sa_family != families[f] ||
                strcmp(i->ifa_name, name) != 0)
                continue;
            *len = families[f] == AF_INET ? sizeof(struct sockaddr_in)
                                          : sizeof(struct sockaddr_in6);
            memcpy(ss, i->ifa_addr, *len);
            if (families[f] == AF_INET)
                ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
            else
                ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
            rc = SB_OK;
        }
    }
    freeifaddrs(ifs);
    return rc;
}

/* listen_address: an interface name, or an address or host name. */
static int
resolve(const char *name, int port, struct sockaddr_storage *ss, socklen_t *len)
{
    struct addrinfo hints, *ai;
    char service[8];

    if (iface_addr(name, port, ss, len) == SB_OK)
        return SB_OK;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(service, sizeof(service), "%d", port);
    if (getaddrinfo(name, service, &hints, &ai) != 0)
        return SB_ERR;
    *len = ai->ai_addrlen;
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    return SB_OK;
}

/* A non-blocking socket listening on sa, sharing the port with other
 * processes; -1 with errno set on failure. Accepted sockets inherit its
 * TCP_NODELAY: replies are small frames written as soon as they are
 * ready. */
static int
open_socket(const struct sockaddr *sa, socklen_t len)
{
    int one = 1, err;
    int fd =
        socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0 &&
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == 0 &&
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0 &&
        bind(fd, sa, len) == 0 && listen(fd, LISTEN_BACKLOG) == 0)
        return fd;
    err = errno;
    close(fd);
    errno = err;
    return -1;
}

int
wsd_listen_start(void)
{
    const char *addr = wsd_srv.conf.listen_address;
    int port = (int)wsd_srv.conf.listen_port;
    struct sockaddr_storage ss;
    socklen_t len;
    lws_sock_file_fd_type fd;

    if (resolve(addr, port, &ss, &len) != SB_OK) {
        sb_log_error("cannot listen on %s:%d: no such address or interface",
                     addr, port);
        return SB_ERR;
    }
    fd.filefd = open_socket((struct sockaddr *)&ss, len);
    if (fd.filefd < 0) {
        sb_log_error("cannot listen on %s:%d: %s", addr, port, strerror(errno));
        return SB_ERR;
    }
    listen_wsi = lws_adopt_descriptor_vhost(
        wsd_srv.vhost, LWS_ADOPT_RAW_FILE_DESC, fd, WSD_LISTEN_PROTOCOL, NULL);
    if (listen_wsi == NULL) {
        close(fd.filefd);
        sb_log_error("cannot listen on %s:%d: the loop does not take the "
                     "socket",
                     addr, port);
        return SB_ERR;
    }
    listen_fd = fd.filefd;
    return SB_OK;
}

void
wsd_listen_stop(void)
{
    lws_sul_cancel(&pause_sul);
    if (listen_wsi == NULL)
        return;
    lws_set_timeout(listen_wsi, PENDING_TIMEOUT_KILLED_BY_PARENT,
                    LWS_TO_KILL_ASYNC);
    listen_wsi = NULL;
    listen_fd = -1;
}

static void
resume_cb(lws_sorted_usec_list_t *sul)
{
    if (listen_wsi != NULL)
        lws_rx_flow_control(listen_wsi, 1);
}

static void
pause_accepting(int err)
{
    sb_log_warn("accept: %s: pausing for %d ms", strerror(err),
                ACCEPT_PAUSE_MS);
    lws_rx_flow_control(listen_wsi, 0);
    wsd_timer_schedule(&pause_sul, resume_cb, ACCEPT_PAUSE_MS * LWS_US_PER_MS);
}

/* Hand one accepted socket to lws, which closes it if it cannot take it. */
static void
adopt(int fd)
{
    if (wsd_srv.phase != WSD_RUNNING) {
        close(fd);
        return;
    }
    if (lws_adopt_socket_vhost(wsd_srv.vhost, fd) == NULL)
        sb_log_warn("accept: the loop does not take a new connection");
}

static void
accept_some(void)
{
    for (int i = 0; i < ACCEPT_BATCH && listen_fd >= 0; i++) {
        int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd >= 0) {
            adopt(fd);
        } else if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
                   errno == ENOMEM) {
            pause_accepting(errno);
            return;
        } else if (errno != EINTR && errno != ECONNABORTED) {
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                sb_log_warn("accept: %s", strerror(errno));
            return;
        }
    }
}

int
wsd_listen_callback(struct lws *wsi, enum lws_callback_reasons reason,
                    void *user, void *in, size_t len)
{
    if (wsi != listen_wsi)
        return 0;
    if (reason == LWS_CALLBACK_RAW_RX_FILE)
        accept_some();
    else if (reason == LWS_CALLBACK_RAW_CLOSE_FILE) {
        listen_wsi = NULL;
        listen_fd = -1;
    }
    return 0;
}
