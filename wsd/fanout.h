/*
 * fanout.h: from the LISTEN connection to the subscribers. A doorbell
 * ({"channel": last_seq, ...}) makes each channel with local subscribers
 * that is behind read the new events from the table once (events_after,
 * not once per subscriber); each event is encoded once into a shared frame
 * queued to every live subscriber. Doorbells that arrive during a read are
 * merged into the next read. A signal notification carries the whole
 * event and is queued the same way, without a read.
 */
#ifndef WSD_FANOUT_H
#define WSD_FANOUT_H

#include "sub.h"

/* A notification from the LISTEN connection. */
void wsd_fanout_notify(const char *relname, const char *payload);
/* Read ch from its delivered seq on if it is behind (or already reading:
 * then once more afterwards). */
void wsd_fanout_kick(struct wsd_channel *ch);
/* LISTEN is (again) in force: every channel reads what it may have
 * missed, and stalled replays continue. */
void wsd_fanout_resync(void);

#endif
