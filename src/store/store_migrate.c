/* store/store_migrate.c: store_migrate(), a SQLite store copied into an empty PostgreSQL
 * database, table by table, keeping every id, modseq, epoch, tombstone and secret
 * (store_migrate.h; docs/migrate-store.md).
 *
 * How:
 * - The source is opened read-only (SQLITE_OPEN_READONLY, PRAGMA query_only) and read in one
 *   transaction: every table comes from one snapshot. PRAGMA data_version, read before the
 *   snapshot and after it, tells whether another connection (a running almanacd) committed
 *   meanwhile; then the copy is refused, since it may miss those writes.
 * - The target is opened with store_pg_open(), which makes or migrates its schema; the
 *   schema version must then be the source's (and this build's). Everything else happens in
 *   one transaction that first locks every table against writers (SHARE ROW EXCLUSIVE) and
 *   checks they are empty, so two copies or a node cannot interleave with it, and a refusal
 *   or failure rolls back to the empty schema.
 * - Both schemas are checked against the table list below (tables and columns, with the
 *   PostgreSQL column types), so a migration that adds a table or a column without teaching
 *   this file about it makes the copy refuse instead of silently dropping data.
 * - Rows stream from a SQLite statement into COPY FROM STDIN in PostgreSQL's binary format
 *   through a COPY_BUF_BYTES buffer (a larger value goes straight through), in dependency
 *   order (collections parents first, by depth). The foreign keys and the indexes that back
 *   no constraint are dropped for the load and made again after it from their catalog
 *   definitions (defer_checks): a bulk build instead of a row-by-row upkeep.
 * - The interval index (item_spans) is derived from the items, but the instance boxes come
 *   from the calendar layer, which the store cannot call: they are copied from SQLite's
 *   R*Tree instead. Its boxes are minutes rounded outwards and clamped to 32 bits; they
 *   become seconds (the clamps unbounded ends), so every box still covers what it covered
 *   and a range query answers on PostgreSQL what it answered on SQLite. The span (slot 0)
 *   is made exact from items.dtstart/dtend, as PostgreSQL's own writes make it.
 * - Then the meta rows (GUID, secret), the identity sequences past the highest id the
 *   source ever gave (sqlite_sequence: AUTOINCREMENT never reuses a deleted item's id, which
 *   tombstones and devices still name), the credential generation sequence past the
 *   source's counter, and the verification: each table's rows counted on both sides.
 *
 * Memory: SQLite's page cache, the COPY buffer and libpq's output buffer; never a table. */
#include "store/store_migrate.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "store/store_pg_int.h"
#include "store/store_schema.h"
#include "util/compiler.h"
#include "util/log.h"

enum {
    COPY_BUF_BYTES = 64 * 1024, /* COPY data gathered before PQputCopyData */
    SQL_BYTES = 1536,           /* one statement made from the table list */
    SOURCE_BUSY_MS = 5000,      /* waiting for a writer's lock on the source's WAL index */
};

/* One copied table: its columns, the same names on both engines, and their PostgreSQL
 * types in binary COPY ('8' bigint, '4' integer, 't' text, 'b' bytea). In dependency order:
 * a row's foreign keys point to tables above it. */
struct mtable {
    const char *name;   /* the table, on both engines */
    const char *cols;   /* comma-separated, no spaces: what is read and copied */
    const char *types;  /* one letter per column of `cols` */
    const char *select; /* the source query, when not SELECT cols FROM name */
};

static const struct mtable tables[] = {
    {"principals", "id,name,pwhash,home_id,cred_gen", "8tt88", NULL},
    /* parents before children: a moved collection may have an older child than itself */
    {"collections",
     "id,owner,parent,kind,name,modseq,epoch,change_guid,tomb_horizon,created,updated,comps",
     "8884t88b8884",
     "WITH RECURSIVE tree(id, depth) AS (SELECT id, 0 FROM collections WHERE parent IS NULL "
     "UNION ALL SELECT c.id, t.depth + 1 FROM collections c JOIN tree t ON c.parent = t.id) "
     "SELECT c.id, c.owner, c.parent, c.kind, c.name, c.modseq, c.epoch, c.change_guid, "
     "c.tomb_horizon, c.created, c.updated, c.comps FROM tree JOIN collections c ON c.id = "
     "tree.id ORDER BY tree.depth, c.id"},
    {"items",
     "id,coll,name,uid,content_type,size,modseq,created_modseq,mtime,dtstart,dtend,comp,"
     "recurring",
     "88ttt88888844", NULL},
    {"item_content", "id,data", "8b", NULL},
    {"item_instances", "id,data", "8b", NULL},
    {"tombstones", "coll,item_id,name,modseq,created_modseq,deleted_at", "88t888", NULL},
    {"props", "res_kind,res_id,ns,name,value", "48ttb", NULL},
    {"eas_devices",
     "id,principal,device_key,device_id,device_type,user_agent,protocol,first_seen,last_seen,"
     "policy_key,policy_pending,model,friendly_name,os,os_language,imei,phone_number,"
     "mobile_operator",
     "88ttttt8888ttttttt", NULL},
    {"eas_blobs", "device,name,data", "8tb", NULL},
    {"eas_sync", "device,coll,key_cur,key_prev,cursor,coll_epoch,options,answer,updated",
     "88tt88bb8", NULL},
    {"eas_members", "device,coll,item,modseq,dtend", "88888", NULL},
    {"subscriptions", "token,coll,created", "t88", NULL},
    {"shares", "coll,sharee,access,name,created", "884t8", NULL},
    {"sched_addrs", "addr,principal,created", "t88", NULL},
    {"imip_queue",
     "id,created,principal,mail_from,rcpt_to,method,uid,attendee,message,state,attempts,"
     "next_try,last_error,done",
     "888tttttb448t8", NULL},
};

