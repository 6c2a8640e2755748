/* repl/tokens.h: the replication tokens of exchange-replication.md §1.2-1.3 and §1.6:
 * repl-uid ("rid:" + 44 hex), resourcetag ("rt:" + 88 hex), the authenticated collblob, and the
 * compact tag set a resourcetaglist is read into (item id -> highest listed modseq), which
 * holds 1,000,000 tags in well under 64 MB. No store or protocol access: pure encoding. */
#ifndef ALMANAC_REPL_TOKENS_H
#define ALMANAC_REPL_TOKENS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/slice.h"

enum {
    REPL_GUID_BYTES = 16,
    REPL_UID_LEN = 4 + 44,         /* "rid:" + hex(guid || id48) */
    REPL_TAG_LEN = 3 + 88,         /* "rt:" + hex(guid || id48 || change guid || modseq48) */
    REPL_COLLBLOB_BYTES = 92,      /* §1.3 version 1 */
    REPL_COLLBLOB_V2_BYTES = 124,  /* version 2: a sliding date window (docs/replication.md) */
    REPL_COLLBLOB_B64 = 168,       /* the longest: base64 of 124 bytes, without the NUL */
    REPL_COLLBLOB_BOUNDS = 4,      /* date bounds a version 2 collblob carries at most */
    REPL_COLLBLOB_TEXT_MAX = 1024, /* longer R:collblob text is not ours: 475, not 413 */
    REPL_KEY_BYTES = 32,
};

/* "rid:" + lowercase hex of store GUID || item id (48 bits, big-endian); out NUL-terminated. */
void repl_uid_format(const uint8_t guid[REPL_GUID_BYTES], uint64_t id, char out[REPL_UID_LEN + 1]);

/* "rt:" + lowercase hex of store GUID || id48 || change GUID || modseq48. */
void repl_tag_format(const uint8_t guid[REPL_GUID_BYTES],
                     uint64_t id,
                     const uint8_t change_guid[REPL_GUID_BYTES],
                     uint64_t modseq,
                     char out[REPL_TAG_LEN + 1]);

struct repl_tag {
    uint64_t id;
    uint8_t change_guid[REPL_GUID_BYTES];
    uint64_t modseq;
};

enum repl_tag_rc {
    REPL_TAG_OURS = 0,      /* decoded into *out */
    REPL_TAG_FOREIGN = 1,   /* well-formed, another store's GUID */
    REPL_TAG_MALFORMED = 2, /* not "rt:" + 88 hex (whitespace trimmed, prefix any case) */
};

/* Parses a resourcetag; malformed and foreign tags never match anything (§1.2). */
enum repl_tag_rc
repl_tag_parse(struct slice text, const uint8_t guid[REPL_GUID_BYTES], struct repl_tag *out);

/* Parses a repl-uid ("rid:" + 44 hex): 0 with *id_out, 1 foreign, 2 malformed. */
enum repl_tag_rc
repl_uid_parse(struct slice text, const uint8_t guid[REPL_GUID_BYTES], uint64_t *id_out);

/* ---------------------------------------------------------------------------------------- */
/* collblob (§1.3) */

enum {
    REPL_COLLBLOB_PARTIAL = 1
};

struct repl_collblob {
    uint8_t version;    /* set by decode: 1, or 2 when nbounds > 0 (encode derives it) */
    uint8_t flags;      /* REPL_COLLBLOB_PARTIAL */
    uint64_t principal; /* principal id */
    uint64_t coll;      /* collection id */
    uint64_t epoch;
    uint64_t watermark; /* W */
    uint32_t page;      /* page hint, 0 unless partial */
    /* version 1: hash of the canonical query; version 2: hash of its shape, the bounds
     * abstracted (repl_where_print_shape), whose values are in bounds[] */
    uint8_t query_hash[16];
    uint8_t nbounds;                      /* 0: version 1; 1..REPL_COLLBLOB_BOUNDS: version 2 */
    int64_t bounds[REPL_COLLBLOB_BOUNDS]; /* Unix seconds, in the WHERE's print order */
};

/* Base64 of the layout, MAC'd with `key`: version 1 (92 bytes, 124 characters) when
 * b->nbounds is 0, else version 2 (124 bytes, 168 characters); out NUL-terminated. */
void repl_collblob_encode(const struct repl_collblob *b,
                          const uint8_t key[REPL_KEY_BYTES],
                          char out[REPL_COLLBLOB_B64 + 1]);

/* Decodes and authenticates either version; `prev_key` (may be NULL) is accepted during key
 * rotation. Returns 0, or -1 with *reason_out one of "bad-encoding" (not base64 of 92 or 124
 * bytes), "unsupported-version" (the version byte does not fit the length), "bad-mac"
 * (the first checks of §1.3; the caller does the ones that need the store). */
int repl_collblob_decode(struct slice text,
                         const uint8_t key[REPL_KEY_BYTES],
                         const uint8_t *prev_key,
                         struct repl_collblob *out,
                         const char **reason_out);

/* The first 16 bytes of BLAKE2b-256 of the canonical query text (§1.3). */
void repl_query_hash(struct slice canonical, uint8_t out[16]);

/* ---------------------------------------------------------------------------------------- */
/* The tag set of a resourcetaglist (§1.6): item id -> highest listed modseq (0 = an older
 * state: listed with another change GUID). The tags are appended as they are read, 12 bytes
 * each (ids and modseqs are 48-bit), in an array grown by realloc; the first lookup sorts it
 * by id in place (radix), merges repeats and builds a directory of 65,536 buckets by id, so
 * that a lookup is a bucket and a short binary search. 1,000,000 distinct items take 12 MiB
 * (the open-addressing table this replaced took 32 MiB, and 48 at a doubling). Repeats are merged
 * early when the array reaches max_items. Not thread-safe; an add after a lookup sorts again. */

struct repl_tagset;

/* Caller frees with repl_tagset_destroy(). `max_items` bounds the distinct ids (config key). */
struct repl_tagset *repl_tagset_create(size_t max_items);
void repl_tagset_destroy(struct repl_tagset **set);

/* Records (id, modseq), keeping the highest modseq per id. Returns 0, or -1 when a new id
 * would pass max_items. O(1) amortised. */
int repl_tagset_add(struct repl_tagset *set, uint64_t id, uint64_t modseq);

/* True with *modseq_out when `id` was listed. The first call after an add sorts: O(n);
 * then O(log(bucket size)). */
bool repl_tagset_get(struct repl_tagset *set, uint64_t id, uint64_t *modseq_out);

/* Distinct ids listed (sorts when needed). */
size_t repl_tagset_count(struct repl_tagset *set);
/* Bytes the set holds now (for limits and tests). */
size_t repl_tagset_bytes(const struct repl_tagset *set);

#endif
