/*
 * check_fcgi_catchup.c: unit tests of fcgi/catchup.c with its database
 * edge stubbed: fcgi_db_exec_stmt (the worker's connection, a prepared
 * statement) and PQexecParams
 * (the waiter's) are replaced here, and answer with results built by
 * libpq without a server (PQmakeEmptyPGresult, PQsetvalue). Covered: the
 * parameters sent (array literals, from-now as NULL, max), rows grouped by
 * channel, the reload decision for every relation of a position to the
 * channel's oldest_seq and last_seq (PROTOCOL.md section 2.7), and errors
 * from either connection. What the SQL itself reads is tested against a
 * real database by tests/fcgi/.
 */
#include <check.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catchup.h"
#include "db.h"
#include "xalloc.h"

/* --- the stubbed database edge --- */

static struct {
    int db_calls, conn_calls;
    const struct fcgi_db *db;
    PGconn *conn;
    char *sql;
    int n;
    char *params[3];
    bool retry;
    PGresult *answer;     /* handed over by the next call */
    enum sb_errcode fail; /* fcgi_db_exec_stmt fails with it */
    const char *stmt_name; /* of the last prepared statement run */
} stub;

static void
record(const char *sql, int n, const char *const *params)
{
    free(stub.sql);
    stub.sql = sb_strdup(sql);
    stub.n = n;
    for (int i = 0; i < 3; i++) {
        free(stub.params[i]);
        stub.params[i] =
            i < n && params[i] != NULL ? sb_strdup(params[i]) : NULL;
    }
}

static PGresult *
answer(void)
{
    PGresult *res = stub.answer;

    stub.answer = NULL;
    return res;
}

PGresult *
fcgi_db_exec_stmt(struct fcgi_db *db, const struct fcgi_stmt *st,
                  const char *const *params, bool retry, struct sb_error *err)
{
    stub.db_calls++;
    stub.db = db;
    stub.retry = retry;
    stub.stmt_name = st->name;
    record(st->sql, st->nparams, params);
    if (stub.fail != SB_E_NONE) {
        sb_error_set(err, stub.fail, "%s: from the stub",
                     sb_errcode_message(stub.fail));
        return NULL;
    }
    return answer();
}

PGresult *
PQexecParams(PGconn *conn, const char *command, int nParams,
             const Oid *paramTypes, const char *const *paramValues,
             const int *paramLengths, const int *paramFormats, int resultFormat)
{
    ck_assert_ptr_null(paramTypes);
    ck_assert_ptr_null(paramLengths);
    ck_assert_ptr_null(paramFormats);
    ck_assert_int_eq(resultFormat, 0);
    stub.conn_calls++;
    stub.conn = conn;
    record(command, nParams, paramValues);
    return answer();
}

/* --- results without a server --- */

/* An empty result with the statement's five columns. */
static PGresult *
result_new(void)
{
    static const char *const names[] = {"ord", "last_seq", "oldest_seq", "seq",
                                        "event"};
    static const Oid types[] = {20, 20, 20, 20, 25};
    PGresAttDesc attrs[5];
    PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);

    ck_assert_ptr_nonnull(res);
    memset(attrs, 0, sizeof(attrs));
    for (int i = 0; i < 5; i++) {
        attrs[i].name = (char *)(uintptr_t)names[i];
        attrs[i].typid = types[i];
        attrs[i].typlen = i < 4 ? 8 : -1;
        attrs[i].atttypmod = -1;
    }
    ck_assert_int_eq(PQsetResultAttrs(res, 5, attrs), 1);
    return res;
}

static void
set_field(PGresult *res, int row, int col, const char *text)
{
    ck_assert_int_eq(PQsetvalue(res, row, col, (char *)(uintptr_t)text,
                                text != NULL ? (int)strlen(text) : -1),
                     1);
}

/* Append the row (ord, last_seq, oldest_seq, seq, event); seq < 0 gives
 * the NULL seq and event of a channel with nothing to read. */
