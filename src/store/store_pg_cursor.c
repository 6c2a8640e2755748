/* store/store_pg_cursor.c: cursors on PostgreSQL (store.h "Cursors"): each is a server-side
 * cursor (DECLARE ... NO SCROLL CURSOR) of the open transaction, read in pages of
 * STORE_PG_FETCH rows (FETCH), so a node holds one page per open cursor whatever the number
 * of rows, and several cursors stream at once on one connection. In a read transaction
 * (REPEATABLE READ READ ONLY) every page comes from the one snapshot. Rows are borrowed
 * from the current page until the next call.
 *
 * A change cursor in a read transaction is read by keyset instead: each page is a query of
 * its own, "modseq > the last page's last modseq ... LIMIT STORE_PG_FETCH", from the same
 * snapshot. A cursor's plan is made for all the rows it may return, and for the changes of a
 * collection since a watermark PostgreSQL 15 sorts every remaining row of both tables before
 * the first FETCH (it does not merge the two (coll, modseq) index scans of a UNION ALL): a
 * sync-collection paged by 500 over 100,000 items paid that sort on each of its 200 pages
 * (issue #10, 28 ms a page). With a LIMIT on each side the plan is two index scans of a page
 * each. A collection's modseqs are unique across its items and tombstones (each change takes
 * the next one, store_pg_bump), which the sync tokens assume too, so the keyset loses
 * nothing. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "store/store.h"
#include "store/store_pg_int.h"

enum {
    STORE_PG_FETCH = 256, /* rows per FETCH */
    ITEM_NCOLS = 13,
};

#define ITEM_COLS                                                                            \
  "id, coll, name, uid, content_type, size, modseq, created_modseq, mtime, dtstart, dtend, " \
  "comp, recurring"
#define COLL_COLS STORE_PG_COLL_COLS

enum cursor_kind {
    CUR_ITEMS,        /* item rows */
    CUR_CHANGES,      /* item rows, then the tombstone flag */
    CUR_RANGE,        /* item rows, then the instance index (NULL: none), then the content in
                         a read transaction (NULL otherwise) */
    CUR_COLLS,        /* collection rows */
    CUR_LIST,         /* STORE_COLS_LISTING rows: id, name, modseq */
    CUR_LIST_CHANGES, /* STORE_COLS_LISTING rows: id, name, modseq, created_modseq, then the
                         tombstone flag */
};

struct store_pg_cursor {
    struct store_cursor base;
    enum cursor_kind kind;
    char name[32]; /* of the server-side cursor ("" when read by keyset) */
    PGresult *page;
    int row; /* next row of `page` */
    bool is_done;
    uint64_t coll;      /* listings: the collection of every row */
    const char *ks_sql; /* keyset: a page's query ($1 collection, $2 after, $3 rows) */
    int ks_col;         /* keyset: the column of the modseq */
    uint64_t ks_coll;   /* keyset: $1 */
    uint64_t ks_after;  /* keyset: $2, the last modseq read */
    int last_row;       /* range: the row just returned with its content, or -1 */
};

static struct store_pg_cursor *pgcur(struct store_cursor *c)
{
    return (struct store_pg_cursor *)c;
}

/* Declares a cursor over `sql` with `p`. Outside a transaction there is none to stream from. */
static enum store_rc cursor_open(struct store *s,
                                 enum cursor_kind kind,
                                 const char *sql,
                                 const struct store_pg_params *p,
                                 struct store_cursor **out)
{
    static _Atomic uint64_t serial;
    *out = NULL;
    if (!store_in_txn(s)) {
        return store_pg_fail_msg(s, STORE_IO, "a cursor needs an open transaction");
    }
    struct store_pg_cursor *c = calloc(1, sizeof(*c));
    if (!c) {
        abort();
    }
    c->base.s = s;
    c->kind = kind;
    snprintf(c->name, sizeof(c->name), "almanac_c%" PRIu64, ++serial);
    char decl[2048];
    int n = snprintf(decl, sizeof(decl), "DECLARE %s NO SCROLL CURSOR FOR %s", c->name, sql);
    if (n < 0 || (size_t)n >= sizeof(decl)) {
        abort(); /* this file's queries fit */
    }
    /* DECLARE and the first FETCH in one round trip, neither prepared (the name varies) */
    char fetch[64];
    snprintf(fetch, sizeof(fetch), "FETCH %d FROM %s", STORE_PG_FETCH, c->name);
    const struct store_pg_op ops[] = {
        {.sql = decl, .p = p, .is_once = true},
        {.sql = fetch, .res_out = &c->page, .is_once = true},
    };
    enum store_rc rc = store_pg_exec_n(s, ops, 2);
    if (rc != STORE_OK) {
        free(c);
        return rc;
    }
    c->is_done = PQntuples(c->page) < STORE_PG_FETCH;
    *out = &c->base;
    return STORE_OK;
}

