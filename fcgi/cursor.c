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
    int64_t v;

    if (sb_seq_parse(text, len, &v) != SB_OK)
        return SB_ERR;
    *seq = (long long)v;
    return SB_OK;
}

/* sb_position_parse() says -1 for a position without "@seq". */
_Static_assert(FCGI_FROM_NOW == -1, "FCGI_FROM_NOW is -1");

int
fcgi_cursor_parse(const char *text, size_t len, struct fcgi_pos *pos,
                  struct sb_error *err)
{
    return sb_position_parse(text, len, pos->channel, &pos->cursor, err);
}

void
fcgi_cursor_format(const struct fcgi_pos *pos, size_t n, struct sb_strbuf *b)
{
    for (size_t i = 0; i < n; i++)
        sb_strbuf_printf(b, "%s%s@%lld", i > 0 ? "," : "", pos[i].channel,
                        (long long)pos[i].cursor);
}
