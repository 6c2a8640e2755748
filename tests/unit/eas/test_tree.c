/* tests/unit/eas/test_tree.c: the element tree over the WBXML decoder (eas/tree.c). Builds
 * trees from bodies written with the encoder, walks them with the accessors, and pins the
 * DROP verdict: a Sync carrying many client Adds is processed one Add at a time, and the
 * tree's arena stays at the same high water however many Adds are dropped (brief
 * activesync.md §5: memory O(one item)). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "eas/tree.h"
#include "eas/wbxml.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/compiler.h"

enum {
    BODY_LIMIT = 16 << 20,
    FEED_CHUNK = 1000, /* bytes per feed, so items straddle chunks */
};

/* A Sync request with `adds` client Adds in one calendar collection (§3.3.1 request shape). */
static void write_sync(struct buf *out, unsigned adds)
{
    struct eas_wbxml_enc e;
    int rc = eas_enc_begin(&e, out);
    rc |= eas_enc_start(&e, EAS_AS_SYNC);
    rc |= eas_enc_start(&e, EAS_AS_COLLECTIONS);
    rc |= eas_enc_start(&e, EAS_AS_COLLECTION);
    rc |= eas_enc_cstr(&e, EAS_AS_SYNCKEY, "7");
    rc |= eas_enc_cstr(&e, EAS_AS_COLLECTIONID, "cal1");
    rc |= eas_enc_empty(&e, EAS_AS_GETCHANGES);
    rc |= eas_enc_uint(&e, EAS_AS_WINDOWSIZE, 100);
    rc |= eas_enc_start(&e, EAS_AS_COMMANDS);
    for (unsigned i = 0; i < adds; i++) {
        char id[32], subject[64];
        snprintf(id, sizeof(id), "c%u", i);
        snprintf(subject, sizeof(subject), "meeting number %u of the series", i);
        rc |= eas_enc_start(&e, EAS_AS_ADD);
        rc |= eas_enc_cstr(&e, EAS_AS_CLIENTID, id);
        rc |= eas_enc_start(&e, EAS_AS_APPLICATIONDATA);
        rc |= eas_enc_cstr(&e, EAS_CAL_SUBJECT, subject);
        rc |= eas_enc_cstr(&e, EAS_CAL_STARTTIME, "20261202T100000Z");
        rc |= eas_enc_cstr(&e, EAS_CAL_ENDTIME, "20261202T110000Z");
        rc |= eas_enc_start(&e, EAS_ASB_BODY);
        rc |= eas_enc_uint(&e, EAS_ASB_TYPE, 1);
        rc |= eas_enc_cstr(&e, EAS_ASB_DATA, "agenda: nothing much");
        rc |= eas_enc_end(&e);
        rc |= eas_enc_end(&e);
        rc |= eas_enc_end(&e);
    }
    rc |= eas_enc_end(&e);
    rc |= eas_enc_end(&e);
    rc |= eas_enc_end(&e);
    rc |= eas_enc_end(&e);
    rc |= eas_enc_finish(&e);
    assert_int_equal(rc, 0);
}

/* Decodes body into t, in FEED_CHUNK pieces. Returns the decoder's result. */
static int decode_into(struct arena *a, struct eas_tree *t, const struct buf *body, struct err *e)
{
    struct eas_wbxml_limits lim;
    eas_wbxml_limits_default(&lim);
    struct eas_wbxml_dec *d = eas_wbxml_dec_new(a, &lim, eas_tree_handler(), t);
    for (size_t off = 0; off < body->len; off += FEED_CHUNK) {
        size_t take = body->len - off < FEED_CHUNK ? body->len - off : FEED_CHUNK;
        if (eas_wbxml_feed(d, body->data + off, take, e) != 0) {
            return -1;
        }
    }
    return eas_wbxml_finish(d, e);
}

