/*
 * parked.c: parked requests (see parked.h).
 */
#include <stdlib.h>
#include <string.h>

#include "parked.h"
#include "xalloc.h"

struct fcgi_parked *
fcgi_parked_new(struct fcgi_req *r, enum fcgi_park_kind kind, size_t npos)
{
    struct fcgi_parked *p = sb_calloc(1, sizeof(*p));

    p->req = r;
    p->kind = kind;
    p->pos = sb_calloc(npos > 0 ? npos : 1, sizeof(*p->pos));
    p->npos = npos;
    p->timer.index = FCGI_HEAP_NONE;
    p->timer.owner = p;
    p->event_names = true;
    return p;
}

struct fcgi_req *
fcgi_parked_release(struct fcgi_parked *p)
{
    struct fcgi_req *r;

    if (p == NULL)
        return NULL;
    r = p->req;
    sb_strbuf_release(&p->events);
    sb_strbuf_release(&p->reload);
    free(p->last_data);
    free(p->pos);
    free(p);
    return r;
}

void
fcgi_parked_free(struct fcgi_parked *p)
{
    fcgi_req_finish(fcgi_parked_release(p));
}

int
fcgi_parked_find(const struct fcgi_parked *p, const char *channel)
{
    for (size_t i = 0; i < p->npos; i++) {
        if (strcmp(p->pos[i].channel, channel) == 0)
            return (int)i;
    }
    return -1;
}
