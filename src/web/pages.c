/* web/pages.c: the HTML pages: sign-in, calendars (counts, sizes, export, import,
 * subscription URLs), devices, how to connect, the import result and the error page. Every
 * string that came from a user or a client (names, display names, device fields, the Host
 * the browser sent) goes through web_html_escape; the markup holds no script and no inline
 * style (the CSP forbids both). Reads only in the caller's read transaction. */
#include <string.h>

#include "util/log.h"
#include "web/html.h"
#include "web/web_int.h"

int web_page_begin(struct buf *b, const struct web_req *wr, const char *title)
{
    int rc = buf_append_cstr(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                                "<meta name=\"viewport\" content=\"width=device-width, "
                                "initial-scale=1\"><title>Almanac: ");
    rc |= web_html_text(b, title);
    rc |= buf_append_cstr(b, "</title><link rel=\"stylesheet\" href=\"" WEB_PREFIX
                             "style.css\"></head>\n<body><header><h1>Almanac</h1>");
    if (wr && wr->signed_in) {
        rc |=
            buf_append_cstr(b, "<nav><a href=\"" WEB_PREFIX "\">Calendars</a><a href=\"" WEB_PREFIX
                               "devices\">Devices</a><a href=\"" WEB_PREFIX
                               "connect\">Connect a client</a></nav><p class=\"who\">Signed in as "
                               "<b id=\"user\">");
        rc |= web_html_text(b, wr->sess.user);
        rc |= buf_appendf(b,
                          "</b> <form class=\"inline\" method=\"post\" action=\"" WEB_PREFIX
                          "logout\"><input type=\"hidden\" name=\"csrf\" value=\"%s\">"
                          "<button type=\"submit\" id=\"signout\">Sign out</button></form></p>",
                          wr->csrf);
    }
    rc |= buf_append_cstr(b, "</header>\n<main>\n<h2>");
    rc |= web_html_text(b, title);
    rc |= buf_append_cstr(b, "</h2>\n");
    return rc == 0 ? 0 : -1;
}

int web_page_end(struct buf *b)
{
    return buf_append_cstr(b, "</main></body></html>\n");
}

void web_page_send(struct http_request *req, unsigned status, struct buf *b)
{
    http_resp_status(req, status);
    http_resp_header(req, "Content-Type", "text/html; charset=utf-8");
    web_security_headers(req);
    http_resp_body(req, b->data ? b->data : "", b->len);
    buf_deinit(b);
}

/* Ends a page and sends it, or reports a page that passed WEB_PAGE_MAX. */
static int finish(struct web_req *wr, struct buf *b, int rc, struct err *err)
{
    if (rc != 0 || web_page_end(b) != 0) {
        buf_deinit(b);
        return err_set(err, &err_cond_limit, "the page passes %d bytes", WEB_PAGE_MAX);
    }
    web_page_send(wr->http, 200, b);
    return 0;
}

static int login_form(struct buf *b)
{
    return buf_append_cstr(
        b, "<form method=\"post\" action=\"" WEB_PREFIX "login\" id=\"login\">"
           "<label>User name <input name=\"user\" id=\"user-field\" autocomplete=\"username\" "
           "required></label>"
           "<label>Password <input type=\"password\" name=\"password\" id=\"password-field\" "
           "autocomplete=\"current-password\" required></label>"
           "<button type=\"submit\" id=\"signin\">Sign in</button></form>\n");
}

int web_page_login(struct web_req *wr, struct err *err)
{
    struct buf b;
    buf_init(&b, WEB_PAGE_MAX);
    int rc = web_page_begin(&b, NULL, "Sign in");
    rc |= buf_append_cstr(&b, "<p>Sign in with the user name and password your calendar "
                              "clients use.</p>");
    rc |= login_form(&b);
    return finish(wr, &b, rc, err);
}

