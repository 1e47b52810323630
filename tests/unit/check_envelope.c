/*
 * check_envelope.c: publish-request parsing (each bad input class and its
 * error code, limits exactly at and one over), the sender rule, batches,
 * and the encoded envelope compared byte for byte.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "envelope.h"
#include "limits.h"
#include "xalloc.h"

#define REQ(ch, ty, data)                                                      \
    "{\"channel\":" ch ",\"type\":" ty ",\"data\":" data "}"
#define MSG(data) REQ("\"chat:a\"", "\"message\"", data)
#define LOG(data) REQ("\"activity:main\"", "\"log\"", data)

/* Parse text with max_data_bytes max; returns the error code (SB_E_NONE on
 * success) and copies the message to msg when not NULL. */
static enum sb_errcode
parse_max(const char *text, size_t max, char *msg)
{
    struct sb_event *ev = (struct sb_event *)&ev; /* must be reset */
    struct sb_error err = {SB_E_NONE, ""};
    int rc = sb_event_parse(text, strlen(text), max, &ev, &err);

    if (rc == SB_OK) {
        ck_assert_ptr_nonnull(ev);
        ck_assert_int_eq(err.code, SB_E_NONE);
    } else {
        ck_assert_int_eq(rc, SB_ERR);
        ck_assert_ptr_null(ev);
        ck_assert_int_ne(err.code, SB_E_NONE);
    }
    if (msg != NULL)
        strcpy(msg, err.message);
    sb_event_free(ev);
    return rc == SB_OK ? SB_E_NONE : err.code;
}

static enum sb_errcode
parse(const char *text)
{
    return parse_max(text, 0, NULL);
}

/* A request with data {"a": open*n inner close*n}. */
static char *
nested_request(const char *open, int n, const char *inner, const char *close)
{
    size_t len = (strlen(open) + strlen(close)) * (size_t)n + 128;
    char *s = sb_malloc(len);
    int i;

    strcpy(s, "{\"channel\":\"chat:a\",\"type\":\"t\",\"data\":{\"a\":");
    for (i = 0; i < n; i++)
        strcat(s, open);
    strcat(s, inner);
    for (i = 0; i < n; i++)
        strcat(s, close);
    strcat(s, "}}");
    return s;
}

/* A request whose data serializes to exactly n bytes (n >= 8). */
static char *
sized_request(size_t n, const char *type)
{
    char *s = sb_malloc(n + 128);
    size_t at;

    at = (size_t)sprintf(s,
                         "{\"channel\":\"chat:a\",\"type\":\"%s\","
                         "\"data\":{\"k\":\"",
                         type);
    memset(s + at, 'x', n - 8);
    strcpy(s + at + n - 8, "\"}}");
    return s;
}

/* --- core --- */

START_TEST(parse_message)
{
    const char *text = "{\"type\":\"message\",\"data\":{\"text\":\"hello\"},"
                       "\"channel\":\"chat:agent-42\"}";
    struct sb_event *ev;
    struct sb_error err;

    ck_assert_int_eq(sb_event_parse(text, strlen(text), 0, &ev, &err), SB_OK);
    ck_assert_str_eq(ev->channel, "chat:agent-42");
    ck_assert_str_eq(ev->type, "message");
    ck_assert_str_eq(ev->id, "");
    ck_assert_str_eq(ev->data_text, "{\"text\":\"hello\"}");
    ck_assert_int_eq(ev->data_len, strlen("{\"text\":\"hello\"}"));
    ck_assert(json_is_object(ev->data));
    ck_assert_str_eq(json_string_value(json_object_get(ev->data, "text")),
                     "hello");
    sb_event_free(ev);
}
END_TEST

START_TEST(parse_id_lowered)
{
    const char *text =
        "{\"channel\":\"chat:a\",\"type\":\"message\",\"data\":{},"
        "\"id\":\"0B7C2F4E-5D1A-4C55-9A8E-2F3C1D0E9B11\"}";
    const char *null_id =
        "{\"channel\":\"chat:a\",\"type\":\"message\",\"data\":{},"
        "\"id\":null}";
    struct sb_event *ev;
    struct sb_error err;

    ck_assert_int_eq(sb_event_parse(text, strlen(text), 0, &ev, &err), SB_OK);
    ck_assert_str_eq(ev->id, "0b7c2f4e-5d1a-4c55-9a8e-2f3c1d0e9b11");
    sb_event_free(ev);
    ck_assert_int_eq(sb_event_parse(null_id, strlen(null_id), 0, &ev, &err),
                     SB_OK);
    ck_assert_str_eq(ev->id, "");
    sb_event_free(ev);
}
END_TEST

START_TEST(parse_from_json)
{
    json_t *obj = json_pack("{s:s,s:s,s:{s:i}}", "channel", "workflow:x",
                            "type", "workflow.stats", "data", "n", 3);
    struct sb_event *ev;
    struct sb_error err;

    ck_assert_int_eq(sb_event_from_json(obj, 0, &ev, &err), SB_OK);
    json_decref(obj); /* the event keeps its own reference to data */
    ck_assert_str_eq(ev->type, "workflow.stats");
    ck_assert_str_eq(ev->data_text, "{\"n\":3}");
    ck_assert_int_eq(json_integer_value(json_object_get(ev->data, "n")), 3);
    sb_event_free(ev);
    sb_event_free(NULL);
}
END_TEST

