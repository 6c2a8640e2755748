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
#include <assert.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cal/cal.h"
#include "calstore/calstore.h"
#include "eas/eas_int.h"
#include "util/sec.h"

enum {
    SYNC_OK = 1,
    SYNC_BAD_KEY = 3,
    SYNC_PROTOCOL = 4,
    SYNC_SERVER = 5,
    SYNC_CONVERSION = 6,
    SYNC_CONFLICT = 7,
    SYNC_NOT_FOUND = 8,
    SYNC_HIERARCHY = 12,
    SYNC_NO_CACHE = 13,
    SYNC_BAD_WAIT = 14,
    SYNC_TOO_MANY = 15,
    MAX_COLLECTIONS = 100,   /* collections in one Sync */
    MAX_RESPONSES = 4096,    /* client commands per collection per request */
    OPTIONS_MAX = 256,       /* bytes of the sticky Options record */
    FRAGMENT_MAX = 16 << 20, /* bytes of one Collection's answer */
};

/* The sticky Options of a (device, collection), stored as "f=5 t=1 s=32768 c=1 g=HEX". */
struct sync_opts {
    unsigned filter; /* FilterType 0 (all), 4-7 */
    struct eas_bodypref body;
    unsigned conflict; /* 1 server wins (default), 0 client wins */
    uint32_t keep;     /* ghosting: bits kept from the stored item when a Change omits them */
};

static void opts_default(struct sync_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->conflict = 1;
    o->body.type = 1;
}

static int opts_load(const struct store_eas_sync *st, struct sync_opts *o)
{
    opts_default(o);
    if (st->options_len == 0 || st->options_len >= OPTIONS_MAX) {
        return 0;
    }
    char text[OPTIONS_MAX];
    memcpy(text, st->options, st->options_len);
    text[st->options_len] = '\0';
    unsigned long long trunc = 0;
    unsigned keep = 0;
    if (sscanf(text, "f=%u t=%u s=%llu c=%u g=%x", &o->filter, &o->body.type, &trunc, &o->conflict,
               &keep) != 5) {
        opts_default(o);
        return 0;
    }
    o->body.truncation = (size_t)trunc;
    o->keep = keep;
    return 0;
}

static const char *opts_text(struct arena *a, const struct sync_opts *o)
{
    return arena_printf(a, "f=%u t=%u s=%llu c=%u g=%x", o->filter, o->body.type,
                        (unsigned long long)o->body.truncation, o->conflict, (unsigned)o->keep);
}

/* Applies a request's Options element over `o`. Returns 0 or -1 (protocol error). */
static int opts_read(const struct eas_node *n, struct sync_opts *o)
{
    uint64_t v;
    const struct eas_node *f = eas_node_child(n, EAS_AS_FILTERTYPE);
    if (f) {
        if (eas_node_uint(f, 8, &v) != 0) {
            return -1;
        }
        o->filter = (unsigned)v;
    }
    const struct eas_node *c = eas_node_child(n, EAS_AS_CONFLICT);
    if (c) {
        if (eas_node_uint(c, 1, &v) != 0) {
            return -1;
        }
        o->conflict = (unsigned)v;
    }
    /* Several BodyPreferences may come; plain text wins when offered, else the first. */
    bool seen = false;
    for (const struct eas_node *b = eas_node_child(n, EAS_ASB_BODYPREFERENCE); b;
         b = eas_node_next(b, EAS_ASB_BODYPREFERENCE)) {
        uint64_t type = 1, trunc = 0;
        if (eas_node_child(b, EAS_ASB_TYPE) &&
            eas_node_uint(eas_node_child(b, EAS_ASB_TYPE), 4, &type) != 0) {
            return -1;
        }
        if (eas_node_child(b, EAS_ASB_TRUNCATIONSIZE) &&
            eas_node_uint(eas_node_child(b, EAS_ASB_TRUNCATIONSIZE), UINT32_MAX, &trunc) != 0) {
            return -1;
        }
        if (!seen || type == 1) {
            o->body.type = type == 2 ? 2 : 1;
            o->body.truncation = (size_t)trunc;
            seen = true;
        }
    }
    return 0;
}

/* FilterType -> the earliest end an item may have to be on the device (0 = no window). */
static int64_t filter_cutoff(unsigned filter)
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

/* ---------------------------------------------------------------------------------------- */
/* Fragments: one element encoded on its own, spliced into the answer. A fragment starts on
 * code page 0, so splicing switches the answer to page 0 first. */

