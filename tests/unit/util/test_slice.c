/* tests/unit/util/test_slice.c: byte views (util/slice.c): bytewise and ASCII
 * case-insensitive comparison (never by locale, NUL bytes included), prefixes, substring
 * search and trimming. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "util/compiler.h"
#include "util/slice.h"

#define S(s)           \
  {                    \
    (s), sizeof(s) - 1 \
  }

struct pair_case {
    struct slice a;
    struct slice b;
    bool eq;    /* slice_eq(a, b) */
    bool eq_ci; /* slice_eq_ci(a, b) */
};

static const struct pair_case pairs[] = {
    {S(""), S(""), true, true},
    {S("abc"), S("abc"), true, true},
    {S("abc"), S("abd"), false, false},
    {S("abc"), S("ab"), false, false},
    {S("ab"), S("abc"), false, false},
    {S("Content-Type"), S("content-TYPE"), false, true},
    {S("DAV:"), S("dav:"), false, true},
    {S("a\0b"), S("a\0b"), true, true},
    {S("a\0b"), S("a\0c"), false, false},
    {S("a\0"), S("a"), false, false},
    /* ASCII only: no folding of other bytes, whatever the locale. */
    {S("\xC3\x89"), S("\xC3\xA9"), false, false},
    {S("\xC9"), S("\xE9"), false, false},
    {S("@"), S("`"), false, false},
    {S("["), S("{"), false, false},
    {S("Z"), S("z"), false, true},
};

static void test_slice_compares_bytes_and_ascii_case(void **state)
{
    (void)state;
    for (size_t i = 0; i < ALM_ARRAY_LEN(pairs); i++) {
        if (slice_eq(pairs[i].a, pairs[i].b) != pairs[i].eq) {
            fail_msg("case %zu: slice_eq", i);
        }
        if (slice_eq_ci(pairs[i].a, pairs[i].b) != pairs[i].eq_ci) {
            fail_msg("case %zu: slice_eq_ci", i);
        }
        if (slice_eq(pairs[i].b, pairs[i].a) != pairs[i].eq) {
            fail_msg("case %zu: slice_eq is not symmetric", i);
        }
    }
}

static void test_slice_from_cstr(void **state)
{
    (void)state;
    struct slice s = slice_from_cstr("abc");
    assert_int_equal(s.len, 3);
    assert_memory_equal(s.ptr, "abc", 3);
    s = slice_from_cstr(NULL);
    assert_non_null(s.ptr);
    assert_int_equal(s.len, 0);
    assert_true(slice_eq(slice_from_cstr(""), SLICE_LIT("")));
    struct slice lit = SLICE_LIT("a\0b");
    assert_int_equal(lit.len, 3);
}

struct search_case {
    struct slice hay;
    struct slice needle;
    bool prefix;      /* slice_has_prefix */
    bool contains;    /* slice_contains */
    bool contains_ci; /* slice_contains_ci */
};

static const struct search_case searches[] = {
    {S("/calendars/x"), S("/calendars/"), true, true, true},
    {S("/calendars/x"), S(""), true, true, true},
    {S(""), S(""), true, true, true},
    {S(""), S("a"), false, false, false},
    {S("/cal"), S("/calendars/"), false, false, false},
    {S("/Calendars/x"), S("/calendars/"), false, false, true},
    {S("BEGIN:VEVENT"), S("vevent"), false, false, true},
    {S("BEGIN:VEVENT"), S("VEVENT"), false, true, true},
    {S("aaab"), S("aab"), false, true, true},
    {S("abc"), S("abcd"), false, false, false},
    {S("x\0yz"), S("\0y"), false, true, true},
    {S("x\0yz"), S("xy"), false, false, false},
    {S("caf\xC3\x89"), S("\xC3\xA9"), false, false, false},
};

static void test_slice_prefix_and_search(void **state)
{
    (void)state;
    for (size_t i = 0; i < ALM_ARRAY_LEN(searches); i++) {
        const struct search_case *c = &searches[i];
        if (slice_has_prefix(c->hay, c->needle) != c->prefix) {
            fail_msg("case %zu: slice_has_prefix", i);
        }
        if (slice_contains(c->hay, c->needle) != c->contains) {
            fail_msg("case %zu: slice_contains", i);
        }
        if (slice_contains_ci(c->hay, c->needle) != c->contains_ci) {
            fail_msg("case %zu: slice_contains_ci", i);
        }
    }
}

static void test_slice_trim_removes_only_http_whitespace(void **state)
{
    (void)state;

    static const struct {
        struct slice in;
        struct slice out;
    } cases[] = {
        {S(" \t x y \r\n"), S("x y")},
        {S("   "), S("")},
        {S(""), S("")},
        {S("x"), S("x")},
        {S("\r\n\tx"), S("x")},
        {S("\vx\f"), S("\vx\f")},
        {S("\0x\0"), S("\0x\0")},
        {S("\xC2\xA0x"), S("\xC2\xA0x")},
    };

    for (size_t i = 0; i < ALM_ARRAY_LEN(cases); i++) {
        struct slice got = slice_trim(cases[i].in);
        if (!slice_eq(got, cases[i].out)) {
            fail_msg("case %zu: trimmed to %zu bytes", i, got.len);
        }
        /* A view into the input, not a copy. */
        assert_true(got.ptr >= cases[i].in.ptr && got.ptr <= cases[i].in.ptr + cases[i].in.len);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slice_compares_bytes_and_ascii_case),
        cmocka_unit_test(test_slice_from_cstr),
        cmocka_unit_test(test_slice_prefix_and_search),
        cmocka_unit_test(test_slice_trim_removes_only_http_whitespace),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