START_TEST(data_serialization)
{
    const char *text = MSG("{\"a\":0.1,\"b\":1.0,\"c\":1e300,\"d\":-5,"
                           "\"e\":[true,false,null,{}],"
                           "\"s\":\"q\\\"b\\\\/\\u001f\\u00e9\\u2028\","
                           "\"r\":0.30000000000000004,\"t\":  1E2 }");
    struct sb_event *ev;
    struct sb_error err;

    ck_assert_int_eq(sb_event_parse(text, strlen(text), 0, &ev, &err), SB_OK);
    ck_assert_str_eq(ev->data_text,
                     "{\"a\":0.1,\"b\":1.0,\"c\":1e+300,\"d\":-5,"
                     "\"e\":[true,false,null,{}],"
                     "\"s\":\"q\\\"b\\\\/\\u001f\xc3\xa9\xe2\x80\xa8\","
                     "\"r\":0.30000000000000004,\"t\":100.0}");
    sb_event_free(ev);
}
END_TEST

START_TEST(parse_log)
{
    ck_assert_int_eq(parse(LOG("{\"level\":\"info\",\"message\":\"x\"}")),
                     SB_E_NONE);
    ck_assert_int_eq(parse(LOG("{\"level\":\"success\",\"message\":\"ok\","
                               "\"metadata\":{\"agent_id\":1}}")),
                     SB_E_NONE);
    ck_assert_int_eq(parse(LOG("{\"level\":\"warning\",\"message\":\"w\","
                               "\"metadata\":{}}")),
                     SB_E_NONE);
    ck_assert_int_eq(parse(LOG("{\"level\":\"error\",\"message\":\"e\"}")),
                     SB_E_NONE);
    /* the log rules apply to type "log" only */
    ck_assert_int_eq(parse(MSG("{\"level\":\"debug\"}")), SB_E_NONE);
    ck_assert_int_eq(
        parse(REQ("\"activity:main\"", "\"log.extra\"", "{\"level\":1}")),
        SB_E_NONE);
}
END_TEST

START_TEST(types_valid)
{
    static const char *const types[] = {
        "message", "token", "tool_call", "workflow.stats",
        "log",     "a.b.c", "a1_",       "presence.join"};
    struct sb_error err;
    size_t i;

    for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        ck_assert_msg(sb_type_check(types[i], strlen(types[i]), &err) == SB_OK,
                      "%s", types[i]);
}
END_TEST

START_TEST(sender_valid)
{
    static const char *const senders[] = {
        "user:alice",    "agent:planner", "x",
        "user:\xc3\xa9", "a b",           "\xf0\x9f\x98\x80",
        "\xef\xbf\xbd",  "user:\"q\"/\\"};
    struct sb_error err;
    size_t i;

    for (i = 0; i < sizeof(senders) / sizeof(senders[0]); i++)
        ck_assert_msg(sb_sender_check(senders[i], strlen(senders[i]), &err) ==
                          SB_OK,
                      "sender %zu", i);
}
END_TEST

START_TEST(id_check)
{
    char out[SB_UUID_TEXT_LEN + 1];
    struct sb_error err;

    ck_assert_int_eq(
        sb_id_check("0b7c2f4e-5d1a-4c55-9a8e-2f3c1d0e9b11", out, &err), SB_OK);
    ck_assert_str_eq(out, "0b7c2f4e-5d1a-4c55-9a8e-2f3c1d0e9b11");
    ck_assert_int_eq(
        sb_id_check("ABCDEFAB-CDEF-ABCD-EFAB-CDEFABCDEFAB", out, &err), SB_OK);
    ck_assert_str_eq(out, "abcdefab-cdef-abcd-efab-cdefabcdefab");
    ck_assert_int_eq(
        sb_id_check("00000000-0000-0000-0000-000000000000", NULL, &err), SB_OK);
}
END_TEST

/* --- encoding --- */

/* 2026-11-22T10:15:30.123456Z */
#define T_EXAMPLE INT64_C(1795342530123456)

START_TEST(encode_example)
{
    const char *data = "{\"text\":\"hello\"}";
    struct sb_envelope env = {"chat:agent-42",
                              17,
                              "0b7c2f4e-5d1a-4c55-9a8e-2f3c1d0e9b11",
                              "message",
                              "user:alice",
                              T_EXAMPLE,
                              NULL,
                              data,
                              strlen(data)};
    size_t len = 0;
    char *s = sb_event_encode(&env, &len);

    ck_assert_str_eq(s, "{\"channel\":\"chat:agent-42\",\"seq\":17,"
                        "\"id\":\"0b7c2f4e-5d1a-4c55-9a8e-2f3c1d0e9b11\","
                        "\"type\":\"message\",\"sender\":\"user:alice\","
                        "\"time\":\"2026-11-22T10:15:30.123456Z\","
                        "\"data\":{\"text\":\"hello\"}}");
    ck_assert_int_eq(len, strlen(s));
    free(s);
}
END_TEST

