/*
 * pg.c: libpq helpers: connects, error mapping, notifications, conninfo.
 * See pg.h.
 */
#include "pg.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

/* libpq's messages end in newlines and continue on tab-indented lines:
 * fold them into one line for a client or log message. */
static void
one_line(char *dst, size_t size, const char *msg)
{
    size_t n = 0;

    for (; msg != NULL && *msg != '\0' && n + 1 < size; msg++) {
        if (*msg != '\n' && *msg != '\t' && *msg != '\r')
            dst[n++] = *msg;
        else if (n > 0 && dst[n - 1] != ' ')
            dst[n++] = ' ';
    }
    while (n > 0 && dst[n - 1] == ' ')
        n--;
    dst[n] = '\0';
}

/* SB_E_UNAVAILABLE with libpq's message about conn. */
static int
unavailable(const PGconn *conn, const char *what, struct sb_error *err)
{
    char msg[SB_ERROR_MESSAGE_MAX];

    one_line(msg, sizeof(msg),
             conn != NULL ? PQerrorMessage(conn) : "no connection");
    return sb_error_set(err, SB_E_UNAVAILABLE, "%s: %s", what, msg);
}

int
sb_pg_conninfo_check(const char *conninfo, char *why, size_t size)
{
    char *errmsg = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo ? conninfo : "", &errmsg);

    if (opts != NULL) {
        PQconninfoFree(opts);
        return SB_OK;
    }
    one_line(why, size, errmsg != NULL ? errmsg : "out of memory");
    PQfreemem(errmsg);
    return SB_ERR;
}

/* connect_timeout comes before dbname so the conninfo can override it;
 * application_name after, so it overrides the conninfo. */
static PGconn *
start(const char *conninfo, const char *application_name, int async)
{
    const char *const keys[] = {"connect_timeout", "dbname", "application_name",
                                NULL};
    const char *const values[] = {
        SB_PG_CONNECT_TIMEOUT, conninfo ? conninfo : "",
        application_name ? application_name : "", NULL};

    if (async)
        return PQconnectStartParams(keys, values, 1);
    return PQconnectdbParams(keys, values, 1);
}

static int
check_conninfo(const char *conninfo, struct sb_error *err)
{
    char why[SB_ERROR_MESSAGE_MAX];

    if (sb_pg_conninfo_check(conninfo, why, sizeof(why)) != SB_OK)
        return sb_error_set(err, SB_E_INVALID_PARAMETER,
                            "invalid database_url: %s", why);
    return SB_OK;
}

PGconn *
sb_pg_connect(const char *conninfo, const char *application_name,
              struct sb_error *err)
{
    PGconn *conn;

    if (check_conninfo(conninfo, err) != SB_OK)
        return NULL;
    conn = start(conninfo, application_name, 0);
    if (conn == NULL) {
        unavailable(NULL, "cannot connect to database", err);
        return NULL;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        unavailable(conn, "cannot connect to database", err);
        goto fail;
    }
    if (sb_pg_check_server(conn, err) != SB_OK)
        goto fail;
    return conn;
fail:
    PQfinish(conn);
    return NULL;
}

int
sb_pg_check_version(const PGconn *conn, struct sb_error *err)
{
    int version = PQserverVersion(conn);

    if (version < SB_PG_SERVER_VERSION_MIN)
        return sb_error_set(err, SB_E_INTERNAL,
                            "database server is PostgreSQL %d.%d: switchboard "
                            "needs %d or later",
                            version / 10000, version % 10000,
                            SB_PG_SERVER_VERSION_MIN / 10000);
    return SB_OK;
}

int
sb_pg_check_server(PGconn *conn, struct sb_error *err)
{
    PGresult *res = NULL;
    int rc = SB_ERR;

    if (sb_pg_check_version(conn, err) != SB_OK)
        goto out;
    res = PQexec(conn, "SELECT 1 FROM pg_catalog.pg_namespace "
                       "WHERE nspname = 'switchboard'");
    if (sb_pg_result_error(res, conn, err) != SB_OK)
        goto out;
    if (PQntuples(res) == 0) {
        sb_error_set(err, SB_E_INTERNAL,
                     "database has no switchboard "
                     "schema: run switchboard-migrate");
        goto out;
    }
    rc = SB_OK;
out:
    PQclear(res);
    return rc;
}

PGconn *
sb_pg_connect_start(const char *conninfo, const char *application_name,
                    int *wait, struct sb_error *err)
{
    PGconn *conn;

    if (check_conninfo(conninfo, err) != SB_OK)
        return NULL;
    conn = start(conninfo, application_name, 1);
    if (conn == NULL || PQstatus(conn) == CONNECTION_BAD) {
        unavailable(conn, "cannot connect to database", err);
        PQfinish(conn);
        return NULL;
    }
    *wait = SB_PG_WAIT_WRITE;
    return conn;
}

