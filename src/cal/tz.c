/* cal/tz.c: the time zones an object defines in its VTIMEZONEs, screened and shared.
 *
 * libical turns a VTIMEZONE into a list of UTC offset changes the first time a time in that
 * zone is converted, walking every STANDARD and DAYLIGHT observance's RRULE from its DTSTART
 * up to five years past the converted time, with no bound on the number of changes: one
 * observance with RRULE:FREQ=SECONDLY makes that walk billions of steps long and gigabytes
 * large, and the worker never comes back (issue 18). And a well-formed zone as Outlook writes
 * it (DTSTART:16010101T000000) costs about 50 ms the first time, per parsed object, because
 * each parse builds its zones anew.
 *
 * So every tree the cal layer parses passes through cal_tree_parse(), which looks at each
 * VTIMEZONE before any time is converted:
 * - Screening: the number of changes libical would make for the zone when asked for the
 *   year 9999 (the last year cal_time_valid() lets through) is estimated per observance by
 *   walking its rule (bounded) for a few years and extrapolating, plus its RDATEs; over
 *   cal_max_tz_transitions the zone is refused. Validation (cal_parse_object) refuses such
 *   an object with valid-calendar-data; a stored object (written before this check) has the
 *   zone removed from its tree, so its times read as libical's builtin zone of that name or
 *   as UTC, and the request is answered rather than hung.
 * - Sharing: a zone that passes is kept in a process-wide cache keyed by a hash of its text,
 *   as one icaltimezone whose expansion libical caches, so a zone is expanded once per
 *   process (per year range), not per object. cal_zone_of() maps a tree's own zone to the
 *   shared one through a small per-thread table of the trees this thread has parsed and not
 *   yet freed (cal_tree_free() forgets them).
 *
 * Threads: the cache is guarded by one mutex; its zones are never freed before
 * cal_shutdown(), so a zone handed out stays valid. libical (>= 3.0.9) serialises the
 * expansion of a zone shared between threads (its changes mutex). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libical/ical.h>

#include "cal/cal_int.h"
#include "util/log.h"
#include "util/sec.h"

enum {
    TZ_CACHE_SLOTS = 256,    /* distinct zones shared per process (open addressing, never
                                evicted); past it a zone is screened each time and not shared */
    TZ_CACHE_ZONES = 128,    /* of which hold a shared zone: a zone expanded to the year 9999
                                within the limit holds at most ~1 MB of changes */
    TZ_BINDS = 32,           /* tree zones this thread maps to shared ones at once */
    TZ_PROBE_YEARS = 4,      /* years an observance's rule is walked to learn its rate */
    TZ_HORIZON_YEAR = 10005, /* libical expands to the converted year + 5; years end at 9999 */
    TZ_WHY_BYTES = 200,
};

static size_t max_transitions = CAL_DEFAULT_MAX_TZ_TRANSITIONS;

/* One screened zone: its verdict and, when it passed and there was room, the shared zone. */
struct tz_slot {
    bool used;
    bool ok;
    bool warned; /* a stored object with this refused zone was logged */
    uint8_t key[32];
    char tzid[64];      /* slots of tz_lookup_text(): the zone's TZID, else "" */
    icaltimezone *zone; /* owned; NULL when refused or when the zone budget is spent */
    char why[TZ_WHY_BYTES];
};

static pthread_mutex_t tz_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tz_slot tz_slots[TZ_CACHE_SLOTS];
static size_t tz_nslots;
static size_t tz_nzones;

/* A zone of a live tree this thread parsed, and the shared zone to use in its place. The
 * component pointer and TZID guard against a tree that lost or gained VTIMEZONEs. */
struct tz_bind {
    const icalcomponent *root;
    const icalcomponent *vtz;
    icaltimezone *shared;
    char tzid[64];
};

static _Thread_local struct tz_bind binds[TZ_BINDS];

