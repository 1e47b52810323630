/*
 * flush.c: writing connections' queued messages (see flush.h).
 *
 * Frames are built here rather than by lws_write(LWS_WRITE_TEXT), which
 * frames one message per call: server frames are unmasked, so a frame is a
 * 2, 4 or 10 byte header and the payload, and several of them joined go out
 * through lws as raw bytes (LWS_WRITE_HTTP is passed straight to the
 * socket on a WebSocket connection; no extension is negotiated). What a
 * send() does not take, lws keeps in order and writes when the socket is
 * writable.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

#include "flush.h"
#include "metrics.h"
#include "sub.h"
#include "wsd.h"

/* Largest "events" frame built from queued event frames. */
#define BATCH_MAX_BYTES 65536
/* Bytes of frames joined for one send(); a frame larger than this goes
 * alone. */
#define JOIN_MAX_BYTES 65536
/* Header of an unmasked frame: 2, 4 or 10 bytes. */
#define FRAME_HEADER_MAX 10

static struct wsd_conn *pending;
static unsigned char join_buf[LWS_PRE + JOIN_MAX_BYTES];

static size_t
frame_header(unsigned char *h, size_t len)
{
    h[0] = 0x81; /* FIN, text */
    if (len < 126) {
        h[1] = (unsigned char)len;
        return 2;
    }
    if (len < 65536) {
        h[1] = 126;
        h[2] = (unsigned char)(len >> 8);
        h[3] = (unsigned char)len;
        return 4;
    }
    h[1] = 127;
    for (int i = 0; i < 8; i++)
        h[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
    return 10;
}

static int
write_raw(struct wsd_conn *c, unsigned char *p, size_t len, size_t frames)
{
    if (lws_write(c->wsi, p, len, LWS_WRITE_HTTP) < 0)
        return -1;
    wsd_stats.frames_out += frames;
    return 0;
}

/* One frame alone, its header written into the buffer's headroom. */
static int
write_one(struct wsd_conn *c, struct wsd_buf *b)
{
    unsigned char h[FRAME_HEADER_MAX];
    size_t hl = frame_header(h, b->len);
    unsigned char *p = wsd_buf_payload(b) - hl;

    memcpy(p, h, hl);
    return write_raw(c, p, hl + b->len, 1);
}

int
wsd_flush_write(struct wsd_conn *c)
{
    unsigned char *out = join_buf + LWS_PRE;
    size_t used = 0, frames = 0, messages;
    struct wsd_buf *b;
    int rc = 0;

    while (rc == 0 && (b = wsd_sendq_next_frame(&c->q, BATCH_MAX_BYTES,
                                                &messages)) != NULL) {
        size_t need = FRAME_HEADER_MAX + b->len;

        wsd_stats.messages_out += messages;
        if (frames == 0 && (c->q.head == NULL || need > JOIN_MAX_BYTES)) {
            /* Alone: no copy. */
            rc = write_one(c, b);
            wsd_buf_unref(b);
            return rc;
        }
        if (used + need > JOIN_MAX_BYTES) {
            /* Full: what is joined, then this frame; the rest waits. */
            rc = write_raw(c, out, used, frames);
            frames = used = 0;
            if (rc == 0)
                rc = write_one(c, b);
            wsd_buf_unref(b);
            return rc;
        }
        used += frame_header(out + used, b->len);
        memcpy(out + used, wsd_buf_payload(b), b->len);
        used += b->len;
        frames++;
        wsd_buf_unref(b);
    }
    if (rc == 0 && frames > 0)
        rc = write_raw(c, out, used, frames);
    return rc;
}

static void
set_cork(struct lws *wsi, int on)
{
    int fd = lws_get_socket_fd(wsi);

    if (fd >= 0)
        setsockopt(fd, IPPROTO_TCP, TCP_CORK, &on, sizeof(on));
}

void
wsd_flush_cork(struct lws *wsi)
{
    set_cork(wsi, 1);
}

void
wsd_flush_want(struct wsd_conn *c)
{
    if (c->flush_wanted)
        return;
    c->flush_wanted = true;
    c->flush_next = pending;
    pending = wsd_conn_ref(c);
}

/* Write what c has queued; what is left, or a close or ping to send, goes
 * to the writable callback. */
static void
flush(struct wsd_conn *c)
{
    if (c->close_code != 0 || c->ping_wanted || lws_partial_buffered(c->wsi)) {
        lws_callback_on_writable(c->wsi);
    } else if (wsd_flush_write(c) != 0) {
        /* The socket failed: the writable callback closes it. */
        c->broken = true;
        lws_callback_on_writable(c->wsi);
    } else {
        if (c->q.head != NULL)
            lws_callback_on_writable(c->wsi);
        if (c->q.bytes < (size_t)wsd_srv.conf.send_queue_max / 2)
            wsd_sub_conn_drained(c);
    }
    if (c->corked) {
        c->corked = false;
        set_cork(c->wsi, 0);
    }
}

void
wsd_flush_all(void)
{
    while (pending != NULL) {
        struct wsd_conn *c = pending;

        pending = c->flush_next;
        c->flush_next = NULL;
        c->flush_wanted = false;
        if (c->wsi != NULL)
            flush(c);
        wsd_conn_unref(c);
    }
}
