/* store/store_flush.c: the leader/follower durability barrier of store_flush.h. */
#include "store/store_flush.h"

#include <pthread.h>

void store_flush_init(struct store_flush *f)
{
    pthread_mutex_init(&f->lock, NULL);
    pthread_cond_init(&f->done_cond, NULL);
    f->started = 0;
    f->completed = 0;
    f->running = false;
    f->failed_errno = 0;
    f->flushes = 0;
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
        int err = sync(ctx);
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
