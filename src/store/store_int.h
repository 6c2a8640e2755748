/* store/store_int.h: internals shared by the SQLite engine's files (store_sqlite.c: statements,
 * errors, open, migrations, transactions, pool, principals; store_sqlite_coll.c: collections;
 * store_sqlite_item.c: items, cursors, dead properties; store_sqlite_hook.c: the change hook;
 * store_sqlite_eas.c: ActiveSync device state; store_sqlite_sub.c: subscription URLs;
 * store_sqlite_share.c: shared calendars). Never included outside src/store. STYLE.md §2 reserves
 * this name for the engines' ops vtable: when store_pg.c arrives, the SQLite-only part below moves
 * to store_sqlite_int.h and the vtable takes its place. */
#ifndef ALMANAC_STORE_STORE_INT_H
#define ALMANAC_STORE_STORE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <sqlite3.h>

#include "store/store.h"
#include "store/store_fault.h"
#include "store/store_flush.h"

#if ALMANAC_FAULTS
#  include <stdatomic.h>
#endif

enum {
    STORE_DB_ERRMSG_MAX = 256,       /* bytes of store_last_error(), NUL included */
    STORE_DB_BUSY_TIMEOUT_MS = 5000, /* lock wait before STORE_BUSY (other processes) */
};

/* Item ids are < 2^47 (exchange-replication.md §1.2: id48, and 2^47 | id for collections). */
#define STORE_DB_ITEM_ID_LIMIT (UINT64_C(1) << 47)

/* The interval index (schema/010_item_spans.sql): rowid = item id * STORE_DB_SPAN_SLOTS +
 * slot, slot 0 the span and 1..STORE_ITEM_BOXES_MAX the instance boxes; the first
 * coordinate pair is min(coll, STORE_DB_SPAN_COLL_MAX) * 4 + kind. */
#define STORE_DB_SPAN_SLOTS    64
#define STORE_DB_SPAN_COLL_MAX 536870911 /* 2^29 - 1: the largest key still fits 32 bits */
_Static_assert(STORE_ITEM_BOXES_MAX < STORE_DB_SPAN_SLOTS, "a slot for every box");

enum store_db_span_kind {
    STORE_DB_SPAN_SERIES = 0,   /* the span of an item that has instance boxes */
    STORE_DB_SPAN_PLAIN = 1,    /* the span of an item that has none */
    STORE_DB_SPAN_INSTANCE = 2, /* an instance box */
};

/* Statements prepared once per connection (SQLITE_PREPARE_PERSISTENT) and reset after each
 * use; their SQL is store_sqlite.c's stmt_sql[], indexed by this enum. */
enum store_db_stmt_id {
    S_BEGIN_READ,
    S_BEGIN_WRITE,
    S_COMMIT,
    S_ROLLBACK,
    S_CRED_GEN_NEXT,
    S_PRINCIPAL_INSERT,
    S_PRINCIPAL_SET_HOME,
    S_PRINCIPAL_GET,
    S_PRINCIPAL_CRED_GEN,
    S_PRINCIPAL_SET_PW,
    S_PRINCIPAL_DEL_PROPS_ITEMS,
    S_PRINCIPAL_DEL_PROPS_COLLS,
    S_PRINCIPAL_DEL,
    S_PRINCIPAL_LIST,
    S_COLL_INSERT,
    S_COLL_GET,
    S_COLL_LOOKUP,
    S_COLL_HAS_CHILD,
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
    S_COLL_EXISTS,
    S_COLL_SET_COMPS,
    S_COLL_USAGE,
    S_ITEM_GET,
    S_ITEM_GET_CONTENT,
    S_ITEM_GET_BY_UID,
    S_ITEM_ID,
    S_ITEM_EXISTS,
    S_ITEM_UID_CLASH,
    S_ITEM_UID_CLASH_ID,
    S_ITEM_UPSERT,
    S_CONTENT_UPSERT,
    S_INSTANCES_UPSERT,
    S_INSTANCES_DELETE,
    S_INSTANCES_GET,
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
    S_SPAN_INSERT,
    S_SPAN_DELETE,
    S_SPAN_MOVE,
    S_SPANS_COLL_DEL,
    S_SPANS_PRINCIPAL_DEL,
    S_COUNT
};

