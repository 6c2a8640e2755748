/* eas/sync_window.c: the server's side of a Sync collection (see cmd_sync.c): the window of
 * changes after the state's cursor, time-driven SoftDeletes of the FilterType, each item's
 * ApplicationData. */
#include <string.h>
#include <time.h>

#include "eas/eas_int.h"
#include "eas/sync_int.h"

/* FilterType -> the earliest end an item may have to be on the device (0 = no window). */
int64_t sync_filter_cutoff(unsigned filter)
{
    static const int64_t days[] = {[4] = 14, [5] = 31, [6] = 92, [7] = 183};
    if (filter < 4 || filter > 7) {
        return 0;
    }
    return (int64_t)time(NULL) - days[filter] * 86400;
}

static bool in_filter(const struct store_item *it, int64_t cutoff)
{
    return cutoff == 0 || !it->cal.has_span || it->cal.dtend_utc >= cutoff;
}

/* Writes one item's ApplicationData (converted from the stored object). Returns 0, 1 when
 * the object cannot be shown as an EAS item (a VTODO, an object that no longer parses:
 * skipped), -1 on a failed write, or -2 with `fault` set when the item could not be read or
 * converted now (the store failed, request_time_budget ran out): the window must stop there,
 * for skipping it would move the device's cursor past an item it never got. */
int sync_write_item_data(struct coll_job *j,
                         struct eas_wbxml_enc *e,
                         uint64_t id,
                         struct err *fault)
{
    struct eas_req *er = j->er;
    struct store_item it;
    enum store_rc src =
        store_item_get_by_id(er->store, j->coll.id, id, STORE_ITEM_CONTENT, er->arena, &it);
    if (src != STORE_OK) {
        eas_store_err(er, src == STORE_NOTFOUND ? STORE_IO : src, fault); /* in our snapshot */
        return -2;
    }
    struct eas_calmap_event ev;
    struct err ce;
    err_init(&ce);
    if (eas_item_from_ical(er, (struct slice){it.content, it.size}, &ev, &ce) != 0) {
        if (ce.cond == &err_cond_time_budget) {
            *fault = ce;
            return -2;
        }
        return 1;
    }
    int rc = eas_enc_start(e, EAS_AS_APPLICATIONDATA);
    rc |= eas_item_write(e, er->version, &j->opts.body, &ev);
    rc |= eas_enc_end(e);
    return rc ? -1 : 0;
}

int sync_write_resends(struct coll_job *j, struct frag *cmds, unsigned *sent, struct err *err)
{
    struct eas_req *er = j->er;
    struct eas_wbxml_enc *e = &cmds->enc;
    size_t start = cmds->buf.len;
    int bad = 0;
    /* Bounded like a window: a request that has more refused items than one window's bytes
     * hold corrects the rest when the device next starts over (docs/errors.md, ActiveSync on a
     * shared calendar). */
    for (size_t i = 0; i < j->nresends && !bad; i++) {
        if (cmds->buf.len - start >= er->app->cfg.max_window_bytes) {
            break;
        }
        const struct resend *r = &j->resends[i];
        struct arena_mark m = arena_mark(er->arena);
        struct eas_enc_mark mark = eas_enc_mark(e);
        bad |= eas_enc_start(e, r->add ? EAS_AS_ADD : EAS_AS_CHANGE);
        bad |= eas_enc_cstr(e, EAS_AS_SERVERID, eas_item_id(er->arena, j->coll.id, r->item));
        struct err fault;
        err_init(&fault);
        int w = sync_write_item_data(j, e, r->item, &fault);
        if (w == -2) {
            *err = fault;
            return -1;
        }
        if (w == 1) {
            eas_enc_rewind(e, mark); /* not an event EAS shows: the device never had it */
        } else {
            bad |= w | eas_enc_end(e);
            enum store_rc rc =
                store_eas_member_put(er->store, er->device.id, j->coll.id, r->item, r->modseq);
            if (rc != STORE_OK) {
                return eas_store_err(er, rc, err);
            }
            (*sent)++;
        }
        arena_rewind(er->arena, m);
    }
    return bad ? eas_out_err(err) : 0;
}

/* The window: refused items' server versions, time-driven SoftDeletes, then change rows after
 * the cursor. */
