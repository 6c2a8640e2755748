/* eas/calmap_write.c: ActiveSync calendar items into iCalendar (activesync.md §4.2-§4.7):
 * client Add and Change (with ghosting, §3.3.7) and the 16.x single-occurrence Change and
 * Delete, through cal's editing API (cal/edit.h). Starts from the stored object so that
 * properties EAS does not map survive, and checks the result with cal_parse_object() before
 * handing it out. Never reads the wire encoding (eas/item.c) and never decides ghosting
 * itself: the caller's keep_absent does. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cal/edit.h"
#include "eas/calmap.h"
#include "eas/calmap_int.h"
#include "util/timeutil.h"

#define DAY INT64_C(86400)

/* The state of one conversion. */
struct wr {
    struct arena *arena;
    struct cal_doc *doc;
    struct cal_node *root;
    struct cal_node *master;
    struct cal_zone *zone;      /* the series' zone for DATE-TIMEs; NULL: UTC */
    const char *tzid;           /* its TZID parameter value */
    struct cal_zone *date_zone; /* the zone whose local dates all-day values take; NULL: UTC */
    struct err *err;
};

static void set_x(struct cal_node *c, const char *name, const char *value)
{
    cal_prop_remove_x(c, name);
    cal_prop_add_x(c, name, value);
}

static int bad_time(struct wr *w, const char *field, const char *v)
{
    return err_set(w->err, &eas_cond_calmap_invalid, "%s %s is not a Compact DateTime", field,
                   v ? v : "(missing)");
}

static int parse_time(struct wr *w, const char *field, const char *v, int64_t *t)
{
    if (eas_calmap_parse_time(v, t) != 0) {
        return bad_time(w, field, v);
    }
    return 0;
}

/* The local time of `t` in the series' zone (UTC when there is none). */
static struct cal_time local_of(const struct wr *w, int64_t t)
{
    return cal_time_of(t, w->zone);
}

/* The local date of `t` in the all-day zone, rounded up to the next date unless midnight
 * (§4.4: a start rounds down, an end up). */
static struct cal_time date_of(const struct wr *w, int64_t t, bool round_up)
{
    struct cal_time l = cal_time_of(t, w->date_zone);
    bool midnight = l.hour == 0 && l.minute == 0 && l.second == 0;
    l.hour = l.minute = l.second = 0;
    l.is_date = true;
    l.is_utc = false;
    if (round_up && !midnight) {
        l = cal_time_add_days(l, 1);
    }
    return l;
}

/* Adds property `kind` to `c` as a date or date-time `t`, with the series' TZID on a local
 * DATE-TIME. */
static void
add_time(const struct wr *w, struct cal_node *c, enum cal_prop_kind kind, struct cal_time t)
{
    cal_prop_add_time(c, kind, t, w->zone ? w->tzid : NULL);
}

/* Replaces property `kind` of `c` by `t` (add_time). */
static void
set_time(const struct wr *w, struct cal_node *c, enum cal_prop_kind kind, struct cal_time t)
{
    cal_prop_remove_all(c, kind);
    add_time(w, c, kind, t);
}

/* The instant of a date or date-time `t` of property `p` (DATE: its midnight in the all-day
 * zone). */
static int64_t utc_of(const struct wr *w, struct cal_prop *p, struct cal_time t)
{
    if (t.is_date) {
        t.is_date = false;
        t.hour = t.minute = t.second = 0;
        return cal_time_to_unix(t, w->date_zone);
    }
    return cal_time_to_unix(t, cal_prop_zone(w->doc, p));
}

/* The instant of the time of property `p`. */
static int64_t prop_utc(const struct wr *w, struct cal_prop *p)
{
    struct cal_time t = {0};
    (void)cal_prop_time(p, &t);
    return utc_of(w, p, t);
}

/* The value a RECURRENCE-ID or EXDATE of the instance originally at `t` takes: the form of
 * the master's DTSTART. */
static struct cal_time instance_value(const struct wr *w, int64_t t)
{
    struct cal_time st;
    if (cal_prop_time(cal_prop_first(w->master, CAL_PROP_DTSTART), &st) && st.is_date) {
        return date_of(w, t, false);
    }
    return local_of(w, t);
}

/* ---------------------------------------------------------------------------------------- */
/* Field writers, shared by the master and overrides */

static void set_text(struct cal_node *c, enum cal_prop_kind kind, const char *v)
{
    cal_prop_remove_all(c, kind);
    if (!v || !*v) {
        return;
    }
    cal_prop_add_text(c, kind, v);
}

static void set_busy(struct cal_node *c, int busy)
{
    static const char *const names[] = {"FREE", "TENTATIVE", "BUSY", "OOF", "WORKINGELSEWHERE"};
    if (busy < 0 || busy > 4) {
        busy = 2; /* §4.2: unknown values are busy */
    }
    cal_prop_remove_all(c, CAL_PROP_TRANSP);
    cal_prop_add_text(c, CAL_PROP_TRANSP, busy == 0 ? "TRANSPARENT" : "OPAQUE");
    set_x(c, "X-MICROSOFT-CDO-BUSYSTATUS", names[busy]);
}

static void clear_busy(struct cal_node *c)
{
    cal_prop_remove_all(c, CAL_PROP_TRANSP);
    cal_prop_remove_x(c, "X-MICROSOFT-CDO-BUSYSTATUS");
}

