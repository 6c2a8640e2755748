/* eas/cmd_ping.c: Ping (MS-ASCMD 2.2.1.13; activesync.md §3.5), the push of ActiveSync. The
 * device names folders and a heartbeat; the answer is Status 2 with the folders that have
 * changes it has not synced, as soon as there are some, or Status 1 when the heartbeat runs
 * out. Waiting costs no thread: the request registers with the hub (push.c) and suspends;
 * a write to a watched calendar through any protocol resumes it. "Changed" is exact: change
 * rows after the device's sync cursor (store_changes_count), not a bumped modseq alone, so a
 * property change on the calendar never makes a device loop. Heartbeat and folders are
 * cached per device, so later Pings may come without a body. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eas/eas_int.h"

enum {
    PING_EXPIRED = 1,
    PING_CHANGES = 2,
    PING_MISSING = 3,
    PING_SYNTAX = 4,
    PING_BAD_HEARTBEAT = 5,
    PING_TOO_MANY = 6,
    PING_HIERARCHY = 7,
    PING_CACHE_MAX = 64 * 1024, /* bytes of the cached Ping parameters */
};

static const char PING_CACHE[] = "ping";

struct ping {
    uint64_t heartbeat;
    const char **ids; /* folder ids as the device sent them */
    uint64_t *colls;  /* calendar collection of each id; 0 for a dummy folder */
    size_t n;
    const char *save; /* parameters to store (the cache's text), NULL when already stored */
    size_t save_len;
};

static int answer(struct eas_req *er,
                  unsigned status,
                  const struct ping *p,
                  const bool *changed,
                  uint64_t value,
                  struct err *err)
{
    if (eas_out_begin(er, err) != 0) {
        return -1;
    }
    struct eas_wbxml_enc *e = &er->enc;
    int rc = eas_enc_start(e, EAS_PING_PING) | eas_enc_uint(e, EAS_PING_STATUS, status);
    if (status == PING_CHANGES) {
        rc |= eas_enc_start(e, EAS_PING_FOLDERS);
        for (size_t i = 0; i < p->n; i++) {
            if (changed[i]) {
                rc |= eas_enc_cstr(e, EAS_PING_FOLDER, p->ids[i]);
            }
        }
        rc |= eas_enc_end(e);
    } else if (status == PING_BAD_HEARTBEAT) {
        rc |= eas_enc_uint(e, EAS_PING_HEARTBEATINTERVAL, value);
    } else if (status == PING_TOO_MANY) {
        rc |= eas_enc_uint(e, EAS_PING_MAXFOLDERS, value);
    }
    rc |= eas_enc_end(e);
    return rc ? eas_out_err(err) : eas_send(er, err);
}

/* Which folders have changes the device has not synced, inside the caller's transaction.
 * Returns how many, or -1 (the caller rolls back). */
static int changes_in(struct eas_req *er, const struct ping *p, bool *changed, struct err *err)
{
    int n = 0;
    for (size_t i = 0; i < p->n; i++) {
        changed[i] = false;
        if (p->colls[i] == 0) {
            continue;
        }
        /* the cursor alone: the state's last answer (kilobytes) is neither read nor held */
        uint64_t cursor = 0;
        enum store_rc rc = store_eas_sync_cursor(er->store, er->device.id, p->colls[i], &cursor);
        if (rc == STORE_NOTFOUND) {
            continue; /* never synced: nothing to push until it has a key */
        }
        uint64_t count = 0;
        if (rc == STORE_OK) {
            rc = store_changes_count(er->store, p->colls[i], cursor, 1, &count);
        }
        if (rc != STORE_OK) {
            return eas_store_err(er, rc, err);
        }
        if (count > 0) {
            changed[i] = true;
            n++;
        }
    }
    return n;
}

/* changes_in() in a read transaction of its own. */
static int changes(struct eas_req *er, const struct ping *p, bool *changed, struct err *err)
{
    if (eas_begin_read(er, err) != 0) {
        return -1;
    }
    int n = changes_in(er, p, changed, err);
    store_rollback(er->store);
    return n;
}

