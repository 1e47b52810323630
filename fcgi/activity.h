/*
 * activity.h: GET /activity, the activity log search (PROTOCOL.md section
 * 5.11) over switchboard.search_activity(): levels, full-text query, time
 * range, channel, paging by opaque cursor, newest first.
 */
#ifndef FCGI_ACTIVITY_H
#define FCGI_ACTIVITY_H

#include "req.h"

int fcgi_activity_handle(struct fcgi_req *r);

#endif
