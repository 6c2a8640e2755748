/* caldav/caldav.c: CalDAV's additions to the WebDAV core: live properties (RFC 4791 §5.2,
 * §6.2; RFC 6578 §4; CalendarServer's getctag), validation of calendar object resources on
 * PUT, MKCALENDAR and extended MKCOL, and the well-known redirect. Reports are in report.c.
 * Conditions: caldav_cond_supported_calendar_data (403), caldav_cond_no_uid_conflict (409),
 * caldav_cond_resource_must_be_null (405), caldav_cond_calendar_location (403), cal_cond_*
 * (cal_cond_supported_component also for a MKCALENDAR's supported-calendar-component-set). */
#include "caldav/caldav.h"

#include <string.h>
#include <strings.h>

#include "cal/cal.h"
#include "caldav/caldav_int.h"
#include "calstore/calstore.h"
#include "util/sec.h"
#include "xml/xmlin.h"
#include "xml/xmlout.h"

#define ERR_COND(sym, name, ns, http, eas) ERR_COND_DEFINE(sym, name, ns, http, eas)
#include "caldav/conds.def"
#undef ERR_COND

enum {
    ALL_COMPONENTS = CAL_COMP_VEVENT | CAL_COMP_VTODO | CAL_COMP_VJOURNAL
};

/* The component types a calendar may be restricted to (RFC 4791 §5.2.3), in the order
 * supported-calendar-component-set lists them. */
static const struct {
    const char *name;
    unsigned bit;
} comp_names[] = {
    {"VEVENT", CAL_COMP_VEVENT},
    {"VTODO", CAL_COMP_VTODO},
    {"VJOURNAL", CAL_COMP_VJOURNAL},
};

static bool is_calendar(const struct dav_res *r)
{
    return r->kind == DAV_RES_COLL && r->coll.kind == STORE_COLL_CALENDAR;
}

static int href_prop(struct buf *out, const char *href)
{
    int rc = buf_append_cstr(out, "<D:href>");
    rc |= xmlout_text(out, slice_from_cstr(href));
    rc |= buf_append_cstr(out, "</D:href>");
    return rc == 0 ? 0 : -1;
}

/* RFC 4791 §6.2.1 */
static int get_calendar_home_set(struct dav_req *dr, const struct dav_res *r, struct buf *out)
{
    if (r->kind != DAV_RES_PRINCIPAL || strcmp(r->user, dr->user) != 0) {
        return 1; /* an owner's principal, seen by a sharee: their home is not theirs to see */
    }
    return href_prop(out, dav_child_href(dr->arena, "/calendars/", dr->user, true));
}

/* RFC 4791 §5.2.3 */
static int get_supported_component_set(struct dav_req *dr, const struct dav_res *r, struct buf *out)
{
    (void)dr;
    if (!is_calendar(r)) {
        return 1;
    }
    unsigned comps = r->coll.comps ? r->coll.comps : ALL_COMPONENTS;
    int rc = 0;
    for (size_t i = 0; i < ALM_ARRAY_LEN(comp_names); i++) {
        if (comps & comp_names[i].bit) {
            rc |= buf_append_cstr(out, "<C:comp name=\"");
            rc |= buf_append_cstr(out, comp_names[i].name);
            rc |= buf_append_cstr(out, "\"/>");
        }
    }
    return rc == 0 ? 0 : -1;
}

/* RFC 4791 §5.2.4 */
static int get_supported_calendar_data(struct dav_req *dr, const struct dav_res *r, struct buf *out)
{
    (void)dr;
    if (!is_calendar(r)) {
        return 1;
    }
    return buf_append_cstr(out,
                           "<C:calendar-data content-type=\"text/calendar\" version=\"2.0\"/>") == 0
               ? 0
               : -1;
}

