/*
 * benchopt.h: strict numbers on the command lines of the load tools
 * (wsload, pollload). A value is taken only when all of it is a number in
 * its bounds; anything else is a usage error: a message naming the option,
 * the bounds and the value on stderr, and exit status 2.
 */
#ifndef SB_BENCH_BENCHOPT_H
#define SB_BENCH_BENCHOPT_H

#include <stdint.h>

/* Print "PROGRAM: opt: why" to stderr and exit 2. */
void benchopt_fail(const char *opt, const char *why) __attribute__((noreturn));

/* s as a whole decimal number from min to max; exits 2 (benchopt_fail)
 * when s is empty, has anything else in it, overflows or is out of
 * bounds. */
int64_t benchopt_int(const char *opt, const char *s, int64_t min, int64_t max);

/* s as a decimal number (such as 0.5 or 20) from min to max; exits 2 in
 * the same cases, and for inf and nan. */
double benchopt_real(const char *opt, const char *s, double min, double max);

#endif
