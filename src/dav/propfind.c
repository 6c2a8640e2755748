/* dav/propfind.c: PROPFIND (RFC 4918 §9.1). Reads the body with the streaming reader
 * (allprop, propname, prop, include), answers with a multistatus streamed from store cursors
 * inside one read transaction: the resource, then for Depth 1 its child collections and its
 * items. Owns Depth and property selection; never buffers the response.
 * Conditions: dav_cond_propfind_finite_depth (403, Depth infinity or absent),
 * dav_cond_bad_depth (400), dav_cond_bad_request (400, not a propfind body),
 * dav_cond_not_found (404), xml_cond_* (400/413). */
#include <string.h>

#include "dav/ext.h"
#include "xml/xmlout.h"

/* ---------------------------------------------------------------------------------------- */
/* Body */

struct pf_parse {
    struct dav_propsel sel;
    const struct dav_req *dr;
    unsigned depth; /* element depth, root = 1 */
    bool in_prop;   /* inside <prop> or <include> at depth 2 */
    bool root_ok;   /* root element is DAV:propfind */
    bool has_mode;
};

static bool is_dav(struct slice ns, struct slice name, const char *want)
{
    return slice_eq(ns, SLICE_LIT(DAV_NS)) && slice_eq(name, slice_from_cstr(want));
}

static int pf_start(void *ctx,
                    struct slice ns,
                    struct slice name,
                    const struct xmlin_attr *attrs,
                    size_t nattrs,
                    struct err *err)
{
    (void)attrs;
    (void)nattrs;
    struct pf_parse *p = ctx;
    p->depth++;
    if (p->depth == 1) {
        if (!is_dav(ns, name, "propfind")) {
            return err_set(err, &dav_cond_bad_request, "body is not a DAV:propfind");
        }
        p->root_ok = true;
    } else if (p->depth == 2) {
        if (is_dav(ns, name, "allprop")) {
            p->sel.mode = DAV_SEL_ALLPROP;
            p->has_mode = true;
        } else if (is_dav(ns, name, "propname")) {
            p->sel.mode = DAV_SEL_PROPNAME;
            p->has_mode = true;
        } else if (is_dav(ns, name, "prop")) {
            p->sel.mode = DAV_SEL_PROP;
            p->has_mode = true;
            p->in_prop = true;
        } else if (is_dav(ns, name, "include")) {
            p->in_prop = true;
        }
    } else if (p->depth == 3 && p->in_prop) {
        return dav_propsel_add(&p->sel, p->dr, ns, name, err);
    }
    return 0;
}

static int pf_end(void *ctx, struct slice ns, struct slice name, struct err *err)
{
    (void)ns;
    (void)name;
    (void)err;
    struct pf_parse *p = ctx;
    if (p->depth == 2) {
        p->in_prop = false;
    }
    p->depth--;
    return 0;
}

static const struct xmlin_handler pf_handler = {.start = pf_start, .end = pf_end};