/* The cursors' queries. A cursor owns its statement while open (two cursors can stream at
 * once); on close the statement is kept for the next cursor of the same query, one per query. */
enum store_db_cursor_id {
    CQ_ITEMS_BY_NAME,
    CQ_ITEMS_BY_MODSEQ,
    CQ_CHANGES,
    CQ_RANGE,
    CQ_CHILDREN,
    CQ_ALL_COLLS,
    CQ_EAS_AGED,
    CQ_LIST_BY_NAME,   /* STORE_COLS_LISTING rows of CQ_ITEMS_BY_NAME */
    CQ_LIST_BY_MODSEQ, /* STORE_COLS_LISTING rows of CQ_ITEMS_BY_MODSEQ */
    CQ_LIST_CHANGES,   /* STORE_COLS_LISTING rows of CQ_CHANGES */
    CQ_COUNT
};

/* A change hook as set by store_pool_set_change_hook() or store_set_change_hook(). */
struct store_change_hook {
    store_change_fn *fn; /* NULL: notification off */
    void *ctx;
};

/* store_sqlite_hook.c: the hook a connection uses and the collections its open transaction
 * bumped. */
struct store_db_changes;

struct store {
    sqlite3 *db;
    sqlite3_stmt *stmts[S_COUNT];         /* prepared on first use, NULL until then */
    sqlite3_stmt *idle_cursors[CQ_COUNT]; /* reset cursor statements ready for reuse */
    uint8_t guid[STORE_GUID_BYTES];
    uint8_t secret[STORE_SECRET_BYTES];
    char errmsg[STORE_DB_ERRMSG_MAX];
    bool injected;               /* errmsg holds an injected fault's message (store_fault.h),
                                    which store_db_fail keeps */
    struct store *next_free;     /* pool free list */
    pthread_mutex_t *write_gate; /* the pool's, or NULL for a lone connection */
    bool holds_gate;             /* between store_begin_write and commit/rollback */

    /* Change notification (store_sqlite_hook.c) and the ActiveSync statements
     * (store_sqlite_eas.c). `hook` is the pool's, the connection's own, or NULL; `changes`
     * holds the own hook and the open transaction's bumps; both arrays are made lazily. */
    const struct store_change_hook *hook;
    struct store_db_changes *changes;
    sqlite3_stmt **eas_stmts;
    sqlite3_stmt **sub_stmts;   /* store_sqlite_sub.c's, made lazily */
    sqlite3_stmt **share_stmts; /* store_sqlite_share.c's, made lazily */
    sqlite3_stmt **sched_stmts; /* store_sqlite_sched.c's, made lazily */
    sqlite3_stmt **imip_stmts;  /* store_sqlite_imip.c's, made lazily */
    bool writing;               /* a write transaction is open (store_begin_write) */
    bool wal;                   /* journal_mode is WAL: commits wait on `flush` */
    struct store_flush *flush;  /* the pool's durability barrier, or &lone_flush */
    struct store_flush lone_flush;
};

/* Columns of an item row, decoded by store_db_read_item(); the content (or the change
 * cursor's tombstone flag) follows at column STORE_DB_ITEM_NCOLS. */
#define ITEM_COLS                                                                            \
  "id, coll, name, uid, content_type, size, modseq, created_modseq, mtime, dtstart, dtend, " \
  "comp, recurring"
#define STORE_DB_ITEM_NCOLS 13

/* Columns of a collection row, decoded by store_db_read_coll(). */
#define COLL_COLS                                                                               \
  "id, owner, parent, kind, name, modseq, epoch, change_guid, tomb_horizon, created, updated, " \
  "comps"

/* The fault points of store_fault.h. Each returns 0 (do the work) or the SQLite result code
 * to report instead, with s->errmsg set (a statement point) or 1 (an fsync point: EIO).
 * Unarmed they cost a relaxed load and a branch the predictor learns; without
 * ALMANAC_FAULTS they are constant 0 and compile away. */
#if ALMANAC_FAULTS
extern atomic_bool store_fault_on;
int store_db_fault_hit(struct store *s, enum store_fault_op op, const char *what, bool prepare);

