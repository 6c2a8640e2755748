/* eas/seen.c: the last_seen stamps of devices whose requests wrote nothing (issue 16 item 3).
 * A Ping, a GetItemEstimate, a FolderSync or Sync with nothing new must not cost a durable
 * write, yet `almanac device list` and the web page show when each device was last seen. So
 * such a request only notes the time here, in memory; the stamps go to the store together,
 * in one write transaction, every EAS_SEEN_FLUSH_MS from the hub's timer thread and once
 * more when the app is destroyed. A request that writes anyway stamps its device in its own
 * transaction (route.c). A crash loses at most one interval of stamps, which only ever
 * show an older time: last_seen is informative, nothing reads it to decide. */
#include <stdlib.h>
#include <string.h>

#include "eas/eas_int.h"
#include "util/log.h"

/* Hashes a device id (never 0) to a slot of a table of `cap` (a power of two) slots. */
static size_t slot_of(uint64_t device, size_t cap)
{
    uint64_t h = device * 0x9E3779B97F4A7C15ULL;
    return (size_t)(h >> 32) & (cap - 1);
}

static void put(struct eas_seen_slot *slots, size_t cap, uint64_t device, int64_t when)
{
    size_t i = slot_of(device, cap);
    while (slots[i].device != 0 && slots[i].device != device) {
        i = (i + 1) & (cap - 1);
    }
    slots[i].device = device;
    if (slots[i].when < when) {
        slots[i].when = when;
    }
}

void eas_seen_note(struct eas_app *app, uint64_t device, int64_t when)
{
    if (device == 0) {
        return;
    }
    pthread_mutex_lock(&app->seen_mu);
    if ((app->seen_n + 1) * 2 > app->seen_cap) { /* at most half full: short probes */
        size_t cap = app->seen_cap ? app->seen_cap * 2 : 64;
        struct eas_seen_slot *slots = calloc(cap, sizeof(*slots));
        if (!slots) {
            abort();
        }
        for (size_t i = 0; i < app->seen_cap; i++) {
            if (app->seen[i].device != 0) {
                put(slots, cap, app->seen[i].device, app->seen[i].when);
            }
        }
        free(app->seen);
        app->seen = slots;
        app->seen_cap = cap;
    }
    size_t i = slot_of(device, app->seen_cap);
    while (app->seen[i].device != 0 && app->seen[i].device != device) {
        i = (i + 1) & (app->seen_cap - 1);
    }
    if (app->seen[i].device == 0) {
        app->seen_n++;
    }
    put(app->seen, app->seen_cap, device, when);
    pthread_mutex_unlock(&app->seen_mu);
}

size_t eas_seen_flush(struct eas_app *app)
{
    pthread_mutex_lock(&app->seen_mu);
    struct eas_seen_slot *slots = app->seen;
    size_t cap = app->seen_cap, n = app->seen_n;
    app->seen = NULL;
    app->seen_cap = app->seen_n = 0;
    pthread_mutex_unlock(&app->seen_mu);
    if (n == 0) {
        free(slots);
        return 0;
    }
    struct store *s = store_pool_acquire(app->pool);
    enum store_rc rc = s ? store_begin_write(s) : STORE_IO;
    for (size_t i = 0; i < cap && rc == STORE_OK; i++) {
        if (slots[i].device != 0) {
            rc = store_eas_device_seen(s, slots[i].device, slots[i].when);
        }
    }
    if (rc == STORE_OK) {
        rc = store_commit(s);
    }
    if (rc != STORE_OK) {
        /* dropped: the next request of each device notes it again */
        log_warn("eas last_seen not stored devices=%zu error=\"%s\"", n,
                 s ? store_last_error(s) : "no store connection");
    }
    if (s) {
        store_rollback(s);
        store_pool_release(app->pool, s);
    }
    free(slots);
    return rc == STORE_OK ? n : 0;
}
