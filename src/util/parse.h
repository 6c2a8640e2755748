/* util/parse.h: strict parsing of client bytes: numbers, hex digits, UTF-8. */
#ifndef ALMANAC_UTIL_PARSE_H
#define ALMANAC_UTIL_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/slice.h"

/* Decimal digits only: rejects empty input, signs, spaces, overflow and trailing bytes.
 * Returns 0 or -1. */
int parse_u64(struct slice s, uint64_t *v_out);

/* Lowercase-or-uppercase hex digit value, or -1. */
int parse_hexdigit(char c);

/* Strict UTF-8 (RFC 3629): no overlongs, surrogates or code points past U+10FFFF, and no NUL
 * (which C strings, libical and PostgreSQL's text take for an end or refuse). True for "". */
bool parse_utf8_ok(struct slice s);
/* The length (1-4) of the well-formed UTF-8 character at p[0..n), as parse_utf8_ok judges
 * it (NUL counts as one byte here), or 0 when there is none there. */
size_t parse_utf8_char(const unsigned char *p, size_t n);

#endif
