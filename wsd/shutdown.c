/*
 * shutdown.c: the SIGTERM sequence (see shutdown.h), driven by one timer.
 */
#include "conn.h"
#include "db.h"
#include "listen.h"
#include "log.h"
#include "node.h"
#include "publish.h"
#include "server.h"
#include "shutdown.h"
#include "wsd.h"

/* Connections closed per tick, and the tick: 1,000 every 20 ms spreads
 * 20,000 clients' reconnections over 0.4 s. */
#define CLOSE_BATCH 1000
#define TICK_MS 20
/* Longest wait for publish acknowledgements, then for clients to go.
 * The last stage (node_gone and every query still queued, such as the
 * clients' presence leaves and disconnect audits) waits up to
 * shutdown_timeout. */
#define PUBLISH_WAIT_MS 5000
#define CLOSE_WAIT_MS 5000

enum stage { STAGE_PUBLISHES, STAGE_CLOSING, STAGE_LEAVING };

static lws_sorted_usec_list_t tick_sul;
static enum stage stage;
static int64_t stage_us;
static bool gone_answered;

static void
next_stage(enum stage s)
{
    stage = s;
    stage_us = wsd_mono_us();
}

static bool
waited(long long ms)
{
    return wsd_mono_us() - stage_us > ms * 1000;
}

static void
stop(void)
{
    if (wsd_srv.phase == WSD_STOPPED)
        return;
    wsd_srv.phase = WSD_STOPPED;
    wsd_server_break();
}

static void
gone(void)
{
    gone_answered = true;
}

/* The last stage is over when node_gone was answered and no query waits
 * on any connection (the database connections close after it). */
static void
leave_when_done(void)
{
    if (gone_answered && wsd_db_idle()) {
        sb_log_info("left switchboard.nodes; exiting");
        stop();
    } else if (waited(wsd_srv.conf.shutdown_timeout_ms)) {
        sb_log_warn("shutdown: %zu database queries unanswered after "
                    "shutdown_timeout (%lld ms); exiting",
                    wsd_db_pending(), wsd_srv.conf.shutdown_timeout_ms);
        stop();
    }
}

static void
tick(lws_sorted_usec_list_t *sul)
{
    if (stage == STAGE_PUBLISHES &&
        (!wsd_publish_busy() || waited(PUBLISH_WAIT_MS)))
        next_stage(STAGE_CLOSING);
    if (stage == STAGE_CLOSING &&
        (wsd_conn_close_some(CLOSE_BATCH) == 0 || waited(CLOSE_WAIT_MS))) {
        next_stage(STAGE_LEAVING);
        wsd_node_gone(gone);
    }
    if (stage == STAGE_LEAVING)
        leave_when_done();
    if (wsd_srv.phase != WSD_STOPPED)
        wsd_timer_schedule(&tick_sul, tick, TICK_MS * LWS_US_PER_MS);
}

void
wsd_shutdown_begin(void)
{
    if (wsd_srv.phase != WSD_RUNNING)
        return;
    wsd_srv.phase = WSD_DRAINING;
    /* New connections go to the processes sharing the port, if any. */
    wsd_listen_stop();
    next_stage(STAGE_PUBLISHES);
    wsd_publish_flush();
    tick(&tick_sul);
}
