/* cal/exprops.h: the iCalendar -> urn:schemas:calendar: mapping (exchange-replication.md §4.4,
 * §4.5, §4.8): the Exchange-era appointment properties derived from a stored calendar object,
 * typed as §4.1 writes them. Knows properties and values only; names on the wire, typing of
 * SQL literals and the DAV:/repl properties of the row belong to src/repl. No libical type
 * crosses this header. Any worker thread once cal_init() has run. */
#ifndef ALMANAC_CAL_EXPROPS_H
#define ALMANAC_CAL_EXPROPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/arena.h"
#include "util/err.h"
#include "util/slice.h"

#define CAL_EX_NS_CALENDAR "urn:schemas:calendar:"
#define CAL_EX_NS_HTTPMAIL "urn:schemas:httpmail:"
#define CAL_EX_NS_EXCHANGE "http://schemas.microsoft.com/exchange/"
#define CAL_EX_NS_OFFICE   "urn:schemas-microsoft-com:office:office"

/* §4.1's value types. */
enum cal_ex_type {
    CAL_EX_STRING,
    CAL_EX_INT,
    CAL_EX_BOOL,
    CAL_EX_TIME, /* dateTime, Unix seconds UTC */
    CAL_EX_MV_STRING,
    CAL_EX_MV_TIME,
};

/* X(symbol, namespace, local name, type): every property this file derives. */
#define CAL_EXPROPS(X)                                                                \
  X(CAL_EX_UID, CAL_EX_NS_CALENDAR, "uid", CAL_EX_STRING)                             \
  X(CAL_EX_DTSTART, CAL_EX_NS_CALENDAR, "dtstart", CAL_EX_TIME)                       \
  X(CAL_EX_DTEND, CAL_EX_NS_CALENDAR, "dtend", CAL_EX_TIME)                           \
  X(CAL_EX_DURATION, CAL_EX_NS_CALENDAR, "duration", CAL_EX_INT)                      \
  X(CAL_EX_LOCATION, CAL_EX_NS_CALENDAR, "location", CAL_EX_STRING)                   \
  X(CAL_EX_BUSYSTATUS, CAL_EX_NS_CALENDAR, "busystatus", CAL_EX_STRING)               \
  X(CAL_EX_TRANSPARENT, CAL_EX_NS_CALENDAR, "transparent", CAL_EX_STRING)             \
  X(CAL_EX_ALLDAYEVENT, CAL_EX_NS_CALENDAR, "alldayevent", CAL_EX_BOOL)               \
  X(CAL_EX_INSTANCETYPE, CAL_EX_NS_CALENDAR, "instancetype", CAL_EX_INT)              \
  X(CAL_EX_RRULE, CAL_EX_NS_CALENDAR, "rrule", CAL_EX_MV_STRING)                      \
  X(CAL_EX_RDATE, CAL_EX_NS_CALENDAR, "rdate", CAL_EX_MV_TIME)                        \
  X(CAL_EX_EXDATE, CAL_EX_NS_CALENDAR, "exdate", CAL_EX_MV_TIME)                      \
  X(CAL_EX_EXRULE, CAL_EX_NS_CALENDAR, "exrule", CAL_EX_MV_STRING)                    \
  X(CAL_EX_RECURRENCEID, CAL_EX_NS_CALENDAR, "recurrenceid", CAL_EX_TIME)             \
  X(CAL_EX_RECURRENCEIDRANGE, CAL_EX_NS_CALENDAR, "recurrenceidrange", CAL_EX_STRING) \
  X(CAL_EX_TIMEZONEID, CAL_EX_NS_CALENDAR, "timezoneid", CAL_EX_INT)                  \
  X(CAL_EX_TIMEZONE, CAL_EX_NS_CALENDAR, "timezone", CAL_EX_STRING)                   \
  X(CAL_EX_ORGANIZER, CAL_EX_NS_CALENDAR, "organizer", CAL_EX_STRING)                 \
  X(CAL_EX_MEETINGSTATUS, CAL_EX_NS_CALENDAR, "meetingstatus", CAL_EX_STRING)         \
  X(CAL_EX_CREATED, CAL_EX_NS_CALENDAR, "created", CAL_EX_TIME)                       \
  X(CAL_EX_LASTMODIFIED, CAL_EX_NS_CALENDAR, "lastmodified", CAL_EX_TIME)             \
  X(CAL_EX_DTSTAMP, CAL_EX_NS_CALENDAR, "dtstamp", CAL_EX_TIME)                       \
  X(CAL_EX_SEQUENCE, CAL_EX_NS_CALENDAR, "sequence", CAL_EX_INT)                      \
  X(CAL_EX_PRIORITY, CAL_EX_NS_CALENDAR, "priority", CAL_EX_INT)                      \
  X(CAL_EX_REMINDEROFFSET, CAL_EX_NS_CALENDAR, "reminderoffset", CAL_EX_INT)          \
  X(CAL_EX_METHOD, CAL_EX_NS_CALENDAR, "method", CAL_EX_STRING)                       \
  X(CAL_EX_PRODID, CAL_EX_NS_CALENDAR, "prodid", CAL_EX_STRING)                       \
  X(CAL_EX_VERSION, CAL_EX_NS_CALENDAR, "version", CAL_EX_STRING)                     \
  X(CAL_EX_SUBJECT, CAL_EX_NS_HTTPMAIL, "subject", CAL_EX_STRING)                     \
  X(CAL_EX_TEXTDESCRIPTION, CAL_EX_NS_HTTPMAIL, "textdescription", CAL_EX_STRING)     \
  X(CAL_EX_HTMLDESCRIPTION, CAL_EX_NS_HTTPMAIL, "htmldescription", CAL_EX_STRING)     \
  X(CAL_EX_HASATTACHMENT, CAL_EX_NS_HTTPMAIL, "hasattachment", CAL_EX_BOOL)           \
  X(CAL_EX_MESSAGECLASS, CAL_EX_NS_EXCHANGE, "outlookmessageclass", CAL_EX_STRING)    \
  X(CAL_EX_SENSITIVITY, CAL_EX_NS_EXCHANGE, "sensitivity", CAL_EX_INT)                \
  X(CAL_EX_KEYWORDS, CAL_EX_NS_OFFICE, "Keywords", CAL_EX_MV_STRING)

