/* cal/eas.c: a stored calendar object as an ActiveSync calendar item (activesync.md §4.2,
 * MS-ASCAL): times as Compact DateTime in UTC, the zone as a Timezone blob, the RRULE as
 * Recurrence, overrides and EXDATEs as Exceptions, people, alarm, class and transparency.
 * Also the helpers the inbound direction (cal/eas_write.c) shares. Reads only; never
 * writes iCalendar (cal/eas_write.c does) and never touches the wire encoding (src/eas). */
#include "cal/eas.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libical/ical.h>

#include "cal/cal_int.h"
#include "cal/eas_int.h"
#include "util/timeutil.h"

/* ---------------------------------------------------------------------------------------- */
/* Shared helpers */

const char *cal_eas_compact(int64_t t, struct arena *arena)
{
    icaltimezone *utc = icaltimezone_get_utc_timezone();
    struct icaltimetype u = icaltime_from_timet_with_zone((time_t)t, 0, utc);
    return arena_printf(arena, "%04d%02d%02dT%02d%02d%02dZ", u.year, u.month, u.day, u.hour,
                        u.minute, u.second);
}

static bool digits(const char *s, size_t n, int *v)
{
    int x = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        x = x * 10 + (s[i] - '0');
    }
    *v = x;
    return true;
}

int cal_eas_parse_time(const char *s, int64_t *t_out)
{
    if (!s) {
        return -1;
    }
    size_t n = strlen(s);
    struct icaltimetype t = icaltime_null_time();
    bool ok;
    size_t rest;
    if (n >= 15 && s[8] == 'T') {
        /* Compact DateTime (MS-ASDTYPE 2.7.2) */
        ok = digits(s, 4, &t.year) && digits(s + 4, 2, &t.month) && digits(s + 6, 2, &t.day) &&
             digits(s + 9, 2, &t.hour) && digits(s + 11, 2, &t.minute) &&
             digits(s + 13, 2, &t.second);
        rest = 15;
    } else if (n >= 19 && s[4] == '-' && s[7] == '-' && s[10] == 'T' && s[13] == ':' &&
               s[16] == ':') {
        /* dateTime (MS-ASDTYPE 2.3), accepted on input (activesync.md §4.1) */
        ok = digits(s, 4, &t.year) && digits(s + 5, 2, &t.month) && digits(s + 8, 2, &t.day) &&
             digits(s + 11, 2, &t.hour) && digits(s + 14, 2, &t.minute) &&
             digits(s + 17, 2, &t.second);
        rest = 19;
        if (ok && rest < n && s[rest] == '.') {
            int frac;
            size_t k = rest + 1;
            while (k < n && s[k] >= '0' && s[k] <= '9') {
                k++;
            }
            ok = k > rest + 1 && k - rest - 1 <= 9 && digits(s + rest + 1, k - rest - 1, &frac);
            rest = k;
        }
    } else {
        return -1;
    }
    if (!ok || (rest < n && !(rest + 1 == n && s[rest] == 'Z')) || !cal_time_valid(t) ||
        t.second > 59) {
        return -1;
    }
    *t_out = cal_to_utc(t, NULL);
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* X-EAS-LOCATION: the 16.x B:Location children iCalendar has no property for */

static const char *const loc_names[CAL_EAS_LOC_NFIELDS] = {
    [CAL_EAS_LOC_ANNOTATION] = "Annotation",
    [CAL_EAS_LOC_STREET] = "Street",
    [CAL_EAS_LOC_CITY] = "City",
    [CAL_EAS_LOC_STATE] = "State",
    [CAL_EAS_LOC_COUNTRY] = "Country",
    [CAL_EAS_LOC_POSTALCODE] = "PostalCode",
    [CAL_EAS_LOC_ACCURACY] = "Accuracy",
    [CAL_EAS_LOC_ALTITUDE] = "Altitude",
    [CAL_EAS_LOC_ALTITUDEACCURACY] = "AltitudeAccuracy",
};

const char *cal_eas_loc_name(enum cal_eas_loc_field f)
{
    return (unsigned)f < CAL_EAS_LOC_NFIELDS ? loc_names[f] : NULL;
}

/* Bytes written into a buffer sized beforehand (every caller bounds the output). */
struct out {
    char *p;
    size_t len;
};

static void put(struct out *o, char c)
{
    o->p[o->len++] = c;
}

/* `s` as a JSON string literal: at most 6 bytes per byte of `s`, plus 2. */
static void json_string(struct out *o, const char *s)
{
    static const char hexd[] = "0123456789abcdef";
    put(o, '"');
    for (const unsigned char *u = (const unsigned char *)s; *u; u++) {
        if (*u == '"' || *u == '\\') {
            put(o, '\\');
            put(o, (char)*u);
        } else if (*u < 0x20) {
            put(o, '\\');
            put(o, 'u');
            put(o, '0');
            put(o, '0');
            put(o, hexd[*u >> 4]);
            put(o, hexd[*u & 15]);
        } else {
            put(o, (char)*u);
        }
    }
    put(o, '"');
}

const char *cal_eas_loc_to_json(const char *const loc[CAL_EAS_LOC_NFIELDS], struct arena *arena)
{
    size_t cap = 2;
    for (size_t i = 0; i < CAL_EAS_LOC_NFIELDS; i++) {
        cap += loc[i] ? 6 * strlen(loc[i]) + strlen(loc_names[i]) + 6 : 0;
    }
    if (cap == 2) {
        return NULL;
    }
    struct out o = {arena_alloc(arena, cap + 1), 0};
    for (size_t i = 0; i < CAL_EAS_LOC_NFIELDS; i++) {
        if (loc[i]) {
            put(&o, o.len ? ',' : '{');
            json_string(&o, loc_names[i]);
            put(&o, ':');
            json_string(&o, loc[i]);
        }
    }
    put(&o, '}');
    o.p[o.len] = '\0';
    return o.p;
}

static const char *json_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') {
        p++;
    }
    return p;
}

