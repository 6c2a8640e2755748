/* tests/unit/cal/test_cal_limits.c: the work one calendar object may cost is bounded (issue
 * 18). Pathological objects — an unbounded rule in a VTIMEZONE, sub-daily rules over decades,
 * COUNT 10^9, BY parts that never match, 100,000 RDATEs — are each validated (refused with
 * the documented condition, or accepted with a bounded index) and, as objects already stored,
 * expanded, filtered and turned into free-busy, each within a bound far below the hang they
 * used to cause. The bound is generous (sanitizer builds on a loaded 2-core machine); the
 * times a release build takes are in BENCHMARKS.md. Also: the time-zone cache shares one
 * zone between objects, a per-thread deadline stops a walk at once with err_cond_time_budget,
 * and each CAL_MAX_* bound and max_tz_transitions holds exactly where cal.h puts it (one past
 * it is refused or unbounded), so that a weakened bound fails here (tests/mutate). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "cal/cal.h"
#include "util/buf.h"
#include "util/deadline.h"
#include "util/timeutil.h"

#define HEAD "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Almanac tests//EN\r\n"
#define TAIL "END:VCALENDAR\r\n"

enum {
    BOUND_US = 10000000, /* per call; the defects these guard against never return. Times
                            ALMANAC_TEST_BOUND_SCALE (the ThreadSanitizer run sets 5) */
};

/* The object of issue 18, as it was found. */
static const char tz_hang[] = HEAD "BEGIN:VTIMEZONE\r\nTZID:X\r\nBEGIN:DAYLIGHT\r\n"
                                   "TZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\n"
                                   "DTSTART:19700329T020000\r\nRRULE:FREQ=SECONDLY\r\n"
                                   "END:DAYLIGHT\r\nEND:VTIMEZONE\r\n"
                                   "BEGIN:VEVENT\r\nUID:tz-hang\r\nDTSTAMP:20260101T000000Z\r\n"
                                   "DTSTART;TZID=X:20260105T100000\r\nEND:VEVENT\r\n" TAIL;

#define VTZ(tzid, rule)                                                                        \
  "BEGIN:VTIMEZONE\r\nTZID:" tzid "\r\nBEGIN:STANDARD\r\nTZOFFSETFROM:+0200\r\n"               \
  "TZOFFSETTO:+0100\r\nDTSTART:19701025T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\n" \
  "END:STANDARD\r\nBEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\n"               \
  "DTSTART:19700329T020000\r\nRRULE:" rule "\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n"

#define EVENT(tzid, extra)                                                  \
  "BEGIN:VEVENT\r\nUID:u\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID=" tzid \
  ":20260105T100000\r\nDURATION:PT1H\r\n" extra "END:VEVENT\r\n"

#define UTC_EVENT(extra)                                                                   \
  HEAD "BEGIN:VEVENT\r\nUID:u\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:19700105T100000Z\r\n" \
       "DURATION:PT1S\r\n" extra "END:VEVENT\r\n" TAIL

struct patho {
    const char *name;
    const char *ics;
    const char *refused; /* the condition on write, or NULL: accepted, index bounded */
};

static const struct patho cases[] = {
    {"vtimezone FREQ=SECONDLY (issue 18)", tz_hang, "valid-calendar-data"},
    {"vtimezone FREQ=MINUTELY", HEAD VTZ("M", "FREQ=MINUTELY") EVENT("M", "") TAIL,
     "valid-calendar-data"},
    {"vtimezone FREQ=DAILY", HEAD VTZ("D", "FREQ=DAILY") EVENT("D", "") TAIL,
     "valid-calendar-data"},
    {"vtimezone FREQ=SECONDLY;COUNT=1000000000",
     HEAD VTZ("C", "FREQ=SECONDLY;COUNT=1000000000") EVENT("C", "") TAIL, "valid-calendar-data"},
    {"vtimezone sub-daily with BYMONTH",
     HEAD VTZ("B", "FREQ=SECONDLY;BYMONTH=3") EVENT("B", "") TAIL, "valid-calendar-data"},
    {"vtimezone rule never matching",
     HEAD VTZ("N", "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30") EVENT("N", "") TAIL, NULL},
    {"vtimezone unused but unbounded",
     HEAD VTZ("U", "FREQ=SECONDLY") "BEGIN:VEVENT\r\nUID:u\r\nDTSTAMP:20260101T000000Z\r\n"
                                    "DTSTART:20260105T100000Z\r\nEND:VEVENT\r\n" TAIL,
     "valid-calendar-data"},
    {"vevent FREQ=SECONDLY over decades",
     UTC_EVENT("RRULE:FREQ=SECONDLY;UNTIL=20300101T000000Z\r\n"), NULL},
    {"vevent FREQ=MINUTELY over decades",
     UTC_EVENT("RRULE:FREQ=MINUTELY;UNTIL=20300101T000000Z\r\n"), NULL},
    {"vevent COUNT=1000000000", UTC_EVENT("RRULE:FREQ=DAILY;COUNT=1000000000\r\n"), NULL},
    {"vevent BYSETPOS never matching", UTC_EVENT("RRULE:FREQ=MONTHLY;BYDAY=MO;BYSETPOS=6\r\n"),
     NULL},
    {"vevent BYSETPOS never matching, yearly",
     UTC_EVENT("RRULE:FREQ=YEARLY;BYMONTH=2;BYDAY=1MO,2MO;BYSETPOS=3\r\n"), NULL},
    {"vevent BYMONTHDAY never matching",
     UTC_EVENT("RRULE:FREQ=YEARLY;BYMONTH=4,6,9,11;BYMONTHDAY=31\r\n"), NULL},
    {"vevent sub-daily with BYMONTHDAY", UTC_EVENT("RRULE:FREQ=SECONDLY;BYMONTHDAY=31\r\n"),
     "valid-calendar-data"},
};

