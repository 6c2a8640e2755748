/* cal/eas_write.c: ActiveSync calendar items into iCalendar (activesync.md §4.2-§4.7):
 * client Add and Change (with ghosting, §3.3.7) and the 16.x single-occurrence Change and
 * Delete. Starts from the stored object so that properties EAS does not map survive, and
 * checks the result with cal_parse_object() before handing it out. Never reads the wire
 * encoding (src/eas) and never decides ghosting itself: the caller's keep_absent does. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libical/ical.h>

#include "cal/cal_int.h"
#include "cal/eas.h"
#include "cal/eas_int.h"
#include "util/timeutil.h"

#define DAY INT64_C(86400)

/* The state of one conversion. */
struct wr {
    struct arena *arena;
    icalcomponent *root;
    icalcomponent *master;
    icaltimezone *zone;      /* the series' zone for DATE-TIMEs; NULL: UTC */
    const char *tzid;        /* its TZID parameter value */
    icaltimezone *date_zone; /* the zone whose local dates all-day values take; NULL: UTC */
    struct err *err;
};

static void remove_all(icalcomponent *c, icalproperty_kind kind)
{
    icalproperty *p;
    while ((p = icalcomponent_get_first_property(c, kind)) != NULL) {
        icalcomponent_remove_property(c, p);
        icalproperty_free(p);
    }
}

static void remove_x(icalcomponent *c, const char *name)
{
    for (icalproperty *p = icalcomponent_get_first_property(c, ICAL_X_PROPERTY); p;) {
        icalproperty *next = icalcomponent_get_next_property(c, ICAL_X_PROPERTY);
        const char *n = icalproperty_get_x_name(p);
        if (n && strcasecmp(n, name) == 0) {
            icalcomponent_remove_property(c, p);
            icalproperty_free(p);
        }
        p = next;
    }
}

static void set_x(icalcomponent *c, const char *name, const char *value)
{
    remove_x(c, name);
    icalproperty *p = icalproperty_new_x(value);
    icalproperty_set_x_name(p, name);
    icalcomponent_add_property(c, p);
}

static int bad_time(struct wr *w, const char *field, const char *v)
{
    return err_set(w->err, &cal_cond_eas_invalid, "%s %s is not a Compact DateTime", field,
                   v ? v : "(missing)");
}

static int parse_time(struct wr *w, const char *field, const char *v, int64_t *t)
{
    if (cal_eas_parse_time(v, t) != 0) {
        return bad_time(w, field, v);
    }
    return 0;
}

/* The local time of `t` in the series' zone (UTC when there is none). */
static struct icaltimetype local_of(const struct wr *w, int64_t t)
{
    icaltimezone *utc = icaltimezone_get_utc_timezone();
    if (!w->zone) {
        return icaltime_from_timet_with_zone((time_t)t, 0, utc);
    }
    struct icaltimetype l = icaltime_from_timet_with_zone((time_t)t, 0, w->zone);
    l.zone = NULL;
    return l;
}

/* The local date of `t` in the all-day zone, rounded up to the next date unless midnight
 * (§4.4: a start rounds down, an end up). */
static struct icaltimetype date_of(const struct wr *w, int64_t t, bool round_up)
{
    icaltimezone *z = w->date_zone ? w->date_zone : icaltimezone_get_utc_timezone();
    struct icaltimetype l = icaltime_from_timet_with_zone((time_t)t, 0, z);
    bool midnight = l.hour == 0 && l.minute == 0 && l.second == 0;
    l.hour = l.minute = l.second = 0;
    l.is_date = 1;
    l.zone = NULL;
    if (round_up && !midnight) {
        icaltime_adjust(&l, 1, 0, 0, 0);
    }
    return l;
}

/* Replaces property `kind` of `c` by a date or date-time `t`, with the series' TZID on a
 * local DATE-TIME. */
static void
set_time(const struct wr *w, icalcomponent *c, icalproperty_kind kind, struct icaltimetype t)
{
    remove_all(c, kind);
    icalproperty *p = icalproperty_new(kind);
    icalproperty_set_value(p, t.is_date ? icalvalue_new_date(t) : icalvalue_new_datetime(t));
    if (!t.is_date && w->zone && w->tzid) {
        icalproperty_add_parameter(p, icalparameter_new_tzid(w->tzid));
    }
    icalcomponent_add_property(c, p);
}

static void
add_time(const struct wr *w, icalcomponent *c, icalproperty_kind kind, struct icaltimetype t)
{
    icalproperty *p = icalproperty_new(kind);
    icalproperty_set_value(p, t.is_date ? icalvalue_new_date(t) : icalvalue_new_datetime(t));
    if (!t.is_date && w->zone && w->tzid) {
        icalproperty_add_parameter(p, icalparameter_new_tzid(w->tzid));
    }
    icalcomponent_add_property(c, p);
}

/* The instant of a date or date-time of `c` (DATE: its midnight in the all-day zone). */
static int64_t utc_of(const struct wr *w, icalproperty *p, struct icaltimetype t)
{
    if (t.is_date) {
        t.is_date = 0;
        t.hour = t.minute = t.second = 0;
        return cal_to_utc(t, w->date_zone);
    }
    return cal_to_utc(t, cal_zone_of(w->root, p, t));
}

/* The value a RECURRENCE-ID or EXDATE of the instance originally at `t` takes: the form of
 * the master's DTSTART. */
static struct icaltimetype instance_value(const struct wr *w, int64_t t)
{
    icalproperty *sp = icalcomponent_get_first_property(w->master, ICAL_DTSTART_PROPERTY);
    if (sp && icalproperty_get_dtstart(sp).is_date) {
        return date_of(w, t, false);
    }
    return local_of(w, t);
}

static int64_t instance_utc(const struct wr *w, icalproperty *p, struct icaltimetype t)
{
    return utc_of(w, p, t);
}

/* ---------------------------------------------------------------------------------------- */
/* Field writers, shared by the master and overrides */

static void set_text(icalcomponent *c, icalproperty_kind kind, const char *v)
{
    remove_all(c, kind);
    if (!v || !*v) {
        return;
    }
    icalproperty *p = icalproperty_new(kind);
    icalproperty_set_value(p, icalvalue_new_text(v));
    icalcomponent_add_property(c, p);
}