/* Parses the Ping body, or the cached one for an empty body. 0 ok, >0 a Ping status. */
static int read_ping(struct eas_req *er, struct ping *p, struct err *err)
{
    const struct eas_node *root = er->root;
    struct buf cache;
    buf_init(&cache, PING_CACHE_MAX);
    const void *blob = NULL;
    size_t bloblen = 0;
    if (eas_begin_read(er, err) != 0) {
        buf_deinit(&cache);
        return -1;
    }
    enum store_rc rc =
        store_eas_blob_get(er->store, er->device.id, PING_CACHE, er->arena, &blob, &bloblen);
    store_rollback(er->store);
    if (rc != STORE_OK && rc != STORE_NOTFOUND) {
        buf_deinit(&cache);
        return eas_store_err(er, rc, err);
    }
    /* The cache is text: heartbeat, then one folder id a line. */
    uint64_t hb = 0;
    struct slice cached = {rc == STORE_OK ? blob : "", rc == STORE_OK ? bloblen : 0};
    const struct eas_node *hbn = eas_node_child(root, EAS_PING_HEARTBEATINTERVAL);
    const struct eas_node *folders = eas_node_child(root, EAS_PING_FOLDERS);
    if (hbn) {
        if (eas_node_uint(hbn, UINT32_MAX, &hb) != 0) {
            buf_deinit(&cache);
            return PING_SYNTAX;
        }
    } else if (cached.len > 0) {
        hb = strtoull(cached.ptr, NULL, 10);
    }
    size_t n = 0;
    if (folders) {
        for (const struct eas_node *f = eas_node_child(folders, EAS_PING_FOLDER); f;
             f = eas_node_next(f, EAS_PING_FOLDER)) {
            n++;
        }
    } else {
        for (size_t i = 0; i < cached.len; i++) {
            n += cached.ptr[i] == '\n';
        }
        n = n > 0 ? n - 1 : 0;
    }
    if (hb == 0 || n == 0) {
        buf_deinit(&cache);
        return PING_MISSING;
    }
    p->heartbeat = hb;
    if (n > er->app->cfg.max_folders) {
        buf_deinit(&cache);
        p->n = 0;
        return PING_TOO_MANY;
    }
    p->ids = arena_zalloc(er->arena, n * sizeof(*p->ids));
    p->colls = arena_zalloc(er->arena, n * sizeof(*p->colls));
    p->n = 0;
    if (folders) {
        for (const struct eas_node *f = eas_node_child(folders, EAS_PING_FOLDER); f;
             f = eas_node_next(f, EAS_PING_FOLDER)) {
            const char *id = eas_node_text(eas_node_child(f, EAS_PING_ID), "");
            if (!*id || strchr(id, '\n')) {
                buf_deinit(&cache);
                return PING_SYNTAX;
            }
            p->ids[p->n++] = arena_strdup(er->arena, id); /* the body goes before the wait */
        }
    } else {
        const char *s = memchr(cached.ptr, '\n', cached.len);
        const char *end = cached.ptr + cached.len;
        while (s && s + 1 < end && p->n < n) {
            const char *b = s + 1;
            s = memchr(b, '\n', (size_t)(end - b));
            size_t len = s ? (size_t)(s - b) : (size_t)(end - b);
            p->ids[p->n++] = arena_strndup(er->arena, b, len);
        }
    }
    int bad = buf_appendf(&cache, "%llu\n", (unsigned long long)hb);
    for (size_t i = 0; i < p->n; i++) {
        bad |= buf_appendf(&cache, "%s\n", p->ids[i]);
    }
    /* Kept only when the body brought parameters the store does not hold yet: a device that
     * repeats its Ping, or sends it empty, costs no write (issue 16). */
    if (!bad && (hbn || folders) &&
        (cache.len != cached.len || memcmp(cache.data, cached.ptr, cache.len) != 0)) {
        p->save = arena_memdup(er->arena, cache.data, cache.len);
        p->save_len = cache.len;
    }
    buf_deinit(&cache);
    return 0;
}

