/* dav/props.c: the live-property registry (RFC 4918 §15, RFC 5397) as one table of
 * {namespace, name, flags, getter}, and the XML names of properties on output. Later
 * protocols (CalDAV, replication) add rows here; no other file knows which live properties
 * exist. Getters append inner XML only and never touch the store beyond the resolved row. */
#include <string.h>

#include "dav/dav_int.h"
#include "dav/ext.h"
#include "util/timeutil.h"
#include "xml/xmlout.h"

static bool is_store_coll(const struct dav_res *r)
{
    return r->kind == DAV_RES_COLL;
}

static bool is_collection(const struct dav_res *r)
{
    return r->kind != DAV_RES_ITEM && r->kind != DAV_RES_NONE;
}

static int any_share(void *ctx, const struct store_share *sh)
{
    (void)sh;
    *(bool *)ctx = true;
    return 1;
}

static int get_resourcetype(struct dav_req *dr, const struct dav_res *r, struct buf *out)
{
    if (!is_collection(r)) {
        return buf_append_cstr(out, "") == 0 ? 0 : -1;
    }
    int rc = buf_append_cstr(out, "<D:collection/>");
    for (size_t e = 0; e < dr->core->app->next; e++) {
        const char *more =
            dr->core->app->ext[e]->resourcetype ? dr->core->app->ext[e]->resourcetype(dr, r) : NULL;
        if (more) {
            rc |= buf_append_cstr(out, more);
        }
    }
    if (r->kind == DAV_RES_PRINCIPAL) {
        rc |= buf_append_cstr(out, "<D:principal/>");
    } else if (is_store_coll(r) && r->coll.kind == STORE_COLL_CALENDAR) {
        rc |= buf_append_cstr(out, "<C:calendar/>");
        /* CalendarServer's sharing (caldav/share.c): the sharee's view of a share, and the
         * owner's calendar that has sharees */
        if (r->share && r->share->coll == r->coll.id) {
            rc |= buf_append_cstr(out, "<CS:shared/>");
        } else if (r->access == DAV_ACCESS_OWNER && !r->share) {
            bool shared = false;
            if (store_share_list_of_coll(dr->store, r->coll.id, any_share, &shared) != STORE_OK) {
                return -1;
            }
            if (shared) {
                rc |= buf_append_cstr(out, "<CS:shared-owner/>");
            }
        }
    }
    return rc == 0 ? 0 : -1;
}

static int get_getetag(struct dav_req *dr, const struct dav_res *r, struct buf *out)
{
    if (r->kind != DAV_RES_ITEM) {
        return 1;
    }
    (void)dr;
    return dav_etag_append(out, &r->coll, r->item.modseq) == 0 ? 0 : -1;
}

static int get_getlastmodified(struct dav_req *dr, const struct dav_res *r, struct buf *out)
{
    (void)dr;
    int64_t t;
    if (r->kind == DAV_RES_ITEM) {
        t = r->item.mtime;
    } else if (is_store_coll(r)) {
        t = r->coll.updated;
    } else {
        return 1;
    }
    char date[TIME_HTTPDATE_LEN];
    time_httpdate(t, date);
    return buf_append_cstr(out, date) == 0 ? 0 : -1;
}

static int get_creationdate(struct dav_req *dr, const struct dav_res *r, struct buf *out)
{
    (void)dr;
    if (!is_store_coll(r)) {
        return 1;
    }
    char date[32];
    time_rfc3339(r->coll.created, date, sizeof(date));
    return buf_append_cstr(out, date) == 0 ? 0 : -1;
}

static int get_getcontentlength(struct dav_req *dr, const struct dav_res *r, struct buf *out)
{
    (void)dr;
    if (r->kind != DAV_RES_ITEM) {
        return 1;
    }
    return buf_appendf(out, "%zu", r->item.size) == 0 ? 0 : -1;
}

static int get_getcontenttype(struct dav_req *dr, const struct dav_res *r, struct buf *out)
{
    (void)dr;
    if (r->kind != DAV_RES_ITEM) {
        return 1;
    }
    return xmlout_text(out, slice_from_cstr(r->item.content_type)) == 0 ? 0 : -1;
}

/* Store resources keep displayname as a dead property; the others derive it. */
static int get_displayname(struct dav_req *dr, const struct dav_res *r, struct buf *out)
{
    (void)dr;
    if (r->kind == DAV_RES_PRINCIPAL) {
        return xmlout_text(out, slice_from_cstr(r->user)) == 0 ? 0 : -1;
    }
    return 1;
}

