/* caldav/report.c: REPORT (RFC 3253 §3.6) for calendar-multiget (RFC 4791 §7.9),
 * calendar-query (§7.8) and sync-collection (RFC 6578 §3). The body is read with the streaming
 * reader into a compact description (property selection, hrefs, token, limit, filter); the
 * answer streams from store cursors inside one read transaction.
 * calendar-multiget keeps its hrefs in a strset (each distinct href once, compactly, in the
 * order first sent) and resolves them one per answer row: O(hrefs) work and memory, bounded by
 * max_multiget_hrefs.
 * Conditions: caldav_cond_supported_report (403: another report), caldav_cond_valid_filter
 * (403: a filter this server does not evaluate), caldav_cond_valid_sync_token (403: unknown,
 * forged or pruned token), caldav_cond_too_many_hrefs (413: a multiget past
 * max_multiget_hrefs), dav_cond_bad_request (400), dav_cond_not_found (404). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cal/cal.h"
#include "caldav/caldav.h"
#include "caldav/caldav_int.h"
#include "util/deadline.h"
#include "util/parse.h"
#include "util/strset.h"
#include "xml/xmlout.h"

enum report_kind {
    R_NONE,
    R_MULTIGET,
    R_QUERY,
    R_SYNC,
    R_FREEBUSY
};

/* Which text element is being captured. */
enum capture {
    CAP_NONE,
    CAP_HREF,
    CAP_TOKEN,
    CAP_LEVEL,
    CAP_NRESULTS,
    CAP_TEXT_MATCH
};

enum {
    REPORT_TEXT_MAX = 8192,  /* bytes of one captured element (an href, a token) */
    REPORT_FILTER_DEPTH = 8, /* nesting of comp/prop/param filters */
    ICAL_UTC_LEN = 64,       /* an iCalendar UTC date-time with room for any int */
};

struct report {
    struct dav_req *dr;
    enum report_kind kind;
    unsigned depth;
    struct dav_propsel sel;
    bool in_prop;
    bool in_cdata; /* inside <C:calendar-data> of the property selection */
    struct cal_select *sel_stack[REPORT_FILTER_DEPTH]; /* open <C:comp> selections */
    unsigned nsel;
    bool in_limit;
    struct caldav_data_opts data;
    enum capture cap;
    struct buf text;
    /* calendar-multiget */
    struct strset *hrefs; /* distinct hrefs, trimmed, as sent; NULL until the first */
    size_t nhref_elems;   /* DAV:href elements read, duplicates included */
    /* sync-collection */
    const char *token;
    uint64_t limit; /* 0: none */
    /* calendar-query */
    unsigned filter_depth; /* depth of C:filter, 0 outside it */
    unsigned comp_level;   /* comp-filters entered below C:filter */
    const char *comp;      /* "VEVENT", "VTODO", "VJOURNAL" or NULL for any */
    bool has_range;
    int64_t start;
    int64_t end;
    struct cal_filter *filter;                     /* the whole filter tree (comp VCALENDAR) */
    struct cal_filter *stack[REPORT_FILTER_DEPTH]; /* open filter nodes */
    unsigned nstack;
    bool complex; /* the filter says more than a component name and a time range */
};

static bool is(struct slice ns, struct slice name, const char *want_ns, const char *want)
{
    return slice_eq(ns, slice_from_cstr(want_ns)) && slice_eq(name, slice_from_cstr(want));
}

static struct slice attr(const struct xmlin_attr *attrs, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (attrs[i].ns.len == 0 && slice_eq(attrs[i].name, slice_from_cstr(name))) {
            return attrs[i].value;
        }
    }
    return (struct slice){NULL, 0};
}

/* "YYYYMMDDTHHMMSSZ" (RFC 4791 §9.9 requires UTC) to unix seconds. */
static int parse_utc(struct slice s, int64_t *out)
{
    if (s.len != 16 || s.ptr[8] != 'T' || s.ptr[15] != 'Z') {
        return -1;
    }
    uint64_t y, mo, d, h, mi, se;
    if (parse_u64((struct slice){s.ptr, 4}, &y) || parse_u64((struct slice){s.ptr + 4, 2}, &mo) ||
        parse_u64((struct slice){s.ptr + 6, 2}, &d) ||
        parse_u64((struct slice){s.ptr + 9, 2}, &h) ||
        parse_u64((struct slice){s.ptr + 11, 2}, &mi) ||
        parse_u64((struct slice){s.ptr + 13, 2}, &se) || mo < 1 || mo > 12 || d < 1 || d > 31 ||
        h > 23 || mi > 59 || se > 60) {
        return -1;
    }
    /* days from civil (Howard Hinnant's algorithm) */
    int64_t yy = (int64_t)y - (mo <= 2);
    int64_t era = (yy >= 0 ? yy : yy - 399) / 400;
    int64_t yoe = yy - era * 400;
    int64_t mp = ((int64_t)mo + 9) % 12;
    int64_t doy = (153 * mp + 2) / 5 + (int64_t)d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = era * 146097 + doe - 719468;
    *out = days * 86400 + (int64_t)(h * 3600 + mi * 60 + se);
    return 0;
}

static void free_hrefs(void *p)
{
    strset_destroy(&((struct report *)p)->hrefs);
}