/* The interval index: SQLite's R*Tree (schema/010) read raw into a temporary table, then
 * made PostgreSQL's rows (schema_pg/010) by one statement (see the file's comment). */
static const char spans_name[] = "item_spans";
static const char spans_src_cols[] = "id,k0,k1,t0,t1";
static const char spans_dst_cols[] = "item,slot,coll,kind,box";
static const char spans_select[] = "SELECT id, k0, t0, t1 FROM item_spans";
static const char spans_types[] = "8888";
static const char spans_stage[] = "CREATE TEMPORARY TABLE migrate_spans (id bigint, k0 bigint, "
                                  "t0 bigint, t1 bigint) ON COMMIT DROP";
static const char spans_copy[] = "COPY migrate_spans (id, k0, t0, t1) FROM STDIN (FORMAT binary)";
static const char spans_fill[] =
    "INSERT INTO item_spans(item, slot, coll, kind, box) "
    "SELECT m.id >> 6, (m.id & 63)::integer, i.coll, (m.k0 & 3)::smallint, "
    "CASE WHEN m.id & 63 = 0 THEN int8range(NULLIF(i.dtstart, -9223372036854775808), "
    "NULLIF(greatest(i.dtstart, i.dtend), 9223372036854775807), '[]') "
    "ELSE int8range(CASE WHEN m.t0 <= -2147483648 THEN NULL ELSE m.t0 * 60 END, "
    "CASE WHEN m.t1 >= 2147483647 THEN NULL ELSE greatest(m.t0, m.t1) * 60 END, '[]') END "
    "FROM migrate_spans m JOIN items i ON i.id = m.id >> 6";

/* Tables of either engine that are not copied as rows: the engine's own bookkeeping. */
static const char *const not_copied[] = {"meta", "schema_version", "item_spans_node",
                                         "item_spans_rowid", "item_spans_parent"};

/* Tables whose ids come from an identity column on PostgreSQL (AUTOINCREMENT on SQLite but
 * imip_queue's, a plain rowid there). */
static const char *const identities[] = {"principals", "collections", "items", "eas_devices",
                                         "imip_queue"};

/* One copy in progress. */
struct mig {
    sqlite3 *src;
    struct store *dst;
    PGconn *conn;
    char *msg; /* STORE_MSG_MAX */
    store_migrate_progress_fn *progress;
    void *ctx;
    struct store_migrate_report *report;
    uint64_t done, total;
    unsigned char buf[COPY_BUF_BYTES];
    size_t len;
    bool copy_failed;
};

static enum store_rc ALM_PRINTF(3, 4) fail(struct mig *m, enum store_rc rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->msg, STORE_MSG_MAX, fmt, ap);
    va_end(ap);
    return rc;
}

static enum store_rc src_fail(struct mig *m, const char *what)
{
    return fail(m, STORE_IO, "source: %s: %s", what, sqlite3_errmsg(m->src));
}

/* The PostgreSQL error the engine's helpers recorded on the target connection. */
static enum store_rc dst_fail(struct mig *m, enum store_rc rc, const char *what)
{
    return fail(m, rc, "target: %s: %s", what, store_last_error(m->dst));
}

/* The position of `name` in the comma-separated `list`, or -1. */
static int list_index(const char *list, const char *name)
{
    size_t n = strlen(name);
    int idx = 0;
    for (const char *p = list; *p; idx++) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && memcmp(p, name, n) == 0) {
            return idx;
        }
        p += len + (end ? 1 : 0);
    }
    return -1;
}

static bool list_has(const char *list, const char *name)
{
    return list_index(list, name) >= 0;
}

static size_t list_len(const char *list)
{
    size_t n = 1;
    for (const char *p = list; *p; p++) {
        n += *p == ',';
    }
    return n;
}

/* ---------------------------------------------------------------------------------------- */
/* The source */

/* One integer from `sql` (with ?1 = `arg` when not NULL): 0 when no row. */
static enum store_rc src_i64(struct mig *m, const char *sql, const char *arg, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    *out = 0;
    if (sqlite3_prepare_v2(m->src, sql, -1, &st, NULL) != SQLITE_OK) {
        return src_fail(m, "prepare");
    }
    if (arg) {
        sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
    }
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        rc = SQLITE_DONE;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? STORE_OK : src_fail(m, "read");
}

static enum store_rc src_exec(struct mig *m, const char *sql)
{
    return sqlite3_exec(m->src, sql, NULL, NULL, NULL) == SQLITE_OK ? STORE_OK : src_fail(m, sql);
}

static bool is_copied(const char *name)
{
    if (strcmp(name, spans_name) == 0) {
        return true;
    }
    for (size_t i = 0; i < ALM_ARRAY_LEN(tables); i++) {
        if (strcmp(tables[i].name, name) == 0) {
            return true;
        }
    }
    return false;
}

