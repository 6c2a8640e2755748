/* store/store_req.h: one request's store connection, the glue every protocol route carries
 * (dav, eas): a pooled connection taken lazily and given back with the request's arena (or
 * earlier, before a long poll waits), transactions begun and committed with the protocol's
 * own mapping of store results to conditions. It lives in the store layer because every
 * route includes store and nothing more is common to them; it knows no protocol: the mapping
 * is the route's. */
#ifndef ALMANAC_STORE_STORE_REQ_H
#define ALMANAC_STORE_STORE_REQ_H

#include <stdbool.h>

#include "store/store.h"
#include "util/err.h"

struct store_req;

/* The route's mapping of a store result to its conditions: 0 for STORE_OK, else -1 with
 * err set (STORE_IO as err_cond_internal, STORE_BUSY as the protocol's "retry"...). */
typedef int store_req_err_fn(const struct store_req *r, enum store_rc rc, struct err *err);

struct store_req {
    struct store_pool *pool; /* borrowed */
    struct arena *arena;     /* the request's: the connection goes back with it */
    store_req_err_fn *map;
    /* The route's own field holding the connection (its handlers read it directly): NULL
     * until store_req_store() takes one, and again once it is given back. */
    struct store **conn;
};

/* Call it before the route registers any deferred cleanup of its own in `arena`: the
 * connection is given back after all of them (store_req.c). */
void store_req_init(struct store_req *r,
                    struct store_pool *pool,
                    struct arena *arena,
                    store_req_err_fn *map,
                    struct store **conn);
/* The connection, taken from the pool on first use; NULL when none can be opened now. */
struct store *store_req_store(struct store_req *r);
/* Gives the connection back now (rolling back what it left open); the next
 * store_req_store() takes one again. */
void store_req_release(struct store_req *r);
/* r->map(rc), for the route's own code. */
int store_req_err(const struct store_req *r, enum store_rc rc, struct err *err);
/* A transaction on the request's connection: 0, or -1 with err set: 503
 * (err_cond_store_unavailable) when no connection can be opened now, else the mapped result. */
int store_req_begin_read(struct store_req *r, struct err *err);
int store_req_begin_write(struct store_req *r, struct err *err);
/* Commits; a failed commit is rolled back and mapped. */
int store_req_commit(struct store_req *r, struct err *err);
/* The detail of the connection's last failure, or "unavailable" without a connection (also
 * on a zeroed struct, never initialised). */
const char *store_req_last_error(const struct store_req *r);

#endif
