/* store/store_pg_prop.c: dead properties on PostgreSQL (store.h "Dead properties"), as
 * store_sqlite_item.c's: (resource kind, id, namespace, name) -> the serialized value, no
 * foreign key (a resource is a collection or an item), so a property is set only on a
 * resource that exists, and goes with it by hand (collection, item and principal deletes). */
#include <string.h>

#include <libpq-fe.h>

#include "store/store.h"
#include "store/store_pg_int.h"

/* STORE_OK when the resource exists, STORE_NOTFOUND (with a message) when not. */
static enum store_rc check_res(struct store *s, enum store_res_kind kind, uint64_t id)
{
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, id);
    PGresult *res = NULL;
    enum store_rc rc =
        store_pg_exec(s,
                      kind == STORE_RES_COLL ? "SELECT 1 FROM collections WHERE id = $1"
                                             : "SELECT 1 FROM items WHERE id = $1",
                      &p, &res);
    if (rc == STORE_OK && PQntuples(res) == 0) {
        rc = store_pg_fail_msg(s, STORE_NOTFOUND,
                               kind == STORE_RES_COLL ? "no such collection" : "no such item");
    }
    PQclear(res);
    return rc;
}

static void res_params(struct store_pg_params *p, enum store_res_kind kind, uint64_t id)
{
    store_pg_p_i64(p, kind);
    store_pg_p_u64(p, id);
}

enum store_rc store_pg_prop_set(struct store *s,
                                enum store_res_kind kind,
                                uint64_t id,
                                const struct store_prop *prop)
{
    enum store_rc rc = check_res(s, kind, id);
    if (rc != STORE_OK) {
        return rc;
    }
    struct store_pg_params p = {0};
    res_params(&p, kind, id);
    store_pg_p_text(&p, prop->ns);
    store_pg_p_text(&p, prop->name);
    store_pg_p_bytes(&p, prop->value, prop->value_len);
    return store_pg_run(s,
                        "INSERT INTO props(res_kind, res_id, ns, name, value) "
                        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (res_kind, res_id, ns, name) "
                        "DO UPDATE SET value = excluded.value",
                        &p, NULL);
}

enum store_rc store_pg_prop_del(
    struct store *s, enum store_res_kind kind, uint64_t id, const char *ns, const char *name)
{
    struct store_pg_params p = {0};
    res_params(&p, kind, id);
    store_pg_p_text(&p, ns);
    store_pg_p_text(&p, name);
    return store_pg_run(
        s, "DELETE FROM props WHERE res_kind = $1 AND res_id = $2 AND ns = $3 AND name = $4", &p,
        NULL);
}

enum store_rc store_pg_prop_get(struct store *s,
                                enum store_res_kind kind,
                                uint64_t id,
                                const char *ns,
                                const char *name,
                                struct arena *arena,
                                struct store_prop *out)
{
    struct store_pg_params p = {0};
    res_params(&p, kind, id);
    store_pg_p_text(&p, ns);
    store_pg_p_text(&p, name);
    PGresult *res = NULL;
    enum store_rc rc = store_pg_exec(s,
                                     "SELECT ns, name, value FROM props WHERE res_kind = $1 AND "
                                     "res_id = $2 AND ns = $3 AND name = $4",
                                     &p, &res);
    if (rc == STORE_OK && PQntuples(res) == 0) {
        rc = store_pg_fail_msg(s, STORE_NOTFOUND, "no such property");
    }
    if (rc == STORE_OK) {
        out->ns = store_pg_col_text(res, 0, 0, arena);
        out->name = store_pg_col_text(res, 0, 1, arena);
        out->value_len = (size_t)PQgetlength(res, 0, 2);
        out->value = arena_strndup(arena, PQgetvalue(res, 0, 2), out->value_len);
    }
    PQclear(res);
    return rc;
}

/* A resource's properties are few (bounded by max_dead_props): one result. */
enum store_rc store_pg_prop_list(
    struct store *s, enum store_res_kind kind, uint64_t id, store_prop_fn *fn, void *ctx)
{
    struct store_pg_params p = {0};
    res_params(&p, kind, id);
    PGresult *res = NULL;
    enum store_rc rc = store_pg_exec(s,
                                     "SELECT ns, name, value FROM props WHERE res_kind = $1 AND "
                                     "res_id = $2 ORDER BY ns COLLATE \"C\", name COLLATE \"C\"",
                                     &p, &res);
    for (int i = 0; rc == STORE_OK && i < PQntuples(res); i++) {
        struct store_prop prop = {
            .ns = store_pg_col_text(res, i, 0, NULL),
            .name = store_pg_col_text(res, i, 1, NULL),
            .value = PQgetvalue(res, i, 2),
            .value_len = (size_t)PQgetlength(res, i, 2),
        };
        if (fn(ctx, &prop) != 0) {
            break;
        }
    }
    PQclear(res);
    return rc;
}

enum store_rc store_pg_prop_copy(struct store *s,
                                 enum store_res_kind from_kind,
                                 uint64_t from_id,
                                 enum store_res_kind to_kind,
                                 uint64_t to_id)
{
    enum store_rc rc = check_res(s, to_kind, to_id);
    if (rc != STORE_OK) {
        return rc;
    }
    struct store_pg_params p = {0};
    res_params(&p, from_kind, from_id);
    res_params(&p, to_kind, to_id);
    return store_pg_run(s,
                        "INSERT INTO props(res_kind, res_id, ns, name, value) "
                        "SELECT $3, $4, ns, name, value FROM props WHERE res_kind = $1 AND "
                        "res_id = $2 ON CONFLICT (res_kind, res_id, ns, name) "
                        "DO UPDATE SET value = excluded.value",
                        &p, NULL);
}
