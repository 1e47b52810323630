/*
 * envelope.c: parsing and validation of publish requests, and the encoder of
 * the event envelope. Data is validated and serialized in one walk (depth,
 * U+0000 and size are checked as the compact text grows, so oversized or
 * hostile data is rejected early). The encoder builds the envelope with a
 * small string builder and splices the data text verbatim, so fan-out pays
 * for one allocation and one copy per event.
 */
#include "envelope.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uuid/uuid.h>

#include "channel.h"
#include "limits.h"
#include "strbuf.h"
#include "xalloc.h"

/* --- data: validate and serialize in one walk --- */

struct walk {
    struct sb_strbuf *out;
    size_t max; /* SIZE_MAX when trusted */
    bool check; /* depth and U+0000 rules apply */
    struct sb_error *err;
};

static int put_value(struct walk *w, json_t *v, int depth);

static size_t
key_len(const char *key)
{
#if JANSSON_VERSION_HEX >= 0x020e00
    return json_object_iter_key_len(json_object_key_to_iter(key));
#else
    return strlen(key); /* before 2.14 keys cannot hold U+0000 */
#endif
}

static int
put_string(struct walk *w, const char *s, size_t n)
{
    if (w->check && memchr(s, '\0', n) != NULL)
        return sb_error_set(w->err, SB_E_INVALID_DATA,
                            "invalid data: contains \\u0000");
    sb_strbuf_quote(w->out, s, n);
    return SB_OK;
}

static int
put_object(struct walk *w, json_t *obj, int depth)
{
    const char *key;
    json_t *val;
    bool first = true;

    sb_strbuf_putc(w->out, '{');
    json_object_foreach(obj, key, val)
    {
        if (!first)
            sb_strbuf_putc(w->out, ',');
        first = false;
        if (put_string(w, key, key_len(key)) != SB_OK)
            return SB_ERR;
        sb_strbuf_putc(w->out, ':');
        if (put_value(w, val, depth) != SB_OK)
            return SB_ERR;
    }
    sb_strbuf_putc(w->out, '}');
    return SB_OK;
}

static int
put_array(struct walk *w, json_t *arr, int depth)
{
    size_t i;
    json_t *val;

    sb_strbuf_putc(w->out, '[');
    json_array_foreach(arr, i, val)
    {
        if (i > 0)
            sb_strbuf_putc(w->out, ',');
        if (put_value(w, val, depth) != SB_OK)
            return SB_ERR;
    }
    sb_strbuf_putc(w->out, ']');
    return SB_OK;
}

/* The shortest %g form that reads back as the same double (jansson's own
 * dump always prints 17 digits, turning 0.1 into 0.10000000000000001).
 * The daemons run in the C locale, so the decimal point is '.'. */
