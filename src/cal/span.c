/* cal/span.c: instants, time zones, the bounded recurrence walker and the time span of one
 * component (RFC 4791 §9.9, RFC 5545 §3.8.5). Owns the cal layer's only lock, around
 * libical's process-wide builtin time zone cache. Never parses text (cal/object.c does) and
 * never lets libical walk a rule without a bound on its work. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <libical/ical.h>

#include "cal/cal_int.h"
#include "util/deadline.h"

/* libical 3.0 loads its builtin zone list lazily into a global; cal_init() loads it before
 * threads exist, and lookups after that are serialised here. libical >= 3.0.9 locks each
 * zone's own expansion cache itself (builtin_mutex, changes_mutex). */
static pthread_mutex_t zone_lock = PTHREAD_MUTEX_INITIALIZER;

#define SECS_PER_DAY      INT64_C(86400)
#define MAX_DURATION_DAYS INT64_C(3652425) /* 10,000 years: past it a duration is unbounded */
#define MAX_DURATION_SECS (MAX_DURATION_DAYS * SECS_PER_DAY)
#define SKIP_BEFORE_UNTIL (400 * SECS_PER_DAY) /* a yearly rule's last instance lies within */

void cal_zone_preload(void)
{
    pthread_mutex_lock(&zone_lock);
    (void)icaltimezone_get_builtin_timezones();
    (void)icaltimezone_get_utc_timezone();
    pthread_mutex_unlock(&zone_lock);
}

icaltimezone *cal_zone_of(icalcomponent *root, icalproperty *prop, struct icaltimetype t)
{
    if (prop && !t.is_date && !icaltime_is_utc(t)) {
        /* a zone the object defines, bound by cal_tree_parse_read(): it wins over whatever
         * libical attached (a builtin zone of the same name) */
        icalparameter *par = icalproperty_get_first_parameter(prop, ICAL_TZID_PARAMETER);
        icaltimezone *bound = par ? cal_tz_bound(root, icalparameter_get_tzid(par)) : NULL;
        if (bound) {
            return bound;
        }
    }
    if (t.zone) {
        /* libical hands out its zones as const but takes them mutable */
        return cal_tz_shared(root, (icaltimezone *)(uintptr_t)t.zone);
    }
    if (t.is_date || !prop) {
        return NULL;
    }
    icalparameter *par = icalproperty_get_first_parameter(prop, ICAL_TZID_PARAMETER);
    const char *tzid = par ? icalparameter_get_tzid(par) : NULL;
    if (!tzid || !*tzid) {
        return NULL;
    }
    icaltimezone *z = icalcomponent_get_timezone(root, tzid);
    if (z) {
        return cal_tz_shared(root, z);
    }
    /* No VTIMEZONE (RFC 5545 §3.2.19 wants one, Google and others omit it for Olson names):
     * libical's builtin zone, by location ("Europe/Berlin") or by its own prefixed TZID. */
    pthread_mutex_lock(&zone_lock);
    z = icaltimezone_get_builtin_timezone(tzid);
    if (!z) {
        z = icaltimezone_get_builtin_timezone_from_tzid(tzid);
    }
    pthread_mutex_unlock(&zone_lock);
    return z;
}

icaltimezone *cal_zone_builtin(const char *name)
{
    pthread_mutex_lock(&zone_lock);
    icaltimezone *z = icaltimezone_get_builtin_timezone(name);
    if (!z) {
        z = icaltimezone_get_builtin_timezone_from_tzid(name);
    }
    pthread_mutex_unlock(&zone_lock);
    return z;
}

int64_t cal_to_utc(struct icaltimetype t, const icaltimezone *zone)
{
    const icaltimezone *utc = icaltimezone_get_utc_timezone();
    if (t.is_date || !zone || icaltime_is_utc(t)) {
        return (int64_t)icaltime_as_timet_with_zone(t, utc);
    }
    return (int64_t)icaltime_as_timet_with_zone(t, zone);
}

bool cal_time_valid(struct icaltimetype t)
{
    if (t.year < 0 || t.year > 9999 || t.month < 1 || t.month > 12 || t.day < 1 ||
        t.day > icaltime_days_in_month(t.month, t.year)) {
        return false;
    }
    if (t.is_date) {
        return true;
    }
    return t.hour >= 0 && t.hour <= 23 && t.minute >= 0 && t.minute <= 59 && t.second >= 0 &&
           t.second <= 60;
}

