/* store/store_pg_principal.c: principals on PostgreSQL (store.h "Principals"), as
 * store_sqlite.c's: a principal and its home collection made together; the credential
 * generation from the store-wide sequence cred_gen_seq (schema_pg/007), never reused. */
#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "store/store.h"
#include "store/store_pg_int.h"
#include "util/compiler.h"
#include "util/sec.h"
#include "util/timeutil.h"

#define PRINCIPAL_COLS "id, name, pwhash, home_id, cred_gen"

enum {
    PRINCIPAL_NCOLS = 5
};

static void
read_principal(const PGresult *res, int row, struct arena *arena, struct store_principal *out)
{
    out->id = store_pg_col_u64(res, row, 0);
    out->name = store_pg_col_text(res, row, 1, arena);
    out->pwhash = store_pg_col_text(res, row, 2, arena);
    out->home_id = store_pg_col_u64(res, row, 3);
    out->cred_gen = store_pg_col_u64(res, row, 4);
}

/* The single-row query `sql` over `p`: STORE_OK with *out read, or STORE_NOTFOUND. */
static enum store_rc get_one(struct store *s,
                             const char *sql,
                             const struct store_pg_params *p,
                             struct arena *arena,
                             struct store_principal *out)
{
    PGresult *res = NULL;
    enum store_rc rc = store_pg_exec_snap(s, sql, p, &res);
    if (rc == STORE_OK && PQntuples(res) == 0) {
        rc = store_pg_fail_msg(s, STORE_NOTFOUND, "no such principal");
    }
    if (rc == STORE_OK) {
        read_principal(res, 0, arena, out);
    }
    store_pg_snap_clear(s, res);
    return rc;
}

/* The principal's home: the root of its tree, kind HOME, no parent, name "". */
static enum store_rc insert_home(struct store *s, uint64_t principal, uint64_t *home_out)
{
    uint8_t guid[STORE_GUID_BYTES];
    sec_random(guid, sizeof(guid));
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, principal);
    store_pg_p_i64(&p, STORE_COLL_HOME);
    store_pg_p_u64(&p, sec_random_u64() >> 1); /* the epoch: fits a signed column */
    store_pg_p_bytes(&p, guid, sizeof(guid));
    store_pg_p_i64(&p, time_now());
    PGresult *res = NULL;
    enum store_rc rc =
        store_pg_exec(s,
                      "INSERT INTO collections(owner, parent, kind, name, modseq, epoch, "
                      "change_guid, tomb_horizon, created, updated) "
                      "VALUES ($1, NULL, $2, '', 1, $3, $4, 0, $5, $5) RETURNING id",
                      &p, &res);
    if (rc == STORE_OK) {
        *home_out = store_pg_col_u64(res, 0, 0);
    }
    PQclear(res);
    return rc;
}

/* A taken name is found by ON CONFLICT DO NOTHING, not by an error, which would abort the
 * caller's transaction (store_pg_int.h). */
enum store_rc store_pg_principal_add(struct store *s,
                                     const char *name,
                                     const char *pwhash,
                                     struct arena *arena,
                                     struct store_principal *out)
{
    size_t len = strlen(name);
    if (len == 0 || len > STORE_USER_MAX) {
        return store_pg_fail_msg(s, STORE_LIMIT, "principal name length out of bounds");
    }
    struct store_pg_params p = {0};
    store_pg_p_text(&p, name);
    store_pg_p_text(&p, pwhash);
    PGresult *res = NULL;
    enum store_rc rc = store_pg_exec(s,
                                     "INSERT INTO principals(name, pwhash, cred_gen) "
                                     "VALUES ($1, $2, nextval('cred_gen_seq')) "
                                     "ON CONFLICT (name) DO NOTHING RETURNING id, cred_gen",
                                     &p, &res);
    if (rc == STORE_OK && PQntuples(res) == 0) {
        rc = store_pg_fail_msg(s, STORE_EXISTS, "a principal has that name");
    }
    uint64_t pid = rc == STORE_OK ? store_pg_col_u64(res, 0, 0) : 0;
    uint64_t gen = rc == STORE_OK ? store_pg_col_u64(res, 0, 1) : 0;
    PQclear(res);
    uint64_t home = 0;
    if (rc == STORE_OK) {
        rc = insert_home(s, pid, &home);
    }
    if (rc == STORE_OK) {
        struct store_pg_params q = {0};
        store_pg_p_u64(&q, pid);
        store_pg_p_u64(&q, home);
        rc = store_pg_run(s, "UPDATE principals SET home_id = $2 WHERE id = $1", &q, NULL);
    }
    if (rc == STORE_OK && out) {
        out->id = pid;
        out->name = arena_strdup(arena, name);
        out->pwhash = arena_strdup(arena, pwhash);
        out->home_id = home;
        out->cred_gen = gen;
    }
    return rc;
}

