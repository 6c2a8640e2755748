/* store/store_pg_share.c: shared calendars on PostgreSQL (schema_pg/009, store.h "Shared
 * calendars"), as store_sqlite_share.c. A share's name and the names of the sharee's own home
 * members never meet: a grant checks the members' names here, under the home's row lock
 * (store_pg_lock_coll), which store_pg_coll.c's creates and moves into that home take too, so
 * the check and the insert cannot interleave with theirs. */
#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "store/store.h"
#include "store/store_pg_int.h"
#include "util/arena.h"
#include "util/timeutil.h"

#define SHARE_COLS                                                                     \
  "SELECT sh.coll, c.owner, sh.sharee, sh.access, sh.name, c.name, op.name, sp.name, " \
  "sh.created FROM shares sh JOIN collections c ON c.id = sh.coll "                    \
  "JOIN principals op ON op.id = c.owner JOIN principals sp ON sp.id = sh.sharee "

static void read_share(const PGresult *res, int row, struct arena *arena, struct store_share *out)
{
    out->coll = store_pg_col_u64(res, row, 0);
    out->owner = store_pg_col_u64(res, row, 1);
    out->sharee = store_pg_col_u64(res, row, 2);
    out->access = (enum store_share_access)store_pg_col_i64(res, row, 3);
    out->name = store_pg_col_text(res, row, 4, arena);
    out->coll_name = store_pg_col_text(res, row, 5, arena);
    out->owner_name = store_pg_col_text(res, row, 6, arena);
    out->sharee_name = store_pg_col_text(res, row, 7, arena);
    out->created = store_pg_col_i64(res, row, 8);
}

static enum store_rc share_row(struct store *s,
                               const char *sql,
                               const struct store_pg_params *p,
                               struct arena *arena,
                               struct store_share *out)
{
    PGresult *res = NULL;
    enum store_rc rc = store_pg_exec(s, sql, p, &res);
    if (rc == STORE_OK && PQntuples(res) == 0) {
        rc = store_pg_fail_msg(s, STORE_NOTFOUND, "no such share");
    }
    if (rc == STORE_OK && out) {
        read_share(res, 0, arena, out);
    }
    PQclear(res);
    return rc;
}

enum store_rc store_pg_share_get(
    struct store *s, uint64_t coll, uint64_t sharee, struct arena *arena, struct store_share *out)
{
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, coll);
    store_pg_p_u64(&p, sharee);
    return share_row(s, SHARE_COLS "WHERE sh.coll = $1 AND sh.sharee = $2", &p, arena, out);
}

enum store_rc store_pg_share_lookup(struct store *s,
                                    uint64_t sharee,
                                    const char *name,
                                    struct arena *arena,
                                    struct store_share *out)
{
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, sharee);
    store_pg_p_text(&p, name);
    return share_row(s, SHARE_COLS "WHERE sh.sharee = $1 AND sh.name = $2", &p, arena, out);
}

static bool name_ok(const char *name)
{
    size_t n = strlen(name);
    return n > 0 && n <= STORE_NAME_MAX;
}

/* STORE_OK when `name` is free in the home `home` of `sharee` (no share, member collection
 * or item of that name), STORE_EXISTS when not. */