void web_page_error(struct http_request *req, const struct err *e)
{
    const struct err_cond *c = e->cond ? e->cond : &err_cond_internal;
    bool is_login = c == &web_cond_bad_login || c == &http_cond_auth_throttled;
    struct web_req *wr = http_req_state(req);
    struct buf b;
    buf_init(&b, BUF_LIMIT_ERROR_BODY * 4);
    int rc = web_page_begin(&b, wr && wr->signed_in ? wr : NULL, is_login ? "Sign in" : "Error");
    rc |= buf_appendf(&b, "<p class=\"error\" id=\"error\" data-condition=\"%s\">", c->name);
    rc |= web_html_text(&b, e->msg);
    rc |= buf_appendf(&b, "</p><p>(%u %s)</p>\n", (unsigned)c->http_status, c->name);
    if (is_login) {
        rc |= login_form(&b);
    } else {
        rc |= buf_append_cstr(&b, "<p><a href=\"" WEB_PREFIX "\">Back to your calendars</a></p>");
    }
    rc |= web_page_end(&b);
    http_resp_header(req, "Content-Type", "text/html; charset=utf-8");
    web_security_headers(req);
    if (rc != 0) {
        http_resp_body(req, "error\n", 6);
    } else {
        http_resp_body(req, b.data, b.len);
    }
    buf_deinit(&b);
}

/* ---------------------------------------------------------------------------------------- */
/* Calendars */

struct cal_row {
    struct store_coll coll;
    const char *display; /* NULL when none */
    uint64_t items, bytes;
};

struct sub_row {
    const char *token;
    uint64_t coll;
    int64_t created;
};

struct subs {
    struct arena *arena;
    struct sub_row *rows;
    size_t n, cap;
};

static int collect_sub(void *ctx, const struct store_sub *sub)
{
    struct subs *s = ctx;
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 16;
        struct sub_row *rows = arena_alloc(s->arena, cap * sizeof(*rows));
        if (s->n) {
            memcpy(rows, s->rows, s->n * sizeof(*rows));
        }
        s->rows = rows;
        s->cap = cap;
    }
    s->rows[s->n++] = (struct sub_row){arena_strdup(s->arena, sub->token), sub->coll, sub->created};
    return 0;
}

/* The text of a dead DAV:displayname: the stored value is XML content, so its five
 * predefined entities and character references are undone (a value holding markup is shown
 * as it is stored). In the arena. */
static const char *xml_text(struct arena *a, const char *v, size_t n)
{
    char *out = arena_alloc(a, n + 1);
    size_t o = 0;

    static const struct {
        const char *ent;
        char c;
    } ents[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};

    for (size_t i = 0; i < n; i++) {
        bool done = false;
        for (size_t k = 0; k < sizeof(ents) / sizeof(ents[0]) && v[i] == '&'; k++) {
            size_t el = strlen(ents[k].ent);
            if (n - i >= el && memcmp(v + i, ents[k].ent, el) == 0) {
                out[o++] = ents[k].c;
                i += el - 1;
                done = true;
                break;
            }
        }
        if (!done) {
            out[o++] = v[i];
        }
    }
    out[o] = '\0';
    return out;
}

/* The user's calendars with their item counts and sizes (a walk over each calendar's item
 * metadata: O(items), no content read). */
static int load_calendars(struct web_req *wr, struct cal_row **rows_out, size_t *n_out)
{
    struct store *s = wr->store;
    struct store_cursor *cur = NULL;
    enum store_rc rc = store_children_open(s, wr->principal.home_id, &cur);
    struct cal_row *rows = NULL;
    size_t n = 0, cap = 0;
    while (rc == STORE_OK) {
        struct store_coll c;
        rc = store_cursor_next_coll(cur, &c);
        if (rc != STORE_OK) {
            break;
        }
        if (c.kind != STORE_COLL_CALENDAR) {
            continue;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            struct cal_row *nr = arena_alloc(wr->arena, cap * sizeof(*nr));
            if (n) {
                memcpy(nr, rows, n * sizeof(*nr));
            }
            rows = nr;
        }
        c.name = arena_strdup(wr->arena, c.name);
        rows[n++] = (struct cal_row){.coll = c};
    }
    store_cursor_close(&cur);
    if (rc != STORE_NOTFOUND) {
        return (int)rc;
    }
    for (size_t i = 0; i < n; i++) {
        struct store_prop p;
        rc = store_prop_get(s, STORE_RES_COLL, rows[i].coll.id, "DAV:", "displayname", wr->arena,
                            &p);
        if (rc == STORE_OK && p.value_len > 0) {
            rows[i].display = xml_text(wr->arena, p.value, p.value_len);
        } else if (rc != STORE_OK && rc != STORE_NOTFOUND) {
            return (int)rc;
        }
        uint64_t items = 0, bytes = 0;
        rc = store_coll_usage(s, rows[i].coll.id, &items, &bytes);
        if (rc != STORE_OK) {
            return (int)rc;
        }
        rows[i].items = items;
        rows[i].bytes = bytes;
    }
    *rows_out = rows;
    *n_out = n;
    return STORE_OK;
}

