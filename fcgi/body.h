/*
 * body.h: JSON request bodies (PROTOCOL.md section 5.1): the content type
 * must be application/json, optionally with charset=utf-8 (415 otherwise);
 * at most max_body_bytes (413, not read); valid UTF-8 (invalid_utf8), JSON
 * without duplicate keys (invalid_json), and a JSON object (bad_request).
 */
#ifndef FCGI_BODY_H
#define FCGI_BODY_H

#include <jansson.h>

#include "req.h"

/* The body of r as a new JSON object the caller releases with json_decref,
 * or NULL after answering the error. */
json_t *fcgi_body_json(struct fcgi_req *r);
/* SB_OK when every member of obj is in known (NULL-terminated), else
 * SB_ERR after answering 400 bad_request naming the first unknown one. */
int fcgi_body_known(struct fcgi_req *r, const json_t *obj,
                    const char *const *known);

#endif
