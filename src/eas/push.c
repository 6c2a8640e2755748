/* eas/push.c: the notification hub for long polls (DESIGN.md "Concurrency"). A Ping that finds
 * nothing changed registers a waiter and suspends its connection, holding no thread. A write
 * through any protocol reaches eas_app_change() from the store's change hook and resumes the
 * waiters watching that collection; one timer thread resumes those whose heartbeat expired.
 * The resumed request then runs on a worker thread and answers. */
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <time.h>

#include "eas/eas_int.h"
#include "util/log.h"

int64_t eas_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Unlinks `w` and resumes its request; app->mu held. After this the hub forgets `w`: the
 * request (and the waiter inside it) may be gone as soon as it answers. */
static void fire(struct eas_app *app, struct eas_waiter *w, enum eas_wake why)
{
    if (w->prev) {
        w->prev->next = w->next;
    } else {
        app->waiters = w->next;
    }
    if (w->next) {
        w->next->prev = w->prev;
    }
    w->prev = w->next = NULL;
    w->linked = false;
    w->wake = why;
    w->fired = true;
    app->answering++;
    app->nwaiting--;
    if (app->crowd_peak >= EAS_TRIM_CROWD && app->nwaiting <= app->crowd_peak / 4 &&
        app->trim_at_ms == 0) {
        app->trim_at_ms = eas_now_ms() + EAS_TRIM_DELAY_MS;
        pthread_cond_signal(&app->cv);
    }
    http_req_resume(w->req);
}

static void *timer_main(void *p)
{
    struct eas_app *app = p;
    pthread_mutex_lock(&app->mu);
    int64_t flush_at = eas_now_ms() + EAS_SEEN_FLUSH_MS;
    while (!app->stopping) {
        int64_t now = eas_now_ms();
        if (now >= flush_at) {
            pthread_mutex_unlock(&app->mu); /* a store write: never under the hub's lock */
            eas_seen_flush(app);
            pthread_mutex_lock(&app->mu);
            now = eas_now_ms();
            flush_at = now + EAS_SEEN_FLUSH_MS;
        }
        if (app->trim_at_ms != 0 && now >= app->trim_at_ms && app->answering > 0) {
            app->trim_at_ms = now + 250; /* not while the crowd is answered: trim locks malloc */
        }
        if (app->trim_at_ms != 0 && now >= app->trim_at_ms) {
            /* The answered crowd's requests are freed: give the heap's free pages back, or
             * RSS would stay at the crowd's peak. Not under the hub's lock: it takes a while
             * on a large heap. */
            app->trim_at_ms = 0;
            app->crowd_peak = app->nwaiting;
            pthread_mutex_unlock(&app->mu);
            malloc_trim(0);
            pthread_mutex_lock(&app->mu);
            now = eas_now_ms();
        }
        int64_t next = now + 60000 < flush_at ? now + 60000 : flush_at;
        struct eas_waiter *w = app->waiters;
        while (w) {
            struct eas_waiter *after = w->next;
            if (w->deadline_ms <= now) {
                fire(app, w, EAS_WAKE_TIMEOUT);
            } else if (w->deadline_ms < next) {
                next = w->deadline_ms;
            }
            w = after;
        }
        if (app->trim_at_ms != 0 && app->trim_at_ms < next) { /* fire() may have set it */
            next = app->trim_at_ms;
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t wait = next - now;
        ts.tv_sec += (time_t)(wait / 1000);
        ts.tv_nsec += (long)(wait % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&app->cv, &app->mu, &ts);
    }
    while (app->waiters) {
        fire(app, app->waiters, EAS_WAKE_SHUTDOWN);
    }
    pthread_mutex_unlock(&app->mu);
    return NULL;
}

int eas_app_start(const struct eas_config *cfg, struct store_pool *pool, struct eas_app **out)
{
    struct eas_app *app = calloc(1, sizeof(*app));
    if (!app) {
        abort();
    }
    app->cfg = *cfg;
    app->pool = pool;
    pthread_mutex_init(&app->mu, NULL);
    pthread_mutex_init(&app->seen_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&app->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&app->timer, NULL, timer_main, app) != 0) {
        pthread_cond_destroy(&app->cv);
        pthread_mutex_destroy(&app->mu);
        pthread_mutex_destroy(&app->seen_mu);
        free(app);
        return -1;
    }
    *out = app;
    return 0;
}

