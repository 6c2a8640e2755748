/* web/web_int.h: the web layer's private request state and the page builders shared by
 * web.c (the route, sessions, forms and actions), pages.c (the HTML pages) and profile.c
 * (the Apple configuration profile). */
#ifndef ALMANAC_WEB_WEB_INT_H
#define ALMANAC_WEB_WEB_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "calstore/import.h"
#include "http/http.h"
#include "store/store.h"
#include "util/buf.h"
#include "web/session.h"
#include "web/web.h"

enum {
    WEB_PAGE_MAX = 8 << 20,        /* bytes of one page (a user with very many calendars) */
    WEB_FORM_BODY_MAX = 64 * 1024, /* bytes of a form without a file */
    WEB_IMPORT_MAX_REFUSALS = 200, /* refusal lines a result page lists (the rest counted) */
};

/* What the request's origin (http_req_origin) says: the address clients must type. */
struct web_origin {
    const char *origin;    /* "http://host:port", no trailing '/' */
    const char *authority; /* "host:port" as the client wrote it ("[::1]:8008") */
    const char *host;      /* the host alone, brackets of an IPv6 literal removed */
    unsigned port;         /* the port, or the scheme's default */
    bool tls;              /* https */
};

/* One refused object of an import, for the result page. */
struct web_refusal {
    size_t line;
    const char *uid; /* NULL when it had none */
    const char *why;
};

struct web_req {
    struct web_app *app;
    struct http_request *http;
    struct arena *arena;
    struct buf body;     /* a POST's body, bounded by body_limit */
    bool is_import;      /* POST /web/import: the limit is max_import_size */
    size_t dropped;      /* bytes of a GET's body, read and dropped */
    struct store *store; /* from the pool, given back by an arena defer */
    struct web_keys keys;
    bool signed_in;
    struct web_session sess;
    char user_log[160];  /* sess.user through log_sanitize, for log lines */
    struct slice cookie; /* the session cookie's value as sent (borrowed) */
    char csrf[WEB_CSRF_HEX + 1];
    struct store_principal principal; /* when signed in */
    struct web_origin origin;
};

/* Sets the headers every HTML answer carries (CSP, X-Frame-Options, no caching). */
void web_security_headers(struct http_request *req);

/* Starts a page: doctype, head with the stylesheet, header with navigation and the sign-out
 * form when wr is signed in (wr may be NULL: an error page). */
int web_page_begin(struct buf *b, const struct web_req *wr, const char *title) ALM_NODISCARD;
int web_page_end(struct buf *b) ALM_NODISCARD;
/* Sends `b` as an HTML answer with `status` (the body is copied), then frees b. */
void web_page_send(struct http_request *req, unsigned status, struct buf *b);

/* The pages (pages.c). Each reads the store in wr's read transaction and sets the response;
 * 0, or -1 with err set. */
int web_page_login(struct web_req *wr, struct err *err);
int web_page_calendars(struct web_req *wr, struct err *err);
int web_page_devices(struct web_req *wr, struct err *err);
int web_page_connect(struct web_req *wr, struct err *err);
int web_page_import_result(struct web_req *wr,
                           const char *calendar,
                           const struct calstore_import_result *res,
                           const struct web_refusal *refusals,
                           size_t nrefusals,
                           struct err *err);
/* The error page for `e` (render_error), with the sign-in form when e is a failed sign-in. */
void web_page_error(struct http_request *req, const struct err *e);

/* profile.c: GET /web/profile.mobileconfig. */
int web_profile(struct web_req *wr, struct err *err);

/* Maps a store failure (rc, or no connection) to a 503 with Retry-After:
 * err_cond_store_unavailable when the database cannot be reached, else err_cond_unavailable. */
int web_store_err(struct web_req *wr, enum store_rc rc, struct err *err);

/* "2026-12-06 14:05 UTC" in the arena. */
const char *web_time(struct arena *a, int64_t t);

#endif