static void
put_real(struct sb_strbuf *b, double d)
{
    char tmp[40];
    int prec;

    for (prec = 15; prec < 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    if (prec == 17)
        snprintf(tmp, sizeof(tmp), "%.17g", d);
    if (strpbrk(tmp, ".e") == NULL)
        strcat(tmp, ".0"); /* stays a real, as jansson prints it */
    sb_strbuf_puts(b, tmp);
}

static void
put_scalar(struct sb_strbuf *b, json_t *v)
{
    char tmp[24];

    switch (json_typeof(v)) {
    case JSON_INTEGER:
        snprintf(tmp, sizeof(tmp), "%" JSON_INTEGER_FORMAT,
                 json_integer_value(v));
        sb_strbuf_puts(b, tmp);
        break;
    case JSON_REAL:
        put_real(b, json_real_value(v));
        break;
    case JSON_TRUE:
        sb_strbuf_puts(b, "true");
        break;
    case JSON_FALSE:
        sb_strbuf_puts(b, "false");
        break;
    default:
        sb_strbuf_puts(b, "null");
        break;
    }
}

static int
put_value(struct walk *w, json_t *v, int depth)
{
    int rc = SB_OK;

    if (json_is_object(v) || json_is_array(v)) {
        if (w->check && depth + 1 > SB_DATA_DEPTH_MAX)
            return sb_error_set(w->err, SB_E_INVALID_DATA,
                                "invalid data: nested deeper than %d levels",
                                SB_DATA_DEPTH_MAX);
        rc = json_is_object(v) ? put_object(w, v, depth + 1)
                               : put_array(w, v, depth + 1);
    } else if (json_is_string(v)) {
        rc = put_string(w, json_string_value(v), json_string_length(v));
    } else {
        put_scalar(w->out, v);
    }
    if (rc == SB_OK && w->out->len > w->max)
        return sb_error_set(w->err, SB_E_TOO_LARGE,
                            "too large: data longer than %zu bytes", w->max);
    return rc;
}

/* --- activity log entries --- */

static bool
log_level_valid(const json_t *level)
{
    static const char *const levels[] = {"info", "success", "warning", "error"};
    size_t i;

    if (!json_is_string(level))
        return false;
    for (i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
        if (strcmp(json_string_value(level), levels[i]) == 0)
            return true;
    }
    return false;
}

static int
log_bad(struct sb_error *err, const char *what)
{
    return sb_error_set(err, SB_E_INVALID_DATA, "invalid data: %s", what);
}

static int
check_log_message(const json_t *msg, struct sb_error *err)
{
    if (msg == NULL)
        return log_bad(err, "log entry needs a message");
    if (!json_is_string(msg))
        return log_bad(err, "log message must be a string");
    if (json_string_length(msg) == 0)
        return log_bad(err, "log message is empty");
    if (json_string_length(msg) > SB_LOG_MESSAGE_MAX)
        return log_bad(err, "log message longer than 4096 bytes");
    return SB_OK;
}

static int
check_log(json_t *data, struct sb_error *err)
{
    const char *key;
    json_t *val, *meta;

    json_object_foreach(data, key, val)
    {
        if (strcmp(key, "level") != 0 && strcmp(key, "message") != 0 &&
            strcmp(key, "metadata") != 0)
            return sb_error_set(err, SB_E_INVALID_DATA,
                                "invalid data: unknown key \"%s\" in log "
                                "entry",
                                key);
    }
    if (!log_level_valid(json_object_get(data, "level")))
        return log_bad(err, "log level must be info, success, warning or "
                            "error");
    if (check_log_message(json_object_get(data, "message"), err) != SB_OK)
        return SB_ERR;
    meta = json_object_get(data, "metadata");
    if (meta != NULL && !json_is_object(meta))
        return log_bad(err, "log metadata must be an object");
    return SB_OK;
}

static size_t
data_max(size_t max_data_bytes)
{
    if (max_data_bytes == 0)
        return SB_DATA_MAX_DEFAULT;
    if (max_data_bytes > SB_DATA_MAX_HARD)
        return SB_DATA_MAX_HARD;
    return max_data_bytes;
}

int
sb_data_check(json_t *data, const char *type, size_t max_data_bytes,
              char **text, size_t *text_len, struct sb_error *err)
{
    struct sb_strbuf b = {NULL, 0, 0};
    struct walk w = {&b, data_max(max_data_bytes), true, err};
    int rc = SB_ERR;

    if (text != NULL)
        *text = NULL;
    if (!json_is_object(data))
        return sb_error_set(err, SB_E_INVALID_DATA,
                            "invalid data: not a JSON object");
    sb_strbuf_reserve(&b, 256);
    if (put_value(&w, data, 0) != SB_OK)
        goto out;
    if (type != NULL && strcmp(type, "log") == 0 &&
        check_log(data, err) != SB_OK)
        goto out;
    rc = SB_OK;
    if (text_len != NULL)
        *text_len = b.len;
    if (text != NULL) {
        *text = b.data;
        b.data = NULL;
    }
out:
    free(b.data);
    return rc;
}

/* --- field rules --- */

static int
type_bad(struct sb_error *err, const char *what)
{
    return sb_error_set(err, SB_E_INVALID_TYPE, "invalid type: %s", what);
}

/* Bytes of s[0..len) that form one type part, [a-z][a-z0-9_]*. */
static size_t
type_part_len(const char *s, size_t len)
{
    size_t i;

    if (len == 0 || s[0] < 'a' || s[0] > 'z')
        return 0;
    for (i = 1; i < len; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '_'))
            break;
    }
    return i;
}

