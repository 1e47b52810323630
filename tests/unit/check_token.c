/*
 * check_token.c: unit tests of lib/token.c: signing, verification of the
 * header, signature and claims, time checks with leeway, size limits, and
 * the permission truth table per role and pattern. Tokens with arbitrary
 * headers are built here with OpenSSL directly, independently of token.c.
 */
#include <check.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base64url.h"
#include "limits.h"
#include "token.h"
#include "xalloc.h"

#define NOW ((time_t)1700000000)

static const unsigned char secret[] = "0123456789abcdef0123456789abcdef";
#define SECRET_LEN (sizeof(secret) - 1)

static const char hs256[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

/* header.payload.signature from raw JSON texts, signed with key. */
static char *
make_jwt_key(const char *header, const char *claims, const unsigned char *key,
             size_t key_len)
{
    unsigned char mac[32];
    unsigned int mac_len = 0;
    char *h =
        sb_base64url_encode((const unsigned char *)header, strlen(header));
    char *p =
        sb_base64url_encode((const unsigned char *)claims, strlen(claims));
    char *input = sb_asprintf("%s.%s", h, p);
    char *sig, *jwt;

    HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)input,
         strlen(input), mac, &mac_len);
    sig = sb_base64url_encode(mac, mac_len);
    jwt = sb_asprintf("%s.%s", input, sig);
    free(h);
    free(p);
    free(input);
    free(sig);
    return jwt;
}

static char *
make_jwt(const char *header, const char *claims)
{
    return make_jwt_key(header, claims, secret, SECRET_LEN);
}

/* Claims for role and ch (a JSON array text, or NULL for none). */
static char *
claims_for(const char *role, const char *ch, long long exp)
{
    if (ch == NULL)
        return sb_asprintf("{\"sub\":\"alice\",\"role\":\"%s\",\"exp\":%lld}",
                           role, exp);
    return sb_asprintf(
        "{\"sub\":\"alice\",\"role\":\"%s\",\"ch\":%s,\"exp\":%lld}", role, ch,
        exp);
}

static struct sb_token *
verify(const char *jwt, struct sb_error *err)
{
    return sb_token_verify(jwt, strlen(jwt), secret, SECRET_LEN, NOW, err);
}

/* Verify claims signed with the standard header. */
static struct sb_token *
verify_claims(const char *claims, struct sb_error *err)
{
    char *jwt = make_jwt(hs256, claims);
    struct sb_token *token = verify(jwt, err);

    free(jwt);
    return token;
}

static void
assert_rejected(const char *jwt, enum sb_errcode code, const char *message)
{
    struct sb_error err = {0};
    struct sb_token *token = verify(jwt, &err);

    ck_assert_msg(token == NULL, "accepted %s", jwt);
    ck_assert_int_eq(err.code, code);
    if (message != NULL)
        ck_assert_str_eq(err.message, message);
}

static void
assert_claims_rejected(const char *claims, const char *message)
{
    char *jwt = make_jwt(hs256, claims);

    assert_rejected(jwt, SB_E_UNAUTHORIZED, message);
    free(jwt);
}

static void
assert_header_rejected(const char *header, const char *message)
{
    char *claims = claims_for("user", "[\"chat:*\"]", NOW + 3600);
    char *jwt = make_jwt(header, claims);

    assert_rejected(jwt, SB_E_UNAUTHORIZED, message);
    free(jwt);
    free(claims);
}

/* --- core --- */

START_TEST(valid_token)
{
    struct sb_error err = {0};
    struct sb_token *token = verify_claims(
        "{\"sub\":\"alice\",\"role\":\"user\",\"ch\":[\"chat:*\",\"activity:"
        "main\"],\"iat\":1699999000,\"exp\":1700003600,\"extra\":[1,2]}",
        &err);

    ck_assert_msg(token != NULL, "%s", err.message);
    ck_assert_str_eq(token->sub, "alice");
    ck_assert_int_eq(token->role, SB_ROLE_USER);
    ck_assert_uint_eq(token->npatterns, 2);
    ck_assert_str_eq(token->patterns[0], "chat:*");
    ck_assert_str_eq(token->patterns[1], "activity:main");
    ck_assert(!token->all_channels);
    ck_assert_int_eq(token->exp, 1700003600);
    ck_assert_int_eq(token->iat, 1699999000);
    ck_assert_int_eq(token->nbf, 0);
    ck_assert_str_eq(sb_token_sender(token), "user:alice");
    sb_token_free(token);
}
END_TEST