static inline int store_db_fault_prepare(struct store *s, const char *sql)
{
    if (__builtin_expect(atomic_load_explicit(&store_fault_on, memory_order_relaxed), 0)) {
        return store_db_fault_hit(s, STORE_FAULT_STMT, sql, true);
    }
    return 0;
}

static inline int store_db_fault_step(struct store *s, sqlite3_stmt *st)
{
    if (__builtin_expect(atomic_load_explicit(&store_fault_on, memory_order_relaxed), 0)) {
        return store_db_fault_hit(s, STORE_FAULT_STMT, sqlite3_sql(st), false);
    }
    return 0;
}

static inline int store_db_fault_fsync(struct store *s)
{
    if (__builtin_expect(atomic_load_explicit(&store_fault_on, memory_order_relaxed), 0)) {
        return store_db_fault_hit(s, STORE_FAULT_FSYNC, "fdatasync of the WAL", false);
    }
    return 0;
}
#else
#  define store_db_fault_prepare(s, sql) ((void)(s), (void)(sql), 0)
#  define store_db_fault_step(s, st)     ((void)(s), (void)(st), 0)
#  define store_db_fault_fsync(s)        ((void)(s), 0)
#endif

/* sqlite3_step(), or the fault the armed plan puts at this point. */
static inline int store_db_step(struct store *s, sqlite3_stmt *st)
{
    int f = store_db_fault_step(s, st);
    return f ? f : sqlite3_step(st);
}

/* The statement in *slot, prepared from `sql` when *slot is NULL (SQLITE_PREPARE_PERSISTENT);
 * a fault point either way. STORE_OK, or the mapped error recorded and *slot unchanged. */
enum store_rc store_db_prepare(struct store *s, const char *sql, sqlite3_stmt **slot);

/* Records sqlite3_errmsg() as the handle's last error and maps the SQLite result code:
 * BUSY/LOCKED -> STORE_BUSY, UNIQUE/PRIMARYKEY -> STORE_EXISTS, other constraints ->
 * STORE_CONFLICT, TOOBIG -> STORE_LIMIT, anything else STORE_IO. */
enum store_rc store_db_fail(struct store *s, int sqlite_rc);

/* Records `msg` as the last error; returns rc. */
enum store_rc store_db_fail_msg(struct store *s, enum store_rc rc, const char *msg);

/* The cached statement `id`, reset and unbound, prepared on first use. NULL on failure, with
 * the error recorded. */
sqlite3_stmt *store_db_stmt(struct store *s, enum store_db_stmt_id id);

/* Resets `st` and clears its bindings (the borrowed text they point to may go away). */
void store_db_reset(sqlite3_stmt *st);

/* Steps `st` to completion ignoring rows, then resets it. STORE_OK or the mapped error. */
enum store_rc store_db_exec(struct store *s, sqlite3_stmt *st);

/* Steps `st` once: STORE_OK with a row to read, STORE_NOTFOUND when there is none, or the
 * mapped error. Does not reset: the caller reads the row, then calls store_db_reset(). */
enum store_rc store_db_step_one(struct store *s, sqlite3_stmt *st);

/* Decodes the current row of `st` into the caller's callback context `cb`; non-zero stops. */
typedef int store_db_row_fn(sqlite3_stmt *st, void *cb);

/* Steps `st` to the end or until `row` returns non-zero, then resets it. Rows are borrowed
 * for the callback only. */
enum store_rc store_db_each_row(struct store *s, sqlite3_stmt *st, store_db_row_fn *row, void *cb);

/* Text column `i`: copied into `arena`, or borrowed from the statement (until it steps or
 * resets) when arena is NULL. NULL for an SQL NULL. */
const char *store_db_col_text(sqlite3_stmt *st, int i, struct arena *arena);

/* Decode COLL_COLS / ITEM_COLS rows; strings as store_db_col_text(). With `with_content`, the
 * item's content is read from column STORE_DB_ITEM_NCOLS. */
void store_db_read_coll(sqlite3_stmt *st, struct arena *arena, struct store_coll *out);
void store_db_read_item(sqlite3_stmt *st,
                        struct arena *arena,
                        bool with_content,
                        struct store_item *out);

