/* cal/cal.c: validation of one calendar object resource and its index span (cal.h). The only
 * file that parses iCalendar. libical is lenient (it records X-LIC-ERROR properties instead of
 * failing), so every object is checked for recorded errors too. */
#include "cal/cal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libical/ical.h>

#define ERR_COND(sym, name, ns, http, eas) ERR_COND_DEFINE(sym, name, ns, http, eas)
#include "cal/conds.def"
#undef ERR_COND

/* libical 3.0's builtin time zone cache is not thread-safe. */
static pthread_mutex_t tz_lock = PTHREAD_MUTEX_INITIALIZER;

void cal_init(void)
{
    icalerror_set_errors_are_fatal(0);
}

void cal_shutdown(void)
{
    icaltimezone_free_builtin_timezones();
}

/* Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF), no NUL. */
static bool utf8_ok(struct slice s)
{
    const unsigned char *p = (const unsigned char *)s.ptr;
    size_t i = 0;
    while (i < s.len) {
        unsigned char c = p[i];
        size_t n;
        uint32_t cp;
        if (c == 0) {
            return false;
        } else if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            n = 2;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 3;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + n > s.len) {
            return false;
        }
        for (size_t k = 1; k < n; k++) {
            if ((p[i + k] & 0xC0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF)) {
            return false;
        }
        i += n;
    }
    return true;
}

static enum cal_comp comp_of(icalcomponent_kind k)
{
    switch (k) {
    case ICAL_VEVENT_COMPONENT:
        return CAL_COMP_VEVENT;
    case ICAL_VTODO_COMPONENT:
        return CAL_COMP_VTODO;
    case ICAL_VJOURNAL_COMPONENT:
        return CAL_COMP_VJOURNAL;
    default:
        return CAL_COMP_NONE;
    }
}

/* The zone a DATE-TIME of `prop` is in: its own VTIMEZONE, else libical's builtin one of that
 * name, else NULL (UTC, floating, DATE, or an unknown TZID, all read as UTC). */
static icaltimezone *zone_of(icalcomponent *root, icalproperty *prop, struct icaltimetype t)
{
    if (t.zone) {
        return (icaltimezone *)(uintptr_t)t.zone;
    }
    icalparameter *par = prop ? icalproperty_get_first_parameter(prop, ICAL_TZID_PARAMETER) : NULL;
    const char *tzid = par ? icalparameter_get_tzid(par) : NULL;
    if (!tzid) {
        return NULL;
    }
    icaltimezone *z = icalcomponent_get_timezone(root, tzid);
    if (!z) {
        pthread_mutex_lock(&tz_lock);
        z = icaltimezone_get_builtin_timezone(tzid);
        if (!z) {
            z = icaltimezone_get_builtin_timezone_from_tzid(tzid);
        }
        pthread_mutex_unlock(&tz_lock);
    }
    return z;
}

static int64_t to_utc(struct icaltimetype t, icaltimezone *zone)
{
    if (icaltime_is_utc(t) || icaltime_is_date(t) || !zone) {
        return (int64_t)icaltime_as_timet_with_zone(t, icaltimezone_get_utc_timezone());
    }
    return (int64_t)icaltime_as_timet_with_zone(t, zone);
}

struct span {
    bool any;
    int64_t start;
    int64_t end;
};

static void span_add(struct span *s, int64_t start, int64_t end)
{
    if (!s->any || start < s->start) {
        s->start = start;
    }
    if (!s->any || end > s->end) {
        s->end = end;
    }
    s->any = true;
}

