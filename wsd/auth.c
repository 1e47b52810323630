/*
 * auth.c: authentication of a WebSocket connection (see auth.h). One
 * deadline per connection (deadline.h) serves three purposes in turn: the
 * auth timeout while waiting for a token, the token's expiry (exp plus the
 * leeway), and the end of the grace that follows it.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "limits.h"
#include "log.h"
#include "metrics.h"
#include "metricsub.h"
#include "node.h"
#include "proto.h"
#include "sub.h"
#include "wsd.h"
#include "xalloc.h"

#define BEARER "Bearer "

/* --- the timer --- */

static void
timer_cb(struct wsd_deadline *d)
{
    struct wsd_conn *c = lws_container_of(d, struct wsd_conn, auth_due);

    if (!wsd_conn_alive(c))
        return;
    if (c->auth == WSD_AUTH_WAITING) {
        wsd_reply_error(c, NULL, SB_E_UNAUTHORIZED,
                        "unauthorized: no auth within auth_timeout", NULL, -1);
        wsd_conn_close(c, SB_CLOSE_UNAUTHORIZED, "unauthorized", true);
    } else if (c->auth == WSD_AUTH_OK) {
        c->auth = WSD_AUTH_GRACE;
        wsd_reply_error(c, NULL, SB_E_TOKEN_EXPIRED,
                        "token expired: send a new token with auth", NULL, -1);
        wsd_deadline_set(&c->auth_due, wsd_srv.conf.token_grace_ms, timer_cb);
    } else if (c->auth == WSD_AUTH_GRACE) {
        wsd_conn_close(c, SB_CLOSE_TOKEN_EXPIRED, "token expired", true);
    }
}

static void
schedule_expiry(struct wsd_conn *c)
{
    long long due_ms = (c->token->exp + SB_TOKEN_LEEWAY) * 1000LL;
    long long in_ms = due_ms - wsd_now_ms();

    wsd_deadline_set(&c->auth_due, in_ms, timer_cb);
}

/* --- hello and auth.ok --- */

/* The hello is the same for every connection but for server_ts and auth,
 * so it is printed rather than built as a JSON tree (node_id needs no
 * escaping: the configuration admits printable ASCII without quotes or
 * backslashes only). */
static void
send_hello(struct wsd_conn *c, const char *auth)
{
    const struct wsd_config *k = &wsd_srv.conf;
    char text[1024 + 128]; /* the limits, and a node_id of 128 bytes */
    int n = snprintf(
        text, sizeof(text),
        "{\"op\":\"hello\",\"protocol\":\"switchboard.v1\",\"node\":\"%s\","
        "\"server_ts\":%lld,\"auth\":\"%s\",\"limits\":{"
        "\"max_message_bytes\":%lld,\"max_data_bytes\":%lld,"
        "\"max_subscriptions\":%lld,\"publish_rate\":%lld,"
        "\"publish_burst\":%lld,\"history_max\":%d,\"batch_max\":%d,"
        "\"auth_timeout\":%lld,\"token_grace\":%lld,"
        "\"send_queue_max\":%lld}}",
        wsd_srv.common.node_id, (long long)wsd_now_ms(), auth, k->max_message_bytes,
        (long long)wsd_srv.common.max_data_bytes, k->max_subscriptions,
        k->publish_rate, k->publish_burst, SB_HISTORY_MAX, SB_BATCH_MAX,
        k->auth_timeout_ms / 1000, k->token_grace_ms / 1000,
        k->send_queue_max);

    SB_ASSERT(n > 0 && (size_t)n < sizeof(text));
    wsd_conn_send_text(c, text, (size_t)n);
}

/* Printed rather than built as a JSON tree, like the hello. */
static void
send_ok(struct wsd_conn *c, const json_t *ref)
{
    const struct sb_token *t = c->token;
    const char *sender = sb_token_sender(t);
    struct sb_strbuf b = {NULL, 0, 0};

    sb_strbuf_reserve(&b, 256);
    sb_strbuf_puts(&b, "{\"op\":\"auth.ok\",");
    wsd_reply_put_ref(&b, ref);
    sb_strbuf_puts(&b, "\"sub\":");
    sb_strbuf_quote(&b, t->sub, strlen(t->sub));
    sb_strbuf_puts(&b, ",\"role\":\"");
    sb_strbuf_puts(&b, sb_role_name(t->role));
    sb_strbuf_puts(&b, "\",\"sender\":");
    sb_strbuf_quote(&b, sender, strlen(sender));
    sb_strbuf_printf(&b, ",\"exp\":%lld}", (long long)t->exp);
    wsd_conn_send_text(c, b.data, b.len);
    sb_strbuf_release(&b);
}

/* --- verification --- */

static struct sb_token *
verify(struct wsd_conn *c, const char *jwt, size_t len, struct sb_error *err)
{
    struct sb_token *t;

    if (len > SB_TOKEN_MAX) {
        sb_error_set(err, SB_E_TOO_LARGE, "too large: token over %d bytes",
                     SB_TOKEN_MAX);
        t = NULL;
    } else if (wsd_srv.secret == NULL) {
        sb_error_set(err, SB_E_UNAUTHORIZED,
                     "unauthorized: this node accepts no tokens");
        t = NULL;
    } else {
        t = sb_token_verify(jwt, len, wsd_srv.secret, wsd_srv.secret_len,
                            time(NULL), err);
    }
    if (t == NULL) {
        wsd_stats.auth_failures++;
        sb_log_info("conn %s: token refused: %s", c->idtext, err->message);
        wsd_node_audit("auth_failure", NULL, NULL, c->remote, err->message);
    }
    return t;
}