/* The cached statement in *slot, prepared from `sql` on first use (SQLITE_PREPARE_PERSISTENT).
 * NULL on failure, with the error recorded. store_db_stmt() is this over stmt_sql[]. */
sqlite3_stmt *store_db_stmt_cached(struct store *s, sqlite3_stmt **slot, const char *sql);

/* Records that the open transaction moved `coll` to `modseq` (store_db_bump calls it), for the
 * change hook; nothing when the connection has no hook. Aborts when out of memory. */
void store_db_note_change(struct store *s, uint64_t coll, uint64_t modseq);

/* Ends the transaction's change record: after a commit that succeeded (`committed`), calls
 * the hook once per recorded collection; otherwise forgets the record when no transaction is
 * open any more, and keeps it while one is (a failed COMMIT the caller may retry). */
void store_db_changes_end(struct store *s, bool committed);

/* Frees what store_sqlite_hook.c and store_sqlite_eas.c hung on the connection. */
void store_db_changes_free(struct store *s);
void store_db_eas_free(struct store *s);
void store_db_sub_free(struct store *s);
void store_db_share_free(struct store *s);
void store_db_sched_free(struct store *s);
void store_db_imip_free(struct store *s);

/* Bumps the homes of the sharees of collection `coll` and of every collection below it /
 * of every collection of principal `owner`: called before those go away (the cascade drops
 * the grants without a trace in the sharees' homes otherwise). */
enum store_rc store_db_share_bump_subtree(struct store *s, uint64_t coll);
enum store_rc store_db_share_bump_owner(struct store *s, uint64_t owner);

/* A single-row item query: STORE_OK with *out read (strings in `arena`; the content too
 * with `with_content`), STORE_NOTFOUND ("no such item") when there is no row. Resets `st`. */
enum store_rc store_db_item_row(struct store *s,
                                sqlite3_stmt *st,
                                bool with_content,
                                struct arena *arena,
                                struct store_item *out);

/* Opens a cursor over `query` (store_sqlite_item.c's table) and returns its statement for
 * the caller to bind, or NULL with the error recorded. */
sqlite3_stmt *
store_db_cursor_open(struct store *s, enum store_db_cursor_id query, struct store_cursor **out);
/* Waits until what this connection committed is on disk (the group-commit barrier, see
 * store_sqlite.c "Durability"). STORE_OK, or STORE_IO once a WAL fsync has failed. */
enum store_rc store_db_wait_durable(struct store *s);

/* Increments the collection's modseq and `updated`; the new modseq in *modseq_out (may be
 * NULL). STORE_NOTFOUND when the collection does not exist. */
enum store_rc store_db_bump(struct store *s, uint64_t coll, uint64_t *modseq_out);

/* STORE_EXISTS (with a message) when `parent` has a live item / a child collection called
 * `name`, STORE_OK when not. The two halves of "one name, one resource" in a collection. */
enum store_rc store_db_check_no_item(struct store *s, uint64_t parent, const char *name);
enum store_rc store_db_check_no_child(struct store *s, uint64_t parent, const char *name);

/* STORE_OK when collection `id` exists, STORE_NOTFOUND (with a message) when not. */
enum store_rc store_db_check_coll(struct store *s, uint64_t id);

/* A name is one path segment of 1..STORE_NAME_MAX bytes. */
bool store_db_name_ok(const char *name);

/* 16 fresh random bytes: a change GUID. */
void store_db_fresh_guid(uint8_t out[STORE_GUID_BYTES]);

/* A fresh random epoch that fits a signed 64-bit column. */
uint64_t store_db_fresh_epoch(void);

static inline void store_db_bind_u64(sqlite3_stmt *st, int i, uint64_t v)
{
    sqlite3_bind_int64(st, i, (sqlite3_int64)v);
}

/* Binds borrowed text (SQLITE_STATIC: it must outlive the statement's use), or NULL. */
static inline void store_db_bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v) {
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    } else {
        sqlite3_bind_null(st, i);
    }
}

static inline uint64_t store_db_col_u64(sqlite3_stmt *st, int i)
{
    return (uint64_t)sqlite3_column_int64(st, i);
}

#endif
