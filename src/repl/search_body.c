/* repl/search_body.c: the SEARCH request (exchange-replication.md §1.3-1.6, §3): the body
 * streams into the SQL text, the collblob and a compact tag set (never a DOM, never an IN
 * list); the parsed SQL resolves into the select list, the WHERE and the ORDER BY keys; the
 * Range header. Conditions: repl_cond_too_many_tags (413), repl_cond_not_xml (415),
 * repl_cond_bad_range (400), repl_cond_sql_unsupported (422), dav_cond_bad_request (400),
 * dav_cond_not_found (404). */
#include <stdlib.h>
#include <string.h>

#include "dav/ext.h"
#include "repl/props.h"
#include "repl/repl.h"
#include "repl/repl_int.h"
#include "repl/search_int.h"
#include "repl/tokens.h"
#include "util/parse.h"

static bool is_repl_ns(struct slice ns)
{
    return slice_eq(ns, SLICE_LIT(REPL_NS)) || slice_eq(ns, SLICE_LIT(REPL_NS_HTTPS));
}

static bool is_dav(struct slice ns, struct slice name, const char *want)
{
    return slice_eq(ns, SLICE_LIT("DAV:")) && slice_eq(name, slice_from_cstr(want));
}

static int sx_start(void *ctx,
                    struct slice ns,
                    struct slice name,
                    const struct xmlin_attr *attrs,
                    size_t nattrs,
                    struct err *err)
{
    (void)attrs;
    (void)nattrs;
    struct search *s = ctx;
    s->depth++;
    if (s->depth == 1) {
        if (!is_dav(ns, name, "searchrequest")) {
            return err_set(err, &dav_cond_bad_request, "body is not a DAV:searchrequest");
        }
        s->root_ok = true;
    } else if (s->depth == 2) {
        if (is_dav(ns, name, "sql")) {
            if (s->sql.len) {
                return err_set(err, &dav_cond_bad_request, "more than one DAV:sql");
            }
            s->cap = CAP_SQL;
        } else if (is_repl_ns(ns) && slice_eq(name, SLICE_LIT("repl"))) {
            if (s->has_repl) {
                return err_set(err, &dav_cond_bad_request, "more than one R:repl");
            }
            s->in_repl = s->has_repl = true;
            s->https = slice_eq(ns, SLICE_LIT(REPL_NS_HTTPS));
        } else if (slice_eq(ns, SLICE_LIT("DAV:"))) {
            return err_set(err, &repl_cond_sql_unsupported,
                           "search grammar %.*s is not supported; use DAV:sql", (int)name.len,
                           name.ptr);
        }
    } else if (s->depth == 3 && s->in_repl && is_repl_ns(ns)) {
        if (slice_eq(name, SLICE_LIT("collblob"))) {
            s->cap = CAP_BLOB;
            buf_reset(&s->text);
        } else if (slice_eq(name, SLICE_LIT("resourcetaglist"))) {
            s->in_list = true;
        }
    } else if (s->depth == 4 && s->in_list && is_repl_ns(ns) &&
               slice_eq(name, SLICE_LIT("resourcetag"))) {
        s->cap = CAP_TAG;
        buf_reset(&s->text);
    }
    return 0;
}

static int sx_text(void *ctx, struct slice text, struct err *err)
{
    struct search *s = ctx;
    if (s->cap == CAP_SQL) {
        if (buf_append_slice(&s->sql, text) != 0) {
            return err_set(err, &xml_cond_text_too_long, "D:sql exceeds %d bytes", SEARCH_SQL_MAX);
        }
    } else if (s->cap == CAP_BLOB || s->cap == CAP_TAG) {
        if (buf_append_slice(&s->text, text) != 0) {
            s->blob_too_long = s->cap == CAP_BLOB; /* §1.3: longer text is not ours: 475 */
        }
    }
    return 0;
}

/* §1.6.1: ours with the collection's current change GUID -> its modseq; ours with another
 * change GUID -> "some older state" (0); malformed and foreign -> dropped. */
static int add_tag(struct search *s, struct err *err)
{
    struct repl_tag t;
    s->tags_total++;
    if (buf_slice(&s->text).len > SEARCH_TEXT_MAX - 1 ||
        repl_tag_parse(buf_slice(&s->text), s->guid, &t) != REPL_TAG_OURS) {
        s->tags_dropped++;
        return 0;
    }
    bool current = memcmp(t.change_guid, s->coll.coll.change_guid, REPL_GUID_BYTES) == 0;
    if (repl_tagset_add(s->tags, t.id, current ? t.modseq : 0) != 0) {
        return err_set(err, &repl_cond_too_many_tags, "resourcetaglist exceeds %zu items",
                       s->dr->limits->xml_max_elements);
    }
    return 0;
}