static int propfind_begin(struct dav_req *dr, struct err *err)
{
    (void)err;
    struct pf_parse *p = arena_zalloc(dr->arena, sizeof(*p));
    p->dr = dr;
    p->sel.mode = DAV_SEL_ALLPROP;
    dr->mstate = p;
    dav_xml_body(dr, &pf_handler, p);
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* One response */

struct dead_ctx {
    struct buf *out;
    bool names_only;
    int rc;
};

static int write_dead(void *ctx, const struct store_prop *p)
{
    struct dead_ctx *d = ctx;
    if (d->names_only) {
        d->rc |= dav_prop_empty(d->out, p->ns, p->name);
        return 0;
    }
    d->rc |= dav_prop_open(d->out, p->ns, p->name);
    d->rc |= buf_append(d->out, p->value, p->value_len);
    d->rc |= dav_prop_close(d->out, p->ns, p->name);
    return 0;
}

static bool has_dead_props(const struct dav_res *res, enum store_res_kind *kind, uint64_t *id)
{
    if (res->kind == DAV_RES_COLL) {
        *kind = STORE_RES_COLL;
        *id = res->coll.id;
        return true;
    }
    if (res->kind == DAV_RES_ITEM) {
        *kind = STORE_RES_ITEM;
        *id = res->item.id;
        return true;
    }
    return false;
}

/* Appends a live property with its value to `out`; returns 0 written, 1 not applicable. The
 * tags are the requested name's, made when it was parsed (pn; NULL for allprop, or when they
 * could not be made), else written here. */
static int write_live(struct dav_req *dr,
                      const struct dav_res *res,
                      const struct dav_live_prop *lp,
                      const struct dav_propname *pn,
                      struct buf *out)
{
    if (!lp->get) {
        return 1;
    }
    size_t mark = out->len;
    int rc = pn && pn->open_tag ? buf_append(out, pn->open_tag, pn->open_len)
                                : dav_prop_open_typed(out, lp->ns, lp->name, lp->flags);
    if (rc != 0) {
        return -1;
    }
    rc = lp->get(dr, res, out);
    if (rc == 1) {
        out->len = mark;
        out->data[mark] = '\0';
        return 1;
    }
    if (rc != 0 || (pn && pn->close_tag ? buf_append(out, pn->close_tag, pn->close_len)
                                        : dav_prop_close(out, lp->ns, lp->name)) != 0) {
        return -1;
    }
    return 0;
}

/* One requested name: live first, then dead. Returns 0 found (in found), 1 missing. */
static int write_named(struct dav_req *dr,
                       const struct dav_res *res,
                       const struct dav_propname *pn,
                       struct buf *found,
                       struct buf *missing)
{
    if (pn->live) {
        int rc = write_live(dr, res, pn->live, pn, found);
        if (rc <= 0) {
            return rc;
        }
    }
    enum store_res_kind kind;
    uint64_t id;
    if (has_dead_props(res, &kind, &id)) {
        struct store_prop sp;
        enum store_rc src = store_prop_get(dr->store, kind, id, pn->ns, pn->name, dr->arena, &sp);
        if (src == STORE_OK) {
            int rc = dav_prop_open(found, sp.ns, sp.name);
            rc |= buf_append(found, sp.value, sp.value_len);
            rc |= dav_prop_close(found, sp.ns, sp.name);
            return rc == 0 ? 0 : -1;
        }
        if (src != STORE_NOTFOUND) {
            return -1;
        }
    }
    return dav_prop_empty(missing, pn->ns, pn->name) == 0 ? 1 : -1;
}

static int
write_all(struct dav_req *dr, const struct dav_res *res, bool names_only, struct buf *found)
{
    size_t n = dav_live_prop_count(dr);
    struct buf probe;
    buf_init(&probe, dav_row_limit(dr));
    int rc = 0;
    for (size_t i = 0; i < n && rc >= 0; i++) {
        const struct dav_live_prop *p = dav_live_prop_at(dr, i);
        if (!names_only && !(p->flags & DAV_PROP_ALLPROP)) {
            continue;
        }
        if (names_only) {
            buf_reset(&probe);
            int g = p->get && !(p->flags & DAV_PROP_EXPENSIVE) ? p->get(dr, res, &probe) : 1;
            if (g == 0) {
                rc = dav_prop_empty(found, p->ns, p->name);
            } else if (g < 0) {
                rc = -1;
            }
        } else if (write_live(dr, res, p, NULL, found) < 0) {
            rc = -1;
        }
    }
    buf_deinit(&probe);
    enum store_res_kind kind;
    uint64_t id;
    if (rc >= 0 && has_dead_props(res, &kind, &id)) {
        struct dead_ctx d = {found, names_only, 0};
        if (store_prop_list(dr->store, kind, id, write_dead, &d) != STORE_OK || d.rc != 0) {
            rc = -1;
        }
    }
    return rc < 0 ? -1 : 0;
}

static int propstat_tail(struct buf *out, unsigned status)
{
    int rc = buf_append_cstr(out, "</D:prop><D:status>");
    rc |= buf_append_cstr(out, dav_status_line(status));
    rc |= buf_append_cstr(out, "</D:status></D:propstat>");
    return rc == 0 ? 0 : -1;
}

/* Takes back what a response wrote past `mark` (a row that failed half-way, usually the
 * answer's limit); returns -1. */
static int take_back(struct buf *out, size_t mark)
{
    out->len = mark;
    if (out->data) {
        out->data[mark] = '\0';
    }
    return -1;
}

/* A response whose only property is an item's getetag (what a syncing client asks of every
 * member, so most rows of a Depth-1 PROPFIND and of a sync-collection): the same bytes as
 * the general path below, written by copies of known lengths into room taken once. That
 * path's per-row dispatch (the name's lookup, the getter, the propstat bookkeeping) was about
 * 350 of a row's 2,560 instructions (issue 16 item 1). */
static const char etag_head[] = "<D:response><D:href>";
static const char etag_mid[] = "</D:href><D:propstat><D:prop>";
static const char etag_tail[] = "</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>"
                                "</D:response>\n";

/* The row of an item whose href is `prefix` (written as it is) then `seg` percent-encoded as
 * a path segment (empty: none), the href needing no XML escaping. 0 when written; 1 when the
 * worst case would pass the answer's limit or the href's, nothing written: the general path
 * then writes it, or fails, with exact lengths. */
static int etag_row(struct buf *out,
                    const struct dav_propname *pn,
                    struct slice prefix,
                    struct slice seg,
                    const struct store_coll *coll,
                    uint64_t modseq)
{
    if (prefix.len + 3 * seg.len > BUF_LIMIT_HREF * 2) {
        return 1; /* dav_child_href's own answer for such a name */
    }
    size_t bound = sizeof(etag_head) - 1 + prefix.len + 3 * seg.len + sizeof(etag_mid) - 1 +
                   pn->open_len + DAV_ETAG_LEN + pn->close_len + sizeof(etag_tail) - 1;
    char *o = buf_room(out, bound);
    if (!o) {
        return 1;
    }
    char *start = o;
    memcpy(o, etag_head, sizeof(etag_head) - 1);
    o += sizeof(etag_head) - 1;
    memcpy(o, prefix.ptr, prefix.len);
    o += prefix.len;
    o += http_path_encode_segment_to(o, seg);
    memcpy(o, etag_mid, sizeof(etag_mid) - 1);
    o += sizeof(etag_mid) - 1;
    memcpy(o, pn->open_tag, pn->open_len);
    o += pn->open_len;
    dav_etag_format(o, coll, modseq);
    o += DAV_ETAG_LEN;
    memcpy(o, pn->close_tag, pn->close_len);
    o += pn->close_len;
    memcpy(o, etag_tail, sizeof(etag_tail) - 1);
    o += sizeof(etag_tail) - 1;
    buf_advance(out, (size_t)(o - start));
    return 0;
}

void dav_etag_rows_init(struct dav_etag_rows *w,
                        const struct dav_propsel *sel,
                        const struct dav_res *coll)
{
    w->parent = slice_from_cstr(coll->href);
    w->parent_plain = xmlout_text_is_plain(w->parent);
    w->pn = w->parent_plain ? dav_propsel_etag_only(sel) : NULL;
    w->coll = &coll->coll;
}

int dav_etag_row(const struct dav_etag_rows *w, const char *name, uint64_t modseq, struct buf *out)
{
    if (!w->pn || !dav_child_href_is_plain(w->parent_plain, name)) {
        return 1;
    }
    return etag_row(out, w->pn, w->parent, slice_from_cstr(name), w->coll, modseq);
}

/* The found properties are written in place, straight after the 200 propstat's opening tags
 * in `out`, which are taken back when there are none but there are missing ones; only the
 * missing ones (rare: a buf allocates nothing until its first byte) go through a second buf.
 * A copy per row and two heap buffers per row cost a Depth-1 PROPFIND 10% (issue 16). */
static int write_response(struct dav_req *dr,
                          const struct dav_res *res,
                          bool plain_href,
                          const struct dav_propsel *sel,
                          struct buf *out)
{
    const struct dav_propname *etag =
        plain_href && res->kind == DAV_RES_ITEM ? dav_propsel_etag_only(sel) : NULL;
    if (etag && etag_row(out, etag, slice_from_cstr(res->href), (struct slice){0}, &res->coll,
                         res->item.modseq) == 0) {
        return 0;
    }
    const size_t mark = out->len;
    struct buf missing;
    buf_init(&missing, dav_row_limit(dr));
    int rc = buf_append_cstr(out, "<D:response><D:href>");
    rc |=
        plain_href ? buf_append_cstr(out, res->href) : xmlout_text(out, slice_from_cstr(res->href));
    rc |= buf_append_cstr(out, "</D:href>");
    const size_t propstat = out->len;
    rc |= buf_append_cstr(out, "<D:propstat><D:prop>");
    const size_t props = out->len;
    if (rc != 0) {
        rc = -1;
    } else if (sel->mode == DAV_SEL_PROP) {
        for (size_t i = 0; i < sel->n && rc == 0; i++) {
            rc = write_named(dr, res, &sel->names[i], out, &missing) < 0 ? -1 : 0;
        }
    } else {
        rc = write_all(dr, res, sel->mode == DAV_SEL_PROPNAME, out);
        for (size_t i = 0; i < sel->n && rc == 0; i++) {
            /* allprop + include: names the allprop set left out */
            const struct dav_live_prop *lp = sel->names[i].live;
            if (lp && !(lp->flags & DAV_PROP_ALLPROP)) {
                rc = write_live(dr, res, lp, &sel->names[i], out) < 0 ? -1 : 0;
            }
        }
    }
    if (rc == 0) {
        if (out->len > props || missing.len == 0) {
            rc |= propstat_tail(out, 200);
        } else {
            out->len = propstat; /* no 200 propstat: every name was missing */
            out->data[propstat] = '\0';
        }
        if (missing.len > 0) {
            rc |= buf_append_cstr(out, "<D:propstat><D:prop>");
            rc |= buf_append(out, missing.data, missing.len);
            rc |= propstat_tail(out, 404);
        }
        rc |= buf_append_cstr(out, "</D:response>\n");
    }
    buf_deinit(&missing);
    return rc == 0 ? 0 : take_back(out, mark);
}

int dav_write_response(struct dav_req *dr,
                       const struct dav_res *res,
                       const struct dav_propsel *sel,
                       struct buf *out)
{
    return write_response(dr, res, false, sel, out);
}

int dav_write_response_plain_href(struct dav_req *dr,
                                  const struct dav_res *res,
                                  const struct dav_propsel *sel,
                                  struct buf *out)
{
    return write_response(dr, res, true, sel, out);
}

/* ---------------------------------------------------------------------------------------- */
/* The stream */

enum pf_phase {
    PF_SELF,
    PF_FIXED,
    PF_COLLS,
    PF_ITEMS,
    PF_DONE
};

struct pf_stream {
    struct dav_req *dr;
    const struct dav_propsel *sel;
    struct dav_res self;
    int depth;
    enum pf_phase phase;
    struct store_cursor *cur;
    struct dav_members members; /* PF_COLLS: open when has_members */
    bool has_members;
    int fixed;                      /* PF_FIXED: next synthetic child */
    struct dav_etag_rows etag_rows; /* PF_ITEMS: the rows of a getetag-only selection */
};

static void close_cursor(void *p)
{
    struct pf_stream *s = p;
    store_cursor_close(&s->cur);
    if (s->has_members) {
        dav_members_close(&s->members);
        s->has_members = false;
    }
}

/* Synthetic children of the non-store resources; returns false when there are no more. */
static bool fixed_child(struct pf_stream *s, struct dav_res *r)
{
    struct dav_req *dr = s->dr;
    memset(r, 0, sizeof(*r));
    r->user = dr->user;
    int i = s->fixed++;
    switch (s->self.kind) {
    case DAV_RES_ROOT:
        if (i == 0) {
            r->kind = DAV_RES_PRINCIPALS;
            r->href = "/principals/";
            return true;
        }
        if (i == 1) {
            r->kind = DAV_RES_CALROOT;
            r->href = "/calendars/";
            return true;
        }
        return false;
    case DAV_RES_PRINCIPALS:
        if (i == 0) {
            r->kind = DAV_RES_PRINCIPAL;
            r->href = dav_child_href(dr->arena, "/principals/", dr->user, true);
            return true;
        }
        return false;
    case DAV_RES_CALROOT:
        if (i == 0) {
            /* the user's home below this root: /calendars/ or /exchange/ */
            const char *path = dav_child_href(dr->arena, s->self.href, dr->user, true);
            struct err e;
            err_init(&e);
            if (dav_resolve(dr, arena_printf(dr->arena, "%s%s/", s->self.href, dr->user), r, &e) ==
                    0 &&
                r->kind == DAV_RES_COLL) {
                r->href = path;
                return true;
            }
        }
        return false;
    default:
        return false;
    }
}

static int pf_next(void *ctx, struct buf *out)
{
    struct pf_stream *s = ctx;
    struct dav_req *dr = s->dr;
    struct arena_mark m = arena_mark(dr->arena);
    int rc = -1;
    struct dav_res r;
    for (;;) {
        switch (s->phase) {
        case PF_SELF:
            s->phase = s->depth == 0 ? PF_DONE : s->self.kind == DAV_RES_COLL ? PF_COLLS : PF_FIXED;
            if (s->self.kind == DAV_RES_ITEM) {
                s->phase = PF_DONE;
            }
            rc = dav_write_response(dr, &s->self, s->sel, out) == 0 ? 1 : -1;
            goto out;
        case PF_FIXED:
            if (fixed_child(s, &r)) {
                rc = dav_write_response(dr, &r, s->sel, out) == 0 ? 1 : -1;
                goto out;
            }
            s->phase = PF_DONE;
            continue;
        case PF_COLLS: {
            /* opened by propfind_run (the home's shares are read before the stream) */
            int mr = dav_members_next(&s->members, &r);
            if (mr == 1) {
                rc = dav_write_response(dr, &r, s->sel, out) == 0 ? 1 : -1;
                goto out;
            }
            if (mr < 0) {
                goto out;
            }
            dav_members_close(&s->members);
            s->has_members = false;
            if (store_items_open_cols(dr->store, s->self.coll.id, STORE_ORDER_NAME,
                                      dav_propsel_cols(s->sel), &s->cur) != STORE_OK) {
                goto out;
            }
            s->phase = PF_ITEMS;
            dav_etag_rows_init(&s->etag_rows, s->sel, &s->self);
            continue;
        }
        case PF_ITEMS: {
            /* Rows of ETags alone go many to a call, up to DAV_MS_BATCH bytes: a call a row
             * cost the answer 5% of its instructions (issue 16). */
            struct store_item it;
            enum store_rc src = STORE_OK;
            int rows = 0;
            bool full = false;
            while (!full && (src = store_cursor_next_item(s->cur, &it)) == STORE_OK) {
                if (dav_etag_row(&s->etag_rows, it.name, it.modseq, out) != 0) {
                    break; /* `it` goes through the general path */
                }
                rows++;
                full = out->len >= DAV_MS_BATCH;
            }
            if (full) {
                rc = rows;
                goto out;
            }
            if (src == STORE_OK) {
                memset(&r, 0, sizeof(r));
                r.item = it;
                r.kind = DAV_RES_ITEM;
                r.user = dr->user;
                r.in_home = true;
                r.access = s->self.access;
                r.share = s->self.share;
                r.coll = s->self.coll;
                r.has_parent = true;
                r.href = dav_child_href(dr->arena, s->self.href, r.item.name, false);
                rc = (dav_child_href_is_plain(s->etag_rows.parent_plain, r.item.name)
                          ? dav_write_response_plain_href(dr, &r, s->sel, out)
                          : dav_write_response(dr, &r, s->sel, out)) == 0
                         ? rows + 1
                         : -1;
                goto out;
            }
            if (src != STORE_NOTFOUND) {
                goto out;
            }
            /* the end: closed now, since a finished cursor must not be stepped again */
            store_cursor_close(&s->cur);
            s->phase = PF_DONE;
            if (rows > 0) {
                rc = rows;
                goto out;
            }
            continue;
        }
        case PF_DONE:
            rc = 0;
            goto out;
        }
    }
out:
    arena_rewind(dr->arena, m);
    return rc;
}

static int propfind_run(struct dav_req *dr, struct err *err)
{
    struct pf_parse *p = dr->mstate;
    int body = dav_xml_finish(dr, err);
    if (body < 0) {
        return -1;
    }
    if (body == 0 && !p->has_mode) {
        return err_set(err, &dav_cond_bad_request, "propfind names no allprop, propname or prop");
    }
    int depth;
    if (dav_depth(dr, -1, &depth, err) != 0) {
        return -1;
    }
    if (depth < 0) {
        return err_set(err, &dav_cond_propfind_finite_depth, "Depth infinity is not supported");
    }
    struct pf_stream *s = arena_zalloc(dr->arena, sizeof(*s));
    s->dr = dr;
    s->sel = &p->sel;
    s->depth = depth;
    if (dav_begin_read(dr, err) != 0 || dav_resolve(dr, http_req_path(dr->http), &s->self, err)) {
        return -1;
    }
    if (s->self.kind == DAV_RES_NONE) {
        return err_set(err, &dav_cond_not_found, "no such resource");
    }
    if (dav_if_check_target(dr, &s->self, err) != 0) {
        return -1;
    }
    arena_defer(dr->arena, close_cursor, s);
    if (depth == 1 && s->self.kind == DAV_RES_COLL) {
        if (dav_members_open(dr, &s->self, &s->members, err) != 0) {
            return -1;
        }
        s->has_members = true;
    }
    /* Everything the stream allocates per row is rewound; keep the request's part below. */
    dav_ms_stream(dr, pf_next, s);
    return 0;
}

const struct dav_method dav_propfind = {.begin = propfind_begin, .run = propfind_run};
