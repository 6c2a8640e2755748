/* dav/items.c: every item write of the WebDAV core (PUT, DELETE, COPY, MOVE). An item of a
 * calendar collection is written by the extension that owns calendars (struct dav_ext
 * cal_put, cal_delete, cal_transfer), which goes through src/calstore, the one calendar write
 * path; the items of plain collections are written by the store here. This file and
 * src/calstore are the only places that call the store's item writes
 * (tests/lint/test_checksrc.sh checks it), so no calendar write of the core bypasses calstore.
 * Conditions: dav_cond_forbidden (403: a calendar write with no extension for calendars). */
#include "dav/dav_int.h"
#include "dav/ext.h"

/* The extension that writes calendars' items, or NULL. */
static const struct dav_ext *cal_writer(const struct dav_req *dr)
{
    for (size_t e = 0; e < dr->core->app->next; e++) {
        const struct dav_ext *ext = dr->core->app->ext[e];
        if (ext->cal_put && ext->cal_delete && ext->cal_transfer) {
            return ext;
        }
    }
    return NULL;
}

static int no_cal_writer(struct err *err)
{
    return err_set(err, &dav_cond_forbidden, "calendars cannot be written here");
}

int dav_item_put(struct dav_req *dr,
                 const struct dav_res *target,
                 const struct store_item_in *in,
                 struct store_item *out,
                 bool *created,
                 struct err *err)
{
    if (target->coll.kind == STORE_COLL_CALENDAR) {
        const struct dav_ext *ext = cal_writer(dr);
        return ext ? ext->cal_put(dr, target, in, out, created, err) : no_cal_writer(err);
    }
    return dav_store_err(
        dr, store_item_put(dr->store, target->coll.id, target->name, in, dr->arena, out, created),
        err);
}

int dav_item_delete(struct dav_req *dr,
                    const struct store_coll *coll,
                    const char *name,
                    struct err *err)
{
    if (coll->kind == STORE_COLL_CALENDAR) {
        const struct dav_ext *ext = cal_writer(dr);
        return ext ? ext->cal_delete(dr, coll, name, err) : no_cal_writer(err);
    }
    return dav_store_err(dr, store_item_delete(dr->store, coll->id, name), err);
}

int dav_coll_delete(struct dav_req *dr, const struct store_coll *coll, struct err *err)
{
    const struct dav_ext *ext = cal_writer(dr);
    if (coll->kind == STORE_COLL_CALENDAR && ext && ext->cal_coll_delete) {
        return ext->cal_coll_delete(dr, coll, err);
    }
    return dav_store_err(dr, store_coll_delete(dr->store, coll->id), err);
}

/* A plain COPY: content, type, whatever index it had, and its dead properties. */
static enum store_rc plain_copy(struct dav_req *dr,
                                const struct store_coll *from,
                                const char *name,
                                const struct store_coll *to,
                                const char *to_name)
{
    struct arena_mark m = arena_mark(dr->arena);
    struct store_item src;
    struct store_item out;
    enum store_rc rc = store_item_get(dr->store, from->id, name,
                                      STORE_ITEM_CONTENT | STORE_ITEM_INSTANCES, dr->arena, &src);
    if (rc == STORE_OK) {
        struct store_item_in in = {
            .content = src.content,
            .size = src.size,
            .content_type = src.content_type,
            .cal = src.cal,
        };
        rc = store_item_put(dr->store, to->id, to_name, &in, dr->arena, &out, NULL);
    }
    if (rc == STORE_OK) {
        rc = store_prop_copy(dr->store, STORE_RES_ITEM, src.id, STORE_RES_ITEM, out.id);
    }
    arena_rewind(dr->arena, m);
    return rc;
}

int dav_item_transfer(struct dav_req *dr,
                      bool move,
                      const struct store_coll *from,
                      const char *name,
                      const struct store_coll *to,
                      const char *to_name,
                      const char *to_href,
                      struct err *err)
{
    /* a copy out of a calendar leaves it as it was; a move changes it */
    if (to->kind == STORE_COLL_CALENDAR || (move && from->kind == STORE_COLL_CALENDAR)) {
        const struct dav_ext *ext = cal_writer(dr);
        return ext ? ext->cal_transfer(dr, move, from, name, to, to_name, to_href, err)
                   : no_cal_writer(err);
    }
    enum store_rc rc = move ? store_item_move(dr->store, from->id, name, to->id, to_name)
                            : plain_copy(dr, from, name, to, to_name);
    return dav_store_err(dr, rc, err);
}
