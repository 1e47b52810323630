/*
 * history.h: the history and presence ops (PROTOCOL.md 4.9, 4.10), each
 * one read answered when it completes.
 */
#ifndef WSD_HISTORY_H
#define WSD_HISTORY_H

struct wsd_req;

void wsd_history_handle_history(const struct wsd_req *r);
void wsd_history_handle_presence(const struct wsd_req *r);

#endif
