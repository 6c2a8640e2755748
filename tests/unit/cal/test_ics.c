/* tests/unit/cal/test_ics.c: calendar files split into objects and joined back (cal/ics.h).
 * A series and its overrides far apart in the file become one object; each object carries
 * exactly the VTIMEZONEs its components name; METHOD is dropped; folded and LF-only lines
 * pass; what is not a file is refused with its line; a component without UID or naming a
 * zone the file lacks is reported, not made. The join writes each zone once and a round trip
 * (join of the split objects, split again) gives the same objects byte for byte. Every object
 * the split makes passes cal_parse_object. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cal/cal.h"
#include "cal/ics.h"
#include "util/arena.h"
#include "util/err.h"

#define BERLIN                                                                          \
  "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\n"   \
  "TZOFFSETTO:+0200\r\nTZNAME:CEST\r\nDTSTART:19700329T020000\r\n"                      \
  "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\nBEGIN:STANDARD\r\n"        \
  "TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nTZNAME:CET\r\nDTSTART:19701025T030000\r\n" \
  "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"
#define KOLKATA                                                                      \
  "BEGIN:VTIMEZONE\r\nTZID:Asia/Kolkata\r\nBEGIN:STANDARD\r\nTZOFFSETFROM:+0530\r\n" \
  "TZOFFSETTO:+0530\r\nTZNAME:IST\r\nDTSTART:19700101T000000\r\nEND:STANDARD\r\n"    \
  "END:VTIMEZONE\r\n"

#define SERIES_A                                                    \
  "BEGIN:VEVENT\r\nUID:a@x\r\nDTSTAMP:20260101T000000Z\r\n"         \
  "DTSTART;TZID=Europe/Berlin:20260105T100000\r\nDURATION:PT1H\r\n" \
  "RRULE:FREQ=WEEKLY;COUNT=5\r\nSUMMARY:Weekly\r\nEND:VEVENT\r\n"
#define OVERRIDE_A                                          \
  "BEGIN:VEVENT\r\nUID:a@x\r\nDTSTAMP:20260101T000000Z\r\n" \
  "RECURRENCE-ID;TZID=Europe/Berlin:20260112T100000\r\n"    \
  "DTSTART;TZID=Europe/Berlin:20260112T140000\r\nDURATION:PT1H\r\nEND:VEVENT\r\n"
#define EVENT_B                                                                          \
  "BEGIN:VEVENT\r\nUID:b@x\r\nDTSTAMP:20260101T000000Z\r\n"                              \
  "DTSTART;TZID=\"Asia/Kolkata\":20260105T090000\r\nDURATION:PT30M\r\nSUMMARY:Stand\r\n" \
  " up\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT5M\r\nDESCRIPTION:x\r\n"          \
  "END:VALARM\r\nEND:VEVENT\r\n"
#define EVENT_C                                                                            \
  "BEGIN:VEVENT\r\nUID:c@x\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;VALUE=DATE:20260110\r\n" \
  "SUMMARY:All day\r\nEND:VEVENT\r\n"

static const char file_text[] =
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Test//EN\r\nMETHOD:PUBLISH\r\n"
    "X-WR-CALNAME:Work\r\n" BERLIN SERIES_A KOLKATA EVENT_B EVENT_C OVERRIDE_A "END:VCALENDAR\r\n";

struct got {
    char uid[64];
    char *ics;
    size_t ncomps;
};

static size_t split_all(const char *text, struct got *got, size_t max)
{
    struct cal_split *sp;
    struct err err;
    err_init(&err);
    assert_int_equal(cal_split_open(slice_from_cstr(text), &sp, &err), 0);
    struct cal_split_obj o;
    size_t n = 0;
    while (cal_split_next(sp, &o)) {
        assert_true(n < max);
        assert_null(o.why);
        snprintf(got[n].uid, sizeof(got[n].uid), "%s", o.uid);
        got[n].ics = strndup(o.ics.ptr, o.ics.len);
        got[n].ncomps = o.ncomps;
        n++;
    }
    cal_split_free(&sp);
    assert_null(sp);
    return n;
}

static void free_got(struct got *got, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(got[i].ics);
    }
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) {
        n++;
    }
    return n;
}

static void valid(const char *ics)
{
    struct arena *a = arena_create();
    struct cal_info info;
    struct err err;
    err_init(&err);
    int rc =
        cal_parse_object(slice_from_cstr(ics), CAL_COMP_VEVENT | CAL_COMP_VTODO, a, &info, &err);
    if (rc != 0) {
        fail_msg("object refused: %s\n%s", err.msg, ics);
    }
    arena_destroy(&a);
}

static void test_split_groups_series_and_zones(void **state)
{
    (void)state;
    struct got got[8];
    size_t n = split_all(file_text, got, 8);
    assert_int_equal(n, 3);
    /* in the order of the file by first component */
    assert_string_equal(got[0].uid, "a@x");
    assert_string_equal(got[1].uid, "b@x");
    assert_string_equal(got[2].uid, "c@x");
    assert_int_equal(got[0].ncomps, 2);
    assert_int_equal(got[1].ncomps, 1);
    /* the series: master and override, Berlin only, METHOD and the calendar name dropped */
    assert_string_equal(
        got[0].ics,
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Test//EN\r\n" BERLIN SERIES_A OVERRIDE_A
        "END:VCALENDAR\r\n");
    /* a quoted TZID parameter and a folded line and a VALARM go through as written */
    assert_string_equal(got[1].ics,
                        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Test//EN\r\n" KOLKATA EVENT_B
                        "END:VCALENDAR\r\n");
    assert_int_equal(count(got[2].ics, "BEGIN:VTIMEZONE"), 0);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(count(got[i].ics, "METHOD"), 0);
        valid(got[i].ics);
    }
    free_got(got, n);
}