/* The example token of RFC 7519 tooling: a known answer for signing. */
START_TEST(sign_known_answer)
{
    static const unsigned char key[] = "your-256-bit-secret";
    char *jwt = sb_token_sign(
        "{\"sub\":\"1234567890\",\"name\":\"John Doe\",\"iat\":1516239022}",
        key, sizeof(key) - 1);

    ck_assert_str_eq(jwt, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
                          "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIi"
                          "wiaWF0IjoxNTE2MjM5MDIyfQ."
                          "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c");
    free(jwt);
}
END_TEST

START_TEST(sign_then_verify)
{
    struct sb_error err = {0};
    char *claims = claims_for("agent", "[\"agent:*\"]", NOW + 60);
    char *jwt = sb_token_sign(claims, secret, SECRET_LEN);
    char *expect = make_jwt(hs256, claims);
    struct sb_token *token = verify(jwt, &err);

    ck_assert_str_eq(jwt, expect);
    ck_assert_msg(token != NULL, "%s", err.message);
    ck_assert_str_eq(sb_token_sender(token), "agent:alice");
    sb_token_free(token);
    free(jwt);
    free(expect);
    free(claims);
}
END_TEST

START_TEST(typ_absent_accepted)
{
    struct sb_error err = {0};
    char *claims = claims_for("reader", "[\"chat:a\"]", NOW + 60);
    char *jwt = make_jwt("{\"alg\":\"HS256\",\"kid\":\"k1\"}", claims);
    struct sb_token *token = verify(jwt, &err);

    ck_assert_msg(token != NULL, "%s", err.message);
    sb_token_free(token);
    free(jwt);
    free(claims);
}
END_TEST

START_TEST(admin_without_ch_has_every_channel)
{
    struct sb_error err = {0};
    char *claims = claims_for("admin", NULL, NOW + 60);
    struct sb_token *token = verify_claims(claims, &err);

    ck_assert_msg(token != NULL, "%s", err.message);
    ck_assert(token->all_channels);
    ck_assert(sb_token_allows(token, SB_VERB_PUBLISH, "system:x"));
    ck_assert(sb_token_allows(token, SB_VERB_SIGNAL, "chat:a"));
    ck_assert(sb_token_allows(token, SB_VERB_READ, "metrics:cpu"));
    ck_assert(!sb_token_allows(token, SB_VERB_READ, "not a channel"));
    sb_token_free(token);
    free(claims);
}
END_TEST

START_TEST(free_null)
{
    sb_token_free(NULL);
    ck_assert(!sb_token_allows(NULL, SB_VERB_READ, "chat:a"));
}
END_TEST

START_TEST(role_names)
{
    enum sb_role role;

    ck_assert_str_eq(sb_role_name(SB_ROLE_READER), "reader");
    ck_assert_str_eq(sb_role_name(SB_ROLE_ADMIN), "admin");
    ck_assert_int_eq(sb_role_from_name("agent", &role), SB_OK);
    ck_assert_int_eq(role, SB_ROLE_AGENT);
    ck_assert_int_eq(sb_role_from_name("Admin", &role), SB_ERR);
}
END_TEST

/* --- permissions --- */

struct perm_case {
    const char *role;
    const char *ch;
    const char *channel;
    bool read, publish, signal;
};

