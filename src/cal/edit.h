/* cal/edit.h: a small editing API over one calendar object, for the protocol mappings that
 * live above cal (the ActiveSync mapping in src/eas): parse a stored object, walk its
 * components, read and write properties and parameters, convert times through the object's
 * zones, and serialize the result. libical stays inside cal: every handle here is an opaque
 * pointer into cal's own tree, so reading a property costs no copy and no second parse.
 *
 * Handles: a struct cal_doc owns the tree (cal_doc_free); a struct cal_node (component) and
 * a struct cal_prop (property) are borrowed from it and live until they are removed or the
 * document is freed; a struct cal_zone is borrowed from the document or from cal's zone
 * cache and lives as long as both. Strings returned are borrowed likewise (copy them before
 * changing the property they came from). NULL stands for "none" throughout; every function
 * that takes a handle accepts NULL and then does nothing or returns "none".
 *
 * Iteration: cal_node_first/next and cal_prop_first/next share one cursor per parent (as
 * libical does), so a loop must not run a second walk over the same parent inside it;
 * cal_prop_count() resets that cursor.
 *
 * Threads: any worker thread once cal_init() has run; a document belongs to one thread. */
#ifndef ALMANAC_CAL_EDIT_H
#define ALMANAC_CAL_EDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cal/cal.h"
#include "util/arena.h"
#include "util/err.h"
#include "util/slice.h"

struct cal_doc;
struct cal_node;
struct cal_prop;
struct cal_zone;

/* Component kinds. */
enum cal_node_kind {
    CAL_NODE_ANY,
    CAL_NODE_VCALENDAR,
    CAL_NODE_VEVENT,
    CAL_NODE_VTODO,
    CAL_NODE_VJOURNAL,
    CAL_NODE_VALARM,
    CAL_NODE_VTIMEZONE,
    CAL_NODE_VFREEBUSY,
    CAL_NODE_OTHER, /* any other component (STANDARD, X-...) */
};

/* Property kinds; CAL_PROP_X is every X- property (cal_prop_x() finds one by name). */
enum cal_prop_kind {
    CAL_PROP_ANY,
    CAL_PROP_X,
    CAL_PROP_ACTION,
    CAL_PROP_ATTACH,
    CAL_PROP_ATTENDEE,
    CAL_PROP_CATEGORIES,
    CAL_PROP_CLASS,
    CAL_PROP_CREATED,
    CAL_PROP_DESCRIPTION,
    CAL_PROP_DTEND,
    CAL_PROP_DTSTAMP,
    CAL_PROP_DTSTART,
    CAL_PROP_DUE,
    CAL_PROP_DURATION,
    CAL_PROP_EXDATE,
    CAL_PROP_EXRULE,
    CAL_PROP_GEO,
    CAL_PROP_LASTMODIFIED,
    CAL_PROP_LOCATION,
    CAL_PROP_METHOD,
    CAL_PROP_ORGANIZER,
    CAL_PROP_PRIORITY,
    CAL_PROP_PRODID,
    CAL_PROP_RDATE,
    CAL_PROP_RECURRENCEID,
    CAL_PROP_RRULE,
    CAL_PROP_SEQUENCE,
    CAL_PROP_STATUS,
    CAL_PROP_SUMMARY,
    CAL_PROP_TRANSP,
    CAL_PROP_TRIGGER,
    CAL_PROP_TZID,
    CAL_PROP_UID,
    CAL_PROP_VERSION,
    CAL_PROP_NKINDS,
};

/* Parameter kinds. */
enum cal_param {
    CAL_PARAM_ALTREP,
    CAL_PARAM_CN,
    CAL_PARAM_CUTYPE,
    CAL_PARAM_FMTTYPE,
    CAL_PARAM_PARTSTAT,
    CAL_PARAM_RANGE,
    CAL_PARAM_RELATED,
    CAL_PARAM_ROLE,
    CAL_PARAM_RSVP,
    CAL_PARAM_SCHEDULE_AGENT,  /* RFC 6638 §7.1 */
    CAL_PARAM_SCHEDULE_STATUS, /* RFC 6638 §7.3 */
    CAL_PARAM_TZID,
    CAL_PARAM_VALUE,
    CAL_PARAM_NKINDS,
};

