/* store/store_sqlite_eas.c: ActiveSync device state in the SQLite engine (schema/004_eas.sql):
 * devices keyed by (principal, upper-cased DeviceId), named blobs, the two-slot sync state
 * of each (device, collection), membership, and aged members; plus the two item queries
 * ActiveSync needs that are protocol-neutral (an item by id, a capped change count). Stores
 * numbers, keys and opaque bytes the eas layer encodes; never decodes them. Its statements
 * are its own table below, cached per connection in sq(s)->c.eas_stmts. */
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store/store.h"
#include "store/store_sqlite_int.h"

/* Columns of a device row, decoded by read_device(). */
#define DEV_COLS                                                                            \
  "id, principal, device_id, device_type, user_agent, protocol, first_seen, last_seen, "    \
  "policy_key, policy_pending, model, friendly_name, os, os_language, imei, phone_number, " \
  "mobile_operator"

enum eas_stmt_id {
    E_DEVICE_GET,
    E_DEVICE_COUNT,
    E_DEVICE_INSERT,
    E_DEVICE_UPDATE,
    E_DEVICE_SEEN,
    E_DEVICE_SET_POLICY,
    E_DEVICE_SET_INFO,
    E_DEVICE_LIST,
    E_DEVICE_DEL,
    E_BLOB_PUT,
    E_BLOB_GET,
    E_BLOB_DEL,
    E_SYNC_GET,
    E_SYNC_CURSOR,
    E_SYNC_PUT,
    E_SYNC_RESET,
    E_MEMBER_GET,
    E_MEMBER_PUT,
    E_MEMBER_DEL,
    E_MEMBER_COUNT,
    E_ITEM_GET_BY_ID,
    E_ITEM_GET_BY_ID_CONTENT,
    E_CHANGES_COUNT,
    E_COUNT
};

