/*
 * chan.h: the channel a route names in its path (segment 1), checked
 * against the grammar (422 invalid_channel) and the token (403).
 */
#ifndef FCGI_CHAN_H
#define FCGI_CHAN_H

#include "req.h"
#include "token.h"

/* The channel of r's path segment seg, or NULL after answering. */
const char *fcgi_chan_from_path(struct fcgi_req *r, size_t seg,
                                enum sb_verb verb);
/* An integer query parameter within [min, max] (absent: *v unchanged).
 * SB_OK, or SB_ERR after answering with code. */
int fcgi_chan_int_param(struct fcgi_req *r, const char *name, long long min,
                        long long max, enum sb_errcode code, long long *v);

#endif
