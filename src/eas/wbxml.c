/* eas/wbxml.c: the WBXML names and the streaming decoder (see wbxml.h; brief activesync.md
 * §2.1). The decoder is a byte-level state machine, so a chunk may end anywhere (inside the
 * header, a varint, a string or an opaque) and the callbacks come out the same. It keeps one
 * frame per open element and the text of the innermost element only; it never builds a
 * tree (eas/tree.c does that on top of the callbacks). The encoder is in wbxml_enc.c, the
 * XML dump in wbxml_dump.c. */
#include "eas/wbxml.h"

#include <assert.h>
#include <string.h>

#define ERR_COND(sym, name, ns, http, eas) ERR_COND_DEFINE(sym, name, ns, http, eas)
#include "eas/conds.def"
#undef ERR_COND

enum {
    /* Tags per page: the token is 6 bits; 0x00-0x04 are the global tokens. */
    WBXML_TOKENS = 64,
    WBXML_FIRST_TOKEN = 0x05,
    /* Most bytes of an mb_u_int32 (§2.1: capped at 5 bytes / 2^32-1). */
    WBXML_VARINT_MAX = 5,
    /* Hard bound on a configured max_depth: the frame stack is allocated up front. */
    WBXML_DEPTH_HARD = 1024,
    /* WBXML header values EAS uses (§2.1). */
    WBXML_PUBID_UNKNOWN = 0x01,
    WBXML_CHARSET_UTF8 = 106,
};

/* Global tokens (WBXML 1.3 §7.1; §2.1 table). */
enum {
    TOK_SWITCH_PAGE = 0x00,
    TOK_END = 0x01,
    TOK_STR_I = 0x03,
    TOK_OPAQUE = 0xC3,
    TOK_CONTENT = 0x40, /* tag bit: the element has content and ends with END */
    TOK_ATTRS = 0x80,   /* tag bit: the element has attributes (never in EAS) */
};

/* --- names ----------------------------------------------------------------------------- */

static const char *const page_names[EAS_PAGE_COUNT] = {
#define EAS_PAGE(num, sym, ns) [num] = ns,
#include "eas/tokens.def"
#undef EAS_PAGE
};

/* Designated initializers: a (page, token) listed twice in tokens.def trips
 * -Woverride-init, which -Wextra enables. */
static const char *const tag_names[EAS_PAGE_COUNT][WBXML_TOKENS] = {
#define EAS_TAG(page, tok, sym, name) [page][tok] = name,
#include "eas/tokens.def"
#undef EAS_TAG
};

const char *eas_tag_name(unsigned tag)
{
    unsigned page = tag >> 8, tok = tag & 0xFFu;
    if (page >= EAS_PAGE_COUNT || tok >= WBXML_TOKENS) {
        return NULL;
    }
    return tag_names[page][tok];
}

const char *eas_page_name(unsigned page)
{
    return page < EAS_PAGE_COUNT ? page_names[page] : NULL;
}

int eas_tag_lookup(const char *ns, const char *name, unsigned *tag_out)
{
    size_t nslen = strlen(ns);
    if (nslen > 0 && ns[nslen - 1] == ':') {
        nslen--; /* libwbxml's "Calendar:" */
    }
    for (unsigned page = 0; page < EAS_PAGE_COUNT; page++) {
        if (strlen(page_names[page]) != nslen || memcmp(page_names[page], ns, nslen) != 0) {
            continue;
        }
        for (unsigned tok = WBXML_FIRST_TOKEN; tok < WBXML_TOKENS; tok++) {
            if (tag_names[page][tok] && strcmp(tag_names[page][tok], name) == 0) {
                *tag_out = EAS_TAG_MAKE(page, tok);
                return 0;
            }
        }
        return -1;
    }
    return -1;
}

/* The tag's name for a message, or "?" for a tag tokens.def lacks. */
static const char *tag_label(unsigned tag)
{
    const char *name = eas_tag_name(tag);
    return name ? name : "?";
}

/* --- decoder --------------------------------------------------------------------------- */

