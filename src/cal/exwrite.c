/* cal/exwrite.c: PROPPATCH on appointments (exchange-replication.md §4.4, §4.5, §4.7): typed
 * values of urn:schemas:calendar: and the other appointment properties written into the
 * master VEVENT of an object with libical, and the MIME unwrapping of a message/rfc822 PUT
 * body (§2.5). Never stores anything and never validates the whole object: the caller runs
 * cal_parse_object() on the result. */
#include "cal/exwrite.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cal/cal_int.h"
#include "util/compiler.h"
#include "util/sec.h"
#include "util/timeutil.h"

enum {
    SECS_PER_DAY = 86400,
    EX_UID_BYTES = 16, /* random bytes of a generated UID, written as 32 hex digits */
};

bool cal_exprop_writable(enum cal_exprop p, bool creating)
{
    switch (p) {
    case CAL_EX_UID:
        return creating;
    case CAL_EX_DTSTART:
    case CAL_EX_DTEND:
    case CAL_EX_DURATION:
    case CAL_EX_LOCATION:
    case CAL_EX_BUSYSTATUS:
    case CAL_EX_TRANSPARENT:
    case CAL_EX_ALLDAYEVENT:
    case CAL_EX_RRULE:
    case CAL_EX_RDATE:
    case CAL_EX_EXDATE:
    case CAL_EX_EXRULE:
    case CAL_EX_TIMEZONEID:
    case CAL_EX_ORGANIZER:
    case CAL_EX_MEETINGSTATUS:
    case CAL_EX_SEQUENCE:
    case CAL_EX_PRIORITY:
    case CAL_EX_REMINDEROFFSET:
    case CAL_EX_SUBJECT:
    case CAL_EX_TEXTDESCRIPTION:
    case CAL_EX_MESSAGECLASS:
    case CAL_EX_SENSITIVITY:
    case CAL_EX_KEYWORDS:
        return true;
    default:
        return false;
    }
}

/* The state of one cal_ex_apply() call. */
struct exw {
    icalcomponent *root;
    icalcomponent *ev; /* the master VEVENT */
    struct arena *arena;
    struct cal_ex_edit *cur; /* the instruction being applied */
};

/* Records why the current instruction failed; returns 1. `msg` is static or in the arena. */
static int fail(struct exw *w, const struct err_cond *cond, const char *msg)
{
    w->cur->cond = cond;
    w->cur->msg = msg;
    return 1;
}

/* Every property of `kind` (or, for ICAL_X_PROPERTY with a name, of that X- name) removed. */
static void remove_props(struct exw *w, icalproperty_kind kind, const char *xname)
{
    size_t n;
    icalproperty **ps = cal_props_of(w->ev, kind, w->arena, &n);
    for (size_t i = 0; i < n; i++) {
        const char *name = xname ? icalproperty_get_x_name(ps[i]) : NULL;
        if (xname && (!name || strcasecmp(name, xname) != 0)) {
            continue;
        }
        icalcomponent_remove_property(w->ev, ps[i]);
        icalproperty_free(ps[i]);
    }
}

static void replace_prop(struct exw *w, icalproperty *p)
{
    remove_props(w, icalproperty_isa(p), NULL);
    icalcomponent_add_property(w->ev, p);
}

static void set_x(struct exw *w, const char *name, const char *value)
{
    remove_props(w, ICAL_X_PROPERTY, name);
    icalproperty *p = icalproperty_new_x(value);
    icalproperty_set_x_name(p, name);
    icalcomponent_add_property(w->ev, p);
}

/* `t` as a DATE (midnight UTC only) or as a DATE-TIME in `zone` (NULL: UTC). */
static struct icaltimetype time_in(int64_t t, bool date, icaltimezone *zone)
{
    icaltimezone *utc = icaltimezone_get_utc_timezone();
    struct icaltimetype l = icaltime_from_timet_with_zone((time_t)t, 0, zone ? zone : utc);
    if (date) {
        l.hour = l.minute = l.second = 0;
        l.is_date = 1;
        l.zone = NULL;
    } else if (zone && zone != utc) {
        l.zone = NULL; /* local time in the zone its TZID names */
    }
    return l;
}