struct frag {
    struct buf buf;
    struct eas_wbxml_enc enc;
};

static void frag_free(void *p)
{
    struct frag *f = p;
    buf_deinit(&f->buf);
}

static struct frag *frag_new(struct eas_req *er)
{
    struct frag *f = arena_zalloc(er->arena, sizeof(*f));
    buf_init(&f->buf, FRAGMENT_MAX);
    arena_defer(er->arena, frag_free, f);
    if (eas_enc_begin(&f->enc, &f->buf) != 0) {
        f->enc.failed = true;
    }
    return f;
}

enum {
    WBXML_HEADER = 4,
};

/* The fragment's bytes after the document header, with its final page in front. */
static struct slice frag_bytes(struct frag *f)
{
    f->buf.data[WBXML_HEADER - 1] = (char)f->enc.page;
    return (struct slice){f->buf.data + WBXML_HEADER - 1, f->buf.len - WBXML_HEADER + 1};
}

/* Appends stored fragment bytes (final page first) to the answer. */
static int splice(struct eas_wbxml_enc *e, struct slice stored)
{
    if (stored.len < 1) {
        return -1;
    }
    static const char page0[2] = {0x00, 0x00};
    int rc = 0;
    if (e->page != 0) {
        rc |= buf_append(e->out, page0, sizeof(page0));
    }
    rc |= buf_append(e->out, stored.ptr + 1, stored.len - 1);
    e->page = (unsigned char)stored.ptr[0];
    return rc;
}

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

enum resp_kind {
    RESP_ADD,
    RESP_CHANGE,
    RESP_DELETE,
    RESP_FETCH,
};

struct resp {
    enum resp_kind kind;
    const char *client_id;
    const char *server_id;
    unsigned status;
    uint64_t item;   /* Fetch: the item to send */
    const char *uid; /* Add in 16.x: the UID the server chose, sent back (MS-ASCMD ClientUid) */
};

struct add_preps;

struct coll_job {
    struct eas_req *er;
    struct store_coll coll;
    struct store_eas_sync st;
    struct sync_opts opts;
    struct resp *resps;
    size_t nresps;
    int64_t cutoff;
    bool wrote; /* a client command changed the store: the key must advance (§3.3.3) */
    struct add_preps *preps;
};

/* True when a command's failure is the store's (busy, failed) or a bug: the whole Sync then
 * fails and rolls back, instead of one item's Status. */
static bool store_failed(const struct err *e)
{
    return e->cond == &eas_cond_busy || e->cond == &eas_cond_store_failed ||
           e->cond == &err_cond_internal;
}

static unsigned item_status(const struct err *e)
{
    if (e->cond == &eas_cond_item_invalid || e->cond == &eas_cond_calmap_invalid ||
        e->cond == &cal_cond_valid_calendar_data || e->cond == &cal_cond_valid_object ||
        e->cond == &cal_cond_supported_component || e->cond == &eas_cond_store_limit) {
        return SYNC_CONVERSION;
    }
    return SYNC_SERVER;
}

static struct calstore_writer writer(struct coll_job *j)
{
    return (struct calstore_writer){
        .store = j->er->store, .arena = j->er->arena, .principal = j->er->principal.id};
}

/* A calstore refusal as the item's condition; the store's failures as eas_store_err. */
static int
cal_result(struct coll_job *j, enum calstore_rc rc, const struct calstore_res *res, struct err *err)
{
    switch (rc) {
    case CALSTORE_OK:
        return 0;
    case CALSTORE_INVALID:
    case CALSTORE_DENIED:
        return -1; /* err set */
    case CALSTORE_UID_CONFLICT:
        return err_set(err, &eas_cond_item_invalid, "UID %s is used by another item", res->uid);
    case CALSTORE_STORE:
        break;
    }
    return eas_store_err(j->er, res->store_rc, err);
}

/* Writes the prepared object `obj` as item `name` (NULL: a new name) of the collection,
 * through calstore. */
