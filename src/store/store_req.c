/* store/store_req.c: one request's store connection (store_req.h). */
#include "store/store_req.h"

static void release_store(void *p)
{
    struct store_req *r = p;
    if (*r->conn) {
        store_pool_release(r->pool, *r->conn);
        *r->conn = NULL;
    }
}

void store_req_init(struct store_req *r,
                    struct store_pool *pool,
                    struct arena *arena,
                    store_req_err_fn *map,
                    struct store **conn)
{
    *r = (struct store_req){.pool = pool, .arena = arena, .map = map, .conn = conn};
    *conn = NULL;
    /* Registered now, before the route's own deferred cleanups, so it runs after them (the
     * arena runs them last in, first out): a cursor or statement the route closes at the end
     * of the request is closed while its connection is still the request's. Given back
     * earlier, a connection may be another request's already, or freed (a PostgreSQL one
     * that lost its server). */
    arena_defer(arena, release_store, r);
}

struct store *store_req_store(struct store_req *r)
{
    if (!*r->conn) {
        *r->conn = store_pool_acquire(r->pool);
    }
    return *r->conn;
}

void store_req_release(struct store_req *r)
{
    release_store(r);
}

int store_req_err(const struct store_req *r, enum store_rc rc, struct err *err)
{
    return rc == STORE_OK ? 0 : r->map(r, rc, err);
}

static int begin(struct store_req *r, bool write, struct err *err)
{
    struct store *s = store_req_store(r);
    if (!s) {
        return err_set(err, &err_cond_store_unavailable,
                       "the store cannot open a connection now; retry later");
    }
    return store_req_err(r, write ? store_begin_write(s) : store_begin_read(s), err);
}

int store_req_begin_read(struct store_req *r, struct err *err)
{
    return begin(r, false, err);
}

int store_req_begin_write(struct store_req *r, struct err *err)
{
    return begin(r, true, err);
}

int store_req_commit(struct store_req *r, struct err *err)
{
    enum store_rc rc = store_commit(*r->conn);
    if (rc != STORE_OK) {
        store_rollback(*r->conn);
        return store_req_err(r, rc, err);
    }
    return 0;
}

const char *store_req_last_error(const struct store_req *r)
{
    return r->conn && *r->conn ? store_last_error(*r->conn) : "unavailable";
}
