/* store/store_pg_int.h: internals shared by the PostgreSQL engine's files (store_pg.c:
 * connection, errors, statements, migrations, transactions, pool, checks; store_pg_principal.c:
 * principals; store_pg_coll.c: collections; store_pg_item.c: items and the change log;
 * store_pg_prop.c: dead properties; store_pg_cursor.c: cursors; store_pg_sub.c: subscription
 * URLs and calendar user addresses; store_pg_share.c: shared calendars; store_pg_eas.c:
 * ActiveSync device state; store_pg_imip.c: the iMIP outbox; store_pg_listen.c: other nodes'
 * writes, by LISTEN/NOTIFY). store.c opens it for every postgresql:// location
 * (store_pg_open(), store_pg_pool_create(); store_int.h).
 *
 * How the engine keeps SQLite's semantics (store.h):
 * - Reads: store_begin_read() opens REPEATABLE READ READ ONLY, one snapshot for the whole
 *   transaction, as SQLite's WAL read transaction.
 * - Writes: READ COMMITTED. Every write bumps its collection's modseq with
 *   UPDATE collections ... RETURNING modseq, which takes the collection row's lock until the
 *   commit: writers of one collection queue on it, so modseqs of a collection commit in
 *   increasing order, and a reader whose snapshot shows modseq N sees every change <= N
 *   (no watermark passes a change that commits later). Writers of other collections run in
 *   parallel, where SQLite has one writer at a time.
 * - An error aborts a PostgreSQL transaction, which SQLite's does not: an expected refusal
 *   (a name taken, a row missing) is therefore found without raising one (ON CONFLICT DO
 *   NOTHING, checks before writes), so the caller's transaction stays usable as on SQLite.
 * - Acknowledged means committed: synchronous_commit = on for every connection.
 * Never included outside src/store. */
#ifndef ALMANAC_STORE_STORE_PG_INT_H
#define ALMANAC_STORE_STORE_PG_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "store/store_flush.h"
#include "store/store_int.h"

enum {
    STORE_PG_PARAMS_MAX = 16,   /* parameters of one statement */
    STORE_PG_NOTIFY_MAX = 16,   /* collections one NOTIFY names; more: "every collection" */
    STORE_PG_DEFERRED_MAX = 8,  /* statements queued for the next round trip (store_pg_stmt.c) */
    STORE_PG_OPS_MAX = 4,       /* statements of one store_pg_exec_n */
    STORE_PG_ROW_COLS_MAX = 16, /* columns of one store_pg_row_result */
};

struct store_pg_stmts; /* the prepared statements of a connection (store_pg_stmt.c) */

/* Change notification across nodes (store_pg_listen.c): a write transaction that bumped
 * collections sends, with its COMMIT, one NOTIFY on this channel, payload
 * "<node> <coll> <modseq> [<coll> <modseq>]..." (node in hex: the sending pool's id, or the
 * lone connection's; collections and modseqs in decimal, each collection once with its newest
 * modseq). Past STORE_PG_NOTIFY_MAX collections the payload is "<node> 0 0": every collection
 * (store.h). At most about 700 bytes, under PostgreSQL's 8000. */
#define STORE_PG_CHANNEL "almanac_change"

/* A connection of the PostgreSQL engine: store_int.h's head, then libpq's. */
struct store_pg {
    struct store base;
    PGconn *conn;
    struct store *next_free;     /* pool free list */
    bool writing;                /* a write transaction is open (store_begin_write) */
    struct store_flush *timings; /* the pool's commit timings (/metrics); NULL outside one */
    /* What the open write transaction's NOTIFY will say (store_pg_bump records it): the node
     * id, the distinct collections bumped with their newest modseqs, and whether there were
     * more than fit (then the NOTIFY says "every collection"). */
    uint64_t node;
    unsigned n_notify;
    bool is_notify_all;

    struct {
        uint64_t coll, modseq;
    } notify[STORE_PG_NOTIFY_MAX];