/* Length of one instance of `c` in seconds: DTEND/DURATION, a day for a DATE, else 0. */
static int64_t
instance_length(icalcomponent *root, icalcomponent *c, struct icaltimetype start, int64_t start_utc)
{
    icalproperty *end_prop = icalcomponent_get_first_property(c, ICAL_DTEND_PROPERTY);
    if (!end_prop) {
        end_prop = icalcomponent_get_first_property(c, ICAL_DUE_PROPERTY);
    }
    if (end_prop) {
        struct icaltimetype e = icalproperty_get_dtend(end_prop);
        if (icalproperty_isa(end_prop) == ICAL_DUE_PROPERTY) {
            e = icalproperty_get_due(end_prop);
        }
        int64_t end_utc = to_utc(e, zone_of(root, end_prop, e));
        return end_utc > start_utc ? end_utc - start_utc : 0;
    }
    icalproperty *dur = icalcomponent_get_first_property(c, ICAL_DURATION_PROPERTY);
    if (dur) {
        int secs = icaldurationtype_as_int(icalproperty_get_duration(dur));
        return secs > 0 ? secs : 0;
    }
    return icaltime_is_date(start) ? 86400 : 0;
}

/* Adds the instances of one component (a master with its recurrence, or an override).
 * Returns -1 when its DTSTART is not a date or date-time. */
static int component_span(icalcomponent *root, icalcomponent *c, struct span *s, bool *recurring)
{
    icalproperty *sp = icalcomponent_get_first_property(c, ICAL_DTSTART_PROPERTY);
    if (!sp) {
        icalproperty *due = icalcomponent_get_first_property(c, ICAL_DUE_PROPERTY);
        if (due) {
            struct icaltimetype d = icalproperty_get_due(due);
            int64_t du = to_utc(d, zone_of(root, due, d));
            span_add(s, du, du);
        } else if (icalcomponent_isa(c) == ICAL_VTODO_COMPONENT) {
            span_add(s, INT64_MIN, INT64_MAX); /* RFC 4791 §9.9: an undated task matches all */
        }
        return 0;
    }
    struct icaltimetype start = icalproperty_get_dtstart(sp);
    if (icaltime_is_null_time(start) || !icaltime_is_valid_time(start)) {
        return -1; /* libical keeps a value it could not read as a null time */
    }
    icaltimezone *zone = zone_of(root, sp, start);
    int64_t start_utc = to_utc(start, zone);
    int64_t len = instance_length(root, c, start, start_utc);
    span_add(s, start_utc, start_utc + len);
    for (icalproperty *rd = icalcomponent_get_first_property(c, ICAL_RDATE_PROPERTY); rd;
         rd = icalcomponent_get_next_property(c, ICAL_RDATE_PROPERTY)) {
        struct icaldatetimeperiodtype dp = icalproperty_get_rdate(rd);
        struct icaltimetype t = icaltime_is_null_time(dp.time) ? dp.period.start : dp.time;
        int64_t u = to_utc(t, zone_of(root, rd, t));
        span_add(s, u, u + len);
        *recurring = true;
    }
    icalproperty *rr = icalcomponent_get_first_property(c, ICAL_RRULE_PROPERTY);
    if (!rr) {
        return 0;
    }
    *recurring = true;
    struct icalrecurrencetype rule = icalproperty_get_rrule(rr);
    if (rule.count == 0 && icaltime_is_null_time(rule.until)) {
        s->end = INT64_MAX;
        return 0;
    }
    icalrecur_iterator *it = icalrecur_iterator_new(rule, start);
    if (!it) {
        s->end = INT64_MAX;
        return 0;
    }
    struct icaltimetype last = icaltime_null_time();
    int n = 0;
    for (struct icaltimetype t = icalrecur_iterator_next(it); !icaltime_is_null_time(t);
         t = icalrecur_iterator_next(it)) {
        if (++n > CAL_MAX_INSTANCES || t.year > CAL_MAX_YEAR) {
            last = icaltime_null_time();
            s->end = INT64_MAX;
            break;
        }
        last = t;
    }
    icalrecur_iterator_free(it);
    if (!icaltime_is_null_time(last) && s->end != INT64_MAX) {
        int64_t u = to_utc(last, zone);
        span_add(s, u, u + len);
    }
    return 0;
}

