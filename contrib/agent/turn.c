/*
 * turn.c: the turn state machine (see turn.h). A turn's phase names the
 * step it runs next; a step queues its calls, and the next step runs once
 * they have all completed and its delay has passed.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "log.h"
#include "script.h"
#include "sql.h"
#include "turn.h"
#include "xalloc.h"

/* How long "understanding the question" takes. */
#define READ_MS 400
/* Progress steps of a turn (read, lookup, write, done). */
#define PROGRESS_TOTAL 4

enum phase {
    PH_START,
    PH_READ,
    PH_LOOKUP,
    PH_TOOL,
    PH_STREAM,
    PH_REPLY, /* the last phase a cancel can stop */
    PH_CANCEL,
    PH_DONE,
};

struct turn {
    struct turn *next;
    struct agent_turns *owner;
    char *channel;
    char *message_id;
    char *sender;
    char task_id[SB_UUID_TEXT_LEN + 1];
    char reply_id[SB_UUID_TEXT_LEN + 1];
    struct agent_script *script;
    enum phase phase;
    int64_t due;      /* the next step runs no earlier */
    unsigned pending; /* calls queued and not completed */
    size_t index;     /* next token */
    int64_t started_ms;
    int64_t typing_ms; /* when typing true was last sent */
    char *cancel_reason;
};

struct agent_turns {
    struct agent_db *db;
    const struct agent_config *conf;
    struct turn *head;
    size_t count;
};

/* --- the calls of a turn ----------------------------------------------- */

static void
done(PGresult *res, const struct sb_error *err, void *arg)
{
    struct turn *t = arg;

    t->pending--;
    /* invalid_transition: a task update sent again after a lost
     * connection had already committed. */
    if (res == NULL && err->code != SB_E_INVALID_TRANSITION &&
        err->code != SB_E_UNAVAILABLE)
        sb_log_warn("turn %s: %s: %s", t->message_id, t->channel, err->message);
}

/* data with the turn's reply_to added. */
static json_t *
chat(const struct turn *t, json_t *data)
{
    SB_ASSERT(data != NULL);
    json_object_set_new(data, "reply_to", json_string(t->message_id));
    return data;
}

static void
publish(struct turn *t, const char *channel, const char *type, json_t *data,
        const char *id)
{
    t->pending++;
    agent_sql_publish(t->owner->db, channel, type, data, t->owner->conf->sender,
                      id, done, t);
}

static void
say(struct turn *t, const char *type, json_t *data)
{
    publish(t, t->channel, type, chat(t, data), NULL);
}

static void
signal_chat(struct turn *t, const char *type, json_t *data)
{
    t->pending++;
    agent_sql_signal(t->owner->db, t->channel, type, data,
                     t->owner->conf->sender, done, t);
}

static void
typing(struct turn *t, bool active, int64_t now)
{
    if (active)
        t->typing_ms = now;
    signal_chat(t, "typing", json_pack("{s:b}", "active", active));
}

static void
progress(struct turn *t, int current, const char *label)
{
    signal_chat(t, "progress",
                chat(t, json_pack("{s:i,s:i,s:s}", "current", current, "total",
                                  PROGRESS_TOTAL, "label", label)));
}

static void
step(struct turn *t, const char *name, const char *status)
{
    say(t, "agent_step",
        json_pack("{s:s,s:s,s:s}", "agent", t->owner->conf->name, "step", name,
                  "status", status));
}

static void
task(struct turn *t, const char *state, const char *current_step,
     const char *error)
{
    t->pending++;
    agent_sql_task_update(t->owner->db, t->task_id, state, current_step, error,
                          done, t);
}

/* An activity entry; metadata always names the turn. */
static void
activity(struct turn *t, const char *level, const char *message,
         json_t *metadata)
{
    json_t *meta = metadata != NULL ? metadata : json_object();

    json_object_set_new(meta, "channel", json_string(t->channel));
    json_object_set_new(meta, "message_id", json_string(t->message_id));
    json_object_set_new(meta, "task_id", json_string(t->task_id));
    t->pending++;
    agent_sql_log(t->owner->db, t->owner->conf->activity_channel, level,
                  message, meta, t->owner->conf->sender, done, t);
}

