/*
 * sql.h: the calls of switchboard's public SQL interface (docs/PROTOCOL.md
 * section 8) the agent makes, queued on its connection (db.h). Durable
 * writes carry an id chosen here, so the connection may send them again
 * after a loss without storing anything twice; signals are sent at most
 * once. Every json_t argument is taken over (its reference released).
 */
#ifndef AGENT_SQL_H
#define AGENT_SQL_H

#include <stdint.h>

#include <jansson.h>

#include "db.h"
#include "envelope.h"

/* Rows one events_after() read returns at most. */
#define AGENT_SQL_READ_MAX 100

/* A new random UUID in canonical lower-case text. */
void agent_sql_uuid(char out[SB_UUID_TEXT_LEN + 1]);

/* switchboard.publish(channel, type, data, sender, id); id NULL: a new
 * one. */
void agent_sql_publish(struct agent_db *db, const char *channel,
                       const char *type, json_t *data, const char *sender,
                       const char *id, agent_db_fn fn, void *arg);
/* switchboard.signal(channel, type, data, sender). */
void agent_sql_signal(struct agent_db *db, const char *channel,
                      const char *type, json_t *data, const char *sender,
                      agent_db_fn fn, void *arg);
/* switchboard.log_activity(channel, level, message, metadata, sender, id)
 * with a new id; metadata NULL means {}. */
void agent_sql_log(struct agent_db *db, const char *channel, const char *level,
                   const char *message, json_t *metadata, const char *sender,
                   agent_db_fn fn, void *arg);
/* switchboard.task_create(channel, title, metadata, id). */
void agent_sql_task_create(struct agent_db *db, const char *channel,
                           const char *title, json_t *metadata, const char *id,
                           agent_db_fn fn, void *arg);
/* switchboard.task_update(id, state, current_step, error); NULL keeps a
 * field. */
void agent_sql_task_update(struct agent_db *db, const char *id,
                           const char *state, const char *step,
                           const char *error, agent_db_fn fn, void *arg);
/* seq, event FROM switchboard.events_after(channel, since,
 * AGENT_SQL_READ_MAX). */
void agent_sql_events_after(struct agent_db *db, const char *channel,
                            int64_t since, agent_db_fn fn, void *arg);
/* channel, last_seq of every chat channel (channel_summary). */
void agent_sql_chat_channels(struct agent_db *db, agent_db_fn fn, void *arg);

#endif
