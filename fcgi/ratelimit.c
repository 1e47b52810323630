/*
 * ratelimit.c: token buckets per subject (see ratelimit.h), in a hash
 * table under one mutex. Buckets that have refilled completely carry no
 * information, so when the table grows past PRUNE_AT they are dropped.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "ratelimit.h"
#include "xalloc.h"

#define NBUCKETS 1024
/* Entries before full buckets are pruned: bounds memory per process. */
#define PRUNE_AT 8192

struct bucket {
    struct bucket *next;
    char *subject;
    double tokens;
    int64_t at; /* monotonic ms of the last refill */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct bucket *table[NBUCKETS];
static size_t entries;

static unsigned
hash(const char *s)
{
    unsigned h = 2166136261u;

    while (*s != '\0')
        h = (h ^ (unsigned char)*s++) * 16777619u;
    return h % NBUCKETS;
}

static void
refill(struct bucket *b, int64_t now)
{
    double rate = (double)fcgi_app.conf.publish_rate;
    double burst = (double)fcgi_app.conf.publish_burst;

    b->tokens += (double)(now - b->at) * rate / 1000.0;
    if (b->tokens > burst)
        b->tokens = burst;
    b->at = now;
}

static void
prune(int64_t now)
{
    for (size_t i = 0; i < NBUCKETS; i++) {
        struct bucket **pp = &table[i];

        while (*pp != NULL) {
            struct bucket *b = *pp;

            refill(b, now);
            if (b->tokens >= (double)fcgi_app.conf.publish_burst) {
                *pp = b->next;
                free(b->subject);
                free(b);
                entries--;
            } else {
                pp = &b->next;
            }
        }
    }
}

static struct bucket *
find(const char *subject, int64_t now)
{
    unsigned h = hash(subject);
    struct bucket *b;

    for (b = table[h]; b != NULL; b = b->next) {
        if (strcmp(b->subject, subject) == 0)
            return b;
    }
    if (entries >= PRUNE_AT)
        prune(now);
    b = sb_calloc(1, sizeof(*b));
    b->subject = sb_strdup(subject);
    b->tokens = (double)fcgi_app.conf.publish_burst;
    b->at = now;
    b->next = table[h];
    table[h] = b;
    entries++;
    return b;
}

int
fcgi_ratelimit_take(const char *subject, long long n, long long *retry_ms)
{
    int64_t now = fcgi_mono_ms();
    /* A batch larger than the burst needs a full bucket and leaves a debt
     * that later publishes wait for, so it can pass at all. */
    double need = (double)(n < fcgi_app.conf.publish_burst
                               ? n
                               : fcgi_app.conf.publish_burst);
    struct bucket *b;
    int rc = SB_OK;

    pthread_mutex_lock(&lock);
    b = find(subject, now);
    refill(b, now);
    if (b->tokens >= need) {
        b->tokens -= (double)n;
    } else {
        *retry_ms = (long long)((need - b->tokens) * 1000.0 /
                                (double)fcgi_app.conf.publish_rate) +
                    1;
        rc = SB_AGAIN;
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

void
fcgi_ratelimit_clear(void)
{
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < NBUCKETS; i++) {
        while (table[i] != NULL) {
            struct bucket *b = table[i];

            table[i] = b->next;
            free(b->subject);
            free(b);
        }
    }
    entries = 0;
    pthread_mutex_unlock(&lock);
}
