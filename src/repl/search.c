/* repl/search.c: Exchange SEARCH (exchange-replication.md §1.3-1.6, §3): the request body
 * streams into the SQL text, the collblob and a compact tag set (never a DOM, never an IN
 * list). A replication SEARCH (with R:repl) answers the manifest of §3.9 from the collection's
 * change log; a plain SEARCH answers the resources matching the query now, the WHERE time
 * window served by the span index, sorted by ORDER BY (a bounded sort) and paged by
 * Range: rows (§3.6). Both stream from store cursors inside one read snapshot.
 * Conditions: repl_cond_invalid_collblob (475), repl_cond_sql_* (400/422),
 * repl_cond_too_many_tags (413), repl_cond_not_xml (415), repl_cond_bad_range (400),
 * repl_cond_range_not_satisfiable (416), repl_cond_limit (422), dav_cond_bad_request (400),
 * dav_cond_not_found (404). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dav/ext.h"
#include "repl/props.h"
#include "repl/repl.h"
#include "repl/repl_int.h"
#include "repl/sql.h"
#include "repl/tokens.h"
#include "repl/where.h"
#include "util/deadline.h"
#include "util/parse.h"
#include "util/sec.h"
#include "xml/xmlout.h"

enum {
    SEARCH_SQL_MAX = 64 * 1024, /* bytes of D:sql */
    SEARCH_TEXT_MAX = REPL_COLLBLOB_TEXT_MAX + 64,
    /* search_max_sort_rows: rows a plain SEARCH with ORDER BY sorts in memory (§3.7 lets an
     * implementation sort beyond the indexed orders with a documented bound); about 130 bytes
     * each plus the sort keys, so ~15 MB at most per request. Past it: 422 A:limit. */
    SEARCH_MAX_SORT_ROWS = 100000,
    /* search_max_expansion_days (§3.8: Exchange refused windows over 732 days; the brief's
     * default is 3660): a longer expansion window is 422 A:limit */
    SEARCH_MAX_EXPANSION_DAYS = 3660,
};

/* One selected property (§3.4) and its AS alias (§3.3). */
struct sel_item {
    struct repl_prop p;
    const char *alias;
};

/* One ORDER BY key (§3.7). */
struct order_key {
    struct repl_prop p;
    bool desc;
};

/* A matching row of a sorted plain SEARCH, in the sort arena. */
struct sorted_row {
    const char *name;
    uint64_t id;
    struct repl_ex_value *keys; /* one per ORDER BY key, strings copied */
    const struct search *s;     /* for the comparator (qsort has no context) */
};

/* Range: rows=... (§3.6), resolved against the row count. */
struct range {
    bool set;
    bool suffix; /* -n: the last n rows */
    bool open;   /* a-: to the end */
    uint64_t a;
    uint64_t b;
};

enum capture {
    CAP_NONE,
    CAP_SQL,
    CAP_BLOB,
    CAP_TAG
};

struct search {
    struct dav_req *dr;
    struct dav_res coll; /* the Request-URI's collection, resolved when headers arrive */
    uint64_t principal;
    uint8_t guid[REPL_GUID_BYTES];
    unsigned depth;
    bool root_ok;
    bool in_repl;
    bool has_repl;
    bool in_list;
    bool https; /* the request spelled the repl namespace with https:// */
    enum capture cap;
    struct buf sql;
    struct buf text;
    const char *collblob; /* trimmed text, NULL when absent or empty */
    bool blob_too_long;
    struct repl_tagset *tags;
    size_t tags_total;
    size_t tags_dropped; /* malformed or foreign */
    /* answer */
    struct repl_query q;
    struct sel_item *sel;
    size_t nsel;
    bool sel_content; /* a selected property is read from the iCalendar */
    struct repl_cond *where;
    struct order_key *order;
    size_t norder;
    bool plain;
    bool folders; /* hierarchical traversal of the mailbox root: rows are calendars */
    /* an expansion query (§3.8): series expand into their occurrences in the window */
    bool expansion;
    struct arena *exp_arena;       /* the current series' row, kept across next() calls */
    struct store_item exp_item;    /* the current series (name in exp_arena) */
    struct repl_ex_instances *exp; /* its occurrences still to write */
    bool window;                   /* the WHERE bounds dtstart/dtend: read the span index */
    int64_t wstart;
    int64_t wend;
    struct arena *sort_arena;
    struct sorted_row *rows; /* a sorted plain SEARCH: the result */
    size_t nrows;
    size_t next_row;
    bool ranged;     /* write only positions first..last */
    bool range_none; /* the range selects nothing */
    uint64_t first;
    uint64_t last;
    uint64_t pos; /* position of the next matching row */
    bool initial;
    uint64_t w;                   /* the client's watermark */
    struct repl_collblob in_blob; /* the client's collblob, when not initial */
    uint64_t s;                   /* the snapshot's collection modseq */
    const char *new_blob;
    bool empty;
    bool repl_written;
    struct store_cursor *cur;
    const char *origin;
};

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
    if (s->sort_arena) {
        arena_destroy(&s->sort_arena);
    }
    repl_ex_instances_close(&s->exp);
    if (s->exp_arena) {
        arena_destroy(&s->exp_arena);
    }
}

static int search_begin(struct dav_req *dr, struct err *err)
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
static int prepare_query(struct search *s, struct err *err)
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

/* The canonical query of §1.3: collection, depth and the folded WHERE in normal form. */
static int query_hash(const struct search *s, uint8_t out[16])
{
    struct buf b;
    buf_init(&b, SEARCH_SQL_MAX * 2);
    int rc = buf_appendf(&b, "coll=%llu depth=%d where=", (unsigned long long)s->coll.coll.id,
                         (int)s->q.depth);
    rc |= repl_where_print(s->where, &b);
    repl_query_hash(buf_slice(&b), out);
    buf_deinit(&b);
    return rc == 0 ? 0 : -1;
}

static void collblob_key(struct dav_req *dr, uint8_t key[REPL_KEY_BYTES])
{
    uint8_t secret[STORE_SECRET_BYTES];
    store_secret(dr->store, secret);
    static const char label[] = "almanac collblob v1";
    sec_hash(secret, sizeof(secret), label, sizeof(label) - 1, key);
    sec_memzero(secret, sizeof(secret));
}

