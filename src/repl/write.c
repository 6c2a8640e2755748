/* repl/write.c: writes on the /exchange tree beyond plain iCalendar PUT
 * (exchange-replication.md §2.5, §4.7): PROPPATCH of appointment properties, which edits the
 * stored iCalendar through repl/exwrite.h (or creates an appointment on an unmapped URL), and
 * PUT of a message/rfc822 body, unwrapped to the calendar it carries; a PUT whose object
 * lacks a UID or DTSTAMP gets them and answers 210 Content Different (§2.2). Owns the wire
 * typing of PROPPATCH values (§4.1); the multistatus and the dead properties stay with
 * dav/proppatch.c.
 * Conditions, per instruction inside the 207: cannot-modify-protected-property (403, a
 * read-only property), property-value (422, a value that does not type or is out of range,
 * a dt:dt that disagrees), appointment-conflict (409), conflict (409, a C:uid in use);
 * for the whole request: dtstart-required (409, create without C:dtstart),
 * unsupported-calendar-type (415, a PUT of another type), no-calendar-in-message (415),
 * malformed-mime (400). */
#include <string.h>
#include <strings.h>

#include "calstore/calstore.h"
#include "repl/exwrite.h"
#include "repl/props.h"
#include "repl/repl.h"
#include "repl/repl_int.h"
#include "repl/where.h"
#include "util/parse.h"
#include "xml/xmlout.h"

enum {
    REPL_ALL_COMPONENTS = CAL_COMP_VEVENT | CAL_COMP_VTODO | CAL_COMP_VJOURNAL,
};

static bool on_exchange(const struct dav_res *r)
{
    return repl_in_tree(r->href);
}

/* ---------------------------------------------------------------------------------------- */
/* PUT of message/rfc822 (§2.5) */

/* The media type of a Content-Type value, without parameters, compared case-insensitively. */
static bool media_is(const char *ctype, const char *want)
{
    struct slice s = slice_from_cstr(ctype);
    const char *semi = memchr(s.ptr, ';', s.len);
    if (semi) {
        s.len = (size_t)(semi - s.ptr);
    }
    return slice_eq_ci(slice_trim(s), slice_from_cstr(want));
}

/* What a PUT on the /exchange tree stores in a calendar: the body as sent (a text/calendar
 * object that has its UIDs and DTSTAMPs), or a new text (the calendar a message/rfc822 carries,
 * a UID or DTSTAMP added), or the refusal. Made before the write gate (repl_pre_unwrap_put,
 * which offers the new text to the validation there) and used under it (repl_unwrap_put). */
struct repl_put {
    bool is_made;
    bool is_new;         /* content replaces the body */
    struct slice body;   /* the body it was made from (to be sure it is still that one) */
    const char *content; /* NUL-terminated, in the arena */
    size_t size;
    const char *content_type;
    const char *modified; /* the 210's A:modified body, or NULL */
    struct err err;       /* the refusal, when err.cond */
};

/* §2.2: a missing UID or DTSTAMP is added to `ics` (in the arena), and the PUT answers 210
 * with an A:modified body naming what changed. */
static int repair(struct dav_req *dr, struct slice ics, struct repl_put *put)
{
    struct slice out;
    unsigned changed;
    const char *uid;
    size_t limit = dr->limits->max_resource_size;
    if (repl_ex_repair(ics, limit, dr->arena, &out, &changed, &uid) != 0) {
        return err_set(&put->err, &dav_cond_resource_too_large,
                       "the object with its UID and DTSTAMP exceeds max_resource_size=%zu", limit);
    }
    if (!changed) {
        return 0;
    }
    struct buf body;
    buf_init(&body, limit); /* a copied UID can be as long as the object */
    int rc = xmlout_decl(&body);
    rc |= buf_append_cstr(&body, "<A:modified xmlns:A=\"" DAV_NS_ALMANAC "\">");
    if (changed & REPL_EX_REPAIRED_UID) {
        rc |= buf_append_cstr(&body, "<A:uid-added>");
        rc |= xmlout_text(&body, slice_from_cstr(uid));
        rc |= buf_append_cstr(&body, "</A:uid-added>");
    }
    if (changed & REPL_EX_REPAIRED_DTSTAMP) {
        rc |= buf_append_cstr(&body, "<A:dtstamp-added/>");
    }
    rc |= buf_append_cstr(&body, "</A:modified>\n");
    put->modified = arena_strndup(dr->arena, body.data, body.len);
    buf_deinit(&body);
    if (rc != 0) {
        return err_set(&put->err, &dav_cond_resource_too_large,
                       "body exceeds max_resource_size=%zu", limit);
    }
    put->is_new = true;
    put->content = arena_strndup(dr->arena, out.ptr, out.len);
    put->size = out.len;
    return 0;
}

