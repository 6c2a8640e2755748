/* repl/exwrite.c: PROPPATCH on appointments (exchange-replication.md §4.4, §4.5, §4.7):
 * typed values of urn:schemas:calendar: and the other appointment properties written into
 * the master VEVENT of an object through cal's editing API (cal/edit.h). Never stores
 * anything and never validates the whole object: the caller runs cal_parse_object() on the
 * result. The MIME unwrapping of a message/rfc822 PUT body (§2.5) is repl/mime.c's. */
#include "repl/exwrite.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cal/edit.h"
#include "util/compiler.h"
#include "util/sec.h"
#include "util/timeutil.h"

enum {
    SECS_PER_DAY = 86400,
    EX_UID_BYTES = 16, /* random bytes of a generated UID, written as 32 hex digits */
};

bool repl_exprop_writable(enum repl_exprop p, bool creating)
{
    switch (p) {
    case REPL_EX_UID:
        return creating;
    case REPL_EX_DTSTART:
    case REPL_EX_DTEND:
    case REPL_EX_DURATION:
    case REPL_EX_LOCATION:
    case REPL_EX_BUSYSTATUS:
    case REPL_EX_TRANSPARENT:
    case REPL_EX_ALLDAYEVENT:
    case REPL_EX_RRULE:
    case REPL_EX_RDATE:
    case REPL_EX_EXDATE:
    case REPL_EX_EXRULE:
    case REPL_EX_TIMEZONEID:
    case REPL_EX_ORGANIZER:
    case REPL_EX_MEETINGSTATUS:
    case REPL_EX_SEQUENCE:
    case REPL_EX_PRIORITY:
    case REPL_EX_REMINDEROFFSET:
    case REPL_EX_SUBJECT:
    case REPL_EX_TEXTDESCRIPTION:
    case REPL_EX_MESSAGECLASS:
    case REPL_EX_SENSITIVITY:
    case REPL_EX_KEYWORDS:
    case REPL_EX_TO:
    case REPL_EX_CC:
    case REPL_EX_RESPONSESTATUS:
        return true;
    default:
        return false;
    }
}

/* The state of one repl_ex_apply() call. */
struct exw {
    struct cal_doc *doc;
    struct cal_node *ev; /* the master VEVENT */
    struct arena *arena;
    const struct repl_ex_self *self;
    struct repl_ex_edit *cur; /* the instruction being applied */
};

/* Records why the current instruction failed; returns 1. `msg` is static or in the arena. */
static int fail(struct exw *w, const struct err_cond *cond, const char *msg)
{
    w->cur->cond = cond;
    w->cur->msg = msg;
    return 1;
}

static void set_x(struct exw *w, const char *name, const char *value)
{
    cal_prop_remove_x(w->ev, name);
    cal_prop_add_x(w->ev, name, value);
}

/* `t` as a DATE (midnight UTC only) or as a DATE-TIME in `zone` (NULL: UTC). */
static struct cal_time time_in(int64_t t, bool date, const struct cal_zone *zone)
{
    struct cal_time l = cal_time_of(t, zone);
    if (date) {
        l.hour = l.minute = l.second = 0;
        l.is_date = true;
        l.is_utc = false;
    }
    return l;
}

/* The instant of a DTSTART/DTEND property. */
static int64_t instant_of(struct exw *w, struct cal_prop *p)
{
    struct cal_time t = {0};
    (void)cal_prop_time(p, &t);
    return cal_time_to_unix(t, cal_prop_zone(w->doc, p));
}

/* Whether libical can write instant `t` as a DATE-TIME (years 1 to 9999; it returns a null
 * time for some instants near the end of its range). */
static bool time_ok(int64_t t)
{
    if (t < INT64_C(-62135596800) || t > INT64_C(253402214400)) { /* 0001-01-01, 9999-12-30 */
        return false;
    }
    struct cal_time l = time_in(t, false, NULL);
    bool null = !l.year && !l.month && !l.day && !l.hour && !l.minute && !l.second;
    return !null && cal_time_is_valid(l);
}