static int calendars_table(struct buf *b, const struct cal_row *rows, size_t n)
{
    if (n == 0) {
        return buf_append_cstr(b, "<p id=\"no-calendars\">You have no calendar yet: import a "
                                  "file below, or let a client create one.</p>\n");
    }
    int rc = buf_append_cstr(b, "<table id=\"calendars\"><thead><tr><th>Calendar</th><th>Display "
                                "name</th><th>Items</th><th>Size</th><th>Export</th></tr></thead>"
                                "<tbody>\n");
    for (size_t i = 0; i < n; i++) {
        const struct cal_row *r = &rows[i];
        rc |= buf_append_cstr(b, "<tr data-calendar=\"");
        rc |= web_html_text(b, r->coll.name);
        rc |= buf_append_cstr(b, "\"><td class=\"name\">");
        rc |= web_html_text(b, r->coll.name);
        rc |= buf_append_cstr(b, "</td><td class=\"display\">");
        rc |= web_html_text(b, r->display ? r->display : "");
        rc |= buf_appendf(b,
                          "</td><td class=\"num count\">%llu</td><td class=\"num size\" "
                          "data-bytes=\"%llu\">",
                          (unsigned long long)r->items, (unsigned long long)r->bytes);
        rc |= web_html_size(b, r->bytes);
        rc |= buf_append_cstr(b, "</td><td><a class=\"export\" href=\"" WEB_PREFIX "export/");
        rc |= web_html_segment(b, r->coll.name);
        rc |= buf_append_cstr(b, ".ics\">Download .ics</a></td></tr>\n");
    }
    rc |= buf_append_cstr(b, "</tbody></table>\n");
    return rc == 0 ? 0 : -1;
}

static int
import_form(struct buf *b, const struct web_req *wr, const struct cal_row *rows, size_t n)
{
    int rc = buf_appendf(b,
                         "<section id=\"import\"><h3>Import a calendar file</h3>"
                         "<form method=\"post\" action=\"" WEB_PREFIX "import\" "
                         "enctype=\"multipart/form-data\" id=\"import-form\">"
                         "<input type=\"hidden\" name=\"csrf\" value=\"%s\">"
                         "<label>Into <select name=\"calendar\" id=\"import-calendar\">"
                         "<option value=\"\">a new calendar (name it below)</option>",
                         wr->csrf);
    for (size_t i = 0; i < n; i++) {
        rc |= buf_append_cstr(b, "<option value=\"");
        rc |= web_html_text(b, rows[i].coll.name);
        rc |= buf_append_cstr(b, "\">");
        rc |= web_html_text(b, rows[i].coll.name);
        rc |= buf_append_cstr(b, "</option>");
    }
    rc |= buf_appendf(b,
                      "</select></label>"
                      "<label>New calendar's name <input name=\"new_calendar\" "
                      "id=\"import-new\" maxlength=\"%d\"></label>"
                      "<label>File (.ics) <input type=\"file\" name=\"file\" id=\"import-file\" "
                      "accept=\".ics,text/calendar\" required></label>"
                      "<button type=\"submit\" id=\"import-submit\">Import</button>"
                      "</form><p>Events whose UID the calendar already holds are replaced; "
                      "importing the same file twice changes nothing. At most %zu MiB.</p>"
                      "</section>\n",
                      STORE_NAME_MAX, wr->app->cfg.max_import_size >> 20);
    return rc == 0 ? 0 : -1;
}

/* webcal://host/... for an http(s) origin. */
static int sub_urls(struct buf *b, const struct web_req *wr, const char *token)
{
    const char *https = arena_printf(wr->arena, "%s/subscribe/%s.ics", wr->origin.origin, token);
    const char *webcal =
        arena_printf(wr->arena, "webcal://%s/subscribe/%s.ics", wr->origin.authority, token);
    int rc = buf_append_cstr(b, "<li><code class=\"sub-webcal\">");
    rc |= web_html_text(b, webcal);
    rc |= buf_append_cstr(b, "</code><br><code class=\"sub-http\">");
    rc |= web_html_text(b, https);
    rc |= buf_append_cstr(b, "</code></li>");
    return rc;
}

