/* calstore/calstore.c: the one calendar write path (calstore.h). */
#include "calstore/calstore.h"

#include <stdatomic.h>
#include <string.h>

#include "cal/cal.h"
#include "calstore/deliver.h"

#define ERR_COND(sym, name, ns, http, eas) ERR_COND_DEFINE(sym, name, ns, http, eas)
#include "calstore/conds.def"
#undef ERR_COND

enum {
    ALL_COMPONENTS = CAL_COMP_VEVENT | CAL_COMP_VTODO | CAL_COMP_VJOURNAL
};

/* The component types collection `c` takes. */
static unsigned coll_allowed(const struct store_coll *c)
{
    return c->comps ? c->comps : ALL_COMPONENTS;
}

/* Instance boxes per series. Each is an R*Tree insert on every write of the series (about
 * 10-15 us on the bench machine, so 16 add about 0.2 ms to a PUT; 52 weekly instances one
 * box each cost 0.7 ms more, BENCHMARKS.md "Time ranges in O(matches)"); past 16 instances,
 * neighbours share a box across the narrowest gaps, and a range in such a gap reads the
 * series and lets its instance index decide. */
enum {
    CALSTORE_BOXES_MAX = 16
};

_Static_assert((int)CALSTORE_BOXES_MAX <= (int)STORE_ITEM_BOXES_MAX, "the store takes them all");

/* The instance boxes of `ix` (store_cal_index.boxes), in `arena`: the cal layer's cover of
 * its instance index, so a range query by instances passes over a series in the gaps
 * between its instances. None (the span stands for the instances) without an index. */
static void fill_boxes(struct store_cal_index *ix, struct arena *arena)
{
    ix->boxes = NULL;
    ix->nboxes = 0;
    struct cal_interval *v = NULL;
    size_t n = 0;
    if (!ix->has_span || !ix->has_instances ||
        cal_instances_cover(ix->instances, ix->instances_size, CALSTORE_BOXES_MAX, arena, &v, &n) !=
            0 ||
        n == 0) {
        return;
    }
    struct store_box *b = arena_alloc(arena, n * sizeof(*b));
    for (size_t i = 0; i < n; i++) {
        b[i] = (struct store_box){v[i].start, v[i].end};
    }
    ix->boxes = b;
    ix->nboxes = n;
}

/* The index fields of a parsed object: the one place they are filled. */
static struct store_cal_index index_of(const struct cal_info *info, struct arena *arena)
{
    struct store_cal_index ix = {
        .uid = info->uid,
        .has_span = info->has_span,
        .dtstart_utc = info->dtstart_utc,
        .dtend_utc = info->dtend_utc,
        .comp = info->comp,
        .is_recurring = info->is_recurring,
        .has_instances = info->has_instances,
        .instances = info->instances,
        .instances_size = info->instances_size,
    };
    fill_boxes(&ix, arena);
    return ix;
}

int calstore_prepare(struct slice ics,
                     const char *content_type,
                     unsigned allowed,
                     struct arena *arena,
                     struct calstore_obj *obj,
                     struct err *err)
{
    memset(obj, 0, sizeof(*obj));
    err_init(&obj->err);
    obj->content = ics.ptr;
    obj->size = ics.len;
    obj->content_type = content_type;
    obj->allowed = allowed ? allowed : ALL_COMPONENTS;
    struct cal_info info;
    obj->rc = cal_parse_object(ics, obj->allowed, arena, &info, &obj->err);
    if (obj->rc != 0) {
        if (err) {
            *err = obj->err;
        }
        return -1;
    }
    obj->index = index_of(&info, arena);
    return 0;
}

bool calstore_prepared_on(const struct calstore_obj *obj, const void *content, size_t size)
{
    return obj && obj->content == content && obj->size == size;
}

/* ---------------------------------------------------------------------------------------- */
/* Hook points */

enum store_rc calstore_access(struct store *store,
                              uint64_t principal,
                              const struct store_coll *coll,
                              enum calstore_access *out)
{
    *out = CALSTORE_ACCESS_NONE;
    if (coll->owner == principal) {
        *out = CALSTORE_ACCESS_OWNER;
        return STORE_OK;
    }
    struct store_share sh;
    enum store_rc rc = store_share_get(store, coll->id, principal, NULL, &sh);
    if (rc == STORE_NOTFOUND) {
        return STORE_OK;
    }
    if (rc == STORE_OK) {
        *out =
            sh.access == STORE_SHARE_READ_WRITE ? CALSTORE_ACCESS_READ_WRITE : CALSTORE_ACCESS_READ;
    }
    return rc;
}

