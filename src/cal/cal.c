/* cal/cal.c: the cal layer's conditions and start-up, and what REPORTs ask of stored
 * objects: expansion (RFC 4791 §9.6.5), calendar-query filters (§9.7), free-busy (§7.10) and
 * calendar-data selection (§9.6), and the instance index of a series (made on PUT by the same
 * walk as the expansion, so a time-range query can answer from it without parsing). Objects
 * reaching here were validated by cal/object.c on PUT; times, zones and recurrence walking
 * come from cal/span.c. */
#include "cal/cal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libical/ical.h>

#include "cal/cal_int.h"
#include "util/deadline.h"

#define ERR_COND(sym, name, ns, http, eas) ERR_COND_DEFINE(sym, name, ns, http, eas)
#include "cal/conds.def"
#undef ERR_COND

void cal_init(void)
{
    icalerror_set_errors_are_fatal(0);
    cal_zone_preload();
    /* libical's recurrence iterator loads ICU's calendar data on first use (a quarter of a
     * second, seconds under sanitizers): here, rather than in the first request's budget */
    struct icalrecurrencetype r = icalrecurrencetype_from_string("FREQ=YEARLY;COUNT=2");
    icalrecur_iterator *it = icalrecur_iterator_new(r, icaltime_from_string("20260101T000000"));
    if (it) {
        (void)icalrecur_iterator_next(it);
        icalrecur_iterator_free(it);
    }
}

void cal_shutdown(void)
{
    cal_greg_shutdown();
    cal_tz_shutdown();
    icaltimezone_free_builtin_timezones();
    icalmemory_free_ring();
}

/* ---------------------------------------------------------------------------------------- */
/* Expansion (RFC 4791 §9.6.5) */

/* 0, or -1 with err_cond_time_budget once this thread's deadline has passed: a walk cut
 * short by it (cal_recur_next) must not be answered as if it were complete. */
static int budget_left(struct err *err)
{
    if (!deadline_passed()) {
        return 0;
    }
    return err_set(err, &err_cond_time_budget,
                   "the request's time budget ran out while recurrences were expanded");
}

static icalcomponent *
parse_stored(struct slice ics, bool read_only, struct arena *arena, struct err *err)
{
    if (budget_left(err) != 0) {
        return NULL;
    }
    icalcomponent *root = read_only ? cal_tree_parse_read(ics, arena, err)
                                    : cal_tree_parse(arena_slicedup(arena, ics), false, err);
    if (!root || icalcomponent_isa(root) != ICAL_VCALENDAR_COMPONENT) {
        cal_tree_free(root);
        err_set(err, &cal_cond_valid_calendar_data, "stored object does not parse");
        return NULL;
    }
    return root;
}

icalcomponent *cal_parse_stored(struct slice ics, struct arena *arena, struct err *err)
{
    return parse_stored(ics, false, arena, err);
}