START_TEST(encode_ephemeral_and_escapes)
{
    /* PostgreSQL: to_json(E'user:"al\\ice"\n\x01/\u00e9\x7f'::text) */
    const char *data = "{\"t\": 1}";
    struct sb_envelope env = {"chat:a",
                              SB_SEQ_NONE,
                              "00000000-0000-0000-0000-000000000001",
                              "token",
                              "user:\"al\\ice\"\n\x01/\xc3\xa9\x7f",
                              0,
                              NULL,
                              data,
                              strlen(data)};
    char *s = sb_event_encode(&env, NULL);

    ck_assert_str_eq(s, "{\"channel\":\"chat:a\",\"seq\":null,"
                        "\"id\":\"00000000-0000-0000-0000-000000000001\","
                        "\"type\":\"token\","
                        "\"sender\":\"user:\\\"al\\\\ice\\\"\\n\\u0001/"
                        "\xc3\xa9\x7f\","
                        "\"time\":\"1970-01-01T00:00:00.000000Z\","
                        "\"data\":{\"t\": 1}}");
    free(s);
}
END_TEST

START_TEST(encode_all_escapes)
{
    /* PostgreSQL: to_json(E'a/b"\\ \x01\x1f\x7f\b\f\n\r\t \u00e9 \u2603'):
     * lower-case hex, no escape for '/', DEL or non-ASCII */
    struct sb_envelope env = {"chat:a",
                              0,
                              "i",
                              "t",
                              "a/b\"\\ \x01\x1f\x7f\b\f\n\r\t \xc3\xa9 "
                              "\xe2\x98\x83",
                              0,
                              NULL,
                              "{}",
                              2};
    char *s = sb_event_encode(&env, NULL);

    ck_assert_ptr_nonnull(
        strstr(s, ",\"sender\":\"a/b\\\"\\\\ \\u0001\\u001f\x7f\\b\\f\\n\\r\\t "
                  "\xc3\xa9 \xe2\x98\x83\",\"time\""));
    ck_assert_ptr_nonnull(strstr(s, "\"seq\":0,"));
    free(s);
}
END_TEST

START_TEST(encode_from_json)
{
    json_t *data = json_pack("{s:f,s:[i,s]}", "x", 0.1, "y", 1, "z\"");
    struct sb_envelope env = {"metrics:cpu",
                              INT64_C(9007199254740993),
                              "0b7c2f4e-5d1a-4c55-9a8e-2f3c1d0e9b11",
                              "metrics.sample",
                              "agent:collector",
                              T_EXAMPLE,
                              data,
                              NULL,
                              0};
    char *s = sb_event_encode(&env, NULL);

    ck_assert_str_eq(s, "{\"channel\":\"metrics:cpu\",\"seq\":9007199254740993,"
                        "\"id\":\"0b7c2f4e-5d1a-4c55-9a8e-2f3c1d0e9b11\","
                        "\"type\":\"metrics.sample\","
                        "\"sender\":\"agent:collector\","
                        "\"time\":\"2026-11-22T10:15:30.123456Z\","
                        "\"data\":{\"x\":0.1,\"y\":[1,\"z\\\"\"]}}");
    free(s);
    json_decref(data);
}
END_TEST

START_TEST(encode_parses_back_in_order)
{
    static const char *const keys[] = {"channel", "type", "sender", "seq",
                                       "id",      "time", "data"};
    static const char *const order[] = {"channel", "seq",  "id",  "type",
                                        "sender",  "time", "data"};
    struct sb_envelope env = {
        "chat:a", 5, "i", "message", "user:b", 1, NULL, "{\"k\":[1,2]}", 11};
    char *s = sb_event_encode(&env, NULL);
    json_t *root = json_loads(s, JSON_REJECT_DUPLICATES, NULL);
    void *it;
    int i = 0;

    ck_assert_ptr_nonnull(root);
    ck_assert_int_eq(json_object_size(root), 7);
    for (it = json_object_iter(root); it; it = json_object_iter_next(root, it))
        ck_assert_str_eq(json_object_iter_key(it), order[i++]);
    for (i = 0; i < 7; i++)
        ck_assert_ptr_nonnull(json_object_get(root, keys[i]));
    ck_assert_str_eq(json_string_value(json_object_get(root, "time")),
                     "1970-01-01T00:00:00.000001Z");
    json_decref(root);
    free(s);
}
END_TEST

START_TEST(time_format)
{
    char buf[SB_TIME_TEXT_SIZE];
    struct timespec ts = {1, 999999999};

    ck_assert_str_eq(sb_time_format(0, buf), "1970-01-01T00:00:00.000000Z");
    ck_assert_str_eq(sb_time_format(-1, buf), "1969-12-31T23:59:59.999999Z");
    ck_assert_str_eq(sb_time_format(T_EXAMPLE, buf),
                     "2026-11-22T10:15:30.123456Z");
    ck_assert_str_eq(sb_time_format(INT64_C(253402300799999999), buf),
                     "9999-12-31T23:59:59.999999Z");
    ck_assert_int_eq(strlen(sb_time_format(T_EXAMPLE, buf)), 27);
    ck_assert_int_eq(sb_time_us(&ts), 1999999);
    ts.tv_sec = 1795342530;
    ts.tv_nsec = 123456789;
    ck_assert_int_eq(sb_time_us(&ts), T_EXAMPLE);
}
END_TEST

/* --- limits --- */

START_TEST(depth_limit)
{
    /* data {} is depth 1, each nested object or array one more */
    char *ok = nested_request("{\"a\":", SB_DATA_DEPTH_MAX - 2, "{}", "}");
    char *deep = nested_request("{\"a\":", SB_DATA_DEPTH_MAX - 1, "{}", "}");
    char msg[SB_ERROR_MESSAGE_MAX];

    ck_assert_int_eq(parse(ok), SB_E_NONE);
    ck_assert_int_eq(parse_max(deep, 0, msg), SB_E_INVALID_DATA);
    ck_assert_str_eq(msg, "invalid data: nested deeper than 32 levels");
    free(ok);
    free(deep);
}
END_TEST

