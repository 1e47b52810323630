/*
 * publish.c: publish and signal handlers (see publish.h).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "body.h"
#include "strbuf.h"
#include "chan.h"
#include "commit.h"
#include "db.h"
#include "envelope.h"
#include "limits.h"
#include "publish.h"
#include "ratelimit.h"
#include "xalloc.h"

#define SIGNAL_SQL                                                             \
    "SELECT switchboard.signal($1, $2, $3::jsonb, $4)::text"

/* The body's channel, when repeated, must be the path's; then it is set
 * to the path's so the envelope parser sees a whole event. */
static int
put_channel(struct fcgi_req *r, json_t *obj, const char *channel, size_t index,
            bool batch)
{
    json_t *c = json_object_get(obj, "channel");
    char where[32] = "";

    if (c == NULL || (json_is_string(c) &&
                      strcmp(json_string_value(c), channel) == 0)) {
        json_object_set_new(obj, "channel", json_string(channel));
        return SB_OK;
    }
    if (batch)
        snprintf(where, sizeof(where), "event %zu: ", index);
    return fcgi_req_fail(r, SB_E_BAD_REQUEST,
                         "%sbad request: \"channel\" differs from the path",
                         where);
}

int
fcgi_publish_rate(struct fcgi_req *r, long long n)
{
    long long retry_ms = 0;
    struct sb_error err;
    char headers[48];

    if (fcgi_ratelimit_take(r->token->sender, n, &retry_ms) == SB_OK)
        return SB_OK;
    atomic_fetch_add(&fcgi_app.n.rate_limited, 1);
    snprintf(headers, sizeof(headers), "Retry-After: %lld\r\n",
             (retry_ms + 999) / 1000);
    sb_error_set(&err, SB_E_RATE_LIMITED,
                 "rate limited: %lld events/s, burst %lld",
                 fcgi_app.conf.publish_rate, fcgi_app.conf.publish_burst);
    return fcgi_req_error_with(r, &err, NULL, headers);
}

/* --- one event --- */

/* The Idempotency-Key header: its UUID into ev->id (422 if not a UUID,
 * 400 if the body has another id). */
static int
idempotency_key(struct fcgi_req *r, struct sb_event *ev)
{
    const char *key = fcgi_req_param(r, "HTTP_IDEMPOTENCY_KEY");
    char id[SB_UUID_TEXT_LEN + 1];
    struct sb_error err;

    if (key == NULL)
        return SB_OK;
    if (sb_id_check(key, id, &err) != SB_OK)
        return fcgi_req_error(r, &err, NULL);
    if (ev->id[0] != '\0' && strcmp(ev->id, id) != 0)
        return fcgi_req_fail(r, SB_E_BAD_REQUEST,
                             "bad request: Idempotency-Key differs from "
                             "\"id\"");
    memcpy(ev->id, id, sizeof(id));
    return SB_OK;
}

static int
publish_one(struct fcgi_req *r, json_t *body, const char *channel)
{
    struct sb_event *ev = NULL;
    struct sb_error err;
    int rc;

    if (put_channel(r, body, channel, 0, false) != SB_OK)
        return SB_ERR;
    if (sb_event_from_json(body, (size_t)fcgi_app.common.max_data_bytes, &ev,
                           &err) != SB_OK)
        return fcgi_req_error(r, &err, NULL);
    rc = idempotency_key(r, ev);
    if (rc == SB_OK)
        rc = fcgi_publish_rate(r, 1);
    if (rc == SB_OK)
        rc = fcgi_commit_publish(r, &ev, 1, true);
    sb_event_free(ev);
    return rc;
}

/* --- a batch --- */

static int
batch_error(struct fcgi_req *r, const struct sb_error *err, long index)
{
    json_t *extra = index >= 0 ? json_pack("{s:I}", "index", (json_int_t)index)
                               : NULL;

    fcgi_req_error(r, err, extra);
    json_decref(extra);
    return SB_ERR;
}