/* The next page of a keyset cursor into c->page. */
static enum store_rc keyset_page(struct store_pg_cursor *c)
{
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, c->ks_coll);
    store_pg_p_u64(&p, c->ks_after);
    store_pg_p_i64(&p, STORE_PG_FETCH);
    enum store_rc rc = store_pg_exec(c->base.s, c->ks_sql, &p, &c->page);
    if (rc != STORE_OK) {
        return rc;
    }
    int n = PQntuples(c->page);
    c->is_done = n < STORE_PG_FETCH;
    if (n > 0) {
        c->ks_after = store_pg_col_u64(c->page, n - 1, c->ks_col);
    }
    return STORE_OK;
}

/* A change cursor read by keyset (see the top of this file): no server-side cursor. */
static enum store_rc keyset_open(struct store *s,
                                 enum cursor_kind kind,
                                 const char *sql,
                                 int modseq_col,
                                 uint64_t coll,
                                 uint64_t since,
                                 struct store_cursor **out)
{
    *out = NULL;
    struct store_pg_cursor *c = calloc(1, sizeof(*c));
    if (!c) {
        abort();
    }
    c->base.s = s;
    c->kind = kind;
    c->ks_sql = sql;
    c->ks_col = modseq_col;
    c->ks_coll = coll;
    c->ks_after = since;
    enum store_rc rc = keyset_page(c);
    if (rc != STORE_OK) {
        PQclear(c->page);
        free(c);
        return rc;
    }
    *out = &c->base;
    return STORE_OK;
}

/* Moves to the next row, fetching the next page when the current one is read. */
static enum store_rc advance(struct store_pg_cursor *c)
{
    if (c->page && c->row < PQntuples(c->page)) {
        return STORE_OK;
    }
    if (c->is_done) {
        return STORE_NOTFOUND;
    }
    PQclear(c->page);
    c->page = NULL;
    c->row = 0;
    c->last_row = -1;
    if (c->ks_sql) {
        enum store_rc rc = keyset_page(c);
        return rc != STORE_OK ? rc : PQntuples(c->page) > 0 ? STORE_OK : STORE_NOTFOUND;
    }
    char fetch[64];
    snprintf(fetch, sizeof(fetch), "FETCH %d FROM %s", STORE_PG_FETCH, c->name);
    enum store_rc rc = store_pg_exec_n(
        c->base.s, &(struct store_pg_op){.sql = fetch, .res_out = &c->page, .is_once = true}, 1);
    if (rc != STORE_OK) {
        return rc;
    }
    int n = PQntuples(c->page);
    c->is_done = n < STORE_PG_FETCH;
    return n > 0 ? STORE_OK : STORE_NOTFOUND;
}

/* A listing's row (store.h STORE_COLS_LISTING): the name borrowed like a full row's,
 * everything else of the item zero. */
static void read_listing_row(const struct store_pg_cursor *c, int row, struct store_item *out)
{
    memset(out, 0, sizeof(*out));
    out->id = store_pg_col_u64(c->page, row, 0);
    out->coll = c->coll;
    out->name = store_pg_col_text(c->page, row, 1, NULL);
    out->modseq = store_pg_col_u64(c->page, row, 2);
    if (c->kind == CUR_LIST_CHANGES) {
        out->created_modseq = store_pg_col_u64(c->page, row, 3);
        out->is_tombstone = store_pg_col_i64(c->page, row, 4) == 1;
    }
}