bool calstore_access_allows(enum calstore_access a, enum calstore_op op)
{
    switch (a) {
    case CALSTORE_ACCESS_OWNER:
        return true;
    case CALSTORE_ACCESS_READ_WRITE:
        switch (op) {
        case CALSTORE_OP_PUT:
        case CALSTORE_OP_DELETE:
        case CALSTORE_OP_COPY:
        case CALSTORE_OP_MOVE:
        case CALSTORE_OP_ITEM_PROPS:
            return true;
        case CALSTORE_OP_COLL_PROPS:
        case CALSTORE_OP_COLL_CREATE:
        case CALSTORE_OP_COLL_DELETE:
            return false;
        }
        return false;
    case CALSTORE_ACCESS_READ:
    case CALSTORE_ACCESS_NONE:
        return false;
    }
    return false;
}

const char *calstore_op_privilege(enum calstore_op op)
{
    switch (op) {
    case CALSTORE_OP_PUT:
        return "write-content";
    case CALSTORE_OP_DELETE:
        return "unbind";
    case CALSTORE_OP_COPY:
    case CALSTORE_OP_COLL_CREATE:
        return "bind";
    case CALSTORE_OP_MOVE:
        return "unbind";
    case CALSTORE_OP_ITEM_PROPS:
    case CALSTORE_OP_COLL_PROPS:
        return "write-properties";
    case CALSTORE_OP_COLL_DELETE:
        return "unbind";
    }
    return "write";
}

enum calstore_rc calstore_check_write(const struct calstore_writer *w,
                                      enum calstore_op op,
                                      const struct store_coll *coll,
                                      struct calstore_res *res,
                                      struct err *err)
{
    enum calstore_access a;
    enum store_rc rc = calstore_access(w->store, w->principal, coll, &a);
    if (rc != STORE_OK) {
        res->store_rc = rc;
        return CALSTORE_STORE;
    }
    if (!calstore_access_allows(a, op)) {
        err_set(err, &calstore_cond_need_privileges, "DAV:%s is not granted on the collection",
                calstore_op_privilege(op));
        return CALSTORE_DENIED;
    }
    return CALSTORE_OK;
}

static atomic_uint_fast64_t n_put, n_deleted, n_copied, n_moved;

/* After every successful store write of this file, inside the transaction: counts it, and
 * carries out the write's scheduling `plan` (NULL: none; deliver.h) for item `item` at
 * `modseq`. `before` is the item's index before the write (uid NULL when it did not exist,
 * as for a copy's target), `after` after it (NULL for a delete, and for the source of a
 * move). A failed delivery fails the write: CALSTORE_OK or deliver_run's failure. */
static enum calstore_rc calstore_written(const struct calstore_writer *w,
                                         enum calstore_op op,
                                         const struct store_coll *coll,
                                         const char *name,
                                         const struct store_cal_index *before,
                                         const struct store_cal_index *after,
                                         const struct deliver_plan *plan,
                                         uint64_t item,
                                         uint64_t modseq,
                                         struct calstore_res *res,
                                         struct err *err)
{
    (void)coll;
    (void)name;
    (void)before;
    (void)after;
    switch (op) {
    case CALSTORE_OP_PUT:
        atomic_fetch_add(&n_put, 1);
        break;
    case CALSTORE_OP_DELETE:
        atomic_fetch_add(&n_deleted, 1);
        break;
    case CALSTORE_OP_COPY:
        atomic_fetch_add(&n_copied, 1);
        break;
    case CALSTORE_OP_MOVE:
        atomic_fetch_add(&n_moved, 1);
        break;
    case CALSTORE_OP_ITEM_PROPS:
    case CALSTORE_OP_COLL_PROPS:
    case CALSTORE_OP_COLL_CREATE:
    case CALSTORE_OP_COLL_DELETE:
        break; /* access checks only: no object is written */
    }
    return plan ? deliver_run(w, plan, item, modseq, res, err) : CALSTORE_OK;
}

void calstore_stats(struct calstore_stats *out)
{
    out->put = atomic_load(&n_put);
    out->deleted = atomic_load(&n_deleted);
    out->copied = atomic_load(&n_copied);
    out->moved = atomic_load(&n_moved);
}

/* ---------------------------------------------------------------------------------------- */
/* Writes */

static enum calstore_rc store_failed(struct calstore_res *res, enum store_rc rc)
{
    res->store_rc = rc;
    return CALSTORE_STORE;
}

/* What to read of the stored item before a write: its content too when the write may
 * schedule (deliver_plan compares the object before and after). */
