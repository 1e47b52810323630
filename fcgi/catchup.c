/*
 * catchup.c: the read of several channels after their positions (see
 * catchup.h). The channels and positions travel as two array parameters,
 * never as SQL text; the positions that cannot be continued are resolved
 * to last_seq in SQL, so they read nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"
#include "catchup.h"
#include "db.h"
#include "pg.h"
#include "xalloc.h"

#define CATCHUP_SQL                                                            \
    "SELECT c.ord, i.last_seq, i.oldest_seq, e.seq, e.event "                  \
    "FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS c(ch, since, "   \
    "ord) "                                                                    \
    "CROSS JOIN LATERAL switchboard.channel_info(c.ch) AS i "                  \
    "LEFT JOIN LATERAL switchboard.events_after(c.ch, "                        \
    "CASE WHEN c.since IS NULL OR c.since > i.last_seq OR "                    \
    "c.since < i.oldest_seq - 1 THEN i.last_seq ELSE c.since END, "            \
    "$3::integer) AS e ON true "                                               \
    "ORDER BY c.ord, e.seq"

/* Prepared once per worker connection (db.h). */
static const struct fcgi_stmt catchup_stmt = {"sb_catchup", CATCHUP_SQL, 3};

/* The array literals {"a:b","c:d"} and {41,NULL}: channel names are
 * grammar-checked, so they hold no quote or backslash. */
static void
arrays(const struct fcgi_pos *pos, size_t n, struct sb_strbuf *chans,
       struct sb_strbuf *seqs)
{
    sb_strbuf_puts(chans, "{");
    sb_strbuf_puts(seqs, "{");
    for (size_t i = 0; i < n; i++) {
        const char *sep = i > 0 ? "," : "";

        sb_strbuf_printf(chans, "%s\"%s\"", sep, pos[i].channel);
        if (pos[i].cursor == FCGI_FROM_NOW)
            sb_strbuf_printf(seqs, "%sNULL", sep);
        else
            sb_strbuf_printf(seqs, "%s%lld", sep, (long long)pos[i].cursor);
    }
    sb_strbuf_puts(chans, "}");
    sb_strbuf_puts(seqs, "}");
}

static PGresult *
run(struct fcgi_db *db, PGconn *conn, const char *const *params,
    struct sb_error *err)
{
    PGresult *res;

    if (conn == NULL)
        return fcgi_db_exec_stmt(db, &catchup_stmt, params, true, err);
    res = PQexecParams(conn, CATCHUP_SQL, 3, NULL, params, NULL, NULL, 0);
    if (sb_pg_result_error(res, conn, err) == SB_OK)
        return res;
    PQclear(res);
    return NULL;
}

static const char *
reload_reason(int64_t since, int64_t last, int64_t oldest)
{
    if (since == FCGI_FROM_NOW)
        return NULL;
    if (since > last)
        return "rewound";
    if (since < oldest - 1)
        return "pruned";
    return NULL;
}

static void
fill(struct fcgi_catchup *c, const struct fcgi_pos *pos)
{
    PGresult *res = c->res;
    int n = PQntuples(res);

    c->rows = sb_calloc((size_t)n + 1, sizeof(*c->rows));
    for (int i = 0; i < n; i++) {
        size_t ch = (size_t)strtoull(PQgetvalue(res, i, 0), NULL, 10) - 1;
        struct fcgi_catchup_chan *cc;

        SB_ASSERT(ch < c->nchans);
        cc = &c->chans[ch];
        cc->last_seq = strtoll(PQgetvalue(res, i, 1), NULL, 10);
        cc->oldest_seq = strtoll(PQgetvalue(res, i, 2), NULL, 10);
        cc->reload = reload_reason(pos[ch].cursor, cc->last_seq, cc->oldest_seq);
        if (PQgetisnull(res, i, 3))
            continue;
        if (cc->count == 0)
            cc->first = c->nrows;
        cc->count++;
        c->rows[c->nrows].chan = ch;
        c->rows[c->nrows].seq = strtoll(PQgetvalue(res, i, 3), NULL, 10);
        c->rows[c->nrows].event = PQgetvalue(res, i, 4);
        c->rows[c->nrows].len = (size_t)PQgetlength(res, i, 4);
        c->nrows++;
    }
}

struct fcgi_catchup *
fcgi_catchup_read(struct fcgi_db *db, PGconn *conn, const struct fcgi_pos *pos,
                  size_t n, int max, struct sb_error *err)
{
    struct sb_strbuf chans = {0}, seqs = {0};
    char maxs[16];
    const char *params[3];
    struct fcgi_catchup *c = NULL;
    PGresult *res;

    arrays(pos, n, &chans, &seqs);
    snprintf(maxs, sizeof(maxs), "%d", max);
    params[0] = chans.data;
    params[1] = seqs.data;
    params[2] = maxs;
    res = run(db, conn, params, err);
    if (res != NULL) {
        c = sb_calloc(1, sizeof(*c));
        c->res = res;
        c->nchans = n;
        c->chans = sb_calloc(n > 0 ? n : 1, sizeof(*c->chans));
        fill(c, pos);
    }
    sb_strbuf_release(&chans);
    sb_strbuf_release(&seqs);
    return c;
}

void
fcgi_catchup_free(struct fcgi_catchup *c)
{
    if (c == NULL)
        return;
    PQclear(c->res);
    free(c->chans);
    free(c->rows);
    free(c);
}
