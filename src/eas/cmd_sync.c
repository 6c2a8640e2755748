/* eas/cmd_sync.c: Sync (MS-ASCMD 2.2.1.21; activesync.md §3.3) for calendar folders.
 *
 * Per (device, collection) the store keeps the state of the current SyncKey: its change-log
 * cursor (a modseq), the collection epoch it belongs to, the sticky Options, and the WBXML of
 * the Collection element that carried it; plus the previous key. The device's items are its
 * membership (item -> modseq it holds). One Sync request runs in one write transaction:
 *
 *  - key 0: forget the state and membership, issue a new generation's first key, no items;
 *  - the current key: apply the client's Add/Change/Delete/Fetch (one Response each where
 *    the protocol wants one), then walk the change log after the cursor — ordered by modseq,
 *    each row once — emitting Add/Change/Delete/SoftDelete against the membership and the
 *    FilterType window, until WindowSize items or max_window_bytes; MoreAvailable when rows
 *    remain; the next key gets the new cursor and the previous key is kept. The key stays
 *    only when nothing happened: no item sent, no Response, no client write;
 *  - the previous key: the device lost our last answer, so it gets that answer again, byte
 *    for byte (same new key, same items, same ServerIds for its Adds): nothing is applied
 *    twice and no duplicate is created;
 *  - anything else, or a state whose collection history was cut: Status 3.
 *
 * Each window costs O(window + rows skipped) store work: the cursor is an index position.
 * Memory is one window of WBXML (bounded by max_window_bytes plus one item). */
#include <string.h>

#include "eas/eas_int.h"
#include "eas/sync_int.h"

/* A Sync with Wait or HeartbeatInterval that found nothing waits (activesync.md §3.3.10):
 * the calendars it covers, the cursors it found, and when the wait ends. */
struct sync_poll {
    int64_t deadline_ms;
    bool final; /* the wait is over: answer whatever there is */
    uint64_t colls[MAX_COLLECTIONS];
    uint64_t cursors[MAX_COLLECTIONS];
    size_t n;
};

/* ---------------------------------------------------------------------------------------- */
/* One collection */

/* A Collection answer with only a status (and the key the device sent, if any). */
static int
write_status_only(struct eas_wbxml_enc *e, const char *key, const char *id, unsigned status)
{
    int rc = eas_enc_start(e, EAS_AS_COLLECTION);
    if (key) {
        rc |= eas_enc_cstr(e, EAS_AS_SYNCKEY, key);
    }
    rc |= eas_enc_cstr(e, EAS_AS_COLLECTIONID, id ? id : "");
    rc |= eas_enc_uint(e, EAS_AS_STATUS, status);
    return rc | eas_enc_end(e);
}

/* The ghosting mask from a Supported element (≤14.1): what it lists the device manages;
 * every other ghostable property is kept when a Change omits it. */
static uint32_t keep_of_supported(const struct eas_node *sup)
{
    if (!sup || !sup->child) {
        return 0;
    }
    uint32_t listed = 0;
    for (const struct eas_node *c = sup->child; c; c = c->next) {
        listed |= eas_item_field_of(c->tag);
    }
    return EAS_CALMAP_ALL & ~listed;
}

/* The read pass's test of one collection whose key is current: 1 when answering it writes
 * nothing (no client command, no change row after the cursor, no member aged out of the
 * filter window, Options as stored), 0 when it would write, -1 with `err` set. */
static int collection_quiet(struct coll_job *j,
                            const struct eas_node *cmds,
                            bool get,
                            const struct eas_node *opts,
                            struct err *err)
{
    struct eas_req *er = j->er;
    if (cmds || (opts && !sync_opts_stored(j))) {
        return 0;
    }
    if (!get) {
        return 1;
    }
    uint64_t n = 0;
    enum store_rc rc = store_changes_count(er->store, j->coll.id, j->st.cursor, 1, &n);
    if (rc != STORE_OK) {
        return eas_store_err(er, rc, err);
    }
    if (n > 0 || j->cutoff == 0) {
        return n == 0;
    }
    struct store_cursor *aged = NULL;
    rc = store_eas_members_aged_open(er->store, er->device.id, j->coll.id, j->cutoff, 1, &aged);
    if (rc != STORE_OK) {
        return eas_store_err(er, rc, err);
    }
    struct store_item it;
    rc = store_cursor_next_item(aged, &it);
    store_cursor_close(&aged);
    if (rc != STORE_OK && rc != STORE_NOTFOUND) {
        return eas_store_err(er, rc, err);
    }
    return rc == STORE_NOTFOUND;
}