static const struct perm_case perm_cases[] = {
    {"reader", "[\"chat:*\"]", "chat:a", true, false, false},
    {"reader", "[\"chat:*\"]", "activity:main", false, false, false},
    {"user", "[\"chat:*\"]", "chat:team/alpha", true, true, true},
    {"user", "[\"chat:*\"]", "chatter:a", false, false, false},
    {"user", "[\"chat:agent-42\"]", "chat:agent-42", true, true, true},
    {"user", "[\"chat:agent-42\"]", "chat:agent-420", false, false, false},
    {"agent", "[\"chat:team-a.*\"]", "chat:team-a.x", true, true, true},
    {"agent", "[\"chat:team-a.*\"]", "chat:team-b.x", false, false, false},
    {"agent", "[\"*\"]", "workflow:onboarding", true, true, true},
    {"user", "[]", "chat:a", false, false, false},
    {"user", "[\"activity:main\",\"chat:*\"]", "activity:main", true, true,
     true},
    {"admin", "[\"metrics:*\"]", "metrics:cpu", true, true, true},
    {"admin", "[\"metrics:*\"]", "chat:a", false, false, false},
    {"user", "[\"chat:*\"]", "chat:", false, false, false},
    {"user", "[\"*\"]", "Chat:a", false, false, false},
};

START_TEST(permission_truth_table)
{
    const struct perm_case *c = &perm_cases[_i];
    struct sb_error err = {0};
    char *claims = claims_for(c->role, c->ch, NOW + 60);
    struct sb_token *token = verify_claims(claims, &err);

    ck_assert_msg(token != NULL, "%s", err.message);
    ck_assert_msg(sb_token_allows(token, SB_VERB_READ, c->channel) == c->read,
                  "%s %s read %s", c->role, c->ch, c->channel);
    ck_assert_msg(sb_token_allows(token, SB_VERB_PUBLISH, c->channel) ==
                      c->publish,
                  "%s %s publish %s", c->role, c->ch, c->channel);
    ck_assert_msg(sb_token_allows(token, SB_VERB_SIGNAL, c->channel) ==
                      c->signal,
                  "%s %s signal %s", c->role, c->ch, c->channel);
    sb_token_free(token);
    free(claims);
}
END_TEST

/* --- limits --- */

START_TEST(expired_beyond_leeway)
{
    char *claims = claims_for("user", "[]", NOW - SB_TOKEN_LEEWAY - 1);
    char *jwt = make_jwt(hs256, claims);

    assert_rejected(jwt, SB_E_TOKEN_EXPIRED, "token expired");
    free(jwt);
    free(claims);
}
END_TEST

START_TEST(expired_at_leeway_edge)
{
    char *claims = claims_for("user", "[]", NOW - SB_TOKEN_LEEWAY);
    char *jwt = make_jwt(hs256, claims);

    assert_rejected(jwt, SB_E_TOKEN_EXPIRED, "token expired");
    free(jwt);
    free(claims);
}
END_TEST

START_TEST(expired_within_leeway_accepted)
{
    struct sb_error err = {0};
    char *claims = claims_for("user", "[]", NOW - SB_TOKEN_LEEWAY + 1);
    struct sb_token *token = verify_claims(claims, &err);

    ck_assert_msg(token != NULL, "%s", err.message);
    sb_token_free(token);
    free(claims);
}
END_TEST

START_TEST(nbf_in_future)
{
    char *claims = sb_asprintf("{\"sub\":\"a\",\"role\":\"user\",\"ch\":[],"
                               "\"exp\":%lld,\"nbf\":%lld}",
                               (long long)NOW + 3600,
                               (long long)NOW + SB_TOKEN_LEEWAY + 1);

    assert_claims_rejected(claims, "invalid token: not valid yet (nbf)");
    free(claims);
}
END_TEST

START_TEST(nbf_within_leeway_accepted)
{
    struct sb_error err = {0};
    char *claims =
        sb_asprintf("{\"sub\":\"a\",\"role\":\"user\",\"ch\":[],"
                    "\"exp\":%lld,\"nbf\":%lld}",
                    (long long)NOW + 3600, (long long)NOW + SB_TOKEN_LEEWAY);
    struct sb_token *token = verify_claims(claims, &err);

    ck_assert_msg(token != NULL, "%s", err.message);
    ck_assert_int_eq(token->nbf, NOW + SB_TOKEN_LEEWAY);
    sb_token_free(token);
    free(claims);
}
END_TEST

/* A JSON array of n distinct channels "chat:a0", "chat:a1", ... */
static char *
patterns_json(int n)
{
    char *ch = sb_strdup("[");
    char *done;

    for (int i = 0; i < n; i++) {
        char *next = sb_asprintf("%s%s\"chat:a%d\"", ch, i ? "," : "", i);

        free(ch);
        ch = next;
    }
    done = sb_asprintf("%s]", ch);
    free(ch);
    return done;
}

