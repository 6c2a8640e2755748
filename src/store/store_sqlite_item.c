/* store/store_sqlite_item.c: items, cursors and dead properties in the SQLite engine. Owns the
 * change log (exchange-replication.md §3.9: live items and tombstones by (collection, modseq),
 * created_modseq, tombstones of deletes and moves away) and the cursors that stream it. Item
 * content sits in item_content, read only by store_item_get with STORE_ITEM_CONTENT; cursors
 * never load it. SQL text lives in store_sqlite.c's statement table, except the cursors'.
 * Depends on store_sqlite.c (the shared helpers: row decoding, modseq bump, name checks),
 * never on store_sqlite_coll.c, which depends on this file (its cursors). */
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store/store.h"
#include "store/store_sqlite_int.h"
#include "util/timeutil.h"

/* ---------------------------------------------------------------------------------------- */
/* Items */

void store_db_read_item(sqlite3_stmt *st,
                        struct arena *arena,
                        bool with_content,
                        struct store_item *out)
{
    memset(out, 0, sizeof(*out));
    out->id = store_db_col_u64(st, 0);
    out->coll = store_db_col_u64(st, 1);
    out->name = store_db_col_text(st, 2, arena);
    out->cal.uid = store_db_col_text(st, 3, arena);
    out->content_type = store_db_col_text(st, 4, arena);
    out->size = (size_t)sqlite3_column_int64(st, 5);
    out->modseq = store_db_col_u64(st, 6);
    out->created_modseq = store_db_col_u64(st, 7);
    out->mtime = sqlite3_column_int64(st, 8);
    out->cal.has_span = sqlite3_column_type(st, 9) != SQLITE_NULL;
    out->cal.dtstart_utc = sqlite3_column_int64(st, 9);
    out->cal.dtend_utc = sqlite3_column_int64(st, 10);
    out->cal.comp = (unsigned)sqlite3_column_int(st, 11);
    out->cal.is_recurring = sqlite3_column_int(st, 12) != 0;
    if (with_content) {
        const void *b = sqlite3_column_blob(st, STORE_DB_ITEM_NCOLS);
        size_t n = (size_t)sqlite3_column_bytes(st, STORE_DB_ITEM_NCOLS);
        out->content = arena ? arena_memdup(arena, b ? b : "", n) : b;
        out->size = n;
    }
}

enum store_rc store_db_item_row(struct store *s,
                                sqlite3_stmt *st,
                                bool with_content,
                                struct arena *arena,
                                struct store_item *out)
{
    enum store_rc rc = store_db_step_one(s, st);
    if (rc == STORE_OK) {
        store_db_read_item(st, arena, with_content, out);
    } else if (rc == STORE_NOTFOUND) {
        store_db_fail_msg(s, rc, "no such item");
    }
    store_db_reset(st);
    return rc;
}

enum store_rc store_sqlite_item_get(struct store *s,
                                    uint64_t coll,
                                    const char *name,
                                    enum store_item_flags flags,
                                    struct arena *arena,
                                    struct store_item *out)
{
    bool content = (flags & STORE_ITEM_CONTENT) != 0;
    sqlite3_stmt *st = store_db_stmt(s, content ? S_ITEM_GET_CONTENT : S_ITEM_GET);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_u64(st, 1, coll);
    store_db_bind_text(st, 2, name);
    enum store_rc rc = store_db_item_row(s, st, content, arena, out);
    if (rc != STORE_OK || !(flags & STORE_ITEM_INSTANCES)) {
        return rc;
    }
    st = store_db_stmt(s, S_INSTANCES_GET);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_u64(st, 1, out->id);
    rc = store_db_step_one(s, st);
    if (rc == STORE_OK) {
        size_t n = (size_t)sqlite3_column_bytes(st, 0);
        const void *data = sqlite3_column_blob(st, 0);
        out->cal.has_instances = true;
        out->cal.instances = n ? arena_memdup(arena, data, n) : "";
        out->cal.instances_size = n;
    } else if (rc == STORE_NOTFOUND) {
        rc = STORE_OK; /* a single, or a series the walk could not finish */
    }
    store_db_reset(st);
    return rc;
}

enum store_rc store_sqlite_item_get_by_uid(
    struct store *s, uint64_t coll, const char *uid, struct arena *arena, struct store_item *out)
{
    sqlite3_stmt *st = store_db_stmt(s, S_ITEM_GET_BY_UID);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_u64(st, 1, coll);
    store_db_bind_text(st, 2, uid);
    return store_db_item_row(s, st, false, arena, out);
}

/* The id and created_modseq of the live item `name` in `coll`; STORE_NOTFOUND if none. */
static enum store_rc
item_id(struct store *s, uint64_t coll, const char *name, uint64_t *id_out, uint64_t *created_out)
{
    sqlite3_stmt *st = store_db_stmt(s, S_ITEM_ID);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_u64(st, 1, coll);
    store_db_bind_text(st, 2, name);
    enum store_rc rc = store_db_step_one(s, st);
    if (rc == STORE_OK) {
        *id_out = store_db_col_u64(st, 0);
        *created_out = store_db_col_u64(st, 1);
    } else if (rc == STORE_NOTFOUND) {
        store_db_fail_msg(s, rc, "no such item");
    }
    store_db_reset(st);
    return rc;
}