static bool is_bookkeeping(const char *name)
{
    for (size_t i = 0; i < ALM_ARRAY_LEN(not_copied); i++) {
        if (strcmp(not_copied[i], name) == 0) {
            return true;
        }
    }
    return false;
}

/* The columns of source table `name` must be exactly `cols`. */
static enum store_rc src_check_cols(struct mig *m, const char *name, const char *cols)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(m->src, "SELECT name FROM pragma_table_info(?1)", -1, &st, NULL) !=
        SQLITE_OK) {
        return src_fail(m, "prepare");
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    size_t n = 0;
    int rc;
    enum store_rc out = STORE_OK;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *col = (const char *)sqlite3_column_text(st, 0);
        n++;
        if (out == STORE_OK && !list_has(cols, col ? col : "")) {
            out = fail(m, STORE_CONFLICT,
                       "source table %s has a column %s this build's migrate-store does not copy",
                       name, col ? col : "");
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        return src_fail(m, "table_info");
    }
    if (out == STORE_OK && n != list_len(cols)) {
        out = fail(m, STORE_CONFLICT, "source table %s lacks columns this copy reads (%s)", name,
                   cols);
    }
    return out;
}

/* Every table of the source is copied or bookkeeping, and has the columns copied. */
static enum store_rc src_check_schema(struct mig *m)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(m->src,
                           "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT "
                           "LIKE 'sqlite\\_%' ESCAPE '\\'",
                           -1, &st, NULL) != SQLITE_OK) {
        return src_fail(m, "prepare");
    }
    int rc;
    enum store_rc out = STORE_OK;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && out == STORE_OK) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        if (name && !is_copied(name) && !is_bookkeeping(name)) {
            out = fail(m, STORE_CONFLICT,
                       "source table %s is unknown to this build's migrate-store", name);
        }
    }
    sqlite3_finalize(st);
    if (out != STORE_OK) {
        return out;
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        return src_fail(m, "sqlite_schema");
    }
    for (size_t i = 0; out == STORE_OK && i < ALM_ARRAY_LEN(tables); i++) {
        out = src_check_cols(m, tables[i].name, tables[i].cols);
    }
    return out == STORE_OK ? src_check_cols(m, spans_name, spans_src_cols) : out;
}

/* ---------------------------------------------------------------------------------------- */
/* The target */

static enum store_rc dst_run(struct mig *m, const char *sql, const char *what)
{
    enum store_rc rc = store_pg_run(m->dst, sql, NULL, NULL);
    return rc == STORE_OK ? rc : dst_fail(m, rc, what);
}

static enum store_rc dst_i64(struct mig *m, const char *sql, int64_t *out)
{
    PGresult *res = NULL;
    enum store_rc rc = store_pg_exec(m->dst, sql, NULL, &res);
    if (rc != STORE_OK) {
        return dst_fail(m, rc, sql);
    }
    *out = PQntuples(res) > 0 ? store_pg_col_i64(res, 0, 0) : 0;
    PQclear(res);
    return STORE_OK;
}

static char type_letter(const char *pg_type)
{
    return strcmp(pg_type, "bigint") == 0    ? '8'
           : strcmp(pg_type, "integer") == 0 ? '4'
           : strcmp(pg_type, "text") == 0    ? 't'
           : strcmp(pg_type, "bytea") == 0   ? 'b'
                                             : '?';
}

/* The columns of target table `name` must be exactly `cols`, of `types` when not NULL. */
static enum store_rc
dst_check_cols(struct mig *m, const char *name, const char *cols, const char *types)
{
    struct store_pg_params p = {0};
    store_pg_p_text(&p, name);
    PGresult *res = NULL;
    enum store_rc rc = store_pg_exec(m->dst,
                                     "SELECT column_name::text, data_type::text FROM "
                                     "information_schema.columns WHERE table_schema = "
                                     "current_schema() AND table_name = $1",
                                     &p, &res);
    if (rc != STORE_OK) {
        return dst_fail(m, rc, "columns");
    }
    int n = PQntuples(res);
    for (int r = 0; rc == STORE_OK && r < n; r++) {
        const char *col = store_pg_col_text(res, r, 0, NULL);
        const char *type = store_pg_col_text(res, r, 1, NULL);
        if (!list_has(cols, col)) {
            rc = fail(m, STORE_CONFLICT,
                      "target table %s has a column %s this build's migrate-store does not fill",
                      name, col);
            break;
        }
        if (!types) {
            continue;
        }
        if (type_letter(type) != types[list_index(cols, col)]) {
            rc = fail(m, STORE_CONFLICT, "target column %s.%s is %s, not what this copy sends",
                      name, col, type);
        }
    }
    if (rc == STORE_OK && (size_t)n != list_len(cols)) {
        rc = fail(m, STORE_CONFLICT, "target table %s lacks columns this copy fills (%s)", name,
                  cols);
    }
    PQclear(res);
    return rc;
}