void eas_wbxml_limits_default(struct eas_wbxml_limits *l)
{
    l->max_depth = EAS_WBXML_MAX_DEPTH;
    l->max_text = EAS_WBXML_MAX_TEXT;
    l->max_opaque = EAS_WBXML_MAX_OPAQUE;
    l->max_elements = EAS_WBXML_MAX_ELEMENTS;
}

/* What the next byte means. */
enum dec_state {
    ST_VERSION, /* the version byte */
    ST_PUBID,   /* public id varint */
    ST_CHARSET, /* charset varint */
    ST_STRTBL,  /* string table length varint */
    ST_BODY,    /* a token */
    ST_PAGE,    /* the page number after SWITCH_PAGE */
    ST_STR,     /* STR_I bytes up to the NUL */
    ST_OPQ_LEN, /* OPAQUE length varint */
    ST_OPQ_DATA,
    ST_DONE,   /* the root closed: any further byte is garbage */
    ST_FAILED, /* an error was returned; `failure` holds it */
};

/* One open element with content. */
struct dec_frame {
    unsigned tag;
    bool skip;     /* unknown, or inside an unknown element: no callbacks */
    bool children; /* a child element began (text may no longer follow) */
};

struct eas_wbxml_dec {
    struct eas_wbxml_limits lim;
    const struct eas_wbxml_handler *h; /* borrowed */
    void *ctx;                         /* borrowed */
    enum dec_state state;
    unsigned page; /* current code page; persists across elements (§2.1 rule 1) */
    uint64_t varint;
    unsigned varint_len; /* bytes of the varint read so far */
    struct dec_frame *stack;
    unsigned depth; /* open elements with content */
    unsigned long elements;
    unsigned long skipped;  /* elements that began a skip */
    unsigned first_skipped; /* tag of the first of them */
    bool rooted;            /* the root element has begun */
    struct buf text;        /* text of the innermost element (not kept when skipping) */
    size_t text_len;        /* bytes of text of the innermost element, kept or not */
    bool text_seen;         /* a STR_I or OPAQUE piece in the innermost element */
    bool text_opaque;       /* one of those pieces was OPAQUE */
    size_t opaque_left;     /* bytes of the current OPAQUE still to come */
    struct err failure;     /* the error of ST_FAILED */
};

static void dec_text_free(void *p)
{
    struct buf *b = p;
    buf_deinit(b);
}

struct eas_wbxml_dec *eas_wbxml_dec_new(struct arena *arena,
                                        const struct eas_wbxml_limits *lim,
                                        const struct eas_wbxml_handler *h,
                                        void *ctx)
{
    struct eas_wbxml_dec *d = arena_zalloc(arena, sizeof(*d));
    if (lim) {
        d->lim = *lim;
    } else {
        eas_wbxml_limits_default(&d->lim);
    }
    if (d->lim.max_depth > WBXML_DEPTH_HARD) {
        d->lim.max_depth = WBXML_DEPTH_HARD;
    }
    d->h = h;
    d->ctx = ctx;
    d->state = ST_VERSION;
    d->stack = arena_alloc(arena, sizeof(*d->stack) * (d->lim.max_depth + 1u));
    size_t cap = d->lim.max_text > d->lim.max_opaque ? d->lim.max_text : d->lim.max_opaque;
    buf_init(&d->text, cap);
    arena_defer(arena, dec_text_free, &d->text);
    err_init(&d->failure);
    return d;
}

static int bad(struct err *err, const char *fmt, ...) ALM_PRINTF(2, 3);

static int bad(struct err *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset(err, &eas_cond_bad_wbxml, fmt, ap);
    va_end(ap);
    return -1;
}

/* A callback's -1 must carry a condition; one that forgot gets an internal error. */
static int callback_failed(struct err *err)
{
    if (!err->cond) {
        err_set(err, &err_cond_internal, "wbxml handler failed without a condition");
    }
    return -1;
}

/* Takes one byte of an mb_u_int32. Returns 1 when the value is complete (in d->varint),
 * 0 when more bytes follow, -1 past 5 bytes or 2^32-1. */
