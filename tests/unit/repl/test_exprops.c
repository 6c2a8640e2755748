/* tests/unit/repl/test_exprops.c: the iCalendar -> urn:schemas:calendar: mapping
 * (repl/exprops.c, exchange-replication.md §4.4, §4.5, §4.8) with exact values: a single
 * event, an all-day event, a series with an override, busy status and zones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cal/cal.h"
#include "repl/exprops.h"

#define HEAD "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Almanac tests//EN\r\n"
#define TAIL "END:VCALENDAR\r\n"

static struct arena *arena;

static int setup(void **state)
{
    (void)state;
    cal_init();
    arena = arena_create();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    arena_destroy(&arena);
    cal_shutdown();
    return 0;
}

static void read_ok(const char *ics, struct repl_ex_value *v)
{
    struct err e;
    err_init(&e);
    assert_int_equal(repl_exprops_read(slice_from_cstr(ics), NULL, arena, v, &e), 0);
}

static void test_exprops_single_event_values(void **state)
{
    (void)state;
    struct repl_ex_value v[REPL_EX_COUNT];
    read_ok(HEAD "METHOD:PUBLISH\r\nBEGIN:VEVENT\r\nUID:single-1\r\n"
                 "DTSTAMP:20260101T000000Z\r\nDTSTART:20260105T100000Z\r\n"
                 "DTEND:20260105T110000Z\r\nSUMMARY:Team stand-up\r\nLOCATION:Room 4.12\r\n"
                 "DESCRIPTION:line one\\nline two\r\nORGANIZER:mailto:bob@example.net\r\n"
                 "STATUS:CONFIRMED\r\nCLASS:PRIVATE\r\nSEQUENCE:3\r\nPRIORITY:5\r\n"
                 "CATEGORIES:Work\r\nCATEGORIES:Blue\r\n"
                 "BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:r\r\nTRIGGER:-PT15M\r\n"
                 "END:VALARM\r\nEND:VEVENT\r\n" TAIL,
            v);
    assert_string_equal(v[REPL_EX_UID].s, "single-1");
    assert_int_equal(v[REPL_EX_DTSTART].i, 1767607200);
    assert_int_equal(v[REPL_EX_DTEND].i, 1767610800);
    assert_int_equal(v[REPL_EX_DURATION].i, 3600);
    assert_string_equal(v[REPL_EX_SUBJECT].s, "Team stand-up");
    assert_string_equal(v[REPL_EX_LOCATION].s, "Room 4.12");
    assert_string_equal(v[REPL_EX_TEXTDESCRIPTION].s, "line one\nline two");
    assert_string_equal(v[REPL_EX_ORGANIZER].s, "mailto:bob@example.net");
    assert_string_equal(v[REPL_EX_MEETINGSTATUS].s, "CONFIRMED");
    assert_string_equal(v[REPL_EX_BUSYSTATUS].s, "BUSY");
    assert_string_equal(v[REPL_EX_TRANSPARENT].s, "OPAQUE");
    assert_string_equal(v[REPL_EX_METHOD].s, "PUBLISH");
    assert_string_equal(v[REPL_EX_PRODID].s, "-//Almanac tests//EN");
    assert_string_equal(v[REPL_EX_VERSION].s, "2.0");
    assert_string_equal(v[REPL_EX_MESSAGECLASS].s, "IPM.Appointment");
    assert_int_equal(v[REPL_EX_SENSITIVITY].i, 2);
    assert_int_equal(v[REPL_EX_SEQUENCE].i, 3);
    assert_int_equal(v[REPL_EX_PRIORITY].i, 5);
    assert_int_equal(v[REPL_EX_REMINDEROFFSET].i, 900);
    assert_int_equal(v[REPL_EX_ALLDAYEVENT].i, 0);
    assert_int_equal(v[REPL_EX_INSTANCETYPE].i, 0);
    assert_int_equal(v[REPL_EX_TIMEZONEID].i, 0); /* a UTC start is CdoTimeZoneId 0 */
    assert_int_equal(v[REPL_EX_DTSTAMP].i, 1767225600);
    assert_int_equal(v[REPL_EX_HASATTACHMENT].i, 0);
    assert_int_equal(v[REPL_EX_KEYWORDS].n, 2);
    assert_string_equal(v[REPL_EX_KEYWORDS].mv_s[0], "Work");
    assert_string_equal(v[REPL_EX_KEYWORDS].mv_s[1], "Blue");
    assert_false(v[REPL_EX_RRULE].present);
    assert_false(v[REPL_EX_TIMEZONE].present);
    assert_false(v[REPL_EX_CREATED].present);
    assert_false(v[REPL_EX_HTMLDESCRIPTION].present);
}

