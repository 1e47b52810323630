/*
 * wsd/main.c: wsd, switchboard's WebSocket daemon. Reads its options
 * (options.c), then runs one libwebsockets loop in one thread: WebSocket
 * clients on /ws, HTTP health and metrics on the same port, and the
 * PostgreSQL connections, all driven by that loop. Exit status: 0 after a
 * clean shutdown (SIGTERM) or --help, --version, --check-config; 1 when it
 * cannot start (listen socket, signals); 2 for bad options (the reason is
 * on stderr).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "deadline.h"
#include "log.h"
#include "metricsub.h"
#include "node.h"
#include "options.h"
#include "server.h"
#include "sig.h"
#include "wsd.h"
#include "xalloc.h"

struct wsd_server wsd_srv;

int64_t
wsd_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
wsd_mono_us(void)
{
    return sb_mono_us();
}

static int
check_across(void *arg, char *why, size_t size)
{
    (void)arg;
    return wsd_options_check(&wsd_srv.common, &wsd_srv.conf, why, size);
}

/* Options, and the checks across them. Returns SB_CONFIG_CONTINUE or the
 * exit status. */
static int
configure(int argc, char **argv)
{
    int status;

    wsd_srv.cfg = sb_config_new("wsd", PACKAGE_VERSION);
    wsd_options_register(wsd_srv.cfg, &wsd_srv.common, &wsd_srv.conf);
    sb_config_set_check(wsd_srv.cfg, check_across, NULL);
    status = sb_config_startup(wsd_srv.cfg, argc, argv);
    if (status != SB_CONFIG_CONTINUE)
        return status;
    wsd_srv.argc = argc;
    wsd_srv.argv = argv;
    wsd_srv.anon_patterns = sb_config_list(wsd_srv.common.anonymous_read);
    wsd_srv.origins = sb_config_list(wsd_srv.conf.allowed_origins);
    wsd_options_set_secret(&wsd_srv, wsd_srv.common.secret,
                           wsd_srv.common.secret_len);
    if (gethostname(wsd_srv.host, sizeof(wsd_srv.host)) != 0)
        strcpy(wsd_srv.host, "localhost");
    wsd_srv.host[sizeof(wsd_srv.host) - 1] = '\0';
    return SB_CONFIG_CONTINUE;
}

static int
run(void)
{
    if (wsd_sig_block() != SB_OK || wsd_server_start() != SB_OK)
        return 1;
    if (wsd_sig_start() != SB_OK) {
        sb_log_error("cannot watch signals");
        wsd_server_stop();
        return 1;
    }
    sb_log_info("node %s started", wsd_srv.common.node_id);
    wsd_db_start();
    wsd_server_run();
    wsd_node_stop();
    wsd_db_stop();
    wsd_metricsub_stop();
    wsd_deadline_stop();
    wsd_server_stop();
    return 0;
}

static void
release(void)
{
    sb_config_list_free(wsd_srv.anon_patterns);
    sb_config_list_free(wsd_srv.origins);
    wsd_options_set_secret(&wsd_srv, NULL, 0);
    sb_config_free(wsd_srv.cfg);
}

int
main(int argc, char **argv)
{
    int status;

    srandom((unsigned)(time(NULL) ^ getpid()));
    status = configure(argc, argv);
    if (status == SB_CONFIG_CONTINUE)
        status = run();
    release();
    return status;
}