/* Every table of the target is copied or bookkeeping, with the columns and types copied. */
static enum store_rc dst_check_schema(struct mig *m)
{
    PGresult *res = NULL;
    enum store_rc rc = store_pg_exec(m->dst,
                                     "SELECT table_name::text FROM information_schema.tables "
                                     "WHERE table_schema = current_schema() AND table_type = "
                                     "'BASE TABLE'",
                                     NULL, &res);
    if (rc != STORE_OK) {
        return dst_fail(m, rc, "tables");
    }
    for (int r = 0; rc == STORE_OK && r < PQntuples(res); r++) {
        const char *name = store_pg_col_text(res, r, 0, NULL);
        if (!is_copied(name) && !is_bookkeeping(name)) {
            rc = fail(m, STORE_CONFLICT, "target table %s is unknown to this build's migrate-store",
                      name);
        }
    }
    PQclear(res);
    for (size_t i = 0; rc == STORE_OK && i < ALM_ARRAY_LEN(tables); i++) {
        rc = dst_check_cols(m, tables[i].name, tables[i].cols, tables[i].types);
    }
    return rc == STORE_OK ? dst_check_cols(m, spans_name, spans_dst_cols, NULL) : rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Binary COPY (PostgreSQL's "Binary Format" of COPY: a signature and two 32-bit words, then
 * per row a 16-bit field count and per field a 32-bit length, -1 for NULL, and the bytes;
 * integers in network order; a 16-bit -1 at the end) */

static void copy_flush(struct mig *m)
{
    if (m->len > 0 && !m->copy_failed &&
        PQputCopyData(m->conn, (const char *)m->buf, (int)m->len) != 1) {
        m->copy_failed = true;
    }
    m->len = 0;
}

static void copy_put(struct mig *m, const void *p, size_t n)
{
    if (n > sizeof(m->buf) - m->len) {
        copy_flush(m);
    }
    if (n >= sizeof(m->buf)) { /* a large value goes through as it is */
        for (size_t off = 0; off < n && !m->copy_failed;) {
            size_t chunk = n - off < INT32_MAX ? n - off : INT32_MAX;
            if (PQputCopyData(m->conn, (const char *)p + off, (int)chunk) != 1) {
                m->copy_failed = true;
            }
            off += chunk;
        }
        return;
    }
    memcpy(m->buf + m->len, p, n);
    m->len += n;
}

static void copy_be(struct mig *m, uint64_t v, unsigned bytes)
{
    unsigned char b[8];
    for (unsigned i = 0; i < bytes; i++) {
        b[i] = (unsigned char)(v >> (8 * (bytes - 1 - i)));
    }
    copy_put(m, b, bytes);
}

/* Starts `copy_sql` (COPY ... FROM STDIN (FORMAT binary)) and sends the header. */
static enum store_rc copy_begin(struct mig *m, const char *copy_sql)
{
    PGresult *res = PQexec(m->conn, copy_sql);
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st != PGRES_COPY_IN) {
        enum store_rc rc = fail(m, STORE_IO, "target: %s: %s", copy_sql,
                                res ? PQresultErrorMessage(res) : PQerrorMessage(m->conn));
        PQclear(res);
        return rc;
    }
    PQclear(res);
    m->len = 0;
    m->copy_failed = false;
    static const unsigned char signature[11] = {'P',  'G',  'C',  'O',  'P', 'Y',
                                                '\n', 0xff, '\r', '\n', 0};
    copy_put(m, signature, sizeof(signature));
    copy_be(m, 0, 4); /* flags: no OIDs */
    copy_be(m, 0, 4); /* header extension length */
    return STORE_OK;
}

/* Ends the COPY: the trailer and the server's answer, or with `abort_why` an abort (the
 * source failed; the caller has the message). */
static enum store_rc copy_end(struct mig *m, const char *abort_why)
{
    if (!abort_why) {
        copy_be(m, 0xffff, 2);
        copy_flush(m);
    }
    enum store_rc rc = STORE_OK;
    if (PQputCopyEnd(m->conn, abort_why ? abort_why : (m->copy_failed ? "send failed" : NULL)) !=
        1) {
        rc = fail(m, STORE_IO, "target: end of COPY: %s", PQerrorMessage(m->conn));
    }
    PGresult *res;
    while ((res = PQgetResult(m->conn)) != NULL) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK && rc == STORE_OK && !abort_why) {
            const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
            rc = fail(m, state && strncmp(state, "23", 2) == 0 ? STORE_CONFLICT : STORE_IO,
                      "target: COPY: %s", PQresultErrorMessage(res));
        }
        PQclear(res);
    }
    if (rc == STORE_OK && m->copy_failed && !abort_why) {
        rc = fail(m, STORE_IO, "target: COPY: %s", PQerrorMessage(m->conn));
    }
    size_t n = strlen(m->msg);
    while (n > 0 && m->msg[n - 1] == '\n') {
        m->msg[--n] = '\0';
    }
    return rc;
}

