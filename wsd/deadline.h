/*
 * deadline.h: per-connection deadlines (auth timeout, token expiry and
 * grace, ping and idle) on one timing wheel. lws timers live in one sorted
 * list, and a load of connections opened together arms timers due at the
 * same moment, so each insertion walks the whole list; here arming and
 * cancelling are O(1), and one lws timer ticks every DEADLINE_TICK_MS
 * while any deadline is armed. A deadline fires on the first tick at or
 * after its time (up to one tick late).
 */
#ifndef WSD_DEADLINE_H
#define WSD_DEADLINE_H

#include <stdbool.h>
#include <stdint.h>

/* The wheel's resolution. */
#define DEADLINE_TICK_MS 100

struct wsd_deadline;
typedef void (*wsd_deadline_fn)(struct wsd_deadline *d);

/* Embedded in its owner (zeroed: not armed); the owner finds itself with
 * lws_container_of. */
struct wsd_deadline {
    struct wsd_deadline *prev, *next;
    int64_t due_ms; /* monotonic milliseconds */
    wsd_deadline_fn fn;
    bool armed;
};

/* Arm d to call fn in ms milliseconds (0 or less: on the next tick),
 * replacing what it was armed for. */
void wsd_deadline_set(struct wsd_deadline *d, int64_t ms, wsd_deadline_fn fn);
/* Disarm d; one not armed is left alone. */
void wsd_deadline_cancel(struct wsd_deadline *d);
/* Stop the tick (at exit; armed deadlines are forgotten). */
void wsd_deadline_stop(void);

#endif
