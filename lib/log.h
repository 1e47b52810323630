/*
 * log.h: the one leveled logger of switchboard (error, warn, info, debug).
 *
 * Each call writes one line to stderr (or to the log file or descriptor set
 * here, never to stdout):
 *   2026-11-22T10:15:30.123Z info wsd[4242]: conn 7: subscribed chat:a
 * UTC time with milliseconds, level, program name and pid, message. A line
 * is at most SB_LOG_LINE_MAX bytes (longer messages are cut and end in
 * "..."); control characters in the message become '?', so a logged client
 * string cannot forge a second line. Each line is one write(2) under a
 * mutex, so threads never interleave. The level is tested before the
 * arguments are evaluated: a suppressed call costs one load and a branch.
 * Debug lines are always compiled in (sb_log_set_level turns them on);
 * building with SB_DEBUG only adds checks (a message must not end in '\n').
 */
#ifndef SB_LOG_H
#define SB_LOG_H

#include <stdatomic.h>

enum sb_log_level {
    SB_LOG_ERROR = 0,
    SB_LOG_WARN,
    SB_LOG_INFO,
    SB_LOG_DEBUG,
};

/* Longest line written, newline included; at most PIPE_BUF, so a line sent
 * to a pipe arrives whole even when several processes share it. */
#define SB_LOG_LINE_MAX 4096

/* The current level; read it through SB_LOG, set it with sb_log_set_level. */
extern atomic_int sb_log_current_level;

/* Log when level is enabled; the arguments are not evaluated otherwise. */
#define SB_LOG(level, ...)                                                     \
    do {                                                                       \
        if ((int)(level) <=                                                    \
            atomic_load_explicit(&sb_log_current_level, memory_order_relaxed)) \
            sb_log_write((level), __VA_ARGS__);                                \
    } while (0)

#define sb_log_error(...) SB_LOG(SB_LOG_ERROR, __VA_ARGS__)
#define sb_log_warn(...)  SB_LOG(SB_LOG_WARN, __VA_ARGS__)
#define sb_log_info(...)  SB_LOG(SB_LOG_INFO, __VA_ARGS__)
#define sb_log_debug(...) SB_LOG(SB_LOG_DEBUG, __VA_ARGS__)

/* Format and write one line regardless of the level (SB_LOG tests it).
 * Write errors are ignored: there is nowhere left to report them. */
void sb_log_write(enum sb_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Set the level; messages above it are suppressed. Default SB_LOG_INFO. */
void sb_log_set_level(enum sb_log_level level);
/* The current level. */
enum sb_log_level sb_log_get_level(void);
/* "error", "warn", "info" or "debug" (and "?" for anything else). */
const char *sb_log_level_name(enum sb_log_level level);
/* Level for a name ("error", "warn" or "warning", "info", "debug"; case
 * ignored). Returns SB_OK and sets *level, or SB_ERR for an unknown name. */
int sb_log_level_from_name(const char *name, enum sb_log_level *level);

/* Program name shown on each line (copied, cut to 31 bytes). Default
 * "switchboard". */
void sb_log_set_program(const char *name);

/* Append to the file at path (created mode 0640) instead of the current
 * destination. Returns SB_OK, or SB_ERR with errno set and the destination
 * unchanged. A previously opened log file is closed. */
int sb_log_open(const char *path);
/* Write to fd, which stays owned by the caller (tests point it at a pipe).
 * A previously opened log file is closed; fd -1 restores stderr. */
void sb_log_set_fd(int fd);

#endif
