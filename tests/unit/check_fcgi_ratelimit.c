/*
 * check_fcgi_ratelimit.c: unit tests of fcgi/ratelimit.c on a clock the
 * test moves (fcgi_mono_ms comes from fcgi_harness.c): the burst, refill
 * at publish_rate up to the burst and no further, retry_ms being the
 * earliest moment a retry passes, batches larger than the burst and the
 * debt they leave, subjects kept apart, pruning that never forgets a
 * bucket in use, and threads sharing a bucket.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "app.h"
#include "fcgi_harness.h"
#include "ratelimit.h"
#include "xalloc.h"

#define RATE  10 /* per second: one token each 100 ms */
#define BURST 20

static void
setup(void)
{
    fcgi_app.conf.publish_rate = RATE;
    fcgi_app.conf.publish_burst = BURST;
    harness_clock_ms = 5000000;
}

static void
teardown(void)
{
    fcgi_ratelimit_clear();
}

static int
take(const char *subject, long long n, long long *retry_ms)
{
    long long ignored = -7;

    return fcgi_ratelimit_take(subject, n, retry_ms ? retry_ms : &ignored);
}

/* n single takes at the current time; how many passed. */
static int
take_ones(const char *subject, int n)
{
    int passed = 0;

    for (int i = 0; i < n; i++)
        passed += take(subject, 1, NULL) == SB_OK;
    return passed;
}

/* Limited now with *retry_ms set; still limited at retry_ms - 2 (the
 * wait is rounded up by at most one ms) and passing at retry_ms. */
static void
assert_retry_is_earliest(const char *subject, long long n)
{
    int64_t now = harness_clock_ms;
    long long retry = -1;

    ck_assert_int_eq(take(subject, n, &retry), SB_AGAIN);
    ck_assert_int_ge(retry, 1);
    if (retry >= 2) {
        harness_clock_ms = now + retry - 2;
        ck_assert_msg(take(subject, n, NULL) == SB_AGAIN,
                      "%s: %lld tokens pass before retry_ms %lld", subject, n,
                      retry);
    }
    harness_clock_ms = now + retry;
    ck_assert_msg(take(subject, n, NULL) == SB_OK,
                  "%s: %lld tokens still limited after retry_ms %lld", subject,
                  n, retry);
}

/* --- core --- */

START_TEST(burst_then_limited)
{
    long long retry = -1;

    ck_assert_int_eq(take_ones("user:a", BURST), BURST);
    ck_assert_int_eq(take("user:a", 1, &retry), SB_AGAIN);
    /* one token at 10/s takes 100 ms */
    ck_assert_int_eq(retry, 101);
}
END_TEST

START_TEST(refill_at_rate)
{
    ck_assert_int_eq(take_ones("user:a", BURST), BURST);
    harness_clock_ms += 1000; /* RATE tokens */
    ck_assert_int_eq(take_ones("user:a", BURST), RATE);
    harness_clock_ms += 99; /* not quite one */
    ck_assert_int_eq(take("user:a", 1, NULL), SB_AGAIN);
    harness_clock_ms += 1;
    ck_assert_int_eq(take("user:a", 1, NULL), SB_OK);
    /* fractions add up: 4 x 25 ms make a token */
    for (int i = 0; i < 3; i++) {
        harness_clock_ms += 25;
        ck_assert_int_eq(take("user:a", 1, NULL), SB_AGAIN);
    }
    harness_clock_ms += 25;
    ck_assert_int_eq(take("user:a", 1, NULL), SB_OK);
}
END_TEST

START_TEST(refill_stops_at_burst)
{
    ck_assert_int_eq(take_ones("user:a", 5), 5);
    harness_clock_ms += 3600 * 1000; /* an hour idle */
    ck_assert_int_eq(take_ones("user:a", 3 * BURST), BURST);
}
END_TEST

START_TEST(retry_is_earliest)
{
    ck_assert_int_eq(take_ones("user:a", BURST), BURST);
    assert_retry_is_earliest("user:a", 1);
    ck_assert_int_eq(take_ones("user:b", BURST - 3), BURST - 3);
    assert_retry_is_earliest("user:b", 7); /* 3 there, 4 to wait for */
    ck_assert_int_eq(take("user:c", 15, NULL), SB_OK);
    harness_clock_ms += 37;
    assert_retry_is_earliest("user:c", BURST);
}
END_TEST

START_TEST(subjects_apart)
{
    enum { MANY = 3000 }; /* more subjects than hash buckets */
    char name[32];

    ck_assert_int_eq(take_ones("user:a", BURST + 5), BURST);
    ck_assert_int_eq(take_ones("user:b", BURST + 5), BURST);
    ck_assert_int_eq(take_ones("agent:a", 1), 1);
    ck_assert_int_eq(take_ones("", 1), 1); /* an empty subject is one too */
    ck_assert_int_eq(take_ones("user:a", 1), 0);
    for (int i = 0; i < MANY; i++) {
        snprintf(name, sizeof(name), "user:many%d", i);
        if (take(name, BURST, NULL) != SB_OK)
            ck_abort_msg("%s shares a bucket", name);
    }
    for (int i = 0; i < MANY; i++) {
        snprintf(name, sizeof(name), "user:many%d", i);
        if (take(name, 1, NULL) != SB_AGAIN)
            ck_abort_msg("%s forgot its bucket", name);
    }
}
END_TEST

