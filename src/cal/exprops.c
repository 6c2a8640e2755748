/* cal/exprops.c: urn:schemas:calendar: and the other appointment properties of
 * exchange-replication.md §4.4-4.5 read from a stored iCalendar object with libical. Reads
 * only: PROPPATCH writes (§4.7) are cal/exwrite.c's. Never expands recurrences; times come out in
 * UTC through the zones of cal/span.c. */
#include "cal/exprops.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cal/cal_int.h"
#include "util/compiler.h"

enum {
    SECS_PER_DAY = 86400,
    EX_MAX_VALUES = 1024, /* values of one multi-valued property kept (RDATE, EXDATE, ...) */
};

static const struct cal_exprop_def defs[CAL_EX_COUNT] = {
#define CAL_EX_DEF(sym, ns, name, type) [sym] = {ns, name, type},
    CAL_EXPROPS(CAL_EX_DEF)
#undef CAL_EX_DEF
};

const struct cal_exprop_def *cal_exprop_def(enum cal_exprop p)
{
    return &defs[p];
}

int cal_exprop_find(struct slice ns, struct slice name)
{
    for (int i = 0; i < CAL_EX_COUNT; i++) {
        if (slice_eq(ns, slice_from_cstr(defs[i].ns)) &&
            slice_eq(name, slice_from_cstr(defs[i].name))) {
            return i;
        }
    }
    return -1;
}

/* §4.8's unambiguous CdoTimeZoneId entries, by Olson name. */
static const struct {
    const char *zone;
    int id;
} cdo_zones[] = {
    {"UTC", 0},
    {"Europe/London", 1},
    {"Europe/Paris", 3},
    {"Europe/Berlin", 4},
    {"Europe/Bucharest", 5},
    {"America/New_York", 10},
    {"America/Chicago", 11},
    {"America/Denver", 12},
    {"America/Los_Angeles", 13},
    {"America/Anchorage", 14},
    {"Pacific/Honolulu", 15},
    {"Pacific/Auckland", 17},
    {"Asia/Tokyo", 20},
    {"Asia/Hong_Kong", 21},
    {"Asia/Bangkok", 22},
};

static void set_str(struct cal_ex_value *v, struct arena *a, const char *s)
{
    if (s) {
        v->present = true;
        v->s = arena_strdup(a, s);
    }
}

static void set_int(struct cal_ex_value *v, int64_t i)
{
    v->present = true;
    v->i = i;
}

/* A property's value as iCalendar text (escapes undone for TEXT by libical's getters is not
 * available generically, so this is for non-TEXT values: RRULE, METHOD, STATUS...). */
static void set_value_text(struct cal_ex_value *v, struct arena *a, icalproperty *p)
{
    if (!p) {
        return;
    }
    char *t = icalproperty_get_value_as_string_r(p);
    set_str(v, a, t);
    free(t);
}

static int64_t utc_of(icalcomponent *root, icalproperty *p, struct icaltimetype t)
{
    return cal_to_utc(t, cal_zone_of(root, p, t));
}

/* The component whose values the properties report (see the header). */
static icalcomponent *master_of(icalcomponent *root)
{
    icalcomponent *first = NULL;
    for (icalcomponent *c = icalcomponent_get_first_component(root, ICAL_ANY_COMPONENT); c;
         c = icalcomponent_get_next_component(root, ICAL_ANY_COMPONENT)) {
        icalcomponent_kind k = icalcomponent_isa(c);
        if (k != ICAL_VEVENT_COMPONENT && k != ICAL_VTODO_COMPONENT &&
            k != ICAL_VJOURNAL_COMPONENT) {
            continue;
        }
        if (!icalcomponent_get_first_property(c, ICAL_RECURRENCEID_PROPERTY)) {
            return c;
        }
        if (!first) {
            first = c;
        }
    }
    return first;
}

static icalproperty *x_prop(icalcomponent *c, const char *name)
{
    for (icalproperty *p = icalcomponent_get_first_property(c, ICAL_X_PROPERTY); p;
         p = icalcomponent_get_next_property(c, ICAL_X_PROPERTY)) {
        const char *n = icalproperty_get_x_name(p);
        if (n && strcmp(n, name) == 0) {
            return p;
        }
    }
    return NULL;
}

