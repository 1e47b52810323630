/*
 * buf.h: reference-counted message bytes with LWS_PRE bytes of headroom, so
 * lws_write() can put the frame header in front. An event frame is encoded
 * once and the same buffer is queued to every subscriber (each queue holds
 * a reference); the event's own JSON is located inside the frame so that
 * several queued events can be joined into one "events" frame.
 */
#ifndef WSD_BUF_H
#define WSD_BUF_H

#include <stddef.h>

#include <libwebsockets.h>

struct wsd_buf {
    unsigned refs;
    size_t len;    /* payload bytes, starting at data + LWS_PRE */
    size_t ev_off; /* an event frame: the event JSON's offset in the */
    size_t ev_len; /* payload and length; ev_len 0 for other messages */
    unsigned char data[];
};

/* A buffer with room for len payload bytes (contents undefined), one
 * reference held by the caller. Never NULL. */
struct wsd_buf *wsd_buf_new(size_t len);
/* A buffer holding a copy of text[0..len). */
struct wsd_buf *wsd_buf_from_text(const char *text, size_t len);
/* The frame {"op":"event","event":<event>} around event[0..len), which is
 * one event JSON from the database or the encoder. */
struct wsd_buf *wsd_buf_event(const char *event, size_t len);
/* The payload (after the headroom). */
static inline unsigned char *
wsd_buf_payload(struct wsd_buf *b)
{
    return b->data + LWS_PRE;
}
/* Take another reference; returns b. */
struct wsd_buf *wsd_buf_ref(struct wsd_buf *b);
/* Drop a reference, freeing the buffer with the last one; NULL is a no-op. */
void wsd_buf_unref(struct wsd_buf *b);

#endif
