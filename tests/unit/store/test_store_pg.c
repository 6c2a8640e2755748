/* tests/unit/store/test_store_pg.c: the PostgreSQL engine (store_pg*.c, issue #10) on a real
 * PostgreSQL 15: run under ctest, the binary re-executes itself through
 * tests/integration/pgcluster.py, which starts a private cluster and passes its URI in
 * ALMANAC_PG_URI. Covers what the engine serves so far: migrations under the advisory lock
 * and the refusal of a newer schema, the shared GUID and secret, transactions (a read is one
 * snapshot; an expected refusal leaves the write transaction usable), the collection row
 * lock that orders modseqs, the change hook, the pool, principals, collections, items, dead
 * properties, cursors (the listing cursors too), subscription URLs, calendar user addresses,
 * shares, ActiveSync device state and the iMIP outbox. */
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "pg_cluster.h"
#include "store/store.h"
#include "store/store_fault.h"
#include "store/store_pg_int.h"
#include "store/store_schema.h"
#include "util/compiler.h"

static const char *uri;

static struct store *open_pg(void)
{
    struct store *s = NULL;
    const char *msg = NULL;
    assert_int_equal(store_pg_open(uri, &s, &msg), STORE_OK);
    assert_non_null(s);
    return s;
}

/* One integer from `sql` through the engine's own statement helper. */
static int64_t query_i64(struct store *s, const char *sql)
{
    PGresult *res = NULL;
    assert_int_equal(store_pg_exec(s, sql, NULL, &res), STORE_OK);
    assert_int_equal(PQntuples(res), 1);
    int64_t v = store_pg_col_i64(res, 0, 0);
    PQclear(res);
    return v;
}

static void exec_ok(struct store *s, const char *sql)
{
    assert_int_equal(store_pg_run(s, sql, NULL, NULL), STORE_OK);
}

static void test_pg_open_migrates_once_and_shares_guid_and_secret(void **state)
{
    (void)state;
    struct store *a = open_pg();
    struct store *b = open_pg();
    int newest = store_pg_migrations[store_pg_migrations_count - 1].version;
    assert_int_equal(newest, store_migrations[store_migration_count - 1].version);
    assert_int_equal(query_i64(a, "SELECT max(version) FROM schema_version"), newest);
    assert_int_equal(query_i64(a, "SELECT count(*) FROM schema_version"),
                     (int64_t)store_pg_migrations_count);
    assert_int_equal(query_i64(a, "SELECT count(*) FROM pg_extension WHERE extname = 'btree_gist'"),
                     1);
    uint8_t g1[STORE_GUID_BYTES], g2[STORE_GUID_BYTES];
    uint8_t k1[STORE_SECRET_BYTES], k2[STORE_SECRET_BYTES];
    store_guid(a, g1);
    store_guid(b, g2);
    store_secret(a, k1);
    store_secret(b, k2);
    assert_memory_equal(g1, g2, sizeof(g1));
    assert_memory_equal(k1, k2, sizeof(k1));
    assert_memory_not_equal(g1, k1, sizeof(g1));
    static const uint8_t zero[STORE_SECRET_BYTES];
    assert_memory_not_equal(k1, zero, sizeof(k1));
    store_close(&a);
    store_close(&b);
    assert_null(a);
}

static void test_pg_refuses_a_schema_newer_than_this_build(void **state)
{
    (void)state;
    struct store *s = open_pg();
    exec_ok(s, "INSERT INTO schema_version(version, applied_at) VALUES (999, 0)");
    struct store *t = NULL;
    const char *msg = NULL;
    assert_int_equal(store_pg_open(uri, &t, &msg), STORE_IO);
    assert_null(t);
    assert_string_equal(msg, "the database's schema is newer than this build's");
    exec_ok(s, "DELETE FROM schema_version WHERE version = 999");
    t = open_pg();
    store_close(&t);
    store_close(&s);
}

static void test_pg_principals_add_get_passwd_list_del(void **state)
{
    (void)state;
    struct store *s = open_pg();
    struct arena *a = arena_create();
    struct store_principal p, q;
    assert_int_equal(store_begin_write(s), STORE_OK);
    assert_int_equal(store_principal_add(s, "pa-alice", "h1", a, &p), STORE_OK);
    assert_true(p.id > 0);
    assert_true(p.home_id > 0);
    /* a taken name: STORE_EXISTS, and the transaction goes on (no aborted transaction) */
    assert_int_equal(store_principal_add(s, "pa-alice", "h2", a, &q), STORE_EXISTS);
    assert_int_equal(store_principal_add(s, "pa-bob", "hb", a, &q), STORE_OK);
    assert_int_equal(store_principal_add(s, "", "hb", a, &q), STORE_LIMIT);
    assert_int_equal(store_commit(s), STORE_OK);

    assert_int_equal(store_begin_read(s), STORE_OK);
    assert_int_equal(store_principal_get(s, "pa-alice", a, &q), STORE_OK);
    assert_int_equal(q.id, p.id);
    assert_string_equal(q.pwhash, "h1");
    assert_int_equal(q.home_id, p.home_id);
    assert_int_equal(q.cred_gen, p.cred_gen);
    assert_int_equal(store_principal_get_by_id(s, p.id, a, &q), STORE_OK);
    assert_string_equal(q.name, "pa-alice");
    assert_int_equal(store_principal_get(s, "pa-nobody", a, &q), STORE_NOTFOUND);
    assert_string_equal(store_last_error(s), "no such principal");
    assert_int_equal(query_i64(s, "SELECT kind FROM collections WHERE parent IS NULL AND "
                                  "owner = (SELECT id FROM principals WHERE name = 'pa-alice')"),
                     STORE_COLL_HOME);
    assert_int_equal(store_commit(s), STORE_OK);

    uint64_t gen0 = 0, gen1 = 0;
    assert_int_equal(store_begin_write(s), STORE_OK);
    assert_int_equal(store_principal_cred_gen(s, "pa-alice", &gen0), STORE_OK);
    assert_int_equal(store_principal_set_pwhash(s, "pa-alice", "h3"), STORE_OK);
    assert_int_equal(store_principal_set_pwhash(s, "pa-nobody", "h3"), STORE_NOTFOUND);
    assert_int_equal(store_principal_cred_gen(s, "pa-alice", &gen1), STORE_OK);
    assert_true(gen1 > gen0);
    assert_int_equal(store_commit(s), STORE_OK);

    /* delete and add again: a new id and a generation never seen before */
    assert_int_equal(store_begin_write(s), STORE_OK);
    assert_int_equal(store_principal_del(s, "pa-bob"), STORE_OK);
    assert_int_equal(store_principal_del(s, "pa-bob"), STORE_NOTFOUND);
    assert_int_equal(store_principal_add(s, "pa-bob", "hb2", a, &q), STORE_OK);
    assert_true(q.cred_gen > gen1);
    assert_int_equal(store_commit(s), STORE_OK);
    assert_int_equal(store_begin_read(s), STORE_OK);
    assert_int_equal(query_i64(s, "SELECT count(*) FROM collections WHERE owner NOT IN "
                                  "(SELECT id FROM principals)"),
                     0);
    assert_int_equal(store_commit(s), STORE_OK);
    arena_destroy(&a);
    store_close(&s);
}

struct names {
    char v[600][16];
    size_t n;
    size_t stop_at;
};

static int collect(void *ctx, const struct store_principal *p)
{
    struct names *n = ctx;
    if (strncmp(p->name, "pl-", 3) == 0) {
        snprintf(n->v[n->n++], sizeof(n->v[0]), "%s", p->name);
    }
    return n->stop_at && n->n == n->stop_at;
}

/* More principals than one page of the keyset listing: all, in name order, once. */
static void test_pg_principal_list_pages_in_name_order_and_stops_early(void **state)
{
    (void)state;
    struct store *s = open_pg();
    assert_int_equal(store_begin_write(s), STORE_OK);
    for (int i = 599; i >= 0; i--) {
        char name[16];
        snprintf(name, sizeof(name), "pl-%03d", i);
        assert_int_equal(store_principal_add(s, name, "h", NULL, NULL), STORE_OK);
    }
    assert_int_equal(store_commit(s), STORE_OK);
    struct names *n = calloc(1, sizeof(*n));
    assert_int_equal(store_begin_read(s), STORE_OK);
    assert_int_equal(store_principal_list(s, collect, n), STORE_OK);
    assert_int_equal(n->n, 600);
    for (size_t i = 0; i < n->n; i++) {
        char want[32];
        snprintf(want, sizeof(want), "pl-%03zu", i);
        assert_string_equal(n->v[i], want);
    }
    memset(n, 0, sizeof(*n));
    n->stop_at = 3;
    assert_int_equal(store_principal_list(s, collect, n), STORE_OK);
    assert_int_equal(n->n, 3);
    assert_int_equal(store_commit(s), STORE_OK);
    free(n);
    store_close(&s);
}

/* A read transaction is one snapshot: a password changed and committed meanwhile is seen by
 * the next transaction only. */
static void test_pg_read_transaction_is_one_snapshot(void **state)
{
    (void)state;
    struct store *r = open_pg();
    struct store *w = open_pg();
    assert_int_equal(store_begin_write(w), STORE_OK);
    assert_int_equal(store_principal_add(w, "sn-carol", "h", NULL, NULL), STORE_OK);
    assert_int_equal(store_commit(w), STORE_OK);
    uint64_t g0 = 0, g1 = 0;
    assert_int_equal(store_begin_read(r), STORE_OK);
    assert_int_equal(store_principal_cred_gen(r, "sn-carol", &g0), STORE_OK);
    assert_int_equal(store_begin_write(w), STORE_OK);
    assert_int_equal(store_principal_set_pwhash(w, "sn-carol", "h2"), STORE_OK);
    assert_int_equal(store_commit(w), STORE_OK);
    assert_int_equal(store_principal_cred_gen(r, "sn-carol", &g1), STORE_OK);
    assert_int_equal(g1, g0);
    /* the snapshot is read-only */
    assert_int_equal(store_principal_add(r, "sn-dave", "h", NULL, NULL), STORE_IO);
    assert_int_equal(store_rollback(r), STORE_OK);
    assert_false(store_in_txn(r));
    assert_int_equal(store_begin_read(r), STORE_OK);
    assert_int_equal(store_principal_cred_gen(r, "sn-carol", &g1), STORE_OK);
    assert_true(g1 > g0);
    assert_int_equal(store_begin_read(r), STORE_IO); /* one transaction at a time */
    assert_int_equal(store_commit(r), STORE_OK);
    store_close(&r);
    store_close(&w);
}

struct bumper {
    struct store *s;
    uint64_t coll;
    uint64_t modseq;
    atomic_bool is_done;
};

static void *bump_and_commit(void *arg)
{
    struct bumper *b = arg;
    if (store_begin_write(b->s) == STORE_OK &&
        store_pg_bump(b->s, b->coll, &b->modseq) == STORE_OK) {
        store_commit(b->s);
    }
    atomic_store(&b->is_done, true);
    return NULL;
}

/* The modseq bump holds the collection's row lock to the commit: a second writer of the same
 * collection waits, then takes the next modseq; so modseqs commit in order. */
static void test_pg_bump_orders_writers_of_a_collection_by_its_row_lock(void **state)
{
    (void)state;
    struct store *a = open_pg();
    struct store *b = open_pg();
    struct arena *ar = arena_create();
    struct store_principal p;
    assert_int_equal(store_begin_write(a), STORE_OK);
    assert_int_equal(store_principal_add(a, "bl-erin", "h", ar, &p), STORE_OK);
    assert_int_equal(store_commit(a), STORE_OK);

    uint64_t m1 = 0;
    assert_int_equal(store_begin_write(a), STORE_OK);
    assert_int_equal(store_pg_bump(a, p.home_id, &m1), STORE_OK);
    assert_int_equal(m1, 2);
    struct bumper bb = {.s = b, .coll = p.home_id};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, bump_and_commit, &bb), 0);
    struct timespec pause = {0, 300 * 1000 * 1000};
    nanosleep(&pause, NULL);
    assert_false(atomic_load(&bb.is_done)); /* waiting on the row lock */
    assert_int_equal(store_commit(a), STORE_OK);
    pthread_join(t, NULL);
    assert_true(atomic_load(&bb.is_done));
    assert_int_equal(bb.modseq, m1 + 1);

    /* a rolled-back bump gives its modseq back */
    assert_int_equal(store_begin_write(a), STORE_OK);
    assert_int_equal(store_pg_bump(a, p.home_id, &m1), STORE_OK);
    assert_int_equal(m1, 4);
    assert_int_equal(store_rollback(a), STORE_OK);
    assert_int_equal(store_begin_write(a), STORE_OK);
    assert_int_equal(store_pg_bump(a, p.home_id, &m1), STORE_OK);
    assert_int_equal(m1, 4);
    assert_int_equal(store_pg_bump(a, 1u << 30, NULL), STORE_NOTFOUND);
    assert_int_equal(store_commit(a), STORE_OK);
    arena_destroy(&ar);
    store_close(&a);
    store_close(&b);
}

struct seen {
    uint64_t coll, modseq;
    int calls;
};

static void on_change(void *ctx, uint64_t coll, uint64_t modseq)
{
    struct seen *sn = ctx;
    sn->coll = coll;
    sn->modseq = modseq;
    sn->calls++;
}

static void test_pg_change_hook_after_commit_only(void **state)
{
    (void)state;
    struct store *s = open_pg();
    struct arena *ar = arena_create();
    struct store_principal p;
    assert_int_equal(store_begin_write(s), STORE_OK);
    assert_int_equal(store_principal_add(s, "ch-frank", "h", ar, &p), STORE_OK);
    assert_int_equal(store_commit(s), STORE_OK);
    struct seen sn = {0};
    store_set_change_hook(s, on_change, &sn);
    uint64_t m = 0;
    assert_int_equal(store_begin_write(s), STORE_OK);
    assert_int_equal(store_pg_bump(s, p.home_id, &m), STORE_OK);
    assert_int_equal(store_pg_bump(s, p.home_id, &m), STORE_OK);
    assert_int_equal(sn.calls, 0);
    assert_int_equal(store_commit(s), STORE_OK);
    assert_int_equal(sn.calls, 1);
    assert_int_equal(sn.coll, p.home_id);
    assert_int_equal(sn.modseq, m);
    assert_int_equal(store_begin_write(s), STORE_OK);
    assert_int_equal(store_pg_bump(s, p.home_id, &m), STORE_OK);
    assert_int_equal(store_rollback(s), STORE_OK);
    assert_int_equal(sn.calls, 1);
    /* a transaction an error aborted does not commit, and says so */
    assert_int_equal(store_begin_write(s), STORE_OK);
    assert_int_equal(store_pg_bump(s, p.home_id, &m), STORE_OK);
    assert_int_equal(store_pg_run(s, "SELECT 1/0", NULL, NULL), STORE_IO);
    assert_int_equal(store_commit(s), STORE_IO);
    assert_int_equal(sn.calls, 1);
    assert_false(store_in_txn(s));
    arena_destroy(&ar);
    store_close(&s);
}

static void test_pg_pool_hands_out_and_takes_back_connections(void **state)
{
    (void)state;
    struct store_pool *pool = NULL;
    assert_int_equal(store_pg_pool_create(uri, 2, &pool), STORE_OK);
    struct store *c1 = store_pool_acquire(pool);
    struct store *c2 = store_pool_acquire(pool);
    assert_non_null(c1);
    assert_non_null(c2);
    assert_ptr_not_equal(c1, c2);
    uint8_t g1[STORE_GUID_BYTES], g2[STORE_GUID_BYTES];
    store_guid(c1, g1);
    store_guid(c2, g2);
    assert_memory_equal(g1, g2, sizeof(g1));
    struct store_pool_stats st;
    store_pool_stats(pool, &st);
    assert_int_equal(st.max, 2);
    assert_int_equal(st.open, 2);
    assert_int_equal(st.in_use, 2);
    assert_int_equal(store_begin_write(c1), STORE_OK); /* left open: release rolls back */
    store_pool_release(pool, c1);
    store_pool_release(pool, c2);
    store_pool_stats(pool, &st);
    assert_int_equal(st.in_use, 0);
    struct store *c3 = store_pool_acquire(pool);
    assert_false(store_in_txn(c3));
    store_pool_release(pool, c3);
    assert_int_equal(store_pool_flush_count(pool), 0);
    store_pool_destroy(&pool);
    assert_null(pool);

    assert_int_equal(
        store_pg_pool_create("postgresql://almanac@/almanac?host=/nonexistent", 2, &pool),
        STORE_IO);
    assert_null(pool);
}

