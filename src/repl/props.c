/* repl/props.c: names, types and wire values of the /exchange item properties
 * (exchange-replication.md §3.3, §4.1-4.5), and those properties as PROPFIND live properties.
 * Values of iCalendar-derived properties come from repl/exprops.c. */
#include "repl/props.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "calstore/calstore.h"
#include "repl/repl.h"
#include "repl/repl_int.h"
#include "repl/tokens.h"
#include "util/sec.h"
#include "xml/xmlout.h"

static const struct {
    const char *ns;
    const char *name;
    enum repl_ex_type type;
} rowprops[REPL_RP_COUNT] = {
    [REPL_RP_HREF] = {"DAV:", "href", REPL_EX_STRING},
    [REPL_RP_GETETAG] = {"DAV:", "getetag", REPL_EX_STRING},
    [REPL_RP_CONTENTCLASS] = {"DAV:", "contentclass", REPL_EX_STRING},
    [REPL_RP_ISFOLDER] = {"DAV:", "isfolder", REPL_EX_BOOL},
    [REPL_RP_ISCOLLECTION] = {"DAV:", "iscollection", REPL_EX_BOOL},
    [REPL_RP_ISHIDDEN] = {"DAV:", "ishidden", REPL_EX_BOOL},
    [REPL_RP_ISREADONLY] = {"DAV:", "isreadonly", REPL_EX_BOOL},
    [REPL_RP_GETCONTENTTYPE] = {"DAV:", "getcontenttype", REPL_EX_STRING},
    [REPL_RP_GETCONTENTLENGTH] = {"DAV:", "getcontentlength", REPL_EX_INT},
    [REPL_RP_DISPLAYNAME] = {"DAV:", "displayname", REPL_EX_STRING},
    [REPL_RP_GETLASTMODIFIED] = {"DAV:", "getlastmodified", REPL_EX_TIME},
    [REPL_RP_PARENTNAME] = {"DAV:", "parentname", REPL_EX_STRING},
    [REPL_RP_REPL_UID] = {REPL_NS, "repl-uid", REPL_EX_STRING},
    [REPL_RP_RESOURCETAG] = {REPL_NS, "resourcetag", REPL_EX_STRING},
    [REPL_RP_CHANGETYPE] = {REPL_NS, "changetype", REPL_EX_STRING},
    [REPL_RP_CONTENTTAG] = {REPL_NS, "contenttag", REPL_EX_STRING},
    [REPL_RP_OUTLOOKFOLDERCLASS] = {REPL_EX_NS_EXCHANGE, "outlookfolderclass", REPL_EX_STRING},
};

void repl_prop_resolve(const char *uri, struct arena *arena, struct repl_prop *out)
{
    memset(out, 0, sizeof(*out));
    out->uri = uri;
    const char *sep = NULL;
    for (const char *c = uri; *c; c++) {
        if (*c == ':' || *c == '/' || *c == '#') {
            sep = c;
        }
    }
    if (!sep) {
        out->ns = "";
        out->local = uri;
    } else {
        /* '#' is dropped from the namespace, ':' and '/' are kept (§3.3) */
        size_t nslen = (size_t)(sep - uri) + (*sep == '#' ? 0 : 1);
        out->ns = arena_strndup(arena, uri, nslen);
        out->local = sep + 1;
    }
    if (strcmp(out->ns, REPL_NS_HTTPS) == 0) {
        out->ns = REPL_NS;
    }
    for (int i = 0; i < REPL_RP_COUNT; i++) {
        if (strcmp(out->ns, rowprops[i].ns) == 0 && strcmp(out->local, rowprops[i].name) == 0) {
            out->src = REPL_SRC_ROW;
            out->id = i;
            out->type = rowprops[i].type;
            return;
        }
    }
    int id = repl_exprop_find(slice_from_cstr(out->ns), slice_from_cstr(out->local));
    if (id >= 0) {
        out->src = REPL_SRC_CAL;
        out->id = id;
        out->type = repl_exprop_def((enum repl_exprop)id)->type;
    }
}

