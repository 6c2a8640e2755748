/* eas/wbxml.h: the ActiveSync WBXML codec (MS-ASWBXML over WAP WBXML 1.3; brief
 * activesync.md §2). A streaming push decoder that turns body chunks into (tag, text)
 * callbacks, an encoder that appends to a struct buf, the code-page and tag names of
 * eas/tokens.def, and a readable XML dump for logs and tests. A tag is one unsigned,
 * (page << 8) | token, as the constants of enum eas_tag are. Knows nothing of commands,
 * HTTP or the store. Not thread-safe: one decoder or encoder per request. */
#ifndef ALMANAC_EAS_WBXML_H
#define ALMANAC_EAS_WBXML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/arena.h"
#include "util/buf.h"
#include "util/err.h"

#define ERR_COND(sym, name, ns, http, eas) ERR_COND_DECLARE(sym, name, ns, http, eas)
#include "eas/conds.def"
#undef ERR_COND

/* The code pages, EAS_PAGE_AIRSYNC = 0 ... EAS_PAGE_FIND = 25 (§2.2). */
enum eas_page {
#define EAS_PAGE(num, sym, ns) sym = (num),
#include "eas/tokens.def"
#undef EAS_PAGE
    EAS_PAGE_COUNT = 26,
};

/* Every tag of eas/tokens.def: EAS_AS_SYNC = 0x0005, EAS_CAL_TIMEZONE = 0x0405, ... */
enum eas_tag {
#define EAS_TAG(page, tok, sym, name) sym = ((page) << 8) | (tok),
#include "eas/tokens.def"
#undef EAS_TAG
};

#define EAS_TAG_PAGE(tag)       ((unsigned)(tag) >> 8)
#define EAS_TAG_TOKEN(tag)      ((unsigned)(tag)&0x3Fu)
#define EAS_TAG_MAKE(page, tok) (((unsigned)(page) << 8) | (unsigned)(tok))

/* --- names --------------------------------------------------------------------------- */

/* The spec name of `tag` ("Timezone", "SyncKey"), or NULL when tokens.def has no such tag.
 * Static storage. */
const char *eas_tag_name(unsigned tag);

/* The namespace name of code page `page` ("AirSync", "Calendar"), or NULL above 25. Static
 * storage. */
const char *eas_page_name(unsigned page);

/* Finds the tag named `name` on the page whose namespace is `ns`; `ns` may carry libwbxml's
 * trailing colon ("Calendar:"). Names compare exactly (case-sensitive). Returns 0 with
 * *tag_out set, or -1 when there is no such page or tag. O(tags of the page). */
int eas_tag_lookup(const char *ns, const char *name, unsigned *tag_out);

/* --- decoder ------------------------------------------------------------------------- */

/* Streaming push decoder. Callbacks get tag = (page << 8) | token; each returns 0, or -1
 * with `err` set to stop the decode (eas_wbxml_feed then returns -1 with that error). */
struct eas_wbxml_handler {
    /* An element begins; has_content false for an empty element (<GetChanges/>), which gets
     * no text and then end() at once. */
    int (*start)(void *ctx, unsigned tag, bool has_content, struct err *err);
    /* The element's whole text: all consecutive STR_I/OPAQUE pieces concatenated (even
     * across feed() chunk boundaries), delivered once, just before end(); NUL-terminated
     * copy valid only during the call; opaque true if any piece was OPAQUE. Not called for
     * elements without text, nor when the pieces are all empty (n is never 0). OPAQUE
     * bytes may include NUL; STR_I bytes never do. */
    int (*text)(void *ctx, unsigned tag, const char *p, size_t n, bool opaque, struct err *err);
    int (*end)(void *ctx, unsigned tag, struct err *err);
};

/* The decoder's limits (§2.1 rule 6). Violations set eas_cond_wbxml_limit. */
struct eas_wbxml_limits {
    unsigned max_depth;         /* element nesting, root = 1 */
    size_t max_text;            /* bytes of STR_I text in one element */
    size_t max_opaque;          /* bytes of text in one element once a piece is OPAQUE */
    unsigned long max_elements; /* elements in the document, skipped ones included */
};

/* Defaults: depth 32, text 1 MiB, opaque 16 MiB, 1,000,000 elements. */
enum {
    EAS_WBXML_MAX_DEPTH = 32,         /* §2.1 rule 6 */
    EAS_WBXML_MAX_TEXT = 1 << 20,     /* §2.1 rule 6: STR_I <= 1 MiB */
    EAS_WBXML_MAX_OPAQUE = 16 << 20,  /* a MIME body or attachment piece */
    EAS_WBXML_MAX_ELEMENTS = 1000000, /* a Sync of many client changes */
};

void eas_wbxml_limits_default(struct eas_wbxml_limits *l);

struct eas_wbxml_dec;

/* Creates a decoder in `arena` (its text buffer is released through arena_defer when the
 * arena is destroyed). `lim` is copied; NULL means the defaults. `h` and `ctx` are borrowed
 * for the decoder's life. Never fails (allocation failure aborts). */
struct eas_wbxml_dec *eas_wbxml_dec_new(struct arena *arena,
                                        const struct eas_wbxml_limits *lim,
                                        const struct eas_wbxml_handler *h,
                                        void *ctx);

