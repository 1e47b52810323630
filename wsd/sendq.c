/*
 * sendq.c: a connection's queue of outgoing messages (see sendq.h).
 */
#include <stdlib.h>
#include <string.h>

#include "sendq.h"
#include "xalloc.h"

#define EVENTS_HEAD "{\"op\":\"events\",\"events\":["
#define EVENTS_TAIL "]}"

struct wsd_qitem {
    struct wsd_qitem *next;
    struct wsd_buf *buf;
    bool replay;
};

void
wsd_sendq_push(struct wsd_sendq *q, struct wsd_buf *buf, bool replay)
{
    struct wsd_qitem *it = sb_malloc(sizeof(*it));

    it->next = NULL;
    it->buf = wsd_buf_ref(buf);
    it->replay = replay;
    if (q->tail != NULL)
        q->tail->next = it;
    else
        q->head = it;
    q->tail = it;
    q->bytes += buf->len;
    if (!replay)
        q->live_bytes += buf->len;
    q->count++;
}

/* Unlink the head and return its buffer reference. */
static struct wsd_buf *
pop(struct wsd_sendq *q)
{
    struct wsd_qitem *it = q->head;
    struct wsd_buf *buf = it->buf;

    q->head = it->next;
    if (q->head == NULL)
        q->tail = NULL;
    q->bytes -= buf->len;
    if (!it->replay)
        q->live_bytes -= buf->len;
    q->count--;
    free(it);
    return buf;
}

/* How many leading event frames fit in batch_max bytes once joined. */
static size_t
batchable(const struct wsd_sendq *q, size_t batch_max, size_t *total)
{
    size_t n = 0;
    size_t len = sizeof(EVENTS_HEAD) - 1 + sizeof(EVENTS_TAIL) - 1;

    for (const struct wsd_qitem *it = q->head; it != NULL; it = it->next) {
        if (it->buf->ev_len == 0 || len + it->buf->ev_len + 1 > batch_max)
            break;
        len += it->buf->ev_len + (n > 0);
        n++;
    }
    *total = len;
    return n;
}

static struct wsd_buf *
join(struct wsd_sendq *q, size_t n, size_t total)
{
    struct wsd_buf *out = wsd_buf_new(total);
    unsigned char *p = wsd_buf_payload(out);

    memcpy(p, EVENTS_HEAD, sizeof(EVENTS_HEAD) - 1);
    p += sizeof(EVENTS_HEAD) - 1;
    for (size_t i = 0; i < n; i++) {
        struct wsd_buf *b = pop(q);

        if (i > 0)
            *p++ = ',';
        memcpy(p, wsd_buf_payload(b) + b->ev_off, b->ev_len);
        p += b->ev_len;
        wsd_buf_unref(b);
    }
    memcpy(p, EVENTS_TAIL, sizeof(EVENTS_TAIL) - 1);
    return out;
}

struct wsd_buf *
wsd_sendq_next_frame(struct wsd_sendq *q, size_t batch_max, size_t *messages)
{
    size_t total;
    size_t n;

    *messages = 0;
    if (q->head == NULL)
        return NULL;
    n = batchable(q, batch_max, &total);
    if (n < 2) {
        *messages = 1;
        return pop(q);
    }
    *messages = n;
    return join(q, n, total);
}

size_t
wsd_sendq_clear(struct wsd_sendq *q)
{
    size_t n = 0;

    while (q->head != NULL) {
        wsd_buf_unref(pop(q));
        n++;
    }
    return n;
}
