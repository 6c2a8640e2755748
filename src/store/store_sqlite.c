/* store/store_sqlite.c: the SQLite engine behind store.h. One connection per struct store,
 * WAL with synchronous=FULL (a commit that returned is on disk), foreign keys on, every
 * statement prepared once per connection and reset after use. Cursors prepare their own
 * statement so several can be open at once. The only file with SQL besides schema/. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store/store.h"
#include "store/store_schema.h"
#include "util/sec.h"
#include "util/timeutil.h"

enum {
    BUSY_TIMEOUT_MS = 5000,
    ERRMSG_MAX = 256,
};

/* Statements prepared once per connection; indexed by enum stmt_id. */
enum stmt_id {
    S_BEGIN_READ,
    S_BEGIN_WRITE,
    S_COMMIT,
    S_ROLLBACK,
    S_PRINCIPAL_INSERT,
    S_PRINCIPAL_SET_HOME,
    S_PRINCIPAL_GET,
    S_PRINCIPAL_SET_PW,
    S_PRINCIPAL_DEL_PROPS_ITEMS,
    S_PRINCIPAL_DEL_PROPS_COLLS,
    S_PRINCIPAL_DEL,
    S_PRINCIPAL_LIST,
    S_COLL_INSERT,
    S_COLL_GET,
    S_COLL_LOOKUP,
    S_COLL_BUMP,
    S_COLL_HAS_ITEM,
    S_COLL_DEL_PROPS,
    S_COLL_DEL,
    S_COLL_IS_BELOW,
    S_COLL_MOVE,
    S_COLL_RESET,
    S_COLL_TOMB_CLEAR,
    S_COLL_TOMB_PRUNE_MAX,
    S_COLL_TOMB_PRUNE,
    S_COLL_SET_HORIZON,
    S_ITEM_GET,
    S_ITEM_GET_CONTENT,
    S_ITEM_GET_BY_UID,
    S_ITEM_UID_CLASH,
    S_ITEM_UPSERT,
    S_ITEM_DELETE,
    S_ITEM_DEL_PROPS,
    S_TOMB_INSERT,
    S_ITEM_MOVE,
    S_ITEM_TOUCH,
    S_PROP_SET,
    S_PROP_DEL,
    S_PROP_GET,
    S_PROP_LIST,
    S_PROP_COPY,
    S_COUNT
};

#define ITEM_COLS                                                                            \
  "id, coll, name, uid, content_type, size, modseq, created_modseq, mtime, dtstart, dtend, " \
  "comp, recurring"

enum {
    ITEM_NCOLS = 13
}; /* columns in ITEM_COLS; content or the tombstone flag follows */

#define COLL_COLS \
  "id, owner, parent, kind, name, modseq, epoch, change_guid, tomb_horizon, created, updated"
#define SUBTREE                                     \
  "WITH RECURSIVE sub(id) AS (SELECT ?1 UNION ALL " \
  "SELECT c.id FROM collections c JOIN sub ON c.parent = sub.id) "

static const char *const stmt_sql[S_COUNT] = {
    [S_BEGIN_READ] = "BEGIN DEFERRED",
    [S_BEGIN_WRITE] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_PRINCIPAL_INSERT] = "INSERT INTO principals(name, pwhash) VALUES (?1, ?2)",
    [S_PRINCIPAL_SET_HOME] = "UPDATE principals SET home_id = ?2 WHERE id = ?1",
    [S_PRINCIPAL_GET] = "SELECT id, name, pwhash, home_id FROM principals WHERE name = ?1",
    [S_PRINCIPAL_SET_PW] = "UPDATE principals SET pwhash = ?2 WHERE name = ?1",
    [S_PRINCIPAL_DEL_PROPS_ITEMS] =
        "DELETE FROM props WHERE res_kind = 1 AND res_id IN (SELECT i.id FROM items i JOIN "
        "collections c ON i.coll = c.id WHERE c.owner = ?1)",
    [S_PRINCIPAL_DEL_PROPS_COLLS] = "DELETE FROM props WHERE res_kind = 0 AND res_id IN "
                                    "(SELECT id FROM collections WHERE owner = ?1)",
    [S_PRINCIPAL_DEL] = "DELETE FROM principals WHERE id = ?1",
    [S_PRINCIPAL_LIST] = "SELECT id, name, pwhash, home_id FROM principals ORDER BY name",
    [S_COLL_INSERT] = "INSERT INTO collections(owner, parent, kind, name, modseq, epoch, "
                      "change_guid, tomb_horizon, created, updated) "
                      "VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6, 0, ?7, ?7)",
    [S_COLL_GET] = "SELECT " COLL_COLS " FROM collections WHERE id = ?1",
    [S_COLL_LOOKUP] = "SELECT " COLL_COLS " FROM collections WHERE parent = ?1 AND name = ?2",
    [S_COLL_BUMP] = "UPDATE collections SET modseq = modseq + 1, updated = ?2 WHERE id = ?1 "
                    "RETURNING modseq",
    [S_COLL_HAS_ITEM] = "SELECT 1 FROM items WHERE coll = ?1 AND name = ?2",
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
    [S_ITEM_GET] = "SELECT " ITEM_COLS " FROM items WHERE coll = ?1 AND name = ?2",
    [S_ITEM_GET_CONTENT] = "SELECT " ITEM_COLS ", content FROM items WHERE coll = ?1 AND name = ?2",
    [S_ITEM_GET_BY_UID] = "SELECT " ITEM_COLS " FROM items WHERE coll = ?1 AND uid = ?2",
    [S_ITEM_UID_CLASH] = "SELECT 1 FROM items WHERE coll = ?1 AND uid = ?2 AND name <> ?3",
    [S_ITEM_UPSERT] =
        "INSERT INTO items(coll, name, uid, content_type, size, modseq, created_modseq, mtime, "
        "dtstart, dtend, content, comp, recurring) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?8, ?9, ?10, ?11, ?12) "
        "ON CONFLICT(coll, name) DO UPDATE SET uid = excluded.uid, "
        "content_type = excluded.content_type, size = excluded.size, modseq = excluded.modseq, "
        "mtime = excluded.mtime, dtstart = excluded.dtstart, dtend = excluded.dtend, "
        "content = excluded.content, comp = excluded.comp, recurring = excluded.recurring "
        "RETURNING " ITEM_COLS,
    [S_ITEM_DELETE] = "DELETE FROM items WHERE coll = ?1 AND name = ?2 "
                      "RETURNING id, created_modseq",
    [S_ITEM_DEL_PROPS] = "DELETE FROM props WHERE res_kind = 1 AND res_id = ?1",
    [S_TOMB_INSERT] = "INSERT INTO tombstones(coll, item_id, name, modseq, created_modseq, "
                      "deleted_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [S_ITEM_MOVE] = "UPDATE items SET coll = ?2, name = ?3, modseq = ?4, created_modseq = ?4, "
                    "mtime = ?5 WHERE id = ?1",
    [S_ITEM_TOUCH] = "UPDATE items SET modseq = ?3, mtime = ?4 WHERE coll = ?1 AND name = ?2",
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
};