START_TEST(patterns_at_limit)
{
    struct sb_error err = {0};
    char *ch = patterns_json(SB_TOKEN_PATTERNS_MAX);
    char *claims = claims_for("user", ch, NOW + 60);
    struct sb_token *token = verify_claims(claims, &err);

    ck_assert_msg(token != NULL, "%s", err.message);
    ck_assert_uint_eq(token->npatterns, SB_TOKEN_PATTERNS_MAX);
    ck_assert(sb_token_allows(token, SB_VERB_READ, "chat:a63"));
    sb_token_free(token);
    free(claims);
    free(ch);
}
END_TEST

START_TEST(too_many_patterns)
{
    char *ch = patterns_json(SB_TOKEN_PATTERNS_MAX + 1);
    char *claims = claims_for("user", ch, NOW + 60);

    assert_claims_rejected(claims, "invalid token: ch has more than 64 "
                                   "patterns");
    free(claims);
    free(ch);
}
END_TEST

START_TEST(sub_lengths)
{
    struct sb_error err = {0};
    char sub[130];
    char *claims;
    struct sb_token *token;

    memset(sub, 's', SB_SUBJECT_MAX);
    sub[SB_SUBJECT_MAX] = '\0';
    claims = sb_asprintf("{\"sub\":\"%s\",\"role\":\"user\",\"ch\":[],"
                         "\"exp\":%lld}",
                         sub, (long long)NOW + 60);
    token = verify_claims(claims, &err);
    ck_assert_msg(token != NULL, "%s", err.message);
    sb_token_free(token);
    free(claims);
    strcat(sub, "s");
    claims = sb_asprintf("{\"sub\":\"%s\",\"role\":\"user\",\"ch\":[],"
                         "\"exp\":%lld}",
                         sub, (long long)NOW + 60);
    assert_claims_rejected(claims, "invalid token: sub must be 1..121 bytes");
    free(claims);
}
END_TEST

/* A signed token of exactly len bytes (header fixed, claims padded), or
 * NULL when no padding reaches it. */
static char *
token_of_length(size_t len)
{
    for (size_t pad = 0; pad < len; pad++) {
        char *fill = sb_malloc(pad + 1);
        char *claims, *jwt;

        memset(fill, 'x', pad);
        fill[pad] = '\0';
        claims = sb_asprintf("{\"sub\":\"a\",\"role\":\"user\",\"ch\":[],"
                             "\"exp\":%lld,\"pad\":\"%s\"}",
                             (long long)NOW + 60, fill);
        jwt = make_jwt(hs256, claims);
        free(fill);
        free(claims);
        if (strlen(jwt) == len)
            return jwt;
        free(jwt);
    }
    return NULL;
}

START_TEST(token_at_size_limit)
{
    struct sb_error err = {0};
    char *jwt = token_of_length(SB_TOKEN_MAX);
    struct sb_token *token;

    ck_assert_ptr_nonnull(jwt);
    token = verify(jwt, &err);
    ck_assert_msg(token != NULL, "%s", err.message);
    sb_token_free(token);
    free(jwt);
}
END_TEST

START_TEST(oversize_token)
{
    char *jwt = token_of_length(SB_TOKEN_MAX + 1);

    if (jwt == NULL)
        jwt = token_of_length(SB_TOKEN_MAX + 2);
    ck_assert_ptr_nonnull(jwt);
    assert_rejected(jwt, SB_E_UNAUTHORIZED,
                    "invalid token: longer than 16384 bytes");
    free(jwt);
}
END_TEST

/* Only len bytes are looked at: a valid token followed by junk verifies. */
START_TEST(length_bounds_the_input)
{
    struct sb_error err = {0};
    char *claims = claims_for("user", "[]", NOW + 60);
    char *jwt = make_jwt(hs256, claims);
    char *longer = sb_asprintf("%s.junk", jwt);
    struct sb_token *token =
        sb_token_verify(longer, strlen(jwt), secret, SECRET_LEN, NOW, &err);

    ck_assert_msg(token != NULL, "%s", err.message);
    sb_token_free(token);
    free(longer);
    free(jwt);
    free(claims);
}
END_TEST

