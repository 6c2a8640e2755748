/* calstore/busy.h: who a recipient is and when they are busy, for any protocol that asks
 * (ActiveSync's ResolveRecipients availability, issue 13 item 2). CalDAV's outbox POST
 * streams its VFREEBUSY answers item by item from the same store calls and cal_busy().
 * Inside a read transaction (store_begin_read) the caller opened. */
#ifndef ALMANAC_CALSTORE_BUSY_H
#define ALMANAC_CALSTORE_BUSY_H

#include <stddef.h>
#include <stdint.h>

#include "cal/cal.h"
#include "store/store.h"
#include "util/arena.h"
#include "util/err.h"

/* The local principal `to` names, into *out: a calendar user address (mailto:, or a bare
 * SMTP address, which is taken as mailto:) resolved as scheduling does (sched_addr_resolve),
 * or else a user name. *email_out (may be NULL) is the principal's first mailto: address
 * without the scheme (NULL when it has none: no mail_domain and none given). STORE_NOTFOUND
 * when `to` names nobody here. */
enum store_rc calstore_recipient(struct store *s,
                                 const char *to,
                                 struct arena *arena,
                                 struct store_principal *out,
                                 const char **email_out);

/* The ids of principal `principal`'s own calendars (its home's calendar children, by name;
 * shares are not theirs), into *ids (in the arena) and *n. */
enum store_rc calstore_calendars_of(
    struct store *s, uint64_t principal, struct arena *arena, uint64_t **ids, size_t *n);

/* Calls fn for every busy period of the principal's own calendars in [start, end), as a
 * free-busy query of each would (cal_busy: opaque, not cancelled, TENTATIVE marked), in no
 * particular order. A stored object that no longer parses blocks no time. Returns 0; -1
 * when the store failed (*store_rc says how) or with err set (the time budget); or fn's
 * non-zero value. */
int calstore_busy(struct store *s,
                  uint64_t principal,
                  int64_t start,
                  int64_t end,
                  struct arena *arena,
                  cal_period_fn *fn,
                  void *ctx,
                  enum store_rc *store_rc,
                  struct err *err);

#endif
