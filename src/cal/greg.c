/* cal/greg.c: a recurrence walker of our own for plain Gregorian rules (issue 19). Debian's
 * libical is built with ICU, so its iterator does every step of every rule through ICU's
 * calendar (icu::Calendar, ClockMath::floorDivide): most of the CPU of a zoned expansion. For
 * the rules clients write (FREQ=DAILY/WEEKLY/MONTHLY/YEARLY with INTERVAL, COUNT or UNTIL,
 * BYDAY, BYMONTHDAY, BYMONTH, WKST) this file yields the same local times as libical 3.0's
 * icalrecur_iterator_next, in the same order, with integer civil-date arithmetic, and declines
 * everything else (cal/span.c then asks libical). It mirrors libical's algorithm rather than
 * RFC 5545's text where the two differ: a YEARLY rule without BYMONTH keeps DTSTART's month,
 * COUNT counts only the instances the rule yields at or after DTSTART (not DTSTART itself
 * when the rule does not yield it), candidates past the year 2582 end the rule. UNTIL is
 * compared by libical's own icaltime_compare. tests/unit/cal/test_greg.c holds the two
 * against each other on thousands of rules.
 *
 * Where ICU would not agree with plain arithmetic, the rule is declined: a DATE-TIME whose
 * time of day falls, on some date from DTSTART on, into a gap of ICU's own idea of the zone
 * (libical opens ICU's calendar in the zone named by the TZID; ICU moves 02:30 on a
 * spring-forward day to 03:30 and the series keeps the new hour), DTSTART before 1600 (ICU's
 * calendar is Julian before 1582), and rules libical does not parse as its parser leaves them
 * (BYDAY out of WKST order). ICU's zone transitions are read once per zone name and kept. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <libical/ical.h>
#include <unicode/ucal.h>
#include <unicode/ustring.h>

#include "cal/cal_int.h"

#define GREG_MAX_YEAR 2582 /* libical's MAX_TIME_T_YEAR: a candidate past it ends the rule */
#define GREG_MIN_YEAR 1600 /* ICU's calendar is Julian before 1582-10-15: leave those to it */
#define SECS_PER_DAY  INT64_C(86400)

/* ---------------------------------------------------------------------------------------- */
/* Civil dates (proleptic Gregorian, days since 1970-01-01; H. Hinnant's algorithms) */

static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *y_out, int *m_out, int *d_out)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int d = (int)(doy - (153 * mp + 2) / 5 + 1);
    int m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y_out = (int)(y + (m <= 2));
    *m_out = m;
    *d_out = d;
}

/* libical's day of week: 1 = Sunday ... 7 = Saturday (1970-01-01 was a Thursday). */
static int dow_of(int64_t z)
{
    int64_t w = (z + 4) % 7;
    return (int)(w < 0 ? w + 7 : w) + 1;
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int64_t y, int m)
{
    static const int len[13] = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : len[m];
}

/* ---------------------------------------------------------------------------------------- */
/* ICU's gaps: the local times ICU's calendar does not have in a zone it knows */

enum {
    GAP_ZONES = 64,  /* zone names remembered; past them a zoned rule is declined */
    GAP_SHAPES = 48, /* distinct (time of day, length) gaps per zone; past them: declined */
};

/* One kind of gap: local times [tod, tod + len) of some days, the last of them ending at
 * local second `last_end`. */
struct gap_shape {
    int32_t tod;
    int32_t len; /* seconds; SECS_PER_DAY or more: every time of day */
    int64_t last_end;
};

struct gap_zone {
    char name[64];
    bool overflow; /* more shapes than GAP_SHAPES: every DATE-TIME rule declined */
    size_t n;
    struct gap_shape shape[GAP_SHAPES];
};

static pthread_mutex_t gap_lock = PTHREAD_MUTEX_INITIALIZER;
static struct gap_zone *gap_zones[GAP_ZONES];
static size_t gap_nzones;

