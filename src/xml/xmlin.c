/* xml/xmlin.c: the streaming XML reader over libxml2's SAX2 push parser (see xmlin.h). The
 * only file that knows libxml2's reader. Owns the parser options, the translation of SAX2
 * events into slices, and the limits, which are enforced in the callbacks and stop the
 * parser. Also owns guards against libxml2 2.9's own costs and traps: a byte-level
 * pre-scanner (attribute counts, encoding family, comments opening "<!-->" held back until
 * their end) and a back-off that keeps the push parser linear on long tokens. Never
 * declares, loads or expands an entity other than the five predefined ones: a DOCTYPE
 * stops the parse at once, XML_PARSE_NOENT is off, and the external entity loader refuses
 * everything. */
#include "xml/xmlin.h"

#include <assert.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/xmlerror.h>

#include "util/buf.h"
#include "util/compiler.h"

#define ERR_COND(sym, name, ns, http, eas) ERR_COND_DEFINE(sym, name, ns, http, eas)
#include "xml/conds.def"
#undef ERR_COND

enum {
    /* Most bytes handed to libxml2 in one xmlParseChunk call while it keeps up, so that it
     * never copies a whole large upload into its own buffer at once. */
    XMLIN_PIECE = 64 * 1024,
    /* libxml2 holding more unparsed bytes than this is waiting for the end of one long
     * token (a start tag, comment, CDATA section or PI); see push_or_hold(). */
    XMLIN_STUCK = 16 * 1024,
    /* Attributes, namespace declarations included, in one start tag; and namespace
     * declarations in scope at once. libxml2 2.9 checks each attribute against all
     * earlier ones and each namespace against all in scope, so without these bounds one
     * element of 100,000 attributes costs minutes of CPU within xml_max_body. No real
     * DAV client comes near either; the cost stays linear in the body up to them. */
    XMLIN_MAX_ATTRS = 256,
    XMLIN_MAX_NS_IN_SCOPE = 256,
    /* An XML declaration longer than this is refused rather than buffered. */
    XMLIN_HEAD_MAX = 256,
};

/* NONET: no network, ever. HUGE: lifts libxml2's own caps (10 MB text and attribute values,
 * 256 levels of nesting, "huge input lookup") because our limits, which are configurable
 * up to 4 GiB of body and 1024 levels, bound everything instead. Deliberately absent:
 * NOENT (entity substitution), DTDLOAD, DTDATTR, DTDVALID, XINCLUDE. */
static const int xmlin_options = XML_PARSE_NONET | XML_PARSE_HUGE;

/* How the pre-scanner reads the body's bytes: undecided until the first bytes (a byte
 * order mark, or the XML declaration) are in; then one byte or one UTF-16 code unit per
 * character. */
enum scan_mode {
    SCAN_HEAD,
    SCAN_BYTES, /* UTF-8 and the ASCII-compatible encodings of ascii_compatible() */
    SCAN_UTF16LE,
    SCAN_UTF16BE,
};

/* Where the pre-scanner is in the markup. It needs to be exact only for well-formed
 * input: whatever it makes of the rest, libxml2 rejects. */
enum scan_state {
    ST_TEXT,      /* character data, or between markup in the prolog */
    ST_LT,        /* after '<' */
    ST_BANG,      /* after "<!" */
    ST_BANG_DASH, /* after "<!-" */
    ST_COMMENT,   /* in "<!--": until "-->" */
    ST_CDATA,     /* in "<![": until "]]>" */
    ST_PI,        /* in "<?": until "?>" */
    ST_DECL,      /* in "<!X": until '>' (a DOCTYPE, which libxml2 stops at anyway) */
    ST_TAG,       /* in a start or end tag, outside quotes */
    ST_QUOTE,     /* in a quoted attribute value */
};

/* A byte-level look at the body before libxml2 sees it (see prescan()). */
struct scanner {
    enum scan_mode mode;
    enum scan_state state;
    unsigned run;   /* ST_COMMENT: '-' in a row; ST_CDATA: ']' in a row; ST_PI: 1 after '?' */
    int quote;      /* ST_QUOTE: the delimiter */
    size_t attrs;   /* '=' outside quotes in the current tag: its attribute count */
    int half;       /* UTF-16: first byte of a code unit split between chunks, or -1 */
    bool nonblank;  /* a character other than XML white space has been seen */
    size_t at;      /* offset in r->pending of the character being scanned (0 if pushed) */
    size_t lt_at;   /* offset in r->pending of the '<' of the markup being scanned, or 0 */
    bool hold;      /* keep r->pending from lt_at back from libxml2 (see push_or_hold) */
    unsigned cbody; /* ST_COMMENT: 0 at "<!--", 1 at "<!---", 2 once hold is decided */
    unsigned text_brackets; /* ST_TEXT: ']' in a row just before what comes next (at most 2) */
};