void cal_set_max_tz_transitions(size_t n)
{
    max_transitions = n > 0 ? n : CAL_DEFAULT_MAX_TZ_TRANSITIONS;
}

size_t cal_max_tz_transitions(void)
{
    return max_transitions;
}

/* ---------------------------------------------------------------------------------------- */
/* Screening */

/* The changes libical would make from one RRULE of an observance starting at `start`, up to
 * TZ_HORIZON_YEAR, or more than `limit` (then exactly limit + 1). Walks at most TZ_PROBE_YEARS
 * of the rule (and at most limit + 1 instances) and extrapolates linearly from there: rules
 * libical can expand repeat with at most a yearly period. */
static uint64_t rule_changes(const struct icalrecurrencetype *rule,
                             struct icaltimetype start,
                             uint64_t limit,
                             const char **why)
{
    struct cal_recur w;
    if (cal_recur_start(&w, rule, start, NULL) != 0) {
        const char *r = cal_recur_refusal(rule);
        *why = r ? r : "cannot be expanded by libical";
        return limit + 1;
    }
    if (!w.it) {
        return 0; /* a rule that yields nothing */
    }
    int end_year = TZ_HORIZON_YEAR;
    if (!icaltime_is_null_time(rule->until) && rule->until.year < end_year) {
        end_year = rule->until.year;
    }
    int probe_end = start.year + TZ_PROBE_YEARS;
    uint64_t n = 0;
    bool finished = false;
    for (;;) {
        struct icaltimetype t = icalrecur_iterator_next(w.it);
        if (icaltime_is_null_time(t) || t.year > end_year) {
            finished = true;
            break;
        }
        if (t.year >= probe_end) {
            break;
        }
        if (++n > limit) {
            break;
        }
        /* 1,024 changes within the first year: every later year brings as many (the rules
         * libical expands repeat within a year), so the total is known to be too large now
         * rather than after `limit` steps (a FREQ=SECONDLY observance is refused in 1,024) */
        if ((n & 1023) == 0 && t.year == start.year &&
            (uint64_t)(end_year - start.year) * n > limit) {
            n = limit + 1;
            break;
        }
    }
    cal_recur_stop(&w);
    if (n > limit) {
        *why = "changes offset too often";
        return limit + 1;
    }
    if (finished) {
        return n;
    }
    /* n changes in the TZ_PROBE_YEARS from start; as many in each such stretch up to the end */
    uint64_t years = (uint64_t)(end_year - start.year + 1);
    uint64_t estimate = n * ((years + TZ_PROBE_YEARS - 1) / TZ_PROBE_YEARS);
    if (rule->count > 0 && (uint64_t)rule->count < estimate) {
        estimate = (uint64_t)rule->count;
    }
    if (estimate > limit) {
        *why = "changes offset too often until the year 9999";
        return limit + 1;
    }
    return estimate;
}

/* Whether libical can expand the VTIMEZONE `vtz` within max_transitions changes; false with
 * the reason in why[TZ_WHY_BYTES]. RFC 5545 §3.6.5: a TZID, at least one STANDARD or
 * DAYLIGHT, each with DTSTART, TZOFFSETFROM and TZOFFSETTO. */
