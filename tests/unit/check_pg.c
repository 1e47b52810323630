/*
 * check_pg.c: unit tests of lib/pg.c that need no server: SQLSTATE
 * mapping, results without a connection, conninfo checking, quoting and
 * redaction, and connects to a closed port (127.0.0.1 port 1) failing with
 * SB_E_UNAVAILABLE. tests/db/ covers what needs a running database.
 */
#include <check.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"
#include "xalloc.h"

#define CLOSED_PORT "host=127.0.0.1 port=1 dbname=x user=x connect_timeout=5"

/* --- core --- */

static const struct {
    const char *sqlstate;
    enum sb_errcode code;
} states[] = {
    {"SB001", SB_E_INVALID_CHANNEL},    {"SB002", SB_E_UNKNOWN_NAMESPACE},
    {"SB003", SB_E_INVALID_TYPE},       {"SB004", SB_E_INVALID_DATA},
    {"SB005", SB_E_TOO_LARGE},          {"SB006", SB_E_INVALID_ID},
    {"SB007", SB_E_INVALID_SENDER},     {"SB008", SB_E_INVALID_PARAMETER},
    {"SB010", SB_E_INVALID_CURSOR},     {"SB011", SB_E_NOT_FOUND},
    {"SB012", SB_E_INVALID_TRANSITION}, {"08006", SB_E_UNAVAILABLE},
    {"08001", SB_E_UNAVAILABLE},        {"57P01", SB_E_UNAVAILABLE},
    {"53300", SB_E_UNAVAILABLE},        {"42P01", SB_E_INTERNAL},
    {"23505", SB_E_INTERNAL},           {"XX000", SB_E_INTERNAL},
};

START_TEST(sqlstate_mapping)
{
    struct sb_error err = {0};

    ck_assert_int_eq(
        sb_pg_error_from_fields(states[_i].sqlstate, "what happened", &err),
        SB_ERR);
    ck_assert_msg(err.code == states[_i].code, "%s gave %d, not %d",
                  states[_i].sqlstate, err.code, states[_i].code);
}
END_TEST

START_TEST(custom_state_keeps_message)
{
    struct sb_error err = {0};

    sb_pg_error_from_fields("SB001", "invalid channel: \"chat\"", &err);
    ck_assert_int_eq(err.code, SB_E_INVALID_CHANNEL);
    ck_assert_str_eq(err.message, "invalid channel: \"chat\"");
}
END_TEST

START_TEST(other_state_message_is_detail)
{
    struct sb_error err = {0};
    char *expect;

    sb_pg_error_from_fields("42P01", "relation \"x\" does not exist", &err);
    expect = sb_asprintf("%s: relation \"x\" does not exist",
                         sb_errcode_message(SB_E_INTERNAL));
    ck_assert_int_eq(err.code, SB_E_INTERNAL);
    ck_assert_str_eq(err.message, expect);
    free(expect);
}
END_TEST

START_TEST(no_state_no_message)
{
    struct sb_error err = {0};

    sb_pg_error_from_fields(NULL, NULL, &err);
    ck_assert_int_eq(err.code, SB_E_INTERNAL);
    ck_assert_str_eq(err.message, sb_errcode_message(SB_E_INTERNAL));
}
END_TEST

START_TEST(successful_results)
{
    static const ExecStatusType ok[] = {PGRES_COMMAND_OK, PGRES_TUPLES_OK,
                                        PGRES_SINGLE_TUPLE, PGRES_COPY_OUT};
    struct sb_error err = {0};

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        PGresult *res = PQmakeEmptyPGresult(NULL, ok[i]);

        ck_assert_int_eq(sb_pg_result_error(res, NULL, &err), SB_OK);
        PQclear(res);
    }
    ck_assert_int_eq(err.code, SB_E_NONE);
}
END_TEST

START_TEST(quote)
{
    char *q = sb_pg_conninfo_quote("it's a \\ test");
    char *conninfo = sb_asprintf("dbname=%s", q);
    PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);

    ck_assert_str_eq(q, "'it\\'s a \\\\ test'");
    ck_assert_ptr_nonnull(opts);
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (strcmp(o->keyword, "dbname") == 0)
            ck_assert_str_eq(o->val, "it's a \\ test");
    }
    PQconninfoFree(opts);
    free(conninfo);
    free(q);
}
END_TEST

