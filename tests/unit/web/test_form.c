/* tests/unit/web/test_form.c: the web page's form parsers (web/form.h): urlencoded fields
 * with '+' and percent-escapes; multipart/form-data (RFC 7578) with its boundary taken from
 * the Content-Type, a file part whose bytes come back exactly (NUL and CRLF included), and
 * every malformed shape refused with bad-form rather than misread. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "web/form.h"
#include "web/web.h"

static void test_form_urlencoded_decodes(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    struct web_form f;
    struct err e;
    err_init(&e);
    assert_int_equal(
        web_form_urlencoded(SLICE_LIT("user=al+ice&password=p%26w%3D1&&flag&csrf="), a, &f, &e), 0);
    assert_int_equal(f.n, 4);
    assert_string_equal(web_form_text(&f, "user", a), "al ice");
    assert_string_equal(web_form_text(&f, "password", a), "p&w=1");
    assert_string_equal(web_form_text(&f, "flag", a), "");
    assert_string_equal(web_form_text(&f, "csrf", a), "");
    assert_null(web_form_get(&f, "nope"));
    /* a NUL byte is kept in the value, but never handed out as text */
    assert_int_equal(web_form_urlencoded(SLICE_LIT("user=a%00b"), a, &f, &e), 0);
    assert_int_equal(f.fields[0].value.len, 3);
    assert_null(web_form_text(&f, "user", a));
    static const char *const bad[] = {"a=%", "a=%4", "a=%zz", "%g0=1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err_init(&e);
        assert_int_equal(web_form_urlencoded(slice_from_cstr(bad[i]), a, &f, &e), -1);
        assert_ptr_equal(e.cond, &web_cond_bad_form);
    }
    char many[400];
    size_t len = 0;
    for (int i = 0; i < WEB_FORM_MAX_FIELDS + 1; i++) {
        memcpy(many + len, "x=1&", 4);
        len += 4;
    }
    many[len] = '\0';
    err_init(&e);
    assert_int_equal(web_form_urlencoded(slice_from_cstr(many), a, &f, &e), -1);
    arena_destroy(&a);
}

static void test_form_multipart_boundary(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    struct err e;
    const char *b = NULL;
    err_init(&e);
    assert_int_equal(
        web_multipart_boundary("multipart/form-data; boundary=----WebKitFormBoundaryX1", a, &b, &e),
        0);
    assert_string_equal(b, "----WebKitFormBoundaryX1");
    assert_int_equal(
        web_multipart_boundary("Multipart/Form-Data; charset=utf-8; BOUNDARY=\"a b\"", a, &b, &e),
        0);
    assert_string_equal(b, "a b");
    static const char *const bad[] = {
        "application/x-www-form-urlencoded",
        "multipart/form-data",
        "multipart/form-data; boundary=",
        "multipart/form-data; boundary=\"unclosed",
        "multipart/form-data; boundary=12345678901234567890123456789012345678901234567890123456789012345678901",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err_init(&e);
        assert_int_equal(web_multipart_boundary(bad[i], a, &b, &e), -1);
        assert_ptr_equal(e.cond, &web_cond_bad_form);
    }
    arena_destroy(&a);
}

/* What Chromium sends for the import form. */
static const char chrome_body[] =
    "------B\r\n"
    "Content-Disposition: form-data; name=\"csrf\"\r\n\r\n"
    "abc\r\n"
    "------B\r\n"
    "Content-Disposition: form-data; name=\"calendar\"\r\n\r\n"
    "\r\n"
    "------B\r\n"
    "Content-Disposition: form-data; name=\"file\"; filename=\"my cal.ics\"\r\n"
    "Content-Type: text/calendar\r\n\r\n"
    "BEGIN:VCALENDAR\r\nX:--B\0\r\n\r\nEND:VCALENDAR\r\n"
    "\r\n"
    "------B--\r\n";

static void test_form_multipart_parses_a_browser_form(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    struct web_form f;
    struct err e;
    err_init(&e);
    assert_int_equal(web_multipart_parse((struct slice){chrome_body, sizeof(chrome_body) - 1},
                                         "----B", a, &f, &e),
                     0);
    assert_int_equal(f.n, 3);
    assert_string_equal(web_form_text(&f, "csrf", a), "abc");
    assert_string_equal(web_form_text(&f, "calendar", a), "");
    const struct web_field *file = web_form_get(&f, "file");
    assert_non_null(file);
    assert_string_equal(file->filename, "my cal.ics");
    static const char content[] = "BEGIN:VCALENDAR\r\nX:--B\0\r\n\r\nEND:VCALENDAR\r\n";
    assert_int_equal(file->value.len, sizeof(content) - 1);
    assert_memory_equal(file->value.ptr, content, sizeof(content) - 1);
    /* a preamble before the first delimiter is ignored */
    char pre[1024];
    size_t n = sizeof(chrome_body) - 1;
    memcpy(pre, "preamble\r\n", 10);
    memcpy(pre + 10, chrome_body, n);
    assert_int_equal(web_multipart_parse((struct slice){pre, n + 10}, "----B", a, &f, &e), 0);
    assert_int_equal(f.n, 3);
    arena_destroy(&a);
}

static void test_form_multipart_refuses_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        /* no boundary at all */
        "just text",
        /* no closing delimiter */
        "--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx",
        /* a part without Content-Disposition */
        "--B\r\nContent-Type: text/plain\r\n\r\nx\r\n--B--",
        /* a part without a name */
        "--B\r\nContent-Disposition: form-data\r\n\r\nx\r\n--B--",
        /* not form-data */
        "--B\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nx\r\n--B--",
        /* headers never end */
        "--B\r\nContent-Disposition: form-data; name=\"a\"\r\nx\r\n--B--",
        /* garbage after a delimiter */
        "--Bxyz\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--B--",
        /* two files */
        "--B\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a\"\r\n\r\nx\r\n"
        "--B\r\nContent-Disposition: form-data; name=\"g\"; filename=\"b\"\r\n\r\ny\r\n--B--",
    };
    struct arena *a = arena_create();
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct web_form f;
        struct err e;
        err_init(&e);
        assert_int_equal(web_multipart_parse(slice_from_cstr(bad[i]), "B", a, &f, &e), -1);
        assert_ptr_equal(e.cond, &web_cond_bad_form);
    }
    arena_destroy(&a);
}

static void test_form_multipart_truncated_anywhere_never_misreads(void **state)
{
    (void)state;
    /* every prefix of a good body: either refused, or (past the closing delimiter) whole */
    struct arena *a = arena_create();
    size_t n = sizeof(chrome_body) - 1;
    for (size_t cut = 0; cut < n; cut++) {
        struct web_form f;
        struct err e;
        err_init(&e);
        int rc = web_multipart_parse((struct slice){chrome_body, cut}, "----B", a, &f, &e);
        if (rc == 0) {
            assert_true(cut >= n - 2); /* only the final CRLF may be missing */
            assert_int_equal(f.n, 3);
        } else {
            assert_ptr_equal(e.cond, &web_cond_bad_form);
        }
    }
    arena_destroy(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_form_urlencoded_decodes),
        cmocka_unit_test(test_form_multipart_boundary),
        cmocka_unit_test(test_form_multipart_parses_a_browser_form),
        cmocka_unit_test(test_form_multipart_refuses_malformed),
        cmocka_unit_test(test_form_multipart_truncated_anywhere_never_misreads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
