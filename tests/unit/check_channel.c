/*
 * check_channel.c: namespace and channel grammar (each way a channel can be
 * wrong, with its message), permission pattern validity and matching.
 */
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "channel.h"
#include "limits.h"
#include "xalloc.h"

/* s repeated to n bytes after prefix, then suffix, as a new string. */
static char *
repeat(const char *prefix, char c, size_t n, const char *suffix)
{
    char *s = sb_malloc(strlen(prefix) + n + strlen(suffix) + 1);

    strcpy(s, prefix);
    memset(s + strlen(prefix), c, n);
    strcpy(s + strlen(prefix) + n, suffix);
    return s;
}

START_TEST(namespace_grammar)
{
    char *ns32 = repeat("", 'a', SB_NAMESPACE_MAX, "");
    char *ns33 = repeat("", 'a', SB_NAMESPACE_MAX + 1, "");

    ck_assert(sb_namespace_valid("a", 1));
    ck_assert(sb_namespace_valid("chat", 4));
    ck_assert(sb_namespace_valid("a_1", 3));
    ck_assert(sb_namespace_valid("chat:x", 4));
    ck_assert(sb_namespace_valid(ns32, strlen(ns32)));
    ck_assert(!sb_namespace_valid(ns33, strlen(ns33)));
    ck_assert(!sb_namespace_valid("", 0));
    ck_assert(!sb_namespace_valid(NULL, 0));
    ck_assert(!sb_namespace_valid("Chat", 4));
    ck_assert(!sb_namespace_valid("1a", 2));
    ck_assert(!sb_namespace_valid("_a", 2));
    ck_assert(!sb_namespace_valid("a-b", 3));
    ck_assert(!sb_namespace_valid("chat:", 5));
    ck_assert(!sb_namespace_valid("a\xc3\xa9", 3));
    free(ns32);
    free(ns33);
}
END_TEST

static const char *const good_channels[] = {
    "chat:agent-42",
    "activity:main",
    "workflow:onboarding",
    "chat:team/alpha",
    "a:b",
    "chat:_x",
    "chat:0",
    "chat:A.b-c/d_e",
    "metrics:cpu.load-1m",
};

START_TEST(channel_valid)
{
    struct sb_error err = {SB_E_NONE, ""};

    ck_assert_int_eq(sb_channel_check(good_channels[_i], &err), SB_OK);
    ck_assert_int_eq(err.code, SB_E_NONE);
}
END_TEST

START_TEST(channel_longest)
{
    char *ns = repeat("", 'n', SB_NAMESPACE_MAX, ":");
    char *ch = repeat(ns, 'x', SB_CHANNEL_NAME_MAX, "");
    struct sb_error err;

    ck_assert_int_eq(strlen(ch), SB_CHANNEL_MAX);
    ck_assert_int_eq(sb_channel_check(ch, &err), SB_OK);
    ck_assert_int_eq(sb_channel_namespace_len(ch), SB_NAMESPACE_MAX);
    free(ns);
    free(ch);
}
END_TEST

struct bad {
    const char *channel;
    const char *message;
};

static const struct bad bad_channels[] = {
    {"", "invalid channel: empty"},
    {"agent-42", "invalid channel: missing namespace"},
    {":x", "invalid channel: empty namespace"},
    {"chat:", "invalid channel: empty name"},
    {"Chat:x", "invalid channel: namespace must start with a lower-case "
               "letter"},
    {"1chat:x", "invalid channel: namespace must start with a lower-case "
                "letter"},
    {"ch-at:x", "invalid channel: bad character in namespace at byte 3"},
    {"chat :x", "invalid channel: bad character in namespace at byte 5"},
    {"chat:.x", "invalid channel: name must start with a letter, digit or "
                "'_'"},
    {"chat:-x", "invalid channel: name must start with a letter, digit or "
                "'_'"},
    {"chat:/x", "invalid channel: name must start with a letter, digit or "
                "'_'"},
    {"chat:\xc3\xa9", "invalid channel: name must start with a letter, "
                      "digit or '_'"},
    {"chat:a b", "invalid channel: bad character in name at byte 7"},
    {"chat:a:b", "invalid channel: bad character in name at byte 7"},
    {"chat:a*", "invalid channel: bad character in name at byte 7"},
    {"chat:ab\n", "invalid channel: bad character in name at byte 8"},
    {"chat:a\xc3\xa9", "invalid channel: bad character in name at byte 7"},
};

START_TEST(channel_invalid)
{
    const struct bad *b = &bad_channels[_i];
    struct sb_error err;

    ck_assert_int_eq(sb_channel_check(b->channel, &err), SB_ERR);
    ck_assert_int_eq(err.code, SB_E_INVALID_CHANNEL);
    ck_assert_str_eq(err.message, b->message);
}
END_TEST

