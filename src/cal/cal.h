/* cal/cal.h: calendar objects over libical, the only layer that parses iCalendar. Validates
 * one calendar object resource (RFC 4791 §4.1) and computes what the store indexes: the
 * component type, the UID and the span of all instances in UTC (DESIGN.md's
 * dtstart_utc/dtend_utc, RFC 4791 §9.9); evaluates calendar-query filters, expands
 * recurrences and selects calendar data for REPORTs. No libical type crosses this header.
 *
 * Threads: cal_init() runs once at start-up, before any thread; after it every function here
 * may run on any worker thread at once. libical 3.0 keeps its builtin time zones in a global
 * cache: cal_init() loads the zone list while the process is single-threaded, lookups are
 * serialised by a mutex in cal/span.c, and libical (>= 3.0.9) locks its own per-zone caches.
 * cal_shutdown() frees that cache at process end. */
#ifndef ALMANAC_CAL_CAL_H
#define ALMANAC_CAL_CAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/arena.h"
#include "util/err.h"
#include "util/slice.h"

#define ERR_COND(sym, name, ns, http, eas) ERR_COND_DECLARE(sym, name, ns, http, eas)
#include "cal/conds.def"
#undef ERR_COND

/* The component type of a calendar object resource; also a bit in a collection's
 * supported-calendar-component-set mask (RFC 4791 §5.2.3). VFREEBUSY is not stored. */
enum cal_comp {
    CAL_COMP_NONE = 0,
    CAL_COMP_VEVENT = 1,
    CAL_COMP_VTODO = 2,
    CAL_COMP_VJOURNAL = 4,
};

/* Bounds of the work one object may cost (STYLE.md §3.7: every limit named, with its reason).
 * A span is an index pre-filter, so stopping early only widens it (to INT64_MAX), never loses
 * an instance. */
enum {
    CAL_MAX_INSTANCES = 100000, /* recurrence instances walked per object (span or expansion) */
    CAL_MAX_STEPS = 200000,     /* candidate periods (FREQ x INTERVAL) libical steps through per
                                   object, about 1 us each: a sparse rule costs steps, not
                                   instances (daily from 1970 to 2200 is 84,000) */
    CAL_MAX_YEAR = 2200,        /* an instance past this year makes the span unbounded */
    CAL_MAX_RRULES = 4,         /* RRULE properties per object (RFC 5545 wants one); an RRULE
                                   that can never match costs libical up to ~2 s to find out */
    CAL_MAX_DEPTH = 8,          /* component nesting (VCALENDAR > VEVENT > VALARM is 3) */
    CAL_MAX_INDEXED_INSTANCES = 4096, /* instances of a series kept in its instance index (24
                                         bytes each); a longer series is expanded per query */
    CAL_MAX_EXPANDED = 10000,         /* instances one object shows in an expansion (each a
                                         component copied out; a minutely series over four
                                         years would be two million) */
};

/* The default of cal_max_tz_transitions(): the UTC offset changes one VTIMEZONE may make up to
 * the year 9999 (what libical computes, once per zone). A zone as Outlook writes it
 * (STANDARD and DAYLIGHT, yearly from 1601) makes about 16,800; one observance recurring
 * FREQ=SECONDLY would make billions. */
#define CAL_DEFAULT_MAX_TZ_TRANSITIONS 30000

/* Sets the bound on a VTIMEZONE's offset changes (config max_tz_transitions); 0 restores the
 * default. Once at start-up, before any thread. */
void cal_set_max_tz_transitions(size_t n);
size_t cal_max_tz_transitions(void);

/* What the store keeps of a valid calendar object resource (store.h struct store_item_in).
 *
 * The span is a closed interval [dtstart_utc, dtend_utc] in Unix seconds that covers every
 * instant any instance touches (RFC 4791 §9.9), so an object can match a time-range
 * [S, E) only if dtstart_utc <= E and dtend_utc >= S; exact matching is cal_filter_match's.
 * Per component, an instance starts at DTSTART (DATE and floating values read as UTC; TZID
 * through the object's VTIMEZONE, else libical's builtin zone of that name, else as UTC) and
 * ends at DTEND (the same exact duration for every instance, RFC 5545 §3.8.5.3), at
 * DTSTART + DURATION (days nominal, RFC 5545 §3.3.6), a day later for a DATE, or at DTSTART.
 * Instances are DTSTART, the RRULEs' and the RDATEs', minus EXDATEs and minus the instances
 * that overrides (RECURRENCE-ID) replace; each override adds its own instance. VTODO follows
 * the table of RFC 4791 §9.9 (DTSTART, else DUE, else CREATED/COMPLETED, else every time);
 * VJOURNAL has a span only with a DTSTART. */