/* STORE_CONFLICT when a live item of `coll` other than `name` has `uid` (the CalDAV
 * no-uid-conflict precondition, RFC 4791 §5.3.2.1). A NULL uid never clashes. */
static enum store_rc check_uid(struct store *s, uint64_t coll, const char *uid, const char *name)
{
    if (!uid) {
        return STORE_OK;
    }
    sqlite3_stmt *st = store_db_stmt(s, S_ITEM_UID_CLASH);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_u64(st, 1, coll);
    store_db_bind_text(st, 2, uid);
    store_db_bind_text(st, 3, name);
    enum store_rc rc = store_db_step_one(s, st);
    store_db_reset(st);
    if (rc == STORE_OK) {
        return store_db_fail_msg(s, STORE_CONFLICT, "uid in use");
    }
    return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

/* Writes the metadata row; *id_out and *created_modseq_out come back from the row, `out`
 * (may be NULL) receives it all with strings in `arena`. */
static enum store_rc upsert_meta(struct store *s,
                                 uint64_t coll,
                                 const char *name,
                                 const struct store_item_in *in,
                                 uint64_t modseq,
                                 struct arena *arena,
                                 struct store_item *out,
                                 uint64_t *id_out,
                                 uint64_t *created_modseq_out)
{
    sqlite3_stmt *st = store_db_stmt(s, S_ITEM_UPSERT);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_u64(st, 1, coll);
    store_db_bind_text(st, 2, name);
    store_db_bind_text(st, 3, in->cal.uid);
    store_db_bind_text(st, 4, in->content_type);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)in->size);
    store_db_bind_u64(st, 6, modseq);
    sqlite3_bind_int64(st, 7, time_now());
    if (in->cal.has_span) {
        sqlite3_bind_int64(st, 8, in->cal.dtstart_utc);
        sqlite3_bind_int64(st, 9, in->cal.dtend_utc);
    } else {
        sqlite3_bind_null(st, 8);
        sqlite3_bind_null(st, 9);
    }
    sqlite3_bind_int(st, 10, (int)in->cal.comp);
    sqlite3_bind_int(st, 11, in->cal.is_recurring ? 1 : 0);
    enum store_rc rc = store_db_step_one(s, st);
    if (rc != STORE_OK) {
        store_db_reset(st);
        return rc == STORE_NOTFOUND ? store_db_fail_msg(s, STORE_IO, "upsert returned no row") : rc;
    }
    *id_out = store_db_col_u64(st, 0);
    *created_modseq_out = store_db_col_u64(st, 7);
    if (out) {
        store_db_read_item(st, arena, false, out);
    }
    return store_db_exec(s, st); /* runs the statement to its end, then resets it */
}

/* ---------------------------------------------------------------------------------------- */
/* Spans: the interval index of schema/010_item_spans.sql, kept in step with the items by
 * every write below (put, delete, move; copy is a put) and by collection and principal
 * deletes (S_SPANS_COLL_DEL, S_SPANS_PRINCIPAL_DEL). */

/* `t` in the index's unit, minutes since 1970, rounded down (`up` false) or up, and clamped
 * to 32 bits: INT32_MIN stands for every time before the year -2113 and for "no start"
 * (INT64_MIN), INT32_MAX for every time after the year 6053 and for "no end" (INT64_MAX, an
 * unbounded series). The map is monotonic, so a box rounded outwards meets every range its
 * exact interval meets, and an open end meets every range after its start. */
static int32_t span_minute(int64_t t, bool up)
{
    if (t <= (int64_t)INT32_MIN * 60) {
        return INT32_MIN;
    }
    if (t >= (int64_t)INT32_MAX * 60) {
        return INT32_MAX;
    }
    int64_t q = t / 60; /* toward zero */
    int64_t r = t % 60;
    if (!up && r < 0) {
        q--;
    } else if (up && r > 0) {
        q++;
    }
    return (int32_t)q;
}

/* The first coordinate of a box of collection `coll` and of `kind`. */
static int64_t span_key(uint64_t coll, enum store_db_span_kind kind)
{
    uint64_t c = coll < STORE_DB_SPAN_COLL_MAX ? coll : STORE_DB_SPAN_COLL_MAX;
    return (int64_t)c * 4 + (int64_t)kind;
}

static enum store_rc
span_insert(struct store *s, uint64_t rowid, int64_t key, int64_t start, int64_t end)
{
    sqlite3_stmt *st = store_db_stmt(s, S_SPAN_INSERT);
    if (!st) {
        return STORE_IO;
    }
    int32_t lo = span_minute(start, false);
    int32_t hi = span_minute(end, true);
    store_db_bind_u64(st, 1, rowid);
    sqlite3_bind_int64(st, 2, key);
    sqlite3_bind_int(st, 3, lo);
    sqlite3_bind_int(st, 4, hi > lo ? hi : lo); /* the R*Tree refuses t1 < t0 */
    return store_db_exec(s, st);
}

