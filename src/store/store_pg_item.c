/* store/store_pg_item.c: items on PostgreSQL (store.h "Items"), as store_sqlite_item.c's: the
 * change log (live items and tombstones by (collection, modseq)), content and instance index
 * in tables of their own, and the interval index (schema_pg/010: one row per box, exact
 * seconds, deleted with its item by cascade).
 *
 * Locks (store_pg_int.h): every write here takes its collection's row lock first
 * (store_pg_lock_coll; a move both, in id order), then reads and writes items. One order,
 * collection before item, for every writer, so two writers never wait on each other in a
 * cycle; and the checks (uid free, name free) run under the lock, so a refusal is found by
 * them and never by a unique index's error, which would abort the caller's transaction. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "store/store.h"
#include "store/store_pg_int.h"
#include "util/buf.h"
#include "util/parse.h"
#include "util/timeutil.h"

/* Item ids are < 2^47 (exchange-replication.md §1.2), as SQLite's. */
#define ITEM_ID_LIMIT (UINT64_C(1) << 47)

#define ITEM_COLS                                                                            \
  "id, coll, name, uid, content_type, size, modseq, created_modseq, mtime, dtstart, dtend, " \
  "comp, recurring"

enum {
    ITEM_NCOLS = 13
};

/* Interval index kinds, as SQLite's (store_sqlite_int.h). */
enum span_kind {
    SPAN_SERIES = 0,
    SPAN_PLAIN = 1,
    SPAN_INSTANCE = 2
};

/* The ITEM_COLS of `row` from column `c` on. */
static void
read_item_at(const PGresult *res, int row, int c, struct arena *arena, struct store_item *out)
{
    memset(out, 0, sizeof(*out));
    out->id = store_pg_col_u64(res, row, c + 0);
    out->coll = store_pg_col_u64(res, row, c + 1);
    out->name = store_pg_col_text(res, row, c + 2, arena);
    out->cal.uid = store_pg_col_text(res, row, c + 3, arena);
    out->content_type = store_pg_col_text(res, row, c + 4, arena);
    out->size = (size_t)store_pg_col_i64(res, row, c + 5);
    out->modseq = store_pg_col_u64(res, row, c + 6);
    out->created_modseq = store_pg_col_u64(res, row, c + 7);
    out->mtime = store_pg_col_i64(res, row, c + 8);
    out->cal.has_span = !PQgetisnull(res, row, c + 9);
    out->cal.dtstart_utc = store_pg_col_i64(res, row, c + 9);
    out->cal.dtend_utc = store_pg_col_i64(res, row, c + 10);
    out->cal.comp = (unsigned)store_pg_col_i64(res, row, c + 11);
    out->cal.is_recurring = store_pg_col_i64(res, row, c + 12) != 0;
}

void store_pg_read_item(
    const PGresult *res, int row, struct arena *arena, bool with_content, struct store_item *out)
{
    read_item_at(res, row, 0, arena, out);
    if (with_content) {
        size_t n = (size_t)PQgetlength(res, row, ITEM_NCOLS);
        const char *b = PQgetvalue(res, row, ITEM_NCOLS);
        out->content = arena ? arena_memdup(arena, b, n) : b;
        out->size = n;
    }
}

/* A single-row item query, its content in column ITEM_NCOLS with `flags` asking for it, and
 * the instance index when asked (STORE_ITEM_INSTANCES). */
static enum store_rc item_row(struct store *s,
                              const char *sql,
                              const struct store_pg_params *p,
                              enum store_item_flags flags,
                              struct arena *arena,
                              struct store_item *out)
{
    PGresult *res = NULL;
    bool content = (flags & STORE_ITEM_CONTENT) != 0;
    enum store_rc rc = store_pg_exec_snap(s, sql, p, &res);
    if (rc == STORE_OK && PQntuples(res) == 0) {
        rc = store_pg_fail_msg(s, STORE_NOTFOUND, "no such item");
    }
    if (rc == STORE_OK) {
        store_pg_read_item(res, 0, arena, content, out);
    }
    store_pg_snap_clear(s, res);
    if (rc != STORE_OK || !(flags & STORE_ITEM_INSTANCES)) {
        return rc;
    }
    struct store_pg_params q = {0};
    store_pg_p_u64(&q, out->id);
    rc = store_pg_exec(s, "SELECT data FROM item_instances WHERE id = $1", &q, &res);
    if (rc == STORE_OK && PQntuples(res) == 1) {
        size_t n = (size_t)PQgetlength(res, 0, 0);
        out->cal.has_instances = true;
        out->cal.instances = n ? arena_memdup(arena, PQgetvalue(res, 0, 0), n) : "";
        out->cal.instances_size = n;
    }
    PQclear(res);
    return rc;
}