/* RFC 4791 §5.2.5 */
static int get_max_resource_size(struct dav_req *dr, const struct dav_res *r, struct buf *out)
{
    if (!is_calendar(r)) {
        return 1;
    }
    return buf_appendf(out, "%zu", dr->limits->max_resource_size) == 0 ? 0 : -1;
}

/* RFC 3253 §3.1.5; tsdav reads only <D:supported-report><D:report>…</D:report>. */
static int get_supported_report_set(struct dav_req *dr, const struct dav_res *r, struct buf *out)
{
    (void)dr;
    if (r->kind != DAV_RES_COLL) {
        return 1;
    }
    int rc = 0;
    if (is_calendar(r)) {
        rc |= buf_append_cstr(out, "<D:supported-report><D:report><C:calendar-query/></D:report>"
                                   "</D:supported-report><D:supported-report><D:report>"
                                   "<C:calendar-multiget/></D:report></D:supported-report>"
                                   "<D:supported-report><D:report><C:free-busy-query/></D:report>"
                                   "</D:supported-report>");
    }
    rc |= buf_append_cstr(out, "<D:supported-report><D:report><D:sync-collection/></D:report>"
                               "</D:supported-report>");
    return rc == 0 ? 0 : -1;
}

const char *caldav_sync_token(struct arena *a, const struct store_coll *c, uint64_t modseq)
{
    return arena_printf(a, CALDAV_TOKEN_PREFIX "%llu-%llu-%llu", (unsigned long long)c->id,
                        (unsigned long long)c->epoch, (unsigned long long)modseq);
}

/* RFC 6578 §4 */
static int get_sync_token(struct dav_req *dr, const struct dav_res *r, struct buf *out)
{
    if (r->kind != DAV_RES_COLL) {
        return 1;
    }
    return xmlout_text(out,
                       slice_from_cstr(caldav_sync_token(dr->arena, &r->coll, r->coll.modseq)));
}

/* CalendarServer's ctag: changes whenever the collection or a member changes. */
static int get_getctag(struct dav_req *dr, const struct dav_res *r, struct buf *out)
{
    if (r->kind != DAV_RES_COLL) {
        return 1;
    }
    const char *etag = dav_etag(dr->arena, &r->coll, r->coll.modseq);
    return xmlout_text(out, slice_from_cstr(etag)) == 0 ? 0 : -1;
}

/* RFC 4791 §9.6: the whole object (component selection and expand are not applied). */
static const struct caldav_req *caldav_req_if_any(const struct dav_req *dr);

static int get_calendar_data(struct dav_req *dr, const struct dav_res *r, struct buf *out)
{
    if (r->kind != DAV_RES_ITEM || !r->item.cal.uid) {
        return 1;
    }
    struct store_item full;
    if (store_item_get(dr->store, r->coll.id, r->item.name, STORE_ITEM_CONTENT, dr->arena, &full) !=
        STORE_OK) {
        return -1;
    }
    struct slice data = {full.content, full.size};
    /* not caldav_req(): a PROPFIND row would make the state in the row's part of the arena,
     * which the stream rewinds after the row, and the next row would read freed bytes */
    const struct caldav_req *c = caldav_req_if_any(dr);
    const struct caldav_data_opts *o = c ? c->data : NULL;
    struct err e;
    err_init(&e);
    if (o && o->expand && cal_expand(data, o->start, o->end, dr->arena, &data, &e) != 0) {
        return -1;
    }
    if (o && (o->select || (o->limit && !o->expand)) &&
        cal_select(data, o->select, o->limit && !o->expand, o->limit_start, o->limit_end, dr->arena,
                   &data, &e) != 0) {
        return -1;
    }
    return xmlout_text(out, data) == 0 ? 0 : -1;
}

