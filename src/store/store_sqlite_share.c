/* store/store_sqlite_share.c: shared calendars in the SQLite engine (schema/009_shares.sql,
 * store.h "Shared calendars"). Its statements are its own table below, cached per connection
 * in sq(s)->c.share_stmts. The rule that a share's name and the names of the sharee's own home
 * members never meet is kept from both sides: here (a grant never takes a member's name) and
 * in store_db_check_no_child (a member never takes a share's name). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store/store.h"
#include "store/store_sqlite_int.h"
#include "util/arena.h"
#include "util/timeutil.h"

enum share_stmt_id {
    H_COLL,
    H_SHAREE,
    H_NAME_TAKEN,
    H_INSERT,
    H_SET_ACCESS,
    H_DEL,
    H_GET,
    H_LOOKUP,
    H_LIST_SHAREE,
    H_LIST_COLL,
    H_LIST_OWNER,
    H_HOMES_OF_SUBTREE,
    H_HOMES_OF_OWNER,
    H_COUNT
};

#define SHARE_COLS                                                                     \
  "SELECT sh.coll, c.owner, sh.sharee, sh.access, sh.name, c.name, op.name, sp.name, " \
  "sh.created FROM shares sh JOIN collections c ON c.id = sh.coll "                    \
  "JOIN principals op ON op.id = c.owner JOIN principals sp ON sp.id = sh.sharee "

static const char *const share_sql[H_COUNT] = {
    [H_COLL] = "SELECT c.owner, c.kind, c.name, p.name FROM collections c "
               "JOIN principals p ON p.id = c.owner WHERE c.id = ?1",
    [H_SHAREE] = "SELECT home_id FROM principals WHERE id = ?1",
    [H_NAME_TAKEN] = "SELECT 1 FROM shares WHERE sharee = ?1 AND name = ?2 UNION ALL "
                     "SELECT 1 FROM collections WHERE parent = ?3 AND name = ?2 UNION ALL "
                     "SELECT 1 FROM items WHERE coll = ?3 AND name = ?2 LIMIT 1",
    [H_INSERT] = "INSERT INTO shares(coll, sharee, access, name, created) "
                 "VALUES (?1, ?2, ?3, ?4, ?5)",
    [H_SET_ACCESS] = "UPDATE shares SET access = ?3 WHERE coll = ?1 AND sharee = ?2",
    [H_DEL] = "DELETE FROM shares WHERE coll = ?1 AND sharee = ?2",
    [H_GET] = SHARE_COLS "WHERE sh.coll = ?1 AND sh.sharee = ?2",
    [H_LOOKUP] = SHARE_COLS "WHERE sh.sharee = ?1 AND sh.name = ?2",
    [H_LIST_SHAREE] = SHARE_COLS "WHERE sh.sharee = ?1 ORDER BY sh.name",
    [H_LIST_COLL] = SHARE_COLS "WHERE sh.coll = ?1 ORDER BY sp.name",
    [H_LIST_OWNER] = SHARE_COLS "WHERE c.owner = ?1 ORDER BY c.name, sp.name",
    /* the homes of the sharees of `?1` and of every collection below it */
    [H_HOMES_OF_SUBTREE] = "WITH RECURSIVE sub(id) AS (SELECT ?1 UNION ALL "
                           "SELECT c.id FROM collections c JOIN sub ON c.parent = sub.id) "
                           "SELECT DISTINCT p.home_id FROM shares sh JOIN sub ON sh.coll = sub.id "
                           "JOIN principals p ON p.id = sh.sharee",
    [H_HOMES_OF_OWNER] = "SELECT DISTINCT p.home_id FROM shares sh "
                         "JOIN collections c ON c.id = sh.coll "
                         "JOIN principals p ON p.id = sh.sharee WHERE c.owner = ?1",
};

static sqlite3_stmt *share_stmt(struct store *s, enum share_stmt_id id)
{
    if (!sq(s)->c.share_stmts) {
        sq(s)->c.share_stmts = calloc(H_COUNT, sizeof(*sq(s)->c.share_stmts));
        if (!sq(s)->c.share_stmts) {
            abort(); /* STYLE.md §3.3: allocation failure aborts */
        }
    }
    return store_db_stmt_cached(s, &sq(s)->c.share_stmts[id], share_sql[id]);
}