/* One DAV:href of a calendar-multiget. Every element counts towards max_multiget_hrefs (the
 * work of reading the body is per element); a repeated href is kept once, since RFC 4918
 * §14.24 lets an href appear in only one response of a multistatus. O(len) expected. */
static int add_href(struct report *r, struct slice href, struct err *err)
{
    struct dav_req *dr = r->dr;
    size_t max = dr->limits->max_multiget_hrefs;
    if (r->nhref_elems == max) {
        return err_set(err, &caldav_cond_too_many_hrefs,
                       "calendar-multiget href count %zu exceeds max_multiget_hrefs=%zu", max + 1,
                       max);
    }
    r->nhref_elems++;
    if (!r->hrefs) {
        /* The hrefs come out of the body, so they never take more than xml_max_body. */
        r->hrefs = strset_create(dr->limits->xml_max_body);
        arena_defer(dr->arena, free_hrefs, r);
    }
    if (strset_add(r->hrefs, slice_trim(href)) < 0) {
        return err_set(err, &caldav_cond_too_many_hrefs,
                       "calendar-multiget hrefs exceed xml_max_body=%zu bytes",
                       dr->limits->xml_max_body);
    }
    return 0;
}

static struct cal_filter *
filter_node(struct report *r, enum cal_filter_kind kind, struct slice name, struct err *err)
{
    if (r->nstack == REPORT_FILTER_DEPTH) {
        err_set(err, &caldav_cond_valid_filter, "filters nest deeper than %d", REPORT_FILTER_DEPTH);
        return NULL;
    }
    struct cal_filter *n = arena_zalloc(r->dr->arena, sizeof(*n));
    n->kind = kind;
    n->name = arena_slicedup(r->dr->arena, name);
    if (r->nstack == 0) {
        r->filter = n;
    } else {
        struct cal_filter *parent = r->stack[r->nstack - 1];
        n->next = parent->children;
        parent->children = n;
    }
    r->stack[r->nstack++] = n;
    return n;
}

static int filter_start(struct report *r,
                        struct slice ns,
                        struct slice name,
                        const struct xmlin_attr *attrs,
                        size_t nattrs,
                        struct err *err)
{
    struct cal_filter *top = r->nstack ? r->stack[r->nstack - 1] : NULL;
    if (!slice_eq(ns, SLICE_LIT(DAV_NS_CALDAV))) {
        return err_set(err, &caldav_cond_valid_filter, "unknown filter element");
    }
    if (slice_eq(name, SLICE_LIT("comp-filter"))) {
        if (top && top->kind != CAL_FILTER_COMP) {
            return err_set(err, &caldav_cond_valid_filter, "comp-filter inside a prop-filter");
        }
        struct slice cn = attr(attrs, nattrs, "name");
        r->comp_level++;
        if (r->comp_level == 1 && !slice_eq(cn, SLICE_LIT("VCALENDAR"))) {
            return err_set(err, &caldav_cond_valid_filter,
                           "the outer comp-filter must be VCALENDAR");
        }
        if (r->comp_level == 2) {
            r->comp = arena_slicedup(r->dr->arena, cn);
        }
        if (r->comp_level > 2) {
            r->complex = true;
        }
        return filter_node(r, CAL_FILTER_COMP, cn, err) ? 0 : -1;
    }
    if (slice_eq(name, SLICE_LIT("prop-filter")) || slice_eq(name, SLICE_LIT("param-filter"))) {
        bool prop = slice_eq(name, SLICE_LIT("prop-filter"));
        if (!top || (prop ? top->kind != CAL_FILTER_COMP : top->kind != CAL_FILTER_PROP) ||
            r->comp_level < 2) {
            return err_set(err, &caldav_cond_valid_filter, "misplaced %.*s", (int)name.len,
                           name.ptr);
        }
        r->complex = true;
        return filter_node(r, prop ? CAL_FILTER_PROP : CAL_FILTER_PARAM,
                           attr(attrs, nattrs, "name"), err)
                   ? 0
                   : -1;
    }
    if (!top) {
        return err_set(err, &caldav_cond_valid_filter, "filter element outside a comp-filter");
    }
    if (slice_eq(name, SLICE_LIT("is-not-defined"))) {
        top->is_not_defined = true;
        r->complex = true;
        return 0;
    }
    if (slice_eq(name, SLICE_LIT("time-range"))) {
        struct slice st = attr(attrs, nattrs, "start");
        struct slice en = attr(attrs, nattrs, "end");
        int64_t s0 = INT64_MIN;
        int64_t e0 = INT64_MAX;
        if ((st.ptr && parse_utc(st, &s0) != 0) || (en.ptr && parse_utc(en, &e0) != 0) ||
            (!st.ptr && !en.ptr) || top->kind != CAL_FILTER_COMP) {
            return err_set(err, &caldav_cond_valid_filter,
                           "time-range needs UTC start or end, on a comp-filter");
        }
        if (r->comp_level == 2) {
            /* the top component's range: the span index, then expansion (report_run) */
            r->has_range = true;
            r->start = s0;
            r->end = e0;
        } else {
            top->has_range = true;
            top->start = s0;
            top->end = e0;
            r->complex = true;
        }
        return 0;
    }
    if (slice_eq(name, SLICE_LIT("text-match"))) {
        if (top->kind == CAL_FILTER_COMP) {
            return err_set(err, &caldav_cond_valid_filter, "text-match on a component");
        }
        struct slice coll = attr(attrs, nattrs, "collation");
        if (!coll.ptr || slice_eq(coll, SLICE_LIT("i;ascii-casemap"))) {
            top->text.collation = CAL_COLLATION_ASCII_CASEMAP;
        } else if (slice_eq(coll, SLICE_LIT("i;octet"))) {
            top->text.collation = CAL_COLLATION_OCTET;
        } else {
            return err_set(err, &caldav_cond_supported_collation, "collation %.*s", (int)coll.len,
                           coll.ptr);
        }
        top->text.negate = slice_eq(attr(attrs, nattrs, "negate-condition"), SLICE_LIT("yes"));
        top->has_text = true;
        r->cap = CAP_TEXT_MATCH;
        buf_reset(&r->text);
        return 0;
    }
    return err_set(err, &caldav_cond_valid_filter, "filter element %.*s is not supported",
                   (int)name.len, name.ptr);
}

