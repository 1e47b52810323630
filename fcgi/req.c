/*
 * req.c: requests and responses over FastCGI or CGI (see req.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fastcgi.h>

#include "app.h"
#include "cgi.h"
#include "log.h"
#include "req.h"
#include "xalloc.h"

/* The base path of every route (PROTOCOL.md section 5.1). */
#define BASE_PATH "/api/v1"

static atomic_ullong next_id = 1;

const char *
fcgi_req_param(const struct fcgi_req *r, const char *name)
{
    if (r->fr != NULL)
        return FCGX_GetParam(name, r->fr->envp);
    return getenv(name);
}

int
fcgi_req_fd(const struct fcgi_req *r)
{
    return r->fr != NULL ? r->fr->ipcFd : -1;
}

/* The raw path after BASE_PATH, up to the query; NULL when elsewhere. */
static const char *
route_part(const char *uri, size_t *len)
{
    const char *p = strstr(uri, BASE_PATH);
    size_t n;

    if (p == NULL)
        return NULL;
    p += strlen(BASE_PATH);
    n = strcspn(p, "?#");
    if (n > 0 && p[0] != '/')
        return NULL;
    *len = n;
    return p;
}

static void
split_path(struct fcgi_req *r, const char *p, size_t len)
{
    size_t i = 0;

    while (i < len) {
        size_t seg;

        while (i < len && p[i] == '/')
            i++;
        if (i == len)
            break;
        seg = strcspn(p + i, "/?#");
        if (seg > len - i)
            seg = len - i;
        if (r->nsegs == FCGI_PATH_SEGMENTS_MAX ||
            (r->segs[r->nsegs] = fcgi_url_decode(p + i, seg, 0)) == NULL) {
            r->bad_path = true;
            return;
        }
        r->nsegs++;
        i += seg;
    }
}

static void
parse_path(struct fcgi_req *r)
{
    const char *uri = fcgi_req_param(r, "REQUEST_URI");
    char *joined = NULL;
    const char *p;
    size_t len = 0;

    if (uri == NULL) {
        /* Some CGI setups: SCRIPT_NAME + PATH_INFO, already decoded. */
        const char *sn = fcgi_req_param(r, "SCRIPT_NAME");
        const char *pi = fcgi_req_param(r, "PATH_INFO");

        joined = sb_asprintf("%s%s", sn ? sn : "", pi ? pi : "");
        uri = joined;
    }
    p = route_part(uri, &len);
    if (p == NULL)
        r->bad_path = true;
    else
        split_path(r, p, len);
    free(joined);
}

struct fcgi_req *
fcgi_req_new(FCGX_Request *fr, struct fcgi_db *db)
{
    struct fcgi_req *r = sb_calloc(1, sizeof(*r));

    r->fr = fr;
    r->db = db;
    r->id = atomic_fetch_add(&next_id, 1);
    r->method = fcgi_req_param(r, "REQUEST_METHOD");
    if (r->method == NULL)
        r->method = "GET";
    parse_path(r);
    r->query = fcgi_query_new(fcgi_req_param(r, "QUERY_STRING"));
    return r;
}

static void
count_status(int status)
{
    if (status >= 100 && status < 600)
        atomic_fetch_add(&fcgi_app.n.by_status[status], 1);
}

/*
 * libfcgi closes a connection (OS_Close, libfcgi 2.4.2) with shutdown()
 * and then poll()s up to LIBFCGI_OS_CLOSE_POLL_TIMEOUT (2 s) for the web
 * server's EOF, so that unread input cannot turn the close into a reset
 * that loses the end of the response. The thread that finishes waits all
 * that time when the peer keeps the connection open; for parked requests
 * that thread is the waiter, and one such peer would hold up every other
 * waiting client. A parked request has read all its input, so: end the
 * response (FCGX_FClose writes the end-of-stream and FCGI_END_REQUEST
 * records), drain what arrived since without waiting, and let libfcgi
 * close without shutdown and poll (detached).
 */