/* Feeds the next `n` bytes of the body. Any chunking, down to one byte at a time, gives the
 * same callbacks in the same order. Returns 0, or -1 with `err` set: eas_cond_bad_wbxml (400,
 * Status 102) for a bad header (version other than 1.1-1.3, public id other than 1, charset
 * other than UTF-8, a string table), a token EAS does not use (ENTITY, LITERAL*, EXT*, PI,
 * STR_T), the attribute bit, a code page above 25, an mb_u_int32 over 5 bytes or 2^32-1,
 * END or text outside an element, text mixed with child elements, an unknown root element,
 * or bytes after the root; eas_cond_wbxml_limit (400, Status 103) past a limit; or what a
 * callback set. Unknown tags of a known page, and every tag of a page without a table, are
 * skipped with their subtree, without callbacks but within the limits (§2.1 rule 5). After
 * -1, further calls return -1 with the same error. */
int eas_wbxml_feed(struct eas_wbxml_dec *d, const void *p, size_t n, struct err *err);

/* Ends the body: 0 once exactly one root element has closed; -1 with eas_cond_bad_wbxml
 * when the body is truncated (header, varint, string or open elements) or has no root. */
int eas_wbxml_finish(struct eas_wbxml_dec *d, struct err *err);

/* Elements skipped so far (unknown tags and tags of pages without a table, each counted once
 * with its subtree), and in *first_tag_out (when not NULL) the first of them, 0 if none: for
 * the command to log once (§2.1 rule 5). */
unsigned long eas_wbxml_skipped(const struct eas_wbxml_dec *d, unsigned *first_tag_out);

/* --- encoder ------------------------------------------------------------------------- */

/* Appends one WBXML document to `out`. The buf's limit bounds the output: every call
 * returns 0, or -1 when the buf would pass its limit, and then writes nothing at all (each
 * call is all or nothing). A refusal is sticky: later calls and eas_enc_finish return -1.
 * The caller may drain and reset `out` between calls (streamed responses): the encoder only
 * appends. Tags must be valid (page <= 25, token 0x05-0x3F); asserted. */
struct eas_wbxml_enc {
    struct buf *out; /* borrowed */
    unsigned page;   /* current code page (§2.1 rule 1: persists across elements) */
    unsigned depth;  /* open elements */
    bool rooted;     /* the root element has been started */
    bool failed;     /* a call was refused; every later call fails */
};

/* Resets *e and writes the header 03 01 6A 00 (WBXML 1.3, no public id, UTF-8, no string
 * table). */
int eas_enc_begin(struct eas_wbxml_enc *e, struct buf *out);

/* Opens an element with content; SWITCH_PAGE only when its page differs from the current
 * one. -1 also for a second root element. */
int eas_enc_start(struct eas_wbxml_enc *e, unsigned tag);

/* An element without content (<GetChanges/>). */
int eas_enc_empty(struct eas_wbxml_enc *e, unsigned tag);

/* END of the innermost open element; -1 when none is open. */
int eas_enc_end(struct eas_wbxml_enc *e);

/* <Tag>STR_I</Tag>; n == 0 writes <Tag/>. Refuses (-1) text containing NUL, which STR_I
 * cannot carry. The bytes are written as they are (UTF-8 is the caller's promise). */
int eas_enc_text(struct eas_wbxml_enc *e, unsigned tag, const char *s, size_t n);

/* eas_enc_text of a C string; -1 for NULL. */
int eas_enc_cstr(struct eas_wbxml_enc *e, unsigned tag, const char *s);

/* eas_enc_text of `v` in decimal. */
int eas_enc_uint(struct eas_wbxml_enc *e, unsigned tag, uint64_t v);

/* <Tag>OPAQUE</Tag> with the raw bytes (which may hold NUL); n == 0 writes <Tag/>. */
int eas_enc_opaque(struct eas_wbxml_enc *e, unsigned tag, const void *p, size_t n);

/* Returns 0 when one root element was written and closed and no call failed, else -1. */
int eas_enc_finish(struct eas_wbxml_enc *e);

/* A point in the encoder's output to come back to (eas_enc_mark); its fields are the
 * encoder's, not the caller's. */
struct eas_enc_mark {
    size_t len;
    unsigned page;
    unsigned depth;
    bool rooted;
};

/* The current point: the output's length, the code page and the open elements. */
struct eas_enc_mark eas_enc_mark(const struct eas_wbxml_enc *e);

/* Undoes what was written since `m` (taken on this encoder, `out` not drained since): the
 * output is cut back to the mark and the page, the open elements and whether the root was
 * started are as they were there, so
 * a partly written element leaves no trace. A refusal stays sticky. */
void eas_enc_rewind(struct eas_wbxml_enc *e, struct eas_enc_mark m);

/* The current code page (what a fragment encoded on its own ends on, for eas_enc_splice). */
unsigned eas_enc_page(const struct eas_wbxml_enc *e);

/* Appends n bytes of balanced WBXML body encoded elsewhere (a stored fragment, without the
 * document header) that start on code page 0 and end on `end_page`: a SWITCH_PAGE to 0 first
 * when the current page is another, then the bytes; the current page is then `end_page`.
 * -1 when `out` refuses. */
int eas_enc_splice(struct eas_wbxml_enc *e, const void *p, size_t n, unsigned end_page);

/* --- dump ---------------------------------------------------------------------------- */

/* Decodes the document p[0..n) (default limits) and appends it to `out` as one line of
 * XML: the root's page is the default namespace and every other page used gets a prefix,
 * the lower-cased namespace name, declared on the root, e.g.
 * <Sync xmlns="AirSync" xmlns:calendar="Calendar"><calendar:Subject>x</calendar:Subject>...
 * Text is XML-escaped (bytes that are not UTF-8, or are control characters XML forbids,
 * become U+FFFD); OPAQUE text is written as base64. Skipped elements do not appear.
 * Returns 0, or -1 with err set: the decoder's conditions, or err_cond_limit when `out`
 * refuses (what was appended before stays). For logs and tests. */
int eas_wbxml_to_xml(const void *p, size_t n, struct buf *out, struct err *err);

#endif
