/*
 * proto.c: client messages (see proto.h). A message must be a JSON object
 * (duplicate keys refused) with a string "op" and an optional "ref" (a
 * string of 1..64 bytes or an integer). The op table names the handler
 * and what the connection's authentication must be for it.
 */
#include <string.h>

#include "auth.h"
#include "channel.h"
#include "history.h"
#include "log.h"
#include "metricsub.h"
#include "proto.h"
#include "publish.h"
#include "sub.h"
#include "wsd.h"
#include "xalloc.h"

#define REF_MAX 64
/* Retry hint for unavailable, milliseconds. */
#define UNAVAILABLE_RETRY_MS 1000

enum gate {
    GATE_NONE,  /* any time (auth, ping) */
    GATE_AUTH,  /* authenticated or anonymous */
    GATE_FRESH, /* also refused during the token grace */
};

static void handle_ping(const struct wsd_req *r);

static const struct {
    const char *op;
    void (*handle)(const struct wsd_req *r);
    enum gate gate;
} ops[] = {
    {"auth", wsd_auth_handle, GATE_NONE},
    {"ping", handle_ping, GATE_NONE},
    {"subscribe", wsd_sub_handle_subscribe, GATE_FRESH},
    {"unsubscribe", wsd_sub_handle_unsubscribe, GATE_AUTH},
    {"publish", wsd_publish_handle_publish, GATE_FRESH},
    {"signal", wsd_publish_handle_signal, GATE_FRESH},
    {"history", wsd_history_handle_history, GATE_FRESH},
    {"presence", wsd_history_handle_presence, GATE_FRESH},
    {"metrics.subscribe", wsd_metricsub_handle_subscribe, GATE_FRESH},
    {"metrics.refresh", wsd_metricsub_handle_refresh, GATE_FRESH},
    {"metrics.interval", wsd_metricsub_handle_interval, GATE_FRESH},
    {"metrics.unsubscribe", wsd_metricsub_handle_unsubscribe, GATE_AUTH},
};

/* --- replies --- */

json_t *
wsd_reply_new(const char *op, const json_t *ref)
{
    json_t *o = json_object();

    json_object_set_new(o, "op", json_string(op));
    if (ref != NULL)
        json_object_set_new(o, "ref", json_deep_copy(ref));
    return o;
}

void
wsd_reply_put_ref(struct sb_strbuf *b, const json_t *ref)
{
    char *r;

    if (ref == NULL)
        return;
    r = json_dumps(ref, JSON_ENCODE_ANY | JSON_COMPACT);
    sb_strbuf_puts(b, "\"ref\":");
    sb_strbuf_puts(b, r);
    sb_strbuf_putc(b, ',');
    free(r);
}

void
wsd_reply_error(struct wsd_conn *c, const json_t *ref, enum sb_errcode code,
                const char *message, const char *channel, long long retry_ms)
{
    json_t *o = wsd_reply_new("error", ref);

    json_object_set_new(o, "code", json_string(sb_errcode_name(code)));
    json_object_set_new(o, "message",
                        json_string(message != NULL
                                        ? message
                                        : sb_errcode_message(code)));
    if (channel != NULL)
        json_object_set_new(o, "channel", json_string(channel));
    if (retry_ms >= 0)
        json_object_set_new(o, "retry", json_integer(retry_ms));
    wsd_conn_send_json(c, o);
}

void
wsd_reply_sberr(struct wsd_conn *c, const json_t *ref,
                const struct sb_error *err, const char *channel)
{
    wsd_reply_error(c, ref, err->code, err->message, channel,
                    err->code == SB_E_UNAVAILABLE ? UNAVAILABLE_RETRY_MS : -1);
}

/* --- request helpers --- */

const char *
wsd_req_named(const struct wsd_req *r)
{
    json_t *v = json_object_get(r->msg, "channel");
    const char *s = json_string_value(v);

    /* One with U+0000 would be echoed cut short: left out instead. */
    return s != NULL && strlen(s) == json_string_length(v) ? s : NULL;
}

void
wsd_req_error(const struct wsd_req *r, enum sb_errcode code,
              const char *message, long long retry_ms)
{
    wsd_reply_error(r->c, r->ref, code, message, wsd_req_named(r), retry_ms);
}

static bool
listed(const char *key, const char *const *allowed)
{
    if (strcmp(key, "op") == 0 || strcmp(key, "ref") == 0)
        return true;
    for (; allowed != NULL && *allowed != NULL; allowed++) {
        if (strcmp(key, *allowed) == 0)
            return true;
    }
    return false;
}

int
wsd_req_members(const struct wsd_req *r, const char *const *allowed)
{
    const char *key;
    json_t *value;
    char msg[128];

    json_object_foreach(r->msg, key, value) {
        if (!listed(key, allowed)) {
            snprintf(msg, sizeof(msg), "bad request: unknown member \"%.64s\"",
                     key);
            wsd_req_error(r, SB_E_BAD_REQUEST, msg, -1);
            return SB_ERR;
        }
    }
    return SB_OK;
}