/* One Collection of the request: answers into the main encoder `out`. */
static int sync_collection(struct eas_req *er,
                           const struct eas_node *c,
                           bool cached,
                           unsigned window,
                           struct add_preps *preps,
                           struct eas_wbxml_enc *out,
                           bool *changed,
                           struct err *err)
{
    const char *key = eas_node_text(eas_node_child(c, EAS_AS_SYNCKEY), NULL);
    const char *id = eas_node_text(eas_node_child(c, EAS_AS_COLLECTIONID), NULL);
    const struct eas_node *cmds = eas_node_child(c, EAS_AS_COMMANDS);
    const struct eas_node *opts = eas_node_child(c, EAS_AS_OPTIONS);
    const struct eas_node *ws = eas_node_child(c, EAS_AS_WINDOWSIZE);
    const struct eas_node *gc = eas_node_child(c, EAS_AS_GETCHANGES);
    if (!key || !id || strlen(key) > EAS_KEY_MAX) {
        return write_status_only(out, key, id, SYNC_PROTOCOL) ? eas_out_err(err) : 0;
    }
    uint64_t w;
    if (ws) {
        if (eas_node_uint(ws, UINT32_MAX, &w) != 0) {
            return write_status_only(out, key, id, SYNC_PROTOCOL) ? eas_out_err(err) : 0;
        }
        window = w == 0 || w > EAS_WINDOW_MAX ? EAS_WINDOW_MAX : (unsigned)w;
    }
    struct coll_job j = {.er = er, .preps = preps};
    int found = eas_calendar_access(er, id, &j.coll, &j.access, err);
    if (found < 0) {
        return -1;
    }
    if (found > 0) {
        if (!eas_dummy_folder(id)) {
            return write_status_only(out, key, id, SYNC_HIERARCHY) ? eas_out_err(err) : 0;
        }
        /* The empty mail/contacts/tasks folders: a key and never an item. */
        const char *next = strcmp(key, "0") == 0 ? "1" : key;
        int rc = eas_enc_start(out, EAS_AS_COLLECTION) | eas_enc_cstr(out, EAS_AS_SYNCKEY, next) |
                 eas_enc_cstr(out, EAS_AS_COLLECTIONID, id) |
                 eas_enc_uint(out, EAS_AS_STATUS, SYNC_OK) | eas_enc_end(out);
        return rc ? eas_out_err(err) : 0;
    }
    enum store_rc rc = store_eas_sync_get(er->store, er->device.id, j.coll.id, er->arena, &j.st);
    if (rc != STORE_OK && rc != STORE_NOTFOUND) {
        return eas_store_err(er, rc, err);
    }
    bool have = rc == STORE_OK;
    if (cached && have) {
        key = j.st.key_cur; /* a remembered collection goes on from the server's own key */
    }
    if (strcmp(key, "0") == 0) {
        if (cmds) {
            return write_status_only(out, key, id, SYNC_PROTOCOL) ? eas_out_err(err) : 0;
        }
        if (er->read_only) {
            er->needs_write = true;
            return 0;
        }
        rc = store_eas_sync_reset(er->store, er->device.id, j.coll.id);
        if (rc != STORE_OK) {
            return eas_store_err(er, rc, err);
        }
        sync_opts_default(&j.opts);
        if (opts && sync_opts_read(opts, &j.opts) != 0) {
            return write_status_only(out, key, id, SYNC_PROTOCOL) ? eas_out_err(err) : 0;
        }
        j.opts.keep = keep_of_supported(eas_node_child(c, EAS_AS_SUPPORTED));
        const char *first = eas_key_first(er->arena);
        struct frag *f = sync_frag_new(er);
        int bad = eas_enc_start(&f->enc, EAS_AS_COLLECTION);
        bad |= eas_enc_cstr(&f->enc, EAS_AS_SYNCKEY, first);
        bad |= eas_enc_cstr(&f->enc, EAS_AS_COLLECTIONID, id);
        bad |= eas_enc_uint(&f->enc, EAS_AS_STATUS, SYNC_OK);
        bad |= eas_enc_end(&f->enc);
        if (bad) {
            return eas_out_err(err);
        }
        struct slice frag = sync_frag_bytes(f);
        if (sync_save_state(&j, first, NULL, 0, frag, err) != 0) {
            return -1;
        }
        return sync_splice(out, frag) ? eas_out_err(err) : 0;
    }
    if (have && j.st.key_prev && strcmp(key, j.st.key_prev) == 0 && j.st.answer_len > 0) {
        /* Retransmission: the answer the device lost, again. */
        *changed = true;
        return sync_splice(out, (struct slice){j.st.answer, j.st.answer_len}) ? eas_out_err(err)
                                                                              : 0;
    }
    if (!have || strcmp(key, j.st.key_cur) != 0 || j.st.coll_epoch != j.coll.epoch) {
        return write_status_only(out, key, id, SYNC_BAD_KEY) ? eas_out_err(err) : 0;
    }
    if (j.st.cursor < j.coll.tomb_horizon) {
        /* State older than pruned deletes starts over (README, Status 3): the device may hold
         * an item whose Delete is gone. One that holds nothing (the state key 0 made, cursor
         * 0) has no Delete to miss and goes on; else a device could never start over. */
        uint64_t held = 0;
        rc = store_eas_member_count(er->store, er->device.id, j.coll.id, &held);
        if (rc != STORE_OK) {
            return eas_store_err(er, rc, err);
        }
        if (held > 0) {
            return write_status_only(out, key, id, SYNC_BAD_KEY) ? eas_out_err(err) : 0;
        }
    }
    struct sync_poll *poll = er->poll;
    if (poll && poll->n < MAX_COLLECTIONS) {
        poll->colls[poll->n] = j.coll.id;
        poll->cursors[poll->n++] = j.st.cursor;
    }
    sync_opts_load(&j.st, &j.opts);
    if (opts && sync_opts_read(opts, &j.opts) != 0) {
        return write_status_only(out, key, id, SYNC_PROTOCOL) ? eas_out_err(err) : 0;
    }
    j.cutoff = sync_filter_cutoff(j.opts.filter);
    bool get = true;
    if (gc && gc->len > 0 && eas_node_uint(gc, 1, &w) == 0 && w == 0) {
        get = false;
    }
    if (er->read_only) {
        int quiet = collection_quiet(&j, cmds, get, opts, err);
        if (quiet <= 0) {
            er->needs_write = quiet == 0;
            return quiet;
        }
    } else if (sync_client_commands(&j, cmds, err) != 0) {
        return -1;
    }
    uint64_t cursor = j.st.cursor;
    bool more = false;
    struct frag *cf = NULL;
    int sent = 0;
    if (get && !er->read_only) { /* the read pass has seen that there is nothing to send */
        cf = sync_frag_new(er);
        sent = sync_build_window(&j, window, cf, &more, &cursor, err);
        if (sent < 0) {
            return -1;
        }
    } else if (j.nresends > 0) {
        /* GetChanges 0 asks for no window, but a refused write's correction is the answer to
         * the device's own command: the server's versions alone */
        unsigned n = 0;
        cf = sync_frag_new(er);
        if (eas_enc_start(&cf->enc, EAS_AS_COMMANDS) != 0 ||
            sync_write_resends(&j, cf, &n, err) != 0 || eas_enc_end(&cf->enc) != 0) {
            return err->cond ? -1 : eas_out_err(err);
        }
        sent = (int)n;
    }
    if (sent == 0 && j.nresps == 0 && !j.wrote && cursor == j.st.cursor) {
        /* Nothing to say: the same key again (the state does not move). A successful Change
         * or Delete has no Response, so with GetChanges 0 only j.wrote tells that the store
         * moved: the key must advance then (MS-ASCMD SyncKey; activesync.md §3.3.3), or
         * the device's resend of this request would find the same key current and run its
         * commands again (issue 14: a resent Delete answered Status 8). */
        int bad = eas_enc_start(out, EAS_AS_COLLECTION);
        bad |= eas_enc_cstr(out, EAS_AS_SYNCKEY, key);
        bad |= eas_enc_cstr(out, EAS_AS_COLLECTIONID, id);
        bad |= eas_enc_uint(out, EAS_AS_STATUS, SYNC_OK);
        bad |= eas_enc_end(out);
        if (!bad && opts && !er->read_only) {
            bad = sync_save_state(&j, j.st.key_cur, j.st.key_prev, j.st.cursor,
                                  (struct slice){j.st.answer, j.st.answer_len}, err);
            return bad ? -1 : 0;
        }
        return bad ? eas_out_err(err) : 0;
    }
    *changed = true;
    const char *next = eas_key_next(er->arena, key);
    struct frag *f = sync_frag_new(er);
    int bad = eas_enc_start(&f->enc, EAS_AS_COLLECTION);
    bad |= eas_enc_cstr(&f->enc, EAS_AS_SYNCKEY, next);
    bad |= eas_enc_cstr(&f->enc, EAS_AS_COLLECTIONID, id);
    bad |= eas_enc_uint(&f->enc, EAS_AS_STATUS, SYNC_OK);
    if (more) {
        bad |= eas_enc_empty(&f->enc, EAS_AS_MOREAVAILABLE);
    }
    if (sent > 0) {
        bad |= sync_splice(&f->enc, sync_frag_bytes(cf));
    }
    bad |= sync_write_responses(&j, &f->enc);
    bad |= eas_enc_end(&f->enc);
    if (bad) {
        return eas_out_err(err);
    }
    struct slice frag = sync_frag_bytes(f);
    if (sync_save_state(&j, next, key, cursor, frag, err) != 0) {
        return -1;
    }
    return sync_splice(out, frag) ? eas_out_err(err) : 0;
}

