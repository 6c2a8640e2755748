/* tests/unit/http/test_auth_throttle.c: the failed-login table (http/auth_throttle.c, issue 14
 * item 8): an address waits after auth_fail_addr_limit failures, 1 s doubling up to the
 * maximum; a user name's failures delay only addresses that failed too; records expire
 * after the window; the time is given, never slept. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "http/auth_throttle.h"

static const struct auth_throttle_config cfg = {
    .window = 900, .addr_limit = 3, .user_limit = 2, .max_delay = 10};

static const int64_t T0 = 1700000000;

static void test_auth_throttle_address_waits_after_its_limit_doubling_to_the_maximum(void **state)
{
    (void)state;
    struct auth_throttle *t = auth_throttle_create(&cfg);
    struct slice a = SLICE_LIT("192.0.2.1");
    /* a different user name every time: only the address rule can apply */
    const char *names[] = {"u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7"};
    for (int i = 0; i < 2; i++) {
        auth_throttle_fail(t, a, slice_from_cstr(names[i]), T0);
        assert_int_equal(auth_throttle_wait(t, a, SLICE_LIT("x"), T0), 0);
    }
    auth_throttle_fail(t, a, SLICE_LIT("u2"), T0); /* the limit: 1 s */
    assert_int_equal(auth_throttle_wait(t, a, SLICE_LIT("x"), T0), 1);
    assert_int_equal(auth_throttle_wait(t, a, SLICE_LIT("x"), T0 + 1), 0);
    auth_throttle_fail(t, a, SLICE_LIT("u3"), T0 + 1); /* 2 s */
    assert_int_equal(auth_throttle_wait(t, a, SLICE_LIT("x"), T0 + 1), 2);
    int64_t now = T0 + 3;
    for (int i = 4; i < 8; i++) { /* 4, 8, then the maximum of 10 */
        auth_throttle_fail(t, a, slice_from_cstr(names[i]), now);
        unsigned w = auth_throttle_wait(t, a, SLICE_LIT("x"), now);
        assert_int_equal(w, i == 4 ? 4 : i == 5 ? 8 : 10);
        now += w;
    }
    /* another address is not concerned */
    assert_int_equal(auth_throttle_wait(t, SLICE_LIT("192.0.2.2"), SLICE_LIT("x"), now - 1), 0);
    auth_throttle_destroy(&t);
    assert_null(t);
}

static void test_auth_throttle_user_failures_delay_only_failing_addresses(void **state)
{
    (void)state;
    struct auth_throttle *t = auth_throttle_create(&cfg);
    struct slice alice = SLICE_LIT("alice");
    /* two attackers fail once each on alice: her limit is reached */
    auth_throttle_fail(t, SLICE_LIT("198.51.100.1"), alice, T0);
    auth_throttle_fail(t, SLICE_LIT("198.51.100.2"), alice, T0);
    assert_int_equal(auth_throttle_wait(t, SLICE_LIT("198.51.100.1"), alice, T0), 1);
    assert_int_equal(auth_throttle_wait(t, SLICE_LIT("198.51.100.2"), alice, T0), 1);
    /* alice's own address never failed: never delayed, however long the attack goes on */
    for (int i = 0; i < 20; i++) {
        auth_throttle_fail(t, SLICE_LIT("198.51.100.3"), alice, T0 + i);
    }
    assert_int_equal(auth_throttle_wait(t, SLICE_LIT("203.0.113.7"), alice, T0 + 19), 0);
    /* and a failing address is not delayed for another user below that user's limit */
    assert_int_equal(auth_throttle_wait(t, SLICE_LIT("198.51.100.1"), SLICE_LIT("bob"), T0), 0);
    auth_throttle_destroy(&t);
}

static void test_auth_throttle_forgets_after_the_window(void **state)
{
    (void)state;
    struct auth_throttle *t = auth_throttle_create(&cfg);
    struct slice a = SLICE_LIT("2001:db8::1");
    for (int i = 0; i < 30; i++) {
        auth_throttle_fail(t, a, SLICE_LIT("alice"), T0);
    }
    assert_int_equal(auth_throttle_wait(t, a, SLICE_LIT("alice"), T0), 10);
    /* past the window the count starts again from nothing */
    auth_throttle_fail(t, a, SLICE_LIT("alice"), T0 + 901);
    assert_int_equal(auth_throttle_wait(t, a, SLICE_LIT("alice"), T0 + 901), 0);
    auth_throttle_destroy(&t);
}

static void test_auth_throttle_window_zero_never_waits(void **state)
{
    (void)state;
    struct auth_throttle_config off = cfg;
    off.window = 0;
    struct auth_throttle *t = auth_throttle_create(&off);
    for (int i = 0; i < 30; i++) {
        auth_throttle_fail(t, SLICE_LIT("192.0.2.1"), SLICE_LIT("alice"), T0);
    }
    assert_int_equal(auth_throttle_wait(t, SLICE_LIT("192.0.2.1"), SLICE_LIT("alice"), T0), 0);
    auth_throttle_destroy(&t);
}

/* Bounded memory: 100,000 addresses fail once; the table keeps what fits and stays usable. */
static void test_auth_throttle_many_addresses_stay_bounded(void **state)
{
    (void)state;
    struct auth_throttle *t = auth_throttle_create(&cfg);
    char addr[32];
    for (int i = 0; i < 100000; i++) {
        int n = snprintf(addr, sizeof(addr), "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
        auth_throttle_fail(t, (struct slice){addr, (size_t)n}, SLICE_LIT("u"), T0);
    }
    struct slice a = SLICE_LIT("192.0.2.9");
    for (int i = 0; i < 3; i++) {
        auth_throttle_fail(t, a, SLICE_LIT("v"), T0 + 1);
    }
    assert_int_equal(auth_throttle_wait(t, a, SLICE_LIT("w"), T0 + 1), 1);
    auth_throttle_destroy(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auth_throttle_address_waits_after_its_limit_doubling_to_the_maximum),
        cmocka_unit_test(test_auth_throttle_user_failures_delay_only_failing_addresses),
        cmocka_unit_test(test_auth_throttle_forgets_after_the_window),
        cmocka_unit_test(test_auth_throttle_window_zero_never_waits),
        cmocka_unit_test(test_auth_throttle_many_addresses_stay_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
