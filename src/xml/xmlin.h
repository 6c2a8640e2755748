/* xml/xmlin.h: the streaming XML reader. A libxml2 SAX2 push parser fed chunk by chunk
 * (from the HTTP upload callback), turned into (namespace URI, local name, attributes, text)
 * callbacks on a protocol's state machine. No DOM is ever built. DTDs, entity declarations,
 * external entities and network access are refused: a DOCTYPE is an error. Depth, element
 * count, text size and total size limits are checked in the callbacks; a violation stops the
 * parser and records the condition. No libxml2 type crosses this header.
 * Not thread-safe: one reader per request. */
#ifndef ALMANAC_XML_XMLIN_H
#define ALMANAC_XML_XMLIN_H

#include <stddef.h>

#include "util/err.h"
#include "util/slice.h"

#define ERR_COND(sym, name, ns, http, eas) ERR_COND_DECLARE(sym, name, ns, http, eas)
#include "xml/conds.def"
#undef ERR_COND

struct xmlin;

struct xmlin_limits {
    size_t max_bytes;    /* total body bytes (config xml_max_body) */
    unsigned max_depth;  /* element nesting (config xml_max_depth) */
    size_t max_elements; /* elements in the document (config xml_max_elements) */
    size_t max_text;     /* bytes of character data in one element (config xml_max_text) */
};

struct xmlin_attr {
    struct slice ns;    /* "" when the attribute has no namespace */
    struct slice name;  /* local name */
    struct slice value; /* entity-decoded */
};

/* Callbacks; every slice is borrowed for the duration of the call. Each returns 0, or -1
 * with `err` set to stop the parse. `ns` is "" for an element in no namespace. `text` may be
 * called several times for one run of character data (CDATA included). */
struct xmlin_handler {
    int (*start)(void *ctx,
                 struct slice ns,
                 struct slice name,
                 const struct xmlin_attr *attrs,
                 size_t nattrs,
                 struct err *err);
    int (*end)(void *ctx, struct slice ns, struct slice name, struct err *err);
    int (*text)(void *ctx, struct slice text, struct err *err);
};

/* Creates a reader; caller frees with xmlin_destroy() (sets *r to NULL). */
struct xmlin *
xmlin_create(const struct xmlin_limits *limits, const struct xmlin_handler *h, void *ctx);
void xmlin_destroy(struct xmlin **r);

/* Feeds the next chunk. Returns 0, or -1 with err set: xml_cond_malformed (400) for
 * ill-formed XML, xml_cond_doctype (400) for any DTD, xml_cond_too_large (413),
 * xml_cond_too_deep (413), xml_cond_too_many_elements (413), xml_cond_text_too_long (413),
 * or whatever a callback set. After -1, further feeds return -1 with the same error. */
int xmlin_feed(struct xmlin *r, const char *p, size_t n, struct err *err);

/* Ends the document: -1 with xml_cond_malformed if it is incomplete or empty. */
int xmlin_finish(struct xmlin *r, struct err *err);

#endif