icalcomponent *cal_parse_stored_read(struct slice ics, struct arena *arena, struct err *err)
{
    return parse_stored(ics, true, arena, err);
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
        icaltime_from_timet_with_zone((time_t)cal_to_utc(t, cal_zone_of(root, p, t)), 0, utc);
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

static bool overlaps(int64_t s, int64_t e, int64_t start, int64_t end)
{
    /* RFC 4791 §9.9: zero-length instances match when start <= s < end */
    return s < end && (e > start || (e == s && s >= start));
}

/* The override of `master` whose RECURRENCE-ID is `rid_utc`, or NULL. */
/* The overrides of one series, by the instant they replace. */
struct overrides {
    int64_t *rid;
    icalcomponent **c;
    size_t n;
};

static void
overrides_of(icalcomponent *root, const char *uid, struct arena *arena, struct overrides *o)
{
    size_t cap = 0;
    for (icalcompiter i = icalcomponent_begin_component(root, ICAL_ANY_COMPONENT);
         icalcompiter_deref(&i); icalcompiter_next(&i)) {
        cap++;
    }
    o->rid = arena_alloc(arena, (cap + 1) * sizeof(*o->rid));
    o->c = arena_alloc(arena, (cap + 1) * sizeof(*o->c));
    o->n = 0;
    /* An external iterator: the caller is inside a get_first/get_next loop over root. */
    for (icalcompiter i = icalcomponent_begin_component(root, ICAL_ANY_COMPONENT);
         icalcompiter_deref(&i) && o->n < cap; icalcompiter_next(&i)) {
        icalcomponent *c = icalcompiter_deref(&i);
        icalproperty *rp = icalcomponent_get_first_property(c, ICAL_RECURRENCEID_PROPERTY);
        const char *u = icalcomponent_get_uid(c);
        if (!rp || !u || strcmp(u, uid) != 0) {
            continue;
        }
        struct icaltimetype r = icalproperty_get_recurrenceid(rp);
        int64_t rid = cal_to_utc(r, cal_zone_of(root, rp, r));
        /* insertion keeps them sorted; overrides are few next to instances */
        size_t k = o->n;
        while (k > 0 && o->rid[k - 1] > rid) {
            o->rid[k] = o->rid[k - 1];
            o->c[k] = o->c[k - 1];
            k--;
        }
        o->rid[k] = rid;
        o->c[k] = c;
        o->n++;
    }
}

/* The override replacing the instance at `rid_utc`, or NULL. O(log n). */
static icalcomponent *override_at(const struct overrides *o, int64_t rid_utc)
{
    size_t lo = 0;
    size_t hi = o->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (o->rid[mid] < rid_utc) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < o->n && o->rid[lo] == rid_utc ? o->c[lo] : NULL;
}

/* One instance of an object as the expansion walk meets it. A component standing for itself
 * (a master without RRULE, an override, an override sent without its series) is `own`, with
 * its own DTSTART and end; an instance of the master's rule has its local start `t`. `rid` is
 * the instance's place in the series (the RECURRENCE-ID an override replaces), which for
 * anything else equals `start`. */
struct walk_inst {
    icalcomponent *c;
    bool own;
    struct icaltimetype t; /* !own: the rule's local start time */
    int64_t start;
    int64_t end;
    int64_t rid;
};

/* Receives one instance met by the walk; false stops the walk (it is then not complete). */
typedef bool walk_fn(void *ctx, icalcomponent *root, const struct walk_inst *in);

/* The instance a component has by itself: from its DTSTART (none: no instance). */
static bool own_instance(icalcomponent *root, icalcomponent *c, int64_t rid, struct walk_inst *in)
{
    icalproperty *sp = icalcomponent_get_first_property(c, ICAL_DTSTART_PROPERTY);
    if (!sp) {
        return false;
    }
    struct icaltimetype st = icalproperty_get_dtstart(sp);
    const icaltimezone *z = cal_zone_of(root, sp, st);
    in->c = c;
    in->own = true;
    in->start = cal_to_utc(st, z);
    in->end = cal_instance_end(root, c, st, z, in->start);
    in->rid = rid == INT64_MIN ? in->start : rid;
    return true;
}

static bool walk_own(icalcomponent *root, icalcomponent *c, int64_t rid, walk_fn *fn, void *ctx)
{
    struct walk_inst in;
    if (own_instance(root, c, rid, &in)) {
        return fn(ctx, root, &in);
    }
    return true;
}

/* One source of a series' instances in the merged walk: an RRULE being walked. */
struct rule_head {
    struct cal_recur w;
    bool live;             /* `t`/`rid` hold its next instance */
    struct icaltimetype t; /* local start */
    int64_t rid;
};

/* Loads the next instance of `h` into it. False when the rule has none left; *cut is set
 * when it stopped at a CAL_MAX_* bound rather than at its end. */
static bool rule_advance(struct rule_head *h, struct cal_work *work, bool *cut)
{
    int rc = cal_recur_next(&h->w, work, &h->t, &h->rid);
    if (rc == -1) {
        *cut = true;
    }
    h->live = rc == 1;
    return h->live;
}

/* Walks the instances of series `m` that start (by RECURRENCE-ID) before `range_end`, in
 * ascending order, each override in place of the instance it replaces. The recurrence set is
 * RFC 5545 §3.8.5's: DTSTART (always the first instance, whether or not a rule yields it),
 * every RRULE's instances and every RDATE, an instant met twice counted once, less the
 * EXDATEs. Returns true when the walk met every instance of the series (false: it stopped
 * at range_end, or at a CAL_MAX_* bound). With `range_start`, rules may skip instances that
 * end before it (see walk_object). */
static bool walk_master(icalcomponent *root,
                        icalcomponent *m,
                        int64_t range_start,
                        int64_t range_end,
                        struct arena *arena,
                        walk_fn *fn,
                        void *ctx)
{
    icalproperty *sp = icalcomponent_get_first_property(m, ICAL_DTSTART_PROPERTY);
    size_t nrules = 0;
    icalproperty **rules = cal_props_of(m, ICAL_RRULE_PROPERTY, arena, &nrules);
    struct cal_rdate *rd = NULL;
    size_t nrd = sp ? cal_rdates_of(root, m, arena, &rd) : 0;
    if (!sp || (nrules == 0 && nrd == 0)) {
        return walk_own(root, m, INT64_MIN, fn, ctx);
    }
    struct icaltimetype dtstart = icalproperty_get_dtstart(sp);
    const icaltimezone *zone = cal_zone_of(root, sp, dtstart);
    int64_t u0 = cal_to_utc(dtstart, zone);
    bool cut = false;
    const char *uid = icalcomponent_get_uid(m);
    struct cal_len len;
    cal_len_of(root, m, &len);
    struct overrides ovs;
    overrides_of(root, uid ? uid : "", arena, &ovs);
    /* Instances that start before `skip_to` end before range_start: a rule jumps there
     * instead of being stepped through from DTSTART (a daily series from 1970 queried for
     * this week, or from the year 204) when cal_recur_skip can (any rule of the Gregorian
     * fast path, where COUNT still counts the instances before; through libical, rules
     * without COUNT of INTERVAL 1). Not when an override replaces an instance before it,
     * which may have moved into the range. */
    int64_t skip_to =
        range_start == INT64_MIN ? INT64_MIN : range_start - cal_len_bound(&len) - 2 * 86400;
    if (skip_to <= u0 || (ovs.n > 0 && ovs.rid[0] < skip_to)) {
        skip_to = INT64_MIN;
    }
    struct cal_work work = CAL_WORK_INIT; /* one budget for all the rules, as the span's */
    struct rule_head heads[CAL_MAX_RRULES];
    size_t nh = 0;
    for (size_t i = 0; i < nrules && nh < CAL_MAX_RRULES; i++) {
        struct icalrecurrencetype rule = icalproperty_get_rrule(rules[i]);
        struct rule_head *h = &heads[nh];
        if (cal_recur_start_fast(&h->w, &rule, dtstart, zone) != 0) {
            continue; /* a rule cal_parse_object refuses: it adds nothing */
        }
        if (skip_to != INT64_MIN) {
            (void)cal_recur_skip(&h->w, dtstart, skip_to); /* when it can, see there */
        }
        nh++;
        rule_advance(h, &work, &cut);
    }
    struct cal_exset ex;
    cal_exset_init(&ex, root, m, NULL, 0, arena);
    bool first = true; /* DTSTART's instance not yet met */
    size_t ri = 0;
    bool stopped = false;
    for (;;) {
        /* the earliest head of the sources; its local time and end from the one that has it
         * (DTSTART, then an RDATE, then a rule) */
        int64_t rid = INT64_MAX;
        struct icaltimetype t = dtstart;
        int64_t end = INT64_MIN; /* INT64_MIN: as cal_instance_end gives it */
        bool any = false;
        if (first) {
            rid = u0;
            any = true;
        }
        if (ri < nrd && (!any || rd[ri].utc < rid)) {
            rid = rd[ri].utc;
            t = rd[ri].t;
            end = rd[ri].end;
            any = true;
        }
        for (size_t k = 0; k < nh; k++) {
            if (heads[k].live && (!any || heads[k].rid < rid)) {
                rid = heads[k].rid;
                t = heads[k].t;
                end = INT64_MIN;
                any = true;
            }
        }
        if (!any) {
            break;
        }
        if (rid >= range_end) {
            stopped = true; /* instances only grow from here (an override moved earlier from
                               a later original is not looked for) */
            break;
        }
        /* consume the instant from every source that has it */
        if (first && u0 == rid) {
            first = false;
        }
        while (ri < nrd && rd[ri].utc == rid) {
            ri++;
        }
        for (size_t k = 0; k < nh; k++) {
            while (heads[k].live && heads[k].rid == rid && rule_advance(&heads[k], &work, &cut)) {
            }
        }
        if (cal_exset_has(&ex, t, rid)) {
            continue;
        }
        icalcomponent *ov = override_at(&ovs, rid);
        if (ov) {
            if (!walk_own(root, ov, rid, fn, ctx)) {
                stopped = true;
                break;
            }
            continue;
        }
        if (end == INT64_MIN) {
            end = cal_len_end(&len, t, zone, rid);
        }
        struct walk_inst in = {m, false, t, rid, end, rid};
        if (!fn(ctx, root, &in)) {
            stopped = true;
            break;
        }
    }
    for (size_t k = 0; k < nh; k++) {
        cal_recur_stop(&heads[k].w);
    }
    return !stopped && !cut;
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

/* Walks every instance of the object that starts before `range_end` (see walk_master); with
 * `range_start` (else INT64_MIN) a rule may skip instances that end before it, so `fn` sees
 * every instance overlapping [range_start, range_end) but not necessarily the earlier ones.
 * The one walk behind both cal_expand() and the instance index of cal_instances_build(), so
 * the index answers exactly as the expansion does. True when no instance was left out. */
static bool walk_object(icalcomponent *root,
                        int64_t range_start,
                        int64_t range_end,
                        struct arena *arena,
                        walk_fn *fn,
                        void *ctx)
{
    bool complete = true;
    for (icalcomponent *c = icalcomponent_get_first_component(root, ICAL_ANY_COMPONENT); c;
         c = icalcomponent_get_next_component(root, ICAL_ANY_COMPONENT)) {
        icalcomponent_kind k = icalcomponent_isa(c);
        if (k == ICAL_VTIMEZONE_COMPONENT) {
            continue;
        }
        bool is_override = icalcomponent_get_first_property(c, ICAL_RECURRENCEID_PROPERTY);
        if (!is_override) {
            complete = walk_master(root, c, range_start, range_end, arena, fn, ctx) && complete;
        } else if (!has_master(root, icalcomponent_get_uid(c))) {
            /* an override sent without its series */
            complete = walk_own(root, c, INT64_MIN, fn, ctx) && complete;
        }
    }
    return complete;
}

struct expand_ctx {
    icalcomponent *out;
    int64_t start;
    int64_t end;
    size_t n;                    /* instances added, at most CAL_MAX_EXPANDED */
    const icalcomponent *master; /* the series `tmpl` was made from */
    icalcomponent *tmpl;         /* its copy without RRULE, RDATE and EXDATE, or NULL */
};

/* A copy of `c` without its recurrence properties, made once per series: copying the whole
 * master per instance and removing them (libical removes a property in O(properties)) makes
 * a series with many RDATEs quadratic. */
static icalcomponent *instance_template(icalcomponent *c)
{
    icalcomponent *t = icalcomponent_new(icalcomponent_isa(c));
    for (icalproperty *p = icalcomponent_get_first_property(c, ICAL_ANY_PROPERTY); p;
         p = icalcomponent_get_next_property(c, ICAL_ANY_PROPERTY)) {
        icalproperty_kind k = icalproperty_isa(p);
        if (k != ICAL_RRULE_PROPERTY && k != ICAL_RDATE_PROPERTY && k != ICAL_EXDATE_PROPERTY) {
            icalcomponent_add_property(t, icalproperty_new_clone(p));
        }
    }
    for (icalcompiter i = icalcomponent_begin_component(c, ICAL_ANY_COMPONENT);
         icalcompiter_deref(&i); icalcompiter_next(&i)) {
        icalcomponent_add_component(t, icalcomponent_new_clone(icalcompiter_deref(&i)));
    }
    return t;
}

/* Adds the instance to the expansion when it overlaps the range: a UTC copy of an own
 * component, or a copy of the master moved to the instance's start. */
static bool expand_one(void *ctx, icalcomponent *root, const struct walk_inst *in)
{
    struct expand_ctx *x = ctx;
    if (!overlaps(in->start, in->end, x->start, x->end)) {
        return true;
    }
    if (x->n++ == CAL_MAX_EXPANDED) {
        return false; /* an answer, not a denial of service: the rest is left out */
    }
    if (in->own) {
        icalcomponent *copy = icalcomponent_new_clone(in->c);
        prop_to_utc(root, copy, ICAL_DTSTART_PROPERTY);
        prop_to_utc(root, copy, ICAL_DTEND_PROPERTY);
        prop_to_utc(root, copy, ICAL_DUE_PROPERTY);
        prop_to_utc(root, copy, ICAL_RECURRENCEID_PROPERTY);
        icalcomponent_add_component(x->out, copy);
        return true;
    }
    struct icaltimetype t = in->t;
    int64_t rid = in->rid;
    int64_t len = in->end == INT64_MAX ? INT32_MAX : in->end - rid;
    if (x->master != in->c) {
        if (x->tmpl) {
            icalcomponent_free(x->tmpl);
        }
        x->tmpl = instance_template(in->c);
        x->master = in->c;
    }
    icalcomponent *inst = icalcomponent_new_clone(x->tmpl);
    icaltimezone *utc = icaltimezone_get_utc_timezone();
    struct icaltimetype u =
        icaltime_is_date(t) ? t : icaltime_from_timet_with_zone((time_t)rid, 0, utc);
    icalproperty *isp = icalcomponent_get_first_property(inst, ICAL_DTSTART_PROPERTY);
    icalproperty_remove_parameter_by_kind(isp, ICAL_TZID_PARAMETER);
    icalproperty_set_dtstart(isp, u);
    icalproperty *iep = icalcomponent_get_first_property(inst, ICAL_DTEND_PROPERTY);
    if (iep) {
        struct icaltimetype ue = icaltime_is_date(t)
                                     ? icaltime_add(t, icaldurationtype_from_int((int)len))
                                     : icaltime_from_timet_with_zone((time_t)(rid + len), 0, utc);
        icalproperty_remove_parameter_by_kind(iep, ICAL_TZID_PARAMETER);
        icalproperty_set_dtend(iep, ue);
    }
    icalproperty *idp = icalcomponent_get_first_property(inst, ICAL_DURATION_PROPERTY);
    if (idp && in->end != INT64_MAX &&
        icaldurationtype_as_int(icalproperty_get_duration(idp)) != len) {
        /* an RDATE;VALUE=PERIOD instance lasts its period, not the master's DURATION */
        icalproperty_set_duration(idp, icaldurationtype_from_int((int)len));
    }
    icalcomponent_add_property(inst, icalproperty_new_recurrenceid(u));
    icalcomponent_add_component(x->out, inst);
    return true;
}

int cal_expand(struct slice ics,
               int64_t start,
               int64_t end,
               struct arena *arena,
               struct slice *out,
               struct err *err)
{
    icalcomponent *root = cal_parse_stored_read(ics, arena, err);
    if (!root) {
        return -1;
    }
    icalcomponent *res = icalcomponent_new(ICAL_VCALENDAR_COMPONENT);
    icalcomponent_add_property(res, icalproperty_new_version("2.0"));
    icalproperty *prodid = icalcomponent_get_first_property(root, ICAL_PRODID_PROPERTY);
    icalcomponent_add_property(res, prodid ? icalproperty_new_clone(prodid)
                                           : icalproperty_new_prodid("-//Almanac//EN"));
    struct expand_ctx x = {res, start, end, 0, NULL, NULL};
    walk_object(root, start, end, arena, expand_one, &x);
    if (x.tmpl) {
        icalcomponent_free(x.tmpl);
    }
    to_arena(res, arena, out);
    icalcomponent_free(res);
    cal_tree_free(root);
    return budget_left(err);
}

/* ---------------------------------------------------------------------------------------- */
/* The instance index (cal_instances_build, cal_instances_match) */

/* One instance in the index: three little-endian int64s, start, end and rid. */
enum {
    INST_BYTES = 24
};

struct build_ctx {
    uint8_t *buf;
    size_t n;
    size_t cap;
    bool full; /* more than CAL_MAX_INDEXED_INSTANCES */
    struct arena *arena;
};

static void put_i64(uint8_t *p, int64_t v)
{
    uint64_t u = (uint64_t)v;
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(u >> (8 * i));
    }
}

static int64_t get_i64(const uint8_t *p)
{
    uint64_t u = 0;
    for (int i = 0; i < 8; i++) {
        u |= (uint64_t)p[i] << (8 * i);
    }
    return (int64_t)u;
}

static bool build_one(void *ctx, icalcomponent *root, const struct walk_inst *in)
{
    (void)root;
    struct build_ctx *b = ctx;
    if (b->full || b->n == CAL_MAX_INDEXED_INSTANCES) {
        b->full = true;
        return false; /* no index for this series: the rest of the walk is wasted work */
    }
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        uint8_t *nb = arena_alloc(b->arena, cap * INST_BYTES);
        if (b->n) {
            memcpy(nb, b->buf, b->n * INST_BYTES);
        }
        b->buf = nb;
        b->cap = cap;
    }
    uint8_t *p = b->buf + b->n * INST_BYTES;
    put_i64(p, in->start);
    put_i64(p + 8, in->end);
    put_i64(p + 16, in->rid);
    b->n++;
    return true;
}