static void set_busy(icalcomponent *c, int busy)
{
    static const char *const names[] = {"FREE", "TENTATIVE", "BUSY", "OOF", "WORKINGELSEWHERE"};
    if (busy < 0 || busy > 4) {
        busy = 2; /* §4.2: unknown values are busy */
    }
    remove_all(c, ICAL_TRANSP_PROPERTY);
    icalcomponent_add_property(
        c, icalproperty_new_transp(busy == 0 ? ICAL_TRANSP_TRANSPARENT : ICAL_TRANSP_OPAQUE));
    set_x(c, "X-MICROSOFT-CDO-BUSYSTATUS", names[busy]);
}

static void clear_busy(icalcomponent *c)
{
    remove_all(c, ICAL_TRANSP_PROPERTY);
    remove_x(c, "X-MICROSOFT-CDO-BUSYSTATUS");
}

static int set_sensitivity(struct wr *w, icalcomponent *c, int s)
{
    static const enum icalproperty_class classes[] = {ICAL_CLASS_PUBLIC, ICAL_CLASS_PRIVATE,
                                                      ICAL_CLASS_PRIVATE, ICAL_CLASS_CONFIDENTIAL};

    if (s < 0 || s > 3) {
        return err_set(w->err, &cal_cond_eas_invalid, "Sensitivity %d is not 0-3", s);
    }
    remove_all(c, ICAL_CLASS_PROPERTY);
    remove_x(c, "X-EAS-SENSITIVITY");
    icalcomponent_add_property(c, icalproperty_new_class(classes[s]));
    if (s == 1) {
        set_x(c, "X-EAS-SENSITIVITY", "1"); /* personal, which CLASS cannot say (§4.2) */
    }
    return 0;
}

static void clear_sensitivity(icalcomponent *c)
{
    remove_all(c, ICAL_CLASS_PROPERTY);
    remove_x(c, "X-EAS-SENSITIVITY");
}

static void clear_alarms(icalcomponent *c)
{
    icalcomponent *a;
    while ((a = icalcomponent_get_first_component(c, ICAL_VALARM_COMPONENT)) != NULL) {
        icalcomponent_remove_component(c, a);
        icalcomponent_free(a);
    }
}

/* §4.2: the first DISPLAY VALARM gets TRIGGER;RELATED=START:-PT<n>M; one is made if none. */
static int set_reminder(struct wr *w, icalcomponent *c, int minutes)
{
    if (minutes < 0 || minutes > CAL_EAS_MAX_REMINDER) {
        return err_set(w->err, &cal_cond_eas_invalid, "Reminder %d is not 0-%d", minutes,
                       CAL_EAS_MAX_REMINDER);
    }
    icalcomponent *alarm = NULL;
    for (icalcomponent *a = icalcomponent_get_first_component(c, ICAL_VALARM_COMPONENT); a;
         a = icalcomponent_get_next_component(c, ICAL_VALARM_COMPONENT)) {
        icalproperty *ap = icalcomponent_get_first_property(a, ICAL_ACTION_PROPERTY);
        if (ap && icalproperty_get_action(ap) == ICAL_ACTION_DISPLAY) {
            alarm = a;
            break;
        }
    }
    if (!alarm) {
        alarm = icalcomponent_new(ICAL_VALARM_COMPONENT);
        icalcomponent_add_property(alarm, icalproperty_new_action(ICAL_ACTION_DISPLAY));
        icalcomponent_add_property(alarm, icalproperty_new_description("Reminder"));
        icalcomponent_add_component(c, alarm);
    }
    remove_all(alarm, ICAL_TRIGGER_PROPERTY);
    struct icaltriggertype tr;
    memset(&tr, 0, sizeof(tr));
    tr.time = icaltime_null_time();
    tr.duration = icaldurationtype_from_int(-minutes * 60);
    icalcomponent_add_property(alarm, icalproperty_new_trigger(tr));
    return 0;
}

static void set_organizer(struct wr *w, icalcomponent *c, const char *name, const char *email)
{
    remove_all(c, ICAL_ORGANIZER_PROPERTY);
    if (!email || !*email) {
        return;
    }
    icalproperty *p = icalproperty_new_organizer(arena_printf(w->arena, "mailto:%s", email));
    if (name && *name) {
        icalproperty_add_parameter(p, icalparameter_new_cn(name));
    }
    icalcomponent_add_property(c, p);
}

static const char *mailto(const char *v)
{
    if (v && strncasecmp(v, "mailto:", 7) == 0) {
        return v + 7;
    }
    return v ? v : "";
}

/* The ATTENDEE of `c` for `email`, removed from `c` (the caller re-adds or frees it). */
static icalproperty *take_attendee(icalcomponent *c, const char *email)
{
    for (icalproperty *p = icalcomponent_get_first_property(c, ICAL_ATTENDEE_PROPERTY); p;
         p = icalcomponent_get_next_property(c, ICAL_ATTENDEE_PROPERTY)) {
        if (strcasecmp(mailto(icalproperty_get_attendee(p)), email) == 0) {
            icalcomponent_remove_property(c, p);
            return p;
        }
    }
    return NULL;
}

static int set_status_param(struct wr *w, icalproperty *p, int status)
{
    icalparameter_partstat ps;
    switch (status) {
    case CAL_EAS_STATUS_UNKNOWN:
    case CAL_EAS_STATUS_NOT_RESPONDED:
        ps = ICAL_PARTSTAT_NEEDSACTION;
        break;
    case CAL_EAS_STATUS_TENTATIVE:
        ps = ICAL_PARTSTAT_TENTATIVE;
        break;
    case CAL_EAS_STATUS_ACCEPTED:
        ps = ICAL_PARTSTAT_ACCEPTED;
        break;
    case CAL_EAS_STATUS_DECLINED:
        ps = ICAL_PARTSTAT_DECLINED;
        break;
    default:
        return err_set(w->err, &cal_cond_eas_invalid, "AttendeeStatus %d is not 0, 2-5", status);
    }
    if (cal_eas_attendee_status(p) == status) {
        return 0; /* keeps DELEGATED (0) and an absent PARTSTAT (0) as stored */
    }
    icalproperty_remove_parameter_by_kind(p, ICAL_PARTSTAT_PARAMETER);
    if (status != CAL_EAS_STATUS_UNKNOWN) {
        icalproperty_add_parameter(p, icalparameter_new_partstat(ps));
    }
    return 0;
}