/* The instant of a DTSTART/DTEND property. */
static int64_t instant_of(struct exw *w, icalproperty *p)
{
    struct icaltimetype t = icalvalue_get_datetime(icalproperty_get_value(p));
    return cal_to_utc(t, cal_zone_of(w->root, p, t));
}

/* Whether libical can write instant `t` as a DATE-TIME (years 1 to 9999; it returns a null
 * time for some instants near the end of its range). */
static bool time_ok(int64_t t)
{
    if (t < INT64_C(-62135596800) || t > INT64_C(253402214400)) { /* 0001-01-01, 9999-12-30 */
        return false;
    }
    struct icaltimetype l = time_in(t, false, NULL);
    return !icaltime_is_null_time(l) && cal_time_valid(l);
}

static bool is_date_prop(icalproperty *p)
{
    return p && icalvalue_get_datetime(icalproperty_get_value(p)).is_date;
}

/* Writes instant `t` into `p` as a DATE when `date`, else as a DATE-TIME in `zone` keeping
 * p's TZID (dropped when zone is NULL: the value is then UTC). */
static void put_time(icalproperty *p, int64_t t, bool date, icaltimezone *zone)
{
    if (date || !zone) {
        icalproperty_remove_parameter_by_kind(p, ICAL_TZID_PARAMETER);
    }
    struct icaltimetype v = time_in(t, date, zone);
    icalproperty_set_value(p, date ? icalvalue_new_date(v) : icalvalue_new_datetime(v));
    if (date) {
        icalproperty_remove_parameter_by_kind(p, ICAL_VALUE_PARAMETER);
        icalproperty_add_parameter(p, icalparameter_new_value(ICAL_VALUE_DATE));
    } else {
        icalproperty_remove_parameter_by_kind(p, ICAL_VALUE_PARAMETER);
    }
}

/* DTEND written at instant `t` in DTSTART's form (§4.4): a DATE when DTSTART is one and `t`
 * is a midnight, else a DATE-TIME in DTSTART's zone (a DATE DTSTART then becomes a DATE-TIME
 * too, RFC 5545 §3.8.2.2 wants both of one type). */
static void set_end(struct exw *w, int64_t t)
{
    icalproperty *sp = icalcomponent_get_first_property(w->ev, ICAL_DTSTART_PROPERTY);
    bool date = is_date_prop(sp) && t % SECS_PER_DAY == 0;
    icaltimezone *zone = NULL;
    if (sp && is_date_prop(sp) && !date) {
        put_time(sp, instant_of(w, sp), false, NULL);
    } else if (sp && !date) {
        struct icaltimetype st = icalproperty_get_dtstart(sp);
        zone = cal_zone_of(w->root, sp, st);
    }
    remove_props(w, ICAL_DURATION_PROPERTY, NULL);
    icalproperty *ep = icalcomponent_get_first_property(w->ev, ICAL_DTEND_PROPERTY);
    if (!ep) {
        ep = icalproperty_new_dtend(icaltime_null_time());
        icalcomponent_add_property(w->ev, ep);
    }
    if (zone && sp) {
        const char *tzid = icalproperty_get_parameter_as_string(sp, "TZID");
        icalproperty_remove_parameter_by_kind(ep, ICAL_TZID_PARAMETER);
        if (tzid) {
            icalproperty_add_parameter(ep, icalparameter_new_tzid(tzid));
        }
    }
    put_time(ep, t, date, zone);
}

