/* repl/props.h: the properties of items on the /exchange view (exchange-replication.md §3.3,
 * §4): property URIs split into namespace and local name, looked up among the row's own
 * properties (DAV:, R:) and the iCalendar-derived ones (repl/exprops.h), their types, and
 * their values written as §4.1 does (dt:dt attributes, <v:v> for multi-valued ones). Never
 * touches the store: values come from the caller's row. */
#ifndef ALMANAC_REPL_PROPS_H
#define ALMANAC_REPL_PROPS_H

#include <stdbool.h>

#include "dav/ext.h"
#include "repl/exprops.h"
#include "util/arena.h"
#include "util/buf.h"

#define REPL_NS       "http://schemas.microsoft.com/repl/"
#define REPL_NS_HTTPS "https://schemas.microsoft.com/repl/"
#define REPL_DT_NS    "urn:uuid:c2f41010-65b3-11d1-a29f-00aa00c14882/"

/* Properties computed from the store row alone (§4.2, §4.3). */
enum repl_rowprop {
    REPL_RP_HREF,
    REPL_RP_GETETAG,
    REPL_RP_CONTENTCLASS,
    REPL_RP_ISFOLDER,
    REPL_RP_ISCOLLECTION,
    REPL_RP_ISHIDDEN,
    REPL_RP_ISREADONLY,
    REPL_RP_GETCONTENTTYPE,
    REPL_RP_GETCONTENTLENGTH,
    REPL_RP_DISPLAYNAME,
    REPL_RP_GETLASTMODIFIED,
    REPL_RP_PARENTNAME,
    REPL_RP_REPL_UID,
    REPL_RP_RESOURCETAG,
    REPL_RP_CHANGETYPE,
    REPL_RP_CONTENTTAG,         /* collections (§4.6) */
    REPL_RP_OUTLOOKFOLDERCLASS, /* collections (§4.6) */
    REPL_RP_COUNT
};

enum repl_prop_src {
    REPL_SRC_UNKNOWN, /* not a property of appointments: 404 in SELECT, NULL in WHERE */
    REPL_SRC_ROW,     /* id is an enum repl_rowprop */
    REPL_SRC_CAL,     /* id is an enum repl_exprop */
};

/* One property named in a query, resolved once per request. */
struct repl_prop {
    const char *uri; /* as written in the query */
    const char *ns;  /* §3.3 split, the repl namespace in the http:// spelling */
    const char *local;
    enum repl_prop_src src;
    int id;
    enum repl_ex_type type; /* meaningful unless REPL_SRC_UNKNOWN */
};

/* Splits `uri` after its last ':', '/' or '#' (a '#' is dropped, §3.3) and looks it up. The
 * strings are in `arena`. Never fails: an unknown name resolves to REPL_SRC_UNKNOWN. */
void repl_prop_resolve(const char *uri, struct arena *arena, struct repl_prop *out);

/* The namespace prefixes a manifest or search answer declares on its root (D, R, C, H, E, O,
 * dt and v); `https` picks the repl spelling the request used. Static. */
const char *repl_props_xmlns(bool https);

/* Appends <name attrs>value</name> for `v` (which is present) under the qualified name of
 * `p`, or under `alias` in no namespace when alias is not NULL (§3.3 AS). Values follow §4.1:
 * strings escaped, int/boolean/dateTime.tz/mv.* with dt:dt. 0, or -1 past the buffer limit. */
int repl_prop_write(struct buf *out,
                    const struct repl_prop *p,
                    const char *alias,
                    const struct repl_ex_value *v);

/* Appends the empty element of `p` (or of `alias`) for a 404 propstat. */
int repl_prop_write_empty(struct buf *out, const struct repl_prop *p, const char *alias);

/* `t` as §4.1's dateTime.tz text, YYYY-MM-DDTHH:MM:SS.000Z (out holds 32 bytes). */
void repl_time_format(int64_t t, char out[32]);

/* §1.2: "ct:" + hex(change GUID || collection modseq48), in `a`. */
const char *repl_contenttag(struct arena *a, const struct store_coll *c);

/* True when `s` is an XML NCName (an AS alias must be one, §3.3). */
bool repl_is_xml_name(const char *s);

/* True when `s` is an absolute URI (RFC 3986 §4.3) that a namespace declaration may carry
 * (Namespaces in XML 1.0 §2.2): a selected property's namespace is written as xmlns:X="…",
 * and a reader such as libxml2 refuses a document declaring anything else. A subset of RFC
 * 3986: no IP literal or numeric host. */
bool repl_is_uri(const char *s);

/* The live properties repl adds to the WebDAV core (PROPFIND): R:repl-uid, R:resourcetag,
 * R:contenttag in both spellings (§4.3), DAV:contentclass/isfolder/iscollection/ishidden
 * (§4.2, §4.6) and, on /exchange items, the iCalendar-derived properties (each reads and
 * parses the item's content). */
enum {
    REPL_LIVE_NPROPS = 6 + 4 + REPL_EX_COUNT
};
extern const struct dav_live_prop repl_live_props[REPL_LIVE_NPROPS];

#endif
