/*
 * history.h: reading channels over REST (PROTOCOL.md sections 5.5-5.7):
 * GET /channels/{channel}/events (history after or before a seq),
 * GET /channels (the channels the token may read), GET /channels/{channel}
 * (one channel's counters) and GET /channels/{channel}/presence.
 */
#ifndef FCGI_HISTORY_H
#define FCGI_HISTORY_H

#include "req.h"

int fcgi_history_handle_events(struct fcgi_req *r);
int fcgi_history_handle_channels(struct fcgi_req *r);
int fcgi_history_handle_channel(struct fcgi_req *r);
int fcgi_history_handle_presence(struct fcgi_req *r);

#endif
