/* store/store_sqlite.c: the SQLite engine behind store.h: its SQL, errors, the statement
 * cache, opening and migrations, transactions, the pool and principals. One connection per
 * struct store, WAL with synchronous=NORMAL plus a group-commit barrier (a commit that returned
 * is on disk; concurrent writers share one fdatasync, see "Durability" below), foreign keys
 * on, every statement prepared once per connection and reset after use. Collections live in
 * store_sqlite_coll.c, items, cursors and dead properties in store_sqlite_item.c. With
 * schema/, the only place SQL exists; never parses iCalendar or knows a protocol. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store/store.h"
#include "store/store_schema.h"
#include "store/store_sqlite_int.h"
#include "util/log.h"
#include "util/sec.h"
#include "util/timeutil.h"

/* The recursive set of collection ?1 and everything below it. */
#define SUBTREE                                     \
  "WITH RECURSIVE sub(id) AS (SELECT ?1 UNION ALL " \
  "SELECT c.id FROM collections c JOIN sub ON c.parent = sub.id) "

static const char *const stmt_sql[S_COUNT] = {
    [S_BEGIN_READ] = "BEGIN DEFERRED",
    [S_BEGIN_WRITE] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    /* The credential generation counter: S_CRED_GEN_NEXT runs before each statement that
     * takes a value from it (007_principal_cred_gen.sql). */
    [S_CRED_GEN_NEXT] = "UPDATE meta SET value = value + 1 WHERE key = 'cred_gen'",
    [S_PRINCIPAL_INSERT] = "INSERT INTO principals(name, pwhash, cred_gen) VALUES (?1, ?2, "
                           "(SELECT value FROM meta WHERE key = 'cred_gen'))",
    [S_PRINCIPAL_SET_HOME] = "UPDATE principals SET home_id = ?2 WHERE id = ?1",
    [S_PRINCIPAL_GET] =
        "SELECT id, name, pwhash, home_id, cred_gen FROM principals WHERE name = ?1",
    [S_PRINCIPAL_CRED_GEN] = "SELECT cred_gen FROM principals WHERE name = ?1",
    [S_PRINCIPAL_SET_PW] = "UPDATE principals SET pwhash = ?2, cred_gen = (SELECT value FROM meta "
                           "WHERE key = 'cred_gen') WHERE name = ?1",
    [S_PRINCIPAL_DEL_PROPS_ITEMS] =
        "DELETE FROM props WHERE res_kind = 1 AND res_id IN (SELECT i.id FROM items i JOIN "
        "collections c ON i.coll = c.id WHERE c.owner = ?1)",
    [S_PRINCIPAL_DEL_PROPS_COLLS] = "DELETE FROM props WHERE res_kind = 0 AND res_id IN "
                                    "(SELECT id FROM collections WHERE owner = ?1)",
    /* Cascades: collections (by owner), their items, item_content and tombstones. */
    [S_PRINCIPAL_DEL] = "DELETE FROM principals WHERE id = ?1",
    [S_PRINCIPAL_LIST] = "SELECT id, name, pwhash, home_id, cred_gen FROM principals ORDER BY name",
    [S_COLL_INSERT] = "INSERT INTO collections(owner, parent, kind, name, modseq, epoch, "
                      "change_guid, tomb_horizon, created, updated) "
                      "VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6, 0, ?7, ?7)",
    [S_COLL_GET] = "SELECT " COLL_COLS " FROM collections WHERE id = ?1",
    [S_COLL_LOOKUP] = "SELECT " COLL_COLS " FROM collections WHERE parent = ?1 AND name = ?2",
    /* a child collection, or a share the sharee whose home `parent` is sees by that name */
    [S_COLL_HAS_CHILD] = "SELECT 1 FROM collections WHERE parent = ?1 AND name = ?2 UNION ALL "
                         "SELECT 1 FROM shares sh JOIN principals p ON p.id = sh.sharee "
                         "WHERE p.home_id = ?1 AND sh.name = ?2 LIMIT 1",
    [S_COLL_BUMP] = "UPDATE collections SET modseq = modseq + 1, updated = ?2 WHERE id = ?1 "
                    "RETURNING modseq",
    [S_COLL_HAS_ITEM] = "SELECT 1 FROM items WHERE coll = ?1 AND name = ?2",
    /* Dead properties have no foreign key (a resource is a collection or an item), so the
     * subtree's go by hand; the rest cascades from the collection row. */
    [S_COLL_DEL_PROPS] = SUBTREE "DELETE FROM props WHERE (res_kind = 0 AND res_id IN sub) OR "
                                 "(res_kind = 1 AND res_id IN (SELECT i.id FROM items i WHERE "
                                 "i.coll IN sub))",
    [S_COLL_DEL] = "DELETE FROM collections WHERE id = ?1",
    [S_COLL_IS_BELOW] = SUBTREE "SELECT 1 FROM sub WHERE id = ?2",
    [S_COLL_MOVE] = "UPDATE collections SET parent = ?2, name = ?3, updated = ?4 WHERE id = ?1",
    [S_COLL_RESET] = "UPDATE collections SET epoch = ?2, change_guid = ?3, tomb_horizon = modseq, "
                     "updated = ?4 WHERE id = ?1",
    [S_COLL_TOMB_CLEAR] = "DELETE FROM tombstones WHERE coll = ?1",
    [S_COLL_TOMB_PRUNE_MAX] =
        "SELECT max(modseq) FROM tombstones WHERE coll = ?1 AND deleted_at < ?2",
    [S_COLL_TOMB_PRUNE] = "DELETE FROM tombstones WHERE coll = ?1 AND modseq <= ?2",
    [S_COLL_SET_HORIZON] =
        "UPDATE collections SET tomb_horizon = max(tomb_horizon, ?2) WHERE id = ?1",
    [S_COLL_EXISTS] = "SELECT 1 FROM collections WHERE id = ?1",
    [S_COLL_SET_COMPS] = "UPDATE collections SET comps = ?2 WHERE id = ?1",
    [S_COLL_USAGE] = "SELECT count(*), coalesce(sum(size), 0) FROM items WHERE coll = ?1",
    [S_ITEM_GET] = "SELECT " ITEM_COLS " FROM items WHERE coll = ?1 AND name = ?2",
    [S_ITEM_GET_CONTENT] = "SELECT " ITEM_COLS ", (SELECT data FROM item_content c WHERE "
                           "c.id = items.id) FROM items WHERE coll = ?1 AND name = ?2",
    [S_ITEM_GET_BY_UID] = "SELECT " ITEM_COLS " FROM items WHERE coll = ?1 AND uid = ?2",
    [S_ITEM_ID] = "SELECT id, created_modseq FROM items WHERE coll = ?1 AND name = ?2",
    [S_ITEM_EXISTS] = "SELECT 1 FROM items WHERE id = ?1",
    [S_ITEM_UID_CLASH] = "SELECT 1 FROM items WHERE coll = ?1 AND uid = ?2 AND name <> ?3",
    [S_ITEM_UID_CLASH_ID] = "SELECT 1 FROM items WHERE coll = ?1 AND id <> ?2 AND "
                            "uid = (SELECT uid FROM items WHERE id = ?2)",
    [S_ITEM_UPSERT] =
        "INSERT INTO items(coll, name, uid, content_type, size, modseq, created_modseq, mtime, "
        "dtstart, dtend, comp, recurring) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?8, ?9, ?10, ?11) "
        "ON CONFLICT(coll, name) DO UPDATE SET uid = excluded.uid, "
        "content_type = excluded.content_type, size = excluded.size, modseq = excluded.modseq, "
        "mtime = excluded.mtime, dtstart = excluded.dtstart, dtend = excluded.dtend, "
        "comp = excluded.comp, recurring = excluded.recurring "
        "RETURNING " ITEM_COLS,
    [S_CONTENT_UPSERT] = "INSERT INTO item_content(id, data) VALUES (?1, ?2) "
                         "ON CONFLICT(id) DO UPDATE SET data = excluded.data",
    [S_INSTANCES_UPSERT] = "INSERT INTO item_instances(id, data) VALUES (?1, ?2) "
                           "ON CONFLICT(id) DO UPDATE SET data = excluded.data",
    [S_INSTANCES_DELETE] = "DELETE FROM item_instances WHERE id = ?1",
    [S_INSTANCES_GET] = "SELECT data FROM item_instances WHERE id = ?1",
    /* item_content and item_instances cascade. */
    [S_ITEM_DELETE] = "DELETE FROM items WHERE coll = ?1 AND name = ?2 "
                      "RETURNING id, created_modseq",
    [S_ITEM_DEL_PROPS] = "DELETE FROM props WHERE res_kind = 1 AND res_id = ?1",
    [S_TOMB_INSERT] = "INSERT INTO tombstones(coll, item_id, name, modseq, created_modseq, "
                      "deleted_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [S_ITEM_MOVE] = "UPDATE items SET coll = ?2, name = ?3, modseq = ?4, created_modseq = ?4, "
                    "mtime = ?5 WHERE id = ?1",
    [S_ITEM_TOUCH] = "UPDATE items SET modseq = ?2, mtime = ?3 WHERE id = ?1",
    [S_PROP_SET] = "INSERT INTO props(res_kind, res_id, ns, name, value) "
                   "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO UPDATE SET value = excluded.value",
    [S_PROP_DEL] = "DELETE FROM props WHERE res_kind = ?1 AND res_id = ?2 AND ns = ?3 AND "
                   "name = ?4",
    [S_PROP_GET] = "SELECT ns, name, value FROM props WHERE res_kind = ?1 AND res_id = ?2 AND "
                   "ns = ?3 AND name = ?4",
    [S_PROP_LIST] = "SELECT ns, name, value FROM props WHERE res_kind = ?1 AND res_id = ?2 "
                    "ORDER BY ns, name",
    [S_PROP_COPY] = "INSERT OR REPLACE INTO props(res_kind, res_id, ns, name, value) "
                    "SELECT ?3, ?4, ns, name, value FROM props WHERE res_kind = ?1 AND "
                    "res_id = ?2",
    /* The interval index (store_sqlite_item.c "Spans"): one box by rowid. */
    [S_SPAN_INSERT] = "INSERT INTO item_spans(id, k0, k1, t0, t1) VALUES (?1, ?2, ?2, ?3, ?4)",
    [S_SPAN_DELETE] = "DELETE FROM item_spans WHERE id = ?1",
    [S_SPAN_MOVE] = "UPDATE item_spans SET k0 = ?2 + k0 % 4, k1 = ?2 + k0 % 4 WHERE id = ?1",
    /* The boxes of every item of a subtree, or of a principal's collections, before the
     * cascade takes the items: found by each collection's key range (536870911 is
     * STORE_DB_SPAN_COLL_MAX), so the cost is that of the items deleted; the EXISTS tells
     * apart the collections that share the last key. */
    [S_SPANS_COLL_DEL] = SUBTREE
    "DELETE FROM item_spans WHERE id IN (SELECT r.id FROM sub JOIN item_spans r ON "
    "r.k0 >= min(sub.id, 536870911) * 4 AND r.k1 <= min(sub.id, 536870911) * 4 + 3 WHERE "
    "EXISTS (SELECT 1 FROM items i WHERE i.id = r.id >> 6 AND i.coll = sub.id))",
    [S_SPANS_PRINCIPAL_DEL] =
        "DELETE FROM item_spans WHERE id IN (SELECT r.id FROM collections c JOIN item_spans r "
        "ON r.k0 >= min(c.id, 536870911) * 4 AND r.k1 <= min(c.id, 536870911) * 4 + 3 WHERE "
        "c.owner = ?1 AND EXISTS (SELECT 1 FROM items i WHERE i.id = r.id >> 6 AND "
        "i.coll = c.id))",
};

