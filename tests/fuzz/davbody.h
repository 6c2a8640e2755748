/* tests/fuzz/davbody.h: a request body read by a WebDAV method's own reader, without a server.
 * A method's begin() needs only the request arena and the limits for its body (PROPFIND,
 * PROPPATCH, REPORT; SEARCH resolves its collection in the store first, so it is not one of
 * them); the body then goes to the streaming reader begin() set up, in pieces, as
 * route_body() in dav/dav.c feeds it. */
#ifndef ALMANAC_TESTS_FUZZ_DAVBODY_H
#define ALMANAC_TESTS_FUZZ_DAVBODY_H

#include <stdint.h>

#include "dav/ext.h"

/* The limits of the fuzzed bodies: the defaults' shape, small enough to reach. */
extern struct dav_app fuzz_dav_app;

/* Runs method `m`'s begin() on a fresh request in `arena`, then feeds the input whole
 * (`salt` 0) or in pieces (chunks.h) and finishes it. Returns 0 when the body was accepted,
 * else -1 with `err` set (which it checks: a refusal names a condition, never the internal
 * one). *dr_out is the request, in `arena`, its reader destroyed. */
int fuzz_dav_read(const struct dav_method *m,
                  const uint8_t *data,
                  size_t size,
                  uint64_t salt,
                  struct arena *arena,
                  struct dav_req **dr_out,
                  struct err *err);

#endif