/* Runs `stmt` (?1 the box's rowid, ?2 `arg`) on the boxes of item `id`, slot by slot, up to
 * the first slot it changes nothing in: an item's boxes fill slots 0..n without a hole. */
static enum store_rc
spans_each(struct store *s, enum store_db_stmt_id stmt, uint64_t id, int64_t arg)
{
    for (uint64_t slot = 0; slot < STORE_DB_SPAN_SLOTS; slot++) {
        sqlite3_stmt *st = store_db_stmt(s, stmt);
        if (!st) {
            return STORE_IO;
        }
        store_db_bind_u64(st, 1, id * STORE_DB_SPAN_SLOTS + slot);
        if (stmt == S_SPAN_MOVE) {
            sqlite3_bind_int64(st, 2, arg);
        }
        enum store_rc rc = store_db_exec(s, st);
        if (rc != STORE_OK) {
            return rc;
        }
        if (sqlite3_changes(sq(s)->c.db) == 0) {
            break;
        }
    }
    return STORE_OK;
}

/* Writes the boxes of item `id` of `coll`: its span in slot 0, its instance boxes after. */
static enum store_rc
spans_put(struct store *s, uint64_t coll, uint64_t id, const struct store_cal_index *cal)
{
    if (!cal->has_span) {
        return STORE_OK;
    }
    uint64_t base = id * STORE_DB_SPAN_SLOTS;
    enum store_db_span_kind kind = cal->nboxes ? STORE_DB_SPAN_SERIES : STORE_DB_SPAN_PLAIN;
    enum store_rc rc = span_insert(s, base, span_key(coll, kind), cal->dtstart_utc, cal->dtend_utc);
    for (size_t i = 0; rc == STORE_OK && i < cal->nboxes; i++) {
        rc = span_insert(s, base + 1 + i, span_key(coll, STORE_DB_SPAN_INSTANCE),
                         cal->boxes[i].start, cal->boxes[i].end);
    }
    return rc;
}

/* Writes or clears the item's instance index (a replaced series may become a single). */
static enum store_rc put_instances(struct store *s, uint64_t id, const struct store_item_in *in)
{
    sqlite3_stmt *st =
        store_db_stmt(s, in->cal.has_instances ? S_INSTANCES_UPSERT : S_INSTANCES_DELETE);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_u64(st, 1, id);
    if (in->cal.has_instances) {
        sqlite3_bind_blob64(st, 2, in->cal.instances_size ? in->cal.instances : "",
                            in->cal.instances_size, SQLITE_STATIC);
    }
    return store_db_exec(s, st);
}

/* Checks in order, so that a refused put writes nothing: the name is no child collection,
 * the uid is free, the collection exists (the bump). */
enum store_rc store_sqlite_item_put(struct store *s,
                                    uint64_t coll,
                                    const char *name,
                                    const struct store_item_in *in,
                                    struct arena *arena,
                                    struct store_item *out,
                                    bool *created_out)
{
    if (!store_db_name_ok(name)) {
        return store_db_fail_msg(s, STORE_LIMIT, "item name length out of bounds");
    }
    if (in->cal.nboxes > STORE_ITEM_BOXES_MAX) {
        return store_db_fail_msg(s, STORE_LIMIT, "instance boxes exceed STORE_ITEM_BOXES_MAX");
    }
    enum store_rc rc = store_db_check_no_child(s, coll, name);
    if (rc == STORE_OK) {
        rc = check_uid(s, coll, in->cal.uid, name);
    }
    uint64_t modseq = 0;
    if (rc == STORE_OK) {
        rc = store_db_bump(s, coll, &modseq);
    }
    uint64_t id = 0;
    uint64_t created_modseq = 0;
    if (rc == STORE_OK) {
        rc = upsert_meta(s, coll, name, in, modseq, arena, out, &id, &created_modseq);
    }
    if (rc != STORE_OK) {
        return rc;
    }
    if (id >= STORE_DB_ITEM_ID_LIMIT) {
        return store_db_fail_msg(s, STORE_LIMIT, "item ids exhausted (2^47)");
    }
    sqlite3_stmt *st = store_db_stmt(s, S_CONTENT_UPSERT);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_u64(st, 1, id);
    sqlite3_bind_blob64(st, 2, in->size ? in->content : "", in->size, SQLITE_STATIC);
    rc = store_db_exec(s, st);
    if (rc == STORE_OK) {
        rc = put_instances(s, id, in);
    }
    if (rc == STORE_OK && created_modseq != modseq) {
        rc = spans_each(s, S_SPAN_DELETE, id, 0); /* a replace: the old boxes go */
    }
    if (rc == STORE_OK) {
        rc = spans_put(s, coll, id, &in->cal);
    }
    if (rc == STORE_OK && created_out) {
        *created_out = created_modseq == modseq; /* a replace keeps its older created_modseq */
    }
    return rc;
}

