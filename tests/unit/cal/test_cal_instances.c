/* tests/unit/cal/test_cal_instances.c: the instance index of recurring objects (cal.h
 * cal_info.instances, cal_instances_match). The index must answer a time range exactly as
 * the expansion of the stored object (cal_expand) does, which is what calendar-query used
 * before it: checked on a grid of ranges for series with overrides, EXDATEs, zero-length and
 * all-day instances, a TZID, an RDATE, a VTODO and an override moved before its original;
 * plus the series that get no index (unbounded, too many instances) and a few exact cases.
 * Since the index and the expansion come from the same walk, a last test checks both against
 * instances written out by hand (weekly with an EXDATE, monthly on the last Friday, RDATE
 * periods, a moved override, Europe/Berlin across both 2026 DST changes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cal/cal.h"
#include "util/arena.h"
#include "util/err.h"

#define HEAD       "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Almanac tests//EN\r\n"
#define TAIL       "END:VCALENDAR\r\n"
#define EV(body)   "BEGIN:VEVENT\r\nDTSTAMP:20260101T000000Z\r\n" body "END:VEVENT\r\n"
#define TODO(body) "BEGIN:VTODO\r\nDTSTAMP:20260101T000000Z\r\n" body "END:VTODO\r\n"

#define BERLIN                                                                          \
  "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\n"   \
  "TZOFFSETTO:+0200\r\nTZNAME:CEST\r\nDTSTART:19700329T020000\r\n"                      \
  "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\nBEGIN:STANDARD\r\n"        \
  "TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nTZNAME:CET\r\nDTSTART:19701025T030000\r\n" \
  "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"

struct series {
    const char *name;
    const char *ics;
    bool indexed; /* expected cal_info.has_instances */
};

/* 2026-01-05T10:00:00Z (a Monday) = 1767607200 */
static const struct series series[] = {
    {"weekly with a moved instance",
     HEAD EV("UID:a\r\nDTSTART:20260105T100000Z\r\nDURATION:PT45M\r\n"
             "RRULE:FREQ=WEEKLY;COUNT=5\r\n") EV("UID:a\r\nRECURRENCE-ID:20260112T100000Z\r\n"
                                                 "DTSTART:20260112T130000Z\r\nDURATION:PT45M\r\n")
         TAIL,
     true},
    {"daily with an exdate",
     HEAD EV("UID:b\r\nDTSTART:20260105T100000Z\r\nDTEND:20260105T110000Z\r\n"
             "RRULE:FREQ=DAILY;COUNT=10\r\nEXDATE:20260107T100000Z\r\n") TAIL,
     true},
    {"override moved before its original",
     HEAD EV("UID:c\r\nDTSTART:20260105T100000Z\r\nDURATION:PT1H\r\nRRULE:FREQ=WEEKLY;COUNT=4\r\n")
         EV("UID:c\r\nRECURRENCE-ID:20260126T100000Z\r\nDTSTART:20260106T150000Z\r\n"
            "DURATION:PT1H\r\n") TAIL,
     true},
    {"zero-length instances",
     HEAD EV("UID:d\r\nDTSTART:20260105T120000Z\r\nRRULE:FREQ=DAILY;COUNT=5\r\n") TAIL, true},
    {"all-day weekly",
     HEAD EV("UID:e\r\nDTSTART;VALUE=DATE:20260106\r\nRRULE:FREQ=WEEKLY;COUNT=4\r\n") TAIL, true},
    {"tzid daily",
     HEAD BERLIN EV("UID:f\r\nDTSTART;TZID=Europe/Berlin:20260105T090000\r\n"
                    "DTEND;TZID=Europe/Berlin:20260105T100000\r\nRRULE:FREQ=DAILY;COUNT=6\r\n")
         TAIL,
     true},
    {"rdate",
     HEAD EV("UID:g\r\nDTSTART:20260105T100000Z\r\nDURATION:PT1H\r\nRDATE:20260108T100000Z\r\n")
         TAIL,
     true},
    {"rdates with a period, a rule and an excluded rdate",
     HEAD EV("UID:m\r\nDTSTART:20260105T100000Z\r\nDURATION:PT1H\r\n"
             "RRULE:FREQ=WEEKLY;COUNT=2\r\nRDATE:20260107T150000Z,20260112T100000Z\r\n"
             "RDATE;VALUE=PERIOD:20260114T080000Z/PT3H\r\nRDATE:20260116T100000Z\r\n"
             "EXDATE:20260116T100000Z\r\n") TAIL,
     true},
    {"two rules and a dtstart neither yields",
     HEAD EV("UID:n\r\nDTSTART:20260104T090000Z\r\nDURATION:PT30M\r\n"
             "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=3\r\nRRULE:FREQ=WEEKLY;BYDAY=TH;COUNT=2\r\n") TAIL,
     true},
    {"vtodo series",
     HEAD TODO("UID:h\r\nDTSTART:20260105T080000Z\r\nDUE:20260105T100000Z\r\n"
               "RRULE:FREQ=WEEKLY;COUNT=3\r\n") TAIL,
     true},
    {"until with an exdate in a zone",
     HEAD BERLIN EV("UID:i\r\nDTSTART;TZID=Europe/Berlin:20260105T180000\r\nDURATION:PT2H\r\n"
                    "RRULE:FREQ=DAILY;UNTIL=20260112T170000Z\r\n"
                    "EXDATE;TZID=Europe/Berlin:20260109T180000\r\n") TAIL,
     true},
    {"unbounded weekly",
     HEAD EV("UID:j\r\nDTSTART:20260105T100000Z\r\nDURATION:PT1H\r\nRRULE:FREQ=WEEKLY\r\n") TAIL,
     false},
    {"more instances than the index keeps",
     HEAD EV("UID:k\r\nDTSTART:20260105T100000Z\r\nDURATION:PT1M\r\n"
             "RRULE:FREQ=HOURLY;COUNT=5000\r\n") TAIL,
     false},
};