static const char *const eas_sql[E_COUNT] = {
    [E_DEVICE_GET] = "SELECT " DEV_COLS " FROM eas_devices WHERE principal = ?1 AND "
                     "device_key = ?2",
    [E_DEVICE_COUNT] = "SELECT count(*) FROM eas_devices WHERE principal = ?1",
    [E_DEVICE_INSERT] = "INSERT INTO eas_devices(principal, device_key, device_id, device_type, "
                        "user_agent, protocol, first_seen, last_seen) "
                        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) RETURNING " DEV_COLS,
    [E_DEVICE_UPDATE] = "UPDATE eas_devices SET device_type = coalesce(?2, device_type), "
                        "user_agent = coalesce(?3, user_agent), protocol = coalesce(?4, protocol), "
                        "last_seen = ?5 WHERE id = ?1 RETURNING " DEV_COLS,
    [E_DEVICE_SEEN] = "UPDATE eas_devices SET last_seen = ?2 WHERE id = ?1 AND last_seen < ?2",
    [E_DEVICE_SET_POLICY] = "UPDATE eas_devices SET policy_pending = ?2, policy_key = ?3 "
                            "WHERE id = ?1",
    [E_DEVICE_SET_INFO] = "UPDATE eas_devices SET model = coalesce(?2, model), "
                          "friendly_name = coalesce(?3, friendly_name), os = coalesce(?4, os), "
                          "os_language = coalesce(?5, os_language), imei = coalesce(?6, imei), "
                          "phone_number = coalesce(?7, phone_number), "
                          "mobile_operator = coalesce(?8, mobile_operator) WHERE id = ?1",
    [E_DEVICE_LIST] = "SELECT " DEV_COLS " FROM eas_devices WHERE principal = ?1 "
                      "ORDER BY device_key",
    /* Blobs, sync states and (through them) members cascade. */
    [E_DEVICE_DEL] = "DELETE FROM eas_devices WHERE principal = ?1 AND device_key = ?2",
    [E_BLOB_PUT] = "INSERT INTO eas_blobs(device, name, data) VALUES (?1, ?2, ?3) "
                   "ON CONFLICT(device, name) DO UPDATE SET data = excluded.data",
    [E_BLOB_GET] = "SELECT data FROM eas_blobs WHERE device = ?1 AND name = ?2",
    [E_BLOB_DEL] = "DELETE FROM eas_blobs WHERE device = ?1 AND name = ?2",
    [E_SYNC_GET] = "SELECT device, coll, key_cur, key_prev, cursor, coll_epoch, options, answer, "
                   "updated FROM eas_sync WHERE device = ?1 AND coll = ?2",
    /* the cursor alone: the row's answer (kilobytes, in overflow pages) is never read */
    [E_SYNC_CURSOR] = "SELECT cursor FROM eas_sync WHERE device = ?1 AND coll = ?2",
    /* An update in place, never INSERT OR REPLACE: replacing the row would delete it and
     * cascade to the membership. */
    [E_SYNC_PUT] = "INSERT INTO eas_sync(device, coll, key_cur, key_prev, cursor, coll_epoch, "
                   "options, answer, updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
                   "ON CONFLICT(device, coll) DO UPDATE SET key_cur = excluded.key_cur, "
                   "key_prev = excluded.key_prev, cursor = excluded.cursor, "
                   "coll_epoch = excluded.coll_epoch, options = excluded.options, "
                   "answer = excluded.answer, updated = excluded.updated",
    /* Members cascade, by their key's (device, coll) prefix. */
    [E_SYNC_RESET] = "DELETE FROM eas_sync WHERE device = ?1 AND coll = ?2",
    [E_MEMBER_GET] = "SELECT modseq FROM eas_members WHERE device = ?1 AND coll = ?2 AND "
                     "item = ?3",
    /* The live item's span end, by its rowid (NULL when it has none or is not in coll). */
    [E_MEMBER_PUT] = "INSERT INTO eas_members(device, coll, item, modseq, dtend) "
                     "VALUES (?1, ?2, ?3, ?4, (SELECT dtend FROM items WHERE id = ?3 AND "
                     "coll = ?2)) ON CONFLICT(device, coll, item) DO UPDATE SET "
                     "modseq = excluded.modseq, dtend = excluded.dtend",
    [E_MEMBER_DEL] = "DELETE FROM eas_members WHERE device = ?1 AND coll = ?2 AND item = ?3",
    [E_MEMBER_COUNT] = "SELECT count(*) FROM eas_members WHERE device = ?1 AND coll = ?2",
    [E_ITEM_GET_BY_ID] = "SELECT " ITEM_COLS " FROM items WHERE id = ?2 AND coll = ?1",
    [E_ITEM_GET_BY_ID_CONTENT] = "SELECT " ITEM_COLS ", (SELECT data FROM item_content c WHERE "
                                 "c.id = items.id) FROM items WHERE id = ?2 AND coll = ?1",
    /* Each half reads at most ?3 entries of its (coll, modseq) index. */
    [E_CHANGES_COUNT] = "SELECT (SELECT count(*) FROM (SELECT 1 FROM items WHERE coll = ?1 AND "
                        "modseq > ?2 LIMIT ?3)) + (SELECT count(*) FROM (SELECT 1 FROM "
                        "tombstones WHERE coll = ?1 AND modseq > ?2 LIMIT ?3))",
};

/* The cached statement `id` (reset and unbound between uses), or NULL with the error set. */
static sqlite3_stmt *eas_stmt(struct store *s, enum eas_stmt_id id)
{
    if (!sq(s)->c.eas_stmts) {
        sq(s)->c.eas_stmts = calloc(E_COUNT, sizeof(*sq(s)->c.eas_stmts));
        if (!sq(s)->c.eas_stmts) {
            abort(); /* STYLE.md §3.3: allocation failure aborts */
        }
    }
    return store_db_stmt_cached(s, &sq(s)->c.eas_stmts[id], eas_sql[id]);
}

void store_db_eas_free(struct store *s)
{
    if (!sq(s)->c.eas_stmts) {
        return;
    }
    for (int i = 0; i < E_COUNT; i++) {
        sqlite3_finalize(sq(s)->c.eas_stmts[i]);
    }
    free(sq(s)->c.eas_stmts);
    sq(s)->c.eas_stmts = NULL;
}

/* Binds a byte string, or NULL when it is empty. */
static void bind_bytes(sqlite3_stmt *st, int i, const void *p, size_t n)
{
    if (n > 0) {
        sqlite3_bind_blob64(st, i, p, n, SQLITE_STATIC);
    } else {
        sqlite3_bind_null(st, i);
    }
}

/* Column `i` as bytes in `arena`; NULL and 0 for an SQL NULL or an empty value. */
static const void *col_bytes(sqlite3_stmt *st, int i, struct arena *arena, size_t *n_out)
{
    *n_out = (size_t)sqlite3_column_bytes(st, i);
    const void *b = sqlite3_column_blob(st, i);
    if (!b || *n_out == 0) {
        *n_out = 0;
        return NULL;
    }
    return arena_memdup(arena, b, *n_out);
}

