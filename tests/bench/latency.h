/*
 * latency.h: latency figures of the load tools (wsload, pollload) and the
 * one rule both read their percentiles by (nearest rank).
 *
 * Two stores of microsecond values: a log-linear histogram of fixed size
 * (buckets about 1.6% wide, values up to about 2^47 µs), which load
 * processes can send whole and merge; and a growing list of exact samples
 * (each capped at INT32_MAX µs, about 36 minutes), sorted once to be read.
 */
#ifndef SB_BENCH_LATENCY_H
#define SB_BENCH_LATENCY_H

#include <stddef.h>
#include <stdint.h>

/* The 1-based nearest rank of quantile q (0..1) among n values, at least
 * 1; 0 when n is 0. */
uint64_t lat_rank(uint64_t n, double q);

/* --- the histogram --- */

#define LAT_HIST_SUB     64
#define LAT_HIST_BUCKETS (LAT_HIST_SUB * 42)

struct lat_hist {
    uint64_t n;
    uint64_t max;
    uint64_t count[LAT_HIST_BUCKETS];
};

void lat_hist_add(struct lat_hist *h, uint64_t us);
void lat_hist_merge(struct lat_hist *into, const struct lat_hist *h);
/* The value (µs) at quantile q (0..1): the middle of the bucket of that
 * rank, never above the largest value added; 0 when empty. */
uint64_t lat_hist_quantile(const struct lat_hist *h, double q);

/* --- exact samples --- */

struct lat_samples {
    int32_t *v; /* µs; sorted by lat_samples_sort() */
    size_t n, cap;
};

/* Add one value (µs); the list grows as needed (aborts when memory is out). */
void lat_samples_add(struct lat_samples *s, int64_t us);
void lat_samples_sort(struct lat_samples *s);
/* The value (µs) at quantile q (0..1) of sorted samples; 0 when empty. */
int32_t lat_samples_quantile(const struct lat_samples *s, double q);
/* Release the list's memory; s is empty and can be used again. */
void lat_samples_free(struct lat_samples *s);

#endif
