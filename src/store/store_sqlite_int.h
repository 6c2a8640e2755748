/* store/store_sqlite_int.h: internals shared by the SQLite engine's files (store_sqlite.c:
 * statements, errors, open, migrations, transactions, pool, principals; store_sqlite_coll.c:
 * collections; store_sqlite_item.c: items, cursors, dead properties; store_sqlite_eas.c: ActiveSync
 * device state; store_sqlite_sub.c: subscription URLs; store_sqlite_share.c: shared calendars). The
 * engine-neutral head of a connection and the ops table are store_int.h's. Never included
 * outside src/store. */
#ifndef ALMANAC_STORE_STORE_SQLITE_INT_H
#define ALMANAC_STORE_STORE_SQLITE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <sqlite3.h>

#include "store/store.h"
#include "store/store_fault.h"
#include "store/store_flush.h"
#include "store/store_int.h"

#if ALMANAC_FAULTS
#  include <stdatomic.h>
#endif

enum {
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
    CQ_LIST_BY_NAME,    /* STORE_COLS_LISTING rows of CQ_ITEMS_BY_NAME */
    CQ_LIST_BY_MODSEQ,  /* STORE_COLS_LISTING rows of CQ_ITEMS_BY_MODSEQ */
    CQ_LIST_CHANGES,    /* STORE_COLS_LISTING rows of CQ_CHANGES */
    CQ_NAMES_BY_NAME,   /* STORE_COLS_NAMES rows of CQ_ITEMS_BY_NAME */
    CQ_NAMES_BY_MODSEQ, /* STORE_COLS_NAMES rows of CQ_ITEMS_BY_MODSEQ */
    CQ_NAMES_CHANGES,   /* STORE_COLS_NAMES rows of CQ_CHANGES */
    CQ_COUNT
};

/* A connection of the SQLite engine: store_int.h's head, then SQLite's own state. */
/* One SQLite connection: its handle and every statement prepared on it. A handle
 * (struct store_sqlite) normally holds its own; while it writes through a pool it holds the
 * pool's writer connection instead (store_sqlite.c, "The writer connection"), so the fields
 * below move together, by value. */
struct store_sqlite_conn {
    sqlite3 *db;
    sqlite3_stmt *stmts[S_COUNT];         /* prepared on first use, NULL until then */
    sqlite3_stmt *idle_cursors[CQ_COUNT]; /* reset cursor statements ready for reuse */
    /* The statements of store_sqlite_eas.c, _sub.c, _share.c, _sched.c and _imip.c, made
     * lazily. */
    sqlite3_stmt **eas_stmts;
    sqlite3_stmt **sub_stmts;
    sqlite3_stmt **share_stmts;
    sqlite3_stmt **sched_stmts;
    sqlite3_stmt **imip_stmts;
};

struct store_sqlite {
    struct store base;
    struct store_sqlite_conn c;  /* the connection in use (own, or the pool's writer) */
    struct store *next_free;     /* pool free list */
    pthread_mutex_t *write_gate; /* the pool's, or NULL for a lone connection */
    bool holds_gate;             /* between store_begin_write and commit/rollback */
    /* The pool's writer (its handle holds this one's own connection while lent), NULL for a
     * lone connection and for the writer itself; guarded by write_gate. */
    struct store *writer;
    bool lent; /* `c` is the writer's: from begin_write until the write ended and no cursor on
                  `c` is open */
    unsigned open_cursors;                  /* cursors opened on `c` and not closed yet */
    bool writing;                           /* a write transaction is open (store_begin_write) */
    bool wal;                               /* journal_mode is WAL: commits wait on `flush` */
    struct store_flush *flush;              /* the pool's durability barrier, or &lone_flush */
    atomic_uint_fast64_t *write_page_reads; /* the pool's count (store_pool_stats), or NULL */
    struct store_flush lone_flush;
};

/* The SQLite connection behind `s`, which this engine made. */
static inline struct store_sqlite *sq(struct store *s)
{
    return (struct store_sqlite *)s;
}

/* The ops of this engine (store_sqlite.c) and their implementations, each with store.h's
 * contract for the call of the same name without `sqlite_`. */