/* A range cursor's row in a read transaction carries the item's content (and instance
 * index): the lookup of that item which a reader of the range (free-busy, a calendar-query
 * with calendar-data or a filter the index cannot decide) makes next for the row is answered
 * from it, no round trip of its own; a reader that makes none (a calendar-query for getetag)
 * pays nothing for it. */
bool store_pg_range_row_item(struct store *s,
                             uint64_t coll,
                             const char *name,
                             enum store_item_flags flags,
                             struct arena *arena,
                             struct store_item *out)
{
    struct store_pg_cursor *c = pgc(s)->range_last;
    if (!c || c->last_row < 0 || c->last_row >= PQntuples(c->page)) {
        return false;
    }
    int row = c->last_row;
    if (store_pg_col_u64(c->page, row, 1) != coll ||
        strcmp(PQgetvalue(c->page, row, 2), name) != 0) {
        return false;
    }
    store_pg_read_item(c->page, row, arena, false, out);
    if (flags & STORE_ITEM_CONTENT) {
        size_t n = (size_t)PQgetlength(c->page, row, ITEM_NCOLS + 1);
        const char *b = PQgetvalue(c->page, row, ITEM_NCOLS + 1);
        out->content = arena ? arena_memdup(arena, b, n) : b;
        out->size = n;
    }
    if ((flags & STORE_ITEM_INSTANCES) && !PQgetisnull(c->page, row, ITEM_NCOLS)) {
        size_t n = (size_t)PQgetlength(c->page, row, ITEM_NCOLS);
        const char *b = PQgetvalue(c->page, row, ITEM_NCOLS);
        out->cal.has_instances = true;
        out->cal.instances = arena ? (n ? arena_memdup(arena, b, n) : "") : b;
        out->cal.instances_size = n;
    }
    return true;
}

enum store_rc store_pg_cursor_next_item(struct store_cursor *cur, struct store_item *row_out)
{
    struct store_pg_cursor *c = pgcur(cur);
    if (c->kind == CUR_COLLS) {
        return store_pg_fail_msg(cur->s, STORE_IO, "not an item cursor");
    }
    enum store_rc rc = advance(c);
    if (rc != STORE_OK) {
        return rc;
    }
    int row = c->row++;
    if (c->kind == CUR_LIST || c->kind == CUR_LIST_CHANGES) {
        read_listing_row(c, row, row_out);
        return STORE_OK;
    }
    store_pg_read_item(c->page, row, NULL, false, row_out);
    if (c->kind == CUR_CHANGES) {
        row_out->is_tombstone = store_pg_col_i64(c->page, row, ITEM_NCOLS) == 1;
    } else if (c->kind == CUR_RANGE && !PQgetisnull(c->page, row, ITEM_NCOLS)) {
        row_out->cal.has_instances = true;
        row_out->cal.instances = PQgetvalue(c->page, row, ITEM_NCOLS);
        row_out->cal.instances_size = (size_t)PQgetlength(c->page, row, ITEM_NCOLS);
    }
    if (c->kind == CUR_RANGE && !PQgetisnull(c->page, row, ITEM_NCOLS + 1)) {
        c->last_row = row;
        pgc(c->base.s)->range_last = c;
    }
    return STORE_OK;
}

enum store_rc store_pg_cursor_next_coll(struct store_cursor *cur, struct store_coll *row_out)
{
    struct store_pg_cursor *c = pgcur(cur);
    if (c->kind != CUR_COLLS) {
        return store_pg_fail_msg(cur->s, STORE_IO, "not a collection cursor");
    }
    enum store_rc rc = advance(c);
    if (rc == STORE_OK) {
        store_pg_read_coll(c->page, c->row++, NULL, row_out);
    }
    return rc;
}

/* CLOSE while the transaction that declared it is open and sound; its end closes it
 * otherwise. */
void store_pg_cursor_close(struct store_cursor **cp)
{
    struct store_pg_cursor *c = pgcur(*cp);
    if (pgc(c->base.s)->range_last == c) {
        pgc(c->base.s)->range_last = NULL;
    }
    if (c->name[0] && PQtransactionStatus(pgc(c->base.s)->conn) == PQTRANS_INTRANS) {
        char close[64];
        snprintf(close, sizeof(close), "CLOSE %s", c->name);
        store_pg_defer(c->base.s, close); /* sent with the next statement, if any */
    }
    PQclear(c->page);
    free(c);
    *cp = NULL;
}