/* agent.<what> on the agent's own channel. */
static void
report(struct turn *t, const char *what, json_t *extra)
{
    char *type = sb_asprintf("agent.%s", what);
    json_t *data = json_pack("{s:s,s:s,s:s}", "channel", t->channel, "reply_to",
                             t->message_id, "task_id", t->task_id);

    if (extra != NULL)
        json_object_update_new(data, extra);
    publish(t, t->owner->conf->agent_channel, type, data, NULL);
    free(type);
}

static void
next(struct turn *t, enum phase phase, int64_t due)
{
    t->phase = phase;
    t->due = due;
}

/* --- the steps --------------------------------------------------------- */

static void
run_start(struct turn *t, int64_t now)
{
    char *msg =
        sb_asprintf("Picked up a message from %s on %s", t->sender, t->channel);

    activity(t, "info", msg, json_pack("{s:s}", "sender", t->sender));
    typing(t, true, now);
    t->pending++;
    agent_sql_task_create(
        t->owner->db, t->owner->conf->workflow_channel, t->script->title,
        json_pack("{s:s,s:s,s:s}", "channel", t->channel, "message_id",
                  t->message_id, "sender", t->sender),
        t->task_id, done, t);
    report(t, "started", NULL);
    free(msg);
    next(t, PH_READ, now);
}

static void
run_read(struct turn *t, int64_t now)
{
    task(t, "active", "understanding the question", NULL);
    step(t, "understanding", "started");
    progress(t, 1, "reading your message");
    next(t, PH_LOOKUP, now + READ_MS);
}

static void
run_lookup(struct turn *t, int64_t now)
{
    const struct agent_script *s = t->script;
    char *label = sb_asprintf("calling %s", s->tool);

    step(t, "understanding", "completed");
    step(t, "lookup", "started");
    task(t, NULL, label, NULL);
    progress(t, 2, label);
    say(t, "tool_call",
        json_pack("{s:s,s:s,s:O}", "call_id", "call-1", "tool", s->tool,
                  "input", s->input));
    free(label);
    next(t, PH_TOOL, now + s->tool_ms);
}

static void
run_tool_failed(struct turn *t, int64_t now)
{
    const struct agent_script *s = t->script;
    char *msg = sb_asprintf("Tool %s failed: %s", s->tool, s->error);

    say(t, "error",
        json_pack("{s:s,s:s}", "message", msg, "code", "tool_failed"));
    task(t, "failed", NULL, msg);
    activity(t, "error", msg, json_pack("{s:s}", "tool", s->tool));
    typing(t, false, now);
    report(t, "failed", json_pack("{s:s}", "error", msg));
    free(msg);
    next(t, PH_DONE, now);
}

static void
run_tool(struct turn *t, int64_t now)
{
    const struct agent_script *s = t->script;
    json_t *result = json_pack("{s:s,s:s,s:b,s:i}", "call_id", "call-1", "tool",
                               s->tool, "ok", s->ok, "duration_ms", s->tool_ms);

    if (s->tool_ms > AGENT_SCRIPT_SLOW_WARN_MS) {
        char *msg = sb_asprintf("Tool %s was slow: %d ms (warning above %d ms)",
                                s->tool, s->tool_ms, AGENT_SCRIPT_SLOW_WARN_MS);

        activity(t, "warning", msg,
                 json_pack("{s:s,s:i}", "tool", s->tool, "ms", s->tool_ms));
        free(msg);
    }
    if (s->ok)
        json_object_set(result, "output", s->output);
    else
        json_object_set_new(result, "error", json_string(s->error));
    say(t, "tool_result", result);
    if (!s->ok) {
        run_tool_failed(t, now);
        return;
    }
    step(t, "lookup", "completed");
    step(t, "writing", "started");
    task(t, NULL, "writing the reply", NULL);
    progress(t, 3, "writing the reply");
    next(t, PH_STREAM, now + t->owner->conf->token_interval_ms);
}

