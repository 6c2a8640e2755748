/* tests/unit/xml/test_xmlin.c: the streaming XML reader (xml/xmlin.c). Every case runs three
 * ways, as STYLE.md §3.10 asks: fed whole, byte by byte, and split in two at every offset.
 * Valid documents must give the same event transcript each way; invalid ones the same
 * condition. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "util/buf.h"
#include "xml/xmlin.h"

/* Events as text: "<{ns}name a=v>" "text" "</{ns}name>", concatenated. */
struct transcript {
    struct buf b;
};

static int on_start(void *ctx,
                    struct slice ns,
                    struct slice name,
                    const struct xmlin_attr *attrs,
                    size_t nattrs,
                    struct err *err)
{
    (void)err;
    struct buf *b = &((struct transcript *)ctx)->b;
    int rc = buf_appendf(b, "<{%.*s}%.*s", (int)ns.len, ns.ptr, (int)name.len, name.ptr);
    for (size_t i = 0; i < nattrs; i++) {
        rc |= buf_appendf(b, " {%.*s}%.*s=%.*s", (int)attrs[i].ns.len, attrs[i].ns.ptr,
                          (int)attrs[i].name.len, attrs[i].name.ptr, (int)attrs[i].value.len,
                          attrs[i].value.ptr);
    }
    return rc | buf_putc(b, '>');
}

static int on_end(void *ctx, struct slice ns, struct slice name, struct err *err)
{
    (void)err;
    struct buf *b = &((struct transcript *)ctx)->b;
    return buf_appendf(b, "</{%.*s}%.*s>", (int)ns.len, ns.ptr, (int)name.len, name.ptr);
}

static int on_text(void *ctx, struct slice text, struct err *err)
{
    (void)err;
    return buf_append_slice(&((struct transcript *)ctx)->b, text);
}

static const struct xmlin_handler handler = {on_start, on_end, on_text};

static const struct xmlin_limits limits = {4096, 8, 64, 256};

enum feed_mode {
    FEED_WHOLE,
    FEED_BYTES,
    FEED_SPLIT
};

/* Parses doc; returns 0 and the transcript, or -1 and the condition. */
static int parse(const char *doc,
                 size_t len,
                 enum feed_mode mode,
                 size_t split,
                 struct buf *out,
                 const struct err_cond **cond)
{
    struct transcript t;
    buf_init(&t.b, 1 << 16);
    struct xmlin *r = xmlin_create(&limits, &handler, &t);
    struct err e;
    err_init(&e);
    int rc = 0;
    if (mode == FEED_WHOLE) {
        rc = xmlin_feed(r, doc, len, &e);
    } else if (mode == FEED_BYTES) {
        for (size_t i = 0; i < len && rc == 0; i++) {
            rc = xmlin_feed(r, doc + i, 1, &e);
        }
    } else {
        rc = xmlin_feed(r, doc, split, &e);
        if (rc == 0) {
            rc = xmlin_feed(r, doc + split, len - split, &e);
        }
    }
    if (rc == 0) {
        rc = xmlin_finish(r, &e);
    }
    xmlin_destroy(&r);
    assert_null(r);
    *cond = e.cond;
    buf_reset(out);
    assert_int_equal(buf_append_slice(out, buf_slice(&t.b)), 0);
    buf_deinit(&t.b);
    return rc;
}

struct valid_case {
    const char *doc;
    const char *transcript;
};

