/* tests/unit/util/test_arena.c: the request arena (util/arena.c): alignment, large
 * allocations, mark/rewind releasing chunks and running defers in reverse, high water. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util/arena.h"

static void test_arena_allocations_are_aligned_and_distinct(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    char *prev = NULL;
    for (size_t n = 1; n < 200; n += 7) {
        char *p = arena_alloc(a, n);
        assert_int_equal((uintptr_t)p % 16, 0);
        memset(p, 0xab, n);
        assert_true(p != prev);
        prev = p;
    }
    char *big = arena_alloc(a, 1 << 20);
    memset(big, 1, 1 << 20);
    assert_string_equal(arena_printf(a, "%d-%s", 42, "x"), "42-x");
    assert_string_equal(arena_strndup(a, "abcdef", 3), "abc");
    arena_destroy(&a);
    assert_null(a);
}

static int order[8];
static int norder;

static void record(void *p)
{
    order[norder++] = (int)(intptr_t)p;
}

static void test_arena_rewind_frees_chunks_and_runs_later_defers_in_reverse(void **state)
{
    (void)state;
    norder = 0;
    struct arena *a = arena_create();
    arena_defer(a, record, (void *)1);
    struct arena_mark m = arena_mark(a);
    size_t before = arena_high_water(a);
    for (int i = 0; i < 100; i++) {
        arena_alloc(a, 4000);
    }
    arena_defer(a, record, (void *)2);
    arena_defer(a, record, (void *)3);
    assert_true(arena_high_water(a) > before + 100 * 4000);
    arena_rewind(a, m);
    assert_int_equal(norder, 2);
    assert_int_equal(order[0], 3);
    assert_int_equal(order[1], 2);
    /* after a rewind the same memory is reused: high water does not grow again */
    size_t high = arena_high_water(a);
    for (int r = 0; r < 10; r++) {
        struct arena_mark m2 = arena_mark(a);
        for (int i = 0; i < 100; i++) {
            arena_alloc(a, 4000);
        }
        arena_rewind(a, m2);
    }
    assert_int_equal(arena_high_water(a), high);
    arena_destroy(&a);
    assert_int_equal(norder, 3);
    assert_int_equal(order[2], 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena_allocations_are_aligned_and_distinct),
        cmocka_unit_test(test_arena_rewind_frees_chunks_and_runs_later_defers_in_reverse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
