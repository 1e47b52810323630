/*
 * token.c: HS256 JWT verification and signing with OpenSSL, claims parsed
 * with jansson. See token.h for the rules a token must pass.
 */
#include "token.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "base64url.h"
#include "channel.h"
#include "limits.h"
#include "xalloc.h"

/* HMAC-SHA256 output. */
#define SIG_LEN 32

static const char *const role_names[] = {"reader", "user", "agent", "admin"};

/* The three base64url parts of a compact JWT. */
struct parts {
    const char *text[3];
    size_t len[3];
};

const char *
sb_role_name(enum sb_role role)
{
    if (role < SB_ROLE_READER || role > SB_ROLE_ADMIN)
        return "?";
    return role_names[role];
}

int
sb_role_from_name(const char *name, enum sb_role *role)
{
    for (int i = SB_ROLE_READER; i <= SB_ROLE_ADMIN; i++) {
        if (strcmp(name, role_names[i]) == 0) {
            *role = (enum sb_role)i;
            return SB_OK;
        }
    }
    return SB_ERR;
}

static int
invalid(struct sb_error *err, const char *what)
{
    return sb_error_set(err, SB_E_UNAUTHORIZED, "invalid token: %s", what);
}

/* Split at exactly two dots. */
static int
split(const char *jwt, size_t len, struct parts *parts)
{
    const char *p = jwt, *end = jwt + len;

    for (int i = 0; i < 3; i++) {
        const char *dot = memchr(p, '.', (size_t)(end - p));

        if ((dot == NULL) != (i == 2))
            return SB_ERR;
        if (dot == NULL)
            dot = end;
        parts->text[i] = p;
        parts->len[i] = (size_t)(dot - p);
        p = dot + 1;
    }
    return SB_OK;
}

/* The JSON object a base64url part holds, or NULL. */
static json_t *
decode_object(const char *text, size_t len)
{
    size_t n;
    unsigned char *raw = sb_base64url_decode(text, len, &n);
    json_t *json = NULL;

    if (raw == NULL)
        return NULL;
    json = json_loadb((const char *)raw, n, JSON_REJECT_DUPLICATES, NULL);
    free(raw);
    if (json != NULL && !json_is_object(json)) {
        json_decref(json);
        json = NULL;
    }
    return json;
}

static int
check_header_fields(const json_t *header, struct sb_error *err)
{
    const json_t *alg = json_object_get(header, "alg");
    const json_t *typ = json_object_get(header, "typ");

    if (!json_is_string(alg) || strcmp(json_string_value(alg), "HS256") != 0)
        return invalid(err, "algorithm must be HS256");
    if (typ != NULL &&
        (!json_is_string(typ) || strcmp(json_string_value(typ), "JWT") != 0))
        return invalid(err, "typ must be JWT");
    if (json_object_get(header, "crit") != NULL)
        return invalid(err, "crit header is not supported");
    return SB_OK;
}

/* {"alg":"HS256","typ":"JWT"}, the header sb_token_sign() and
 * switchboard.mint_token() write: accepted without decoding it. */
#define CANONICAL_HEADER "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"

static int
check_header(const struct parts *parts, struct sb_error *err)
{
    json_t *header;
    int rc;

    if (parts->len[0] == sizeof(CANONICAL_HEADER) - 1 &&
        memcmp(parts->text[0], CANONICAL_HEADER, parts->len[0]) == 0)
        return SB_OK;
    header = decode_object(parts->text[0], parts->len[0]);
    if (header == NULL)
        return invalid(err, "header is not a base64url JSON object");
    rc = check_header_fields(header, err);
    json_decref(header);
    return rc;
}

/* OpenSSL's one-shot HMAC() looks the algorithms up and sets the key on
 * every call, which is most of a token check's cost. Each thread keeps an
 * HMAC context keyed with the secret it last used and copies it per
 * signature; a different secret (a rotation) makes a new one. */
struct mac_cache {
    EVP_MAC_CTX *keyed;
    unsigned char *key;
    size_t key_len;
};

static pthread_once_t mac_once = PTHREAD_ONCE_INIT;
static pthread_key_t mac_key;
static EVP_MAC *mac_alg;

static void
mac_cache_free(void *p)
{
    struct mac_cache *m = p;

    if (m == NULL)
        return;
    EVP_MAC_CTX_free(m->keyed);
    OPENSSL_clear_free(m->key, m->key_len);
    free(m);
}