static int set_start(struct exw *w, int64_t t)
{
    icalproperty *sp = icalcomponent_get_first_property(w->ev, ICAL_DTSTART_PROPERTY);
    icaltimezone *zone = NULL;
    bool date = false;
    if (sp) {
        struct icaltimetype old = icalproperty_get_dtstart(sp);
        zone = cal_zone_of(w->root, sp, old);
        date = old.is_date && t % SECS_PER_DAY == 0;
    } else {
        sp = icalproperty_new_dtstart(icaltime_null_time());
        icalcomponent_add_property(w->ev, sp);
    }
    put_time(sp, t, date, zone);
    /* keep DTEND of the same value type as DTSTART */
    icalproperty *ep = icalcomponent_get_first_property(w->ev, ICAL_DTEND_PROPERTY);
    if (ep && is_date_prop(ep) != date) {
        set_end(w, instant_of(w, ep));
    }
    return 0;
}

/* A value of an enumerated string property, matched case-insensitively. */
static int pick(const char *v, const char *const *names, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        if (strcasecmp(v, names[i]) == 0) {
            return (int)i;
        }
    }
    return -1;
}

static int set_busystatus(struct exw *w, const char *v)
{
    static const char *const names[] = {"FREE", "TENTATIVE", "BUSY", "OOF"};
    int i = pick(v, names, ALM_ARRAY_LEN(names));
    if (i < 0) {
        return fail(w, &cal_cond_ex_value,
                    arena_printf(w->arena, "busystatus %s is not FREE, TENTATIVE, BUSY or OOF", v));
    }
    set_x(w, "X-MICROSOFT-CDO-BUSYSTATUS", names[i]);
    replace_prop(w, icalproperty_new_transp(i == 0 ? ICAL_TRANSP_TRANSPARENT : ICAL_TRANSP_OPAQUE));
    return 0;
}

static int set_transparent(struct exw *w, const char *v)
{
    static const char *const names[] = {"OPAQUE", "TRANSPARENT"};
    int i = pick(v, names, ALM_ARRAY_LEN(names));
    if (i < 0) {
        return fail(w, &cal_cond_ex_value,
                    arena_printf(w->arena, "transparent %s is not OPAQUE or TRANSPARENT", v));
    }
    replace_prop(w, icalproperty_new_transp(i ? ICAL_TRANSP_TRANSPARENT : ICAL_TRANSP_OPAQUE));
    return 0;
}

static int set_meetingstatus(struct exw *w, const char *v)
{
    static const char *const names[] = {"TENTATIVE", "CONFIRMED", "CANCELLED"};

    static const enum icalproperty_status st[] = {ICAL_STATUS_TENTATIVE, ICAL_STATUS_CONFIRMED,
                                                  ICAL_STATUS_CANCELLED};

    int i = pick(v, names, ALM_ARRAY_LEN(names));
    if (i < 0) {
        return fail(
            w, &cal_cond_ex_value,
            arena_printf(w->arena, "meetingstatus %s is not TENTATIVE, CONFIRMED or CANCELLED", v));
    }
    replace_prop(w, icalproperty_new_status(st[i]));
    return 0;
}

static int set_text(struct exw *w, icalproperty_kind kind, const char *v)
{
    remove_props(w, kind, NULL);
    if (!v || !*v) {
        return 0; /* an empty value removes the property */
    }
    icalproperty *p = icalproperty_new(kind);
    icalproperty_set_value(p, kind == ICAL_ORGANIZER_PROPERTY ? icalvalue_new_caladdress(v)
                                                              : icalvalue_new_text(v));
    icalcomponent_add_property(w->ev, p);
    return 0;
}

static int set_int_prop(struct exw *w, icalproperty_kind kind, int64_t v, int64_t max)
{
    if (v < 0 || v > max) {
        return fail(
            w, &cal_cond_ex_value,
            arena_printf(w->arena, "value %lld is not 0 to %lld", (long long)v, (long long)max));
    }
    icalproperty *p = icalproperty_new(kind);
    icalproperty_set_value(p, icalvalue_new_integer((int)v));
    replace_prop(w, p);
    return 0;
}