static const char *x_value(icalcomponent *c, const char *name)
{
    icalproperty *p = x_prop(c, name);
    return p ? icalproperty_get_x(p) : NULL;
}

static bool text_is(const char *v, const char *want)
{
    return v && strcasecmp(v, want) == 0;
}

/* Olson name of a TZID, without libical's "/freeassociation.sourceforge.net/" style prefix. */
static const char *olson_of(const char *tzid)
{
    static const char prefix[] = "/freeassociation.sourceforge.net/";
    if (strncmp(tzid, prefix, sizeof(prefix) - 1) == 0) {
        tzid += sizeof(prefix) - 1;
        if (strncmp(tzid, "Tzfile/", 7) == 0) {
            tzid += 7;
        }
    }
    return tzid;
}

/* C:timezoneid and C:timezone (§4.4, §4.8). */
static void read_zone(icalcomponent *root,
                      icalcomponent *c,
                      icalproperty *dtp,
                      struct arena *a,
                      struct cal_ex_value *out)
{
    const char *cdo = x_value(c, "X-MICROSOFT-CDO-TZID");
    if (cdo) {
        char *end = NULL;
        long v = strtol(cdo, &end, 10);
        if (end != cdo && *end == '\0' && v >= 0 && v < 1000) {
            set_int(&out[CAL_EX_TIMEZONEID], v);
        }
    }
    if (!dtp) {
        return;
    }
    struct icaltimetype t = icalproperty_get_dtstart(dtp);
    if (t.is_date) {
        return;
    }
    if (icaltime_is_utc(t)) {
        if (!out[CAL_EX_TIMEZONEID].present) {
            set_int(&out[CAL_EX_TIMEZONEID], 0);
        }
        return;
    }
    icalparameter *par = icalproperty_get_first_parameter(dtp, ICAL_TZID_PARAMETER);
    const char *tzid = par ? icalparameter_get_tzid(par) : NULL;
    if (!tzid) {
        return; /* floating */
    }
    icaltimezone *z = cal_zone_of(root, dtp, t);
    if (z) {
        icalcomponent *vtz = icaltimezone_get_component(z);
        char *text = vtz ? icalcomponent_as_ical_string_r(vtz) : NULL;
        set_str(&out[CAL_EX_TIMEZONE], a, text);
        free(text);
    }
    const char *names[2] = {olson_of(tzid), z ? icaltimezone_get_location(z) : NULL};
    for (size_t n = 0; n < 2 && !out[CAL_EX_TIMEZONEID].present; n++) {
        for (size_t i = 0; names[n] && i < ALM_ARRAY_LEN(cdo_zones); i++) {
            if (strcmp(names[n], cdo_zones[i].zone) == 0) {
                set_int(&out[CAL_EX_TIMEZONEID], cdo_zones[i].id);
                break;
            }
        }
    }
}

/* C:dtstart, dtend, duration, alldayevent, instancetype (§4.4). */
static void read_times(icalcomponent *root, icalcomponent *c, struct cal_ex_value *out)
{
    icalproperty *sp = icalcomponent_get_first_property(c, ICAL_DTSTART_PROPERTY);
    const char *allday = x_value(c, "X-MICROSOFT-CDO-ALLDAYEVENT");
    bool is_date = false;
    if (sp) {
        struct icaltimetype s = icalproperty_get_dtstart(sp);
        is_date = s.is_date;
        int64_t start = utc_of(root, sp, s);
        int64_t end = cal_instance_end(root, c, s, cal_zone_of(root, sp, s), start);
        set_int(&out[CAL_EX_DTSTART], start);
        set_int(&out[CAL_EX_DTEND], end);
        if (end != INT64_MAX) {
            set_int(&out[CAL_EX_DURATION], end - start);
        }
    }
    set_int(&out[CAL_EX_ALLDAYEVENT], is_date || text_is(allday, "TRUE"));
    bool recurring = icalcomponent_get_first_property(c, ICAL_RRULE_PROPERTY) ||
                     icalcomponent_get_first_property(c, ICAL_RDATE_PROPERTY);
    icalproperty *rid = icalcomponent_get_first_property(c, ICAL_RECURRENCEID_PROPERTY);
    /* CdoInstanceType: 0 single, 1 master, 3 an exception stored without its master */
    set_int(&out[CAL_EX_INSTANCETYPE], rid ? 3 : recurring ? 1 : 0);
    if (rid) {
        set_int(&out[CAL_EX_RECURRENCEID], utc_of(root, rid, icalproperty_get_recurrenceid(rid)));
        icalparameter *range = icalproperty_get_first_parameter(rid, ICAL_RANGE_PARAMETER);
        if (range) {
            icalparameter_range r = icalparameter_get_range(range);
            out[CAL_EX_RECURRENCEIDRANGE].present = true;
            out[CAL_EX_RECURRENCEIDRANGE].s =
                r == ICAL_RANGE_THISANDPRIOR ? "THISANDPRIOR" : "THISANDFUTURE";
        }
    }
}

