/* store/store_fault.c: the fault-injection seam of store_fault.h. One process-wide plan behind
 * a mutex, read on the slow path only: the engine's points test `store_fault_on` (a relaxed
 * atomic load) and come here only while a plan is armed. Without ALMANAC_FAULTS the API is
 * inert and the points do not exist (store_sqlite_int.h). */
#include "store/store_fault.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store/store_sqlite_int.h"
#include "util/log.h"

#if ALMANAC_FAULTS

atomic_bool store_fault_on;

static pthread_mutex_t plan_lock = PTHREAD_MUTEX_INITIALIZER;
static struct store_fault_plan plan; /* guarded by plan_lock */
static uint64_t points;              /* points of plan.op passed since arm */
static uint64_t fired;               /* faults injected since arm */
static bool first_fired_prepare;     /* the first fault hit a fetch/prepare */
static bool armed;                   /* plan counts (store_fault_on mirrors it) */
static pthread_t owner;              /* the arming thread, for plan.this_thread */
static uint64_t generation;          /* store_fault_arm() calls so far */

bool store_fault_available(void)
{
    return true;
}

void store_fault_arm(const struct store_fault_plan *p)
{
    pthread_mutex_lock(&plan_lock);
    plan = *p;
    owner = pthread_self();
    points = 0;
    fired = 0;
    first_fired_prepare = false;
    generation++;
    armed = true;
    atomic_store(&store_fault_on, true);
    pthread_mutex_unlock(&plan_lock);
}

void store_fault_disarm(void)
{
    pthread_mutex_lock(&plan_lock);
    armed = false;
    atomic_store(&store_fault_on, false);
    pthread_mutex_unlock(&plan_lock);
}

uint64_t store_fault_generation(void)
{
    pthread_mutex_lock(&plan_lock);
    uint64_t g = generation;
    pthread_mutex_unlock(&plan_lock);
    return g;
}

void store_fault_disarm_if(uint64_t gen)
{
    pthread_mutex_lock(&plan_lock);
    if (generation == gen) {
        armed = false;
        atomic_store(&store_fault_on, false);
    }
    pthread_mutex_unlock(&plan_lock);
}

uint64_t store_fault_points(void)
{
    pthread_mutex_lock(&plan_lock);
    uint64_t n = points;
    pthread_mutex_unlock(&plan_lock);
    return n;
}

uint64_t store_fault_fired(void)
{
    pthread_mutex_lock(&plan_lock);
    uint64_t n = fired;
    pthread_mutex_unlock(&plan_lock);
    return n;
}

bool store_fault_fired_at_prepare(void)
{
    pthread_mutex_lock(&plan_lock);
    bool b = first_fired_prepare;
    pthread_mutex_unlock(&plan_lock);
    return b;
}

static const char *const err_names[] = {
    [STORE_FAULT_IO] = "io",         [STORE_FAULT_FULL] = "full", [STORE_FAULT_BUSY] = "busy",
    [STORE_FAULT_LOCKED] = "locked", [STORE_FAULT_LOST] = "lost",
};

static const int err_codes[] = {
    [STORE_FAULT_IO] = SQLITE_IOERR,   [STORE_FAULT_FULL] = SQLITE_FULL,
    [STORE_FAULT_BUSY] = SQLITE_BUSY,  [STORE_FAULT_LOCKED] = SQLITE_LOCKED,
    [STORE_FAULT_LOST] = SQLITE_IOERR,
};

