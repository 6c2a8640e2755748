/* tests/unit/xml/test_xmlout.c: the XML output helpers (xml/xmlout.c): escaping of text and
 * attribute values, U+FFFD for whatever XML 1.0 cannot carry (invalid UTF-8, C0 controls,
 * U+FFFE/U+FFFF), the element helpers, and the buf limit, past which a call appends
 * nothing and returns -1. Output is read back with the reader to show it well-formed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "util/buf.h"
#include "util/compiler.h"
#include "xml/xmlin.h"
#include "xml/xmlout.h"

#define FFFD "\xEF\xBF\xBD"
#define S(s)           \
  {                    \
    (s), sizeof(s) - 1 \
  }

struct escape_case {
    struct slice in;
    const char *text; /* xmlout_text */
    const char *attr; /* xmlout_attr */
};

static const struct escape_case escapes[] = {
    {S(""), "", ""},
    {S("plain words 123"), "plain words 123", "plain words 123"},
    {S("a&b<c>d"), "a&amp;b&lt;c&gt;d", "a&amp;b&lt;c&gt;d"},
    {S("]]>"), "]]&gt;", "]]&gt;"},
    {S("&amp;"), "&amp;amp;", "&amp;amp;"},
    {S("\"q\" 'a'"), "\"q\" 'a'", "&quot;q&quot; 'a'"},
    /* XML 1.0 §3.3.3: a parser would turn literal TAB, LF, CR in a value into spaces;
     * §2.11: and a literal CR in text into LF (issue 14: calendar-data lost its CRs). */
    {S("\t\n\r"), "\t\n&#13;", "&#9;&#10;&#13;"},
    {S("A:1\r\nB:2\r\n"), "A:1&#13;\nB:2&#13;\n", "A:1&#13;&#10;B:2&#13;&#10;"},
    /* XML 1.0 §2.2: no C0 control but TAB, LF, CR, not even as a reference. */
    {S("a\x01z"), "a" FFFD "z", "a" FFFD "z"},
    {S("\x00"), FFFD, FFFD},
    {S("x\x1f\x0b\x0cy"), "x" FFFD FFFD FFFD "y", "x" FFFD FFFD FFFD "y"},
    {S("\x7f"), "\x7f", "\x7f"},
    {S("<\x01>"), "&lt;" FFFD "&gt;", "&lt;" FFFD "&gt;"},
};

struct utf8_case {
    struct slice in;
    const char *out;
};

/* Valid sequences pass as they are; each maximal subpart of an invalid one (Unicode §3.9,
 * WHATWG Encoding "UTF-8 decoder") becomes one U+FFFD. */
static const struct utf8_case utf8[] = {
    {S("caf\xC3\xA9"), "caf\xC3\xA9"},
    {S("\xC2\x80"), "\xC2\x80"}, /* U+0080, a C1 control: allowed in XML 1.0 */
    {S("\xE2\x82\xAC"), "\xE2\x82\xAC"},
    {S("\xED\x9F\xBF"), "\xED\x9F\xBF"}, /* U+D7FF */
    {S("\xEE\x80\x80"), "\xEE\x80\x80"}, /* U+E000 */
    {S("\xEF\xBF\xBD"), "\xEF\xBF\xBD"},
    {S("\xF0\x9D\x84\x9E"), "\xF0\x9D\x84\x9E"}, /* U+1D11E */
    {S("\xF0\x9F\x93\x85"), "\xF0\x9F\x93\x85"},
    {S("\xF4\x8F\xBF\xBF"), "\xF4\x8F\xBF\xBF"}, /* U+10FFFF */
    /* overlong */
    {S("\xC0\xAF"), FFFD FFFD},
    {S("\xC1\xBF"), FFFD FFFD},
    {S("\xE0\x80\xAF"), FFFD FFFD FFFD},
    {S("\xE0\x9F\xBF"), FFFD FFFD FFFD},
    {S("\xF0\x80\x80\xAF"), FFFD FFFD FFFD FFFD},
    {S("\xF0\x8F\xBF\xBF"), FFFD FFFD FFFD FFFD},
    /* surrogates, past U+10FFFF, never-valid bytes */
    {S("\xED\xA0\x80"), FFFD FFFD FFFD},
    {S("\xED\xBF\xBF"), FFFD FFFD FFFD},
    {S("\xF4\x90\x80\x80"), FFFD FFFD FFFD FFFD},
    {S("\xF5\x80\x80\x80"), FFFD FFFD FFFD FFFD},
    {S("\xFE\xFF"), FFFD FFFD},
    /* noncharacters XML 1.0 excludes */
    {S("\xEF\xBF\xBE"), FFFD},
    {S("\xEF\xBF\xBF"), FFFD},
    /* lone continuation bytes; truncated sequences, at the end or before something else */
    {S("\x80"), FFFD},
    {S("a\xBF\x80z"), "a" FFFD FFFD "z"},
    {S("a\xC3"), "a" FFFD},
    {S("a\xE2\x82"), "a" FFFD},
    {S("\xE2\x82z"), FFFD "z"},
    {S("\xF0\x9F\x93x"), FFFD "x"},
    {S("\xF0\x9F\x93"), FFFD},
    {S("\xE2\x82<"), FFFD "&lt;"},
    {S("\xC3\xC3\xA9"), FFFD "\xC3\xA9"},
    {S("\xF0\x9F\xE2\x82\xAC"), FFFD "\xE2\x82\xAC"},
};