/* Sends column `i` of the current row of `st` as a field of PostgreSQL type `type`. */
static enum store_rc
copy_field(struct mig *m, sqlite3_stmt *st, int i, char type, const char *table)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL) {
        copy_be(m, 0xffffffffu, 4);
        return STORE_OK;
    }
    switch (type) {
    case '8':
        copy_be(m, 8, 4);
        copy_be(m, (uint64_t)sqlite3_column_int64(st, i), 8);
        return STORE_OK;
    case '4': {
        int64_t v = sqlite3_column_int64(st, i);
        if (v < INT32_MIN || v > INT32_MAX) {
            return fail(m, STORE_CONFLICT, "source: %s.%s holds %" PRId64 ", past 32 bits", table,
                        sqlite3_column_name(st, i), v);
        }
        copy_be(m, 4, 4);
        copy_be(m, (uint32_t)(int32_t)v, 4);
        return STORE_OK;
    }
    default: { /* 't', 'b': text as UTF-8 bytes, bytea as its bytes */
        const void *p =
            type == 't' ? (const void *)sqlite3_column_text(st, i) : sqlite3_column_blob(st, i);
        int n = sqlite3_column_bytes(st, i);
        copy_be(m, (uint32_t)n, 4);
        if (n > 0) {
            copy_put(m, p, (size_t)n);
        }
        return STORE_OK;
    }
    }
}

static void progress(struct mig *m, const char *table, uint64_t done, uint64_t rows)
{
    if (m->progress) {
        m->progress(m->ctx, table, done, rows, m->done, m->total);
    }
}

/* Streams the rows of `select` (columns of `types`) into `copy_sql`; `rows` is the count
 * taken before, for the progress. */
static enum store_rc copy_table(struct mig *m,
                                const char *label,
                                const char *select,
                                const char *types,
                                const char *copy_sql,
                                uint64_t rows)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(m->src, select, -1, &st, NULL) != SQLITE_OK) {
        return src_fail(m, select);
    }
    enum store_rc rc = copy_begin(m, copy_sql);
    if (rc != STORE_OK) {
        sqlite3_finalize(st);
        return rc;
    }
    int ncols = (int)strlen(types);
    uint64_t done = 0;
    int step;
    progress(m, label, 0, rows);
    while (rc == STORE_OK && !m->copy_failed && (step = sqlite3_step(st)) == SQLITE_ROW) {
        copy_be(m, (uint64_t)ncols, 2);
        for (int i = 0; rc == STORE_OK && i < ncols; i++) {
            rc = copy_field(m, st, i, types[i], label);
        }
        done++;
        m->done++;
        if (done % STORE_MIGRATE_STEP == 0) {
            progress(m, label, done, rows);
        }
    }
    if (rc == STORE_OK && !m->copy_failed && step != SQLITE_DONE) {
        rc = src_fail(m, label);
    }
    sqlite3_finalize(st);
    enum store_rc end = copy_end(m, rc == STORE_OK ? NULL : "the source could not be read");
    if (rc == STORE_OK) {
        rc = end;
    }
    if (rc == STORE_OK) {
        progress(m, label, done, rows);
    }
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* The steps */

/* The source's row counts, into the report, in copy order, then item_spans and meta. */
static enum store_rc count_source(struct mig *m)
{
    struct store_migrate_report *r = m->report;
    char sql[SQL_BYTES];
    enum store_rc rc = STORE_OK;
    for (size_t i = 0; rc == STORE_OK && i <= ALM_ARRAY_LEN(tables) + 1; i++) {
        const char *name = i < ALM_ARRAY_LEN(tables)    ? tables[i].name
                           : i == ALM_ARRAY_LEN(tables) ? spans_name
                                                        : "meta";
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s%s", name,
                 strcmp(name, "meta") == 0 ? " WHERE key <> 'cred_gen'" : "");
        int64_t n = 0;
        rc = src_i64(m, sql, NULL, &n);
        r->tables[i].name = name;
        r->tables[i].source_rows = (uint64_t)n;
        r->rows += (uint64_t)n;
        r->ntables = i + 1;
    }
    m->total = r->rows;
    return rc;
}

/* Locks every table against writers, then refuses a target that holds any row. */
static enum store_rc lock_empty_target(struct mig *m)
{
    char sql[SQL_BYTES];
    size_t n = (size_t)snprintf(sql, sizeof(sql), "LOCK TABLE meta, %s", spans_name);
    for (size_t i = 0; i < ALM_ARRAY_LEN(tables) && n < sizeof(sql); i++) {
        n += (size_t)snprintf(sql + n, sizeof(sql) - n, ", %s", tables[i].name);
    }
    if (n < sizeof(sql)) {
        snprintf(sql + n, sizeof(sql) - n, " IN SHARE ROW EXCLUSIVE MODE");
    }
    enum store_rc rc = dst_run(m, "SET LOCAL statement_timeout = 0", "settings");
    if (rc == STORE_OK) {
        rc = dst_run(m, "SET LOCAL lock_timeout = '30s'", "settings");
    }
    if (rc == STORE_OK) {
        rc = dst_run(m, sql, "locking the tables (is almanacd running on the target?)");
    }
    for (size_t i = 0; rc == STORE_OK && i <= ALM_ARRAY_LEN(tables); i++) {
        const char *name = i < ALM_ARRAY_LEN(tables) ? tables[i].name : spans_name;
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM (SELECT 1 FROM %s LIMIT 1) x", name);
        int64_t any = 0;
        rc = dst_i64(m, sql, &any);
        if (rc == STORE_OK && any) {
            rc = fail(m, STORE_EXISTS,
                      "the target database is not empty (table %s has rows); migrate-store "
                      "copies into an empty database only",
                      name);
        }
    }
    return rc;
}

/* The statements that make again what defer_checks() dropped, in order. */
struct redo {
    char **sql;
    size_t n, cap;
};