START_TEST(redact_key_value)
{
    char *r = sb_pg_conninfo_redact("host=db.example port=5433 user=bob "
                                    "password='s3 cret' dbname=sw");

    ck_assert_str_eq(r, "user='bob' password=*** dbname='sw' "
                        "host='db.example' port='5433'");
    free(r);
}
END_TEST

START_TEST(redact_uri)
{
    char *r = sb_pg_conninfo_redact(
        "postgresql://bob:s3cret@db.example/sw?sslmode=require");

    ck_assert_ptr_null(strstr(r, "s3cret"));
    ck_assert_ptr_nonnull(strstr(r, "password=***"));
    ck_assert_ptr_nonnull(strstr(r, "host='db.example'"));
    ck_assert_ptr_nonnull(strstr(r, "sslmode='require'"));
    free(r);
}
END_TEST

START_TEST(redact_empty_and_invalid)
{
    char *empty = sb_pg_conninfo_redact("");
    char *null = sb_pg_conninfo_redact(NULL);
    char *bad = sb_pg_conninfo_redact("host=a port");

    ck_assert_str_eq(empty, "");
    ck_assert_str_eq(null, "");
    ck_assert_str_eq(bad, "(invalid)");
    free(empty);
    free(null);
    free(bad);
}
END_TEST

START_TEST(conninfo_check)
{
    char why[128] = "";

    ck_assert_int_eq(sb_pg_conninfo_check("", why, sizeof(why)), SB_OK);
    ck_assert_int_eq(sb_pg_conninfo_check(NULL, why, sizeof(why)), SB_OK);
    ck_assert_int_eq(sb_pg_conninfo_check("dbname=x", why, sizeof(why)), SB_OK);
    ck_assert_int_eq(
        sb_pg_conninfo_check("postgres://u@h:5/d", why, sizeof(why)), SB_OK);
    ck_assert_str_eq(why, "");
}
END_TEST

/* --- limits --- */

START_TEST(long_message_cut)
{
    struct sb_error err = {0};
    char big[1000];

    memset(big, 'm', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    sb_pg_error_from_fields("SB004", big, &err);
    ck_assert_int_eq(err.code, SB_E_INVALID_DATA);
    ck_assert_uint_eq(strlen(err.message), SB_ERROR_MESSAGE_MAX - 1);
}
END_TEST

START_TEST(conninfo_why_cut)
{
    char why[8];

    ck_assert_int_eq(sb_pg_conninfo_check("host=a port", why, sizeof(why)),
                     SB_ERR);
    ck_assert_uint_eq(strlen(why), sizeof(why) - 1);
}
END_TEST

/* --- errors --- */

START_TEST(null_result_without_connection)
{
    struct sb_error err = {0};

    ck_assert_int_eq(sb_pg_result_error(NULL, NULL, &err), SB_ERR);
    ck_assert_int_eq(err.code, SB_E_UNAVAILABLE);
    ck_assert_str_eq(err.message, "database connection lost: no connection");
}
END_TEST

START_TEST(error_result_without_state)
{
    struct sb_error err = {0};
    PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_FATAL_ERROR);

    ck_assert_int_eq(sb_pg_result_error(res, NULL, &err), SB_ERR);
    ck_assert_int_eq(err.code, SB_E_UNAVAILABLE);
    PQclear(res);
}
END_TEST

START_TEST(connect_closed_port)
{
    struct sb_error err = {0};
    PGconn *conn = sb_pg_connect(CLOSED_PORT, "check_pg", &err);

    ck_assert_ptr_null(conn);
    ck_assert_int_eq(err.code, SB_E_UNAVAILABLE);
    ck_assert_msg(strncmp(err.message, "cannot connect to database: ", 28) == 0,
                  "%s", err.message);
    ck_assert_msg(strstr(err.message, "Connection refused") != NULL, "%s",
                  err.message);
    ck_assert_ptr_null(strchr(err.message, '\n'));
}
END_TEST

START_TEST(connect_closed_port_uri)
{
    struct sb_error err = {0};

    ck_assert_ptr_null(
        sb_pg_connect("postgresql://x@127.0.0.1:1/x", NULL, &err));
    ck_assert_int_eq(err.code, SB_E_UNAVAILABLE);
}
END_TEST

