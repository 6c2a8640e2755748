/* tests/unit/repl/test_tokens.c: repl-uid, resourcetag and collblob encodings and the tag set
 * (repl/tokens.c; exchange-replication.md §1.2, §1.3, §1.6). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "repl/tokens.h"
#include "util/sec.h"

static const uint8_t guid[16] = {0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
                                 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f};
static const uint8_t change[16] = {0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
                                   0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf};

static void test_tokens_uid_and_tag_have_the_brief_layout_and_round_trip(void **state)
{
    (void)state;
    char uid[REPL_UID_LEN + 1];
    repl_uid_format(guid, 0x123456789aULL, uid);
    assert_string_equal(uid, "rid:101112131415161718191a1b1c1d1e1f00123456789a");
    char tag[REPL_TAG_LEN + 1];
    repl_tag_format(guid, 42, change, 7, tag);
    /* §1.2: the first 22 bytes of the tag are the repl-uid's bytes */
    char uid42[REPL_UID_LEN + 1];
    repl_uid_format(guid, 42, uid42);
    assert_memory_equal(tag + 3, uid42 + 4, 44);
    assert_string_equal(tag + 3 + 44, "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf000000000007");
    struct repl_tag t;
    assert_int_equal(repl_tag_parse(slice_from_cstr(tag), guid, &t), REPL_TAG_OURS);
    assert_int_equal(t.id, 42);
    assert_int_equal(t.modseq, 7);
    assert_memory_equal(t.change_guid, change, 16);
    uint64_t id;
    assert_int_equal(repl_uid_parse(slice_from_cstr(uid), guid, &id), REPL_TAG_OURS);
    assert_int_equal(id, 0x123456789aULL);
}

static void test_tokens_parse_tolerates_case_and_space_and_sorts_out_bad_tags(void **state)
{
    (void)state;
    char tag[REPL_TAG_LEN + 1];
    repl_tag_format(guid, 9, change, 3, tag);
    char text[200];
    snprintf(text, sizeof(text), " \n RT:%s\t", tag + 3);
    for (char *c = text + 6; *c; c++) {
        if (*c >= 'a' && *c <= 'f') {
            *c = (char)(*c - 'a' + 'A');
        }
    }
    struct repl_tag t;
    assert_int_equal(repl_tag_parse(slice_from_cstr(text), guid, &t), REPL_TAG_OURS);
    assert_int_equal(t.id, 9);
    uint8_t other[16];
    memset(other, 0x55, sizeof(other));
    assert_int_equal(repl_tag_parse(slice_from_cstr(tag), other, &t), REPL_TAG_FOREIGN);
    static const char *const malformed[] = {
        "",
        "rt:",
        "rt:00",
        "rid:101112131415161718191a1b1c1d1e1f00123456789a",
        "rt:101112131415161718191a1b1c1d1e1f000000000009a0a1a2a3a4a5a6a7a8a9aaabacadaeaf00000000000",
        "rt:101112131415161718191a1b1c1d1e1f000000000009a0a1a2a3a4a5a6a7a8a9aaabacadaeaf0000000000033",
        "xx:101112131415161718191a1b1c1d1e1f000000000009a0a1a2a3a4a5a6a7a8a9aaabacadaeaf000000000003",
        "rt:g01112131415161718191a1b1c1d1e1f000000000009a0a1a2a3a4a5a6a7a8a9aaabacadaeaf000000000003",
    };
    for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
        assert_int_equal(repl_tag_parse(slice_from_cstr(malformed[i]), guid, &t),
                         REPL_TAG_MALFORMED);
    }
}