static int set_sensitivity(struct wr *w, struct cal_node *c, int s)
{
    static const char *const classes[] = {"PUBLIC", "PRIVATE", "PRIVATE", "CONFIDENTIAL"};

    if (s < 0 || s > 3) {
        return err_set(w->err, &eas_cond_calmap_invalid, "Sensitivity %d is not 0-3", s);
    }
    cal_prop_remove_all(c, CAL_PROP_CLASS);
    cal_prop_remove_x(c, "X-EAS-SENSITIVITY");
    cal_prop_add_text(c, CAL_PROP_CLASS, classes[s]);
    if (s == 1) {
        set_x(c, "X-EAS-SENSITIVITY", "1"); /* personal, which CLASS cannot say (§4.2) */
    }
    return 0;
}

static void clear_sensitivity(struct cal_node *c)
{
    cal_prop_remove_all(c, CAL_PROP_CLASS);
    cal_prop_remove_x(c, "X-EAS-SENSITIVITY");
}

static void clear_alarms(struct cal_node *c)
{
    struct cal_node *a;
    while ((a = cal_node_first(c, CAL_NODE_VALARM)) != NULL) {
        cal_node_remove(c, a);
    }
}

static bool is_action(struct cal_node *alarm, const char *action)
{
    const char *v = cal_prop_text(cal_prop_first(alarm, CAL_PROP_ACTION));
    return v && strcasecmp(v, action) == 0;
}

/* §4.2: the first DISPLAY VALARM gets TRIGGER;RELATED=START:-PT<n>M; one is made if none. */
static int set_reminder(struct wr *w, struct cal_node *c, int minutes)
{
    if (minutes < 0 || minutes > EAS_CALMAP_MAX_REMINDER) {
        return err_set(w->err, &eas_cond_calmap_invalid, "Reminder %d is not 0-%d", minutes,
                       EAS_CALMAP_MAX_REMINDER);
    }
    struct cal_node *alarm = NULL;
    for (struct cal_node *a = cal_node_first(c, CAL_NODE_VALARM); a;
         a = cal_node_next(c, CAL_NODE_VALARM)) {
        if (is_action(a, "DISPLAY")) {
            alarm = a;
            break;
        }
    }
    if (!alarm) {
        alarm = cal_node_new(CAL_NODE_VALARM);
        cal_prop_add_text(alarm, CAL_PROP_ACTION, "DISPLAY");
        cal_prop_add_text(alarm, CAL_PROP_DESCRIPTION, "Reminder");
        cal_node_add(c, alarm);
    }
    cal_prop_remove_all(alarm, CAL_PROP_TRIGGER);
    cal_prop_add_trigger(alarm, -(int64_t)minutes * 60);
    return 0;
}

static void set_organizer(struct wr *w, struct cal_node *c, const char *name, const char *email)
{
    cal_prop_remove_all(c, CAL_PROP_ORGANIZER);
    if (!email || !*email) {
        return;
    }
    struct cal_prop *p =
        cal_prop_add_text(c, CAL_PROP_ORGANIZER, arena_printf(w->arena, "mailto:%s", email));
    if (name && *name) {
        cal_prop_set_param(p, CAL_PARAM_CN, name);
    }
}

static const char *mailto(const char *v)
{
    if (v && strncasecmp(v, "mailto:", 7) == 0) {
        return v + 7;
    }
    return v ? v : "";
}

/* The ATTENDEE of `c` for `email`, removed from `c` (the caller re-adds or frees it). */
static struct cal_prop *take_attendee(struct cal_node *c, const char *email)
{
    for (struct cal_prop *p = cal_prop_first(c, CAL_PROP_ATTENDEE); p;
         p = cal_prop_next(c, CAL_PROP_ATTENDEE)) {
        if (strcasecmp(mailto(cal_prop_text(p)), email) == 0) {
            cal_prop_take(c, p);
            return p;
        }
    }
    return NULL;
}

static int set_status_param(struct wr *w, struct cal_prop *p, int status)
{
    const char *ps;
    switch (status) {
    case EAS_CALMAP_STATUS_UNKNOWN:
    case EAS_CALMAP_STATUS_NOT_RESPONDED:
        ps = "NEEDS-ACTION";
        break;
    case EAS_CALMAP_STATUS_TENTATIVE:
        ps = "TENTATIVE";
        break;
    case EAS_CALMAP_STATUS_ACCEPTED:
        ps = "ACCEPTED";
        break;
    case EAS_CALMAP_STATUS_DECLINED:
        ps = "DECLINED";
        break;
    default:
        return err_set(w->err, &eas_cond_calmap_invalid, "AttendeeStatus %d is not 0, 2-5", status);
    }
    if (eas_calmap_attendee_status(p) == status) {
        return 0; /* keeps DELEGATED (0) and an absent PARTSTAT (0) as stored */
    }
    cal_prop_set_param(p, CAL_PARAM_PARTSTAT, status != EAS_CALMAP_STATUS_UNKNOWN ? ps : NULL);
    return 0;
}

