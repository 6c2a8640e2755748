/* cal/cal_int.h: internals shared by the files of src/cal: time zones and instants
 * (cal/span.c), the bounded recurrence walker, exclusion sets and spans. The one header that
 * carries libical types, so it is never included outside src/cal. Every function is safe on
 * any worker thread once cal_init() has run; none keeps state between calls. */
#ifndef ALMANAC_CAL_CAL_INT_H
#define ALMANAC_CAL_CAL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libical/ical.h>

#include "cal/cal.h"
#include "util/arena.h"
#include "util/err.h"

/* The instance index of the parsed object `root` (cal.h struct cal_info) into the arena:
 * true with *out and *size_out set, or false when the walk could not finish (no index). */
bool cal_instances_of(icalcomponent *root, struct arena *arena, const void **out, size_t *size_out);

/* Loads libical's builtin zone list (cal_init, single-threaded). */
void cal_zone_preload(void);

/* The zone a DATE-TIME `t` of property `prop` is in: the zone libical attached, else the
 * object's VTIMEZONE named by the TZID parameter, else libical's builtin zone of that name
 * (cached process-wide; the lookup holds the cal zone mutex). NULL for UTC, floating, DATE
 * and a TZID found nowhere, all of which cal_to_utc() reads as UTC. The zone is borrowed
 * from `root` or from libical's cache. */
icaltimezone *cal_zone_of(icalcomponent *root, icalproperty *prop, struct icaltimetype t);

/* libical's builtin zone by location ("Europe/Berlin") or by its own prefixed TZID, or
 * NULL; the lookup holds the cal zone mutex. */
icaltimezone *cal_zone_builtin(const char *name);

/* `t` as Unix seconds: UTC, DATE (midnight) and floating values as UTC, others in `zone`. */
int64_t cal_to_utc(struct icaltimetype t, const icaltimezone *zone);

/* `a + b` for b >= 0, saturating at INT64_MAX (an unbounded end stays unbounded). */
int64_t cal_add_sat(int64_t a, int64_t b);

/* True when `t` names a real date (month 1-12, a day of that month, 23:59:60 at most):
 * libical parses 20261399T256199Z without complaint. Years 0-9999 (RFC 5545 §3.3.4). */
bool cal_time_valid(struct icaltimetype t);

/* The end in Unix seconds of the instance of `c` that starts at local time `start` (in
 * `zone`; `start_utc` is the same instant): DTEND or DUE give the exact duration of the
 * component's first instance to every instance (RFC 5545 §3.8.5.3); DURATION counts days and
 * weeks nominally in `zone` (RFC 5545 §3.3.6); else a DATE lasts one day and a DATE-TIME no
 * time. Never before `start_utc`; INT64_MAX for durations past year 9999. */
int64_t cal_instance_end(icalcomponent *root,
                         icalcomponent *c,
                         struct icaltimetype start,
                         const icaltimezone *zone,
                         int64_t start_utc);

/* How long each instance of a component lasts, read once per component (each property
 * lookup walks the component's whole property list, so reading it per instance makes a
 * series with many RDATEs or EXDATEs quadratic). */
struct cal_len {
    enum {
        CAL_LEN_NONE,
        CAL_LEN_EXACT,
        CAL_LEN_NOMINAL
    } kind;

    int64_t secs;                /* CAL_LEN_EXACT: DTEND/DUE - DTSTART, never negative */
    struct icaldurationtype dur; /* CAL_LEN_NOMINAL: DURATION */
};

/* Fills *out for component `c` of `root`, as cal_instance_end reads it. */
void cal_len_of(icalcomponent *root, icalcomponent *c, struct cal_len *out);

/* An upper bound in seconds on how long any instance with length `l` lasts. */
int64_t cal_len_bound(const struct cal_len *l);

/* cal_instance_end() with the length read beforehand. */
int64_t cal_len_end(const struct cal_len *l,
                    struct icaltimetype start,
                    const icaltimezone *zone,
                    int64_t start_utc);

/* The master VEVENT of `root` (no RECURRENCE-ID), else its first VEVENT, else NULL. */
icalcomponent *cal_master_vevent(icalcomponent *root);

