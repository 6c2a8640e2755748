/* tests/unit/util/test_arena.c: the request arena (util/arena.c): aligned, distinct
 * allocations that keep their bytes, large allocations, copies, mark/rewind releasing the
 * chunks and running the defers registered after the mark in reverse, destroy running the
 * rest, and the high-water figure staying flat across rewound row loops. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/arena.h"
#include "util/compiler.h"

static void test_arena_allocations_are_aligned_distinct_and_keep_their_bytes(void **state)
{
    (void)state;
    struct arena *a = arena_create();

    enum {
        N = 400
    };

    unsigned char *p[N];
    size_t len[N];
    for (size_t i = 0; i < N; i++) {
        len[i] = i % 3 == 0 ? 1 : (i * 37) % 700;
        if (i == 7) {
            len[i] = 0; /* still a distinct pointer */
        }
        if (i == 200) {
            len[i] = 100000; /* a chunk of its own, between small ones */
        }
        p[i] = arena_alloc(a, len[i]);
        assert_int_equal((uintptr_t)p[i] % 16, 0);
        memset(p[i], (int)(i & 0xff), len[i]);
    }
    for (size_t i = 0; i < N; i++) {
        for (size_t k = 0; k < len[i]; k++) {
            if (p[i][k] != (unsigned char)(i & 0xff)) {
                fail_msg("allocation %zu byte %zu overwritten", i, k);
            }
        }
        if (i > 0) {
            assert_true(p[i] != p[i - 1]);
        }
    }
    arena_destroy(&a);
    assert_null(a);
    arena_destroy(&a); /* NULL is fine */
}