START_TEST(depth_limit_arrays)
{
    char *ok = nested_request("[", SB_DATA_DEPTH_MAX - 2, "[]", "]");
    char *deep = nested_request("[", SB_DATA_DEPTH_MAX - 1, "[]", "]");
    char *mixed_ok = nested_request("{\"b\":[", 15, "{}", "]}");
    char *mixed_deep = nested_request("{\"b\":[", 15, "{\"c\":[]}", "]}");

    ck_assert_int_eq(parse(ok), SB_E_NONE);
    ck_assert_int_eq(parse(deep), SB_E_INVALID_DATA);
    ck_assert_int_eq(parse(mixed_ok), SB_E_NONE);
    ck_assert_int_eq(parse(mixed_deep), SB_E_INVALID_DATA);
    free(ok);
    free(deep);
    free(mixed_ok);
    free(mixed_deep);
}
END_TEST

START_TEST(depth_beyond_parser)
{
    /* deeper than jansson's own parser limit: still invalid_data */
    char *s = nested_request("[", 5000, "[]", "]");

    ck_assert_int_eq(parse(s), SB_E_INVALID_DATA);
    free(s);
}
END_TEST

START_TEST(size_limit)
{
    char *at = sized_request(100, "message");
    char *over = sized_request(101, "message");
    char *def_at = sized_request(SB_DATA_MAX_DEFAULT, "message");
    char *def_over = sized_request(SB_DATA_MAX_DEFAULT + 1, "message");
    char msg[SB_ERROR_MESSAGE_MAX];

    ck_assert_int_eq(parse_max(at, 100, NULL), SB_E_NONE);
    ck_assert_int_eq(parse_max(over, 100, msg), SB_E_TOO_LARGE);
    ck_assert_str_eq(msg, "too large: data longer than 100 bytes");
    ck_assert_int_eq(parse_max(def_at, 0, NULL), SB_E_NONE);
    ck_assert_int_eq(parse_max(def_over, 0, NULL), SB_E_TOO_LARGE);
    ck_assert_int_eq(parse_max(def_over, SB_DATA_MAX_DEFAULT + 1, NULL),
                     SB_E_NONE);
    free(at);
    free(over);
    free(def_at);
    free(def_over);
}
END_TEST

START_TEST(size_limit_hard)
{
    char *at = sized_request(SB_DATA_MAX_HARD, "message");
    char *over = sized_request(SB_DATA_MAX_HARD + 1, "message");

    ck_assert_int_eq(parse_max(at, (size_t)-1, NULL), SB_E_NONE);
    ck_assert_int_eq(parse_max(over, (size_t)-1, NULL), SB_E_TOO_LARGE);
    free(at);
    free(over);
}
END_TEST

START_TEST(size_counts_escapes)
{
    /* "\n" is two bytes of compact text: 8 + 2 = 10 */
    const char *text = MSG("{\"k\":\"\\n\"}");

    ck_assert_int_eq(parse_max(text, 10, NULL), SB_E_NONE);
    ck_assert_int_eq(parse_max(text, 9, NULL), SB_E_TOO_LARGE);
}
END_TEST

START_TEST(type_limits)
{
    char t64[SB_TYPE_MAX + 2], part32[40], part33[40];
    struct sb_error err;

    memset(t64, 'a', 32);
    t64[32] = '.';
    memset(t64 + 33, 'b', 31);
    t64[64] = '\0';
    ck_assert_int_eq(sb_type_check(t64, 64, &err), SB_OK);
    strcat(t64, "b");
    ck_assert_int_eq(sb_type_check(t64, 65, &err), SB_ERR);
    ck_assert_int_eq(err.code, SB_E_INVALID_TYPE);
    ck_assert_str_eq(err.message, "invalid type: longer than 64 bytes");
    memset(part32, 'p', 32);
    part32[32] = '\0';
    ck_assert_int_eq(sb_type_check(part32, 32, &err), SB_OK);
    memset(part33, 'p', 33);
    part33[33] = '\0';
    ck_assert_int_eq(sb_type_check(part33, 33, &err), SB_ERR);
    ck_assert_str_eq(err.message, "invalid type: part longer than 32 bytes");
}
END_TEST

START_TEST(log_message_limit)
{
    char *at = sb_malloc(SB_LOG_MESSAGE_MAX + 128);
    char *over = sb_malloc(SB_LOG_MESSAGE_MAX + 128);
    char *m = sb_malloc(SB_LOG_MESSAGE_MAX + 2);
    char msg[SB_ERROR_MESSAGE_MAX];

    memset(m, 'm', SB_LOG_MESSAGE_MAX);
    m[SB_LOG_MESSAGE_MAX] = '\0';
    sprintf(at, LOG("{\"level\":\"info\",\"message\":\"%s\"}"), m);
    strcat(m, "m");
    sprintf(over, LOG("{\"level\":\"info\",\"message\":\"%s\"}"), m);
    ck_assert_int_eq(parse(at), SB_E_NONE);
    ck_assert_int_eq(parse_max(over, 0, msg), SB_E_INVALID_DATA);
    ck_assert_str_eq(msg, "invalid data: log message longer than 4096 bytes");
    free(at);
    free(over);
    free(m);
}
END_TEST