#define XMLNS_FIXED                                                                  \
  " xmlns:C=\"urn:schemas:calendar:\" xmlns:H=\"urn:schemas:httpmail:\""             \
  " xmlns:E=\"http://schemas.microsoft.com/exchange/\""                              \
  " xmlns:O=\"urn:schemas-microsoft-com:office:office\" xmlns:dt=\"" REPL_DT_NS "\"" \
  " xmlns:v=\"xml:\""

const char *repl_props_xmlns(bool https)
{
    return https ? " xmlns:D=\"DAV:\" xmlns:R=\"" REPL_NS_HTTPS "\"" XMLNS_FIXED
                 : " xmlns:D=\"DAV:\" xmlns:R=\"" REPL_NS "\"" XMLNS_FIXED;
}

static const char *prefix_of(const char *ns)
{
    static const struct {
        const char *ns;
        const char *prefix;
    } known[] = {
        {"DAV:", "D"},
        {REPL_NS, "R"},
        {REPL_EX_NS_CALENDAR, "C"},
        {REPL_EX_NS_HTTPMAIL, "H"},
        {REPL_EX_NS_EXCHANGE, "E"},
        {REPL_EX_NS_OFFICE, "O"},
    };

    for (size_t i = 0; i < ALM_ARRAY_LEN(known); i++) {
        if (strcmp(ns, known[i].ns) == 0) {
            return known[i].prefix;
        }
    }
    return NULL;
}

/* The UTF-8 character at s: its code point, and its length in *len; -1 (with *len 1) for a
 * byte that does not start a well-formed sequence of a Unicode scalar value. */
static long utf8_at(const unsigned char *s, size_t *len)
{
    *len = 1;
    if (s[0] < 0x80) {
        return s[0];
    }
    size_t n = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
    if (n == 0 || (n == 3 && s[0] > 0xef)) {
        return -1;
    }
    long cp = s[0] & (0x7f >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return -1;
        }
        cp = cp << 6 | (s[i] & 0x3f);
    }
    static const long min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        return -1;
    }
    *len = n;
    return cp;
}

/* XML 1.0 (fifth edition) §2.3 NameStartChar without ':' (an NCName's), or NameChar when
 * !first. */
static bool is_name_char(long c, bool first)
{
    bool start = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                 (c >= 0xc0 && c <= 0xd6) || (c >= 0xd8 && c <= 0xf6) ||
                 (c >= 0xf8 && c <= 0x2ff) || (c >= 0x370 && c <= 0x37d) ||
                 (c >= 0x37f && c <= 0x1fff) || (c >= 0x200c && c <= 0x200d) ||
                 (c >= 0x2070 && c <= 0x218f) || (c >= 0x2c00 && c <= 0x2fef) ||
                 (c >= 0x3001 && c <= 0xd7ff) || (c >= 0xf900 && c <= 0xfdcf) ||
                 (c >= 0xfdf0 && c <= 0xfffd) || (c >= 0x10000 && c <= 0xeffff);
    if (start || first) {
        return start;
    }
    return c == '-' || c == '.' || (c >= '0' && c <= '9') || c == 0xb7 ||
           (c >= 0x300 && c <= 0x36f) || (c >= 0x203f && c <= 0x2040);
}

bool repl_is_xml_name(const char *s)
{
    if (!s[0]) {
        return false;
    }
    for (size_t i = 0, n; s[i]; i += n) {
        if (!is_name_char(utf8_at((const unsigned char *)s + i, &n), i == 0)) {
            return false;
        }
    }
    return true;
}

