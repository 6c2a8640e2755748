/* store/store_sqlite_coll.c: collections in the SQLite engine: the tree of each principal,
 * the modseq counter every member write bumps, history cuts (epoch, change GUID, tomb_horizon)
 * and tombstone pruning. Owns the rule that a name in a collection is either one child
 * collection or one live item, never both (with store_sqlite_item.c). SQL text lives in
 * store_sqlite.c's statement table.
 * Depends on store_sqlite_item.c (the collection cursors) and store_sqlite.c (the shared
 * helpers: row decoding, modseq bump, name checks); neither depends on this file. */
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store/store.h"
#include "store/store_sqlite_int.h"
#include "util/timeutil.h"

/* Runs a single-row collection query; STORE_NOTFOUND when it returns nothing. */
static enum store_rc
coll_row(struct store *s, sqlite3_stmt *st, struct arena *arena, struct store_coll *out)
{
    enum store_rc rc = store_db_step_one(s, st);
    if (rc == STORE_OK) {
        store_db_read_coll(st, arena, out);
    } else if (rc == STORE_NOTFOUND) {
        store_db_fail_msg(s, rc, "no such collection");
    }
    store_db_reset(st);
    return rc;
}

enum store_rc
store_sqlite_coll_get(struct store *s, uint64_t id, struct arena *arena, struct store_coll *out)
{
    sqlite3_stmt *st = store_db_stmt(s, S_COLL_GET);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_u64(st, 1, id);
    return coll_row(s, st, arena, out);
}

enum store_rc store_sqlite_coll_lookup(
    struct store *s, uint64_t parent, const char *name, struct arena *arena, struct store_coll *out)
{
    sqlite3_stmt *st = store_db_stmt(s, S_COLL_LOOKUP);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_u64(st, 1, parent);
    store_db_bind_text(st, 2, name);
    return coll_row(s, st, arena, out);
}

/* STORE_EXISTS unless `name` is free in `parent`: no child collection and no live item. */
static enum store_rc check_name_free(struct store *s, uint64_t parent, const char *name)
{
    enum store_rc rc = store_db_check_no_item(s, parent, name);
    return rc == STORE_OK ? store_db_check_no_child(s, parent, name) : rc;
}

enum store_rc store_sqlite_coll_create(struct store *s,
                                       uint64_t parent,
                                       const char *name,
                                       enum store_coll_kind kind,
                                       struct arena *arena,
                                       struct store_coll *out)
{
    if (!store_db_name_ok(name)) {
        return store_db_fail_msg(s, STORE_LIMIT, "collection name length out of bounds");
    }
    struct store_coll p;
    enum store_rc rc = store_coll_get(s, parent, NULL, &p);
    if (rc == STORE_OK) {
        rc = check_name_free(s, parent, name);
    }
    if (rc != STORE_OK) {
        return rc;
    }
    sqlite3_stmt *st = store_db_stmt(s, S_COLL_INSERT);
    if (!st) {
        return STORE_IO;
    }
    uint8_t guid[STORE_GUID_BYTES];
    store_db_fresh_guid(guid);
    store_db_bind_u64(st, 1, p.owner);
    store_db_bind_u64(st, 2, parent);
    sqlite3_bind_int(st, 3, kind);
    store_db_bind_text(st, 4, name);
    store_db_bind_u64(st, 5, store_db_fresh_epoch());
    sqlite3_bind_blob(st, 6, guid, STORE_GUID_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, time_now());
    rc = store_db_exec(s, st);
    if (rc != STORE_OK) {
        return rc;
    }
    uint64_t id = (uint64_t)sqlite3_last_insert_rowid(sq(s)->c.db);
    rc = store_db_bump(s, parent, NULL);
    if (rc == STORE_OK && out) {
        rc = store_coll_get(s, id, arena, out);
    }
    return rc;
}

enum store_rc store_sqlite_coll_set_comps(struct store *s, uint64_t id, unsigned comps)
{
    sqlite3_stmt *st = store_db_stmt(s, S_COLL_SET_COMPS);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_u64(st, 1, id);
    sqlite3_bind_int64(st, 2, comps);
    enum store_rc rc = store_db_exec(s, st);
    if (rc == STORE_OK && sqlite3_changes(sq(s)->c.db) == 0) {
        rc = store_db_fail_msg(s, STORE_NOTFOUND, "no such collection");
    }
    return rc;
}

