/*
 * benchopt.c: strict numbers on the load tools' command lines (see
 * benchopt.h).
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "benchopt.h"

void
benchopt_fail(const char *opt, const char *why)
{
    fprintf(stderr, "%s: %s: %s\n", program_invocation_short_name, opt, why);
    exit(2);
}

/* Whether strto*() took all of s (no leading blanks, nothing after). */
static int
whole(const char *s, const char *end)
{
    return *s != '\0' && !isspace((unsigned char)*s) && *end == '\0';
}

int64_t
benchopt_int(const char *opt, const char *s, int64_t min, int64_t max)
{
    char why[160], *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (whole(s, end) && errno == 0 && v >= min && v <= max)
        return v;
    snprintf(why, sizeof(why),
             "want a whole number from %lld to %lld, not '%.40s'",
             (long long)min, (long long)max, s);
    benchopt_fail(opt, why);
}

double
benchopt_real(const char *opt, const char *s, double min, double max)
{
    char why[160], *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (whole(s, end) && errno == 0 && isfinite(v) && v >= min && v <= max)
        return v;
    snprintf(why, sizeof(why), "want a number from %g to %g, not '%.40s'", min,
             max, s);
    benchopt_fail(opt, why);
}
