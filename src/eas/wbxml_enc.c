/* eas/wbxml_enc.c: the WBXML encoder (see wbxml.h; brief activesync.md §2.1). Appends to a
 * struct buf whose limit bounds the output. Each call first computes the bytes it will
 * write and checks them against the room left, so a refused call leaves the buffer as it
 * was. Text is always STR_I except where the caller asks for OPAQUE (§2.1 rule 3: calendar
 * data, the Timezone blob included, travels as STR_I). */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "eas/wbxml.h"

enum {
    ENC_SWITCH_PAGE = 0x00,
    ENC_END = 0x01,
    ENC_STR_I = 0x03,
    ENC_OPAQUE = 0xC3,
    ENC_CONTENT = 0x40,
    ENC_VARINT_MAX = 5,
    ENC_UINT_DIGITS = 21, /* 2^64-1 in decimal, with the NUL */
};

/* The header of §2.1: WBXML 1.3, public id 1 (unknown), charset 106 (UTF-8), no string
 * table. */
static const uint8_t enc_header[] = {0x03, 0x01, 0x6A, 0x00};

static void assert_tag(unsigned tag)
{
    assert(EAS_TAG_PAGE(tag) < EAS_PAGE_COUNT);
    assert((tag & 0xFFu) >= 0x05 && (tag & 0xFFu) <= 0x3F);
    (void)tag;
}

/* Whether `need` more bytes fit; a refusal is sticky. */
static bool room(struct eas_wbxml_enc *e, size_t need)
{
    if (e->failed || e->out->len > e->out->limit || need > e->out->limit - e->out->len) {
        e->failed = true;
        return false;
    }
    return true;
}

/* Appends bytes that room() has already accepted. */
static void put(struct eas_wbxml_enc *e, const void *p, size_t n)
{
    int rc = buf_append(e->out, p, n);
    assert(rc == 0);
    (void)rc;
}

/* Bytes of the SWITCH_PAGE that `tag` needs now. */
static size_t switch_len(const struct eas_wbxml_enc *e, unsigned tag)
{
    return EAS_TAG_PAGE(tag) != e->page ? 2 : 0;
}

/* SWITCH_PAGE if needed, then the tag byte. */
static void put_tag(struct eas_wbxml_enc *e, unsigned tag, bool content)
{
    if (EAS_TAG_PAGE(tag) != e->page) {
        uint8_t sw[2] = {ENC_SWITCH_PAGE, (uint8_t)EAS_TAG_PAGE(tag)};
        put(e, sw, sizeof(sw));
        e->page = EAS_TAG_PAGE(tag);
    }
    uint8_t b = (uint8_t)((tag & 0x3Fu) | (content ? ENC_CONTENT : 0));
    put(e, &b, 1);
}

/* A new element may begin: inside the root, or as the one root. */
static bool may_open(struct eas_wbxml_enc *e)
{
    if (e->failed || (e->rooted && e->depth == 0)) {
        e->failed = true;
        return false;
    }
    return true;
}

int eas_enc_begin(struct eas_wbxml_enc *e, struct buf *out)
{
    *e = (struct eas_wbxml_enc){.out = out};
    if (!room(e, sizeof(enc_header))) {
        return -1;
    }
    put(e, enc_header, sizeof(enc_header));
    return 0;
}

int eas_enc_start(struct eas_wbxml_enc *e, unsigned tag)
{
    assert_tag(tag);
    if (!may_open(e) || !room(e, switch_len(e, tag) + 1)) {
        return -1;
    }
    put_tag(e, tag, true);
    e->rooted = true;
    e->depth++;
    return 0;
}

int eas_enc_empty(struct eas_wbxml_enc *e, unsigned tag)
{
    assert_tag(tag);
    if (!may_open(e) || !room(e, switch_len(e, tag) + 1)) {
        return -1;
    }
    put_tag(e, tag, false);
    e->rooted = true;
    return 0;
}

int eas_enc_end(struct eas_wbxml_enc *e)
{
    if (e->depth == 0) {
        e->failed = true;
        return -1;
    }
    if (!room(e, 1)) {
        return -1;
    }
    uint8_t b = ENC_END;
    put(e, &b, 1);
    e->depth--;
    return 0;
}