struct store {
    sqlite3 *db;
    sqlite3_stmt *stmts[S_COUNT];
    uint8_t guid[STORE_GUID_BYTES];
    uint8_t secret[STORE_SECRET_BYTES];
    char errmsg[ERRMSG_MAX];
    struct store *next_free;     /* pool free list */
    pthread_mutex_t *write_gate; /* the pool's, or NULL for a lone connection */
    bool holds_gate;             /* between store_begin_write and commit/rollback */
};

enum cursor_kind {
    CURSOR_ITEMS,
    CURSOR_COLLS
};

struct store_cursor {
    struct store *s;
    sqlite3_stmt *stmt;
    enum cursor_kind kind;
    bool tomb_column; /* the change cursor's last column flags tombstones */
};

/* ---------------------------------------------------------------------------------------- */
/* Errors and statements */

static enum store_rc fail(struct store *s, int sqlite_rc)
{
    snprintf(s->errmsg, sizeof(s->errmsg), "%s", sqlite3_errmsg(s->db));
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

static enum store_rc fail_msg(struct store *s, enum store_rc rc, const char *msg)
{
    snprintf(s->errmsg, sizeof(s->errmsg), "%s", msg);
    return rc;
}

/* The cached statement `id`, reset and with bindings cleared. NULL on failure (errmsg set). */
static sqlite3_stmt *stmt(struct store *s, enum stmt_id id)
{
    sqlite3_stmt *st = s->stmts[id];
    if (!st) {
        int rc = sqlite3_prepare_v3(s->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
        if (rc != SQLITE_OK) {
            fail(s, rc);
            return NULL;
        }
        s->stmts[id] = st;
    }
    return st;
}

static void done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/* Decodes the current row of `st` and hands it to the caller's callback held in `cb`. */
typedef int row_fn(sqlite3_stmt *st, void *cb);

/* Steps `st` to the end, or until the callback returns non-zero; resets it. Rows are
 * borrowed for the call only. */
static enum store_rc each_row(struct store *s, sqlite3_stmt *st, row_fn *row, void *cb)
{
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (row(st, cb) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    enum store_rc r = rc == SQLITE_DONE ? STORE_OK : fail(s, rc);
    done(st);
    return r;
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v) {
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    } else {
        sqlite3_bind_null(st, i);
    }
}

static void bind_u64(sqlite3_stmt *st, int i, uint64_t v)
{
    sqlite3_bind_int64(st, i, (sqlite3_int64)v);
}

/* Runs a statement that returns no rows (or ignores them). */
static enum store_rc exec_stmt(struct store *s, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    while (rc == SQLITE_ROW) {
        rc = sqlite3_step(st);
    }
    enum store_rc r = rc == SQLITE_DONE ? STORE_OK : fail(s, rc);
    done(st);
    return r;
}

static const char *col_text(sqlite3_stmt *st, int i, struct arena *arena)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    if (!t) {
        return NULL;
    }
    size_t n = (size_t)sqlite3_column_bytes(st, i);
    return arena ? arena_strndup(arena, (const char *)t, n) : (const char *)t;
}

static uint64_t col_u64(sqlite3_stmt *st, int i)
{
    return (uint64_t)sqlite3_column_int64(st, i);
}

/* ---------------------------------------------------------------------------------------- */
/* Open, close, transactions */

static enum store_rc exec_sql(struct store *s, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        snprintf(s->errmsg, sizeof(s->errmsg), "%s", msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        return STORE_IO;
    }
    return STORE_OK;
}

static int user_version(struct store *s)
{
    sqlite3_stmt *st = NULL;
    int v = -1;
    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        v = sqlite3_column_int(st, 0);
    }
    sqlite3_finalize(st);
    return v;
}

/* Reads meta `key` into out[n], or makes it from random bytes when absent. */
static enum store_rc meta_random(struct store *s, const char *key, uint8_t *out, size_t n)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = ?1", -1, &st, NULL);
    bool found = false;
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW && (size_t)sqlite3_column_bytes(st, 0) == n) {
            memcpy(out, sqlite3_column_blob(st, 0), n);
            found = true;
        }
    }
    sqlite3_finalize(st);
    if (found) {
        return STORE_OK;
    }
    sec_random(out, n);
    st = NULL;
    rc = sqlite3_prepare_v2(s->db, "INSERT INTO meta(key, value) VALUES (?1, ?2)", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 2, out, (int)n, SQLITE_STATIC);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? STORE_OK : fail(s, rc);
}

/* Applies every migration newer than PRAGMA user_version, each in its own transaction. */
static enum store_rc migrate(struct store *s)
{
    if (exec_sql(s, "BEGIN IMMEDIATE") != STORE_OK) {
        return STORE_IO;
    }
    int have = user_version(s);
    for (unsigned i = 0; i < store_migration_count; i++) {
        const struct store_migration *m = &store_migrations[i];
        if (m->version <= have) {
            continue;
        }
        char pragma[64];
        snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", m->version);
        if (exec_sql(s, m->sql) != STORE_OK || exec_sql(s, pragma) != STORE_OK) {
            exec_sql(s, "ROLLBACK");
            return STORE_IO;
        }
        have = m->version;
    }
    /* The store GUID and secret, made once with the store. */
    if (meta_random(s, "guid", s->guid, sizeof(s->guid)) != STORE_OK ||
        meta_random(s, "secret", s->secret, sizeof(s->secret)) != STORE_OK) {
        exec_sql(s, "ROLLBACK");
        return STORE_IO;
    }
    return exec_sql(s, "COMMIT");
}