static enum store_item_flags sched_flags(const struct calstore_writer *w,
                                         const struct store_coll *coll)
{
    return !w->no_sched && coll->kind == STORE_COLL_CALENDAR ? STORE_ITEM_CONTENT : STORE_ITEM_META;
}

static struct slice content_of(const struct store_item *it)
{
    return it->content ? (struct slice){it->content, it->size} : (struct slice){"", 0};
}

/* CALSTORE_UID_CONFLICT when a live item of `coll` other than `self_id` (0: none) and, when
 * `self_name` is given, other than the item of that name, has `uid`. */
static enum calstore_rc uid_free(const struct calstore_writer *w,
                                 const struct store_coll *coll,
                                 const char *uid,
                                 const char *self_name,
                                 uint64_t self_id,
                                 struct calstore_res *res)
{
    if (!uid || coll->kind != STORE_COLL_CALENDAR) {
        return CALSTORE_OK;
    }
    struct store_item other;
    enum store_rc rc = store_item_get_by_uid(w->store, coll->id, uid, w->arena, &other);
    if (rc == STORE_NOTFOUND) {
        return CALSTORE_OK;
    }
    if (rc != STORE_OK) {
        return store_failed(res, rc);
    }
    if ((self_name && strcmp(other.name, self_name) == 0) || (self_id && other.id == self_id)) {
        return CALSTORE_OK;
    }
    res->uid = uid;
    res->holder = other.name;
    return CALSTORE_UID_CONFLICT;
}

/* True when the stored calendar object `text` may be a scheduling object resource (RFC 6638
 * §3.1: it has an ORGANIZER): the cheap look before deliver_plan parses it. */
static bool may_schedule(const struct store_item *it)
{
    static const char key[] = "\nORGANIZER";
    const char *p = it->content;
    size_t n = it->size;
    for (size_t i = 0; p && i + sizeof(key) - 1 <= n; i++) {
        if ((p[i] == '\n') && memcmp(p + i, key, sizeof(key) - 1) == 0) {
            return true;
        }
    }
    return false;
}

/* RFC 6638 §3.2.4.1 (CALDAV:unique-scheduling-object-resource, PUT, COPY and MOVE): a COPY
 * or MOVE of the scheduling object `src` into calendar `to` may not make a second scheduling
 * object of its UID in the calendar home of `to`'s owner, where each would schedule on its
 * own (two organizers' copies, two replies). CALSTORE_DENIED when another calendar of that
 * home holds the UID in an item other than `self` (0 for a COPY, whose source is such an
 * item; `src`'s id for a MOVE: one within the home finds only `src`, which keeps its
 * scheduling state and sends nothing). */
static enum calstore_rc sched_unique(const struct calstore_writer *w,
                                     const struct store_coll *to,
                                     const struct store_item *src,
                                     uint64_t self,
                                     struct calstore_res *res,
                                     struct err *err)
{
    if (w->no_sched || to->kind != STORE_COLL_CALENDAR || !src->cal.uid || !may_schedule(src)) {
        return CALSTORE_OK;
    }
    struct store_principal p;
    enum store_rc rc = store_principal_get_by_id(w->store, to->owner, w->arena, &p);
    struct store_coll c;
    struct store_item other;
    if (rc == STORE_OK) {
        rc = deliver_lookup_copy(w, &p, src->cal.uid, &c, &other);
    }
    if (rc == STORE_NOTFOUND || (rc == STORE_OK && other.id == self)) {
        return CALSTORE_OK;
    }
    if (rc != STORE_OK) {
        return store_failed(res, rc);
    }
    err_set(err, &calstore_cond_unique_sched,
            "the meeting %s is already in calendar %s of this calendar home", src->cal.uid, c.name);
    return CALSTORE_DENIED;
}