extern const struct store_ops store_sqlite_ops;
void store_sqlite_close(struct store **s);
enum store_rc store_sqlite_begin_read(struct store *s);
enum store_rc store_sqlite_begin_write(struct store *s);
enum store_rc store_sqlite_commit(struct store *s);
enum store_rc store_sqlite_rollback(struct store *s);
bool store_sqlite_in_txn(const struct store *s);
void store_sqlite_pool_destroy(struct store_pool **p);
struct store *store_sqlite_pool_acquire(struct store_pool *p);
void store_sqlite_pool_release(struct store_pool *p, struct store *s);
uint64_t store_sqlite_pool_flush_count(struct store_pool *p);
void store_sqlite_pool_stats(struct store_pool *p, struct store_pool_stats *out);
enum store_rc store_sqlite_check(struct store *s);
enum store_rc store_sqlite_backup(struct store *s, const char *dest_path);
enum store_rc store_sqlite_principal_add(struct store *s,
                                         const char *name,
                                         const char *pwhash,
                                         struct arena *arena,
                                         struct store_principal *out);
enum store_rc store_sqlite_principal_get(struct store *s,
                                         const char *name,
                                         struct arena *arena,
                                         struct store_principal *out);
enum store_rc
store_sqlite_principal_set_pwhash(struct store *s, const char *name, const char *pwhash);
enum store_rc store_sqlite_principal_cred_gen(struct store *s, const char *name, uint64_t *gen_out);
enum store_rc store_sqlite_principal_del(struct store *s, const char *name);
enum store_rc store_sqlite_principal_list(struct store *s, store_principal_fn *fn, void *ctx);
enum store_rc store_sqlite_coll_create(struct store *s,
                                       uint64_t parent,
                                       const char *name,
                                       enum store_coll_kind kind,
                                       struct arena *arena,
                                       struct store_coll *out);
enum store_rc
store_sqlite_coll_get(struct store *s, uint64_t id, struct arena *arena, struct store_coll *out);
enum store_rc store_sqlite_coll_set_comps(struct store *s, uint64_t id, unsigned comps);
enum store_rc
store_sqlite_coll_usage(struct store *s, uint64_t id, uint64_t *items_out, uint64_t *bytes_out);
enum store_rc store_sqlite_coll_lookup(struct store *s,
                                       uint64_t parent,
                                       const char *name,
                                       struct arena *arena,
                                       struct store_coll *out);
enum store_rc store_sqlite_coll_delete(struct store *s, uint64_t id);
enum store_rc
store_sqlite_coll_move(struct store *s, uint64_t id, uint64_t new_parent, const char *new_name);
enum store_rc store_sqlite_coll_touch(struct store *s, uint64_t id, uint64_t *modseq_out);
enum store_rc store_sqlite_coll_reset_history(struct store *s, uint64_t id);
enum store_rc store_sqlite_coll_prune_tombstones(struct store *s, uint64_t id, int64_t older_than);
enum store_rc
store_sqlite_prune_all_tombstones(struct store *s, int64_t older_than, size_t *colls_out);
enum store_rc store_sqlite_item_get(struct store *s,
                                    uint64_t coll,
                                    const char *name,
                                    enum store_item_flags flags,
                                    struct arena *arena,
                                    struct store_item *out);
enum store_rc store_sqlite_item_get_by_uid(
    struct store *s, uint64_t coll, const char *uid, struct arena *arena, struct store_item *out);
enum store_rc store_sqlite_item_put(struct store *s,
                                    uint64_t coll,
                                    const char *name,
                                    const struct store_item_in *in,
                                    struct arena *arena,
                                    struct store_item *out,
                                    bool *created_out);
enum store_rc store_sqlite_item_delete(struct store *s, uint64_t coll, const char *name);
enum store_rc store_sqlite_item_move(
    struct store *s, uint64_t coll, const char *name, uint64_t to_coll, const char *to_name);
enum store_rc store_sqlite_items_open(struct store *s,
                                      uint64_t coll,
                                      enum store_order order,
                                      struct store_cursor **out);
enum store_rc store_sqlite_changes_open(struct store *s,
                                        uint64_t coll,
                                        uint64_t since,
                                        struct store_cursor **out);
enum store_rc store_sqlite_items_in_range_open(struct store *s,
                                               uint64_t coll,
                                               int64_t start,
                                               int64_t end,
                                               enum store_range_by by,
                                               struct store_cursor **out);
enum store_rc store_sqlite_children_open(struct store *s, uint64_t coll, struct store_cursor **out);
enum store_rc store_sqlite_all_colls_open(struct store *s, struct store_cursor **out);
enum store_rc store_sqlite_cursor_next_item(struct store_cursor *c, struct store_item *row_out);
enum store_rc store_sqlite_cursor_next_coll(struct store_cursor *c, struct store_coll *row_out);
void store_sqlite_cursor_close(struct store_cursor **c);
enum store_rc store_sqlite_prop_set(struct store *s,
                                    enum store_res_kind kind,
                                    uint64_t id,
                                    const struct store_prop *p);
