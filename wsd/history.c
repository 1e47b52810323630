/*
 * history.c: history and presence (see history.h). A history read joins
 * channel_info to the page, so "more" is known from one query: paging back
 * there is more when the first seq returned is above oldest_seq, paging
 * forward when the last is below last_seq.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "limits.h"
#include "proto.h"
#include "history.h"
#include "wsd.h"
#include "xalloc.h"

#define BEFORE_SQL                                                             \
    "SELECT i.last_seq, i.oldest_seq, e.seq, e.event FROM "                    \
    "switchboard.channel_info($1) i LEFT JOIN "                                \
    "switchboard.events_before($1, $2::bigint, $3::integer) e ON true "        \
    "ORDER BY e.seq"
#define AFTER_SQL                                                              \
    "SELECT i.last_seq, i.oldest_seq, e.seq, e.event FROM "                    \
    "switchboard.channel_info($1) i LEFT JOIN "                                \
    "switchboard.events_after($1, $2::bigint, $3::integer) e ON true "         \
    "ORDER BY e.seq"
#define PRESENCE_SQL                                                           \
    "SELECT subject, node, conn, switchboard.time_text(joined_at) FROM "      \
    "switchboard.presence_list($1)"
#define DEFAULT_LIMIT 100
#define RETRY_MS 1000

struct waiting {
    struct wsd_conn *c;
    json_t *ref;
    char *channel;
    bool after;
};

static struct waiting *
waiting_new(const struct wsd_req *r, const char *channel, bool after)
{
    struct waiting *w = sb_calloc(1, sizeof(*w));

    w->c = wsd_conn_ref(r->c);
    w->ref = json_deep_copy(r->ref);
    w->channel = sb_strdup(channel);
    w->after = after;
    return w;
}

static void
waiting_free(struct waiting *w)
{
    wsd_conn_unref(w->c);
    json_decref(w->ref);
    free(w->channel);
    free(w);
}

static int
need_ref(const struct wsd_req *r)
{
    if (r->ref != NULL)
        return SB_OK;
    wsd_reply_error(r->c, NULL, SB_E_BAD_REQUEST,
                    "bad request: this op needs a \"ref\"", wsd_req_named(r),
                    -1);
    return SB_ERR;
}

static void
unavailable(const struct wsd_req *r, const char *channel)
{
    wsd_reply_error(r->c, r->ref, SB_E_UNAVAILABLE,
                    "unavailable: database unreachable", channel, RETRY_MS);
}

/* --- history --- */

/* The reply with the events spliced in as the database printed them. */
static void
send_history(struct waiting *w, PGresult *res)
{
    int n = PQntuples(res);
    int first = -1, last = -1;
    bool more = false;
    json_t *o = wsd_reply_new("history", w->ref);
    char *head;
    size_t len = 0, size;
    struct wsd_buf *b;
    unsigned char *p;

    for (int i = 0; i < n; i++) {
        if (PQgetisnull(res, i, 2))
            continue;
        if (first < 0)
            first = i;
        last = i;
        len += (size_t)PQgetlength(res, i, 3) + 1;
    }
    if (first >= 0)
        more = w->after ? strtoll(PQgetvalue(res, last, 2), NULL, 10) <
                              strtoll(PQgetvalue(res, last, 0), NULL, 10)
                        : strtoll(PQgetvalue(res, first, 2), NULL, 10) >
                              strtoll(PQgetvalue(res, first, 1), NULL, 10);
    json_object_set_new(o, "channel", json_string(w->channel));
    json_object_set_new(o, "more", json_boolean(more));
    head = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    size = strlen(head) - 1 + strlen(",\"events\":[") + len + 2;
    b = wsd_buf_new(size);
    p = wsd_buf_payload(b);
    p += sprintf((char *)p, "%.*s,\"events\":[", (int)strlen(head) - 1, head);
    for (int i = first; first >= 0 && i <= last; i++) {
        if (PQgetisnull(res, i, 2))
            continue;
        if (i > first)
            *p++ = ',';
        memcpy(p, PQgetvalue(res, i, 3), (size_t)PQgetlength(res, i, 3));
        p += PQgetlength(res, i, 3);
    }
    *p++ = ']';
    *p++ = '}';
    b->len = (size_t)(p - wsd_buf_payload(b));
    free(head);
    wsd_conn_send(w->c, b, true);
    wsd_buf_unref(b);
}

