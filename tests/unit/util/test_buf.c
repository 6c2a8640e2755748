/* tests/unit/util/test_buf.c: bounded buffers (util/buf.c): every append stops at the limit
 * and leaves the contents as they were, the contents stay NUL-terminated (embedded NULs
 * included), reset keeps the allocation and deinit frees it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util/buf.h"
#include "util/compiler.h"

static void test_buf_starts_empty_and_reads_as_empty(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 16);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.limit, 16);
    assert_string_equal(buf_cstr(&b), "");
    struct slice s = buf_slice(&b);
    assert_non_null(s.ptr);
    assert_int_equal(s.len, 0);
    buf_reset(&b); /* fine before any allocation */
    buf_deinit(&b);
    assert_null(b.data);
}

/* Which append, and how many bytes it adds (each appends "abc..." of that length). */
enum append_kind {
    APPEND_BYTES,
    APPEND_SLICE,
    APPEND_CSTR,
    APPEND_PUTC,
    APPEND_PRINTF,
};

static int append(struct buf *b, enum append_kind kind, size_t n)
{
    static const char src[] = "abcdefghijklmnopqrstuvwxyz";
    assert_true(n < sizeof(src));
    switch (kind) {
    case APPEND_BYTES:
        return buf_append(b, src, n);
    case APPEND_SLICE:
        return buf_append_slice(b, (struct slice){src, n});
    case APPEND_CSTR: {
        char tmp[sizeof(src)];
        memcpy(tmp, src, n);
        tmp[n] = '\0';
        return buf_append_cstr(b, tmp);
    }
    case APPEND_PUTC:
        assert_int_equal(n, 1);
        return buf_putc(b, 'a');
    default:
        return buf_appendf(b, "%.*s", (int)n, src);
    }
}

/* Limit 10 holding 6 bytes: 4 more fit exactly, 5 do not, and a refusal changes nothing. */
static void test_buf_every_append_stops_exactly_at_the_limit(void **state)
{
    (void)state;

    static const struct {
        enum append_kind kind;
        size_t n;
        int rc;
    } cases[] = {
        {APPEND_BYTES, 4, 0}, {APPEND_BYTES, 5, -1}, {APPEND_SLICE, 4, 0},  {APPEND_SLICE, 5, -1},
        {APPEND_CSTR, 4, 0},  {APPEND_CSTR, 5, -1},  {APPEND_PRINTF, 4, 0}, {APPEND_PRINTF, 5, -1},
        {APPEND_PUTC, 1, 0},  {APPEND_BYTES, 0, 0},  {APPEND_PRINTF, 0, 0},
    };

    for (size_t i = 0; i < ALM_ARRAY_LEN(cases); i++) {
        struct buf b;
        buf_init(&b, 10);
        assert_int_equal(buf_append_cstr(&b, "012345"), 0);
        assert_int_equal(append(&b, cases[i].kind, cases[i].n), cases[i].rc);
        if (cases[i].rc == 0) {
            assert_int_equal(b.len, 6 + cases[i].n);
            assert_memory_equal(b.data + 6, "abcde", cases[i].n);
        } else {
            assert_int_equal(b.len, 6);
            assert_string_equal(buf_cstr(&b), "012345");
        }
        assert_int_equal(b.data[b.len], '\0');
        buf_deinit(&b);
    }
}

static void test_buf_full_buffer_refuses_everything_but_nothing(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 8);
    assert_int_equal(buf_append_cstr(&b, "abcd"), 0);
    assert_int_equal(buf_appendf(&b, "%d", 123), 0);
    assert_int_equal(buf_putc(&b, 'x'), 0);
    assert_string_equal(buf_cstr(&b), "abcd123x");
    assert_int_equal(buf_putc(&b, 'y'), -1);
    assert_int_equal(buf_appendf(&b, "%s", "z"), -1);
    assert_int_equal(buf_append(&b, "", 0), 0);
    assert_int_equal(buf_appendf(&b, "%s", ""), 0);
    assert_string_equal(buf_cstr(&b), "abcd123x");
    assert_int_equal(b.len, 8);
    buf_deinit(&b);
    /* A zero limit holds nothing at all. */
    buf_init(&b, 0);
    assert_int_equal(buf_putc(&b, 'a'), -1);
    assert_int_equal(buf_appendf(&b, "x"), -1);
    assert_int_equal(b.len, 0);
    assert_string_equal(buf_cstr(&b), "");
    buf_deinit(&b);
}