enum cal_exprop {
#define CAL_EX_ENUM(sym, ns, name, type) sym,
    CAL_EXPROPS(CAL_EX_ENUM)
#undef CAL_EX_ENUM
    CAL_EX_COUNT
};

struct cal_exprop_def {
    const char *ns;
    const char *name;
    enum cal_ex_type type;
};

/* The definition of `p` (static). */
const struct cal_exprop_def *cal_exprop_def(enum cal_exprop p);

/* The property named {ns}name, compared as bytes; -1 when it is not one of these. */
int cal_exprop_find(struct slice ns, struct slice name);

/* One value. Absent values (present = false) are SQL NULL and go to the 404 propstat. */
struct cal_ex_value {
    bool present;
    const char *s;           /* STRING: in the arena */
    int64_t i;               /* INT; BOOL 0/1; TIME Unix seconds UTC */
    const char *const *mv_s; /* MV_STRING: n strings in the arena */
    const int64_t *mv_t;     /* MV_TIME: n instants */
    size_t n;                /* MV_*: number of values (present means n > 0) */
};

/* The values of every property for one stored object, read from its master component (the
 * first VEVENT/VTODO/VJOURNAL without RECURRENCE-ID, else the first one). §4.8: a DATE is
 * midnight UTC (calendar.default_tz is UTC). `ics` is borrowed; strings go to `arena`.
 * Returns 0, or -1 with cal_cond_valid_calendar_data when the object does not parse.
 * Any worker thread; O(size of the object), no recurrence expansion. */
int cal_exprops_read(struct slice ics,
                     struct arena *arena,
                     struct cal_ex_value out[CAL_EX_COUNT],
                     struct err *err);

/* The occurrences of a series overlapping [start, end) (exchange-replication.md §3.8), one
 * at a time in order of start: each with its own values (UTC times, RECURRENCE-ID in
 * C:recurrenceid, instancetype 2, or 3 when a stored override replaced it) and the series'
 * zone. The iterator holds the expanded object (at most CAL_MAX_INSTANCES occurrences, as
 * cal_expand()); the caller closes it with cal_ex_instances_close(). `ics` is borrowed and
 * temporaries go to `arena`. Returns 0, or -1 with cal_cond_valid_calendar_data. */
struct cal_ex_instances;
int cal_ex_instances_open(struct slice ics,
                          int64_t start,
                          int64_t end,
                          struct arena *arena,
                          struct cal_ex_instances **out,
                          struct err *err);

/* The next occurrence's values (strings in `arena`): 1, or 0 after the last. */
int cal_ex_instances_next(struct cal_ex_instances *x,
                          struct arena *arena,
                          struct cal_ex_value out[CAL_EX_COUNT]);

/* Frees the iterator and sets *x to NULL; NULL is fine. */
void cal_ex_instances_close(struct cal_ex_instances **x);

#endif
