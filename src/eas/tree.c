/* eas/tree.c: the element tree over the WBXML decoder (see tree.h). Each node records the
 * arena position from just before its allocation; everything allocated for its subtree and
 * text comes after, so a DROP at close time rewinds the tree's arena to that mark. A node is
 * linked under its parent only when it closes with KEEP, so a dropped node never needs
 * unlinking. */
#include "eas/tree.h"

#include <assert.h>

#include "util/parse.h"
#include "util/slice.h"

/* A node and where the arena stood before it. */
struct tree_node {
    struct eas_node pub;
    struct arena_mark mark;
};

struct eas_tree {
    struct arena *arena; /* own; destroyed with the owner arena */
    eas_tree_close_fn *on_close;
    void *ctx;
    struct tree_node *open; /* innermost open element, or NULL */
    unsigned depth;         /* open elements, root = 1 */
    const struct eas_node *root;
};

static void tree_arena_free(void *p)
{
    struct arena **a = p;
    arena_destroy(a);
}

struct eas_tree *eas_tree_new(struct arena *owner, eas_tree_close_fn *on_close, void *ctx)
{
    struct eas_tree *t = arena_zalloc(owner, sizeof(*t));
    t->arena = arena_create();
    t->on_close = on_close;
    t->ctx = ctx;
    arena_defer(owner, tree_arena_free, &t->arena);
    return t;
}

static int tree_start(void *ctx, unsigned tag, bool has_content, struct err *err)
{
    struct eas_tree *t = ctx;
    (void)has_content;
    (void)err;
    struct arena_mark m = arena_mark(t->arena);
    struct tree_node *n = arena_zalloc(t->arena, sizeof(*n));
    n->mark = m;
    n->pub.tag = tag;
    n->pub.parent = t->open ? &t->open->pub : NULL;
    t->open = n;
    t->depth++;
    return 0;
}

static int tree_text(void *ctx, unsigned tag, const char *p, size_t n, bool opaque, struct err *err)
{
    struct eas_tree *t = ctx;
    (void)tag;
    (void)err;
    assert(t->open && t->open->pub.tag == tag);
    t->open->pub.text = arena_strndup(t->arena, p, n);
    t->open->pub.len = n;
    t->open->pub.opaque = opaque;
    return 0;
}

static int tree_end(void *ctx, unsigned tag, struct err *err)
{
    struct eas_tree *t = ctx;
    struct tree_node *n = t->open;
    assert(n && n->pub.tag == tag);
    (void)tag;
    unsigned depth = t->depth--;
    struct eas_node *parent = n->pub.parent;
    t->open = parent ? (struct tree_node *)parent : NULL;
    int verdict = t->on_close ? t->on_close(t->ctx, &n->pub, depth, err) : EAS_TREE_KEEP;
    if (verdict == EAS_TREE_DROP) {
        arena_rewind(t->arena, n->mark);
        return 0;
    }
    if (verdict != EAS_TREE_KEEP) {
        if (!err->cond) {
            err_set(err, &err_cond_internal, "eas tree close callback returned %d", verdict);
        }
        return -1;
    }
    if (!parent) {
        t->root = &n->pub;
    } else if (parent->last) {
        parent->last->next = &n->pub;
        parent->last = &n->pub;
    } else {
        parent->child = parent->last = &n->pub;
    }
    return 0;
}

static const struct eas_wbxml_handler tree_handler = {tree_start, tree_text, tree_end};

const struct eas_wbxml_handler *eas_tree_handler(void)
{
    return &tree_handler;
}

const struct eas_node *eas_tree_root(const struct eas_tree *t)
{
    return t->root;
}

size_t eas_tree_high_water(const struct eas_tree *t)
{
    return arena_high_water(t->arena);
}

const struct eas_node *eas_node_child(const struct eas_node *n, unsigned tag)
{
    if (!n) {
        return NULL;
    }
    for (const struct eas_node *c = n->child; c; c = c->next) {
        if (c->tag == tag) {
            return c;
        }
    }
    return NULL;
}

const struct eas_node *eas_node_next(const struct eas_node *n, unsigned tag)
{
    if (!n) {
        return NULL;
    }
    for (const struct eas_node *c = n->next; c; c = c->next) {
        if (c->tag == tag) {
            return c;
        }
    }
    return NULL;
}

const char *eas_node_text(const struct eas_node *n, const char *dflt)
{
    return n && n->text ? n->text : dflt;
}

int eas_node_uint(const struct eas_node *n, uint64_t max, uint64_t *out)
{
    uint64_t v;
    if (!n || !n->text || parse_u64((struct slice){n->text, n->len}, &v) != 0 || v > max) {
        return -1;
    }
    *out = v;
    return 0;
}
