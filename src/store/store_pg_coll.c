/* store/store_pg_coll.c: collections on PostgreSQL (store.h "Collections"), as
 * store_sqlite_coll.c's: the tree of each principal, the modseq every member write bumps,
 * history cuts and tombstone pruning, and the rule that a name in a collection is one child
 * collection or one live item, never both.
 *
 * Concurrency (store_pg_int.h): SQLite has one writer at a time; here writers run together
 * under READ COMMITTED. A write that checks a name in a parent and then takes it first locks
 * the parent's row (lock_parent: FOR NO KEY UPDATE, the lock the modseq bump takes anyway),
 * so every writer of names in that parent queues there, and the check, made by statements
 * that start after the lock was granted, sees every name committed before: check and insert
 * cannot interleave with another's. */
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "store/store.h"
#include "store/store_pg_int.h"
#include "util/compiler.h"
#include "util/log.h"
#include "util/sec.h"
#include "util/timeutil.h"

#define COLL_COLS STORE_PG_COLL_COLS

/* The recursive set of collection $1 and everything below it. */
#define SUBTREE                                             \
  "WITH RECURSIVE sub(id) AS (SELECT $1::bigint UNION ALL " \
  "SELECT c.id FROM collections c JOIN sub ON c.parent = sub.id) "

void store_pg_read_coll(const PGresult *res, int row, struct arena *arena, struct store_coll *out)
{
    out->id = store_pg_col_u64(res, row, 0);
    out->owner = store_pg_col_u64(res, row, 1);
    out->parent = store_pg_col_u64(res, row, 2); /* NULL (a home) reads as 0 */
    out->kind = (enum store_coll_kind)store_pg_col_i64(res, row, 3);
    out->name = store_pg_col_text(res, row, 4, arena);
    out->modseq = store_pg_col_u64(res, row, 5);
    out->epoch = store_pg_col_u64(res, row, 6);
    store_pg_col_bytes(res, row, 7, out->change_guid, STORE_GUID_BYTES);
    out->tomb_horizon = store_pg_col_u64(res, row, 8);
    out->created = store_pg_col_i64(res, row, 9);
    out->updated = store_pg_col_i64(res, row, 10);
    out->comps = (unsigned)store_pg_col_i64(res, row, 11);
}

static enum store_rc coll_row(struct store *s,
                              const char *sql,
                              const struct store_pg_params *p,
                              struct arena *arena,
                              struct store_coll *out)
{
    PGresult *res = NULL;
    enum store_rc rc = store_pg_exec_snap(s, sql, p, &res);
    if (rc == STORE_OK && PQntuples(res) == 0) {
        rc = store_pg_fail_msg(s, STORE_NOTFOUND, "no such collection");
    }
    if (rc == STORE_OK && out) {
        store_pg_read_coll(res, 0, arena, out);
    }
    store_pg_snap_clear(s, res);
    return rc;
}

const char store_pg_coll_by_id_sql[] = "SELECT " COLL_COLS " FROM collections WHERE id = $1";

enum store_rc
store_pg_coll_get(struct store *s, uint64_t id, struct arena *arena, struct store_coll *out)
{
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, id);
    return coll_row(s, store_pg_coll_by_id_sql, &p, arena, out);
}

const char store_pg_coll_by_name_sql[] =
    "SELECT " COLL_COLS " FROM collections WHERE parent = $1 AND name = $2";

const char store_pg_colls_by_names_sql[] =
    "SELECT " COLL_COLS " FROM collections WHERE parent = $1 AND "
    "name = ANY(string_to_array($2, '/'))";

enum store_rc store_pg_coll_lookup(
    struct store *s, uint64_t parent, const char *name, struct arena *arena, struct store_coll *out)
{
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, parent);
    store_pg_p_text(&p, name);
    /* a path's last segment is looked up as a collection, then (none) as an item: in a read
     * transaction the item's answer comes in the same round trip (store_pg_exec_snap_also) */
    struct store_pg_params item = {0};
    store_pg_item_by_name_params(&item, parent, name);
    PGresult *res = NULL;
    enum store_rc rc = store_pg_exec_snap_also(s, store_pg_coll_by_name_sql, &p, &res,
                                               store_pg_item_by_name_sql, &item);
    if (rc == STORE_OK && PQntuples(res) == 0) {
        rc = store_pg_fail_msg(s, STORE_NOTFOUND, "no such collection");
    }
    if (rc == STORE_OK && out) {
        store_pg_read_coll(res, 0, arena, out);
    }
    store_pg_snap_clear(s, res);
    return rc;
}

/* Locks collection `id`'s row to the end of the transaction (see the top of this file) and
 * reads it into *out (strings not kept). */
