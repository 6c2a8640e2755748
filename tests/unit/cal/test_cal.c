/* tests/unit/cal/test_cal.c: calendar object validation and index spans (cal/cal.c), table
 * driven with exact UTC epoch seconds (RFC 4791 §4.1, §9.9; RFC 5545 §3.8.5). Every valid
 * object is also cut at every offset: each prefix must parse or fail with a condition, never
 * crash or leak. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cal/cal.h"

#define HEAD     "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Almanac tests//EN\r\n"
#define TAIL     "END:VCALENDAR\r\n"
#define EV(body) "BEGIN:VEVENT\r\nDTSTAMP:20260101T000000Z\r\n" body "END:VEVENT\r\n"

/* A VTIMEZONE for Europe/Berlin as Outlook and Apple export it (RFC 5545 §3.6.5). */
#define BERLIN                                                                          \
  "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\n"   \
  "TZOFFSETTO:+0200\r\nTZNAME:CEST\r\nDTSTART:19700329T020000\r\n"                      \
  "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\nBEGIN:STANDARD\r\n"        \
  "TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nTZNAME:CET\r\nDTSTART:19701025T030000\r\n" \
  "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"

struct good {
    const char *name;
    const char *ics;
    enum cal_comp comp;
    const char *uid;
    bool recurring;
    int64_t start;
    int64_t end;
};

/* 2026-01-05T10:00:00Z = 1767607200 */
static const struct good good[] = {
    {"utc single",
     HEAD EV("UID:a@x\r\nDTSTART:20260105T100000Z\r\nDTEND:20260105T110000Z\r\n") TAIL,
     CAL_COMP_VEVENT, "a@x", false, 1767607200, 1767610800},
    {"duration", HEAD EV("UID:b\r\nDTSTART:20260105T100000Z\r\nDURATION:PT90M\r\n") TAIL,
     CAL_COMP_VEVENT, "b", false, 1767607200, 1767612600},
    {"tzid with vtimezone (winter, +01:00)",
     HEAD BERLIN EV("UID:c\r\nDTSTART;TZID=Europe/Berlin:20260105T110000\r\n"
                    "DTEND;TZID=Europe/Berlin:20260105T120000\r\n") TAIL,
     CAL_COMP_VEVENT, "c", false, 1767607200, 1767610800},
    {"builtin tzid without vtimezone (summer, +02:00)",
     HEAD EV("UID:d\r\nDTSTART;TZID=Europe/Berlin:20260705T120000\r\nDURATION:PT1H\r\n") TAIL,
     CAL_COMP_VEVENT, "d", false, 1783245600, 1783249200},
    {"all-day date", HEAD EV("UID:e\r\nDTSTART;VALUE=DATE:20260105\r\n") TAIL, CAL_COMP_VEVENT, "e",
     false, 1767571200, 1767657600},
    {"floating as utc", HEAD EV("UID:f\r\nDTSTART:20260105T100000\r\n") TAIL, CAL_COMP_VEVENT, "f",
     false, 1767607200, 1767607200},
    {"daily count 10",
     HEAD EV("UID:g\r\nDTSTART:20260105T100000Z\r\nDURATION:PT1H\r\nRRULE:FREQ=DAILY;COUNT=10\r\n")
         TAIL,
     CAL_COMP_VEVENT, "g", true, 1767607200, 1767607200 + 9 * 86400 + 3600},
    {"weekly until",
     HEAD EV("UID:h\r\nDTSTART:20260105T100000Z\r\nDTEND:20260105T110000Z\r\n"
             "RRULE:FREQ=WEEKLY;UNTIL=20260202T235959Z\r\n") TAIL,
     CAL_COMP_VEVENT, "h", true, 1767607200, 1767607200 + 28 * 86400 + 3600},
    {"unbounded", HEAD EV("UID:i\r\nDTSTART:20260105T100000Z\r\nRRULE:FREQ=MONTHLY\r\n") TAIL,
     CAL_COMP_VEVENT, "i", true, 1767607200, INT64_MAX},
    {"override moved past the last instance",
     HEAD EV("UID:j\r\nDTSTART:20260105T100000Z\r\nDURATION:PT1H\r\nRRULE:FREQ=DAILY;COUNT=3\r\n")
         EV("UID:j\r\nRECURRENCE-ID:20260107T100000Z\r\nDTSTART:20260301T100000Z\r\n"
            "DURATION:PT1H\r\n") TAIL,
     CAL_COMP_VEVENT, "j", true, 1767607200, 1772359200 + 3600},
    {"todo with due only",
     HEAD "BEGIN:VTODO\r\nUID:k\r\nDTSTAMP:20260101T000000Z\r\nDUE:20260105T100000Z\r\n"
          "END:VTODO\r\n" TAIL,
     CAL_COMP_VTODO, "k", false, 1767607200, 1767607200},
    {"undated todo matches every range",
     HEAD "BEGIN:VTODO\r\nUID:l\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:x\r\nEND:VTODO\r\n" TAIL,
     CAL_COMP_VTODO, "l", false, INT64_MIN, INT64_MAX},
    {"empty text values, as Google exports them (RFC 5545 text may be empty)",
     HEAD EV("UID:m\r\nDTSTART:20260105T100000Z\r\nDTEND:20260105T110000Z\r\nLOCATION:\r\n"
             "DESCRIPTION:\r\nSUMMARY:\r\n") TAIL,
     CAL_COMP_VEVENT, "m", false, 1767607200, 1767610800},
};

