/*
 * server.c: the listening socket and the worker threads (see server.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "app.h"
#include "db.h"
#include "log.h"
#include "req.h"
#include "route.h"
#include "server.h"
#include "xalloc.h"

/* Connections the kernel queues before accept. */
#define BACKLOG 1024
/* Pause after a failed accept (out of descriptors), so it cannot spin. */
#define ACCEPT_PAUSE_US 10000

static pthread_t *workers;
static size_t nworkers;

int
fcgi_server_open(void)
{
    const char *path = fcgi_app.conf.listen;
    struct stat st;

    if (path[0] == '/' && stat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path);
    fcgi_app.listen_fd = FCGX_OpenSocket(path, BACKLOG);
    if (fcgi_app.listen_fd < 0) {
        sb_log_error("cannot listen on %s: %s", path, strerror(errno));
        return SB_ERR;
    }
    /* The web server's user reaches the socket through its group. */
    if (path[0] == '/')
        chmod(path, 0660);
    sb_log_info("listening on %s", path);
    return SB_OK;
}

static void
serve(FCGX_Request *fr, struct fcgi_db *db)
{
    struct fcgi_req *r = fcgi_req_new(fr, db);

    sb_log_debug("req %llu: %s %s", (unsigned long long)r->id, r->method,
                 fcgi_req_param(r, "REQUEST_URI") ?: "");
    if (fcgi_route_dispatch(r) != SB_AGAIN)
        fcgi_req_finish(r);
}

static void *
worker(void *arg)
{
    struct fcgi_db *db = fcgi_db_new(fcgi_app.common.database_url);

    while (!atomic_load(&fcgi_app.stopping)) {
        FCGX_Request *fr = sb_calloc(1, sizeof(*fr));

        FCGX_InitRequest(fr, fcgi_app.listen_fd, 0);
        if (FCGX_Accept_r(fr) == 0) {
            serve(fr, db);
            continue;
        }
        FCGX_Free(fr, 1);
        free(fr);
        if (!atomic_load(&fcgi_app.stopping))
            usleep(ACCEPT_PAUSE_US);
    }
    fcgi_db_free(db);
    return NULL;
}

int
fcgi_server_start(void)
{
    nworkers = (size_t)fcgi_app.conf.threads;
    workers = sb_calloc(nworkers, sizeof(*workers));
    for (size_t i = 0; i < nworkers; i++) {
        if (pthread_create(&workers[i], NULL, worker, NULL) != 0) {
            sb_log_error("cannot start worker thread %zu", i);
            nworkers = i;
            return SB_ERR;
        }
    }
    return SB_OK;
}

void
fcgi_server_stop(void)
{
    atomic_store(&fcgi_app.stopping, true);
    FCGX_ShutdownPending();
    if (fcgi_app.listen_fd >= 0)
        shutdown(fcgi_app.listen_fd, SHUT_RDWR);
    for (size_t i = 0; i < nworkers; i++)
        pthread_join(workers[i], NULL);
    free(workers);
    workers = NULL;
    nworkers = 0;
    if (fcgi_app.listen_fd >= 0)
        close(fcgi_app.listen_fd);
    if (fcgi_app.mode == FCGI_MODE_SERVER && fcgi_app.conf.listen[0] == '/')
        unlink(fcgi_app.conf.listen);
    fcgi_app.listen_fd = -1;
}
