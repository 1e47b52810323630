/*
 * options.h: wsd's option table, cross-option checks and reloading.
 */
#ifndef WSD_OPTIONS_H
#define WSD_OPTIONS_H

#include <stddef.h>

#include "config.h"
#include "wsd.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

/* Declare the common options into common and wsd's own into conf. */
void wsd_options_register(struct sb_config *cfg,
                          struct sb_common_config *common,
                          struct wsd_config *conf);
/* Checks across options, after sb_config_finish: a secret is required
 * unless anonymous_read is set; the idle timeout exceeds the ping
 * interval. SB_OK, or SB_ERR with the reason in why[0..size). */
int wsd_options_check(const struct sb_common_config *common,
                      const struct wsd_config *conf, char *why, size_t size);
/* Read every source again (SIGHUP) and take over the reloadable values.
 * On any error the running configuration stays and SB_ERR is returned. */
int wsd_options_reload(struct wsd_server *s);

/* Replace the secret in force with a copy of secret[0..len) (NULL: none);
 * the old one is wiped. */
void wsd_options_set_secret(struct wsd_server *s, const unsigned char *secret,
                            size_t len);


#endif