static void gap_add(struct gap_zone *z, int64_t lo, int64_t hi)
{
    int64_t len = hi - lo;
    int32_t tod = (int32_t)(((lo % SECS_PER_DAY) + SECS_PER_DAY) % SECS_PER_DAY);
    if (len >= SECS_PER_DAY) {
        len = SECS_PER_DAY;
        tod = 0;
    }
    for (size_t i = 0; i < z->n; i++) {
        if (z->shape[i].tod == tod && z->shape[i].len == (int32_t)len) {
            if (hi > z->shape[i].last_end) {
                z->shape[i].last_end = hi;
            }
            return;
        }
    }
    if (z->n == GAP_SHAPES) {
        z->overflow = true;
        return;
    }
    z->shape[z->n++] = (struct gap_shape){tod, (int32_t)len, hi};
}

/* Reads ICU's transitions of zone `name` from 1600 to GREG_MAX_YEAR into a new gap_zone, or
 * NULL when ICU cannot open a calendar for it. A name ICU does not know gets ICU's unknown
 * zone (GMT, no gaps), as libical's iterator does. */
static struct gap_zone *gap_zone_read(const char *name)
{
    UChar uname[128];
    UErrorCode st = U_ZERO_ERROR;
    u_strFromUTF8Lenient(uname, (int32_t)(sizeof(uname) / sizeof(uname[0])), NULL, name, -1, &st);
    if (U_FAILURE(st)) {
        return NULL;
    }
    UCalendar *cal = ucal_open(uname, -1, "@calendar=gregorian", UCAL_DEFAULT, &st);
    if (!cal || U_FAILURE(st)) {
        if (cal) {
            ucal_close(cal);
        }
        return NULL;
    }
    struct gap_zone *z = calloc(1, sizeof(*z));
    if (!z) {
        abort();
    }
    snprintf(z->name, sizeof(z->name), "%s", name);
    const double from = (double)(days_from_civil(GREG_MIN_YEAR - 1, 1, 1) * SECS_PER_DAY) * 1000.0;
    const double to = (double)(days_from_civil(GREG_MAX_YEAR + 1, 1, 1) * SECS_PER_DAY) * 1000.0;
    UDate t = from;
    for (int guard = 0; guard < 20000; guard++) {
        ucal_setMillis(cal, t, &st);
        UDate next;
        if (U_FAILURE(st) ||
            !ucal_getTimeZoneTransitionDate(cal, UCAL_TZ_TRANSITION_NEXT, &next, &st) ||
            U_FAILURE(st) || next > to || next <= t) {
            break;
        }
        ucal_setMillis(cal, next - 1, &st);
        int64_t before = ucal_get(cal, UCAL_ZONE_OFFSET, &st) + ucal_get(cal, UCAL_DST_OFFSET, &st);
        ucal_setMillis(cal, next, &st);
        int64_t after = ucal_get(cal, UCAL_ZONE_OFFSET, &st) + ucal_get(cal, UCAL_DST_OFFSET, &st);
        if (U_FAILURE(st)) {
            z->overflow = true;
            break;
        }
        if (after > before) {
            /* local times [next + before, next + after) do not exist (in ms; rounded outwards
             * to seconds, though tzdata's transitions and offsets are whole seconds) */
            double lo = floor((next + (double)before) / 1000.0);
            double hi = ceil((next + (double)after) / 1000.0);
            gap_add(z, (int64_t)lo, (int64_t)hi);
        }
        t = next;
    }
    ucal_close(cal);
    return z;
}

/* The gaps of zone `name`, read once per process; NULL when the table is full or ICU cannot
 * open the zone (the caller then declines). */
static const struct gap_zone *gap_zone_of(const char *name)
{
    pthread_mutex_lock(&gap_lock);
    const struct gap_zone *found = NULL;
    for (size_t i = 0; i < gap_nzones; i++) {
        if (strcmp(gap_zones[i]->name, name) == 0) {
            found = gap_zones[i];
            break;
        }
    }
    if (!found && gap_nzones < GAP_ZONES && strlen(name) < sizeof(gap_zones[0]->name)) {
        struct gap_zone *z = gap_zone_read(name);
        if (z) {
            gap_zones[gap_nzones++] = z;
            found = z;
        }
    }
    pthread_mutex_unlock(&gap_lock);
    return found;
}