static void redo_add(struct redo *r, const char *sql)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 32;
        r->sql = realloc(r->sql, r->cap * sizeof(*r->sql));
        if (!r->sql) {
            abort();
        }
    }
    r->sql[r->n] = strdup(sql);
    if (!r->sql[r->n]) {
        abort();
    }
    r->n++;
}

static void redo_free(struct redo *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->sql[i]);
    }
    free(r->sql);
    memset(r, 0, sizeof(*r));
}

/* Drops the target's foreign keys and the indexes that back no constraint (the primary
 * keys stay), keeping in `redo` the statements that make them again: the indexes first, then
 * the foreign keys (whose check is then one join per key, not a trigger per row). Loading
 * rows and then building an index is several times faster than maintaining it row by row,
 * the GiST index of the interval boxes most of all. Read from the catalog, so whatever the
 * migrations made is made again; all inside the copy's transaction, so a failure restores
 * them with the rollback. */
static enum store_rc defer_checks(struct mig *m, struct redo *redo)
{
    static const char *const queries[] = {
        "SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', c.conrelid::regclass, c.conname), "
        "format('ALTER TABLE %s ADD CONSTRAINT %I %s', c.conrelid::regclass, c.conname, "
        "pg_get_constraintdef(c.oid)) FROM pg_constraint c JOIN pg_namespace n ON n.oid = "
        "c.connamespace WHERE c.contype = 'f' AND n.nspname = current_schema() ORDER BY 1",
        "SELECT format('DROP INDEX %s', i.indexrelid::regclass), pg_get_indexdef(i.indexrelid) "
        "FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = "
        "t.relnamespace WHERE n.nspname = current_schema() AND t.relname <> 'schema_version' "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) "
        "ORDER BY 1",
    };
    struct redo fks = {0};
    enum store_rc rc = STORE_OK;
    for (size_t q = 0; rc == STORE_OK && q < ALM_ARRAY_LEN(queries); q++) {
        PGresult *res = NULL;
        rc = store_pg_exec(m->dst, queries[q], NULL, &res);
        if (rc != STORE_OK) {
            rc = dst_fail(m, rc, "the catalog");
            break;
        }
        for (int r = 0; rc == STORE_OK && r < PQntuples(res); r++) {
            rc = dst_run(m, store_pg_col_text(res, r, 0, NULL), "deferring an index");
            redo_add(q == 0 ? &fks : redo, store_pg_col_text(res, r, 1, NULL));
        }
        PQclear(res);
    }
    for (size_t i = 0; i < fks.n; i++) {
        redo_add(redo, fks.sql[i]);
    }
    redo_free(&fks);
    return rc;
}

/* Runs the statements of `redo`, reporting each as a step of "indexes". */
static enum store_rc redo_checks(struct mig *m, const struct redo *redo)
{
    enum store_rc rc = dst_run(m, "SET LOCAL maintenance_work_mem = '64MB'", "settings");
    for (size_t i = 0; rc == STORE_OK && i < redo->n; i++) {
        progress(m, "indexes", i, redo->n);
        rc = dst_run(m, redo->sql[i], "rebuilding an index or foreign key");
    }
    if (rc == STORE_OK) {
        progress(m, "indexes", redo->n, redo->n);
    }
    return rc;
}

static enum store_rc copy_rows(struct mig *m)
{
    char select[SQL_BYTES], copy[SQL_BYTES];
    enum store_rc rc = STORE_OK;
    for (size_t i = 0; rc == STORE_OK && i < ALM_ARRAY_LEN(tables); i++) {
        const struct mtable *t = &tables[i];
        if (!t->select) {
            snprintf(select, sizeof(select), "SELECT %s FROM %s", t->cols, t->name);
        }
        snprintf(copy, sizeof(copy), "COPY %s (%s) FROM STDIN (FORMAT binary)", t->name, t->cols);
        rc = copy_table(m, t->name, t->select ? t->select : select, t->types, copy,
                        m->report->tables[i].source_rows);
    }
    if (rc == STORE_OK) {
        rc = dst_run(m, spans_stage, "staging the interval index");
    }
    if (rc == STORE_OK) {
        rc = copy_table(m, spans_name, spans_select, spans_types, spans_copy,
                        m->report->tables[ALM_ARRAY_LEN(tables)].source_rows);
    }
    if (rc == STORE_OK) {
        rc = dst_run(m, spans_fill, "the interval index");
    }
    return rc;
}

/* The meta rows but the SQLite-only credential counter, which becomes cred_gen_seq. */
static enum store_rc copy_meta(struct mig *m)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(m->src, "SELECT key, value FROM meta WHERE key <> 'cred_gen'", -1, &st,
                           NULL) != SQLITE_OK) {
        return src_fail(m, "meta");
    }
    int step;
    enum store_rc rc = STORE_OK;
    uint64_t done = 0;
    while (rc == STORE_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_pg_params p = {0};
        store_pg_p_text(&p, (const char *)sqlite3_column_text(st, 0));
        const void *v = sqlite3_column_type(st, 1) == SQLITE_BLOB
                            ? sqlite3_column_blob(st, 1)
                            : (const void *)sqlite3_column_text(st, 1);
        store_pg_p_bytes(&p, v, (size_t)sqlite3_column_bytes(st, 1));
        rc = store_pg_run(m->dst,
                          "INSERT INTO meta(key, value) VALUES ($1, $2) ON CONFLICT (key) DO "
                          "UPDATE SET value = excluded.value",
                          &p, NULL);
        if (rc != STORE_OK) {
            rc = dst_fail(m, rc, "meta");
        }
        done++;
        m->done++;
    }
    if (rc == STORE_OK && step != SQLITE_DONE) {
        rc = src_fail(m, "meta");
    }
    sqlite3_finalize(st);
    if (rc == STORE_OK) {
        progress(m, "meta", done, done);
    }
    return rc;
}