/* The expansion's answer: does the object have an instance in [start, end)? */
static bool expansion_matches(const char *ics, int64_t start, int64_t end)
{
    struct arena *a = arena_create();
    struct err e;
    err_init(&e);
    struct slice out;
    assert_int_equal(cal_expand(slice_from_cstr(ics), start, end, a, &out, &e), 0);
    bool found = strstr(out.ptr + 1, "BEGIN:V") != NULL; /* a component after VCALENDAR */
    arena_destroy(&a);
    return found;
}

static void parse(const char *ics, struct arena *a, struct cal_info *info)
{
    struct err e;
    err_init(&e);
    int rc = cal_parse_object(slice_from_cstr(ics), CAL_COMP_VEVENT | CAL_COMP_VTODO, a, info, &e);
    if (rc != 0) {
        fail_msg("parse failed: %s", e.msg);
    }
}

/* A grid of ranges whose edges meet every instance boundary of the series above and one
 * second before it: each day from 2026-01-04 to 2026-01-26, starting at each boundary time
 * of day (or 1 s earlier), lasting 1 s, 45 min or a day. */
static void test_cal_instances_answer_as_the_expansion(void **state)
{
    (void)state;
    static const int64_t lengths[] = {1, 2700, 86400};
    static const int64_t times[] = {0,         8 * 3600,  9 * 3600,  10 * 3600, 38700,
                                    11 * 3600, 12 * 3600, 13 * 3600, 49500,     15 * 3600,
                                    16 * 3600, 17 * 3600, 19 * 3600};
    const int64_t first = 1767484800; /* 2026-01-04T00:00:00Z */
    for (size_t i = 0; i < sizeof(series) / sizeof(series[0]); i++) {
        struct arena *a = arena_create();
        struct cal_info info;
        parse(series[i].ics, a, &info);
        assert_true(info.is_recurring);
        if (info.has_instances != series[i].indexed) {
            fail_msg("%s: has_instances %d", series[i].name, info.has_instances);
        }
        if (!info.has_instances) {
            arena_destroy(&a);
            continue;
        }
        size_t checked = 0;
        size_t matched = 0;
        for (int64_t day = first; day < first + 23 * 86400; day += 86400) {
            for (size_t k = 0; k < 2 * sizeof(times) / sizeof(times[0]); k++) {
                int64_t s = day + times[k / 2] - (int64_t)(k % 2);
                for (size_t l = 0; l < sizeof(lengths) / sizeof(lengths[0]); l++) {
                    int64_t e = s + lengths[l];
                    int got = cal_instances_match(info.instances, info.instances_size, s, e);
                    bool want = expansion_matches(series[i].ics, s, e);
                    if (got != (want ? 1 : 0)) {
                        fail_msg("%s: [%lld, %lld) index %d, expansion %d", series[i].name,
                                 (long long)s, (long long)e, got, want);
                    }
                    checked++;
                    matched += want;
                }
            }
        }
        assert_true(matched > 0 && matched < checked); /* the grid tells both answers apart */
        arena_destroy(&a);
    }
}