/* Multi-valued: RRULE/EXRULE as text, RDATE/EXDATE as UTC instants. */
static void read_multi(icalcomponent *root,
                       icalcomponent *c,
                       icalproperty_kind kind,
                       struct arena *a,
                       struct cal_ex_value *v)
{
    size_t n = 0;
    for (icalproperty *p = icalcomponent_get_first_property(c, kind); p;
         p = icalcomponent_get_next_property(c, kind)) {
        n++;
    }
    if (n == 0) {
        return;
    }
    n = n > EX_MAX_VALUES ? EX_MAX_VALUES : n;
    const char **strs = NULL;
    int64_t *times = NULL;
    bool text = kind == ICAL_RRULE_PROPERTY || kind == ICAL_EXRULE_PROPERTY ||
                kind == ICAL_CATEGORIES_PROPERTY;
    if (text) {
        strs = arena_alloc(a, n * sizeof(*strs));
    } else {
        times = arena_alloc(a, n * sizeof(*times));
    }
    size_t i = 0;
    for (icalproperty *p = icalcomponent_get_first_property(c, kind); p && i < n;
         p = icalcomponent_get_next_property(c, kind)) {
        if (kind == ICAL_CATEGORIES_PROPERTY) {
            const char *cat = icalproperty_get_categories(p);
            strs[i++] = arena_strdup(a, cat ? cat : "");
        } else if (text) {
            char *t = icalproperty_get_value_as_string_r(p);
            strs[i++] = arena_strdup(a, t ? t : "");
            free(t);
        } else if (kind == ICAL_RDATE_PROPERTY) {
            struct icaldatetimeperiodtype dp = icalproperty_get_rdate(p);
            struct icaltimetype t = icaltime_is_null_time(dp.time) ? dp.period.start : dp.time;
            times[i++] = utc_of(root, p, t);
        } else {
            times[i++] = utc_of(root, p, icalproperty_get_exdate(p));
        }
    }
    v->present = true;
    v->n = i;
    v->mv_s = strs;
    v->mv_t = times;
}

/* C:busystatus, transparent, meetingstatus; E:sensitivity (§4.4, §4.5). */
static void read_status(icalcomponent *c, struct arena *a, struct cal_ex_value *out)
{
    icalproperty *tp = icalcomponent_get_first_property(c, ICAL_TRANSP_PROPERTY);
    bool transparent = tp && icalproperty_get_transp(tp) == ICAL_TRANSP_TRANSPARENT;
    icalproperty *st = icalcomponent_get_first_property(c, ICAL_STATUS_PROPERTY);
    bool tentative = st && icalproperty_get_status(st) == ICAL_STATUS_TENTATIVE;
    const char *busy = x_value(c, "X-MICROSOFT-CDO-BUSYSTATUS");
    if (busy && *busy) {
        char *up = arena_strdup(a, busy);
        for (char *p = up; *p; p++) {
            if (*p >= 'a' && *p <= 'z') {
                *p = (char)(*p - 'a' + 'A');
            }
        }
        out[CAL_EX_BUSYSTATUS] = (struct cal_ex_value){.present = true, .s = up};
    } else {
        out[CAL_EX_BUSYSTATUS] = (struct cal_ex_value){.present = true,
                                                       .s = transparent ? "FREE"
                                                            : tentative ? "TENTATIVE"
                                                                        : "BUSY"};
    }
    out[CAL_EX_TRANSPARENT] =
        (struct cal_ex_value){.present = true, .s = transparent ? "TRANSPARENT" : "OPAQUE"};
    set_value_text(&out[CAL_EX_MEETINGSTATUS], a, st);
    icalproperty *cp = icalcomponent_get_first_property(c, ICAL_CLASS_PROPERTY);
    enum icalproperty_class cls = cp ? icalproperty_get_class(cp) : ICAL_CLASS_PUBLIC;
    set_int(&out[CAL_EX_SENSITIVITY], cls == ICAL_CLASS_PRIVATE        ? 2
                                      : cls == ICAL_CLASS_CONFIDENTIAL ? 3
                                                                       : 0);
}