static void
finish_without_linger(FCGX_Request *fr)
{
    char trash[1024];

    if (fr->out != NULL) {
        FCGX_FClose(fr->err);
        FCGX_FClose(fr->out);
    }
    while (fr->ipcFd >= 0 &&
           recv(fr->ipcFd, trash, sizeof(trash), MSG_DONTWAIT) > 0)
        ;
    fr->detached = 1;
}

/* --- parking: what a waiting request keeps --- */

/*
 * libfcgi gives every request an 8 KiB input and an 8 KiB output stream
 * buffer and its parameters (fcgiapp.c: FCGX_Accept_r), and frees them
 * only all together (FCGX_Free). A parked request has read all its input
 * and, for a long-poll, writes its whole answer once at the end. So once
 * it is parked, FCGX_Free(fr, 0) releases streams and parameters but
 * leaves the connection open (ipcFd, requestId stay); a stream (SSE) puts
 * its output streams back afterwards, as it writes for as long as it
 * lives. A long-poll's answer is gathered in r->output and sent by
 * send_records: the FCGI_STDOUT records, the empty one that ends the
 * stream and FCGI_END_REQUEST, as fcgiapp.c's writer would have sent.
 */
static void
free_streams(FCGX_Request *fr, bool keep_output)
{
    FCGX_Stream *out = fr->out, *err = fr->err;

    if (keep_output)
        fr->out = fr->err = NULL;
    FCGX_Free(fr, 0);
    fr->envp = NULL;
    if (keep_output) {
        fr->out = out;
        fr->err = err;
    }
}

static void
free_parsed(struct fcgi_req *r)
{
    for (size_t i = 0; i < r->nsegs; i++)
        free(r->segs[i]);
    r->nsegs = 0;
    fcgi_query_free(r->query);
    r->query = NULL;
    free(r->body);
    r->body = NULL;
    sb_token_free(r->token);
    r->token = NULL;
}

void
fcgi_req_park(struct fcgi_req *r, bool keep_output)
{
    r->parked = true;
    r->db = NULL; /* the worker's */
    if (r->cors_origin != NULL)
        r->cors_origin = r->origin_copy = sb_strdup(r->cors_origin);
    r->method = NULL; /* it pointed into the parameters */
    free_parsed(r);
    if (r->fr != NULL)
        free_streams(r->fr, keep_output);
}

/* Most content in one record: FCGI_MAX_LENGTH rounded down to 8. */
#define RECORD_CONTENT_MAX (FCGI_MAX_LENGTH & ~7)

static void
put_header(struct sb_strbuf *b, int type, int id, size_t len, size_t pad)
{
    FCGI_Header h = {FCGI_VERSION_1,
                     (unsigned char)type,
                     (unsigned char)(id >> 8),
                     (unsigned char)id,
                     (unsigned char)(len >> 8),
                     (unsigned char)len,
                     (unsigned char)pad,
                     0};

    sb_strbuf_put(b, (const char *)&h, sizeof(h));
}

/* Write all of buf to fd (blocking): SB_OK, or SB_ERR when it fails. */
static int
write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return SB_ERR;
        buf += n;
        len -= (size_t)n;
    }
    return SB_OK;
}

/* The response in out as FastCGI records, written to the connection. */
static int
send_records(FCGX_Request *fr, const struct sb_strbuf *out)
{
    static const char zeros[8];
    FCGI_EndRequestBody end = {0, 0, 0, 0, FCGI_REQUEST_COMPLETE, {0}};
    struct sb_strbuf b = {0};
    int rc;

    for (size_t at = 0; at < out->len; at += RECORD_CONTENT_MAX) {
        size_t n = out->len - at < RECORD_CONTENT_MAX ? out->len - at
                                                      : RECORD_CONTENT_MAX;
        size_t pad = (8 - n % 8) % 8;

        put_header(&b, FCGI_STDOUT, fr->requestId, n, pad);
        sb_strbuf_put(&b, out->data + at, n);
        sb_strbuf_put(&b, zeros, pad);
    }
    put_header(&b, FCGI_STDOUT, fr->requestId, 0, 0);
    put_header(&b, FCGI_END_REQUEST, fr->requestId, sizeof(end), 0);
    sb_strbuf_put(&b, (const char *)&end, sizeof(end));
    rc = write_all(fr->ipcFd, b.data, b.len);
    sb_strbuf_release(&b);
    return rc;
}