static int write_principal_href(struct dav_req *dr, struct buf *out, const char *user)
{
    const char *href = dav_child_href(dr->arena, "/principals/", user, true);
    int rc = buf_append_cstr(out, "<D:href>");
    rc |= xmlout_text(out, slice_from_cstr(href));
    rc |= buf_append_cstr(out, "</D:href>");
    return rc == 0 ? 0 : -1;
}

/* RFC 5397 */
static int get_current_user_principal(struct dav_req *dr, const struct dav_res *r, struct buf *out)
{
    (void)r;
    return write_principal_href(dr, out, dr->user);
}

/* RFC 3744 §4.2 */
static int get_principal_url(struct dav_req *dr, const struct dav_res *r, struct buf *out)
{
    if (r->kind != DAV_RES_PRINCIPAL) {
        return 1;
    }
    return write_principal_href(dr, out, r->user); /* an owner's, seen by a sharee */
}

/* RFC 3253 §3.1.4: the live properties this resource supports. */
static int
get_supported_live_property_set(struct dav_req *dr, const struct dav_res *r, struct buf *out)
{
    size_t n = dav_live_prop_count(dr);
    struct buf probe;
    buf_init(&probe, dav_row_limit(dr));
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct dav_live_prop *p = dav_live_prop_at(dr, i);
        buf_reset(&probe);
        if (p->get == get_supported_live_property_set ||
            (p->get && !(p->flags & DAV_PROP_EXPENSIVE) && p->get(dr, r, &probe) == 0)) {
            rc |= buf_append_cstr(out, "<D:supported-live-property><D:prop>");
            rc |= dav_prop_empty(out, p->ns, p->name);
            rc |= buf_append_cstr(out, "</D:prop></D:supported-live-property>");
        }
    }
    buf_deinit(&probe);
    return rc == 0 ? 0 : -1;
}

/* ---------------------------------------------------------------------------------------- */
/* Access control, read only (RFC 3744; issue 12) */

static int write_user_href(struct dav_req *dr, struct buf *out, const char *user)
{
    const char *href = dav_child_href(dr->arena, "/principals/", user, true);
    int rc = buf_append_cstr(out, "<D:href>");
    rc |= xmlout_text(out, slice_from_cstr(href));
    rc |= buf_append_cstr(out, "</D:href>");
    return rc == 0 ? 0 : -1;
}

/* The owner of a store resource: the principal whose tree holds it. */
static const char *owner_of(struct dav_req *dr, const struct dav_res *r)
{
    return r->share ? r->share->owner : dr->user;
}

static bool is_store_res(const struct dav_res *r)
{
    return r->kind == DAV_RES_COLL || r->kind == DAV_RES_ITEM;
}

/* RFC 3744 §5.1 */
static int get_owner(struct dav_req *dr, const struct dav_res *r, struct buf *out)
{
    if (!is_store_res(r)) {
        return 1;
    }
    return write_user_href(dr, out, owner_of(dr, r));
}

static int privileges(struct buf *out, const char *const *names, size_t n)
{
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        rc |= buf_appendf(out, "<D:privilege><D:%s/></D:privilege>", names[i]);
    }
    return rc == 0 ? 0 : -1;
}

/* The privileges `access` holds on a collection or on an item (a read-write sharee writes
 * items and their properties, binds and unbinds members, never writes the collection's own
 * properties: calstore_access_allows). Aggregates are listed with what they contain. */
static const char *const priv_owner[] = {"all",           "read",
                                         "read-acl",      "read-current-user-privilege-set",
                                         "write",         "write-properties",
                                         "write-content", "bind",
                                         "unbind"};
static const char *const priv_rw_coll[] = {"read", "read-current-user-privilege-set",
                                           "write-content", "bind", "unbind"};
static const char *const priv_rw_item[] = {"read", "read-current-user-privilege-set", "write",
                                           "write-properties", "write-content"};
static const char *const priv_read[] = {"read", "read-current-user-privilege-set"};