static struct store_principal add_user(struct store *s, struct arena *a, const char *name)
{
    struct store_principal p;
    assert_int_equal(store_begin_write(s), STORE_OK);
    assert_int_equal(store_principal_add(s, name, "h", a, &p), STORE_OK);
    assert_int_equal(store_commit(s), STORE_OK);
    return p;
}

static uint64_t modseq_of(struct store *s, uint64_t coll)
{
    struct store_coll c;
    assert_int_equal(store_coll_get(s, coll, NULL, &c), STORE_OK);
    return c.modseq;
}

static void test_pg_collections_create_lookup_move_delete(void **state)
{
    (void)state;
    struct store *s = open_pg();
    struct arena *a = arena_create();
    struct store_principal p = add_user(s, a, "co-gina");
    struct store_principal o = add_user(s, a, "co-hal");
    struct store_coll c, d, e, got;
    assert_int_equal(store_begin_write(s), STORE_OK);
    uint64_t home0 = modseq_of(s, p.home_id);
    assert_int_equal(store_coll_create(s, p.home_id, "work", STORE_COLL_CALENDAR, a, &c), STORE_OK);
    assert_int_equal(c.owner, p.id);
    assert_int_equal(c.parent, p.home_id);
    assert_int_equal(c.modseq, 1);
    assert_string_equal(c.name, "work");
    assert_int_equal(modseq_of(s, p.home_id), home0 + 1);
    assert_int_equal(store_coll_create(s, p.home_id, "work", STORE_COLL_PLAIN, a, &d),
                     STORE_EXISTS);
    assert_int_equal(store_coll_create(s, 1u << 30, "x", STORE_COLL_PLAIN, a, &d), STORE_NOTFOUND);
    assert_int_equal(store_coll_create(s, p.home_id, "", STORE_COLL_PLAIN, a, &d), STORE_LIMIT);
    assert_int_equal(store_coll_create(s, p.home_id, "dav", STORE_COLL_PLAIN, a, &d), STORE_OK);
    assert_int_equal(store_coll_create(s, d.id, "sub", STORE_COLL_PLAIN, a, &e), STORE_OK);
    /* an item of that name (written here by SQL: items are not served yet) takes it too */
    char sql[256];
    snprintf(sql, sizeof(sql),
             "INSERT INTO items(coll, name, content_type, size, modseq, created_modseq, mtime) "
             "VALUES (%llu, 'x.ics', 'text/calendar', 10, 1, 1, 0), "
             "(%llu, 'y.ics', 'text/calendar', 32, 1, 1, 0)",
             (unsigned long long)c.id, (unsigned long long)c.id);
    exec_ok(s, sql);
    assert_int_equal(store_coll_create(s, c.id, "x.ics", STORE_COLL_PLAIN, a, &got), STORE_EXISTS);
    assert_string_equal(store_last_error(s), "an item has that name");
    uint64_t n = 0, bytes = 0;
    assert_int_equal(store_coll_usage(s, c.id, &n, &bytes), STORE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(bytes, 42);
    assert_int_equal(store_coll_set_comps(s, c.id, 3), STORE_OK);
    assert_int_equal(store_coll_set_comps(s, 1u << 30, 3), STORE_NOTFOUND);
    assert_int_equal(store_commit(s), STORE_OK); /* the refusals left it usable */

    assert_int_equal(store_begin_write(s), STORE_OK);
    assert_int_equal(store_coll_lookup(s, p.home_id, "work", a, &got), STORE_OK);
    assert_int_equal(got.id, c.id);
    assert_int_equal(got.comps, 3);
    assert_memory_equal(got.change_guid, c.change_guid, STORE_GUID_BYTES);
    assert_int_equal(store_coll_lookup(s, p.home_id, "nope", a, &got), STORE_NOTFOUND);
    /* moves: not below itself, not across owners, not onto a taken name, not a home */
    assert_int_equal(store_coll_move(s, d.id, e.id, "loop"), STORE_CONFLICT);
    assert_int_equal(store_coll_move(s, d.id, o.home_id, "dav"), STORE_CONFLICT);
    assert_int_equal(store_coll_move(s, d.id, p.home_id, "work"), STORE_EXISTS);
    assert_int_equal(store_coll_move(s, p.home_id, d.id, "home"), STORE_CONFLICT);
    uint64_t c0 = modseq_of(s, c.id), h0 = modseq_of(s, p.home_id);
    assert_int_equal(store_coll_move(s, e.id, c.id, "moved"), STORE_OK);
    assert_int_equal(modseq_of(s, c.id), c0 + 1);
    assert_int_equal(store_coll_lookup(s, c.id, "moved", a, &got), STORE_OK);
    assert_int_equal(got.id, e.id);
    /* delete: a home never; a subtree with its properties and items; the parent bumped */
    assert_int_equal(store_coll_delete(s, p.home_id), STORE_CONFLICT);
    snprintf(sql, sizeof(sql),
             "INSERT INTO props(res_kind, res_id, ns, name, value) VALUES (0, %llu, 'DAV:', "
             "'displayname', 'x'), (1, (SELECT id FROM items WHERE name = 'x.ics' AND coll = "
             "%llu), 'DAV:', 'n', 'y')",
             (unsigned long long)e.id, (unsigned long long)c.id);
    exec_ok(s, sql);
    assert_int_equal(store_coll_delete(s, c.id), STORE_OK);
    assert_int_equal(modseq_of(s, p.home_id), h0 + 1);
    assert_int_equal(store_coll_get(s, e.id, a, &got), STORE_NOTFOUND);
    snprintf(sql, sizeof(sql),
             "SELECT (SELECT count(*) FROM items WHERE coll = %llu) + (SELECT count(*) FROM "
             "props WHERE res_kind = 0 AND res_id = %llu)",
             (unsigned long long)c.id, (unsigned long long)e.id);
    assert_int_equal(query_i64(s, sql), 0);
    assert_int_equal(query_i64(s, "SELECT count(*) FROM props"), 0);
    assert_int_equal(store_commit(s), STORE_OK);
    arena_destroy(&a);
    store_close(&s);
}

static void test_pg_history_reset_and_tombstone_pruning(void **state)
{
    (void)state;
    struct store *s = open_pg();
    struct arena *a = arena_create();
    struct store_principal p = add_user(s, a, "tb-ivan");
    struct store_coll c, got;
    assert_int_equal(store_begin_write(s), STORE_OK);
    assert_int_equal(store_coll_create(s, p.home_id, "cal", STORE_COLL_CALENDAR, a, &c), STORE_OK);
    uint64_t m = 0;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(store_coll_touch(s, c.id, &m), STORE_OK);
    }
    assert_int_equal(m, 5);
    char sql[256];
    snprintf(sql, sizeof(sql),
             "INSERT INTO tombstones(coll, item_id, name, modseq, created_modseq, deleted_at) "
             "VALUES (%llu, 1, 'a', 2, 1, 100), (%llu, 2, 'b', 3, 1, 200), "
             "(%llu, 3, 'c', 5, 1, 300)",
             (unsigned long long)c.id, (unsigned long long)c.id, (unsigned long long)c.id);
    exec_ok(s, sql);
    assert_int_equal(store_coll_prune_tombstones(s, c.id, 250), STORE_OK);
    assert_int_equal(store_coll_get(s, c.id, a, &got), STORE_OK);
    assert_int_equal(got.tomb_horizon, 3);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM tombstones WHERE coll = %llu",
             (unsigned long long)c.id);
    assert_int_equal(query_i64(s, sql), 1);
    assert_int_equal(store_coll_prune_tombstones(s, c.id, 50), STORE_OK); /* none that old */
    assert_int_equal(store_coll_reset_history(s, c.id), STORE_OK);
    assert_int_equal(store_coll_get(s, c.id, a, &got), STORE_OK);
    assert_int_equal(got.tomb_horizon, 5);
    assert_true(got.epoch != c.epoch);
    assert_memory_not_equal(got.change_guid, c.change_guid, STORE_GUID_BYTES);
    assert_int_equal(query_i64(s, sql), 0);
    assert_int_equal(store_coll_reset_history(s, 1u << 30), STORE_NOTFOUND);
    assert_int_equal(store_commit(s), STORE_OK);

    /* the whole-store job: one node at a time */
    size_t visited = 0;
    assert_int_equal(store_prune_all_tombstones(s, 1000, &visited), STORE_OK);
    assert_true(visited >= 2);
    struct store *other = open_pg();
    exec_ok(other, "SELECT pg_advisory_lock(7020106184394892144)");
    assert_int_equal(store_prune_all_tombstones(s, 1000, &visited), STORE_BUSY);
    assert_int_equal(visited, 0);
    exec_ok(other, "SELECT pg_advisory_unlock(7020106184394892144)");
    assert_int_equal(store_prune_all_tombstones(s, 1000, &visited), STORE_OK);
    store_close(&other);
    arena_destroy(&a);
    store_close(&s);
}

struct creator {
    struct store *s;
    uint64_t parent;
    enum store_rc rc, commit_rc;
    atomic_bool is_done;
};

static void *create_and_commit(void *arg)
{
    struct creator *c = arg;
    struct arena *a = arena_create();
    struct store_coll out;
    if (store_begin_write(c->s) == STORE_OK) {
        c->rc = store_coll_create(c->s, c->parent, "race", STORE_COLL_PLAIN, a, &out);
        c->commit_rc = store_commit(c->s);
    }
    arena_destroy(&a);
    atomic_store(&c->is_done, true);
    return NULL;
}

/* Two writers take one name in one parent: the second waits on the parent's lock, then sees
 * the first's collection: STORE_EXISTS, its transaction still usable, one collection made. */
static void test_pg_concurrent_creates_of_a_name_one_wins_cleanly(void **state)
{
    (void)state;
    struct store *a = open_pg();
    struct store *b = open_pg();
    struct arena *ar = arena_create();
    struct store_principal p = add_user(a, ar, "rc-judy");
    struct store_coll c;
    assert_int_equal(store_begin_write(a), STORE_OK);
    assert_int_equal(store_coll_create(a, p.home_id, "race", STORE_COLL_PLAIN, ar, &c), STORE_OK);
    struct creator cr = {.s = b, .parent = p.home_id};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, create_and_commit, &cr), 0);
    struct timespec pause = {0, 300 * 1000 * 1000};
    nanosleep(&pause, NULL);
    assert_false(atomic_load(&cr.is_done));
    assert_int_equal(store_commit(a), STORE_OK);
    pthread_join(t, NULL);
    assert_int_equal(cr.rc, STORE_EXISTS);
    assert_int_equal(cr.commit_rc, STORE_OK);
    char sql[160];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM collections WHERE parent = %llu",
             (unsigned long long)p.home_id);
    assert_int_equal(query_i64(a, sql), 1);
    arena_destroy(&ar);
    store_close(&a);
    store_close(&b);
}

static struct store_item_in cal_item(const char *content, const char *uid)
{
    struct store_item_in in = {
        .content = content,
        .size = strlen(content),
        .content_type = "text/calendar",
        .cal = {.uid = uid, .has_span = true, .dtstart_utc = 1000, .dtend_utc = 4000, .comp = 1}};
    return in;
}

static int64_t count_where(struct store *s, const char *fmt, ...) ALM_PRINTF(2, 3);

