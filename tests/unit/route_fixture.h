/* tests/unit/route_fixture.h: the server's routes wired as src/server/main.c wires them (the
 * WebDAV core with the caldav and repl extensions, ActiveSync), over a real store in a
 * temporary directory with users "alice" and "bob", and one request at a time run through
 * them in process (http/http_test.h). Shared by the unit tests of dav, caldav, repl and eas.
 * A test binary skips (exit 0 with a message) when the build has no seam (ALMANAC_FAULTS). */
#ifndef ALMANAC_TESTS_ROUTE_FIXTURE_H
#define ALMANAC_TESTS_ROUTE_FIXTURE_H

#include <stddef.h>

#include "dav/dav.h"
#include "eas/eas.h"
#include "http/http_test.h"
#include "store/store.h"

struct CMUnitTest;

struct route_fixture {
    char dir[64];
    struct store_pool *pool;
    struct dav_app dav;
    struct eas_app *eas;
    struct http_route dav_route;      /* "/" */
    struct http_route exchange_route; /* "/exchange" */
    struct http_route eas_route;      /* "/Microsoft-Server-ActiveSync" */
    struct arena *a;                  /* answers; freed with the fixture */
    struct store *s;                  /* a connection for checks (rf_store) */
};

/* cmocka setup and teardown: *state is a struct route_fixture. */
int rf_setup(void **state);
int rf_teardown(void **state);

/* Runs one request as `user` on the route its target's prefix picks; headers are name,
 * value pairs ending in NULL (may be NULL). The body is fed in chunks of 7 bytes, so every
 * body parser sees a request split mid-token. Fails the test if the seam cannot run it. */
struct http_test_resp rf_run(struct route_fixture *f,
                             const char *user,
                             const char *method,
                             const char *target,
                             const char *const *headers,
                             const char *body);
/* As rf_run with a binary body of n bytes. */
struct http_test_resp rf_run_n(struct route_fixture *f,
                               const char *user,
                               const char *method,
                               const char *target,
                               const char *const *headers,
                               const char *body,
                               size_t n);

/* Prints the answer (status, headers, body) when RF_SHOW is set in the environment: how a
 * failing test's expectations are read. */
void rf_show(const char *what, const struct http_test_resp *r);

/* A store connection inside a read transaction, for checks through the store API; ended by
 * rf_store_done(). */
struct store *rf_store(struct route_fixture *f);
void rf_store_done(struct route_fixture *f);

/* Runs the tests when the build has the seam; otherwise says why and passes. */
int rf_run_tests(const char *name, const struct CMUnitTest *tests, size_t n);

#define RF_RUN(tests) rf_run_tests(__FILE__, tests, sizeof(tests) / sizeof(tests[0]))

#endif