static void test_tokens_collblob_round_trips_and_rejects_tampering(void **state)
{
    (void)state;
    assert_int_equal(sec_init(), 0);
    uint8_t key[REPL_KEY_BYTES];
    uint8_t old[REPL_KEY_BYTES];
    sec_random(key, sizeof(key));
    sec_random(old, sizeof(old));
    struct repl_collblob b = {.flags = REPL_COLLBLOB_PARTIAL,
                              .principal = 3,
                              .coll = 77,
                              .epoch = 0x0123456789abcdefULL,
                              .watermark = 5000,
                              .page = 12};
    repl_query_hash(SLICE_LIT("77 SHALLOW"), b.query_hash);
    char text[REPL_COLLBLOB_B64 + 1];
    repl_collblob_encode(&b, key, text);
    assert_int_equal(strlen(text), 124); /* §1.3 version 1: 92 bytes */
    struct repl_collblob got;
    const char *reason = NULL;
    assert_int_equal(repl_collblob_decode(slice_from_cstr(text), key, NULL, &got, &reason), 0);
    assert_int_equal(got.flags, REPL_COLLBLOB_PARTIAL);
    assert_int_equal(got.principal, 3);
    assert_int_equal(got.coll, 77);
    assert_true(got.epoch == 0x0123456789abcdefULL);
    assert_int_equal(got.watermark, 5000);
    assert_int_equal(got.page, 12);
    assert_memory_equal(got.query_hash, b.query_hash, 16);
    /* rotation: a blob made with the previous key still verifies */
    repl_collblob_encode(&b, old, text);
    assert_int_equal(repl_collblob_decode(slice_from_cstr(text), key, NULL, &got, &reason), -1);
    assert_string_equal(reason, "bad-mac");
    assert_int_equal(repl_collblob_decode(slice_from_cstr(text), key, old, &got, &reason), 0);
    /* every byte flipped is caught */
    repl_collblob_encode(&b, key, text);
    uint8_t raw[REPL_COLLBLOB_BYTES];
    assert_int_equal(sec_unbase64(slice_from_cstr(text), raw, sizeof(raw)), REPL_COLLBLOB_BYTES);
    for (size_t i = 0; i < sizeof(raw); i++) {
        uint8_t forged[REPL_COLLBLOB_BYTES];
        memcpy(forged, raw, sizeof(raw));
        forged[i] ^= 0x01;
        char ftext[REPL_COLLBLOB_B64 + 1];
        sec_base64(forged, sizeof(forged), ftext, sizeof(ftext));
        assert_int_equal(repl_collblob_decode(slice_from_cstr(ftext), key, NULL, &got, &reason),
                         -1);
        assert_string_equal(reason, i == 0 ? "unsupported-version" : "bad-mac");
    }
    /* version 2 (docs/replication.md, a sliding date window): 124 bytes with the bounds */
    b.nbounds = 2;
    b.bounds[0] = -86400;
    b.bounds[1] = 1786000000;
    repl_collblob_encode(&b, key, text);
    assert_int_equal(strlen(text), REPL_COLLBLOB_B64);
    assert_int_equal(repl_collblob_decode(slice_from_cstr(text), key, NULL, &got, &reason), 0);
    assert_int_equal(got.version, 2);
    assert_int_equal(got.nbounds, 2);
    assert_true(got.bounds[0] == -86400 && got.bounds[1] == 1786000000 && got.bounds[2] == 0);
    assert_int_equal(got.watermark, 5000);
    assert_int_equal(got.page, 12);
    assert_memory_equal(got.query_hash, b.query_hash, 16);
    uint8_t raw2[REPL_COLLBLOB_V2_BYTES];
    assert_int_equal(sec_unbase64(slice_from_cstr(text), raw2, sizeof(raw2)),
                     REPL_COLLBLOB_V2_BYTES);
    for (size_t i = 0; i < sizeof(raw2); i++) {
        uint8_t forged[REPL_COLLBLOB_V2_BYTES];
        memcpy(forged, raw2, sizeof(raw2));
        forged[i] ^= 0x01;
        char ftext[REPL_COLLBLOB_B64 + 1];
        sec_base64(forged, sizeof(forged), ftext, sizeof(ftext));
        assert_int_equal(repl_collblob_decode(slice_from_cstr(ftext), key, NULL, &got, &reason),
                         -1);
        assert_string_equal(reason, i == 0 ? "unsupported-version" : "bad-mac");
    }
    /* a version 1 layout claiming version 2 (and the reverse) is another version */
    raw[0] = 2;
    sec_base64(raw, sizeof(raw), text, sizeof(text));
    assert_int_equal(repl_collblob_decode(slice_from_cstr(text), key, NULL, &got, &reason), -1);
    assert_string_equal(reason, "unsupported-version");
    raw2[0] = 1;
    sec_base64(raw2, sizeof(raw2), text, sizeof(text));
    assert_int_equal(repl_collblob_decode(slice_from_cstr(text), key, NULL, &got, &reason), -1);
    assert_string_equal(reason, "unsupported-version");
    assert_int_equal(repl_collblob_decode(SLICE_LIT("not base64!"), key, NULL, &got, &reason), -1);
    assert_string_equal(reason, "bad-encoding");
    assert_int_equal(repl_collblob_decode(SLICE_LIT("AAAA"), key, NULL, &got, &reason), -1);
    assert_string_equal(reason, "bad-encoding");
}

