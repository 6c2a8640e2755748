/* dav/methods.c: the simple WebDAV methods: OPTIONS, GET/HEAD, PUT, DELETE and MKCOL
 * (RFC 4918 §9.3-9.7, RFC 9110 §9.3 and §13). Each runs inside one store transaction and
 * evaluates its preconditions against the resource's current ETag before it writes.
 * Conditions: dav_cond_not_found (404), dav_cond_method_not_allowed (405: MKCOL on an existing
 * resource, PUT on a collection), dav_cond_conflict (409: missing parent),
 * dav_cond_precondition_failed (412), dav_cond_not_modified (304),
 * dav_cond_unsupported_media (415: MKCOL with a body), dav_cond_resource_too_large (413),
 * dav_cond_forbidden (403: outside the home, deleting a home), dav_cond_need_privileges (403:
 * a write the access rule refuses on a shared calendar, issue 12). A sharee's DELETE of the
 * share itself (the member of their home) revokes their own grant: 204, the owner's calendar
 * untouched. */
#include <string.h>

#include "dav/dav_int.h"
#include "dav/ext.h"
#include "util/timeutil.h"

/* The answer for a missing target of a write: 404 in another user's tree (their existence is
 * not revealed), 409 when the parent is missing, 403 outside any home. */
static int missing_target(const struct dav_res *res, struct err *err)
{
    if (res->foreign) {
        return err_set(err, &dav_cond_not_found, "no such resource");
    }
    if (!res->in_home) {
        return err_set(err, &dav_cond_forbidden, "resources can only be created in a home");
    }
    return err_set(err, &dav_cond_conflict, "parent collection does not exist");
}

/* ---------------------------------------------------------------------------------------- */
/* OPTIONS (RFC 4918 §10.1) */

static const char allow_all[] = "OPTIONS, GET, HEAD, PUT, DELETE, PROPFIND, PROPPATCH, MKCOL, "
                                "COPY, MOVE";

static int options_run(struct dav_req *dr, struct err *err)
{
    if (http_req_header(dr->http, "If")) {
        /* RFC 4918 §10.4: If applies to OPTIONS too; a read transaction only when it is sent */
        struct dav_res res;
        if (dav_begin_read(dr, err) != 0 || dav_resolve(dr, http_req_path(dr->http), &res, err) ||
            dav_if_check_target(dr, &res, err) != 0) {
            return -1;
        }
        store_rollback(dr->store);
    }
    /* Class 1 and 3 (RFC 4918 §18); no LOCK, so class 2 is not claimed. access-control: the
     * RFC 3744 properties, read only (issue 12; no ACL method, so not in Allow). */
    struct buf dav;
    struct buf allow;
    buf_init(&dav, 256);
    buf_init(&allow, 512);
    int rc = buf_append_cstr(&dav, "1, 3, access-control") | buf_append_cstr(&allow, allow_all);
    for (size_t e = 0; e < dr->core->app->next; e++) {
        const struct dav_ext *ext = dr->core->app->ext[e];
        if (ext->compliance) {
            rc |= buf_append_cstr(&dav, ", ") | buf_append_cstr(&dav, ext->compliance);
        }
        if (ext->allow) {
            rc |= buf_append_cstr(&allow, ", ") | buf_append_cstr(&allow, ext->allow);
        }
    }
    if (rc == 0) {
        http_resp_header(dr->http, "DAV", buf_cstr(&dav));
        http_resp_header(dr->http, "Allow", buf_cstr(&allow));
    }
    buf_deinit(&dav);
    buf_deinit(&allow);
    http_resp_header(dr->http, "MS-Author-Via", "DAV");
    http_resp_status(dr->http, 200);
    http_resp_body(dr->http, "", 0);
    return 0;
}

const struct dav_method dav_options = {.run = options_run};

/* ---------------------------------------------------------------------------------------- */
/* GET and HEAD */

static void item_headers(struct dav_req *dr, const struct dav_res *res, const char *etag)
{
    char date[TIME_HTTPDATE_LEN];
    time_httpdate(res->item.mtime, date);
    http_resp_header(dr->http, "ETag", etag);
    http_resp_header(dr->http, "Last-Modified", date);
}