START_TEST(sender_limits)
{
    char s[SB_SENDER_MAX + 2];
    struct sb_error err;

    memset(s, 'u', sizeof(s));
    ck_assert_int_eq(sb_sender_check(s, SB_SENDER_MAX, &err), SB_OK);
    ck_assert_int_eq(sb_sender_check(s, SB_SENDER_MAX + 1, &err), SB_ERR);
    ck_assert_int_eq(err.code, SB_E_INVALID_SENDER);
    ck_assert_str_eq(err.message, "invalid sender: longer than 128 bytes");
    ck_assert_int_eq(sb_sender_check(s, 0, &err), SB_ERR);
    ck_assert_str_eq(err.message, "invalid sender: empty");
    ck_assert_int_eq(sb_sender_check(NULL, 0, &err), SB_ERR);
}
END_TEST

/* --- errors --- */

struct bad_input {
    const char *text;
    enum sb_errcode code;
};

static const struct bad_input bad_inputs[] = {
    /* not UTF-8: a bad byte, overlong, a surrogate, a cut sequence */
    {MSG("{\"t\":\"\xff\"}"), SB_E_INVALID_UTF8},
    {MSG("{\"t\":\"\xc0\xaf\"}"), SB_E_INVALID_UTF8},
    {MSG("{\"t\":\"\xed\xa0\x80\"}"), SB_E_INVALID_UTF8},
    {MSG("{\"t\":\"\xe2\x98\"}"), SB_E_INVALID_UTF8},
    {MSG("{\"\xfe\":1}"), SB_E_INVALID_UTF8},
    {"\xef\xbb\xbf{}", SB_E_INVALID_JSON}, /* a BOM is UTF-8, not JSON */
    /* not JSON */
    {"", SB_E_INVALID_JSON},
    {"{", SB_E_INVALID_JSON},
    {"nope", SB_E_INVALID_JSON},
    {"{\"channel\":}", SB_E_INVALID_JSON},
    {MSG("{}") " trailing", SB_E_INVALID_JSON},
    {MSG("{\"a\":1,\"a\":2}"), SB_E_INVALID_JSON},
    {"{\"channel\":\"chat:a\",\"channel\":\"chat:b\",\"type\":\"t\","
     "\"data\":{}}",
     SB_E_INVALID_JSON},
    /* not an object */
    {"[]", SB_E_BAD_REQUEST},
    {"\"chat:a\"", SB_E_BAD_REQUEST},
    {"42", SB_E_BAD_REQUEST},
    {"null", SB_E_BAD_REQUEST},
    /* unknown or missing keys */
    {"{\"channel\":\"chat:a\",\"type\":\"t\",\"data\":{},\"sender\":\"u:x\"}",
     SB_E_BAD_REQUEST},
    {"{\"channel\":\"chat:a\",\"type\":\"t\",\"data\":{},\"seq\":1}",
     SB_E_BAD_REQUEST},
    {"{\"Channel\":\"chat:a\",\"type\":\"t\",\"data\":{}}", SB_E_BAD_REQUEST},
    {"{\"type\":\"t\",\"data\":{}}", SB_E_BAD_REQUEST},
    {"{\"channel\":\"chat:a\",\"data\":{}}", SB_E_BAD_REQUEST},
    {"{\"channel\":\"chat:a\",\"type\":\"t\"}", SB_E_BAD_REQUEST},
    {"{}", SB_E_BAD_REQUEST},
    /* channel */
    {REQ("42", "\"t\"", "{}"), SB_E_INVALID_CHANNEL},
    {REQ("null", "\"t\"", "{}"), SB_E_INVALID_CHANNEL},
    {REQ("\"agent-42\"", "\"t\"", "{}"), SB_E_INVALID_CHANNEL},
    {REQ("\"\"", "\"t\"", "{}"), SB_E_INVALID_CHANNEL},
    {REQ("\"Chat:a\"", "\"t\"", "{}"), SB_E_INVALID_CHANNEL},
    {REQ("\"chat:a b\"", "\"t\"", "{}"), SB_E_INVALID_CHANNEL},
    {REQ("\"chat:a\\u0000b\"", "\"t\"", "{}"), SB_E_INVALID_CHANNEL},
    {REQ("\"chat:*\"", "\"t\"", "{}"), SB_E_INVALID_CHANNEL},
    /* type */
    {REQ("\"chat:a\"", "42", "{}"), SB_E_INVALID_TYPE},
    {REQ("\"chat:a\"", "\"\"", "{}"), SB_E_INVALID_TYPE},
    {REQ("\"chat:a\"", "\"Message\"", "{}"), SB_E_INVALID_TYPE},
    {REQ("\"chat:a\"", "\"1a\"", "{}"), SB_E_INVALID_TYPE},
    {REQ("\"chat:a\"", "\"a..b\"", "{}"), SB_E_INVALID_TYPE},
    {REQ("\"chat:a\"", "\"a.\"", "{}"), SB_E_INVALID_TYPE},
    {REQ("\"chat:a\"", "\".a\"", "{}"), SB_E_INVALID_TYPE},
    {REQ("\"chat:a\"", "\"a.1\"", "{}"), SB_E_INVALID_TYPE},
    {REQ("\"chat:a\"", "\"a-b\"", "{}"), SB_E_INVALID_TYPE},
    {REQ("\"chat:a\"", "\"a b\"", "{}"), SB_E_INVALID_TYPE},
    {REQ("\"chat:a\"", "\"a\\u0000\"", "{}"), SB_E_INVALID_TYPE},
    /* data */
    {MSG("[]"), SB_E_INVALID_DATA},
    {MSG("\"text\""), SB_E_INVALID_DATA},
    {MSG("1"), SB_E_INVALID_DATA},
    {MSG("null"), SB_E_INVALID_DATA},
    {MSG("true"), SB_E_INVALID_DATA},
    {MSG("{\"t\":\"a\\u0000\"}"), SB_E_INVALID_DATA},
    {MSG("{\"t\":[\"\\u0000\"]}"), SB_E_INVALID_DATA},
    {MSG("{\"\\u0000\":1}"), SB_E_INVALID_DATA},
    {MSG("{\"a\":{\"b\\u0000c\":1}}"), SB_E_INVALID_DATA},
    {MSG("{\"n\":99999999999999999999}"), SB_E_INVALID_DATA},
    /* log entries */
    {LOG("{\"message\":\"m\"}"), SB_E_INVALID_DATA},
    {LOG("{\"level\":\"debug\",\"message\":\"m\"}"), SB_E_INVALID_DATA},
    {LOG("{\"level\":\"INFO\",\"message\":\"m\"}"), SB_E_INVALID_DATA},
    {LOG("{\"level\":1,\"message\":\"m\"}"), SB_E_INVALID_DATA},
    {LOG("{\"level\":\"info\"}"), SB_E_INVALID_DATA},
    {LOG("{\"level\":\"info\",\"message\":\"\"}"), SB_E_INVALID_DATA},
    {LOG("{\"level\":\"info\",\"message\":42}"), SB_E_INVALID_DATA},
    {LOG("{\"level\":\"info\",\"message\":\"m\",\"metadata\":[]}"),
     SB_E_INVALID_DATA},
    {LOG("{\"level\":\"info\",\"message\":\"m\",\"metadata\":\"x\"}"),
     SB_E_INVALID_DATA},
    {LOG("{\"level\":\"info\",\"message\":\"m\",\"metadata\":null}"),
     SB_E_INVALID_DATA},
    {LOG("{\"level\":\"info\",\"message\":\"m\",\"source\":\"x\"}"),
     SB_E_INVALID_DATA},
    {LOG("[]"), SB_E_INVALID_DATA},
};

