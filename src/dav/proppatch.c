/* dav/proppatch.c: PROPPATCH (RFC 4918 §9.2). Reads <propertyupdate> with the streaming
 * reader, keeping each property's value as serialized XML (children re-declare their
 * namespaces, so a value reads the same wherever it is written back). Applies every
 * instruction in document order inside one write transaction: all succeed or none do
 * (§9.2: the failed ones carry their status, the rest 424 Failed Dependency). An extension's
 * proppatch hook (struct dav_ext) may first claim instructions and write the item's content
 * itself, or create the item on an unmapped URL (exchange-replication.md §4.7); its failed
 * instructions carry their own condition in the 207. Item answers carry ETag and the
 * extensions' item headers (ResourceTag, Repl-UID).
 * Conditions: dav_cond_not_found (404), dav_cond_bad_request (400), dav_cond_forbidden (403,
 * a resource without dead properties), per property: cannot-modify-protected-property (403),
 * too-many-properties (507); dav_cond_need_privileges (403: the access rule on a shared
 * calendar, issue 12: DAV:write-properties). */
#include <assert.h>
#include <string.h>

#include "dav/dav_int.h"
#include "dav/ext.h"
#include "xml/xmlout.h"

enum pp_op {
    PP_SET,
    PP_REMOVE
};

struct pp_item {
    struct pp_item *next;
    enum pp_op op;
    const char *ns;
    const char *name;
    struct buf value;            /* serialized inner XML (PP_SET) */
    struct buf text;             /* the character data directly inside the property element */
    struct buf mv;               /* the text of each child element, each ending with a NUL */
    size_t nmv;                  /* child elements */
    const char *dt;              /* the dt:dt attribute (exchange-replication.md §4.1), or NULL */
    unsigned status;             /* result */
    bool taken;                  /* consumed by the method (extended MKCOL's resourcetype) */
    const struct err_cond *cond; /* why a claimed instruction failed (dav_propupdate_claim) */
    const char *msg;
};

struct pp_parse {
    struct dav_req *dr;
    const char *root_ns; /* the root element expected: DAV:propertyupdate, C:mkcalendar... */
    const char *root_name;
    const struct err_cond *wrong_root; /* raised when the root element is another */
    unsigned depth;
    enum pp_op op;
    bool in_op;   /* inside set/remove at depth 2 */
    bool in_prop; /* inside prop at depth 3 */
    bool root_ok;
    size_t count;
    struct pp_item *head;
    struct pp_item *tail;
    struct pp_item *cur; /* the property being read (depth >= 4) */
};

static bool is_dav(struct slice ns, struct slice name, const char *want)
{
    return slice_eq(ns, SLICE_LIT(DAV_NS)) && slice_eq(name, slice_from_cstr(want));
}

static int value_tag(struct buf *b, struct slice ns, struct slice name, bool close)
{
    int rc;
    if (close) {
        rc = ns.len ? buf_append_cstr(b, "</V:") : buf_append_cstr(b, "</");
        rc |= buf_append_slice(b, name);
        return (rc | buf_putc(b, '>')) == 0 ? 0 : -1;
    }
    rc = ns.len ? buf_append_cstr(b, "<V:") : buf_putc(b, '<');
    rc |= buf_append_slice(b, name);
    if (ns.len) {
        rc |= buf_append_cstr(b, " xmlns:V=\"");
        rc |= xmlout_attr(b, ns);
        rc |= buf_putc(b, '"');
    } else {
        rc |= buf_append_cstr(b, " xmlns=\"\"");
    }
    return rc == 0 ? 0 : -1;
}

/* Each attribute in a namespace declares a prefix of its own, W, W1, W2...: two of them
 * sharing W would declare xmlns:W twice on one element, which is not XML (a value that then
 * breaks every PROPFIND answer carrying it; found by tests/fuzz/fuzz_proppatch.c). */
static int value_attrs(struct buf *b, const struct xmlin_attr *attrs, size_t nattrs)
{
    int rc = 0;
    size_t prefixes = 0;
    for (size_t i = 0; i < nattrs; i++) {
        if (slice_eq(attrs[i].ns, SLICE_LIT("http://www.w3.org/XML/1998/namespace"))) {
            rc |= buf_append_cstr(b, " xml:");
        } else if (attrs[i].ns.len) {
            rc |= prefixes ? buf_appendf(b, " xmlns:W%zu=\"", prefixes)
                           : buf_append_cstr(b, " xmlns:W=\"");
            rc |= xmlout_attr(b, attrs[i].ns);
            rc |= prefixes ? buf_appendf(b, "\" W%zu:", prefixes) : buf_append_cstr(b, "\" W:");
            prefixes++;
        } else {
            rc |= buf_putc(b, ' ');
        }
        rc |= buf_append_slice(b, attrs[i].name);
        rc |= buf_append_cstr(b, "=\"");
        rc |= xmlout_attr(b, attrs[i].value);
        rc |= buf_putc(b, '"');
    }
    return rc == 0 ? 0 : -1;
}

