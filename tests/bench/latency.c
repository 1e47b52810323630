/*
 * latency.c: latency histogram, exact samples and their percentiles (see
 * latency.h).
 */
#include <stdlib.h>

#include "latency.h"
#include "xalloc.h"

uint64_t
lat_rank(uint64_t n, double q)
{
    uint64_t rank = (uint64_t)(q * (double)n + 0.999999);

    if (n == 0)
        return 0;
    return rank < 1 ? 1 : rank;
}

/* --- the histogram --- */

static unsigned
hist_index(uint64_t v)
{
    unsigned shift;

    if (v < LAT_HIST_SUB)
        return (unsigned)v;
    shift = (unsigned)(63 - __builtin_clzll(v)) - 6; /* keep 7 bits */
    unsigned i =
        (shift + 1) * LAT_HIST_SUB + (unsigned)(v >> shift) - LAT_HIST_SUB;
    return i < LAT_HIST_BUCKETS ? i : LAT_HIST_BUCKETS - 1;
}

/* The middle of bucket i. */
static uint64_t
hist_value(unsigned i)
{
    unsigned shift;

    if (i < LAT_HIST_SUB)
        return i;
    shift = i / LAT_HIST_SUB - 1;
    return (((uint64_t)(i % LAT_HIST_SUB + LAT_HIST_SUB)) << shift) +
           ((1ULL << shift) >> 1);
}

void
lat_hist_add(struct lat_hist *h, uint64_t us)
{
    h->count[hist_index(us)]++;
    h->n++;
    if (us > h->max)
        h->max = us;
}

void
lat_hist_merge(struct lat_hist *into, const struct lat_hist *h)
{
    for (unsigned i = 0; i < LAT_HIST_BUCKETS; i++)
        into->count[i] += h->count[i];
    into->n += h->n;
    if (h->max > into->max)
        into->max = h->max;
}

uint64_t
lat_hist_quantile(const struct lat_hist *h, double q)
{
    uint64_t rank = lat_rank(h->n, q);
    uint64_t seen = 0;

    if (rank == 0)
        return 0;
    for (unsigned i = 0; i < LAT_HIST_BUCKETS; i++) {
        seen += h->count[i];
        if (seen >= rank) {
            uint64_t v = hist_value(i);
            return v < h->max ? v : h->max;
        }
    }
    return h->max;
}

/* --- exact samples --- */

void
lat_samples_add(struct lat_samples *s, int64_t us)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 65536;
        s->v = sb_realloc(s->v, s->cap * sizeof(*s->v));
    }
    s->v[s->n++] = us > INT32_MAX ? INT32_MAX : (int32_t)us;
}

static int
cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;

    return (x > y) - (x < y);
}

void
lat_samples_sort(struct lat_samples *s)
{
    if (s->n > 0)
        qsort(s->v, s->n, sizeof(*s->v), cmp_i32);
}

int32_t
lat_samples_quantile(const struct lat_samples *s, double q)
{
    uint64_t rank = lat_rank(s->n, q);

    if (rank == 0)
        return 0;
    return s->v[rank <= s->n ? rank - 1 : s->n - 1];
}

void
lat_samples_free(struct lat_samples *s)
{
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}