static int put_obj(struct coll_job *j,
                   const struct calstore_obj *obj,
                   const char *name,
                   struct store_item *out,
                   struct err *err)
{
    struct eas_req *er = j->er;
    /* a calendar made VTODO-only (RFC 4791 §5.2.3) takes no event: the item's Status 6 */
    if (j->coll.comps && !(j->coll.comps & CAL_COMP_VEVENT)) {
        return err_set(err, &cal_cond_supported_component, "this calendar does not take events");
    }
    if (!name) {
        uint8_t rnd[16];
        char hex[33];
        sec_random(rnd, sizeof(rnd));
        sec_hex(rnd, sizeof(rnd), hex);
        name = arena_printf(er->arena, "%s.ics", hex);
    }
    struct calstore_writer w = writer(j);
    struct calstore_res res;
    if (cal_result(j, calstore_put(&w, &j->coll, name, obj, &res, err), &res, err) != 0) {
        return -1;
    }
    *out = res.item;
    j->wrote = true;
    enum store_rc rc =
        store_eas_member_put(er->store, er->device.id, j->coll.id, out->id, out->modseq);
    return rc == STORE_OK ? 0 : eas_store_err(er, rc, err);
}

/* Validates `ics` and writes it as item `name` of the collection. A Change's object is made
 * from the stored one (ghosting, exceptions), so it is known, and validated, only inside
 * Sync's write transaction. */
static int put_ics(
    struct coll_job *j, struct slice ics, const char *name, struct store_item *out, struct err *err)
{
    struct calstore_obj obj; /* a refusal is calstore_put's, after the component check */
    (void)calstore_prepare(ics, "text/calendar; charset=utf-8", CAL_COMP_VEVENT, j->er->arena, &obj,
                           NULL);
    return put_obj(j, &obj, name, out, err);
}

static struct resp *add_resp(struct coll_job *j, enum resp_kind kind)
{
    if (j->nresps == MAX_RESPONSES) {
        return NULL;
    }
    struct resp *r = &j->resps[j->nresps++];
    memset(r, 0, sizeof(*r));
    r->kind = kind;
    r->status = SYNC_OK;
    return r;
}

/* The live item a client ServerId names in this collection: 0; 1 when there is none (the
 * item's Status 8); -1 with `fatal` set when the store failed (never Status 8: the device
 * would drop an item that exists). */
static int item_of(struct coll_job *j,
                   const char *server_id,
                   enum store_item_flags flags,
                   struct store_item *out,
                   struct err *fatal)
{
    uint64_t coll, id;
    if (!server_id || eas_item_parse(server_id, &coll, &id) != 0 || coll != j->coll.id) {
        return 1;
    }
    enum store_rc rc = store_item_get_by_id(j->er->store, coll, id, flags, j->er->arena, out);
    if (rc == STORE_NOTFOUND) {
        return 1;
    }
    return rc == STORE_OK ? 0 : eas_store_err(j->er, rc, fatal);
}

/* 16.x: the ClientUid a client Add carries (activesync.md §4.10), trailing NULs stripped
 * (iOS sends 32 hex digits and a NUL, as OPAQUE); NULL when absent, empty or not usable as
 * a UID. */
static const char *client_uid_of(struct eas_req *er, const struct eas_node *data)
{
    const struct eas_node *n = eas_node_child(data, EAS_CAL_CLIENTUID);
    if (er->version < 160 || !n || !n->text) {
        return NULL;
    }
    size_t len = n->len;
    while (len > 0 && n->text[len - 1] == '\0') {
        len--;
    }
    if (len == 0 || len > EAS_CALMAP_MAX_UID || memchr(n->text, '\0', len)) {
        return NULL;
    }
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)n->text[i] < 0x21 || n->text[i] == 0x7f) {
            return NULL;
        }
    }
    return arena_strndup(er->arena, n->text, len);
}

/* A client Add converted to iCalendar and validated (calstore_prepare) before Sync's write
 * transaction, so before the write gate: neither needs the store. client_add() finds it by its
 * command node. */
struct add_prep {
    const struct eas_node *cmd;
    int rc; /* 0: converted, obj holds calstore's verdict; -1: `cond` says why not */
    const struct err_cond *cond;
    const char *same; /* the UID a device re-adding an event sends (its UID, or ClientUid) */
    struct calstore_obj obj;
};

/* The prepared Adds of one Sync, in the order the commands come. */
struct add_preps {
    struct add_prep *v;
    size_t n;
    size_t next; /* commands are met in order: the search starts here */
};