struct cal_info {
    enum cal_comp comp;  /* never CAL_COMP_NONE after success */
    const char *uid;     /* in the caller's arena, NUL-terminated, non-empty */
    bool is_recurring;   /* some component has an RRULE or an RDATE */
    bool has_span;       /* false: the object matches no time range (a VJOURNAL without
                            DTSTART, or every instance excluded) */
    int64_t dtstart_utc; /* start of the first instance; INT64_MIN for an undated VTODO */
    int64_t dtend_utc;   /* end of the last instance; INT64_MAX when unbounded: an RRULE
                            without COUNT or UNTIL, or one past a CAL_MAX_* bound */
    /* The instance index of a recurring object (opaque bytes in the arena, for
     * cal_instances_match()): every instance as the expansion of a calendar-query sees it.
     * Absent (has_instances false) for a single object, whose span is exact, and for a
     * series the walk cannot finish: unbounded, past a CAL_MAX_* bound, or more than
     * CAL_MAX_INDEXED_INSTANCES instances. */
    bool has_instances;
    const void *instances;
    size_t instances_size;
};

/* Once at start-up, before any thread: makes libical's errors non-fatal and loads its
 * builtin time zone list. */
void cal_init(void);

/* At process end, after every thread: frees libical's cached builtin time zones and this
 * thread's libical string ring (keeps LeakSanitizer quiet). */
void cal_shutdown(void);

/* Parses and validates `ics` (borrowed; need not be NUL-terminated) as one calendar object
 * resource (RFC 4791 §4.1), and computes its index fields. `allowed` is the mask of enum
 * cal_comp that the target collection accepts. Returns 0 with *out filled (the UID in
 * `arena`), or -1 with `err` set to:
 *   cal_cond_valid_calendar_data (403): not UTF-8, not exactly one VCALENDAR with
 *     VERSION:2.0 and PRODID, BEGIN/END that do not pair, nesting past CAL_MAX_DEPTH, anything
 *     libical records as an error (X-LIC-ERROR), impossible dates, a VEVENT without DTSTART,
 *     DTEND or DUE together with DURATION, a property that may occur once occurring twice,
 *     an RRULE libical cannot walk in bounded work, more than CAL_MAX_RRULES RRULEs, a
 *     VTIMEZONE that is malformed or would make more than cal_max_tz_transitions() UTC
 *     offset changes (checked before any time is converted);
 *   err_cond_time_budget (503): this thread's deadline (util/deadline.h) passed while the
 *     recurrence was walked; nothing was decided about the object;
 *   cal_cond_valid_object (403): more than one component type, differing UIDs, a component
 *     without UID, two masters or two overrides of one instance, no component at all;
 *   cal_cond_supported_component (403): a component other than VEVENT, VTODO, VJOURNAL
 *     (and VTIMEZONE), or one outside `allowed`.
 * Any worker thread. Work is O(size) plus at most CAL_MAX_INSTANCES and CAL_MAX_STEPS of
 * recurrence; memory is libical's tree of the object, freed before returning. */
int cal_parse_object(
    struct slice ics, unsigned allowed, struct arena *arena, struct cal_info *out, struct err *err);

/* A calendar-query filter (RFC 4791 §9.7) as a tree, built by the caller in its arena. */
enum cal_filter_kind {
    CAL_FILTER_COMP,
    CAL_FILTER_PROP,
    CAL_FILTER_PARAM
};

enum cal_collation {
    CAL_COLLATION_ASCII_CASEMAP = 0, /* i;ascii-casemap, the default */
    CAL_COLLATION_OCTET,             /* i;octet */
};

struct cal_text_match {
    const char *text; /* substring to look for */
    enum cal_collation collation;
    bool negate;
};

struct cal_filter {
    enum cal_filter_kind kind;
    const char *name;    /* component, property or parameter name, upper case */
    bool is_not_defined; /* matches when no such component/property/parameter exists */
    bool has_range;      /* comp-filter: instances overlapping [start, end) */
    int64_t start;
    int64_t end;
    bool has_text;
    struct cal_text_match text;
    struct cal_filter *children; /* nested filters, all of which must match */
    struct cal_filter *next;     /* sibling */
};