/* Whether GET_SQL reads the content ($3): when asked, and always in a read transaction,
 * where a lookup of an item's metadata is usually followed by one of its content (a
 * multiget, a GET): both are then answered by the one statement (store_pg_exec_snap). */
static int64_t content_wanted(struct store *s, enum store_item_flags flags)
{
    return (flags & STORE_ITEM_CONTENT) || store_pg_is_reading(s) ? 1 : 0;
}

#define GET_SQL(where)                                                                       \
  "SELECT " ITEM_COLS ", CASE WHEN $3::int = 1 THEN (SELECT data FROM item_content c WHERE " \
  "c.id = items.id) END FROM items WHERE " where

const char store_pg_item_by_name_sql[] = GET_SQL("coll = $1 AND name = $2");

void store_pg_item_by_name_params(struct store_pg_params *p, uint64_t coll, const char *name)
{
    store_pg_p_u64(p, coll);
    store_pg_p_text(p, name);
    store_pg_p_i64(p, 1); /* content_wanted() in a read transaction */
}

enum store_rc store_pg_item_get(struct store *s,
                                uint64_t coll,
                                const char *name,
                                enum store_item_flags flags,
                                struct arena *arena,
                                struct store_item *out)
{
    if (store_pg_is_reading(s) && store_pg_range_row_item(s, coll, name, flags, arena, out)) {
        return STORE_OK;
    }
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, coll);
    store_pg_p_text(&p, name);
    store_pg_p_i64(&p, content_wanted(s, flags));
    return item_row(s, store_pg_item_by_name_sql, &p, flags, arena, out);
}

/* The rows of `res` (column `name_col` the name) answer a lookup of `name`: its row, or none. */
static int row_named(const PGresult *res, int name_col, const char *name)
{
    for (int r = 0; r < PQntuples(res); r++) {
        if (strcmp(PQgetvalue(res, r, name_col), name) == 0) {
            return r;
        }
    }
    return -1;
}

/* One round trip for up to STORE_PREFETCH_MAX names (a calendar-multiget's next hrefs): the
 * items of those names with their content, and any sub-collections of those names (a path's
 * last segment is looked up as a collection first, store_pg_coll_lookup). Each name's two
 * answers, found or not, are kept as those lookups' answers in this read transaction's
 * snapshot (store_pg_keep_answer), so the lookups that follow send nothing. An answer over
 * the memo's size limit is not kept: that lookup then goes to the server as before.
 * The items are read by one probe of the (coll, name) index per name (the LIMIT keeps the
 * planner from flattening the LATERAL): `name = ANY(...)` let the prepared statement's generic
 * plan, when the table's statistics did not know the collection yet (just after a bulk load,
 * or a new calendar), read every item of the collection and test each against the whole
 * list: 12 ms for 100 names of a 2,000-item calendar, against 0.4 ms now. */
