/*
 * node.c: the node's rows and audit records (see node.h). Node and
 * presence writes go on the writer connection, so a heartbeat is always in
 * the database before the presence rows that need it; the namespaces that
 * keep presence are read on any connection. Audit records need no order:
 * they go in statements of at most AUDIT_CHUNK rows to the least busy
 * connection, so that a burst of connects and disconnects never makes one
 * big statement that publishes would wait behind on the writer.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "log.h"
#include "node.h"
#include "server.h"
#include "strbuf.h"
#include "wsd.h"
#include "xalloc.h"

#define HEARTBEAT_SQL                                                          \
    "SELECT switchboard.node_heartbeat($1, 'wsd', $2, $3::integer, "           \
    "$4::integer, $5::integer, $6::jsonb)"
#define PRUNE_SQL "SELECT switchboard.prune_nodes()"
/* The database decides whether the namespace keeps presence, so a join
 * sent before the list below is known (or after the policy changed) is
 * right all the same. */
#define JOIN_SQL                                                               \
    "SELECT switchboard.presence_join($1, $2, $3, $4) WHERE "                  \
    "split_part($3, ':', 1) IN (SELECT switchboard.presence_namespaces())"
#define PRESENCE_NS_SQL "SELECT switchboard.presence_namespaces()"
#define LEAVE_SQL "SELECT switchboard.presence_leave($1, $2, $3)"
#define GONE_SQL "SELECT switchboard.node_gone($1)"
#define AUDIT_SQL "SELECT switchboard.audit_records($1::jsonb)"
/* Prune dead nodes every this many heartbeats. */
#define PRUNE_EVERY 3
/* Audit records are written in statements of AUDIT_CHUNK rows as soon as
 * that many wait, and what is left at most AUDIT_FLUSH_MS after it was
 * recorded. While AUDIT_INFLIGHT_MAX statements are unanswered, records
 * wait in memory, at most AUDIT_MAX of them (more are counted and dropped:
 * the audit trail must not take the daemon down under a connection storm
 * that the database cannot keep up with). */
#define AUDIT_FLUSH_MS 1000
#define AUDIT_MAX 10000
/* Rows per audit statement: about 150 bytes each, so a statement stays
 * well inside a socket's send buffer and takes a few milliseconds. */
#define AUDIT_CHUNK 250
#define AUDIT_INFLIGHT_MAX 40

/* Namespaces whose channels list their subscribers, as the database's
 * presence_namespaces() last said (read at every heartbeat); NULL until
 * it answered once. */
static char **presence_ns;

static lws_sorted_usec_list_t heartbeat_sul;
static lws_sorted_usec_list_t audit_sul;
static unsigned beats;
/* Records waiting, as JSON objects each followed by a comma; ends[i] is
 * the offset just past record i's comma. */
static struct {
    struct sb_strbuf text;
    size_t *ends;
    size_t n;
} audit;
static unsigned long audit_dropped;
static unsigned audit_inflight;

static void
logged(PGresult *res, const struct sb_error *err, void *arg)
{
    if (res == NULL)
        sb_log_warn("node: %s failed: %s", (const char *)arg, err->message);
}

static void
write_query(const char *sql, int n, const char *const *params,
            const char *what)
{
    if (wsd_db_write(sql, n, params, logged, (void *)(uintptr_t)what) != SB_OK)
        sb_log_debug("node: %s skipped: database unreachable", what);
}

/* --- heartbeat --- */

static void presence_ns_read(void);

static void
heartbeat(void)
{
    char pid[16], conns[24], subs[24], *detail;
    const char *params[6];

    snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    snprintf(conns, sizeof(conns), "%lld", wsd_srv.nconns);
    snprintf(subs, sizeof(subs), "%lld", wsd_srv.nsubs);
    detail = sb_asprintf("{\"version\":\"%s\",\"port\":%lld}",
                         PACKAGE_VERSION, wsd_srv.conf.listen_port);
    params[0] = wsd_srv.common.node_id;
    params[1] = wsd_srv.host;
    params[2] = pid;
    params[3] = conns;
    params[4] = subs;
    params[5] = detail;
    write_query(HEARTBEAT_SQL, 6, params, "heartbeat");
    free(detail);
    if (beats++ % PRUNE_EVERY == 0)
        write_query(PRUNE_SQL, 0, NULL, "prune_nodes");
    presence_ns_read();
}