static void check_escape(int (*fn)(struct buf *, struct slice),
                         struct slice in,
                         const char *want,
                         size_t case_no)
{
    struct buf b;
    buf_init(&b, 1024);
    assert_int_equal(buf_append_cstr(&b, "["), 0);
    if (fn(&b, in) != 0) {
        fail_msg("case %zu: failed", case_no);
    }
    assert_int_equal(buf_append_cstr(&b, "]"), 0);
    struct slice got = buf_slice(&b);
    if (got.len != strlen(want) + 2 || memcmp(got.ptr + 1, want, strlen(want)) != 0) {
        fail_msg("case %zu: got \"%s\", want \"[%s]\"", case_no, buf_cstr(&b), want);
    }
    buf_deinit(&b);
}

static void test_xmlout_escapes_markup_and_replaces_controls(void **state)
{
    (void)state;
    for (size_t i = 0; i < ALM_ARRAY_LEN(escapes); i++) {
        check_escape(xmlout_text, escapes[i].in, escapes[i].text, i);
        check_escape(xmlout_attr, escapes[i].in, escapes[i].attr, i);
    }
}

/* What one byte alone becomes (a byte from 0x80 up alone is invalid UTF-8). */
static const char *one_byte(unsigned c, bool attr, char plain[2])
{
    switch (c) {
    case '&':
        return "&amp;";
    case '<':
        return "&lt;";
    case '>':
        return "&gt;";
    case '"':
        return attr ? "&quot;" : "\"";
    case '\t':
        return attr ? "&#9;" : "\t";
    case '\n':
        return attr ? "&#10;" : "\n";
    case '\r':
        return "&#13;";
    default:
        if (c < 0x20 || c >= 0x80) {
            return FFFD;
        }
        plain[0] = (char)c;
        plain[1] = '\0';
        return plain;
    }
}

/* Issue 16: plain runs are skipped eight bytes at a time; every byte value, at every lane of
 * two eight-byte blocks and in the tail after them, is still seen and escaped. */
static void test_xmlout_sees_every_byte_in_every_lane(void **state)
{
    (void)state;

    enum {
        LEN = 19
    };

    for (unsigned c = 0; c < 256; c++) {
        for (size_t at = 0; at < LEN; at++) {
            char in[LEN];
            memset(in, 'a', LEN);
            in[at] = (char)c;
            for (int attr = 0; attr < 2; attr++) {
                char plain[2];
                char want[64];
                snprintf(want, sizeof(want), "%.*s%s%.*s", (int)at, in, one_byte(c, attr, plain),
                         (int)(LEN - at - 1), in + at + 1);
                check_escape(attr ? xmlout_attr : xmlout_text, (struct slice){in, LEN}, want,
                             c * LEN + at);
            }
        }
    }
    /* a valid sequence across the end of a block passes as it is */
    check_escape(xmlout_text, SLICE_LIT("abcdefg\xC3\xA9hijklmnop\xE2\x82\xACq"),
                 "abcdefg\xC3\xA9hijklmnop\xE2\x82\xACq", 0);
    check_escape(xmlout_attr, SLICE_LIT("/calendars/bench/cal/bench-0@almanac.ics"),
                 "/calendars/bench/cal/bench-0@almanac.ics", 0);
}

/* xmlout_text_is_plain is true exactly when xmlout_text copies the bytes as they are, for
 * every ASCII byte (above it: false, the caller escapes) (issue 16). */