/* The identity sequences past every id the source gave (sqlite_sequence keeps the highest
 * ever, above a deleted last row's), items' also past the tombstones' ids, and the
 * credential generation past the source's counter. */
static enum store_rc set_sequences(struct mig *m)
{
    enum store_rc rc = STORE_OK;
    bool has_seq_table = false;
    int64_t present = 0;
    rc = src_i64(m, "SELECT count(*) FROM sqlite_schema WHERE name = 'sqlite_sequence'", NULL,
                 &present);
    has_seq_table = present > 0;
    for (size_t i = 0; rc == STORE_OK && i < ALM_ARRAY_LEN(identities); i++) {
        const char *t = identities[i];
        int64_t seq = 0;
        if (has_seq_table) {
            rc = src_i64(m, "SELECT seq FROM sqlite_sequence WHERE name = ?1", t, &seq);
        }
        char sql[SQL_BYTES];
        snprintf(sql, sizeof(sql),
                 "SELECT setval(pg_get_serial_sequence('%s', 'id'), greatest(%" PRId64
                 ", (SELECT coalesce(max(id), 0) FROM %s)%s) + 1, false)",
                 t, seq, t,
                 strcmp(t, "items") == 0 ? ", (SELECT coalesce(max(item_id), 0) FROM tombstones)"
                                         : "");
        if (rc == STORE_OK) {
            rc = dst_run(m, sql, "setting a sequence");
        }
    }
    int64_t gen = 0;
    if (rc == STORE_OK) {
        rc = src_i64(m, "SELECT value FROM meta WHERE key = 'cred_gen'", NULL, &gen);
    }
    if (rc == STORE_OK) {
        char sql[SQL_BYTES];
        snprintf(sql, sizeof(sql),
                 "SELECT setval('cred_gen_seq', greatest(%" PRId64
                 ", (SELECT coalesce(max(cred_gen), 0) FROM principals)) + 1, false)",
                 gen);
        rc = dst_run(m, sql, "setting the credential generation");
    }
    return rc;
}

/* The target's counts, before its commit, each to equal the source's. */
static enum store_rc verify(struct mig *m)
{
    struct store_migrate_report *r = m->report;
    enum store_rc rc = STORE_OK;
    const char *differs = NULL;
    for (size_t i = 0; rc == STORE_OK && i < r->ntables; i++) {
        char sql[SQL_BYTES];
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", r->tables[i].name);
        int64_t n = 0;
        rc = dst_i64(m, sql, &n);
        r->tables[i].target_rows = (uint64_t)n;
        if (rc == STORE_OK && !differs && r->tables[i].target_rows != r->tables[i].source_rows) {
            differs = r->tables[i].name;
        }
    }
    r->target_counted = rc == STORE_OK;
    if (rc == STORE_OK && differs) {
        rc = fail(m, STORE_CONFLICT,
                  "verification failed: table %s has another row count in the target than in "
                  "the source; nothing was committed",
                  differs);
    }
    return rc;
}

/* The schema versions: the source's must be this build's, and the target's after store_open
 * (which migrated it) the same. */
static enum store_rc check_versions(struct mig *m)
{
    int64_t has = 0;
    enum store_rc rc = src_i64(
        m, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_version'",
        NULL, &has);
    int64_t src_version = 0;
    if (rc == STORE_OK && has) {
        rc = src_i64(m, "SELECT coalesce(max(version), 0) FROM schema_version", NULL, &src_version);
    }
    if (rc != STORE_OK) {
        return rc;
    }
    int build = store_migration_count ? store_migrations[store_migration_count - 1].version : 0;
    int build_pg =
        store_pg_migrations_count ? store_pg_migrations[store_pg_migrations_count - 1].version : 0;
    if (src_version < build) {
        return fail(m, STORE_CONFLICT,
                    "the source's schema version is %" PRId64 ", this build's %d: open it once "
                    "with this build (almanac --data DIR check), then migrate",
                    src_version, build);
    }
    if (src_version != build || build_pg != build) {
        return fail(m, STORE_CONFLICT,
                    "the source's schema version is %" PRId64
                    ", this build's %d (PostgreSQL %d): use the build that wrote it",
                    src_version, build, build_pg);
    }
    int64_t dst_version = 0;
    rc = dst_i64(m, "SELECT coalesce(max(version), 0)::bigint FROM schema_version", &dst_version);
    if (rc == STORE_OK && dst_version != src_version) {
        rc = fail(m, STORE_CONFLICT,
                  "the target's schema version is %" PRId64 ", the source's %" PRId64, dst_version,
                  src_version);
    }
    m->report->schema_version = (int)src_version;
    return rc;
}

