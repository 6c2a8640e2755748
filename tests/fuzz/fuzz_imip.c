/* tests/fuzz/fuzz_imip.c: iMIP messages (sched/imip.h; RFC 6047, RFC 2045-2046). Each input
 * is read two ways. As a whole message through sched_imip_parse(): the calendar found is
 * never longer than the message, the From address has an '@', and a refusal names
 * sched_cond_imip_bad_message. As the calendar object of a message built around it by
 * sched_imip_build() (7bit or base64, folded at 75 octets): the message reads back with
 * its From and METHOD, and its calendar, unfolded, is the input's lines (CRLF, empty lines
 * and line-final CRs dropped, as the builder writes them) unfolded alike. Violations
 * abort(). Seeds are in tests/fuzz/corpus/imip/. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched/imip.h"
#include "util/buf.h"
#include "util/sec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
    if (!ok) {
        abort();
    }
}

/* `s` as the builder writes lines: each '\n'-ended line without its final CR, empty ones
 * dropped, ended by CRLF; then every fold ("\r\n ") removed. */
static void normalize(struct slice s, struct buf *out, bool is_lines)
{
    struct buf tmp;
    buf_init(&tmp, (size_t)64 << 20);
    if (is_lines) {
        size_t i = 0;
        while (i < s.len) {
            const char *nl = memchr(s.ptr + i, '\n', s.len - i);
            size_t end = nl ? (size_t)(nl - s.ptr) : s.len;
            size_t l = end - i;
            if (l && s.ptr[i + l - 1] == '\r') {
                l--;
            }
            if (l) {
                check(buf_append_grow(&tmp, s.ptr + i, l) == 0);
                check(buf_append_slice(&tmp, SLICE_LIT("\r\n")) == 0);
            }
            i = end + 1;
        }
    } else {
        check(buf_append_grow(&tmp, s.ptr, s.len) == 0);
    }
    struct slice t = buf_slice(&tmp);
    for (size_t i = 0; i < t.len; i++) {
        if (i + 2 < t.len && t.ptr[i] == '\r' && t.ptr[i + 1] == '\n' && t.ptr[i + 2] == ' ') {
            i += 2;
            continue;
        }
        check(buf_putc(out, t.ptr[i]) == 0);
    }
    buf_deinit(&tmp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct arena *a = arena_create();
    struct slice in = {(const char *)data, size};
    struct sched_imip_in got;
    struct err e;
    err_init(&e);
    if (sched_imip_parse(in, a, &got, &e) == 0) {
        check(got.ics.len <= size);
        check(got.from && strchr(got.from, '@'));
    } else {
        check(e.cond == &sched_cond_imip_bad_message);
    }
    struct sched_imip_out out = {
        .from = "mailto:alice@example.org",
        .to = "mailto:x@outside.test",
        .sender = "calendar@example.org",
        .method = SCHED_CANCEL,
        .ics = in,
        .date = 0,
    };
    struct slice msg;
    err_init(&e);
    check(sched_imip_build(&out, a, &msg, &e) == 0);
    err_init(&e);
    check(sched_imip_parse(msg, a, &got, &e) == 0);
    check(strcmp(got.from, "alice@example.org") == 0);
    check(got.method && strcmp(got.method, "CANCEL") == 0);
    struct buf want, have;
    buf_init(&want, (size_t)64 << 20);
    buf_init(&have, (size_t)64 << 20);
    normalize(in, &want, true);
    normalize(got.ics, &have, false);
    struct slice w = buf_slice(&want), h = buf_slice(&have);
    check(w.len == h.len && memcmp(w.ptr, h.ptr, w.len) == 0);
    buf_deinit(&want);
    buf_deinit(&have);
    arena_destroy(&a);
    return 0;
}