struct xmlin {
    xmlParserCtxtPtr ctxt;
    struct xmlin_limits limits;
    const struct xmlin_handler *h;
    void *ctx;
    struct err err;           /* first failure; sticky */
    size_t fed;               /* body bytes accepted by xmlin_feed, <= limits.max_bytes */
    unsigned depth;           /* open elements */
    size_t elements;          /* elements started */
    size_t text_run;          /* bytes of character data since the last start or end tag */
    bool seen_root;           /* a root element has started */
    bool finished;            /* xmlin_finish has run */
    struct xmlin_attr *attrs; /* start callback's attributes; attrs_cap entries */
    size_t attrs_cap;
    char *values;      /* decoded attribute values of the current start tag; values_cap bytes */
    size_t values_cap; /* grows to the widest start tag seen, so bounded by max_bytes */
    size_t *ns_decls;  /* namespace declarations of each open element; ns_cap entries */
    size_t ns_cap;
    size_t ns_in_scope; /* sum of ns_decls[0..depth) */
    struct scanner scan;
    struct buf pending; /* body bytes scanned but not yet given to libxml2 (push_or_hold) */
};

static pthread_once_t xmlin_once = PTHREAD_ONCE_INIT;

/* The process-wide loader libxml2 asks for any external DTD or entity. The SAX handler
 * already stops at a DOCTYPE; this makes a fetch impossible even if one slipped past. */
static xmlParserInputPtr refuse_external(const char *url, const char *id, xmlParserCtxtPtr ctxt)
{
    (void)url;
    (void)id;
    (void)ctxt;
    return NULL;
}

static void xmlin_global_init(void)
{
    xmlInitParser();
    xmlSetExternalEntityLoader(refuse_external);
}

/* libxml2 reports some failures (iconv conversion errors, "encoder error") through its
 * per-thread generic error function, which prints to stderr by default. The parse result
 * already carries the failure, so the text is dropped. */
static void drop_generic_error(void *ctx, const char *msg, ...) ALM_PRINTF(2, 3);

static void drop_generic_error(void *ctx, const char *msg, ...)
{
    (void)ctx;
    (void)msg;
}

/* Halts libxml2 after a failure recorded in r->err. Called from the SAX content callbacks,
 * where libxml2 documents xmlStopParser as safe; never from the error callback. */
static void stop(struct xmlin *r)
{
    xmlStopParser(r->ctxt);
}

static struct slice xslice(const xmlChar *s)
{
    return slice_from_cstr((const char *)s);
}

/* A handler returned -1. It should have set r->err; if it did not, that is our bug, not
 * the client's, so the condition is internal rather than malformed-xml. */
static void handler_failed(struct xmlin *r, const char *what)
{
    if (!r->err.cond) {
        err_set(&r->err, &err_cond_internal, "xml %s handler failed without a condition", what);
    }
    stop(r);
}

static void ensure_attrs(struct xmlin *r, size_t n)
{
    if (n <= r->attrs_cap) {
        return;
    }
    size_t cap = r->attrs_cap ? r->attrs_cap : 16;
    while (cap < n) {
        cap *= 2;
    }
    struct xmlin_attr *p = realloc(r->attrs, cap * sizeof(*p));
    if (!p) {
        abort();
    }
    r->attrs = p;
    r->attrs_cap = cap;
}

static void ensure_values(struct xmlin *r, size_t n)
{
    if (n <= r->values_cap) {
        return;
    }
    size_t cap = r->values_cap ? r->values_cap : 256;
    while (cap < n) {
        cap *= 2;
    }
    char *p = realloc(r->values, cap);
    if (!p) {
        abort();
    }
    r->values = p;
    r->values_cap = cap;
}

/* Without XML_PARSE_NOENT, libxml2 2.9 hands an attribute value over with every '&' that
 * came from "&amp;" or "&#38;" written as the five bytes "&#38;" (so that its own tree
 * builder can re-parse the value); every other reference arrives decoded. With no entity
 * ever declared, each '&' in the value starts such a "&#38;", so turning those back into
 * '&' yields exactly the value the document meant. A literal "&#38;" in the document
 * ("&amp;#38;") arrives as "&#38;#38;" and decodes to "&#38;". Returns the decoded length
 * (never more than n). */
static size_t decode_amp(const char *p, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        out[o++] = p[i];
        if (p[i] == '&' && n - i >= 5 && memcmp(p + i, "&#38;", 5) == 0) {
            i += 4;
        }
    }
    return o;
}

/* Fills r->attrs from libxml2's (localname, prefix, URI, value, end) quintuples. Values
 * with no '&' are borrowed from libxml2; the others are decoded into r->values, which is
 * sized before the first copy so that no slice into it moves. */
static void collect_attrs(struct xmlin *r, const xmlChar **attributes, size_t n)
{
    ensure_attrs(r, n);
    size_t need = 0;
    for (size_t i = 0; i < n; i++) {
        const xmlChar **a = attributes + 5 * i;
        size_t len = (size_t)(a[4] - a[3]);
        if (memchr(a[3], '&', len)) {
            need += len;
        }
    }
    ensure_values(r, need);
    char *w = r->values;
    for (size_t i = 0; i < n; i++) {
        const xmlChar **a = attributes + 5 * i;
        struct xmlin_attr *at = &r->attrs[i];
        at->name = xslice(a[0]);
        at->ns = a[2] ? xslice(a[2]) : SLICE_LIT("");
        at->value.ptr = (const char *)a[3];
        at->value.len = (size_t)(a[4] - a[3]);
        if (memchr(at->value.ptr, '&', at->value.len)) {
            size_t len = decode_amp(at->value.ptr, at->value.len, w);
            at->value.ptr = w;
            at->value.len = len;
            w += len;
        }
    }
}

