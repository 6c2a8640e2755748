/* caldav/caldav.c: CalDAV's additions to the WebDAV core: live properties (RFC 4791 §5.2,
 * §6.2; RFC 6578 §4; CalendarServer's getctag), validation of calendar object resources on
 * PUT, MKCALENDAR and extended MKCOL, and the well-known redirect. Reports are in report.c.
 * Conditions: caldav_cond_supported_calendar_data (403), caldav_cond_no_uid_conflict (409),
 * caldav_cond_resource_must_be_null (405), caldav_cond_calendar_location (403), cal_cond_*
 * (cal_cond_supported_component also for a MKCALENDAR's supported-calendar-component-set). */
#include "caldav/caldav.h"

#include <string.h>

#include "cal/cal.h"
#include "caldav/caldav_int.h"
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
    if (r->kind != DAV_RES_PRINCIPAL) {
        return 1;
    }
    return href_prop(out, dav_child_href(dr->arena, "/calendars/", dr->user, true));
}

/* RFC 6638 §2.4.1: no scheduling, so the principal's own URL is its address. */
static int
get_calendar_user_address_set(struct dav_req *dr, const struct dav_res *r, struct buf *out)
{
    if (r->kind != DAV_RES_PRINCIPAL) {
        return 1;
    }
    return href_prop(out, dav_child_href(dr->arena, "/principals/", dr->user, true));
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
    return buf_appendf(out, "%zu", dr->app->limits.max_resource_size) == 0 ? 0 : -1;
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
static int get_calendar_data(struct dav_req *dr, const struct dav_res *r, struct buf *out)
{
    if (r->kind != DAV_RES_ITEM || !r->item.uid) {
        return 1;
    }
    struct store_item full;
    if (store_item_get(dr->store, r->coll.id, r->item.name, STORE_ITEM_CONTENT, dr->arena, &full) !=
        STORE_OK) {
        return -1;
    }
    struct slice data = {full.content, full.size};
    const struct caldav_data_opts *o = dr->ext_req;
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
    {DAV_NS_CALDAV, "calendar-user-address-set", DAV_PROP_PROTECTED, get_calendar_user_address_set},
    {DAV_NS_CALDAV, "supported-calendar-component-set", DAV_PROP_PROTECTED,
     get_supported_component_set},
    {DAV_NS_CALDAV, "supported-calendar-data", DAV_PROP_PROTECTED, get_supported_calendar_data},
    {DAV_NS_CALDAV, "max-resource-size", DAV_PROP_PROTECTED, get_max_resource_size},
    {DAV_NS_CALDAV, "calendar-data", DAV_PROP_PROTECTED | DAV_PROP_EXPENSIVE, get_calendar_data},
    {DAV_NS, "supported-report-set", DAV_PROP_PROTECTED, get_supported_report_set},
    {DAV_NS, "sync-token", DAV_PROP_PROTECTED, get_sync_token},
    {DAV_NS_CS, "getctag", DAV_PROP_PROTECTED, get_getctag},
};

/* ---------------------------------------------------------------------------------------- */
/* PUT into a calendar (RFC 4791 §5.3.2) */

/* STORE_CONFLICT with err set to no-uid-conflict when an item of target's collection other
 * than target has `uid`; STORE_OK when none has. */
static enum store_rc
uid_clash(struct dav_req *dr, const struct dav_res *target, const char *uid, struct err *err)
{
    struct store_item other;
    enum store_rc rc = store_item_get_by_uid(dr->store, target->coll.id, uid, dr->arena, &other);
    if (rc == STORE_OK && strcmp(other.name, target->name) != 0) {
        const char *href = dav_child_href(dr->arena, target->parent_href, other.name, false);
        err_set(err, &caldav_cond_no_uid_conflict, "UID is in use by %s", href);
        err->href = href; /* RFC 4791 §5.3.2.1: the conflicting resource, as DAV:href */
        return STORE_CONFLICT;
    }
    return rc == STORE_NOTFOUND ? STORE_OK : rc;
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
    if (src->coll.kind != STORE_COLL_CALENDAR || !src->item.uid) {
        return err_set(err, &caldav_cond_supported_calendar_data,
                       "a calendar takes calendar objects; %s is not one of a calendar", src->href);
    }
    if (target->coll.comps && !(src->item.comp & target->coll.comps)) {
        return err_set(err, &cal_cond_supported_component,
                       "the target calendar does not take the component type of %s", src->href);
    }
    return 0;
}

/* RFC 4791 §5.3.2.1 applies no-uid-conflict to COPY and MOVE too. */
static int copy_uid_conflict(struct dav_req *dr,
                             const struct dav_res *target,
                             const char *uid,
                             struct err *err)
{
    return uid_clash(dr, target, uid, err) == STORE_CONFLICT ? -1 : 0;
}

/* cal_parse_object's verdict on a PUT body, made by pre_put outside the write gate. */
struct put_check {
    const char *content; /* the body it was made on (dr->raw) */
    size_t size;
    int rc;
    struct cal_info info;
    struct err err;
};

static bool is_calendar_type(const char *ctype)
{
    struct slice ct = slice_from_cstr(ctype);
    return ctype && ct.len >= 13 &&
           slice_eq_ci((struct slice){ct.ptr, 13}, SLICE_LIT("text/calendar"));
}

/* Parses a text/calendar body before the write transaction: the expansion of its recurrences
 * and time zones (bounded, but up to a good part of a second) then holds no other writer. */
static void pre_put(struct dav_req *dr)
{
    if (!is_calendar_type(http_req_header(dr->http, "Content-Type"))) {
        return;
    }
    struct put_check *c = arena_zalloc(dr->arena, sizeof(*c));
    err_init(&c->err);
    c->content = buf_cstr(&dr->raw);
    c->size = dr->raw.len;
    c->rc = cal_parse_object(buf_slice(&dr->raw), ALL_COMPONENTS, dr->arena, &c->info, &c->err);
    dr->put_checked = c;
}

/* cal_parse_object on the body `in` holds for a calendar taking the components `allowed`,
 * or pre_put's verdict when made on that body (made with every component allowed, so the
 * calendar's own set is checked here). */
static int check_object(struct dav_req *dr,
                        const struct store_item_in *in,
                        unsigned allowed,
                        struct cal_info *info,
                        struct err *err)
{
    const struct put_check *c = dr->put_checked;
    if (c && c->content == in->content && c->size == in->size) {
        if (c->rc != 0) {
            *err = c->err;
            return -1;
        }
        if (!(c->info.comp & allowed)) {
            return err_set(err, &cal_cond_supported_component,
                           "this calendar does not take the object's component type");
        }
        *info = c->info;
        return 0;
    }
    return cal_parse_object((struct slice){in->content, in->size}, allowed, dr->arena, info, err);
}

static int prepare_put(struct dav_req *dr,
                       const struct dav_res *target,
                       struct store_item_in *in,
                       struct err *err)
{
    /* the type of the body as unwrapped (struct dav_ext unwrap_put), else as sent */
    const char *ctype = http_req_header(dr->http, "Content-Type") ? in->content_type : NULL;
    if (!is_calendar_type(ctype)) {
        return err_set(err, &caldav_cond_supported_calendar_data,
                       "a calendar takes text/calendar, not %s", ctype ? ctype : "no type");
    }
    struct cal_info info;
    /* RFC 4791 §5.3.2.1: supported-calendar-component, against the calendar's own set */
    unsigned allowed = target->coll.comps ? target->coll.comps : ALL_COMPONENTS;
    if (check_object(dr, in, allowed, &info, err) != 0) {
        return -1;
    }
    enum store_rc rc = uid_clash(dr, target, info.uid, err);
    if (rc != STORE_OK) {
        return rc == STORE_CONFLICT ? -1 : dav_store_err(dr, rc, err);
    }
    dav_item_index(&info, in);
    return 0;
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
        .max_bytes = dr->app->limits.xml_max_body + 16,
        .max_depth = dr->app->limits.xml_max_depth + 1,
        .max_elements = dr->app->limits.xml_max_elements + 1,
        .max_text = dr->app->limits.xml_max_text,
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
        },
    .prepare_put = prepare_put,
    .pre_put = pre_put,
    .accept_copy = accept_copy,
    .uid_conflict = copy_uid_conflict,
    .compliance = "calendar-access",
    .allow = "REPORT, MKCALENDAR",
};

const struct dav_ext *caldav_ext(void)
{
    return &ext;
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
