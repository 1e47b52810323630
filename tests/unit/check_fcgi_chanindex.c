/*
 * check_fcgi_chanindex.c: unit tests of fcgi/chanindex.c: adding and
 * removing parked requests, finding a channel's waiters, each waiter's
 * recorded slot after other removals moved it, entries freed with their
 * last waiter, hash chains of many channels, iteration, and thousands of
 * random adds and removals against a reference model (the seed is
 * printed; SWITCHBOARD_TEST_SEED repeats a run).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chanindex.h"
#include "fcgi_harness.h"
#include "xalloc.h"

static struct fcgi_index *x;

static void
setup(void)
{
    x = fcgi_index_new();
}

static void
teardown(void)
{
    fcgi_index_free(x);
    x = NULL;
}

/* A parked request on the channels "chat:c<id>" of ids[0..n). */
static struct fcgi_parked *
parked(const unsigned *ids, size_t n)
{
    struct fcgi_parked *p = sb_calloc(1, sizeof(*p));

    p->pos = sb_calloc(n > 0 ? n : 1, sizeof(*p->pos));
    p->npos = n;
    for (size_t i = 0; i < n; i++)
        snprintf(p->pos[i].channel, sizeof(p->pos[i].channel), "chat:c%u",
                 ids[i]);
    return p;
}

static void
parked_free(struct fcgi_parked *p)
{
    free(p->pos);
    free(p);
}

static struct fcgi_chan *
find_id(unsigned id)
{
    char name[32];

    snprintf(name, sizeof(name), "chat:c%u", id);
    return fcgi_index_find(x, name);
}

/* Every position of p is in its channel's entry at its recorded slot
 * (plain tests: this runs for every request after thousands of steps). */
static void
check_listed(const struct fcgi_parked *p, unsigned seed)
{
    for (size_t i = 0; i < p->npos; i++) {
        const struct fcgi_chan *c = p->pos[i].chan;
        size_t s = p->pos[i].slot;

        if (c == NULL)
            ck_abort_msg("seed %u: %s not listed", seed, p->pos[i].channel);
        if (fcgi_index_find(x, p->pos[i].channel) != c ||
            strcmp(c->name, p->pos[i].channel) != 0)
            ck_abort_msg("seed %u: %s found elsewhere", seed,
                         p->pos[i].channel);
        if (s >= c->n || c->v[s].p != p || c->v[s].pos != i)
            ck_abort_msg("seed %u: %s slot %zu is stale", seed, c->name, s);
    }
}

static void
count_chan(struct fcgi_chan *c, void *arg)
{
    size_t *n = arg;

    ck_assert_uint_gt(c->n, 0);
    (*n)++;
}

static size_t
count_each(void)
{
    size_t n = 0;

    fcgi_index_each(x, count_chan, &n);
    return n;
}

/* --- core --- */

START_TEST(empty_index)
{
    ck_assert_ptr_nonnull(x);
    ck_assert_uint_eq(x->nchans, 0);
    ck_assert_ptr_null(fcgi_index_find(x, "chat:a"));
    ck_assert_uint_eq(count_each(), 0);
    fcgi_index_free(NULL);
}
END_TEST

START_TEST(add_find_remove)
{
    static const unsigned ids[] = {1, 2, 3};
    struct fcgi_parked *p = parked(ids, 3);

    fcgi_index_add(x, p);
    ck_assert_uint_eq(x->nchans, 3);
    check_listed(p, 0);
    for (unsigned i = 0; i < 3; i++) {
        struct fcgi_chan *c = find_id(ids[i]);

        ck_assert_ptr_nonnull(c);
        ck_assert_uint_eq(c->n, 1);
        ck_assert_ptr_eq(c->v[0].p, p);
        ck_assert_uint_eq(c->v[0].pos, i);
        ck_assert(!c->rung);
    }
    ck_assert_ptr_null(find_id(4));
    ck_assert_ptr_null(fcgi_index_find(x, "chat:c"));
    ck_assert_ptr_null(fcgi_index_find(x, "chat:c10"));
    ck_assert_uint_eq(count_each(), 3);

    fcgi_index_remove(x, p);
    ck_assert_uint_eq(x->nchans, 0);
    for (size_t i = 0; i < 3; i++) {
        ck_assert_ptr_null(p->pos[i].chan);
        ck_assert_ptr_null(find_id(ids[i]));
    }
    ck_assert_uint_eq(count_each(), 0);
    parked_free(p);
}
END_TEST

