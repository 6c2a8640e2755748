/* cal/object.c: validation of one calendar object resource (RFC 4791 §4.1) as a PUT brings
 * it, and its index fields (cal.h struct cal_info). libical 3.0 is lenient: it records
 * X-LIC-ERROR properties instead of failing, pairs END with any BEGIN, drops what follows
 * END:VCALENDAR and reads 20261399T256199Z as a date. So this file checks the bytes (UTF-8,
 * BEGIN/END pairing, depth) before libical sees them, and what libical recorded after.
 * Never stores anything and never keeps a libical tree past the call. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libical/ical.h>

#include "cal/cal_int.h"
#include "util/deadline.h"
#include "util/parse.h"

enum {
    LINE_CAP = 80, /* unfolded bytes of a line kept to read BEGIN:/END: and a component name */
};

/* ---------------------------------------------------------------------------------------- */
/* Structure, before libical */

/* Reads the logical line at *pos: RFC 5545 §3.1 folds a line with CRLF and one space or tab;
 * a bare LF counts as CRLF, as libical reads it. Copies up to cap - 1 of the unfolded bytes
 * into `buf` (NUL-terminated) and returns how many there were; moves *pos past the line. */
static size_t next_line(struct slice s, size_t *pos, char *buf, size_t cap)
{
    size_t n = 0;
    size_t i = *pos;
    while (i < s.len) {
        size_t eol = 0;
        if (s.ptr[i] == '\n') {
            eol = 1;
        } else if (s.ptr[i] == '\r' && i + 1 < s.len && s.ptr[i + 1] == '\n') {
            eol = 2;
        }
        if (eol > 0) {
            i += eol;
            if (i < s.len && (s.ptr[i] == ' ' || s.ptr[i] == '\t')) {
                i++; /* a fold: the line goes on */
                continue;
            }
            break;
        }
        if (n + 1 < cap) {
            buf[n] = s.ptr[i];
        }
        n++;
        i++;
    }
    buf[n + 1 < cap ? n : cap - 1] = '\0';
    *pos = i;
    return n;
}

/* The name after "BEGIN:" or "END:" in `line` (case-insensitive), or NULL. */
static const char *begin_end(const char *line, bool *begin)
{
    if (strncasecmp(line, "BEGIN:", 6) == 0) {
        *begin = true;
        return line + 6;
    }
    if (strncasecmp(line, "END:", 4) == 0) {
        *begin = false;
        return line + 4;
    }
    return NULL;
}

/* RFC 5545 §3.4, §3.6: the text is one VCALENDAR, first line to last, whose BEGIN and END
 * lines pair by name, nested at most CAL_MAX_DEPTH deep (libical recurses that deep). Blank
 * lines are let through, as libical skips them. */
