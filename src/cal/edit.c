/* cal/edit.c: the editing API of cal/edit.h over libical. Every handle is the libical object
 * itself (a struct cal_node is an icalcomponent, a struct cal_prop an icalproperty, a struct
 * cal_zone an icaltimezone, a struct cal_doc the VCALENDAR), so the API adds no copy and no
 * parse; only kinds, times, rules and parameter values are translated, by the tables here.
 * Parsing, zone screening and time conversion are cal's own (cal/cal.c, cal/tz.c,
 * cal/span.c). */
#include "cal/edit.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libical/ical.h>

#include "cal/cal_int.h"

/* ---------------------------------------------------------------------------------------- */
/* Handles and kinds */

static icalcomponent *C(const struct cal_node *c)
{
    return (icalcomponent *)(uintptr_t)c;
}

static struct cal_node *N(icalcomponent *c)
{
    return (struct cal_node *)(void *)c;
}

static icalproperty *P(const struct cal_prop *p)
{
    return (icalproperty *)(uintptr_t)p;
}

static struct cal_prop *PR(icalproperty *p)
{
    return (struct cal_prop *)(void *)p;
}

static icaltimezone *Z(const struct cal_zone *z)
{
    return (icaltimezone *)(uintptr_t)z;
}

static struct cal_zone *ZN(icaltimezone *z)
{
    return (struct cal_zone *)(void *)z;
}

static icalcomponent *D(const struct cal_doc *d)
{
    return (icalcomponent *)(uintptr_t)d;
}

static const icalcomponent_kind node_kinds[] = {
    [CAL_NODE_ANY] = ICAL_ANY_COMPONENT,
    [CAL_NODE_VCALENDAR] = ICAL_VCALENDAR_COMPONENT,
    [CAL_NODE_VEVENT] = ICAL_VEVENT_COMPONENT,
    [CAL_NODE_VTODO] = ICAL_VTODO_COMPONENT,
    [CAL_NODE_VJOURNAL] = ICAL_VJOURNAL_COMPONENT,
    [CAL_NODE_VALARM] = ICAL_VALARM_COMPONENT,
    [CAL_NODE_VTIMEZONE] = ICAL_VTIMEZONE_COMPONENT,
    [CAL_NODE_VFREEBUSY] = ICAL_VFREEBUSY_COMPONENT,
    [CAL_NODE_OTHER] = ICAL_NO_COMPONENT,
};

static const icalproperty_kind prop_kinds[CAL_PROP_NKINDS] = {
    [CAL_PROP_ANY] = ICAL_ANY_PROPERTY,
    [CAL_PROP_X] = ICAL_X_PROPERTY,
    [CAL_PROP_ACTION] = ICAL_ACTION_PROPERTY,
    [CAL_PROP_ATTACH] = ICAL_ATTACH_PROPERTY,
    [CAL_PROP_ATTENDEE] = ICAL_ATTENDEE_PROPERTY,
    [CAL_PROP_CATEGORIES] = ICAL_CATEGORIES_PROPERTY,
    [CAL_PROP_CLASS] = ICAL_CLASS_PROPERTY,
    [CAL_PROP_CREATED] = ICAL_CREATED_PROPERTY,
    [CAL_PROP_DESCRIPTION] = ICAL_DESCRIPTION_PROPERTY,
    [CAL_PROP_DTEND] = ICAL_DTEND_PROPERTY,
    [CAL_PROP_DTSTAMP] = ICAL_DTSTAMP_PROPERTY,
    [CAL_PROP_DTSTART] = ICAL_DTSTART_PROPERTY,
    [CAL_PROP_DUE] = ICAL_DUE_PROPERTY,
    [CAL_PROP_DURATION] = ICAL_DURATION_PROPERTY,
    [CAL_PROP_EXDATE] = ICAL_EXDATE_PROPERTY,
    [CAL_PROP_EXRULE] = ICAL_EXRULE_PROPERTY,
    [CAL_PROP_GEO] = ICAL_GEO_PROPERTY,
    [CAL_PROP_LASTMODIFIED] = ICAL_LASTMODIFIED_PROPERTY,
    [CAL_PROP_LOCATION] = ICAL_LOCATION_PROPERTY,
    [CAL_PROP_METHOD] = ICAL_METHOD_PROPERTY,
    [CAL_PROP_ORGANIZER] = ICAL_ORGANIZER_PROPERTY,
    [CAL_PROP_PRIORITY] = ICAL_PRIORITY_PROPERTY,
    [CAL_PROP_PRODID] = ICAL_PRODID_PROPERTY,
    [CAL_PROP_RDATE] = ICAL_RDATE_PROPERTY,
    [CAL_PROP_RECURRENCEID] = ICAL_RECURRENCEID_PROPERTY,
    [CAL_PROP_RRULE] = ICAL_RRULE_PROPERTY,
    [CAL_PROP_SEQUENCE] = ICAL_SEQUENCE_PROPERTY,
    [CAL_PROP_STATUS] = ICAL_STATUS_PROPERTY,
    [CAL_PROP_SUMMARY] = ICAL_SUMMARY_PROPERTY,
    [CAL_PROP_TRANSP] = ICAL_TRANSP_PROPERTY,
    [CAL_PROP_TRIGGER] = ICAL_TRIGGER_PROPERTY,
    [CAL_PROP_TZID] = ICAL_TZID_PROPERTY,
    [CAL_PROP_UID] = ICAL_UID_PROPERTY,
    [CAL_PROP_VERSION] = ICAL_VERSION_PROPERTY,
};