static int get_run(struct dav_req *dr, struct err *err)
{
    struct dav_res res;
    if (dav_begin_read(dr, err) != 0 || dav_resolve(dr, http_req_path(dr->http), &res, err)) {
        return -1;
    }
    if (res.kind == DAV_RES_NONE) {
        return err_set(err, &dav_cond_not_found, "no such resource");
    }
    if (res.kind != DAV_RES_ITEM) {
        if (dav_if_check_target(dr, &res, err) != 0) {
            return -1;
        }
        /* A collection has no representation of its own; a short text for browsers. */
        const char *text = arena_printf(dr->arena, "Almanac collection %s\n", res.href);
        http_resp_header(dr->http, "Content-Type", "text/plain; charset=utf-8");
        http_resp_body(dr->http, text, strlen(text));
        return 0;
    }
    const char *etag = dav_etag(dr->arena, &res.coll, res.item.modseq);
    if (dav_check_preconditions(dr, &res, etag, err) != 0) {
        if (err->cond != &dav_cond_not_modified) {
            return -1;
        }
        /* RFC 9110 §15.4.5: a 304 carries the validators a 200 would have. */
        err_init(err);
        item_headers(dr, &res, etag);
        http_resp_status(dr->http, 304);
        http_resp_body(dr->http, "", 0);
        return 0;
    }
    struct store_item full;
    enum store_rc rc =
        store_item_get(dr->store, res.coll.id, res.item.name, STORE_ITEM_CONTENT, dr->arena, &full);
    if (rc != STORE_OK) {
        return dav_store_err(dr, rc, err);
    }
    item_headers(dr, &res, etag);
    rc = dav_ext_item_headers(dr, &res.coll, res.item.id, res.item.modseq, false, false);
    if (rc != STORE_OK) {
        return dav_store_err(dr, rc, err);
    }
    http_resp_header(dr->http, "Content-Type", full.content_type);
    http_resp_body(dr->http, full.content ? full.content : "", full.size);
    return 0;
}

const struct dav_method dav_get = {.run = get_run};
const struct dav_method dav_head = {.run = get_run};

/* ---------------------------------------------------------------------------------------- */
/* PUT (RFC 9110 §9.3.4, RFC 4918 §9.7) */

/* A Content-Type kept with a resource and sent back on GET: a media type ("type/subtype",
 * parameters allowed) of printable ASCII (RFC 9110 §8.3.1), at most 255 bytes. */
static bool media_type_ok(const char *t)
{
    size_t n = strlen(t);
    if (n > STORE_NAME_MAX || !memchr(t, '/', n)) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)t[i] < 0x20 || (unsigned char)t[i] > 0x7e) {
            return false;
        }
    }
    return true;
}

static int put_run(struct dav_req *dr, struct err *err)
{
    /* Validation that may take long runs here, before the write gate (issue 18), on the
     * calendar a body wraps when an extension unwraps it (issue 16 item 3). */
    for (size_t e = 0; e < dr->core->app->next; e++) {
        if (dr->core->app->ext[e]->pre_unwrap_put) {
            dr->core->app->ext[e]->pre_unwrap_put(dr);
        }
    }
    for (size_t e = 0; e < dr->core->app->next; e++) {
        if (dr->core->app->ext[e]->pre_put) {
            dr->core->app->ext[e]->pre_put(dr);
        }
    }
    struct dav_res res;
    if (dav_begin_write(dr, err) != 0 || dav_resolve(dr, http_req_path(dr->http), &res, err)) {
        return -1;
    }
    if (res.kind == DAV_RES_NONE && (!res.has_parent || res.foreign)) {
        return missing_target(&res, err);
    }
    if (res.kind != DAV_RES_NONE && res.kind != DAV_RES_ITEM) {
        return err_set(err, &dav_cond_method_not_allowed, "cannot PUT to a collection");
    }
    if (http_req_trailing_slash(dr->http)) {
        return err_set(err, &dav_cond_conflict, "a PUT target cannot end with '/'");
    }
    if (dav_check_write(dr, &res.coll, res.href, DAV_OP_PUT, err) != 0) {
        return -1;
    }
    const char *etag =
        res.kind == DAV_RES_ITEM ? dav_etag(dr->arena, &res.coll, res.item.modseq) : NULL;
    if (dav_check_preconditions(dr, &res, etag, err) != 0) {
        return -1;
    }
    const char *ctype = http_req_header(dr->http, "Content-Type");
    if (ctype && *ctype && !media_type_ok(ctype)) {
        return err_set(err, &dav_cond_unsupported_media,
                       "Content-Type is not a media type of printable ASCII up to %d bytes",
                       STORE_NAME_MAX);
    }
    struct store_item_in in = {
        .content = buf_cstr(&dr->core->raw),
        .size = dr->core->raw.len,
        .content_type = ctype && *ctype ? ctype : "application/octet-stream",
    };
    const char *modified = NULL; /* unwrap_put changed the calendar content */
    for (size_t e = 0; e < dr->core->app->next && res.coll.kind == STORE_COLL_CALENDAR; e++) {
        const struct dav_ext *ext = dr->core->app->ext[e];
        if (ext->unwrap_put && ext->unwrap_put(dr, &res, &in, &modified, err) != 0) {
            return -1;
        }
    }
    struct store_item out;
    bool created = false;
    if (dav_item_put(dr, &res, &in, &out, &created, err) != 0) {
        return -1;
    }
    if (dav_commit(dr, err) != 0) {
        return -1;
    }
    if (!dr->stored_differs) {
        http_resp_header(dr->http, "ETag", dav_etag(dr->arena, &res.coll, out.modseq));
    }
    (void)dav_ext_item_headers(dr, &res.coll, out.id, out.modseq, false, false);
    if (created) {
        http_resp_header(dr->http, "Location", res.href);
    }
    if (modified) {
        http_resp_status(dr->http, 210);
        http_resp_header(dr->http, "Content-Type", "application/xml; charset=utf-8");
        http_resp_body(dr->http, modified, strlen(modified));
        return 0;
    }
    http_resp_status(dr->http, created ? 201 : 204);
    http_resp_body(dr->http, "", 0);
    return 0;
}

