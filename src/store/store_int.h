/* store/store_int.h: the engines' seam (STYLE.md §3.2: only the engines see it). store.c
 * implements store.h by dispatching each call on a connection, pool or cursor to the engine
 * that made it, through the `ops` table below; store_sqlite*.c is the SQLite engine (its own
 * internals in store_sqlite_int.h), store_pg*.c the PostgreSQL one when it lands. What every
 * engine shares lives here and in store.c, store_hook.c and store_fault.c:
 * - the head of a connection (`struct store`): the ops, the last error, the store's GUID and
 *   secret, and the change hook with the open transaction's record of bumped collections;
 * - the head of a pool and of a cursor (which names its connection, hence its engine).
 * Never included outside src/store. */
#ifndef ALMANAC_STORE_STORE_INT_H
#define ALMANAC_STORE_STORE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "store/store_fault.h"
#if ALMANAC_FAULTS
#  include <stdatomic.h>
#endif

enum {
    STORE_DB_ERRMSG_MAX = 256, /* bytes of store_last_error(), NUL included */
};

/* One engine: every store.h call on an open connection, pool or cursor, with store.h's
 * contract, under the same name without the `store_` prefix. store_open(), store_pool_create()
 * and the file-level calls (store_is_present, store_restore) are the engine's entry points,
 * chosen by store.c from the location; store_last_error(), store_guid(), store_secret() and
 * store_set_change_hook() are the generic head's. */
