/* cal/cal.h: calendar objects over libical. Validates one calendar object resource
 * (RFC 4791 §4.1) and computes what the store indexes: the component type, the UID and the
 * span of all instances in UTC (DESIGN.md's dtstart_utc/dtend_utc, RFC 4791 §9.9). No libical
 * type crosses this header. Thread-safe once cal_init() has run. */
#ifndef ALMANAC_CAL_CAL_H
#define ALMANAC_CAL_CAL_H

#include <stdbool.h>
#include <stdint.h>

#include "util/arena.h"
#include "util/err.h"
#include "util/slice.h"

#define ERR_COND(sym, name, ns, http, eas) ERR_COND_DECLARE(sym, name, ns, http, eas)
#include "cal/conds.def"
#undef ERR_COND

enum cal_comp {
    CAL_COMP_NONE = 0,
    CAL_COMP_VEVENT = 1,
    CAL_COMP_VTODO = 2,
    CAL_COMP_VJOURNAL = 4,
};

/* Bounds of recurrence work: instances walked to find the end of a finite RRULE, and the
 * year past which a rule counts as unbounded. A span is an index pre-filter, so stopping
 * early only widens it (to INT64_MAX), never loses an instance. */
enum {
    CAL_MAX_INSTANCES = 100000,
    CAL_MAX_YEAR = 2200,
};

struct cal_info {
    enum cal_comp comp;
    const char *uid; /* in the caller's arena */
    bool is_recurring;
    bool has_span;       /* false: the object matches no time range (a VJOURNAL without date) */
    int64_t dtstart_utc; /* start of the first instance; INT64_MIN for an undated VTODO */
    int64_t dtend_utc;   /* end of the last instance; INT64_MAX when unbounded */
};

/* Once at start-up, before threads: makes libical's errors non-fatal. */
void cal_init(void);
/* At process end: frees libical's cached builtin time zones (keeps leak checkers quiet). */
void cal_shutdown(void);

/* Parses and validates `ics` as one calendar object resource. Returns 0 with *out filled, or
 * -1 with err set to cal_cond_valid_calendar_data (403: not iCalendar, not UTF-8, libical
 * reported errors, no VERSION/PRODID), cal_cond_valid_object (403: several component types
 * or UIDs, no UID, no component) or cal_cond_supported_component (403: not VEVENT, VTODO or
 * VJOURNAL). `allowed` is a mask of enum cal_comp the collection accepts. */
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
 * cal_cond_valid_calendar_data when `ics` does not parse. Walks at most CAL_MAX_INSTANCES. */
int cal_expand(struct slice ics,
               int64_t start,
               int64_t end,
               struct arena *arena,
               struct slice *out,
               struct err *err);

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