static int sx_end(void *ctx, struct slice ns, struct slice name, struct err *err)
{
    (void)ns;
    (void)name;
    struct search *s = ctx;
    int rc = 0;
    if (s->cap == CAP_TAG) {
        rc = add_tag(s, err);
    } else if (s->cap == CAP_BLOB) {
        struct slice t = slice_trim(buf_slice(&s->text));
        /* too long to be ours: still a collblob, and it will fail as bad-encoding */
        s->collblob = t.len || s->blob_too_long ? arena_slicedup(s->dr->arena, t) : NULL;
    }
    s->cap = CAP_NONE;
    if (s->depth == 3) {
        s->in_list = false;
    }
    if (s->depth == 2) {
        s->in_repl = false;
    }
    s->depth--;
    return rc;
}

static const struct xmlin_handler sx_handler = {sx_start, sx_end, sx_text};

static void free_search(void *p)
{
    struct search *s = p;
    buf_deinit(&s->sql);
    buf_deinit(&s->text);
    repl_tagset_destroy(&s->tags);
    store_cursor_close(&s->cur);
    if (s->has_members) {
        dav_members_close(&s->members);
    }
    if (s->sort_arena) {
        arena_destroy(&s->sort_arena);
    }
    repl_ex_instances_close(&s->exp);
    if (s->exp_arena) {
        arena_destroy(&s->exp_arena);
    }
    if (s->self_arena) {
        arena_destroy(&s->self_arena);
    }
}

int search_self(struct search *s, const struct repl_ex_self **out)
{
    if (!s->self_arena) {
        s->self_arena = arena_create();
        if (repl_self(s->dr, s->self_arena, &s->self) != STORE_OK) {
            arena_destroy(&s->self_arena); /* read again by the next row, if any */
            return -1;
        }
    }
    *out = &s->self;
    return 0;
}

