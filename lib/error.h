/*
 * error.h: the protocol's error codes, one table shared by every path.
 * Each code has a wire name ("invalid_channel"), an HTTP status, a default
 * message and, where the database raises it, a custom SQLSTATE (SB0xx).
 * Also the WebSocket close codes. docs/PROTOCOL.md lists the same.
 */
#ifndef SB_ERROR_H
#define SB_ERROR_H

#include <stddef.h>

enum sb_errcode {
    SB_E_NONE = 0,
    SB_E_BAD_REQUEST,
    SB_E_INVALID_JSON,
    SB_E_INVALID_UTF8,
    SB_E_INVALID_CURSOR,
    SB_E_UNAUTHORIZED,
    SB_E_TOKEN_EXPIRED,
    SB_E_FORBIDDEN,
    SB_E_NOT_FOUND,
    SB_E_METHOD_NOT_ALLOWED,
    SB_E_INVALID_TRANSITION,
    SB_E_TOO_LARGE,
    SB_E_UNSUPPORTED_MEDIA_TYPE,
    SB_E_INVALID_CHANNEL,
    SB_E_UNKNOWN_NAMESPACE,
    SB_E_INVALID_TYPE,
    SB_E_INVALID_DATA,
    SB_E_INVALID_ID,
    SB_E_INVALID_SENDER,
    SB_E_INVALID_PARAMETER,
    SB_E_RATE_LIMITED,
    SB_E_UNAVAILABLE,
    SB_E_INTERNAL,
    SB_E__COUNT
};

/* WebSocket close codes (RFC 6455 and switchboard's own 4xxx). */
#define SB_CLOSE_NORMAL 1000
#define SB_CLOSE_GOING_AWAY 1001
#define SB_CLOSE_PROTOCOL 1002
#define SB_CLOSE_UNSUPPORTED 1003
#define SB_CLOSE_INVALID_UTF8 1007
#define SB_CLOSE_POLICY 1008
#define SB_CLOSE_TOO_BIG 1009
#define SB_CLOSE_INTERNAL 1011
#define SB_CLOSE_UNAUTHORIZED 4001
#define SB_CLOSE_TOKEN_EXPIRED 4002
#define SB_CLOSE_SLOW_CONSUMER 4008
#define SB_CLOSE_RATE_LIMITED 4029

/* Room for one error's message text, detail included. */
#define SB_ERROR_MESSAGE_MAX 256

/* An error as reported to a client: a code and a short message. */
struct sb_error {
    enum sb_errcode code;
    char message[SB_ERROR_MESSAGE_MAX];
};

/* Wire name, e.g. "invalid_channel"; never NULL (unknown -> "internal"). */
const char *sb_errcode_name(enum sb_errcode code);
/* HTTP status for the code (200 for SB_E_NONE). */
int sb_errcode_http_status(enum sb_errcode code);
/* Default message text, lower case, e.g. "invalid channel name". */
const char *sb_errcode_message(enum sb_errcode code);
/* Custom SQLSTATE the database raises for this code, or NULL. */
const char *sb_errcode_sqlstate(enum sb_errcode code);
/* Code for a SQLSTATE: SB0xx map to their code, connection-class states
 * (08xxx, 57P0x, 53xxx) to SB_E_UNAVAILABLE, anything else SB_E_INTERNAL;
 * NULL gives SB_E_INTERNAL. */
enum sb_errcode sb_errcode_from_sqlstate(const char *sqlstate);
/* Code for a wire name; SB_E__COUNT when unknown. */
enum sb_errcode sb_errcode_from_name(const char *name);

/* Fill err with code and a printf-formatted message (truncated to fit);
 * fmt NULL uses the code's default message. Returns SB_ERR, so callers can
 * write "return sb_error_set(err, ...);". err may be NULL. */
int sb_error_set(struct sb_error *err, enum sb_errcode code, const char *fmt,
                 ...) __attribute__((format(printf, 3, 4)));
/* {"error":{"code":"...","message":"..."}} as a new string the caller
 * frees; the message is JSON-escaped. */
char *sb_error_json(const struct sb_error *err);

#endif
