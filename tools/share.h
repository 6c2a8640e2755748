/* tools/share.h: `almanac share`, `almanac unshare` and `almanac share list` (issue 12):
 * an admin grants, changes and revokes a user's access to another user's calendar. */
#ifndef ALMANAC_TOOLS_SHARE_H
#define ALMANAC_TOOLS_SHARE_H

#include "store/store.h"

/* Grants `sharee` `access` ("read" or "read-write") on `owner`'s calendar `calendar`, or
 * changes an existing grant's access; prints the calendar's path in the sharee's home.
 * Returns 0, or 2 after printing why. */
int share_grant(struct store *s,
                const char *owner,
                const char *calendar,
                const char *sharee,
                enum store_share_access access);

/* Revokes `sharee`'s grant on `owner`'s calendar `calendar`. Returns 0, or 2 after printing
 * why. */
int share_revoke(struct store *s, const char *owner, const char *calendar, const char *sharee);

/* Prints every grant `user` gave and holds, one per line, tab-separated:
 *   out  CALENDAR  SHAREE  ACCESS  /calendars/SHAREE/NAME/    (user's calendars shared)
 *   in   OWNER/CALENDAR  USER  ACCESS  /calendars/USER/NAME/  (calendars shared with user)
 * Returns 0, or 2 after printing why. */
int share_list(struct store *s, const char *user);

#endif
