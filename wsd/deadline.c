/*
 * deadline.c: the timing wheel (see deadline.h). WHEEL_SLOTS slots of one
 * tick each; a deadline further out than one turn waits in its slot and is
 * passed over until its turn comes.
 */
#include <libwebsockets.h>

#include "deadline.h"
#include "server.h"
#include "wsd.h"

/* 1,024 ticks of 100 ms: one turn is about 100 s, beyond the auth timeout,
 * ping interval and grace defaults; a token's expiry an hour out is looked
 * at once per turn. */
#define WHEEL_SLOTS 1024

static struct wsd_deadline *slots[WHEEL_SLOTS];
static size_t armed;
static int64_t done_tick; /* every slot up to this tick has been swept */
static lws_sorted_usec_list_t tick_sul;
static bool ticking;
/* The next deadline the running sweep looks at; a callback that disarms
 * it moves this on. */
static struct wsd_deadline *sweep_next;

static struct wsd_deadline **
slot_of(int64_t due_ms)
{
    return &slots[(due_ms / DEADLINE_TICK_MS) % WHEEL_SLOTS];
}

static void
link_in(struct wsd_deadline *d)
{
    struct wsd_deadline **head = slot_of(d->due_ms);

    d->prev = NULL;
    d->next = *head;
    if (*head != NULL)
        (*head)->prev = d;
    *head = d;
    d->armed = true;
    armed++;
}

static void
unlink_out(struct wsd_deadline *d)
{
    if (d == sweep_next)
        sweep_next = d->next;
    if (d->prev != NULL)
        d->prev->next = d->next;
    else
        *slot_of(d->due_ms) = d->next;
    if (d->next != NULL)
        d->next->prev = d->prev;
    d->prev = d->next = NULL;
    d->armed = false;
    armed--;
}

/* Fire what is due in the slot of tick t (what is due a turn or more
 * later stays). A callback may arm or disarm any deadline: sweep_next
 * keeps the walk valid, and done_tick (already t) sends a deadline armed
 * now to a later slot. */
static void
sweep_slot(int64_t t, int64_t now)
{
    struct wsd_deadline *d = slots[t % WHEEL_SLOTS];

    while (d != NULL) {
        sweep_next = d->next;
        if (d->due_ms <= now) {
            unlink_out(d);
            d->fn(d);
        }
        d = sweep_next;
    }
}

static void tick_cb(lws_sorted_usec_list_t *sul);

static void
schedule_tick(void)
{
    wsd_timer_schedule(&tick_sul, tick_cb, DEADLINE_TICK_MS * LWS_US_PER_MS);
    ticking = true;
}

static void
tick_cb(lws_sorted_usec_list_t *sul)
{
    int64_t now = sb_mono_ms();
    /* Only a slot whose whole tick has passed: all it holds for this turn
     * is due. */
    int64_t last = now / DEADLINE_TICK_MS - 1;
    int64_t first = done_tick + 1;

    ticking = false;
    if (last - first >= WHEEL_SLOTS) /* a stall: every slot once */
        first = last - WHEEL_SLOTS + 1;
    for (int64_t t = first; t <= last; t++) {
        done_tick = t;
        sweep_slot(t, now);
    }
    if (armed > 0 && !ticking)
        schedule_tick();
}

void
wsd_deadline_set(struct wsd_deadline *d, int64_t ms, wsd_deadline_fn fn)
{
    int64_t now = sb_mono_ms();

    if (d->armed)
        unlink_out(d);
    if (armed == 0 && !ticking)
        done_tick = now / DEADLINE_TICK_MS - 1;
    /* Never in a slot already swept: it would wait a whole turn. */
    d->due_ms = now + (ms > 0 ? ms : 0);
    if (d->due_ms / DEADLINE_TICK_MS <= done_tick)
        d->due_ms = (done_tick + 1) * DEADLINE_TICK_MS;
    d->fn = fn;
    link_in(d);
    if (!ticking)
        schedule_tick();
}

void
wsd_deadline_cancel(struct wsd_deadline *d)
{
    if (d->armed)
        unlink_out(d);
}

void
wsd_deadline_stop(void)
{
    lws_sul_cancel(&tick_sul);
    ticking = false;
}
