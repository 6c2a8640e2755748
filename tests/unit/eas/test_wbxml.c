/* tests/unit/eas/test_wbxml.c: the WBXML codec (eas/wbxml.c, wbxml_enc.c, wbxml_dump.c;
 * brief activesync.md §2). Every decoder table case runs three ways, as STYLE.md §3.10 asks:
 * fed whole, byte by byte, and split in two at every offset; a valid body must give the same
 * event trace each way, an invalid one the same condition. Then the golden bytes of §2.1,
 * the encoder's exact bytes and refusals, the token numbers of §2.3 and the XML dump. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "eas/tree.h"
#include "eas/wbxml.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/compiler.h"

enum {
    TRACE_LIMIT = 1 << 16,
    OUT_LIMIT = 1 << 16,
};

/* Events as text: "<page:Name>" (content) or "<page:Name/>" (empty, whose end must follow at
 * once and adds nothing), "\"text\"" or "#opaque#" with bytes outside printable ASCII as
 * \xNN, "</page:Name>". Callbacks report contract breaches through err (a condition no table
 * case expects), never through cmocka. */
struct recorder {
    struct buf b;
    unsigned empty_tag;  /* an empty element whose end is due, or 0 */
    unsigned refuse_tag; /* start of this tag fails, or 0 */
};

static int rec_put_tag(struct recorder *rec, const char *open, unsigned tag, const char *close)
{
    const char *name = eas_tag_name(tag);
    return buf_appendf(&rec->b, "%s%u:%s%s", open, tag >> 8, name ? name : "?", close);
}

static int rec_start(void *ctx, unsigned tag, bool has_content, struct err *err)
{
    struct recorder *rec = ctx;
    if (rec->empty_tag != 0) {
        return err_set(err, &err_cond_internal, "start before the end of an empty element");
    }
    if (tag == rec->refuse_tag) {
        return err_set(err, &err_cond_bad_request, "refused");
    }
    if (!has_content) {
        rec->empty_tag = tag;
    }
    if (rec_put_tag(rec, "<", tag, has_content ? ">" : "/>") != 0) {
        return err_set(err, &err_cond_internal, "trace full");
    }
    return 0;
}

static int rec_text(void *ctx, unsigned tag, const char *p, size_t n, bool opaque, struct err *err)
{
    struct recorder *rec = ctx;
    (void)tag;
    if (n == 0 || p[n] != '\0' || rec->empty_tag != 0) {
        return err_set(err, &err_cond_internal, "bad text event");
    }
    int rc = buf_putc(&rec->b, opaque ? '#' : '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        rc |= c >= 0x20 && c < 0x7f && c != '\\' ? buf_putc(&rec->b, (char)c)
                                                 : buf_appendf(&rec->b, "\\x%02x", c);
    }
    rc |= buf_putc(&rec->b, opaque ? '#' : '"');
    return rc != 0 ? err_set(err, &err_cond_internal, "trace full") : 0;
}

static int rec_end(void *ctx, unsigned tag, struct err *err)
{
    struct recorder *rec = ctx;
    if (rec->empty_tag != 0) {
        if (rec->empty_tag != tag) {
            return err_set(err, &err_cond_internal, "end of another element than the empty one");
        }
        rec->empty_tag = 0;
        return 0;
    }
    if (rec_put_tag(rec, "</", tag, ">") != 0) {
        return err_set(err, &err_cond_internal, "trace full");
    }
    return 0;
}

static const struct eas_wbxml_handler recording = {rec_start, rec_text, rec_end};

/* The limits of the table cases: small, so that the tables reach each of them. */
static const struct eas_wbxml_limits small = {
    .max_depth = 4,
    .max_text = 8,
    .max_opaque = 16,
    .max_elements = 10,
};

enum feed_mode {
    FEED_WHOLE,
    FEED_BYTES,
    FEED_SPLIT, /* two chunks, split at `split` */
};

static const char *const mode_names[] = {"whole", "bytes", "split"};

/* One decode of doc; returns what the decoder returned, with the trace in rec->b. */
static int decode_with(const struct eas_wbxml_limits *lim,
                       struct slice doc,
                       enum feed_mode mode,
                       size_t split,
                       struct recorder *rec,
                       struct err *e)
{
    buf_reset(&rec->b);
    rec->empty_tag = 0;
    err_init(e);
    struct arena *a = arena_create();
    struct eas_wbxml_dec *d = eas_wbxml_dec_new(a, lim, &recording, rec);
    int rc = 0;
    if (mode == FEED_WHOLE) {
        rc = eas_wbxml_feed(d, doc.ptr, doc.len, e);
    } else if (mode == FEED_BYTES) {
        for (size_t i = 0; i < doc.len && rc == 0; i++) {
            rc = eas_wbxml_feed(d, doc.ptr + i, 1, e);
        }
    } else {
        rc = eas_wbxml_feed(d, doc.ptr, split, e);
        if (rc == 0) {
            rc = eas_wbxml_feed(d, doc.ptr + split, doc.len - split, e);
        }
    }
    if (rc == 0) {
        rc = eas_wbxml_finish(d, e);
    }
    arena_destroy(&a);
    return rc;
}

/* Runs doc every way: want_trace non-NULL, it must decode to exactly that trace; otherwise
 * it must fail with want_cond. */
static void check_every_way(const struct eas_wbxml_limits *lim,
                            struct slice doc,
                            const char *want_trace,
                            const struct err_cond *want_cond,
                            size_t case_no)
{
    struct recorder rec = {.empty_tag = 0};
    buf_init(&rec.b, TRACE_LIMIT);
    for (int mode = FEED_WHOLE; mode <= FEED_SPLIT; mode++) {
        size_t splits = mode == FEED_SPLIT ? doc.len + 1 : 1;
        for (size_t s = 0; s < splits; s++) {
            struct err e;
            int rc = decode_with(lim, doc, (enum feed_mode)mode, s, &rec, &e);
            if (want_trace) {
                if (rc != 0) {
                    fail_msg("case %zu, %s, split %zu: %s (%s)", case_no, mode_names[mode], s,
                             e.cond ? e.cond->name : "no condition", e.msg);
                }
                if (strcmp(buf_cstr(&rec.b), want_trace) != 0) {
                    fail_msg("case %zu, %s, split %zu: got %s, want %s", case_no, mode_names[mode],
                             s, buf_cstr(&rec.b), want_trace);
                }
            } else if (rc != -1 || e.cond != want_cond) {
                fail_msg("case %zu, %s, split %zu: rc %d, %s (%s), want %s", case_no,
                         mode_names[mode], s, rc, e.cond ? e.cond->name : "no condition", e.msg,
                         want_cond->name);
            }
        }
    }
    buf_deinit(&rec.b);
}

#define DOC(s)         \
  {                    \
    (s), sizeof(s) - 1 \
  }
#define HDR "\x03\x01\x6a\x00"

struct valid_case {
    struct slice doc;
    const char *trace;
};

