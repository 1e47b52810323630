/*
 * cgi.c: CGI mode (see cgi.h).
 */
#include <pthread.h>
#include <stdbool.h>

#include "app.h"
#include "cgi.h"
#include "db.h"
#include "req.h"
#include "route.h"
#include "waiter.h"
#include "xalloc.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static bool done;

void
fcgi_cgi_done(void)
{
    pthread_mutex_lock(&lock);
    done = true;
    pthread_cond_signal(&cond);
    pthread_mutex_unlock(&lock);
}

int
fcgi_cgi_run(void)
{
    struct fcgi_db *db = fcgi_db_new(fcgi_app.common.database_url);
    struct fcgi_req *r = fcgi_req_new(NULL, db);

    if (fcgi_route_dispatch(r) != SB_AGAIN)
        fcgi_req_finish(r);
    pthread_mutex_lock(&lock);
    while (!done)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    fcgi_waiter_stop();
    fcgi_db_free(db);
    return 0;
}