static const struct dav_live_prop caldav_props[] = {
    {DAV_NS_CALDAV, "calendar-home-set", DAV_PROP_PROTECTED, get_calendar_home_set},
    {DAV_NS_CALDAV, "calendar-user-address-set", DAV_PROP_PROTECTED, caldav_get_user_address_set},
    {DAV_NS_CALDAV, "schedule-inbox-URL", DAV_PROP_PROTECTED, caldav_get_schedule_inbox_url},
    {DAV_NS_CALDAV, "schedule-outbox-URL", DAV_PROP_PROTECTED, caldav_get_schedule_outbox_url},
    {DAV_NS_CALDAV, "schedule-default-calendar-URL", DAV_PROP_PROTECTED,
     caldav_get_default_calendar_url},
    {DAV_NS_CALDAV, "schedule-tag", DAV_PROP_PROTECTED, caldav_get_schedule_tag},
    {DAV_NS_CALDAV, "supported-calendar-component-set", DAV_PROP_PROTECTED,
     get_supported_component_set},
    {DAV_NS_CALDAV, "supported-calendar-data", DAV_PROP_PROTECTED, get_supported_calendar_data},
    {DAV_NS_CALDAV, "max-resource-size", DAV_PROP_PROTECTED, get_max_resource_size},
    {DAV_NS_CALDAV, "calendar-data", DAV_PROP_PROTECTED | DAV_PROP_EXPENSIVE, get_calendar_data},
    {DAV_NS, "supported-report-set", DAV_PROP_PROTECTED, get_supported_report_set},
    {DAV_NS, "sync-token", DAV_PROP_PROTECTED, get_sync_token},
    {DAV_NS_CS, "getctag", DAV_PROP_PROTECTED, get_getctag},
    {DAV_NS_CS, "invite", DAV_PROP_PROTECTED, caldav_get_invite},
    {DAV_NS_CS, "allowed-sharing-modes", DAV_PROP_PROTECTED, caldav_get_allowed_sharing_modes},
    {DAV_NS_CS, "shared-url", DAV_PROP_PROTECTED, caldav_get_shared_url},
};

/* ---------------------------------------------------------------------------------------- */
/* PUT into a calendar (RFC 4791 §5.3.2) */

/* RFC 4791 §5.3.2.1: no-uid-conflict names the resource holding the UID, as DAV:href, when
 * the calendar's href is known; else the store's generic conflict. */
static int uid_conflict(struct dav_req *dr,
                        const char *coll_href,
                        const struct calstore_res *res,
                        struct err *err)
{
    if (!coll_href) {
        return dav_store_err(dr, STORE_CONFLICT, err);
    }
    const char *href = dav_child_href(dr->arena, coll_href, res->holder, false);
    err_set(err, &caldav_cond_no_uid_conflict, "UID is in use by %s", href);
    err->href = href;
    return -1;
}

/* A calstore result as the condition the client gets. */
static int cal_result(struct dav_req *dr,
                      enum calstore_rc rc,
                      const char *coll_href,
                      const struct calstore_res *res,
                      enum calstore_op op,
                      struct err *err)
{
    switch (rc) {
    case CALSTORE_OK:
        return 0;
    case CALSTORE_INVALID:
        return -1; /* err set */
    case CALSTORE_DENIED:
        if (err->cond != &calstore_cond_need_privileges) {
            return -1; /* scheduling's refusals (RFC 6638 preconditions): err set */
        }
        /* the core checked first (dav_check_write); this is calstore's own guard */
        return dav_need_privileges(dr, coll_href ? coll_href : http_req_path(dr->http),
                                   calstore_op_privilege(op), err);
    case CALSTORE_UID_CONFLICT:
        return uid_conflict(dr, coll_href, res, err);
    case CALSTORE_STORE:
        break;
    }
    return dav_store_err(dr, res->store_rc, err);
}