static bool tz_screen(icalcomponent *vtz, char *why)
{
    icalproperty *tp = icalcomponent_get_first_property(vtz, ICAL_TZID_PROPERTY);
    const char *tzid = tp ? icalproperty_get_tzid(tp) : NULL;
    if (!tzid || !*tzid) {
        snprintf(why, TZ_WHY_BYTES, "VTIMEZONE without TZID");
        return false;
    }
    uint64_t limit = max_transitions;
    uint64_t total = 0;
    size_t observances = 0;
    for (icalcomponent *o = icalcomponent_get_first_component(vtz, ICAL_ANY_COMPONENT); o;
         o = icalcomponent_get_next_component(vtz, ICAL_ANY_COMPONENT)) {
        icalcomponent_kind k = icalcomponent_isa(o);
        if (k != ICAL_XSTANDARD_COMPONENT && k != ICAL_XDAYLIGHT_COMPONENT) {
            continue;
        }
        observances++;
        icalproperty *sp = icalcomponent_get_first_property(o, ICAL_DTSTART_PROPERTY);
        struct icaltimetype start = sp ? icalproperty_get_dtstart(sp) : icaltime_null_time();
        if (!sp || !cal_time_valid(start) ||
            !icalcomponent_get_first_property(o, ICAL_TZOFFSETFROM_PROPERTY) ||
            !icalcomponent_get_first_property(o, ICAL_TZOFFSETTO_PROPERTY)) {
            snprintf(why, TZ_WHY_BYTES,
                     "VTIMEZONE %.60s: an observance needs DTSTART, TZOFFSETFROM and TZOFFSETTO",
                     tzid);
            return false;
        }
        total += 1 + cal_count_props(o, ICAL_RDATE_PROPERTY);
        size_t nrules = cal_count_props(o, ICAL_RRULE_PROPERTY);
        if (nrules > CAL_MAX_RRULES) {
            snprintf(why, TZ_WHY_BYTES, "VTIMEZONE %.60s: %zu RRULEs in one observance", tzid,
                     nrules);
            return false;
        }
        /* collected first: the iterator below must not share the property cursor */
        struct icalrecurrencetype rules[CAL_MAX_RRULES];
        size_t n = 0;
        for (icalproperty *rp = icalcomponent_get_first_property(o, ICAL_RRULE_PROPERTY);
             rp && n < CAL_MAX_RRULES;
             rp = icalcomponent_get_next_property(o, ICAL_RRULE_PROPERTY)) {
            rules[n++] = icalproperty_get_rrule(rp);
        }
        for (size_t i = 0; i < n && total <= limit; i++) {
            const char *reason = NULL;
            total +=
                rule_changes(&rules[i], start, limit - (total < limit ? total : limit), &reason);
            if (reason && total > limit) {
                snprintf(why, TZ_WHY_BYTES,
                         "VTIMEZONE %.40s: an observance's RRULE %.60s (max_tz_transitions=%llu)",
                         tzid, reason, (unsigned long long)limit);
                return false;
            }
        }
        if (total > limit) {
            break;
        }
    }
    if (observances == 0) {
        snprintf(why, TZ_WHY_BYTES, "VTIMEZONE %.60s has no STANDARD or DAYLIGHT", tzid);
        return false;
    }
    if (total > limit) {
        snprintf(why, TZ_WHY_BYTES,
                 "VTIMEZONE %.60s: more than %llu UTC offset changes (max_tz_transitions)", tzid,
                 (unsigned long long)limit);
        return false;
    }
    return true;
}

/* ---------------------------------------------------------------------------------------- */
/* The process-wide cache */

static size_t slot_of(const uint8_t key[32])
{
    uint64_t h;
    memcpy(&h, key, sizeof(h));
    return (size_t)(h % TZ_CACHE_SLOTS);
}

/* Under tz_lock: the slot of `key`, or the free slot where it would go (used false), or NULL
 * when the table is full. */
static struct tz_slot *slot_probe(const uint8_t key[32])
{
    size_t i = slot_of(key);
    for (size_t probes = 0; probes < TZ_CACHE_SLOTS; probes++, i = (i + 1) % TZ_CACHE_SLOTS) {
        if (!tz_slots[i].used || memcmp(tz_slots[i].key, key, 32) == 0) {
            return &tz_slots[i];
        }
    }
    return NULL;
}

/* Under tz_lock: a cached verdict: true when `sl` passed (*shared its zone, NULL when not
 * shared), false with the reason in why[]; *warn the first time a refused zone is met for a
 * `stored` object. */
