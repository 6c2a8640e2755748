/* tests/fuzz/fuzz_ifheader.c: If request headers (RFC 4918 §10.4) through dav_if_eval()
 * (dav/ifheader.c), the grammar every method's preconditions run, with conditions answered
 * by the input itself instead of the store: a state token holds when its text has an even
 * length, an entity tag when it is "e1". Each input is one header value. A refusal is
 * dav_cond_bad_request; every slice handed to a callback lies inside the header and has no
 * delimiter in it, at most DAV_IF_MAX_CONDITIONS conditions are asked, and the verdict is
 * the same when the header is evaluated a second time. Violations abort(). Seeds are in
 * tests/fuzz/corpus/ifheader/. */
#include <stdlib.h>
#include <string.h>

#include "dav/ext.h"
#include "dav/ifheader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct answers {
    struct slice h;
    unsigned conditions; /* tokens and entity tags asked */
    unsigned tags;       /* Resource-Tags seen */
};

static void check_inside(const struct answers *a, struct slice s, char close)
{
    if ((s.len && !s.ptr) || s.ptr < a->h.ptr || s.ptr + s.len > a->h.ptr + a->h.len ||
        memchr(s.ptr, close, s.len)) {
        abort();
    }
}

static int on_tag(void *ctx, struct slice tag, struct err *err)
{
    (void)err;
    struct answers *a = ctx;
    check_inside(a, tag, '>');
    a->tags++;
    return 0;
}

static bool on_token(void *ctx, struct slice token)
{
    struct answers *a = ctx;
    check_inside(a, token, '>');
    if (++a->conditions > DAV_IF_MAX_CONDITIONS) {
        abort();
    }
    return token.len % 2 == 0;
}

static bool on_etag(void *ctx, struct slice etag)
{
    struct answers *a = ctx;
    check_inside(a, etag, ']');
    if (++a->conditions > DAV_IF_MAX_CONDITIONS) {
        abort();
    }
    return slice_eq(etag, SLICE_LIT("\"e1\""));
}

static const struct dav_if_ops ops = {on_tag, on_token, on_etag};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int rc[2];
    bool truth[2] = {false, false};
    for (int i = 0; i < 2; i++) {
        struct answers a = {.h = {(const char *)data, size}};
        struct err e;
        err_init(&e);
        rc[i] = dav_if_eval(a.h, &ops, &a, &truth[i], &e);
        if (rc[i] != 0 && (rc[i] != -1 || e.cond != &dav_cond_bad_request)) {
            abort();
        }
        if (rc[i] == 0 && a.conditions == 0) {
            abort(); /* accepted without one condition: a list is never empty */
        }
    }
    if (rc[0] != rc[1] || truth[0] != truth[1]) {
        abort();
    }
    return 0;
}
