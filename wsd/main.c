/*
 * wsd/main.c: wsd, the WebSocket daemon. It reads its options (its own
 * table plus the common one) from file, environment and command line and
 * validates them; the event loop is not part of this program yet, so a
 * valid configuration exits 0. Exit status 2 means bad options (the reason
 * is on stderr).
 */
#include <stddef.h>
#include <stdlib.h>

#include "config.h"
#include "xalloc.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

struct wsd_config {
    char *listen_address;
    long long listen_port;
};

#define OFF(field) offsetof(struct wsd_config, field)

static const struct sb_option wsd_options[] = {
    {"listen_address", SB_OPT_STRING, 1, 255, "127.0.0.1",
     "address or interface to accept WebSocket connections on",
     OFF(listen_address), 0, NULL},
    {"listen_port", SB_OPT_INT, 1, 65535, "8080",
     "TCP port to accept WebSocket connections on", OFF(listen_port), 0, NULL},
};

int
main(int argc, char **argv)
{
    struct sb_config *cfg = sb_config_new("wsd", PACKAGE_VERSION);
    struct sb_common_config common;
    struct wsd_config wsd;
    int status;

    sb_config_add_common(cfg, &common);
    sb_config_add(cfg, wsd_options,
                  sizeof(wsd_options) / sizeof(wsd_options[0]), &wsd);
    status = sb_config_startup(cfg, argc, argv);
    if (status == SB_CONFIG_CONTINUE)
        status = EXIT_SUCCESS;
    sb_config_free(cfg);
    return status;
}