START_TEST(channel_too_long)
{
    char *ns = repeat("", 'n', SB_NAMESPACE_MAX + 1, ":x");
    char *ch = repeat("chat:", 'x', SB_CHANNEL_NAME_MAX + 1, "");
    struct sb_error err;

    ck_assert_int_eq(sb_channel_check(ns, &err), SB_ERR);
    ck_assert_int_eq(err.code, SB_E_INVALID_CHANNEL);
    ck_assert_str_eq(err.message,
                     "invalid channel: namespace longer than 32 bytes");
    ck_assert_int_eq(sb_channel_check(ch, &err), SB_ERR);
    ck_assert_str_eq(err.message,
                     "invalid channel: name longer than 128 bytes");
    free(ns);
    free(ch);
}
END_TEST

START_TEST(channel_null_and_no_err)
{
    struct sb_error err;

    ck_assert_int_eq(sb_channel_check(NULL, &err), SB_ERR);
    ck_assert_str_eq(err.message, "invalid channel: empty");
    ck_assert_int_eq(sb_channel_check("x", NULL), SB_ERR);
    ck_assert_int_eq(sb_channel_check("chat:x", NULL), SB_OK);
}
END_TEST

START_TEST(namespace_len)
{
    ck_assert_int_eq(sb_channel_namespace_len("chat:x"), 4);
    ck_assert_int_eq(sb_channel_namespace_len("activity:main"), 8);
    ck_assert_int_eq(sb_channel_namespace_len("a:b"), 1);
}
END_TEST

struct pattern_case {
    const char *pattern;
    bool valid;
};

static const struct pattern_case patterns[] = {
    {"*", true},
    {"chat:*", true},
    {"chat:team-a.*", true},
    {"chat:agent-42", true},
    {"c*", true},
    {"chat*", true},
    {"chat:a*", true},
    {"chat:team/*", true},
    {"", false},
    {NULL, false},
    {"**", false},
    {"chat:**", false},
    {"chat:*x", false},
    {"*chat", false},
    {"chat:a*b", false},
    {"Chat:*", false},
    {"1*", false},
    {"_*", false},
    {"chat:-*", false},
    {"chat:.*", false},
    {"chat:a b*", false},
    {"chat:a:*", false},
    {"chat", false},
    {"chat:a?", false},
    {":*", false},
};

START_TEST(pattern_validity)
{
    const struct pattern_case *c = &patterns[_i];

    ck_assert_msg(sb_pattern_valid(c->pattern) == c->valid,
                  "pattern '%s' should be %s", c->pattern ? c->pattern : "NULL",
                  c->valid ? "valid" : "invalid");
}
END_TEST

START_TEST(pattern_length_limits)
{
    char *ns32 = repeat("", 'a', SB_NAMESPACE_MAX, "*");
    char *ns33 = repeat("", 'a', SB_NAMESPACE_MAX + 1, "*");
    char *name128 = repeat("chat:", 'x', SB_CHANNEL_NAME_MAX, "*");
    char *name129 = repeat("chat:", 'x', SB_CHANNEL_NAME_MAX + 1, "*");

    ck_assert(sb_pattern_valid(ns32));
    ck_assert(!sb_pattern_valid(ns33));
    ck_assert(sb_pattern_valid(name128));
    ck_assert(!sb_pattern_valid(name129));
    free(ns32);
    free(ns33);
    free(name128);
    free(name129);
}
END_TEST

struct match_case {
    const char *pattern;
    const char *channel;
    bool match;
};

static const struct match_case matches[] = {
    {"*", "chat:a", true},
    {"*", "activity:main", true},
    {"chat:*", "chat:a", true},
    {"chat:*", "chat:team/alpha", true},
    {"chat:*", "chatter:a", false},
    {"chat:*", "activity:main", false},
    {"chat:team-a.*", "chat:team-a.x", true},
    {"chat:team-a.*", "chat:team-a.", true},
    {"chat:team-a.*", "chat:team-a", false},
    {"chat:team-a.*", "chat:team-b.x", false},
    {"chat:agent-42", "chat:agent-42", true},
    {"chat:agent-42", "chat:agent-420", false},
    {"chat:agent-42", "chat:agent-4", false},
    {"chat:a*", "chat:a", true},
    {"chat:a*", "chat:ab", true},
    {"chat:a*", "chat:b", false},
    {"c*", "chat:x", true},
    {"c*", "activity:x", false},
    {"chat*", "chatter:x", true},
    {"chat:A*", "chat:a", false},
    {"chat:a.b", "chat:aXb", false},
};

