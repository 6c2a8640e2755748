/* eas/calmap_read.c: a stored calendar object as an ActiveSync calendar item (activesync.md
 * §4.2, MS-ASCAL): times as Compact DateTime in UTC, the zone as a Timezone blob, the RRULE
 * as Recurrence, overrides and EXDATEs as Exceptions, people, alarm, class and transparency,
 * read through cal's editing API (cal/edit.h) on a read-only parse. Also the helpers the
 * inbound direction (calmap_write.c) shares. Reads only; never writes iCalendar
 * (calmap_write.c does) and never touches the wire encoding (eas/item.c). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cal/edit.h"
#include "eas/calmap.h"
#include "eas/calmap_int.h"
#include "util/timeutil.h"

/* ---------------------------------------------------------------------------------------- */
/* Shared helpers */

const char *eas_calmap_compact(int64_t t, struct arena *arena)
{
    struct cal_time u = cal_time_of(t, NULL);
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

int eas_calmap_parse_time(const char *s, int64_t *t_out)
{
    if (!s) {
        return -1;
    }
    size_t n = strlen(s);
    struct cal_time t = {0};
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
    if (!ok || (rest < n && !(rest + 1 == n && s[rest] == 'Z')) || !cal_time_is_valid(t) ||
        t.second > 59) {
        return -1;
    }
    *t_out = cal_time_to_unix(t, NULL);
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* X-EAS-LOCATION: the 16.x B:Location children iCalendar has no property for */

static const char *const loc_names[EAS_CALMAP_LOC_NFIELDS] = {
    [EAS_CALMAP_LOC_ANNOTATION] = "Annotation",
    [EAS_CALMAP_LOC_STREET] = "Street",
    [EAS_CALMAP_LOC_CITY] = "City",
    [EAS_CALMAP_LOC_STATE] = "State",
    [EAS_CALMAP_LOC_COUNTRY] = "Country",
    [EAS_CALMAP_LOC_POSTALCODE] = "PostalCode",
    [EAS_CALMAP_LOC_ACCURACY] = "Accuracy",
    [EAS_CALMAP_LOC_ALTITUDE] = "Altitude",
    [EAS_CALMAP_LOC_ALTITUDEACCURACY] = "AltitudeAccuracy",
};

const char *eas_calmap_loc_name(enum eas_calmap_loc_field f)
{
    return (unsigned)f < EAS_CALMAP_LOC_NFIELDS ? loc_names[f] : NULL;
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

const char *eas_calmap_loc_to_json(const char *const loc[EAS_CALMAP_LOC_NFIELDS],
                                   struct arena *arena)
{
    size_t cap = 2;
    for (size_t i = 0; i < EAS_CALMAP_LOC_NFIELDS; i++) {
        cap += loc[i] ? 6 * strlen(loc[i]) + strlen(loc_names[i]) + 6 : 0;
    }
    if (cap == 2) {
        return NULL;
    }
    struct out o = {arena_alloc(arena, cap + 1), 0};
    for (size_t i = 0; i < EAS_CALMAP_LOC_NFIELDS; i++) {
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

size_t eas_calmap_loc_from_json(const char *json,
                                struct arena *arena,
                                const char *loc[EAS_CALMAP_LOC_NFIELDS])
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
        for (size_t i = 0; i < EAS_CALMAP_LOC_NFIELDS; i++) {
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
    const struct eas_calmap_opts *o;
    struct arena *arena;
    struct cal_doc *doc;
    struct cal_node *root;
    struct cal_node *master;
    struct cal_zone *defzone;     /* opts->default_tz, NULL for UTC */
    struct cal_time dtstart;      /* the master's DTSTART */
    struct cal_zone *zone;        /* its zone, NULL for UTC, floating and DATE */
    int64_t start_utc;            /* the master's first instance */
    int64_t dur;                  /* its length in seconds */
    const struct cal_rrule *rule; /* the master's first RRULE (in `rule_buf`), or NULL */
    struct cal_rrule rule_buf;
};

/* An instant of the item in EAS terms: UTC as is; floating in the default zone; a DATE as
 * its midnight, in the default zone for ≤14.1 and as `T000000Z` for 16.x (§4.4). */
static int64_t eas_utc(const struct proj *p, struct cal_time t, const struct cal_zone *zone)
{
    if (t.is_date) {
        t.is_date = false;
        t.hour = t.minute = t.second = 0;
        t.is_utc = false;
        return cal_time_to_unix(t, p->o->version >= 160 ? NULL : p->defzone);
    }
    if (t.is_utc) {
        return cal_time_to_unix(t, NULL);
    }
    return cal_time_to_unix(t, zone ? zone : p->defzone);
}

/* The instant of the time of `prop` (a DATE-TIME through its zone). */
static int64_t prop_utc(const struct proj *p, struct cal_prop *prop)
{
    struct cal_time t = {0};
    (void)cal_prop_time(prop, &t);
    return eas_utc(p, t, cal_prop_zone(p->doc, prop));
}

static const char *mailto(const char *v)
{
    if (v && strncasecmp(v, "mailto:", 7) == 0) {
        return v + 7;
    }
    return v ? v : "";
}

static const char *xprop(struct cal_node *c, const char *name)
{
    return cal_prop_text(cal_prop_x(c, name));
}

/* The HTML body: X-ALT-DESC;FMTTYPE=text/html (§4.2), or NULL. */
static const char *html_of(struct cal_node *c)
{
    for (struct cal_prop *p = cal_prop_first(c, CAL_PROP_X); p; p = cal_prop_next(c, CAL_PROP_X)) {
        const char *n = cal_prop_x_name(p);
        const char *type = cal_prop_param(p, CAL_PARAM_FMTTYPE);
        if (n && strcasecmp(n, "X-ALT-DESC") == 0 && type && strcasecmp(type, "text/html") == 0) {
            return cal_prop_text(p);
        }
    }
    return NULL;
}

static const char *text_of(struct cal_node *c, enum cal_prop_kind kind)
{
    return cal_prop_text(cal_prop_first(c, kind));
}

static bool str_eq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

/* Whether the enumerated property `kind` of `c` has the value `v`. */
static bool prop_is(struct cal_node *c, enum cal_prop_kind kind, const char *v)
{
    const char *t = text_of(c, kind);
    return t && strcasecmp(t, v) == 0;
}

/* BusyStatus (§4.2): X-MICROSOFT-CDO-BUSYSTATUS, else TRANSP, else STATUS:TENTATIVE. */
static int busy_of(struct cal_node *c)
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
    if (prop_is(c, CAL_PROP_TRANSP, "TRANSPARENT")) {
        return 0;
    }
    if (prop_is(c, CAL_PROP_STATUS, "TENTATIVE")) {
        return 1;
    }
    return 2;
}

/* Sensitivity (§4.2): CLASS, with X-EAS-SENSITIVITY telling personal (1) from private. */
static bool sensitivity_of(struct cal_node *c, int *out)
{
    struct cal_prop *p = cal_prop_first(c, CAL_PROP_CLASS);
    if (!p) {
        return false;
    }
    const char *v = cal_prop_text(p);
    if (v && strcasecmp(v, "PRIVATE") == 0) {
        const char *x = xprop(c, "X-EAS-SENSITIVITY");
        *out = x && strcmp(x, "1") == 0 ? 1 : 2;
    } else if (v && strcasecmp(v, "CONFIDENTIAL") == 0) {
        *out = 3;
    } else {
        *out = 0;
    }
    return true;
}

/* Reminder (§4.2): minutes before the start of the first DISPLAY (else AUDIO) VALARM;
 * RELATED=END and absolute triggers are turned into minutes before the first instance. */
static bool
reminder_of(const struct proj *p, struct cal_node *c, int64_t start, int64_t dur, int *out)
{
    struct cal_node *pick = NULL;
    for (struct cal_node *a = cal_node_first(c, CAL_NODE_VALARM); a;
         a = cal_node_next(c, CAL_NODE_VALARM)) {
        if (prop_is(a, CAL_PROP_ACTION, "DISPLAY")) {
            pick = a;
            break;
        }
        if (prop_is(a, CAL_PROP_ACTION, "AUDIO") && !pick) {
            pick = a;
        }
    }
    struct cal_prop *tp = pick ? cal_prop_first(pick, CAL_PROP_TRIGGER) : NULL;
    bool is_abs;
    struct cal_time when;
    int64_t secs;
    if (!cal_prop_trigger(tp, &is_abs, &when, &secs)) {
        return false;
    }
    int64_t at;
    if (is_abs) {
        at = eas_utc(p, when, NULL);
    } else {
        const char *rel = cal_prop_param(tp, CAL_PARAM_RELATED);
        bool from_end = rel && strcasecmp(rel, "END") == 0;
        at = start + (from_end ? dur : 0) + secs;
    }
    int64_t mins = (start - at) / 60;
    *out = mins < 0 ? 0 : (int)(mins > 0x7fffffff ? 0x7fffffff : mins);
    return true;
}

static int partstat_status(const struct cal_prop *a)
{
    static const struct {
        const char *name;
        int status;
    } map[] = {
        {"NEEDS-ACTION", EAS_CALMAP_STATUS_NOT_RESPONDED},
        {"TENTATIVE", EAS_CALMAP_STATUS_TENTATIVE},
        {"ACCEPTED", EAS_CALMAP_STATUS_ACCEPTED},
        {"DECLINED", EAS_CALMAP_STATUS_DECLINED},
    };

    const char *ps = cal_prop_param(a, CAL_PARAM_PARTSTAT);
    for (size_t i = 0; ps && i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcasecmp(ps, map[i].name) == 0) {
            return map[i].status;
        }
    }
    return EAS_CALMAP_STATUS_UNKNOWN; /* none, DELEGATED and the rest (§4.7) */
}

int eas_calmap_attendee_type(const struct cal_prop *a)
{
    const char *cu = cal_prop_param(a, CAL_PARAM_CUTYPE);
    if (cu && (strcasecmp(cu, "RESOURCE") == 0 || strcasecmp(cu, "ROOM") == 0)) {
        return EAS_CALMAP_TYPE_RESOURCE;
    }
    const char *role = cal_prop_param(a, CAL_PARAM_ROLE);
    if (role &&
        (strcasecmp(role, "OPT-PARTICIPANT") == 0 || strcasecmp(role, "NON-PARTICIPANT") == 0)) {
        return EAS_CALMAP_TYPE_OPTIONAL;
    }
    return EAS_CALMAP_TYPE_REQUIRED;
}

int eas_calmap_attendee_status(const struct cal_prop *a)
{
    return partstat_status(a);
}

static bool rsvp_of(const struct cal_prop *a)
{
    const char *v = cal_prop_param(a, CAL_PARAM_RSVP);
    return v && strcasecmp(v, "TRUE") == 0;
}

static void attendees_of(const struct proj *p,
                         struct cal_node *c,
                         const struct eas_calmap_attendee **out,
                         size_t *n_out)
{
    size_t n = cal_prop_count(c, CAL_PROP_ATTENDEE);
    struct eas_calmap_attendee *a = arena_zalloc(p->arena, (n ? n : 1) * sizeof(*a));
    size_t i = 0;
    for (struct cal_prop *ap = cal_prop_first(c, CAL_PROP_ATTENDEE); ap;
         ap = cal_prop_next(c, CAL_PROP_ATTENDEE)) {
        a[i].email = arena_strdup(p->arena, mailto(cal_prop_text(ap)));
        const char *cn = cal_prop_param(ap, CAL_PARAM_CN);
        a[i].name = cn ? arena_strdup(p->arena, cn) : NULL;
        a[i].status = partstat_status(ap);
        a[i].type = eas_calmap_attendee_type(ap);
        i++;
    }
    *out = a;
    *n_out = n;
}

static void
categories_of(const struct proj *p, struct cal_node *c, const char *const **out, size_t *n_out)
{
    size_t n = cal_prop_count(c, CAL_PROP_CATEGORIES);
    const char **v = arena_zalloc(p->arena, (n ? n : 1) * sizeof(*v));
    size_t i = 0;
    for (struct cal_prop *cp = cal_prop_first(c, CAL_PROP_CATEGORIES); cp;
         cp = cal_prop_next(c, CAL_PROP_CATEGORIES)) {
        const char *s = cal_prop_text(cp);
        v[i++] = arena_strdup(p->arena, s ? s : "");
    }
    *out = v;
    *n_out = n;
}

/* Whether `email` is one of the principal's addresses. */
static bool is_me(const struct proj *p, const char *email)
{
    if (!email || !p->o->principal) {
        return false;
    }
    if (strcasecmp(email, p->o->principal) == 0) {
        return true;
    }
    for (size_t i = 0; i < p->o->nalso; i++) {
        if (strcasecmp(email, p->o->also[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* Whether the principal is `email` (no principal: the organizer is the principal). */
static bool is_principal(const struct proj *p, const char *email, bool is_organizer)
{
    if (!p->o->principal) {
        return is_organizer;
    }
    return is_me(p, email);
}

/* MeetingStatus, ResponseType, ResponseRequested (§4.7). */
static void meeting_of(const struct proj *p, struct cal_node *c, struct eas_calmap_event *ev)
{
    struct cal_prop *op = cal_prop_first(c, CAL_PROP_ORGANIZER);
    const char *org = op ? mailto(cal_prop_text(op)) : NULL;
    bool others = false;
    bool rsvp_any = false;
    struct cal_prop *mine = NULL;
    for (struct cal_prop *ap = cal_prop_first(c, CAL_PROP_ATTENDEE); ap;
         ap = cal_prop_next(c, CAL_PROP_ATTENDEE)) {
        const char *e = mailto(cal_prop_text(ap));
        if (!org || strcasecmp(e, org) != 0) {
            others = true;
        }
        if (rsvp_of(ap)) {
            rsvp_any = true;
        }
        if (is_me(p, e)) {
            mine = ap;
        }
    }
    bool cancelled = prop_is(c, CAL_PROP_STATUS, "CANCELLED");
    bool organizer = !org || is_principal(p, org, true);
    ev->present |= EAS_CALMAP_MEETINGSTATUS;
    if (!others) {
        ev->meeting_status = 0;
        return;
    }
    ev->meeting_status = organizer ? (cancelled ? 5 : 1) : (cancelled ? 7 : 3);
    if (p->o->version < 140) {
        return;
    }
    ev->present |= EAS_CALMAP_RESPONSETYPE | EAS_CALMAP_RESPONSEREQUESTED;
    if (organizer) {
        ev->response_type = 1;
        ev->response_requested = rsvp_any;
    } else if (mine) {
        int st = partstat_status(mine);
        ev->response_type = st == EAS_CALMAP_STATUS_UNKNOWN ? 5 : st;
        ev->response_requested = rsvp_of(mine);
    } else {
        ev->response_type = 0;
        ev->response_requested = rsvp_any;
    }
}

/* The rule year of the blob (§4.3.1 step 2). */
static int rule_year(const struct proj *p, struct cal_time dtstart, const struct cal_rrule *r)
{
    int year = dtstart.year;
    if (!r || p->o->now <= p->start_utc) {
        return year;
    }
    bool running = r->count == 0 && (!r->has_until || eas_utc(p, r->until, NULL) > p->o->now);
    if (running) {
        year = cal_time_of(p->o->now, NULL).year;
    }
    return year;
}

/* The UNTIL of `r` as Compact DateTime: a DATE in the all-day convention, a local or
 * floating DATE-TIME through the series' zone (§4.5). */
static const char *until_of(const struct proj *p,
                            const struct cal_rrule *r,
                            struct cal_time dtstart,
                            const struct cal_zone *zone)
{
    if (!r->has_until) {
        return NULL;
    }
    struct cal_time u = r->until;
    if (u.is_date && !dtstart.is_date) {
        /* a DATE UNTIL on a timed series: through the end of that local day */
        u.is_date = false;
        u.hour = 23;
        u.minute = 59;
        u.second = 59;
    }
    return eas_calmap_compact(eas_utc(p, u, zone), p->arena);
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

static bool same_attendees(const struct eas_calmap_attendee *a,
                           size_t na,
                           const struct eas_calmap_attendee *b,
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
                        const struct eas_calmap_event *ev,
                        struct cal_node *ov,
                        struct eas_calmap_exception *x)
{
    struct cal_prop *sp = cal_prop_first(ov, CAL_PROP_DTSTART);
    struct cal_time st = {0};
    (void)cal_prop_time(sp, &st);
    struct cal_zone *z = sp ? cal_prop_zone(p->doc, sp) : NULL;
    int64_t s = sp ? eas_utc(p, st, z) : p->start_utc;
    int64_t e;
    struct cal_prop *ep = cal_prop_first(ov, CAL_PROP_DTEND);
    if (ep) {
        e = prop_utc(p, ep);
    } else if (sp) {
        e = st.is_date && !cal_prop_first(ov, CAL_PROP_DURATION)
                ? eas_utc(p, cal_time_add_days(st, 1), z)
                : cal_node_end(p->doc, ov, st, z, s);
    } else {
        e = s + p->dur;
    }
    x->start_time = eas_calmap_compact(s, p->arena);
    x->end_time = eas_calmap_compact(e < s ? s : e, p->arena);
    x->present |= EAS_CALMAP_STARTTIME | EAS_CALMAP_ENDTIME;
    if (sp && st.is_date != ev->all_day) {
        x->all_day = st.is_date;
        x->present |= EAS_CALMAP_ALLDAY;
    }

    static const struct {
        enum cal_prop_kind kind;
        uint32_t bit;
        size_t off;
    } texts[] = {
        {CAL_PROP_SUMMARY, EAS_CALMAP_SUBJECT, offsetof(struct eas_calmap_exception, subject)},
        {CAL_PROP_LOCATION, EAS_CALMAP_LOCATION, offsetof(struct eas_calmap_exception, location)},
        {CAL_PROP_DESCRIPTION, EAS_CALMAP_BODY, offsetof(struct eas_calmap_exception, body)},
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
        x->present |= EAS_CALMAP_BUSYSTATUS;
    }
    int sens = 0;
    bool has_sens = sensitivity_of(ov, &sens);
    if (has_sens != !!(ev->present & EAS_CALMAP_SENSITIVITY) ||
        (has_sens && sens != ev->sensitivity)) {
        x->sensitivity = sens;
        x->present |= EAS_CALMAP_SENSITIVITY;
    }
    int rem = 0;
    if (reminder_of(p, ov, s, e - s, &rem) &&
        (!(ev->present & EAS_CALMAP_REMINDER) || rem != ev->reminder)) {
        x->reminder = rem;
        x->present |= EAS_CALMAP_REMINDER;
    }
    categories_of(p, ov, &x->categories, &x->ncategories);
    if (!same_list(x->categories, x->ncategories, ev->categories, ev->ncategories)) {
        x->present |= EAS_CALMAP_CATEGORIES;
    }
    attendees_of(p, ov, &x->attendees, &x->nattendees);
    if (!same_attendees(x->attendees, x->nattendees, ev->attendees, ev->nattendees)) {
        x->present |= EAS_CALMAP_ATTENDEES;
    }
}

static int cmp_exception(const void *a, const void *b)
{
    const struct eas_calmap_exception *x = a, *y = b;
    int c = strcmp(x->exception_start_time, y->exception_start_time);
    /* a deletion sorts first so that a duplicate of it is the one dropped */
    return c ? c : (int)y->deleted - (int)x->deleted;
}

/* Exceptions from the master's EXDATEs and the overrides of its UID. Returns -1 when there
 * are more than EAS_CALMAP_MAX_EXCEPTIONS (the series is then flattened). */
static int exceptions_of(const struct proj *p, struct eas_calmap_event *ev)
{
    const char *uid = cal_node_uid(p->master);
    size_t cap = cal_prop_count(p->master, CAL_PROP_EXDATE);
    for (struct cal_node *c = cal_node_first(p->root, CAL_NODE_VEVENT); c;
         c = cal_node_next(p->root, CAL_NODE_VEVENT)) {
        cap += c != p->master;
    }
    if (cap == 0) {
        return 0;
    }
    struct eas_calmap_exception *x = arena_zalloc(p->arena, cap * sizeof(*x));
    size_t n = 0;
    for (struct cal_prop *xp = cal_prop_first(p->master, CAL_PROP_EXDATE); xp;
         xp = cal_prop_next(p->master, CAL_PROP_EXDATE)) {
        x[n].deleted = true;
        x[n].exception_start_time = eas_calmap_compact(prop_utc(p, xp), p->arena);
        n++;
    }
    for (struct cal_node *c = cal_node_first(p->root, CAL_NODE_VEVENT); c;
         c = cal_node_next(p->root, CAL_NODE_VEVENT)) {
        struct cal_prop *rp = cal_prop_first(c, CAL_PROP_RECURRENCEID);
        const char *u = cal_node_uid(c);
        if (c == p->master || !rp || !str_eq(u, uid)) {
            continue;
        }
        x[n].exception_start_time = eas_calmap_compact(prop_utc(p, rp), p->arena);
        if (prop_is(c, CAL_PROP_STATUS, "CANCELLED")) {
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
    if (k > EAS_CALMAP_MAX_EXCEPTIONS) {
        return -1;
    }
    ev->exceptions = x;
    ev->nexceptions = k;
    ev->present |= EAS_CALMAP_EXCEPTIONS;
    return 0;
}

/* Recurrence and Exceptions, or is_flattened (§4.5, §4.6). */
static void series_of(const struct proj *p,
                      struct eas_calmap_event *ev,
                      struct cal_time dtstart,
                      const struct cal_zone *zone)
{
    size_t nrules = cal_prop_count(p->master, CAL_PROP_RRULE);
    if (nrules == 0 && !cal_prop_first(p->master, CAL_PROP_RDATE)) {
        return;
    }
    if (nrules != 1 || cal_prop_first(p->master, CAL_PROP_RDATE) ||
        cal_prop_first(p->master, CAL_PROP_EXRULE) || !p->rule) {
        ev->is_flattened = true;
        return;
    }
    const struct cal_rrule *r = p->rule;
    if (eas_calmap_recur_from_rrule(r, dtstart, until_of(p, r, dtstart, zone), &ev->recurrence) !=
        0) {
        ev->is_flattened = true;
        return;
    }
    if (p->o->version < 141) {
        ev->recurrence.present &= ~(uint32_t)EAS_CALMAP_R_FIRSTDAYOFWEEK;
    }
    if (p->o->version >= 140) {
        ev->recurrence.calendar_type = 0;
        ev->recurrence.present |= EAS_CALMAP_R_CALENDARTYPE;
    }
    ev->present |= EAS_CALMAP_RECURRENCE;
    if (exceptions_of(p, ev) != 0) {
        ev->present &= ~(uint32_t)(EAS_CALMAP_RECURRENCE | EAS_CALMAP_EXCEPTIONS);
        memset(&ev->recurrence, 0, sizeof(ev->recurrence));
        ev->is_flattened = true;
    }
}

static const char *dup_or_null(struct arena *a, const char *s)
{
    return s ? arena_strdup(a, s) : NULL;
}

/* 16.x B:Location beyond DisplayName: LOCATION;ALTREP, GEO and X-EAS-LOCATION (§4.2). */
static void location_of(const struct proj *p, struct cal_node *m, struct eas_calmap_event *ev)
{
    if (p->o->version < 160) {
        return;
    }
    const char *alt = cal_prop_param(cal_prop_first(m, CAL_PROP_LOCATION), CAL_PARAM_ALTREP);
    if (alt) {
        ev->location_uri = arena_strdup(p->arena, alt);
    }
    double lat, lon;
    if (cal_prop_geo(cal_prop_first(m, CAL_PROP_GEO), &lat, &lon)) {
        ev->latitude = arena_printf(p->arena, "%.6f", lat);
        ev->longitude = arena_printf(p->arena, "%.6f", lon);
    }
    const char *x = xprop(m, "X-EAS-LOCATION");
    eas_calmap_loc_from_json(x, p->arena, ev->loc);
    if (ev->location_uri || ev->latitude || x) {
        ev->present |= EAS_CALMAP_LOCATION;
        if (!ev->location) {
            ev->location = "";
        }
    }
}

/* The scalar and list fields of the master. */
static void fields_of(const struct proj *p, struct eas_calmap_event *ev)
{
    struct cal_node *m = p->master;
    struct arena *a = p->arena;
    const char *uid = cal_node_uid(m);
    if (uid) {
        ev->uid = arena_strdup(a, uid);
        ev->present |= EAS_CALMAP_UID;
    }
    struct cal_prop *dp = cal_prop_first(m, CAL_PROP_DTSTAMP);
    struct cal_prop *lm = cal_prop_first(m, CAL_PROP_LASTMODIFIED);
    int64_t stamp = dp ? prop_utc(p, dp) : INT64_MIN;
    if (lm) {
        /* §4.2: send LAST-MODIFIED if later */
        int64_t l = prop_utc(p, lm);
        stamp = l > stamp ? l : stamp;
    }
    if (stamp != INT64_MIN) {
        ev->dtstamp = eas_calmap_compact(stamp, a);
        ev->present |= EAS_CALMAP_DTSTAMP;
    }

    static const struct {
        enum cal_prop_kind kind;
        uint32_t bit;
        size_t off;
    } texts[] = {
        {CAL_PROP_SUMMARY, EAS_CALMAP_SUBJECT, offsetof(struct eas_calmap_event, subject)},
        {CAL_PROP_LOCATION, EAS_CALMAP_LOCATION, offsetof(struct eas_calmap_event, location)},
        {CAL_PROP_DESCRIPTION, EAS_CALMAP_BODY, offsetof(struct eas_calmap_event, body)},
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
        ev->present |= EAS_CALMAP_BODY;
        if (!ev->body) {
            ev->body = "";
        }
    }
    struct cal_prop *op = cal_prop_first(m, CAL_PROP_ORGANIZER);
    if (op) {
        ev->organizer_email = arena_strdup(a, mailto(cal_prop_text(op)));
        ev->organizer_name = dup_or_null(a, cal_prop_param(op, CAL_PARAM_CN));
        ev->present |= EAS_CALMAP_ORGANIZER;
    }
    ev->busy_status = busy_of(m);
    ev->present |= EAS_CALMAP_BUSYSTATUS;
    if (sensitivity_of(m, &ev->sensitivity)) {
        ev->present |= EAS_CALMAP_SENSITIVITY;
    }
    if (reminder_of(p, m, p->start_utc, p->dur, &ev->reminder)) {
        ev->present |= EAS_CALMAP_REMINDER;
    }
    attendees_of(p, m, &ev->attendees, &ev->nattendees);
    if (ev->nattendees) {
        ev->present |= EAS_CALMAP_ATTENDEES;
    }
    categories_of(p, m, &ev->categories, &ev->ncategories);
    if (ev->ncategories) {
        ev->present |= EAS_CALMAP_CATEGORIES;
    }
    meeting_of(p, m, ev);
    if (p->o->version >= 140) {
        const char *d = xprop(m, "X-MICROSOFT-DISALLOW-COUNTER");
        if (d) {
            ev->disallow_new_time_proposal = strcasecmp(d, "TRUE") == 0;
            ev->present |= EAS_CALMAP_DISALLOWNEWTIMEPROPOSAL;
        }
        const char *rt = xprop(m, "X-EAS-REPLYTIME");
        int64_t t;
        if (rt && eas_calmap_parse_time(rt, &t) == 0) {
            ev->appointment_reply_time = eas_calmap_compact(t, a);
            ev->present |= EAS_CALMAP_APPOINTMENTREPLYTIME;
        }
    }
}

/* StartTime, EndTime, AllDayEvent and Timezone of the master (§4.3.1, §4.4). */
static void times_of(struct proj *p, struct eas_calmap_event *ev)
{
    struct cal_node *m = p->master;
    struct cal_prop *sp = cal_prop_first(m, CAL_PROP_DTSTART);
    struct cal_time st = {0};
    (void)cal_prop_time(sp, &st);
    struct cal_zone *zone = sp ? cal_prop_zone(p->doc, sp) : NULL;
    if (zone == cal_zone_utc()) {
        zone = NULL;
    }
    p->start_utc = eas_utc(p, st, zone);
    if (cal_prop_rrule(cal_prop_first(m, CAL_PROP_RRULE), &p->rule_buf)) {
        p->rule = &p->rule_buf;
    }
    int64_t end;
    struct cal_prop *ep = cal_prop_first(m, CAL_PROP_DTEND);
    if (st.is_date) {
        struct cal_time e = cal_time_add_days(st, 1);
        struct cal_time et;
        struct cal_duration d;
        if (ep && cal_prop_time(ep, &et) && et.is_date) {
            e = et;
        } else if (cal_node_duration(m, &d)) {
            int days = d.weeks * 7 + d.days + (d.hours || d.minutes || d.seconds);
            e = cal_time_add_days(st, days > 0 ? days : 1);
        }
        end = eas_utc(p, e, NULL);
    } else {
        end = cal_node_end(p->doc, m, st, zone ? zone : p->defzone, p->start_utc);
    }
    if (end < p->start_utc) {
        end = p->start_utc;
    }
    p->dur = end - p->start_utc;
    ev->all_day = st.is_date;
    ev->start_time = eas_calmap_compact(p->start_utc, p->arena);
    ev->end_time = eas_calmap_compact(end, p->arena);
    ev->present |= EAS_CALMAP_ALLDAY | EAS_CALMAP_STARTTIME | EAS_CALMAP_ENDTIME;
    if (!(st.is_date && p->o->version >= 160)) {
        /* 16.x sends all-day items without a Timezone (§4.4) */
        struct cal_zone *bz = st.is_date || !zone ? p->defzone : zone;
        const char *tzid = cal_prop_param(sp, CAL_PARAM_TZID);
        const char *name = bz == zone && tzid ? tzid : p->o->default_tz;
        struct eas_calmap_tz tz;
        eas_calmap_tz_from_zone(bz, name, rule_year(p, st, p->rule), &tz);
        ev->timezone = eas_calmap_tz_encode(&tz, p->arena);
        ev->present |= EAS_CALMAP_TIMEZONE;
    }
    p->dtstart = st;
    p->zone = zone;
}

int eas_calmap_from_ical_opts(struct slice ics,
                              const struct eas_calmap_opts *opts,
                              struct arena *arena,
                              struct eas_calmap_event *out,
                              struct err *err)
{
    memset(out, 0, sizeof(*out));
    struct cal_doc *doc = cal_doc_parse_read(ics, arena, err);
    if (!doc) {
        return -1;
    }
    int rc = -1;
    struct proj p = {.o = opts,
                     .arena = arena,
                     .doc = doc,
                     .root = cal_doc_root(doc),
                     .master = cal_doc_master(doc)};
    if (!p.master) {
        err_set(err, &eas_cond_calmap_unsupported, "object holds no VEVENT");
        goto out;
    }
    if (opts->default_tz) {
        p.defzone = eas_calmap_builtin_zone(opts->default_tz);
        if (p.defzone == cal_zone_utc()) {
            p.defzone = NULL;
        }
    }
    times_of(&p, out);
    fields_of(&p, out);
    series_of(&p, out, p.dtstart, p.zone);
    rc = 0;
out:
    cal_doc_free(doc);
    return rc;
}

int eas_calmap_from_ical(struct slice ics,
                         unsigned version,
                         struct arena *arena,
                         struct eas_calmap_event *out,
                         struct err *err)
{
    struct eas_calmap_opts o = {.version = version, .now = time_now()};
    return eas_calmap_from_ical_opts(ics, &o, arena, out, err);
}
