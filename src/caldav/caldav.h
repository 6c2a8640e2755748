/* caldav/caldav.h: CalDAV (RFC 4791) and WebDAV Sync (RFC 6578) as additions to the WebDAV
 * core: properties, calendar validation on PUT, MKCALENDAR and extended MKCOL (RFC 5689), the
 * calendar-multiget, calendar-query and sync-collection reports, and /.well-known/caldav
 * (RFC 6764). Everything streams from store cursors like the core does. */
#ifndef ALMANAC_CALDAV_CALDAV_H
#define ALMANAC_CALDAV_CALDAV_H

#include "dav/dav.h"
#include "http/http.h"

#define ERR_COND(sym, name, ns, http, eas) ERR_COND_DECLARE(sym, name, ns, http, eas)
#include "caldav/conds.def"
#undef ERR_COND

/* The additions to plug into struct dav_app.ext (static, valid for the process). */
const struct dav_ext *caldav_ext(void);

/* The route for /.well-known/ (RFC 6764 §5): caldav redirects (301) to the server root, where
 * current-user-principal answers. */
struct http_route caldav_wellknown_route(void);

/* GET /subscribe/<token>.ics: the calendar a subscription token names, as one iCalendar
 * file, without credentials (export.c). */
struct http_route caldav_subscribe_route(struct dav_app *app);

#endif