/* True when `t` is NULL (when allowed) or has min..max bytes. */
static bool text_ok(const char *t, size_t min, size_t max, bool null_ok)
{
    if (!t) {
        return null_ok;
    }
    size_t n = strnlen(t, max + 1);
    return n >= min && n <= max;
}

/* ---------------------------------------------------------------------------------------- */
/* Devices */

/* The identity of a DeviceId: its ASCII upper-case form (MS-ASHTTP ids are alphanumeric;
 * clients vary the case between requests). `key` has STORE_EAS_ID_MAX + 1 bytes. STORE_LIMIT
 * when the id is empty or too long. */
static enum store_rc device_key(struct store *s, const char *device_id, char *key)
{
    if (!text_ok(device_id, 1, STORE_EAS_ID_MAX, false)) {
        return store_db_fail_msg(s, STORE_LIMIT, "device id length out of bounds");
    }
    size_t i = 0;
    for (; device_id[i]; i++) {
        char c = device_id[i];
        key[i] = c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
    }
    key[i] = '\0';
    return STORE_OK;
}

static void read_device(sqlite3_stmt *st, struct arena *arena, struct store_eas_device *out)
{
    out->id = store_db_col_u64(st, 0);
    out->principal = store_db_col_u64(st, 1);
    out->device_id = store_db_col_text(st, 2, arena);
    out->device_type = store_db_col_text(st, 3, arena);
    out->user_agent = store_db_col_text(st, 4, arena);
    out->protocol = store_db_col_text(st, 5, arena);
    out->first_seen = sqlite3_column_int64(st, 6);
    out->last_seen = sqlite3_column_int64(st, 7);
    out->policy_key = (uint32_t)sqlite3_column_int64(st, 8);
    out->policy_pending = (uint32_t)sqlite3_column_int64(st, 9);
    out->model = store_db_col_text(st, 10, arena);
    out->friendly_name = store_db_col_text(st, 11, arena);
    out->os = store_db_col_text(st, 12, arena);
    out->os_language = store_db_col_text(st, 13, arena);
    out->imei = store_db_col_text(st, 14, arena);
    out->phone_number = store_db_col_text(st, 15, arena);
    out->mobile_operator = store_db_col_text(st, 16, arena);
}

/* Steps a statement that returns one device row (a lookup, or an INSERT/UPDATE ... RETURNING
 * run to its end), reading it into `out` when not NULL. STORE_NOTFOUND with `missing` as the
 * message when there is no row. */
static enum store_rc device_row(struct store *s,
                                sqlite3_stmt *st,
                                struct arena *arena,
                                struct store_eas_device *out,
                                const char *missing)
{
    enum store_rc rc = store_db_step_one(s, st);
    if (rc != STORE_OK) {
        store_db_reset(st);
        return rc == STORE_NOTFOUND ? store_db_fail_msg(s, rc, missing) : rc;
    }
    if (out) {
        read_device(st, arena, out);
    }
    return store_db_exec(s, st); /* finishes a RETURNING statement, then resets */
}

/* The cached statement `id` with (principal, the key of device_id) bound to ?1 and ?2, or
 * NULL (the reason in *rc_out). The key is written to `key` (STORE_EAS_ID_MAX + 1 bytes),
 * which the binding borrows: it must outlive the statement's use. */
static sqlite3_stmt *device_stmt(struct store *s,
                                 enum eas_stmt_id id,
                                 uint64_t principal,
                                 const char *device_id,
                                 char *key,
                                 enum store_rc *rc_out)
{
    *rc_out = device_key(s, device_id, key);
    if (*rc_out != STORE_OK) {
        return NULL;
    }
    sqlite3_stmt *st = eas_stmt(s, id);
    if (!st) {
        *rc_out = STORE_IO;
        return NULL;
    }
    store_db_bind_u64(st, 1, principal);
    store_db_bind_text(st, 2, key);
    return st;
}

enum store_rc store_sqlite_eas_device_get(struct store *s,
                                          uint64_t principal,
                                          const char *device_id,
                                          struct arena *arena,
                                          struct store_eas_device *out)
{
    char key[STORE_EAS_ID_MAX + 1];
    enum store_rc rc = STORE_OK;
    sqlite3_stmt *st = device_stmt(s, E_DEVICE_GET, principal, device_id, key, &rc);
    return st ? device_row(s, st, arena, out, "no such device") : rc;
}

