/* xml/xmlin.c: the streaming XML reader over libxml2's SAX2 push parser (see xmlin.h). The
 * only file that knows libxml2's reader. Limits are enforced in the callbacks, which stop
 * the parser; a DOCTYPE stops it at once, so no entity is ever declared or expanded. */
#include "xml/xmlin.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h>

#include "util/compiler.h"

#define ERR_COND(sym, name, ns, http, eas) ERR_COND_DEFINE(sym, name, ns, http, eas)
#include "xml/conds.def"
#undef ERR_COND

enum {
    XMLIN_MAX_ATTRS = 64
}; /* attributes handed to a callback; the rest are dropped */

struct xmlin {
    xmlParserCtxtPtr ctxt;
    struct xmlin_limits limits;
    const struct xmlin_handler *h;
    void *ctx;
    struct err err;  /* first failure; sticky */
    size_t fed;      /* body bytes seen */
    unsigned depth;  /* current element depth */
    size_t elements; /* elements seen */
    size_t text_run; /* bytes of character data in the current element */
    bool seen_root;
};

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_global_init(void)
{
    xmlInitParser();
}

static void stop(struct xmlin *r)
{
    xmlStopParser(r->ctxt);
}

static struct slice xslice(const xmlChar *s)
{
    return slice_from_cstr((const char *)s);
}

static void on_start(void *user,
                     const xmlChar *localname,
                     const xmlChar *prefix,
                     const xmlChar *uri,
                     int nb_namespaces,
                     const xmlChar **namespaces,
                     int nb_attributes,
                     int nb_defaulted,
                     const xmlChar **attributes)
{
    (void)prefix;
    (void)nb_namespaces;
    (void)namespaces;
    (void)nb_defaulted;
    struct xmlin *r = ((xmlParserCtxtPtr)user)->_private;
    if (r->err.cond) {
        return;
    }
    r->seen_root = true;
    r->depth++;
    r->elements++;
    r->text_run = 0;
    if (r->depth > r->limits.max_depth) {
        err_set(&r->err, &xml_cond_too_deep, "xml depth %u exceeds xml_max_depth=%u", r->depth,
                r->limits.max_depth);
        stop(r);
        return;
    }
    if (r->elements > r->limits.max_elements) {
        err_set(&r->err, &xml_cond_too_many_elements,
                "xml element count exceeds xml_max_elements=%zu", r->limits.max_elements);
        stop(r);
        return;
    }
    if (!r->h->start) {
        return;
    }
    struct xmlin_attr attrs[XMLIN_MAX_ATTRS];
    size_t n = 0;
    for (int i = 0; i < nb_attributes && n < XMLIN_MAX_ATTRS; i++) {
        /* (localname, prefix, URI, value, end) */
        const xmlChar **a = attributes + 5 * i;
        attrs[n].name = xslice(a[0]);
        attrs[n].ns = a[2] ? xslice(a[2]) : SLICE_LIT("");
        attrs[n].value.ptr = (const char *)a[3];
        attrs[n].value.len = (size_t)(a[4] - a[3]);
        n++;
    }
    struct slice ns = uri ? xslice(uri) : SLICE_LIT("");
    if (r->h->start(r->ctx, ns, xslice(localname), attrs, n, &r->err) != 0) {
        if (!r->err.cond) {
            err_set(&r->err, &xml_cond_malformed, "rejected by handler");
        }
        stop(r);
    }
}

static void on_end(void *user, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri)
{
    (void)prefix;
    struct xmlin *r = ((xmlParserCtxtPtr)user)->_private;
    if (r->err.cond) {
        return;
    }
    r->text_run = 0;
    if (r->depth > 0) {
        r->depth--;
    }
    if (!r->h->end) {
        return;
    }
    struct slice ns = uri ? xslice(uri) : SLICE_LIT("");
    if (r->h->end(r->ctx, ns, xslice(localname), &r->err) != 0) {
        if (!r->err.cond) {
            err_set(&r->err, &xml_cond_malformed, "rejected by handler");
        }
        stop(r);
    }
}

static void on_text(void *user, const xmlChar *ch, int len)
{
    struct xmlin *r = ((xmlParserCtxtPtr)user)->_private;
    if (r->err.cond || len <= 0 || r->depth == 0) {
        return;
    }
    r->text_run += (size_t)len;
    if (r->text_run > r->limits.max_text) {
        err_set(&r->err, &xml_cond_text_too_long, "xml text exceeds xml_max_text=%zu",
                r->limits.max_text);
        stop(r);
        return;
    }
    if (r->h->text) {
        struct slice t = {(const char *)ch, (size_t)len};
        if (r->h->text(r->ctx, t, &r->err) != 0) {
            if (!r->err.cond) {
                err_set(&r->err, &xml_cond_malformed, "rejected by handler");
            }
            stop(r);
        }
    }
}

static void
on_doctype(void *user, const xmlChar *name, const xmlChar *external_id, const xmlChar *system_id)
{
    (void)name;
    (void)external_id;
    (void)system_id;
    struct xmlin *r = ((xmlParserCtxtPtr)user)->_private;
    err_set(&r->err, &xml_cond_doctype, "DOCTYPE is not allowed");
    stop(r);
}