static const struct valid_case valid[] = {
    {"<a/>", "<{}a></{}a>"},
    {"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:propfind xmlns:D=\"DAV:\"><D:prop>"
     "<D:getetag/></D:prop></D:propfind>",
     "<{DAV:}propfind><{DAV:}prop><{DAV:}getetag></{DAV:}getetag></{DAV:}prop></{DAV:}propfind>"},
    {"<x xmlns=\"urn:a\"><y xmlns=\"\">t</y></x>", "<{urn:a}x><{}y>t</{}y></{urn:a}x>"},
    {"<a b=\"1 &amp; &lt;2&gt;\" xmlns:p=\"urn:p\" p:c=\"&#65;\"/>",
     "<{}a {}b=1 & <2> {urn:p}c=A></{}a>"},
    {"<a>&lt;&amp;&gt;&quot;&apos;&#x10000;</a>", "<{}a><&>\"'\xf0\x90\x80\x80</{}a>"},
    {"<a><![CDATA[<raw> & ]]></a>", "<{}a><raw> & </{}a>"},
    {"<a>caf\xc3\xa9</a>", "<{}a>caf\xc3\xa9</{}a>"},
    {"<!-- c --><a><?pi x?></a>", "<{}a></{}a>"},
};

struct invalid_case {
    const char *doc;
    const struct err_cond *cond;
};

static const struct invalid_case invalid[] = {
    {"<a>", &xml_cond_malformed},
    {"<a></b>", &xml_cond_malformed},
    {"", &xml_cond_malformed},
    {"   ", &xml_cond_malformed},
    {"text", &xml_cond_malformed},
    {"<a/><b/>", &xml_cond_malformed},
    {"<p:a/>", &xml_cond_malformed},
    {"<a x=\"1\" x=\"2\"/>", &xml_cond_malformed},
    {"<a>&nope;</a>", &xml_cond_malformed},
    {"<a>\x01</a>", &xml_cond_malformed},
    {"<a>\xff\xfe</a>", &xml_cond_malformed},
    {"<!DOCTYPE a><a/>", &xml_cond_doctype},
    {"<!DOCTYPE a [<!ENTITY e \"x\">]><a>&e;</a>", &xml_cond_doctype},
    {"<!DOCTYPE a SYSTEM \"http://example.com/x.dtd\"><a/>", &xml_cond_doctype},
    {"<a><a><a><a><a><a><a><a><a></a></a></a></a></a></a></a></a></a>", &xml_cond_too_deep},
};

static void test_xmlin_valid_documents_give_the_same_events_however_fed(void **state)
{
    (void)state;
    struct buf got;
    buf_init(&got, 1 << 16);
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        const char *doc = valid[i].doc;
        size_t len = strlen(doc);
        const struct err_cond *cond = NULL;
        for (int mode = FEED_WHOLE; mode <= FEED_SPLIT; mode++) {
            size_t splits = mode == FEED_SPLIT ? len : 1;
            for (size_t s = 0; s < splits; s++) {
                if (parse(doc, len, (enum feed_mode)mode, s, &got, &cond) != 0) {
                    fail_msg("case %zu mode %d split %zu: %s", i, mode, s, cond ? cond->name : "?");
                }
                assert_string_equal(buf_cstr(&got), valid[i].transcript);
            }
        }
    }
    buf_deinit(&got);
}

static void test_xmlin_invalid_documents_give_their_condition_however_fed(void **state)
{
    (void)state;
    struct buf got;
    buf_init(&got, 1 << 16);
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        const char *doc = invalid[i].doc;
        size_t len = strlen(doc);
        for (int mode = FEED_WHOLE; mode <= FEED_SPLIT; mode++) {
            size_t splits = mode == FEED_SPLIT ? (len ? len : 1) : 1;
            for (size_t s = 0; s < splits; s++) {
                const struct err_cond *cond = NULL;
                if (parse(doc, len, (enum feed_mode)mode, s, &got, &cond) != -1) {
                    fail_msg("case %zu (%s) mode %d split %zu parsed", i, doc, mode, s);
                }
                if (cond != invalid[i].cond) {
                    fail_msg("case %zu (%s) mode %d split %zu: %s, want %s", i, doc, mode, s,
                             cond ? cond->name : "none", invalid[i].cond->name);
                }
            }
        }
    }
    buf_deinit(&got);
}

