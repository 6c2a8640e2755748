/* store/store_flush.h: the durability barrier behind store_commit() (group commit). Internal
 * to src/store; knows no engine, so it is unit-tested with a fake sync function.
 *
 * A writer whose transaction has committed (its log records are written, not yet on disk)
 * calls store_flush_wait(). It returns once one flush (an fdatasync of the log) that *started
 * after the call* has completed, so everything the writer committed before calling is on disk.
 * Flushes are numbered by generation. At most one runs at a time, performed by one of the
 * waiters (the leader) while the others sleep on the condition variable; one flush covers every
 * writer that arrived before it started, so N concurrent writers share about two flushes
 * instead of paying N. A writer that arrives while a flush runs waits for the next one: the
 * running flush may have started before its commit.
 *
 * A failed flush poisons the barrier: the failing waiters and every later one get
 * STORE_FLUSH_FAILED. After a failed fdatasync Linux may have dropped the dirty pages, so no
 * later success proves earlier commits durable (PostgreSQL stops for the same reason); the
 * server has to restart, and SQLite recovery then replays what the log really holds. */
#ifndef ALMANAC_STORE_STORE_FLUSH_H
#define ALMANAC_STORE_STORE_FLUSH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"

/* A latency histogram kept with relaxed atomic adds (store_timing, store.h, is its snapshot). */
struct store_flush_timing {
    atomic_uint_fast64_t count;
    atomic_uint_fast64_t sum_us;
    atomic_uint_fast64_t buckets[STORE_TIMING_BUCKETS + 1];
};

/* Makes one flush durable: 0 on success, an errno value on failure. Called by the leader
 * without the barrier's lock held, with the `ctx` the leader passed to store_flush_wait(). */
typedef int store_flush_sync_fn(void *ctx);

struct store_flush {
    pthread_mutex_t lock;
    pthread_cond_t done_cond; /* broadcast when a flush completes */
    uint64_t started;         /* generation of the newest flush started (0: none yet) */
    uint64_t completed;       /* generation of the newest flush completed */
    bool running;             /* a leader is inside its sync function */
    int failed_errno;         /* non-zero once a flush failed: the barrier is poisoned */
    uint64_t flushes;         /* sync calls made, for tests and statistics */
    struct store_flush_timing sync_timing;   /* each sync call */
    struct store_flush_timing commit_timing; /* store_flush_note_commit() */
};

enum store_flush_rc {
    STORE_FLUSH_OK = 0,
    STORE_FLUSH_FAILED, /* this or an earlier flush failed; see store_flush_errno() */
};

void store_flush_init(struct store_flush *f);
void store_flush_destroy(struct store_flush *f);

/* Blocks until a flush that started after this call has completed (see the file comment).
 * If no flush is running, the caller becomes the leader and calls sync(ctx) itself; the
 * flushes it then covers include other waiters' commits. */
enum store_flush_rc store_flush_wait(struct store_flush *f, store_flush_sync_fn *sync, void *ctx);

/* The errno of the first failed flush, 0 when none failed. */
int store_flush_errno(struct store_flush *f);

/* A write transaction of `us` microseconds (COMMIT until durable) ended. Lock-free. */
void store_flush_note_commit(struct store_flush *f, int64_t us);
/* Snapshots of the sync and commit timings. */
void store_flush_timings(struct store_flush *f,
                         struct store_timing *sync_out,
                         struct store_timing *commit_out);

/* Sync calls made so far. */
uint64_t store_flush_count(struct store_flush *f);

#endif
