/* repl/search.c: the replication SEARCH (exchange-replication.md §1.3-1.6, §3): the request
 * body streams into the SQL text, the collblob and a compact tag set (never a DOM, never an
 * IN list); the manifest streams from the collection's change log inside one read snapshot,
 * rows classified by §3.9. This slice answers queries whose WHERE folds to TRUE on a calendar
 * (contentclass, isfolder, ishidden); richer WHERE clauses and plain SEARCH are named 422s.
 * Conditions: repl_cond_invalid_collblob (475), repl_cond_sql_* (400/422),
 * repl_cond_too_many_tags (413), repl_cond_not_xml (415), dav_cond_not_found (404). */
#include <stdio.h>
#include <string.h>

#include "dav/ext.h"
#include "repl/repl.h"
#include "repl/repl_int.h"
#include "repl/sql.h"
#include "repl/tokens.h"
#include "util/sec.h"
#include "xml/xmlout.h"

#define REPL_NS       "http://schemas.microsoft.com/repl/"
#define REPL_NS_HTTPS "https://schemas.microsoft.com/repl/"
#define DT_NS         "urn:uuid:c2f41010-65b3-11d1-a29f-00aa00c14882/"

enum {
    SEARCH_SQL_MAX = 64 * 1024, /* bytes of D:sql */
    SEARCH_TEXT_MAX = REPL_COLLBLOB_TEXT_MAX + 64,
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
    bool initial;
    uint64_t w; /* the client's watermark */
    uint64_t s; /* the snapshot's collection modseq */
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
                       s->dr->app->limits.xml_max_elements);
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
    s->tags = repl_tagset_create(dr->app->limits.xml_max_elements);
    arena_defer(dr->arena, free_search, s);
    dr->mstate = s;
    /* One snapshot from here to the last row of the answer (§3.9). */
    if (dav_begin_read(dr, err) != 0 || dav_resolve(dr, http_req_path(dr->http), &s->coll, err)) {
        return -1;
    }
    if (s->coll.kind != DAV_RES_COLL) {
        return err_set(err, &dav_cond_not_found, "SEARCH needs an existing collection");
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

/* §3.3: predicates that are TRUE for every resource of a calendar fold away. */
static bool folds_true(const struct repl_expr *e)
{
    if (e->kind == REPL_EXPR_AND) {
        return folds_true(e->a) && folds_true(e->b);
    }
    if (e->kind != REPL_EXPR_CMP || e->op != REPL_EQ || e->left.kind != REPL_OPD_PROP) {
        return false;
    }
    const char *p = e->left.text;
    const struct repl_operand *v = &e->right;
    if (strcmp(p, "DAV:contentclass") == 0) {
        return v->kind == REPL_OPD_STRING &&
               strcmp(v->text, "urn:content-classes:appointment") == 0;
    }
    if (strcmp(p, "DAV:isfolder") == 0 || strcmp(p, "DAV:ishidden") == 0) {
        return (v->kind == REPL_OPD_BOOL && !v->boolean) ||
               (v->kind == REPL_OPD_NUMBER && strcmp(v->text, "0") == 0);
    }
    return false;
}

/* The canonical query of §1.3 for this slice: collection, depth and the folded WHERE. */
static void query_hash(const struct search *s, uint8_t out[16])
{
    char text[128];
    int n = snprintf(text, sizeof(text), "coll=%llu depth=%d where=TRUE",
                     (unsigned long long)s->coll.coll.id, (int)s->q.depth);
    repl_query_hash((struct slice){text, n > 0 ? (size_t)n : 0}, out);
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
    query_hash(s, qh);
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
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* The manifest */

static int write_value_prop(struct buf *out, const char *qname, const char *value)
{
    int rc = buf_appendf(out, "<%s>", qname);
    rc |= xmlout_text(out, slice_from_cstr(value));
    rc |= buf_appendf(out, "</%s>", qname);
    return rc;
}

/* §3.3: a local name from the query written as an XML name; characters an NCName cannot
 * hold (a MAPI id's leading digit, '<', spaces) become _xHHHH_. */
static int append_xml_name(struct buf *b, const char *name)
{
    int rc = 0;
    for (size_t i = 0; name[i]; i++) {
        unsigned char c = (unsigned char)name[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        bool more = (c >= '0' && c <= '9') || c == '-' || c == '.';
        if (alpha || (i > 0 && more)) {
            rc |= buf_putc(b, (char)c);
        } else {
            rc |= buf_appendf(b, "_x%04X_", c);
        }
    }
    if (!name[0]) {
        rc |= buf_append_cstr(b, "_x0000_");
    }
    return rc;
}

/* One manifest row (§3.4). */
static int
write_row(struct search *s, const struct store_item *it, const char *changetype, struct buf *out)
{
    struct dav_req *dr = s->dr;
    const char *href = arena_printf(dr->arena, "%s%s", s->origin,
                                    dav_child_href(dr->arena, s->coll.href, it->name, false));
    char uid[REPL_UID_LEN + 1];
    char tag[REPL_TAG_LEN + 1];
    repl_uid_format(s->guid, it->id, uid);
    repl_tag_format(s->guid, it->id, s->coll.coll.change_guid, it->modseq, tag);
    struct buf missing;
    buf_init(&missing, DAV_ROW_LIMIT);
    int rc = buf_append_cstr(out, "<D:response><D:href>");
    rc |= xmlout_text(out, slice_from_cstr(href));
    rc |= buf_append_cstr(out, "</D:href><D:propstat><D:prop>");
    bool deleted = it->is_tombstone;
    for (size_t i = 0; i < s->q.nitems; i++) {
        const char *p = s->q.items[i].prop;
        bool repl = strncmp(p, REPL_NS, strlen(REPL_NS)) == 0 ||
                    strncmp(p, REPL_NS_HTTPS, strlen(REPL_NS_HTTPS)) == 0;
        const char *local = strrchr(p, '/');
        local = repl && local ? local + 1 : p;
        if (repl && strcmp(local, "resourcetag") == 0) {
            rc |= write_value_prop(out, "R:resourcetag", tag);
        } else if (repl && (strcmp(local, "repl-uid") == 0 || strcmp(local, "changetype") == 0)) {
            /* always written below, once */
        } else if (strcmp(p, "DAV:href") == 0) {
            rc |= write_value_prop(out, "D:href", href);
        } else if (strcmp(p, "DAV:getetag") == 0 && !deleted) {
            rc |=
                write_value_prop(out, "D:getetag", dav_etag(dr->arena, &s->coll.coll, it->modseq));
        } else if (strcmp(p, "DAV:contentclass") == 0 && !deleted) {
            rc |= write_value_prop(out, "D:contentclass", "urn:content-classes:appointment");
        } else if (strcmp(p, "DAV:isfolder") == 0 && !deleted) {
            rc |= buf_append_cstr(out, "<D:isfolder dt:dt=\"boolean\">0</D:isfolder>");
        } else {
            /* not (yet) known for this resource: an empty element in the 404 propstat */
            const char *cut = strrchr(p, ':');
            const char *slash = strrchr(p, '/');
            const char *hash = strrchr(p, '#');
            const char *sep = cut;
            if (slash && (!sep || slash > sep)) {
                sep = slash;
            }
            if (hash && (!sep || hash > sep)) {
                sep = hash;
            }
            const char *lname = sep ? sep + 1 : p;
            size_t nslen = sep ? (size_t)(sep - p) + (sep == cut || sep == slash ? 1 : 0) : 0;
            rc |= buf_append_cstr(&missing, "<X:");
            rc |= append_xml_name(&missing, lname);
            rc |= buf_append_cstr(&missing, " xmlns:X=\"");
            rc |= xmlout_attr(&missing, (struct slice){p, nslen});
            rc |= buf_append_cstr(&missing, "\"/>");
        }
    }
    rc |= write_value_prop(out, "R:repl-uid", uid);
    rc |= write_value_prop(out, "R:changetype", changetype);
    rc |= buf_append_cstr(out, "</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>");
    if (missing.len) {
        rc |= buf_append_cstr(out, "<D:propstat><D:prop>");
        rc |= buf_append_slice(out, buf_slice(&missing));
        rc |= buf_append_cstr(out, "</D:prop><D:status>HTTP/1.1 404 Not Found</D:status>"
                                   "</D:propstat>");
    }
    rc |= buf_append_cstr(out, "</D:response>\n");
    buf_deinit(&missing);
    return rc == 0 ? 0 : -1;
}

/* §3.9 with a query that matches every resource of the calendar. */
static const char *classify(const struct search *s, const struct store_item *c)
{
    uint64_t listed = 0;
    bool is_listed = repl_tagset_get(s->tags, c->id, &listed);
    if (c->is_tombstone) {
        if (s->initial || (c->created_modseq > s->w && !is_listed)) {
            return NULL; /* the client never saw it */
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

static int search_next(void *ctx, struct buf *out)
{
    struct search *s = ctx;
    struct dav_req *dr = s->dr;
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
    if (s->empty) {
        return 0;
    }
    for (;;) {
        struct store_item it;
        enum store_rc rc = store_cursor_next_item(s->cur, &it);
        if (rc == STORE_NOTFOUND) {
            return 0;
        }
        if (rc != STORE_OK) {
            return -1;
        }
        const char *changetype = classify(s, &it);
        if (!changetype) {
            continue;
        }
        struct arena_mark m = arena_mark(dr->arena);
        int w = write_row(s, &it, changetype, out);
        arena_rewind(dr->arena, m);
        return w == 0 ? 1 : -1;
    }
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
    if (repl_sql_parse(buf_slice(&s->sql), dr->arena, &s->q, err) != 0) {
        return -1;
    }
    if (!s->has_repl) {
        return err_set(err, &repl_cond_sql_unsupported,
                       "plain SEARCH (without R:repl) is not served yet");
    }
    if (s->q.depth == REPL_DEPTH_HIERARCHICAL) {
        return err_set(err, &repl_cond_sql_unsupported,
                       "hierarchical traversal in a replication SEARCH");
    }
    if (s->q.scope[0] != '\0') {
        const char *path = NULL;
        struct err e;
        err_init(&e);
        if (http_path_decode(slice_from_cstr(s->q.scope), BUF_LIMIT_HREF, dr->arena, &path, NULL,
                             &e) != 0 ||
            strcmp(path, http_req_path(dr->http)) != 0) {
            return err_set(err, &repl_cond_sql_unsupported,
                           "a scope other than the Request-URI is not served yet");
        }
    }
    if (s->q.where && !folds_true(s->q.where)) {
        return err_set(err, &repl_cond_sql_unsupported,
                       "WHERE clauses other than contentclass/isfolder/ishidden are not served "
                       "yet in a replication SEARCH");
    }
    uint8_t key[REPL_KEY_BYTES];
    collblob_key(dr, key);
    s->initial = s->collblob == NULL;
    if (!s->initial && check_collblob(s, key, err) != 0) {
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
    query_hash(s, nb.query_hash);
    char *blob = arena_alloc(dr->arena, REPL_COLLBLOB_B64 + 1);
    repl_collblob_encode(&nb, key, blob);
    s->new_blob = blob;
    sec_memzero(key, sizeof(key));
    enum store_rc rc = store_changes_open(dr->store, s->coll.coll.id, s->w, &s->cur);
    if (rc != STORE_OK) {
        return dav_store_err(dr, rc, err);
    }
    s->origin = http_req_origin(dr->http);
    char n[64];
    snprintf(n, sizeof(n), "%zu/%zu", s->tags_total, s->tags_dropped);
    http_req_log_field(dr->http, "tags", n);
    http_resp_header(dr->http, "Accept-Ranges", "rows");
    dav_stream(dr, 207, "text/xml; charset=\"utf-8\"",
               s->https ? "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:multistatus "
                          "xmlns:D=\"DAV:\" xmlns:R=\"" REPL_NS_HTTPS "\" xmlns:dt=\"" DT_NS "\">\n"
                        : "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:multistatus "
                          "xmlns:D=\"DAV:\" xmlns:R=\"" REPL_NS "\" xmlns:dt=\"" DT_NS "\">\n",
               "</D:multistatus>\n", search_next, s);
    return 0;
}

const struct dav_method repl_search = {.begin = search_begin, .run = search_run};
