/* tests/unit/store/test_store_pg_notify.c: change notification across nodes on PostgreSQL
 * (store_pg_listen.c, issue #10 item 3) on a real PostgreSQL 15, each pool standing for one
 * almanacd node: a write committed through one pool (or a lone connection, as the admin CLI
 * uses) reaches the change hook of every other pool within a second, once, with the
 * collection and modseq committed; the writing pool's own hook is called once (in process),
 * not a second time by its own NOTIFY; a rollback notifies nobody; a transaction bumping more
 * collections than one NOTIFY names says "every collection" (0); a listener says "every
 * collection" when it begins to listen, and one whose connection is killed reconnects, says
 * it again, and hears the next write; removing the hook
 * stops the listener. Run under ctest, the binary re-executes itself through
 * tests/integration/pgcluster.py, which passes a private cluster's URI in ALMANAC_PG_URI. In
 * `make tsan` too (unit_store): the listener thread calls the hook beside the committing
 * threads. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
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
#include "store/store_pg_int.h"

static const char *uri;

enum {
    CALLS_MAX = 64
};

/* What a pool's hook was called with, filled by the committing and the listener threads. */
struct calls {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned n;

    struct {
        uint64_t coll, modseq;
        int64_t at_ms;
    } v[CALLS_MAX];
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void calls_init(struct calls *c)
{
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
}

static void calls_deinit(struct calls *c)
{
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
}

static void on_change(void *ctx, uint64_t coll, uint64_t modseq)
{
    struct calls *c = ctx;
    pthread_mutex_lock(&c->mu);
    if (c->n < CALLS_MAX) {
        c->v[c->n].coll = coll;
        c->v[c->n].modseq = modseq;
        c->v[c->n].at_ms = now_ms();
        c->n++;
    }
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

/* The number of calls once there are at least `n`, or after `ms` milliseconds. */
static unsigned wait_calls(struct calls *c, unsigned n, int ms)
{
    int64_t until = now_ms() + ms;
    pthread_mutex_lock(&c->mu);
    while (c->n < n && now_ms() < until) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&c->cv, &c->mu, &ts);
    }
    unsigned got = c->n;
    pthread_mutex_unlock(&c->mu);
    return got;
}

/* The number of calls so far. */
static unsigned count(struct calls *c)
{
    return wait_calls(c, 0, 0);
}

/* The number of listener connections (application_name almanac-listen) of this database. */
static int64_t listeners(const char *where)
{
    struct store *s = NULL;
    const char *msg = NULL;
    assert_int_equal(store_pg_open(uri, &s, &msg), STORE_OK);
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'almanac-listen' "
             "AND %s",
             where);
    PGresult *res = NULL;
    assert_int_equal(store_pg_exec(s, sql, NULL, &res), STORE_OK);
    int64_t n = store_pg_col_i64(res, 0, 0);
    PQclear(res);
    store_close(&s);
    return n;
}

/* Two "nodes" on the database, each a pool with its hook; a user whose home is written. */
struct fixture {
    struct store_pool *a, *b;
    struct calls ca, cb;
    struct arena *arena;
    struct store_principal user;
};

static int setup(void **state)
{
    static unsigned seq;
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    calls_init(&f->ca);
    calls_init(&f->cb);
    assert_int_equal(store_pg_pool_create(uri, 4, &f->a), STORE_OK);
    assert_int_equal(store_pg_pool_create(uri, 4, &f->b), STORE_OK);
    f->arena = arena_create();
    struct store *s = store_pool_acquire(f->a);
    char name[32];
    snprintf(name, sizeof(name), "nt-user-%u", ++seq);
    assert_int_equal(store_begin_write(s), STORE_OK);
    assert_int_equal(store_principal_add(s, name, "h", f->arena, &f->user), STORE_OK);
    assert_int_equal(store_commit(s), STORE_OK);
    store_pool_release(f->a, s);
    /* hooks set after the set-up write, so that the calls below are the test's */
    store_pool_set_change_hook(f->a, on_change, &f->ca);
    store_pool_set_change_hook(f->b, on_change, &f->cb);
    /* each listener says "every collection" once it LISTENs: from then on nothing is missed */
    assert_int_equal(wait_calls(&f->ca, 1, 5000), 1);
    assert_int_equal(wait_calls(&f->cb, 1, 5000), 1);
    assert_int_equal(f->ca.v[0].coll, 0);
    assert_int_equal(f->cb.v[0].coll, 0);
    pthread_mutex_lock(&f->ca.mu);
    f->ca.n = 0;
    pthread_mutex_unlock(&f->ca.mu);
    pthread_mutex_lock(&f->cb.mu);
    f->cb.n = 0;
    pthread_mutex_unlock(&f->cb.mu);
    assert_true(listeners("state = 'idle' AND query LIKE 'LISTEN%'") >= 2);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    store_pool_set_change_hook(f->a, NULL, NULL);
    store_pool_set_change_hook(f->b, NULL, NULL);
    store_pool_destroy(&f->a);
    store_pool_destroy(&f->b);
    arena_destroy(&f->arena);
    calls_deinit(&f->ca);
    calls_deinit(&f->cb);
    free(f);
    return 0;
}