static int set_type_param(struct wr *w, struct cal_prop *p, int type)
{
    if (type == 0 || eas_calmap_attendee_type(p) == type) {
        return 0; /* keeps CHAIR, NON-PARTICIPANT and ROOM, which map to the same type */
    }
    if (type < 1 || type > 3) {
        return err_set(w->err, &eas_cond_calmap_invalid, "AttendeeType %d is not 1-3", type);
    }
    cal_prop_set_param(p, CAL_PARAM_CUTYPE, NULL);
    cal_prop_set_param(p, CAL_PARAM_ROLE, NULL);
    if (type == EAS_CALMAP_TYPE_RESOURCE) {
        cal_prop_set_param(p, CAL_PARAM_CUTYPE, "RESOURCE");
    } else {
        cal_prop_set_param(p, CAL_PARAM_ROLE,
                           type == EAS_CALMAP_TYPE_OPTIONAL ? "OPT-PARTICIPANT"
                                                            : "REQ-PARTICIPANT");
    }
    return 0;
}

/* Replaces the attendees of `c` by `a`, each starting from the stored ATTENDEE of the same
 * address so that parameters EAS does not carry (RSVP, CHAIR, ROOM, DELEGATED-TO) stay. */
static int
set_attendees(struct wr *w, struct cal_node *c, const struct eas_calmap_attendee *a, size_t n)
{
    struct cal_node *keep = cal_node_new(CAL_NODE_VEVENT);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *email = a[i].email ? a[i].email : "";
        struct cal_prop *p = take_attendee(c, email);
        if (!p) {
            p = take_attendee(keep, email); /* a duplicate in the list: one ATTENDEE */
        }
        if (p) {
            cal_prop_put(keep, p);
        } else {
            p = cal_prop_add_text(keep, CAL_PROP_ATTENDEE,
                                  arena_printf(w->arena, "mailto:%s", email));
        }
        cal_prop_set_param(p, CAL_PARAM_CN, a[i].name && *a[i].name ? a[i].name : NULL);
        rc = set_status_param(w, p, a[i].status);
        if (rc == 0) {
            rc = set_type_param(w, p, a[i].type);
        }
    }
    cal_prop_remove_all(c, CAL_PROP_ATTENDEE);
    struct cal_prop *p;
    while ((p = cal_prop_first(keep, CAL_PROP_ATTENDEE)) != NULL) {
        cal_prop_take(keep, p);
        cal_prop_put(c, p);
    }
    cal_node_free(keep);
    return rc;
}

static void set_rsvp(struct cal_node *c, bool rsvp)
{
    for (struct cal_prop *p = cal_prop_first(c, CAL_PROP_ATTENDEE); p;
         p = cal_prop_next(c, CAL_PROP_ATTENDEE)) {
        cal_prop_set_param(p, CAL_PARAM_RSVP, rsvp ? "TRUE" : "FALSE");
    }
}

static void set_categories(struct cal_node *c, const char *const *v, size_t n)
{
    cal_prop_remove_all(c, CAL_PROP_CATEGORIES);
    for (size_t i = 0; i < n; i++) {
        if (v[i] && *v[i]) {
            cal_prop_add_text(c, CAL_PROP_CATEGORIES, v[i]);
        }
    }
}

static int set_meeting_status(struct wr *w, struct cal_node *c, int ms)
{
    if (ms < 0 || ms > 15) {
        return err_set(w->err, &eas_cond_calmap_invalid, "MeetingStatus %d is not 0-15", ms);
    }
    const char *st = cal_prop_text(cal_prop_first(c, CAL_PROP_STATUS));
    bool cancelled = st && strcasecmp(st, "CANCELLED") == 0;
    if (ms & 4) {
        cal_prop_remove_all(c, CAL_PROP_STATUS);
        cal_prop_add_text(c, CAL_PROP_STATUS, "CANCELLED");
    } else if (cancelled) {
        cal_prop_remove_all(c, CAL_PROP_STATUS);
    }
    return 0;
}

