/*
 * fanout.c: doorbells and signals to subscribers (see fanout.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "doorbell.h"
#include "fanout.h"
#include "log.h"
#include "metrics.h"
#include "server.h"
#include "wsd.h"
#include "xalloc.h"

#define READ_PAGE 1000
#define READ_PAGE_TEXT "1000"
/* While a live subscriber's queue is more than half full, the channel
 * pauses (and reads again after PAUSE_MS) so that subscribers that do read
 * get to write; after CONGESTION_MAX_MS it goes on regardless, and the
 * subscribers that still have not read are closed as slow consumers. */
#define PAUSE_MS 10
#define CONGESTION_MAX_MS 2000

static void read_channel(struct wsd_channel *ch);

static void
observe_delivery(struct wsd_channel *ch)
{
    if (ch->bell_us == 0 || ch->target > ch->delivered)
        return;
    wsd_hist_observe(&wsd_stats.delivery_seconds,
                     (double)(wsd_mono_us() - ch->bell_us) / 1e6);
    ch->bell_us = 0;
}

/* True when the channel should pause before its next event. */
static bool
pause_now(struct wsd_channel *ch)
{
    if (!wsd_channel_congested(ch)) {
        ch->congested_us = 0;
        return false;
    }
    if (ch->congested_us == 0)
        ch->congested_us = wsd_mono_us();
    return wsd_mono_us() - ch->congested_us < CONGESTION_MAX_MS * 1000;
}

static void
resume_cb(lws_sorted_usec_list_t *sul)
{
    struct wsd_channel *ch = lws_container_of(sul, struct wsd_channel, sul);

    wsd_fanout_kick(ch);
}

/* Deliver the rows; returns how many were read, or -1 after pausing. */
static int64_t
deliver_rows(struct wsd_channel *ch, PGresult *res)
{
    int n = PQntuples(res);

    for (int i = 0; i < n; i++) {
        if (pause_now(ch)) {
            wsd_timer_schedule(&ch->sul, resume_cb, PAUSE_MS * LWS_US_PER_MS);
            return -1;
        }
        int64_t seq = strtoll(PQgetvalue(res, i, 0), NULL, 10);
        struct wsd_buf *frame;

        if (seq <= ch->delivered)
            continue;
        frame = wsd_buf_event(PQgetvalue(res, i, 1),
                              (size_t)PQgetlength(res, i, 1));
        wsd_sub_deliver(ch, seq, frame);
        wsd_buf_unref(frame);
        ch->delivered = seq;
    }
    return n;
}

static void
read_done(PGresult *res, const struct sb_error *err, void *arg)
{
    struct wsd_channel *ch = arg;
    int64_t rows = 0;

    ch->reading = false;
    if (res == NULL) {
        sb_log_warn("fan-out: %s: read failed: %s", ch->name, err->message);
    } else {
        rows = deliver_rows(ch, res);
        if (rows < 0) { /* paused: resume_cb reads on */
            if (ch->nsubs == 0)
                wsd_channel_release(ch);
            return;
        }
        if (rows == 0 && ch->target > ch->delivered)
            ch->target = ch->delivered; /* announced but not there */
        observe_delivery(ch);
    }
    if (ch->nsubs == 0) {
        wsd_channel_release(ch);
        return;
    }
    if (res != NULL && (rows == READ_PAGE || ch->again ||
                        ch->target > ch->delivered)) {
        ch->again = false;
        read_channel(ch);
    }
}

static void
read_channel(struct wsd_channel *ch)
{
    char since[24];
    const char *params[3] = {ch->name, since, READ_PAGE_TEXT};

    snprintf(since, sizeof(since), "%lld", (long long)ch->delivered);
    if (wsd_db_read("SELECT seq, event FROM switchboard.events_after($1, $2, "
                    "$3)",
                    3, params, read_done, ch) == SB_OK)
        ch->reading = true;
}

void
wsd_fanout_kick(struct wsd_channel *ch)
{
    if (ch->delivered < 0)
        return; /* its first channel_info will start it */
    if (ch->reading) {
        ch->again = true;
        return;
    }
    read_channel(ch);
}

/* --- notifications --- */

static int
on_bell(const char *channel, int64_t seq, void *arg)
{
    struct wsd_channel *ch = wsd_channel_find(channel);

    if (ch == NULL || seq <= ch->target)
        return 0;
    ch->target = seq;
    if (ch->bell_us == 0)
        ch->bell_us = wsd_mono_us();
    if (ch->delivered >= 0 && ch->target > ch->delivered)
        wsd_fanout_kick(ch);
    return 0;
}

static void
on_signal(const char *payload)
{
    json_t *ev = json_loads(payload, 0, NULL);
    const char *name = json_string_value(json_object_get(ev, "channel"));
    struct wsd_channel *ch = name != NULL ? wsd_channel_find(name) : NULL;

    if (ch != NULL) {
        struct wsd_buf *frame = wsd_buf_event(payload, strlen(payload));

        wsd_sub_deliver_signal(ch, frame);
        wsd_buf_unref(frame);
    }
    json_decref(ev);
}

void
wsd_fanout_notify(const char *relname, const char *payload)
{
    struct sb_error err;

    if (strcmp(relname, "switchboard_signal") == 0) {
        on_signal(payload);
        return;
    }
    if (strcmp(relname, "switchboard") != 0)
        return;
    if (sb_doorbell_parse_cb(payload, strlen(payload), on_bell, NULL, &err) ==
        SB_ERR)
        sb_log_warn("fan-out: bad doorbell: %s", err.message);
}

/* --- resync --- */

static void
resync_channel(struct wsd_channel *ch)
{
    for (struct wsd_sub *s = ch->subs; s != NULL; s = s->ch_next) {
        if (s->state == WSD_SUB_REPLAY)
            wsd_sub_replay(s);
    }
    wsd_fanout_kick(ch);
}

void
wsd_fanout_resync(void)
{
    wsd_channel_each(resync_channel);
}
