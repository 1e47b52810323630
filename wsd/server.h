/*
 * server.h: the libwebsockets context, on a libev loop that wsd runs and
 * stops itself: one vhost, fed by the listening socket on listen_address
 * and listen_port (listen.c: SO_REUSEPORT, so several wsd processes can
 * share it), that speaks switchboard.v1 on /ws and plain HTTP on the other
 * paths, plus the raw protocols of the listening socket, the database
 * sockets and the signalfd. The main callback only dispatches to the
 * module that owns each event.
 */
#ifndef WSD_SERVER_H
#define WSD_SERVER_H

#include <libwebsockets.h>

/* Create the context and vhost into wsd_srv. SB_OK or SB_ERR (logged). */
int wsd_server_start(void);
/* Run the loop until the phase is WSD_STOPPED. */
void wsd_server_run(void);
/* lws_sul_schedule() on the context's thread 0 that fires on time on the
 * libev loop (see server.c); every timer of wsd goes through it. */
void wsd_timer_schedule(lws_sorted_usec_list_t *sul, sul_cb_t cb,
                        lws_usec_t us);
/* Leave the loop (wsd_server_run returns). */
void wsd_server_break(void);
/* Destroy the context. */
void wsd_server_stop(void);

#endif