struct store_ops {
    void (*close)(struct store **s);
    enum store_rc (*begin_read)(struct store *s);
    enum store_rc (*begin_write)(struct store *s);
    enum store_rc (*commit)(struct store *s);
    enum store_rc (*rollback)(struct store *s);
    bool (*in_txn)(const struct store *s);
    void (*pool_destroy)(struct store_pool **p);
    struct store *(*pool_acquire)(struct store_pool *p);
    void (*pool_release)(struct store_pool *p, struct store *s);
    uint64_t (*pool_flush_count)(struct store_pool *p);
    void (*pool_stats)(struct store_pool *p, struct store_pool_stats *out);
    /* NULL for an engine without statement timeouts (SQLite). */
    void (*pool_set_statement_timeout)(struct store_pool *p, unsigned ms);
    enum store_rc (*check)(struct store *s);
    enum store_rc (*backup)(struct store *s, const char *dest_path);
    enum store_rc (*principal_add)(struct store *s,
                                   const char *name,
                                   const char *pwhash,
                                   struct arena *arena,
                                   struct store_principal *out);
    enum store_rc (*principal_get)(struct store *s,
                                   const char *name,
                                   struct arena *arena,
                                   struct store_principal *out);
    enum store_rc (*principal_set_pwhash)(struct store *s, const char *name, const char *pwhash);
    enum store_rc (*principal_cred_gen)(struct store *s, const char *name, uint64_t *gen_out);
    enum store_rc (*principal_del)(struct store *s, const char *name);
    enum store_rc (*principal_list)(struct store *s, store_principal_fn *fn, void *ctx);
    enum store_rc (*coll_create)(struct store *s,
                                 uint64_t parent,
                                 const char *name,
                                 enum store_coll_kind kind,
                                 struct arena *arena,
                                 struct store_coll *out);
    enum store_rc (*coll_get)(struct store *s,
                              uint64_t id,
                              struct arena *arena,
                              struct store_coll *out);
    enum store_rc (*coll_set_comps)(struct store *s, uint64_t id, unsigned comps);
    enum store_rc (*coll_usage)(struct store *s,
                                uint64_t id,
                                uint64_t *items_out,
                                uint64_t *bytes_out);
    enum store_rc (*coll_lookup)(struct store *s,
                                 uint64_t parent,
                                 const char *name,
                                 struct arena *arena,
                                 struct store_coll *out);
    enum store_rc (*coll_delete)(struct store *s, uint64_t id);
    enum store_rc (*coll_move)(struct store *s,
                               uint64_t id,
                               uint64_t new_parent,
                               const char *new_name);
    enum store_rc (*coll_touch)(struct store *s, uint64_t id, uint64_t *modseq_out);
    enum store_rc (*coll_reset_history)(struct store *s, uint64_t id);
    enum store_rc (*coll_prune_tombstones)(struct store *s, uint64_t id, int64_t older_than);
    enum store_rc (*prune_all_tombstones)(struct store *s, int64_t older_than, size_t *colls_out);
    enum store_rc (*item_get)(struct store *s,
                              uint64_t coll,
                              const char *name,
                              enum store_item_flags flags,
                              struct arena *arena,
                              struct store_item *out);
    /* NULL: the engine has nothing to gain (store_item_prefetch) */
    enum store_rc (*item_prefetch)(struct store *s,
                                   uint64_t coll,
                                   const char *const *names,
                                   size_t n);
    /* NULL: likewise (store_path_prefetch) */
    enum store_rc (*path_prefetch)(struct store *s,
                                   const char *principal,
                                   const char *const *names,
                                   size_t n);
    enum store_rc (*item_get_by_uid)(struct store *s,
                                     uint64_t coll,
                                     const char *uid,
                                     struct arena *arena,
                                     struct store_item *out);
    enum store_rc (*item_put)(struct store *s,
                              uint64_t coll,
                              const char *name,
                              const struct store_item_in *in,
                              struct arena *arena,
                              struct store_item *out,
                              bool *created_out);
    enum store_rc (*item_delete)(struct store *s, uint64_t coll, const char *name);
    enum store_rc (*item_move)(
        struct store *s, uint64_t coll, const char *name, uint64_t to_coll, const char *to_name);
    enum store_rc (*items_open)(struct store *s,
                                uint64_t coll,
                                enum store_order order,
                                struct store_cursor **out);
    enum store_rc (*changes_open)(struct store *s,
                                  uint64_t coll,
                                  uint64_t since,
                                  struct store_cursor **out);
    enum store_rc (*items_in_range_open)(struct store *s,
                                         uint64_t coll,
                                         int64_t start,
                                         int64_t end,
                                         enum store_range_by by,
                                         struct store_cursor **out);
    enum store_rc (*children_open)(struct store *s, uint64_t coll, struct store_cursor **out);
    enum store_rc (*all_colls_open)(struct store *s, struct store_cursor **out);
    enum store_rc (*cursor_next_item)(struct store_cursor *c, struct store_item *row_out);
    enum store_rc (*cursor_next_coll)(struct store_cursor *c, struct store_coll *row_out);
    void (*cursor_close)(struct store_cursor **c);
    enum store_rc (*prop_set)(struct store *s,
                              enum store_res_kind kind,
                              uint64_t id,
                              const struct store_prop *p);
    enum store_rc (*prop_del)(
        struct store *s, enum store_res_kind kind, uint64_t id, const char *ns, const char *name);
    enum store_rc (*prop_get)(struct store *s,
                              enum store_res_kind kind,
                              uint64_t id,
                              const char *ns,
                              const char *name,
                              struct arena *arena,
                              struct store_prop *out);
    enum store_rc (*prop_list)(
        struct store *s, enum store_res_kind kind, uint64_t id, store_prop_fn *fn, void *ctx);
    enum store_rc (*prop_copy)(struct store *s,
                               enum store_res_kind from_kind,
                               uint64_t from_id,
                               enum store_res_kind to_kind,
                               uint64_t to_id);
    enum store_rc (*item_touch)(struct store *s, uint64_t coll, const char *name);
    enum store_rc (*item_get_by_id)(struct store *s,
                                    uint64_t coll,
                                    uint64_t id,
                                    enum store_item_flags flags,
                                    struct arena *arena,
                                    struct store_item *out);
    enum store_rc (*changes_count)(
        struct store *s, uint64_t coll, uint64_t since, uint64_t cap, uint64_t *n_out);
    void (*pool_set_change_hook)(struct store_pool *p, store_change_fn *fn, void *ctx);
    enum store_rc (*eas_device_touch)(struct store *s,
                                      uint64_t principal,
                                      const char *device_id,
                                      const char *device_type,
                                      const char *user_agent,
                                      const char *protocol,
                                      int64_t now,
                                      unsigned max_devices,
                                      struct arena *arena,
                                      struct store_eas_device *out);
    enum store_rc (*eas_device_get)(struct store *s,
                                    uint64_t principal,
                                    const char *device_id,
                                    struct arena *arena,
                                    struct store_eas_device *out);
    enum store_rc (*eas_device_seen)(struct store *s, uint64_t device, int64_t when);
    enum store_rc (*eas_device_set_policy)(struct store *s,
                                           uint64_t device,
                                           uint32_t pending,
                                           uint32_t final_key);
    enum store_rc (*eas_device_set_info)(struct store *s,
                                         uint64_t device,
                                         const struct store_eas_device *info);
    enum store_rc (*eas_device_list)(struct store *s,
                                     uint64_t principal,
                                     store_eas_device_fn *fn,
                                     void *ctx);
    enum store_rc (*eas_device_del)(struct store *s, uint64_t principal, const char *device_id);
    enum store_rc (*eas_blob_put)(
        struct store *s, uint64_t device, const char *name, const void *p, size_t n);
    enum store_rc (*eas_blob_get)(struct store *s,
                                  uint64_t device,
                                  const char *name,
                                  struct arena *arena,
                                  const void **p_out,
                                  size_t *n_out);
    enum store_rc (*eas_blob_del)(struct store *s, uint64_t device, const char *name);
    enum store_rc (*eas_sync_get)(struct store *s,
                                  uint64_t device,
                                  uint64_t coll,
                                  struct arena *arena,
                                  struct store_eas_sync *out);
    enum store_rc (*eas_sync_cursor)(struct store *s,
                                     uint64_t device,
                                     uint64_t coll,
                                     uint64_t *cursor_out);
    enum store_rc (*eas_sync_put)(struct store *s, const struct store_eas_sync *st);
    enum store_rc (*eas_sync_reset)(struct store *s, uint64_t device, uint64_t coll);
    enum store_rc (*eas_member_get)(
        struct store *s, uint64_t device, uint64_t coll, uint64_t item, uint64_t *modseq_out);
    enum store_rc (*eas_member_put)(
        struct store *s, uint64_t device, uint64_t coll, uint64_t item, uint64_t modseq);
    enum store_rc (*eas_member_del)(struct store *s, uint64_t device, uint64_t coll, uint64_t item);
    enum store_rc (*eas_member_count)(struct store *s,
                                      uint64_t device,
                                      uint64_t coll,
                                      uint64_t *n_out);
    enum store_rc (*eas_members_aged_open)(struct store *s,
                                           uint64_t device,
                                           uint64_t coll,
                                           int64_t cutoff,
                                           unsigned limit,
                                           struct store_cursor **out);
    enum store_rc (*sub_create)(struct store *s,
                                uint64_t coll,
                                struct arena *arena,
                                struct store_sub *out);
    enum store_rc (*sub_get)(struct store *s,
                             const char *token,
                             struct arena *arena,
                             struct store_sub *out);
    enum store_rc (*sub_revoke)(struct store *s, uint64_t coll);
    enum store_rc (*sub_list)(struct store *s, uint64_t owner, store_sub_fn *fn, void *ctx);
    enum store_rc (*share_set)(struct store *s,
                               uint64_t coll,
                               uint64_t sharee,
                               enum store_share_access access,
                               const char *name,
                               struct arena *arena,
                               struct store_share *out,
                               bool *created_out);
    enum store_rc (*share_del)(struct store *s, uint64_t coll, uint64_t sharee);
    enum store_rc (*share_get)(struct store *s,
                               uint64_t coll,
                               uint64_t sharee,
                               struct arena *arena,
                               struct store_share *out);
    enum store_rc (*share_lookup)(struct store *s,
                                  uint64_t sharee,
                                  const char *name,
                                  struct arena *arena,
                                  struct store_share *out);
    enum store_rc (*share_list_of_sharee)(struct store *s,
                                          uint64_t sharee,
                                          store_share_fn *fn,
                                          void *ctx);
    enum store_rc (*share_list_of_coll)(struct store *s,
                                        uint64_t coll,
                                        store_share_fn *fn,
                                        void *ctx);
    enum store_rc (*share_list_of_owner)(struct store *s,
                                         uint64_t owner,
                                         store_share_fn *fn,
                                         void *ctx);
    enum store_rc (*principal_get_by_id)(struct store *s,
                                         uint64_t id,
                                         struct arena *arena,
                                         struct store_principal *out);
    enum store_rc (*sched_addr_add)(struct store *s,
                                    uint64_t principal,
                                    const char *addr,
                                    struct arena *arena);
    enum store_rc (*sched_addr_del)(struct store *s,
                                    uint64_t principal,
                                    const char *addr,
                                    struct arena *arena);
    enum store_rc (*sched_addr_lookup)(struct store *s,
                                       const char *addr,
                                       struct arena *arena,
                                       uint64_t *principal_out);
    enum store_rc (*sched_addr_list)(struct store *s,
                                     uint64_t principal,
                                     store_sched_addr_fn *fn,
                                     void *ctx);
    enum store_rc (*items_open_cols)(struct store *s,
                                     uint64_t coll,
                                     enum store_order order,
                                     enum store_item_cols cols,
                                     struct store_cursor **out);
    enum store_rc (*changes_open_cols)(struct store *s,
                                       uint64_t coll,
                                       uint64_t since,
                                       enum store_item_cols cols,
                                       struct store_cursor **out);
    enum store_rc (*imip_enqueue)(struct store *s,
                                  const struct store_imip_in *in,
                                  uint64_t *id_out);
    enum store_rc (*imip_next_due)(struct store *s,
                                   int64_t now,
                                   struct arena *arena,
                                   struct store_imip_msg *out);
    enum store_rc (*imip_claim)(struct store *s, uint64_t id, int64_t now, int64_t until);
    enum store_rc (*imip_next_time)(struct store *s, int64_t *out);
    enum store_rc (*imip_get)(struct store *s,
                              uint64_t id,
                              struct arena *arena,
                              struct store_imip_msg *out);
    enum store_rc (*imip_tried)(struct store *s,
                                uint64_t id,
                                enum store_imip_state state,
                                int64_t now,
                                int64_t next_try,
                                const char *error);
    enum store_rc (*imip_retry)(struct store *s, uint64_t id, int64_t now);
    enum store_rc (*imip_list)(struct store *s, store_imip_fn *fn, void *ctx);
};

