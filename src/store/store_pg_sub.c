/* store/store_pg_sub.c: subscription URLs (schema_pg/008, store.h "Subscription URLs") and
 * calendar user addresses (schema_pg/011, store.h "Calendar user addresses") on PostgreSQL,
 * as store_sqlite_sub.c and store_sqlite_sched.c. A taken address is found by ON CONFLICT
 * DO NOTHING, not by an error that would abort the caller's transaction. */
#include <string.h>

#include <libpq-fe.h>

#include "store/store.h"
#include "store/store_pg_int.h"
#include "util/sec.h"
#include "util/timeutil.h"

/* ---------------------------------------------------------------------------------------- */
/* Subscription URLs */

#define SUB_COLS                                             \
  "SELECT s.token, s.coll, c.owner, c.name, s.created FROM " \
  "subscriptions s JOIN collections c ON c.id = s.coll "

static void read_sub(const PGresult *res, int row, struct arena *arena, struct store_sub *out)
{
    out->token = store_pg_col_text(res, row, 0, arena);
    out->coll = store_pg_col_u64(res, row, 1);
    out->owner = store_pg_col_u64(res, row, 2);
    out->coll_name = store_pg_col_text(res, row, 3, arena);
    out->created = store_pg_col_i64(res, row, 4);
}

/* 24 random bytes as 32 characters of a 64-symbol alphabet, 6 bits each (as SQLite's). */
static char *fresh_token(struct arena *arena)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    _Static_assert(sizeof(alphabet) - 1 == 64, "6 bits per character");
    _Static_assert(STORE_SUB_TOKEN_LEN % 4 == 0, "whole groups of 3 bytes");
    uint8_t raw[STORE_SUB_TOKEN_LEN / 4 * 3];
    sec_random(raw, sizeof(raw));
    char *token = arena_alloc(arena, STORE_SUB_TOKEN_LEN + 1);
    for (size_t i = 0, j = 0; i < sizeof(raw); i += 3) {
        uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];
        token[j++] = alphabet[(v >> 18) & 63];
        token[j++] = alphabet[(v >> 12) & 63];
        token[j++] = alphabet[(v >> 6) & 63];
        token[j++] = alphabet[v & 63];
    }
    token[STORE_SUB_TOKEN_LEN] = '\0';
    sec_memzero(raw, sizeof(raw));
    return token;
}

enum store_rc
store_pg_sub_create(struct store *s, uint64_t coll, struct arena *arena, struct store_sub *out)
{
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, coll);
    PGresult *res = NULL;
    enum store_rc rc =
        store_pg_exec(s, "SELECT owner, name FROM collections WHERE id = $1", &p, &res);
    if (rc == STORE_OK && PQntuples(res) == 0) {
        rc = store_pg_fail_msg(s, STORE_NOTFOUND, "no such collection");
    }
    if (rc == STORE_OK) {
        out->coll = coll;
        out->owner = store_pg_col_u64(res, 0, 0);
        out->coll_name = store_pg_col_text(res, 0, 1, arena);
    }
    PQclear(res);
    if (rc != STORE_OK) {
        return rc;
    }
    out->token = fresh_token(arena);
    out->created = time_now();
    struct store_pg_params q = {0};
    store_pg_p_text(&q, out->token);
    store_pg_p_u64(&q, coll);
    store_pg_p_i64(&q, out->created);
    return store_pg_run(s, "INSERT INTO subscriptions(token, coll, created) VALUES ($1, $2, $3)",
                        &q, NULL);
}

enum store_rc
store_pg_sub_get(struct store *s, const char *token, struct arena *arena, struct store_sub *out)
{
    if (strlen(token) != STORE_SUB_TOKEN_LEN) {
        return STORE_NOTFOUND;
    }
    struct store_pg_params p = {0};
    store_pg_p_text(&p, token);
    PGresult *res = NULL;
    enum store_rc rc = store_pg_exec(s, SUB_COLS "WHERE s.token = $1", &p, &res);
    if (rc == STORE_OK && PQntuples(res) == 0) {
        rc = STORE_NOTFOUND;
    }
    if (rc == STORE_OK) {
        read_sub(res, 0, arena, out);
    }
    PQclear(res);
    return rc;
}

enum store_rc store_pg_sub_revoke(struct store *s, uint64_t coll)
{
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, coll);
    uint64_t n = 0;
    enum store_rc rc = store_pg_run(s, "DELETE FROM subscriptions WHERE coll = $1", &p, &n);
    return rc == STORE_OK && n == 0 ? STORE_NOTFOUND : rc;
}