static int set_sensitivity(struct exw *w, int64_t v)
{
    if (v < 0 || v > 3) {
        return fail(w, &cal_cond_ex_value, "sensitivity is not 0 to 3");
    }
    /* §4.5: 1 ("personal") has no iCalendar form and becomes PRIVATE */
    enum icalproperty_class c = v == 0   ? ICAL_CLASS_PUBLIC
                                : v == 3 ? ICAL_CLASS_CONFIDENTIAL
                                         : ICAL_CLASS_PRIVATE;
    replace_prop(w, icalproperty_new_class(c));
    return 0;
}

static int set_rules(struct exw *w, icalproperty_kind kind, const struct cal_ex_value *v)
{
    remove_props(w, kind, NULL);
    for (size_t i = 0; i < v->n; i++) {
        icalerror_clear_errno();
        struct icalrecurrencetype r = icalrecurrencetype_from_string(v->mv_s[i]);
        if (r.freq == ICAL_NO_RECURRENCE || icalerrno != ICAL_NO_ERROR) {
            icalerror_clear_errno();
            return fail(w, &cal_cond_ex_value,
                        arena_printf(w->arena, "%s is not a recurrence rule", v->mv_s[i]));
        }
        icalcomponent_add_property(w->ev, kind == ICAL_RRULE_PROPERTY ? icalproperty_new_rrule(r)
                                                                      : icalproperty_new_exrule(r));
    }
    return 0;
}

static int set_dates(struct exw *w, icalproperty_kind kind, const struct cal_ex_value *v)
{
    remove_props(w, kind, NULL);
    for (size_t i = 0; i < v->n; i++) {
        if (!time_ok(v->mv_t[i])) {
            return fail(w, &cal_cond_ex_value, "a date is outside the years 1 to 9999");
        }
        struct icaltimetype t = time_in(v->mv_t[i], false, NULL);
        if (kind == ICAL_EXDATE_PROPERTY) {
            icalcomponent_add_property(w->ev, icalproperty_new_exdate(t));
        } else {
            struct icaldatetimeperiodtype dp = {.time = t, .period = icalperiodtype_null_period()};
            icalcomponent_add_property(w->ev, icalproperty_new_rdate(dp));
        }
    }
    return 0;
}

static int set_keywords(struct exw *w, const struct cal_ex_value *v)
{
    remove_props(w, ICAL_CATEGORIES_PROPERTY, NULL);
    for (size_t i = 0; i < v->n; i++) {
        icalcomponent_add_property(w->ev, icalproperty_new_categories(v->mv_s[i]));
    }
    return 0;
}

/* C:reminderoffset: the first VALARM triggered relative to the start is replaced by a
 * DISPLAY alarm `secs` before it, or removed. */
static int set_reminder(struct exw *w, bool remove, int64_t secs)
{
    if (!remove && (secs < 0 || secs > 366 * SECS_PER_DAY)) {
        return fail(w, &cal_cond_ex_value, "reminderoffset is not 0 to 366 days");
    }
    for (icalcomponent *a = icalcomponent_get_first_component(w->ev, ICAL_VALARM_COMPONENT); a;
         a = icalcomponent_get_next_component(w->ev, ICAL_VALARM_COMPONENT)) {
        icalproperty *tp = icalcomponent_get_first_property(a, ICAL_TRIGGER_PROPERTY);
        if (!tp || !icaltime_is_null_time(icalproperty_get_trigger(tp).time)) {
            continue;
        }
        icalparameter *rel = icalproperty_get_first_parameter(tp, ICAL_RELATED_PARAMETER);
        if (rel && icalparameter_get_related(rel) == ICAL_RELATED_END) {
            continue;
        }
        icalcomponent_remove_component(w->ev, a);
        icalcomponent_free(a);
        break;
    }
    if (remove) {
        return 0;
    }
    icalcomponent *a = icalcomponent_new(ICAL_VALARM_COMPONENT);
    icalcomponent_add_property(a, icalproperty_new_action(ICAL_ACTION_DISPLAY));
    icalcomponent_add_property(a, icalproperty_new_description("Reminder"));
    struct icaltriggertype tr = {.time = icaltime_null_time(),
                                 .duration = icaldurationtype_from_int(-(int)secs)};
    icalcomponent_add_property(a, icalproperty_new_trigger(tr));
    icalcomponent_add_component(w->ev, a);
    return 0;
}