static struct arena *arena;

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

static int64_t elapsed_since(int64_t t0)
{
    return time_mono_us() - t0;
}

static void check_bounded(const char *what, const char *name, int64_t t0)
{
    int64_t us = elapsed_since(t0);
    const char *scale = getenv("ALMANAC_TEST_BOUND_SCALE");
    int64_t bound = BOUND_US * (scale ? strtol(scale, NULL, 10) : 1);
    if (getenv("ALMANAC_TEST_TIMES")) {
        fprintf(stderr, "%-16s %-45s %8.1f ms\n", what, name, (double)us / 1000.0);
    }
    if (us > bound) {
        fail_msg("%s of \"%s\" took %lld ms", what, name, (long long)(us / 1000));
    }
}

static int count_busy(void *ctx, int64_t start, int64_t end, enum cal_fbtype type)
{
    (void)start;
    (void)end;
    (void)type;
    (*(size_t *)ctx)++;
    return 0;
}

/* Validation refuses what the table says, at once; what it accepts has a span. */
static void test_pathological_objects_are_decided_at_once(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        arena = arena_create();
        struct cal_info info;
        struct err e;
        err_init(&e);
        int64_t t0 = time_mono_us();
        int rc = cal_parse_object(slice_from_cstr(cases[i].ics), CAL_COMP_VEVENT, arena, &info, &e);
        check_bounded("validation", cases[i].name, t0);
        if (cases[i].refused) {
            if (rc == 0 || !e.cond || strcmp(e.cond->name, cases[i].refused) != 0) {
                fail_msg("\"%s\": want %s, got rc %d %s", cases[i].name, cases[i].refused, rc,
                         e.cond ? e.cond->name : "no condition");
            }
        } else if (rc != 0) {
            fail_msg("\"%s\" refused: %s", cases[i].name, e.msg);
        } else {
            assert_true(info.has_span);
            assert_true(info.instances_size <= 24 * CAL_MAX_INDEXED_INSTANCES + 64);
        }
        arena_destroy(&arena);
    }
}

/* The issue's object names the zone in its message, so the client learns what to fix. */
static void test_refusal_names_the_zone_and_the_limit(void **state)
{
    (void)state;
    arena = arena_create();
    struct cal_info info;
    struct err e;
    err_init(&e);
    assert_int_equal(cal_parse_object(slice_from_cstr(tz_hang), CAL_COMP_VEVENT, arena, &info, &e),
                     -1);
    assert_ptr_equal(e.cond, &cal_cond_valid_calendar_data);
    assert_non_null(strstr(e.msg, "VTIMEZONE X"));
    assert_non_null(strstr(e.msg, "RRULE")); /* which part of the zone is at fault */
    arena_destroy(&arena);
}

/* Objects stored before the check (or by any path that skipped it) are answered: expand,
 * filter and free-busy all return, the unexpandable zone read as UTC. */
static void test_stored_pathological_objects_are_answered(void **state)
{
    (void)state;
    const int64_t jan2026 = 1767225600; /* 2026-01-01T00:00:00Z */
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        arena = arena_create();
        struct slice ics = slice_from_cstr(cases[i].ics);
        struct err e;
        err_init(&e);
        struct slice out;
        int64_t t0 = time_mono_us();
        assert_int_equal(cal_expand(ics, jan2026, jan2026 + 7 * 86400, arena, &out, &e), 0);
        check_bounded("expand", cases[i].name, t0);
        if (!strstr(out.ptr, "BEGIN:VCALENDAR")) {
            fail_msg("expand of \"%s\" gave %s", cases[i].name, out.ptr);
        }

        struct cal_filter f = {.kind = CAL_FILTER_COMP, .name = "VCALENDAR"};
        struct cal_filter ev = {.kind = CAL_FILTER_COMP,
                                .name = "VEVENT",
                                .has_range = true,
                                .start = jan2026,
                                .end = jan2026 + 86400};
        f.children = &ev;
        t0 = time_mono_us();
        assert_true(cal_filter_match(ics, &f, arena, &e) >= 0);
        check_bounded("calendar-query", cases[i].name, t0);

        size_t periods = 0;
        t0 = time_mono_us();
        assert_int_equal(cal_busy(ics, jan2026, jan2026 + 86400, arena, count_busy, &periods, &e),
                         0);
        check_bounded("free-busy", cases[i].name, t0);
        arena_destroy(&arena);
    }
    /* the issue's object: its event at 10:00 in a zone read as UTC */
    arena = arena_create();
    struct err e;
    err_init(&e);
    struct slice out;
    assert_int_equal(
        cal_expand(slice_from_cstr(tz_hang), jan2026, jan2026 + 30 * 86400, arena, &out, &e), 0);
    assert_non_null(strstr(out.ptr, "DTSTART:20260105T100000Z"));
    arena_destroy(&arena);
}