enum store_rc
store_pg_item_prefetch(struct store *s, uint64_t coll, const char *const *names, size_t n)
{
    if (!store_pg_is_reading(s) || n == 0) {
        return STORE_OK;
    }
    const char *use[STORE_PREFETCH_MAX];
    size_t k = 0;
    struct buf list;
    buf_init(&list, STORE_PREFETCH_MAX * (STORE_NAME_MAX + 1));
    for (size_t i = 0; i < n && k < STORE_PREFETCH_MAX; i++) {
        size_t len = strlen(names[i]);
        if (len == 0 || len > STORE_NAME_MAX || strchr(names[i], '/')) {
            continue;
        }
        if ((k > 0 && buf_append(&list, "/", 1) != 0) || buf_append(&list, names[i], len) != 0) {
            break; /* not reached: the buf holds STORE_PREFETCH_MAX longest names */
        }
        use[k++] = names[i];
    }
    if (k == 0) {
        buf_deinit(&list);
        return STORE_OK;
    }
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, coll);
    store_pg_p_text(&p, buf_cstr(&list));
    PGresult *items = NULL, *colls = NULL;
    const struct store_pg_op ops[] = {
        {.sql = "SELECT " ITEM_COLS ", (SELECT data FROM item_content c WHERE c.id = i.id) "
                "FROM unnest(string_to_array($2, '/')) AS n(want) CROSS JOIN LATERAL "
                "(SELECT " ITEM_COLS " FROM items WHERE coll = $1 AND name = n.want LIMIT 1) i",
         .p = &p,
         .res_out = &items},
        {.sql = store_pg_colls_by_names_sql, .p = &p, .res_out = &colls},
    };
    enum store_rc rc = store_pg_exec_n(s, ops, 2);
    buf_deinit(&list);
    int item_cols[ITEM_NCOLS + 1], coll_cols[STORE_PG_COLL_NCOLS];
    for (int i = 0; i <= ITEM_NCOLS; i++) {
        item_cols[i] = i;
    }
    for (int i = 0; i < STORE_PG_COLL_NCOLS; i++) {
        coll_cols[i] = i;
    }
    for (size_t i = 0; rc == STORE_OK && i < k; i++) {
        struct store_pg_params ip = {0}, cp = {0};
        store_pg_item_by_name_params(&ip, coll, use[i]);
        PGresult *one =
            store_pg_row_result(s, items, row_named(items, 2, use[i]), item_cols, ITEM_NCOLS + 1);
        store_pg_keep_answer(s, store_pg_item_by_name_sql, &ip, one);
        store_pg_p_u64(&cp, coll);
        store_pg_p_text(&cp, use[i]);
        one = store_pg_row_result(s, colls, row_named(colls, 4, use[i]), coll_cols,
                                  STORE_PG_COLL_NCOLS);
        store_pg_keep_answer(s, store_pg_coll_by_name_sql, &cp, one);
    }
    PQclear(items);
    PQclear(colls);
    return rc;
}

/* The id of the home's member $2 of principal $1, and of that one's member $3. */
#define HOME_MEMBER                                                            \
  "(SELECT c.id FROM principals p JOIN collections c ON c.parent = p.home_id " \
  "WHERE p.name = $1 AND c.name = $2)"

/* A name a lookup could be made with: no '/', within the store's limit, UTF-8 (anything else
 * would fail the whole round trip on the server's text type). */
static bool prefetchable(const char *name)
{
    size_t len = strlen(name);
    return len > 0 && len <= STORE_NAME_MAX && !strchr(name, '/') &&
           parse_utf8_ok(slice_from_cstr(name));
}

/* One round trip for a path's walk (store_path_prefetch): the principal with its home, the
 * home's member names[0], and names[1] in that one as a collection and as an item, in the read
 * transaction's snapshot, each kept as the answer to the lookup dav_resolve makes (their keys
 * need the ids the earlier answers bring, so they are kept once all have come). Nothing is
 * sent when the principal's answer is kept already: the walk was made before in this
 * transaction (a multiget's hrefs outside the collection). */
enum store_rc
store_pg_path_prefetch(struct store *s, const char *principal, const char *const *names, size_t n)
{
    struct store_pg_params p = {0};
    store_pg_p_text(&p, principal);
    if (!store_pg_is_reading(s) || n > 2 || store_pg_is_kept(s, store_pg_principal_home_sql, &p)) {
        return STORE_OK;
    }
    for (size_t i = 0; i < n; i++) {
        if (!prefetchable(names[i])) {
            return STORE_OK;
        }
    }
    struct store_pg_params p1 = p, p2 = p;
    if (n > 0) {
        store_pg_p_text(&p1, names[0]);
        store_pg_p_text(&p2, names[0]);
    }
    if (n > 1) {
        store_pg_p_text(&p2, names[1]);
    }
    PGresult *res[4] = {NULL, NULL, NULL, NULL};
    const struct store_pg_op ops[] = {
        {.sql = store_pg_principal_home_sql, .p = &p, .res_out = &res[0]},
        {.sql = "SELECT " STORE_PG_COLL_COLS " FROM collections WHERE parent = "
                "(SELECT home_id FROM principals WHERE name = $1) AND name = $2",
         .p = &p1,
         .res_out = &res[1]},
        {.sql = "SELECT " STORE_PG_COLL_COLS " FROM collections WHERE parent = " HOME_MEMBER
                " AND name = $3",
         .p = &p2,
         .res_out = &res[2]},
        {.sql = "SELECT " ITEM_COLS ", (SELECT data FROM item_content c WHERE c.id = items.id) "
                "FROM items WHERE coll = " HOME_MEMBER " AND name = $3",
         .p = &p2,
         .res_out = &res[3]},
    };
    enum store_rc rc = store_pg_exec_n(s, ops, n == 0 ? 1 : n == 1 ? 2 : 4);
    if (rc != STORE_OK) {
        return rc;
    }
    uint64_t home = store_pg_keep_home(s, res[0]);
    store_pg_keep_answer(s, store_pg_principal_home_sql, &p, res[0]);
    uint64_t coll = res[1] && PQntuples(res[1]) == 1 ? store_pg_col_u64(res[1], 0, 0) : 0;
    if (home && res[1]) {
        struct store_pg_params k = {0};
        store_pg_p_u64(&k, home);
        store_pg_p_text(&k, names[0]);
        store_pg_keep_answer(s, store_pg_coll_by_name_sql, &k, res[1]);
    } else {
        PQclear(res[1]);
    }
    if (coll && res[2]) {
        struct store_pg_params k = {0}, ik = {0};
        store_pg_p_u64(&k, coll);
        store_pg_p_text(&k, names[1]);
        store_pg_keep_answer(s, store_pg_coll_by_name_sql, &k, res[2]);
        store_pg_item_by_name_params(&ik, coll, names[1]);
        store_pg_keep_answer(s, store_pg_item_by_name_sql, &ik, res[3]);
    } else {
        PQclear(res[2]);
        PQclear(res[3]);
    }
    return STORE_OK;
}