static void prep_add(struct eas_req *er, const struct eas_node *cmd, struct add_prep *p)
{
    memset(p, 0, sizeof(*p));
    p->cmd = cmd;
    struct err e;
    err_init(&e);
    uint8_t rnd[16];
    char uid[33];
    sec_random(rnd, sizeof(rnd));
    sec_hex(rnd, sizeof(rnd), uid);
    const struct eas_node *data = eas_node_child(cmd, EAS_AS_APPLICATIONDATA);
    const char *client_uid = client_uid_of(er, data);
    struct eas_calmap_event ev;
    struct slice ics;
    if (eas_item_read(data, er->arena, &ev, &e) != 0 ||
        eas_calmap_to_ical(&ev, (struct slice){"", 0}, 0, client_uid ? client_uid : uid, er->arena,
                           &ics, &e) != 0) {
        p->rc = -1;
        p->cond = e.cond; /* all item_status() reads */
        return;
    }
    p->same = ev.uid ? ev.uid : client_uid;
    (void)calstore_prepare(ics, "text/calendar; charset=utf-8", CAL_COMP_VEVENT, er->arena, &p->obj,
                           NULL);
}

/* Converts and validates the Adds of every collection of the request (the first
 * MAX_RESPONSES commands of each, as client_commands answers no more), outside any
 * transaction. */
static void prepare_adds(struct eas_req *er,
                         const struct eas_node *const *list,
                         size_t ncoll,
                         struct add_preps *out)
{
    memset(out, 0, sizeof(*out));
    size_t n = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < ncoll; i++) {
            const struct eas_node *cmds = eas_node_child(list[i], EAS_AS_COMMANDS);
            size_t k = 0;
            for (const struct eas_node *c = cmds ? cmds->child : NULL; c && k < MAX_RESPONSES;
                 c = c->next, k++) {
                if (c->tag != EAS_AS_ADD) {
                    continue;
                }
                if (pass == 0) {
                    n++;
                } else {
                    prep_add(er, c, &out->v[out->n++]);
                }
            }
        }
        if (pass == 0) {
            if (n == 0) {
                return;
            }
            out->v = arena_alloc(er->arena, n * sizeof(*out->v));
        }
    }
}

static const struct add_prep *find_prep(struct add_preps *preps, const struct eas_node *cmd)
{
    for (size_t k = preps ? preps->next : 0; preps && k < preps->n; k++) {
        if (preps->v[k].cmd == cmd) {
            preps->next = k + 1;
            return &preps->v[k];
        }
    }
    return NULL;
}

static int client_add(struct coll_job *j, const struct eas_node *cmd, struct err *fatal)
{
    struct eas_req *er = j->er;
    struct resp *r = add_resp(j, RESP_ADD);
    if (!r) {
        return 0;
    }
    r->client_id = eas_node_text(eas_node_child(cmd, EAS_AS_CLIENTID), "");
    if (strlen(r->client_id) == 0 || strlen(r->client_id) > EAS_KEY_MAX) {
        r->status = SYNC_PROTOCOL;
        return 0;
    }
    struct add_prep own;
    const struct add_prep *p = find_prep(j->preps, cmd);
    assert(p); /* every Add client_commands answers was prepared */
    if (!p) {  /* a release build converts it here rather than fail */
        prep_add(er, cmd, &own);
        p = &own;
    }
    if (p->rc != 0) {
        struct err e = {.cond = p->cond};
        r->status = item_status(&e);
        return 0;
    }
    /* A UID the calendar holds already (in 16.x the ClientUid, the same on retries): the
     * device is re-adding an event it lost track of; answer with the stored item instead of
     * making a second copy. */
    struct store_item it;
    enum store_rc held = p->same
                             ? store_item_get_by_uid(er->store, j->coll.id, p->same, er->arena, &it)
                             : STORE_NOTFOUND;
    if (held == STORE_OK) {
        r->server_id = eas_item_id(er->arena, j->coll.id, it.id);
        r->uid = it.cal.uid;
        enum store_rc rc =
            store_eas_member_put(er->store, er->device.id, j->coll.id, it.id, it.modseq);
        return rc == STORE_OK ? 0 : eas_store_err(er, rc, fatal);
    }
    if (held != STORE_NOTFOUND) {
        return eas_store_err(er, held, fatal); /* else a lost lookup makes a second copy */
    }
    struct err e;
    err_init(&e);
    if (put_obj(j, &p->obj, NULL, &it, &e) != 0) {
        if (store_failed(&e)) {
            *fatal = e;
            return -1;
        }
        r->status = item_status(&e);
        return 0;
    }
    r->server_id = eas_item_id(er->arena, j->coll.id, it.id);
    r->uid = it.cal.uid;
    return 0;
}