static void test_split_lf_only_and_several_calendars(void **state)
{
    (void)state;
    /* LF line ends, two VCALENDARs, lower-case BEGIN, blank lines between */
    const char *text = "begin:vcalendar\nVERSION:2.0\nPRODID:-//A//EN\n"
                       "BEGIN:VEVENT\nUID:one\nDTSTAMP:20260101T000000Z\n"
                       "DTSTART:20260105T100000Z\nEND:VEVENT\nend:vcalendar\n\n"
                       "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//B//EN\n"
                       "BEGIN:VTODO\nUID:two\nDTSTAMP:20260101T000000Z\nEND:VTODO\n"
                       "END:VCALENDAR";
    struct got got[4];
    size_t n = split_all(text, got, 4);
    assert_int_equal(n, 2);
    assert_string_equal(got[0].ics, "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//A//EN\r\n"
                                    "BEGIN:VEVENT\r\nUID:one\r\nDTSTAMP:20260101T000000Z\r\n"
                                    "DTSTART:20260105T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n");
    /* the first calendar's VERSION and PRODID head every object */
    assert_string_equal(got[1].ics, "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//A//EN\r\n"
                                    "BEGIN:VTODO\r\nUID:two\r\nDTSTAMP:20260101T000000Z\r\n"
                                    "END:VTODO\r\nEND:VCALENDAR\r\n");
    valid(got[0].ics);
    valid(got[1].ics);
    free_got(got, n);
}

static void test_split_reports_objects_it_cannot_make(void **state)
{
    (void)state;
    const char *text = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//T//EN\r\n"
                       "BEGIN:VEVENT\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260105T100000Z\r\n"
                       "END:VEVENT\r\n"
                       "BEGIN:VEVENT\r\nUID:z\r\nDTSTAMP:20260101T000000Z\r\n"
                       "DTSTART;TZID=Mars/Olympus:20260105T100000\r\nEND:VEVENT\r\n"
                       "BEGIN:VEVENT\r\nUID:ok\r\nDTSTAMP:20260101T000000Z\r\n"
                       "DTSTART:20260105T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    struct cal_split *sp;
    struct err err;
    err_init(&err);
    assert_int_equal(cal_split_open(slice_from_cstr(text), &sp, &err), 0);
    assert_int_equal(cal_split_components(sp), 3);
    assert_int_equal(cal_split_objects(sp), 3);
    struct cal_split_obj o;
    assert_true(cal_split_next(sp, &o));
    assert_null(o.uid);
    assert_string_equal(o.why, "a component without UID");
    assert_int_equal(o.line, 4);
    assert_true(cal_split_next(sp, &o));
    assert_string_equal(o.uid, "z");
    assert_string_equal(o.why, "TZID \"Mars/Olympus\" has no VTIMEZONE in the file");
    assert_int_equal(o.line, 8);
    assert_true(cal_split_next(sp, &o));
    assert_string_equal(o.uid, "ok");
    assert_null(o.why);
    assert_false(cal_split_next(sp, &o));
    cal_split_free(&sp);
}

static void refused(const char *text, const char *want)
{
    struct cal_split *sp = (struct cal_split *)1;
    struct err err;
    err_init(&err);
    assert_int_equal(cal_split_open(slice_from_cstr(text), &sp, &err), -1);
    assert_null(sp);
    assert_ptr_equal(err.cond, &cal_cond_valid_calendar_data);
    if (strstr(err.msg, want) == NULL) {
        fail_msg("message \"%s\" lacks \"%s\"", err.msg, want);
    }
}