/* --- errors --- */

/* Change one base64url character so one bit of the decoded part flips. */
static void
flip_char(char *c)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t v = (size_t)(strchr(alphabet, *c) - alphabet);

    *c = alphabet[v ^ 0x20];
}

START_TEST(forged_one_bit_in_each_part)
{
    char *claims = claims_for("reader", "[\"chat:*\"]", NOW + 60);
    char *jwt = make_jwt(hs256, claims);
    size_t len = strlen(jwt);

    for (size_t i = 0; i < len; i++) {
        char *forged;
        struct sb_error err = {0};
        struct sb_token *token;

        if (jwt[i] == '.')
            continue;
        forged = sb_strdup(jwt);
        flip_char(&forged[i]);
        token = verify(forged, &err);
        ck_assert_msg(token == NULL, "accepted with byte %zu changed", i);
        ck_assert_int_eq(err.code, SB_E_UNAUTHORIZED);
        free(forged);
    }
    free(jwt);
    free(claims);
}
END_TEST

START_TEST(forged_claims_report_bad_signature)
{
    char *claims = claims_for("reader", "[\"chat:*\"]", NOW + 60);
    char *jwt = make_jwt(hs256, claims);
    char *payload = strchr(jwt, '.') + 1;

    flip_char(&payload[10]);
    assert_rejected(jwt, SB_E_UNAUTHORIZED, "invalid token: bad signature");
    free(jwt);
    free(claims);
}
END_TEST

/* Secrets taking turns (a rotation, two contexts): each token verifies
 * under its own secret only, whatever was verified before. */
static const unsigned char key_b[] = "the second secret, also 32 bytes";

static int
verifies(const char *jwt, const unsigned char *key, size_t key_len)
{
    struct sb_error err;
    struct sb_token *t = sb_token_verify(jwt, strlen(jwt), key, key_len, NOW,
                                         &err);

    sb_token_free(t);
    return t != NULL;
}

START_TEST(secrets_taking_turns)
{
    char *claims = claims_for("user", "[]", NOW + 60);
    char *a = sb_token_sign(claims, secret, SECRET_LEN);
    char *b = sb_token_sign(claims, key_b, sizeof(key_b) - 1);

    for (int i = 0; i < 3; i++) {
        ck_assert(verifies(a, secret, SECRET_LEN));
        ck_assert(!verifies(a, key_b, sizeof(key_b) - 1));
        ck_assert(verifies(b, key_b, sizeof(key_b) - 1));
        ck_assert(!verifies(b, secret, SECRET_LEN));
        /* The same bytes but shorter is another secret. */
        ck_assert(!verifies(a, secret, SECRET_LEN - 1));
    }
    free(a);
    free(b);
    free(claims);
}
END_TEST

struct turn_arg {
    const char *good, *bad;
    int ok;
};

static void *
verify_many(void *p)
{
    struct turn_arg *t = p;

    t->ok = 1;
    for (int i = 0; i < 500; i++) {
        const unsigned char *key = i % 2 ? key_b : secret;
        size_t len = i % 2 ? sizeof(key_b) - 1 : SECRET_LEN;

        if (!verifies(i % 2 ? t->bad : t->good, key, len) ||
            verifies(i % 2 ? t->good : t->bad, key, len))
            t->ok = 0;
    }
    return NULL;
}