int64_t cal_add_sat(int64_t a, int64_t b)
{
    return a > 0 && b > INT64_MAX - a ? INT64_MAX : a + b;
}

/* RFC 5545 §3.3.6: days and weeks are nominal (the same local time n days later, 23 or 25
 * hours across a DST change), hours, minutes and seconds exact. A negative duration (not
 * allowed for DURATION, RFC 5545 §3.8.2.5) lasts no time. */
static int64_t duration_end(struct icaldurationtype d,
                            struct icaltimetype start,
                            const icaltimezone *zone,
                            int64_t start_utc)
{
    if (d.is_neg) {
        return start_utc;
    }
    int64_t days = (int64_t)d.weeks * 7 + d.days;
    int64_t secs = (int64_t)d.hours * 3600 + (int64_t)d.minutes * 60 + d.seconds;
    if (days > MAX_DURATION_DAYS || secs > MAX_DURATION_SECS) {
        return INT64_MAX;
    }
    int64_t end = start_utc;
    if (days > 0) {
        if (start.is_date || !zone || icaltime_is_utc(start)) {
            end = start_utc + days * SECS_PER_DAY;
        } else {
            struct icaltimetype t = start;
            icaltime_adjust(&t, (int)days, 0, 0, 0);
            end = cal_to_utc(t, zone);
            if (end < start_utc) {
                end = start_utc;
            }
        }
    }
    return cal_add_sat(end, secs);
}

void cal_len_of(icalcomponent *root, icalcomponent *c, struct cal_len *out)
{
    out->kind = CAL_LEN_NONE;
    out->secs = 0;
    icalcomponent_kind kind = icalcomponent_isa(c);
    if (kind == ICAL_VJOURNAL_COMPONENT) {
        return;
    }
    /* RFC 5545 §3.8.5.3: an end given by DTEND (VEVENT) or DUE (VTODO) is one exact duration,
     * the first instance's, for every instance */
    icalproperty_kind end_kind =
        kind == ICAL_VTODO_COMPONENT ? ICAL_DUE_PROPERTY : ICAL_DTEND_PROPERTY;
    icalproperty *ep = icalcomponent_get_first_property(c, end_kind);
    icalproperty *sp = icalcomponent_get_first_property(c, ICAL_DTSTART_PROPERTY);
    if (ep && sp) {
        struct icaltimetype e =
            end_kind == ICAL_DUE_PROPERTY ? icalproperty_get_due(ep) : icalproperty_get_dtend(ep);
        struct icaltimetype s0 = icalproperty_get_dtstart(sp);
        int64_t len =
            cal_to_utc(e, cal_zone_of(root, ep, e)) - cal_to_utc(s0, cal_zone_of(root, sp, s0));
        out->kind = CAL_LEN_EXACT;
        out->secs = len > 0 ? len : 0;
        return;
    }
    icalproperty *dp = icalcomponent_get_first_property(c, ICAL_DURATION_PROPERTY);
    if (dp) {
        out->kind = CAL_LEN_NOMINAL;
        out->dur = icalproperty_get_duration(dp);
    }
}

int64_t cal_len_end(const struct cal_len *l,
                    struct icaltimetype start,
                    const icaltimezone *zone,
                    int64_t start_utc)
{
    switch (l->kind) {
    case CAL_LEN_EXACT:
        return cal_add_sat(start_utc, l->secs);
    case CAL_LEN_NOMINAL:
        return duration_end(l->dur, start, zone, start_utc);
    default:
        /* RFC 4791 §9.9: a DATE without an end covers its day; a DATE-TIME is an instant */
        return start.is_date ? start_utc + SECS_PER_DAY : start_utc;
    }
}

int64_t cal_len_bound(const struct cal_len *l)
{
    switch (l->kind) {
    case CAL_LEN_EXACT:
        return l->secs;
    case CAL_LEN_NOMINAL: {
        struct icaldurationtype d = l->dur;
        if (d.is_neg) {
            return 0;
        }
        int64_t days = (int64_t)d.weeks * 7 + d.days;
        if (days > MAX_DURATION_DAYS) {
            return MAX_DURATION_SECS * 2;
        }
        /* a nominal day lasts at most 25 hours across a DST change */
        return days * (SECS_PER_DAY + 3600) + (int64_t)d.hours * 3600 + (int64_t)d.minutes * 60 +
               d.seconds;
    }
    default:
        return SECS_PER_DAY;
    }
}