static void free_items(void *p)
{
    struct pp_parse *pp = p;
    for (struct pp_item *it = pp->head; it; it = it->next) {
        buf_deinit(&it->value);
        buf_deinit(&it->text);
        buf_deinit(&it->mv);
    }
}

static int pp_start(void *ctx,
                    struct slice ns,
                    struct slice name,
                    const struct xmlin_attr *attrs,
                    size_t nattrs,
                    struct err *err)
{
    struct pp_parse *p = ctx;
    p->depth++;
    if (p->depth == 1) {
        if (!slice_eq(ns, slice_from_cstr(p->root_ns)) ||
            !slice_eq(name, slice_from_cstr(p->root_name))) {
            return err_set(err, p->wrong_root, "body is not a %s", p->root_name);
        }
        p->root_ok = true;
    } else if (p->depth == 2) {
        p->in_op = is_dav(ns, name, "set") || is_dav(ns, name, "remove");
        p->op = is_dav(ns, name, "remove") ? PP_REMOVE : PP_SET;
    } else if (p->depth == 3) {
        p->in_prop = p->in_op && is_dav(ns, name, "prop");
    } else if (p->depth == 4 && p->in_prop) {
        if (p->count == DAV_MAX_PROPS_REQUESTED) {
            return err_set(err, &dav_cond_bad_request, "more than %d properties in a PROPPATCH",
                           DAV_MAX_PROPS_REQUESTED);
        }
        struct arena *a = p->dr->arena;
        struct pp_item *it = arena_zalloc(a, sizeof(*it));
        it->op = p->op;
        it->ns = arena_slicedup(a, ns);
        it->name = arena_slicedup(a, name);
        buf_init(&it->value, BUF_LIMIT_PROP_VALUE);
        buf_init(&it->text, BUF_LIMIT_PROP_VALUE);
        buf_init(&it->mv, BUF_LIMIT_PROP_VALUE);
        for (size_t i = 0; i < nattrs; i++) {
            if (slice_eq(attrs[i].ns, SLICE_LIT(DAV_NS_DT)) &&
                slice_eq(attrs[i].name, SLICE_LIT("dt"))) {
                it->dt = arena_slicedup(a, attrs[i].value);
            }
        }
        if (p->tail) {
            p->tail->next = it;
        } else {
            p->head = it;
        }
        p->tail = it;
        p->cur = it;
        p->count++;
    } else if (p->depth > 4 && p->cur) {
        if (value_tag(&p->cur->value, ns, name, false) != 0 ||
            value_attrs(&p->cur->value, attrs, nattrs) != 0 || buf_putc(&p->cur->value, '>')) {
            return err_set(err, &dav_cond_bad_request, "property value exceeds %d bytes",
                           BUF_LIMIT_PROP_VALUE);
        }
    }
    return 0;
}

static int pp_end(void *ctx, struct slice ns, struct slice name, struct err *err)
{
    struct pp_parse *p = ctx;
    if (p->depth > 4 && p->cur) {
        if (p->depth == 5) {
            p->cur->nmv++;
            if (buf_putc(&p->cur->mv, '\0') != 0) {
                return err_set(err, &dav_cond_bad_request, "property value exceeds %d bytes",
                               BUF_LIMIT_PROP_VALUE);
            }
        }
        if (value_tag(&p->cur->value, ns, name, true) != 0) {
            return err_set(err, &dav_cond_bad_request, "property value exceeds %d bytes",
                           BUF_LIMIT_PROP_VALUE);
        }
    } else if (p->depth == 4) {
        p->cur = NULL;
    }
    p->depth--;
    return 0;
}

static int pp_text(void *ctx, struct slice text, struct err *err)
{
    struct pp_parse *p = ctx;
    if (!p->cur || p->depth < 4) {
        return 0;
    }
    struct buf *raw = p->depth == 4 ? &p->cur->text : p->depth == 5 ? &p->cur->mv : NULL;
    if (xmlout_text(&p->cur->value, text) != 0 || (raw && buf_append_slice(raw, text) != 0)) {
        return err_set(err, &dav_cond_bad_request, "property value exceeds %d bytes",
                       BUF_LIMIT_PROP_VALUE);
    }
    return 0;
}