/* ---------------------------------------------------------------------------------------- */
/* The request */

static int answer_global(struct eas_req *er, unsigned status, int64_t limit, struct err *err)
{
    if (eas_out_begin(er, err) != 0) {
        return -1;
    }
    int rc = eas_enc_start(&er->enc, EAS_AS_SYNC) | eas_enc_uint(&er->enc, EAS_AS_STATUS, status);
    if (limit >= 0) {
        rc |= eas_enc_uint(&er->enc, EAS_AS_LIMIT, (uint64_t)limit);
    }
    rc |= eas_enc_end(&er->enc);
    return rc ? eas_out_err(err) : eas_send(er, err);
}

/* Re-encodes `n` without its Commands (the request an empty Sync stands for). */
/* Encodes a request node without its Commands; with `no_keys`, SyncKeys are left empty. */
static int encode_node(struct eas_wbxml_enc *e, const struct eas_node *n, bool no_keys)
{
    if (n->tag == EAS_AS_COMMANDS) {
        return 0;
    }
    if (no_keys && n->tag == EAS_AS_SYNCKEY) {
        return eas_enc_empty(e, n->tag);
    }
    if (!n->child) {
        return n->text ? (n->opaque ? eas_enc_opaque(e, n->tag, n->text, n->len)
                                    : eas_enc_text(e, n->tag, n->text, n->len))
                       : eas_enc_empty(e, n->tag);
    }
    int rc = eas_enc_start(e, n->tag);
    for (const struct eas_node *c = n->child; c; c = c->next) {
        rc |= encode_node(e, c, no_keys);
    }
    return rc | eas_enc_end(e);
}