/* ---------------------------------------------------------------------------------------- */
/* Errors and statements */

enum store_rc store_db_fail(struct store *s, int sqlite_rc)
{
    if (s->injected) {
        s->injected = false; /* the fault's own message, not SQLite's last one */
    } else {
        snprintf(s->errmsg, sizeof(s->errmsg), "%s", sqlite3_errmsg(sq(s)->c.db));
    }
    switch (sqlite_rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return STORE_BUSY;
    case SQLITE_CONSTRAINT:
        if (sqlite_rc == SQLITE_CONSTRAINT_UNIQUE || sqlite_rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
            return STORE_EXISTS;
        }
        return STORE_CONFLICT;
    case SQLITE_TOOBIG:
        return STORE_LIMIT;
    default:
        return STORE_IO;
    }
}

enum store_rc store_db_fail_msg(struct store *s, enum store_rc rc, const char *msg)
{
    snprintf(s->errmsg, sizeof(s->errmsg), "%s", msg);
    return rc;
}

/* The statement in *slot, prepared when it is NULL. A fetch of a cached statement is a fault
 * point too, so that every caller's "no statement" path is reached whether or not an earlier
 * call prepared it (store_fault.h); `faultable` false skips it (ROLLBACK). */
static enum store_rc
stmt_cached(struct store *s, sqlite3_stmt **slot, const char *sql, bool faultable)
{
    int rc = faultable ? store_db_fault_prepare(s, sql) : SQLITE_OK;
    if (rc == SQLITE_OK && !*slot) {
        rc = sqlite3_prepare_v3(sq(s)->c.db, sql, -1, SQLITE_PREPARE_PERSISTENT, slot, NULL);
    }
    return rc == SQLITE_OK ? STORE_OK : store_db_fail(s, rc);
}

enum store_rc store_db_prepare(struct store *s, const char *sql, sqlite3_stmt **slot)
{
    return stmt_cached(s, slot, sql, true);
}

sqlite3_stmt *store_db_stmt_cached(struct store *s, sqlite3_stmt **slot, const char *sql)
{
    return stmt_cached(s, slot, sql, true) == STORE_OK ? *slot : NULL;
}

sqlite3_stmt *store_db_stmt(struct store *s, enum store_db_stmt_id id)
{
    return store_db_stmt_cached(s, &sq(s)->c.stmts[id], stmt_sql[id]);
}