int
sb_type_check(const char *type, size_t len, struct sb_error *err)
{
    size_t i = 0, part;

    if (type == NULL || len == 0)
        return type_bad(err, "empty");
    if (len > SB_TYPE_MAX)
        return type_bad(err, "longer than 64 bytes");
    for (;;) {
        part = type_part_len(type + i, len - i);
        if (part == 0)
            return type_bad(err, "each part must start with a lower-case "
                                 "letter");
        if (part > 32)
            return type_bad(err, "part longer than 32 bytes");
        i += part;
        if (i == len)
            return SB_OK;
        if (type[i++] != '.')
            return sb_error_set(err, SB_E_INVALID_TYPE,
                                "invalid type: bad character at byte %zu", i);
    }
}

static bool
uuid_shape_valid(const char *s, size_t len)
{
    size_t i;

    if (len != SB_UUID_TEXT_LEN)
        return false;
    for (i = 0; i < len; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;

        if (dash ? s[i] != '-'
                 : !((s[i] >= '0' && s[i] <= '9') ||
                     (s[i] >= 'a' && s[i] <= 'f') ||
                     (s[i] >= 'A' && s[i] <= 'F')))
            return false;
    }
    return true;
}

static int
id_check_len(const char *id, size_t len, char out[SB_UUID_TEXT_LEN + 1],
             struct sb_error *err)
{
    uuid_t u;

    if (id == NULL || !uuid_shape_valid(id, len) || uuid_parse(id, u) != 0)
        return sb_error_set(err, SB_E_INVALID_ID,
                            "invalid id: not a UUID "
                            "(xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)");
    if (out != NULL)
        uuid_unparse_lower(u, out);
    return SB_OK;
}

int
sb_id_check(const char *id, char out[SB_UUID_TEXT_LEN + 1],
            struct sb_error *err)
{
    return id_check_len(id, id ? strlen(id) : 0, out, err);
}

/* Length of the well-formed UTF-8 sequence at s[0..len) (shortest form, no
 * surrogates, at most U+10FFFF) and its code point; 0 when ill-formed. */
static size_t
utf8_next(const unsigned char *s, size_t len, uint32_t *cp)
{
    size_t n, i;
    unsigned char lo, hi;

    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if (s[0] < 0xC2 || s[0] > 0xF4)
        return 0;
    n = s[0] < 0xE0 ? 2 : s[0] < 0xF0 ? 3 : 4;
    lo = s[0] == 0xE0 ? 0xA0 : s[0] == 0xF0 ? 0x90 : 0x80;
    hi = s[0] == 0xED ? 0x9F : s[0] == 0xF4 ? 0x8F : 0xBF;
    if (len < n || s[1] < lo || s[1] > hi)
        return 0;
    *cp = s[0] & (0xFF >> (n + 1));
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        *cp = (*cp << 6) | (s[i] & 0x3F);
    }
    return n;
}

int
sb_sender_check(const char *sender, size_t len, struct sb_error *err)
{
    const unsigned char *s = (const unsigned char *)sender;
    size_t i, n;
    uint32_t cp;

    if (sender == NULL || len == 0)
        return sb_error_set(err, SB_E_INVALID_SENDER, "invalid sender: empty");
    if (len > SB_SENDER_MAX)
        return sb_error_set(err, SB_E_INVALID_SENDER,
                            "invalid sender: longer than %d bytes",
                            SB_SENDER_MAX);
    for (i = 0; i < len; i += n) {
        n = utf8_next(s + i, len - i, &cp);
        if (n == 0)
            return sb_error_set(err, SB_E_INVALID_SENDER,
                                "invalid sender: not UTF-8 at byte %zu", i + 1);
        if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F))
            return sb_error_set(err, SB_E_INVALID_SENDER,
                                "invalid sender: control character at byte "
                                "%zu",
                                i + 1);
    }
    return SB_OK;
}

