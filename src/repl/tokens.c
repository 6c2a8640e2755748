/* repl/tokens.c: repl-uid, resourcetag and collblob encodings, and the tag set
 * (exchange-replication.md §1.2, §1.3, §1.6). */
#include "repl/tokens.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/sec.h"

static void put48(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 6; i++) {
        p[i] = (uint8_t)(v >> (8 * (5 - i)));
    }
}

static uint64_t get48(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 6; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * (7 - i)));
    }
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

void repl_uid_format(const uint8_t guid[REPL_GUID_BYTES], uint64_t id, char out[REPL_UID_LEN + 1])
{
    uint8_t raw[22];
    memcpy(raw, guid, REPL_GUID_BYTES);
    put48(raw + 16, id);
    memcpy(out, "rid:", 4);
    sec_hex(raw, sizeof(raw), out + 4);
}

void repl_tag_format(const uint8_t guid[REPL_GUID_BYTES],
                     uint64_t id,
                     const uint8_t change_guid[REPL_GUID_BYTES],
                     uint64_t modseq,
                     char out[REPL_TAG_LEN + 1])
{
    uint8_t raw[44];
    memcpy(raw, guid, REPL_GUID_BYTES);
    put48(raw + 16, id);
    memcpy(raw + 22, change_guid, REPL_GUID_BYTES);
    put48(raw + 38, modseq);
    memcpy(out, "rt:", 3);
    sec_hex(raw, sizeof(raw), out + 3);
}

/* Trims, checks the prefix (any case) and decodes exactly n bytes of hex. */
static bool decode_prefixed(struct slice text, struct slice prefix, uint8_t *raw, size_t n)
{
    struct slice t = slice_trim(text);
    if (t.len != prefix.len + 2 * n || !slice_eq_ci((struct slice){t.ptr, prefix.len}, prefix)) {
        return false;
    }
    return sec_unhex((struct slice){t.ptr + prefix.len, 2 * n}, raw, n) == 0;
}

enum repl_tag_rc
repl_tag_parse(struct slice text, const uint8_t guid[REPL_GUID_BYTES], struct repl_tag *out)
{
    uint8_t raw[44];
    if (!decode_prefixed(text, SLICE_LIT("rt:"), raw, sizeof(raw))) {
        return REPL_TAG_MALFORMED;
    }
    if (memcmp(raw, guid, REPL_GUID_BYTES) != 0) {
        return REPL_TAG_FOREIGN;
    }
    out->id = get48(raw + 16);
    memcpy(out->change_guid, raw + 22, REPL_GUID_BYTES);
    out->modseq = get48(raw + 38);
    return REPL_TAG_OURS;
}

enum repl_tag_rc
repl_uid_parse(struct slice text, const uint8_t guid[REPL_GUID_BYTES], uint64_t *id_out)
{
    uint8_t raw[22];
    if (!decode_prefixed(text, SLICE_LIT("rid:"), raw, sizeof(raw))) {
        return REPL_TAG_MALFORMED;
    }
    if (memcmp(raw, guid, REPL_GUID_BYTES) != 0) {
        return REPL_TAG_FOREIGN;
    }
    *id_out = get48(raw + 16);
    return REPL_TAG_OURS;
}

/* ---------------------------------------------------------------------------------------- */
/* collblob */

enum {
    CB_VERSION = 1,
    CB_SIGNED = 60,
    CB_V2_VERSION = 2,
    CB_V2_SIGNED = 92, /* bytes 0-91: the v1 fields, nbounds at 2, four 8-byte bounds at 60 */
};

void repl_collblob_encode(const struct repl_collblob *b,
                          const uint8_t key[REPL_KEY_BYTES],
                          char out[REPL_COLLBLOB_B64 + 1])
{
    uint8_t raw[REPL_COLLBLOB_V2_BYTES];
    memset(raw, 0, sizeof(raw));
    bool v2 = b->nbounds > 0;
    size_t signed_len = v2 ? CB_V2_SIGNED : CB_SIGNED;
    raw[0] = v2 ? CB_V2_VERSION : CB_VERSION;
    raw[1] = b->flags;
    put64(raw + 4, b->principal);
    put64(raw + 12, b->coll);
    put64(raw + 20, b->epoch);
    put64(raw + 28, b->watermark);
    raw[36] = (uint8_t)(b->page >> 24);
    raw[37] = (uint8_t)(b->page >> 16);
    raw[38] = (uint8_t)(b->page >> 8);
    raw[39] = (uint8_t)b->page;
    memcpy(raw + 44, b->query_hash, 16);
    if (v2) {
        raw[2] = b->nbounds;
        for (size_t i = 0; i < b->nbounds && i < REPL_COLLBLOB_BOUNDS; i++) {
            put64(raw + 60 + 8 * i, (uint64_t)b->bounds[i]);
        }
    }
    sec_mac(key, raw, signed_len, raw + signed_len);
    sec_base64(raw, signed_len + 32, out, REPL_COLLBLOB_B64 + 1);
}