START_TEST(pattern_matching)
{
    const struct match_case *c = &matches[_i];

    ck_assert_msg(sb_pattern_match(c->pattern, c->channel) == c->match,
                  "'%s' vs '%s' should be %s", c->pattern, c->channel,
                  c->match ? "a match" : "no match");
}
END_TEST

struct position_case {
    const char *text;
    int rc;
    enum sb_errcode code;
    const char *channel;
    int64_t seq;
};

static const struct position_case positions[] = {
    {"chat:room1", SB_OK, SB_E_NONE, "chat:room1", -1},
    {"chat:room1@0", SB_OK, SB_E_NONE, "chat:room1", 0},
    {"chat:room1@41", SB_OK, SB_E_NONE, "chat:room1", 41},
    {"chat:r@9223372036854775807", SB_OK, SB_E_NONE, "chat:r", INT64_MAX},
    {"chat:r@9223372036854775808", SB_ERR, SB_E_INVALID_CURSOR, NULL, 0},
    {"chat:r@", SB_ERR, SB_E_INVALID_CURSOR, NULL, 0},
    {"chat:r@-1", SB_ERR, SB_E_INVALID_CURSOR, NULL, 0},
    {"chat:r@+1", SB_ERR, SB_E_INVALID_CURSOR, NULL, 0},
    {"chat:r@1@2", SB_ERR, SB_E_INVALID_CURSOR, NULL, 0},
    {"@3", SB_ERR, SB_E_INVALID_CHANNEL, NULL, 0},
    {"", SB_ERR, SB_E_INVALID_CHANNEL, NULL, 0},
    {"chat:bad name@3", SB_ERR, SB_E_INVALID_CHANNEL, NULL, 0},
    {"nocolon@3", SB_ERR, SB_E_INVALID_CHANNEL, NULL, 0},
};

START_TEST(position_parse)
{
    const struct position_case *c = &positions[_i];
    char channel[SB_CHANNEL_MAX + 1];
    int64_t seq = 12345;
    struct sb_error err;

    err.code = SB_E_NONE;
    ck_assert_int_eq(sb_position_parse(c->text, strlen(c->text), channel,
                                       &seq, &err),
                     c->rc);
    ck_assert_int_eq(err.code, c->code);
    if (c->rc == SB_OK) {
        ck_assert_str_eq(channel, c->channel);
        ck_assert_int_eq(seq, c->seq);
    }
}
END_TEST

START_TEST(position_longest_channel)
{
    char text[SB_CHANNEL_MAX + 8];
    char channel[SB_CHANNEL_MAX + 1];
    int64_t seq;
    struct sb_error err;

    memset(text, 'a', sizeof(text));
    memcpy(text, "chat:", 5);
    memcpy(text + SB_CHANNEL_MAX, "@7", 3);
    ck_assert_int_eq(sb_position_parse(text, strlen(text), channel, &seq, &err),
                     SB_ERR); /* the name part is 156 bytes, over 128 */
    ck_assert_int_eq(err.code, SB_E_INVALID_CHANNEL);
    memset(text, 'a', sizeof(text));
    memcpy(text, "chat:", 5);
    memcpy(text + SB_CHANNEL_MAX + 1, "@7", 3);
    ck_assert_int_eq(sb_position_parse(text, strlen(text), channel, &seq, &err),
                     SB_ERR); /* a channel over SB_CHANNEL_MAX bytes */
    ck_assert_int_eq(err.code, SB_E_INVALID_CHANNEL);
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *
channel_suite(void)
{
    Suite *s = suite_create("channel");
    TCase *core = tcase_create("core");
    TCase *limits = tcase_create("limits");
    TCase *errors = tcase_create("errors");

    tcase_add_test(core, namespace_grammar);
    tcase_add_loop_test(core, channel_valid, 0, N(good_channels));
    tcase_add_test(core, namespace_len);
    tcase_add_loop_test(core, pattern_validity, 0, N(patterns));
    tcase_add_loop_test(core, pattern_matching, 0, N(matches));
    tcase_add_loop_test(core, position_parse, 0, N(positions));
    tcase_add_test(limits, position_longest_channel);
    tcase_add_test(limits, channel_longest);
    tcase_add_test(limits, channel_too_long);
    tcase_add_test(limits, pattern_length_limits);
    tcase_add_loop_test(errors, channel_invalid, 0, N(bad_channels));
    tcase_add_test(errors, channel_null_and_no_err);
    suite_add_tcase(s, core);
    suite_add_tcase(s, limits);
    suite_add_tcase(s, errors);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(channel_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
