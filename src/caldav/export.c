/* caldav/export.c: a calendar collection as one iCalendar file (issue 15):
 *  - GET of the collection by a client that asks for it (`Accept: text/calendar`, or `?export`
 *    from a browser's download link, which then gets Content-Disposition); every other GET
 *    goes to the WebDAV core's;
 *  - GET /subscribe/<token>.ics without signing in, the token naming the calendar
 *    (store.h "Subscription URLs"; webcal:// subscribers send no credentials).
 * The file streams from a cursor over the calendar's objects, one object in memory at a
 * time, joined by cal/ics.h (each VTIMEZONE once); its ETag is the collection's, so a
 * subscriber's If-None-Match gets a 304 until the calendar changes. Conditions: those of
 * dav_get, dav_cond_not_modified (304), http_cond_not_found (an unknown or revoked token),
 * http_cond_method_not_allowed (anything but GET and HEAD on /subscribe/). */
#include <stdbool.h>
#include <string.h>

#include "cal/ics.h"
#include "caldav/caldav.h"
#include "caldav/caldav_int.h"
#include "util/log.h"

enum {
    EXPORT_ZONE_BYTES = 64 * 1024, /* TZIDs remembered; past it a zone repeats (ics.h) */
};

#define SUBSCRIBE_PREFIX "/subscribe/"

struct exporter {
    struct arena *arena;
    struct store *store; /* in a read transaction */
    struct store_coll coll;
    const char *href; /* for the log */
    struct store_cursor *cur;
    struct cal_join *join;
    bool head_sent, done;
    struct buf pending; /* export_read's: bytes made and not yet handed out */
    size_t off;
    struct dav_app *app; /* /subscribe/: the pool its store came from */
};

static void export_close(void *p)
{
    struct exporter *x = p;
    store_cursor_close(&x->cur);
    cal_join_free(&x->join);
    buf_deinit(&x->pending);
}

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

static int export_next(void *ctx, struct buf *out)
{
    struct exporter *x = ctx;
    if (x->done) {
        return 0;
    }
    if (!x->head_sent) {
        x->head_sent = true;
        return cal_join_head(x->join, x->coll.name, out) == 0 ? 1 : -1;
    }
    for (;;) {
        struct store_item it;
        enum store_rc rc = store_cursor_next_item(x->cur, &it);
        if (rc == STORE_NOTFOUND) {
            x->done = true;
            return cal_join_tail(x->join, out) == 0 ? 1 : -1;
        }
        if (rc != STORE_OK) {
            log_warn("export of %s: the cursor failed (%d); response abandoned", x->href, rc);
            return -1;
        }
        struct arena_mark m = arena_mark(x->arena);
        struct store_item full;
        rc = store_item_get(x->store, x->coll.id, it.name, STORE_ITEM_CONTENT, x->arena, &full);
        int w = -1;
        if (rc == STORE_OK) {
            w = cal_join_object(x->join, (struct slice){full.content, full.size}, out);
        } else {
            /* one snapshot: the row the cursor gave is there unless the store failed */
            log_warn("export of %s: item %s unreadable (%d); response abandoned", x->href, it.name,
                     rc);
        }
        arena_rewind(x->arena, m);
        if (w != 0) {
            return -1;
        }
        if (out->len > 0) {
            return 1;
        }
    }
}

/* Opens the cursor and the joiner over `x->coll` (x->arena, x->store in a read transaction
 * set by the caller); cleanup is deferred to the arena. */
static int export_open(struct exporter *x)
{
    enum store_rc rc = store_items_open(x->store, x->coll.id, STORE_ORDER_NAME, &x->cur);
    if (rc != STORE_OK) {
        return -1;
    }
    x->join = cal_join_new(EXPORT_ZONE_BYTES);
    arena_defer(x->arena, export_close, x);
    return 0;
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
    struct exporter *x = arena_zalloc(dr->arena, sizeof(*x));
    *x = (struct exporter){
        .arena = dr->arena, .store = dr->store, .coll = res.coll, .href = res.href};
    if (export_open(x) != 0) {
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
    dav_stream(dr, 200, "text/calendar; charset=utf-8", "", "", export_next, x);
    return 0;
}

const struct dav_method caldav_get = {.run = get_run};

/* ---------------------------------------------------------------------------------------- */
/* /subscribe/<token>.ics: no credentials, the token is the capability. */

/* The pulled body (http_read_fn): export_next's pieces handed out as MHD asks. */
static ssize_t export_read(void *ctx, char *dst, size_t max)
{
    struct exporter *x = ctx;
    size_t written = 0;
    while (written < max) {
        if (x->off == x->pending.len) {
            buf_reset(&x->pending);
            x->off = 0;
            int rc = export_next(x, &x->pending);
            if (rc < 0) {
                return -1;
            }
            if (rc == 0) {
                break;
            }
            continue;
        }
        size_t n = x->pending.len - x->off;
        if (n > max - written) {
            n = max - written;
        }
        memcpy(dst + written, x->pending.data + x->off, n);
        x->off += n;
        written += n;
    }
    return (ssize_t)written;
}

static void release_store(void *p)
{
    struct exporter *x = p;
    store_rollback(x->store);
    store_pool_release(x->app->pool, x->store);
}

/* Busy or failed: the server's trouble, which a subscriber retries (issue 14): 503 with
 * Retry-After; the store's detail goes to the log, not to an unauthenticated client. */
static int subscribe_store_failed(struct http_request *req, struct exporter *x, struct err *err)
{
    log_warn("subscription: the store failed: %s", store_last_error(x->store));
    http_resp_error_header(req, "Retry-After", "30");
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
    struct exporter *x = arena_zalloc(a, sizeof(*x));
    x->arena = a;
    x->app = app;
    x->store = store_pool_acquire(app->pool);
    if (!x->store) {
        return err_set(err, &err_cond_unavailable,
                       "the store cannot open a connection now; retry later");
    }
    arena_defer(a, release_store, x);
    struct store_sub sub;
    enum store_rc rc = store_begin_read(x->store);
    if (rc == STORE_OK) {
        rc = store_sub_get(x->store, token, a, &sub);
    }
    if (rc == STORE_OK) {
        rc = store_coll_get(x->store, sub.coll, a, &x->coll);
    }
    if (rc == STORE_NOTFOUND) {
        return err_set(err, &http_cond_not_found, "no such subscription");
    }
    if (rc != STORE_OK) {
        return subscribe_store_failed(req, x, err);
    }
    x->href = "a subscription";
    const char *etag = dav_etag(a, &x->coll, x->coll.modseq);
    http_resp_header(req, "ETag", etag);
    http_resp_header(req, "Cache-Control", "no-cache");
    const char *inm = http_req_header(req, "If-None-Match");
    if (inm && (strcmp(inm, "*") == 0 || strstr(inm, etag) != NULL)) {
        http_resp_status(req, 304);
        http_resp_body(req, "", 0);
        return 0;
    }
    if (export_open(x) != 0) {
        return subscribe_store_failed(req, x, err);
    }
    buf_init(&x->pending, app->limits.max_resource_size * 2 + (64u << 10));
    http_resp_status(req, 200);
    http_resp_header(req, "Content-Type", "text/calendar; charset=utf-8");
    http_resp_stream(req, export_read, x);
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