static const icalparameter_kind param_kinds[CAL_PARAM_NKINDS] = {
    [CAL_PARAM_ALTREP] = ICAL_ALTREP_PARAMETER,
    [CAL_PARAM_CN] = ICAL_CN_PARAMETER,
    [CAL_PARAM_CUTYPE] = ICAL_CUTYPE_PARAMETER,
    [CAL_PARAM_FMTTYPE] = ICAL_FMTTYPE_PARAMETER,
    [CAL_PARAM_PARTSTAT] = ICAL_PARTSTAT_PARAMETER,
    [CAL_PARAM_RELATED] = ICAL_RELATED_PARAMETER,
    [CAL_PARAM_ROLE] = ICAL_ROLE_PARAMETER,
    [CAL_PARAM_RSVP] = ICAL_RSVP_PARAMETER,
    [CAL_PARAM_TZID] = ICAL_TZID_PARAMETER,
    [CAL_PARAM_VALUE] = ICAL_VALUE_PARAMETER,
    [CAL_PARAM_RANGE] = ICAL_RANGE_PARAMETER,
    [CAL_PARAM_SCHEDULE_AGENT] = ICAL_SCHEDULEAGENT_PARAMETER,
    [CAL_PARAM_SCHEDULE_STATUS] = ICAL_SCHEDULESTATUS_PARAMETER,
};

static icalcomponent_kind ical_node_kind(enum cal_node_kind k)
{
    return (unsigned)k < sizeof(node_kinds) / sizeof(node_kinds[0]) ? node_kinds[k]
                                                                    : ICAL_NO_COMPONENT;
}

static icalproperty_kind ical_prop_kind(enum cal_prop_kind k)
{
    return (unsigned)k < CAL_PROP_NKINDS ? prop_kinds[k] : ICAL_NO_PROPERTY;
}

/* ---------------------------------------------------------------------------------------- */
/* Times */

static struct cal_time from_ical(struct icaltimetype t)
{
    struct cal_time out = {t.year,   t.month,  t.day,          t.hour,
                           t.minute, t.second, t.is_date != 0, !t.is_date && icaltime_is_utc(t)};
    if (out.is_date) {
        out.hour = out.minute = out.second = 0;
    }
    return out;
}

static struct icaltimetype to_ical(struct cal_time t)
{
    struct icaltimetype out = icaltime_null_time();
    out.year = t.year;
    out.month = t.month;
    out.day = t.day;
    out.is_date = t.is_date;
    if (!t.is_date) {
        out.hour = t.hour;
        out.minute = t.minute;
        out.second = t.second;
        out.zone = t.is_utc ? icaltimezone_get_utc_timezone() : NULL;
    }
    return out;
}

int64_t cal_time_to_unix(struct cal_time t, const struct cal_zone *zone)
{
    return cal_to_utc(to_ical(t), Z(zone));
}

struct cal_time cal_time_of(int64_t secs, const struct cal_zone *zone)
{
    icaltimezone *utc = icaltimezone_get_utc_timezone();
    icaltimezone *z = zone ? Z(zone) : utc;
    struct cal_time t = from_ical(icaltime_from_timet_with_zone((time_t)secs, 0, z));
    t.is_utc = z == utc;
    return t;
}

struct cal_time cal_time_add_days(struct cal_time t, int days)
{
    struct icaltimetype it = to_ical(t);
    icaltime_adjust(&it, days, 0, 0, 0);
    struct cal_time out = from_ical(it);
    out.is_utc = t.is_utc;
    return out;
}

int cal_time_compare(struct cal_time a, struct cal_time b)
{
    const int x[] = {a.year, a.month, a.day, a.hour, a.minute, a.second};
    const int y[] = {b.year, b.month, b.day, b.hour, b.minute, b.second};
    for (size_t i = 0; i < sizeof(x) / sizeof(x[0]); i++) {
        if (x[i] != y[i]) {
            return x[i] < y[i] ? -1 : 1;
        }
    }
    return 0;
}

int cal_time_weekday(struct cal_time t)
{
    return icaltime_day_of_week(to_ical(t)) - 1; /* libical: 1 = Sunday */
}

int cal_days_in_month(int month, int year)
{
    return icaltime_days_in_month(month, year);
}

bool cal_time_is_valid(struct cal_time t)
{
    return cal_time_valid(to_ical(t));
}

struct cal_zone *cal_zone_utc(void)
{
    return ZN(icaltimezone_get_utc_timezone());
}

struct cal_zone *cal_zone_named(const char *name)
{
    if (!name || !*name) {
        return NULL;
    }
    if (strcasecmp(name, "UTC") == 0) {
        return cal_zone_utc();
    }
    return ZN(cal_zone_builtin(name));
}

int cal_zone_offset(const struct cal_zone *zone, int64_t secs)
{
    if (!zone) {
        return 0;
    }
    icaltimezone *utc = icaltimezone_get_utc_timezone();
    struct icaltimetype tt = icaltime_from_timet_with_zone((time_t)secs, 0, utc);
    int is_dst = 0;
    return icaltimezone_get_utc_offset_of_utc_time(Z(zone), &tt, &is_dst);
}

const char *cal_zone_tzid(const struct cal_zone *zone)
{
    return zone ? icaltimezone_get_tzid(Z(zone)) : NULL;
}

