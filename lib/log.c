/*
 * log.c: the leveled logger. See log.h for the line format and its limits.
 */
#include "log.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "xalloc.h"

#define PROGRAM_MAX 32

atomic_int sb_log_current_level = SB_LOG_INFO;

/* Destination and program name; changed rarely, read on every line. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int log_fd = STDERR_FILENO;
static bool log_fd_owned;
static char log_program[PROGRAM_MAX] = "switchboard";

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void
sb_log_set_level(enum sb_log_level level)
{
    SB_ASSERT(level >= SB_LOG_ERROR && level <= SB_LOG_DEBUG);
    atomic_store(&sb_log_current_level, (int)level);
}

enum sb_log_level
sb_log_get_level(void)
{
    return (enum sb_log_level)atomic_load(&sb_log_current_level);
}

const char *
sb_log_level_name(enum sb_log_level level)
{
    if (level < SB_LOG_ERROR || level > SB_LOG_DEBUG)
        return "?";
    return level_names[level];
}

int
sb_log_level_from_name(const char *name, enum sb_log_level *level)
{
    if (name == NULL)
        return SB_ERR;
    for (int i = SB_LOG_ERROR; i <= SB_LOG_DEBUG; i++) {
        if (strcasecmp(name, level_names[i]) == 0) {
            *level = (enum sb_log_level)i;
            return SB_OK;
        }
    }
    if (strcasecmp(name, "warning") == 0) {
        *level = SB_LOG_WARN;
        return SB_OK;
    }
    return SB_ERR;
}

void
sb_log_set_program(const char *name)
{
    pthread_mutex_lock(&log_lock);
    snprintf(log_program, sizeof(log_program), "%s", name);
    pthread_mutex_unlock(&log_lock);
}

/* Replace the destination; the caller holds log_lock. */
static void
set_fd_locked(int fd, bool owned)
{
    if (log_fd_owned)
        close(log_fd);
    log_fd = fd;
    log_fd_owned = owned;
}

int
sb_log_open(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);

    if (fd < 0)
        return SB_ERR;
    pthread_mutex_lock(&log_lock);
    set_fd_locked(fd, true);
    pthread_mutex_unlock(&log_lock);
    return SB_OK;
}

void
sb_log_set_fd(int fd)
{
    pthread_mutex_lock(&log_lock);
    set_fd_locked(fd < 0 ? STDERR_FILENO : fd, false);
    pthread_mutex_unlock(&log_lock);
}

/* "2026-11-22T10:15:30.123Z" into buf; returns its length. */
static size_t
format_time(char *buf, size_t size)
{
    struct timespec ts;
    struct tm tm;
    size_t n;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(buf + n, size - n, ".%03ldZ",
                          (long)(ts.tv_nsec / 1000000));
    return n;
}

/* Replace control characters (tab aside) so the message stays one line. */
static void
scrub(char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if ((c < 0x20 && c != '\t') || c == 0x7f)
            s[i] = '?';
    }
}

/* Format the message after the prefix; returns the line length without the
 * newline, which always fits after it. */
static size_t __attribute__((format(printf, 3, 0)))
format_message(char *line, size_t used, const char *fmt, va_list ap)
{
    size_t room = SB_LOG_LINE_MAX - 1 - used; /* keep one byte for '\n' */
    int n = vsnprintf(line + used, room, fmt, ap);

    if (n < 0)
        n = 0;
    if ((size_t)n >= room) {
        n = (int)room - 1;
        memcpy(line + used + n - 3, "...", 3);
    }
    scrub(line + used, (size_t)n);
    return used + (size_t)n;
}

void
sb_log_write(enum sb_log_level level, const char *fmt, ...)
{
    char line[SB_LOG_LINE_MAX];
    size_t len;
    ssize_t written;
    va_list ap;

#ifdef SB_DEBUG
    /* The logger ends the line; a message's own newline would show as '?'. */
    SB_ASSERT(fmt[0] == '\0' || fmt[strlen(fmt) - 1] != '\n');
#endif
    /* Under the lock, so lines reach the file in timestamp order. */
    pthread_mutex_lock(&log_lock);
    len = format_time(line, sizeof(line));
    len += (size_t)snprintf(line + len, sizeof(line) - len,
                            " %s %s[%ld]: ", sb_log_level_name(level),
                            log_program, (long)getpid());
    va_start(ap, fmt);
    len = format_message(line, len, fmt, ap);
    va_end(ap);
    line[len++] = '\n';
    /* One write per line; a failed write has nowhere to be reported. */
    written = write(log_fd, line, len);
    pthread_mutex_unlock(&log_lock);
    (void)written;
}
