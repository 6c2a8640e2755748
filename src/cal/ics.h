/* cal/ics.h: whole calendar files in and out (issue 15): a file of many events split into
 * calendar object resources, and a calendar's objects joined into one file as it streams.
 *
 * Both work on the text, line by line (RFC 5545 §3.1), and never build a libical tree: the
 * bytes of each component go through as the client wrote them (line ends become CRLF), and
 * every object the split makes is validated by its writer (cal_parse_object) as any PUT is.
 * Folded lines are unfolded only to read BEGIN/END, UID and TZID. */
#ifndef ALMANAC_CAL_ICS_H
#define ALMANAC_CAL_ICS_H

#include <stdbool.h>
#include <stddef.h>

#include "util/arena.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/slice.h"

/* ---------------------------------------------------------------------------------------- */
/* Split: one iCalendar file (one or more VCALENDARs) into objects, one per UID. */

struct cal_split;

/* One calendar object resource made from the file: every component with one UID (a series
 * with its overrides, wherever they stood in the file), the VTIMEZONEs they name, and the
 * calendar's VERSION, PRODID and CALSCALE (METHOD is dropped: RFC 4791 §4.1). */
struct cal_split_obj {
    const char *uid;  /* NUL-terminated copy; NULL when `why` says the component had none */
    struct slice ics; /* the object's text, valid until the next cal_split_next() */
    size_t ncomps;    /* components it holds (VTIMEZONEs not counted) */
    size_t line;      /* line of the file where its first component begins (1-based) */
    const char *why;  /* non-NULL: not made (no UID, a TZID no VTIMEZONE defines, ...) */
};

/* Reads the structure of `file` (borrowed until cal_split_free): a file that is not iCalendar
 * (no VCALENDAR, BEGIN/END not matching, content outside VCALENDAR, a UID or TZID longer
 * than 1 MiB) is -1 with cal_cond_valid_calendar_data naming the line. O(size + n log n) for n
 * components; memory is O(n) besides the file. */
int cal_split_open(struct slice file, struct cal_split **out, struct err *err);

/* The next object in the order of the file (by its first component); false after the last. */
bool cal_split_next(struct cal_split *sp, struct cal_split_obj *out);

/* Components (VTIMEZONEs aside) and distinct UIDs the file holds. */
size_t cal_split_components(const struct cal_split *sp);
size_t cal_split_objects(const struct cal_split *sp);

void cal_split_free(struct cal_split **sp);

/* ---------------------------------------------------------------------------------------- */
/* Join: a calendar's stored objects as one file, appended object by object. */

struct cal_join;

/* A joiner whose memory is the set of TZIDs already written (at most `max_zone_bytes` of
 * them; zones past it are written again with each object that names them, which RFC 5545
 * does not forbid a reader to take). Caller frees with cal_join_free. */
struct cal_join *cal_join_new(size_t max_zone_bytes);
void cal_join_free(struct cal_join **j);

/* BEGIN:VCALENDAR with VERSION, PRODID and CALSCALE; `name` (or NULL) as X-WR-CALNAME. */
int cal_join_head(struct cal_join *j, const char *name, struct buf *out) ALM_NODISCARD;
/* The components of one stored object: its VTIMEZONEs the first time their TZID is seen (the
 * first definition wins when two objects define one TZID differently), then the others.
 * Calendar-level properties of the object are left out. -1 only when `out` is full. */
int cal_join_object(struct cal_join *j, struct slice stored, struct buf *out) ALM_NODISCARD;
int cal_join_tail(struct cal_join *j, struct buf *out) ALM_NODISCARD;

#endif