static bool uri_unreserved(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

static bool uri_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* The length of the RFC 3986 character at s (unreserved, sub-delims, pct-encoded, or one of
 * `extra`), or 0 when there is none. */
static size_t uri_char(const char *s, const char *extra)
{
    if (s[0] == '%') {
        return uri_hex(s[1]) && uri_hex(s[2]) ? 3 : 0;
    }
    return s[0] && (uri_unreserved(s[0]) || strchr("!$&'()*+,;=", s[0]) || strchr(extra, s[0])) ? 1
                                                                                                : 0;
}

/* Skips the characters of `extra` and the RFC 3986 unreserved, sub-delims and pct-encoded
 * ones from *s. */
static void uri_skip(const char **s, const char *extra)
{
    for (size_t n; (n = uri_char(*s, extra)) > 0;) {
        *s += n;
    }
}

bool repl_is_uri(const char *s)
{
    /* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */
    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z'))) {
        return false;
    }
    while ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
           *s == '+' || *s == '-' || *s == '.') {
        s++;
    }
    if (*s++ != ':') {
        return false;
    }
    if (s[0] == '/' && s[1] == '/') {
        /* authority = [ userinfo "@" ] host [ ":" port ]; host a reg-name only: an IP literal
         * or an IPv4 address, and a name starting with a digit that libxml2 2.9 would take
         * for one, are refused rather than checked */
        s += 2;
        const char *at = s;
        uri_skip(&at, ":");
        if (*at == '@') {
            s = at + 1;
        }
        if (*s >= '0' && *s <= '9') {
            return false;
        }
        uri_skip(&s, "");
        if (*s == ':') {
            s++;
            if (!(*s >= '0' && *s <= '9')) {
                return false; /* libxml2 2.9 wants a port after the ':' */
            }
            while (*s >= '0' && *s <= '9') {
                s++;
            }
        }
        if (*s && *s != '/' && *s != '?' && *s != '#') {
            return false;
        }
    }
    uri_skip(&s, ":@/"); /* the path: pchar and '/' */
    if (*s == '?') {
        s++;
        uri_skip(&s, ":@/?");
    }
    if (*s == '#') {
        s++;
        uri_skip(&s, ":@/?");
    }
    return *s == '\0';
}

/* §3.3: a local name written as an XML name; characters an NCName cannot hold (a MAPI id's
 * leading digit, '<', spaces) become _xHHHH_. */
static int append_xml_name(struct buf *b, const char *name)
{
    int rc = 0;
    for (size_t i = 0, n; name[i]; i += n) {
        long c = utf8_at((const unsigned char *)name + i, &n);
        if (is_name_char(c, i == 0)) {
            rc |= buf_append(b, name + i, n);
        } else if (c >= 0) {
            rc |= buf_appendf(b, c > 0xffff ? "_x%08lX_" : "_x%04lX_", c);
        } else {
            rc |= buf_appendf(b, "_x%04X_", (unsigned char)name[i]); /* a stray byte */
        }
    }
    if (!name[0]) {
        rc |= buf_append_cstr(b, "_x0000_");
    }
    return rc;
}

/* "<" + the element name (+ its xmlns when the prefix is not declared on the root). */
static int open_name(struct buf *out, const struct repl_prop *p, const char *alias)
{
    int rc = buf_putc(out, '<');
    if (alias) {
        return rc | buf_append_cstr(out, alias);
    }
    const char *prefix = prefix_of(p->ns);
    if (prefix) {
        rc |= buf_appendf(out, "%s:", prefix);
        return rc | append_xml_name(out, p->local);
    }
    rc |= buf_append_cstr(out, p->ns[0] ? "X:" : "");
    rc |= append_xml_name(out, p->local);
    if (p->ns[0]) {
        rc |= buf_append_cstr(out, " xmlns:X=\"");
        rc |= xmlout_attr(out, slice_from_cstr(p->ns));
        rc |= buf_putc(out, '"');
    }
    return rc;
}

static int close_name(struct buf *out, const struct repl_prop *p, const char *alias)
{
    int rc = buf_append_cstr(out, "</");
    if (alias) {
        rc |= buf_append_cstr(out, alias);
    } else {
        const char *prefix = prefix_of(p->ns);
        rc |= prefix ? buf_appendf(out, "%s:", prefix) : buf_append_cstr(out, p->ns[0] ? "X:" : "");
        rc |= append_xml_name(out, p->local);
    }
    return rc | buf_putc(out, '>');
}

