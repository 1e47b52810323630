/*
 * check_fcgi_timerheap.c: unit tests of fcgi/timerheap.c: the earliest
 * timer always on top, each timer's recorded position, removal of any
 * timer, moving a timer up or down, growth past the first array, extreme
 * times, and thousands of random operations against a plain reference
 * model (the seed is printed; SWITCHBOARD_TEST_SEED repeats a run).
 */
#include <check.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>

#include "fcgi_harness.h"
#include "timerheap.h"
#include "xalloc.h"

/* --- helpers --- */

static void
timers_init(struct fcgi_timer *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        t[i].at = 0;
        t[i].index = FCGI_HEAP_NONE;
        t[i].owner = &t[i];
    }
}

/* Push t[0..n) with the times at[0..n). */
static void
push_all(struct fcgi_heap *h, struct fcgi_timer *t, const int64_t *at, size_t n)
{
    timers_init(t, n);
    for (size_t i = 0; i < n; i++) {
        t[i].at = at[i];
        fcgi_heap_push(h, &t[i]);
    }
}

/* The heap's shape: positions recorded, parents never later than their
 * children, and exactly the timers the model says are in it. Plain tests
 * with one assertion each on failure: a passing Check assertion costs a
 * write, and this runs after each of thousands of operations. */
static void
check_heap(const struct fcgi_heap *h, const struct fcgi_timer *t, size_t nt,
           unsigned seed)
{
    size_t in = 0;
    const struct fcgi_timer *min = NULL, *top = fcgi_heap_top(h);

    if (h->n > h->cap)
        ck_abort_msg("seed %u: n %zu > cap %zu", seed, h->n, h->cap);
    for (size_t i = 0; i < h->n; i++) {
        if (h->v[i]->index != i)
            ck_abort_msg("seed %u: v[%zu]->index is %zu", seed, i,
                         h->v[i]->index);
        if (i > 0 && h->v[(i - 1) / 2]->at > h->v[i]->at)
            ck_abort_msg("seed %u: parent of %zu fires later", seed, i);
    }
    for (size_t i = 0; i < nt; i++) {
        if (t[i].index == FCGI_HEAP_NONE)
            continue;
        in++;
        if (t[i].index >= h->n || h->v[t[i].index] != &t[i])
            ck_abort_msg("seed %u: timer %zu lost its slot", seed, i);
        if (min == NULL || t[i].at < min->at)
            min = &t[i];
    }
    if (in != h->n)
        ck_abort_msg("seed %u: %zu timers in, heap holds %zu", seed, in, h->n);
    if (min == NULL ? top != NULL : top == NULL || top->at != min->at)
        ck_abort_msg("seed %u: top is not the earliest timer", seed);
}

/* Pop every timer; they come out in order of at. Returns how many. */
static size_t
drain(struct fcgi_heap *h)
{
    size_t n = 0;
    int64_t last = INT64_MIN;
    struct fcgi_timer *top;

    while ((top = fcgi_heap_top(h)) != NULL) {
        ck_assert_int_ge(top->at, last);
        last = top->at;
        fcgi_heap_remove(h, top);
        ck_assert_uint_eq(top->index, FCGI_HEAP_NONE);
        n++;
    }
    return n;
}

/* --- core --- */

START_TEST(empty_heap)
{
    struct fcgi_heap h = {0};
    struct fcgi_timer t;

    timers_init(&t, 1);
    ck_assert_ptr_null(fcgi_heap_top(&h));
    fcgi_heap_remove(&h, &t); /* not in it: nothing happens */
    ck_assert_uint_eq(t.index, FCGI_HEAP_NONE);
    ck_assert_uint_eq(h.n, 0);
    fcgi_heap_release(&h);
    fcgi_heap_release(&h);
    ck_assert_ptr_null(h.v);
}
END_TEST