static int check_structure(struct slice s, struct err *err)
{
    char names[CAL_MAX_DEPTH][LINE_CAP];
    size_t depth = 0;
    bool begun = false;
    bool ended = false;
    char line[LINE_CAP];
    size_t pos = 0;
    while (pos < s.len) {
        size_t n = next_line(s, &pos, line, sizeof(line));
        if (n == 0) {
            continue;
        }
        if (ended) {
            return err_set(err, &cal_cond_valid_calendar_data, "data after END:VCALENDAR");
        }
        bool begin = false;
        const char *name = begin_end(line, &begin);
        if (!begun && !(name && begin && strcasecmp(name, "VCALENDAR") == 0)) {
            return err_set(err, &cal_cond_valid_calendar_data,
                           "calendar data does not begin with BEGIN:VCALENDAR");
        }
        if (!name) {
            continue;
        }
        if (n >= sizeof(line)) {
            return err_set(err, &cal_cond_valid_calendar_data, "component name too long: %s", name);
        }
        if (begin) {
            if (depth == CAL_MAX_DEPTH) {
                return err_set(err, &cal_cond_valid_calendar_data,
                               "components nested deeper than %d", CAL_MAX_DEPTH);
            }
            memcpy(names[depth++], name, strlen(name) + 1);
            begun = true;
            continue;
        }
        if (depth == 0 || strcasecmp(names[depth - 1], name) != 0) {
            return err_set(err, &cal_cond_valid_calendar_data, "END:%s does not close BEGIN:%s",
                           name, depth > 0 ? names[depth - 1] : "");
        }
        depth--;
        ended = depth == 0;
    }
    if (!begun) {
        return err_set(err, &cal_cond_valid_calendar_data, "no BEGIN:VCALENDAR");
    }
    if (depth > 0) {
        return err_set(err, &cal_cond_valid_calendar_data, "BEGIN:%s is never closed",
                       names[depth - 1]);
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* What libical parsed */

/* The text of the first X-LIC-ERROR libical put into `c` or below, or NULL. */
static const char *first_error(icalcomponent *c)
{
    icalproperty *p = icalcomponent_get_first_property(c, ICAL_XLICERROR_PROPERTY);
    if (p) {
        const char *text = icalproperty_get_xlicerror(p);
        return text ? text : "";
    }
    for (icalcompiter i = icalcomponent_begin_component(c, ICAL_ANY_COMPONENT);
         icalcompiter_deref(&i); icalcompiter_next(&i)) {
        const char *text = first_error(icalcompiter_deref(&i));
        if (text) {
            return text;
        }
    }
    return NULL;
}

/* RFC 5545 TEXT values may be empty (§3.3.11: text = *(...)), and exporters write them
 * (Google: "LOCATION:" and "DESCRIPTION:" on events without them); libical drops such a
 * property and records an error. This forgets those errors, for the properties whose value
 * type is TEXT, so the object is judged by what RFC 5545 says. Recursive over `c`. */
static void forgive_empty_text(icalcomponent *c)
{
    static const char *const text_props[] = {"SUMMARY",    "LOCATION", "DESCRIPTION",
                                             "COMMENT",    "CONTACT",  "RESOURCES",
                                             "CATEGORIES", "TZNAME",   "RELATED-TO"};
    icalproperty *p = icalcomponent_get_first_property(c, ICAL_XLICERROR_PROPERTY);
    while (p) {
        icalproperty *next = icalcomponent_get_next_property(c, ICAL_XLICERROR_PROPERTY);
        const char *text = icalproperty_get_xlicerror(p);
        bool empty_text = false;
        for (size_t i = 0; text && i < sizeof(text_props) / sizeof(text_props[0]); i++) {
            char want[64];
            snprintf(want, sizeof(want), "No value for %s property", text_props[i]);
            empty_text = empty_text || strncmp(text, want, strlen(want)) == 0;
        }
        if (empty_text) {
            icalcomponent_remove_property(c, p);
            icalproperty_free(p);
        }
        p = next;
    }
    for (icalcomponent *k = icalcomponent_get_first_component(c, ICAL_ANY_COMPONENT); k;
         k = icalcomponent_get_next_component(c, ICAL_ANY_COMPONENT)) {
        forgive_empty_text(k);
    }
}

/* The VCALENDAR itself (RFC 5545 §3.6, §3.7): libical recorded no error anywhere below it,
 * one VERSION:2.0, one PRODID, and a Gregorian calendar if any is named. */
static int check_calendar(icalcomponent *root, struct err *err)
{
    if (!root || icalcomponent_isa(root) != ICAL_VCALENDAR_COMPONENT) {
        return err_set(err, &cal_cond_valid_calendar_data, "not one VCALENDAR object");
    }
    forgive_empty_text(root);
    if (icalcomponent_count_errors(root) > 0) {
        const char *text = first_error(root);
        return err_set(err, &cal_cond_valid_calendar_data, "invalid iCalendar data: %s",
                       text ? text : "error in a component");
    }
    icalproperty *version = icalcomponent_get_first_property(root, ICAL_VERSION_PROPERTY);
    const char *v = version ? icalproperty_get_version(version) : NULL;
    if (cal_count_props(root, ICAL_VERSION_PROPERTY) != 1 || !v || strcmp(v, "2.0") != 0) {
        return err_set(err, &cal_cond_valid_calendar_data, "VCALENDAR needs VERSION:2.0");
    }
    if (cal_count_props(root, ICAL_PRODID_PROPERTY) != 1) {
        return err_set(err, &cal_cond_valid_calendar_data, "VCALENDAR needs one PRODID");
    }
    icalproperty *scale = icalcomponent_get_first_property(root, ICAL_CALSCALE_PROPERTY);
    const char *sc = scale ? icalproperty_get_calscale(scale) : NULL;
    if (scale && (!sc || strcasecmp(sc, "GREGORIAN") != 0)) {
        return err_set(err, &cal_cond_valid_calendar_data, "CALSCALE %s is not supported",
                       sc ? sc : "");
    }
    return 0;
}

/* The date or date-time of a property that holds exactly one. */
static struct icaltimetype prop_time(icalproperty *p)
{
    switch (icalproperty_isa(p)) {
    case ICAL_DTSTART_PROPERTY:
        return icalproperty_get_dtstart(p);
    case ICAL_DTEND_PROPERTY:
        return icalproperty_get_dtend(p);
    case ICAL_DUE_PROPERTY:
        return icalproperty_get_due(p);
    case ICAL_RECURRENCEID_PROPERTY:
        return icalproperty_get_recurrenceid(p);
    case ICAL_COMPLETED_PROPERTY:
        return icalproperty_get_completed(p);
    case ICAL_CREATED_PROPERTY:
        return icalproperty_get_created(p);
    case ICAL_EXDATE_PROPERTY:
        return icalproperty_get_exdate(p);
    default:
        return icaltime_null_time();
    }
}

/* Every date in `c` that the span reads names a real day and time. */
static int check_times(icalcomponent *c, struct err *err)
{
    for (icalproperty *p = icalcomponent_get_first_property(c, ICAL_ANY_PROPERTY); p;
         p = icalcomponent_get_next_property(c, ICAL_ANY_PROPERTY)) {
        icalproperty_kind k = icalproperty_isa(p);
        struct icaltimetype t = prop_time(p);
        bool ok = true;
        if (k == ICAL_RDATE_PROPERTY) {
            struct icaldatetimeperiodtype dp = icalproperty_get_rdate(p);
            ok = icaltime_is_null_time(dp.time)
                     ? cal_time_valid(dp.period.start) &&
                           (icaltime_is_null_time(dp.period.end) || cal_time_valid(dp.period.end))
                     : cal_time_valid(dp.time);
        } else if (k == ICAL_RRULE_PROPERTY) {
            struct icalrecurrencetype r = icalproperty_get_rrule(p);
            ok = icaltime_is_null_time(r.until) || cal_time_valid(r.until);
        } else if (!icaltime_is_null_time(t) || k == ICAL_DTSTART_PROPERTY) {
            ok = cal_time_valid(t);
        }
        if (!ok) {
            return err_set(err, &cal_cond_valid_calendar_data, "%s holds no valid date",
                           icalproperty_kind_to_string(k));
        }
    }
    return 0;
}

/* RFC 5545 §3.6.1-§3.6.3 as far as the span depends on them: properties that occur at most
 * once, a VEVENT's DTSTART (required without METHOD), and an end given one way only. */
static int check_props(icalcomponent *c, struct err *err)
{
    static const icalproperty_kind once[] = {
        ICAL_UID_PROPERTY,     ICAL_DTSTART_PROPERTY,   ICAL_DTEND_PROPERTY,
        ICAL_DUE_PROPERTY,     ICAL_DURATION_PROPERTY,  ICAL_RECURRENCEID_PROPERTY,
        ICAL_CREATED_PROPERTY, ICAL_COMPLETED_PROPERTY,
    };
    for (size_t i = 0; i < sizeof(once) / sizeof(once[0]); i++) {
        if (cal_count_props(c, once[i]) > 1) {
            return err_set(err, &cal_cond_valid_calendar_data, "more than one %s",
                           icalproperty_kind_to_string(once[i]));
        }
    }
    bool has_start = icalcomponent_get_first_property(c, ICAL_DTSTART_PROPERTY);
    bool has_dur = icalcomponent_get_first_property(c, ICAL_DURATION_PROPERTY);
    switch (icalcomponent_isa(c)) {
    case ICAL_VEVENT_COMPONENT:
        if (!has_start) {
            return err_set(err, &cal_cond_valid_calendar_data, "VEVENT without DTSTART");
        }
        if (has_dur && icalcomponent_get_first_property(c, ICAL_DTEND_PROPERTY)) {
            return err_set(err, &cal_cond_valid_calendar_data, "VEVENT with DTEND and DURATION");
        }
        break;
    case ICAL_VTODO_COMPONENT:
        if (has_dur && (!has_start || icalcomponent_get_first_property(c, ICAL_DUE_PROPERTY))) {
            return err_set(err, &cal_cond_valid_calendar_data,
                           "VTODO with DURATION needs DTSTART and no DUE");
        }
        break;
    default:
        break;
    }
    return check_times(c, err);
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

/* What the components of one object share, gathered in a first pass. */
struct members {
    enum cal_comp comp;
    const char *uid; /* borrowed from the libical tree */
    size_t masters;  /* components without RECURRENCE-ID */
    size_t rrules;   /* RRULE properties */
    int64_t *rids;   /* RECURRENCE-IDs of the overrides, Unix seconds, in the arena */
    size_t nrids;
    icalcomponent *master; /* the component without RECURRENCE-ID, or NULL */
};

/* RFC 4791 §4.1: one component type, one UID, at most one master and one override per
 * instance. Adds `c` to `m`. */
static int check_member(
    icalcomponent *root, icalcomponent *c, unsigned allowed, struct members *m, struct err *err)
{
    icalcomponent_kind k = icalcomponent_isa(c);
    enum cal_comp cc = comp_of(k);
    if (cc == CAL_COMP_NONE || !(allowed & cc)) {
        return err_set(err, &cal_cond_supported_component, "component %s is not supported",
                       icalcomponent_kind_to_string(k));
    }
    if (m->comp != CAL_COMP_NONE && cc != m->comp) {
        return err_set(err, &cal_cond_valid_object, "more than one component type");
    }
    m->comp = cc;
    if (check_props(c, err) != 0) {
        return -1;
    }
    const char *uid = icalcomponent_get_uid(c);
    if (!uid || !*uid) {
        return err_set(err, &cal_cond_valid_object, "a component has no UID");
    }
    if (m->uid && strcmp(m->uid, uid) != 0) {
        return err_set(err, &cal_cond_valid_object, "components have different UIDs");
    }
    m->uid = uid;
    m->rrules += cal_count_props(c, ICAL_RRULE_PROPERTY);
    icalproperty *rp = icalcomponent_get_first_property(c, ICAL_RECURRENCEID_PROPERTY);
    if (rp) {
        struct icaltimetype r = icalproperty_get_recurrenceid(rp);
        m->rids[m->nrids++] = cal_to_utc(r, cal_zone_of(root, rp, r));
    } else if (++m->masters > 1) {
        return err_set(err, &cal_cond_valid_object, "two components without RECURRENCE-ID");
    } else {
        m->master = c;
    }
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a;
    int64_t y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* RFC 5545 §3.8.4.4 RANGE=THISANDFUTURE: the override moves (and may lengthen) every later
 * instance too. Those are counted at their old times, so the end grows by the move. */
static void
widen_for_range(icalcomponent *root, icalcomponent *ov, icalcomponent *master, struct cal_span *s)
{
    icalproperty *rp = icalcomponent_get_first_property(ov, ICAL_RECURRENCEID_PROPERTY);
    icalparameter *range = rp ? icalproperty_get_first_parameter(rp, ICAL_RANGE_PARAMETER) : NULL;
    icalproperty *sp = icalcomponent_get_first_property(ov, ICAL_DTSTART_PROPERTY);
    if (!range || icalparameter_get_range(range) != ICAL_RANGE_THISANDFUTURE || !sp || !s->any ||
        s->end == INT64_MAX) {
        return;
    }
    struct icaltimetype r = icalproperty_get_recurrenceid(rp);
    int64_t rid = cal_to_utc(r, cal_zone_of(root, rp, r));
    struct icaltimetype st = icalproperty_get_dtstart(sp);
    const icaltimezone *z = cal_zone_of(root, sp, st);
    int64_t start = cal_to_utc(st, z);
    int64_t end = cal_instance_end(root, ov, st, z, start);
    if (end == INT64_MAX) {
        s->end = INT64_MAX;
        return;
    }
    int64_t len = end - start;
    int64_t master_len = 0;
    icalproperty *mp =
        master ? icalcomponent_get_first_property(master, ICAL_DTSTART_PROPERTY) : NULL;
    if (mp) {
        struct icaltimetype mt = icalproperty_get_dtstart(mp);
        const icaltimezone *mz = cal_zone_of(root, mp, mt);
        int64_t ms = cal_to_utc(mt, mz);
        int64_t me = cal_instance_end(root, master, mt, mz, ms);
        master_len = me == INT64_MAX ? len : me - ms;
    }
    /* both terms are below 10,000 years of seconds: dates are checked, durations capped */
    int64_t grow = (start > rid ? start - rid : 0) + (len > master_len ? len - master_len : 0);
    s->end = cal_add_sat(s->end, grow);
}

/* The span of the whole object: the master's instances without those its overrides replace,
 * and each override's own instance. */
static int object_span(icalcomponent *root,
                       const struct members *m,
                       struct arena *arena,
                       struct cal_info *out,
                       struct err *err)
{
    struct cal_work work = CAL_WORK_INIT;
    struct cal_span s = {false, 0, 0};
    for (icalcomponent *c = icalcomponent_get_first_component(root, ICAL_ANY_COMPONENT); c;
         c = icalcomponent_get_next_component(root, ICAL_ANY_COMPONENT)) {
        if (icalcomponent_isa(c) == ICAL_VTIMEZONE_COMPONENT) {
            continue;
        }
        struct cal_exset ex;
        const struct cal_exset *exp = NULL;
        if (c == m->master) {
            cal_exset_init(&ex, root, c, m->rids, m->nrids, arena);
            exp = &ex;
        }
        if (cal_component_span(root, c, exp, &work, arena, &s, &out->is_recurring, err) != 0) {
            return -1;
        }
    }
    for (icalcomponent *c = icalcomponent_get_first_component(root, ICAL_ANY_COMPONENT); c;
         c = icalcomponent_get_next_component(root, ICAL_ANY_COMPONENT)) {
        if (c != m->master && icalcomponent_isa(c) != ICAL_VTIMEZONE_COMPONENT) {
            widen_for_range(root, c, m->master, &s);
        }
    }
    out->has_span = s.any;
    out->dtstart_utc = s.any ? s.start : 0;
    out->dtend_utc = s.any ? s.end : 0;
    return 0;
}

/* Checks the components below VCALENDAR and fills *out. */
static int check_components(icalcomponent *root,
                            unsigned allowed,
                            struct arena *arena,
                            struct cal_info *out,
                            struct err *err)
{
    size_t n = 0;
    for (icalcompiter i = icalcomponent_begin_component(root, ICAL_ANY_COMPONENT);
         icalcompiter_deref(&i); icalcompiter_next(&i)) {
        n++;
    }
    struct members m = {CAL_COMP_NONE, NULL, 0, 0, NULL, 0, NULL};
    m.rids = arena_alloc(arena, (n + 1) * sizeof(*m.rids));
    for (icalcomponent *c = icalcomponent_get_first_component(root, ICAL_ANY_COMPONENT); c;
         c = icalcomponent_get_next_component(root, ICAL_ANY_COMPONENT)) {
        if (icalcomponent_isa(c) == ICAL_VTIMEZONE_COMPONENT) {
            continue;
        }
        if (check_member(root, c, allowed, &m, err) != 0) {
            return -1;
        }
    }
    if (m.comp == CAL_COMP_NONE) {
        return err_set(err, &cal_cond_valid_object, "no VEVENT, VTODO or VJOURNAL");
    }
    if (m.rrules > CAL_MAX_RRULES) {
        return err_set(err, &cal_cond_valid_calendar_data, "%zu RRULEs exceed cal_max_rrules=%d",
                       m.rrules, CAL_MAX_RRULES);
    }
    qsort(m.rids, m.nrids, sizeof(*m.rids), cmp_i64);
    for (size_t i = 1; i < m.nrids; i++) {
        if (m.rids[i] == m.rids[i - 1]) {
            return err_set(err, &cal_cond_valid_object, "two overrides of one instance");
        }
    }
    if (object_span(root, &m, arena, out, err) != 0) {
        return -1;
    }
    out->comp = m.comp;
    out->uid = arena_strdup(arena, m.uid);
    return 0;
}

int cal_parse_object(
    struct slice ics, unsigned allowed, struct arena *arena, struct cal_info *out, struct err *err)
{
    memset(out, 0, sizeof(*out));
    if (!parse_utf8_ok(ics)) {
        return err_set(err, &cal_cond_valid_calendar_data, "calendar data is not UTF-8");
    }
    bool bom = slice_has_prefix(ics, SLICE_LIT("\xEF\xBB\xBF"));
    if (bom) {
        ics.ptr += 3; /* a byte order mark, as some Windows exports write */
        ics.len -= 3;
    }
    if (check_structure(ics, err) != 0) {
        return -1;
    }
    /* Every VTIMEZONE is screened before any time is converted (cal/tz.c). */
    icalcomponent *root = cal_tree_parse(arena_slicedup(arena, ics), true, err);
    int rc = root || !err->cond ? check_calendar(root, err) : -1;
    if (rc == 0) {
        rc = check_components(root, allowed, arena, out, err);
    }
    /* The index is built from this parse; queries parse the stored bytes, BOM included, so
     * an object stored with one keeps being expanded per query. */
    if (rc == 0 && out->is_recurring && !bom) {
        out->has_instances = cal_instances_of(root, arena, &out->instances, &out->instances_size);
    }
    cal_tree_free(root);
    if (rc == 0 && deadline_passed()) {
        rc = err_set(err, &err_cond_time_budget,
                     "the request's time budget ran out while the object's recurrence was walked");
    }
    if (rc != 0) {
        memset(out, 0, sizeof(*out));
    }
    return rc;
}

icalcomponent *cal_master_vevent(icalcomponent *root)
{
    icalcomponent *first = NULL;
    for (icalcomponent *c = icalcomponent_get_first_component(root, ICAL_VEVENT_COMPONENT); c;
         c = icalcomponent_get_next_component(root, ICAL_VEVENT_COMPONENT)) {
        if (!icalcomponent_get_first_property(c, ICAL_RECURRENCEID_PROPERTY)) {
            return c;
        }
        if (!first) {
            first = c;
        }
    }
    return first;
}