static int hex4(const char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0) {
            return -1;
        }
        v = v * 16 + d;
    }
    return v;
}

/* Code point `cp` as UTF-8: never more bytes than its \uXXXX escape (6, or 12 for a pair). */
static void put_utf8(struct out *o, uint32_t cp)
{
    if (cp < 0x80) {
        put(o, (char)cp);
    } else if (cp < 0x800) {
        put(o, (char)(0xc0 | (cp >> 6)));
        put(o, (char)(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
        put(o, (char)(0xe0 | (cp >> 12)));
        put(o, (char)(0x80 | ((cp >> 6) & 0x3f)));
        put(o, (char)(0x80 | (cp & 0x3f)));
    } else {
        put(o, (char)(0xf0 | (cp >> 18)));
        put(o, (char)(0x80 | ((cp >> 12) & 0x3f)));
        put(o, (char)(0x80 | ((cp >> 6) & 0x3f)));
        put(o, (char)(0x80 | (cp & 0x3f)));
    }
}

/* A JSON string at `p` (after its opening quote) into `o`, which never grows past the bytes
 * read; the byte after the closing quote, or NULL when malformed. */
static const char *json_unstring(const char *p, struct out *o)
{
    static const char esc[] = "\"\"\\\\//b\bf\fn\nr\rt\t";
    for (;;) {
        unsigned char c = (unsigned char)*p++;
        if (c == '"') {
            return p;
        }
        if (c < 0x20) {
            return NULL; /* also the end of the text */
        }
        if (c != '\\') {
            put(o, (char)c);
            continue;
        }
        c = (unsigned char)*p++;
        const char *e = c ? strchr(esc, c) : NULL;
        if (e && (e - esc) % 2 == 0) {
            put(o, e[1]);
        } else if (c == 'u') {
            int u = hex4(p);
            if (u < 0) {
                return NULL;
            }
            p += 4;
            uint32_t cp = (uint32_t)u;
            if (u >= 0xd800 && u <= 0xdbff && p[0] == '\\' && p[1] == 'u') {
                int lo = hex4(p + 2);
                if (lo >= 0xdc00 && lo <= 0xdfff) {
                    cp = 0x10000 + (((uint32_t)u - 0xd800) << 10) + ((uint32_t)lo - 0xdc00);
                    p += 6;
                }
            }
            if ((cp >= 0xd800 && cp <= 0xdfff) || cp == 0) {
                cp = '?'; /* a lone surrogate, or NUL */
            }
            put_utf8(o, cp);
        } else {
            return NULL;
        }
    }
}

size_t
cal_eas_loc_from_json(const char *json, struct arena *arena, const char *loc[CAL_EAS_LOC_NFIELDS])
{
    const char *p = json ? json_ws(json) : "";
    if (*p++ != '{') {
        return 0;
    }
    size_t n = 0;
    size_t cap = strlen(p) + 1;
    struct out key = {arena_alloc(arena, cap), 0};
    for (;;) {
        p = json_ws(p);
        if (*p++ != '"') {
            break;
        }
        key.len = 0;
        p = json_unstring(p, &key);
        if (!p || *(p = json_ws(p)) != ':') {
            break;
        }
        p = json_ws(p + 1);
        struct out val = {arena_alloc(arena, cap), 0};
        if (*p++ != '"' || !(p = json_unstring(p, &val))) {
            break;
        }
        val.p[val.len] = '\0';
        for (size_t i = 0; i < CAL_EAS_LOC_NFIELDS; i++) {
            if (key.len == strlen(loc_names[i]) && memcmp(key.p, loc_names[i], key.len) == 0) {
                n += !loc[i];
                loc[i] = val.p;
            }
        }
        p = json_ws(p);
        if (*p != ',') {
            break;
        }
        p++;
    }
    return n;
}

/* ---------------------------------------------------------------------------------------- */
/* Outbound: the projection of one request */

struct proj {
    const struct cal_eas_opts *o;
    struct arena *arena;
    icalcomponent *root;
    icalcomponent *master;
    icaltimezone *defzone;       /* opts->default_tz, NULL for UTC */
    struct icaltimetype dtstart; /* the master's DTSTART */
    icaltimezone *zone;          /* its zone, NULL for UTC, floating and DATE */
    int64_t start_utc;           /* the master's first instance */
    int64_t dur;                 /* its length in seconds */
};

/* An instant of the item in EAS terms: UTC as is; floating in the default zone; a DATE as
 * its midnight, in the default zone for ≤14.1 and as `T000000Z` for 16.x (§4.4). */
static int64_t eas_utc(const struct proj *p, struct icaltimetype t, icaltimezone *zone)
{
    if (t.is_date) {
        t.is_date = 0;
        t.hour = t.minute = t.second = 0;
        t.zone = NULL;
        return cal_to_utc(t, p->o->version >= 160 ? NULL : p->defzone);
    }
    if (icaltime_is_utc(t)) {
        return cal_to_utc(t, NULL);
    }
    return cal_to_utc(t, zone ? zone : p->defzone);
}

static int64_t prop_utc(const struct proj *p, icalproperty *prop, struct icaltimetype t)
{
    return eas_utc(p, t, cal_zone_of(p->root, prop, t));
}

static const char *mailto(const char *v)
{
    if (v && strncasecmp(v, "mailto:", 7) == 0) {
        return v + 7;
    }
    return v ? v : "";
}

/* The CN parameter of `p`, or NULL. */
static const char *cn_of(icalproperty *p)
{
    icalparameter *par = icalproperty_get_first_parameter(p, ICAL_CN_PARAMETER);
    return par ? icalparameter_get_cn(par) : NULL;
}

static const char *xprop(icalcomponent *c, const char *name)
{
    for (icalproperty *p = icalcomponent_get_first_property(c, ICAL_X_PROPERTY); p;
         p = icalcomponent_get_next_property(c, ICAL_X_PROPERTY)) {
        const char *n = icalproperty_get_x_name(p);
        if (n && strcasecmp(n, name) == 0) {
            return icalproperty_get_x(p);
        }
    }
    return NULL;
}

/* The HTML body: X-ALT-DESC;FMTTYPE=text/html (§4.2), or NULL. */
static const char *html_of(icalcomponent *c)
{
    for (icalproperty *p = icalcomponent_get_first_property(c, ICAL_X_PROPERTY); p;
         p = icalcomponent_get_next_property(c, ICAL_X_PROPERTY)) {
        const char *n = icalproperty_get_x_name(p);
        icalparameter *ft = icalproperty_get_first_parameter(p, ICAL_FMTTYPE_PARAMETER);
        const char *type = ft ? icalparameter_get_fmttype(ft) : NULL;
        if (n && strcasecmp(n, "X-ALT-DESC") == 0 && type && strcasecmp(type, "text/html") == 0) {
            return icalproperty_get_x(p);
        }
    }
    return NULL;
}

static const char *text_of(icalcomponent *c, icalproperty_kind kind)
{
    icalproperty *p = icalcomponent_get_first_property(c, kind);
    if (!p) {
        return NULL;
    }
    switch (kind) {
    case ICAL_SUMMARY_PROPERTY:
        return icalproperty_get_summary(p);
    case ICAL_LOCATION_PROPERTY:
        return icalproperty_get_location(p);
    case ICAL_DESCRIPTION_PROPERTY:
        return icalproperty_get_description(p);
    default:
        return NULL;
    }
}

static bool str_eq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

/* BusyStatus (§4.2): X-MICROSOFT-CDO-BUSYSTATUS, else TRANSP, else STATUS:TENTATIVE. */
static int busy_of(icalcomponent *c)
{
    static const char *const names[] = {"FREE", "TENTATIVE", "BUSY", "OOF", "WORKINGELSEWHERE"};
    const char *x = xprop(c, "X-MICROSOFT-CDO-BUSYSTATUS");
    if (x) {
        for (int i = 0; i < 5; i++) {
            if (strcasecmp(x, names[i]) == 0) {
                return i;
            }
        }
    }
    icalproperty *tp = icalcomponent_get_first_property(c, ICAL_TRANSP_PROPERTY);
    if (tp && icalproperty_get_transp(tp) == ICAL_TRANSP_TRANSPARENT) {
        return 0;
    }
    icalproperty *sp = icalcomponent_get_first_property(c, ICAL_STATUS_PROPERTY);
    if (sp && icalproperty_get_status(sp) == ICAL_STATUS_TENTATIVE) {
        return 1;
    }
    return 2;
}

/* Sensitivity (§4.2): CLASS, with X-EAS-SENSITIVITY telling personal (1) from private. */
static bool sensitivity_of(icalcomponent *c, int *out)
{
    icalproperty *p = icalcomponent_get_first_property(c, ICAL_CLASS_PROPERTY);
    if (!p) {
        return false;
    }
    switch (icalproperty_get_class(p)) {
    case ICAL_CLASS_PRIVATE: {
        const char *x = xprop(c, "X-EAS-SENSITIVITY");
        *out = x && strcmp(x, "1") == 0 ? 1 : 2;
        break;
    }
    case ICAL_CLASS_CONFIDENTIAL:
        *out = 3;
        break;
    default:
        *out = 0;
        break;
    }
    return true;
}

/* Reminder (§4.2): minutes before the start of the first DISPLAY (else AUDIO) VALARM;
 * RELATED=END and absolute triggers are turned into minutes before the first instance. */
static bool
reminder_of(const struct proj *p, icalcomponent *c, int64_t start, int64_t dur, int *out)
{
    icalcomponent *pick = NULL;
    for (icalcomponent *a = icalcomponent_get_first_component(c, ICAL_VALARM_COMPONENT); a;
         a = icalcomponent_get_next_component(c, ICAL_VALARM_COMPONENT)) {
        icalproperty *ap = icalcomponent_get_first_property(a, ICAL_ACTION_PROPERTY);
        enum icalproperty_action act = ap ? icalproperty_get_action(ap) : ICAL_ACTION_NONE;
        if (act == ICAL_ACTION_DISPLAY) {
            pick = a;
            break;
        }
        if (act == ICAL_ACTION_AUDIO && !pick) {
            pick = a;
        }
    }
    icalproperty *tp = pick ? icalcomponent_get_first_property(pick, ICAL_TRIGGER_PROPERTY) : NULL;
    if (!tp) {
        return false;
    }
    struct icaltriggertype tr = icalproperty_get_trigger(tp);
    int64_t at;
    if (!icaltime_is_null_time(tr.time)) {
        at = eas_utc(p, tr.time, NULL);
    } else {
        icalparameter *rel = icalproperty_get_first_parameter(tp, ICAL_RELATED_PARAMETER);
        bool from_end = rel && icalparameter_get_related(rel) == ICAL_RELATED_END;
        at = start + (from_end ? dur : 0) + icaldurationtype_as_int(tr.duration);
    }
    int64_t mins = (start - at) / 60;
    *out = mins < 0 ? 0 : (int)(mins > 0x7fffffff ? 0x7fffffff : mins);
    return true;
}

static int partstat_status(icalproperty *a)
{
    icalparameter *par = icalproperty_get_first_parameter(a, ICAL_PARTSTAT_PARAMETER);
    if (!par) {
        return CAL_EAS_STATUS_UNKNOWN;
    }
    switch (icalparameter_get_partstat(par)) {
    case ICAL_PARTSTAT_NEEDSACTION:
        return CAL_EAS_STATUS_NOT_RESPONDED;
    case ICAL_PARTSTAT_TENTATIVE:
        return CAL_EAS_STATUS_TENTATIVE;
    case ICAL_PARTSTAT_ACCEPTED:
        return CAL_EAS_STATUS_ACCEPTED;
    case ICAL_PARTSTAT_DECLINED:
        return CAL_EAS_STATUS_DECLINED;
    default:
        return CAL_EAS_STATUS_UNKNOWN; /* DELEGATED and the rest (§4.7) */
    }
}

int cal_eas_attendee_type(icalproperty *a)
{
    icalparameter *cu = icalproperty_get_first_parameter(a, ICAL_CUTYPE_PARAMETER);
    if (cu) {
        icalparameter_cutype t = icalparameter_get_cutype(cu);
        if (t == ICAL_CUTYPE_RESOURCE || t == ICAL_CUTYPE_ROOM) {
            return CAL_EAS_TYPE_RESOURCE;
        }
    }
    icalparameter *role = icalproperty_get_first_parameter(a, ICAL_ROLE_PARAMETER);
    if (role) {
        icalparameter_role r = icalparameter_get_role(role);
        if (r == ICAL_ROLE_OPTPARTICIPANT || r == ICAL_ROLE_NONPARTICIPANT) {
            return CAL_EAS_TYPE_OPTIONAL;
        }
    }
    return CAL_EAS_TYPE_REQUIRED;
}

int cal_eas_attendee_status(icalproperty *a)
{
    return partstat_status(a);
}

static void attendees_of(const struct proj *p,
                         icalcomponent *c,
                         const struct cal_eas_attendee **out,
                         size_t *n_out)
{
    size_t n = cal_count_props(c, ICAL_ATTENDEE_PROPERTY);
    struct cal_eas_attendee *a = arena_zalloc(p->arena, (n ? n : 1) * sizeof(*a));
    size_t i = 0;
    for (icalproperty *ap = icalcomponent_get_first_property(c, ICAL_ATTENDEE_PROPERTY); ap;
         ap = icalcomponent_get_next_property(c, ICAL_ATTENDEE_PROPERTY)) {
        a[i].email = arena_strdup(p->arena, mailto(icalproperty_get_attendee(ap)));
        const char *cn = cn_of(ap);
        a[i].name = cn ? arena_strdup(p->arena, cn) : NULL;
        a[i].status = partstat_status(ap);
        a[i].type = cal_eas_attendee_type(ap);
        i++;
    }
    *out = a;
    *n_out = n;
}

static void
categories_of(const struct proj *p, icalcomponent *c, const char *const **out, size_t *n_out)
{
    size_t n = cal_count_props(c, ICAL_CATEGORIES_PROPERTY);
    const char **v = arena_zalloc(p->arena, (n ? n : 1) * sizeof(*v));
    size_t i = 0;
    for (icalproperty *cp = icalcomponent_get_first_property(c, ICAL_CATEGORIES_PROPERTY); cp;
         cp = icalcomponent_get_next_property(c, ICAL_CATEGORIES_PROPERTY)) {
        const char *s = icalproperty_get_categories(cp);
        v[i++] = arena_strdup(p->arena, s ? s : "");
    }
    *out = v;
    *n_out = n;
}

/* Whether the principal is `email` (no principal: the organizer is the principal). */
static bool is_principal(const struct proj *p, const char *email, bool is_organizer)
{
    if (!p->o->principal) {
        return is_organizer;
    }
    return email && strcasecmp(email, p->o->principal) == 0;
}

/* MeetingStatus, ResponseType, ResponseRequested (§4.7). */
static void meeting_of(const struct proj *p, icalcomponent *c, struct cal_eas_event *ev)
{
    icalproperty *op = icalcomponent_get_first_property(c, ICAL_ORGANIZER_PROPERTY);
    const char *org = op ? mailto(icalproperty_get_organizer(op)) : NULL;
    bool others = false;
    bool rsvp_any = false;
    icalproperty *mine = NULL;
    for (icalproperty *ap = icalcomponent_get_first_property(c, ICAL_ATTENDEE_PROPERTY); ap;
         ap = icalcomponent_get_next_property(c, ICAL_ATTENDEE_PROPERTY)) {
        const char *e = mailto(icalproperty_get_attendee(ap));
        if (!org || strcasecmp(e, org) != 0) {
            others = true;
        }
        icalparameter *rs = icalproperty_get_first_parameter(ap, ICAL_RSVP_PARAMETER);
        if (rs && icalparameter_get_rsvp(rs) == ICAL_RSVP_TRUE) {
            rsvp_any = true;
        }
        if (p->o->principal && strcasecmp(e, p->o->principal) == 0) {
            mine = ap;
        }
    }
    icalproperty *sp = icalcomponent_get_first_property(c, ICAL_STATUS_PROPERTY);
    bool cancelled = sp && icalproperty_get_status(sp) == ICAL_STATUS_CANCELLED;
    bool organizer = !org || is_principal(p, org, true);
    ev->present |= CAL_EAS_MEETINGSTATUS;
    if (!others) {
        ev->meeting_status = 0;
        return;
    }
    ev->meeting_status = organizer ? (cancelled ? 5 : 1) : (cancelled ? 7 : 3);
    if (p->o->version < 140) {
        return;
    }
    ev->present |= CAL_EAS_RESPONSETYPE | CAL_EAS_RESPONSEREQUESTED;
    if (organizer) {
        ev->response_type = 1;
        ev->response_requested = rsvp_any;
    } else if (mine) {
        int st = partstat_status(mine);
        ev->response_type = st == CAL_EAS_STATUS_UNKNOWN ? 5 : st;
        icalparameter *rs = icalproperty_get_first_parameter(mine, ICAL_RSVP_PARAMETER);
        ev->response_requested = rs && icalparameter_get_rsvp(rs) == ICAL_RSVP_TRUE;
    } else {
        ev->response_type = 0;
        ev->response_requested = rsvp_any;
    }
}

/* The rule year of the blob (§4.3.1 step 2). */
static int rule_year(const struct proj *p, struct icaltimetype dtstart, icalproperty *rrule)
{
    int year = dtstart.year;
    if (!rrule || p->o->now <= p->start_utc) {
        return year;
    }
    struct icalrecurrencetype r = icalproperty_get_rrule(rrule);
    bool running =
        r.count == 0 && (icaltime_is_null_time(r.until) || eas_utc(p, r.until, NULL) > p->o->now);
    if (running) {
        icaltimezone *utc = icaltimezone_get_utc_timezone();
        year = icaltime_from_timet_with_zone((time_t)p->o->now, 0, utc).year;
    }
    return year;
}

/* The UNTIL of `r` as Compact DateTime: a DATE in the all-day convention, a local or
 * floating DATE-TIME through the series' zone (§4.5). */
static const char *until_of(const struct proj *p,
                            const struct icalrecurrencetype *r,
                            struct icaltimetype dtstart,
                            icaltimezone *zone)
{
    if (icaltime_is_null_time(r->until)) {
        return NULL;
    }
    struct icaltimetype u = r->until;
    if (u.is_date && !dtstart.is_date) {
        /* a DATE UNTIL on a timed series: through the end of that local day */
        u.is_date = 0;
        u.hour = 23;
        u.minute = 59;
        u.second = 59;
    }
    return cal_eas_compact(eas_utc(p, u, zone), p->arena);
}

static bool same_list(const char *const *a, size_t na, const char *const *b, size_t nb)
{
    if (na != nb) {
        return false;
    }
    for (size_t i = 0; i < na; i++) {
        if (!str_eq(a[i], b[i])) {
            return false;
        }
    }
    return true;
}

static bool same_attendees(const struct cal_eas_attendee *a,
                           size_t na,
                           const struct cal_eas_attendee *b,
                           size_t nb)
{
    if (na != nb) {
        return false;
    }
    for (size_t i = 0; i < na; i++) {
        if (strcasecmp(a[i].email, b[i].email) != 0 || !str_eq(a[i].name, b[i].name) ||
            a[i].status != b[i].status || a[i].type != b[i].type) {
            return false;
        }
    }
    return true;
}

/* A modified instance: StartTime and EndTime always, other fields where they differ from
 * the master (§4.6). */
static void override_of(const struct proj *p,
                        const struct cal_eas_event *ev,
                        icalcomponent *ov,
                        struct cal_eas_exception *x)
{
    icalproperty *sp = icalcomponent_get_first_property(ov, ICAL_DTSTART_PROPERTY);
    struct icaltimetype st = sp ? icalproperty_get_dtstart(sp) : icaltime_null_time();
    icaltimezone *z = sp ? cal_zone_of(p->root, sp, st) : NULL;
    int64_t s = sp ? eas_utc(p, st, z) : p->start_utc;
    int64_t e;
    icalproperty *ep = icalcomponent_get_first_property(ov, ICAL_DTEND_PROPERTY);
    if (ep) {
        struct icaltimetype et = icalproperty_get_dtend(ep);
        e = prop_utc(p, ep, et);
    } else if (sp) {
        e = st.is_date && !icalcomponent_get_first_property(ov, ICAL_DURATION_PROPERTY)
                ? eas_utc(p, icaltime_add(st, icaldurationtype_from_int(86400)), z)
                : cal_instance_end(p->root, ov, st, z, s);
    } else {
        e = s + p->dur;
    }
    x->start_time = cal_eas_compact(s, p->arena);
    x->end_time = cal_eas_compact(e < s ? s : e, p->arena);
    x->present |= CAL_EAS_STARTTIME | CAL_EAS_ENDTIME;
    if (sp && st.is_date != ev->all_day) {
        x->all_day = st.is_date;
        x->present |= CAL_EAS_ALLDAY;
    }

    static const struct {
        icalproperty_kind kind;
        uint32_t bit;
        size_t off;
    } texts[] = {
        {ICAL_SUMMARY_PROPERTY, CAL_EAS_SUBJECT, offsetof(struct cal_eas_exception, subject)},
        {ICAL_LOCATION_PROPERTY, CAL_EAS_LOCATION, offsetof(struct cal_eas_exception, location)},
        {ICAL_DESCRIPTION_PROPERTY, CAL_EAS_BODY, offsetof(struct cal_eas_exception, body)},
    };

    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        const char *mine = text_of(ov, texts[i].kind);
        if (!str_eq(mine, text_of(p->master, texts[i].kind))) {
            const char **slot = (const char **)(void *)((char *)x + texts[i].off);
            *slot = arena_strdup(p->arena, mine ? mine : "");
            x->present |= texts[i].bit;
        }
    }
    int busy = busy_of(ov);
    if (busy != ev->busy_status) {
        x->busy_status = busy;
        x->present |= CAL_EAS_BUSYSTATUS;
    }
    int sens = 0;
    bool has_sens = sensitivity_of(ov, &sens);
    if (has_sens != !!(ev->present & CAL_EAS_SENSITIVITY) ||
        (has_sens && sens != ev->sensitivity)) {
        x->sensitivity = sens;
        x->present |= CAL_EAS_SENSITIVITY;
    }
    int rem = 0;
    if (reminder_of(p, ov, s, e - s, &rem) &&
        (!(ev->present & CAL_EAS_REMINDER) || rem != ev->reminder)) {
        x->reminder = rem;
        x->present |= CAL_EAS_REMINDER;
    }
    categories_of(p, ov, &x->categories, &x->ncategories);
    if (!same_list(x->categories, x->ncategories, ev->categories, ev->ncategories)) {
        x->present |= CAL_EAS_CATEGORIES;
    }
    attendees_of(p, ov, &x->attendees, &x->nattendees);
    if (!same_attendees(x->attendees, x->nattendees, ev->attendees, ev->nattendees)) {
        x->present |= CAL_EAS_ATTENDEES;
    }
}

static int cmp_exception(const void *a, const void *b)
{
    const struct cal_eas_exception *x = a, *y = b;
    int c = strcmp(x->exception_start_time, y->exception_start_time);
    /* a deletion sorts first so that a duplicate of it is the one dropped */
    return c ? c : (int)y->deleted - (int)x->deleted;
}

/* Exceptions from the master's EXDATEs and the overrides of its UID. Returns -1 when there
 * are more than CAL_EAS_MAX_EXCEPTIONS (the series is then flattened). */
static int exceptions_of(const struct proj *p, struct cal_eas_event *ev)
{
    const char *uid = icalcomponent_get_uid(p->master);
    size_t cap = cal_count_props(p->master, ICAL_EXDATE_PROPERTY);
    for (icalcomponent *c = icalcomponent_get_first_component(p->root, ICAL_VEVENT_COMPONENT); c;
         c = icalcomponent_get_next_component(p->root, ICAL_VEVENT_COMPONENT)) {
        cap += c != p->master;
    }
    if (cap == 0) {
        return 0;
    }
    struct cal_eas_exception *x = arena_zalloc(p->arena, cap * sizeof(*x));
    size_t n = 0;
    for (icalproperty *xp = icalcomponent_get_first_property(p->master, ICAL_EXDATE_PROPERTY); xp;
         xp = icalcomponent_get_next_property(p->master, ICAL_EXDATE_PROPERTY)) {
        struct icaltimetype t = icalproperty_get_exdate(xp);
        x[n].deleted = true;
        x[n].exception_start_time = cal_eas_compact(prop_utc(p, xp, t), p->arena);
        n++;
    }
    for (icalcomponent *c = icalcomponent_get_first_component(p->root, ICAL_VEVENT_COMPONENT); c;
         c = icalcomponent_get_next_component(p->root, ICAL_VEVENT_COMPONENT)) {
        icalproperty *rp = icalcomponent_get_first_property(c, ICAL_RECURRENCEID_PROPERTY);
        const char *u = icalcomponent_get_uid(c);
        if (c == p->master || !rp || !str_eq(u, uid)) {
            continue;
        }
        struct icaltimetype rid = icalproperty_get_recurrenceid(rp);
        x[n].exception_start_time = cal_eas_compact(prop_utc(p, rp, rid), p->arena);
        icalproperty *sp = icalcomponent_get_first_property(c, ICAL_STATUS_PROPERTY);
        if (sp && icalproperty_get_status(sp) == ICAL_STATUS_CANCELLED) {
            x[n].deleted = true;
        } else {
            override_of(p, ev, c, &x[n]);
        }
        n++;
    }
    qsort(x, n, sizeof(*x), cmp_exception);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k > 0 && strcmp(x[k - 1].exception_start_time, x[i].exception_start_time) == 0) {
            continue;
        }
        x[k++] = x[i];
    }
    if (k > CAL_EAS_MAX_EXCEPTIONS) {
        return -1;
    }
    ev->exceptions = x;
    ev->nexceptions = k;
    ev->present |= CAL_EAS_EXCEPTIONS;
    return 0;
}

