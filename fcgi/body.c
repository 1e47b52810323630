/*
 * body.c: reading and parsing JSON request bodies (see body.h).
 */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "xalloc.h"
#include "app.h"
#include "body.h"

/* "application/json" with nothing after it but "; charset=utf-8". */
static bool
is_json_type(const char *ct)
{
    const char *p;

    if (ct == NULL || strncasecmp(ct, "application/json", 16) != 0)
        return false;
    p = ct + 16;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '\0')
        return true;
    if (*p++ != ';')
        return false;
    while (*p == ' ' || *p == '\t')
        p++;
    if (strncasecmp(p, "charset=", 8) != 0)
        return false;
    p += 8;
    if (*p == '"')
        p++;
    if (strncasecmp(p, "utf-8", 5) != 0)
        return false;
    p += 5;
    if (*p == '"')
        p++;
    while (*p == ' ' || *p == '\t')
        p++;
    return *p == '\0';
}

static void
load_error(struct fcgi_req *r, const json_error_t *je)
{
    switch (json_error_code(je)) {
    case json_error_invalid_utf8:
        fcgi_req_fail(r, SB_E_INVALID_UTF8, "invalid utf-8: %s", je->text);
        break;
    case json_error_numeric_overflow:
        fcgi_req_fail(r, SB_E_INVALID_DATA, "invalid data: number out of range");
        break;
    case json_error_stack_overflow:
        fcgi_req_fail(r, SB_E_INVALID_DATA, "invalid data: nested too deep");
        break;
    default:
        fcgi_req_fail(r, SB_E_INVALID_JSON, "invalid json: %s", je->text);
    }
}

static json_t *
parse(struct fcgi_req *r)
{
    json_error_t je;
    /* U+0000 passes the parser so the event checks can say where it is. */
    json_t *root = json_loadb(r->body, r->body_len,
                              JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);

    if (root == NULL) {
        load_error(r, &je);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        fcgi_req_fail(r, SB_E_BAD_REQUEST,
                      "bad request: the body must be a JSON object");
        return NULL;
    }
    return root;
}

json_t *
fcgi_body_json(struct fcgi_req *r)
{
    struct sb_error err;

    if (!is_json_type(fcgi_req_param(r, "CONTENT_TYPE"))) {
        fcgi_req_fail(r, SB_E_UNSUPPORTED_MEDIA_TYPE,
                      "unsupported media type: send application/json");
        return NULL;
    }
    if (fcgi_req_read_body(r, fcgi_app.conf.max_body_bytes, &err) != SB_OK) {
        fcgi_req_error(r, &err, NULL);
        return NULL;
    }
    return parse(r);
}

int
fcgi_body_known(struct fcgi_req *r, const json_t *obj,
                const char *const *known)
{
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)(uintptr_t)obj, key, v)
    {
        size_t i = 0;

        while (known[i] != NULL && strcmp(known[i], key) != 0)
            i++;
        if (known[i] == NULL)
            return fcgi_req_fail(r, SB_E_BAD_REQUEST,
                                 "bad request: unknown member \"%.64s\"", key);
    }
    return SB_OK;
}