/* Stores parameters the store does not hold yet, right before the answer: the next Ping,
 * which may come empty, follows the answer, and a Ping that fails keeps nothing. */
static int save_params(struct eas_req *er, struct ping *p, struct err *err)
{
    if (!p->save) {
        return 0;
    }
    if (eas_begin_write(er, err) != 0) {
        return -1;
    }
    enum store_rc rc =
        store_eas_blob_put(er->store, er->device.id, PING_CACHE, p->save, p->save_len);
    if (rc != STORE_OK) {
        store_rollback(er->store);
        return eas_store_err(er, rc, err);
    }
    if (eas_commit(er, err) != 0) {
        return -1;
    }
    p->save = NULL;
    return 0;
}

int eas_cmd_ping(struct eas_req *er, struct err *err)
{
    struct ping *p = arena_zalloc(er->arena, sizeof(*p));
    int st = read_ping(er, p, err);
    if (st < 0) {
        return -1;
    }
    if (st == PING_TOO_MANY) {
        return answer(er, PING_TOO_MANY, p, NULL, er->app->cfg.max_folders, err);
    }
    if (st > 0) {
        return answer(er, (unsigned)st, p, NULL, 0, err);
    }
    if (p->heartbeat < er->app->cfg.ping_min || p->heartbeat > er->app->cfg.ping_max) {
        return answer(er, PING_BAD_HEARTBEAT, p, NULL,
                      p->heartbeat < er->app->cfg.ping_min ? er->app->cfg.ping_min
                                                           : er->app->cfg.ping_max,
                      err);
    }
    if (eas_begin_read(er, err) != 0) {
        return -1;
    }
    for (size_t i = 0; i < p->n; i++) {
        struct store_coll c;
        struct arena_mark m = arena_mark(er->arena); /* only c.id is kept */
        int found = eas_calendar_of(er, p->ids[i], &c, err);
        arena_rewind(er->arena, m);
        if (found < 0) {
            store_rollback(er->store);
            return -1;
        }
        if (found == 0) {
            p->colls[i] = c.id;
        } else if (!eas_dummy_folder(p->ids[i])) {
            store_rollback(er->store);
            return answer(er, PING_HIERARCHY, p, NULL, 0, err);
        }
    }
    store_rollback(er->store);
    er->poll = p;
    eas_body_release(er); /* what a waiting Ping needs is in `p` */
    er->waiter.colls = p->colls;
    er->waiter.ncolls = p->n;
    er->waiter.deadline_ms = eas_now_ms() + (int64_t)p->heartbeat * 1000;
    /* Register first, then look: a write between the two still wakes us. */
    eas_hub_wait(er);
    bool *changed = arena_zalloc(er->arena, p->n * sizeof(*changed));
    int n = changes(er, p, changed, err);
    eas_store_release(er);
    if (n != 0) {
        eas_hub_fire(er); /* resumed() answers (or reports the error) at once */
    }
    return 0;
}

int eas_cmd_ping_resumed(struct eas_req *er, struct err *err)
{
    struct ping *p = er->poll;
    bool *changed = arena_zalloc(er->arena, p->n * sizeof(*changed));
    int n = changes(er, p, changed, err);
    if (n < 0) {
        return -1;
    }
    if (n == 0 && er->waiter.wake == EAS_WAKE_CHANGE && eas_now_ms() < er->waiter.deadline_ms) {
        eas_hub_wait(er); /* a write that the device had already synced: wait on */
        return 0;
    }
    if (save_params(er, p, err) != 0) {
        return -1;
    }
    return n > 0 ? answer(er, PING_CHANGES, p, changed, 0, err)
                 : answer(er, PING_EXPIRED, p, NULL, 0, err);
}