enum store_rc store_pg_items_open(struct store *s,
                                  uint64_t coll,
                                  enum store_order order,
                                  struct store_cursor **out)
{
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, coll);
    return cursor_open(s, CUR_ITEMS,
                       order == STORE_ORDER_NAME
                           ? "SELECT " ITEM_COLS " FROM items WHERE coll = $1 ORDER BY name"
                           : "SELECT " ITEM_COLS " FROM items WHERE coll = $1 ORDER BY modseq",
                       &p, out);
}

/* Live items and tombstones merged by modseq, each side by its (coll, modseq) index. */
enum store_rc
store_pg_changes_open(struct store *s, uint64_t coll, uint64_t since, struct store_cursor **out)
{
    if (store_pg_is_reading(s)) {
        return keyset_open(
            s, CUR_CHANGES,
            "(SELECT " ITEM_COLS ", 0 FROM items WHERE coll = $1 AND modseq > $2 ORDER BY modseq "
            "LIMIT $3) UNION ALL (SELECT item_id, coll, name, NULL, NULL, 0, modseq, "
            "created_modseq, deleted_at, NULL, NULL, 0, 0, 1 FROM tombstones WHERE coll = $1 AND "
            "modseq > $2 ORDER BY modseq LIMIT $3) ORDER BY 7 LIMIT $3",
            6, coll, since, out);
    }
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, coll);
    store_pg_p_u64(&p, since);
    return cursor_open(s, CUR_CHANGES,
                       "SELECT " ITEM_COLS ", 0 FROM items WHERE coll = $1 AND modseq > $2 "
                       "UNION ALL SELECT item_id, coll, name, NULL, NULL, 0, modseq, "
                       "created_modseq, deleted_at, NULL, NULL, 0, 0, 1 FROM tombstones "
                       "WHERE coll = $1 AND modseq > $2 ORDER BY 7",
                       &p, out);
}

/* Listings (STORE_COLS_LISTING, and STORE_COLS_NAMES with the id too): the columns a
 * listing reads, each side from a covering index (schema_pg/014: items_coll_name_list,
 * items_coll_modseq; tombstones by their (coll, modseq) index). */
enum store_rc store_pg_items_open_cols(struct store *s,
                                       uint64_t coll,
                                       enum store_order order,
                                       enum store_item_cols cols,
                                       struct store_cursor **out)
{
    if (cols == STORE_COLS_ALL) {
        return store_pg_items_open(s, coll, order, out);
    }
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, coll);
    enum store_rc rc =
        cursor_open(s, CUR_LIST,
                    order == STORE_ORDER_NAME
                        ? "SELECT id, name, modseq FROM items WHERE coll = $1 ORDER BY name"
                        : "SELECT id, name, modseq FROM items WHERE coll = $1 ORDER BY modseq",
                    &p, out);
    if (rc == STORE_OK) {
        pgcur(*out)->coll = coll;
    }
    return rc;
}

enum store_rc store_pg_changes_open_cols(struct store *s,
                                         uint64_t coll,
                                         uint64_t since,
                                         enum store_item_cols cols,
                                         struct store_cursor **out)
{
    if (cols == STORE_COLS_ALL) {
        return store_pg_changes_open(s, coll, since, out);
    }
    enum store_rc rc;
    if (store_pg_is_reading(s)) {
        rc = keyset_open(s, CUR_LIST_CHANGES,
                         "(SELECT id, name, modseq, created_modseq, 0 FROM items WHERE coll = $1 "
                         "AND modseq > $2 ORDER BY modseq LIMIT $3) UNION ALL (SELECT item_id, "
                         "name, modseq, created_modseq, 1 FROM tombstones WHERE coll = $1 AND "
                         "modseq > $2 ORDER BY modseq LIMIT $3) ORDER BY 3 LIMIT $3",
                         2, coll, since, out);
        if (rc == STORE_OK) {
            pgcur(*out)->coll = coll;
        }
        return rc;
    }
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, coll);
    store_pg_p_u64(&p, since);
    rc = cursor_open(s, CUR_LIST_CHANGES,
                     "SELECT id, name, modseq, created_modseq, 0 FROM items WHERE "
                     "coll = $1 AND modseq > $2 UNION ALL SELECT item_id, name, "
                     "modseq, created_modseq, 1 FROM tombstones WHERE coll = $1 "
                     "AND modseq > $2 ORDER BY 3",
                     &p, out);
    if (rc == STORE_OK) {
        pgcur(*out)->coll = coll;
    }
    return rc;
}

