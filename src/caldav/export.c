/* caldav/export.c: a calendar collection as one iCalendar file (issue 15):
 *  - GET of the collection by a client that asks for it (`Accept: text/calendar`, or `?export`
 *    from a browser's download link, which then gets Content-Disposition); every other GET
 *    goes to the WebDAV core's;
 *  - GET /subscribe/<token>.ics without signing in, the token naming the calendar
 *    (store.h "Subscription URLs"; webcal:// subscribers send no credentials).
 * The file streams from calstore/export.h's exporter (shared with the web page); its ETag is the
 * collection's, so a subscriber's If-None-Match gets a 304 until the calendar changes. Conditions:
 * those of dav_get, dav_cond_not_modified (304), http_cond_not_found (an unknown or revoked token),
 * http_cond_method_not_allowed (anything but GET and HEAD on /subscribe/). */
#include "calstore/export.h"

#include <stdbool.h>
#include <string.h>

#include "caldav/caldav.h"
#include "caldav/caldav_int.h"
#include "util/log.h"

#define SUBSCRIBE_PREFIX "/subscribe/"

/* True when an Accept header names text/calendar with a non-zero q (RFC 9110 §12.5.1). */
static bool accepts_calendar(const char *accept)
{
    struct slice rest = slice_from_cstr(accept);
    while (rest.len > 0) {
        const char *comma = memchr(rest.ptr, ',', rest.len);
        size_t n = comma ? (size_t)(comma - rest.ptr) : rest.len;
        struct slice range = {rest.ptr, n};
        const char *semi = memchr(range.ptr, ';', range.len);
        struct slice type =
            slice_trim((struct slice){range.ptr, semi ? (size_t)(semi - range.ptr) : n});
        if (slice_eq_ci(type, SLICE_LIT("text/calendar"))) {
            bool zero = false;
            for (const char *p = semi; p && p < range.ptr + n;
                 p = memchr(p + 1, ';', (size_t)(range.ptr + n - p - 1))) {
                struct slice param =
                    slice_trim((struct slice){p + 1, (size_t)(range.ptr + n - p - 1)});
                if (param.len >= 2 && (param.ptr[0] == 'q' || param.ptr[0] == 'Q') &&
                    param.ptr[1] == '=') {
                    struct slice q = slice_trim((struct slice){param.ptr + 2, param.len - 2});
                    zero = q.len > 0 && q.ptr[0] == '0';
                    for (size_t i = 1; zero && i < q.len && q.ptr[i] != ';'; i++) {
                        zero = q.ptr[i] == '.' || q.ptr[i] == '0';
                    }
                }
            }
            if (!zero) {
                return true;
            }
        }
        rest.ptr += comma ? n + 1 : n;
        rest.len -= comma ? n + 1 : n;
    }
    return false;
}

/* `export` among the query's parameters ("export", "export=1", "a=b&export"). */
static bool query_export(const char *query)
{
    struct slice rest = slice_from_cstr(query);
    while (rest.len > 0) {
        const char *amp = memchr(rest.ptr, '&', rest.len);
        size_t n = amp ? (size_t)(amp - rest.ptr) : rest.len;
        struct slice p = {rest.ptr, n};
        const char *eq = memchr(p.ptr, '=', p.len);
        if (slice_eq((struct slice){p.ptr, eq ? (size_t)(eq - p.ptr) : n}, SLICE_LIT("export"))) {
            return true;
        }
        rest.ptr += amp ? n + 1 : n;
        rest.len -= amp ? n + 1 : n;
    }
    return false;
}

static int get_run(struct dav_req *dr, struct err *err)
{
    const char *path = http_req_path(dr->http);
    size_t plen = strlen(path);
    const char *accept = http_req_header(dr->http, "Accept");
    bool download = query_export(http_req_query(dr->http));
    if (plen == 0 || path[plen - 1] != '/' || !(download || (accept && accepts_calendar(accept)))) {
        return dav_get.run(dr, err);
    }
    struct dav_res res;
    if (dav_begin_read(dr, err) != 0 || dav_resolve(dr, path, &res, err) != 0) {
        return -1;
    }
    if (res.kind != DAV_RES_COLL || res.coll.kind != STORE_COLL_CALENDAR) {
        /* not a calendar: the core's answer for a collection (or its 404) */
        store_rollback(dr->store);
        return dav_get.run(dr, err);
    }
    const char *etag = dav_etag(dr->arena, &res.coll, res.coll.modseq);
    if (dav_check_preconditions(dr, &res, etag, err) != 0) {
        if (err->cond != &dav_cond_not_modified) {
            return -1;
        }
        err_init(err);
        http_resp_header(dr->http, "ETag", etag);
        http_resp_status(dr->http, 304);
        http_resp_body(dr->http, "", 0);
        return 0;
    }
    struct calstore_export *x = calstore_export_open(dr->store, &res.coll, res.href, 0, dr->arena);
    if (!x) {
        return dav_store_err(dr, STORE_IO, err);
    }
    http_resp_header(dr->http, "ETag", etag);
    if (download) {
        /* the name is a path segment: quote what a quoted-string cannot hold */
        struct buf b;
        buf_init(&b, BUF_LIMIT_HREF);
        int brc = buf_append_cstr(&b, "attachment; filename=\"");
        for (const char *p = res.coll.name; *p; p++) {
            unsigned char ch = (unsigned char)*p;
            brc |=
                buf_putc(&b, ch < 0x20 || ch == '"' || ch == '\\' || ch >= 0x7f ? '_' : (char)ch);
        }
        brc |= buf_append_cstr(&b, ".ics\"");
        if (brc == 0) {
            http_resp_header(dr->http, "Content-Disposition",
                             arena_strdup(dr->arena, buf_cstr(&b)));
        }
        buf_deinit(&b);
    }
    dav_stream(dr, 200, "text/calendar; charset=utf-8", "", "", calstore_export_next, x);
    return 0;
}