const char *
wsd_req_string(const struct wsd_req *r, const char *name)
{
    json_t *v = json_object_get(r->msg, name);
    char msg[128];

    if (json_is_string(v) &&
        strlen(json_string_value(v)) == json_string_length(v))
        return json_string_value(v);
    if (json_is_string(v) && strcmp(name, "channel") == 0) {
        wsd_req_error(r, SB_E_INVALID_CHANNEL,
                      "invalid channel: contains \\u0000", -1);
        return NULL;
    }
    snprintf(msg, sizeof(msg), "bad request: \"%s\" %s", name,
             v == NULL             ? "is missing"
             : json_is_string(v) ? "contains \\u0000"
                                   : "must be a string");
    wsd_req_error(r, SB_E_BAD_REQUEST, msg, -1);
    return NULL;
}

int
wsd_req_allows(const struct wsd_conn *c, enum sb_verb verb,
               const char *channel)
{
    if (c->auth == WSD_AUTH_ANON) {
        if (verb != SB_VERB_READ)
            return SB_ERR;
        for (char **p = wsd_srv.anon_patterns; p && *p; p++) {
            if (sb_pattern_match(*p, channel))
                return SB_OK;
        }
        return SB_ERR;
    }
    return sb_token_allows(c->token, verb, channel) ? SB_OK : SB_ERR;
}

static const char *
verb_name(enum sb_verb verb)
{
    return verb == SB_VERB_READ ? "read"
           : verb == SB_VERB_PUBLISH ? "publish"
                                     : "signal";
}

int
wsd_channel_check(struct wsd_conn *c, const json_t *ref, const char *channel,
                  enum sb_verb verb)
{
    struct sb_error err;
    char msg[256];

    if (sb_channel_check(channel, &err) != SB_OK) {
        wsd_reply_sberr(c, ref, &err, channel);
        return SB_ERR;
    }
    if (wsd_req_allows(c, verb, channel) != SB_OK) {
        snprintf(msg, sizeof(msg), "forbidden: %s on %s", verb_name(verb),
                 channel);
        wsd_reply_error(c, ref, SB_E_FORBIDDEN, msg, channel, -1);
        return SB_ERR;
    }
    return SB_OK;
}

const char *
wsd_req_channel(const struct wsd_req *r, enum sb_verb verb)
{
    const char *channel = wsd_req_string(r, "channel");

    if (channel == NULL ||
        wsd_channel_check(r->c, r->ref, channel, verb) != SB_OK)
        return NULL;
    return channel;
}

/* --- ping --- */

static void
handle_ping(const struct wsd_req *r)
{
    static const char *const allowed[] = {"ts", NULL};
    json_t *ts = json_object_get(r->msg, "ts");
    json_t *o;

    if (wsd_req_members(r, allowed) != SB_OK)
        return;
    if (!json_is_number(ts)) {
        wsd_req_error(r, SB_E_BAD_REQUEST,
                      "bad request: \"ts\" must be a number", -1);
        return;
    }
    o = wsd_reply_new("pong", r->ref);
    json_object_set(o, "ts", ts);
    json_object_set_new(o, "server_ts", json_integer(wsd_now_ms()));
    wsd_conn_send_json(r->c, o);
}

/* --- dispatch --- */

static int
gate(const struct wsd_req *r, enum gate g)
{
    enum wsd_auth a = r->c->auth;

    if (g == GATE_NONE || a == WSD_AUTH_OK || a == WSD_AUTH_ANON)
        return SB_OK;
    if (a == WSD_AUTH_GRACE) {
        if (g == GATE_AUTH)
            return SB_OK;
        wsd_req_error(r, SB_E_TOKEN_EXPIRED,
                      "token expired: send a new token with auth", -1);
        return SB_ERR;
    }
    wsd_req_error(r, SB_E_UNAUTHORIZED, "unauthorized: send auth first", -1);
    return SB_ERR;
}

static void
dispatch(struct wsd_req *r)
{
    /* An op with U+0000 in it names no op. */
    size_t len = json_string_length(json_object_get(r->msg, "op"));
    char msg[128];

    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        if (strcmp(r->op, ops[i].op) == 0 && strlen(r->op) == len) {
            if (gate(r, ops[i].gate) == SB_OK)
                ops[i].handle(r);
            return;
        }
    }
    snprintf(msg, sizeof(msg), "bad request: unknown op: %.64s", r->op);
    wsd_req_error(r, SB_E_BAD_REQUEST, msg, -1);
}

/* The ref member when it is readable: a string of 1..64 bytes or an
 * integer. *bad is set when a ref is present but unreadable. */
