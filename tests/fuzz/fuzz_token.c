/*
 * fuzz_token.c: sb_token_verify() on arbitrary bytes with a fixed secret
 * and a fixed time. When the input is JSON without NUL bytes it is also
 * signed as claims: that token must verify, or be rejected with a code for
 * something other than its signature, and must fail the signature check
 * under another secret. A verified token must be internally consistent
 * (sender, patterns, times) and allow what its claims say.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "channel.h"
#include "fuzz.h"
#include "limits.h"
#include "token.h"

/* 32 bytes, the shortest secret the daemons accept. */
static const unsigned char secret[] = "0123456789abcdef0123456789abcdef";
static const unsigned char other[] = "fedcba9876543210fedcba9876543210";
#define SECRET_LEN 32
/* 2023-11-14T22:13:20Z */
#define NOW ((time_t)1700000000)

static void
check_patterns(const struct sb_token *t)
{
    bool writer = t->role != SB_ROLE_READER;

    SB_ASSERT(t->npatterns <= SB_TOKEN_PATTERNS_MAX);
    for (size_t i = 0; i < t->npatterns; i++) {
        const char *p = t->patterns[i];

        SB_ASSERT(sb_pattern_valid(p));
        if (p[strlen(p) - 1] == '*')
            continue;
        SB_ASSERT(sb_token_allows(t, SB_VERB_READ, p));
        SB_ASSERT(sb_token_allows(t, SB_VERB_PUBLISH, p) == writer);
        SB_ASSERT(sb_token_allows(t, SB_VERB_SIGNAL, p) == writer);
    }
}

static void
check_token(const struct sb_token *t)
{
    char *sender;

    SB_ASSERT(t->sub != NULL && t->sub[0] != '\0');
    SB_ASSERT(strlen(t->sub) <= SB_SUBJECT_MAX);
    sender = sb_asprintf("%s:%s", sb_role_name(t->role), t->sub);
    SB_ASSERT(strcmp(sb_token_sender(t), sender) == 0);
    SB_ASSERT(strlen(sender) <= SB_SENDER_MAX);
    free(sender);
    SB_ASSERT(t->exp > (long long)NOW - SB_TOKEN_LEEWAY);
    SB_ASSERT(t->nbf <= (long long)NOW + SB_TOKEN_LEEWAY);
    SB_ASSERT(!t->all_channels || t->role == SB_ROLE_ADMIN);
    if (!t->all_channels && t->npatterns == 0)
        SB_ASSERT(!sb_token_allows(t, SB_VERB_READ, "chat:fuzz"));
    SB_ASSERT(!sb_token_allows(t, SB_VERB_READ, "not a channel"));
    if (t->all_channels)
        SB_ASSERT(sb_token_allows(t, SB_VERB_PUBLISH, "chat:fuzz"));
    check_patterns(t);
}

/* The input itself as a compact JWT. */
static void
verify_input(const uint8_t *data, size_t size)
{
    struct sb_error err;
    struct sb_token *t;

    t = sb_token_verify((const char *)data, size, secret, SECRET_LEN, NOW,
                        &err);
    if (t == NULL) {
        SB_ASSERT(err.code == SB_E_UNAUTHORIZED ||
                  err.code == SB_E_TOKEN_EXPIRED);
        return;
    }
    check_token(t);
    sb_token_free(t);
}

/* The input as the claims of a token signed with the secret. */
static void
sign_and_verify(const char *claims)
{
    struct sb_error err;
    struct sb_token *t;
    char *jwt = sb_token_sign(claims, secret, SECRET_LEN);
    size_t len;

    SB_ASSERT(jwt != NULL);
    len = strlen(jwt);
    t = sb_token_verify(jwt, len, secret, SECRET_LEN, NOW, &err);
    if (t != NULL) {
        check_token(t);
        sb_token_free(t);
    } else if (len > SB_TOKEN_MAX) {
        SB_ASSERT(
            strcmp(err.message, "invalid token: longer than 16384 bytes") == 0);
    } else {
        SB_ASSERT(err.code == SB_E_UNAUTHORIZED ||
                  err.code == SB_E_TOKEN_EXPIRED);
        SB_ASSERT(strcmp(err.message, "invalid token: bad signature") != 0);
        SB_ASSERT(strstr(err.message, "header") == NULL);
    }
    t = sb_token_verify(jwt, len, other, SECRET_LEN, NOW, &err);
    SB_ASSERT(t == NULL && err.code == SB_E_UNAUTHORIZED);
    if (len <= SB_TOKEN_MAX)
        SB_ASSERT(strcmp(err.message, "invalid token: bad signature") == 0);
    free(jwt);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *json;
    char *claims;
    enum sb_role role;

    verify_input(data, size);
    if (memchr(data, '\0', size) != NULL)
        return 0;
    claims = fuzz_text(data, size);
    if (sb_role_from_name(claims, &role) == SB_OK)
        SB_ASSERT(strcmp(sb_role_name(role), claims) == 0);
    json = json_loadb(claims, size, JSON_DECODE_ANY, NULL);
    if (json != NULL)
        sign_and_verify(claims);
    json_decref(json);
    free(claims);
    return 0;
}
