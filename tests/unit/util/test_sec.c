/* tests/unit/util/test_sec.c: libsodium wrappers (util/sec.c) and the error value
 * (util/err.c): hex and base64 round trips and malformed input, argon2id verification, MAC
 * tamper detection; the deepest error wins and messages are sanitized. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util/err.h"
#include "util/sec.h"

static void test_sec_hex_and_base64_round_trip_and_refuse_garbage(void **state)
{
    (void)state;
    assert_int_equal(sec_init(), 0);
    const uint8_t raw[5] = {0x00, 0xff, 0x10, 0xab, 0x7f};
    char hex[11];
    sec_hex(raw, sizeof(raw), hex);
    assert_string_equal(hex, "00ff10ab7f");
    uint8_t back[5];
    assert_int_equal(sec_unhex(SLICE_LIT("00FF10ab7f"), back, 5), 0);
    assert_memory_equal(back, raw, 5);
    assert_int_equal(sec_unhex(SLICE_LIT("00ff10ab7"), back, 5), -1);
    assert_int_equal(sec_unhex(SLICE_LIT("00ff10ab7g"), back, 5), -1);
    char b64[16];
    sec_base64("alice:pw", 8, b64, sizeof(b64));
    assert_string_equal(b64, "YWxpY2U6cHc=");
    char dec[16];
    assert_int_equal(sec_unbase64(SLICE_LIT("YWxpY2U6cHc="), dec, sizeof(dec)), 8);
    assert_memory_equal(dec, "alice:pw", 8);
    assert_int_equal(sec_unbase64(SLICE_LIT("!!!"), dec, sizeof(dec)), -1);
    assert_int_equal(sec_unbase64(SLICE_LIT("YWxpY2U6cHc="), dec, 4), -1);
}

static void test_sec_pwhash_verifies_only_the_password(void **state)
{
    (void)state;
    char hash[SEC_PWHASH_STRBYTES];
    assert_int_equal(sec_pwhash("correct horse", 13, hash), 0);
    assert_memory_equal(hash, "$argon2id$", 10);
    assert_int_equal(sec_pwhash_verify(hash, "correct horse", 13), 0);
    assert_int_equal(sec_pwhash_verify(hash, "correct horsf", 13), -1);
    assert_int_equal(sec_pwhash_verify("not a hash", "x", 1), -1);
}

static void test_sec_mac_detects_tampering(void **state)
{
    (void)state;
    uint8_t key[SEC_MAC_KEYBYTES];
    sec_random(key, sizeof(key));
    uint8_t mac[SEC_MAC_BYTES];
    char msg[] = "collection=1;modseq=42";
    sec_mac(key, msg, strlen(msg), mac);
    assert_int_equal(sec_mac_verify(key, msg, strlen(msg), mac), 0);
    msg[strlen(msg) - 1] = '3';
    assert_int_equal(sec_mac_verify(key, msg, strlen(msg), mac), -1);
}

static void test_err_keeps_the_deepest_cause_and_sanitizes(void **state)
{
    (void)state;
    struct err e;
    err_init(&e);
    assert_int_equal(err_set(&e, &err_cond_limit, "xml depth %d exceeds %s", 257, "256"), -1);
    assert_int_equal(err_set(&e, &err_cond_internal, "outer"), -1);
    assert_ptr_equal(e.cond, &err_cond_limit);
    assert_string_equal(e.msg, "xml depth 257 exceeds 256");
    err_replace(&e, &err_cond_bad_request, "line\none\x01");
    assert_ptr_equal(e.cond, &err_cond_bad_request);
    assert_string_equal(e.msg, "line one ");
    char big[400];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    err_init(&e);
    err_set(&e, &err_cond_limit, "%s", big);
    assert_int_equal(strlen(e.msg), sizeof(e.msg) - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sec_hex_and_base64_round_trip_and_refuse_garbage),
        cmocka_unit_test(test_sec_pwhash_verifies_only_the_password),
        cmocka_unit_test(test_sec_mac_detects_tampering),
        cmocka_unit_test(test_err_keeps_the_deepest_cause_and_sanitizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