/* RFC 3744 §5.4 */
static int
get_current_user_privilege_set(struct dav_req *dr, const struct dav_res *r, struct buf *out)
{
    (void)dr;
    if (r->kind == DAV_RES_NONE) {
        return 1;
    }
    if (!is_store_res(r)) {
        return privileges(out, priv_read, ALM_ARRAY_LEN(priv_read));
    }
    switch (r->access) {
    case DAV_ACCESS_OWNER:
        return privileges(out, priv_owner, ALM_ARRAY_LEN(priv_owner));
    case DAV_ACCESS_READ_WRITE:
        return r->kind == DAV_RES_ITEM ? privileges(out, priv_rw_item, ALM_ARRAY_LEN(priv_rw_item))
                                       : privileges(out, priv_rw_coll, ALM_ARRAY_LEN(priv_rw_coll));
    case DAV_ACCESS_READ:
        return privileges(out, priv_read, ALM_ARRAY_LEN(priv_read));
    case DAV_ACCESS_NONE:
        break;
    }
    return 1;
}

static int ace(struct dav_req *dr,
               struct buf *out,
               const char *user,
               const char *const *names,
               size_t n,
               bool is_protected)
{
    int rc = buf_append_cstr(out, "<D:ace><D:principal>");
    rc |= write_user_href(dr, out, user);
    rc |= buf_append_cstr(out, "</D:principal><D:grant>");
    rc |= privileges(out, names, n);
    rc |= buf_append_cstr(out, "</D:grant>");
    if (is_protected) {
        rc |= buf_append_cstr(out, "<D:protected/>");
    }
    rc |= buf_append_cstr(out, "</D:ace>");
    return rc == 0 ? 0 : -1;
}

struct acl_ctx {
    struct dav_req *dr;
    struct buf *out;
    bool item;
    int rc;
};

static int acl_share(void *ctx, const struct store_share *sh)
{
    struct acl_ctx *a = ctx;
    bool rw = sh->access == STORE_SHARE_READ_WRITE;
    const char *const *names = rw ? (a->item ? priv_rw_item : priv_rw_coll) : priv_read;
    size_t n = rw ? (a->item ? ALM_ARRAY_LEN(priv_rw_item) : ALM_ARRAY_LEN(priv_rw_coll))
                  : ALM_ARRAY_LEN(priv_read);
    a->rc |= ace(a->dr, a->out, sh->sharee_name, names, n, false);
    return 0;
}

/* RFC 3744 §5.5, read only (no ACL method: grants change with the admin CLI or CS:share).
 * The owner sees their ACE and one per sharee of the collection (an item's: its calendar's);
 * a sharee sees the owner's ACE and their own. */
static int get_acl(struct dav_req *dr, const struct dav_res *r, struct buf *out)
{
    if (!is_store_res(r)) {
        return 1;
    }
    if (ace(dr, out, owner_of(dr, r), priv_owner, ALM_ARRAY_LEN(priv_owner), true) != 0) {
        return -1;
    }
    bool item = r->kind == DAV_RES_ITEM;
    if (r->access == DAV_ACCESS_OWNER) {
        if (r->coll.kind == STORE_COLL_HOME) {
            return 0;
        }
        struct acl_ctx a = {dr, out, item, 0};
        if (store_share_list_of_coll(dr->store, r->coll.id, acl_share, &a) != STORE_OK) {
            return -1;
        }
        return a.rc == 0 ? 0 : -1;
    }
    bool rw = r->access == DAV_ACCESS_READ_WRITE;
    const char *const *names = rw ? (item ? priv_rw_item : priv_rw_coll) : priv_read;
    size_t n = rw ? (item ? ALM_ARRAY_LEN(priv_rw_item) : ALM_ARRAY_LEN(priv_rw_coll))
                  : ALM_ARRAY_LEN(priv_read);
    return ace(dr, out, dr->user, names, n, false);
}

/* RFC 3744 §5.3: the privileges this server knows, as their aggregation tree. */
static int get_supported_privilege_set(struct dav_req *dr, const struct dav_res *r, struct buf *out)
{
    (void)dr;
    if (r->kind == DAV_RES_NONE) {
        return 1;
    }
#define SP(name, text)                                              \
  "<D:supported-privilege><D:privilege><D:" name "/></D:privilege>" \
  "<D:description xml:lang=\"en\">" text "</D:description>"
#define SP_END "</D:supported-privilege>"
    static const char tree[] = SP("all", "Any operation") SP("read", "Read any object")
        SP("read-current-user-privilege-set", "Read the current user privilege set")
            SP_END SP_END SP("read-acl", "Read the access control list")
                SP_END SP("write", "Write any object") SP("write-properties", "Write properties")
                    SP_END SP("write-content", "Write resource content")
                        SP_END SP("bind", "Add a member") SP_END SP("unbind", "Remove a member")
                            SP_END SP_END SP_END;
#undef SP
#undef SP_END
    return buf_append_cstr(out, tree) == 0 ? 0 : -1;
}

