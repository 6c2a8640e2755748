/* eas/wbxml_dump.c: eas_wbxml_to_xml (see wbxml.h), a readable XML rendering of a WBXML
 * body for logs and tests. The namespaces are declared on the root, but which pages a body
 * uses is known only at its end, so everything after the root's start tag goes to a
 * scratch buffer first and the root's start tag is written last. Never used on the
 * request path. */
#include <stdint.h>
#include <string.h>

#include "eas/wbxml.h"
#include "util/sec.h"

enum {
    DUMP_B64_IN = 3 * 1024, /* opaque bytes base64-encoded per step (a multiple of 3) */
};

struct dump {
    struct buf body;     /* after the root's start tag */
    unsigned root_tag;   /* valid once depth > 0 */
    bool root_content;   /* the root has content (else it is <Root/>) */
    unsigned depth;      /* open elements, root = 1 */
    bool last_empty;     /* the element just started has no content: its end writes nothing */
    uint32_t pages_used; /* bit per code page used below the root */
};

static int dump_full(const struct dump *dp, struct err *err)
{
    return err_set(err, &err_cond_limit, "wbxml dump exceeds its buffer limit of %zu bytes",
                   dp->body.limit);
}

/* The element name, prefixed unless it is on the root's page. */
static int put_qname(struct dump *dp, unsigned tag)
{
    int rc = 0;
    if (EAS_TAG_PAGE(tag) != EAS_TAG_PAGE(dp->root_tag)) {
        const char *ns = eas_page_name(EAS_TAG_PAGE(tag));
        for (const char *c = ns; *c; c++) {
            char lc = *c >= 'A' && *c <= 'Z' ? (char)(*c - 'A' + 'a') : *c;
            rc |= buf_putc(&dp->body, lc);
        }
        rc |= buf_putc(&dp->body, ':');
        dp->pages_used |= UINT32_C(1) << EAS_TAG_PAGE(tag);
    }
    rc |= buf_append_cstr(&dp->body, eas_tag_name(tag));
    return rc;
}

static int dump_start(void *ctx, unsigned tag, bool has_content, struct err *err)
{
    struct dump *dp = ctx;
    if (dp->depth++ == 0) {
        dp->root_tag = tag;
        dp->root_content = has_content;
        dp->last_empty = !has_content;
        return 0;
    }
    dp->last_empty = !has_content;
    int rc = buf_putc(&dp->body, '<');
    rc |= put_qname(dp, tag);
    rc |= buf_append_cstr(&dp->body, has_content ? ">" : "/>");
    return rc != 0 ? dump_full(dp, err) : 0;
}

static int dump_end(void *ctx, unsigned tag, struct err *err)
{
    struct dump *dp = ctx;
    dp->depth--;
    if (dp->last_empty) {
        dp->last_empty = false;
        return 0;
    }
    int rc = buf_append_cstr(&dp->body, "</");
    rc |= put_qname(dp, tag);
    rc |= buf_putc(&dp->body, '>');
    return rc != 0 ? dump_full(dp, err) : 0;
}

/* Length of the well-formed UTF-8 sequence at p[0..n) that XML 1.0 allows as a character,
 * or 0 (a bad sequence, a forbidden control character, a surrogate, U+FFFE or U+FFFF). */
