/* web/web.c: the /web/ route: the request's life (the body bounded and collected, the
 * store connection, the session cookie, the CSRF check), dispatch by path and method, and
 * the actions behind the forms (sign in and out, import, subscription URLs, forgetting a
 * device). Pages are pages.c's. Conditions: web/conds.def, http_cond_not_found,
 * http_cond_method_not_allowed, http_cond_body_too_large, http_cond_auth_throttled,
 * err_cond_unavailable, err_cond_store_unavailable, err_cond_internal, and calstore_import's. */
#include "web/web.h"

#include <stdint.h>
#include <string.h>
#include <time.h>

#include "cal/ics.h"
#include "calstore/export.h"
#include "calstore/import.h"
#include "util/deadline.h"
#include "util/log.h"
#include "util/parse.h"
#include "util/timeutil.h"
#include "web/form.h"
#include "web/web_int.h"

#define ERR_COND(sym, name, ns, http, eas) ERR_COND_DEFINE(sym, name, ns, http, eas)
#include "web/conds.def"
#undef ERR_COND

/* The stylesheet: the only style the pages use (the CSP forbids inline style). */
static const char style_css[] =
    "body{font-family:system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}\n"
    "header{background:#23395d;color:#fff;padding:.6em 1.2em;display:flex;flex-wrap:wrap;"
    "align-items:center;gap:1em}\n"
    "header h1{font-size:1.3em;margin:0}\n"
    "header a{color:#fff}\n"
    "nav{display:flex;gap:1em;align-items:center}\n"
    "main{padding:1em 1.2em;max-width:70em}\n"
    "table{border-collapse:collapse;margin:.5em 0 1.5em;background:#fff}\n"
    "th,td{border:1px solid #ccd;padding:.3em .6em;text-align:left;vertical-align:top}\n"
    "td.num{text-align:right}\n"
    "form.inline{display:inline;margin:0}\n"
    "code{background:#eef;padding:.1em .3em;word-break:break-all}\n"
    "section{background:#fff;border:1px solid #ccd;padding:.5em 1em;margin:1em 0}\n"
    "label{display:block;margin:.4em 0}\n"
    ".error{color:#a00;font-weight:bold}\n"
    ".ok{color:#070;font-weight:bold}\n"
    ".who{margin:0 0 0 auto}\n";

/* ---------------------------------------------------------------------------------------- */
/* Helpers shared with pages.c */

void web_security_headers(struct http_request *req)
{
    http_resp_header(req, "Content-Security-Policy",
                     "default-src 'self'; form-action 'self'; frame-ancestors 'none'; "
                     "base-uri 'none'; object-src 'none'");
    http_resp_header(req, "X-Frame-Options", "DENY");
    http_resp_header(req, "X-Content-Type-Options", "nosniff");
    http_resp_header(req, "Referrer-Policy", "no-referrer");
    http_resp_header(req, "Cache-Control", "no-store");
}

int web_store_err(struct web_req *wr, enum store_rc rc, struct err *err)
{
    /* Busy or failed: the server's trouble, retried (issue 14: a store failure is a 503 on
     * every route, never a 500); the store's detail goes to the log, not to the page. */
    log_warn("web: the store failed (%d): %s", (int)rc,
             wr->store ? store_last_error(wr->store) : "no connection");
    http_resp_error_header(wr->http, "Retry-After", "30");
    if (!wr->store || rc == STORE_UNAVAILABLE) {
        return err_set(err, &err_cond_store_unavailable,
                       "the store's database cannot be reached now; retry later");
    }
    return err_set(err, &err_cond_unavailable, "the store cannot answer now; retry later");
}

const char *web_time(struct arena *a, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    char out[32];
    if (t <= 0 || !gmtime_r(&tt, &tm) ||
        strftime(out, sizeof(out), "%Y-%m-%d %H:%M UTC", &tm) == 0) {
        return "-";
    }
    return arena_strdup(a, out);
}

static void redirect(struct http_request *req, const char *location)
{
    http_resp_status(req, 303);
    http_resp_header(req, "Location", location);
    web_security_headers(req);
    http_resp_body(req, "", 0);
}