START_TEST(secrets_in_threads)
{
    char *claims = claims_for("user", "[]", NOW + 60);
    char *a = sb_token_sign(claims, secret, SECRET_LEN);
    char *b = sb_token_sign(claims, key_b, sizeof(key_b) - 1);
    pthread_t th[4];
    struct turn_arg args[4];

    for (int i = 0; i < 4; i++) {
        args[i] = (struct turn_arg){a, b, 0};
        ck_assert_int_eq(pthread_create(&th[i], NULL, verify_many, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ck_assert_msg(args[i].ok, "thread %d verified a token wrongly", i);
    }
    free(a);
    free(b);
    free(claims);
}
END_TEST

START_TEST(wrong_secret)
{
    static const unsigned char other[] = "another secret of 32 bytes......";
    char *claims = claims_for("user", "[]", NOW + 60);
    char *jwt = make_jwt_key(hs256, claims, other, sizeof(other) - 1);

    assert_rejected(jwt, SB_E_UNAUTHORIZED, "invalid token: bad signature");
    free(jwt);
    free(claims);
}
END_TEST

START_TEST(no_secret)
{
    struct sb_error err = {0};
    char *claims = claims_for("user", "[]", NOW + 60);
    char *jwt = make_jwt(hs256, claims);

    ck_assert_ptr_null(sb_token_verify(jwt, strlen(jwt), secret, 0, NOW, &err));
    ck_assert_int_eq(err.code, SB_E_INTERNAL);
    ck_assert_ptr_null(sb_token_sign(claims, secret, 0));
    free(jwt);
    free(claims);
}
END_TEST

START_TEST(alg_none)
{
    char *claims = claims_for("admin", NULL, NOW + 60);
    char *h =
        sb_base64url_encode((const unsigned char *)"{\"alg\":\"none\"}", 14);
    char *p =
        sb_base64url_encode((const unsigned char *)claims, strlen(claims));
    char *unsigned_jwt = sb_asprintf("%s.%s.", h, p);
    char *signed_jwt = make_jwt("{\"alg\":\"none\"}", claims);

    assert_rejected(unsigned_jwt, SB_E_UNAUTHORIZED,
                    "invalid token: algorithm must be HS256");
    assert_rejected(signed_jwt, SB_E_UNAUTHORIZED,
                    "invalid token: algorithm must be HS256");
    free(unsigned_jwt);
    free(signed_jwt);
    free(h);
    free(p);
    free(claims);
}
END_TEST

START_TEST(other_algorithms)
{
    static const char *const headers[] = {
        "{\"alg\":\"HS384\",\"typ\":\"JWT\"}",
        "{\"alg\":\"RS256\",\"typ\":\"JWT\"}",
        "{\"alg\":\"hs256\",\"typ\":\"JWT\"}",
        "{\"alg\":\"HS256 \",\"typ\":\"JWT\"}",
        "{\"alg\":[\"HS256\"],\"typ\":\"JWT\"}",
        "{\"alg\":null}",
        "{\"typ\":\"JWT\"}",
    };

    for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++)
        assert_header_rejected(headers[i],
                               "invalid token: algorithm must be HS256");
}
END_TEST

START_TEST(typ_other)
{
    assert_header_rejected("{\"alg\":\"HS256\",\"typ\":\"JOSE\"}",
                           "invalid token: typ must be JWT");
    assert_header_rejected("{\"alg\":\"HS256\",\"typ\":\"jwt\"}",
                           "invalid token: typ must be JWT");
    assert_header_rejected("{\"alg\":\"HS256\",\"typ\":1}",
                           "invalid token: typ must be JWT");
}
END_TEST

START_TEST(crit_present)
{
    assert_header_rejected("{\"alg\":\"HS256\",\"crit\":[\"exp\"]}",
                           "invalid token: crit header is not supported");
    assert_header_rejected("{\"alg\":\"HS256\",\"crit\":[]}",
                           "invalid token: crit header is not supported");
}
END_TEST

START_TEST(header_not_json)
{
    assert_header_rejected("not json",
                           "invalid token: header is not a base64url JSON "
                           "object");
    assert_header_rejected("[\"HS256\"]",
                           "invalid token: header is not a base64url JSON "
                           "object");
    assert_header_rejected("{\"alg\":\"HS256\",\"alg\":\"none\"}",
                           "invalid token: header is not a base64url JSON "
                           "object");
    assert_header_rejected("{\"alg\":\"HS256\"} trailing",
                           "invalid token: header is not a base64url JSON "
                           "object");
}
END_TEST

START_TEST(payload_not_json)
{
    static const char msg[] =
        "invalid token: payload is not a base64url JSON object";

    assert_claims_rejected("{\"sub\":\"a\"", msg);
    assert_claims_rejected("42", msg);
    assert_claims_rejected("[]", msg);
    assert_claims_rejected("{\"sub\":\"a\",\"role\":\"user\",\"ch\":[],"
                           "\"exp\":1800000000,\"role\":\"admin\"}",
                           msg);
    assert_claims_rejected("{\"sub\":\"a\\u0000b\",\"role\":\"user\","
                           "\"ch\":[],\"exp\":1800000000}",
                           msg);
}
END_TEST

START_TEST(bad_base64url)
{
    char *claims = claims_for("user", "[]", NOW + 60);
    char *jwt = make_jwt(hs256, claims);
    char *dot2 = strrchr(jwt, '.');
    char *padded = sb_asprintf("%s=", jwt);
    char *plus = sb_strdup(jwt);
    char *space = sb_asprintf(" %s", jwt);

    plus[3] = '+';
    assert_rejected(padded, SB_E_UNAUTHORIZED, "invalid token: bad signature");
    assert_rejected(plus, SB_E_UNAUTHORIZED,
                    "invalid token: header is not a base64url JSON object");
    assert_rejected(space, SB_E_UNAUTHORIZED,
                    "invalid token: header is not a base64url JSON object");
    /* A 31-byte signature, well formed but of the wrong length. */
    dot2[43] = '\0';
    dot2[42] = 'A';
    assert_rejected(jwt, SB_E_UNAUTHORIZED, "invalid token: bad signature");
    free(space);
    free(plus);
    free(padded);
    free(jwt);
    free(claims);
}
END_TEST

START_TEST(wrong_number_of_parts)
{
    static const char msg[] = "invalid token: not three dot-separated parts";
    char *claims = claims_for("user", "[]", NOW + 60);
    char *jwt = make_jwt(hs256, claims);
    char *four = sb_asprintf("%s.AAAA", jwt);

    *strrchr(jwt, '.') = '\0';
    assert_rejected(jwt, SB_E_UNAUTHORIZED, msg);
    assert_rejected(four, SB_E_UNAUTHORIZED, msg);
    assert_rejected("abc", SB_E_UNAUTHORIZED, msg);
    assert_rejected("", SB_E_UNAUTHORIZED, "invalid token: empty");
    free(four);
    free(jwt);
    free(claims);
}
END_TEST

START_TEST(missing_or_bad_exp)
{
    static const char msg[] = "invalid token: exp must be an integer";

    assert_claims_rejected("{\"sub\":\"a\",\"role\":\"user\",\"ch\":[]}", msg);
    assert_claims_rejected(
        "{\"sub\":\"a\",\"role\":\"user\",\"ch\":[],\"exp\":\"1800000000\"}",
        msg);
    assert_claims_rejected(
        "{\"sub\":\"a\",\"role\":\"user\",\"ch\":[],\"exp\":1.8e9}", msg);
    assert_claims_rejected(
        "{\"sub\":\"a\",\"role\":\"user\",\"ch\":[],\"exp\":null}", msg);
}
END_TEST

START_TEST(bad_optional_times)
{
    assert_claims_rejected("{\"sub\":\"a\",\"role\":\"user\",\"ch\":[],"
                           "\"exp\":1800000000,\"nbf\":\"now\"}",
                           "invalid token: nbf must be an integer");
    assert_claims_rejected("{\"sub\":\"a\",\"role\":\"user\",\"ch\":[],"
                           "\"exp\":1800000000,\"iat\":1.5}",
                           "invalid token: iat must be an integer");
}
END_TEST

START_TEST(bad_roles)
{
    static const char msg[] =
        "invalid token: role must be reader, user, agent or admin";

    assert_claims_rejected(
        "{\"sub\":\"a\",\"role\":\"root\",\"ch\":[],\"exp\":1800000000}", msg);
    assert_claims_rejected(
        "{\"sub\":\"a\",\"role\":\"Admin\",\"ch\":[],\"exp\":1800000000}", msg);
    assert_claims_rejected("{\"sub\":\"a\",\"ch\":[],\"exp\":1800000000}", msg);
    assert_claims_rejected(
        "{\"sub\":\"a\",\"role\":1,\"ch\":[],\"exp\":1800000000}", msg);
}
END_TEST

START_TEST(bad_ch)
{
    static const char not_array[] =
        "invalid token: ch must be an array of channel patterns";
    static const char bad[] =
        "invalid token: ch holds an invalid channel pattern";

    assert_claims_rejected(
        "{\"sub\":\"a\",\"role\":\"user\",\"exp\":1800000000}", not_array);
    assert_claims_rejected(
        "{\"sub\":\"a\",\"role\":\"admin\",\"ch\":\"*\",\"exp\":1800000000}",
        not_array);
    assert_claims_rejected("{\"sub\":\"a\",\"role\":\"user\",\"ch\":[\"chat\"],"
                           "\"exp\":1800000000}",
                           bad);
    assert_claims_rejected("{\"sub\":\"a\",\"role\":\"user\",\"ch\":[\"chat:"
                           "a\",7],\"exp\":1800000000}",
                           bad);
    assert_claims_rejected("{\"sub\":\"a\",\"role\":\"user\",\"ch\":[\"chat:*"
                           "x\"],\"exp\":1800000000}",
                           bad);
}
END_TEST

START_TEST(bad_sub)
{
    assert_claims_rejected("{\"role\":\"user\",\"ch\":[],\"exp\":1800000000}",
                           "invalid token: sub must be a string");
    assert_claims_rejected(
        "{\"sub\":42,\"role\":\"user\",\"ch\":[],\"exp\":1800000000}",
        "invalid token: sub must be a string");
    assert_claims_rejected(
        "{\"sub\":\"\",\"role\":\"user\",\"ch\":[],\"exp\":1800000000}",
        "invalid token: sub must be 1..121 bytes");
    assert_claims_rejected(
        "{\"sub\":\"a\\nb\",\"role\":\"user\",\"ch\":[],\"exp\":1800000000}",
        "invalid token: sub must not contain control characters");
}
END_TEST

static Suite *
token_suite(void)
{
    Suite *s = suite_create("token");
    TCase *core = tcase_create("core");
    TCase *limits = tcase_create("limits");
    TCase *errors = tcase_create("errors");

    tcase_add_test(core, valid_token);
    tcase_add_test(core, sign_known_answer);
    tcase_add_test(core, sign_then_verify);
    tcase_add_test(core, secrets_taking_turns);
    tcase_add_test(core, secrets_in_threads);
    tcase_add_test(core, typ_absent_accepted);
    tcase_add_test(core, admin_without_ch_has_every_channel);
    tcase_add_test(core, free_null);
    tcase_add_test(core, role_names);
    tcase_add_loop_test(core, permission_truth_table, 0,
                        sizeof(perm_cases) / sizeof(perm_cases[0]));
    suite_add_tcase(s, core);

    tcase_add_test(limits, expired_beyond_leeway);
    tcase_add_test(limits, expired_at_leeway_edge);
    tcase_add_test(limits, expired_within_leeway_accepted);
    tcase_add_test(limits, nbf_in_future);
    tcase_add_test(limits, nbf_within_leeway_accepted);
    tcase_add_test(limits, patterns_at_limit);
    tcase_add_test(limits, too_many_patterns);
    tcase_add_test(limits, sub_lengths);
    tcase_add_test(limits, token_at_size_limit);
    tcase_add_test(limits, oversize_token);
    tcase_add_test(limits, length_bounds_the_input);
    suite_add_tcase(s, limits);

    tcase_add_test(errors, forged_one_bit_in_each_part);
    tcase_add_test(errors, forged_claims_report_bad_signature);
    tcase_add_test(errors, wrong_secret);
    tcase_add_test(errors, no_secret);
    tcase_add_test(errors, alg_none);
    tcase_add_test(errors, other_algorithms);
    tcase_add_test(errors, typ_other);
    tcase_add_test(errors, crit_present);
    tcase_add_test(errors, header_not_json);
    tcase_add_test(errors, payload_not_json);
    tcase_add_test(errors, bad_base64url);
    tcase_add_test(errors, wrong_number_of_parts);
    tcase_add_test(errors, missing_or_bad_exp);
    tcase_add_test(errors, bad_optional_times);
    tcase_add_test(errors, bad_roles);
    tcase_add_test(errors, bad_ch);
    tcase_add_test(errors, bad_sub);
    suite_add_tcase(s, errors);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(token_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