static int client_change(struct coll_job *j, const struct eas_node *cmd, struct err *fatal)
{
    struct eas_req *er = j->er;
    const char *sid = eas_node_text(eas_node_child(cmd, EAS_AS_SERVERID), NULL);
    const char *instance = eas_node_text(eas_node_child(cmd, EAS_ASB_INSTANCEID), NULL);
    struct store_item it;
    struct err e;
    err_init(&e);
    unsigned status = SYNC_OK;
    uint64_t held = 0;
    int found = item_of(j, sid, STORE_ITEM_CONTENT, &it, fatal);
    enum store_rc mrc = STORE_NOTFOUND;
    if (found < 0) {
        return -1;
    }
    if (found == 0 && j->opts.conflict == 1) {
        mrc = store_eas_member_get(er->store, er->device.id, j->coll.id, it.id, &held);
        if (mrc != STORE_OK && mrc != STORE_NOTFOUND) {
            return eas_store_err(er, mrc, fatal); /* else the conflict goes unseen */
        }
    }
    if (found > 0) {
        status = SYNC_NOT_FOUND;
    } else if (mrc == STORE_OK && held < it.modseq) {
        status = SYNC_CONFLICT; /* server wins: the window sends the server's version */
    } else {
        struct eas_calmap_event ev;
        struct slice ics;
        struct slice old = {it.content, it.size};
        uint32_t keep = er->version >= 160 ? EAS_CALMAP_ALL : j->opts.keep;
        if (eas_item_body_truncated(eas_node_child(cmd, EAS_AS_APPLICATIONDATA))) {
            keep |= EAS_CALMAP_BODY;
        }
        int rc;
        if (instance && er->version >= 160) {
            struct eas_calmap_exception ex;
            memset(&ex, 0, sizeof(ex));
            rc = eas_item_read(eas_node_child(cmd, EAS_AS_APPLICATIONDATA), er->arena, &ev, &e);
            if (rc == 0) {
                ex.present = ev.present;
                ex.start_time = ev.start_time;
                ex.end_time = ev.end_time;
                ex.subject = ev.subject;
                ex.location = ev.location;
                ex.body = ev.body;
                ex.all_day = ev.all_day;
                ex.busy_status = ev.busy_status;
                ex.sensitivity = ev.sensitivity;
                ex.reminder = ev.reminder;
                ex.meeting_status = ev.meeting_status;
                ex.attendees = ev.attendees;
                ex.nattendees = ev.nattendees;
                ex.categories = ev.categories;
                ex.ncategories = ev.ncategories;
                rc = eas_calmap_apply_instance(old, instance, &ex, er->arena, &ics, &e);
            }
        } else {
            rc = eas_item_read(eas_node_child(cmd, EAS_AS_APPLICATIONDATA), er->arena, &ev, &e);
            if (rc == 0) {
                rc = eas_calmap_to_ical(&ev, old, keep, NULL, er->arena, &ics, &e);
            }
        }
        if (rc == 0) {
            rc = put_ics(j, ics, it.name, &it, &e);
        }
        if (rc != 0) {
            if (store_failed(&e)) {
                *fatal = e;
                return -1;
            }
            status = item_status(&e);
        }
    }
    if (status != SYNC_OK) { /* a Change is answered only when it failed */
        struct resp *r = add_resp(j, RESP_CHANGE);
        if (r) {
            r->server_id = sid ? sid : "";
            r->status = status;
        }
    }
    return 0;
}

static int client_delete(struct coll_job *j, const struct eas_node *cmd, struct err *fatal)
{
    struct eas_req *er = j->er;
    const char *sid = eas_node_text(eas_node_child(cmd, EAS_AS_SERVERID), NULL);
    const char *instance = eas_node_text(eas_node_child(cmd, EAS_ASB_INSTANCEID), NULL);
    struct store_item it;
    unsigned status = SYNC_OK;
    int found = item_of(j, sid, instance ? STORE_ITEM_CONTENT : STORE_ITEM_META, &it, fatal);
    if (found < 0) {
        return -1;
    }
    if (found > 0) {
        status = SYNC_NOT_FOUND;
    } else if (instance && er->version >= 160) {
        struct err e;
        err_init(&e);
        struct slice ics;
        if (eas_calmap_apply_instance((struct slice){it.content, it.size}, instance, NULL,
                                      er->arena, &ics, &e) != 0 ||
            put_ics(j, ics, it.name, &it, &e) != 0) {
            if (store_failed(&e)) {
                *fatal = e;
                return -1;
            }
            status = item_status(&e);
        }
    } else {
        struct calstore_writer w = writer(j);
        struct calstore_res res;
        if (cal_result(j, calstore_delete(&w, &j->coll, it.name, &res, fatal), &res, fatal) != 0) {
            return -1;
        }
        j->wrote = true;
        enum store_rc rc = store_eas_member_del(er->store, er->device.id, j->coll.id, it.id);
        if (rc != STORE_OK) {
            return eas_store_err(er, rc, fatal);
        }
    }
    if (status != SYNC_OK) {
        struct resp *r = add_resp(j, RESP_DELETE);
        if (r) {
            r->server_id = sid ? sid : "";
            r->status = status;
        }
    }
    return 0;
}