/* Exact answers, worked out by hand. */
static void test_cal_instances_exact_cases(void **state)
{
    (void)state;
    const int64_t jan5 = 1767607200; /* 2026-01-05T10:00:00Z */
    const int64_t day = 86400;
    struct arena *a = arena_create();
    struct cal_info info;

    parse(series[0].ics, a, &info); /* weekly 10:00-10:45, the 01-12 one moved to 13:00 */
    assert_int_equal(cal_instances_match(info.instances, info.instances_size, jan5, jan5 + 1), 1);
    assert_int_equal(cal_instances_match(info.instances, info.instances_size, jan5 + 7 * day,
                                         jan5 + 7 * day + 2700),
                     0); /* the moved instance's original slot */
    assert_int_equal(cal_instances_match(info.instances, info.instances_size,
                                         jan5 + 7 * day + 3 * 3600, jan5 + 7 * day + 3 * 3600 + 1),
                     1); /* where it moved */
    assert_int_equal(
        cal_instances_match(info.instances, info.instances_size, jan5 + 2700, jan5 + 7 * day),
        0); /* after the first instance ends, before the (moved) second */
    assert_int_equal(
        cal_instances_match(info.instances, info.instances_size, jan5 + 35 * day, jan5 + 400 * day),
        0); /* after COUNT=5 */

    parse(series[1].ics, a, &info); /* daily 10:00-11:00, 01-07 excluded */
    assert_int_equal(cal_instances_match(info.instances, info.instances_size, jan5 + 2 * day,
                                         jan5 + 2 * day + 3600),
                     0);
    assert_int_equal(cal_instances_match(info.instances, info.instances_size, jan5 + 3 * day,
                                         jan5 + 3 * day + 3600),
                     1);

    parse(series[3].ics, a, &info); /* zero-length at 12:00: start <= s < end matches */
    const int64_t noon = jan5 + 7200;
    assert_int_equal(cal_instances_match(info.instances, info.instances_size, noon, noon + 1), 1);
    assert_int_equal(cal_instances_match(info.instances, info.instances_size, noon - 1, noon), 0);

    parse(series[2].ics, a, &info); /* the 01-26 instance moved to 01-06 15:00 */
    const int64_t jan6_15 = jan5 + day + 5 * 3600;
    assert_int_equal(
        cal_instances_match(info.instances, info.instances_size, jan6_15, jan6_15 + 3600), 0);
    assert_int_equal(
        cal_instances_match(info.instances, info.instances_size, jan6_15, jan5 + 21 * day + 1), 1);

    assert_int_equal(cal_instances_match("x", 1, 0, 1), -1); /* malformed */
    arena_destroy(&a);
}

/* The instants of cal_expand's answer over all time, from its RECURRENCE-IDs, as
 * "HHMM@DD" for the January days of 2026 in order. */
static void expanded(const char *ics, char *buf, size_t size)
{
    struct arena *a = arena_create();
    struct err e;
    err_init(&e);
    struct slice out;
    assert_int_equal(cal_expand(slice_from_cstr(ics), 0, INT64_MAX / 2, a, &out, &e), 0);
    buf[0] = 0;
    size_t at = 0;
    const char *p = out.ptr;
    while ((p = strstr(p, "RECURRENCE-ID:2026")) != NULL && at < size) {
        int w = snprintf(buf + at, size - at, "%s%.4s@%.2s", at ? " " : "", p + 23, p + 20);
        at += w > 0 ? (size_t)w : 0;
        p++;
    }
    arena_destroy(&a);
}