static int varint_byte(struct eas_wbxml_dec *d, uint8_t b, const char *what, struct err *err)
{
    if (d->varint_len == 0) {
        d->varint = 0;
    }
    d->varint = (d->varint << 7) | (b & 0x7Fu);
    d->varint_len++;
    if (d->varint > UINT32_MAX) {
        return bad(err, "wbxml %s exceeds 2^32-1", what);
    }
    if (b & 0x80u) {
        if (d->varint_len == WBXML_VARINT_MAX) {
            return bad(err, "wbxml %s is longer than %d bytes", what, WBXML_VARINT_MAX);
        }
        return 0;
    }
    d->varint_len = 0;
    return 1;
}

/* The name of a global token EAS does not use (§2.1), or NULL when `b` is not one. */
static const char *unused_global(uint8_t b)
{
    switch (b) {
    case 0x02:
        return "ENTITY";
    case 0x04:
        return "LITERAL";
    case 0x40:
        return "EXT_I_0";
    case 0x41:
        return "EXT_I_1";
    case 0x42:
        return "EXT_I_2";
    case 0x43:
        return "PI";
    case 0x44:
        return "LITERAL_C";
    case 0x80:
        return "EXT_T_0";
    case 0x81:
        return "EXT_T_1";
    case 0x82:
        return "EXT_T_2";
    case 0x83:
        return "STR_T";
    case 0x84:
        return "LITERAL_A";
    case 0xC0:
        return "EXT_0";
    case 0xC1:
        return "EXT_1";
    case 0xC2:
        return "EXT_2";
    case 0xC4:
        return "LITERAL_AC";
    default:
        return NULL;
    }
}

static struct dec_frame *top(struct eas_wbxml_dec *d)
{
    assert(d->depth > 0);
    return &d->stack[d->depth - 1];
}

static void text_reset(struct eas_wbxml_dec *d)
{
    buf_reset(&d->text);
    d->text_len = 0;
    d->text_seen = false;
    d->text_opaque = false;
}

/* A tag token on the current page begins an element. */
static int open_element(struct eas_wbxml_dec *d, unsigned tok, bool content, struct err *err)
{
    unsigned tag = EAS_TAG_MAKE(d->page, tok);
    bool known = tag_names[d->page][tok] != NULL;
    bool skip = !known;
    if (d->depth > 0) {
        struct dec_frame *parent = top(d);
        if (d->text_seen) {
            return bad(err, "wbxml element %s mixes text with child elements",
                       tag_label(parent->tag));
        }
        parent->children = true;
        skip = skip || parent->skip;
    } else if (!known) {
        return bad(err, "wbxml root element 0x%04x is unknown", tag);
    }
    d->rooted = true;
    if (!known && (d->depth == 0 || !top(d)->skip) && d->skipped++ == 0) {
        d->first_skipped = tag;
    }
    if (++d->elements > d->lim.max_elements) {
        return err_set(err, &eas_cond_wbxml_limit,
                       "wbxml element %lu exceeds wbxml max_elements=%lu", d->elements,
                       d->lim.max_elements);
    }
    if (d->depth + 1 > d->lim.max_depth) {
        return err_set(err, &eas_cond_wbxml_limit, "wbxml depth %u exceeds wbxml max_depth=%u",
                       d->depth + 1, d->lim.max_depth);
    }
    if (!skip && d->h->start(d->ctx, tag, content, err) != 0) {
        return callback_failed(err);
    }
    if (content) {
        d->stack[d->depth++] = (struct dec_frame){tag, skip, false};
        text_reset(d);
        return 0;
    }
    if (!skip && d->h->end(d->ctx, tag, err) != 0) {
        return callback_failed(err);
    }
    if (d->depth == 0) {
        d->state = ST_DONE;
    }
    return 0;
}

/* END: the innermost element's text (if any), then its end. */
static int close_element(struct eas_wbxml_dec *d, struct err *err)
{
    if (d->depth == 0) {
        return bad(err, "wbxml END outside an element");
    }
    struct dec_frame f = *top(d);
    if (!f.skip && d->text_len > 0 &&
        d->h->text(d->ctx, f.tag, buf_cstr(&d->text), d->text_len, d->text_opaque, err) != 0) {
        return callback_failed(err);
    }
    text_reset(d);
    d->depth--;
    if (!f.skip && d->h->end(d->ctx, f.tag, err) != 0) {
        return callback_failed(err);
    }
    if (d->depth == 0) {
        d->state = ST_DONE;
    }
    return 0;
}

