/*
 * fuzz_config_file.c: sb_config_load_file() on arbitrary file contents,
 * with an option of each type and the common options declared. The input
 * is written to a memory file read back through /proc/self/fd. A load that
 * fails says why ("config: ..."); one that succeeds leaves every value
 * within its bounds, and sb_config_finish() and sb_config_print() must
 * then cope with whatever was loaded. sb_config_finish() is skipped when
 * token_secret_file alone is set, since it would open a path the input
 * names.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"
#include "limits.h"

struct fuzz_conf {
    long long count;
    bool flag;
    char *name;
    long long size;
    long long wait;
    char *free_text;
};

#define OFF(f) offsetof(struct fuzz_conf, f)

static const struct sb_option options[] = {
    {"count", SB_OPT_INT, -5, 100, "7", "a count", OFF(count), 0, NULL},
    {"flag", SB_OPT_BOOL, 0, 0, "false", "a flag", OFF(flag), 0, NULL},
    {"name", SB_OPT_STRING, 1, 8, "abc", "a name", OFF(name), 0, NULL},
    {"size", SB_OPT_BYTES, 1, 1048576, "64k", "a size", OFF(size), 0, NULL},
    {"wait", SB_OPT_DURATION_MS, 100, 3600000, "2s", "a wait", OFF(wait), 0,
     NULL},
    {"free_text", SB_OPT_STRING, 0, 0, NULL, "unbounded", OFF(free_text), 0,
     NULL},
};
#define NOPTIONS (sizeof(options) / sizeof(options[0]))

/* The memory file, made once: its path, or NULL when it cannot be. */
static const char *
memory_file(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];

    if (fd < 0) {
        fd = memfd_create("fuzz_config_file", MFD_CLOEXEC);
        SB_ASSERT(fd >= 0);
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    }
    SB_ASSERT(ftruncate(fd, 0) == 0);
    SB_ASSERT(size == 0 || pwrite(fd, data, size, 0) == (ssize_t)size);
    return path;
}

static bool
is_set(const char *s)
{
    return s != NULL && s[0] != '\0';
}

static void
check_loaded(const struct fuzz_conf *c, const struct sb_common_config *common)
{
    SB_ASSERT(c->count >= -5 && c->count <= 100);
    SB_ASSERT(c->name != NULL && strlen(c->name) >= 1 && strlen(c->name) <= 8);
    SB_ASSERT(c->size >= 1 && c->size <= 1048576);
    SB_ASSERT(c->wait >= 100 && c->wait <= 3600000);
    SB_ASSERT(common->max_data_bytes >= 1 &&
              common->max_data_bytes <= SB_DATA_MAX_HARD);
    SB_ASSERT(common->log_file == NULL || strlen(common->log_file) <= 4096);
    SB_ASSERT(common->node_id == NULL || strlen(common->node_id) <= 128);
}

static void
check_finish(struct sb_config *cfg, const struct sb_common_config *common)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out;

    /* With both secrets set, finish fails before it opens the file. */
    if (is_set(common->token_secret_file) && !is_set(common->token_secret))
        return;
    if (sb_config_finish(cfg) != SB_OK) {
        SB_ASSERT(strncmp(sb_config_error(cfg), "config: ", 8) == 0);
        return;
    }
    SB_ASSERT(common->secret == NULL || common->secret_len >= SB_SECRET_MIN);
    SB_ASSERT(common->node_id != NULL && common->node_id[0] != '\0');
    out = open_memstream(&text, &len);
    SB_ASSERT(out != NULL);
    sb_config_print(cfg, out);
    fclose(out);
    /* The secret never prints, only that it is set. */
    if (is_set(common->token_secret))
        SB_ASSERT(strstr(text, "\ntoken_secret = (set)\n") != NULL);
    free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sb_config *cfg = sb_config_new("fuzz_config_file", "0");
    struct fuzz_conf conf;
    struct sb_common_config common;

    sb_config_add(cfg, options, NOPTIONS, &conf);
    sb_config_add_common(cfg, &common);
    if (sb_config_load_file(cfg, memory_file(data, size)) == SB_OK) {
        check_loaded(&conf, &common);
        check_finish(cfg, &common);
    } else {
        SB_ASSERT(strncmp(sb_config_error(cfg), "config: ", 8) == 0);
    }
    sb_config_free(cfg);
    return 0;
}