void cal_greg_shutdown(void)
{
    pthread_mutex_lock(&gap_lock);
    for (size_t i = 0; i < gap_nzones; i++) {
        free(gap_zones[i]);
        gap_zones[i] = NULL;
    }
    gap_nzones = 0;
    pthread_mutex_unlock(&gap_lock);
}

/* The zone name libical's iterator hands ICU for DTSTART's zone (initialize_rscale). */
static const char *icu_zone_name(const icaltimezone *zone)
{
    icaltimezone *z = (icaltimezone *)(uintptr_t)zone; /* libical takes it mutable */
    const char *src = icaltimezone_get_location(z);
    if (!src) {
        /* icaltimezone_tzid_prefix() is not exported; Almanac never changes the default */
        const char *prefix = "/freeassociation.sourceforge.net/";
        src = icaltimezone_get_tzid(z);
        if (src && strncmp(src, prefix, strlen(prefix)) == 0) {
            src += strlen(prefix);
        }
    }
    return src;
}

/* True when every instance of a DATE-TIME rule starting at local `dtstart` (zone attached)
 * keeps its time of day in ICU's calendar: no gap of ICU's zone that ends after DTSTART's
 * day contains that time of day. */
static bool icu_keeps_time(struct icaltimetype dtstart)
{
    if (dtstart.is_date || !dtstart.zone) {
        return true; /* ICU's unknown zone, GMT: no gaps (and DATE values read no time) */
    }
    const char *name = icu_zone_name(dtstart.zone);
    if (!name) {
        return true;
    }
    const struct gap_zone *z = gap_zone_of(name);
    if (!z || z->overflow) {
        return false;
    }
    int64_t tod = dtstart.hour * 3600 + dtstart.minute * 60 + dtstart.second;
    int64_t from = days_from_civil(dtstart.year, dtstart.month, dtstart.day) * SECS_PER_DAY -
                   SECS_PER_DAY; /* a day of slack for DTSTART's own day */
    for (size_t i = 0; i < z->n; i++) {
        const struct gap_shape *s = &z->shape[i];
        if (s->last_end <= from) {
            continue;
        }
        if (s->len >= SECS_PER_DAY) {
            return false;
        }
        int64_t off = ((tod - s->tod) % SECS_PER_DAY + SECS_PER_DAY) % SECS_PER_DAY;
        if (off < s->len) {
            return false;
        }
    }
    return true;
}

/* ---------------------------------------------------------------------------------------- */
/* Rules */

static bool has(const short *part)
{
    return part[0] != ICAL_RECURRENCE_ARRAY_MAX;
}

/* BYDAY's weekday relative to WKST, 0..6, as libical's parser sorts it. */
static int wk_off(int dow, int wkst)
{
    return (dow - wkst + 7) % 7;
}

/* Reads BYDAY into g; false when the fast path must decline it. */
static bool read_byday(struct cal_greg *g, const struct icalrecurrencetype *r)
{
    g->nday = 0;
    int prev = -1;
    for (size_t i = 0; i < ICAL_BY_DAY_SIZE && r->by_day[i] != ICAL_RECURRENCE_ARRAY_MAX; i++) {
        int dow = (int)icalrecurrencetype_day_day_of_week(r->by_day[i]);
        int pos = icalrecurrencetype_day_position(r->by_day[i]);
        if (dow < 1 || dow > 7 || pos < -53 || pos > 53 || g->nday == CAL_GREG_MAX_BYDAY) {
            return false;
        }
        if (g->freq == ICAL_DAILY_RECURRENCE || g->freq == ICAL_WEEKLY_RECURRENCE) {
            /* libical matches an ordinal here against a bare weekday (never equal) or reads
             * BYDAY's first entry with its ordinal: not plain arithmetic */
            if (pos != 0) {
                return false;
            }
            /* libical's weekly step assumes its parser's order: by WKST, no repeats */
            int off = wk_off(dow, r->week_start);
            if (off <= prev) {
                return false;
            }
            prev = off;
        }
        g->day_dow[g->nday] = (int8_t)dow;
        g->day_pos[g->nday] = (int8_t)pos;
        g->nday++;
    }
    return true;
}