/* A calstore_op as the core names it (struct dav_ext check_write). */
static enum calstore_op calstore_op_of(enum dav_write_op op)
{
    switch (op) {
    case DAV_OP_PUT:
        return CALSTORE_OP_PUT;
    case DAV_OP_DELETE:
        return CALSTORE_OP_DELETE;
    case DAV_OP_COPY:
        return CALSTORE_OP_COPY;
    case DAV_OP_MOVE:
        return CALSTORE_OP_MOVE;
    case DAV_OP_ITEM_PROPS:
        return CALSTORE_OP_ITEM_PROPS;
    case DAV_OP_COLL_PROPS:
        return CALSTORE_OP_COLL_PROPS;
    case DAV_OP_COLL_CREATE:
        return CALSTORE_OP_COLL_CREATE;
    case DAV_OP_COLL_DELETE:
        break;
    }
    return CALSTORE_OP_COLL_DELETE;
}

static struct calstore_writer writer(struct dav_req *dr);

/* struct dav_ext check_write: the one access rule, calstore_check_write (issue 12). */
static int check_write(struct dav_req *dr,
                       const struct store_coll *coll,
                       enum dav_write_op op,
                       const char **privilege_out,
                       struct err *err)
{
    struct calstore_writer w = writer(dr);
    struct calstore_res res;
    memset(&res, 0, sizeof(res));
    struct err denied;
    err_init(&denied);
    enum calstore_op cop = calstore_op_of(op);
    enum calstore_rc rc = calstore_check_write(&w, cop, coll, &res, &denied);
    if (rc == CALSTORE_DENIED) {
        *privilege_out = calstore_op_privilege(cop);
        return 1;
    }
    if (rc == CALSTORE_STORE) {
        return dav_store_err(dr, res.store_rc, err);
    }
    return 0;
}

static struct calstore_writer writer(struct dav_req *dr)
{
    return (struct calstore_writer){
        .store = dr->store, .arena = dr->arena, .principal = dr->principal};
}

/* RFC 4791 §5.3.2.1: what a COPY or MOVE brings into a calendar must be a calendar object
 * resource (items of calendars were validated when written; others never were), and a
 * calendar holds no collection. */
static int accept_copy(struct dav_req *dr,
                       const struct dav_res *src,
                       const struct dav_res *target,
                       struct err *err)
{
    (void)dr;
    if (src->kind == DAV_RES_COLL) {
        return err_set(err, &caldav_cond_calendar_location, "no collections inside a calendar");
    }
    if (src->coll.kind != STORE_COLL_CALENDAR || !src->item.cal.uid) {
        return err_set(err, &caldav_cond_supported_calendar_data,
                       "a calendar takes calendar objects; %s is not one of a calendar", src->href);
    }
    if (target->coll.comps && !(src->item.cal.comp & target->coll.comps)) {
        return err_set(err, &cal_cond_supported_component,
                       "the target calendar does not take the component type of %s", src->href);
    }
    return 0;
}

static bool is_calendar_type(const char *ctype)
{
    struct slice ct = slice_from_cstr(ctype);
    return ctype && ct.len >= 13 &&
           slice_eq_ci((struct slice){ct.ptr, 13}, SLICE_LIT("text/calendar"));
}

/* Validates a text/calendar body before the write transaction (calstore_prepare, with every
 * component allowed: calstore_put checks the calendar's own set): the expansion of its
 * recurrences and time zones (bounded, but up to a good part of a second) then holds no
 * other writer. */
static void pre_put(struct dav_req *dr)
{
    const char *ctype = NULL;
    struct slice body = dav_req_put_body(dr, &ctype);
    if (!is_calendar_type(ctype)) {
        return;
    }
    struct calstore_obj *obj = arena_zalloc(dr->arena, sizeof(*obj));
    (void)calstore_prepare(body, NULL, ALL_COMPONENTS, dr->arena, obj, NULL);
    caldav_req(dr)->put = obj;
}

/* PUT into a calendar (RFC 4791 §5.3.2): the type, then calstore (validation, or pre_put's
 * verdict when made on this body; supported-calendar-component; no-uid-conflict). */
