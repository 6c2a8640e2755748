/* tests/unit/eas/test_ids.c: the ActiveSync ids and keys of eas_int.h: folder and item
 * ServerIds parse back to what made them and refuse everything else; SyncKeys are digit
 * strings of one generation that count up, and a bad key starts a new generation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "eas/eas_int.h"
#include "util/sec.h"

static void test_folder_ids(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    uint64_t c = 0;
    assert_string_equal(eas_folder_id(a, 42), "c42");
    assert_int_equal(eas_folder_parse("c42", &c), 0);
    assert_int_equal(c, 42);
    const char *bad[] = {
        "", "c", "42", "C42", "c-1", "c4x", "cx", "inbox", "c18446744073709551616"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(eas_folder_parse(bad[i], &c), -1);
    }
    assert_int_equal(eas_folder_parse(NULL, &c), -1);
    assert_true(eas_dummy_folder("inbox"));
    assert_true(eas_dummy_folder("tasks"));
    assert_false(eas_dummy_folder("c42"));
    assert_false(eas_dummy_folder("Inbox"));
    arena_destroy(&a);
}

static void test_item_ids(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    uint64_t c = 0, i = 0;
    assert_string_equal(eas_item_id(a, 3, 8842), "3:8842");
    assert_int_equal(eas_item_parse("3:8842", &c, &i), 0);
    assert_int_equal(c, 3);
    assert_int_equal(i, 8842);
    const char *bad[] = {"", ":", "3:", ":5", "3", "3:x", "x:3", "3:4:5", "-3:4"};
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        assert_int_equal(eas_item_parse(bad[k], &c, &i), -1);
    }
    arena_destroy(&a);
}

static void test_sync_keys(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    const char *k1 = eas_key_first(a);
    assert_true(strlen(k1) >= 13 && strlen(k1) <= 18);
    assert_true(strspn(k1, "0123456789") == strlen(k1));
    uint64_t v1 = strtoull(k1, NULL, 10);
    assert_int_equal(v1 % 1000000000000ULL, 1);
    const char *k2 = eas_key_next(a, k1);
    assert_int_equal(strtoull(k2, NULL, 10), v1 + 1);
    const char *k3 = eas_key_next(a, k2);
    assert_int_equal(strtoull(k3, NULL, 10), v1 + 2);
    /* Not a key of ours: a fresh generation's first key. */
    const char *k4 = eas_key_next(a, "garbage");
    assert_int_equal(strtoull(k4, NULL, 10) % 1000000000000ULL, 1);
    assert_true(strlen(k1) <= EAS_KEY_MAX);
    arena_destroy(&a);
}

int main(void)
{
    if (sec_init() != 0) {
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_folder_ids),
        cmocka_unit_test(test_item_ids),
        cmocka_unit_test(test_sync_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