enum store_rc store_sqlite_prop_del(
    struct store *s, enum store_res_kind kind, uint64_t id, const char *ns, const char *name);
enum store_rc store_sqlite_prop_get(struct store *s,
                                    enum store_res_kind kind,
                                    uint64_t id,
                                    const char *ns,
                                    const char *name,
                                    struct arena *arena,
                                    struct store_prop *out);
enum store_rc store_sqlite_prop_list(
    struct store *s, enum store_res_kind kind, uint64_t id, store_prop_fn *fn, void *ctx);
enum store_rc store_sqlite_prop_copy(struct store *s,
                                     enum store_res_kind from_kind,
                                     uint64_t from_id,
                                     enum store_res_kind to_kind,
                                     uint64_t to_id);
enum store_rc store_sqlite_item_touch(struct store *s, uint64_t coll, const char *name);
enum store_rc store_sqlite_item_get_by_id(struct store *s,
                                          uint64_t coll,
                                          uint64_t id,
                                          enum store_item_flags flags,
                                          struct arena *arena,
                                          struct store_item *out);
enum store_rc store_sqlite_changes_count(
    struct store *s, uint64_t coll, uint64_t since, uint64_t cap, uint64_t *n_out);
void store_sqlite_pool_set_change_hook(struct store_pool *p, store_change_fn *fn, void *ctx);
enum store_rc store_sqlite_eas_device_touch(struct store *s,
                                            uint64_t principal,
                                            const char *device_id,
                                            const char *device_type,
                                            const char *user_agent,
                                            const char *protocol,
                                            int64_t now,
                                            unsigned max_devices,
                                            struct arena *arena,
                                            struct store_eas_device *out);
enum store_rc store_sqlite_eas_device_get(struct store *s,
                                          uint64_t principal,
                                          const char *device_id,
                                          struct arena *arena,
                                          struct store_eas_device *out);
enum store_rc store_sqlite_eas_device_seen(struct store *s, uint64_t device, int64_t when);
enum store_rc store_sqlite_eas_device_set_policy(struct store *s,
                                                 uint64_t device,
                                                 uint32_t pending,
                                                 uint32_t final_key);
enum store_rc store_sqlite_eas_device_set_info(struct store *s,
                                               uint64_t device,
                                               const struct store_eas_device *info);
enum store_rc store_sqlite_eas_device_list(struct store *s,
                                           uint64_t principal,
                                           store_eas_device_fn *fn,
                                           void *ctx);
enum store_rc
store_sqlite_eas_device_del(struct store *s, uint64_t principal, const char *device_id);
enum store_rc store_sqlite_eas_blob_put(
    struct store *s, uint64_t device, const char *name, const void *p, size_t n);
enum store_rc store_sqlite_eas_blob_get(struct store *s,
                                        uint64_t device,
                                        const char *name,
                                        struct arena *arena,
                                        const void **p_out,
                                        size_t *n_out);
enum store_rc store_sqlite_eas_blob_del(struct store *s, uint64_t device, const char *name);
enum store_rc store_sqlite_eas_sync_get(struct store *s,
                                        uint64_t device,
                                        uint64_t coll,
                                        struct arena *arena,
                                        struct store_eas_sync *out);
enum store_rc
store_sqlite_eas_sync_cursor(struct store *s, uint64_t device, uint64_t coll, uint64_t *cursor_out);
enum store_rc store_sqlite_eas_sync_put(struct store *s, const struct store_eas_sync *st);
enum store_rc store_sqlite_eas_sync_reset(struct store *s, uint64_t device, uint64_t coll);
enum store_rc store_sqlite_eas_member_get(
    struct store *s, uint64_t device, uint64_t coll, uint64_t item, uint64_t *modseq_out);
enum store_rc store_sqlite_eas_member_put(
    struct store *s, uint64_t device, uint64_t coll, uint64_t item, uint64_t modseq);
enum store_rc
store_sqlite_eas_member_del(struct store *s, uint64_t device, uint64_t coll, uint64_t item);
enum store_rc
store_sqlite_eas_member_count(struct store *s, uint64_t device, uint64_t coll, uint64_t *n_out);
enum store_rc store_sqlite_eas_members_aged_open(struct store *s,
                                                 uint64_t device,
                                                 uint64_t coll,
                                                 int64_t cutoff,
                                                 unsigned limit,
                                                 struct store_cursor **out);