/* STORE_LIMIT when the principal already has `max_devices` devices (0: no cap). */
static enum store_rc check_device_cap(struct store *s, uint64_t principal, unsigned max_devices)
{
    if (max_devices == 0) {
        return STORE_OK;
    }
    sqlite3_stmt *st = eas_stmt(s, E_DEVICE_COUNT);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_u64(st, 1, principal);
    enum store_rc rc = store_db_step_one(s, st);
    uint64_t n = rc == STORE_OK ? store_db_col_u64(st, 0) : 0;
    store_db_reset(st);
    if (rc == STORE_OK && n >= max_devices) {
        return store_db_fail_msg(s, STORE_LIMIT, "the user has the maximum number of devices");
    }
    return rc;
}

/* Creates the device after the cap check; the principal's foreign key is the only
 * constraint the insert can break, so a constraint error means no such principal. */
static enum store_rc device_create(struct store *s,
                                   uint64_t principal,
                                   const char *key,
                                   const char *device_id,
                                   const char *device_type,
                                   const char *user_agent,
                                   const char *protocol,
                                   int64_t now,
                                   unsigned max_devices,
                                   struct arena *arena,
                                   struct store_eas_device *out)
{
    enum store_rc rc = check_device_cap(s, principal, max_devices);
    sqlite3_stmt *st = rc == STORE_OK ? eas_stmt(s, E_DEVICE_INSERT) : NULL;
    if (!st) {
        return rc == STORE_OK ? STORE_IO : rc;
    }
    store_db_bind_u64(st, 1, principal);
    store_db_bind_text(st, 2, key);
    store_db_bind_text(st, 3, device_id);
    store_db_bind_text(st, 4, device_type ? device_type : "");
    store_db_bind_text(st, 5, user_agent);
    store_db_bind_text(st, 6, protocol);
    sqlite3_bind_int64(st, 7, now);
    rc = device_row(s, st, arena, out, "device insert returned no row");
    return rc == STORE_CONFLICT ? store_db_fail_msg(s, STORE_NOTFOUND, "no such principal") : rc;
}

enum store_rc store_sqlite_eas_device_touch(struct store *s,
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
    if (!text_ok(device_type, 0, STORE_EAS_ID_MAX, true) ||
        !text_ok(user_agent, 0, STORE_EAS_TEXT_MAX, true) ||
        !text_ok(protocol, 0, STORE_EAS_TEXT_MAX, true)) {
        return store_db_fail_msg(s, STORE_LIMIT, "device type, user agent or protocol too long");
    }
    char key[STORE_EAS_ID_MAX + 1];
    enum store_rc rc = STORE_OK;
    sqlite3_stmt *st = device_stmt(s, E_DEVICE_GET, principal, device_id, key, &rc);
    if (!st) {
        return rc;
    }
    struct store_eas_device d; /* only d.id is read: the strings go with the reset */
    rc = device_row(s, st, NULL, &d, "no such device");
    if (rc == STORE_NOTFOUND) {
        return device_create(s, principal, key, device_id, device_type, user_agent, protocol, now,
                             max_devices, arena, out);
    }
    st = rc == STORE_OK ? eas_stmt(s, E_DEVICE_UPDATE) : NULL;
    if (!st) {
        return rc == STORE_OK ? STORE_IO : rc;
    }
    store_db_bind_u64(st, 1, d.id);
    store_db_bind_text(st, 2, device_type);
    store_db_bind_text(st, 3, user_agent);
    store_db_bind_text(st, 4, protocol);
    sqlite3_bind_int64(st, 5, now);
    return device_row(s, st, arena, out, "no such device");
}

/* Runs an UPDATE/DELETE by key; STORE_NOTFOUND with `missing` when it changed no row. */
static enum store_rc exec_changing(struct store *s, sqlite3_stmt *st, const char *missing)
{
    enum store_rc rc = store_db_exec(s, st);
    if (rc == STORE_OK && sqlite3_changes(sq(s)->c.db) == 0) {
        return store_db_fail_msg(s, STORE_NOTFOUND, missing);
    }
    return rc;
}

enum store_rc store_sqlite_eas_device_seen(struct store *s, uint64_t device, int64_t when)
{
    sqlite3_stmt *st = eas_stmt(s, E_DEVICE_SEEN);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_u64(st, 1, device);
    sqlite3_bind_int64(st, 2, when);
    return store_db_exec(s, st);
}