int64_t cal_instance_end(icalcomponent *root,
                         icalcomponent *c,
                         struct icaltimetype start,
                         const icaltimezone *zone,
                         int64_t start_utc)
{
    struct cal_len l;
    cal_len_of(root, c, &l);
    return cal_len_end(&l, start, zone, start_utc);
}

/* ---------------------------------------------------------------------------------------- */
/* The recurrence walker */

static bool has_part(const short *part)
{
    return part[0] != ICAL_RECURRENCE_ARRAY_MAX;
}

static bool sub_daily(icalrecurrencetype_frequency f)
{
    return f == ICAL_SECONDLY_RECURRENCE || f == ICAL_MINUTELY_RECURRENCE ||
           f == ICAL_HOURLY_RECURRENCE;
}

/* The BY parts that limit (rather than expand) a sub-daily FREQ (RFC 5545 §3.3.10 table). */
static bool has_limiting_part(const struct icalrecurrencetype *r)
{
    bool limits = has_part(r->by_hour) || has_part(r->by_day);
    if (r->freq != ICAL_HOURLY_RECURRENCE) {
        limits = limits || has_part(r->by_minute);
    }
    if (r->freq == ICAL_SECONDLY_RECURRENCE) {
        limits = limits || has_part(r->by_second);
    }
    return limits;
}

const char *cal_recur_refusal(const struct icalrecurrencetype *r)
{
    if (r->freq == ICAL_NO_RECURRENCE) {
        return "has no FREQ";
    }
    if (r->interval < 1) {
        return "has INTERVAL out of range"; /* libical keeps it in a short: 70000 wraps */
    }
    if (!sub_daily(r->freq)) {
        return NULL;
    }
    /* libical steps a sub-daily rule one FREQ x INTERVAL period at a time and tests every
     * limiting part, so a limit coarser than a day (or one INTERVAL keeps from matching)
     * costs up to a year (or forever) of seconds per instance. What is left matches within
     * a week of hours, a day of minutes or an hour of seconds. */
    if (has_part(r->by_month) || has_part(r->by_week_no) || has_part(r->by_year_day) ||
        has_part(r->by_month_day) || has_part(r->by_set_pos)) {
        return "is sub-daily with BYMONTH, BYWEEKNO, BYYEARDAY, BYMONTHDAY or BYSETPOS";
    }
    if (r->interval > 1 && has_limiting_part(r)) {
        return "is sub-daily with INTERVAL and a limiting BY part";
    }
    if (r->freq == ICAL_SECONDLY_RECURRENCE && (has_part(r->by_hour) || has_part(r->by_day))) {
        return "is FREQ=SECONDLY with BYHOUR or BYDAY";
    }
    for (size_t i = 0; i < ICAL_BY_DAY_SIZE && r->by_day[i] != ICAL_RECURRENCE_ARRAY_MAX; i++) {
        if (icalrecurrencetype_day_position(r->by_day[i]) != 0) {
            return "is sub-daily with an ordinal BYDAY"; /* RFC 5545 §3.3.10: MUST NOT */
        }
    }
    return NULL;
}

/* False when BYMONTH and BYMONTHDAY have no date in common (BYMONTH=2;BYMONTHDAY=30). Such
 * a rule is valid and yields nothing (RFC 5545 §3.3.10), but libical only learns so by
 * stepping to the year 2582, which takes it most of a second per call. */
static bool month_days_possible(const struct icalrecurrencetype *r)
{
    static const int longest[13] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (!has_part(r->by_month_day)) {
        return true;
    }
    for (size_t i = 0; i < ICAL_BY_MONTHDAY_SIZE; i++) {
        short d = r->by_month_day[i];
        if (d == ICAL_RECURRENCE_ARRAY_MAX) {
            break;
        }
        int day = abs(d);
        if (!has_part(r->by_month) && day <= 31) {
            return true;
        }
        for (size_t j = 0; j < ICAL_BY_MONTH_SIZE; j++) {
            if (r->by_month[j] == ICAL_RECURRENCE_ARRAY_MAX) {
                break;
            }
            int m = icalrecurrencetype_month_month(r->by_month[j]);
            if (m >= 1 && m <= 12 && day <= longest[m]) {
                return true;
            }
        }
    }
    return false;
}