static void
heartbeat_cb(lws_sorted_usec_list_t *sul)
{
    if (wsd_srv.phase == WSD_RUNNING)
        heartbeat();
    wsd_timer_schedule(&heartbeat_sul, heartbeat_cb,
                       wsd_srv.common.heartbeat_interval_ms * LWS_US_PER_MS);
}

void
wsd_node_db_up(void)
{
    heartbeat();
    wsd_timer_schedule(&heartbeat_sul, heartbeat_cb,
                       wsd_srv.common.heartbeat_interval_ms * LWS_US_PER_MS);
}

void
wsd_node_stop(void)
{
    lws_sul_cancel(&heartbeat_sul);
    lws_sul_cancel(&audit_sul);
    sb_strbuf_release(&audit.text);
    free(audit.ends);
    audit.ends = NULL;
    audit.n = 0;
    sb_config_list_free(presence_ns);
    presence_ns = NULL;
}

/* --- presence --- */

static void
presence_ns_done(PGresult *res, const struct sb_error *err, void *arg)
{
    char **list;

    if (res == NULL) {
        sb_log_warn("node: presence_namespaces failed: %s", err->message);
        return;
    }
    list = sb_calloc((size_t)PQntuples(res) + 1, sizeof(*list));
    for (int i = 0; i < PQntuples(res); i++)
        list[i] = sb_strdup(PQgetvalue(res, i, 0));
    sb_config_list_free(presence_ns);
    presence_ns = list;
}

static void
presence_ns_read(void)
{
    if (wsd_db_read(PRESENCE_NS_SQL, 0, NULL, presence_ns_done, NULL) != SB_OK)
        sb_log_debug("node: presence_namespaces skipped: database "
                     "unreachable");
}

/* Whether a join must be sent for channel: yes when its namespace keeps
 * presence, and while that is not known yet (JOIN_SQL checks again). */
static bool
has_presence(const char *channel)
{
    size_t len = strcspn(channel, ":");

    if (presence_ns == NULL)
        return true;
    for (char **ns = presence_ns; *ns != NULL; ns++) {
        if (strlen(*ns) == len && strncmp(*ns, channel, len) == 0)
            return true;
    }
    return false;
}

bool
wsd_node_presence_join(struct wsd_conn *c, const char *channel)
{
    const char *params[4];

    if (c->token == NULL || !has_presence(channel))
        return false;
    params[0] = wsd_srv.common.node_id;
    params[1] = c->idtext;
    params[2] = channel;
    params[3] = sb_token_sender(c->token);
    write_query(JOIN_SQL, 4, params, "presence_join");
    return true;
}

void
wsd_node_presence_leave(struct wsd_conn *c, const char *channel)
{
    const char *params[3] = {wsd_srv.common.node_id, c->idtext, channel};

    write_query(LEAVE_SQL, 3, params, "presence_leave");
}

/* --- audit --- */

static void audit_write(bool all);

/* A statement came back: records held back by AUDIT_INFLIGHT_MAX go on
 * (all of them once the node is stopping, so shutdown waits for them). */
static void
audit_done(PGresult *res, const struct sb_error *err, void *arg)
{
    audit_inflight--;
    logged(res, err, arg);
    if (audit.n > 0)
        audit_write(wsd_srv.phase != WSD_RUNNING);
}