static int client_commands(struct coll_job *j, const struct eas_node *cmds, struct err *err)
{
    size_t n = 0;
    for (const struct eas_node *c = cmds ? cmds->child : NULL; c; c = c->next) {
        n++;
    }
    j->resps =
        arena_zalloc(j->er->arena, (n < MAX_RESPONSES ? n + 1 : MAX_RESPONSES) * sizeof(*j->resps));
    for (const struct eas_node *c = cmds ? cmds->child : NULL; c; c = c->next) {
        int rc = 0;
        switch (c->tag) {
        case EAS_AS_ADD:
            rc = client_add(j, c, err);
            break;
        case EAS_AS_CHANGE:
            rc = client_change(j, c, err);
            break;
        case EAS_AS_DELETE:
            rc = client_delete(j, c, err);
            break;
        case EAS_AS_FETCH: {
            struct resp *r = add_resp(j, RESP_FETCH);
            struct store_item it;
            if (r) {
                r->server_id = eas_node_text(eas_node_child(c, EAS_AS_SERVERID), "");
                rc = item_of(j, r->server_id, STORE_ITEM_META, &it, err);
                if (rc > 0) {
                    r->status = SYNC_NOT_FOUND;
                    rc = 0;
                } else if (rc == 0) {
                    r->item = it.id;
                }
            }
            break;
        }
        default:
            break;
        }
        if (rc != 0) {
            return -1;
        }
    }
    return 0;
}

/* Writes one item's ApplicationData (converted from the stored object). Returns 0, 1 when
 * the object cannot be shown as an EAS item (a VTODO, an object that no longer parses:
 * skipped), -1 on a failed write, or -2 with `fault` set when the item could not be read or
 * converted now (the store failed, request_time_budget ran out): the window must stop there,
 * for skipping it would move the device's cursor past an item it never got. */
