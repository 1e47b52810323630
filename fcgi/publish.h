/*
 * publish.h: publishing over REST (PROTOCOL.md sections 5.3 and 5.4):
 * POST /channels/{channel}/events with one event or {"events":[...]} (one
 * transaction), idempotent by event id or the Idempotency-Key header, and
 * POST /channels/{channel}/signals. The sender is the token's; input is
 * validated in C first (libswitchboard's envelope rules), then by the
 * database, which stores nothing when anything is wrong. Publishes are
 * stored through the group commit (commit.h): a request's events are
 * stored together, possibly in one transaction with other requests'.
 */
#ifndef FCGI_PUBLISH_H
#define FCGI_PUBLISH_H

#include "req.h"

int fcgi_publish_handle_events(struct fcgi_req *r);
int fcgi_publish_handle_signal(struct fcgi_req *r);
/* Take n from the token subject's publish_rate bucket: SB_OK, or SB_ERR
 * after answering 429 rate_limited with Retry-After. Publishes, signals
 * and task writes count against it. */
int fcgi_publish_rate(struct fcgi_req *r, long long n);

#endif