/* A remove instruction (§4.7): the property's iCalendar source goes. */
static int remove_one(struct exw *w, enum cal_exprop p)
{
    switch (p) {
    case CAL_EX_DTSTART:
        return fail(w, &cal_cond_ex_conflict, "an appointment needs a dtstart");
    case CAL_EX_DTEND:
    case CAL_EX_DURATION:
        remove_props(w, ICAL_DTEND_PROPERTY, NULL);
        remove_props(w, ICAL_DURATION_PROPERTY, NULL);
        return 0;
    case CAL_EX_LOCATION:
        return set_text(w, ICAL_LOCATION_PROPERTY, NULL);
    case CAL_EX_SUBJECT:
        return set_text(w, ICAL_SUMMARY_PROPERTY, NULL);
    case CAL_EX_TEXTDESCRIPTION:
        return set_text(w, ICAL_DESCRIPTION_PROPERTY, NULL);
    case CAL_EX_ORGANIZER:
        return set_text(w, ICAL_ORGANIZER_PROPERTY, NULL);
    case CAL_EX_BUSYSTATUS:
        remove_props(w, ICAL_X_PROPERTY, "X-MICROSOFT-CDO-BUSYSTATUS");
        return 0;
    case CAL_EX_TRANSPARENT:
        remove_props(w, ICAL_TRANSP_PROPERTY, NULL);
        return 0;
    case CAL_EX_ALLDAYEVENT:
        remove_props(w, ICAL_X_PROPERTY, "X-MICROSOFT-CDO-ALLDAYEVENT");
        return 0;
    case CAL_EX_TIMEZONEID:
        remove_props(w, ICAL_X_PROPERTY, "X-MICROSOFT-CDO-TZID");
        return 0;
    case CAL_EX_MEETINGSTATUS:
        remove_props(w, ICAL_STATUS_PROPERTY, NULL);
        return 0;
    case CAL_EX_SEQUENCE:
        remove_props(w, ICAL_SEQUENCE_PROPERTY, NULL);
        return 0;
    case CAL_EX_PRIORITY:
        remove_props(w, ICAL_PRIORITY_PROPERTY, NULL);
        return 0;
    case CAL_EX_SENSITIVITY:
        remove_props(w, ICAL_CLASS_PROPERTY, NULL);
        return 0;
    case CAL_EX_RRULE:
        remove_props(w, ICAL_RRULE_PROPERTY, NULL);
        return 0;
    case CAL_EX_EXRULE:
        remove_props(w, ICAL_EXRULE_PROPERTY, NULL);
        return 0;
    case CAL_EX_RDATE:
        remove_props(w, ICAL_RDATE_PROPERTY, NULL);
        return 0;
    case CAL_EX_EXDATE:
        remove_props(w, ICAL_EXDATE_PROPERTY, NULL);
        return 0;
    case CAL_EX_KEYWORDS:
        remove_props(w, ICAL_CATEGORIES_PROPERTY, NULL);
        return 0;
    case CAL_EX_REMINDEROFFSET:
        return set_reminder(w, true, 0);
    case CAL_EX_MESSAGECLASS:
        return 0; /* computed: always IPM.Appointment */
    default:
        return fail(w, &cal_cond_ex_value,
                    arena_printf(w->arena, "%s cannot be removed", cal_exprop_def(p)->name));
    }
}

