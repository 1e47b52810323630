/*
 * req.h: one HTTP request as switchboard-fcgi sees it, over FastCGI (an
 * FCGX_Request from the re-entrant fcgiapp.h API) or over CGI (stdin,
 * stdout and the environment). The request's parameters, its path split
 * into decoded segments, its query, its body, its token, and the writing
 * of responses: JSON answers, JSON errors with the status and headers of
 * docs/PROTOCOL.md section 5.1, and the raw writes that streams use.
 *
 * Ownership: a worker thread owns a request until it finishes it
 * (fcgi_req_finish) or parks it (the waiter thread owns it from then on,
 * and a release thread finishes it). Exactly one thread touches a request
 * at a time.
 */
#ifndef FCGI_REQ_H
#define FCGI_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <fcgiapp.h>
#include <jansson.h>

#include "strbuf.h"
#include "error.h"
#include "query.h"
#include "token.h"

struct fcgi_db;

/* Most path segments after /api/v1 that a route can have. */
#define FCGI_PATH_SEGMENTS_MAX 8

struct fcgi_req {
    FCGX_Request *fr; /* NULL in CGI mode */
    uint64_t id;      /* for log lines */
    const char *method;
    char *segs[FCGI_PATH_SEGMENTS_MAX]; /* decoded, owned */
    size_t nsegs;
    bool bad_path; /* not under /api/v1, or a segment that is not text */
    struct fcgi_query *query;
    char *body; /* NUL-terminated, owned; NULL when not read */
    size_t body_len;
    struct sb_token *token; /* set by fcgi_auth; owned */
    const char *cors_origin; /* an allowed Origin to echo, or NULL */
    struct fcgi_db *db;      /* the worker thread's connection */
    int status;              /* of the response, once its head is out */
    bool head_sent;
    bool failed; /* a write failed: the client went away */
    bool parked; /* handed to the waiter: all its input has been read */
    char *origin_copy;      /* cors_origin once parked; owned */
    struct sb_strbuf output; /* the response of a slimmed request */
};

/* A new request over fr (NULL: CGI, from the environment). Parses the
 * path and query; never fails (a bad path gives bad_path). */
struct fcgi_req *fcgi_req_new(FCGX_Request *fr, struct fcgi_db *db);
/* Finish the request towards the web server (FCGX_Finish_r and
 * FCGX_Free(fr, 1) in FastCGI mode, flushing stdout in CGI mode) and
 * release it. A parked request is closed without libfcgi's lingering
 * wait for the web server's EOF (see req.c). NULL does nothing. */
void fcgi_req_finish(struct fcgi_req *r);

/* r is about to wait off its thread: release what it no longer needs
 * (path, query, body, token; libfcgi's input stream and parameters, and
 * with keep_output false its output streams as well) so that a waiting
 * request costs little memory. Parameters read NULL from then on; with
 * keep_output false the response is gathered in r->output and sent as
 * FastCGI records by fcgi_req_finish. */
void fcgi_req_park(struct fcgi_req *r, bool keep_output);

/* A request parameter (HTTP_ORIGIN, REQUEST_METHOD, ...), or NULL. */
const char *fcgi_req_param(const struct fcgi_req *r, const char *name);
/* The descriptor of the web server's connection, or -1 in CGI mode. */
int fcgi_req_fd(const struct fcgi_req *r);

/* Read the body: SB_OK with r->body set (at most max bytes, else 413
 * too_large, without reading it), or SB_ERR with err set. */
int fcgi_req_read_body(struct fcgi_req *r, long long max,
                       struct sb_error *err);

/* Write raw bytes / a string to the response. SB_OK or SB_ERR (the client
 * went away; r->failed is then set and later writes do nothing). */
int fcgi_req_write(struct fcgi_req *r, const char *buf, size_t len);
int fcgi_req_puts(struct fcgi_req *r, const char *s);
/* Push what is buffered to the web server. SB_OK or SB_ERR as above. */
int fcgi_req_flush(struct fcgi_req *r);

/* The head of a response: "Status:", Content-Type, Cache-Control, the
 * CORS headers when the origin was allowed, and extra (a string of
 * "Name: value\r\n" lines, may be NULL). */
int fcgi_req_head(struct fcgi_req *r, int status, const char *content_type,
                  const char *extra);
/* A whole JSON response: the head and body (a compact JSON text). */
int fcgi_req_reply(struct fcgi_req *r, int status, const char *body);
/* The same for a jansson value (borrowed). */
int fcgi_req_reply_json(struct fcgi_req *r, int status, const json_t *body);
/* The JSON error of err with its status and headers (401:
 * WWW-Authenticate, 429 and 503: Retry-After 1). extra members (may be
 * NULL, borrowed) are added to the error object. Returns SB_ERR, so
 * handlers can "return fcgi_req_error(...)". */
int fcgi_req_error(struct fcgi_req *r, const struct sb_error *err,
                   const json_t *extra);
/* The same with the given extra header lines instead of the default. */
int fcgi_req_error_with(struct fcgi_req *r, const struct sb_error *err,
                        const json_t *extra, const char *headers);
/* An error from a code and a printf message (NULL: the default). */
int fcgi_req_fail(struct fcgi_req *r, enum sb_errcode code, const char *fmt,
                  ...) __attribute__((format(printf, 3, 4)));
/* 405 with an Allow header listing allow (e.g. "GET, POST"). */
int fcgi_req_method_not_allowed(struct fcgi_req *r, const char *allow);

#endif
