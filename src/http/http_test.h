/* http/http_test.h: one request run through a route in process, for unit tests of the layers
 * above (dav, caldav, repl, eas) without a daemon or a socket. The request is built in
 * memory (method, target, headers, an already authenticated user, a body fed in chunks) and
 * goes through the route as http.c drives one off a socket: begin(), body() per chunk (none
 * after a failure: the rest is discarded), end(), and on a failure the condition's status
 * with the error headers and the body of the route's render_error(). The answer is copied
 * out whole: the status, every header, and the body whether set whole or pulled (a stream is
 * read to its end). Then the request arena is destroyed, running its defers, as after a
 * response was sent. Suspension (long polls) is not driven.
 *
 * Compiled in only with -DALMANAC_FAULTS=ON (the test builds, as the store's fault seam);
 * without it http_test_run() fails at once and http_test_available() is false, so a release
 * build carries none of it. */
#ifndef ALMANAC_HTTP_HTTP_TEST_H
#define ALMANAC_HTTP_HTTP_TEST_H

#include <stdbool.h>
#include <stddef.h>

#include "http/http.h"
#include "util/arena.h"

struct http_test_req {
    const char *method; /* "PROPFIND" */
    const char *target; /* the request target as sent: an encoded path, "?query" optional */
    const char *user;   /* the authenticated user; NULL for none */
    /* Request headers: name, value, name, value, ..., NULL. Host defaults to
     * "localhost" and Content-Length to the body's length when a body is given. */
    const char *const *headers;
    const char *body; /* NULL: none */
    size_t body_len;
    size_t chunk; /* bytes per body() call; 0: the whole body in one */
};

struct http_test_header {
    const char *name;
    const char *value;
};

struct http_test_resp {
    unsigned status;
    const char *cond; /* the failure's condition name ("valid-sync-token"), NULL on success */
    struct http_test_header *headers; /* in the order the route added them */
    size_t nheaders;
    char *body; /* NUL-terminated (the body may hold NULs: body_len counts them) */
    size_t body_len;
    bool is_streamed;   /* the body was pulled (http_resp_stream) */
    bool stream_failed; /* the pull returned -1: a connection would have been cut */
};

/* True when this build has the seam (ALMANAC_FAULTS). */
bool http_test_available(void);

/* Runs `in` through `route` (its prefix is not checked), the answer copied into `a`.
 * Returns 0, or -1 when the seam is not compiled in or the request target does not decode
 * (then the decoding's condition is in out->cond, status 400). */
int http_test_run(const struct http_route *route,
                  const struct http_test_req *in,
                  struct arena *a,
                  struct http_test_resp *out);

/* The value of the answer's header `name` (case-insensitive; the last one added), or NULL. */
const char *http_test_resp_header(const struct http_test_resp *r, const char *name);

#endif