enum store_rc
store_sqlite_coll_usage(struct store *s, uint64_t id, uint64_t *items_out, uint64_t *bytes_out)
{
    sqlite3_stmt *st = store_db_stmt(s, S_COLL_USAGE);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_u64(st, 1, id);
    enum store_rc rc = store_db_step_one(s, st);
    if (rc == STORE_OK) {
        *items_out = store_db_col_u64(st, 0);
        *bytes_out = store_db_col_u64(st, 1);
    }
    store_db_reset(st);
    return rc;
}

/* Dead properties and item boxes of the subtree go first (they have no foreign key, and the
 * boxes are found through the items); deleting the row then
 * cascades through sub-collections (parent), items and their content, and tombstones, each
 * by an index on the referencing column, so the cost is O(rows deleted). */
enum store_rc store_sqlite_coll_delete(struct store *s, uint64_t id)
{
    struct store_coll c;
    enum store_rc rc = store_coll_get(s, id, NULL, &c);
    if (rc != STORE_OK) {
        return rc;
    }
    if (c.kind == STORE_COLL_HOME) {
        return store_db_fail_msg(s, STORE_CONFLICT, "a home cannot be deleted");
    }
    rc = store_db_share_bump_subtree(s, id);

    static const enum store_db_stmt_id steps[] = {S_COLL_DEL_PROPS, S_SPANS_COLL_DEL, S_COLL_DEL};

    for (size_t i = 0; rc == STORE_OK && i < ALM_ARRAY_LEN(steps); i++) {
        sqlite3_stmt *st = store_db_stmt(s, steps[i]);
        if (!st) {
            return STORE_IO;
        }
        store_db_bind_u64(st, 1, id);
        rc = store_db_exec(s, st);
    }
    if (rc == STORE_OK) {
        rc = store_db_bump(s, c.parent, NULL);
    }
    return rc;
}