enum store_rc store_open(const char *dir, struct store **out, const char **errmsg_out)
{
    if (sec_init() != 0) {
        if (errmsg_out) {
            *errmsg_out = "libsodium failed to initialise";
        }
        return STORE_IO;
    }
    struct store *s = calloc(1, sizeof(*s));
    if (!s) {
        abort();
    }
    char path[4096];
    if (snprintf(path, sizeof(path), "%s/almanac.db", dir) >= (int)sizeof(path)) {
        free(s);
        if (errmsg_out) {
            *errmsg_out = "data directory path too long";
        }
        return STORE_IO;
    }
    int rc = sqlite3_open_v2(
        path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        if (errmsg_out) {
            *errmsg_out = "cannot open almanac.db";
        }
        sqlite3_close(s->db);
        free(s);
        return STORE_IO;
    }
    sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    sqlite3_extended_result_codes(s->db, 1);
    if (exec_sql(s, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; "
                    "PRAGMA foreign_keys = ON; PRAGMA cache_size = -2048; "
                    "PRAGMA temp_store = MEMORY") != STORE_OK ||
        migrate(s) != STORE_OK) {
        if (errmsg_out) {
            *errmsg_out = "cannot initialise almanac.db (see log)";
        }
        sqlite3_close(s->db);
        free(s);
        return STORE_IO;
    }
    *out = s;
    return STORE_OK;
}

void store_close(struct store **sp)
{
    struct store *s = *sp;
    if (!s) {
        return;
    }
    for (int i = 0; i < S_COUNT; i++) {
        sqlite3_finalize(s->stmts[i]);
    }
    sqlite3_close(s->db);
    free(s);
    *sp = NULL;
}

const char *store_last_error(const struct store *s)
{
    return s->errmsg;
}

void store_guid(const struct store *s, uint8_t out[STORE_GUID_BYTES])
{
    memcpy(out, s->guid, STORE_GUID_BYTES);
}

void store_secret(const struct store *s, uint8_t out[STORE_SECRET_BYTES])
{
    memcpy(out, s->secret, STORE_SECRET_BYTES);
}

static void store_release_gate(struct store *s)
{
    if (s->holds_gate) {
        s->holds_gate = false;
        pthread_mutex_unlock(s->write_gate);
    }
}

static enum store_rc run_simple(struct store *s, enum stmt_id id)
{
    sqlite3_stmt *st = stmt(s, id);
    return st ? exec_stmt(s, st) : STORE_IO;
}

enum store_rc store_begin_read(struct store *s)
{
    return run_simple(s, S_BEGIN_READ);
}

/* Writers of one process queue on the pool's gate and are woken as soon as the previous
 * commit is done; SQLite's busy handler would make them sleep-poll (1, 2, 5 ms...) for the
 * database lock instead. The busy timeout still covers other processes (the admin CLI). */
enum store_rc store_begin_write(struct store *s)
{
    if (s->write_gate && !s->holds_gate) {
        pthread_mutex_lock(s->write_gate);
        s->holds_gate = true;
    }
    enum store_rc rc = run_simple(s, S_BEGIN_WRITE);
    if (rc != STORE_OK) {
        store_release_gate(s);
    }
    return rc;
}

enum store_rc store_commit(struct store *s)
{
    enum store_rc rc = run_simple(s, S_COMMIT);
    if (rc == STORE_OK || sqlite3_get_autocommit(s->db)) {
        store_release_gate(s);
    }
    return rc;
}

enum store_rc store_rollback(struct store *s)
{
    enum store_rc rc = STORE_OK;
    if (!sqlite3_get_autocommit(s->db)) {
        rc = run_simple(s, S_ROLLBACK);
    }
    store_release_gate(s);
    return rc;
}

bool store_in_txn(const struct store *s)
{
    return !sqlite3_get_autocommit(s->db);
}

/* ---------------------------------------------------------------------------------------- */
/* Pool */

struct store_pool {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    char *dir;
    unsigned max;
    unsigned open;
    struct store *free;
    pthread_mutex_t write_gate; /* one writer of this process at a time */
};

enum store_rc store_pool_create(const char *dir, unsigned max, struct store_pool **out)
{
    struct store_pool *p = calloc(1, sizeof(*p));
    if (!p) {
        abort();
    }
    p->dir = strdup(dir);
    if (!p->dir) {
        abort();
    }
    p->max = max ? max : 1;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    pthread_mutex_init(&p->write_gate, NULL);
    *out = p;
    return STORE_OK;
}

void store_pool_destroy(struct store_pool **pp)
{
    struct store_pool *p = *pp;
    if (!p) {
        return;
    }
    while (p->free) {
        struct store *s = p->free;
        p->free = s->next_free;
        store_close(&s);
    }
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->write_gate);
    free(p->dir);
    free(p);
    *pp = NULL;
}

struct store *store_pool_acquire(struct store_pool *p)
{
    pthread_mutex_lock(&p->lock);
    for (;;) {
        if (p->free) {
            struct store *s = p->free;
            p->free = s->next_free;
            s->next_free = NULL;
            pthread_mutex_unlock(&p->lock);
            return s;
        }
        if (p->open < p->max) {
            p->open++;
            pthread_mutex_unlock(&p->lock);
            struct store *s = NULL;
            if (store_open(p->dir, &s, NULL) != STORE_OK) {
                abort(); /* the store opened at start-up; failing now is an I/O fault */
            }
            s->write_gate = &p->write_gate;
            return s;
        }
        pthread_cond_wait(&p->cond, &p->lock);
    }
}