START_TEST(batches)
{
    long long retry = -1;

    ck_assert_int_eq(take("user:a", 15, NULL), SB_OK);
    ck_assert_int_eq(take("user:a", 6, &retry), SB_AGAIN); /* 5 left */
    ck_assert_int_eq(retry, 101);
    ck_assert_int_eq(take("user:a", 5, NULL), SB_OK);
    ck_assert_int_eq(take("user:a", 1, NULL), SB_AGAIN);
}
END_TEST

/* A batch larger than the burst passes on a full bucket and leaves a
 * debt that later publishes wait for. */
START_TEST(batch_beyond_burst_leaves_debt)
{
    long long retry = -1;

    ck_assert_int_eq(take("user:a", 50, NULL), SB_OK); /* 30 owed */
    ck_assert_int_eq(take("user:a", 1, &retry), SB_AGAIN);
    ck_assert_int_eq(retry, 3101); /* 31 tokens at 10/s */
    harness_clock_ms += 3000;
    ck_assert_int_eq(take("user:a", 1, NULL), SB_AGAIN);
    harness_clock_ms += 100;
    ck_assert_int_eq(take("user:a", 1, NULL), SB_OK);
}
END_TEST

/* A batch larger than the burst needs only a full bucket, so retry_ms is
 * the time until the bucket is full, not until it could hold n tokens
 * (which a bucket capped at the burst never does). Here 19 of 20 tokens
 * are there: the batch passes 100 ms later. */
START_TEST(retry_for_batch_beyond_burst)
{
    ck_assert_int_eq(take("user:a", 1, NULL), SB_OK);
    assert_retry_is_earliest("user:a", 50);
}
END_TEST

START_TEST(clear_forgets_buckets)
{
    ck_assert_int_eq(take_ones("user:a", BURST), BURST);
    fcgi_ratelimit_clear();
    ck_assert_int_eq(take_ones("user:a", BURST + 1), BURST);
    fcgi_ratelimit_clear();
    fcgi_ratelimit_clear();
}
END_TEST

/* --- limits --- */

/* Past PRUNE_AT subjects, full buckets are dropped to bound memory; a
 * bucket that is not full is kept, so pruning never hands a subject a
 * fresh burst. */
START_TEST(pruning_keeps_buckets_in_use)
{
    enum { SUBJECTS = 20000 };
    char name[32];

    ck_assert_int_eq(take_ones("user:busy", BURST), BURST);
    for (int i = 0; i < SUBJECTS; i++) {
        snprintf(name, sizeof(name), "user:idle%d", i);
        ck_assert_int_eq(take(name, 0, NULL), SB_OK); /* a full bucket */
    }
    ck_assert_int_eq(take("user:busy", 1, NULL), SB_AGAIN);
    /* and subjects seen before pruning start full, as new ones */
    ck_assert_int_eq(take_ones("user:idle5", BURST + 1), BURST);
}
END_TEST

START_TEST(rate_and_burst_bounds)
{
    /* the smallest configuration: one per second, burst one */
    fcgi_app.conf.publish_rate = 1;
    fcgi_app.conf.publish_burst = 1;
    ck_assert_int_eq(take_ones("user:a", 3), 1);
    assert_retry_is_earliest("user:a", 1);
    fcgi_ratelimit_clear();
    /* the largest: 100000 per second */
    fcgi_app.conf.publish_rate = 100000;
    fcgi_app.conf.publish_burst = 100000;
    ck_assert_int_eq(take("user:a", 100000, NULL), SB_OK);
    ck_assert_int_eq(take("user:a", 1, NULL), SB_AGAIN);
    harness_clock_ms += 1; /* 100 tokens */
    ck_assert_int_eq(take("user:a", 100, NULL), SB_OK);
    ck_assert_int_eq(take("user:a", 1, NULL), SB_AGAIN);
}
END_TEST

struct racer {
    int passed;
};

static void *
race(void *arg)
{
    struct racer *r = arg;

    for (int i = 0; i < 2000; i++)
        r->passed += take("user:shared", 1, NULL) == SB_OK;
    return NULL;
}

/* One bucket shared by every thread: with the clock still, exactly the
 * burst passes however the takes interleave. */
START_TEST(threads_share_one_bucket)
{
    enum { THREADS = 4 };
    pthread_t t[THREADS];
    struct racer r[THREADS] = {{0}};
    int total = 0;

    for (int i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, race, &r[i]), 0);
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        total += r[i].passed;
    }
    ck_assert_int_eq(total, BURST);
}
END_TEST

static Suite *
ratelimit_suite(void)
{
    Suite *s = suite_create("fcgi_ratelimit");
    TCase *core = tcase_create("core");
    TCase *limits = tcase_create("limits");

    tcase_add_checked_fixture(core, setup, teardown);
    tcase_add_test(core, burst_then_limited);
    tcase_add_test(core, refill_at_rate);
    tcase_add_test(core, refill_stops_at_burst);
    tcase_add_test(core, retry_is_earliest);
    tcase_add_test(core, subjects_apart);
    tcase_add_test(core, batches);
    tcase_add_test(core, batch_beyond_burst_leaves_debt);
    tcase_add_test(core, retry_for_batch_beyond_burst);
    tcase_add_test(core, clear_forgets_buckets);
    suite_add_tcase(s, core);

    tcase_add_checked_fixture(limits, setup, teardown);
    tcase_add_test(limits, pruning_keeps_buckets_in_use);
    tcase_add_test(limits, rate_and_burst_bounds);
    tcase_add_test(limits, threads_share_one_bucket);
    suite_add_tcase(s, limits);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(ratelimit_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