static int too_many_attrs(struct xmlin *r)
{
    err_set(&r->err, &xml_cond_too_many_elements,
            "xml element with more than %d attributes and namespace declarations", XMLIN_MAX_ATTRS);
    return -1;
}

/* Records the namespace declarations of the element just opened (at r->depth). */
static int push_ns(struct xmlin *r, size_t n)
{
    if (r->depth > r->ns_cap) {
        size_t cap = r->ns_cap ? 2 * r->ns_cap : 16;
        size_t *p = realloc(r->ns_decls, cap * sizeof(*p));
        if (!p) {
            abort();
        }
        r->ns_decls = p;
        r->ns_cap = cap;
    }
    r->ns_decls[r->depth - 1] = n;
    r->ns_in_scope += n;
    if (r->ns_in_scope > XMLIN_MAX_NS_IN_SCOPE) {
        return err_set(&r->err, &xml_cond_too_many_elements,
                       "xml namespace declarations in scope %zu exceed %d", r->ns_in_scope,
                       XMLIN_MAX_NS_IN_SCOPE);
    }
    return 0;
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
    (void)namespaces;
    (void)nb_defaulted; /* always 0: no DTD, so no default attributes */
    struct xmlin *r = user;
    if (r->err.cond) {
        return;
    }
    size_t nns = nb_namespaces > 0 ? (size_t)nb_namespaces : 0;
    size_t n = nb_attributes > 0 ? (size_t)nb_attributes : 0;
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
                "xml element count %zu exceeds xml_max_elements=%zu", r->elements,
                r->limits.max_elements);
        stop(r);
        return;
    }
    /* The pre-scanner has counted already; this holds even if it were wrong. */
    if (push_ns(r, nns) != 0 || (n + nns > XMLIN_MAX_ATTRS && too_many_attrs(r) != 0)) {
        stop(r);
        return;
    }
    if (!r->h->start) {
        return;
    }
    collect_attrs(r, attributes, n);
    struct slice ns = uri ? xslice(uri) : SLICE_LIT("");
    if (r->h->start(r->ctx, ns, xslice(localname), r->attrs, n, &r->err) != 0) {
        handler_failed(r, "start");
    }
}

static void on_end(void *user, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri)
{
    (void)prefix;
    struct xmlin *r = user;
    if (r->err.cond) {
        return;
    }
    r->text_run = 0;
    assert(r->depth > 0);
    r->ns_in_scope -= r->ns_decls[r->depth - 1];
    r->depth--;
    if (!r->h->end) {
        return;
    }
    struct slice ns = uri ? xslice(uri) : SLICE_LIT("");
    if (r->h->end(r->ctx, ns, xslice(localname), &r->err) != 0) {
        handler_failed(r, "end");
    }
}

/* Character data and CDATA alike. libxml2 delivers one run of text in pieces (at most 300
 * bytes each, and split around every reference), so the limit counts the whole run. */
static void on_text(void *user, const xmlChar *ch, int len)
{
    struct xmlin *r = user;
    /* Outside the root only whitespace is well-formed; it carries nothing. */
    if (r->err.cond || len <= 0 || r->depth == 0) {
        return;
    }
    if ((size_t)len > r->limits.max_text - r->text_run) {
        err_set(&r->err, &xml_cond_text_too_long, "xml text longer than xml_max_text=%zu",
                r->limits.max_text);
        stop(r);
        return;
    }
    r->text_run += (size_t)len;
    if (!r->h->text) {
        return;
    }
    struct slice t = {(const char *)ch, (size_t)len};
    if (r->h->text(r->ctx, t, &r->err) != 0) {
        handler_failed(r, "text");
    }
}

/* Called for every <!DOCTYPE ...>, with or without an internal subset, before any of it
 * is parsed. */
static void
on_doctype(void *user, const xmlChar *name, const xmlChar *external_id, const xmlChar *system_id)
{
    (void)name;
    (void)external_id;
    (void)system_id;
    struct xmlin *r = user;
    err_set(&r->err, &xml_cond_doctype, "xml DOCTYPE is not allowed");
    stop(r);
}

/* Unreachable while on_doctype stops the parse; kept so that no declaration is ever
 * stored, whatever libxml2 does after a stop. */
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
    struct xmlin *r = user;
    err_set(&r->err, &xml_cond_doctype, "xml entity declarations are not allowed");
    stop(r);
}

/* Only the five predefined entities exist. */
static xmlEntityPtr on_get_entity(void *user, const xmlChar *name)
{
    (void)user;
    return xmlGetPredefinedEntity(name);
}

/* Parameter entities live only in a DTD, which never gets parsed. */
static xmlEntityPtr on_get_parameter_entity(void *user, const xmlChar *name)
{
    (void)user;
    (void)name;
    return NULL;
}

