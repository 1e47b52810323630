/*
 * envelope.h: the event, as a client publishes it and as every path delivers
 * it.
 *
 * Input: a publish request is a JSON object
 *   {"channel": <channel>, "type": <type>, "data": <object>, "id": <uuid>?}
 * and nothing else (the sender is never client input: the server sets it
 * from the token). A batch is a JSON array of 1..SB_BATCH_MAX such objects.
 * Parsing validates everything C can know (not whether the namespace
 * exists, which is the database's business):
 *   channel  channel.h grammar, at most SB_CHANNEL_MAX bytes
 *   type     ^[a-z][a-z0-9_]{0,31}(\.[a-z][a-z0-9_]{0,31})*$, <= SB_TYPE_MAX
 *   id       canonical UUID text (8-4-4-4-12 hex, any case), stored lower
 *   data     an object; depth <= SB_DATA_DEPTH_MAX (the data object itself
 *            is depth 1, each nested object or array one more); no U+0000
 *            in any key or string (jsonb cannot store it); compact
 *            serialization at most max_data_bytes
 *   log      type "log" requires data {"level": info|success|warning|error,
 *            "message": 1..SB_LOG_MESSAGE_MAX bytes, "metadata": object?}
 *            and no other key
 *
 * Output: sb_event_encode() prints the one event shape
 *   {"channel":..,"seq":..,"id":..,"type":..,"sender":..,"time":..,"data":..}
 * compact, keys in that order, seq null for ephemeral signals, time UTC
 * "YYYY-MM-DDTHH:MM:SS.ffffffZ". String fields are escaped as PostgreSQL's
 * to_json(text) escapes them, so the envelope prints byte for byte as
 * switchboard.event_json() prints it.
 */
#ifndef SB_ENVELOPE_H
#define SB_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "error.h"

/* Canonical UUID text: 8-4-4-4-12 hex digits. */
#define SB_UUID_TEXT_LEN 36
/* The seq of an ephemeral signal; sb_event_encode() prints it as null. */
#define SB_SEQ_NONE (-1)
/* Room for a formatted time, "YYYY-MM-DDTHH:MM:SS.ffffffZ" and its NUL. */
#define SB_TIME_TEXT_SIZE 32
/* bad_index of a batch that is wrong as a whole, not in one element. */
#define SB_BATCH_NO_INDEX ((size_t)-1)

/* A parsed, validated publish request. */
struct sb_event {
    char *channel;                 /* owned */
    char *type;                    /* owned */
    char id[SB_UUID_TEXT_LEN + 1]; /* lower case; "" when none was given */
    json_t *data;                  /* owned reference to the data object */
    char *data_text; /* owned: data as compact JSON (strings escaped as
                      * to_json does, reals in their shortest exact form) */
    size_t data_len; /* strlen(data_text) */
};

/* A parsed, validated batch: count events in input order. */
struct sb_event_batch {
    struct sb_event **events; /* owned, each owned */
    size_t count;
};

/* What sb_event_encode() prints. Fields are borrowed and assumed valid
 * (they come from the server or the database); they are escaped anyway.
 * Exactly one of data_json and data is set. */
struct sb_envelope {
    const char *channel;
    int64_t seq; /* >= 0, or SB_SEQ_NONE for an ephemeral signal */
    const char *id;
    const char *type;
    const char *sender;
    int64_t time_us;   /* microseconds since 1970-01-01 UTC */
    json_t *data_json; /* printed compact when set, else: */
    const char *data;  /* raw JSON text of the object, spliced as is */
    size_t data_len;
};

/* An empty event (every pointer NULL). Never NULL; free with
 * sb_event_free(). */
struct sb_event *sb_event_new(void);
/* Releases ev and everything it owns; NULL is a no-op. */
void sb_event_free(struct sb_event *ev);