static void
run_stream(struct turn *t, int64_t now)
{
    const struct agent_script *s = t->script;

    if (t->index >= s->ntokens) {
        next(t, PH_REPLY, now);
        return;
    }
    if (now - t->typing_ms >= AGENT_TURN_TYPING_MS)
        typing(t, true, now);
    signal_chat(
        t, "token",
        chat(t, json_pack("{s:s,s:I,s:s}", "reply_id", t->reply_id, "index",
                          (json_int_t)t->index, "text", s->tokens[t->index])));
    t->index++;
    next(t, PH_STREAM, now + t->owner->conf->token_interval_ms);
}

static void
run_reply(struct turn *t, int64_t now)
{
    const struct agent_script *s = t->script;
    long long ms = (long long)(now - t->started_ms);
    char *msg =
        sb_asprintf("Answered %s on %s in %lld ms", t->sender, t->channel, ms);

    publish(t, t->channel, "reply",
            chat(t, json_pack("{s:s,s:s,s:I}", "text", s->reply, "format",
                              "text", "tokens", (json_int_t)s->ntokens)),
            t->reply_id);
    step(t, "writing", "completed");
    progress(t, PROGRESS_TOTAL, "done");
    typing(t, false, now);
    task(t, "completed", "answered", NULL);
    activity(t, "success", msg,
             json_pack("{s:I,s:I}", "ms", (json_int_t)ms, "tokens",
                       (json_int_t)s->ntokens));
    report(t, "completed", json_pack("{s:s}", "reply_id", t->reply_id));
    free(msg);
    next(t, PH_DONE, now);
}

static void
run_cancel(struct turn *t, int64_t now)
{
    char *msg = sb_asprintf("Stopped answering %s on %s: %s", t->sender,
                            t->channel, t->cancel_reason);

    say(t, "cancelled", json_pack("{s:s}", "reason", t->cancel_reason));
    typing(t, false, now);
    task(t, "cancelled", NULL, t->cancel_reason);
    activity(t, "warning", msg,
             json_pack("{s:I}", "tokens_sent", (json_int_t)t->index));
    report(t, "cancelled", json_pack("{s:s}", "reason", t->cancel_reason));
    free(msg);
    next(t, PH_DONE, now);
}

static void
run(struct turn *t, int64_t now)
{
    switch (t->phase) {
    case PH_START:
        run_start(t, now);
        break;
    case PH_READ:
        run_read(t, now);
        break;
    case PH_LOOKUP:
        run_lookup(t, now);
        break;
    case PH_TOOL:
        run_tool(t, now);
        break;
    case PH_STREAM:
        run_stream(t, now);
        break;
    case PH_REPLY:
        run_reply(t, now);
        break;
    case PH_CANCEL:
        run_cancel(t, now);
        break;
    case PH_DONE:
        break;
    }
}

/* --- the set of turns -------------------------------------------------- */

static void
turn_free(struct turn *t)
{
    agent_script_free(t->script);
    free(t->channel);
    free(t->message_id);
    free(t->sender);
    free(t->cancel_reason);
    free(t);
}

static struct turn *
find(const struct agent_turns *ts, const char *channel, const char *id)
{
    for (struct turn *t = ts->head; t != NULL; t = t->next)
        if (strcmp(t->message_id, id) == 0 && strcmp(t->channel, channel) == 0)
            return t;
    return NULL;
}

