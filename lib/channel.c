/*
 * channel.c: a hand-written scanner for the namespace, channel and
 * permission-pattern grammar of channel.h. Inputs are bounded by
 * SB_NAMESPACE_MAX, SB_CHANNEL_NAME_MAX and SB_CHANNEL_MAX (limits.h).
 */
#include "channel.h"

#include <string.h>

#include "limits.h"
#include "xalloc.h"

static bool
ns_first(unsigned char c)
{
    return c >= 'a' && c <= 'z';
}

static bool
ns_char(unsigned char c)
{
    return ns_first(c) || (c >= '0' && c <= '9') || c == '_';
}

static bool
name_first(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_';
}

static bool
name_char(unsigned char c)
{
    return name_first(c) || c == '.' || c == '-' || c == '/';
}

/* Index of the first byte of s[0..len) that breaks the grammar given by
 * first/rest, or len when all of it fits. */
static size_t
scan(const char *s, size_t len, bool (*first)(unsigned char),
     bool (*rest)(unsigned char))
{
    size_t i;

    if (len > 0 && !first((unsigned char)s[0]))
        return 0;
    for (i = 1; i < len; i++) {
        if (!rest((unsigned char)s[i]))
            return i;
    }
    return len;
}

bool
sb_namespace_valid(const char *s, size_t len)
{
    if (s == NULL || len == 0 || len > SB_NAMESPACE_MAX)
        return false;
    return scan(s, len, ns_first, ns_char) == len;
}

static int
bad(struct sb_error *err, const char *what)
{
    return sb_error_set(err, SB_E_INVALID_CHANNEL, "invalid channel: %s", what);
}

static int
check_namespace(const char *s, size_t len, struct sb_error *err)
{
    size_t at;

    if (len == 0)
        return bad(err, "empty namespace");
    if (len > SB_NAMESPACE_MAX)
        return bad(err, "namespace longer than 32 bytes");
    at = scan(s, len, ns_first, ns_char);
    if (at == 0)
        return bad(err, "namespace must start with a lower-case letter");
    if (at < len)
        return sb_error_set(err, SB_E_INVALID_CHANNEL,
                            "invalid channel: bad character in namespace "
                            "at byte %zu",
                            at + 1);
    return SB_OK;
}

static int
check_name(const char *s, size_t len, size_t offset, struct sb_error *err)
{
    size_t at;

    if (len == 0)
        return bad(err, "empty name");
    if (len > SB_CHANNEL_NAME_MAX)
        return bad(err, "name longer than 128 bytes");
    at = scan(s, len, name_first, name_char);
    if (at == 0)
        return bad(err, "name must start with a letter, digit or '_'");
    if (at < len)
        return sb_error_set(err, SB_E_INVALID_CHANNEL,
                            "invalid channel: bad character in name at "
                            "byte %zu",
                            offset + at + 1);
    return SB_OK;
}

int
sb_channel_check(const char *channel, struct sb_error *err)
{
    const char *colon;
    size_t ns_len;

    if (channel == NULL || channel[0] == '\0')
        return bad(err, "empty");
    colon = strchr(channel, ':');
    if (colon == NULL)
        return bad(err, "missing namespace");
    ns_len = (size_t)(colon - channel);
    if (check_namespace(channel, ns_len, err) != SB_OK)
        return SB_ERR;
    return check_name(colon + 1, strlen(colon + 1), ns_len + 1, err);
}

size_t
sb_channel_namespace_len(const char *channel)
{
    SB_ASSERT(channel != NULL);
    return strcspn(channel, ":");
}

/* True when s[0..len) is the start of some valid channel (possibly the
 * whole of one, possibly empty). */
static bool
channel_prefix_valid(const char *s, size_t len)
{
    const char *colon = memchr(s, ':', len);
    size_t ns_len, name_len;

    if (colon == NULL)
        return len <= SB_NAMESPACE_MAX &&
               scan(s, len, ns_first, ns_char) == len;
    ns_len = (size_t)(colon - s);
    name_len = len - ns_len - 1;
    if (!sb_namespace_valid(s, ns_len) || name_len > SB_CHANNEL_NAME_MAX)
        return false;
    return scan(colon + 1, name_len, name_first, name_char) == name_len;
}

bool
sb_pattern_valid(const char *pattern)
{
    size_t len;

    if (pattern == NULL || pattern[0] == '\0')
        return false;
    len = strlen(pattern);
    if (pattern[len - 1] != '*')
        return sb_channel_check(pattern, NULL) == SB_OK;
    return channel_prefix_valid(pattern, len - 1);
}

bool
sb_pattern_match(const char *pattern, const char *channel)
{
    size_t len;

    SB_ASSERT(pattern != NULL && channel != NULL);
    len = strlen(pattern);
    if (len > 0 && pattern[len - 1] == '*')
        return strncmp(pattern, channel, len - 1) == 0;
    return strcmp(pattern, channel) == 0;
}

int
sb_seq_parse(const char *text, size_t len, int64_t *seq)
{
    uint64_t v = 0;

    if (len == 0 || len > 19)
        return SB_ERR;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return SB_ERR;
        v = v * 10 + (uint64_t)(text[i] - '0');
    }
    if (v > (uint64_t)INT64_MAX)
        return SB_ERR;
    *seq = (int64_t)v;
    return SB_OK;
}

int
sb_position_parse(const char *text, size_t len,
                  char channel[SB_CHANNEL_MAX + 1], int64_t *seq,
                  struct sb_error *err)
{
    const char *at = memchr(text, '@', len);
    size_t clen = at != NULL ? (size_t)(at - text) : len;

    *seq = -1;
    if (clen == 0 || clen > SB_CHANNEL_MAX)
        return sb_error_set(err, SB_E_INVALID_CHANNEL,
                            "invalid channel: empty or longer than %d bytes",
                            SB_CHANNEL_MAX);
    memcpy(channel, text, clen);
    channel[clen] = '\0';
    if (sb_channel_check(channel, err) != SB_OK)
        return SB_ERR;
    if (at != NULL && sb_seq_parse(at + 1, len - clen - 1, seq) != SB_OK)
        return sb_error_set(err, SB_E_INVALID_CURSOR,
                            "invalid cursor: '%.*s' is not channel@seq",
                            (int)(len > 200 ? 200 : len), text);
    return SB_OK;
}