enum store_rc store_pg_item_get_by_id(struct store *s,
                                      uint64_t coll,
                                      uint64_t id,
                                      enum store_item_flags flags,
                                      struct arena *arena,
                                      struct store_item *out)
{
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, coll);
    store_pg_p_u64(&p, id);
    store_pg_p_i64(&p, content_wanted(s, flags));
    return item_row(s, GET_SQL("id = $2 AND coll = $1"), &p, flags, arena, out);
}

enum store_rc store_pg_item_get_by_uid(
    struct store *s, uint64_t coll, const char *uid, struct arena *arena, struct store_item *out)
{
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, coll);
    store_pg_p_text(&p, uid);
    store_pg_p_i64(&p, 0);
    return item_row(s, GET_SQL("coll = $1 AND uid = $2"), &p, STORE_ITEM_META, arena, out);
}

/* A row exists for `sql` over `p`: STORE_OK with *found_out. */
static enum store_rc
exists(struct store *s, const char *sql, const struct store_pg_params *p, bool *found_out)
{
    PGresult *res = NULL;
    enum store_rc rc = store_pg_exec(s, sql, p, &res);
    *found_out = rc == STORE_OK && PQntuples(res) > 0;
    PQclear(res);
    return rc;
}

/* STORE_EXISTS when `coll` has a child collection, or (a home) a share, called `name`. */
static enum store_rc check_no_child(struct store *s, uint64_t coll, const char *name)
{
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, coll);
    store_pg_p_text(&p, name);
    bool found = false;
    enum store_rc rc = exists(s,
                              "SELECT 1 FROM collections WHERE parent = $1 AND name = $2 "
                              "UNION ALL SELECT 1 FROM shares sh JOIN principals p ON "
                              "p.id = sh.sharee WHERE p.home_id = $1 AND sh.name = $2 LIMIT 1",
                              &p, &found);
    return rc == STORE_OK && found
               ? store_pg_fail_msg(s, STORE_EXISTS, "a collection or a share has that name")
               : rc;
}

/* Appends `v` to the array literal in buf (an unbounded bound, INT64_MIN or INT64_MAX, as
 * NULL: an infinite bound, store_pg_p_bound). */
static void array_add(char *buf, size_t size, size_t *len, int64_t v, bool is_bound)
{
    int n = is_bound && (v == INT64_MIN || v == INT64_MAX)
                ? snprintf(buf + *len, size - *len, "%sNULL", *len > 1 ? "," : "")
                : snprintf(buf + *len, size - *len, "%s%" PRId64, *len > 1 ? "," : "", v);
    if (n < 0 || (size_t)n >= size - *len) {
        abort(); /* sized for STORE_ITEM_BOXES_MAX + 1 numbers below */
    }
    *len += (size_t)n;
}

/* The interval boxes of `cal` as three array literals (kinds, lower and upper bounds): its
 * span in slot 0 and its instance boxes in 1..n; empty without a span. */
struct span_arrays {
    char kinds[4 * (STORE_ITEM_BOXES_MAX + 1) + 3];
    char lo[21 * (STORE_ITEM_BOXES_MAX + 1) + 3];
    char hi[21 * (STORE_ITEM_BOXES_MAX + 1) + 3];
};

