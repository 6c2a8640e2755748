/* tests/fuzz/fuzz_xmlin.c: the streaming XML reader (xml/xmlin.c) with a generic handler, as
 * every request body meets it: PROPFIND, PROPPATCH, MKCALENDAR, REPORT and SEARCH bodies go
 * through this reader before any method sees them. Each input is read twice, whole and cut
 * into pieces (chunks.h), and both reads must agree: the same verdict and, when the document
 * is accepted, the same events (names, attributes and the text of each run, hashed). During
 * each read the handler checks what the header promises: ends match starts, depth, element
 * count and each run of text stay within the limits, attribute names are never empty, and
 * the document, once accepted, was one balanced root. A refusal must name a condition and
 * stay sticky. Violations abort(). Seeds are in tests/fuzz/corpus/xmlin/. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chunks.h"
#include "xml/xmlin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Small limits, so that inputs of a few KiB reach every one of them. */
enum {
    MAX_BYTES = 16384,
    MAX_DEPTH = 24,
    MAX_ELEMENTS = 400,
    MAX_TEXT = 2048,
};

static const struct xmlin_limits limits = {
    .max_bytes = MAX_BYTES,
    .max_depth = MAX_DEPTH,
    .max_elements = MAX_ELEMENTS,
    .max_text = MAX_TEXT,
};

struct trace {
    uint64_t hash;                /* FNV-1a over the events, text coalesced per run */
    unsigned depth;               /* open elements */
    size_t elements;              /* elements started */
    size_t text_run;              /* text bytes since the last start or end */
    bool rooted;                  /* a root element has started */
    bool closed;                  /* the root has ended */
    uint64_t open[MAX_DEPTH + 1]; /* hash of each open element's (ns, name) */
};

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    const unsigned char *u = p;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ u[i]) * 0x100000001b3ULL;
    }
    return h;
}

static uint64_t name_hash(struct slice ns, struct slice name)
{
    uint64_t h = mix(0xcbf29ce484222325ULL, ns.ptr, ns.len);
    h = mix(h, "}", 1);
    return mix(h, name.ptr, name.len);
}

static void check_slice(struct slice s)
{
    if (s.len > 0 && !s.ptr) {
        abort();
    }
}

static int on_start(void *ctx,
                    struct slice ns,
                    struct slice name,
                    const struct xmlin_attr *attrs,
                    size_t nattrs,
                    struct err *err)
{
    (void)err;
    struct trace *t = ctx;
    check_slice(ns);
    if (t->closed || name.len == 0 || t->depth >= limits.max_depth ||
        ++t->elements > limits.max_elements) {
        abort(); /* a second root, a nameless element, or a limit let through */
    }
    t->rooted = true;
    t->open[t->depth++] = name_hash(ns, name);
    t->text_run = 0;
    t->hash = mix(t->hash, "<", 1);
    t->hash = mix(t->hash, &t->open[t->depth - 1], sizeof(t->open[0]));
    for (size_t i = 0; i < nattrs; i++) {
        check_slice(attrs[i].ns);
        check_slice(attrs[i].value);
        if (attrs[i].name.len == 0) {
            abort();
        }
        uint64_t an = name_hash(attrs[i].ns, attrs[i].name);
        t->hash = mix(t->hash, " ", 1);
        t->hash = mix(t->hash, &an, sizeof(an));
        t->hash = mix(t->hash, attrs[i].value.ptr, attrs[i].value.len);
        t->hash = mix(t->hash, "\"", 1);
    }
    return 0;
}

static int on_end(void *ctx, struct slice ns, struct slice name, struct err *err)
{
    (void)err;
    struct trace *t = ctx;
    if (t->depth == 0 || t->open[t->depth - 1] != name_hash(ns, name)) {
        abort(); /* an end without its start, or of another element */
    }
    t->depth--;
    t->closed = t->depth == 0;
    t->text_run = 0;
    t->hash = mix(t->hash, ">", 1);
    return 0;
}

static int on_text(void *ctx, struct slice text, struct err *err)
{
    (void)err;
    struct trace *t = ctx;
    if (t->depth == 0 || text.len == 0 || !text.ptr) {
        abort(); /* text outside the root, or an empty piece */
    }
    t->text_run += text.len;
    if (t->text_run > limits.max_text) {
        abort();
    }
    t->hash = mix(t->hash, text.ptr, text.len); /* pieces of one run hash as the run */
    return 0;
}

static const struct xmlin_handler handler = {on_start, on_end, on_text};

/* Reads the input in pieces (`salt` 0: whole). Returns 0 when accepted; the trace in *t. */
static int read_doc(const uint8_t *data, size_t size, uint64_t salt, struct trace *t)
{
    memset(t, 0, sizeof(*t));
    t->hash = 0xcbf29ce484222325ULL;
    struct xmlin *r = xmlin_create(&limits, &handler, t);
    struct err e;
    err_init(&e);
    int rc = 0;
    if (salt == 0) {
        rc = size ? xmlin_feed(r, (const char *)data, size, &e) : 0;
    } else {
        struct fuzz_chunks c;
        fuzz_chunks_init(&c, data, size, salt);
        size_t off = 0;
        for (size_t n = fuzz_chunks_next(&c); n && rc == 0; n = fuzz_chunks_next(&c)) {
            rc = xmlin_feed(r, (const char *)data + off, n, &e);
            off += n;
        }
    }
    if (rc == 0) {
        rc = xmlin_finish(r, &e);
    } else {
        /* sticky: a later feed fails with the same condition */
        struct err again;
        err_init(&again);
        if (xmlin_feed(r, "<a/>", 4, &again) != -1 || again.cond != e.cond) {
            abort();
        }
    }
    if (rc != 0 && !e.cond) {
        abort(); /* a refusal names its condition */
    }
    if (rc == 0 && (!t->rooted || !t->closed || t->depth != 0)) {
        abort(); /* accepted without one whole root */
    }
    if (e.cond == &err_cond_internal) {
        abort(); /* client bytes are never an internal error */
    }
    xmlin_destroy(&r);
    if (r) {
        abort();
    }
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct trace whole;
    struct trace cut;
    int rw = read_doc(data, size, 0, &whole);
    int rc = read_doc(data, size, 1, &cut);
    if (rw != rc || (rw == 0 && whole.hash != cut.hash)) {
        abort(); /* the pieces a body arrives in changed what was read */
    }
    return 0;
}