static void test_tree_keeps_everything_without_a_callback(void **state)
{
    (void)state;
    struct buf body;
    buf_init(&body, BODY_LIMIT);
    write_sync(&body, 3);
    struct arena *a = arena_create();
    struct eas_tree *t = eas_tree_new(a, NULL, NULL);
    assert_null(eas_tree_root(t));
    struct err e;
    err_init(&e);
    assert_int_equal(decode_into(a, t, &body, &e), 0);

    const struct eas_node *root = eas_tree_root(t);
    assert_non_null(root);
    assert_int_equal(root->tag, EAS_AS_SYNC);
    assert_null(root->parent);
    const struct eas_node *coll =
        eas_node_child(eas_node_child(root, EAS_AS_COLLECTIONS), EAS_AS_COLLECTION);
    assert_non_null(coll);
    assert_string_equal(eas_node_text(eas_node_child(coll, EAS_AS_SYNCKEY), NULL), "7");
    assert_string_equal(eas_node_text(eas_node_child(coll, EAS_AS_COLLECTIONID), ""), "cal1");
    const struct eas_node *gc = eas_node_child(coll, EAS_AS_GETCHANGES);
    assert_non_null(gc);
    assert_null(gc->text);
    assert_string_equal(eas_node_text(gc, "dflt"), "dflt");
    assert_null(eas_node_child(coll, EAS_AS_DELETESASMOVES));
    uint64_t ws = 0;
    assert_int_equal(eas_node_uint(eas_node_child(coll, EAS_AS_WINDOWSIZE), 512, &ws), 0);
    assert_int_equal(ws, 100);

    /* The Adds in order, through eas_node_next. */
    const struct eas_node *cmds = eas_node_child(coll, EAS_AS_COMMANDS);
    unsigned i = 0;
    for (const struct eas_node *add = eas_node_child(cmds, EAS_AS_ADD); add;
         add = eas_node_next(add, EAS_AS_ADD), i++) {
        char want[32];
        snprintf(want, sizeof(want), "c%u", i);
        assert_ptr_equal(add->parent, cmds);
        assert_string_equal(eas_node_text(eas_node_child(add, EAS_AS_CLIENTID), NULL), want);
        const struct eas_node *data = eas_node_child(add, EAS_AS_APPLICATIONDATA);
        const struct eas_node *body_node = eas_node_child(data, EAS_ASB_BODY);
        assert_string_equal(eas_node_text(eas_node_child(body_node, EAS_ASB_DATA), NULL),
                            "agenda: nothing much");
        assert_int_equal(eas_node_child(data, EAS_CAL_SUBJECT)->len,
                         strlen(eas_node_text(eas_node_child(data, EAS_CAL_SUBJECT), "")));
        /* AirSyncBase Type, not Calendar or FolderHierarchy Type (page matters). */
        assert_null(eas_node_child(body_node, EAS_FH_TYPE));
        assert_non_null(eas_node_child(body_node, EAS_ASB_TYPE));
    }
    assert_int_equal(i, 3);
    assert_ptr_equal(cmds->last, eas_node_next(eas_node_next(cmds->child, EAS_AS_ADD), EAS_AS_ADD));
    assert_null(eas_node_child(NULL, EAS_AS_ADD));
    assert_null(eas_node_next(NULL, EAS_AS_ADD));
    assert_string_equal(eas_node_text(NULL, "x"), "x");
    arena_destroy(&a);
    buf_deinit(&body);
}

/* Decodes HDR + bytes with no callback and returns the root (the arena stays with a). */
static const struct eas_node *tree_of(struct arena *a, const char *bytes, size_t n)
{
    struct eas_tree *t = eas_tree_new(a, NULL, NULL);
    struct eas_wbxml_dec *d = eas_wbxml_dec_new(a, NULL, eas_tree_handler(), t);
    struct err e;
    err_init(&e);
    assert_int_equal(eas_wbxml_feed(d, bytes, n, &e), 0);
    assert_int_equal(eas_wbxml_finish(d, &e), 0);
    return eas_tree_root(t);
}

#define TREE_OF(a, lit) tree_of((a), (lit), sizeof(lit) - 1)