static enum store_rc lock_coll(struct store *s, uint64_t id, struct store_coll *out)
{
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, id);
    return coll_row(s, "SELECT " COLL_COLS " FROM collections WHERE id = $1 FOR NO KEY UPDATE", &p,
                    NULL, out);
}

/* STORE_EXISTS unless `name` is free in `parent`: no live item, no child collection, and no
 * share its sharee sees by that name when `parent` is a home. */
static enum store_rc check_name_free(struct store *s, uint64_t parent, const char *name)
{
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, parent);
    store_pg_p_text(&p, name);
    PGresult *res = NULL;
    enum store_rc rc =
        store_pg_exec(s,
                      "SELECT 1 FROM items WHERE coll = $1 AND name = $2 UNION ALL "
                      "SELECT 2 FROM collections WHERE parent = $1 AND name = $2 UNION ALL "
                      "SELECT 2 FROM shares sh JOIN principals p ON p.id = sh.sharee "
                      "WHERE p.home_id = $1 AND sh.name = $2 LIMIT 1",
                      &p, &res);
    if (rc == STORE_OK && PQntuples(res) > 0) {
        rc = store_pg_fail_msg(s, STORE_EXISTS,
                               store_pg_col_i64(res, 0, 0) == 1
                                   ? "an item has that name"
                                   : "a collection or a share has that name");
    }
    PQclear(res);
    return rc;
}

static bool name_ok(const char *name)
{
    size_t n = strlen(name);
    return n > 0 && n <= STORE_NAME_MAX;
}

enum store_rc store_pg_coll_create(struct store *s,
                                   uint64_t parent,
                                   const char *name,
                                   enum store_coll_kind kind,
                                   struct arena *arena,
                                   struct store_coll *out)
{
    if (!name_ok(name)) {
        return store_pg_fail_msg(s, STORE_LIMIT, "collection name length out of bounds");
    }
    struct store_coll par;
    enum store_rc rc = lock_coll(s, parent, &par);
    if (rc == STORE_OK) {
        rc = check_name_free(s, parent, name);
    }
    if (rc != STORE_OK) {
        return rc;
    }
    uint8_t guid[STORE_GUID_BYTES];
    sec_random(guid, sizeof(guid));
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, par.owner);
    store_pg_p_u64(&p, parent);
    store_pg_p_i64(&p, kind);
    store_pg_p_text(&p, name);
    store_pg_p_u64(&p, sec_random_u64() >> 1); /* the epoch: fits a signed column */
    store_pg_p_bytes(&p, guid, sizeof(guid));
    store_pg_p_i64(&p, time_now());
    PGresult *res = NULL;
    rc = store_pg_exec(s,
                       "INSERT INTO collections(owner, parent, kind, name, modseq, epoch, "
                       "change_guid, tomb_horizon, created, updated) "
                       "VALUES ($1, $2, $3, $4, 1, $5, $6, 0, $7, $7) RETURNING " COLL_COLS,
                       &p, &res);
    if (rc == STORE_OK && out) {
        store_pg_read_coll(res, 0, arena, out);
    }
    store_pg_snap_clear(s, res);
    if (rc == STORE_OK) {
        rc = store_pg_bump(s, parent, NULL);
    }
    return rc;
}

enum store_rc store_pg_coll_set_comps(struct store *s, uint64_t id, unsigned comps)
{
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, id);
    store_pg_p_u64(&p, comps);
    uint64_t n = 0;
    enum store_rc rc = store_pg_run(s, "UPDATE collections SET comps = $2 WHERE id = $1", &p, &n);
    if (rc == STORE_OK && n == 0) {
        rc = store_pg_fail_msg(s, STORE_NOTFOUND, "no such collection");
    }
    return rc;
}

enum store_rc
store_pg_coll_usage(struct store *s, uint64_t id, uint64_t *items_out, uint64_t *bytes_out)
{
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, id);
    PGresult *res = NULL;
    enum store_rc rc = store_pg_exec(
        s, "SELECT count(*), coalesce(sum(size), 0)::bigint FROM items WHERE coll = $1", &p, &res);
    if (rc == STORE_OK) {
        *items_out = store_pg_col_u64(res, 0, 0);
        *bytes_out = store_pg_col_u64(res, 0, 1);
    }
    PQclear(res);
    return rc;
}

/* Bumps the home of every sharee of collection $1 or of a collection below it, before they
 * go (the cascade would drop the grants without a trace in the sharees' homes). In id order,
 * so two such writers lock the homes in the same order. */
