/* tests/fuzz/routes.h: the server's routes wired as src/server/main.c wires them (the WebDAV
 * core with the caldav and repl extensions at "/" and "/exchange", ActiveSync), over a real
 * SQLite store in a temporary directory made once per process, with users "alice" and "bob"
 * and alice's calendar "cal" holding a few events. Requests run through them in process
 * (http/http_test.h), so the targets that need a store (fuzz_search, fuzz_eas) meet a
 * request body exactly as a server does. Needs the seam of ALMANAC_FAULTS, which the
 * sanitizer builds of `make check` and scripts/fuzz.sh have. Failures of the set-up abort(). */
#ifndef ALMANAC_TESTS_FUZZ_ROUTES_H
#define ALMANAC_TESTS_FUZZ_ROUTES_H

#include <stddef.h>
#include <stdint.h>

#include "http/http_test.h"

/* Makes the store and the routes, once (later calls do nothing). The directory is removed
 * at exit. */
void fuzz_routes_open(void);

/* Closes the store and the routes, removes the directory, and makes them afresh: what a
 * target calls now and then when its inputs write (fuzz_eas), so that the store does not
 * grow and slow every later input. */
void fuzz_routes_reset(void);

/* Runs one request as alice on the route its target's prefix picks; `headers` as in
 * http_test.h (may be NULL); the body fed `chunk` bytes at a time (0: whole). The answer is
 * in `a`. */
struct http_test_resp fuzz_routes_run(const char *method,
                                      const char *target,
                                      const char *const *headers,
                                      const void *body,
                                      size_t len,
                                      size_t chunk,
                                      struct arena *a);

/* A fingerprint of alice's calendar data: the id and modseq of each collection in her home.
 * Every write to a collection or its members changes it, as does one made or deleted. */
uint64_t fuzz_routes_fingerprint(void);

/* The id of alice's calendar "cal". */
uint64_t fuzz_routes_cal_id(void);

/* ActiveSync long polls waiting now: the seam does not drive suspension, so none may. */
unsigned fuzz_routes_eas_waiting(void);

#endif