/* Recurrence and Exceptions, or is_flattened (§4.5, §4.6). */
static void series_of(const struct proj *p,
                      struct cal_eas_event *ev,
                      struct icaltimetype dtstart,
                      icaltimezone *zone)
{
    size_t nrules = cal_count_props(p->master, ICAL_RRULE_PROPERTY);
    if (nrules == 0 && !icalcomponent_get_first_property(p->master, ICAL_RDATE_PROPERTY)) {
        return;
    }
    icalproperty *rp = icalcomponent_get_first_property(p->master, ICAL_RRULE_PROPERTY);
    if (nrules != 1 || icalcomponent_get_first_property(p->master, ICAL_RDATE_PROPERTY) ||
        icalcomponent_get_first_property(p->master, ICAL_EXRULE_PROPERTY)) {
        ev->is_flattened = true;
        return;
    }
    struct icalrecurrencetype r = icalproperty_get_rrule(rp);
    if (cal_eas_recur_from_rrule(&r, dtstart, until_of(p, &r, dtstart, zone), &ev->recurrence) !=
        0) {
        ev->is_flattened = true;
        return;
    }
    if (p->o->version < 141) {
        ev->recurrence.present &= ~(uint32_t)CAL_EAS_R_FIRSTDAYOFWEEK;
    }
    if (p->o->version >= 140) {
        ev->recurrence.calendar_type = 0;
        ev->recurrence.present |= CAL_EAS_R_CALENDARTYPE;
    }
    ev->present |= CAL_EAS_RECURRENCE;
    if (exceptions_of(p, ev) != 0) {
        ev->present &= ~(uint32_t)(CAL_EAS_RECURRENCE | CAL_EAS_EXCEPTIONS);
        memset(&ev->recurrence, 0, sizeof(ev->recurrence));
        ev->is_flattened = true;
    }
}