static bool
slot_verdict(struct tz_slot *sl, bool stored, icaltimezone **shared, char *why, bool *warn)
{
    *shared = sl->zone;
    if (!sl->ok) {
        memcpy(why, sl->why, TZ_WHY_BYTES);
        *warn = stored && !sl->warned;
        sl->warned = sl->warned || stored;
    }
    return sl->ok;
}

/* Records the verdict `ok` (reason why[]) on the zone `vtz` under `key`, with its TZID when
 * `tzid` is not NULL, unless another thread did meanwhile (its verdict then stands); a zone
 * that passed is shared while there is room. Returns the verdict with *shared as
 * slot_verdict(); when the table is full nothing is kept and *shared is NULL. Screening runs
 * before, outside the lock: the walk is bounded but may take milliseconds. */
static bool slot_add(const uint8_t key[32],
                     bool ok,
                     icalcomponent *vtz,
                     const char *tzid,
                     bool stored,
                     icaltimezone **shared,
                     char *why,
                     bool *warn)
{
    *shared = NULL;
    *warn = stored && !ok;
    pthread_mutex_lock(&tz_lock);
    struct tz_slot *sl = slot_probe(key);
    if (sl && sl->used) {
        ok = slot_verdict(sl, stored, shared, why, warn); /* another thread was first */
    } else if (sl && tz_nslots < TZ_CACHE_SLOTS * 3 / 4) {
        sl->used = true;
        sl->ok = ok;
        sl->warned = stored;
        memcpy(sl->key, key, 32);
        if (tzid) {
            memcpy(sl->tzid, tzid, strlen(tzid) + 1);
        }
        if (!ok) {
            memcpy(sl->why, why, TZ_WHY_BYTES);
        } else if (tz_nzones < TZ_CACHE_ZONES) {
            icaltimezone *z = icaltimezone_new();
            if (z && icaltimezone_set_component(z, icalcomponent_new_clone(vtz))) {
                sl->zone = z;
                tz_nzones++;
            } else if (z) {
                icaltimezone_free(z, 1);
            }
        }
        *shared = sl->zone;
        tz_nslots++;
    }
    pthread_mutex_unlock(&tz_lock);
    return ok;
}

/* The cached verdict on `vtz`: true with *shared (NULL when not shared), or false with the
 * reason copied into why[TZ_WHY_BYTES]. Screens and caches a zone seen for the first time.
 * With `stored` (a stored object is being read), *warn is set the first time a refused zone
 * is met that way, so the log says so once per zone, not per request. */
static bool tz_lookup(icalcomponent *vtz, bool stored, icaltimezone **shared, char *why, bool *warn)
{
    *shared = NULL;
    *warn = false;
    char *text = icalcomponent_as_ical_string_r(vtz);
    if (!text) {
        snprintf(why, TZ_WHY_BYTES, "VTIMEZONE cannot be read");
        return false;
    }
    uint8_t key[32];
    sec_hash(NULL, 0, text, strlen(text), key);
    free(text);
    pthread_mutex_lock(&tz_lock);
    struct tz_slot *sl = slot_probe(key);
    if (sl && sl->used) {
        bool ok = slot_verdict(sl, stored, shared, why, warn);
        pthread_mutex_unlock(&tz_lock);
        return ok;
    }
    pthread_mutex_unlock(&tz_lock);
    bool ok = tz_screen(vtz, why);
    return slot_add(key, ok, vtz, NULL, stored, shared, why, warn);
}

static void bind_zone(const icalcomponent *root,
                      const icalcomponent *vtz,
                      const char *tzid,
                      icaltimezone *shared);

enum tz_text {
    TZ_TEXT_SHARED,  /* *shared is the zone to use */
    TZ_TEXT_REFUSED, /* the zone cannot be expanded: read without it (why[] says why) */
    TZ_TEXT_UNKNOWN, /* not cached (no TZID, a full cache): parse the object whole */
};

