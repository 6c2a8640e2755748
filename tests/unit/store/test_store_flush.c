/* tests/unit/store/test_store_flush.c: the group-commit barrier of store/store_flush.h with
 * a fake sync function. The fake models a log: a writer "commits" by taking the next
 * sequence number; a sync makes durable every sequence number taken before it began. The
 * barrier's promise is then checkable exactly: when store_flush_wait() returns, the caller's
 * sequence number is durable. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "store/store_flush.h"

struct fake_log {
    atomic_uint_fast64_t committed; /* sequence numbers handed out */
    atomic_uint_fast64_t durable;   /* every number <= this one is "on disk" */
    atomic_int in_sync;             /* syncs running right now (must stay <= 1) */
    atomic_int max_in_sync;
    atomic_uint_fast64_t syncs;
    int fail_at; /* the sync call (1-based) that fails with EIO; 0: none */
    long sleep_ns;
};

static void nap(long ns)
{
    struct timespec ts = {0, ns};
    nanosleep(&ts, NULL);
}

static int fake_sync(void *ctx)
{
    struct fake_log *log = ctx;
    int running = atomic_fetch_add(&log->in_sync, 1) + 1;
    int seen = atomic_load(&log->max_in_sync);
    while (running > seen && !atomic_compare_exchange_weak(&log->max_in_sync, &seen, running)) {
    }
    uint64_t n = atomic_fetch_add(&log->syncs, 1) + 1;
    uint64_t covered = atomic_load(&log->committed); /* what the sync sees when it begins */
    if (log->sleep_ns) {
        nap(log->sleep_ns);
    }
    atomic_fetch_sub(&log->in_sync, 1);
    if (log->fail_at != 0 && n == (uint64_t)log->fail_at) {
        return EIO;
    }
    uint64_t d = atomic_load(&log->durable);
    while (covered > d && !atomic_compare_exchange_weak(&log->durable, &d, covered)) {
    }
    return 0;
}

struct writer {
    struct store_flush *f;
    struct fake_log *log;
    int rounds;
    int not_durable; /* acknowledgements of a write the log did not yet hold */
    int failed;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    for (int i = 0; i < w->rounds; i++) {
        uint64_t mine = atomic_fetch_add(&w->log->committed, 1) + 1; /* the commit */
        if (store_flush_wait(w->f, fake_sync, w->log) != STORE_FLUSH_OK) {
            w->failed++;
            continue;
        }
        if (atomic_load(&w->log->durable) < mine) {
            w->not_durable++;
        }
    }
    return NULL;
}

/* One thread: every wait is its own flush, and covers the commit made before it. */
static void test_flush_single_waiter_flushes_once_per_wait(void **state)
{
    (void)state;
    struct store_flush f;
    store_flush_init(&f);
    struct fake_log log = {0};
    for (int i = 1; i <= 5; i++) {
        atomic_fetch_add(&log.committed, 1);
        assert_int_equal(store_flush_wait(&f, fake_sync, &log), STORE_FLUSH_OK);
        assert_int_equal(atomic_load(&log.durable), i);
        assert_int_equal(store_flush_count(&f), i);
    }
    assert_int_equal(store_flush_errno(&f), 0);
    store_flush_destroy(&f);
}

/* The timings behind /metrics: each sync lands in the bucket of its duration, each noted
 * commit in its own, and a snapshot's buckets add up to its count. */
static void test_flush_timings(void **state)
{
    (void)state;
    struct store_flush f;
    store_flush_init(&f);
    struct fake_log log = {.sleep_ns = 3 * 1000 * 1000}; /* 3 ms: above the 2.5 ms bound */
    atomic_fetch_add(&log.committed, 1);
    assert_int_equal(store_flush_wait(&f, fake_sync, &log), STORE_FLUSH_OK);
    store_flush_note_commit(&f, 50);       /* <= 100 us: bucket 0 */
    store_flush_note_commit(&f, 100);      /* the bound itself is inside */
    store_flush_note_commit(&f, 101);      /* bucket 1 */
    store_flush_note_commit(&f, 20000000); /* past 10 s: the last bucket */
    struct store_timing sync, commit;
    store_flush_timings(&f, &sync, &commit);
    assert_int_equal(sync.count, 1);
    assert_true(sync.sum_us >= 3000);
    size_t first = 0;
    while (first <= STORE_TIMING_BUCKETS && sync.buckets[first] == 0) {
        first++;
    }
    assert_true(first < STORE_TIMING_BUCKETS);
    assert_true(store_timing_bound_us(first) >= 3000); /* not a shorter bucket */
    assert_true(first == 0 || store_timing_bound_us(first - 1) < sync.sum_us);
    assert_int_equal(commit.count, 4);
    assert_int_equal(commit.sum_us, 50 + 100 + 101 + 20000000);
    assert_int_equal(commit.buckets[0], 2);
    assert_int_equal(commit.buckets[1], 1);
    assert_int_equal(commit.buckets[STORE_TIMING_BUCKETS], 1);
    uint64_t total = 0;
    for (size_t b = 0; b <= STORE_TIMING_BUCKETS; b++) {
        total += commit.buckets[b];
    }
    assert_int_equal(total, commit.count);
    store_flush_destroy(&f);
}