    unsigned timeout_ms;          /* statement_timeout set on the session, 0: none */
    bool opening;                 /* being opened: its statements are no fault points */
    struct store_pg_stmts *stmts; /* NULL until the first statement */
    int ndeferred;                /* statements queued for the next round trip: a BEGIN (first), */
    char deferred[STORE_PG_DEFERRED_MAX][64]; /* CLOSEs of cursors */
    /* The range cursor whose row, just returned with its content, answers the lookup of that
     * item which its reader makes next (store_pg_range_row_item); NULL: none. */
    struct store_pg_cursor *range_last;
    /* A read transaction's ROLLBACK was sent and its answer not read yet (store_pg_settle). */
    bool is_unsettled;
};

struct store_pg_cursor;

/* The PostgreSQL connection behind `s`, which this engine made. */
static inline struct store_pg *pgc(struct store *s)
{
    return (struct store_pg *)s;
}

/* The ops of this engine (store_pg.c): every call of store.h. */
extern const struct store_ops store_pg_ops;

/* A statement's parameters: integers and text go as text, bytes as binary. Borrowed: the
 * strings and bytes must outlive the statement's execution. */
struct store_pg_params {
    int n;
    const char *values[STORE_PG_PARAMS_MAX];
    int lengths[STORE_PG_PARAMS_MAX];
    int formats[STORE_PG_PARAMS_MAX];
    char nums[STORE_PG_PARAMS_MAX][24];
};

void store_pg_p_u64(struct store_pg_params *p, uint64_t v);
void store_pg_p_i64(struct store_pg_params *p, int64_t v);
void store_pg_p_text(struct store_pg_params *p, const char *v); /* NULL: SQL NULL */
void store_pg_p_bytes(struct store_pg_params *p, const void *v, size_t n);
/* A bound of an int8range: INT64_MIN and INT64_MAX (an unbounded start or end) go as NULL,
 * an infinite bound (int8range would overflow turning [x, INT64_MAX] into [x, INT64_MAX+1)). */
void store_pg_p_bound(struct store_pg_params *p, int64_t v);

/* Runs `sql` with `p` (may be NULL), results in binary format. STORE_OK with *res_out set
 * (the caller PQclear()s it; rows or none), or the mapped error recorded and *res_out NULL. */
enum store_rc store_pg_exec(struct store *s,
                            const char *sql,
                            const struct store_pg_params *p,
                            PGresult **res_out);

/* One statement of store_pg_exec_n: its text, parameters (may be NULL) and where its result
 * goes (NULL: not wanted); is_once: not to be prepared (a text that varies, a cursor's). */
struct store_pg_op {
    const char *sql;
    const struct store_pg_params *p;
    PGresult **res_out;
    bool is_once;
};

/* Sends the queued statements, then ops[0..n) (n <= STORE_PG_OPS_MAX), in one round trip,
 * preparing each op not prepared on this connection yet (store_pg_stmt.c). Each runs after the
 * one before has finished, so READ COMMITTED gives each a snapshot taken after the locks the
 * ones before took. STORE_OK with every wanted result set (the caller PQclear()s them), or
 * the first failure's mapped error, no result set, the statements after it not run. */
enum store_rc store_pg_exec_n(struct store *s, const struct store_pg_op *ops, int n);

/* Queues `sql` (no parameters, no answer wanted: a BEGIN, a CLOSE) for the next round trip;
 * sends it at once when the queue is full. */
void store_pg_defer(struct store *s, const char *sql);
/* The queued statements begin with a BEGIN: the transaction is open on this side only. */
bool store_pg_begin_deferred(const struct store *s);
/* A transaction's end: forgets the queued statements (the end closes its cursors) and the
 * answers kept for repeats (store_pg_exec_snap). */
void store_pg_txn_end(struct store *s);
/* Reads the answer of a read transaction's ROLLBACK, which store_rollback sent without waiting
 * for it (store_pg.c): called before anything else is sent on the connection. STORE_OK, or the
 * ROLLBACK's failure (a lost server: STORE_UNAVAILABLE). */
