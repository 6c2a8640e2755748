/* tests/unit/util/test_parse.c: strict number parsing of client bytes (util/parse.c):
 * decimal digits only, no sign, space, trailing byte or overflow; hex digits either case. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "util/compiler.h"
#include "util/parse.h"

#define S(s)           \
  {                    \
    (s), sizeof(s) - 1 \
  }

static void test_parse_u64_accepts_decimal_digits_up_to_the_maximum(void **state)
{
    (void)state;

    static const struct {
        struct slice in;
        uint64_t v;
    } ok[] = {
        {S("0"), 0},
        {S("1"), 1},
        {S("007"), 7},
        {S("42"), 42},
        {S("4294967296"), 4294967296u},
        {S("18446744073709551609"), UINT64_MAX - 6},
        {S("18446744073709551614"), UINT64_MAX - 1},
        {S("18446744073709551615"), UINT64_MAX},
        {S("000000000000000000000018446744073709551615"), UINT64_MAX},
    };

    for (size_t i = 0; i < ALM_ARRAY_LEN(ok); i++) {
        uint64_t v = 12345;
        assert_int_equal(parse_u64(ok[i].in, &v), 0);
        if (v != ok[i].v) {
            fail_msg("case %zu: %llu", i, (unsigned long long)v);
        }
    }
}

static void test_parse_u64_rejects_everything_else_and_leaves_the_output(void **state)
{
    (void)state;
    static const struct slice bad[] = {
        S(""),
        S("18446744073709551616"), /* UINT64_MAX + 1 */
        S("18446744073709551620"),
        S("99999999999999999999"),
        S("184467440737095516150"),
        S("-1"),
        S("+1"),
        S(" 1"),
        S("1 "),
        S("1\t"),
        S("1a"),
        S("a1"),
        S("0x10"),
        S("1.0"),
        S("1e3"),
        S("1\0"),
        S("\0001"),
        S("\xD9\xA1"), /* ARABIC-INDIC DIGIT ONE */
    };
    for (size_t i = 0; i < ALM_ARRAY_LEN(bad); i++) {
        uint64_t v = 12345;
        if (parse_u64(bad[i], &v) != -1) {
            fail_msg("case %zu parsed", i);
        }
        assert_int_equal(v, 12345);
    }
    /* Only the slice counts, not the bytes after it. */
    uint64_t v = 0;
    assert_int_equal(parse_u64((struct slice){"12x", 2}, &v), 0);
    assert_int_equal(v, 12);
}

static void test_parse_hexdigit_knows_exactly_22_characters(void **state)
{
    (void)state;
    int valid = 0;
    for (int c = -128; c < 128; c++) {
        int d = parse_hexdigit((char)c);
        if (c >= '0' && c <= '9') {
            assert_int_equal(d, c - '0');
        } else if (c >= 'a' && c <= 'f') {
            assert_int_equal(d, c - 'a' + 10);
        } else if (c >= 'A' && c <= 'F') {
            assert_int_equal(d, c - 'A' + 10);
        } else {
            assert_int_equal(d, -1);
        }
        valid += d >= 0;
    }
    assert_int_equal(valid, 22);
}

static void test_parse_utf8_ok_is_strict(void **state)
{
    (void)state;
    static const char *const good[] = {
        "",
        "plain ascii",
        "caf\xc3\xa9",
        "\xe2\x82\xac",
        "\xf0\x9f\x93\x85",
        "\xf4\x8f\xbf\xbf", /* U+10FFFF */
        "\xed\x9f\xbf",     /* U+D7FF, just below the surrogates */
    };
    static const char *const bad[] = {
        "\xff",
        "\xc0\xaf",
        "\xc1\xbf",
        "\xe0\x80\xaf",
        "\xf0\x80\x80\xaf",
        "\xed\xa0\x80",     /* U+D800 */
        "\xf4\x90\x80\x80", /* U+110000 */
        "\xf5\x80\x80\x80",
        "caf\xc3",
        "\xe2\x82",
        "\x80",
        "a\xc3\x28",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (!parse_utf8_ok(slice_from_cstr(good[i]))) {
            fail_msg("good case %zu refused", i);
        }
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (parse_utf8_ok(slice_from_cstr(bad[i]))) {
            fail_msg("bad case %zu accepted", i);
        }
    }
    /* a NUL inside is refused; the slice's length, not a NUL, ends it */
    assert_false(parse_utf8_ok((struct slice){"a\0b", 3}));
    assert_true(parse_utf8_ok((struct slice){"ab\xff", 2}));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_u64_accepts_decimal_digits_up_to_the_maximum),
        cmocka_unit_test(test_parse_u64_rejects_everything_else_and_leaves_the_output),
        cmocka_unit_test(test_parse_hexdigit_knows_exactly_22_characters),
        cmocka_unit_test(test_parse_utf8_ok_is_strict),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