enum store_rc store_sqlite_eas_device_set_policy(struct store *s,
                                                 uint64_t device,
                                                 uint32_t pending,
                                                 uint32_t final_key)
{
    sqlite3_stmt *st = eas_stmt(s, E_DEVICE_SET_POLICY);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_u64(st, 1, device);
    sqlite3_bind_int64(st, 2, pending);
    sqlite3_bind_int64(st, 3, final_key);
    return exec_changing(s, st, "no such device");
}

enum store_rc store_sqlite_eas_device_set_info(struct store *s,
                                               uint64_t device,
                                               const struct store_eas_device *info)
{
    const char *const fields[] = {info->model,          info->friendly_name, info->os,
                                  info->os_language,    info->imei,          info->phone_number,
                                  info->mobile_operator};
    for (size_t i = 0; i < ALM_ARRAY_LEN(fields); i++) {
        if (!text_ok(fields[i], 0, STORE_EAS_TEXT_MAX, true)) {
            return store_db_fail_msg(s, STORE_LIMIT, "device information field too long");
        }
    }
    sqlite3_stmt *st = eas_stmt(s, E_DEVICE_SET_INFO);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_u64(st, 1, device);
    for (size_t i = 0; i < ALM_ARRAY_LEN(fields); i++) {
        store_db_bind_text(st, (int)i + 2, fields[i]);
    }
    return exec_changing(s, st, "no such device");
}

struct device_cb {
    store_eas_device_fn *fn;
    void *ctx;
};

static int device_list_row(sqlite3_stmt *st, void *cb)
{
    struct device_cb *c = cb;
    struct store_eas_device d;
    read_device(st, NULL, &d);
    return c->fn(c->ctx, &d);
}

enum store_rc store_sqlite_eas_device_list(struct store *s,
                                           uint64_t principal,
                                           store_eas_device_fn *fn,
                                           void *ctx)
{
    sqlite3_stmt *st = eas_stmt(s, E_DEVICE_LIST);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_u64(st, 1, principal);
    struct device_cb cb = {fn, ctx};
    return store_db_each_row(s, st, device_list_row, &cb);
}