/* §4.8: a DATE start is midnight UTC (calendar.default_tz), the end a day later. */
static void test_exprops_all_day_date_event(void **state)
{
    (void)state;
    struct repl_ex_value v[REPL_EX_COUNT];
    read_ok(HEAD "BEGIN:VEVENT\r\nUID:allday\r\nDTSTAMP:20260101T000000Z\r\n"
                 "DTSTART;VALUE=DATE:20260106\r\nTRANSP:TRANSPARENT\r\nEND:VEVENT\r\n" TAIL,
            v);
    assert_int_equal(v[REPL_EX_DTSTART].i, 1767657600);
    assert_int_equal(v[REPL_EX_DTEND].i, 1767744000);
    assert_int_equal(v[REPL_EX_ALLDAYEVENT].i, 1);
    assert_string_equal(v[REPL_EX_BUSYSTATUS].s, "FREE");
    assert_string_equal(v[REPL_EX_TRANSPARENT].s, "TRANSPARENT");
    assert_false(v[REPL_EX_TIMEZONEID].present);
    assert_false(v[REPL_EX_LOCATION].present);
}

#define BERLIN                                                                          \
  "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\n"   \
  "TZOFFSETTO:+0200\r\nTZNAME:CEST\r\nDTSTART:19700329T020000\r\n"                      \
  "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\nBEGIN:STANDARD\r\n"        \
  "TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nTZNAME:CET\r\nDTSTART:19701025T030000\r\n" \
  "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"

/* The master of a series with an override reports the series: instancetype 1, its RRULE
 * and EXDATE, its zone (CdoTimeZoneId 4 = Europe/Berlin) and the VTIMEZONE text. */
static void test_exprops_series_with_override_reports_the_master(void **state)
{
    (void)state;
    struct repl_ex_value v[REPL_EX_COUNT];
    read_ok(HEAD BERLIN "BEGIN:VEVENT\r\nUID:series\r\nDTSTAMP:20260101T000000Z\r\n"
                        "RECURRENCE-ID;TZID=Europe/Berlin:20260112T110000\r\n"
                        "DTSTART;TZID=Europe/Berlin:20260112T100000\r\n"
                        "DTEND;TZID=Europe/Berlin:20260112T110000\r\nSUMMARY:moved\r\n"
                        "END:VEVENT\r\n"
                        "BEGIN:VEVENT\r\nUID:series\r\nDTSTAMP:20260101T000000Z\r\n"
                        "DTSTART;TZID=Europe/Berlin:20260105T110000\r\n"
                        "DTEND;TZID=Europe/Berlin:20260105T120000\r\n"
                        "RRULE:FREQ=WEEKLY;COUNT=4\r\n"
                        "EXDATE;TZID=Europe/Berlin:20260119T110000\r\nSUMMARY:weekly\r\n"
                        "X-MICROSOFT-CDO-BUSYSTATUS:oof\r\nEND:VEVENT\r\n" TAIL,
            v);
    assert_string_equal(v[REPL_EX_SUBJECT].s, "weekly");
    assert_int_equal(v[REPL_EX_INSTANCETYPE].i, 1);
    assert_int_equal(v[REPL_EX_DTSTART].i, 1767607200);
    assert_int_equal(v[REPL_EX_DTEND].i, 1767610800);
    assert_int_equal(v[REPL_EX_RRULE].n, 1);
    assert_string_equal(v[REPL_EX_RRULE].mv_s[0], "FREQ=WEEKLY;COUNT=4");
    assert_int_equal(v[REPL_EX_EXDATE].n, 1);
    assert_int_equal(v[REPL_EX_EXDATE].mv_t[0], 1768816800);
    assert_int_equal(v[REPL_EX_TIMEZONEID].i, 4);
    assert_non_null(strstr(v[REPL_EX_TIMEZONE].s, "TZID:Europe/Berlin"));
    assert_string_equal(v[REPL_EX_BUSYSTATUS].s, "OOF");
    assert_false(v[REPL_EX_RECURRENCEID].present);
}

