/*
 * turn.h: the agent's turns, one per user message, each a non-blocking
 * state machine advanced by a timer and by its queries' completions. A
 * turn follows the chat conventions of docs/PROTOCOL.md section 1.4.1:
 *
 *   start    activity info, typing, a queued task on the workflow channel,
 *            agent.started on the agent's channel
 *   read     task active, agent_step "understanding", progress 1/4
 *   lookup   agent_step "lookup", progress 2/4, tool_call
 *   tool     tool_result; a failed tool ends the turn with an error event,
 *            the task failed and an error entry; a slow one adds a warning
 *   stream   agent_step "writing", progress 3/4, one token signal per
 *            token interval (typing repeated every 3 s)
 *   reply    the whole reply, stored with id = the tokens' reply_id,
 *            progress 4/4, the task completed, a success entry,
 *            agent.completed
 *
 * A cancel (reply_to = the turn's message id) before the reply is stored
 * stops the turn at its next step: cancelled, the task cancelled, a warning
 * entry, agent.cancelled. Each step starts only when the queries of the
 * step before have completed, so a turn waits while the database is away.
 */
#ifndef AGENT_TURN_H
#define AGENT_TURN_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "options.h"
#include "clock.h"

/* Typing indicators are repeated this often while working (section
 * 1.4.1: receivers drop them 6 s after the last). */
#define AGENT_TURN_TYPING_MS 3000

struct agent_turns;

/* The turns of one agent; db and conf are borrowed. Never NULL. */
struct agent_turns *agent_turns_new(struct agent_db *db,
                                    const struct agent_config *conf);
/* Release every turn; call after agent_db_free. NULL does nothing. */
void agent_turns_free(struct agent_turns *t);

/* A user message: start a turn (or answer "busy" beyond max_turns). */
void agent_turns_message(struct agent_turns *t, const char *channel,
                         const char *id, const char *sender, const char *text);
/* A cancel of the turn answering message reply_to on channel. */
void agent_turns_cancel(struct agent_turns *t, const char *channel,
                        const char *reply_to, const char *sender);
/* Cancel every turn that has not stored its reply yet, with reason. */
void agent_turns_stop(struct agent_turns *t, const char *reason);

/* Turns not finished. */
size_t agent_turns_running(const struct agent_turns *t);
/* Ms until agent_turns_tick has work (-1: none). */
int64_t agent_turns_timeout(const struct agent_turns *t, int64_t now_ms);
/* Run every turn whose step is due. */
void agent_turns_tick(struct agent_turns *t, int64_t now_ms);


#endif
