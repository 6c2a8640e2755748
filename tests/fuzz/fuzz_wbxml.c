/* tests/fuzz/fuzz_wbxml.c: ActiveSync request bodies through the WBXML decoder
 * (eas/wbxml.c, MS-ASWBXML) and the element tree the commands read (eas/tree.c). Each input
 * is one body, decoded four ways: whole and in pieces (chunks.h) with a handler that checks
 * and hashes the events, then in pieces into a tree that keeps everything and into one that
 * drops some closed subtrees, as a Sync drops each processed Add. The decoder's promise is
 * checked: any cutting gives the same events, the same verdict and the same condition
 * (eas_cond_bad_wbxml or eas_cond_wbxml_limit); ends match starts; depth, element count and
 * text stay within the limits; text comes once per element, never empty, never mixed with
 * children, without NUL unless opaque. An accepted body has its root in the tree, and the
 * tree written back with the encoder decodes to the same events. The readable dump
 * (eas_wbxml_to_xml) must not fail on a body the decoder accepts. Violations abort().
 * Seeds are in tests/fuzz/corpus/wbxml/. */
#include <stdlib.h>
#include <string.h>

#include "chunks.h"
#include "eas/tree.h"
#include "eas/wbxml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Small limits, so that inputs of a few KiB reach every one of them. */
enum {
    MAX_DEPTH = 12,
    MAX_TEXT = 2048,
    MAX_OPAQUE = 4096,
    MAX_ELEMENTS = 500,
};

static const struct eas_wbxml_limits limits = {
    .max_depth = MAX_DEPTH,
    .max_text = MAX_TEXT,
    .max_opaque = MAX_OPAQUE,
    .max_elements = MAX_ELEMENTS,
};

struct trace {
    uint64_t hash;
    unsigned depth;
    unsigned open[MAX_DEPTH + 1];
    bool had_text[MAX_DEPTH + 1];  /* the open element's text has come */
    bool had_child[MAX_DEPTH + 1]; /* the open element has a child */
    bool closed;                   /* the root has closed */
};

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    const unsigned char *u = p;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ u[i]) * 0x100000001b3ULL;
    }
    return (h ^ 0x1ff) * 0x100000001b3ULL;
}

static int on_start(void *ctx, unsigned tag, bool has_content, struct err *err)
{
    (void)err;
    (void)has_content; /* <A/> and <A></A> are the same element to the commands */
    struct trace *t = ctx;
    if (t->closed || t->depth >= MAX_DEPTH || !eas_tag_name(tag)) {
        abort(); /* a second root, too deep, or a tag that should have been skipped */
    }
    if (t->depth > 0) {
        if (t->had_text[t->depth - 1]) {
            abort(); /* text mixed with children */
        }
        t->had_child[t->depth - 1] = true;
    }
    t->open[t->depth] = tag;
    t->had_text[t->depth] = false;
    t->had_child[t->depth] = false;
    t->depth++;
    t->hash = mix(t->hash, "<", 1);
    t->hash = mix(t->hash, &tag, sizeof(tag));
    return 0;
}

static int on_text(void *ctx, unsigned tag, const char *p, size_t n, bool opaque, struct err *err)
{
    (void)err;
    struct trace *t = ctx;
    if (t->depth == 0 || t->open[t->depth - 1] != tag || n == 0 || t->had_text[t->depth - 1] ||
        t->had_child[t->depth - 1] || p[n] != '\0' || (!opaque && memchr(p, 0, n)) ||
        n > (opaque ? MAX_OPAQUE : MAX_TEXT)) {
        abort();
    }
    t->had_text[t->depth - 1] = true;
    t->hash = mix(t->hash, opaque ? "o" : "s", 1);
    t->hash = mix(t->hash, p, n);
    return 0;
}

static int on_end(void *ctx, unsigned tag, struct err *err)
{
    (void)err;
    struct trace *t = ctx;
    if (t->depth == 0 || t->open[t->depth - 1] != tag) {
        abort(); /* an end without its start */
    }
    t->depth--;
    t->closed = t->depth == 0;
    t->hash = mix(t->hash, ">", 1);
    return 0;
}

static const struct eas_wbxml_handler tracing = {on_start, on_text, on_end};

