/*
 * fcgi/main.c: switchboard-fcgi, the FastCGI application (REST, long-poll,
 * Server-Sent Events). It reads its options (its own table plus the common
 * one) from file, environment and command line and validates them; the
 * request loop is not part of this program yet, so a valid configuration
 * exits 0. Exit status 2 means bad options (the reason is on stderr).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "xalloc.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

struct fcgi_config {
    char *listen;
    long long threads;
};

/* "host:port" with a port of 1..65535, or an absolute Unix socket path. */
static int
check_listen(const char *value, char *why, size_t size)
{
    const char *colon = strrchr(value, ':');
    char *end;
    long port;

    if (value[0] == '/')
        return SB_OK;
    if (colon == NULL || colon == value)
        goto bad;
    port = strtol(colon + 1, &end, 10);
    if (colon[1] < '0' || colon[1] > '9' || *end != '\0' || port < 1 ||
        port > 65535)
        goto bad;
    return SB_OK;
bad:
    snprintf(why, size, "'%s' is not host:port or a socket path", value);
    return SB_ERR;
}

#define OFF(field) offsetof(struct fcgi_config, field)

static const struct sb_option fcgi_options[] = {
    {"listen", SB_OPT_STRING, 1, 256, "127.0.0.1:9000",
     "FastCGI socket to listen on: host:port, or an absolute Unix socket "
     "path",
     OFF(listen), 0, check_listen},
    {"threads", SB_OPT_INT, 1, 256, "8", "request threads", OFF(threads), 0,
     NULL},
};

int
main(int argc, char **argv)
{
    struct sb_config *cfg = sb_config_new("switchboard-fcgi", PACKAGE_VERSION);
    struct sb_common_config common;
    struct fcgi_config fcgi;
    int status;

    sb_config_add_common(cfg, &common);
    sb_config_add(cfg, fcgi_options,
                  sizeof(fcgi_options) / sizeof(fcgi_options[0]), &fcgi);
    status = sb_config_startup(cfg, argc, argv);
    if (status == SB_CONFIG_CONTINUE)
        status = EXIT_SUCCESS;
    sb_config_free(cfg);
    return status;
}
