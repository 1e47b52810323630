/*
 * activity.c: the activity log search (see activity.h). Parameters are
 * checked in C (levels, RFC 3339 times, channel, limit) so a bad one is a
 * 422 that names it; the database checks them again.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "xalloc.h"
#include "app.h"
#include "auth.h"
#include "strbuf.h"
#include "chan.h"
#include "channel.h"
#include "db.h"
#include "limits.h"
#include "activity.h"

#define SEARCH_SQL                                                             \
    "SELECT cursor, event FROM switchboard.search_activity($1::text[], $2, "   \
    "$3::timestamptz, $4::timestamptz, $5, $6, $7::integer)"
#define DEFAULT_LIMIT 50

struct search {
    struct sb_strbuf levels; /* {info,error}, or empty for all */
    const char *q, *since, *until, *channel, *cursor;
    long long limit;
};

static int
parse_levels(struct fcgi_req *r, const char *list, struct sb_strbuf *b)
{
    static const char *const known[] = {"info", "success", "warning",
                                        "error"};

    sb_strbuf_puts(b, "{");
    for (const char *s = list; *s != '\0';) {
        size_t len = strcspn(s, ","), i;

        for (i = 0; i < 4; i++) {
            if (strlen(known[i]) == len && strncmp(s, known[i], len) == 0)
                break;
        }
        if (i == 4)
            return fcgi_req_fail(r, SB_E_INVALID_PARAMETER,
                                 "invalid parameter: unknown level '%.*s'",
                                 (int)(len > 20 ? 20 : len), s);
        sb_strbuf_printf(b, "%s%s", b->len > 1 ? "," : "", known[i]);
        s += len;
        if (*s == ',')
            s++;
    }
    sb_strbuf_puts(b, "}");
    return SB_OK;
}

/* n digits at *p within [lo, hi], then the separator sep (0: none). */
static bool
digits(const char **p, int n, int lo, int hi, char sep)
{
    int v = 0;

    for (int i = 0; i < n; i++, (*p)++) {
        if (!isdigit((unsigned char)**p))
            return false;
        v = v * 10 + (**p - '0');
    }
    if (v < lo || v > hi)
        return false;
    if (sep != 0 && *(*p)++ != sep)
        return false;
    return true;
}

/* YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM) */
static bool
rfc3339(const char *s)
{
    const char *p = s;

    if (!digits(&p, 4, 1, 9999, '-') || !digits(&p, 2, 1, 12, '-') ||
        !digits(&p, 2, 1, 31, 0) || (*p != 'T' && *p != 't'))
        return false;
    p++;
    if (!digits(&p, 2, 0, 23, ':') || !digits(&p, 2, 0, 59, ':') ||
        !digits(&p, 2, 0, 60, 0))
        return false;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return false;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (*p == 'Z' || *p == 'z')
        return p[1] == '\0';
    if (*p != '+' && *p != '-')
        return false;
    p++;
    return digits(&p, 2, 0, 23, ':') && digits(&p, 2, 0, 59, 0) && *p == '\0';
}

static int
check_time(struct fcgi_req *r, const char *name, const char *value)
{
    if (value == NULL || rfc3339(value))
        return SB_OK;
    return fcgi_req_fail(r, SB_E_INVALID_PARAMETER,
                         "invalid parameter: %s must be an RFC 3339 time",
                         name);
}

static int
check_scope(struct fcgi_req *r, const char *channel)
{
    struct sb_error err;

    if (channel == NULL) {
        if (fcgi_auth_covers_prefix(r->token, ""))
            return SB_OK;
        return fcgi_req_fail(r, SB_E_FORBIDDEN,
                             "forbidden: searching every channel needs a "
                             "token for every channel; give channel");
    }
    if (sb_channel_check(channel, &err) != SB_OK)
        return fcgi_req_error(r, &err, NULL);
    return fcgi_auth_allow(r, SB_VERB_READ, channel);
}

static int
parse(struct fcgi_req *r, struct search *s)
{
    const char *levels = fcgi_query_get(r->query, "level");

    s->q = fcgi_query_get(r->query, "q");
    s->since = fcgi_query_get(r->query, "since");
    s->until = fcgi_query_get(r->query, "until");
    s->channel = fcgi_query_get(r->query, "channel");
    s->cursor = fcgi_query_get(r->query, "cursor");
    s->limit = DEFAULT_LIMIT;
    if ((levels != NULL && parse_levels(r, levels, &s->levels) != SB_OK) ||
        check_time(r, "since", s->since) != SB_OK ||
        check_time(r, "until", s->until) != SB_OK ||
        fcgi_chan_int_param(r, "limit", 1, SB_HISTORY_MAX,
                            SB_E_INVALID_PARAMETER, &s->limit) != SB_OK)
        return SB_ERR;
    return check_scope(r, s->channel);
}

static void
answer(struct fcgi_req *r, PGresult *res, long long limit)
{
    int n = PQntuples(res);
    int shown = n > limit ? (int)limit : n;
    bool more = n > limit || (limit == SB_HISTORY_MAX && n == limit);
    struct sb_strbuf b = {0};

    sb_strbuf_puts(&b, "{\"events\":[");
    for (int i = 0; i < shown; i++) {
        if (i > 0)
            sb_strbuf_puts(&b, ",");
        sb_strbuf_put(&b, PQgetvalue(res, i, 1), (size_t)PQgetlength(res, i, 1));
    }
    if (more && shown > 0)
        sb_strbuf_printf(&b, "],\"cursor\":\"%s\"}",
                        PQgetvalue(res, shown - 1, 0));
    else
        sb_strbuf_puts(&b, "],\"cursor\":null}");
    fcgi_req_reply(r, 200, b.data);
    sb_strbuf_release(&b);
}

int
fcgi_activity_handle(struct fcgi_req *r)
{
    struct search s = {0};
    char max[24];
    const char *params[7];
    struct sb_error err;
    PGresult *res = NULL;
    int rc = parse(r, &s);

    if (rc == SB_OK) {
        snprintf(max, sizeof(max), "%lld",
                 s.limit < SB_HISTORY_MAX ? s.limit + 1 : s.limit);
        params[0] = s.levels.data;
        params[1] = s.q;
        params[2] = s.since;
        params[3] = s.until;
        params[4] = s.channel;
        params[5] = s.cursor;
        params[6] = max;
        res = fcgi_db_exec(r->db, SEARCH_SQL, 7, params, true, &err);
        rc = res != NULL ? SB_OK : fcgi_req_error(r, &err, NULL);
    }
    if (res != NULL)
        answer(r, res, s.limit);
    PQclear(res);
    sb_strbuf_release(&s.levels);
    return rc;
}