enum store_rc store_pg_settle(struct store *s);
/* A read transaction is open (its BEGIN queued, or sent and not a write's). */
bool store_pg_is_reading(const struct store *s);
/* store_pg_exec() for a plain SELECT of the tables (no function whose value changes within a
 * transaction, no session state): in a read transaction, a repeat with the same parameters
 * is answered from the first answer (store_pg_stmt.c); elsewhere store_pg_exec(). The result
 * may be a kept answer, lent: read it at once, free it with store_pg_snap_clear. */
enum store_rc store_pg_exec_snap(struct store *s,
                                 const char *sql,
                                 const struct store_pg_params *p,
                                 PGresult **res_out);
/* store_pg_exec_snap(), and in a read transaction the answer to `also_sql` over `also_p`
 * fetched in the same round trip and kept for its repeat (also_sql: a statement of the same
 * kind, which the caller's caller usually sends next). */
enum store_rc store_pg_exec_snap_also(struct store *s,
                                      const char *sql,
                                      const struct store_pg_params *p,
                                      PGresult **res_out,
                                      const char *also_sql,
                                      const struct store_pg_params *also_p);
/* A result of `src`'s columns cols[0..n) (n <= STORE_PG_ROW_COLS_MAX): its row `row`, or no
 * row when row < 0 (a lookup that found nothing). The caller PQclear()s it. */
PGresult *
store_pg_row_result(struct store *s, const PGresult *src, int row, const int *cols, int n);
/* In a read transaction, keeps `res` (taken: kept or freed) as the answer to `sql` over `p`
 * (the same rows the server would answer in this snapshot: the caller's to make sure). */
void store_pg_keep_answer(struct store *s,
                          const char *sql,
                          const struct store_pg_params *p,
                          PGresult *res);
/* Frees the result of store_pg_exec_snap*() unless it is lent by the read transaction's kept
 * answers, which stay valid until the next statement, lookup or the transaction's end. */
void store_pg_snap_clear(struct store *s, PGresult *res);
/* The lookup of an item by name (store_pg_item.c), its parameters for `coll` and `name` as
 * store_pg_item_get makes them in a read transaction: for store_pg_exec_snap_also. */
extern const char store_pg_item_by_name_sql[];
void store_pg_item_by_name_params(struct store_pg_params *p, uint64_t coll, const char *name);
/* The lookup of a collection by parent and name (store_pg_coll_lookup), likewise. */
extern const char store_pg_coll_by_name_sql[];
/* Those of names "a/b/c" ($2, '/'-separated) under parent $1 (store_pg_item_prefetch). */
extern const char store_pg_colls_by_names_sql[];

/* A collection's columns, in the order store_pg_read_coll reads them. */
#define STORE_PG_COLL_COLS                                                             \
  "id, owner, parent, kind, name, modseq, epoch, change_guid, tomb_horizon, created, " \
  "updated, comps"

enum {
    STORE_PG_COLL_NCOLS = 12 /* its columns */
};

/* The lookup of a collection by id (store_pg_coll_get), likewise. */
extern const char store_pg_coll_by_id_sql[];
enum store_rc
store_pg_item_prefetch(struct store *s, uint64_t coll, const char *const *names, size_t n);
/* A principal by name ($1) with its home's columns after its own (store_pg_principal_get in a
 * read transaction), and what keeps the home's part as the answer to store_pg_coll_get: the
 * home's id, 0 when the row has none. */
extern const char store_pg_principal_home_sql[];
uint64_t store_pg_keep_home(struct store *s, const PGresult *res);
/* Whether the read transaction keeps an answer to `sql` over `p`. */
bool store_pg_is_kept(struct store *s, const char *sql, const struct store_pg_params *p);
enum store_rc
store_pg_path_prefetch(struct store *s, const char *principal, const char *const *names, size_t n);
/* In a read transaction, the row a range cursor just returned when it is item `name` of
 * `coll` (store_pg_cursor.c): *out as store_item_get answers it, and true; false otherwise. */
bool store_pg_range_row_item(struct store *s,
                             uint64_t coll,
                             const char *name,
                             enum store_item_flags flags,
                             struct arena *arena,
                             struct store_item *out);