static xmlParserInputPtr on_resolve(void *user, const xmlChar *public_id, const xmlChar *system_id)
{
    (void)public_id;
    (void)system_id;
    struct xmlin *r = user;
    err_set(&r->err, &xml_cond_doctype, "xml external entities are not allowed");
    stop(r);
    return NULL;
}

/* The legacy varargs channels; with serror set libxml2 uses that instead, so these only
 * keep stray messages off stderr. */
static void on_legacy_error(void *user, const char *msg, ...) ALM_PRINTF(2, 3);

static void on_legacy_error(void *user, const char *msg, ...)
{
    (void)user;
    (void)msg;
}

/* Every parser, namespace and encoding error of this document. Namespace errors (an
 * undeclared prefix, xmlns:p="") are not fatal to libxml2, which goes on and reports the
 * element with no namespace; the sticky r->err makes the content callbacks ignore
 * everything after it, and xmlin_feed returns -1 as soon as the chunk is done. The parser
 * is not halted here: libxml2 may still be holding pointers into its input. */
static void on_structured_error(void *user, xmlErrorPtr e)
{
    struct xmlin *r = user;
    if (r->err.cond || !e || e->level < XML_ERR_ERROR) {
        return;
    }
    if (e->code == XML_ERR_NO_MEMORY) {
        err_set(&r->err, &err_cond_internal, "xml parser out of memory");
        return;
    }
    const char *msg = e->message ? e->message : "";
    size_t len = strlen(msg);
    while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == ' ')) {
        len--;
    }
    err_set(&r->err, &xml_cond_malformed, "malformed xml at line %d column %d: %.*s", e->line,
            e->int2, (int)len, msg);
}

/* ---- The pre-scanner ----------------------------------------------------------------
 * Before libxml2 sees a byte, xmlin_feed runs it through a small state machine that knows
 * just enough markup to count the attributes of each start tag (XMLIN_MAX_ATTRS) and to
 * decide the encoding family from the first bytes. Both guard libxml2 2.9 rather than the
 * XML: the attribute count before libxml2's quadratic duplicate check runs, and the
 * encoding so that the count is exact (it is for UTF-8, UTF-16 and ASCII-compatible
 * single-byte encodings; UCS-4, EBCDIC, UTF-7 or ISO-2022 could hide markup from it). */

static bool is_xml_space(int c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* "]]>" in character data (XML 1.0 §2.4). libxml2 2.9's push parser finds it when it has
 * the three bytes in one piece, but not always when the body's pieces cut it (fuzz_search:
 * "]]]>" whole was 400 malformed-xml, in pieces of 10 a 207), so the scanner, which sees
 * every byte in order, finds it however the body is cut. */
static int cdata_end_in_text(struct xmlin *r)
{
    err_set(&r->err, &xml_cond_malformed,
            "malformed xml: the sequence ']]>' is not allowed in character data");
    return -1;
}

/* Character data u[0..n) in bulk (no '<' in it): fails at a "]]>", one begun before u
 * included (s->text_brackets); keeps the run of ']' at its end. Returns n, or the offset of
 * the '>' that failed (r->err set). */
static size_t scan_text(struct xmlin *r, const unsigned char *u, size_t n)
{
    struct scanner *s = &r->scan;
    for (const unsigned char *p = u, *gt; (gt = memchr(p, '>', (size_t)(u + n - p))) != NULL;
         p = gt + 1) {
        unsigned k = 0;
        const unsigned char *b = gt;
        while (b > u && b[-1] == ']' && k < 2) {
            b--;
            k++;
        }
        if (b == u) {
            k += s->text_brackets;
        }
        if (k >= 2) {
            cdata_end_in_text(r);
            return (size_t)(gt - u);
        }
    }
    unsigned t = 0;
    while (t < 2 && t < n && u[n - 1 - t] == ']') {
        t++;
    }
    s->text_brackets = t == n ? s->text_brackets + t : t;
    if (s->text_brackets > 2) {
        s->text_brackets = 2;
    }
    return n;
}

