/*
 * cursor.h: positions in channels as clients write them: "channel@seq"
 * (long-poll cursor, SSE channel list entry), "channel" alone for "from
 * now", and the SSE combined cursor "a@1,b@2" (the id: line and
 * Last-Event-ID). A seq is a decimal integer 0..2^63-1 without sign or
 * leading '+'. Channel grammar as channel.h.
 */
#ifndef FCGI_CURSOR_H
#define FCGI_CURSOR_H

#include <stddef.h>

#include "strbuf.h"
#include "error.h"
#include "parked.h"

/* Parse text[0..len) into pos (channel, cursor; FCGI_FROM_NOW without
 * '@'). SB_OK, or SB_ERR with err set: invalid_cursor (the seq),
 * invalid_channel (the name). */
int fcgi_cursor_parse(const char *text, size_t len, struct fcgi_pos *pos,
                      struct sb_error *err);
/* A seq as text[0..len): SB_OK and *seq, or SB_ERR. */
int fcgi_cursor_seq(const char *text, size_t len, long long *seq);
/* Append "channel@seq" of every position, joined by ',', to b. */
void fcgi_cursor_format(const struct fcgi_pos *pos, size_t n,
                        struct sb_strbuf *b);

#endif
