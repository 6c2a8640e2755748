/* sched/itip.c: iTIP (RFC 5546) as RFC 6638 implicit scheduling uses it, as pure functions
 * over calendar object text (sched.h). Reads and builds objects through cal/edit.h only:
 * libical stays in cal. Never touches the store.
 *
 * Instances are matched by their key: the instant of RECURRENCE-ID (Unix seconds, in the
 * object's own zones), or KEY_MASTER for the master (or the lone component). Walks over one
 * parent never nest (cal/edit.h's one cursor per parent): components are first collected into
 * arrays. */
#include <stdlib.h>
#include <string.h>

#include "cal/edit.h"
#include "sched/sched.h"
#include "util/buf.h"

#define ERR_COND(sym, name, ns, http, eas) ERR_COND_DEFINE(sym, name, ns, http, eas)
#include "sched/conds.def"
#undef ERR_COND

#define KEY_MASTER INT64_MIN

enum {
    MAX_COMPS = 4096, /* components of one object considered (cal's own limits are lower) */
};

static const char PRODID[] = "-//Almanac//Scheduling//EN";

const char *sched_method_name(enum sched_method m)
{
    switch (m) {
    case SCHED_REQUEST:
        return "REQUEST";
    case SCHED_CANCEL:
        return "CANCEL";
    case SCHED_REPLY:
        return "REPLY";
    }
    return "REQUEST";
}

bool sched_addr_eq(const char *a, const char *b)
{
    if (!a || !b) {
        return false;
    }
    return slice_eq_ci(slice_from_cstr(a), slice_from_cstr(b));
}

/* ---------------------------------------------------------------------------------------- */
/* Walking an object */

struct comp {
    struct cal_node *node;
    int64_t key; /* KEY_MASTER or the RECURRENCE-ID's instant */
};

struct comps {
    struct comp *v;
    size_t n;
    struct cal_node **zones; /* VTIMEZONEs */
    size_t nzones;
};

static bool is_schedulable(enum cal_node_kind k)
{
    return k == CAL_NODE_VEVENT || k == CAL_NODE_VTODO || k == CAL_NODE_VJOURNAL;
}

/* The instant of a DATE or DATE-TIME property of `doc`. */
static int64_t prop_instant(struct cal_doc *doc, struct cal_prop *p)
{
    struct cal_time t;
    if (!cal_prop_time(p, &t)) {
        return 0;
    }
    return cal_time_to_unix(t, cal_prop_zone(doc, p));
}

static int64_t comp_key(struct cal_doc *doc, struct cal_node *c)
{
    struct cal_prop *rid = cal_prop_first(c, CAL_PROP_RECURRENCEID);
    return rid ? prop_instant(doc, rid) : KEY_MASTER;
}

/* The components and zones of `doc` into *out (arrays in the arena). */
static void collect(struct cal_doc *doc, struct arena *arena, struct comps *out)
{
    memset(out, 0, sizeof(*out));
    struct cal_node *root = cal_doc_root(doc);
    size_t n = 0;
    for (struct cal_node *c = cal_node_first(root, CAL_NODE_ANY); c && n < MAX_COMPS;
         c = cal_node_next(root, CAL_NODE_ANY)) {
        n++;
    }
    out->v = arena_zalloc(arena, (n + 1) * sizeof(*out->v));
    out->zones = arena_zalloc(arena, (n + 1) * sizeof(*out->zones));
    size_t i = 0;
    for (struct cal_node *c = cal_node_first(root, CAL_NODE_ANY); c && i < n;
         c = cal_node_next(root, CAL_NODE_ANY), i++) {
        enum cal_node_kind k = cal_node_kind(c);
        if (is_schedulable(k)) {
            out->v[out->n++].node = c;
        } else if (k == CAL_NODE_VTIMEZONE) {
            out->zones[out->nzones++] = c;
        }
    }
    for (size_t j = 0; j < out->n; j++) {
        out->v[j].key = comp_key(doc, out->v[j].node);
    }
}

static struct cal_node *find_key(const struct comps *cs, int64_t key)
{
    for (size_t i = 0; i < cs->n; i++) {
        if (cs->v[i].key == key) {
            return cs->v[i].node;
        }
    }
    return NULL;
}

/* The ATTENDEE line of `addr` in `c`, or NULL (a walk of its own over c's properties). */
static struct cal_prop *find_attendee(struct cal_node *c, const char *addr)
{
    for (struct cal_prop *p = cal_prop_first(c, CAL_PROP_ATTENDEE); p;
         p = cal_prop_next(c, CAL_PROP_ATTENDEE)) {
        if (sched_addr_eq(cal_prop_text(p), addr)) {
            return p;
        }
    }
    return NULL;
}

static const char *organizer_of(struct cal_node *c)
{
    struct cal_prop *o = cal_prop_first(c, CAL_PROP_ORGANIZER);
    return o ? cal_prop_text(o) : NULL;
}

/* RFC 6638 §7.1: the server schedules an attendee unless SCHEDULE-AGENT says otherwise. */
static bool server_schedules(struct cal_prop *att)
{
    const char *agent = cal_prop_param(att, CAL_PARAM_SCHEDULE_AGENT);
    return !agent || strcmp(agent, "SERVER") == 0;
}

static struct cal_doc *parse(struct slice ics, struct arena *arena, struct err *err)
{
    return ics.len ? cal_doc_parse(ics, arena, err) : NULL;
}

static void doc_release(void *p)
{
    cal_doc_free(p);
}

/* Parses `ics` with the document freed with the arena; NULL for an empty slice or (err set)
 * a failure, told apart by *failed. */
static struct cal_doc *
parse_owned(struct slice ics, struct arena *arena, bool *failed, struct err *err)
{
    *failed = false;
    if (!ics.len) {
        return NULL;
    }
    struct cal_doc *d = parse(ics, arena, err);
    if (!d) {
        *failed = true;
        return NULL;
    }
    arena_defer(arena, doc_release, d);
    return d;
}

/* parse_owned() and collect(): 0 with *doc and *cs (both empty, *doc NULL, for an empty
 * slice), or -1 with err set. */