/* A stored request decoded into a tree in the request arena; NULL when it does not decode. */
static const struct eas_node *decode_request(struct eas_req *er, const void *p, size_t n)
{
    struct eas_wbxml_limits lim;
    eas_wbxml_limits_default(&lim);
    struct eas_tree *t = eas_tree_new(er->arena, NULL, NULL);
    struct eas_wbxml_dec *d = eas_wbxml_dec_new(er->arena, &lim, eas_tree_handler(), t);
    struct err ignored = {0};
    if (eas_wbxml_feed(d, p, n, &ignored) != 0 || eas_wbxml_finish(d, &ignored) != 0) {
        return NULL;
    }
    return eas_tree_root(t);
}

static const char SYNC_CACHE[] = "sync.request";

/* An empty Sync body: the device's last full request, from the store. */
static int cached_request(struct eas_req *er, const struct eas_node **root_out, struct err *err)
{
    const void *p;
    size_t n;
    if (eas_begin_read(er, err) != 0) {
        return -1;
    }
    enum store_rc rc = store_eas_blob_get(er->store, er->device.id, SYNC_CACHE, er->arena, &p, &n);
    store_rollback(er->store);
    if (rc == STORE_NOTFOUND) {
        *root_out = NULL;
        return 0;
    }
    if (rc != STORE_OK) {
        return eas_store_err(er, rc, err);
    }
    *root_out = decode_request(er, p, n);
    return 0;
}