static void span_arrays(const struct store_cal_index *cal, struct span_arrays *out)
{
    size_t nk = 1, nl = 1, nh = 1;
    snprintf(out->kinds, sizeof(out->kinds), "{");
    snprintf(out->lo, sizeof(out->lo), "{");
    snprintf(out->hi, sizeof(out->hi), "{");
    for (size_t i = 0; cal->has_span && i <= cal->nboxes; i++) {
        int64_t lo = i == 0 ? cal->dtstart_utc : cal->boxes[i - 1].start;
        int64_t hi = i == 0 ? cal->dtend_utc : cal->boxes[i - 1].end;
        enum span_kind kind = i > 0 ? SPAN_INSTANCE : cal->nboxes ? SPAN_SERIES : SPAN_PLAIN;
        array_add(out->kinds, sizeof(out->kinds), &nk, kind, false);
        array_add(out->lo, sizeof(out->lo), &nl, lo, true);
        array_add(out->hi, sizeof(out->hi), &nh, hi > lo ? hi : lo, true);
    }
    snprintf(out->kinds + nk, sizeof(out->kinds) - nk, "}");
    snprintf(out->lo + nl, sizeof(out->lo) - nl, "}");
    snprintf(out->hi + nh, sizeof(out->hi) - nh, "}");
}

/* The put after the collection's lock, in one statement: the checks (the name is no child
 * collection or share, the uid is free), then, only when they pass, the modseq bump, the
 * item's row, its content, its instance index (replaced or removed) and its interval boxes
 * (slots 0..n-1 upserted, the ones past them deleted: disjoint rows, so the sibling
 * statements of the WITH never touch one row twice). The checks run in this statement's
 * snapshot, taken after the lock was held (READ COMMITTED), so they see every write to the
 * collection committed before, as separate statements would. One row: the two checks'
 * answers, then the item's columns (NULL when a check refused). */
#define PUT_SQL                                                                                  \
  "WITH chk AS (SELECT EXISTS (SELECT 1 FROM collections WHERE parent = $1 AND name = $2 "       \
  "UNION ALL SELECT 1 FROM shares sh JOIN principals p ON p.id = sh.sharee "                     \
  "WHERE p.home_id = $1 AND sh.name = $2) AS is_child, "                                         \
  "($3::text IS NOT NULL AND EXISTS (SELECT 1 FROM items WHERE coll = $1 AND uid = $3 "          \
  "AND name <> $2)) AS is_uid_used), "                                                           \
  "b AS (UPDATE collections SET modseq = modseq + 1, updated = $6 WHERE id = $1 "                \
  "AND NOT (SELECT is_child OR is_uid_used FROM chk) RETURNING modseq), "                        \
  "i AS (INSERT INTO items(coll, name, uid, content_type, size, modseq, created_modseq, mtime, " \
  "dtstart, dtend, comp, recurring) SELECT $1, $2, $3, $4::text, $5::bigint, b.modseq, "         \
  "b.modseq, $6::bigint, $7::bigint, $8::bigint, $9::integer, $10::integer FROM b "              \
  "ON CONFLICT (coll, name) DO UPDATE SET uid = excluded.uid, "                                  \
  "content_type = excluded.content_type, size = excluded.size, modseq = excluded.modseq, "       \
  "mtime = excluded.mtime, dtstart = excluded.dtstart, dtend = excluded.dtend, "                 \
  "comp = excluded.comp, recurring = excluded.recurring RETURNING " ITEM_COLS "), "              \
  "c AS (INSERT INTO item_content(id, data) SELECT id, $11::bytea FROM i "                       \
  "ON CONFLICT (id) DO UPDATE SET data = excluded.data), "                                       \
  "x AS (INSERT INTO item_instances(id, data) SELECT id, $12::bytea FROM i "                     \
  "WHERE $12::bytea IS NOT NULL ON CONFLICT (id) DO UPDATE SET data = excluded.data), "          \
  "xd AS (DELETE FROM item_instances WHERE $12::bytea IS NULL AND id IN (SELECT id FROM i)), "   \
  "sd AS (DELETE FROM item_spans WHERE item IN (SELECT id FROM i) "                              \
  "AND slot >= cardinality($13::smallint[])), "                                                  \
  "su AS (INSERT INTO item_spans(item, slot, coll, kind, box) "                                  \
  "SELECT i.id, v.n - 1, $1, v.kind, int8range(v.lo, v.hi, '[]') FROM i, "                       \
  "unnest($13::smallint[], $14::bigint[], $15::bigint[]) WITH ORDINALITY AS v(kind, lo, hi, n) " \
  "ON CONFLICT (item, slot) DO UPDATE SET coll = excluded.coll, kind = excluded.kind, "          \
  "box = excluded.box) "                                                                         \
  "SELECT chk.is_child, chk.is_uid_used, i.* FROM chk LEFT JOIN i ON true"

