/* store/store_sqlite_sched.c: calendar user addresses in the SQLite engine
 * (schema/011_sched.sql, store.h "Calendar user addresses"), and principals by id, which
 * scheduling needs to name the owner of a calendar. Its statements are its own table below,
 * cached per connection in sq(s)->c.sched_stmts. Knows nothing of iTIP: an address is a string
 * that belongs to at most one principal. */
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store/store.h"
#include "store/store_sqlite_int.h"
#include "util/arena.h"
#include "util/timeutil.h"

enum sched_stmt_id {
    A_PRINCIPAL,
    A_INSERT,
    A_DEL,
    A_LOOKUP,
    A_LIST,
    A_COUNT
};

static const char *const sched_sql[A_COUNT] = {
    [A_PRINCIPAL] = "SELECT id, name, pwhash, home_id, cred_gen FROM principals WHERE id = ?1",
    [A_INSERT] = "INSERT INTO sched_addrs(addr, principal, created) VALUES (?1, ?2, ?3)",
    [A_DEL] = "DELETE FROM sched_addrs WHERE addr = ?1 AND principal = ?2",
    [A_LOOKUP] = "SELECT principal FROM sched_addrs WHERE addr = ?1",
    [A_LIST] = "SELECT addr FROM sched_addrs WHERE principal = ?1 ORDER BY addr",
};

static sqlite3_stmt *sched_stmt(struct store *s, enum sched_stmt_id id)
{
    if (!sq(s)->c.sched_stmts) {
        sq(s)->c.sched_stmts = calloc(A_COUNT, sizeof(*sq(s)->c.sched_stmts));
        if (!sq(s)->c.sched_stmts) {
            abort(); /* STYLE.md §3.3: allocation failure aborts */
        }
    }
    return store_db_stmt_cached(s, &sq(s)->c.sched_stmts[id], sched_sql[id]);
}

void store_db_sched_free(struct store *s)
{
    if (!sq(s)->c.sched_stmts) {
        return;
    }
    for (int i = 0; i < A_COUNT; i++) {
        sqlite3_finalize(sq(s)->c.sched_stmts[i]);
    }
    free(sq(s)->c.sched_stmts);
    sq(s)->c.sched_stmts = NULL;
}

enum store_rc store_sqlite_principal_get_by_id(struct store *s,
                                               uint64_t id,
                                               struct arena *arena,
                                               struct store_principal *out)
{
    sqlite3_stmt *st = sched_stmt(s, A_PRINCIPAL);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_u64(st, 1, id);
    enum store_rc rc = store_db_step_one(s, st);
    if (rc == STORE_OK) {
        out->id = store_db_col_u64(st, 0);
        out->name = store_db_col_text(st, 1, arena);
        out->pwhash = store_db_col_text(st, 2, arena);
        out->home_id = store_db_col_u64(st, 3);
        out->cred_gen = store_db_col_u64(st, 4);
    } else if (rc == STORE_NOTFOUND) {
        store_db_fail_msg(s, rc, "no such principal");
    }
    store_db_reset(st);
    return rc;
}

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

enum store_rc store_sqlite_sched_addr_add(struct store *s,
                                          uint64_t principal,
                                          const char *addr,
                                          struct arena *arena)
{
    const char *key = addr_key(addr, arena);
    if (!key) {
        return store_db_fail_msg(s, STORE_LIMIT, "address length out of bounds");
    }
    struct store_principal p;
    enum store_rc rc = store_principal_get_by_id(s, principal, arena, &p);
    if (rc != STORE_OK) {
        return rc;
    }
    sqlite3_stmt *st = sched_stmt(s, A_INSERT);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_text(st, 1, key);
    store_db_bind_u64(st, 2, principal);
    sqlite3_bind_int64(st, 3, time_now());
    rc = store_db_exec(s, st);
    if (rc == STORE_EXISTS) {
        store_db_fail_msg(s, rc, "the address belongs to a principal already");
    }
    return rc;
}

enum store_rc store_sqlite_sched_addr_del(struct store *s,
                                          uint64_t principal,
                                          const char *addr,
                                          struct arena *arena)
{
    const char *key = addr_key(addr, arena);
    if (!key) {
        return store_db_fail_msg(s, STORE_NOTFOUND, "no such address");
    }
    sqlite3_stmt *st = sched_stmt(s, A_DEL);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_text(st, 1, key);
    store_db_bind_u64(st, 2, principal);
    enum store_rc rc = store_db_exec(s, st);
    if (rc == STORE_OK && sqlite3_changes(sq(s)->c.db) == 0) {
        return store_db_fail_msg(s, STORE_NOTFOUND, "no such address");
    }
    return rc;
}

enum store_rc store_sqlite_sched_addr_lookup(struct store *s,
                                             const char *addr,
                                             struct arena *arena,
                                             uint64_t *principal_out)
{
    const char *key = addr_key(addr, arena);
    if (!key) {
        return store_db_fail_msg(s, STORE_NOTFOUND, "no such address");
    }
    sqlite3_stmt *st = sched_stmt(s, A_LOOKUP);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_text(st, 1, key);
    enum store_rc rc = store_db_step_one(s, st);
    if (rc == STORE_OK) {
        *principal_out = store_db_col_u64(st, 0);
    } else if (rc == STORE_NOTFOUND) {
        store_db_fail_msg(s, rc, "no such address");
    }
    store_db_reset(st);
    return rc;
}

struct list_ctx {
    store_sched_addr_fn *fn;
    void *ctx;
};

static int list_row(sqlite3_stmt *st, void *cb)
{
    struct list_ctx *l = cb;
    return l->fn(l->ctx, store_db_col_text(st, 0, NULL));
}

enum store_rc store_sqlite_sched_addr_list(struct store *s,
                                           uint64_t principal,
                                           store_sched_addr_fn *fn,
                                           void *ctx)
{
    sqlite3_stmt *st = sched_stmt(s, A_LIST);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_u64(st, 1, principal);
    struct list_ctx l = {fn, ctx};
    return store_db_each_row(s, st, list_row, &l);
}