/* How many properties of one kind `c` has (resets libical's property cursor of `c`). */
size_t cal_count_props(icalcomponent *c, icalproperty_kind kind);

/* The properties of `c` of one kind, as an array in the arena (n in *n_out). libical's
 * get_first/get_next_property share one cursor per component, which any lookup on `c` made
 * inside such a loop (cal_instance_end's, for one) resets. */
icalproperty **
cal_props_of(icalcomponent *c, icalproperty_kind kind, struct arena *arena, size_t *n_out);

/* One RDATE instance: its local start, that instant, and its end (a PERIOD's own end, else
 * as cal_instance_end gives it; never before the start). */
struct cal_rdate {
    struct icaltimetype t;
    int64_t utc;
    int64_t end;
};

/* The RDATE instances of `c` (DATE, DATE-TIME and PERIOD values; invalid dates left out),
 * sorted by start, into the arena. Returns their number. */
size_t
cal_rdates_of(icalcomponent *root, icalcomponent *c, struct arena *arena, struct cal_rdate **out);

/* The work one object may still cost, shared by every rule walked for it (cal.h CAL_MAX_*).
 * Start from CAL_WORK_INIT. */
struct cal_work {
    size_t instances; /* instances returned so far */
    uint64_t steps;   /* candidate periods stepped through so far */
};

#define CAL_WORK_INIT ((struct cal_work){0, 0})

/* The Gregorian fast path (cal/greg.c): the local times libical's iterator yields for a rule
 * of the plain subset, without ICU. */
enum {
    CAL_GREG_MAX_BYDAY = 64,       /* BYDAY entries (53 ordinals of one weekday fit) */
    CAL_GREG_MAX_INTERVAL = 10000, /* libical keeps INTERVAL in a short */
    CAL_GREG_MAX_CAND = 366        /* candidate days of one period (a year of BYDAY) */
};

struct cal_greg {
    /* the rule */
    icalrecurrencetype_frequency freq;
    int interval;
    int count; /* 0: none */
    int wkst;  /* 1 = SU ... 7 = SA */
    bool has_until;
    struct icaltimetype until;        /* compared with icaltime_compare, as libical does */
    int64_t until_day;                /* UNTIL's date as a day number */
    uint16_t bymonth;                 /* bit m for month m; 0: no BYMONTH */
    int8_t md[ICAL_BY_MONTHDAY_SIZE]; /* BYMONTHDAY (MONTHLY/YEARLY: DTSTART's day if none) */
    size_t nmd;
    bool md_given;
    int8_t day_dow[CAL_GREG_MAX_BYDAY]; /* BYDAY weekday, 1 = SU ... 7 = SA */
    int8_t day_pos[CAL_GREG_MAX_BYDAY]; /* its ordinal, 0 for none */
    size_t nday;
    struct icaltimetype dtstart; /* as libical's iterator holds it (zone, DATE, time of day) */
    int64_t start_day;           /* days since 1970-01-01, of DTSTART */
    int64_t max_day;             /* the last day libical yields (end of 2582) */
    /* the walk */
    int64_t base;   /* period 0: DTSTART's day, WKST-week start, month (y*12+m-1) or year */
    int64_t period; /* the period whose candidates are loaded */
    int32_t cand[CAL_GREG_MAX_CAND]; /* its candidate days, ascending */
    size_t ncand;
    size_t next;      /* the next candidate to look at */
    int64_t emitted;  /* instances yielded or skipped (COUNT) */
    int64_t skip_day; /* instances before this day are counted, not yielded */
    bool done;
};

/* Starts the fast path on `rule` from `dtstart` (with the zone libical's iterator would get
 * attached): 0, or -1 when the rule lies outside the subset libical and the fast path are
 * known to agree on (then walk it with libical). Any thread; the first rule in a zone reads
 * ICU's transitions of that zone once (under a lock). */
int cal_greg_start(struct cal_greg *g,
                   const struct icalrecurrencetype *rule,
                   struct icaltimetype dtstart);

/* The next instance as a local time: 1 with *t set, 0 at the end of the rule. Bounded: it
 * looks at no candidate past the year 2582. */
int cal_greg_next(struct cal_greg *g, struct icaltimetype *t);