static const struct valid_case valid[] = {
    /* §2.1 worked example: FolderSync with SyncKey 0. */
    {DOC(HDR "\x00\x07\x56\x52\x03"
             "0\x00\x01\x01"),
     "<7:FolderSync><7:SyncKey>\"0\"</7:SyncKey></7:FolderSync>"},
    /* §2.1 worked example: Ping. */
    {DOC(HDR "\x00\x0d\x45\x48\x03\x34\x38\x30\x00\x01\x49\x4a\x4b\x03\x63\x31\x00\x01"
             "\x4c\x03\x43\x61\x6c\x65\x6e\x64\x61\x72\x00\x01\x01\x01\x01"),
     "<13:Ping><13:HeartbeatInterval>\"480\"</13:HeartbeatInterval><13:Folders><13:Folder>"
     "<13:Id>\"c1\"</13:Id><13:Class>\"Calendar\"</13:Class></13:Folder></13:Folders>"
     "</13:Ping>"},
    /* An empty root; versions 1.1 and 1.2; header varints in more bytes than needed. */
    {DOC(HDR "\x05"), "<0:Sync/>"},
    {DOC("\x01\x01\x6a\x00\x05"), "<0:Sync/>"},
    {DOC("\x02\x01\x6a\x00\x05"), "<0:Sync/>"},
    {DOC("\x03\x80\x01\x80\x6a\x80\x00\x05"), "<0:Sync/>"},
    /* §2.1: empty tags are the bare token and have no END. */
    {DOC(HDR "\x45\x13\x14\x01"), "<0:Sync><0:GetChanges/><0:MoreAvailable/></0:Sync>"},
    /* An element with content but no text or children. */
    {DOC(HDR "\x45\x4b\x01\x01"), "<0:Sync><0:SyncKey></0:SyncKey></0:Sync>"},
    /* §2.1 rule 2: consecutive STR_I / OPAQUE pieces are one text; empty pieces are no text. */
    {DOC(HDR "\x45\x4b\x03"
             "ab\x00\x03"
             "c\x00\x01\x01"),
     "<0:Sync><0:SyncKey>\"abc\"</0:SyncKey></0:Sync>"},
    {DOC(HDR "\x45\x4b\x03"
             "a\x00\xc3\x02"
             "bc\x01\x01"),
     "<0:Sync><0:SyncKey>#abc#</0:SyncKey></0:Sync>"},
    {DOC(HDR "\x45\x4b\xc3\x03"
             "a\x00"
             "b\x01\x01"),
     "<0:Sync><0:SyncKey>#a\\x00b#</0:SyncKey></0:Sync>"},
    {DOC(HDR "\x45\x4b\x03\x00\xc3\x00\x01\x01"), "<0:Sync><0:SyncKey></0:SyncKey></0:Sync>"},
    /* Whitespace is data (§2.1 rule 4); UTF-8 passes as it is. */
    {DOC(HDR "\x45\x4b\x03 x \xc3\xa9\x00\x01\x01"),
     "<0:Sync><0:SyncKey>\" x \\xc3\\xa9\"</0:SyncKey></0:Sync>"},
    /* §2.1 rule 1: the page persists across END: 0x4D after the Calendar Subject is
     * BusyStatus (4:0x0D), not AirSync ServerId. */
    {DOC(HDR "\x45\x5d\x00\x04\x66\x03"
             "s\x00\x01\x4d\x03"
             "2\x00\x01\x01\x01"),
     "<0:Sync><0:ApplicationData><4:Subject>\"s\"</4:Subject><4:BusyStatus>\"2\"</4:BusyStatus>"
     "</0:ApplicationData></0:Sync>"},
    /* §2.1 rule 5: an unknown token on a known page is skipped with its subtree, known
     * children included; so is any tag of a page without a table (Contacts), and an unknown
     * empty tag. */
    {DOC(HDR "\x45\x7f\x4b\x03"
             "x\x00\x01\x01\x4d\x03"
             "s\x00\x01\x01"),
     "<0:Sync><0:ServerId>\"s\"</0:ServerId></0:Sync>"},
    {DOC(HDR "\x45\x3f\x2b\x4d\x03"
             "s\x00\x01\x01"),
     "<0:Sync><0:ServerId>\"s\"</0:ServerId></0:Sync>"},
    {DOC(HDR "\x45\x00\x01\x5e\x03"
             "Doe\x00\x01\x00\x00\x4d\x03"
             "s\x00\x01\x01"),
     "<0:Sync><0:ServerId>\"s\"</0:ServerId></0:Sync>"},
    /* A SWITCH_PAGE inside a skipped subtree still holds after it. */
    {DOC(HDR "\x45\x7f\x00\x04\x66\x03"
             "s\x00\x01\x01\x4d\x03"
             "2\x00\x01\x01"),
     "<0:Sync><4:BusyStatus>\"2\"</4:BusyStatus></0:Sync>"},
    /* Unassigned tokens of known pages (Calendar 0x2B, AirSyncBase 0x09) are skipped. */
    {DOC(HDR "\x45\x00\x04\x6b\x03"
             "x\x00\x01\x00\x11\x09\x01"),
     "<0:Sync></0:Sync>"},
    /* Opaque length in two bytes (§2.1: 200 = 81 48); here 16 = the small opaque limit. */
    {DOC(HDR "\x45\x4b\xc3\x80\x10"
             "0123456789abcdef\x01\x01"),
     "<0:Sync><0:SyncKey>#0123456789abcdef#</0:SyncKey></0:Sync>"},
    /* At the limits: depth 4, text 8, elements 10 (skipped ones count). */
    {DOC(HDR "\x45\x5c\x4f\x4b\x03"
             "12345678\x00\x01\x01\x01\x01"),
     "<0:Sync><0:Collections><0:Collection><0:SyncKey>\"12345678\"</0:SyncKey></0:Collection>"
     "</0:Collections></0:Sync>"},
    {DOC(HDR "\x45\x13\x13\x13\x13\x3f\x3f\x3f\x3f\x13\x01"),
     "<0:Sync><0:GetChanges/><0:GetChanges/><0:GetChanges/><0:GetChanges/><0:GetChanges/>"
     "</0:Sync>"},
};

struct invalid_case {
    struct slice doc;
    const struct err_cond *cond;
};

static const struct err_cond *const BAD = &eas_cond_bad_wbxml;
static const struct err_cond *const LIMIT = &eas_cond_wbxml_limit;

