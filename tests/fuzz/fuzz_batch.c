/*
 * fuzz_batch.c: sb_event_batch_parse() on arbitrary bytes. An accepted
 * batch holds 1..SB_BATCH_MAX events in order, each valid on its own; a
 * rejected one either has no bad index (the batch as a whole is wrong) or
 * names the first element that sb_event_from_json() rejects with the same
 * code, after elements it accepts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "envelope.h"
#include "fuzz.h"
#include "limits.h"

/* A small limit, so too_large is reached inside the fuzzer's inputs. */
#define MAX_DATA 256

static void
check_batch(const struct sb_event_batch *b)
{
    struct sb_error err;

    SB_ASSERT(b->count >= 1 && b->count <= SB_BATCH_MAX);
    for (size_t i = 0; i < b->count; i++) {
        const struct sb_event *ev = b->events[i];

        SB_ASSERT(ev != NULL);
        SB_ASSERT(sb_channel_check(ev->channel, &err) == SB_OK);
        SB_ASSERT(sb_type_check(ev->type, strlen(ev->type), &err) == SB_OK);
        SB_ASSERT(ev->data_len == strlen(ev->data_text));
        SB_ASSERT(ev->data_len <= MAX_DATA);
    }
}

/* Element i of the array in text is the first one a single parse rejects,
 * and it is rejected with code. */
static void
check_bad_element(const uint8_t *data, size_t size, size_t bad,
                  enum sb_errcode code)
{
    json_t *root = json_loadb(
        (const char *)data, size,
        JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY, NULL);
    struct sb_event *ev;
    struct sb_error err;

    SB_ASSERT(json_is_array(root) && bad < json_array_size(root));
    for (size_t i = 0; i <= bad; i++) {
        int rc =
            sb_event_from_json(json_array_get(root, i), MAX_DATA, &ev, &err);

        SB_ASSERT(i < bad ? rc == SB_OK : rc == SB_ERR && err.code == code);
        sb_event_free(ev);
    }
    json_decref(root);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sb_event_batch *b;
    struct sb_error err;
    size_t bad;
    char prefix[32];

    if (sb_event_batch_parse((const char *)data, size, MAX_DATA, &b, &bad,
                             &err) == SB_OK) {
        SB_ASSERT(bad == SB_BATCH_NO_INDEX);
        check_batch(b);
        sb_event_batch_free(b);
        return 0;
    }
    SB_ASSERT(b == NULL && err.code != SB_E_NONE);
    if (bad != SB_BATCH_NO_INDEX) {
        snprintf(prefix, sizeof(prefix), "event %zu: ", bad);
        SB_ASSERT(strncmp(err.message, prefix, strlen(prefix)) == 0);
        check_bad_element(data, size, bad, err.code);
    }
    return 0;
}
