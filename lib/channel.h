/*
 * channel.h: the grammar of namespaces, channels and permission patterns.
 *   namespace  ^[a-z][a-z0-9_]{0,31}$
 *   channel    namespace ":" name, name ^[A-Za-z0-9_][A-Za-z0-9_.\-/]{0,127}$
 *   pattern    a channel, or any prefix of one followed by a single final
 *              "*" that matches any (possibly empty) rest; "*" alone matches
 *              every channel.
 * Whether a namespace exists is the database's business (namespaces table).
 */
#ifndef SB_CHANNEL_H
#define SB_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

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

#endif
