/* repl/repl.h: Exchange-style replication as additions to the WebDAV core
 * (exchange-replication.md): the R:repl-uid, R:resourcetag and R:contenttag properties, and the
 * ResourceTag and Repl-UID headers on reads and writes (§2.1-2.2), on both views of the store
 * (/exchange/ and /calendars/); SEARCH with the SQL subset and replication manifests (§3),
 * the appointment properties (§4) and the /exchange writes (PROPPATCH, message/rfc822 PUT). */
#ifndef ALMANAC_REPL_REPL_H
#define ALMANAC_REPL_REPL_H

#include "dav/dav.h"

/* The additions to plug into struct dav_app (static, valid for the process). */
const struct dav_ext *repl_ext(void);

#endif