void store_db_reset(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

enum store_rc store_db_exec(struct store *s, sqlite3_stmt *st)
{
    int rc = store_db_step(s, st);
    while (rc == SQLITE_ROW) {
        rc = store_db_step(s, st);
    }
    enum store_rc r = rc == SQLITE_DONE ? STORE_OK : store_db_fail(s, rc);
    store_db_reset(st);
    return r;
}

enum store_rc store_db_step_one(struct store *s, sqlite3_stmt *st)
{
    int rc = store_db_step(s, st);
    if (rc == SQLITE_ROW) {
        return STORE_OK;
    }
    return rc == SQLITE_DONE ? STORE_NOTFOUND : store_db_fail(s, rc);
}

enum store_rc store_db_each_row(struct store *s, sqlite3_stmt *st, store_db_row_fn *row, void *cb)
{
    int rc;
    while ((rc = store_db_step(s, st)) == SQLITE_ROW) {
        if (row(st, cb) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    enum store_rc r = rc == SQLITE_DONE ? STORE_OK : store_db_fail(s, rc);
    store_db_reset(st);
    return r;
}

const char *store_db_col_text(sqlite3_stmt *st, int i, struct arena *arena)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    if (!t || !arena) {
        /* borrowed, NUL-terminated by SQLite: no sqlite3_column_bytes, a call per text
         * column of every cursor row (issue 16) */
        return (const char *)t;
    }
    size_t n = (size_t)sqlite3_column_bytes(st, i);
    return arena_strndup(arena, (const char *)t, n);
}

/* Runs one cached statement that takes no parameters (BEGIN, COMMIT...). ROLLBACK passes no
 * fault point (store_fault.h). */
static enum store_rc run_simple(struct store *s, enum store_db_stmt_id id)
{
    if (id == S_ROLLBACK) {
        if (stmt_cached(s, &sq(s)->c.stmts[id], stmt_sql[id], false) != STORE_OK) {
            return STORE_IO;
        }
        sqlite3_stmt *st = sq(s)->c.stmts[id];
        int rc = sqlite3_step(st);
        store_db_reset(st);
        return rc == SQLITE_DONE ? STORE_OK : store_db_fail(s, rc);
    }
    sqlite3_stmt *st = store_db_stmt(s, id);
    return st ? store_db_exec(s, st) : STORE_IO;
}

/* Runs SQL text once, outside the cache (pragmas, migrations). */
static enum store_rc exec_sql(struct store *s, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(sq(s)->c.db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        snprintf(s->errmsg, sizeof(s->errmsg), "%s", msg ? msg : sqlite3_errmsg(sq(s)->c.db));
        sqlite3_free(msg);
        return (rc & 0xff) == SQLITE_BUSY ? STORE_BUSY : STORE_IO;
    }
    return STORE_OK;
}

/* Runs a one-off query whose first row's first column is an integer into *out (0 when no
 * row); ?1 is bound to `arg` when the query has a parameter. */
static enum store_rc query_int(struct store *s, const char *sql, int64_t arg, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(sq(s)->c.db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        return store_db_fail(s, rc);
    }
    if (sqlite3_bind_parameter_count(st) > 0) {
        sqlite3_bind_int64(st, 1, arg);
    }
    *out = 0;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        rc = SQLITE_DONE;
    }
    enum store_rc r = rc == SQLITE_DONE ? STORE_OK : store_db_fail(s, rc);
    sqlite3_finalize(st);
    return r;
}

/* ---------------------------------------------------------------------------------------- */
/* Migrations */

/* Each applied migration is one row of schema_version, inserted by the transaction that ran
 * it. Stores made before the table existed kept the number in PRAGMA user_version (every
 * migration up to it applied); schema_adopt() converts them once. user_version still mirrors
 * the newest version for tools that read it (the sqlite3 shell). */
static const char schema_version_sql[] = "CREATE TABLE IF NOT EXISTS schema_version ("
                                         "version INTEGER PRIMARY KEY, "
                                         "applied_at INTEGER NOT NULL)";

static int newest_known_version(void)
{
    return store_migration_count ? store_migrations[store_migration_count - 1].version : 0;
}

/* Creates schema_version, adopts a legacy user_version, and refuses a store whose schema is
 * newer than this build knows (an older binary must not write to it). One transaction. */
static enum store_rc schema_adopt(struct store *s)
{
    enum store_rc rc = exec_sql(s, "BEGIN IMMEDIATE");
    if (rc != STORE_OK) {
        return rc;
    }
    int64_t rows = 0;
    int64_t legacy = 0;
    int64_t newest = 0;
    rc = exec_sql(s, schema_version_sql);
    if (rc == STORE_OK) {
        rc = query_int(s, "SELECT count(*) FROM schema_version", 0, &rows);
    }
    if (rc == STORE_OK) {
        rc = query_int(s, "PRAGMA user_version", 0, &legacy);
    }
    for (unsigned i = 0; rc == STORE_OK && rows == 0 && i < store_migration_count; i++) {
        if (store_migrations[i].version <= legacy) {
            int64_t ignored;
            rc = query_int(s, "INSERT INTO schema_version(version, applied_at) VALUES (?1, 0)",
                           store_migrations[i].version, &ignored);
        }
    }
    if (rc == STORE_OK) {
        rc = query_int(s, "SELECT coalesce(max(version), 0) FROM schema_version", 0, &newest);
    }
    if (rc == STORE_OK && newest > newest_known_version()) {
        snprintf(s->errmsg, sizeof(s->errmsg),
                 "store schema version %lld is newer than this build's %d", (long long)newest,
                 newest_known_version());
        rc = STORE_IO;
    }
    if (rc != STORE_OK) {
        exec_sql(s, "ROLLBACK");
        return rc;
    }
    return exec_sql(s, "COMMIT");
}

/* Applies migration `m` unless schema_version has it, in one transaction with its row.
 * BEGIN IMMEDIATE first, then the check: two processes opening a new store at once apply
 * each migration exactly once. */
static enum store_rc schema_apply(struct store *s, const struct store_migration *m)
{
    enum store_rc rc = exec_sql(s, "BEGIN IMMEDIATE");
    if (rc != STORE_OK) {
        return rc;
    }
    int64_t applied = 0;
    rc = query_int(s, "SELECT count(*) FROM schema_version WHERE version = ?1", m->version,
                   &applied);
    if (rc == STORE_OK && applied == 0) {
        char mirror[64];
        snprintf(mirror, sizeof(mirror), "PRAGMA user_version = %d", m->version);
        int64_t ignored;
        rc = exec_sql(s, m->sql);
        if (rc == STORE_OK) {
            rc = query_int(s,
                           "INSERT INTO schema_version(version, applied_at) "
                           "VALUES (?1, CAST(strftime('%s', 'now') AS INTEGER))",
                           m->version, &ignored);
        }
        if (rc == STORE_OK) {
            rc = exec_sql(s, mirror);
        }
    }
    if (rc != STORE_OK) {
        log_error("store migration failed version=%d msg=\"%s\"", m->version, s->errmsg);
        exec_sql(s, "ROLLBACK");
        return rc;
    }
    return exec_sql(s, "COMMIT");
}

/* Reads meta `key` into out[n], or makes it from random bytes when absent. Runs inside the
 * caller's write transaction. */
static enum store_rc meta_random(struct store *s, const char *key, uint8_t *out, size_t n)
{
    sqlite3_stmt *st = NULL;
    int rc =
        sqlite3_prepare_v2(sq(s)->c.db, "SELECT value FROM meta WHERE key = ?1", -1, &st, NULL);
    bool found = false;
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW && (size_t)sqlite3_column_bytes(st, 0) == n) {
            memcpy(out, sqlite3_column_blob(st, 0), n);
            found = true;
        }
        rc = rc == SQLITE_ROW ? SQLITE_DONE : rc;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE && rc != SQLITE_OK) {
        return store_db_fail(s, rc);
    }
    if (found) {
        return STORE_OK;
    }
    sec_random(out, n);
    st = NULL;
    rc = sqlite3_prepare_v2(sq(s)->c.db, "INSERT OR REPLACE INTO meta(key, value) VALUES (?1, ?2)",
                            -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 2, out, (int)n, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? STORE_OK : store_db_fail(s, rc);
}

/* Brings the schema up to date, then reads (or makes, with a new store) the GUID and secret. */
static enum store_rc migrate(struct store *s)
{
    enum store_rc rc = schema_adopt(s);
    for (unsigned i = 0; rc == STORE_OK && i < store_migration_count; i++) {
        rc = schema_apply(s, &store_migrations[i]);
    }
    if (rc != STORE_OK) {
        return rc;
    }
    rc = exec_sql(s, "BEGIN IMMEDIATE");
    if (rc != STORE_OK) {
        return rc;
    }
    rc = meta_random(s, "guid", s->guid, sizeof(s->guid));
    if (rc == STORE_OK) {
        rc = meta_random(s, "secret", s->secret, sizeof(s->secret));
    }
    if (rc != STORE_OK) {
        exec_sql(s, "ROLLBACK");
        return rc;
    }
    return exec_sql(s, "COMMIT");
}