/* query_i64 of the SQL `fmt` formats. */
static int64_t count_where(struct store *s, const char *fmt, ...)
{
    char sql[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    return query_i64(s, sql);
}

static void test_pg_items_put_get_replace_move_delete_and_the_change_log(void **state)
{
    (void)state;
    struct store *s = open_pg();
    struct arena *a = arena_create();
    struct store_principal p = add_user(s, a, "it-kate");
    struct store_coll c, d, sub;
    struct store_item it, got;
    bool created = false;
    assert_int_equal(store_begin_write(s), STORE_OK);
    assert_int_equal(store_coll_create(s, p.home_id, "cal", STORE_COLL_CALENDAR, a, &c), STORE_OK);
    assert_int_equal(store_coll_create(s, p.home_id, "other", STORE_COLL_CALENDAR, a, &d),
                     STORE_OK);
    assert_int_equal(store_coll_create(s, c.id, "sub", STORE_COLL_PLAIN, a, &sub), STORE_OK);
    struct store_box boxes[2] = {{1000, 1500}, {3000, 4000}};
    struct store_item_in in = cal_item("BEGIN:VCALENDAR", "uid-1");
    in.cal.boxes = boxes;
    in.cal.nboxes = 2;
    in.cal.is_recurring = true;
    in.cal.has_instances = true;
    in.cal.instances = "\x01\x02\x00\x03";
    in.cal.instances_size = 4;
    assert_int_equal(store_item_put(s, c.id, "a.ics", &in, a, &it, &created), STORE_OK);
    assert_true(created);
    assert_int_equal(it.modseq, 3); /* 2 was "sub"'s creation */
    assert_int_equal(it.created_modseq, 3);
    assert_string_equal(it.cal.uid, "uid-1");
    assert_int_equal(count_where(s, "SELECT count(*) FROM item_spans WHERE item = %llu",
                                 (unsigned long long)it.id),
                     3);
    assert_int_equal(count_where(s,
                                 "SELECT count(*) FROM item_spans WHERE item = %llu AND kind = 2 "
                                 "AND box && int8range(2000, 3500)",
                                 (unsigned long long)it.id),
                     1);
    /* refusals: a uid taken by another name, a name taken by a collection, no collection */
    struct store_item_in clash = cal_item("X", "uid-1");
    assert_int_equal(store_item_put(s, c.id, "b.ics", &clash, a, &got, NULL), STORE_CONFLICT);
    assert_int_equal(store_item_put(s, c.id, "sub", &clash, a, &got, NULL), STORE_EXISTS);
    assert_int_equal(store_item_put(s, 1u << 30, "z.ics", &clash, a, &got, NULL), STORE_NOTFOUND);
    assert_int_equal(store_commit(s), STORE_OK);

    assert_int_equal(store_begin_write(s), STORE_OK);
    assert_int_equal(
        store_item_get(s, c.id, "a.ics", STORE_ITEM_CONTENT | STORE_ITEM_INSTANCES, a, &got),
        STORE_OK);
    assert_int_equal(got.id, it.id);
    assert_int_equal(got.size, 15);
    assert_memory_equal(got.content, "BEGIN:VCALENDAR", 15);
    assert_true(got.cal.has_span);
    assert_int_equal(got.cal.dtend_utc, 4000);
    assert_true(got.cal.is_recurring);
    assert_true(got.cal.has_instances);
    assert_int_equal(got.cal.instances_size, 4);
    assert_memory_equal(got.cal.instances, "\x01\x02\x00\x03", 4);
    assert_int_equal(store_item_get_by_uid(s, c.id, "uid-1", a, &got), STORE_OK);
    assert_int_equal(got.id, it.id);
    assert_null(got.content);
    assert_int_equal(store_item_get_by_id(s, c.id, it.id, STORE_ITEM_META, a, &got), STORE_OK);
    assert_int_equal(store_item_get_by_id(s, d.id, it.id, STORE_ITEM_META, a, &got),
                     STORE_NOTFOUND);
    /* a replace: same id, new modseq, created_modseq kept, boxes and instances replaced */
    struct store_item_in plain = cal_item("BEGIN:VCALENDAR2", "uid-1");
    assert_int_equal(store_item_put(s, c.id, "a.ics", &plain, a, &got, &created), STORE_OK);
    assert_false(created);
    assert_int_equal(got.id, it.id);
    assert_int_equal(got.modseq, 4);
    assert_int_equal(got.created_modseq, 3);
    assert_int_equal(count_where(s, "SELECT count(*) FROM item_spans WHERE item = %llu",
                                 (unsigned long long)it.id),
                     1);
    assert_int_equal(count_where(s, "SELECT count(*) FROM item_instances WHERE id = %llu",
                                 (unsigned long long)it.id),
                     0);
    struct store_item_in other = cal_item("B", "uid-2");
    assert_int_equal(store_item_put(s, c.id, "b.ics", &other, a, &got, NULL), STORE_OK);
    uint64_t b_id = got.id;
    assert_int_equal(store_item_touch(s, c.id, "b.ics"), STORE_OK); /* modseq 6 */
    assert_int_equal(store_item_touch(s, c.id, "nope"), STORE_NOTFOUND);
    /* move a.ics away: a tombstone here, a new modseq (and created_modseq) there, same id */
    assert_int_equal(store_item_move(s, c.id, "a.ics", d.id, "b.ics"), STORE_OK);
    assert_int_equal(store_item_get(s, d.id, "b.ics", STORE_ITEM_META, a, &got), STORE_OK);
    assert_int_equal(got.id, it.id);
    assert_int_equal(got.modseq, got.created_modseq);
    assert_int_equal(count_where(s, "SELECT count(*) FROM item_spans WHERE coll = %llu",
                                 (unsigned long long)d.id),
                     1);
    assert_int_equal(store_item_move(s, d.id, "b.ics", c.id, "b.ics"), STORE_EXISTS);
    struct store_item_in same_uid = cal_item("C", "uid-2");
    assert_int_equal(store_item_put(s, d.id, "c.ics", &same_uid, a, &got, NULL), STORE_OK);
    assert_int_equal(store_item_move(s, d.id, "c.ics", c.id, "c.ics"), STORE_CONFLICT);
    /* delete: a tombstone at the new modseq, properties and boxes gone */
    char sql[200];
    snprintf(sql, sizeof(sql),
             "INSERT INTO props(res_kind, res_id, ns, name, value) VALUES (1, %llu, 'DAV:', "
             "'x', 'y')",
             (unsigned long long)b_id);
    exec_ok(s, sql);
    assert_int_equal(store_item_delete(s, c.id, "b.ics"), STORE_OK);
    assert_int_equal(store_item_delete(s, c.id, "b.ics"), STORE_NOTFOUND);
    assert_int_equal(
        count_where(s, "SELECT count(*) FROM props WHERE res_id = %llu", (unsigned long long)b_id),
        0);
    assert_int_equal(count_where(s, "SELECT max(modseq) FROM tombstones WHERE coll = %llu",
                                 (unsigned long long)c.id),
                     (int64_t)modseq_of(s, c.id));
    /* the change log of c since modseq 3: a's tombstone (moved away) and b's (deleted) */
    uint64_t n = 0;
    assert_int_equal(store_changes_count(s, c.id, 3, UINT64_MAX, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(store_changes_count(s, c.id, 3, 1, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(store_changes_count(s, c.id, 0, 0, &n), STORE_OK);
    assert_int_equal(n, 0);
    assert_int_equal(store_changes_count(s, d.id, 0, UINT64_MAX, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(store_commit(s), STORE_OK);
    arena_destroy(&a);
    store_close(&s);
}

struct putter {
    struct store *s;
    uint64_t coll;
    enum store_rc rc, commit_rc;
};

static void *put_uid_and_commit(void *arg)
{
    struct putter *pt = arg;
    struct arena *a = arena_create();
    struct store_item_in in = cal_item("Y", "uid-race");
    if (store_begin_write(pt->s) == STORE_OK) {
        pt->rc = store_item_put(pt->s, pt->coll, "y.ics", &in, a, NULL, NULL);
        pt->commit_rc = store_commit(pt->s);
    }
    arena_destroy(&a);
    return NULL;
}

/* Two writers put one uid under two names: the second waits for the collection's lock, then
 * finds the uid taken: STORE_CONFLICT, and its transaction still commits. */
/* Bytes that are not UTF-8 reach no text column: the routes refuse them first, and one that
 * got through would be a conflict (the client's error), not STORE_IO's 503 (issue #10). */
static void test_pg_text_that_is_not_utf8_is_a_conflict(void **state)
{
    (void)state;
    struct store *s = open_pg();
    struct arena *a = arena_create();
    struct store_principal p = add_user(s, a, "utf-lena");
    struct store_coll c;
    struct store_item got;
    assert_int_equal(store_begin_write(s), STORE_OK);
    assert_int_equal(store_coll_create(s, p.home_id, "cal", STORE_COLL_CALENDAR, a, &c), STORE_OK);
    assert_int_equal(store_commit(s), STORE_OK);
    struct store_item_in in = cal_item("BEGIN:VCALENDAR", "uid-utf");
    assert_int_equal(store_begin_write(s), STORE_OK);
    assert_int_equal(store_item_put(s, c.id, "caf\xe9.ics", &in, a, &got, NULL), STORE_CONFLICT);
    assert_non_null(strstr(store_last_error(s), "UTF8"));
    store_rollback(s);
    assert_int_equal(store_begin_write(s), STORE_OK);
    assert_int_equal(store_coll_create(s, p.home_id, "\xff", STORE_COLL_CALENDAR, a, &c),
                     STORE_CONFLICT);
    store_rollback(s);
    arena_destroy(&a);
    store_close(&s);
}

static void test_pg_concurrent_puts_of_a_uid_conflict_cleanly(void **state)
{
    (void)state;
    struct store *a = open_pg();
    struct store *b = open_pg();
    struct arena *ar = arena_create();
    struct store_principal p = add_user(a, ar, "ur-liam");
    struct store_coll c;
    assert_int_equal(store_begin_write(a), STORE_OK);
    assert_int_equal(store_coll_create(a, p.home_id, "cal", STORE_COLL_CALENDAR, ar, &c), STORE_OK);
    assert_int_equal(store_commit(a), STORE_OK);
    struct store_item_in in = cal_item("X", "uid-race");
    assert_int_equal(store_begin_write(a), STORE_OK);
    assert_int_equal(store_item_put(a, c.id, "x.ics", &in, ar, NULL, NULL), STORE_OK);
    struct putter pt = {.s = b, .coll = c.id};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, put_uid_and_commit, &pt), 0);
    struct timespec pause = {0, 300 * 1000 * 1000};
    nanosleep(&pause, NULL);
    assert_int_equal(store_commit(a), STORE_OK);
    pthread_join(t, NULL);
    assert_int_equal(pt.rc, STORE_CONFLICT);
    assert_int_equal(pt.commit_rc, STORE_OK);
    assert_int_equal(
        count_where(a, "SELECT count(*) FROM items WHERE coll = %llu", (unsigned long long)c.id),
        1);
    arena_destroy(&ar);
    store_close(&a);
    store_close(&b);
}

struct prop_seen {
    char v[8][64];
    int n;
};

static int prop_row(void *ctx, const struct store_prop *p)
{
    struct prop_seen *ps = ctx;
    snprintf(ps->v[ps->n++], sizeof(ps->v[0]), "%s|%s|%.*s", p->ns, p->name, (int)p->value_len,
             p->value);
    return 0;
}

static void test_pg_dead_properties_set_get_list_copy_del(void **state)
{
    (void)state;
    struct store *s = open_pg();
    struct arena *a = arena_create();
    struct store_principal p = add_user(s, a, "dp-mona");
    struct store_coll c, d;
    assert_int_equal(store_begin_write(s), STORE_OK);
    assert_int_equal(store_coll_create(s, p.home_id, "c", STORE_COLL_PLAIN, a, &c), STORE_OK);
    assert_int_equal(store_coll_create(s, p.home_id, "d", STORE_COLL_PLAIN, a, &d), STORE_OK);
    struct store_prop p1 = {"DAV:", "displayname", "Work", 4};
    struct store_prop p2 = {"", "b", "x\0y", 3};
    struct store_prop p3 = {"DAV:", "Z", "<z/>", 4};
    assert_int_equal(store_prop_set(s, STORE_RES_COLL, c.id, &p1), STORE_OK);
    assert_int_equal(store_prop_set(s, STORE_RES_COLL, c.id, &p2), STORE_OK);
    assert_int_equal(store_prop_set(s, STORE_RES_COLL, c.id, &p3), STORE_OK);
    p1.value = "Home";
    assert_int_equal(store_prop_set(s, STORE_RES_COLL, c.id, &p1), STORE_OK); /* replaces */
    assert_int_equal(store_prop_set(s, STORE_RES_ITEM, 1u << 30, &p1), STORE_NOTFOUND);
    struct store_prop got;
    assert_int_equal(store_prop_get(s, STORE_RES_COLL, c.id, "", "b", a, &got), STORE_OK);
    assert_int_equal(got.value_len, 3);
    assert_memory_equal(got.value, "x\0y", 3);
    assert_int_equal(store_prop_get(s, STORE_RES_COLL, c.id, "DAV:", "nope", a, &got),
                     STORE_NOTFOUND);
    struct prop_seen ps = {0};
    assert_int_equal(store_prop_list(s, STORE_RES_COLL, c.id, prop_row, &ps), STORE_OK);
    assert_int_equal(ps.n, 3); /* bytewise by (ns, name): "" < "DAV:", "Z" < "displayname" */
    assert_string_equal(ps.v[1], "DAV:|Z|<z/>");
    assert_string_equal(ps.v[2], "DAV:|displayname|Home");
    assert_int_equal(store_prop_copy(s, STORE_RES_COLL, c.id, STORE_RES_COLL, d.id), STORE_OK);
    assert_int_equal(store_prop_del(s, STORE_RES_COLL, c.id, "DAV:", "Z"), STORE_OK);
    assert_int_equal(store_prop_del(s, STORE_RES_COLL, c.id, "DAV:", "Z"), STORE_OK);
    memset(&ps, 0, sizeof(ps));
    assert_int_equal(store_prop_list(s, STORE_RES_COLL, d.id, prop_row, &ps), STORE_OK);
    assert_int_equal(ps.n, 3);
    memset(&ps, 0, sizeof(ps));
    assert_int_equal(store_prop_list(s, STORE_RES_COLL, c.id, prop_row, &ps), STORE_OK);
    assert_int_equal(ps.n, 2);
    assert_int_equal(store_commit(s), STORE_OK);
    arena_destroy(&a);
    store_close(&s);
}

static void put_plain(struct store *s, uint64_t coll, const char *name, int64_t start, int64_t end)
{
    struct store_item_in in = cal_item("x", NULL);
    in.cal.dtstart_utc = start;
    in.cal.dtend_utc = end;
    assert_int_equal(store_item_put(s, coll, name, &in, NULL, NULL, NULL), STORE_OK);
}

static void test_pg_cursors_stream_in_order_in_one_snapshot(void **state)
{
    (void)state;
    struct store *s = open_pg();
    struct store *w = open_pg();
    struct arena *a = arena_create();
    struct store_principal p = add_user(s, a, "cu-nina");
    struct store_coll c;
    assert_int_equal(store_begin_write(s), STORE_OK);
    assert_int_equal(store_coll_create(s, p.home_id, "big", STORE_COLL_CALENDAR, a, &c), STORE_OK);
    char name[32];
    for (int j = 0; j < 600; j++) { /* more than two pages, names not in modseq order */
        int i = (j * 7) % 600;
        snprintf(name, sizeof(name), "e%03d.ics", i);
        put_plain(s, c.id, name, 1000 * i, 1000 * i + 500);
    }
    put_plain(s, c.id, "Z.ics", 100, 100); /* an instant: sorts first by name (bytewise) */
    struct store_item_in series = cal_item("s", NULL);
    series.cal.dtstart_utc = 250000;
    series.cal.dtend_utc = INT64_MAX; /* unbounded */
    series.cal.is_recurring = true;
    struct store_box boxes[1] = {{250000, INT64_MAX}};
    series.cal.boxes = boxes;
    series.cal.nboxes = 1;
    series.cal.has_instances = true;
    series.cal.instances = "II";
    series.cal.instances_size = 2;
    assert_int_equal(store_item_put(s, c.id, "series.ics", &series, a, NULL, NULL), STORE_OK);
    assert_int_equal(store_item_delete(s, c.id, "e005.ics"), STORE_OK);
    assert_int_equal(store_commit(s), STORE_OK);

    struct store_cursor *cur = NULL;
    assert_int_equal(store_items_open(s, c.id, STORE_ORDER_NAME, &cur), STORE_IO); /* no txn */
    assert_null(cur);
    assert_int_equal(store_begin_read(s), STORE_OK);
    /* by name: every item once, bytewise */
    assert_int_equal(store_items_open(s, c.id, STORE_ORDER_NAME, &cur), STORE_OK);
    struct store_item it;
    int n = 0;
    char last[64] = "";
    while (store_cursor_next_item(cur, &it) == STORE_OK) {
        assert_true(strcmp(last, it.name) < 0);
        snprintf(last, sizeof(last), "%s", it.name);
        if (n == 0) {
            assert_string_equal(it.name, "Z.ics");
        }
        n++;
    }
    assert_int_equal(n, 601);
    struct store_coll cc;
    assert_int_equal(store_cursor_next_coll(cur, &cc), STORE_IO);
    store_cursor_close(&cur);
    assert_null(cur);

    /* a writer commits meanwhile: the snapshot does not see it */
    assert_int_equal(store_begin_write(w), STORE_OK);
    put_plain(w, c.id, "late.ics", 5, 6);
    assert_int_equal(store_commit(w), STORE_OK);

    /* the change log after modseq 590, and a second cursor open at the same time */
    struct store_cursor *ch = NULL, *all = NULL;
    assert_int_equal(store_changes_open(s, c.id, 590, &ch), STORE_OK);
    assert_int_equal(store_all_colls_open(s, &all), STORE_OK);
    uint64_t prev = 590;
    int rows = 0, tombs = 0;
    while (store_cursor_next_item(ch, &it) == STORE_OK) {
        assert_true(it.modseq > prev);
        prev = it.modseq;
        rows++;
        if (it.is_tombstone) {
            tombs++;
            assert_string_equal(it.name, "e005.ics");
            assert_null(it.content_type);
        }
        assert_string_not_equal(it.name, "late.ics");
        struct store_coll any;
        store_cursor_next_coll(all, &any); /* interleaved: both stream */
    }
    assert_int_equal(tombs, 1);
    assert_int_equal(rows, 603 + 1 - 590); /* modseqs 591..604 less the deleted one's row */
    store_cursor_close(&ch);
    store_cursor_close(&all);

    /* from 0, full rows and listing rows: every live item and the tombstone once, in modseq
     * order, over three pages (a read transaction reads changes by keyset, 256 a page) */
    for (int k = 0; k < 2; k++) {
        assert_int_equal(k == 0 ? store_changes_open(s, c.id, 0, &ch)
                                : store_changes_open_cols(s, c.id, 0, STORE_COLS_LISTING, &ch),
                         STORE_OK);
        prev = 0;
        rows = tombs = 0;
        while (store_cursor_next_item(ch, &it) == STORE_OK) {
            assert_true(it.modseq > prev);
            prev = it.modseq;
            rows++;
            tombs += it.is_tombstone;
            assert_true(it.coll == c.id);
            assert_string_not_equal(it.name, "late.ics");
            if (k == 0 && !it.is_tombstone) {
                assert_string_equal(it.content_type, "text/calendar");
            }
        }
        assert_int_equal(store_cursor_next_item(ch, &it), STORE_NOTFOUND);
        assert_int_equal(rows, 601 + 1);
        assert_int_equal(tombs, 1);
        store_cursor_close(&ch);
    }

    /* a range: [10000, 12000) meets e010 (10000-10500) and e011 (11000-11500); the series
     * from 250000 on has no end and is found far later; the instant at 100 at a range's
     * start */
    struct store_cursor *r = NULL;
    assert_int_equal(store_items_in_range_open(s, c.id, 10000, 12000, STORE_RANGE_SPAN, &r),
                     STORE_OK);
    const char *want[] = {"e010.ics", "e011.ics"};
    n = 0;
    while (store_cursor_next_item(r, &it) == STORE_OK) {
        assert_true(n < 2);
        assert_string_equal(it.name, want[n++]);
    }
    assert_int_equal(n, 2);
    store_cursor_close(&r);
    assert_int_equal(
        store_items_in_range_open(s, c.id, 900000000, 900000001, STORE_RANGE_INSTANCES, &r),
        STORE_OK);
    assert_int_equal(store_cursor_next_item(r, &it), STORE_OK);
    assert_string_equal(it.name, "series.ics");
    assert_true(it.cal.has_instances);
    assert_memory_equal(it.cal.instances, "II", 2);
    assert_int_equal(store_cursor_next_item(r, &it), STORE_NOTFOUND);
    store_cursor_close(&r);
    assert_int_equal(store_items_in_range_open(s, c.id, 100, 200, STORE_RANGE_SPAN, &r), STORE_OK);
    assert_int_equal(store_cursor_next_item(r, &it), STORE_OK);
    assert_string_equal(it.name, "e000.ics"); /* by dtstart: 0, then the instant at 100 */
    assert_int_equal(store_cursor_next_item(r, &it), STORE_OK);
    assert_string_equal(it.name, "Z.ics");
    assert_int_equal(store_cursor_next_item(r, &it), STORE_NOTFOUND);
    store_cursor_close(&r);

    /* children by name */
    assert_int_equal(store_children_open(s, p.home_id, &r), STORE_OK);
    assert_int_equal(store_cursor_next_coll(r, &cc), STORE_OK);
    assert_string_equal(cc.name, "big");
    assert_int_equal(store_cursor_next_coll(r, &cc), STORE_NOTFOUND);
    assert_int_equal(store_cursor_next_coll(r, &cc), STORE_NOTFOUND);
    store_cursor_close(&r);
    assert_int_equal(store_commit(s), STORE_OK);

    /* by modseq, in a fresh snapshot: the late item is the last */
    assert_int_equal(store_begin_read(s), STORE_OK);
    assert_int_equal(store_items_open(s, c.id, STORE_ORDER_MODSEQ, &cur), STORE_OK);
    n = 0;
    prev = 0;
    while (store_cursor_next_item(cur, &it) == STORE_OK) {
        assert_true(it.modseq > prev);
        prev = it.modseq;
        n++;
    }
    assert_string_equal(it.name, "late.ics");
    assert_int_equal(n, 602);
    store_cursor_close(&cur);
    assert_int_equal(store_commit(s), STORE_OK);
    arena_destroy(&a);
    store_close(&s);
    store_close(&w);
}

struct sub_seen {
    char tokens[4][STORE_SUB_TOKEN_LEN + 1];
    int n;
};

static int sub_row(void *ctx, const struct store_sub *sub)
{
    struct sub_seen *ss = ctx;
    snprintf(ss->tokens[ss->n++], sizeof(ss->tokens[0]), "%s", sub->token);
    return 0;
}

static int addr_row(void *ctx, const char *addr)
{
    struct sub_seen *ss = ctx;
    snprintf(ss->tokens[ss->n++], sizeof(ss->tokens[0]), "%.32s", addr);
    return 0;
}

static void test_pg_subscriptions_and_addresses(void **state)
{
    (void)state;
    struct store *s = open_pg();
    struct arena *a = arena_create();
    struct store_principal p = add_user(s, a, "sa-olga");
    struct store_principal q = add_user(s, a, "sa-pete");
    struct store_coll c;
    struct store_sub sub, got;
    assert_int_equal(store_begin_write(s), STORE_OK);
    assert_int_equal(store_coll_create(s, p.home_id, "cal", STORE_COLL_CALENDAR, a, &c), STORE_OK);
    assert_int_equal(store_sub_create(s, c.id, a, &sub), STORE_OK);
    assert_int_equal(strlen(sub.token), STORE_SUB_TOKEN_LEN);
    assert_int_equal(sub.owner, p.id);
    assert_string_equal(sub.coll_name, "cal");
    assert_int_equal(store_sub_create(s, 1u << 30, a, &got), STORE_NOTFOUND);
    assert_int_equal(store_sub_get(s, sub.token, a, &got), STORE_OK);
    assert_int_equal(got.coll, c.id);
    assert_int_equal(store_sub_get(s, "short", a, &got), STORE_NOTFOUND);
    struct sub_seen ss = {0};
    assert_int_equal(store_sub_create(s, c.id, a, &got), STORE_OK);
    assert_int_equal(store_sub_list(s, p.id, sub_row, &ss), STORE_OK);
    assert_int_equal(ss.n, 2);
    assert_int_equal(store_sub_revoke(s, c.id), STORE_OK);
    assert_int_equal(store_sub_revoke(s, c.id), STORE_NOTFOUND);
    assert_int_equal(store_sub_get(s, sub.token, a, &got), STORE_NOTFOUND);

    uint64_t who = 0;
    assert_int_equal(store_sched_addr_add(s, p.id, "mailto:Olga@Example.COM", a), STORE_OK);
    assert_int_equal(store_sched_addr_add(s, p.id, "mailto:b@example.com", a), STORE_OK);
    /* taken (any case, by anyone): refused, the transaction goes on */
    assert_int_equal(store_sched_addr_add(s, q.id, "MAILTO:olga@example.com", a), STORE_EXISTS);
    assert_int_equal(store_sched_addr_add(s, 1u << 30, "mailto:x@example.com", a), STORE_NOTFOUND);
    assert_int_equal(store_sched_addr_add(s, p.id, "", a), STORE_LIMIT);
    assert_int_equal(store_sched_addr_lookup(s, "mailto:OLGA@example.com", a, &who), STORE_OK);
    assert_int_equal(who, p.id);
    memset(&ss, 0, sizeof(ss));
    assert_int_equal(store_sched_addr_list(s, p.id, addr_row, &ss), STORE_OK);
    assert_int_equal(ss.n, 2);
    assert_string_equal(ss.tokens[0], "mailto:b@example.com");
    assert_int_equal(store_sched_addr_del(s, q.id, "mailto:olga@example.com", a), STORE_NOTFOUND);
    assert_int_equal(store_sched_addr_del(s, p.id, "mailto:olga@example.com", a), STORE_OK);
    assert_int_equal(store_sched_addr_lookup(s, "mailto:olga@example.com", a, &who),
                     STORE_NOTFOUND);
    assert_int_equal(store_commit(s), STORE_OK);
    arena_destroy(&a);
    store_close(&s);
}

static int share_row_count(void *ctx, const struct store_share *sh)
{
    (void)sh;
    ++*(int *)ctx;
    return 0;
}

static void test_pg_shares_grant_name_change_revoke_and_cascade(void **state)
{
    (void)state;
    struct store *s = open_pg();
    struct arena *a = arena_create();
    struct store_principal o = add_user(s, a, "sh-quinn");
    struct store_principal e = add_user(s, a, "sh-rita");
    struct store_coll team, mine, got;
    struct store_share sh;
    bool created = false;
    assert_int_equal(store_begin_write(s), STORE_OK);
    assert_int_equal(store_coll_create(s, o.home_id, "team", STORE_COLL_CALENDAR, a, &team),
                     STORE_OK);
    assert_int_equal(
        store_coll_create(s, e.home_id, "sh-quinn-team", STORE_COLL_CALENDAR, a, &mine), STORE_OK);
    uint64_t h0 = modseq_of(s, e.home_id);
    /* a picked name skips the sharee's own member of that name */
    assert_int_equal(store_share_set(s, team.id, e.id, STORE_SHARE_READ, NULL, a, &sh, &created),
                     STORE_OK);
    assert_true(created);
    assert_string_equal(sh.name, "sh-quinn-team-2");
    assert_string_equal(sh.owner_name, "sh-quinn");
    assert_string_equal(sh.sharee_name, "sh-rita");
    assert_int_equal(modseq_of(s, e.home_id), h0 + 1);
    /* the share's name is taken for the sharee's members */
    assert_int_equal(store_coll_create(s, e.home_id, "sh-quinn-team-2", STORE_COLL_PLAIN, a, &got),
                     STORE_EXISTS);
    /* changing the access keeps the name; refusals */
    assert_int_equal(
        store_share_set(s, team.id, e.id, STORE_SHARE_READ_WRITE, "x", a, &sh, &created), STORE_OK);
    assert_false(created);
    assert_int_equal(sh.access, STORE_SHARE_READ_WRITE);
    assert_string_equal(sh.name, "sh-quinn-team-2");
    assert_int_equal(store_share_set(s, team.id, o.id, STORE_SHARE_READ, NULL, a, &sh, NULL),
                     STORE_CONFLICT);
    assert_int_equal(store_share_set(s, o.home_id, e.id, STORE_SHARE_READ, NULL, a, &sh, NULL),
                     STORE_CONFLICT);
    assert_int_equal(store_share_set(s, mine.id, o.id, STORE_SHARE_READ, "team", a, &sh, NULL),
                     STORE_EXISTS);
    assert_int_equal(store_share_set(s, team.id, e.id, 7, NULL, a, &sh, NULL), STORE_LIMIT);
    assert_int_equal(store_share_lookup(s, e.id, "sh-quinn-team-2", a, &sh), STORE_OK);
    assert_int_equal(sh.coll, team.id);
    int n = 0;
    assert_int_equal(store_share_list_of_sharee(s, e.id, share_row_count, &n), STORE_OK);
    assert_int_equal(store_share_list_of_coll(s, team.id, share_row_count, &n), STORE_OK);
    assert_int_equal(store_share_list_of_owner(s, o.id, share_row_count, &n), STORE_OK);
    assert_int_equal(n, 3);
    assert_int_equal(store_share_del(s, team.id, e.id), STORE_OK);
    assert_int_equal(store_share_del(s, team.id, e.id), STORE_NOTFOUND);
    /* deleting a shared calendar bumps the sharee's home */
    assert_int_equal(store_share_set(s, team.id, e.id, STORE_SHARE_READ, NULL, a, &sh, NULL),
                     STORE_OK);
    uint64_t h1 = modseq_of(s, e.home_id);
    assert_int_equal(store_coll_delete(s, team.id), STORE_OK);
    assert_int_equal(modseq_of(s, e.home_id), h1 + 1);
    assert_int_equal(store_share_get(s, team.id, e.id, a, &sh), STORE_NOTFOUND);
    assert_int_equal(store_commit(s), STORE_OK);
    arena_destroy(&a);
    store_close(&s);
}

static int device_count(void *ctx, const struct store_eas_device *d)
{
    (void)d;
    ++*(int *)ctx;
    return 0;
}

static void test_pg_activesync_devices_blobs_sync_state_and_members(void **state)
{
    (void)state;
    struct store *s = open_pg();
    struct arena *a = arena_create();
    struct store_principal p = add_user(s, a, "as-sam");
    struct store_coll c;
    struct store_eas_device d, got;
    assert_int_equal(store_begin_write(s), STORE_OK);
    assert_int_equal(store_coll_create(s, p.home_id, "cal", STORE_COLL_CALENDAR, a, &c), STORE_OK);
    assert_int_equal(
        store_eas_device_touch(s, p.id, "abc123", "iPhone", "UA/1", "14.1", 100, 2, a, &d),
        STORE_OK);
    assert_int_equal(d.first_seen, 100);
    /* the DeviceId is case-blind; a later touch updates what was sent */
    assert_int_equal(store_eas_device_touch(s, p.id, "ABC123", NULL, "UA/2", NULL, 200, 2, a, &got),
                     STORE_OK);
    assert_int_equal(got.id, d.id);
    assert_string_equal(got.user_agent, "UA/2");
    assert_string_equal(got.device_type, "iPhone");
    assert_string_equal(got.device_id, "abc123");
    assert_int_equal(got.last_seen, 200);
    assert_int_equal(store_eas_device_touch(s, p.id, "two", "X", NULL, NULL, 1, 2, a, &got),
                     STORE_OK);
    assert_int_equal(store_eas_device_touch(s, p.id, "three", "X", NULL, NULL, 1, 2, a, &got),
                     STORE_LIMIT);
    assert_int_equal(store_eas_device_touch(s, 1u << 30, "x", "X", NULL, NULL, 1, 0, a, &got),
                     STORE_NOTFOUND);
    assert_int_equal(store_eas_device_set_policy(s, d.id, 7, 9), STORE_OK);
    struct store_eas_device info = {.model = "M1", .os = "iOS"};
    assert_int_equal(store_eas_device_set_info(s, d.id, &info), STORE_OK);
    assert_int_equal(store_eas_device_set_info(s, 1u << 30, &info), STORE_NOTFOUND);
    assert_int_equal(store_eas_device_seen(s, d.id, 150), STORE_OK); /* never backwards */
    assert_int_equal(store_eas_device_get(s, p.id, "Abc123", a, &got), STORE_OK);
    assert_int_equal(got.policy_pending, 7);
    assert_int_equal(got.policy_key, 9);
    assert_string_equal(got.model, "M1");
    assert_int_equal(got.last_seen, 200);
    int n = 0;
    assert_int_equal(store_eas_device_list(s, p.id, device_count, &n), STORE_OK);
    assert_int_equal(n, 2);

    const void *b = NULL;
    size_t bn = 0;
    assert_int_equal(store_eas_blob_put(s, d.id, "ping", "\0x\0", 3), STORE_OK);
    assert_int_equal(store_eas_blob_put(s, d.id, "ping", "yz", 2), STORE_OK);
    assert_int_equal(store_eas_blob_put(s, 1u << 30, "ping", "yz", 2), STORE_NOTFOUND);
    assert_int_equal(store_eas_blob_get(s, d.id, "ping", a, &b, &bn), STORE_OK);
    assert_int_equal(bn, 2);
    assert_memory_equal(b, "yz", 2);
    assert_int_equal(store_eas_blob_del(s, d.id, "ping"), STORE_OK);
    assert_int_equal(store_eas_blob_get(s, d.id, "ping", a, &b, &bn), STORE_NOTFOUND);

    struct store_item_in in = cal_item("X", "u-as");
    struct store_item it;
    assert_int_equal(store_item_put(s, c.id, "x.ics", &in, a, &it, NULL), STORE_OK);
    struct store_eas_sync st = {.device = d.id,
                                .coll = c.id,
                                .key_cur = "{k2}",
                                .key_prev = "{k1}",
                                .cursor = 5,
                                .coll_epoch = c.epoch,
                                .answer = "ANS",
                                .answer_len = 3,
                                .updated = 300};
    assert_int_equal(store_eas_member_put(s, d.id, c.id, it.id, 2), STORE_NOTFOUND); /* no state */
    assert_int_equal(store_eas_sync_put(s, &st), STORE_OK);
    assert_int_equal(store_eas_member_put(s, d.id, c.id, it.id, 2), STORE_OK);
    st.cursor = 6;
    assert_int_equal(store_eas_sync_put(s, &st), STORE_OK); /* in place: members stay */
    uint64_t m = 0, cnt = 0, cursor = 0;
    assert_int_equal(store_eas_member_get(s, d.id, c.id, it.id, &m), STORE_OK);
    assert_int_equal(m, 2);
    assert_int_equal(store_eas_member_count(s, d.id, c.id, &cnt), STORE_OK);
    assert_int_equal(cnt, 1);
    assert_int_equal(store_eas_sync_cursor(s, d.id, c.id, &cursor), STORE_OK);
    assert_int_equal(cursor, 6);
    struct store_eas_sync sg;
    assert_int_equal(store_eas_sync_get(s, d.id, c.id, a, &sg), STORE_OK);
    assert_string_equal(sg.key_prev, "{k1}");
    assert_int_equal(sg.answer_len, 3);
    assert_null(sg.options);
    st.device = 1u << 30;
    assert_int_equal(store_eas_sync_put(s, &st), STORE_NOTFOUND);
    /* aged members: the item ended at 4000, so a cutoff after it finds it */
    struct store_cursor *cur = NULL;
    assert_int_equal(store_eas_members_aged_open(s, d.id, c.id, 5000, 10, &cur), STORE_OK);
    assert_int_equal(store_cursor_next_item(cur, &it), STORE_OK);
    assert_string_equal(it.name, "x.ics");
    assert_int_equal(store_cursor_next_item(cur, &it), STORE_NOTFOUND);
    store_cursor_close(&cur);
    assert_int_equal(store_eas_member_del(s, d.id, c.id, it.id), STORE_OK);
    assert_int_equal(store_eas_member_put(s, d.id, c.id, it.id, 3), STORE_OK);
    assert_int_equal(store_eas_sync_reset(s, d.id, c.id), STORE_OK);
    assert_int_equal(store_eas_member_count(s, d.id, c.id, &cnt), STORE_OK);
    assert_int_equal(cnt, 0);
    assert_int_equal(store_eas_device_del(s, p.id, "ABC123"), STORE_OK);
    assert_int_equal(store_eas_device_del(s, p.id, "ABC123"), STORE_NOTFOUND);
    assert_int_equal(store_commit(s), STORE_OK);
    arena_destroy(&a);
    store_close(&s);
}

/* The store's own invariants, which PostgreSQL's constraints cannot see; and a backup is
 * pg_dump's, not the engine's. */
static void test_pg_check_finds_a_broken_invariant_and_backup_is_refused(void **state)
{
    (void)state;
    struct store *s = open_pg();
    struct arena *a = arena_create();
    struct store_principal p = add_user(s, a, "ck-tom");
    struct store_coll c;
    struct store_item it;
    assert_int_equal(store_begin_write(s), STORE_OK);
    assert_int_equal(store_coll_create(s, p.home_id, "cal", STORE_COLL_CALENDAR, a, &c), STORE_OK);
    struct store_item_in in = cal_item("X", "u-ck");
    assert_int_equal(store_item_put(s, c.id, "x.ics", &in, a, &it, NULL), STORE_OK);
    assert_int_equal(store_commit(s), STORE_OK);
    assert_int_equal(store_check(s), STORE_OK);
    char sql[128];
    snprintf(sql, sizeof(sql), "UPDATE items SET modseq = modseq + 100 WHERE id = %llu",
             (unsigned long long)it.id);
    exec_ok(s, sql);
    assert_int_equal(store_check(s), STORE_CONFLICT);
    char want[96];
    snprintf(want, sizeof(want), "an item above its collection's modseq (id %llu)",
             (unsigned long long)it.id);
    assert_string_equal(store_last_error(s), want);
    assert_false(store_in_txn(s));
    snprintf(sql, sizeof(sql), "UPDATE items SET modseq = modseq - 100 WHERE id = %llu",
             (unsigned long long)it.id);
    exec_ok(s, sql);
    assert_int_equal(store_check(s), STORE_OK);
    assert_int_equal(store_backup(s, "/tmp/never.db"), STORE_CONFLICT);
    assert_int_equal(access("/tmp/never.db", F_OK), -1);
    arena_destroy(&a);
    store_close(&s);
}

/* The listing cursors (STORE_COLS_LISTING, issue 16): the same rows in the same order as the
 * full cursors, with only id, coll, name and modseq (the change log's also created_modseq and
 * the tombstone flag) and every other field zero; served by migration 014's indexes. */
static int listing_index_count(struct store *s)
{
    return (int)query_i64(s, "SELECT count(*) FROM pg_indexes WHERE tablename = 'items' AND "
                             "((indexname = 'items_coll_name_list' AND indexdef LIKE "
                             "'%(coll, name) INCLUDE (id, modseq)') OR (indexname = "
                             "'items_coll_modseq' AND indexdef LIKE '%(coll, modseq) INCLUDE "
                             "(id, name, created_modseq)'))");
}

static void test_pg_listing_cursors_match_the_full_rows(void **state)
{
    (void)state;
    struct store *s = open_pg();
    struct arena *a = arena_create();
    assert_int_equal(listing_index_count(s), 2);
    struct store_principal p = add_user(s, a, "li-ola");
    struct store_coll c;
    assert_int_equal(store_begin_write(s), STORE_OK);
    assert_int_equal(store_coll_create(s, p.home_id, "cal", STORE_COLL_CALENDAR, a, &c), STORE_OK);
    char name[32];
    for (int j = 0; j < 300; j++) { /* more than a page; names not in modseq order */
        snprintf(name, sizeof(name), "i%03d.ics", (j * 7) % 300);
        struct store_item_in in = cal_item("X", NULL);
        assert_int_equal(store_item_put(s, c.id, name, &in, a, NULL, NULL), STORE_OK);
    }
    struct store_item_in up = cal_item("Y", NULL);
    assert_int_equal(store_item_put(s, c.id, "B.ics", &up, a, NULL, NULL), STORE_OK);
    assert_int_equal(store_item_put(s, c.id, "i007.ics", &up, a, NULL, NULL), STORE_OK); /* mod */
    assert_int_equal(store_item_delete(s, c.id, "B.ics"), STORE_OK);
    assert_int_equal(store_item_delete(s, c.id, "i010.ics"), STORE_OK);
    assert_int_equal(store_commit(s), STORE_OK);

    struct store_cursor *cur = NULL;
    assert_int_equal(store_items_open_cols(s, c.id, STORE_ORDER_NAME, STORE_COLS_LISTING, &cur),
                     STORE_IO); /* no transaction */
    assert_null(cur);
    assert_int_equal(store_begin_read(s), STORE_OK);
    for (int k = 0; k < 6; k++) {
        /* k < 3: STORE_COLS_LISTING; then STORE_COLS_NAMES, which this engine answers alike */
        int order = k % 3;
        enum store_item_cols cols = k < 3 ? STORE_COLS_LISTING : STORE_COLS_NAMES;
        struct store_cursor *full = NULL, *list = NULL;
        if (order < 2) {
            enum store_order o = order == 0 ? STORE_ORDER_NAME : STORE_ORDER_MODSEQ;
            assert_int_equal(store_items_open(s, c.id, o, &full), STORE_OK);
            assert_int_equal(store_items_open_cols(s, c.id, o, cols, &list), STORE_OK);
        } else {
            assert_int_equal(store_changes_open(s, c.id, 1, &full), STORE_OK);
            assert_int_equal(store_changes_open_cols(s, c.id, 1, cols, &list), STORE_OK);
        }
        struct store_item f, l;
        int n = 0, tombs = 0;
        enum store_rc rf;
        while ((rf = store_cursor_next_item(full, &f)) == STORE_OK) {
            assert_int_equal(store_cursor_next_item(list, &l), STORE_OK);
            assert_int_equal(l.id, f.id);
            assert_int_equal(l.coll, c.id);
            assert_string_equal(l.name, f.name);
            assert_int_equal(l.modseq, f.modseq);
            assert_null(l.content_type);
            assert_null(l.cal.uid);
            assert_int_equal(l.size, 0);
            assert_int_equal(l.mtime, 0);
            if (order == 2) {
                assert_int_equal(l.created_modseq, f.created_modseq);
                assert_int_equal(l.is_tombstone, f.is_tombstone);
                tombs += l.is_tombstone;
            } else {
                assert_int_equal(l.created_modseq, 0);
                assert_false(l.is_tombstone);
            }
            n++;
        }
        assert_int_equal(rf, STORE_NOTFOUND);
        assert_int_equal(store_cursor_next_item(list, &l), STORE_NOTFOUND);
        assert_int_equal(n, order == 2 ? 301 : 299); /* 299 live (B and i010 gone), 2 tombs */
        assert_int_equal(tombs, order == 2 ? 2 : 0);
        store_cursor_close(&full);
        store_cursor_close(&list);
    }
    /* the change log after the modification: i007 then the two tombstones, in modseq order */
    struct store_item prev_it;
    struct store_coll now;
    assert_int_equal(store_coll_get(s, c.id, a, &now), STORE_OK);
    struct store_cursor *ch = NULL;
    assert_int_equal(store_changes_open_cols(s, c.id, now.modseq - 3, STORE_COLS_LISTING, &ch),
                     STORE_OK);
    const char *want[] = {"i007.ics", "B.ics", "i010.ics"};
    const bool tomb[] = {false, true, true};
    uint64_t last = 0;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(store_cursor_next_item(ch, &prev_it), STORE_OK);
        assert_string_equal(prev_it.name, want[i]);
        assert_int_equal(prev_it.is_tombstone, tomb[i]);
        assert_true(prev_it.modseq > last);
        last = prev_it.modseq;
    }
    assert_int_equal(store_cursor_next_item(ch, &prev_it), STORE_NOTFOUND);
    store_cursor_close(&ch);
    assert_int_equal(store_commit(s), STORE_OK);
    arena_destroy(&a);
    store_close(&s);
}

static int imip_collect(void *ctx, const struct store_imip_msg *m)
{
    uint64_t *ids = ctx;
    assert_null(m->message);
    ids[ids[0] + 1] = m->id;
    ids[0]++;
    return ids[0] == 2; /* stops after two */
}

/* The iMIP outbox (schema_pg/013): queue, due order, tries, retry, list; a refusal leaves the
 * caller's write transaction usable, and the bytes (a NUL among them) come back whole. */
struct claimer {
    struct store *s;
    uint64_t id;
    enum store_rc rc;
    atomic_bool is_done;
};

static void *claim_and_commit(void *p)
{
    struct claimer *c = p;
    assert_int_equal(store_begin_write(c->s), STORE_OK);
    c->rc = store_imip_claim(c->s, c->id, 100, 400);
    assert_int_equal(store_commit(c->s), STORE_OK);
    atomic_store(&c->is_done, true);
    return NULL;
}

/* Two nodes' senders claim the same due message: the second waits for the first's row lock,
 * then finds it claimed (READ COMMITTED re-reads the row): one sender sends it. */
static void test_pg_imip_claim_gives_a_message_to_one_node(void **state)
{
    (void)state;
    struct store *a = open_pg();
    struct store *b = open_pg();
    struct arena *ar = arena_create();
    struct store_imip_in in = {.mail_from = "x@example.org",
                               .rcpt_to = "y@example.net",
                               .method = "REPLY",
                               .uid = "claim-1",
                               .message = "Subject: c\r\n\r\nC",
                               .size = 15,
                               .next_try = 100};
    uint64_t id = 0;
    assert_int_equal(store_begin_write(a), STORE_OK);
    assert_int_equal(store_imip_enqueue(a, &in, &id), STORE_OK);
    assert_int_equal(store_commit(a), STORE_OK);

    assert_int_equal(store_begin_write(a), STORE_OK);
    struct store_imip_msg m;
    assert_int_equal(store_imip_next_due(a, 100, ar, &m), STORE_OK);
    assert_int_equal(m.id, id);
    assert_int_equal(store_imip_claim(a, id, 100, 300), STORE_OK);
    struct claimer cb = {.s = b, .id = id};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, claim_and_commit, &cb), 0);
    struct timespec pause = {0, 300 * 1000 * 1000};
    nanosleep(&pause, NULL);
    assert_false(atomic_load(&cb.is_done)); /* waiting on the row lock */
    assert_int_equal(store_commit(a), STORE_OK);
    pthread_join(t, NULL);
    assert_int_equal(cb.rc, STORE_NOTFOUND);
    assert_int_equal(store_imip_get(b, id, ar, &m), STORE_OK);
    assert_int_equal(m.next_try, 300); /* the first claim's lease */
    assert_int_equal(store_imip_next_due(b, 299, ar, &m), STORE_NOTFOUND);
    assert_int_equal(store_begin_write(a), STORE_OK); /* sent: the outbox is left empty */
    assert_int_equal(store_imip_tried(a, id, STORE_IMIP_SENT, 200, 200, NULL), STORE_OK);
    assert_int_equal(store_commit(a), STORE_OK);
    arena_destroy(&ar);
    store_close(&b);
    store_close(&a);
}

static void test_pg_imip_outbox_queue_try_retry_list(void **state)
{
    (void)state;
    struct store *s = open_pg();
    struct arena *a = arena_create();
    struct store_principal p = add_user(s, a, "im-una");
    struct store_imip_in in = {
        .principal = p.id,
        .mail_from = "una@example.org",
        .rcpt_to = "bob@example.net",
        .method = "REQUEST",
        .uid = "u-1",
        .attendee = "mailto:bob@example.net",
        .message = "Subject: x\r\n\r\nA\0B",
        .size = 17,
        .next_try = 100,
    };
    uint64_t id1 = 0, id2 = 0, id3 = 0;
    assert_int_equal(store_begin_write(s), STORE_OK);
    struct store_imip_in bad = in;
    bad.rcpt_to = "";
    assert_int_equal(store_imip_enqueue(s, &bad, NULL), STORE_LIMIT);
    assert_int_equal(store_imip_enqueue(s, &in, &id1), STORE_OK);
    struct store_imip_in reply = in;
    reply.principal = 0;
    reply.method = "REPLY";
    reply.attendee = NULL;
    reply.next_try = 50;
    assert_int_equal(store_imip_enqueue(s, &reply, &id2), STORE_OK);
    in.next_try = 70;
    assert_int_equal(store_imip_enqueue(s, &in, &id3), STORE_OK);
    assert_int_equal(store_commit(s), STORE_OK);
    assert_true(id1 < id2 && id2 < id3);

    int64_t t = 0;
    assert_int_equal(store_imip_next_time(s, &t), STORE_OK);
    assert_int_equal(t, 50);
    struct store_imip_msg m;
    assert_int_equal(store_imip_next_due(s, 40, a, &m), STORE_NOTFOUND);
    assert_int_equal(store_imip_next_due(s, 200, a, &m), STORE_OK);
    assert_int_equal(m.id, id2);
    assert_int_equal(m.principal, 0);
    assert_null(m.attendee);
    assert_string_equal(m.method, "REPLY");
    assert_int_equal(m.size, 17);
    assert_memory_equal(m.message, "Subject: x\r\n\r\nA\0B", 17);
    assert_int_equal(m.state, STORE_IMIP_QUEUED);

    assert_int_equal(store_begin_write(s), STORE_OK);
    assert_int_equal(store_imip_tried(s, id2, STORE_IMIP_SENT, 60, 60, NULL), STORE_OK);
    assert_int_equal(store_imip_tried(s, id3, STORE_IMIP_QUEUED, 61, 300, "451 later"), STORE_OK);
    assert_int_equal(store_imip_tried(s, id1, STORE_IMIP_FAILED, 62, 100, "550 no"), STORE_OK);
    assert_int_equal(store_imip_tried(s, id3 + 1000, STORE_IMIP_SENT, 1, 1, NULL), STORE_NOTFOUND);
    assert_int_equal(store_imip_retry(s, id3 + 1000, 1), STORE_NOTFOUND);
    assert_int_equal(store_commit(s), STORE_OK); /* the refusals left it usable */
    assert_int_equal(store_imip_next_time(s, &t), STORE_OK);
    assert_int_equal(t, 300); /* only id3 is queued */
    assert_int_equal(store_imip_get(s, id3, a, &m), STORE_OK);
    assert_int_equal(m.attempts, 1);
    assert_int_equal(m.next_try, 300);
    assert_string_equal(m.last_error, "451 later");
    assert_null(m.message);
    assert_int_equal(store_imip_get(s, id1, a, &m), STORE_OK);
    assert_int_equal(m.state, STORE_IMIP_FAILED);
    assert_string_equal(m.attendee, "mailto:bob@example.net");
    assert_int_equal(m.principal, p.id);
    assert_int_equal(
        count_where(s, "SELECT done FROM imip_queue WHERE id = %llu", (unsigned long long)id1), 62);
    assert_int_equal(count_where(s, "SELECT count(*) FROM imip_queue WHERE done IS NULL"), 1);
    assert_int_equal(store_imip_get(s, id3 + 1000, a, &m), STORE_NOTFOUND);

    /* an admin's retry: queued again, due now, tries and age from now */
    assert_int_equal(store_begin_write(s), STORE_OK);
    assert_int_equal(store_imip_retry(s, id1, 500), STORE_OK);
    assert_int_equal(store_commit(s), STORE_OK);
    assert_int_equal(store_imip_get(s, id1, a, &m), STORE_OK);
    assert_int_equal(m.state, STORE_IMIP_QUEUED);
    assert_int_equal(m.attempts, 0);
    assert_int_equal(m.next_try, 500);
    assert_int_equal(m.created, 500);
    assert_int_equal(count_where(s, "SELECT count(*) FROM imip_queue WHERE done IS NULL"), 2);
    assert_int_equal(store_imip_next_due(s, 400, a, &m), STORE_OK);
    assert_int_equal(m.id, id3); /* next_try 300 before 500 */

    /* the listing by id, stopped after two */
    uint64_t ids[4] = {0};
    assert_int_equal(store_imip_list(s, imip_collect, ids), STORE_OK);
    assert_int_equal(ids[0], 2);
    assert_int_equal(ids[1], id1);
    assert_int_equal(ids[2], id2);
    /* the principal's deletion keeps its messages, without the principal */
    assert_int_equal(store_begin_write(s), STORE_OK);
    assert_int_equal(store_principal_del(s, "im-una"), STORE_OK);
    assert_int_equal(store_commit(s), STORE_OK);
    assert_int_equal(store_imip_get(s, id1, a, &m), STORE_OK);
    assert_int_equal(m.principal, 0);
    exec_ok(s, "DELETE FROM imip_queue");
    assert_int_equal(store_imip_next_time(s, &t), STORE_NOTFOUND);
    arena_destroy(&a);
    store_close(&s);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Terminates the backend `pid` from `killer` (as a restart of the server does to every
 * session: SIGTERM, FATAL 57P01, the socket closed) and waits until it is gone. */
static void terminate_backend(struct store *killer, int64_t pid)
{
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%lld)", (long long)pid);
    exec_ok(killer, sql);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM pg_stat_activity WHERE pid = %lld",
             (long long)pid);
    for (int i = 0; query_i64(killer, sql) != 0; i++) {
        assert_true(i < 500); /* 5 s */
        sleep_ms(10);
    }
    sleep_ms(20); /* the close on its way to the client */
}

static const char *show(struct store *s, const char *setting, char *out, size_t n)
{
    char sql[64];
    snprintf(sql, sizeof(sql), "SHOW %s", setting);
    PGresult *res = NULL;
    assert_int_equal(store_pg_exec(s, sql, NULL, &res), STORE_OK);
    snprintf(out, n, "%s", store_pg_col_text(res, 0, 0, NULL));
    PQclear(res);
    return out;
}

/* Issue #10 item 5: a server gone in the middle of a transaction fails the statement with
 * STORE_UNAVAILABLE (not STORE_IO, which the routes would call store-failed), the connection
 * then has no transaction (BEGIN reports the lost server again, not "a transaction is already
 * open"); a pool drops such a connection when it comes back, and replaces an idle one whose
 * server went away while it sat in the pool when it is next acquired. */
static void test_pg_lost_connection_is_unavailable_and_the_pool_reconnects(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    struct store *killer = open_pg();
    struct store *s = open_pg();
    uint64_t gen = 0;

    /* in the middle of a read transaction */
    int64_t pid = query_i64(s, "SELECT pg_backend_pid()");
    assert_int_equal(store_begin_read(s), STORE_OK);
    terminate_backend(killer, pid);
    assert_int_equal(store_principal_cred_gen(s, "lc-nobody", &gen), STORE_UNAVAILABLE);
    assert_false(store_in_txn(s));
    store_rollback(s);
    assert_int_equal(store_begin_read(s), STORE_UNAVAILABLE);
    assert_int_equal(store_begin_write(s), STORE_UNAVAILABLE);
    store_close(&s);

    /* at COMMIT of a write */
    s = open_pg();
    pid = query_i64(s, "SELECT pg_backend_pid()");
    struct store_principal p;
    assert_int_equal(store_begin_write(s), STORE_OK);
    assert_int_equal(store_principal_add(s, "lc-ann", "h", a, &p), STORE_OK);
    terminate_backend(killer, pid);
    assert_int_equal(store_commit(s), STORE_UNAVAILABLE);
    store_close(&s);
    assert_int_equal(query_i64(killer, "SELECT count(*) FROM principals WHERE name = 'lc-ann'"), 0);

    /* the pool: a connection lost while in use is dropped when released */
    struct store_pool *pool = NULL;
    assert_int_equal(store_pg_pool_create(uri, 3, &pool), STORE_OK);
    struct store *c = store_pool_acquire(pool);
    assert_non_null(c);
    pid = query_i64(c, "SELECT pg_backend_pid()");
    assert_int_equal(store_begin_write(c), STORE_OK);
    terminate_backend(killer, pid);
    assert_int_equal(store_principal_add(c, "lc-bea", "h", a, &p), STORE_UNAVAILABLE);
    store_pool_release(pool, c);
    struct store_pool_stats st;
    store_pool_stats(pool, &st);
    assert_int_equal(st.open, 0);
    assert_int_equal(st.in_use, 0);
    c = store_pool_acquire(pool);
    assert_non_null(c);
    assert_true(query_i64(c, "SELECT pg_backend_pid()") != pid);
    assert_int_equal(store_begin_read(c), STORE_OK);
    assert_int_equal(store_principal_cred_gen(c, "lc-nobody", &gen), STORE_NOTFOUND);
    store_pool_release(pool, c);

    /* an idle pooled connection whose server went away: replaced at acquire, so the first
     * request after the server is back does not fail */
    c = store_pool_acquire(pool);
    pid = query_i64(c, "SELECT pg_backend_pid()");
    store_pool_release(pool, c);
    terminate_backend(killer, pid);
    c = store_pool_acquire(pool);
    assert_non_null(c);
    assert_true(query_i64(c, "SELECT pg_backend_pid()") != pid);
    assert_int_equal(store_begin_write(c), STORE_OK);
    assert_int_equal(store_principal_add(c, "lc-cy", "h", a, &p), STORE_OK);
    assert_int_equal(store_commit(c), STORE_OK);
    store_pool_release(pool, c);
    store_pool_stats(pool, &st);
    assert_int_equal(st.open, 1);
    store_pool_destroy(&pool);
    store_close(&killer);
    arena_destroy(&a);
}

/* Issue #10 item 5: the pool's statement timeout is set on every connection it hands out
 * (and changed on the next acquire when the pool's changes); a write waiting for a collection
 * row lock another session holds past it is cancelled by the server: STORE_BUSY, the 503
 * store-busy of the routes, in about the timeout. A connection opened by store_open (the
 * admin CLI) has none. */
static void test_pg_statement_timeout_cancels_a_lock_wait_as_busy(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    struct store *holder = open_pg();
    char v[32];
    assert_string_equal(show(holder, "statement_timeout", v, sizeof(v)), "0");
    struct store_principal p = add_user(holder, a, "st-dan");

    struct store_pool *pool = NULL;
    assert_int_equal(store_pg_pool_create(uri, 2, &pool), STORE_OK);
    store_pool_set_statement_timeout(pool, 300);
    struct store *c = store_pool_acquire(pool);
    assert_non_null(c);
    assert_string_equal(show(c, "statement_timeout", v, sizeof(v)), "300ms");

    assert_int_equal(store_begin_write(holder), STORE_OK);
    assert_int_equal(store_pg_lock_coll(holder, p.home_id), STORE_OK);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(store_begin_write(c), STORE_OK);
    struct store_coll coll;
    assert_int_equal(store_coll_create(c, p.home_id, "cal", STORE_COLL_CALENDAR, a, &coll),
                     STORE_BUSY);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double waited = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_true(waited >= 0.25);
    assert_true(waited < 5.0);
    assert_int_equal(store_rollback(c), STORE_OK);
    /* once the lock is free, the same write goes through */
    assert_int_equal(store_rollback(holder), STORE_OK);
    assert_int_equal(store_begin_write(c), STORE_OK);
    assert_int_equal(store_coll_create(c, p.home_id, "cal", STORE_COLL_CALENDAR, a, &coll),
                     STORE_OK);
    assert_int_equal(store_commit(c), STORE_OK);
    store_pool_release(pool, c);

    store_pool_set_statement_timeout(pool, 0);
    c = store_pool_acquire(pool);
    assert_string_equal(show(c, "statement_timeout", v, sizeof(v)), "0");
    store_pool_release(pool, c);
    store_pool_destroy(&pool);
    store_close(&holder);
    arena_destroy(&a);
}

/* One principal_add in a write transaction, committed; the first failure's rc. */
static enum store_rc add_in_txn(struct store *s, struct arena *a, const char *name)
{
    struct store_principal p;
    enum store_rc rc = store_begin_write(s);
    if (rc == STORE_OK) {
        rc = store_principal_add(s, name, "h", a, &p);
    }
    if (rc == STORE_OK) {
        rc = store_commit(s);
    }
    if (rc != STORE_OK) {
        store_rollback(s);
    }
    return rc;
}

/* The fault seam's statement points on PostgreSQL (store_fault.h): BEGIN, every statement
 * and COMMIT are points; io fails one with STORE_IO and its injected message, nothing sent,
 * nothing written; busy with STORE_BUSY; lost breaks the connection for real, so the
 * statement fails STORE_UNAVAILABLE, the connection stays unusable, and a pool replaces it.
 * The statements of opening a connection are no points. */
static void test_pg_fault_points_fail_statements_and_lose_the_connection(void **state)
{
    (void)state;
    if (!store_fault_available()) {
        skip();
    }
    struct arena *a = arena_create();
    struct store *killer = open_pg();
    struct store_fault_plan plan = {.op = STORE_FAULT_STMT, .nth = 0, .err = STORE_FAULT_IO};
    store_fault_arm(&plan); /* counts, fails none; opening is no point */
    struct store *s = open_pg();
    assert_int_equal(store_fault_points(), 0);
    assert_int_equal(add_in_txn(s, a, "fp-count"), STORE_OK);
    uint64_t n = store_fault_points();
    assert_true(n >= 3); /* BEGIN, the statements, COMMIT */
    for (uint64_t i = 1; i <= n; i++) {
        plan.nth = i;
        plan.err = i % 2 ? STORE_FAULT_IO : STORE_FAULT_BUSY;
        store_fault_arm(&plan);
        assert_int_equal(add_in_txn(s, a, "fp-io"), i % 2 ? STORE_IO : STORE_BUSY);
        assert_int_equal(store_fault_fired(), 1);
        if (i % 2) {
            assert_non_null(strstr(store_last_error(s), "injected fault"));
        }
        assert_false(store_in_txn(s));
    }
    store_fault_disarm();
    assert_int_equal(query_i64(killer, "SELECT count(*) FROM principals WHERE name = 'fp-io'"), 0);

    /* lost, at each point in turn */
    for (uint64_t i = 1; i <= n; i++) {
        plan.nth = i;
        plan.err = STORE_FAULT_LOST;
        store_fault_arm(&plan);
        assert_int_equal(add_in_txn(s, a, "fp-lost"), STORE_UNAVAILABLE);
        assert_int_equal(store_fault_fired(), 1);
        store_fault_disarm();
        assert_false(store_in_txn(s));
        assert_int_equal(store_begin_read(s), STORE_UNAVAILABLE); /* broken for real */
        store_close(&s);
        s = open_pg();
    }
    store_close(&s);
    assert_int_equal(query_i64(killer, "SELECT count(*) FROM principals WHERE name = 'fp-lost'"),
                     0);

    /* a pooled connection lost by the seam is replaced */
    struct store_pool *pool = NULL;
    assert_int_equal(store_pg_pool_create(uri, 2, &pool), STORE_OK);
    struct store *c = store_pool_acquire(pool);
    plan.nth = 1;
    store_fault_arm(&plan);
    /* the BEGIN is queued for the first statement (store_pg_defer), which meets the loss */
    assert_int_equal(store_begin_read(c), STORE_OK);
    uint64_t gen = 0;
    assert_int_equal(store_principal_cred_gen(c, "fp-nobody", &gen), STORE_UNAVAILABLE);
    assert_int_equal(store_fault_fired(), 1);
    store_fault_disarm();
    store_pool_release(pool, c);
    c = store_pool_acquire(pool);
    assert_non_null(c);
    assert_int_equal(add_in_txn(c, a, "fp-after"), STORE_OK);
    store_pool_release(pool, c);
    store_pool_destroy(&pool);
    store_close(&killer);
    arena_destroy(&a);
}

/* Statements go prepared, each once per connection (store_pg_stmt.c): the second call of
 * principal_get executes the name the first one prepared, through ROLLBACK (a prepared
 * statement outlives the transaction) and PQreset (a new server session: the table starts
 * over instead of naming a statement the session does not have). BEGIN is sent with the
 * transaction's first statement; a transaction that sent nothing commits without a round
 * trip; an error in a pipeline is the operation's and leaves the transaction aborted. */
static int64_t prepared_count(struct store *s, const char *like)
{
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%s'", like);
    return query_i64(s, sql);
}

static void test_pg_statements_are_prepared_once_and_begin_rides_with_the_first(void **state)
{
    (void)state;
    struct store *s = open_pg();
    struct arena *a = arena_create();
    struct store_principal p = add_user(s, a, "ps-ann");
    PGconn *conn = pgc(s)->conn;
    const char *like = "SELECT id, name, pwhash, home_id, cred_gen FROM principals WHERE name%";
    const char *like_home = "SELECT p.*, h.* FROM (SELECT id, name, pwhash, home_id, cred_gen "
                            "FROM principals WHERE name%";

    assert_int_equal(store_begin_read(s), STORE_OK);
    assert_true(store_in_txn(s));
    assert_int_equal(PQtransactionStatus(conn), PQTRANS_IDLE); /* nothing sent yet */
    struct store_principal got;
    assert_int_equal(store_principal_get(s, "ps-ann", a, &got), STORE_OK);
    assert_int_equal(PQtransactionStatus(conn), PQTRANS_INTRANS);
    assert_int_equal(store_rollback(s), STORE_OK);
    assert_int_equal(prepared_count(s, like_home), 1); /* in a read transaction, with the home */
    assert_int_equal(prepared_count(s, like), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(store_principal_get(s, "ps-ann", a, &got), STORE_OK);
        assert_true(got.id == p.id);
    }
    assert_int_equal(prepared_count(s, like), 1);

    /* a new server session behind the same connection */
    PQreset(conn);
    assert_int_equal(PQstatus(conn), CONNECTION_OK);
    assert_int_equal(prepared_count(s, like), 0);
    assert_int_equal(store_principal_get(s, "ps-ann", a, &got), STORE_OK);
    assert_int_equal(prepared_count(s, like), 1);

    /* an empty transaction: no BEGIN, no COMMIT */
    assert_int_equal(store_begin_write(s), STORE_OK);
    assert_int_equal(store_begin_read(s), STORE_IO); /* one transaction at a time */
    assert_int_equal(store_commit(s), STORE_OK);
    assert_false(store_in_txn(s));
    assert_int_equal(PQtransactionStatus(conn), PQTRANS_IDLE);

    /* a failing first statement: its error, the transaction aborted, then rolled back */
    assert_int_equal(store_begin_write(s), STORE_OK);
    PGresult *res = NULL;
    assert_int_equal(store_pg_exec(s, "SELECT 1 / 0", NULL, &res), STORE_IO);
    assert_null(res);
    assert_string_equal(store_last_error(s), "division by zero");
    assert_int_equal(PQtransactionStatus(conn), PQTRANS_INERROR);
    assert_int_equal(store_commit(s), STORE_IO);
    assert_false(store_in_txn(s));
    assert_int_equal(store_principal_get(s, "ps-ann", a, &got), STORE_OK);

    /* a cursor's CLOSE goes with the next statement */
    assert_int_equal(store_begin_read(s), STORE_OK);
    struct store_cursor *cur = NULL;
    assert_int_equal(store_items_open(s, p.home_id, STORE_ORDER_NAME, &cur), STORE_OK);
    assert_int_equal(query_i64(s, "SELECT count(*) FROM pg_cursors WHERE name LIKE 'almanac_c%'"),
                     1);
    store_cursor_close(&cur);
    assert_int_equal(query_i64(s, "SELECT count(*) FROM pg_cursors WHERE name LIKE 'almanac_c%'"),
                     0);
    assert_int_equal(store_items_open(s, p.home_id, STORE_ORDER_NAME, &cur), STORE_OK);
    store_cursor_close(&cur);
    assert_int_equal(store_commit(s), STORE_OK);
    assert_int_equal(PQtransactionStatus(conn), PQTRANS_IDLE);
    arena_destroy(&a);
    store_close(&s);
}

/* A repeat within a read transaction is answered from the first answer (store_pg_exec_snap):
 * the clock the server read for the first stands for the second; after the transaction, and
 * in a write transaction (each statement its own snapshot), the server answers again. */
static void pause_2ms(void)
{
    struct timespec pause = {0, 2000000};
    nanosleep(&pause, NULL);
}

static const char *clock_text(struct store *s, struct arena *a)
{
    PGresult *res = NULL;
    assert_int_equal(store_pg_exec_snap(s, "SELECT clock_timestamp()::text", NULL, &res), STORE_OK);
    const char *v = store_pg_col_text(res, 0, 0, a);
    store_pg_snap_clear(s, res); /* a kept answer is lent, not the caller's to free */
    return v;
}

/* A read transaction's ROLLBACK is sent, not awaited (store_pg_rollback): the transaction is
 * over for the caller at once, the answer is read by the connection's next use, and a server
 * gone before that answer is that use's STORE_UNAVAILABLE. In a read transaction a principal
 * comes with its home collection, whose lookup then needs no server (shown by killing the
 * backend before it). */
static void test_pg_read_rollback_is_not_awaited_and_the_home_comes_along(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    struct store *killer = open_pg();
    struct store *s = open_pg();
    struct store_principal p = add_user(s, a, "ra-ada");
    PGconn *conn = pgc(s)->conn;
    struct store_principal got;

    assert_int_equal(store_begin_read(s), STORE_OK);
    assert_int_equal(store_principal_get(s, "ra-ada", a, &got), STORE_OK);
    assert_int_equal(store_rollback(s), STORE_OK);
    assert_false(store_in_txn(s));
    assert_int_equal(PQtransactionStatus(conn), PQTRANS_ACTIVE); /* the answer not read */
    assert_int_equal(store_begin_read(s), STORE_OK);             /* another transaction */
    assert_int_equal(store_principal_get(s, "ra-ada", a, &got), STORE_OK);
    assert_int_equal(PQtransactionStatus(conn), PQTRANS_INTRANS);
    assert_int_equal(store_rollback(s), STORE_OK);
    assert_int_equal(store_begin_write(s), STORE_OK); /* a write after it */
    assert_int_equal(store_principal_set_pwhash(s, "ra-ada", "h2"), STORE_OK);
    assert_int_equal(store_commit(s), STORE_OK);
    assert_int_equal(PQtransactionStatus(conn), PQTRANS_IDLE);

    /* the home's answer came with the principal's */
    int64_t pid = query_i64(s, "SELECT pg_backend_pid()");
    assert_int_equal(store_begin_read(s), STORE_OK);
    assert_int_equal(store_principal_get(s, "ra-ada", a, &got), STORE_OK);
    assert_true(got.id == p.id && got.home_id == p.home_id);
    assert_string_equal(got.pwhash, "h2");
    terminate_backend(killer, pid);
    struct store_coll home;
    assert_int_equal(store_coll_get(s, p.home_id, a, &home), STORE_OK);
    assert_true(home.id == p.home_id && home.owner == p.id && home.kind == STORE_COLL_HOME);
    assert_string_equal(home.name, "");
    assert_int_equal(store_coll_lookup(s, p.home_id, "x", a, &home), STORE_UNAVAILABLE);
    store_rollback(s);
    store_close(&s);

    /* the server gone after the transaction's last statement, before its ROLLBACK's answer */
    s = open_pg();
    pid = query_i64(s, "SELECT pg_backend_pid()");
    assert_int_equal(store_begin_read(s), STORE_OK);
    assert_int_equal(store_principal_get(s, "ra-ada", a, &got), STORE_OK);
    terminate_backend(killer, pid);
    enum store_rc rc = store_rollback(s); /* sent into a closed socket, or failed at once */
    assert_true(rc == STORE_OK || rc == STORE_UNAVAILABLE);
    assert_false(store_in_txn(s));
    assert_int_equal(store_principal_get(s, "ra-ada", a, &got), STORE_UNAVAILABLE);
    assert_int_equal(store_begin_read(s), STORE_UNAVAILABLE);
    store_close(&s);

    /* a pooled connection goes back with its ROLLBACK unanswered; the next acquire reads it,
     * or replaces the connection when its server went away meanwhile */
    struct store_pool *pool = NULL;
    assert_int_equal(store_pg_pool_create(uri, 1, &pool), STORE_OK);
    for (int round = 0; round < 2; round++) {
        struct store *c = store_pool_acquire(pool);
        assert_non_null(c);
        pid = query_i64(c, "SELECT pg_backend_pid()");
        assert_int_equal(store_begin_read(c), STORE_OK);
        assert_int_equal(store_principal_get(c, "ra-ada", a, &got), STORE_OK);
        store_pool_release(pool, c);
        if (round == 1) {
            terminate_backend(killer, pid);
        }
        c = store_pool_acquire(pool);
        assert_non_null(c);
        assert_int_equal(store_begin_read(c), STORE_OK);
        assert_int_equal(store_principal_get(c, "ra-ada", a, &got), STORE_OK);
        assert_true(got.id == p.id);
        assert_int_equal(query_i64(c, "SELECT pg_backend_pid()") == pid, round == 0);
        store_pool_release(pool, c);
    }
    struct store_pool_stats st;
    store_pool_stats(pool, &st);
    assert_int_equal(st.lost, 1);
    store_pool_destroy(&pool);
    store_close(&killer);
    arena_destroy(&a);
}

/* store_path_prefetch: the walk dav_resolve makes (principal, home, calendar, item) is
 * answered from one round trip, in the read transaction's snapshot (shown by killing the
 * backend after it); a second hint in the same transaction sends nothing; names a lookup
 * could not be made with (not UTF-8, a '/') and a write transaction get no hint. */
static void test_pg_path_prefetch_answers_the_walk_that_follows(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    struct store *killer = open_pg();
    struct store *s = open_pg();
    struct store_principal p = add_user(s, a, "pp-pia");
    struct store_coll cal;
    assert_int_equal(store_begin_write(s), STORE_OK);
    assert_int_equal(store_coll_create(s, p.home_id, "cal", STORE_COLL_CALENDAR, a, &cal),
                     STORE_OK);
    struct store_item_in in = cal_item("BEGIN:VCALENDAR\r\nPATH", "pp-1");
    assert_int_equal(store_item_put(s, cal.id, "x.ics", &in, a, NULL, NULL), STORE_OK);
    const char *const walk[] = {"cal", "x.ics"};
    assert_int_equal(store_path_prefetch(s, "pp-pia", walk, 2), STORE_OK); /* no hint here */
    assert_int_equal(store_commit(s), STORE_OK);

    int64_t pid = query_i64(s, "SELECT pg_backend_pid()");
    assert_int_equal(store_begin_read(s), STORE_OK);
    assert_int_equal(store_path_prefetch(s, "pp-pia", walk, 2), STORE_OK);
    terminate_backend(killer, pid);
    assert_int_equal(store_path_prefetch(s, "pp-pia", walk, 2), STORE_OK); /* kept: nothing sent */
    struct store_principal got;
    assert_int_equal(store_principal_get(s, "pp-pia", a, &got), STORE_OK);
    assert_true(got.id == p.id && got.home_id == p.home_id);
    struct store_coll home, c, none;
    assert_int_equal(store_coll_get(s, p.home_id, a, &home), STORE_OK);
    assert_true(home.kind == STORE_COLL_HOME);
    assert_int_equal(store_coll_lookup(s, p.home_id, "cal", a, &c), STORE_OK);
    assert_true(c.id == cal.id && c.kind == STORE_COLL_CALENDAR);
    assert_string_equal(c.name, "cal");
    assert_int_equal(store_coll_lookup(s, cal.id, "x.ics", a, &none), STORE_NOTFOUND);
    struct store_item it;
    assert_int_equal(store_item_get(s, cal.id, "x.ics", STORE_ITEM_CONTENT, a, &it), STORE_OK);
    assert_int_equal(it.size, in.size);
    assert_memory_equal(it.content, in.content, in.size);
    /* anything else goes to the server, which is gone */
    assert_int_equal(store_coll_lookup(s, p.home_id, "other", a, &none), STORE_UNAVAILABLE);
    store_rollback(s);
    store_close(&s);

    /* a missing calendar and item are kept as missing; a bad name sends no hint */
    s = open_pg();
    pid = query_i64(s, "SELECT pg_backend_pid()");
    assert_int_equal(store_begin_read(s), STORE_OK);
    const char *const missing[] = {"nope", "y.ics"};
    assert_int_equal(store_path_prefetch(s, "pp-pia", missing, 2), STORE_OK);
    const char *const bad[] = {"cal", "\xff.ics"};
    assert_int_equal(store_path_prefetch(s, "pp-nobody", bad, 2), STORE_OK);
    terminate_backend(killer, pid);
    assert_int_equal(store_coll_lookup(s, p.home_id, "nope", a, &none), STORE_NOTFOUND);
    assert_int_equal(store_principal_get(s, "pp-nobody", a, &got), STORE_UNAVAILABLE);
    store_rollback(s);
    store_close(&s);
    store_close(&killer);
    arena_destroy(&a);
}

/* Integer parameters go as decimal text (store_pg_p_u64/_i64): the server reads back each
 * value it was given, the extremes and negative ones included. */
static void test_pg_integer_parameters_round_trip(void **state)
{
    (void)state;
    struct store *s = open_pg();
    const int64_t signed_values[] = {0, 1, -1, 9, -10, 1234567890123, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < sizeof(signed_values) / sizeof(signed_values[0]); i++) {
        struct store_pg_params p = {0};
        store_pg_p_i64(&p, signed_values[i]);
        PGresult *res = NULL;
        assert_int_equal(store_pg_exec(s, "SELECT $1::bigint", &p, &res), STORE_OK);
        assert_true(store_pg_col_i64(res, 0, 0) == signed_values[i]);
        PQclear(res);
    }
    const uint64_t unsigned_values[] = {0, 7, 10, UINT64_C(18446744073709551615)};
    for (size_t i = 0; i < sizeof(unsigned_values) / sizeof(unsigned_values[0]); i++) {
        struct store_pg_params p = {0};
        store_pg_p_u64(&p, unsigned_values[i]);
        PGresult *res = NULL;
        assert_int_equal(store_pg_exec(s, "SELECT $1::numeric::text", &p, &res), STORE_OK);
        char want[24];
        snprintf(want, sizeof(want), "%" PRIu64, unsigned_values[i]);
        assert_string_equal(store_pg_col_text(res, 0, 0, NULL), want);
        PQclear(res);
    }
    store_close(&s);
}

static void test_pg_read_transaction_answers_a_repeat_from_the_first_answer(void **state)
{
    (void)state;
    struct store *s = open_pg();
    struct arena *a = arena_create();
    struct store_principal p = add_user(s, a, "rs-rea");
    assert_int_equal(store_begin_read(s), STORE_OK);
    const char *first = clock_text(s, a);
    pause_2ms();
    assert_string_equal(clock_text(s, a), first);
    struct store_principal got;
    assert_int_equal(store_principal_get(s, "rs-rea", a, &got), STORE_OK);
    assert_int_equal(store_principal_get(s, "rs-rea", a, &got), STORE_OK);
    assert_true(got.id == p.id && got.home_id == p.home_id);
    assert_string_equal(got.pwhash, "h");
    assert_int_equal(store_commit(s), STORE_OK);
    pause_2ms();
    assert_string_not_equal(clock_text(s, a), first); /* no transaction */
    assert_int_equal(store_begin_read(s), STORE_OK);
    const char *second = clock_text(s, a);
    assert_string_not_equal(second, first);
    assert_int_equal(store_rollback(s), STORE_OK);
    assert_int_equal(store_begin_write(s), STORE_OK);
    const char *w = clock_text(s, a);
    pause_2ms();
    assert_string_not_equal(clock_text(s, a), w);
    assert_int_equal(store_principal_set_pwhash(s, "rs-rea", "h2"), STORE_OK);
    assert_int_equal(store_principal_get(s, "rs-rea", a, &got), STORE_OK);
    assert_string_equal(got.pwhash, "h2");
    struct store_coll c;
    assert_int_equal(store_coll_create(s, p.home_id, "cal", STORE_COLL_CALENDAR, a, &c), STORE_OK);
    struct store_item_in in = cal_item("BEGIN:VCALENDAR", "u-rs");
    assert_int_equal(store_item_put(s, c.id, "x.ics", &in, a, NULL, NULL), STORE_OK);
    assert_int_equal(store_commit(s), STORE_OK);

    /* in a read transaction the metadata lookup fetches the content too, for the lookup of
     * the content that usually follows: each answers what it was asked */
    assert_int_equal(store_begin_read(s), STORE_OK);
    struct store_item meta, full;
    assert_int_equal(store_item_get(s, c.id, "x.ics", STORE_ITEM_META, a, &meta), STORE_OK);
    assert_null(meta.content);
    assert_int_equal(meta.size, in.size);
    assert_int_equal(store_item_get(s, c.id, "x.ics", STORE_ITEM_CONTENT, a, &full), STORE_OK);
    assert_int_equal(full.size, in.size);
    assert_memory_equal(full.content, in.content, in.size);
    assert_true(full.id == meta.id && full.modseq == meta.modseq);
    assert_int_equal(store_rollback(s), STORE_OK);

    /* a collection lookup of a path's last segment brings the item's answer along; more
     * lookups than answers kept (32) forget the least recently used and stay right */
    assert_int_equal(store_begin_read(s), STORE_OK);
    struct store_coll none;
    assert_int_equal(store_coll_lookup(s, c.id, "x.ics", a, &none), STORE_NOTFOUND);
    assert_int_equal(store_item_get(s, c.id, "x.ics", STORE_ITEM_CONTENT, a, &full), STORE_OK);
    assert_memory_equal(full.content, in.content, in.size);
    for (int i = 0; i < 40; i++) {
        char name[32];
        snprintf(name, sizeof(name), "n%d.ics", i);
        assert_int_equal(store_coll_lookup(s, c.id, name, a, &none), STORE_NOTFOUND);
        assert_int_equal(store_item_get(s, c.id, name, STORE_ITEM_META, a, &meta), STORE_NOTFOUND);
        assert_int_equal(store_principal_get(s, "rs-rea", a, &got), STORE_OK);
        assert_string_equal(got.pwhash, "h2");
    }
    assert_int_equal(store_item_get(s, c.id, "x.ics", STORE_ITEM_META, a, &meta), STORE_OK);
    assert_true(meta.id == full.id && meta.content == NULL);

    /* a range cursor's row brings the item's content for the lookup by name that follows */
    struct store_cursor *r = NULL;
    assert_int_equal(
        store_items_in_range_open(s, c.id, 0, 5000, STORE_RANGE_SPAN | STORE_RANGE_CONTENT, &r),
        STORE_OK);
    struct store_item row;
    assert_int_equal(store_cursor_next_item(r, &row), STORE_OK);
    assert_string_equal(row.name, "x.ics");
    assert_int_equal(store_item_get(s, c.id, row.name, STORE_ITEM_CONTENT, a, &full), STORE_OK);
    assert_int_equal(full.size, in.size);
    assert_memory_equal(full.content, in.content, in.size);
    assert_true(full.id == row.id && full.cal.dtend_utc == 4000);
    assert_int_equal(store_cursor_next_item(r, &row), STORE_NOTFOUND);
    store_cursor_close(&r);
    assert_int_equal(store_rollback(s), STORE_OK);
    arena_destroy(&a);
    store_close(&s);
}

/* A range cursor asked for content (STORE_RANGE_CONTENT) answers the lookup of the row it
 * just returned without the server (shown by killing the backend before the lookup); one
 * not asked brings no content, and the lookup goes to the server. */
static void test_pg_range_row_answers_the_lookup_that_follows(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    struct store *killer = open_pg();
    struct store *s = open_pg();
    struct store_principal p = add_user(s, a, "rr-rita");
    struct store_coll c;
    assert_int_equal(store_begin_write(s), STORE_OK);
    assert_int_equal(store_coll_create(s, p.home_id, "cal", STORE_COLL_CALENDAR, a, &c), STORE_OK);
    struct store_item_in in = cal_item("BEGIN:VCALENDAR\r\nRANGE", "rr-1");
    in.cal.is_recurring = true;
    in.cal.has_instances = true;
    in.cal.instances = "\x05\x06";
    in.cal.instances_size = 2;
    assert_int_equal(store_item_put(s, c.id, "r.ics", &in, a, NULL, NULL), STORE_OK);
    assert_int_equal(store_commit(s), STORE_OK);

    /* without content: the row has its instance index, the lookup asks the server */
    struct store_cursor *r = NULL;
    struct store_item row, got;
    assert_int_equal(store_begin_read(s), STORE_OK);
    assert_int_equal(store_items_in_range_open(s, c.id, 0, 5000, STORE_RANGE_INSTANCES, &r),
                     STORE_OK);
    assert_int_equal(store_cursor_next_item(r, &row), STORE_OK);
    assert_true(row.cal.has_instances && row.cal.instances_size == 2);
    assert_int_equal(store_item_get(s, c.id, "r.ics", STORE_ITEM_CONTENT, a, &got), STORE_OK);
    assert_memory_equal(got.content, in.content, in.size);
    store_cursor_close(&r);
    assert_int_equal(store_rollback(s), STORE_OK);

    /* with content: answered from the row, the server gone meanwhile */
    int64_t pid = query_i64(s, "SELECT pg_backend_pid()");
    assert_int_equal(store_begin_read(s), STORE_OK);
    assert_int_equal(store_items_in_range_open(s, c.id, 0, 5000,
                                               STORE_RANGE_INSTANCES | STORE_RANGE_CONTENT, &r),
                     STORE_OK);
    assert_int_equal(store_cursor_next_item(r, &row), STORE_OK);
    terminate_backend(killer, pid);
    assert_int_equal(
        store_item_get(s, c.id, "r.ics", STORE_ITEM_CONTENT | STORE_ITEM_INSTANCES, a, &got),
        STORE_OK);
    assert_int_equal(got.size, in.size);
    assert_memory_equal(got.content, in.content, in.size);
    assert_true(got.cal.has_instances && got.cal.instances_size == 2);
    assert_memory_equal(got.cal.instances, "\x05\x06", 2);
    assert_string_equal(got.cal.uid, "rr-1");
    /* another item's lookup is not the row's: the server, which is gone */
    assert_int_equal(store_item_get(s, c.id, "other.ics", STORE_ITEM_META, a, &got),
                     STORE_UNAVAILABLE);
    store_cursor_close(&r);
    store_rollback(s);
    store_close(&s);
    store_close(&killer);
    arena_destroy(&a);
}

/* store_item_prefetch: one round trip for a multiget's names, after which each name's two
 * lookups (as a collection, then as an item) are answered without the server, right whether
 * found or not; shown by killing the backend after the prefetch: the prefetched lookups still
 * answer, a name not prefetched finds the connection gone. Outside a read transaction the
 * hint does nothing. */
static void test_pg_prefetch_answers_a_multiget_without_round_trips(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    struct store *killer = open_pg();
    struct store *s = open_pg();
    struct store_principal p = add_user(s, a, "pf-pia");
    struct store_coll c, sub;
    assert_int_equal(store_begin_write(s), STORE_OK);
    assert_int_equal(store_coll_create(s, p.home_id, "cal", STORE_COLL_CALENDAR, a, &c), STORE_OK);
    assert_int_equal(store_coll_create(s, c.id, "sub", STORE_COLL_PLAIN, a, &sub), STORE_OK);
    struct store_item_in in[3] = {cal_item("BEGIN:VCALENDAR\r\nA", "pf-1"),
                                  cal_item("BEGIN:VCALENDAR\r\nBB", "pf-2"),
                                  cal_item("BEGIN:VCALENDAR\r\nCCC", "pf-3")};
    const char *names[] = {"a.ics", "b b.ics", "caf\xc3\xa9.ics"};
    struct store_item put[3];
    for (int i = 0; i < 3; i++) {
        assert_int_equal(store_item_put(s, c.id, names[i], &in[i], a, &put[i], NULL), STORE_OK);
    }
    /* outside a read transaction: nothing to do, nothing kept */
    const char *ask[] = {"a.ics", "b b.ics", "caf\xc3\xa9.ics", "gone.ics", "sub", "x/y.ics"};
    assert_int_equal(store_item_prefetch(s, c.id, ask, 6), STORE_OK);
    assert_int_equal(store_commit(s), STORE_OK);

    int64_t pid = query_i64(s, "SELECT pg_backend_pid()");
    assert_int_equal(store_begin_read(s), STORE_OK);
    assert_int_equal(store_item_prefetch(s, c.id, ask, 6), STORE_OK);
    terminate_backend(killer, pid);
    struct store_coll got_coll;
    struct store_item got;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(store_coll_lookup(s, c.id, names[i], a, &got_coll), STORE_NOTFOUND);
        assert_int_equal(store_item_get(s, c.id, names[i], STORE_ITEM_CONTENT, a, &got), STORE_OK);
        assert_true(got.id == put[i].id && got.modseq == put[i].modseq);
        assert_string_equal(got.name, names[i]);
        assert_int_equal(got.size, in[i].size);
        assert_memory_equal(got.content, in[i].content, in[i].size);
        assert_string_equal(got.cal.uid, in[i].cal.uid);
    }
    assert_int_equal(store_coll_lookup(s, c.id, "gone.ics", a, &got_coll), STORE_NOTFOUND);
    assert_int_equal(store_item_get(s, c.id, "gone.ics", STORE_ITEM_META, a, &got), STORE_NOTFOUND);
    assert_int_equal(store_coll_lookup(s, c.id, "sub", a, &got_coll), STORE_OK);
    assert_true(got_coll.id == sub.id && got_coll.kind == STORE_COLL_PLAIN);
    assert_string_equal(got_coll.name, "sub");
    /* not prefetched (a name with '/' is skipped): the server, which is gone */
    assert_int_equal(store_item_get(s, c.id, "x/y.ics", STORE_ITEM_META, a, &got),
                     STORE_UNAVAILABLE);
    store_rollback(s);
    store_close(&s);
    store_close(&killer);
    arena_destroy(&a);
}