static bool is_date_prop(struct cal_prop *p)
{
    struct cal_time t;
    return cal_prop_time(p, &t) && t.is_date;
}

/* Writes instant `t` into `p` as a DATE when `date`, else as a DATE-TIME in `zone` keeping
 * p's TZID (dropped when zone is NULL: the value is then UTC). */
static void put_time(struct cal_prop *p, int64_t t, bool date, const struct cal_zone *zone)
{
    if (date || !zone) {
        cal_prop_set_param(p, CAL_PARAM_TZID, NULL);
    }
    cal_prop_set_time(p, time_in(t, date, zone));
}

/* DTEND written at instant `t` in DTSTART's form (§4.4): a DATE when DTSTART is one and `t`
 * is a midnight, else a DATE-TIME in DTSTART's zone (a DATE DTSTART then becomes a DATE-TIME
 * too, RFC 5545 §3.8.2.2 wants both of one type). */
static void set_end(struct exw *w, int64_t t)
{
    struct cal_prop *sp = cal_prop_first(w->ev, CAL_PROP_DTSTART);
    bool date = is_date_prop(sp) && t % SECS_PER_DAY == 0;
    struct cal_zone *zone = NULL;
    if (sp && is_date_prop(sp) && !date) {
        put_time(sp, instant_of(w, sp), false, NULL);
    } else if (sp && !date) {
        zone = cal_prop_zone(w->doc, sp);
    }
    cal_prop_remove_all(w->ev, CAL_PROP_DURATION);
    struct cal_prop *ep = cal_prop_first(w->ev, CAL_PROP_DTEND);
    if (!ep) {
        ep = cal_prop_add_time(w->ev, CAL_PROP_DTEND, time_in(t, date, zone), NULL);
    }
    if (zone && sp) {
        cal_prop_set_param(ep, CAL_PARAM_TZID, cal_prop_param(sp, CAL_PARAM_TZID));
    }
    put_time(ep, t, date, zone);
}

static int set_start(struct exw *w, int64_t t)
{
    struct cal_prop *sp = cal_prop_first(w->ev, CAL_PROP_DTSTART);
    struct cal_zone *zone = NULL;
    bool date = false;
    if (sp) {
        zone = cal_prop_zone(w->doc, sp);
        date = is_date_prop(sp) && t % SECS_PER_DAY == 0;
    } else {
        sp = cal_prop_add_time(w->ev, CAL_PROP_DTSTART, time_in(t, false, NULL), NULL);
    }
    put_time(sp, t, date, zone);
    /* keep DTEND of the same value type as DTSTART */
    struct cal_prop *ep = cal_prop_first(w->ev, CAL_PROP_DTEND);
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
        return fail(w, &repl_cond_ex_value,
                    arena_printf(w->arena, "busystatus %s is not FREE, TENTATIVE, BUSY or OOF", v));
    }
    set_x(w, "X-MICROSOFT-CDO-BUSYSTATUS", names[i]);
    cal_prop_remove_all(w->ev, CAL_PROP_TRANSP);
    cal_prop_add_text(w->ev, CAL_PROP_TRANSP, i == 0 ? "TRANSPARENT" : "OPAQUE");
    return 0;
}

static int set_transparent(struct exw *w, const char *v)
{
    static const char *const names[] = {"OPAQUE", "TRANSPARENT"};
    int i = pick(v, names, ALM_ARRAY_LEN(names));
    if (i < 0) {
        return fail(w, &repl_cond_ex_value,
                    arena_printf(w->arena, "transparent %s is not OPAQUE or TRANSPARENT", v));
    }
    cal_prop_remove_all(w->ev, CAL_PROP_TRANSP);
    cal_prop_add_text(w->ev, CAL_PROP_TRANSP, names[i]);
    return 0;
}

