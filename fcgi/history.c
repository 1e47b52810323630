/*
 * history.c: history, channel list, channel info and presence (see
 * history.h). A history read joins channel_info to the page, so "more",
 * last_seq and oldest_seq come from one statement; events are spliced
 * into the answer as the database printed them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "strbuf.h"
#include "chan.h"
#include "channel.h"
#include "db.h"
#include "limits.h"
#include "history.h"
#include "token.h"
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
#define INFO_SQL                                                               \
    "SELECT channel, namespace, last_seq, pruned_seq, oldest_seq, "            \
    "switchboard.time_text(created_at), switchboard.time_text(updated_at) "    \
    "FROM switchboard.channel_info($1)"
#define LIST_SQL                                                               \
    "SELECT channel, namespace, last_seq, pruned_seq, pruned_seq + 1, "        \
    "switchboard.time_text(created_at), switchboard.time_text(last_publish) "  \
    "FROM switchboard.channel_summary WHERE ($1::text IS NULL OR namespace = " \
    "$1) AND ($2::text IS NULL OR channel > $2) ORDER BY channel LIMIT "       \
    "$3::integer"
#define PRESENCE_SQL                                                           \
    "SELECT subject, node, conn, switchboard.time_text(joined_at) FROM "      \
    "switchboard.presence_list($1)"
#define DEFAULT_LIMIT 100

/* The history pages, prepared once per worker connection (db.h). */
static const struct fcgi_stmt before_stmt = {"sb_history_before", BEFORE_SQL,
                                             3};
static const struct fcgi_stmt after_stmt = {"sb_history_after", AFTER_SQL, 3};

/* --- history --- */

static void
history_body(const char *channel, PGresult *res, bool after,
             struct sb_strbuf *b)
{
    int n = PQntuples(res), first = -1, last = -1;
    bool more = false;

    sb_strbuf_printf(b, "{\"channel\":\"%s\",\"events\":[", channel);
    for (int i = 0; i < n; i++) {
        if (PQgetisnull(res, i, 2))
            continue;
        if (first >= 0)
            sb_strbuf_puts(b, ",");
        else
            first = i;
        last = i;
        sb_strbuf_put(b, PQgetvalue(res, i, 3), (size_t)PQgetlength(res, i, 3));
    }
    if (first >= 0)
        more = after ? strtoll(PQgetvalue(res, last, 2), NULL, 10) <
                           strtoll(PQgetvalue(res, last, 0), NULL, 10)
                     : strtoll(PQgetvalue(res, first, 2), NULL, 10) >
                           strtoll(PQgetvalue(res, first, 1), NULL, 10);
    sb_strbuf_printf(b, "],\"more\":%s,\"last_seq\":%s,\"oldest_seq\":%s}",
                    more ? "true" : "false", PQgetvalue(res, 0, 0),
                    PQgetvalue(res, 0, 1));
}

static int
read_cursor(struct fcgi_req *r, long long *before, long long *after)
{
    if (fcgi_chan_int_param(r, "before", 1, INT64_MAX, SB_E_INVALID_CURSOR,
                            before) != SB_OK ||
        fcgi_chan_int_param(r, "after", 0, INT64_MAX, SB_E_INVALID_CURSOR,
                            after) != SB_OK)
        return SB_ERR;
    if (*before >= 0 && *after >= 0)
        return fcgi_req_fail(r, SB_E_INVALID_PARAMETER,
                             "invalid parameter: give before or after, not "
                             "both");
    return SB_OK;
}

int
fcgi_history_handle_events(struct fcgi_req *r)
{
    const char *channel = fcgi_chan_from_path(r, 1, SB_VERB_READ);
    long long before = -1, after = -1, limit = DEFAULT_LIMIT;
    char cursor[24], max[16];
    const char *params[3];
    struct sb_error err;
    struct sb_strbuf b = {0};
    PGresult *res;

    if (channel == NULL || read_cursor(r, &before, &after) != SB_OK ||
        fcgi_chan_int_param(r, "limit", 1, SB_HISTORY_MAX,
                            SB_E_INVALID_PARAMETER, &limit) != SB_OK)
        return SB_ERR;
    snprintf(cursor, sizeof(cursor), "%lld", after >= 0 ? after : before);
    snprintf(max, sizeof(max), "%lld", limit);
    params[0] = channel;
    params[1] = after >= 0 || before >= 0 ? cursor : NULL;
    params[2] = max;
    res = fcgi_db_exec_stmt(r->db, after >= 0 ? &after_stmt : &before_stmt,
                            params, true, &err);
    if (res == NULL)
        return fcgi_req_error(r, &err, NULL);
    history_body(channel, res, after >= 0, &b);
    PQclear(res);
    fcgi_req_reply(r, 200, b.data);
    sb_strbuf_release(&b);
    return SB_OK;
}

/* --- channel info and list --- */