static void
history_done(PGresult *res, const struct sb_error *err, void *arg)
{
    struct waiting *w = arg;

    if (wsd_conn_alive(w->c)) {
        if (res != NULL)
            send_history(w, res);
        else
            wsd_reply_sberr(w->c, w->ref, err, w->channel);
    }
    waiting_free(w);
}

/* An integer member within [min, max], or absent (*v = dflt). */
static int
read_int(const struct wsd_req *r, const char *name, long long min,
         long long max, long long dflt, enum sb_errcode code, long long *v)
{
    json_t *j = json_object_get(r->msg, name);
    char msg[128];

    *v = dflt;
    if (j == NULL)
        return SB_OK;
    if (json_is_integer(j) && json_integer_value(j) >= min &&
        json_integer_value(j) <= max) {
        *v = json_integer_value(j);
        return SB_OK;
    }
    snprintf(msg, sizeof(msg), "%s: %s must be an integer from %lld to %lld",
             sb_errcode_message(code), name, min, max);
    wsd_req_error(r, code, msg, -1);
    return SB_ERR;
}

static int
read_cursor(const struct wsd_req *r, long long *before, long long *after)
{
    if (read_int(r, "before", 1, INT64_MAX, -1, SB_E_INVALID_CURSOR,
                 before) != SB_OK ||
        read_int(r, "after", 0, INT64_MAX, -1, SB_E_INVALID_CURSOR, after) !=
            SB_OK)
        return SB_ERR;
    if (*before >= 0 && *after >= 0) {
        wsd_req_error(r, SB_E_INVALID_PARAMETER,
                      "invalid parameter: give before or after, not both", -1);
        return SB_ERR;
    }
    return SB_OK;
}

void
wsd_history_handle_history(const struct wsd_req *r)
{
    static const char *const allowed[] = {"channel", "before", "after",
                                          "limit", NULL};
    const char *channel;
    long long before, after, limit;
    char cursor[24], max[16];
    const char *params[3];
    struct waiting *w;

    if (wsd_req_members(r, allowed) != SB_OK || need_ref(r) != SB_OK ||
        (channel = wsd_req_channel(r, SB_VERB_READ)) == NULL ||
        read_cursor(r, &before, &after) != SB_OK ||
        read_int(r, "limit", 1, SB_HISTORY_MAX, DEFAULT_LIMIT,
                 SB_E_INVALID_PARAMETER, &limit) != SB_OK)
        return;
    snprintf(cursor, sizeof(cursor), "%lld", after >= 0 ? after : before);
    snprintf(max, sizeof(max), "%lld", limit);
    params[0] = channel;
    params[1] = after >= 0 || before >= 0 ? cursor : NULL;
    params[2] = max;
    w = waiting_new(r, channel, after >= 0);
    if (wsd_db_read(after >= 0 ? AFTER_SQL : BEFORE_SQL, 3, params,
                    history_done, w) != SB_OK) {
        unavailable(r, channel);
        waiting_free(w);
    }
}

/* --- presence --- */

static void
send_presence(struct waiting *w, PGresult *res)
{
    json_t *o = wsd_reply_new("presence", w->ref);
    json_t *members = json_array();

    for (int i = 0; i < PQntuples(res); i++)
        json_array_append_new(
            members, json_pack("{s:s, s:s, s:s, s:s}", "subject",
                               PQgetvalue(res, i, 0), "node",
                               PQgetvalue(res, i, 1), "conn",
                               PQgetvalue(res, i, 2), "joined_at",
                               PQgetvalue(res, i, 3)));
    json_object_set_new(o, "channel", json_string(w->channel));
    json_object_set_new(o, "members", members);
    wsd_conn_send_json(w->c, o);
}

static void
presence_done(PGresult *res, const struct sb_error *err, void *arg)
{
    struct waiting *w = arg;

    if (wsd_conn_alive(w->c)) {
        if (res != NULL)
            send_presence(w, res);
        else
            wsd_reply_sberr(w->c, w->ref, err, w->channel);
    }
    waiting_free(w);
}

void
wsd_history_handle_presence(const struct wsd_req *r)
{
    static const char *const allowed[] = {"channel", NULL};
    const char *channel;
    const char *params[1];
    struct waiting *w;

    if (wsd_req_members(r, allowed) != SB_OK || need_ref(r) != SB_OK ||
        (channel = wsd_req_channel(r, SB_VERB_READ)) == NULL)
        return;
    params[0] = channel;
    w = waiting_new(r, channel, false);
    if (wsd_db_read(PRESENCE_SQL, 1, params, presence_done, w) != SB_OK) {
        unavailable(r, channel);
        waiting_free(w);
    }
}