static void
mac_setup(void)
{
    if (pthread_key_create(&mac_key, mac_cache_free) == 0)
        mac_alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

/* This thread's context keyed with secret, or NULL. */
static EVP_MAC_CTX *
keyed_ctx(const unsigned char *secret, size_t secret_len)
{
    static char digest[] = "SHA256";
    struct mac_cache *m;
    OSSL_PARAM params[2];

    pthread_once(&mac_once, mac_setup);
    if (mac_alg == NULL)
        return NULL;
    m = pthread_getspecific(mac_key);
    if (m != NULL && m->key_len == secret_len &&
        memcmp(m->key, secret, secret_len) == 0)
        return m->keyed;
    mac_cache_free(m);
    pthread_setspecific(mac_key, NULL);
    m = sb_calloc(1, sizeof(*m));
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 digest, 0);
    params[1] = OSSL_PARAM_construct_end();
    m->keyed = EVP_MAC_CTX_new(mac_alg);
    if (m->keyed == NULL ||
        EVP_MAC_init(m->keyed, secret, secret_len, params) != 1) {
        mac_cache_free(m);
        return NULL;
    }
    m->key = sb_malloc(secret_len);
    memcpy(m->key, secret, secret_len);
    m->key_len = secret_len;
    pthread_setspecific(mac_key, m);
    return m->keyed;
}

/* HMAC-SHA256 of data under secret into mac (SIG_LEN bytes). */
static int
hmac_sha256(unsigned char *mac, const unsigned char *secret, size_t secret_len,
            const char *data, size_t len)
{
    EVP_MAC_CTX *keyed, *ctx;
    size_t mac_len = 0;
    int ok;

    if (secret_len == 0 || secret_len > INT32_MAX ||
        (keyed = keyed_ctx(secret, secret_len)) == NULL ||
        (ctx = EVP_MAC_CTX_dup(keyed)) == NULL)
        return SB_ERR;
    ok = EVP_MAC_update(ctx, (const unsigned char *)data, len) == 1 &&
         EVP_MAC_final(ctx, mac, &mac_len, SIG_LEN) == 1 && mac_len == SIG_LEN;
    EVP_MAC_CTX_free(ctx);
    return ok ? SB_OK : SB_ERR;
}

static int
check_signature(const struct parts *parts, const unsigned char *secret,
                size_t secret_len, struct sb_error *err)
{
    unsigned char want[SIG_LEN], got[SIG_LEN];
    size_t signed_len = parts->len[0] + 1 + parts->len[1];
    size_t got_len;

    if (sb_base64url_decoded_len(parts->len[2]) != SIG_LEN ||
        sb_base64url_decode_to(got, parts->text[2], parts->len[2], &got_len) !=
            SB_OK)
        return invalid(err, "bad signature");
    if (hmac_sha256(want, secret, secret_len, parts->text[0], signed_len) !=
        SB_OK)
        return sb_error_set(err, SB_E_INTERNAL, "token signature failed");
    if (CRYPTO_memcmp(want, got, SIG_LEN) != 0)
        return invalid(err, "bad signature");
    return SB_OK;
}

static int
read_sub(const json_t *claims, struct sb_token *token, struct sb_error *err)
{
    const json_t *sub = json_object_get(claims, "sub");
    size_t len;

    if (!json_is_string(sub))
        return invalid(err, "sub must be a string");
    len = json_string_length(sub);
    if (len < 1 || len > SB_SUBJECT_MAX)
        return invalid(err, "sub must be 1..121 bytes");
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)json_string_value(sub)[i];

        if (c < 0x20 || c == 0x7f)
            return invalid(err, "sub must not contain control characters");
    }
    token->sub = sb_strdup(json_string_value(sub));
    return SB_OK;
}

static int
read_role(const json_t *claims, struct sb_token *token, struct sb_error *err)
{
    const json_t *role = json_object_get(claims, "role");

    if (!json_is_string(role) ||
        sb_role_from_name(json_string_value(role), &token->role) != SB_OK)
        return invalid(err, "role must be reader, user, agent or admin");
    return SB_OK;
}

static int
read_patterns(const json_t *claims, struct sb_token *token,
              struct sb_error *err)
{
    const json_t *ch = json_object_get(claims, "ch");

    if (ch == NULL && token->role == SB_ROLE_ADMIN) {
        token->all_channels = true;
        return SB_OK;
    }
    if (!json_is_array(ch))
        return invalid(err, "ch must be an array of channel patterns");
    if (json_array_size(ch) > SB_TOKEN_PATTERNS_MAX)
        return invalid(err, "ch has more than 64 patterns");
    token->patterns = sb_calloc(json_array_size(ch), sizeof(char *));
    for (size_t i = 0; i < json_array_size(ch); i++) {
        const json_t *item = json_array_get(ch, i);

        if (!json_is_string(item) || !sb_pattern_valid(json_string_value(item)))
            return invalid(err, "ch holds an invalid channel pattern");
        token->patterns[i] = sb_strdup(json_string_value(item));
        token->npatterns = i + 1;
    }
    return SB_OK;
}

/* An optional integer claim: SB_OK with *value (0 when absent), or SB_ERR. */
static int
read_time(const json_t *claims, const char *name, bool required,
          long long *value)
{
    const json_t *t = json_object_get(claims, name);

    *value = 0;
    if (t == NULL)
        return required ? SB_ERR : SB_OK;
    if (!json_is_integer(t))
        return SB_ERR;
    *value = (long long)json_integer_value(t);
    return SB_OK;
}

