/*
 * inbox.c: channel cursors, doorbells and events_after() reads (see
 * inbox.h). Channels live in an array searched linearly: a few thousand at
 * most, and a doorbell names only a few.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "channel.h"
#include "doorbell.h"
#include "inbox.h"
#include "log.h"
#include "sql.h"
#include "xalloc.h"

/* The cursor of a channel heard of before the first snapshot arrived. */
#define CURSOR_UNKNOWN (-1)

struct chan {
    struct agent_inbox *in;
    char *name;
    int64_t cursor; /* last seq handled, or CURSOR_UNKNOWN */
    int64_t target; /* highest seq a doorbell or snapshot announced */
    bool reading;   /* an events_after() is queued */
};

struct agent_inbox {
    struct agent_db *db;
    char *const *patterns;
    struct agent_inbox_hooks hooks;
    struct chan **chans;
    size_t count;
    bool snapshot_done; /* the first snapshot set the cursors */
    bool full_logged;
    bool closed;
};

static bool
followed(const struct agent_inbox *in, const char *channel)
{
    for (char *const *p = in->patterns; *p != NULL; p++)
        if (sb_pattern_match(*p, channel))
            return true;
    return false;
}

static struct chan *
find(const struct agent_inbox *in, const char *name)
{
    for (size_t i = 0; i < in->count; i++)
        if (strcmp(in->chans[i]->name, name) == 0)
            return in->chans[i];
    return NULL;
}

/* The channel, added with cursor when new; NULL when it is not followed
 * or the table is full. */
static struct chan *
get(struct agent_inbox *in, const char *name, int64_t cursor)
{
    struct chan *ch = find(in, name);

    if (ch != NULL || !followed(in, name))
        return ch;
    if (in->count >= AGENT_INBOX_CHANNELS_MAX) {
        if (!in->full_logged)
            sb_log_warn("inbox: following %d channels already; %s and later "
                        "new channels are ignored",
                        AGENT_INBOX_CHANNELS_MAX, name);
        in->full_logged = true;
        return NULL;
    }
    ch = sb_calloc(1, sizeof(*ch));
    ch->in = in;
    ch->name = sb_strdup(name);
    ch->cursor = ch->target = cursor;
    in->chans = sb_realloc(in->chans, (in->count + 1) * sizeof(*in->chans));
    in->chans[in->count++] = ch;
    return ch;
}

/* --- one event --------------------------------------------------------- */