/* Beyond max_turns: an error event for that message, a warning entry. */
static void
busy(struct agent_turns *ts, const char *channel, const char *id)
{
    const struct agent_config *c = ts->conf;
    char *msg = sb_asprintf("I am answering %zu messages already; please ask "
                            "again in a moment",
                            ts->count);

    agent_sql_publish(ts->db, channel, "error",
                      json_pack("{s:s,s:s,s:s}", "reply_to", id, "message", msg,
                                "code", "busy"),
                      c->sender, NULL, NULL, NULL);
    agent_sql_log(ts->db, c->activity_channel, "warning",
                  "Too busy to answer a message",
                  json_pack("{s:s,s:s,s:I}", "channel", channel, "message_id",
                            id, "running", (json_int_t)ts->count),
                  c->sender, NULL, NULL);
    free(msg);
}

void
agent_turns_message(struct agent_turns *ts, const char *channel, const char *id,
                    const char *sender, const char *text)
{
    struct turn *t;

    if (find(ts, channel, id) != NULL)
        return;
    if (ts->count >= (size_t)ts->conf->max_turns) {
        busy(ts, channel, id);
        return;
    }
    t = sb_calloc(1, sizeof(*t));
    t->owner = ts;
    t->channel = sb_strdup(channel);
    t->message_id = sb_strdup(id);
    t->sender = sb_strdup(sender);
    t->script = agent_script_new(text, id, sender);
    agent_sql_uuid(t->task_id);
    agent_sql_uuid(t->reply_id);
    t->started_ms = t->due = sb_mono_ms();
    t->phase = PH_START;
    t->next = ts->head;
    ts->head = t;
    ts->count++;
    sb_log_info("turn %s: %s from %s: started (tool %s)", id, channel, sender,
                t->script->tool);
}

static void
cancel(struct turn *t, char *reason)
{
    if (t->phase > PH_REPLY) {
        free(reason);
        return;
    }
    free(t->cancel_reason);
    t->cancel_reason = reason;
    t->phase = PH_CANCEL;
    t->due = sb_mono_ms();
}

void
agent_turns_cancel(struct agent_turns *ts, const char *channel,
                   const char *reply_to, const char *sender)
{
    struct turn *t = find(ts, channel, reply_to);

    if (t == NULL) {
        sb_log_debug("cancel of %s on %s: no turn running", reply_to, channel);
        return;
    }
    sb_log_info("turn %s: %s: cancelled by %s", reply_to, channel, sender);
    cancel(t, sb_asprintf("cancelled by %s", sender));
}

void
agent_turns_stop(struct agent_turns *ts, const char *reason)
{
    for (struct turn *t = ts->head; t != NULL; t = t->next)
        cancel(t, sb_strdup(reason));
}

size_t
agent_turns_running(const struct agent_turns *ts)
{
    return ts->count;
}

int64_t
agent_turns_timeout(const struct agent_turns *ts, int64_t now)
{
    int64_t best = -1;

    for (const struct turn *t = ts->head; t != NULL; t = t->next) {
        int64_t wait = t->due > now ? t->due - now : 0;

        if (t->pending == 0 && (best < 0 || wait < best))
            best = wait;
    }
    return best;
}

void
agent_turns_tick(struct agent_turns *ts, int64_t now)
{
    struct turn **link = &ts->head;

    while (*link != NULL) {
        struct turn *t = *link;

        if (t->pending == 0 && t->phase == PH_DONE) {
            *link = t->next;
            ts->count--;
            sb_log_info("turn %s: %s: finished", t->message_id, t->channel);
            turn_free(t);
            continue;
        }
        if (t->pending == 0 && t->due <= now)
            run(t, now);
        link = &t->next;
    }
}

struct agent_turns *
agent_turns_new(struct agent_db *db, const struct agent_config *conf)
{
    struct agent_turns *ts = sb_calloc(1, sizeof(*ts));

    ts->db = db;
    ts->conf = conf;
    return ts;
}

void
agent_turns_free(struct agent_turns *ts)
{
    struct turn *t;

    if (ts == NULL)
        return;
    while ((t = ts->head) != NULL) {
        ts->head = t->next;
        turn_free(t);
    }
    free(ts);
}