static const struct invalid_case invalid[] = {
    /* Missing root, truncated header, header fields (§2.1 document layout). */
    {DOC(""), BAD},
    {DOC(HDR), BAD},
    {DOC(HDR "\x00\x07"), BAD},
    {DOC("\x03"), BAD},
    {DOC("\x03\x01\x6a"), BAD},
    {DOC("\x00\x01\x6a\x00\x05"), BAD},
    {DOC("\x04\x01\x6a\x00\x05"), BAD},
    {DOC("\x03\x00\x00\x6a\x00\x05"), BAD}, /* public id as a string-table reference */
    {DOC("\x03\x02\x6a\x00\x05"), BAD},
    {DOC("\x03\x01\x04\x00\x05"), BAD},             /* charset ISO-8859-1 */
    {DOC("\x03\x01\x87\x77\x00\x05"), BAD},         /* charset 1015 (UTF-16) */
    {DOC("\x03\x01\x6a\x01\x00\x05"), BAD},         /* a string table */
    {DOC("\x03\x81"), BAD},                         /* truncated mb_u_int32 */
    {DOC("\x03\x80\x80\x80\x80\x80\x01"), BAD},     /* over 5 bytes */
    {DOC("\x03\x90\x80\x80\x80\x00"), BAD},         /* 2^32 */
    {DOC(HDR "\x45\xc3\x90\x80\x80\x80\x00"), BAD}, /* opaque length 2^32 */
    /* Every global token EAS does not use, inside the root. */
    {DOC(HDR "\x45\x02\x41\x01"), BAD},
    {DOC(HDR "\x45\x04\x01\x01"), BAD},
    {DOC(HDR "\x45\x40\x01"), BAD},
    {DOC(HDR "\x45\x41\x01"), BAD},
    {DOC(HDR "\x45\x42\x01"), BAD},
    {DOC(HDR "\x45\x43\x01"), BAD},
    {DOC(HDR "\x45\x44\x01"), BAD},
    {DOC(HDR "\x45\x80\x01"), BAD},
    {DOC(HDR "\x45\x81\x01"), BAD},
    {DOC(HDR "\x45\x82\x01"), BAD},
    {DOC(HDR "\x45\x83\x00\x01"), BAD}, /* STR_T */
    {DOC(HDR "\x45\x84\x01"), BAD},
    {DOC(HDR "\x45\xc0\x01"), BAD},
    {DOC(HDR "\x45\xc1\x01"), BAD},
    {DOC(HDR "\x45\xc2\x01"), BAD},
    {DOC(HDR "\x45\xc4\x01"), BAD},
    /* The attribute bit, with and without content. */
    {DOC(HDR "\x85\x01"), BAD},
    {DOC(HDR "\x45\xcb\x01\x01"), BAD},
    /* Unknown code pages (> 25), also inside a skipped subtree. */
    {DOC(HDR "\x00\x1a\x05"), BAD},
    {DOC(HDR "\x45\x00\xff\x05\x01"), BAD},
    {DOC(HDR "\x45\x7f\x00\x1a\x01\x01"), BAD},
    /* Structure: END or text outside an element, bytes after the root (a second root, a
     * SWITCH_PAGE), mixed content, an unknown root, truncation. */
    {DOC(HDR "\x01"), BAD},
    {DOC(HDR "\x03x\x00\x05"), BAD},
    {DOC(HDR "\x05\x05"), BAD},
    {DOC(HDR "\x45\x01\x00\x00"), BAD},
    {DOC(HDR "\x45\x01\x01"), BAD},
    {DOC(HDR "\x45\x03x\x00\x4b\x01\x01"), BAD},
    {DOC(HDR "\x45\x4b\x01\x03x\x00\x01"), BAD},
    {DOC(HDR "\x45\x7f\x03x\x00\x13\x01\x01"), BAD},
    {DOC(HDR "\x3f"), BAD},
    {DOC(HDR "\x7f\x01"), BAD},
    {DOC(HDR "\x00\x01\x45\x01"), BAD}, /* a root on a page without a table */
    {DOC(HDR "\x45"), BAD},
    {DOC(HDR "\x45\x4b\x03"
             "abc"),
     BAD},
    {DOC(HDR "\x45\x4b\xc3\x05"
             "ab"),
     BAD},
    {DOC(HDR "\x45\x4b\xc3"), BAD},
    {DOC(HDR "\x45\x00"), BAD},
    /* Limits (small: depth 4, text 8, opaque 16, elements 10), skipped subtrees included. */
    {DOC(HDR "\x45\x5c\x4f\x56\x13\x01\x01\x01\x01"), LIMIT},
    {DOC(HDR "\x45\x5c\x4f\x7f\x13\x01\x01\x01\x01"), LIMIT},
    {DOC(HDR "\x45\x4b\x03"
             "123456789\x00\x01\x01"),
     LIMIT},
    {DOC(HDR "\x45\x4b\x03"
             "12345\x00\x03"
             "6789\x00\x01\x01"),
     LIMIT},
    {DOC(HDR "\x45\x7f\x03"
             "123456789\x00\x01\x01"),
     LIMIT},
    {DOC(HDR "\x45\x4b\xc3\x11"
             "0123456789abcdef!\x01\x01"),
     LIMIT},
    {DOC(HDR "\x45\x4b\xc3\x10"
             "0123456789abcdef\xc3\x01"
             "!\x01\x01"),
     LIMIT},
    {DOC(HDR "\x45\x13\x13\x13\x13\x13\x13\x13\x13\x13\x13\x01"), LIMIT},
    {DOC(HDR "\x45\x13\x13\x13\x13\x3f\x3f\x3f\x3f\x3f\x3f\x01"), LIMIT},
};

static void test_wbxml_decodes_valid_bodies_alike_in_every_chunking(void **state)
{
    (void)state;
    for (size_t i = 0; i < ALM_ARRAY_LEN(valid); i++) {
        check_every_way(&small, valid[i].doc, valid[i].trace, NULL, i);
    }
}

static void test_wbxml_rejects_invalid_bodies_in_every_chunking(void **state)
{
    (void)state;
    for (size_t i = 0; i < ALM_ARRAY_LEN(invalid); i++) {
        check_every_way(&small, invalid[i].doc, NULL, invalid[i].cond, i);
    }
}

/* One decode with the default limits; returns the decoder's result, trace in rec. */
static int decode_default(struct slice doc, struct recorder *rec, struct err *e)
{
    return decode_with(NULL, doc, FEED_WHOLE, 0, rec, e);
}

static void test_wbxml_default_limits_are_those_of_the_brief(void **state)
{
    (void)state;
    struct eas_wbxml_limits l;
    eas_wbxml_limits_default(&l);
    assert_int_equal(l.max_depth, 32);
    assert_int_equal(l.max_text, 1 << 20);
    assert_int_equal(l.max_opaque, 16 << 20);
    assert_int_equal(l.max_elements, 1000000);

    /* Depth 32 passes, 33 fails (§2.1 rule 6). */
    struct buf doc;
    buf_init(&doc, 1024);
    for (int depth = 32; depth <= 33; depth++) {
        buf_reset(&doc);
        assert_int_equal(buf_append(&doc, HDR, 4), 0);
        for (int i = 0; i < depth - 1; i++) {
            assert_int_equal(buf_putc(&doc, 0x45), 0);
        }
        assert_int_equal(buf_putc(&doc, 0x13), 0);
        for (int i = 0; i < depth - 1; i++) {
            assert_int_equal(buf_putc(&doc, 0x01), 0);
        }
        struct recorder rec = {.empty_tag = 0};
        buf_init(&rec.b, TRACE_LIMIT);
        struct err e;
        int rc = decode_default(buf_slice(&doc), &rec, &e);
        if (depth == 32) {
            assert_int_equal(rc, 0);
        } else {
            assert_int_equal(rc, -1);
            assert_ptr_equal(e.cond, &eas_cond_wbxml_limit);
            assert_string_equal(e.msg, "wbxml depth 33 exceeds wbxml max_depth=32");
        }
        buf_deinit(&rec.b);
    }
    buf_deinit(&doc);
}

static void test_wbxml_error_messages_name_the_fault(void **state)
{
    (void)state;

    static const struct {
        struct slice doc;
        const char *msg;
    } cases[] = {
        {DOC("\x03\x00\x00\x6a\x00\x05"),
         "wbxml public id is a string table reference; EAS uses none"},
        {DOC("\x03\x01\x04\x00\x05"), "wbxml charset 4 is not 106 (UTF-8)"},
        {DOC(HDR "\x45\x83\x00\x01"), "wbxml token STR_T (0x83) is not used by EAS"},
        {DOC(HDR "\x00\x1a\x05"), "wbxml code page 26 is unknown (0-25)"},
        {DOC(HDR "\x05\x05"), "wbxml bytes after the root element"},
        {DOC(HDR), "wbxml body has no root element"},
        {DOC(HDR "\x45\x45"), "wbxml body ends with 2 elements open"},
        {DOC(HDR "\x45\x4b\x03x\x00\x4d\x01\x01"),
         "wbxml element SyncKey mixes text with child elements"},
    };
    struct recorder rec = {.empty_tag = 0};
    buf_init(&rec.b, TRACE_LIMIT);
    for (size_t i = 0; i < ALM_ARRAY_LEN(cases); i++) {
        struct err e;
        assert_int_equal(decode_default(cases[i].doc, &rec, &e), -1);
        assert_ptr_equal(e.cond, &eas_cond_bad_wbxml);
        assert_string_equal(e.msg, cases[i].msg);
    }
    /* Limit messages name the limit and its value (STYLE.md §3.3). */
    struct err e;
    static const struct slice many = DOC(HDR "\x45\x13\x13\x13\x13\x13\x13\x13\x13\x13\x13\x01");
    assert_int_equal(decode_with(&small, many, FEED_WHOLE, 0, &rec, &e), -1);
    assert_ptr_equal(e.cond, &eas_cond_wbxml_limit);
    assert_string_equal(e.msg, "wbxml element 11 exceeds wbxml max_elements=10");
    static const struct slice big = DOC(HDR "\x45\x4b\xc3\x11"
                                            "0123456789abcdef!\x01\x01");
    assert_int_equal(decode_with(&small, big, FEED_WHOLE, 0, &rec, &e), -1);
    assert_string_equal(e.msg, "wbxml text of SyncKey exceeds wbxml max_opaque=16");
    buf_deinit(&rec.b);
}

