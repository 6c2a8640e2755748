/* calstore/imip.h: iMIP (RFC 6047) in the one calendar write path: a message that came in by
 * mail (`almanac imip-deliver`) applied to the local users it is for, and the SCHEDULE-STATUS
 * of an outside attendee whose message the sender gave up on. The messages that go out are
 * queued by the write hook itself (deliver.c). docs/scheduling.md "iMIP". */
#ifndef ALMANAC_CALSTORE_IMIP_H
#define ALMANAC_CALSTORE_IMIP_H

#include "calstore/calstore.h"

enum {
    CALSTORE_IMIP_MAX_MESSAGE = 16 << 20, /* bytes of one incoming message (sched/imip.h's
                                             SCHED_IMIP_MAX_MESSAGE) */
};

/* Sets what the scheduling layer needs to know which addresses are local, whether iMIP is
 * on and how many attendees a meeting may have, in a process that is not almanacd (the
 * admin CLI): mail_domain, imip_from (either may be NULL or "") and sched_max_attendees (0:
 * the default); sched_default_calendar is left at its default. Not thread-safe: call it
 * before any scheduling. */
void calstore_imip_configure(const char *mail_domain,
                             const char *imip_from,
                             unsigned max_attendees);

/* What an incoming message did. */
struct calstore_imip_result {
    const char *method; /* "REQUEST", "CANCEL" or "REPLY" (in the arena) */
    const char *uid;    /* the object's UID */
    const char *from;   /* the From address, bare and lower-cased */
    size_t delivered;   /* local users it reached */
};

/* Applies message `msg` (RFC 5322 with a text/calendar part), inside the caller's write
 * transaction on `s` (strings in `arena`):
 *  - METHOD:REPLY: accepted only when the From address is the mailto: of every ATTENDEE the
 *    reply names (RFC 6047 §3.1 leaves the check to the receiver; a forged reply would set
 *    anyone's answer) and the ORGANIZER is a local user holding the UID; that attendee's
 *    PARTSTAT and SCHEDULE-STATUS 2.0 go into the organizer's copy as a local reply would;
 *  - METHOD:REQUEST or CANCEL: accepted only from an outside ORGANIZER whose mailto: is the
 *    From address; each local ATTENDEE's copy is written (or deleted) as for a local
 *    organizer, with a notice in their inbox.
 * CALSTORE_OK; CALSTORE_INVALID with sched_cond_imip_bad_message (not a message, no
 * calendar, another METHOD) or a cal_cond_* (the object); CALSTORE_DENIED with
 * sched_cond_imip_sender (From is not the attendee / organizer, or the organizer is local),
 * sched_cond_imip_no_recipient (no local user it is for) or sched_cond_max_attendees (an
 * instance of a REQUEST names more than sched_max_attendees); CALSTORE_STORE with
 * res->store_rc. Nothing is written unless CALSTORE_OK (the caller rolls back). */
enum calstore_rc calstore_imip_receive(struct store *s,
                                       struct slice msg,
                                       struct arena *arena,
                                       struct calstore_imip_result *out,
                                       struct calstore_res *res,
                                       struct err *err);

/* Sets SCHEDULE-STATUS `status` (e.g. "5.1") on the ATTENDEE line of `attendee` in the copy
 * of `uid` that local principal `principal` organizes, leaving its Schedule-Tag alone (RFC
 * 6638 §3.2.9). CALSTORE_OK also when there is no such copy any more. Inside the caller's
 * write transaction; returns as calstore_put. */
enum calstore_rc calstore_imip_status(struct store *s,
                                      uint64_t principal,
                                      const char *uid,
                                      const char *attendee,
                                      const char *status,
                                      struct arena *arena,
                                      struct calstore_res *res,
                                      struct err *err);

#endif
