/* calstore/import.c: see import.h. Every object is prepared (calstore_prepare) outside the
 * transaction and written by calstore_put, so an import passes the access check and the
 * write hooks as any protocol's write does. Conditions: cal_cond_valid_calendar_data (not a
 * file), calstore_cond_need_privileges (a calendar the principal may not write),
 * err_cond_unavailable (the store busy or failed: a 503 a client retries, issue 14),
 * err_cond_store_unavailable (its database cannot be reached). */
#include "calstore/import.h"

#include <stdlib.h>
#include <string.h>

#include "cal/cal.h"
#include "cal/ics.h"
#include "calstore/calstore.h"
#include "util/arena.h"
#include "util/sec.h"

enum {
    IMPORT_NAME_UID_MAX = 200, /* a UID this long or shorter names its item */
    IMPORT_DEFAULT_MAX_OBJECT = 10 * 1024 * 1024,
    ALL_COMPS = CAL_COMP_VEVENT | CAL_COMP_VTODO | CAL_COMP_VJOURNAL,
};

static const char content_type[] = "text/calendar; charset=utf-8";

/* The name for a UID that cannot be its own: the hex of its hash (the same UID always gets
 * the same name). */
static const char *hashed_name(struct arena *a, const char *uid)
{
    uint8_t h[32];
    char hex[2 * 16 + 1];
    sec_hash(NULL, 0, uid, strlen(uid), h);
    sec_hex(h, 16, hex);
    return arena_printf(a, "%s.ics", hex);
}

/* The item name for `uid`: the UID itself when it is a short run of characters safe in a
 * URL segment, else hashed_name(). */
static const char *item_name(struct arena *a, const char *uid)
{
    size_t n = strlen(uid);
    bool plain = n > 0 && n <= IMPORT_NAME_UID_MAX && uid[0] != '.';
    for (size_t i = 0; plain && i < n; i++) {
        char c = uid[i];
        plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '.' || c == '_' || c == '-' || c == '@';
    }
    return plain ? arena_printf(a, "%s.ics", uid) : hashed_name(a, uid);
}

struct pending {
    const char *uid;
    size_t line;
    struct calstore_obj obj; /* prepared on a copy of the object, in the batch arena */
};

static int store_failed(struct store *s, enum store_rc rc, struct err *err)
{
    if (rc == STORE_BUSY) {
        return err_set(err, &err_cond_unavailable, "the store is busy: %s", store_last_error(s));
    }
    if (rc == STORE_UNAVAILABLE) {
        return err_set(err, &err_cond_store_unavailable,
                       "the store's database cannot be reached: %s", store_last_error(s));
    }
    return err_set(err, &err_cond_unavailable, "the store failed: %s", store_last_error(s));
}

/* Writes the prepared batch in one transaction; on a store failure nothing of it is
 * written. An object calstore_put refuses (a UID another item holds under a name the UID does
 * not give) is reported through refuse() and the rest goes on. */
static void refuse(const struct calstore_import_opts *o,
                   struct calstore_import_result *res,
                   size_t line,
                   const char *uid,
                   const char *why);

