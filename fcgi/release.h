/*
 * release.h: the threads that finish parked requests for the waiter, so
 * that the requests one doorbell releases are answered on every core
 * while the waiter goes on serving doorbells. The waiter takes a request
 * out of all its structures (index, timers, epoll) and hands it over;
 * a release thread then writes a long-poll's answer (gathered by the
 * waiter from the events it read once per channel) and finishes the
 * request towards the web server. Requests travel in chunks of
 * FCGI_RELEASE_CHUNK, so the threads share a large release evenly.
 */
#ifndef FCGI_RELEASE_H
#define FCGI_RELEASE_H

#include <stddef.h>

#include "parked.h"

/* Requests a release thread takes from the queue at a time. */
#define FCGI_RELEASE_CHUNK 32

/* Requests the waiter gathered during one turn of its loop. */
struct fcgi_release_list {
    struct fcgi_parked *head, *tail;
    size_t n;
};

/* Start n threads. With none (n is 0, or no thread could start: logged)
 * fcgi_release_hand finishes the requests itself. */
void fcgi_release_start(size_t n);
/* Finish what is queued, then stop and join the threads. */
void fcgi_release_stop(void);

/* Append p (owned by the waiter, out of all its structures) to l. */
void fcgi_release_add(struct fcgi_release_list *l, struct fcgi_parked *p);
/* Hand every request of l over (l is empty afterwards): a long-poll is
 * answered with what it gathered, then each is finished and freed and
 * counted out of the parked gauge. Without threads, done here. */
void fcgi_release_hand(struct fcgi_release_list *l);

#endif
