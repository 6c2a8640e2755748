/* store/store_sqlite_sub.c: subscription URLs in the SQLite engine (schema/008_subscriptions.sql,
 * store.h "Subscription URLs"). Its statements are its own table below, cached per connection
 * in sq(s)->c.sub_stmts. */
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store/store.h"
#include "store/store_sqlite_int.h"
#include "util/sec.h"
#include "util/timeutil.h"

enum sub_stmt_id {
    U_COLL_OWNER,
    U_INSERT,
    U_GET,
    U_REVOKE,
    U_LIST,
    U_COUNT
};

static const char *const sub_sql[U_COUNT] = {
    [U_COLL_OWNER] = "SELECT owner, name FROM collections WHERE id = ?1",
    [U_INSERT] = "INSERT INTO subscriptions(token, coll, created) VALUES (?1, ?2, ?3)",
    [U_GET] = "SELECT s.token, s.coll, c.owner, c.name, s.created FROM subscriptions s "
              "JOIN collections c ON c.id = s.coll WHERE s.token = ?1",
    [U_REVOKE] = "DELETE FROM subscriptions WHERE coll = ?1",
    [U_LIST] = "SELECT s.token, s.coll, c.owner, c.name, s.created FROM subscriptions s "
               "JOIN collections c ON c.id = s.coll WHERE c.owner = ?1 "
               "ORDER BY c.name, s.created, s.token",
};

static sqlite3_stmt *sub_stmt(struct store *s, enum sub_stmt_id id)
{
    if (!sq(s)->c.sub_stmts) {
        sq(s)->c.sub_stmts = calloc(U_COUNT, sizeof(*sq(s)->c.sub_stmts));
        if (!sq(s)->c.sub_stmts) {
            abort(); /* STYLE.md §3.3: allocation failure aborts */
        }
    }
    return store_db_stmt_cached(s, &sq(s)->c.sub_stmts[id], sub_sql[id]);
}

void store_db_sub_free(struct store *s)
{
    if (!sq(s)->c.sub_stmts) {
        return;
    }
    for (int i = 0; i < U_COUNT; i++) {
        sqlite3_finalize(sq(s)->c.sub_stmts[i]);
    }
    free(sq(s)->c.sub_stmts);
    sq(s)->c.sub_stmts = NULL;
}

static void read_sub(sqlite3_stmt *st, struct arena *arena, struct store_sub *out)
{
    out->token = store_db_col_text(st, 0, arena);
    out->coll = (uint64_t)sqlite3_column_int64(st, 1);
    out->owner = (uint64_t)sqlite3_column_int64(st, 2);
    out->coll_name = store_db_col_text(st, 3, arena);
    out->created = sqlite3_column_int64(st, 4);
}

enum store_rc
store_sqlite_sub_create(struct store *s, uint64_t coll, struct arena *arena, struct store_sub *out)
{
    sqlite3_stmt *st = sub_stmt(s, U_COLL_OWNER);
    if (!st) {
        return STORE_IO;
    }
    sqlite3_bind_int64(st, 1, (sqlite3_int64)coll);
    enum store_rc rc = store_db_step_one(s, st);
    if (rc != STORE_OK) {
        store_db_reset(st);
        return rc;
    }
    out->coll = coll;
    out->owner = (uint64_t)sqlite3_column_int64(st, 0);
    out->coll_name = store_db_col_text(st, 1, arena);
    store_db_reset(st);

    /* 24 random bytes as 32 characters of a 64-symbol alphabet, 6 bits each */
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
    out->token = token;
    out->created = time_now();

    st = sub_stmt(s, U_INSERT);
    if (!st) {
        return STORE_IO;
    }
    sqlite3_bind_text(st, 1, token, STORE_SUB_TOKEN_LEN, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)coll);
    sqlite3_bind_int64(st, 3, out->created);
    return store_db_exec(s, st);
}

enum store_rc
store_sqlite_sub_get(struct store *s, const char *token, struct arena *arena, struct store_sub *out)
{
    if (strlen(token) != STORE_SUB_TOKEN_LEN) {
        return STORE_NOTFOUND;
    }
    sqlite3_stmt *st = sub_stmt(s, U_GET);
    if (!st) {
        return STORE_IO;
    }
    sqlite3_bind_text(st, 1, token, -1, SQLITE_STATIC);
    enum store_rc rc = store_db_step_one(s, st);
    if (rc == STORE_OK) {
        read_sub(st, arena, out);
    }
    store_db_reset(st);
    return rc;
}

enum store_rc store_sqlite_sub_revoke(struct store *s, uint64_t coll)
{
    sqlite3_stmt *st = sub_stmt(s, U_REVOKE);
    if (!st) {
        return STORE_IO;
    }
    sqlite3_bind_int64(st, 1, (sqlite3_int64)coll);
    enum store_rc rc = store_db_exec(s, st);
    if (rc == STORE_OK && sqlite3_changes(sq(s)->c.db) == 0) {
        rc = STORE_NOTFOUND;
    }
    return rc;
}

struct list_ctx {
    store_sub_fn *fn;
    void *ctx;
};

static int list_row(sqlite3_stmt *st, void *cb)
{
    struct list_ctx *l = cb;
    struct store_sub sub;
    read_sub(st, NULL, &sub);
    return l->fn(l->ctx, &sub);
}

enum store_rc store_sqlite_sub_list(struct store *s, uint64_t owner, store_sub_fn *fn, void *ctx)
{
    sqlite3_stmt *st = sub_stmt(s, U_LIST);
    if (!st) {
        return STORE_IO;
    }
    sqlite3_bind_int64(st, 1, (sqlite3_int64)owner);
    struct list_ctx l = {fn, ctx};
    return store_db_each_row(s, st, list_row, &l);
}