static uint64_t part_len(const short *part, size_t cap)
{
    size_t n = 0;
    while (n < cap && part[n] != ICAL_RECURRENCE_ARRAY_MAX) {
        n++;
    }
    return n;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* False when no BYSETPOS value can name a member of the set one FREQ period yields
 * (FREQ=MONTHLY;BYDAY=MO;BYSETPOS=6: a month has at most five Mondays). Such a rule is valid
 * and yields nothing past DTSTART, but libical searches for up to two seconds per call before
 * it gives up. The set is bounded by the days the BY parts allow in a period times the
 * times of day they allow; the bound may be loose, never too small. */
static bool setpos_possible(const struct icalrecurrencetype *r)
{
    uint64_t nsp = part_len(r->by_set_pos, ICAL_BY_SETPOS_SIZE);
    if (nsp == 0) {
        return true;
    }
    uint64_t nday = part_len(r->by_day, ICAL_BY_DAY_SIZE);
    uint64_t ordinals = 0;
    for (size_t i = 0; i < nday; i++) {
        ordinals += icalrecurrencetype_day_position(r->by_day[i]) != 0;
    }
    uint64_t nmd = part_len(r->by_month_day, ICAL_BY_MONTHDAY_SIZE);
    uint64_t nyd = part_len(r->by_year_day, ICAL_BY_YEARDAY_SIZE);
    uint64_t nwn = part_len(r->by_week_no, ICAL_BY_WEEKNO_SIZE);
    uint64_t nm = part_len(r->by_month, ICAL_BY_MONTH_SIZE);
    uint64_t nh = part_len(r->by_hour, ICAL_BY_HOUR_SIZE);
    uint64_t nmin = part_len(r->by_minute, ICAL_BY_MINUTE_SIZE);
    uint64_t nsec = part_len(r->by_second, ICAL_BY_SECOND_SIZE);
    uint64_t days = 1; /* DTSTART's day of the period, when no BY part names days */
    uint64_t times = (nh ? nh : 1) * (nmin ? nmin : 1) * (nsec ? nsec : 1);
    switch (r->freq) {
    case ICAL_YEARLY_RECURRENCE:
        days = nm ? nm : 1;
        if (nday || nmd || nyd || nwn) {
            days = 366;
            uint64_t months = nm ? nm : 12;
            if (nday) {
                days =
                    min_u64(days, (nm ? months * 5 : 53) * (nday - ordinals) + ordinals * months);
            }
            days = nmd ? min_u64(days, nmd * months) : days;
            days = nyd ? min_u64(days, nyd) : days;
            days = nwn ? min_u64(days, nwn * 7) : days;
        }
        break;
    case ICAL_MONTHLY_RECURRENCE:
        if (nday || nmd) {
            days = 31;
            days = nday ? min_u64(days, 5 * (nday - ordinals) + ordinals) : days;
            days = nmd ? min_u64(days, nmd) : days;
        }
        break;
    case ICAL_WEEKLY_RECURRENCE:
        days = nday ? min_u64(7, nday) : 1;
        break;
    case ICAL_HOURLY_RECURRENCE:
        times = (nmin ? nmin : 1) * (nsec ? nsec : 1);
        break;
    case ICAL_MINUTELY_RECURRENCE:
        times = nsec ? nsec : 1;
        break;
    case ICAL_SECONDLY_RECURRENCE:
        times = 1;
        break;
    default:
        break;
    }
    uint64_t size = days * times;
    for (size_t i = 0; i < nsp; i++) {
        if ((uint64_t)abs(r->by_set_pos[i]) <= size) {
            return true;
        }
    }
    return false;
}

/* Seconds of one FREQ x INTERVAL period, rounded down (a month counts 28 days), so that
 * gaps between instances over-count steps rather than under-count them. */
static int64_t period_seconds(const struct icalrecurrencetype *r)
{
    int64_t unit;
    switch (r->freq) {
    case ICAL_SECONDLY_RECURRENCE:
        unit = 1;
        break;
    case ICAL_MINUTELY_RECURRENCE:
        unit = 60;
        break;
    case ICAL_HOURLY_RECURRENCE:
        unit = 3600;
        break;
    case ICAL_DAILY_RECURRENCE:
        unit = SECS_PER_DAY;
        break;
    case ICAL_WEEKLY_RECURRENCE:
        unit = 7 * SECS_PER_DAY;
        break;
    case ICAL_MONTHLY_RECURRENCE:
        unit = 28 * SECS_PER_DAY;
        break;
    default:
        unit = 365 * SECS_PER_DAY;
        break;
    }
    return unit * (r->interval > 0 ? r->interval : 1);
}

static int recur_start(struct cal_recur *r,
                       const struct icalrecurrencetype *rule,
                       struct icaltimetype dtstart,
                       const icaltimezone *zone,
                       bool fast)
{
    r->it = NULL;
    r->fast = false;
    r->skip_utc = INT64_MIN;
    r->count = rule->count;
    r->interval = rule->interval;
    r->zone = zone;
    r->unit = period_seconds(rule);
    r->prev_utc = cal_to_utc(dtstart, zone);
    if (cal_recur_refusal(rule)) {
        return -1;
    }
    if (!month_days_possible(rule) || !setpos_possible(rule)) {
        return 0;
    }
    /* With the zone attached, libical compares a UTC UNTIL with each local instance as an
     * instant; without it, it compares wall-clock digits and is off by the zone's offset. */
    struct icaltimetype start = dtstart;
    if (zone && !start.is_date) {
        icaltime_set_timezone(&start, zone);
    }
    if (fast && cal_greg_start(&r->g, rule, start) == 0) {
        r->fast = true;
        return 0;
    }
    r->it = icalrecur_iterator_new(*rule, start);
    return r->it ? 0 : -1;
}

int cal_recur_start(struct cal_recur *r,
                    const struct icalrecurrencetype *rule,
                    struct icaltimetype dtstart,
                    const icaltimezone *zone)
{
    return recur_start(r, rule, dtstart, zone, false);
}

int cal_recur_start_fast(struct cal_recur *r,
                         const struct icalrecurrencetype *rule,
                         struct icaltimetype dtstart,
                         const icaltimezone *zone)
{
    return recur_start(r, rule, dtstart, zone, true);
}

/* The next instance of the walk, whichever walks it: 1, or 0 at its end. */
static int recur_step(struct cal_recur *r, struct icaltimetype *t, int64_t *utc)
{
    if (!r->fast) {
        struct icaltimetype n = icalrecur_iterator_next(r->it);
        if (icaltime_is_null_time(n)) {
            return 0;
        }
        *t = n;
        *utc = cal_to_utc(n, r->zone);
        return 1;
    }
    for (;;) {
        if (cal_greg_next(&r->g, t) == 0) {
            return 0;
        }
        *utc = cal_to_utc(*t, r->zone);
        if (*utc >= r->skip_utc) {
            return 1;
        }
    }
}

int cal_recur_next(struct cal_recur *r, struct cal_work *work, struct icaltimetype *t, int64_t *utc)
{
    if (!r->it && !r->fast) {
        return 0;
    }
    if (work->instances >= CAL_MAX_INSTANCES || work->steps >= CAL_MAX_STEPS || deadline_passed()) {
        return -1;
    }
    struct icaltimetype n;
    int64_t u;
    if (recur_step(r, &n, &u) == 0) {
        return 0;
    }
    if (n.year > CAL_MAX_YEAR) {
        return -1;
    }
    int64_t gap = u - r->prev_utc;
    work->steps += 1 + (gap > 0 ? (uint64_t)(gap / r->unit) : 0);
    work->instances++;
    r->prev_utc = u;
    *t = n;
    *utc = u;
    return 1;
}

bool cal_recur_skip(struct cal_recur *r, struct icaltimetype dtstart, int64_t utc)
{
    if (utc <= r->prev_utc) {
        return false;
    }
    if (r->fast) {
        /* a local date is within a few days of the UTC one (offsets stay under a day or
         * two); the instants before `utc` are then left out one by one */
        int64_t day = utc / SECS_PER_DAY - (utc % SECS_PER_DAY < 0);
        cal_greg_skip(&r->g, day - 8);
        r->skip_utc = utc;
        r->prev_utc = utc;
        return true;
    }
    if (!r->it || r->count > 0 || r->interval != 1) {
        return false;
    }
    const icaltimezone *z = r->zone ? r->zone : icaltimezone_get_utc_timezone();
    struct icaltimetype t = icaltime_from_timet_with_zone((time_t)utc, dtstart.is_date, z);
    if (!r->zone && !icaltime_is_utc(dtstart)) {
        t.zone = NULL; /* floating or DATE, read as UTC: the same digits, no zone */
    } else if (r->zone && !dtstart.is_date) {
        icaltime_set_timezone(&t, r->zone);
    }
    if (!icalrecur_iterator_set_start(r->it, t)) {
        return false;
    }
    r->prev_utc = utc; /* steps are counted from here, not from DTSTART */
    return true;
}

void cal_recur_stop(struct cal_recur *r)
{
    r->fast = false;
    if (r->it) {
        icalrecur_iterator_free(r->it);
        r->it = NULL;
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Exclusion sets */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a;
    int64_t y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a;
    int32_t y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static int32_t date_key(struct icaltimetype t)
{
    return (int32_t)(t.year * 10000 + t.month * 100 + t.day);
}

void cal_exset_init(struct cal_exset *x,
                    icalcomponent *root,
                    icalcomponent *c,
                    const int64_t *extra,
                    size_t nextra,
                    struct arena *arena)
{
    size_t n = 0;
    for (icalproperty *p = icalcomponent_get_first_property(c, ICAL_EXDATE_PROPERTY); p;
         p = icalcomponent_get_next_property(c, ICAL_EXDATE_PROPERTY)) {
        n++;
    }
    x->utc = arena_alloc(arena, (n + nextra + 1) * sizeof(*x->utc));
    x->dates = arena_alloc(arena, (n + 1) * sizeof(*x->dates));
    x->nutc = 0;
    x->ndates = 0;
    for (icalproperty *p = icalcomponent_get_first_property(c, ICAL_EXDATE_PROPERTY); p;
         p = icalcomponent_get_next_property(c, ICAL_EXDATE_PROPERTY)) {
        struct icaltimetype t = icalproperty_get_exdate(p);
        if (t.is_date) {
            /* a DATE excludes every instance on that local date */
            x->dates[x->ndates++] = date_key(t);
        } else {
            x->utc[x->nutc++] = cal_to_utc(t, cal_zone_of(root, p, t));
        }
    }
    if (nextra > 0) {
        memcpy(x->utc + x->nutc, extra, nextra * sizeof(*extra));
        x->nutc += nextra;
    }
    qsort(x->utc, x->nutc, sizeof(*x->utc), cmp_i64);
    qsort(x->dates, x->ndates, sizeof(*x->dates), cmp_i32);
}

bool cal_exset_has(const struct cal_exset *x, struct icaltimetype t, int64_t utc)
{
    if (x->nutc > 0 && bsearch(&utc, x->utc, x->nutc, sizeof(*x->utc), cmp_i64)) {
        return true;
    }
    int32_t key = date_key(t);
    return x->ndates > 0 && bsearch(&key, x->dates, x->ndates, sizeof(*x->dates), cmp_i32);
}

/* ---------------------------------------------------------------------------------------- */
/* Spans */

void cal_span_add(struct cal_span *s, int64_t start, int64_t end)
{
    if (!s->any || start < s->start) {
        s->start = start;
    }
    if (!s->any || end > s->end) {
        s->end = end;
    }
    s->any = true;
}

/* One series: the instances anchored at `anchor` (DTSTART, or DUE for a VTODO without
 * DTSTART, whose instances are then instants). */
struct series {
    icalcomponent *root;
    icalcomponent *c;
    const struct cal_exset *ex;
    bool instants;      /* instances have no duration (a VTODO anchored at DUE) */
    struct cal_len len; /* of each instance, read once */
};

static void series_add(const struct series *se,
                       struct icaltimetype t,
                       const icaltimezone *zone,
                       int64_t utc,
                       struct cal_span *s)
{
    if (cal_exset_has(se->ex, t, utc)) {
        return;
    }
    int64_t end = se->instants ? utc : cal_len_end(&se->len, t, zone, utc);
    cal_span_add(s, utc, end);
}

size_t cal_count_props(icalcomponent *c, icalproperty_kind kind)
{
    size_t n = 0;
    for (icalproperty *p = icalcomponent_get_first_property(c, kind); p;
         p = icalcomponent_get_next_property(c, kind)) {
        n++;
    }
    return n;
}

icalproperty **
cal_props_of(icalcomponent *c, icalproperty_kind kind, struct arena *arena, size_t *n_out)
{
    size_t n = 0;
    for (icalproperty *p = icalcomponent_get_first_property(c, kind); p;
         p = icalcomponent_get_next_property(c, kind)) {
        n++;
    }
    icalproperty **v = arena_alloc(arena, (n + 1) * sizeof(*v));
    size_t i = 0;
    for (icalproperty *p = icalcomponent_get_first_property(c, kind); p && i < n;
         p = icalcomponent_get_next_property(c, kind)) {
        v[i++] = p;
    }
    *n_out = i;
    return v;
}

static int cmp_rdate(const void *a, const void *b)
{
    const struct cal_rdate *x = a;
    const struct cal_rdate *y = b;
    return (x->utc > y->utc) - (x->utc < y->utc);
}

size_t
cal_rdates_of(icalcomponent *root, icalcomponent *c, struct arena *arena, struct cal_rdate **out)
{
    size_t n;
    icalproperty **props = cal_props_of(c, ICAL_RDATE_PROPERTY, arena, &n);
    struct cal_rdate *v = arena_alloc(arena, (n + 1) * sizeof(*v));
    size_t k = 0;
    struct cal_len len;
    if (n > 0) {
        cal_len_of(root, c, &len); /* once: each lookup walks every property, RDATEs included */
    }
    for (size_t i = 0; i < n; i++) {
        struct icaldatetimeperiodtype dp = icalproperty_get_rdate(props[i]);
        bool period = icaltime_is_null_time(dp.time);
        struct icaltimetype t = period ? dp.period.start : dp.time;
        if (!cal_time_valid(t)) {
            continue;
        }
        const icaltimezone *z = cal_zone_of(root, props[i], t);
        int64_t u = cal_to_utc(t, z);
        int64_t e;
        if (!period) {
            e = cal_len_end(&len, t, z, u);
        } else if (icaltime_is_null_time(dp.period.end)) {
            e = duration_end(dp.period.duration, t, z, u);
        } else {
            e = cal_to_utc(dp.period.end, z);
        }
        v[k++] = (struct cal_rdate){t, u, e > u ? e : u};
    }
    qsort(v, k, sizeof(*v), cmp_rdate);
    *out = v;
    return k;
}

/* RDATEs: DATE, DATE-TIME (lasting as DTSTART's instance does) or PERIOD (its own end). */
static void
rdates_add(const struct series *se, struct arena *arena, struct cal_span *s, bool *recurring)
{
    struct cal_rdate *rd;
    size_t n = cal_rdates_of(se->root, se->c, arena, &rd);
    if (icalcomponent_get_first_property(se->c, ICAL_RDATE_PROPERTY)) {
        *recurring = true;
    }
    for (size_t i = 0; i < n; i++) {
        if (!cal_exset_has(se->ex, rd[i].t, rd[i].utc)) {
            cal_span_add(s, rd[i].utc, se->instants ? rd[i].utc : rd[i].end);
        }
    }
}

/* Walks one RRULE into `s`. An unbounded rule (no COUNT, no UNTIL) needs only its first
 * kept instance: its end is INT64_MAX. Returns -1 with err set when it cannot be walked. */
static int rrule_add(const struct series *se,
                     icalproperty *rr,
                     struct icaltimetype anchor,
                     const icaltimezone *zone,
                     int64_t anchor_utc,
                     struct cal_work *work,
                     struct cal_span *s,
                     struct err *err)
{
    struct icalrecurrencetype rule = icalproperty_get_rrule(rr);
    struct cal_recur w;
    if (cal_recur_start_fast(&w, &rule, anchor, zone) != 0) {
        const char *why = cal_recur_refusal(&rule);
        return err_set(err, &cal_cond_valid_calendar_data, "RRULE %s",
                       why ? why : "cannot be expanded by libical");
    }
    bool bounded = rule.count > 0 || !icaltime_is_null_time(rule.until);
    /* A rule ending by UNTIL needs its first and its last instances only: past the first, it
     * skips to a year before UNTIL, where the last ones are, instead of stepping through
     * decades (when cal_recur_skip can: see there). If nothing is kept after the skip (the
     * rule's instances are further apart than that, or EXDATEs took them), the walk starts
     * over without skipping. */
    int64_t skip_to = INT64_MIN;
    if (rule.count == 0 && !icaltime_is_null_time(rule.until)) {
        skip_to = cal_to_utc(rule.until, zone) - SKIP_BEFORE_UNTIL;
    }
    bool skipped = false;
    bool kept_after = false;
    bool open = false;
    struct icaltimetype t;
    int64_t u;
    int rc;
    for (;;) {
        while ((rc = cal_recur_next(&w, work, &t, &u)) == 1) {
            if (cal_exset_has(se->ex, t, u)) {
                continue;
            }
            series_add(se, t, zone, u, s);
            kept_after = skipped;
            if (!bounded) {
                open = true;
                break;
            }
            if (!skipped && skip_to != INT64_MIN && u < skip_to) {
                skipped = cal_recur_skip(&w, anchor, skip_to);
                skip_to = INT64_MIN; /* once */
            }
        }
        if (rc != 0 || !skipped || kept_after) {
            break;
        }
        cal_recur_stop(&w); /* again from DTSTART, without skipping */
        if (cal_recur_start_fast(&w, &rule, anchor, zone) != 0) {
            break;
        }
        skip_to = INT64_MIN;
        skipped = false;
    }
    cal_recur_stop(&w);
    if (open || rc < 0) {
        cal_span_add(s, s->any ? s->start : anchor_utc, INT64_MAX);
    }
    return 0;
}

/* RFC 4791 §9.9, VTODO without DTSTART or DUE: CREATED and COMPLETED, else every time. */
static void undated_todo_add(icalcomponent *root, icalcomponent *c, struct cal_span *s)
{
    icalproperty *cp = icalcomponent_get_first_property(c, ICAL_CREATED_PROPERTY);
    icalproperty *dp = icalcomponent_get_first_property(c, ICAL_COMPLETED_PROPERTY);
    int64_t created = 0;
    int64_t completed = 0;
    if (cp) {
        struct icaltimetype t = icalproperty_get_created(cp);
        created = cal_to_utc(t, cal_zone_of(root, cp, t));
    }
    if (dp) {
        struct icaltimetype t = icalproperty_get_completed(dp);
        completed = cal_to_utc(t, cal_zone_of(root, dp, t));
    }
    if (cp && dp) {
        cal_span_add(s, created < completed ? created : completed,
                     created < completed ? completed : created);
    } else if (dp) {
        cal_span_add(s, completed, completed);
    } else if (cp) {
        cal_span_add(s, created, INT64_MAX);
    } else {
        cal_span_add(s, INT64_MIN, INT64_MAX);
    }
}

int cal_component_span(icalcomponent *root,
                       icalcomponent *c,
                       const struct cal_exset *ex,
                       struct cal_work *work,
                       struct arena *arena,
                       struct cal_span *s,
                       bool *recurring,
                       struct err *err)
{
    bool is_todo = icalcomponent_isa(c) == ICAL_VTODO_COMPONENT;
    icalproperty *anchor = icalcomponent_get_first_property(c, ICAL_DTSTART_PROPERTY);
    if (!anchor && is_todo) {
        anchor = icalcomponent_get_first_property(c, ICAL_DUE_PROPERTY);
    }
    struct icaltimetype t0;
    if (anchor && icalproperty_isa(anchor) == ICAL_DTSTART_PROPERTY) {
        t0 = icalproperty_get_dtstart(anchor);
    } else if (anchor) {
        t0 = icalproperty_get_due(anchor);
    } else {
        if (is_todo) {
            undated_todo_add(root, c, s);
        }
        *recurring = *recurring || icalcomponent_get_first_property(c, ICAL_RRULE_PROPERTY) ||
                     icalcomponent_get_first_property(c, ICAL_RDATE_PROPERTY);
        return 0; /* a VJOURNAL without DTSTART (or a VALARM) matches no time range */
    }
    if (!cal_time_valid(t0)) {
        return 0; /* cal_parse_object refuses it; a stored one matches nothing */
    }
    struct cal_exset own;
    if (!ex) {
        cal_exset_init(&own, root, c, NULL, 0, arena);
        ex = &own;
    }
    struct series se = {root, c, ex, icalproperty_isa(anchor) == ICAL_DUE_PROPERTY, {0}};
    cal_len_of(root, c, &se.len);
    const icaltimezone *zone = cal_zone_of(root, anchor, t0);
    int64_t u0 = cal_to_utc(t0, zone);
    struct cal_span own_span = {false, 0, 0};
    /* RFC 5545 §3.8.5.3: DTSTART is always the first instance, whether or not the rule
     * yields it (libical's iterator does not when they are out of step) */
    series_add(&se, t0, zone, u0, &own_span);
    rdates_add(&se, arena, &own_span, recurring);
    size_t nrules;
    icalproperty **rules = cal_props_of(c, ICAL_RRULE_PROPERTY, arena, &nrules);
    for (size_t i = 0; i < nrules; i++) {
        *recurring = true;
        if (rrule_add(&se, rules[i], t0, zone, u0, work, &own_span, err) != 0) {
            return -1;
        }
    }
    if (own_span.any) {
        cal_span_add(s, own_span.start, own_span.end);
    }
    return 0;
}
