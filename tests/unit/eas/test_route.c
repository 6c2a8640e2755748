/* tests/unit/eas/test_route.c: how eas/route.c turns store results into conditions
 * (eas_store_err): every result names its own condition, so client input or a concurrent
 * change never becomes a 500 (STYLE.md §3.3, issue 14), and a failed store (STORE_IO) is a
 * 503 the phone retries, not a 500 (tests/integration/test_store_faults.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "eas/eas_int.h"

struct store_err_case {
    enum store_rc rc;
    const struct err_cond *cond;
    unsigned short http_status;
};

static void test_eas_store_err_never_maps_to_internal_issue_14(void **state)
{
    (void)state;
    const struct store_err_case cases[] = {
        {STORE_BUSY, &eas_cond_busy, 503},
        {STORE_NOTFOUND, &eas_cond_not_found, 404},
        {STORE_EXISTS, &eas_cond_conflict, 409},
        {STORE_CONFLICT, &eas_cond_conflict, 409},
        {STORE_LIMIT, &eas_cond_store_limit, 400},
        {STORE_IO, &eas_cond_store_failed, 503},
        {STORE_UNAVAILABLE, &err_cond_store_unavailable, 503},
    };
    struct eas_req er;
    memset(&er, 0, sizeof(er)); /* no store: the messages say "unavailable" */
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct err e;
        err_init(&e);
        assert_int_equal(eas_store_err(&er, cases[i].rc, &e), -1);
        assert_ptr_equal(e.cond, cases[i].cond);
        assert_int_equal(e.cond->http_status, cases[i].http_status);
        assert_true(e.msg[0] != '\0');
    }
    struct err e;
    err_init(&e);
    assert_int_equal(eas_store_err(&er, STORE_OK, &e), 0);
    assert_null(e.cond);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eas_store_err_never_maps_to_internal_issue_14),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