const char store_pg_principal_home_sql[] =
    "SELECT p.*, h.* FROM (SELECT " PRINCIPAL_COLS " FROM principals WHERE name = $1) p "
    "LEFT JOIN LATERAL (SELECT " STORE_PG_COLL_COLS " FROM collections "
    "WHERE id = p.home_id) h ON true";

uint64_t store_pg_keep_home(struct store *s, const PGresult *res)
{
    if (PQntuples(res) == 0 || PQgetisnull(res, 0, PRINCIPAL_NCOLS)) {
        return 0;
    }
    int cols[STORE_PG_COLL_NCOLS];
    for (int i = 0; i < STORE_PG_COLL_NCOLS; i++) {
        cols[i] = PRINCIPAL_NCOLS + i;
    }
    uint64_t home_id = store_pg_col_u64(res, 0, 3);
    struct store_pg_params h = {0};
    store_pg_p_u64(&h, home_id);
    store_pg_keep_answer(s, store_pg_coll_by_id_sql, &h,
                         store_pg_row_result(s, res, 0, cols, STORE_PG_COLL_NCOLS));
    return home_id;
}

/* In a read transaction, the principal comes with its home collection, in one statement: a
 * request looks its principal up by name, then the home by id to walk its path from there.
 * The home's part of the row is kept as the answer to that lookup (store_pg_keep_answer): one
 * round trip less for every request. */
enum store_rc store_pg_principal_get(struct store *s,
                                     const char *name,
                                     struct arena *arena,
                                     struct store_principal *out)
{
    struct store_pg_params p = {0};
    store_pg_p_text(&p, name);
    if (!store_pg_is_reading(s)) {
        return get_one(s, "SELECT " PRINCIPAL_COLS " FROM principals WHERE name = $1", &p, arena,
                       out);
    }
    PGresult *res = NULL;
    enum store_rc rc = store_pg_exec_snap(s, store_pg_principal_home_sql, &p, &res);
    if (rc == STORE_OK && PQntuples(res) == 0) {
        rc = store_pg_fail_msg(s, STORE_NOTFOUND, "no such principal");
    }
    if (rc == STORE_OK) {
        read_principal(res, 0, arena, out);
        store_pg_keep_home(s, res);
    }
    store_pg_snap_clear(s, res);
    return rc;
}

enum store_rc store_pg_principal_get_by_id(struct store *s,
                                           uint64_t id,
                                           struct arena *arena,
                                           struct store_principal *out)
{
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, id);
    return get_one(s, "SELECT " PRINCIPAL_COLS " FROM principals WHERE id = $1", &p, arena, out);
}

enum store_rc store_pg_principal_cred_gen(struct store *s, const char *name, uint64_t *gen_out)
{
    struct store_pg_params p = {0};
    store_pg_p_text(&p, name);
    PGresult *res = NULL;
    enum store_rc rc =
        store_pg_exec(s, "SELECT cred_gen FROM principals WHERE name = $1", &p, &res);
    if (rc == STORE_OK && PQntuples(res) == 0) {
        rc = store_pg_fail_msg(s, STORE_NOTFOUND, "no such principal");
    }
    if (rc == STORE_OK) {
        *gen_out = store_pg_col_u64(res, 0, 0);
    }
    PQclear(res);
    return rc;
}

