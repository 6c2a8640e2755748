/* tests/unit/http/test_addr.c: address lists (trusted_proxies, metrics_allow) and the
 * forwarded client address (http/addr.c): what a list holds, what it refuses, and which
 * address X-Forwarded-For yields for trusted and untrusted peers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "http/addr.h"

static struct http_addr_list *parse_ok(const char *text)
{
    struct http_addr_list *l = NULL;
    struct err e;
    err_init(&e);
    assert_int_equal(http_addr_list_parse("k", text, &l, &e), 0);
    assert_non_null(l);
    return l;
}

static bool has(const struct http_addr_list *l, const char *a)
{
    return http_addr_list_has(l, slice_from_cstr(a));
}

static void test_membership(void **state)
{
    (void)state;
    struct http_addr_list *l = parse_ok("127.0.0.1, 10.0.0.0/8 ::1\t2001:db8::/32,192.0.2.128/25");
    assert_false(http_addr_list_is_empty(l));
    assert_true(has(l, "127.0.0.1"));
    assert_false(has(l, "127.0.0.2"));
    assert_true(has(l, "10.255.1.2"));
    assert_false(has(l, "11.0.0.1"));
    assert_true(has(l, "::1"));
    assert_true(has(l, "::ffff:127.0.0.1")); /* an IPv4 client of an IPv6 socket */
    assert_true(has(l, "2001:db8:ffff::7"));
    assert_false(has(l, "2001:db9::7"));
    assert_true(has(l, "192.0.2.200"));
    assert_false(has(l, "192.0.2.127")); /* /25: a prefix that is not a whole byte */
    assert_false(has(l, "not an address"));
    assert_false(has(l, ""));
    http_addr_list_destroy(&l);
    assert_null(l);

    l = parse_ok("");
    assert_true(http_addr_list_is_empty(l));
    assert_false(has(l, "127.0.0.1"));
    http_addr_list_destroy(&l);
    l = parse_ok("0.0.0.0/0");
    assert_true(has(l, "203.0.113.4"));
    assert_false(has(l, "2001:db8::1")); /* families do not mix */
    http_addr_list_destroy(&l);
}

static void test_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {"10.0.0.0/33", "::/129", "10.0.0.1/",     "10.0.0.1/x",
                                      "localhost",   "1.2.3",  "10.0.0.0/0008", "1.2.3.4:80"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct http_addr_list *l = NULL;
        struct err e;
        err_init(&e);
        assert_int_equal(http_addr_list_parse("trusted_proxies", bad[i], &l, &e), -1);
        assert_null(l);
        assert_ptr_equal(e.cond, &err_cond_bad_request);
        assert_non_null(strstr(e.msg, "trusted_proxies"));
        assert_non_null(strstr(e.msg, bad[i]));
    }
}

struct client_case {
    const char *peer;
    const char *xff;
    const char *client;
};

static void test_forwarded_client(void **state)
{
    (void)state;
    struct http_addr_list *l = parse_ok("127.0.0.1 10.0.0.0/24");
    static const struct client_case cases[] = {
        {"127.0.0.1", NULL, "127.0.0.1"},
        {"127.0.0.1", "198.51.100.7", "198.51.100.7"},
        {"127.0.0.1", " 198.51.100.7 ", "198.51.100.7"},
        {"127.0.0.1", "198.51.100.7, 10.0.0.5", "198.51.100.7"},  /* trusted hops skipped */
        {"127.0.0.1", "192.0.2.1, 198.51.100.7", "198.51.100.7"}, /* a prepended lie */
        {"127.0.0.1", "10.0.0.9, 10.0.0.5", "10.0.0.9"},          /* all trusted: left-most */
        {"127.0.0.1", "garbage, 10.0.0.5", "10.0.0.5"},           /* stops at the bad one */
        {"127.0.0.1", "198.51.100.7:5555", "127.0.0.1"},          /* ports are not taken */
        {"127.0.0.1", "2001:DB8::1", "2001:db8::1"},              /* written canonically */
        {"127.0.0.1", "::ffff:198.51.100.7", "198.51.100.7"},
        {"127.0.0.1", "", "127.0.0.1"},
        {"203.0.113.9", "198.51.100.7", "203.0.113.9"}, /* not a proxy: header ignored */
        {"-", "198.51.100.7", "-"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[HTTP_ADDR_TEXT];
        http_addr_client(l, cases[i].peer, cases[i].xff, out);
        assert_string_equal(out, cases[i].client);
    }
    http_addr_list_destroy(&l);
    /* no proxies at all: never the header */
    l = parse_ok("");
    char out[HTTP_ADDR_TEXT];
    http_addr_client(l, "127.0.0.1", "198.51.100.7", out);
    assert_string_equal(out, "127.0.0.1");
    http_addr_list_destroy(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_membership),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_forwarded_client),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
