/*
 * sig.c: signals through a signalfd watched by the loop (see sig.h).
 */
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "log.h"
#include "options.h"
#include "shutdown.h"
#include "sig.h"
#include "wsd.h"
#include "xalloc.h"

static sigset_t handled;

int
wsd_sig_block(void)
{
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&handled);
    sigaddset(&handled, SIGTERM);
    sigaddset(&handled, SIGINT);
    sigaddset(&handled, SIGHUP);
    return sigprocmask(SIG_BLOCK, &handled, NULL) == 0 ? SB_OK : SB_ERR;
}

int
wsd_sig_start(void)
{
    lws_sock_file_fd_type fd;
    struct lws *wsi;

    fd.filefd = signalfd(-1, &handled, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd.filefd < 0)
        return SB_ERR;
    wsi = lws_adopt_descriptor_vhost(wsd_srv.vhost, LWS_ADOPT_RAW_FILE_DESC,
                                     fd, WSD_SIG_PROTOCOL, NULL);
    if (wsi == NULL) {
        close(fd.filefd);
        return SB_ERR;
    }
    return SB_OK;
}

static void
handle_signal(int signo)
{
    switch (signo) {
    case SIGTERM:
    case SIGINT:
        sb_log_info("signal %d: shutting down", signo);
        wsd_shutdown_begin();
        break;
    case SIGHUP:
        sb_log_info("SIGHUP: reloading the configuration");
        wsd_options_reload(&wsd_srv);
        break;
    default:
        break;
    }
}

int
wsd_sig_callback(struct lws *wsi, enum lws_callback_reasons reason,
                 void *user, void *in, size_t len)
{
    struct signalfd_siginfo si;

    if (reason != LWS_CALLBACK_RAW_RX_FILE)
        return 0;
    while (read(lws_get_socket_fd(wsi), &si, sizeof(si)) == sizeof(si))
        handle_signal((int)si.ssi_signo);
    return 0;
}