/* Reads the rule into g; false when it lies outside the fast path's subset. */
static bool read_rule(struct cal_greg *g, const struct icalrecurrencetype *r)
{
    if (r->freq != ICAL_DAILY_RECURRENCE && r->freq != ICAL_WEEKLY_RECURRENCE &&
        r->freq != ICAL_MONTHLY_RECURRENCE && r->freq != ICAL_YEARLY_RECURRENCE) {
        return false;
    }
    if ((r->rscale && *r->rscale) || r->skip != ICAL_SKIP_OMIT || has(r->by_second) ||
        has(r->by_minute) || has(r->by_hour) || has(r->by_year_day) || has(r->by_week_no) ||
        has(r->by_set_pos)) {
        return false;
    }
    if (r->interval < 1 || r->interval > CAL_GREG_MAX_INTERVAL || r->count < 0) {
        return false;
    }
    if (r->week_start < ICAL_SUNDAY_WEEKDAY || r->week_start > ICAL_SATURDAY_WEEKDAY) {
        return false;
    }
    g->freq = r->freq;
    g->interval = r->interval;
    g->count = r->count;
    g->wkst = (int)r->week_start;
    g->has_until = !icaltime_is_null_time(r->until);
    g->until = r->until;
    /* WEEKLY with INTERVAL: libical's first week is found from BYDAY's first entry, which
     * goes wrong for a WKST other than MO or SU */
    if (g->freq == ICAL_WEEKLY_RECURRENCE && g->interval > 1 && g->wkst != ICAL_MONDAY_WEEKDAY &&
        g->wkst != ICAL_SUNDAY_WEEKDAY) {
        return false;
    }
    g->bymonth = 0;
    for (size_t i = 0; i < ICAL_BY_MONTH_SIZE && r->by_month[i] != ICAL_RECURRENCE_ARRAY_MAX; i++) {
        short m = r->by_month[i];
        if (m < 1 || m > 12) {
            return false; /* leap months (RSCALE) and nonsense: libical's call */
        }
        g->bymonth |= (uint16_t)(1u << m);
    }
    g->nmd = 0;
    for (size_t i = 0; i < ICAL_BY_MONTHDAY_SIZE && r->by_month_day[i] != ICAL_RECURRENCE_ARRAY_MAX;
         i++) {
        short d = r->by_month_day[i];
        if (d == 0 || d < -31 || d > 31) {
            return false;
        }
        g->md[g->nmd++] = (int8_t)d;
    }
    if (g->nmd > 0 && g->freq == ICAL_WEEKLY_RECURRENCE) {
        return false; /* libical refuses the rule */
    }
    g->md_given = g->nmd > 0;
    return read_byday(g, r);
}

/* ---------------------------------------------------------------------------------------- */
/* Periods: the candidate days of one FREQ x INTERVAL period, ascending */

/* Marks in `mask` (bit d for day d of the month, 1..31) the days BYMONTHDAY names in a month
 * of `dim` days (libical's expand_bymonth_days; SKIP=OMIT leaves out days it lacks). */
static uint32_t monthday_mask(const struct cal_greg *g, int dim)
{
    uint32_t mask = 0;
    for (size_t i = 0; i < g->nmd; i++) {
        int d = g->md[i];
        if (abs(d) > dim) {
            continue;
        }
        mask |= 1u << (d > 0 ? d : dim + 1 + d);
    }
    return mask;
}

/* The days of a stretch of `len` days whose first day is weekday `first_dow` that BYDAY
 * names (libical's expand_by_day), as bits 1..len of `bits` (64-bit words). */