/* C:reminderoffset: the first VALARM triggered relative to the start, in seconds before it. */
static void read_alarm(icalcomponent *c, struct cal_ex_value *out)
{
    for (icalcomponent *al = icalcomponent_get_first_component(c, ICAL_VALARM_COMPONENT); al;
         al = icalcomponent_get_next_component(c, ICAL_VALARM_COMPONENT)) {
        icalproperty *tp = icalcomponent_get_first_property(al, ICAL_TRIGGER_PROPERTY);
        if (!tp) {
            continue;
        }
        icalparameter *rel = icalproperty_get_first_parameter(tp, ICAL_RELATED_PARAMETER);
        if (rel && icalparameter_get_related(rel) == ICAL_RELATED_END) {
            continue;
        }
        struct icaltriggertype tr = icalproperty_get_trigger(tp);
        if (!icaltime_is_null_time(tr.time)) {
            continue; /* an absolute trigger */
        }
        set_int(&out[CAL_EX_REMINDEROFFSET], -(int64_t)icaldurationtype_as_int(tr.duration));
        return;
    }
}

static void
read_stamp(icalcomponent *c, icalproperty_kind kind, struct cal_ex_value *v, icalcomponent *root)
{
    icalproperty *p = icalcomponent_get_first_property(c, kind);
    if (!p) {
        return;
    }
    struct icaltimetype t = kind == ICAL_CREATED_PROPERTY        ? icalproperty_get_created(p)
                            : kind == ICAL_LASTMODIFIED_PROPERTY ? icalproperty_get_lastmodified(p)
                                                                 : icalproperty_get_dtstamp(p);
    set_int(v, utc_of(root, p, t));
}

/* SUMMARY, DESCRIPTION, LOCATION, ORGANIZER, X-ALT-DESC, ATTACH, SEQUENCE, PRIORITY. */
static void read_text(icalcomponent *c, struct arena *a, struct cal_ex_value *out)
{
    icalproperty *p;
    if ((p = icalcomponent_get_first_property(c, ICAL_UID_PROPERTY))) {
        set_str(&out[CAL_EX_UID], a, icalproperty_get_uid(p));
    }
    if ((p = icalcomponent_get_first_property(c, ICAL_SUMMARY_PROPERTY))) {
        set_str(&out[CAL_EX_SUBJECT], a, icalproperty_get_summary(p));
    }
    if ((p = icalcomponent_get_first_property(c, ICAL_DESCRIPTION_PROPERTY))) {
        set_str(&out[CAL_EX_TEXTDESCRIPTION], a, icalproperty_get_description(p));
    }
    if ((p = icalcomponent_get_first_property(c, ICAL_LOCATION_PROPERTY))) {
        set_str(&out[CAL_EX_LOCATION], a, icalproperty_get_location(p));
    }
    if ((p = icalcomponent_get_first_property(c, ICAL_ORGANIZER_PROPERTY))) {
        set_str(&out[CAL_EX_ORGANIZER], a, icalproperty_get_organizer(p));
    }
    if ((p = x_prop(c, "X-ALT-DESC"))) {
        icalparameter *ft = icalproperty_get_first_parameter(p, ICAL_FMTTYPE_PARAMETER);
        if (ft && text_is(icalparameter_get_fmttype(ft), "text/html")) {
            set_str(&out[CAL_EX_HTMLDESCRIPTION], a, icalproperty_get_x(p));
        }
    }
    set_int(&out[CAL_EX_HASATTACHMENT],
            icalcomponent_get_first_property(c, ICAL_ATTACH_PROPERTY) != NULL);
    p = icalcomponent_get_first_property(c, ICAL_SEQUENCE_PROPERTY);
    set_int(&out[CAL_EX_SEQUENCE], p ? icalproperty_get_sequence(p) : 0);
    if ((p = icalcomponent_get_first_property(c, ICAL_PRIORITY_PROPERTY))) {
        set_int(&out[CAL_EX_PRIORITY], icalproperty_get_priority(p));
    }
    out[CAL_EX_MESSAGECLASS] = (struct cal_ex_value){.present = true, .s = "IPM.Appointment"};
}

