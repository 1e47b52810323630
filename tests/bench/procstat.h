/*
 * procstat.h: what the load tools (wsload, pollload) read of a server
 * process in /proc: its CPU time, its memory and its child processes.
 */
#ifndef SB_BENCH_PROCSTAT_H
#define SB_BENCH_PROCSTAT_H

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

#endif