/* The cached verdict on the VTIMEZONE whose text is `block` (BEGIN:VTIMEZONE to
 * END:VTIMEZONE as the object holds it): as tz_lookup(), keyed by those bytes, so that a
 * stored object's zones are found without parsing them. A zone seen for the first time is
 * parsed once. *tzid (in `arena`) is its TZID; *warn is set the first time a refused zone is
 * met. */
static enum tz_text tz_lookup_text(struct slice block,
                                   struct arena *arena,
                                   icaltimezone **shared,
                                   const char **tzid,
                                   char *why,
                                   bool *warn)
{
    *shared = NULL;
    *tzid = NULL;
    *warn = false;
    uint8_t key[32];
    uint8_t domain[] = "raw VTIMEZONE"; /* apart from tz_lookup()'s keys of parsed zones */
    sec_hash(domain, sizeof(domain) - 1, block.ptr, block.len, key);
    bool ok;
    pthread_mutex_lock(&tz_lock);
    struct tz_slot *sl = slot_probe(key);
    if (sl && sl->used) {
        ok = slot_verdict(sl, true, shared, why, warn);
        *tzid = arena_strdup(arena, sl->tzid);
        pthread_mutex_unlock(&tz_lock);
    } else {
        pthread_mutex_unlock(&tz_lock);
        icalcomponent *vtz = icalparser_parse_string(arena_slicedup(arena, block));
        icalproperty *tp = vtz && icalcomponent_isa(vtz) == ICAL_VTIMEZONE_COMPONENT
                               ? icalcomponent_get_first_property(vtz, ICAL_TZID_PROPERTY)
                               : NULL;
        const char *name = tp ? icalproperty_get_tzid(tp) : NULL;
        if (!name || !*name || strlen(name) >= sizeof(tz_slots[0].tzid)) {
            if (vtz) {
                icalcomponent_free(vtz);
            }
            return TZ_TEXT_UNKNOWN; /* not a zone, or no TZID to bind it by */
        }
        *tzid = arena_strdup(arena, name);
        ok = slot_add(key, tz_screen(vtz, why), vtz, *tzid, true, shared, why, warn);
        icalcomponent_free(vtz);
    }
    if (!ok) {
        return TZ_TEXT_REFUSED;
    }
    return *shared && *tzid && **tzid ? TZ_TEXT_SHARED : TZ_TEXT_UNKNOWN;
}

/* The next line of `s` from *pos without its line end; false at the end. */
static bool next_raw_line(struct slice s, size_t *pos, struct slice *line)
{
    if (*pos >= s.len) {
        return false;
    }
    const char *p = s.ptr + *pos;
    const char *nl = memchr(p, '\n', s.len - *pos);
    size_t n = nl ? (size_t)(nl - p) : s.len - *pos;
    *pos += n + (nl ? 1 : 0);
    if (n > 0 && p[n - 1] == '\r') {
        n--;
    }
    *line = (struct slice){p, n};
    return true;
}

static bool line_is(struct slice line, const char *want)
{
    size_t n = strlen(want);
    return line.len == n && strncasecmp(line.ptr, want, n) == 0;
}

