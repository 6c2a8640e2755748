/* tests/unit/cal/test_greg.c: the Gregorian fast path (cal/greg.c) against libical's own
 * iterator. Every rule is walked twice through cal/span.c's walker: once by libical
 * (cal_recur_start) and once by cal_recur_start_fast, which takes the fast path when the rule
 * lies in its subset and libical otherwise; both must give the same instances (local time,
 * instant, end) in the same order, and the same refusals. Rules come from a grid (every FREQ x
 * INTERVAL 1-4 x BYDAY with and without ordinals x BYMONTHDAY incl. -1, 29-31 x BYMONTH x
 * COUNT/UNTIL x WKST MO/SU, DTSTART on month ends, Feb 29, DST-change days in Europe/Berlin
 * and America/New_York, DATE values) and from a seeded random generator. After a skip to a
 * random instant the fast path must give the rest of libical's walk from there (for COUNT
 * rules too: the instances before still count). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <libical/ical.h>

#include "cal/cal.h"
#include "cal/cal_int.h"

enum {
    K = 16 /* instances compared per rule */
};

struct walk {
    int rc_start;
    size_t n;
    int end_rc; /* cal_recur_next's last answer: 0 end, -1 cut, 1 still going after K */
    struct icaltimetype t[K];
    int64_t utc[K];
};

struct tally {
    size_t rules;
    size_t fast;   /* walked by the fast path */
    size_t skips;  /* skip checks made */
    size_t events; /* instances compared */
};

/* The zone a DTSTART is in, as cal_zone_of gives it: NULL for floating, UTC and DATE. */
struct zone_case {
    const char *name; /* NULL: floating; "UTC": Z */
    icaltimezone *zone;
};

static void walk_rule(const struct icalrecurrencetype *rule,
                      struct icaltimetype dtstart,
                      const icaltimezone *zone,
                      bool fast,
                      int64_t skip_utc,
                      struct walk *w,
                      bool *was_fast)
{
    struct cal_recur r;
    memset(w, 0, sizeof(*w));
    w->rc_start = fast ? cal_recur_start_fast(&r, rule, dtstart, zone)
                       : cal_recur_start(&r, rule, dtstart, zone);
    if (was_fast) {
        *was_fast = w->rc_start == 0 && r.fast;
    }
    if (w->rc_start != 0) {
        return;
    }
    if (skip_utc != INT64_MIN) {
        (void)cal_recur_skip(&r, dtstart, skip_utc);
    }
    struct cal_work work = CAL_WORK_INIT;
    w->end_rc = 1;
    while (w->n < K) {
        struct icaltimetype t;
        int64_t u;
        int rc = cal_recur_next(&r, &work, &t, &u);
        if (rc != 1) {
            w->end_rc = rc;
            break;
        }
        w->t[w->n] = t;
        w->utc[w->n] = u;
        w->n++;
    }
    cal_recur_stop(&r);
}

static bool same_time(struct icaltimetype a, struct icaltimetype b)
{
    return a.year == b.year && a.month == b.month && a.day == b.day && a.is_date == b.is_date &&
           (a.is_date || (a.hour == b.hour && a.minute == b.minute && a.second == b.second));
}

static void describe(char *buf, size_t size, const struct walk *w)
{
    size_t o = (size_t)snprintf(buf, size, "rc=%d n=%zu end=%d:", w->rc_start, w->n, w->end_rc);
    for (size_t i = 0; i < w->n && i < 6 && o < size; i++) {
        o += (size_t)snprintf(buf + o, size - o, " %s", icaltime_as_ical_string(w->t[i]));
    }
}

/* Compares the fast walk with libical's; `skip_from` > 0: libical's walk is compared from
 * that instance on (the fast one was skipped there), and may end early at K. */