/* The stored form of the PUT body (struct repl_put), the body left as it is. */
static void make_put(struct dav_req *dr, struct repl_put *put)
{
    struct slice raw = buf_slice(dav_req_body(dr));
    memset(put, 0, sizeof(*put));
    err_init(&put->err);
    put->is_made = true;
    put->body = raw;
    const char *ctype = http_req_header(dr->http, "Content-Type");
    if (ctype && media_is(ctype, "text/calendar")) {
        put->content_type = ctype;
        (void)repair(dr, raw, put);
        return;
    }
    if (!ctype || !media_is(ctype, "message/rfc822")) {
        err_set(&put->err, &repl_cond_put_media,
                "the exchange tree takes text/calendar or message/rfc822, not %s",
                ctype ? ctype : "no type");
        return;
    }
    struct slice cal;
    if (repl_mime_unwrap(raw, dr->arena, &cal, &put->err) != 0) {
        return;
    }
    /* the calendar is never longer than the message, so it fits max_resource_size */
    put->is_new = true;
    put->content = arena_strndup(dr->arena, cal.ptr, cal.len);
    put->size = cal.len;
    put->content_type = "text/calendar; charset=utf-8";
    struct slice unwrapped = {put->content, put->size};
    (void)repair(dr, unwrapped, put);
}

static bool on_exchange_path(struct dav_req *dr)
{
    return repl_in_tree(http_req_path(dr->http));
}

void repl_pre_unwrap_put(struct dav_req *dr)
{
    if (!on_exchange_path(dr)) {
        return;
    }
    struct repl_put *put = arena_zalloc(dr->arena, sizeof(*put));
    make_put(dr, put);
    /* repl's state slot: a PUT writes no property rows, so props.c's cache is not in it */
    dav_ext_set_state(dr, repl_ext(), put);
    if (!put->err.cond && put->is_new) {
        dav_req_offer_put_body(dr, (struct slice){put->content, put->size}, put->content_type);
    }
}