static void test_tree_uint_is_strict_decimal_within_max(void **state)
{
    (void)state;

    static const struct {
        const char *text;
        uint64_t max;
        int rc;
        uint64_t v;
    } cases[] = {
        {"0", 10, 0, 0},
        {"480", 3540, 0, 480},
        {"3540", 3540, 0, 3540},
        {"3541", 3540, -1, 0},
        {"18446744073709551615", UINT64_MAX, 0, UINT64_MAX},
        {"18446744073709551616", UINT64_MAX, -1, 0},
        {"+1", 10, -1, 0},
        {"-1", 10, -1, 0},
        {" 1", 10, -1, 0},
        {"1 ", 10, -1, 0},
        {"0x1", 10, -1, 0},
        {"1a", 10, -1, 0},
    };
    struct arena *a = arena_create();
    struct eas_wbxml_enc enc;
    struct buf body;
    buf_init(&body, 4096);
    for (size_t i = 0; i < ALM_ARRAY_LEN(cases); i++) {
        buf_reset(&body);
        assert_int_equal(eas_enc_begin(&enc, &body), 0);
        assert_int_equal(eas_enc_cstr(&enc, EAS_PING_HEARTBEATINTERVAL, cases[i].text), 0);
        const struct eas_node *n = tree_of(a, body.data, body.len);
        uint64_t v = 99;
        assert_int_equal(eas_node_uint(n, cases[i].max, &v), cases[i].rc);
        assert_int_equal(v, cases[i].rc == 0 ? cases[i].v : 99);
    }
    uint64_t v = 99;
    assert_int_equal(eas_node_uint(NULL, 10, &v), -1);
    /* An element without text is no number; an OPAQUE one that reads as digits is. */
    assert_int_equal(eas_node_uint(TREE_OF(a, "\x03\x01\x6a\x00\x00\x0d\x08"), 10, &v), -1);
    const struct eas_node *op = TREE_OF(a, "\x03\x01\x6a\x00\x00\x0d\x48\xc3\x01"
                                           "7\x01");
    assert_true(op->opaque);
    assert_int_equal(eas_node_uint(op, 10, &v), 0);
    assert_int_equal(v, 7);
    /* OPAQUE text with a NUL keeps its length and is no number. */
    const struct eas_node *nul = TREE_OF(a, "\x03\x01\x6a\x00\x00\x0d\x48\xc3\x02"
                                            "7\x00\x01");
    assert_int_equal(nul->len, 2);
    assert_int_equal(eas_node_uint(nul, 10, &v), -1);
    buf_deinit(&body);
    arena_destroy(&a);
}

/* What the DROP callback saw. */
struct dropper {
    struct eas_tree *tree;
    unsigned adds;     /* Adds processed (and dropped) */
    size_t hw_at_100;  /* tree arena high water when the 100th Add closed */
    bool keep_all;     /* KEEP instead of DROP (the control) */
    unsigned abort_at; /* return -1 at this Add (1-based), or 0 */
    bool ids_in_order; /* every Add's ClientId was c<index> */
};

/* Depth: Sync 1, Collections 2, Collection 3, Commands 4, Add 5 (§3.3.1). */
static int drop_adds(void *ctx, const struct eas_node *n, unsigned depth, struct err *err)
{
    struct dropper *dr = ctx;
    if (n->tag != EAS_AS_ADD) {
        return EAS_TREE_KEEP;
    }
    if (depth != 5 || n->parent->tag != EAS_AS_COMMANDS) {
        return err_set(err, &err_cond_internal, "Add at depth %u", depth);
    }
    char want[32];
    snprintf(want, sizeof(want), "c%u", dr->adds);
    const char *id = eas_node_text(eas_node_child(n, EAS_AS_CLIENTID), "");
    const struct eas_node *data = eas_node_child(n, EAS_AS_APPLICATIONDATA);
    if (strcmp(id, want) != 0 || !eas_node_child(data, EAS_CAL_SUBJECT)) {
        dr->ids_in_order = false;
    }
    /* Earlier siblings were dropped: the Add is not yet linked, and Commands is empty. */
    if (!dr->keep_all && n->parent->child != NULL) {
        dr->ids_in_order = false;
    }
    if (++dr->adds == 100) {
        dr->hw_at_100 = eas_tree_high_water(dr->tree);
    }
    if (dr->abort_at == dr->adds) {
        return err_set(err, &eas_cond_bad_wbxml, "stop at %u", dr->adds);
    }
    return dr->keep_all ? EAS_TREE_KEEP : EAS_TREE_DROP;
}

/* Decodes a Sync of `adds` Adds through drop_adds; returns the high water at the end. */
static size_t run_drops(unsigned adds, struct dropper *dr)
{
    struct buf body;
    buf_init(&body, BODY_LIMIT);
    write_sync(&body, adds);
    struct arena *a = arena_create();
    dr->tree = eas_tree_new(a, drop_adds, dr);
    dr->ids_in_order = true;
    struct err e;
    err_init(&e);
    int rc = decode_into(a, dr->tree, &body, &e);
    if (rc != 0) {
        fail_msg("decode: %s", e.msg);
    }
    const struct eas_node *root = eas_tree_root(dr->tree);
    assert_non_null(root);
    const struct eas_node *coll =
        eas_node_child(eas_node_child(root, EAS_AS_COLLECTIONS), EAS_AS_COLLECTION);
    const struct eas_node *cmds = eas_node_child(coll, EAS_AS_COMMANDS);
    assert_non_null(cmds);
    /* The rest of the request survives the drops. */
    assert_string_equal(eas_node_text(eas_node_child(coll, EAS_AS_SYNCKEY), NULL), "7");
    unsigned kept = 0;
    for (const struct eas_node *c = cmds->child; c; c = c->next) {
        kept++;
    }
    assert_int_equal(kept, dr->keep_all ? adds : 0);
    size_t hw = eas_tree_high_water(dr->tree);
    arena_destroy(&a);
    buf_deinit(&body);
    return hw;
}