void store_pool_release(struct store_pool *p, struct store *s)
{
    store_rollback(s);
    pthread_mutex_lock(&p->lock);
    s->next_free = p->free;
    p->free = s;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

/* ---------------------------------------------------------------------------------------- */
/* Principals */

static void read_principal(sqlite3_stmt *st, struct arena *arena, struct store_principal *out)
{
    out->id = col_u64(st, 0);
    out->name = col_text(st, 1, arena);
    out->pwhash = col_text(st, 2, arena);
    out->home_id = col_u64(st, 3);
}

static void fresh_guid(uint8_t out[STORE_GUID_BYTES])
{
    sec_random(out, STORE_GUID_BYTES);
}

static uint64_t fresh_epoch(void)
{
    return sec_random_u64() >> 1; /* fits a signed 64-bit column */
}

enum store_rc store_principal_add(struct store *s,
                                  const char *name,
                                  const char *pwhash,
                                  struct arena *arena,
                                  struct store_principal *out)
{
    if (strlen(name) == 0 || strlen(name) > STORE_USER_MAX) {
        return fail_msg(s, STORE_LIMIT, "principal name length out of bounds");
    }
    sqlite3_stmt *st = stmt(s, S_PRINCIPAL_INSERT);
    if (!st) {
        return STORE_IO;
    }
    bind_text(st, 1, name);
    bind_text(st, 2, pwhash);
    enum store_rc rc = exec_stmt(s, st);
    if (rc != STORE_OK) {
        return rc;
    }
    uint64_t pid = (uint64_t)sqlite3_last_insert_rowid(s->db);
    /* The home: the root collection of the principal's tree. */
    st = stmt(s, S_COLL_INSERT);
    if (!st) {
        return STORE_IO;
    }
    uint8_t guid[STORE_GUID_BYTES];
    fresh_guid(guid);
    bind_u64(st, 1, pid);
    sqlite3_bind_null(st, 2);
    sqlite3_bind_int(st, 3, STORE_COLL_HOME);
    bind_text(st, 4, "");
    bind_u64(st, 5, fresh_epoch());
    sqlite3_bind_blob(st, 6, guid, STORE_GUID_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, time_now());
    rc = exec_stmt(s, st);
    if (rc != STORE_OK) {
        return rc;
    }
    uint64_t home = (uint64_t)sqlite3_last_insert_rowid(s->db);
    st = stmt(s, S_PRINCIPAL_SET_HOME);
    if (!st) {
        return STORE_IO;
    }
    bind_u64(st, 1, pid);
    bind_u64(st, 2, home);
    rc = exec_stmt(s, st);
    if (rc == STORE_OK && out) {
        out->id = pid;
        out->name = arena_strdup(arena, name);
        out->pwhash = arena_strdup(arena, pwhash);
        out->home_id = home;
    }
    return rc;
}

enum store_rc store_principal_get(struct store *s,
                                  const char *name,
                                  struct arena *arena,
                                  struct store_principal *out)
{
    sqlite3_stmt *st = stmt(s, S_PRINCIPAL_GET);
    if (!st) {
        return STORE_IO;
    }
    bind_text(st, 1, name);
    int rc = sqlite3_step(st);
    enum store_rc r = STORE_OK;
    if (rc == SQLITE_ROW) {
        read_principal(st, arena, out);
    } else if (rc == SQLITE_DONE) {
        r = STORE_NOTFOUND;
    } else {
        r = fail(s, rc);
    }
    done(st);
    return r;
}

enum store_rc store_principal_set_pwhash(struct store *s, const char *name, const char *pwhash)
{
    sqlite3_stmt *st = stmt(s, S_PRINCIPAL_SET_PW);
    if (!st) {
        return STORE_IO;
    }
    bind_text(st, 1, name);
    bind_text(st, 2, pwhash);
    enum store_rc rc = exec_stmt(s, st);
    if (rc == STORE_OK && sqlite3_changes(s->db) == 0) {
        return STORE_NOTFOUND;
    }
    return rc;
}

enum store_rc store_principal_del(struct store *s, const char *name)
{
    struct arena *a = arena_create();
    struct store_principal p;
    enum store_rc rc = store_principal_get(s, name, a, &p);

    static const enum stmt_id steps[] = {S_PRINCIPAL_DEL_PROPS_ITEMS, S_PRINCIPAL_DEL_PROPS_COLLS,
                                         S_PRINCIPAL_DEL};

    for (size_t i = 0; rc == STORE_OK && i < sizeof(steps) / sizeof(steps[0]); i++) {
        sqlite3_stmt *st = stmt(s, steps[i]);
        if (!st) {
            rc = STORE_IO;
            break;
        }
        bind_u64(st, 1, p.id);
        rc = exec_stmt(s, st);
    }
    arena_destroy(&a);
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

enum store_rc store_principal_list(struct store *s, store_principal_fn *fn, void *ctx)
{
    sqlite3_stmt *st = stmt(s, S_PRINCIPAL_LIST);
    if (!st) {
        return STORE_IO;
    }
    struct principal_cb cb = {fn, ctx};
    return each_row(s, st, principal_row, &cb);
}

/* ---------------------------------------------------------------------------------------- */
/* Collections */

static void read_coll(sqlite3_stmt *st, struct arena *arena, struct store_coll *out)
{
    out->id = col_u64(st, 0);
    out->owner = col_u64(st, 1);
    out->parent = col_u64(st, 2);
    out->kind = (enum store_coll_kind)sqlite3_column_int(st, 3);
    out->name = col_text(st, 4, arena);
    out->modseq = col_u64(st, 5);
    out->epoch = col_u64(st, 6);
    memset(out->change_guid, 0, STORE_GUID_BYTES);
    if (sqlite3_column_bytes(st, 7) == STORE_GUID_BYTES) {
        memcpy(out->change_guid, sqlite3_column_blob(st, 7), STORE_GUID_BYTES);
    }
    out->tomb_horizon = col_u64(st, 8);
    out->created = sqlite3_column_int64(st, 9);
    out->updated = sqlite3_column_int64(st, 10);
}

/* Runs a single-row collection query; STORE_NOTFOUND when it returns nothing. */
static enum store_rc
coll_row(struct store *s, sqlite3_stmt *st, struct arena *arena, struct store_coll *out)
{
    int rc = sqlite3_step(st);
    enum store_rc r = STORE_OK;
    if (rc == SQLITE_ROW) {
        read_coll(st, arena, out);
    } else if (rc == SQLITE_DONE) {
        r = STORE_NOTFOUND;
    } else {
        r = fail(s, rc);
    }
    done(st);
    return r;
}

enum store_rc
store_coll_get(struct store *s, uint64_t id, struct arena *arena, struct store_coll *out)
{
    sqlite3_stmt *st = stmt(s, S_COLL_GET);
    if (!st) {
        return STORE_IO;
    }
    bind_u64(st, 1, id);
    return coll_row(s, st, arena, out);
}

enum store_rc store_coll_lookup(
    struct store *s, uint64_t parent, const char *name, struct arena *arena, struct store_coll *out)
{
    sqlite3_stmt *st = stmt(s, S_COLL_LOOKUP);
    if (!st) {
        return STORE_IO;
    }
    bind_u64(st, 1, parent);
    bind_text(st, 2, name);
    return coll_row(s, st, arena, out);
}

/* Increments the collection's modseq; the new value in *modseq_out. */
static enum store_rc bump(struct store *s, uint64_t coll, uint64_t *modseq_out)
{
    sqlite3_stmt *st = stmt(s, S_COLL_BUMP);
    if (!st) {
        return STORE_IO;
    }
    bind_u64(st, 1, coll);
    sqlite3_bind_int64(st, 2, time_now());
    int rc = sqlite3_step(st);
    enum store_rc r = STORE_OK;
    if (rc == SQLITE_ROW) {
        if (modseq_out) {
            *modseq_out = col_u64(st, 0);
        }
        rc = sqlite3_step(st);
    } else if (rc == SQLITE_DONE) {
        r = fail_msg(s, STORE_NOTFOUND, "no such collection");
        rc = SQLITE_DONE;
    }
    if (r == STORE_OK && rc != SQLITE_DONE) {
        r = fail(s, rc);
    }
    done(st);
    return r;
}

/* STORE_EXISTS when `parent` has a live item called `name`. */
static enum store_rc check_no_item(struct store *s, uint64_t parent, const char *name)
{
    sqlite3_stmt *st = stmt(s, S_COLL_HAS_ITEM);
    if (!st) {
        return STORE_IO;
    }
    bind_u64(st, 1, parent);
    bind_text(st, 2, name);
    int rc = sqlite3_step(st);
    enum store_rc r = rc == SQLITE_ROW    ? fail_msg(s, STORE_EXISTS, "an item has that name")
                      : rc == SQLITE_DONE ? STORE_OK
                                          : fail(s, rc);
    done(st);
    return r;
}

static enum store_rc check_no_coll(struct store *s, uint64_t parent, const char *name)
{
    struct store_coll c;
    enum store_rc rc = store_coll_lookup(s, parent, name, NULL, &c);
    if (rc == STORE_OK) {
        return fail_msg(s, STORE_EXISTS, "a collection has that name");
    }
    return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

static bool name_ok(const char *name)
{
    size_t n = strlen(name);
    return n > 0 && n <= STORE_NAME_MAX;
}

enum store_rc store_coll_create(struct store *s,
                                uint64_t parent,
                                const char *name,
                                enum store_coll_kind kind,
                                struct arena *arena,
                                struct store_coll *out)
{
    if (!name_ok(name)) {
        return fail_msg(s, STORE_LIMIT, "collection name length out of bounds");
    }
    struct store_coll p;
    enum store_rc rc = store_coll_get(s, parent, NULL, &p);
    if (rc == STORE_OK) {
        rc = check_no_item(s, parent, name);
    }
    if (rc == STORE_OK) {
        rc = check_no_coll(s, parent, name);
    }
    if (rc != STORE_OK) {
        return rc;
    }
    sqlite3_stmt *st = stmt(s, S_COLL_INSERT);
    if (!st) {
        return STORE_IO;
    }
    uint8_t guid[STORE_GUID_BYTES];
    fresh_guid(guid);
    bind_u64(st, 1, p.owner);
    bind_u64(st, 2, parent);
    sqlite3_bind_int(st, 3, kind);
    bind_text(st, 4, name);
    bind_u64(st, 5, fresh_epoch());
    sqlite3_bind_blob(st, 6, guid, STORE_GUID_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, time_now());
    rc = exec_stmt(s, st);
    if (rc != STORE_OK) {
        return rc;
    }
    uint64_t id = (uint64_t)sqlite3_last_insert_rowid(s->db);
    rc = bump(s, parent, NULL);
    if (rc == STORE_OK && out) {
        rc = store_coll_get(s, id, arena, out);
    }
    return rc;
}

enum store_rc store_coll_delete(struct store *s, uint64_t id)
{
    struct store_coll c;
    enum store_rc rc = store_coll_get(s, id, NULL, &c);
    if (rc != STORE_OK) {
        return rc;
    }
    if (c.kind == STORE_COLL_HOME) {
        return fail_msg(s, STORE_CONFLICT, "a home cannot be deleted");
    }

    static const enum stmt_id steps[] = {S_COLL_DEL_PROPS, S_COLL_DEL};

    for (size_t i = 0; rc == STORE_OK && i < sizeof(steps) / sizeof(steps[0]); i++) {
        sqlite3_stmt *st = stmt(s, steps[i]);
        if (!st) {
            return STORE_IO;
        }
        bind_u64(st, 1, id);
        rc = exec_stmt(s, st);
    }
    if (rc == STORE_OK) {
        rc = bump(s, c.parent, NULL);
    }
    return rc;
}

enum store_rc
store_coll_move(struct store *s, uint64_t id, uint64_t new_parent, const char *new_name)
{
    if (!name_ok(new_name)) {
        return fail_msg(s, STORE_LIMIT, "collection name length out of bounds");
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
        return fail_msg(s, STORE_CONFLICT, "cannot move a home or across owners");
    }
    sqlite3_stmt *st = stmt(s, S_COLL_IS_BELOW);
    if (!st) {
        return STORE_IO;
    }
    bind_u64(st, 1, id);
    bind_u64(st, 2, new_parent);
    int src = sqlite3_step(st);
    done(st);
    if (src == SQLITE_ROW) {
        return fail_msg(s, STORE_CONFLICT, "cannot move a collection below itself");
    }
    if (src != SQLITE_DONE) {
        return fail(s, src);
    }
    rc = check_no_item(s, new_parent, new_name);
    if (rc == STORE_OK) {
        rc = check_no_coll(s, new_parent, new_name);
    }
    if (rc != STORE_OK) {
        return rc;
    }
    st = stmt(s, S_COLL_MOVE);
    if (!st) {
        return STORE_IO;
    }
    bind_u64(st, 1, id);
    bind_u64(st, 2, new_parent);
    bind_text(st, 3, new_name);
    sqlite3_bind_int64(st, 4, time_now());
    rc = exec_stmt(s, st);
    if (rc == STORE_OK) {
        rc = bump(s, c.parent, NULL);
    }
    if (rc == STORE_OK && new_parent != c.parent) {
        rc = bump(s, new_parent, NULL);
    }
    return rc;
}

enum store_rc store_coll_touch(struct store *s, uint64_t id, uint64_t *modseq_out)
{
    return bump(s, id, modseq_out);
}

enum store_rc store_coll_reset_history(struct store *s, uint64_t id)
{
    sqlite3_stmt *st = stmt(s, S_COLL_RESET);
    if (!st) {
        return STORE_IO;
    }
    uint8_t guid[STORE_GUID_BYTES];
    fresh_guid(guid);
    bind_u64(st, 1, id);
    bind_u64(st, 2, fresh_epoch());
    sqlite3_bind_blob(st, 3, guid, STORE_GUID_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, time_now());
    enum store_rc rc = exec_stmt(s, st);
    if (rc == STORE_OK && sqlite3_changes(s->db) == 0) {
        return fail_msg(s, STORE_NOTFOUND, "no such collection");
    }
    if (rc == STORE_OK) {
        st = stmt(s, S_COLL_TOMB_CLEAR);
        if (!st) {
            return STORE_IO;
        }
        bind_u64(st, 1, id);
        rc = exec_stmt(s, st);
    }
    return rc;
}

enum store_rc store_coll_prune_tombstones(struct store *s, uint64_t id, int64_t older_than)
{
    sqlite3_stmt *st = stmt(s, S_COLL_TOMB_PRUNE_MAX);
    if (!st) {
        return STORE_IO;
    }
    bind_u64(st, 1, id);
    sqlite3_bind_int64(st, 2, older_than);
    int rc = sqlite3_step(st);
    bool any = rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL;
    uint64_t max = any ? col_u64(st, 0) : 0;
    done(st);
    if (rc != SQLITE_ROW) {
        return fail(s, rc);
    }
    if (!any) {
        return STORE_OK;
    }
    /* Everything up to the newest pruned tombstone goes, and tokens below it are too old. */
    st = stmt(s, S_COLL_TOMB_PRUNE);
    if (!st) {
        return STORE_IO;
    }
    bind_u64(st, 1, id);
    bind_u64(st, 2, max);
    enum store_rc r = exec_stmt(s, st);
    if (r != STORE_OK) {
        return r;
    }
    st = stmt(s, S_COLL_SET_HORIZON);
    if (!st) {
        return STORE_IO;
    }
    bind_u64(st, 1, id);
    bind_u64(st, 2, max); /* a token at max saw every dropped tombstone */
    return exec_stmt(s, st);
}

/* ---------------------------------------------------------------------------------------- */
/* Items */

/* Reads ITEM_COLS (and content at column ITEM_NCOLS when `with_content`). Strings are copied into
 * `arena`, or borrowed from the statement when arena is NULL. */
static void
read_item(sqlite3_stmt *st, struct arena *arena, bool with_content, struct store_item *o)
{
    memset(o, 0, sizeof(*o));
    o->id = col_u64(st, 0);
    o->coll = col_u64(st, 1);
    o->name = col_text(st, 2, arena);
    o->uid = col_text(st, 3, arena);
    o->content_type = col_text(st, 4, arena);
    o->size = (size_t)sqlite3_column_int64(st, 5);
    o->modseq = col_u64(st, 6);
    o->created_modseq = col_u64(st, 7);
    o->mtime = sqlite3_column_int64(st, 8);
    o->has_span = sqlite3_column_type(st, 9) != SQLITE_NULL;
    o->dtstart_utc = sqlite3_column_int64(st, 9);
    o->dtend_utc = sqlite3_column_int64(st, 10);
    o->comp = (unsigned)sqlite3_column_int(st, 11);
    o->is_recurring = sqlite3_column_int(st, 12) != 0;
    if (with_content) {
        const void *b = sqlite3_column_blob(st, ITEM_NCOLS);
        size_t n = (size_t)sqlite3_column_bytes(st, ITEM_NCOLS);
        o->content = arena ? arena_memdup(arena, b ? b : "", n) : b;
        o->size = n;
    }
}

static enum store_rc item_row(struct store *s,
                              sqlite3_stmt *st,
                              bool with_content,
                              struct arena *arena,
                              struct store_item *out)
{
    int rc = sqlite3_step(st);
    enum store_rc r = STORE_OK;
    if (rc == SQLITE_ROW) {
        if (out) {
            read_item(st, arena, with_content, out);
        }
    } else if (rc == SQLITE_DONE) {
        r = STORE_NOTFOUND;
    } else {
        r = fail(s, rc);
    }
    done(st);
    return r;
}

enum store_rc store_item_get(struct store *s,
                             uint64_t coll,
                             const char *name,
                             enum store_item_flags flags,
                             struct arena *arena,
                             struct store_item *out)
{
    bool content = flags & STORE_ITEM_CONTENT;
    sqlite3_stmt *st = stmt(s, content ? S_ITEM_GET_CONTENT : S_ITEM_GET);
    if (!st) {
        return STORE_IO;
    }
    bind_u64(st, 1, coll);
    bind_text(st, 2, name);
    return item_row(s, st, content, arena, out);
}

enum store_rc store_item_get_by_uid(
    struct store *s, uint64_t coll, const char *uid, struct arena *arena, struct store_item *out)
{
    sqlite3_stmt *st = stmt(s, S_ITEM_GET_BY_UID);
    if (!st) {
        return STORE_IO;
    }
    bind_u64(st, 1, coll);
    bind_text(st, 2, uid);
    return item_row(s, st, false, arena, out);
}

static enum store_rc check_uid(struct store *s, uint64_t coll, const char *uid, const char *name)
{
    if (!uid) {
        return STORE_OK;
    }
    sqlite3_stmt *st = stmt(s, S_ITEM_UID_CLASH);
    if (!st) {
        return STORE_IO;
    }
    bind_u64(st, 1, coll);
    bind_text(st, 2, uid);
    bind_text(st, 3, name);
    int rc = sqlite3_step(st);
    enum store_rc r = rc == SQLITE_ROW    ? fail_msg(s, STORE_CONFLICT, "uid in use")
                      : rc == SQLITE_DONE ? STORE_OK
                                          : fail(s, rc);
    done(st);
    return r;
}

enum store_rc store_item_put(struct store *s,
                             uint64_t coll,
                             const char *name,
                             const struct store_item_in *in,
                             struct arena *arena,
                             struct store_item *out,
                             bool *created_out)
{
    if (!name_ok(name)) {
        return fail_msg(s, STORE_LIMIT, "item name length out of bounds");
    }
    enum store_rc rc = check_no_coll(s, coll, name);
    if (rc == STORE_OK) {
        rc = check_uid(s, coll, in->uid, name);
    }
    uint64_t modseq = 0;
    if (rc == STORE_OK) {
        rc = bump(s, coll, &modseq);
    }
    if (rc != STORE_OK) {
        return rc;
    }
    sqlite3_stmt *st = stmt(s, S_ITEM_UPSERT);
    if (!st) {
        return STORE_IO;
    }
    bind_u64(st, 1, coll);
    bind_text(st, 2, name);
    bind_text(st, 3, in->uid);
    bind_text(st, 4, in->content_type);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)in->size);
    bind_u64(st, 6, modseq);
    sqlite3_bind_int64(st, 7, time_now());
    if (in->has_span) {
        sqlite3_bind_int64(st, 8, in->dtstart_utc);
        sqlite3_bind_int64(st, 9, in->dtend_utc);
    } else {
        sqlite3_bind_null(st, 8);
        sqlite3_bind_null(st, 9);
    }
    sqlite3_bind_blob64(st, 10, in->size ? in->content : "", in->size, SQLITE_STATIC);
    sqlite3_bind_int(st, 11, (int)in->comp);
    sqlite3_bind_int(st, 12, in->is_recurring ? 1 : 0);
    struct store_item row;
    rc = item_row(s, st, false, arena, &row);
    if (rc == STORE_NOTFOUND) {
        rc = fail_msg(s, STORE_IO, "upsert returned no row");
    }
    if (rc != STORE_OK) {
        return rc;
    }
    if (created_out) {
        *created_out = row.created_modseq == modseq;
    }
    if (out) {
        *out = row;
    }
    return STORE_OK;
}

/* Inserts the tombstone of item `id` (last `name`) in `coll` at `modseq`. */
static enum store_rc tombstone(struct store *s,
                               uint64_t coll,
                               uint64_t id,
                               const char *name,
                               uint64_t modseq,
                               uint64_t created_modseq)
{
    sqlite3_stmt *st = stmt(s, S_TOMB_INSERT);
    if (!st) {
        return STORE_IO;
    }
    bind_u64(st, 1, coll);
    bind_u64(st, 2, id);
    bind_text(st, 3, name);
    bind_u64(st, 4, modseq);
    bind_u64(st, 5, created_modseq);
    sqlite3_bind_int64(st, 6, time_now());
    return exec_stmt(s, st);
}

enum store_rc store_item_delete(struct store *s, uint64_t coll, const char *name)
{
    sqlite3_stmt *st = stmt(s, S_ITEM_DELETE);
    if (!st) {
        return STORE_IO;
    }
    bind_u64(st, 1, coll);
    bind_text(st, 2, name);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        done(st);
        return rc == SQLITE_DONE ? fail_msg(s, STORE_NOTFOUND, "no such item") : fail(s, rc);
    }
    uint64_t id = col_u64(st, 0);
    uint64_t created = col_u64(st, 1);
    rc = sqlite3_step(st);
    done(st);
    if (rc != SQLITE_DONE) {
        return fail(s, rc);
    }
    uint64_t modseq = 0;
    enum store_rc r = bump(s, coll, &modseq);
    if (r == STORE_OK) {
        r = tombstone(s, coll, id, name, modseq, created);
    }
    if (r == STORE_OK) {
        st = stmt(s, S_ITEM_DEL_PROPS);
        if (!st) {
            return STORE_IO;
        }
        bind_u64(st, 1, id);
        r = exec_stmt(s, st);
    }
    return r;
}