/* The collection's lock, then PUT_SQL, in one round trip (store_pg_exec_n): a refused put
 * writes nothing. */
enum store_rc store_pg_item_put(struct store *s,
                                uint64_t coll,
                                const char *name,
                                const struct store_item_in *in,
                                struct arena *arena,
                                struct store_item *out,
                                bool *created_out)
{
    size_t len = strlen(name);
    if (len == 0 || len > STORE_NAME_MAX) {
        return store_pg_fail_msg(s, STORE_LIMIT, "item name length out of bounds");
    }
    if (in->cal.nboxes > STORE_ITEM_BOXES_MAX) {
        return store_pg_fail_msg(s, STORE_LIMIT, "instance boxes exceed STORE_ITEM_BOXES_MAX");
    }
    struct span_arrays spans;
    span_arrays(&in->cal, &spans);
    struct store_pg_params lock = {0};
    store_pg_p_u64(&lock, coll);
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, coll);
    store_pg_p_text(&p, name);
    store_pg_p_text(&p, in->cal.uid);
    store_pg_p_text(&p, in->content_type);
    store_pg_p_u64(&p, in->size);
    store_pg_p_i64(&p, time_now());
    if (in->cal.has_span) {
        store_pg_p_i64(&p, in->cal.dtstart_utc);
        store_pg_p_i64(&p, in->cal.dtend_utc);
    } else {
        store_pg_p_text(&p, NULL);
        store_pg_p_text(&p, NULL);
    }
    store_pg_p_u64(&p, in->cal.comp);
    store_pg_p_i64(&p, in->cal.is_recurring ? 1 : 0);
    store_pg_p_bytes(&p, in->content, in->size);
    if (in->cal.has_instances) {
        store_pg_p_bytes(&p, in->cal.instances, in->cal.instances_size);
    } else {
        store_pg_p_text(&p, NULL);
    }
    store_pg_p_text(&p, spans.kinds);
    store_pg_p_text(&p, spans.lo);
    store_pg_p_text(&p, spans.hi);
    PGresult *locked = NULL;
    PGresult *res = NULL;
    const struct store_pg_op ops[] = {
        {.sql = STORE_PG_LOCK_SQL, .p = &lock, .res_out = &locked},
        {.sql = PUT_SQL, .p = &p, .res_out = &res},
    };
    enum store_rc rc = store_pg_exec_n(s, ops, 2);
    if (rc == STORE_OK && PQntuples(locked) == 0) {
        rc = store_pg_fail_msg(s, STORE_NOTFOUND, "no such collection");
    } else if (rc == STORE_OK && store_pg_col_i64(res, 0, 0)) {
        rc = store_pg_fail_msg(s, STORE_EXISTS, "a collection or a share has that name");
    } else if (rc == STORE_OK && store_pg_col_i64(res, 0, 1)) {
        rc = store_pg_fail_msg(s, STORE_CONFLICT, "uid in use");
    }
    uint64_t id = 0;
    if (rc == STORE_OK) {
        /* the item's columns from the third on */
        id = store_pg_col_u64(res, 0, 2);
        uint64_t modseq = store_pg_col_u64(res, 0, 2 + 6);
        uint64_t created_modseq = store_pg_col_u64(res, 0, 2 + 7);
        store_pg_note_bump(s, coll, modseq);
        if (out) {
            read_item_at(res, 0, 2, arena, out);
        }
        if (created_out) {
            *created_out = created_modseq == modseq; /* a replace keeps its older one */
        }
    }
    PQclear(locked);
    PQclear(res);
    if (rc == STORE_OK && id >= ITEM_ID_LIMIT) {
        rc = store_pg_fail_msg(s, STORE_LIMIT, "item ids exhausted (2^47)");
    }
    return rc;
}