const struct dav_method dav_put = {.run = put_run, .raw_body = true};

/* ---------------------------------------------------------------------------------------- */
/* DELETE (RFC 4918 §9.6) */

static int delete_run(struct dav_req *dr, struct err *err)
{
    struct dav_res res;
    if (dav_begin_write(dr, err) != 0 || dav_resolve(dr, http_req_path(dr->http), &res, err)) {
        return -1;
    }
    if (res.kind == DAV_RES_NONE) {
        return err_set(err, &dav_cond_not_found, "no such resource");
    }
    if (res.kind != DAV_RES_ITEM &&
        (res.kind != DAV_RES_COLL || res.coll.kind == STORE_COLL_HOME)) {
        return err_set(err, &dav_cond_forbidden, "this collection cannot be deleted");
    }
    /* issue 12: the sharee's DELETE of the share itself leaves their home (they revoke their
     * own grant; the owner's calendar stays); anything else needs the access rule */
    bool unshare = res.kind == DAV_RES_COLL && res.share && res.share->coll == res.coll.id;
    if (!unshare &&
        dav_check_write(dr, &res.coll, res.kind == DAV_RES_ITEM ? res.parent_href : res.href,
                        res.kind == DAV_RES_ITEM ? DAV_OP_DELETE : DAV_OP_COLL_DELETE, err) != 0) {
        return -1;
    }
    const char *etag =
        res.kind == DAV_RES_ITEM ? dav_etag(dr->arena, &res.coll, res.item.modseq) : NULL;
    if (dav_check_preconditions(dr, &res, res.kind == DAV_RES_ITEM ? etag : "*", err) != 0) {
        return -1;
    }
    if (unshare) {
        enum store_rc rc = store_share_del(dr->store, res.coll.id, dr->principal);
        if (rc != STORE_OK) {
            return dav_store_err(dr, rc, err);
        }
    } else if (res.kind == DAV_RES_ITEM) {
        if (dav_item_delete(dr, &res.coll, res.item.name, err) != 0) {
            return -1;
        }
        /* the tombstone's modseq is the collection's after the delete */
        struct store_coll after;
        enum store_rc rc = store_coll_get(dr->store, res.coll.id, dr->arena, &after);
        if (rc != STORE_OK) {
            return dav_store_err(dr, rc, err);
        }
        (void)dav_ext_item_headers(dr, &after, res.item.id, after.modseq, true, false);
    } else {
        if (dav_coll_delete(dr, &res.coll, err) != 0) {
            return -1;
        }
    }
    if (dav_commit(dr, err) != 0) {
        return -1;
    }
    http_resp_status(dr->http, 204);
    http_resp_body(dr->http, "", 0);
    return 0;
}

const struct dav_method dav_delete = {.run = delete_run};

/* ---------------------------------------------------------------------------------------- */
/* MKCOL (RFC 4918 §9.3) */

static int mkcol_run(struct dav_req *dr, struct err *err)
{
    struct dav_res res;
    if (dav_begin_write(dr, err) != 0 || dav_resolve(dr, http_req_path(dr->http), &res, err)) {
        return -1;
    }
    if (res.kind != DAV_RES_NONE) {
        return err_set(err, &dav_cond_method_not_allowed, "a resource exists at this URL");
    }
    if (!res.has_parent || res.foreign) {
        return missing_target(&res, err);
    }
    if (dav_check_write(dr, &res.coll, res.parent_href, DAV_OP_COLL_CREATE, err) != 0) {
        return -1;
    }
    if (dav_if_check_target(dr, &res, err) != 0) {
        return -1;
    }
    struct store_coll c;
    enum store_rc rc =
        store_coll_create(dr->store, res.coll.id, res.name, STORE_COLL_PLAIN, dr->arena, &c);
    if (rc != STORE_OK) {
        return dav_store_err(dr, rc, err);
    }
    if (dav_commit(dr, err) != 0) {
        return -1;
    }
    http_resp_status(dr->http, 201);
    http_resp_header(dr->http, "Location",
                     dav_child_href(dr->arena, res.parent_href, res.name, true));
    http_resp_body(dr->http, "", 0);
    return 0;
}

const struct dav_method dav_mkcol = {.run = mkcol_run, .no_body = true};
