/* dav/copymove.c: COPY and MOVE (RFC 4918 §9.8, §9.9). One write transaction each, so a
 * failure leaves nothing half copied. MOVE keeps ids (an item's repl-uid survives it); COPY
 * makes new resources and carries dead properties along. A collection copies with Depth
 * infinity (members and sub-collections) or Depth 0 (the collection and its properties).
 * Conditions: dav_cond_bad_destination (400), dav_cond_cross_server (502),
 * dav_cond_same_resource (403), dav_cond_forbidden (403: into itself, a home),
 * dav_cond_not_found (404), dav_cond_conflict (409), dav_cond_precondition_failed (412:
 * Overwrite F on an existing destination), dav_cond_bad_depth (400),
 * dav_cond_need_privileges (403: the access rule on a shared calendar, issue 12). */
#include <stdio.h>
#include <string.h>

#include "dav/dav_int.h"
#include "dav/ext.h"

struct cm_ctx {
    struct dav_req *dr;
    bool is_move;
    int depth; /* 0 or -1 (infinity) */
    bool overwrite;
    const char *dest_path;
};

/* Parses Destination and Overwrite (RFC 4918 §10.3, §10.6). */
static int read_headers(struct cm_ctx *c, struct err *err)
{
    struct dav_req *dr = c->dr;
    const char *d = http_req_header(dr->http, "Destination");
    if (!d || !*d) {
        return err_set(err, &dav_cond_bad_destination, "Destination header missing");
    }
    struct slice ds = slice_trim(slice_from_cstr(d));
    const char *sep = strstr(d, "://");
    if (sep) {
        const char *host = http_req_header(dr->http, "Host");
        const char *auth = sep + 3;
        size_t alen = strcspn(auth, "/");
        if (host && (strlen(host) != alen || strncmp(auth, host, alen) != 0)) {
            return err_set(err, &dav_cond_cross_server, "Destination is on another server");
        }
    }
    bool trailing;
    if (http_path_decode(ds, BUF_LIMIT_HREF, dr->arena, &c->dest_path, &trailing, err) != 0) {
        char why[sizeof(err->msg)];
        snprintf(why, sizeof(why), "%s", err->msg);
        return err_replace(err, &dav_cond_bad_destination, "bad Destination path: %s", why);
    }
    const char *o = http_req_header(dr->http, "Overwrite");
    c->overwrite = true;
    if (o) {
        struct slice os = slice_trim(slice_from_cstr(o));
        if (slice_eq_ci(os, SLICE_LIT("F"))) {
            c->overwrite = false;
        } else if (!slice_eq_ci(os, SLICE_LIT("T"))) {
            return err_set(err, &dav_cond_bad_request, "Overwrite must be T or F");
        }
    }
    int depth;
    if (dav_depth(dr, -1, &depth, err) != 0) {
        return -1;
    }
    if (depth == 1 || (c->is_move && depth == 0)) {
        return err_set(err, &dav_cond_bad_depth, "Depth %d is not allowed for %s", depth,
                       c->is_move ? "MOVE" : "COPY");
    }
    c->depth = depth;
    return 0;
}

/* Copies collection `from` as `name` under `parent`; recurses when depth is infinity. Items go
 * through dav_item_transfer (a calendar's through its extension). */