/* Any change after the cursors the waiting Sync saw? (1 yes, 0 no, -1 error) */
static int poll_changed(struct eas_req *er, const struct sync_poll *p, struct err *err)
{
    if (eas_begin_read(er, err) != 0) {
        return -1;
    }
    int changed = 0;
    for (size_t i = 0; i < p->n && !changed; i++) {
        uint64_t n = 0;
        enum store_rc rc = store_changes_count(er->store, p->colls[i], p->cursors[i], 1, &n);
        if (rc != STORE_OK) {
            store_rollback(er->store);
            return eas_store_err(er, rc, err);
        }
        changed = n > 0;
    }
    store_rollback(er->store);
    return changed;
}

static int sync_run(struct eas_req *er, struct err *err);

int eas_cmd_sync(struct eas_req *er, struct err *err)
{
    er->poll = NULL;
    return sync_run(er, err);
}

int eas_cmd_sync_resumed(struct eas_req *er, struct err *err)
{
    struct sync_poll *p = er->poll;
    if (er->waiter.wake != EAS_WAKE_CHANGE || eas_now_ms() >= p->deadline_ms) {
        p->final = true;
    }
    p->n = 0;
    return sync_run(er, err);
}

/* The child `tag` of the request, or of the cached request when the request is Partial. */
static const struct eas_node *
param(const struct eas_node *root, const struct eas_node *cached, unsigned tag)
{
    const struct eas_node *n = eas_node_child(root, tag);
    return n || !cached ? n : eas_node_child(cached, tag);
}

static bool listed(const struct eas_node *const *list, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(eas_node_text(eas_node_child(list[i], EAS_AS_COLLECTIONID), ""), id) == 0) {
            return true;
        }
    }
    return false;
}

/* The collections of one Sync, as sync_run() read them. */
struct sync_pass {
    const struct eas_node *const *list;
    const bool *from_cache;
    size_t ncoll;
    unsigned window;
    struct add_preps *preps;
    const struct eas_node *const *keep; /* Wait, HeartbeatInterval, WindowSize (or NULL) */
    size_t nkeep;
};

/* The request to remember for a later empty Sync: the (merged) collections without their
 * Commands, and the global parameters. 0, or -1 when it does not fit (not remembered). */
static int encode_cache(const struct sync_pass *ps, bool no_keys, struct buf *cache)
{
    struct eas_wbxml_enc ce;
    int cbad = eas_enc_begin(&ce, cache) | eas_enc_start(&ce, EAS_AS_SYNC) |
               eas_enc_start(&ce, EAS_AS_COLLECTIONS);
    for (size_t i = 0; i < ps->ncoll; i++) {
        cbad |= encode_node(&ce, ps->list[i], no_keys);
    }
    cbad |= eas_enc_end(&ce);
    for (size_t i = 0; i < ps->nkeep; i++) {
        cbad |= ps->keep[i] ? encode_node(&ce, ps->keep[i], no_keys) : 0;
    }
    return (cbad | eas_enc_end(&ce) | eas_enc_finish(&ce)) == 0 ? 0 : -1;
}

/* The stored request, re-encoded without its SyncKeys into `out`: 0, or -1 when there is
 * none or it does not decode (*rc_out: the store's failure, else STORE_OK). */
static int stored_without_keys(struct eas_req *er, struct buf *out, enum store_rc *rc_out)
{
    const void *p;
    size_t n;
    *rc_out = store_eas_blob_get(er->store, er->device.id, SYNC_CACHE, er->arena, &p, &n);
    const struct eas_node *root = *rc_out == STORE_OK ? decode_request(er, p, n) : NULL;
    if (*rc_out == STORE_NOTFOUND) {
        *rc_out = STORE_OK;
    }
    if (!root) {
        return -1;
    }
    struct eas_wbxml_enc e;
    int bad = eas_enc_begin(&e, out) | encode_node(&e, root, true) | eas_enc_finish(&e);
    return bad ? -1 : 0;
}

/* Stores the request for a later empty Sync, inside the write transaction; in the read pass,
 * only compares it with the stored one and sets needs_write when they differ. */