static void test_arena_copies_are_nul_terminated_and_zeroed(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    unsigned char *z = arena_zalloc(a, 333);
    for (size_t i = 0; i < 333; i++) {
        assert_int_equal(z[i], 0);
    }
    assert_string_equal(arena_strdup(a, "calendar"), "calendar");
    assert_string_equal(arena_strndup(a, "abcdef", 3), "abc");
    assert_string_equal(arena_strndup(a, "abc", 0), "");
    char *s = arena_slicedup(a, (struct slice){"x\0y!", 3});
    assert_memory_equal(s, "x\0y\0", 4);
    assert_string_equal(arena_slicedup(a, SLICE_LIT("")), "");
    const uint32_t words[3] = {1, 2, 0xdeadbeef};
    uint32_t *w = arena_memdup(a, words, sizeof(words));
    assert_memory_equal(w, words, sizeof(words));
    assert_ptr_not_equal(w, words);
    assert_string_equal(arena_printf(a, "%d-%s-%05.1f", 42, "x", 2.5), "42-x-002.5");
    char big[5000];
    memset(big, 'b', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    char *pb = arena_printf(a, "[%s]", big);
    assert_int_equal(strlen(pb), sizeof(big) + 1);
    assert_int_equal(pb[0], '[');
    assert_int_equal(pb[sizeof(big)], ']');
    arena_destroy(&a);
}

/* Defer records: which ran, in order. */
struct trail {
    int order[16];
    int n;
};

static struct trail trail;

static void record(void *p)
{
    assert_true(trail.n < (int)ALM_ARRAY_LEN(trail.order));
    trail.order[trail.n++] = (int)(intptr_t)p;
}

static void test_arena_rewind_runs_later_defers_in_reverse_and_keeps_earlier_memory(void **state)
{
    (void)state;
    trail.n = 0;
    struct arena *a = arena_create();
    char *before = arena_strdup(a, "kept across the rewind");
    arena_defer(a, record, (void *)1);
    struct arena_mark m = arena_mark(a);
    for (int i = 0; i < 50; i++) {
        memset(arena_alloc(a, 4000), 0x5a, 4000);
    }
    arena_defer(a, record, (void *)2);
    arena_alloc(a, 100000);
    arena_defer(a, record, (void *)3);
    arena_rewind(a, m);
    assert_int_equal(trail.n, 2);
    assert_int_equal(trail.order[0], 3);
    assert_int_equal(trail.order[1], 2);
    assert_string_equal(before, "kept across the rewind");
    /* Rewinding to the same mark again releases only what came after it. */
    arena_defer(a, record, (void *)4);
    arena_rewind(a, m);
    assert_int_equal(trail.n, 3);
    assert_int_equal(trail.order[2], 4);
    arena_destroy(&a);
    assert_int_equal(trail.n, 4);
    assert_int_equal(trail.order[3], 1);
}

static void test_arena_nested_marks_unwind_in_order(void **state)
{
    (void)state;
    trail.n = 0;
    struct arena *a = arena_create();
    struct arena_mark outer = arena_mark(a); /* taken on an empty arena */
    arena_defer(a, record, (void *)1);
    struct arena_mark inner = arena_mark(a);
    arena_defer(a, record, (void *)2);
    arena_defer(a, record, (void *)3);
    arena_rewind(a, inner);
    assert_int_equal(trail.n, 2);
    assert_int_equal(trail.order[0], 3);
    assert_int_equal(trail.order[1], 2);
    arena_defer(a, record, (void *)4);
    arena_rewind(a, outer);
    assert_int_equal(trail.n, 4);
    assert_int_equal(trail.order[2], 4);
    assert_int_equal(trail.order[3], 1);
    /* The arena works as new after rewinding to its very start. */
    assert_string_equal(arena_strdup(a, "again"), "again");
    arena_destroy(&a);
    assert_int_equal(trail.n, 4);
}

/* STYLE.md §3.4: a row loop bracketed by mark/rewind holds O(1) memory in rows. */
static void test_arena_high_water_stays_flat_across_rewound_rows(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    assert_int_equal(arena_high_water(a), 0);
    arena_strdup(a, "request-scoped");
    size_t base = arena_high_water(a);
    assert_true(base >= 15);
    struct arena_mark m = arena_mark(a);
    for (int i = 0; i < 20; i++) {
        arena_alloc(a, 3000);
    }
    arena_alloc(a, 200000);
    size_t row = arena_high_water(a);
    assert_true(row >= base + 20 * 3000 + 200000);
    arena_rewind(a, m);
    assert_int_equal(arena_high_water(a), row); /* a peak, not the current size */
    for (int r = 0; r < 1000; r++) {
        struct arena_mark rm = arena_mark(a);
        for (int i = 0; i < 20; i++) {
            arena_alloc(a, 3000);
        }
        arena_alloc(a, 200000);
        arena_rewind(a, rm);
    }
    assert_int_equal(arena_high_water(a), row);
    /* Without the rewinds the same rows grow it. */
    for (int r = 0; r < 3; r++) {
        arena_alloc(a, 200000);
    }
    assert_true(arena_high_water(a) > row);
    arena_destroy(&a);
}

/* Runs arena_alloc(a, n) in a child process: true when the child died of SIGABRT. */
static bool alloc_aborts(size_t n)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct arena *a = arena_create();
        void *p = arena_alloc(a, n);
        _exit(p ? 0 : 1); /* returned: the size wrapped to a small allocation */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

/* Issue 14: rounding n up to the alignment (or adding the chunk header) wrapped a size near
 * SIZE_MAX to a few bytes, and the caller then wrote n bytes into them. Such a size cannot
 * be allocated, so it aborts as an allocation failure does (STYLE.md §3.3). */
static void test_arena_alloc_near_size_max_aborts_instead_of_wrapping_issue_14(void **state)
{
    (void)state;
    static const size_t sizes[] = {SIZE_MAX, SIZE_MAX - 8, SIZE_MAX - 15, SIZE_MAX - 40};
    for (size_t i = 0; i < ALM_ARRAY_LEN(sizes); i++) {
        assert_true(alloc_aborts(sizes[i]));
    }
    struct arena *a = arena_create();
    assert_non_null(arena_alloc(a, 1 << 20)); /* large but possible sizes still work */
    arena_destroy(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena_allocations_are_aligned_distinct_and_keep_their_bytes),
        cmocka_unit_test(test_arena_copies_are_nul_terminated_and_zeroed),
        cmocka_unit_test(test_arena_rewind_runs_later_defers_in_reverse_and_keeps_earlier_memory),
        cmocka_unit_test(test_arena_nested_marks_unwind_in_order),
        cmocka_unit_test(test_arena_high_water_stays_flat_across_rewound_rows),
        cmocka_unit_test(test_arena_alloc_near_size_max_aborts_instead_of_wrapping_issue_14),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