static int copy_coll(struct dav_req *dr,
                     const struct store_coll *from,
                     uint64_t parent,
                     const char *name,
                     int depth,
                     unsigned level,
                     struct err *err)
{
    if (level > DAV_MAX_SEGMENTS) {
        return dav_store_err(dr, STORE_LIMIT, err);
    }
    struct store_coll made;
    enum store_rc rc = store_coll_create(
        dr->store, parent, name, from->kind == STORE_COLL_HOME ? STORE_COLL_PLAIN : from->kind,
        dr->arena, &made);
    if (rc == STORE_OK) {
        rc = store_prop_copy(dr->store, STORE_RES_COLL, from->id, STORE_RES_COLL, made.id);
    }
    if (rc == STORE_OK && from->comps) { /* a copied calendar keeps its component set */
        rc = store_coll_set_comps(dr->store, made.id, from->comps);
        made.comps = from->comps;
    }
    if (rc != STORE_OK || depth == 0) {
        return dav_store_err(dr, rc, err);
    }
    struct store_cursor *cur = NULL;
    int failed = 0;
    rc = store_children_open(dr->store, from->id, &cur);
    while (rc == STORE_OK && !failed) {
        struct store_coll child;
        rc = store_cursor_next_coll(cur, &child);
        if (rc == STORE_OK) {
            struct arena_mark m = arena_mark(dr->arena);
            const char *cname = arena_strdup(dr->arena, child.name);
            failed = copy_coll(dr, &child, made.id, cname, depth, level + 1, err);
            arena_rewind(dr->arena, m);
        }
    }
    store_cursor_close(&cur);
    if (failed || rc != STORE_NOTFOUND) {
        return failed ? -1 : dav_store_err(dr, rc, err);
    }
    rc = store_items_open(dr->store, from->id, STORE_ORDER_NAME, &cur);
    while (rc == STORE_OK && !failed) {
        struct store_item it;
        rc = store_cursor_next_item(cur, &it);
        if (rc == STORE_OK) {
            struct arena_mark m = arena_mark(dr->arena);
            const char *iname = arena_strdup(dr->arena, it.name);
            failed = dav_item_transfer(dr, false, from, iname, &made, iname, NULL, err);
            arena_rewind(dr->arena, m);
        }
    }
    store_cursor_close(&cur);
    if (failed) {
        return -1;
    }
    return rc == STORE_NOTFOUND ? 0 : dav_store_err(dr, rc, err);
}

/* True when `inner` is `outer` or below it (both hrefs of collections end with '/'). */
static bool href_within(const char *inner, const char *outer)
{
    return strncmp(inner, outer, strlen(outer)) == 0;
}