static int
check_batch(struct fcgi_req *r, json_t *body, json_t *events,
            const char *channel)
{
    static const char *const known[] = {"events", "channel", NULL};
    json_t *c = json_object_get(body, "channel");

    if (fcgi_body_known(r, body, known) != SB_OK)
        return SB_ERR;
    if (c != NULL &&
        (!json_is_string(c) || strcmp(json_string_value(c), channel) != 0))
        return fcgi_req_fail(r, SB_E_BAD_REQUEST,
                             "bad request: \"channel\" differs from the path");
    if (fcgi_req_param(r, "HTTP_IDEMPOTENCY_KEY") != NULL)
        return fcgi_req_fail(r, SB_E_BAD_REQUEST,
                             "bad request: Idempotency-Key is for one event, "
                             "not a batch");
    if (!json_is_array(events))
        return fcgi_req_fail(r, SB_E_BAD_REQUEST,
                             "bad request: \"events\" must be an array");
    for (size_t i = 0; i < json_array_size(events); i++) {
        json_t *e = json_array_get(events, i);

        if (json_is_object(e) && put_channel(r, e, channel, i, true) != SB_OK)
            return SB_ERR;
    }
    return SB_OK;
}

static int
publish_batch(struct fcgi_req *r, json_t *body, const char *channel)
{
    json_t *events = json_object_get(body, "events");
    struct sb_event_batch *batch = NULL;
    struct sb_error err;
    size_t bad;
    int rc;

    if (check_batch(r, body, events, channel) != SB_OK)
        return SB_ERR;
    if (sb_event_batch_from_json(events, (size_t)fcgi_app.common.max_data_bytes,
                                 &batch, &bad, &err) != SB_OK)
        return batch_error(r, &err, bad == SB_BATCH_NO_INDEX ? -1 : (long)bad);
    rc = fcgi_publish_rate(r, (long long)batch->count);
    if (rc == SB_OK)
        rc = fcgi_commit_publish(r, batch->events, batch->count, false);
    sb_event_batch_free(batch);
    return rc;
}

int
fcgi_publish_handle_events(struct fcgi_req *r)
{
    const char *channel = fcgi_chan_from_path(r, 1, SB_VERB_PUBLISH);
    json_t *body;
    int rc;

    if (channel == NULL || (body = fcgi_body_json(r)) == NULL)
        return SB_ERR;
    if (json_object_get(body, "events") != NULL)
        rc = publish_batch(r, body, channel);
    else
        rc = publish_one(r, body, channel);
    json_decref(body);
    return rc;
}

/* --- signals --- */

static int
send_signal(struct fcgi_req *r, const struct sb_event *ev)
{
    const char *params[4] = {ev->channel, ev->type, ev->data_text,
                             r->token->sender};
    struct sb_error err;
    PGresult *res = fcgi_db_exec(r->db, SIGNAL_SQL, 4, params, false, &err);
    char id[SB_UUID_TEXT_LEN + 1] = "";
    char *body;

    if (res == NULL)
        return fcgi_req_error(r, &err, NULL);
    atomic_fetch_add(&fcgi_app.n.signals, 1);
    json_t *sig = json_loads(PQgetvalue(res, 0, 0), 0, NULL);

    snprintf(id, sizeof(id), "%s",
             json_string_value(json_object_get(sig, "id")) ?: "");
    json_decref(sig);
    PQclear(res);
    body = sb_asprintf("{\"channel\":\"%s\",\"seq\":null,\"id\":\"%s\"}",
                       ev->channel, id);
    fcgi_req_reply(r, 202, body);
    free(body);
    return SB_OK;
}

int
fcgi_publish_handle_signal(struct fcgi_req *r)
{
    const char *channel = fcgi_chan_from_path(r, 1, SB_VERB_SIGNAL);
    struct sb_event *ev = NULL;
    struct sb_error err;
    json_t *body;
    int rc = SB_ERR;

    if (channel == NULL || (body = fcgi_body_json(r)) == NULL)
        return SB_ERR;
    if (json_object_get(body, "id") != NULL)
        fcgi_req_fail(r, SB_E_BAD_REQUEST,
                      "bad request: a signal's id is always generated");
    else if (put_channel(r, body, channel, 0, false) != SB_OK)
        ;
    else if (sb_event_from_json(body, (size_t)fcgi_app.common.max_data_bytes,
                                &ev, &err) != SB_OK)
        fcgi_req_error(r, &err, NULL);
    else if (fcgi_publish_rate(r, 1) == SB_OK)
        rc = send_signal(r, ev);
    sb_event_free(ev);
    json_decref(body);
    return rc;
}