START_TEST(bad_input)
{
    const struct bad_input *b = &bad_inputs[_i];
    enum sb_errcode got = parse(b->text);

    ck_assert_msg(got == b->code, "input %d: got %s, want %s", _i,
                  sb_errcode_name(got), sb_errcode_name(b->code));
}
END_TEST

static const char *const bad_ids[] = {
    "x",
    "",
    "0b7c2f4e5d1a4c559a8e2f3c1d0e9b11",
    "{0b7c2f4e-5d1a-4c55-9a8e-2f3c1d0e9b11}",
    "0b7c2f4e-5d1a-4c55-9a8e-2f3c1d0e9b1",
    "0b7c2f4e-5d1a-4c55-9a8e-2f3c1d0e9b111",
    "0b7c2f4g-5d1a-4c55-9a8e-2f3c1d0e9b11",
    "0b7c2f4-e5d1a-4c55-9a8e-2f3c1d0e9b11",
    "0b7c2f4e_5d1a_4c55_9a8e_2f3c1d0e9b11",
    "urn:uuid:0b7c2f4e-5d1a-4c55-9a8e-2f3c1d0e9b11",
    " 0b7c2f4e-5d1a-4c55-9a8e-2f3c1d0e9b1",
    "0b7c2f4e-5d1a-4c55-9a8e-2f3c1d0e9b1 ",
    "+b7c2f4e-5d1a-4c55-9a8e-2f3c1d0e9b11",
};

START_TEST(bad_id)
{
    char text[256];
    char out[SB_UUID_TEXT_LEN + 1];
    struct sb_error err;

    snprintf(text, sizeof(text),
             "{\"channel\":\"chat:a\",\"type\":\"t\",\"data\":{},"
             "\"id\":\"%s\"}",
             bad_ids[_i]);
    ck_assert_int_eq(parse(text), SB_E_INVALID_ID);
    ck_assert_int_eq(sb_id_check(bad_ids[_i], out, &err), SB_ERR);
    ck_assert_int_eq(err.code, SB_E_INVALID_ID);
}
END_TEST

START_TEST(bad_id_types)
{
    ck_assert_int_eq(parse("{\"channel\":\"chat:a\",\"type\":\"t\","
                           "\"data\":{},\"id\":42}"),
                     SB_E_INVALID_ID);
    ck_assert_int_eq(parse("{\"channel\":\"chat:a\",\"type\":\"t\","
                           "\"data\":{},\"id\":{}}"),
                     SB_E_INVALID_ID);
    ck_assert_int_eq(
        parse("{\"channel\":\"chat:a\",\"type\":\"t\",\"data\":{},"
              "\"id\":\"0b7c2f4e-5d1a-4c55-9a8e-2f3c1d0e9b1\\u0000\"}"),
        SB_E_INVALID_ID);
}
END_TEST