static void test_xmlout_text_is_plain_agrees_with_xmlout_text(void **state)
{
    (void)state;
    for (unsigned c = 0; c < 256; c++) {
        char in[3] = {'a', (char)c, 'b'};
        struct buf b;
        buf_init(&b, 64);
        assert_int_equal(xmlout_text(&b, (struct slice){in, 3}), 0);
        bool same = b.len == 3 && memcmp(b.data, in, 3) == 0;
        bool plain = xmlout_text_is_plain((struct slice){in, 3});
        if (c < 0x80) {
            assert_int_equal(plain, same);
        } else {
            assert_false(plain);
        }
        buf_deinit(&b);
    }
    assert_true(xmlout_text_is_plain(SLICE_LIT("/calendars/bench/cal/")));
    assert_true(xmlout_text_is_plain(SLICE_LIT("")));
    assert_false(xmlout_text_is_plain(SLICE_LIT("/calendars/a&b/")));
}

static void test_xmlout_keeps_valid_utf8_and_replaces_the_rest(void **state)
{
    (void)state;
    for (size_t i = 0; i < ALM_ARRAY_LEN(utf8); i++) {
        check_escape(xmlout_text, utf8[i].in, utf8[i].out, i);
        check_escape(xmlout_attr, utf8[i].in, utf8[i].out, i);
    }
}

static void test_xmlout_element_helpers(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1024);
    assert_int_equal(xmlout_decl(&b), 0);
    assert_int_equal(xmlout_open(&b, "D:multistatus xmlns:D=\"DAV:\""), 0);
    assert_int_equal(xmlout_elem_text(&b, "D:href", SLICE_LIT("/a&b/<c>")), 0);
    assert_int_equal(xmlout_empty(&b, "D:getetag"), 0);
    assert_int_equal(xmlout_elem_text(&b, "D:status", SLICE_LIT("")), 0);
    assert_int_equal(xmlout_close(&b, "D:multistatus"), 0);
    assert_string_equal(buf_cstr(&b), "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
                                      "<D:multistatus xmlns:D=\"DAV:\">"
                                      "<D:href>/a&amp;b/&lt;c&gt;</D:href><D:getetag/>"
                                      "<D:status></D:status></D:multistatus>");
    buf_deinit(&b);
}

/* Each helper, given a buf one byte short, appends nothing and returns -1; given exactly
 * enough, it succeeds. */
static int call_helper(int which, struct buf *b)
{
    switch (which) {
    case 0:
        return xmlout_text(b, SLICE_LIT("a<b\x01"));
    case 1:
        return xmlout_attr(b, SLICE_LIT("\"x\"\n\xC3"));
    case 2:
        return xmlout_open(b, "D:prop");
    case 3:
        return xmlout_close(b, "D:prop");
    case 4:
        return xmlout_empty(b, "D:prop");
    case 5:
        return xmlout_elem_text(b, "D:href", SLICE_LIT("/x&y"));
    default:
        return xmlout_decl(b);
    }
}

static void test_xmlout_past_the_limit_appends_nothing(void **state)
{
    (void)state;
    static const char *const want[] = {
        "a&lt;b" FFFD,
        "&quot;x&quot;&#10;" FFFD,
        "<D:prop>",
        "</D:prop>",
        "<D:prop/>",
        "<D:href>/x&amp;y</D:href>",
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n",
    };
    for (int which = 0; which < (int)ALM_ARRAY_LEN(want); which++) {
        size_t need = strlen(want[which]);
        /* Short by one: at the very start, and with earlier content kept intact. */
        for (size_t prefix = 0; prefix < 2; prefix++) {
            struct buf b;
            buf_init(&b, prefix + need - 1);
            if (prefix) {
                assert_int_equal(buf_putc(&b, '#'), 0);
            }
            assert_int_equal(call_helper(which, &b), -1);
            assert_int_equal(b.len, prefix);
            assert_string_equal(buf_cstr(&b), prefix ? "#" : "");
            buf_deinit(&b);
            buf_init(&b, prefix + need);
            if (prefix) {
                assert_int_equal(buf_putc(&b, '#'), 0);
            }
            assert_int_equal(call_helper(which, &b), 0);
            assert_int_equal(b.len, prefix + need);
            assert_string_equal(buf_cstr(&b) + prefix, want[which]);
            buf_deinit(&b);
        }
    }
}

/* Reads a document back: the text of <t> and the value of its attribute v. */
struct readback {
    struct buf text;
    struct buf attr;
};