/* 100,000 RDATEs: a valid object as large as max_resource_size allows; bounded work. */
static void test_many_rdates_are_bounded(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 8u << 20);
    assert_int_equal(buf_append_cstr(&b,
                                     HEAD "BEGIN:VEVENT\r\nUID:r\r\nDTSTAMP:20260101T000000Z\r\n"
                                          "DTSTART:20000101T000000Z\r\n"),
                     0);
    for (int i = 0; i < 100000; i++) {
        char line[64];
        int64_t t = 946684800 + (int64_t)i * 3600;
        time_t tt = (time_t)t;
        struct tm tm;
        gmtime_r(&tt, &tm);
        strftime(line, sizeof(line), "RDATE:%Y%m%dT%H%M%SZ\r\n", &tm);
        assert_int_equal(buf_append_cstr(&b, line), 0);
    }
    assert_int_equal(buf_append_cstr(&b, "END:VEVENT\r\n" TAIL), 0);
    arena = arena_create();
    struct cal_info info;
    struct err e;
    err_init(&e);
    int64_t t0 = time_mono_us();
    int rc = cal_parse_object(buf_slice(&b), CAL_COMP_VEVENT, arena, &info, &e);
    check_bounded("validation", "100,000 RDATEs", t0);
    assert_int_equal(rc, 0);
    assert_true(info.has_span);
    assert_int_equal(info.dtstart_utc, 946684800);
    assert_int_equal(info.dtend_utc, 946684800 + 99999 * 3600);
    struct slice out;
    t0 = time_mono_us();
    assert_int_equal(cal_expand(buf_slice(&b), 946684800, 946684800 + 86400, arena, &out, &e), 0);
    check_bounded("expand", "100,000 RDATEs", t0);
    arena_destroy(&arena);
    buf_deinit(&b);
}

/* A zone as Outlook writes it (yearly from 1601) passes; a limit below its changes refuses
 * it; the default is restored by 0. */
static void test_max_tz_transitions_is_the_limit(void **state)
{
    (void)state;
    static const char outlook[] =
        HEAD "BEGIN:VTIMEZONE\r\nTZID:W. Europe Standard Time\r\nBEGIN:STANDARD\r\n"
             "DTSTART:16010101T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\n"
             "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\r\nEND:STANDARD\r\nBEGIN:DAYLIGHT\r\n"
             "DTSTART:16010101T020000\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\n"
             "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n"
             "BEGIN:VEVENT\r\nUID:o\r\nDTSTAMP:20260101T000000Z\r\n"
             "DTSTART;TZID=W. Europe Standard Time:20260105T110000\r\nEND:VEVENT\r\n" TAIL;
    arena = arena_create();
    struct cal_info info;
    struct err e;
    err_init(&e);
    assert_int_equal(cal_parse_object(slice_from_cstr(outlook), CAL_COMP_VEVENT, arena, &info, &e),
                     0);
    assert_int_equal(info.dtstart_utc, 1767607200); /* 11:00 CET = 10:00Z */
    cal_shutdown();                                 /* forget the cached verdict */
    cal_init();
    cal_set_max_tz_transitions(1000);
    err_init(&e);
    assert_int_equal(cal_parse_object(slice_from_cstr(outlook), CAL_COMP_VEVENT, arena, &info, &e),
                     -1);
    assert_ptr_equal(e.cond, &cal_cond_valid_calendar_data);
    assert_non_null(strstr(e.msg, "max_tz_transitions"));
    cal_shutdown();
    cal_init();
    cal_set_max_tz_transitions(0);
    assert_int_equal(cal_max_tz_transitions(), CAL_DEFAULT_MAX_TZ_TRANSITIONS);
    arena_destroy(&arena);
}

/* The second object with the same VTIMEZONE reuses the expansion: converting in it costs far
 * less than the first time (libical expands an Outlook zone from 1601, ~50 ms). */
static void test_zone_expansion_is_shared_between_objects(void **state)
{
    (void)state;
    static const char obj[] =
        HEAD "BEGIN:VTIMEZONE\r\nTZID:Shared\r\nBEGIN:STANDARD\r\n"
             "DTSTART:16010101T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\n"
             "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\r\nEND:STANDARD\r\nBEGIN:DAYLIGHT\r\n"
             "DTSTART:16010101T020000\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\n"
             "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n"
             "BEGIN:VEVENT\r\nUID:s\r\nDTSTAMP:20260101T000000Z\r\n"
             "DTSTART;TZID=Shared:20260705T120000\r\nEND:VEVENT\r\n" TAIL;
    arena = arena_create();
    struct cal_info info;
    struct err e;
    int64_t first = 0;
    int64_t rest = INT64_MAX;
    for (int i = 0; i < 20; i++) {
        err_init(&e);
        int64_t t0 = time_mono_us();
        if (cal_parse_object(slice_from_cstr(obj), CAL_COMP_VEVENT, arena, &info, &e) != 0) {
            fail_msg("refused: %s", e.msg);
        }
        int64_t us = elapsed_since(t0);
        assert_int_equal(info.dtstart_utc, 1783245600); /* 12:00 CEST = 10:00Z */
        if (i == 0) {
            first = us;
        } else if (us < rest) {
            rest = us;
        }
    }
    /* the first parse expands 1601..2031 (~860 changes); the others only look it up */
    if (!(rest * 4 < first)) {
        fail_msg("first parse %lld us, fastest later one %lld us: the zone was not shared",
                 (long long)first, (long long)rest);
    }
    arena_destroy(&arena);
}