/* Advances the scanner by one character: an ASCII code, or 0x100 for any other. */
static int scan_char(struct xmlin *r, int c)
{
    struct scanner *s = &r->scan;
    if (!is_xml_space(c)) {
        s->nonblank = true;
    }
    switch (s->state) {
    case ST_TEXT:
        if (c == '<') {
            s->state = ST_LT;
            s->lt_at = s->at;
            s->hold = true; /* until it is known not to open a comment like "<!-->" */
            s->text_brackets = 0;
            return 0;
        }
        if (c == '>' && s->text_brackets >= 2) {
            return cdata_end_in_text(r);
        }
        s->text_brackets = c == ']' ? (s->text_brackets < 2 ? s->text_brackets + 1 : 2) : 0;
        return 0;
    case ST_LT:
        s->hold = c == '!';
        if (c == '!') {
            s->state = ST_BANG;
        } else if (c == '?') {
            s->state = ST_PI;
            s->run = 0;
        } else {
            s->state = ST_TAG;
            s->attrs = 0;
            return scan_char(r, c);
        }
        return 0;
    case ST_BANG:
        s->state = c == '-' ? ST_BANG_DASH : c == '[' ? ST_CDATA : ST_DECL;
        s->hold = c == '-';
        s->run = 0;
        return 0;
    case ST_BANG_DASH:
        s->state = c == '-' ? ST_COMMENT : ST_DECL;
        s->hold = c == '-';
        s->run = 0;
        s->cbody = 0;
        return 0;
    case ST_COMMENT:
        /* "<!-->" and "<!--->" hold "-->" in their own opening: held until the real end
         * (push_or_hold). Any other comment is let go after its first two characters. */
        if (s->cbody == 0) {
            s->cbody = c == '-' ? 1 : 2; /* 1: "<!---", undecided */
            s->hold = c == '>' || c == '-';
        } else if (s->cbody == 1) {
            s->cbody = 2;
            s->hold = c == '>';
        }
        if (c == '-') {
            s->run++;
            return 0;
        }
        if (c == '>' && s->run >= 2) {
            s->state = ST_TEXT;
            s->hold = false;
        }
        s->run = 0;
        return 0;
    case ST_CDATA:
        if (c == ']') {
            s->run++;
            return 0;
        }
        if (c == '>' && s->run >= 2) {
            s->state = ST_TEXT;
        }
        s->run = 0;
        return 0;
    case ST_PI:
        if (c == '>' && s->run) {
            s->state = ST_TEXT;
        }
        s->run = c == '?';
        return 0;
    case ST_DECL:
        if (c == '>') {
            s->state = ST_TEXT;
        }
        return 0;
    case ST_TAG:
        if (c == '>') {
            s->state = ST_TEXT;
        } else if (c == '"' || c == '\'') {
            s->state = ST_QUOTE;
            s->quote = c;
        } else if (c == '=' && ++s->attrs > XMLIN_MAX_ATTRS) {
            return too_many_attrs(r);
        }
        return 0;
    case ST_QUOTE:
        if (c == s->quote) {
            s->state = ST_TAG;
        }
        return 0;
    }
    return 0;
}

/* Scans p[0..n). Returns n, or the offset of the character that failed (r->err set). */
static size_t prescan(struct xmlin *r, const char *p, size_t n)
{
    const unsigned char *u = (const unsigned char *)p;
    struct scanner *s = &r->scan;
    assert(s->mode != SCAN_HEAD);
    size_t base = (size_t)(p - r->pending.data); /* p is inside r->pending */
    for (size_t i = 0; i < n; i++) {
        int c;
        if (s->mode == SCAN_BYTES) {
            /* Skip character data and quoted values in bulk. */
            if (s->nonblank && (s->state == ST_TEXT || s->state == ST_QUOTE)) {
                int stop_at = s->state == ST_TEXT ? '<' : s->quote;
                const unsigned char *q = memchr(u + i, stop_at, n - i);
                if (s->state == ST_TEXT) {
                    size_t len = (q ? (size_t)(q - u) : n) - i;
                    size_t ok = scan_text(r, u + i, len);
                    if (ok < len) {
                        s->at = base + i + ok;
                        return i + ok;
                    }
                }
                if (!q) {
                    return n;
                }
                i = (size_t)(q - u);
            }
            c = u[i] < 0x80 ? u[i] : 0x100;
            s->at = base + i;
        } else if (s->half < 0) {
            s->half = u[i];
            continue;
        } else {
            unsigned unit = s->mode == SCAN_UTF16LE ? (unsigned)s->half | (unsigned)u[i] << 8
                                                    : (unsigned)s->half << 8 | u[i];
            s->half = -1;
            c = unit < 0x80 ? (int)unit : 0x100;
            /* the unit's first byte; 0 when it has gone to libxml2 already */
            s->at = base + i > 0 ? base + i - 1 : 0;
        }
        if (scan_char(r, c) != 0) {
            return i;
        }
    }
    return n;
}

static bool has_prefix_ci(struct slice s, const char *prefix)
{
    struct slice p = slice_from_cstr(prefix);
    return s.len >= p.len && slice_eq_ci((struct slice){s.ptr, p.len}, p);
}

/* XML 1.0 §4.3.3 names; these are the ones whose bytes the scanner reads right. UTF-16 is
 * let through so that libxml2 can say "labelled UTF-16 but has UTF-8 content". */
static bool ascii_compatible(struct slice enc)
{
    static const char *const exact[] = {"UTF-8", "UTF8", "US-ASCII", "ASCII", "UTF-16", "UTF16"};
    static const char *const families[] = {"ISO-8859-", "WINDOWS-125", "CP125"};
    for (size_t i = 0; i < ALM_ARRAY_LEN(exact); i++) {
        if (slice_eq_ci(enc, slice_from_cstr(exact[i]))) {
            return true;
        }
    }
    for (size_t i = 0; i < ALM_ARRAY_LEN(families); i++) {
        if (has_prefix_ci(enc, families[i]) && enc.len > strlen(families[i])) {
            return true;
        }
    }
    return false;
}

/* The value of the encoding pseudo-attribute of the XML declaration `decl` (without "<?xml"
 * and "?>"), or an empty slice when there is none or it is not readable (libxml2 then
 * rejects the declaration itself). */