/* Makes the walk leave out instances before day number `day` (days since 1970-01-01, local):
 * a rule without COUNT jumps to the period holding it; one with COUNT still counts them. */
void cal_greg_skip(struct cal_greg *g, int64_t day);

/* Frees ICU's zone tables (cal_shutdown). */
void cal_greg_shutdown(void);

/* A walk over the instances of one RRULE, in ascending order. */
struct cal_recur {
    bool fast; /* walked by the fast path `g`, not by `it` */
    struct cal_greg g;
    int64_t skip_utc; /* fast path: instances before this instant are left out */
    int count;        /* the rule's COUNT and INTERVAL (for cal_recur_skip) */
    int interval;
    icalrecur_iterator *it;   /* NULL when the rule yields nothing (or is walked fast) */
    const icaltimezone *zone; /* of DTSTART; instances are local times in it */
    int64_t unit;             /* seconds of one FREQ x INTERVAL period, for the step count */
    int64_t prev_utc;         /* the previous instance (or DTSTART) */
};

/* Why libical 3.0 cannot walk `rule` in bounded work, or NULL when it can. A sub-daily
 * FREQ with a coarser limiting BY part (FREQ=SECONDLY;BYMONTH=2) makes libical test every
 * second in between: RFC-valid, but hours of CPU per call, so such rules are refused. */
const char *cal_recur_refusal(const struct icalrecurrencetype *rule);

/* Starts walking `rule` from `dtstart` in `zone` (attached to the iterator's times so that a
 * UTC UNTIL compares as an instant). Returns 0, or -1 when libical cannot walk the rule
 * (cal_recur_refusal, or libical refuses it: RFC-invalid BY parts, years past 9999). A rule
 * that can yield nothing (BYMONTH=2;BYMONTHDAY=30) starts as an empty walk without asking
 * libical, which would step to the year 2582 first. Stop it with cal_recur_stop(). */
int cal_recur_start(struct cal_recur *r,
                    const struct icalrecurrencetype *rule,
                    struct icaltimetype dtstart,
                    const icaltimezone *zone);

/* The next instance: 1 with *t (local) and *utc set, 0 at the end of the rule, or -1 when
 * `work` reached CAL_MAX_INSTANCES or CAL_MAX_STEPS, the instance lies past CAL_MAX_YEAR or
 * this thread's deadline passed (util/deadline.h) (the walk is then cut short, not
 * finished; the public entry points turn a passed deadline into err_cond_time_budget). */
int cal_recur_next(struct cal_recur *r,
                   struct cal_work *work,
                   struct icaltimetype *t,
                   int64_t *utc);

/* cal_recur_start(), but through the Gregorian fast path (cal/greg.c) whenever the rule lies
 * in its subset: same instances, no ICU. */
int cal_recur_start_fast(struct cal_recur *r,
                         const struct icalrecurrencetype *rule,
                         struct icaltimetype dtstart,
                         const icaltimezone *zone);

/* Moves a walk forward so that its next instance is the first at or after the instant `utc`;
 * `dtstart` is the walk's DTSTART. Work is counted from there. The fast path skips any rule
 * (with COUNT, the instances before still count); libical only rules without COUNT and of
 * INTERVAL 1 (its icalrecur_iterator_set_start refuses COUNT, and libical 3.0 loses an
 * INTERVAL's phase). True when it skipped; false (nothing done) otherwise or when `utc` is
 * not past the walk's position. */
bool cal_recur_skip(struct cal_recur *r, struct icaltimetype dtstart, int64_t utc);

void cal_recur_stop(struct cal_recur *r);

/* The instants a series leaves out: its EXDATEs (DATE-TIME as Unix seconds, DATE as local
 * dates) and the RECURRENCE-IDs of its overrides. Arrays in the arena, sorted. */
struct cal_exset {
    int64_t *utc; /* excluded instants */
    size_t nutc;
    int32_t *dates; /* excluded local dates, yyyymmdd */
    size_t ndates;
};

/* Collects the EXDATEs of `c` plus the `nextra` instants of `extra` (borrowed). */
void cal_exset_init(struct cal_exset *x,
                    icalcomponent *root,
                    icalcomponent *c,
                    const int64_t *extra,
                    size_t nextra,
                    struct arena *arena);