/* Two objects define the same TZID differently (a zone whose rules changed between two
 * exports): the cache is keyed by the definition, so each object converts in its own. */
static void test_same_tzid_with_another_definition(void **state)
{
    (void)state;
    static const char fmt[] =
        HEAD "BEGIN:VTIMEZONE\r\nTZID:Office\r\nBEGIN:STANDARD\r\nTZOFFSETFROM:%s\r\n"
             "TZOFFSETTO:%s\r\nDTSTART:19700101T000000\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"
             "BEGIN:VEVENT\r\nUID:o\r\nDTSTAMP:20260101T000000Z\r\n"
             "DTSTART;TZID=Office:20260105T100000\r\nDURATION:PT1H\r\n"
             "RRULE:FREQ=DAILY;COUNT=3\r\nEND:VEVENT\r\n" TAIL;
    char east[1024];
    char west[1024];
    snprintf(east, sizeof(east), fmt, "+0100", "+0100");
    snprintf(west, sizeof(west), fmt, "-0500", "-0500");
    const int64_t ten_utc = 1767607200; /* 2026-01-05T10:00:00Z */
    for (int round = 0; round < 3; round++) {
        arena = arena_create();
        struct cal_info a;
        struct cal_info b;
        struct err e;
        err_init(&e);
        assert_int_equal(cal_parse_object(slice_from_cstr(east), CAL_COMP_VEVENT, arena, &a, &e),
                         0);
        assert_int_equal(cal_parse_object(slice_from_cstr(west), CAL_COMP_VEVENT, arena, &b, &e),
                         0);
        assert_int_equal(a.dtstart_utc, ten_utc - 3600);
        assert_int_equal(b.dtstart_utc, ten_utc + 5 * 3600);
        struct slice out;
        assert_int_equal(
            cal_expand(slice_from_cstr(west), ten_utc, ten_utc + 86400, arena, &out, &e), 0);
        assert_non_null(strstr(out.ptr, "DTSTART:20260105T150000Z"));
        assert_int_equal(
            cal_expand(slice_from_cstr(east), ten_utc, ten_utc + 86400, arena, &out, &e), 0);
        assert_non_null(strstr(out.ptr, "DTSTART:20260106T090000Z"));
        assert_null(strstr(out.ptr, "T150000Z"));
        arena_destroy(&arena);
    }
}

/* Queries read a stored object without parsing its VTIMEZONEs (cal_tree_parse_read): the
 * object's own definition still decides, even under a TZID libical also has built in. */
static void test_read_path_uses_the_objects_own_zone(void **state)
{
    (void)state;
    static const char own[] =
        HEAD "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:STANDARD\r\nTZOFFSETFROM:+0300\r\n"
             "TZOFFSETTO:+0300\r\nDTSTART:19700101T000000\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"
             "BEGIN:VEVENT\r\nUID:b\r\nDTSTAMP:20260101T000000Z\r\n"
             "DTSTART;TZID=Europe/Berlin:20260105T100000\r\nDURATION:PT1H\r\n"
             "RRULE:FREQ=DAILY;COUNT=2\r\nEND:VEVENT\r\n" TAIL;
    static const char builtin[] = HEAD "BEGIN:VEVENT\r\nUID:b\r\nDTSTAMP:20260101T000000Z\r\n"
                                       "DTSTART;TZID=Europe/Berlin:20260105T100000\r\n"
                                       "DURATION:PT1H\r\nRRULE:FREQ=DAILY;COUNT=2\r\n"
                                       "END:VEVENT\r\n" TAIL;
    const int64_t day = 1767571200;           /* 2026-01-05T00:00:00Z */
    for (int round = 0; round < 2; round++) { /* the second from the cache */
        arena = arena_create();
        struct err e;
        err_init(&e);
        struct slice out;
        assert_int_equal(cal_expand(slice_from_cstr(own), day, day + 86400, arena, &out, &e), 0);
        assert_non_null(strstr(out.ptr, "DTSTART:20260105T070000Z")); /* +03:00 as defined */
        assert_int_equal(cal_expand(slice_from_cstr(builtin), day, day + 86400, arena, &out, &e),
                         0);
        assert_non_null(strstr(out.ptr, "DTSTART:20260105T090000Z")); /* libical's CET */
        size_t periods = 0;
        assert_int_equal(cal_busy(slice_from_cstr(own), day + 7 * 3600, day + 8 * 3600, arena,
                                  count_busy, &periods, &e),
                         0);
        assert_int_equal(periods, 1);
        arena_destroy(&arena);
    }
}

/* Threads share the cache: each parses objects in zones the others are screening and
 * expanding at the same moment, and every conversion is right. */
struct zone_job {
    int offset_hours; /* of the zone this thread's objects use */
    int failures;
};