static const char *dup_or_null(struct arena *a, const char *s)
{
    return s ? arena_strdup(a, s) : NULL;
}

/* 16.x B:Location beyond DisplayName: LOCATION;ALTREP and GEO (§4.2). */
static void location_of(const struct proj *p, icalcomponent *m, struct cal_eas_event *ev)
{
    if (p->o->version < 160) {
        return;
    }
    icalproperty *lp = icalcomponent_get_first_property(m, ICAL_LOCATION_PROPERTY);
    icalparameter *alt = lp ? icalproperty_get_first_parameter(lp, ICAL_ALTREP_PARAMETER) : NULL;
    if (alt && icalparameter_get_altrep(alt)) {
        ev->location_uri = arena_strdup(p->arena, icalparameter_get_altrep(alt));
    }
    icalproperty *gp = icalcomponent_get_first_property(m, ICAL_GEO_PROPERTY);
    if (gp) {
        struct icalgeotype g = icalproperty_get_geo(gp);
        ev->latitude = arena_printf(p->arena, "%.6f", g.lat);
        ev->longitude = arena_printf(p->arena, "%.6f", g.lon);
    }
    const char *x = xprop(m, "X-EAS-LOCATION");
    cal_eas_loc_from_json(x, p->arena, ev->loc);
    if (ev->location_uri || ev->latitude || x) {
        ev->present |= CAL_EAS_LOCATION;
        if (!ev->location) {
            ev->location = "";
        }
    }
}