int repl_collblob_decode(struct slice text,
                         const uint8_t key[REPL_KEY_BYTES],
                         const uint8_t *prev_key,
                         struct repl_collblob *out,
                         const char **reason_out)
{
    uint8_t raw[REPL_COLLBLOB_V2_BYTES + 1];
    struct slice t = slice_trim(text);
    long n = t.len > REPL_COLLBLOB_TEXT_MAX ? -1 : sec_unbase64(t, raw, sizeof(raw));
    if (n != REPL_COLLBLOB_BYTES && n != REPL_COLLBLOB_V2_BYTES) {
        *reason_out = "bad-encoding";
        return -1;
    }
    bool v2 = n == REPL_COLLBLOB_V2_BYTES;
    if (raw[0] != (v2 ? CB_V2_VERSION : CB_VERSION)) {
        *reason_out = "unsupported-version";
        return -1;
    }
    size_t signed_len = v2 ? CB_V2_SIGNED : CB_SIGNED;
    if (sec_mac_verify(key, raw, signed_len, raw + signed_len) != 0 &&
        (!prev_key || sec_mac_verify(prev_key, raw, signed_len, raw + signed_len) != 0)) {
        *reason_out = "bad-mac";
        return -1;
    }
    if (v2 && (raw[2] == 0 || raw[2] > REPL_COLLBLOB_BOUNDS)) {
        *reason_out = "bad-mac"; /* we never sign such a blob */
        return -1;
    }
    memset(out, 0, sizeof(*out));
    out->version = raw[0];
    out->flags = raw[1];
    out->principal = get64(raw + 4);
    out->coll = get64(raw + 12);
    out->epoch = get64(raw + 20);
    out->watermark = get64(raw + 28);
    out->page =
        ((uint32_t)raw[36] << 24) | ((uint32_t)raw[37] << 16) | ((uint32_t)raw[38] << 8) | raw[39];
    memcpy(out->query_hash, raw + 44, 16);
    if (v2) {
        out->nbounds = raw[2];
        for (size_t i = 0; i < out->nbounds; i++) {
            out->bounds[i] = (int64_t)get64(raw + 60 + 8 * i);
        }
    }
    return 0;
}

void repl_query_hash(struct slice canonical, uint8_t out[16])
{
    uint8_t full[32];
    sec_hash(NULL, 0, canonical.ptr, canonical.len, full);
    memcpy(out, full, 16);
}

/* ---------------------------------------------------------------------------------------- */
/* Tag set */

struct tag_slot {
    uint64_t id; /* 0 = empty (item ids start at 1) */
    uint64_t modseq;
};

struct repl_tagset {
    struct tag_slot *slots;
    size_t cap; /* power of two */
    size_t count;
    size_t max_items;
};

enum {
    TAGSET_INITIAL = 1024
};

/* Fibonacci hashing of the id: consecutive ids spread over the table. */
static size_t slot_of(uint64_t id, size_t cap)
{
    return (size_t)((id * UINT64_C(11400714819323198485)) >> 17) & (cap - 1);
}

struct repl_tagset *repl_tagset_create(size_t max_items)
{
    struct repl_tagset *s = calloc(1, sizeof(*s));
    if (!s) {
        abort();
    }
    s->cap = TAGSET_INITIAL;
    s->slots = calloc(s->cap, sizeof(*s->slots));
    if (!s->slots) {
        abort();
    }
    s->max_items = max_items;
    return s;
}

void repl_tagset_destroy(struct repl_tagset **sp)
{
    struct repl_tagset *s = *sp;
    if (!s) {
        return;
    }
    free(s->slots);
    free(s);
    *sp = NULL;
}

static struct tag_slot *find(struct tag_slot *slots, size_t cap, uint64_t id)
{
    size_t i = slot_of(id, cap);
    while (slots[i].id != 0 && slots[i].id != id) {
        i = (i + 1) & (cap - 1);
    }
    return &slots[i];
}

static void grow(struct repl_tagset *s)
{
    size_t cap = s->cap * 2;
    struct tag_slot *slots = calloc(cap, sizeof(*slots));
    if (!slots) {
        abort();
    }
    for (size_t i = 0; i < s->cap; i++) {
        if (s->slots[i].id != 0) {
            *find(slots, cap, s->slots[i].id) = s->slots[i];
        }
    }
    free(s->slots);
    s->slots = slots;
    s->cap = cap;
}

int repl_tagset_add(struct repl_tagset *s, uint64_t id, uint64_t modseq)
{
    if (id == 0) {
        return 0; /* never a real item */
    }
    struct tag_slot *slot = find(s->slots, s->cap, id);
    if (slot->id == id) {
        if (modseq > slot->modseq) {
            slot->modseq = modseq; /* §1.6.4: the highest listed state wins */
        }
        return 0;
    }
    if (s->count == s->max_items) {
        return -1;
    }
    if (2 * (s->count + 1) > s->cap) {
        grow(s);
        slot = find(s->slots, s->cap, id);
    }
    slot->id = id;
    slot->modseq = modseq;
    s->count++;
    return 0;
}

bool repl_tagset_get(const struct repl_tagset *s, uint64_t id, uint64_t *modseq_out)
{
    if (id == 0) {
        return false;
    }
    const struct tag_slot *slot = find(s->slots, s->cap, id);
    if (slot->id != id) {
        return false;
    }
    *modseq_out = slot->modseq;
    return true;
}

size_t repl_tagset_count(const struct repl_tagset *s)
{
    return s->count;
}

size_t repl_tagset_bytes(const struct repl_tagset *s)
{
    return s->cap * sizeof(struct tag_slot) + sizeof(*s);
}