static size_t xml_char_len(const uint8_t *p, size_t n)
{
    uint8_t b = p[0];
    if (b < 0x80) {
        return b >= 0x20 || b == '\t' || b == '\n' || b == '\r' ? 1 : 0;
    }
    size_t len;
    uint32_t cp, min;
    if ((b & 0xE0) == 0xC0) {
        len = 2, cp = b & 0x1Fu, min = 0x80;
    } else if ((b & 0xF0) == 0xE0) {
        len = 3, cp = b & 0x0Fu, min = 0x800;
    } else if ((b & 0xF8) == 0xF0) {
        len = 4, cp = b & 0x07u, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len) {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (p[i] & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0xFFFE ||
        cp == 0xFFFF) {
        return 0;
    }
    return len;
}

/* Text, escaped; bytes XML cannot carry become U+FFFD. */
static int put_escaped(struct buf *b, const uint8_t *p, size_t n)
{
    int rc = 0;
    size_t i = 0;
    while (i < n && rc == 0) {
        size_t len = xml_char_len(p + i, n - i);
        switch (len == 1 ? p[i] : 0) {
        case '&':
            rc = buf_append_cstr(b, "&amp;");
            break;
        case '<':
            rc = buf_append_cstr(b, "&lt;");
            break;
        case '>':
            rc = buf_append_cstr(b, "&gt;");
            break;
        case '\r':
            rc = buf_append_cstr(b, "&#13;");
            break;
        default:
            rc = len > 0 ? buf_append(b, p + i, len) : buf_append_cstr(b, "\xEF\xBF\xBD");
            break;
        }
        i += len > 0 ? len : 1;
    }
    return rc;
}

static int put_base64(struct buf *b, const uint8_t *p, size_t n)
{
    char out[DUMP_B64_IN / 3 * 4 + 1];
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i += DUMP_B64_IN) {
        size_t take = n - i < DUMP_B64_IN ? n - i : DUMP_B64_IN;
        sec_base64(p + i, take, out, sizeof(out));
        rc = buf_append_cstr(b, out);
    }
    return rc;
}

static int dump_text(void *ctx, unsigned tag, const char *p, size_t n, bool opaque, struct err *err)
{
    struct dump *dp = ctx;
    (void)tag;
    const uint8_t *u = (const uint8_t *)p;
    int rc = opaque ? put_base64(&dp->body, u, n) : put_escaped(&dp->body, u, n);
    return rc != 0 ? dump_full(dp, err) : 0;
}

static const struct eas_wbxml_handler dump_handler = {dump_start, dump_text, dump_end};

/* The root's start tag with every namespace used, then the body. */
static int dump_assemble(struct dump *dp, struct buf *out, struct err *err)
{
    unsigned root_page = EAS_TAG_PAGE(dp->root_tag);
    int rc =
        buf_appendf(out, "<%s xmlns=\"%s\"", eas_tag_name(dp->root_tag), eas_page_name(root_page));
    for (unsigned page = 0; page < EAS_PAGE_COUNT; page++) {
        if (page == root_page || !(dp->pages_used & (UINT32_C(1) << page))) {
            continue;
        }
        rc |= buf_append_cstr(out, " xmlns:");
        for (const char *c = eas_page_name(page); *c; c++) {
            rc |= buf_putc(out, *c >= 'A' && *c <= 'Z' ? (char)(*c - 'A' + 'a') : *c);
        }
        rc |= buf_appendf(out, "=\"%s\"", eas_page_name(page));
    }
    if (dp->root_content) {
        rc |= buf_putc(out, '>');
        rc |= buf_append_slice(out, buf_slice(&dp->body));
    } else {
        rc |= buf_append_cstr(out, "/>");
    }
    if (rc != 0) {
        return err_set(err, &err_cond_limit, "wbxml dump exceeds its buffer limit of %zu bytes",
                       out->limit);
    }
    return 0;
}

int eas_wbxml_to_xml(const void *p, size_t n, struct buf *out, struct err *err)
{
    struct arena *arena = arena_create();
    struct dump dp = {.depth = 0};
    buf_init(&dp.body, out->limit);
    struct eas_wbxml_dec *d = eas_wbxml_dec_new(arena, NULL, &dump_handler, &dp);
    int rc = -1;
    if (eas_wbxml_feed(d, p, n, err) != 0 || eas_wbxml_finish(d, err) != 0) {
        goto out;
    }
    rc = dump_assemble(&dp, out, err);
out:
    buf_deinit(&dp.body);
    arena_destroy(&arena);
    return rc;
}
