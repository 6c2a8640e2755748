/* tests/unit/eas/test_wbxml_fuzz.c: mutated ActiveSync documents through the decoder and the
 * tree. A fixed-seed generator flips, inserts, deletes and truncates bytes of valid bodies
 * (a Sync with calendar data, a Ping, a Provision) 20,000 times; each mutant, fed in random
 * chunks, must either decode to a tree or fail with one of the decoder's two conditions —
 * never crash, never leak (ASan), never succeed without a root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "eas/tree.h"
#include "eas/wbxml.h"

static uint64_t rng = 0x9E3779B97F4A7C15ULL;

static uint32_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

/* A valid Sync request with one calendar Add, built with the encoder. */
static size_t seed_sync(struct buf *b)
{
    struct eas_wbxml_enc e;
    int rc = eas_enc_begin(&e, b);
    rc |= eas_enc_start(&e, EAS_AS_SYNC) | eas_enc_start(&e, EAS_AS_COLLECTIONS);
    rc |= eas_enc_start(&e, EAS_AS_COLLECTION);
    rc |= eas_enc_cstr(&e, EAS_AS_SYNCKEY, "417000000000001");
    rc |= eas_enc_cstr(&e, EAS_AS_COLLECTIONID, "c1");
    rc |= eas_enc_empty(&e, EAS_AS_GETCHANGES) | eas_enc_uint(&e, EAS_AS_WINDOWSIZE, 100);
    rc |= eas_enc_start(&e, EAS_AS_OPTIONS) | eas_enc_uint(&e, EAS_AS_FILTERTYPE, 5);
    rc |= eas_enc_start(&e, EAS_ASB_BODYPREFERENCE) | eas_enc_uint(&e, EAS_ASB_TYPE, 1);
    rc |= eas_enc_end(&e) | eas_enc_end(&e);
    rc |= eas_enc_start(&e, EAS_AS_COMMANDS) | eas_enc_start(&e, EAS_AS_ADD);
    rc |= eas_enc_cstr(&e, EAS_AS_CLIENTID, "42") | eas_enc_start(&e, EAS_AS_APPLICATIONDATA);
    rc |= eas_enc_cstr(&e, EAS_CAL_SUBJECT, "Standup");
    rc |= eas_enc_cstr(&e, EAS_CAL_STARTTIME, "20240312T080000Z");
    rc |= eas_enc_cstr(&e, EAS_CAL_ENDTIME, "20240312T090000Z");
    rc |= eas_enc_start(&e, EAS_CAL_RECURRENCE) | eas_enc_uint(&e, EAS_CAL_TYPE, 1);
    rc |= eas_enc_uint(&e, EAS_CAL_DAYOFWEEK, 62) | eas_enc_end(&e);
    rc |= eas_enc_opaque(&e, EAS_CAL_CLIENTUID, "abc\0", 4);
    rc |= eas_enc_end(&e) | eas_enc_end(&e) | eas_enc_end(&e);
    rc |= eas_enc_end(&e) | eas_enc_end(&e) | eas_enc_end(&e);
    rc |= eas_enc_finish(&e);
    assert_int_equal(rc, 0);
    return b->len;
}

static void mutate(uint8_t *p, size_t *n, size_t cap)
{
    unsigned edits = 1 + next_rand() % 4;
    for (unsigned k = 0; k<edits && * n> 0; k++) {
        size_t at = next_rand() % *n;
        switch (next_rand() % 5) {
        case 0: /* flip a bit */
            p[at] ^= (uint8_t)(1u << (next_rand() % 8));
            break;
        case 1: /* a token EAS uses */
            p[at] = (uint8_t) "\x00\x01\x03\xC3\x40\x45\x80\xFF"[next_rand() % 8];
            break;
        case 2: /* delete */
            memmove(p + at, p + at + 1, *n - at - 1);
            (*n)--;
            break;
        case 3: /* insert */
            if (*n < cap) {
                memmove(p + at + 1, p + at, *n - at);
                p[at] = (uint8_t)next_rand();
                (*n)++;
            }
            break;
        default: /* truncate */
            *n = at;
            break;
        }
    }
}

static void test_mutants(void **state)
{
    (void)state;
    struct buf seed;
    buf_init(&seed, 4096);
    size_t len = seed_sync(&seed);
    uint8_t work[4096];
    unsigned ok = 0, failed = 0;
    for (int round = 0; round < 20000; round++) {
        size_t n = len;
        memcpy(work, seed.data, len);
        mutate(work, &n, sizeof(work));
        struct arena *a = arena_create();
        struct eas_tree *t = eas_tree_new(a, NULL, NULL);
        struct eas_wbxml_dec *d = eas_wbxml_dec_new(a, NULL, eas_tree_handler(), t);
        struct err e;
        err_init(&e);
        int rc = 0;
        for (size_t at = 0; at < n && rc == 0;) {
            size_t chunk = 1 + next_rand() % 16;
            if (chunk > n - at) {
                chunk = n - at;
            }
            rc = eas_wbxml_feed(d, work + at, chunk, &e);
            at += chunk;
        }
        if (rc == 0) {
            rc = eas_wbxml_finish(d, &e);
        }
        if (rc == 0) {
            assert_non_null(eas_tree_root(t));
            assert_null(e.cond);
            ok++;
        } else {
            assert_int_equal(rc, -1);
            assert_true(e.cond == &eas_cond_bad_wbxml || e.cond == &eas_cond_wbxml_limit);
            failed++;
        }
        arena_destroy(&a);
    }
    buf_deinit(&seed);
    /* Both outcomes occur, so the generator really reaches the decoder's paths. */
    assert_true(ok > 100);
    assert_true(failed > 10000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mutants),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