static int parse_collect(
    struct slice ics, struct arena *arena, struct cal_doc **doc, struct comps *cs, struct err *err)
{
    *cs = (struct comps){0};
    bool failed;
    *doc = parse_owned(ics, arena, &failed, err);
    if (failed) {
        return -1;
    }
    if (*doc) {
        collect(*doc, arena, cs);
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* sched_info */

static bool seen(const char **v, size_t n, const char *addr)
{
    for (size_t i = 0; i < n; i++) {
        if (sched_addr_eq(v[i], addr)) {
            return true;
        }
    }
    return false;
}

/* The distinct attendee addresses of `cs` (organizer left out) into *out, *n. */
static void attendees_of(const struct comps *cs,
                         const char *organizer,
                         bool scheduled_only,
                         struct arena *arena,
                         const char ***out,
                         size_t *n,
                         size_t *max_per_instance)
{
    size_t cap = 0;
    for (size_t i = 0; i < cs->n; i++) {
        size_t k = cal_prop_count(cs->v[i].node, CAL_PROP_ATTENDEE);
        cap += k;
        if (max_per_instance && k > *max_per_instance) {
            *max_per_instance = k;
        }
    }
    const char **v = arena_zalloc(arena, (cap + 1) * sizeof(*v));
    size_t m = 0;
    for (size_t i = 0; i < cs->n; i++) {
        struct cal_node *c = cs->v[i].node;
        for (struct cal_prop *p = cal_prop_first(c, CAL_PROP_ATTENDEE); p;
             p = cal_prop_next(c, CAL_PROP_ATTENDEE)) {
            const char *a = cal_prop_text(p);
            if (!a || sched_addr_eq(a, organizer) || (scheduled_only && !server_schedules(p)) ||
                seen(v, m, a)) {
                continue;
            }
            v[m++] = arena_strdup(arena, a);
        }
    }
    *out = v;
    *n = m;
}

int sched_info(struct slice ics, struct arena *arena, struct sched_info *out, struct err *err)
{
    memset(out, 0, sizeof(*out));
    bool failed;
    struct cal_doc *doc = parse_owned(ics, arena, &failed, err);
    if (!doc) {
        return failed ? -1 : 0;
    }
    struct comps cs;
    collect(doc, arena, &cs);
    if (cs.n == 0) {
        return 0;
    }
    const char *uid = cal_node_uid(cs.v[0].node);
    out->uid = uid ? arena_strdup(arena, uid) : NULL;
    const char *org = NULL;
    for (size_t i = 0; i < cs.n && !org; i++) {
        org = organizer_of(cs.v[i].node);
    }
    if (!org) {
        return 0;
    }
    out->organizer = arena_strdup(arena, org);
    attendees_of(&cs, org, false, arena, &out->attendees, &out->nattendees, &out->max_per_instance);
    return 0;
}

int sched_organizer(struct slice ics, struct arena *arena, const char **out, struct err *err)
{
    *out = NULL;
    bool failed;
    struct cal_doc *doc = parse_owned(ics, arena, &failed, err);
    if (!doc) {
        return failed ? -1 : 0;
    }
    struct comps cs;
    collect(doc, arena, &cs);
    for (size_t i = 0; i < cs.n && !*out; i++) {
        const char *o = organizer_of(cs.v[i].node);
        *out = o ? arena_strdup(arena, o) : NULL;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Building messages */

/* A new document holding `cs`'s zones, and METHOD `method` when given. */
static struct cal_doc *new_doc(const struct comps *cs, const char *method, struct arena *arena)
{
    struct cal_doc *d = cal_doc_new(PRODID);
    arena_defer(arena, doc_release, d);
    struct cal_node *root = cal_doc_root(d);
    if (method) {
        cal_prop_add_text(root, CAL_PROP_METHOD, method);
    }
    for (size_t i = 0; i < cs->nzones; i++) {
        cal_node_add(root, cal_node_clone(cs->zones[i]));
    }
    return d;
}

/* Removes every subcomponent of `kind` of `c`. */
static void remove_nodes(struct cal_node *c, enum cal_node_kind kind)
{
    struct cal_node *n;
    while ((n = cal_node_first(c, kind)) != NULL) {
        cal_node_remove(c, n);
    }
}

/* SCHEDULE-STATUS is the organizer's record of each delivery: never part of a copy. */
static void strip_status(struct cal_node *c)
{
    for (struct cal_prop *p = cal_prop_first(c, CAL_PROP_ATTENDEE); p;
         p = cal_prop_next(c, CAL_PROP_ATTENDEE)) {
        cal_prop_set_param(p, CAL_PARAM_SCHEDULE_STATUS, NULL);
    }
}

/* Adds EXDATE on `master` for the instance that override `ov` replaces. */
static void add_exdate_for(struct cal_node *master, struct cal_node *ov)
{
    struct cal_prop *rid = cal_prop_first(ov, CAL_PROP_RECURRENCEID);
    struct cal_time t;
    if (rid && cal_prop_time(rid, &t)) {
        cal_prop_add_time(master, CAL_PROP_EXDATE, t, cal_prop_param(rid, CAL_PARAM_TZID));
    }
}

/* The text of `d` in the arena. */
static struct slice doc_text(struct cal_doc *d, struct arena *arena)
{
    struct slice s;
    cal_doc_text(d, arena, &s);
    return s;
}

/* The copy of the organizer's object `cs` attendee `addr` gets (RFC 6638 §3.2.6), as a
 * document with METHOD `method` (NULL: none), or NULL when `addr` attends no component. */
static struct cal_doc *
copy_for(const struct comps *cs, const char *addr, const char *method, struct arena *arena)
{
    struct cal_node *master = find_key(cs, KEY_MASTER);
    bool in_master = master && find_attendee(master, addr);
    bool any = in_master;
    for (size_t i = 0; i < cs->n && !any; i++) {
        any = find_attendee(cs->v[i].node, addr) != NULL;
    }
    if (!any) {
        return NULL;
    }
    struct cal_doc *d = new_doc(cs, method, arena);
    struct cal_node *root = cal_doc_root(d);
    struct cal_node *mcopy = NULL;
    if (in_master) {
        mcopy = cal_node_clone(master);
        remove_nodes(mcopy, CAL_NODE_VALARM);
        strip_status(mcopy);
        cal_node_add(root, mcopy);
    }
    for (size_t i = 0; i < cs->n; i++) {
        struct cal_node *c = cs->v[i].node;
        if (cs->v[i].key == KEY_MASTER) {
            continue;
        }
        if (find_attendee(c, addr)) {
            struct cal_node *cc = cal_node_clone(c);
            remove_nodes(cc, CAL_NODE_VALARM);
            strip_status(cc);
            cal_node_add(root, cc);
        } else if (mcopy) {
            add_exdate_for(mcopy, c); /* an instance they are not invited to */
        }
    }
    cal_doc_prune_zones(d);
    return d;
}

/* The copy's text, for comparing what one attendee got before and after a write: without
 * DTSTAMP and LAST-MODIFIED, which a client renews on every save. */
static const char *copy_print(const struct comps *cs, const char *addr, struct arena *arena)
{
    struct cal_doc *d = copy_for(cs, addr, NULL, arena);
    if (!d) {
        return NULL;
    }
    struct cal_node *root = cal_doc_root(d);
    for (struct cal_node *c = cal_node_first(root, CAL_NODE_ANY); c;
         c = cal_node_next(root, CAL_NODE_ANY)) {
        cal_prop_remove_all(c, CAL_PROP_DTSTAMP);
        cal_prop_remove_all(c, CAL_PROP_LASTMODIFIED);
    }
    return doc_text(d, arena).ptr;
}

/* A CANCEL for `addr` of the components of `cs` they attend (RFC 5546 §3.2.5). */
static struct cal_doc *cancel_for(const struct comps *cs, const char *addr, struct arena *arena)
{
    struct cal_doc *d = new_doc(cs, "CANCEL", arena);
    struct cal_node *root = cal_doc_root(d);
    for (size_t i = 0; i < cs->n; i++) {
        struct cal_node *c = cs->v[i].node;
        if (!find_attendee(c, addr)) {
            continue;
        }
        struct cal_node *cc = cal_node_clone(c);
        remove_nodes(cc, CAL_NODE_VALARM);
        strip_status(cc);
        cal_prop_remove_all(cc, CAL_PROP_STATUS);
        cal_prop_add_text(cc, CAL_PROP_STATUS, "CANCELLED");
        cal_node_add(root, cc);
    }
    cal_doc_prune_zones(d);
    return d;
}

/* One copy of the organizer's object: the attendees who attend the same components. */
struct variant {
    const char *membership; /* membership() */
    const char *print;      /* copy_print(), NULL when they attend nothing */
    struct slice request;   /* the REQUEST message */
};

/* '1' or '0' per component of `cs` as `addr` attends it, in the arena. */
static const char *membership(const struct comps *cs, const char *addr, struct arena *arena)
{
    char *m = arena_alloc(arena, cs->n + 1);
    for (size_t i = 0; i < cs->n; i++) {
        m[i] = find_attendee(cs->v[i].node, addr) ? '1' : '0';
    }
    m[cs->n] = '\0';
    return m;
}

/* The copy of `cs` attendee `addr` gets, from `vars` (*nvars of them) or made and added. */
static const struct variant *variant_of(const struct comps *cs,
                                        const char *addr,
                                        struct variant *vars,
                                        size_t *nvars,
                                        struct arena *arena)
{
    const char *m = membership(cs, addr, arena);
    for (size_t i = 0; i < *nvars; i++) {
        if (strcmp(vars[i].membership, m) == 0) {
            return &vars[i];
        }
    }
    struct variant *v = &vars[(*nvars)++];
    v->membership = m;
    v->print = copy_print(cs, addr, arena);
    struct cal_doc *d = v->print ? copy_for(cs, addr, "REQUEST", arena) : NULL;
    v->request = d ? doc_text(d, arena) : (struct slice){NULL, 0};
    return v;
}

int sched_organizer_msgs(struct slice before,
                         struct slice after,
                         struct arena *arena,
                         struct sched_msg **msgs,
                         size_t *nmsgs,
                         struct err *err)
{
    *msgs = NULL;
    *nmsgs = 0;
    struct cal_doc *bd, *ad;
    struct comps bc, ac;
    if (parse_collect(before, arena, &bd, &bc, err) != 0 ||
        parse_collect(after, arena, &ad, &ac, err) != 0) {
        return -1;
    }
    const char *borg = NULL, *aorg = NULL;
    for (size_t i = 0; i < bc.n && !borg; i++) {
        borg = organizer_of(bc.v[i].node);
    }
    for (size_t i = 0; i < ac.n && !aorg; i++) {
        aorg = organizer_of(ac.v[i].node);
    }
    const char **batt = NULL, **aatt = NULL;
    size_t nb = 0, na = 0;
    if (borg) {
        attendees_of(&bc, borg, true, arena, &batt, &nb, NULL);
    }
    if (aorg) {
        attendees_of(&ac, aorg, true, arena, &aatt, &na, NULL);
    }
    struct sched_msg *v = arena_zalloc(arena, (na + nb + 1) * sizeof(*v));
    size_t n = 0;
    /* An attendee's copy depends only on which components they attend: one copy per such
     * membership (usually one for everybody), so a write costs O(attendees), not
     * O(attendees x object size). */
    struct variant *bvar = arena_zalloc(arena, (na + 1) * sizeof(*bvar));
    struct variant *avar = arena_zalloc(arena, (na + 1) * sizeof(*avar));
    size_t nbvar = 0, navar = 0;
    for (size_t i = 0; i < na; i++) {
        const struct variant *was = borg ? variant_of(&bc, aatt[i], bvar, &nbvar, arena) : NULL;
        const struct variant *now = variant_of(&ac, aatt[i], avar, &navar, arena);
        if (was && was->print && now->print && strcmp(was->print, now->print) == 0) {
            continue; /* nothing of theirs changed */
        }
        if (!now->request.ptr) {
            continue; /* attends nothing (cannot happen: they came from the components) */
        }
        v[n++] = (struct sched_msg){aatt[i], SCHED_REQUEST, now->request};
    }
    /* cancels likewise: one text per membership */
    struct variant *cvar = arena_zalloc(arena, (nb + 1) * sizeof(*cvar));
    size_t ncvar = 0;
    for (size_t i = 0; i < nb; i++) {
        if (seen(aatt, na, batt[i])) {
            continue;
        }
        const char *m = membership(&bc, batt[i], arena);
        struct variant *c = NULL;
        for (size_t k = 0; k < ncvar && !c; k++) {
            c = strcmp(cvar[k].membership, m) == 0 ? &cvar[k] : NULL;
        }
        if (!c) {
            c = &cvar[ncvar++];
            c->membership = m;
            c->request = doc_text(cancel_for(&bc, batt[i], arena), arena);
        }
        v[n++] = (struct sched_msg){batt[i], SCHED_CANCEL, c->request};
    }
    *msgs = v;
    *nmsgs = n;
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Applying a REQUEST */

/* The values of the properties that make an instance what it is (RFC 6638 §3.2.8: a change
 * of time or recurrence resets the attendees' participation), concatenated. */
static const char *timing_print(struct cal_node *c, struct arena *arena)
{
    static const enum cal_prop_kind kinds[] = {CAL_PROP_DTSTART,  CAL_PROP_DTEND, CAL_PROP_DUE,
                                               CAL_PROP_DURATION, CAL_PROP_RRULE, CAL_PROP_RDATE,
                                               CAL_PROP_EXRULE};
    struct buf b;
    buf_init(&b, 1u << 20);
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        for (struct cal_prop *p = cal_prop_first(c, kinds[i]); p; p = cal_prop_next(c, kinds[i])) {
            const char *tz = cal_prop_param(p, CAL_PARAM_TZID);
            if (buf_appendf(&b, "%d:%s;%s\n", (int)kinds[i], tz ? tz : "",
                            cal_prop_value(p, arena)) != 0) {
                break; /* a megabyte of times: compared as far as kept */
            }
        }
    }
    const char *s = arena_strdup(arena, b.len ? b.data : "");
    buf_deinit(&b);
    return s;
}

static bool timing_changed(struct cal_node *a, struct cal_node *b, struct arena *arena)
{
    return strcmp(timing_print(a, arena), timing_print(b, arena)) != 0;
}

/* Moves clones of the VALARMs and TRANSP of `from` onto `to` (the attendee's own). */
static void keep_private(struct cal_node *from, struct cal_node *to)
{
    remove_nodes(to, CAL_NODE_VALARM);
    for (struct cal_node *a = cal_node_first(from, CAL_NODE_VALARM); a;
         a = cal_node_next(from, CAL_NODE_VALARM)) {
        cal_node_add(to, cal_node_clone(a));
    }
    struct cal_prop *t = cal_prop_first(from, CAL_PROP_TRANSP);
    const char *tv = t ? cal_prop_text(t) : NULL;
    if (tv) {
        char keep[32];
        size_t n = strlen(tv);
        if (n < sizeof(keep)) {
            memcpy(keep, tv, n + 1);
            cal_prop_remove_all(to, CAL_PROP_TRANSP);
            cal_prop_add_text(to, CAL_PROP_TRANSP, keep);
        }
    }
}

static const char *partstat_of(struct cal_node *c, const char *addr)
{
    struct cal_prop *p = c ? find_attendee(c, addr) : NULL;
    const char *ps = p ? cal_prop_param(p, CAL_PARAM_PARTSTAT) : NULL;
    return ps ? ps : (p ? "NEEDS-ACTION" : NULL);
}

static void set_partstat(struct cal_node *c, const char *addr, const char *ps)
{
    struct cal_prop *p = find_attendee(c, addr);
    if (p && ps) {
        char keep[64];
        size_t n = strlen(ps);
        if (n >= sizeof(keep)) {
            return;
        }
        memcpy(keep, ps, n + 1); /* ps may be a parameter of p itself */
        cal_prop_set_param(p, CAL_PARAM_PARTSTAT, keep);
    }
}

/* Whether the master `m` has an EXDATE at instant `key`. */
static bool has_exdate(struct cal_doc *doc, struct cal_node *m, int64_t key)
{
    for (struct cal_prop *p = cal_prop_first(m, CAL_PROP_EXDATE); p;
         p = cal_prop_next(m, CAL_PROP_EXDATE)) {
        if (prop_instant(doc, p) == key) {
            return true;
        }
    }
    return false;
}

/* The EXDATE instants of master `m` into an array (the walk is over before the caller
 * walks `m` again). */
static int64_t *exdates_of(struct cal_doc *doc, struct cal_node *m, struct arena *arena, size_t *n)
{
    size_t cap = cal_prop_count(m, CAL_PROP_EXDATE);
    int64_t *v = arena_zalloc(arena, (cap + 1) * sizeof(*v));
    size_t k = 0;
    for (struct cal_prop *p = cal_prop_first(m, CAL_PROP_EXDATE); p && k < cap;
         p = cal_prop_next(m, CAL_PROP_EXDATE)) {
        v[k++] = prop_instant(doc, p);
    }
    *n = k;
    return v;
}

/* Copies onto `to` (of document `tod`) the EXDATEs of `from` (of `fromd`) it lacks: the
 * instances the attendee removed from their own copy. */
static void keep_exdates(struct cal_doc *fromd,
                         struct cal_node *from,
                         struct cal_doc *tod,
                         struct cal_node *to,
                         struct arena *arena)
{
    size_t n = cal_prop_count(from, CAL_PROP_EXDATE);
    struct cal_prop **keep = arena_zalloc(arena, (n + 1) * sizeof(*keep));
    size_t k = 0;
    for (struct cal_prop *p = cal_prop_first(from, CAL_PROP_EXDATE); p && k < n;
         p = cal_prop_next(from, CAL_PROP_EXDATE)) {
        keep[k++] = p;
    }
    for (size_t i = 0; i < k; i++) {
        int64_t at = prop_instant(fromd, keep[i]);
        if (has_exdate(tod, to, at)) {
            continue;
        }
        struct cal_time t;
        if (cal_prop_time(keep[i], &t)) {
            cal_prop_add_time(to, CAL_PROP_EXDATE, t, cal_prop_param(keep[i], CAL_PARAM_TZID));
        }
    }
}

int sched_apply_request(struct slice existing,
                        struct slice request,
                        const char *attendee,
                        struct arena *arena,
                        struct slice *out,
                        struct err *err)
{
    struct cal_doc *od, *rd;
    struct comps oc, rc;
    if (parse_collect(existing, arena, &od, &oc, err) != 0 ||
        parse_collect(request, arena, &rd, &rc, err) != 0) {
        return -1;
    }
    if (!rd) {
        return err_set(err, &cal_cond_valid_calendar_data, "an empty request");
    }
    cal_prop_remove_all(cal_doc_root(rd), CAL_PROP_METHOD);
    struct cal_node *omaster = find_key(&oc, KEY_MASTER);
    struct cal_node *rmaster = find_key(&rc, KEY_MASTER);
    /* the series' times stand: the attendee's own declines of instances stay */
    bool series_kept = omaster && rmaster && !timing_changed(omaster, rmaster, arena);
    for (size_t i = 0; i < rc.n; i++) {
        struct cal_node *c = rc.v[i].node;
        struct cal_node *old = find_key(&oc, rc.v[i].key);
        const char *ps = "NEEDS-ACTION";
        if (old && !timing_changed(old, c, arena)) {
            const char *mine = partstat_of(old, attendee);
            ps = mine ? arena_strdup(arena, mine) : ps;
        }
        set_partstat(c, attendee, ps);
        if (old) {
            keep_private(old, c);
        } else if (omaster) {
            keep_private(omaster, c);
        }
    }
    if (series_kept) {
        keep_exdates(od, omaster, rd, rmaster, arena);
        struct cal_node *root = cal_doc_root(rd);
        for (size_t i = 0; i < oc.n; i++) {
            if (oc.v[i].key != KEY_MASTER && !find_key(&rc, oc.v[i].key)) {
                cal_node_add(root, cal_node_clone(oc.v[i].node)); /* their own override */
            }
        }
    }
    *out = doc_text(rd, arena);
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Replies */

/* A REPLY component for instance `c` (of the attendee's copy) with `att`'s line at `ps`. */
static void
reply_comp(struct cal_node *root, struct cal_node *c, const char *attendee, const char *ps)
{
    struct cal_node *r = cal_node_new(cal_node_kind(c));
    const char *uid = cal_node_uid(c);
    if (uid) {
        cal_node_set_uid(r, uid);
    }

    static const enum cal_prop_kind copied[] = {CAL_PROP_DTSTAMP, CAL_PROP_ORGANIZER,
                                                CAL_PROP_RECURRENCEID, CAL_PROP_SEQUENCE,
                                                CAL_PROP_DTSTART};

    for (size_t i = 0; i < sizeof(copied) / sizeof(copied[0]); i++) {
        struct cal_prop *p = cal_prop_first(c, copied[i]);
        if (p) {
            struct cal_node *tmp = cal_node_clone(c); /* a property is copied with its node */
            struct cal_prop *q = cal_prop_first(tmp, copied[i]);
            cal_prop_take(tmp, q);
            cal_prop_put(r, q);
            cal_node_free(tmp);
        }
    }
    struct cal_node *tmp = cal_node_clone(c);
    struct cal_prop *a = find_attendee(tmp, attendee);
    if (a) {
        cal_prop_take(tmp, a);
        cal_prop_put(r, a);
        cal_prop_set_param(a, CAL_PARAM_PARTSTAT, ps);
        cal_prop_set_param(a, CAL_PARAM_SCHEDULE_STATUS, NULL);
    }
    cal_node_free(tmp);
    cal_node_add(root, r);
}

/* A REPLY component declining the instance at EXDATE `ex` of master `m`. */
static void
reply_exdate(struct cal_node *root, struct cal_node *m, struct cal_prop *ex, const char *attendee)
{
    struct cal_time t;
    if (!cal_prop_time(ex, &t)) {
        return;
    }
    struct cal_node *c = cal_node_clone(m);
    cal_prop_remove_all(c, CAL_PROP_RRULE);
    cal_prop_remove_all(c, CAL_PROP_RDATE);
    cal_prop_remove_all(c, CAL_PROP_EXDATE);
    cal_prop_remove_all(c, CAL_PROP_DTSTART);
    const char *tz = cal_prop_param(ex, CAL_PARAM_TZID);
    cal_prop_add_time(c, CAL_PROP_RECURRENCEID, t, tz);
    cal_prop_add_time(c, CAL_PROP_DTSTART, t, tz);
    reply_comp(root, c, attendee, "DECLINED");
    cal_node_free(c);
}

int sched_attendee_reply(struct slice before,
                         struct slice after,
                         const char *attendee,
                         struct arena *arena,
                         struct slice *out,
                         struct err *err)
{
    *out = (struct slice){"", 0};
    struct cal_doc *bd, *ad;
    struct comps bc, ac;
    if (parse_collect(before, arena, &bd, &bc, err) != 0 ||
        parse_collect(after, arena, &ad, &ac, err) != 0) {
        return -1;
    }
    if (!ad) {
        return 0;
    }
    struct cal_doc *rd = new_doc(&(struct comps){0}, "REPLY", arena);
    struct cal_node *root = cal_doc_root(rd);
    size_t n = 0;
    struct cal_node *bmaster = find_key(&bc, KEY_MASTER);
    for (size_t i = 0; i < ac.n; i++) {
        struct cal_node *c = ac.v[i].node;
        const char *now = partstat_of(c, attendee);
        if (!now) {
            continue;
        }
        struct cal_node *old = find_key(&bc, ac.v[i].key);
        const char *was = partstat_of(old ? old : bmaster, attendee);
        if (!was) {
            was = "NEEDS-ACTION";
        }
        if (strcmp(was, now) != 0) {
            reply_comp(root, c, attendee, arena_strdup(arena, now));
            n++;
        }
    }
    struct cal_node *amaster = find_key(&ac, KEY_MASTER);
    if (amaster && bmaster && find_attendee(amaster, attendee)) {
        size_t ne;
        int64_t *was = exdates_of(bd, bmaster, arena, &ne);
        size_t cap = cal_prop_count(amaster, CAL_PROP_EXDATE);
        struct cal_prop **added = arena_zalloc(arena, (cap + 1) * sizeof(*added));
        size_t na = 0;
        for (struct cal_prop *p = cal_prop_first(amaster, CAL_PROP_EXDATE); p && na < cap;
             p = cal_prop_next(amaster, CAL_PROP_EXDATE)) {
            int64_t at = prop_instant(ad, p);
            bool old = false;
            for (size_t k = 0; k < ne && !old; k++) {
                old = was[k] == at;
            }
            if (!old && !find_key(&ac, at)) {
                added[na++] = p;
            }
        }
        for (size_t k = 0; k < na; k++) {
            reply_exdate(root, amaster, added[k], attendee);
            n++;
        }
    }
    if (n) {
        *out = doc_text(rd, arena);
    }
    return 0;
}

/* Turns `c` (a clone of the master) into the override of the instance at RECURRENCE-ID
 * `rid` (of document `rdoc`): its start there, its end as far after it as the master's. */
static void make_override(struct cal_doc *doc,
                          struct cal_node *master,
                          struct cal_node *c,
                          struct cal_doc *rdoc,
                          struct cal_prop *rid)
{
    struct cal_time t;
    if (!cal_prop_time(rid, &t)) {
        return;
    }
    const char *tz = cal_prop_param(rid, CAL_PARAM_TZID);
    struct cal_prop *ds = cal_prop_first(master, CAL_PROP_DTSTART);
    struct cal_prop *de = cal_prop_first(master, CAL_PROP_DTEND);
    int64_t len = ds && de ? prop_instant(doc, de) - prop_instant(doc, ds) : -1;
    struct cal_time end = {0};
    const char *end_tz = NULL;
    if (len >= 0) {
        int64_t start = cal_time_to_unix(t, cal_prop_zone(rdoc, rid));
        struct cal_zone *ez = cal_prop_zone(doc, de);
        struct cal_time e;
        cal_prop_time(de, &e);
        end = e.is_date ? cal_time_add_days(t, (int)(len / 86400)) : cal_time_of(start + len, ez);
        end.is_utc = e.is_utc;
        end_tz = cal_prop_param(de, CAL_PARAM_TZID);
    }
    char tzbuf[256] = "", etzbuf[256] = "";
    if (tz && strlen(tz) < sizeof(tzbuf)) {
        memcpy(tzbuf, tz, strlen(tz) + 1);
    }
    if (end_tz && strlen(end_tz) < sizeof(etzbuf)) {
        memcpy(etzbuf, end_tz, strlen(end_tz) + 1);
    }
    cal_prop_remove_all(c, CAL_PROP_RRULE);
    cal_prop_remove_all(c, CAL_PROP_RDATE);
    cal_prop_remove_all(c, CAL_PROP_EXDATE);
    cal_prop_remove_all(c, CAL_PROP_EXRULE);
    cal_prop_remove_all(c, CAL_PROP_DTSTART);
    cal_prop_add_time(c, CAL_PROP_RECURRENCEID, t, tzbuf[0] ? tzbuf : NULL);
    cal_prop_add_time(c, CAL_PROP_DTSTART, t, tzbuf[0] ? tzbuf : NULL);
    if (len >= 0) {
        cal_prop_remove_all(c, CAL_PROP_DTEND);
        cal_prop_add_time(c, CAL_PROP_DTEND, end, etzbuf[0] ? etzbuf : NULL);
    }
}

int sched_apply_reply(struct slice org,
                      struct slice reply,
                      const char *attendee,
                      const char *status,
                      struct arena *arena,
                      struct slice *out,
                      bool *changed,
                      struct err *err)
{
    *changed = false;
    *out = org;
    struct cal_doc *od, *rd;
    struct comps oc, rc;
    if (parse_collect(org, arena, &od, &oc, err) != 0) {
        return -1;
    }
    if (!od) {
        return 0;
    }
    if (parse_collect(reply, arena, &rd, &rc, err) != 0) {
        return -1;
    }
    if (!rd) {
        return 0;
    }
    struct cal_node *master = find_key(&oc, KEY_MASTER);
    struct cal_node *root = cal_doc_root(od);
    for (size_t i = 0; i < rc.n; i++) {
        const char *ps = partstat_of(rc.v[i].node, attendee);
        if (!ps) {
            continue;
        }
        struct cal_node *c = find_key(&oc, rc.v[i].key);
        if (!c && master && rc.v[i].key != KEY_MASTER && !has_exdate(od, master, rc.v[i].key)) {
            if (!find_attendee(master, attendee)) {
                continue;
            }
            c = cal_node_clone(master);
            make_override(od, master, c, rd, cal_prop_first(rc.v[i].node, CAL_PROP_RECURRENCEID));
            cal_node_add(root, c);
            *changed = true;
        }
        struct cal_prop *a = c ? find_attendee(c, attendee) : NULL;
        if (!a) {
            continue; /* RFC 5546 §3.2.3: not an attendee of that instance */
        }
        const char *was = cal_prop_param(a, CAL_PARAM_PARTSTAT);
        const char *st = cal_prop_param(a, CAL_PARAM_SCHEDULE_STATUS);
        if (!was || strcmp(was, ps) != 0 || !st || strcmp(st, status) != 0) {
            cal_prop_set_param(a, CAL_PARAM_PARTSTAT, ps);
            cal_prop_set_param(a, CAL_PARAM_SCHEDULE_STATUS, status);
            *changed = true;
        }
    }
    if (*changed) {
        *out = doc_text(od, arena);
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* An attendee's answer (ActiveSync MeetingResponse, a deleted copy) */

struct find_instance {
    int64_t at;
    struct cal_time local;
    bool found;
};

static int find_instance_fn(void *ctx, struct cal_time local, int64_t utc)
{
    struct find_instance *f = ctx;
    if (utc == f->at) {
        f->local = local;
        f->found = true;
    }
    return utc >= f->at; /* the rule's instances come in order: stop at or past it */
}

int sched_set_partstat(struct slice ics,
                       const char *attendee,
                       const char *partstat,
                       const int64_t *instance,
                       struct arena *arena,
                       struct slice *out,
                       struct err *err)
{
    *out = ics;
    struct cal_doc *d;
    struct comps cs;
    if (parse_collect(ics, arena, &d, &cs, err) != 0) {
        return -1;
    }
    if (!d) {
        return SCHED_NO_INSTANCE;
    }
    if (!instance) {
        size_t n = 0;
        for (size_t i = 0; i < cs.n; i++) {
            if (find_attendee(cs.v[i].node, attendee)) {
                set_partstat(cs.v[i].node, attendee, partstat);
                n++;
            }
        }
        if (!n) {
            return SCHED_NO_INSTANCE;
        }
        *out = doc_text(d, arena);
        return 0;
    }
    struct cal_node *master = find_key(&cs, KEY_MASTER);
    if (!master || !cal_prop_first(master, CAL_PROP_RRULE)) {
        return SCHED_NOT_RECURRING;
    }
    struct cal_node *c = find_key(&cs, *instance);
    if (c) {
        if (!find_attendee(c, attendee)) {
            return SCHED_NO_INSTANCE;
        }
        if (strcmp(partstat, "DECLINED") == 0) {
            /* as below: the declined instance leaves their calendar, override and all */
            add_exdate_for(master, c);
            cal_node_remove(cal_doc_root(d), c);
        } else {
            set_partstat(c, attendee, partstat);
        }
        *out = doc_text(d, arena);
        return 0;
    }
    if (!find_attendee(master, attendee) || has_exdate(d, master, *instance)) {
        return SCHED_NO_INSTANCE;
    }
    struct find_instance f = {.at = *instance};
    cal_node_instances(d, master, find_instance_fn, &f);
    if (!f.found) {
        return SCHED_NO_INSTANCE;
    }
    struct cal_prop *ds = cal_prop_first(master, CAL_PROP_DTSTART);
    const char *tz = ds ? cal_prop_param(ds, CAL_PARAM_TZID) : NULL;
    char tzbuf[256] = "";
    if (tz && strlen(tz) < sizeof(tzbuf)) {
        memcpy(tzbuf, tz, strlen(tz) + 1);
    }
    if (strcmp(partstat, "DECLINED") == 0) {
        /* a declined instance leaves the attendee's calendar (as Exchange removes it): an
         * EXDATE, which sched_attendee_reply reports as that instance DECLINED */
        cal_prop_add_time(master, CAL_PROP_EXDATE, f.local, tzbuf[0] ? tzbuf : NULL);
    } else {
        struct cal_node *ov = cal_node_clone(master);
        struct cal_prop *rid =
            cal_prop_add_time(master, CAL_PROP_RECURRENCEID, f.local, tzbuf[0] ? tzbuf : NULL);
        make_override(d, master, ov, d, rid);
        cal_prop_remove_all(master, CAL_PROP_RECURRENCEID); /* it only carried the time */
        set_partstat(ov, attendee, partstat);
        cal_node_add(cal_doc_root(d), ov);
    }
    *out = doc_text(d, arena);
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* What an attendee may change (RFC 6638 §3.2.2.1) */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Whether a property of kind `k` named `name` is the attendee's to change. */
static bool attendee_private(enum cal_prop_kind k, const char *name, bool new_override)
{
    switch (k) {
    case CAL_PROP_DTSTAMP:
    case CAL_PROP_LASTMODIFIED:
    case CAL_PROP_CREATED:
    case CAL_PROP_TRANSP:
    case CAL_PROP_SEQUENCE:
    case CAL_PROP_EXDATE: /* a declined instance (the REPLY says so) */
        return true;
    case CAL_PROP_RRULE:
    case CAL_PROP_RDATE:
    case CAL_PROP_EXRULE:
    case CAL_PROP_RECURRENCEID:
    case CAL_PROP_DTSTART:
    case CAL_PROP_DTEND:
    case CAL_PROP_DURATION:
        return new_override; /* an override the attendee made of one instance */
    default:
        break;
    }
    return name && (name[0] == 'X' || name[0] == 'x') && name[1] == '-';
}

/* The sorted lines that `c` must keep under an attendee's write: every property but the
 * attendee's private ones, each ATTENDEE as address and PARTSTAT (the attendee's own as
 * address only). */
static const char *
public_print(struct cal_node *c, const char *attendee, bool new_override, struct arena *arena)
{
    size_t cap = cal_prop_count(c, CAL_PROP_ANY);
    const char **lines = arena_zalloc(arena, (cap + 1) * sizeof(*lines));
    size_t n = 0;
    for (struct cal_prop *p = cal_prop_first(c, CAL_PROP_ANY); p && n < cap;
         p = cal_prop_next(c, CAL_PROP_ANY)) {
        enum cal_prop_kind k = cal_prop_kind(p);
        const char *name = arena_strdup(arena, cal_prop_name(p) ? cal_prop_name(p) : "?");
        if (attendee_private(k, name, new_override)) {
            continue;
        }
        const char *v = cal_prop_value(p, arena);
        if (k == CAL_PROP_ATTENDEE) {
            const char *addr = cal_prop_text(p);
            const char *ps = cal_prop_param(p, CAL_PARAM_PARTSTAT);
            bool mine = sched_addr_eq(addr, attendee);
            lines[n++] = arena_printf(arena, "ATTENDEE:%s;%s", v ? v : "",
                                      mine ? "" : (ps ? ps : "NEEDS-ACTION"));
            continue;
        }
        const char *tz = cal_prop_param(p, CAL_PARAM_TZID);
        lines[n++] = arena_printf(arena, "%s;%s:%s", name, tz ? tz : "", v ? v : "");
    }
    qsort(lines, n, sizeof(*lines), cmp_str);
    struct buf b;
    buf_init(&b, 16u << 20);
    for (size_t i = 0; i < n; i++) {
        if (buf_appendf(&b, "%s\n", lines[i]) != 0) {
            break; /* past 16 MiB (cal's object limit is far below) */
        }
    }
    const char *s = arena_strdup(arena, b.len ? b.data : "");
    buf_deinit(&b);
    return s;
}

/* The first line where two prints differ, for the message. */
static const char *first_difference(const char *a, const char *b, struct arena *arena)
{
    size_t i = 0;
    while (a[i] && a[i] == b[i]) {
        i++;
    }
    while (i > 0 && a[i - 1] != '\n') {
        i--;
    }
    const char *e = strchr(b + i, '\n');
    size_t n = e ? (size_t)(e - (b + i)) : strlen(b + i);
    if (n == 0) {
        e = strchr(a + i, '\n');
        n = e ? (size_t)(e - (a + i)) : strlen(a + i);
        return arena_strndup(arena, a + i, n > 80 ? 80 : n);
    }
    return arena_strndup(arena, b + i, n > 80 ? 80 : n);
}

int sched_attendee_check(struct slice before,
                         struct slice after,
                         const char *attendee,
                         struct arena *arena,
                         struct err *err)
{
    struct cal_doc *bd, *ad;
    struct comps bc, ac;
    if (parse_collect(before, arena, &bd, &bc, err) != 0) {
        return -1;
    }
    if (!bd) {
        return 0;
    }
    if (parse_collect(after, arena, &ad, &ac, err) != 0) {
        return -1;
    }
    if (!ad) {
        return 0;
    }
    struct cal_node *bmaster = find_key(&bc, KEY_MASTER);
    struct cal_node *amaster = find_key(&ac, KEY_MASTER);
    for (size_t i = 0; i < ac.n; i++) {
        struct cal_node *old = find_key(&bc, ac.v[i].key);
        bool new_override = !old && ac.v[i].key != KEY_MASTER;
        struct cal_node *ref = old ? old : (new_override ? bmaster : NULL);
        if (!ref) {
            return err_set(err, &sched_cond_allowed_attendee_change,
                           "an attendee cannot add a component to the organizer's event");
        }
        const char *was = public_print(ref, attendee, new_override, arena);
        const char *now = public_print(ac.v[i].node, attendee, new_override, arena);
        if (strcmp(was, now) != 0) {
            return err_set(err, &sched_cond_allowed_attendee_change,
                           "an attendee may change only their own participation; changed: %s",
                           first_difference(was, now, arena));
        }
    }
    for (size_t i = 0; i < bc.n; i++) {
        if (find_key(&ac, bc.v[i].key)) {
            continue;
        }
        if (bc.v[i].key == KEY_MASTER || !amaster || !has_exdate(ad, amaster, bc.v[i].key)) {
            return err_set(err, &sched_cond_allowed_attendee_change,
                           "an attendee cannot remove an instance of the organizer's event "
                           "(decline it instead)");
        }
    }
    return 0;
}

int sched_set_status(struct slice ics,
                     sched_status_fn *status_of,
                     void *ctx,
                     struct arena *arena,
                     struct slice *out,
                     struct err *err)
{
    bool failed;
    struct cal_doc *d = parse_owned(ics, arena, &failed, err);
    if (!d) {
        *out = ics;
        return failed ? -1 : 0;
    }
    struct comps cs;
    collect(d, arena, &cs);
    for (size_t i = 0; i < cs.n; i++) {
        struct cal_node *c = cs.v[i].node;
        for (struct cal_prop *p = cal_prop_first(c, CAL_PROP_ATTENDEE); p;
             p = cal_prop_next(c, CAL_PROP_ATTENDEE)) {
            const char *st = status_of(ctx, cal_prop_text(p));
            if (st) {
                cal_prop_set_param(p, CAL_PARAM_SCHEDULE_STATUS, st);
            }
        }
    }
    *out = doc_text(d, arena);
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Free-busy requests (RFC 6638 §3.3) */

int sched_freebusy_request(struct slice ics,
                           struct arena *arena,
                           struct sched_fb_request *out,
                           struct err *err)
{
    memset(out, 0, sizeof(*out));
    struct err perr;
    err_init(&perr);
    bool failed;
    struct cal_doc *d = parse_owned(ics, arena, &failed, &perr);
    if (!d) {
        return err_set(err, &sched_cond_valid_scheduling_message,
                       "the body is no iCalendar object");
    }
    struct cal_node *root = cal_doc_root(d);
    struct cal_prop *m = cal_prop_first(root, CAL_PROP_METHOD);
    const char *method = m ? cal_prop_value(m, arena) : NULL;
    if (!method || strcmp(method, "REQUEST") != 0) {
        return err_set(err, &sched_cond_valid_scheduling_message,
                       "a free-busy request has METHOD:REQUEST");
    }
    struct cal_node *fb = cal_node_first(root, CAL_NODE_VFREEBUSY);
    if (!fb || cal_node_next(root, CAL_NODE_VFREEBUSY)) {
        return err_set(err, &sched_cond_valid_scheduling_message,
                       "a free-busy request has one VFREEBUSY");
    }
    const char *uid = cal_node_uid(fb);
    out->uid = uid ? arena_strdup(arena, uid) : NULL;
    const char *org = organizer_of(fb);
    struct cal_prop *ds = cal_prop_first(fb, CAL_PROP_DTSTART);
    struct cal_prop *de = cal_prop_first(fb, CAL_PROP_DTEND);
    if (!org || !ds || !de) {
        return err_set(err, &sched_cond_valid_scheduling_message,
                       "a VFREEBUSY request names ORGANIZER, DTSTART and DTEND");
    }
    out->organizer = arena_strdup(arena, org);
    out->start = prop_instant(d, ds);
    out->end = prop_instant(d, de);
    if (out->start >= out->end) {
        return err_set(err, &sched_cond_valid_scheduling_message, "DTSTART is not before DTEND");
    }
    size_t cap = cal_prop_count(fb, CAL_PROP_ATTENDEE);
    out->attendees = arena_zalloc(arena, (cap + 1) * sizeof(*out->attendees));
    for (struct cal_prop *p = cal_prop_first(fb, CAL_PROP_ATTENDEE); p && out->nattendees < cap;
         p = cal_prop_next(fb, CAL_PROP_ATTENDEE)) {
        const char *a = cal_prop_text(p);
        if (a && !seen(out->attendees, out->nattendees, a)) {
            out->attendees[out->nattendees++] = arena_strdup(arena, a);
        }
    }
    if (!out->nattendees) {
        return err_set(err, &sched_cond_valid_scheduling_message,
                       "a free-busy request names at least one ATTENDEE");
    }
    return 0;
}