/* ---------------------------------------------------------------------------------------- */
/* Open, close */

/* Frees a handle whose connection may be half set up. */
static void store_free(struct store *s)
{
    for (int i = 0; i < S_COUNT; i++) {
        sqlite3_finalize(sq(s)->c.stmts[i]);
    }
    for (int i = 0; i < CQ_COUNT; i++) {
        sqlite3_finalize(sq(s)->c.idle_cursors[i]);
    }
    store_db_eas_free(s);
    store_db_sub_free(s);
    store_db_share_free(s);
    store_db_sched_free(s);
    store_db_imip_free(s);
    store_db_changes_free(s);
    sqlite3_close(sq(s)->c.db);
    store_flush_destroy(&sq(s)->lone_flush);
    free(s);
}

/* The connection settings: synchronous=NORMAL (in WAL mode, COMMIT does not fsync; the barrier
 * of store_commit() does, see "Durability"), foreign keys (cascading deletes), a 2 MiB page
 * cache (RSS stays flat however many rows a cursor streams) and temporary b-trees in memory.
 * journal_mode is set first, by set_journal_mode(). */
static const char connection_pragmas[] = "PRAGMA synchronous = NORMAL; "
                                         "PRAGMA foreign_keys = ON; "
                                         "PRAGMA cache_size = -2048; "
                                         "PRAGMA temp_store = MEMORY";

/* Asks for WAL and records whether SQLite granted it (it answers with the mode in force). A
 * store that cannot be in WAL mode (a file system without shared memory, say) keeps
 * synchronous=FULL, where every COMMIT syncs its journal itself, and skips the barrier. */
static enum store_rc set_journal_mode(struct store *s)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(sq(s)->c.db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            const unsigned char *mode = sqlite3_column_text(st, 0);
            sq(s)->wal = mode && strcmp((const char *)mode, "wal") == 0;
            rc = SQLITE_DONE;
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        return store_db_fail(s, rc);
    }
    if (!sq(s)->wal) {
        log_warn("store is not in WAL mode; every commit syncs on its own");
        return exec_sql(s, "PRAGMA synchronous = FULL");
    }
    return STORE_OK;
}

/* Reports a failed store_open(): `msg` (static) into *errmsg_out when asked; STORE_IO. */
static enum store_rc open_failed(const char **errmsg_out, const char *msg)
{
    if (errmsg_out) {
        *errmsg_out = msg;
    }
    return STORE_IO;
}

static enum store_rc
open_conn(const char *dir, bool migrate_schema, struct store **out, const char **errmsg_out);

enum store_rc store_sqlite_open(const char *dir, struct store **out, const char **errmsg_out)
{
    return open_conn(dir, true, out, errmsg_out);
}

/* store_open(), or with `migrate_schema` false a further connection of a pool whose first
 * one migrated the schema at start: only the connection's own pragmas, no migration, so a
 * later open cannot run (or half-run) one, and costs no durable flush. */
static enum store_rc
open_conn(const char *dir, bool migrate_schema, struct store **out, const char **errmsg_out)
{
    if (sec_init() != 0) {
        return open_failed(errmsg_out, "libsodium failed to initialise");
    }
    char path[4096];
    int n = snprintf(path, sizeof(path), "%s/almanac.db", dir);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        return open_failed(errmsg_out, "data directory path too long");
    }
    struct store_sqlite *q = calloc(1, sizeof(*q));
    if (!q) {
        abort();
    }
    struct store *s = &q->base;
    s->ops = &store_sqlite_ops;
    int rc = sqlite3_open_v2(
        path, &sq(s)->c.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        log_error("store open failed path=%s msg=\"%s\"", path,
                  sq(s)->c.db ? sqlite3_errmsg(sq(s)->c.db) : sqlite3_errstr(rc));
        store_free(s);
        return open_failed(errmsg_out, "cannot open almanac.db");
    }
    store_flush_init(&sq(s)->lone_flush);
    sq(s)->flush = &sq(s)->lone_flush;
    sqlite3_busy_timeout(sq(s)->c.db, STORE_DB_BUSY_TIMEOUT_MS);
    sqlite3_extended_result_codes(sq(s)->c.db, 1);
    /* migrate() commits without the barrier (schema, GUID, secret); one flush after it makes
     * them durable before the store is used. */
    if (set_journal_mode(s) != STORE_OK || exec_sql(s, connection_pragmas) != STORE_OK ||
        (migrate_schema && (migrate(s) != STORE_OK || store_db_wait_durable(s) != STORE_OK))) {
        log_error("store initialisation failed path=%s msg=\"%s\"", path, s->errmsg);
        store_free(s);
        return open_failed(errmsg_out, "cannot initialise almanac.db (see log)");
    }
    if (errmsg_out) {
        *errmsg_out = NULL;
    }
    *out = s;
    return STORE_OK;
}

