/* store/store_pg_eas.c: ActiveSync device state on PostgreSQL (schema_pg/004, store.h
 * "ActiveSync device state"), as store_sqlite_eas.c: devices by (principal, upper-cased
 * DeviceId), blobs, the sync state of each (device, collection) and its membership. Opaque
 * bytes and numbers; every node sees the same rows, so a device may move between nodes.
 * SQLite turns a foreign-key failure into STORE_NOTFOUND after the fact; here an error would
 * abort the caller's transaction, so the row a write hangs off is looked up first, and a
 * device first seen by two requests at once is one upsert (ON CONFLICT DO UPDATE). The
 * aged-members cursor is store_pg_cursor.c's. */
#include <string.h>

#include <libpq-fe.h>

#include "store/store.h"
#include "store/store_pg_int.h"
#include "util/compiler.h"
#include "util/parse.h"

#define DEV_COLS                                                                            \
  "id, principal, device_id, device_type, user_agent, protocol, first_seen, last_seen, "    \
  "policy_key, policy_pending, model, friendly_name, os, os_language, imei, phone_number, " \
  "mobile_operator"

/* True when `t` is NULL (when allowed) or has min..max bytes. */
static bool text_ok(const char *t, size_t min, size_t max, bool null_ok)
{
    if (!t) {
        return null_ok;
    }
    size_t n = strnlen(t, max + 1);
    return n >= min && n <= max;
}

/* PostgreSQL's text holds only well-formed UTF-8, and a device sends any bytes (a Model, a
 * User-Agent; a SQLite store keeps them as they came): each byte outside a well-formed
 * sequence is stored as '?', as `almanac device list` shows it anyway. `t` itself (or NULL)
 * when it is well-formed, else its copy in `buf`; `t` has at most STORE_EAS_TEXT_MAX bytes. */
static const char *storable(const char *t, char buf[STORE_EAS_TEXT_MAX + 1])
{
    if (!t || parse_utf8_ok(slice_from_cstr(t))) {
        return t;
    }
    const unsigned char *p = (const unsigned char *)t;
    size_t n = strlen(t), i = 0;
    while (i < n && i < STORE_EAS_TEXT_MAX) {
        size_t len = parse_utf8_char(p + i, n - i);
        if (len == 0) {
            buf[i++] = '?';
        } else {
            memcpy(buf + i, p + i, len);
            i += len;
        }
    }
    buf[i] = '\0';
    return buf;
}

/* A row exists for `sql` over `p`: STORE_OK, or STORE_NOTFOUND with `missing`. */
static enum store_rc
must_exist(struct store *s, const char *sql, const struct store_pg_params *p, const char *missing)
{
    PGresult *res = NULL;
    enum store_rc rc = store_pg_exec(s, sql, p, &res);
    if (rc == STORE_OK && PQntuples(res) == 0) {
        rc = store_pg_fail_msg(s, STORE_NOTFOUND, missing);
    }
    PQclear(res);
    return rc;
}

static enum store_rc device_exists(struct store *s, uint64_t device)
{
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, device);
    return must_exist(s, "SELECT 1 FROM eas_devices WHERE id = $1", &p, "no such device");
}

/* ---------------------------------------------------------------------------------------- */
/* Devices */

/* The identity of a DeviceId: its ASCII upper-case form. STORE_LIMIT when empty or too long. */
static enum store_rc device_key(struct store *s, const char *device_id, char *key)
{
    if (!text_ok(device_id, 1, STORE_EAS_ID_MAX, false)) {
        return store_pg_fail_msg(s, STORE_LIMIT, "device id length out of bounds");
    }
    size_t i = 0;
    for (; device_id[i]; i++) {
        char c = device_id[i];
        key[i] = c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
    }
    key[i] = '\0';
    return STORE_OK;
}