/* A DATE or DATE-TIME value as written: local (floating or with a TZID), UTC, or a date.
 * Where the time of a property lies is cal_prop_zone()'s. */
struct cal_time {
    int year, month, day;
    int hour, minute, second; /* 0 for a DATE */
    bool is_date;
    bool is_utc; /* a DATE-TIME ending in Z */
};

/* ---------------------------------------------------------------------------------------- */
/* Documents */

/* A stored object parsed again (it was validated on PUT), to change and serialize. NULL with
 * cal_cond_valid_calendar_data when it no longer parses, or err_cond_time_budget when this
 * thread's deadline has passed. */
struct cal_doc *cal_doc_parse(struct slice ics, struct arena *arena, struct err *err);

/* cal_doc_parse() for reading only, the fast path of a sync: the object's VTIMEZONEs are
 * taken from cal's zone cache by their bytes instead of being parsed, so the document holds
 * none; times still convert in the object's own zones. Never serialize such a document. */
struct cal_doc *cal_doc_parse_read(struct slice ics, struct arena *arena, struct err *err);

/* A new VCALENDAR with VERSION:2.0 and PRODID `prodid`, and no component. */
struct cal_doc *cal_doc_new(const char *prodid);

void cal_doc_free(struct cal_doc *doc);

/* The VCALENDAR component. */
struct cal_node *cal_doc_root(struct cal_doc *doc);

/* The master VEVENT (no RECURRENCE-ID), else the first VEVENT, else NULL. */
struct cal_node *cal_doc_master(struct cal_doc *doc);

/* The document as iCalendar text (NUL-terminated) in the arena. */
void cal_doc_text(struct cal_doc *doc, struct arena *arena, struct slice *out);

/* Adds the VTIMEZONE `vtimezone` (its text) to the document, screened like every zone cal
 * reads (cal_parse_object's limits). 0, or -1 with cal_cond_valid_calendar_data. */
int cal_doc_add_zone(struct cal_doc *doc, const char *vtimezone, struct err *err);

/* Whether the document holds a VTIMEZONE with TZID `tzid`. */
bool cal_doc_has_zone(struct cal_doc *doc, const char *tzid);

/* The zone the document's VTIMEZONE `tzid` defines, or NULL. */
struct cal_zone *cal_doc_zone(struct cal_doc *doc, const char *tzid);

/* Removes the VTIMEZONEs that no property's TZID names any more. */
void cal_doc_prune_zones(struct cal_doc *doc);

/* ---------------------------------------------------------------------------------------- */
/* Components */

struct cal_node *cal_node_first(struct cal_node *parent, enum cal_node_kind kind);
struct cal_node *cal_node_next(struct cal_node *parent, enum cal_node_kind kind);
enum cal_node_kind cal_node_kind(const struct cal_node *c);

/* A new, empty component (CAL_NODE_VEVENT, CAL_NODE_VALARM, ...), owned by the caller until
 * cal_node_add() gives it to a parent. */
struct cal_node *cal_node_new(enum cal_node_kind kind);

/* A deep copy of `c`, owned by the caller until cal_node_add(). */
struct cal_node *cal_node_clone(const struct cal_node *c);

void cal_node_add(struct cal_node *parent, struct cal_node *child);

/* Removes `child` from `parent` and frees it. */
void cal_node_remove(struct cal_node *parent, struct cal_node *child);

/* Frees a component that no parent owns. */
void cal_node_free(struct cal_node *c);