static struct slice decl_encoding(struct slice decl)
{
    static const char key[] = "encoding";
    const size_t klen = sizeof(key) - 1;
    for (size_t i = 0; i + klen <= decl.len; i++) {
        if (memcmp(decl.ptr + i, key, klen) != 0) {
            continue;
        }
        size_t j = i + klen;
        while (j < decl.len && is_xml_space(decl.ptr[j])) {
            j++;
        }
        if (j == decl.len || decl.ptr[j] != '=') {
            continue;
        }
        j++;
        while (j < decl.len && is_xml_space(decl.ptr[j])) {
            j++;
        }
        if (j == decl.len || (decl.ptr[j] != '"' && decl.ptr[j] != '\'')) {
            break;
        }
        const char *end = memchr(decl.ptr + j + 1, decl.ptr[j], decl.len - j - 1);
        if (end) {
            return (struct slice){decl.ptr + j + 1, (size_t)(end - (decl.ptr + j + 1))};
        }
        break;
    }
    return (struct slice){"", 0};
}

enum head {
    HEAD_MORE, /* not enough bytes yet */
    HEAD_DONE, /* r->scan.mode is set */
    HEAD_BAD,  /* r->err is set */
};

static enum head head_bad(struct xmlin *r, const char *why)
{
    err_set(&r->err, &xml_cond_malformed, "malformed xml: %s", why);
    return HEAD_BAD;
}

/* Decides the encoding family from the first bytes of the body, as XML 1.0 Appendix F
 * does, and checks the declared encoding. `final` when no more bytes will come. Sets
 * *skip to the length of a byte order mark. */
static enum head decide_head(struct xmlin *r, bool final, size_t *skip)
{
    const unsigned char *p = (const unsigned char *)r->pending.data;
    size_t n = r->pending.len;
    *skip = 0;
    r->scan.mode = SCAN_BYTES;
    if (n < 4 && !final) {
        r->scan.mode = SCAN_HEAD;
        return HEAD_MORE;
    }
    if (n >= 4 && ((p[0] == 0xFF && p[1] == 0xFE && p[2] == 0 && p[3] == 0) ||
                   memcmp(p, "<\0\0\0", 4) == 0)) {
        return head_bad(r, "UCS-4 is not supported");
    }
    if (n >= 2 && ((p[0] == 0xFF && p[1] == 0xFE) || (p[0] == 0xFE && p[1] == 0xFF))) {
        r->scan.mode = p[0] == 0xFF ? SCAN_UTF16LE : SCAN_UTF16BE;
        *skip = 2;
        return HEAD_DONE;
    }
    if (n >= 4 && (memcmp(p, "<\0?\0", 4) == 0 || memcmp(p, "\0<\0?", 4) == 0)) {
        r->scan.mode = p[0] == '<' ? SCAN_UTF16LE : SCAN_UTF16BE;
        return HEAD_DONE;
    }
    size_t i = n >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    *skip = i;
    if (i == n) {
        return HEAD_DONE; /* empty, or a lone BOM: libxml2 says so */
    }
    if (p[i] != '<' && !is_xml_space(p[i])) {
        return head_bad(r, "the body does not start with '<'");
    }
    static const char xml_decl[] = "<?xml";
    const size_t dlen = sizeof(xml_decl) - 1;
    size_t have = n - i < dlen + 1 ? n - i : dlen + 1;
    if (memcmp(p + i, xml_decl, have < dlen ? have : dlen) != 0) {
        return HEAD_DONE; /* no declaration: UTF-8 */
    }
    if (have < dlen + 1) {
        if (!final) {
            r->scan.mode = SCAN_HEAD;
            return HEAD_MORE;
        }
        return HEAD_DONE;
    }
    if (!is_xml_space(p[i + dlen])) {
        return HEAD_DONE; /* a processing instruction such as <?xml-stylesheet */
    }
    struct slice rest = {(const char *)p + i + dlen, n - i - dlen};
    const char *end = NULL;
    for (size_t k = 0; k + 1 < rest.len; k++) {
        if (rest.ptr[k] == '?' && rest.ptr[k + 1] == '>') {
            end = rest.ptr + k;
            break;
        }
    }
    if (!end) {
        if (n - i > XMLIN_HEAD_MAX) {
            return head_bad(r, "xml declaration longer than 256 bytes");
        }
        if (!final) {
            r->scan.mode = SCAN_HEAD;
            return HEAD_MORE;
        }
        return HEAD_DONE;
    }
    if ((size_t)(end - (const char *)p) + 2 - i > XMLIN_HEAD_MAX) {
        return head_bad(r, "xml declaration longer than 256 bytes");
    }
    struct slice enc = decl_encoding((struct slice){rest.ptr, (size_t)(end - rest.ptr)});
    if (enc.len > 0 && !ascii_compatible(enc)) {
        err_set(&r->err, &xml_cond_malformed, "malformed xml: unsupported encoding %.*s",
                (int)enc.len, enc.ptr);
        return HEAD_BAD;
    }
    return HEAD_DONE;
}

/* ---- Feeding libxml2 ---------------------------------------------------------------- */

