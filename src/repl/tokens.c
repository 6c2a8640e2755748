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

/* A listed tag, packed: ids and modseqs are 48-bit in a resourcetag (§1.2), so 12 bytes. */
struct tag_entry {
    uint32_t id_lo;
    uint16_t id_hi;
    uint16_t modseq_hi;
    uint32_t modseq_lo;
};

struct repl_tagset {
    struct tag_entry *v; /* [0, sorted) by id, one per id; [sorted, len) appended since */
    size_t len;
    size_t cap;
    size_t sorted;
    size_t max_items;
    /* The directory of the sorted entries, built by seal(): the entries of ids in bucket b
     * ((id - dir_base) >> dir_shift) are [dir[b], dir[b + 1]). NULL until then. */
    uint32_t *dir;
    uint64_t dir_base;
    unsigned dir_shift;
};

enum {
    TAGSET_INITIAL = 1024,
    TAGSET_DIR_BITS = 16, /* 65,536 buckets: 256 KiB, about 16 entries each at 1,000,000 */
};

static uint64_t entry_id(const struct tag_entry *e)
{
    return (uint64_t)e->id_hi << 32 | e->id_lo;
}

static uint64_t entry_modseq(const struct tag_entry *e)
{
    return (uint64_t)e->modseq_hi << 32 | e->modseq_lo;
}

static void entry_set_modseq(struct tag_entry *e, uint64_t modseq)
{
    e->modseq_hi = (uint16_t)(modseq >> 32);
    e->modseq_lo = (uint32_t)modseq;
}

struct repl_tagset *repl_tagset_create(size_t max_items)
{
    struct repl_tagset *s = calloc(1, sizeof(*s));
    if (!s) {
        abort();
    }
    s->cap = TAGSET_INITIAL;
    s->v = malloc(s->cap * sizeof(*s->v));
    if (!s->v) {
        abort();
    }
    /* the directory's offsets are 32-bit */
    s->max_items = max_items < UINT32_MAX ? max_items : UINT32_MAX - 1;
    return s;
}

void repl_tagset_destroy(struct repl_tagset **sp)
{
    struct repl_tagset *s = *sp;
    if (!s) {
        return;
    }
    free(s->v);
    free(s->dir);
    free(s);
    *sp = NULL;
}

enum {
    TAGSET_SMALL = 32, /* runs this short are sorted by insertion */
};

static void insertion_sort(struct tag_entry *v, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        struct tag_entry e = v[i];
        uint64_t id = entry_id(&e);
        size_t j = i;
        for (; j > 0 && entry_id(&v[j - 1]) > id; j--) {
            v[j] = v[j - 1];
        }
        v[j] = e;
    }
}

/* Sorts the entries by id in place, with no second array (so a list near max_items does not
 * need twice its memory): an MSD radix sort, a byte of the 48-bit id a level from the high
 * end, each level permuting its run into 256 buckets by cycles (American flag sort), short
 * runs by insertion. A run whose entries share the byte costs one counting pass. O(n) per
 * level, six levels at most, recursion six deep with 4 KiB a frame. */
static void sort_by_id(struct tag_entry *v, size_t n, unsigned shift)
{
    if (n <= TAGSET_SMALL) {
        insertion_sort(v, n);
        return;
    }
    size_t count[256] = {0}, next[256];
    for (size_t i = 0; i < n; i++) {
        count[(entry_id(&v[i]) >> shift) & 0xff]++;
    }
    size_t at = 0;
    for (unsigned d = 0; d < 256; d++) {
        next[d] = at;
        at += count[d];
    }
    size_t start = 0;
    for (unsigned d = 0; d < 256; d++) {
        size_t stop = start + count[d];
        while (next[d] < stop) {
            struct tag_entry e = v[next[d]];
            unsigned dd = (unsigned)((entry_id(&e) >> shift) & 0xff);
            while (dd != d) {
                struct tag_entry t = v[next[dd]];
                v[next[dd]++] = e;
                e = t;
                dd = (unsigned)((entry_id(&e) >> shift) & 0xff);
            }
            v[next[d]++] = e;
        }
        start = stop;
    }
    if (shift == 0) {
        return;
    }
    start = 0;
    for (unsigned d = 0; d < 256; d++) {
        if (count[d] > 1) {
            sort_by_id(v + start, count[d], shift - 8);
        }
        start += count[d];
    }
}

