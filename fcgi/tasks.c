/*
 * tasks.c: workflow tasks and statistics (see tasks.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "auth.h"
#include "body.h"
#include "chan.h"
#include "db.h"
#include "envelope.h"
#include "limits.h"
#include "publish.h"
#include "tasks.h"
#include "xalloc.h"

/* Each answers the stored task (or page) as the database prints it. */
#define CREATE_SQL                                                             \
    "SELECT switchboard.task_get(switchboard.task_create($1, $2, $3::jsonb, "  \
    "$4::uuid))::text"
/* The update runs first (OFFSET 0 keeps the subquery whole), then the read
 * (task_get is VOLATILE, so it sees the change). */
#define UPDATE_SQL                                                             \
    "SELECT switchboard.task_get(u.id)::text FROM (SELECT $1::uuid AS id, "    \
    "switchboard.task_update($1::uuid, $2, $3, $4) OFFSET 0) u"
#define GET_SQL                                                                \
    "SELECT t->>'channel', t::text FROM switchboard.task_get($1::uuid) t"
#define LIST_SQL                                                               \
    "SELECT switchboard.task_list($1, $2, $3::integer, $4::uuid)::text"
#define STATS_SQL "SELECT switchboard.workflow_stats($1)::text"
#define TEXT_MAX 4096
#define LIST_DEFAULT 100

/* A string member (or absent/null: NULL). SB_ERR after answering when it
 * is another type, holds U+0000 or is longer than TEXT_MAX. */
static int
text_member(struct fcgi_req *r, const json_t *body, const char *name,
            const char **out)
{
    json_t *v = json_object_get(body, name);

    *out = NULL;
    if (v == NULL || json_is_null(v))
        return SB_OK;
    if (!json_is_string(v) || strlen(json_string_value(v)) !=
                                  json_string_length(v) ||
        json_string_length(v) > TEXT_MAX)
        return fcgi_req_fail(r, SB_E_INVALID_PARAMETER,
                             "invalid parameter: %s must be a string of at "
                             "most %d bytes",
                             name, TEXT_MAX);
    *out = json_string_value(v);
    return SB_OK;
}

static int
id_member(struct fcgi_req *r, const json_t *body, char *id)
{
    json_t *v = json_object_get(body, "id");
    struct sb_error err;

    id[0] = '\0';
    if (v == NULL || json_is_null(v))
        return SB_OK;
    if (!json_is_string(v) || sb_id_check(json_string_value(v), id, &err) !=
                                  SB_OK)
        return fcgi_req_fail(r, SB_E_INVALID_ID, "invalid id: not a UUID");
    return SB_OK;
}

static int
create_args(struct fcgi_req *r, json_t *body, const char **title,
            json_t **metadata, char *id)
{
    static const char *const known[] = {"title", "metadata", "id", NULL};

    if (fcgi_body_known(r, body, known) != SB_OK ||
        text_member(r, body, "title", title) != SB_OK ||
        id_member(r, body, id) != SB_OK)
        return SB_ERR;
    if (*title == NULL || **title == '\0')
        return fcgi_req_fail(r, SB_E_INVALID_PARAMETER,
                             "invalid parameter: title is required (1 to "
                             "4096 bytes)");
    *metadata = json_object_get(body, "metadata");
    if (*metadata != NULL && !json_is_object(*metadata))
        return fcgi_req_fail(r, SB_E_INVALID_PARAMETER,
                             "invalid parameter: metadata must be an object");
    return SB_OK;
}

int
fcgi_tasks_handle_create(struct fcgi_req *r)
{
    const char *channel = fcgi_chan_from_path(r, 1, SB_VERB_PUBLISH);
    char id[SB_UUID_TEXT_LEN + 1];
    const char *title, *params[4];
    json_t *body, *metadata = NULL;
    char *meta = NULL;
    struct sb_error err;
    PGresult *res = NULL;
    int rc = SB_ERR;

    if (channel == NULL || (body = fcgi_body_json(r)) == NULL)
        return SB_ERR;
    if (create_args(r, body, &title, &metadata, id) != SB_OK ||
        fcgi_publish_rate(r, 1) != SB_OK)
        goto done;
    meta = metadata != NULL ? json_dumps(metadata, JSON_COMPACT) : NULL;
    params[0] = channel;
    params[1] = title;
    params[2] = meta != NULL ? meta : "{}";
    params[3] = id[0] != '\0' ? id : NULL;
    res = fcgi_db_exec(r->db, CREATE_SQL, 4, params, id[0] != '\0', &err);
    if (res == NULL) {
        fcgi_req_error(r, &err, NULL);
        goto done;
    }
    fcgi_req_reply(r, 201, PQgetvalue(res, 0, 0));
    rc = SB_OK;
done:
    PQclear(res);
    free(meta);
    json_decref(body);
    return rc;
}

static int
update_args(struct fcgi_req *r, json_t *body, const char **v)
{
    static const char *const known[] = {"state", "current_step", "error",
                                        NULL};

    if (fcgi_body_known(r, body, known) != SB_OK)
        return SB_ERR;
    for (int i = 0; i < 3; i++) {
        if (text_member(r, body, known[i], &v[i]) != SB_OK)
            return SB_ERR;
    }
    return SB_OK;
}