static bool
slimmed(const struct fcgi_req *r)
{
    return r->fr != NULL && r->parked && r->fr->out == NULL;
}

void
fcgi_req_finish(struct fcgi_req *r)
{
    if (r == NULL)
        return;
    count_status(r->status);
    if (slimmed(r) && !r->failed)
        send_records(r->fr, &r->output);
    if (r->fr != NULL) {
        if (r->parked)
            finish_without_linger(r->fr);
        FCGX_Finish_r(r->fr);
        FCGX_Free(r->fr, 1);
        free(r->fr);
    } else {
        fcgi_cgi_done();
    }
    free_parsed(r);
    sb_strbuf_release(&r->output);
    free(r->origin_copy);
    free(r);
}

/* --- body --- */

static long
read_some(struct fcgi_req *r, char *buf, size_t n)
{
    ssize_t got;

    if (r->fr != NULL)
        return FCGX_GetStr(buf, (int)n, r->fr->in);
    do
        got = read(STDIN_FILENO, buf, n);
    while (got < 0 && errno == EINTR);
    return (long)got;
}

int
fcgi_req_read_body(struct fcgi_req *r, long long max, struct sb_error *err)
{
    const char *cl = fcgi_req_param(r, "CONTENT_LENGTH");
    long long want = cl != NULL && *cl != '\0' ? strtoll(cl, NULL, 10) : 0;
    size_t have = 0;

    if (want < 0)
        return sb_error_set(err, SB_E_BAD_REQUEST,
                            "bad request: bad content length");
    if (want > max)
        return sb_error_set(err, SB_E_TOO_LARGE,
                            "too large: body of %lld bytes, at most %lld",
                            want, max);
    r->body = sb_malloc((size_t)want + 1);
    while (have < (size_t)want) {
        long got = read_some(r, r->body + have, (size_t)want - have);

        if (got <= 0)
            return sb_error_set(err, SB_E_BAD_REQUEST,
                                "bad request: body shorter than its length");
        have += (size_t)got;
    }
    r->body[have] = '\0';
    r->body_len = have;
    return SB_OK;
}

/* --- writing --- */

int
fcgi_req_write(struct fcgi_req *r, const char *buf, size_t len)
{
    int rc;

    if (r->failed)
        return SB_ERR;
    if (slimmed(r)) {
        sb_strbuf_put(&r->output, buf, len);
        return SB_OK;
    }
    if (r->fr != NULL)
        rc = FCGX_PutStr(buf, (int)len, r->fr->out) == (int)len ? SB_OK
                                                               : SB_ERR;
    else
        rc = write_all(STDOUT_FILENO, buf, len);
    if (rc != SB_OK)
        r->failed = true;
    return rc;
}

int
fcgi_req_puts(struct fcgi_req *r, const char *s)
{
    return fcgi_req_write(r, s, strlen(s));
}

int
fcgi_req_flush(struct fcgi_req *r)
{
    if (r->failed)
        return SB_ERR;
    if (r->fr != NULL && !slimmed(r) && FCGX_FFlush(r->fr->out) != 0) {
        r->failed = true;
        return SB_ERR;
    }
    return SB_OK;
}

static const char *
reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 503: return "Service Unavailable";
    default: return status >= 500 ? "Internal Server Error" : "Status";
    }
}

