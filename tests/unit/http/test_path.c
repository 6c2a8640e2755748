/* tests/unit/http/test_path.c: request-target decoding and normalisation (http/path.c,
 * RFC 3986 §2.1 and §5.2.4), table-driven: valid targets and their normal form, and the
 * targets refused with their condition. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "http/http.h"
#include "util/buf.h"

struct good_case {
    const char *raw;
    const char *path;
    bool trailing;
};

static const struct good_case good[] = {
    {"/", "/", true},
    {"/calendars/alice/", "/calendars/alice/", true},
    {"/calendars/alice", "/calendars/alice", false},
    {"//calendars///alice//x", "/calendars/alice/x", false},
    {"/calendars/./alice/./x/", "/calendars/alice/x/", true},
    {"/calendars/alice/a/../b", "/calendars/alice/b", false},
    {"/a%20b/c%c3%a9", "/a b/c\xc3\xa9", false},
    {"/a%2e%2e/b", "/a../b", false},
    {"/x?query=1", "/x", false},
    {"http://example.com:8008/calendars/bob/", "/calendars/bob/", true},
    {"https://h/calendars", "/calendars", false},
    {"http://h", "/", true},
    {"/a/%2E%2E/", "/", true},
};

struct bad_case {
    const char *raw;
    const struct err_cond *cond;
};

static const struct bad_case bad[] = {
    {"/../etc/passwd", &http_cond_bad_path},
    {"/a/../../b", &http_cond_bad_path},
    {"/%2e%2e/x", &http_cond_bad_path},
    {"/a%00b", &http_cond_bad_path},
    {"/a%2Fb", &http_cond_bad_path},
    {"/a%2fb", &http_cond_bad_path},
    {"/a%zzb", &http_cond_bad_path},
    {"/a%4", &http_cond_bad_path},
    {"/a%", &http_cond_bad_path},
    {"relative/path", &http_cond_bad_path},
    {"", &http_cond_bad_path},
    {"/coll/#frag", &http_cond_bad_path},
    /* not UTF-8 once decoded (issue #10): a lone byte, an overlong '/', a surrogate, a code
     * point past U+10FFFF, a sequence cut short, raw bytes */
    {"/cal/%FF.ics", &http_cond_bad_path},
    {"/cal/%C0%AF", &http_cond_bad_path},
    {"/cal/%ED%A0%80", &http_cond_bad_path},
    {"/cal/%F4%90%80%80", &http_cond_bad_path},
    {"/cal/caf%C3", &http_cond_bad_path},
    {"/cal/caf\xe9/", &http_cond_bad_path},
};

static void test_path_decode_normalises_valid_targets(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct arena *a = arena_create();
        struct err e;
        err_init(&e);
        const char *path = NULL;
        bool trailing = false;
        int rc = http_path_decode(slice_from_cstr(good[i].raw), 4096, a, &path, &trailing, &e);
        if (rc != 0) {
            fail_msg("case %zu %s: %s", i, good[i].raw, e.msg);
        }
        assert_string_equal(path, good[i].path);
        assert_int_equal(trailing, good[i].trailing);
        arena_destroy(&a);
    }
}

static void test_path_decode_refuses_escapes_and_traversal(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct arena *a = arena_create();
        struct err e;
        err_init(&e);
        const char *path = NULL;
        int rc = http_path_decode(slice_from_cstr(bad[i].raw), 4096, a, &path, NULL, &e);
        if (rc != -1) {
            fail_msg("case %zu %s decoded to %s", i, bad[i].raw, path);
        }
        assert_ptr_equal(e.cond, bad[i].cond);
        arena_destroy(&a);
    }
}

static void test_path_decode_refuses_paths_over_the_limit(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    struct err e;
    err_init(&e);
    const char *path = NULL;
    assert_int_equal(http_path_decode(SLICE_LIT("/abcdefghij"), 10, a, &path, NULL, &e), -1);
    assert_ptr_equal(e.cond, &http_cond_path_too_long);
    err_init(&e);
    assert_int_equal(http_path_decode(SLICE_LIT("/abcdefghi"), 10, a, &path, NULL, &e), 0);
    arena_destroy(&a);
}

static void test_path_encode_segment_escapes_reserved_bytes(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 256);
    assert_int_equal(http_path_encode_segment(&b, SLICE_LIT("a b/c%\xc3\xa9?#@:~")), 0);
    assert_string_equal(buf_cstr(&b), "a%20b%2Fc%25%C3%A9%3F%23@:~");
    buf_deinit(&b);
    buf_init(&b, 5);
    assert_int_equal(http_path_encode_segment(&b, SLICE_LIT("a b")), 0);
    assert_int_equal(http_path_encode_segment(&b, SLICE_LIT("xx")), -1);
    buf_deinit(&b);
}

