/*
 * shutdown.c: the SIGTERM sequence (see shutdown.h), driven by one timer.
 */
#include "conn.h"
#include "db.h"
#include "log.h"
#include "node.h"
#include "publish.h"
#include "shutdown.h"
#include "wsd.h"

/* Connections closed per tick, and the tick: 1,000 every 20 ms spreads
 * 20,000 clients' reconnections over 0.4 s. */
#define CLOSE_BATCH 1000
#define TICK_MS 20
/* Longest wait for publish acknowledgements, then for clients to go. */
#define PUBLISH_WAIT_MS 5000
#define CLOSE_WAIT_MS 5000
#define GONE_WAIT_MS 2000

enum stage { STAGE_PUBLISHES, STAGE_CLOSING, STAGE_LEAVING };

static lws_sorted_usec_list_t tick_sul;
static enum stage stage;
static int64_t stage_us;

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
    lws_cancel_service(wsd_srv.context);
}

static void
gone(void)
{
    sb_log_info("left switchboard.nodes; exiting");
    stop();
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
    if (stage == STAGE_LEAVING && waited(GONE_WAIT_MS))
        stop();
    if (wsd_srv.phase != WSD_STOPPED)
        lws_sul_schedule(wsd_srv.context, 0, &tick_sul, tick,
                         TICK_MS * LWS_US_PER_MS);
}

void
wsd_shutdown_begin(void)
{
    if (wsd_srv.phase != WSD_RUNNING)
        return;
    wsd_srv.phase = WSD_DRAINING;
    next_stage(STAGE_PUBLISHES);
    wsd_publish_flush();
    tick(&tick_sul);
}