bool cal_instances_of(icalcomponent *root, struct arena *arena, const void **out, size_t *size_out)
{
    struct build_ctx b = {NULL, 0, 0, false, arena};
    bool complete = walk_object(root, INT64_MIN, INT64_MAX, arena, build_one, &b);
    if (!complete || b.full) {
        *out = NULL;
        *size_out = 0;
        return false;
    }
    *out = b.buf ? (const void *)b.buf : (const void *)"";
    *size_out = b.n * INST_BYTES;
    return true;
}

int cal_instances_match(const void *index, size_t size, int64_t start, int64_t end)
{
    if (size % INST_BYTES != 0) {
        return -1;
    }
    const uint8_t *p = index;
    for (size_t i = 0; i < size; i += INST_BYTES) {
        int64_t s = get_i64(p + i);
        int64_t e = get_i64(p + i + 8);
        int64_t rid = get_i64(p + i + 16);
        /* what walk_object(range_end = end) + expand_one would keep */
        if (rid < end && overlaps(s, e, start, end)) {
            return 1;
        }
    }
    return 0;
}

static int cmp_interval(const void *a, const void *b)
{
    const struct cal_interval *x = a;
    const struct cal_interval *y = b;
    if (x->start != y->start) {
        return x->start < y->start ? -1 : 1;
    }
    return (x->end > y->end) - (x->end < y->end);
}