static void test_wbxml_callback_failure_stops_the_feed_and_sticks(void **state)
{
    (void)state;
    static const char doc[] = HDR "\x45\x4b\x03"
                                  "1\x00\x01\x4d\x03"
                                  "2\x00\x01\x01";
    struct recorder rec = {.refuse_tag = EAS_AS_SERVERID};
    buf_init(&rec.b, TRACE_LIMIT);
    struct arena *a = arena_create();
    struct eas_wbxml_dec *d = eas_wbxml_dec_new(a, NULL, &recording, &rec);
    struct err e;
    err_init(&e);
    assert_int_equal(eas_wbxml_feed(d, doc, sizeof(doc) - 1, &e), -1);
    assert_ptr_equal(e.cond, &err_cond_bad_request);
    assert_string_equal(e.msg, "refused");
    assert_string_equal(buf_cstr(&rec.b), "<0:Sync><0:SyncKey>\"1\"</0:SyncKey>");
    /* Later calls repeat the error and deliver nothing more. */
    err_init(&e);
    assert_int_equal(eas_wbxml_feed(d, "\x01", 1, &e), -1);
    assert_ptr_equal(e.cond, &err_cond_bad_request);
    err_init(&e);
    assert_int_equal(eas_wbxml_finish(d, &e), -1);
    assert_ptr_equal(e.cond, &err_cond_bad_request);
    assert_string_equal(buf_cstr(&rec.b), "<0:Sync><0:SyncKey>\"1\"</0:SyncKey>");
    arena_destroy(&a);
    buf_deinit(&rec.b);
}

static void test_wbxml_counts_skipped_subtrees_for_the_log(void **state)
{
    (void)state;
    /* Two skipped subtrees: an unknown AirSync token (with an unknown child, not counted)
     * and a Contacts element (page without a table); the known ones are not counted. */
    static const char doc[] = HDR "\x45\x7f\x3e\x01\x00\x01\x5e\x03"
                                  "x\x00\x01\x00\x00\x4d\x03"
                                  "s\x00\x01\x01";
    struct recorder rec = {.empty_tag = 0};
    buf_init(&rec.b, TRACE_LIMIT);
    struct arena *a = arena_create();
    struct eas_wbxml_dec *d = eas_wbxml_dec_new(a, NULL, &recording, &rec);
    unsigned first = 1;
    assert_int_equal(eas_wbxml_skipped(d, &first), 0);
    assert_int_equal(first, 0);
    struct err e;
    err_init(&e);
    assert_int_equal(eas_wbxml_feed(d, doc, sizeof(doc) - 1, &e), 0);
    assert_int_equal(eas_wbxml_finish(d, &e), 0);
    assert_int_equal(eas_wbxml_skipped(d, &first), 2);
    assert_int_equal(first, 0x003F);
    assert_int_equal(eas_wbxml_skipped(d, NULL), 2);
    assert_string_equal(buf_cstr(&rec.b), "<0:Sync><0:ServerId>\"s\"</0:ServerId></0:Sync>");
    arena_destroy(&a);
    buf_deinit(&rec.b);
}

/* §6.2 item 3: the brief quotes the opening bytes of the MS-ASWBXML contact example (a Sync
 * of the Contacts class); they decode to this prefix and then end inside SyncKey. */
static void test_wbxml_decodes_the_quoted_ms_aswbxml_prefix(void **state)
{
    (void)state;
    static const char doc[] = "\x03\x01\x6a\x00\x45\x5c\x4f\x50\x03\x43\x6f\x6e\x74\x61\x63"
                              "\x74\x73\x00\x01\x4b";
    struct recorder rec = {.empty_tag = 0};
    buf_init(&rec.b, TRACE_LIMIT);
    struct arena *a = arena_create();
    struct eas_wbxml_dec *d = eas_wbxml_dec_new(a, NULL, &recording, &rec);
    struct err e;
    err_init(&e);
    assert_int_equal(eas_wbxml_feed(d, doc, sizeof(doc) - 1, &e), 0);
    assert_string_equal(buf_cstr(&rec.b), "<0:Sync><0:Collections><0:Collection><0:Class>"
                                          "\"Contacts\"</0:Class><0:SyncKey>");
    assert_int_equal(eas_wbxml_finish(d, &e), -1);
    assert_ptr_equal(e.cond, &eas_cond_bad_wbxml);
    assert_string_equal(e.msg, "wbxml body ends with 4 elements open");
    arena_destroy(&a);
    buf_deinit(&rec.b);
}

static void test_wbxml_text_limit_holds_across_chunks(void **state)
{
    (void)state;
    /* 1 MiB of STR_I passes, one byte more fails, however it is fed (§2.1 rule 6). */
    for (size_t extra = 0; extra <= 1; extra++) {
        size_t n = EAS_WBXML_MAX_TEXT + extra;
        struct buf doc;
        buf_init(&doc, n + 64);
        assert_int_equal(buf_append(&doc, HDR "\x45\x4b\x03", 7), 0);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(buf_putc(&doc, 'a' + (char)(i % 26)), 0);
        }
        assert_int_equal(buf_append(&doc, "\x00\x01\x01", 3), 0);
        struct arena *a = arena_create();
        struct recorder rec = {.empty_tag = 0};
        buf_init(&rec.b, 8u << 20);
        struct eas_wbxml_dec *d = eas_wbxml_dec_new(a, NULL, &recording, &rec);
        struct err e;
        err_init(&e);
        int rc = 0;
        for (size_t off = 0; off < doc.len && rc == 0; off += 4093) {
            size_t take = doc.len - off < 4093 ? doc.len - off : 4093;
            rc = eas_wbxml_feed(d, doc.data + off, take, &e);
        }
        if (rc == 0) {
            rc = eas_wbxml_finish(d, &e);
        }
        if (extra == 0) {
            assert_int_equal(rc, 0);
            /* "<0:Sync><0:SyncKey>" + quote + text + quote + ends */
            assert_int_equal(rec.b.len, 19 + 2 + n + 21);
        } else {
            assert_int_equal(rc, -1);
            assert_ptr_equal(e.cond, &eas_cond_wbxml_limit);
            assert_string_equal(e.msg, "wbxml text of SyncKey exceeds wbxml max_text=1048576");
        }
        arena_destroy(&a);
        buf_deinit(&rec.b);
        buf_deinit(&doc);
    }
}

/* --- token numbers (§2.3, §2.4) -------------------------------------------------------- */