static void
compare(const char *what, const struct walk *lib, const struct walk *fast, size_t skip_from)
{
    char a[512];
    char b[512];
    bool ok = lib->rc_start == fast->rc_start;
    size_t n = lib->n - skip_from;
    if (ok && lib->rc_start == 0) {
        /* after a skip the fast walk sees K more instances than libical's cut-off shows */
        size_t m = fast->n < n ? fast->n : n;
        ok = skip_from == 0 ? (fast->n == lib->n && fast->end_rc == lib->end_rc)
                            : (fast->n >= n && (lib->end_rc == 1 || fast->n == n));
        for (size_t i = 0; ok && i < m; i++) {
            ok = same_time(lib->t[skip_from + i], fast->t[i]) &&
                 lib->utc[skip_from + i] == fast->utc[i];
        }
    }
    if (!ok) {
        describe(a, sizeof(a), lib);
        describe(b, sizeof(b), fast);
        fail_msg("%s (skip at %zu)\n  libical: %s\n  fast:    %s", what, skip_from, a, b);
    }
}

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

/* Checks one rule text from one DTSTART text ("20250330T023000" or a DATE) in `zone`: the
 * whole walk, and the walk after a skip to a random instant. */
static void
check_rule(const char *rrule, const char *start, const struct zone_case *z, struct tally *tl)
{
    struct icalrecurrencetype rule = icalrecurrencetype_from_string(rrule);
    if (rule.freq == ICAL_NO_RECURRENCE) {
        fail_msg("the test's rule %s does not parse", rrule);
    }
    struct icaltimetype dt = icaltime_from_string(start);
    const icaltimezone *zone = NULL;
    if (!dt.is_date && z->name && strcmp(z->name, "UTC") == 0) {
        dt = icaltime_convert_to_zone(dt, icaltimezone_get_utc_timezone()); /* a Z value */
    } else if (!dt.is_date && z->zone) {
        zone = z->zone;
    }
    char what[256];
    snprintf(what, sizeof(what), "RRULE:%s DTSTART %s in %s", rrule, start,
             z->name ? z->name : "floating");
    struct walk lib;
    struct walk fast;
    bool was_fast = false;
    struct timespec t0;
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    walk_rule(&rule, dt, zone, false, INT64_MIN, &lib, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    if (ms > 20 && getenv("ALMANAC_TEST_TIMES")) { /* libical's slow rules, to keep out */
        print_message("slow %.0f ms: %s\n", ms, what);
    }
    walk_rule(&rule, dt, zone, true, INT64_MIN, &fast, &was_fast);
    compare(what, &lib, &fast, 0);
    tl->rules++;
    tl->fast += was_fast;
    tl->events += lib.n;
    if (!was_fast || lib.n < 3) {
        free(rule.rscale); /* the parser's copy of RSCALE */
        return;
    }
    /* a skip to an instant at or before instance j: the fast walk goes on from j */
    size_t j = 1 + rnd((uint32_t)(lib.n - 1));
    int64_t gap = lib.utc[j] - lib.utc[j - 1];
    int64_t to =
        lib.utc[j] - (gap > 1 ? (int64_t)rnd((uint32_t)(gap < 1000000 ? gap : 1000000)) : 0);
    if (to <= lib.utc[j - 1]) {
        to = lib.utc[j];
    }
    walk_rule(&rule, dt, zone, true, to, &fast, NULL);
    compare(what, &lib, &fast, j);
    tl->skips++;
    free(rule.rscale);
}

static struct zone_case zones[4];

static int setup(void **state)
{
    (void)state;
    cal_init();
    zones[0] = (struct zone_case){NULL, NULL};
    zones[1] = (struct zone_case){"UTC", NULL};
    zones[2] = (struct zone_case){"Europe/Berlin", cal_zone_builtin("Europe/Berlin")};
    zones[3] = (struct zone_case){"America/New_York", cal_zone_builtin("America/New_York")};
    return zones[2].zone && zones[3].zone ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    cal_shutdown();
    return 0;
}

static const char *const freqs[] = {"DAILY", "WEEKLY", "MONTHLY", "YEARLY"};

/* DTSTARTs: month ends, Feb 29, the days of DST changes in Berlin (last Sundays of March and
 * October) and New York (second Sunday of March, first of November), some inside the missing
 * or repeated hour, a year end, DATE values. */
static const char *const starts[] = {
    "20240229T090000", "20250131T100000", "20250330T023000", "20251026T023000",
    "20250309T023000", "20251102T013000", "20250115T100000", "19991231T230000",
    "20250330T120000", "20240331T000000", "20240229",        "20250131",
    "20251231",        "20250309",        "20230430T170000", "20201031T080000",
};

static const char *const bydays[] = {
    "", "MO", "MO,WE,FR", "TU,SU", "SA,SU", "MO,TU,WE,TH,FR",
};
static const char *const bydays_ord[] = {
    "1MO", "-1FR", "2TU,4TU", "1SU,-1SA", "5WE", "-2TH", "1MO,FR", "3SA",
};
static const char *const monthdays[] = {"", "1", "-1", "15,-1", "29", "30", "31", "13", "-31"};
static const char *const months[] = {"", "2", "1,3,12", "10", "3,11", "6"};

/* The end of a rule: none, COUNT or UNTIL (a DATE for a DATE DTSTART, RFC 5545 §3.3.10). */
static void end_part(int kind, const char *start, char *buf, size_t size)
{
    bool is_date = strlen(start) == 8;
    switch (kind) {
    case 0:
        buf[0] = '\0';
        break;
    case 1:
        snprintf(buf, size, ";COUNT=%u", 1 + rnd(15));
        break;
    default:
        snprintf(buf, size, ";UNTIL=%04u%02u%02u%s", 2024 + rnd(4), 1 + rnd(12), 1 + rnd(28),
                 is_date ? "" : "T023000Z");
        break;
    }
}

static void add_part(char *buf, size_t size, const char *name, const char *value)
{
    if (value && *value) {
        size_t o = strlen(buf);
        snprintf(buf + o, size - o, ";%s=%s", name, value);
    }
}

/* The grid: every FREQ x INTERVAL x WKST x BYDAY (ordinals for MONTHLY and YEARLY) x end,
 * each with BYMONTHDAY, BYMONTH, DTSTART and zone taken in turn from their lists. */
static void test_greg_grid_equals_libical(void **state)
{
    (void)state;
    struct tally tl = {0};
    size_t turn = 0;
    for (size_t f = 0; f < 4; f++) {
        for (int interval = 1; interval <= 4; interval++) {
            for (int wk = 0; wk < 2; wk++) {
                size_t nb = sizeof(bydays) / sizeof(bydays[0]);
                size_t no = f >= 2 ? sizeof(bydays_ord) / sizeof(bydays_ord[0]) : 0;
                for (size_t b = 0; b < nb + no; b++) {
                    for (int end = 0; end < 3; end++) {
                        for (int rep = 0; rep < 2; rep++, turn++) {
                            const char *start = starts[(turn * 7 + rep) % 16];
                            const struct zone_case *z = &zones[(turn / 3 + rep) % 4];
                            char rule[256];
                            snprintf(rule, sizeof(rule), "FREQ=%s", freqs[f]);
                            if (interval > 1) {
                                snprintf(rule + strlen(rule), sizeof(rule) - strlen(rule),
                                         ";INTERVAL=%d", interval);
                            }
                            add_part(rule, sizeof(rule), "BYDAY",
                                     b < nb ? bydays[b] : bydays_ord[b - nb]);
                            /* libical refuses BYMONTHDAY with WEEKLY; with an ordinal BYDAY
                             * it rarely meets (never: a walk to the year 20000 in libical) */
                            const char *md = "";
                            if (f != 1 && b < nb && (f != 0 || b == 0)) {
                                md = monthdays[(turn * 5 + (size_t)rep) % 9];
                                add_part(rule, sizeof(rule), "BYMONTHDAY", md);
                            }
                            /* a MONTHLY BYMONTH off the INTERVAL's months never matches and
                             * costs libical a walk to the year 20000: kept for INTERVAL 1; a
                             * YEARLY BYMONTHDAY without BYMONTH is in DTSTART's month only, for
                             * libical, which for Feb 29 and the 31st costs it the same walk */
                            const char *mo = months[(turn * 3 + (size_t)rep) % 6];
                            if (f == 3 && *md && !*mo) {
                                mo = "1,3,12";
                            }
                            if ((f != 2 || interval == 1) && (f != 0 || b == 0)) {
                                add_part(rule, sizeof(rule), "BYMONTH", mo);
                            }
                            add_part(rule, sizeof(rule), "WKST", wk ? "SU" : "MO");
                            char e[64];
                            end_part(end, start, e, sizeof(e));
                            snprintf(rule + strlen(rule), sizeof(rule) - strlen(rule), "%s", e);
                            check_rule(rule, start, z, &tl);
                        }
                    }
                }
            }
        }
    }
    print_message("grid: %zu rules, %zu walked fast, %zu skips, %zu instances\n", tl.rules, tl.fast,
                  tl.skips, tl.events);
    assert_true(tl.rules > 1000);
    assert_true(tl.fast * 2 > tl.rules); /* the fast path is the one being tested */
}

/* Random rules with a fixed seed: any FREQ, INTERVAL 1-12, up to four BYDAY (ordinals in
 * MONTHLY and YEARLY), up to three BYMONTHDAY, up to three BYMONTH, COUNT or UNTIL, any WKST,
 * DTSTART any day from 1990 to 2030 at any hour (minutes and seconds too) in any zone. */
static void test_greg_random_rules_equal_libical(void **state)
{
    (void)state;
    static const char *const wd[] = {"SU", "MO", "TU", "WE", "TH", "FR", "SA"};
    struct tally tl = {0};
    rng_state = 0x5eed5eed1234ull;
    for (int i = 0; i < 2000; i++) {
        int f = (int)rnd(4);
        int interval = 1 + (int)rnd(rnd(3) == 0 ? 12 : 3);
        char rule[256];
        snprintf(rule, sizeof(rule), "FREQ=%s", freqs[f]);
        if (interval > 1) {
            snprintf(rule + strlen(rule), sizeof(rule) - strlen(rule), ";INTERVAL=%d", interval);
        }
        int year = 1990 + (int)rnd(41);
        int month = 1 + (int)rnd(12);
        int day = 1 + (int)rnd(28 + (rnd(2) ? 3 : 0));
        if (day > (month == 2 ? ((year % 4 == 0) ? 29 : 28)
                   : (month == 4 || month == 6 || month == 9 || month == 11) ? 30
                                                                             : 31)) {
            day = 28;
        }
        char v[128] = "";
        int nday = (int)rnd(5);
        /* DAILY with INTERVAL a multiple of 7 keeps one weekday: BYDAY must hold it, or libical
         * searches to the year 2582 on every step */
        if (f == 0 && interval % 7 == 0) {
            nday = 0;
        }
        for (int k = 0, last = -1; k < nday; k++) {
            int d = (int)rnd(7);
            if (f < 2) {
                if (d <= last) {
                    continue; /* as libical's parser sorts them (for WKST=SU) */
                }
                last = d;
            }
            size_t o = strlen(v);
            int pos = f >= 2 && rnd(2) ? (int)rnd(5) + 1 : 0;
            snprintf(v + o, sizeof(v) - o, "%s%s%s", o ? "," : "", pos ? (rnd(2) ? "-" : "") : "",
                     "");
            o = strlen(v);
            if (pos) {
                snprintf(v + o, sizeof(v) - o, "%d", pos);
                o = strlen(v);
            }
            snprintf(v + o, sizeof(v) - o, "%s", wd[d]);
        }
        add_part(rule, sizeof(rule), "BYDAY", v);
        /* an ordinal BYDAY and BYMONTHDAY rarely meet (1MO;BYMONTHDAY=31 never does), and
         * a MONTHLY rule that never matches costs libical a walk to the year 20000 */
        bool ordinals = strpbrk(v, "12345") != NULL;
        v[0] = '\0';
        /* a DAILY rule limited by several parts makes libical step through (ICU) most days
         * of years between instances: one limiting part for DAILY keeps the test short */
        if (f != 1 && !ordinals && !(f == 0 && nday > 0)) {
            int nmd = (int)rnd(4) == 0 ? 1 + (int)rnd(3) : 0;
            for (int k = 0; k < nmd; k++) {
                size_t o = strlen(v);
                int md = 1 + (int)rnd(31);
                snprintf(v + o, sizeof(v) - o, "%s%s%d", o ? "," : "",
                         f >= 2 && rnd(3) == 0 ? "-" : "", md);
            }
        }
        add_part(rule, sizeof(rule), "BYMONTHDAY", v);
        bool limited = nday > 0 || v[0];
        v[0] = '\0';
        int nm = (int)rnd(3) == 0 ? 1 + (int)rnd(3) : 0;
        if ((f == 2 && interval > 1) || (f == 0 && limited)) {
            nm = 0; /* see the grid: off-interval months make libical walk to the year 20000 */
        }
        if (f == 3 && limited && nm == 0) {
            nm = 1 + (int)rnd(3); /* see the grid */
        }
        for (int k = 0; k < nm; k++) {
            size_t o = strlen(v);
            snprintf(v + o, sizeof(v) - o, "%s%d", o ? "," : "", k == 0 ? month : 1 + (int)rnd(12));
        }
        add_part(rule, sizeof(rule), "BYMONTH", v);
        add_part(rule, sizeof(rule), "WKST", rnd(2) ? "SU" : wd[rnd(7)]);
        bool is_date = rnd(6) == 0;
        char start[80]; /* room for any int, as gcc -Wformat-truncation counts */
        if (is_date) {
            snprintf(start, sizeof(start), "%04d%02d%02d", year, month, day);
        } else {
            snprintf(start, sizeof(start), "%04d%02d%02dT%02u%02u%02u", year, month, day, rnd(24),
                     rnd(4) * 15, rnd(8) == 0 ? rnd(60) : 0);
        }
        char e[64];
        end_part((int)rnd(3), start, e, sizeof(e));
        snprintf(rule + strlen(rule), sizeof(rule) - strlen(rule), "%s", e);
        check_rule(rule, start, &zones[rnd(4)], &tl);
    }
    print_message("random: %zu rules, %zu walked fast, %zu skips, %zu instances\n", tl.rules,
                  tl.fast, tl.skips, tl.events);
    assert_true(tl.fast * 2 > tl.rules);
}

/* Rules outside the subset are declined and walked by libical: BYSETPOS, BYYEARDAY,
 * BYWEEKNO, BYHOUR, sub-daily FREQ, RSCALE, an ordinal BYDAY in a WEEKLY rule, a daily
 * BYMONTHDAY=-1 (which libical never matches), DTSTART before 1600, and a 02:30 series in
 * Berlin, whose spring-forward day ICU moves to 03:30 for good. */
static void test_greg_declines_what_it_does_not_know(void **state)
{
    (void)state;

    static const struct {
        const char *rule;
        const char *start;
        int zone;
    } no[] = {
        {"FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1", "20250101T090000", 0},
        {"FREQ=YEARLY;BYYEARDAY=100", "20250101T090000", 0},
        {"FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO", "20250101T090000", 0},
        {"FREQ=DAILY;BYHOUR=9,17", "20250101T090000", 0},
        {"FREQ=HOURLY;INTERVAL=3", "20250101T090000", 0},
        {"RSCALE=HEBREW;FREQ=YEARLY", "20250101T090000", 0},
        {"FREQ=WEEKLY;BYDAY=1MO", "20250101T090000", 0},
        {"FREQ=WEEKLY;BYDAY=MO", "15000101T090000", 0},
        {"FREQ=DAILY", "20250301T023000", 2},
        {"FREQ=WEEKLY;BYDAY=SU", "20250302T023000", 2},
        {"FREQ=DAILY", "20250301T023000", 3},
    };
    struct tally tl = {0};
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        struct icalrecurrencetype rule = icalrecurrencetype_from_string(no[i].rule);
        struct icaltimetype dt = icaltime_from_string(no[i].start);
        const icaltimezone *zone = zones[no[i].zone].zone;
        if (zone) {
            icaltime_set_timezone(&dt, zone);
        }
        struct cal_greg g;
        if (cal_greg_start(&g, &rule, dt) == 0) {
            fail_msg("the fast path took RRULE:%s from %s", no[i].rule, no[i].start);
        }
        free(rule.rscale);
        check_rule(no[i].rule, no[i].start, &zones[no[i].zone], &tl); /* libical's answer */
    }
    /* and these are taken: plain shapes, and a DAILY BYMONTHDAY=-1, which libical compares
     * with the day literally, so that it never matches (libical searches to the year 2582 on
     * each step; the fast path takes a millisecond to say the same) */
    static const char *const yes[] = {"FREQ=DAILY",
                                      "FREQ=DAILY;BYMONTHDAY=-1;UNTIL=20250401T000000Z",
                                      "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        struct icalrecurrencetype rule = icalrecurrencetype_from_string(yes[i]);
        struct icaltimetype dt = icaltime_from_string("20250301T093000");
        icaltime_set_timezone(&dt, zones[2].zone);
        struct cal_greg g;
        assert_int_equal(cal_greg_start(&g, &rule, dt), 0);
        check_rule(yes[i], "20250301T093000", &zones[2], &tl);
    }
    assert_int_equal(tl.fast, 3);
}