void store_db_share_free(struct store *s)
{
    if (!sq(s)->c.share_stmts) {
        return;
    }
    for (int i = 0; i < H_COUNT; i++) {
        sqlite3_finalize(sq(s)->c.share_stmts[i]);
    }
    free(sq(s)->c.share_stmts);
    sq(s)->c.share_stmts = NULL;
}

static void read_share(sqlite3_stmt *st, struct arena *arena, struct store_share *out)
{
    out->coll = store_db_col_u64(st, 0);
    out->owner = store_db_col_u64(st, 1);
    out->sharee = store_db_col_u64(st, 2);
    out->access = (enum store_share_access)sqlite3_column_int(st, 3);
    out->name = store_db_col_text(st, 4, arena);
    out->coll_name = store_db_col_text(st, 5, arena);
    out->owner_name = store_db_col_text(st, 6, arena);
    out->sharee_name = store_db_col_text(st, 7, arena);
    out->created = sqlite3_column_int64(st, 8);
}

/* A single-row grant query bound by the caller: STORE_NOTFOUND ("no such share") or *out. */
static enum store_rc
share_row(struct store *s, sqlite3_stmt *st, struct arena *arena, struct store_share *out)
{
    enum store_rc rc = store_db_step_one(s, st);
    if (rc == STORE_OK && out) {
        read_share(st, arena, out);
    } else if (rc == STORE_NOTFOUND) {
        store_db_fail_msg(s, rc, "no such share");
    }
    store_db_reset(st);
    return rc;
}

enum store_rc store_sqlite_share_get(
    struct store *s, uint64_t coll, uint64_t sharee, struct arena *arena, struct store_share *out)
{
    sqlite3_stmt *st = share_stmt(s, H_GET);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_u64(st, 1, coll);
    store_db_bind_u64(st, 2, sharee);
    return share_row(s, st, arena, out);
}

enum store_rc store_sqlite_share_lookup(struct store *s,
                                        uint64_t sharee,
                                        const char *name,
                                        struct arena *arena,
                                        struct store_share *out)
{
    sqlite3_stmt *st = share_stmt(s, H_LOOKUP);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_u64(st, 1, sharee);
    store_db_bind_text(st, 2, name);
    return share_row(s, st, arena, out);
}

/* STORE_OK when `name` is free in the home `home` of `sharee` (no share, member collection
 * or item of that name), STORE_EXISTS when not. */
