/* repl/exprops.h: the iCalendar -> urn:schemas:calendar: mapping (exchange-replication.md §4.4,
 * §4.5, §4.8): the Exchange-era appointment properties derived from a stored calendar object,
 * typed as §4.1 writes them. Knows properties and values only; names on the wire, typing of
 * SQL literals and the DAV:/repl properties of the row are props.c's and where.c's. Reads
 * through cal's editing API (cal/edit.h). Any worker thread once cal_init() has run. */
#ifndef ALMANAC_REPL_EXPROPS_H
#define ALMANAC_REPL_EXPROPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/arena.h"
#include "util/err.h"
#include "util/slice.h"

#define REPL_EX_NS_CALENDAR "urn:schemas:calendar:"
#define REPL_EX_NS_HTTPMAIL "urn:schemas:httpmail:"
#define REPL_EX_NS_EXCHANGE "http://schemas.microsoft.com/exchange/"
#define REPL_EX_NS_OFFICE   "urn:schemas-microsoft-com:office:office"

/* §4.1's value types. */
enum repl_ex_type {
    REPL_EX_STRING,
    REPL_EX_INT,
    REPL_EX_BOOL,
    REPL_EX_TIME, /* dateTime, Unix seconds UTC */
    REPL_EX_MV_STRING,
    REPL_EX_MV_TIME,
};

/* X(symbol, namespace, local name, type): every property this file derives. */
#define REPL_EXPROPS(X)                                                                  \
  X(REPL_EX_UID, REPL_EX_NS_CALENDAR, "uid", REPL_EX_STRING)                             \
  X(REPL_EX_DTSTART, REPL_EX_NS_CALENDAR, "dtstart", REPL_EX_TIME)                       \
  X(REPL_EX_DTEND, REPL_EX_NS_CALENDAR, "dtend", REPL_EX_TIME)                           \
  X(REPL_EX_DURATION, REPL_EX_NS_CALENDAR, "duration", REPL_EX_INT)                      \
  X(REPL_EX_LOCATION, REPL_EX_NS_CALENDAR, "location", REPL_EX_STRING)                   \
  X(REPL_EX_BUSYSTATUS, REPL_EX_NS_CALENDAR, "busystatus", REPL_EX_STRING)               \
  X(REPL_EX_TRANSPARENT, REPL_EX_NS_CALENDAR, "transparent", REPL_EX_STRING)             \
  X(REPL_EX_ALLDAYEVENT, REPL_EX_NS_CALENDAR, "alldayevent", REPL_EX_BOOL)               \
  X(REPL_EX_INSTANCETYPE, REPL_EX_NS_CALENDAR, "instancetype", REPL_EX_INT)              \
  X(REPL_EX_RRULE, REPL_EX_NS_CALENDAR, "rrule", REPL_EX_MV_STRING)                      \
  X(REPL_EX_RDATE, REPL_EX_NS_CALENDAR, "rdate", REPL_EX_MV_TIME)                        \
  X(REPL_EX_EXDATE, REPL_EX_NS_CALENDAR, "exdate", REPL_EX_MV_TIME)                      \
  X(REPL_EX_EXRULE, REPL_EX_NS_CALENDAR, "exrule", REPL_EX_MV_STRING)                    \
  X(REPL_EX_RECURRENCEID, REPL_EX_NS_CALENDAR, "recurrenceid", REPL_EX_TIME)             \
  X(REPL_EX_RECURRENCEIDRANGE, REPL_EX_NS_CALENDAR, "recurrenceidrange", REPL_EX_STRING) \
  X(REPL_EX_TIMEZONEID, REPL_EX_NS_CALENDAR, "timezoneid", REPL_EX_INT)                  \
  X(REPL_EX_TIMEZONE, REPL_EX_NS_CALENDAR, "timezone", REPL_EX_STRING)                   \
  X(REPL_EX_ORGANIZER, REPL_EX_NS_CALENDAR, "organizer", REPL_EX_STRING)                 \
  X(REPL_EX_MEETINGSTATUS, REPL_EX_NS_CALENDAR, "meetingstatus", REPL_EX_STRING)         \
  X(REPL_EX_ISORGANIZER, REPL_EX_NS_CALENDAR, "isorganizer", REPL_EX_BOOL)               \
  X(REPL_EX_RESPONSESTATUS, REPL_EX_NS_CALENDAR, "responsestatus", REPL_EX_INT)          \
  X(REPL_EX_CREATED, REPL_EX_NS_CALENDAR, "created", REPL_EX_TIME)                       \
  X(REPL_EX_LASTMODIFIED, REPL_EX_NS_CALENDAR, "lastmodified", REPL_EX_TIME)             \
  X(REPL_EX_DTSTAMP, REPL_EX_NS_CALENDAR, "dtstamp", REPL_EX_TIME)                       \
  X(REPL_EX_SEQUENCE, REPL_EX_NS_CALENDAR, "sequence", REPL_EX_INT)                      \
  X(REPL_EX_PRIORITY, REPL_EX_NS_CALENDAR, "priority", REPL_EX_INT)                      \
  X(REPL_EX_REMINDEROFFSET, REPL_EX_NS_CALENDAR, "reminderoffset", REPL_EX_INT)          \
  X(REPL_EX_METHOD, REPL_EX_NS_CALENDAR, "method", REPL_EX_STRING)                       \
  X(REPL_EX_PRODID, REPL_EX_NS_CALENDAR, "prodid", REPL_EX_STRING)                       \
  X(REPL_EX_VERSION, REPL_EX_NS_CALENDAR, "version", REPL_EX_STRING)                     \
  X(REPL_EX_SUBJECT, REPL_EX_NS_HTTPMAIL, "subject", REPL_EX_STRING)                     \
  X(REPL_EX_TEXTDESCRIPTION, REPL_EX_NS_HTTPMAIL, "textdescription", REPL_EX_STRING)     \
  X(REPL_EX_HTMLDESCRIPTION, REPL_EX_NS_HTTPMAIL, "htmldescription", REPL_EX_STRING)     \
  X(REPL_EX_HASATTACHMENT, REPL_EX_NS_HTTPMAIL, "hasattachment", REPL_EX_BOOL)           \
  X(REPL_EX_TO, REPL_EX_NS_HTTPMAIL, "to", REPL_EX_STRING)                               \
  X(REPL_EX_CC, REPL_EX_NS_HTTPMAIL, "cc", REPL_EX_STRING)                               \
  X(REPL_EX_MESSAGECLASS, REPL_EX_NS_EXCHANGE, "outlookmessageclass", REPL_EX_STRING)    \
  X(REPL_EX_SENSITIVITY, REPL_EX_NS_EXCHANGE, "sensitivity", REPL_EX_INT)                \
  X(REPL_EX_KEYWORDS, REPL_EX_NS_OFFICE, "Keywords", REPL_EX_MV_STRING)

