/*
 * buf.c: reference-counted message bytes (see buf.h).
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "xalloc.h"

#define EVENT_HEAD "{\"op\":\"event\",\"event\":"

struct wsd_buf *
wsd_buf_new(size_t len)
{
    struct wsd_buf *b = sb_malloc(sizeof(*b) + LWS_PRE + len + 1);

    b->refs = 1;
    b->len = len;
    b->ev_off = 0;
    b->ev_len = 0;
    b->data[LWS_PRE + len] = '\0';
    return b;
}

struct wsd_buf *
wsd_buf_from_text(const char *text, size_t len)
{
    struct wsd_buf *b = wsd_buf_new(len);

    memcpy(wsd_buf_payload(b), text, len);
    return b;
}

struct wsd_buf *
wsd_buf_event(const char *event, size_t len)
{
    size_t head = sizeof(EVENT_HEAD) - 1;
    struct wsd_buf *b = wsd_buf_new(head + len + 1);
    unsigned char *p = wsd_buf_payload(b);

    memcpy(p, EVENT_HEAD, head);
    memcpy(p + head, event, len);
    p[head + len] = '}';
    b->ev_off = head;
    b->ev_len = len;
    return b;
}

struct wsd_buf *
wsd_buf_ref(struct wsd_buf *b)
{
    b->refs++;
    return b;
}

void
wsd_buf_unref(struct wsd_buf *b)
{
    if (b == NULL)
        return;
    SB_ASSERT(b->refs > 0);
    if (--b->refs == 0)
        free(b);
}
