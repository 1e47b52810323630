/*
 * publish.h: the publish and signal ops. Publishes are validated here
 * (lib/envelope.c), checked against the token, and group-committed: they
 * gather for commit_window or until commit_batch of them wait, then go to
 * the database in one switchboard.publish_batch() call, and each is
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