/* Checks the components below VCALENDAR; fills comp, uid and the span. */
static int check_components(icalcomponent *root,
                            unsigned allowed,
                            struct arena *arena,
                            struct cal_info *out,
                            struct err *err)
{
    struct span s = {false, 0, 0};
    const char *uid = NULL;
    enum cal_comp comp = CAL_COMP_NONE;
    for (icalcomponent *c = icalcomponent_get_first_component(root, ICAL_ANY_COMPONENT); c;
         c = icalcomponent_get_next_component(root, ICAL_ANY_COMPONENT)) {
        icalcomponent_kind k = icalcomponent_isa(c);
        if (k == ICAL_VTIMEZONE_COMPONENT) {
            continue;
        }
        enum cal_comp cc = comp_of(k);
        if (cc == CAL_COMP_NONE || !(allowed & cc)) {
            return err_set(err, &cal_cond_supported_component, "component %s is not supported",
                           icalcomponent_kind_to_string(k));
        }
        if (comp != CAL_COMP_NONE && cc != comp) {
            return err_set(err, &cal_cond_valid_object, "more than one component type");
        }
        comp = cc;
        const char *u = icalcomponent_get_uid(c);
        if (!u || !*u) {
            return err_set(err, &cal_cond_valid_object, "a component has no UID");
        }
        if (uid && strcmp(uid, u) != 0) {
            return err_set(err, &cal_cond_valid_object, "components have different UIDs");
        }
        uid = u;
        if (component_span(root, c, &s, &out->is_recurring) != 0) {
            return err_set(err, &cal_cond_valid_calendar_data, "DTSTART is not a date-time");
        }
    }
    if (comp == CAL_COMP_NONE) {
        return err_set(err, &cal_cond_valid_object, "no VEVENT, VTODO or VJOURNAL");
    }
    out->comp = comp;
    out->uid = arena_strdup(arena, uid);
    out->has_span = s.any;
    out->dtstart_utc = s.start;
    out->dtend_utc = s.end;
    return 0;
}