enum repl_exprop {
#define REPL_EX_ENUM(sym, ns, name, type) sym,
    REPL_EXPROPS(REPL_EX_ENUM)
#undef REPL_EX_ENUM
    REPL_EX_COUNT
};

struct repl_exprop_def {
    const char *ns;
    const char *name;
    enum repl_ex_type type;
};

/* The definition of `p` (static). */
const struct repl_exprop_def *repl_exprop_def(enum repl_exprop p);

/* The property named {ns}name, compared as bytes; -1 when it is not one of these. */
int repl_exprop_find(struct slice ns, struct slice name);

/* One value. Absent values (present = false) are SQL NULL and go to the 404 propstat. */
struct repl_ex_value {
    bool present;
    const char *s;           /* STRING: in the arena */
    int64_t i;               /* INT; BOOL 0/1; TIME Unix seconds UTC */
    const char *const *mv_s; /* MV_STRING: n strings in the arena */
    const int64_t *mv_t;     /* MV_TIME: n instants */
    size_t n;                /* MV_*: number of values (present means n > 0) */
};

/* Who reads or writes an appointment: the principal's e-mail addresses (without "mailto:";
 * calstore_user_emails), for the properties that tell "me" from the others: C:isorganizer
 * and C:responsestatus. NULL or none: the principal is taken to organize what has no
 * ORGANIZER and to attend nothing. */
struct repl_ex_self {
    const char *const *emails;
    size_t n;
};

/* True when `addr` (a mailto: URI or a bare address) is one of self's. */
bool repl_ex_is_self(const struct repl_ex_self *self, const char *addr);

/* The values of every property for one stored object, read from its master component (the
 * first VEVENT/VTODO/VJOURNAL without RECURRENCE-ID, else the first one). §4.8: a DATE is
 * midnight UTC (calendar.default_tz is UTC). `ics` is borrowed; strings go to `arena`.
 * Returns 0, or -1 with cal_cond_valid_calendar_data when the object does not parse.
 * Any worker thread; O(size of the object), no recurrence expansion. */
int repl_exprops_read(struct slice ics,
                      const struct repl_ex_self *self,
                      struct arena *arena,
                      struct repl_ex_value out[REPL_EX_COUNT],
                      struct err *err);

/* The occurrences of a series overlapping [start, end) (exchange-replication.md §3.8), one
 * at a time in order of start: each with its own values (UTC times, RECURRENCE-ID in
 * C:recurrenceid, instancetype 2, or 3 when a stored override replaced it) and the series'
 * zone, and the series' C:isorganizer and C:responsestatus (for `self`, which need not
 * outlive the call). The iterator holds the expanded object (at most CAL_MAX_INSTANCES occurrences,
 * as cal_expand()); the caller closes it with repl_ex_instances_close(). `ics` is borrowed and
 * temporaries go to `arena`. Returns 0, or -1 with cal_cond_valid_calendar_data. */
struct repl_ex_instances;
int repl_ex_instances_open(struct slice ics,
                           const struct repl_ex_self *self,
                           int64_t start,
                           int64_t end,
                           struct arena *arena,
                           struct repl_ex_instances **out,
                           struct err *err);

/* The next occurrence's values (strings in `arena`): 1, or 0 after the last. */
int repl_ex_instances_next(struct repl_ex_instances *x,
                           struct arena *arena,
                           struct repl_ex_value out[REPL_EX_COUNT]);

/* Frees the iterator and sets *x to NULL; NULL is fine. */
void repl_ex_instances_close(struct repl_ex_instances **x);

#endif