const char *cal_zone_location(const struct cal_zone *zone)
{
    icalcomponent *vz = zone ? icaltimezone_get_component(Z(zone)) : NULL;
    for (icalproperty *p = vz ? icalcomponent_get_first_property(vz, ICAL_X_PROPERTY) : NULL; p;
         p = icalcomponent_get_next_property(vz, ICAL_X_PROPERTY)) {
        const char *n = icalproperty_get_x_name(p);
        if (n && strcmp(n, "X-LIC-LOCATION") == 0) {
            return icalproperty_get_x(p);
        }
    }
    return NULL;
}

const char *cal_zone_place(const struct cal_zone *zone)
{
    return zone ? icaltimezone_get_location(Z(zone)) : NULL;
}

const char *cal_zone_text(const struct cal_zone *zone, struct arena *arena)
{
    icalcomponent *vtz = zone ? icaltimezone_get_component(Z(zone)) : NULL;
    char *text = vtz ? icalcomponent_as_ical_string_r(vtz) : NULL;
    const char *out = text ? arena_strdup(arena, text) : NULL;
    free(text);
    return out;
}

/* ---------------------------------------------------------------------------------------- */
/* Documents */

struct cal_doc *cal_doc_parse(struct slice ics, struct arena *arena, struct err *err)
{
    return (struct cal_doc *)(void *)cal_parse_stored(ics, arena, err);
}

struct cal_doc *cal_doc_parse_read(struct slice ics, struct arena *arena, struct err *err)
{
    return (struct cal_doc *)(void *)cal_parse_stored_read(ics, arena, err);
}

struct cal_doc *cal_doc_new(const char *prodid)
{
    icalcomponent *root = icalcomponent_new(ICAL_VCALENDAR_COMPONENT);
    icalcomponent_add_property(root, icalproperty_new_version("2.0"));
    icalcomponent_add_property(root, icalproperty_new_prodid(prodid));
    return (struct cal_doc *)(void *)root;
}

void cal_doc_free(struct cal_doc *doc)
{
    cal_tree_free(D(doc));
}

struct cal_node *cal_doc_root(struct cal_doc *doc)
{
    return N(D(doc));
}

struct cal_node *cal_doc_master(struct cal_doc *doc)
{
    return doc ? N(cal_master_vevent(D(doc))) : NULL;
}

void cal_doc_text(struct cal_doc *doc, struct arena *arena, struct slice *out)
{
    char *text = doc ? icalcomponent_as_ical_string_r(D(doc)) : NULL;
    out->ptr = arena_strdup(arena, text ? text : "");
    out->len = strlen(out->ptr);
    free(text);
}

int cal_doc_add_zone(struct cal_doc *doc, const char *vtimezone, struct err *err)
{
    icalcomponent *c = icalparser_parse_string(vtimezone);
    if (!c || icalcomponent_isa(c) != ICAL_VTIMEZONE_COMPONENT) {
        if (c) {
            icalcomponent_free(c);
        }
        return err_set(err, &cal_cond_valid_calendar_data, "the time zone does not parse");
    }
    icalcomponent_add_component(D(doc), c);
    return cal_tree_screen(D(doc), true, err);
}

bool cal_doc_has_zone(struct cal_doc *doc, const char *tzid)
{
    icalcomponent *root = D(doc);
    for (icalcomponent *c = icalcomponent_get_first_component(root, ICAL_VTIMEZONE_COMPONENT); c;
         c = icalcomponent_get_next_component(root, ICAL_VTIMEZONE_COMPONENT)) {
        icalproperty *p = icalcomponent_get_first_property(c, ICAL_TZID_PROPERTY);
        if (p && strcmp(icalproperty_get_tzid(p), tzid) == 0) {
            return true;
        }
    }
    return false;
}

struct cal_zone *cal_doc_zone(struct cal_doc *doc, const char *tzid)
{
    return doc && tzid ? ZN(icalcomponent_get_timezone(D(doc), tzid)) : NULL;
}