/* Bytes libxml2 holds but has not parsed yet. */
static size_t libxml2_held(const struct xmlin *r)
{
    const xmlParserInput *in = r->ctxt->input;
    if (!in || !in->cur || !in->end || in->end < in->cur) {
        return 0;
    }
    return (size_t)(in->end - in->cur);
}

/* Gives the pending bytes to libxml2, or keeps them back. libxml2 2.9's push parser
 * rescans everything it holds unparsed each time it is given more (xmlParseGetLasts,
 * xmlParseLookupSequence), so one long token fed in small chunks costs time quadratic in
 * its length: 22 MB of attribute value in 4 KiB chunks takes about a minute. As expat 2.6
 * does for the same problem, we back off: while libxml2 holds more than XMLIN_STUCK bytes
 * it could not parse, new bytes wait here until they at least match what it holds, so a
 * token of n bytes is rescanned O(log n) times.
 * Second, a comment opening "<!-->" or "<!--->" waits here from its '<' until its real end
 * has been scanned: libxml2 2.9.14, outside the root element, looks for the "-->" that ends
 * a comment from the comment's own "<!--", finds it inside those openings, and parses the
 * comment before its end has arrived, refusing a well-formed body cut there ("Comment not
 * terminated"; "<!-->x--><a/>" cut after byte 5 to 8). Any other markup's '<' waits only
 * until the next one or two characters show that it opens no such comment.
 * `all` pushes whatever is pending. Returns 0, or -1 with r->err set (or libxml2's result
 * nonzero). */
static int push_or_hold(struct xmlin *r, bool all)
{
    if (r->pending.len == 0) {
        return 0;
    }
    size_t held = libxml2_held(r);
    if (!all && held >= XMLIN_STUCK && r->pending.len < held) {
        return 0;
    }
    size_t n = r->pending.len;
    if (!all && r->scan.hold) {
        n = r->scan.lt_at;
    }
    const char *p = r->pending.data;
    size_t keep = r->pending.len - n;
    while (n > 0) {
        /* xmlParseChunk takes an int. */
        size_t piece = n < (size_t)1 << 30 ? n : (size_t)1 << 30;
        int rc = xmlParseChunk(r->ctxt, p, (int)piece, 0);
        if (r->err.cond || rc != 0) {
            return -1;
        }
        p += piece;
        n -= piece;
    }
    size_t pushed = r->pending.len - keep;
    if (keep == 0) {
        buf_reset(&r->pending);
    } else if (pushed > 0) {
        memmove(r->pending.data, p, keep);
        r->pending.len = keep;
        r->pending.data[keep] = '\0';
    }
    /* an offset into the bytes just pushed becomes 0, "with libxml2 already" */
    r->scan.lt_at = r->scan.lt_at > pushed ? r->scan.lt_at - pushed : 0;
    return 0;
}

/* Scans the pending bytes from offset `from`. On a scanner failure, the bytes before the
 * failing character still go to libxml2 first, so that an earlier error in them wins
 * however the body was chunked. Returns 0 or -1 with r->err set. */
static int scan_pending(struct xmlin *r, size_t from)
{
    if (from == r->pending.len) {
        return 0; /* nothing new, and pending.data is NULL before the first byte: no NULL + 0 */
    }
    size_t end = from + prescan(r, r->pending.data + from, r->pending.len - from);
    if (end == r->pending.len) {
        return 0;
    }
    struct err scan_err = r->err;
    err_init(&r->err);
    r->pending.len = end;
    r->pending.data[end] = '\0';
    if (push_or_hold(r, true) == 0 && !r->err.cond) {
        /* libxml2 2.9's push parser tries a start tag only when a chunk brings a '>' and its
         * quote-aware guess of the last complete tag (xmlParseGetLasts) allows it, so how
         * the bytes were cut decides whether an error before this point is seen yet
         * ("<=" then '<?xml v"?>' then 300 '=': whole, "invalid element name"; a byte at a
         * time, nothing). An empty chunk makes it try once more over everything it holds,
         * whatever the cuts were (2.9.14 xmlParseChunk: no bytes, old_avail 0). */
        xmlParseChunk(r->ctxt, NULL, 0, 0);
    }
    if (!r->err.cond) {
        r->err = scan_err;
    }
    return -1;
}

/* Decides the encoding family once enough of the body is in (see decide_head). Returns
 * 0 with r->scan.mode set or still SCAN_HEAD (when !final), or -1 with r->err set. */
static int settle_head(struct xmlin *r, bool final)
{
    size_t skip;
    enum head h = decide_head(r, final, &skip);
    if (h == HEAD_BAD) {
        return -1;
    }
    if (h == HEAD_MORE) {
        return 0;
    }
    if (r->scan.mode == SCAN_UTF16LE || r->scan.mode == SCAN_UTF16BE) {
        /* The byte order mark decides; a declared encoding must not switch libxml2 away
         * from UTF-16 midway, which 2.9 would do. */
        if (xmlCtxtUseOptions(r->ctxt, xmlin_options | XML_PARSE_IGNORE_ENC) != 0) {
            abort();
        }
    }
    return scan_pending(r, skip);
}

