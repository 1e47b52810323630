/*
 * procstat.h: what the load tools (wsload, pollload) read of a server
 * process in /proc: its CPU time, its memory and its child processes.
 */
#ifndef SB_BENCH_PROCSTAT_H
#define SB_BENCH_PROCSTAT_H

#include <stdbool.h>
#include <sys/types.h>

/* utime + stime of pid in clock ticks (sysconf(_SC_CLK_TCK) a second),
 * and its parent in *ppid unless ppid is NULL; -1 when pid is gone. */
int procstat_cpu(pid_t pid, long long *ticks, pid_t *ppid);

/* The number after key at the start of a line of /proc/PID/FILE, such as
 * ("status", "VmRSS:") or ("smaps_rollup", "Pss:") in KiB; -1 when the
 * file or the key is absent. */
long long procstat_kb(pid_t pid, const char *file, const char *key);

/* each(pid, arg) for every process whose parent is parent; -1 when /proc
 * cannot be read. */
int procstat_children(pid_t parent, void (*each)(pid_t pid, void *arg),
                      void *arg);

/* What a set of processes uses, summed over them. */
struct procstat_usage {
    long long ticks;  /* utime + stime, clock ticks */
    long long rss_kb; /* VmRSS */
    long long pss_kb; /* Pss of smaps_rollup: shared pages counted once */
};

/* Add pid's figures to *u, and with children those of every process whose
 * parent it is. A process that is gone (or not readable) adds nothing; a
 * figure its kernel does not report adds nothing to that sum. */
void procstat_add(pid_t pid, bool children, struct procstat_usage *u);

#endif
