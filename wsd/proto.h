/*
 * proto.h: client messages: parsing, the dispatch to the module that owns
 * each op, and the helpers every handler uses to check members and answer
 * (PROTOCOL.md section 4). Handlers get a request whose msg and ref stay
 * valid for the call only.
 */
#ifndef WSD_PROTO_H
#define WSD_PROTO_H

#include <stddef.h>

#include <jansson.h>

#include "strbuf.h"

#include "conn.h"
#include "error.h"
#include "token.h"

struct wsd_req {
    struct wsd_conn *c;
    json_t *msg; /* the message object (borrowed) */
    json_t *ref; /* its ref, or NULL (borrowed) */
    const char *op;
};

/* Handle one complete text message from c. */
void wsd_proto_message(struct wsd_conn *c, const char *text, size_t len);

/* {"op":op} with "ref" copied from ref when not NULL; a new object. */
json_t *wsd_reply_new(const char *op, const json_t *ref);
/* Append "ref":<ref>, to b when ref is set (for replies printed as text
 * rather than built as JSON trees). */
void wsd_reply_put_ref(struct sb_strbuf *b, const json_t *ref);
/* Queue {"op":"error","ref"?,"code","message","channel"?,"retry"?};
 * channel may be NULL, retry_ms < 0 leaves retry out. */
void wsd_reply_error(struct wsd_conn *c, const json_t *ref,
                     enum sb_errcode code, const char *message,
                     const char *channel, long long retry_ms);
/* The same from an sb_error; unavailable gets a retry hint. */
void wsd_reply_sberr(struct wsd_conn *c, const json_t *ref,
                     const struct sb_error *err, const char *channel);

/* The "channel" member of r when it is a string without U+0000
 * (unchecked), else NULL: the channel every error about r names
 * (PROTOCOL.md 4.14). Borrowed from r->msg. */
const char *wsd_req_named(const struct wsd_req *r);
/* wsd_reply_error for r: its ref and the channel it named. */
void wsd_req_error(const struct wsd_req *r, enum sb_errcode code,
                   const char *message, long long retry_ms);

/* SB_OK when every member of r->msg is "op", "ref" or one of allowed
 * (NULL-terminated); else answers bad_request and returns SB_ERR. */
int wsd_req_members(const struct wsd_req *r, const char *const *allowed);
/* The string member name, or NULL after answering bad_request (missing or
 * not a string). */
const char *wsd_req_string(const struct wsd_req *r, const char *name);
/* SB_OK when channel has valid grammar and c may use verb on it; else
 * SB_ERR after answering the error (with ref). */
int wsd_channel_check(struct wsd_conn *c, const json_t *ref,
                      const char *channel, enum sb_verb verb);
/* The channel member, checked: present, and wsd_channel_check(). NULL
 * after answering the error. */
const char *wsd_req_channel(const struct wsd_req *r, enum sb_verb verb);
/* SB_OK when the connection may use verb on channel now (authenticated
 * or anonymous reading, not in the token grace). */
int wsd_req_allows(const struct wsd_conn *c, enum sb_verb verb,
                   const char *channel);

#endif