static json_t *
read_ref(json_t *msg, bool *bad)
{
    json_t *ref = json_object_get(msg, "ref");
    size_t len;

    *bad = false;
    if (ref == NULL || json_is_integer(ref))
        return ref;
    len = json_is_string(ref) ? json_string_length(ref) : 0;
    if (len >= 1 && len <= REF_MAX)
        return ref;
    *bad = true;
    return NULL;
}

/* Frames jansson refuses for their content rather than their syntax (a
 * number out of range, U+0000 in a key) are still requests, answered
 * invalid_data with their ref (PROTOCOL.md 4.14). The offending token is
 * blanked out of a copy, up to this many times, to read the rest. */
#define CONTENT_FIXES_MAX 16

/* Overwrite the number or key token of text ending at end with a
 * harmless token of the same length: null for a number, "#n" for a key
 * (n keeps blanked keys of one object distinct). false when the token is
 * not where jansson said. */
static bool
blank_token(char *text, size_t end, enum json_error_code code, int n)
{
    size_t start = end;
    char key[8];

    if (code == json_error_numeric_overflow) {
        while (start > 0 && strchr("0123456789+-.eE", text[start - 1]) &&
               text[start - 1] != '\0')
            start--;
        if (end - start < 4)
            return false;
        memset(text + start, ' ', end - start);
        memcpy(text + start, "null", 4);
        return true;
    }
    if (end < 2 || text[end - 1] != '"')
        return false;
    for (start = end - 1; start > 0; start--) {
        size_t bs = 0;

        while (start - 1 - bs > 0 && text[start - 2 - bs] == '\\')
            bs++;
        if (text[start - 1] == '"' && bs % 2 == 0)
            break;
    }
    snprintf(key, sizeof(key), "\"#%d\"", n);
    if (start == 0 || end - (start - 1) < strlen(key))
        return false;
    memset(text + start - 1, ' ', end - (start - 1));
    memcpy(text + start - 1, key, strlen(key));
    return true;
}

/* The message parsed, or NULL after answering. *content is set (code
 * and message) when the frame parsed only after blanking content
 * jansson refuses; the caller answers it once the ref is known. */
static json_t *
parse(struct wsd_conn *c, const char *text, size_t len,
      struct sb_error *content)
{
    json_error_t jerr;
    char *copy = NULL;
    json_t *msg;
    char m[256];
    int fixes = 0;
    enum json_error_code code;

    content->code = SB_E_NONE;
    for (;;) {
        msg = json_loadb(copy != NULL ? copy : text, len,
                         JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL |
                             JSON_DECODE_ANY,
                         &jerr);
        code = json_error_code(&jerr);
        if (msg != NULL ||
            (code != json_error_numeric_overflow &&
             code != json_error_null_byte_in_key) ||
            fixes >= CONTENT_FIXES_MAX || jerr.position <= 0 ||
            (size_t)jerr.position > len)
            break;
        if (copy == NULL) {
            copy = sb_malloc(len + 1);
            memcpy(copy, text, len);
            copy[len] = '\0';
        }
        if (!blank_token(copy, (size_t)jerr.position, code, fixes))
            break;
        if (content->code == SB_E_NONE)
            sb_error_set(content, SB_E_INVALID_DATA,
                         code == json_error_numeric_overflow
                             ? "invalid data: number out of range"
                             : "invalid data: contains \\u0000");
        fixes++;
    }
    free(copy);
    if (msg == NULL) {
        enum sb_errcode ecode = code == json_error_invalid_utf8
                                    ? SB_E_INVALID_UTF8
                                    : SB_E_INVALID_JSON;

        snprintf(m, sizeof(m), "%s: %s", sb_errcode_message(ecode),
                 jerr.text);
        wsd_reply_error(c, NULL, ecode, m, NULL, -1);
        return NULL;
    }
    if (!json_is_object(msg)) {
        wsd_reply_error(c, NULL, SB_E_BAD_REQUEST,
                        "bad request: a message must be a JSON object", NULL,
                        -1);
        json_decref(msg);
        return NULL;
    }
    return msg;
}

void
wsd_proto_message(struct wsd_conn *c, const char *text, size_t len)
{
    struct sb_error content;
    json_t *msg = parse(c, text, len, &content);
    struct wsd_req r = {c, msg, NULL, NULL};
    bool bad_ref;

    if (msg == NULL)
        return;
    r.ref = read_ref(msg, &bad_ref);
    r.op = json_string_value(json_object_get(msg, "op"));
    if (bad_ref)
        wsd_reply_error(c, NULL, SB_E_BAD_REQUEST,
                        "bad request: \"ref\" must be a string of 1 to 64 "
                        "bytes or an integer",
                        wsd_req_named(&r), -1);
    else if (r.op == NULL)
        wsd_req_error(&r, SB_E_BAD_REQUEST,
                      "bad request: \"op\" must be a string", -1);
    else if (content.code != SB_E_NONE)
        wsd_req_error(&r, content.code, content.message, -1);
    else
        dispatch(&r);
    json_decref(msg);
}