static const struct xmlin_handler pp_handler = {.start = pp_start, .end = pp_end, .text = pp_text};

struct dav_propupdate *dav_propupdate_begin(struct dav_req *dr,
                                            const char *root_ns,
                                            const char *root_name,
                                            const struct err_cond *wrong_root)
{
    struct pp_parse *p = arena_zalloc(dr->arena, sizeof(*p));
    p->dr = dr;
    p->root_ns = root_ns;
    p->root_name = root_name;
    p->wrong_root = wrong_root;
    arena_defer(dr->arena, free_items, p);
    dav_xml_body(dr, &pp_handler, p);
    return (struct dav_propupdate *)p;
}

const char *dav_propupdate_take(struct dav_propupdate *pu, const char *ns, const char *name)
{
    struct pp_parse *p = (struct pp_parse *)pu;
    for (struct pp_item *it = p->head; it; it = it->next) {
        if (it->op == PP_SET && !it->taken && strcmp(it->ns, ns) == 0 &&
            strcmp(it->name, name) == 0) {
            it->taken = true;
            return buf_cstr(&it->value);
        }
    }
    return NULL;
}

static struct pp_item *item_at(struct dav_propupdate *pu, size_t i)
{
    struct pp_item *it = ((struct pp_parse *)pu)->head;
    while (it && i-- > 0) {
        it = it->next;
    }
    return it;
}

bool dav_propupdate_get(struct dav_propupdate *pu, size_t i, struct dav_pp_instr *out)
{
    struct pp_item *it = item_at(pu, i);
    if (!it) {
        return false;
    }
    struct arena *a = ((struct pp_parse *)pu)->dr->arena;
    const char **values = arena_alloc(a, sizeof(*values) * (it->nmv ? it->nmv : 1));
    const char *v = it->mv.data;
    for (size_t k = 0; k < it->nmv; k++) {
        values[k] = v;
        v += strlen(v) + 1;
    }
    *out = (struct dav_pp_instr){
        .remove = it->op == PP_REMOVE,
        .claimed = it->taken,
        .ns = it->ns,
        .name = it->name,
        .text = buf_cstr(&it->text),
        .values = values,
        .nvalues = it->nmv,
        .dt = it->dt,
    };
    return true;
}

void dav_propupdate_claim(struct dav_propupdate *pu,
                          size_t i,
                          const struct err_cond *cond,
                          const char *msg)
{
    struct pp_item *it = item_at(pu, i);
    assert(it && !it->taken);
    it->taken = true;
    it->cond = cond;
    it->msg = msg ? arena_strdup(((struct pp_parse *)pu)->dr->arena, msg) : NULL;
    it->status = cond ? cond->http_status : 0;
}

static int proppatch_begin(struct dav_req *dr, struct err *err)
{
    (void)err;
    dr->mstate = dav_propupdate_begin(dr, DAV_NS, "propertyupdate", &dav_cond_bad_request);
    return 0;
}

static int count_prop(void *ctx, const struct store_prop *p)
{
    (void)p;
    (*(size_t *)ctx)++;
    return 0;
}

/* Applies the instructions; returns 0 when all succeeded, 1 when one failed (statuses set),
 * -1 on a store failure. */
static int apply(struct dav_req *dr, struct pp_parse *p, const struct dav_res *res)
{
    enum store_res_kind kind = res->kind == DAV_RES_COLL ? STORE_RES_COLL : STORE_RES_ITEM;
    uint64_t id = res->kind == DAV_RES_COLL ? res->coll.id : res->item.id;
    bool failed = false;
    for (struct pp_item *it = p->head; it; it = it->next) {
        if (it->taken) {
            it->status = it->status ? it->status : 200;
            failed |= it->status != 200;
            continue;
        }
        const struct dav_live_prop *lp =
            dav_live_prop_find(dr, slice_from_cstr(it->ns), slice_from_cstr(it->name));
        if (lp && (lp->flags & DAV_PROP_PROTECTED)) {
            it->status = 403;
            failed = true;
            continue;
        }
        enum store_rc rc;
        if (it->op == PP_SET) {
            struct store_prop sp = {it->ns, it->name, buf_cstr(&it->value), it->value.len};
            rc = store_prop_set(dr->store, kind, id, &sp);
        } else {
            rc = store_prop_del(dr->store, kind, id, it->ns, it->name);
        }
        if (rc != STORE_OK) {
            return -1;
        }
        it->status = 200;
    }
    size_t n = 0;
    if (store_prop_list(dr->store, kind, id, count_prop, &n) != STORE_OK) {
        return -1;
    }
    if (n > dr->core->app->limits.max_dead_props) {
        for (struct pp_item *it = p->head; it; it = it->next) {
            if (it->op == PP_SET && it->status == 200 && !it->taken) {
                it->status = 507;
            }
        }
        failed = true;
    }
    if (failed) {
        for (struct pp_item *it = p->head; it; it = it->next) {
            if (it->status == 200) {
                it->status = 424;
            }
        }
        return 1;
    }
    return 0;
}