struct bad {
    const char *name;
    const char *ics;
    const struct err_cond *cond;
};

static const struct bad bad[] = {
    {"garbage", "hello world", &cal_cond_valid_calendar_data},
    {"empty", "", &cal_cond_valid_calendar_data},
    {"begin only", "BEGIN:VCALENDAR\r\n", &cal_cond_valid_calendar_data},
    {"not utf-8", HEAD EV("UID:a\r\nSUMMARY:\xff\xfe\r\nDTSTART:20260105T100000Z\r\n") TAIL,
     &cal_cond_valid_calendar_data},
    {"no version",
     "BEGIN:VCALENDAR\r\nPRODID:x\r\n" EV("UID:a\r\nDTSTART:20260105T100000Z\r\n") TAIL,
     &cal_cond_valid_calendar_data},
    {"bad date", HEAD EV("UID:a\r\nDTSTART:tomorrow\r\n") TAIL, &cal_cond_valid_calendar_data},
    {"two uids",
     HEAD EV("UID:a\r\nDTSTART:20260105T100000Z\r\n") EV("UID:b\r\nDTSTART:20260105T100000Z\r\n")
         TAIL,
     &cal_cond_valid_object},
    {"event and todo",
     HEAD EV(
         "UID:a\r\nDTSTART:20260105T100000Z\r\n") "BEGIN:VTODO\r\nUID:a\r\n"
                                                  "DTSTAMP:20260101T000000Z\r\nEND:VTODO\r\n" TAIL,
     &cal_cond_valid_object},
    {"no uid", HEAD EV("DTSTART:20260105T100000Z\r\n") TAIL, &cal_cond_valid_object},
    {"timezone only", HEAD BERLIN TAIL, &cal_cond_valid_object},
    {"freebusy",
     HEAD "BEGIN:VFREEBUSY\r\nUID:f\r\nDTSTAMP:20260101T000000Z\r\nEND:VFREEBUSY\r\n" TAIL,
     &cal_cond_supported_component},
    {"empty value of a non-text property",
     HEAD EV("UID:a\r\nDTSTART:20260105T100000Z\r\nDTEND:\r\n") TAIL,
     &cal_cond_valid_calendar_data},
};

static void test_cal_valid_objects_give_uid_and_exact_span(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct arena *a = arena_create();
        struct cal_info info;
        struct err e;
        err_init(&e);
        unsigned all = CAL_COMP_VEVENT | CAL_COMP_VTODO | CAL_COMP_VJOURNAL;
        if (cal_parse_object(slice_from_cstr(good[i].ics), all, a, &info, &e) != 0) {
            fail_msg("%s: %s %s", good[i].name, e.cond->name, e.msg);
        }
        assert_int_equal(info.comp, good[i].comp);
        assert_string_equal(info.uid, good[i].uid);
        assert_int_equal(info.is_recurring, good[i].recurring);
        assert_true(info.has_span);
        if (info.dtstart_utc != good[i].start || info.dtend_utc != good[i].end) {
            fail_msg("%s: span [%lld, %lld), want [%lld, %lld)", good[i].name,
                     (long long)info.dtstart_utc, (long long)info.dtend_utc,
                     (long long)good[i].start, (long long)good[i].end);
        }
        arena_destroy(&a);
    }
}

static void test_cal_invalid_objects_give_their_precondition(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct arena *a = arena_create();
        struct cal_info info;
        struct err e;
        err_init(&e);
        unsigned all = CAL_COMP_VEVENT | CAL_COMP_VTODO | CAL_COMP_VJOURNAL;
        if (cal_parse_object(slice_from_cstr(bad[i].ics), all, a, &info, &e) != -1) {
            fail_msg("%s parsed", bad[i].name);
        }
        if (e.cond != bad[i].cond) {
            fail_msg("%s: %s, want %s", bad[i].name, e.cond->name, bad[i].cond->name);
        }
        arena_destroy(&a);
    }
}

static void test_cal_collection_component_set_is_enforced(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    struct cal_info info;
    struct err e;
    err_init(&e);
    assert_int_equal(cal_parse_object(slice_from_cstr(good[10].ics), CAL_COMP_VEVENT, a, &info, &e),
                     -1);
    assert_ptr_equal(e.cond, &cal_cond_supported_component);
    arena_destroy(&a);
}

static void test_cal_every_prefix_parses_or_fails_cleanly(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        size_t len = strlen(good[i].ics);
        for (size_t cut = 0; cut < len; cut++) {
            struct arena *a = arena_create();
            struct cal_info info;
            struct err e;
            err_init(&e);
            int rc = cal_parse_object((struct slice){good[i].ics, cut},
                                      CAL_COMP_VEVENT | CAL_COMP_VTODO, a, &info, &e);
            assert_true(rc == 0 || (rc == -1 && e.cond != NULL));
            arena_destroy(&a);
        }
    }
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cal_valid_objects_give_uid_and_exact_span),
        cmocka_unit_test(test_cal_invalid_objects_give_their_precondition),
        cmocka_unit_test(test_cal_collection_component_set_is_enforced),
        cmocka_unit_test(test_cal_every_prefix_parses_or_fails_cleanly),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