static enum store_rc bump_sharees_of_subtree(struct store *s, uint64_t coll)
{
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, coll);
    PGresult *res = NULL;
    enum store_rc rc = store_pg_exec(s,
                                     SUBTREE "SELECT DISTINCT p.home_id FROM shares sh "
                                             "JOIN sub ON sh.coll = sub.id "
                                             "JOIN principals p ON p.id = sh.sharee "
                                             "WHERE p.home_id IS NOT NULL ORDER BY 1",
                                     &p, &res);
    for (int i = 0; rc == STORE_OK && i < PQntuples(res); i++) {
        rc = store_pg_bump(s, store_pg_col_u64(res, i, 0), NULL);
    }
    PQclear(res);
    return rc;
}

/* Dead properties of the subtree go first (they have no foreign key); the row then cascades
 * through sub-collections, items (content, instances, interval boxes) and tombstones. */
enum store_rc store_pg_coll_delete(struct store *s, uint64_t id)
{
    struct store_coll c;
    enum store_rc rc = store_pg_coll_get(s, id, NULL, &c);
    if (rc != STORE_OK) {
        return rc;
    }
    if (c.kind == STORE_COLL_HOME) {
        return store_pg_fail_msg(s, STORE_CONFLICT, "a home cannot be deleted");
    }
    rc = bump_sharees_of_subtree(s, id);
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, id);
    if (rc == STORE_OK) {
        rc =
            store_pg_run(s,
                         SUBTREE "DELETE FROM props WHERE (res_kind = 0 AND res_id IN "
                                 "(SELECT id FROM sub)) OR (res_kind = 1 AND res_id IN "
                                 "(SELECT i.id FROM items i WHERE i.coll IN (SELECT id FROM sub)))",
                         &p, NULL);
    }
    if (rc == STORE_OK) {
        rc = store_pg_run(s, "DELETE FROM collections WHERE id = $1", &p, NULL);
    }
    if (rc == STORE_OK) {
        rc = store_pg_bump(s, c.parent, NULL);
    }
    return rc;
}

/* STORE_CONFLICT when `target` is `id` or below it (moving there would make a cycle). */
static enum store_rc check_not_below(struct store *s, uint64_t id, uint64_t target)
{
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, id);
    store_pg_p_u64(&p, target);
    PGresult *res = NULL;
    enum store_rc rc = store_pg_exec(s, SUBTREE "SELECT 1 FROM sub WHERE id = $2", &p, &res);
    if (rc == STORE_OK && PQntuples(res) > 0) {
        rc = store_pg_fail_msg(s, STORE_CONFLICT, "cannot move a collection below itself");
    }
    PQclear(res);
    return rc;
}

/* The two parents are locked in id order (no deadlock between two crossing moves). */
enum store_rc
store_pg_coll_move(struct store *s, uint64_t id, uint64_t new_parent, const char *new_name)
{
    if (!name_ok(new_name)) {
        return store_pg_fail_msg(s, STORE_LIMIT, "collection name length out of bounds");
    }
    struct store_coll c;
    struct store_coll np;
    enum store_rc rc = store_pg_coll_get(s, id, NULL, &c);
    if (rc == STORE_OK && c.kind == STORE_COLL_HOME) {
        return store_pg_fail_msg(s, STORE_CONFLICT, "cannot move a home or across owners");
    }
    if (rc == STORE_OK && c.parent < new_parent) {
        rc = lock_coll(s, c.parent, &np);
    }
    if (rc == STORE_OK) {
        rc = lock_coll(s, new_parent, &np);
    }
    if (rc == STORE_OK && c.parent > new_parent) {
        struct store_coll old;
        rc = lock_coll(s, c.parent, &old);
    }
    if (rc != STORE_OK) {
        return rc;
    }
    if (np.owner != c.owner) {
        return store_pg_fail_msg(s, STORE_CONFLICT, "cannot move a home or across owners");
    }
    rc = check_not_below(s, id, new_parent);
    if (rc == STORE_OK) {
        rc = check_name_free(s, new_parent, new_name);
    }
    if (rc != STORE_OK) {
        return rc;
    }
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, id);
    store_pg_p_u64(&p, new_parent);
    store_pg_p_text(&p, new_name);
    store_pg_p_i64(&p, time_now());
    rc = store_pg_run(
        s, "UPDATE collections SET parent = $2, name = $3, updated = $4 WHERE id = $1", &p, NULL);
    if (rc == STORE_OK) {
        rc = store_pg_bump(s, c.parent, NULL);
    }
    if (rc == STORE_OK && new_parent != c.parent) {
        rc = store_pg_bump(s, new_parent, NULL);
    }
    return rc;
}