/* The UID of `c`, or NULL; cal_node_set_uid() replaces it (`uid` is copied). */
const char *cal_node_uid(struct cal_node *c);
void cal_node_set_uid(struct cal_node *c, const char *uid);

/* The end in Unix seconds of the instance of `c` that starts at `start` (in `zone`; the
 * instant `start_utc`): DTEND or DUE give the first instance's exact length to every
 * instance, DURATION counts days nominally in `zone`, else a DATE lasts a day and a
 * DATE-TIME no time (RFC 5545 §3.8.5.3, §3.3.6; as cal_parse_object spans them). */
int64_t cal_node_end(struct cal_doc *doc,
                     struct cal_node *c,
                     struct cal_time start,
                     const struct cal_zone *zone,
                     int64_t start_utc);

/* DURATION of `c` as weeks, days and seconds (false when it has none). */
struct cal_duration {
    bool is_neg;
    int weeks, days;
    int hours, minutes, seconds;
};

bool cal_node_duration(struct cal_node *c, struct cal_duration *out);

/* Calls fn for the instances of the first RRULE of `c` from its DTSTART, in order (local
 * time in DTSTART's zone, and that instant), until fn returns non-zero or the rule ends;
 * walks at most CAL_MAX_INSTANCES instances and CAL_MAX_STEPS steps. Returns fn's value, 0
 * at the end, or -1 when `c` has no walkable rule. */
typedef int cal_instance_fn(void *ctx, struct cal_time local, int64_t utc);
int cal_node_instances(struct cal_doc *doc, struct cal_node *c, cal_instance_fn *fn, void *ctx);

/* ---------------------------------------------------------------------------------------- */
/* Properties */

struct cal_prop *cal_prop_first(struct cal_node *c, enum cal_prop_kind kind);
struct cal_prop *cal_prop_next(struct cal_node *c, enum cal_prop_kind kind);

/* The first X- property of `c` named `name` (ASCII case-insensitive), or NULL. */
struct cal_prop *cal_prop_x(struct cal_node *c, const char *name);

/* How many properties of `kind` `c` has (resets the property cursor of `c`). */
size_t cal_prop_count(struct cal_node *c, enum cal_prop_kind kind);

/* The kind of `p`; CAL_PROP_ANY for a kind this header does not name. */
enum cal_prop_kind cal_prop_kind(const struct cal_prop *p);

/* The property's name as iCalendar spells it ("ATTENDEE", "X-FOO"), for every kind; in
 * libical's per-thread ring of temporaries, so copy it before the next call into cal. */
const char *cal_prop_name(const struct cal_prop *p);

/* The name of an X- property, or NULL. */
const char *cal_prop_x_name(const struct cal_prop *p);

/* The value as text, unescaped: TEXT, CAL-ADDRESS, URI, an X- property's value, and the
 * enumerated values of STATUS, CLASS, TRANSP and ACTION (upper case, or the X- name). NULL
 * for other value types. */
const char *cal_prop_text(const struct cal_prop *p);

/* The value as iCalendar writes it (escaped; a RRULE as its rule text), in the arena. */
const char *cal_prop_value(const struct cal_prop *p, struct arena *arena);

/* A DATE or DATE-TIME value (RDATE: a PERIOD's start; TRIGGER: an absolute one). */
bool cal_prop_time(const struct cal_prop *p, struct cal_time *out);

/* The zone the DATE-TIME of `p` is in: the object's VTIMEZONE named by TZID, else cal's
 * builtin zone of that name (cal_zone_utc() for TZID=UTC and for a UTC time). NULL for
 * floating, DATE and an unknown TZID, which cal_time_to_unix() then reads as UTC. */
struct cal_zone *cal_prop_zone(struct cal_doc *doc, struct cal_prop *p);

/* An INTEGER value (SEQUENCE, PRIORITY). */
bool cal_prop_int(const struct cal_prop *p, int64_t *out);

/* GEO as degrees. */
bool cal_prop_geo(const struct cal_prop *p, double *lat, double *lon);

