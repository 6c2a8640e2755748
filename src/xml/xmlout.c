/* xml/xmlout.c: escaping and element helpers over a bounded struct buf. Output is always
 * well-formed XML 1.0 character data: bytes that are not valid UTF-8, and C0 controls other
 * than TAB, LF and CR, become U+FFFD. */
#include "xml/xmlout.h"

#include <stdint.h>

static const char replacement[] = "\xEF\xBF\xBD";

/* Length of the valid UTF-8 sequence at p (at most n bytes), or 0 when invalid. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
        return 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (len > n) {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0xFFFE || cp == 0xFFFF) {
        return 0;
    }
    return len;
}

/* Byte classes: 0 copies as is; anything else needs a look (markup, control, non-ASCII). */
enum {
    ESC_PLAIN = 0,
    ESC_MARKUP = 1,
    ESC_QUOTE = 2,
    ESC_CTRL = 3,
    ESC_HIGH = 4
};

static unsigned char esc_class(unsigned char c)
{
    if (c == '&' || c == '<' || c == '>') {
        return ESC_MARKUP;
    }
    if (c == '"' || c == '\t' || c == '\n' || c == '\r') {
        return ESC_QUOTE; /* plain in text, escaped in attributes */
    }
    if (c < 0x20) {
        return ESC_CTRL;
    }
    return c >= 0x80 ? ESC_HIGH : ESC_PLAIN;
}

static int escape(struct buf *b, struct slice s, bool attr)
{
    static unsigned char table[256];
    static bool ready; /* benign race: every thread computes the same table */
    if (!ready) {
        for (int c = 0; c < 256; c++) {
            table[c] = esc_class((unsigned char)c);
        }
        ready = true;
    }
    const unsigned char *p = (const unsigned char *)s.ptr;
    size_t run = 0; /* start of the pending run of bytes copied as they are */
    size_t i = 0;
    while (i < s.len) {
        unsigned char cls = table[p[i]];
        if (cls == ESC_PLAIN || (cls == ESC_QUOTE && !attr)) {
            i++;
            continue;
        }
        const char *rep = NULL;
        size_t adv = 1;
        if (cls == ESC_HIGH) {
            adv = utf8_len(p + i, s.len - i);
            if (adv != 0) {
                i += adv;
                continue;
            }
            rep = replacement;
            adv = 1;
        } else if (cls == ESC_CTRL) {
            rep = replacement;
        } else {
            switch (p[i]) {
            case '&':
                rep = "&amp;";
                break;
            case '<':
                rep = "&lt;";
                break;
            case '>':
                rep = "&gt;";
                break;
            case '"':
                rep = "&quot;";
                break;
            case '\t':
                rep = "&#9;";
                break;
            case '\n':
                rep = "&#10;";
                break;
            default:
                rep = "&#13;";
                break;
            }
        }
        if (buf_append(b, p + run, i - run) != 0 || buf_append_cstr(b, rep) != 0) {
            return -1;
        }
        i += adv;
        run = i;
    }
    return buf_append(b, p + run, s.len - run);
}

int xmlout_text(struct buf *b, struct slice s)
{
    return escape(b, s, false);
}

int xmlout_attr(struct buf *b, struct slice s)
{
    return escape(b, s, true);
}

int xmlout_open(struct buf *b, const char *qname)
{
    return buf_appendf(b, "<%s>", qname);
}

int xmlout_close(struct buf *b, const char *qname)
{
    return buf_appendf(b, "</%s>", qname);
}

int xmlout_empty(struct buf *b, const char *qname)
{
    return buf_appendf(b, "<%s/>", qname);
}

int xmlout_elem_text(struct buf *b, const char *qname, struct slice text)
{
    if (xmlout_open(b, qname) != 0 || xmlout_text(b, text) != 0) {
        return -1;
    }
    return xmlout_close(b, qname);
}

int xmlout_decl(struct buf *b)
{
    return buf_append_cstr(b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
}