static int subscriptions(struct buf *b,
                         const struct web_req *wr,
                         const struct cal_row *rows,
                         size_t n,
                         const struct subs *subs)
{
    int rc = buf_append_cstr(
        b, "<section id=\"subscriptions\"><h3>Subscription URLs</h3><p>A subscription URL lets "
           "anyone who has it read the calendar, without signing in (calendar apps call it "
           "subscribing, or a webcal link). Revoke it to stop every copy of it working.</p>\n");
    for (size_t i = 0; i < n; i++) {
        rc |= buf_append_cstr(b, "<div class=\"sub\" data-calendar=\"");
        rc |= web_html_text(b, rows[i].coll.name);
        rc |= buf_append_cstr(b, "\"><h4>");
        rc |= web_html_text(b, rows[i].coll.name);
        rc |= buf_append_cstr(b, "</h4><ul>");
        bool any = false;
        for (size_t k = 0; k < subs->n; k++) {
            if (subs->rows[k].coll == rows[i].coll.id) {
                rc |= sub_urls(b, wr, subs->rows[k].token);
                any = true;
            }
        }
        rc |= buf_append_cstr(b, "</ul>");
        for (int action = 0; action < (any ? 2 : 1); action++) {
            rc |= buf_appendf(b,
                              "<form class=\"inline\" method=\"post\" action=\"" WEB_PREFIX
                              "subscriptions\"><input type=\"hidden\" name=\"csrf\" value=\"%s\">"
                              "<input type=\"hidden\" name=\"action\" value=\"%s\">"
                              "<input type=\"hidden\" name=\"calendar\" value=\"",
                              wr->csrf, action == 0 ? "create" : "revoke");
            rc |= web_html_text(b, rows[i].coll.name);
            rc |= buf_appendf(b, "\"><button type=\"submit\" class=\"sub-%s\">%s</button></form> ",
                              action == 0 ? "create" : "revoke",
                              action == 0 ? "Make a subscription URL" : "Revoke its URLs");
        }
        rc |= buf_append_cstr(b, "</div>\n");
    }
    rc |= buf_append_cstr(b, "</section>\n");
    return rc == 0 ? 0 : -1;
}

static int td(struct buf *b, const char *cls, const char *v)
{
    int rc = buf_appendf(b, "<td class=\"%s\">", cls);
    rc |= web_html_text(b, v ? v : "-");
    rc |= buf_append_cstr(b, "</td>");
    return rc;
}

/* The sharing section: the calendars others share with the user (store_share_list_of_sharee)
 * and the user's calendars shared with others (_of_owner), each with its access. Shown only,
 * for grants are made by clients (CS:share) or by an admin (almanac share). */
struct share_ctx {
    struct buf *b;
    size_t n;
    bool mine; /* the user's own calendars, shared with others */
    int rc;
};

static const char *access_name(enum store_share_access a)
{
    return a == STORE_SHARE_READ_WRITE ? "read-write" : "read";
}

static int share_row(void *ctx, const struct store_share *sh)
{
    struct share_ctx *c = ctx;
    struct buf *b = c->b;
    if (c->n++ == 0) {
        c->rc |= c->mine ? buf_append_cstr(b, "<h4>You share</h4><table id=\"shared-by-me\">"
                                              "<thead><tr><th>Calendar</th><th>With</th>"
                                              "<th>Access</th></tr></thead><tbody>\n")
                         : buf_append_cstr(b, "<h4>Shared with you</h4>"
                                              "<table id=\"shared-with-me\"><thead><tr>"
                                              "<th>Calendar</th><th>Owner</th><th>Owner's "
                                              "calendar</th><th>Access</th></tr></thead>"
                                              "<tbody>\n");
    }
    c->rc |= buf_append_cstr(b, "<tr data-share=\"");
    c->rc |= web_html_text(b, c->mine ? sh->coll_name : sh->name);
    c->rc |= buf_append_cstr(b, "\">");
    if (c->mine) {
        c->rc |= td(b, "calendar", sh->coll_name);
        c->rc |= td(b, "sharee", sh->sharee_name);
    } else {
        c->rc |= td(b, "calendar", sh->name);
        c->rc |= td(b, "owner", sh->owner_name);
        c->rc |= td(b, "owner-calendar", sh->coll_name);
    }
    c->rc |= td(b, "access", access_name(sh->access));
    c->rc |= buf_append_cstr(b, "</tr>\n");
    return 0;
}