static void
result_row(PGresult *res, int ord, long long last, long long oldest,
           long long seq, const char *event)
{
    int row = PQntuples(res);
    char buf[32];

    snprintf(buf, sizeof(buf), "%d", ord);
    set_field(res, row, 0, buf);
    snprintf(buf, sizeof(buf), "%lld", last);
    set_field(res, row, 1, buf);
    snprintf(buf, sizeof(buf), "%lld", oldest);
    set_field(res, row, 2, buf);
    if (seq < 0) {
        set_field(res, row, 3, NULL);
        set_field(res, row, 4, NULL);
    } else {
        snprintf(buf, sizeof(buf), "%lld", seq);
        set_field(res, row, 3, buf);
        set_field(res, row, 4, event);
    }
}

static struct fcgi_pos
at(const char *channel, int64_t cursor)
{
    struct fcgi_pos p = {.cursor = cursor};

    snprintf(p.channel, sizeof(p.channel), "%s", channel);
    return p;
}

/* Position i on channel "chat:c<i>". */
static struct fcgi_pos
numbered(int i, int64_t cursor)
{
    char name[32];

    snprintf(name, sizeof(name), "chat:c%d", i);
    return at(name, cursor);
}

/* Stands for a worker's connection; the stub only compares the pointer. */
static char fake_db;
#define DB ((struct fcgi_db *)(void *)&fake_db)

/* A connection that failed (no server at that socket directory): real
 * enough for libpq's status calls, never used for a query. */
static PGconn *
dead_conn(void)
{
    PGconn *conn = PQconnectdb("host=/nonexistent/switchboard-check "
                               "dbname=x user=x connect_timeout=1");

    ck_assert_ptr_nonnull(conn);
    ck_assert_int_eq(PQstatus(conn), CONNECTION_BAD);
    return conn;
}

static void
setup(void)
{
    memset(&stub, 0, sizeof(stub));
}

static void
teardown(void)
{
    free(stub.sql);
    for (int i = 0; i < 3; i++)
        free(stub.params[i]);
    PQclear(stub.answer);
    memset(&stub, 0, sizeof(stub));
}

/* --- core --- */

START_TEST(parameters_sent)
{
    struct fcgi_pos pos[3] = {at("chat:a", 41), at("chat:b", FCGI_FROM_NOW),
                              at("workflow:team/alpha-1.x", 0)};
    struct sb_error err = {0};
    struct fcgi_catchup *c;

    stub.answer = result_new();
    result_row(stub.answer, 1, 41, 1, -1, NULL);
    result_row(stub.answer, 2, 0, 1, -1, NULL);
    result_row(stub.answer, 3, 0, 1, -1, NULL);
    c = fcgi_catchup_read(DB, NULL, pos, 3, 100, &err);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(stub.db_calls, 1);
    ck_assert_int_eq(stub.conn_calls, 0);
    ck_assert_ptr_eq(stub.db, DB);
    ck_assert(stub.retry); /* a read may run twice */
    ck_assert_str_eq(stub.stmt_name, "sb_catchup"); /* prepared, named */
    ck_assert_int_eq(stub.n, 3);
    ck_assert_str_eq(stub.params[0],
                     "{\"chat:a\",\"chat:b\",\"workflow:team/alpha-1.x\"}");
    ck_assert_str_eq(stub.params[1], "{41,NULL,0}");
    ck_assert_str_eq(stub.params[2], "100");
    /* the values travel as parameters, never inside the statement */
    ck_assert_ptr_null(strstr(stub.sql, "chat:a"));
    ck_assert_ptr_nonnull(strstr(stub.sql, "$1"));
    ck_assert_ptr_nonnull(strstr(stub.sql, "switchboard.channel_info"));
    ck_assert_ptr_nonnull(strstr(stub.sql, "switchboard.events_after"));
    ck_assert_uint_eq(c->nchans, 3);
    ck_assert_uint_eq(c->nrows, 0);
    fcgi_catchup_free(c);
}
END_TEST