static int set_one(struct exw *w, enum cal_exprop p, const struct cal_ex_value *v)
{
    switch (p) {
    case CAL_EX_UID:
        if (!v->s || !*v->s) {
            return fail(w, &cal_cond_ex_value, "an empty uid");
        }
        return set_text(w, ICAL_UID_PROPERTY, v->s);
    case CAL_EX_DTSTART:
        if (!time_ok(v->i)) {
            return fail(w, &cal_cond_ex_value, "dtstart is outside the years 1 to 9999");
        }
        return set_start(w, v->i);
    case CAL_EX_DTEND:
        if (!time_ok(v->i)) {
            return fail(w, &cal_cond_ex_value, "dtend is outside the years 1 to 9999");
        }
        set_end(w, v->i);
        return 0;
    case CAL_EX_DURATION: {
        icalproperty *sp = icalcomponent_get_first_property(w->ev, ICAL_DTSTART_PROPERTY);
        if (!sp) {
            return fail(w, &cal_cond_ex_conflict, "a duration needs a dtstart first");
        }
        if (v->i < 0 || v->i > (int64_t)3660 * SECS_PER_DAY) {
            return fail(w, &cal_cond_ex_value, "duration is not 0 to 3660 days");
        }
        if (!time_ok(instant_of(w, sp) + v->i)) {
            return fail(w, &cal_cond_ex_value, "dtstart + duration is past the year 9999");
        }
        set_end(w, instant_of(w, sp) + v->i);
        return 0;
    }
    case CAL_EX_LOCATION:
        return set_text(w, ICAL_LOCATION_PROPERTY, v->s);
    case CAL_EX_SUBJECT:
        return set_text(w, ICAL_SUMMARY_PROPERTY, v->s);
    case CAL_EX_TEXTDESCRIPTION:
        return set_text(w, ICAL_DESCRIPTION_PROPERTY, v->s);
    case CAL_EX_ORGANIZER:
        return set_text(w, ICAL_ORGANIZER_PROPERTY, v->s);
    case CAL_EX_BUSYSTATUS:
        return set_busystatus(w, v->s);
    case CAL_EX_TRANSPARENT:
        return set_transparent(w, v->s);
    case CAL_EX_MEETINGSTATUS:
        return set_meetingstatus(w, v->s);
    case CAL_EX_ALLDAYEVENT:
        set_x(w, "X-MICROSOFT-CDO-ALLDAYEVENT", v->i ? "TRUE" : "FALSE");
        return 0;
    case CAL_EX_TIMEZONEID: {
        if (v->i < 0 || v->i > 999) {
            return fail(w, &cal_cond_ex_value, "timezoneid is not 0 to 999");
        }
        set_x(w, "X-MICROSOFT-CDO-TZID", arena_printf(w->arena, "%lld", (long long)v->i));
        return 0;
    }
    case CAL_EX_SEQUENCE:
        return set_int_prop(w, ICAL_SEQUENCE_PROPERTY, v->i, 2147483647);
    case CAL_EX_PRIORITY:
        return set_int_prop(w, ICAL_PRIORITY_PROPERTY, v->i, 9);
    case CAL_EX_SENSITIVITY:
        return set_sensitivity(w, v->i);
    case CAL_EX_RRULE:
        return set_rules(w, ICAL_RRULE_PROPERTY, v);
    case CAL_EX_EXRULE:
        return set_rules(w, ICAL_EXRULE_PROPERTY, v);
    case CAL_EX_RDATE:
        return set_dates(w, ICAL_RDATE_PROPERTY, v);
    case CAL_EX_EXDATE:
        return set_dates(w, ICAL_EXDATE_PROPERTY, v);
    case CAL_EX_KEYWORDS:
        return set_keywords(w, v);
    case CAL_EX_REMINDEROFFSET:
        return set_reminder(w, false, v->i);
    case CAL_EX_MESSAGECLASS:
        /* §4.5: accepts IPM.Appointment* only, which is what it always reads */
        if (!v->s || strncasecmp(v->s, "IPM.Appointment", 15) != 0) {
            return fail(w, &cal_cond_ex_value,
                        arena_printf(w->arena, "outlookmessageclass %s is not IPM.Appointment*",
                                     v->s ? v->s : ""));
        }
        return 0;
    default:
        return fail(w, &cal_cond_ex_value,
                    arena_printf(w->arena, "%s is read-only", cal_exprop_def(p)->name));
    }
}