void repl_time_format(int64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm)) {
        memset(&tm, 0, sizeof(tm));
    }
    /* years past 9999 (an endless span) cannot be written in this form: clamp */
    int year = tm.tm_year + 1900 > 9999 ? 9999 : tm.tm_year + 1900;
    int n = snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.000Z", year, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec);
    if (n < 0 || n >= 32) {
        out[0] = '\0';
    }
}

static const char *dt_of(enum repl_ex_type t)
{
    switch (t) {
    case REPL_EX_INT:
        return "int";
    case REPL_EX_BOOL:
        return "boolean";
    case REPL_EX_TIME:
        return "dateTime.tz";
    case REPL_EX_MV_STRING:
        return "mv.string";
    case REPL_EX_MV_TIME:
        return "mv.dateTime.tz";
    case REPL_EX_STRING:
        break;
    }
    return NULL;
}

/* The inner text of `v` of type `t` (§4.1). */
static int write_inner(struct buf *out, enum repl_ex_type t, const struct repl_ex_value *v)
{
    char when[32];
    int rc = 0;
    switch (t) {
    case REPL_EX_STRING:
        return xmlout_text(out, slice_from_cstr(v->s ? v->s : ""));
    case REPL_EX_INT:
        return buf_appendf(out, "%lld", (long long)v->i);
    case REPL_EX_BOOL:
        return buf_append_cstr(out, v->i ? "1" : "0");
    case REPL_EX_TIME:
        repl_time_format(v->i, when);
        return buf_append_cstr(out, when);
    case REPL_EX_MV_STRING:
    case REPL_EX_MV_TIME:
        for (size_t i = 0; i < v->n; i++) {
            rc |= buf_append_cstr(out, "<v:v>");
            if (t == REPL_EX_MV_STRING) {
                rc |= xmlout_text(out, slice_from_cstr(v->mv_s[i]));
            } else {
                repl_time_format(v->mv_t[i], when);
                rc |= buf_append_cstr(out, when);
            }
            rc |= buf_append_cstr(out, "</v:v>");
        }
        return rc;
    }
    return -1;
}

int repl_prop_write(struct buf *out,
                    const struct repl_prop *p,
                    const char *alias,
                    const struct repl_ex_value *v)
{
    int rc = open_name(out, p, alias);
    const char *dt = dt_of(p->type);
    if (dt) {
        rc |= buf_appendf(out, " dt:dt=\"%s\"", dt);
    }
    rc |= buf_putc(out, '>');
    rc |= write_inner(out, p->type, v);
    rc |= close_name(out, p, alias);
    return rc == 0 ? 0 : -1;
}

int repl_prop_write_empty(struct buf *out, const struct repl_prop *p, const char *alias)
{
    int rc = open_name(out, p, alias);
    rc |= buf_append_cstr(out, "/>");
    return rc == 0 ? 0 : -1;
}

const char *repl_contenttag(struct arena *a, const struct store_coll *c)
{
    uint8_t raw[REPL_GUID_BYTES + 6];
    memcpy(raw, c->change_guid, REPL_GUID_BYTES);
    for (int i = 0; i < 6; i++) {
        raw[REPL_GUID_BYTES + i] = (uint8_t)(c->modseq >> (8 * (5 - i)));
    }
    char hex[2 * sizeof(raw) + 1];
    sec_hex(raw, sizeof(raw), hex);
    return arena_printf(a, "ct:%s", hex);
}

/* ---------------------------------------------------------------------------------------- */
/* PROPFIND */

enum store_rc repl_self(struct dav_req *dr, struct arena *a, struct repl_ex_self *out)
{
    *out = (struct repl_ex_self){0};
    if (!dr->principal || !dr->user) {
        return STORE_OK;
    }
    enum store_rc rc =
        calstore_user_emails(dr->store, dr->principal, dr->user, a, &out->emails, &out->n);
    if (rc != STORE_OK) {
        out->n = 0;
    }
    return rc;
}