/* Inserts the tombstone of item `id` (last `name`) in `coll` at `modseq`. */
static enum store_rc tombstone(struct store *s,
                               uint64_t coll,
                               uint64_t id,
                               const char *name,
                               uint64_t modseq,
                               uint64_t created_modseq)
{
    sqlite3_stmt *st = store_db_stmt(s, S_TOMB_INSERT);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_u64(st, 1, coll);
    store_db_bind_u64(st, 2, id);
    store_db_bind_text(st, 3, name);
    store_db_bind_u64(st, 4, modseq);
    store_db_bind_u64(st, 5, created_modseq);
    sqlite3_bind_int64(st, 6, time_now());
    return store_db_exec(s, st);
}

/* The row goes (its content cascades), the collection's modseq moves on, and a tombstone at
 * that modseq records the delete (exchange-replication.md §3.9), then the dead properties. */
enum store_rc store_sqlite_item_delete(struct store *s, uint64_t coll, const char *name)
{
    sqlite3_stmt *st = store_db_stmt(s, S_ITEM_DELETE);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_u64(st, 1, coll);
    store_db_bind_text(st, 2, name);
    enum store_rc rc = store_db_step_one(s, st);
    if (rc != STORE_OK) {
        store_db_reset(st);
        return rc == STORE_NOTFOUND ? store_db_fail_msg(s, rc, "no such item") : rc;
    }
    uint64_t id = store_db_col_u64(st, 0);
    uint64_t created = store_db_col_u64(st, 1);
    rc = store_db_exec(s, st);
    if (rc == STORE_OK) {
        rc = spans_each(s, S_SPAN_DELETE, id, 0);
    }
    uint64_t modseq = 0;
    if (rc == STORE_OK) {
        rc = store_db_bump(s, coll, &modseq);
    }
    if (rc == STORE_OK) {
        rc = tombstone(s, coll, id, name, modseq, created);
    }
    if (rc != STORE_OK) {
        return rc;
    }
    st = store_db_stmt(s, S_ITEM_DEL_PROPS);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_u64(st, 1, id);
    return store_db_exec(s, st);
}

/* STORE_CONFLICT when another live item of `to_coll` has the uid of item `id` (none when
 * that uid is NULL). */