int
sb_pg_connect_step(PGconn *conn, int *wait, struct sb_error *err)
{
    *wait = 0;
    switch (PQconnectPoll(conn)) {
    case PGRES_POLLING_READING:
        *wait = SB_PG_WAIT_READ;
        return SB_AGAIN;
    case PGRES_POLLING_WRITING:
        *wait = SB_PG_WAIT_WRITE;
        return SB_AGAIN;
    case PGRES_POLLING_OK:
        return sb_pg_check_version(conn, err);
    default:
        return unavailable(conn, "cannot connect to database", err);
    }
}

int
sb_pg_error_from_fields(const char *sqlstate, const char *primary,
                        struct sb_error *err)
{
    enum sb_errcode code = sb_errcode_from_sqlstate(sqlstate);

    if (primary == NULL || *primary == '\0')
        return sb_error_set(err, code, NULL);
    if (sqlstate != NULL && strncmp(sqlstate, "SB", 2) == 0)
        return sb_error_set(err, code, "%s", primary);
    return sb_error_set(err, code, "%s: %s", sb_errcode_message(code), primary);
}

static bool
is_success(ExecStatusType status)
{
    switch (status) {
    case PGRES_COMMAND_OK:
    case PGRES_TUPLES_OK:
    case PGRES_SINGLE_TUPLE:
    case PGRES_COPY_IN:
    case PGRES_COPY_OUT:
    case PGRES_COPY_BOTH:
        return true;
    default:
        return false;
    }
}

int
sb_pg_result_error(const PGresult *res, const PGconn *conn,
                   struct sb_error *err)
{
    bool lost = conn == NULL || PQstatus(conn) == CONNECTION_BAD;
    const char *sqlstate;
    char msg[SB_ERROR_MESSAGE_MAX];

    if (res != NULL && is_success(PQresultStatus(res)))
        return SB_OK;
    sqlstate = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    /* No result or no SQLSTATE: libpq's own error, usually the connection
     * going away. */
    if (sqlstate == NULL && lost)
        return unavailable(conn, "database connection lost", err);
    if (res == NULL) {
        one_line(msg, sizeof(msg), PQerrorMessage(conn));
        return sb_error_set(err, SB_E_INTERNAL, "database query failed: %s",
                            msg);
    }
    if (sqlstate == NULL && PQresultStatus(res) != PGRES_FATAL_ERROR)
        return sb_error_set(err, SB_E_INTERNAL,
                            "unexpected database result: %s",
                            PQresStatus(PQresultStatus(res)));
    one_line(msg, sizeof(msg),
             PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
    return sb_pg_error_from_fields(sqlstate, msg, err);
}

int
sb_pg_drain_notifies(PGconn *conn, sb_pg_notify_fn fn, void *arg,
                     struct sb_error *err)
{
    PGnotify *notify;
    int count = 0;

    if (PQconsumeInput(conn) == 0 || PQstatus(conn) == CONNECTION_BAD)
        return unavailable(conn, "database connection lost", err);
    while ((notify = PQnotifies(conn)) != NULL) {
        fn(notify->relname, notify->extra, arg);
        PQfreemem(notify);
        count++;
    }
    return count;
}

char *
sb_pg_conninfo_quote(const char *value)
{
    char *out = sb_malloc(2 * strlen(value) + 3);
    size_t n = 0;

    out[n++] = '\'';
    for (; *value != '\0'; value++) {
        if (*value == '\'' || *value == '\\')
            out[n++] = '\\';
        out[n++] = *value;
    }
    out[n++] = '\'';
    out[n] = '\0';
    return out;
}

/* Append " key='value'" to *s (a string the caller frees). */
static void
append_pair(char **s, const char *key, const char *value)
{
    char *quoted = strcmp(key, "password") == 0 ? sb_strdup("***")
                                                : sb_pg_conninfo_quote(value);
    char *next = sb_asprintf("%s%s%s=%s", *s, **s ? " " : "", key, quoted);

    free(quoted);
    free(*s);
    *s = next;
}

char *
sb_pg_conninfo_redact(const char *conninfo)
{
    PQconninfoOption *opts = PQconninfoParse(conninfo ? conninfo : "", NULL);
    char *out;

    if (opts == NULL)
        return sb_strdup("(invalid)");
    out = sb_strdup("");
    for (const PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (o->val != NULL && *o->val != '\0')
            append_pair(&out, o->keyword, o->val);
    }
    PQconninfoFree(opts);
    return out;
}