/* Shapes where libical departs from RFC 5545's text, or that the grid leaves out: a YEARLY
 * BYMONTHDAY without BYMONTH stays in DTSTART's month, a YEARLY BYDAY without BYMONTH counts
 * ordinals in the year (and BYMONTHDAY then limits it in DTSTART's month), Feb 29 yearly,
 * the 31st monthly, INTERVAL with BYMONTH on MONTHLY, WEEKLY INTERVAL with WKST from
 * midweek; and a 02:30 series in a zone ICU does not know by name (Outlook's), which ICU
 * reads as GMT and so walks without a gap. All walked by the fast path. */
static void test_greg_libical_shapes_equal_libical(void **state)
{
    (void)state;
    static const char *const rules[][2] = {
        {"FREQ=YEARLY;BYMONTHDAY=15", "20250115T100000"},
        {"FREQ=YEARLY;BYMONTHDAY=1,-1", "20250131T100000"},
        {"FREQ=YEARLY;BYDAY=MO;BYMONTHDAY=1,2,3,4,5,6,7", "20250106T100000"},
        {"FREQ=YEARLY;BYDAY=20MO", "20250101T100000"},
        {"FREQ=YEARLY;BYDAY=-1SU", "20250101T100000"},
        {"FREQ=YEARLY;BYDAY=1MO,-1FR;BYMONTH=1,3", "20250101T100000"},
        {"FREQ=YEARLY;BYDAY=SU", "20251228T100000"},
        {"FREQ=YEARLY", "20240229T100000"},
        {"FREQ=YEARLY;INTERVAL=4", "20240229"},
        {"FREQ=MONTHLY", "20250131T100000"},
        {"FREQ=MONTHLY;BYDAY=5FR", "20250131T100000"},
        {"FREQ=MONTHLY;BYDAY=-1MO,1MO;COUNT=12", "20250131T100000"},
        {"FREQ=MONTHLY;INTERVAL=2;BYMONTH=1,3,5", "20250115T100000"},
        {"FREQ=WEEKLY;INTERVAL=2;BYDAY=SU,SA;WKST=SU", "20250108T100000"},
        {"FREQ=WEEKLY;INTERVAL=2;BYDAY=SU,SA;WKST=MO", "20250108T100000"},
        {"FREQ=WEEKLY;INTERVAL=3;BYDAY=MO,SU;WKST=MO;UNTIL=20251231T000000Z", "20250105T100000"},
        {"FREQ=DAILY;INTERVAL=10;BYMONTH=3;COUNT=20", "20250101T100000"},
    };
    struct tally tl = {0};
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        for (size_t z = 0; z < 4; z++) {
            check_rule(rules[i][0], rules[i][1], &zones[z], &tl);
        }
    }
    assert_int_equal(tl.fast, tl.rules);
    /* the edges of Berlin's and New York's missing hour, 01:59:59 and 03:00, are times ICU
     * keeps: walked fast across the spring-forward days */
    static const char *const edges[] = {"20250329T015959", "20250329T030000", "20250308T015959",
                                        "20250308T030000"};
    for (size_t i = 0; i < 4; i++) {
        check_rule("FREQ=DAILY;COUNT=4", edges[i], &zones[i < 2 ? 2 : 3], &tl);
    }
    assert_int_equal(tl.fast, tl.rules);
    /* a zone ICU does not know: 02:30 on the spring-forward day is kept */
    static const char vtz[] =
        "BEGIN:VCALENDAR\r\nBEGIN:VTIMEZONE\r\nTZID:W. Europe Standard Time\r\n"
        "BEGIN:STANDARD\r\nDTSTART:16010101T030000\r\nTZOFFSETFROM:+0200\r\n"
        "TZOFFSETTO:+0100\r\nRRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\r\nEND:STANDARD\r\n"
        "BEGIN:DAYLIGHT\r\nDTSTART:16010101T020000\r\nTZOFFSETFROM:+0100\r\n"
        "TZOFFSETTO:+0200\r\nRRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3\r\nEND:DAYLIGHT\r\n"
        "END:VTIMEZONE\r\nEND:VCALENDAR\r\n";
    icalcomponent *root = icalparser_parse_string(vtz);
    assert_non_null(root);
    struct zone_case outlook = {"W. Europe Standard Time",
                                icalcomponent_get_timezone(root, "W. Europe Standard Time")};
    assert_non_null(outlook.zone);
    size_t fast = tl.fast;
    check_rule("FREQ=DAILY;COUNT=5", "20250329T023000", &outlook, &tl);
    check_rule("FREQ=WEEKLY;BYDAY=SU", "20250323T023000", &outlook, &tl);
    assert_int_equal(tl.fast, fast + 2);
    icalcomponent_free(root);
}