int cal_parse_object(
    struct slice ics, unsigned allowed, struct arena *arena, struct cal_info *out, struct err *err)
{
    memset(out, 0, sizeof(*out));
    if (!utf8_ok(ics)) {
        return err_set(err, &cal_cond_valid_calendar_data, "calendar data is not UTF-8");
    }
    char *text = arena_slicedup(arena, ics);
    icalcomponent *root = icalparser_parse_string(text);
    int rc = 0;
    if (!root || icalcomponent_isa(root) != ICAL_VCALENDAR_COMPONENT) {
        rc = err_set(err, &cal_cond_valid_calendar_data, "not one VCALENDAR object");
    } else if (icalcomponent_count_errors(root) > 0) {
        rc = err_set(err, &cal_cond_valid_calendar_data, "invalid iCalendar data");
    } else if (!icalcomponent_get_first_property(root, ICAL_VERSION_PROPERTY) ||
               !icalcomponent_get_first_property(root, ICAL_PRODID_PROPERTY)) {
        rc = err_set(err, &cal_cond_valid_calendar_data, "VCALENDAR lacks VERSION or PRODID");
    } else {
        rc = check_components(root, allowed, arena, out, err);
    }
    if (root) {
        icalcomponent_free(root);
    }
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Expansion (RFC 4791 §9.6.5) */

/* A stored object parsed again (it was validated on PUT); NULL with err set if it no longer
 * parses. The caller frees it with icalcomponent_free(). */
static icalcomponent *parse_stored(struct slice ics, struct arena *arena, struct err *err)
{
    icalcomponent *root = icalparser_parse_string(arena_slicedup(arena, ics));
    if (!root || icalcomponent_isa(root) != ICAL_VCALENDAR_COMPONENT) {
        if (root) {
            icalcomponent_free(root);
        }
        err_set(err, &cal_cond_valid_calendar_data, "stored object does not parse");
        return NULL;
    }
    return root;
}

/* The iCalendar text of `c`, NUL-terminated, in the arena. */
static void to_arena(icalcomponent *c, struct arena *arena, struct slice *out)
{
    char *text = icalcomponent_as_ical_string_r(c);
    out->ptr = arena_strdup(arena, text ? text : "");
    out->len = strlen(out->ptr);
    free(text);
}

static struct icaltimetype utc_of(icalcomponent *root, icalproperty *p, struct icaltimetype t)
{
    if (icaltime_is_date(t)) {
        return t;
    }
    icaltimezone *utc = icaltimezone_get_utc_timezone();
    struct icaltimetype u =
        icaltime_from_timet_with_zone((time_t)to_utc(t, zone_of(root, p, t)), 0, utc);
    return u;
}

/* Rewrites a DTSTART/DTEND/RECURRENCE-ID/DUE property of `c` in UTC, dropping its TZID. */
static void prop_to_utc(icalcomponent *root, icalcomponent *c, icalproperty_kind kind)
{
    icalproperty *p = icalcomponent_get_first_property(c, kind);
    if (!p) {
        return;
    }
    struct icaltimetype t = icalvalue_get_datetime(icalproperty_get_value(p));
    struct icaltimetype u = utc_of(root, p, t);
    icalproperty_remove_parameter_by_kind(p, ICAL_TZID_PARAMETER);
    icalproperty_set_value(p, icalvalue_new_datetime(u));
}

static void remove_all(icalcomponent *c, icalproperty_kind kind)
{
    icalproperty *p;
    while ((p = icalcomponent_get_first_property(c, kind)) != NULL) {
        icalcomponent_remove_property(c, p);
        icalproperty_free(p);
    }
}

static bool overlaps(int64_t s, int64_t e, int64_t start, int64_t end)
{
    /* RFC 4791 §9.9: zero-length instances match when start <= s < end */
    return s < end && (e > start || (e == s && s >= start));
}

/* The override of `master` whose RECURRENCE-ID is `rid_utc`, or NULL. */
static icalcomponent *override_of(icalcomponent *root, const char *uid, int64_t rid_utc)
{
    /* An external iterator: the caller is inside a get_first/get_next loop over root. */
    for (icalcompiter i = icalcomponent_begin_component(root, ICAL_ANY_COMPONENT);
         icalcompiter_deref(&i); icalcompiter_next(&i)) {
        icalcomponent *c = icalcompiter_deref(&i);
        icalproperty *rp = icalcomponent_get_first_property(c, ICAL_RECURRENCEID_PROPERTY);
        const char *u = icalcomponent_get_uid(c);
        if (rp && u && strcmp(u, uid) == 0) {
            struct icaltimetype r = icalproperty_get_recurrenceid(rp);
            if (to_utc(r, zone_of(root, rp, r)) == rid_utc) {
                return c;
            }
        }
    }
    return NULL;
}

/* Adds a UTC copy of `c` to `out` when it overlaps the range. */
static void
add_instance(icalcomponent *root, icalcomponent *out, icalcomponent *c, int64_t start, int64_t end)
{
    icalproperty *sp = icalcomponent_get_first_property(c, ICAL_DTSTART_PROPERTY);
    if (!sp) {
        return;
    }
    struct icaltimetype st = icalproperty_get_dtstart(sp);
    int64_t s = to_utc(st, zone_of(root, sp, st));
    int64_t e = s + instance_length(root, c, st, s);
    if (!overlaps(s, e, start, end)) {
        return;
    }
    icalcomponent *copy = icalcomponent_new_clone(c);
    prop_to_utc(root, copy, ICAL_DTSTART_PROPERTY);
    prop_to_utc(root, copy, ICAL_DTEND_PROPERTY);
    prop_to_utc(root, copy, ICAL_DUE_PROPERTY);
    prop_to_utc(root, copy, ICAL_RECURRENCEID_PROPERTY);
    icalcomponent_add_component(out, copy);
}

static void
expand_master(icalcomponent *root, icalcomponent *out, icalcomponent *m, int64_t start, int64_t end)
{
    icalproperty *rr = icalcomponent_get_first_property(m, ICAL_RRULE_PROPERTY);
    icalproperty *sp = icalcomponent_get_first_property(m, ICAL_DTSTART_PROPERTY);
    if (!rr || !sp) {
        add_instance(root, out, m, start, end);
        return;
    }
    struct icaltimetype dtstart = icalproperty_get_dtstart(sp);
    icaltimezone *zone = zone_of(root, sp, dtstart);
    int64_t len = instance_length(root, m, dtstart, to_utc(dtstart, zone));
    const char *uid = icalcomponent_get_uid(m);
    icalrecur_iterator *it = icalrecur_iterator_new(icalproperty_get_rrule(rr), dtstart);
    if (!it) {
        return;
    }
    int n = 0;
    for (struct icaltimetype t = icalrecur_iterator_next(it);
         !icaltime_is_null_time(t) && n < CAL_MAX_INSTANCES; t = icalrecur_iterator_next(it), n++) {
        int64_t rid = to_utc(t, zone);
        if (rid >= end) {
            break; /* instances only grow from here (an override moved earlier from a later
                      original is not looked for) */
        }
        if (icalproperty_recurrence_is_excluded(m, &dtstart, &t)) {
            continue;
        }
        icalcomponent *ov = override_of(root, uid, rid);
        if (ov) {
            add_instance(root, out, ov, start, end);
            continue;
        }
        if (!overlaps(rid, rid + len, start, end)) {
            continue;
        }
        icalcomponent *inst = icalcomponent_new_clone(m);
        remove_all(inst, ICAL_RRULE_PROPERTY);
        remove_all(inst, ICAL_RDATE_PROPERTY);
        remove_all(inst, ICAL_EXDATE_PROPERTY);
        icaltimezone *utc = icaltimezone_get_utc_timezone();
        struct icaltimetype u =
            icaltime_is_date(t) ? t : icaltime_from_timet_with_zone((time_t)rid, 0, utc);
        icalproperty *isp = icalcomponent_get_first_property(inst, ICAL_DTSTART_PROPERTY);
        icalproperty_remove_parameter_by_kind(isp, ICAL_TZID_PARAMETER);
        icalproperty_set_dtstart(isp, u);
        icalproperty *iep = icalcomponent_get_first_property(inst, ICAL_DTEND_PROPERTY);
        if (iep) {
            struct icaltimetype ue =
                icaltime_is_date(t) ? icaltime_add(t, icaldurationtype_from_int((int)len))
                                    : icaltime_from_timet_with_zone((time_t)(rid + len), 0, utc);
            icalproperty_remove_parameter_by_kind(iep, ICAL_TZID_PARAMETER);
            icalproperty_set_dtend(iep, ue);
        }
        icalcomponent_add_property(inst, icalproperty_new_recurrenceid(u));
        icalcomponent_add_component(out, inst);
    }
    icalrecur_iterator_free(it);
}

static bool has_master(icalcomponent *root, const char *uid)
{
    for (icalcompiter i = icalcomponent_begin_component(root, ICAL_ANY_COMPONENT);
         icalcompiter_deref(&i); icalcompiter_next(&i)) {
        icalcomponent *c = icalcompiter_deref(&i);
        const char *u = icalcomponent_get_uid(c);
        if (u && uid && strcmp(u, uid) == 0 &&
            !icalcomponent_get_first_property(c, ICAL_RECURRENCEID_PROPERTY)) {
            return true;
        }
    }
    return false;
}

int cal_expand(struct slice ics,
               int64_t start,
               int64_t end,
               struct arena *arena,
               struct slice *out,
               struct err *err)
{
    icalcomponent *root = parse_stored(ics, arena, err);
    if (!root) {
        return -1;
    }
    icalcomponent *res = icalcomponent_new(ICAL_VCALENDAR_COMPONENT);
    icalcomponent_add_property(res, icalproperty_new_version("2.0"));
    icalproperty *prodid = icalcomponent_get_first_property(root, ICAL_PRODID_PROPERTY);
    icalcomponent_add_property(res, prodid ? icalproperty_new_clone(prodid)
                                           : icalproperty_new_prodid("-//Almanac//EN"));
    for (icalcomponent *c = icalcomponent_get_first_component(root, ICAL_ANY_COMPONENT); c;
         c = icalcomponent_get_next_component(root, ICAL_ANY_COMPONENT)) {
        icalcomponent_kind k = icalcomponent_isa(c);
        if (k == ICAL_VTIMEZONE_COMPONENT) {
            continue;
        }
        bool is_override = icalcomponent_get_first_property(c, ICAL_RECURRENCEID_PROPERTY);
        if (!is_override) {
            expand_master(root, res, c, start, end);
        } else if (!has_master(root, icalcomponent_get_uid(c))) {
            add_instance(root, res, c, start, end); /* an override sent without its series */
        }
    }
    to_arena(res, arena, out);
    icalcomponent_free(res);
    icalcomponent_free(root);
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* calendar-query filters (RFC 4791 §9.7) */

static bool text_matches(const char *value, const struct cal_text_match *t)
{
    struct slice v = slice_from_cstr(value);
    struct slice needle = slice_from_cstr(t->text);
    bool found = t->collation == CAL_COLLATION_OCTET ? slice_contains(v, needle)
                                                     : slice_contains_ci(v, needle);
    return found != t->negate;
}

static bool comp_matches(icalcomponent *root, icalcomponent *c, const struct cal_filter *f);

static bool param_matches(icalproperty *p, const struct cal_filter *f)
{
    icalparameter_kind k = icalparameter_string_to_kind(f->name);
    icalparameter *par = NULL;
    for (icalparameter *x = icalproperty_get_first_parameter(p, ICAL_ANY_PARAMETER); x;
         x = icalproperty_get_next_parameter(p, ICAL_ANY_PARAMETER)) {
        const char *xname = icalparameter_get_xname(x);
        if ((k != ICAL_X_PARAMETER && k != ICAL_NO_PARAMETER && icalparameter_isa(x) == k) ||
            (xname && strcasecmp(xname, f->name) == 0)) {
            par = x;
            break;
        }
    }
    if (f->is_not_defined) {
        return par == NULL;
    }
    if (!par) {
        return false;
    }
    if (!f->has_text) {
        return true;
    }
    char *s = icalparameter_as_ical_string_r(par); /* NAME=value */
    const char *eq = s ? strchr(s, '=') : NULL;
    bool ok = eq && text_matches(eq + 1, &f->text);
    free(s);
    return ok;
}

static bool one_prop_matches(icalproperty *p, const struct cal_filter *f)
{
    if (f->has_text) {
        char *v = icalproperty_get_value_as_string_r(p);
        bool ok = v && text_matches(v, &f->text);
        free(v);
        if (!ok) {
            return false;
        }
    }
    for (const struct cal_filter *ch = f->children; ch; ch = ch->next) {
        if (!param_matches(p, ch)) {
            return false;
        }
    }
    return true;
}

static bool prop_matches(icalcomponent *c, const struct cal_filter *f)
{
    bool any = false;
    for (icalproperty *p = icalcomponent_get_first_property(c, ICAL_ANY_PROPERTY); p;
         p = icalcomponent_get_next_property(c, ICAL_ANY_PROPERTY)) {
        if (strcasecmp(icalproperty_get_property_name(p), f->name) != 0) {
            continue;
        }
        any = true;
        if (!f->is_not_defined && one_prop_matches(p, f)) {
            return true;
        }
    }
    return f->is_not_defined ? !any : false;
}

static bool range_matches(icalcomponent *root, icalcomponent *c, const struct cal_filter *f)
{
    struct span s = {false, 0, 0};
    bool recurring = false;
    if (component_span(root, c, &s, &recurring) != 0 || !s.any) {
        return false;
    }
    return overlaps(s.start, s.end, f->start, f->end);
}

/* Does component `c` satisfy comp-filter `f` (its own name already matched)? */
static bool comp_matches(icalcomponent *root, icalcomponent *c, const struct cal_filter *f)
{
    if (f->has_range && !range_matches(root, c, f)) {
        return false;
    }
    for (const struct cal_filter *ch = f->children; ch; ch = ch->next) {
        if (ch->kind == CAL_FILTER_PROP) {
            if (!prop_matches(c, ch)) {
                return false;
            }
            continue;
        }
        /* a nested comp-filter: some subcomponent of that name matches (or none exists) */
        bool any = false;
        bool hit = false;
        for (icalcompiter i = icalcomponent_begin_component(c, ICAL_ANY_COMPONENT);
             icalcompiter_deref(&i); icalcompiter_next(&i)) {
            icalcomponent *sub = icalcompiter_deref(&i);
            if (strcasecmp(icalcomponent_kind_to_string(icalcomponent_isa(sub)), ch->name) != 0) {
                continue;
            }
            any = true;
            if (!ch->is_not_defined && comp_matches(root, sub, ch)) {
                hit = true;
                break;
            }
        }
        if (ch->is_not_defined ? any : !hit) {
            return false;
        }
    }
    return true;
}

int cal_filter_match(struct slice ics,
                     const struct cal_filter *f,
                     struct arena *arena,
                     struct err *err)
{
    icalcomponent *root = parse_stored(ics, arena, err);
    if (!root) {
        return -1;
    }
    bool ok = strcasecmp(f->name, "VCALENDAR") == 0 && comp_matches(root, root, f);
    icalcomponent_free(root);
    return ok ? 1 : 0;
}

int cal_busy(struct slice ics,
             int64_t start,
             int64_t end,
             struct arena *arena,
             cal_period_fn *fn,
             void *ctx,
             struct err *err)
{
    struct slice inst;
    if (cal_expand(ics, start, end, arena, &inst, err) != 0) {
        return -1;
    }
    icalcomponent *root = icalparser_parse_string(inst.ptr);
    if (!root) {
        return err_set(err, &cal_cond_valid_calendar_data, "expansion does not parse");
    }
    int rc = 0;
    for (icalcomponent *c = icalcomponent_get_first_component(root, ICAL_VEVENT_COMPONENT);
         c && rc == 0; c = icalcomponent_get_next_component(root, ICAL_VEVENT_COMPONENT)) {
        icalproperty *tr = icalcomponent_get_first_property(c, ICAL_TRANSP_PROPERTY);
        if (tr && icalproperty_get_transp(tr) == ICAL_TRANSP_TRANSPARENT) {
            continue;
        }
        icalproperty *stp = icalcomponent_get_first_property(c, ICAL_STATUS_PROPERTY);
        enum icalproperty_status status = stp ? icalproperty_get_status(stp) : ICAL_STATUS_NONE;
        if (status == ICAL_STATUS_CANCELLED) {
            continue;
        }
        icalproperty *sp = icalcomponent_get_first_property(c, ICAL_DTSTART_PROPERTY);
        if (!sp) {
            continue;
        }
        struct icaltimetype st = icalproperty_get_dtstart(sp);
        int64_t s = to_utc(st, zone_of(root, sp, st));
        int64_t e = s + instance_length(root, c, st, s);
        if (e <= s) {
            continue; /* zero-length instances block no time */
        }
        rc = fn(ctx, s < start ? start : s, e > end ? end : e,
                status == ICAL_STATUS_TENTATIVE ? CAL_FB_TENTATIVE : CAL_FB_BUSY);
    }
    icalcomponent_free(root);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* calendar-data selection (RFC 4791 §9.6.1-9.6.4) and limit-recurrence-set (§9.6.6) */

static const struct cal_select *select_child(const struct cal_select *sel, icalcomponent *c)
{
    const char *kind = icalcomponent_kind_to_string(icalcomponent_isa(c));
    for (const struct cal_select *ch = sel->comps; ch; ch = ch->next) {
        if (strcasecmp(ch->name, kind) == 0) {
            return ch;
        }
    }
    return NULL;
}

static bool prop_selected(const struct cal_select *sel, icalproperty *p)
{
    const char *name = icalproperty_get_property_name(p);
    for (size_t i = 0; i < sel->nprops; i++) {
        if (strcasecmp(sel->props[i], name) == 0) {
            return true;
        }
    }
    return false;
}

/* Removes from `c` what `sel` leaves out, recursively. */
static void apply_select(icalcomponent *c, const struct cal_select *sel)
{
    if (!sel->allprop) {
        icalproperty *p = icalcomponent_get_first_property(c, ICAL_ANY_PROPERTY);
        while (p) {
            icalproperty *next = icalcomponent_get_next_property(c, ICAL_ANY_PROPERTY);
            if (!prop_selected(sel, p)) {
                icalcomponent_remove_property(c, p);
                icalproperty_free(p);
            }
            p = next;
        }
    }
    if (sel->allcomp) {
        return;
    }
    icalcomponent *sub = icalcomponent_get_first_component(c, ICAL_ANY_COMPONENT);
    while (sub) {
        icalcomponent *next = icalcomponent_get_next_component(c, ICAL_ANY_COMPONENT);
        const struct cal_select *ch = select_child(sel, sub);
        if (!ch) {
            icalcomponent_remove_component(c, sub);
            icalcomponent_free(sub);
        } else {
            apply_select(sub, ch);
        }
        sub = next;
    }
}

/* Drops overrides whose instance (moved or original) does not overlap [start, end). */
static void limit_overrides(icalcomponent *root, int64_t start, int64_t end)
{
    icalcomponent *c = icalcomponent_get_first_component(root, ICAL_ANY_COMPONENT);
    while (c) {
        icalcomponent *next = icalcomponent_get_next_component(root, ICAL_ANY_COMPONENT);
        icalproperty *rp = icalcomponent_get_first_property(c, ICAL_RECURRENCEID_PROPERTY);
        icalproperty *sp = icalcomponent_get_first_property(c, ICAL_DTSTART_PROPERTY);
        if (rp && sp) {
            struct icaltimetype st = icalproperty_get_dtstart(sp);
            int64_t s = to_utc(st, zone_of(root, sp, st));
            int64_t e = s + instance_length(root, c, st, s);
            struct icaltimetype r = icalproperty_get_recurrenceid(rp);
            int64_t rs = to_utc(r, zone_of(root, rp, r));
            if (!overlaps(s, e, start, end) && !overlaps(rs, rs + (e - s), start, end)) {
                icalcomponent_remove_component(root, c);
                icalcomponent_free(c);
            }
        }
        c = next;
    }
}

int cal_select(struct slice ics,
               const struct cal_select *sel,
               bool limit,
               int64_t start,
               int64_t end,
               struct arena *arena,
               struct slice *out,
               struct err *err)
{
    icalcomponent *root = parse_stored(ics, arena, err);
    if (!root) {
        return -1;
    }
    if (limit) {
        limit_overrides(root, start, end);
    }
    if (sel) {
        apply_select(root, sel);
    }
    to_arena(root, arena, out);
    icalcomponent_free(root);
    return 0;
}
