/* sched/sched.h: implicit scheduling between calendar users (RFC 6638 over iTIP, RFC 5546),
 * in two halves:
 *  - iTIP as pure functions over calendar object text (itip.c): what an organizer's write
 *    sends each attendee, what an attendee's write replies, how a request or a reply is
 *    applied to the recipient's copy, and which attendee writes are allowed. They read and
 *    build objects through cal's editing API (cal/edit.h) and never touch the store.
 *  - calendar user addresses (addr.c): which local principal an address belongs to, from the
 *    configured mail domain and the addresses an admin sets (store.h "Calendar user
 *    addresses").
 * The delivery itself (the copies written, inside the writer's transaction) is calstore's,
 * which calls down into this layer from its write hook (docs/scheduling.md).
 *
 * Objects passed in are text the store holds or a client sent (validated by calstore); an
 * empty slice stands for "no object" (created, deleted). Results live in the caller's arena.
 * Threads: any worker thread once cal_init() and sched_configure() have run. */
#ifndef ALMANAC_SCHED_SCHED_H
#define ALMANAC_SCHED_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "util/arena.h"
#include "util/err.h"
#include "util/slice.h"

#define ERR_COND(sym, name, ns, http, eas) ERR_COND_DECLARE(sym, name, ns, http, eas)
#include "sched/conds.def"
#undef ERR_COND

/* ---------------------------------------------------------------------------------------- */
/* Configuration (once, at start-up, before any worker runs) */

struct sched_config {
    const char *mail_domain;           /* NULL or "": no derived mailto: addresses */
    unsigned max_attendees;            /* ATTENDEEs of one instance an organizer may write */
    const char *default_calendar_name; /* NULL: a user's first calendar by name */
    const char *imip_from; /* this server's mailbox for iMIP (RFC 6047), the Sender of the
                              messages to outside addresses; NULL or "": iMIP off, outside
                              addresses get nothing and no SCHEDULE-STATUS */
};

/* Copies `c` (strings included) into the process-wide settings. Not thread-safe: call it
 * before the workers start, as cal's own setters. NULL restores the defaults (no mail
 * domain, 1,000 attendees, the first calendar, iMIP off). */
void sched_configure(const struct sched_config *c);
const struct sched_config *sched_config(void);

/* ---------------------------------------------------------------------------------------- */
/* iTIP (itip.c) */

enum sched_method {
    SCHED_REQUEST, /* RFC 5546 §3.2.2: the attendee's copy, new or updated */
    SCHED_CANCEL,  /* RFC 5546 §3.2.5: the attendee is no longer invited */
    SCHED_REPLY,   /* RFC 5546 §3.2.3: an attendee's participation */
};

/* "REQUEST", "CANCEL", "REPLY". */
const char *sched_method_name(enum sched_method m);

/* What an object says about scheduling. */
struct sched_info {
    const char *uid;
    const char *organizer;  /* the ORGANIZER's address; NULL: not a scheduling object */
    const char **attendees; /* distinct ATTENDEE addresses of every component, in order of
                               appearance, the organizer's own line left out */
    size_t nattendees;
    size_t max_per_instance; /* the most ATTENDEE lines one component has */
};

/* Reads `ics` (an empty slice: all zero). 0, or -1 with cal_cond_valid_calendar_data. */
int sched_info(struct slice ics, struct arena *arena, struct sched_info *out, struct err *err);

/* The ORGANIZER address of `ics` into *out (NULL when none; in the arena): sched_info without
 * the attendee list, O(object). 0, or -1 with cal_cond_valid_calendar_data. */
int sched_organizer(struct slice ics, struct arena *arena, const char **out, struct err *err);

/* Calendar user addresses compare ASCII case-insensitively (RFC 6638 §2.4.1 leaves the
 * comparison to the server; mailto: local parts are case-insensitive in practice). */
bool sched_addr_eq(const char *a, const char *b);

/* One iTIP message for one attendee. */
struct sched_msg {
    const char *attendee; /* the address as the organizer wrote it */
    enum sched_method method;
    struct slice ics; /* the message (METHOD:REQUEST or CANCEL), NUL-terminated */
};

