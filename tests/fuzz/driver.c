/*
 * driver.c: a main() for the fuzz targets in builds without libFuzzer. Each
 * argument is a file or a directory; every regular file named, or found
 * directly in a named directory (in name order), is read whole into a
 * buffer of exactly its size and passed once to LLVMFuzzerTestOneInput.
 * This replays a seed corpus or a crash artifact, nothing more: there is no
 * mutation. Exits 0 when at least one input ran, 1 on an unreadable
 * argument or when there was nothing to run; a failing input aborts.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Read path whole into a new buffer of exactly its size. */
static int
read_file(const char *path, uint8_t **data, size_t *size)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    int rc = SB_ERR;

    *data = NULL;
    if (f == NULL)
        return SB_ERR;
    if (fstat(fileno(f), &st) != 0 || st.st_size < 0)
        goto out;
    *size = (size_t)st.st_size;
    /* One byte at least, so an empty input still has a valid pointer. */
    *data = sb_malloc(*size ? *size : 1);
    if (fread(*data, 1, *size, f) != *size) {
        free(*data);
        *data = NULL;
        goto out;
    }
    rc = SB_OK;
out:
    fclose(f);
    return rc;
}

static int
run_file(const char *path)
{
    uint8_t *data;
    size_t size;

    if (read_file(path, &data, &size) != SB_OK) {
        fprintf(stderr, "driver: %s: %s\n", path, strerror(errno));
        return SB_ERR;
    }
    printf("driver: %s (%zu bytes)\n", path, size);
    fflush(stdout);
    LLVMFuzzerTestOneInput(data, size);
    free(data);
    return SB_OK;
}

static int
only_files(const struct dirent *d)
{
    return d->d_name[0] != '.';
}

/* Run every regular file directly in dir; *count grows by their number. */
static int
run_dir(const char *dir, size_t *count)
{
    struct dirent **names;
    struct stat st;
    int n, rc = SB_OK;

    n = scandir(dir, &names, only_files, alphasort);
    if (n < 0) {
        fprintf(stderr, "driver: %s: %s\n", dir, strerror(errno));
        return SB_ERR;
    }
    for (int i = 0; i < n; i++) {
        char *path = sb_asprintf("%s/%s", dir, names[i]->d_name);

        if (rc == SB_OK && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            rc = run_file(path);
            (*count)++;
        }
        free(path);
        free(names[i]);
    }
    free(names);
    return rc;
}

int
main(int argc, char **argv)
{
    struct stat st;
    size_t count = 0;

    for (int i = 1; i < argc; i++) {
        int rc;

        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "driver: %s: %s\n", argv[i], strerror(errno));
            return 1;
        }
        if (S_ISDIR(st.st_mode)) {
            rc = run_dir(argv[i], &count);
        } else {
            rc = run_file(argv[i]);
            count++;
        }
        if (rc != SB_OK)
            return 1;
    }
    if (count == 0) {
        fprintf(stderr, "usage: %s FILE|DIR...: no input to run\n", argv[0]);
        return 1;
    }
    printf("driver: %zu inputs ran\n", count);
    return 0;
}
