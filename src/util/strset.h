/* util/strset.h: a set of byte strings kept compactly, remembered in the order they were first
 * added (calendar-multiget's hrefs, issue 14). The strings sit back to back in one bounded
 * buffer, each behind a 4-byte length; an open-addressing table of 8-byte slots (load at most
 * 1/2, doubling) points into it, so a string costs its length plus 20 to 36 bytes. Slots are
 * placed by a keyed SipHash whose key is drawn per set, so strings a client chooses cannot be
 * made to collide: adding n strings is O(n total bytes) expected work, never O(n^2). Not
 * thread-safe. */
#ifndef ALMANAC_UTIL_STRSET_H
#define ALMANAC_UTIL_STRSET_H

#include <stdbool.h>
#include <stddef.h>

#include "util/slice.h"

struct strset;

/* An empty set whose stored strings (with 4 bytes of length each) may take at most
 * `max_bytes` (or just under 4 GiB, whichever is less). Caller frees with strset_destroy(),
 * which sets *set to NULL. Aborts on allocation failure (the limit, not malloc, bounds
 * memory). */
struct strset *strset_create(size_t max_bytes);
void strset_destroy(struct strset **set);

/* Adds a copy of `s` (any bytes, NUL included; at most UINT32_MAX). Returns 1 when it was not
 * in the set, 0 when it was (nothing changes), -1 when storing it would pass max_bytes
 * (nothing changes). O(len) expected, amortised over growth. */
int strset_add(struct strset *set, struct slice s);

/* True when `s` is in the set. O(len) expected. */
bool strset_has(const struct strset *set, struct slice s);

/* The strings in the order first added: start with *pos = 0; each call stores the next string
 * in *out (borrowed until the set changes or is destroyed) and returns true, or returns false
 * after the last. */
bool strset_next(const struct strset *set, size_t *pos, struct slice *out);

/* Distinct strings held. */
size_t strset_count(const struct strset *set);

/* Bytes the set holds now, its table and string storage (for limits and tests). */
size_t strset_bytes(const struct strset *set);

#endif