icalcomponent *cal_tree_parse_read(struct slice text, struct arena *arena, struct err *err)
{
    /* The VTIMEZONE blocks, as byte ranges; any doubt (folded BEGIN/END lines, a block that
     * does not close, a zone not cached) and the object is parsed whole. */
    enum {
        MAX_BLOCKS = 8
    };
    struct slice blocks[MAX_BLOCKS];
    size_t nblocks = 0;
    bool whole = false;
    size_t pos = 0;
    size_t open_at = SIZE_MAX;
    struct slice line;
    while (!whole && next_raw_line(text, &pos, &line)) {
        bool begin = line_is(line, "BEGIN:VTIMEZONE");
        bool end = line_is(line, "END:VTIMEZONE");
        if (!begin && !end) {
            /* a folded BEGIN:VTIMEZONE or END:VTIMEZONE: not worth reading here */
            whole = (line.len >= 9 && strncasecmp(line.ptr, "BEGIN:VTI", 9) == 0) ||
                    (line.len >= 7 && strncasecmp(line.ptr, "END:VTI", 7) == 0);
        } else if (begin) {
            whole = open_at != SIZE_MAX || nblocks == MAX_BLOCKS;
            open_at = (size_t)(line.ptr - text.ptr);
        } else {
            whole = open_at == SIZE_MAX;
            if (!whole) {
                blocks[nblocks++] = (struct slice){text.ptr + open_at, pos - open_at};
                open_at = SIZE_MAX;
            }
        }
    }
    whole = whole || open_at != SIZE_MAX;
    if (whole || nblocks == 0) {
        return cal_tree_parse(arena_slicedup(arena, text), false, err);
    }
    icaltimezone *zones[MAX_BLOCKS];
    const char *tzids[MAX_BLOCKS];
    for (size_t i = 0; i < nblocks; i++) {
        char why[TZ_WHY_BYTES];
        bool warn = false;
        enum tz_text v = tz_lookup_text(blocks[i], arena, &zones[i], &tzids[i], why, &warn);
        if (v == TZ_TEXT_UNKNOWN) {
            return cal_tree_parse(arena_slicedup(arena, text), false, err);
        }
        if (warn) {
            char clean[TZ_WHY_BYTES];
            log_warn("stored calendar data holds a time zone that cannot be expanded; its "
                     "times are read without it: %s",
                     log_sanitize(why, strlen(why), clean, sizeof(clean)));
        }
        if (v == TZ_TEXT_REFUSED) {
            zones[i] = NULL; /* read without it, as cal_tree_screen() does */
        }
    }
    /* the text without its VTIMEZONE blocks */
    char *lite = arena_alloc(arena, text.len + 1);
    size_t n = 0;
    const char *from = text.ptr;
    for (size_t i = 0; i < nblocks; i++) {
        size_t k = (size_t)(blocks[i].ptr - from);
        memcpy(lite + n, from, k);
        n += k;
        from = blocks[i].ptr + blocks[i].len;
    }
    memcpy(lite + n, from, (size_t)(text.ptr + text.len - from));
    n += (size_t)(text.ptr + text.len - from);
    lite[n] = '\0';
    icalcomponent *root = icalparser_parse_string(lite);
    if (!root) {
        return NULL;
    }
    cal_tree_unbind(root);
    for (size_t i = 0; i < nblocks; i++) {
        if (zones[i]) {
            bind_zone(root, NULL, tzids[i], zones[i]);
        }
    }
    return root;
}

void cal_tz_shutdown(void)
{
    pthread_mutex_lock(&tz_lock);
    for (size_t i = 0; i < TZ_CACHE_SLOTS; i++) {
        if (tz_slots[i].zone) {
            icaltimezone_free(tz_slots[i].zone, 1);
        }
        memset(&tz_slots[i], 0, sizeof(tz_slots[i]));
    }
    tz_nslots = 0;
    tz_nzones = 0;
    pthread_mutex_unlock(&tz_lock);
}

/* ---------------------------------------------------------------------------------------- */
/* Trees */

static void bind_zone(const icalcomponent *root,
                      const icalcomponent *vtz,
                      const char *tzid,
                      icaltimezone *shared)
{
    size_t len = strlen(tzid);
    if (len >= sizeof(binds[0].tzid)) {
        return; /* not shared: the tree's own zone is used, screened as well */
    }
    for (size_t i = 0; i < TZ_BINDS; i++) {
        if (!binds[i].root) {
            binds[i] = (struct tz_bind){root, vtz, shared, {0}};
            memcpy(binds[i].tzid, tzid, len + 1);
            return;
        }
    }
}

