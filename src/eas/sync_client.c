/* eas/sync_client.c: the client's commands of a Sync collection (see cmd_sync.c): Add
 * (converted and validated before the write transaction), Change, Delete and Fetch, through
 * calstore, and the Responses they are answered with. */
#include <assert.h>
#include <string.h>

#include "cal/cal.h"
#include "calstore/calstore.h"
#include "eas/eas_int.h"
#include "eas/sync_int.h"
#include "util/sec.h"

/* True when a command's failure is the store's (busy, failed) or a bug: the whole Sync then
 * fails and rolls back, instead of one item's Status. */
static bool store_failed(const struct err *e)
{
    return e->cond == &eas_cond_busy || e->cond == &eas_cond_store_failed ||
           e->cond == &err_cond_store_unavailable || e->cond == &err_cond_internal;
}

static unsigned item_status(const struct err *e)
{
    if (e->cond == &calstore_cond_need_privileges) {
        return SYNC_CONVERSION; /* see client_add: refused for good, not to be retried */
    }
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

/* A client Change or Delete of `it` refused because the user may not write the calendar:
 * Status 7, which MS-ASCMD defines as "the object the client sent was discarded, the server's
 * replaces it" (Conflict, 2.2.3.34), and the server's version goes back to the device in this
 * same answer (struct resend), so the device's copy is the store's again. */
static unsigned refuse_write(struct coll_job *j, const struct store_item *it, bool add)
{
    if (j->nresends < MAX_RESPONSES) {
        struct resend *r = &j->resends[j->nresends++];
        r->item = it->id;
        r->modseq = it->modseq;
        r->add = add;
    }
    return SYNC_CONFLICT;
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
    int rc = eas_item_read(data, er->arena, &ev, &e);
    if (rc == 0 && ev.nattendees && !(ev.present & EAS_CALMAP_ORGANIZER) && er->nemails) {
        /* a meeting made on the phone (the client sends Attendees, the server knows who
         * organizes): the user, by their first address, so that it schedules */
        ev.organizer_email = er->emails[0];
        ev.present |= EAS_CALMAP_ORGANIZER;
    }
    if (rc != 0 || eas_calmap_to_ical(&ev, (struct slice){"", 0}, 0, client_uid ? client_uid : uid,
                                      er->arena, &ics, &e) != 0) {
        p->rc = -1;
        p->cond = e.cond; /* all item_status() reads */
        return;
    }
    p->same = ev.uid ? ev.uid : client_uid;
    (void)calstore_prepare(ics, "text/calendar; charset=utf-8", CAL_COMP_VEVENT, er->arena, &p->obj,
                           NULL);
}

/* Converts and validates the Adds of every collection of the request (the first
 * MAX_RESPONSES commands of each, as sync_client_commands answers no more), outside any
 * transaction. */
void sync_prepare_adds(struct eas_req *er,
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
    if (!calstore_access_allows(j->access, CALSTORE_OP_PUT)) {
        /* A calendar shared read-only (issue 12). MS-ASCMD's Sync statuses have no "access
         * denied"; 6 is the one whose resolution is "stop sending the item, not a transient
         * condition": the device keeps its event to itself and does not retry it forever as
         * it would a 5 (docs/errors.md). It has no ServerId, so nothing can take it back. */
        r->status = SYNC_CONVERSION;
        return 0;
    }
    struct add_prep own;
    const struct add_prep *p = find_prep(j->preps, cmd);
    assert(p); /* every Add sync_client_commands answers was prepared */
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
    } else if (!calstore_access_allows(j->access, CALSTORE_OP_PUT)) {
        status = refuse_write(j, &it, false); /* read-only: the device gets the item back */
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
    } else if (!calstore_access_allows(j->access, CALSTORE_OP_DELETE)) {
        /* read-only: an occurrence's delete changed the series (a Change back), a whole
         * delete removed the device's copy (an Add back, under the same ServerId) */
        status = refuse_write(j, &it, !(instance && er->version >= 160));
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

int sync_client_commands(struct coll_job *j, const struct eas_node *cmds, struct err *err)
{
    size_t n = 0;
    for (const struct eas_node *c = cmds ? cmds->child : NULL; c; c = c->next) {
        n++;
    }
    size_t cap = n < MAX_RESPONSES ? n + 1 : MAX_RESPONSES;
    j->resps = arena_zalloc(j->er->arena, cap * sizeof(*j->resps));
    j->nresends = 0;
    if (!calstore_access_allows(j->access, CALSTORE_OP_PUT)) {
        j->resends = arena_zalloc(j->er->arena, cap * sizeof(*j->resends));
    }
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

int sync_write_responses(struct coll_job *j, struct eas_wbxml_enc *e)
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
            int w = sync_write_item_data(j, e, r->item, &fault);
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