/* Children of <C:calendar-data> (RFC 4791 §9.6): comp/prop selection, expand,
 * limit-recurrence-set. */
static int cdata_start(struct report *r,
                       struct slice ns,
                       struct slice name,
                       const struct xmlin_attr *attrs,
                       size_t nattrs,
                       struct err *err)
{
    struct arena *a = r->dr->arena;
    struct cal_select *top = r->nsel ? r->sel_stack[r->nsel - 1] : NULL;
    if (!slice_eq(ns, SLICE_LIT(DAV_NS_CALDAV))) {
        return 0;
    }
    if (slice_eq(name, SLICE_LIT("expand")) || slice_eq(name, SLICE_LIT("limit-recurrence-set"))) {
        int64_t s0;
        int64_t e0;
        if (parse_utc(attr(attrs, nattrs, "start"), &s0) != 0 ||
            parse_utc(attr(attrs, nattrs, "end"), &e0) != 0 || e0 <= s0) {
            return err_set(err, &dav_cond_bad_request, "%.*s needs UTC start < end", (int)name.len,
                           name.ptr);
        }
        bool expand = slice_eq(name, SLICE_LIT("expand"));
        *(expand ? &r->data.expand : &r->data.limit) = true;
        *(expand ? &r->data.start : &r->data.limit_start) = s0;
        *(expand ? &r->data.end : &r->data.limit_end) = e0;
        return 0;
    }
    if (slice_eq(name, SLICE_LIT("comp"))) {
        if (r->nsel == REPORT_FILTER_DEPTH || (top && top->allcomp)) {
            return err_set(err, &dav_cond_bad_request, "calendar-data comp nests too deep");
        }
        struct cal_select *n = arena_zalloc(a, sizeof(*n));
        n->name = arena_slicedup(a, attr(attrs, nattrs, "name"));
        if (top) {
            n->next = top->comps;
            top->comps = n;
        } else {
            r->data.select = n;
        }
        r->sel_stack[r->nsel++] = n;
        return 0;
    }
    if (!top) {
        return 0;
    }
    if (slice_eq(name, SLICE_LIT("allprop"))) {
        top->allprop = true;
    } else if (slice_eq(name, SLICE_LIT("allcomp"))) {
        top->allcomp = true;
    } else if (slice_eq(name, SLICE_LIT("prop"))) {
        const char **props = arena_alloc(a, (top->nprops + 1) * sizeof(*props));
        if (top->nprops) {
            memcpy(props, top->props, top->nprops * sizeof(*props));
        }
        props[top->nprops++] = arena_slicedup(a, attr(attrs, nattrs, "name"));
        top->props = props;
    }
    return 0;
}