/* The messages an organizer's write sends (RFC 6638 §3.2.1): from the organizer's object
 * `before` the write to `after` it (either an empty slice: created, deleted):
 *  - REQUEST to every attendee of `after` whose copy differs from what `before` made (or
 *    who is new): the master and the overrides they attend, with an EXDATE on the master
 *    for each override they do not; an attendee of overrides only gets those (RFC 6638
 *    §3.2.6); alarms and SCHEDULE-STATUS parameters are the organizer's and left out;
 *  - CANCEL to every attendee of `before` absent from `after`, and to all on a delete.
 * Attendees with SCHEDULE-AGENT other than SERVER (RFC 6638 §7.1) and the organizer's own
 * line are skipped. *msgs in the arena. 0, or -1 with cal_cond_valid_calendar_data. */
int sched_organizer_msgs(struct slice before,
                         struct slice after,
                         struct arena *arena,
                         struct sched_msg **msgs,
                         size_t *nmsgs,
                         struct err *err);

/* The attendee `attendee`'s copy once the REQUEST `request` is applied to the copy they
 * have, `existing` (an empty slice for a new invitation), as object text without METHOD
 * (RFC 6638 §3.2.8, RFC 5546 §3.2.2): the organizer's components replace theirs; their own
 * PARTSTAT is kept for each instance whose start, end and recurrence did not change, and is
 * NEEDS-ACTION otherwise (and for a new invitation); their alarms and TRANSP, and, while
 * the series' times stand, the instances they declined (overrides and EXDATEs of their
 * own), are kept. 0, or -1 with cal_cond_valid_calendar_data. */
int sched_apply_request(struct slice existing,
                        struct slice request,
                        const char *attendee,
                        struct arena *arena,
                        struct slice *out,
                        struct err *err);

/* The REPLY an attendee's write sends (RFC 6638 §3.2.2): from their copy `before` to
 * `after`, one component per instance whose PARTSTAT of `attendee` changed (an override
 * they added compares with the master, a new EXDATE on the master is that instance
 * DECLINED). *out is an empty slice when nothing changed. 0, or -1 with
 * cal_cond_valid_calendar_data. */
int sched_attendee_reply(struct slice before,
                         struct slice after,
                         const char *attendee,
                         struct arena *arena,
                         struct slice *out,
                         struct err *err);

/* The organizer's copy `org` once `reply` from `attendee` is applied (RFC 5546 §3.2.3): that
 * attendee's PARTSTAT, and SCHEDULE-STATUS `status` (e.g. "2.0"), on each instance the
 * reply names, an override made from the master for an instance that had none; nothing else
 * changes. *changed tells whether anything did. 0, or -1 with cal_cond_valid_calendar_data. */
int sched_apply_reply(struct slice org,
                      struct slice reply,
                      const char *attendee,
                      const char *status,
                      struct arena *arena,
                      struct slice *out,
                      bool *changed,
                      struct err *err);

/* An attendee's answer to a meeting in their own copy `ics` (ActiveSync's MeetingResponse,
 * a deleted copy): `attendee`'s PARTSTAT set to `partstat` ("ACCEPTED", "TENTATIVE",
 * "DECLINED") on every component they attend when `instance` is NULL; else on the one
 * instance whose RECURRENCE-ID is the instant *instance (Unix seconds): its override when
 * the copy has one, else, for an instance of the series' rule, an override made from the
 * master, or for DECLINED an EXDATE (the instance leaves the attendee's calendar). The copy
 * then written by the attendee is one sched_attendee_check allows, and sched_attendee_reply
 * makes its REPLY. Returns 0 with *out (in the arena); SCHED_NO_INSTANCE when the attendee
 * is in no component, or no such instance is theirs; SCHED_NOT_RECURRING when `instance` is
 * given for an object with no RRULE; -1 with cal_cond_valid_calendar_data. */
enum {
    SCHED_NO_INSTANCE = 1,
    SCHED_NOT_RECURRING = 2,
};

int sched_set_partstat(struct slice ics,
                       const char *attendee,
                       const char *partstat,
                       const int64_t *instance,
                       struct arena *arena,
                       struct slice *out,
                       struct err *err);

