/* http/auth_throttle.h: remembers failed logins per client address and per user name, and
 * says how long a new attempt must wait before it may be checked (the HTTP layer answers
 * 429 with Retry-After meanwhile). Fixed memory whatever the number of addresses and names
 * (a set-associative table of keyed hashes, the oldest record evicted first); best effort
 * by design: a record may be evicted early, never kept past its window.
 *
 * The rules, and why they cannot lock a real user out (issue 14 item 8):
 * - An address that failed `addr_limit` times within `window` waits 1 s, then 2, 4...
 *   (doubling with each further failure, at most `max_delay`) after its last failure,
 *   whatever user it names. Only that address is slowed.
 * - A user name that failed `user_limit` times (from any addresses) within `window` waits
 *   the same way, but only for attempts from an address that itself failed within the
 *   window. An address with no recent failure is never delayed for the user's sake, so an
 *   attacker who fails on "alice" from anywhere cannot keep alice out of her own address;
 *   an attacker spread over many addresses gets one free guess per fresh address.
 * - Successes reset nothing (an attacker with one valid account would otherwise launder
 *   its address between guesses); records expire `window` after their last failure.
 * Attempts refused with a wait do not count as failures, so a client that honours
 * Retry-After is never refused for ever. Thread-safe: one mutex guards the table. */
#ifndef ALMANAC_HTTP_AUTH_THROTTLE_H
#define ALMANAC_HTTP_AUTH_THROTTLE_H

#include <stdint.h>

#include "util/slice.h"

struct auth_throttle;

struct auth_throttle_config {
    unsigned window;     /* seconds a failure is remembered after the last one; 0 = off */
    unsigned addr_limit; /* failures of one address before its attempts wait */
    unsigned user_limit; /* failures of one user name before attempts from failing addresses
                            wait */
    unsigned max_delay;  /* seconds: the longest wait */
};

/* Creates the table (caller frees with auth_throttle_destroy()); `cfg` is copied. */
struct auth_throttle *auth_throttle_create(const struct auth_throttle_config *cfg);
void auth_throttle_destroy(struct auth_throttle **t);

/* Seconds an attempt for `user` from `addr` must still wait at unix time `now`, 0 when it
 * may be checked now. `addr` is the client address in any stable form (bytes are hashed),
 * `user` the name as sent (may be empty). O(1). */
unsigned
auth_throttle_wait(struct auth_throttle *t, struct slice addr, struct slice user, int64_t now);

/* Records a failed attempt (bad password or unknown user) at unix time `now`. O(1). */
void auth_throttle_fail(struct auth_throttle *t, struct slice addr, struct slice user, int64_t now);

#endif
