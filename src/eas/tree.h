/* eas/tree.h: a small element tree built from the WBXML decoder's callbacks, for the
 * command parsers. Nodes live in an arena of the tree's own, so a close callback may drop
 * a finished subtree and get its memory back at once: a Sync request carrying thousands of
 * client Adds is then processed one Add at a time in O(one item) memory. Not thread-safe:
 * one tree per request. */
#ifndef ALMANAC_EAS_TREE_H
#define ALMANAC_EAS_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eas/wbxml.h"
#include "util/arena.h"
#include "util/err.h"

/* One element. Children are in document order: child is the first, last the last, next the
 * following sibling. text is NUL-terminated (len bytes before the NUL; OPAQUE text may hold
 * NUL), or NULL when the element has none. All pointers stay valid until the node or an
 * ancestor is dropped, or the tree's owner arena is destroyed. */
struct eas_node {
    unsigned tag; /* (page << 8) | token, an enum eas_tag */
    const char *text;
    size_t len;
    bool opaque; /* some of the text came as OPAQUE */
    struct eas_node *parent, *child, *last, *next;
};

enum eas_tree_verdict {
    EAS_TREE_KEEP = 0,
    EAS_TREE_DROP = 1
};

/* Called when an element closes (depth: root = 1), after its whole subtree and its text.
 * `n` and its subtree are complete; its parent and earlier siblings are reachable through
 * n->parent. Returns KEEP (the node is linked under its parent), DROP (the node is not
 * linked and its memory, subtree included, is reclaimed: the tree's arena is rewound to
 * where the node began), or -1 with err set to abort the decode. A dropped root leaves
 * eas_tree_root() NULL. */
typedef int eas_tree_close_fn(void *ctx, const struct eas_node *n, unsigned depth, struct err *err);

struct eas_tree;

/* A tree in `owner`; its own arena is destroyed when `owner` is (arena_defer). on_close NULL
 * keeps everything; ctx is passed to on_close (borrowed). */
struct eas_tree *eas_tree_new(struct arena *owner, eas_tree_close_fn *on_close, void *ctx);

/* The decoder handler that builds the tree: pass the tree as the decoder's ctx. Static. */
const struct eas_wbxml_handler *eas_tree_handler(void);

/* The root element, or NULL until the root closed (or when it was dropped). */
const struct eas_node *eas_tree_root(const struct eas_tree *t);

/* Peak bytes of the tree's own arena (for tests and the access log). */
size_t eas_tree_high_water(const struct eas_tree *t);

/* First child of `n` with that tag, or NULL (also when n is NULL). O(children). */
const struct eas_node *eas_node_child(const struct eas_node *n, unsigned tag);

/* Next sibling after `n` with that tag, or NULL (also when n is NULL). */
const struct eas_node *eas_node_next(const struct eas_node *n, unsigned tag);

/* The node's NUL-terminated text; dflt when n is NULL or has no text. */
const char *eas_node_text(const struct eas_node *n, const char *dflt);

/* The node's text as a decimal number (digits only, no sign or space) not above max.
 * Returns 0 with *out set, or -1 when n is NULL, has no text, is not decimal or is above
 * max (*out unchanged). */
int eas_node_uint(const struct eas_node *n, uint64_t max, uint64_t *out);

#endif