/* "http://host:port" split into what the connect page and the profile show. */
static void parse_origin(struct arena *a, const char *origin, struct web_origin *o)
{
    o->origin = origin;
    o->tls = strncmp(origin, "https://", 8) == 0;
    const char *auth = strstr(origin, "://");
    auth = auth ? auth + 3 : origin;
    o->authority = auth;
    o->port = o->tls ? 443 : 80;
    const char *port = NULL;
    if (auth[0] == '[') {
        const char *close = strchr(auth, ']');
        o->host = close ? arena_strndup(a, auth + 1, (size_t)(close - auth - 1)) : auth;
        port = close && close[1] == ':' ? close + 2 : NULL;
    } else {
        const char *colon = strrchr(auth, ':');
        o->host = colon ? arena_strndup(a, auth, (size_t)(colon - auth)) : auth;
        port = colon ? colon + 1 : NULL;
    }
    uint64_t p = 0;
    if (port && parse_u64(slice_from_cstr(port), &p) == 0 && p > 0 && p < 65536) {
        o->port = (unsigned)p;
    }
}

/* ---------------------------------------------------------------------------------------- */
/* The request's life */

static void release_store(void *p)
{
    struct web_req *wr = p;
    store_pool_release(wr->app->pool, wr->store);
}

static void free_body(void *p)
{
    struct web_req *wr = p;
    buf_deinit(&wr->body);
}

static int web_begin(void *appv, struct http_request *req, struct err *err)
{
    struct web_app *app = appv;
    enum http_method m = http_req_method(req);
    if (m != HTTP_M_GET && m != HTTP_M_HEAD && m != HTTP_M_POST) {
        http_resp_error_header(req, "Allow", "GET, HEAD, POST");
        return err_set(err, &http_cond_method_not_allowed, "the web page takes GET and POST");
    }
    struct arena *a = http_req_arena(req);
    struct web_req *wr = arena_zalloc(a, sizeof(*wr));
    wr->app = app;
    wr->http = req;
    wr->arena = a;
    wr->is_import = m == HTTP_M_POST && strcmp(http_req_path(req), WEB_PREFIX "import") == 0;
    size_t limit = wr->is_import ? app->cfg.max_import_size : WEB_FORM_BODY_MAX;
    buf_init(&wr->body, limit);
    arena_defer(a, free_body, wr);
    http_req_set_state(req, wr);
    int64_t cl = http_req_content_length(req);
    if (m == HTTP_M_POST && cl > 0 && (uint64_t)cl > limit) {
        return wr->is_import ? err_set(err, &web_cond_import_too_large,
                                       "the file is larger than max_import_size (%zu bytes)", limit)
                             : err_set(err, &http_cond_body_too_large,
                                       "a form body larger than %zu bytes", limit);
    }
    return 0;
}

static int web_body(void *appv, struct http_request *req, const char *p, size_t n, struct err *err)
{
    (void)appv;
    struct web_req *wr = http_req_state(req);
    if (http_req_method(req) != HTTP_M_POST) {
        /* a GET's body means nothing here: dropped, but not without end */
        wr->dropped += n;
        return wr->dropped > WEB_FORM_BODY_MAX
                   ? err_set(err, &http_cond_body_too_large, "a GET with a body over %d bytes",
                             WEB_FORM_BODY_MAX)
                   : 0;
    }
    if (buf_append(&wr->body, p, n) != 0) {
        return wr->is_import
                   ? err_set(err, &web_cond_import_too_large,
                             "the file is larger than max_import_size (%zu bytes)", wr->body.limit)
                   : err_set(err, &http_cond_body_too_large, "a form body larger than %zu bytes",
                             wr->body.limit);
    }
    return 0;
}

/* Reads the session cookie in the read transaction open on wr->store. */
static int check_session(struct web_req *wr, struct err *err)
{
    const char *h = http_req_header(wr->http, "Cookie");
    wr->cookie = web_cookie_get(h, WEB_SESSION_COOKIE);
    if (!wr->cookie.ptr) {
        return 0;
    }
    const char *why = NULL;
    enum store_rc rc = STORE_OK;
    if (web_session_verify(&wr->keys, wr->store, wr->cookie, time_now(), wr->arena, &wr->sess, &why,
                           &rc) != 0) {
        if (rc != STORE_OK) {
            return web_store_err(wr, rc, err);
        }
        log_debug("web session refused req=%llu why=\"%s\"",
                  (unsigned long long)http_req_id(wr->http), why);
        return 0;
    }
    rc = store_principal_get(wr->store, wr->sess.user, wr->arena, &wr->principal);
    if (rc != STORE_OK) {
        return rc == STORE_NOTFOUND ? 0 : web_store_err(wr, rc, err);
    }
    wr->signed_in = true;
    log_sanitize(wr->sess.user, strlen(wr->sess.user), wr->user_log, sizeof(wr->user_log));
    web_csrf_token(&wr->keys, wr->cookie, wr->csrf);
    http_req_log_field(wr->http, "web_user", wr->sess.user);
    return 0;
}

