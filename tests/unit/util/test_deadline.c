/* tests/unit/util/test_deadline.c: the per-thread deadline (util/deadline.c): a budget of 0
 * (request_time_budget = 0) never expires, a positive one does once it has elapsed, a nested
 * piece of work gives the caller's deadline back, and each thread has its own. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "util/deadline.h"

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

static void test_no_deadline_never_passes(void **state)
{
    (void)state;
    assert_false(deadline_passed());
    int64_t saved = deadline_start(0);
    sleep_us(2000);
    assert_false(deadline_passed());
    deadline_restore(saved);
    assert_false(deadline_passed());
}

static void test_a_budget_passes_once_spent(void **state)
{
    (void)state;
    int64_t saved = deadline_start(60 * 1000000LL);
    assert_false(deadline_passed());
    deadline_restore(saved);
    saved = deadline_start(1000);
    sleep_us(3000);
    assert_true(deadline_passed());
    deadline_restore(saved);
    assert_false(deadline_passed());
}

/* A nested start (a body chunk inside the request's own budget) restores the outer one. */
static void test_restore_gives_the_outer_deadline_back(void **state)
{
    (void)state;
    int64_t outer = deadline_start(1000);
    int64_t inner = deadline_start(60 * 1000000LL);
    sleep_us(3000);
    assert_false(deadline_passed());
    deadline_restore(inner);
    assert_true(deadline_passed());
    deadline_restore(outer);
    assert_false(deadline_passed());
}

static void *other_thread(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)deadline_passed();
}

static void test_the_deadline_is_per_thread(void **state)
{
    (void)state;
    int64_t saved = deadline_start(1);
    sleep_us(1000);
    assert_true(deadline_passed());
    pthread_t t;
    void *passed = NULL;
    assert_int_equal(pthread_create(&t, NULL, other_thread, NULL), 0);
    assert_int_equal(pthread_join(t, &passed), 0);
    assert_null(passed);
    deadline_restore(saved);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_deadline_never_passes),
        cmocka_unit_test(test_a_budget_passes_once_spent),
        cmocka_unit_test(test_restore_gives_the_outer_deadline_back),
        cmocka_unit_test(test_the_deadline_is_per_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
