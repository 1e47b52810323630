/*
 * sendq.h: a connection's queue of outgoing messages, bounded in bytes by
 * its owner. Items hold references to shared buffers. Bytes queued by a
 * replay (which the replay itself paces) are counted apart from the rest,
 * so only what the server pushes unasked can make a slow consumer.
 */
#ifndef WSD_SENDQ_H
#define WSD_SENDQ_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

struct wsd_qitem;

struct wsd_sendq {
    struct wsd_qitem *head, *tail;
    size_t bytes;      /* every queued payload byte */
    size_t live_bytes; /* of which not queued by a replay */
    size_t count;
};

/* Append buf (the queue takes its own reference). */
void wsd_sendq_push(struct wsd_sendq *q, struct wsd_buf *buf, bool replay);
/* The next frame to write, removed from the queue: the head message, or
 * when the head and the messages after it are event frames, one "events"
 * frame joining as many as fit in batch_max payload bytes. The caller owns
 * the returned reference; *messages says how many messages it carries.
 * NULL when the queue is empty. */
struct wsd_buf *wsd_sendq_next_frame(struct wsd_sendq *q, size_t batch_max,
                                     size_t *messages);
/* Drop everything; returns how many messages were dropped. */
size_t wsd_sendq_clear(struct wsd_sendq *q);

#endif