/* Parses a POST's form (multipart for the import, urlencoded otherwise) and checks its CSRF
 * token against the session cookie. */
static int read_form(struct web_req *wr, struct web_form *f, struct err *err)
{
    struct slice body = buf_slice(&wr->body);
    if (!body.ptr) {
        body = (struct slice){"", 0};
    }
    if (wr->is_import) {
        const char *boundary = NULL;
        const char *ct = http_req_header(wr->http, "Content-Type");
        if (web_multipart_boundary(ct ? ct : "", wr->arena, &boundary, err) != 0 ||
            web_multipart_parse(body, boundary, wr->arena, f, err) != 0) {
            return -1;
        }
    } else if (web_form_urlencoded(body, wr->arena, f, err) != 0) {
        return -1;
    }
    const struct web_field *tok = web_form_get(f, "csrf");
    if (!tok || web_csrf_check(&wr->keys, wr->cookie, tok->value) != 0) {
        return err_set(err, &web_cond_bad_csrf,
                       "the form's token does not match this session; reload the page");
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Actions */

static int do_login(struct web_req *wr, struct err *err)
{
    struct web_form f;
    struct slice body = buf_slice(&wr->body);
    if (web_form_urlencoded(body.ptr ? body : (struct slice){"", 0}, wr->arena, &f, err) != 0) {
        return -1;
    }
    const char *user = web_form_text(&f, "user", wr->arena);
    char *password = web_form_text(&f, "password", wr->arena);
    if (!user || !password || !*user || !*password) {
        return err_set(err, &web_cond_bad_login, "give a user name and a password");
    }
    store_rollback(wr->store); /* the check takes a connection of its own */
    uint64_t gen = 0;
    int rc = http_verify_password(wr->http, user, password, &gen, err);
    sec_memzero(password, strlen(password));
    /* the body and its decoded copy in the form hold the password too */
    sec_memzero(wr->body.data, wr->body.len);
    const struct web_field *pw = web_form_get(&f, "password");
    sec_memzero((void *)(uintptr_t)pw->value.ptr, pw->value.len);
    if (rc != 0) {
        if (err->cond == &http_cond_unauthenticated) {
            /* not 401: that would make the browser ask for Basic credentials */
            err_replace(err, &web_cond_bad_login, "bad user name or password");
        }
        return -1;
    }
    const char *cookie =
        web_session_make(&wr->keys, user, time_now() + WEB_SESSION_TTL, gen, wr->arena);
    if (!cookie) {
        return err_set(err, &web_cond_bad_login, "user name too long");
    }
    http_resp_header(
        wr->http, "Set-Cookie",
        arena_printf(
            wr->arena, "%s=%s; Path=" WEB_PREFIX "; Max-Age=%d; HttpOnly; SameSite=Strict%s",
            WEB_SESSION_COOKIE, cookie, (int)WEB_SESSION_TTL, wr->origin.tls ? "; Secure" : ""));
    http_req_log_field(wr->http, "web_user", user);
    char clean[160];
    log_sanitize(user, strlen(user), clean, sizeof(clean));
    log_info("web sign-in user=%s", clean);
    redirect(wr->http, WEB_PREFIX);
    return 0;
}

static void clear_cookie(struct web_req *wr)
{
    http_resp_header(wr->http, "Set-Cookie",
                     WEB_SESSION_COOKIE "=; Path=" WEB_PREFIX
                                        "; Max-Age=0; HttpOnly; SameSite=Strict");
}

/* A calendar name from a form: one path segment a client can address. */
static bool good_calendar_name(const char *n)
{
    size_t len = strlen(n);
    if (len == 0 || len > STORE_NAME_MAX || strcmp(n, ".") == 0 || strcmp(n, "..") == 0) {
        return false;
    }
    for (const char *p = n; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c == 0x7f || c == '/' || c == '\\') {
            return false;
        }
    }
    return true;
}

/* The user's calendar `name` in wr->principal's home (a transaction is open). */
static int
find_calendar(struct web_req *wr, const char *name, struct store_coll *out, struct err *err)
{
    enum store_rc rc = store_coll_lookup(wr->store, wr->principal.home_id, name, wr->arena, out);
    if (rc == STORE_NOTFOUND || (rc == STORE_OK && out->kind != STORE_COLL_CALENDAR)) {
        return err_set(err, &http_cond_not_found, "you have no calendar of that name");
    }
    return rc == STORE_OK ? 0 : web_store_err(wr, rc, err);
}

struct refusals {
    struct arena *arena;
    struct web_refusal list[WEB_IMPORT_MAX_REFUSALS];
    size_t n;
    int64_t budget_us; /* web_config.object_budget_us */
};

static void on_refused(void *ctx, size_t line, const char *uid, const char *why)
{
    struct refusals *r = ctx;
    if (r->n < WEB_IMPORT_MAX_REFUSALS) {
        r->list[r->n++] = (struct web_refusal){.line = line,
                                               .uid = uid ? arena_strdup(r->arena, uid) : NULL,
                                               .why = arena_strdup(r->arena, why)};
    }
}

/* After each object: a fresh time budget for the next one (util/deadline.h). The HTTP layer
 * gives a route call request_time_budget, which a file of 100,000 objects outlasts on a
 * slow disk; every object after it would be refused as over budget. */
static void on_progress(void *ctx, size_t done, size_t total)
{
    (void)done;
    (void)total;
    struct refusals *r = ctx;
    if (r->budget_us > 0) {
        deadline_start(r->budget_us);
    }
}

/* POST /web/import: the file into a chosen or a new calendar, through calstore_import. */
static int do_import(struct web_req *wr, const struct web_form *f, struct err *err)
{
    const char *target = web_form_text(f, "new_calendar", wr->arena);
    bool is_new = target && *target;
    if (!target && web_form_get(f, "new_calendar")) {
        return err_set(err, &web_cond_bad_form, "a calendar name is UTF-8 text without NUL");
    }
    if (!is_new) {
        target = web_form_text(f, "calendar", wr->arena);
    }
    if (!target || !*target) {
        return err_set(err, &web_cond_bad_form, "choose a calendar or name a new one");
    }
    if (!good_calendar_name(target)) {
        return err_set(err, &web_cond_bad_form,
                       "a calendar name is 1 to %d bytes without '/', '\\' or control characters",
                       STORE_NAME_MAX);
    }
    const struct web_field *file = NULL;
    for (size_t i = 0; i < f->n; i++) {
        if (f->fields[i].filename) {
            file = &f->fields[i];
        }
    }
    if (!file || strcmp(file->name, "file") != 0 || file->value.len == 0) {
        return err_set(err, &web_cond_bad_form, "choose a non-empty .ics file to import");
    }
    /* a file that is not iCalendar is refused before a calendar is made for it */
    struct cal_split *sp = NULL;
    if (cal_split_open(file->value, &sp, err) != 0) {
        return -1;
    }
    cal_split_free(&sp);
    store_rollback(wr->store);
    struct store_coll coll;
    enum store_rc rc = store_begin_write(wr->store);
    if (rc == STORE_OK) {
        rc = store_coll_lookup(wr->store, wr->principal.home_id, target, wr->arena, &coll);
        if (rc == STORE_NOTFOUND) {
            rc = store_coll_create(wr->store, wr->principal.home_id, target, STORE_COLL_CALENDAR,
                                   wr->arena, &coll);
        } else if (rc == STORE_OK && coll.kind != STORE_COLL_CALENDAR) {
            store_rollback(wr->store);
            return err_set(err, &web_cond_not_a_calendar, "'%s' is not a calendar", target);
        }
    }
    if (rc == STORE_OK) {
        rc = store_commit(wr->store);
    }
    if (rc != STORE_OK) {
        store_rollback(wr->store);
        return web_store_err(wr, rc, err);
    }
    struct refusals *r = arena_zalloc(wr->arena, sizeof(*r));
    r->arena = wr->arena;
    r->budget_us = wr->app->cfg.object_budget_us;
    struct calstore_import_opts opts = {.max_object = wr->app->cfg.max_object,
                                        .refused = on_refused,
                                        .progress = on_progress,
                                        .ctx = r};
    on_progress(r, 0, 0);
    struct calstore_import_result res;
    if (calstore_import(wr->store, coll.id, file->value, &opts, &res, err) != 0) {
        return -1;
    }
    log_info("web import user=%s calendar_id=%llu objects=%zu added=%zu replaced=%zu "
             "unchanged=%zu refused=%zu",
             wr->user_log, (unsigned long long)coll.id, res.total, res.added, res.replaced,
             res.unchanged, res.refused);
    /* the result page reads nothing more of the store */
    return web_page_import_result(wr, target, &res, r->list, r->n, err);
}

/* POST /web/subscriptions: action=create or revoke, for one calendar. */
static int do_subscription(struct web_req *wr, const struct web_form *f, struct err *err)
{
    const char *name = web_form_text(f, "calendar", wr->arena);
    const char *action = web_form_text(f, "action", wr->arena);
    bool create = action && strcmp(action, "create") == 0;
    if (!name || !action || (!create && strcmp(action, "revoke") != 0)) {
        return err_set(err, &web_cond_bad_form, "a calendar and an action (create or revoke)");
    }
    store_rollback(wr->store);
    enum store_rc rc = store_begin_write(wr->store);
    if (rc != STORE_OK) {
        return web_store_err(wr, rc, err);
    }
    struct store_coll coll;
    if (find_calendar(wr, name, &coll, err) != 0) {
        store_rollback(wr->store);
        return -1;
    }
    struct store_sub sub;
    rc = create ? store_sub_create(wr->store, coll.id, wr->arena, &sub)
                : store_sub_revoke(wr->store, coll.id);
    if (rc == STORE_NOTFOUND && !create) {
        rc = STORE_OK; /* nothing to revoke: the page shows none either way */
    }
    if (rc == STORE_OK) {
        rc = store_commit(wr->store);
    }
    if (rc != STORE_OK) {
        store_rollback(wr->store);
        return web_store_err(wr, rc, err);
    }
    log_info("web subscription user=%s calendar_id=%llu action=%s", wr->user_log,
             (unsigned long long)coll.id, action);
    redirect(wr->http, WEB_PREFIX "#subscriptions");
    return 0;
}

/* POST /web/devices/forget: deletes one ActiveSync device and all its sync state. */
static int do_forget_device(struct web_req *wr, const struct web_form *f, struct err *err)
{
    const char *device = web_form_text(f, "device", wr->arena);
    if (!device || !*device) {
        return err_set(err, &web_cond_bad_form, "which device?");
    }
    store_rollback(wr->store);
    enum store_rc rc = store_begin_write(wr->store);
    if (rc == STORE_OK) {
        rc = store_eas_device_del(wr->store, wr->principal.id, device);
    }
    if (rc == STORE_OK) {
        rc = store_commit(wr->store);
    }
    if (rc != STORE_OK) {
        store_rollback(wr->store);
        return rc == STORE_NOTFOUND ? err_set(err, &http_cond_not_found, "you have no such device")
                                    : web_store_err(wr, rc, err);
    }
    log_info("web device forgotten user=%s", wr->user_log);
    redirect(wr->http, WEB_PREFIX "devices");
    return 0;
}

/* GET /web/export/<calendar>.ics: the file, streamed in the read transaction already open. */
static int do_export(struct web_req *wr, const char *rest, struct err *err)
{
    size_t n = strlen(rest);
    if (n <= 4 || strcmp(rest + n - 4, ".ics") != 0 || memchr(rest, '/', n)) {
        return err_set(err, &http_cond_not_found, "no such export");
    }
    const char *name = arena_strndup(wr->arena, rest, n - 4);
    struct store_coll coll;
    if (find_calendar(wr, name, &coll, err) != 0) {
        return -1;
    }
    struct calstore_export *x = calstore_export_open(
        wr->store, &coll, name, wr->app->cfg.max_object * 2 + (64u << 10), wr->arena);
    if (!x) {
        return web_store_err(wr, STORE_IO, err);
    }
    /* the name is a path segment: quote what a quoted-string cannot hold */
    struct buf b;
    buf_init(&b, BUF_LIMIT_HREF);
    int brc = buf_append_cstr(&b, "attachment; filename=\"");
    for (const char *p = name; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        brc |= buf_putc(&b, ch < 0x20 || ch == '"' || ch == '\\' || ch >= 0x7f ? '_' : (char)ch);
    }
    brc |= buf_append_cstr(&b, ".ics\"");
    if (brc == 0) {
        http_resp_header(wr->http, "Content-Disposition", arena_strdup(wr->arena, buf_cstr(&b)));
    }
    buf_deinit(&b);
    http_resp_status(wr->http, 200);
    http_resp_header(wr->http, "Content-Type", "text/calendar; charset=utf-8");
    http_resp_header(wr->http, "Cache-Control", "no-store");
    http_resp_header(wr->http, "X-Content-Type-Options", "nosniff");
    http_resp_stream(wr->http, calstore_export_read, x);
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Dispatch */

static int serve_get(struct web_req *wr, const char *sub, struct err *err)
{
    if (strcmp(sub, "") == 0) {
        return web_page_calendars(wr, err);
    }
    if (strcmp(sub, "devices") == 0) {
        return web_page_devices(wr, err);
    }
    if (strcmp(sub, "connect") == 0) {
        return web_page_connect(wr, err);
    }
    if (strcmp(sub, "profile.mobileconfig") == 0) {
        return web_profile(wr, err);
    }
    if (strncmp(sub, "export/", 7) == 0) {
        return do_export(wr, sub + 7, err);
    }
    return err_set(err, &http_cond_not_found, "no such page");
}

static int serve_post(struct web_req *wr, const char *sub, struct err *err)
{
    struct web_form *f = arena_zalloc(wr->arena, sizeof(*f));
    if (strcmp(sub, "logout") != 0 && strcmp(sub, "import") != 0 &&
        strcmp(sub, "subscriptions") != 0 && strcmp(sub, "devices/forget") != 0) {
        return err_set(err, &http_cond_not_found, "no such form");
    }
    if (read_form(wr, f, err) != 0) {
        return -1;
    }
    if (strcmp(sub, "logout") == 0) {
        clear_cookie(wr);
        redirect(wr->http, WEB_PREFIX "login");
        return 0;
    }
    if (strcmp(sub, "import") == 0) {
        return do_import(wr, f, err);
    }
    if (strcmp(sub, "subscriptions") == 0) {
        return do_subscription(wr, f, err);
    }
    return do_forget_device(wr, f, err);
}

static int web_end(void *appv, struct http_request *req, struct err *err)
{
    struct web_app *app = appv;
    struct web_req *wr = http_req_state(req);
    const char *path = http_req_path(req);
    if (strncmp(path, WEB_PREFIX, strlen(WEB_PREFIX)) != 0) {
        return err_set(err, &http_cond_not_found, "no such page");
    }
    const char *sub = path + strlen(WEB_PREFIX);
    bool is_post = http_req_method(req) == HTTP_M_POST;
    if (strcmp(sub, "style.css") == 0 && !is_post) {
        http_resp_status(req, 200);
        http_resp_header(req, "Content-Type", "text/css; charset=utf-8");
        http_resp_header(req, "Cache-Control", "max-age=3600");
        http_resp_header(req, "X-Content-Type-Options", "nosniff");
        http_resp_body(req, style_css, sizeof(style_css) - 1);
        return 0;
    }
    parse_origin(wr->arena, http_req_origin(req), &wr->origin);
    wr->store = store_pool_acquire(app->pool);
    if (!wr->store) {
        return web_store_err(wr, STORE_UNAVAILABLE, err);
    }
    arena_defer(wr->arena, release_store, wr);
    uint8_t secret[STORE_SECRET_BYTES];
    store_secret(wr->store, secret);
    web_keys_derive(secret, &wr->keys);
    sec_memzero(secret, sizeof(secret));
    enum store_rc rc = store_begin_read(wr->store);
    if (rc != STORE_OK) {
        return web_store_err(wr, rc, err);
    }
    if (check_session(wr, err) != 0) {
        return -1;
    }
    if (strcmp(sub, "login") == 0) {
        if (is_post) {
            return do_login(wr, err);
        }
        if (wr->signed_in) {
            redirect(req, WEB_PREFIX);
            return 0;
        }
        return web_page_login(wr, err);
    }
    if (!wr->signed_in) {
        if (is_post) {
            return err_set(err, &web_cond_no_session, "sign in first (or again: it expired)");
        }
        redirect(req, WEB_PREFIX "login");
        return 0;
    }
    return is_post ? serve_post(wr, sub, err) : serve_get(wr, sub, err);
}

static void web_render_error(void *app, struct http_request *req, const struct err *e)
{
    (void)app;
    if (e->cond == &web_cond_no_session) {
        struct web_req *wr = http_req_state(req);
        if (wr && wr->cookie.ptr) {
            /* a stale cookie: drop it so the sign-in page is not followed by this again */
            http_resp_header(req, "Set-Cookie",
                             WEB_SESSION_COOKIE "=; Path=" WEB_PREFIX
                                                "; Max-Age=0; HttpOnly; SameSite=Strict");
        }
    }
    web_page_error(req, e);
}

struct http_route web_route(struct web_app *app)
{
    struct http_route r = {
        .prefix = WEB_PREFIX,
        .app = app,
        .is_public = true, /* the session cookie is checked here (web_end) */
        .begin = web_begin,
        .body = web_body,
        .end = web_end,
        .render_error = web_render_error,
    };
    return r;
}