bool store_fault_fire(struct store *s,
                      enum store_fault_op op,
                      const char *what,
                      bool prepare,
                      enum store_fault_err *err_out)
{
    pthread_mutex_lock(&plan_lock);
    if (!armed || op != plan.op || (plan.this_thread && !pthread_equal(owner, pthread_self()))) {
        pthread_mutex_unlock(&plan_lock);
        return 0;
    }
    uint64_t n = ++points;
    bool fail = plan.nth != 0 && (n == plan.nth || (plan.persist && n > plan.nth));
    if (fail && fired++ == 0) {
        first_fired_prepare = prepare;
    }
    enum store_fault_err err = plan.err;
    pthread_mutex_unlock(&plan_lock);
    if (!fail) {
        return false;
    }
    const char *kind = op == STORE_FAULT_FSYNC ? "fsync" : prepare ? "prepare" : "step";
    log_warn("store fault injected point=%llu kind=%s err=%s sql=\"%.80s\"", (unsigned long long)n,
             kind, op == STORE_FAULT_FSYNC ? "eio" : err_names[err], what ? what : "");
    if (op == STORE_FAULT_STMT) {
        snprintf(s->errmsg, sizeof(s->errmsg), "injected fault (%s %s) at point %llu", kind,
                 err_names[err], (unsigned long long)n);
        s->injected = true;
    }
    *err_out = err;
    return true;
}

int store_db_fault_hit(struct store *s, enum store_fault_op op, const char *what, bool prepare)
{
    enum store_fault_err err = STORE_FAULT_IO;
    if (!store_fault_fire(s, op, what, prepare, &err)) {
        return 0;
    }
    return op == STORE_FAULT_FSYNC ? 1 /* wal_sync reports EIO */ : err_codes[err];
}

#else

bool store_fault_available(void)
{
    return false;
}

void store_fault_arm(const struct store_fault_plan *p)
{
    (void)p;
}

void store_fault_disarm(void)
{
}

uint64_t store_fault_generation(void)
{
    return 0;
}

void store_fault_disarm_if(uint64_t gen)
{
    (void)gen;
}

uint64_t store_fault_points(void)
{
    return 0;
}

uint64_t store_fault_fired(void)
{
    return 0;
}

bool store_fault_fired_at_prepare(void)
{
    return false;
}

#endif

/* Reads an unsigned decimal count, the whole of [p, end). */
static int parse_count(const char *p, const char *end, uint64_t *out)
{
    uint64_t v = 0;
    if (p == end) {
        return -1;
    }
    for (; p < end; p++) {
        if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10) {
            return -1;
        }
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *out = v;
    return 0;
}

static bool field_is(const char *p, const char *end, const char *lit)
{
    size_t n = strlen(lit);
    return (size_t)(end - p) == n && memcmp(p, lit, n) == 0;
}

int store_fault_parse(const char *spec, struct store_fault_plan *out)
{
    static const char *const errs[] = {"io", "full", "busy", "locked", "lost"};
    struct store_fault_plan p = {
        .op = STORE_FAULT_STMT, .nth = 0, .err = STORE_FAULT_IO, .persist = false};
    bool have_point = false;
    const char *f = spec;
    for (;;) {
        const char *end = strchr(f, ',');
        if (!end) {
            end = f + strlen(f);
        }
        const char *eq = memchr(f, '=', (size_t)(end - f));
        const char *key_end = eq ? eq : end;
        if (field_is(f, key_end, "persist") && !eq) {
            p.persist = true;
        } else if (eq && (field_is(f, key_end, "stmt") || field_is(f, key_end, "fsync"))) {
            if (have_point || parse_count(eq + 1, end, &p.nth) != 0) {
                return -1;
            }
            p.op = field_is(f, key_end, "stmt") ? STORE_FAULT_STMT : STORE_FAULT_FSYNC;
            have_point = true;
        } else if (eq && field_is(f, key_end, "err")) {
            size_t i = 0;
            while (i < ALM_ARRAY_LEN(errs) && !field_is(eq + 1, end, errs[i])) {
                i++;
            }
            if (i == ALM_ARRAY_LEN(errs)) {
                return -1;
            }
            p.err = (enum store_fault_err)i;
        } else {
            return -1;
        }
        if (!*end) {
            break;
        }
        f = end + 1;
    }
    if (!have_point) {
        return -1;
    }
    *out = p;
    return 0;
}
