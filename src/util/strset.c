/* util/strset.c: the compact string set of strset.h. Invariants: every slot is empty
 * (off == 0) or holds 1 + the offset of one entry of `store` together with 32 bits of that
 * entry's hash; each entry of `store` has exactly one slot; count <= nslots / 2, and nslots is
 * a power of two. Probing is linear from hash & (nslots - 1). Offsets are 32 bits, so the store
 * holds less than 4 GiB (xml_max_body, which bounds multiget's hrefs, is at most 4 GiB). */
#include "util/strset.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/sec.h"

enum {
    STRSET_MIN_SLOTS = 64,
    STRSET_LEN_BYTES = 4, /* each entry of `store`: a uint32 length, then the bytes */
};

struct slot {
    uint32_t off;  /* 1 + offset of the entry in store; 0: empty */
    uint32_t hash; /* the low 32 bits of sec_shorthash of the bytes */
};

struct strset {
    struct buf store;   /* entries back to back, in insertion order */
    struct slot *slots; /* nslots, a power of two */
    size_t nslots;
    size_t count;
    uint8_t key[SEC_SHORTHASH_KEYBYTES]; /* drawn per set */
};

struct strset *strset_create(size_t max_bytes)
{
    struct strset *set = calloc(1, sizeof(*set));
    if (!set) {
        abort();
    }
    buf_init(&set->store, max_bytes < UINT32_MAX ? max_bytes : UINT32_MAX - 1);
    set->nslots = STRSET_MIN_SLOTS;
    set->slots = calloc(set->nslots, sizeof(*set->slots));
    if (!set->slots) {
        abort();
    }
    sec_random(set->key, sizeof(set->key));
    return set;
}

void strset_destroy(struct strset **set)
{
    if (!*set) {
        return;
    }
    buf_deinit(&(*set)->store);
    free((*set)->slots);
    free(*set);
    *set = NULL;
}

static struct slice entry_at(const struct strset *set, size_t off)
{
    uint32_t len;
    memcpy(&len, set->store.data + off, sizeof(len));
    return (struct slice){set->store.data + off + STRSET_LEN_BYTES, len};
}

/* The slot holding `s`, or the empty slot where it would go. */
static struct slot *find(const struct strset *set, struct slice s, uint32_t hash)
{
    size_t mask = set->nslots - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        struct slot *sl = &set->slots[i];
        if (sl->off == 0) {
            return sl;
        }
        if (sl->hash == hash && slice_eq(entry_at(set, (size_t)sl->off - 1), s)) {
            return sl;
        }
    }
}

/* Doubles the table, re-placing each slot by its stored hash. */
static void grow(struct strset *set)
{
    size_t n = set->nslots * 2;
    struct slot *slots = calloc(n, sizeof(*slots));
    if (!slots) {
        abort();
    }
    for (size_t i = 0; i < set->nslots; i++) {
        const struct slot *old = &set->slots[i];
        if (old->off == 0) {
            continue;
        }
        size_t j = old->hash & (n - 1);
        while (slots[j].off != 0) {
            j = (j + 1) & (n - 1);
        }
        slots[j] = *old;
    }
    free(set->slots);
    set->slots = slots;
    set->nslots = n;
}

int strset_add(struct strset *set, struct slice s)
{
    assert(s.len <= UINT32_MAX);
    uint32_t hash = (uint32_t)sec_shorthash(set->key, s.ptr, s.len);
    if (find(set, s, hash)->off != 0) {
        return 0;
    }
    if (s.len > SIZE_MAX - STRSET_LEN_BYTES ||
        s.len + STRSET_LEN_BYTES > set->store.limit - set->store.len) {
        return -1;
    }
    size_t off = set->store.len;
    uint32_t len = (uint32_t)s.len;
    int rc = buf_append(&set->store, &len, sizeof(len));
    rc |= buf_append(&set->store, s.ptr, s.len);
    assert(rc == 0); /* room was checked above */
    if ((set->count + 1) * 2 > set->nslots) {
        grow(set);
    }
    struct slot *sl = find(set, s, hash);
    sl->off = (uint32_t)off + 1; /* off < store.limit < UINT32_MAX */
    sl->hash = hash;
    set->count++;
    return 1;
}

bool strset_has(const struct strset *set, struct slice s)
{
    return find(set, s, (uint32_t)sec_shorthash(set->key, s.ptr, s.len))->off != 0;
}

bool strset_next(const struct strset *set, size_t *pos, struct slice *out)
{
    if (*pos >= set->store.len) {
        return false;
    }
    *out = entry_at(set, *pos);
    *pos += STRSET_LEN_BYTES + out->len;
    return true;
}

size_t strset_count(const struct strset *set)
{
    return set->count;
}

size_t strset_bytes(const struct strset *set)
{
    return sizeof(*set) + set->store.cap + set->nslots * sizeof(struct slot);
}