START_TEST(earliest_first)
{
    static const int64_t at[] = {50, 10, 40, 10, 30, 20, 60, 0, 25};
    const size_t n = sizeof(at) / sizeof(at[0]);
    struct fcgi_heap h = {0};
    struct fcgi_timer t[sizeof(at) / sizeof(at[0])];

    timers_init(t, n);
    for (size_t i = 0; i < n; i++) {
        t[i].at = at[i];
        fcgi_heap_push(&h, &t[i]);
        check_heap(&h, t, n, 0);
    }
    ck_assert_ptr_eq(fcgi_heap_top(&h), &t[7]);
    ck_assert_ptr_eq(fcgi_heap_top(&h)->owner, &t[7]);
    ck_assert_uint_eq(drain(&h), n);
    ck_assert_uint_eq(h.n, 0);
    fcgi_heap_release(&h);
}
END_TEST

START_TEST(remove_any_position)
{
    enum { N = 40 };
    struct fcgi_heap h = {0};
    struct fcgi_timer t[N];
    int64_t at[N];

    /* Remove the root, a leaf, the last slot and inner nodes in turn. */
    for (size_t i = 0; i < N; i++)
        at[i] = (int64_t)((i * 37) % N);
    push_all(&h, t, at, N);
    while (h.n > 0) {
        size_t pick[] = {0, h.n - 1, h.n / 2, h.n / 3};
        struct fcgi_timer *victim = h.v[pick[h.n % 4]];

        fcgi_heap_remove(&h, victim);
        ck_assert_uint_eq(victim->index, FCGI_HEAP_NONE);
        check_heap(&h, t, N, 0);
        fcgi_heap_remove(&h, victim); /* twice: nothing happens */
        check_heap(&h, t, N, 0);
    }
    fcgi_heap_release(&h);
}
END_TEST

START_TEST(set_moves_up_and_down)
{
    enum { N = 16 };
    struct fcgi_heap h = {0};
    struct fcgi_timer t[N], extra;
    int64_t at[N];

    timers_init(&extra, 1);
    for (size_t i = 0; i < N; i++)
        at[i] = 100 + (int64_t)i * 10;
    push_all(&h, t, at, N);
    fcgi_heap_set(&h, &t[N - 1], 1); /* a late one becomes the first */
    ck_assert_ptr_eq(fcgi_heap_top(&h), &t[N - 1]);
    check_heap(&h, t, N, 0);
    fcgi_heap_set(&h, &t[N - 1], 10000); /* and the last again */
    ck_assert_ptr_eq(fcgi_heap_top(&h), &t[0]);
    check_heap(&h, t, N, 0);
    fcgi_heap_set(&h, &t[0], 105); /* the top moves past one timer */
    ck_assert_ptr_eq(fcgi_heap_top(&h), &t[0]);
    fcgi_heap_set(&h, &t[0], 115);
    ck_assert_ptr_eq(fcgi_heap_top(&h), &t[1]);
    check_heap(&h, t, N, 0);
    /* set on a timer that is not in the heap adds it */
    fcgi_heap_set(&h, &extra, 0);
    ck_assert_ptr_eq(fcgi_heap_top(&h), &extra);
    ck_assert_uint_eq(h.n, N + 1);
    ck_assert_uint_eq(drain(&h), N + 1);
    fcgi_heap_release(&h);
}
END_TEST

START_TEST(equal_times)
{
    enum { N = 100 };
    struct fcgi_heap h = {0};
    struct fcgi_timer t[N];
    int64_t at[N];

    for (size_t i = 0; i < N; i++)
        at[i] = 7;
    push_all(&h, t, at, N);
    check_heap(&h, t, N, 0);
    fcgi_heap_remove(&h, &t[N / 2]);
    check_heap(&h, t, N, 0);
    ck_assert_uint_eq(drain(&h), N - 1);
    fcgi_heap_release(&h);
}
END_TEST

/* --- limits --- */