static int
write_item_data(struct coll_job *j, struct eas_wbxml_enc *e, uint64_t id, struct err *fault)
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
    if (eas_calmap_from_ical((struct slice){it.content, it.size}, er->version, er->arena, &ev,
                             &ce) != 0) {
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

/* The window: time-driven SoftDeletes, then change rows after the cursor. */
static int build_window(struct coll_job *j,
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
            int w = write_item_data(j, e, id, &fault);
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

static int write_responses(struct coll_job *j, struct eas_wbxml_enc *e)
{
    if (j->nresps == 0) {
        return 0;
    }
    static const unsigned tags[] = {[RESP_ADD] = EAS_AS_ADD,
                                    [RESP_CHANGE] = EAS_AS_CHANGE,
                                    [RESP_DELETE] = EAS_AS_DELETE,
                                    [RESP_FETCH] = EAS_AS_FETCH};
    int rc = eas_enc_start(e, EAS_AS_RESPONSES);
    for (size_t i = 0; i < j->nresps; i++) {
        const struct resp *r = &j->resps[i];
        rc |= eas_enc_start(e, tags[r->kind]);
        if (r->kind == RESP_ADD) {
            rc |= eas_enc_cstr(e, EAS_AS_CLIENTID, r->client_id);
        }
        if (r->server_id) {
            rc |= eas_enc_cstr(e, EAS_AS_SERVERID, r->server_id);
        }
        if (r->kind == RESP_FETCH && r->status == SYNC_OK) {
            struct eas_enc_mark mark = eas_enc_mark(e);
            struct err fault;
            err_init(&fault);
            int w = write_item_data(j, e, r->item, &fault);
            if (w == 1 || w == -2) {
                /* a fault is the server's (retry), not an item that is not there */
                eas_enc_rewind(e, mark);
                rc |= eas_enc_uint(e, EAS_AS_STATUS, w == 1 ? SYNC_NOT_FOUND : SYNC_SERVER);
            } else {
                rc |= w;
                rc |= eas_enc_uint(e, EAS_AS_STATUS, SYNC_OK);
            }
        } else {
            rc |= eas_enc_uint(e, EAS_AS_STATUS, r->status);
        }
        if (r->kind == RESP_ADD && r->uid && j->er->version >= 160) {
            rc |= eas_enc_start(e, EAS_AS_APPLICATIONDATA);
            rc |= eas_enc_cstr(e, EAS_CAL_UID, r->uid);
            rc |= eas_enc_end(e);
        }
        rc |= eas_enc_end(e);
    }
    return rc | eas_enc_end(e);
}

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

static int save_state(struct coll_job *j,
                      const char *key,
                      const char *prev,
                      uint64_t cursor,
                      struct slice answer,
                      struct err *err)
{
    struct eas_req *er = j->er;
    const char *opts = opts_text(er->arena, &j->opts);
    struct store_eas_sync st = {
        .device = er->device.id,
        .coll = j->coll.id,
        .key_cur = key,
        .key_prev = prev,
        .cursor = cursor,
        .coll_epoch = j->coll.epoch,
        .options = opts,
        .options_len = strlen(opts),
        .answer = answer.ptr,
        .answer_len = answer.len,
        .updated = (int64_t)time(NULL),
    };
    enum store_rc rc = store_eas_sync_put(er->store, &st);
    return rc == STORE_OK ? 0 : eas_store_err(er, rc, err);
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
    int found = eas_calendar_of(er, id, &j.coll, err);
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
        rc = store_eas_sync_reset(er->store, er->device.id, j.coll.id);
        if (rc != STORE_OK) {
            return eas_store_err(er, rc, err);
        }
        opts_default(&j.opts);
        if (opts && opts_read(opts, &j.opts) != 0) {
            return write_status_only(out, key, id, SYNC_PROTOCOL) ? eas_out_err(err) : 0;
        }
        j.opts.keep = keep_of_supported(eas_node_child(c, EAS_AS_SUPPORTED));
        const char *first = eas_key_first(er->arena);
        struct frag *f = frag_new(er);
        int bad = eas_enc_start(&f->enc, EAS_AS_COLLECTION);
        bad |= eas_enc_cstr(&f->enc, EAS_AS_SYNCKEY, first);
        bad |= eas_enc_cstr(&f->enc, EAS_AS_COLLECTIONID, id);
        bad |= eas_enc_uint(&f->enc, EAS_AS_STATUS, SYNC_OK);
        bad |= eas_enc_end(&f->enc);
        if (bad) {
            return eas_out_err(err);
        }
        struct slice frag = frag_bytes(f);
        if (save_state(&j, first, NULL, 0, frag, err) != 0) {
            return -1;
        }
        return splice(out, frag) ? eas_out_err(err) : 0;
    }
    if (have && j.st.key_prev && strcmp(key, j.st.key_prev) == 0 && j.st.answer_len > 0) {
        /* Retransmission: the answer the device lost, again. */
        *changed = true;
        return splice(out, (struct slice){j.st.answer, j.st.answer_len}) ? eas_out_err(err) : 0;
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
    opts_load(&j.st, &j.opts);
    if (opts && opts_read(opts, &j.opts) != 0) {
        return write_status_only(out, key, id, SYNC_PROTOCOL) ? eas_out_err(err) : 0;
    }
    j.cutoff = filter_cutoff(j.opts.filter);
    if (client_commands(&j, cmds, err) != 0) {
        return -1;
    }
    bool get = true;
    if (gc && gc->len > 0 && eas_node_uint(gc, 1, &w) == 0 && w == 0) {
        get = false;
    }
    uint64_t cursor = j.st.cursor;
    bool more = false;
    struct frag *cf = NULL;
    int sent = 0;
    if (get) {
        cf = frag_new(er);
        sent = build_window(&j, window, cf, &more, &cursor, err);
        if (sent < 0) {
            return -1;
        }
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
        if (!bad && opts) {
            bad = save_state(&j, j.st.key_cur, j.st.key_prev, j.st.cursor,
                             (struct slice){j.st.answer, j.st.answer_len}, err);
            return bad ? -1 : 0;
        }
        return bad ? eas_out_err(err) : 0;
    }
    *changed = true;
    const char *next = eas_key_next(er->arena, key);
    struct frag *f = frag_new(er);
    int bad = eas_enc_start(&f->enc, EAS_AS_COLLECTION);
    bad |= eas_enc_cstr(&f->enc, EAS_AS_SYNCKEY, next);
    bad |= eas_enc_cstr(&f->enc, EAS_AS_COLLECTIONID, id);
    bad |= eas_enc_uint(&f->enc, EAS_AS_STATUS, SYNC_OK);
    if (more) {
        bad |= eas_enc_empty(&f->enc, EAS_AS_MOREAVAILABLE);
    }
    if (sent > 0) {
        bad |= splice(&f->enc, frag_bytes(cf));
    }
    bad |= write_responses(&j, &f->enc);
    bad |= eas_enc_end(&f->enc);
    if (bad) {
        return eas_out_err(err);
    }
    struct slice frag = frag_bytes(f);
    if (save_state(&j, next, key, cursor, frag, err) != 0) {
        return -1;
    }
    return splice(out, frag) ? eas_out_err(err) : 0;
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
static int encode_node(struct eas_wbxml_enc *e, const struct eas_node *n)
{
    if (n->tag == EAS_AS_COMMANDS) {
        return 0;
    }
    if (!n->child) {
        return n->text ? (n->opaque ? eas_enc_opaque(e, n->tag, n->text, n->len)
                                    : eas_enc_text(e, n->tag, n->text, n->len))
                       : eas_enc_empty(e, n->tag);
    }
    int rc = eas_enc_start(e, n->tag);
    for (const struct eas_node *c = n->child; c; c = c->next) {
        rc |= encode_node(e, c);
    }
    return rc | eas_enc_end(e);
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
    struct eas_wbxml_limits lim;
    eas_wbxml_limits_default(&lim);
    struct eas_tree *t = eas_tree_new(er->arena, NULL, NULL);
    struct eas_wbxml_dec *d = eas_wbxml_dec_new(er->arena, &lim, eas_tree_handler(), t);
    if (eas_wbxml_feed(d, p, n, err) != 0 || eas_wbxml_finish(d, err) != 0) {
        *root_out = NULL;
        return 0;
    }
    *root_out = eas_tree_root(t);
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
    struct sync_poll *poll = er->poll;
    /* the costly part of the client's Adds, before the write gate */
    struct add_preps preps;
    prepare_adds(er, list, ncoll, &preps);
    if (eas_out_begin(er, err) != 0 || eas_begin_write(er, err) != 0) {
        return -1;
    }
    struct eas_wbxml_enc *e = &er->enc;
    int bad = eas_enc_start(e, EAS_AS_SYNC) | eas_enc_start(e, EAS_AS_COLLECTIONS);
    bool changed = false;
    for (size_t i = 0; i < ncoll && !bad; i++) {
        if (sync_collection(er, list[i], from_cache[i], window, &preps, e, &changed, err) != 0) {
            store_rollback(er->store);
            return -1;
        }
    }
    bad |= eas_enc_end(e) | eas_enc_end(e);
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
    if (er->root) {
        /* Remember the (merged) request without its Commands for a later empty Sync. */
        struct buf cache;
        struct eas_wbxml_enc ce;
        buf_init(&cache, er->app->cfg.max_body);
        enum store_rc rc = STORE_OK;
        int cbad = eas_enc_begin(&ce, &cache) | eas_enc_start(&ce, EAS_AS_SYNC) |
                   eas_enc_start(&ce, EAS_AS_COLLECTIONS);
        for (size_t i = 0; i < ncoll; i++) {
            cbad |= encode_node(&ce, list[i]);
        }
        cbad |= eas_enc_end(&ce);
        const struct eas_node *keep[] = {wait, hb, ws};
        for (size_t i = 0; i < ALM_ARRAY_LEN(keep); i++) {
            cbad |= keep[i] ? encode_node(&ce, keep[i]) : 0;
        }
        if ((cbad | eas_enc_end(&ce) | eas_enc_finish(&ce)) == 0) {
            rc = store_eas_blob_put(er->store, er->device.id, SYNC_CACHE, cache.data, cache.len);
        }
        buf_deinit(&cache);
        if (rc != STORE_OK) {
            store_rollback(er->store);
            return eas_store_err(er, rc, err);
        }
    }
    if (eas_commit(er, err) != 0) {
        return -1;
    }
    return eas_send(er, err);
}
