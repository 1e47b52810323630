/*
 * listen.h: wsd's listening socket. wsd opens it itself, with SO_REUSEPORT,
 * so that several wsd processes share one port and the kernel spreads new
 * connections among them (libwebsockets 4.1 sets SO_REUSEPORT only for a
 * context with several service threads). The loop watches the socket as a
 * raw descriptor; each accepted connection is handed to libwebsockets with
 * lws_adopt_socket_vhost(), after which it is served like one lws accepted
 * (WebSocket on /ws, HTTP on the other paths).
 */
#ifndef WSD_LISTEN_H
#define WSD_LISTEN_H

#include <libwebsockets.h>

/* The raw protocol's name in the server's protocol table. */
#define WSD_LISTEN_PROTOCOL "sb-listen"

/* Bind listen_address:listen_port and start accepting. SB_OK, or SB_ERR
 * (logged) when the address does not resolve or cannot be bound. */
int wsd_listen_start(void);
/* Stop accepting and close the socket, so that the processes sharing the
 * port take the new connections. Idempotent. */
void wsd_listen_stop(void);

/* The raw protocol callback (RX and CLOSE of the listening socket). */
int wsd_listen_callback(struct lws *wsi, enum lws_callback_reasons reason,
                        void *user, void *in, size_t len);

#endif