static void
read_device(const PGresult *res, int row, struct arena *arena, struct store_eas_device *out)
{
    out->id = store_pg_col_u64(res, row, 0);
    out->principal = store_pg_col_u64(res, row, 1);
    out->device_id = store_pg_col_text(res, row, 2, arena);
    out->device_type = store_pg_col_text(res, row, 3, arena);
    out->user_agent = store_pg_col_text(res, row, 4, arena);
    out->protocol = store_pg_col_text(res, row, 5, arena);
    out->first_seen = store_pg_col_i64(res, row, 6);
    out->last_seen = store_pg_col_i64(res, row, 7);
    out->policy_key = (uint32_t)store_pg_col_i64(res, row, 8);
    out->policy_pending = (uint32_t)store_pg_col_i64(res, row, 9);
    out->model = store_pg_col_text(res, row, 10, arena);
    out->friendly_name = store_pg_col_text(res, row, 11, arena);
    out->os = store_pg_col_text(res, row, 12, arena);
    out->os_language = store_pg_col_text(res, row, 13, arena);
    out->imei = store_pg_col_text(res, row, 14, arena);
    out->phone_number = store_pg_col_text(res, row, 15, arena);
    out->mobile_operator = store_pg_col_text(res, row, 16, arena);
}

/* A statement returning one device row into `out` (may be NULL); STORE_NOTFOUND with
 * `missing` when none. */
static enum store_rc device_row(struct store *s,
                                const char *sql,
                                const struct store_pg_params *p,
                                struct arena *arena,
                                struct store_eas_device *out,
                                const char *missing)
{
    PGresult *res = NULL;
    enum store_rc rc = store_pg_exec(s, sql, p, &res);
    if (rc == STORE_OK && PQntuples(res) == 0) {
        rc = store_pg_fail_msg(s, STORE_NOTFOUND, missing);
    }
    if (rc == STORE_OK && out) {
        read_device(res, 0, arena, out);
    }
    PQclear(res);
    return rc;
}

enum store_rc store_pg_eas_device_get(struct store *s,
                                      uint64_t principal,
                                      const char *device_id,
                                      struct arena *arena,
                                      struct store_eas_device *out)
{
    char key[STORE_EAS_ID_MAX + 1];
    enum store_rc rc = device_key(s, device_id, key);
    if (rc != STORE_OK) {
        return rc;
    }
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, principal);
    store_pg_p_text(&p, key);
    return device_row(s,
                      "SELECT " DEV_COLS " FROM eas_devices WHERE principal = $1 AND "
                      "device_key = $2",
                      &p, arena, out, "no such device");
}

enum store_rc store_pg_eas_device_touch(struct store *s,
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
        return store_pg_fail_msg(s, STORE_LIMIT, "device type, user agent or protocol too long");
    }
    char key[STORE_EAS_ID_MAX + 1];
    enum store_rc rc = device_key(s, device_id, key);
    if (rc != STORE_OK) {
        return rc;
    }
    char type_buf[STORE_EAS_TEXT_MAX + 1];
    char ua_buf[STORE_EAS_TEXT_MAX + 1];
    char protocol_buf[STORE_EAS_TEXT_MAX + 1];
    device_type = storable(device_type, type_buf);
    user_agent = storable(user_agent, ua_buf);
    protocol = storable(protocol, protocol_buf);
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, principal);
    store_pg_p_text(&p, key);
    store_pg_p_text(&p, device_type);
    store_pg_p_text(&p, user_agent);
    store_pg_p_text(&p, protocol);
    store_pg_p_i64(&p, now);
    rc = device_row(s,
                    "UPDATE eas_devices SET device_type = coalesce($3, device_type), "
                    "user_agent = coalesce($4, user_agent), protocol = coalesce($5, protocol), "
                    "last_seen = $6 WHERE principal = $1 AND device_key = $2 RETURNING " DEV_COLS,
                    &p, arena, out, "no such device");
    if (rc != STORE_NOTFOUND) {
        return rc;
    }
    /* A new device: the principal exists, the cap, then one upsert (a concurrent first
     * request for the same device updates the row the other made). */
    struct store_pg_params q = {0};
    store_pg_p_u64(&q, principal);
    rc = must_exist(s, "SELECT 1 FROM principals WHERE id = $1", &q, "no such principal");
    if (rc == STORE_OK && max_devices > 0) {
        PGresult *res = NULL;
        rc = store_pg_exec(s, "SELECT count(*) FROM eas_devices WHERE principal = $1", &q, &res);
        if (rc == STORE_OK && store_pg_col_u64(res, 0, 0) >= max_devices) {
            rc = store_pg_fail_msg(s, STORE_LIMIT, "the user has the maximum number of devices");
        }
        PQclear(res);
    }
    if (rc != STORE_OK) {
        return rc;
    }
    struct store_pg_params r = {0};
    store_pg_p_u64(&r, principal);
    store_pg_p_text(&r, key);
    store_pg_p_text(&r, device_id);
    store_pg_p_text(&r, device_type ? device_type : "");
    store_pg_p_text(&r, user_agent);
    store_pg_p_text(&r, protocol);
    store_pg_p_i64(&r, now);
    return device_row(
        s,
        "INSERT INTO eas_devices(principal, device_key, device_id, device_type, user_agent, "
        "protocol, first_seen, last_seen) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) "
        "ON CONFLICT (principal, device_key) DO UPDATE SET last_seen = excluded.last_seen "
        "RETURNING " DEV_COLS,
        &r, arena, out, "device insert returned no row");
}