static const char *
member(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* Only people are answered: not this agent, other agents or the system. */
static bool
from_person(const char *sender)
{
    return strncmp(sender, "agent:", 6) != 0 &&
           strncmp(sender, "system:", 7) != 0;
}

static void
dispatch(struct agent_inbox *in, const char *channel, const char *text)
{
    json_t *ev = json_loads(text, 0, NULL);
    json_t *data = json_object_get(ev, "data");
    const char *type = member(ev, "type");
    const char *sender = member(ev, "sender");
    const char *id = member(ev, "id");

    if (type == NULL || sender == NULL || id == NULL || in->closed)
        goto out;
    if (strcmp(type, "message") == 0 && from_person(sender) &&
        member(data, "text") != NULL)
        in->hooks.message(channel, id, sender, member(data, "text"),
                          in->hooks.arg);
    else if (strcmp(type, "cancel") == 0 && member(data, "reply_to") != NULL)
        in->hooks.cancel(channel, member(data, "reply_to"), sender,
                         in->hooks.arg);
out:
    json_decref(ev);
}

/* --- reading ----------------------------------------------------------- */

static void read_chan(struct chan *ch);

static void
on_rows(PGresult *res, const struct sb_error *err, void *arg)
{
    struct chan *ch = arg;
    int rows;

    ch->reading = false;
    if (res == NULL) {
        if (err->code != SB_E_UNAVAILABLE)
            sb_log_warn("inbox: %s: read after seq %lld failed: %s", ch->name,
                        (long long)ch->cursor, err->message);
        return;
    }
    rows = PQntuples(res);
    for (int i = 0; i < rows; i++) {
        int64_t seq = strtoll(PQgetvalue(res, i, 0), NULL, 10);

        if (seq <= ch->cursor)
            continue;
        ch->cursor = seq;
        dispatch(ch->in, ch->name, PQgetvalue(res, i, 1));
    }
    /* A full page: there may be more than any doorbell said. */
    if (rows == AGENT_SQL_READ_MAX && ch->target <= ch->cursor)
        ch->target = ch->cursor + 1;
    read_chan(ch);
}

static void
read_chan(struct chan *ch)
{
    if (ch->reading || ch->cursor == CURSOR_UNKNOWN || ch->target <= ch->cursor)
        return;
    ch->reading = true;
    sb_log_debug("inbox: %s: reading after seq %lld", ch->name,
                 (long long)ch->cursor);
    agent_sql_events_after(ch->in->db, ch->name, ch->cursor, on_rows, ch);
}

static void
announce(struct chan *ch, int64_t seq)
{
    if (seq > ch->target)
        ch->target = seq;
    read_chan(ch);
}

/* --- snapshots and doorbells ------------------------------------------- */

static void
on_snapshot(PGresult *res, const struct sb_error *err, void *arg)
{
    struct agent_inbox *in = arg;
    bool first = !in->snapshot_done;

    if (res == NULL) {
        if (err->code != SB_E_UNAVAILABLE)
            sb_log_error("inbox: cannot list the chat channels: %s",
                         err->message);
        return;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        int64_t last = strtoll(PQgetvalue(res, i, 1), NULL, 10);
        /* New since the last snapshot: created while we were away. */
        struct chan *ch = get(in, PQgetvalue(res, i, 0), first ? last : 0);

        if (ch != NULL && ch->cursor == CURSOR_UNKNOWN)
            ch->cursor = last;
        if (ch != NULL)
            announce(ch, last);
    }
    /* Heard of by a doorbell only: created after the snapshot was taken. */
    for (size_t i = 0; i < in->count; i++) {
        if (in->chans[i]->cursor == CURSOR_UNKNOWN)
            in->chans[i]->cursor = 0;
        read_chan(in->chans[i]);
    }
    if (first)
        sb_log_info("inbox: following %zu chat channels from their last seq",
                    in->count);
    in->snapshot_done = true;
}

void
agent_inbox_up(struct agent_inbox *in)
{
    agent_sql_chat_channels(in->db, on_snapshot, in);
}

static int
on_entry(const char *channel, int64_t seq, void *arg)
{
    struct agent_inbox *in = arg;
    struct chan *ch = get(in, channel, in->snapshot_done ? 0 : CURSOR_UNKNOWN);

    if (ch != NULL)
        announce(ch, seq);
    return 0;
}

void
agent_inbox_doorbell(struct agent_inbox *in, const char *payload)
{
    struct sb_error err;

    if (sb_doorbell_parse_cb(payload, strlen(payload), on_entry, in, &err) !=
        SB_OK)
        sb_log_warn("inbox: ignoring a doorbell: %s", err.message);
}

void
agent_inbox_close(struct agent_inbox *in)
{
    in->closed = true;
}

struct agent_inbox *
agent_inbox_new(struct agent_db *db, char *const *patterns,
                const struct agent_inbox_hooks *hooks)
{
    struct agent_inbox *in = sb_calloc(1, sizeof(*in));

    in->db = db;
    in->patterns = patterns;
    in->hooks = *hooks;
    return in;
}

void
agent_inbox_free(struct agent_inbox *in)
{
    if (in == NULL)
        return;
    for (size_t i = 0; i < in->count; i++) {
        free(in->chans[i]->name);
        free(in->chans[i]);
    }
    free(in->chans);
    free(in);
}