/* A TRIGGER: absolute (*is_abs, *at set) or relative (*secs, signed, from the start or, with
 * RELATED=END, the end). False when `p` is no TRIGGER. */
bool cal_prop_trigger(const struct cal_prop *p, bool *is_abs, struct cal_time *at, int64_t *secs);

/* A parameter's value, unescaped; enumerated ones (CUTYPE, PARTSTAT, RANGE, RELATED, ROLE,
 * RSVP, SCHEDULE-AGENT, VALUE) in
 * upper case as RFC 5545 spells them, or their X- name. NULL when absent. */
const char *cal_prop_param(const struct cal_prop *p, enum cal_param kind);

/* Replaces (value non-NULL) or removes (NULL) every parameter of `kind`. */
void cal_prop_set_param(struct cal_prop *p, enum cal_param kind, const char *value);

/* Adders: the new property is appended to `c` and returned. Text kinds take the unescaped
 * text (CAL-ADDRESS and enumerated kinds their value as written). */
struct cal_prop *cal_prop_add_text(struct cal_node *c, enum cal_prop_kind kind, const char *v);
struct cal_prop *cal_prop_add_x(struct cal_node *c, const char *name, const char *v);

/* A DATE or DATE-TIME; `tzid` (may be NULL) is written as TZID on a local DATE-TIME. */
struct cal_prop *
cal_prop_add_time(struct cal_node *c, enum cal_prop_kind kind, struct cal_time t, const char *tzid);

/* Replaces the value of `p` by `t` (a DATE or DATE-TIME), keeping its parameters but VALUE,
 * which becomes VALUE=DATE for a DATE and goes otherwise. */
void cal_prop_set_time(struct cal_prop *p, struct cal_time t);

struct cal_prop *cal_prop_add_int(struct cal_node *c, enum cal_prop_kind kind, int v);

/* RRULE or EXRULE (`kind`) from its text; NULL when `text` is no rule (no FREQ, or a part
 * libical refuses). */
struct cal_prop *cal_prop_add_rule(struct cal_node *c, enum cal_prop_kind kind, const char *text);

struct cal_prop *cal_prop_add_geo(struct cal_node *c, double lat, double lon);

/* TRIGGER relative to the start, `secs` signed (RFC 5545 §3.8.6.3). */
struct cal_prop *cal_prop_add_trigger(struct cal_node *c, int64_t secs);

/* Removes (and frees) every property of `kind` of `c`. */
void cal_prop_remove_all(struct cal_node *c, enum cal_prop_kind kind);

/* Removes every X- property of `c` named `name` (ASCII case-insensitive). */
void cal_prop_remove_x(struct cal_node *c, const char *name);

/* Moves a property: cal_prop_take() removes `p` from `c` without freeing it (the caller owns
 * it), cal_prop_put() appends an owned property to `c`, cal_prop_free() frees an owned one. */
void cal_prop_take(struct cal_node *c, struct cal_prop *p);
void cal_prop_put(struct cal_node *c, struct cal_prop *p);
void cal_prop_free(struct cal_prop *p);

/* ---------------------------------------------------------------------------------------- */
/* Recurrence rules (RFC 5545 §3.3.10) */

enum cal_freq {
    CAL_FREQ_NONE,
    CAL_FREQ_SECONDLY,
    CAL_FREQ_MINUTELY,
    CAL_FREQ_HOURLY,
    CAL_FREQ_DAILY,
    CAL_FREQ_WEEKLY,
    CAL_FREQ_MONTHLY,
    CAL_FREQ_YEARLY,
};

enum {
    CAL_RRULE_MAX_DAYS = 386,     /* BYDAY entries (7 x 55 weeks + 1, as libical holds them) */
    CAL_RRULE_MAX_MONTHDAYS = 32, /* BYMONTHDAY entries */
    CAL_RRULE_MAX_MONTHS = 14,    /* BYMONTH entries (13 months of RFC 7529 + 1) */
    CAL_RRULE_MAX_SETPOS = 386,   /* BYSETPOS entries */
};

