/*
 * publish.h: the publish and signal ops. Publishes are validated here
 * (lib/envelope.c), checked against the token, and group-committed: one
 * batch is in flight at a time, and what gathers meanwhile (up to
 * commit_batch) goes as the next switchboard.publish_batch_audited() call
 * the moment it commits; a publish reaching an idle writer goes when the
 * loop turn ends (or after commit_window when one is set). Each is
 * acknowledged with its seq after the commit. Signals go one by one to
 * switchboard.signal(), in order, on the same connection. Both count
 * against the connection's token bucket (publish_rate, publish_burst).
 */
#ifndef WSD_PUBLISH_H
#define WSD_PUBLISH_H

#include <stdbool.h>

struct wsd_req;

void wsd_publish_handle_publish(const struct wsd_req *r);
void wsd_publish_handle_signal(const struct wsd_req *r);
/* Send what is gathered now (shutdown). */
void wsd_publish_flush(void);
/* A loop turn ends: with commit_window 0, send what it gathered. */
void wsd_publish_turn_end(void);
/* True while publishes wait to be sent or acknowledged. */
bool wsd_publish_busy(void);

#endif