static void byday_bits(const struct cal_greg *g, int first_dow, int len, uint64_t *bits)
{
    int last_dow = (first_dow - 1 + len - 1) % 7 + 1;
    for (size_t i = 0; i < g->nday; i++) {
        int dow = g->day_dow[i];
        int pos = g->day_pos[i];
        int first = ((dow + 7 - first_dow) % 7) + 1;
        int last = len - ((last_dow + 7 - dow) % 7);
        if (pos == 0) {
            for (int d = first; d <= len; d += 7) {
                bits[d / 64] |= UINT64_C(1) << (d % 64);
            }
            continue;
        }
        int d = pos > 0 ? first + (pos - 1) * 7 : last + (pos + 1) * 7;
        if (d >= first && d <= last) {
            bits[d / 64] |= UINT64_C(1) << (d % 64);
        }
    }
}

static bool bit(const uint64_t *bits, int i)
{
    return (bits[i / 64] >> (i % 64)) & 1u;
}

/* The days of month `m` of year `y` a MONTHLY rule yields (or a YEARLY one, with BYMONTH), as
 * bits 1..31. BYMONTHDAY defaults to DTSTART's day; BYDAY replaces it, or limits it when
 * BYMONTHDAY was given. */
static uint32_t month_set(const struct cal_greg *g, int64_t y, int m, bool byday_in_month)
{
    int dim = month_days(y, m);
    uint32_t set = monthday_mask(g, dim);
    if (g->nday > 0 && byday_in_month) {
        uint64_t bits[6] = {0};
        byday_bits(g, dow_of(days_from_civil(y, m, 1)), dim, bits);
        uint32_t by = 0;
        for (int d = 1; d <= dim; d++) {
            if (bit(bits, d)) {
                by |= 1u << d;
            }
        }
        set = g->md_given ? set & by : by;
    }
    return set;
}

static void push_month(struct cal_greg *g, int64_t y, int m, uint32_t set)
{
    int64_t base = days_from_civil(y, m, 1) - 1;
    for (int d = 1; d <= 31; d++) {
        if (set & (1u << d)) {
            g->cand[g->ncand++] = (int32_t)(base + d);
        }
    }
}

static void load_year(struct cal_greg *g, int64_t y)
{
    uint16_t months = g->bymonth ? g->bymonth : (uint16_t)(1u << g->dtstart.month);
    if (g->nday == 0 || g->bymonth) {
        /* BYMONTHDAY in each month, BYDAY (if any) within each month */
        for (int m = 1; m <= 12; m++) {
            if (months & (1u << m)) {
                push_month(g, y, m, month_set(g, y, m, true));
            }
        }
        return;
    }
    /* BYDAY within the year (no BYMONTH): BYMONTHDAY, if given, limits it in DTSTART's month */
    int diy = is_leap(y) ? 366 : 365;
    int64_t jan1 = days_from_civil(y, 1, 1);
    uint64_t bits[6] = {0};
    byday_bits(g, dow_of(jan1), diy, bits);
    uint32_t md = 0;
    int64_t mstart = 0;
    if (g->md_given) {
        int m = g->dtstart.month;
        md = monthday_mask(g, month_days(y, m));
        mstart = days_from_civil(y, m, 1) - jan1; /* day of year of the 1st, minus 1 */
    }
    for (int doy = 1; doy <= diy; doy++) {
        if (!bit(bits, doy)) {
            continue;
        }
        if (g->md_given) {
            int64_t d = doy - mstart;
            if (d < 1 || d > 31 || !(md & (1u << d))) {
                continue;
            }
        }
        g->cand[g->ncand++] = (int32_t)(jan1 + doy - 1);
    }
}