/* STORE_CONFLICT when `target` is `id` or below it (moving there would make a cycle). */
static enum store_rc check_not_below(struct store *s, uint64_t id, uint64_t target)
{
    sqlite3_stmt *st = store_db_stmt(s, S_COLL_IS_BELOW);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_u64(st, 1, id);
    store_db_bind_u64(st, 2, target);
    enum store_rc rc = store_db_step_one(s, st);
    store_db_reset(st);
    if (rc == STORE_OK) {
        return store_db_fail_msg(s, STORE_CONFLICT, "cannot move a collection below itself");
    }
    return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

enum store_rc
store_sqlite_coll_move(struct store *s, uint64_t id, uint64_t new_parent, const char *new_name)
{
    if (!store_db_name_ok(new_name)) {
        return store_db_fail_msg(s, STORE_LIMIT, "collection name length out of bounds");
    }
    struct store_coll c;
    struct store_coll np;
    enum store_rc rc = store_coll_get(s, id, NULL, &c);
    if (rc == STORE_OK) {
        rc = store_coll_get(s, new_parent, NULL, &np);
    }
    if (rc != STORE_OK) {
        return rc;
    }
    if (c.kind == STORE_COLL_HOME || np.owner != c.owner) {
        return store_db_fail_msg(s, STORE_CONFLICT, "cannot move a home or across owners");
    }
    rc = check_not_below(s, id, new_parent);
    if (rc == STORE_OK) {
        rc = check_name_free(s, new_parent, new_name);
    }
    if (rc != STORE_OK) {
        return rc;
    }
    sqlite3_stmt *st = store_db_stmt(s, S_COLL_MOVE);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_u64(st, 1, id);
    store_db_bind_u64(st, 2, new_parent);
    store_db_bind_text(st, 3, new_name);
    sqlite3_bind_int64(st, 4, time_now());
    rc = store_db_exec(s, st);
    if (rc == STORE_OK) {
        rc = store_db_bump(s, c.parent, NULL);
    }
    if (rc == STORE_OK && new_parent != c.parent) {
        rc = store_db_bump(s, new_parent, NULL);
    }
    return rc;
}

enum store_rc store_sqlite_coll_touch(struct store *s, uint64_t id, uint64_t *modseq_out)
{
    return store_db_bump(s, id, modseq_out);
}

enum store_rc store_sqlite_coll_reset_history(struct store *s, uint64_t id)
{
    sqlite3_stmt *st = store_db_stmt(s, S_COLL_RESET);
    if (!st) {
        return STORE_IO;
    }
    uint8_t guid[STORE_GUID_BYTES];
    store_db_fresh_guid(guid);
    store_db_bind_u64(st, 1, id);
    store_db_bind_u64(st, 2, store_db_fresh_epoch());
    sqlite3_bind_blob(st, 3, guid, STORE_GUID_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, time_now());
    enum store_rc rc = store_db_exec(s, st);
    if (rc == STORE_OK && sqlite3_changes(sq(s)->c.db) == 0) {
        return store_db_fail_msg(s, STORE_NOTFOUND, "no such collection");
    }
    if (rc != STORE_OK) {
        return rc;
    }
    st = store_db_stmt(s, S_COLL_TOMB_CLEAR);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_u64(st, 1, id);
    return store_db_exec(s, st);
}

enum store_rc
store_sqlite_prune_all_tombstones(struct store *s, int64_t older_than, size_t *colls_out)
{
    /* The ids first, in one snapshot: the cursor reads the table the prunes write. */
    struct store_cursor *cur = NULL;
    size_t n = 0;
    size_t cap = 0;
    uint64_t *ids = NULL;
    enum store_rc rc = store_begin_read(s);
    if (rc == STORE_OK) {
        rc = store_all_colls_open(s, &cur);
    }
    while (rc == STORE_OK) {
        struct store_coll c;
        rc = store_cursor_next_coll(cur, &c);
        if (rc != STORE_OK) {
            break;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            uint64_t *grown = realloc(ids, cap * sizeof(*ids));
            if (!grown) {
                abort(); /* STYLE.md §3.3: allocation failure aborts */
            }
            ids = grown;
        }
        ids[n++] = c.id;
    }
    store_cursor_close(&cur);
    if (rc == STORE_NOTFOUND) {
        rc = store_commit(s);
    } else {
        store_rollback(s);
    }
    for (size_t i = 0; i < n && rc == STORE_OK; i++) {
        rc = store_begin_write(s);
        if (rc != STORE_OK) {
            break;
        }
        rc = store_coll_prune_tombstones(s, ids[i], older_than);
        if (rc == STORE_NOTFOUND) {
            rc = STORE_OK; /* deleted since the snapshot */
        }
        if (rc == STORE_OK) {
            rc = store_commit(s);
        } else {
            store_rollback(s);
        }
    }
    free(ids);
    if (colls_out) {
        *colls_out = n;
    }
    return rc;
}

/* O(tombstones of the collection): deleted_at has no index, pruning is a maintenance job. */
enum store_rc store_sqlite_coll_prune_tombstones(struct store *s, uint64_t id, int64_t older_than)
{
    sqlite3_stmt *st = store_db_stmt(s, S_COLL_TOMB_PRUNE_MAX);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_u64(st, 1, id);
    sqlite3_bind_int64(st, 2, older_than);
    enum store_rc rc = store_db_step_one(s, st);
    bool any = rc == STORE_OK && sqlite3_column_type(st, 0) != SQLITE_NULL;
    uint64_t max = any ? store_db_col_u64(st, 0) : 0;
    store_db_reset(st);
    if (rc != STORE_OK || !any) {
        return rc;
    }
    /* Everything up to the newest pruned tombstone goes, and tokens below it are too old. */
    st = store_db_stmt(s, S_COLL_TOMB_PRUNE);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_u64(st, 1, id);
    store_db_bind_u64(st, 2, max);
    rc = store_db_exec(s, st);
    if (rc != STORE_OK) {
        return rc;
    }
    st = store_db_stmt(s, S_COLL_SET_HORIZON);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_u64(st, 1, id);
    store_db_bind_u64(st, 2, max); /* a token at max saw every dropped tombstone */
    return store_db_exec(s, st);
}
