/*
 * fuzz_channel.c: the channel grammar on arbitrary bytes. The input (up to
 * its first NUL) is checked as a namespace, a channel and a pattern; a
 * valid channel must also be a valid pattern that matches itself, and so
 * must the channel followed by '*'; a valid namespace followed by ":x"
 * must be a valid channel. The input is then split in two, at its
 * first newline or else in the middle, and the halves matched as pattern
 * and channel both ways round when the grammar allows it.
 */
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "fuzz.h"
#include "limits.h"

/* A valid namespace followed by ":x" is a valid channel. */
static void
check_namespace(const char *s, size_t len)
{
    char *channel;

    if (!sb_namespace_valid(s, len))
        return;
    channel = sb_asprintf("%s:x", s);
    SB_ASSERT(sb_channel_check(channel, NULL) == SB_OK);
    SB_ASSERT(sb_channel_namespace_len(channel) == len);
    free(channel);
}

static void
check_channel(const char *s)
{
    struct sb_error err;
    char *star;
    size_t ns;

    if (sb_channel_check(s, &err) != SB_OK) {
        SB_ASSERT(err.code == SB_E_INVALID_CHANNEL);
        return;
    }
    SB_ASSERT(strlen(s) <= SB_CHANNEL_MAX);
    ns = sb_channel_namespace_len(s);
    SB_ASSERT(s[ns] == ':' && sb_namespace_valid(s, ns));
    SB_ASSERT(sb_pattern_valid(s) && sb_pattern_match(s, s));
    SB_ASSERT(sb_pattern_match("*", s));
    star = sb_asprintf("%s*", s);
    SB_ASSERT(sb_pattern_valid(star) && sb_pattern_match(star, s));
    free(star);
}

static void
check_pattern(const char *s)
{
    size_t len = strlen(s);
    struct sb_error err;

    if (!sb_pattern_valid(s))
        return;
    SB_ASSERT(len <= SB_CHANNEL_MAX + 1);
    if (s[len - 1] != '*')
        SB_ASSERT(sb_channel_check(s, &err) == SB_OK);
    else
        SB_ASSERT(strchr(s, '*') == s + len - 1);
}

/* pattern against channel, when each is what the grammar says. */
static void
check_match(const char *pattern, const char *channel)
{
    size_t len = strlen(pattern);
    bool want;

    if (!sb_pattern_valid(pattern) || sb_channel_check(channel, NULL) != SB_OK)
        return;
    if (pattern[len - 1] == '*')
        want = strncmp(pattern, channel, len - 1) == 0;
    else
        want = strcmp(pattern, channel) == 0;
    SB_ASSERT(sb_pattern_match(pattern, channel) == want);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_text(data, size), *b;
    size_t len = strlen(s), cut;
    const char *nl = memchr(s, '\n', len);

    check_namespace(s, len);
    check_channel(s);
    check_pattern(s);
    cut = nl != NULL ? (size_t)(nl - s) : len / 2;
    b = sb_strdup(s + cut + (nl != NULL));
    s[cut] = '\0';
    check_channel(s);
    check_channel(b);
    check_match(s, b);
    check_match(b, s);
    free(b);
    free(s);
    return 0;
}