/* Gaps between neighbouring intervals, widest first; ties by position, so a cut is stable. */
struct gap {
    uint64_t width; /* next start - this end, > 0 (unsigned: exact for any two int64s) */
    size_t at;      /* the gap after interval `at` */
};

static int cmp_gap(const void *a, const void *b)
{
    const struct gap *x = a;
    const struct gap *y = b;
    if (x->width != y->width) {
        return x->width > y->width ? -1 : 1;
    }
    return (x->at > y->at) - (x->at < y->at);
}

/* Sorted and merged: the intervals that overlap or touch become one; returns the count. */
static size_t merge_touching(struct cal_interval *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_interval);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k > 0 && v[i].start <= v[k - 1].end) {
            if (v[i].end > v[k - 1].end) {
                v[k - 1].end = v[i].end;
            }
        } else {
            v[k++] = v[i];
        }
    }
    return k;
}

int cal_instances_cover(const void *index,
                        size_t size,
                        size_t max,
                        struct arena *arena,
                        struct cal_interval **out,
                        size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    if (size % INST_BYTES != 0 || max == 0) {
        return -1;
    }
    size_t n = size / INST_BYTES;
    if (n == 0) {
        return 0;
    }
    const uint8_t *p = index;
    struct cal_interval *v = arena_alloc(arena, n * sizeof(*v));
    for (size_t i = 0; i < n; i++) {
        v[i].start = get_i64(p + i * INST_BYTES);
        int64_t e = get_i64(p + i * INST_BYTES + 8);
        v[i].end = e > v[i].start ? e : v[i].start;
    }
    size_t k = merge_touching(v, n);
    if (k > max) {
        /* keep the max - 1 widest gaps as cuts, join across the others */
        struct gap *g = arena_alloc(arena, (k - 1) * sizeof(*g));
        for (size_t i = 0; i + 1 < k; i++) {
            g[i].width = (uint64_t)v[i + 1].start - (uint64_t)v[i].end;
            g[i].at = i;
        }
        qsort(g, k - 1, sizeof(*g), cmp_gap);
        bool *cut = arena_zalloc(arena, k * sizeof(*cut));
        for (size_t i = 0; i + 1 < max; i++) {
            cut[g[i].at] = true;
        }
        size_t m = 0;
        for (size_t i = 0; i < k; i++) {
            if (m > 0 && !cut[i - 1]) {
                v[m - 1].end = v[i].end; /* disjoint and ascending: ends grow */
            } else {
                v[m++] = v[i];
            }
        }
        k = m;
    }
    *out = v;
    *n_out = k;
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

static bool comp_matches(icalcomponent *root,
                         icalcomponent *c,
                         const struct cal_filter *f,
                         struct arena *arena);

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

static bool range_matches(icalcomponent *root,
                          icalcomponent *c,
                          const struct cal_filter *f,
                          struct arena *arena)
{
    struct cal_span s = {false, 0, 0};
    struct cal_work work = CAL_WORK_INIT;
    bool recurring = false;
    if (cal_component_span(root, c, NULL, &work, arena, &s, &recurring, NULL) != 0 || !s.any) {
        return false;
    }
    return overlaps(s.start, s.end, f->start, f->end);
}

/* Does component `c` satisfy comp-filter `f` (its own name already matched)? */
static bool
comp_matches(icalcomponent *root, icalcomponent *c, const struct cal_filter *f, struct arena *arena)
{
    if (f->has_range && !range_matches(root, c, f, arena)) {
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
            if (!ch->is_not_defined && comp_matches(root, sub, ch, arena)) {
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

static bool names_vtimezone(const struct cal_filter *f)
{
    for (; f; f = f->next) {
        if ((f->kind == CAL_FILTER_COMP && strcasecmp(f->name, "VTIMEZONE") == 0) ||
            names_vtimezone(f->children)) {
            return true;
        }
    }
    return false;
}

int cal_filter_match(struct slice ics,
                     const struct cal_filter *f,
                     struct arena *arena,
                     struct err *err)
{
    icalcomponent *root = parse_stored(ics, !names_vtimezone(f), arena, err);
    if (!root) {
        return -1;
    }
    bool ok = strcasecmp(f->name, "VCALENDAR") == 0 && comp_matches(root, root, f, arena);
    cal_tree_free(root);
    if (budget_left(err) != 0) {
        return -1;
    }
    return ok ? 1 : 0;
}

struct busy_ctx {
    int64_t start;
    int64_t end;
    size_t n; /* instances met in the range, at most CAL_MAX_EXPANDED as in an expansion */
    cal_period_fn *fn;
    void *ctx;
    int rc; /* fn's non-zero value */
};

/* A busy period for the instance when it is a VEVENT's overlapping the range, neither
 * transparent nor cancelled, and longer than an instant. The master's properties speak for
 * its instances, an override's for its own: what the instance carries in an expansion. */
static bool busy_one(void *ctx, icalcomponent *root, const struct walk_inst *in)
{
    (void)root;
    struct busy_ctx *b = ctx;
    if (!overlaps(in->start, in->end, b->start, b->end)) {
        return true;
    }
    if (b->n++ == CAL_MAX_EXPANDED) {
        return false;
    }
    if (icalcomponent_isa(in->c) != ICAL_VEVENT_COMPONENT || in->end <= in->start) {
        return true; /* zero-length instances block no time */
    }
    icalproperty *tr = icalcomponent_get_first_property(in->c, ICAL_TRANSP_PROPERTY);
    if (tr && icalproperty_get_transp(tr) == ICAL_TRANSP_TRANSPARENT) {
        return true;
    }
    icalproperty *stp = icalcomponent_get_first_property(in->c, ICAL_STATUS_PROPERTY);
    enum icalproperty_status status = stp ? icalproperty_get_status(stp) : ICAL_STATUS_NONE;
    if (status == ICAL_STATUS_CANCELLED) {
        return true;
    }
    b->rc = b->fn(b->ctx, in->start < b->start ? b->start : in->start,
                  in->end > b->end ? b->end : in->end,
                  status == ICAL_STATUS_TENTATIVE ? CAL_FB_TENTATIVE : CAL_FB_BUSY);
    return b->rc == 0;
}

/* The walk of cal_expand() without making the expansion: each instance's period straight
 * from the walk, so an object with thousands of instances in the range costs no text to
 * write and parse again. */
int cal_busy(struct slice ics,
             int64_t start,
             int64_t end,
             struct arena *arena,
             cal_period_fn *fn,
             void *ctx,
             struct err *err)
{
    icalcomponent *root = cal_parse_stored_read(ics, arena, err);
    if (!root) {
        return -1;
    }
    struct busy_ctx b = {start, end, 0, fn, ctx, 0};
    walk_object(root, start, end, arena, busy_one, &b);
    cal_tree_free(root);
    if (b.rc != 0) {
        return b.rc;
    }
    return budget_left(err);
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
            const icaltimezone *z = cal_zone_of(root, sp, st);
            int64_t s = cal_to_utc(st, z);
            int64_t e = cal_instance_end(root, c, st, z, s);
            struct icaltimetype r = icalproperty_get_recurrenceid(rp);
            int64_t rs = cal_to_utc(r, cal_zone_of(root, rp, r));
            int64_t re = e == INT64_MAX ? INT64_MAX : cal_add_sat(rs, e - s);
            if (!overlaps(s, e, start, end) && !overlaps(rs, re, start, end)) {
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
    icalcomponent *root = cal_parse_stored(ics, arena, err);
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
    cal_tree_free(root);
    return 0;
}