/* STR_I or OPAQUE begins in the innermost element. */
static int begin_text(struct eas_wbxml_dec *d, bool opaque, struct err *err)
{
    if (d->depth == 0) {
        return bad(err, "wbxml text outside an element");
    }
    if (top(d)->children) {
        return bad(err, "wbxml element %s mixes text with child elements", tag_label(top(d)->tag));
    }
    d->text_seen = true;
    d->text_opaque = d->text_opaque || opaque;
    d->state = opaque ? ST_OPQ_LEN : ST_STR;
    return 0;
}

/* The most text the innermost element may hold now. */
static size_t text_limit(const struct eas_wbxml_dec *d)
{
    return d->text_opaque ? d->lim.max_opaque : d->lim.max_text;
}

static int text_too_long(struct eas_wbxml_dec *d, struct err *err)
{
    return err_set(err, &eas_cond_wbxml_limit, "wbxml text of %s exceeds wbxml %s=%zu",
                   tag_label(top(d)->tag), d->text_opaque ? "max_opaque" : "max_text",
                   text_limit(d));
}

/* Appends n bytes of STR_I or OPAQUE content to the innermost element's text. */
static int add_text(struct eas_wbxml_dec *d, const uint8_t *p, size_t n, struct err *err)
{
    if (n > text_limit(d) - d->text_len) {
        return text_too_long(d, err);
    }
    if (!top(d)->skip && buf_append(&d->text, p, n) != 0) {
        return text_too_long(d, err); /* not reached: the buf's limit is the larger one */
    }
    d->text_len += n;
    return 0;
}

/* A token in the body. */
static int body_byte(struct eas_wbxml_dec *d, uint8_t b, struct err *err)
{
    switch (b) {
    case TOK_SWITCH_PAGE:
        d->state = ST_PAGE;
        return 0;
    case TOK_END:
        return close_element(d, err);
    case TOK_STR_I:
        return begin_text(d, false, err);
    case TOK_OPAQUE:
        return begin_text(d, true, err);
    default:
        break;
    }
    const char *unused = unused_global(b);
    if (unused) {
        return bad(err, "wbxml token %s (0x%02x) is not used by EAS", unused, b);
    }
    if (b & TOK_ATTRS) {
        return bad(err, "wbxml tag 0x%02x has the attribute bit, which EAS never sets", b);
    }
    return open_element(d, b & 0x3Fu, (b & TOK_CONTENT) != 0, err);
}

/* One byte in any state but ST_STR and ST_OPQ_DATA, which feed() takes in runs. */
static int step(struct eas_wbxml_dec *d, uint8_t b, struct err *err)
{
    int rc;
    switch (d->state) {
    case ST_VERSION:
        /* §2.1: 0x03 (1.3) is sent; 1.1 and 1.2 are accepted; 1.0 has no charset field. */
        if (b < 0x01 || b > 0x03) {
            return bad(err, "wbxml version byte 0x%02x is not 1.1-1.3", b);
        }
        d->state = ST_PUBID;
        return 0;
    case ST_PUBID:
        if ((rc = varint_byte(d, b, "public id", err)) <= 0) {
            return rc;
        }
        if (d->varint == 0) {
            return bad(err, "wbxml public id is a string table reference; EAS uses none");
        }
        if (d->varint != WBXML_PUBID_UNKNOWN) {
            return bad(err, "wbxml public id %u is not 1", (unsigned)d->varint);
        }
        d->state = ST_CHARSET;
        return 0;
    case ST_CHARSET:
        if ((rc = varint_byte(d, b, "charset", err)) <= 0) {
            return rc;
        }
        if (d->varint != WBXML_CHARSET_UTF8) {
            return bad(err, "wbxml charset %u is not 106 (UTF-8)", (unsigned)d->varint);
        }
        d->state = ST_STRTBL;
        return 0;
    case ST_STRTBL:
        if ((rc = varint_byte(d, b, "string table length", err)) <= 0) {
            return rc;
        }
        if (d->varint != 0) {
            return bad(err, "wbxml string table of %u bytes; EAS uses none", (unsigned)d->varint);
        }
        d->state = ST_BODY;
        return 0;
    case ST_BODY:
        return body_byte(d, b, err);
    case ST_PAGE:
        if (b >= EAS_PAGE_COUNT) {
            return bad(err, "wbxml code page %u is unknown (0-25)", b);
        }
        d->page = b;
        d->state = ST_BODY;
        return 0;
    case ST_OPQ_LEN:
        if ((rc = varint_byte(d, b, "opaque length", err)) <= 0) {
            return rc;
        }
        if (d->varint > text_limit(d) - d->text_len) {
            return text_too_long(d, err);
        }
        d->opaque_left = (size_t)d->varint;
        d->state = d->opaque_left > 0 ? ST_OPQ_DATA : ST_BODY;
        return 0;
    case ST_DONE:
        return bad(err, "wbxml bytes after the root element");
    case ST_STR:
    case ST_OPQ_DATA:
    case ST_FAILED:
        break;
    }
    assert(!"unreachable decoder state");
    return -1;
}