static int rb_start(void *ctx,
                    struct slice ns,
                    struct slice name,
                    const struct xmlin_attr *attrs,
                    size_t nattrs,
                    struct err *err)
{
    (void)ns;
    (void)name;
    struct readback *rb = ctx;
    for (size_t i = 0; i < nattrs; i++) {
        if (buf_append_slice(&rb->attr, attrs[i].value) != 0) {
            return err_set(err, &err_cond_internal, "readback full");
        }
    }
    return 0;
}

static int rb_text(void *ctx, struct slice text, struct err *err)
{
    struct readback *rb = ctx;
    if (buf_append_slice(&rb->text, text) != 0) {
        return err_set(err, &err_cond_internal, "readback full");
    }
    return 0;
}

/* Writes <t v="s">s</t> and reads it back; returns the reader's result. */
static int round_trip(struct slice s, struct readback *rb)
{
    static const struct xmlin_handler h = {.start = rb_start, .text = rb_text};
    static const struct xmlin_limits lim = {
        .max_bytes = 1 << 16,
        .max_depth = 4,
        .max_elements = 4,
        .max_text = 1 << 16,
    };
    struct buf doc;
    buf_init(&doc, 1 << 16);
    int rc = buf_append_cstr(&doc, "<t v=\"");
    rc |= xmlout_attr(&doc, s);
    rc |= buf_append_cstr(&doc, "\">");
    rc |= xmlout_text(&doc, s);
    rc |= buf_append_cstr(&doc, "</t>");
    assert_int_equal(rc, 0);
    buf_reset(&rb->text);
    buf_reset(&rb->attr);
    struct xmlin *r = xmlin_create(&lim, &h, rb);
    struct err e;
    err_init(&e);
    rc = xmlin_feed(r, doc.data, doc.len, &e);
    if (rc == 0) {
        rc = xmlin_finish(r, &e);
    }
    xmlin_destroy(&r);
    buf_deinit(&doc);
    return rc;
}

/* Whatever the bytes, the output is well-formed XML; what XML can carry comes back as it
 * went in, a CR in text too (written &#13;, since a reader turns a literal one into LF, XML
 * 1.0 §2.11). */
static void test_xmlout_output_reads_back(void **state)
{
    (void)state;
    struct readback rb;
    buf_init(&rb.text, 1 << 16);
    buf_init(&rb.attr, 1 << 16);
    /* Every byte, and every pair of bytes, as text and as an attribute value. */
    for (unsigned a = 0; a < 256; a++) {
        for (unsigned b = 0; b < 257; b++) {
            char pair[2] = {(char)a, (char)b};
            struct slice s = {pair, b < 256 ? 2 : 1};
            if (round_trip(s, &rb) != 0) {
                fail_msg("bytes %02x %02x did not read back", a, b);
            }
        }
    }
    for (size_t i = 0; i < ALM_ARRAY_LEN(utf8); i++) {
        assert_int_equal(round_trip(utf8[i].in, &rb), 0);
        if (!strchr(utf8[i].out, '&')) { /* the expected output is escaped markup */
            assert_string_equal(buf_cstr(&rb.attr), utf8[i].out);
            assert_string_equal(buf_cstr(&rb.text), utf8[i].out);
        }
    }
    static const char printable[] = " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                    "[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~\t\n"
                                    "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x93\x85";
    assert_int_equal(round_trip(SLICE_LIT(printable), &rb), 0);
    assert_string_equal(buf_cstr(&rb.text), printable);
    assert_string_equal(buf_cstr(&rb.attr), printable);
    assert_int_equal(round_trip(SLICE_LIT("a\r\nb\rc"), &rb), 0);
    assert_string_equal(buf_cstr(&rb.attr), "a\r\nb\rc");
    assert_string_equal(buf_cstr(&rb.text), "a\r\nb\rc");
    buf_deinit(&rb.text);
    buf_deinit(&rb.attr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xmlout_escapes_markup_and_replaces_controls),
        cmocka_unit_test(test_xmlout_sees_every_byte_in_every_lane),
        cmocka_unit_test(test_xmlout_text_is_plain_agrees_with_xmlout_text),
        cmocka_unit_test(test_xmlout_keeps_valid_utf8_and_replaces_the_rest),
        cmocka_unit_test(test_xmlout_element_helpers),
        cmocka_unit_test(test_xmlout_past_the_limit_appends_nothing),
        cmocka_unit_test(test_xmlout_output_reads_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