/* Many threads: each acknowledgement comes after a flush that covers the commit, flushes
 * never overlap, they are shared (fewer flushes than commits), and everyone finishes. */
static void test_flush_many_writers_are_covered_and_share_flushes(void **state)
{
    (void)state;

    enum {
        THREADS = 8,
        ROUNDS = 200
    };
    struct store_flush f;
    store_flush_init(&f);
    struct fake_log log = {0};
    log.sleep_ns = 200000; /* 0.2 ms, the order of an fdatasync on a fast disk */
    struct writer w[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct writer){&f, &log, ROUNDS, 0, 0};
        assert_int_equal(pthread_create(&t[i], NULL, writer_main, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(w[i].not_durable, 0);
        assert_int_equal(w[i].failed, 0);
    }
    assert_int_equal(atomic_load(&log.committed), THREADS * ROUNDS);
    assert_int_equal(atomic_load(&log.durable), THREADS * ROUNDS);
    assert_int_equal(atomic_load(&log.max_in_sync), 1);
    uint64_t syncs = store_flush_count(&f);
    assert_int_equal(syncs, atomic_load(&log.syncs));
    assert_true(syncs >= 1);
    assert_true(syncs < THREADS * ROUNDS);
    store_flush_destroy(&f);
}

/* A waiter that arrives while a flush runs must not be released by it (that flush may have
 * begun before its commit): it gets a flush of its own. */
struct late_ctx {
    struct store_flush *f;
    struct fake_log *log;
    atomic_int leader_in_sync;
    atomic_int release;
};

/* Covers what was committed when it began, then blocks until the test releases it. */
static int slow_sync(void *ctx)
{
    struct late_ctx *c = ctx;
    uint64_t covered = atomic_load(&c->log->committed);
    atomic_store(&c->leader_in_sync, 1);
    while (!atomic_load(&c->release)) {
        nap(100000);
    }
    atomic_store(&c->log->durable, covered);
    return 0;
}

static void *late_leader(void *arg)
{
    struct late_ctx *c = arg;
    atomic_fetch_add(&c->log->committed, 1);
    enum store_flush_rc rc = store_flush_wait(c->f, slow_sync, c);
    return rc == STORE_FLUSH_OK ? arg : NULL;
}

static void test_flush_late_arrival_waits_for_the_next_flush(void **state)
{
    (void)state;
    struct store_flush f;
    store_flush_init(&f);
    struct fake_log log = {0};
    struct late_ctx c = {&f, &log, 0, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, late_leader, &c), 0);
    while (!atomic_load(&c.leader_in_sync)) {
        nap(100000);
    }
    /* The leader's flush is running and covers commit 1 only; ours comes after it began. */
    uint64_t mine = atomic_fetch_add(&log.committed, 1) + 1;
    assert_int_equal(mine, 2);
    atomic_store(&c.release, 1);
    assert_int_equal(store_flush_wait(&f, fake_sync, &log), STORE_FLUSH_OK);
    void *ret = NULL;
    assert_int_equal(pthread_join(t, &ret), 0);
    assert_ptr_equal(ret, &c);
    assert_int_equal(atomic_load(&log.durable), mine);
    assert_int_equal(store_flush_count(&f), 2); /* the late waiter had a flush of its own */
    store_flush_destroy(&f);
}

/* A failed flush fails its waiters and poisons the barrier: later waits fail at once, without
 * calling sync again, and nobody hangs. */
static void test_flush_failure_is_sticky(void **state)
{
    (void)state;

    enum {
        THREADS = 4,
        ROUNDS = 50
    };
    struct store_flush f;
    store_flush_init(&f);
    struct fake_log log = {0};
    log.fail_at = 3;
    struct writer w[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct writer){&f, &log, ROUNDS, 0, 0};
        assert_int_equal(pthread_create(&t[i], NULL, writer_main, &w[i]), 0);
    }
    int failed = 0;
    int acked = 0;
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(w[i].not_durable, 0);
        failed += w[i].failed;
        acked += ROUNDS - w[i].failed;
    }
    assert_true(failed > 0);
    assert_true(acked <= (int)atomic_load(&log.durable));
    assert_int_equal(store_flush_errno(&f), EIO);
    assert_int_equal(store_flush_count(&f), 3); /* no sync after the failed one */
    atomic_fetch_add(&log.committed, 1);
    assert_int_equal(store_flush_wait(&f, fake_sync, &log), STORE_FLUSH_FAILED);
    assert_int_equal(store_flush_count(&f), 3);
    store_flush_destroy(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flush_single_waiter_flushes_once_per_wait),
        cmocka_unit_test(test_flush_many_writers_are_covered_and_share_flushes),
        cmocka_unit_test(test_flush_late_arrival_waits_for_the_next_flush),
        cmocka_unit_test(test_flush_failure_is_sticky),
        cmocka_unit_test(test_flush_timings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