static void test_tree_drop_processes_500_adds_one_at_a_time(void **state)
{
    (void)state;
    struct dropper dr = {.keep_all = false};
    run_drops(500, &dr);
    assert_int_equal(dr.adds, 500);
    assert_true(dr.ids_in_order);
}

static void test_tree_drop_keeps_the_high_water_flat_over_10000_items(void **state)
{
    (void)state;
    struct dropper dr = {.keep_all = false};
    size_t hw = run_drops(10000, &dr);
    assert_int_equal(dr.adds, 10000);
    assert_true(dr.ids_in_order);
    /* Flat: the peak after 10,000 drops is the peak after 100, one arena chunk. */
    assert_int_equal(hw, dr.hw_at_100);
    assert_true(hw <= 16384);

    /* The control: keeping every Add grows with the items, so the bound above can fail. */
    struct dropper keep = {.keep_all = true};
    size_t hw_keep = run_drops(10000, &keep);
    assert_true(keep.ids_in_order);
    assert_true(hw_keep > 100 * hw);
}

static void test_tree_close_callback_failure_aborts_the_decode(void **state)
{
    (void)state;
    struct buf body;
    buf_init(&body, BODY_LIMIT);
    write_sync(&body, 10);
    struct arena *a = arena_create();
    struct dropper dr = {.abort_at = 4};
    dr.tree = eas_tree_new(a, drop_adds, &dr);
    struct err e;
    err_init(&e);
    assert_int_equal(decode_into(a, dr.tree, &body, &e), -1);
    assert_ptr_equal(e.cond, &eas_cond_bad_wbxml);
    assert_string_equal(e.msg, "stop at 4");
    assert_int_equal(dr.adds, 4);
    assert_null(eas_tree_root(dr.tree));
    arena_destroy(&a);
    buf_deinit(&body);
}

static int drop_root(void *ctx, const struct eas_node *n, unsigned depth, struct err *err)
{
    (void)ctx;
    (void)n;
    (void)err;
    return depth == 1 ? EAS_TREE_DROP : EAS_TREE_KEEP;
}

static int bad_verdict(void *ctx, const struct eas_node *n, unsigned depth, struct err *err)
{
    (void)ctx;
    (void)n;
    (void)depth;
    (void)err;
    return 7;
}

static void test_tree_dropped_root_leaves_no_root(void **state)
{
    (void)state;
    static const char doc[] = "\x03\x01\x6a\x00\x45\x4b\x03"
                              "1\x00\x01\x01";
    struct arena *a = arena_create();
    struct eas_tree *t = eas_tree_new(a, drop_root, NULL);
    struct eas_wbxml_dec *d = eas_wbxml_dec_new(a, NULL, eas_tree_handler(), t);
    struct err e;
    err_init(&e);
    assert_int_equal(eas_wbxml_feed(d, doc, sizeof(doc) - 1, &e), 0);
    assert_int_equal(eas_wbxml_finish(d, &e), 0);
    assert_null(eas_tree_root(t));

    /* A verdict other than KEEP, DROP or -1 is a bug: an internal error, not a guess. */
    t = eas_tree_new(a, bad_verdict, NULL);
    d = eas_wbxml_dec_new(a, NULL, eas_tree_handler(), t);
    err_init(&e);
    assert_int_equal(eas_wbxml_feed(d, doc, sizeof(doc) - 1, &e), -1);
    assert_ptr_equal(e.cond, &err_cond_internal);
    arena_destroy(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tree_keeps_everything_without_a_callback),
        cmocka_unit_test(test_tree_uint_is_strict_decimal_within_max),
        cmocka_unit_test(test_tree_drop_processes_500_adds_one_at_a_time),
        cmocka_unit_test(test_tree_drop_keeps_the_high_water_flat_over_10000_items),
        cmocka_unit_test(test_tree_close_callback_failure_aborts_the_decode),
        cmocka_unit_test(test_tree_dropped_root_leaves_no_root),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