int eas_enc_text(struct eas_wbxml_enc *e, unsigned tag, const char *s, size_t n)
{
    assert_tag(tag);
    if (n == 0) {
        return eas_enc_empty(e, tag);
    }
    if (memchr(s, '\0', n)) {
        e->failed = true; /* STR_I ends at NUL (§2.1 rule 2) */
        return -1;
    }
    /* tag, STR_I, bytes, NUL, END */
    if (!may_open(e) || n > SIZE_MAX - 8 || !room(e, switch_len(e, tag) + n + 4)) {
        return -1;
    }
    put_tag(e, tag, true);
    uint8_t str_i = ENC_STR_I, tail[2] = {0x00, ENC_END};
    put(e, &str_i, 1);
    put(e, s, n);
    put(e, tail, sizeof(tail));
    e->rooted = true;
    return 0;
}

int eas_enc_cstr(struct eas_wbxml_enc *e, unsigned tag, const char *s)
{
    if (!s) {
        e->failed = true;
        return -1;
    }
    return eas_enc_text(e, tag, s, strlen(s));
}

int eas_enc_uint(struct eas_wbxml_enc *e, unsigned tag, uint64_t v)
{
    char digits[ENC_UINT_DIGITS];
    int n = snprintf(digits, sizeof(digits), "%" PRIu64, v);
    assert(n > 0 && (size_t)n < sizeof(digits));
    return eas_enc_text(e, tag, digits, (size_t)n);
}

/* mb_u_int32 of v into out (at most 5 bytes); returns its length. */
static size_t varint(uint32_t v, uint8_t out[ENC_VARINT_MAX])
{
    uint8_t rev[ENC_VARINT_MAX];
    size_t n = 0;
    do {
        rev[n++] = (uint8_t)(v & 0x7Fu);
        v >>= 7;
    } while (v != 0);
    for (size_t i = 0; i < n; i++) {
        out[i] = (uint8_t)(rev[n - 1 - i] | (i + 1 < n ? 0x80u : 0));
    }
    return n;
}

int eas_enc_opaque(struct eas_wbxml_enc *e, unsigned tag, const void *p, size_t n)
{
    assert_tag(tag);
    if (n == 0) {
        return eas_enc_empty(e, tag);
    }
    if (n > UINT32_MAX) {
        e->failed = true;
        return -1;
    }
    uint8_t len[ENC_VARINT_MAX];
    size_t len_n = varint((uint32_t)n, len);
    /* tag, OPAQUE, length, bytes, END */
    if (!may_open(e) || !room(e, switch_len(e, tag) + 3 + len_n + n)) {
        return -1;
    }
    put_tag(e, tag, true);
    uint8_t op = ENC_OPAQUE, end = ENC_END;
    put(e, &op, 1);
    put(e, len, len_n);
    put(e, p, n);
    put(e, &end, 1);
    e->rooted = true;
    return 0;
}

int eas_enc_finish(struct eas_wbxml_enc *e)
{
    return e->failed || !e->rooted || e->depth != 0 ? -1 : 0;
}

struct eas_enc_mark eas_enc_mark(const struct eas_wbxml_enc *e)
{
    return (struct eas_enc_mark){
        .len = e->out->len, .page = e->page, .depth = e->depth, .rooted = e->rooted};
}

void eas_enc_rewind(struct eas_wbxml_enc *e, struct eas_enc_mark m)
{
    assert(m.len <= e->out->len);
    e->out->len = m.len;
    if (e->out->data) {
        e->out->data[m.len] = '\0';
    }
    e->page = m.page;
    e->depth = m.depth;
    e->rooted = m.rooted;
}

unsigned eas_enc_page(const struct eas_wbxml_enc *e)
{
    return e->page;
}

int eas_enc_splice(struct eas_wbxml_enc *e, const void *p, size_t n, unsigned end_page)
{
    static const char page0[2] = {ENC_SWITCH_PAGE, 0x00};
    int rc = 0;
    if (e->page != 0) {
        rc |= buf_append(e->out, page0, sizeof(page0));
    }
    rc |= buf_append(e->out, p, n);
    e->page = end_page;
    return rc;
}
