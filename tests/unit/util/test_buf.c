/* tests/unit/util/test_buf.c: bounded buffers (util/buf.c) and slices (util/slice.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util/buf.h"
#include "util/parse.h"

static void test_buf_appends_until_the_limit_and_not_past_it(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 8);
    assert_string_equal(buf_cstr(&b), "");
    assert_int_equal(buf_append_cstr(&b, "abcd"), 0);
    assert_int_equal(buf_appendf(&b, "%d", 123), 0);
    assert_int_equal(buf_putc(&b, 'x'), 0);
    assert_string_equal(buf_cstr(&b), "abcd123x");
    assert_int_equal(buf_putc(&b, 'y'), -1);
    assert_int_equal(buf_appendf(&b, "%s", "z"), -1);
    assert_string_equal(buf_cstr(&b), "abcd123x");
    assert_int_equal(b.len, 8);
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_int_equal(buf_append(&b, "a\0b", 3), 0);
    assert_int_equal(b.len, 3);
    buf_deinit(&b);
    assert_null(b.data);
}

static void test_slice_compare_and_trim(void **state)
{
    (void)state;
    assert_true(slice_eq(SLICE_LIT("abc"), slice_from_cstr("abc")));
    assert_false(slice_eq(SLICE_LIT("abc"), SLICE_LIT("abd")));
    assert_true(slice_eq_ci(SLICE_LIT("Content-Type"), SLICE_LIT("content-TYPE")));
    assert_false(slice_eq_ci(SLICE_LIT("a"), SLICE_LIT("ab")));
    assert_true(slice_has_prefix(SLICE_LIT("/calendars/x"), SLICE_LIT("/calendars/")));
    assert_true(slice_eq(slice_trim(SLICE_LIT(" \t x y \r\n")), SLICE_LIT("x y")));
    assert_int_equal(slice_trim(SLICE_LIT("   ")).len, 0);
}

static void test_parse_u64_is_strict(void **state)
{
    (void)state;
    uint64_t v = 0;
    assert_int_equal(parse_u64(SLICE_LIT("0"), &v), 0);
    assert_int_equal(parse_u64(SLICE_LIT("18446744073709551615"), &v), 0);
    assert_true(v == UINT64_MAX);
    static const char *const bad[] = {"",    "18446744073709551616", "-1", "+1", " 1", "1 ", "1a",
                                      "0x10"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(parse_u64(slice_from_cstr(bad[i]), &v), -1);
    }
    assert_int_equal(parse_hexdigit('f'), 15);
    assert_int_equal(parse_hexdigit('G'), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_appends_until_the_limit_and_not_past_it),
        cmocka_unit_test(test_slice_compare_and_trim),
        cmocka_unit_test(test_parse_u64_is_strict),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
