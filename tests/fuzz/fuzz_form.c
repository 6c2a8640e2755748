/* tests/fuzz/fuzz_form.c: what a browser's forms send to the web page (web/form.h), the
 * sign-in and the import upload among them: each input as an application/x-www-form-urlencoded
 * body and as a multipart/form-data body with a fixed boundary, and its first line as a
 * Content-Type for the boundary reader. A refusal is web_cond_bad_form. An accepted urlencoded
 * form, written back with every byte %-escaped, parses to the same fields; an accepted
 * multipart form has at most WEB_FORM_MAX_FIELDS fields, at most one file, names without NUL,
 * and every value inside the body. Violations abort(). Seeds are in tests/fuzz/corpus/form/. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/arena.h"
#include "util/buf.h"
#include "util/err.h"
#include "web/form.h"
#include "web/web.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void refused_right(const struct err *err)
{
    if (err->cond != &web_cond_bad_form) {
        abort();
    }
}

static void urlencoded(struct slice body, struct arena *a)
{
    struct web_form f;
    struct err err;
    err_init(&err);
    if (web_form_urlencoded(body, a, &f, &err) != 0) {
        refused_right(&err);
        return;
    }
    if (f.n > WEB_FORM_MAX_FIELDS) {
        abort();
    }
    struct buf b;
    buf_init(&b, (size_t)1 << 24);
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < f.n; i++) {
        struct slice parts[2] = {slice_from_cstr(f.fields[i].name), f.fields[i].value};
        if (i > 0 && buf_putc(&b, '&') != 0) {
            abort();
        }
        for (int p = 0; p < 2; p++) {
            if (p == 1 && buf_putc(&b, '=') != 0) {
                abort();
            }
            for (size_t k = 0; k < parts[p].len; k++) {
                unsigned char c = (unsigned char)parts[p].ptr[k];
                char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
                if (buf_append(&b, esc, 3) != 0) {
                    abort();
                }
            }
        }
    }
    struct web_form g;
    err_init(&err);
    if (web_form_urlencoded(buf_slice(&b), a, &g, &err) != 0 || g.n != f.n) {
        abort();
    }
    for (size_t i = 0; i < f.n; i++) {
        if (strcmp(f.fields[i].name, g.fields[i].name) != 0 ||
            !slice_eq(f.fields[i].value, g.fields[i].value)) {
            abort();
        }
    }
    buf_deinit(&b);
}

static void multipart(struct slice body, struct arena *a)
{
    struct web_form f;
    struct err err;
    err_init(&err);
    if (web_multipart_parse(body, "XyZ", a, &f, &err) != 0) {
        refused_right(&err);
        return;
    }
    size_t files = 0;
    if (f.n > WEB_FORM_MAX_FIELDS) {
        abort();
    }
    for (size_t i = 0; i < f.n; i++) {
        const struct web_field *w = &f.fields[i];
        files += w->filename != NULL;
        if (!w->name || (w->value.len && (w->value.ptr < body.ptr ||
                                          w->value.ptr + w->value.len > body.ptr + body.len))) {
            abort();
        }
    }
    if (files > 1) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct arena *a = arena_create();
    struct slice body = {(const char *)data, size};
    urlencoded(body, a);
    multipart(body, a);
    /* the first line as a Content-Type */
    const char *nl = memchr(data, '\n', size);
    size_t n = nl ? (size_t)(nl - (const char *)data) : size;
    char *ct = arena_strndup(a, (const char *)data, n);
    const char *boundary = NULL;
    struct err err;
    err_init(&err);
    if (strlen(ct) == n) { /* a header holds no NUL */
        if (web_multipart_boundary(ct, a, &boundary, &err) != 0) {
            refused_right(&err);
        } else if (!boundary || !boundary[0] || strlen(boundary) > WEB_FORM_MAX_BOUNDARY) {
            abort();
        }
    }
    arena_destroy(&a);
    return 0;
}