/* Takes p[0..n) in: scans it, then lets push_or_hold() decide when libxml2 gets it. */
static int take_in(struct xmlin *r, const char *p, size_t n)
{
    size_t from = r->pending.len;
    if (buf_append(&r->pending, p, n) != 0) {
        abort(); /* the limit is max_bytes, which xmlin_feed has checked */
    }
    if (r->scan.mode == SCAN_HEAD) {
        if (settle_head(r, false) != 0) {
            return -1;
        }
        if (r->scan.mode == SCAN_HEAD) {
            return 0;
        }
    } else if (scan_pending(r, from) != 0) {
        return -1;
    }
    return push_or_hold(r, false);
}

struct xmlin *
xmlin_create(const struct xmlin_limits *limits, const struct xmlin_handler *h, void *ctx)
{
    pthread_once(&xmlin_once, xmlin_global_init);
    /* Per thread in libxml2, so set on whichever worker creates the reader. */
    xmlSetGenericErrorFunc(NULL, drop_generic_error);
    struct xmlin *r = calloc(1, sizeof(*r));
    if (!r) {
        abort();
    }
    r->limits = *limits;
    r->h = h;
    r->ctx = ctx;
    err_init(&r->err);
    r->scan.mode = SCAN_HEAD;
    r->scan.state = ST_TEXT;
    r->scan.half = -1;
    buf_init(&r->pending, limits->max_bytes);
    xmlSAXHandler sax;
    memset(&sax, 0, sizeof(sax));
    sax.initialized = XML_SAX2_MAGIC;
    sax.startElementNs = on_start;
    sax.endElementNs = on_end;
    sax.characters = on_text;
    /* Same as characters: with the two equal, libxml2 never tries to decide whether
     * whitespace is "ignorable", which needs a DTD we do not have. */
    sax.ignorableWhitespace = on_text;
    sax.cdataBlock = on_text;
    sax.internalSubset = on_doctype;
    sax.externalSubset = on_doctype;
    sax.entityDecl = on_entity_decl;
    sax.getEntity = on_get_entity;
    sax.getParameterEntity = on_get_parameter_entity;
    sax.resolveEntity = on_resolve;
    sax.warning = on_legacy_error;
    sax.error = on_legacy_error;
    sax.fatalError = on_legacy_error;
    sax.serror = on_structured_error;
    /* libxml2 copies the handler; r is the user data every callback receives. */
    r->ctxt = xmlCreatePushParserCtxt(&sax, r, NULL, 0, NULL);
    if (!r->ctxt) {
        abort();
    }
    /* Returns the options it did not recognise; all of ours exist in 2.9. */
    int unknown = xmlCtxtUseOptions(r->ctxt, xmlin_options);
    if (unknown != 0) {
        abort();
    }
    return r;
}

void xmlin_destroy(struct xmlin **rp)
{
    struct xmlin *r = *rp;
    if (!r) {
        return;
    }
    xmlFreeParserCtxt(r->ctxt);
    buf_deinit(&r->pending);
    free(r->attrs);
    free(r->values);
    free(r->ns_decls);
    free(r);
    *rp = NULL;
}

/* Copies the sticky failure to the caller's err (or a generic one when libxml2 failed
 * without saying why, as it does for some encoding errors). */
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
    if (r->finished) {
        err_set(&r->err, &err_cond_internal, "xml fed after the end of the document");
        return fail(r, err);
    }
    /* Bytes up to the limit are parsed first, so that an error in them wins. */
    size_t room = r->limits.max_bytes - r->fed;
    bool over = n > room;
    size_t take = over ? room : n;
    r->fed += take;
    while (take > 0) {
        size_t piece = take < XMLIN_PIECE ? take : XMLIN_PIECE;
        if (take_in(r, p, piece) != 0) {
            return fail(r, err);
        }
        p += piece;
        take -= piece;
    }
    if (over) {
        err_set(&r->err, &xml_cond_too_large, "xml body longer than xml_max_body=%zu",
                r->limits.max_bytes);
        return fail(r, err);
    }
    return 0;
}

int xmlin_finish(struct xmlin *r, struct err *err)
{
    if (r->err.cond) {
        return fail(r, err);
    }
    if (r->finished) {
        err_set(&r->err, &err_cond_internal, "xml document finished twice");
        return fail(r, err);
    }
    r->finished = true;
    if (r->scan.mode == SCAN_HEAD && settle_head(r, true) != 0) {
        return fail(r, err);
    }
    if (!r->scan.nonblank) {
        err_set(&r->err, &xml_cond_malformed, "malformed xml: empty body");
        return fail(r, err);
    }
    if (push_or_hold(r, true) != 0) {
        return fail(r, err);
    }
    int rc = xmlParseChunk(r->ctxt, NULL, 0, 1);
    if (r->err.cond || rc != 0 || !r->ctxt->wellFormed || !r->ctxt->nsWellFormed) {
        return fail(r, err);
    }
    if (!r->seen_root || r->depth != 0) {
        err_set(&r->err, &xml_cond_malformed, "malformed xml: incomplete document");
        return fail(r, err);
    }
    return 0;
}