/* ICU moves a 02:30 instance on Berlin's spring-forward day to 03:30 and keeps that hour:
 * what the fast path declines to reproduce. If libical ever stops doing so, the gap check in
 * cal/greg.c may go. */
static void test_libical_moves_a_time_in_the_gap(void **state)
{
    (void)state;
    struct icalrecurrencetype rule = icalrecurrencetype_from_string("FREQ=DAILY;COUNT=3");
    struct icaltimetype dt = icaltime_from_string("20250329T023000");
    icaltime_set_timezone(&dt, zones[2].zone);
    icalrecur_iterator *it = icalrecur_iterator_new(rule, dt);
    assert_non_null(it);
    struct icaltimetype t1 = icalrecur_iterator_next(it);
    struct icaltimetype t2 = icalrecur_iterator_next(it);
    struct icaltimetype t3 = icalrecur_iterator_next(it);
    icalrecur_iterator_free(it);
    assert_int_equal(t1.hour, 2);
    assert_int_equal(t2.day, 30);
    assert_int_equal(t2.hour, 3); /* the gap */
    assert_int_equal(t3.day, 31);
    assert_int_equal(t3.hour, 3); /* and after it */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_libical_moves_a_time_in_the_gap),
        cmocka_unit_test(test_greg_declines_what_it_does_not_know),
        cmocka_unit_test(test_greg_libical_shapes_equal_libical),
        cmocka_unit_test(test_greg_grid_equals_libical),
        cmocka_unit_test(test_greg_random_rules_equal_libical),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