enum calstore_rc calstore_put(const struct calstore_writer *w,
                              const struct store_coll *coll,
                              const char *name,
                              const struct calstore_obj *obj,
                              struct calstore_res *res,
                              struct err *err)
{
    memset(res, 0, sizeof(*res));
    enum calstore_rc arc = calstore_check_write(w, CALSTORE_OP_PUT, coll, res, err);
    if (arc != CALSTORE_OK) {
        return arc;
    }
    if (obj->rc != 0) {
        *err = obj->err;
        return CALSTORE_INVALID;
    }
    /* RFC 4791 §5.3.2.1: supported-calendar-component, against the calendar's own set */
    if (!(obj->index.comp & coll_allowed(coll))) {
        err_set(err, &cal_cond_supported_component,
                "this calendar does not take the object's component type");
        return CALSTORE_INVALID;
    }
    enum calstore_rc crc = uid_free(w, coll, obj->index.uid, name, 0, res);
    if (crc != CALSTORE_OK) {
        return crc;
    }
    struct store_item before;
    enum store_rc rc =
        store_item_get(w->store, coll->id, name, sched_flags(w, coll), w->arena, &before);
    if (rc == STORE_NOTFOUND) {
        memset(&before, 0, sizeof(before));
    } else if (rc != STORE_OK) {
        return store_failed(res, rc);
    }
    struct slice content = {obj->content, obj->size};
    struct deliver_plan plan;
    crc = deliver_plan(w, coll, content_of(&before), &content, &plan, res, err);
    if (crc != CALSTORE_OK) {
        return crc;
    }
    struct store_item_in in = {
        .content = content.ptr,
        .size = content.len,
        .content_type = obj->content_type,
        .cal = obj->index, /* SCHEDULE-STATUS parameters alone change no index field */
    };
    rc = store_item_put(w->store, coll->id, name, &in, w->arena, &res->item, &res->created);
    if (rc != STORE_OK) {
        return store_failed(res, rc);
    }
    struct calstore_res keep = *res;
    crc = calstore_written(w, CALSTORE_OP_PUT, coll, name, &before.cal, &keep.item.cal, &plan,
                           keep.item.id, keep.item.modseq, res, err);
    if (crc == CALSTORE_OK) {
        const char *tag = res->schedule_tag;
        *res = keep; /* deliveries wrote other items with res as scratch */
        res->schedule_tag = tag;
        res->content_changed =
            content.len != obj->size ||
            (content.ptr != obj->content && memcmp(content.ptr, obj->content, content.len) != 0);
    }
    return crc;
}

enum calstore_rc calstore_delete(const struct calstore_writer *w,
                                 const struct store_coll *coll,
                                 const char *name,
                                 struct calstore_res *res,
                                 struct err *err)
{
    memset(res, 0, sizeof(*res));
    enum calstore_rc arc = calstore_check_write(w, CALSTORE_OP_DELETE, coll, res, err);
    if (arc != CALSTORE_OK) {
        return arc;
    }
    struct store_item before;
    enum store_rc rc =
        store_item_get(w->store, coll->id, name, sched_flags(w, coll), w->arena, &before);
    struct slice none = {"", 0};
    struct deliver_plan plan;
    if (rc == STORE_OK) {
        arc = deliver_plan(w, coll, content_of(&before), &none, &plan, res, err);
        if (arc != CALSTORE_OK) {
            return arc;
        }
        rc = store_item_delete(w->store, coll->id, name);
    }
    if (rc != STORE_OK) {
        return store_failed(res, rc);
    }
    return calstore_written(w, CALSTORE_OP_DELETE, coll, name, &before.cal, NULL, &plan, 0, 0, res,
                            err);
}

enum calstore_rc calstore_copy(const struct calstore_writer *w,
                               const struct store_coll *from,
                               const char *name,
                               const struct store_coll *to,
                               const char *to_name,
                               struct calstore_res *res,
                               struct err *err)
{
    memset(res, 0, sizeof(*res));
    enum calstore_rc arc = calstore_check_write(w, CALSTORE_OP_COPY, to, res, err);
    if (arc != CALSTORE_OK) {
        return arc;
    }
    struct store_item src;
    enum store_rc rc = store_item_get(w->store, from->id, name,
                                      STORE_ITEM_CONTENT | STORE_ITEM_INSTANCES, w->arena, &src);
    if (rc != STORE_OK) {
        return store_failed(res, rc);
    }
    enum calstore_rc crc = uid_free(w, to, src.cal.uid, to_name, 0, res);
    if (crc == CALSTORE_OK) {
        crc = sched_unique(w, to, &src, 0, res, err);
    }
    if (crc != CALSTORE_OK) {
        return crc;
    }
    struct store_item_in in = {
        .content = src.content,
        .size = src.size,
        .content_type = src.content_type,
        .cal = src.cal, /* indexed when it was written into its calendar */
    };
    fill_boxes(&in.cal, w->arena); /* the boxes are not read back: made again from the index */
    rc = store_item_put(w->store, to->id, to_name, &in, w->arena, &res->item, &res->created);
    if (rc == STORE_OK) {
        rc = store_prop_copy(w->store, STORE_RES_ITEM, src.id, STORE_RES_ITEM, res->item.id);
    }
    if (rc != STORE_OK) {
        return store_failed(res, rc);
    }
    static const struct store_cal_index none;
    /* sched_unique let only a copy through that is no second scheduling object of its UID
     * in the home: it schedules nothing (RFC 6638 §3.2.4.1) */
    return calstore_written(w, CALSTORE_OP_COPY, to, to_name, &none, &res->item.cal, NULL, 0, 0,
                            res, err);
}