/* Parse and validate one publish request from text[0..len).
 * max_data_bytes bounds data's compact serialization (0 means
 * SB_DATA_MAX_DEFAULT; larger than SB_DATA_MAX_HARD is clamped to it).
 * Returns SB_OK and *out, a new event the caller frees with
 * sb_event_free(). On failure returns SB_ERR, leaves *out NULL and sets
 * err: invalid_utf8 (bad UTF-8 bytes), invalid_json (not JSON, or a
 * duplicate key), bad_request (not an object, a required key missing, an
 * unknown key), invalid_channel, invalid_type, invalid_id, invalid_data
 * (data not an object, too deep, U+0000, a bad log entry, a number out of
 * range) or too_large (data over max_data_bytes). */
int sb_event_parse(const char *text, size_t len, size_t max_data_bytes,
                   struct sb_event **out, struct sb_error *err);
/* The same for an already parsed request (borrowed; the event takes its
 * own reference to the data object). */
int sb_event_from_json(json_t *obj, size_t max_data_bytes,
                       struct sb_event **out, struct sb_error *err);

/* An empty batch. Never NULL; free with sb_event_batch_free(). */
struct sb_event_batch *sb_event_batch_new(void);
/* Releases b and its events; NULL is a no-op. */
void sb_event_batch_free(struct sb_event_batch *b);
/* Parse and validate a batch from text[0..len): a JSON array of
 * 1..SB_BATCH_MAX publish requests. Returns SB_OK and *out, a new batch the
 * caller frees. On failure returns SB_ERR, leaves *out NULL, sets err as
 * sb_event_parse() does (the message prefixed with "event N: ") and sets
 * *bad_index (may be NULL) to the 0-based index of the first bad element,
 * or SB_BATCH_NO_INDEX when the batch itself is wrong: not JSON or UTF-8
 * (invalid_json, invalid_utf8), not an array or empty (bad_request), more
 * than SB_BATCH_MAX elements (too_large). */
int sb_event_batch_parse(const char *text, size_t len, size_t max_data_bytes,
                         struct sb_event_batch **out, size_t *bad_index,
                         struct sb_error *err);
/* The same for an already parsed array (borrowed). */
int sb_event_batch_from_json(json_t *array, size_t max_data_bytes,
                             struct sb_event_batch **out, size_t *bad_index,
                             struct sb_error *err);

/* SB_OK when type[0..len) is a valid event type; SB_ERR and err set to
 * invalid_type saying what is wrong otherwise. */
int sb_type_check(const char *type, size_t len, struct sb_error *err);
/* SB_OK when id (NUL-terminated) is a canonical UUID, and then, if out is
 * not NULL, its lower-case form written to out; SB_ERR and err set to
 * invalid_id otherwise. */
int sb_id_check(const char *id, char out[SB_UUID_TEXT_LEN + 1],
                struct sb_error *err);
/* SB_OK when sender[0..len) is 1..SB_SENDER_MAX bytes of valid UTF-8
 * without control characters (U+0000..U+001F, U+007F..U+009F); SB_ERR and
 * err set to invalid_sender otherwise. */
int sb_sender_check(const char *sender, size_t len, struct sb_error *err);
/* Validate data for an event of the given type (the type's own grammar is
 * not checked here): see the data and log rules above. max_data_bytes as
 * for sb_event_parse(). On SB_OK, when text is not NULL, *text is a new
 * compact serialization the caller frees and *text_len (may be NULL) its
 * length. On SB_ERR err is invalid_data or too_large and *text is NULL. */
int sb_data_check(json_t *data, const char *type, size_t max_data_bytes,
                  char **text, size_t *text_len, struct sb_error *err);

/* Microseconds since the epoch for ts (nanoseconds truncated). */
int64_t sb_time_us(const struct timespec *ts);
/* Format time_us as "YYYY-MM-DDTHH:MM:SS.ffffffZ" (UTC) into out; returns
 * out. Years outside 0..9999 are clamped to them. */
char *sb_time_format(int64_t time_us, char out[SB_TIME_TEXT_SIZE]);

/* The event envelope as a new NUL-terminated string the caller frees; its
 * length goes to *len when len is not NULL. Never fails (aborts on out of
 * memory); the raw data text is not re-validated, so it must come from a
 * trusted source (the database or sb_event's data_text). */
char *sb_event_encode(const struct sb_envelope *env, size_t *len);

#endif