/* Returns 0, or -1 when the page ran out of room; *src is the store's answer. */
static int sharing(struct buf *b, struct web_req *wr, enum store_rc *src)
{
    int rc = buf_append_cstr(b, "<section id=\"sharing\"><h3>Sharing</h3>\n");
    struct share_ctx with = {.b = b};
    *src = store_share_list_of_sharee(wr->store, wr->principal.id, share_row, &with);
    if (*src != STORE_OK) {
        return 0;
    }
    rc |= with.rc;
    rc |= with.n ? buf_append_cstr(b, "</tbody></table>\n")
                 : buf_append_cstr(b, "<p id=\"no-shared-with-me\">Nobody shares a calendar with "
                                      "you.</p>\n");
    struct share_ctx mine = {.b = b, .mine = true};
    *src = store_share_list_of_owner(wr->store, wr->principal.id, share_row, &mine);
    if (*src != STORE_OK) {
        return 0;
    }
    rc |= mine.rc;
    rc |= mine.n ? buf_append_cstr(b, "</tbody></table>\n")
                 : buf_append_cstr(b, "<p id=\"no-shared-by-me\">You share no calendar.</p>\n");
    rc |= buf_append_cstr(b, "<p>Calendar apps that share (Apple Calendar) grant and revoke "
                             "access; an administrator does it with <code>almanac share</code>."
                             "</p></section>\n");
    return rc == 0 ? 0 : -1;
}

int web_page_calendars(struct web_req *wr, struct err *err)
{
    struct cal_row *rows = NULL;
    size_t n = 0;
    int src = load_calendars(wr, &rows, &n);
    struct subs subs = {.arena = wr->arena};
    if (src == STORE_OK) {
        src = (int)store_sub_list(wr->store, wr->principal.id, collect_sub, &subs);
    }
    if (src != STORE_OK) {
        return web_store_err(wr, (enum store_rc)src, err);
    }
    struct buf b;
    buf_init(&b, WEB_PAGE_MAX);
    int rc = web_page_begin(&b, wr, "Your calendars");
    rc |= calendars_table(&b, rows, n);
    rc |= import_form(&b, wr, rows, n);
    if (n > 0) {
        rc |= subscriptions(&b, wr, rows, n, &subs);
    }
    enum store_rc shrc = STORE_OK;
    rc |= sharing(&b, wr, &shrc);
    if (shrc != STORE_OK) {
        buf_deinit(&b);
        return web_store_err(wr, shrc, err);
    }
    return finish(wr, &b, rc, err);
}

/* ---------------------------------------------------------------------------------------- */
/* Devices */

struct dev_ctx {
    struct web_req *wr;
    struct buf *b;
    size_t n;
    int rc;
};

static int device_row(void *ctx, const struct store_eas_device *d)
{
    struct dev_ctx *c = ctx;
    struct buf *b = c->b;
    if (c->n++ == 0) {
        c->rc |= buf_append_cstr(b, "<table id=\"devices\"><thead><tr><th>Device</th><th>Type</th>"
                                    "<th>Model</th><th>Client</th><th>Protocol</th>"
                                    "<th>Last sync</th><th>First seen</th><th></th></tr></thead>"
                                    "<tbody>\n");
    }
    c->rc |= buf_append_cstr(b, "<tr data-device=\"");
    c->rc |= web_html_text(b, d->device_id);
    c->rc |= buf_append_cstr(b, "\">");
    c->rc |= td(b, "device-id", d->device_id);
    c->rc |= td(b, "type", d->device_type);
    c->rc |= td(b, "model", d->model ? d->model : d->friendly_name);
    c->rc |= td(b, "agent", d->user_agent);
    c->rc |= td(b, "protocol", d->protocol);
    c->rc |= td(b, "last-sync", web_time(c->wr->arena, d->last_seen));
    c->rc |= td(b, "first-seen", web_time(c->wr->arena, d->first_seen));
    c->rc |= buf_appendf(b,
                         "<td><form class=\"inline\" method=\"post\" action=\"" WEB_PREFIX
                         "devices/forget\"><input type=\"hidden\" name=\"csrf\" value=\"%s\">"
                         "<input type=\"hidden\" name=\"device\" value=\"",
                         c->wr->csrf);
    c->rc |= web_html_text(b, d->device_id);
    c->rc |= buf_append_cstr(b, "\"><button type=\"submit\" class=\"forget\">Forget</button>"
                                "</form></td></tr>\n");
    return c->rc != 0; /* stop once the page is full */
}