START_TEST(rows_grouped_by_channel)
{
    static const char *const ev[] = {
        "{\"seq\":42}", "{\"seq\":43}", "{\"seq\":5}", "{\"seq\":6}",
        "{\"seq\":7,\"data\":{\"text\":\"caf\xc3\xa9\"}}"};
    struct fcgi_pos pos[3] = {at("chat:a", 41), at("chat:b", 10),
                              at("chat:c", 4)};
    struct sb_error err = {0};
    struct fcgi_catchup *c;

    stub.answer = result_new();
    result_row(stub.answer, 1, 45, 1, 42, ev[0]);
    result_row(stub.answer, 1, 45, 1, 43, ev[1]);
    result_row(stub.answer, 2, 10, 1, -1, NULL);
    result_row(stub.answer, 3, 7, 3, 5, ev[2]);
    result_row(stub.answer, 3, 7, 3, 6, ev[3]);
    result_row(stub.answer, 3, 7, 3, 7, ev[4]);
    c = fcgi_catchup_read(DB, NULL, pos, 3, 2, &err);
    ck_assert_ptr_nonnull(c);
    ck_assert_str_eq(stub.params[2], "2");
    ck_assert_uint_eq(c->nchans, 3);
    ck_assert_uint_eq(c->nrows, 5);

    ck_assert_int_eq(c->chans[0].last_seq, 45);
    ck_assert_int_eq(c->chans[0].oldest_seq, 1);
    ck_assert_ptr_null(c->chans[0].reload);
    ck_assert_uint_eq(c->chans[0].first, 0);
    ck_assert_uint_eq(c->chans[0].count, 2);
    ck_assert_int_eq(c->chans[1].last_seq, 10);
    ck_assert_uint_eq(c->chans[1].count, 0);
    ck_assert_ptr_null(c->chans[1].reload);
    ck_assert_int_eq(c->chans[2].last_seq, 7);
    ck_assert_int_eq(c->chans[2].oldest_seq, 3);
    ck_assert_uint_eq(c->chans[2].first, 2);
    ck_assert_uint_eq(c->chans[2].count, 3);

    for (size_t i = 0; i < 5; i++) {
        const struct fcgi_catchup_row *r = &c->rows[i];

        ck_assert_uint_eq(r->chan, i < 2 ? 0 : 2);
        ck_assert_int_eq(r->seq, i < 2 ? 42 + (int64_t)i : 3 + (int64_t)i);
        ck_assert_uint_eq(r->len, strlen(ev[i]));
        ck_assert_int_eq(memcmp(r->event, ev[i], r->len), 0);
    }
    fcgi_catchup_free(c);
}
END_TEST

/* Which positions cannot be continued (PROTOCOL.md section 2.7): before
 * oldest_seq - 1 is "pruned", beyond last_seq is "rewound"; "from now"
 * never is. */
START_TEST(reload_decisions)
{
    static const struct {
        int64_t since, last, oldest;
        const char *reload;
    } cases[] = {
        {FCGI_FROM_NOW, 10, 1, NULL}, /* from now */
        {FCGI_FROM_NOW, 10, 11, NULL},
        {FCGI_FROM_NOW, 0, 1, NULL},
        {0, 0, 1, NULL},      /* never published to */
        {0, 10, 1, NULL},     /* from the start, nothing pruned */
        {10, 10, 1, NULL},    /* up to date */
        {9, 10, 1, NULL},     /* one behind */
        {2, 10, 3, NULL},     /* just before the oldest stored */
        {1, 10, 3, "pruned"}, /* one before that */
        {0, 10, 3, "pruned"},
        {10, 10, 11, NULL}, /* all pruned, reader had them all */
        {9, 10, 11, "pruned"},
        {11, 10, 1, "rewound"}, /* beyond last_seq */
        {5, 0, 1, "rewound"},   /* a channel restored to empty */
        {INT64_MAX, 10, 1, "rewound"},
        {INT64_MAX, INT64_MAX, 1, NULL},
        {INT64_MAX - 1, INT64_MAX, INT64_MAX, NULL},
        {INT64_MAX - 2, INT64_MAX, INT64_MAX, "pruned"},
    };
    enum { N = sizeof(cases) / sizeof(cases[0]) };
    struct fcgi_pos pos[N];
    struct sb_error err = {0};
    struct fcgi_catchup *c;

    stub.answer = result_new();
    for (int i = 0; i < N; i++) {
        pos[i] = numbered(i, cases[i].since);
        result_row(stub.answer, i + 1, cases[i].last, cases[i].oldest, -1,
                   NULL);
    }
    c = fcgi_catchup_read(DB, NULL, pos, N, 100, &err);
    ck_assert_ptr_nonnull(c);
    for (int i = 0; i < N; i++) {
        const char *got = c->chans[i].reload;

        ck_assert_int_eq(c->chans[i].last_seq, cases[i].last);
        ck_assert_int_eq(c->chans[i].oldest_seq, cases[i].oldest);
        ck_assert_msg(cases[i].reload == NULL
                          ? got == NULL
                          : got != NULL && strcmp(got, cases[i].reload) == 0,
                      "case %d (since %lld, last %lld, oldest %lld): %s", i,
                      (long long)cases[i].since, (long long)cases[i].last,
                      (long long)cases[i].oldest, got ? got : "(none)");
        ck_assert_uint_eq(c->chans[i].count, 0);
    }
    fcgi_catchup_free(c);
}
END_TEST