/* The task named by path segment 1 (a UUID into id), read with its
 * channel, which the token must allow verb on. The result (channel in
 * column 0, the task in column 1) or NULL after answering (422 invalid_id,
 * 404, 403, 503). */
static PGresult *
task_of_path(struct fcgi_req *r, enum sb_verb verb, char *id)
{
    const char *params[1] = {id};
    struct sb_error err;
    PGresult *res;

    if (sb_id_check(r->segs[1], id, &err) != SB_OK) {
        fcgi_req_error(r, &err, NULL);
        return NULL;
    }
    res = fcgi_db_exec(r->db, GET_SQL, 1, params, true, &err);
    if (res == NULL) {
        fcgi_req_error(r, &err, NULL);
        return NULL;
    }
    if (fcgi_auth_allow(r, verb, PQgetvalue(res, 0, 0)) != SB_OK) {
        PQclear(res);
        return NULL;
    }
    return res;
}

int
fcgi_tasks_handle_get(struct fcgi_req *r)
{
    char id[SB_UUID_TEXT_LEN + 1];
    PGresult *res = task_of_path(r, SB_VERB_READ, id);

    if (res == NULL)
        return SB_ERR;
    fcgi_req_reply(r, 200, PQgetvalue(res, 0, 1));
    PQclear(res);
    return SB_OK;
}

int
fcgi_tasks_handle_update(struct fcgi_req *r)
{
    char id[SB_UUID_TEXT_LEN + 1];
    const char *v[3], *params[4];
    struct sb_error err;
    json_t *body;
    PGresult *res;
    int rc = SB_ERR;

    if ((body = fcgi_body_json(r)) == NULL)
        return SB_ERR;
    if (update_args(r, body, v) != SB_OK ||
        (res = task_of_path(r, SB_VERB_PUBLISH, id)) == NULL)
        goto done;
    PQclear(res);
    if (fcgi_publish_rate(r, 1) != SB_OK)
        goto done;
    params[0] = id;
    memcpy(&params[1], v, sizeof(v));
    res = fcgi_db_exec(r->db, UPDATE_SQL, 4, params, false, &err);
    if (res == NULL) {
        fcgi_req_error(r, &err, NULL);
    } else {
        fcgi_req_reply(r, 200, PQgetvalue(res, 0, 0));
        rc = SB_OK;
    }
    PQclear(res);
done:
    json_decref(body);
    return rc;
}

int
fcgi_tasks_handle_stats(struct fcgi_req *r)
{
    const char *channel = fcgi_chan_from_path(r, 1, SB_VERB_READ);
    const char *params[1] = {channel};
    struct sb_error err;
    PGresult *res;

    if (channel == NULL)
        return SB_ERR;
    res = fcgi_db_exec(r->db, STATS_SQL, 1, params, true, &err);
    if (res == NULL)
        return fcgi_req_error(r, &err, NULL);
    fcgi_req_reply(r, 200, PQgetvalue(res, 0, 0));
    PQclear(res);
    return SB_OK;
}

static const char *
state_param(struct fcgi_req *r)
{
    static const char *const states[] = {"queued", "active", "completed",
                                         "failed", "cancelled"};
    const char *state = fcgi_query_get(r->query, "state");

    if (state == NULL)
        return "";
    for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
        if (strcmp(state, states[i]) == 0)
            return states[i];
    }
    fcgi_req_fail(r, SB_E_INVALID_PARAMETER,
                  "invalid parameter: state must be queued, active, "
                  "completed, failed or cancelled");
    return NULL;
}

static int
after_param(struct fcgi_req *r, char *after)
{
    const char *text = fcgi_query_get(r->query, "after");
    struct sb_error err;

    after[0] = '\0';
    if (text != NULL && sb_id_check(text, after, &err) != SB_OK)
        return fcgi_req_fail(r, SB_E_INVALID_PARAMETER,
                             "invalid parameter: after must be a task id");
    return SB_OK;
}

int
fcgi_tasks_handle_list(struct fcgi_req *r)
{
    const char *channel = fcgi_chan_from_path(r, 1, SB_VERB_READ);
    char after[SB_UUID_TEXT_LEN + 1], max[24];
    long long limit = LIST_DEFAULT;
    const char *state, *params[4];
    struct sb_error err;
    PGresult *res;

    if (channel == NULL || (state = state_param(r)) == NULL ||
        fcgi_chan_int_param(r, "limit", 1, SB_HISTORY_MAX,
                            SB_E_INVALID_PARAMETER, &limit) != SB_OK ||
        after_param(r, after) != SB_OK)
        return SB_ERR;
    snprintf(max, sizeof(max), "%lld", limit);
    params[0] = channel;
    params[1] = state[0] != '\0' ? state : NULL;
    params[2] = max;
    params[3] = after[0] != '\0' ? after : NULL;
    res = fcgi_db_exec(r->db, LIST_SQL, 4, params, true, &err);
    if (res == NULL)
        return fcgi_req_error(r, &err, NULL);
    fcgi_req_reply(r, 200, PQgetvalue(res, 0, 0));
    PQclear(res);
    return SB_OK;
}
