/*
 * release.c: the release threads (see release.h): one queue guarded by a
 * mutex, threads that take up to FCGI_RELEASE_CHUNK requests at a time.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "app.h"
#include "log.h"
#include "poll.h"
#include "release.h"
#include "xalloc.h"

static struct {
    pthread_mutex_t lock; /* guards queue, stop */
    pthread_cond_t more;
    struct fcgi_release_list queue;
    bool stop;
    pthread_t *threads;
    size_t n;
} R = {.lock = PTHREAD_MUTEX_INITIALIZER, .more = PTHREAD_COND_INITIALIZER};

void
fcgi_release_add(struct fcgi_release_list *l, struct fcgi_parked *p)
{
    p->ready_next = NULL;
    if (l->tail != NULL)
        l->tail->ready_next = p;
    else
        l->head = p;
    l->tail = p;
    l->n++;
}

/* Answer (a long-poll) and finish p. */
static void
finish(struct fcgi_parked *p)
{
    if (p->kind == FCGI_PARK_POLL && p->ready_answer)
        fcgi_poll_answer(p);
    fcgi_parked_free(p);
    atomic_fetch_sub(&fcgi_app.n.parked, 1);
}

static void
finish_list(struct fcgi_parked *p)
{
    while (p != NULL) {
        struct fcgi_parked *next = p->ready_next;

        finish(p);
        p = next;
    }
}

/* Take up to FCGI_RELEASE_CHUNK requests off the queue (lock held). */
static struct fcgi_parked *
take_chunk(void)
{
    struct fcgi_parked *head = R.queue.head, *last = head;

    for (size_t i = 1; i < FCGI_RELEASE_CHUNK && last->ready_next != NULL; i++)
        last = last->ready_next;
    R.queue.head = last->ready_next;
    if (R.queue.head == NULL)
        R.queue.tail = NULL;
    last->ready_next = NULL;
    return head;
}

static void *
run(void *arg)
{
    pthread_mutex_lock(&R.lock);
    for (;;) {
        struct fcgi_parked *chunk;

        while (R.queue.head == NULL && !R.stop)
            pthread_cond_wait(&R.more, &R.lock);
        if (R.queue.head == NULL)
            break; /* stopping, and nothing is left */
        chunk = take_chunk();
        pthread_mutex_unlock(&R.lock);
        finish_list(chunk);
        pthread_mutex_lock(&R.lock);
    }
    pthread_mutex_unlock(&R.lock);
    return NULL;
}

void
fcgi_release_start(size_t n)
{
    R.stop = false;
    R.threads = sb_calloc(n > 0 ? n : 1, sizeof(*R.threads));
    for (R.n = 0; R.n < n; R.n++) {
        if (pthread_create(&R.threads[R.n], NULL, run, NULL) != 0) {
            sb_log_warn("cannot start release thread %zu", R.n);
            break;
        }
    }
}

void
fcgi_release_stop(void)
{
    pthread_mutex_lock(&R.lock);
    R.stop = true;
    pthread_cond_broadcast(&R.more);
    pthread_mutex_unlock(&R.lock);
    for (size_t i = 0; i < R.n; i++)
        pthread_join(R.threads[i], NULL);
    free(R.threads);
    R.threads = NULL;
    R.n = 0;
}

void
fcgi_release_hand(struct fcgi_release_list *l)
{
    if (l->head == NULL)
        return;
    if (R.n == 0) {
        finish_list(l->head);
    } else {
        pthread_mutex_lock(&R.lock);
        if (R.queue.tail != NULL)
            R.queue.tail->ready_next = l->head;
        else
            R.queue.head = l->head;
        R.queue.tail = l->tail;
        if (l->n > FCGI_RELEASE_CHUNK)
            pthread_cond_broadcast(&R.more);
        else
            pthread_cond_signal(&R.more);
        pthread_mutex_unlock(&R.lock);
    }
    *l = (struct fcgi_release_list){0};
}
