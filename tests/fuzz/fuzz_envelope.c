/*
 * fuzz_envelope.c: sb_event_parse() on arbitrary bytes under several
 * max_data_bytes. An event accepted under the hard limit must be accepted
 * under a smaller limit exactly when its data fits (and rejected as
 * too_large otherwise) with the same data text; its fields must pass their
 * own checks again; the request rebuilt from the event must parse back to
 * the same event; and sb_event_encode() must print the same valid JSON
 * from data_json as from data_text. The input is also tried as a sender.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "envelope.h"
#include "fuzz.h"
#include "limits.h"

/* Smaller limits tried after the hard one; 0 means the default. */
static const size_t limits[] = {0, 1, 64};

static size_t
effective(size_t max)
{
    return max == 0 ? SB_DATA_MAX_DEFAULT : max;
}

static void
check_fields(const struct sb_event *ev)
{
    struct sb_error err;

    SB_ASSERT(sb_channel_check(ev->channel, &err) == SB_OK);
    SB_ASSERT(sb_type_check(ev->type, strlen(ev->type), &err) == SB_OK);
    SB_ASSERT(ev->id[0] == '\0' || sb_id_check(ev->id, NULL, &err) == SB_OK);
    SB_ASSERT(ev->data_len == strlen(ev->data_text));
    SB_ASSERT(ev->data_len <= SB_DATA_MAX_HARD);
}

/* Each smaller limit accepts ev's data exactly when it fits. */
static void
check_limits(const uint8_t *data, size_t size, const struct sb_event *ev)
{
    for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
        struct sb_event *small;
        struct sb_error err;
        int rc =
            sb_event_parse((const char *)data, size, limits[i], &small, &err);

        if (ev->data_len <= effective(limits[i])) {
            SB_ASSERT(rc == SB_OK);
            SB_ASSERT(strcmp(small->data_text, ev->data_text) == 0);
        } else {
            SB_ASSERT(rc == SB_ERR && small == NULL);
            SB_ASSERT(err.code == SB_E_TOO_LARGE);
        }
        sb_event_free(small);
    }
}

/* The request rebuilt from ev's fields parses back to the same event. */
static void
check_reparse(const struct sb_event *ev)
{
    struct sb_event *back;
    struct sb_error err;
    char *text;

    /* channel, type and id are plain ASCII by their grammars. */
    text = sb_asprintf("{\"channel\":\"%s\",\"type\":\"%s\",%s%s%s\"data\":%s}",
                       ev->channel, ev->type, ev->id[0] ? "\"id\":\"" : "",
                       ev->id, ev->id[0] ? "\"," : "", ev->data_text);
    SB_ASSERT(sb_event_parse(text, strlen(text), SB_DATA_MAX_HARD, &back,
                             &err) == SB_OK);
    SB_ASSERT(strcmp(back->channel, ev->channel) == 0);
    SB_ASSERT(strcmp(back->type, ev->type) == 0);
    SB_ASSERT(strcmp(back->id, ev->id) == 0);
    SB_ASSERT(strcmp(back->data_text, ev->data_text) == 0);
    sb_event_free(back);
    free(text);
}

/* Both ways of giving the data print the same valid envelope. */
static void
check_encode(const struct sb_event *ev, int64_t time_us)
{
    struct sb_envelope env = {
        .channel = ev->channel,
        .seq = ev->data_len % 2 ? SB_SEQ_NONE : (int64_t)ev->data_len,
        .id = ev->id[0] ? ev->id : "00000000-0000-4000-8000-000000000000",
        .type = ev->type,
        .sender = "user:fuzz",
        .time_us = time_us,
    };
    char *from_json, *from_text;
    size_t json_len, text_len;
    json_t *parsed;

    env.data_json = ev->data;
    from_json = sb_event_encode(&env, &json_len);
    env.data_json = NULL;
    env.data = ev->data_text;
    env.data_len = ev->data_len;
    from_text = sb_event_encode(&env, &text_len);
    SB_ASSERT(json_len == text_len &&
              memcmp(from_json, from_text, json_len) == 0);
    SB_ASSERT(json_len == strlen(from_json));
    parsed = json_loadb(from_text, text_len, JSON_REJECT_DUPLICATES, NULL);
    SB_ASSERT(json_is_object(parsed));
    SB_ASSERT(json_object_size(parsed) == 7);
    json_decref(parsed);
    free(from_json);
    free(from_text);
}

/* Any 8 bytes of the input as a time, so the formatter sees every range. */
static int64_t
time_of(const uint8_t *data, size_t size)
{
    int64_t t = 1700000000000000;

    if (size >= sizeof(t))
        memcpy(&t, data + size - sizeof(t), sizeof(t));
    return t;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sb_event *ev;
    struct sb_error err;
    char tbuf[SB_TIME_TEXT_SIZE];

    sb_sender_check((const char *)data, size, &err);
    SB_ASSERT(strlen(sb_time_format(time_of(data, size), tbuf)) == 27);
    if (sb_event_parse((const char *)data, size, SB_DATA_MAX_HARD + 1, &ev,
                       &err) != SB_OK) {
        SB_ASSERT(ev == NULL && err.code != SB_E_NONE);
        return 0;
    }
    check_fields(ev);
    check_limits(data, size, ev);
    check_reparse(ev);
    check_encode(ev, time_of(data, size));
    sb_event_free(ev);
    return 0;
}