START_TEST(error_messages)
{
    char msg[SB_ERROR_MESSAGE_MAX];

    parse_max("{\"channel\":\"chat:a\",\"type\":\"t\",\"data\":{},"
              "\"sender\":\"u:x\"}",
              0, msg);
    ck_assert_str_eq(msg, "bad request: unknown key \"sender\"");
    parse_max("{\"channel\":\"chat:a\",\"data\":{}}", 0, msg);
    ck_assert_str_eq(msg, "bad request: missing \"type\"");
    parse_max(REQ("\"agent-42\"", "\"t\"", "{}"), 0, msg);
    ck_assert_str_eq(msg, "invalid channel: missing namespace");
    parse_max(MSG("[]"), 0, msg);
    ck_assert_str_eq(msg, "invalid data: not a JSON object");
    parse_max(MSG("{\"t\":\"a\\u0000\"}"), 0, msg);
    ck_assert_str_eq(msg, "invalid data: contains \\u0000");
    parse_max(LOG("{\"level\":\"debug\",\"message\":\"m\"}"), 0, msg);
    ck_assert_str_eq(
        msg, "invalid data: log level must be info, success, warning or error");
    parse_max(LOG("{\"level\":\"info\",\"message\":\"m\",\"x\":1}"), 0, msg);
    ck_assert_str_eq(msg, "invalid data: unknown key \"x\" in log entry");
    parse_max(REQ("\"chat:a\"", "\"a-b\"", "{}"), 0, msg);
    ck_assert_str_eq(msg, "invalid type: bad character at byte 2");
    parse_max(MSG("{\"t\":\"\xff\"}"), 0, msg);
    ck_assert_str_eq(msg, "invalid utf-8: bad byte at offset 50");
}
END_TEST

struct bad_sender {
    const char *s;
    size_t len;
};

static const struct bad_sender bad_senders[] = {
    {"a\x01", 2},
    {"a\n", 2},
    {"a\x7f", 2},
    {"a\xc2\x85", 3},        /* U+0085, a C1 control */
    {"a\xc2\x9f", 3},        /* U+009F */
    {"a\0b", 3},             /* NUL */
    {"\xff", 1},             /* not UTF-8 */
    {"\xc0\x80", 2},         /* overlong NUL */
    {"\xe0\x80\xaf", 3},     /* overlong '/' */
    {"\xed\xa0\x80", 3},     /* surrogate */
    {"\xe2\x98", 2},         /* cut */
    {"\xf4\x90\x80\x80", 4}, /* above U+10FFFF */
    {"\xf8\x88\x80\x80\x80", 5},
    {"\x80", 1},
};

START_TEST(sender_invalid)
{
    const struct bad_sender *b = &bad_senders[_i];
    struct sb_error err;

    ck_assert_int_eq(sb_sender_check(b->s, b->len, &err), SB_ERR);
    ck_assert_int_eq(err.code, SB_E_INVALID_SENDER);
}
END_TEST

START_TEST(sender_messages)
{
    struct sb_error err;

    sb_sender_check("ab\x01", 3, &err);
    ck_assert_str_eq(err.message, "invalid sender: control character at "
                                  "byte 3");
    sb_sender_check("a\xff", 2, &err);
    ck_assert_str_eq(err.message, "invalid sender: not UTF-8 at byte 2");
}
END_TEST

START_TEST(data_check_direct)
{
    json_t *data = json_object();
    json_t *log = json_pack("{s:s,s:s}", "level", "info", "message", "m");
    struct sb_error err;
    char *text = (char *)&text;
    size_t len = 0;

    json_object_set_new(data, "k", json_stringn("a\0b", 3));
    ck_assert_int_eq(sb_data_check(data, "message", 0, &text, &len, &err),
                     SB_ERR);
    ck_assert_ptr_null(text);
    ck_assert_int_eq(err.code, SB_E_INVALID_DATA);
    ck_assert_int_eq(sb_data_check(log, "log", 0, &text, &len, &err), SB_OK);
    ck_assert_str_eq(text, "{\"level\":\"info\",\"message\":\"m\"}");
    ck_assert_int_eq(len, strlen(text));
    free(text);
    ck_assert_int_eq(sb_data_check(log, NULL, 0, NULL, NULL, &err), SB_OK);
    ck_assert_int_eq(sb_data_check(NULL, "t", 0, NULL, NULL, &err), SB_ERR);
    ck_assert_int_eq(err.code, SB_E_INVALID_DATA);
    json_decref(data);
    json_decref(log);
}
END_TEST

/* --- batches --- */

static char *
batch_of(size_t n, size_t bad_at)
{
    char *s = sb_malloc(n * 80 + 8);
    size_t i;

    strcpy(s, "[");
    for (i = 0; i < n; i++) {
        strcat(s, i ? "," : "");
        strcat(s, i == bad_at ? REQ("\"agent-42\"", "\"t\"", "{}")
                              : MSG("{\"n\":1}"));
    }
    strcat(s, "]");
    return s;
}

START_TEST(batch_valid)
{
    const char *text = "[" MSG("{\"n\":1}") "," REQ(
        "\"activity:main\"", "\"log\"",
        "{\"level\":\"info\",\"message\":\"m\"}") "]";
    struct sb_event_batch *b;
    struct sb_error err;
    size_t bad = 0;

    ck_assert_int_eq(
        sb_event_batch_parse(text, strlen(text), 0, &b, &bad, &err), SB_OK);
    ck_assert_int_eq(bad, SB_BATCH_NO_INDEX);
    ck_assert_int_eq(b->count, 2);
    ck_assert_str_eq(b->events[0]->channel, "chat:a");
    ck_assert_str_eq(b->events[1]->type, "log");
    sb_event_batch_free(b);
    sb_event_batch_free(NULL);
}
END_TEST