enum store_rc
store_sqlite_sub_create(struct store *s, uint64_t coll, struct arena *arena, struct store_sub *out);
enum store_rc store_sqlite_sub_get(struct store *s,
                                   const char *token,
                                   struct arena *arena,
                                   struct store_sub *out);
enum store_rc store_sqlite_sub_revoke(struct store *s, uint64_t coll);
enum store_rc store_sqlite_sub_list(struct store *s, uint64_t owner, store_sub_fn *fn, void *ctx);
enum store_rc store_sqlite_share_set(struct store *s,
                                     uint64_t coll,
                                     uint64_t sharee,
                                     enum store_share_access access,
                                     const char *name,
                                     struct arena *arena,
                                     struct store_share *out,
                                     bool *created_out);
enum store_rc store_sqlite_share_del(struct store *s, uint64_t coll, uint64_t sharee);
enum store_rc store_sqlite_share_get(
    struct store *s, uint64_t coll, uint64_t sharee, struct arena *arena, struct store_share *out);
enum store_rc store_sqlite_share_lookup(struct store *s,
                                        uint64_t sharee,
                                        const char *name,
                                        struct arena *arena,
                                        struct store_share *out);
enum store_rc
store_sqlite_share_list_of_sharee(struct store *s, uint64_t sharee, store_share_fn *fn, void *ctx);
enum store_rc
store_sqlite_share_list_of_coll(struct store *s, uint64_t coll, store_share_fn *fn, void *ctx);
enum store_rc
store_sqlite_share_list_of_owner(struct store *s, uint64_t owner, store_share_fn *fn, void *ctx);
enum store_rc store_sqlite_principal_get_by_id(struct store *s,
                                               uint64_t id,
                                               struct arena *arena,
                                               struct store_principal *out);
enum store_rc store_sqlite_sched_addr_add(struct store *s,
                                          uint64_t principal,
                                          const char *addr,
                                          struct arena *arena);
enum store_rc store_sqlite_sched_addr_del(struct store *s,
                                          uint64_t principal,
                                          const char *addr,
                                          struct arena *arena);
enum store_rc store_sqlite_sched_addr_lookup(struct store *s,
                                             const char *addr,
                                             struct arena *arena,
                                             uint64_t *principal_out);
enum store_rc store_sqlite_sched_addr_list(struct store *s,
                                           uint64_t principal,
                                           store_sched_addr_fn *fn,
                                           void *ctx);
enum store_rc store_sqlite_items_open_cols(struct store *s,
                                           uint64_t coll,
                                           enum store_order order,
                                           enum store_item_cols cols,
                                           struct store_cursor **out);
enum store_rc store_sqlite_changes_open_cols(struct store *s,
                                             uint64_t coll,
                                             uint64_t since,
                                             enum store_item_cols cols,
                                             struct store_cursor **out);
enum store_rc
store_sqlite_imip_enqueue(struct store *s, const struct store_imip_in *in, uint64_t *id_out);
enum store_rc store_sqlite_imip_next_due(struct store *s,
                                         int64_t now,
                                         struct arena *arena,
                                         struct store_imip_msg *out);
enum store_rc store_sqlite_imip_claim(struct store *s, uint64_t id, int64_t now, int64_t until);
enum store_rc store_sqlite_imip_next_time(struct store *s, int64_t *out);
enum store_rc store_sqlite_imip_get(struct store *s,
                                    uint64_t id,
                                    struct arena *arena,
                                    struct store_imip_msg *out);
enum store_rc store_sqlite_imip_tried(struct store *s,
                                      uint64_t id,
                                      enum store_imip_state state,
                                      int64_t now,
                                      int64_t next_try,
                                      const char *error);
enum store_rc store_sqlite_imip_retry(struct store *s, uint64_t id, int64_t now);
enum store_rc store_sqlite_imip_list(struct store *s, store_imip_fn *fn, void *ctx);

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
/* store_fault_on: store_int.h */
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

/* Frees what store_sqlite_eas.c, _sub.c, _share.c and _sched.c hung on the connection. */
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
/* A cursor of `s` was closed: the writer's connection goes back once its last cursor is
 * closed after the write ended (store_sqlite.c, "The writer connection"). */
void store_db_cursor_closed(struct store *s);
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