/* An UPDATE/DELETE over `p`; STORE_NOTFOUND with `missing` when it changed no row. */
static enum store_rc
run_changing(struct store *s, const char *sql, const struct store_pg_params *p, const char *missing)
{
    uint64_t n = 0;
    enum store_rc rc = store_pg_run(s, sql, p, &n);
    return rc == STORE_OK && n == 0 ? store_pg_fail_msg(s, STORE_NOTFOUND, missing) : rc;
}

enum store_rc store_pg_eas_device_seen(struct store *s, uint64_t device, int64_t when)
{
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, device);
    store_pg_p_i64(&p, when);
    return store_pg_run(s, "UPDATE eas_devices SET last_seen = $2 WHERE id = $1 AND last_seen < $2",
                        &p, NULL);
}

enum store_rc store_pg_eas_device_set_policy(struct store *s,
                                             uint64_t device,
                                             uint32_t pending,
                                             uint32_t final_key)
{
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, device);
    store_pg_p_u64(&p, pending);
    store_pg_p_u64(&p, final_key);
    return run_changing(s,
                        "UPDATE eas_devices SET policy_pending = $2, policy_key = $3 WHERE id = $1",
                        &p, "no such device");
}

enum store_rc
store_pg_eas_device_set_info(struct store *s, uint64_t device, const struct store_eas_device *info)
{
    const char *const fields[] = {info->model,          info->friendly_name, info->os,
                                  info->os_language,    info->imei,          info->phone_number,
                                  info->mobile_operator};
    char bufs[ALM_ARRAY_LEN(fields)][STORE_EAS_TEXT_MAX + 1];
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, device);
    for (size_t i = 0; i < ALM_ARRAY_LEN(fields); i++) {
        if (!text_ok(fields[i], 0, STORE_EAS_TEXT_MAX, true)) {
            return store_pg_fail_msg(s, STORE_LIMIT, "device information field too long");
        }
        store_pg_p_text(&p, storable(fields[i], bufs[i]));
    }
    return run_changing(s,
                        "UPDATE eas_devices SET model = coalesce($2, model), "
                        "friendly_name = coalesce($3, friendly_name), os = coalesce($4, os), "
                        "os_language = coalesce($5, os_language), imei = coalesce($6, imei), "
                        "phone_number = coalesce($7, phone_number), "
                        "mobile_operator = coalesce($8, mobile_operator) WHERE id = $1",
                        &p, "no such device");
}

