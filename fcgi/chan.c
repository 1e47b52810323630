/*
 * chan.c: channels and integer parameters of a request (see chan.h).
 */
#include <string.h>

#include "xalloc.h"
#include "auth.h"
#include "chan.h"
#include "channel.h"
#include "cursor.h"

const char *
fcgi_chan_from_path(struct fcgi_req *r, size_t seg, enum sb_verb verb)
{
    const char *channel = r->segs[seg];
    struct sb_error err;

    if (sb_channel_check(channel, &err) != SB_OK) {
        fcgi_req_error(r, &err, NULL);
        return NULL;
    }
    if (fcgi_auth_allow(r, verb, channel) != SB_OK)
        return NULL;
    return channel;
}

int
fcgi_chan_int_param(struct fcgi_req *r, const char *name, long long min,
                    long long max, enum sb_errcode code, long long *v)
{
    const char *text = fcgi_query_get(r->query, name);
    long long x;

    if (text == NULL)
        return SB_OK;
    if (fcgi_cursor_seq(text, strlen(text), &x) != SB_OK || x < min ||
        x > max)
        return fcgi_req_fail(r, code,
                             "%s: %s must be an integer from %lld to %lld",
                             sb_errcode_message(code), name, min, max);
    *v = x;
    return SB_OK;
}