static int set_meetingstatus(struct exw *w, const char *v)
{
    static const char *const names[] = {"TENTATIVE", "CONFIRMED", "CANCELLED"};
    int i = pick(v, names, ALM_ARRAY_LEN(names));
    if (i < 0) {
        return fail(
            w, &repl_cond_ex_value,
            arena_printf(w->arena, "meetingstatus %s is not TENTATIVE, CONFIRMED or CANCELLED", v));
    }
    cal_prop_remove_all(w->ev, CAL_PROP_STATUS);
    cal_prop_add_text(w->ev, CAL_PROP_STATUS, names[i]);
    return 0;
}

static int set_text(struct exw *w, enum cal_prop_kind kind, const char *v)
{
    cal_prop_remove_all(w->ev, kind);
    if (!v || !*v) {
        return 0; /* an empty value removes the property */
    }
    cal_prop_add_text(w->ev, kind, v);
    return 0;
}

static int set_int_prop(struct exw *w, enum cal_prop_kind kind, int64_t v, int64_t max)
{
    if (v < 0 || v > max) {
        return fail(
            w, &repl_cond_ex_value,
            arena_printf(w->arena, "value %lld is not 0 to %lld", (long long)v, (long long)max));
    }
    cal_prop_remove_all(w->ev, kind);
    cal_prop_add_int(w->ev, kind, (int)v);
    return 0;
}

static int set_sensitivity(struct exw *w, int64_t v)
{
    if (v < 0 || v > 3) {
        return fail(w, &repl_cond_ex_value, "sensitivity is not 0 to 3");
    }
    /* §4.5: 1 ("personal") has no iCalendar form and becomes PRIVATE */
    cal_prop_remove_all(w->ev, CAL_PROP_CLASS);
    cal_prop_add_text(w->ev, CAL_PROP_CLASS,
                      v == 0   ? "PUBLIC"
                      : v == 3 ? "CONFIDENTIAL"
                               : "PRIVATE");
    return 0;
}

static int set_rules(struct exw *w, enum cal_prop_kind kind, const struct repl_ex_value *v)
{
    cal_prop_remove_all(w->ev, kind);
    for (size_t i = 0; i < v->n; i++) {
        if (!cal_prop_add_rule(w->ev, kind, v->mv_s[i])) {
            return fail(w, &repl_cond_ex_value,
                        arena_printf(w->arena, "%s is not a recurrence rule", v->mv_s[i]));
        }
    }
    return 0;
}

static int set_dates(struct exw *w, enum cal_prop_kind kind, const struct repl_ex_value *v)
{
    cal_prop_remove_all(w->ev, kind);
    for (size_t i = 0; i < v->n; i++) {
        if (!time_ok(v->mv_t[i])) {
            return fail(w, &repl_cond_ex_value, "a date is outside the years 1 to 9999");
        }
        cal_prop_add_time(w->ev, kind, time_in(v->mv_t[i], false, NULL), NULL);
    }
    return 0;
}

static int set_keywords(struct exw *w, const struct repl_ex_value *v)
{
    cal_prop_remove_all(w->ev, CAL_PROP_CATEGORIES);
    for (size_t i = 0; i < v->n; i++) {
        cal_prop_add_text(w->ev, CAL_PROP_CATEGORIES, v->mv_s[i]);
    }
    return 0;
}

/* C:reminderoffset: the first VALARM triggered relative to the start is replaced by a
 * DISPLAY alarm `secs` before it, or removed. */