int web_page_devices(struct web_req *wr, struct err *err)
{
    struct buf b;
    buf_init(&b, WEB_PAGE_MAX);
    int rc = web_page_begin(&b, wr, "Your ActiveSync devices");
    struct dev_ctx c = {.wr = wr, .b = &b};
    enum store_rc src = store_eas_device_list(wr->store, wr->principal.id, device_row, &c);
    if (src != STORE_OK) {
        buf_deinit(&b);
        return web_store_err(wr, src, err);
    }
    rc |= c.rc;
    if (c.n == 0) {
        rc |= buf_append_cstr(&b, "<p id=\"no-devices\">No phone or tablet has synced through "
                                  "ActiveSync yet.</p>\n");
    } else {
        rc |= buf_append_cstr(&b, "</tbody></table><p>Forgetting a device deletes what the "
                                  "server knows of it (its sync state and policy); if it syncs "
                                  "again it starts over, as a new device.</p>\n");
    }
    return finish(wr, &b, rc, err);
}

/* ---------------------------------------------------------------------------------------- */
/* Connect a client */

static int addr(struct buf *b, const char *id, const char *value)
{
    int rc = buf_appendf(b, "<code id=\"%s\">", id);
    rc |= web_html_text(b, value);
    rc |= buf_append_cstr(b, "</code>");
    return rc;
}

int web_page_connect(struct web_req *wr, struct err *err)
{
    const struct web_origin *o = &wr->origin;
    struct arena *a = wr->arena;
    struct buf seg;
    buf_init(&seg, BUF_LIMIT_HREF);
    if (http_path_encode_segment(&seg, slice_from_cstr(wr->sess.user)) != 0) {
        buf_deinit(&seg);
        return err_set(err, &err_cond_internal, "user name too long for a URL");
    }
    const char *base = arena_printf(a, "%s/", o->origin);
    const char *principal = arena_printf(a, "%s/principals/%s/", o->origin, buf_cstr(&seg));
    buf_deinit(&seg);
    const char *eas = arena_printf(a, "%s/Microsoft-Server-ActiveSync", o->origin);
    const char *port = arena_printf(a, "%u", o->port);
    struct buf b;
    buf_init(&b, WEB_PAGE_MAX);
    int rc = web_page_begin(&b, wr, "Connect a client");
    rc |= buf_append_cstr(&b, "<p>Every client signs in with your user name ");
    rc |= addr(&b, "username", wr->sess.user);
    rc |= buf_append_cstr(&b, " and your password. The addresses below are the ones this "
                              "page was reached at.</p>\n");
    if (!o->tls) {
        rc |= buf_append_cstr(&b, "<p class=\"error\" id=\"no-tls\">This server is reached "
                                  "without TLS: clients send your password in the clear. Use it "
                                  "on a trusted network only, or ask for an https address.</p>\n");
    }
    rc |= buf_append_cstr(&b, "<section id=\"apple\"><h3>iPhone, iPad and Mac (CalDAV)</h3>"
                              "<p>The simplest way: <a href=\"" WEB_PREFIX
                              "profile.mobileconfig\" id=\"profile-link\">download the "
                              "configuration profile</a> and open it (on iOS: Settings, "
                              "Profile Downloaded, Install); it asks for your password.</p>"
                              "<p>By hand: Settings, Calendar, Accounts, Add Account, Other, Add "
                              "CalDAV Account (on a Mac: System Settings, Internet Accounts, Add "
                              "Other Account, CalDAV account, Manual). Server: ");
    rc |= addr(&b, "apple-server", principal);
    rc |= buf_append_cstr(&b, ", User name: your user name.</p></section>\n");
    rc |= buf_append_cstr(&b, "<section id=\"davx5\"><h3>Android with DAVx5 (CalDAV)</h3>"
                              "<p>Add account, Login with URL and user name. Base URL: ");
    rc |= addr(&b, "davx5-url", base);
    rc |= buf_append_cstr(&b, " (DAVx5 finds your calendars from there; the principal is ");
    rc |= addr(&b, "caldav-principal", principal);
    rc |= buf_append_cstr(&b, ").</p></section>\n");
    rc |= buf_append_cstr(&b, "<section id=\"android-eas\"><h3>Android's own Exchange account "
                              "(ActiveSync)</h3><p>Settings, Accounts, Add account, Exchange "
                              "(or Corporate), Manual setup. Server: ");
    rc |= addr(&b, "eas-server", o->authority);
    rc |= buf_appendf(&b,
                      ", Port: <code id=\"eas-port\">%s</code>, Security type: <code "
                      "id=\"eas-security\">%s</code>, Domain: leave empty, User name: your "
                      "user name.</p></section>\n",
                      port, o->tls ? "SSL/TLS" : "None");
    rc |= buf_append_cstr(&b, "<section id=\"thunderbird\"><h3>Thunderbird (CalDAV)</h3>"
                              "<p>Calendar, New Calendar, On the Network. Username: your user "
                              "name, Location: ");
    rc |= addr(&b, "thunderbird-url", base);
    rc |= buf_append_cstr(&b, "; Find Calendars lists them all.</p></section>\n");
    rc |= buf_append_cstr(&b, "<section id=\"outlook\"><h3>Outlook (Exchange ActiveSync)</h3>"
                              "<p>Outlook for iOS and Android: Add account, Add email account, "
                              "Exchange, advanced settings. Server: ");
    rc |= addr(&b, "outlook-server", o->authority);
    rc |= buf_append_cstr(&b, ", User name: your user name. The full ActiveSync address is ");
    rc |= addr(&b, "eas-url", eas);
    rc |= buf_append_cstr(&b, "; clients add the path themselves. Outlook for Windows and Mac "
                              "speaks ActiveSync only to Outlook.com: use a CalDAV client "
                              "there.</p></section>\n");
    return finish(wr, &b, rc, err);
}

