/* web/web.h: the web page for users (issue 15), served by almanacd under /web/.
 *
 * Layer: src/web sits beside the protocol layers, above calstore, cal, store and http, and
 * below server (it may include web, calstore, cal, store, http and util; tests/lint's table
 * says so). It speaks HTML over the store: no DAV, no XML layer, no JavaScript. Pages are
 * built in C, every user-supplied string through web/html.h's escaper, and served with a
 * strict Content-Security-Policy (default-src 'self', no inline script or style).
 *
 * What it offers (docs/web.md): sign in with a form (checked through the HTTP layer's
 * throttled credential check, http_verify_password); the user's calendars with item counts
 * and sizes, an export link (calstore/export.h's exporter) and an import form (calstore_import,
 * the one import path); subscription URLs with create and revoke buttons; the ActiveSync
 * devices with their last sync and a button to forget one; how to connect each kind of client
 * with the exact addresses; an Apple configuration profile (CalDAV and Exchange payloads).
 *
 * Sessions live in a MAC'd cookie (web/session.h), so there is no server-side session table;
 * every POST carries a CSRF token derived from the cookie. Conditions: web/conds.def, plus
 * http_cond_not_found, http_cond_method_not_allowed, http_cond_body_too_large,
 * http_cond_auth_throttled, err_cond_unavailable and err_cond_internal. */
#ifndef ALMANAC_WEB_WEB_H
#define ALMANAC_WEB_WEB_H

#include <stddef.h>
#include <stdint.h>

#include "http/http.h"
#include "store/store.h"
#include "util/err.h"

#define ERR_COND(sym, name, ns, http, eas) ERR_COND_DECLARE(sym, name, ns, http, eas)
#include "web/conds.def"
#undef ERR_COND

#define WEB_PREFIX "/web/"

struct web_config {
    size_t max_import_size;  /* bytes of one uploaded calendar file (413 import-too-large) */
    size_t max_object;       /* bytes of one calendar object (max_resource_size) */
    const char *mail_domain; /* the ActiveSync address domain, for the profile's EmailAddress */
    /* microseconds each object of an import may take (request_time_budget; 0 = unbounded):
     * the budget starts again for every object, so a large file is not cut short by the
     * request's budget while one pathological object still is */
    int64_t object_budget_us;
};

/* The route's state: process lifetime, read-only after start-up, shared by the workers. */
struct web_app {
    struct web_config cfg;
    struct store_pool *pool; /* borrowed */
};

/* The public route for WEB_PREFIX (it checks its own session cookie). */
struct http_route web_route(struct web_app *app);

#endif