START_TEST(shared_channel_slots_follow_removals)
{
    enum { N = 9 };
    static const unsigned one[] = {7};
    struct fcgi_parked *p[N];
    struct fcgi_chan *c;

    for (size_t i = 0; i < N; i++) {
        p[i] = parked(one, 1);
        fcgi_index_add(x, p[i]);
    }
    c = find_id(7);
    ck_assert_uint_eq(c->n, N);
    ck_assert_uint_ge(c->cap, N);
    ck_assert_uint_eq(x->nchans, 1);
    /* the first, a middle one and the last: each removal moves the
     * last slot into the hole, and the moved request learns it */
    fcgi_index_remove(x, p[0]);
    fcgi_index_remove(x, p[4]);
    fcgi_index_remove(x, p[N - 1]);
    ck_assert_ptr_eq(find_id(7), c);
    ck_assert_uint_eq(c->n, N - 3);
    for (size_t i = 0; i < N; i++) {
        if (i != 0 && i != 4 && i != N - 1)
            check_listed(p[i], 0);
    }
    for (size_t i = 0; i < N; i++) {
        if (i != 0 && i != 4 && i != N - 1)
            fcgi_index_remove(x, p[i]);
        parked_free(p[i]);
    }
    ck_assert_ptr_null(find_id(7));
    ck_assert_uint_eq(x->nchans, 0);
}
END_TEST

START_TEST(remove_twice_and_add_again)
{
    static const unsigned ids[] = {1, 2};
    struct fcgi_parked *p = parked(ids, 2), *q = parked(ids, 2);

    fcgi_index_add(x, p);
    fcgi_index_add(x, q);
    fcgi_index_remove(x, p);
    fcgi_index_remove(x, p); /* no position listed: nothing happens */
    check_listed(q, 0);
    ck_assert_uint_eq(find_id(1)->n, 1);
    fcgi_index_add(x, p); /* a request parked again after a delivery */
    check_listed(p, 0);
    check_listed(q, 0);
    ck_assert_uint_eq(find_id(2)->n, 2);
    fcgi_index_remove(x, q);
    fcgi_index_remove(x, p);
    ck_assert_uint_eq(x->nchans, 0);
    parked_free(p);
    parked_free(q);
}
END_TEST

START_TEST(same_channel_twice_in_one_request)
{
    static const unsigned ids[] = {5, 6, 5};
    struct fcgi_parked *p = parked(ids, 3);

    fcgi_index_add(x, p);
    ck_assert_uint_eq(x->nchans, 2);
    ck_assert_uint_eq(find_id(5)->n, 2);
    check_listed(p, 0);
    fcgi_index_remove(x, p);
    ck_assert_uint_eq(x->nchans, 0);
    ck_assert_ptr_null(find_id(5));
    parked_free(p);
}
END_TEST

struct seen {
    char **names;
    size_t n;
};