static void on_entity_decl(void *user,
                           const xmlChar *name,
                           int type,
                           const xmlChar *public_id,
                           const xmlChar *system_id,
                           xmlChar *content)
{
    (void)name;
    (void)type;
    (void)public_id;
    (void)system_id;
    (void)content;
    struct xmlin *r = ((xmlParserCtxtPtr)user)->_private;
    err_set(&r->err, &xml_cond_doctype, "entity declarations are not allowed");
    stop(r);
}

/* Never resolve an entity: predefined ones are handled by the parser itself. */
static xmlEntityPtr on_get_entity(void *user, const xmlChar *name)
{
    (void)user;
    return xmlGetPredefinedEntity(name);
}

static xmlParserInputPtr on_resolve(void *user, const xmlChar *public_id, const xmlChar *system_id)
{
    (void)public_id;
    (void)system_id;
    struct xmlin *r = ((xmlParserCtxtPtr)user)->_private;
    err_set(&r->err, &xml_cond_doctype, "external entities are not allowed");
    stop(r);
    return NULL;
}

static void on_error(void *user, const char *msg, ...) ALM_PRINTF(2, 3);

static void on_error(void *user, const char *msg, ...)
{
    (void)msg;
    (void)user;
}

/* libxml2 hands structured errors the parser context (its userData). */
static void on_structured_error(void *user, xmlErrorPtr e)
{
    struct xmlin *r = ((xmlParserCtxtPtr)user)->_private;
    if (r->err.cond || !e || e->level < XML_ERR_ERROR) {
        return;
    }
    err_set(&r->err, &xml_cond_malformed, "malformed xml at line %d column %d", e->line, e->int2);
}

struct xmlin *
xmlin_create(const struct xmlin_limits *limits, const struct xmlin_handler *h, void *ctx)
{
    pthread_once(&xml_once, xml_global_init);
    struct xmlin *r = calloc(1, sizeof(*r));
    if (!r) {
        abort();
    }
    r->limits = *limits;
    r->h = h;
    r->ctx = ctx;
    err_init(&r->err);
    xmlSAXHandler sax;
    memset(&sax, 0, sizeof(sax));
    sax.initialized = XML_SAX2_MAGIC;
    sax.startElementNs = on_start;
    sax.endElementNs = on_end;
    sax.characters = on_text;
    sax.cdataBlock = on_text;
    sax.internalSubset = on_doctype;
    sax.externalSubset = on_doctype;
    sax.entityDecl = on_entity_decl;
    sax.getEntity = on_get_entity;
    sax.resolveEntity = on_resolve;
    sax.warning = on_error;
    sax.error = on_error;
    sax.fatalError = on_error;
    sax.serror = on_structured_error;
    r->ctxt = xmlCreatePushParserCtxt(&sax, NULL, NULL, 0, NULL);
    if (!r->ctxt) {
        abort();
    }
    r->ctxt->_private = r;
    /* NOENT: without it libxml2 hands attribute values over with "&#38;" for "&amp;". It is
     * safe here because a DOCTYPE stops the parse, so only predefined entities exist. HUGE:
     * our own limits (xml_max_text, xml_max_body) bound sizes, not libxml2's 10 MB default. */
    xmlCtxtUseOptions(r->ctxt,
                      XML_PARSE_NONET | XML_PARSE_NOCDATA | XML_PARSE_HUGE | XML_PARSE_NOENT);
    return r;
}

void xmlin_destroy(struct xmlin **rp)
{
    struct xmlin *r = *rp;
    if (!r) {
        return;
    }
    if (r->ctxt) {
        xmlFreeParserCtxt(r->ctxt);
    }
    free(r);
    *rp = NULL;
}

static int fail(struct xmlin *r, struct err *err)
{
    if (!r->err.cond) {
        err_set(&r->err, &xml_cond_malformed, "malformed xml");
    }
    err_set(err, r->err.cond, "%s", r->err.msg);
    return -1;
}

int xmlin_feed(struct xmlin *r, const char *p, size_t n, struct err *err)
{
    if (r->err.cond) {
        return fail(r, err);
    }
    if (n > r->limits.max_bytes - r->fed) {
        err_set(&r->err, &xml_cond_too_large, "xml body exceeds xml_max_body=%zu",
                r->limits.max_bytes);
        return fail(r, err);
    }
    r->fed += n;
    while (n > 0) {
        /* xmlParseChunk takes an int size. */
        int chunk = n > (1u << 30) ? (1 << 30) : (int)n;
        int rc = xmlParseChunk(r->ctxt, p, chunk, 0);
        if (r->err.cond || rc != 0 || r->ctxt->disableSAX > 1) {
            return fail(r, err);
        }
        p += chunk;
        n -= (size_t)chunk;
    }
    return 0;
}

int xmlin_finish(struct xmlin *r, struct err *err)
{
    if (r->err.cond) {
        return fail(r, err);
    }
    int rc = xmlParseChunk(r->ctxt, NULL, 0, 1);
    if (r->err.cond || rc != 0 || !r->ctxt->wellFormed || !r->seen_root) {
        return fail(r, err);
    }
    return 0;
}