static int cal_put(struct dav_req *dr,
                   const struct dav_res *target,
                   const struct store_item_in *in,
                   struct store_item *out,
                   bool *created,
                   struct err *err)
{
    /* the type of the body as unwrapped (struct dav_ext unwrap_put), else as sent */
    const char *ctype = http_req_header(dr->http, "Content-Type") ? in->content_type : NULL;
    if (!is_calendar_type(ctype)) {
        return err_set(err, &caldav_cond_supported_calendar_data,
                       "a calendar takes text/calendar, not %s", ctype ? ctype : "no type");
    }
    struct calstore_obj fresh;
    const struct calstore_obj *obj = caldav_req(dr)->put;
    if (!calstore_prepared_on(obj, in->content, in->size)) {
        /* unwrapped, or not seen by pre_put: validated here, for the calendar's own set */
        unsigned allowed = target->coll.comps ? target->coll.comps : ALL_COMPONENTS;
        if (calstore_prepare((struct slice){in->content, in->size}, NULL, allowed, dr->arena,
                             &fresh, err) != 0) {
            return -1;
        }
        obj = &fresh;
    }
    struct calstore_obj put = *obj;
    put.content_type = in->content_type;
    if (caldav_schedule_tag_match(dr, &target->coll, target->name, err) != 0) {
        return -1;
    }
    struct calstore_writer w = writer(dr);
    struct calstore_res res;
    enum calstore_rc rc = calstore_put(&w, &target->coll, target->name, &put, &res, err);
    if (rc != CALSTORE_OK) {
        return cal_result(dr, rc, target->parent_href, &res, CALSTORE_OP_PUT, err);
    }
    *out = res.item;
    *created = res.created;
    dr->stored_differs = res.content_changed;
    if (res.schedule_tag) {
        http_resp_header(dr->http, "Schedule-Tag", res.schedule_tag); /* RFC 6638 §8.4 */
    }
    return 0;
}

static int
cal_delete(struct dav_req *dr, const struct store_coll *coll, const char *name, struct err *err)
{
    if (caldav_schedule_tag_match(dr, coll, name, err) != 0) {
        return -1;
    }
    struct calstore_writer w = writer(dr);
    struct calstore_res res;
    return cal_result(dr, calstore_delete(&w, coll, name, &res, err), NULL, &res,
                      CALSTORE_OP_DELETE, err);
}

static int cal_coll_delete(struct dav_req *dr, const struct store_coll *coll, struct err *err)
{
    struct calstore_writer w = writer(dr);
    struct calstore_res res;
    return cal_result(dr, calstore_coll_delete(&w, coll, &res, err), NULL, &res,
                      CALSTORE_OP_COLL_DELETE, err);
}

/* COPY and MOVE into, or MOVE out of, a calendar; RFC 4791 §5.3.2.1 applies no-uid-conflict
 * to both. */
static int cal_transfer(struct dav_req *dr,
                        bool move,
                        const struct store_coll *from,
                        const char *name,
                        const struct store_coll *to,
                        const char *to_name,
                        const char *to_href,
                        struct err *err)
{
    struct calstore_writer w = writer(dr);
    struct calstore_res res;
    enum calstore_rc rc = move ? calstore_move(&w, from, name, to, to_name, &res, err)
                               : calstore_copy(&w, from, name, to, to_name, &res, err);
    return cal_result(dr, rc, to_href, &res, move ? CALSTORE_OP_MOVE : CALSTORE_OP_COPY, err);
}

/* ---------------------------------------------------------------------------------------- */
/* MKCALENDAR (RFC 4791 §5.3.1) and extended MKCOL (RFC 5689) */

struct mk_state {
    struct dav_propupdate *pu;
    bool calendar; /* MKCALENDAR, or MKCOL whose resourcetype names C:calendar */
};

static bool xml_content_type(const char *ct)
{
    return ct && (strstr(ct, "/xml") || strstr(ct, "+xml"));
}

