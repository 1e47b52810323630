/*
 * error.c: the protocol's error table (wire name, HTTP status, default
 * message, SQLSTATE) and the helpers that fill and print a struct sb_error.
 * Messages are cut to SB_ERROR_MESSAGE_MAX - 1 bytes on a UTF-8 boundary.
 */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "xalloc.h"

struct errdef {
    const char *name;
    int http_status;
    const char *message;
    const char *sqlstate;
};

/* Indexed by enum sb_errcode; docs/PROTOCOL.md lists the same rows. */
static const struct errdef errdefs[SB_E__COUNT] = {
    [SB_E_NONE] = {"ok", 200, "ok", NULL},
    [SB_E_BAD_REQUEST] = {"bad_request", 400, "bad request", NULL},
    [SB_E_INVALID_JSON] = {"invalid_json", 400, "invalid json", NULL},
    [SB_E_INVALID_UTF8] = {"invalid_utf8", 400, "invalid utf-8", NULL},
    [SB_E_INVALID_CURSOR] = {"invalid_cursor", 400, "invalid cursor", "SB010"},
    [SB_E_UNAUTHORIZED] = {"unauthorized", 401, "missing or invalid token",
                           NULL},
    [SB_E_TOKEN_EXPIRED] = {"token_expired", 401, "token expired", NULL},
    [SB_E_FORBIDDEN] = {"forbidden", 403, "not allowed", NULL},
    [SB_E_NOT_FOUND] = {"not_found", 404, "not found", "SB011"},
    [SB_E_METHOD_NOT_ALLOWED] = {"method_not_allowed", 405,
                                 "method not allowed", NULL},
    [SB_E_INVALID_TRANSITION] = {"invalid_transition", 409,
                                 "invalid task state transition", "SB012"},
    [SB_E_TOO_LARGE] = {"too_large", 413, "too large", "SB005"},
    [SB_E_UNSUPPORTED_MEDIA_TYPE] = {"unsupported_media_type", 415,
                                     "unsupported media type", NULL},
    [SB_E_INVALID_CHANNEL] = {"invalid_channel", 422, "invalid channel name",
                              "SB001"},
    [SB_E_UNKNOWN_NAMESPACE] = {"unknown_namespace", 422, "unknown namespace",
                                "SB002"},
    [SB_E_INVALID_TYPE] = {"invalid_type", 422, "invalid event type", "SB003"},
    [SB_E_INVALID_DATA] = {"invalid_data", 422, "invalid data", "SB004"},
    [SB_E_INVALID_ID] = {"invalid_id", 422, "invalid id", "SB006"},
    [SB_E_INVALID_SENDER] = {"invalid_sender", 422, "invalid sender", "SB007"},
    [SB_E_INVALID_PARAMETER] = {"invalid_parameter", 422, "invalid parameter",
                                "SB008"},
    [SB_E_RATE_LIMITED] = {"rate_limited", 429, "rate limited", NULL},
    [SB_E_UNAVAILABLE] = {"unavailable", 503, "service unavailable", NULL},
    [SB_E_INTERNAL] = {"internal", 500, "internal error", NULL},
};

static const struct errdef *
lookup(enum sb_errcode code)
{
    if ((unsigned)code >= SB_E__COUNT)
        return &errdefs[SB_E_INTERNAL];
    return &errdefs[code];
}

const char *
sb_errcode_name(enum sb_errcode code)
{
    return lookup(code)->name;
}

int
sb_errcode_http_status(enum sb_errcode code)
{
    return lookup(code)->http_status;
}

const char *
sb_errcode_message(enum sb_errcode code)
{
    return lookup(code)->message;
}

const char *
sb_errcode_sqlstate(enum sb_errcode code)
{
    return lookup(code)->sqlstate;
}

/* Connection-class SQLSTATEs: the database is gone or refusing, so the
 * client may retry the same request later. */
static int
sqlstate_unavailable(const char *s)
{
    return strncmp(s, "08", 2) == 0 || strncmp(s, "57P0", 4) == 0 ||
           strncmp(s, "53", 2) == 0;
}

enum sb_errcode
sb_errcode_from_sqlstate(const char *sqlstate)
{
    int i;

    if (sqlstate == NULL || strlen(sqlstate) != 5)
        return SB_E_INTERNAL;
    for (i = 0; i < SB_E__COUNT; i++) {
        if (errdefs[i].sqlstate && strcmp(errdefs[i].sqlstate, sqlstate) == 0)
            return (enum sb_errcode)i;
    }
    if (sqlstate_unavailable(sqlstate))
        return SB_E_UNAVAILABLE;
    return SB_E_INTERNAL;
}

enum sb_errcode
sb_errcode_from_name(const char *name)
{
    int i;

    if (name == NULL)
        return SB_E__COUNT;
    for (i = 0; i < SB_E__COUNT; i++) {
        if (strcmp(errdefs[i].name, name) == 0)
            return (enum sb_errcode)i;
    }
    return SB_E__COUNT;
}

/* Cut s (of length len) back so it does not end inside a UTF-8 sequence. */
static void
trim_utf8_tail(char *s, size_t len)
{
    size_t start = len;
    size_t need;
    unsigned char lead;

    while (start > 0 && ((unsigned char)s[start - 1] & 0xC0) == 0x80)
        start--;
    if (start == 0)
        return;
    lead = (unsigned char)s[start - 1];
    if (lead < 0x80)
        return;
    need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
    if (len - (start - 1) < need)
        s[start - 1] = '\0';
}

int
sb_error_set(struct sb_error *err, enum sb_errcode code, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (err == NULL)
        return SB_ERR;
    err->code = code;
    if (fmt == NULL) {
        snprintf(err->message, sizeof(err->message), "%s",
                 sb_errcode_message(code));
        return SB_ERR;
    }
    va_start(ap, fmt);
    n = vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    if (n < 0)
        snprintf(err->message, sizeof(err->message), "%s",
                 sb_errcode_message(code));
    else if (n >= (int)sizeof(err->message))
        trim_utf8_tail(err->message, sizeof(err->message) - 1);
    return SB_ERR;
}

char *
sb_error_json(const struct sb_error *err)
{
    json_t *msg, *root;
    char *out;

    SB_ASSERT(err != NULL);
    msg = json_string(err->message);
    if (msg == NULL) /* not UTF-8: fall back to the code's own text */
        msg = json_string(sb_errcode_message(err->code));
    root = json_pack("{s:{s:s,s:o}}", "error", "code",
                     sb_errcode_name(err->code), "message", msg);
    SB_ASSERT(root != NULL);
    out = json_dumps(root, JSON_COMPACT);
    SB_ASSERT(out != NULL);
    json_decref(root);
    return out;
}