enum store_rc store_pg_coll_touch(struct store *s, uint64_t id, uint64_t *modseq_out)
{
    return store_pg_bump(s, id, modseq_out);
}

enum store_rc store_pg_coll_reset_history(struct store *s, uint64_t id)
{
    uint8_t guid[STORE_GUID_BYTES];
    sec_random(guid, sizeof(guid));
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, id);
    store_pg_p_u64(&p, sec_random_u64() >> 1);
    store_pg_p_bytes(&p, guid, sizeof(guid));
    store_pg_p_i64(&p, time_now());
    uint64_t n = 0;
    enum store_rc rc = store_pg_run(s,
                                    "UPDATE collections SET epoch = $2, change_guid = $3, "
                                    "tomb_horizon = modseq, updated = $4 WHERE id = $1",
                                    &p, &n);
    if (rc == STORE_OK && n == 0) {
        return store_pg_fail_msg(s, STORE_NOTFOUND, "no such collection");
    }
    if (rc == STORE_OK) {
        p.n = 1;
        rc = store_pg_run(s, "DELETE FROM tombstones WHERE coll = $1", &p, NULL);
    }
    return rc;
}

/* O(tombstones of the collection): deleted_at has no index, pruning is a maintenance job.
 * Everything up to the newest pruned tombstone goes, and tokens below it are too old. */
enum store_rc store_pg_coll_prune_tombstones(struct store *s, uint64_t id, int64_t older_than)
{
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, id);
    store_pg_p_i64(&p, older_than);
    PGresult *res = NULL;
    enum store_rc rc = store_pg_exec(
        s, "SELECT max(modseq) FROM tombstones WHERE coll = $1 AND deleted_at < $2", &p, &res);
    bool any = rc == STORE_OK && !PQgetisnull(res, 0, 0);
    uint64_t max = any ? store_pg_col_u64(res, 0, 0) : 0;
    PQclear(res);
    if (rc != STORE_OK || !any) {
        return rc;
    }
    struct store_pg_params q = {0};
    store_pg_p_u64(&q, id);
    store_pg_p_u64(&q, max);
    rc = store_pg_run(s, "DELETE FROM tombstones WHERE coll = $1 AND modseq <= $2", &q, NULL);
    if (rc == STORE_OK) {
        /* a token at max saw every dropped tombstone */
        rc = store_pg_run(s,
                          "UPDATE collections SET tomb_horizon = greatest(tomb_horizon, $2) "
                          "WHERE id = $1",
                          &q, NULL);
    }
    return rc;
}

/* The advisory lock of the pruning job: one node prunes at a time ("almanacp"). */
#define PRUNE_LOCK "7020106184394892144"

/* Every collection by id in pages of 1024 (keyset), each pruned in a write transaction of
 * its own. Only one node at a time: the others get STORE_BUSY while one holds the lock. */
enum store_rc store_pg_prune_all_tombstones(struct store *s, int64_t older_than, size_t *colls_out)
{
    enum {
        PAGE = 1024
    };

    size_t visited = 0;
    PGresult *res = NULL;
    enum store_rc rc =
        store_pg_exec(s, "SELECT pg_try_advisory_lock(" PRUNE_LOCK ")::int", NULL, &res);
    bool is_locked = rc == STORE_OK && store_pg_col_i64(res, 0, 0) == 1;
    PQclear(res);
    if (rc == STORE_OK && !is_locked) {
        rc = store_pg_fail_msg(s, STORE_BUSY, "another node is pruning tombstones");
    }
    uint64_t after = 0;
    for (bool more = rc == STORE_OK; more;) {
        struct store_pg_params p = {0};
        store_pg_p_u64(&p, after);
        rc = store_pg_exec(s, "SELECT id FROM collections WHERE id > $1 ORDER BY id LIMIT 1024", &p,
                           &res);
        int n = rc == STORE_OK ? PQntuples(res) : 0;
        more = n == PAGE;
        for (int i = 0; rc == STORE_OK && i < n; i++) {
            uint64_t id = store_pg_col_u64(res, i, 0);
            after = id;
            visited++;
            rc = store_begin_write(s);
            if (rc == STORE_OK) {
                rc = store_pg_coll_prune_tombstones(s, id, older_than);
            }
            rc = rc == STORE_OK ? store_commit(s) : (store_rollback(s), rc);
        }
        more = more && rc == STORE_OK;
        PQclear(res);
    }
    if (is_locked) {
        enum store_rc unlock =
            store_pg_run(s, "SELECT pg_advisory_unlock(" PRUNE_LOCK ")", NULL, NULL);
        rc = rc == STORE_OK ? unlock : rc;
    }
    if (colls_out) {
        *colls_out = visited;
    }
    return rc;
}