/* Every byte value, encoded as RFC 3986 §3.3 says: pchar minus '/' as it is, all else %XX. */
static void expected_encoding(struct buf *b)
{
    static const char plain[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                "0123456789-._~!$&'()*+,;=:@";
    for (int c = 0; c < 256; c++) {
        char esc[4];
        if (c != 0 && memchr(plain, c, sizeof(plain) - 1)) {
            assert_int_equal(buf_putc(b, (char)c), 0);
        } else {
            snprintf(esc, sizeof(esc), "%%%02X", (unsigned)c);
            assert_int_equal(buf_append_cstr(b, esc), 0);
        }
    }
}

/* Issue 16: the encoder into a caller's array (dav_child_href's, one per multistatus row)
 * writes what the buf one does, for every byte value, with no more than 3 bytes per byte. */
static void test_path_encode_segment_to_matches_the_buf_encoder(void **state)
{
    (void)state;
    char all[256];
    for (int c = 0; c < 256; c++) {
        all[c] = (char)c;
    }
    struct buf want;
    buf_init(&want, 4096);
    expected_encoding(&want);
    char got[3 * 256 + 1];
    memset(got, '#', sizeof(got));
    size_t n = http_path_encode_segment_to(got, (struct slice){all, sizeof(all)});
    assert_int_equal(n, want.len);
    assert_memory_equal(got, want.data, n);
    assert_int_equal(got[3 * 256], '#');
    assert_int_equal(http_path_encode_segment_to(got, SLICE_LIT("")), 0);
    buf_deinit(&want);
}

enum {
    ENCODE_THREADS = 8,
    ENCODE_ROUNDS = 200,
};

/* One worker: encodes all 256 byte values ENCODE_ROUNDS times; returns (void *)1 on a
 * mismatch with the expected form in `arg`. */
static void *encode_all_bytes(void *arg)
{
    const struct buf *want = arg;
    unsigned char all[256];
    for (int c = 0; c < 256; c++) {
        all[c] = (unsigned char)c;
    }
    for (int r = 0; r < ENCODE_ROUNDS; r++) {
        struct buf b;
        buf_init(&b, 1024);
        int rc = http_path_encode_segment(&b, (struct slice){(const char *)all, sizeof(all)});
        bool same = rc == 0 && b.len == want->len && memcmp(b.data, want->data, b.len) == 0;
        buf_deinit(&b);
        if (!same) {
            return (void *)1;
        }
    }
    return NULL;
}

/* Issue 14: the encoding table was built lazily on first use with no synchronisation, a
 * data race between worker threads (ThreadSanitizer reports it on this test); it is now a
 * constant. Here several threads encode at once from the very first call. */
static void test_path_encode_segment_every_byte_from_threads_issue_14(void **state)
{
    (void)state;
    struct buf want;
    buf_init(&want, 1024);
    expected_encoding(&want);
    pthread_t t[ENCODE_THREADS];
    for (int i = 0; i < ENCODE_THREADS; i++) {
        assert_int_equal(pthread_create(&t[i], NULL, encode_all_bytes, &want), 0);
    }
    for (int i = 0; i < ENCODE_THREADS; i++) {
        void *mismatch = NULL;
        assert_int_equal(pthread_join(t[i], &mismatch), 0);
        assert_null(mismatch);
    }
    buf_deinit(&want);
}

static void test_path_decode_then_encode_round_trips(void **state)
{
    (void)state;
    static const char *const names[] = {"plain.ics", "with space", "caf\xc3\xa9", "a&b;c=d",
                                        "100%"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        struct buf b;
        buf_init(&b, 1024);
        assert_int_equal(buf_append_cstr(&b, "/calendars/u/"), 0);
        assert_int_equal(http_path_encode_segment(&b, slice_from_cstr(names[i])), 0);
        struct arena *a = arena_create();
        struct err e;
        err_init(&e);
        const char *path = NULL;
        assert_int_equal(http_path_decode(buf_slice(&b), 4096, a, &path, NULL, &e), 0);
        assert_string_equal(path + strlen("/calendars/u/"), names[i]);
        arena_destroy(&a);
        buf_deinit(&b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* first: the table must not have been used before the threads start */
        cmocka_unit_test(test_path_encode_segment_every_byte_from_threads_issue_14),
        cmocka_unit_test(test_path_decode_normalises_valid_targets),
        cmocka_unit_test(test_path_decode_refuses_escapes_and_traversal),
        cmocka_unit_test(test_path_decode_refuses_paths_over_the_limit),
        cmocka_unit_test(test_path_encode_segment_escapes_reserved_bytes),
        cmocka_unit_test(test_path_decode_then_encode_round_trips),
        cmocka_unit_test(test_path_encode_segment_to_matches_the_buf_encoder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
