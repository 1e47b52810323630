/*
 * doorbell.h: the payload of NOTIFY switchboard, a compact JSON object that
 * maps each channel touched by a commit to its new last seq:
 *   {"chat:a":42,"activity:main":17}
 * The database builds it in SQL (publish, publish_batch); listeners parse
 * it here and then read the events from the table, so a payload only says
 * where to look. A payload is at most SB_NOTIFY_PAYLOAD_MAX bytes; a commit
 * touching more channels than fit sends several. The builder here is for
 * tests and tools.
 */
#ifndef SB_DOORBELL_H
#define SB_DOORBELL_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "limits.h"

/* One channel and its new last seq. */
struct sb_doorbell_entry {
    char channel[SB_CHANNEL_MAX + 1];
    int64_t seq;
};

/* A list of entries, in payload order. */
struct sb_doorbell {
    struct sb_doorbell_entry *entries; /* owned */
    size_t count;
    size_t cap;
};

/* Called once per entry; return 0 to go on, anything else to stop. */
typedef int (*sb_doorbell_cb)(const char *channel, int64_t seq, void *arg);

/* An empty list. Never NULL; free with sb_doorbell_free(). */
struct sb_doorbell *sb_doorbell_new(void);
/* Releases db; NULL is a no-op. */
void sb_doorbell_free(struct sb_doorbell *db);
/* Append (channel, seq). Returns SB_OK, or SB_ERR with err set to
 * invalid_channel for a bad channel or invalid_parameter for seq < 0. */
int sb_doorbell_add(struct sb_doorbell *db, const char *channel, int64_t seq,
                    struct sb_error *err);

/* Parse payload[0..len) into *out, a new list the caller frees. Returns
 * SB_OK, or SB_ERR with *out NULL and err set: too_large (over
 * SB_NOTIFY_PAYLOAD_MAX bytes), invalid_utf8, invalid_json (not JSON or a
 * duplicate channel), bad_request (not an object, a seq that is not a
 * non-negative integer), invalid_channel (a key that is not a channel). */
int sb_doorbell_parse(const char *payload, size_t len, struct sb_doorbell **out,
                      struct sb_error *err);
/* Parse payload as sb_doorbell_parse() does and, only when all of it is
 * valid, call cb for each entry in payload order. Returns SB_OK, SB_ERR with
 * err set (cb never called), or the first non-zero value cb returned. */
int sb_doorbell_parse_cb(const char *payload, size_t len, sb_doorbell_cb cb,
                         void *arg, struct sb_error *err);

/* Build the payloads for db's entries, in order, each at most max_bytes
 * (0 means SB_NOTIFY_PAYLOAD_MAX; never more than it). On SB_OK *payloads
 * is a new array of *count (>= 1) new NUL-terminated strings; free it with
 * sb_doorbell_payloads_free(). An empty list gives one payload "{}".
 * SB_ERR with err set to invalid_parameter when max_bytes cannot hold a
 * single entry. */
int sb_doorbell_build(const struct sb_doorbell *db, size_t max_bytes,
                      char ***payloads, size_t *count, struct sb_error *err);
/* Releases what sb_doorbell_build() returned; NULL is a no-op. */
void sb_doorbell_payloads_free(char **payloads, size_t count);

#endif