int search_begin(struct dav_req *dr, struct err *err)
{
    const char *ct = http_req_header(dr->http, "Content-Type");
    if (!ct || (!strstr(ct, "/xml") && !strstr(ct, "+xml"))) {
        return err_set(err, &repl_cond_not_xml, "SEARCH takes text/xml or application/xml");
    }
    struct search *s = arena_zalloc(dr->arena, sizeof(*s));
    s->dr = dr;
    buf_init(&s->sql, SEARCH_SQL_MAX);
    buf_init(&s->text, SEARCH_TEXT_MAX);
    s->tags = repl_tagset_create(dr->limits->xml_max_elements);
    arena_defer(dr->arena, free_search, s);
    dr->mstate = s;
    /* One snapshot from here to the last row of the answer (§3.9). */
    if (dav_begin_read(dr, err) != 0 || dav_resolve(dr, http_req_path(dr->http), &s->coll, err)) {
        return -1;
    }
    if (s->coll.kind != DAV_RES_COLL) {
        return err_set(err, &dav_cond_not_found, "SEARCH needs an existing collection");
    }
    if (dav_if_check_target(dr, &s->coll, err) != 0) {
        return -1;
    }
    struct store_principal p;
    enum store_rc rc = store_principal_get(dr->store, dr->user, dr->arena, &p);
    if (rc != STORE_OK) {
        return dav_store_err(dr, rc, err);
    }
    s->principal = p.id;
    store_guid(dr->store, s->guid);
    dav_xml_body(dr, &sx_handler, s);
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* The query */

/* §3.3 SELECT *: every property of §4 for appointments. */
static void select_all(struct search *s)
{
    struct arena *a = s->dr->arena;
    static const char *const rowprops[] = {
        "DAV:href",
        "DAV:getetag",
        "DAV:contentclass",
        "DAV:isfolder",
        "DAV:iscollection",
        "DAV:ishidden",
        "DAV:isreadonly",
        "DAV:getcontenttype",
        "DAV:getcontentlength",
        "DAV:displayname",
        "DAV:getlastmodified",
        "DAV:parentname",
        REPL_NS "resourcetag",
        REPL_NS "repl-uid",
    };
    s->nsel = ALM_ARRAY_LEN(rowprops) + REPL_EX_COUNT;
    s->sel = arena_zalloc(a, s->nsel * sizeof(*s->sel));
    for (size_t i = 0; i < ALM_ARRAY_LEN(rowprops); i++) {
        repl_prop_resolve(rowprops[i], a, &s->sel[i].p);
    }
    for (int i = 0; i < REPL_EX_COUNT; i++) {
        const struct repl_exprop_def *d = repl_exprop_def((enum repl_exprop)i);
        const char *uri = strcmp(d->ns, REPL_EX_NS_OFFICE) == 0
                              ? arena_printf(a, "%s#%s", d->ns, d->name)
                              : arena_printf(a, "%s%s", d->ns, d->name);
        repl_prop_resolve(uri, a, &s->sel[ALM_ARRAY_LEN(rowprops) + (size_t)i].p);
    }
}

static bool needs_content(const struct repl_prop *p)
{
    return p->src == REPL_SRC_CAL && p->id != REPL_EX_UID;
}

/* Resolves the select list and the ORDER BY keys, types the WHERE (§3.3, §3.7). */
int search_prepare_query(struct search *s, struct err *err)
{
    struct arena *a = s->dr->arena;
    if (s->q.select_all) {
        select_all(s);
    } else {
        s->nsel = s->q.nitems;
        s->sel = arena_zalloc(a, s->nsel * sizeof(*s->sel) + 1);
        for (size_t i = 0; i < s->nsel; i++) {
            repl_prop_resolve(s->q.items[i].prop, a, &s->sel[i].p);
            s->sel[i].alias = s->q.items[i].alias;
            if (s->sel[i].alias && !repl_is_xml_name(s->sel[i].alias)) {
                return err_set(err, &dav_cond_bad_request, "AS alias '%.64s' is not an XML name",
                               s->sel[i].alias);
            }
            const char *ns = s->sel[i].p.ns;
            if (!s->sel[i].alias && ns[0] && !repl_is_uri(ns)) {
                return err_set(err, &dav_cond_bad_request,
                               "selected property '%.64s': its namespace '%.64s' is not a URI",
                               s->sel[i].p.uri, ns);
            }
        }
    }
    for (size_t i = 0; i < s->nsel; i++) {
        s->sel_content = s->sel_content || needs_content(&s->sel[i].p);
        /* §0: answer in the spelling the request used; without R:repl the SQL tells */
        if (!s->has_repl && strncmp(s->sel[i].p.uri, REPL_NS_HTTPS, strlen(REPL_NS_HTTPS)) == 0) {
            s->https = true;
        }
    }
    if (repl_where_compile(s->q.where, !s->folders, a, &s->where, err) != 0) {
        return -1;
    }
    s->norder = s->q.norder;
    s->order = arena_zalloc(a, s->norder * sizeof(*s->order) + 1);
    for (size_t i = 0; i < s->norder; i++) {
        static const char *const sortable[] = {
            "urn:schemas:calendar:dtstart",
            "urn:schemas:calendar:dtend",
            "urn:schemas:calendar:created",
            "urn:schemas:calendar:lastmodified",
            "urn:schemas:calendar:uid",
            "DAV:getlastmodified",
            "DAV:displayname",
            "DAV:href",
        };
        bool ok = false;
        for (size_t k = 0; k < ALM_ARRAY_LEN(sortable); k++) {
            ok = ok || strcmp(s->q.order[i].prop, sortable[k]) == 0;
        }
        if (!ok) {
            return err_set(err, &repl_cond_sql_unsupported,
                           "sql feature not supported at offset %zu ('%.64s'): ORDER BY on a "
                           "property outside the sortable set",
                           s->q.order[i].offset, s->q.order[i].prop);
        }
        repl_prop_resolve(s->q.order[i].prop, a, &s->order[i].p);
        s->order[i].desc = s->q.order[i].desc;
    }
    return 0;
}

/* §3.6: Range: rows=a-b | a- | -n (the first of a list); other units are ignored. */
int search_parse_range(const char *h, struct range *r, struct err *err)
{
    memset(r, 0, sizeof(*r));
    if (!h) {
        return 0;
    }
    struct slice v = slice_trim(slice_from_cstr(h));
    if (v.len < 5 || !slice_eq_ci((struct slice){v.ptr, 5}, SLICE_LIT("rows="))) {
        return 0;
    }
    struct slice spec = {v.ptr + 5, v.len - 5};
    const char *comma = memchr(spec.ptr, ',', spec.len);
    if (comma) {
        spec.len = (size_t)(comma - spec.ptr);
    }
    spec = slice_trim(spec);
    const char *dash = memchr(spec.ptr, '-', spec.len);
    struct slice a = {spec.ptr, dash ? (size_t)(dash - spec.ptr) : 0};
    struct slice b = {dash ? dash + 1 : NULL, dash ? spec.len - a.len - 1 : 0};
    r->set = true;
    r->suffix = dash && a.len == 0;
    r->open = dash && a.len > 0 && b.len == 0;
    bool ok = dash != NULL;
    if (ok && r->suffix) {
        ok = parse_u64(b, &r->b) == 0;
    } else if (ok) {
        ok = parse_u64(a, &r->a) == 0 && (r->open || (parse_u64(b, &r->b) == 0 && r->b >= r->a));
    }
    if (!ok) {
        return err_set(err, &repl_cond_bad_range, "unparsable Range value '%.64s'", h);
    }
    return 0;
}
