/* dav/dav.h: the WebDAV core (RFC 4918) as an HTTP route: OPTIONS, PROPFIND, PROPPATCH,
 * MKCOL, GET/HEAD, PUT, DELETE, COPY, MOVE over the store, on /calendars/<user>/...,
 * /principals/<user>/ and the server root. Request bodies are read with the streaming XML
 * reader; multistatus answers stream from store cursors. Error bodies are <D:error> with the
 * precondition element and an <A:reason> naming the condition. */
#ifndef ALMANAC_DAV_DAV_H
#define ALMANAC_DAV_DAV_H

#include <stddef.h>

#include "http/http.h"
#include "store/store.h"
#include "util/err.h"

#define ERR_COND(sym, name, ns, http, eas) ERR_COND_DECLARE(sym, name, ns, http, eas)
#include "dav/conds.def"
#undef ERR_COND

struct dav_limits {
    size_t xml_max_body;
    unsigned xml_max_depth;
    size_t xml_max_elements;
    size_t xml_max_text;
    size_t max_resource_size;  /* one PUT body */
    size_t max_dead_props;     /* dead properties per resource */
    size_t max_multiget_hrefs; /* DAV:href elements of one calendar-multiget */
};

struct dav_ext;

enum {
    DAV_MAX_EXT = 4
}; /* protocol layers plugged into one WebDAV core */

struct dav_app {
    struct store_pool *pool; /* borrowed; thread-safe */
    struct dav_limits limits;
    const struct dav_ext *ext[DAV_MAX_EXT]; /* protocol layers' additions (caldav, repl) */
    size_t next;                            /* entries used in ext[] */
};

/* The route for `prefix` ("/") serving `app` (borrowed for the server's life). */
struct http_route dav_route(const char *prefix, struct dav_app *app);

#endif