static void test_wbxml_token_numbers_match_the_brief(void **state)
{
    (void)state;

    /* A sample from each table of §2.3, first and last rows and the traps. */
    static const struct {
        unsigned tag, page, tok;
        const char *name;
    } sample[] = {
        {EAS_AS_SYNC, 0, 0x05, "Sync"},
        {EAS_AS_SYNCKEY, 0, 0x0B, "SyncKey"},
        {EAS_AS_COLLECTIONID, 0, 0x12, "CollectionId"},
        {EAS_AS_GETCHANGES, 0, 0x13, "GetChanges"},
        {EAS_AS_MOREAVAILABLE, 0, 0x14, "MoreAvailable"},
        {EAS_AS_APPLICATIONDATA, 0, 0x1D, "ApplicationData"},
        {EAS_AS_HEARTBEATINTERVAL, 0, 0x29, "HeartbeatInterval"},
        {EAS_CAL_TIMEZONE, 4, 0x05, "Timezone"},
        {EAS_CAL_EMAIL, 4, 0x09, "Email"},
        {EAS_CAL_DTSTAMP, 4, 0x11, "DtStamp"},
        {EAS_CAL_RECURRENCE, 4, 0x1B, "Recurrence"},
        {EAS_CAL_SUBJECT, 4, 0x26, "Subject"},
        {EAS_CAL_STARTTIME, 4, 0x27, "StartTime"},
        {EAS_CAL_UID, 4, 0x28, "UID"},
        {EAS_CAL_ATTENDEETYPE, 4, 0x2A, "AttendeeType"},
        {EAS_CAL_DISALLOWNEWTIMEPROPOSAL, 4, 0x33, "DisallowNewTimeProposal"},
        {EAS_CAL_CLIENTUID, 4, 0x3C, "ClientUid"},
        {EAS_GIE_GETITEMESTIMATE, 6, 0x05, "GetItemEstimate"},
        {EAS_GIE_ESTIMATE, 6, 0x0C, "Estimate"},
        {EAS_GIE_STATUS, 6, 0x0E, "Status"},
        {EAS_FH_DISPLAYNAME, 7, 0x07, "DisplayName"},
        {EAS_FH_CHANGES, 7, 0x0E, "Changes"},
        {EAS_FH_FOLDERSYNC, 7, 0x16, "FolderSync"},
        {EAS_FH_VERSION, 7, 0x18, "Version"},
        {EAS_PING_PING, 13, 0x05, "Ping"},
        {EAS_PING_HEARTBEATINTERVAL, 13, 0x08, "HeartbeatInterval"},
        {EAS_PING_MAXFOLDERS, 13, 0x0D, "MaxFolders"},
        {EAS_PROV_PROVISION, 14, 0x05, "Provision"},
        {EAS_PROV_POLICYKEY, 14, 0x09, "PolicyKey"},
        {EAS_PROV_EASPROVISIONDOC, 14, 0x0D, "EASProvisionDoc"},
        {EAS_PROV_REQUIRESTORAGECARDENCRYPTION, 14, 0x10, "RequireStorageCardEncryption"},
        {EAS_PROV_MINDEVICEPASSWORDCOMPLEXCHARACTERS, 14, 0x20,
         "MinDevicePasswordComplexCharacters"},
        {EAS_PROV_ALLOWWIFI, 14, 0x21, "AllowWiFi"},
        {EAS_PROV_HASH, 14, 0x3A, "Hash"},
        {EAS_PROV_ACCOUNTONLYREMOTEWIPE, 14, 0x3B, "AccountOnlyRemoteWipe"},
        {EAS_ASB_BODYPREFERENCE, 17, 0x05, "BodyPreference"},
        {EAS_ASB_ALLORNONE, 17, 0x08, "AllOrNone"},
        {EAS_ASB_BODY, 17, 0x0A, "Body"},
        {EAS_ASB_BODYPART, 17, 0x1A, "BodyPart"},
        {EAS_ASB_ANNOTATION, 17, 0x21, "Annotation"},
        {EAS_ASB_INSTANCEID, 17, 0x2D, "InstanceId"},
        {EAS_SET_SETTINGS, 18, 0x05, "Settings"},
        {EAS_SET_DEVICEINFORMATION, 18, 0x16, "DeviceInformation"},
        {EAS_SET_IMEI, 18, 0x18, "IMEI"},
        {EAS_SET_SMTPADDRESS, 18, 0x1F, "SMTPAddress"},
        {EAS_SET_SENDDISABLED, 18, 0x29, "SendDisabled"},
        {EAS_SET_RIGHTSMANAGEMENTINFORMATION, 18, 0x2B, "RightsManagementInformation"},
        {EAS_MR_CALENDARID, 8, 0x05, "CalendarId"},
        {EAS_MR_USERRESPONSE, 8, 0x0C, "UserResponse"},
        {EAS_MR_INSTANCEID, 8, 0x0E, "InstanceId"},
        {EAS_MR_SENDRESPONSE, 8, 0x12, "SendResponse"},
        {EAS_IO_ITEMOPERATIONS, 20, 0x05, "ItemOperations"},
        {EAS_IO_FETCH, 20, 0x06, "Fetch"},
        {EAS_IO_VERSION, 20, 0x0F, "Version"},
        {EAS_IO_SCHEMA, 20, 0x10, "Schema"},
        {EAS_IO_MOVEALWAYS, 20, 0x19, "MoveAlways"},
        {EAS_RR_RESOLVERECIPIENTS, 10, 0x05, "ResolveRecipients"},
        {EAS_RR_MERGEDFREEBUSY, 10, 0x19, "MergedFreeBusy"},
        {EAS_RR_MAXPICTURES, 10, 0x1D, "MaxPictures"},
    };

    for (size_t i = 0; i < ALM_ARRAY_LEN(sample); i++) {
        if (sample[i].tag != ((sample[i].page << 8) | sample[i].tok)) {
            fail_msg("%s: 0x%04x, want page %u token 0x%02x", sample[i].name, sample[i].tag,
                     sample[i].page, sample[i].tok);
        }
        assert_string_equal(eas_tag_name(sample[i].tag), sample[i].name);
        unsigned tag = 0;
        assert_int_equal(eas_tag_lookup(eas_page_name(sample[i].page), sample[i].name, &tag), 0);
        assert_int_equal(tag, sample[i].tag);
    }

    /* Tags per page: every row of §2.3 and nothing else (unassigned: AirSyncBase 0x09,
     * Settings 0x2A, Calendar 0x2B-0x32; pages without a table have none). */
    static const unsigned per_page[EAS_PAGE_COUNT] = {
        [0] = 37, [4] = 48,  [6] = 10,  [7] = 20,  [8] = 12,  [10] = 25,
        [13] = 9, [14] = 55, [17] = 40, [18] = 38, [20] = 21,
    };
    for (unsigned page = 0; page < EAS_PAGE_COUNT; page++) {
        unsigned n = 0;
        for (unsigned tok = 0; tok < 0x40; tok++) {
            n += eas_tag_name((page << 8) | tok) != NULL;
        }
        if (n != per_page[page]) {
            fail_msg("page %u has %u tags, want %u", page, n, per_page[page]);
        }
    }
    assert_null(eas_tag_name(0x1109));
    assert_null(eas_tag_name(0x122A));
    assert_null(eas_tag_name(0x042B));
    assert_null(eas_tag_name(0x0432));
    assert_null(eas_tag_name(0x0004));
    assert_null(eas_tag_name(0x1A05));
}

static void test_wbxml_page_names_are_the_spec_namespaces(void **state)
{
    (void)state;
    static const char *const want[EAS_PAGE_COUNT] = {
        "AirSync",
        "Contacts",
        "Email",
        "AirNotify",
        "Calendar",
        "Move",
        "GetItemEstimate",
        "FolderHierarchy",
        "MeetingResponse",
        "Tasks",
        "ResolveRecipients",
        "ValidateCert",
        "Contacts2",
        "Ping",
        "Provision",
        "Search",
        "GAL",
        "AirSyncBase",
        "Settings",
        "DocumentLibrary",
        "ItemOperations",
        "ComposeMail",
        "Email2",
        "Notes",
        "RightsManagement",
        "Find",
    };
    for (unsigned page = 0; page < EAS_PAGE_COUNT; page++) {
        assert_string_equal(eas_page_name(page), want[page]);
    }
    assert_null(eas_page_name(26));
    assert_int_equal(EAS_PAGE_CALENDAR, 4);
    assert_int_equal(EAS_PAGE_FIND, 25);
}

