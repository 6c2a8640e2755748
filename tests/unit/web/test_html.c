/* tests/unit/web/test_html.c: the web page's one HTML escaper (web/html.h): the five
 * characters that can end text or an attribute become references, control characters
 * become U+FFFD, everything else (UTF-8 included) is copied; a full buffer fails whole. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "web/html.h"

static const struct {
    const char *in;
    size_t len;
    const char *out;
} cases[] = {
    {"plain", 5, "plain"},
    {"", 0, ""},
    {"<script>alert(1)</script>", 25, "&lt;script&gt;alert(1)&lt;/script&gt;"},
    {"a&b", 3, "a&amp;b"},
    {"\"onmouseover='x'", 16, "&quot;onmouseover=&#39;x&#39;"},
    {"&amp;", 5, "&amp;amp;"},
    {"caf\xc3\xa9 \xe2\x82\xac", 9, "caf\xc3\xa9 \xe2\x82\xac"},
    {"a\0b", 3,
     "a\xef\xbf\xbd"
     "b"},
    {"tab\tnl\ncr\r", 10, "tab\tnl\ncr\r"},
    {"\x01\x1f\x7f", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
    {">>", 2, "&gt;&gt;"},
};

static void test_html_escape_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct buf b;
        buf_init(&b, 4096);
        assert_int_equal(web_html_escape(&b, (struct slice){cases[i].in, cases[i].len}), 0);
        assert_int_equal(b.len, strlen(cases[i].out));
        assert_memory_equal(b.len ? b.data : "", cases[i].out, b.len);
        buf_deinit(&b);
    }
}

static void test_html_escape_never_leaves_markup(void **state)
{
    (void)state;
    /* every byte value: the output never holds < > " ' or an & that does not open a
     * reference this escaper wrote */
    char all[256];
    for (int i = 0; i < 256; i++) {
        all[i] = (char)i;
    }
    struct buf b;
    buf_init(&b, 8192);
    assert_int_equal(web_html_escape(&b, (struct slice){all, sizeof(all)}), 0);
    for (size_t i = 0; i < b.len; i++) {
        assert_true(b.data[i] != '<' && b.data[i] != '>' && b.data[i] != '"' && b.data[i] != '\'' &&
                    b.data[i] != '\0');
        if (b.data[i] == '&') {
            const char *p = b.data + i;
            assert_true(strncmp(p, "&amp;", 5) == 0 || strncmp(p, "&lt;", 4) == 0 ||
                        strncmp(p, "&gt;", 4) == 0 || strncmp(p, "&quot;", 6) == 0 ||
                        strncmp(p, "&#39;", 5) == 0);
        }
    }
    buf_deinit(&b);
}

static void test_html_escape_full_buffer_fails(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 8);
    assert_int_equal(web_html_escape(&b, SLICE_LIT("<<<")), -1); /* 12 bytes */
    buf_deinit(&b);
}

static void test_html_segment_encodes_then_escapes(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 4096);
    assert_int_equal(web_html_segment(&b, "a b/\"<&"), 0);
    /* percent-encoded as a path segment, so nothing is left to escape but a sub-delim '&' */
    assert_null(strpbrk(buf_cstr(&b), "<>\" /"));
    assert_non_null(strstr(buf_cstr(&b), "%2F"));
    buf_deinit(&b);
}

static void test_html_size_reads_for_people(void **state)
{
    (void)state;

    static const struct {
        uint64_t n;
        const char *s;
    } sz[] = {{0, "0 B"},        {1023, "1023 B"},       {1024, "1.0 KiB"},
              {1536, "1.5 KiB"}, {10 << 20, "10.0 MiB"}, {(uint64_t)3 << 30, "3.0 GiB"}};

    for (size_t i = 0; i < sizeof(sz) / sizeof(sz[0]); i++) {
        struct buf b;
        buf_init(&b, 64);
        assert_int_equal(web_html_size(&b, sz[i].n), 0);
        assert_string_equal(buf_cstr(&b), sz[i].s);
        buf_deinit(&b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_html_escape_table),
        cmocka_unit_test(test_html_escape_never_leaves_markup),
        cmocka_unit_test(test_html_escape_full_buffer_fails),
        cmocka_unit_test(test_html_segment_encodes_then_escapes),
        cmocka_unit_test(test_html_size_reads_for_people),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