/* The scalar and list fields of the master. */
static void fields_of(const struct proj *p, struct cal_eas_event *ev)
{
    icalcomponent *m = p->master;
    struct arena *a = p->arena;
    const char *uid = icalcomponent_get_uid(m);
    if (uid) {
        ev->uid = arena_strdup(a, uid);
        ev->present |= CAL_EAS_UID;
    }
    icalproperty *dp = icalcomponent_get_first_property(m, ICAL_DTSTAMP_PROPERTY);
    icalproperty *lm = icalcomponent_get_first_property(m, ICAL_LASTMODIFIED_PROPERTY);
    int64_t stamp = dp ? prop_utc(p, dp, icalproperty_get_dtstamp(dp)) : INT64_MIN;
    if (lm) {
        /* §4.2: send LAST-MODIFIED if later */
        int64_t l = prop_utc(p, lm, icalproperty_get_lastmodified(lm));
        stamp = l > stamp ? l : stamp;
    }
    if (stamp != INT64_MIN) {
        ev->dtstamp = cal_eas_compact(stamp, a);
        ev->present |= CAL_EAS_DTSTAMP;
    }

    static const struct {
        icalproperty_kind kind;
        uint32_t bit;
        size_t off;
    } texts[] = {
        {ICAL_SUMMARY_PROPERTY, CAL_EAS_SUBJECT, offsetof(struct cal_eas_event, subject)},
        {ICAL_LOCATION_PROPERTY, CAL_EAS_LOCATION, offsetof(struct cal_eas_event, location)},
        {ICAL_DESCRIPTION_PROPERTY, CAL_EAS_BODY, offsetof(struct cal_eas_event, body)},
    };

    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        const char *v = text_of(m, texts[i].kind);
        if (v) {
            const char **slot = (const char **)(void *)((char *)ev + texts[i].off);
            *slot = arena_strdup(a, v);
            ev->present |= texts[i].bit;
        }
    }
    location_of(p, m, ev);
    const char *html = html_of(m);
    if (html) {
        ev->body_html = arena_strdup(a, html);
        ev->present |= CAL_EAS_BODY;
        if (!ev->body) {
            ev->body = "";
        }
    }
    icalproperty *op = icalcomponent_get_first_property(m, ICAL_ORGANIZER_PROPERTY);
    if (op) {
        ev->organizer_email = arena_strdup(a, mailto(icalproperty_get_organizer(op)));
        ev->organizer_name = dup_or_null(a, cn_of(op));
        ev->present |= CAL_EAS_ORGANIZER;
    }
    ev->busy_status = busy_of(m);
    ev->present |= CAL_EAS_BUSYSTATUS;
    if (sensitivity_of(m, &ev->sensitivity)) {
        ev->present |= CAL_EAS_SENSITIVITY;
    }
    if (reminder_of(p, m, p->start_utc, p->dur, &ev->reminder)) {
        ev->present |= CAL_EAS_REMINDER;
    }
    attendees_of(p, m, &ev->attendees, &ev->nattendees);
    if (ev->nattendees) {
        ev->present |= CAL_EAS_ATTENDEES;
    }
    categories_of(p, m, &ev->categories, &ev->ncategories);
    if (ev->ncategories) {
        ev->present |= CAL_EAS_CATEGORIES;
    }
    meeting_of(p, m, ev);
    if (p->o->version >= 140) {
        const char *d = xprop(m, "X-MICROSOFT-DISALLOW-COUNTER");
        if (d) {
            ev->disallow_new_time_proposal = strcasecmp(d, "TRUE") == 0;
            ev->present |= CAL_EAS_DISALLOWNEWTIMEPROPOSAL;
        }
        const char *rt = xprop(m, "X-EAS-REPLYTIME");
        int64_t t;
        if (rt && cal_eas_parse_time(rt, &t) == 0) {
            ev->appointment_reply_time = cal_eas_compact(t, a);
            ev->present |= CAL_EAS_APPOINTMENTREPLYTIME;
        }
    }
}