static int mkcalendar_begin(struct dav_req *dr, struct err *err)
{
    (void)err;
    struct mk_state *st = arena_zalloc(dr->arena, sizeof(*st));
    st->calendar = true;
    st->pu = dav_propupdate_begin(dr, DAV_NS_CALDAV, "mkcalendar", &dav_cond_bad_request);
    dr->mstate = st;
    return 0;
}

static int mkcol_begin(struct dav_req *dr, struct err *err)
{
    struct mk_state *st = arena_zalloc(dr->arena, sizeof(*st));
    dr->mstate = st;
    if (http_req_content_length(dr->http) > 0 || http_req_header(dr->http, "Transfer-Encoding")) {
        /* RFC 5689 needs an XML body; anything else is RFC 4918 §9.3's 415. */
        if (!xml_content_type(http_req_header(dr->http, "Content-Type"))) {
            return err_set(err, &dav_cond_unsupported_media, "MKCOL takes no body but RFC 5689's");
        }
        st->pu = dav_propupdate_begin(dr, DAV_NS, "mkcol", &dav_cond_unsupported_media);
    }
    return 0;
}

/* Reads a supported-calendar-component-set value (serialized XML, see dav/proppatch.c). */
struct comp_set_parse {
    unsigned depth;
    unsigned comps;
    const char *unknown; /* the first name not in comp_names, in the request arena */
    struct arena *arena;
};

static int comp_set_start(void *ctx,
                          struct slice ns,
                          struct slice name,
                          const struct xmlin_attr *attrs,
                          size_t nattrs,
                          struct err *err)
{
    (void)err;
    struct comp_set_parse *p = ctx;
    p->depth++;
    /* depth 1 is the wrapper; unknown elements are ignored (RFC 4918 §17) */
    if (p->depth != 2 || !slice_eq(ns, SLICE_LIT(DAV_NS_CALDAV)) ||
        !slice_eq(name, SLICE_LIT("comp"))) {
        return 0;
    }
    struct slice comp = {"", 0};
    for (size_t i = 0; i < nattrs; i++) {
        if (attrs[i].ns.len == 0 && slice_eq(attrs[i].name, SLICE_LIT("name"))) {
            comp = attrs[i].value;
        }
    }
    for (size_t i = 0; i < ALM_ARRAY_LEN(comp_names); i++) {
        if (slice_eq_ci(comp, slice_from_cstr(comp_names[i].name))) {
            p->comps |= comp_names[i].bit;
            return 0;
        }
    }
    if (!p->unknown) {
        p->unknown = arena_slicedup(p->arena, comp);
    }
    return 0;
}

static int comp_set_end(void *ctx, struct slice ns, struct slice name, struct err *err)
{
    (void)ns;
    (void)name;
    (void)err;
    struct comp_set_parse *p = ctx;
    p->depth--;
    return 0;
}

/* RFC 4791 §5.3.1.1: the component set a MKCALENDAR (or extended MKCOL) asks for, as
 * cal_comp bits in *comps_out. -1 with cal_cond_supported_component (403) when it names a
 * component other than VEVENT, VTODO and VJOURNAL, or none at all (the DTD wants comp+). */
static int
parse_comp_set(struct dav_req *dr, const char *value, unsigned *comps_out, struct err *err)
{
    struct comp_set_parse p = {.arena = dr->arena};
    static const struct xmlin_handler h = {.start = comp_set_start, .end = comp_set_end};
    /* the value was read within the body's limits; one wrapper element more */
    const struct xmlin_limits lim = {
        .max_bytes = dr->limits->xml_max_body + 16,
        .max_depth = dr->limits->xml_max_depth + 1,
        .max_elements = dr->limits->xml_max_elements + 1,
        .max_text = dr->limits->xml_max_text,
    };
    struct xmlin *r = xmlin_create(&lim, &h, &p);
    int rc = xmlin_feed(r, "<w>", 3, err);
    rc = rc == 0 ? xmlin_feed(r, value, strlen(value), err) : rc;
    rc = rc == 0 ? xmlin_feed(r, "</w>", 4, err) : rc;
    rc = rc == 0 ? xmlin_finish(r, err) : rc;
    xmlin_destroy(&r);
    if (rc != 0) {
        return -1;
    }
    if (p.unknown) {
        return err_set(err, &cal_cond_supported_component,
                       "supported-calendar-component-set names %s; this server stores VEVENT, "
                       "VTODO and VJOURNAL",
                       p.unknown);
    }
    if (!p.comps) {
        return err_set(err, &cal_cond_supported_component,
                       "supported-calendar-component-set names no component");
    }
    *comps_out = p.comps;
    return 0;
}