/* Every value of component `c` of `root` but the VCALENDAR's own (method, prodid, version). */
static void read_component(icalcomponent *root,
                           icalcomponent *c,
                           struct arena *arena,
                           struct cal_ex_value out[CAL_EX_COUNT])
{
    read_times(root, c, out);
    read_zone(root, c, icalcomponent_get_first_property(c, ICAL_DTSTART_PROPERTY), arena, out);
    read_multi(root, c, ICAL_RRULE_PROPERTY, arena, &out[CAL_EX_RRULE]);
    read_multi(root, c, ICAL_EXRULE_PROPERTY, arena, &out[CAL_EX_EXRULE]);
    read_multi(root, c, ICAL_RDATE_PROPERTY, arena, &out[CAL_EX_RDATE]);
    read_multi(root, c, ICAL_EXDATE_PROPERTY, arena, &out[CAL_EX_EXDATE]);
    read_multi(root, c, ICAL_CATEGORIES_PROPERTY, arena, &out[CAL_EX_KEYWORDS]);
    read_status(c, arena, out);
    read_alarm(c, out);
    read_stamp(c, ICAL_CREATED_PROPERTY, &out[CAL_EX_CREATED], root);
    read_stamp(c, ICAL_LASTMODIFIED_PROPERTY, &out[CAL_EX_LASTMODIFIED], root);
    read_stamp(c, ICAL_DTSTAMP_PROPERTY, &out[CAL_EX_DTSTAMP], root);
    read_text(c, arena, out);
}

