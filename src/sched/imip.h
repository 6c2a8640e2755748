/* sched/imip.h: iMIP (RFC 6047), iTIP messages carried by mail, as pure functions over bytes:
 * the MIME message an outside calendar user receives (built here, queued by calstore, sent
 * by almanacd's SMTP sender), and the calendar part of a message that comes in (read by
 * `almanac imip-deliver`). Never touches the store or the network.
 * Threads: any. Results live in the caller's arena. */
#ifndef ALMANAC_SCHED_IMIP_H
#define ALMANAC_SCHED_IMIP_H

#include <stdint.h>

#include "sched/sched.h"
#include "util/arena.h"
#include "util/err.h"
#include "util/slice.h"

enum {
    SCHED_IMIP_MAX_MESSAGE = 16 << 20, /* bytes of one message built or read: a calendar
                                          object (max_resource_size) twice, base64 and text */
    SCHED_IMIP_MAX_DEPTH = 8,          /* nested multiparts searched for the calendar */
    SCHED_IMIP_MAX_PARTS = 1000,       /* body parts looked at in one message */
};

/* The bare address of a mailto: calendar user address ("mailto:Bob@x.org" -> "Bob@x.org"),
 * in the arena; NULL when `addr` is not a mailto: of one local part and one domain, or holds
 * bytes that cannot go into an SMTP envelope (controls, space, '<', '>'). */
const char *sched_imip_mailbox(const char *addr, struct arena *arena);

/* One outgoing message. */
struct sched_imip_out {
    const char *from;   /* mailto: address the message speaks for (organizer or attendee) */
    const char *to;     /* mailto: address of the recipient */
    const char *sender; /* bare address of this server's mailbox (imip_from), the Sender:
                           header when it differs from From (RFC 5322 §3.6.2) */
    enum sched_method method;
    struct slice ics;   /* the iTIP object, METHOD matching `method` */
    struct slice about; /* an object the summary text comes from when `ics` has none (a
                           REPLY carries no SUMMARY): the attendee's copy; may be empty */
    int64_t date;       /* Unix seconds, the Date: header */
};

/* The RFC 6047 message for `m` into *out (CRLF lines, NUL-terminated, in the arena):
 * RFC 5322 headers (From, Sender, Reply-To, To, Subject with RFC 2047 encoded words when it is
 * not ASCII, Date, Message-ID, MIME-Version) and a multipart/alternative body of a
 * text/plain summary and the text/calendar part (charset=UTF-8; method=...; RFC 6047 §2.4),
 * both 7bit when ASCII and base64 otherwise, the calendar's lines folded at 75 octets (RFC
 * 5545 §3.1) without splitting a UTF-8 sequence. 0, or -1 with
 * sched_cond_imip_bad_message when an address is not a usable mailto: or the message would
 * pass SCHED_IMIP_MAX_MESSAGE. */
int sched_imip_build(const struct sched_imip_out *m,
                     struct arena *arena,
                     struct slice *out,
                     struct err *err);

/* What a message that came in says. */
struct sched_imip_in {
    const char *from;   /* the From: header's address, bare and lower-cased */
    const char *method; /* the calendar part's Content-Type method parameter, upper-cased,
                           or NULL */
    struct slice ics;   /* the first text/calendar part, decoded, NUL-terminated */
};

/* Reads message `msg` (RFC 5322 headers, RFC 2045-2046 MIME): the From address and the first
 * text/calendar entity, searched through nested multiparts (at most SCHED_IMIP_MAX_DEPTH
 * deep and SCHED_IMIP_MAX_PARTS parts), decoded from 7bit, 8bit, quoted-printable or base64.
 * A bounded walk over the borrowed bytes: only the decoded part is copied. 0, or -1 with
 * sched_cond_imip_bad_message naming the fault (headers that do not end, no From address,
 * no calendar part, an unknown transfer encoding, bad base64, too many parts). */
int sched_imip_parse(struct slice msg,
                     struct arena *arena,
                     struct sched_imip_in *out,
                     struct err *err);

#endif