static int remember_request(struct eas_req *er, const struct sync_pass *ps, struct err *err)
{
    struct buf cache, stored;
    buf_init(&cache, er->app->cfg.max_body);
    buf_init(&stored, er->app->cfg.max_body);
    enum store_rc rc = STORE_OK;
    if (encode_cache(ps, er->read_only, &cache) == 0) {
        if (er->read_only) {
            /* The keys aside: an empty Sync goes on from the server's own key of each
             * collection it has a state for (sync_collection), so a request that differs
             * from the stored one only by its keys need not be stored again. */
            if (stored_without_keys(er, &stored, &rc) != 0 || stored.len != cache.len ||
                memcmp(stored.data, cache.data, cache.len) != 0) {
                er->needs_write = rc == STORE_OK;
            }
        } else {
            rc = store_eas_blob_put(er->store, er->device.id, SYNC_CACHE, cache.data, cache.len);
        }
    }
    buf_deinit(&stored);
    buf_deinit(&cache);
    return rc == STORE_OK ? 0 : eas_store_err(er, rc, err);
}

/* One pass over the collections, in a read transaction (`read_only`) or a write one. 0 once
 * answered (or waiting), 1 when the read pass met something to write, -1 with `err` set. */
static int
sync_pass_run(struct eas_req *er, const struct sync_pass *ps, bool read_only, struct err *err)
{
    struct sync_poll *poll = er->poll;
    if (poll) {
        poll->n = 0;
    }
    er->read_only = read_only;
    er->needs_write = false;
    if (eas_out_begin(er, err) != 0 ||
        (read_only ? eas_begin_read(er, err) : eas_begin_write(er, err)) != 0) {
        return -1;
    }
    struct eas_wbxml_enc *e = &er->enc;
    int bad = eas_enc_start(e, EAS_AS_SYNC) | eas_enc_start(e, EAS_AS_COLLECTIONS);
    bool changed = false;
    for (size_t i = 0; i < ps->ncoll && !bad && !er->needs_write; i++) {
        if (sync_collection(er, ps->list[i], ps->from_cache[i], ps->window, ps->preps, e, &changed,
                            err) != 0) {
            store_rollback(er->store);
            return -1;
        }
    }
    bad |= eas_enc_end(e) | eas_enc_end(e);
    if (er->needs_write) {
        store_rollback(er->store);
        return 1;
    }
    if (bad) {
        store_rollback(er->store);
        return eas_out_err(err);
    }
    if (poll && !poll->final && !changed && poll->n > 0) {
        /* Nothing yet: wait for a write to one of these calendars, or the end of the wait.
         * Nothing of this pass is kept; the resumed pass does it all again. */
        store_rollback(er->store);
        er->waiter.colls = poll->colls;
        er->waiter.ncolls = poll->n;
        er->waiter.deadline_ms = poll->deadline_ms;
        eas_hub_wait(er);
        int c = poll_changed(er, poll, err);
        eas_store_release(er);
        if (c != 0) {
            eas_hub_fire(er); /* changed meanwhile (or an error): the resumed pass answers */
        }
        return 0;
    }
    if (er->root && remember_request(er, ps, err) != 0) {
        store_rollback(er->store);
        return -1;
    }
    if (er->needs_write) {
        store_rollback(er->store);
        return 1;
    }
    if (read_only) {
        store_rollback(er->store);
    } else if (eas_commit(er, err) != 0) {
        return -1;
    }
    return eas_send(er, err);
}