/* §3.8: the occurrences in a window, by start, each with its own values. */
static void test_exprops_occurrences_of_a_series(void **state)
{
    (void)state;
    const char *ics = HEAD BERLIN "BEGIN:VEVENT\r\nUID:s\r\nDTSTAMP:20260101T000000Z\r\n"
                                  "DTSTART;TZID=Europe/Berlin:20260105T110000\r\n"
                                  "DTEND;TZID=Europe/Berlin:20260105T120000\r\n"
                                  "RRULE:FREQ=WEEKLY;COUNT=4\r\n"
                                  "EXDATE;TZID=Europe/Berlin:20260119T110000\r\n"
                                  "SUMMARY:weekly\r\nEND:VEVENT\r\n"
                                  "BEGIN:VEVENT\r\nUID:s\r\nDTSTAMP:20260101T000000Z\r\n"
                                  "RECURRENCE-ID;TZID=Europe/Berlin:20260112T110000\r\n"
                                  "DTSTART;TZID=Europe/Berlin:20260112T140000\r\n"
                                  "DTEND;TZID=Europe/Berlin:20260112T150000\r\n"
                                  "SUMMARY:moved\r\nEND:VEVENT\r\n" TAIL;
    struct repl_ex_instances *x;
    struct err e;
    err_init(&e);
    /* [2026-01-01, 2026-02-01) */
    assert_int_equal(
        repl_ex_instances_open(slice_from_cstr(ics), NULL, 1767225600, 1769904000, arena, &x, &e),
        0);

    static const struct {
        int64_t start, rid;
        int type;
        const char *subject;
    } want[] = {
        {1767607200, 1767607200, 2, "weekly"},
        {1768222800, 1768212000, 3, "moved"},
        {1769421600, 1769421600, 2, "weekly"},
    };
    struct repl_ex_value v[REPL_EX_COUNT];
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(repl_ex_instances_next(x, arena, v), 1);
        assert_int_equal(v[REPL_EX_DTSTART].i, want[i].start);
        assert_int_equal(v[REPL_EX_DTEND].i, want[i].start + 3600);
        assert_int_equal(v[REPL_EX_RECURRENCEID].i, want[i].rid);
        assert_int_equal(v[REPL_EX_INSTANCETYPE].i, want[i].type);
        assert_string_equal(v[REPL_EX_SUBJECT].s, want[i].subject);
        assert_int_equal(v[REPL_EX_TIMEZONEID].i, 4);
    }
    assert_int_equal(repl_ex_instances_next(x, arena, v), 0);
    repl_ex_instances_close(&x);
    assert_null(x);
    /* a window before the series: nothing */
    assert_int_equal(repl_ex_instances_open(slice_from_cstr(ics), NULL, 0, 86400, arena, &x, &e),
                     0);
    assert_int_equal(repl_ex_instances_next(x, arena, v), 0);
    repl_ex_instances_close(&x);
}

static void test_exprops_outlook_properties_win(void **state)
{
    (void)state;
    struct repl_ex_value v[REPL_EX_COUNT];
    read_ok(HEAD "BEGIN:VEVENT\r\nUID:o\r\nDTSTAMP:20260101T000000Z\r\n"
                 "DTSTART:20260105T100000Z\r\nDURATION:PT30M\r\nSTATUS:TENTATIVE\r\n"
                 "X-MICROSOFT-CDO-ALLDAYEVENT:TRUE\r\nX-MICROSOFT-CDO-TZID:13\r\n"
                 "ATTACH:http://example.net/a\r\n"
                 "X-ALT-DESC;FMTTYPE=text/html:<b>hi</b>\r\nEND:VEVENT\r\n" TAIL,
            v);
    assert_int_equal(v[REPL_EX_DTEND].i, 1767607200 + 1800);
    assert_int_equal(v[REPL_EX_ALLDAYEVENT].i, 1);
    assert_int_equal(v[REPL_EX_TIMEZONEID].i, 13);
    assert_string_equal(v[REPL_EX_BUSYSTATUS].s, "TENTATIVE");
    assert_int_equal(v[REPL_EX_HASATTACHMENT].i, 1);
    assert_string_equal(v[REPL_EX_HTMLDESCRIPTION].s, "<b>hi</b>");
}

static void test_exprops_names_and_types(void **state)
{
    (void)state;
    int p = repl_exprop_find(SLICE_LIT("urn:schemas:calendar:"), SLICE_LIT("dtstart"));
    assert_int_equal(p, REPL_EX_DTSTART);
    assert_int_equal(repl_exprop_def(REPL_EX_DTSTART)->type, REPL_EX_TIME);
    assert_int_equal(repl_exprop_find(SLICE_LIT("urn:schemas-microsoft-com:office:office"),
                                      SLICE_LIT("Keywords")),
                     REPL_EX_KEYWORDS);
    assert_int_equal(repl_exprop_find(SLICE_LIT("urn:schemas:calendar:"), SLICE_LIT("nope")), -1);
    struct repl_ex_value v[REPL_EX_COUNT];
    struct err e;
    err_init(&e);
    assert_int_equal(repl_exprops_read(SLICE_LIT("not a calendar"), NULL, arena, v, &e), -1);
    assert_ptr_equal(e.cond, &cal_cond_valid_calendar_data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exprops_single_event_values),
        cmocka_unit_test(test_exprops_all_day_date_event),
        cmocka_unit_test(test_exprops_series_with_override_reports_the_master),
        cmocka_unit_test(test_exprops_occurrences_of_a_series),
        cmocka_unit_test(test_exprops_outlook_properties_win),
        cmocka_unit_test(test_exprops_names_and_types),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