/* One propstat for an instruction an extension failed: its status, the condition's element
 * and the A:reason/A:message of docs/errors.md. */
static int write_failed(struct buf *b, const struct pp_item *it)
{
    const struct err_cond *c = it->cond;
    int rc = buf_append_cstr(b, "<D:propstat><D:prop>");
    rc |= dav_prop_empty(b, it->ns, it->name);
    rc |= buf_appendf(b, "</D:prop><D:status>%s</D:status><D:error>",
                      dav_status_line(c->http_status));
    if (c->ns && strcmp(c->ns, DAV_NS) == 0) {
        rc |= buf_appendf(b, "<D:%s/>", c->name);
    } else if (c->ns) {
        rc |= buf_appendf(b, "<P:%s xmlns:P=\"", c->name);
        rc |= xmlout_attr(b, slice_from_cstr(c->ns));
        rc |= buf_append_cstr(b, "\"/>");
    }
    rc |= buf_appendf(b, "<A:reason>%s</A:reason><A:message>", c->name);
    rc |= xmlout_text(b, slice_from_cstr(it->msg ? it->msg : ""));
    rc |= buf_append_cstr(b, "</A:message></D:error></D:propstat>");
    return rc;
}

static int write_answer(struct dav_req *dr, struct pp_parse *p, const char *href, struct err *err)
{
    static const unsigned statuses[] = {200, 403, 424, 507};
    /* instructions an extension failed, each with its own condition and message */
    struct buf b;
    buf_init(&b, dav_row_limit(dr) * 2);
    int rc = xmlout_decl(&b);
    rc |= buf_append_cstr(&b, "<D:multistatus" DAV_XMLNS "><D:response><D:href>");
    rc |= xmlout_text(&b, slice_from_cstr(href));
    rc |= buf_append_cstr(&b, "</D:href>");
    for (struct pp_item *it = p->head; it; it = it->next) {
        if (it->cond) {
            rc |= write_failed(&b, it);
        }
    }
    for (size_t s = 0; s < ALM_ARRAY_LEN(statuses); s++) {
        bool any = false;
        for (struct pp_item *it = p->head; it; it = it->next) {
            if (it->status != statuses[s] || it->cond) {
                continue;
            }
            if (!any) {
                rc |= buf_append_cstr(&b, "<D:propstat><D:prop>");
                any = true;
            }
            rc |= dav_prop_empty(&b, it->ns, it->name);
        }
        if (any) {
            rc |= buf_appendf(&b, "</D:prop><D:status>%s</D:status>", dav_status_line(statuses[s]));
            if (statuses[s] == 403) {
                rc |= buf_append_cstr(&b, "<D:error><D:cannot-modify-protected-property/>"
                                          "</D:error>");
            }
            rc |= buf_append_cstr(&b, "</D:propstat>");
        }
    }
    rc |= buf_append_cstr(&b, "</D:response></D:multistatus>\n");
    if (rc != 0) {
        buf_deinit(&b);
        return err_set(err, &dav_cond_bad_request, "answer too large");
    }
    dav_xml_answer(dr, 207, &b);
    buf_deinit(&b);
    return 0;
}

/* The extensions' PROPPATCH hooks (struct dav_ext): 0 when one wrote the item (*written),
 * 1 when none claimed anything, 2 when a claimed instruction failed, -1 with err. */
static int ext_proppatch(struct dav_req *dr,
                         struct dav_res *res,
                         struct pp_parse *p,
                         struct store_item *written,
                         struct err *err)
{
    for (size_t e = 0; e < dr->core->app->next; e++) {
        const struct dav_ext *ext = dr->core->app->ext[e];
        if (!ext->proppatch) {
            continue;
        }
        int rc = ext->proppatch(dr, res, (struct dav_propupdate *)p, written, err);
        if (rc != 1) {
            return rc;
        }
    }
    return 1;
}