static void test_split_refuses_what_is_not_a_file(void **state)
{
    (void)state;
    refused("", "no VCALENDAR");
    refused("hello\r\n", "content outside VCALENDAR at line 1");
    refused("BEGIN:VEVENT\r\nEND:VEVENT\r\n", "BEGIN of something other than VCALENDAR at line 1");
    refused("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nEND:VTODO\r\n",
            "END that does not match its BEGIN at line 3");
    refused("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\n", "the file ends inside a component");
    refused("BEGIN:VCALENDAR\r\nBEGIN:VCALENDAR\r\n", "VCALENDAR inside VCALENDAR at line 2");
    refused("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\nEND:VCALENDAR\r\n", "at line 3");
}

static void test_join_writes_each_zone_once_and_round_trips(void **state)
{
    (void)state;
    struct got got[8];
    size_t n = split_all(file_text, got, 8);
    /* a second object in Berlin: its zone must not be written twice */
    const char *more = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//T//EN\r\n" BERLIN
                       "BEGIN:VEVENT\r\nUID:d@x\r\nDTSTAMP:20260101T000000Z\r\n"
                       "DTSTART;TZID=Europe/Berlin:20260301T080000\r\nEND:VEVENT\r\n"
                       "END:VCALENDAR\r\n";
    struct cal_join *j = cal_join_new(1 << 16);
    struct buf out;
    buf_init(&out, 1 << 20);
    assert_int_equal(cal_join_head(j, "Work; team, \"a\\b\"", &out), 0);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(cal_join_object(j, slice_from_cstr(got[i].ics), &out), 0);
    }
    assert_int_equal(cal_join_object(j, slice_from_cstr(more), &out), 0);
    assert_int_equal(cal_join_tail(j, &out), 0);
    cal_join_free(&j);
    assert_null(j);
    const char *file = buf_cstr(&out);
    assert_int_equal(count(file, "BEGIN:VTIMEZONE"), 2);
    assert_int_equal(count(file, "TZID:Europe/Berlin"), 1);
    assert_int_equal(count(file, "BEGIN:VCALENDAR"), 1);
    assert_int_equal(count(file, "BEGIN:VEVENT"), 5);
    assert_non_null(strstr(file, "X-WR-CALNAME:Work\\; team\\, \"a\\\\b\"\r\n"));

    /* split again: the same objects, byte for byte after the head */
    struct got again[8];
    size_t m = split_all(file, again, 8);
    assert_int_equal(m, n + 1);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(again[i].uid, got[i].uid);
        const char *body_a = strstr(got[i].ics, "PRODID");
        const char *body_b = strstr(again[i].ics, "CALSCALE:GREGORIAN\r\n");
        assert_non_null(body_a);
        assert_non_null(body_b);
        body_a = strchr(body_a, '\n') + 1;
        body_b += strlen("CALSCALE:GREGORIAN\r\n");
        assert_string_equal(body_a, body_b);
        valid(again[i].ics);
    }
    assert_string_equal(again[n].uid, "d@x");
    assert_int_equal(count(again[n].ics, "BEGIN:VTIMEZONE"), 1);
    free_got(again, m);
    free_got(got, n);
    buf_deinit(&out);
}

static void test_join_past_the_zone_limit_repeats_zones(void **state)
{
    (void)state;
    const char *obj = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//T//EN\r\n" BERLIN
                      "BEGIN:VEVENT\r\nUID:d@x\r\nDTSTAMP:20260101T000000Z\r\n"
                      "DTSTART;TZID=Europe/Berlin:20260301T080000\r\nEND:VEVENT\r\n"
                      "END:VCALENDAR\r\n";
    struct cal_join *j = cal_join_new(4); /* too small for any TZID */
    struct buf out;
    buf_init(&out, 1 << 20);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(cal_join_object(j, slice_from_cstr(obj), &out), 0);
    }
    assert_int_equal(count(buf_cstr(&out), "BEGIN:VTIMEZONE"), 3);
    /* a full output buffer is the one failure */
    struct buf small;
    buf_init(&small, 16);
    assert_int_equal(cal_join_object(j, slice_from_cstr(obj), &small), -1);
    buf_deinit(&small);
    buf_deinit(&out);
    cal_join_free(&j);
}

int main(void)
{
    cal_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_groups_series_and_zones),
        cmocka_unit_test(test_split_lf_only_and_several_calendars),
        cmocka_unit_test(test_split_reports_objects_it_cannot_make),
        cmocka_unit_test(test_split_refuses_what_is_not_a_file),
        cmocka_unit_test(test_join_writes_each_zone_once_and_round_trips),
        cmocka_unit_test(test_join_past_the_zone_limit_repeats_zones),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    cal_shutdown();
    return rc;
}