/* §1.3: the checks in order; the first failure is 475 with its reason. */
static int check_collblob(struct search *s, const uint8_t key[REPL_KEY_BYTES], struct err *err)
{
    const char *reason = NULL;
    struct repl_collblob b;
    uint8_t qh[16];
    if (query_hash(s, qh) != 0) {
        return err_set(err, &repl_cond_sql_unsupported, "query too long to hash");
    }
    const struct store_coll *c = &s->coll.coll;
    if (s->blob_too_long) {
        reason = "bad-encoding";
    } else if (repl_collblob_decode(slice_from_cstr(s->collblob), key, NULL, &b, &reason) != 0) {
        /* reason set */
    } else if (b.principal != s->principal) {
        reason = "wrong-principal";
    } else if (b.coll != c->id) {
        reason = "wrong-collection";
    } else if (b.epoch != c->epoch) {
        reason = "epoch-changed";
    } else if (b.watermark < c->tomb_horizon) {
        reason = "history-pruned";
    } else if (b.watermark > c->modseq) {
        reason = "bad-mac";
    } else if (memcmp(b.query_hash, qh, 16) != 0) {
        reason = "query-mismatch";
    }
    if (reason) {
        return err_set(err, &repl_cond_invalid_collblob,
                       "invalid collblob (%s): start over with an empty collblob", reason);
    }
    s->w = b.watermark;
    s->in_blob = b;
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Row values */

/* One candidate row and what has been read for it (in the request arena, rewound per row). */
struct row {
    struct search *s;
    const struct store_item *it;
    const char *href;
    const char *changetype; /* replication rows */
    bool for_where;         /* C:dtstart/C:dtend read from the span (§3.8) */
    bool tried;             /* the content was read (or could not be) */
    bool loaded;            /* cal holds the iCalendar-derived values */
    struct repl_ex_value cal[REPL_EX_COUNT];
};

static int load_cal(struct row *r)
{
    if (r->tried) {
        return 0;
    }
    r->tried = true;
    struct dav_req *dr = r->s->dr;
    struct store_item full;
    enum store_rc rc = store_item_get(dr->store, r->s->coll.coll.id, r->it->name,
                                      STORE_ITEM_CONTENT, dr->arena, &full);
    if (rc == STORE_NOTFOUND) {
        return 0;
    }
    if (rc != STORE_OK) {
        return -1;
    }
    struct err e;
    err_init(&e);
    r->loaded =
        repl_exprops_read((struct slice){full.content, full.size}, dr->arena, r->cal, &e) == 0;
    return 0;
}

static void set_s(struct repl_ex_value *v, const char *s)
{
    v->present = s != NULL;
    v->s = s;
}

static void set_i(struct repl_ex_value *v, int64_t i)
{
    v->present = true;
    v->i = i;
}

static void row_init(struct row *r, struct search *s, const struct store_item *it)
{
    /* every field but cal[] (2 KB, filled by load_cal when needed): manifests touch every
     * candidate, most of which never read the object */
    r->s = s;
    r->it = it;
    r->href = NULL;
    r->changetype = NULL;
    r->for_where = r->tried = r->loaded = false;
}

/* §3.4: rows name resources by absolute URL; built only for rows that are written. */
static const char *href_of(struct row *r)
{
    if (!r->href) {
        struct arena *a = r->s->dr->arena;
        r->href = arena_printf(a, "%s%s", r->s->origin,
                               dav_child_href(a, r->s->coll.href, r->it->name, false));
    }
    return r->href;
}

static void row_prop(struct row *r, int id, struct repl_ex_value *v)
{
    struct search *s = r->s;
    struct arena *a = s->dr->arena;
    const struct store_item *it = r->it;
    char text[REPL_TAG_LEN + 1];
    switch ((enum repl_rowprop)id) {
    case REPL_RP_HREF:
        set_s(v, href_of(r));
        return;
    case REPL_RP_GETETAG:
        set_s(v, dav_etag(a, &s->coll.coll, it->modseq));
        return;
    case REPL_RP_CONTENTCLASS:
        set_s(v, "urn:content-classes:appointment");
        return;
    case REPL_RP_ISFOLDER:
    case REPL_RP_ISCOLLECTION:
    case REPL_RP_ISHIDDEN:
    case REPL_RP_ISREADONLY:
        set_i(v, 0);
        return;
    case REPL_RP_GETCONTENTTYPE:
        set_s(v, it->content_type);
        return;
    case REPL_RP_GETCONTENTLENGTH:
        set_i(v, (int64_t)it->size);
        return;
    case REPL_RP_DISPLAYNAME:
        set_s(v, it->name);
        return;
    case REPL_RP_GETLASTMODIFIED:
        set_i(v, it->mtime);
        return;
    case REPL_RP_PARENTNAME:
        set_s(v, arena_printf(a, "%s%s", s->origin, s->coll.href));
        return;
    case REPL_RP_REPL_UID:
        repl_uid_format(s->guid, it->id, text);
        set_s(v, arena_strdup(a, text));
        return;
    case REPL_RP_RESOURCETAG:
        repl_tag_format(s->guid, it->id, s->coll.coll.change_guid, it->modseq, text);
        set_s(v, arena_strdup(a, text));
        return;
    case REPL_RP_CHANGETYPE:
        set_s(v, r->for_where ? NULL : r->changetype);
        return;
    case REPL_RP_CONTENTTAG:
    case REPL_RP_OUTLOOKFOLDERCLASS:
    case REPL_RP_COUNT:
        break; /* collections only */
    }
}

/* repl_value_fn: the value of `p` for the row (§3.3; §3.8 for dtstart/dtend in WHERE). */
static int row_value(void *ctx, const struct repl_prop *p, struct repl_ex_value *v)
{
    struct row *r = ctx;
    memset(v, 0, sizeof(*v));
    if (p->src == REPL_SRC_ROW) {
        row_prop(r, p->id, v);
        return 0;
    }
    if (p->src != REPL_SRC_CAL) {
        return 0;
    }
    /* §3.8: outside expansion queries a series is tested by its span; in one, each row by its
     * own times (a single event's span is its own) */
    bool own = r->s->expansion && r->it->cal.is_recurring;
    if (r->for_where && !own && (p->id == REPL_EX_DTSTART || p->id == REPL_EX_DTEND)) {
        if (r->it->cal.has_span) {
            set_i(v, p->id == REPL_EX_DTSTART ? r->it->cal.dtstart_utc : r->it->cal.dtend_utc);
        }
        return 0;
    }
    if (p->id == REPL_EX_UID && r->it->cal.uid) {
        set_s(v, r->it->cal.uid); /* indexed: no need to read the object */
        return 0;
    }
    if (load_cal(r) != 0) {
        return -1;
    }
    if (r->loaded) {
        *v = r->cal[p->id];
    }
    if (p->id == REPL_EX_LASTMODIFIED && !v->present) {
        set_i(v, r->it->mtime); /* §4.4: else the item's mtime */
    }
    return 0;
}

static int matches(struct row *r)
{
    r->for_where = true;
    int m = repl_where_eval(r->s->where, row_value, r);
    r->for_where = false;
    return m;
}

/* ---------------------------------------------------------------------------------------- */
/* Rows */

static bool is_repl(const struct repl_prop *p, const char *local)
{
    return p->src == REPL_SRC_ROW && strcmp(p->ns, REPL_NS) == 0 && strcmp(p->local, local) == 0;
}

/* The selected properties of one row into `found` (with values) and `missing` (empty
 * elements for the 404 propstat). A manifest row skips R:repl-uid and R:changetype (written
 * once by the caller); a delete row has no value but R:resourcetag. */
static int collect_props(struct search *s,
                         repl_value_fn *fn,
                         void *ctx,
                         bool deleted,
                         struct buf *found,
                         struct buf *missing)
{
    int rc = 0;
    for (size_t i = 0; i < s->nsel && rc == 0; i++) {
        const struct sel_item *si = &s->sel[i];
        if (!s->plain && (is_repl(&si->p, "repl-uid") || is_repl(&si->p, "changetype"))) {
            continue;
        }
        struct repl_ex_value v = {0};
        if ((!deleted || is_repl(&si->p, "resourcetag")) && fn(ctx, &si->p, &v) != 0) {
            return -1;
        }
        rc = v.present ? repl_prop_write(found, &si->p, si->alias, &v)
                       : repl_prop_write_empty(missing, &si->p, si->alias);
    }
    return rc;
}

/* <D:response> with the 200 and 404 propstats that have content. */
static int write_response(const char *href,
                          const struct buf *found,
                          const struct buf *missing,
                          struct buf *out)
{
    int rc = buf_append_cstr(out, "<D:response><D:href>");
    rc |= xmlout_text(out, slice_from_cstr(href));
    rc |= buf_append_cstr(out, "</D:href>");
    if (found->len) {
        rc |= buf_append_cstr(out, "<D:propstat><D:prop>");
        rc |= buf_append_slice(out, buf_slice(found));
        rc |= buf_append_cstr(out, "</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>");
    }
    if (missing->len) {
        rc |= buf_append_cstr(out, "<D:propstat><D:prop>");
        rc |= buf_append_slice(out, buf_slice(missing));
        rc |= buf_append_cstr(out, "</D:prop><D:status>HTTP/1.1 404 Not Found</D:status>"
                                   "</D:propstat>");
    }
    rc |= buf_append_cstr(out, "</D:response>\n");
    return rc == 0 ? 0 : -1;
}

/* One resource row (§3.4); a manifest row also carries R:repl-uid and R:changetype, once. */
static int write_row(struct row *r, bool deleted, struct buf *out)
{
    struct search *s = r->s;
    struct buf missing;
    buf_init(&missing, dav_row_limit(s->dr));
    struct buf found;
    buf_init(&found, dav_row_limit(s->dr));
    int rc = collect_props(s, row_value, r, deleted, &found, &missing);
    if (rc == 0 && !s->plain) {
        struct repl_ex_value v = {0};
        row_prop(r, REPL_RP_REPL_UID, &v);
        rc |= buf_appendf(&found, "<R:repl-uid>%s</R:repl-uid>", v.s);
        rc |= buf_appendf(&found, "<R:changetype>%s</R:changetype>", r->changetype);
    }
    rc = rc == 0 ? write_response(href_of(r), &found, &missing, out) : -1;
    buf_deinit(&found);
    buf_deinit(&missing);
    return rc;
}

/* §3.9: the changetype of a manifest candidate, or NULL when it makes no row; -1 in *failed
 * when the row's values could not be read. */
static const char *classify(struct search *s, struct row *r, bool *failed)
{
    const struct store_item *c = r->it;
    uint64_t listed = 0;
    bool is_listed = repl_tagset_get(s->tags, c->id, &listed);
    if (c->is_tombstone) {
        if (s->initial || (c->created_modseq > s->w && !is_listed)) {
            return NULL; /* the client never saw it */
        }
        return "delete";
    }
    int m = matches(r);
    if (m < 0) {
        *failed = true;
        return NULL;
    }
    if (!m) {
        /* live but outside the query: it may have matched before */
        if (s->initial || is_listed || c->created_modseq > s->w) {
            return NULL;
        }
        return "delete";
    }
    if (is_listed && listed == c->modseq) {
        return NULL; /* folded: the client holds this state */
    }
    if (is_listed) {
        return "change";
    }
    return s->initial || c->created_modseq > s->w ? "new" : "change";
}

/* The next row of a manifest from the change cursor, within the range: 1 written, 0 at the
 * end, -1 failed. */
static int next_manifest_row(struct search *s, struct buf *out)
{
    struct dav_req *dr = s->dr;
    for (;;) {
        if (s->range_none || (s->ranged && s->pos > s->last)) {
            return 0;
        }
        struct store_item it;
        enum store_rc rc = store_cursor_next_item(s->cur, &it);
        if (rc == STORE_NOTFOUND) {
            return 0;
        }
        if (rc != STORE_OK) {
            return -1;
        }
        struct arena_mark m = arena_mark(dr->arena);
        struct row r;
        row_init(&r, s, &it);
        bool failed = false;
        r.changetype = classify(s, &r, &failed);
        int w = failed ? -1 : 1;
        bool emit = r.changetype && (!s->ranged || s->pos >= s->first);
        if (r.changetype) {
            s->pos++;
        }
        if (emit) {
            bool deleted = it.is_tombstone || strcmp(r.changetype, "delete") == 0;
            w = write_row(&r, deleted, out) == 0 ? 1 : -1;
        }
        arena_rewind(dr->arena, m);
        if (w < 0 || emit) {
            return w;
        }
    }
}

/* One pass over the manifest (same snapshot, same tags): counts its rows into *count and,
 * when row number `stop_at` exists, stops there with its modseq in *modseq_at. */
static int scan_manifest(
    struct search *s, uint64_t stop_at, uint64_t *count, uint64_t *modseq_at, struct err *err)
{
    struct dav_req *dr = s->dr;
    *count = 0;
    store_cursor_close(&s->cur);
    enum store_rc rc = store_changes_open(dr->store, s->coll.coll.id, s->w, &s->cur);
    if (rc != STORE_OK) {
        return dav_store_err(dr, rc, err);
    }
    for (;;) {
        struct store_item it;
        rc = store_cursor_next_item(s->cur, &it);
        if (rc == STORE_NOTFOUND) {
            return 0;
        }
        if (rc != STORE_OK) {
            return dav_store_err(dr, rc, err);
        }
        struct arena_mark m = arena_mark(dr->arena);
        struct row r;
        row_init(&r, s, &it);
        bool failed = false;
        bool is_row = classify(s, &r, &failed) != NULL;
        arena_rewind(dr->arena, m);
        if (failed) {
            return dav_store_err(dr, STORE_IO, err);
        }
        if (is_row && *count == stop_at) {
            *modseq_at = it.modseq;
            return 0;
        }
        *count += is_row;
    }
}

static int parse_range(const char *h, struct range *r, struct err *err);

/* §3.6 on a manifest: the rows first..last (relative to the collblob's watermark), the
 * collblob that covers exactly what is returned (nb), and Content-Range in the client's
 * numbering (from the collblob's page hint when it continues from there). No watermark ever
 * passes a row the client did not receive. */
static int
manifest_range(struct search *s, const struct range *r, struct repl_collblob *nb, struct err *err)
{
    struct dav_req *dr = s->dr;
    uint64_t hint = !s->initial && (s->in_blob.flags & REPL_COLLBLOB_PARTIAL) ? s->in_blob.page : 0;
    uint64_t base = !r->suffix && hint && r->a == hint ? hint : 0;
    uint64_t n = 0;
    uint64_t unused = 0;
    if (!s->empty && scan_manifest(s, UINT64_MAX, &n, &unused, err) != 0) {
        return -1;
    }
    bool keep_input = false;
    s->ranged = true;
    s->range_none = n == 0 || (r->suffix && r->b == 0); /* -0: fast-forward to S (§3.5) */
    if (r->suffix) {
        s->first = n > r->b ? n - r->b : 0;
        keep_input = s->first > 0;
    } else {
        if (n > 0 && r->a - base >= n) {
            http_resp_error_header(
                dr->http, "Content-Range",
                arena_printf(dr->arena, "total=%llu", (unsigned long long)(base + n)));
            return err_set(err, &repl_cond_range_not_satisfiable,
                           "Range starts at row %llu of %llu", (unsigned long long)r->a,
                           (unsigned long long)(base + n));
        }
        s->first = r->a - base;
        keep_input = base == 0 && r->a > 0; /* offsets over a changing collection */
    }
    s->last = r->suffix || r->open || r->b - base >= n ? n - 1 : r->b - base;
    if (s->range_none) {
        http_resp_header(dr->http, "Content-Range",
                         arena_printf(dr->arena, "total=%llu", (unsigned long long)(base + n)));
        return 0;
    }
    http_resp_header(
        dr->http, "Content-Range",
        arena_printf(dr->arena, "rows %llu-%llu; total=%llu", (unsigned long long)(base + s->first),
                     (unsigned long long)(base + s->last), (unsigned long long)(base + n)));
    if (keep_input) {
        nb->watermark = s->initial ? 0 : s->w; /* the input state, no advance, no hint */
    } else if (s->last + 1 < n) {
        uint64_t next_modseq = 0;
        uint64_t seen = 0;
        if (scan_manifest(s, s->last + 1, &seen, &next_modseq, err) != 0) {
            return -1;
        }
        nb->watermark = next_modseq - 1;
        nb->flags = REPL_COLLBLOB_PARTIAL;
        nb->page = (uint32_t)(base + s->last + 1);
    }
    return 0;
}

/* Counts a matching row and writes it when it is inside the range (never when `out` is
 * NULL: a counting pass). 1 written, 0 not, -1 failed. */
static int emit_row(struct search *s, struct row *r, struct buf *out)
{
    bool in = !s->ranged || s->pos >= s->first;
    s->pos++;
    if (!out || !in) {
        return 0;
    }
    return write_row(r, false, out) == 0 ? 1 : -1;
}

/* Starts expanding the series `it`: its row is kept in exp_arena, its occurrences in the
 * window in s->exp. */
static int start_series(struct search *s, const struct store_item *it)
{
    struct dav_req *dr = s->dr;
    arena_destroy(&s->exp_arena);
    s->exp_arena = arena_create();
    s->exp_item = *it;
    s->exp_item.name = arena_strdup(s->exp_arena, it->name);
    s->exp_item.content_type =
        it->content_type ? arena_strdup(s->exp_arena, it->content_type) : NULL;
    s->exp_item.cal.uid = it->cal.uid ? arena_strdup(s->exp_arena, it->cal.uid) : NULL;
    struct arena_mark m = arena_mark(dr->arena);
    struct store_item full;
    enum store_rc rc =
        store_item_get(dr->store, s->coll.coll.id, it->name, STORE_ITEM_CONTENT, dr->arena, &full);
    struct err e;
    err_init(&e);
    bool ok = rc == STORE_OK || rc == STORE_NOTFOUND;
    if (rc == STORE_OK && repl_ex_instances_open((struct slice){full.content, full.size}, s->wstart,
                                                 s->wend, dr->arena, &s->exp, &e) != 0) {
        /* an object that no longer parses has no occurrences (its master row still shows);
         * one whose expansion ran out of request_time_budget stops the search, which must
         * not be answered as if its occurrences were not there */
        ok = e.cond != &err_cond_time_budget;
    }
    arena_rewind(dr->arena, m);
    return ok ? 0 : -1;
}

/* The next occurrence row of the current series: 1 written, 0 none written (counted, outside
 * the range or not matching), 2 when the series is done, -1 failed. */
static int next_occurrence(struct search *s, struct buf *out)
{
    struct dav_req *dr = s->dr;
    struct arena_mark m = arena_mark(dr->arena);
    struct row r;
    row_init(&r, s, &s->exp_item);
    int w = 2;
    if (repl_ex_instances_next(s->exp, dr->arena, r.cal) == 1) {
        r.tried = r.loaded = true;
        char when[32];
        repl_time_format(r.cal[REPL_EX_RECURRENCEID].i, when);
        /* §3.8 [A]: master href + ?instance= + the recurrence id as YYYYMMDDTHHMMSSZ */
        r.href = arena_printf(dr->arena, "%s?instance=%.4s%.2s%.2sT%.2s%.2s%.2sZ", href_of(&r),
                              when, when + 5, when + 8, when + 11, when + 14, when + 17);
        int mt = matches(&r);
        w = mt < 0 ? -1 : mt == 1 ? emit_row(s, &r, out) : 0;
    } else {
        repl_ex_instances_close(&s->exp);
    }
    arena_rewind(dr->arena, m);
    return w;
}

/* Rows of an expansion query (§3.8): a single event, or a series master followed by its
 * occurrences in the window, each tested with its own values. `out` NULL counts only. */
static int next_expansion_row(struct search *s, struct buf *out)
{
    struct dav_req *dr = s->dr;
    for (;;) {
        if (deadline_passed()) {
            return -1; /* request_time_budget: the answer stops (503, or cut off and logged) */
        }
        if (out && (s->range_none || (s->ranged && s->pos > s->last))) {
            return 0;
        }
        if (s->exp) {
            int w = next_occurrence(s, out);
            if (w == 1 || w < 0) {
                return w;
            }
            continue;
        }
        struct store_item it;
        enum store_rc rc = store_cursor_next_item(s->cur, &it);
        if (rc == STORE_NOTFOUND) {
            return 0;
        }
        if (rc != STORE_OK) {
            return -1;
        }
        const struct store_item *row_item = &it;
        if (it.cal.is_recurring) {
            if (start_series(s, &it) != 0) {
                return -1;
            }
            row_item = &s->exp_item;
        }
        struct arena_mark m = arena_mark(dr->arena);
        struct row r;
        row_init(&r, s, row_item);
        int mt = matches(&r);
        int w = mt < 0 ? -1 : mt == 1 ? emit_row(s, &r, out) : 0;
        arena_rewind(dr->arena, m);
        if (w != 0) {
            return w;
        }
    }
}

/* The next matching row of a plain SEARCH within the range: 1 written, 0 at the end. */
static int next_plain_row(struct search *s, struct buf *out)
{
    struct dav_req *dr = s->dr;
    for (;;) {
        if (s->range_none || (s->ranged && s->pos > s->last)) {
            return 0;
        }
        struct store_item it;
        enum store_rc rc;
        struct arena_mark m = arena_mark(dr->arena); /* O(1) memory per row */
        if (s->rows) {
            if (s->next_row == s->nrows) {
                return 0;
            }
            const struct sorted_row *sr = &s->rows[s->next_row++];
            rc = store_item_get(dr->store, s->coll.coll.id, sr->name, STORE_ITEM_META, dr->arena,
                                &it);
        } else {
            rc = store_cursor_next_item(s->cur, &it);
        }
        if (rc == STORE_NOTFOUND) {
            return 0;
        }
        if (rc != STORE_OK) {
            return -1;
        }
        struct row r;
        row_init(&r, s, &it);
        int w = s->rows ? 1 : matches(&r); /* a sorted result is already filtered */
        bool emit = w == 1 && (!s->ranged || s->pos >= s->first);
        if (w == 1) {
            s->pos++;
        }
        if (emit) {
            w = write_row(&r, false, out) == 0 ? 1 : -1;
        }
        arena_rewind(dr->arena, m);
        if (w < 0 || emit) {
            return w;
        }
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Folder rows: hierarchical traversal of the mailbox root (§3.3, §4.6) */

struct folder_row {
    struct search *s;
    const struct store_coll *c;
    const char *href;
};

/* repl_value_fn for a child collection of the scope. */
static int folder_value(void *ctx, const struct repl_prop *p, struct repl_ex_value *v)
{
    struct folder_row *f = ctx;
    struct arena *a = f->s->dr->arena;
    bool cal = f->c->kind == STORE_COLL_CALENDAR;
    memset(v, 0, sizeof(*v));
    if (p->src != REPL_SRC_ROW) {
        return 0;
    }
    switch ((enum repl_rowprop)p->id) {
    case REPL_RP_HREF:
        set_s(v, f->href);
        break;
    case REPL_RP_GETETAG:
        set_s(v, dav_etag(a, f->c, f->c->modseq));
        break;
    case REPL_RP_CONTENTCLASS:
        set_s(v, cal ? "urn:content-classes:calendarfolder" : "urn:content-classes:folder");
        break;
    case REPL_RP_ISFOLDER:
    case REPL_RP_ISCOLLECTION:
        set_i(v, 1);
        break;
    case REPL_RP_ISHIDDEN:
    case REPL_RP_ISREADONLY:
        set_i(v, 0);
        break;
    case REPL_RP_DISPLAYNAME:
        set_s(v, f->c->name);
        break;
    case REPL_RP_GETLASTMODIFIED:
        set_i(v, f->c->updated);
        break;
    case REPL_RP_PARENTNAME:
        set_s(v, arena_printf(a, "%s%s", f->s->origin, f->s->coll.href));
        break;
    case REPL_RP_CONTENTTAG:
        set_s(v, repl_contenttag(a, f->c));
        break;
    case REPL_RP_OUTLOOKFOLDERCLASS:
        set_s(v, cal ? "IPF.Appointment" : NULL);
        break;
    default:
        break; /* item properties */
    }
    return 0;
}

/* The next child collection matching the WHERE within the range: 1 written, 0 at the end. */
static int next_folder_row(struct search *s, struct buf *out)
{
    struct dav_req *dr = s->dr;
    for (;;) {
        if (s->range_none || (s->ranged && s->pos > s->last)) {
            return 0;
        }
        struct store_coll c;
        enum store_rc rc = store_cursor_next_coll(s->cur, &c);
        if (rc == STORE_NOTFOUND) {
            return 0;
        }
        if (rc != STORE_OK) {
            return -1;
        }
        struct arena_mark m = arena_mark(dr->arena);
        struct folder_row f = {s, &c, NULL};
        f.href = arena_printf(dr->arena, "%s%s", s->origin,
                              dav_child_href(dr->arena, s->coll.href, c.name, true));
        int w = repl_where_eval(s->where, folder_value, &f);
        bool emit = w == 1 && (!s->ranged || s->pos >= s->first);
        if (w == 1) {
            s->pos++;
        }
        if (emit) {
            struct buf found, missing;
            buf_init(&found, dav_row_limit(s->dr));
            buf_init(&missing, dav_row_limit(s->dr));
            w = collect_props(s, folder_value, &f, false, &found, &missing) == 0 &&
                        write_response(f.href, &found, &missing, out) == 0
                    ? 1
                    : -1;
            buf_deinit(&found);
            buf_deinit(&missing);
        }
        arena_rewind(dr->arena, m);
        if (w < 0 || emit) {
            return w;
        }
    }
}

static int search_next(void *ctx, struct buf *out)
{
    struct search *s = ctx;
    if (s->plain) {
        return s->folders     ? next_folder_row(s, out)
               : s->expansion ? next_expansion_row(s, out)
                              : next_plain_row(s, out);
    }
    if (!s->repl_written) {
        s->repl_written = true;
        if (s->empty) {
            return buf_append_cstr(out, "<R:repl/>\n") == 0 ? 1 : -1;
        }
        int rc = buf_append_cstr(out, "<R:repl><R:collblob>");
        rc |= buf_append_cstr(out, s->new_blob);
        rc |= buf_append_cstr(out, "</R:collblob></R:repl>\n");
        return rc == 0 ? 1 : -1;
    }
    return s->empty ? 0 : next_manifest_row(s, out);
}

/* ---------------------------------------------------------------------------------------- */
/* Plain SEARCH: candidates, ORDER BY, Range */

static int open_candidates(struct search *s, struct err *err)
{
    struct dav_req *dr = s->dr;
    store_cursor_close(&s->cur);
    enum store_rc rc =
        s->window
            ? store_items_in_range_open(dr->store, s->coll.coll.id, s->wstart, s->wend, &s->cur)
            : store_items_open(dr->store, s->coll.coll.id, STORE_ORDER_NAME, &s->cur);
    return rc == STORE_OK ? 0 : dav_store_err(dr, rc, err);
}

static int
cmp_key(const struct repl_prop *p, const struct repl_ex_value *a, const struct repl_ex_value *b)
{
    if (!a->present || !b->present) {
        return (int)a->present - (int)b->present; /* NULLs first */
    }
    if (p->type == REPL_EX_STRING) {
        return strcmp(a->s, b->s);
    }
    return a->i < b->i ? -1 : a->i > b->i;
}

static int cmp_rows(const void *x, const void *y)
{
    const struct sorted_row *a = x;
    const struct sorted_row *b = y;
    const struct search *s = a->s;
    for (size_t i = 0; i < s->norder; i++) {
        int c = cmp_key(&s->order[i].p, &a->keys[i], &b->keys[i]);
        if (c) {
            return s->order[i].desc ? -c : c;
        }
    }
    return a->id < b->id ? -1 : a->id > b->id; /* §3.7: ties broken by item id */
}

/* Adds the current candidate to the sort array with copies of its keys. */
static int keep_row(struct search *s, struct row *r, size_t *cap, struct err *err)
{
    if (s->nrows == SEARCH_MAX_SORT_ROWS) {
        return err_set(err, &repl_cond_limit,
                       "ORDER BY would sort more than search_max_sort_rows=%d rows; narrow the "
                       "WHERE clause",
                       SEARCH_MAX_SORT_ROWS);
    }
    if (s->nrows == *cap) {
        *cap = *cap ? *cap * 2 : 256;
        struct sorted_row *n = arena_alloc(s->sort_arena, *cap * sizeof(*n));
        if (s->nrows) {
            memcpy(n, s->rows, s->nrows * sizeof(*n));
        }
        s->rows = n;
    }
    struct sorted_row *sr = &s->rows[s->nrows++];
    sr->name = arena_strdup(s->sort_arena, r->it->name);
    sr->id = r->it->id;
    sr->s = s;
    sr->keys = arena_zalloc(s->sort_arena, s->norder * sizeof(*sr->keys) + 1);
    r->for_where = true; /* dtstart/dtend sort by the indexed span (§3.7) */
    for (size_t i = 0; i < s->norder; i++) {
        struct repl_ex_value v;
        if (row_value(r, &s->order[i].p, &v) != 0) {
            return dav_store_err(s->dr, STORE_IO, err);
        }
        sr->keys[i] = v;
        if (v.present && s->order[i].p.type == REPL_EX_STRING) {
            sr->keys[i].s = arena_strdup(s->sort_arena, v.s);
        }
    }
    return 0;
}

/* One pass over the candidates: counts the matching rows (*total) and, with ORDER BY, keeps
 * them for the sort. Same snapshot as the answer. */
static int scan_candidates(struct search *s, bool keep, uint64_t *total, struct err *err)
{
    struct dav_req *dr = s->dr;
    size_t cap = 0;
    *total = 0;
    if (open_candidates(s, err) != 0) {
        return -1;
    }
    for (;;) {
        struct store_item it;
        enum store_rc rc = store_cursor_next_item(s->cur, &it);
        if (rc == STORE_NOTFOUND) {
            break;
        }
        if (rc != STORE_OK) {
            return dav_store_err(dr, rc, err);
        }
        struct arena_mark m = arena_mark(dr->arena);
        struct row r;
        row_init(&r, s, &it);
        int ok = matches(&r);
        if (ok == 1) {
            (*total)++;
            ok = keep ? (keep_row(s, &r, &cap, err) == 0 ? 1 : -1) : 1;
        }
        arena_rewind(dr->arena, m);
        if (ok < 0) {
            return err->cond ? -1 : dav_store_err(dr, STORE_IO, err);
        }
    }
    /* No row kept leaves s->rows NULL, and qsort's pointer must not be NULL even for 0
     * elements (C17 §7.22.5): the sanitizer build aborts on it. */
    if (keep && s->nrows > 1) {
        qsort(s->rows, s->nrows, sizeof(*s->rows), cmp_rows);
    }
    return 0;
}

/* §3.6: Range: rows=a-b | a- | -n (the first of a list); other units are ignored. */
static int parse_range(const char *h, struct range *r, struct err *err)
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

/* Positions first..last of `total` rows, Content-Range (§3.6), or 416. */
static int apply_range(struct search *s, const struct range *r, uint64_t total, struct err *err)
{
    struct dav_req *dr = s->dr;
    s->ranged = true;
    if (r->suffix) {
        s->range_none = r->b == 0 || total == 0;
        s->first = total > r->b ? total - r->b : 0;
    } else {
        if (total > 0 && r->a >= total) {
            http_resp_error_header(
                dr->http, "Content-Range",
                arena_printf(dr->arena, "total=%llu", (unsigned long long)total));
            return err_set(err, &repl_cond_range_not_satisfiable,
                           "Range starts at row %llu of %llu", (unsigned long long)r->a,
                           (unsigned long long)total);
        }
        s->range_none = total == 0;
        s->first = r->a;
    }
    s->last = r->suffix || r->open || r->b >= total ? total - 1 : r->b;
    const char *cr =
        s->range_none
            ? arena_printf(dr->arena, "total=%llu", (unsigned long long)total)
            : arena_printf(dr->arena, "rows %llu-%llu; total=%llu", (unsigned long long)s->first,
                           (unsigned long long)s->last, (unsigned long long)total);
    http_resp_header(dr->http, "Content-Range", cr);
    return 0;
}

/* A plain SEARCH on a calendar (§3.1 table): rows matching now, in ORDER BY order. */
/* An expansion query: the window bound, then (with Range) a counting pass over the same
 * rows, then the rows. ORDER BY is not served with expansion yet. */
static int expansion_search(struct search *s, const struct range *r, struct err *err)
{
    struct dav_req *dr = s->dr;
    uint64_t days = ((uint64_t)s->wend - (uint64_t)s->wstart) / 86400;
    if (days > SEARCH_MAX_EXPANSION_DAYS) {
        return err_set(err, &repl_cond_limit,
                       "expansion window of %llu days exceeds search_max_expansion_days=%d",
                       (unsigned long long)days, SEARCH_MAX_EXPANSION_DAYS);
    }
    if (s->norder) {
        return err_set(err, &repl_cond_sql_unsupported,
                       "sql feature not supported at offset %zu ('%.64s'): ORDER BY in an "
                       "expansion query",
                       s->q.order[0].offset, s->q.order[0].prop);
    }
    s->exp_arena = arena_create();
    if (r->set) {
        if (open_candidates(s, err) != 0) {
            return -1;
        }
        int w;
        while ((w = next_expansion_row(s, NULL)) > 0) {
        }
        if (w < 0 && deadline_passed()) {
            return err_set(err, &err_cond_time_budget,
                           "counting the rows of an expansion query took longer than "
                           "request_time_budget");
        }
        if (w < 0) {
            return dav_store_err(dr, STORE_IO, err);
        }
        uint64_t total = s->pos;
        s->pos = 0;
        repl_ex_instances_close(&s->exp);
        if (apply_range(s, r, total, err) != 0) {
            return -1;
        }
    }
    return open_candidates(s, err);
}

static int plain_search(struct search *s, struct err *err)
{
    struct dav_req *dr = s->dr;
    struct range r;
    if (parse_range(http_req_header(dr->http, "Range"), &r, err) != 0) {
        return -1;
    }
    bool sort = s->norder > 0;
    s->window = repl_where_window(s->where, &s->wstart, &s->wend);
    /* §3.8: a lower and an upper bound on dtstart/dtend make an expansion query */
    s->expansion = s->window && s->wstart != INT64_MIN && s->wend != INT64_MAX;
    if (s->expansion) {
        return expansion_search(s, &r, err);
    }
    uint64_t total = 0;
    if (sort) {
        s->sort_arena = arena_create();
    }
    if ((sort || r.set) && scan_candidates(s, sort, &total, err) != 0) {
        return -1;
    }
    if (r.set && apply_range(s, &r, total, err) != 0) {
        return -1;
    }
    return sort ? 0 : open_candidates(s, err);
}

/* ---------------------------------------------------------------------------------------- */
/* The method */

/* Folder discovery (§3.3: hierarchical traversal of the mailbox root): the child
 * collections by name; ORDER BY may only ask for that order. */
static int folder_search(struct search *s, struct err *err)
{
    struct dav_req *dr = s->dr;
    for (size_t i = 0; i < s->norder; i++) {
        const struct repl_prop *p = &s->order[i].p;
        bool by_name =
            p->src == REPL_SRC_ROW && (p->id == REPL_RP_DISPLAYNAME || p->id == REPL_RP_HREF);
        if (!by_name || s->order[i].desc) {
            return err_set(err, &repl_cond_sql_unsupported,
                           "sql feature not supported at offset %zu ('%.64s'): folders are "
                           "listed by name only",
                           s->q.order[i].offset, s->q.order[i].prop);
        }
    }
    struct range r;
    if (parse_range(http_req_header(dr->http, "Range"), &r, err) != 0) {
        return -1;
    }
    enum store_rc rc;
    if (r.set) {
        uint64_t total = 0;
        rc = store_children_open(dr->store, s->coll.coll.id, &s->cur);
        struct store_coll c;
        while (rc == STORE_OK && (rc = store_cursor_next_coll(s->cur, &c)) == STORE_OK) {
            struct arena_mark m = arena_mark(dr->arena);
            struct folder_row f = {s, &c, NULL};
            f.href = arena_printf(dr->arena, "%s%s", s->origin,
                                  dav_child_href(dr->arena, s->coll.href, c.name, true));
            total += repl_where_eval(s->where, folder_value, &f) == 1;
            arena_rewind(dr->arena, m);
        }
        if (rc != STORE_NOTFOUND) {
            return dav_store_err(dr, rc, err);
        }
        store_cursor_close(&s->cur);
        if (apply_range(s, &r, total, err) != 0) {
            return -1;
        }
    }
    rc = store_children_open(dr->store, s->coll.coll.id, &s->cur);
    return rc == STORE_OK ? 0 : dav_store_err(dr, rc, err);
}

/* ---------------------------------------------------------------------------------------- */
/* The method */

/* §3.3 Scope: an absolute URL of this server, an absolute path, a path relative to the
 * Request-URI, or "" (the Request-URI). It must name the Request-URI or a collection below
 * it (else 409 DAV:search-scope-valid); the search then runs on that collection. */
static int resolve_scope(struct search *s, struct err *err)
{
    struct dav_req *dr = s->dr;
    struct slice scope = slice_from_cstr(s->q.scope);
    if (scope.len == 0) {
        return 0;
    }
    const char *origin = http_req_origin(dr->http);
    if (origin && slice_has_prefix(scope, slice_from_cstr(origin))) {
        scope.ptr += strlen(origin);
        scope.len -= strlen(origin);
    } else if (slice_has_prefix(scope, SLICE_LIT("http://")) ||
               slice_has_prefix(scope, SLICE_LIT("https://"))) {
        return err_set(err, &repl_cond_search_scope_valid, "scope %.200s is on another server",
                       s->q.scope);
    }
    const char *joined =
        scope.len && scope.ptr[0] == '/'
            ? arena_slicedup(dr->arena, scope)
            : arena_printf(dr->arena, "%s%.*s", s->coll.href, (int)scope.len, scope.ptr);
    const char *path = NULL;
    struct err e;
    err_init(&e);
    struct dav_res res;
    if (http_path_decode(slice_from_cstr(joined), BUF_LIMIT_HREF, dr->arena, &path, NULL, &e) !=
        0) {
        return err_set(err, &repl_cond_search_scope_valid, "scope %.200s is not a valid path",
                       s->q.scope);
    }
    if (dav_resolve(dr, path, &res, err) != 0) {
        return -1;
    }
    if (res.kind != DAV_RES_COLL ||
        !slice_has_prefix(slice_from_cstr(res.href), slice_from_cstr(s->coll.href))) {
        return err_set(err, &repl_cond_search_scope_valid,
                       "scope %.200s is not the Request-URI or a collection below it", s->q.scope);
    }
    s->coll = res;
    return 0;
}

static int replication_search(struct search *s, struct err *err)
{
    struct dav_req *dr = s->dr;
    if (s->q.depth == REPL_DEPTH_HIERARCHICAL) {
        return err_set(err, &repl_cond_sql_unsupported,
                       "hierarchical traversal in a replication SEARCH");
    }
    if (s->coll.coll.kind != STORE_COLL_CALENDAR) {
        return err_set(err, &repl_cond_sql_unsupported,
                       "a replication SEARCH needs a calendar as its scope");
    }
    struct range r;
    if (parse_range(http_req_header(dr->http, "Range"), &r, err) != 0) {
        return -1;
    }
    uint8_t key[REPL_KEY_BYTES];
    collblob_key(dr, key);
    s->initial = s->collblob == NULL;
    if (!s->initial && check_collblob(s, key, err) != 0) {
        sec_memzero(key, sizeof(key));
        return -1;
    }
    s->s = s->coll.coll.modseq;
    s->empty = !s->initial && s->s == s->w;
    struct repl_collblob nb = {
        .principal = s->principal,
        .coll = s->coll.coll.id,
        .epoch = s->coll.coll.epoch,
        .watermark = s->s,
    };
    if (query_hash(s, nb.query_hash) != 0) {
        sec_memzero(key, sizeof(key));
        return err_set(err, &repl_cond_sql_unsupported, "query too long to hash");
    }
    if (r.set && manifest_range(s, &r, &nb, err) != 0) {
        sec_memzero(key, sizeof(key));
        return -1;
    }
    char *blob = arena_alloc(dr->arena, REPL_COLLBLOB_B64 + 1);
    repl_collblob_encode(&nb, key, blob);
    s->new_blob = blob;
    sec_memzero(key, sizeof(key));
    store_cursor_close(&s->cur);
    enum store_rc rc = store_changes_open(dr->store, s->coll.coll.id, s->w, &s->cur);
    return rc == STORE_OK ? 0 : dav_store_err(dr, rc, err);
}

static int search_run(struct dav_req *dr, struct err *err)
{
    struct search *s = dr->mstate;
    int body = dav_xml_finish(dr, err);
    if (body < 0) {
        return -1;
    }
    if (body == 1 || !s->root_ok) {
        return err_set(err, &dav_cond_bad_request, "SEARCH needs a DAV:searchrequest body");
    }
    if (s->sql.len == 0) {
        return err_set(err, &dav_cond_bad_request, "SEARCH needs exactly one DAV:sql");
    }
    if (repl_sql_parse(buf_slice(&s->sql), dr->arena, &s->q, err) != 0 ||
        resolve_scope(s, err) != 0) {
        return -1;
    }
    s->plain = !s->has_repl;
    s->origin = http_req_origin(dr->http);
    bool calendar = s->coll.coll.kind == STORE_COLL_CALENDAR;
    /* §3.3: hierarchical traversal lists child collections (a calendar has none) */
    s->folders = s->plain && !calendar && s->q.depth == REPL_DEPTH_HIERARCHICAL;
    if (prepare_query(s, err) != 0) {
        return -1;
    }
    if (s->plain && !calendar && s->q.depth == REPL_DEPTH_DEEP) {
        return err_set(err, &repl_cond_sql_unsupported,
                       "deep traversal of a collection other than a calendar is not served yet");
    }
    int rc = 0;
    if (s->folders) {
        rc = folder_search(s, err);
    } else if (s->plain && (!calendar || s->q.depth == REPL_DEPTH_HIERARCHICAL)) {
        s->range_none = true; /* §3.3: the mailbox root's shallow rows; a calendar's folders */
    } else {
        rc = s->plain ? plain_search(s, err) : replication_search(s, err);
    }
    if (rc != 0) {
        return -1;
    }
    char n[64];
    snprintf(n, sizeof(n), "%zu/%zu", s->tags_total, s->tags_dropped);
    http_req_log_field(dr->http, "tags", n);
    if (s->tags_dropped) {
        snprintf(n, sizeof(n), "%zu", s->tags_dropped);
        http_resp_header(dr->http, "X-Almanac-Ignored-Tags", n);
    }
    http_resp_header(dr->http, "Accept-Ranges", "rows");
    const char *head =
        arena_printf(dr->arena, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:multistatus%s>\n",
                     repl_props_xmlns(s->https));
    dav_stream(dr, 207, "text/xml; charset=\"utf-8\"", head, "</D:multistatus>\n", search_next, s);
    return 0;
}

const struct dav_method repl_search = {.begin = search_begin, .run = search_run};