int sync_build_window(struct coll_job *j,
                      unsigned window,
                      struct frag *cmds,
                      bool *more,
                      uint64_t *cursor,
                      struct err *err)
{
    struct eas_req *er = j->er;
    struct eas_wbxml_enc *e = &cmds->enc;
    unsigned sent = 0;
    int bad = eas_enc_start(e, EAS_AS_COMMANDS);
    size_t empty_len = cmds->buf.len;
    enum store_rc rc;
    if (j->nresends > 0 && sync_write_resends(j, cmds, &sent, err) != 0) {
        return -1;
    }
    if (j->cutoff != 0) {
        struct store_cursor *aged = NULL;
        rc = store_eas_members_aged_open(er->store, er->device.id, j->coll.id, j->cutoff, window,
                                         &aged);
        if (rc != STORE_OK) {
            return eas_store_err(er, rc, err);
        }
        struct store_item it;
        uint64_t ids[EAS_WINDOW_MAX];
        size_t nids = 0;
        while (nids < window && store_cursor_next_item(aged, &it) == STORE_OK) {
            ids[nids++] = it.id;
        }
        store_cursor_close(&aged);
        for (size_t i = 0; i < nids; i++) {
            bad |= eas_enc_start(e, EAS_AS_SOFTDELETE);
            bad |= eas_enc_cstr(e, EAS_AS_SERVERID, eas_item_id(er->arena, j->coll.id, ids[i]));
            bad |= eas_enc_end(e);
            rc = store_eas_member_del(er->store, er->device.id, j->coll.id, ids[i]);
            if (rc != STORE_OK) {
                return eas_store_err(er, rc, err);
            }
            sent++;
        }
    }
    struct store_cursor *cur = NULL;
    rc = store_changes_open(er->store, j->coll.id, *cursor, &cur);
    if (rc != STORE_OK) {
        return eas_store_err(er, rc, err);
    }
    struct store_item row;
    *more = false;
    while ((rc = store_cursor_next_item(cur, &row)) == STORE_OK) {
        if (sent >= window || cmds->buf.len - empty_len >= er->app->cfg.max_window_bytes) {
            *more = true;
            break;
        }
        uint64_t id = row.id, modseq = row.modseq;
        bool tomb = row.is_tombstone, fits = !tomb && in_filter(&row, j->cutoff);
        *cursor = modseq;
        uint64_t held = 0;
        enum store_rc mrc = store_eas_member_get(er->store, er->device.id, j->coll.id, id, &held);
        if (mrc != STORE_OK && mrc != STORE_NOTFOUND) {
            store_cursor_close(&cur);
            return eas_store_err(er, mrc, err);
        }
        bool member = mrc == STORE_OK;
        struct arena_mark m = arena_mark(er->arena);
        const char *sid = eas_item_id(er->arena, j->coll.id, id);
        enum store_rc wrc = STORE_OK;
        if (tomb || !fits) {
            if (member) {
                bad |= eas_enc_start(e, tomb ? EAS_AS_DELETE : EAS_AS_SOFTDELETE);
                bad |= eas_enc_cstr(e, EAS_AS_SERVERID, sid);
                bad |= eas_enc_end(e);
                wrc = store_eas_member_del(er->store, er->device.id, j->coll.id, id);
                sent++;
            }
        } else if (!member || held < modseq) {
            struct eas_enc_mark mark = eas_enc_mark(e);
            bad |= eas_enc_start(e, member ? EAS_AS_CHANGE : EAS_AS_ADD);
            bad |= eas_enc_cstr(e, EAS_AS_SERVERID, sid);
            struct err fault;
            err_init(&fault);
            int w = sync_write_item_data(j, e, id, &fault);
            if (w == -2) {
                store_cursor_close(&cur);
                *err = fault;
                return -1;
            }
            if (w == 1) {
                /* Not an event EAS can show (a VTODO): leave it out entirely. */
                eas_enc_rewind(e, mark);
            } else {
                bad |= w;
                bad |= eas_enc_end(e);
                wrc = store_eas_member_put(er->store, er->device.id, j->coll.id, id, modseq);
                sent++;
            }
        }
        arena_rewind(er->arena, m);
        if (wrc != STORE_OK) {
            store_cursor_close(&cur);
            return eas_store_err(er, wrc, err);
        }
        if (bad) {
            break;
        }
    }
    store_cursor_close(&cur);
    if (rc != STORE_OK && rc != STORE_NOTFOUND) {
        return eas_store_err(er, rc, err);
    }
    bad |= eas_enc_end(e);
    if (bad) {
        return eas_out_err(err);
    }
    return (int)sent;
}