void store_sqlite_close(struct store **sp)
{
    struct store *s = *sp;
    if (!s) {
        return;
    }
    store_free(s);
    *sp = NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Durability: group commit */

/* With synchronous=NORMAL a WAL commit writes its frames and returns without fsync. What makes
 * an acknowledged write durable is store_db_wait_durable(): after COMMIT returns (and the write
 * gate is released, so the next writer proceeds), the writer waits on the pool's barrier
 * (store_flush.h) until one fdatasync of the -wal file that *started after its COMMIT* has
 * completed; one waiter syncs for all of them. Why that suffices:
 * - fsync works on the file, not the descriptor: the leader syncs the WAL through its own
 *   connection's handle (SQLITE_FCNTL_JOURNAL_POINTER, then the VFS's xSync, which also syncs
 *   the directory once after the WAL was created), and that covers every frame any
 *   connection had written to it when the sync began, so our commit's frames and commit mark.
 * - Checkpoints: with synchronous=NORMAL SQLite syncs the WAL before a checkpoint copies
 *   frames into the database and syncs the database after a completed checkpoint
 *   (sqlite.org pragma.html#pragma_synchronous). A checkpoint never needs our barrier.
 * - WAL reset: a writer restarts the WAL from its beginning (new salts, the header synced on
 *   reuse) only after a checkpoint backfilled every frame, and the backfill count is recorded
 *   only after the database file was synced. So if later writers overwrite our frames before
 *   our flush ran, their content is already on disk in the database file; if not, our flush
 *   syncs them in the WAL. Truncation (journal_size_limit, TRUNCATE checkpoints) has the same
 *   precondition. Either way the commit survives power loss once the wait returns.
 * - Recovery after power loss replays the WAL frames up to the last valid commit mark, so a
 *   commit whose wait returned is replayed; one whose wait had not returned may be lost,
 *   which is allowed: it was never acknowledged (store_commit() had not returned).
 * - A failed fsync poisons the barrier (store_flush.h): every later commit reports STORE_IO.
 * Read transactions and rollbacks never wait. */
static int wal_sync(void *ctx)
{
    struct store *s = ctx;
    if (store_db_fault_fsync(s)) {
        return EIO;
    }
    sqlite3_file *wal = NULL;
    int rc = sqlite3_file_control(sq(s)->c.db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal);
    if (rc != SQLITE_OK || !wal || !wal->pMethods) {
        return EIO;
    }
    rc = wal->pMethods->xSync(wal, SQLITE_SYNC_NORMAL);
    return rc == SQLITE_OK ? 0 : EIO;
}

enum store_rc store_db_wait_durable(struct store *s)
{
    if (!sq(s)->wal) {
        return STORE_OK; /* synchronous=FULL: COMMIT synced */
    }
    if (store_flush_wait(sq(s)->flush, wal_sync, s) != STORE_FLUSH_OK) {
        log_error("store WAL fsync failed errno=%d; commits are no longer acknowledged",
                  store_flush_errno(sq(s)->flush));
        return store_db_fail_msg(s, STORE_IO,
                                 "fsync of the write-ahead log failed; restart the server");
    }
    return STORE_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Transactions */

/* The writer connection. In WAL mode SQLite empties a connection's page cache when a
 * transaction begins and another connection has committed since this one's last
 * (pager_reset). When every pooled connection wrote in turn, each write began on an empty
 * cache and read every page it touched again from the WAL or the database file: about 30
 * preads a PUT under load, while the same PUTs through one connection read none. Writers of
 * a pool take turns at the gate anyway, so they all write through one connection, the pool's
 * writer, whose cache only ever sees its own commits.
 * - From store_begin_write until the transaction ends, a handle holds the writer's
 *   connection in `c` and the writer's handle holds the handle's own, exchanged by value
 *   under the gate. Callers see the same handle, statements and errors as before.
 * - The exchange is undone before the gate is released (the durability wait then syncs the
 *   WAL through the handle's own connection: the same file). A cursor still open on the
 *   writer's connection keeps the gate until it closes (store_db_cursor_closed): its
 *   statement belongs to that connection.
 * - A handle with a cursor open when its write begins writes through its own connection, as
 *   every handle did before. */
static void swap_conn(struct store *a, struct store *b)
{
    struct store_sqlite_conn own = sq(a)->c;
    sq(a)->c = sq(b)->c;
    sq(b)->c = own;
}

static void store_release_gate(struct store *s)
{
    if (sq(s)->lent) {
        if (sq(s)->open_cursors > 0) {
            return; /* the last cursor's close gives it back */
        }
        swap_conn(s, sq(s)->writer);
        sq(s)->lent = false;
    }
    if (sq(s)->holds_gate) {
        sq(s)->holds_gate = false;
        pthread_mutex_unlock(sq(s)->write_gate);
    }
}

/* Lent outside a write transaction means a cursor kept the writer's connection past its write's
 * end (or a read transaction began meanwhile, whose end gives it back). */
void store_db_cursor_closed(struct store *s)
{
    sq(s)->open_cursors--;
    if (sq(s)->open_cursors == 0 && sq(s)->lent && !sq(s)->writing && !store_in_txn(s)) {
        store_release_gate(s);
    }
}

enum store_rc store_sqlite_begin_read(struct store *s)
{
    if (store_in_txn(s)) {
        return store_db_fail_msg(s, STORE_IO, "a transaction is already open");
    }
    return run_simple(s, S_BEGIN_READ);
}

/* Writers of one process queue on the pool's gate and are woken as soon as the previous
 * commit is done; SQLite's busy handler would make them sleep-poll (1, 2, 5 ms...) for the
 * database lock instead. The busy timeout still covers other processes (the admin CLI). */
enum store_rc store_sqlite_begin_write(struct store *s)
{
    if (store_in_txn(s)) {
        return store_db_fail_msg(s, STORE_IO, "a transaction is already open");
    }
    if (sq(s)->write_gate && !sq(s)->holds_gate) {
        pthread_mutex_lock(sq(s)->write_gate);
        sq(s)->holds_gate = true;
        if (sq(s)->writer && sq(s)->open_cursors == 0) {
            swap_conn(s, sq(s)->writer);
            sq(s)->lent = true;
        }
    }
    /* zeroes the count note_write_reads reads at the end */
    int misses = 0, high = 0;
    sqlite3_db_status(sq(s)->c.db, SQLITE_DBSTATUS_CACHE_MISS, &misses, &high, 1);
    enum store_rc rc = run_simple(s, S_BEGIN_WRITE);
    if (rc != STORE_OK) {
        store_release_gate(s);
    } else {
        sq(s)->writing = true;
    }
    return rc;
}

/* Adds the pages the write transaction now ending read past its connection's cache to the
 * pool's count (begin_write zeroed the connection's counter). */
static void note_write_reads(struct store *s)
{
    int misses = 0, high = 0;
    if (sq(s)->writing && sq(s)->write_page_reads &&
        sqlite3_db_status(sq(s)->c.db, SQLITE_DBSTATUS_CACHE_MISS, &misses, &high, 1) ==
            SQLITE_OK &&
        misses > 0) {
        atomic_fetch_add_explicit(sq(s)->write_page_reads, (uint_fast64_t)misses,
                                  memory_order_relaxed);
    }
}

/* The gate is released before the durability wait, so the next writer's transaction runs
 * while this one waits and the two share a flush. */
enum store_rc store_sqlite_commit(struct store *s)
{
    bool wrote = sq(s)->writing;
    int64_t t0 = wrote ? time_mono_us() : 0;
    enum store_rc rc = run_simple(s, S_COMMIT);
    if (rc == STORE_OK || !store_in_txn(s)) {
        note_write_reads(s);
        store_release_gate(s);
        sq(s)->writing = false;
    }
    if (rc == STORE_OK && wrote) {
        rc = store_db_wait_durable(s);
        if (rc == STORE_OK) {
            store_flush_note_commit(sq(s)->flush, time_mono_us() - t0);
        }
    }
    store_db_changes_end(s, rc == STORE_OK); /* the change hook, outside the gate */
    return rc;
}

enum store_rc store_sqlite_rollback(struct store *s)
{
    enum store_rc rc = STORE_OK;
    if (store_in_txn(s)) {
        rc = run_simple(s, S_ROLLBACK);
    }
    note_write_reads(s);
    store_release_gate(s);
    store_db_changes_end(s, false);
    sq(s)->writing = false;
    return rc;
}

bool store_sqlite_in_txn(const struct store *s)
{
    return !sqlite3_get_autocommit(((const struct store_sqlite *)s)->c.db);
}

/* ---------------------------------------------------------------------------------------- */
/* Pool */

struct store_sqlite_pool {
    struct store_pool base;
    pthread_mutex_t lock; /* guards everything below but write_gate */
    pthread_cond_t cond;  /* signalled when a connection is released */
    char *dir;
    unsigned max;                          /* connections at most */
    unsigned open;                         /* connections opened so far (<= max) */
    struct store *free;                    /* idle connections, linked by next_free */
    pthread_mutex_t write_gate;            /* one writer of this process at a time */
    struct store *writer;                  /* every write goes through its connection (swap_conn) */
    atomic_uint_fast64_t write_page_reads; /* store_pool_stats */
    unsigned waiting;                      /* threads waiting in store_pool_acquire() */

    /* Every connection's change hook, set at start-up (store_pool_set_change_hook). */
    struct store_change_hook change_hook;
    struct store_flush flush; /* the durability barrier every connection's commit waits on */
    /* The store's GUID and secret, read by the first connection's migration: the later
     * connections, which do not migrate, take them from here. */
    uint8_t guid[STORE_GUID_BYTES];
    uint8_t secret[STORE_SECRET_BYTES];
};

/* The SQLite pool behind `pool`, which this engine made. */
static struct store_sqlite_pool *sq_pool(struct store_pool *pool)
{
    return (struct store_sqlite_pool *)pool;
}

enum store_rc store_sqlite_pool_create(const char *dir, unsigned max, struct store_pool **out)
{
    struct store_sqlite_pool *p = calloc(1, sizeof(*p));
    if (!p) {
        abort();
    }
    p->base.ops = &store_sqlite_ops;
    p->dir = strdup(dir);
    if (!p->dir) {
        abort();
    }
    p->max = max ? max : 1;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    pthread_mutex_init(&p->write_gate, NULL);
    store_flush_init(&p->flush);
    atomic_init(&p->write_page_reads, 0);
    /* The first connection opens (and migrates) now, once: a failure stops the start-up
     * instead of the first request. */
    struct store *first = NULL;
    const char *msg = NULL;
    if (open_conn(p->dir, true, &first, &msg) != STORE_OK) {
        log_error("store pool cannot open dir=%s msg=\"%s\"", p->dir, msg ? msg : "");
        struct store_pool *pool = &p->base;
        store_sqlite_pool_destroy(&pool);
        return STORE_IO;
    }
    if (open_conn(p->dir, false, &p->writer, &msg) != STORE_OK) {
        log_error("store pool cannot open its writer dir=%s msg=\"%s\"", p->dir, msg ? msg : "");
        store_close(&first);
        struct store_pool *pool = &p->base;
        store_sqlite_pool_destroy(&pool);
        return STORE_IO;
    }
    sq(p->writer)->flush = &p->flush;
    sq(first)->write_gate = &p->write_gate;
    first->hook = &p->change_hook;
    sq(first)->flush = &p->flush;
    sq(first)->writer = p->writer;
    sq(first)->write_page_reads = &p->write_page_reads;
    memcpy(p->guid, first->guid, sizeof(p->guid));
    memcpy(p->secret, first->secret, sizeof(p->secret));
    p->open = 1;
    p->free = first;
    *out = &p->base;
    return STORE_OK;
}

void store_sqlite_pool_destroy(struct store_pool **pp)
{
    struct store_sqlite_pool *p = *pp ? sq_pool(*pp) : NULL;
    if (!p) {
        return;
    }
    while (p->free) {
        struct store *s = p->free;
        p->free = sq(s)->next_free;
        store_close(&s);
    }
    store_close(&p->writer);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->write_gate);
    store_flush_destroy(&p->flush);
    free(p->dir);
    free(p);
    *pp = NULL;
}

void store_sqlite_pool_set_change_hook(struct store_pool *pool, store_change_fn *fn, void *ctx)
{
    struct store_sqlite_pool *p = sq_pool(pool);
    pthread_mutex_lock(&p->lock);
    p->change_hook.fn = fn;
    p->change_hook.ctx = ctx;
    pthread_mutex_unlock(&p->lock);
}

struct store *store_sqlite_pool_acquire(struct store_pool *pool)
{
    struct store_sqlite_pool *p = sq_pool(pool);
    pthread_mutex_lock(&p->lock);
    for (;;) {
        if (p->free) {
            struct store *s = p->free;
            p->free = sq(s)->next_free;
            sq(s)->next_free = NULL;
            pthread_mutex_unlock(&p->lock);
            return s;
        }
        if (p->open < p->max) {
            p->open++;
            pthread_mutex_unlock(&p->lock);
            struct store *s = NULL;
            const char *msg = NULL;
            if (open_conn(p->dir, false, &s, &msg) != STORE_OK) {
                /* Out of file descriptors or memory, the disk gone: this request gets a 503
                 * (the caller's begin fails), and a later one may find a free connection or
                 * open one. */
                log_error("store pool cannot open a connection dir=%s msg=\"%s\"", p->dir,
                          msg ? msg : "");
                pthread_mutex_lock(&p->lock);
                p->open--;
                pthread_cond_signal(&p->cond);
                pthread_mutex_unlock(&p->lock);
                return NULL;
            }
            sq(s)->write_gate = &p->write_gate;
            sq(s)->writer = p->writer;
            sq(s)->write_page_reads = &p->write_page_reads;
            s->hook = &p->change_hook;
            sq(s)->flush = &p->flush;
            memcpy(s->guid, p->guid, sizeof(p->guid));
            memcpy(s->secret, p->secret, sizeof(p->secret));
            return s;
        }
        p->waiting++;
        pthread_cond_wait(&p->cond, &p->lock);
        p->waiting--;
    }
}

void store_sqlite_pool_release(struct store_pool *pool, struct store *s)
{
    struct store_sqlite_pool *p = sq_pool(pool);
    store_rollback(s);
    if (sq(s)->lent) {
        /* A cursor opened in a write outlived its request: the writer's connection and the
         * gate stay with this handle until it is closed (a bug of the caller's). */
        log_error("store connection released with %u cursor(s) open on the writer",
                  sq(s)->open_cursors);
    }
    pthread_mutex_lock(&p->lock);
    sq(s)->next_free = p->free;
    p->free = s;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

uint64_t store_sqlite_pool_flush_count(struct store_pool *pool)
{
    struct store_sqlite_pool *p = sq_pool(pool);
    return store_flush_count(&p->flush);
}

void store_sqlite_pool_stats(struct store_pool *pool, struct store_pool_stats *out)
{
    struct store_sqlite_pool *p = sq_pool(pool);
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&p->lock);
    unsigned idle = 0;
    for (struct store *s = p->free; s; s = sq(s)->next_free) {
        idle++;
    }
    out->max = p->max;
    out->open = p->open;
    out->in_use = p->open - idle;
    out->waiting = p->waiting;
    pthread_mutex_unlock(&p->lock);
    out->is_poisoned = store_flush_errno(&p->flush) != 0;
    out->write_page_reads = atomic_load_explicit(&p->write_page_reads, memory_order_relaxed);
    store_flush_timings(&p->flush, &out->fsync, &out->commit);
}

/* ---------------------------------------------------------------------------------------- */
/* Shared helpers of the collection and item files: store_sqlite_item.c uses these and
 * nothing of store_sqlite_coll.c, so the order is one way (coll -> item -> this file). */

void store_db_fresh_guid(uint8_t out[STORE_GUID_BYTES])
{
    sec_random(out, STORE_GUID_BYTES);
}

uint64_t store_db_fresh_epoch(void)
{
    return sec_random_u64() >> 1; /* fits a signed 64-bit column */
}

bool store_db_name_ok(const char *name)
{
    size_t n = strlen(name);
    return n > 0 && n <= STORE_NAME_MAX;
}

void store_db_read_coll(sqlite3_stmt *st, struct arena *arena, struct store_coll *out)
{
    out->id = store_db_col_u64(st, 0);
    out->owner = store_db_col_u64(st, 1);
    out->parent = store_db_col_u64(st, 2); /* NULL (a home) reads as 0 */
    out->kind = (enum store_coll_kind)sqlite3_column_int(st, 3);
    out->name = store_db_col_text(st, 4, arena);
    out->modseq = store_db_col_u64(st, 5);
    out->epoch = store_db_col_u64(st, 6);
    memset(out->change_guid, 0, STORE_GUID_BYTES);
    if (sqlite3_column_bytes(st, 7) == STORE_GUID_BYTES) {
        memcpy(out->change_guid, sqlite3_column_blob(st, 7), STORE_GUID_BYTES);
    }
    out->tomb_horizon = store_db_col_u64(st, 8);
    out->created = sqlite3_column_int64(st, 9);
    out->updated = sqlite3_column_int64(st, 10);
    out->comps = (unsigned)sqlite3_column_int64(st, 11);
}

enum store_rc store_db_bump(struct store *s, uint64_t coll, uint64_t *modseq_out)
{
    sqlite3_stmt *st = store_db_stmt(s, S_COLL_BUMP);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_u64(st, 1, coll);
    sqlite3_bind_int64(st, 2, time_now());
    enum store_rc rc = store_db_step_one(s, st);
    uint64_t modseq = rc == STORE_OK ? store_db_col_u64(st, 0) : 0;
    if (rc == STORE_OK && modseq_out) {
        *modseq_out = modseq;
    }
    if (rc == STORE_OK) {
        /* Finish the UPDATE ... RETURNING: the change is only complete at SQLITE_DONE. */
        rc = store_db_exec(s, st);
        if (rc == STORE_OK) {
            store_db_note_change(s, coll, modseq);
        }
    } else {
        store_db_reset(st);
    }
    if (rc == STORE_NOTFOUND) {
        store_db_fail_msg(s, rc, "no such collection");
    }
    return rc;
}

/* Runs an existence query ("SELECT 1 ... ?1 ?2") over (id, name): STORE_OK when a row exists,
 * STORE_NOTFOUND when not. */
static enum store_rc exists(struct store *s, enum store_db_stmt_id id, uint64_t k, const char *name)
{
    sqlite3_stmt *st = store_db_stmt(s, id);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_u64(st, 1, k);
    if (name) {
        store_db_bind_text(st, 2, name);
    }
    enum store_rc rc = store_db_step_one(s, st);
    store_db_reset(st);
    return rc;
}

enum store_rc store_db_check_no_item(struct store *s, uint64_t parent, const char *name)
{
    enum store_rc rc = exists(s, S_COLL_HAS_ITEM, parent, name);
    if (rc == STORE_OK) {
        return store_db_fail_msg(s, STORE_EXISTS, "an item has that name");
    }
    return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

enum store_rc store_db_check_no_child(struct store *s, uint64_t parent, const char *name)
{
    enum store_rc rc = exists(s, S_COLL_HAS_CHILD, parent, name);
    if (rc == STORE_OK) {
        return store_db_fail_msg(s, STORE_EXISTS, "a collection or a share has that name");
    }
    return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

enum store_rc store_db_check_coll(struct store *s, uint64_t id)
{
    enum store_rc rc = exists(s, S_COLL_EXISTS, id, NULL);
    if (rc == STORE_NOTFOUND) {
        store_db_fail_msg(s, rc, "no such collection");
    }
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Principals */

static void read_principal(sqlite3_stmt *st, struct arena *arena, struct store_principal *out)
{
    out->id = store_db_col_u64(st, 0);
    out->name = store_db_col_text(st, 1, arena);
    out->pwhash = store_db_col_text(st, 2, arena);
    out->home_id = store_db_col_u64(st, 3);
    out->cred_gen = store_db_col_u64(st, 4);
}

/* Advances the store-wide credential generation counter; the next S_PRINCIPAL_INSERT or
 * S_PRINCIPAL_SET_PW of this transaction takes its new value. */
static enum store_rc next_cred_gen(struct store *s)
{
    sqlite3_stmt *st = store_db_stmt(s, S_CRED_GEN_NEXT);
    if (!st) {
        return STORE_IO;
    }
    enum store_rc rc = store_db_exec(s, st);
    if (rc == STORE_OK && sqlite3_changes(sq(s)->c.db) != 1) {
        return store_db_fail_msg(s, STORE_IO, "meta has no cred_gen counter");
    }
    return rc;
}

/* Inserts the principal's home: the root of its tree, kind HOME, no parent, name "". */
static enum store_rc insert_home(struct store *s, uint64_t principal, uint64_t *home_out)
{
    sqlite3_stmt *st = store_db_stmt(s, S_COLL_INSERT);
    if (!st) {
        return STORE_IO;
    }
    uint8_t guid[STORE_GUID_BYTES];
    store_db_fresh_guid(guid);
    store_db_bind_u64(st, 1, principal);
    sqlite3_bind_null(st, 2);
    sqlite3_bind_int(st, 3, STORE_COLL_HOME);
    store_db_bind_text(st, 4, "");
    store_db_bind_u64(st, 5, store_db_fresh_epoch());
    sqlite3_bind_blob(st, 6, guid, STORE_GUID_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, time_now());
    enum store_rc rc = store_db_exec(s, st);
    *home_out = (uint64_t)sqlite3_last_insert_rowid(sq(s)->c.db);
    return rc;
}

enum store_rc store_sqlite_principal_add(struct store *s,
                                         const char *name,
                                         const char *pwhash,
                                         struct arena *arena,
                                         struct store_principal *out)
{
    size_t len = strlen(name);
    if (len == 0 || len > STORE_USER_MAX) {
        return store_db_fail_msg(s, STORE_LIMIT, "principal name length out of bounds");
    }
    enum store_rc rc = next_cred_gen(s);
    if (rc != STORE_OK) {
        return rc;
    }
    sqlite3_stmt *st = store_db_stmt(s, S_PRINCIPAL_INSERT);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_text(st, 1, name);
    store_db_bind_text(st, 2, pwhash);
    rc = store_db_exec(s, st);
    if (rc != STORE_OK) {
        return rc;
    }
    uint64_t gen = 0;
    rc = store_principal_cred_gen(s, name, &gen);
    if (rc != STORE_OK) {
        return rc;
    }
    uint64_t pid = (uint64_t)sqlite3_last_insert_rowid(sq(s)->c.db);
    uint64_t home = 0;
    rc = insert_home(s, pid, &home);
    if (rc != STORE_OK) {
        return rc;
    }
    st = store_db_stmt(s, S_PRINCIPAL_SET_HOME);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_u64(st, 1, pid);
    store_db_bind_u64(st, 2, home);
    rc = store_db_exec(s, st);
    if (rc == STORE_OK && out) {
        out->id = pid;
        out->name = arena_strdup(arena, name);
        out->pwhash = arena_strdup(arena, pwhash);
        out->home_id = home;
        out->cred_gen = gen;
    }
    return rc;
}

enum store_rc store_sqlite_principal_get(struct store *s,
                                         const char *name,
                                         struct arena *arena,
                                         struct store_principal *out)
{
    sqlite3_stmt *st = store_db_stmt(s, S_PRINCIPAL_GET);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_text(st, 1, name);
    enum store_rc rc = store_db_step_one(s, st);
    if (rc == STORE_OK) {
        read_principal(st, arena, out);
    } else if (rc == STORE_NOTFOUND) {
        store_db_fail_msg(s, rc, "no such principal");
    }
    store_db_reset(st);
    return rc;
}

enum store_rc store_sqlite_principal_cred_gen(struct store *s, const char *name, uint64_t *gen_out)
{
    sqlite3_stmt *st = store_db_stmt(s, S_PRINCIPAL_CRED_GEN);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_text(st, 1, name);
    enum store_rc rc = store_db_step_one(s, st);
    if (rc == STORE_OK) {
        *gen_out = store_db_col_u64(st, 0);
    } else if (rc == STORE_NOTFOUND) {
        store_db_fail_msg(s, rc, "no such principal");
    }
    store_db_reset(st);
    return rc;
}

enum store_rc
store_sqlite_principal_set_pwhash(struct store *s, const char *name, const char *pwhash)
{
    enum store_rc rc = next_cred_gen(s);
    if (rc != STORE_OK) {
        return rc;
    }
    sqlite3_stmt *st = store_db_stmt(s, S_PRINCIPAL_SET_PW);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_text(st, 1, name);
    store_db_bind_text(st, 2, pwhash);
    rc = store_db_exec(s, st);
    if (rc == STORE_OK && sqlite3_changes(sq(s)->c.db) == 0) {
        return store_db_fail_msg(s, STORE_NOTFOUND, "no such principal");
    }
    return rc;
}

/* Dead properties and the items' boxes first (they have no foreign key), then the principal
 * row, which cascades to its collections and from them to items, content and tombstones. */
enum store_rc store_sqlite_principal_del(struct store *s, const char *name)
{
    sqlite3_stmt *st = store_db_stmt(s, S_PRINCIPAL_GET);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_text(st, 1, name);
    enum store_rc rc = store_db_step_one(s, st);
    uint64_t id = rc == STORE_OK ? store_db_col_u64(st, 0) : 0;
    store_db_reset(st);
    if (rc == STORE_NOTFOUND) {
        return store_db_fail_msg(s, rc, "no such principal");
    }

    if (rc == STORE_OK) {
        rc = store_db_share_bump_owner(s, id);
    }

    static const enum store_db_stmt_id steps[] = {S_PRINCIPAL_DEL_PROPS_ITEMS,
                                                  S_PRINCIPAL_DEL_PROPS_COLLS,
                                                  S_SPANS_PRINCIPAL_DEL, S_PRINCIPAL_DEL};

    for (size_t i = 0; rc == STORE_OK && i < ALM_ARRAY_LEN(steps); i++) {
        st = store_db_stmt(s, steps[i]);
        if (!st) {
            return STORE_IO;
        }
        store_db_bind_u64(st, 1, id);
        rc = store_db_exec(s, st);
    }
    return rc;
}

struct principal_cb {
    store_principal_fn *fn;
    void *ctx;
};

static int principal_row(sqlite3_stmt *st, void *cb)
{
    struct principal_cb *c = cb;
    struct store_principal p;
    read_principal(st, NULL, &p);
    return c->fn(c->ctx, &p);
}

enum store_rc store_sqlite_principal_list(struct store *s, store_principal_fn *fn, void *ctx)
{
    sqlite3_stmt *st = store_db_stmt(s, S_PRINCIPAL_LIST);
    if (!st) {
        return STORE_IO;
    }
    struct principal_cb cb = {fn, ctx};
    return store_db_each_row(s, st, principal_row, &cb);
}

const struct store_ops store_sqlite_ops = {
    .close = store_sqlite_close,
    .begin_read = store_sqlite_begin_read,
    .begin_write = store_sqlite_begin_write,
    .commit = store_sqlite_commit,
    .rollback = store_sqlite_rollback,
    .in_txn = store_sqlite_in_txn,
    .pool_destroy = store_sqlite_pool_destroy,
    .pool_acquire = store_sqlite_pool_acquire,
    .pool_release = store_sqlite_pool_release,
    .pool_flush_count = store_sqlite_pool_flush_count,
    .pool_stats = store_sqlite_pool_stats,
    .check = store_sqlite_check,
    .backup = store_sqlite_backup,
    .principal_add = store_sqlite_principal_add,
    .principal_get = store_sqlite_principal_get,
    .principal_set_pwhash = store_sqlite_principal_set_pwhash,
    .principal_cred_gen = store_sqlite_principal_cred_gen,
    .principal_del = store_sqlite_principal_del,
    .principal_list = store_sqlite_principal_list,
    .coll_create = store_sqlite_coll_create,
    .coll_get = store_sqlite_coll_get,
    .coll_set_comps = store_sqlite_coll_set_comps,
    .coll_usage = store_sqlite_coll_usage,
    .coll_lookup = store_sqlite_coll_lookup,
    .coll_delete = store_sqlite_coll_delete,
    .coll_move = store_sqlite_coll_move,
    .coll_touch = store_sqlite_coll_touch,
    .coll_reset_history = store_sqlite_coll_reset_history,
    .coll_prune_tombstones = store_sqlite_coll_prune_tombstones,
    .prune_all_tombstones = store_sqlite_prune_all_tombstones,
    .item_get = store_sqlite_item_get,
    .item_prefetch = NULL, /* a lookup is a B-tree probe in the process: nothing to batch */
    .path_prefetch = NULL,
    .item_get_by_uid = store_sqlite_item_get_by_uid,
    .item_put = store_sqlite_item_put,
    .item_delete = store_sqlite_item_delete,
    .item_move = store_sqlite_item_move,
    .items_open = store_sqlite_items_open,
    .changes_open = store_sqlite_changes_open,
    .items_in_range_open = store_sqlite_items_in_range_open,
    .children_open = store_sqlite_children_open,
    .all_colls_open = store_sqlite_all_colls_open,
    .cursor_next_item = store_sqlite_cursor_next_item,
    .cursor_next_coll = store_sqlite_cursor_next_coll,
    .cursor_close = store_sqlite_cursor_close,
    .prop_set = store_sqlite_prop_set,
    .prop_del = store_sqlite_prop_del,
    .prop_get = store_sqlite_prop_get,
    .prop_list = store_sqlite_prop_list,
    .prop_copy = store_sqlite_prop_copy,
    .item_touch = store_sqlite_item_touch,
    .item_get_by_id = store_sqlite_item_get_by_id,
    .changes_count = store_sqlite_changes_count,
    .pool_set_change_hook = store_sqlite_pool_set_change_hook,
    .eas_device_touch = store_sqlite_eas_device_touch,
    .eas_device_get = store_sqlite_eas_device_get,
    .eas_device_seen = store_sqlite_eas_device_seen,
    .eas_device_set_policy = store_sqlite_eas_device_set_policy,
    .eas_device_set_info = store_sqlite_eas_device_set_info,
    .eas_device_list = store_sqlite_eas_device_list,
    .eas_device_del = store_sqlite_eas_device_del,
    .eas_blob_put = store_sqlite_eas_blob_put,
    .eas_blob_get = store_sqlite_eas_blob_get,
    .eas_blob_del = store_sqlite_eas_blob_del,
    .eas_sync_get = store_sqlite_eas_sync_get,
    .eas_sync_cursor = store_sqlite_eas_sync_cursor,
    .eas_sync_put = store_sqlite_eas_sync_put,
    .eas_sync_reset = store_sqlite_eas_sync_reset,
    .eas_member_get = store_sqlite_eas_member_get,
    .eas_member_put = store_sqlite_eas_member_put,
    .eas_member_del = store_sqlite_eas_member_del,
    .eas_member_count = store_sqlite_eas_member_count,
    .eas_members_aged_open = store_sqlite_eas_members_aged_open,
    .sub_create = store_sqlite_sub_create,
    .sub_get = store_sqlite_sub_get,
    .sub_revoke = store_sqlite_sub_revoke,
    .sub_list = store_sqlite_sub_list,
    .share_set = store_sqlite_share_set,
    .share_del = store_sqlite_share_del,
    .share_get = store_sqlite_share_get,
    .share_lookup = store_sqlite_share_lookup,
    .share_list_of_sharee = store_sqlite_share_list_of_sharee,
    .share_list_of_coll = store_sqlite_share_list_of_coll,
    .share_list_of_owner = store_sqlite_share_list_of_owner,
    .principal_get_by_id = store_sqlite_principal_get_by_id,
    .sched_addr_add = store_sqlite_sched_addr_add,
    .sched_addr_del = store_sqlite_sched_addr_del,
    .sched_addr_lookup = store_sqlite_sched_addr_lookup,
    .sched_addr_list = store_sqlite_sched_addr_list,
    .items_open_cols = store_sqlite_items_open_cols,
    .changes_open_cols = store_sqlite_changes_open_cols,
    .imip_enqueue = store_sqlite_imip_enqueue,
    .imip_next_due = store_sqlite_imip_next_due,
    .imip_claim = store_sqlite_imip_claim,
    .imip_next_time = store_sqlite_imip_next_time,
    .imip_get = store_sqlite_imip_get,
    .imip_tried = store_sqlite_imip_tried,
    .imip_retry = store_sqlite_imip_retry,
    .imip_list = store_sqlite_imip_list,
};