static bool on_exchange_item(const struct dav_res *r)
{
    return r->kind == DAV_RES_ITEM && repl_in_tree(r->href);
}

/* The iCalendar-derived values of the item a PROPFIND row is writing, read and parsed once
 * for all the properties the row asks for. Lives in repl's state slot (dav_ext_state) until the
 * arena (or the row's mark) that created it is released; its strings are in its own arena. */
struct exprop_cache {
    struct dav_req *dr;
    struct arena *a;
    uint64_t id;
    uint64_t modseq;
    bool ok; /* v holds the values (the object parsed) */
    struct repl_ex_value v[REPL_EX_COUNT];
};

static void exprop_cache_gone(void *p)
{
    struct exprop_cache *c = p;
    arena_destroy(&c->a);
    dav_ext_set_state(c->dr, repl_ext(), NULL);
}

static const struct repl_ex_value *item_values(struct dav_req *dr, const struct dav_res *r)
{
    struct exprop_cache *c = dav_ext_state(dr, repl_ext());
    if (c && c->id == r->item.id && c->modseq == r->item.modseq) {
        return c->ok ? c->v : NULL;
    }
    if (!c) {
        c = arena_zalloc(dr->arena, sizeof(*c));
        c->dr = dr;
        arena_defer(dr->arena, exprop_cache_gone, c);
        dav_ext_set_state(dr, repl_ext(), c);
    } else {
        arena_destroy(&c->a);
    }
    c->a = arena_create();
    c->id = r->item.id;
    c->modseq = r->item.modseq;
    struct store_item full;
    struct err e;
    err_init(&e);
    struct repl_ex_self self;
    /* a store failure reads as no values (404), as a failed read of the item does */
    c->ok = repl_self(dr, c->a, &self) == STORE_OK &&
            store_item_get(dr->store, r->coll.id, r->item.name, STORE_ITEM_CONTENT, c->a, &full) ==
                STORE_OK &&
            repl_exprops_read((struct slice){full.content, full.size}, &self, c->a, c->v, &e) == 0;
    return c->ok ? c->v : NULL;
}

/* The value of one iCalendar-derived property of `r`; 1 (404) when it has none. */
static int get_exprop(struct dav_req *dr, const struct dav_res *r, struct buf *out, int id)
{
    if (!on_exchange_item(r)) {
        return 1;
    }
    const struct repl_ex_value *v = item_values(dr, r);
    if (!v || !v[id].present) {
        return 1; /* not a calendar object, or no value: 404 */
    }
    return write_inner(out, repl_exprop_def((enum repl_exprop)id)->type, &v[id]);
}

#define REPL_EX_GETTER(sym, ns, name, type)                                          \
  static int get_##sym(struct dav_req *dr, const struct dav_res *r, struct buf *out) \
  {                                                                                  \
    return get_exprop(dr, r, out, sym);                                              \
  }
REPL_EXPROPS(REPL_EX_GETTER)
#undef REPL_EX_GETTER

static int get_repl_uid(struct dav_req *dr, const struct dav_res *r, struct buf *out)
{
    if (r->kind != DAV_RES_ITEM) {
        return 1;
    }
    uint8_t guid[REPL_GUID_BYTES];
    store_guid(dr->store, guid);
    char uid[REPL_UID_LEN + 1];
    repl_uid_format(guid, r->item.id, uid);
    return buf_append_cstr(out, uid) == 0 ? 0 : -1;
}

static int get_resourcetag(struct dav_req *dr, const struct dav_res *r, struct buf *out)
{
    if (r->kind != DAV_RES_ITEM) {
        return 1;
    }
    uint8_t guid[REPL_GUID_BYTES];
    store_guid(dr->store, guid);
    char tag[REPL_TAG_LEN + 1];
    repl_tag_format(guid, r->item.id, r->coll.change_guid, r->item.modseq, tag);
    return buf_append_cstr(out, tag) == 0 ? 0 : -1;
}