enum store_rc store_pg_principal_set_pwhash(struct store *s, const char *name, const char *pwhash)
{
    struct store_pg_params p = {0};
    store_pg_p_text(&p, name);
    store_pg_p_text(&p, pwhash);
    uint64_t n = 0;
    enum store_rc rc = store_pg_run(
        s, "UPDATE principals SET pwhash = $2, cred_gen = nextval('cred_gen_seq') WHERE name = $1",
        &p, &n);
    if (rc == STORE_OK && n == 0) {
        rc = store_pg_fail_msg(s, STORE_NOTFOUND, "no such principal");
    }
    return rc;
}

/* The sharees of the principal's calendars see the grants go: their homes are bumped first
 * (as store_sqlite_share.c's store_db_share_bump_owner). Dead properties have no foreign key
 * and go by hand; the principal row cascades to collections, items (and from them content,
 * instances and the interval index), tombstones, shares, devices and addresses. */
enum store_rc store_pg_principal_del(struct store *s, const char *name)
{
    struct store_principal pr;
    enum store_rc rc = store_pg_principal_get(s, name, NULL, &pr);
    if (rc != STORE_OK) {
        return rc;
    }
    uint64_t id = pr.id;
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, id);
    PGresult *res = NULL;
    rc = store_pg_exec(s,
                       "SELECT DISTINCT p.home_id FROM shares sh "
                       "JOIN collections c ON c.id = sh.coll "
                       "JOIN principals p ON p.id = sh.sharee WHERE c.owner = $1 AND "
                       "p.home_id IS NOT NULL ORDER BY 1",
                       &p, &res);
    for (int i = 0; rc == STORE_OK && i < PQntuples(res); i++) {
        rc = store_pg_bump(s, store_pg_col_u64(res, i, 0), NULL);
    }
    PQclear(res);
    static const char *const steps[] = {
        "DELETE FROM props WHERE res_kind = 1 AND res_id IN (SELECT i.id FROM items i JOIN "
        "collections c ON i.coll = c.id WHERE c.owner = $1)",
        "DELETE FROM props WHERE res_kind = 0 AND res_id IN "
        "(SELECT id FROM collections WHERE owner = $1)",
        "DELETE FROM principals WHERE id = $1",
    };
    for (size_t i = 0; rc == STORE_OK && i < ALM_ARRAY_LEN(steps); i++) {
        rc = store_pg_run(s, steps[i], &p, NULL);
    }
    return rc;
}

/* In name order, stopping when `fn` returns non-zero. Rows are read in pages of 256 by
 * name (keyset), so a store of many users is never one result in memory. */
enum store_rc store_pg_principal_list(struct store *s, store_principal_fn *fn, void *ctx)
{
    enum {
        PAGE = 256
    };

    char after[STORE_USER_MAX + 1] = "";
    bool is_first = true;
    enum store_rc rc = STORE_OK;
    for (bool more = true; rc == STORE_OK && more;) {
        struct store_pg_params p = {0};
        store_pg_p_text(&p, is_first ? NULL : after);
        PGresult *res = NULL;
        rc = store_pg_exec(s,
                           "SELECT " PRINCIPAL_COLS " FROM principals "
                           "WHERE $1::text IS NULL OR name > $1 ORDER BY name LIMIT 256",
                           &p, &res);
        int n = rc == STORE_OK ? PQntuples(res) : 0;
        more = n == PAGE;
        for (int i = 0; i < n; i++) {
            struct store_principal pr;
            read_principal(res, i, NULL, &pr);
            if (fn(ctx, &pr) != 0) {
                more = false;
                break;
            }
        }
        if (more) {
            snprintf(after, sizeof(after), "%s", store_pg_col_text(res, n - 1, 1, NULL));
            is_first = false;
        }
        PQclear(res);
    }
    return rc;
}