enum store_rc store_item_move(
    struct store *s, uint64_t coll, const char *name, uint64_t to_coll, const char *to_name)
{
    if (!name_ok(to_name)) {
        return fail_msg(s, STORE_LIMIT, "item name length out of bounds");
    }
    struct arena *a = arena_create();
    struct store_item it;
    struct store_item clash;
    enum store_rc rc = store_item_get(s, coll, name, STORE_ITEM_META, a, &it);
    if (rc == STORE_OK) {
        rc = store_item_get(s, to_coll, to_name, STORE_ITEM_META, NULL, &clash);
        rc = rc == STORE_OK         ? fail_msg(s, STORE_EXISTS, "target name taken")
             : rc == STORE_NOTFOUND ? STORE_OK
                                    : rc;
    }
    if (rc == STORE_OK) {
        rc = check_no_coll(s, to_coll, to_name);
    }
    if (rc == STORE_OK && to_coll != coll) {
        rc = check_uid(s, to_coll, it.uid, to_name);
    }
    uint64_t src_modseq = 0;
    uint64_t dst_modseq = 0;
    if (rc == STORE_OK) {
        rc = bump(s, coll, &src_modseq);
    }
    if (rc == STORE_OK) {
        rc = tombstone(s, coll, it.id, it.name, src_modseq, it.created_modseq);
    }
    if (rc == STORE_OK) {
        rc = bump(s, to_coll, &dst_modseq);
    }
    if (rc == STORE_OK) {
        sqlite3_stmt *st = stmt(s, S_ITEM_MOVE);
        if (!st) {
            rc = STORE_IO;
        } else {
            bind_u64(st, 1, it.id);
            bind_u64(st, 2, to_coll);
            bind_text(st, 3, to_name);
            bind_u64(st, 4, dst_modseq);
            sqlite3_bind_int64(st, 5, time_now());
            rc = exec_stmt(s, st);
        }
    }
    arena_destroy(&a);
    return rc;
}