static void test_tokens_tagset_keeps_the_highest_state_in_bounded_memory(void **state)
{
    (void)state;
    struct repl_tagset *s = repl_tagset_create(1000000);
    for (uint64_t id = 1; id <= 1000000; id++) {
        assert_int_equal(repl_tagset_add(s, id * 7, id % 5), 0);
    }
    assert_int_equal(repl_tagset_count(s), 1000000);
    /* 12-byte entries in an array grown by doubling from 1,024: 2^20 of them, 12 MiB */
    assert_true(repl_tagset_bytes(s) <= (12u << 20) + 64);
    assert_int_equal(repl_tagset_add(s, 7, 9), 0); /* duplicate: highest wins, no growth */
    assert_int_equal(repl_tagset_add(s, 7, 1), 0);
    uint64_t m = 0;
    assert_true(repl_tagset_get(s, 7, &m));
    assert_int_equal(m, 9);
    assert_true(repl_tagset_get(s, 7 * 1000000, &m));
    assert_int_equal(m, 0);
    assert_false(repl_tagset_get(s, 8, &m));
    assert_false(repl_tagset_get(s, 0, &m));
    assert_int_equal(repl_tagset_add(s, 3, 1), -1); /* a new id past max_items */
    assert_int_equal(repl_tagset_add(s, 14, 8), 0); /* a listed one still merges */
    assert_true(repl_tagset_get(s, 14, &m));
    assert_int_equal(m, 8);
    assert_int_equal(repl_tagset_count(s), 1000000);
    repl_tagset_destroy(&s);
    assert_null(s);
}

static void test_tokens_tagset_repeats_cost_no_memory_and_odd_ids_are_found(void **state)
{
    (void)state;
    /* 3,000,000 tags naming 1,000 items (a list repeating itself) against max_items 2,000:
     * the repeats are merged each time the array reaches 2,000, so it never passes 2,000
     * entries, and each id keeps its highest modseq */
    struct repl_tagset *s = repl_tagset_create(2000);
    size_t first = repl_tagset_bytes(s);
    for (uint64_t i = 0; i < 3000000; i++) {
        assert_int_equal(repl_tagset_add(s, 1 + i % 1000, i), 0);
    }
    assert_true(repl_tagset_bytes(s) <= 2 * first);
    assert_int_equal(repl_tagset_count(s), 1000);
    uint64_t m = 0;
    assert_true(repl_tagset_get(s, 1, &m));
    assert_int_equal(m, 2999000);
    assert_true(repl_tagset_get(s, 1000, &m));
    assert_int_equal(m, 2999999);
    assert_false(repl_tagset_get(s, 1001, &m));
    repl_tagset_destroy(&s);
    /* ids at both ends of the 48-bit range, crowded and spread, added after a lookup */
    s = repl_tagset_create(100);
    const uint64_t ids[] = {
        1,     2,    3, UINT64_C(0xffffffffffff), UINT64_C(0x100000000), UINT64_C(0xffffffff),
        65536, 65537};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        assert_int_equal(repl_tagset_add(s, ids[i], UINT64_C(0xfffffffffff0) + i), 0);
        assert_true(repl_tagset_get(s, ids[i], &m));
        assert_int_equal(m, UINT64_C(0xfffffffffff0) + i);
    }
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        assert_true(repl_tagset_get(s, ids[i], &m));
        assert_int_equal(m, UINT64_C(0xfffffffffff0) + i);
    }
    assert_false(repl_tagset_get(s, 4, &m));
    assert_false(repl_tagset_get(s, UINT64_C(0xfffffffffffe), &m));
    assert_false(repl_tagset_get(s, UINT64_C(0x1000000000000), &m));
    assert_int_equal(repl_tagset_count(s), 8);
    repl_tagset_destroy(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokens_uid_and_tag_have_the_brief_layout_and_round_trip),
        cmocka_unit_test(test_tokens_parse_tolerates_case_and_space_and_sorts_out_bad_tags),
        cmocka_unit_test(test_tokens_collblob_round_trips_and_rejects_tampering),
        cmocka_unit_test(test_tokens_tagset_keeps_the_highest_state_in_bounded_memory),
        cmocka_unit_test(test_tokens_tagset_repeats_cost_no_memory_and_odd_ids_are_found),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