/* The GiST index finds the boxes of the collection's kinds that meet the closed range; each
 * item is then compared exactly, as SQLite's range query (store_sqlite_item.c). The items are
 * fetched by id from the array of those boxes' items (`= ANY(ARRAY(...))`, an index scan of
 * the primary key): written as `IN (SELECT ...)`, PostgreSQL 15 planned a hash semi-join
 * over a sequential scan of every item of the store, O(items) per query, not O(matches)
 * (EXPLAIN on the peers calendar of 100,000 events, session 9). The kinds:
 * by span the spans of both kinds (0-1), by instance the spans of items without boxes and
 * the boxes (1-2). */
enum store_rc store_pg_items_in_range_open(struct store *s,
                                           uint64_t coll,
                                           int64_t start,
                                           int64_t end,
                                           enum store_range_by by,
                                           struct store_cursor **out)
{
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, coll);
    store_pg_p_i64(&p, start);
    store_pg_p_i64(&p, end);
    bool by_span = (by & ~STORE_RANGE_CONTENT) == STORE_RANGE_SPAN;
    store_pg_p_i64(&p, by_span ? 0 : 1);
    store_pg_p_i64(&p, by_span ? 1 : 2);
    store_pg_p_bound(&p, start < end ? start : end);
    store_pg_p_bound(&p, start < end ? end : start);
    store_pg_p_i64(&p, store_pg_is_reading(s) && (by & STORE_RANGE_CONTENT) ? 1 : 0);
    /* only a series has an instance index (cal/object.c): no probe for the others */
    return cursor_open(
        s, CUR_RANGE,
        "SELECT " ITEM_COLS ", CASE WHEN recurring <> 0 THEN (SELECT data FROM item_instances x "
        "WHERE x.id = items.id) END, "
        "CASE WHEN $8::int = 1 THEN (SELECT data FROM item_content c WHERE c.id = items.id) END "
        "FROM items WHERE id = ANY(ARRAY(SELECT item FROM item_spans WHERE coll = $1 AND kind "
        "BETWEEN $4 AND $5 AND box && int8range($6, $7, '[]'))) AND coll = $1 AND dtstart < $3 AND "
        "(dtend > $2 OR (dtend = $2 AND (dtstart = dtend OR recurring <> 0))) "
        "ORDER BY dtstart, dtend, id",
        &p, out);
}

enum store_rc store_pg_children_open(struct store *s, uint64_t coll, struct store_cursor **out)
{
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, coll);
    return cursor_open(s, CUR_COLLS,
                       "SELECT " COLL_COLS " FROM collections WHERE parent = $1 ORDER BY name", &p,
                       out);
}

enum store_rc store_pg_all_colls_open(struct store *s, struct store_cursor **out)
{
    return cursor_open(s, CUR_COLLS, "SELECT " COLL_COLS " FROM collections ORDER BY id", NULL,
                       out);
}

/* The members of (device, coll) whose item ended before `cutoff`, oldest first, at most
 * `limit`: by the members' partial (device, coll, dtend) index, each finding its live item. */
enum store_rc store_pg_eas_members_aged_open(struct store *s,
                                             uint64_t device,
                                             uint64_t coll,
                                             int64_t cutoff,
                                             unsigned limit,
                                             struct store_cursor **out)
{
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, device);
    store_pg_p_u64(&p, coll);
    store_pg_p_i64(&p, cutoff);
    store_pg_p_u64(&p, limit);
    return cursor_open(s, CUR_ITEMS,
                       "SELECT " ITEM_COLS " FROM items JOIN (SELECT item AS m_item, dtend AS "
                       "m_dtend FROM eas_members WHERE device = $1 AND coll = $2 AND dtend IS NOT "
                       "NULL AND dtend < $3) m ON id = m_item WHERE coll = $2 AND dtend < $3 "
                       "ORDER BY m_dtend LIMIT $4",
                       &p, out);
}