/* A change hook as set by store_pool_set_change_hook() or store_set_change_hook(). */
struct store_change_hook {
    store_change_fn *fn; /* NULL: notification off */
    void *ctx;
};

/* store_hook.c: the hook a connection uses and the collections its open transaction bumped. */
struct store_db_changes;

/* The head of every engine's connection: an engine's own struct begins with it, and converts
 * a `struct store *` it made back to its own with a cast (C17 6.7.2.1p15). */
struct store {
    const struct store_ops *ops;
    uint8_t guid[STORE_GUID_BYTES];
    uint8_t secret[STORE_SECRET_BYTES];
    char errmsg[STORE_DB_ERRMSG_MAX];
    bool injected; /* errmsg holds an injected fault's message (store_fault.h), which the
                      engine's error recording keeps */

    /* Change notification (store_hook.c): `hook` is the pool's, the connection's own, or NULL;
     * `changes` holds the own hook and the open transaction's bumps, made lazily. */
    const struct store_change_hook *hook;
    struct store_db_changes *changes;
};

/* The head of every engine's pool. */
struct store_pool {
    const struct store_ops *ops;
};

/* The head of every engine's cursor: the connection it reads through, which is also how
 * store.c finds the engine. */
struct store_cursor {
    struct store *s;
};

/* Records that the open transaction moved `coll` to `modseq` (the engine's bump calls it),
 * for the change hook; nothing when the connection has no hook. Aborts when out of memory. */
