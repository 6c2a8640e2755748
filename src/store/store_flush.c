/* store/store_flush.c: the leader/follower durability barrier of store_flush.h. */
#include "store/store_flush.h"

#include <pthread.h>

#include "util/timeutil.h"

/* Bucket bounds of store_timing (store.h), microseconds: an fsync on an SSD takes 0.1-2 ms,
 * on a disk or a busy cloud volume 5-50 ms; seconds mean trouble. */
static const uint64_t timing_bounds_us[STORE_TIMING_BUCKETS] = {
    100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 1000000, 10000000};

uint64_t store_timing_bound_us(size_t i)
{
    return i < STORE_TIMING_BUCKETS ? timing_bounds_us[i] : UINT64_MAX;
}

static void timing_init(struct store_flush_timing *t)
{
    atomic_init(&t->count, 0);
    atomic_init(&t->sum_us, 0);
    for (size_t b = 0; b <= STORE_TIMING_BUCKETS; b++) {
        atomic_init(&t->buckets[b], 0);
    }
}

static void timing_note(struct store_flush_timing *t, int64_t us)
{
    uint64_t u = us > 0 ? (uint64_t)us : 0;
    size_t b = 0;
    while (b < STORE_TIMING_BUCKETS && u > timing_bounds_us[b]) {
        b++;
    }
    atomic_fetch_add_explicit(&t->buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&t->sum_us, u, memory_order_relaxed);
    atomic_fetch_add_explicit(&t->count, 1, memory_order_relaxed);
}

static void timing_read(struct store_flush_timing *t, struct store_timing *out)
{
    out->count = atomic_load_explicit(&t->count, memory_order_relaxed);
    out->sum_us = atomic_load_explicit(&t->sum_us, memory_order_relaxed);
    for (size_t b = 0; b <= STORE_TIMING_BUCKETS; b++) {
        out->buckets[b] = atomic_load_explicit(&t->buckets[b], memory_order_relaxed);
    }
}

void store_flush_note_commit(struct store_flush *f, int64_t us)
{
    timing_note(&f->commit_timing, us);
}

void store_flush_timings(struct store_flush *f,
                         struct store_timing *sync_out,
                         struct store_timing *commit_out)
{
    timing_read(&f->sync_timing, sync_out);
    timing_read(&f->commit_timing, commit_out);
}

void store_flush_init(struct store_flush *f)
{
    pthread_mutex_init(&f->lock, NULL);
    pthread_cond_init(&f->done_cond, NULL);
    f->started = 0;
    f->completed = 0;
    f->running = false;
    f->failed_errno = 0;
    f->flushes = 0;
    timing_init(&f->sync_timing);
    timing_init(&f->commit_timing);
}

void store_flush_destroy(struct store_flush *f)
{
    pthread_cond_destroy(&f->done_cond);
    pthread_mutex_destroy(&f->lock);
}

/* The waiter's target is the generation the *next* flush to start will carry: any flush
 * with a generation >= target incremented `started` after we took the lock, hence after our
 * commit, and called sync after that. Flushes run one at a time, so they complete in
 * generation order and `completed >= target` means one of them has finished. */
enum store_flush_rc store_flush_wait(struct store_flush *f, store_flush_sync_fn *sync, void *ctx)
{
    pthread_mutex_lock(&f->lock);
    uint64_t target = f->started + 1;
    while (f->failed_errno == 0 && f->completed < target) {
        if (f->running) {
            pthread_cond_wait(&f->done_cond, &f->lock);
            continue;
        }
        f->running = true;
        uint64_t gen = ++f->started;
        f->flushes++;
        pthread_mutex_unlock(&f->lock);
        int64_t t0 = time_mono_us();
        int err = sync(ctx);
        timing_note(&f->sync_timing, time_mono_us() - t0);
        pthread_mutex_lock(&f->lock);
        if (err != 0 && f->failed_errno == 0) {
            f->failed_errno = err;
        }
        f->completed = gen;
        f->running = false;
        pthread_cond_broadcast(&f->done_cond);
    }
    enum store_flush_rc rc = f->failed_errno == 0 ? STORE_FLUSH_OK : STORE_FLUSH_FAILED;
    pthread_mutex_unlock(&f->lock);
    return rc;
}

int store_flush_errno(struct store_flush *f)
{
    pthread_mutex_lock(&f->lock);
    int e = f->failed_errno;
    pthread_mutex_unlock(&f->lock);
    return e;
}

uint64_t store_flush_count(struct store_flush *f)
{
    pthread_mutex_lock(&f->lock);
    uint64_t n = f->flushes;
    pthread_mutex_unlock(&f->lock);
    return n;
}
