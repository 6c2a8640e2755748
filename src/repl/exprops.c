/* repl/exprops.c: urn:schemas:calendar: and the other appointment properties of
 * exchange-replication.md §4.4-4.5 read from a stored iCalendar object through cal's editing
 * API (cal/edit.h). Reads only: PROPPATCH writes (§4.7) are repl/exwrite.c's. Never expands
 * recurrences but for the occurrences of §3.8 (cal_expand); times come out in UTC through
 * the object's zones. */
#include "repl/exprops.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cal/cal.h"
#include "cal/edit.h"
#include "util/compiler.h"

enum {
    SECS_PER_DAY = 86400,
    EX_MAX_VALUES = 1024, /* values of one multi-valued property kept (RDATE, EXDATE, ...) */
};

static const struct repl_exprop_def defs[REPL_EX_COUNT] = {
#define REPL_EX_DEF(sym, ns, name, type) [sym] = {ns, name, type},
    REPL_EXPROPS(REPL_EX_DEF)
#undef REPL_EX_DEF
};

const struct repl_exprop_def *repl_exprop_def(enum repl_exprop p)
{
    return &defs[p];
}

int repl_exprop_find(struct slice ns, struct slice name)
{
    for (int i = 0; i < REPL_EX_COUNT; i++) {
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

static void set_str(struct repl_ex_value *v, struct arena *a, const char *s)
{
    if (s) {
        v->present = true;
        v->s = arena_strdup(a, s);
    }
}

static void set_int(struct repl_ex_value *v, int64_t i)
{
    v->present = true;
    v->i = i;
}

/* A property's value as iCalendar text (escapes undone for TEXT by libical's getters is not
 * available generically, so this is for non-TEXT values: RRULE, METHOD, STATUS...). */
static void set_value_text(struct repl_ex_value *v, struct arena *a, struct cal_prop *p)
{
    set_str(v, a, cal_prop_value(p, a));
}

/* The instant of the time of `p` through its zone. */
static int64_t utc_of(struct cal_doc *doc, struct cal_prop *p)
{
    struct cal_time t = {0};
    (void)cal_prop_time(p, &t);
    return cal_time_to_unix(t, cal_prop_zone(doc, p));
}

static bool is_item(const struct cal_node *c)
{
    enum cal_node_kind k = cal_node_kind(c);
    return k == CAL_NODE_VEVENT || k == CAL_NODE_VTODO || k == CAL_NODE_VJOURNAL;
}

/* The component whose values the properties report (see the header). */
static struct cal_node *master_of(struct cal_node *root)
{
    struct cal_node *first = NULL;
    for (struct cal_node *c = cal_node_first(root, CAL_NODE_ANY); c;
         c = cal_node_next(root, CAL_NODE_ANY)) {
        if (!is_item(c)) {
            continue;
        }
        if (!cal_prop_first(c, CAL_PROP_RECURRENCEID)) {
            return c;
        }
        if (!first) {
            first = c;
        }
    }
    return first;
}

/* The X- property `name` (exact case). */
static struct cal_prop *x_prop(struct cal_node *c, const char *name)
{
    for (struct cal_prop *p = cal_prop_first(c, CAL_PROP_X); p; p = cal_prop_next(c, CAL_PROP_X)) {
        const char *n = cal_prop_x_name(p);
        if (n && strcmp(n, name) == 0) {
            return p;
        }
    }
    return NULL;
}

static const char *x_value(struct cal_node *c, const char *name)
{
    return cal_prop_text(x_prop(c, name));
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
static void read_zone(struct cal_doc *doc,
                      struct cal_node *c,
                      struct cal_prop *dtp,
                      struct arena *a,
                      struct repl_ex_value *out)
{
    const char *cdo = x_value(c, "X-MICROSOFT-CDO-TZID");
    if (cdo) {
        char *end = NULL;
        long v = strtol(cdo, &end, 10);
        if (end != cdo && *end == '\0' && v >= 0 && v < 1000) {
            set_int(&out[REPL_EX_TIMEZONEID], v);
        }
    }
    struct cal_time t;
    if (!dtp || !cal_prop_time(dtp, &t) || t.is_date) {
        return;
    }
    if (t.is_utc) {
        if (!out[REPL_EX_TIMEZONEID].present) {
            set_int(&out[REPL_EX_TIMEZONEID], 0);
        }
        return;
    }
    const char *tzid = cal_prop_param(dtp, CAL_PARAM_TZID);
    if (!tzid) {
        return; /* floating */
    }
    struct cal_zone *z = cal_prop_zone(doc, dtp);
    if (z) {
        set_str(&out[REPL_EX_TIMEZONE], a, cal_zone_text(z, a));
    }
    const char *names[2] = {olson_of(tzid), z ? cal_zone_place(z) : NULL};
    for (size_t n = 0; n < 2 && !out[REPL_EX_TIMEZONEID].present; n++) {
        for (size_t i = 0; names[n] && i < ALM_ARRAY_LEN(cdo_zones); i++) {
            if (strcmp(names[n], cdo_zones[i].zone) == 0) {
                set_int(&out[REPL_EX_TIMEZONEID], cdo_zones[i].id);
                break;
            }
        }
    }
}

/* C:dtstart, dtend, duration, alldayevent, instancetype (§4.4). */
static void read_times(struct cal_doc *doc, struct cal_node *c, struct repl_ex_value *out)
{
    struct cal_prop *sp = cal_prop_first(c, CAL_PROP_DTSTART);
    const char *allday = x_value(c, "X-MICROSOFT-CDO-ALLDAYEVENT");
    bool is_date = false;
    struct cal_time s;
    if (sp && cal_prop_time(sp, &s)) {
        is_date = s.is_date;
        struct cal_zone *z = cal_prop_zone(doc, sp);
        int64_t start = cal_time_to_unix(s, z);
        int64_t end = cal_node_end(doc, c, s, z, start);
        set_int(&out[REPL_EX_DTSTART], start);
        set_int(&out[REPL_EX_DTEND], end);
        if (end != INT64_MAX) {
            set_int(&out[REPL_EX_DURATION], end - start);
        }
    }
    set_int(&out[REPL_EX_ALLDAYEVENT], is_date || text_is(allday, "TRUE"));
    bool recurring = cal_prop_first(c, CAL_PROP_RRULE) || cal_prop_first(c, CAL_PROP_RDATE);
    struct cal_prop *rid = cal_prop_first(c, CAL_PROP_RECURRENCEID);
    /* CdoInstanceType: 0 single, 1 master, 3 an exception stored without its master */
    set_int(&out[REPL_EX_INSTANCETYPE], rid ? 3 : recurring ? 1 : 0);
    if (rid) {
        set_int(&out[REPL_EX_RECURRENCEID], utc_of(doc, rid));
        const char *range = cal_prop_param(rid, CAL_PARAM_RANGE);
        if (range) {
            out[REPL_EX_RECURRENCEIDRANGE].present = true;
            out[REPL_EX_RECURRENCEIDRANGE].s =
                text_is(range, "THISANDPRIOR") ? "THISANDPRIOR" : "THISANDFUTURE";
        }
    }
}

/* Multi-valued: RRULE/EXRULE as text, RDATE/EXDATE as UTC instants. */
static void read_multi(struct cal_doc *doc,
                       struct cal_node *c,
                       enum cal_prop_kind kind,
                       struct arena *a,
                       struct repl_ex_value *v)
{
    size_t n = cal_prop_count(c, kind);
    if (n == 0) {
        return;
    }
    n = n > EX_MAX_VALUES ? EX_MAX_VALUES : n;
    const char **strs = NULL;
    int64_t *times = NULL;
    bool text = kind == CAL_PROP_RRULE || kind == CAL_PROP_EXRULE || kind == CAL_PROP_CATEGORIES;
    if (text) {
        strs = arena_alloc(a, n * sizeof(*strs));
    } else {
        times = arena_alloc(a, n * sizeof(*times));
    }
    size_t i = 0;
    for (struct cal_prop *p = cal_prop_first(c, kind); p && i < n; p = cal_prop_next(c, kind)) {
        if (kind == CAL_PROP_CATEGORIES) {
            const char *cat = cal_prop_text(p);
            strs[i++] = arena_strdup(a, cat ? cat : "");
        } else if (text) {
            const char *t = cal_prop_value(p, a);
            strs[i++] = t ? t : "";
        } else {
            times[i++] = utc_of(doc, p);
        }
    }
    v->present = true;
    v->n = i;
    v->mv_s = strs;
    v->mv_t = times;
}

/* C:busystatus, transparent, meetingstatus; E:sensitivity (§4.4, §4.5). */
static void read_status(struct cal_node *c, struct arena *a, struct repl_ex_value *out)
{
    bool transparent = text_is(cal_prop_text(cal_prop_first(c, CAL_PROP_TRANSP)), "TRANSPARENT");
    struct cal_prop *st = cal_prop_first(c, CAL_PROP_STATUS);
    bool tentative = text_is(cal_prop_text(st), "TENTATIVE");
    const char *busy = x_value(c, "X-MICROSOFT-CDO-BUSYSTATUS");
    if (busy && *busy) {
        char *up = arena_strdup(a, busy);
        for (char *p = up; *p; p++) {
            if (*p >= 'a' && *p <= 'z') {
                *p = (char)(*p - 'a' + 'A');
            }
        }
        out[REPL_EX_BUSYSTATUS] = (struct repl_ex_value){.present = true, .s = up};
    } else {
        out[REPL_EX_BUSYSTATUS] = (struct repl_ex_value){.present = true,
                                                         .s = transparent ? "FREE"
                                                              : tentative ? "TENTATIVE"
                                                                          : "BUSY"};
    }
    out[REPL_EX_TRANSPARENT] =
        (struct repl_ex_value){.present = true, .s = transparent ? "TRANSPARENT" : "OPAQUE"};
    set_value_text(&out[REPL_EX_MEETINGSTATUS], a, st);
    const char *cls = cal_prop_text(cal_prop_first(c, CAL_PROP_CLASS));
    set_int(&out[REPL_EX_SENSITIVITY], text_is(cls, "PRIVATE")        ? 2
                                       : text_is(cls, "CONFIDENTIAL") ? 3
                                                                      : 0);
}

/* C:reminderoffset: the first VALARM triggered relative to the start, in seconds before it. */
static void read_alarm(struct cal_node *c, struct repl_ex_value *out)
{
    for (struct cal_node *al = cal_node_first(c, CAL_NODE_VALARM); al;
         al = cal_node_next(c, CAL_NODE_VALARM)) {
        struct cal_prop *tp = cal_prop_first(al, CAL_PROP_TRIGGER);
        if (!tp || text_is(cal_prop_param(tp, CAL_PARAM_RELATED), "END")) {
            continue;
        }
        bool is_abs;
        struct cal_time at;
        int64_t secs;
        if (!cal_prop_trigger(tp, &is_abs, &at, &secs) || is_abs) {
            continue; /* an absolute trigger */
        }
        set_int(&out[REPL_EX_REMINDEROFFSET], -secs);
        return;
    }
}

static void read_stamp(struct cal_doc *doc,
                       struct cal_node *c,
                       enum cal_prop_kind kind,
                       struct repl_ex_value *v)
{
    struct cal_prop *p = cal_prop_first(c, kind);
    if (p) {
        set_int(v, utc_of(doc, p));
    }
}

/* SUMMARY, DESCRIPTION, LOCATION, ORGANIZER, X-ALT-DESC, ATTACH, SEQUENCE, PRIORITY. */
static void read_text(struct cal_node *c, struct arena *a, struct repl_ex_value *out)
{
    static const struct {
        enum cal_prop_kind kind;
        enum repl_exprop prop;
    } texts[] = {
        {CAL_PROP_UID, REPL_EX_UID},
        {CAL_PROP_SUMMARY, REPL_EX_SUBJECT},
        {CAL_PROP_DESCRIPTION, REPL_EX_TEXTDESCRIPTION},
        {CAL_PROP_LOCATION, REPL_EX_LOCATION},
        {CAL_PROP_ORGANIZER, REPL_EX_ORGANIZER},
    };

    for (size_t i = 0; i < ALM_ARRAY_LEN(texts); i++) {
        struct cal_prop *p = cal_prop_first(c, texts[i].kind);
        if (p) {
            set_str(&out[texts[i].prop], a, cal_prop_text(p));
        }
    }
    struct cal_prop *p = x_prop(c, "X-ALT-DESC");
    if (p && text_is(cal_prop_param(p, CAL_PARAM_FMTTYPE), "text/html")) {
        set_str(&out[REPL_EX_HTMLDESCRIPTION], a, cal_prop_text(p));
    }
    set_int(&out[REPL_EX_HASATTACHMENT], cal_prop_first(c, CAL_PROP_ATTACH) != NULL);
    int64_t v = 0;
    (void)cal_prop_int(cal_prop_first(c, CAL_PROP_SEQUENCE), &v);
    set_int(&out[REPL_EX_SEQUENCE], v);
    if (cal_prop_int(cal_prop_first(c, CAL_PROP_PRIORITY), &v)) {
        set_int(&out[REPL_EX_PRIORITY], v);
    }
    out[REPL_EX_MESSAGECLASS] = (struct repl_ex_value){.present = true, .s = "IPM.Appointment"};
}

bool repl_ex_is_self(const struct repl_ex_self *self, const char *addr)
{
    if (!self || !addr) {
        return false;
    }
    if (strncasecmp(addr, "mailto:", 7) == 0) {
        addr += 7;
    }
    for (size_t i = 0; i < self->n; i++) {
        if (strcasecmp(addr, self->emails[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* An address as H:to and H:cc list it: `"CN" <address>`, or the bare address. */
static const char *recipient(struct cal_prop *p, struct arena *a)
{
    const char *addr = cal_prop_text(p);
    if (addr && strncasecmp(addr, "mailto:", 7) == 0) {
        addr += 7;
    }
    const char *cn = cal_prop_param(p, CAL_PARAM_CN);
    if (cn && *cn && !strchr(cn, '"')) {
        return arena_printf(a, "\"%s\" <%s>", cn, addr ? addr : "");
    }
    return addr ? addr : "";
}

/* PidLidResponseStatus of the principal's own ATTENDEE line (MS-OXOCAL 2.2.1.11). */
static int response_of(struct cal_prop *p)
{
    const char *ps = cal_prop_param(p, CAL_PARAM_PARTSTAT);
    if (text_is(ps, "TENTATIVE")) {
        return 2;
    }
    if (text_is(ps, "ACCEPTED")) {
        return 3;
    }
    if (text_is(ps, "DECLINED")) {
        return 4;
    }
    return 5; /* NEEDS-ACTION or none: not responded */
}

/* H:to (required attendees and the chair), H:cc (optional and non-participants), the
 * organizer's own line left out of both; C:isorganizer; C:responsestatus: 0 for no meeting,
 * 1 for the organizer's, else the principal's own answer (0 when not among the attendees). */
static void read_meeting(struct cal_node *c,
                         const struct repl_ex_self *self,
                         struct arena *a,
                         struct repl_ex_value *out)
{
    struct cal_prop *op = cal_prop_first(c, CAL_PROP_ORGANIZER);
    const char *org = op ? cal_prop_text(op) : NULL;
    bool mine = !org || repl_ex_is_self(self, org);
    set_int(&out[REPL_EX_ISORGANIZER], mine);
    const char *to = NULL, *cc = NULL;
    int status = 0;
    bool others = false;
    for (struct cal_prop *p = cal_prop_first(c, CAL_PROP_ATTENDEE); p;
         p = cal_prop_next(c, CAL_PROP_ATTENDEE)) {
        const char *addr = cal_prop_text(p);
        if (org && addr && strcasecmp(addr, org) == 0) {
            continue;
        }
        others = true;
        const char *role = cal_prop_param(p, CAL_PARAM_ROLE);
        bool optional = text_is(role, "OPT-PARTICIPANT") || text_is(role, "NON-PARTICIPANT");
        const char **list = optional ? &cc : &to;
        const char *r = recipient(p, a);
        *list = *list ? arena_printf(a, "%s, %s", *list, r) : r;
        if (!mine && repl_ex_is_self(self, addr)) {
            status = response_of(p);
        }
    }
    set_str(&out[REPL_EX_TO], a, to);
    set_str(&out[REPL_EX_CC], a, cc);
    set_int(&out[REPL_EX_RESPONSESTATUS], !others ? 0 : mine ? 1 : status);
}

/* Every value of component `c` of `doc` but the VCALENDAR's own (method, prodid, version). */
static void read_component(struct cal_doc *doc,
                           struct cal_node *c,
                           const struct repl_ex_self *self,
                           struct arena *arena,
                           struct repl_ex_value out[REPL_EX_COUNT])
{
    read_meeting(c, self, arena, out);
    read_times(doc, c, out);
    read_zone(doc, c, cal_prop_first(c, CAL_PROP_DTSTART), arena, out);
    read_multi(doc, c, CAL_PROP_RRULE, arena, &out[REPL_EX_RRULE]);
    read_multi(doc, c, CAL_PROP_EXRULE, arena, &out[REPL_EX_EXRULE]);
    read_multi(doc, c, CAL_PROP_RDATE, arena, &out[REPL_EX_RDATE]);
    read_multi(doc, c, CAL_PROP_EXDATE, arena, &out[REPL_EX_EXDATE]);
    read_multi(doc, c, CAL_PROP_CATEGORIES, arena, &out[REPL_EX_KEYWORDS]);
    read_status(c, arena, out);
    read_alarm(c, out);
    read_stamp(doc, c, CAL_PROP_CREATED, &out[REPL_EX_CREATED]);
    read_stamp(doc, c, CAL_PROP_LASTMODIFIED, &out[REPL_EX_LASTMODIFIED]);
    read_stamp(doc, c, CAL_PROP_DTSTAMP, &out[REPL_EX_DTSTAMP]);
    read_text(c, arena, out);
}

int repl_exprops_read(struct slice ics,
                      const struct repl_ex_self *self,
                      struct arena *arena,
                      struct repl_ex_value out[REPL_EX_COUNT],
                      struct err *err)
{
    memset(out, 0, REPL_EX_COUNT * sizeof(*out));
    struct cal_doc *doc = cal_doc_parse(ics, arena, err);
    if (!doc) {
        return -1;
    }
    struct cal_node *root = cal_doc_root(doc);
    struct cal_node *c = master_of(root);
    if (!c) {
        cal_doc_free(doc);
        return err_set(err, &cal_cond_valid_calendar_data, "stored object has no component");
    }
    set_value_text(&out[REPL_EX_METHOD], arena, cal_prop_first(root, CAL_PROP_METHOD));
    set_value_text(&out[REPL_EX_PRODID], arena, cal_prop_first(root, CAL_PROP_PRODID));
    set_value_text(&out[REPL_EX_VERSION], arena, cal_prop_first(root, CAL_PROP_VERSION));
    read_component(doc, c, self, arena, out);
    cal_doc_free(doc);
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Occurrences (§3.8) */

/* One occurrence of the expanded series. */
struct ex_occ {
    int64_t start; /* DTSTART, UTC */
    struct cal_node *c;
};

struct repl_ex_instances {
    struct cal_doc *doc; /* the series expanded by cal_expand() */
    struct ex_occ *occ;  /* its occurrences, by start */
    size_t n;
    size_t next;
    int64_t *override_rids; /* RECURRENCE-IDs of the stored overrides, sorted */
    size_t noverrides;
    struct repl_ex_value master[REPL_EX_COUNT]; /* for what expansion drops (zone, METHOD) */
};

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a;
    int64_t y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* The RECURRENCE-IDs of the overrides stored in `ics`, sorted, in x (malloc'd). */
static int collect_overrides(struct repl_ex_instances *x,
                             struct slice ics,
                             struct arena *arena,
                             struct err *err)
{
    struct cal_doc *doc = cal_doc_parse(ics, arena, err);
    if (!doc) {
        return -1;
    }
    struct cal_node *root = cal_doc_root(doc);
    size_t cap = 0;
    for (struct cal_node *c = cal_node_first(root, CAL_NODE_ANY); c;
         c = cal_node_next(root, CAL_NODE_ANY)) {
        struct cal_prop *rid = cal_prop_first(c, CAL_PROP_RECURRENCEID);
        if (!rid) {
            continue;
        }
        if (x->noverrides == cap) {
            cap = cap ? cap * 2 : 8;
            x->override_rids = realloc(x->override_rids, cap * sizeof(*x->override_rids));
            assert(x->override_rids);
        }
        x->override_rids[x->noverrides++] = utc_of(doc, rid);
    }
    cal_doc_free(doc);
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

int repl_ex_instances_open(struct slice ics,
                           const struct repl_ex_self *self,
                           int64_t start,
                           int64_t end,
                           struct arena *arena,
                           struct repl_ex_instances **out,
                           struct err *err)
{
    *out = NULL;
    struct repl_ex_instances *x = calloc(1, sizeof(*x));
    assert(x);
    struct slice exp;
    if (repl_exprops_read(ics, self, arena, x->master, err) != 0 ||
        collect_overrides(x, ics, arena, err) != 0 ||
        cal_expand(ics, start, end, arena, &exp, err) != 0 ||
        !(x->doc = cal_doc_parse(exp, arena, err))) {
        repl_ex_instances_close(&x);
        return -1;
    }
    size_t cap = 0;
    struct cal_node *root = cal_doc_root(x->doc);
    for (struct cal_node *c = cal_node_first(root, CAL_NODE_ANY); c;
         c = cal_node_next(root, CAL_NODE_ANY)) {
        struct cal_prop *sp = cal_prop_first(c, CAL_PROP_DTSTART);
        if (!cal_prop_first(c, CAL_PROP_RECURRENCEID) || !sp) {
            continue; /* not an occurrence of a series */
        }
        if (x->n == cap) {
            cap = cap ? cap * 2 : 16;
            x->occ = realloc(x->occ, cap * sizeof(*x->occ));
            assert(x->occ);
        }
        x->occ[x->n].c = c;
        x->occ[x->n++].start = utc_of(x->doc, sp);
    }
    if (x->n) {
        qsort(x->occ, x->n, sizeof(*x->occ), cmp_occ);
    }
    *out = x;
    return 0;
}

int repl_ex_instances_next(struct repl_ex_instances *x,
                           struct arena *arena,
                           struct repl_ex_value out[REPL_EX_COUNT])
{
    if (x->next == x->n) {
        return 0;
    }
    struct cal_node *c = x->occ[x->next++].c;
    memset(out, 0, REPL_EX_COUNT * sizeof(*out));
    read_component(x->doc, c, NULL, arena, out);
    /* the principal's place in the meeting is the series' (read with `self` at open) */
    out[REPL_EX_ISORGANIZER] = x->master[REPL_EX_ISORGANIZER];
    out[REPL_EX_RESPONSESTATUS] = x->master[REPL_EX_RESPONSESTATUS];
    /* expansion writes times in UTC and drops the VTIMEZONEs: the zone is the series' */
    out[REPL_EX_TIMEZONEID] = x->master[REPL_EX_TIMEZONEID];
    out[REPL_EX_TIMEZONE] = x->master[REPL_EX_TIMEZONE];
    out[REPL_EX_METHOD] = x->master[REPL_EX_METHOD];
    out[REPL_EX_PRODID] = x->master[REPL_EX_PRODID];
    out[REPL_EX_VERSION] = x->master[REPL_EX_VERSION];
    int64_t rid = out[REPL_EX_RECURRENCEID].i;
    bool overridden =
        x->noverrides && bsearch(&rid, x->override_rids, x->noverrides, sizeof(rid), cmp_i64);
    out[REPL_EX_INSTANCETYPE] = (struct repl_ex_value){.present = true, .i = overridden ? 3 : 2};
    return 1;
}

void repl_ex_instances_close(struct repl_ex_instances **xp)
{
    struct repl_ex_instances *x = *xp;
    if (!x) {
        return;
    }
    cal_doc_free(x->doc);
    free(x->occ);
    free(x->override_rids);
    free(x);
    *xp = NULL;
}
