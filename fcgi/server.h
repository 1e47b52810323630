/*
 * server.h: the FastCGI server: the listening socket (our own --listen,
 * or the one a spawner such as spawn-fcgi passed as fd 0) and the worker
 * threads. Each worker owns a database connection and loops: a new
 * FCGX_Request, FCGX_Accept_r, dispatch; a request that parks is handed
 * to the waiter thread with its FCGX_Request, and the worker accepts the
 * next one.
 */
#ifndef FCGI_SERVER_H
#define FCGI_SERVER_H

/* Open the socket named by the listen option (a stale Unix socket file is
 * replaced). SB_OK, or SB_ERR after logging why. */
int fcgi_server_open(void);
/* Start the worker threads on fcgi_app.listen_fd. SB_OK or SB_ERR. */
int fcgi_server_start(void);
/* Stop accepting (shutdown of the listening socket wakes every accept),
 * let requests in progress finish, join the workers, close the socket. */
void fcgi_server_stop(void);

#endif