static int rp_start(void *ctx,
                    struct slice ns,
                    struct slice name,
                    const struct xmlin_attr *attrs,
                    size_t nattrs,
                    struct err *err)
{
    struct report *r = ctx;
    r->depth++;
    if (r->depth == 1) {
        if (is(ns, name, DAV_NS_CALDAV, "calendar-multiget")) {
            r->kind = R_MULTIGET;
        } else if (is(ns, name, DAV_NS_CALDAV, "calendar-query")) {
            r->kind = R_QUERY;
        } else if (is(ns, name, DAV_NS, "sync-collection")) {
            r->kind = R_SYNC;
        } else if (is(ns, name, DAV_NS_CALDAV, "free-busy-query")) {
            r->kind = R_FREEBUSY;
        } else {
            return err_set(err, &caldav_cond_supported_report, "REPORT %.*s is not supported",
                           (int)name.len, name.ptr);
        }
        return 0;
    }
    if (r->filter_depth) {
        return filter_start(r, ns, name, attrs, nattrs, err);
    }
    if (r->depth == 2 && r->kind == R_FREEBUSY) {
        if (!is(ns, name, DAV_NS_CALDAV, "time-range")) {
            return err_set(err, &dav_cond_bad_request, "free-busy-query takes a time-range");
        }
        struct slice st = attr(attrs, nattrs, "start");
        struct slice en = attr(attrs, nattrs, "end");
        if (parse_utc(st, &r->start) != 0 || parse_utc(en, &r->end) != 0 || r->end <= r->start) {
            return err_set(err, &dav_cond_bad_request,
                           "free-busy time-range needs UTC start < end");
        }
        r->has_range = true;
        return 0;
    }
    if (r->depth == 2) {
        if (is(ns, name, DAV_NS, "prop")) {
            r->sel.mode = DAV_SEL_PROP;
            r->in_prop = true;
        } else if (is(ns, name, DAV_NS, "allprop")) {
            r->sel.mode = DAV_SEL_ALLPROP;
        } else if (is(ns, name, DAV_NS, "propname")) {
            r->sel.mode = DAV_SEL_PROPNAME;
        } else if (is(ns, name, DAV_NS, "href") && r->kind == R_MULTIGET) {
            r->cap = CAP_HREF;
        } else if (is(ns, name, DAV_NS, "sync-token") && r->kind == R_SYNC) {
            r->cap = CAP_TOKEN;
        } else if (is(ns, name, DAV_NS, "sync-level") && r->kind == R_SYNC) {
            r->cap = CAP_LEVEL;
        } else if (is(ns, name, DAV_NS, "limit")) {
            r->in_limit = true;
        } else if (is(ns, name, DAV_NS_CALDAV, "filter") && r->kind == R_QUERY) {
            r->filter_depth = r->depth;
        }
        buf_reset(&r->text);
        return 0;
    }
    if (r->depth == 3 && r->in_prop) {
        r->in_cdata = is(ns, name, DAV_NS_CALDAV, "calendar-data");
        return dav_propsel_add(&r->sel, r->dr, ns, name, err);
    }
    if (r->depth >= 4 && r->in_cdata) {
        return cdata_start(r, ns, name, attrs, nattrs, err);
    }
    if (r->depth == 3 && r->in_limit && is(ns, name, DAV_NS, "nresults")) {
        r->cap = CAP_NRESULTS;
        buf_reset(&r->text);
    }
    return 0;
}

static int rp_text(void *ctx, struct slice text, struct err *err)
{
    struct report *r = ctx;
    if (r->cap != CAP_NONE && buf_append_slice(&r->text, text) != 0) {
        return err_set(err, &dav_cond_bad_request, "element text exceeds %d bytes",
                       REPORT_TEXT_MAX);
    }
    return 0;
}

static int rp_end(void *ctx, struct slice ns, struct slice name, struct err *err)
{
    struct report *r = ctx;
    struct slice t = slice_trim(buf_slice(&r->text));
    switch (r->cap) {
    case CAP_HREF:
        if (add_href(r, t, err) != 0) {
            return -1;
        }
        break;
    case CAP_TOKEN:
        r->token = arena_slicedup(r->dr->arena, t);
        break;
    case CAP_LEVEL:
        if (!slice_eq(t, SLICE_LIT("1"))) {
            return err_set(err, &dav_cond_bad_request, "only sync-level 1 is supported");
        }
        break;
    case CAP_NRESULTS:
        if (parse_u64(t, &r->limit) != 0 || r->limit == 0) {
            return err_set(err, &dav_cond_bad_request, "bad DAV:nresults");
        }
        break;
    case CAP_TEXT_MATCH:
        r->stack[r->nstack - 1]->text.text = arena_slicedup(r->dr->arena, buf_slice(&r->text));
        break;
    case CAP_NONE:
        break;
    }
    r->cap = CAP_NONE;
    if (r->filter_depth) {
        bool node = is(ns, name, DAV_NS_CALDAV, "comp-filter") ||
                    is(ns, name, DAV_NS_CALDAV, "prop-filter") ||
                    is(ns, name, DAV_NS_CALDAV, "param-filter");
        if (is(ns, name, DAV_NS_CALDAV, "comp-filter")) {
            r->comp_level--;
        }
        if (node && r->nstack > 0) {
            r->nstack--;
        }
        if (r->depth == r->filter_depth) {
            r->filter_depth = 0;
        }
    }
    if (r->in_cdata && r->depth >= 4 && is(ns, name, DAV_NS_CALDAV, "comp") && r->nsel > 0) {
        r->nsel--;
    }
    if (r->depth == 3) {
        r->in_cdata = false;
    }
    if (r->depth == 2) {
        r->in_prop = false;
        r->in_limit = false;
    }
    r->depth--;
    return 0;
}

static const struct xmlin_handler rp_handler = {rp_start, rp_end, rp_text};

static void free_text(void *p)
{
    buf_deinit(&((struct report *)p)->text);
}