int
fcgi_req_head(struct fcgi_req *r, int status, const char *content_type,
              const char *extra)
{
    char *head;
    int rc;

    SB_ASSERT(!r->head_sent);
    r->head_sent = true;
    r->status = status;
    head = sb_asprintf(
        "Status: %d %s\r\nContent-Type: %s\r\nCache-Control: no-store\r\n"
        "%s%s%s%s\r\n",
        status, reason(status), content_type,
        r->cors_origin != NULL ? "Access-Control-Allow-Origin: " : "",
        r->cors_origin != NULL ? r->cors_origin : "",
        r->cors_origin != NULL
            ? "\r\nVary: Origin\r\nAccess-Control-Allow-Credentials: true\r\n"
            : "",
        extra != NULL ? extra : "");
    rc = fcgi_req_puts(r, head);
    free(head);
    return rc;
}

int
fcgi_req_reply(struct fcgi_req *r, int status, const char *body)
{
    if (fcgi_req_head(r, status, "application/json; charset=utf-8", NULL) !=
        SB_OK)
        return SB_ERR;
    return fcgi_req_puts(r, body);
}

int
fcgi_req_reply_json(struct fcgi_req *r, int status, const json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
    int rc = fcgi_req_reply(r, status, text);

    free(text);
    return rc;
}

static const char *
error_headers(enum sb_errcode code)
{
    switch (code) {
    case SB_E_UNAUTHORIZED:
    case SB_E_TOKEN_EXPIRED:
        return "WWW-Authenticate: Bearer realm=\"switchboard\"\r\n";
    case SB_E_RATE_LIMITED:
    case SB_E_UNAVAILABLE:
        return "Retry-After: 1\r\n";
    default:
        return NULL;
    }
}

int
fcgi_req_error_with(struct fcgi_req *r, const struct sb_error *err,
                    const json_t *extra, const char *headers)
{
    json_t *inner = json_pack("{s:s, s:s}", "code", sb_errcode_name(err->code),
                              "message", err->message);
    json_t *o;
    char *text;
    int status = sb_errcode_http_status(err->code);

    if (extra != NULL)
        json_object_update(inner, (json_t *)(uintptr_t)extra);
    o = json_pack("{s:o}", "error", inner);
    text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (status >= 500)
        sb_log_warn("req %llu: %d %s", (unsigned long long)r->id, status,
                    err->message);
    else
        sb_log_debug("req %llu: %d %s", (unsigned long long)r->id, status,
                     err->message);
    if (fcgi_req_head(r, status, "application/json; charset=utf-8",
                      headers) == SB_OK)
        fcgi_req_puts(r, text);
    free(text);
    json_decref(o);
    return SB_ERR;
}

int
fcgi_req_error(struct fcgi_req *r, const struct sb_error *err,
               const json_t *extra)
{
    return fcgi_req_error_with(r, err, extra, error_headers(err->code));
}

int
fcgi_req_fail(struct fcgi_req *r, enum sb_errcode code, const char *fmt, ...)
{
    struct sb_error err;
    va_list ap;

    err.code = code;
    if (fmt == NULL) {
        snprintf(err.message, sizeof(err.message), "%s",
                 sb_errcode_message(code));
    } else {
        va_start(ap, fmt);
        vsnprintf(err.message, sizeof(err.message), fmt, ap);
        va_end(ap);
    }
    return fcgi_req_error(r, &err, NULL);
}

int
fcgi_req_method_not_allowed(struct fcgi_req *r, const char *allow)
{
    struct sb_error err;
    char *headers = sb_asprintf("Allow: %s, OPTIONS\r\n", allow);

    sb_error_set(&err, SB_E_METHOD_NOT_ALLOWED,
                 "method not allowed: %s (allowed: %s)", r->method, allow);
    fcgi_req_error_with(r, &err, NULL, headers);
    free(headers);
    return SB_ERR;
}