static int write_batch(const struct calstore_writer *w,
                       const struct store_coll *coll,
                       struct pending *p,
                       size_t n,
                       const struct calstore_import_opts *opts,
                       struct calstore_import_result *res,
                       struct err *err)
{
    struct store *s = w->store;
    struct arena *a = w->arena;
    size_t added = 0, replaced = 0, unchanged = 0;
    enum store_rc rc = store_begin_write(s);
    for (size_t i = 0; i < n && rc == STORE_OK; i++) {
        struct store_item old;
        const char *name = NULL;
        rc = store_item_get_by_uid(s, coll->id, p[i].uid, a, &old);
        if (rc == STORE_OK && old.size == p[i].obj.size) {
            /* the same bytes again: nothing to write */
            struct store_item full;
            rc = store_item_get(s, coll->id, old.name, STORE_ITEM_CONTENT, a, &full);
            if (rc == STORE_OK && memcmp(full.content, p[i].obj.content, p[i].obj.size) == 0) {
                unchanged++;
                continue;
            }
        }
        if (rc == STORE_OK) {
            name = old.name;
        } else if (rc == STORE_NOTFOUND) {
            name = item_name(a, p[i].uid);
            rc = STORE_OK;
        }
        if (rc != STORE_OK) {
            break;
        }
        struct calstore_res cr;
        struct err perr;
        err_init(&perr);
        enum calstore_rc crc = calstore_put(w, coll, name, &p[i].obj, &cr, &perr);
        if (crc == CALSTORE_STORE && cr.store_rc == STORE_EXISTS) {
            /* a collection has the name the UID gives: the hashed one then */
            err_init(&perr);
            crc = calstore_put(w, coll, hashed_name(a, p[i].uid), &p[i].obj, &cr, &perr);
        }
        switch (crc) {
        case CALSTORE_OK:
            added += cr.created;
            replaced += !cr.created;
            break;
        case CALSTORE_STORE:
            rc = cr.store_rc;
            break;
        case CALSTORE_UID_CONFLICT:
            refuse(opts, res, p[i].line, p[i].uid, "another item holds the UID");
            break;
        case CALSTORE_INVALID:
        case CALSTORE_DENIED:
            if (crc == CALSTORE_DENIED) {
                err_set(err, perr.cond, "%s", perr.msg);
                rc = STORE_CONFLICT; /* nothing of this calendar may be written */
                break;
            }
            refuse(opts, res, p[i].line, p[i].uid, perr.msg);
            break;
        }
    }
    if (rc == STORE_OK) {
        rc = store_commit(s);
    }
    if (rc != STORE_OK) {
        if (!err->cond) {
            store_failed(s, rc, err);
        }
        store_rollback(s);
        return -1;
    }
    res->added += added;
    res->replaced += replaced;
    res->unchanged += unchanged;
    return 0;
}

static void refuse(const struct calstore_import_opts *o,
                   struct calstore_import_result *res,
                   size_t line,
                   const char *uid,
                   const char *why)
{
    res->refused++;
    if (o->refused) {
        o->refused(o->ctx, line, uid, why);
    }
}

int calstore_import(struct store *s,
                    uint64_t coll_id,
                    struct slice file,
                    const struct calstore_import_opts *opts,
                    struct calstore_import_result *res,
                    struct err *err)
{
    memset(res, 0, sizeof(*res));
    size_t max_object = opts->max_object ? opts->max_object : IMPORT_DEFAULT_MAX_OBJECT;
    struct cal_split *sp = NULL;
    if (cal_split_open(file, &sp, err) != 0) {
        return -1;
    }
    struct arena *a = arena_create();
    struct store_coll coll;
    enum store_rc rc = store_begin_read(s);
    if (rc == STORE_OK) {
        rc = store_coll_get(s, coll_id, a, &coll);
    }
    store_rollback(s);
    if (rc != STORE_OK) {
        cal_split_free(&sp);
        arena_destroy(&a);
        return store_failed(s, rc, err);
    }
    unsigned allowed = coll.comps ? coll.comps : ALL_COMPS;
    /* an import restores objects, it sends nothing: no scheduling (docs/scheduling.md) */
    struct calstore_writer w = {
        .store = s, .principal = opts->principal ? opts->principal : coll.owner, .no_sched = true};
    res->total = cal_split_objects(sp);
    struct pending *batch = calloc(CALSTORE_IMPORT_BATCH, sizeof(*batch));
    if (batch == NULL) {
        abort(); /* limits, not malloc, bound memory (util/buf.h) */
    }
    size_t nb = 0, done = 0;
    int status = 0;
    struct cal_split_obj o;
    bool more = true;
    while (more && status == 0) {
        more = cal_split_next(sp, &o);
        if (more) {
            done++;
            struct err verr;
            err_init(&verr);
            struct pending *p = &batch[nb];
            if (o.why) {
                refuse(opts, res, o.line, o.uid, o.why);
            } else if (o.ics.len > max_object) {
                refuse(opts, res, o.line, o.uid, "larger than max_resource_size");
            } else if (calstore_prepare(
                           (struct slice){arena_memdup(a, o.ics.ptr, o.ics.len), o.ics.len},
                           content_type, allowed, a, &p->obj, &verr) != 0) {
                refuse(opts, res, o.line, o.uid, verr.msg);
            } else {
                p->uid = arena_strdup(a, o.uid);
                p->line = o.line;
                nb++;
            }
        }
        if (nb == CALSTORE_IMPORT_BATCH || (!more && nb > 0)) {
            w.arena = a;
            status = write_batch(&w, &coll, batch, nb, opts, res, err);
            nb = 0;
            arena_destroy(&a);
            a = arena_create();
        }
        if (opts->progress) {
            opts->progress(opts->ctx, done, res->total);
        }
    }
    free(batch);
    arena_destroy(&a);
    cal_split_free(&sp);
    return status;
}