/* Sorts the entries by id and merges each id's into one with the highest modseq (§1.6.4).
 * O(n) (sort_by_id), in place. */
static void compact(struct repl_tagset *s)
{
    if (s->sorted == s->len) {
        return;
    }
    sort_by_id(s->v, s->len, 40);
    size_t o = 0;
    for (size_t i = 0; i < s->len; i++) {
        if (o > 0 && entry_id(&s->v[o - 1]) == entry_id(&s->v[i])) {
            if (entry_modseq(&s->v[i]) > entry_modseq(&s->v[o - 1])) {
                entry_set_modseq(&s->v[o - 1], entry_modseq(&s->v[i]));
            }
            continue;
        }
        s->v[o++] = s->v[i];
    }
    s->len = o;
    s->sorted = o;
    free(s->dir);
    s->dir = NULL;
}

/* Compacts and builds the directory, so that a lookup is a bucket and a short binary
 * search. Ids spread over the buckets by value; a list crowded into a few buckets (forged
 * ids) makes its lookups O(log n), never worse. */
static void seal(struct repl_tagset *s)
{
    compact(s);
    if (s->dir || s->len == 0) {
        return;
    }
    s->dir = malloc((((size_t)1 << TAGSET_DIR_BITS) + 1) * sizeof(*s->dir));
    if (!s->dir) {
        abort();
    }
    s->dir_base = entry_id(&s->v[0]);
    uint64_t span = entry_id(&s->v[s->len - 1]) - s->dir_base;
    s->dir_shift = 0;
    while ((span >> s->dir_shift) >= ((uint64_t)1 << TAGSET_DIR_BITS)) {
        s->dir_shift++;
    }
    size_t e = 0;
    for (size_t b = 0; b <= ((size_t)1 << TAGSET_DIR_BITS); b++) {
        while (e < s->len && (entry_id(&s->v[e]) - s->dir_base) >> s->dir_shift < b) {
            e++;
        }
        s->dir[b] = (uint32_t)e;
    }
}

/* The sorted entry of `id`, or NULL. */
static struct tag_entry *lookup(struct repl_tagset *s, uint64_t id)
{
    seal(s);
    if (s->len == 0 || id < s->dir_base) {
        return NULL;
    }
    uint64_t b = (id - s->dir_base) >> s->dir_shift;
    if (b >= ((uint64_t)1 << TAGSET_DIR_BITS)) {
        return NULL;
    }
    size_t lo = s->dir[b], hi = s->dir[b + 1];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint64_t m = entry_id(&s->v[mid]);
        if (m == id) {
            return &s->v[mid];
        }
        if (m < id) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

int repl_tagset_add(struct repl_tagset *s, uint64_t id, uint64_t modseq)
{
    if (id == 0) {
        return 0; /* never a real item */
    }
    if (s->len == s->max_items) {
        /* repeats count until here: merge them, then only a listed id may come in */
        compact(s);
        if (s->len == s->max_items) {
            struct tag_entry *e = lookup(s, id);
            if (!e) {
                return -1;
            }
            if (modseq > entry_modseq(e)) {
                entry_set_modseq(e, modseq);
            }
            return 0;
        }
    }
    if (s->len == s->cap) {
        size_t cap = s->cap * 2 < s->max_items ? s->cap * 2 : s->max_items;
        /* a large block grows by mremap(2): no second copy at the peak */
        struct tag_entry *v = realloc(s->v, cap * sizeof(*v));
        if (!v) {
            abort();
        }
        s->v = v;
        s->cap = cap;
    }
    struct tag_entry *e = &s->v[s->len++];
    e->id_lo = (uint32_t)id;
    e->id_hi = (uint16_t)(id >> 32);
    entry_set_modseq(e, modseq);
    return 0;
}

bool repl_tagset_get(struct repl_tagset *s, uint64_t id, uint64_t *modseq_out)
{
    if (id == 0) {
        return false;
    }
    const struct tag_entry *e = lookup(s, id);
    if (!e) {
        return false;
    }
    *modseq_out = entry_modseq(e);
    return true;
}

size_t repl_tagset_count(struct repl_tagset *s)
{
    compact(s);
    return s->len;
}

size_t repl_tagset_bytes(const struct repl_tagset *s)
{
    return s->cap * sizeof(*s->v) + (s->dir ? (((size_t)1 << TAGSET_DIR_BITS) + 1) * 4 : 0) +
           sizeof(*s);
}