static int run(struct cm_ctx *c, struct err *err)
{
    struct dav_req *dr = c->dr;
    struct dav_res src;
    struct dav_res dst;
    if (dav_begin_write(dr, err) != 0 || dav_resolve(dr, http_req_path(dr->http), &src, err) ||
        dav_resolve(dr, c->dest_path, &dst, err)) {
        return -1;
    }
    if (src.kind == DAV_RES_NONE) {
        return err_set(err, &dav_cond_not_found, "no such resource");
    }
    if (src.kind != DAV_RES_ITEM &&
        (src.kind != DAV_RES_COLL || src.coll.kind == STORE_COLL_HOME)) {
        return err_set(err, &dav_cond_forbidden, "this resource cannot be copied or moved");
    }
    if (dav_if_check(dr, &src,
                     src.kind == DAV_RES_ITEM ? dav_etag(dr->arena, &src.coll, src.item.modseq)
                                              : NULL,
                     err) != 0) {
        return -1;
    }
    if (dst.foreign) {
        return err_set(err, &dav_cond_not_found, "destination does not exist");
    }
    if (dst.kind != DAV_RES_NONE && dst.kind != DAV_RES_ITEM && dst.kind != DAV_RES_COLL) {
        return err_set(err, &dav_cond_forbidden, "destination cannot be replaced");
    }
    if (dst.kind == DAV_RES_COLL && dst.coll.kind == STORE_COLL_HOME) {
        return err_set(err, &dav_cond_forbidden, "destination cannot be replaced");
    }
    bool same =
        (src.kind == DAV_RES_ITEM && dst.kind == DAV_RES_ITEM && src.item.id == dst.item.id) ||
        (src.kind == DAV_RES_COLL && dst.kind == DAV_RES_COLL && src.coll.id == dst.coll.id);
    if (same) {
        return err_set(err, &dav_cond_same_resource, "source and destination are the same");
    }
    if (src.kind == DAV_RES_COLL) {
        const char *dhref =
            dst.kind == DAV_RES_COLL ? dst.href : arena_printf(dr->arena, "%s/", dst.href);
        if (href_within(dhref, src.href)) {
            return err_set(err, &dav_cond_forbidden,
                           "cannot copy or move a collection into itself");
        }
    }
    bool existed = dst.kind != DAV_RES_NONE;
    if (existed && !c->overwrite) {
        return err_set(err, &dav_cond_precondition_failed, "destination exists and Overwrite is F");
    }
    if (dst.kind != DAV_RES_COLL && dst.has_parent && dst.coll.kind == STORE_COLL_CALENDAR) {
        for (size_t e = 0; e < dr->core->app->next; e++) {
            const struct dav_ext *ext = dr->core->app->ext[e];
            if (ext->accept_copy && ext->accept_copy(dr, &src, &dst, err) != 0) {
                return -1;
            }
        }
    }
    if (!existed && (!dst.has_parent || !dst.in_home)) {
        return err_set(err, &dav_cond_conflict, "destination parent does not exist");
    }
    /* issue 12: the access rule, source then destination, before anything is written */
    if (c->is_move &&
        dav_check_write(dr, &src.coll, src.kind == DAV_RES_ITEM ? src.parent_href : src.href,
                        src.kind == DAV_RES_ITEM ? DAV_OP_MOVE : DAV_OP_COLL_DELETE, err) != 0) {
        return -1;
    }
    if (dst.kind == DAV_RES_ITEM &&
        dav_check_write(dr, &dst.coll, dst.parent_href, DAV_OP_DELETE, err) != 0) {
        return -1;
    }
    if (dst.kind == DAV_RES_COLL &&
        dav_check_write(dr, &dst.coll, dst.href, DAV_OP_COLL_DELETE, err) != 0) {
        return -1;
    }
    if (dst.kind != DAV_RES_COLL) {
        /* a member arriving by COPY or MOVE: DAV:bind (calstore's MOVE names the leaving) */
        enum dav_write_op op = src.kind == DAV_RES_COLL ? DAV_OP_COLL_CREATE : DAV_OP_COPY;
        if (dav_check_write(dr, &dst.coll, dst.parent_href, op, err) != 0) {
            return -1;
        }
    }
    enum store_rc rc = STORE_OK;
    if (dst.kind == DAV_RES_ITEM) {
        if (dav_item_delete(dr, &dst.coll, dst.item.name, err) != 0) {
            return -1;
        }
    } else if (dst.kind == DAV_RES_COLL) {
        uint64_t parent = dst.coll.parent;
        if (dav_coll_delete(dr, &dst.coll, err) != 0) {
            return -1;
        }
        rc = store_coll_get(dr->store, parent, dr->arena, &dst.coll);
        if (rc != STORE_OK) {
            return dav_store_err(dr, rc, err);
        }
    }
    uint64_t to_parent = dst.coll.id;
    if (src.kind == DAV_RES_ITEM) {
        if (dav_item_transfer(dr, c->is_move, &src.coll, src.item.name, &dst.coll, dst.name,
                              dst.parent_href, err) != 0) {
            return -1;
        }
    } else if (c->is_move) {
        rc = store_coll_move(dr->store, src.coll.id, to_parent, dst.name);
        if (rc != STORE_OK) {
            return dav_store_err(dr, rc, err);
        }
    } else if (copy_coll(dr, &src.coll, to_parent, dst.name, c->depth, 0, err) != 0) {
        return -1;
    }
    if (dav_commit(dr, err) != 0) {
        return -1;
    }
    if (!existed) {
        http_resp_header(dr->http, "Location", c->dest_path);
    }
    http_resp_status(dr->http, existed ? 204 : 201);
    http_resp_body(dr->http, "", 0);
    return 0;
}

static int copy_run(struct dav_req *dr, struct err *err)
{
    struct cm_ctx c = {.dr = dr, .is_move = false};
    return read_headers(&c, err) != 0 ? -1 : run(&c, err);
}

static int move_run(struct dav_req *dr, struct err *err)
{
    struct cm_ctx c = {.dr = dr, .is_move = true};
    return read_headers(&c, err) != 0 ? -1 : run(&c, err);
}

const struct dav_method dav_copy = {.run = copy_run};
const struct dav_method dav_move = {.run = move_run};
