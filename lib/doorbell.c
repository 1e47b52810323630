/*
 * doorbell.c: parse and build NOTIFY doorbell payloads (see doorbell.h).
 * A payload is at most SB_NOTIFY_PAYLOAD_MAX bytes; each entry's channel
 * follows the channel grammar and its seq is a non-negative 64-bit integer.
 */
#include "doorbell.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "channel.h"
#include "xalloc.h"

/* Longest entry: quotes, channel, colon, a 19-digit seq. */
#define ENTRY_MAX (SB_CHANNEL_MAX + 23)

struct sb_doorbell *
sb_doorbell_new(void)
{
    return sb_calloc(1, sizeof(struct sb_doorbell));
}

void
sb_doorbell_free(struct sb_doorbell *db)
{
    if (db == NULL)
        return;
    free(db->entries);
    free(db);
}

int
sb_doorbell_add(struct sb_doorbell *db, const char *channel, int64_t seq,
                struct sb_error *err)
{
    struct sb_doorbell_entry *e;

    if (sb_channel_check(channel, err) != SB_OK)
        return SB_ERR;
    if (seq < 0)
        return sb_error_set(err, SB_E_INVALID_PARAMETER,
                            "invalid parameter: negative seq");
    if (db->count == db->cap) {
        db->cap = db->cap ? db->cap * 2 : 16;
        db->entries = sb_realloc(db->entries, db->cap * sizeof(*e));
    }
    e = &db->entries[db->count++];
    memcpy(e->channel, channel, strlen(channel) + 1);
    e->seq = seq;
    return SB_OK;
}

static int
parse_error(const json_error_t *je, struct sb_error *err)
{
    if (json_error_code(je) == json_error_invalid_utf8)
        return sb_error_set(err, SB_E_INVALID_UTF8,
                            "invalid utf-8: bad byte at offset %d",
                            je->position);
    return sb_error_set(err, SB_E_INVALID_JSON, "invalid json: %s", je->text);
}

static int
add_member(struct sb_doorbell *db, const char *key, const json_t *val,
           struct sb_error *err)
{
    if (!json_is_integer(val) || json_integer_value(val) < 0)
        return sb_error_set(err, SB_E_BAD_REQUEST,
                            "bad request: seq of \"%s\" is not a "
                            "non-negative integer",
                            key);
    return sb_doorbell_add(db, key, json_integer_value(val), err);
}

static int
add_members(struct sb_doorbell *db, json_t *root, struct sb_error *err)
{
    const char *key;
    json_t *val;

    if (!json_is_object(root))
        return sb_error_set(err, SB_E_BAD_REQUEST,
                            "bad request: doorbell is not a JSON object");
    json_object_foreach(root, key, val)
    {
        if (add_member(db, key, val, err) != SB_OK)
            return SB_ERR;
    }
    return SB_OK;
}

int
sb_doorbell_parse(const char *payload, size_t len, struct sb_doorbell **out,
                  struct sb_error *err)
{
    struct sb_doorbell *db = NULL;
    json_error_t je;
    json_t *root = NULL;
    int rc = SB_ERR;

    *out = NULL;
    if (len > SB_NOTIFY_PAYLOAD_MAX) {
        sb_error_set(err, SB_E_TOO_LARGE,
                     "too large: doorbell longer than %d bytes",
                     SB_NOTIFY_PAYLOAD_MAX);
        goto out;
    }
    root =
        json_loadb(payload, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (root == NULL) {
        parse_error(&je, err);
        goto out;
    }
    db = sb_doorbell_new();
    if (add_members(db, root, err) != SB_OK)
        goto out;
    *out = db;
    db = NULL;
    rc = SB_OK;
out:
    sb_doorbell_free(db);
    json_decref(root);
    return rc;
}

int
sb_doorbell_parse_cb(const char *payload, size_t len, sb_doorbell_cb cb,
                     void *arg, struct sb_error *err)
{
    struct sb_doorbell *db;
    size_t i;
    int rc;

    if (sb_doorbell_parse(payload, len, &db, err) != SB_OK)
        return SB_ERR;
    rc = 0;
    for (i = 0; i < db->count && rc == 0; i++)
        rc = cb(db->entries[i].channel, db->entries[i].seq, arg);
    sb_doorbell_free(db);
    return rc;
}

/* --- building --- */

struct payloads {
    char **v;
    size_t count;
    char cur[SB_NOTIFY_PAYLOAD_MAX + 1]; /* the payload being filled */
    size_t len;
};

static void
payload_flush(struct payloads *p)
{
    p->v = sb_realloc(p->v, (p->count + 1) * sizeof(*p->v));
    p->cur[p->len++] = '}';
    p->v[p->count++] = sb_strndup(p->cur, p->len);
    p->cur[0] = '{';
    p->len = 1;
}

/* Append one entry, starting a new payload first when it would not fit. */
static int
payload_add(struct payloads *p, const struct sb_doorbell_entry *e, size_t max,
            struct sb_error *err)
{
    char entry[ENTRY_MAX + 2];
    int n;

    n = snprintf(entry, sizeof(entry), "%s\"%s\":%" PRId64,
                 p->len > 1 ? "," : "", e->channel, e->seq);
    if (p->len + (size_t)n + 1 > max && p->len > 1) {
        payload_flush(p);
        n = snprintf(entry, sizeof(entry), "\"%s\":%" PRId64, e->channel,
                     e->seq);
    }
    if (p->len + (size_t)n + 1 > max)
        return sb_error_set(err, SB_E_INVALID_PARAMETER,
                            "invalid parameter: doorbell limit of %zu bytes "
                            "cannot hold one entry",
                            max);
    memcpy(p->cur + p->len, entry, (size_t)n);
    p->len += (size_t)n;
    return SB_OK;
}

int
sb_doorbell_build(const struct sb_doorbell *db, size_t max_bytes,
                  char ***payloads, size_t *count, struct sb_error *err)
{
    struct payloads *p = sb_calloc(1, sizeof(*p));
    size_t i;
    int rc = SB_ERR;

    *payloads = NULL;
    *count = 0;
    if (max_bytes == 0 || max_bytes > SB_NOTIFY_PAYLOAD_MAX)
        max_bytes = SB_NOTIFY_PAYLOAD_MAX;
    p->cur[0] = '{';
    p->len = 1;
    for (i = 0; i < db->count; i++) {
        if (payload_add(p, &db->entries[i], max_bytes, err) != SB_OK)
            goto out;
    }
    payload_flush(p);
    *payloads = p->v;
    *count = p->count;
    p->v = NULL;
    rc = SB_OK;
out:
    sb_doorbell_payloads_free(p->v, p->count);
    free(p);
    return rc;
}

void
sb_doorbell_payloads_free(char **payloads, size_t count)
{
    size_t i;

    if (payloads == NULL)
        return;
    for (i = 0; i < count; i++)
        free(payloads[i]);
    free(payloads);
}