static int sync_run(struct eas_req *er, struct err *err)
{
    const struct eas_node *root = er->root, *cached = NULL;
    if (!root || eas_node_child(root, EAS_AS_PARTIAL)) {
        /* Empty: the last full request again. Partial: merged into it (MS-ASCMD 2.2.3.124). */
        if (cached_request(er, &cached, err) != 0) {
            return -1;
        }
        if (!cached) {
            return answer_global(er, SYNC_NO_CACHE, -1, err);
        }
        if (!root) {
            root = cached;
            cached = NULL;
        }
    }
    const struct eas_node *wait = param(root, cached, EAS_AS_WAIT);
    const struct eas_node *hb = param(root, cached, EAS_AS_HEARTBEATINTERVAL);
    if (eas_node_child(root, EAS_AS_WAIT) && eas_node_child(root, EAS_AS_HEARTBEATINTERVAL)) {
        return answer_global(er, SYNC_PROTOCOL, -1, err);
    }
    if (wait && hb) { /* one in the request, the other in the cache: the request's wins */
        if (eas_node_child(root, EAS_AS_WAIT)) {
            hb = NULL;
        } else {
            wait = NULL;
        }
    }
    uint64_t v;
    if (wait) {
        if (eas_node_uint(wait, UINT32_MAX, &v) != 0) {
            return answer_global(er, SYNC_PROTOCOL, -1, err);
        }
        unsigned lo = (er->app->cfg.ping_min + 59) / 60, hi = er->app->cfg.ping_max / 60;
        if (v < lo || v > hi) {
            return answer_global(er, SYNC_BAD_WAIT, v < lo ? lo : hi, err);
        }
    }
    if (hb) {
        if (eas_node_uint(hb, UINT32_MAX, &v) != 0) {
            return answer_global(er, SYNC_PROTOCOL, -1, err);
        }
        if (v < er->app->cfg.ping_min || v > er->app->cfg.ping_max) {
            return answer_global(
                er, SYNC_BAD_WAIT,
                v < er->app->cfg.ping_min ? er->app->cfg.ping_min : er->app->cfg.ping_max, err);
        }
    }
    const struct eas_node *list[MAX_COLLECTIONS + 1];
    bool from_cache[MAX_COLLECTIONS + 1];
    bool all_cached = root != er->root;
    size_t ncoll = 0;
    const struct eas_node *sources[2] = {eas_node_child(root, EAS_AS_COLLECTIONS),
                                         eas_node_child(cached, EAS_AS_COLLECTIONS)};
    for (size_t k = 0; k < 2; k++) {
        for (const struct eas_node *c = eas_node_child(sources[k], EAS_AS_COLLECTION); c;
             c = eas_node_next(c, EAS_AS_COLLECTION)) {
            const char *id = eas_node_text(eas_node_child(c, EAS_AS_COLLECTIONID), "");
            if (k == 1 && listed(list, ncoll, id)) {
                continue;
            }
            if (ncoll > MAX_COLLECTIONS) {
                return answer_global(er, SYNC_TOO_MANY, MAX_COLLECTIONS, err);
            }
            from_cache[ncoll] = all_cached || k == 1;
            list[ncoll++] = c;
        }
    }
    if (ncoll == 0) {
        return answer_global(er, SYNC_PROTOCOL, -1, err);
    }
    if (ncoll > MAX_COLLECTIONS) {
        return answer_global(er, SYNC_TOO_MANY, MAX_COLLECTIONS, err);
    }
    unsigned window = EAS_WINDOW_DEFAULT;
    const struct eas_node *ws = param(root, cached, EAS_AS_WINDOWSIZE);
    if (ws && eas_node_uint(ws, UINT32_MAX, &v) == 0) {
        window = v == 0 || v > EAS_WINDOW_MAX ? EAS_WINDOW_MAX : (unsigned)v;
    }
    int64_t wait_ms = 0;
    if (wait) {
        eas_node_uint(wait, UINT32_MAX, &v);
        wait_ms = (int64_t)v * 60000;
    } else if (hb) {
        eas_node_uint(hb, UINT32_MAX, &v);
        wait_ms = (int64_t)v * 1000;
    }
    if (wait_ms > 0 && !er->poll) {
        struct sync_poll *p = arena_zalloc(er->arena, sizeof(*p));
        p->deadline_ms = eas_now_ms() + wait_ms;
        er->poll = p;
    }
    /* the costly part of the client's Adds, before the write gate */
    struct add_preps preps;
    sync_prepare_adds(er, list, ncoll, &preps);
    const struct eas_node *keep[] = {wait, hb, ws};
    struct sync_pass pass = {list, from_cache, ncoll, window, &preps, keep, ALM_ARRAY_LEN(keep)};
    /* A Sync without client commands first runs in a read transaction, which answers it
     * when nothing is new (issue 16: no durable write then); the write pass runs only when
     * the read pass met something to write. */
    bool read_only = true;
    for (size_t i = 0; i < ncoll && read_only; i++) {
        read_only = !eas_node_child(list[i], EAS_AS_COMMANDS);
    }
    int rc = read_only ? sync_pass_run(er, &pass, true, err) : 1;
    if (rc == 1) {
        rc = sync_pass_run(er, &pass, false, err);
    }
    return rc;
}
