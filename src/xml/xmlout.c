/* xml/xmlout.c: escaping and element helpers over a bounded struct buf (see xmlout.h).
 * Whatever bytes it is given, the output is well-formed XML 1.0 character data: invalid
 * UTF-8, C0 controls other than TAB, LF and CR, and the noncharacters U+FFFE and U+FFFF
 * become U+FFFD. Each call either appends all of its output or, when the buf's limit would
 * be passed, appends nothing and returns -1, so a caller may flush and retry. */
#include "xml/xmlout.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static const char replacement[] = "\xEF\xBF\xBD"; /* U+FFFD */

/* Looks at the UTF-8 sequence starting at p[0] (n > 0 bytes available) and returns how many
 * bytes it spans; *ok says whether they are one valid, XML-allowed character. When they
 * are not, the span is the "maximal subpart" of Unicode §3.9 (the lead byte and the
 * continuation bytes that could still have completed it), which is replaced by a single
 * U+FFFD, as the WHATWG Encoding Standard's decoder does. Overlong forms, surrogates and
 * code points above U+10FFFF never pass the second-byte range check. */
static size_t utf8_seq(const unsigned char *p, size_t n, bool *ok)
{
    unsigned char c = p[0];
    unsigned char lo = 0x80; /* allowed range of the next continuation byte */
    unsigned char hi = 0xBF;
    size_t more;
    if (c >= 0xC2 && c <= 0xDF) {
        more = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
        more = 2;
        lo = c == 0xE0 ? 0xA0 : 0x80; /* E0 80..9F would be overlong */
        hi = c == 0xED ? 0x9F : 0xBF; /* ED A0..BF would be a surrogate */
    } else if (c >= 0xF0 && c <= 0xF4) {
        more = 3;
        lo = c == 0xF0 ? 0x90 : 0x80; /* F0 80..8F would be overlong */
        hi = c == 0xF4 ? 0x8F : 0xBF; /* F4 90.. would pass U+10FFFF */
    } else {
        *ok = false; /* 80..C1 (continuation or overlong lead), F5..FF */
        return 1;
    }
    for (size_t i = 1; i <= more; i++) {
        if (i >= n || p[i] < lo || p[i] > hi) {
            *ok = false;
            return i;
        }
        lo = 0x80;
        hi = 0xBF;
    }
    /* XML 1.0 Char excludes U+FFFE and U+FFFF (EF BF BE, EF BF BF). */
    *ok = !(c == 0xEF && p[1] == 0xBF && p[2] >= 0xBE);
    return more + 1;
}

/* The reference for a byte that must be escaped, or NULL when it is copied as it is
 * (non-ASCII bytes are checked separately). */
static const char *ascii_escape(unsigned char c, bool attr)
{
    switch (c) {
    case '&':
        return "&amp;";
    case '<':
        return "&lt;";
    case '>':
        return "&gt;";
    case '"':
        return attr ? "&quot;" : NULL;
    /* In attributes a parser would normalize literal TAB, LF and CR to spaces (XML 1.0
     * §3.3.3); character references survive. In text TAB and LF are data as they are, but
     * a literal CR is not: every parser turns CR LF and a lone CR into LF (XML 1.0 §2.11),
     * so calendar-data would lose the CRLF line ends RFC 5545 §3.1 requires. */
    case '\t':
        return attr ? "&#9;" : NULL;
    case '\n':
        return attr ? "&#10;" : NULL;
    case '\r':
        return "&#13;";
    default:
        return c < 0x20 ? replacement : NULL;
    }
}

static int undo(struct buf *b, size_t len)
{
    b->len = len;
    if (b->data) {
        b->data[len] = '\0';
    }
    return -1;
}

/* Bytes copied as they are, one bit per byte value (bit c & 31 of word c >> 5), separately
 * for text and attribute values: printable ASCII but & < > (and " in attributes), TAB and LF
 * in text. Every other byte goes through ascii_escape() or, from 0x80 up, utf8_seq(). A
 * constant, so that worker threads share it with no first-use initialisation; the plain runs
 * of an href or an ETag then cost a load and a test per byte. */
static const uint32_t plain_text[8] = {0x00000600, 0xafffffbf, 0xffffffff, 0xffffffff, 0, 0, 0, 0};
static const uint32_t plain_attr[8] = {0x00000000, 0xafffffbb, 0xffffffff, 0xffffffff, 0, 0, 0, 0};

static bool is_plain(const uint32_t *plain, unsigned char c)
{
    return (plain[c >> 5] >> (c & 31)) & 1u;
}

/* Eight bytes at once (a "SWAR" test): true when none of the eight needs a look, that is none
 * is 0x80 or above, below 0x20, '&', '<', '>' or (in attributes) '"'. Each term sets the high
 * bit of a byte lane when that byte is one of those; the tests only ever err towards a look
 * (TAB and LF in text), never the other way. */
#define SWAR_ONES  0x0101010101010101u
#define SWAR_HIGHS 0x8080808080808080u

static bool swar_has_zero(uint64_t v)
{
    return ((v - SWAR_ONES) & ~v & SWAR_HIGHS) != 0;
}

static bool swar_plain(uint64_t x, bool attr)
{
    if ((x & SWAR_HIGHS) || ((x - SWAR_ONES * 0x20) & ~x & SWAR_HIGHS) ||
        swar_has_zero(x ^ (SWAR_ONES * '&')) || swar_has_zero(x ^ (SWAR_ONES * '<')) ||
        swar_has_zero(x ^ (SWAR_ONES * '>'))) {
        return false;
    }
    return !attr || !swar_has_zero(x ^ (SWAR_ONES * '"'));
}

/* Copies s, escaped, in runs: bytes that need nothing are appended together. */
static int escape(struct buf *b, struct slice s, bool attr)
{
    const size_t start = b->len;
    const unsigned char *p = (const unsigned char *)s.ptr;
    const uint32_t *plain = attr ? plain_attr : plain_text;
    size_t run = 0; /* start of the pending run of bytes copied as they are */
    size_t i = 0;
    while (i < s.len) {
        if (s.len - i >= 8) {
            uint64_t x;
            memcpy(&x, p + i, 8);
            if (swar_plain(x, attr)) {
                i += 8;
                continue;
            }
        }
        if (is_plain(plain, p[i])) {
            i++;
            continue;
        }
        const char *rep;
        size_t adv;
        if (p[i] < 0x80) {
            rep = ascii_escape(p[i], attr);
            adv = 1;
        } else {
            bool ok;
            adv = utf8_seq(p + i, s.len - i, &ok);
            rep = ok ? NULL : replacement;
        }
        if (!rep) {
            i += adv;
            continue;
        }
        if (buf_append(b, p + run, i - run) != 0 || buf_append_cstr(b, rep) != 0) {
            return undo(b, start);
        }
        i += adv;
        run = i;
    }
    if (buf_append(b, p + run, s.len - run) != 0) {
        return undo(b, start);
    }
    return 0;
}

int xmlout_text(struct buf *b, struct slice s)
{
    return escape(b, s, false);
}

bool xmlout_text_is_plain(struct slice s)
{
    const unsigned char *p = (const unsigned char *)s.ptr;
    for (size_t i = 0; i < s.len; i++) {
        if (!is_plain(plain_text, p[i])) {
            return false;
        }
    }
    return true;
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
    const size_t start = b->len;
    if (xmlout_open(b, qname) != 0 || xmlout_text(b, text) != 0 || xmlout_close(b, qname) != 0) {
        return undo(b, start);
    }
    return 0;
}

int xmlout_decl(struct buf *b)
{
    return buf_append_cstr(b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
}