/* Loads the candidates of period `p` (0 = DTSTART's). False past GREG_MAX_YEAR. */
static bool load_period(struct cal_greg *g, int64_t p)
{
    g->period = p;
    g->ncand = 0;
    g->next = 0;
    int64_t step = p * g->interval;
    switch (g->freq) {
    case ICAL_DAILY_RECURRENCE: {
        int64_t day = g->base + step;
        if (day > g->max_day) {
            return false;
        }
        g->cand[g->ncand++] = (int32_t)day;
        return true;
    }
    case ICAL_WEEKLY_RECURRENCE: {
        int64_t ws = g->base + 7 * step;
        if (ws > g->max_day) {
            return false;
        }
        for (size_t i = 0; i < g->nday; i++) {
            g->cand[g->ncand++] = (int32_t)(ws + wk_off(g->day_dow[i], g->wkst));
        }
        return true;
    }
    case ICAL_MONTHLY_RECURRENCE: {
        int64_t mi = g->base + step;
        int64_t y = mi / 12;
        int m = (int)(mi % 12) + 1;
        if (y > GREG_MAX_YEAR) {
            return false;
        }
        if (g->bymonth && !(g->bymonth & (1u << m))) {
            return true; /* BYMONTH limits MONTHLY */
        }
        push_month(g, y, m, month_set(g, y, m, true));
        return true;
    }
    default: {
        int64_t y = g->base + step;
        if (y > GREG_MAX_YEAR) {
            return false;
        }
        load_year(g, y);
        return true;
    }
    }
}

/* The BY parts that limit a DAILY or WEEKLY candidate (libical's check_contracting_rules). */
static bool limits_pass(const struct cal_greg *g, int y, int m, int d, int64_t day)
{
    (void)y;
    if (g->bymonth && !(g->bymonth & (1u << m))) {
        return false;
    }
    if (g->freq != ICAL_DAILY_RECURRENCE) {
        return true;
    }
    if (g->nmd > 0) {
        /* compared with the day literally, as libical does: a negative one never matches */
        bool any = false;
        for (size_t i = 0; i < g->nmd && !any; i++) {
            any = g->md[i] == d;
        }
        if (!any) {
            return false;
        }
    }
    if (g->nday > 0) {
        int dow = dow_of(day);
        bool any = false;
        for (size_t i = 0; i < g->nday && !any; i++) {
            any = g->day_dow[i] == dow;
        }
        if (!any) {
            return false;
        }
    }
    return true;
}

/* Whether local candidate `t` (day number `day`) lies past UNTIL, as libical's
 * icaltime_compare says; far from UNTIL's date the dates decide (a zone moves a time by less
 * than a week). */
static bool past_until(const struct cal_greg *g, int64_t day, struct icaltimetype t)
{
    if (day + 8 < g->until_day) {
        return false;
    }
    if (day > g->until_day + 8) {
        return true;
    }
    return icaltime_compare(t, g->until) > 0;
}