/* --- events --- */

struct sb_event *
sb_event_new(void)
{
    return sb_calloc(1, sizeof(struct sb_event));
}

void
sb_event_free(struct sb_event *ev)
{
    if (ev == NULL)
        return;
    free(ev->channel);
    free(ev->type);
    json_decref(ev->data);
    free(ev->data_text);
    free(ev);
}

static int
load_error(const json_error_t *je, struct sb_error *err)
{
    switch (json_error_code(je)) {
    case json_error_invalid_utf8:
        return sb_error_set(err, SB_E_INVALID_UTF8,
                            "invalid utf-8: bad byte at offset %d",
                            je->position);
    case json_error_null_byte_in_key:
        return sb_error_set(err, SB_E_INVALID_DATA,
                            "invalid data: contains \\u0000");
    case json_error_stack_overflow:
        return sb_error_set(err, SB_E_INVALID_DATA,
                            "invalid data: nested deeper than %d levels",
                            SB_DATA_DEPTH_MAX);
    case json_error_numeric_overflow:
        return sb_error_set(err, SB_E_INVALID_DATA,
                            "invalid data: number out of range");
    case json_error_duplicate_key:
        return sb_error_set(err, SB_E_INVALID_JSON,
                            "invalid json: duplicate object key at offset %d",
                            je->position);
    default:
        return sb_error_set(err, SB_E_INVALID_JSON, "invalid json: %s",
                            je->text);
    }
}

/* Parse text; NULL and err set on failure. U+0000 is let through the
 * parser so the walk can say which field holds it. */
static json_t *
load(const char *text, size_t len, struct sb_error *err)
{
    json_error_t je;
    json_t *root;

    root = json_loadb(text, len,
                      JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY,
                      &je);
    if (root == NULL)
        load_error(&je, err);
    return root;
}

static int
check_keys(json_t *obj, struct sb_error *err)
{
    static const char *const known[] = {"channel", "type", "data", "id"};
    const char *key;
    json_t *val;
    size_t i;

    json_object_foreach(obj, key, val)
    {
        for (i = 0; i < 4 && strcmp(key, known[i]) != 0; i++)
            ;
        if (i == 4)
            return sb_error_set(err, SB_E_BAD_REQUEST,
                                "bad request: unknown key \"%s\"", key);
    }
    for (i = 0; i < 3; i++) {
        if (json_object_get(obj, known[i]) == NULL)
            return sb_error_set(err, SB_E_BAD_REQUEST,
                                "bad request: missing \"%s\"", known[i]);
    }
    return SB_OK;
}

static int
take_channel(const json_t *v, struct sb_event *ev, struct sb_error *err)
{
    if (!json_is_string(v))
        return sb_error_set(err, SB_E_INVALID_CHANNEL,
                            "invalid channel: not a string");
    if (strlen(json_string_value(v)) != json_string_length(v))
        return sb_error_set(err, SB_E_INVALID_CHANNEL,
                            "invalid channel: contains \\u0000");
    if (sb_channel_check(json_string_value(v), err) != SB_OK)
        return SB_ERR;
    ev->channel = sb_strdup(json_string_value(v));
    return SB_OK;
}

static int
take_type(const json_t *v, struct sb_event *ev, struct sb_error *err)
{
    if (!json_is_string(v))
        return type_bad(err, "not a string");
    if (sb_type_check(json_string_value(v), json_string_length(v), err) !=
        SB_OK)
        return SB_ERR;
    ev->type = sb_strdup(json_string_value(v));
    return SB_OK;
}

