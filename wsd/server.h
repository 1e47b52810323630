/*
 * server.h: the libwebsockets context: one vhost on listen_address and
 * listen_port (SO_REUSEPORT, so several wsd processes can share it) that
 * speaks switchboard.v1 on /ws and plain HTTP on the other paths, plus the
 * raw protocols of the database sockets and the signalfd. The main
 * callback only dispatches to the module that owns each event.
 */
#ifndef WSD_SERVER_H
#define WSD_SERVER_H

/* Create the context and vhost into wsd_srv. SB_OK or SB_ERR (logged). */
int wsd_server_start(void);
/* Run the loop until the phase is WSD_STOPPED. */
void wsd_server_run(void);
/* Destroy the context. */
void wsd_server_stop(void);

#endif