/* ---------------------------------------------------------------------------------------- */
/* Import result */

int web_page_import_result(struct web_req *wr,
                           const char *calendar,
                           const struct calstore_import_result *res,
                           const struct web_refusal *refusals,
                           size_t nrefusals,
                           struct err *err)
{
    struct buf b;
    buf_init(&b, WEB_PAGE_MAX);
    int rc = web_page_begin(&b, wr, "Import");
    rc |= buf_append_cstr(&b, "<p class=\"ok\" id=\"import-summary\">Imported ");
    rc |= buf_appendf(&b,
                      "<span id=\"imported\">%zu</span> of <span id=\"total\">%zu</span> objects "
                      "into calendar <b id=\"import-target\">",
                      res->added + res->replaced + res->unchanged, res->total);
    rc |= web_html_text(&b, calendar);
    rc |= buf_appendf(&b,
                      "</b>: <span id=\"added\">%zu</span> new, <span id=\"replaced\">%zu</span> "
                      "replaced, <span id=\"unchanged\">%zu</span> unchanged, <span "
                      "id=\"refused\">%zu</span> refused.</p>\n",
                      res->added, res->replaced, res->unchanged, res->refused);
    if (nrefusals > 0) {
        rc |= buf_append_cstr(&b, "<ul id=\"refusals\">");
        for (size_t i = 0; i < nrefusals; i++) {
            rc |= buf_appendf(&b, "<li class=\"refusal\">line %zu", refusals[i].line);
            if (refusals[i].uid) {
                rc |= buf_append_cstr(&b, ", UID ");
                rc |= web_html_text(&b, refusals[i].uid);
            }
            rc |= buf_append_cstr(&b, ": ");
            rc |= web_html_text(&b, refusals[i].why);
            rc |= buf_append_cstr(&b, "</li>");
        }
        rc |= buf_append_cstr(&b, "</ul>\n");
        if (res->refused > nrefusals) {
            rc |= buf_appendf(&b, "<p>and %zu more.</p>\n", res->refused - nrefusals);
        }
    }
    rc |= buf_append_cstr(&b, "<p><a href=\"" WEB_PREFIX "\" id=\"back\">Back to your "
                              "calendars</a></p>\n");
    return finish(wr, &b, rc, err);
}