/* RFC 5545 §3.8.5: the recurrence set is DTSTART, each RRULE's instances and each RDATE,
 * an instant met twice counted once, less the EXDATEs; a PERIOD RDATE lasts as it says. */
static void test_cal_instances_recurrence_set(void **state)
{
    (void)state;
    char got[256];
    expanded(series[6].ics, got, sizeof(got)); /* DTSTART and one RDATE */
    assert_string_equal(got, "1000@05 1000@08");
    expanded(series[7].ics, got, sizeof(got));
    /* the rule's 05 and 12 (12 also an RDATE: once), the RDATEs of 07 and 14, 16 excluded */
    assert_string_equal(got, "1000@05 1500@07 1000@12 0800@14");
    expanded(series[8].ics, got, sizeof(got));
    /* DTSTART (a Sunday), Mondays 05 12 19, Thursdays 08 15 */
    assert_string_equal(got, "0900@04 0900@05 0900@08 0900@12 0900@15 0900@19");

    struct arena *a = arena_create();
    struct cal_info info;
    parse(series[7].ics, a, &info);
    const int64_t jan14_8 = 1767607200 + 9 * 86400 - 7200; /* 2026-01-14T08:00:00Z */
    /* the PERIOD lasts three hours, not DURATION's one */
    assert_int_equal(
        cal_instances_match(info.instances, info.instances_size, jan14_8 + 10000, jan14_8 + 10001),
        1);
    assert_int_equal(
        cal_instances_match(info.instances, info.instances_size, jan14_8 + 10800, jan14_8 + 20000),
        0);
    const int64_t jan16 = 1767607200 + 11 * 86400;
    assert_int_equal(cal_instances_match(info.instances, info.instances_size, jan16, jan16 + 3600),
                     0);
    arena_destroy(&a);
}

/* ---------------------------------------------------------------------------------------- */
/* Independent expectations (issue 17): the cases above compare the index with an expansion
 * made by the same walk. Here each series' instances are written out by hand from RFC 5545
 * (and a calendar), compared with what cal_expand() gives, and every narrow window around and
 * between them is asked of cal_instances_match() and of cal_expand(), against an overlap test
 * over the hand-written list. */

/* Unix seconds of "YYYYMMDDTHHMMSSZ", without libical (days from the civil date). */
static int64_t utc(const char *s)
{
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, se = 0;
    if (sscanf(s, "%4d%2d%2dT%2d%2d%2dZ", &y, &mo, &d, &h, &mi, &se) != 6) {
        fail_msg("bad time %s", s);
    }
    y -= mo <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const int64_t yoe = y - era * 400;
    const int64_t doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    const int64_t days = era * 146097 + doe - 719468;
    return days * 86400 + h * 3600 + mi * 60 + se;
}

/* Seconds of a DURATION value of the forms cal_expand writes (P[nD][T[nH][nM][nS]]). */
static int64_t duration(const char *v)
{
    int64_t total = 0;
    int64_t n = 0;
    for (const char *p = v; *p && *p != '\r' && *p != '\n'; p++) {
        if (*p >= '0' && *p <= '9') {
            n = n * 10 + (*p - '0');
            continue;
        }
        total += n * (*p == 'W'   ? 604800
                      : *p == 'D' ? 86400
                      : *p == 'H' ? 3600
                      : *p == 'M' ? 60
                      : *p == 'S' ? 1
                                  : 0);
        n = 0;
    }
    return total;
}

struct span {
    int64_t start;
    int64_t end;
};

enum {
    MAX_EXACT = 8
};

struct exact {
    const char *name;
    const char *ics;
    const char *inst[MAX_EXACT][2]; /* start, end in UTC, ascending by start; NULL ends */
};