enum calstore_rc calstore_move(const struct calstore_writer *w,
                               const struct store_coll *from,
                               const char *name,
                               const struct store_coll *to,
                               const char *to_name,
                               struct calstore_res *res,
                               struct err *err)
{
    memset(res, 0, sizeof(*res));
    enum calstore_rc arc = calstore_check_write(w, CALSTORE_OP_MOVE, from, res, err);
    if (arc == CALSTORE_OK && to->id != from->id) {
        arc = calstore_check_write(w, CALSTORE_OP_MOVE, to, res, err);
    }
    if (arc != CALSTORE_OK) {
        return arc;
    }
    struct store_item src;
    enum store_rc rc = store_item_get(w->store, from->id, name, sched_flags(w, to), w->arena, &src);
    if (rc != STORE_OK) {
        return store_failed(res, rc);
    }
    enum calstore_rc crc = uid_free(w, to, src.cal.uid, NULL, src.id, res);
    if (crc == CALSTORE_OK) {
        crc = sched_unique(w, to, &src, src.id, res, err);
    }
    if (crc != CALSTORE_OK) {
        return crc;
    }
    rc = store_item_move(w->store, from->id, name, to->id, to_name);
    if (rc != STORE_OK) {
        return store_failed(res, rc);
    }
    rc = store_item_get(w->store, to->id, to_name, STORE_ITEM_META, w->arena, &res->item);
    if (rc != STORE_OK) {
        return store_failed(res, rc);
    }
    (void)calstore_written(w, CALSTORE_OP_MOVE, from, name, &src.cal, NULL, NULL, 0, 0, res, err);
    return calstore_written(w, CALSTORE_OP_MOVE, to, to_name, &src.cal, &res->item.cal, NULL, 0, 0,
                            res, err);
}

enum calstore_rc calstore_coll_delete(const struct calstore_writer *w,
                                      const struct store_coll *coll,
                                      struct calstore_res *res,
                                      struct err *err)
{
    memset(res, 0, sizeof(*res));
    enum calstore_rc arc = calstore_check_write(w, CALSTORE_OP_COLL_DELETE, coll, res, err);
    if (arc != CALSTORE_OK) {
        return arc;
    }
    const char **names = NULL;
    size_t n = 0;
    if (!w->no_sched && coll->kind == STORE_COLL_CALENDAR) {
        names = arena_alloc(w->arena, CALSTORE_COLL_SCHED_MAX * sizeof(*names));
        struct store_cursor *cur = NULL;
        enum store_rc rc =
            store_items_open_cols(w->store, coll->id, STORE_ORDER_NAME, STORE_COLS_LISTING, &cur);
        struct store_item row;
        while (rc == STORE_OK && (rc = store_cursor_next_item(cur, &row)) == STORE_OK) {
            struct arena_mark m = arena_mark(w->arena);
            struct store_item it;
            rc = store_item_get(w->store, coll->id, row.name, STORE_ITEM_CONTENT, w->arena, &it);
            bool sched = rc == STORE_OK && may_schedule(&it);
            arena_rewind(w->arena, m);
            if (sched && n == CALSTORE_COLL_SCHED_MAX) {
                store_cursor_close(&cur);
                err_set(err, &calstore_cond_too_many_meetings,
                        "the calendar holds more than %d meetings: delete some of them first",
                        (int)CALSTORE_COLL_SCHED_MAX);
                return CALSTORE_DENIED;
            }
            if (sched) {
                names[n++] = arena_strdup(w->arena, row.name);
            }
        }
        store_cursor_close(&cur);
        if (rc != STORE_NOTFOUND) {
            return store_failed(res, rc);
        }
    }
    /* each one as its own DELETE: the organizer's CANCEL, the attendee's DECLINED REPLY */
    for (size_t i = 0; i < n; i++) {
        enum calstore_rc crc = calstore_delete(w, coll, names[i], res, err);
        if (crc != CALSTORE_OK) {
            return crc;
        }
    }
    memset(res, 0, sizeof(*res));
    enum store_rc rc = store_coll_delete(w->store, coll->id);
    return rc == STORE_OK ? CALSTORE_OK : store_failed(res, rc);
}
