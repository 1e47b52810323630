/*
 * auth.c: token lookup and checks (see auth.h).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "app.h"
#include "auth.h"
#include "log.h"
#include "xalloc.h"

/* Worker threads read the secret; a reload replaces it. */
static pthread_rwlock_t secret_lock = PTHREAD_RWLOCK_INITIALIZER;

void
fcgi_auth_set_secret(const unsigned char *secret, size_t len)
{
    unsigned char *copy = NULL;

    if (secret != NULL) {
        copy = sb_malloc(len);
        memcpy(copy, secret, len);
    }
    pthread_rwlock_wrlock(&secret_lock);
    if (fcgi_app.common.secret != NULL) {
        explicit_bzero(fcgi_app.common.secret, fcgi_app.common.secret_len);
        free(fcgi_app.common.secret);
    }
    fcgi_app.common.secret = copy;
    fcgi_app.common.secret_len = copy != NULL ? len : 0;
    pthread_rwlock_unlock(&secret_lock);
}

#define COOKIE_NAME "sb_token"

/* The value of cookie name in a Cookie header, as a new string, or NULL. */
static char *
cookie_value(const char *header, const char *name)
{
    size_t nlen = strlen(name);
    const char *p = header;

    while (p != NULL && *p != '\0') {
        p += strspn(p, " \t;");
        if (strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
            const char *v = p + nlen + 1;

            return sb_strndup(v, strcspn(v, ";"));
        }
        p = strchr(p, ';');
    }
    return NULL;
}

/* The token text as a new string, NULL when the request has none; *bad
 * when the Authorization header is not a bearer token. */
static char *
find_token(struct fcgi_req *r, bool *bad)
{
    const char *h = fcgi_req_param(r, "HTTP_AUTHORIZATION");
    const char *q = fcgi_query_get(r->query, "access_token");
    const char *cookie = fcgi_req_param(r, "HTTP_COOKIE");

    *bad = false;
    if (h != NULL) {
        if (strncasecmp(h, "Bearer ", 7) != 0) {
            *bad = true;
            return NULL;
        }
        h += 7;
        h += strspn(h, " ");
        return sb_strdup(h);
    }
    if (q != NULL)
        return sb_strdup(q);
    if (cookie != NULL && strcmp(r->method, "GET") == 0)
        return cookie_value(cookie, COOKIE_NAME);
    return NULL;
}

static struct sb_token *
anonymous_token(void)
{
    struct sb_token *t;
    size_t n = 0;

    while (fcgi_app.anon_patterns[n] != NULL)
        n++;
    if (n == 0)
        return NULL;
    t = sb_calloc(1, sizeof(*t));
    t->sub = sb_strdup("anonymous");
    t->role = SB_ROLE_READER;
    t->patterns = sb_calloc(n, sizeof(*t->patterns));
    for (size_t i = 0; i < n; i++)
        t->patterns[i] = sb_strdup(fcgi_app.anon_patterns[i]);
    t->npatterns = n;
    t->exp = INT64_MAX / 2;
    t->sender = sb_strdup("reader:anonymous");
    return t;
}

static int
refuse(struct fcgi_req *r, const struct sb_error *err)
{
    atomic_fetch_add(&fcgi_app.n.auth_failures, 1);
    return fcgi_req_error(r, err, NULL);
}

int
fcgi_auth(struct fcgi_req *r)
{
    struct sb_error err;
    bool bad;
    char *text = find_token(r, &bad);

    if (bad) {
        sb_error_set(&err, SB_E_UNAUTHORIZED,
                     "unauthorized: Authorization is not a Bearer token");
        return refuse(r, &err);
    }
    if (text == NULL) {
        r->token = anonymous_token();
        if (r->token != NULL)
            return SB_OK;
        sb_error_set(&err, SB_E_UNAUTHORIZED, "unauthorized: no token");
        return refuse(r, &err);
    }
    pthread_rwlock_rdlock(&secret_lock);
    r->token = sb_token_verify(text, strlen(text), fcgi_app.common.secret,
                               fcgi_app.common.secret_len, time(NULL), &err);
    pthread_rwlock_unlock(&secret_lock);
    free(text);
    if (r->token != NULL)
        return SB_OK;
    if (err.code == SB_E_INTERNAL)
        sb_error_set(&err, SB_E_UNAUTHORIZED,
                     "unauthorized: this node accepts no tokens");
    return refuse(r, &err);
}

int
fcgi_auth_allow(struct fcgi_req *r, enum sb_verb verb, const char *channel)
{
    static const char *const verbs[] = {"read", "publish", "signal"};
    struct sb_error err;
    json_t *extra;

    if (sb_token_allows(r->token, verb, channel))
        return SB_OK;
    extra = json_pack("{s:s}", "channel", channel);
    sb_error_set(&err, SB_E_FORBIDDEN, "forbidden: %s on %s", verbs[verb],
                 channel);
    fcgi_req_error(r, &err, extra);
    json_decref(extra);
    return SB_ERR;
}

bool
fcgi_auth_covers_prefix(const struct sb_token *t, const char *prefix)
{
    if (t == NULL)
        return false;
    if (t->all_channels)
        return true;
    for (size_t i = 0; i < t->npatterns; i++) {
        const char *p = t->patterns[i];
        size_t len = strlen(p);

        if (len > 0 && p[len - 1] == '*' && len - 1 <= strlen(prefix) &&
            strncmp(p, prefix, len - 1) == 0)
            return true;
    }
    return false;
}