/* StartTime, EndTime, AllDayEvent and Timezone of the master (§4.3.1, §4.4). */
static void times_of(struct proj *p, struct cal_eas_event *ev)
{
    icalcomponent *m = p->master;
    icalproperty *sp = icalcomponent_get_first_property(m, ICAL_DTSTART_PROPERTY);
    struct icaltimetype st = sp ? icalproperty_get_dtstart(sp) : icaltime_null_time();
    icaltimezone *zone = sp ? cal_zone_of(p->root, sp, st) : NULL;
    if (zone == icaltimezone_get_utc_timezone()) {
        zone = NULL;
    }
    p->start_utc = eas_utc(p, st, zone);
    int64_t end;
    icalproperty *ep = icalcomponent_get_first_property(m, ICAL_DTEND_PROPERTY);
    if (st.is_date) {
        struct icaltimetype e = icaltime_add(st, icaldurationtype_from_int(86400));
        if (ep && icalproperty_get_dtend(ep).is_date) {
            e = icalproperty_get_dtend(ep);
        } else if (icalcomponent_get_first_property(m, ICAL_DURATION_PROPERTY)) {
            struct icaldurationtype d = icalcomponent_get_duration(m);
            int days = (int)(d.weeks * 7 + d.days + (d.hours || d.minutes || d.seconds));
            e = st;
            icaltime_adjust(&e, days > 0 ? days : 1, 0, 0, 0);
        }
        end = eas_utc(p, e, NULL);
    } else {
        end = cal_instance_end(p->root, m, st, zone ? zone : p->defzone, p->start_utc);
    }
    if (end < p->start_utc) {
        end = p->start_utc;
    }
    p->dur = end - p->start_utc;
    ev->all_day = st.is_date;
    ev->start_time = cal_eas_compact(p->start_utc, p->arena);
    ev->end_time = cal_eas_compact(end, p->arena);
    ev->present |= CAL_EAS_ALLDAY | CAL_EAS_STARTTIME | CAL_EAS_ENDTIME;
    icalproperty *rr = icalcomponent_get_first_property(m, ICAL_RRULE_PROPERTY);
    if (!(st.is_date && p->o->version >= 160)) {
        /* 16.x sends all-day items without a Timezone (§4.4) */
        icaltimezone *bz = st.is_date || !zone ? p->defzone : zone;
        icalparameter *tzp = sp ? icalproperty_get_first_parameter(sp, ICAL_TZID_PARAMETER) : NULL;
        const char *name = bz == zone && tzp ? icalparameter_get_tzid(tzp) : p->o->default_tz;
        struct cal_eas_tz tz;
        cal_eas_tz_from_zone(bz, name, rule_year(p, st, rr), &tz);
        ev->timezone = cal_eas_tz_encode(&tz, p->arena);
        ev->present |= CAL_EAS_TIMEZONE;
    }
    p->dtstart = st;
    p->zone = zone;
}