int cal_greg_start(struct cal_greg *g,
                   const struct icalrecurrencetype *rule,
                   struct icaltimetype dtstart)
{
    memset(g, 0, sizeof(*g));
    if (!read_rule(g, rule)) {
        return -1;
    }
    /* DTSTART as libical's iterator_new checks it, and inside the years plain arithmetic
     * and ICU agree on */
    if (dtstart.year < GREG_MIN_YEAR || dtstart.year > GREG_MAX_YEAR || dtstart.month < 1 ||
        dtstart.month > 12 || dtstart.day < 1 ||
        dtstart.day > month_days(dtstart.year, dtstart.month)) {
        return -1;
    }
    if (!dtstart.is_date && (dtstart.hour < 0 || dtstart.hour > 23 || dtstart.minute < 0 ||
                             dtstart.minute > 59 || dtstart.second < 0 || dtstart.second > 59)) {
        return -1;
    }
    if (g->has_until && (g->until.year < 1 || g->until.month < 1 || g->until.month > 12)) {
        return -1;
    }
    if (!icu_keeps_time(dtstart)) {
        return -1;
    }
    g->dtstart = dtstart;
    g->start_day = days_from_civil(dtstart.year, dtstart.month, dtstart.day);
    g->max_day = days_from_civil(GREG_MAX_YEAR + 1, 1, 1) - 1;
    g->until_day = g->has_until ? days_from_civil(g->until.year, g->until.month, g->until.day) : 0;
    g->skip_day = INT64_MIN;
    switch (g->freq) {
    case ICAL_DAILY_RECURRENCE:
        g->base = g->start_day;
        break;
    case ICAL_WEEKLY_RECURRENCE:
        if (g->nday == 0) {
            g->day_dow[0] = (int8_t)dow_of(g->start_day);
            g->day_pos[0] = 0;
            g->nday = 1;
        }
        g->base = g->start_day - wk_off(dow_of(g->start_day), g->wkst);
        break;
    case ICAL_MONTHLY_RECURRENCE:
        if (!g->md_given) {
            g->md[0] = (int8_t)dtstart.day;
            g->nmd = 1;
        }
        g->base = (int64_t)dtstart.year * 12 + dtstart.month - 1;
        break;
    default:
        if (!g->md_given) {
            g->md[0] = (int8_t)dtstart.day;
            g->nmd = 1;
        }
        g->base = dtstart.year;
        break;
    }
    if (g->freq == ICAL_MONTHLY_RECURRENCE || g->freq == ICAL_YEARLY_RECURRENCE) {
        /* libical's iterator_new looks for the first period with a candidate day (ignoring
         * BYMONTH in a MONTHLY rule's first month) and fails when it lies past its last year
         * (BYMONTH=2;BYMONTHDAY=29;INTERVAL=100 from 2000): such rules are libical's. */
        bool found = false;
        for (int64_t p = 0; !found; p++) {
            uint16_t keep = g->bymonth;
            if (p == 0 && g->freq == ICAL_MONTHLY_RECURRENCE) {
                g->bymonth = 0;
            }
            bool more = load_period(g, p);
            g->bymonth = keep;
            if (!more) {
                return -1;
            }
            found = g->ncand > 0;
        }
    }
    load_period(g, 0);
    return 0;
}

int cal_greg_next(struct cal_greg *g, struct icaltimetype *t)
{
    for (;;) {
        if (g->done || (g->count > 0 && g->emitted >= g->count)) {
            g->done = true;
            return 0;
        }
        if (g->next == g->ncand) {
            if (!load_period(g, g->period + 1)) {
                g->done = true;
                return 0;
            }
            continue;
        }
        int64_t day = g->cand[g->next++];
        if (day > g->max_day) {
            g->done = true;
            return 0;
        }
        int y;
        int m;
        int d;
        civil_from_days(day, &y, &m, &d);
        struct icaltimetype c = g->dtstart;
        c.year = y;
        c.month = m;
        c.day = d;
        if (g->has_until && past_until(g, day, c)) {
            g->done = true;
            return 0;
        }
        if (day < g->start_day) {
            continue; /* before DTSTART: not an instance, and not counted */
        }
        if ((g->freq == ICAL_DAILY_RECURRENCE || g->freq == ICAL_WEEKLY_RECURRENCE) &&
            !limits_pass(g, y, m, d, day)) {
            continue;
        }
        g->emitted++;
        if (day < g->skip_day) {
            continue; /* counted for COUNT, not yielded */
        }
        *t = c;
        return 1;
    }
}

void cal_greg_skip(struct cal_greg *g, int64_t day)
{
    if (day <= g->start_day || day <= g->skip_day) {
        return;
    }
    g->skip_day = day;
    if (g->count > 0 || g->done) {
        return; /* the instances before still count: next() walks them without a word */
    }
    /* the period holding `day`, or an earlier one: next() drops candidates before `day` */
    int y;
    int m;
    int d;
    civil_from_days(day, &y, &m, &d);
    int64_t p;
    switch (g->freq) {
    case ICAL_DAILY_RECURRENCE:
        p = (day - g->base) / g->interval;
        break;
    case ICAL_WEEKLY_RECURRENCE:
        p = (day - g->base) / (7 * (int64_t)g->interval);
        break;
    case ICAL_MONTHLY_RECURRENCE:
        p = ((int64_t)y * 12 + m - 1 - g->base) / g->interval;
        break;
    default:
        p = (y - g->base) / g->interval;
        break;
    }
    if (p > g->period && !load_period(g, p)) {
        g->done = true;
    }
}