void eas_app_stop(struct eas_app *app)
{
    pthread_mutex_lock(&app->mu);
    bool was = app->stopping;
    app->stopping = true;
    pthread_cond_signal(&app->cv);
    pthread_mutex_unlock(&app->mu);
    if (!was) {
        pthread_join(app->timer, NULL);
    }
}

void eas_app_destroy(struct eas_app **ap)
{
    struct eas_app *app = *ap;
    if (!app) {
        return;
    }
    eas_app_stop(app);
    eas_seen_flush(app); /* the requests answered since the last flush, the drain's included */
    pthread_cond_destroy(&app->cv);
    pthread_mutex_destroy(&app->mu);
    pthread_mutex_destroy(&app->seen_mu);
    free(app);
    *ap = NULL;
}

void eas_app_change(void *p, uint64_t coll, uint64_t modseq)
{
    (void)modseq;
    struct eas_app *app = p;
    pthread_mutex_lock(&app->mu);
    struct eas_waiter *w = app->waiters;
    while (w) {
        struct eas_waiter *after = w->next;
        for (size_t i = 0; i < w->ncolls; i++) {
            /* coll 0: every collection (store.h); the woken Ping or Sync looks at the change
             * log again and answers only if something changed for it (activesync.md §3.5) */
            if (w->colls[i] == coll || coll == 0) {
                fire(app, w, EAS_WAKE_CHANGE);
                break;
            }
        }
        w = after;
    }
    pthread_mutex_unlock(&app->mu);
}

unsigned eas_app_waiting(struct eas_app *app)
{
    pthread_mutex_lock(&app->mu);
    unsigned n = app->nwaiting;
    pthread_mutex_unlock(&app->mu);
    return n;
}

/* The end of a request that waited (its arena's destructor): no longer answering. */
static void hub_done(void *p)
{
    struct eas_req *er = p;
    struct eas_app *app = er->app;
    pthread_mutex_lock(&app->mu);
    if (er->waiter.fired) {
        er->waiter.fired = false;
        app->answering--;
    }
    pthread_mutex_unlock(&app->mu);
}

void eas_hub_wait(struct eas_req *er)
{
    struct eas_app *app = er->app;
    struct eas_waiter *w = &er->waiter;
    if (!w->deferred) {
        w->deferred = true;
        arena_defer(er->arena, hub_done, er);
    }
    w->req = er->http;
    w->wake = EAS_WAKE_NONE;
    /* copied now: once the lock is released a write may answer the request */
    size_t ncolls = w->ncolls;
    int64_t wait_ms = w->deadline_ms - eas_now_ms();
    eas_store_release(er); /* a waiting request holds no store connection */
    http_req_suspend(er->http);
    pthread_mutex_lock(&app->mu);
    if (w->fired) { /* woken, and waiting again */
        w->fired = false;
        app->answering--;
    }
    bool waiting = !app->stopping;
    if (!waiting) {
        w->wake = EAS_WAKE_SHUTDOWN;
        http_req_resume(er->http);
    } else {
        w->prev = NULL;
        w->next = app->waiters;
        if (app->waiters) {
            app->waiters->prev = w;
        }
        app->waiters = w;
        w->linked = true;
        app->nwaiting++;
        if (app->nwaiting > app->crowd_peak) {
            app->crowd_peak = app->nwaiting;
        }
        pthread_cond_signal(&app->cv); /* the timer may need to wake earlier */
    }
    pthread_mutex_unlock(&app->mu);
    if (waiting) {
        /* tests wait for this line before they write (tests/integration/test_activesync.py) */
        log_debug("eas wait colls=%zu ms=%lld", ncolls, (long long)wait_ms);
    }
}

void eas_hub_fire(struct eas_req *er)
{
    struct eas_app *app = er->app;
    pthread_mutex_lock(&app->mu);
    if (er->waiter.linked) {
        fire(app, &er->waiter, EAS_WAKE_CHANGE);
    }
    pthread_mutex_unlock(&app->mu);
}