/* Frees the connection's table of prepared statements. */
void store_pg_stmts_free(struct store_pg *q);
/* Records the result's (or the connection's) error; the mapped store_rc (store_pg.c). */
enum store_rc store_pg_fail_result(struct store *s, const PGresult *res);

/* store_pg_exec() for a statement whose rows are not wanted; *changed_out (may be NULL) gets
 * the number of rows it inserted, updated or deleted. */
enum store_rc store_pg_run(struct store *s,
                           const char *sql,
                           const struct store_pg_params *p,
                           uint64_t *changed_out);

/* Records `msg` as the last error; returns rc. */
enum store_rc store_pg_fail_msg(struct store *s, enum store_rc rc, const char *msg);

/* Binary result columns: an integer of 2, 4 or 8 bytes (0 for NULL); text copied into
 * `arena`, or borrowed from `res` (until PQclear) when arena is NULL (NULL for NULL); bytes
 * of exactly `n` into out (zeros otherwise). */
uint64_t store_pg_col_u64(const PGresult *res, int row, int col);
int64_t store_pg_col_i64(const PGresult *res, int row, int col);
const char *store_pg_col_text(const PGresult *res, int row, int col, struct arena *arena);
void store_pg_col_bytes(const PGresult *res, int row, int col, void *out, size_t n);

/* Increments the collection's modseq and `updated` under the collection row's lock (held to
 * the commit; see the top of this file) and records the change for the hook; the new modseq
 * in *modseq_out (may be NULL). STORE_NOTFOUND when the collection does not exist. */
enum store_rc store_pg_bump(struct store *s, uint64_t coll, uint64_t *modseq_out);

/* The listener (store_pg_listen.c): a thread with a connection of its own that LISTENs on
 * STORE_PG_CHANNEL and calls fn(ctx, coll, modseq) for each collection of each notification
 * from a node other than `node`, and fn(ctx, 0, 0) each time it begins to listen (at first,
 * and after it lost its connection). STORE_IO when the thread cannot start. Thread-safe as far as
 * `fn` is. */
struct store_pg_listener;
enum store_rc store_pg_listener_start(
    const char *uri, uint64_t node, store_change_fn *fn, void *ctx, struct store_pg_listener **out);
/* Stops and joins the thread: fn is not called any more once it returns. NULL-safe; sets *l
 * to NULL. */
void store_pg_listener_stop(struct store_pg_listener **l);

/* Records that the open write transaction moved `coll` to `modseq`: for the in-process change
 * hook (store_hook.c) and for the NOTIFY its COMMIT sends to the other nodes. Every statement
 * that bumps a collection's modseq calls it (store_pg_bump does). */
void store_pg_note_bump(struct store *s, uint64_t coll, uint64_t modseq);

/* The fault seam's statement point (store_fault.h; store_pg.c): STORE_OK to send `sql`, or
 * the injected failure instead. A no-op in a build without ALMANAC_FAULTS. */
#if ALMANAC_FAULTS
enum store_rc store_pg_fault_point(struct store *s, const char *sql);
#else
#  define store_pg_fault_point(s, sql) ((void)(s), (void)(sql), STORE_OK)
#endif

/* store_pg_lock_coll's statement, for the operations that send it with their write in one
 * round trip (store_pg_exec_n). */
#define STORE_PG_LOCK_SQL "SELECT 1 FROM collections WHERE id = $1 FOR NO KEY UPDATE"

/* Takes collection `id`'s row lock (FOR NO KEY UPDATE, the lock store_pg_bump takes) to the
 * end of the transaction: the first step of every write to the collection or its members, so
 * that all writers lock a collection before its items. STORE_NOTFOUND when it does not exist. */
enum store_rc store_pg_lock_coll(struct store *s, uint64_t id);

/* Items (store_pg_item.c). */
void store_pg_read_item(
    const PGresult *res, int row, struct arena *arena, bool with_content, struct store_item *out);
