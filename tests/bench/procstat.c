/*
 * procstat.c: CPU time, memory and children of a process from /proc (see
 * procstat.h).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "procstat.h"

int
procstat_cpu(pid_t pid, long long *ticks, pid_t *ppid)
{
    char path[64], buf[1024];
    unsigned long long ut, st;
    long pp;
    FILE *f;
    char *p;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if ((f = fopen(path, "r")) == NULL)
        return -1;
    p = fgets(buf, sizeof(buf), f);
    fclose(f);
    /* After "pid (comm) ": state, ppid, 9 more fields, utime, stime. */
    if (p == NULL || (p = strrchr(buf, ')')) == NULL ||
        sscanf(p + 2, "%*c %ld %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
               &pp, &ut, &st) != 3)
        return -1;
    *ticks = (long long)(ut + st);
    if (ppid != NULL)
        *ppid = (pid_t)pp;
    return 0;
}

long long
procstat_kb(pid_t pid, const char *file, const char *key)
{
    char path[64], line[256];
    size_t klen = strlen(key);
    long long kb = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
    if ((f = fopen(path, "r")) == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, key, klen) == 0) {
            kb = strtoll(line + klen, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb;
}

int
procstat_children(pid_t parent, void (*each)(pid_t pid, void *arg), void *arg)
{
    DIR *d = opendir("/proc");
    struct dirent *e;

    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL) {
        pid_t pid = (pid_t)atoi(e->d_name), pp;
        long long ticks;

        if (pid > 0 && procstat_cpu(pid, &ticks, &pp) == 0 && pp == parent)
            each(pid, arg);
    }
    closedir(d);
    return 0;
}

/* procstat_children()'s callback: one process into a procstat_usage. */
static void
add_one(pid_t pid, void *arg)
{
    struct procstat_usage *u = arg;
    long long ticks, kb;

    if (procstat_cpu(pid, &ticks, NULL) != 0)
        return;
    u->ticks += ticks;
    if ((kb = procstat_kb(pid, "status", "VmRSS:")) > 0)
        u->rss_kb += kb;
    if ((kb = procstat_kb(pid, "smaps_rollup", "Pss:")) > 0)
        u->pss_kb += kb;
}

void
procstat_add(pid_t pid, bool children, struct procstat_usage *u)
{
    add_one(pid, u);
    if (children)
        procstat_children(pid, add_one, u);
}