enum store_rc store_item_touch(struct store *s, uint64_t coll, const char *name)
{
    uint64_t modseq = 0;
    enum store_rc rc = bump(s, coll, &modseq);
    if (rc != STORE_OK) {
        return rc;
    }
    sqlite3_stmt *st = stmt(s, S_ITEM_TOUCH);
    if (!st) {
        return STORE_IO;
    }
    bind_u64(st, 1, coll);
    bind_text(st, 2, name);
    bind_u64(st, 3, modseq);
    sqlite3_bind_int64(st, 4, time_now());
    rc = exec_stmt(s, st);
    if (rc == STORE_OK && sqlite3_changes(s->db) == 0) {
        return fail_msg(s, STORE_NOTFOUND, "no such item");
    }
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Cursors */

static enum store_rc
cursor_open(struct store *s, const char *sql, enum cursor_kind kind, struct store_cursor **out)
{
    struct store_cursor *c = calloc(1, sizeof(*c));
    if (!c) {
        abort();
    }
    int rc = sqlite3_prepare_v3(s->db, sql, -1, 0, &c->stmt, NULL);
    if (rc != SQLITE_OK) {
        free(c);
        return fail(s, rc);
    }
    c->s = s;
    c->kind = kind;
    *out = c;
    return STORE_OK;
}

enum store_rc
store_items_open(struct store *s, uint64_t coll, enum store_order order, struct store_cursor **out)
{
    const char *sql = order == STORE_ORDER_NAME
                          ? "SELECT " ITEM_COLS " FROM items WHERE coll = ?1 ORDER BY name"
                          : "SELECT " ITEM_COLS " FROM items WHERE coll = ?1 ORDER BY modseq";
    enum store_rc rc = cursor_open(s, sql, CURSOR_ITEMS, out);
    if (rc == STORE_OK) {
        bind_u64((*out)->stmt, 1, coll);
    }
    return rc;
}

enum store_rc
store_changes_open(struct store *s, uint64_t coll, uint64_t since, struct store_cursor **out)
{
    static const char sql[] =
        "SELECT " ITEM_COLS ", 0 FROM items WHERE coll = ?1 AND modseq > ?2 "
        "UNION ALL SELECT item_id, coll, name, NULL, NULL, 0, modseq, created_modseq, "
        "deleted_at, NULL, NULL, 0, 0, 1 FROM tombstones WHERE coll = ?1 AND modseq > ?2 "
        "ORDER BY 7";
    enum store_rc rc = cursor_open(s, sql, CURSOR_ITEMS, out);
    if (rc == STORE_OK) {
        bind_u64((*out)->stmt, 1, coll);
        bind_u64((*out)->stmt, 2, since);
        (*out)->tomb_column = true;
    }
    return rc;
}

enum store_rc store_items_in_range_open(
    struct store *s, uint64_t coll, int64_t start, int64_t end, struct store_cursor **out)
{
    static const char sql[] = "SELECT " ITEM_COLS " FROM items WHERE coll = ?1 AND "
                              "dtstart IS NOT NULL AND dtstart < ?3 AND dtend > ?2 "
                              "ORDER BY dtstart";
    enum store_rc rc = cursor_open(s, sql, CURSOR_ITEMS, out);
    if (rc == STORE_OK) {
        bind_u64((*out)->stmt, 1, coll);
        sqlite3_bind_int64((*out)->stmt, 2, start);
        sqlite3_bind_int64((*out)->stmt, 3, end);
    }
    return rc;
}

enum store_rc store_children_open(struct store *s, uint64_t coll, struct store_cursor **out)
{
    static const char sql[] =
        "SELECT " COLL_COLS " FROM collections WHERE parent = ?1 ORDER BY name";
    enum store_rc rc = cursor_open(s, sql, CURSOR_COLLS, out);
    if (rc == STORE_OK) {
        bind_u64((*out)->stmt, 1, coll);
    }
    return rc;
}

enum store_rc store_all_colls_open(struct store *s, struct store_cursor **out)
{
    return cursor_open(s, "SELECT " COLL_COLS " FROM collections ORDER BY id", CURSOR_COLLS, out);
}

static enum store_rc cursor_step(struct store_cursor *c)
{
    int rc = sqlite3_step(c->stmt);
    if (rc == SQLITE_ROW) {
        return STORE_OK;
    }
    if (rc == SQLITE_DONE) {
        return STORE_NOTFOUND;
    }
    return fail(c->s, rc);
}

enum store_rc store_cursor_next_item(struct store_cursor *c, struct store_item *row_out)
{
    if (c->kind != CURSOR_ITEMS) {
        return fail_msg(c->s, STORE_IO, "not an item cursor");
    }
    enum store_rc rc = cursor_step(c);
    if (rc == STORE_OK) {
        read_item(c->stmt, NULL, false, row_out);
        row_out->is_tombstone = c->tomb_column && sqlite3_column_int(c->stmt, ITEM_NCOLS) == 1;
    }
    return rc;
}

enum store_rc store_cursor_next_coll(struct store_cursor *c, struct store_coll *row_out)
{
    if (c->kind != CURSOR_COLLS) {
        return fail_msg(c->s, STORE_IO, "not a collection cursor");
    }
    enum store_rc rc = cursor_step(c);
    if (rc == STORE_OK) {
        read_coll(c->stmt, NULL, row_out);
    }
    return rc;
}

void store_cursor_close(struct store_cursor **cp)
{
    struct store_cursor *c = *cp;
    if (!c) {
        return;
    }
    sqlite3_finalize(c->stmt);
    free(c);
    *cp = NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Dead properties */

static void bind_res(sqlite3_stmt *st, enum store_res_kind kind, uint64_t id)
{
    sqlite3_bind_int(st, 1, kind);
    bind_u64(st, 2, id);
}

enum store_rc
store_prop_set(struct store *s, enum store_res_kind kind, uint64_t id, const struct store_prop *p)
{
    sqlite3_stmt *st = stmt(s, S_PROP_SET);
    if (!st) {
        return STORE_IO;
    }
    bind_res(st, kind, id);
    bind_text(st, 3, p->ns);
    bind_text(st, 4, p->name);
    sqlite3_bind_blob64(st, 5, p->value_len ? p->value : "", p->value_len, SQLITE_STATIC);
    return exec_stmt(s, st);
}

enum store_rc store_prop_del(
    struct store *s, enum store_res_kind kind, uint64_t id, const char *ns, const char *name)
{
    sqlite3_stmt *st = stmt(s, S_PROP_DEL);
    if (!st) {
        return STORE_IO;
    }
    bind_res(st, kind, id);
    bind_text(st, 3, ns);
    bind_text(st, 4, name);
    return exec_stmt(s, st);
}

static void read_prop(sqlite3_stmt *st, struct arena *arena, struct store_prop *out)
{
    out->ns = col_text(st, 0, arena);
    out->name = col_text(st, 1, arena);
    const void *v = sqlite3_column_blob(st, 2);
    out->value_len = (size_t)sqlite3_column_bytes(st, 2);
    out->value = arena ? arena_strndup(arena, v ? v : "", out->value_len) : (v ? v : "");
}

enum store_rc store_prop_get(struct store *s,
                             enum store_res_kind kind,
                             uint64_t id,
                             const char *ns,
                             const char *name,
                             struct arena *arena,
                             struct store_prop *out)
{
    sqlite3_stmt *st = stmt(s, S_PROP_GET);
    if (!st) {
        return STORE_IO;
    }
    bind_res(st, kind, id);
    bind_text(st, 3, ns);
    bind_text(st, 4, name);
    int rc = sqlite3_step(st);
    enum store_rc r = STORE_OK;
    if (rc == SQLITE_ROW) {
        read_prop(st, arena, out);
    } else {
        r = rc == SQLITE_DONE ? STORE_NOTFOUND : fail(s, rc);
    }
    done(st);
    return r;
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

enum store_rc store_prop_list(
    struct store *s, enum store_res_kind kind, uint64_t id, store_prop_fn *fn, void *ctx)
{
    sqlite3_stmt *st = stmt(s, S_PROP_LIST);
    if (!st) {
        return STORE_IO;
    }
    bind_res(st, kind, id);
    struct prop_cb cb = {fn, ctx};
    return each_row(s, st, prop_row, &cb);
}

enum store_rc store_prop_copy(struct store *s,
                              enum store_res_kind from_kind,
                              uint64_t from_id,
                              enum store_res_kind to_kind,
                              uint64_t to_id)
{
    sqlite3_stmt *st = stmt(s, S_PROP_COPY);
    if (!st) {
        return STORE_IO;
    }
    bind_res(st, from_kind, from_id);
    sqlite3_bind_int(st, 3, to_kind);
    bind_u64(st, 4, to_id);
    return exec_stmt(s, st);
}