enum store_rc store_pg_item_get(struct store *s,
                                uint64_t coll,
                                const char *name,
                                enum store_item_flags flags,
                                struct arena *arena,
                                struct store_item *out);
enum store_rc store_pg_item_get_by_id(struct store *s,
                                      uint64_t coll,
                                      uint64_t id,
                                      enum store_item_flags flags,
                                      struct arena *arena,
                                      struct store_item *out);
enum store_rc store_pg_item_get_by_uid(
    struct store *s, uint64_t coll, const char *uid, struct arena *arena, struct store_item *out);
enum store_rc store_pg_item_put(struct store *s,
                                uint64_t coll,
                                const char *name,
                                const struct store_item_in *in,
                                struct arena *arena,
                                struct store_item *out,
                                bool *created_out);
enum store_rc store_pg_item_delete(struct store *s, uint64_t coll, const char *name);
enum store_rc store_pg_item_move(
    struct store *s, uint64_t coll, const char *name, uint64_t to_coll, const char *to_name);
enum store_rc store_pg_item_touch(struct store *s, uint64_t coll, const char *name);
enum store_rc store_pg_changes_count(
    struct store *s, uint64_t coll, uint64_t since, uint64_t cap, uint64_t *n_out);

/* Subscription URLs and calendar user addresses (store_pg_sub.c). */
enum store_rc
store_pg_sub_create(struct store *s, uint64_t coll, struct arena *arena, struct store_sub *out);
enum store_rc
store_pg_sub_get(struct store *s, const char *token, struct arena *arena, struct store_sub *out);
enum store_rc store_pg_sub_revoke(struct store *s, uint64_t coll);
enum store_rc store_pg_sub_list(struct store *s, uint64_t owner, store_sub_fn *fn, void *ctx);
enum store_rc
store_pg_sched_addr_add(struct store *s, uint64_t principal, const char *addr, struct arena *arena);
enum store_rc
store_pg_sched_addr_del(struct store *s, uint64_t principal, const char *addr, struct arena *arena);
enum store_rc store_pg_sched_addr_lookup(struct store *s,
                                         const char *addr,
                                         struct arena *arena,
                                         uint64_t *principal_out);
enum store_rc
store_pg_sched_addr_list(struct store *s, uint64_t principal, store_sched_addr_fn *fn, void *ctx);

/* Shared calendars (store_pg_share.c). */
enum store_rc store_pg_share_set(struct store *s,
                                 uint64_t coll,
                                 uint64_t sharee,
                                 enum store_share_access access,
                                 const char *name,
                                 struct arena *arena,
                                 struct store_share *out,
                                 bool *created_out);
enum store_rc store_pg_share_del(struct store *s, uint64_t coll, uint64_t sharee);
enum store_rc store_pg_share_get(
    struct store *s, uint64_t coll, uint64_t sharee, struct arena *arena, struct store_share *out);
enum store_rc store_pg_share_lookup(struct store *s,
                                    uint64_t sharee,
                                    const char *name,
                                    struct arena *arena,
                                    struct store_share *out);
enum store_rc
store_pg_share_list_of_sharee(struct store *s, uint64_t sharee, store_share_fn *fn, void *ctx);
enum store_rc
store_pg_share_list_of_coll(struct store *s, uint64_t coll, store_share_fn *fn, void *ctx);
enum store_rc
store_pg_share_list_of_owner(struct store *s, uint64_t owner, store_share_fn *fn, void *ctx);

/* ActiveSync device state (store_pg_eas.c). */
enum store_rc store_pg_eas_device_touch(struct store *s,
                                        uint64_t principal,
                                        const char *device_id,
                                        const char *device_type,
                                        const char *user_agent,
                                        const char *protocol,
                                        int64_t now,
                                        unsigned max_devices,
                                        struct arena *arena,
                                        struct store_eas_device *out);
enum store_rc store_pg_eas_device_get(struct store *s,
                                      uint64_t principal,
                                      const char *device_id,
                                      struct arena *arena,
                                      struct store_eas_device *out);