static int set_reminder(struct exw *w, bool remove, int64_t secs)
{
    if (!remove && (secs < 0 || secs > 366 * SECS_PER_DAY)) {
        return fail(w, &repl_cond_ex_value, "reminderoffset is not 0 to 366 days");
    }
    for (struct cal_node *a = cal_node_first(w->ev, CAL_NODE_VALARM); a;
         a = cal_node_next(w->ev, CAL_NODE_VALARM)) {
        struct cal_prop *tp = cal_prop_first(a, CAL_PROP_TRIGGER);
        bool is_abs;
        struct cal_time at;
        int64_t rel;
        if (!cal_prop_trigger(tp, &is_abs, &at, &rel) || is_abs) {
            continue;
        }
        const char *related = cal_prop_param(tp, CAL_PARAM_RELATED);
        if (related && strcasecmp(related, "END") == 0) {
            continue;
        }
        cal_node_remove(w->ev, a);
        break;
    }
    if (remove) {
        return 0;
    }
    struct cal_node *a = cal_node_new(CAL_NODE_VALARM);
    cal_prop_add_text(a, CAL_PROP_ACTION, "DISPLAY");
    cal_prop_add_text(a, CAL_PROP_DESCRIPTION, "Reminder");
    cal_prop_add_trigger(a, -secs);
    cal_node_add(w->ev, a);
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Meetings: H:to, H:cc, C:responsestatus */

enum {
    MAX_RECIPIENTS = 4096, /* addresses of one H:to or H:cc (sched_max_attendees bounds more) */
};

struct recipient {
    const char *addr; /* mailto: URI */
    const char *name; /* CN, or NULL */
    bool used;
};

/* Splits `v` ("Name" <a@x>, b@y, ...) at the commas outside quotes and angle brackets into
 * *out; 0, or 1 (the instruction failed) for an entry with no address. */
static int parse_recipients(struct exw *w, const char *v, struct recipient **out, size_t *n_out)
{
    size_t cap = 1;
    for (const char *p = v; *p; p++) {
        cap += *p == ',';
    }
    if (cap > MAX_RECIPIENTS) {
        return fail(w, &repl_cond_ex_value,
                    arena_printf(w->arena, "more than %d addresses", MAX_RECIPIENTS));
    }
    struct recipient *r = arena_zalloc(w->arena, cap * sizeof(*r));
    size_t n = 0;
    const char *p = v;
    while (*p) {
        const char *start = p;
        bool quoted = false, angled = false;
        while (*p && (quoted || angled || *p != ',')) {
            quoted = *p == '"' ? !quoted : quoted;
            angled = !quoted && *p == '<' ? true : !quoted && *p == '>' ? false : angled;
            p++;
        }
        const char *end = p;
        if (*p == ',') {
            p++;
        }
        while (start < end && (*start == ' ' || *start == '\t')) {
            start++;
        }
        while (end > start && (end[-1] == ' ' || end[-1] == '\t')) {
            end--;
        }
        if (start == end) {
            continue;
        }
        char *entry = arena_strndup(w->arena, start, (size_t)(end - start));
        char *lt = strchr(entry, '<');
        char *gt = lt ? strchr(lt, '>') : NULL;
        const char *addr = entry, *name = NULL;
        if (lt && gt) {
            *gt = '\0';
            addr = lt + 1;
            char *ne = lt;
            *ne = '\0';
            while (ne > entry && (ne[-1] == ' ' || ne[-1] == '"')) {
                *--ne = '\0';
            }
            name = entry[0] == '"' ? entry + 1 : entry;
            name = *name ? name : NULL;
        }
        if (strncasecmp(addr, "mailto:", 7) == 0) {
            addr += 7;
        }
        if (!*addr || strchr(addr, ' ') || strchr(addr, '<') || strchr(addr, '"')) {
            return fail(w, &repl_cond_ex_value,
                        arena_printf(w->arena, "no address in recipient \"%s\"", entry));
        }
        r[n].addr = arena_printf(w->arena, "mailto:%s", addr);
        r[n].name = name;
        n++;
    }
    *out = r;
    *n_out = n;
    return 0;
}

static bool is_optional(struct cal_prop *p)
{
    const char *role = cal_prop_param(p, CAL_PARAM_ROLE);
    return role &&
           (strcasecmp(role, "OPT-PARTICIPANT") == 0 || strcasecmp(role, "NON-PARTICIPANT") == 0);
}

/* Replaces the required (H:to) or optional (H:cc) attendees of the master by `v` (NULL or
 * empty: none): an address already there keeps its line (participation, parameters) and
 * takes the list's role and name; a new one is invited (PARTSTAT=NEEDS-ACTION, RSVP); one
 * of the list's kind that is not in `v` goes. The organizer's own line is left alone. A
 * meeting without ORGANIZER gets the principal as its organizer, so the write schedules. */
static int set_recipients(struct exw *w, bool optional, const char *v)
{
    struct recipient *r = NULL;
    size_t n = 0;
    if (v && *v && parse_recipients(w, v, &r, &n) != 0) {
        return 1;
    }
    struct cal_prop *op = cal_prop_first(w->ev, CAL_PROP_ORGANIZER);
    const char *org = op ? cal_prop_text(op) : NULL;
    size_t cap = cal_prop_count(w->ev, CAL_PROP_ATTENDEE);
    struct cal_prop **have = arena_zalloc(w->arena, (cap + 1) * sizeof(*have));
    size_t nh = 0;
    for (struct cal_prop *p = cal_prop_first(w->ev, CAL_PROP_ATTENDEE); p && nh < cap;
         p = cal_prop_next(w->ev, CAL_PROP_ATTENDEE)) {
        have[nh++] = p;
    }
    const char *role = optional ? "OPT-PARTICIPANT" : "REQ-PARTICIPANT";
    for (size_t i = 0; i < nh; i++) {
        const char *addr = cal_prop_text(have[i]);
        if (org && addr && strcasecmp(addr, org) == 0) {
            continue;
        }
        struct recipient *match = NULL;
        for (size_t k = 0; k < n && !match; k++) {
            match = !r[k].used && addr && strcasecmp(addr, r[k].addr) == 0 ? &r[k] : NULL;
        }
        if (match) {
            match->used = true;
            const char *was = cal_prop_param(have[i], CAL_PARAM_ROLE);
            if (!(was && strcasecmp(was, "CHAIR") == 0 && !optional)) {
                cal_prop_set_param(have[i], CAL_PARAM_ROLE, role);
            }
            if (match->name) {
                cal_prop_set_param(have[i], CAL_PARAM_CN, match->name);
            }
        } else if (is_optional(have[i]) == optional) {
            cal_prop_take(w->ev, have[i]);
            cal_prop_free(have[i]);
        }
    }
    for (size_t k = 0; k < n; k++) {
        if (r[k].used) {
            continue;
        }
        for (size_t j = k + 1; j < n; j++) {
            r[j].used = r[j].used || strcasecmp(r[j].addr, r[k].addr) == 0; /* once each */
        }
        struct cal_prop *p = cal_prop_add_text(w->ev, CAL_PROP_ATTENDEE, r[k].addr);
        if (r[k].name) {
            cal_prop_set_param(p, CAL_PARAM_CN, r[k].name);
        }
        cal_prop_set_param(p, CAL_PARAM_ROLE, role);
        cal_prop_set_param(p, CAL_PARAM_PARTSTAT, "NEEDS-ACTION");
        cal_prop_set_param(p, CAL_PARAM_RSVP, "TRUE");
    }
    if (!org && n && w->self && w->self->n) {
        cal_prop_add_text(w->ev, CAL_PROP_ORGANIZER,
                          arena_printf(w->arena, "mailto:%s", w->self->emails[0]));
    }
    return 0;
}

/* C:responsestatus written by an attendee (MS-OXOCAL PidLidResponseStatus: 2 tentative, 3
 * accepted, 4 declined): their PARTSTAT in the master, which the write path answers to the
 * organizer (docs/scheduling.md). */
static int set_response(struct exw *w, int64_t v)
{
    static const char *const partstat[] = {[2] = "TENTATIVE", [3] = "ACCEPTED", [4] = "DECLINED"};
    if (v < 2 || v > 4) {
        return fail(w, &repl_cond_ex_value,
                    "responsestatus is 2 (tentative), 3 (accepted) or 4 (declined)");
    }
    struct cal_prop *op = cal_prop_first(w->ev, CAL_PROP_ORGANIZER);
    if (!op || repl_ex_is_self(w->self, cal_prop_text(op))) {
        return fail(w, &repl_cond_ex_value,
                    "responsestatus is an attendee's answer to someone else's meeting");
    }
    for (struct cal_prop *p = cal_prop_first(w->ev, CAL_PROP_ATTENDEE); p;
         p = cal_prop_next(w->ev, CAL_PROP_ATTENDEE)) {
        if (repl_ex_is_self(w->self, cal_prop_text(p))) {
            cal_prop_set_param(p, CAL_PARAM_PARTSTAT, partstat[v]);
            return 0;
        }
    }
    return fail(w, &repl_cond_ex_value, "responsestatus: you are no attendee of it");
}

/* A remove instruction (§4.7): the property's iCalendar source goes. */
static int remove_one(struct exw *w, enum repl_exprop p)
{
    switch (p) {
    case REPL_EX_DTSTART:
        return fail(w, &repl_cond_ex_conflict, "an appointment needs a dtstart");
    case REPL_EX_DTEND:
    case REPL_EX_DURATION:
        cal_prop_remove_all(w->ev, CAL_PROP_DTEND);
        cal_prop_remove_all(w->ev, CAL_PROP_DURATION);
        return 0;
    case REPL_EX_LOCATION:
        return set_text(w, CAL_PROP_LOCATION, NULL);
    case REPL_EX_SUBJECT:
        return set_text(w, CAL_PROP_SUMMARY, NULL);
    case REPL_EX_TEXTDESCRIPTION:
        return set_text(w, CAL_PROP_DESCRIPTION, NULL);
    case REPL_EX_ORGANIZER:
        return set_text(w, CAL_PROP_ORGANIZER, NULL);
    case REPL_EX_BUSYSTATUS:
        cal_prop_remove_x(w->ev, "X-MICROSOFT-CDO-BUSYSTATUS");
        return 0;
    case REPL_EX_TRANSPARENT:
        cal_prop_remove_all(w->ev, CAL_PROP_TRANSP);
        return 0;
    case REPL_EX_ALLDAYEVENT:
        cal_prop_remove_x(w->ev, "X-MICROSOFT-CDO-ALLDAYEVENT");
        return 0;
    case REPL_EX_TIMEZONEID:
        cal_prop_remove_x(w->ev, "X-MICROSOFT-CDO-TZID");
        return 0;
    case REPL_EX_MEETINGSTATUS:
        cal_prop_remove_all(w->ev, CAL_PROP_STATUS);
        return 0;
    case REPL_EX_SEQUENCE:
        cal_prop_remove_all(w->ev, CAL_PROP_SEQUENCE);
        return 0;
    case REPL_EX_PRIORITY:
        cal_prop_remove_all(w->ev, CAL_PROP_PRIORITY);
        return 0;
    case REPL_EX_SENSITIVITY:
        cal_prop_remove_all(w->ev, CAL_PROP_CLASS);
        return 0;
    case REPL_EX_RRULE:
        cal_prop_remove_all(w->ev, CAL_PROP_RRULE);
        return 0;
    case REPL_EX_EXRULE:
        cal_prop_remove_all(w->ev, CAL_PROP_EXRULE);
        return 0;
    case REPL_EX_RDATE:
        cal_prop_remove_all(w->ev, CAL_PROP_RDATE);
        return 0;
    case REPL_EX_EXDATE:
        cal_prop_remove_all(w->ev, CAL_PROP_EXDATE);
        return 0;
    case REPL_EX_KEYWORDS:
        cal_prop_remove_all(w->ev, CAL_PROP_CATEGORIES);
        return 0;
    case REPL_EX_REMINDEROFFSET:
        return set_reminder(w, true, 0);
    case REPL_EX_MESSAGECLASS:
        return 0; /* computed: always IPM.Appointment */
    case REPL_EX_TO:
        return set_recipients(w, false, NULL);
    case REPL_EX_CC:
        return set_recipients(w, true, NULL);
    default:
        return fail(w, &repl_cond_ex_value,
                    arena_printf(w->arena, "%s cannot be removed", repl_exprop_def(p)->name));
    }
}

static int set_one(struct exw *w, enum repl_exprop p, const struct repl_ex_value *v)
{
    switch (p) {
    case REPL_EX_UID:
        if (!v->s || !*v->s) {
            return fail(w, &repl_cond_ex_value, "an empty uid");
        }
        return set_text(w, CAL_PROP_UID, v->s);
    case REPL_EX_DTSTART:
        if (!time_ok(v->i)) {
            return fail(w, &repl_cond_ex_value, "dtstart is outside the years 1 to 9999");
        }
        return set_start(w, v->i);
    case REPL_EX_DTEND:
        if (!time_ok(v->i)) {
            return fail(w, &repl_cond_ex_value, "dtend is outside the years 1 to 9999");
        }
        set_end(w, v->i);
        return 0;
    case REPL_EX_DURATION: {
        struct cal_prop *sp = cal_prop_first(w->ev, CAL_PROP_DTSTART);
        if (!sp) {
            return fail(w, &repl_cond_ex_conflict, "a duration needs a dtstart first");
        }
        if (v->i < 0 || v->i > (int64_t)3660 * SECS_PER_DAY) {
            return fail(w, &repl_cond_ex_value, "duration is not 0 to 3660 days");
        }
        if (!time_ok(instant_of(w, sp) + v->i)) {
            return fail(w, &repl_cond_ex_value, "dtstart + duration is past the year 9999");
        }
        set_end(w, instant_of(w, sp) + v->i);
        return 0;
    }
    case REPL_EX_LOCATION:
        return set_text(w, CAL_PROP_LOCATION, v->s);
    case REPL_EX_SUBJECT:
        return set_text(w, CAL_PROP_SUMMARY, v->s);
    case REPL_EX_TEXTDESCRIPTION:
        return set_text(w, CAL_PROP_DESCRIPTION, v->s);
    case REPL_EX_ORGANIZER:
        return set_text(w, CAL_PROP_ORGANIZER, v->s);
    case REPL_EX_TO:
        return set_recipients(w, false, v->s);
    case REPL_EX_CC:
        return set_recipients(w, true, v->s);
    case REPL_EX_RESPONSESTATUS:
        return set_response(w, v->i);
    case REPL_EX_BUSYSTATUS:
        return set_busystatus(w, v->s);
    case REPL_EX_TRANSPARENT:
        return set_transparent(w, v->s);
    case REPL_EX_MEETINGSTATUS:
        return set_meetingstatus(w, v->s);
    case REPL_EX_ALLDAYEVENT:
        set_x(w, "X-MICROSOFT-CDO-ALLDAYEVENT", v->i ? "TRUE" : "FALSE");
        return 0;
    case REPL_EX_TIMEZONEID: {
        if (v->i < 0 || v->i > 999) {
            return fail(w, &repl_cond_ex_value, "timezoneid is not 0 to 999");
        }
        set_x(w, "X-MICROSOFT-CDO-TZID", arena_printf(w->arena, "%lld", (long long)v->i));
        return 0;
    }
    case REPL_EX_SEQUENCE:
        return set_int_prop(w, CAL_PROP_SEQUENCE, v->i, 2147483647);
    case REPL_EX_PRIORITY:
        return set_int_prop(w, CAL_PROP_PRIORITY, v->i, 9);
    case REPL_EX_SENSITIVITY:
        return set_sensitivity(w, v->i);
    case REPL_EX_RRULE:
        return set_rules(w, CAL_PROP_RRULE, v);
    case REPL_EX_EXRULE:
        return set_rules(w, CAL_PROP_EXRULE, v);
    case REPL_EX_RDATE:
        return set_dates(w, CAL_PROP_RDATE, v);
    case REPL_EX_EXDATE:
        return set_dates(w, CAL_PROP_EXDATE, v);
    case REPL_EX_KEYWORDS:
        return set_keywords(w, v);
    case REPL_EX_REMINDEROFFSET:
        return set_reminder(w, false, v->i);
    case REPL_EX_MESSAGECLASS:
        /* §4.5: accepts IPM.Appointment* only, which is what it always reads */
        if (!v->s || strncasecmp(v->s, "IPM.Appointment", 15) != 0) {
            return fail(w, &repl_cond_ex_value,
                        arena_printf(w->arena, "outlookmessageclass %s is not IPM.Appointment*",
                                     v->s ? v->s : ""));
        }
        return 0;
    default:
        return fail(w, &repl_cond_ex_value,
                    arena_printf(w->arena, "%s is read-only", repl_exprop_def(p)->name));
    }
}

static struct cal_doc *new_object(struct arena *arena)
{
    struct cal_doc *doc = cal_doc_new("-//Almanac//Exchange PROPPATCH//EN");
    struct cal_node *ev = cal_node_new(CAL_NODE_VEVENT);
    uint8_t raw[EX_UID_BYTES];
    sec_random(raw, sizeof(raw));
    char *hex = arena_alloc(arena, 2 * sizeof(raw) + 1);
    sec_hex(raw, sizeof(raw), hex);
    cal_prop_add_text(ev, CAL_PROP_UID, hex);
    cal_prop_add_time(ev, CAL_PROP_DTSTAMP, cal_time_of(time_now(), NULL), NULL);
    cal_node_add(cal_doc_root(doc), ev);
    return doc;
}

/* After the instructions: DTEND not before DTSTART; on creation DTSTART is there and DTEND
 * defaults to it. Returns 0, 1 (an instruction failed) or -1. */
static int
check_times(struct exw *w, struct repl_ex_edit *edits, size_t n, bool creating, struct err *err)
{
    struct cal_prop *sp = cal_prop_first(w->ev, CAL_PROP_DTSTART);
    if (!sp) {
        if (creating) {
            return err_set(err, &repl_cond_ex_dtstart_required,
                           "a new appointment needs urn:schemas:calendar:dtstart");
        }
        return 0;
    }
    struct cal_prop *ep = cal_prop_first(w->ev, CAL_PROP_DTEND);
    if (!ep && creating && !cal_prop_first(w->ev, CAL_PROP_DURATION)) {
        set_end(w, instant_of(w, sp));
        return 0;
    }
    if (ep && instant_of(w, ep) < instant_of(w, sp)) {
        /* blame the last instruction that moved either end */
        for (size_t i = n; i-- > 0;) {
            enum repl_exprop p = edits[i].prop;
            if (p == REPL_EX_DTSTART || p == REPL_EX_DTEND || p == REPL_EX_DURATION) {
                w->cur = &edits[i];
                return fail(w, &repl_cond_ex_conflict, "dtend is before dtstart");
            }
        }
    }
    return 0;
}

int repl_ex_apply(struct slice ics,
                  const struct repl_ex_self *self,
                  struct repl_ex_edit *edits,
                  size_t n,
                  struct arena *arena,
                  struct slice *out,
                  struct err *err)
{
    bool creating = ics.ptr == NULL;
    struct exw w = {.arena = arena, .self = self};
    w.doc = creating ? new_object(arena) : cal_doc_parse(ics, arena, err);
    if (!w.doc) {
        return -1;
    }
    int rc = 0;
    w.ev = cal_doc_master(w.doc);
    if (!w.ev) {
        rc = err_set(err, &cal_cond_valid_object, "the object has no VEVENT to edit");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        assert(repl_exprop_writable(edits[i].prop, creating));
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
    cal_doc_text(w.doc, arena, out);
out:
    cal_doc_free(w.doc);
    return rc;
}
