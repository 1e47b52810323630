/*
 * token.h: HS256 JWT verification, claims and permission checks.
 *
 * A token is accepted only when: it is at most SB_TOKEN_MAX bytes of three
 * base64url parts; the header is a JSON object (no duplicate keys) with
 * alg exactly "HS256", typ absent or "JWT", and no "crit"; the HMAC-SHA256
 * of "header.payload" under the secret equals the 32-byte signature
 * (compared in constant time); the claims are a JSON object with sub
 * (1..128 bytes, no control characters), role (reader, user, agent or
 * admin), ch (an array of at most SB_TOKEN_PATTERNS_MAX valid patterns,
 * required unless role is admin), exp (integer), and optional integer nbf
 * and iat. exp and nbf are checked with SB_TOKEN_LEEWAY seconds of skew.
 * Other claims are ignored.
 *
 * Permissions: reader may read; user and agent may read, publish and
 * signal; admin may do everything. Each role is limited to channels that
 * match one of its patterns, except an admin token without "ch", which
 * covers every channel.
 */
#ifndef SB_TOKEN_H
#define SB_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "error.h"

enum sb_role {
    SB_ROLE_READER,
    SB_ROLE_USER,
    SB_ROLE_AGENT,
    SB_ROLE_ADMIN,
};

enum sb_verb {
    SB_VERB_READ,    /* subscribe, history, presence */
    SB_VERB_PUBLISH, /* durable events */
    SB_VERB_SIGNAL,  /* ephemeral events */
};

/* A verified token. Read-only for its users; released by sb_token_free. */
struct sb_token {
    char *sub;
    enum sb_role role;
    char **patterns; /* npatterns valid patterns */
    size_t npatterns;
    bool all_channels; /* admin without "ch" */
    long long exp;
    long long iat; /* 0 when absent */
    long long nbf; /* 0 when absent */
    char *sender;  /* "<role>:<sub>" */
};

/*
 * Verify jwt[0..len) with the HS256 secret at time now. Returns a new token
 * the caller releases with sb_token_free, or NULL with err set:
 * SB_E_TOKEN_EXPIRED when now >= exp + SB_TOKEN_LEEWAY (RFC 7519: on or after exp),
 * SB_E_INTERNAL when secret_len is 0, SB_E_UNAUTHORIZED for anything else,
 * with a message naming the failed check ("invalid token: bad signature").
 * The claims are examined only after the signature matched.
 */
struct sb_token *sb_token_verify(const char *jwt, size_t len,
                                 const unsigned char *secret, size_t secret_len,
                                 time_t now, struct sb_error *err);

/* Release a token; NULL does nothing. */
void sb_token_free(struct sb_token *token);

/* True when token (may be NULL: false) allows verb on channel. A channel
 * that is not valid is never allowed. */
bool sb_token_allows(const struct sb_token *token, enum sb_verb verb,
                     const char *channel);

/* "<role>:<sub>", owned by the token. */
const char *sb_token_sender(const struct sb_token *token);

/* "reader", "user", "agent", "admin". */
const char *sb_role_name(enum sb_role role);
/* Role for a name; returns SB_OK and sets *role, or SB_ERR. */
int sb_role_from_name(const char *name, enum sb_role *role);

/*
 * Sign claims_json (used verbatim as the payload) with header
 * {"alg":"HS256","typ":"JWT"}. Returns a new compact JWT the caller frees,
 * or NULL when secret_len is 0. No claim is checked: tests use it to build
 * bad tokens too.
 */
char *sb_token_sign(const char *claims_json, const unsigned char *secret,
                    size_t secret_len);

#endif