/* An absent or null id leaves ev->id empty: the database generates one. */
static int
take_id(const json_t *v, struct sb_event *ev, struct sb_error *err)
{
    if (v == NULL || json_is_null(v))
        return SB_OK;
    if (!json_is_string(v))
        return sb_error_set(err, SB_E_INVALID_ID, "invalid id: not a string");
    return id_check_len(json_string_value(v), json_string_length(v), ev->id,
                        err);
}

static int
take_data(json_t *v, size_t max, struct sb_event *ev, struct sb_error *err)
{
    if (sb_data_check(v, ev->type, max, &ev->data_text, &ev->data_len, err) !=
        SB_OK)
        return SB_ERR;
    ev->data = json_incref(v);
    return SB_OK;
}

int
sb_event_from_json(json_t *obj, size_t max_data_bytes, struct sb_event **out,
                   struct sb_error *err)
{
    struct sb_event *ev = NULL;

    *out = NULL;
    if (!json_is_object(obj))
        return sb_error_set(err, SB_E_BAD_REQUEST,
                            "bad request: not a JSON object");
    if (check_keys(obj, err) != SB_OK)
        return SB_ERR;
    ev = sb_event_new();
    if (take_channel(json_object_get(obj, "channel"), ev, err) != SB_OK ||
        take_type(json_object_get(obj, "type"), ev, err) != SB_OK ||
        take_id(json_object_get(obj, "id"), ev, err) != SB_OK ||
        take_data(json_object_get(obj, "data"), max_data_bytes, ev, err) !=
            SB_OK)
        goto fail;
    *out = ev;
    return SB_OK;
fail:
    sb_event_free(ev);
    return SB_ERR;
}

int
sb_event_parse(const char *text, size_t len, size_t max_data_bytes,
               struct sb_event **out, struct sb_error *err)
{
    json_t *root;
    int rc;

    *out = NULL;
    root = load(text, len, err);
    if (root == NULL)
        return SB_ERR;
    rc = sb_event_from_json(root, max_data_bytes, out, err);
    json_decref(root);
    return rc;
}

/* --- batches --- */

struct sb_event_batch *
sb_event_batch_new(void)
{
    return sb_calloc(1, sizeof(struct sb_event_batch));
}

void
sb_event_batch_free(struct sb_event_batch *b)
{
    size_t i;

    if (b == NULL)
        return;
    for (i = 0; i < b->count; i++)
        sb_event_free(b->events[i]);
    free(b->events);
    free(b);
}

static int
batch_shape(json_t *array, struct sb_error *err)
{
    if (!json_is_array(array))
        return sb_error_set(err, SB_E_BAD_REQUEST,
                            "bad request: batch is not a JSON array");
    if (json_array_size(array) == 0)
        return sb_error_set(err, SB_E_BAD_REQUEST, "bad request: empty batch");
    if (json_array_size(array) > SB_BATCH_MAX)
        return sb_error_set(err, SB_E_TOO_LARGE,
                            "too large: batch of more than %d events",
                            SB_BATCH_MAX);
    return SB_OK;
}

int
sb_event_batch_from_json(json_t *array, size_t max_data_bytes,
                         struct sb_event_batch **out, size_t *bad_index,
                         struct sb_error *err)
{
    struct sb_event_batch *b;
    struct sb_error e;
    size_t i, n = json_array_size(array);

    *out = NULL;
    if (bad_index != NULL)
        *bad_index = SB_BATCH_NO_INDEX;
    if (batch_shape(array, err) != SB_OK)
        return SB_ERR;
    b = sb_event_batch_new();
    b->events = sb_calloc(n, sizeof(*b->events));
    for (i = 0; i < n; i++, b->count++) {
        if (sb_event_from_json(json_array_get(array, i), max_data_bytes,
                               &b->events[i], &e) != SB_OK)
            goto fail;
    }
    *out = b;
    return SB_OK;
fail:
    if (bad_index != NULL)
        *bad_index = i;
    sb_event_batch_free(b);
    return sb_error_set(err, e.code, "event %zu: %s", i, e.message);
}