/* Touches `coll` through a connection of `pool` in a transaction of its own; its new modseq. */
static uint64_t touch(struct store_pool *pool, uint64_t coll)
{
    struct store *s = store_pool_acquire(pool);
    assert_non_null(s);
    uint64_t m = 0;
    assert_int_equal(store_begin_write(s), STORE_OK);
    assert_int_equal(store_coll_touch(s, coll, &m), STORE_OK);
    assert_int_equal(store_commit(s), STORE_OK);
    store_pool_release(pool, s);
    return m;
}

static void test_pg_write_through_one_pool_reaches_the_other_once(void **state)
{
    struct fixture *f = *state;
    int64_t t0 = now_ms();
    uint64_t m = touch(f->a, f->user.home_id);
    /* the writer's own hook: at once, in process */
    assert_int_equal(count(&f->ca), 1);
    assert_int_equal(f->ca.v[0].coll, f->user.home_id);
    assert_int_equal(f->ca.v[0].modseq, m);
    /* the other node's, through NOTIFY, well within a second */
    assert_int_equal(wait_calls(&f->cb, 1, 2000), 1);
    assert_int_equal(f->cb.v[0].coll, f->user.home_id);
    assert_int_equal(f->cb.v[0].modseq, m);
    int64_t latency = f->cb.v[0].at_ms - t0;
    print_message("notified the other pool in %lld ms\n", (long long)latency);
    assert_true(latency < 1000);
    /* and neither a second time: the writer skips its own NOTIFY */
    assert_int_equal(wait_calls(&f->ca, 2, 500), 1);
    assert_int_equal(wait_calls(&f->cb, 2, 10), 1);

    /* the other way round */
    uint64_t m2 = touch(f->b, f->user.home_id);
    assert_int_equal(m2, m + 1);
    assert_int_equal(wait_calls(&f->ca, 2, 2000), 2);
    assert_int_equal(f->ca.v[1].modseq, m2);
    assert_int_equal(wait_calls(&f->cb, 3, 500), 2);
}

/* An item's put and delete, each one statement with its modseq bump (store_pg_item.c), are
 * heard by the other node as any bump is. */
static void test_pg_item_put_and_delete_reach_the_other_pool(void **state)
{
    struct fixture *f = *state;
    struct store *s = store_pool_acquire(f->a);
    assert_non_null(s);
    static const char ics[] = "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n";
    struct store_item_in in = {.content = ics,
                               .size = sizeof(ics) - 1,
                               .content_type = "text/calendar",
                               .cal = {.uid = "notify-item", .comp = 1}};
    struct store_item it;
    assert_int_equal(store_begin_write(s), STORE_OK);
    assert_int_equal(store_item_put(s, f->user.home_id, "n.ics", &in, f->arena, &it, NULL),
                     STORE_OK);
    assert_int_equal(store_commit(s), STORE_OK);
    assert_int_equal(wait_calls(&f->cb, 1, 2000), 1);
    assert_int_equal(f->cb.v[0].coll, f->user.home_id);
    assert_int_equal(f->cb.v[0].modseq, it.modseq);
    assert_int_equal(store_begin_write(s), STORE_OK);
    assert_int_equal(store_item_delete(s, f->user.home_id, "n.ics"), STORE_OK);
    assert_int_equal(store_commit(s), STORE_OK);
    assert_int_equal(wait_calls(&f->cb, 2, 2000), 2);
    assert_int_equal(f->cb.v[1].modseq, it.modseq + 1);
    store_pool_release(f->a, s);
}

static void test_pg_lone_connection_notifies_every_pool_and_rollback_nobody(void **state)
{
    struct fixture *f = *state;
    struct store *s = NULL;
    const char *msg = NULL;
    assert_int_equal(store_pg_open(uri, &s, &msg), STORE_OK); /* as the admin CLI does */
    uint64_t m = 0;
    assert_int_equal(store_begin_write(s), STORE_OK);
    assert_int_equal(store_coll_touch(s, f->user.home_id, &m), STORE_OK);
    assert_int_equal(store_rollback(s), STORE_OK);
    assert_int_equal(store_begin_write(s), STORE_OK);
    assert_int_equal(store_coll_touch(s, f->user.home_id, &m), STORE_OK);
    assert_int_equal(store_coll_touch(s, f->user.home_id, &m), STORE_OK);
    assert_int_equal(store_commit(s), STORE_OK);
    /* one call each, with the newest modseq; the rolled-back bump sent nothing */
    assert_int_equal(wait_calls(&f->ca, 1, 2000), 1);
    assert_int_equal(wait_calls(&f->cb, 1, 2000), 1);
    assert_int_equal(f->ca.v[0].coll, f->user.home_id);
    assert_int_equal(f->ca.v[0].modseq, m);
    assert_int_equal(f->cb.v[0].modseq, m);
    assert_int_equal(wait_calls(&f->ca, 2, 300), 1);
    assert_int_equal(wait_calls(&f->cb, 2, 10), 1);
    /* a transaction an error aborted commits nothing and notifies nobody */
    assert_int_equal(store_begin_write(s), STORE_OK);
    assert_int_equal(store_coll_touch(s, f->user.home_id, &m), STORE_OK);
    assert_int_equal(store_pg_run(s, "SELECT 1/0", NULL, NULL), STORE_IO);
    assert_int_equal(store_commit(s), STORE_IO);
    assert_false(store_in_txn(s));
    assert_int_equal(wait_calls(&f->ca, 2, 300), 1);
    assert_int_equal(wait_calls(&f->cb, 2, 10), 1);
    store_close(&s);
}