static void test_wbxml_lookup_takes_both_namespace_spellings(void **state)
{
    (void)state;
    unsigned tag = 0;
    assert_int_equal(eas_tag_lookup("Calendar:", "Subject", &tag), 0);
    assert_int_equal(tag, EAS_CAL_SUBJECT);
    assert_int_equal(eas_tag_lookup("AirSyncBase", "Type", &tag), 0);
    assert_int_equal(tag, EAS_ASB_TYPE);
    tag = 7;
    assert_int_equal(eas_tag_lookup("AirSync", "Subject", &tag), -1);
    assert_int_equal(eas_tag_lookup("Calendar", "TimeZone", &tag), -1); /* libwbxml's name */
    assert_int_equal(eas_tag_lookup("Contacts", "FileAs", &tag), -1);
    assert_int_equal(eas_tag_lookup("Nope", "Sync", &tag), -1);
    assert_int_equal(eas_tag_lookup("", "Sync", &tag), -1);
    assert_int_equal(tag, 7);
}

/* --- encoder ----------------------------------------------------------------------------- */

static void assert_bytes(const struct buf *b, const char *want, size_t n)
{
    if (b->len != n || memcmp(b->data, want, n) != 0) {
        char got[512] = "";
        size_t off = 0;
        for (size_t i = 0; i < b->len && off + 4 < sizeof(got); i++) {
            off +=
                (size_t)snprintf(got + off, sizeof(got) - off, "%02x ", (unsigned char)b->data[i]);
        }
        fail_msg("got %zu bytes: %s", b->len, got);
    }
}

#define ASSERT_BYTES(b, lit) assert_bytes((b), (lit), sizeof(lit) - 1)

static void test_wbxml_encoder_writes_the_worked_examples(void **state)
{
    (void)state;
    struct buf out;
    buf_init(&out, OUT_LIMIT);
    struct eas_wbxml_enc e;
    assert_int_equal(eas_enc_begin(&e, &out), 0);
    assert_int_equal(eas_enc_start(&e, EAS_FH_FOLDERSYNC), 0);
    assert_int_equal(eas_enc_cstr(&e, EAS_FH_SYNCKEY, "0"), 0);
    assert_int_equal(eas_enc_end(&e), 0);
    assert_int_equal(eas_enc_finish(&e), 0);
    ASSERT_BYTES(&out, HDR "\x00\x07\x56\x52\x03\x30\x00\x01\x01");

    buf_reset(&out);
    assert_int_equal(eas_enc_begin(&e, &out), 0);
    assert_int_equal(eas_enc_start(&e, EAS_PING_PING), 0);
    assert_int_equal(eas_enc_uint(&e, EAS_PING_HEARTBEATINTERVAL, 480), 0);
    assert_int_equal(eas_enc_start(&e, EAS_PING_FOLDERS), 0);
    assert_int_equal(eas_enc_start(&e, EAS_PING_FOLDER), 0);
    assert_int_equal(eas_enc_cstr(&e, EAS_PING_ID, "c1"), 0);
    assert_int_equal(eas_enc_text(&e, EAS_PING_CLASS, "Calendar", 8), 0);
    assert_int_equal(eas_enc_end(&e), 0);
    assert_int_equal(eas_enc_end(&e), 0);
    assert_int_equal(eas_enc_end(&e), 0);
    assert_int_equal(eas_enc_finish(&e), 0);
    ASSERT_BYTES(&out, HDR "\x00\x0d\x45\x48\x03\x34\x38\x30\x00\x01\x49\x4a\x4b\x03\x63\x31"
                           "\x00\x01\x4c\x03\x43\x61\x6c\x65\x6e\x64\x61\x72\x00\x01\x01\x01\x01");
    buf_deinit(&out);
}

static void test_wbxml_encoder_switches_page_only_when_it_changes(void **state)
{
    (void)state;
    struct buf out;
    buf_init(&out, OUT_LIMIT);
    struct eas_wbxml_enc e;
    assert_int_equal(eas_enc_begin(&e, &out), 0);
    assert_int_equal(eas_enc_start(&e, EAS_AS_SYNC), 0); /* page 0: no switch */
    assert_int_equal(eas_enc_start(&e, EAS_AS_APPLICATIONDATA), 0);
    assert_int_equal(eas_enc_cstr(&e, EAS_CAL_SUBJECT, "s"), 0); /* 00 04 */
    assert_int_equal(eas_enc_cstr(&e, EAS_CAL_LOCATION, "l"), 0);
    assert_int_equal(eas_enc_start(&e, EAS_ASB_BODY), 0); /* 00 11 */
    assert_int_equal(eas_enc_uint(&e, EAS_ASB_TYPE, 1), 0);
    assert_int_equal(eas_enc_end(&e), 0);
    assert_int_equal(eas_enc_empty(&e, EAS_CAL_CATEGORIES), 0); /* 00 04 */
    assert_int_equal(eas_enc_end(&e), 0);
    assert_int_equal(eas_enc_empty(&e, EAS_AS_MOREAVAILABLE), 0); /* 00 00 */
    assert_int_equal(eas_enc_end(&e), 0);
    assert_int_equal(eas_enc_finish(&e), 0);
    ASSERT_BYTES(&out, HDR "\x45\x5d\x00\x04\x66\x03s\x00\x01\x57\x03l\x00\x01\x00\x11\x4a"
                           "\x46\x03\x31\x00\x01\x01\x00\x04\x0e\x01\x00\x00\x14\x01");
    assert_int_equal(e.page, 0);
    buf_deinit(&out);
}

static void test_wbxml_encoder_rewinds_to_a_mark(void **state)
{
    (void)state;
    struct buf out;
    buf_init(&out, OUT_LIMIT);
    struct eas_wbxml_enc e;
    assert_int_equal(eas_enc_begin(&e, &out), 0);
    assert_int_equal(eas_enc_start(&e, EAS_AS_SYNC), 0);
    assert_int_equal(eas_enc_start(&e, EAS_AS_COMMANDS), 0);
    struct eas_enc_mark m = eas_enc_mark(&e);
    size_t len = out.len;
    /* a partly written item on another page: Add, ServerId, ApplicationData, Subject */
    assert_int_equal(eas_enc_start(&e, EAS_AS_ADD), 0);
    assert_int_equal(eas_enc_cstr(&e, EAS_AS_SERVERID, "1:2"), 0);
    assert_int_equal(eas_enc_start(&e, EAS_AS_APPLICATIONDATA), 0);
    assert_int_equal(eas_enc_cstr(&e, EAS_CAL_SUBJECT, "s"), 0);
    assert_int_equal(e.page, EAS_TAG_PAGE(EAS_CAL_SUBJECT));
    assert_int_equal(e.depth, 4);
    assert_true(out.len > len);
    eas_enc_rewind(&e, m);
    assert_int_equal(out.len, len);
    assert_int_equal(out.data[len], '\0');
    assert_int_equal(e.page, 0);
    assert_int_equal(e.depth, 2);
    ASSERT_BYTES(&out, HDR "\x45\x56");
    /* the encoder goes on from the mark as if nothing had been written */
    assert_int_equal(eas_enc_empty(&e, EAS_AS_MOREAVAILABLE), 0);
    assert_int_equal(eas_enc_end(&e), 0);
    assert_int_equal(eas_enc_end(&e), 0);
    assert_int_equal(eas_enc_finish(&e), 0);
    ASSERT_BYTES(&out, HDR "\x45\x56\x14\x01\x01");
    /* a mark before the root: rewinding there undoes the root too */
    buf_reset(&out);
    assert_int_equal(eas_enc_begin(&e, &out), 0);
    m = eas_enc_mark(&e);
    assert_int_equal(eas_enc_start(&e, EAS_CAL_SUBJECT), 0);
    eas_enc_rewind(&e, m);
    assert_false(e.rooted);
    assert_int_equal(e.page, 0);
    assert_int_equal(eas_enc_finish(&e), -1);
    ASSERT_BYTES(&out, HDR);
    buf_deinit(&out);
}