static int set_type_param(struct wr *w, icalproperty *p, int type)
{
    if (type == 0 || cal_eas_attendee_type(p) == type) {
        return 0; /* keeps CHAIR, NON-PARTICIPANT and ROOM, which map to the same type */
    }
    if (type < 1 || type > 3) {
        return err_set(w->err, &cal_cond_eas_invalid, "AttendeeType %d is not 1-3", type);
    }
    icalproperty_remove_parameter_by_kind(p, ICAL_CUTYPE_PARAMETER);
    icalproperty_remove_parameter_by_kind(p, ICAL_ROLE_PARAMETER);
    if (type == CAL_EAS_TYPE_RESOURCE) {
        icalproperty_add_parameter(p, icalparameter_new_cutype(ICAL_CUTYPE_RESOURCE));
    } else {
        icalproperty_add_parameter(p, icalparameter_new_role(type == CAL_EAS_TYPE_OPTIONAL
                                                                 ? ICAL_ROLE_OPTPARTICIPANT
                                                                 : ICAL_ROLE_REQPARTICIPANT));
    }
    return 0;
}

/* Replaces the attendees of `c` by `a`, each starting from the stored ATTENDEE of the same
 * address so that parameters EAS does not carry (RSVP, CHAIR, ROOM, DELEGATED-TO) stay. */
static int set_attendees(struct wr *w, icalcomponent *c, const struct cal_eas_attendee *a, size_t n)
{
    icalcomponent *keep = icalcomponent_new(ICAL_VEVENT_COMPONENT);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *email = a[i].email ? a[i].email : "";
        icalproperty *p = take_attendee(c, email);
        if (!p) {
            p = take_attendee(keep, email); /* a duplicate in the list: one ATTENDEE */
        }
        if (!p) {
            p = icalproperty_new_attendee(arena_printf(w->arena, "mailto:%s", email));
        }
        icalproperty_remove_parameter_by_kind(p, ICAL_CN_PARAMETER);
        if (a[i].name && *a[i].name) {
            icalproperty_add_parameter(p, icalparameter_new_cn(a[i].name));
        }
        rc = set_status_param(w, p, a[i].status);
        if (rc == 0) {
            rc = set_type_param(w, p, a[i].type);
        }
        icalcomponent_add_property(keep, p);
    }
    remove_all(c, ICAL_ATTENDEE_PROPERTY);
    icalproperty *p;
    while ((p = icalcomponent_get_first_property(keep, ICAL_ATTENDEE_PROPERTY)) != NULL) {
        icalcomponent_remove_property(keep, p);
        icalcomponent_add_property(c, p);
    }
    icalcomponent_free(keep);
    return rc;
}

static void set_rsvp(icalcomponent *c, bool rsvp)
{
    for (icalproperty *p = icalcomponent_get_first_property(c, ICAL_ATTENDEE_PROPERTY); p;
         p = icalcomponent_get_next_property(c, ICAL_ATTENDEE_PROPERTY)) {
        icalproperty_remove_parameter_by_kind(p, ICAL_RSVP_PARAMETER);
        icalproperty_add_parameter(p,
                                   icalparameter_new_rsvp(rsvp ? ICAL_RSVP_TRUE : ICAL_RSVP_FALSE));
    }
}

static void set_categories(icalcomponent *c, const char *const *v, size_t n)
{
    remove_all(c, ICAL_CATEGORIES_PROPERTY);
    for (size_t i = 0; i < n; i++) {
        if (v[i] && *v[i]) {
            icalcomponent_add_property(c, icalproperty_new_categories(v[i]));
        }
    }
}

static int set_meeting_status(struct wr *w, icalcomponent *c, int ms)
{
    if (ms < 0 || ms > 15) {
        return err_set(w->err, &cal_cond_eas_invalid, "MeetingStatus %d is not 0-15", ms);
    }
    icalproperty *sp = icalcomponent_get_first_property(c, ICAL_STATUS_PROPERTY);
    bool cancelled = sp && icalproperty_get_status(sp) == ICAL_STATUS_CANCELLED;
    if (ms & 4) {
        remove_all(c, ICAL_STATUS_PROPERTY);
        icalcomponent_add_property(c, icalproperty_new_status(ICAL_STATUS_CANCELLED));
    } else if (cancelled) {
        remove_all(c, ICAL_STATUS_PROPERTY);
    }
    return 0;
}