/* Whether the instance at local time `t` (instant `utc`) is left out. O(log n). */
bool cal_exset_has(const struct cal_exset *x, struct icaltimetype t, int64_t utc);

/* A closed interval of Unix seconds covering instances; `any` false while empty. */
struct cal_span {
    bool any;
    int64_t start;
    int64_t end;
};

/* Widens `s` to cover [start, end]. */
void cal_span_add(struct cal_span *s, int64_t start, int64_t end);

/* Adds to `s` the instances of one component `c` of `root` (RFC 4791 §9.9, see struct
 * cal_info), leaving out those in `ex` (NULL: only the component's own EXDATEs). Sets
 * *recurring when `c` has an RRULE or RDATE. Returns 0, or -1 with `err` (may be NULL) set
 * to cal_cond_valid_calendar_data when an RRULE cannot be walked. Temporaries in `arena`. */
int cal_component_span(icalcomponent *root,
                       icalcomponent *c,
                       const struct cal_exset *ex,
                       struct cal_work *work,
                       struct arena *arena,
                       struct cal_span *s,
                       bool *recurring,
                       struct err *err);

/* Time zones (cal/tz.c). Every tree the cal layer parses comes from cal_tree_parse() and goes
 * back through cal_tree_free(), so that no VTIMEZONE libical cannot expand in bounded work
 * reaches libical's time conversion, and each zone is expanded once per process. */

/* Parses `text` (NUL-terminated) and screens its VTIMEZONEs (cal_tree_screen). NULL when it
 * does not parse (err untouched) or, with `refuse`, when a zone is refused (err set). */
icalcomponent *cal_tree_parse(const char *text, bool refuse, struct err *err);

/* Screens every VTIMEZONE of `root` against cal_max_tz_transitions: with `refuse`, -1 and
 * cal_cond_valid_calendar_data naming the zone at the first that fails; else such zones are
 * removed from the tree (a stored object is read without them). Zones that pass are mapped
 * to their shared copy for cal_tz_shared(). 0 on success. */
int cal_tree_screen(icalcomponent *root, bool refuse, struct err *err);

/* For reading only (expansion, free-busy, conversion to ActiveSync): a stored object parsed
 * without its VTIMEZONE components, which are looked up in the zone cache by their bytes
 * instead of being parsed again (they are often half the object), and bound to the tree by
 * TZID for cal_zone_of(). The tree holds no VTIMEZONE, so it must not be written back or
 * matched against a VTIMEZONE filter. Falls back to cal_tree_parse() whenever the text is
 * unusual (folded BEGIN/END lines, more than 8 zones, a zone the cache cannot hold). NULL
 * when it does not parse. */
icalcomponent *cal_tree_parse_read(struct slice text, struct arena *arena, struct err *err);

/* The shared zone bound to `root` for `tzid` by cal_tree_parse_read(), or NULL. */
icaltimezone *cal_tz_bound(const icalcomponent *root, const char *tzid);

/* Frees a tree and forgets its zone mappings. NULL is fine. */
void cal_tree_free(icalcomponent *root);

/* Forgets the zone mappings of `root`: called when VTIMEZONEs are added to or removed from a
 * tree that is still used for time conversion. */
void cal_tree_unbind(const icalcomponent *root);

/* The shared zone that stands for `own`, a zone of the tree `root` defines; `own` itself when
 * none is mapped (a builtin zone, a tree not from cal_tree_parse, a full cache). */
icaltimezone *cal_tz_shared(const icalcomponent *root, icaltimezone *own);

/* Frees the shared zones (cal_shutdown). */
void cal_tz_shutdown(void);

/* A stored object parsed again (it was validated on PUT); NULL with err set
 * (cal_cond_valid_calendar_data) if it no longer parses. The caller frees it with
 * icalcomponent_free(). */
icalcomponent *cal_parse_stored(struct slice ics, struct arena *arena, struct err *err);

/* cal_parse_stored() for reading only: without its VTIMEZONE components (cal_tree_parse_read);
 * times still convert in the object's own zones. */
icalcomponent *cal_parse_stored_read(struct slice ics, struct arena *arena, struct err *err);

#endif