static const struct exact exact[] = {
    {"weekly with an EXDATE: COUNT counts the excluded 01-19",
     HEAD EV("UID:x1\r\nDTSTART:20260105T100000Z\r\nDTEND:20260105T110000Z\r\n"
             "RRULE:FREQ=WEEKLY;COUNT=5\r\nEXDATE:20260119T100000Z\r\n") TAIL,
     {{"20260105T100000Z", "20260105T110000Z"},
      {"20260112T100000Z", "20260112T110000Z"},
      {"20260126T100000Z", "20260126T110000Z"},
      {"20260202T100000Z", "20260202T110000Z"}}},
    {"monthly on the last Friday",
     HEAD EV("UID:x2\r\nDTSTART:20260130T090000Z\r\nDTEND:20260130T100000Z\r\n"
             "RRULE:FREQ=MONTHLY;BYDAY=-1FR;COUNT=4\r\n") TAIL,
     {{"20260130T090000Z", "20260130T100000Z"},
      {"20260227T090000Z", "20260227T100000Z"},
      {"20260327T090000Z", "20260327T100000Z"},
      {"20260424T090000Z", "20260424T100000Z"}}},
    {"RDATE periods, explicit end and duration",
     HEAD EV("UID:x3\r\nDTSTART:20260105T100000Z\r\nDTEND:20260105T110000Z\r\n"
             "RDATE;VALUE=PERIOD:20260107T140000Z/20260107T170000Z,20260109T080000Z/PT30M\r\n")
         TAIL,
     {{"20260105T100000Z", "20260105T110000Z"},
      {"20260107T140000Z", "20260107T170000Z"},
      {"20260109T080000Z", "20260109T083000Z"}}},
    {"an override moves the 01-06 instance to the afternoon and lengthens it",
     HEAD EV("UID:x4\r\nDTSTART:20260105T100000Z\r\nDTEND:20260105T110000Z\r\n"
             "RRULE:FREQ=DAILY;COUNT=4\r\n")
         EV("UID:x4\r\nRECURRENCE-ID:20260106T100000Z\r\nDTSTART:20260106T150000Z\r\n"
            "DTEND:20260106T163000Z\r\n") TAIL,
     {{"20260105T100000Z", "20260105T110000Z"},
      {"20260106T150000Z", "20260106T163000Z"},
      {"20260107T100000Z", "20260107T110000Z"},
      {"20260108T100000Z", "20260108T110000Z"}}},
    {"09:00 in Berlin across the spring change (2026-03-29): 08:00Z, then 07:00Z",
     HEAD BERLIN EV("UID:x5\r\nDTSTART;TZID=Europe/Berlin:20260327T090000\r\n"
                    "DTEND;TZID=Europe/Berlin:20260327T100000\r\nRRULE:FREQ=DAILY;COUNT=4\r\n")
         TAIL,
     {{"20260327T080000Z", "20260327T090000Z"},
      {"20260328T080000Z", "20260328T090000Z"},
      {"20260329T070000Z", "20260329T080000Z"},
      {"20260330T070000Z", "20260330T080000Z"}}},
    {"18:00 in Berlin across the autumn change (2026-10-25): 16:00Z, then 17:00Z",
     HEAD BERLIN EV("UID:x6\r\nDTSTART;TZID=Europe/Berlin:20261019T180000\r\n"
                    "DTEND;TZID=Europe/Berlin:20261019T190000\r\nRRULE:FREQ=WEEKLY;COUNT=3\r\n")
         TAIL,
     {{"20261019T160000Z", "20261019T170000Z"},
      {"20261026T170000Z", "20261026T180000Z"},
      {"20261102T170000Z", "20261102T180000Z"}}},
};

static size_t exact_spans(const struct exact *x, struct span *out)
{
    size_t n = 0;
    while (n < MAX_EXACT && x->inst[n][0]) {
        out[n].start = utc(x->inst[n][0]);
        out[n].end = utc(x->inst[n][1]);
        n++;
    }
    return n;
}

/* The hand-written answer: an instance overlaps [s, e) (none here has zero length). */
static bool spans_overlap(const struct span *sp, size_t n, int64_t s, int64_t e)
{
    for (size_t i = 0; i < n; i++) {
        if (sp[i].start < e && sp[i].end > s) {
            return true;
        }
    }
    return false;
}