static void test_pg_many_collections_in_one_transaction_say_every_collection(void **state)
{
    struct fixture *f = *state;

    enum {
        N = STORE_PG_NOTIFY_MAX + 1
    };

    uint64_t ids[N];
    struct store *s = store_pool_acquire(f->b);
    assert_int_equal(store_begin_write(s), STORE_OK);
    for (unsigned i = 0; i < N; i++) {
        char name[16];
        snprintf(name, sizeof(name), "c%u", i);
        struct store_coll c;
        assert_int_equal(
            store_coll_create(s, f->user.home_id, name, STORE_COLL_CALENDAR, f->arena, &c),
            STORE_OK);
        ids[i] = c.id;
    }
    assert_int_equal(store_commit(s), STORE_OK);
    /* one collection bumped (the home, N times): named */
    assert_int_equal(wait_calls(&f->ca, 1, 2000), 1);
    assert_int_equal(f->ca.v[0].coll, f->user.home_id);
    uint64_t m = 0;
    assert_int_equal(store_begin_write(s), STORE_OK);
    for (unsigned i = 0; i < N; i++) {
        assert_int_equal(store_coll_touch(s, ids[i], &m), STORE_OK);
    }
    assert_int_equal(store_commit(s), STORE_OK);
    store_pool_release(f->b, s);
    /* the writer's hook names each, the other pool hears "every collection" once */
    assert_int_equal(count(&f->cb), 1 + N);
    assert_int_equal(wait_calls(&f->ca, 2, 2000), 2);
    assert_int_equal(f->ca.v[1].coll, 0);
    assert_int_equal(f->ca.v[1].modseq, 0);
    assert_int_equal(wait_calls(&f->ca, 3, 300), 2);
    /* exactly N named: one NOTIFY fits them all */
    assert_int_equal(STORE_PG_NOTIFY_MAX, N - 1);
}

/* Terminates the listeners' connections (at least `expect` of them). */
static void kill_listeners(int expect)
{
    struct store *s = NULL;
    const char *msg = NULL;
    assert_int_equal(store_pg_open(uri, &s, &msg), STORE_OK);
    PGresult *res = NULL;
    assert_int_equal(store_pg_exec(s,
                                   "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) "
                                   "FROM pg_stat_activity WHERE application_name = "
                                   "'almanac-listen'",
                                   NULL, &res),
                     STORE_OK);
    assert_true(store_pg_col_i64(res, 0, 0) >= expect);
    PQclear(res);
    store_close(&s);
}

static void test_pg_listener_reconnects_and_says_every_collection(void **state)
{
    struct fixture *f = *state;
    kill_listeners(2);
    /* both listeners come back and say "every collection": something may have been missed */
    assert_int_equal(wait_calls(&f->ca, 1, 5000), 1);
    assert_int_equal(wait_calls(&f->cb, 1, 5000), 1);
    assert_int_equal(f->ca.v[0].coll, 0);
    assert_int_equal(f->cb.v[0].coll, 0);
    /* and they listen again: a write through one reaches the other */
    uint64_t m = touch(f->a, f->user.home_id);
    assert_int_equal(wait_calls(&f->cb, 2, 2000), 2);
    assert_int_equal(f->cb.v[1].coll, f->user.home_id);
    assert_int_equal(f->cb.v[1].modseq, m);
}

static void test_pg_removing_the_hook_stops_the_listener(void **state)
{
    struct fixture *f = *state;
    store_pool_set_change_hook(f->b, NULL, NULL);
    kill_listeners(1);                                /* only a's is left */
    assert_int_equal(wait_calls(&f->ca, 1, 5000), 1); /* a's came back */
    touch(f->a, f->user.home_id);
    assert_int_equal(wait_calls(&f->ca, 3, 500), 2); /* its own write, once */
    assert_int_equal(wait_calls(&f->cb, 1, 500), 0);
}

int main(int argc, char **argv)
{
    (void)argc;
    uri = getenv("ALMANAC_PG_URI");
    if (!uri) {
        return pg_cluster_reexec("test_store_pg_notify", argv);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pg_write_through_one_pool_reaches_the_other_once,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_item_put_and_delete_reach_the_other_pool, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_pg_lone_connection_notifies_every_pool_and_rollback_nobody, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_pg_many_collections_in_one_transaction_say_every_collection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_listener_reconnects_and_says_every_collection,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_removing_the_hook_stops_the_listener, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
