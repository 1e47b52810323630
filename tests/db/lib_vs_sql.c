/*
 * lib_vs_sql.c: where the C library and the database must agree, checked
 * against a real database.
 *
 *   limits     switchboard.limits() has exactly the SB_* values of limits.h
 *   tokens     mint_token() output verifies with sb_token_verify() under the
 *              token_secret(); claims and sb_token_allows() match; expiry
 *              at exp + SB_TOKEN_LEEWAY; altered and wrongly keyed tokens
 *              are rejected; a ttl that is not positive is refused
 *   envelope   events_after() text equals sb_event_encode() of the stored
 *              fields byte for byte; the signal() NOTIFY payload too; the
 *              doorbell payload parses with sb_doorbell_parse()
 *   errors     each custom SQLSTATE the functions raise maps through
 *              sb_pg_result_error() to the code error.h gives it, and
 *              nothing is stored
 *   roles      the app role cannot read secrets nor mint tokens
 *
 * Environment: SB_TEST_DSN (a login role that is a member of
 * switchboard_app) and SB_TEST_OWNER_DSN (a superuser). Channels carry a
 * per-run tag, so reruns on one database start clean. Exit 0 when every
 * check passed, 1 otherwise, naming each failed check.
 */
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <libpq-fe.h>
#include <uuid/uuid.h>

#include "base64url.h"
#include "doorbell.h"
#include "envelope.h"
#include "error.h"
#include "limits.h"
#include "pg.h"
#include "token.h"
#include "xalloc.h"

/* How long to wait for a NOTIFY that must come. */
#define NOTIFY_WAIT_MS 5000

static int checks, failures;
static char chat[64], work[64];