void store_db_note_change(struct store *s, uint64_t coll, uint64_t modseq);

/* Ends the transaction's change record: after a commit that succeeded (`committed`), calls
 * the hook once per recorded collection; otherwise forgets the record when no transaction is
 * open any more, and keeps it while one is (a failed COMMIT the caller may retry). */
void store_db_changes_end(struct store *s, bool committed);

/* Frees what store_hook.c hung on the connection. */
void store_db_changes_free(struct store *s);

/* The SQLite engine's entry points (store_sqlite.c, store_sqlite_backup.c): `dir` is the data
 * directory. */
enum store_rc store_sqlite_open(const char *dir, struct store **out, const char **errmsg_out);
enum store_rc store_sqlite_pool_create(const char *dir, unsigned max, struct store_pool **out);

/* The PostgreSQL engine's (store_pg.c; work in progress, issue #10): `uri` is a libpq URI.
 * store.c does not call them yet; the engine's tests do. */
enum store_rc store_pg_open(const char *uri, struct store **out, const char **errmsg_out);
enum store_rc store_pg_pool_create(const char *uri, unsigned max, struct store_pool **out);

/* The fault seam's verdict at an engine's point (store_fault.h), for every engine: true when
 * the armed plan fails this point, with its error in *err_out, logged, and (a statement point)
 * its message in s->errmsg with s->injected set. Engines test store_fault_on first (a relaxed
 * load) and call this only while a plan is armed. */
#if ALMANAC_FAULTS
extern atomic_bool store_fault_on;
bool store_fault_fire(struct store *s,
                      enum store_fault_op op,
                      const char *what,
                      bool prepare,
                      enum store_fault_err *err_out);
#endif

#endif
