/*
 * cursor.c: channel positions as text (see cursor.h).
 */
#include <stdint.h>
#include <string.h>

#include "xalloc.h"
#include "channel.h"
#include "cursor.h"
#include "limits.h"

int
fcgi_cursor_seq(const char *text, size_t len, long long *seq)
{
    unsigned long long v = 0;

    if (len == 0 || len > 19)
        return SB_ERR;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return SB_ERR;
        v = v * 10 + (unsigned long long)(text[i] - '0');
    }
    if (v > (unsigned long long)INT64_MAX)
        return SB_ERR;
    *seq = (long long)v;
    return SB_OK;
}

int
fcgi_cursor_parse(const char *text, size_t len, struct fcgi_pos *pos,
                  struct sb_error *err)
{
    const char *at = memchr(text, '@', len);
    size_t clen = at != NULL ? (size_t)(at - text) : len;
    long long seq = FCGI_FROM_NOW;

    if (clen == 0 || clen > SB_CHANNEL_MAX)
        return sb_error_set(err, SB_E_INVALID_CHANNEL,
                            "invalid channel: empty or longer than %d bytes",
                            SB_CHANNEL_MAX);
    memcpy(pos->channel, text, clen);
    pos->channel[clen] = '\0';
    if (sb_channel_check(pos->channel, err) != SB_OK)
        return SB_ERR;
    if (at != NULL &&
        fcgi_cursor_seq(at + 1, len - clen - 1, &seq) != SB_OK)
        return sb_error_set(err, SB_E_INVALID_CURSOR,
                            "invalid cursor: '%.*s' is not channel@seq",
                            (int)(len > 200 ? 200 : len), text);
    pos->cursor = seq;
    return SB_OK;
}

void
fcgi_cursor_format(const struct fcgi_pos *pos, size_t n, struct fcgi_buf *b)
{
    for (size_t i = 0; i < n; i++)
        fcgi_buf_printf(b, "%s%s@%lld", i > 0 ? "," : "", pos[i].channel,
                        (long long)pos[i].cursor);
}
