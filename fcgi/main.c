/*
 * fcgi/main.c: switchboard-fcgi, the FastCGI application (REST, long-poll,
 * Server-Sent Events). One binary, three ways to run:
 *   - as a FastCGI server on its own socket (--listen host:port or a Unix
 *     socket path), with --threads worker threads and one waiter thread;
 *   - under a spawner (spawn-fcgi, a web server's process manager) that
 *     passes the listening socket as fd 0: the same, on that socket;
 *   - as a plain CGI program (GATEWAY_INTERFACE set): one request, exit.
 * Signals: SIGTERM/SIGINT stop (parked requests are answered, the node
 * leaves switchboard.nodes), SIGHUP reloads the log level. Exit status: 0
 * after a clean stop, --help, --version or --check-config; 1 when it
 * cannot start; 2 for bad options (the reason is on stderr).
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "app.h"
#include "cgi.h"
#include "log.h"
#include "options.h"
#include "ratelimit.h"
#include "server.h"
#include "waiter.h"
#include "xalloc.h"

struct fcgi_app fcgi_app = {.listen_fd = -1};

int64_t
fcgi_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
fcgi_mono_ms(void)
{
    return sb_mono_ms();
}

static int
check_across(void *arg, char *why, size_t size)
{
    (void)arg;
    return fcgi_options_check(&fcgi_app.common, &fcgi_app.conf, why, size);
}

/* Options, and the checks across them. Returns SB_CONFIG_CONTINUE or the
 * exit status. */
static int
configure(int argc, char **argv)
{
    int status;

    fcgi_app.cfg = sb_config_new("switchboard-fcgi", PACKAGE_VERSION);
    fcgi_options_register(fcgi_app.cfg, &fcgi_app.common, &fcgi_app.conf);
    sb_config_set_check(fcgi_app.cfg, check_across, NULL);
    status = sb_config_startup(fcgi_app.cfg, argc, argv);
    if (status != SB_CONFIG_CONTINUE)
        return status;
    fcgi_app.anon_patterns = sb_config_list(fcgi_app.common.anonymous_read);
    fcgi_app.origins = sb_config_list(fcgi_app.conf.allowed_origins);
    if (gethostname(fcgi_app.host, sizeof(fcgi_app.host)) != 0)
        strcpy(fcgi_app.host, "localhost");
    fcgi_app.host[sizeof(fcgi_app.host) - 1] = '\0';
    return SB_CONFIG_CONTINUE;
}

static void
on_signal(int sig)
{
    (void)sig; /* taken by sigwait in the main thread (see run) */
}

/* Our handlers go in before FCGX_Init, which otherwise installs its own
 * for SIGTERM. SIGPIPE is ignored: a client that went away shows up as a
 * write error. */
static void
install_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

static void
stop_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
}

static enum fcgi_mode
choose_mode(void)
{
    const char *gw = getenv("GATEWAY_INTERFACE");

    if (gw != NULL && strncmp(gw, "CGI/", 4) == 0)
        return FCGI_MODE_CGI;
    if (!FCGX_IsCGI())
        return FCGI_MODE_INHERITED;
    return FCGI_MODE_SERVER;
}

/* The main thread waits for signals while the others serve. */
static void
wait_for_stop(int argc, char **argv)
{
    sigset_t set;
    int sig = 0;

    stop_signals(&set);
    while (sig != SIGTERM && sig != SIGINT) {
        if (sigwait(&set, &sig) != 0)
            sig = 0;
        if (sig == SIGHUP)
            fcgi_options_reload(argc, argv);
    }
    sb_log_info("stopping (signal %d)", sig);
}

static int
serve(int argc, char **argv)
{
    sigset_t set;

    stop_signals(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* inherited by every thread */
    if (fcgi_app.mode == FCGI_MODE_INHERITED)
        fcgi_app.listen_fd = 0;
    else if (fcgi_server_open() != SB_OK)
        return 1;
    if (fcgi_waiter_start() != SB_OK || fcgi_server_start() != SB_OK) {
        fcgi_server_stop();
        fcgi_waiter_stop();
        return 1;
    }
    sb_log_info("node %s started, %lld threads", fcgi_app.common.node_id,
                fcgi_app.conf.threads);
    wait_for_stop(argc, argv);
    fcgi_server_stop();
    fcgi_waiter_stop();
    return 0;
}

static int
run(int argc, char **argv)
{
    install_signals();
    if (FCGX_Init() != 0) {
        sb_log_error("FCGX_Init failed");
        return 1;
    }
    fcgi_app.mode = choose_mode();
    if (fcgi_app.mode != FCGI_MODE_CGI)
        return serve(argc, argv);
    signal(SIGTERM, SIG_DFL); /* the web server ends a CGI this way */
    signal(SIGINT, SIG_DFL);
    return fcgi_cgi_run();
}

static void
release(void)
{
    fcgi_ratelimit_clear();
    sb_config_list_free(fcgi_app.anon_patterns);
    sb_config_list_free(fcgi_app.origins);
    sb_config_free(fcgi_app.cfg);
}

int
main(int argc, char **argv)
{
    int status = configure(argc, argv);

    if (status == SB_CONFIG_CONTINUE)
        status = run(argc, argv);
    release();
    return status;
}
