/*
 * fuzz.h: what every fuzz target shares. Each target defines the libFuzzer
 * entry point, which libFuzzer's own main() drives in a --enable-fuzzing
 * build and driver.c's main() drives over the seed corpus in every build.
 * A target returns 0 for every input; a broken invariant aborts through
 * SB_ASSERT, which both drivers report as a crash.
 */
#ifndef SB_FUZZ_H
#define SB_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* data[0..size) as a new NUL-terminated string the caller frees (an
 * embedded NUL ends it early as C string functions see it). */
static inline char *
fuzz_text(const uint8_t *data, size_t size)
{
    char *s = sb_malloc(size + 1);

    if (size > 0)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

#endif