int cal_exprops_read(struct slice ics,
                     struct arena *arena,
                     struct cal_ex_value out[CAL_EX_COUNT],
                     struct err *err)
{
    memset(out, 0, CAL_EX_COUNT * sizeof(*out));
    icalcomponent *root = cal_parse_stored(ics, arena, err);
    if (!root) {
        return -1;
    }
    icalcomponent *c = master_of(root);
    if (!c) {
        cal_tree_free(root);
        return err_set(err, &cal_cond_valid_calendar_data, "stored object has no component");
    }
    set_value_text(&out[CAL_EX_METHOD], arena,
                   icalcomponent_get_first_property(root, ICAL_METHOD_PROPERTY));
    set_value_text(&out[CAL_EX_PRODID], arena,
                   icalcomponent_get_first_property(root, ICAL_PRODID_PROPERTY));
    set_value_text(&out[CAL_EX_VERSION], arena,
                   icalcomponent_get_first_property(root, ICAL_VERSION_PROPERTY));
    read_component(root, c, arena, out);
    cal_tree_free(root);
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Occurrences (§3.8) */

/* One occurrence of the expanded series. */
struct ex_occ {
    int64_t start; /* DTSTART, UTC */
    icalcomponent *c;
};

struct cal_ex_instances {
    icalcomponent *root; /* the series expanded by cal_expand() */
    struct ex_occ *occ;  /* its occurrences, by start */
    size_t n;
    size_t next;
    int64_t *override_rids; /* RECURRENCE-IDs of the stored overrides, sorted */
    size_t noverrides;
    struct cal_ex_value master[CAL_EX_COUNT]; /* for what expansion drops (zone, METHOD) */
};

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a;
    int64_t y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* The RECURRENCE-IDs of the overrides stored in `ics`, sorted, in x (malloc'd). */
static int collect_overrides(struct cal_ex_instances *x,
                             struct slice ics,
                             struct arena *arena,
                             struct err *err)
{
    icalcomponent *root = cal_parse_stored(ics, arena, err);
    if (!root) {
        return -1;
    }
    size_t cap = 0;
    for (icalcomponent *c = icalcomponent_get_first_component(root, ICAL_ANY_COMPONENT); c;
         c = icalcomponent_get_next_component(root, ICAL_ANY_COMPONENT)) {
        icalproperty *rid = icalcomponent_get_first_property(c, ICAL_RECURRENCEID_PROPERTY);
        if (!rid) {
            continue;
        }
        if (x->noverrides == cap) {
            cap = cap ? cap * 2 : 8;
            x->override_rids = realloc(x->override_rids, cap * sizeof(*x->override_rids));
            assert(x->override_rids);
        }
        x->override_rids[x->noverrides++] = utc_of(root, rid, icalproperty_get_recurrenceid(rid));
    }
    cal_tree_free(root);
    if (x->noverrides) {
        qsort(x->override_rids, x->noverrides, sizeof(*x->override_rids), cmp_i64);
    }
    return 0;
}

static int cmp_occ(const void *a, const void *b)
{
    const struct ex_occ *x = a;
    const struct ex_occ *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

int cal_ex_instances_open(struct slice ics,
                          int64_t start,
                          int64_t end,
                          struct arena *arena,
                          struct cal_ex_instances **out,
                          struct err *err)
{
    *out = NULL;
    struct cal_ex_instances *x = calloc(1, sizeof(*x));
    assert(x);
    struct slice exp;
    if (cal_exprops_read(ics, arena, x->master, err) != 0 ||
        collect_overrides(x, ics, arena, err) != 0 ||
        cal_expand(ics, start, end, arena, &exp, err) != 0 ||
        !(x->root = cal_parse_stored(exp, arena, err))) {
        cal_ex_instances_close(&x);
        return -1;
    }
    size_t cap = 0;
    for (icalcomponent *c = icalcomponent_get_first_component(x->root, ICAL_ANY_COMPONENT); c;
         c = icalcomponent_get_next_component(x->root, ICAL_ANY_COMPONENT)) {
        icalproperty *sp = icalcomponent_get_first_property(c, ICAL_DTSTART_PROPERTY);
        if (!icalcomponent_get_first_property(c, ICAL_RECURRENCEID_PROPERTY) || !sp) {
            continue; /* not an occurrence of a series */
        }
        if (x->n == cap) {
            cap = cap ? cap * 2 : 16;
            x->occ = realloc(x->occ, cap * sizeof(*x->occ));
            assert(x->occ);
        }
        x->occ[x->n].c = c;
        x->occ[x->n++].start = utc_of(x->root, sp, icalproperty_get_dtstart(sp));
    }
    if (x->n) {
        qsort(x->occ, x->n, sizeof(*x->occ), cmp_occ);
    }
    *out = x;
    return 0;
}

int cal_ex_instances_next(struct cal_ex_instances *x,
                          struct arena *arena,
                          struct cal_ex_value out[CAL_EX_COUNT])
{
    if (x->next == x->n) {
        return 0;
    }
    icalcomponent *c = x->occ[x->next++].c;
    memset(out, 0, CAL_EX_COUNT * sizeof(*out));
    read_component(x->root, c, arena, out);
    /* expansion writes times in UTC and drops the VTIMEZONEs: the zone is the series' */
    out[CAL_EX_TIMEZONEID] = x->master[CAL_EX_TIMEZONEID];
    out[CAL_EX_TIMEZONE] = x->master[CAL_EX_TIMEZONE];
    out[CAL_EX_METHOD] = x->master[CAL_EX_METHOD];
    out[CAL_EX_PRODID] = x->master[CAL_EX_PRODID];
    out[CAL_EX_VERSION] = x->master[CAL_EX_VERSION];
    int64_t rid = out[CAL_EX_RECURRENCEID].i;
    bool overridden =
        x->noverrides && bsearch(&rid, x->override_rids, x->noverrides, sizeof(rid), cmp_i64);
    out[CAL_EX_INSTANCETYPE] = (struct cal_ex_value){.present = true, .i = overridden ? 3 : 2};
    return 1;
}

void cal_ex_instances_close(struct cal_ex_instances **xp)
{
    struct cal_ex_instances *x = *xp;
    if (!x) {
        return;
    }
    if (x->root) {
        cal_tree_free(x->root);
    }
    free(x->occ);
    free(x->override_rids);
    free(x);
    *xp = NULL;
}