static enum store_rc name_free(struct store *s, uint64_t sharee, uint64_t home, const char *name)
{
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, sharee);
    store_pg_p_text(&p, name);
    store_pg_p_u64(&p, home);
    PGresult *res = NULL;
    enum store_rc rc = store_pg_exec(s,
                                     "SELECT 1 FROM shares WHERE sharee = $1 AND name = $2 UNION "
                                     "ALL SELECT 1 FROM collections WHERE parent = $3 AND name = "
                                     "$2 UNION ALL SELECT 1 FROM items WHERE coll = $3 AND "
                                     "name = $2 LIMIT 1",
                                     &p, &res);
    if (rc == STORE_OK && PQntuples(res) > 0) {
        rc = store_pg_fail_msg(s, STORE_EXISTS, "the sharee's home has that name");
    }
    PQclear(res);
    return rc;
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
        if (!name_ok(name)) {
            name = arena_printf(arena, "shared-%s%s", coll_name, suffix);
            if (!name_ok(name)) {
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
    return store_pg_fail_msg(s, STORE_LIMIT, "no free name for the share in the sharee's home");
}

/* The home of principal `id`. */
static enum store_rc home_of(struct store *s, uint64_t id, uint64_t *home_out)
{
    struct store_principal p;
    enum store_rc rc = store_pg_principal_get_by_id(s, id, NULL, &p);
    *home_out = rc == STORE_OK ? p.home_id : 0;
    return rc;
}

enum store_rc store_pg_share_set(struct store *s,
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
        return store_pg_fail_msg(s, STORE_LIMIT, "unknown share access");
    }
    if (name && !name_ok(name)) {
        return store_pg_fail_msg(s, STORE_LIMIT, "share name length out of bounds");
    }
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, coll);
    PGresult *res = NULL;
    enum store_rc rc = store_pg_exec(s,
                                     "SELECT c.owner, c.kind, c.name, p.name FROM collections c "
                                     "JOIN principals p ON p.id = c.owner WHERE c.id = $1",
                                     &p, &res);
    if (rc == STORE_OK && PQntuples(res) == 0) {
        rc = store_pg_fail_msg(s, STORE_NOTFOUND, "no such collection");
    }
    uint64_t owner = rc == STORE_OK ? store_pg_col_u64(res, 0, 0) : 0;
    int64_t kind = rc == STORE_OK ? store_pg_col_i64(res, 0, 1) : 0;
    const char *coll_name = rc == STORE_OK ? store_pg_col_text(res, 0, 2, arena) : NULL;
    const char *owner_name = rc == STORE_OK ? store_pg_col_text(res, 0, 3, arena) : NULL;
    PQclear(res);
    if (rc != STORE_OK) {
        return rc;
    }
    if (kind == STORE_COLL_HOME) {
        return store_pg_fail_msg(s, STORE_CONFLICT, "a home cannot be shared");
    }
    if (owner == sharee) {
        return store_pg_fail_msg(s, STORE_CONFLICT, "the owner cannot be a sharee");
    }
    uint64_t home = 0;
    rc = home_of(s, sharee, &home);
    if (rc == STORE_OK) {
        rc = store_pg_lock_coll(s, home);
    }
    if (rc != STORE_OK) {
        return rc;
    }
    struct store_share had;
    rc = store_pg_share_get(s, coll, sharee, arena, &had);
    if (rc == STORE_OK) {
        if (had.access != access) {
            struct store_pg_params q = {0};
            store_pg_p_u64(&q, coll);
            store_pg_p_u64(&q, sharee);
            store_pg_p_i64(&q, access);
            rc = store_pg_run(s, "UPDATE shares SET access = $3 WHERE coll = $1 AND sharee = $2",
                              &q, NULL);
            if (rc == STORE_OK) {
                rc = store_pg_bump(s, home, NULL);
            }
        }
        return rc == STORE_OK ? store_pg_share_get(s, coll, sharee, arena, out) : rc;
    }
    if (rc != STORE_NOTFOUND) {
        return rc;
    }
    rc = name ? name_free(s, sharee, home, name)
              : pick_name(s, sharee, home, owner_name, coll_name, arena, &name);
    if (rc != STORE_OK) {
        return rc;
    }
    struct store_pg_params q = {0};
    store_pg_p_u64(&q, coll);
    store_pg_p_u64(&q, sharee);
    store_pg_p_i64(&q, access);
    store_pg_p_text(&q, name);
    store_pg_p_i64(&q, time_now());
    rc = store_pg_run(s,
                      "INSERT INTO shares(coll, sharee, access, name, created) "
                      "VALUES ($1, $2, $3, $4, $5)",
                      &q, NULL);
    if (rc == STORE_OK) {
        rc = store_pg_bump(s, home, NULL);
    }
    if (rc != STORE_OK) {
        return rc;
    }
    if (created_out) {
        *created_out = true;
    }
    return store_pg_share_get(s, coll, sharee, arena, out);
}

enum store_rc store_pg_share_del(struct store *s, uint64_t coll, uint64_t sharee)
{
    uint64_t home = 0;
    enum store_rc rc = home_of(s, sharee, &home);
    if (rc == STORE_NOTFOUND) {
        return store_pg_fail_msg(s, rc, "no such share");
    }
    if (rc == STORE_OK) {
        rc = store_pg_lock_coll(s, home);
    }
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, coll);
    store_pg_p_u64(&p, sharee);
    uint64_t n = 0;
    if (rc == STORE_OK) {
        rc = store_pg_run(s, "DELETE FROM shares WHERE coll = $1 AND sharee = $2", &p, &n);
    }
    if (rc == STORE_OK && n == 0) {
        return store_pg_fail_msg(s, STORE_NOTFOUND, "no such share");
    }
    return rc == STORE_OK ? store_pg_bump(s, home, NULL) : rc;
}

/* A principal's grants are few (made by hand): one result. */
static enum store_rc
list_by(struct store *s, const char *sql, uint64_t key, store_share_fn *fn, void *ctx)
{
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, key);
    PGresult *res = NULL;
    enum store_rc rc = store_pg_exec(s, sql, &p, &res);
    for (int i = 0; rc == STORE_OK && i < PQntuples(res); i++) {
        struct store_share sh;
        read_share(res, i, NULL, &sh);
        if (fn(ctx, &sh) != 0) {
            break;
        }
    }
    PQclear(res);
    return rc;
}

enum store_rc
store_pg_share_list_of_sharee(struct store *s, uint64_t sharee, store_share_fn *fn, void *ctx)
{
    return list_by(s, SHARE_COLS "WHERE sh.sharee = $1 ORDER BY sh.name", sharee, fn, ctx);
}

enum store_rc
store_pg_share_list_of_coll(struct store *s, uint64_t coll, store_share_fn *fn, void *ctx)
{
    return list_by(s, SHARE_COLS "WHERE sh.coll = $1 ORDER BY sp.name", coll, fn, ctx);
}

enum store_rc
store_pg_share_list_of_owner(struct store *s, uint64_t owner, store_share_fn *fn, void *ctx)
{
    return list_by(s, SHARE_COLS "WHERE c.owner = $1 ORDER BY c.name, sp.name", owner, fn, ctx);
}