static void check(bool ok, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Count a check; print it when it failed. */
static void
check(bool ok, const char *fmt, ...)
{
    va_list ap;

    checks++;
    if (ok)
        return;
    failures++;
    va_start(ap, fmt);
    fputs("lib_vs_sql: FAIL: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static PGconn *
connect_env(const char *var)
{
    const char *dsn = getenv(var);
    struct sb_error err = {0};
    PGconn *conn;

    if (dsn == NULL) {
        fprintf(stderr, "lib_vs_sql: FAIL: %s is not set\n", var);
        exit(1);
    }
    conn = sb_pg_connect(dsn, "lib_vs_sql", &err);
    if (conn == NULL) {
        fprintf(stderr, "lib_vs_sql: FAIL: connect %s: %s\n", var, err.message);
        exit(1);
    }
    return conn;
}

static PGresult *
query(PGconn *conn, const char *sql, int n, const char *const *params)
{
    return PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
}

/* The first value of a query that must return a row, as a new string, or
 * NULL (a failed check). */
static char *
query_value(PGconn *conn, const char *sql, int n, const char *const *params)
{
    PGresult *res = query(conn, sql, n, params);
    char *v = NULL;

    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0 &&
        !PQgetisnull(res, 0, 0))
        v = sb_strdup(PQgetvalue(res, 0, 0));
    check(v != NULL, "%s: %s", sql, PQresultErrorMessage(res));
    PQclear(res);
    return v;
}

/* Wait for a notification on relname whose payload contains needle (other
 * tests may publish on the same database meanwhile); NULL after a while. */
static PGnotify *
wait_notify(PGconn *conn, const char *relname, const char *needle)
{
    struct pollfd p = {.fd = PQsocket(conn), .events = POLLIN};
    int waited = 0;

    for (;;) {
        PGnotify *n;

        PQconsumeInput(conn);
        while ((n = PQnotifies(conn)) != NULL) {
            if (strcmp(n->relname, relname) == 0 &&
                strstr(n->extra, needle) != NULL)
                return n;
            PQfreemem(n);
        }
        if (waited >= NOTIFY_WAIT_MS)
            return NULL;
        poll(&p, 1, 100);
        waited += 100;
    }
}

static void expect_error(PGconn *conn, const char *what, const char *sql,
                         enum sb_errcode want);

/* ---- limits ------------------------------------------------------------ */

static const struct {
    const char *name;
    long long value;
} limit_table[] = {
    {"namespace_max", SB_NAMESPACE_MAX},
    {"channel_name_max", SB_CHANNEL_NAME_MAX},
    {"channel_max", SB_CHANNEL_MAX},
    {"type_max", SB_TYPE_MAX},
    {"sender_max", SB_SENDER_MAX},
    {"subject_max", SB_SUBJECT_MAX},
    {"data_max_default", SB_DATA_MAX_DEFAULT},
    {"data_max_hard", SB_DATA_MAX_HARD},
    {"data_depth_max", SB_DATA_DEPTH_MAX},
    {"log_message_max", SB_LOG_MESSAGE_MAX},
    {"notify_payload_max", SB_NOTIFY_PAYLOAD_MAX},
    {"batch_max", SB_BATCH_MAX},
    {"history_max", SB_HISTORY_MAX},
    {"token_max", SB_TOKEN_MAX},
    {"token_patterns_max", SB_TOKEN_PATTERNS_MAX},
    {"token_leeway", SB_TOKEN_LEEWAY},
};
#define N_LIMITS (sizeof limit_table / sizeof limit_table[0])

static int
limit_index(const char *name)
{
    for (size_t i = 0; i < N_LIMITS; i++) {
        if (strcmp(limit_table[i].name, name) == 0)
            return (int)i;
    }
    return -1;
}

static void
test_limits(PGconn *conn)
{
    PGresult *res =
        query(conn, "SELECT name, value FROM switchboard.limits()", 0, NULL);
    int seen[N_LIMITS] = {0};

    check(PQresultStatus(res) == PGRES_TUPLES_OK, "limits(): %s",
          PQresultErrorMessage(res));
    for (int r = 0; r < PQntuples(res); r++) {
        const char *name = PQgetvalue(res, r, 0);
        int i = limit_index(name);
        long long v = strtoll(PQgetvalue(res, r, 1), NULL, 10);

        check(i >= 0, "limits(): %s is not in limits.h", name);
        if (i < 0)
            continue;
        seen[i]++;
        check(v == limit_table[i].value, "limits(): %s = %lld, limits.h %lld",
              name, v, limit_table[i].value);
    }
    for (size_t i = 0; i < N_LIMITS; i++)
        check(seen[i] == 1, "limits(): %s appears %d times",
              limit_table[i].name, seen[i]);
    PQclear(res);
}

/* ---- tokens ------------------------------------------------------------ */

struct secret {
    unsigned char *bytes;
    size_t len;
};

static char *
mint(PGconn *owner, const char *args)
{
    char *sql = sb_asprintf("SELECT switchboard.mint_token(%s)", args);
    char *jwt = query_value(owner, sql, 0, NULL);

    free(sql);
    return jwt;
}

/* Verify jwt at time now; the token, or NULL with *code set. */
static struct sb_token *
verify_at(const char *jwt, const struct secret *s, time_t now,
          enum sb_errcode *code)
{
    struct sb_error err = {0};
    struct sb_token *t =
        sb_token_verify(jwt, strlen(jwt), s->bytes, s->len, now, &err);

    *code = t ? SB_E_NONE : err.code;
    return t;
}

static struct sb_token *
verify(const char *jwt, const struct secret *s, enum sb_errcode *code)
{
    return verify_at(jwt, s, time(NULL), code);
}

static void
check_claims(const struct sb_token *t)
{
    time_t now = time(NULL);

    check(strcmp(t->sub, "alice") == 0, "token sub %s", t->sub);
    check(t->role == SB_ROLE_USER, "token role %s", sb_role_name(t->role));
    check(t->npatterns == 2 && !t->all_channels, "token has %zu patterns",
          t->npatterns);
    if (t->npatterns == 2)
        check(strcmp(t->patterns[0], "chat:*") == 0 &&
                  strcmp(t->patterns[1], "activity:main") == 0,
              "token patterns %s %s", t->patterns[0], t->patterns[1]);
    check(t->exp > now + 3600 - 60 && t->exp <= now + 3600 + 5,
          "token exp %lld, now %lld", t->exp, (long long)now);
    check(t->iat > now - 60 && t->iat <= now + 5, "token iat %lld", t->iat);
    check(strcmp(sb_token_sender(t), "user:alice") == 0, "token sender %s",
          sb_token_sender(t));
}

static void
check_allows(const struct sb_token *t, enum sb_verb verb, const char *ch,
             bool want)
{
    check(sb_token_allows(t, verb, ch) == want,
          "token role %s: verb %d on %s "
          "should be %s",
          sb_role_name(t->role), (int)verb, ch, want ? "allowed" : "refused");
}

static void
test_user_token(PGconn *owner, const struct secret *s)
{
    char *jwt = mint(owner, "'alice', 'user', '1 hour', 'chat:*', "
                            "'activity:main'");
    enum sb_errcode code;
    struct sb_token *t = jwt ? verify(jwt, s, &code) : NULL;

    check(t != NULL, "minted user token does not verify: %s",
          jwt ? sb_errcode_name(code) : "no token");
    if (t != NULL) {
        check_claims(t);
        check_allows(t, SB_VERB_PUBLISH, "chat:x", true);
        check_allows(t, SB_VERB_READ, "chat:team/alpha", true);
        check_allows(t, SB_VERB_SIGNAL, "chat:x", true);
        check_allows(t, SB_VERB_PUBLISH, "activity:main", true);
        check_allows(t, SB_VERB_READ, "activity:other", false);
        check_allows(t, SB_VERB_PUBLISH, "activity:other", false);
        check_allows(t, SB_VERB_READ, "workflow:main", false);
    }
    sb_token_free(t);
    free(jwt);
}

static void
test_reader_token(PGconn *owner, const struct secret *s)
{
    char *jwt = mint(owner, "'bob', 'reader', '1 hour', 'chat:*'");
    enum sb_errcode code;
    struct sb_token *t = jwt ? verify(jwt, s, &code) : NULL;

    check(t != NULL, "minted reader token does not verify");
    if (t != NULL) {
        check(t->role == SB_ROLE_READER, "reader token role %s",
              sb_role_name(t->role));
        check_allows(t, SB_VERB_READ, "chat:x", true);
        check_allows(t, SB_VERB_PUBLISH, "chat:x", false);
        check_allows(t, SB_VERB_SIGNAL, "chat:x", false);
    }
    sb_token_free(t);
    free(jwt);
}

/* Verification must fail with want. */
static void
check_rejected(const char *what, const char *jwt, const struct secret *s,
               enum sb_errcode want)
{
    enum sb_errcode code;
    struct sb_token *t = verify(jwt, s, &code);

    check(t == NULL && code == want, "%s: %s, expected %s", what,
          t ? "accepted" : sb_errcode_name(code), sb_errcode_name(want));
    sb_token_free(t);
}

/* One character of part (0 header, 1 payload, 2 signature) changed. */
static char *
alter(const char *jwt, int part)
{
    char *copy = sb_strdup(jwt), *p = copy;

    for (int i = 0; i < part; i++)
        p = strchr(p, '.') + 1;
    p += 5;
    *p = *p == 'A' ? 'B' : 'A';
    return copy;
}

/* mint_token refuses a ttl that is not positive, so expiry is checked by
 * verifying a fresh token at a later clock: a token is valid before exp
 * (RFC 7519) plus the leeway, so accepted one second before exp + leeway
 * and token_expired from then on. */
static void
test_expiry(const char *jwt, const struct secret *s)
{
    enum sb_errcode code;
    struct sb_token *t = verify(jwt, s, &code);
    long long exp = t ? t->exp : 0;

    sb_token_free(t);
    if (exp == 0)
        return;
    t = verify_at(jwt, s, (time_t)(exp + SB_TOKEN_LEEWAY - 1), &code);
    check(t != NULL, "token refused at exp + leeway - 1 s: %s",
          sb_errcode_name(code));
    sb_token_free(t);
    t = verify_at(jwt, s, (time_t)(exp + SB_TOKEN_LEEWAY), &code);
    check(t == NULL && code == SB_E_TOKEN_EXPIRED,
          "token at exp + leeway: %s, expected token_expired",
          t ? "accepted" : sb_errcode_name(code));
    sb_token_free(t);
}

static void
test_bad_tokens(PGconn *owner, const struct secret *s)
{
    char *good = mint(owner, "'alice', 'user', '1 hour', 'chat:*'");
    struct secret wrong = {sb_malloc(s->len), s->len};

    if (good == NULL)
        goto out;
    test_expiry(good, s);
    for (int part = 0; part < 3; part++) {
        char *bad = alter(good, part);
        check_rejected(part == 0   ? "token with a header byte changed"
                       : part == 1 ? "token with a claims byte changed"
                                   : "token with a signature byte changed",
                       bad, s, SB_E_UNAUTHORIZED);
        free(bad);
    }
    memcpy(wrong.bytes, s->bytes, s->len);
    wrong.bytes[0] ^= 1;
    check_rejected("token checked with another secret", good, &wrong,
                   SB_E_UNAUTHORIZED);
    expect_error(owner, "mint_token with ttl -1 hour",
                 "SELECT switchboard.mint_token('alice', 'user', '-1 hour', "
                 "'chat:*')",
                 SB_E_INVALID_PARAMETER);
out:
    free(wrong.bytes);
    free(good);
}

static void
test_tokens(PGconn *owner)
{
    char *text =
        query_value(owner, "SELECT switchboard.token_secret()", 0, NULL);
    struct secret s = {NULL, 0};

    if (text != NULL)
        s.bytes = sb_base64url_decode(text, strlen(text), &s.len);
    check(s.bytes != NULL && s.len >= 32,
          "token_secret() is not base64url of 32 or more bytes: %s",
          text ? text : "(none)");
    if (s.bytes != NULL) {
        test_user_token(owner, &s);
        test_reader_token(owner, &s);
        test_bad_tokens(owner, &s);
    }
    free(s.bytes);
    free(text);
}

/* ---- envelope ---------------------------------------------------------- */

/* One stored event's fields, read back from the table by the owner. */
struct stored {
    char *id, *type, *sender, *data;
    int64_t seq, time_us;
};

static void
stored_clear(struct stored *e)
{
    free(e->id);
    free(e->type);
    free(e->sender);
    free(e->data);
    memset(e, 0, sizeof *e);
}

static int
stored_read(PGconn *owner, const char *channel, int64_t seq, struct stored *e)
{
    char seqtext[24];
    const char *params[2] = {channel, seqtext};
    PGresult *res;
    bool ok;

    snprintf(seqtext, sizeof seqtext, "%" PRId64, seq);
    res = query(owner,
                "SELECT id::text, type, sender, data::text, "
                "(extract(epoch FROM created_at) * 1000000)::bigint "
                "FROM switchboard.events WHERE channel = $1 AND seq = $2",
                2, params);
    ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
    check(ok, "events row %s/%s: %s", channel, seqtext,
          PQresultErrorMessage(res));
    if (ok) {
        e->id = sb_strdup(PQgetvalue(res, 0, 0));
        e->type = sb_strdup(PQgetvalue(res, 0, 1));
        e->sender = sb_strdup(PQgetvalue(res, 0, 2));
        e->data = sb_strdup(PQgetvalue(res, 0, 3));
        e->time_us = strtoll(PQgetvalue(res, 0, 4), NULL, 10);
        e->seq = seq;
    }
    PQclear(res);
    return ok ? SB_OK : SB_ERR;
}

/* sb_event_encode of e, data spliced as text or re-printed by jansson. */
static char *
encode(const char *channel, const struct stored *e, json_t *data_json)
{
    struct sb_envelope env = {
        .channel = channel,
        .seq = e->seq,
        .id = e->id,
        .type = e->type,
        .sender = e->sender,
        .time_us = e->time_us,
        .data_json = data_json,
        .data = data_json ? NULL : e->data,
        .data_len = data_json ? 0 : strlen(e->data),
    };

    return sb_event_encode(&env, NULL);
}

/* Compare sql's event text with C's: envelope bytes, and data by value
 * when C printed the data itself. */
static void
compare_event(const char *what, const char *sql_text, const char *c_text)
{
    const char *a = strstr(sql_text, ",\"data\":");
    const char *b = strstr(c_text, ",\"data\":");
    json_t *ja, *jb;

    check(a != NULL && b != NULL && a - sql_text == b - c_text &&
              memcmp(sql_text, c_text, (size_t)(a - sql_text)) == 0,
          "%s: envelope differs:\n  sql: %s\n  c:   %s", what, sql_text,
          c_text);
    ja = json_loads(sql_text, 0, NULL);
    jb = json_loads(c_text, 0, NULL);
    check(json_object_get(ja, "data") != NULL &&
              json_equal(json_object_get(ja, "data"),
                         json_object_get(jb, "data")),
          "%s: data differs:\n  sql: %s\n  c:   %s", what, sql_text, c_text);
    json_decref(ja);
    json_decref(jb);
}

/* The doorbell after a publish names the channel with the new seq. */
static void
check_doorbell(PGconn *app, const char *channel, int64_t seq)
{
    char *needle = sb_asprintf("\"%s\":%" PRId64, channel, seq);
    PGnotify *n = wait_notify(app, "switchboard", needle);
    struct sb_doorbell *db = NULL;
    struct sb_error err = {0};
    bool found = false;

    free(needle);
    check(n != NULL, "no doorbell after publishing to %s", channel);
    if (n == NULL)
        return;
    check(sb_doorbell_parse(n->extra, strlen(n->extra), &db, &err) == SB_OK,
          "doorbell %s: %s", n->extra, err.message);
    for (size_t i = 0; db != NULL && i < db->count; i++)
        found |= strcmp(db->entries[i].channel, channel) == 0 &&
                 db->entries[i].seq == seq;
    check(found, "doorbell %s lacks %s:%" PRId64, n->extra, channel, seq);
    sb_doorbell_free(db);
    PQfreemem(n);
}

/* Publish one event through SQL; its seq, or 0 (a failed check). */
static int64_t
publish(PGconn *app, const char *type, const char *data, const char *sender,
        const char *id)
{
    const char *params[5] = {chat, type, data, sender, id};
    PGresult *res =
        query(app,
              "SELECT seq FROM switchboard.publish($1, $2, $3::jsonb, $4, "
              "$5::uuid)",
              5, params);
    int64_t seq = 0;

    check(PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1,
          "publish %s: %s", data, PQresultErrorMessage(res));
    if (PQntuples(res) == 1)
        seq = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return seq;
}

/* events_after(chat, seq - 1, 1): the event text of seq. */
static char *
read_event(PGconn *app, int64_t seq)
{
    char since[24];
    const char *params[2] = {chat, since};

    snprintf(since, sizeof since, "%" PRId64, seq - 1);
    return query_value(app,
                       "SELECT event FROM switchboard.events_after($1, "
                       "$2::bigint, 1)",
                       2, params);
}

static void
check_published(PGconn *app, PGconn *owner, const char *type, const char *data,
                const char *sender, const char *id)
{
    int64_t seq = publish(app, type, data, sender, id);
    struct stored e = {0};
    char *sql_text = seq ? read_event(app, seq) : NULL;
    char *raw, *printed;
    json_t *dj;

    if (seq)
        check_doorbell(app, chat, seq);
    if (sql_text == NULL || stored_read(owner, chat, seq, &e) < 0)
        goto out;
    raw = encode(chat, &e, NULL);
    check(strcmp(raw, sql_text) == 0,
          "events_after text differs from sb_event_encode:\n  sql: %s\n"
          "  c:   %s",
          sql_text, raw);
    dj = json_loads(e.data, 0, NULL);
    printed = encode(chat, &e, dj);
    compare_event("event encoded with jansson data", sql_text, printed);
    json_decref(dj);
    free(printed);
    free(raw);
out:
    stored_clear(&e);
    free(sql_text);
}

/* Microseconds of an RFC 3339 "YYYY-MM-DDTHH:MM:SS.ffffffZ" time, or -1. */
static int64_t
parse_time(const char *s)
{
    struct tm tm = {0};
    long us;
    char z;

    if (s == NULL ||
        sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%6ld%c", &tm.tm_year, &tm.tm_mon,
               &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &us,
               &z) != 8 ||
        z != 'Z')
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000000 + us;
}

/* The payload of a signal('typing', {"text": "hi"}, 'user:alice') on chat
 * equals sb_event_encode() of its fields with seq null. */
static void
check_signal_payload(const char *payload)
{
    static const char data[] = "{\"text\": \"hi\"}";
    json_t *ev = json_loads(payload, 0, NULL);
    struct sb_envelope env = {.channel = chat,
                              .seq = SB_SEQ_NONE,
                              .id =
                                  json_string_value(json_object_get(ev, "id")),
                              .type = "typing",
                              .sender = "user:alice",
                              .data = data,
                              .data_len = sizeof data - 1};
    char *c_text;

    env.time_us = parse_time(json_string_value(json_object_get(ev, "time")));
    check(env.id != NULL && env.time_us >= 0, "signal payload: %s", payload);
    c_text = env.id ? sb_event_encode(&env, NULL) : sb_strdup("");
    check(strcmp(c_text, payload) == 0,
          "signal payload differs from sb_event_encode:\n  sql: %s\n  c:   %s",
          payload, c_text);
    free(c_text);
    json_decref(ev);
}

/* signal(): one NOTIFY switchboard_signal whose payload is what it returns. */
static void
test_signal(PGconn *app)
{
    const char *params[1] = {chat};
    char *ret = query_value(app,
                            "SELECT switchboard.signal($1, 'typing', "
                            "'{\"text\": \"hi\"}', 'user:alice')::text",
                            1, params);
    char *needle = sb_asprintf("{\"channel\":\"%s\",", chat);
    PGnotify *n = wait_notify(app, "switchboard_signal", needle);

    check(n != NULL, "no switchboard_signal NOTIFY after signal()");
    if (n != NULL) {
        check_signal_payload(n->extra);
        check(ret != NULL && strcmp(ret, n->extra) == 0,
              "signal() returned %s, notified %s", ret ? ret : "nothing",
              n->extra);
    }
    PQfreemem(n);
    free(needle);
    free(ret);
}

static void
test_envelope(PGconn *app, PGconn *owner)
{
    char id[37];
    uuid_t u;
    PGresult *res =
        PQexec(app, "LISTEN switchboard; LISTEN switchboard_signal");

    check(PQresultStatus(res) == PGRES_COMMAND_OK, "LISTEN: %s",
          PQresultErrorMessage(res));
    PQclear(res);
    uuid_generate_random(u);
    uuid_unparse_upper(u, id);
    check_published(app, owner, "message", "{\"text\": \"hi\"}", "user:alice",
                    id);
    check_published(app, owner, "tool_call.result",
                    "{\"text\": \"h\\u00e9 \\\"q\\\" \\\\ / \\t\", "
                    "\"n\": 1.5, \"big\": 9007199254740993, "
                    "\"list\": [1, true, null, {\"a\": []}]}",
                    "agent:zo\xc3\xab \"q\" \\ / \xe2\x9c\x93", NULL);
    test_signal(app);
}

/* ---- errors ------------------------------------------------------------ */

/* A statement that must fail with the SQLSTATE of want, which
 * sb_pg_result_error() must map back to want. */
static void
expect_error(PGconn *conn, const char *what, const char *sql,
             enum sb_errcode want)
{
    PGresult *res = PQexec(conn, sql);
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *want_state = sb_errcode_sqlstate(want);
    struct sb_error err = {0};
    int rc;

    check(PQresultStatus(res) == PGRES_FATAL_ERROR, "%s: did not fail", what);
    check(state != NULL && want_state != NULL && strcmp(state, want_state) == 0,
          "%s: SQLSTATE %s, expected %s (%s)", what, state ? state : "none",
          want_state ? want_state : "none", PQresultErrorMessage(res));
    rc = sb_pg_result_error(res, conn, &err);
    check(rc == SB_ERR && err.code == want, "%s: mapped to %s, expected %s",
          what, rc == SB_OK ? "success" : sb_errcode_name(err.code),
          sb_errcode_name(want));
    PQclear(res);
}

/* Statements that must fail, with @CH@ standing for the test channel. */
static const struct {
    const char *what;
    const char *sql;
    enum sb_errcode want;
} bad_calls[] = {
    {"bad channel",
     "SELECT * FROM switchboard.publish('chat:bad channel', "
     "'message', '{}', 'user:alice')",
     SB_E_INVALID_CHANNEL},
    {"channel without namespace",
     "SELECT * FROM switchboard.publish("
     "'nocolon', 'message', '{}', 'user:alice')",
     SB_E_INVALID_CHANNEL},
    {"unknown namespace",
     "SELECT * FROM switchboard.publish('nosuchns:x', "
     "'message', '{}', 'user:alice')",
     SB_E_UNKNOWN_NAMESPACE},
    {"bad type",
     "SELECT * FROM switchboard.publish('@CH@', 'Bad Type', "
     "'{}', 'user:alice')",
     SB_E_INVALID_TYPE},
    {"array data",
     "SELECT * FROM switchboard.publish('@CH@', 'message', "
     "'[1, 2]', 'user:alice')",
     SB_E_INVALID_DATA},
    {"string data",
     "SELECT * FROM switchboard.publish('@CH@', 'message', "
     "'\"hi\"', 'user:alice')",
     SB_E_INVALID_DATA},
    {"oversized data",
     "SELECT * FROM switchboard.publish('@CH@', 'message', "
     "jsonb_build_object('text', repeat('x', 70000)), 'user:alice')",
     SB_E_TOO_LARGE},
    {"empty sender",
     "SELECT * FROM switchboard.publish('@CH@', 'message', "
     "'{}', '')",
     SB_E_INVALID_SENDER},
    {"batch with array data",
     "SELECT * FROM switchboard.publish_batch("
     "'[{\"channel\": \"@CH@\", \"type\": \"message\", \"data\": {}, "
     "\"sender\": \"user:alice\"}, {\"channel\": \"@CH@\", \"type\": "
     "\"message\", \"data\": [], \"sender\": \"user:alice\"}]')",
     SB_E_INVALID_DATA},
    {"batch over batch_max",
     "SELECT * FROM switchboard.publish_batch(("
     "SELECT jsonb_agg(jsonb_build_object('channel', '@CH@', 'type', "
     "'message', 'data', '{}'::jsonb, 'sender', 'user:alice')) "
     "FROM generate_series(1, 1001)))",
     SB_E_TOO_LARGE},
    {"batch with a bad id",
     "SELECT * FROM switchboard.publish_batch("
     "'[{\"channel\": \"@CH@\", \"type\": \"message\", \"data\": {}, "
     "\"sender\": \"user:alice\", \"id\": \"not-a-uuid\"}]')",
     SB_E_INVALID_ID},
    {"log entry with a bad level",
     "SELECT switchboard.log_activity("
     "'activity:lvs', 'loud', 'hello')",
     SB_E_INVALID_PARAMETER},
    {"update of an unknown task",
     "SELECT switchboard.task_update("
     "'00000000-0000-4000-8000-000000000000', 'active')",
     SB_E_NOT_FOUND},
    {"negative cursor",
     "SELECT * FROM switchboard.events_after('@CH@', -1, "
     "10)",
     SB_E_INVALID_CURSOR},
    {"history max 0", "SELECT * FROM switchboard.events_after('@CH@', 0, 0)",
     SB_E_INVALID_PARAMETER},
    {"signal over notify limit",
     "SELECT switchboard.signal('@CH@', "
     "'typing', jsonb_build_object('text', repeat('x', 8000)), "
     "'user:alice')",
     SB_E_TOO_LARGE},
};
#define N_BAD_CALLS (sizeof bad_calls / sizeof bad_calls[0])

static int64_t
last_seq(PGconn *conn, const char *channel)
{
    const char *params[1] = {channel};
    char *v = query_value(
        conn, "SELECT last_seq FROM switchboard.channel_info($1)", 1, params);
    int64_t seq = v ? strtoll(v, NULL, 10) : -1;

    free(v);
    return seq;
}

/* A task cancelled and then started: invalid_transition. */
static void
test_transition(PGconn *app)
{
    const char *params[1] = {work};
    char *id = query_value(app, "SELECT switchboard.task_create($1, 'lvs')", 1,
                           params);
    char *sql;

    if (id == NULL)
        return;
    sql = sb_asprintf("SELECT switchboard.task_update('%s', 'cancelled')", id);
    free(query_value(app, sql, 0, NULL));
    free(sql);
    sql = sb_asprintf("SELECT switchboard.task_update('%s', 'active')", id);
    expect_error(app, "cancelled task made active", sql,
                 SB_E_INVALID_TRANSITION);
    free(sql);
    free(id);
}

/* tmpl with every "@CH@" replaced by channel, as a new string. */
static char *
with_channel(const char *tmpl, const char *channel)
{
    size_t cap = strlen(tmpl) * 2 + 256, len = 0;
    char *out = sb_malloc(cap);

    while (*tmpl != '\0') {
        if (strncmp(tmpl, "@CH@", 4) == 0) {
            len += (size_t)snprintf(out + len, cap - len, "%s", channel);
            tmpl += 4;
        } else {
            out[len++] = *tmpl++;
        }
        SB_ASSERT(len + SB_CHANNEL_MAX + 1 < cap);
    }
    out[len] = '\0';
    return out;
}

static void
test_errors(PGconn *app)
{
    int64_t before = last_seq(app, chat);

    for (size_t i = 0; i < N_BAD_CALLS; i++) {
        char *sql = with_channel(bad_calls[i].sql, chat);
        expect_error(app, bad_calls[i].what, sql, bad_calls[i].want);
        free(sql);
    }
    check(last_seq(app, chat) == before,
          "failed calls changed last_seq of %s from %" PRId64, chat, before);
    test_transition(app);
}

/* ---- roles ------------------------------------------------------------- */

static void
expect_denied(PGconn *app, const char *sql)
{
    PGresult *res = PQexec(app, sql);
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

    check(state != NULL && strcmp(state, "42501") == 0,
          "app role: %s: expected permission denied, got %s", sql,
          state ? PQresultErrorMessage(res) : "success");
    PQclear(res);
}

static void
test_roles(PGconn *app)
{
    char *v = query_value(app,
                          "SELECT NOT rolsuper AND pg_has_role(current_user, "
                          "'switchboard_app', 'MEMBER') FROM pg_roles "
                          "WHERE rolname = current_user",
                          0, NULL);

    check(v != NULL && strcmp(v, "t") == 0,
          "SB_TEST_DSN must be a non-superuser member of switchboard_app");
    free(v);
    expect_denied(app, "SELECT * FROM switchboard.secrets");
    expect_denied(app, "SELECT switchboard.mint_token('mallory', 'admin', "
                       "'1 hour', '*')");
    expect_denied(app, "SELECT switchboard.token_secret()");
}

int
main(void)
{
    PGconn *app = connect_env("SB_TEST_DSN");
    PGconn *owner = connect_env("SB_TEST_OWNER_DSN");
    unsigned tag = (unsigned)time(NULL) ^ ((unsigned)getpid() << 16);

    snprintf(chat, sizeof chat, "chat:lvs-%08x/a.b_c-d", tag);
    snprintf(work, sizeof work, "workflow:lvs-%08x", tag);
    test_limits(owner);
    test_tokens(owner);
    test_envelope(app, owner);
    test_errors(app);
    test_roles(app);
    PQfinish(app);
    PQfinish(owner);
    if (failures > 0) {
        fprintf(stderr, "lib_vs_sql: %d of %d checks failed\n", failures,
                checks);
        return 1;
    }
    printf("lib_vs_sql: ok: %d checks (limits, tokens, envelope, signal, "
           "doorbell, SQLSTATE mapping, roles)\n",
           checks);
    return 0;
}