/* The read transaction's memo at many times its size: 500 items looked up one after the
 * other, the collection between each two. Every answer stays right, the memo forgets the
 * items looked up long ago (its memory is bounded: they find the server, killed here) and
 * keeps what is used again and again (the collection) and the last item. 500 lookups make
 * the memo's hash index rebuild itself after its tombstones. */
static void test_pg_memo_forgets_old_answers_and_keeps_the_used_ones(void **state)
{
    (void)state;

    enum {
        ITEMS = 500
    };
    struct arena *a = arena_create();
    struct store *killer = open_pg();
    struct store *s = open_pg();
    struct store_principal p = add_user(s, a, "memo-mia");
    struct store_coll c;
    assert_int_equal(store_begin_write(s), STORE_OK);
    assert_int_equal(store_coll_create(s, p.home_id, "cal", STORE_COLL_CALENDAR, a, &c), STORE_OK);
    char name[32], uid[32];
    for (int i = 0; i < ITEMS; i++) {
        snprintf(name, sizeof(name), "m%03d.ics", i);
        snprintf(uid, sizeof(uid), "memo-%d", i);
        struct store_item_in in = cal_item("BEGIN:VCALENDAR\r\n", uid);
        assert_int_equal(store_item_put(s, c.id, name, &in, a, NULL, NULL), STORE_OK);
    }
    assert_int_equal(store_commit(s), STORE_OK);
    int64_t pid = query_i64(s, "SELECT pg_backend_pid()");
    assert_int_equal(store_begin_read(s), STORE_OK);
    struct store_coll got_coll;
    struct store_item got;
    for (int round = 0; round < 2; round++) { /* the second: every answer again, right */
        for (int i = 0; i < ITEMS; i++) {
            assert_int_equal(store_coll_lookup(s, p.home_id, "cal", a, &got_coll), STORE_OK);
            assert_true(got_coll.id == c.id);
            snprintf(name, sizeof(name), "m%03d.ics", i);
            snprintf(uid, sizeof(uid), "memo-%d", i);
            assert_int_equal(store_item_get(s, c.id, name, STORE_ITEM_META, a, &got), STORE_OK);
            assert_string_equal(got.name, name);
            assert_string_equal(got.cal.uid, uid);
        }
    }
    terminate_backend(killer, pid);
    assert_int_equal(store_coll_lookup(s, p.home_id, "cal", a, &got_coll), STORE_OK);
    assert_true(got_coll.id == c.id);
    snprintf(name, sizeof(name), "m%03d.ics", ITEMS - 1);
    assert_int_equal(store_item_get(s, c.id, name, STORE_ITEM_META, a, &got), STORE_OK);
    assert_string_equal(got.name, name);
    assert_int_equal(store_item_get(s, c.id, "m000.ics", STORE_ITEM_META, a, &got),
                     STORE_UNAVAILABLE);
    store_rollback(s);
    store_close(&s);
    store_close(&killer);
    arena_destroy(&a);
}

