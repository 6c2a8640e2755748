/* util/parse.h: strict number parsing of client bytes. */
#ifndef ALMANAC_UTIL_PARSE_H
#define ALMANAC_UTIL_PARSE_H

#include <stdint.h>

#include "util/slice.h"

/* Decimal digits only: rejects empty input, signs, spaces, overflow and trailing bytes.
 * Returns 0 or -1. */
int parse_u64(struct slice s, uint64_t *v_out);

/* Lowercase-or-uppercase hex digit value, or -1. */
int parse_hexdigit(char c);

#endif