enum store_rc
store_sqlite_eas_device_del(struct store *s, uint64_t principal, const char *device_id)
{
    char key[STORE_EAS_ID_MAX + 1];
    enum store_rc rc = STORE_OK;
    sqlite3_stmt *st = device_stmt(s, E_DEVICE_DEL, principal, device_id, key, &rc);
    return st ? exec_changing(s, st, "no such device") : rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Blobs */

/* The cached statement `id` with (device, name) bound, or NULL (the reason in *rc_out). */
static sqlite3_stmt *blob_stmt(
    struct store *s, enum eas_stmt_id id, uint64_t device, const char *name, enum store_rc *rc_out)
{
    if (!text_ok(name, 1, STORE_EAS_BLOB_NAME_MAX, false)) {
        *rc_out = store_db_fail_msg(s, STORE_LIMIT, "blob name length out of bounds");
        return NULL;
    }
    sqlite3_stmt *st = eas_stmt(s, id);
    if (!st) {
        *rc_out = STORE_IO;
        return NULL;
    }
    store_db_bind_u64(st, 1, device);
    store_db_bind_text(st, 2, name);
    return st;
}

enum store_rc store_sqlite_eas_blob_put(
    struct store *s, uint64_t device, const char *name, const void *p, size_t n)
{
    enum store_rc rc = STORE_OK;
    sqlite3_stmt *st = blob_stmt(s, E_BLOB_PUT, device, name, &rc);
    if (!st) {
        return rc;
    }
    sqlite3_bind_blob64(st, 3, n ? p : "", n, SQLITE_STATIC);
    rc = store_db_exec(s, st);
    /* the device's foreign key is the only constraint left to break */
    return rc == STORE_CONFLICT ? store_db_fail_msg(s, STORE_NOTFOUND, "no such device") : rc;
}

enum store_rc store_sqlite_eas_blob_get(struct store *s,
                                        uint64_t device,
                                        const char *name,
                                        struct arena *arena,
                                        const void **p_out,
                                        size_t *n_out)
{
    enum store_rc rc = STORE_OK;
    sqlite3_stmt *st = blob_stmt(s, E_BLOB_GET, device, name, &rc);
    if (!st) {
        return rc;
    }
    rc = store_db_step_one(s, st);
    if (rc == STORE_OK) {
        const void *b = sqlite3_column_blob(st, 0);
        *n_out = (size_t)sqlite3_column_bytes(st, 0);
        *p_out = arena_memdup(arena, b ? b : "", *n_out);
    } else if (rc == STORE_NOTFOUND) {
        store_db_fail_msg(s, STORE_NOTFOUND, "no such blob");
    }
    store_db_reset(st);
    return rc;
}

enum store_rc store_sqlite_eas_blob_del(struct store *s, uint64_t device, const char *name)
{
    enum store_rc rc = STORE_OK;
    sqlite3_stmt *st = blob_stmt(s, E_BLOB_DEL, device, name, &rc);
    return st ? store_db_exec(s, st) : rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Sync state and membership */

/* The cached statement `id` with its key bound to ?1 and ?2 ((device, coll) for the sync
 * state; (coll, item) or (coll, since) for the item queries), or NULL. */
static sqlite3_stmt *key_stmt(struct store *s, enum eas_stmt_id id, uint64_t k1, uint64_t k2)
{
    sqlite3_stmt *st = eas_stmt(s, id);
    if (st) {
        store_db_bind_u64(st, 1, k1);
        store_db_bind_u64(st, 2, k2);
    }
    return st;
}

/* The cached member statement `id` with (device, coll, item) bound, or NULL. */
static sqlite3_stmt *
member_stmt(struct store *s, enum eas_stmt_id id, uint64_t device, uint64_t coll, uint64_t item)
{
    sqlite3_stmt *st = key_stmt(s, id, device, coll);
    if (st) {
        store_db_bind_u64(st, 3, item);
    }
    return st;
}

enum store_rc
store_sqlite_eas_sync_cursor(struct store *s, uint64_t device, uint64_t coll, uint64_t *cursor_out)
{
    sqlite3_stmt *st = key_stmt(s, E_SYNC_CURSOR, device, coll);
    if (!st) {
        return STORE_IO;
    }
    enum store_rc rc = store_db_step_one(s, st);
    if (rc == STORE_OK) {
        *cursor_out = store_db_col_u64(st, 0);
    }
    store_db_reset(st);
    return rc;
}

enum store_rc store_sqlite_eas_sync_get(struct store *s,
                                        uint64_t device,
                                        uint64_t coll,
                                        struct arena *arena,
                                        struct store_eas_sync *out)
{
    sqlite3_stmt *st = key_stmt(s, E_SYNC_GET, device, coll);
    if (!st) {
        return STORE_IO;
    }
    enum store_rc rc = store_db_step_one(s, st);
    if (rc == STORE_OK) {
        out->device = store_db_col_u64(st, 0);
        out->coll = store_db_col_u64(st, 1);
        out->key_cur = store_db_col_text(st, 2, arena);
        out->key_prev = store_db_col_text(st, 3, arena);
        out->cursor = store_db_col_u64(st, 4);
        out->coll_epoch = store_db_col_u64(st, 5);
        out->options = col_bytes(st, 6, arena, &out->options_len);
        out->answer = col_bytes(st, 7, arena, &out->answer_len);
        out->updated = sqlite3_column_int64(st, 8);
    } else if (rc == STORE_NOTFOUND) {
        store_db_fail_msg(s, rc, "no sync state");
    }
    store_db_reset(st);
    return rc;
}

enum store_rc store_sqlite_eas_sync_put(struct store *s, const struct store_eas_sync *in)
{
    if (!text_ok(in->key_cur, 1, STORE_EAS_KEY_MAX, false) ||
        !text_ok(in->key_prev, 0, STORE_EAS_KEY_MAX, true)) {
        return store_db_fail_msg(s, STORE_LIMIT, "sync key length out of bounds");
    }
    sqlite3_stmt *st = key_stmt(s, E_SYNC_PUT, in->device, in->coll);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_text(st, 3, in->key_cur);
    store_db_bind_text(st, 4, in->key_prev);
    store_db_bind_u64(st, 5, in->cursor);
    store_db_bind_u64(st, 6, in->coll_epoch);
    bind_bytes(st, 7, in->options, in->options_len);
    bind_bytes(st, 8, in->answer, in->answer_len);
    sqlite3_bind_int64(st, 9, in->updated);
    enum store_rc rc = store_db_exec(s, st);
    /* the device's and the collection's foreign keys are the only constraints left */
    return rc == STORE_CONFLICT ? store_db_fail_msg(s, STORE_NOTFOUND,
                                                    "no such device or "
                                                    "collection")
                                : rc;
}

enum store_rc store_sqlite_eas_sync_reset(struct store *s, uint64_t device, uint64_t coll)
{
    sqlite3_stmt *st = key_stmt(s, E_SYNC_RESET, device, coll);
    return st ? store_db_exec(s, st) : STORE_IO;
}

enum store_rc store_sqlite_eas_member_get(
    struct store *s, uint64_t device, uint64_t coll, uint64_t item, uint64_t *modseq_out)
{
    sqlite3_stmt *st = member_stmt(s, E_MEMBER_GET, device, coll, item);
    if (!st) {
        return STORE_IO;
    }
    enum store_rc rc = store_db_step_one(s, st);
    if (rc == STORE_OK) {
        *modseq_out = store_db_col_u64(st, 0);
    } else if (rc == STORE_NOTFOUND) {
        store_db_fail_msg(s, rc, "not a member");
    }
    store_db_reset(st);
    return rc;
}

enum store_rc store_sqlite_eas_member_put(
    struct store *s, uint64_t device, uint64_t coll, uint64_t item, uint64_t modseq)
{
    sqlite3_stmt *st = member_stmt(s, E_MEMBER_PUT, device, coll, item);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_u64(st, 4, modseq);
    enum store_rc rc = store_db_exec(s, st);
    /* the sync state's foreign key is the only constraint left */
    return rc == STORE_CONFLICT ? store_db_fail_msg(s, STORE_NOTFOUND, "no sync state") : rc;
}

enum store_rc
store_sqlite_eas_member_del(struct store *s, uint64_t device, uint64_t coll, uint64_t item)
{
    sqlite3_stmt *st = member_stmt(s, E_MEMBER_DEL, device, coll, item);
    return st ? store_db_exec(s, st) : STORE_IO;
}

enum store_rc
store_sqlite_eas_member_count(struct store *s, uint64_t device, uint64_t coll, uint64_t *n_out)
{
    sqlite3_stmt *st = key_stmt(s, E_MEMBER_COUNT, device, coll);
    if (!st) {
        return STORE_IO;
    }
    enum store_rc rc = store_db_step_one(s, st);
    *n_out = rc == STORE_OK ? store_db_col_u64(st, 0) : 0;
    store_db_reset(st);
    return rc;
}

enum store_rc store_sqlite_eas_members_aged_open(struct store *s,
                                                 uint64_t device,
                                                 uint64_t coll,
                                                 int64_t cutoff,
                                                 unsigned limit,
                                                 struct store_cursor **out)
{
    sqlite3_stmt *st = store_db_cursor_open(s, CQ_EAS_AGED, out);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_u64(st, 1, device);
    store_db_bind_u64(st, 2, coll);
    sqlite3_bind_int64(st, 3, cutoff);
    sqlite3_bind_int64(st, 4, limit);
    return STORE_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Item queries */

enum store_rc store_sqlite_item_get_by_id(struct store *s,
                                          uint64_t coll,
                                          uint64_t id,
                                          enum store_item_flags flags,
                                          struct arena *arena,
                                          struct store_item *out)
{
    bool content = (flags & STORE_ITEM_CONTENT) != 0;
    sqlite3_stmt *st = key_stmt(s, content ? E_ITEM_GET_BY_ID_CONTENT : E_ITEM_GET_BY_ID, coll, id);
    return st ? store_db_item_row(s, st, content, arena, out) : STORE_IO;
}

enum store_rc store_sqlite_changes_count(
    struct store *s, uint64_t coll, uint64_t since, uint64_t cap, uint64_t *n_out)
{
    sqlite3_stmt *st = key_stmt(s, E_CHANGES_COUNT, coll, since);
    if (!st) {
        return STORE_IO;
    }
    /* LIMIT takes a signed 64-bit value; a negative one (cap > INT64_MAX) means no limit */
    sqlite3_bind_int64(st, 3, (sqlite3_int64)cap);
    enum store_rc rc = store_db_step_one(s, st);
    uint64_t n = rc == STORE_OK ? store_db_col_u64(st, 0) : 0;
    store_db_reset(st);
    *n_out = n < cap ? n : cap;
    return rc;
}
