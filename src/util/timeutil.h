/* util/timeutil.h: wall-clock and monotonic time, HTTP dates (RFC 9110 §5.6.7). */
#ifndef ALMANAC_UTIL_TIMEUTIL_H
#define ALMANAC_UTIL_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

enum {
    TIME_HTTPDATE_LEN = 30
}; /* "Sun, 06 Nov 1994 08:49:37 GMT" + NUL */

/* Seconds since the epoch, UTC. */
int64_t time_now(void);
/* Monotonic microseconds, for durations. */
int64_t time_mono_us(void);

/* IMF-fixdate of t into out[TIME_HTTPDATE_LEN]. */
void time_httpdate(int64_t t, char out[TIME_HTTPDATE_LEN]);

/* RFC 3339 "1994-11-06T08:49:37Z" of t into out (at least 21 bytes). */
void time_rfc3339(int64_t t, char *out, size_t size);

#endif