/* With a connection (the waiter's), the statement goes to that connection
 * and not to the worker's, even when there is one. */
START_TEST(waiter_connection)
{
    struct fcgi_pos pos[2] = {at("chat:a", 1), at("chat:b", 2)};
    struct sb_error err = {0};
    PGconn *conn = dead_conn();
    struct fcgi_catchup *c;

    stub.answer = result_new();
    result_row(stub.answer, 1, 3, 1, 2, "{\"seq\":2}");
    result_row(stub.answer, 1, 3, 1, 3, "{\"seq\":3}");
    result_row(stub.answer, 2, 1, 1, -1, NULL);
    c = fcgi_catchup_read(DB, conn, pos, 2, 1000, &err);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(stub.conn_calls, 1);
    ck_assert_int_eq(stub.db_calls, 0);
    ck_assert_ptr_eq(stub.conn, conn);
    ck_assert_int_eq(stub.n, 3);
    ck_assert_str_eq(stub.params[0], "{\"chat:a\",\"chat:b\"}");
    ck_assert_str_eq(stub.params[1], "{1,2}");
    ck_assert_str_eq(stub.params[2], "1000");
    ck_assert_uint_eq(c->chans[0].count, 2);
    ck_assert_int_eq(c->rows[1].seq, 3);
    ck_assert_str_eq(c->chans[1].reload, "rewound");
    fcgi_catchup_free(c);
    PQfinish(conn);
}
END_TEST

/* --- limits --- */

START_TEST(no_positions)
{
    struct sb_error err = {0};
    struct fcgi_catchup *c;

    stub.answer = result_new();
    c = fcgi_catchup_read(DB, NULL, NULL, 0, 1, &err);
    ck_assert_ptr_nonnull(c);
    ck_assert_str_eq(stub.params[0], "{}");
    ck_assert_str_eq(stub.params[1], "{}");
    ck_assert_str_eq(stub.params[2], "1");
    ck_assert_uint_eq(c->nchans, 0);
    ck_assert_uint_eq(c->nrows, 0);
    fcgi_catchup_free(c);
    fcgi_catchup_free(NULL);
}
END_TEST

START_TEST(extreme_seqs_in_parameters)
{
    struct fcgi_pos pos[2] = {at("chat:a", INT64_MAX), at("chat:b", 0)};
    struct sb_error err = {0};
    struct fcgi_catchup *c;

    stub.answer = result_new();
    result_row(stub.answer, 1, INT64_MAX, 1, -1, NULL);
    result_row(stub.answer, 2, 0, 1, -1, NULL);
    c = fcgi_catchup_read(DB, NULL, pos, 2, 1000, &err);
    ck_assert_ptr_nonnull(c);
    ck_assert_str_eq(stub.params[1], "{9223372036854775807,0}");
    ck_assert_int_eq(c->chans[0].last_seq, INT64_MAX);
    ck_assert_ptr_null(c->chans[0].reload);
    fcgi_catchup_free(c);
}
END_TEST