static int
read_times(const json_t *claims, struct sb_token *token, struct sb_error *err)
{
    if (read_time(claims, "exp", true, &token->exp) != SB_OK)
        return invalid(err, "exp must be an integer");
    if (read_time(claims, "nbf", false, &token->nbf) != SB_OK)
        return invalid(err, "nbf must be an integer");
    if (read_time(claims, "iat", false, &token->iat) != SB_OK)
        return invalid(err, "iat must be an integer");
    return SB_OK;
}

/* An absent nbf reads as 0, always in the past. */
static int
check_times(const struct sb_token *token, time_t now, struct sb_error *err)
{
    long long t = (long long)now;

    if (token->exp <= t - SB_TOKEN_LEEWAY)
        return sb_error_set(err, SB_E_TOKEN_EXPIRED, "token expired");
    if (token->nbf > t + SB_TOKEN_LEEWAY)
        return invalid(err, "not valid yet (nbf)");
    return SB_OK;
}

/* A token from verified claims, or NULL with err set. */
static struct sb_token *
token_from_claims(const json_t *claims, time_t now, struct sb_error *err)
{
    struct sb_token *token = sb_calloc(1, sizeof(*token));

    if (read_sub(claims, token, err) != SB_OK ||
        read_role(claims, token, err) != SB_OK ||
        read_patterns(claims, token, err) != SB_OK ||
        read_times(claims, token, err) != SB_OK ||
        check_times(token, now, err) != SB_OK) {
        sb_token_free(token);
        return NULL;
    }
    token->sender = sb_asprintf("%s:%s", sb_role_name(token->role), token->sub);
    return token;
}

static int
check_input(const char *jwt, size_t len, size_t secret_len,
            struct sb_error *err)
{
    if (secret_len == 0)
        return sb_error_set(err, SB_E_INTERNAL, "token secret is not set");
    if (jwt == NULL || len == 0)
        return invalid(err, "empty");
    if (len > SB_TOKEN_MAX)
        return invalid(err, "longer than 16384 bytes");
    return SB_OK;
}

struct sb_token *
sb_token_verify(const char *jwt, size_t len, const unsigned char *secret,
                size_t secret_len, time_t now, struct sb_error *err)
{
    struct sb_token *token = NULL;
    struct parts parts;
    json_t *claims = NULL;

    if (check_input(jwt, len, secret_len, err) != SB_OK)
        goto out;
    if (split(jwt, len, &parts) != SB_OK) {
        invalid(err, "not three dot-separated parts");
        goto out;
    }
    if (check_header(&parts, err) != SB_OK ||
        check_signature(&parts, secret, secret_len, err) != SB_OK)
        goto out;
    claims = decode_object(parts.text[1], parts.len[1]);
    if (claims == NULL) {
        invalid(err, "payload is not a base64url JSON object");
        goto out;
    }
    token = token_from_claims(claims, now, err);
out:
    json_decref(claims);
    return token;
}

void
sb_token_free(struct sb_token *token)
{
    if (token == NULL)
        return;
    for (size_t i = 0; i < token->npatterns; i++)
        free(token->patterns[i]);
    free(token->patterns);
    free(token->sub);
    free(token->sender);
    free(token);
}

static bool
verb_allowed(enum sb_role role, enum sb_verb verb)
{
    switch (verb) {
    case SB_VERB_READ:
        return true;
    case SB_VERB_PUBLISH:
    case SB_VERB_SIGNAL:
        return role != SB_ROLE_READER;
    }
    return false;
}

bool
sb_token_allows(const struct sb_token *token, enum sb_verb verb,
                const char *channel)
{
    struct sb_error err;

    if (token == NULL || channel == NULL || !verb_allowed(token->role, verb))
        return false;
    if (sb_channel_check(channel, &err) != SB_OK)
        return false;
    if (token->all_channels)
        return true;
    for (size_t i = 0; i < token->npatterns; i++) {
        if (sb_pattern_match(token->patterns[i], channel))
            return true;
    }
    return false;
}

const char *
sb_token_sender(const struct sb_token *token)
{
    return token->sender;
}

char *
sb_token_sign(const char *claims_json, const unsigned char *secret,
              size_t secret_len)
{
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    unsigned char mac[SIG_LEN];
    char *h, *p, *input, *sig, *jwt = NULL;

    h = sb_base64url_encode((const unsigned char *)header, strlen(header));
    p = sb_base64url_encode((const unsigned char *)claims_json,
                            strlen(claims_json));
    input = sb_asprintf("%s.%s", h, p);
    if (hmac_sha256(mac, secret, secret_len, input, strlen(input)) != SB_OK)
        goto out;
    sig = sb_base64url_encode(mac, SIG_LEN);
    jwt = sb_asprintf("%s.%s", input, sig);
    free(sig);
out:
    free(h);
    free(p);
    free(input);
    return jwt;
}