START_TEST(growth)
{
    enum { N = 10000 };
    struct fcgi_heap h = {0};
    struct fcgi_timer *t = sb_calloc(N, sizeof(*t));
    unsigned seed = harness_seed();

    srandom(seed);
    timers_init(t, N);
    for (size_t i = 0; i < N; i++) {
        t[i].at = random() % 5000;
        fcgi_heap_push(&h, &t[i]);
        ck_assert_uint_ge(h.cap, h.n);
    }
    ck_assert_uint_eq(h.n, N);
    check_heap(&h, t, N, seed);
    ck_assert_uint_eq(drain(&h), N);
    /* the array is kept for reuse until released */
    ck_assert_uint_ge(h.cap, N);
    fcgi_heap_push(&h, &t[0]);
    ck_assert_ptr_eq(fcgi_heap_top(&h), &t[0]);
    fcgi_heap_release(&h);
    ck_assert_ptr_null(h.v);
    ck_assert_uint_eq(h.n, 0);
    ck_assert_uint_eq(h.cap, 0);
    free(t);
}
END_TEST

START_TEST(extreme_times)
{
    static const int64_t at[] = {INT64_MAX,     0, INT64_MIN, -1, INT64_MAX - 1,
                                 INT64_MIN + 1, 1};
    const size_t n = sizeof(at) / sizeof(at[0]);
    struct fcgi_heap h = {0};
    struct fcgi_timer t[sizeof(at) / sizeof(at[0])];

    push_all(&h, t, at, n);
    ck_assert_int_eq(fcgi_heap_top(&h)->at, INT64_MIN);
    check_heap(&h, t, n, 0);
    ck_assert_uint_eq(drain(&h), n);
    fcgi_heap_release(&h);
}
END_TEST

START_TEST(random_against_model)
{
    enum { NT = 300, OPS = 50000 };
    struct fcgi_heap h = {0};
    struct fcgi_timer t[NT];
    unsigned seed = harness_seed();

    srandom(seed);
    timers_init(t, NT);
    for (int op = 0; op < OPS; op++) {
        struct fcgi_timer *x = &t[random() % NT];
        /* narrow ranges give many equal times, wide ones many moves */
        int64_t at = op % 2 ? random() % 50 : random() - RAND_MAX / 2;
        struct fcgi_timer *top;

        switch (random() % 4) {
        case 0:
            if (x->index == FCGI_HEAP_NONE) {
                x->at = at;
                fcgi_heap_push(&h, x);
            }
            break;
        case 1:
            fcgi_heap_remove(&h, x);
            if (x->index != FCGI_HEAP_NONE)
                ck_abort_msg("seed %u: removed, still in", seed);
            break;
        case 2:
            fcgi_heap_set(&h, x, at);
            if (x->at != at || x->index == FCGI_HEAP_NONE)
                ck_abort_msg("seed %u: set, not in at its time", seed);
            break;
        default:
            top = fcgi_heap_top(&h);
            if (top != NULL)
                fcgi_heap_remove(&h, top);
        }
        check_heap(&h, t, NT, seed);
    }
    fcgi_heap_release(&h);
}
END_TEST

/* --- errors --- */

/* Pushing a timer that is already in a heap is a bug in the caller: the
 * invariant check aborts instead of corrupting the heap. */
START_TEST(push_twice_aborts)
{
    struct fcgi_heap h = {0};
    struct fcgi_timer t;

    timers_init(&t, 1);
    fcgi_heap_push(&h, &t);
    fcgi_heap_push(&h, &t);
}
END_TEST

static Suite *
timerheap_suite(void)
{
    Suite *s = suite_create("fcgi_timerheap");
    TCase *core = tcase_create("core");
    TCase *limits = tcase_create("limits");
    TCase *errors = tcase_create("errors");

    tcase_add_test(core, empty_heap);
    tcase_add_test(core, earliest_first);
    tcase_add_test(core, remove_any_position);
    tcase_add_test(core, set_moves_up_and_down);
    tcase_add_test(core, equal_times);
    suite_add_tcase(s, core);

    tcase_add_test(limits, growth);
    tcase_add_test(limits, extreme_times);
    tcase_add_test(limits, random_against_model);
    suite_add_tcase(s, limits);

    tcase_add_test_raise_signal(errors, push_twice_aborts, SIGABRT);
    suite_add_tcase(s, errors);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(timerheap_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