int
sb_event_batch_parse(const char *text, size_t len, size_t max_data_bytes,
                     struct sb_event_batch **out, size_t *bad_index,
                     struct sb_error *err)
{
    json_t *root;
    int rc;

    *out = NULL;
    if (bad_index != NULL)
        *bad_index = SB_BATCH_NO_INDEX;
    root = load(text, len, err);
    if (root == NULL)
        return SB_ERR;
    rc = sb_event_batch_from_json(root, max_data_bytes, out, bad_index, err);
    json_decref(root);
    return rc;
}

/* --- encoding --- */

int64_t
sb_time_us(const struct timespec *ts)
{
    return (int64_t)ts->tv_sec * 1000000 + ts->tv_nsec / 1000;
}

char *
sb_time_format(int64_t time_us, char out[SB_TIME_TEXT_SIZE])
{
    int64_t us = time_us % 1000000;
    time_t secs = (time_t)(time_us / 1000000);
    struct tm tm;
    int year;

    if (us < 0) { /* floor, so times before 1970 print forwards */
        us += 1000000;
        secs -= 1;
    }
    if (gmtime_r(&secs, &tm) == NULL)
        memset(&tm, 0, sizeof(tm));
    year = tm.tm_year + 1900;
    year = year < 0 ? 0 : year > 9999 ? 9999 : year;
    /* The unsigned remainders only tell the compiler each field's width. */
    snprintf(out, SB_TIME_TEXT_SIZE, "%04u-%02u-%02uT%02u:%02u:%02u.%06uZ",
             (unsigned)year % 10000u, (unsigned)(tm.tm_mon + 1) % 100u,
             (unsigned)tm.tm_mday % 100u, (unsigned)tm.tm_hour % 100u,
             (unsigned)tm.tm_min % 100u, (unsigned)tm.tm_sec % 100u,
             (unsigned)us % 1000000u);
    return out;
}

static void
put_field(struct sb_strbuf *b, const char *key, const char *value)
{
    sb_strbuf_puts(b, key);
    sb_strbuf_quote(b, value, strlen(value));
}

static void
put_data(struct sb_strbuf *b, const struct sb_envelope *env)
{
    struct walk w = {b, SIZE_MAX, false, NULL};
    int rc = SB_OK;

    if (env->data_json != NULL)
        rc = put_value(&w, env->data_json, 0);
    else
        sb_strbuf_put(b, env->data, env->data_len);
    SB_ASSERT(rc == SB_OK); /* an unchecked walk cannot fail */
}

char *
sb_event_encode(const struct sb_envelope *env, size_t *len)
{
    struct sb_strbuf b = {NULL, 0, 0};
    char tmp[SB_TIME_TEXT_SIZE];

    SB_ASSERT(env->channel && env->id && env->type && env->sender);
    SB_ASSERT(env->data_json != NULL || env->data != NULL);
    sb_strbuf_reserve(&b, 160 + strlen(env->channel) + strlen(env->sender) +
                      strlen(env->type) + env->data_len);
    put_field(&b, "{\"channel\":", env->channel);
    if (env->seq < 0) {
        sb_strbuf_puts(&b, ",\"seq\":null");
    } else {
        snprintf(tmp, sizeof(tmp), ",\"seq\":%" PRId64, env->seq);
        sb_strbuf_puts(&b, tmp);
    }
    put_field(&b, ",\"id\":", env->id);
    put_field(&b, ",\"type\":", env->type);
    put_field(&b, ",\"sender\":", env->sender);
    put_field(&b, ",\"time\":", sb_time_format(env->time_us, tmp));
    sb_strbuf_puts(&b, ",\"data\":");
    put_data(&b, env);
    sb_strbuf_putc(&b, '}');
    if (len != NULL)
        *len = b.len;
    return b.data;
}