static enum store_rc tombstone(struct store *s,
                               uint64_t coll,
                               uint64_t id,
                               const char *name,
                               uint64_t modseq,
                               uint64_t created_modseq)
{
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, coll);
    store_pg_p_u64(&p, id);
    store_pg_p_text(&p, name);
    store_pg_p_u64(&p, modseq);
    store_pg_p_u64(&p, created_modseq);
    store_pg_p_i64(&p, time_now());
    return store_pg_run(s,
                        "INSERT INTO tombstones(coll, item_id, name, modseq, created_modseq, "
                        "deleted_at) VALUES ($1, $2, $3, $4, $5, $6)",
                        &p, NULL);
}

/* The live item `name` of `coll`: its id and created_modseq. */
static enum store_rc
item_id(struct store *s, uint64_t coll, const char *name, uint64_t *id_out, uint64_t *created_out)
{
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, coll);
    store_pg_p_text(&p, name);
    PGresult *res = NULL;
    enum store_rc rc = store_pg_exec(
        s, "SELECT id, created_modseq FROM items WHERE coll = $1 AND name = $2", &p, &res);
    if (rc == STORE_OK && PQntuples(res) == 0) {
        rc = store_pg_fail_msg(s, STORE_NOTFOUND, "no such item");
    }
    if (rc == STORE_OK) {
        *id_out = store_pg_col_u64(res, 0, 0);
        *created_out = store_pg_col_u64(res, 0, 1);
    }
    PQclear(res);
    return rc;
}

/* After the collection's lock, in one statement: the row goes (content, instances and boxes
 * cascade), the collection's modseq moves on, a tombstone at that modseq records the delete,
 * the dead properties go; nothing when there is no such item. One row (the item's id and
 * the new modseq), none for no such item. */
#define DELETE_SQL                                                                             \
  "WITH d AS (DELETE FROM items WHERE coll = $1 AND name = $2 RETURNING id, created_modseq), " \
  "b AS (UPDATE collections SET modseq = modseq + 1, updated = $3 WHERE id = $1 "              \
  "AND EXISTS (SELECT 1 FROM d) RETURNING modseq), "                                           \
  "t AS (INSERT INTO tombstones(coll, item_id, name, modseq, created_modseq, deleted_at) "     \
  "SELECT $1, d.id, $2, b.modseq, d.created_modseq, $3 FROM d, b), "                           \
  "pr AS (DELETE FROM props WHERE res_kind = 1 AND res_id IN (SELECT id FROM d)) "             \
  "SELECT d.id, b.modseq FROM d, b"

/* The collection's lock, then DELETE_SQL, in one round trip. */
enum store_rc store_pg_item_delete(struct store *s, uint64_t coll, const char *name)
{
    struct store_pg_params lock = {0};
    store_pg_p_u64(&lock, coll);
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, coll);
    store_pg_p_text(&p, name);
    store_pg_p_i64(&p, time_now());
    PGresult *locked = NULL;
    PGresult *res = NULL;
    const struct store_pg_op ops[] = {
        {.sql = STORE_PG_LOCK_SQL, .p = &lock, .res_out = &locked},
        {.sql = DELETE_SQL, .p = &p, .res_out = &res},
    };
    enum store_rc rc = store_pg_exec_n(s, ops, 2);
    if (rc == STORE_OK && PQntuples(locked) == 0) {
        rc = store_pg_fail_msg(s, STORE_NOTFOUND, "no such collection");
    } else if (rc == STORE_OK && PQntuples(res) == 0) {
        rc = store_pg_fail_msg(s, STORE_NOTFOUND, "no such item");
    }
    if (rc == STORE_OK) {
        store_pg_note_bump(s, coll, store_pg_col_u64(res, 0, 1));
    }
    PQclear(locked);
    PQclear(res);
    return rc;
}

/* Every check runs before the first write, so a refused move writes nothing. The row keeps
 * its id, content and dead properties; the source gets a tombstone, the target a new modseq
 * that is also the item's created_modseq there. The two collections are locked in id order. */