static enum store_rc check_uid_of(struct store *s, uint64_t to_coll, uint64_t id)
{
    sqlite3_stmt *st = store_db_stmt(s, S_ITEM_UID_CLASH_ID);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_u64(st, 1, to_coll);
    store_db_bind_u64(st, 2, id);
    enum store_rc rc = store_db_step_one(s, st);
    store_db_reset(st);
    if (rc == STORE_OK) {
        return store_db_fail_msg(s, STORE_CONFLICT, "uid in use in the target collection");
    }
    return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

/* Every check runs before the first write, so a refused move writes nothing. The row keeps
 * its id, content and dead properties; the source gets a tombstone, the target a new
 * modseq that is also the item's created_modseq there (exchange-replication.md §1.2). */
enum store_rc store_sqlite_item_move(
    struct store *s, uint64_t coll, const char *name, uint64_t to_coll, const char *to_name)
{
    if (!store_db_name_ok(to_name)) {
        return store_db_fail_msg(s, STORE_LIMIT, "item name length out of bounds");
    }
    uint64_t id = 0;
    uint64_t created = 0;
    enum store_rc rc = item_id(s, coll, name, &id, &created);
    if (rc == STORE_OK) {
        rc = store_db_check_coll(s, to_coll);
    }
    if (rc == STORE_OK) {
        rc = store_db_check_no_item(s, to_coll, to_name);
    }
    if (rc == STORE_OK) {
        rc = store_db_check_no_child(s, to_coll, to_name);
    }
    if (rc == STORE_OK && to_coll != coll) {
        rc = check_uid_of(s, to_coll, id);
    }
    uint64_t src_modseq = 0;
    uint64_t dst_modseq = 0;
    if (rc == STORE_OK) {
        rc = store_db_bump(s, coll, &src_modseq);
    }
    if (rc == STORE_OK) {
        rc = tombstone(s, coll, id, name, src_modseq, created);
    }
    if (rc == STORE_OK) {
        rc = store_db_bump(s, to_coll, &dst_modseq);
    }
    if (rc != STORE_OK) {
        return rc;
    }
    sqlite3_stmt *st = store_db_stmt(s, S_ITEM_MOVE);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_u64(st, 1, id);
    store_db_bind_u64(st, 2, to_coll);
    store_db_bind_text(st, 3, to_name);
    store_db_bind_u64(st, 4, dst_modseq);
    sqlite3_bind_int64(st, 5, time_now());
    rc = store_db_exec(s, st);
    if (rc == STORE_OK && to_coll != coll) {
        rc = spans_each(s, S_SPAN_MOVE, id,
                        span_key(to_coll, STORE_DB_SPAN_SERIES)); /* kinds stay */
    }
    return rc;
}

enum store_rc store_sqlite_item_touch(struct store *s, uint64_t coll, const char *name)
{
    uint64_t id = 0;
    uint64_t created = 0;
    enum store_rc rc = item_id(s, coll, name, &id, &created);
    uint64_t modseq = 0;
    if (rc == STORE_OK) {
        rc = store_db_bump(s, coll, &modseq);
    }
    if (rc != STORE_OK) {
        return rc;
    }
    sqlite3_stmt *st = store_db_stmt(s, S_ITEM_TOUCH);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_u64(st, 1, id);
    store_db_bind_u64(st, 2, modseq);
    sqlite3_bind_int64(st, 3, time_now());
    return store_db_exec(s, st);
}

/* ---------------------------------------------------------------------------------------- */
/* Cursors */

/* Each query is served by an index in the order asked (EXPLAIN QUERY PLAN: no temporary
 * b-tree): (coll, name), (coll, modseq), the (coll, modseq) indexes of both tables merged
 * (MERGE UNION ALL), (parent, name), the rowid, and for aged ActiveSync members the members'
 * (device, coll, dtend) index, each row then finding its live item by the rowid. The range
 * query is the exception: the R*Tree item_spans gives the ids of the boxes of the
 * collection's key range (?4..?5: kinds by span or by instance) that meet the range in
 * minutes (?6..?7, rounded outwards), each item is found by its rowid (the unary + keeps
 * the planner off the collection's own indexes, which would read its whole history), compared
 * exactly (dtstart < end AND dtend > start; dtend = start too for an instant, dtstart = dtend, and
 * for a series, whose last instance may be one: RFC 4791 §9.9), and the m matches sorted in a
 * temporary b-tree: O(log n + m log m). */
/* The columns of a change listing's row (then its tombstone flag): what struct store_item
 * needs for STORE_COLS_LISTING but the collection, which the cursor knows. The by-name
 * listings of live items have the first three. */
#define LIST_COLS  "id, name, modseq, created_modseq"
#define LIST_NCOLS 4

static const char *const cursor_sql[CQ_COUNT] = {
    [CQ_ITEMS_BY_NAME] = "SELECT " ITEM_COLS " FROM items WHERE coll = ?1 ORDER BY name",
    [CQ_ITEMS_BY_MODSEQ] = "SELECT " ITEM_COLS " FROM items WHERE coll = ?1 ORDER BY modseq",
    [CQ_CHANGES] = "SELECT " ITEM_COLS ", 0 FROM items WHERE coll = ?1 AND modseq > ?2 "
                   "UNION ALL SELECT item_id, coll, name, NULL, NULL, 0, modseq, created_modseq, "
                   "deleted_at, NULL, NULL, 0, 0, 1 FROM tombstones WHERE coll = ?1 AND "
                   "modseq > ?2 ORDER BY 7",
    [CQ_RANGE] = "SELECT " ITEM_COLS ", (SELECT data FROM item_instances x WHERE x.id = "
                 "items.id) FROM items WHERE id IN (SELECT id >> 6 FROM item_spans WHERE "
                 "k0 >= ?4 AND k1 <= ?5 AND t0 <= ?7 AND t1 >= ?6) AND +coll = ?1 AND "
                 "+dtstart < ?3 AND (+dtend > ?2 OR (+dtend = ?2 AND (+dtstart = +dtend OR "
                 "+recurring))) ORDER BY dtstart, dtend, id",
    [CQ_CHILDREN] = "SELECT " COLL_COLS " FROM collections WHERE parent = ?1 ORDER BY name",
    [CQ_ALL_COLLS] = "SELECT " COLL_COLS " FROM collections ORDER BY id",
    [CQ_EAS_AGED] = "SELECT " ITEM_COLS " FROM items JOIN (SELECT item AS m_item, dtend AS "
                    "m_dtend FROM eas_members WHERE device = ?1 AND coll = ?2 AND dtend IS NOT "
                    "NULL AND dtend < ?3) ON id = m_item WHERE coll = ?2 AND dtend < ?3 "
                    "ORDER BY m_dtend LIMIT ?4",
    /* listings (STORE_COLS_LISTING), read by read_listing_row: each from a covering index
     * (014: items_coll_name_list, items_coll_modseq), no seek into the items table */
    [CQ_LIST_BY_NAME] = "SELECT id, name, modseq FROM items WHERE coll = ?1 ORDER BY name",
    [CQ_LIST_BY_MODSEQ] = "SELECT id, name, modseq FROM items WHERE coll = ?1 ORDER BY modseq",
    [CQ_LIST_CHANGES] = "SELECT " LIST_COLS ", 0 FROM items WHERE coll = ?1 AND modseq > ?2 "
                        "UNION ALL SELECT item_id, name, modseq, created_modseq, 1 FROM "
                        "tombstones WHERE coll = ?1 AND modseq > ?2 ORDER BY 3",
    /* the same without the id (STORE_COLS_NAMES, a 0 in its place): reading each row's rowid
     * off the index was 8% of the instructions of a Depth-1 PROPFIND of ETags (issue 16) */
    [CQ_NAMES_BY_NAME] = "SELECT 0, name, modseq FROM items WHERE coll = ?1 ORDER BY name",
    [CQ_NAMES_BY_MODSEQ] = "SELECT 0, name, modseq FROM items WHERE coll = ?1 ORDER BY modseq",
    [CQ_NAMES_CHANGES] = "SELECT 0, name, modseq, created_modseq, 0 FROM items WHERE coll = ?1 "
                         "AND modseq > ?2 UNION ALL SELECT 0, name, modseq, created_modseq, 1 "
                         "FROM tombstones WHERE coll = ?1 AND modseq > ?2 ORDER BY 3",
};

/* A cursor of this engine: store_int.h's head (the connection), then the statement. */
struct store_sqlite_cursor {
    struct store_cursor base;
    sqlite3_stmt
        *stmt; /* owned while open; back to the connection's idle_cursors[query] on close */
    enum store_db_cursor_id query;
    uint64_t coll; /* listings: the collection of every row */
};

static struct store_sqlite_cursor *sqc(struct store_cursor *c)
{
    return (struct store_sqlite_cursor *)c;
}

static bool cursor_is_listing(const struct store_sqlite_cursor *c)
{
    return c->query >= CQ_LIST_BY_NAME && c->query <= CQ_NAMES_CHANGES;
}

/* A listing's row: LIST_COLS and the tombstone flag. The name is borrowed like a full row's;
 * everything else of the item is zero. */
static void read_listing_row(const struct store_sqlite_cursor *c, struct store_item *out)
{
    sqlite3_stmt *st = c->stmt;
    memset(out, 0, sizeof(*out));
    if (c->query < CQ_NAMES_BY_NAME) {
        out->id = store_db_col_u64(st, 0);
    }
    out->coll = c->coll;
    out->name = store_db_col_text(st, 1, NULL);
    out->modseq = store_db_col_u64(st, 2);
    if (c->query == CQ_LIST_CHANGES || c->query == CQ_NAMES_CHANGES) {
        out->created_modseq = store_db_col_u64(st, 3);
        out->is_tombstone = sqlite3_column_int(st, LIST_NCOLS) == 1;
    }
}

static bool cursor_is_coll(const struct store_cursor *c)
{
    enum store_db_cursor_id q = ((const struct store_sqlite_cursor *)c)->query;
    return q == CQ_CHILDREN || q == CQ_ALL_COLLS;
}

/* Takes the idle statement of `query`, or prepares one when it is in use by another open
 * cursor (or the first time). */
static enum store_rc
cursor_open(struct store *s, enum store_db_cursor_id query, struct store_cursor **out)
{
    sqlite3_stmt *st = sq(s)->c.idle_cursors[query];
    sq(s)->c.idle_cursors[query] = NULL;
    enum store_rc rc = store_db_prepare(s, cursor_sql[query], &st);
    if (rc != STORE_OK) {
        sq(s)->c.idle_cursors[query] = st; /* a fault on a reused statement: kept for the next */
        return rc;
    }
    struct store_sqlite_cursor *c = calloc(1, sizeof(*c));
    if (!c) {
        abort();
    }
    c->base.s = s;
    c->stmt = st;
    c->query = query;
    sq(s)->open_cursors++;
    *out = &c->base;
    return STORE_OK;
}

sqlite3_stmt *
store_db_cursor_open(struct store *s, enum store_db_cursor_id query, struct store_cursor **out)
{
    return cursor_open(s, query, out) == STORE_OK ? sqc(*out)->stmt : NULL;
}

enum store_rc store_sqlite_items_open(struct store *s,
                                      uint64_t coll,
                                      enum store_order order,
                                      struct store_cursor **out)
{
    return store_sqlite_items_open_cols(s, coll, order, STORE_COLS_ALL, out);
}

enum store_rc store_sqlite_items_open_cols(struct store *s,
                                           uint64_t coll,
                                           enum store_order order,
                                           enum store_item_cols cols,
                                           struct store_cursor **out)
{
    bool by_name = order == STORE_ORDER_NAME;
    enum store_db_cursor_id q =
        cols == STORE_COLS_NAMES     ? (by_name ? CQ_NAMES_BY_NAME : CQ_NAMES_BY_MODSEQ)
        : cols == STORE_COLS_LISTING ? (by_name ? CQ_LIST_BY_NAME : CQ_LIST_BY_MODSEQ)
        : by_name                    ? CQ_ITEMS_BY_NAME
                                     : CQ_ITEMS_BY_MODSEQ;
    enum store_rc rc = cursor_open(s, q, out);
    if (rc == STORE_OK) {
        store_db_bind_u64(sqc(*out)->stmt, 1, coll);
        sqc(*out)->coll = coll;
    }
    return rc;
}

enum store_rc
store_sqlite_changes_open(struct store *s, uint64_t coll, uint64_t since, struct store_cursor **out)
{
    return store_sqlite_changes_open_cols(s, coll, since, STORE_COLS_ALL, out);
}

enum store_rc store_sqlite_changes_open_cols(struct store *s,
                                             uint64_t coll,
                                             uint64_t since,
                                             enum store_item_cols cols,
                                             struct store_cursor **out)
{
    enum store_rc rc = cursor_open(s,
                                   cols == STORE_COLS_NAMES     ? CQ_NAMES_CHANGES
                                   : cols == STORE_COLS_LISTING ? CQ_LIST_CHANGES
                                                                : CQ_CHANGES,
                                   out);
    if (rc == STORE_OK) {
        store_db_bind_u64(sqc(*out)->stmt, 1, coll);
        store_db_bind_u64(sqc(*out)->stmt, 2, since);
        sqc(*out)->coll = coll;
    }
    return rc;
}

enum store_rc store_sqlite_items_in_range_open(struct store *s,
                                               uint64_t coll,
                                               int64_t start,
                                               int64_t end,
                                               enum store_range_by by,
                                               struct store_cursor **out)
{
    enum store_rc rc = cursor_open(s, CQ_RANGE, out);
    if (rc != STORE_OK) {
        return rc;
    }
    /* by span: the spans of both kinds; by instance: the spans of items without boxes and
     * the boxes (the kinds are ordered so that each choice is one key range) */
    bool by_span = (by & ~STORE_RANGE_CONTENT) == STORE_RANGE_SPAN; /* content: a lookup here */
    enum store_db_span_kind first = by_span ? STORE_DB_SPAN_SERIES : STORE_DB_SPAN_PLAIN;
    enum store_db_span_kind last = by_span ? STORE_DB_SPAN_PLAIN : STORE_DB_SPAN_INSTANCE;
    sqlite3_stmt *st = sqc(*out)->stmt;
    store_db_bind_u64(st, 1, coll);
    sqlite3_bind_int64(st, 2, start);
    sqlite3_bind_int64(st, 3, end);
    sqlite3_bind_int64(st, 4, span_key(coll, first));
    sqlite3_bind_int64(st, 5, span_key(coll, last));
    sqlite3_bind_int(st, 6, span_minute(start, false));
    sqlite3_bind_int(st, 7, span_minute(end, true));
    return STORE_OK;
}

enum store_rc store_sqlite_children_open(struct store *s, uint64_t coll, struct store_cursor **out)
{
    enum store_rc rc = cursor_open(s, CQ_CHILDREN, out);
    if (rc == STORE_OK) {
        store_db_bind_u64(sqc(*out)->stmt, 1, coll);
    }
    return rc;
}

enum store_rc store_sqlite_all_colls_open(struct store *s, struct store_cursor **out)
{
    return cursor_open(s, CQ_ALL_COLLS, out);
}

enum store_rc store_sqlite_cursor_next_item(struct store_cursor *c, struct store_item *row_out)
{
    if (cursor_is_coll(c)) {
        return store_db_fail_msg(c->s, STORE_IO, "not an item cursor");
    }
    enum store_rc rc = store_db_step_one(c->s, sqc(c)->stmt);
    if (rc == STORE_OK && cursor_is_listing(sqc(c))) {
        read_listing_row(sqc(c), row_out);
    } else if (rc == STORE_OK) {
        store_db_read_item(sqc(c)->stmt, NULL, false, row_out);
        row_out->is_tombstone = sqc(c)->query == CQ_CHANGES &&
                                sqlite3_column_int(sqc(c)->stmt, STORE_DB_ITEM_NCOLS) == 1;
        if (sqc(c)->query == CQ_RANGE &&
            sqlite3_column_type(sqc(c)->stmt, STORE_DB_ITEM_NCOLS) != SQLITE_NULL) {
            row_out->cal.has_instances = true;
            row_out->cal.instances = sqlite3_column_blob(sqc(c)->stmt, STORE_DB_ITEM_NCOLS);
            row_out->cal.instances_size =
                (size_t)sqlite3_column_bytes(sqc(c)->stmt, STORE_DB_ITEM_NCOLS);
            if (!row_out->cal.instances) {
                row_out->cal.instances = ""; /* an empty index: no instance at all */
            }
        }
    }
    return rc;
}

enum store_rc store_sqlite_cursor_next_coll(struct store_cursor *c, struct store_coll *row_out)
{
    if (!cursor_is_coll(c)) {
        return store_db_fail_msg(c->s, STORE_IO, "not a collection cursor");
    }
    enum store_rc rc = store_db_step_one(c->s, sqc(c)->stmt);
    if (rc == STORE_OK) {
        store_db_read_coll(sqc(c)->stmt, NULL, row_out);
    }
    return rc;
}

void store_sqlite_cursor_close(struct store_cursor **cp)
{
    struct store_cursor *c = *cp;
    if (!c) {
        return;
    }
    store_db_reset(sqc(c)->stmt);
    if (!sq(c->s)->c.idle_cursors[sqc(c)->query]) {
        sq(c->s)->c.idle_cursors[sqc(c)->query] = sqc(c)->stmt;
    } else {
        sqlite3_finalize(sqc(c)->stmt);
    }
    struct store *s = c->s;
    free(c);
    *cp = NULL;
    store_db_cursor_closed(s);
}

/* ---------------------------------------------------------------------------------------- */
/* Dead properties */

static void bind_res(sqlite3_stmt *st, enum store_res_kind kind, uint64_t id)
{
    sqlite3_bind_int(st, 1, kind);
    store_db_bind_u64(st, 2, id);
}

/* STORE_NOTFOUND unless the resource exists: a property never outlives, or precedes, it. */
static enum store_rc check_res(struct store *s, enum store_res_kind kind, uint64_t id)
{
    if (kind == STORE_RES_COLL) {
        return store_db_check_coll(s, id);
    }
    sqlite3_stmt *st = store_db_stmt(s, S_ITEM_EXISTS);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_u64(st, 1, id);
    enum store_rc rc = store_db_step_one(s, st);
    store_db_reset(st);
    return rc == STORE_NOTFOUND ? store_db_fail_msg(s, rc, "no such item") : rc;
}

enum store_rc store_sqlite_prop_set(struct store *s,
                                    enum store_res_kind kind,
                                    uint64_t id,
                                    const struct store_prop *p)
{
    enum store_rc rc = check_res(s, kind, id);
    if (rc != STORE_OK) {
        return rc;
    }
    sqlite3_stmt *st = store_db_stmt(s, S_PROP_SET);
    if (!st) {
        return STORE_IO;
    }
    bind_res(st, kind, id);
    store_db_bind_text(st, 3, p->ns);
    store_db_bind_text(st, 4, p->name);
    sqlite3_bind_blob64(st, 5, p->value_len ? p->value : "", p->value_len, SQLITE_STATIC);
    return store_db_exec(s, st);
}

enum store_rc store_sqlite_prop_del(
    struct store *s, enum store_res_kind kind, uint64_t id, const char *ns, const char *name)
{
    sqlite3_stmt *st = store_db_stmt(s, S_PROP_DEL);
    if (!st) {
        return STORE_IO;
    }
    bind_res(st, kind, id);
    store_db_bind_text(st, 3, ns);
    store_db_bind_text(st, 4, name);
    return store_db_exec(s, st);
}

/* The value is NUL-terminated in the arena (callers may treat it as a string); borrowed from
 * the statement without an arena. */
static void read_prop(sqlite3_stmt *st, struct arena *arena, struct store_prop *out)
{
    out->ns = store_db_col_text(st, 0, arena);
    out->name = store_db_col_text(st, 1, arena);
    const void *v = sqlite3_column_blob(st, 2);
    out->value_len = (size_t)sqlite3_column_bytes(st, 2);
    if (!v) {
        v = "";
    }
    out->value = arena ? arena_strndup(arena, v, out->value_len) : v;
}

enum store_rc store_sqlite_prop_get(struct store *s,
                                    enum store_res_kind kind,
                                    uint64_t id,
                                    const char *ns,
                                    const char *name,
                                    struct arena *arena,
                                    struct store_prop *out)
{
    sqlite3_stmt *st = store_db_stmt(s, S_PROP_GET);
    if (!st) {
        return STORE_IO;
    }
    bind_res(st, kind, id);
    store_db_bind_text(st, 3, ns);
    store_db_bind_text(st, 4, name);
    enum store_rc rc = store_db_step_one(s, st);
    if (rc == STORE_OK) {
        read_prop(st, arena, out);
    } else if (rc == STORE_NOTFOUND) {
        store_db_fail_msg(s, rc, "no such property");
    }
    store_db_reset(st);
    return rc;
}

struct prop_cb {
    store_prop_fn *fn;
    void *ctx;
};

static int prop_row(sqlite3_stmt *st, void *cb)
{
    struct prop_cb *c = cb;
    struct store_prop p;
    read_prop(st, NULL, &p);
    return c->fn(c->ctx, &p);
}

enum store_rc store_sqlite_prop_list(
    struct store *s, enum store_res_kind kind, uint64_t id, store_prop_fn *fn, void *ctx)
{
    sqlite3_stmt *st = store_db_stmt(s, S_PROP_LIST);
    if (!st) {
        return STORE_IO;
    }
    bind_res(st, kind, id);
    struct prop_cb cb = {fn, ctx};
    return store_db_each_row(s, st, prop_row, &cb);
}

enum store_rc store_sqlite_prop_copy(struct store *s,
                                     enum store_res_kind from_kind,
                                     uint64_t from_id,
                                     enum store_res_kind to_kind,
                                     uint64_t to_id)
{
    enum store_rc rc = check_res(s, to_kind, to_id);
    if (rc != STORE_OK) {
        return rc;
    }
    sqlite3_stmt *st = store_db_stmt(s, S_PROP_COPY);
    if (!st) {
        return STORE_IO;
    }
    bind_res(st, from_kind, from_id);
    sqlite3_bind_int(st, 3, to_kind);
    store_db_bind_u64(st, 4, to_id);
    return store_db_exec(s, st);
}