/* §1.2: "ct:" + hex(change GUID || collection modseq48), the collection's state. */
static int get_contenttag(struct dav_req *dr, const struct dav_res *r, struct buf *out)
{
    if (r->kind != DAV_RES_COLL) {
        return 1;
    }
    return buf_append_cstr(out, repl_contenttag(dr->arena, &r->coll)) == 0 ? 0 : -1;
}

/* §4.2, §4.6: what an item or a calendar collection is. */
static int get_contentclass(struct dav_req *dr, const struct dav_res *r, struct buf *out)
{
    (void)dr;
    if (!repl_in_tree(r->href)) {
        return 1;
    }
    const char *v = r->kind == DAV_RES_ITEM ? "urn:content-classes:appointment"
                    : r->kind == DAV_RES_COLL && r->coll.kind == STORE_COLL_CALENDAR
                        ? "urn:content-classes:calendarfolder"
                    : r->kind == DAV_RES_COLL ? "urn:content-classes:folder"
                                              : NULL;
    return v ? (buf_append_cstr(out, v) == 0 ? 0 : -1) : 1;
}

static int get_isfolder(struct dav_req *dr, const struct dav_res *r, struct buf *out)
{
    (void)dr;
    if (!repl_in_tree(r->href) || (r->kind != DAV_RES_ITEM && r->kind != DAV_RES_COLL)) {
        return 1;
    }
    return buf_append_cstr(out, r->kind == DAV_RES_COLL ? "1" : "0") == 0 ? 0 : -1;
}

static int get_ishidden(struct dav_req *dr, const struct dav_res *r, struct buf *out)
{
    (void)dr;
    if (!repl_in_tree(r->href) || (r->kind != DAV_RES_ITEM && r->kind != DAV_RES_COLL)) {
        return 1;
    }
    return buf_append_cstr(out, "0") == 0 ? 0 : -1;
}

/* §4.1's dt:dt of each type, for the table below */
#define REPL_DT_REPL_EX_STRING    0
#define REPL_DT_REPL_EX_INT       DAV_PROP_DT_INT
#define REPL_DT_REPL_EX_BOOL      DAV_PROP_DT_BOOLEAN
#define REPL_DT_REPL_EX_TIME      DAV_PROP_DT_DATETIME
#define REPL_DT_REPL_EX_MV_STRING DAV_PROP_DT_MV_STRING
#define REPL_DT_REPL_EX_MV_TIME   DAV_PROP_DT_MV_DATETIME

const struct dav_live_prop repl_live_props[] = {
    {REPL_NS, "repl-uid", DAV_PROP_PROTECTED, get_repl_uid},
    {REPL_NS, "resourcetag", DAV_PROP_PROTECTED, get_resourcetag},
    {REPL_NS, "contenttag", DAV_PROP_PROTECTED, get_contenttag},
    {REPL_NS_HTTPS, "repl-uid", DAV_PROP_PROTECTED, get_repl_uid},
    {REPL_NS_HTTPS, "resourcetag", DAV_PROP_PROTECTED, get_resourcetag},
    {REPL_NS_HTTPS, "contenttag", DAV_PROP_PROTECTED, get_contenttag},

#define REPL_EX_LIVE(sym, ns, name, type) \
  {ns, name, DAV_PROP_PROTECTED | DAV_PROP_EXPENSIVE | REPL_DT_##type, get_##sym},
    REPL_EXPROPS(REPL_EX_LIVE)
#undef REPL_EX_LIVE
        {"DAV:", "contentclass", DAV_PROP_PROTECTED, get_contentclass},
    {"DAV:", "isfolder", DAV_PROP_PROTECTED | DAV_PROP_DT_BOOLEAN, get_isfolder},
    {"DAV:", "iscollection", DAV_PROP_PROTECTED | DAV_PROP_DT_BOOLEAN, get_isfolder},
    {"DAV:", "ishidden", DAV_PROP_PROTECTED | DAV_PROP_DT_BOOLEAN, get_ishidden},
};

_Static_assert(ALM_ARRAY_LEN(repl_live_props) == REPL_LIVE_NPROPS, "REPL_LIVE_NPROPS");
