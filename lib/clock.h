/*
 * clock.h: the monotonic clock, for timeouts, rates and latencies (never
 * for times shown to people).
 */
#ifndef SB_CLOCK_H
#define SB_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC in microseconds. */
int64_t sb_mono_us(void);
/* CLOCK_MONOTONIC in milliseconds. */
int64_t sb_mono_ms(void);

#endif
