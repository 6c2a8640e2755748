/* caldav/export.c: GET of a calendar collection as one iCalendar file (issue 15), for a
 * client that asks for it (`Accept: text/calendar`, or `?export` from a browser's download
 * link, which then gets Content-Disposition). The file streams from a cursor over the
 * calendar's objects, one object in memory at a time, joined by cal/ics.h (each VTIMEZONE
 * once); its ETag is the collection's, so a subscriber's If-None-Match gets a 304 until the
 * calendar changes. Every other GET goes to the WebDAV core's. Conditions: those of dav_get,
 * dav_cond_not_modified (304). */
#include <stdbool.h>
#include <string.h>

#include "cal/ics.h"
#include "caldav/caldav_int.h"
#include "util/log.h"

enum {
    EXPORT_ZONE_BYTES = 64 * 1024, /* TZIDs remembered; past it a zone repeats (ics.h) */
};

struct export
{
    struct dav_req *dr;
    struct dav_res res;
    struct store_cursor *cur;
    struct cal_join *join;
    bool head_sent, done;
};

static void export_close(void *p)
{
    struct export *x = p;
    store_cursor_close(&x->cur);
    cal_join_free(&x->join);
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
    struct export *x = ctx;
    struct dav_req *dr = x->dr;
    if (x->done) {
        return 0;
    }
    if (!x->head_sent) {
        x->head_sent = true;
        return cal_join_head(x->join, x->res.coll.name, out) == 0 ? 1 : -1;
    }
    for (;;) {
        struct store_item it;
        enum store_rc rc = store_cursor_next_item(x->cur, &it);
        if (rc == STORE_NOTFOUND) {
            x->done = true;
            return cal_join_tail(x->join, out) == 0 ? 1 : -1;
        }
        if (rc != STORE_OK) {
            log_warn("export of %s: the cursor failed (%d); response abandoned", x->res.href, rc);
            return -1;
        }
        struct arena_mark m = arena_mark(dr->arena);
        struct store_item full;
        rc = store_item_get(dr->store, x->res.coll.id, it.name, STORE_ITEM_CONTENT, dr->arena,
                            &full);
        int w = -1;
        if (rc == STORE_OK) {
            w = cal_join_object(x->join, (struct slice){full.content, full.size}, out);
        } else {
            /* one snapshot: the row the cursor gave is there unless the store failed */
            log_warn("export of %s: item %s unreadable (%d); response abandoned", x->res.href,
                     it.name, rc);
        }
        arena_rewind(dr->arena, m);
        if (w != 0) {
            return -1;
        }
        if (out->len > 0) {
            return 1;
        }
    }
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
    struct export *x = arena_zalloc(dr->arena, sizeof(*x));
    x->dr = dr;
    if (dav_begin_read(dr, err) != 0 || dav_resolve(dr, path, &x->res, err) != 0) {
        return -1;
    }
    if (x->res.kind != DAV_RES_COLL || x->res.coll.kind != STORE_COLL_CALENDAR) {
        /* not a calendar: the core's answer for a collection (or its 404) */
        store_rollback(dr->store);
        return dav_get.run(dr, err);
    }
    const char *etag = dav_etag(dr->arena, &x->res.coll, x->res.coll.modseq);
    if (dav_check_preconditions(dr, &x->res, etag, err) != 0) {
        if (err->cond != &dav_cond_not_modified) {
            return -1;
        }
        err_init(err);
        http_resp_header(dr->http, "ETag", etag);
        http_resp_status(dr->http, 304);
        http_resp_body(dr->http, "", 0);
        return 0;
    }
    enum store_rc rc = store_items_open(dr->store, x->res.coll.id, STORE_ORDER_NAME, &x->cur);
    if (rc != STORE_OK) {
        return dav_store_err(dr, rc, err);
    }
    x->join = cal_join_new(EXPORT_ZONE_BYTES);
    arena_defer(dr->arena, export_close, x);
    http_resp_header(dr->http, "ETag", etag);
    if (download) {
        /* the name is a path segment: quote what a quoted-string cannot hold */
        struct buf b;
        buf_init(&b, BUF_LIMIT_HREF);
        int brc = buf_append_cstr(&b, "attachment; filename=\"");
        for (const char *p = x->res.coll.name; *p; p++) {
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