static json_t *
channel_object(PGresult *res, int i)
{
    json_t *o = json_pack(
        "{s:s, s:s, s:I, s:I, s:I}", "channel", PQgetvalue(res, i, 0),
        "namespace", PQgetvalue(res, i, 1), "last_seq",
        (json_int_t)strtoll(PQgetvalue(res, i, 2), NULL, 10), "pruned_seq",
        (json_int_t)strtoll(PQgetvalue(res, i, 3), NULL, 10), "oldest_seq",
        (json_int_t)strtoll(PQgetvalue(res, i, 4), NULL, 10));

    json_object_set_new(o, "created_at",
                        PQgetisnull(res, i, 5)
                            ? json_null()
                            : json_string(PQgetvalue(res, i, 5)));
    json_object_set_new(o, "updated_at",
                        PQgetisnull(res, i, 6)
                            ? json_null()
                            : json_string(PQgetvalue(res, i, 6)));
    return o;
}

int
fcgi_history_handle_channel(struct fcgi_req *r)
{
    const char *channel = fcgi_chan_from_path(r, 1, SB_VERB_READ);
    const char *params[1] = {channel};
    struct sb_error err;
    PGresult *res;
    json_t *o;

    if (channel == NULL)
        return SB_ERR;
    res = fcgi_db_exec(r->db, INFO_SQL, 1, params, true, &err);
    if (res == NULL)
        return fcgi_req_error(r, &err, NULL);
    o = channel_object(res, 0);
    PQclear(res);
    fcgi_req_reply_json(r, 200, o);
    json_decref(o);
    return SB_OK;
}

struct list_args {
    const char *ns;
    const char *after;
    long long limit;
};

static int
list_args(struct fcgi_req *r, struct list_args *a)
{
    struct sb_error err;

    a->ns = fcgi_query_get(r->query, "namespace");
    a->after = fcgi_query_get(r->query, "after");
    a->limit = DEFAULT_LIMIT;
    if (a->ns != NULL && !sb_namespace_valid(a->ns, strlen(a->ns)))
        return fcgi_req_fail(r, SB_E_INVALID_PARAMETER,
                             "invalid parameter: namespace %.40s", a->ns);
    if (a->after != NULL && sb_channel_check(a->after, &err) != SB_OK)
        return fcgi_req_error(r, &err, NULL);
    return fcgi_chan_int_param(r, "limit", 1, SB_HISTORY_MAX,
                               SB_E_INVALID_PARAMETER, &a->limit);
}

/* Append to list the readable channels of one page; the last name read
 * goes to *last (owned by res). Returns the rows read. */
static int
list_page(struct fcgi_req *r, PGresult *res, json_t *list, long long want,
          const char **last)
{
    int n = PQntuples(res);

    for (int i = 0; i < n && (long long)json_array_size(list) < want; i++) {
        *last = PQgetvalue(res, i, 0);
        if (sb_token_allows(r->token, SB_VERB_READ, *last))
            json_array_append_new(list, channel_object(res, i));
    }
    return n;
}

int
fcgi_history_handle_channels(struct fcgi_req *r)
{
    struct list_args a;
    char *after = NULL;
    json_t *list = json_array(), *o;
    struct sb_error err;
    int rc = SB_OK;

    if (list_args(r, &a) != SB_OK)
        goto done;
    after = a.after != NULL ? sb_strdup(a.after) : NULL;
    /* Pages of SB_HISTORY_MAX until limit + 1 readable ones (to know
     * "more") or the end: the token may read few of the channels. */
    for (;;) {
        const char *params[3] = {a.ns, after, "1000"};
        PGresult *res = fcgi_db_exec(r->db, LIST_SQL, 3, params, true, &err);
        const char *last = NULL;
        int n;

        if (res == NULL) {
            rc = fcgi_req_error(r, &err, NULL);
            goto done;
        }
        n = list_page(r, res, list, a.limit + 1, &last);
        free(after);
        after = last != NULL ? sb_strdup(last) : NULL;
        PQclear(res);
        if (n < SB_HISTORY_MAX || (long long)json_array_size(list) > a.limit)
            break;
    }
    o = json_pack("{s:O, s:b}", "channels", list, "more",
                  (long long)json_array_size(list) > a.limit);
    if ((long long)json_array_size(list) > a.limit)
        json_array_remove(json_object_get(o, "channels"), (size_t)a.limit);
    fcgi_req_reply_json(r, 200, o);
    json_decref(o);
done:
    free(after);
    json_decref(list);
    return rc;
}

/* --- presence --- */

int
fcgi_history_handle_presence(struct fcgi_req *r)
{
    const char *channel = fcgi_chan_from_path(r, 1, SB_VERB_READ);
    const char *params[1] = {channel};
    struct sb_error err;
    PGresult *res;
    json_t *members, *o;

    if (channel == NULL)
        return SB_ERR;
    res = fcgi_db_exec(r->db, PRESENCE_SQL, 1, params, true, &err);
    if (res == NULL)
        return fcgi_req_error(r, &err, NULL);
    members = json_array();
    for (int i = 0; i < PQntuples(res); i++)
        json_array_append_new(
            members, json_pack("{s:s, s:s, s:s, s:s}", "subject",
                               PQgetvalue(res, i, 0), "node",
                               PQgetvalue(res, i, 1), "conn",
                               PQgetvalue(res, i, 2), "joined_at",
                               PQgetvalue(res, i, 3)));
    PQclear(res);
    o = json_pack("{s:s, s:o}", "channel", channel, "members", members);
    fcgi_req_reply_json(r, 200, o);
    json_decref(o);
    return SB_OK;
}