/* Records the error so that later calls repeat it. */
static int dec_fail(struct eas_wbxml_dec *d, struct err *err)
{
    if (!err->cond) {
        err_set(err, &err_cond_internal, "wbxml decoder failed without a condition");
    }
    d->failure = *err;
    d->state = ST_FAILED;
    return -1;
}

static int dec_replay(const struct eas_wbxml_dec *d, struct err *err)
{
    if (!err->cond) {
        *err = d->failure;
    }
    return -1;
}

int eas_wbxml_feed(struct eas_wbxml_dec *d, const void *p, size_t n, struct err *err)
{
    if (d->state == ST_FAILED) {
        return dec_replay(d, err);
    }
    const uint8_t *s = p, *end = s + n;
    while (s < end) {
        int rc;
        if (d->state == ST_STR) {
            const uint8_t *nul = memchr(s, 0, (size_t)(end - s));
            const uint8_t *stop = nul ? nul : end;
            rc = add_text(d, s, (size_t)(stop - s), err);
            s = nul ? nul + 1 : end;
            if (nul) {
                d->state = ST_BODY;
            }
        } else if (d->state == ST_OPQ_DATA) {
            size_t take = (size_t)(end - s) < d->opaque_left ? (size_t)(end - s) : d->opaque_left;
            rc = add_text(d, s, take, err);
            s += take;
            d->opaque_left -= take;
            if (d->opaque_left == 0) {
                d->state = ST_BODY;
            }
        } else {
            rc = step(d, *s++, err);
        }
        if (rc != 0) {
            return dec_fail(d, err);
        }
    }
    return 0;
}

unsigned long eas_wbxml_skipped(const struct eas_wbxml_dec *d, unsigned *first_tag_out)
{
    if (first_tag_out) {
        *first_tag_out = d->skipped > 0 ? d->first_skipped : 0;
    }
    return d->skipped;
}

int eas_wbxml_finish(struct eas_wbxml_dec *d, struct err *err)
{
    switch (d->state) {
    case ST_DONE:
        return 0;
    case ST_FAILED:
        return dec_replay(d, err);
    case ST_VERSION:
    case ST_PUBID:
    case ST_CHARSET:
    case ST_STRTBL:
        bad(err, "wbxml body ends inside the header");
        break;
    case ST_BODY:
    case ST_PAGE:
        if (!d->rooted) {
            bad(err, "wbxml body has no root element");
        } else {
            bad(err, "wbxml body ends with %u elements open", d->depth);
        }
        break;
    case ST_STR:
        bad(err, "wbxml body ends inside a string");
        break;
    case ST_OPQ_LEN:
    case ST_OPQ_DATA:
        bad(err, "wbxml body ends inside an opaque");
        break;
    }
    return dec_fail(d, err);
}
