/* tests/unit/util/test_err.c: the error value (util/err.c): the first condition set (the
 * deepest cause) wins, err_replace overrides it, and messages are formatted, stripped of
 * control characters and truncated to fit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util/compiler.h"
#include "util/err.h"

static void test_err_init_clears(void **state)
{
    (void)state;
    struct err e;
    memset(&e, 0x55, sizeof(e));
    err_init(&e);
    assert_null(e.cond);
    assert_string_equal(e.msg, "");
    assert_null(e.href);
}

static void test_err_keeps_the_deepest_cause(void **state)
{
    (void)state;
    struct err e;
    err_init(&e);
    assert_int_equal(err_set(&e, &err_cond_limit, "xml depth %d exceeds %s", 257, "256"), -1);
    assert_int_equal(err_set(&e, &err_cond_internal, "outer"), -1);
    assert_int_equal(err_set(&e, &err_cond_bad_request, "outermost %s", "too"), -1);
    assert_ptr_equal(e.cond, &err_cond_limit);
    assert_string_equal(e.msg, "xml depth 257 exceeds 256");
    /* A NULL err is allowed and still fails. */
    assert_int_equal(err_set(NULL, &err_cond_internal, "nowhere"), -1);
}

static void test_err_replace_overrides_and_clears_the_href(void **state)
{
    (void)state;
    struct err e;
    err_init(&e);
    err_set(&e, &err_cond_limit, "lower layer");
    e.href = "/calendars/a/x.ics";
    assert_int_equal(err_replace(&e, &err_cond_bad_request, "mapped %d", 1), -1);
    assert_ptr_equal(e.cond, &err_cond_bad_request);
    assert_string_equal(e.msg, "mapped 1");
    assert_null(e.href);
    /* ...and on an empty err it is just a set. */
    err_init(&e);
    assert_int_equal(err_replace(&e, &err_cond_internal, "x"), -1);
    assert_ptr_equal(e.cond, &err_cond_internal);
    assert_int_equal(err_replace(NULL, &err_cond_internal, "x"), -1);
}

static void test_err_messages_lose_control_characters(void **state)
{
    (void)state;

    static const struct {
        const char *in;
        const char *out;
    } cases[] = {
        {"line\none\x01", "line one "},
        {"tab\there\rcr", "tab here cr"},
        {"del\x7f.", "del ."},
        {"esc\x1b[31m", "esc [31m"},
        {"caf\xC3\xA9 kept", "caf\xC3\xA9 kept"},
        {"nul\0cut", "nul"},
    };

    for (size_t i = 0; i < ALM_ARRAY_LEN(cases); i++) {
        struct err e;
        err_init(&e);
        err_set(&e, &err_cond_bad_request, "%s", cases[i].in);
        assert_string_equal(e.msg, cases[i].out);
    }
    /* Every C0 byte and DEL, through the format string too. */
    char all[40];
    size_t n = 0;
    for (int c = 1; c < 0x20; c++) {
        all[n++] = (char)c;
    }
    all[n++] = 0x7f;
    all[n] = '\0';
    struct err e;
    err_init(&e);
    err_set(&e, &err_cond_bad_request, "[%s]", all);
    assert_int_equal(strlen(e.msg), n + 2);
    for (size_t i = 1; i <= n; i++) {
        assert_int_equal(e.msg[i], ' ');
    }
}

static void test_err_long_messages_are_truncated_to_fit(void **state)
{
    (void)state;
    char big[400];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    big[sizeof(big) - 2] = '\n';
    struct err e;
    err_init(&e);
    err_set(&e, &err_cond_limit, "%s", big);
    assert_ptr_equal(e.cond, &err_cond_limit);
    assert_int_equal(strlen(e.msg), sizeof(e.msg) - 1);
    for (size_t i = 0; i < sizeof(e.msg) - 1; i++) {
        assert_int_equal(e.msg[i], 'x');
    }
    /* Exactly full. */
    char fits[sizeof(e.msg)];
    memset(fits, 'y', sizeof(fits) - 1);
    fits[sizeof(fits) - 1] = '\0';
    err_init(&e);
    err_set(&e, &err_cond_limit, "%s", fits);
    assert_string_equal(e.msg, fits);
}

static void test_err_conditions_carry_their_status(void **state)
{
    (void)state;

    static const struct {
        const struct err_cond *cond;
        const char *name;
        unsigned short http;
    } conds[] = {
        {&err_cond_internal, "internal-error", 500},
        {&err_cond_unavailable, "service-unavailable", 503},
        {&err_cond_store_unavailable, "store-unavailable", 503},
        {&err_cond_bad_request, "bad-request", 400},
        {&err_cond_limit, "limit-exceeded", 413},
    };

    for (size_t i = 0; i < ALM_ARRAY_LEN(conds); i++) {
        assert_string_equal(conds[i].cond->name, conds[i].name);
        assert_int_equal(conds[i].cond->http_status, conds[i].http);
        assert_null(conds[i].cond->ns);
        assert_int_equal(conds[i].cond->eas_status, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_init_clears),
        cmocka_unit_test(test_err_keeps_the_deepest_cause),
        cmocka_unit_test(test_err_replace_overrides_and_clears_the_href),
        cmocka_unit_test(test_err_messages_lose_control_characters),
        cmocka_unit_test(test_err_long_messages_are_truncated_to_fit),
        cmocka_unit_test(test_err_conditions_carry_their_status),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
