/*
 * channel.h: the grammar of namespaces, channels and permission patterns.
 *   namespace  ^[a-z][a-z0-9_]{0,31}$
 *   channel    namespace ":" name, name ^[A-Za-z0-9_][A-Za-z0-9_.\-/]{0,127}$
 *   pattern    a channel, or any prefix of one followed by a single final
 *              "*" that matches any (possibly empty) rest; "*" alone matches
 *              every channel.
 *   position   channel ["@" seq]: where a reader stands in a channel, as
 *              long-poll and SSE cursors and the WebSocket subscribe
 *              parameter write it; seq is a decimal 0..2^63-1 without sign.
 * Whether a namespace exists is the database's business (namespaces table).
 */
#ifndef SB_CHANNEL_H
#define SB_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "limits.h"

/* True when s[0..len) is a valid namespace. */
bool sb_namespace_valid(const char *s, size_t len);
/* 0 when channel (NUL-terminated) is valid; SB_ERR and err set to
 * SB_E_INVALID_CHANNEL with a message saying what is wrong otherwise. */
int sb_channel_check(const char *channel, struct sb_error *err);
/* Length of the namespace part of a valid channel (bytes before ':'). */
size_t sb_channel_namespace_len(const char *channel);
/* True when pattern is a valid permission pattern. */
bool sb_pattern_valid(const char *pattern);
/* True when channel matches pattern (both assumed valid). */
bool sb_pattern_match(const char *pattern, const char *channel);

/* A seq as text[0..len): SB_OK and *seq, or SB_ERR. */
int sb_seq_parse(const char *text, size_t len, int64_t *seq);
/* Parse the position text[0..len) into channel (NUL-terminated) and *seq
 * (-1 without "@seq"). SB_OK, or SB_ERR with err set: invalid_channel (the
 * name), invalid_cursor (the seq). */
int sb_position_parse(const char *text, size_t len,
                      char channel[SB_CHANNEL_MAX + 1], int64_t *seq,
                      struct sb_error *err);

#endif