void cal_doc_prune_zones(struct cal_doc *doc)
{
    icalcomponent *root = D(doc);
    for (icalcomponent *z = icalcomponent_get_first_component(root, ICAL_VTIMEZONE_COMPONENT); z;) {
        icalcomponent *next = icalcomponent_get_next_component(root, ICAL_VTIMEZONE_COMPONENT);
        icalproperty *tp = icalcomponent_get_first_property(z, ICAL_TZID_PROPERTY);
        const char *tzid = tp ? icalproperty_get_tzid(tp) : "";
        bool used = false;
        for (icalcomponent *c = icalcomponent_get_first_component(root, ICAL_ANY_COMPONENT);
             c && !used; c = icalcomponent_get_next_component(root, ICAL_ANY_COMPONENT)) {
            if (icalcomponent_isa(c) == ICAL_VTIMEZONE_COMPONENT) {
                continue;
            }
            for (icalproperty *p = icalcomponent_get_first_property(c, ICAL_ANY_PROPERTY);
                 p && !used; p = icalcomponent_get_next_property(c, ICAL_ANY_PROPERTY)) {
                icalparameter *par = icalproperty_get_first_parameter(p, ICAL_TZID_PARAMETER);
                used = par && strcmp(icalparameter_get_tzid(par), tzid) == 0;
            }
        }
        if (!used) {
            cal_tree_unbind(root);
            icalcomponent_remove_component(root, z);
            icalcomponent_free(z);
        }
        z = next;
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Components */

struct cal_node *cal_node_first(struct cal_node *parent, enum cal_node_kind kind)
{
    return parent ? N(icalcomponent_get_first_component(C(parent), ical_node_kind(kind))) : NULL;
}

struct cal_node *cal_node_next(struct cal_node *parent, enum cal_node_kind kind)
{
    return parent ? N(icalcomponent_get_next_component(C(parent), ical_node_kind(kind))) : NULL;
}

enum cal_node_kind cal_node_kind(const struct cal_node *c)
{
    icalcomponent_kind k = c ? icalcomponent_isa(C(c)) : ICAL_NO_COMPONENT;
    for (size_t i = CAL_NODE_VCALENDAR; i < CAL_NODE_OTHER; i++) {
        if (node_kinds[i] == k) {
            return (enum cal_node_kind)i;
        }
    }
    return CAL_NODE_OTHER;
}

struct cal_node *cal_node_new(enum cal_node_kind kind)
{
    return N(icalcomponent_new(ical_node_kind(kind)));
}

struct cal_node *cal_node_clone(const struct cal_node *c)
{
    return c ? N(icalcomponent_new_clone(C(c))) : NULL;
}

void cal_node_add(struct cal_node *parent, struct cal_node *child)
{
    icalcomponent_add_component(C(parent), C(child));
}

void cal_node_remove(struct cal_node *parent, struct cal_node *child)
{
    icalcomponent_remove_component(C(parent), C(child));
    icalcomponent_free(C(child));
}

void cal_node_free(struct cal_node *c)
{
    if (c) {
        icalcomponent_free(C(c));
    }
}

const char *cal_node_uid(struct cal_node *c)
{
    return c ? icalcomponent_get_uid(C(c)) : NULL;
}

void cal_node_set_uid(struct cal_node *c, const char *uid)
{
    icalcomponent_set_uid(C(c), uid);
}

int64_t cal_node_end(struct cal_doc *doc,
                     struct cal_node *c,
                     struct cal_time start,
                     const struct cal_zone *zone,
                     int64_t start_utc)
{
    return cal_instance_end(D(doc), C(c), to_ical(start), Z(zone), start_utc);
}

bool cal_node_duration(struct cal_node *c, struct cal_duration *out)
{
    if (!c || !icalcomponent_get_first_property(C(c), ICAL_DURATION_PROPERTY)) {
        return false;
    }
    struct icaldurationtype d = icalcomponent_get_duration(C(c));
    *out = (struct cal_duration){d.is_neg != 0, (int)d.weeks,   (int)d.days,
                                 (int)d.hours,  (int)d.minutes, (int)d.seconds};
    return true;
}

int cal_node_instances(struct cal_doc *doc, struct cal_node *c, cal_instance_fn *fn, void *ctx)
{
    icalproperty *sp = c ? icalcomponent_get_first_property(C(c), ICAL_DTSTART_PROPERTY) : NULL;
    icalproperty *rp = c ? icalcomponent_get_first_property(C(c), ICAL_RRULE_PROPERTY) : NULL;
    if (!sp || !rp) {
        return -1;
    }
    struct icaltimetype st = icalproperty_get_dtstart(sp);
    struct icalrecurrencetype rule = icalproperty_get_rrule(rp);
    struct cal_recur r;
    if (cal_recur_start(&r, &rule, st, cal_zone_of(D(doc), sp, st)) != 0) {
        return -1;
    }
    struct cal_work work = CAL_WORK_INIT;
    struct icaltimetype it;
    int64_t u;
    int rc = 0;
    while (rc == 0 && cal_recur_next(&r, &work, &it, &u) == 1) {
        rc = fn(ctx, from_ical(it), u);
    }
    cal_recur_stop(&r);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Properties */

struct cal_prop *cal_prop_first(struct cal_node *c, enum cal_prop_kind kind)
{
    return c ? PR(icalcomponent_get_first_property(C(c), ical_prop_kind(kind))) : NULL;
}

struct cal_prop *cal_prop_next(struct cal_node *c, enum cal_prop_kind kind)
{
    return c ? PR(icalcomponent_get_next_property(C(c), ical_prop_kind(kind))) : NULL;
}

struct cal_prop *cal_prop_x(struct cal_node *c, const char *name)
{
    for (icalproperty *p = c ? icalcomponent_get_first_property(C(c), ICAL_X_PROPERTY) : NULL; p;
         p = icalcomponent_get_next_property(C(c), ICAL_X_PROPERTY)) {
        const char *n = icalproperty_get_x_name(p);
        if (n && strcasecmp(n, name) == 0) {
            return PR(p);
        }
    }
    return NULL;
}

size_t cal_prop_count(struct cal_node *c, enum cal_prop_kind kind)
{
    return c ? cal_count_props(C(c), ical_prop_kind(kind)) : 0;
}

enum cal_prop_kind cal_prop_kind(const struct cal_prop *p)
{
    icalproperty_kind k = p ? icalproperty_isa(P(p)) : ICAL_NO_PROPERTY;
    for (size_t i = CAL_PROP_X; i < CAL_PROP_NKINDS; i++) {
        if (prop_kinds[i] == k) {
            return (enum cal_prop_kind)i;
        }
    }
    return CAL_PROP_ANY;
}

const char *cal_prop_name(const struct cal_prop *p)
{
    if (!p) {
        return NULL;
    }
    return icalproperty_get_property_name(P(p));
}

const char *cal_prop_x_name(const struct cal_prop *p)
{
    return p && icalproperty_isa(P(p)) == ICAL_X_PROPERTY ? icalproperty_get_x_name(P(p)) : NULL;
}

/* The RFC 5545 spelling of the enumerated values cal_prop_text() reads (libical's own
 * icalproperty_enum_to_string() hands out a per-thread temporary buffer). */
static const struct {
    int e;
    const char *name;
} prop_enums[] = {
    {ICAL_STATUS_TENTATIVE, "TENTATIVE"},
    {ICAL_STATUS_CONFIRMED, "CONFIRMED"},
    {ICAL_STATUS_CANCELLED, "CANCELLED"},
    {ICAL_STATUS_NEEDSACTION, "NEEDS-ACTION"},
    {ICAL_STATUS_COMPLETED, "COMPLETED"},
    {ICAL_STATUS_INPROCESS, "IN-PROCESS"},
    {ICAL_STATUS_DRAFT, "DRAFT"},
    {ICAL_STATUS_FINAL, "FINAL"},
    {ICAL_CLASS_PUBLIC, "PUBLIC"},
    {ICAL_CLASS_PRIVATE, "PRIVATE"},
    {ICAL_CLASS_CONFIDENTIAL, "CONFIDENTIAL"},
    {ICAL_TRANSP_OPAQUE, "OPAQUE"},
    {ICAL_TRANSP_TRANSPARENT, "TRANSPARENT"},
    {ICAL_ACTION_AUDIO, "AUDIO"},
    {ICAL_ACTION_DISPLAY, "DISPLAY"},
    {ICAL_ACTION_EMAIL, "EMAIL"},
    {ICAL_ACTION_PROCEDURE, "PROCEDURE"},
};

const char *cal_prop_text(const struct cal_prop *p)
{
    if (!p) {
        return NULL;
    }
    if (icalproperty_isa(P(p)) == ICAL_X_PROPERTY) {
        return icalproperty_get_x(P(p));
    }
    icalvalue *v = icalproperty_get_value(P(p));
    int e;
    switch (v ? icalvalue_isa(v) : ICAL_NO_VALUE) {
    case ICAL_TEXT_VALUE:
        return icalvalue_get_text(v);
    case ICAL_CALADDRESS_VALUE:
        return icalvalue_get_caladdress(v);
    case ICAL_URI_VALUE:
        return icalvalue_get_uri(v);
    case ICAL_X_VALUE:
        return icalvalue_get_x(v);
    case ICAL_STATUS_VALUE:
        e = (int)icalvalue_get_status(v);
        break;
    case ICAL_CLASS_VALUE:
        e = (int)icalvalue_get_class(v);
        break;
    case ICAL_TRANSP_VALUE:
        e = (int)icalvalue_get_transp(v);
        break;
    case ICAL_ACTION_VALUE:
        e = (int)icalvalue_get_action(v);
        break;
    default:
        return NULL;
    }
    for (size_t i = 0; i < sizeof(prop_enums) / sizeof(prop_enums[0]); i++) {
        if (prop_enums[i].e == e) {
            return prop_enums[i].name;
        }
    }
    return icalvalue_get_x(v); /* STATUS:X-..., or NULL */
}

const char *cal_prop_value(const struct cal_prop *p, struct arena *arena)
{
    char *s = p ? icalproperty_get_value_as_string_r(P(p)) : NULL;
    const char *out = s ? arena_strdup(arena, s) : NULL;
    free(s);
    return out;
}

bool cal_prop_time(const struct cal_prop *p, struct cal_time *out)
{
    icalvalue *v = p ? icalproperty_get_value(P(p)) : NULL;
    struct icaltimetype t;
    switch (v ? icalvalue_isa(v) : ICAL_NO_VALUE) {
    case ICAL_DATE_VALUE:
    case ICAL_DATETIME_VALUE:
        t = icalvalue_get_datetime(v);
        break;
    case ICAL_DATETIMEPERIOD_VALUE: {
        struct icaldatetimeperiodtype dp = icalvalue_get_datetimeperiod(v);
        t = icaltime_is_null_time(dp.time) ? dp.period.start : dp.time;
        break;
    }
    case ICAL_PERIOD_VALUE:
        t = icalvalue_get_period(v).start;
        break;
    case ICAL_TRIGGER_VALUE:
        t = icalvalue_get_trigger(v).time;
        if (icaltime_is_null_time(t)) {
            return false;
        }
        break;
    default:
        return false;
    }
    *out = from_ical(t);
    return true;
}

struct cal_zone *cal_prop_zone(struct cal_doc *doc, struct cal_prop *p)
{
    struct icaltimetype t;
    icalvalue *v = p ? icalproperty_get_value(P(p)) : NULL;
    switch (v ? icalvalue_isa(v) : ICAL_NO_VALUE) {
    case ICAL_DATE_VALUE:
    case ICAL_DATETIME_VALUE:
        t = icalvalue_get_datetime(v);
        break;
    case ICAL_DATETIMEPERIOD_VALUE: {
        struct icaldatetimeperiodtype dp = icalvalue_get_datetimeperiod(v);
        t = icaltime_is_null_time(dp.time) ? dp.period.start : dp.time;
        break;
    }
    case ICAL_PERIOD_VALUE:
        t = icalvalue_get_period(v).start;
        break;
    case ICAL_TRIGGER_VALUE:
        t = icalvalue_get_trigger(v).time;
        break;
    default:
        return NULL;
    }
    return ZN(cal_zone_of(D(doc), P(p), t));
}

bool cal_prop_int(const struct cal_prop *p, int64_t *out)
{
    icalvalue *v = p ? icalproperty_get_value(P(p)) : NULL;
    if (!v || icalvalue_isa(v) != ICAL_INTEGER_VALUE) {
        return false;
    }
    *out = icalvalue_get_integer(v);
    return true;
}

bool cal_prop_geo(const struct cal_prop *p, double *lat, double *lon)
{
    if (!p || icalproperty_isa(P(p)) != ICAL_GEO_PROPERTY) {
        return false;
    }
    struct icalgeotype g = icalproperty_get_geo(P(p));
    *lat = g.lat;
    *lon = g.lon;
    return true;
}

bool cal_prop_trigger(const struct cal_prop *p, bool *is_abs, struct cal_time *at, int64_t *secs)
{
    if (!p || icalproperty_isa(P(p)) != ICAL_TRIGGER_PROPERTY) {
        return false;
    }
    struct icaltriggertype tr = icalproperty_get_trigger(P(p));
    *is_abs = !icaltime_is_null_time(tr.time);
    if (*is_abs) {
        *at = from_ical(tr.time);
        *secs = 0;
    } else {
        *secs = icaldurationtype_as_int(tr.duration);
    }
    return true;
}

const char *cal_prop_param(const struct cal_prop *p, enum cal_param kind)
{
    if (!p || (unsigned)kind >= CAL_PARAM_NKINDS) {
        return NULL;
    }
    icalparameter *par = icalproperty_get_first_parameter(P(p), param_kinds[kind]);
    if (!par) {
        return NULL;
    }
    int e;
    switch (kind) {
    case CAL_PARAM_ALTREP:
        return icalparameter_get_altrep(par);
    case CAL_PARAM_CN:
        return icalparameter_get_cn(par);
    case CAL_PARAM_FMTTYPE:
        return icalparameter_get_fmttype(par);
    case CAL_PARAM_TZID:
        return icalparameter_get_tzid(par);
    case CAL_PARAM_SCHEDULE_STATUS:
        return icalparameter_get_schedulestatus(par);
    case CAL_PARAM_SCHEDULE_AGENT:
        e = (int)icalparameter_get_scheduleagent(par);
        break;
    case CAL_PARAM_CUTYPE:
        e = (int)icalparameter_get_cutype(par);
        break;
    case CAL_PARAM_PARTSTAT:
        e = (int)icalparameter_get_partstat(par);
        break;
    case CAL_PARAM_RANGE:
        e = (int)icalparameter_get_range(par);
        break;
    case CAL_PARAM_RELATED:
        e = (int)icalparameter_get_related(par);
        break;
    case CAL_PARAM_VALUE:
        e = (int)icalparameter_get_value(par);
        break;
    case CAL_PARAM_ROLE:
        e = (int)icalparameter_get_role(par);
        break;
    case CAL_PARAM_RSVP:
        e = (int)icalparameter_get_rsvp(par);
        break;
    default:
        return NULL;
    }
    const char *x = icalparameter_get_xvalue(par);
    return x ? x : icalparameter_enum_to_string(e);
}

void cal_prop_set_param(struct cal_prop *p, enum cal_param kind, const char *value)
{
    if (!p || (unsigned)kind >= CAL_PARAM_NKINDS) {
        return;
    }
    icalproperty_remove_parameter_by_kind(P(p), param_kinds[kind]);
    if (value) {
        icalparameter *par = icalparameter_new_from_value_string(param_kinds[kind], value);
        if (par) {
            icalproperty_add_parameter(P(p), par);
        }
    }
}

struct cal_prop *cal_prop_add_text(struct cal_node *c, enum cal_prop_kind kind, const char *v)
{
    icalproperty_kind k = ical_prop_kind(kind);
    icalvalue_kind vk = icalproperty_kind_to_value_kind(k);
    icalvalue *val;
    switch (vk) {
    case ICAL_TEXT_VALUE:
        val = icalvalue_new_text(v);
        break;
    case ICAL_CALADDRESS_VALUE:
        val = icalvalue_new_caladdress(v);
        break;
    case ICAL_URI_VALUE:
        val = icalvalue_new_uri(v);
        break;
    default:
        val = icalvalue_new_from_string(vk, v);
        break;
    }
    if (!val) {
        return NULL;
    }
    icalproperty *p = icalproperty_new(k);
    icalproperty_set_value(p, val);
    icalcomponent_add_property(C(c), p);
    return PR(p);
}

struct cal_prop *cal_prop_add_x(struct cal_node *c, const char *name, const char *v)
{
    icalproperty *p = icalproperty_new_x(v);
    icalproperty_set_x_name(p, name);
    icalcomponent_add_property(C(c), p);
    return PR(p);
}

struct cal_prop *
cal_prop_add_time(struct cal_node *c, enum cal_prop_kind kind, struct cal_time t, const char *tzid)
{
    struct icaltimetype it = to_ical(t);
    icalproperty *p = icalproperty_new(ical_prop_kind(kind));
    if (kind == CAL_PROP_RDATE && !t.is_date) {
        /* RDATE's own value type, a DATE-TIME-or-PERIOD, as libical builds one */
        struct icaldatetimeperiodtype dp = {.time = it, .period = icalperiodtype_null_period()};
        icalproperty_set_value(p, icalvalue_new_datetimeperiod(dp));
    } else {
        icalproperty_set_value(p, t.is_date ? icalvalue_new_date(it) : icalvalue_new_datetime(it));
    }
    if (!t.is_date && !t.is_utc && tzid) {
        icalproperty_add_parameter(p, icalparameter_new_tzid(tzid));
    }
    icalcomponent_add_property(C(c), p);
    return PR(p);
}

void cal_prop_set_time(struct cal_prop *p, struct cal_time t)
{
    struct icaltimetype it = to_ical(t);
    icalproperty_set_value(P(p), t.is_date ? icalvalue_new_date(it) : icalvalue_new_datetime(it));
    icalproperty_remove_parameter_by_kind(P(p), ICAL_VALUE_PARAMETER);
    if (t.is_date) {
        icalproperty_add_parameter(P(p), icalparameter_new_value(ICAL_VALUE_DATE));
    }
}

struct cal_prop *cal_prop_add_int(struct cal_node *c, enum cal_prop_kind kind, int v)
{
    icalproperty *p = icalproperty_new(ical_prop_kind(kind));
    icalproperty_set_value(p, icalvalue_new_integer(v));
    icalcomponent_add_property(C(c), p);
    return PR(p);
}

struct cal_prop *cal_prop_add_rule(struct cal_node *c, enum cal_prop_kind kind, const char *text)
{
    icalerror_clear_errno();
    struct icalrecurrencetype r = icalrecurrencetype_from_string(text);
    if (r.freq == ICAL_NO_RECURRENCE || icalerrno != ICAL_NO_ERROR) {
        icalerror_clear_errno();
        return NULL;
    }
    icalproperty *p =
        kind == CAL_PROP_EXRULE ? icalproperty_new_exrule(r) : icalproperty_new_rrule(r);
    icalcomponent_add_property(C(c), p);
    return PR(p);
}

struct cal_prop *cal_prop_add_geo(struct cal_node *c, double lat, double lon)
{
    struct icalgeotype g = {lat, lon};
    icalproperty *p = icalproperty_new_geo(g);
    icalcomponent_add_property(C(c), p);
    return PR(p);
}

struct cal_prop *cal_prop_add_trigger(struct cal_node *c, int64_t secs)
{
    struct icaltriggertype tr;
    memset(&tr, 0, sizeof(tr));
    tr.time = icaltime_null_time();
    tr.duration = icaldurationtype_from_int((int)secs);
    icalproperty *p = icalproperty_new_trigger(tr);
    icalcomponent_add_property(C(c), p);
    return PR(p);
}

void cal_prop_remove_all(struct cal_node *c, enum cal_prop_kind kind)
{
    icalproperty *p;
    icalproperty_kind k = ical_prop_kind(kind);
    while (c && (p = icalcomponent_get_first_property(C(c), k)) != NULL) {
        icalcomponent_remove_property(C(c), p);
        icalproperty_free(p);
    }
}

void cal_prop_remove_x(struct cal_node *c, const char *name)
{
    for (icalproperty *p = c ? icalcomponent_get_first_property(C(c), ICAL_X_PROPERTY) : NULL; p;) {
        icalproperty *next = icalcomponent_get_next_property(C(c), ICAL_X_PROPERTY);
        const char *n = icalproperty_get_x_name(p);
        if (n && strcasecmp(n, name) == 0) {
            icalcomponent_remove_property(C(c), p);
            icalproperty_free(p);
        }
        p = next;
    }
}

void cal_prop_take(struct cal_node *c, struct cal_prop *p)
{
    icalcomponent_remove_property(C(c), P(p));
}

void cal_prop_put(struct cal_node *c, struct cal_prop *p)
{
    icalcomponent_add_property(C(c), P(p));
}

void cal_prop_free(struct cal_prop *p)
{
    if (p) {
        icalproperty_free(P(p));
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Recurrence rules */

static const struct {
    icalrecurrencetype_frequency ical;
    enum cal_freq freq;
} freqs[] = {
    {ICAL_SECONDLY_RECURRENCE, CAL_FREQ_SECONDLY}, {ICAL_MINUTELY_RECURRENCE, CAL_FREQ_MINUTELY},
    {ICAL_HOURLY_RECURRENCE, CAL_FREQ_HOURLY},     {ICAL_DAILY_RECURRENCE, CAL_FREQ_DAILY},
    {ICAL_WEEKLY_RECURRENCE, CAL_FREQ_WEEKLY},     {ICAL_MONTHLY_RECURRENCE, CAL_FREQ_MONTHLY},
    {ICAL_YEARLY_RECURRENCE, CAL_FREQ_YEARLY},
};

#define NFREQS (sizeof(freqs) / sizeof(freqs[0]))

/* Entries of a libical BY array (terminated by ICAL_RECURRENCE_ARRAY_MAX). */
static size_t part_len(const short *part, size_t size)
{
    size_t n = 0;
    while (n < size && part[n] != ICAL_RECURRENCE_ARRAY_MAX) {
        n++;
    }
    return n;
}

_Static_assert(CAL_RRULE_MAX_DAYS >= ICAL_BY_DAY_SIZE &&
                   CAL_RRULE_MAX_MONTHDAYS >= ICAL_BY_MONTHDAY_SIZE &&
                   CAL_RRULE_MAX_MONTHS >= ICAL_BY_MONTH_SIZE &&
                   CAL_RRULE_MAX_SETPOS >= ICAL_BY_SETPOS_SIZE,
               "struct cal_rrule holds every BY entry libical does");

void cal_rrule_init(struct cal_rrule *r)
{
    memset(r, 0, sizeof(*r));
    r->freq = CAL_FREQ_NONE;
    r->interval = 1;
    r->week_start = 1; /* Monday */
}

bool cal_prop_rrule(const struct cal_prop *p, struct cal_rrule *out)
{
    if (!p || icalproperty_isa(P(p)) != ICAL_RRULE_PROPERTY) {
        return false;
    }
    struct icalrecurrencetype r = icalproperty_get_rrule(P(p));
    cal_rrule_init(out);
    for (size_t i = 0; i < NFREQS; i++) {
        if (freqs[i].ical == r.freq) {
            out->freq = freqs[i].freq;
        }
    }
    out->interval = r.interval;
    out->count = r.count;
    out->has_until = !icaltime_is_null_time(r.until);
    if (out->has_until) {
        out->until = from_ical(r.until);
    }
    int wkst = (int)r.week_start;
    out->week_start = wkst >= ICAL_SUNDAY_WEEKDAY && wkst <= ICAL_SATURDAY_WEEKDAY ? wkst - 1 : 1;
    out->nday = part_len(r.by_day, ICAL_BY_DAY_SIZE);
    for (size_t i = 0; i < out->nday; i++) {
        out->day[i].pos = icalrecurrencetype_day_position(r.by_day[i]);
        out->day[i].weekday = (int)icalrecurrencetype_day_day_of_week(r.by_day[i]) - 1;
    }
    out->nmonthday = part_len(r.by_month_day, ICAL_BY_MONTHDAY_SIZE);
    for (size_t i = 0; i < out->nmonthday; i++) {
        out->monthday[i] = r.by_month_day[i];
    }
    out->nmonth = part_len(r.by_month, ICAL_BY_MONTH_SIZE);
    for (size_t i = 0; i < out->nmonth; i++) {
        out->leap_month |= icalrecurrencetype_month_is_leap(r.by_month[i]) != 0;
        out->month[i] = icalrecurrencetype_month_month(r.by_month[i]);
    }
    out->nsetpos = part_len(r.by_set_pos, ICAL_BY_SETPOS_SIZE);
    for (size_t i = 0; i < out->nsetpos; i++) {
        out->setpos[i] = r.by_set_pos[i];
    }
    out->nother =
        part_len(r.by_second, ICAL_BY_SECOND_SIZE) + part_len(r.by_minute, ICAL_BY_MINUTE_SIZE) +
        part_len(r.by_hour, ICAL_BY_HOUR_SIZE) + part_len(r.by_year_day, ICAL_BY_YEARDAY_SIZE) +
        part_len(r.by_week_no, ICAL_BY_WEEKNO_SIZE);
    return true;
}

/* Copies `n` entries into a libical BY array of `size`, terminated; false when too many. */
static bool set_part(short *part, size_t size, const int *v, size_t n)
{
    if (n >= size) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        part[i] = (short)v[i];
    }
    part[n] = ICAL_RECURRENCE_ARRAY_MAX;
    return true;
}

struct cal_prop *cal_prop_add_rrule(struct cal_node *c, const struct cal_rrule *r)
{
    struct icalrecurrencetype ir;
    icalrecurrencetype_clear(&ir);
    if (r->nother || r->leap_month || r->nday >= ICAL_BY_DAY_SIZE || r->nday > CAL_RRULE_MAX_DAYS ||
        r->nmonthday > CAL_RRULE_MAX_MONTHDAYS || r->nmonth > CAL_RRULE_MAX_MONTHS ||
        r->nsetpos > CAL_RRULE_MAX_SETPOS) {
        return NULL;
    }
    ir.freq = ICAL_NO_RECURRENCE;
    for (size_t i = 0; i < NFREQS; i++) {
        if (freqs[i].freq == r->freq) {
            ir.freq = freqs[i].ical;
        }
    }
    ir.interval = (short)r->interval;
    ir.count = r->count;
    if (r->has_until) {
        ir.until = to_ical(r->until);
    }
    ir.week_start = (icalrecurrencetype_weekday)(r->week_start + 1);
    for (size_t i = 0; i < r->nday; i++) {
        int v = abs(r->day[i].pos) * 8 + r->day[i].weekday + 1; /* libical's encoding */
        ir.by_day[i] = (short)(r->day[i].pos < 0 ? -v : v);
    }
    ir.by_day[r->nday] = ICAL_RECURRENCE_ARRAY_MAX;
    if (!set_part(ir.by_month_day, ICAL_BY_MONTHDAY_SIZE, r->monthday, r->nmonthday) ||
        !set_part(ir.by_month, ICAL_BY_MONTH_SIZE, r->month, r->nmonth) ||
        !set_part(ir.by_set_pos, ICAL_BY_SETPOS_SIZE, r->setpos, r->nsetpos)) {
        return NULL;
    }
    icalproperty *p = icalproperty_new_rrule(ir);
    icalcomponent_add_property(C(c), p);
    return PR(p);
}