/* One BYDAY entry: weekday 0 Sunday .. 6 Saturday, pos the n-th (negative from the end; 0
 * every such weekday). */
struct cal_rrule_day {
    int pos;
    int weekday;
};

/* An RRULE. BYSECOND, BYMINUTE, BYHOUR, BYYEARDAY and BYWEEKNO are only counted (`nother`):
 * such a rule can be read here but not written (its text form carries it). */
struct cal_rrule {
    enum cal_freq freq;
    int interval; /* >= 1 */
    int count;    /* 0: no COUNT */
    bool has_until;
    struct cal_time until;
    int week_start; /* 0 Sunday .. 6 Saturday; Monday when the rule names none */
    size_t nday;
    struct cal_rrule_day day[CAL_RRULE_MAX_DAYS];
    size_t nmonthday;
    int monthday[CAL_RRULE_MAX_MONTHDAYS];
    size_t nmonth;
    int month[CAL_RRULE_MAX_MONTHS];
    bool leap_month; /* some BYMONTH entry is a leap month (RFC 7529) */
    size_t nsetpos;
    int setpos[CAL_RRULE_MAX_SETPOS];
    size_t nother;
};

/* An empty rule: no FREQ, INTERVAL 1, week start Monday. */
void cal_rrule_init(struct cal_rrule *r);

bool cal_prop_rrule(const struct cal_prop *p, struct cal_rrule *out);

/* Appends RRULE `r` to `c`; NULL when `r` has BY parts this struct cannot write. */
struct cal_prop *cal_prop_add_rrule(struct cal_node *c, const struct cal_rrule *r);

/* ---------------------------------------------------------------------------------------- */
/* Times and zones */

/* `t` as Unix seconds: UTC, DATE (midnight) and floating values read as UTC, others as local
 * time in `zone` (NULL: UTC). */
int64_t cal_time_to_unix(struct cal_time t, const struct cal_zone *zone);

/* The local time of Unix seconds `secs` in `zone`; NULL or the UTC zone give a UTC time. */
struct cal_time cal_time_of(int64_t secs, const struct cal_zone *zone);

/* `t` moved by `days` calendar days (the time of day kept). */
struct cal_time cal_time_add_days(struct cal_time t, int days);

/* <0, 0 or >0 as `a` is before, at or after `b` (fields compared, zones ignored). */
int cal_time_compare(struct cal_time a, struct cal_time b);

/* 0 Sunday .. 6 Saturday. */
int cal_time_weekday(struct cal_time t);

int cal_days_in_month(int month, int year);

/* A real date (and time of day), years 0-9999. */
bool cal_time_is_valid(struct cal_time t);

/* libical's UTC zone (distinct from NULL only for comparing what cal_zone_named returns). */
struct cal_zone *cal_zone_utc(void);

/* A builtin zone by IANA name ("Europe/Berlin") or libical's prefixed TZID; "UTC" gives
 * cal_zone_utc(); NULL when unknown. */
struct cal_zone *cal_zone_named(const char *name);

/* Seconds east of UTC in `zone` (NULL: 0) at the instant `secs`. */
int cal_zone_offset(const struct cal_zone *zone, int64_t secs);

/* The zone's TZID, and the location a builtin zone carries (X-LIC-LOCATION), or NULL. */
const char *cal_zone_tzid(const struct cal_zone *zone);
const char *cal_zone_location(const struct cal_zone *zone);

/* The place libical names the zone by (X-LIC-LOCATION, or what it derives from the TZID),
 * or NULL. */
const char *cal_zone_place(const struct cal_zone *zone);

/* The zone's VTIMEZONE as iCalendar text in the arena, or NULL. */
const char *cal_zone_text(const struct cal_zone *zone, struct arena *arena);

#endif