START_TEST(batch_bad_element)
{
    char *text = batch_of(5, 3);
    struct sb_event_batch *b = (struct sb_event_batch *)&b;
    struct sb_error err;
    size_t bad = 0;

    ck_assert_int_eq(
        sb_event_batch_parse(text, strlen(text), 0, &b, &bad, &err), SB_ERR);
    ck_assert_ptr_null(b);
    ck_assert_int_eq(bad, 3);
    ck_assert_int_eq(err.code, SB_E_INVALID_CHANNEL);
    ck_assert_str_eq(err.message,
                     "event 3: invalid channel: missing namespace");
    free(text);
}
END_TEST

START_TEST(batch_first_bad_wins)
{
    const char *text = "[" MSG("{}") ",42," MSG("[]") "]";
    struct sb_event_batch *b;
    struct sb_error err;
    size_t bad = 0;

    ck_assert_int_eq(
        sb_event_batch_parse(text, strlen(text), 0, &b, &bad, &err), SB_ERR);
    ck_assert_int_eq(bad, 1);
    ck_assert_int_eq(err.code, SB_E_BAD_REQUEST);
}
END_TEST

START_TEST(batch_limits)
{
    char *full = batch_of(SB_BATCH_MAX, SB_BATCH_MAX);
    char *over = batch_of(SB_BATCH_MAX + 1, SB_BATCH_MAX + 1);
    struct sb_event_batch *b;
    struct sb_error err;
    size_t bad = 0;

    ck_assert_int_eq(
        sb_event_batch_parse(full, strlen(full), 0, &b, &bad, &err), SB_OK);
    ck_assert_int_eq(b->count, SB_BATCH_MAX);
    sb_event_batch_free(b);
    ck_assert_int_eq(
        sb_event_batch_parse(over, strlen(over), 0, &b, &bad, &err), SB_ERR);
    ck_assert_int_eq(err.code, SB_E_TOO_LARGE);
    ck_assert_int_eq(bad, SB_BATCH_NO_INDEX);
    free(full);
    free(over);
}
END_TEST

struct bad_batch {
    const char *text;
    enum sb_errcode code;
};

static const struct bad_batch bad_batches[] = {
    {"[]", SB_E_BAD_REQUEST},          {MSG("{}"), SB_E_BAD_REQUEST},
    {"42", SB_E_BAD_REQUEST},          {"[", SB_E_INVALID_JSON},
    {"[\"\xff\"]", SB_E_INVALID_UTF8},
};

START_TEST(batch_whole_errors)
{
    const struct bad_batch *c = &bad_batches[_i];
    struct sb_event_batch *b;
    struct sb_error err;
    size_t bad = 0;

    ck_assert_int_eq(
        sb_event_batch_parse(c->text, strlen(c->text), 0, &b, &bad, &err),
        SB_ERR);
    ck_assert_int_eq(err.code, c->code);
    ck_assert_int_eq(bad, SB_BATCH_NO_INDEX);
    ck_assert_ptr_null(b);
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *
envelope_suite(void)
{
    Suite *s = suite_create("envelope");
    TCase *core = tcase_create("core");
    TCase *limits = tcase_create("limits");
    TCase *errors = tcase_create("errors");

    tcase_add_test(core, parse_message);
    tcase_add_test(core, parse_id_lowered);
    tcase_add_test(core, parse_from_json);
    tcase_add_test(core, data_serialization);
    tcase_add_test(core, parse_log);
    tcase_add_test(core, types_valid);
    tcase_add_test(core, sender_valid);
    tcase_add_test(core, id_check);
    tcase_add_test(core, encode_example);
    tcase_add_test(core, encode_ephemeral_and_escapes);
    tcase_add_test(core, encode_all_escapes);
    tcase_add_test(core, encode_from_json);
    tcase_add_test(core, encode_parses_back_in_order);
    tcase_add_test(core, time_format);
    tcase_add_test(core, batch_valid);
    tcase_add_test(limits, depth_limit);
    tcase_add_test(limits, depth_limit_arrays);
    tcase_add_test(limits, depth_beyond_parser);
    tcase_add_test(limits, size_limit);
    tcase_add_test(limits, size_limit_hard);
    tcase_add_test(limits, size_counts_escapes);
    tcase_add_test(limits, type_limits);
    tcase_add_test(limits, log_message_limit);
    tcase_add_test(limits, sender_limits);
    tcase_add_test(limits, batch_limits);
    tcase_add_loop_test(errors, bad_input, 0, N(bad_inputs));
    tcase_add_loop_test(errors, bad_id, 0, N(bad_ids));
    tcase_add_test(errors, bad_id_types);
    tcase_add_test(errors, error_messages);
    tcase_add_loop_test(errors, sender_invalid, 0, N(bad_senders));
    tcase_add_test(errors, sender_messages);
    tcase_add_test(errors, data_check_direct);
    tcase_add_test(errors, batch_bad_element);
    tcase_add_test(errors, batch_first_bad_wins);
    tcase_add_loop_test(errors, batch_whole_errors, 0, N(bad_batches));
    suite_add_tcase(s, core);
    suite_add_tcase(s, limits);
    suite_add_tcase(s, errors);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(envelope_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