void cal_tree_unbind(const icalcomponent *root)
{
    for (size_t i = 0; i < TZ_BINDS; i++) {
        if (binds[i].root == root) {
            binds[i].root = NULL;
        }
    }
}

icaltimezone *cal_tz_bound(const icalcomponent *root, const char *tzid)
{
    for (size_t i = 0; root && tzid && i < TZ_BINDS; i++) {
        if (binds[i].root == root && !binds[i].vtz && strcmp(binds[i].tzid, tzid) == 0) {
            return binds[i].shared;
        }
    }
    return NULL;
}

icaltimezone *cal_tz_shared(const icalcomponent *root, icaltimezone *own)
{
    if (!root || !own) {
        return own;
    }
    const icalcomponent *vtz = icaltimezone_get_component(own);
    for (size_t i = 0; i < TZ_BINDS; i++) {
        if (binds[i].root == root && binds[i].vtz && binds[i].vtz == vtz) {
            const char *tzid = icaltimezone_get_tzid(own);
            if (tzid && strcmp(tzid, binds[i].tzid) == 0) {
                return binds[i].shared;
            }
        }
    }
    return own;
}

int cal_tree_screen(icalcomponent *root, bool refuse, struct err *err)
{
    cal_tree_unbind(root); /* a tree at the address of one freed without cal_tree_free */
    size_t n = 0;
    for (icalcomponent *z = icalcomponent_get_first_component(root, ICAL_VTIMEZONE_COMPONENT); z;
         z = icalcomponent_get_next_component(root, ICAL_VTIMEZONE_COMPONENT)) {
        n++;
    }
    if (n == 0) {
        return 0;
    }
    icalcomponent **zones = calloc(n, sizeof(*zones));
    if (!zones) {
        return err_set(err, &err_cond_internal, "out of memory");
    }
    size_t k = 0;
    for (icalcomponent *z = icalcomponent_get_first_component(root, ICAL_VTIMEZONE_COMPONENT);
         z && k < n; z = icalcomponent_get_next_component(root, ICAL_VTIMEZONE_COMPONENT)) {
        zones[k++] = z;
    }
    int rc = 0;
    for (size_t i = 0; i < k; i++) {
        char why[TZ_WHY_BYTES];
        icaltimezone *shared = NULL;
        bool warn = false;
        if (tz_lookup(zones[i], !refuse, &shared, why, &warn)) {
            icalproperty *tp = icalcomponent_get_first_property(zones[i], ICAL_TZID_PROPERTY);
            if (shared) {
                bind_zone(root, zones[i], icalproperty_get_tzid(tp), shared);
            }
            continue;
        }
        if (refuse) {
            rc = err_set(err, &cal_cond_valid_calendar_data, "%s", why);
            break;
        }
        /* A stored object from before the check: answered without this zone (said once per
         * zone and process, not per request). */
        if (warn) {
            char clean[TZ_WHY_BYTES];
            log_warn("stored calendar data holds a time zone that cannot be expanded; its "
                     "times are read without it: %s",
                     log_sanitize(why, strlen(why), clean, sizeof(clean)));
        }
        icalcomponent_remove_component(root, zones[i]);
        icalcomponent_free(zones[i]);
    }
    free(zones);
    if (rc != 0) {
        cal_tree_unbind(root);
    }
    return rc;
}

icalcomponent *cal_tree_parse(const char *text, bool refuse, struct err *err)
{
    icalcomponent *root = icalparser_parse_string(text);
    if (!root) {
        return NULL;
    }
    if (icalcomponent_isa(root) == ICAL_VCALENDAR_COMPONENT &&
        cal_tree_screen(root, refuse, err) != 0) {
        icalcomponent_free(root);
        return NULL;
    }
    return root;
}

void cal_tree_free(icalcomponent *root)
{
    if (root) {
        cal_tree_unbind(root);
        icalcomponent_free(root);
    }
}
