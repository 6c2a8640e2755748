/* store/store_hook.c: change notification (store.h store_change_fn), the same for every
 * engine (it keeps only the generic head of store_int.h). Records which collections the open
 * write transaction bumped, and with which modseq, and calls the connection's hook once per
 * collection after the commit succeeded; a rollback or a failed commit forgets the record.
 * Owns nothing else: the engine's bump reports bumps, its commit and rollback end the record. Never
 * calls the hook inside a transaction or under a store lock. */
#include <stdlib.h>

#include "store/store.h"
#include "store/store_int.h"

/* One collection the open transaction bumped, with its newest modseq. */
struct change {
    uint64_t coll;
    uint64_t modseq;
};

struct store_db_changes {
    struct store_change_hook own; /* store_set_change_hook()'s; s->hook points here once set */
    struct change *v;             /* distinct collections, in order of first bump */
    size_t n, cap;
};

static struct store_db_changes *changes_of(struct store *s)
{
    if (!s->changes) {
        s->changes = calloc(1, sizeof(*s->changes));
        if (!s->changes) {
            abort(); /* STYLE.md §3.3: allocation failure aborts */
        }
    }
    return s->changes;
}

void store_set_change_hook(struct store *s, store_change_fn *fn, void *ctx)
{
    struct store_db_changes *c = changes_of(s);
    c->own.fn = fn;
    c->own.ctx = ctx;
    s->hook = &c->own;
}

/* O(distinct collections bumped so far) per bump, newest first: a transaction that writes
 * many items of one collection finds it at once. */
void store_db_note_change(struct store *s, uint64_t coll, uint64_t modseq)
{
    if (!s->hook || !s->hook->fn) {
        return;
    }
    struct store_db_changes *c = changes_of(s);
    for (size_t i = c->n; i > 0; i--) {
        if (c->v[i - 1].coll == coll) {
            c->v[i - 1].modseq = modseq; /* bumps only grow, the last one is the newest */
            return;
        }
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        struct change *grown = realloc(c->v, cap * sizeof(*grown));
        if (!grown) {
            abort();
        }
        c->v = grown;
        c->cap = cap;
    }
    c->v[c->n++] = (struct change){coll, modseq};
}

void store_db_changes_end(struct store *s, bool committed)
{
    struct store_db_changes *c = s->changes;
    if (!c || c->n == 0) {
        return;
    }
    if (!committed) {
        if (!store_in_txn(s)) {
            c->n = 0; /* rolled back: nothing happened */
        }
        return;
    }
    /* The hook must not call back into the store, so the record cannot change under us. */
    const struct store_change_hook *h = s->hook;
    for (size_t i = 0; h && h->fn && i < c->n; i++) {
        h->fn(h->ctx, c->v[i].coll, c->v[i].modseq);
    }
    c->n = 0;
}

void store_db_changes_free(struct store *s)
{
    if (s->changes) {
        free(s->changes->v);
        free(s->changes);
        s->changes = NULL;
    }
}