/* RFC 6638 §3.2.2.1: an attendee may change, in their copy, only their own participation
 * (their ATTENDEE line's parameters), alarms, TRANSP, DTSTAMP, LAST-MODIFIED, X- properties,
 * and decline instances (an override of an instance, an EXDATE). 0, or -1 with
 * sched_cond_allowed_attendee_change (403) naming what changed. */
int sched_attendee_check(struct slice before,
                         struct slice after,
                         const char *attendee,
                         struct arena *arena,
                         struct err *err);

/* A free-busy request (RFC 6638 §3.3, RFC 5546 §3.3.2): METHOD:REQUEST with one VFREEBUSY
 * naming the organizer, the attendees asked about and the range. */
struct sched_fb_request {
    const char *uid; /* may be NULL */
    const char *organizer;
    const char **attendees; /* in order, each once */
    size_t nattendees;
    int64_t start, end; /* Unix seconds, start < end */
};

/* Reads a POSTed free-busy request. 0, or -1 with sched_cond_valid_scheduling_message (403)
 * naming what is missing (METHOD:REQUEST, one VFREEBUSY, ORGANIZER, an ATTENDEE, DTSTART
 * before DTEND). */
int sched_freebusy_request(struct slice ics,
                           struct arena *arena,
                           struct sched_fb_request *out,
                           struct err *err);

/* The same object text with SCHEDULE-STATUS `status` on the ATTENDEE lines of every address
 * `status_of` gives a status for (NULL: leave the line alone). */
typedef const char *sched_status_fn(void *ctx, const char *attendee);
int sched_set_status(struct slice ics,
                     sched_status_fn *status_of,
                     void *ctx,
                     struct arena *arena,
                     struct slice *out,
                     struct err *err);

/* ---------------------------------------------------------------------------------------- */
/* Addresses (addr.c): inside any store transaction */

/* The local principal `addr` belongs to, into *principal_out: an address an admin gave
 * (store_sched_addr_lookup), else mailto:<name>@<mail_domain> of an existing principal
 * <name>, else the principal URL /principals/<name>/. STORE_NOTFOUND when none; *in_domain
 * (may be NULL) tells whether the address is a mailto: of the mail domain (an unknown user
 * of ours, RFC 6638 3.7) rather than an outside one. */
enum store_rc sched_addr_resolve(struct store *s,
                                 const char *addr,
                                 struct arena *arena,
                                 uint64_t *principal_out,
                                 bool *in_domain);

/* Calls fn for every address of principal `name` (id `id`): the derived mailto: first, then
 * those an admin gave, then the principal URL. */
typedef int sched_addr_fn(void *ctx, const char *addr);
enum store_rc sched_addr_list(struct store *s,
                              uint64_t id,
                              const char *name,
                              struct arena *arena,
                              sched_addr_fn *fn,
                              void *ctx);

/* The default calendar of the home `home` (RFC 6638 §9.2), where invitations go: the
 * calendar named sched_default_calendar when there is one taking component `comp` (a
 * cal_comp bit; 0: any), else the first calendar by name that takes it. STORE_NOTFOUND when
 * there is none; *out (name in the arena). */
enum store_rc sched_default_calendar(
    struct store *s, uint64_t home, unsigned comp, struct arena *arena, struct store_coll *out);

/* ---------------------------------------------------------------------------------------- */
/* Schedule-Tag (tag.c; RFC 6638 §3.2.10): inside any store transaction */

/* The tag of item `item` as the header carries it (a quoted string) into *out, in the
 * arena: STORE_OK, STORE_NOTFOUND when the item has none (not a scheduling object), or the
 * store's failure. */
enum store_rc sched_tag_get(struct store *s, uint64_t item, struct arena *arena, const char **out);

/* Gives item `item` a new tag made from `modseq`, its modseq as just written, into *out
 * (may be NULL; in the arena). Called for a write of the organizer's or attendee's own, and
 * for a delivered REQUEST; never for a REPLY merged into the organizer's copy (which keeps
 * its tag). */
enum store_rc sched_tag_set(
    struct store *s, uint64_t item, uint64_t modseq, struct arena *arena, const char **out);

#endif