/* The value libpq uses for connection option `key` on s's connection, or "" when unset. */
static const char *conn_option(struct store *s, const char *key, char *buf, size_t cap)
{
    PQconninfoOption *opts = PQconninfo(pgc(s)->conn);
    assert_non_null(opts);
    snprintf(buf, cap, "%s", "");
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (strcmp(o->keyword, key) == 0 && o->val) {
            snprintf(buf, cap, "%s", o->val);
        }
    }
    PQconninfoFree(opts);
    return buf;
}

/* A pooled connection notices a silent peer: TCP keepalives and tcp_user_timeout are on by
 * default, and the URI's own values win over the defaults. */
static void test_pg_connections_have_keepalives_the_uri_can_change(void **state)
{
    (void)state;
    char buf[64];
    struct store *s = open_pg();
    assert_string_equal(conn_option(s, "keepalives", buf, sizeof(buf)), "1");
    assert_string_equal(conn_option(s, "keepalives_idle", buf, sizeof(buf)), "30");
    assert_string_equal(conn_option(s, "keepalives_interval", buf, sizeof(buf)), "10");
    assert_string_equal(conn_option(s, "keepalives_count", buf, sizeof(buf)), "3");
    assert_string_equal(conn_option(s, "tcp_user_timeout", buf, sizeof(buf)), "30000");
    assert_string_equal(conn_option(s, "connect_timeout", buf, sizeof(buf)), "10");
    store_close(&s);
    char own[1024];
    snprintf(own, sizeof(own), "%s%skeepalives_idle=99&tcp_user_timeout=5000", uri,
             strchr(uri, '?') ? "&" : "?");
    const char *msg = NULL;
    assert_int_equal(store_pg_open(own, &s, &msg), STORE_OK);
    assert_string_equal(conn_option(s, "keepalives_idle", buf, sizeof(buf)), "99");
    assert_string_equal(conn_option(s, "tcp_user_timeout", buf, sizeof(buf)), "5000");
    assert_string_equal(conn_option(s, "keepalives_count", buf, sizeof(buf)), "3");
    store_close(&s);
}