static int set_dtstamp(struct wr *w, icalcomponent *c, const char *v)
{
    int64_t t;
    if (parse_time(w, "DtStamp", v, &t)) {
        return -1;
    }
    remove_all(c, ICAL_DTSTAMP_PROPERTY);
    icaltimezone *utc = icaltimezone_get_utc_timezone();
    icalcomponent_add_property(
        c, icalproperty_new_dtstamp(icaltime_from_timet_with_zone((time_t)t, 0, utc)));
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Times of one component */

/* DTSTART/DTEND of `c` for the instant pair [s, e] (all-day: local dates), DURATION gone. */
static void write_span(const struct wr *w, icalcomponent *c, bool all_day, int64_t s, int64_t e)
{
    remove_all(c, ICAL_DURATION_PROPERTY);
    if (all_day) {
        struct icaltimetype ds = date_of(w, s, false);
        struct icaltimetype de = date_of(w, e, true);
        if (e > s && (e - s) % DAY == 0) {
            /* a length kept in whole days stays whole days across a DST change */
            de = ds;
            icaltime_adjust(&de, (int)((e - s) / DAY), 0, 0, 0);
        }
        if (icaltime_compare(de, ds) <= 0) {
            de = ds;
            icaltime_adjust(&de, 1, 0, 0, 0);
        }
        set_time(w, c, ICAL_DTSTART_PROPERTY, ds);
        set_time(w, c, ICAL_DTEND_PROPERTY, de);
    } else {
        set_time(w, c, ICAL_DTSTART_PROPERTY, local_of(w, s));
        set_time(w, c, ICAL_DTEND_PROPERTY, local_of(w, e));
    }
}

/* The start and length in seconds of `c` as stored. */
static void
stored_span(const struct wr *w, icalcomponent *c, int64_t *s, int64_t *len, bool *all_day)
{
    icalproperty *sp = icalcomponent_get_first_property(c, ICAL_DTSTART_PROPERTY);
    struct icaltimetype st = sp ? icalproperty_get_dtstart(sp) : icaltime_null_time();
    *all_day = st.is_date;
    *s = sp ? utc_of(w, sp, st) : 0;
    icaltimezone *z = sp ? cal_zone_of(w->root, sp, st) : NULL;
    int64_t e = sp ? cal_instance_end(w->root, c, st, z, cal_to_utc(st, z)) - cal_to_utc(st, z) : 0;
    *len = e > 0 ? e : 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Overrides */

static icalcomponent *find_override(const struct wr *w, int64_t rid)
{
    for (icalcomponent *c = icalcomponent_get_first_component(w->root, ICAL_VEVENT_COMPONENT); c;
         c = icalcomponent_get_next_component(w->root, ICAL_VEVENT_COMPONENT)) {
        icalproperty *rp = icalcomponent_get_first_property(c, ICAL_RECURRENCEID_PROPERTY);
        if (c != w->master && rp && instance_utc(w, rp, icalproperty_get_recurrenceid(rp)) == rid) {
            return c;
        }
    }
    return NULL;
}

static void remove_overrides(struct wr *w)
{
    for (icalcomponent *c = icalcomponent_get_first_component(w->root, ICAL_VEVENT_COMPONENT); c;) {
        icalcomponent *next = icalcomponent_get_next_component(w->root, ICAL_VEVENT_COMPONENT);
        if (c != w->master) {
            icalcomponent_remove_component(w->root, c);
            icalcomponent_free(c);
        }
        c = next;
    }
}

/* A new override of the instance originally at `rid`: the master without its rule. */
static icalcomponent *new_override(struct wr *w, int64_t rid)
{
    icalcomponent *c = icalcomponent_new_clone(w->master);
    remove_all(c, ICAL_RRULE_PROPERTY);
    remove_all(c, ICAL_RDATE_PROPERTY);
    remove_all(c, ICAL_EXDATE_PROPERTY);
    remove_all(c, ICAL_EXRULE_PROPERTY);
    int64_t s, len;
    bool all_day;
    stored_span(w, w->master, &s, &len, &all_day);
    set_time(w, c, ICAL_RECURRENCEID_PROPERTY, instance_value(w, rid));
    write_span(w, c, all_day, rid, rid + len);
    icalcomponent_add_component(w->root, c);
    return c;
}

/* Applies the present fields of `x` to override `c`. */
static int apply_exception(struct wr *w, icalcomponent *c, const struct cal_eas_exception *x)
{
    uint32_t f = x->present;
    if (f & (CAL_EAS_STARTTIME | CAL_EAS_ENDTIME | CAL_EAS_ALLDAY)) {
        int64_t s, len;
        bool all_day;
        stored_span(w, c, &s, &len, &all_day);
        if ((f & CAL_EAS_STARTTIME) && parse_time(w, "Exception StartTime", x->start_time, &s)) {
            return -1;
        }
        int64_t e = s + len;
        if ((f & CAL_EAS_ENDTIME) && parse_time(w, "Exception EndTime", x->end_time, &e)) {
            return -1;
        }
        if (e < s) {
            return err_set(w->err, &cal_cond_eas_invalid,
                           "Exception EndTime %s is before its StartTime", x->end_time);
        }
        write_span(w, c, f & CAL_EAS_ALLDAY ? x->all_day : all_day, s, e);
    }
    if (f & CAL_EAS_SUBJECT) {
        set_text(c, ICAL_SUMMARY_PROPERTY, x->subject);
    }
    if (f & CAL_EAS_LOCATION) {
        set_text(c, ICAL_LOCATION_PROPERTY, x->location);
    }
    if (f & CAL_EAS_BODY) {
        set_text(c, ICAL_DESCRIPTION_PROPERTY, x->body);
        remove_x(c, "X-ALT-DESC");
    }
    if (f & CAL_EAS_BUSYSTATUS) {
        set_busy(c, x->busy_status);
    }
    if ((f & CAL_EAS_SENSITIVITY) && set_sensitivity(w, c, x->sensitivity)) {
        return -1;
    }
    if ((f & CAL_EAS_REMINDER) && set_reminder(w, c, x->reminder)) {
        return -1;
    }
    if (f & CAL_EAS_CATEGORIES) {
        set_categories(c, x->categories, x->ncategories);
    }
    if ((f & CAL_EAS_ATTENDEES) && set_attendees(w, c, x->attendees, x->nattendees)) {
        return -1;
    }
    if ((f & CAL_EAS_MEETINGSTATUS) && set_meeting_status(w, c, x->meeting_status)) {
        return -1;
    }
    if ((f & CAL_EAS_DTSTAMP) && set_dtstamp(w, c, x->dtstamp)) {
        return -1;
    }
    return 0;
}

static bool has_exdate(const struct wr *w, int64_t t)
{
    for (icalproperty *p = icalcomponent_get_first_property(w->master, ICAL_EXDATE_PROPERTY); p;
         p = icalcomponent_get_next_property(w->master, ICAL_EXDATE_PROPERTY)) {
        if (instance_utc(w, p, icalproperty_get_exdate(p)) == t) {
            return true;
        }
    }
    return false;
}

/* The instance originally at `t` is deleted: an EXDATE, and no override. */
static void delete_instance(struct wr *w, int64_t t)
{
    icalcomponent *ov = find_override(w, t);
    if (ov) {
        icalcomponent_remove_component(w->root, ov);
        icalcomponent_free(ov);
    }
    if (!has_exdate(w, t)) {
        add_time(w, w->master, ICAL_EXDATE_PROPERTY, instance_value(w, t));
    }
}

/* Exceptions present: they replace every override and EXDATE (§4.6). */
static int write_exceptions(struct wr *w, const struct cal_eas_event *ev)
{
    remove_overrides(w);
    remove_all(w->master, ICAL_EXDATE_PROPERTY);
    for (size_t i = 0; i < ev->nexceptions; i++) {
        const struct cal_eas_exception *x = &ev->exceptions[i];
        int64_t rid;
        if (parse_time(w, "ExceptionStartTime", x->exception_start_time, &rid)) {
            return -1;
        }
        if (x->deleted) {
            delete_instance(w, rid);
            continue;
        }
        if (find_override(w, rid)) {
            continue; /* the same instance twice: the first wins */
        }
        if (apply_exception(w, new_override(w, rid), x)) {
            return -1;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* The zone */

/* The TZID and zone of the master's stored DTSTART, if it has one. */
static icaltimezone *stored_zone(const struct wr *w, const char **tzid_out)
{
    icalproperty *sp = icalcomponent_get_first_property(w->master, ICAL_DTSTART_PROPERTY);
    if (!sp) {
        return NULL;
    }
    struct icaltimetype st = icalproperty_get_dtstart(sp);
    icalparameter *tp = icalproperty_get_first_parameter(sp, ICAL_TZID_PARAMETER);
    icaltimezone *z = cal_zone_of(w->root, sp, st);
    if (!tp || !z || z == icaltimezone_get_utc_timezone()) {
        return NULL;
    }
    *tzid_out = arena_strdup(w->arena, icalparameter_get_tzid(tp)); /* outlives DTSTART */
    return z;
}

static bool has_vtimezone(icalcomponent *root, const char *tzid)
{
    for (icalcomponent *c = icalcomponent_get_first_component(root, ICAL_VTIMEZONE_COMPONENT); c;
         c = icalcomponent_get_next_component(root, ICAL_VTIMEZONE_COMPONENT)) {
        icalproperty *p = icalcomponent_get_first_property(c, ICAL_TZID_PROPERTY);
        if (p && strcmp(icalproperty_get_tzid(p), tzid) == 0) {
            return true;
        }
    }
    return false;
}

/* The series' zone: the blob's when sent (the stored zone when its rules are the blob's),
 * else the stored one, else UTC. The blob holds the rules of one year (§4.3.1 step 2):
 * that of the StartTime, or of now for a series still running, so both are tried. */
static int pick_zone(struct wr *w, const struct cal_eas_event *ev, int year)
{
    const char *old_tzid = NULL;
    icaltimezone *old = stored_zone(w, &old_tzid);
    w->zone = old;
    w->tzid = old_tzid;
    if (!(ev->present & CAL_EAS_TIMEZONE)) {
        return 0;
    }
    struct cal_eas_tz tz;
    if (cal_eas_tz_decode(slice_from_cstr(ev->timezone), &tz, w->err)) {
        return -1;
    }
    int years[2] = {
        year,
        icaltime_from_timet_with_zone((time_t)time_now(), 0, icaltimezone_get_utc_timezone()).year};
    const char *tzid;
    struct slice vtz;
    cal_eas_tz_to_vtimezone(&tz, years[0], w->arena, &tzid, &vtz);
    if (strncmp(tzid, "EAS-", 4) == 0 && years[1] != years[0]) {
        const char *tzid2;
        struct slice vtz2;
        cal_eas_tz_to_vtimezone(&tz, years[1], w->arena, &tzid2, &vtz2);
        if (strncmp(tzid2, "EAS-", 4) != 0) {
            tzid = tzid2;
            vtz = vtz2;
        }
    }
    if (strcmp(tzid, "UTC") == 0) {
        w->zone = w->date_zone = NULL;
        w->tzid = NULL;
        return 0;
    }
    for (int i = 0; i < 2 && old; i++) {
        struct cal_eas_tz cur;
        cal_eas_tz_from_zone(old, old_tzid, years[i], &cur);
        if (cal_eas_tz_equal(&cur, &tz)) {
            /* the client echoed the stored zone: keep its TZID and its full history (a
             * VTIMEZONE built from the blob holds one year's rules only) */
            w->date_zone = old;
            return 0;
        }
    }
    if (!has_vtimezone(w->root, tzid)) {
        icalcomponent *c = icalparser_parse_string(vtz.ptr);
        if (!c) {
            return err_set(w->err, &cal_cond_eas_invalid, "Timezone makes no VTIMEZONE");
        }
        icalcomponent_add_component(w->root, c);
        if (cal_tree_screen(w->root, true, w->err) != 0) {
            return -1; /* screened like any zone before a time is converted in it */
        }
    }
    w->zone = w->date_zone = icalcomponent_get_timezone(w->root, tzid);
    w->tzid = tzid;
    return 0;
}

/* Drops the VTIMEZONEs no property refers to any more. */
static void prune_vtimezones(icalcomponent *root)
{
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
/* The master */

static char *rrule_text(icalcomponent *c)
{
    icalproperty *p = icalcomponent_get_first_property(c, ICAL_RRULE_PROPERTY);
    if (!p) {
        return NULL;
    }
    struct icalrecurrencetype r = icalproperty_get_rrule(p);
    return icalrecurrencetype_as_string_r(&r);
}

/* DTSTART, DTEND and AllDayEvent; *moved when the series now starts elsewhere. */
static int write_times(struct wr *w, const struct cal_eas_event *ev, bool *moved)
{
    uint32_t f = ev->present;
    bool has_start = icalcomponent_get_first_property(w->master, ICAL_DTSTART_PROPERTY);
    int64_t s0 = 0, len = 0;
    bool all_day0 = false;
    if (has_start) {
        stored_span(w, w->master, &s0, &len, &all_day0);
    }
    *moved = false;
    if (!(f & (CAL_EAS_STARTTIME | CAL_EAS_ENDTIME | CAL_EAS_ALLDAY | CAL_EAS_TIMEZONE))) {
        if (!has_start) {
            return err_set(w->err, &cal_cond_eas_invalid, "StartTime is missing");
        }
        return 0;
    }
    int64_t s = s0;
    if (f & CAL_EAS_STARTTIME) {
        if (parse_time(w, "StartTime", ev->start_time, &s)) {
            return -1;
        }
    } else if (!has_start) {
        return err_set(w->err, &cal_cond_eas_invalid, "StartTime is missing");
    }
    int64_t e = s + len;
    if ((f & CAL_EAS_ENDTIME) && parse_time(w, "EndTime", ev->end_time, &e)) {
        return -1;
    }
    if (e < s) {
        return err_set(w->err, &cal_cond_eas_invalid, "EndTime %s is before StartTime %s",
                       ev->end_time ? ev->end_time : "", ev->start_time ? ev->start_time : "");
    }
    bool all_day = f & CAL_EAS_ALLDAY ? ev->all_day : all_day0;
    *moved = has_start && (s != s0 || all_day != all_day0);
    write_span(w, w->master, all_day, s, e);
    return 0;
}

/* Recurrence: an RRULE in the form of DTSTART (UNTIL a DATE for all-day, else UTC). */
static int write_recurrence(struct wr *w, const struct cal_eas_event *ev)
{
    icalproperty *sp = icalcomponent_get_first_property(w->master, ICAL_DTSTART_PROPERTY);
    struct icaltimetype st = icalproperty_get_dtstart(sp);
    struct icaltimetype until = icaltime_null_time();
    const struct cal_eas_recurrence *rec = &ev->recurrence;
    if (rec->present & CAL_EAS_R_UNTIL) {
        int64_t u;
        if (parse_time(w, "Recurrence Until", rec->until, &u)) {
            return -1;
        }
        if (st.is_date) {
            until = date_of(w, u, false);
        } else {
            until = icaltime_from_timet_with_zone((time_t)u, 0, icaltimezone_get_utc_timezone());
        }
    }
    struct icalrecurrencetype r;
    if (cal_eas_recur_to_rrule(rec, st, until, &r, w->err)) {
        return -1;
    }
    remove_all(w->master, ICAL_RRULE_PROPERTY);
    icalcomponent_add_property(w->master, icalproperty_new_rrule(r));
    return 0;
}

/* A decimal degree in [-limit, limit]; 0 or -1. */
static int parse_degrees(const char *s, double limit, double *out)
{
    if (!s || !*s) {
        return -1;
    }
    char *end = NULL;
    double v = strtod(s, &end);
    if (!end || *end != '\0' || !(v >= -limit && v <= limit)) {
        return -1;
    }
    *out = v;
    return 0;
}

/* LOCATION (with ALTREP from LocationUri) and, when both are sent, GEO (§4.2). A client
 * that sends only the display name (≤14.1 C:Location) leaves GEO as stored. */
static int set_location(struct wr *w, icalcomponent *m, const struct cal_eas_event *ev)
{
    set_text(m, ICAL_LOCATION_PROPERTY, ev->location);
    icalproperty *lp = icalcomponent_get_first_property(m, ICAL_LOCATION_PROPERTY);
    if (lp && ev->location_uri && *ev->location_uri) {
        icalproperty_add_parameter(lp, icalparameter_new_altrep(ev->location_uri));
    }
    if (ev->latitude || ev->longitude) {
        struct icalgeotype g;
        if (parse_degrees(ev->latitude, 90, &g.lat) || parse_degrees(ev->longitude, 180, &g.lon)) {
            return err_set(w->err, &cal_cond_eas_invalid,
                           "Location Latitude %s / Longitude %s are not degrees",
                           ev->latitude ? ev->latitude : "(missing)",
                           ev->longitude ? ev->longitude : "(missing)");
        }
        remove_all(m, ICAL_GEO_PROPERTY);
        icalcomponent_add_property(m, icalproperty_new_geo(g));
    } else if (ev->location_full) {
        remove_all(m, ICAL_GEO_PROPERTY);
    }

    static const enum cal_eas_loc_field numbers[] = {CAL_EAS_LOC_ACCURACY, CAL_EAS_LOC_ALTITUDE,
                                                     CAL_EAS_LOC_ALTITUDEACCURACY};

    for (size_t i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++) {
        const char *v = ev->loc[numbers[i]];
        double d;
        if (v && parse_degrees(v, 1e9, &d)) {
            return err_set(w->err, &cal_cond_eas_invalid, "Location %s %s is not a number",
                           cal_eas_loc_name(numbers[i]), v);
        }
    }
    const char *json = cal_eas_loc_to_json(ev->loc, w->arena);
    if (json) {
        set_x(m, "X-EAS-LOCATION", json);
    } else if (ev->location_full) {
        remove_x(m, "X-EAS-LOCATION");
    }
    return 0;
}

/* Every mapped field of the master but times, recurrence and exceptions. */
static int write_fields(struct wr *w, const struct cal_eas_event *ev, uint32_t keep)
{
    icalcomponent *m = w->master;
    uint32_t f = ev->present;
    uint32_t drop = ~f & ~keep;
    if (f & CAL_EAS_SUBJECT) {
        set_text(m, ICAL_SUMMARY_PROPERTY, ev->subject);
    } else if (drop & CAL_EAS_SUBJECT) {
        remove_all(m, ICAL_SUMMARY_PROPERTY);
    }
    if (f & CAL_EAS_LOCATION) {
        if (set_location(w, m, ev)) {
            return -1;
        }
    } else if (drop & CAL_EAS_LOCATION) {
        remove_all(m, ICAL_LOCATION_PROPERTY);
    }
    if (f & CAL_EAS_BODY) {
        set_text(m, ICAL_DESCRIPTION_PROPERTY, ev->body);
        remove_x(m, "X-ALT-DESC");
        if (ev->body_html && *ev->body_html) {
            icalproperty *p = icalproperty_new_x(ev->body_html);
            icalproperty_set_x_name(p, "X-ALT-DESC");
            icalproperty_add_parameter(p, icalparameter_new_fmttype("text/html"));
            icalcomponent_add_property(m, p);
        }
    } else if (drop & CAL_EAS_BODY) {
        remove_all(m, ICAL_DESCRIPTION_PROPERTY);
        remove_x(m, "X-ALT-DESC");
    }
    if (f & CAL_EAS_BUSYSTATUS) {
        set_busy(m, ev->busy_status);
    } else if (drop & CAL_EAS_BUSYSTATUS) {
        clear_busy(m);
    }
    if (f & CAL_EAS_SENSITIVITY) {
        if (set_sensitivity(w, m, ev->sensitivity)) {
            return -1;
        }
    } else if (drop & CAL_EAS_SENSITIVITY) {
        clear_sensitivity(m);
    }
    if (f & CAL_EAS_REMINDER) {
        if (set_reminder(w, m, ev->reminder)) {
            return -1;
        }
    } else if (drop & CAL_EAS_REMINDER) {
        clear_alarms(m);
    }
    if (f & CAL_EAS_ORGANIZER) {
        set_organizer(w, m, ev->organizer_name, ev->organizer_email);
    } else if (drop & CAL_EAS_ORGANIZER) {
        remove_all(m, ICAL_ORGANIZER_PROPERTY);
    }
    if (f & CAL_EAS_ATTENDEES) {
        if (set_attendees(w, m, ev->attendees, ev->nattendees)) {
            return -1;
        }
    } else if (drop & CAL_EAS_ATTENDEES) {
        remove_all(m, ICAL_ATTENDEE_PROPERTY);
    }
    if (f & CAL_EAS_RESPONSEREQUESTED) {
        set_rsvp(m, ev->response_requested);
    }
    if (f & CAL_EAS_CATEGORIES) {
        set_categories(m, ev->categories, ev->ncategories);
    } else if (drop & CAL_EAS_CATEGORIES) {
        remove_all(m, ICAL_CATEGORIES_PROPERTY);
    }
    if ((f & CAL_EAS_MEETINGSTATUS) && set_meeting_status(w, m, ev->meeting_status)) {
        return -1;
    }
    if (f & CAL_EAS_DISALLOWNEWTIMEPROPOSAL) {
        set_x(m, "X-MICROSOFT-DISALLOW-COUNTER", ev->disallow_new_time_proposal ? "TRUE" : "FALSE");
    } else if (drop & CAL_EAS_DISALLOWNEWTIMEPROPOSAL) {
        remove_x(m, "X-MICROSOFT-DISALLOW-COUNTER");
    }
    if (f & CAL_EAS_DTSTAMP) {
        if (set_dtstamp(w, m, ev->dtstamp)) {
            return -1;
        }
    } else if (!icalcomponent_get_first_property(m, ICAL_DTSTAMP_PROPERTY)) {
        icalcomponent_add_property(m, icalproperty_new_dtstamp(icaltime_from_timet_with_zone(
                                          (time_t)time_now(), 0, icaltimezone_get_utc_timezone())));
    }
    return 0;
}

/* The texts an exception inherits when it does not override them (MS-ASCAL 2.2.2.21). */
static const icalproperty_kind inherited[] = {ICAL_SUMMARY_PROPERTY, ICAL_LOCATION_PROPERTY,
                                              ICAL_DESCRIPTION_PROPERTY};

#define NINHERITED (sizeof(inherited) / sizeof(inherited[0]))

/* Text value of property `kind` of `c` in the arena, or NULL. */
static const char *text_copy(struct wr *w, icalcomponent *c, icalproperty_kind kind)
{
    icalproperty *p = icalcomponent_get_first_property(c, kind);
    const char *v = p ? icalvalue_get_text(icalproperty_get_value(p)) : NULL;
    return v ? arena_strdup(w->arena, v) : NULL;
}

static bool same_text(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

/* Overrides kept across a Change inherit the master's new texts where they held the old
 * ones: to EAS such an exception never overrode them (it "inherits the master", §4.6). */
static void propagate(struct wr *w, const char *const old[NINHERITED])
{
    for (size_t i = 0; i < NINHERITED; i++) {
        const char *now = text_copy(w, w->master, inherited[i]);
        if (same_text(now, old[i])) {
            continue;
        }
        for (icalcomponent *c = icalcomponent_get_first_component(w->root, ICAL_VEVENT_COMPONENT);
             c; c = icalcomponent_get_next_component(w->root, ICAL_VEVENT_COMPONENT)) {
            if (c != w->master && same_text(text_copy(w, c, inherited[i]), old[i])) {
                set_text(c, inherited[i], now);
            }
        }
    }
}

static int write_uid(struct wr *w, const struct cal_eas_event *ev, const char *uid_if_missing)
{
    const char *uid = ev->present & CAL_EAS_UID ? ev->uid : NULL;
    if (!uid || !*uid) {
        uid = icalcomponent_get_uid(w->master);
    }
    if (!uid || !*uid) {
        uid = uid_if_missing;
    }
    if (!uid || !*uid) {
        return err_set(w->err, &cal_cond_eas_invalid, "UID is missing");
    }
    if (strlen(uid) > CAL_EAS_MAX_UID) {
        return err_set(w->err, &cal_cond_eas_invalid, "UID of %zu characters exceeds %d",
                       strlen(uid), CAL_EAS_MAX_UID);
    }
    char *copy = arena_strdup(w->arena, uid); /* `uid` may point into the component */
    for (icalcomponent *c = icalcomponent_get_first_component(w->root, ICAL_VEVENT_COMPONENT); c;
         c = icalcomponent_get_next_component(w->root, ICAL_VEVENT_COMPONENT)) {
        icalcomponent_set_uid(c, copy);
    }
    return 0;
}

/* Serialises `root` and checks it as cal would on PUT. */
static int finish(struct wr *w, struct slice *ics_out)
{
    prune_vtimezones(w->root);
    char *text = icalcomponent_as_ical_string_r(w->root);
    struct slice s = {arena_strdup(w->arena, text ? text : ""), 0};
    free(text);
    s.len = strlen(s.ptr);
    struct cal_info info;
    struct err e;
    err_init(&e);
    if (cal_parse_object(s, CAL_COMP_VEVENT, w->arena, &info, &e) != 0) {
        return err_set(w->err, &cal_cond_eas_invalid, "the item is no valid calendar object: %s",
                       e.msg);
    }
    *ics_out = s;
    return 0;
}

static icalcomponent *new_calendar(void)
{
    icalcomponent *root = icalcomponent_new(ICAL_VCALENDAR_COMPONENT);
    icalcomponent_add_property(root, icalproperty_new_version("2.0"));
    icalcomponent_add_property(root, icalproperty_new_prodid("-//Almanac//ActiveSync//EN"));
    icalcomponent_add_component(root, icalcomponent_new(ICAL_VEVENT_COMPONENT));
    return root;
}

static int start_year(const struct cal_eas_event *ev)
{
    int64_t t = time_now();
    if (ev->present & CAL_EAS_STARTTIME) {
        (void)cal_eas_parse_time(ev->start_time, &t);
    }
    return icaltime_from_timet_with_zone((time_t)t, 0, icaltimezone_get_utc_timezone()).year;
}

/* Arrays whose count is set must be there (a caller's bug, but never a crash). */
static int check_arrays(const struct cal_eas_event *ev, struct err *err)
{
    if ((ev->nattendees && !ev->attendees) || (ev->ncategories && !ev->categories) ||
        (ev->nexceptions && !ev->exceptions)) {
        return err_set(err, &cal_cond_eas_invalid, "a list of the item has a count but no items");
    }
    for (size_t i = 0; i < ev->nexceptions; i++) {
        const struct cal_eas_exception *x = &ev->exceptions[i];
        if ((x->nattendees && !x->attendees) || (x->ncategories && !x->categories)) {
            return err_set(err, &cal_cond_eas_invalid,
                           "a list of Exception %zu has a count but no items", i);
        }
    }
    return 0;
}

int cal_eas_to_ical(const struct cal_eas_event *ev,
                    struct slice existing,
                    uint32_t keep_absent,
                    const char *uid_if_missing,
                    struct arena *arena,
                    struct slice *ics_out,
                    struct err *err)
{
    if (check_arrays(ev, err)) {
        return -1;
    }
    struct wr w = {.arena = arena, .err = err};
    w.root = existing.len ? cal_parse_stored(existing, arena, err) : new_calendar();
    if (!w.root) {
        return -1;
    }
    int rc = -1;
    char *old_rule = NULL, *new_rule = NULL;
    w.master = cal_master_vevent(w.root);
    if (!w.master) {
        err_set(err, &cal_cond_eas_unsupported, "stored object holds no VEVENT");
        goto out;
    }
    bool moved;
    const char *old_texts[NINHERITED];
    for (size_t i = 0; i < NINHERITED; i++) {
        old_texts[i] = text_copy(&w, w.master, inherited[i]);
    }
    old_rule = rrule_text(w.master);
    if (pick_zone(&w, ev, start_year(ev)) || write_times(&w, ev, &moved) ||
        write_fields(&w, ev, keep_absent) || write_uid(&w, ev, uid_if_missing)) {
        goto out;
    }
    if (ev->present & CAL_EAS_RECURRENCE) {
        if (write_recurrence(&w, ev)) {
            goto out;
        }
    } else if (!(keep_absent & CAL_EAS_RECURRENCE)) {
        remove_all(w.master, ICAL_RRULE_PROPERTY);
    }
    new_rule = rrule_text(w.master);
    bool reshaped = moved || !old_rule != !new_rule ||
                    (old_rule && new_rule && strcmp(old_rule, new_rule) != 0);
    if (ev->present & CAL_EAS_EXCEPTIONS) {
        if (write_exceptions(&w, ev)) {
            goto out;
        }
    } else if (!(keep_absent & CAL_EAS_EXCEPTIONS) || reshaped || !new_rule) {
        /* a new pattern or start drops the exceptions (MS-ASCAL 3.1.5.3, §4.6) */
        remove_overrides(&w);
        remove_all(w.master, ICAL_EXDATE_PROPERTY);
    } else {
        propagate(&w, old_texts);
    }
    rc = finish(&w, ics_out);
out:
    free(old_rule);
    free(new_rule);
    cal_tree_free(w.root);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* 16.x single occurrences */

/* Whether the series of the master has an instance originally at `t` (walks at most
 * CAL_MAX_INSTANCES instances of its RRULE). */
static bool is_instance(const struct wr *w, int64_t t)
{
    icalproperty *sp = icalcomponent_get_first_property(w->master, ICAL_DTSTART_PROPERTY);
    struct icaltimetype st = icalproperty_get_dtstart(sp);
    if (utc_of(w, sp, st) == t) {
        return true;
    }
    for (icalproperty *p = icalcomponent_get_first_property(w->master, ICAL_RDATE_PROPERTY); p;
         p = icalcomponent_get_next_property(w->master, ICAL_RDATE_PROPERTY)) {
        struct icaldatetimeperiodtype dp = icalproperty_get_rdate(p);
        struct icaltimetype rt = icaltime_is_null_time(dp.time) ? dp.period.start : dp.time;
        if (utc_of(w, p, rt) == t) {
            return true;
        }
    }
    icalproperty *rp = icalcomponent_get_first_property(w->master, ICAL_RRULE_PROPERTY);
    if (!rp) {
        return false;
    }
    struct icalrecurrencetype rule = icalproperty_get_rrule(rp);
    struct cal_recur r;
    icaltimezone *z = cal_zone_of(w->root, sp, st);
    if (cal_recur_start(&r, &rule, st, z) != 0) {
        return false;
    }
    struct cal_work work = CAL_WORK_INIT;
    struct icaltimetype it;
    int64_t u;
    bool found = false;
    while (cal_recur_next(&r, &work, &it, &u) == 1) {
        int64_t v = it.is_date ? utc_of(w, sp, it) : u;
        if (v >= t) {
            found = v == t;
            break;
        }
    }
    cal_recur_stop(&r);
    return found;
}

int cal_eas_apply_instance(struct slice existing,
                           const char *instance_id,
                           const struct cal_eas_exception *ex,
                           struct arena *arena,
                           struct slice *ics_out,
                           struct err *err)
{
    if (ex && ((ex->nattendees && !ex->attendees) || (ex->ncategories && !ex->categories))) {
        return err_set(err, &cal_cond_eas_invalid,
                       "a list of the Exception has a count but no items");
    }
    struct wr w = {.arena = arena, .err = err};
    w.root = cal_parse_stored(existing, arena, err);
    if (!w.root) {
        return -1;
    }
    int rc = -1;
    w.master = cal_master_vevent(w.root);
    int64_t t;
    if (!w.master || icalcomponent_get_first_property(w.master, ICAL_RECURRENCEID_PROPERTY)) {
        err_set(err, &cal_cond_eas_invalid, "InstanceId names no series");
        goto out;
    }
    if (parse_time(&w, "InstanceId", instance_id, &t)) {
        goto out;
    }
    w.zone = stored_zone(&w, &w.tzid);
    if (!icalcomponent_get_first_property(w.master, ICAL_RRULE_PROPERTY) &&
        !icalcomponent_get_first_property(w.master, ICAL_RDATE_PROPERTY)) {
        err_set(err, &cal_cond_eas_invalid, "InstanceId %s: the item does not recur", instance_id);
        goto out;
    }
    if (!find_override(&w, t) && !is_instance(&w, t)) {
        err_set(err, &cal_cond_eas_invalid, "InstanceId %s names no instance of the series",
                instance_id);
        goto out;
    }
    if (!ex || ex->deleted) {
        delete_instance(&w, t);
    } else {
        icalcomponent *ov = find_override(&w, t);
        if (!ov) {
            ov = new_override(&w, t);
        }
        if (apply_exception(&w, ov, ex)) {
            goto out;
        }
    }
    rc = finish(&w, ics_out);
out:
    cal_tree_free(w.root);
    return rc;
}