static int cmp_span(const void *a, const void *b)
{
    const struct span *x = a;
    const struct span *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

/* The instances of cal_expand()'s answer over all time, from each component's DTSTART and
 * DTEND or DURATION (all in UTC), sorted by start. Returns how many. */
static size_t expansion_spans(const char *ics, struct span *out, size_t max)
{
    struct arena *a = arena_create();
    struct err e;
    err_init(&e);
    struct slice exp;
    assert_int_equal(cal_expand(slice_from_cstr(ics), 0, INT64_MAX / 2, a, &exp, &e), 0);
    size_t n = 0;
    const char *p = exp.ptr;
    while ((p = strstr(p, "BEGIN:VEVENT")) != NULL) {
        const char *endc = strstr(p, "END:VEVENT");
        assert_non_null(endc);
        const char *ds = strstr(p, "\nDTSTART:");
        assert_true(ds && ds < endc);
        assert_true(n < max);
        out[n].start = utc(ds + 9);
        const char *de = strstr(p, "\nDTEND:");
        const char *du = strstr(p, "\nDURATION:");
        if (de && de < endc) {
            out[n].end = utc(de + 7);
        } else if (du && du < endc) {
            out[n].end = out[n].start + duration(du + 10);
        } else {
            out[n].end = out[n].start;
        }
        n++;
        p = endc;
    }
    arena_destroy(&a);
    qsort(out, n, sizeof(*out), cmp_span);
    return n;
}

/* Each case's expansion is exactly the hand-written list, and the index and the expansion
 * answer every narrow window the way the list does: one second at each start and end, on
 * both sides, and the whole gap between consecutive instances. */
static void test_cal_instances_match_hand_written_instances(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof(exact) / sizeof(exact[0]); c++) {
        const struct exact *x = &exact[c];
        struct span want[MAX_EXACT];
        size_t n = exact_spans(x, want);
        struct span got[4 * MAX_EXACT];
        size_t m = expansion_spans(x->ics, got, 4 * MAX_EXACT);
        if (m != n) {
            fail_msg("%s: cal_expand gives %zu instances, %zu expected", x->name, m, n);
        }
        for (size_t i = 0; i < n; i++) {
            if (got[i].start != want[i].start || got[i].end != want[i].end) {
                fail_msg("%s: instance %zu is [%lld, %lld), expected [%lld, %lld) (%s)", x->name, i,
                         (long long)got[i].start, (long long)got[i].end, (long long)want[i].start,
                         (long long)want[i].end, x->inst[i][0]);
            }
        }
        struct arena *a = arena_create();
        struct cal_info info;
        parse(x->ics, a, &info);
        if (!info.has_instances) {
            fail_msg("%s: no instance index", x->name);
        }
        struct span windows[6 * MAX_EXACT];
        size_t nw = 0;
        for (size_t i = 0; i < n; i++) {
            windows[nw++] = (struct span){want[i].start - 1, want[i].start};
            windows[nw++] = (struct span){want[i].start, want[i].start + 1};
            windows[nw++] = (struct span){want[i].end - 1, want[i].end};
            windows[nw++] = (struct span){want[i].end, want[i].end + 1};
            if (i + 1 < n && want[i].end < want[i + 1].start) {
                windows[nw++] = (struct span){want[i].end, want[i + 1].start};
            }
        }
        size_t hits = 0;
        for (size_t w = 0; w < nw; w++) {
            bool expect = spans_overlap(want, n, windows[w].start, windows[w].end);
            int idx = cal_instances_match(info.instances, info.instances_size, windows[w].start,
                                          windows[w].end);
            bool exp = expansion_matches(x->ics, windows[w].start, windows[w].end);
            if (idx != (expect ? 1 : 0) || exp != expect) {
                fail_msg("%s: [%lld, %lld): index %d, expansion %d, expected %d", x->name,
                         (long long)windows[w].start, (long long)windows[w].end, idx, exp, expect);
            }
            hits += expect;
        }
        assert_int_equal(hits, 2 * n); /* the two inner seconds of each instance, nothing else */
        arena_destroy(&a);
    }
}

/* A single object needs no index: its span is exact. */
static void test_cal_instances_only_for_series(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    struct cal_info info;
    parse(HEAD EV("UID:s\r\nDTSTART:20260105T100000Z\r\nDURATION:PT1H\r\n") TAIL, a, &info);
    assert_false(info.is_recurring);
    assert_false(info.has_instances);
    arena_destroy(&a);
}

static int setup(void **state)
{
    (void)state;
    cal_init();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cal_shutdown();
    return 0;
}