static void test_wbxml_encoder_splices_a_fragment_from_page_0(void **state)
{
    (void)state;
    struct buf frag;
    buf_init(&frag, OUT_LIMIT);
    struct eas_wbxml_enc f;
    assert_int_equal(eas_enc_begin(&f, &frag), 0);
    assert_int_equal(eas_enc_start(&f, EAS_AS_ADD), 0); /* page 0 */
    assert_int_equal(eas_enc_cstr(&f, EAS_AS_SERVERID, "1"), 0);
    assert_int_equal(eas_enc_cstr(&f, EAS_CAL_SUBJECT, "s"), 0); /* 00 04 */
    assert_int_equal(eas_enc_end(&f), 0);
    assert_int_equal(eas_enc_page(&f), EAS_TAG_PAGE(EAS_CAL_SUBJECT));
    struct buf out;
    buf_init(&out, OUT_LIMIT);
    struct eas_wbxml_enc e;
    assert_int_equal(eas_enc_begin(&e, &out), 0);
    assert_int_equal(eas_enc_start(&e, EAS_AS_SYNC), 0);
    assert_int_equal(eas_enc_start(&e, EAS_AS_APPLICATIONDATA), 0);
    assert_int_equal(eas_enc_cstr(&e, EAS_CAL_LOCATION, "l"), 0); /* 00 04: not on page 0 */
    assert_int_equal(eas_enc_splice(&e, frag.data + 4, frag.len - 4, eas_enc_page(&f)), 0);
    assert_int_equal(eas_enc_page(&e), EAS_TAG_PAGE(EAS_CAL_SUBJECT));
    assert_int_equal(eas_enc_cstr(&e, EAS_CAL_SUBJECT, "t"), 0); /* same page: no switch */
    assert_int_equal(eas_enc_end(&e), 0);
    assert_int_equal(eas_enc_end(&e), 0);
    assert_int_equal(eas_enc_finish(&e), 0);
    ASSERT_BYTES(&out, HDR "\x45\x5d\x00\x04\x57\x03l\x00\x01"
                           "\x00\x00\x47\x4d\x03\x31\x00\x01\x00\x04\x66\x03s\x00\x01\x01"
                           "\x66\x03t\x00\x01\x01\x01");
    buf_deinit(&out);
    buf_deinit(&frag);
}

static void test_wbxml_encoder_writes_numbers_empty_text_and_opaque(void **state)
{
    (void)state;
    struct buf out;
    buf_init(&out, OUT_LIMIT);
    struct eas_wbxml_enc e;
    assert_int_equal(eas_enc_begin(&e, &out), 0);
    assert_int_equal(eas_enc_start(&e, EAS_AS_SYNC), 0);
    assert_int_equal(eas_enc_uint(&e, EAS_AS_STATUS, 0), 0);
    assert_int_equal(eas_enc_uint(&e, EAS_AS_LIMIT, UINT64_MAX), 0);
    assert_int_equal(eas_enc_text(&e, EAS_AS_SYNCKEY, "", 0), 0);
    assert_int_equal(eas_enc_opaque(&e, EAS_AS_SERVERID, "a\0b", 3), 0);
    assert_int_equal(eas_enc_opaque(&e, EAS_AS_CLIENTID, "", 0), 0);
    assert_int_equal(eas_enc_end(&e), 0);
    assert_int_equal(eas_enc_finish(&e), 0);
    ASSERT_BYTES(&out, HDR "\x45\x4e\x03\x30\x00\x01\x65\x03"
                           "18446744073709551615\x00\x01\x0b\x4d\xc3\x03"
                           "a\x00"
                           "b\x01\x0c\x01");

    /* §2.1: 200 is 81 48 as an mb_u_int32. */
    char blob[200];
    memset(blob, 'x', sizeof(blob));
    buf_reset(&out);
    assert_int_equal(eas_enc_begin(&e, &out), 0);
    assert_int_equal(eas_enc_opaque(&e, EAS_ASB_CONTENT, blob, sizeof(blob)), 0);
    assert_int_equal(eas_enc_finish(&e), 0);
    assert_int_equal(out.len, 4 + 2 + 1 + 1 + 2 + 200 + 1);
    assert_memory_equal(out.data, HDR "\x00\x11\x5f\xc3\x81\x48", 10);
    assert_int_equal(out.data[out.len - 1], 0x01);
    buf_deinit(&out);
}

static void test_wbxml_encoder_refuses_nul_and_misuse(void **state)
{
    (void)state;
    struct buf out;
    buf_init(&out, OUT_LIMIT);
    struct eas_wbxml_enc e;
    assert_int_equal(eas_enc_begin(&e, &out), 0);
    assert_int_equal(eas_enc_start(&e, EAS_AS_SYNC), 0);
    size_t before = out.len;
    assert_int_equal(eas_enc_text(&e, EAS_AS_SYNCKEY, "a\0b", 3), -1);
    assert_int_equal(out.len, before);
    /* Sticky: nothing more is written, and finish fails. */
    assert_int_equal(eas_enc_end(&e), -1);
    assert_int_equal(out.len, before);
    assert_int_equal(eas_enc_finish(&e), -1);

    assert_int_equal(eas_enc_begin(&e, &out), 0); /* begin resets, appending a new header */
    assert_int_equal(eas_enc_cstr(&e, EAS_AS_SYNCKEY, NULL), -1);

    buf_reset(&out);
    assert_int_equal(eas_enc_begin(&e, &out), 0);
    assert_int_equal(eas_enc_finish(&e), -1); /* no root */
    assert_int_equal(eas_enc_end(&e), -1);    /* nothing open */

    buf_reset(&out);
    assert_int_equal(eas_enc_begin(&e, &out), 0);
    assert_int_equal(eas_enc_start(&e, EAS_AS_SYNC), 0);
    assert_int_equal(eas_enc_finish(&e), -1); /* still open */
    assert_int_equal(eas_enc_end(&e), 0);
    assert_int_equal(eas_enc_finish(&e), 0);
    assert_int_equal(eas_enc_empty(&e, EAS_AS_SYNC), -1); /* a second root */
    assert_int_equal(eas_enc_finish(&e), -1);
    buf_deinit(&out);
}

static void test_wbxml_encoder_stops_at_the_buf_limit_writing_nothing(void **state)
{
    (void)state;
    /* Header (4) + Sync (1) + SyncKey "12" (6) + END (1) = 12 bytes. */
    for (size_t limit = 0; limit <= 12; limit++) {
        struct buf out;
        buf_init(&out, limit);
        struct eas_wbxml_enc e;
        int rc = eas_enc_begin(&e, &out);
        size_t ok_len = rc == 0 ? 4 : 0;
        if (rc == 0 && eas_enc_start(&e, EAS_AS_SYNC) == 0) {
            ok_len = 5;
            if (eas_enc_cstr(&e, EAS_AS_SYNCKEY, "12") == 0) {
                ok_len = 11;
                if (eas_enc_end(&e) == 0) {
                    ok_len = 12;
                }
            }
        }
        /* Each call is all or nothing: the output stops at a call boundary within limit. */
        assert_int_equal(out.len, ok_len);
        assert_true(out.len <= limit);
        assert_int_equal(eas_enc_finish(&e), limit == 12 ? 0 : -1);
        if (limit < 4) {
            assert_int_equal(ok_len, 0);
        } else if (limit < 5) {
            assert_int_equal(ok_len, 4);
        } else if (limit < 11) {
            assert_int_equal(ok_len, 5);
        } else if (limit < 12) {
            assert_int_equal(ok_len, 11);
        }
        buf_deinit(&out);
    }
}