static void test_xmlin_limits_name_the_limit(void **state)
{
    (void)state;
    struct buf doc;
    struct buf got;
    buf_init(&doc, 1 << 20);
    buf_init(&got, 1 << 20);
    const struct err_cond *cond = NULL;
    /* body size: 4096 */
    assert_int_equal(buf_append_cstr(&doc, "<a>"), 0);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(buf_append_cstr(&doc, "<b>                                   </b>"), 0);
    }
    assert_int_equal(buf_append_cstr(&doc, "</a>"), 0);
    assert_int_equal(parse(doc.data, doc.len, FEED_WHOLE, 0, &got, &cond), -1);
    assert_ptr_equal(cond, &xml_cond_too_large);
    /* elements: 64 */
    buf_reset(&doc);
    assert_int_equal(buf_append_cstr(&doc, "<a>"), 0);
    for (int i = 0; i < 70; i++) {
        assert_int_equal(buf_append_cstr(&doc, "<b/>"), 0);
    }
    assert_int_equal(buf_append_cstr(&doc, "</a>"), 0);
    assert_int_equal(parse(doc.data, doc.len, FEED_BYTES, 0, &got, &cond), -1);
    assert_ptr_equal(cond, &xml_cond_too_many_elements);
    /* text: 256 bytes in one element, however it arrives */
    buf_reset(&doc);
    assert_int_equal(buf_append_cstr(&doc, "<a>"), 0);
    for (int i = 0; i < 300; i++) {
        assert_int_equal(buf_putc(&doc, 'x'), 0);
    }
    assert_int_equal(buf_append_cstr(&doc, "</a>"), 0);
    assert_int_equal(parse(doc.data, doc.len, FEED_BYTES, 0, &got, &cond), -1);
    assert_ptr_equal(cond, &xml_cond_text_too_long);
    /* 256 bytes split across elements is fine */
    buf_reset(&doc);
    assert_int_equal(buf_append_cstr(&doc, "<a>"), 0);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(buf_append_cstr(&doc, "<b>xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx</b>"),
                         0);
    }
    assert_int_equal(buf_append_cstr(&doc, "</a>"), 0);
    assert_int_equal(parse(doc.data, doc.len, FEED_WHOLE, 0, &got, &cond), 0);
    buf_deinit(&doc);
    buf_deinit(&got);
}

static int refuse_b(void *ctx,
                    struct slice ns,
                    struct slice name,
                    const struct xmlin_attr *attrs,
                    size_t nattrs,
                    struct err *err)
{
    (void)ctx;
    (void)ns;
    (void)attrs;
    (void)nattrs;
    if (slice_eq(name, SLICE_LIT("b"))) {
        return err_set(err, &err_cond_bad_request, "no b here");
    }
    return 0;
}

static void test_xmlin_handler_error_stops_the_parse_and_sticks(void **state)
{
    (void)state;
    static const struct xmlin_handler h = {refuse_b, NULL, NULL};
    struct xmlin *r = xmlin_create(&limits, &h, NULL);
    struct err e;
    err_init(&e);
    assert_int_equal(xmlin_feed(r, "<a><b/>", 7, &e), -1);
    assert_ptr_equal(e.cond, &err_cond_bad_request);
    assert_string_equal(e.msg, "no b here");
    err_init(&e);
    assert_int_equal(xmlin_feed(r, "</a>", 4, &e), -1);
    assert_ptr_equal(e.cond, &err_cond_bad_request);
    err_init(&e);
    assert_int_equal(xmlin_finish(r, &e), -1);
    xmlin_destroy(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xmlin_valid_documents_give_the_same_events_however_fed),
        cmocka_unit_test(test_xmlin_invalid_documents_give_their_condition_however_fed),
        cmocka_unit_test(test_xmlin_limits_name_the_limit),
        cmocka_unit_test(test_xmlin_handler_error_stops_the_parse_and_sticks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
