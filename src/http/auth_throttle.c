/* http/auth_throttle.c: the failed-login table of auth_throttle.h. Records are keyed by a
 * keyed BLAKE2b of a kind byte and the address or user name (the key is random per
 * process, so nobody can aim many names at one set), in sets of AUTH_THROTTLE_WAYS; a new
 * record takes an expired slot of its set, or else the one whose last failure is oldest.
 * Never logs and never sees a password. */
#include "http/auth_throttle.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/sec.h"

enum {
    AUTH_THROTTLE_SETS = 2048, /* power of two; 8,192 records, about 300 KiB */
    AUTH_THROTTLE_WAYS = 4,
    AUTH_THROTTLE_KEY = 16,           /* bytes of the keyed hash kept per record */
    AUTH_THROTTLE_NAME_MAX = 1024,    /* bytes of an address or user name hashed */
    AUTH_THROTTLE_MAX_DOUBLINGS = 24, /* 2^24 s is far past any max_delay */
};

enum throttle_kind {
    KIND_ADDR = 'a',
    KIND_USER = 'u',
};

struct throttle_rec {
    uint8_t key[AUTH_THROTTLE_KEY];
    uint32_t failures; /* within the window; 0 = free slot */
    int64_t last;      /* unix seconds of the last failure */
};

struct auth_throttle {
    struct auth_throttle_config cfg;
    pthread_mutex_t lock; /* guards recs */
    uint8_t hash_key[32];
    struct throttle_rec *recs; /* AUTH_THROTTLE_SETS * AUTH_THROTTLE_WAYS */
};

struct auth_throttle *auth_throttle_create(const struct auth_throttle_config *cfg)
{
    struct auth_throttle *t = calloc(1, sizeof(*t));
    if (!t) {
        abort();
    }
    t->cfg = *cfg;
    t->recs = calloc((size_t)AUTH_THROTTLE_SETS * AUTH_THROTTLE_WAYS, sizeof(*t->recs));
    if (!t->recs) {
        abort();
    }
    sec_random(t->hash_key, sizeof(t->hash_key));
    pthread_mutex_init(&t->lock, NULL);
    return t;
}

void auth_throttle_destroy(struct auth_throttle **tp)
{
    struct auth_throttle *t = *tp;
    if (!t) {
        return;
    }
    pthread_mutex_destroy(&t->lock);
    free(t->recs);
    free(t);
    *tp = NULL;
}

static void rec_key(const struct auth_throttle *t,
                    enum throttle_kind kind,
                    struct slice name,
                    uint8_t key_out[AUTH_THROTTLE_KEY])
{
    uint8_t msg[1 + AUTH_THROTTLE_NAME_MAX];
    size_t n = name.len < AUTH_THROTTLE_NAME_MAX ? name.len : AUTH_THROTTLE_NAME_MAX;
    msg[0] = (uint8_t)kind;
    if (n > 0) {
        memcpy(msg + 1, name.ptr, n);
    }
    uint8_t h[32];
    sec_hash(t->hash_key, sizeof(t->hash_key), msg, 1 + n, h);
    memcpy(key_out, h, AUTH_THROTTLE_KEY);
}

static bool rec_is_live(const struct auth_throttle *t, const struct throttle_rec *r, int64_t now)
{
    return r->failures > 0 && now - r->last <= (int64_t)t->cfg.window;
}

/* The record of `key` if live, else NULL; with `is_create`, a fresh one in its place. Under
 * t->lock. */
static struct throttle_rec *
rec_find(struct auth_throttle *t, const uint8_t key[AUTH_THROTTLE_KEY], int64_t now, bool is_create)
{
    uint64_t h;
    memcpy(&h, key, sizeof(h));
    struct throttle_rec *set = &t->recs[(h & (AUTH_THROTTLE_SETS - 1)) * AUTH_THROTTLE_WAYS];
    struct throttle_rec *victim = &set[0];
    for (unsigned i = 0; i < AUTH_THROTTLE_WAYS; i++) {
        struct throttle_rec *r = &set[i];
        bool is_live = rec_is_live(t, r, now);
        if (is_live && memcmp(r->key, key, AUTH_THROTTLE_KEY) == 0) {
            return r;
        }
        if (!is_live) {
            victim = r; /* a free or expired slot beats any live one */
        } else if (rec_is_live(t, victim, now) && r->last < victim->last) {
            victim = r;
        }
    }
    if (!is_create) {
        return NULL;
    }
    memcpy(victim->key, key, AUTH_THROTTLE_KEY);
    victim->failures = 0;
    victim->last = now;
    return victim;
}

/* Seconds still to wait after `r`'s last failure, given its limit; 0 below the limit. */
static unsigned
rec_wait(const struct auth_throttle *t, const struct throttle_rec *r, unsigned limit, int64_t now)
{
    if (!r || r->failures < limit) {
        return 0;
    }
    uint32_t doublings = r->failures - limit;
    if (doublings > AUTH_THROTTLE_MAX_DOUBLINGS) {
        doublings = AUTH_THROTTLE_MAX_DOUBLINGS;
    }
    int64_t delay = (int64_t)1 << doublings;
    if (delay > (int64_t)t->cfg.max_delay) {
        delay = (int64_t)t->cfg.max_delay;
    }
    int64_t left = r->last + delay - now;
    return left > 0 ? (unsigned)left : 0;
}

unsigned
auth_throttle_wait(struct auth_throttle *t, struct slice addr, struct slice user, int64_t now)
{
    if (t->cfg.window == 0) {
        return 0;
    }
    uint8_t ka[AUTH_THROTTLE_KEY], ku[AUTH_THROTTLE_KEY];
    rec_key(t, KIND_ADDR, addr, ka);
    rec_key(t, KIND_USER, user, ku);
    pthread_mutex_lock(&t->lock);
    const struct throttle_rec *a = rec_find(t, ka, now, false);
    unsigned wait = rec_wait(t, a, t->cfg.addr_limit, now);
    if (wait == 0 && a) {
        /* only an address that failed lately waits for the user's sake */
        wait = rec_wait(t, rec_find(t, ku, now, false), t->cfg.user_limit, now);
    }
    pthread_mutex_unlock(&t->lock);
    return wait;
}

void auth_throttle_fail(struct auth_throttle *t, struct slice addr, struct slice user, int64_t now)
{
    if (t->cfg.window == 0) {
        return;
    }
    uint8_t ka[AUTH_THROTTLE_KEY], ku[AUTH_THROTTLE_KEY];
    rec_key(t, KIND_ADDR, addr, ka);
    rec_key(t, KIND_USER, user, ku);
    pthread_mutex_lock(&t->lock);
    struct throttle_rec *a = rec_find(t, ka, now, true);
    a->failures += a->failures < UINT32_MAX;
    a->last = now;
    struct throttle_rec *u = rec_find(t, ku, now, true);
    u->failures += u->failures < UINT32_MAX;
    u->last = now;
    pthread_mutex_unlock(&t->lock);
}