enum store_rc store_pg_eas_device_seen(struct store *s, uint64_t device, int64_t when);
enum store_rc store_pg_eas_device_set_policy(struct store *s,
                                             uint64_t device,
                                             uint32_t pending,
                                             uint32_t final_key);
enum store_rc
store_pg_eas_device_set_info(struct store *s, uint64_t device, const struct store_eas_device *info);
enum store_rc
store_pg_eas_device_list(struct store *s, uint64_t principal, store_eas_device_fn *fn, void *ctx);
enum store_rc store_pg_eas_device_del(struct store *s, uint64_t principal, const char *device_id);
enum store_rc store_pg_eas_blob_put(
    struct store *s, uint64_t device, const char *name, const void *data, size_t n);
enum store_rc store_pg_eas_blob_get(struct store *s,
                                    uint64_t device,
                                    const char *name,
                                    struct arena *arena,
                                    const void **p_out,
                                    size_t *n_out);
enum store_rc store_pg_eas_blob_del(struct store *s, uint64_t device, const char *name);
enum store_rc store_pg_eas_sync_get(struct store *s,
                                    uint64_t device,
                                    uint64_t coll,
                                    struct arena *arena,
                                    struct store_eas_sync *out);
enum store_rc
store_pg_eas_sync_cursor(struct store *s, uint64_t device, uint64_t coll, uint64_t *cursor_out);
enum store_rc store_pg_eas_sync_put(struct store *s, const struct store_eas_sync *in);
enum store_rc store_pg_eas_sync_reset(struct store *s, uint64_t device, uint64_t coll);
enum store_rc store_pg_eas_member_get(
    struct store *s, uint64_t device, uint64_t coll, uint64_t item, uint64_t *modseq_out);
enum store_rc store_pg_eas_member_put(
    struct store *s, uint64_t device, uint64_t coll, uint64_t item, uint64_t modseq);
enum store_rc
store_pg_eas_member_del(struct store *s, uint64_t device, uint64_t coll, uint64_t item);
enum store_rc
store_pg_eas_member_count(struct store *s, uint64_t device, uint64_t coll, uint64_t *n_out);
enum store_rc store_pg_eas_members_aged_open(struct store *s,
                                             uint64_t device,
                                             uint64_t coll,
                                             int64_t cutoff,
                                             unsigned limit,
                                             struct store_cursor **out);

/* Cursors (store_pg_cursor.c). */
enum store_rc store_pg_items_open(struct store *s,
                                  uint64_t coll,
                                  enum store_order order,
                                  struct store_cursor **out);
enum store_rc
store_pg_changes_open(struct store *s, uint64_t coll, uint64_t since, struct store_cursor **out);
enum store_rc store_pg_items_in_range_open(struct store *s,
                                           uint64_t coll,
                                           int64_t start,
                                           int64_t end,
                                           enum store_range_by by,
                                           struct store_cursor **out);
enum store_rc store_pg_children_open(struct store *s, uint64_t coll, struct store_cursor **out);
enum store_rc store_pg_all_colls_open(struct store *s, struct store_cursor **out);
enum store_rc store_pg_cursor_next_item(struct store_cursor *c, struct store_item *row_out);
enum store_rc store_pg_cursor_next_coll(struct store_cursor *c, struct store_coll *row_out);
void store_pg_cursor_close(struct store_cursor **c);
enum store_rc store_pg_items_open_cols(struct store *s,
                                       uint64_t coll,
                                       enum store_order order,
                                       enum store_item_cols cols,
                                       struct store_cursor **out);
enum store_rc store_pg_changes_open_cols(struct store *s,
                                         uint64_t coll,
                                         uint64_t since,
                                         enum store_item_cols cols,
                                         struct store_cursor **out);

/* The iMIP outbox (store_pg_imip.c). */
enum store_rc
store_pg_imip_enqueue(struct store *s, const struct store_imip_in *in, uint64_t *id_out);
enum store_rc store_pg_imip_next_due(struct store *s,
                                     int64_t now,
                                     struct arena *arena,
                                     struct store_imip_msg *out);