static int set_dtstamp(struct wr *w, struct cal_node *c, const char *v)
{
    int64_t t;
    if (parse_time(w, "DtStamp", v, &t)) {
        return -1;
    }
    cal_prop_remove_all(c, CAL_PROP_DTSTAMP);
    cal_prop_add_time(c, CAL_PROP_DTSTAMP, cal_time_of(t, NULL), NULL);
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Times of one component */

/* DTSTART/DTEND of `c` for the instant pair [s, e] (all-day: local dates), DURATION gone. */
static void write_span(const struct wr *w, struct cal_node *c, bool all_day, int64_t s, int64_t e)
{
    cal_prop_remove_all(c, CAL_PROP_DURATION);
    if (all_day) {
        struct cal_time ds = date_of(w, s, false);
        struct cal_time de = date_of(w, e, true);
        if (e > s && (e - s) % DAY == 0) {
            /* a length kept in whole days stays whole days across a DST change */
            de = cal_time_add_days(ds, (int)((e - s) / DAY));
        }
        if (cal_time_compare(de, ds) <= 0) {
            de = cal_time_add_days(ds, 1);
        }
        set_time(w, c, CAL_PROP_DTSTART, ds);
        set_time(w, c, CAL_PROP_DTEND, de);
    } else {
        set_time(w, c, CAL_PROP_DTSTART, local_of(w, s));
        set_time(w, c, CAL_PROP_DTEND, local_of(w, e));
    }
}

/* The start and length in seconds of `c` as stored. */
static void
stored_span(const struct wr *w, struct cal_node *c, int64_t *s, int64_t *len, bool *all_day)
{
    struct cal_prop *sp = cal_prop_first(c, CAL_PROP_DTSTART);
    struct cal_time st = {0};
    (void)cal_prop_time(sp, &st);
    *all_day = st.is_date;
    *s = sp ? utc_of(w, sp, st) : 0;
    struct cal_zone *z = sp ? cal_prop_zone(w->doc, sp) : NULL;
    int64_t s0 = cal_time_to_unix(st, z);
    int64_t e = sp ? cal_node_end(w->doc, c, st, z, s0) - s0 : 0;
    *len = e > 0 ? e : 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Overrides */

static struct cal_node *find_override(const struct wr *w, int64_t rid)
{
    for (struct cal_node *c = cal_node_first(w->root, CAL_NODE_VEVENT); c;
         c = cal_node_next(w->root, CAL_NODE_VEVENT)) {
        struct cal_prop *rp = cal_prop_first(c, CAL_PROP_RECURRENCEID);
        if (c != w->master && rp && prop_utc(w, rp) == rid) {
            return c;
        }
    }
    return NULL;
}

static void remove_overrides(struct wr *w)
{
    for (struct cal_node *c = cal_node_first(w->root, CAL_NODE_VEVENT); c;) {
        struct cal_node *next = cal_node_next(w->root, CAL_NODE_VEVENT);
        if (c != w->master) {
            cal_node_remove(w->root, c);
        }
        c = next;
    }
}

/* A new override of the instance originally at `rid`: the master without its rule. */
static struct cal_node *new_override(struct wr *w, int64_t rid)
{
    struct cal_node *c = cal_node_clone(w->master);
    cal_prop_remove_all(c, CAL_PROP_RRULE);
    cal_prop_remove_all(c, CAL_PROP_RDATE);
    cal_prop_remove_all(c, CAL_PROP_EXDATE);
    cal_prop_remove_all(c, CAL_PROP_EXRULE);
    int64_t s, len;
    bool all_day;
    stored_span(w, w->master, &s, &len, &all_day);
    set_time(w, c, CAL_PROP_RECURRENCEID, instance_value(w, rid));
    write_span(w, c, all_day, rid, rid + len);
    cal_node_add(w->root, c);
    return c;
}

/* Applies the present fields of `x` to override `c`. */
static int apply_exception(struct wr *w, struct cal_node *c, const struct eas_calmap_exception *x)
{
    uint32_t f = x->present;
    if (f & (EAS_CALMAP_STARTTIME | EAS_CALMAP_ENDTIME | EAS_CALMAP_ALLDAY)) {
        int64_t s, len;
        bool all_day;
        stored_span(w, c, &s, &len, &all_day);
        if ((f & EAS_CALMAP_STARTTIME) && parse_time(w, "Exception StartTime", x->start_time, &s)) {
            return -1;
        }
        int64_t e = s + len;
        if ((f & EAS_CALMAP_ENDTIME) && parse_time(w, "Exception EndTime", x->end_time, &e)) {
            return -1;
        }
        if (e < s) {
            return err_set(w->err, &eas_cond_calmap_invalid,
                           "Exception EndTime %s is before its StartTime", x->end_time);
        }
        write_span(w, c, f & EAS_CALMAP_ALLDAY ? x->all_day : all_day, s, e);
    }
    if (f & EAS_CALMAP_SUBJECT) {
        set_text(c, CAL_PROP_SUMMARY, x->subject);
    }
    if (f & EAS_CALMAP_LOCATION) {
        set_text(c, CAL_PROP_LOCATION, x->location);
    }
    if (f & EAS_CALMAP_BODY) {
        set_text(c, CAL_PROP_DESCRIPTION, x->body);
        cal_prop_remove_x(c, "X-ALT-DESC");
    }
    if (f & EAS_CALMAP_BUSYSTATUS) {
        set_busy(c, x->busy_status);
    }
    if ((f & EAS_CALMAP_SENSITIVITY) && set_sensitivity(w, c, x->sensitivity)) {
        return -1;
    }
    if ((f & EAS_CALMAP_REMINDER) && set_reminder(w, c, x->reminder)) {
        return -1;
    }
    if (f & EAS_CALMAP_CATEGORIES) {
        set_categories(c, x->categories, x->ncategories);
    }
    if ((f & EAS_CALMAP_ATTENDEES) && set_attendees(w, c, x->attendees, x->nattendees)) {
        return -1;
    }
    if ((f & EAS_CALMAP_MEETINGSTATUS) && set_meeting_status(w, c, x->meeting_status)) {
        return -1;
    }
    if ((f & EAS_CALMAP_DTSTAMP) && set_dtstamp(w, c, x->dtstamp)) {
        return -1;
    }
    return 0;
}

static bool has_exdate(const struct wr *w, int64_t t)
{
    for (struct cal_prop *p = cal_prop_first(w->master, CAL_PROP_EXDATE); p;
         p = cal_prop_next(w->master, CAL_PROP_EXDATE)) {
        if (prop_utc(w, p) == t) {
            return true;
        }
    }
    return false;
}

/* The instance originally at `t` is deleted: an EXDATE, and no override. */
static void delete_instance(struct wr *w, int64_t t)
{
    struct cal_node *ov = find_override(w, t);
    if (ov) {
        cal_node_remove(w->root, ov);
    }
    if (!has_exdate(w, t)) {
        add_time(w, w->master, CAL_PROP_EXDATE, instance_value(w, t));
    }
}

/* Exceptions present: they replace every override and EXDATE (§4.6). */
static int write_exceptions(struct wr *w, const struct eas_calmap_event *ev)
{
    remove_overrides(w);
    cal_prop_remove_all(w->master, CAL_PROP_EXDATE);
    for (size_t i = 0; i < ev->nexceptions; i++) {
        const struct eas_calmap_exception *x = &ev->exceptions[i];
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
static struct cal_zone *stored_zone(const struct wr *w, const char **tzid_out)
{
    struct cal_prop *sp = cal_prop_first(w->master, CAL_PROP_DTSTART);
    if (!sp) {
        return NULL;
    }
    const char *tzid = cal_prop_param(sp, CAL_PARAM_TZID);
    struct cal_zone *z = cal_prop_zone(w->doc, sp);
    if (!tzid || !z || z == cal_zone_utc()) {
        return NULL;
    }
    *tzid_out = arena_strdup(w->arena, tzid); /* outlives DTSTART */
    return z;
}

/* The series' zone: the blob's when sent (the stored zone when its rules are the blob's),
 * else the stored one, else UTC. The blob holds the rules of one year (§4.3.1 step 2):
 * that of the StartTime, or of now for a series still running, so both are tried. */
static int pick_zone(struct wr *w, const struct eas_calmap_event *ev, int year)
{
    const char *old_tzid = NULL;
    struct cal_zone *old = stored_zone(w, &old_tzid);
    w->zone = old;
    w->tzid = old_tzid;
    if (!(ev->present & EAS_CALMAP_TIMEZONE)) {
        return 0;
    }
    struct eas_calmap_tz tz;
    if (eas_calmap_tz_decode(slice_from_cstr(ev->timezone), &tz, w->err)) {
        return -1;
    }
    int years[2] = {year, cal_time_of(time_now(), NULL).year};
    const char *tzid;
    struct slice vtz;
    eas_calmap_tz_to_vtimezone(&tz, years[0], w->arena, &tzid, &vtz);
    if (strncmp(tzid, "EAS-", 4) == 0 && years[1] != years[0]) {
        const char *tzid2;
        struct slice vtz2;
        eas_calmap_tz_to_vtimezone(&tz, years[1], w->arena, &tzid2, &vtz2);
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
        struct eas_calmap_tz cur;
        eas_calmap_tz_from_zone(old, old_tzid, years[i], &cur);
        if (eas_calmap_tz_equal(&cur, &tz)) {
            /* the client echoed the stored zone: keep its TZID and its full history (a
             * VTIMEZONE built from the blob holds one year's rules only) */
            w->date_zone = old;
            return 0;
        }
    }
    if (!cal_doc_has_zone(w->doc, tzid) && cal_doc_add_zone(w->doc, vtz.ptr, w->err) != 0) {
        return -1; /* screened like any zone before a time is converted in it */
    }
    w->zone = w->date_zone = cal_doc_zone(w->doc, tzid);
    w->tzid = tzid;
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* The master */

/* DTSTART, DTEND and AllDayEvent; *moved when the series now starts elsewhere. */
static int write_times(struct wr *w, const struct eas_calmap_event *ev, bool *moved)
{
    uint32_t f = ev->present;
    bool has_start = cal_prop_first(w->master, CAL_PROP_DTSTART) != NULL;
    int64_t s0 = 0, len = 0;
    bool all_day0 = false;
    if (has_start) {
        stored_span(w, w->master, &s0, &len, &all_day0);
    }
    *moved = false;
    if (!(f &
          (EAS_CALMAP_STARTTIME | EAS_CALMAP_ENDTIME | EAS_CALMAP_ALLDAY | EAS_CALMAP_TIMEZONE))) {
        if (!has_start) {
            return err_set(w->err, &eas_cond_calmap_invalid, "StartTime is missing");
        }
        return 0;
    }
    int64_t s = s0;
    if (f & EAS_CALMAP_STARTTIME) {
        if (parse_time(w, "StartTime", ev->start_time, &s)) {
            return -1;
        }
    } else if (!has_start) {
        return err_set(w->err, &eas_cond_calmap_invalid, "StartTime is missing");
    }
    int64_t e = s + len;
    if ((f & EAS_CALMAP_ENDTIME) && parse_time(w, "EndTime", ev->end_time, &e)) {
        return -1;
    }
    if (e < s) {
        return err_set(w->err, &eas_cond_calmap_invalid, "EndTime %s is before StartTime %s",
                       ev->end_time ? ev->end_time : "", ev->start_time ? ev->start_time : "");
    }
    bool all_day = f & EAS_CALMAP_ALLDAY ? ev->all_day : all_day0;
    *moved = has_start && (s != s0 || all_day != all_day0);
    write_span(w, w->master, all_day, s, e);
    return 0;
}

/* Recurrence: an RRULE in the form of DTSTART (UNTIL a DATE for all-day, else UTC). */
static int write_recurrence(struct wr *w, const struct eas_calmap_event *ev)
{
    struct cal_time st = {0};
    (void)cal_prop_time(cal_prop_first(w->master, CAL_PROP_DTSTART), &st);
    struct cal_time until;
    const struct eas_calmap_recurrence *rec = &ev->recurrence;
    bool has_until = rec->present & EAS_CALMAP_R_UNTIL;
    if (has_until) {
        int64_t u;
        if (parse_time(w, "Recurrence Until", rec->until, &u)) {
            return -1;
        }
        until = st.is_date ? date_of(w, u, false) : cal_time_of(u, NULL);
    }
    struct cal_rrule *r = arena_alloc(w->arena, sizeof(*r));
    if (eas_calmap_recur_to_rrule(rec, st, has_until ? &until : NULL, r, w->err)) {
        return -1;
    }
    cal_prop_remove_all(w->master, CAL_PROP_RRULE);
    if (!cal_prop_add_rrule(w->master, r)) {
        return err_set(w->err, &eas_cond_calmap_invalid, "Recurrence makes no RRULE");
    }
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

/* LOCATION (with ALTREP from LocationUri) and, when both are sent, GEO; the other 16.x
 * B:Location children in X-EAS-LOCATION (§4.2). A client that sends only the display name
 * (≤14.1 C:Location) leaves GEO and X-EAS-LOCATION as stored; a 16.x container replaces
 * them. */
static int set_location(struct wr *w, struct cal_node *m, const struct eas_calmap_event *ev)
{
    set_text(m, CAL_PROP_LOCATION, ev->location);
    struct cal_prop *lp = cal_prop_first(m, CAL_PROP_LOCATION);
    if (lp && ev->location_uri && *ev->location_uri) {
        cal_prop_set_param(lp, CAL_PARAM_ALTREP, ev->location_uri);
    }
    if (ev->latitude || ev->longitude) {
        double lat, lon;
        if (parse_degrees(ev->latitude, 90, &lat) || parse_degrees(ev->longitude, 180, &lon)) {
            return err_set(w->err, &eas_cond_calmap_invalid,
                           "Location Latitude %s / Longitude %s are not degrees",
                           ev->latitude ? ev->latitude : "(missing)",
                           ev->longitude ? ev->longitude : "(missing)");
        }
        cal_prop_remove_all(m, CAL_PROP_GEO);
        cal_prop_add_geo(m, lat, lon);
    } else if (ev->location_full) {
        cal_prop_remove_all(m, CAL_PROP_GEO);
    }

    static const enum eas_calmap_loc_field numbers[] = {
        EAS_CALMAP_LOC_ACCURACY, EAS_CALMAP_LOC_ALTITUDE, EAS_CALMAP_LOC_ALTITUDEACCURACY};

    for (size_t i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++) {
        const char *v = ev->loc[numbers[i]];
        double d;
        if (v && parse_degrees(v, 1e9, &d)) {
            return err_set(w->err, &eas_cond_calmap_invalid, "Location %s %s is not a number",
                           eas_calmap_loc_name(numbers[i]), v);
        }
    }
    const char *json = eas_calmap_loc_to_json(ev->loc, w->arena);
    if (json) {
        set_x(m, "X-EAS-LOCATION", json);
    } else if (ev->location_full) {
        cal_prop_remove_x(m, "X-EAS-LOCATION");
    }
    return 0;
}

/* Every mapped field of the master but times, recurrence and exceptions. */
static int write_fields(struct wr *w, const struct eas_calmap_event *ev, uint32_t keep)
{
    struct cal_node *m = w->master;
    uint32_t f = ev->present;
    uint32_t drop = ~f & ~keep;
    if (f & EAS_CALMAP_SUBJECT) {
        set_text(m, CAL_PROP_SUMMARY, ev->subject);
    } else if (drop & EAS_CALMAP_SUBJECT) {
        cal_prop_remove_all(m, CAL_PROP_SUMMARY);
    }
    if (f & EAS_CALMAP_LOCATION) {
        if (set_location(w, m, ev)) {
            return -1;
        }
    } else if (drop & EAS_CALMAP_LOCATION) {
        cal_prop_remove_all(m, CAL_PROP_LOCATION);
    }
    if (f & EAS_CALMAP_BODY) {
        set_text(m, CAL_PROP_DESCRIPTION, ev->body);
        cal_prop_remove_x(m, "X-ALT-DESC");
        if (ev->body_html && *ev->body_html) {
            struct cal_prop *p = cal_prop_add_x(m, "X-ALT-DESC", ev->body_html);
            cal_prop_set_param(p, CAL_PARAM_FMTTYPE, "text/html");
        }
    } else if (drop & EAS_CALMAP_BODY) {
        cal_prop_remove_all(m, CAL_PROP_DESCRIPTION);
        cal_prop_remove_x(m, "X-ALT-DESC");
    }
    if (f & EAS_CALMAP_BUSYSTATUS) {
        set_busy(m, ev->busy_status);
    } else if (drop & EAS_CALMAP_BUSYSTATUS) {
        clear_busy(m);
    }
    if (f & EAS_CALMAP_SENSITIVITY) {
        if (set_sensitivity(w, m, ev->sensitivity)) {
            return -1;
        }
    } else if (drop & EAS_CALMAP_SENSITIVITY) {
        clear_sensitivity(m);
    }
    if (f & EAS_CALMAP_REMINDER) {
        if (set_reminder(w, m, ev->reminder)) {
            return -1;
        }
    } else if (drop & EAS_CALMAP_REMINDER) {
        clear_alarms(m);
    }
    if (f & EAS_CALMAP_ORGANIZER) {
        set_organizer(w, m, ev->organizer_name, ev->organizer_email);
    } else if (drop & EAS_CALMAP_ORGANIZER) {
        cal_prop_remove_all(m, CAL_PROP_ORGANIZER);
    }
    if (f & EAS_CALMAP_ATTENDEES) {
        if (set_attendees(w, m, ev->attendees, ev->nattendees)) {
            return -1;
        }
    } else if (drop & EAS_CALMAP_ATTENDEES) {
        cal_prop_remove_all(m, CAL_PROP_ATTENDEE);
    }
    if (f & EAS_CALMAP_RESPONSEREQUESTED) {
        set_rsvp(m, ev->response_requested);
    }
    if (f & EAS_CALMAP_CATEGORIES) {
        set_categories(m, ev->categories, ev->ncategories);
    } else if (drop & EAS_CALMAP_CATEGORIES) {
        cal_prop_remove_all(m, CAL_PROP_CATEGORIES);
    }
    if ((f & EAS_CALMAP_MEETINGSTATUS) && set_meeting_status(w, m, ev->meeting_status)) {
        return -1;
    }
    if (f & EAS_CALMAP_DISALLOWNEWTIMEPROPOSAL) {
        set_x(m, "X-MICROSOFT-DISALLOW-COUNTER", ev->disallow_new_time_proposal ? "TRUE" : "FALSE");
    } else if (drop & EAS_CALMAP_DISALLOWNEWTIMEPROPOSAL) {
        cal_prop_remove_x(m, "X-MICROSOFT-DISALLOW-COUNTER");
    }
    if (f & EAS_CALMAP_DTSTAMP) {
        if (set_dtstamp(w, m, ev->dtstamp)) {
            return -1;
        }
    } else if (!cal_prop_first(m, CAL_PROP_DTSTAMP)) {
        cal_prop_add_time(m, CAL_PROP_DTSTAMP, cal_time_of(time_now(), NULL), NULL);
    }
    return 0;
}

/* The texts an exception inherits when it does not override them (MS-ASCAL 2.2.2.21). */
static const enum cal_prop_kind inherited[] = {CAL_PROP_SUMMARY, CAL_PROP_LOCATION,
                                               CAL_PROP_DESCRIPTION};

#define NINHERITED (sizeof(inherited) / sizeof(inherited[0]))

/* Text value of property `kind` of `c` in the arena, or NULL. */
static const char *text_copy(struct wr *w, struct cal_node *c, enum cal_prop_kind kind)
{
    const char *v = cal_prop_text(cal_prop_first(c, kind));
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
        for (struct cal_node *c = cal_node_first(w->root, CAL_NODE_VEVENT); c;
             c = cal_node_next(w->root, CAL_NODE_VEVENT)) {
            if (c != w->master && same_text(text_copy(w, c, inherited[i]), old[i])) {
                set_text(c, inherited[i], now);
            }
        }
    }
}

static int write_uid(struct wr *w, const struct eas_calmap_event *ev, const char *uid_if_missing)
{
    const char *uid = ev->present & EAS_CALMAP_UID ? ev->uid : NULL;
    if (!uid || !*uid) {
        uid = cal_node_uid(w->master);
    }
    if (!uid || !*uid) {
        uid = uid_if_missing;
    }
    if (!uid || !*uid) {
        return err_set(w->err, &eas_cond_calmap_invalid, "UID is missing");
    }
    if (strlen(uid) > EAS_CALMAP_MAX_UID) {
        return err_set(w->err, &eas_cond_calmap_invalid, "UID of %zu characters exceeds %d",
                       strlen(uid), EAS_CALMAP_MAX_UID);
    }
    char *copy = arena_strdup(w->arena, uid); /* `uid` may point into the component */
    for (struct cal_node *c = cal_node_first(w->root, CAL_NODE_VEVENT); c;
         c = cal_node_next(w->root, CAL_NODE_VEVENT)) {
        cal_node_set_uid(c, copy);
    }
    return 0;
}

/* Serialises the document and checks it as cal would on PUT. */
static int finish(struct wr *w, struct slice *ics_out)
{
    cal_doc_prune_zones(w->doc);
    struct slice s;
    cal_doc_text(w->doc, w->arena, &s);
    struct cal_info info;
    struct err e;
    err_init(&e);
    if (cal_parse_object(s, CAL_COMP_VEVENT, w->arena, &info, &e) != 0) {
        return err_set(w->err, &eas_cond_calmap_invalid, "the item is no valid calendar object: %s",
                       e.msg);
    }
    *ics_out = s;
    return 0;
}

static struct cal_doc *new_calendar(void)
{
    struct cal_doc *doc = cal_doc_new("-//Almanac//ActiveSync//EN");
    cal_node_add(cal_doc_root(doc), cal_node_new(CAL_NODE_VEVENT));
    return doc;
}

static int start_year(const struct eas_calmap_event *ev)
{
    int64_t t = time_now();
    if (ev->present & EAS_CALMAP_STARTTIME) {
        (void)eas_calmap_parse_time(ev->start_time, &t);
    }
    return cal_time_of(t, NULL).year;
}

/* Arrays whose count is set must be there (a caller's bug, but never a crash). */
static int check_arrays(const struct eas_calmap_event *ev, struct err *err)
{
    if ((ev->nattendees && !ev->attendees) || (ev->ncategories && !ev->categories) ||
        (ev->nexceptions && !ev->exceptions)) {
        return err_set(err, &eas_cond_calmap_invalid,
                       "a list of the item has a count but no items");
    }
    for (size_t i = 0; i < ev->nexceptions; i++) {
        const struct eas_calmap_exception *x = &ev->exceptions[i];
        if ((x->nattendees && !x->attendees) || (x->ncategories && !x->categories)) {
            return err_set(err, &eas_cond_calmap_invalid,
                           "a list of Exception %zu has a count but no items", i);
        }
    }
    return 0;
}

/* The master's RRULE as text in the arena, or NULL. */
static const char *rrule_text(struct wr *w)
{
    return cal_prop_value(cal_prop_first(w->master, CAL_PROP_RRULE), w->arena);
}

int eas_calmap_to_ical(const struct eas_calmap_event *ev,
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
    w.doc = existing.len ? cal_doc_parse(existing, arena, err) : new_calendar();
    if (!w.doc) {
        return -1;
    }
    int rc = -1;
    w.root = cal_doc_root(w.doc);
    w.master = cal_doc_master(w.doc);
    if (!w.master) {
        err_set(err, &eas_cond_calmap_unsupported, "stored object holds no VEVENT");
        goto out;
    }
    bool moved;
    const char *old_texts[NINHERITED];
    for (size_t i = 0; i < NINHERITED; i++) {
        old_texts[i] = text_copy(&w, w.master, inherited[i]);
    }
    const char *old_rule = rrule_text(&w);
    if (pick_zone(&w, ev, start_year(ev)) || write_times(&w, ev, &moved) ||
        write_fields(&w, ev, keep_absent) || write_uid(&w, ev, uid_if_missing)) {
        goto out;
    }
    if (ev->present & EAS_CALMAP_RECURRENCE) {
        if (write_recurrence(&w, ev)) {
            goto out;
        }
    } else if (!(keep_absent & EAS_CALMAP_RECURRENCE)) {
        cal_prop_remove_all(w.master, CAL_PROP_RRULE);
    }
    const char *new_rule = rrule_text(&w);
    bool reshaped = moved || !old_rule != !new_rule ||
                    (old_rule && new_rule && strcmp(old_rule, new_rule) != 0);
    if (ev->present & EAS_CALMAP_EXCEPTIONS) {
        if (write_exceptions(&w, ev)) {
            goto out;
        }
    } else if (!(keep_absent & EAS_CALMAP_EXCEPTIONS) || reshaped || !new_rule) {
        /* a new pattern or start drops the exceptions (MS-ASCAL 3.1.5.3, §4.6) */
        remove_overrides(&w);
        cal_prop_remove_all(w.master, CAL_PROP_EXDATE);
    } else {
        propagate(&w, old_texts);
    }
    rc = finish(&w, ics_out);
out:
    cal_doc_free(w.doc);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* 16.x single occurrences */

struct seek {
    const struct wr *w;
    struct cal_prop *dtstart;
    int64_t t;
    bool found;
};

/* One instance of the series: stops at the first at or after the instant sought. */
static int seek_instance(void *ctx, struct cal_time local, int64_t utc)
{
    struct seek *k = ctx;
    int64_t v = local.is_date ? utc_of(k->w, k->dtstart, local) : utc;
    if (v >= k->t) {
        k->found = v == k->t;
        return 1;
    }
    return 0;
}

/* Whether the series of the master has an instance originally at `t` (walks at most
 * CAL_MAX_INSTANCES instances of its RRULE). */
static bool is_instance(const struct wr *w, int64_t t)
{
    struct cal_prop *sp = cal_prop_first(w->master, CAL_PROP_DTSTART);
    if (prop_utc(w, sp) == t) {
        return true;
    }
    for (struct cal_prop *p = cal_prop_first(w->master, CAL_PROP_RDATE); p;
         p = cal_prop_next(w->master, CAL_PROP_RDATE)) {
        if (prop_utc(w, p) == t) {
            return true;
        }
    }
    struct seek k = {w, sp, t, false};
    (void)cal_node_instances(w->doc, w->master, seek_instance, &k);
    return k.found;
}

int eas_calmap_apply_instance(struct slice existing,
                              const char *instance_id,
                              const struct eas_calmap_exception *ex,
                              struct arena *arena,
                              struct slice *ics_out,
                              struct err *err)
{
    if (ex && ((ex->nattendees && !ex->attendees) || (ex->ncategories && !ex->categories))) {
        return err_set(err, &eas_cond_calmap_invalid,
                       "a list of the Exception has a count but no items");
    }
    struct wr w = {.arena = arena, .err = err};
    w.doc = cal_doc_parse(existing, arena, err);
    if (!w.doc) {
        return -1;
    }
    int rc = -1;
    w.root = cal_doc_root(w.doc);
    w.master = cal_doc_master(w.doc);
    int64_t t;
    if (!w.master || cal_prop_first(w.master, CAL_PROP_RECURRENCEID)) {
        err_set(err, &eas_cond_calmap_invalid, "InstanceId names no series");
        goto out;
    }
    if (parse_time(&w, "InstanceId", instance_id, &t)) {
        goto out;
    }
    w.zone = stored_zone(&w, &w.tzid);
    if (!cal_prop_first(w.master, CAL_PROP_RRULE) && !cal_prop_first(w.master, CAL_PROP_RDATE)) {
        err_set(err, &eas_cond_calmap_invalid, "InstanceId %s: the item does not recur",
                instance_id);
        goto out;
    }
    if (!find_override(&w, t) && !is_instance(&w, t)) {
        err_set(err, &eas_cond_calmap_invalid, "InstanceId %s names no instance of the series",
                instance_id);
        goto out;
    }
    if (!ex || ex->deleted) {
        delete_instance(&w, t);
    } else {
        struct cal_node *ov = find_override(&w, t);
        if (!ov) {
            ov = new_override(&w, t);
        }
        if (apply_exception(&w, ov, ex)) {
            goto out;
        }
    }
    rc = finish(&w, ics_out);
out:
    cal_doc_free(w.doc);
    return rc;
}