/* Waiting records [from, from + n) as one statement. */
static void
audit_send(size_t from, size_t n)
{
    struct sb_strbuf chunk = {NULL, 0, 0};
    size_t start = from > 0 ? audit.ends[from - 1] : 0;
    size_t end = audit.ends[from + n - 1];
    const char *params[1];

    sb_strbuf_reserve(&chunk, end - start + 1);
    sb_strbuf_putc(&chunk, '[');
    /* Without the last record's comma. */
    sb_strbuf_put(&chunk, audit.text.data + start, end - start - 1);
    sb_strbuf_putc(&chunk, ']');
    params[0] = chunk.data;
    if (wsd_db_read(AUDIT_SQL, 1, params, audit_done,
                    (void *)(uintptr_t) "audit") == SB_OK)
        audit_inflight++;
    else
        sb_log_debug("node: audit skipped: database unreachable");
    sb_strbuf_release(&chunk);
}

/* Send what waits: whole chunks only unless all is true; then forget what
 * was sent (one move of what is left). */
static void
audit_write(bool all)
{
    size_t i = 0, end;

    while (audit.n - i >= (all ? 1 : AUDIT_CHUNK) &&
           audit_inflight < AUDIT_INFLIGHT_MAX) {
        size_t k = audit.n - i < AUDIT_CHUNK ? audit.n - i : AUDIT_CHUNK;

        audit_send(i, k);
        i += k;
    }
    if (i == 0)
        return;
    end = audit.ends[i - 1];
    memmove(audit.text.data, audit.text.data + end, audit.text.len - end + 1);
    audit.text.len -= end;
    audit.n -= i;
    for (size_t j = 0; j < audit.n; j++)
        audit.ends[j] = audit.ends[j + i] - end;
}

static void
audit_flush(lws_sorted_usec_list_t *sul)
{
    lws_sul_cancel(&audit_sul);
    audit_write(true);
    if (audit.n > 0)
        wsd_timer_schedule(&audit_sul, audit_flush,
                           AUDIT_FLUSH_MS * LWS_US_PER_MS);
    if (audit_dropped > 0)
        sb_log_warn("node: %lu audit records dropped", audit_dropped);
    audit_dropped = 0;
}

/* ,"key":"value" when value is set. */
static void
put_opt(struct sb_strbuf *b, const char *key, const char *value)
{
    if (value == NULL)
        return;
    sb_strbuf_puts(b, key);
    sb_strbuf_quote(b, value, strlen(value));
}

void
wsd_node_audit(const char *kind, const char *subject, const char *channel,
               const char *remote, const char *why)
{
    struct sb_strbuf *b = &audit.text;

    if (audit.n >= AUDIT_MAX) {
        audit_dropped++;
        return;
    }
    if (audit.ends == NULL)
        audit.ends = sb_calloc(AUDIT_MAX, sizeof(*audit.ends));
    sb_strbuf_puts(b, "{\"kind\":");
    sb_strbuf_quote(b, kind, strlen(kind));
    put_opt(b, ",\"node\":", wsd_srv.common.node_id);
    put_opt(b, ",\"subject\":", subject);
    put_opt(b, ",\"channel\":", channel);
    put_opt(b, ",\"remote\":", remote);
    if (why != NULL) {
        put_opt(b, ",\"detail\":{\"reason\":", why);
        sb_strbuf_putc(b, '}');
    }
    sb_strbuf_puts(b, "},");
    audit.ends[audit.n++] = b->len;
    if (audit.n == 1)
        wsd_timer_schedule(&audit_sul, audit_flush,
                           AUDIT_FLUSH_MS * LWS_US_PER_MS);
    else if (audit.n % AUDIT_CHUNK == 0)
        audit_write(false);
}

/* --- leaving --- */

static void
gone_done(PGresult *res, const struct sb_error *err, void *arg)
{
    void (*done)(void) = (void (*)(void))arg;

    if (res == NULL)
        sb_log_warn("node: node_gone failed: %s", err->message);
    done();
}

void
wsd_node_gone(void (*done)(void))
{
    const char *params[1] = {wsd_srv.common.node_id};

    audit_flush(NULL);
    lws_sul_cancel(&heartbeat_sul);
    if (wsd_db_write(GONE_SQL, 1, params, gone_done, (void *)done) != SB_OK)
        done();
}