/* RFC 3744 §5.8: the principals of this server are below /principals/. */
static int
get_principal_collection_set(struct dav_req *dr, const struct dav_res *r, struct buf *out)
{
    (void)dr;
    (void)r;
    return buf_append_cstr(out, "<D:href>/principals/</D:href>") == 0 ? 0 : -1;
}

static const struct dav_live_prop live_props[] = {
    {DAV_NS, "resourcetype", DAV_PROP_ALLPROP | DAV_PROP_PROTECTED | DAV_PROP_LISTING,
     get_resourcetype},
    {DAV_NS, "getetag", DAV_PROP_ALLPROP | DAV_PROP_PROTECTED | DAV_PROP_LISTING, get_getetag},
    {DAV_NS, "getlastmodified", DAV_PROP_ALLPROP | DAV_PROP_PROTECTED, get_getlastmodified},
    {DAV_NS, "creationdate", DAV_PROP_ALLPROP | DAV_PROP_PROTECTED, get_creationdate},
    {DAV_NS, "getcontentlength", DAV_PROP_ALLPROP | DAV_PROP_PROTECTED, get_getcontentlength},
    {DAV_NS, "getcontenttype", DAV_PROP_ALLPROP | DAV_PROP_PROTECTED, get_getcontenttype},
    {DAV_NS, "displayname", DAV_PROP_ALLPROP | DAV_PROP_LISTING, get_displayname},
    {DAV_NS, "current-user-principal", DAV_PROP_PROTECTED, get_current_user_principal},
    {DAV_NS, "principal-URL", DAV_PROP_PROTECTED, get_principal_url},
    {DAV_NS, "supported-live-property-set", DAV_PROP_PROTECTED, get_supported_live_property_set},
    {DAV_NS, "owner", DAV_PROP_PROTECTED, get_owner},
    {DAV_NS, "current-user-privilege-set", DAV_PROP_PROTECTED, get_current_user_privilege_set},
    {DAV_NS, "acl", DAV_PROP_PROTECTED, get_acl},
    {DAV_NS, "supported-privilege-set", DAV_PROP_PROTECTED, get_supported_privilege_set},
    {DAV_NS, "principal-collection-set", DAV_PROP_PROTECTED, get_principal_collection_set},
    {DAV_NS, "lockdiscovery", DAV_PROP_PROTECTED, NULL},
    {DAV_NS, "supportedlock", DAV_PROP_PROTECTED, NULL},
};

size_t dav_live_prop_count(const struct dav_req *dr)
{
    size_t n = ALM_ARRAY_LEN(live_props);
    for (size_t e = 0; e < dr->core->app->next; e++) {
        n += dr->core->app->ext[e]->nprops;
    }
    return n;
}

const struct dav_live_prop *dav_live_prop_at(const struct dav_req *dr, size_t i)
{
    if (i < ALM_ARRAY_LEN(live_props)) {
        return &live_props[i];
    }
    i -= ALM_ARRAY_LEN(live_props);
    for (size_t e = 0; e < dr->core->app->next; e++) {
        if (i < dr->core->app->ext[e]->nprops) {
            return &dr->core->app->ext[e]->props[i];
        }
        i -= dr->core->app->ext[e]->nprops;
    }
    return NULL; /* i < dav_live_prop_count() by contract */
}

