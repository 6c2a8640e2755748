/* tests/fuzz/fuzz_mime.c: message/rfc822 PUT bodies through repl_mime_unwrap() (repl/mime.c;
 * exchange-replication.md §2.5, RFC 2045-2046). Each input is read two ways. As a whole
 * message: the unwrapped calendar is never longer than the message, and a refusal names
 * repl_cond_ex_no_calendar or repl_cond_ex_bad_mime. As the calendar inside messages built
 * around it (7bit, base64 in lines of 76, quoted-printable with soft line breaks, and the
 * base64 form as the second part of a multipart/mixed after a text/plain part): each must
 * unwrap to exactly the input. Violations abort(). Seeds are in tests/fuzz/corpus/mime/. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repl/exwrite.h"
#include "util/buf.h"
#include "util/sec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void must(int rc)
{
    if (rc != 0) {
        abort();
    }
}

static void append_base64(struct buf *b, const uint8_t *data, size_t size)
{
    size_t len = sec_base64_len(size);
    char *text = malloc(len);
    if (!text) {
        abort();
    }
    sec_base64(data, size, text, len);
    size_t n = strlen(text);
    for (size_t i = 0; i < n; i += 76) {
        must(buf_append(b, text + i, n - i < 76 ? n - i : 76));
        must(buf_append_cstr(b, "\r\n"));
    }
    free(text);
}

/* RFC 2045 §6.7: every byte but printable ASCII other than '=' as =XX, lines of at most 76
 * with soft breaks. */
static void append_qp(struct buf *b, const uint8_t *data, size_t size)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t col = 0;
    for (size_t i = 0; i < size; i++) {
        if (col >= 72) {
            must(buf_append_cstr(b, "=\r\n"));
            col = 0;
        }
        uint8_t c = data[i];
        if (c > 32 && c < 127 && c != '=') {
            must(buf_putc(b, (char)c));
            col++;
        } else {
            char esc[3] = {'=', hex[c >> 4], hex[c & 15]};
            must(buf_append(b, esc, 3));
            col += 3;
        }
    }
}

/* The message `b` unwraps to exactly the input. */
static void check_unwraps_to(const struct buf *b, const uint8_t *data, size_t size)
{
    struct arena *a = arena_create();
    struct slice out;
    struct err e;
    err_init(&e);
    if (repl_mime_unwrap(buf_slice(b), a, &out, &e) != 0 || out.len != size ||
        (size && memcmp(out.ptr, data, size) != 0) || out.ptr[out.len] != '\0') {
        fprintf(stderr, "fuzz_mime: %s\n%.*s\n", e.cond ? e.msg : "unwrapped to other bytes",
                (int)b->len, b->data);
        abort();
    }
    arena_destroy(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct arena *a = arena_create();
    struct slice out;
    struct err e;
    err_init(&e);
    if (repl_mime_unwrap((struct slice){(const char *)data, size}, a, &out, &e) == 0) {
        if (out.len > size || out.ptr[out.len] != '\0') {
            abort();
        }
    } else if (e.cond != &repl_cond_ex_no_calendar && e.cond != &repl_cond_ex_bad_mime) {
        abort();
    }
    arena_destroy(&a);

    struct buf b;
    buf_init(&b, 8 * size + 4096);
    must(buf_append_cstr(&b, "Content-Type: text/calendar; charset=utf-8; method=REQUEST\r\n\r\n"));
    must(buf_append(&b, data, size));
    check_unwraps_to(&b, data, size);

    buf_reset(&b);
    must(buf_append_cstr(&b, "Subject: x\r\nContent-Type: text/calendar\r\n"
                             "Content-Transfer-Encoding: base64\r\n\r\n"));
    append_base64(&b, data, size);
    check_unwraps_to(&b, data, size);

    buf_reset(&b);
    must(buf_append_cstr(&b, "content-type:\r\n\tTEXT/Calendar\r\n"
                             "Content-Transfer-Encoding:  Quoted-Printable \r\n\r\n"));
    append_qp(&b, data, size);
    check_unwraps_to(&b, data, size);

    if (size == 0) {
        /* Not checked: an empty last part reads as headers that do not end, because the
         * CRLF of its blank line goes to the delimiter (RFC 2046 §5.1.1). */
        buf_deinit(&b);
        return 0;
    }
    buf_reset(&b);
    must(buf_append_cstr(&b, "MIME-Version: 1.0\r\nContent-Type: multipart/mixed;\r\n"
                             " boundary=\"=_part_\"\r\n\r\npreamble\r\n--=_part_\r\n"
                             "Content-Type: text/plain\r\n\r\nhello\r\n--=_part_\r\n"
                             "Content-Type: text/calendar\r\n"
                             "Content-Transfer-Encoding: base64\r\n\r\n"));
    append_base64(&b, data, size);
    must(buf_append_cstr(&b, "--=_part_--\r\nepilogue\r\n"));
    check_unwraps_to(&b, data, size);
    buf_deinit(&b);
    return 0;
}