static icalcomponent *new_object(struct arena *arena)
{
    icalcomponent *root = icalcomponent_new(ICAL_VCALENDAR_COMPONENT);
    icalcomponent_add_property(root, icalproperty_new_version("2.0"));
    icalcomponent_add_property(root, icalproperty_new_prodid("-//Almanac//Exchange PROPPATCH//EN"));
    icalcomponent *ev = icalcomponent_new(ICAL_VEVENT_COMPONENT);
    uint8_t raw[EX_UID_BYTES];
    sec_random(raw, sizeof(raw));
    char *hex = arena_alloc(arena, 2 * sizeof(raw) + 1);
    sec_hex(raw, sizeof(raw), hex);
    icalcomponent_add_property(ev, icalproperty_new_uid(hex));
    icaltimezone *utc = icaltimezone_get_utc_timezone();
    icalcomponent_add_property(
        ev, icalproperty_new_dtstamp(icaltime_from_timet_with_zone((time_t)time_now(), 0, utc)));
    icalcomponent_add_component(root, ev);
    return root;
}

/* After the instructions: DTEND not before DTSTART; on creation DTSTART is there and DTEND
 * defaults to it. Returns 0, 1 (an instruction failed) or -1. */
static int
check_times(struct exw *w, struct cal_ex_edit *edits, size_t n, bool creating, struct err *err)
{
    icalproperty *sp = icalcomponent_get_first_property(w->ev, ICAL_DTSTART_PROPERTY);
    if (!sp) {
        if (creating) {
            return err_set(err, &cal_cond_ex_dtstart_required,
                           "a new appointment needs urn:schemas:calendar:dtstart");
        }
        return 0;
    }
    icalproperty *ep = icalcomponent_get_first_property(w->ev, ICAL_DTEND_PROPERTY);
    if (!ep && creating && !icalcomponent_get_first_property(w->ev, ICAL_DURATION_PROPERTY)) {
        set_end(w, instant_of(w, sp));
        return 0;
    }
    if (ep && instant_of(w, ep) < instant_of(w, sp)) {
        /* blame the last instruction that moved either end */
        for (size_t i = n; i-- > 0;) {
            enum cal_exprop p = edits[i].prop;
            if (p == CAL_EX_DTSTART || p == CAL_EX_DTEND || p == CAL_EX_DURATION) {
                w->cur = &edits[i];
                return fail(w, &cal_cond_ex_conflict, "dtend is before dtstart");
            }
        }
    }
    return 0;
}

int cal_ex_apply(struct slice ics,
                 struct cal_ex_edit *edits,
                 size_t n,
                 struct arena *arena,
                 struct slice *out,
                 struct err *err)
{
    bool creating = ics.ptr == NULL;
    struct exw w = {.arena = arena};
    w.root = creating ? new_object(arena) : cal_parse_stored(ics, arena, err);
    if (!w.root) {
        return -1;
    }
    int rc = 0;
    w.ev = cal_master_vevent(w.root);
    if (!w.ev) {
        rc = err_set(err, &cal_cond_valid_object, "the object has no VEVENT to edit");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        assert(cal_exprop_writable(edits[i].prop, creating));
        w.cur = &edits[i];
        rc = edits[i].remove ? remove_one(&w, edits[i].prop)
                             : set_one(&w, edits[i].prop, &edits[i].value);
        if (rc != 0) {
            goto out;
        }
    }
    rc = check_times(&w, edits, n, creating, err);
    if (rc != 0) {
        goto out;
    }
    char *text = icalcomponent_as_ical_string_r(w.root);
    out->ptr = arena_strdup(arena, text ? text : "");
    out->len = strlen(out->ptr);
    free(text);
out:
    cal_tree_free(w.root);
    return rc;
}