static int mk_run(struct dav_req *dr, struct err *err)
{
    struct mk_state *st = dr->mstate;
    unsigned comps = 0; /* no restriction */
    if (st->pu) {
        int body = dav_xml_finish(dr, err);
        if (body < 0) {
            return -1;
        }
        const char *rt = dav_propupdate_take(st->pu, DAV_NS, "resourcetype");
        if (rt && strstr(rt, "urn:ietf:params:xml:ns:caldav") && strstr(rt, ":calendar")) {
            st->calendar = true;
        }
        /* RFC 4791 §5.3.1 (and RFC 5689 §3): the set may be given at creation, though it
         * is protected afterwards (PROPPATCH still answers cannot-modify-protected-property) */
        const char *cs = st->calendar ? dav_propupdate_take(st->pu, DAV_NS_CALDAV,
                                                            "supported-calendar-component-set")
                                      : NULL;
        if (cs && parse_comp_set(dr, cs, &comps, err) != 0) {
            return -1;
        }
    }
    struct dav_res res;
    if (dav_begin_write(dr, err) != 0 || dav_resolve(dr, http_req_path(dr->http), &res, err)) {
        return -1;
    }
    if (res.kind != DAV_RES_NONE) {
        return err_set(err, &caldav_cond_resource_must_be_null, "a resource exists at this URL");
    }
    if (res.foreign) {
        return err_set(err, &dav_cond_not_found, "no such resource");
    }
    if (!res.in_home || !res.has_parent) {
        return err_set(err, res.in_home ? &dav_cond_conflict : &dav_cond_forbidden,
                       "the parent collection does not exist");
    }
    if (dav_check_write(dr, &res.coll, res.parent_href, DAV_OP_COLL_CREATE, err) != 0) {
        return -1; /* issue 12: only the owner makes collections, in a share too */
    }
    if (res.coll.kind == STORE_COLL_CALENDAR) {
        /* RFC 4791 §4.2: a calendar holds calendar object resources only. */
        return err_set(err, &caldav_cond_calendar_location, "no collections inside a calendar");
    }
    if (dav_if_check_target(dr, &res, err) != 0) {
        return -1;
    }
    struct store_coll made;
    enum store_rc rc =
        store_coll_create(dr->store, res.coll.id, res.name,
                          st->calendar ? STORE_COLL_CALENDAR : STORE_COLL_PLAIN, dr->arena, &made);
    if (rc == STORE_OK && comps) {
        rc = store_coll_set_comps(dr->store, made.id, comps);
        made.comps = comps;
    }
    if (rc != STORE_OK) {
        return dav_store_err(dr, rc, err);
    }
    if (st->pu) {
        struct dav_res created = res;
        created.kind = DAV_RES_COLL;
        created.coll = made;
        if (dav_propupdate_apply(dr, st->pu, &created, err) != 0) {
            return -1;
        }
    }
    if (dav_commit(dr, err) != 0) {
        return -1;
    }
    http_resp_status(dr->http, 201);
    http_resp_header(dr->http, "Location",
                     dav_child_href(dr->arena, res.parent_href, res.name, true));
    http_resp_header(dr->http, "Cache-Control", "no-cache");
    http_resp_body(dr->http, "", 0);
    return 0;
}

static const struct dav_method caldav_mkcalendar = {.begin = mkcalendar_begin, .run = mk_run};
static const struct dav_method caldav_mkcol = {.begin = mkcol_begin, .run = mk_run};