/* Feeds the input to `d` whole (salt 0) or in pieces and finishes. */
static int
decode(struct eas_wbxml_dec *d, const uint8_t *data, size_t size, uint64_t salt, struct err *e)
{
    err_init(e);
    int rc = 0;
    if (salt == 0) {
        rc = size ? eas_wbxml_feed(d, data, size, e) : 0;
    } else {
        struct fuzz_chunks c;
        fuzz_chunks_init(&c, data, size, salt);
        size_t off = 0;
        for (size_t n = fuzz_chunks_next(&c); n && rc == 0; n = fuzz_chunks_next(&c)) {
            rc = eas_wbxml_feed(d, data + off, n, e);
            off += n;
        }
    }
    if (rc == 0) {
        rc = eas_wbxml_finish(d, e);
    }
    if (rc != 0 &&
        (rc != -1 || (e->cond != &eas_cond_bad_wbxml && e->cond != &eas_cond_wbxml_limit))) {
        abort();
    }
    return rc;
}

static int trace_decode(
    const uint8_t *data, size_t size, uint64_t salt, struct trace *t, const struct err_cond **cond)
{
    memset(t, 0, sizeof(*t));
    t->hash = 0xcbf29ce484222325ULL;
    struct arena *a = arena_create();
    struct eas_wbxml_dec *d = eas_wbxml_dec_new(a, &limits, &tracing, t);
    struct err e;
    int rc = decode(d, data, size, salt, &e);
    *cond = e.cond;
    if (rc == 0 && (!t->closed || t->depth != 0)) {
        abort(); /* accepted without one whole root */
    }
    arena_destroy(&a);
    return rc;
}

/* Drops the closed subtrees below the root whose tag has an odd token, and says KEEP for the
 * rest: the tree must stay consistent either way. */
static int drop_some(void *ctx, const struct eas_node *n, unsigned depth, struct err *err)
{
    (void)ctx;
    (void)err;
    return depth > 1 && (n->tag & 1) ? EAS_TREE_DROP : EAS_TREE_KEEP;
}

/* Writes the subtree of `n` with the encoder. */
static int encode(struct eas_wbxml_enc *e, const struct eas_node *n)
{
    if (n->child) {
        int rc = eas_enc_start(e, n->tag);
        for (const struct eas_node *c = n->child; c && rc == 0; c = c->next) {
            if (c->parent != n) {
                abort();
            }
            rc = encode(e, c);
        }
        return rc ? rc : eas_enc_end(e);
    }
    if (!n->text) {
        return eas_enc_empty(e, n->tag);
    }
    return n->opaque ? eas_enc_opaque(e, n->tag, n->text, n->len)
                     : eas_enc_text(e, n->tag, n->text, n->len);
}

/* Decodes into a tree; when it keeps everything, checks that writing the tree back decodes
 * to `want`. */
static int tree_decode(const uint8_t *data, size_t size, bool drop, uint64_t want)
{
    struct arena *a = arena_create();
    struct eas_tree *t = eas_tree_new(a, drop ? drop_some : NULL, NULL);
    struct eas_wbxml_dec *d = eas_wbxml_dec_new(a, &limits, eas_tree_handler(), t);
    struct err e;
    int rc = decode(d, data, size, 2, &e);
    const struct eas_node *root = eas_tree_root(t);
    if (rc == 0 && !root) {
        abort(); /* the root is never dropped here */
    }
    if (rc == 0 && !drop) {
        struct buf out;
        buf_init(&out, 1 << 20);
        struct eas_wbxml_enc enc;
        if (eas_enc_begin(&enc, &out) != 0 || encode(&enc, root) != 0 ||
            eas_enc_finish(&enc) != 0) {
            abort(); /* what was decoded cannot be written */
        }
        struct trace back;
        const struct err_cond *cond;
        if (trace_decode((const uint8_t *)out.data, out.len, 0, &back, &cond) != 0 ||
            back.hash != want) {
            abort(); /* the tree lost or changed something */
        }
        buf_deinit(&out);
    }
    arena_destroy(&a);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct trace whole;
    struct trace cut;
    const struct err_cond *cw;
    const struct err_cond *cc;
    int rw = trace_decode(data, size, 0, &whole, &cw);
    int rc = trace_decode(data, size, 1, &cut, &cc);
    if (rw != rc || cw != cc || (rw == 0 && whole.hash != cut.hash)) {
        abort(); /* the pieces a body arrives in changed what was read */
    }
    if (tree_decode(data, size, false, whole.hash) != rw ||
        tree_decode(data, size, true, whole.hash) != rw) {
        abort();
    }
    struct buf xml;
    buf_init(&xml, 1 << 22);
    struct err e;
    err_init(&e);
    if (eas_wbxml_to_xml(data, size, &xml, &e) != 0 && (!e.cond || rw == 0)) {
        abort(); /* the dump's limits are the defaults, wider than these */
    }
    buf_deinit(&xml);
    return 0;
}