/* RFC 4918 §9.2: once one instruction failed, every other one is 424 Failed Dependency. */
static void fail_rest(struct pp_parse *p)
{
    for (struct pp_item *it = p->head; it; it = it->next) {
        if (!it->status || it->status == 200) {
            it->status = 424;
        }
    }
}

static int proppatch_run(struct dav_req *dr, struct err *err)
{
    struct pp_parse *p = dr->mstate;
    int body = dav_xml_finish(dr, err);
    if (body < 0) {
        return -1;
    }
    if (body == 1) {
        return err_set(err, &dav_cond_bad_request, "PROPPATCH needs a propertyupdate body");
    }
    struct dav_res res;
    if (dav_begin_write(dr, err) != 0 || dav_resolve(dr, http_req_path(dr->http), &res, err)) {
        return -1;
    }
    if (res.kind == DAV_RES_NONE && (!res.has_parent || res.foreign)) {
        return err_set(err, &dav_cond_not_found, "no such resource");
    }
    if (res.kind != DAV_RES_COLL && res.kind != DAV_RES_ITEM && res.kind != DAV_RES_NONE) {
        return err_set(err, &dav_cond_forbidden, "this resource has no writable properties");
    }
    if (dav_if_check(dr, &res,
                     res.kind == DAV_RES_ITEM ? dav_etag(dr->arena, &res.coll, res.item.modseq)
                                              : NULL,
                     err) != 0) {
        return -1;
    }
    /* issue 12: a sharee writes members' properties (read-write), never the collection's */
    enum dav_write_op op = res.kind == DAV_RES_COLL   ? DAV_OP_COLL_PROPS
                           : res.kind == DAV_RES_ITEM ? DAV_OP_ITEM_PROPS
                                                      : DAV_OP_PUT;
    if (dav_check_write(dr, &res.coll, res.href, op, err) != 0) {
        return -1;
    }
    /* exchange-replication.md §4.7: an extension may edit the item's content, or create one */
    struct store_item written;
    int hk = res.kind == DAV_RES_COLL ? 1 : ext_proppatch(dr, &res, p, &written, err);
    if (hk < 0) {
        return -1;
    }
    if (res.kind == DAV_RES_NONE && hk == 1) {
        return err_set(err, &dav_cond_not_found, "no such resource");
    }
    if (hk == 2) {
        store_rollback(dr->store);
        fail_rest(p);
        return write_answer(dr, p, res.href, err);
    }
    if (hk == 0) {
        res.kind = DAV_RES_ITEM;
        res.item = written;
    }
    int rc = apply(dr, p, &res);
    if (rc < 0) {
        return dav_store_err(dr, STORE_IO, err);
    }
    if (rc == 1) {
        store_rollback(dr->store);
        return write_answer(dr, p, res.href, err);
    }
    enum store_rc src = STORE_OK;
    if (res.kind == DAV_RES_COLL) {
        src = store_coll_touch(dr->store, res.coll.id, NULL);
    } else if (hk == 1) {
        /* dead properties only: the one modseq bump of the request */
        src = store_item_touch(dr->store, res.coll.id, res.item.name);
        if (src == STORE_OK) {
            src = store_item_get(dr->store, res.coll.id, res.item.name, STORE_ITEM_META, dr->arena,
                                 &res.item);
        }
    }
    if (src != STORE_OK) {
        return dav_store_err(dr, src, err);
    }
    if (dav_commit(dr, err) != 0) {
        return -1;
    }
    if (res.kind == DAV_RES_ITEM) {
        /* exchange-replication.md §2.2: PROPPATCH answers carry RT and RID */
        http_resp_header(dr->http, "ETag", dav_etag(dr->arena, &res.coll, res.item.modseq));
        (void)dav_ext_item_headers(dr, &res.coll, res.item.id, res.item.modseq, false, false);
    }
    return write_answer(dr, p, res.href, err);
}

const struct dav_method dav_proppatch = {.begin = proppatch_begin, .run = proppatch_run};

int dav_propupdate_apply(struct dav_req *dr,
                         struct dav_propupdate *pu,
                         const struct dav_res *res,
                         struct err *err)
{
    int rc = apply(dr, (struct pp_parse *)pu, res);
    if (rc < 0) {
        return dav_store_err(dr, STORE_IO, err);
    }
    if (rc == 1) {
        return err_set(err, &dav_cond_cannot_modify_protected,
                       "a property cannot be set at creation");
    }
    return 0;
}