/* POST: a text/calendar body is a free-busy request for the schedule outbox (RFC 6638 §3.3,
 * sched.c, which refuses it anywhere else with 405); any other body is Apple's calendar
 * sharing (CS:share, CS:invite-reply; share.c, which takes XML only). */
static int post_begin(struct dav_req *dr, struct err *err)
{
    const char *ct = http_req_header(dr->http, "Content-Type");
    bool ical = ct && strncasecmp(ct, "text/calendar", strlen("text/calendar")) == 0;
    return dav_use_method(dr, ical ? &caldav_outbox_post : &caldav_share_post, err);
}

static int post_unreached(struct dav_req *dr, struct err *err)
{
    (void)dr;
    return err_set(err, &err_cond_internal, "POST ran without choosing its method");
}

const struct dav_method caldav_post = {.begin = post_begin, .run = post_unreached};

static const struct dav_ext ext = {
    .props = caldav_props,
    .nprops = ALM_ARRAY_LEN(caldav_props),
    .methods =
        {
            [HTTP_M_GET] = &caldav_get,
            [HTTP_M_HEAD] = &caldav_get,
            [HTTP_M_MKCALENDAR] = &caldav_mkcalendar,
            [HTTP_M_MKCOL] = &caldav_mkcol,
            [HTTP_M_REPORT] = &caldav_report,
            [HTTP_M_POST] = &caldav_post,
        },
    .pre_put = pre_put,
    .cal_put = cal_put,
    .cal_delete = cal_delete,
    .cal_coll_delete = cal_coll_delete,
    .cal_transfer = cal_transfer,
    .accept_copy = accept_copy,
    .check_write = check_write,
    .item_headers = caldav_item_headers,
    .resourcetype = caldav_resourcetype,
    .compliance =
        "calendar-access, calendar-auto-schedule, calendarserver-sharing", /* RFC 6638 §2 */
    .allow = "REPORT, MKCALENDAR, POST",
};

const struct dav_ext *caldav_ext(void)
{
    return &ext;
}

/* The request's state if a hook made it, else NULL (makes nothing). */
static const struct caldav_req *caldav_req_if_any(const struct dav_req *dr)
{
    return dav_ext_state(dr, &ext);
}

struct caldav_req *caldav_req(struct dav_req *dr)
{
    struct caldav_req *c = dav_ext_state(dr, &ext);
    if (!c) {
        c = arena_zalloc(dr->arena, sizeof(*c));
        dav_ext_set_state(dr, &ext, c);
    }
    return c;
}

/* ---------------------------------------------------------------------------------------- */
/* /.well-known/caldav (RFC 6764 §5) */

static int wellknown_end(void *app, struct http_request *req, struct err *err)
{
    (void)app;
    if (strcmp(http_req_path(req), "/.well-known/caldav") != 0 &&
        strcmp(http_req_path(req), "/.well-known/caldav/") != 0) {
        return err_set(err, &http_cond_not_found, "no such well-known service");
    }
    /* 301 keeps the method (client-quirks.md: never 302/303); host and port are kept. */
    http_resp_status(req, 301);
    http_resp_header(req, "Location",
                     arena_printf(http_req_arena(req), "%s/", http_req_origin(req)));
    http_resp_body(req, "", 0);
    return 0;
}

static void wellknown_error(void *app, struct http_request *req, const struct err *e)
{
    (void)app;
    const char *text = arena_printf(http_req_arena(req), "%s: %s\n", e->cond->name, e->msg);
    http_resp_header(req, "Content-Type", "text/plain; charset=utf-8");
    http_resp_body(req, text, strlen(text));
}

struct http_route caldav_wellknown_route(void)
{
    struct http_route r = {
        .prefix = "/.well-known/",
        .end = wellknown_end,
        .render_error = wellknown_error,
    };
    return r;
}