int cal_eas_from_ical_opts(struct slice ics,
                           const struct cal_eas_opts *opts,
                           struct arena *arena,
                           struct cal_eas_event *out,
                           struct err *err)
{
    memset(out, 0, sizeof(*out));
    icalcomponent *root = cal_parse_stored_read(ics, arena, err);
    if (!root) {
        return -1;
    }
    int rc = -1;
    struct proj p = {.o = opts, .arena = arena, .root = root, .master = cal_master_vevent(root)};
    if (!p.master) {
        err_set(err, &cal_cond_eas_unsupported, "object holds no VEVENT");
        goto out;
    }
    if (opts->default_tz) {
        p.defzone = cal_eas_builtin_zone(opts->default_tz);
        if (p.defzone == icaltimezone_get_utc_timezone()) {
            p.defzone = NULL;
        }
    }
    times_of(&p, out);
    fields_of(&p, out);
    series_of(&p, out, p.dtstart, p.zone);
    rc = 0;
out:
    cal_tree_free(root);
    return rc;
}

int cal_eas_from_ical(struct slice ics,
                      unsigned version,
                      struct arena *arena,
                      struct cal_eas_event *out,
                      struct err *err)
{
    struct cal_eas_opts o = {.version = version, .now = time_now()};
    return cal_eas_from_ical_opts(ics, &o, arena, out, err);
}
