/* calstore/export.c: see export.h. Never writes; reads only inside the caller's read
 * transaction; O(one object + the zones seen) of memory whatever the calendar's size. */
#include "calstore/export.h"

#include <stdbool.h>
#include <string.h>

#include "cal/ics.h"
#include "util/log.h"

struct calstore_export {
    struct arena *arena;
    struct store *store; /* in the caller's read transaction */
    struct store_coll coll;
    const char *href; /* for the log */
    struct store_cursor *cur;
    struct cal_join *join;
    bool head_sent, done;
    struct buf pending; /* calstore_export_read's: bytes made and not yet handed out */
    size_t off;
    size_t objects; /* joined so far */
};

static void export_close(void *p)
{
    struct calstore_export *x = p;
    store_cursor_close(&x->cur);
    cal_join_free(&x->join);
    buf_deinit(&x->pending);
}

struct calstore_export *calstore_export_open(struct store *s,
                                             const struct store_coll *coll,
                                             const char *href,
                                             size_t max_pending,
                                             struct arena *arena)
{
    struct calstore_export *x = arena_zalloc(arena, sizeof(*x));
    x->arena = arena;
    x->store = s;
    x->coll = *coll;
    x->href = href;
    if (store_items_open(s, coll->id, STORE_ORDER_NAME, &x->cur) != STORE_OK) {
        return NULL;
    }
    x->join = cal_join_new(CALSTORE_EXPORT_ZONE_BYTES);
    buf_init(&x->pending, max_pending);
    arena_defer(arena, export_close, x);
    return x;
}

int calstore_export_next(void *ctx, struct buf *out)
{
    struct calstore_export *x = ctx;
    if (x->done) {
        return 0;
    }
    if (!x->head_sent) {
        x->head_sent = true;
        return cal_join_head(x->join, x->coll.name, out) == 0 ? 1 : -1;
    }
    for (;;) {
        struct store_item it;
        enum store_rc rc = store_cursor_next_item(x->cur, &it);
        if (rc == STORE_NOTFOUND) {
            x->done = true;
            return cal_join_tail(x->join, out) == 0 ? 1 : -1;
        }
        if (rc != STORE_OK) {
            log_warn("export of %s: the cursor failed (%d); response abandoned", x->href, rc);
            return -1;
        }
        struct arena_mark m = arena_mark(x->arena);
        struct store_item full;
        rc = store_item_get(x->store, x->coll.id, it.name, STORE_ITEM_CONTENT, x->arena, &full);
        int w = -1;
        if (rc == STORE_OK) {
            w = cal_join_object(x->join, (struct slice){full.content, full.size}, out);
        } else {
            /* one snapshot: the row the cursor gave is there unless the store failed */
            log_warn("export of %s: item %s unreadable (%d); response abandoned", x->href, it.name,
                     rc);
        }
        arena_rewind(x->arena, m);
        if (w != 0) {
            return -1;
        }
        x->objects++;
        if (out->len > 0) {
            return 1;
        }
    }
}

size_t calstore_export_objects(const struct calstore_export *x)
{
    return x->objects;
}

ssize_t calstore_export_read(void *ctx, char *dst, size_t max)
{
    struct calstore_export *x = ctx;
    size_t written = 0;
    while (written < max) {
        if (x->off == x->pending.len) {
            buf_reset(&x->pending);
            x->off = 0;
            int rc = calstore_export_next(x, &x->pending);
            if (rc < 0) {
                return -1;
            }
            if (rc == 0) {
                break;
            }
            continue;
        }
        size_t n = x->pending.len - x->off;
        if (n > max - written) {
            n = max - written;
        }
        memcpy(dst + written, x->pending.data + x->off, n);
        x->off += n;
        written += n;
    }
    return (ssize_t)written;
}