const struct dav_live_prop *
dav_live_prop_find(const struct dav_req *dr, struct slice ns, struct slice name)
{
    size_t n = dav_live_prop_count(dr);
    for (size_t i = 0; i < n; i++) {
        const struct dav_live_prop *p = dav_live_prop_at(dr, i);
        if (slice_eq(ns, slice_from_cstr(p->ns)) && slice_eq(name, slice_from_cstr(p->name))) {
            return p;
        }
    }
    return NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Property names on output */

static const char *known_prefix(const char *ns)
{
    if (strcmp(ns, DAV_NS) == 0) {
        return "D";
    }
    if (strcmp(ns, DAV_NS_CALDAV) == 0) {
        return "C";
    }
    if (strcmp(ns, DAV_NS_CS) == 0) {
        return "CS";
    }
    if (strcmp(ns, DAV_NS_ALMANAC) == 0) {
        return "A";
    }
    return NULL;
}

/* "<" or "</", the prefix, ':', the name and `end` composed on the stack and appended at once
 * when they fit: a property's tags are several appends of a few bytes each, for every row of
 * a multistatus (issue 16). Returns 0 appended, -1 over the buf's limit, 1 not composed. */
static int
tag_short(struct buf *b, const char *open, const char *prefix, const char *name, const char *end)
{
    char t[128];
    size_t ol = strlen(open);
    size_t pl = strlen(prefix);
    size_t nl = strlen(name);
    size_t el = strlen(end);
    if (ol + pl + 1 + nl + el > sizeof(t)) {
        return 1;
    }
    memcpy(t, open, ol);
    memcpy(t + ol, prefix, pl);
    t[ol + pl] = ':';
    memcpy(t + ol + pl + 1, name, nl);
    memcpy(t + ol + pl + 1 + nl, end, el);
    return buf_append(b, t, ol + pl + 1 + nl + el) == 0 ? 0 : -1;
}

static int prop_tag(struct buf *b, const char *ns, const char *name, const char *end)
{
    const char *prefix = known_prefix(ns);
    if (prefix) {
        int t = tag_short(b, "<", prefix, name, end);
        if (t <= 0) {
            return t;
        }
    }
    int rc = buf_putc(b, '<');
    if (prefix) {
        rc |= buf_append_cstr(b, prefix);
        rc |= buf_putc(b, ':');
        rc |= buf_append_cstr(b, name);
    } else if (ns[0] == '\0') {
        rc |= buf_append_cstr(b, name);
        rc |= buf_append_cstr(b, " xmlns=\"\"");
    } else {
        rc |= buf_append_cstr(b, "X:");
        rc |= buf_append_cstr(b, name);
        rc |= buf_append_cstr(b, " xmlns:X=\"");
        rc |= xmlout_attr(b, slice_from_cstr(ns));
        rc |= buf_putc(b, '"');
    }
    rc |= buf_append_cstr(b, end);
    return rc == 0 ? 0 : -1;
}

int dav_prop_open(struct buf *b, const char *ns, const char *name)
{
    return prop_tag(b, ns, name, ">");
}

int dav_prop_open_typed(struct buf *b, const char *ns, const char *name, unsigned flags)
{
    static const char *const dt[] = {
        [DAV_PROP_DT_INT >> 4] = "int",
        [DAV_PROP_DT_BOOLEAN >> 4] = "boolean",
        [DAV_PROP_DT_DATETIME >> 4] = "dateTime.tz",
        [DAV_PROP_DT_MV_STRING >> 4] = "mv.string",
        [DAV_PROP_DT_MV_DATETIME >> 4] = "mv.dateTime.tz",
    };
    unsigned t = (flags & DAV_PROP_DT_MASK) >> 4;
    if (t == 0 || t >= ALM_ARRAY_LEN(dt)) {
        return dav_prop_open(b, ns, name);
    }
    int rc = prop_tag(b, ns, name, " xmlns:dt=\"urn:uuid:c2f41010-65b3-11d1-a29f-00aa00c14882/\"");
    if (t == DAV_PROP_DT_MV_STRING >> 4 || t == DAV_PROP_DT_MV_DATETIME >> 4) {
        rc |= buf_append_cstr(b, " xmlns:v=\"xml:\""); /* one <v:v> per value */
    }
    rc |= buf_appendf(b, " dt:dt=\"%s\">", dt[t]);
    return rc == 0 ? 0 : -1;
}

int dav_prop_empty(struct buf *b, const char *ns, const char *name)
{
    return prop_tag(b, ns, name, "/>");
}

int dav_prop_close(struct buf *b, const char *ns, const char *name)
{
    const char *prefix = known_prefix(ns);
    if (prefix) {
        int t = tag_short(b, "</", prefix, name, ">");
        if (t <= 0) {
            return t;
        }
    }
    int rc = buf_append_cstr(b, "</");
    if (prefix) {
        rc |= buf_append_cstr(b, prefix);
        rc |= buf_putc(b, ':');
    } else if (ns[0] != '\0') {
        rc |= buf_append_cstr(b, "X:");
    }
    rc |= buf_append_cstr(b, name);
    rc |= buf_putc(b, '>');
    return rc == 0 ? 0 : -1;
}