/* cal_busy() walks the object itself rather than parsing its expansion again (session 7);
 * its periods must be the ones the expansion shows: each VEVENT instance of the expansion
 * overlapping the range, not TRANSP:TRANSPARENT or STATUS:CANCELLED, longer than an
 * instant, clipped, with the override's properties for an override. Checked on the series
 * above and on series whose overrides change TRANSP and STATUS. (It found that the expansion
 * gave a PERIOD RDATE's instance the master's DURATION instead of its period's.) */
struct fb {
    int64_t start;
    int64_t end;
    int type;
};

enum {
    MAX_FB = 2048
};

struct fb_list {
    struct fb v[MAX_FB];
    size_t n;
};

static int add_fb(void *ctx, int64_t start, int64_t end, enum cal_fbtype type)
{
    struct fb_list *l = ctx;
    assert_true(l->n < MAX_FB);
    l->v[l->n++] = (struct fb){start, end, (int)type};
    return 0;
}

static int cmp_fb(const void *pa, const void *pb)
{
    const struct fb *a = pa, *b = pb;
    if (a->start != b->start) {
        return a->start < b->start ? -1 : 1;
    }
    if (a->end != b->end) {
        return a->end < b->end ? -1 : 1;
    }
    return a->type - b->type;
}

/* The value of the first line of the component at `c` (up to its END:) named `name` (":" or
 * ";" follows), or NULL. */
static const char *line_value(const char *c, const char *name)
{
    const char *end = strstr(c, "END:VEVENT");
    size_t n = strlen(name);
    for (const char *p = c; p && p < end; p = strstr(p, "\r\n")) {
        p += p[0] == '\r' ? 2 : 0;
        if (strncmp(p, name, n) == 0 && (p[n] == ':' || p[n] == ';')) {
            return strchr(p, ':') + 1;
        }
    }
    return NULL;
}

/* UTC seconds of a DTSTART/DTEND value as cal_expand writes them: UTC, or a DATE. */
static int64_t value_time(const char *v, bool *is_date)
{
    *is_date = v[8] != 'T';
    if (!*is_date) {
        return utc(v);
    }
    char buf[17];
    memcpy(buf, v, 8);
    memcpy(buf + 8, "T000000Z", 9);
    return utc(buf);
}

static void expansion_busy(const char *ics, int64_t start, int64_t end, struct fb_list *out)
{
    struct arena *a = arena_create();
    struct err e;
    err_init(&e);
    struct slice x;
    assert_int_equal(cal_expand(slice_from_cstr(ics), start, end, a, &x, &e), 0);
    out->n = 0;
    for (const char *c = strstr(x.ptr, "BEGIN:VEVENT"); c; c = strstr(c + 1, "BEGIN:VEVENT")) {
        const char *tr = line_value(c, "TRANSP");
        const char *st = line_value(c, "STATUS");
        if ((tr && strncmp(tr, "TRANSPARENT", 11) == 0) ||
            (st && strncmp(st, "CANCELLED", 9) == 0)) {
            continue;
        }
        bool is_date = false, end_date = false;
        int64_t s = value_time(line_value(c, "DTSTART"), &is_date);
        const char *dte = line_value(c, "DTEND");
        const char *dur = line_value(c, "DURATION");
        int64_t en = dte       ? value_time(dte, &end_date)
                     : dur     ? s + duration(dur)
                     : is_date ? s + 86400
                               : s;
        if (en <= s || en <= start || s >= end) {
            continue;
        }
        assert_true(out->n < MAX_FB);
        out->v[out->n++] =
            (struct fb){s < start ? start : s, en > end ? end : en,
                        st && strncmp(st, "TENTATIVE", 9) == 0 ? CAL_FB_TENTATIVE : CAL_FB_BUSY};
    }
    arena_destroy(&a);
}