/* A principal's devices are few (capped by max_devices): one result. */
enum store_rc
store_pg_eas_device_list(struct store *s, uint64_t principal, store_eas_device_fn *fn, void *ctx)
{
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, principal);
    PGresult *res = NULL;
    enum store_rc rc = store_pg_exec(s,
                                     "SELECT " DEV_COLS " FROM eas_devices WHERE principal = $1 "
                                     "ORDER BY device_key COLLATE \"C\"",
                                     &p, &res);
    for (int i = 0; rc == STORE_OK && i < PQntuples(res); i++) {
        struct store_eas_device d;
        read_device(res, i, NULL, &d);
        if (fn(ctx, &d) != 0) {
            break;
        }
    }
    PQclear(res);
    return rc;
}

/* Blobs, sync states and (through them) members cascade. */
enum store_rc store_pg_eas_device_del(struct store *s, uint64_t principal, const char *device_id)
{
    char key[STORE_EAS_ID_MAX + 1];
    enum store_rc rc = device_key(s, device_id, key);
    if (rc != STORE_OK) {
        return rc;
    }
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, principal);
    store_pg_p_text(&p, key);
    return run_changing(s, "DELETE FROM eas_devices WHERE principal = $1 AND device_key = $2", &p,
                        "no such device");
}

/* ---------------------------------------------------------------------------------------- */
/* Blobs */

static enum store_rc
blob_params(struct store *s, struct store_pg_params *p, uint64_t device, const char *name)
{
    if (!text_ok(name, 1, STORE_EAS_BLOB_NAME_MAX, false)) {
        return store_pg_fail_msg(s, STORE_LIMIT, "blob name length out of bounds");
    }
    store_pg_p_u64(p, device);
    store_pg_p_text(p, name);
    return STORE_OK;
}

enum store_rc store_pg_eas_blob_put(
    struct store *s, uint64_t device, const char *name, const void *data, size_t n)
{
    struct store_pg_params p = {0};
    enum store_rc rc = blob_params(s, &p, device, name);
    if (rc == STORE_OK) {
        rc = device_exists(s, device);
    }
    if (rc != STORE_OK) {
        return rc;
    }
    store_pg_p_bytes(&p, data, n);
    return store_pg_run(s,
                        "INSERT INTO eas_blobs(device, name, data) VALUES ($1, $2, $3) "
                        "ON CONFLICT (device, name) DO UPDATE SET data = excluded.data",
                        &p, NULL);
}

enum store_rc store_pg_eas_blob_get(struct store *s,
                                    uint64_t device,
                                    const char *name,
                                    struct arena *arena,
                                    const void **p_out,
                                    size_t *n_out)
{
    struct store_pg_params p = {0};
    enum store_rc rc = blob_params(s, &p, device, name);
    if (rc != STORE_OK) {
        return rc;
    }
    PGresult *res = NULL;
    rc = store_pg_exec(s, "SELECT data FROM eas_blobs WHERE device = $1 AND name = $2", &p, &res);
    if (rc == STORE_OK && PQntuples(res) == 0) {
        rc = store_pg_fail_msg(s, STORE_NOTFOUND, "no such blob");
    }
    if (rc == STORE_OK) {
        *n_out = (size_t)PQgetlength(res, 0, 0);
        *p_out = arena_memdup(arena, PQgetvalue(res, 0, 0), *n_out);
    }
    PQclear(res);
    return rc;
}