static enum store_rc name_free(struct store *s, uint64_t sharee, uint64_t home, const char *name)
{
    sqlite3_stmt *st = share_stmt(s, H_NAME_TAKEN);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_u64(st, 1, sharee);
    store_db_bind_text(st, 2, name);
    store_db_bind_u64(st, 3, home);
    enum store_rc rc = store_db_step_one(s, st);
    store_db_reset(st);
    if (rc == STORE_OK) {
        return store_db_fail_msg(s, STORE_EXISTS, "the sharee's home has that name");
    }
    return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

/* A free name for a new share: "<owner>-<calendar>", then with "-2", "-3"... appended. */
static enum store_rc pick_name(struct store *s,
                               uint64_t sharee,
                               uint64_t home,
                               const char *owner_name,
                               const char *coll_name,
                               struct arena *arena,
                               const char **out)
{
    for (unsigned n = 1; n < 1000; n++) {
        char suffix[16] = "";
        if (n > 1) {
            snprintf(suffix, sizeof(suffix), "-%u", n);
        }
        const char *name = arena_printf(arena, "%s-%s%s", owner_name, coll_name, suffix);
        if (!store_db_name_ok(name)) {
            /* too long for a segment: the calendar's name alone, still owner-free of clashes */
            name = arena_printf(arena, "shared-%s%s", coll_name, suffix);
            if (!store_db_name_ok(name)) {
                name = arena_printf(arena, "shared%s", suffix);
            }
        }
        enum store_rc rc = name_free(s, sharee, home, name);
        if (rc == STORE_OK) {
            *out = name;
            return STORE_OK;
        }
        if (rc != STORE_EXISTS) {
            return rc;
        }
    }
    return store_db_fail_msg(s, STORE_LIMIT, "no free name for the share in the sharee's home");
}

/* Bumps the home of `sharee`: their view of it changed. */
static enum store_rc bump_sharee_home(struct store *s, uint64_t sharee)
{
    sqlite3_stmt *st = share_stmt(s, H_SHAREE);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_u64(st, 1, sharee);
    enum store_rc rc = store_db_step_one(s, st);
    uint64_t home = rc == STORE_OK ? store_db_col_u64(st, 0) : 0;
    store_db_reset(st);
    if (rc == STORE_NOTFOUND) {
        return store_db_fail_msg(s, rc, "no such principal");
    }
    return rc == STORE_OK ? store_db_bump(s, home, NULL) : rc;
}

enum store_rc store_sqlite_share_set(struct store *s,
                                     uint64_t coll,
                                     uint64_t sharee,
                                     enum store_share_access access,
                                     const char *name,
                                     struct arena *arena,
                                     struct store_share *out,
                                     bool *created_out)
{
    if (created_out) {
        *created_out = false;
    }
    if (access != STORE_SHARE_READ && access != STORE_SHARE_READ_WRITE) {
        return store_db_fail_msg(s, STORE_LIMIT, "unknown share access");
    }
    if (name && !store_db_name_ok(name)) {
        return store_db_fail_msg(s, STORE_LIMIT, "share name length out of bounds");
    }
    sqlite3_stmt *st = share_stmt(s, H_COLL);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_u64(st, 1, coll);
    enum store_rc rc = store_db_step_one(s, st);
    uint64_t owner = 0;
    int kind = 0;
    const char *coll_name = NULL;
    const char *owner_name = NULL;
    if (rc == STORE_OK) {
        owner = store_db_col_u64(st, 0);
        kind = sqlite3_column_int(st, 1);
        coll_name = store_db_col_text(st, 2, arena);
        owner_name = store_db_col_text(st, 3, arena);
    }
    store_db_reset(st);
    if (rc == STORE_NOTFOUND) {
        return store_db_fail_msg(s, rc, "no such collection");
    }
    if (rc != STORE_OK) {
        return rc;
    }
    if (kind == STORE_COLL_HOME) {
        return store_db_fail_msg(s, STORE_CONFLICT, "a home cannot be shared");
    }
    if (owner == sharee) {
        return store_db_fail_msg(s, STORE_CONFLICT, "the owner cannot be a sharee");
    }
    st = share_stmt(s, H_SHAREE);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_u64(st, 1, sharee);
    rc = store_db_step_one(s, st);
    uint64_t home = rc == STORE_OK ? store_db_col_u64(st, 0) : 0;
    store_db_reset(st);
    if (rc == STORE_NOTFOUND) {
        return store_db_fail_msg(s, rc, "no such principal");
    }
    if (rc != STORE_OK) {
        return rc;
    }

    struct store_share had;
    rc = store_share_get(s, coll, sharee, arena, &had);
    if (rc == STORE_OK) {
        if (had.access != access) {
            st = share_stmt(s, H_SET_ACCESS);
            if (!st) {
                return STORE_IO;
            }
            store_db_bind_u64(st, 1, coll);
            store_db_bind_u64(st, 2, sharee);
            sqlite3_bind_int(st, 3, access);
            rc = store_db_exec(s, st);
            if (rc == STORE_OK) {
                rc = bump_sharee_home(s, sharee);
            }
        }
        return rc == STORE_OK ? store_share_get(s, coll, sharee, arena, out) : rc;
    }
    if (rc != STORE_NOTFOUND) {
        return rc;
    }

    if (name) {
        rc = name_free(s, sharee, home, name);
    } else {
        rc = pick_name(s, sharee, home, owner_name, coll_name, arena, &name);
    }
    if (rc != STORE_OK) {
        return rc;
    }
    st = share_stmt(s, H_INSERT);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_u64(st, 1, coll);
    store_db_bind_u64(st, 2, sharee);
    sqlite3_bind_int(st, 3, access);
    store_db_bind_text(st, 4, name);
    sqlite3_bind_int64(st, 5, time_now());
    rc = store_db_exec(s, st);
    if (rc == STORE_OK) {
        rc = store_db_bump(s, home, NULL);
    }
    if (rc != STORE_OK) {
        return rc;
    }
    if (created_out) {
        *created_out = true;
    }
    return store_share_get(s, coll, sharee, arena, out);
}

enum store_rc store_sqlite_share_del(struct store *s, uint64_t coll, uint64_t sharee)
{
    sqlite3_stmt *st = share_stmt(s, H_DEL);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_u64(st, 1, coll);
    store_db_bind_u64(st, 2, sharee);
    enum store_rc rc = store_db_exec(s, st);
    if (rc == STORE_OK && sqlite3_changes(sq(s)->c.db) == 0) {
        return store_db_fail_msg(s, STORE_NOTFOUND, "no such share");
    }
    return rc == STORE_OK ? bump_sharee_home(s, sharee) : rc;
}

struct list_ctx {
    store_share_fn *fn;
    void *ctx;
};

static int list_row(sqlite3_stmt *st, void *cb)
{
    struct list_ctx *l = cb;
    struct store_share sh;
    read_share(st, NULL, &sh);
    return l->fn(l->ctx, &sh);
}

static enum store_rc
list_by(struct store *s, enum share_stmt_id id, uint64_t key, store_share_fn *fn, void *ctx)
{
    sqlite3_stmt *st = share_stmt(s, id);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_u64(st, 1, key);
    struct list_ctx l = {fn, ctx};
    return store_db_each_row(s, st, list_row, &l);
}

enum store_rc
store_sqlite_share_list_of_sharee(struct store *s, uint64_t sharee, store_share_fn *fn, void *ctx)
{
    return list_by(s, H_LIST_SHAREE, sharee, fn, ctx);
}

enum store_rc
store_sqlite_share_list_of_coll(struct store *s, uint64_t coll, store_share_fn *fn, void *ctx)
{
    return list_by(s, H_LIST_COLL, coll, fn, ctx);
}

enum store_rc
store_sqlite_share_list_of_owner(struct store *s, uint64_t owner, store_share_fn *fn, void *ctx)
{
    return list_by(s, H_LIST_OWNER, owner, fn, ctx);
}

/* ---------------------------------------------------------------------------------------- */
/* Sharees' homes when shared collections go away */

struct homes {
    uint64_t *ids;
    size_t n, cap;
};

static int collect_home(sqlite3_stmt *st, void *cb)
{
    struct homes *h = cb;
    if (h->n == h->cap) {
        h->cap = h->cap ? 2 * h->cap : 16;
        h->ids = realloc(h->ids, h->cap * sizeof(*h->ids));
        if (!h->ids) {
            abort(); /* STYLE.md §3.3 */
        }
    }
    h->ids[h->n++] = store_db_col_u64(st, 0);
    return 0;
}

static enum store_rc bump_homes(struct store *s, enum share_stmt_id id, uint64_t key)
{
    sqlite3_stmt *st = share_stmt(s, id);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_u64(st, 1, key);
    struct homes h = {0};
    enum store_rc rc = store_db_each_row(s, st, collect_home, &h);
    for (size_t i = 0; rc == STORE_OK && i < h.n; i++) {
        rc = store_db_bump(s, h.ids[i], NULL);
    }
    free(h.ids);
    return rc;
}

enum store_rc store_db_share_bump_subtree(struct store *s, uint64_t coll)
{
    return bump_homes(s, H_HOMES_OF_SUBTREE, coll);
}

enum store_rc store_db_share_bump_owner(struct store *s, uint64_t owner)
{
    return bump_homes(s, H_HOMES_OF_OWNER, owner);
}