static void test_buf_keeps_embedded_nul_and_terminates(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 64);
    assert_int_equal(buf_append(&b, "a\0b", 3), 0);
    assert_int_equal(buf_putc(&b, '\0'), 0);
    assert_int_equal(b.len, 4);
    assert_memory_equal(b.data, "a\0b\0\0", 5);
    struct slice s = buf_slice(&b);
    assert_int_equal(s.len, 4);
    assert_memory_equal(s.ptr, "a\0b\0", 4);
    buf_deinit(&b);
}

/* Growth by doubling keeps every byte, across many reallocations. */
static void test_buf_grows_and_keeps_contents(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1 << 20);
    for (size_t i = 0; i < (1 << 20); i++) {
        assert_int_equal(buf_putc(&b, (char)('a' + i % 26)), 0);
    }
    assert_int_equal(buf_putc(&b, 'x'), -1);
    assert_int_equal(b.len, 1 << 20);
    assert_true(b.cap > b.len);
    for (size_t i = 0; i < b.len; i++) {
        if (b.data[i] != (char)('a' + i % 26)) {
            fail_msg("byte %zu changed", i);
        }
    }
    assert_int_equal(b.data[b.len], '\0');
    buf_deinit(&b);
}

static void test_buf_appendf_formats_long_output(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 4096);
    char big[1000];
    memset(big, 'q', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(buf_appendf(&b, "<%s|%d|%zu>", big, -5, (size_t)7), 0);
    assert_int_equal(b.len, 1 + 999 + 6);
    assert_int_equal(b.data[0], '<');
    assert_string_equal(b.data + 1000, "|-5|7>");
    /* Refused when the formatted length passes the limit, by one byte. */
    buf_reset(&b);
    char over[4098];
    memset(over, 'z', sizeof(over) - 1);
    over[sizeof(over) - 1] = '\0';
    assert_int_equal(buf_appendf(&b, "%s", over), -1);
    assert_int_equal(b.len, 0);
    assert_int_equal(buf_appendf(&b, "%s", over + 1), 0);
    assert_int_equal(b.len, 4096);
    buf_deinit(&b);
}

static void test_buf_reset_keeps_the_allocation_and_deinit_frees_it(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1024);
    assert_int_equal(buf_append_cstr(&b, "hello, world"), 0);
    char *data = b.data;
    size_t cap = b.cap;
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_ptr_equal(b.data, data);
    assert_int_equal(b.cap, cap);
    assert_string_equal(buf_cstr(&b), "");
    assert_int_equal(buf_append_cstr(&b, "again"), 0);
    assert_string_equal(buf_cstr(&b), "again");
    buf_deinit(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    assert_int_equal(b.limit, 1024); /* reusable as it was */
    assert_int_equal(buf_append_cstr(&b, "x"), 0);
    buf_deinit(&b);
}

/* buf_room: room for up to n bytes past the contents, NULL (nothing changed) when n would
 * pass the limit; buf_advance counts what was written and terminates. */
static void test_buf_room_then_advance_counts_what_was_written(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 16);
    assert_int_equal(buf_append(&b, "abc", 3), 0);
    assert_null(buf_room(&b, 14)); /* 3 + 14 > 16 */
    assert_int_equal(b.len, 3);
    assert_string_equal(buf_cstr(&b), "abc");
    char *p = buf_room(&b, 13); /* exactly up to the limit */
    assert_non_null(p);
    assert_true(b.cap > 16); /* room for the terminator too */
    memcpy(p, "defgh", 5);   /* fewer bytes than asked for */
    buf_advance(&b, 5);
    assert_int_equal(b.len, 8);
    assert_string_equal(buf_cstr(&b), "abcdefgh");
    assert_non_null(buf_room(&b, 8));
    buf_advance(&b, 0);
    assert_string_equal(buf_cstr(&b), "abcdefgh");
    assert_null(buf_room(&b, 9));
    buf_deinit(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_starts_empty_and_reads_as_empty),
        cmocka_unit_test(test_buf_every_append_stops_exactly_at_the_limit),
        cmocka_unit_test(test_buf_full_buffer_refuses_everything_but_nothing),
        cmocka_unit_test(test_buf_keeps_embedded_nul_and_terminates),
        cmocka_unit_test(test_buf_grows_and_keeps_contents),
        cmocka_unit_test(test_buf_appendf_formats_long_output),
        cmocka_unit_test(test_buf_reset_keeps_the_allocation_and_deinit_frees_it),
        cmocka_unit_test(test_buf_room_then_advance_counts_what_was_written),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
