/*
 * sql.c: the switchboard SQL calls of the demo agent (see sql.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <uuid/uuid.h>

#include "sql.h"
#include "xalloc.h"

void
agent_sql_uuid(char out[SB_UUID_TEXT_LEN + 1])
{
    uuid_t u;

    uuid_generate_random(u);
    uuid_unparse_lower(u, out);
}

/* data as compact JSON text, the reference released; NULL gives {}. */
static char *
json_text(json_t *data)
{
    char *text;

    if (data == NULL)
        return sb_strdup("{}");
    text = json_dumps(data, JSON_COMPACT);
    SB_ASSERT(text != NULL);
    json_decref(data);
    return text;
}

void
agent_sql_publish(struct agent_db *db, const char *channel, const char *type,
                  json_t *data, const char *sender, const char *id,
                  agent_db_fn fn, void *arg)
{
    char fresh[SB_UUID_TEXT_LEN + 1];
    char *text = json_text(data);
    const char *params[] = {channel, type, text, sender, id};

    if (id == NULL) {
        agent_sql_uuid(fresh);
        params[4] = fresh;
    }
    agent_db_query(db,
                   "SELECT seq, duplicate FROM switchboard.publish("
                   "$1, $2, $3::jsonb, $4, $5::uuid)",
                   5, params, AGENT_DB_RETRY, fn, arg);
    free(text);
}

void
agent_sql_signal(struct agent_db *db, const char *channel, const char *type,
                 json_t *data, const char *sender, agent_db_fn fn, void *arg)
{
    char *text = json_text(data);
    const char *params[] = {channel, type, text, sender};

    agent_db_query(db, "SELECT switchboard.signal($1, $2, $3::jsonb, $4)", 4,
                   params, 0, fn, arg);
    free(text);
}

void
agent_sql_log(struct agent_db *db, const char *channel, const char *level,
              const char *message, json_t *metadata, const char *sender,
              agent_db_fn fn, void *arg)
{
    char id[SB_UUID_TEXT_LEN + 1];
    char *text = json_text(metadata);
    const char *params[] = {channel, level, message, text, sender, id};

    agent_sql_uuid(id);
    agent_db_query(db,
                   "SELECT switchboard.log_activity($1, $2, $3, $4::jsonb, "
                   "$5, $6::uuid)",
                   6, params, AGENT_DB_RETRY, fn, arg);
    free(text);
}

void
agent_sql_task_create(struct agent_db *db, const char *channel,
                      const char *title, json_t *metadata, const char *id,
                      agent_db_fn fn, void *arg)
{
    char *text = json_text(metadata);
    const char *params[] = {channel, title, text, id};

    agent_db_query(db,
                   "SELECT switchboard.task_create($1, $2, $3::jsonb, "
                   "$4::uuid)",
                   4, params, AGENT_DB_RETRY, fn, arg);
    free(text);
}

void
agent_sql_task_update(struct agent_db *db, const char *id, const char *state,
                      const char *step, const char *error, agent_db_fn fn,
                      void *arg)
{
    const char *params[] = {id, state, step, error};

    /* Sent again after a loss, a state change that did commit fails with
     * invalid_transition; the caller treats that as done. */
    agent_db_query(db, "SELECT switchboard.task_update($1::uuid, $2, $3, $4)",
                   4, params, AGENT_DB_RETRY, fn, arg);
}

void
agent_sql_events_after(struct agent_db *db, const char *channel, int64_t since,
                       agent_db_fn fn, void *arg)
{
    char seq[24], max[16];
    const char *params[] = {channel, seq, max};

    snprintf(seq, sizeof(seq), "%" PRId64, since);
    snprintf(max, sizeof(max), "%d", AGENT_SQL_READ_MAX);
    agent_db_query(db,
                   "SELECT seq, event FROM switchboard.events_after("
                   "$1, $2::bigint, $3::integer)",
                   3, params, AGENT_DB_RETRY, fn, arg);
}

void
agent_sql_chat_channels(struct agent_db *db, agent_db_fn fn, void *arg)
{
    agent_db_query(db,
                   "SELECT channel, last_seq FROM switchboard.channel_summary "
                   "WHERE namespace = 'chat'",
                   0, NULL, AGENT_DB_RETRY, fn, arg);
}