enum store_rc store_pg_item_move(
    struct store *s, uint64_t coll, const char *name, uint64_t to_coll, const char *to_name)
{
    size_t len = strlen(to_name);
    if (len == 0 || len > STORE_NAME_MAX) {
        return store_pg_fail_msg(s, STORE_LIMIT, "item name length out of bounds");
    }
    uint64_t first = coll < to_coll ? coll : to_coll;
    uint64_t second = coll < to_coll ? to_coll : coll;
    enum store_rc rc = store_pg_lock_coll(s, first);
    if (rc == STORE_OK && second != first) {
        rc = store_pg_lock_coll(s, second);
    }
    uint64_t id = 0;
    uint64_t created = 0;
    if (rc == STORE_OK) {
        rc = item_id(s, coll, name, &id, &created);
    }
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, to_coll);
    store_pg_p_text(&p, to_name);
    bool found = false;
    if (rc == STORE_OK) {
        rc = exists(s, "SELECT 1 FROM items WHERE coll = $1 AND name = $2", &p, &found);
        if (rc == STORE_OK && found) {
            rc = store_pg_fail_msg(s, STORE_EXISTS, "an item has that name");
        }
    }
    if (rc == STORE_OK) {
        rc = check_no_child(s, to_coll, to_name);
    }
    if (rc == STORE_OK && to_coll != coll) {
        struct store_pg_params q = {0};
        store_pg_p_u64(&q, to_coll);
        store_pg_p_u64(&q, id);
        rc = exists(s,
                    "SELECT 1 FROM items WHERE coll = $1 AND id <> $2 AND "
                    "uid = (SELECT uid FROM items WHERE id = $2)",
                    &q, &found);
        if (rc == STORE_OK && found) {
            rc = store_pg_fail_msg(s, STORE_CONFLICT, "uid in use in the target collection");
        }
    }
    uint64_t src_modseq = 0;
    uint64_t dst_modseq = 0;
    if (rc == STORE_OK) {
        rc = store_pg_bump(s, coll, &src_modseq);
    }
    if (rc == STORE_OK) {
        rc = tombstone(s, coll, id, name, src_modseq, created);
    }
    if (rc == STORE_OK) {
        rc = store_pg_bump(s, to_coll, &dst_modseq);
    }
    if (rc == STORE_OK) {
        struct store_pg_params q = {0};
        store_pg_p_u64(&q, id);
        store_pg_p_u64(&q, to_coll);
        store_pg_p_text(&q, to_name);
        store_pg_p_u64(&q, dst_modseq);
        store_pg_p_i64(&q, time_now());
        rc = store_pg_run(s,
                          "UPDATE items SET coll = $2, name = $3, modseq = $4, "
                          "created_modseq = $4, mtime = $5 WHERE id = $1",
                          &q, NULL);
        if (rc == STORE_OK && to_coll != coll) {
            q.n = 2;
            rc = store_pg_run(s, "UPDATE item_spans SET coll = $2 WHERE item = $1", &q, NULL);
        }
    }
    return rc;
}

enum store_rc store_pg_item_touch(struct store *s, uint64_t coll, const char *name)
{
    uint64_t id = 0;
    uint64_t created = 0;
    uint64_t modseq = 0;
    enum store_rc rc = store_pg_lock_coll(s, coll);
    if (rc == STORE_OK) {
        rc = item_id(s, coll, name, &id, &created);
    }
    if (rc == STORE_OK) {
        rc = store_pg_bump(s, coll, &modseq);
    }
    if (rc == STORE_OK) {
        struct store_pg_params p = {0};
        store_pg_p_u64(&p, id);
        store_pg_p_u64(&p, modseq);
        store_pg_p_i64(&p, time_now());
        rc = store_pg_run(s, "UPDATE items SET modseq = $2, mtime = $3 WHERE id = $1", &p, NULL);
    }
    return rc;
}

/* By the two (coll, modseq) indexes, each count stopping at the cap. */
enum store_rc store_pg_changes_count(
    struct store *s, uint64_t coll, uint64_t since, uint64_t cap, uint64_t *n_out)
{
    *n_out = 0;
    if (cap == 0) {
        return STORE_OK;
    }
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, coll);
    store_pg_p_u64(&p, since);
    store_pg_p_u64(&p, cap < (uint64_t)INT64_MAX ? cap : (uint64_t)INT64_MAX);
    PGresult *res = NULL;
    enum store_rc rc = store_pg_exec(
        s,
        "SELECT (SELECT count(*) FROM (SELECT 1 FROM items WHERE coll = $1 AND modseq > $2 "
        "LIMIT $3) a) + (SELECT count(*) FROM (SELECT 1 FROM tombstones WHERE coll = $1 AND "
        "modseq > $2 LIMIT $3) b)",
        &p, &res);
    if (rc == STORE_OK) {
        uint64_t n = store_pg_col_u64(res, 0, 0);
        *n_out = n < cap ? n : cap;
    }
    PQclear(res);
    return rc;
}