/* A bad connection gives SB_E_UNAVAILABLE for results and notifications. */
static void
assert_lost(PGconn *conn)
{
    struct sb_error err = {0};
    PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_FATAL_ERROR);

    ck_assert_int_eq(PQstatus(conn), CONNECTION_BAD);
    ck_assert_int_eq(sb_pg_result_error(NULL, conn, &err), SB_ERR);
    ck_assert_int_eq(err.code, SB_E_UNAVAILABLE);
    ck_assert_int_eq(sb_pg_result_error(res, conn, &err), SB_ERR);
    ck_assert_int_eq(err.code, SB_E_UNAVAILABLE);
    err.code = SB_E_NONE;
    ck_assert_int_eq(sb_pg_drain_notifies(conn, NULL, NULL, &err), SB_ERR);
    ck_assert_int_eq(err.code, SB_E_UNAVAILABLE);
    PQclear(res);
}

START_TEST(async_connect_closed_port)
{
    struct sb_error err = {0};
    int wait = 0, rc = SB_AGAIN;
    PGconn *conn = sb_pg_connect_start(CLOSED_PORT, "check_pg", &wait, &err);

    if (conn == NULL) { /* refused at once: also a valid outcome */
        ck_assert_int_eq(err.code, SB_E_UNAVAILABLE);
        return;
    }
    ck_assert_int_eq(wait, SB_PG_WAIT_WRITE);
    for (int steps = 0; rc == SB_AGAIN && steps < 100; steps++) {
        struct pollfd p = {PQsocket(conn),
                           wait == SB_PG_WAIT_READ ? POLLIN : POLLOUT, 0};

        ck_assert_int_ge(poll(&p, 1, 5000), 0);
        rc = sb_pg_connect_step(conn, &wait, &err);
    }
    ck_assert_int_eq(rc, SB_ERR);
    ck_assert_int_eq(err.code, SB_E_UNAVAILABLE);
    ck_assert_msg(strstr(err.message, "Connection refused") != NULL, "%s",
                  err.message);
    assert_lost(conn);
    PQfinish(conn);
}
END_TEST

START_TEST(invalid_conninfo)
{
    struct sb_error err = {0};
    int wait;

    ck_assert_ptr_null(sb_pg_connect("host=a port", "x", &err));
    ck_assert_int_eq(err.code, SB_E_INVALID_PARAMETER);
    ck_assert_str_eq(err.message, "invalid database_url: missing \"=\" after "
                                  "\"port\" in connection info string");
    ck_assert_ptr_null(sb_pg_connect("postgresql://[::1", "x", &err));
    ck_assert_int_eq(err.code, SB_E_INVALID_PARAMETER);
    ck_assert_ptr_null(sb_pg_connect("nosuchkey=1", "x", &err));
    ck_assert_int_eq(err.code, SB_E_INVALID_PARAMETER);
    ck_assert_ptr_null(sb_pg_connect_start("host=a port", "x", &wait, &err));
    ck_assert_int_eq(err.code, SB_E_INVALID_PARAMETER);
}
END_TEST

static Suite *
pg_suite(void)
{
    Suite *s = suite_create("pg");
    TCase *core = tcase_create("core");
    TCase *limits = tcase_create("limits");
    TCase *errors = tcase_create("errors");

    tcase_add_loop_test(core, sqlstate_mapping, 0,
                        sizeof(states) / sizeof(states[0]));
    tcase_add_test(core, custom_state_keeps_message);
    tcase_add_test(core, other_state_message_is_detail);
    tcase_add_test(core, no_state_no_message);
    tcase_add_test(core, successful_results);
    tcase_add_test(core, quote);
    tcase_add_test(core, redact_key_value);
    tcase_add_test(core, redact_uri);
    tcase_add_test(core, redact_empty_and_invalid);
    tcase_add_test(core, conninfo_check);
    suite_add_tcase(s, core);

    tcase_add_test(limits, long_message_cut);
    tcase_add_test(limits, conninfo_why_cut);
    suite_add_tcase(s, limits);

    tcase_add_test(errors, null_result_without_connection);
    tcase_add_test(errors, error_result_without_state);
    tcase_add_test(errors, connect_closed_port);
    tcase_add_test(errors, connect_closed_port_uri);
    tcase_add_test(errors, async_connect_closed_port);
    tcase_add_test(errors, invalid_conninfo);
    suite_add_tcase(s, errors);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(pg_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
