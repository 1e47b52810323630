/*
 * fuzz_doorbell.c: sb_doorbell_parse() on arbitrary bytes. A payload that
 * parses must build back into payloads (under the NOTIFY limit and under a
 * small one that forces splitting) that each fit their limit and parse
 * back, together, to the same entries in the same order; and
 * sb_doorbell_parse_cb() must see the same entries and stop when asked.
 */
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "doorbell.h"
#include "fuzz.h"
#include "limits.h"

/* Small enough to split most payloads, large enough for any one entry:
 * braces, quotes, colon, the longest channel and a 19-digit seq. */
#define SMALL_MAX (SB_CHANNEL_MAX + 24)

struct walk {
    const struct sb_doorbell *db;
    size_t seen;
    size_t stop_at; /* return 1 at this entry */
};

static int
on_entry(const char *channel, int64_t seq, void *arg)
{
    struct walk *w = arg;

    SB_ASSERT(w->seen < w->db->count);
    SB_ASSERT(strcmp(channel, w->db->entries[w->seen].channel) == 0);
    SB_ASSERT(seq == w->db->entries[w->seen].seq);
    return ++w->seen == w->stop_at;
}

static void
check_cb(const uint8_t *data, size_t size, const struct sb_doorbell *db)
{
    struct walk all = {db, 0, 0}, first = {db, 0, 1};
    struct sb_error err;

    SB_ASSERT(sb_doorbell_parse_cb((const char *)data, size, on_entry, &all,
                                   &err) == 0);
    SB_ASSERT(all.seen == db->count);
    if (db->count > 0) {
        SB_ASSERT(sb_doorbell_parse_cb((const char *)data, size, on_entry,
                                       &first, &err) == 1);
        SB_ASSERT(first.seen == 1);
    }
}

/* Build db under max and parse every payload back; the entries read back
 * equal db's. */
static void
check_build(const struct sb_doorbell *db, size_t max)
{
    struct sb_doorbell *back;
    struct sb_error err;
    char **payloads;
    size_t count, at = 0;

    SB_ASSERT(sb_doorbell_build(db, max, &payloads, &count, &err) == SB_OK);
    SB_ASSERT(count >= 1);
    for (size_t i = 0; i < count; i++) {
        size_t len = strlen(payloads[i]);

        SB_ASSERT(len <= (max ? max : SB_NOTIFY_PAYLOAD_MAX));
        SB_ASSERT(sb_doorbell_parse(payloads[i], len, &back, &err) == SB_OK);
        SB_ASSERT(back->count > 0 || count == 1);
        for (size_t j = 0; j < back->count; j++, at++) {
            SB_ASSERT(at < db->count);
            SB_ASSERT(
                strcmp(back->entries[j].channel, db->entries[at].channel) == 0);
            SB_ASSERT(back->entries[j].seq == db->entries[at].seq);
        }
        sb_doorbell_free(back);
    }
    SB_ASSERT(at == db->count);
    sb_doorbell_payloads_free(payloads, count);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sb_doorbell *db;
    struct sb_error err;

    if (sb_doorbell_parse((const char *)data, size, &db, &err) != SB_OK) {
        SB_ASSERT(db == NULL && err.code != SB_E_NONE);
        return 0;
    }
    for (size_t i = 0; i < db->count; i++) {
        SB_ASSERT(sb_channel_check(db->entries[i].channel, &err) == SB_OK);
        SB_ASSERT(db->entries[i].seq >= 0);
    }
    check_cb(data, size, db);
    check_build(db, 0);
    check_build(db, SMALL_MAX);
    sb_doorbell_free(db);
    return 0;
}