/* Re-encodes a decoded tree (no empty elements with content in these bodies). */
static void encode_node(struct eas_wbxml_enc *e, const struct eas_node *n)
{
    if (n->text) {
        int rc = n->opaque ? eas_enc_opaque(e, n->tag, n->text, n->len)
                           : eas_enc_text(e, n->tag, n->text, n->len);
        assert_int_equal(rc, 0);
    } else if (!n->child) {
        assert_int_equal(eas_enc_empty(e, n->tag), 0);
    } else {
        assert_int_equal(eas_enc_start(e, n->tag), 0);
        for (const struct eas_node *c = n->child; c; c = c->next) {
            encode_node(e, c);
        }
        assert_int_equal(eas_enc_end(e), 0);
    }
}

static void test_wbxml_golden_bodies_reencode_byte_for_byte(void **state)
{
    (void)state;
    static const struct slice golden[] = {
        DOC(HDR "\x00\x07\x56\x52\x03\x30\x00\x01\x01"),
        DOC(HDR "\x00\x0d\x45\x48\x03\x34\x38\x30\x00\x01\x49\x4a\x4b\x03\x63\x31\x00\x01"
                "\x4c\x03\x43\x61\x6c\x65\x6e\x64\x61\x72\x00\x01\x01\x01\x01"),
        DOC(HDR "\x45\x5c\x4f\x4b\x03"
                "1\x00\x01\x52\x03"
                "c1\x00\x01\x56\x47\x4d\x03"
                "s1\x00\x01\x5d\x00\x04\x66\x03"
                "x\x00\x01\x00\x11\x4a\x46\x03"
                "1\x00\x01\x01\x01\x01\x01\x00\x00\x13\x14\x01\x01\x01"),
    };
    for (size_t i = 0; i < ALM_ARRAY_LEN(golden); i++) {
        struct arena *a = arena_create();
        struct eas_tree *t = eas_tree_new(a, NULL, NULL);
        struct eas_wbxml_dec *d = eas_wbxml_dec_new(a, NULL, eas_tree_handler(), t);
        struct err e;
        err_init(&e);
        assert_int_equal(eas_wbxml_feed(d, golden[i].ptr, golden[i].len, &e), 0);
        assert_int_equal(eas_wbxml_finish(d, &e), 0);
        struct buf out;
        buf_init(&out, OUT_LIMIT);
        struct eas_wbxml_enc enc;
        assert_int_equal(eas_enc_begin(&enc, &out), 0);
        encode_node(&enc, eas_tree_root(t));
        assert_int_equal(eas_enc_finish(&enc), 0);
        assert_bytes(&out, golden[i].ptr, golden[i].len);
        buf_deinit(&out);
        arena_destroy(&a);
    }
}

/* --- XML dump ---------------------------------------------------------------------------- */

static void test_wbxml_to_xml_declares_namespaces_on_the_root(void **state)
{
    (void)state;

    static const struct {
        struct slice doc;
        const char *xml;
    } cases[] = {
        {DOC(HDR "\x00\x07\x56\x52\x03"
                 "0\x00\x01\x01"),
         "<FolderSync xmlns=\"FolderHierarchy\"><SyncKey>0</SyncKey></FolderSync>"},
        {DOC(HDR "\x05"), "<Sync xmlns=\"AirSync\"/>"},
        {DOC(HDR "\x45\x5d\x00\x11\x4a\x46\x03"
                 "1\x00\x01\x01\x00\x04\x66\x03"
                 "a<b>&c\x00\x01\x4d\x03\x01"
                 "\xff\xc3\xa9\r\x00\x01\x00\x00\x01\x13\x4d\xc3\x03"
                 "\x00\x01\x02\x01\x01"),
         "<Sync xmlns=\"AirSync\" xmlns:calendar=\"Calendar\" xmlns:airsyncbase=\"AirSyncBase\">"
         "<ApplicationData><airsyncbase:Body><airsyncbase:Type>1</airsyncbase:Type>"
         "</airsyncbase:Body><calendar:Subject>a&lt;b&gt;&amp;c</calendar:Subject>"
         "<calendar:BusyStatus>\xef\xbf\xbd\xef\xbf\xbd\xc3\xa9&#13;</calendar:BusyStatus>"
         "</ApplicationData><GetChanges/><ServerId>AAEC</ServerId></Sync>"},
    };

    for (size_t i = 0; i < ALM_ARRAY_LEN(cases); i++) {
        struct buf out;
        buf_init(&out, OUT_LIMIT);
        struct err e;
        err_init(&e);
        if (eas_wbxml_to_xml(cases[i].doc.ptr, cases[i].doc.len, &out, &e) != 0) {
            fail_msg("case %zu: %s", i, e.msg);
        }
        assert_string_equal(buf_cstr(&out), cases[i].xml);
        buf_deinit(&out);
    }
}

static void test_wbxml_to_xml_reports_bad_input_and_a_full_buffer(void **state)
{
    (void)state;
    struct buf out;
    buf_init(&out, 20);
    struct err e;
    err_init(&e);
    assert_int_equal(eas_wbxml_to_xml(HDR "\x45", 5, &out, &e), -1);
    assert_ptr_equal(e.cond, &eas_cond_bad_wbxml);
    err_init(&e);
    static const char doc[] = HDR "\x00\x07\x56\x52\x03"
                                  "0\x00\x01\x01";
    assert_int_equal(eas_wbxml_to_xml(doc, sizeof(doc) - 1, &out, &e), -1);
    assert_ptr_equal(e.cond, &err_cond_limit);
    buf_deinit(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wbxml_decodes_valid_bodies_alike_in_every_chunking),
        cmocka_unit_test(test_wbxml_rejects_invalid_bodies_in_every_chunking),
        cmocka_unit_test(test_wbxml_default_limits_are_those_of_the_brief),
        cmocka_unit_test(test_wbxml_error_messages_name_the_fault),
        cmocka_unit_test(test_wbxml_callback_failure_stops_the_feed_and_sticks),
        cmocka_unit_test(test_wbxml_counts_skipped_subtrees_for_the_log),
        cmocka_unit_test(test_wbxml_decodes_the_quoted_ms_aswbxml_prefix),
        cmocka_unit_test(test_wbxml_text_limit_holds_across_chunks),
        cmocka_unit_test(test_wbxml_token_numbers_match_the_brief),
        cmocka_unit_test(test_wbxml_page_names_are_the_spec_namespaces),
        cmocka_unit_test(test_wbxml_lookup_takes_both_namespace_spellings),
        cmocka_unit_test(test_wbxml_encoder_writes_the_worked_examples),
        cmocka_unit_test(test_wbxml_encoder_switches_page_only_when_it_changes),
        cmocka_unit_test(test_wbxml_encoder_rewinds_to_a_mark),
        cmocka_unit_test(test_wbxml_encoder_splices_a_fragment_from_page_0),
        cmocka_unit_test(test_wbxml_encoder_writes_numbers_empty_text_and_opaque),
        cmocka_unit_test(test_wbxml_encoder_refuses_nul_and_misuse),
        cmocka_unit_test(test_wbxml_encoder_stops_at_the_buf_limit_writing_nothing),
        cmocka_unit_test(test_wbxml_golden_bodies_reencode_byte_for_byte),
        cmocka_unit_test(test_wbxml_to_xml_declares_namespaces_on_the_root),
        cmocka_unit_test(test_wbxml_to_xml_reports_bad_input_and_a_full_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
