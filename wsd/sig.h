/*
 * sig.h: POSIX signals inside the loop. SIGTERM, SIGINT and SIGHUP are
 * blocked and read from a signalfd that the loop watches as a raw file
 * descriptor, so their handling runs in the loop thread like everything
 * else: SIGTERM and SIGINT start the shutdown, SIGHUP reloads the
 * configuration. SIGPIPE is ignored.
 */
#ifndef WSD_SIG_H
#define WSD_SIG_H

#include <libwebsockets.h>

#define WSD_SIG_PROTOCOL "sb-signal"

/* Block the signals (call before anything else starts). SB_OK or SB_ERR. */
int wsd_sig_block(void);
/* Watch the signalfd in the loop. SB_OK or SB_ERR. */
int wsd_sig_start(void);
int wsd_sig_callback(struct lws *wsi, enum lws_callback_reasons reason,
                     void *user, void *in, size_t len);

#endif
