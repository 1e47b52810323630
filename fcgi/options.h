/*
 * options.h: switchboard-fcgi's option table, the checks that span
 * several options, and the list values (allowed_origins, anonymous_read).
 */
#ifndef FCGI_OPTIONS_H
#define FCGI_OPTIONS_H

#include <stddef.h>

#include "app.h"
#include "config.h"

/* Declare the common options into common and fcgi's own into conf. */
void fcgi_options_register(struct sb_config *cfg,
                           struct sb_common_config *common,
                           struct fcgi_config *conf);
/* Checks across options after sb_config_finish: a secret is required
 * unless anonymous_read is set; poll_timeout <= poll_timeout_max. SB_OK,
 * or SB_ERR with the reason in why[0..size). */
int fcgi_options_check(const struct sb_common_config *common,
                       const struct fcgi_config *conf, char *why, size_t size);

/* Read every source again (SIGHUP) and apply what can change while
 * running: the log level. SB_OK, or SB_ERR (logged) and nothing changes. */
int fcgi_options_reload(int argc, char **argv);


#endif