enum store_rc store_pg_eas_blob_del(struct store *s, uint64_t device, const char *name)
{
    struct store_pg_params p = {0};
    enum store_rc rc = blob_params(s, &p, device, name);
    return rc == STORE_OK
               ? store_pg_run(s, "DELETE FROM eas_blobs WHERE device = $1 AND name = $2", &p, NULL)
               : rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Sync state and membership */

static void key_params(struct store_pg_params *p, uint64_t k1, uint64_t k2)
{
    store_pg_p_u64(p, k1);
    store_pg_p_u64(p, k2);
}

/* Bytes of column `col` in `arena`; NULL and 0 for an SQL NULL or an empty value. */
static const void *
col_bytes(const PGresult *res, int row, int col, struct arena *arena, size_t *n_out)
{
    *n_out = PQgetisnull(res, row, col) ? 0 : (size_t)PQgetlength(res, row, col);
    return *n_out ? arena_memdup(arena, PQgetvalue(res, row, col), *n_out) : NULL;
}

enum store_rc
store_pg_eas_sync_cursor(struct store *s, uint64_t device, uint64_t coll, uint64_t *cursor_out)
{
    struct store_pg_params p = {0};
    key_params(&p, device, coll);
    PGresult *res = NULL;
    enum store_rc rc =
        store_pg_exec(s, "SELECT cursor FROM eas_sync WHERE device = $1 AND coll = $2", &p, &res);
    if (rc == STORE_OK && PQntuples(res) == 0) {
        rc = STORE_NOTFOUND;
    }
    if (rc == STORE_OK) {
        *cursor_out = store_pg_col_u64(res, 0, 0);
    }
    PQclear(res);
    return rc;
}

enum store_rc store_pg_eas_sync_get(struct store *s,
                                    uint64_t device,
                                    uint64_t coll,
                                    struct arena *arena,
                                    struct store_eas_sync *out)
{
    struct store_pg_params p = {0};
    key_params(&p, device, coll);
    PGresult *res = NULL;
    enum store_rc rc = store_pg_exec(s,
                                     "SELECT device, coll, key_cur, key_prev, cursor, coll_epoch, "
                                     "options, answer, updated FROM eas_sync WHERE device = $1 "
                                     "AND coll = $2",
                                     &p, &res);
    if (rc == STORE_OK && PQntuples(res) == 0) {
        rc = store_pg_fail_msg(s, STORE_NOTFOUND, "no sync state");
    }
    if (rc == STORE_OK) {
        out->device = store_pg_col_u64(res, 0, 0);
        out->coll = store_pg_col_u64(res, 0, 1);
        out->key_cur = store_pg_col_text(res, 0, 2, arena);
        out->key_prev = store_pg_col_text(res, 0, 3, arena);
        out->cursor = store_pg_col_u64(res, 0, 4);
        out->coll_epoch = store_pg_col_u64(res, 0, 5);
        out->options = col_bytes(res, 0, 6, arena, &out->options_len);
        out->answer = col_bytes(res, 0, 7, arena, &out->answer_len);
        out->updated = store_pg_col_i64(res, 0, 8);
    }
    PQclear(res);
    return rc;
}

/* An update in place (ON CONFLICT DO UPDATE), never a delete and insert, which would cascade
 * to the membership. */
enum store_rc store_pg_eas_sync_put(struct store *s, const struct store_eas_sync *in)
{
    if (!text_ok(in->key_cur, 1, STORE_EAS_KEY_MAX, false) ||
        !text_ok(in->key_prev, 0, STORE_EAS_KEY_MAX, true)) {
        return store_pg_fail_msg(s, STORE_LIMIT, "sync key length out of bounds");
    }
    struct store_pg_params p = {0};
    key_params(&p, in->device, in->coll);
    enum store_rc rc = must_exist(s,
                                  "SELECT 1 FROM eas_devices d, collections c WHERE d.id = $1 "
                                  "AND c.id = $2",
                                  &p, "no such device or collection");
    if (rc != STORE_OK) {
        return rc;
    }
    store_pg_p_text(&p, in->key_cur);
    store_pg_p_text(&p, in->key_prev);
    store_pg_p_u64(&p, in->cursor);
    store_pg_p_u64(&p, in->coll_epoch);
    if (in->options_len) {
        store_pg_p_bytes(&p, in->options, in->options_len);
    } else {
        store_pg_p_text(&p, NULL);
    }
    if (in->answer_len) {
        store_pg_p_bytes(&p, in->answer, in->answer_len);
    } else {
        store_pg_p_text(&p, NULL);
    }
    store_pg_p_i64(&p, in->updated);
    return store_pg_run(s,
                        "INSERT INTO eas_sync(device, coll, key_cur, key_prev, cursor, coll_epoch, "
                        "options, answer, updated) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
                        "ON CONFLICT (device, coll) DO UPDATE SET key_cur = excluded.key_cur, "
                        "key_prev = excluded.key_prev, cursor = excluded.cursor, "
                        "coll_epoch = excluded.coll_epoch, options = excluded.options, "
                        "answer = excluded.answer, updated = excluded.updated",
                        &p, NULL);
}

/* Members cascade. */
enum store_rc store_pg_eas_sync_reset(struct store *s, uint64_t device, uint64_t coll)
{
    struct store_pg_params p = {0};
    key_params(&p, device, coll);
    return store_pg_run(s, "DELETE FROM eas_sync WHERE device = $1 AND coll = $2", &p, NULL);
}

enum store_rc store_pg_eas_member_get(
    struct store *s, uint64_t device, uint64_t coll, uint64_t item, uint64_t *modseq_out)
{
    struct store_pg_params p = {0};
    key_params(&p, device, coll);
    store_pg_p_u64(&p, item);
    PGresult *res = NULL;
    enum store_rc rc = store_pg_exec(
        s, "SELECT modseq FROM eas_members WHERE device = $1 AND coll = $2 AND item = $3", &p,
        &res);
    if (rc == STORE_OK && PQntuples(res) == 0) {
        rc = store_pg_fail_msg(s, STORE_NOTFOUND, "not a member");
    }
    if (rc == STORE_OK) {
        *modseq_out = store_pg_col_u64(res, 0, 0);
    }
    PQclear(res);
    return rc;
}

/* dtend: the live item's span end when it is in `coll` (NULL otherwise). */
enum store_rc store_pg_eas_member_put(
    struct store *s, uint64_t device, uint64_t coll, uint64_t item, uint64_t modseq)
{
    /* one statement: the row only when the sync state exists (no row written: none) */
    struct store_pg_params p = {0};
    key_params(&p, device, coll);
    store_pg_p_u64(&p, item);
    store_pg_p_u64(&p, modseq);
    uint64_t n = 0;
    enum store_rc rc = store_pg_run(
        s,
        "INSERT INTO eas_members(device, coll, item, modseq, dtend) "
        "SELECT $1::bigint, $2::bigint, $3::bigint, $4::bigint, (SELECT dtend FROM items WHERE "
        "id = $3 AND coll = $2) WHERE EXISTS (SELECT 1 FROM eas_sync WHERE device = $1 AND "
        "coll = $2) ON CONFLICT (device, coll, item) DO UPDATE SET "
        "modseq = excluded.modseq, dtend = excluded.dtend",
        &p, &n);
    return rc == STORE_OK && n == 0 ? store_pg_fail_msg(s, STORE_NOTFOUND, "no sync state") : rc;
}

enum store_rc
store_pg_eas_member_del(struct store *s, uint64_t device, uint64_t coll, uint64_t item)
{
    struct store_pg_params p = {0};
    key_params(&p, device, coll);
    store_pg_p_u64(&p, item);
    return store_pg_run(s, "DELETE FROM eas_members WHERE device = $1 AND coll = $2 AND item = $3",
                        &p, NULL);
}

enum store_rc
store_pg_eas_member_count(struct store *s, uint64_t device, uint64_t coll, uint64_t *n_out)
{
    struct store_pg_params p = {0};
    key_params(&p, device, coll);
    PGresult *res = NULL;
    enum store_rc rc = store_pg_exec(
        s, "SELECT count(*) FROM eas_members WHERE device = $1 AND coll = $2", &p, &res);
    *n_out = rc == STORE_OK ? store_pg_col_u64(res, 0, 0) : 0;
    PQclear(res);
    return rc;
}
