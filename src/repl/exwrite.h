/* repl/exwrite.h: the write half of the urn:schemas:calendar: mapping (exchange-replication.md
 * §4.4, §4.5, §4.7): PROPPATCH instructions on appointment properties applied to the master
 * VEVENT of a stored object, or to a new VCALENDAR/VEVENT (create by PROPPATCH), and a
 * MIME-wrapped calendar unwrapped (§2.5), on cal's editing API (cal/edit.h). Takes typed
 * values (struct repl_ex_value); parsing them from the wire and the multistatus are
 * props.c's and write.c's. Any worker thread once cal_init() has run. */
#ifndef ALMANAC_REPL_EXWRITE_H
#define ALMANAC_REPL_EXWRITE_H

#include <stdbool.h>
#include <stddef.h>

#include "cal/cal.h"
#include "repl/exprops.h"
#include "repl/sql.h" /* the repl layer's conditions */
#include "util/arena.h"
#include "util/err.h"
#include "util/slice.h"

/* Whether PROPPATCH may set or remove `p` (§4.4's "write" column); `creating` admits C:uid,
 * which is writable on creation only. */
bool repl_exprop_writable(enum repl_exprop p, bool creating);

/* One set/remove instruction on an appointment property. */
struct repl_ex_edit {
    enum repl_exprop prop;
    bool remove;
    struct repl_ex_value value; /* set: the value, typed as repl_exprop_def(prop)->type */
    /* Results, filled by repl_ex_apply() when this instruction fails: */
    const struct err_cond *cond; /* NULL while it has not failed */
    const char *msg;             /* why, in the arena */
};

/* Applies `edits` (in order) to the master VEVENT of `ics`, or when `ics.ptr` is NULL to a
 * new object: VERSION, PRODID, a UID generated unless C:uid is set (32 random hex digits),
 * DTSTAMP now, and DTEND = DTSTART when neither DTEND nor a duration was given. Each
 * instruction does what §4.4 says: C:dtstart keeps DTSTART's TZID (the instant converted into
 * that zone) and a DATE start stays a DATE when the instant is midnight UTC (§4.8); C:dtend
 * sets DTEND and drops DURATION; C:busystatus sets X-MICROSOFT-CDO-BUSYSTATUS and TRANSP;
 * C:alldayevent sets X-MICROSOFT-CDO-ALLDAYEVENT only; multi-valued ones replace every value;
 * H:to and H:cc replace the required and the optional ATTENDEEs (new ones invited with
 * PARTSTAT=NEEDS-ACTION; a meeting without ORGANIZER gets self's first address), and
 * C:responsestatus sets self's PARTSTAT in someone else's meeting (self may be NULL).
 * An empty string removes a text property.
 *
 * Returns 0 with the new object's text (NUL-terminated, in `arena`) in *out; 1 when an
 * instruction failed: its cond (repl_cond_ex_read_only 403, repl_cond_ex_value 422,
 * repl_cond_ex_conflict 409: removing DTSTART, DTEND before DTSTART) and msg are set and
 * *out is untouched; or -1 with `err` set to cal_cond_valid_calendar_data (the stored object
 * does not parse), cal_cond_valid_object (it has no VEVENT) or, on creation,
 * repl_cond_ex_dtstart_required (409). The caller validates the result with
 * cal_parse_object() before storing it. O(size of the object + instructions). */
int repl_ex_apply(struct slice ics,
                  const struct repl_ex_self *self,
                  struct repl_ex_edit *edits,
                  size_t n,
                  struct arena *arena,
                  struct slice *out,
                  struct err *err);

/* The calendar a message/rfc822 body carries (§2.5): the top-level body when it is
 * text/calendar, else the first text/calendar part of a multipart body (nested multiparts
 * are searched depth first), decoded from its Content-Transfer-Encoding (7bit, 8bit, binary,
 * quoted-printable, base64). `msg` is borrowed; the result is in `arena` and never longer
 * than `msg`. Returns 0, or -1 with repl_cond_ex_no_calendar (415: no text/calendar part,
 * unknown transfer encoding) or repl_cond_ex_bad_mime (400: headers that do not end, a
 * multipart without its boundary, undecodable base64, more than 1000 parts). O(size of the
 * message). */
int repl_mime_unwrap(struct slice msg, struct arena *arena, struct slice *out, struct err *err);

/* What repl_ex_repair() changed (bits). */
enum {
    REPL_EX_REPAIRED_UID = 1,     /* a component had no UID */
    REPL_EX_REPAIRED_DTSTAMP = 2, /* a component had no DTSTAMP */
};

/* §2.2's server-side modification: `ics` (borrowed) with a UID line inserted into every
 * top-level VEVENT/VTODO/VJOURNAL that has none (another component's UID, else 32 random hex
 * digits) and a DTSTAMP (now, UTC) where one is missing, right after the component's BEGIN
 * line; every other byte is kept. Returns 0 with *changed set (0: *out is `ics` itself) and,
 * when a UID was written, that UID in *uid_out; the new text is in `arena`. -1 when the
 * repaired text would pass `limit` bytes. Reads the text only (no libical): an object that
 * is broken otherwise is left to cal_parse_object(). O(size). */
int repl_ex_repair(struct slice ics,
                   size_t limit,
                   struct arena *arena,
                   struct slice *out,
                   unsigned *changed,
                   const char **uid_out);

#endif