int main(int argc, char **argv)
{
    (void)argc;
    uri = getenv("ALMANAC_PG_URI");
    if (!uri) {
        return pg_cluster_reexec("test_store_pg", argv);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pg_open_migrates_once_and_shares_guid_and_secret),
        cmocka_unit_test(test_pg_refuses_a_schema_newer_than_this_build),
        cmocka_unit_test(test_pg_principals_add_get_passwd_list_del),
        cmocka_unit_test(test_pg_principal_list_pages_in_name_order_and_stops_early),
        cmocka_unit_test(test_pg_read_transaction_is_one_snapshot),
        cmocka_unit_test(test_pg_bump_orders_writers_of_a_collection_by_its_row_lock),
        cmocka_unit_test(test_pg_change_hook_after_commit_only),
        cmocka_unit_test(test_pg_pool_hands_out_and_takes_back_connections),
        cmocka_unit_test(test_pg_collections_create_lookup_move_delete),
        cmocka_unit_test(test_pg_history_reset_and_tombstone_pruning),
        cmocka_unit_test(test_pg_concurrent_creates_of_a_name_one_wins_cleanly),
        cmocka_unit_test(test_pg_items_put_get_replace_move_delete_and_the_change_log),
        cmocka_unit_test(test_pg_concurrent_puts_of_a_uid_conflict_cleanly),
        cmocka_unit_test(test_pg_text_that_is_not_utf8_is_a_conflict),
        cmocka_unit_test(test_pg_dead_properties_set_get_list_copy_del),
        cmocka_unit_test(test_pg_cursors_stream_in_order_in_one_snapshot),
        cmocka_unit_test(test_pg_subscriptions_and_addresses),
        cmocka_unit_test(test_pg_shares_grant_name_change_revoke_and_cascade),
        cmocka_unit_test(test_pg_activesync_devices_blobs_sync_state_and_members),
        cmocka_unit_test(test_pg_check_finds_a_broken_invariant_and_backup_is_refused),
        cmocka_unit_test(test_pg_listing_cursors_match_the_full_rows),
        cmocka_unit_test(test_pg_imip_outbox_queue_try_retry_list),
        cmocka_unit_test(test_pg_imip_claim_gives_a_message_to_one_node),
        cmocka_unit_test(test_pg_lost_connection_is_unavailable_and_the_pool_reconnects),
        cmocka_unit_test(test_pg_statement_timeout_cancels_a_lock_wait_as_busy),
        cmocka_unit_test(test_pg_fault_points_fail_statements_and_lose_the_connection),
        cmocka_unit_test(test_pg_statements_are_prepared_once_and_begin_rides_with_the_first),
        cmocka_unit_test(test_pg_read_rollback_is_not_awaited_and_the_home_comes_along),
        cmocka_unit_test(test_pg_path_prefetch_answers_the_walk_that_follows),
        cmocka_unit_test(test_pg_integer_parameters_round_trip),
        cmocka_unit_test(test_pg_read_transaction_answers_a_repeat_from_the_first_answer),
        cmocka_unit_test(test_pg_prefetch_answers_a_multiget_without_round_trips),
        cmocka_unit_test(test_pg_memo_forgets_old_answers_and_keeps_the_used_ones),
        cmocka_unit_test(test_pg_range_row_answers_the_lookup_that_follows),
        cmocka_unit_test(test_pg_connections_have_keepalives_the_uri_can_change),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
