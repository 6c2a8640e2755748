/* tests/unit/util/test_sec.c: the libsodium wrappers (util/sec.c): hex and base64 against
 * known vectors and round trips, malformed input refused, argon2id verifying only the
 * password, MACs detecting any tampering, BLAKE2b against a known vector. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util/compiler.h"
#include "util/sec.h"

#define S(s)           \
  {                    \
    (s), sizeof(s) - 1 \
  }

static int setup(void **state)
{
    (void)state;
    return sec_init();
}

static void test_sec_hex_round_trips_every_byte(void **state)
{
    (void)state;
    uint8_t raw[256];
    for (int i = 0; i < 256; i++) {
        raw[i] = (uint8_t)i;
    }
    char hex[2 * sizeof(raw) + 1];
    sec_hex(raw, sizeof(raw), hex);
    assert_int_equal(strlen(hex), 512);
    assert_memory_equal(hex, "000102", 6);
    assert_string_equal(hex + 500, "fafbfcfdfeff");
    uint8_t back[256];
    assert_int_equal(sec_unhex((struct slice){hex, 512}, back, sizeof(back)), 0);
    assert_memory_equal(back, raw, sizeof(raw));
    char empty[1];
    sec_hex(raw, 0, empty);
    assert_string_equal(empty, "");
}

static void test_sec_unhex_takes_exactly_2n_hex_digits(void **state)
{
    (void)state;
    static const uint8_t want[5] = {0x00, 0xff, 0x10, 0xab, 0x7f};
    uint8_t out[5];
    assert_int_equal(sec_unhex(SLICE_LIT("00FF10ab7f"), out, 5), 0);
    assert_memory_equal(out, want, 5);
    static const struct slice bad[] = {
        S("00ff10ab7"),  S("00ff10ab7f0"), S("00ff10ab7g"), S("00ff10ab7 "),  S(" 0ff10ab7f"),
        S("00ff:0ab7f"), S("00ff10ab\0f"), S(""),           S("0x00ff10ab7"),
    };
    for (size_t i = 0; i < ALM_ARRAY_LEN(bad); i++) {
        if (sec_unhex(bad[i], out, 5) != -1) {
            fail_msg("case %zu decoded", i);
        }
    }
}

/* RFC 4648 §10. */
static const struct {
    const char *raw;
    const char *b64;
} rfc4648[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

static void test_sec_base64_matches_rfc4648(void **state)
{
    (void)state;
    for (size_t i = 0; i < ALM_ARRAY_LEN(rfc4648); i++) {
        size_t n = strlen(rfc4648[i].raw);
        char b64[16];
        assert_int_equal(sec_base64_len(n), strlen(rfc4648[i].b64) + 1);
        sec_base64(rfc4648[i].raw, n, b64, sizeof(b64));
        assert_string_equal(b64, rfc4648[i].b64);
        char raw[16];
        assert_int_equal(sec_unbase64(slice_from_cstr(rfc4648[i].b64), raw, sizeof(raw)), (long)n);
        assert_memory_equal(raw, rfc4648[i].raw, n);
    }
}

static void test_sec_base64_round_trips_random_bytes(void **state)
{
    (void)state;
    for (size_t n = 0; n <= 100; n++) {
        uint8_t raw[100];
        sec_random(raw, n);
        char b64[140];
        assert_true(sec_base64_len(n) <= sizeof(b64));
        sec_base64(raw, n, b64, sizeof(b64));
        assert_int_equal(strlen(b64), (n + 2) / 3 * 4);
        uint8_t back[100];
        assert_int_equal(sec_unbase64(slice_from_cstr(b64), back, n), (long)n);
        assert_memory_equal(back, raw, n);
    }
}

static void test_sec_unbase64_ignores_whitespace_and_refuses_the_malformed(void **state)
{
    (void)state;
    char out[16];
    assert_int_equal(sec_unbase64(SLICE_LIT("Zm9v\r\nYmFy"), out, sizeof(out)), 6);
    assert_memory_equal(out, "foobar", 6);
    assert_int_equal(sec_unbase64(SLICE_LIT(" Zm9v YmE= \t"), out, sizeof(out)), 5);
    assert_memory_equal(out, "fooba", 5);
    static const struct slice bad[] = {
        S("Zg"),       /* padding missing */
        S("Zg="),      /* padding short */
        S("Zg==="),    /* padding long */
        S("Zm9v="),    /* padding where none belongs */
        S("Zm=v"),     /* padding inside */
        S("Zh=="),     /* nonzero trailing bits */
        S("Zm9"),      /* truncated */
        S("!!!!"),     /* not the alphabet */
        S("Zm-_"),     /* the URL-safe alphabet */
        S("Zm9v\x01"), /* a control character */
        S("Zm9vYg==Zg=="),
    };
    for (size_t i = 0; i < ALM_ARRAY_LEN(bad); i++) {
        if (sec_unbase64(bad[i], out, sizeof(out)) != -1) {
            fail_msg("case %zu decoded", i);
        }
    }
    /* Output too small by one: refused. */
    assert_int_equal(sec_unbase64(SLICE_LIT("Zm9vYmFy"), out, 5), -1);
    assert_int_equal(sec_unbase64(SLICE_LIT("Zm9vYmFy"), out, 6), 6);
}

static void test_sec_pwhash_verifies_only_the_password(void **state)
{
    (void)state;
    char hash[SEC_PWHASH_STRBYTES];
    char again[SEC_PWHASH_STRBYTES];
    assert_int_equal(sec_pwhash("correct horse", 13, hash), 0);
    assert_memory_equal(hash, "$argon2id$", 10);
    assert_true(strlen(hash) < SEC_PWHASH_STRBYTES);
    assert_int_equal(sec_pwhash_verify(hash, "correct horse", 13), 0);
    assert_int_equal(sec_pwhash_verify(hash, "correct horsf", 13), -1);
    assert_int_equal(sec_pwhash_verify(hash, "correct hors", 12), -1);
    assert_int_equal(sec_pwhash_verify(hash, "correct horse!", 14), -1);
    assert_int_equal(sec_pwhash_verify(hash, "", 0), -1);
    /* The length counts: a NUL inside the password is part of it. */
    assert_int_equal(sec_pwhash("a\0b", 3, again), 0);
    assert_int_equal(sec_pwhash_verify(again, "a\0b", 3), 0);
    assert_int_equal(sec_pwhash_verify(again, "a", 1), -1);
    /* A fresh salt each time. */
    assert_int_equal(sec_pwhash("correct horse", 13, again), 0);
    assert_string_not_equal(hash, again);
    assert_int_equal(sec_pwhash_verify(again, "correct horse", 13), 0);
    assert_int_equal(sec_pwhash_verify("not a hash", "x", 1), -1);
    assert_int_equal(sec_pwhash_verify("", "x", 1), -1);
}

static void test_sec_mac_detects_any_tampering(void **state)
{
    (void)state;
    uint8_t key[SEC_MAC_KEYBYTES];
    sec_random(key, sizeof(key));
    uint8_t msg[] = "collection=1;epoch=7;modseq=42";
    const size_t n = sizeof(msg) - 1;
    uint8_t mac[SEC_MAC_BYTES];
    sec_mac(key, msg, n, mac);
    assert_int_equal(sec_mac_verify(key, msg, n, mac), 0);
    uint8_t mac2[SEC_MAC_BYTES];
    sec_mac(key, msg, n, mac2);
    assert_memory_equal(mac, mac2, sizeof(mac));
    for (size_t i = 0; i < n; i++) {
        msg[i] ^= 0x01;
        assert_int_equal(sec_mac_verify(key, msg, n, mac), -1);
        msg[i] ^= 0x01;
    }
    for (size_t i = 0; i < sizeof(mac); i++) {
        mac[i] ^= 0x80;
        assert_int_equal(sec_mac_verify(key, msg, n, mac), -1);
        mac[i] ^= 0x80;
    }
    assert_int_equal(sec_mac_verify(key, msg, n - 1, mac), -1);
    key[0] ^= 1;
    assert_int_equal(sec_mac_verify(key, msg, n, mac), -1);
    key[0] ^= 1;
    assert_int_equal(sec_mac_verify(key, msg, n, mac), 0);
}

static void test_sec_hash_is_blake2b_256(void **state)
{
    (void)state;
    uint8_t out[32];
    char hex[65];
    sec_hash(NULL, 0, "", 0, out);
    sec_hex(out, sizeof(out), hex);
    assert_string_equal(hex, "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
    sec_hash(NULL, 0, "abc", 3, out);
    sec_hex(out, sizeof(out), hex);
    assert_string_equal(hex, "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319");
    uint8_t keyed[32];
    const uint8_t key[16] = {1, 2, 3};
    sec_hash(key, sizeof(key), "abc", 3, keyed);
    assert_memory_not_equal(keyed, out, sizeof(out));
}

static void test_sec_shorthash_is_siphash_2_4(void **state)
{
    (void)state;
    /* The SipHash-2-4 paper's key 00..0f: the empty message hashes to the bytes
     * 31 0e 0e dd 47 db 6f 72, read here most significant first. */
    uint8_t key[SEC_SHORTHASH_KEYBYTES];
    for (int i = 0; i < SEC_SHORTHASH_KEYBYTES; i++) {
        key[i] = (uint8_t)i;
    }
    assert_true(sec_shorthash(key, "", 0) == UINT64_C(0x310e0edd47db6f72));
    uint64_t h = sec_shorthash(key, "/a.ics", 6);
    assert_true(sec_shorthash(key, "/a.ics", 6) == h);
    key[0] ^= 1;
    assert_true(sec_shorthash(key, "/a.ics", 6) != h);
}

static void test_sec_random_and_memzero(void **state)
{
    (void)state;
    uint8_t a[32];
    uint8_t b[32];
    sec_random(a, sizeof(a));
    sec_random(b, sizeof(b));
    assert_memory_not_equal(a, b, sizeof(a)); /* fails with probability 2^-256 */
    assert_true(sec_random_u64() != sec_random_u64() || sec_random_u64() != sec_random_u64());
    sec_memzero(a, sizeof(a));
    static const uint8_t zero[32];
    assert_memory_equal(a, zero, sizeof(a));
}

/* Many threads verifying at once (a login storm on every worker): never more than
 * sec_pwhash_concurrency() run together, and each gets its own answer. */
enum {
    VERIFIERS = 8
};

struct verifier {
    const char *hash;
    bool right; /* the right password, or a wrong one */
    int rc;
};

static void *verify_one(void *p)
{
    struct verifier *v = p;
    v->rc =
        v->right ? sec_pwhash_verify(v->hash, "storm", 5) : sec_pwhash_verify(v->hash, "norm", 4);
    return NULL;
}

static void test_sec_pwhash_verifications_at_once_are_bounded(void **state)
{
    (void)state;
    char hash[SEC_PWHASH_STRBYTES];
    assert_int_equal(sec_pwhash("storm", 5, hash), 0);
    unsigned limit = sec_pwhash_concurrency();
    assert_true(limit >= 1 && limit <= SEC_PWHASH_MAX_CONCURRENT);
    pthread_t t[VERIFIERS];
    struct verifier v[VERIFIERS];
    for (int i = 0; i < VERIFIERS; i++) {
        v[i] = (struct verifier){.hash = hash, .right = i % 2 == 0, .rc = 7};
        assert_int_equal(pthread_create(&t[i], NULL, verify_one, &v[i]), 0);
    }
    for (int i = 0; i < VERIFIERS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(v[i].rc, v[i].right ? 0 : -1);
    }
    assert_true(sec_pwhash_peak() >= 1);
    assert_true(sec_pwhash_peak() <= limit);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sec_hex_round_trips_every_byte),
        cmocka_unit_test(test_sec_unhex_takes_exactly_2n_hex_digits),
        cmocka_unit_test(test_sec_base64_matches_rfc4648),
        cmocka_unit_test(test_sec_base64_round_trips_random_bytes),
        cmocka_unit_test(test_sec_unbase64_ignores_whitespace_and_refuses_the_malformed),
        cmocka_unit_test(test_sec_pwhash_verifies_only_the_password),
        cmocka_unit_test(test_sec_pwhash_verifications_at_once_are_bounded),
        cmocka_unit_test(test_sec_mac_detects_any_tampering),
        cmocka_unit_test(test_sec_hash_is_blake2b_256),
        cmocka_unit_test(test_sec_shorthash_is_siphash_2_4),
        cmocka_unit_test(test_sec_random_and_memzero),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
