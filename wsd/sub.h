/*
 * sub.h: channels and subscriptions of this process.
 *
 * A channel that has local subscribers has one entry here, with the seq up
 * to which this process has read it from the table and fanned it out
 * ("delivered") and the highest seq a doorbell announced ("target").
 *
 * Each subscription keeps next_seq, the seq its client must receive next,
 * and accepts an event only when its seq equals next_seq; an event below
 * it is a duplicate and dropped, an event above it means the subscription
 * is behind and catches up from the table (events_after from next_seq - 1,
 * in pages paced by its send queue) before it takes live events again. So
 * the switch from replay to live has no gap and no duplicate by
 * construction, whatever order the reads complete in.
 */
#ifndef WSD_SUB_H
#define WSD_SUB_H

#include <stdbool.h>
#include <stdint.h>

#include "conn.h"

struct wsd_req;

enum wsd_sub_state {
    WSD_SUB_STARTING, /* waiting for channel_info */
    WSD_SUB_REPLAY,   /* catching up from the table */
    WSD_SUB_LIVE,     /* taking events from the channel's fan-out */
};

struct wsd_sub {
    struct wsd_sub *c_next;            /* the connection's list */
    struct wsd_sub *ch_prev, *ch_next; /* the channel's list */
    struct wsd_conn *conn;
    struct wsd_channel *ch;
    unsigned refs; /* one for the lists, one per running query */
    bool gone;     /* unsubscribed; freed with the last reference */
    bool reading;  /* a replay page is being read */
    bool present;  /* presence_join was sent */
    bool waiting;  /* for its channel's channel_info answer ... */
    unsigned ask;  /* ... to the ask of this number or a later one */
    enum wsd_sub_state state;
    int64_t next_seq;
    int64_t since; /* as asked, or -1 */
    json_t *ref;   /* the subscribe's ref until subscribed is sent */
};

struct wsd_channel {
    struct wsd_channel *hnext;
    char *name;
    int64_t delivered; /* -1 until the first channel_info */
    int64_t target;
    int64_t oldest; /* oldest_seq as channel_info last said */
    unsigned asked;  /* channel_info queries sent (numbers them) */
    unsigned asking; /* of which unanswered */
    bool reading; /* an events_after read is running */
    bool again;   /* read again when it completes */
    int64_t bell_us; /* first unserved doorbell, monotonic; 0: none */
    int64_t congested_us; /* since when a subscriber's queue is too full */
    lws_sorted_usec_list_t sul; /* read again after a congestion pause */
    struct wsd_sub *subs;
    int nsubs;
};

/* The ops. */
void wsd_sub_handle_subscribe(const struct wsd_req *r);
void wsd_sub_handle_unsubscribe(const struct wsd_req *r);

/* Subscribe c to the positions of list ("chat:a@41,activity:main", the
 * upgrade request's subscribe parameter) as if it had sent one subscribe
 * for each, without ref; a bad entry is answered with an error. */
void wsd_sub_open_list(struct wsd_conn *c, const char *list);
/* The connection closed: end its subscriptions (presence leave). */
void wsd_sub_conn_closed(struct wsd_conn *c);
/* The connection's queue drained below half: continue paced replays. */
void wsd_sub_conn_drained(struct wsd_conn *c);
/* The token changed: end subscriptions it no longer allows. */
void wsd_sub_recheck(struct wsd_conn *c);

/* The channel entry for name, or NULL when nobody here subscribes. */
struct wsd_channel *wsd_channel_find(const char *name);
/* Call fn for every channel. */
void wsd_channel_each(void (*fn)(struct wsd_channel *ch));
/* Release ch if nothing uses it any more. */
void wsd_channel_release(struct wsd_channel *ch);

/* True when a live subscriber of ch has more than half its queue bound
 * waiting. */
bool wsd_channel_congested(const struct wsd_channel *ch);
/* Hand one event (seq, shared frame) of ch to its live subscriptions. */
void wsd_sub_deliver(struct wsd_channel *ch, int64_t seq,
                     struct wsd_buf *frame);
/* Hand a signal frame to every subscription of ch that is not starting. */
void wsd_sub_deliver_signal(struct wsd_channel *ch, struct wsd_buf *frame);
/* Continue the replay of s if its queue allows. */
void wsd_sub_replay(struct wsd_sub *s);

#endif