static int report_begin(struct dav_req *dr, struct err *err)
{
    (void)err;
    struct report *r = arena_zalloc(dr->arena, sizeof(*r));
    r->dr = dr;
    r->sel.mode = DAV_SEL_ALLPROP;
    buf_init(&r->text, REPORT_TEXT_MAX);
    arena_defer(dr->arena, free_text, r);
    dr->mstate = r;
    caldav_req(dr)->data = &r->data;
    dav_xml_body(dr, &rp_handler, r);
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Answers */

struct rstream {
    struct report *r;
    struct dav_res coll; /* the collection reported on */
    struct store_cursor *cur;
    size_t next_href;    /* multiget: position in r->hrefs (strset_next) */
    size_t prefetch_end; /* multiget: hrefs before this position went to store_item_prefetch */
    uint64_t since;      /* sync: the client's watermark, 0 for an initial sync */
    uint64_t last;       /* sync: modseq of the last row sent */
    uint64_t sent;       /* rows sent */
    bool truncated;
    bool done;
    struct dav_etag_rows etag_rows; /* sync: the rows of a getetag-only selection */
};

static void close_cursor(void *p)
{
    store_cursor_close(&((struct rstream *)p)->cur);
}

/* The decoded `path` names a member of the collection reported on (the usual multiget):
 * *name_out is the member's name. The home is left out, whose members may be shares that only
 * dav_resolve maps. */
static bool member_of_coll(struct rstream *s, const char *path, const char **name_out)
{
    if (s->coll.kind != DAV_RES_COLL || s->coll.coll.kind == STORE_COLL_HOME) {
        return false;
    }
    const char *base = http_req_path(s->r->dr->http);
    size_t blen = strlen(base);
    while (blen > 0 && base[blen - 1] == '/') {
        blen--;
    }
    if (strncmp(path, base, blen) != 0 || path[blen] != '/' || !path[blen + 1] ||
        strchr(path + blen + 1, '/')) {
        return false;
    }
    *name_out = path + blen + 1;
    return true;
}

/* Once per STORE_PREFETCH_MAX hrefs, before the first of them: the names of those that are
 * members of the collection reported on go to store_item_prefetch, so that an engine with a
 * round trip per lookup (PostgreSQL) reads them in one (issue #10). The lookups themselves
 * stay as they are (dav_resolve, each href's own answer); only their cost changes. */
static int multiget_prefetch(struct rstream *s)
{
    struct dav_req *dr = s->r->dr;
    if (s->next_href < s->prefetch_end) {
        return 0;
    }
    struct arena_mark m = arena_mark(dr->arena);
    const char *names[STORE_PREFETCH_MAX];
    size_t n = 0, pos = s->next_href;
    struct slice raw;
    for (size_t seen = 0; seen < STORE_PREFETCH_MAX && strset_next(s->r->hrefs, &pos, &raw);
         seen++) {
        const char *path = NULL;
        struct err e;
        err_init(&e);
        if (http_path_decode(raw, BUF_LIMIT_HREF, dr->arena, &path, NULL, &e) == 0 &&
            member_of_coll(s, path, &names[n])) {
            n++;
        }
    }
    s->prefetch_end = pos;
    enum store_rc rc = store_item_prefetch(dav_store(dr), s->coll.coll.id, names, n);
    arena_rewind(dr->arena, m);
    return rc == STORE_OK ? 0 : -1; /* a lost connection: the answer is cut off and logged */
}

/* A member of the collection reported on, resolved from that collection as a Depth-1
 * PROPFIND's rows are: dav_resolve would look up the principal, its home and each collection
 * on the way again for every href. The same answer as dav_resolve's: an item of that name, or
 * none (a sub-collection of that name is no item either). 0, or -1 with `e` set when the
 * store failed. */
static int resolve_member(struct rstream *s, const char *name, struct dav_res *res, struct err *e)
{
    struct dav_req *dr = s->r->dr;
    memset(res, 0, sizeof(*res));
    res->kind = DAV_RES_NONE;
    struct store_coll sub;
    enum store_rc rc = store_coll_lookup(dr->store, s->coll.coll.id, name, dr->arena, &sub);
    if (rc == STORE_NOTFOUND) {
        rc = store_item_get(dr->store, s->coll.coll.id, name, STORE_ITEM_META, dr->arena,
                            &res->item);
        if (rc == STORE_OK) {
            res->kind = DAV_RES_ITEM;
        }
    }
    if (rc != STORE_OK && rc != STORE_NOTFOUND) {
        return dav_store_err(dr, rc, e);
    }
    res->user = s->coll.user;
    res->in_home = s->coll.in_home;
    res->coll = s->coll.coll;
    res->has_parent = true;
    res->access = s->coll.access;
    res->share = s->coll.share;
    res->name = name;
    res->parent_href = s->coll.href;
    res->href = dav_child_href(dr->arena, s->coll.href, name, false);
    return 0;
}

static int multiget_next(void *ctx, struct buf *out)
{
    struct rstream *s = ctx;
    struct dav_req *dr = s->r->dr;
    struct slice raw;
    if (s->r->hrefs && multiget_prefetch(s) != 0) {
        return -1;
    }
    if (!s->r->hrefs || !strset_next(s->r->hrefs, &s->next_href, &raw)) {
        return 0;
    }
    struct arena_mark m = arena_mark(dr->arena);
    const char *href = arena_slicedup(dr->arena, raw);
    struct err e;
    err_init(&e);
    const char *path = NULL, *name = NULL;
    struct dav_res res;
    int rc;
    if (http_path_decode(raw, BUF_LIMIT_HREF, dr->arena, &path, NULL, &e) == 0 &&
        (member_of_coll(s, path, &name) ? resolve_member(s, name, &res, &e)
                                        : dav_resolve(dr, path, &res, &e)) == 0 &&
        res.kind == DAV_RES_ITEM) {
        rc = dav_write_response(dr, &res, &s->r->sel, out);
    } else if (e.cond && e.cond->http_status >= 500) {
        rc = -1; /* a store fault is not a 404: the answer is cut off and logged */
    } else {
        rc = dav_write_status(out, href, 404);
    }
    arena_rewind(dr->arena, m);
    return rc == 0 ? 1 : -1;
}

/* Whether the item matches the filter: the component type, then the whole filter tree when
 * it says more, then (for a series) an instance in the time range. 1 or 0, or -1 when it
 * cannot be told (the store failed, the time budget ran out): the answer must then stop,
 * not leave the row out as if it did not match. A stored object that no longer parses
 * matches nothing. */
static int query_matches(struct rstream *s, const struct store_item *it)
{
    struct report *r = s->r;
    if (!r->comp && !r->has_range && !r->complex) {
        return 1;
    }
    unsigned want = !r->comp                         ? 0
                    : strcmp(r->comp, "VEVENT") == 0 ? CAL_COMP_VEVENT
                    : strcmp(r->comp, "VTODO") == 0  ? CAL_COMP_VTODO
                                                     : CAL_COMP_VJOURNAL;
    if (it->cal.comp != 0) {
        /* The row's index fields decide: the component type, and for a single object the
         * span the range cursor already compared. Only series and richer filters parse. */
        if (want && !(it->cal.comp & want)) {
            return 0;
        }
        if (!r->complex && (!r->has_range || !it->cal.is_recurring)) {
            return 1;
        }
        /* A series with an instance index (made from the same walk as the expansion on PUT):
         * the index decides, without loading or parsing the object. */
        int m =
            !r->complex && it->cal.has_instances
                ? cal_instances_match(it->cal.instances, it->cal.instances_size, r->start, r->end)
                : -1;
        if (m >= 0) {
            return m == 1;
        }
    }
    struct store_item full;
    if (store_item_get(r->dr->store, s->coll.coll.id, it->name, STORE_ITEM_CONTENT, r->dr->arena,
                       &full) != STORE_OK) {
        return -1; /* the row is in this snapshot: not finding its content is a fault */
    }
    struct slice data = {full.content, full.size};
    char begin[32];
    snprintf(begin, sizeof(begin), "BEGIN:%s\r", r->comp ? r->comp : "V");
    if (!slice_contains(data, slice_from_cstr(begin))) {
        return 0;
    }
    struct err e;
    err_init(&e);
    int f = r->complex ? cal_filter_match(data, r->filter, r->dr->arena, &e) : 1;
    if (f != 1) {
        return e.cond == &err_cond_time_budget ? -1 : 0;
    }
    if (!r->has_range || (!slice_contains(data, SLICE_LIT("\nRRULE")) &&
                          !slice_contains(data, SLICE_LIT("\nRDATE")))) {
        return 1; /* the span index decided exactly */
    }
    int m = it->cal.has_instances
                ? cal_instances_match(it->cal.instances, it->cal.instances_size, r->start, r->end)
                : -1;
    if (m >= 0) {
        return m == 1;
    }
    /* A series whose span overlaps may still have no instance in the range (RFC 4791 §9.9):
     * expand it over the range and look for an instance. */
    struct slice inst;
    if (cal_expand(data, r->start, r->end, r->dr->arena, &inst, &e) != 0) {
        return e.cond == &err_cond_time_budget ? -1 : 0;
    }
    return slice_contains(inst, slice_from_cstr(begin)) ? 1 : 0;
}

static int query_next(void *ctx, struct buf *out)
{
    struct rstream *s = ctx;
    struct dav_req *dr = s->r->dr;
    for (;;) {
        struct store_item it;
        enum store_rc rc = store_cursor_next_item(s->cur, &it);
        if (rc == STORE_NOTFOUND) {
            return 0;
        }
        if (rc != STORE_OK) {
            return -1;
        }
        if (deadline_passed()) {
            return -1; /* request_time_budget: the HTTP layer cuts the answer and logs it */
        }
        struct arena_mark m = arena_mark(dr->arena);
        int w = 0;
        int q = query_matches(s, &it);
        if (q < 0) {
            return -1; /* the HTTP layer cuts the answer off and logs it */
        }
        if (q == 1) {
            struct dav_res res = s->coll;
            res.kind = DAV_RES_ITEM;
            res.item = it;
            res.has_parent = true;
            res.href = dav_child_href(dr->arena, s->coll.href, it.name, false);
            w = dav_write_response(dr, &res, &s->r->sel, out) == 0 ? 1 : -1;
        }
        arena_rewind(dr->arena, m);
        if (w != 0) {
            return w;
        }
    }
}

static int sync_tail(struct rstream *s, struct buf *out)
{
    struct dav_req *dr = s->r->dr;
    uint64_t upto = s->truncated ? s->last : s->coll.coll.modseq;
    int rc = 0;
    if (s->truncated) {
        /* RFC 6578 §3.6: the collection itself with 507 marks a truncated answer. */
        rc |= dav_write_status(out, s->coll.href, 507);
    }
    rc |= buf_append_cstr(out, "<D:sync-token>");
    rc |= xmlout_text(out, slice_from_cstr(caldav_sync_token(dr->arena, &s->coll.coll, upto)));
    rc |= buf_append_cstr(out, "</D:sync-token>\n");
    s->done = true;
    return rc == 0 ? 1 : -1;
}

/* Rows of ETags alone go many to a call, up to DAV_MS_BATCH bytes (dav_etag_row); any
 * other row ends the call. */
static int sync_next(void *ctx, struct buf *out)
{
    struct rstream *s = ctx;
    struct dav_req *dr = s->r->dr;
    if (s->done) {
        return 0;
    }
    int rows = 0;
    while (out->len < DAV_MS_BATCH) {
        struct store_item it;
        enum store_rc rc = store_cursor_next_item(s->cur, &it);
        if (rc == STORE_NOTFOUND) {
            int t = sync_tail(s, out);
            return t < 0 ? -1 : rows + t;
        }
        if (rc != STORE_OK) {
            return -1;
        }
        /* A deleted item the client never saw (created and deleted after its token), or any
         * deletion during an initial sync, is not reported. */
        if (it.is_tombstone && (s->since == 0 || it.created_modseq > s->since)) {
            continue;
        }
        if (s->r->limit && s->sent == s->r->limit) {
            s->truncated = true;
            int t = sync_tail(s, out);
            return t < 0 ? -1 : rows + t;
        }
        s->sent++;
        s->last = it.modseq;
        rows++;
        if (!it.is_tombstone && dav_etag_row(&s->etag_rows, it.name, it.modseq, out) == 0) {
            continue;
        }
        struct arena_mark m = arena_mark(dr->arena);
        const char *href = dav_child_href(dr->arena, s->coll.href, it.name, false);
        int w;
        if (it.is_tombstone) {
            /* client-quirks.md: a response-level 404 for a deleted member */
            w = dav_write_status(out, href, 404);
        } else {
            struct dav_res res = s->coll;
            res.kind = DAV_RES_ITEM;
            res.item = it;
            res.has_parent = true;
            res.href = href;
            w = dav_child_href_is_plain(s->etag_rows.parent_plain, it.name)
                    ? dav_write_response_plain_href(dr, &res, &s->r->sel, out)
                    : dav_write_response(dr, &res, &s->r->sel, out);
        }
        arena_rewind(dr->arena, m);
        return w == 0 ? rows : -1;
    }
    return rows;
}

/* ---------------------------------------------------------------------------------------- */
/* free-busy-query (RFC 4791 §7.10): a VFREEBUSY of the busy instances in the range */

/* "YYYYMMDDTHHMMSSZ" of t; out has ICAL_UTC_LEN bytes (room the compiler can prove). */
static void ical_utc(int64_t t, char out[ICAL_UTC_LEN])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    snprintf(out, ICAL_UTC_LEN, "%04d%02d%02dT%02d%02d%02dZ", (tm.tm_year + 1900) % 10000,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static int add_period(void *ctx, int64_t start, int64_t end, enum cal_fbtype type)
{
    struct buf *out = ctx;
    char a[ICAL_UTC_LEN];
    char b[ICAL_UTC_LEN];
    ical_utc(start, a);
    ical_utc(end, b);
    static const char *const types[] = {"BUSY", "BUSY-TENTATIVE", "BUSY-UNAVAILABLE"};
    int rc = buf_append_cstr(out, "FREEBUSY;FBTYPE=");
    rc |= buf_append_cstr(out, types[type]);
    rc |= buf_putc(out, ':');
    rc |= buf_append_cstr(out, a);
    rc |= buf_putc(out, '/');
    rc |= buf_append_cstr(out, b);
    rc |= buf_append_cstr(out, "\r\n");
    return rc == 0 ? 0 : -1;
}

static int freebusy_next(void *ctx, struct buf *out)
{
    struct rstream *s = ctx;
    struct dav_req *dr = s->r->dr;
    if (s->done) {
        return 0;
    }
    if (!s->sent) {
        /* the VFREEBUSY header, once the range is known */
        char a[ICAL_UTC_LEN];
        char b[ICAL_UTC_LEN];
        ical_utc(s->r->start, a);
        ical_utc(s->r->end, b);
        s->sent = 1;
        int rc = buf_append_cstr(out, "BEGIN:VFREEBUSY\r\nDTSTAMP:");
        rc |= buf_append_cstr(out, a);
        rc |= buf_append_cstr(out, "\r\nDTSTART:");
        rc |= buf_append_cstr(out, a);
        rc |= buf_append_cstr(out, "\r\nDTEND:");
        rc |= buf_append_cstr(out, b);
        rc |= buf_append_cstr(out, "\r\n");
        return rc == 0 ? 1 : -1;
    }
    for (;;) {
        struct store_item it;
        enum store_rc rc = store_cursor_next_item(s->cur, &it);
        if (rc == STORE_NOTFOUND) {
            s->done = true;
            return buf_append_cstr(out, "END:VFREEBUSY\r\n") == 0 ? 1 : -1;
        }
        if (rc != STORE_OK) {
            return -1;
        }
        if (it.cal.comp != 0 && !(it.cal.comp & CAL_COMP_VEVENT)) {
            continue;
        }
        struct arena_mark m = arena_mark(dr->arena);
        struct store_item full;
        struct err e;
        err_init(&e);
        size_t before = out->len;
        int w = 0;
        if (store_item_get(dr->store, s->coll.coll.id, it.name, STORE_ITEM_CONTENT, dr->arena,
                           &full) == STORE_OK) {
            w = cal_busy((struct slice){full.content, full.size}, s->r->start, s->r->end, dr->arena,
                         add_period, out, &e);
        }
        arena_rewind(dr->arena, m);
        if (w < 0 && out->len == before && e.cond && e.cond != &err_cond_time_budget) {
            continue; /* a stored object that no longer parses blocks no time */
        }
        if (w != 0) {
            return -1;
        }
        if (out->len > before) {
            return 1;
        }
    }
}

/* Parses and checks a sync token against the collection; sets *since. */
static int
read_token(const char *token, const struct store_coll *c, uint64_t *since, struct err *err)
{
    *since = 0;
    if (!token || !*token) {
        return 0;
    }
    struct slice t = slice_from_cstr(token);
    struct slice prefix = SLICE_LIT(CALDAV_TOKEN_PREFIX);
    uint64_t v[3];
    if (!slice_has_prefix(t, prefix)) {
        return err_set(err, &caldav_cond_valid_sync_token, "not a sync token of this server");
    }
    t.ptr += prefix.len;
    t.len -= prefix.len;
    for (int i = 0; i < 3; i++) {
        const char *dash = i < 2 ? memchr(t.ptr, '-', t.len) : NULL;
        size_t len = dash ? (size_t)(dash - t.ptr) : t.len;
        if ((i < 2 && !dash) || parse_u64((struct slice){t.ptr, len}, &v[i]) != 0) {
            return err_set(err, &caldav_cond_valid_sync_token, "malformed sync token");
        }
        t.ptr += dash ? len + 1 : len;
        t.len -= dash ? len + 1 : len;
    }
    if (v[0] != c->id || v[1] != c->epoch || v[2] > c->modseq) {
        return err_set(err, &caldav_cond_valid_sync_token,
                       "sync token is not one of this collection's history");
    }
    if (v[2] < c->tomb_horizon) {
        return err_set(err, &caldav_cond_valid_sync_token,
                       "sync token predates retained history; sync again from empty");
    }
    *since = v[2];
    return 0;
}

static int report_run(struct dav_req *dr, struct err *err)
{
    struct report *r = dr->mstate;
    int body = dav_xml_finish(dr, err);
    if (body < 0) {
        return -1;
    }
    if (body == 1) {
        return err_set(err, &dav_cond_bad_request, "REPORT needs a body");
    }
    struct rstream *s = arena_zalloc(dr->arena, sizeof(*s));
    s->r = r;
    if (dav_begin_read(dr, err) != 0 || dav_resolve(dr, http_req_path(dr->http), &s->coll, err)) {
        return -1;
    }
    if (s->coll.kind == DAV_RES_NONE) {
        return err_set(err, &dav_cond_not_found, "no such resource");
    }
    if (dav_if_check_target(dr, &s->coll, err) != 0) {
        return -1;
    }
    if (r->kind == R_MULTIGET) {
        dav_ms_stream(dr, multiget_next, s);
        return 0;
    }
    if (s->coll.kind != DAV_RES_COLL) {
        return err_set(err, &caldav_cond_supported_report, "this report needs a collection");
    }
    arena_defer(dr->arena, close_cursor, s);
    enum store_rc rc;
    if (r->kind == R_SYNC) {
        if (read_token(r->token, &s->coll.coll, &s->since, err) != 0) {
            return -1;
        }
        /* An initial sync reports no deletion (sync_next): its rows are the live items in
         * modseq order, read without merging in the tombstones */
        rc = s->since == 0 ? store_items_open_cols(dr->store, s->coll.coll.id, STORE_ORDER_MODSEQ,
                                                   dav_propsel_cols(&r->sel), &s->cur)
                           : store_changes_open_cols(dr->store, s->coll.coll.id, s->since,
                                                     dav_propsel_cols(&r->sel), &s->cur);
        dav_etag_rows_init(&s->etag_rows, &r->sel, &s->coll);
        if (rc != STORE_OK) {
            return dav_store_err(dr, rc, err);
        }
        dav_ms_stream(dr, sync_next, s);
        return 0;
    }
    if (r->kind == R_FREEBUSY) {
        if (!r->has_range) {
            return err_set(err, &dav_cond_bad_request, "free-busy-query needs a time-range");
        }
        rc = store_items_in_range_open(dr->store, s->coll.coll.id, r->start, r->end,
                                       STORE_RANGE_INSTANCES | STORE_RANGE_CONTENT, &s->cur);
        if (rc != STORE_OK) {
            return dav_store_err(dr, rc, err);
        }
        dav_stream(dr, 200, "text/calendar; charset=utf-8",
                   "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Almanac//CalDAV//EN\r\n",
                   "END:VCALENDAR\r\n", freebusy_next, s);
        return 0;
    }
    /* the rows' content comes along when the answer or the filter reads it (query_matches) */
    bool content = r->complex || dav_propsel_cols(&r->sel) == STORE_COLS_ALL;
    rc = r->has_range ? store_items_in_range_open(
                            dr->store, s->coll.coll.id, r->start, r->end,
                            STORE_RANGE_INSTANCES | (content ? STORE_RANGE_CONTENT : 0), &s->cur)
                      : store_items_open(dr->store, s->coll.coll.id, STORE_ORDER_NAME, &s->cur);
    if (rc != STORE_OK) {
        return dav_store_err(dr, rc, err);
    }
    dav_ms_stream(dr, query_next, s);
    return 0;
}

const struct dav_method caldav_report = {.begin = report_begin, .run = report_run};