static void test_cal_busy_answers_as_the_expansion(void **state)
{
    (void)state;
    static const char *more[] = {
        HEAD EV("UID:o1\r\nDTSTART:20260105T100000Z\r\nDTEND:20260105T110000Z\r\n"
                "RRULE:FREQ=DAILY;COUNT=6\r\n")
            EV("UID:o1\r\nRECURRENCE-ID:20260106T100000Z\r\nDTSTART:20260106T100000Z\r\n"
               "DTEND:20260106T110000Z\r\nTRANSP:TRANSPARENT\r\n")
                EV("UID:o1\r\nRECURRENCE-ID:20260107T100000Z\r\nDTSTART:20260107T120000Z\r\n"
                   "DTEND:20260107T123000Z\r\nSTATUS:TENTATIVE\r\n")
                    EV("UID:o1\r\nRECURRENCE-ID:20260108T100000Z\r\nDTSTART:20260108T100000Z\r\n"
                       "DTEND:20260108T110000Z\r\nSTATUS:CANCELLED\r\n") TAIL,
        HEAD EV("UID:o2\r\nDTSTART:20260105T100000Z\r\nDTEND:20260105T110000Z\r\n"
                "STATUS:TENTATIVE\r\nRRULE:FREQ=WEEKLY;COUNT=3\r\n")
            EV("UID:o2\r\nRECURRENCE-ID:20260112T100000Z\r\nDTSTART:20260112T090000Z\r\n"
               "DTEND:20260112T093000Z\r\nSTATUS:CONFIRMED\r\n") TAIL,
        HEAD EV("UID:o3\r\nDTSTART:20260105T100000Z\r\nDTEND:20260105T110000Z\r\n"
                "TRANSP:TRANSPARENT\r\nRRULE:FREQ=DAILY;COUNT=3\r\n")
            EV("UID:o3\r\nRECURRENCE-ID:20260106T100000Z\r\nDTSTART:20260106T140000Z\r\n"
               "DTEND:20260106T150000Z\r\nTRANSP:OPAQUE\r\n") TAIL,
    };
    /* ranges: the whole month, and edges that cut instances */
    const int64_t ranges[][2] = {{1767225600, 1769904000},  /* January 2026 */
                                 {1767609000, 1767874200},  /* 01-05 10:30 to 01-08 12:10 */
                                 {1767700800, 1768219200}}; /* 01-06 12:00 to 01-12 12:00 */
    size_t total = 0;
    for (size_t i = 0; i < sizeof(series) / sizeof(series[0]) + sizeof(more) / sizeof(more[0]);
         i++) {
        const char *ics = i < sizeof(series) / sizeof(series[0])
                              ? series[i].ics
                              : more[i - sizeof(series) / sizeof(series[0])];
        for (size_t r = 0; r < sizeof(ranges) / sizeof(ranges[0]); r++) {
            static struct fb_list want, got;
            got.n = 0;
            expansion_busy(ics, ranges[r][0], ranges[r][1], &want);
            struct arena *a = arena_create();
            struct err e;
            err_init(&e);
            assert_int_equal(
                cal_busy(slice_from_cstr(ics), ranges[r][0], ranges[r][1], a, add_fb, &got, &e), 0);
            arena_destroy(&a);
            qsort(want.v, want.n, sizeof(want.v[0]), cmp_fb);
            qsort(got.v, got.n, sizeof(got.v[0]), cmp_fb);
            if (got.n != want.n) {
                fail_msg("series %zu, range %zu: %zu periods, the expansion %zu", i, r, got.n,
                         want.n);
            }
            for (size_t k = 0; k < got.n; k++) {
                if (cmp_fb(&got.v[k], &want.v[k]) != 0) {
                    fail_msg("series %zu, range %zu, period %zu: [%lld, %lld) %d, the expansion "
                             "[%lld, %lld) %d",
                             i, r, k, (long long)got.v[k].start, (long long)got.v[k].end,
                             got.v[k].type, (long long)want.v[k].start, (long long)want.v[k].end,
                             want.v[k].type);
                }
            }
            total += got.n;
        }
    }
    assert_true(total > 40); /* the objects above are busy often enough to tell */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cal_instances_answer_as_the_expansion),
        cmocka_unit_test(test_cal_instances_exact_cases),
        cmocka_unit_test(test_cal_instances_recurrence_set),
        cmocka_unit_test(test_cal_instances_match_hand_written_instances),
        cmocka_unit_test(test_cal_instances_only_for_series),
        cmocka_unit_test(test_cal_busy_answers_as_the_expansion),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
