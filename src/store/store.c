/* store/store.c: store.h over the engines of store_int.h. Opening picks the engine; every
 * other call goes to the engine of the connection, pool or cursor it is given (one indirect
 * call: nothing next to a statement's cost). */
#include "store/store.h"

#include <string.h>

#include "store/store_int.h"
#include "util/log.h"

/* Whether a location is a libpq URI (PostgreSQL) rather than a SQLite directory. */
static bool is_postgresql(const char *where)
{
    return strncmp(where, "postgresql://", 13) == 0 || strncmp(where, "postgres://", 11) == 0;
}

/* The SQLite directory of a location: "sqlite:DIR", or DIR itself. */
static const char *sqlite_dir(const char *where)
{
    return strncmp(where, "sqlite:", 7) == 0 ? where + 7 : where;
}

enum store_rc store_open(const char *where, struct store **out, const char **errmsg_out)
{
    if (is_postgresql(where)) {
        return store_pg_open(where, out, errmsg_out);
    }
    return store_sqlite_open(sqlite_dir(where), out, errmsg_out);
}

enum store_rc store_pool_create(const char *where, unsigned max, struct store_pool **out)
{
    if (is_postgresql(where)) {
        return store_pg_pool_create(where, max, out);
    }
    return store_sqlite_pool_create(sqlite_dir(where), max, out);
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

void store_close(struct store **s)
{
    if (*s) {
        (*s)->ops->close(s);
    }
}

enum store_rc store_begin_read(struct store *s)
{
    return s->ops->begin_read(s);
}

enum store_rc store_begin_write(struct store *s)
{
    return s->ops->begin_write(s);
}

enum store_rc store_commit(struct store *s)
{
    return s->ops->commit(s);
}

enum store_rc store_rollback(struct store *s)
{
    return s->ops->rollback(s);
}

bool store_in_txn(const struct store *s)
{
    return s->ops->in_txn(s);
}

void store_pool_destroy(struct store_pool **p)
{
    if (*p) {
        (*p)->ops->pool_destroy(p);
    }
}

struct store *store_pool_acquire(struct store_pool *p)
{
    return p->ops->pool_acquire(p);
}

void store_pool_release(struct store_pool *p, struct store *s)
{
    p->ops->pool_release(p, s);
}

uint64_t store_pool_flush_count(struct store_pool *p)
{
    return p->ops->pool_flush_count(p);
}

void store_pool_stats(struct store_pool *p, struct store_pool_stats *out)
{
    p->ops->pool_stats(p, out);
}

void store_pool_set_statement_timeout(struct store_pool *p, unsigned ms)
{
    if (p->ops->pool_set_statement_timeout) {
        p->ops->pool_set_statement_timeout(p, ms);
    }
}

enum store_rc store_check(struct store *s)
{
    return s->ops->check(s);
}

enum store_rc store_backup(struct store *s, const char *dest_path)
{
    return s->ops->backup(s, dest_path);
}

enum store_rc store_principal_add(struct store *s,
                                  const char *name,
                                  const char *pwhash,
                                  struct arena *arena,
                                  struct store_principal *out)
{
    return s->ops->principal_add(s, name, pwhash, arena, out);
}

enum store_rc store_principal_get(struct store *s,
                                  const char *name,
                                  struct arena *arena,
                                  struct store_principal *out)
{
    return s->ops->principal_get(s, name, arena, out);
}

enum store_rc store_principal_set_pwhash(struct store *s, const char *name, const char *pwhash)
{
    return s->ops->principal_set_pwhash(s, name, pwhash);
}

enum store_rc store_principal_cred_gen(struct store *s, const char *name, uint64_t *gen_out)
{
    return s->ops->principal_cred_gen(s, name, gen_out);
}

enum store_rc store_principal_del(struct store *s, const char *name)
{
    return s->ops->principal_del(s, name);
}

enum store_rc store_principal_list(struct store *s, store_principal_fn *fn, void *ctx)
{
    return s->ops->principal_list(s, fn, ctx);
}

enum store_rc store_coll_create(struct store *s,
                                uint64_t parent,
                                const char *name,
                                enum store_coll_kind kind,
                                struct arena *arena,
                                struct store_coll *out)
{
    return s->ops->coll_create(s, parent, name, kind, arena, out);
}

enum store_rc
store_coll_get(struct store *s, uint64_t id, struct arena *arena, struct store_coll *out)
{
    return s->ops->coll_get(s, id, arena, out);
}

enum store_rc store_coll_set_comps(struct store *s, uint64_t id, unsigned comps)
{
    return s->ops->coll_set_comps(s, id, comps);
}

enum store_rc
store_coll_usage(struct store *s, uint64_t id, uint64_t *items_out, uint64_t *bytes_out)
{
    return s->ops->coll_usage(s, id, items_out, bytes_out);
}

enum store_rc store_coll_lookup(
    struct store *s, uint64_t parent, const char *name, struct arena *arena, struct store_coll *out)
{
    return s->ops->coll_lookup(s, parent, name, arena, out);
}

enum store_rc store_coll_delete(struct store *s, uint64_t id)
{
    return s->ops->coll_delete(s, id);
}

enum store_rc
store_coll_move(struct store *s, uint64_t id, uint64_t new_parent, const char *new_name)
{
    return s->ops->coll_move(s, id, new_parent, new_name);
}

enum store_rc store_coll_touch(struct store *s, uint64_t id, uint64_t *modseq_out)
{
    return s->ops->coll_touch(s, id, modseq_out);
}

enum store_rc store_coll_reset_history(struct store *s, uint64_t id)
{
    return s->ops->coll_reset_history(s, id);
}

enum store_rc store_coll_prune_tombstones(struct store *s, uint64_t id, int64_t older_than)
{
    return s->ops->coll_prune_tombstones(s, id, older_than);
}

enum store_rc store_prune_all_tombstones(struct store *s, int64_t older_than, size_t *colls_out)
{
    return s->ops->prune_all_tombstones(s, older_than, colls_out);
}

enum store_rc store_item_get(struct store *s,
                             uint64_t coll,
                             const char *name,
                             enum store_item_flags flags,
                             struct arena *arena,
                             struct store_item *out)
{
    return s->ops->item_get(s, coll, name, flags, arena, out);
}

enum store_rc
store_item_prefetch(struct store *s, uint64_t coll, const char *const *names, size_t n)
{
    return s->ops->item_prefetch ? s->ops->item_prefetch(s, coll, names, n) : STORE_OK;
}

enum store_rc
store_path_prefetch(struct store *s, const char *principal, const char *const *names, size_t n)
{
    return s->ops->path_prefetch ? s->ops->path_prefetch(s, principal, names, n) : STORE_OK;
}

enum store_rc store_item_get_by_uid(
    struct store *s, uint64_t coll, const char *uid, struct arena *arena, struct store_item *out)
{
    return s->ops->item_get_by_uid(s, coll, uid, arena, out);
}

enum store_rc store_item_put(struct store *s,
                             uint64_t coll,
                             const char *name,
                             const struct store_item_in *in,
                             struct arena *arena,
                             struct store_item *out,
                             bool *created_out)
{
    return s->ops->item_put(s, coll, name, in, arena, out, created_out);
}

enum store_rc store_item_delete(struct store *s, uint64_t coll, const char *name)
{
    return s->ops->item_delete(s, coll, name);
}

enum store_rc store_item_move(
    struct store *s, uint64_t coll, const char *name, uint64_t to_coll, const char *to_name)
{
    return s->ops->item_move(s, coll, name, to_coll, to_name);
}

enum store_rc
store_items_open(struct store *s, uint64_t coll, enum store_order order, struct store_cursor **out)
{
    return s->ops->items_open(s, coll, order, out);
}

enum store_rc
store_changes_open(struct store *s, uint64_t coll, uint64_t since, struct store_cursor **out)
{
    return s->ops->changes_open(s, coll, since, out);
}

enum store_rc store_items_in_range_open(struct store *s,
                                        uint64_t coll,
                                        int64_t start,
                                        int64_t end,
                                        enum store_range_by by,
                                        struct store_cursor **out)
{
    return s->ops->items_in_range_open(s, coll, start, end, by, out);
}

enum store_rc store_children_open(struct store *s, uint64_t coll, struct store_cursor **out)
{
    return s->ops->children_open(s, coll, out);
}

enum store_rc store_all_colls_open(struct store *s, struct store_cursor **out)
{
    return s->ops->all_colls_open(s, out);
}

enum store_rc store_cursor_next_item(struct store_cursor *c, struct store_item *row_out)
{
    return c->s->ops->cursor_next_item(c, row_out);
}

enum store_rc store_cursor_next_coll(struct store_cursor *c, struct store_coll *row_out)
{
    return c->s->ops->cursor_next_coll(c, row_out);
}

void store_cursor_close(struct store_cursor **c)
{
    if (*c) {
        (*c)->s->ops->cursor_close(c);
    }
}

enum store_rc
store_prop_set(struct store *s, enum store_res_kind kind, uint64_t id, const struct store_prop *p)
{
    return s->ops->prop_set(s, kind, id, p);
}

enum store_rc store_prop_del(
    struct store *s, enum store_res_kind kind, uint64_t id, const char *ns, const char *name)
{
    return s->ops->prop_del(s, kind, id, ns, name);
}

enum store_rc store_prop_get(struct store *s,
                             enum store_res_kind kind,
                             uint64_t id,
                             const char *ns,
                             const char *name,
                             struct arena *arena,
                             struct store_prop *out)
{
    return s->ops->prop_get(s, kind, id, ns, name, arena, out);
}

enum store_rc store_prop_list(
    struct store *s, enum store_res_kind kind, uint64_t id, store_prop_fn *fn, void *ctx)
{
    return s->ops->prop_list(s, kind, id, fn, ctx);
}

enum store_rc store_prop_copy(struct store *s,
                              enum store_res_kind from_kind,
                              uint64_t from_id,
                              enum store_res_kind to_kind,
                              uint64_t to_id)
{
    return s->ops->prop_copy(s, from_kind, from_id, to_kind, to_id);
}

enum store_rc store_item_touch(struct store *s, uint64_t coll, const char *name)
{
    return s->ops->item_touch(s, coll, name);
}

enum store_rc store_item_get_by_id(struct store *s,
                                   uint64_t coll,
                                   uint64_t id,
                                   enum store_item_flags flags,
                                   struct arena *arena,
                                   struct store_item *out)
{
    return s->ops->item_get_by_id(s, coll, id, flags, arena, out);
}

enum store_rc
store_changes_count(struct store *s, uint64_t coll, uint64_t since, uint64_t cap, uint64_t *n_out)
{
    return s->ops->changes_count(s, coll, since, cap, n_out);
}

void store_pool_set_change_hook(struct store_pool *p, store_change_fn *fn, void *ctx)
{
    p->ops->pool_set_change_hook(p, fn, ctx);
}

enum store_rc store_eas_device_touch(struct store *s,
                                     uint64_t principal,
                                     const char *device_id,
                                     const char *device_type,
                                     const char *user_agent,
                                     const char *protocol,
                                     int64_t now,
                                     unsigned max_devices,
                                     struct arena *arena,
                                     struct store_eas_device *out)
{
    return s->ops->eas_device_touch(s, principal, device_id, device_type, user_agent, protocol, now,
                                    max_devices, arena, out);
}

enum store_rc store_eas_device_get(struct store *s,
                                   uint64_t principal,
                                   const char *device_id,
                                   struct arena *arena,
                                   struct store_eas_device *out)
{
    return s->ops->eas_device_get(s, principal, device_id, arena, out);
}

enum store_rc store_eas_device_seen(struct store *s, uint64_t device, int64_t when)
{
    return s->ops->eas_device_seen(s, device, when);
}

enum store_rc
store_eas_device_set_policy(struct store *s, uint64_t device, uint32_t pending, uint32_t final_key)
{
    return s->ops->eas_device_set_policy(s, device, pending, final_key);
}

enum store_rc
store_eas_device_set_info(struct store *s, uint64_t device, const struct store_eas_device *info)
{
    return s->ops->eas_device_set_info(s, device, info);
}

enum store_rc
store_eas_device_list(struct store *s, uint64_t principal, store_eas_device_fn *fn, void *ctx)
{
    return s->ops->eas_device_list(s, principal, fn, ctx);
}

enum store_rc store_eas_device_del(struct store *s, uint64_t principal, const char *device_id)
{
    return s->ops->eas_device_del(s, principal, device_id);
}

enum store_rc
store_eas_blob_put(struct store *s, uint64_t device, const char *name, const void *p, size_t n)
{
    return s->ops->eas_blob_put(s, device, name, p, n);
}

enum store_rc store_eas_blob_get(struct store *s,
                                 uint64_t device,
                                 const char *name,
                                 struct arena *arena,
                                 const void **p_out,
                                 size_t *n_out)
{
    return s->ops->eas_blob_get(s, device, name, arena, p_out, n_out);
}

enum store_rc store_eas_blob_del(struct store *s, uint64_t device, const char *name)
{
    return s->ops->eas_blob_del(s, device, name);
}

enum store_rc store_eas_sync_get(struct store *s,
                                 uint64_t device,
                                 uint64_t coll,
                                 struct arena *arena,
                                 struct store_eas_sync *out)
{
    return s->ops->eas_sync_get(s, device, coll, arena, out);
}

enum store_rc
store_eas_sync_cursor(struct store *s, uint64_t device, uint64_t coll, uint64_t *cursor_out)
{
    return s->ops->eas_sync_cursor(s, device, coll, cursor_out);
}

enum store_rc store_eas_sync_put(struct store *s, const struct store_eas_sync *st)
{
    return s->ops->eas_sync_put(s, st);
}

enum store_rc store_eas_sync_reset(struct store *s, uint64_t device, uint64_t coll)
{
    return s->ops->eas_sync_reset(s, device, coll);
}

enum store_rc store_eas_member_get(
    struct store *s, uint64_t device, uint64_t coll, uint64_t item, uint64_t *modseq_out)
{
    return s->ops->eas_member_get(s, device, coll, item, modseq_out);
}

enum store_rc store_eas_member_put(
    struct store *s, uint64_t device, uint64_t coll, uint64_t item, uint64_t modseq)
{
    return s->ops->eas_member_put(s, device, coll, item, modseq);
}

enum store_rc store_eas_member_del(struct store *s, uint64_t device, uint64_t coll, uint64_t item)
{
    return s->ops->eas_member_del(s, device, coll, item);
}

enum store_rc
store_eas_member_count(struct store *s, uint64_t device, uint64_t coll, uint64_t *n_out)
{
    return s->ops->eas_member_count(s, device, coll, n_out);
}

enum store_rc store_eas_members_aged_open(struct store *s,
                                          uint64_t device,
                                          uint64_t coll,
                                          int64_t cutoff,
                                          unsigned limit,
                                          struct store_cursor **out)
{
    return s->ops->eas_members_aged_open(s, device, coll, cutoff, limit, out);
}

enum store_rc
store_sub_create(struct store *s, uint64_t coll, struct arena *arena, struct store_sub *out)
{
    return s->ops->sub_create(s, coll, arena, out);
}

enum store_rc
store_sub_get(struct store *s, const char *token, struct arena *arena, struct store_sub *out)
{
    return s->ops->sub_get(s, token, arena, out);
}

enum store_rc store_sub_revoke(struct store *s, uint64_t coll)
{
    return s->ops->sub_revoke(s, coll);
}

enum store_rc store_sub_list(struct store *s, uint64_t owner, store_sub_fn *fn, void *ctx)
{
    return s->ops->sub_list(s, owner, fn, ctx);
}

enum store_rc store_share_set(struct store *s,
                              uint64_t coll,
                              uint64_t sharee,
                              enum store_share_access access,
                              const char *name,
                              struct arena *arena,
                              struct store_share *out,
                              bool *created_out)
{
    return s->ops->share_set(s, coll, sharee, access, name, arena, out, created_out);
}

enum store_rc store_share_del(struct store *s, uint64_t coll, uint64_t sharee)
{
    return s->ops->share_del(s, coll, sharee);
}

enum store_rc store_share_get(
    struct store *s, uint64_t coll, uint64_t sharee, struct arena *arena, struct store_share *out)
{
    return s->ops->share_get(s, coll, sharee, arena, out);
}

enum store_rc store_share_lookup(struct store *s,
                                 uint64_t sharee,
                                 const char *name,
                                 struct arena *arena,
                                 struct store_share *out)
{
    return s->ops->share_lookup(s, sharee, name, arena, out);
}

enum store_rc
store_share_list_of_sharee(struct store *s, uint64_t sharee, store_share_fn *fn, void *ctx)
{
    return s->ops->share_list_of_sharee(s, sharee, fn, ctx);
}

enum store_rc
store_share_list_of_coll(struct store *s, uint64_t coll, store_share_fn *fn, void *ctx)
{
    return s->ops->share_list_of_coll(s, coll, fn, ctx);
}

enum store_rc
store_share_list_of_owner(struct store *s, uint64_t owner, store_share_fn *fn, void *ctx)
{
    return s->ops->share_list_of_owner(s, owner, fn, ctx);
}

enum store_rc store_principal_get_by_id(struct store *s,
                                        uint64_t id,
                                        struct arena *arena,
                                        struct store_principal *out)
{
    return s->ops->principal_get_by_id(s, id, arena, out);
}

enum store_rc
store_sched_addr_add(struct store *s, uint64_t principal, const char *addr, struct arena *arena)
{
    return s->ops->sched_addr_add(s, principal, addr, arena);
}

enum store_rc
store_sched_addr_del(struct store *s, uint64_t principal, const char *addr, struct arena *arena)
{
    return s->ops->sched_addr_del(s, principal, addr, arena);
}

enum store_rc store_sched_addr_lookup(struct store *s,
                                      const char *addr,
                                      struct arena *arena,
                                      uint64_t *principal_out)
{
    return s->ops->sched_addr_lookup(s, addr, arena, principal_out);
}

enum store_rc
store_sched_addr_list(struct store *s, uint64_t principal, store_sched_addr_fn *fn, void *ctx)
{
    return s->ops->sched_addr_list(s, principal, fn, ctx);
}

enum store_rc store_items_open_cols(struct store *s,
                                    uint64_t coll,
                                    enum store_order order,
                                    enum store_item_cols cols,
                                    struct store_cursor **out)
{
    return s->ops->items_open_cols(s, coll, order, cols, out);
}

enum store_rc store_changes_open_cols(struct store *s,
                                      uint64_t coll,
                                      uint64_t since,
                                      enum store_item_cols cols,
                                      struct store_cursor **out)
{
    return s->ops->changes_open_cols(s, coll, since, cols, out);
}

enum store_rc store_imip_enqueue(struct store *s, const struct store_imip_in *in, uint64_t *id_out)
{
    return s->ops->imip_enqueue(s, in, id_out);
}

enum store_rc
store_imip_next_due(struct store *s, int64_t now, struct arena *arena, struct store_imip_msg *out)
{
    return s->ops->imip_next_due(s, now, arena, out);
}

enum store_rc store_imip_claim(struct store *s, uint64_t id, int64_t now, int64_t until)
{
    return s->ops->imip_claim(s, id, now, until);
}

enum store_rc store_imip_next_time(struct store *s, int64_t *out)
{
    return s->ops->imip_next_time(s, out);
}

enum store_rc
store_imip_get(struct store *s, uint64_t id, struct arena *arena, struct store_imip_msg *out)
{
    return s->ops->imip_get(s, id, arena, out);
}

enum store_rc store_imip_tried(struct store *s,
                               uint64_t id,
                               enum store_imip_state state,
                               int64_t now,
                               int64_t next_try,
                               const char *error)
{
    return s->ops->imip_tried(s, id, state, now, next_try, error);
}

enum store_rc store_imip_retry(struct store *s, uint64_t id, int64_t now)
{
    return s->ops->imip_retry(s, id, now);
}

enum store_rc store_imip_list(struct store *s, store_imip_fn *fn, void *ctx)
{
    return s->ops->imip_list(s, fn, ctx);
}