static void *parse_in_zone(void *arg)
{
    struct zone_job *j = arg;
    char ics[1024];
    /* the same eight definitions in every thread, so the cache sees them concurrently */
    for (int i = 0; i < 400; i++) {
        int h = (j->offset_hours + i) % 8;
        snprintf(ics, sizeof(ics),
                 HEAD "BEGIN:VTIMEZONE\r\nTZID:Z%d\r\nBEGIN:STANDARD\r\nTZOFFSETFROM:+0%d00\r\n"
                      "TZOFFSETTO:+0%d00\r\nDTSTART:16010101T000000\r\n"
                      "RRULE:FREQ=YEARLY;BYMONTH=1;BYMONTHDAY=1\r\nEND:STANDARD\r\n"
                      "END:VTIMEZONE\r\nBEGIN:VEVENT\r\nUID:t%d\r\nDTSTAMP:20260101T000000Z\r\n"
                      "DTSTART;TZID=Z%d:20260105T100000\r\nEND:VEVENT\r\n" TAIL,
                 h, h, h, i, h);
        struct arena *a = arena_create();
        struct cal_info info;
        struct err e;
        err_init(&e);
        if (cal_parse_object(slice_from_cstr(ics), CAL_COMP_VEVENT, a, &info, &e) != 0 ||
            info.dtstart_utc != 1767607200 - (int64_t)h * 3600) {
            j->failures++;
        }
        arena_destroy(&a);
    }
    return NULL;
}