static bool is_postgresql(const char *where)
{
    return strncmp(where, "postgresql://", 13) == 0 || strncmp(where, "postgres://", 11) == 0;
}

/* Opens the source read-only and starts its snapshot; *version_out is PRAGMA data_version
 * before it. */
static enum store_rc open_source(struct mig *m, const char *dir, int64_t *version_out)
{
    char path[4096];
    int n = snprintf(path, sizeof(path), "%s/almanac.db", dir);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        return fail(m, STORE_LIMIT, "source: directory path too long");
    }
    if (!store_is_present(dir)) {
        return fail(m, STORE_NOTFOUND, "no store in %s (almanac.db)", dir);
    }
    if (sqlite3_open_v2(path, &m->src, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        return src_fail(m, "open");
    }
    sqlite3_busy_timeout(m->src, SOURCE_BUSY_MS);
    enum store_rc rc = src_exec(m, "PRAGMA query_only = 1");
    if (rc == STORE_OK) {
        rc = src_i64(m, "PRAGMA data_version", NULL, version_out);
    }
    if (rc == STORE_OK) {
        rc = src_exec(m, "BEGIN");
    }
    int64_t ignored = 0;
    if (rc == STORE_OK) { /* the first read starts the snapshot */
        rc = src_i64(m, "SELECT count(*) FROM sqlite_schema", NULL, &ignored);
    }
    return rc;
}

enum store_rc store_migrate(const char *from,
                            const char *to,
                            store_migrate_progress_fn *progress_fn,
                            void *ctx,
                            struct store_migrate_report *report,
                            char msg_out[STORE_MSG_MAX])
{
    memset(report, 0, sizeof(*report));
    msg_out[0] = '\0';
    struct mig *m = calloc(1, sizeof(*m));
    if (!m) {
        abort();
    }
    m->msg = msg_out;
    m->progress = progress_fn;
    m->ctx = ctx;
    m->report = report;
    _Static_assert(ALM_ARRAY_LEN(tables) + 2 <= STORE_MIGRATE_TABLES_MAX, "report size");

    enum store_rc rc = STORE_OK;
    if (is_postgresql(from)) {
        rc = fail(m, STORE_LIMIT, "the source must be a SQLite store (sqlite:DIR)");
    } else if (!is_postgresql(to)) {
        rc = fail(m, STORE_LIMIT, "the target must be a PostgreSQL database (postgresql://...)");
    }
    const char *dir = strncmp(from, "sqlite:", 7) == 0 ? from + 7 : from;
    int64_t data_version = 0;
    if (rc == STORE_OK) {
        rc = open_source(m, dir, &data_version);
    }
    if (rc == STORE_OK) {
        rc = src_check_schema(m);
    }
    const char *why = NULL;
    if (rc == STORE_OK && store_open(to, &m->dst, &why) != STORE_OK) {
        rc = fail(m, STORE_IO, "target: %s", why ? why : "cannot open");
    }
    if (rc == STORE_OK) {
        m->conn = pgc(m->dst)->conn;
        rc = check_versions(m);
    }
    if (rc == STORE_OK) {
        rc = dst_check_schema(m);
    }
    if (rc == STORE_OK) {
        rc = count_source(m);
    }
    if (rc == STORE_OK) {
        rc = store_begin_write(m->dst) == STORE_OK ? STORE_OK : dst_fail(m, STORE_IO, "begin");
    }
    if (rc == STORE_OK) {
        rc = lock_empty_target(m);
    }
    struct redo redo = {0};
    if (rc == STORE_OK) {
        rc = defer_checks(m, &redo);
    }
    if (rc == STORE_OK) {
        rc = copy_rows(m);
    }
    if (rc == STORE_OK) {
        rc = redo_checks(m, &redo);
    }
    redo_free(&redo);
    if (rc == STORE_OK) {
        rc = copy_meta(m);
    }
    if (rc == STORE_OK) {
        rc = set_sequences(m);
    }
    if (rc == STORE_OK) {
        rc = verify(m);
    }
    /* the snapshot ends; a commit by anyone else since it began shows in data_version */
    int64_t after = data_version;
    if (rc == STORE_OK) {
        rc = src_exec(m, "COMMIT");
    }
    if (rc == STORE_OK) {
        rc = src_i64(m, "PRAGMA data_version", NULL, &after);
    }
    if (rc == STORE_OK && after != data_version) {
        rc = fail(m, STORE_CONFLICT,
                  "the source was written during the copy (is almanacd running on it? stop it "
                  "first); nothing was committed to the target");
    }
    if (rc == STORE_OK) {
        rc = store_commit(m->dst);
        if (rc != STORE_OK) {
            rc = dst_fail(m, rc, "commit");
        }
    }
    if (rc == STORE_OK) {
        /* planner statistics for the fresh tables now, not when autovacuum comes by */
        if (store_pg_run(m->dst, "ANALYZE", NULL, NULL) != STORE_OK) {
            log_info("migrate-store: ANALYZE failed msg=\"%s\"", store_last_error(m->dst));
        }
    } else if (m->dst && store_in_txn(m->dst)) {
        store_rollback(m->dst);
    }
    if (m->dst) {
        store_close(&m->dst);
    }
    if (m->src) {
        sqlite3_close(m->src);
    }
    free(m);
    return rc;
}
