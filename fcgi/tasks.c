/*
 * tasks.c: workflow tasks and statistics (see tasks.h).
 */
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "auth.h"
#include "body.h"
#include "chan.h"
#include "db.h"
#include "envelope.h"
#include "tasks.h"
#include "xalloc.h"

#define CREATE_SQL                                                             \
    "SELECT switchboard.task_create($1, $2, $3::jsonb, $4::uuid)::text"
#define UPDATE_SQL "SELECT switchboard.task_update($1::uuid, $2, $3, $4)"
#define STATS_SQL "SELECT switchboard.workflow_stats($1)::text"
#define TEXT_MAX 4096

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
    json_t *body, *metadata = NULL, *task;
    char *meta = NULL;
    struct sb_error err;
    PGresult *res = NULL;
    int rc = SB_ERR;

    if (channel == NULL || (body = fcgi_body_json(r)) == NULL)
        return SB_ERR;
    if (create_args(r, body, &title, &metadata, id) != SB_OK)
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
    task = json_pack("{s:s, s:s, s:s, s:s, s:o}", "id", PQgetvalue(res, 0, 0),
                     "channel", channel, "title", title, "state", "queued",
                     "metadata",
                     metadata != NULL ? json_incref(metadata) : json_object());
    fcgi_req_reply_json(r, 201, task);
    json_decref(task);
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

static json_t *
update_answer(const char *id, const char *const *v)
{
    static const char *const names[] = {"state", "current_step", "error"};
    json_t *o = json_pack("{s:s}", "id", id);

    for (int i = 0; i < 3; i++) {
        if (v[i] != NULL)
            json_object_set_new(o, names[i], json_string(v[i]));
    }
    return o;
}

int
fcgi_tasks_handle_update(struct fcgi_req *r)
{
    char id[SB_UUID_TEXT_LEN + 1];
    const char *v[3], *params[4];
    struct sb_error err;
    json_t *body, *o;
    PGresult *res;
    int rc = SB_ERR;

    if (r->token->role == SB_ROLE_READER ||
        !fcgi_auth_covers_prefix(r->token, "workflow:"))
        return fcgi_req_fail(r, SB_E_FORBIDDEN,
                             "forbidden: changing tasks needs publish on "
                             "workflow:*");
    if (sb_id_check(r->segs[1], id, &err) != SB_OK)
        return fcgi_req_error(r, &err, NULL);
    if ((body = fcgi_body_json(r)) == NULL)
        return SB_ERR;
    if (update_args(r, body, v) == SB_OK) {
        params[0] = id;
        memcpy(&params[1], v, sizeof(v));
        res = fcgi_db_exec(r->db, UPDATE_SQL, 4, params, false, &err);
        if (res == NULL) {
            fcgi_req_error(r, &err, NULL);
        } else {
            o = update_answer(id, v);
            fcgi_req_reply_json(r, 200, o);
            json_decref(o);
            rc = SB_OK;
        }
        PQclear(res);
    }
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

int
fcgi_tasks_handle_list(struct fcgi_req *r)
{
    if (fcgi_chan_from_path(r, 1, SB_VERB_READ) == NULL)
        return SB_ERR;
    return fcgi_req_fail(r, SB_E_INTERNAL,
                         "internal error: listing tasks needs a task_list() "
                         "function this database does not have");
}
