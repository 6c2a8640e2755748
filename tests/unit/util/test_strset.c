/* tests/unit/util/test_strset.c: the compact string set (util/strset.c): each string kept
 * once, in the order first added, any bytes (NUL included) compared exactly, the byte limit
 * refusing without changing anything, and 1,000,000 strings in bounded memory (issue 14). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "util/sec.h"
#include "util/strset.h"

static int setup(void **state)
{
    (void)state;
    return sec_init();
}

static void test_strset_keeps_each_string_once_in_first_order(void **state)
{
    (void)state;
    struct strset *s = strset_create(1 << 20);
    static const char *const in[] = {"/a.ics", "/b.ics", "/a.ics", "", "/c.ics", "", "/b.ics"};
    static const int want_rc[] = {1, 1, 0, 1, 1, 0, 0};
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        assert_int_equal(strset_add(s, slice_from_cstr(in[i])), want_rc[i]);
    }
    assert_int_equal(strset_count(s), 4);
    static const char *const order[] = {"/a.ics", "/b.ics", "", "/c.ics"};
    size_t pos = 0;
    struct slice got;
    for (size_t i = 0; i < 4; i++) {
        assert_true(strset_next(s, &pos, &got));
        assert_int_equal(got.len, strlen(order[i]));
        assert_memory_equal(got.ptr, order[i], got.len);
    }
    assert_false(strset_next(s, &pos, &got));
    assert_true(strset_has(s, SLICE_LIT("/c.ics")));
    assert_false(strset_has(s, SLICE_LIT("/d.ics")));
    strset_destroy(&s);
    assert_null(s);
    strset_destroy(&s);
}

static void test_strset_compares_every_byte_nul_included(void **state)
{
    (void)state;
    struct strset *s = strset_create(1024);
    assert_int_equal(strset_add(s, (struct slice){"a\0b", 3}), 1);
    assert_int_equal(strset_add(s, (struct slice){"a\0c", 3}), 1);
    assert_int_equal(strset_add(s, (struct slice){"a", 1}), 1);
    assert_int_equal(strset_add(s, (struct slice){"A\0b", 3}), 1);
    assert_int_equal(strset_add(s, (struct slice){"a\0b", 3}), 0);
    assert_int_equal(strset_count(s), 4);
    strset_destroy(&s);
}

static void test_strset_refuses_past_its_byte_limit_and_changes_nothing(void **state)
{
    (void)state;
    /* each entry takes 4 bytes of length plus its bytes: 2 x (4 + 6) = 20 */
    struct strset *s = strset_create(20);
    assert_int_equal(strset_add(s, SLICE_LIT("/a.ics")), 1);
    assert_int_equal(strset_add(s, SLICE_LIT("/b.ics")), 1);
    assert_int_equal(strset_add(s, SLICE_LIT("/c")), -1);
    assert_int_equal(strset_add(s, SLICE_LIT("")), -1);
    assert_int_equal(strset_add(s, SLICE_LIT("/a.ics")), 0); /* a duplicate costs nothing */
    assert_int_equal(strset_count(s), 2);
    assert_false(strset_has(s, SLICE_LIT("/c")));
    size_t pos = 0, n = 0;
    struct slice got;
    while (strset_next(s, &pos, &got)) {
        n++;
    }
    assert_int_equal(n, 2);
    strset_destroy(&s);
}

static void test_strset_holds_a_million_hrefs_in_bounded_memory_issue_14(void **state)
{
    (void)state;
    struct strset *s = strset_create((size_t)1 << 30);
    char href[64];
    for (unsigned i = 0; i < 1000000; i++) {
        int n = snprintf(href, sizeof(href), "/calendars/alice/cal/%07u.ics", i);
        assert_true(n > 0 && (size_t)n < sizeof(href));
        assert_int_equal(strset_add(s, (struct slice){href, (size_t)n}), 1);
    }
    for (unsigned i = 0; i < 1000000; i += 999) {
        int n = snprintf(href, sizeof(href), "/calendars/alice/cal/%07u.ics", i);
        assert_int_equal(strset_add(s, (struct slice){href, (size_t)n}), 0);
    }
    assert_int_equal(strset_count(s), 1000000);
    /* 33 bytes + 4 of length per href (37 MB, in a buffer that doubles: 64 MiB), and 2^21
     * slots of 8 bytes (16 MiB) */
    assert_true(strset_bytes(s) <= (size_t)(64 + 16 + 1) << 20);
    size_t pos = 0;
    struct slice got;
    for (unsigned i = 0; i < 1000000; i++) {
        assert_true(strset_next(s, &pos, &got));
        int n = snprintf(href, sizeof(href), "/calendars/alice/cal/%07u.ics", i);
        assert_int_equal(got.len, (size_t)n);
        assert_memory_equal(got.ptr, href, got.len);
    }
    assert_false(strset_next(s, &pos, &got));
    strset_destroy(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strset_keeps_each_string_once_in_first_order),
        cmocka_unit_test(test_strset_compares_every_byte_nul_included),
        cmocka_unit_test(test_strset_refuses_past_its_byte_limit_and_changes_nothing),
        cmocka_unit_test(test_strset_holds_a_million_hrefs_in_bounded_memory_issue_14),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
