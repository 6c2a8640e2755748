/* util/slice.h: a borrowed view of bytes {ptr, len}. Client bytes may hold NUL, so parsers
 * and comparisons take slices and never call strlen on them. */
#ifndef ALMANAC_UTIL_SLICE_H
#define ALMANAC_UTIL_SLICE_H

#include <stdbool.h>
#include <stddef.h>

struct slice {
    const char *ptr; /* borrowed; not NUL-terminated in general */
    size_t len;
};

#define SLICE_LIT(s) ((struct slice){(s), sizeof(s) - 1})

/* A slice over a NUL-terminated string (NULL gives the empty slice). */
struct slice slice_from_cstr(const char *s);

/* Byte equality. */
bool slice_eq(struct slice a, struct slice b);

/* ASCII case-insensitive equality, never by locale (HTTP tokens, header names). */
bool slice_eq_ci(struct slice a, struct slice b);

/* True when `s` begins with `prefix` (bytes). */
bool slice_has_prefix(struct slice s, struct slice prefix);

/* True when `needle` occurs in `hay`: bytewise, or ASCII case-insensitively. O(n*m), for short
 * needles (a component name, a UID fragment). */
bool slice_contains(struct slice hay, struct slice needle);
bool slice_contains_ci(struct slice hay, struct slice needle);

/* `s` with leading and trailing ASCII whitespace (SP, HT, CR, LF) removed. */
struct slice slice_trim(struct slice s);

#endif