/* Subscribe to the upgrade's subscribe list, once authenticated. */
static void
open_subscriptions(struct wsd_conn *c)
{
    char *list = c->open_subs;

    c->open_subs = NULL;
    if (list != NULL)
        wsd_sub_open_list(c, list);
    free(list);
}

static void
accept_token(struct wsd_conn *c, struct sb_token *t, const json_t *ref)
{
    bool first = c->token == NULL;

    sb_token_free(c->token);
    c->token = t;
    c->auth = WSD_AUTH_OK;
    schedule_expiry(c);
    send_ok(c, ref);
    if (first) {
        sb_log_debug("conn %s: authenticated as %s", c->idtext,
                     sb_token_sender(t));
        wsd_node_audit("connect", sb_token_sender(t), NULL, c->remote, NULL);
    }
    wsd_sub_recheck(c);
    wsd_metricsub_recheck(c);
    open_subscriptions(c);
}

/* A first token that failed: say why, then close with 4001. */
static void
refuse_first(struct wsd_conn *c, const json_t *ref, const struct sb_error *err)
{
    wsd_reply_sberr(c, ref, err, NULL);
    wsd_conn_close(c, SB_CLOSE_UNAUTHORIZED, "unauthorized", true);
}

/* --- the upgrade request --- */

/* The token of the upgrade request, as a new string, or NULL. */
static char *
request_token(struct lws *wsi)
{
    int len = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
    char *buf;

    if (len > 0) {
        buf = sb_malloc((size_t)len + 1);
        if (lws_hdr_copy(wsi, buf, len + 1, WSI_TOKEN_HTTP_AUTHORIZATION) <
                0 ||
            strncasecmp(buf, BEARER, strlen(BEARER)) != 0) {
            buf[0] = '\0'; /* present but not a bearer token: refused */
            return buf;
        }
        memmove(buf, buf + strlen(BEARER), strlen(buf + strlen(BEARER)) + 1);
        return buf;
    }
    buf = sb_malloc(SB_TOKEN_MAX + 2);
    if (lws_get_urlarg_by_name(wsi, "access_token=", buf, SB_TOKEN_MAX + 2) !=
        NULL) {
        const char *v = buf + strlen("access_token=");

        memmove(buf, v, strlen(v) + 1);
        return buf;
    }
    free(buf);
    return NULL;
}

/* The upgrade request's subscribe parameter, as a new string, or NULL. */
static char *
request_subscriptions(struct lws *wsi)
{
    int len = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS);
    char *buf;
    const char *v;

    if (len <= 0)
        return NULL;
    buf = sb_malloc((size_t)len + 1);
    v = lws_get_urlarg_by_name(wsi, "subscribe=", buf, len + 1);
    if (v == NULL || *v == '\0') {
        free(buf);
        return NULL;
    }
    memmove(buf, v, strlen(v) + 1);
    return buf;
}

void
wsd_auth_open(struct wsd_conn *c)
{
    char *jwt = request_token(c->wsi);
    struct sb_error err;
    struct sb_token *t;

    c->open_subs = request_subscriptions(c->wsi);
    if (jwt == NULL) {
        bool anon = wsd_srv.anon_patterns && wsd_srv.anon_patterns[0];

        send_hello(c, anon ? "optional" : "required");
        c->auth = anon ? WSD_AUTH_ANON : WSD_AUTH_WAITING;
        if (anon)
            open_subscriptions(c);
        else
            wsd_deadline_set(&c->auth_due, wsd_srv.conf.auth_timeout_ms,
                             timer_cb);
        return;
    }
    t = verify(c, jwt, strlen(jwt), &err);
    free(jwt);
    send_hello(c, t != NULL ? "done" : "required");
    if (t != NULL)
        accept_token(c, t, NULL);
    else
        refuse_first(c, NULL, &err);
}

/* --- the auth op --- */

static void
refresh(const struct wsd_req *r, struct sb_token *t)
{
    struct wsd_conn *c = r->c;

    if (strcmp(t->sub, c->token->sub) != 0) {
        sb_token_free(t);
        wsd_reply_error(c, r->ref, SB_E_FORBIDDEN,
                        "forbidden: a refresh must keep the same sub", NULL,
                        -1);
        return;
    }
    accept_token(c, t, r->ref);
}

void
wsd_auth_handle(const struct wsd_req *r)
{
    static const char *const allowed[] = {"token", NULL};
    struct wsd_conn *c = r->c;
    const char *jwt;
    struct sb_error err;
    struct sb_token *t;

    if (wsd_req_members(r, allowed) != SB_OK ||
        (jwt = wsd_req_string(r, "token")) == NULL)
        return;
    t = verify(c, jwt, strlen(jwt), &err);
    if (c->token == NULL) {
        wsd_deadline_cancel(&c->auth_due);
        if (t != NULL)
            accept_token(c, t, r->ref);
        else
            refuse_first(c, r->ref, &err);
        return;
    }
    if (t == NULL)
        wsd_reply_sberr(c, r->ref, &err, NULL);
    else
        refresh(r, t);
}

void
wsd_auth_conn_closed(struct wsd_conn *c)
{
    if (c->token != NULL)
        wsd_node_audit("disconnect", sb_token_sender(c->token), NULL,
                       c->remote, NULL);
}
