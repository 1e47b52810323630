/*
 * xalloc.h: allocation that never returns NULL, and assertions that stay
 * compiled in. Out of memory is not an error switchboard can answer, so every
 * wrapper aborts with a message instead of making callers check.
 */
#ifndef SB_XALLOC_H
#define SB_XALLOC_H

#include <stddef.h>

/* Return codes shared by the whole code base. */
#define SB_OK 0
#define SB_ERR (-1)
#define SB_AGAIN (-2)

/* SB_ASSERT: an invariant; on failure print where and abort (never NDEBUG'd). */
#define SB_ASSERT(cond)                                                        \
    ((cond) ? (void)0 : sb_assert_fail(#cond, __FILE__, __LINE__))

void sb_assert_fail(const char *cond, const char *file, int line)
    __attribute__((noreturn));

/* Each returns memory owned by the caller (release with free()); aborts on
 * failure. sb_malloc(0) returns a unique pointer. */
void *sb_malloc(size_t size);
void *sb_calloc(size_t nmemb, size_t size);
void *sb_realloc(void *ptr, size_t size);
char *sb_strdup(const char *s);
char *sb_strndup(const char *s, size_t n);
/* printf into a new string. */
char *sb_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
