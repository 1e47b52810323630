/*
 * lastseq.c: the last seq of channels from the doorbells (see lastseq.h).
 */
#include <stdlib.h>
#include <string.h>

#include "chanindex.h"
#include "lastseq.h"
#include "limits.h"
#include "xalloc.h"

struct slot {
    char channel[SB_CHANNEL_MAX + 1]; /* "" when free */
    int64_t seq;
};

struct fcgi_lastseq {
    struct slot *v; /* FCGI_LASTSEQ_SLOTS */
};

struct fcgi_lastseq *
fcgi_lastseq_new(void)
{
    struct fcgi_lastseq *t = sb_calloc(1, sizeof(*t));

    t->v = sb_calloc(FCGI_LASTSEQ_SLOTS, sizeof(*t->v));
    return t;
}

void
fcgi_lastseq_free(struct fcgi_lastseq *t)
{
    if (t == NULL)
        return;
    free(t->v);
    free(t);
}

void
fcgi_lastseq_clear(struct fcgi_lastseq *t)
{
    /* A fresh zeroed table rather than a loop that would touch (and make
     * resident) every page of it. */
    free(t->v);
    t->v = sb_calloc(FCGI_LASTSEQ_SLOTS, sizeof(*t->v));
}

static struct slot *
slot_of(const struct fcgi_lastseq *t, const char *channel)
{
    return &t->v[fcgi_index_hash(channel) % FCGI_LASTSEQ_SLOTS];
}

void
fcgi_lastseq_set(struct fcgi_lastseq *t, const char *channel, int64_t seq)
{
    struct slot *s = slot_of(t, channel);

    if (strcmp(s->channel, channel) == 0) {
        if (seq > s->seq)
            s->seq = seq;
        return;
    }
    if (strlen(channel) >= sizeof(s->channel))
        return;
    strcpy(s->channel, channel);
    s->seq = seq;
}

int64_t
fcgi_lastseq_get(const struct fcgi_lastseq *t, const char *channel)
{
    const struct slot *s = slot_of(t, channel);

    return strcmp(s->channel, channel) == 0 ? s->seq : -1;
}