/* A principal's tokens are few (created by hand): one result. */
enum store_rc store_pg_sub_list(struct store *s, uint64_t owner, store_sub_fn *fn, void *ctx)
{
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, owner);
    PGresult *res = NULL;
    enum store_rc rc = store_pg_exec(
        s, SUB_COLS "WHERE c.owner = $1 ORDER BY c.name, s.created, s.token", &p, &res);
    for (int i = 0; rc == STORE_OK && i < PQntuples(res); i++) {
        struct store_sub sub;
        read_sub(res, i, NULL, &sub);
        if (fn(ctx, &sub) != 0) {
            break;
        }
    }
    PQclear(res);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Calendar user addresses */

/* `addr` lower-cased (ASCII) into the arena, or NULL when empty or too long. */
static const char *addr_key(const char *addr, struct arena *arena)
{
    size_t n = addr ? strlen(addr) : 0;
    if (n == 0 || n > STORE_ADDR_MAX) {
        return NULL;
    }
    char *k = arena_strndup(arena, addr, n);
    for (size_t i = 0; i < n; i++) {
        if (k[i] >= 'A' && k[i] <= 'Z') {
            k[i] = (char)(k[i] - 'A' + 'a');
        }
    }
    return k;
}

enum store_rc
store_pg_sched_addr_add(struct store *s, uint64_t principal, const char *addr, struct arena *arena)
{
    const char *key = addr_key(addr, arena);
    if (!key) {
        return store_pg_fail_msg(s, STORE_LIMIT, "address length out of bounds");
    }
    struct store_principal p;
    enum store_rc rc = store_pg_principal_get_by_id(s, principal, arena, &p);
    if (rc != STORE_OK) {
        return rc;
    }
    struct store_pg_params q = {0};
    store_pg_p_text(&q, key);
    store_pg_p_u64(&q, principal);
    store_pg_p_i64(&q, time_now());
    uint64_t n = 0;
    rc = store_pg_run(s,
                      "INSERT INTO sched_addrs(addr, principal, created) VALUES ($1, $2, $3) "
                      "ON CONFLICT (addr) DO NOTHING",
                      &q, &n);
    if (rc == STORE_OK && n == 0) {
        rc = store_pg_fail_msg(s, STORE_EXISTS, "the address belongs to a principal already");
    }
    return rc;
}

enum store_rc
store_pg_sched_addr_del(struct store *s, uint64_t principal, const char *addr, struct arena *arena)
{
    const char *key = addr_key(addr, arena);
    if (!key) {
        return store_pg_fail_msg(s, STORE_NOTFOUND, "no such address");
    }
    struct store_pg_params p = {0};
    store_pg_p_text(&p, key);
    store_pg_p_u64(&p, principal);
    uint64_t n = 0;
    enum store_rc rc =
        store_pg_run(s, "DELETE FROM sched_addrs WHERE addr = $1 AND principal = $2", &p, &n);
    if (rc == STORE_OK && n == 0) {
        rc = store_pg_fail_msg(s, STORE_NOTFOUND, "no such address");
    }
    return rc;
}

enum store_rc store_pg_sched_addr_lookup(struct store *s,
                                         const char *addr,
                                         struct arena *arena,
                                         uint64_t *principal_out)
{
    const char *key = addr_key(addr, arena);
    if (!key) {
        return store_pg_fail_msg(s, STORE_NOTFOUND, "no such address");
    }
    struct store_pg_params p = {0};
    store_pg_p_text(&p, key);
    PGresult *res = NULL;
    enum store_rc rc =
        store_pg_exec(s, "SELECT principal FROM sched_addrs WHERE addr = $1", &p, &res);
    if (rc == STORE_OK && PQntuples(res) == 0) {
        rc = store_pg_fail_msg(s, STORE_NOTFOUND, "no such address");
    }
    if (rc == STORE_OK) {
        *principal_out = store_pg_col_u64(res, 0, 0);
    }
    PQclear(res);
    return rc;
}

enum store_rc
store_pg_sched_addr_list(struct store *s, uint64_t principal, store_sched_addr_fn *fn, void *ctx)
{
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, principal);
    PGresult *res = NULL;
    enum store_rc rc = store_pg_exec(
        s, "SELECT addr FROM sched_addrs WHERE principal = $1 ORDER BY addr", &p, &res);
    for (int i = 0; rc == STORE_OK && i < PQntuples(res); i++) {
        if (fn(ctx, store_pg_col_text(res, i, 0, NULL)) != 0) {
            break;
        }
    }
    PQclear(res);
    return rc;
}