static void
collect(struct fcgi_chan *c, void *arg)
{
    struct seen *s = arg;

    s->names[s->n++] = c->name;
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Each entry once; removing what was collected afterwards (fn itself must
 * not change the index) empties it. */
START_TEST(each_visits_every_channel_once)
{
    enum { N = 500 };
    unsigned ids[N];
    struct fcgi_parked *p;
    struct seen s = {sb_calloc(N + 1, sizeof(char *)), 0};

    for (unsigned i = 0; i < N; i++)
        ids[i] = i * 7919;
    p = parked(ids, N);
    fcgi_index_add(x, p);
    fcgi_index_each(x, collect, &s);
    ck_assert_uint_eq(s.n, N);
    qsort(s.names, s.n, sizeof(char *), cmp_str);
    for (size_t i = 1; i < s.n; i++)
        ck_assert_str_ne(s.names[i - 1], s.names[i]);
    for (size_t i = 0; i < s.n; i++)
        ck_assert_ptr_nonnull(fcgi_index_find(x, s.names[i]));
    fcgi_index_remove(x, p);
    ck_assert_uint_eq(count_each(), 0);
    free(s.names);
    parked_free(p);
}
END_TEST

/* --- limits --- */

/* More channels than hash buckets: chains of several entries, emptied
 * from the middle, the head and the tail. */
START_TEST(many_channels_share_chains)
{
    enum { N = 12000 };
    struct fcgi_parked **p = sb_calloc(N, sizeof(*p));
    unsigned seed = harness_seed();

    srandom(seed);
    for (unsigned i = 0; i < N; i++) {
        p[i] = parked(&i, 1);
        fcgi_index_add(x, p[i]);
    }
    ck_assert_uint_eq(x->nchans, N);
    for (unsigned i = N - 1; i > 0; i--) { /* shuffle the removal order */
        unsigned j = (unsigned)(random() % (i + 1));
        struct fcgi_parked *t = p[i];

        p[i] = p[j];
        p[j] = t;
    }
    for (unsigned i = 0; i < N; i++) {
        const char *name = p[i]->pos[0].channel;

        fcgi_index_remove(x, p[i]);
        ck_assert_msg(fcgi_index_find(x, name) == NULL, "seed %u: %s", seed,
                      name);
        if (i + 1 < N)
            ck_assert_msg(fcgi_index_find(x, p[N - 1]->pos[0].channel) ==
                              p[N - 1]->pos[0].chan,
                          "seed %u", seed);
        parked_free(p[i]);
    }
    ck_assert_uint_eq(x->nchans, 0);
    free(p);
}
END_TEST

START_TEST(random_against_model)
{
    enum { NP = 400, NCH = 60, OPS = 20000, MAXPOS = 6 };
    struct fcgi_parked *p[NP] = {0};
    size_t waiters[NCH] = {0}; /* the model: positions per channel */
    unsigned seed = harness_seed();

    srandom(seed);
    for (int op = 0; op < OPS; op++) {
        size_t k = (size_t)random() % NP;

        if (p[k] == NULL) {
            unsigned ids[MAXPOS];
            size_t n = 1 + (size_t)random() % MAXPOS;

            for (size_t i = 0; i < n; i++) {
                ids[i] = (unsigned)(random() % NCH);
                waiters[ids[i]]++;
            }
            p[k] = parked(ids, n);
            fcgi_index_add(x, p[k]);
        } else {
            fcgi_index_remove(x, p[k]);
            for (size_t i = 0; i < p[k]->npos; i++)
                waiters[strtoul(p[k]->pos[i].channel + 6, NULL, 10)]--;
            parked_free(p[k]);
            p[k] = NULL;
        }
        if (op % 50 == 0) {
            size_t live = 0;

            for (unsigned c = 0; c < NCH; c++) {
                struct fcgi_chan *e = find_id(c);

                live += waiters[c] > 0;
                ck_assert_msg(waiters[c] == 0 ? e == NULL
                                              : e != NULL && e->n == waiters[c],
                              "seed %u op %d: channel %u", seed, op, c);
            }
            ck_assert_msg(x->nchans == live && count_each() == live,
                          "seed %u op %d: %zu entries, %zu live", seed, op,
                          x->nchans, live);
            for (size_t i = 0; i < NP; i++) {
                if (p[i] != NULL)
                    check_listed(p[i], seed);
            }
        }
    }
    for (size_t i = 0; i < NP; i++) {
        if (p[i] != NULL) {
            fcgi_index_remove(x, p[i]);
            parked_free(p[i]);
        }
    }
    ck_assert_uint_eq(x->nchans, 0);
}
END_TEST

/* Freeing an index that still lists requests releases its entries and
 * leaves the requests alone (checked by the sanitizer build). */
START_TEST(free_with_entries)
{
    static const unsigned ids[] = {1, 2, 3};
    struct fcgi_parked *p = parked(ids, 3);

    fcgi_index_add(x, p);
    fcgi_index_free(x);
    x = NULL;
    ck_assert_str_eq(p->pos[2].channel, "chat:c3");
    parked_free(p);
}
END_TEST

static Suite *
chanindex_suite(void)
{
    Suite *s = suite_create("fcgi_chanindex");
    TCase *core = tcase_create("core");
    TCase *limits = tcase_create("limits");

    tcase_add_checked_fixture(core, setup, teardown);
    tcase_add_test(core, empty_index);
    tcase_add_test(core, add_find_remove);
    tcase_add_test(core, shared_channel_slots_follow_removals);
    tcase_add_test(core, remove_twice_and_add_again);
    tcase_add_test(core, same_channel_twice_in_one_request);
    tcase_add_test(core, each_visits_every_channel_once);
    suite_add_tcase(s, core);

    tcase_add_checked_fixture(limits, setup, teardown);
    tcase_add_test(limits, many_channels_share_chains);
    tcase_add_test(limits, random_against_model);
    tcase_add_test(limits, free_with_entries);
    suite_add_tcase(s, limits);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(chanindex_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