int repl_unwrap_put(struct dav_req *dr,
                    const struct dav_res *target,
                    struct store_item_in *in,
                    const char **modified,
                    struct err *err)
{
    if (!on_exchange(target)) {
        return 0;
    }
    struct repl_put fresh, *put = dav_ext_state(dr, repl_ext());
    struct slice raw = buf_slice(dav_req_body(dr));
    if (!put || !put->is_made || put->body.ptr != raw.ptr || put->body.len != raw.len) {
        make_put(dr, &fresh); /* not made before the gate, or on another body */
        put = &fresh;
    }
    if (put->err.cond) {
        return err_set(err, put->err.cond, "%s", put->err.msg);
    }
    if (put->is_new) {
        in->content = put->content;
        in->size = put->size;
        in->content_type = put->content_type;
    }
    *modified = put->modified;
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* PROPPATCH (§4.7) */

static bool dt_agrees(const char *dt, enum repl_ex_type t)
{
    if (!dt) {
        return true;
    }
    switch (t) {
    case REPL_EX_STRING:
        return strcmp(dt, "string") == 0;
    case REPL_EX_INT:
        return strcmp(dt, "int") == 0 || strcmp(dt, "i2") == 0 || strcmp(dt, "i4") == 0 ||
               strcmp(dt, "i8") == 0;
    case REPL_EX_BOOL:
        return strcmp(dt, "boolean") == 0;
    case REPL_EX_TIME:
        return strcmp(dt, "dateTime.tz") == 0 || strcmp(dt, "dateTime") == 0;
    case REPL_EX_MV_STRING:
        return strcmp(dt, "mv.string") == 0;
    case REPL_EX_MV_TIME:
        return strcmp(dt, "mv.dateTime.tz") == 0 || strcmp(dt, "mv.dateTime") == 0;
    }
    return false;
}

static int parse_int(struct slice s, int64_t *v)
{
    bool neg = s.len > 0 && s.ptr[0] == '-';
    uint64_t u;
    if (parse_u64((struct slice){s.ptr + neg, s.len - neg}, &u) != 0 || u > INT64_MAX) {
        return -1;
    }
    *v = neg ? -(int64_t)u : (int64_t)u;
    return 0;
}

static int parse_bool(struct slice s, int64_t *v)
{
    static const char *const t[] = {"1", "true", "t"};
    static const char *const f[] = {"0", "false", "f"};
    for (size_t i = 0; i < ALM_ARRAY_LEN(t); i++) {
        if (slice_eq_ci(s, slice_from_cstr(t[i]))) {
            *v = 1;
            return 0;
        }
        if (slice_eq_ci(s, slice_from_cstr(f[i]))) {
            *v = 0;
            return 0;
        }
    }
    return -1;
}

/* The typed value of a set instruction (§4.1); NULL, or the reason it does not type. An empty
 * scalar of a non-string type is a remove (C:reminderoffset: "empty removes it"). */
static const char *type_value(struct arena *a,
                              const struct dav_pp_instr *in,
                              enum repl_ex_type t,
                              struct repl_ex_edit *ed)
{
    if (!dt_agrees(in->dt, t)) {
        return arena_printf(a, "dt:dt=\"%s\" is not the type of %s", in->dt, in->name);
    }
    struct slice text = slice_trim(slice_from_cstr(in->text));
    struct repl_ex_value *v = &ed->value;
    v->present = true;
    if (t == REPL_EX_STRING) {
        if (in->nvalues) {
            return arena_printf(a, "%s takes text, not elements", in->name);
        }
        v->s = in->text;
        return NULL;
    }
    if (t == REPL_EX_MV_STRING || t == REPL_EX_MV_TIME) {
        /* one <v:v> per value; a bare text is one value, and nothing at all is none */
        size_t n = in->nvalues ? in->nvalues : text.len ? 1 : 0;
        const char **s = arena_alloc(a, sizeof(*s) * (n ? n : 1));
        int64_t *tm = arena_alloc(a, sizeof(*tm) * (n ? n : 1));
        for (size_t i = 0; i < n; i++) {
            s[i] = in->nvalues ? in->values[i] : arena_slicedup(a, text);
            if (t == REPL_EX_MV_TIME &&
                repl_parse_date(arena_slicedup(a, slice_trim(slice_from_cstr(s[i]))), &tm[i]) !=
                    0) {
                return arena_printf(a, "%s is not a date", s[i]);
            }
        }
        v->mv_s = s;
        v->mv_t = tm;
        v->n = n;
        return NULL;
    }
    if (text.len == 0) {
        ed->remove = true;
        return NULL;
    }
    const char *str = arena_slicedup(a, text);
    int rc = t == REPL_EX_INT    ? parse_int(text, &v->i)
             : t == REPL_EX_BOOL ? parse_bool(text, &v->i)
                                 : repl_parse_date(str, &v->i);
    if (rc != 0) {
        return arena_printf(a, "%s is not %s", str,
                            t == REPL_EX_INT    ? "an integer"
                            : t == REPL_EX_BOOL ? "a boolean"
                                                : "a date");
    }
    return NULL;
}

/* The instructions of the request on appointment properties, typed into edits[]. */
struct pp_plan {
    struct repl_ex_edit *edits;
    size_t *index; /* instruction number of each edit */
    size_t n;
    bool failed; /* an instruction was claimed as failed */
};

/* §4.2: DAV:contentclass accepts only the appointment class (a no-op). */
static bool claim_contentclass(struct dav_propupdate *pu, size_t i, const struct dav_pp_instr *in)
{
    bool ok = !in->remove && slice_eq(slice_trim(slice_from_cstr(in->text)),
                                      SLICE_LIT("urn:content-classes:appointment"));
    dav_propupdate_claim(pu, i, ok ? NULL : &repl_cond_ex_value,
                         ok ? NULL : "contentclass is urn:content-classes:appointment");
    return ok;
}

static void plan(struct dav_req *dr, struct dav_propupdate *pu, bool creating, struct pp_plan *p)
{
    size_t total = 0;
    struct dav_pp_instr in;
    while (dav_propupdate_get(pu, total, &in)) {
        total++;
    }
    p->edits = arena_zalloc(dr->arena, sizeof(*p->edits) * (total ? total : 1));
    p->index = arena_zalloc(dr->arena, sizeof(*p->index) * (total ? total : 1));
    for (size_t i = 0; i < total; i++) {
        dav_propupdate_get(pu, i, &in);
        if (in.claimed) {
            continue;
        }
        if (strcmp(in.ns, DAV_NS) == 0 && strcmp(in.name, "contentclass") == 0) {
            p->failed |= !claim_contentclass(pu, i, &in);
            continue;
        }
        int id = repl_exprop_find(slice_from_cstr(in.ns), slice_from_cstr(in.name));
        if (id < 0) {
            continue; /* a dead property, or a live one the core refuses */
        }
        if (!repl_exprop_writable((enum repl_exprop)id, creating)) {
            dav_propupdate_claim(pu, i, &dav_cond_cannot_modify_protected,
                                 arena_printf(dr->arena, "%s is read-only", in.name));
            p->failed = true;
            continue;
        }
        struct repl_ex_edit *ed = &p->edits[p->n];
        ed->prop = (enum repl_exprop)id;
        ed->remove = in.remove;
        const char *why =
            in.remove ? NULL
                      : type_value(dr->arena, &in, repl_exprop_def((enum repl_exprop)id)->type, ed);
        if (why) {
            dav_propupdate_claim(pu, i, &repl_cond_ex_value, why);
            p->failed = true;
            continue;
        }
        p->index[p->n++] = i;
    }
}

/* Fails every edit with `cond` (the result as a whole did not validate). */
static int fail_all(struct dav_propupdate *pu, struct pp_plan *p, const struct err *e)
{
    for (size_t k = 0; k < p->n; k++) {
        dav_propupdate_claim(pu, p->index[k], e->cond, e->msg);
    }
    return 2;
}

/* The new content validated as a calendar object and stored under res->name. */
static int store_result(struct dav_req *dr,
                        const struct dav_res *res,
                        struct dav_propupdate *pu,
                        struct pp_plan *p,
                        struct slice ics,
                        struct store_item *written,
                        struct err *err)
{
    /* The new content exists only now, made from the stored one inside the transaction:
     * validated here (calstore_prepare), not before the write gate as a PUT body is. */
    struct calstore_obj obj;
    unsigned allowed = res->coll.comps ? res->coll.comps : REPL_ALL_COMPONENTS;
    if (calstore_prepare(ics, "text/calendar; charset=utf-8", allowed, dr->arena, &obj, NULL) !=
        0) {
        return fail_all(pu, p, &obj.err);
    }
    struct calstore_writer w = {.store = dr->store, .arena = dr->arena, .principal = dr->principal};
    struct calstore_res cres;
    struct err cerr;
    err_init(&cerr);
    enum calstore_rc rc = calstore_put(&w, &res->coll, res->name, &obj, &cres, &cerr);
    if (rc == CALSTORE_UID_CONFLICT) {
        const char *href = dav_child_href(dr->arena, res->parent_href, cres.holder, false);
        for (size_t k = 0; k < p->n; k++) {
            if (p->edits[k].prop == REPL_EX_UID) {
                dav_propupdate_claim(pu, p->index[k], &dav_cond_store_conflict,
                                     arena_printf(dr->arena, "uid is in use by %s", href));
                return 2;
            }
        }
        return err_set(err, &dav_cond_store_conflict, "conflict: uid is in use by %s", href);
    }
    if (rc == CALSTORE_INVALID) {
        return fail_all(pu, p, &cerr); /* a component the calendar does not take */
    }
    if (rc == CALSTORE_STORE) {
        return dav_store_err(dr, cres.store_rc, err);
    }
    if (rc != CALSTORE_OK) {
        *err = cerr;
        return -1;
    }
    *written = cres.item;
    for (size_t k = 0; k < p->n; k++) {
        dav_propupdate_claim(pu, p->index[k], NULL, NULL);
    }
    return 0;
}

int repl_proppatch(struct dav_req *dr,
                   const struct dav_res *res,
                   struct dav_propupdate *pu,
                   struct store_item *written,
                   struct err *err)
{
    bool creating = res->kind == DAV_RES_NONE;
    if (!on_exchange(res) || res->coll.kind != STORE_COLL_CALENDAR ||
        (creating && http_req_trailing_slash(dr->http))) {
        return 1;
    }
    struct pp_plan p = {0};
    plan(dr, pu, creating, &p);
    if (p.failed) {
        return 2;
    }
    if (p.n == 0 && !creating) {
        return 1; /* dead properties only: the core's PROPPATCH */
    }
    struct slice old = {NULL, 0};
    if (!creating) {
        struct store_item full;
        enum store_rc rc = store_item_get(dr->store, res->coll.id, res->item.name,
                                          STORE_ITEM_CONTENT, dr->arena, &full);
        if (rc != STORE_OK) {
            return dav_store_err(dr, rc, err);
        }
        old = (struct slice){full.content ? full.content : "", full.size};
    }
    struct slice ics;
    struct err cerr;
    err_init(&cerr);
    struct repl_ex_self self;
    enum store_rc src = repl_self(dr, dr->arena, &self);
    if (src != STORE_OK) {
        return dav_store_err(dr, src, err);
    }
    int rc = repl_ex_apply(old, &self, p.edits, p.n, dr->arena, &ics, &cerr);
    if (rc < 0 && cerr.cond != &repl_cond_ex_dtstart_required) {
        /* the stored object has no VEVENT (a VTODO) or no longer parses: every appointment
         * property fails with that condition, inside the 207 */
        return fail_all(pu, &p, &cerr);
    }
    if (rc < 0) {
        return err_set(err, cerr.cond, "%s", cerr.msg);
    }
    if (rc == 1) {
        for (size_t k = 0; k < p.n; k++) {
            if (p.edits[k].cond) {
                dav_propupdate_claim(pu, p.index[k], p.edits[k].cond, p.edits[k].msg);
            }
        }
        return 2;
    }
    return store_result(dr, res, pu, &p, ics, written, err);
}
