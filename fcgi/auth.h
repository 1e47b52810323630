/*
 * auth.h: who a request is (PROTOCOL.md section 3.4 and 3.6) and what it
 * may do. The token comes from, in this order, the Authorization: Bearer
 * header, the access_token query parameter, or the sb_token cookie (GET
 * only); the first place that holds one decides, valid or not. Without
 * any, a request is anonymous (role reader, subject "anonymous", the
 * anonymous_read patterns) when that option is set, else refused.
 */
#ifndef FCGI_AUTH_H
#define FCGI_AUTH_H

#include <stdbool.h>

#include "req.h"
#include "token.h"

/* Set r->token. SB_OK, or SB_ERR after answering 401 (unauthorized or
 * token_expired). */
int fcgi_auth(struct fcgi_req *r);
/* Replace the token secret (a copy of secret[0..len); NULL: accept no
 * tokens) while requests are served: SIGHUP after a rotation. */
void fcgi_auth_set_secret(const unsigned char *secret, size_t len);
/* SB_OK when r->token allows verb on channel, else SB_ERR after answering
 * 403 naming the channel. */
int fcgi_auth_allow(struct fcgi_req *r, enum sb_verb verb,
                    const char *channel);
/* True when the token covers every channel whose name starts with prefix
 * (an admin without patterns, or a pattern such as "*" or "workflow:*"). */
bool fcgi_auth_covers_prefix(const struct sb_token *t, const char *prefix);

#endif
