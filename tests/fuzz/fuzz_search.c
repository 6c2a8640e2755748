/* tests/fuzz/fuzz_search.c: the Exchange replication SEARCH (repl/search_body.c reads the body:
 * the SQL text, the collblob and the resourcetag list; then the query is prepared and run,
 * repl/search*.c) through the /exchange route in process, over a real store (routes.h: alice's
 * calendar with three events). The first byte of an input picks the target (0: the calendar,
 * 1: alice's mailbox root, where a hierarchical traversal lists calendars, 2: bob's calendar
 * path, which alice may not read); the rest is the body. Each input runs twice, the body
 * whole and in pieces of 1 to 16 bytes (as a socket may deliver it), and must hold:
 * - never a 5xx: client bytes are a 4xx with a named condition (or 475 invalid-collblob);
 * - a 207 is a multistatus, well-formed XML (read back with xml/xmlin.h) in text/xml;
 * - whole and in pieces give the same status and condition, and a 207 the same body (an
 *   error body carries the request's id);
 * - SEARCH never writes: the store's fingerprint is unchanged.
 * Violations abort(). Seeds (the first byte '0', '1' or '2', then a body from
 * tests/unit/repl/test_search.c and tests/integration) are in tests/fuzz/corpus/search/. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chunks.h"
#include "routes.h"
#include "xml/xmlin.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t fingerprint;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_routes_open();
    fingerprint = fuzz_routes_fingerprint();
    return 0;
}

struct doc {
    unsigned depth;
    bool multistatus; /* the root is DAV:multistatus */
};

static int on_start(void *ctx,
                    struct slice ns,
                    struct slice name,
                    const struct xmlin_attr *attrs,
                    size_t nattrs,
                    struct err *err)
{
    (void)attrs;
    (void)nattrs;
    (void)err;
    struct doc *d = ctx;
    if (d->depth++ == 0) {
        d->multistatus =
            slice_eq(ns, SLICE_LIT("DAV:")) && slice_eq(name, SLICE_LIT("multistatus"));
    }
    return 0;
}

static int on_end(void *ctx, struct slice ns, struct slice name, struct err *err)
{
    (void)ns;
    (void)name;
    (void)err;
    struct doc *d = ctx;
    d->depth--;
    return 0;
}

static const struct xmlin_handler doc_handler = {on_start, on_end, NULL};

/* The answer body is one well-formed DAV:multistatus document. */
static bool is_multistatus(const struct http_test_resp *r)
{
    static const struct xmlin_limits lim = {
        .max_bytes = 64u << 20,
        .max_depth = 64,
        .max_elements = 10000000,
        .max_text = 16u << 20,
    };
    struct doc d = {0, false};
    struct xmlin *x = xmlin_create(&lim, &doc_handler, &d);
    struct err e;
    err_init(&e);
    int rc = xmlin_feed(x, r->body, r->body_len, &e);
    if (rc == 0) {
        rc = xmlin_finish(x, &e);
    }
    xmlin_destroy(&x);
    if (rc != 0) {
        fprintf(stderr, "fuzz_search: a 207 that is not XML: %s\n%s\n", e.msg, r->body);
    }
    return rc == 0 && d.multistatus;
}

static void check_answer(const struct http_test_resp *r)
{
    if (r->status >= 500 || r->stream_failed) {
        fprintf(stderr, "fuzz_search: %u %s\n%s\n", r->status, r->cond ? r->cond : "-", r->body);
        abort(); /* client bytes are never a server error, nor a cut stream */
    }
    if (r->status == 207) {
        const char *ct = http_test_resp_header(r, "Content-Type");
        if (r->cond || !ct || strncmp(ct, "text/xml", 8) != 0 || !is_multistatus(r)) {
            abort();
        }
    } else if (r->status < 400 || !r->cond) {
        fprintf(stderr, "fuzz_search: %u without a condition\n", r->status);
        abort(); /* a refusal names its condition */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    static const char *const targets[] = {
        "/exchange/alice/cal/",
        "/exchange/alice/",
        "/exchange/bob/cal/",
    };
    static const char *const headers[] = {"Content-Type", "text/xml; charset=\"utf-8\"", NULL};
    const char *target = targets[data[0] % 3];
    struct fuzz_chunks c;
    fuzz_chunks_init(&c, data, size, 1);
    size_t piece = (size_t)(fuzz_chunks_rand(&c) % 16) + 1;
    struct arena *a = arena_create();
    struct http_test_resp whole =
        fuzz_routes_run("SEARCH", target, headers, data + 1, size - 1, 0, a);
    check_answer(&whole);
    if (getenv("FUZZ_SHOW")) {
        fprintf(stderr, "fuzz_search: %s %u %s\n", target, whole.status,
                whole.cond ? whole.cond : "");
    }
    struct http_test_resp cut =
        fuzz_routes_run("SEARCH", target, headers, data + 1, size - 1, piece, a);
    check_answer(&cut);
    if (whole.status != cut.status || (whole.cond == NULL) != (cut.cond == NULL) ||
        (whole.cond && strcmp(whole.cond, cut.cond) != 0) ||
        (whole.status == 207 &&
         (whole.body_len != cut.body_len || memcmp(whole.body, cut.body, whole.body_len) != 0))) {
        fprintf(stderr, "fuzz_search: whole %u %s, in pieces of %zu %u %s\n%s\n--\n%s\n",
                whole.status, whole.cond ? whole.cond : "-", piece, cut.status,
                cut.cond ? cut.cond : "-", whole.body, cut.body);
        abort(); /* the pieces a body arrives in changed the answer */
    }
    if (fuzz_routes_fingerprint() != fingerprint) {
        abort(); /* SEARCH wrote to the store */
    }
    arena_destroy(&a);
    return 0;
}