const struct dav_method caldav_get = {.run = get_run};

/* ---------------------------------------------------------------------------------------- */
/* /subscribe/<token>.ics: no credentials, the token is the capability. */

/* The connection a subscription reads through, given back to the pool by an arena defer
 * made before the exporter's, so it runs after the exporter has closed its cursor. */
struct sub_store {
    struct dav_app *app;
    struct store *store;
};

static void release_store(void *p)
{
    struct sub_store *ss = p;
    store_rollback(ss->store);
    store_pool_release(ss->app->pool, ss->store);
}

/* Busy or failed: the server's trouble, which a subscriber retries (issue 14): 503 with
 * Retry-After; the store's detail goes to the log, not to an unauthenticated client. A
 * database that cannot be reached (no connection, or it was lost) is store-unavailable, as on
 * every route. */
static int subscribe_store_failed(struct http_request *req,
                                  struct sub_store *ss,
                                  enum store_rc rc,
                                  struct err *err)
{
    log_warn("subscription: the store failed: %s",
             ss->store ? store_last_error(ss->store) : "no connection");
    http_resp_error_header(req, "Retry-After", "30");
    if (!ss->store || rc == STORE_UNAVAILABLE) {
        return err_set(err, &err_cond_store_unavailable,
                       "the store's database cannot be reached now; retry later");
    }
    return err_set(err, &err_cond_unavailable, "the store cannot answer now; retry later");
}

static int subscribe_begin(void *app, struct http_request *req, struct err *err)
{
    (void)app;
    enum http_method m = http_req_method(req);
    if (m != HTTP_M_GET && m != HTTP_M_HEAD) {
        http_resp_error_header(req, "Allow", "GET, HEAD");
        return err_set(err, &http_cond_method_not_allowed, "a subscription is only read");
    }
    return 0;
}

static int subscribe_end(void *appv, struct http_request *req, struct err *err)
{
    struct dav_app *app = appv;
    struct arena *a = http_req_arena(req);
    const char *path = http_req_path(req) + strlen(SUBSCRIBE_PREFIX);
    size_t n = strlen(path);
    if (n > 4 && strcmp(path + n - 4, ".ics") == 0) {
        n -= 4;
    }
    const char *token = arena_strndup(a, path, n);
    struct sub_store *ss = arena_zalloc(a, sizeof(*ss));
    ss->app = app;
    ss->store = store_pool_acquire(app->pool);
    if (!ss->store) {
        return subscribe_store_failed(req, ss, STORE_UNAVAILABLE, err);
    }
    arena_defer(a, release_store, ss);
    struct store_sub sub;
    struct store_coll coll;
    enum store_rc rc = store_begin_read(ss->store);
    if (rc == STORE_OK) {
        rc = store_sub_get(ss->store, token, a, &sub);
    }
    if (rc == STORE_OK) {
        rc = store_coll_get(ss->store, sub.coll, a, &coll);
    }
    if (rc == STORE_NOTFOUND) {
        return err_set(err, &http_cond_not_found, "no such subscription");
    }
    if (rc != STORE_OK) {
        return subscribe_store_failed(req, ss, rc, err);
    }
    const char *etag = dav_etag(a, &coll, coll.modseq);
    http_resp_header(req, "ETag", etag);
    http_resp_header(req, "Cache-Control", "no-cache");
    const char *inm = http_req_header(req, "If-None-Match");
    if (inm && (strcmp(inm, "*") == 0 || strstr(inm, etag) != NULL)) {
        http_resp_status(req, 304);
        http_resp_body(req, "", 0);
        return 0;
    }
    struct calstore_export *x = calstore_export_open(
        ss->store, &coll, "a subscription", app->limits.max_resource_size * 2 + (64u << 10), a);
    if (!x) {
        return subscribe_store_failed(req, ss, STORE_IO, err);
    }
    http_resp_status(req, 200);
    http_resp_header(req, "Content-Type", "text/calendar; charset=utf-8");
    http_resp_stream(req, calstore_export_read, x);
    return 0;
}

static void subscribe_error(void *app, struct http_request *req, const struct err *e)
{
    (void)app;
    const char *text = arena_printf(http_req_arena(req), "%s: %s\n", e->cond->name, e->msg);
    http_resp_header(req, "Content-Type", "text/plain; charset=utf-8");
    http_resp_body(req, text, strlen(text));
}

struct http_route caldav_subscribe_route(struct dav_app *app)
{
    struct http_route r = {
        .prefix = SUBSCRIBE_PREFIX,
        .app = app,
        .is_public = true,
        .begin = subscribe_begin,
        .end = subscribe_end,
        .render_error = subscribe_error,
    };
    return r;
}