/* Many channels and rows: each row lands under its own channel. */
START_TEST(many_channels)
{
    enum { N = 200, PER = 5 };
    struct fcgi_pos *pos = sb_calloc(N, sizeof(*pos));
    struct sb_error err = {0};
    struct fcgi_catchup *c;

    stub.answer = result_new();
    for (int i = 0; i < N; i++) {
        pos[i] = numbered(i, i);
        if (i % 3 == 0) {
            result_row(stub.answer, i + 1, i, 1, -1, NULL);
            continue;
        }
        for (int k = 1; k <= PER; k++) {
            char ev[48];

            snprintf(ev, sizeof(ev), "{\"c\":%d,\"seq\":%d}", i, i + k);
            result_row(stub.answer, i + 1, i + PER, 1, i + k, ev);
        }
    }
    c = fcgi_catchup_read(DB, NULL, pos, N, PER, &err);
    ck_assert_ptr_nonnull(c);
    for (int i = 0; i < N; i++) {
        const struct fcgi_catchup_chan *cc = &c->chans[i];

        ck_assert_uint_eq(cc->count, i % 3 == 0 ? 0 : PER);
        for (size_t k = 0; k < cc->count; k++) {
            const struct fcgi_catchup_row *r = &c->rows[cc->first + k];
            char ev[48];

            snprintf(ev, sizeof(ev), "{\"c\":%d,\"seq\":%d}", i,
                     i + (int)k + 1);
            ck_assert_uint_eq(r->chan, (size_t)i);
            ck_assert_int_eq(r->seq, i + (int)k + 1);
            ck_assert_str_eq(r->event, ev);
        }
    }
    fcgi_catchup_free(c);
    free(pos);
}
END_TEST

/* --- errors --- */

START_TEST(worker_query_fails)
{
    static const enum sb_errcode codes[] = {SB_E_UNKNOWN_NAMESPACE,
                                            SB_E_UNAVAILABLE, SB_E_INTERNAL};
    struct fcgi_pos pos[1] = {at("nope:a", 1)};

    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        struct sb_error err = {0};

        stub.fail = codes[i];
        ck_assert_ptr_null(fcgi_catchup_read(DB, NULL, pos, 1, 10, &err));
        ck_assert_int_eq(err.code, codes[i]);
        ck_assert_ptr_nonnull(strstr(err.message, "from the stub"));
    }
}
END_TEST

/* The waiter's connection went away: no result, or an error result
 * (released), and the error says unavailable. */
START_TEST(waiter_query_fails)
{
    struct fcgi_pos pos[1] = {at("chat:a", 1)};
    PGconn *conn = dead_conn();
    struct sb_error err = {0};

    ck_assert_ptr_null(fcgi_catchup_read(NULL, conn, pos, 1, 10, &err));
    ck_assert_int_eq(err.code, SB_E_UNAVAILABLE);
    memset(&err, 0, sizeof(err));
    stub.answer = PQmakeEmptyPGresult(NULL, PGRES_FATAL_ERROR);
    ck_assert_ptr_null(fcgi_catchup_read(NULL, conn, pos, 1, 10, &err));
    ck_assert_int_eq(err.code, SB_E_UNAVAILABLE);
    ck_assert_int_eq(stub.conn_calls, 2);
    PQfinish(conn);
}
END_TEST

/* A row naming a channel that was not asked for is a broken invariant:
 * abort rather than write past the channels. */
START_TEST(row_for_unknown_channel_aborts)
{
    struct fcgi_pos pos[1] = {at("chat:a", 1)};
    struct sb_error err = {0};

    stub.answer = result_new();
    result_row(stub.answer, 2, 3, 1, 2, "{}");
    fcgi_catchup_read(DB, NULL, pos, 1, 10, &err);
}
END_TEST

static Suite *
catchup_suite(void)
{
    Suite *s = suite_create("fcgi_catchup");
    TCase *core = tcase_create("core");
    TCase *limits = tcase_create("limits");
    TCase *errors = tcase_create("errors");

    tcase_add_checked_fixture(core, setup, teardown);
    tcase_add_test(core, parameters_sent);
    tcase_add_test(core, rows_grouped_by_channel);
    tcase_add_test(core, reload_decisions);
    tcase_add_test(core, waiter_connection);
    suite_add_tcase(s, core);

    tcase_add_checked_fixture(limits, setup, teardown);
    tcase_add_test(limits, no_positions);
    tcase_add_test(limits, extreme_seqs_in_parameters);
    tcase_add_test(limits, many_channels);
    suite_add_tcase(s, limits);

    tcase_add_checked_fixture(errors, setup, teardown);
    tcase_add_test(errors, worker_query_fails);
    tcase_add_test(errors, waiter_query_fails);
    tcase_add_test_raise_signal(errors, row_for_unknown_channel_aborts,
                                SIGABRT);
    suite_add_tcase(s, errors);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(catchup_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