enum store_rc store_pg_imip_claim(struct store *s, uint64_t id, int64_t now, int64_t until);
enum store_rc store_pg_imip_next_time(struct store *s, int64_t *out);
enum store_rc
store_pg_imip_get(struct store *s, uint64_t id, struct arena *arena, struct store_imip_msg *out);
enum store_rc store_pg_imip_tried(struct store *s,
                                  uint64_t id,
                                  enum store_imip_state state,
                                  int64_t now,
                                  int64_t next_try,
                                  const char *error);
enum store_rc store_pg_imip_retry(struct store *s, uint64_t id, int64_t now);
enum store_rc store_pg_imip_list(struct store *s, store_imip_fn *fn, void *ctx);

/* Dead properties (store_pg_prop.c). */
enum store_rc store_pg_prop_set(struct store *s,
                                enum store_res_kind kind,
                                uint64_t id,
                                const struct store_prop *prop);
enum store_rc store_pg_prop_del(
    struct store *s, enum store_res_kind kind, uint64_t id, const char *ns, const char *name);
enum store_rc store_pg_prop_get(struct store *s,
                                enum store_res_kind kind,
                                uint64_t id,
                                const char *ns,
                                const char *name,
                                struct arena *arena,
                                struct store_prop *out);
enum store_rc store_pg_prop_list(
    struct store *s, enum store_res_kind kind, uint64_t id, store_prop_fn *fn, void *ctx);
enum store_rc store_pg_prop_copy(struct store *s,
                                 enum store_res_kind from_kind,
                                 uint64_t from_id,
                                 enum store_res_kind to_kind,
                                 uint64_t to_id);

/* Collections (store_pg_coll.c). */
void store_pg_read_coll(const PGresult *res, int row, struct arena *arena, struct store_coll *out);
enum store_rc store_pg_coll_create(struct store *s,
                                   uint64_t parent,
                                   const char *name,
                                   enum store_coll_kind kind,
                                   struct arena *arena,
                                   struct store_coll *out);
enum store_rc
store_pg_coll_get(struct store *s, uint64_t id, struct arena *arena, struct store_coll *out);
enum store_rc store_pg_coll_set_comps(struct store *s, uint64_t id, unsigned comps);
enum store_rc
store_pg_coll_usage(struct store *s, uint64_t id, uint64_t *items_out, uint64_t *bytes_out);
enum store_rc store_pg_coll_lookup(struct store *s,
                                   uint64_t parent,
                                   const char *name,
                                   struct arena *arena,
                                   struct store_coll *out);
enum store_rc store_pg_coll_delete(struct store *s, uint64_t id);
enum store_rc
store_pg_coll_move(struct store *s, uint64_t id, uint64_t new_parent, const char *new_name);
enum store_rc store_pg_coll_touch(struct store *s, uint64_t id, uint64_t *modseq_out);
enum store_rc store_pg_coll_reset_history(struct store *s, uint64_t id);
enum store_rc store_pg_coll_prune_tombstones(struct store *s, uint64_t id, int64_t older_than);
enum store_rc store_pg_prune_all_tombstones(struct store *s, int64_t older_than, size_t *colls_out);

/* Principals (store_pg_principal.c). */
enum store_rc store_pg_principal_add(struct store *s,
                                     const char *name,
                                     const char *pwhash,
                                     struct arena *arena,
                                     struct store_principal *out);
enum store_rc store_pg_principal_get(struct store *s,
                                     const char *name,
                                     struct arena *arena,
                                     struct store_principal *out);
enum store_rc store_pg_principal_get_by_id(struct store *s,
                                           uint64_t id,
                                           struct arena *arena,
                                           struct store_principal *out);
enum store_rc store_pg_principal_set_pwhash(struct store *s, const char *name, const char *pwhash);
enum store_rc store_pg_principal_cred_gen(struct store *s, const char *name, uint64_t *gen_out);
enum store_rc store_pg_principal_del(struct store *s, const char *name);
enum store_rc store_pg_principal_list(struct store *s, store_principal_fn *fn, void *ctx);

#endif