/* Evaluates `f` (a comp-filter for VCALENDAR) against `ics`. Returns 1 match, 0 no match, or
 * -1 with cal_cond_valid_calendar_data when the stored object does not parse. Time ranges on
 * components below the top level compare the component's own DTSTART/DTEND. */
int cal_filter_match(struct slice ics,
                     const struct cal_filter *f,
                     struct arena *arena,
                     struct err *err);

/* RFC 4791 §9.6.5: `ics` with every instance overlapping [start, end) as its own component,
 * times in UTC, a RECURRENCE-ID on each instance of a recurring one, no RRULE/RDATE/EXDATE,
 * overrides applied and each instance keeping its own DTEND or DURATION; VTIMEZONEs dropped.
 * The result (NUL-terminated) is in the arena. Returns 0, or -1 with
 * cal_cond_valid_calendar_data when `ics` does not parse, or err_cond_time_budget. Walks at
 * most CAL_MAX_INSTANCES instances and CAL_MAX_STEPS steps per series (a rule without COUNT
 * skips ahead to the range) and shows at most CAL_MAX_EXPANDED instances of the object; a
 * rule cal_parse_object() would refuse expands to its master only. */
int cal_expand(struct slice ics,
               int64_t start,
               int64_t end,
               struct arena *arena,
               struct slice *out,
               struct err *err);

/* Whether the object whose instance index (cal_info.instances) is `index` has an instance
 * overlapping [start, end): 1 or 0, exactly what the expansion (cal_expand) of the stored
 * object over that range would show, without parsing it. -1 when `index` is malformed
 * (the caller then expands). */
int cal_instances_match(const void *index, size_t size, int64_t start, int64_t end);

/* A closed interval of Unix seconds, start <= end. */
struct cal_interval {
    int64_t start;
    int64_t end;
};

/* Covers the instances of the instance index `index` with at most `max` (>= 1) disjoint
 * closed intervals, ascending, for an interval index of the store: every instance [start,
 * end] lies inside one of them, so any range cal_instances_match() finds an instance in
 * meets one. Instances that overlap or touch share an interval; past `max`, neighbouring
 * intervals are joined across the narrowest gaps first, so the gaps kept (the time the
 * cover says the series is free) are the widest. *out in `arena` (NULL when *n_out is 0: an
 * index without instances). Returns 0, or -1 when `index` is malformed. O(n log n) for n
 * instances (at most CAL_MAX_INDEXED_INSTANCES). */
int cal_instances_cover(const void *index,
                        size_t size,
                        size_t max,
                        struct arena *arena,
                        struct cal_interval **out,
                        size_t *n_out);

/* A calendar-data selection (RFC 4791 §9.6.1): which components and properties to return. */
struct cal_select {
    const char *name;   /* component name, upper case (VCALENDAR at the root) */
    bool allprop;       /* every property (no <prop> names, or <allprop/>) */
    bool allcomp;       /* every subcomponent (no <comp> children, or <allcomp/>) */
    const char **props; /* property names when !allprop */
    size_t nprops;
    struct cal_select *comps; /* first subcomponent selection when !allcomp */
    struct cal_select *next;  /* sibling */
};

/* `ics` reduced to `sel` (if not NULL), and, when `limit` is set, to the master components
 * and only those overrides whose instance overlaps [start, end) (§9.6.6). The result
 * (NUL-terminated) is in the arena. -1 with cal_cond_valid_calendar_data if `ics` does not
 * parse. */
int cal_select(struct slice ics,
               const struct cal_select *sel,
               bool limit,
               int64_t start,
               int64_t end,
               struct arena *arena,
               struct slice *out,
               struct err *err);

/* One busy period of a free-busy answer (RFC 4791 §7.10), clipped to the query range. */
enum cal_fbtype {
    CAL_FB_BUSY,
    CAL_FB_TENTATIVE,
    CAL_FB_UNAVAILABLE
};

typedef int cal_period_fn(void *ctx, int64_t start, int64_t end, enum cal_fbtype type);

/* Calls fn for every busy instance of `ics` in [start, end): VEVENTs that are not
 * TRANSP:TRANSPARENT or STATUS:CANCELLED (TENTATIVE gives BUSY-TENTATIVE), each series
 * expanded with its overrides. Returns 0, -1 with err set, or fn's non-zero value. */
int cal_busy(struct slice ics,
             int64_t start,
             int64_t end,
             struct arena *arena,
             cal_period_fn *fn,
             void *ctx,
             struct err *err);

#endif