static void test_zone_cache_is_shared_between_threads(void **state)
{
    (void)state;
    pthread_t t[4];
    struct zone_job jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (struct zone_job){i, 0};
        assert_int_equal(pthread_create(&t[i], NULL, parse_in_zone, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(jobs[i].failures, 0);
    }
}

/* A passed deadline stops a long walk: validation answers err_cond_time_budget, and queries
 * on stored objects do too, instead of a half expansion. */
static void test_deadline_stops_walks(void **state)
{
    (void)state;
    static const char series[] = UTC_EVENT("RRULE:FREQ=MINUTELY;UNTIL=20300101T000000Z\r\n");
    arena = arena_create();
    struct cal_info info;
    struct err e;
    err_init(&e);
    int64_t saved = deadline_start(1); /* 1 us: passed by the first step */
    struct timespec ts = {0, 1000 * 1000};
    nanosleep(&ts, NULL);
    assert_int_equal(cal_parse_object(slice_from_cstr(series), CAL_COMP_VEVENT, arena, &info, &e),
                     -1);
    assert_ptr_equal(e.cond, &err_cond_time_budget);
    err_init(&e);
    struct slice out;
    assert_int_equal(cal_expand(slice_from_cstr(series), 0, 86400, arena, &out, &e), -1);
    assert_ptr_equal(e.cond, &err_cond_time_budget);
    /* and the walk stops at the deadline, not at the CAL_MAX_* bounds: a series walked to
     * CAL_MAX_INSTANCES (about half a second in a release build) returns at once */
    static const char long_series[] = UTC_EVENT("RRULE:FREQ=MINUTELY;COUNT=1000000\r\n");
    err_init(&e);
    int64_t t0 = time_mono_us();
    assert_int_equal(
        cal_parse_object(slice_from_cstr(long_series), CAL_COMP_VEVENT, arena, &info, &e), -1);
    assert_ptr_equal(e.cond, &err_cond_time_budget);
    err_init(&e);
    assert_int_equal(cal_expand(slice_from_cstr(long_series), 0, INT64_MAX / 2, arena, &out, &e),
                     -1);
    assert_ptr_equal(e.cond, &err_cond_time_budget);
    int64_t us = elapsed_since(t0);
    deadline_restore(saved); /* before a failure, which would leave it passed for later tests */
    if (us > 100000) {
        fail_msg("past the deadline, validation and expansion took %lld ms", (long long)us / 1000);
    }
    err_init(&e);
    assert_int_equal(cal_parse_object(slice_from_cstr(series), CAL_COMP_VEVENT, arena, &info, &e),
                     0);
    arena_destroy(&arena);
}

/* The DTSTARTs (as text) of the instances in an expansion, in order, into out[] (max n). */
static size_t starts_of(struct slice ex, char out[][24], size_t n)
{
    size_t k = 0;
    const char *p = ex.ptr;
    while (k < n && (p = strstr(p, "\nDTSTART")) != NULL) {
        p = strchr(p, ':');
        if (!p) {
            break;
        }
        size_t len = strcspn(p + 1, "\r\n");
        snprintf(out[k++], 24, "%.*s", (int)(len < 23 ? len : 23), p + 1);
    }
    return k;
}

/* An expansion over a window skips the rule ahead to the window (icalrecur_iterator_set_start)
 * instead of stepping from DTSTART; it must show exactly the instances a walk from DTSTART
 * shows in that window. The reference is the expansion over the whole series. */
static void test_window_expansion_equals_the_full_walk(void **state)
{
    (void)state;
    static const char *const series[] = {
        "DTSTART:20200106T090000Z\r\nDURATION:PT1H\r\nRRULE:FREQ=DAILY;UNTIL=20270101T000000Z\r\n",
        "DTSTART;TZID=Europe/Berlin:20200106T090000\r\nDTEND;TZID=Europe/Berlin:20200106T100000\r\n"
        "RRULE:FREQ=WEEKLY;BYDAY=MO,WE,FR;UNTIL=20270101T000000Z\r\n"
        "EXDATE;TZID=Europe/Berlin:20260302T090000\r\n",
        "DTSTART:20200131T180000\r\nDURATION:PT2H\r\n"
        "RRULE:FREQ=MONTHLY;BYDAY=-1FR;UNTIL=20280101T000000Z\r\n",
        "DTSTART;VALUE=DATE:20000229\r\nRRULE:FREQ=YEARLY;UNTIL=20400101\r\n",
        "DTSTART:20240101T000000Z\r\nDURATION:P3D\r\nRRULE:FREQ=WEEKLY;INTERVAL=2\r\n",
        "DTSTART:20250101T080000Z\r\nDURATION:PT30M\r\nRRULE:FREQ=HOURLY;INTERVAL=7;"
        "UNTIL=20270101T000000Z\r\n",
        "DTSTART:20251101T080000Z\r\nDURATION:PT30M\r\nRRULE:FREQ=HOURLY;"
        "UNTIL=20260301T000000Z\r\n",
        "DTSTART:20190103T080000Z\r\nDURATION:PT30M\r\nRRULE:FREQ=DAILY;INTERVAL=3\r\n",
        "DTSTART;TZID=America/New_York:20181231T233000\r\nDURATION:PT1H\r\n"
        "RRULE:FREQ=MONTHLY;BYMONTHDAY=1,15,-1\r\n",
        "DTSTART:20100101T120000Z\r\nDURATION:PT1H\r\n"
        "RRULE:FREQ=YEARLY;BYMONTH=1,3;BYDAY=1MO,-1FR;BYSETPOS=1,-1\r\n",
    };
    const int64_t day = 86400;
    const int64_t windows[][2] = {
        {1767225600, 1767225600 + 7 * day},            /* 2026-01-01, a week */
        {1772323200, 1772323200 + day},                /* 2026-03-01, a day */
        {1798761600 - 7 * day, 1798761600 + 40 * day}, /* 2026-12-25: most series end */
        {1709164800, 1709164800 + 2 * day},            /* 2024-02-29 */
        {1735689600 + 3600, 1735689600 + 7200},        /* an hour of 2025-01-01 */
    };
    static char full[8192][24];
    static char part[8192][24];
    size_t checked = 0;
    for (size_t i = 0; i < sizeof(series) / sizeof(series[0]); i++) {
        char ics[1024];
        snprintf(ics, sizeof(ics),
                 HEAD "BEGIN:VEVENT\r\nUID:w%zu\r\nDTSTAMP:20260101T000000Z\r\n%s"
                      "END:VEVENT\r\n" TAIL,
                 i, series[i]);
        for (size_t w = 0; w < sizeof(windows) / sizeof(windows[0]); w++) {
            arena = arena_create();
            struct err e;
            err_init(&e);
            struct slice ref;
            struct slice got;
            /* from the window's start minus 10 years: no skipping possible for these series
             * (each starts later), then cut to the window by the walk's own overlap test */
            assert_int_equal(
                cal_expand(slice_from_cstr(ics), INT64_MIN / 2, windows[w][1], arena, &ref, &e), 0);
            assert_int_equal(
                cal_expand(slice_from_cstr(ics), windows[w][0], windows[w][1], arena, &got, &e), 0);
            size_t nf = starts_of(ref, full, 8192);
            size_t np = starts_of(got, part, 8192);
            assert_true(nf < 8192);
            /* the reference holds every instance up to the window's end; those overlapping
             * the window are its last ones (one length per series), in the same order */
            if (np > nf) {
                fail_msg("series %zu window %zu: %zu instances in the window, %zu in all", i, w, np,
                         nf);
            }
            for (size_t j = 0; j < np; j++) {
                if (strcmp(full[nf - np + j], part[j]) != 0) {
                    fail_msg("series %zu window %zu: instance %zu is %s, the full walk has %s", i,
                             w, j, part[j], full[nf - np + j]);
                }
            }
            /* and none missing: the window expansion has as many as the reference has that
             * overlap the window, counted by cal_instances_match over the same range */
            struct cal_info info;
            err_init(&e);
            assert_int_equal(
                cal_parse_object(slice_from_cstr(ics), CAL_COMP_VEVENT, arena, &info, &e), 0);
            /* an empty window is checked against the index (a walk from DTSTART) */
            checked += np > 0 || info.has_instances; /* an empty window needs the index */
            if (info.has_instances) {
                assert_int_equal(cal_instances_match(info.instances, info.instances_size,
                                                     windows[w][0], windows[w][1]),
                                 np > 0 ? 1 : 0);
            }
            arena_destroy(&arena);
        }
    }
    assert_true(checked >= 25);
}

/* A rule ending by UNTIL is walked for its first instance, then from a year before UNTIL;
 * the span is the same as a walk through every instance would give, also when the last
 * instances are further apart than that (Feb 29) or excluded. */
static void test_until_span_skips_the_middle_exactly(void **state)
{
    (void)state;

    static const struct {
        const char *body;
        int64_t start;
        int64_t end;
    } spans[] = {
        {"DTSTART:20000229T100000Z\r\nDURATION:PT1H\r\n"
         "RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;UNTIL=20990101T000000Z\r\n",
         951818400, 3981351600}, /* last 2096-02-29: six years before UNTIL */
        {"DTSTART:19900101T090000Z\r\nDURATION:PT1H\r\nRRULE:FREQ=DAILY;UNTIL=20300101T000000Z\r\n"
         "EXDATE:20291231T090000Z\r\n",
         631184400, 1893319200}, /* the last one excluded: 2029-12-30 */
        {"DTSTART:20190331T013000Z\r\nDTEND:20190331T030000Z\r\n"
         "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU;UNTIL=20290401T000000Z\r\n",
         1553995800, 1869096600 + 5400}, /* 2029-03-25 01:30, 90 minutes */
    };

    for (size_t i = 0; i < sizeof(spans) / sizeof(spans[0]); i++) {
        char ics[512];
        snprintf(ics, sizeof(ics),
                 HEAD "BEGIN:VEVENT\r\nUID:s%zu\r\nDTSTAMP:20260101T000000Z\r\n%s"
                      "END:VEVENT\r\n" TAIL,
                 i, spans[i].body);
        arena = arena_create();
        struct cal_info info;
        struct err e;
        err_init(&e);
        assert_int_equal(cal_parse_object(slice_from_cstr(ics), CAL_COMP_VEVENT, arena, &info, &e),
                         0);
        assert_int_equal(info.dtstart_utc, spans[i].start);
        assert_int_equal(info.dtend_utc, spans[i].end);
        arena_destroy(&arena);
    }
}

/* Parses a VEVENT with `props` (DTSTART, rules...) into *info; returns cal_parse_object's rc. */
static int parse_event(const char *props, struct cal_info *info, struct err *e)
{
    char ics[2048];
    snprintf(ics, sizeof(ics),
             HEAD "BEGIN:VEVENT\r\nUID:b\r\nDTSTAMP:20260101T000000Z\r\n%sEND:VEVENT\r\n" TAIL,
             props);
    err_init(e);
    return cal_parse_object(slice_from_cstr(ics), CAL_COMP_VEVENT, arena, info, e);
}

/* Each CAL_MAX_* bound of a walk holds where cal.h puts it: a series inside every bound gets
 * its exact span, one past a bound an unbounded span (INT64_MAX), never a longer walk. */
static void test_walk_bounds_are_exact(void **state)
{
    (void)state;
    arena = arena_create();
    struct cal_info info;
    struct err e;
    /* instances: 24 a day, one step each (the hours of one daily period) */
    assert_int_equal(parse_event("DTSTART:19800101T000000Z\r\nDURATION:PT1M\r\nRRULE:FREQ=DAILY;"
                                 "BYHOUR=0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,"
                                 "21,22,23;COUNT=90000\r\n",
                                 &info, &e),
                     0);
    assert_int_equal(info.dtend_utc, 315532800 + 89999 * 3600 + 60);
    assert_int_equal(parse_event("DTSTART:19800101T000000Z\r\nDURATION:PT1M\r\nRRULE:FREQ=DAILY;"
                                 "BYHOUR=0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,"
                                 "21,22,23;COUNT=150000\r\n",
                                 &info, &e),
                     0);
    assert_true(info.dtend_utc == INT64_MAX); /* past CAL_MAX_INSTANCES, within the steps */
    /* steps: one instance a day found in 24 hourly periods each */
    assert_int_equal(parse_event("DTSTART:19800101T000000Z\r\nDURATION:PT1M\r\n"
                                 "RRULE:FREQ=HOURLY;BYHOUR=0;COUNT=8000\r\n",
                                 &info, &e),
                     0);
    assert_int_equal(info.dtend_utc, 315532800 + 7999 * 86400 + 60);
    assert_int_equal(parse_event("DTSTART:19800101T000000Z\r\nDURATION:PT1M\r\n"
                                 "RRULE:FREQ=HOURLY;BYHOUR=0;COUNT=12000\r\n",
                                 &info, &e),
                     0);
    assert_true(info.dtend_utc == INT64_MAX); /* past CAL_MAX_STEPS, within the instances */
    /* years: an instance in 2200 is the last one a span may hold */
    assert_int_equal(parse_event("DTSTART:21900101T000000Z\r\nDURATION:PT1H\r\n"
                                 "RRULE:FREQ=YEARLY;COUNT=11\r\n",
                                 &info, &e),
                     0);
    assert_int_equal(info.dtend_utc, 7258118400 + 3600); /* 2200-01-01T01:00:00Z */
    assert_int_equal(parse_event("DTSTART:21900101T000000Z\r\nDURATION:PT1H\r\n"
                                 "RRULE:FREQ=YEARLY;COUNT=12\r\n",
                                 &info, &e),
                     0);
    assert_true(info.dtend_utc == INT64_MAX);
    /* RRULEs: CAL_MAX_RRULES are taken, one more is 403 */
    static const char rule[] = "RRULE:FREQ=WEEKLY;COUNT=3\r\n";
    char props[1024];
    int n = snprintf(props, sizeof(props), "DTSTART:20260105T100000Z\r\n");
    for (int i = 0; i < CAL_MAX_RRULES; i++) {
        n += snprintf(props + n, sizeof(props) - (size_t)n, "%s", rule);
    }
    assert_int_equal(parse_event(props, &info, &e), 0);
    snprintf(props + n, sizeof(props) - (size_t)n, "%s", rule);
    assert_int_equal(parse_event(props, &info, &e), -1);
    assert_ptr_equal(e.cond, &cal_cond_valid_calendar_data);
    arena_destroy(&arena);
}

/* An expansion shows at most CAL_MAX_EXPANDED instances of one object, the first ones. */
static void test_expansion_shows_at_most_cal_max_expanded(void **state)
{
    (void)state;
    static const char ics[] = HEAD "BEGIN:VEVENT\r\nUID:x\r\nDTSTAMP:20260101T000000Z\r\n"
                                   "DTSTART:20260101T000000Z\r\nDURATION:PT1M\r\n"
                                   "RRULE:FREQ=MINUTELY;COUNT=30000\r\nEND:VEVENT\r\n" TAIL;
    arena = arena_create();
    struct err e;
    err_init(&e);
    struct slice out;
    const int64_t jan2026 = 1767225600;
    assert_int_equal(
        cal_expand(slice_from_cstr(ics), jan2026, jan2026 + 30 * 86400, arena, &out, &e), 0);
    size_t n = 0;
    for (const char *p = out.ptr; (p = strstr(p, "BEGIN:VEVENT")) != NULL; p++) {
        n++;
    }
    assert_int_equal(n, CAL_MAX_EXPANDED);
    assert_non_null(strstr(out.ptr, "DTSTART:20260101T000000Z"));
    arena_destroy(&arena);
}

/* A VTIMEZONE's offset changes count its RDATEs and observances too, and an observance takes
 * at most CAL_MAX_RRULES RRULEs. */
static void test_zone_rdates_and_rules_are_counted(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1u << 20);
    assert_int_equal(buf_append_cstr(&b, HEAD "BEGIN:VTIMEZONE\r\nTZID:R\r\nBEGIN:STANDARD\r\n"
                                              "TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\n"
                                              "DTSTART:19701025T030000\r\n"),
                     0);
    for (int y = 1971; y < 1971 + 150; y++) {
        char line[64];
        snprintf(line, sizeof(line), "RDATE:%04d1025T030000\r\n", y);
        assert_int_equal(buf_append_cstr(&b, line), 0);
    }
    assert_int_equal(buf_append_cstr(&b, "END:STANDARD\r\nEND:VTIMEZONE\r\n" EVENT("R", "") TAIL),
                     0);
    arena = arena_create();
    struct cal_info info;
    struct err e;
    err_init(&e);
    cal_shutdown(); /* forget cached verdicts */
    cal_init();
    cal_set_max_tz_transitions(200);
    assert_int_equal(cal_parse_object(buf_slice(&b), CAL_COMP_VEVENT, arena, &info, &e), 0);
    cal_shutdown();
    cal_init();
    cal_set_max_tz_transitions(100); /* 151 changes: the DTSTART and 150 RDATEs */
    err_init(&e);
    assert_int_equal(cal_parse_object(buf_slice(&b), CAL_COMP_VEVENT, arena, &info, &e), -1);
    assert_ptr_equal(e.cond, &cal_cond_valid_calendar_data);
    assert_non_null(strstr(e.msg, "VTIMEZONE R"));
    cal_shutdown();
    cal_init();
    cal_set_max_tz_transitions(0);
    buf_deinit(&b);

    /* five yearly RRULEs in one observance: one more than CAL_MAX_RRULES */
    buf_init(&b, 1u << 16);
    assert_int_equal(buf_append_cstr(&b, HEAD "BEGIN:VTIMEZONE\r\nTZID:F\r\nBEGIN:STANDARD\r\n"
                                              "TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\n"
                                              "DTSTART:19701025T030000\r\n"),
                     0);
    for (int i = 0; i <= CAL_MAX_RRULES; i++) {
        char line[96];
        snprintf(line, sizeof(line), "RRULE:FREQ=YEARLY;BYMONTH=%d;BYDAY=-1SU;COUNT=10\r\n", i + 1);
        assert_int_equal(buf_append_cstr(&b, line), 0);
    }
    assert_int_equal(buf_append_cstr(&b, "END:STANDARD\r\nEND:VTIMEZONE\r\n" EVENT("F", "") TAIL),
                     0);
    err_init(&e);
    assert_int_equal(cal_parse_object(buf_slice(&b), CAL_COMP_VEVENT, arena, &info, &e), -1);
    assert_ptr_equal(e.cond, &cal_cond_valid_calendar_data);
    assert_non_null(strstr(e.msg, "VTIMEZONE F"));
    buf_deinit(&b);
    arena_destroy(&arena);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pathological_objects_are_decided_at_once),
        cmocka_unit_test(test_refusal_names_the_zone_and_the_limit),
        cmocka_unit_test(test_stored_pathological_objects_are_answered),
        cmocka_unit_test(test_many_rdates_are_bounded),
        cmocka_unit_test(test_max_tz_transitions_is_the_limit),
        cmocka_unit_test(test_zone_expansion_is_shared_between_objects),
        cmocka_unit_test(test_same_tzid_with_another_definition),
        cmocka_unit_test(test_zone_cache_is_shared_between_threads),
        cmocka_unit_test(test_read_path_uses_the_objects_own_zone),
        cmocka_unit_test(test_deadline_stops_walks),
        cmocka_unit_test(test_window_expansion_equals_the_full_walk),
        cmocka_unit_test(test_until_span_skips_the_middle_exactly),
        cmocka_unit_test(test_walk_bounds_are_exact),
        cmocka_unit_test(test_expansion_shows_at_most_cal_max_expanded),
        cmocka_unit_test(test_zone_rdates_and_rules_are_counted),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
