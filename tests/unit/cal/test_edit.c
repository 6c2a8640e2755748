/* tests/unit/cal/test_edit.c: the editing API of cal/edit.h, the one way a protocol mapping
 * above cal reads and changes a calendar object: parsing (editable and read-only),
 * components and overrides, text, time, parameter, GEO, TRIGGER and RRULE values, adding and
 * removing properties and components, zones (VTIMEZONE, builtin, the blob's kind of
 * offsets), the instance walk and serialization. Instants are exact UTC epoch seconds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cal/cal.h"
#include "cal/edit.h"

#define HEAD "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Almanac tests//EN\r\n"
#define TAIL "END:VCALENDAR\r\n"

#define BERLIN                                                                          \
  "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\n"   \
  "TZOFFSETTO:+0200\r\nTZNAME:CEST\r\nDTSTART:19700329T020000\r\n"                      \
  "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\nBEGIN:STANDARD\r\n"        \
  "TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nTZNAME:CET\r\nDTSTART:19701025T030000\r\n" \
  "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"

/* A series in Berlin with an EXDATE, an override, people, an alarm and X- properties. */
static const char SERIES[] = HEAD BERLIN
    "BEGIN:VEVENT\r\nUID:s@x\r\nDTSTAMP:20260101T000000Z\r\n"
    "DTSTART;TZID=Europe/Berlin:20260105T110000\r\nDTEND;TZID=Europe/Berlin:20260105T120000\r\n"
    "RRULE:FREQ=MONTHLY;BYDAY=MO,TU;BYSETPOS=-1;COUNT=4;WKST=SU\r\n"
    "EXDATE;TZID=Europe/Berlin:20260202T110000\r\n"
    "SUMMARY:Plan\\, review\\; ship\\nnow\r\nLOCATION;ALTREP=\"https://x.example/m\":Room 1\r\n"
    "GEO:52.5;13.25\r\nSTATUS:TENTATIVE\r\nCLASS:PRIVATE\r\nTRANSP:TRANSPARENT\r\n"
    "ORGANIZER;CN=\"Doe, Jane\":mailto:jane@x\r\n"
    "ATTENDEE;PARTSTAT=accepted;ROLE=OPT-PARTICIPANT;RSVP=TRUE:mailto:bob@x\r\n"
    "ATTENDEE;CUTYPE=ROOM:mailto:room@x\r\nCATEGORIES:Work,Team\r\n"
    "X-MICROSOFT-CDO-BUSYSTATUS:OOF\r\nX-ALT-DESC;FMTTYPE=text/html:<p>hi</p>\r\n"
    "BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:R\r\nTRIGGER;RELATED=END:-PT15M\r\n"
    "END:VALARM\r\nEND:VEVENT\r\n"
    "BEGIN:VEVENT\r\nUID:s@x\r\nDTSTAMP:20260101T000000Z\r\n"
    "RECURRENCE-ID;TZID=Europe/Berlin:20260331T110000\r\n"
    "DTSTART:20260331T100000Z\r\nDURATION:P1DT2H\r\nSUMMARY:Moved\r\nEND:VEVENT\r\n" TAIL;

static struct cal_doc *parse(struct arena *a, const char *ics, bool read_only)
{
    struct err e;
    err_init(&e);
    struct slice s = {ics, strlen(ics)};
    struct cal_doc *d = read_only ? cal_doc_parse_read(s, a, &e) : cal_doc_parse(s, a, &e);
    assert_non_null(d);
    return d;
}

static void test_edit_reads_components_texts_and_parameters(void **state)
{
    (void)state;
    for (int ro = 0; ro < 2; ro++) {
        struct arena *a = arena_create();
        struct cal_doc *d = parse(a, SERIES, ro);
        struct cal_node *root = cal_doc_root(d);
        assert_int_equal(cal_node_kind(root), CAL_NODE_VCALENDAR);
        struct cal_node *m = cal_doc_master(d);
        assert_non_null(m);
        assert_null(cal_prop_first(m, CAL_PROP_RECURRENCEID));
        size_t n = 0;
        for (struct cal_node *c = cal_node_first(root, CAL_NODE_VEVENT); c;
             c = cal_node_next(root, CAL_NODE_VEVENT)) {
            assert_string_equal(cal_node_uid(c), "s@x");
            n++;
        }
        assert_int_equal(n, 2);
        /* the read-only parse leaves the VTIMEZONE out of the tree */
        assert_int_equal(cal_node_first(root, CAL_NODE_VTIMEZONE) != NULL, !ro);

        assert_string_equal(cal_prop_text(cal_prop_first(m, CAL_PROP_SUMMARY)),
                            "Plan, review; ship\nnow");
        struct cal_prop *loc = cal_prop_first(m, CAL_PROP_LOCATION);
        assert_string_equal(cal_prop_text(loc), "Room 1");
        assert_string_equal(cal_prop_param(loc, CAL_PARAM_ALTREP), "https://x.example/m");
        assert_null(cal_prop_param(loc, CAL_PARAM_CN));
        double lat = 0, lon = 0;
        assert_true(cal_prop_geo(cal_prop_first(m, CAL_PROP_GEO), &lat, &lon));
        assert_true(lat == 52.5 && lon == 13.25);
        assert_false(cal_prop_geo(loc, &lat, &lon));
        assert_string_equal(cal_prop_text(cal_prop_first(m, CAL_PROP_STATUS)), "TENTATIVE");
        assert_string_equal(cal_prop_text(cal_prop_first(m, CAL_PROP_CLASS)), "PRIVATE");
        assert_string_equal(cal_prop_text(cal_prop_first(m, CAL_PROP_TRANSP)), "TRANSPARENT");

        struct cal_prop *org = cal_prop_first(m, CAL_PROP_ORGANIZER);
        assert_string_equal(cal_prop_text(org), "mailto:jane@x");
        assert_string_equal(cal_prop_param(org, CAL_PARAM_CN), "Doe, Jane");
        assert_int_equal(cal_prop_count(m, CAL_PROP_ATTENDEE), 2);
        struct cal_prop *bob = cal_prop_first(m, CAL_PROP_ATTENDEE);
        assert_string_equal(cal_prop_text(bob), "mailto:bob@x");
        assert_string_equal(cal_prop_param(bob, CAL_PARAM_PARTSTAT), "ACCEPTED"); /* any case */
        assert_string_equal(cal_prop_param(bob, CAL_PARAM_ROLE), "OPT-PARTICIPANT");
        assert_string_equal(cal_prop_param(bob, CAL_PARAM_RSVP), "TRUE");
        struct cal_prop *room = cal_prop_next(m, CAL_PROP_ATTENDEE);
        assert_string_equal(cal_prop_param(room, CAL_PARAM_CUTYPE), "ROOM");
        assert_null(cal_prop_next(m, CAL_PROP_ATTENDEE));
        /* a multi-valued CATEGORIES reads as one property per value */
        assert_int_equal(cal_prop_count(m, CAL_PROP_CATEGORIES), 2);
        assert_string_equal(cal_prop_text(cal_prop_first(m, CAL_PROP_CATEGORIES)), "Work");

        assert_string_equal(cal_prop_text(cal_prop_x(m, "x-microsoft-cdo-busystatus")), "OOF");
        struct cal_prop *alt = cal_prop_x(m, "X-ALT-DESC");
        assert_string_equal(cal_prop_x_name(alt), "X-ALT-DESC");
        assert_int_equal(cal_prop_kind(alt), CAL_PROP_X);
        assert_string_equal(cal_prop_param(alt, CAL_PARAM_FMTTYPE), "text/html");
        assert_string_equal(cal_prop_text(alt), "<p>hi</p>");
        assert_null(cal_prop_x(m, "X-NONE"));

        struct cal_node *alarm = cal_node_first(m, CAL_NODE_VALARM);
        assert_int_equal(cal_node_kind(alarm), CAL_NODE_VALARM);
        assert_string_equal(cal_prop_text(cal_prop_first(alarm, CAL_PROP_ACTION)), "DISPLAY");
        struct cal_prop *tr = cal_prop_first(alarm, CAL_PROP_TRIGGER);
        bool is_abs = true;
        struct cal_time at;
        int64_t secs = 0;
        assert_true(cal_prop_trigger(tr, &is_abs, &at, &secs));
        assert_false(is_abs);
        assert_int_equal(secs, -900);
        assert_string_equal(cal_prop_param(tr, CAL_PARAM_RELATED), "END");
        assert_false(cal_prop_trigger(loc, &is_abs, &at, &secs));
        cal_doc_free(d);
        arena_destroy(&a);
    }
}

static void test_edit_times_convert_through_the_objects_zones(void **state)
{
    (void)state;
    for (int ro = 0; ro < 2; ro++) {
        struct arena *a = arena_create();
        struct cal_doc *d = parse(a, SERIES, ro);
        struct cal_node *m = cal_doc_master(d);
        struct cal_prop *sp = cal_prop_first(m, CAL_PROP_DTSTART);
        struct cal_time st;
        assert_true(cal_prop_time(sp, &st));
        assert_true(st.year == 2026 && st.month == 1 && st.day == 5 && st.hour == 11);
        assert_false(st.is_date || st.is_utc);
        assert_string_equal(cal_prop_param(sp, CAL_PARAM_TZID), "Europe/Berlin");
        struct cal_zone *z = cal_prop_zone(d, sp);
        assert_non_null(z);
        assert_int_equal(cal_time_to_unix(st, z), 1767607200);    /* 10:00Z */
        assert_int_equal(cal_time_to_unix(st, NULL), 1767610800); /* read as UTC */
        assert_int_equal(cal_zone_offset(z, 1767607200), 3600);
        assert_int_equal(cal_zone_offset(z, 1783245600), 7200); /* July */
        assert_int_equal(cal_node_end(d, m, st, z, 1767607200), 1767610800);
        /* the override: UTC start, a DURATION counted nominally */
        struct cal_node *ov = cal_node_next(cal_doc_root(d), CAL_NODE_VEVENT);
        if (cal_node_first(cal_doc_root(d), CAL_NODE_VEVENT) != m) {
            ov = cal_node_first(cal_doc_root(d), CAL_NODE_VEVENT);
        }
        struct cal_prop *ovs = cal_prop_first(ov, CAL_PROP_DTSTART);
        struct cal_time os;
        assert_true(cal_prop_time(ovs, &os));
        assert_true(os.is_utc);
        assert_ptr_equal(cal_prop_zone(d, ovs), cal_zone_utc());
        struct cal_duration dur;
        assert_true(cal_node_duration(ov, &dur));
        assert_true(dur.days == 1 && dur.hours == 2 && !dur.is_neg);
        assert_false(cal_node_duration(m, &dur));
        assert_int_equal(cal_node_end(d, ov, os, NULL, 1774951200), 1774951200 + 26 * 3600);
        struct cal_time rid;
        struct cal_prop *rp = cal_prop_first(ov, CAL_PROP_RECURRENCEID);
        assert_true(cal_prop_time(rp, &rid));
        assert_int_equal(cal_time_to_unix(rid, cal_prop_zone(d, rp)), 1774947600); /* 09:00Z */
        cal_doc_free(d);
        arena_destroy(&a);
    }
    /* the time helpers */
    struct cal_time t = cal_time_of(1767607200, NULL);
    assert_true(t.is_utc && t.year == 2026 && t.hour == 10 && !t.is_date);
    struct cal_zone *berlin = cal_zone_named("Europe/Berlin");
    assert_non_null(berlin);
    assert_ptr_equal(cal_zone_named("UTC"), cal_zone_utc());
    assert_null(cal_zone_named("Nowhere/Atlantis"));
    assert_string_equal(cal_zone_location(berlin), "Europe/Berlin");
    assert_non_null(strstr(cal_zone_tzid(berlin), "Europe/Berlin"));
    struct cal_time l = cal_time_of(1783245600, berlin); /* 2026-07-05 12:00 local */
    assert_true(!l.is_utc && l.hour == 12 && l.day == 5);
    assert_int_equal(cal_time_to_unix(l, berlin), 1783245600);
    struct cal_time d = {.year = 2026, .month = 2, .day = 28, .is_date = true};
    struct cal_time next = cal_time_add_days(d, 1);
    assert_true(next.month == 3 && next.day == 1 && next.is_date);
    assert_true(cal_time_compare(d, next) < 0 && cal_time_compare(next, d) > 0);
    assert_int_equal(cal_time_compare(d, d), 0);
    assert_int_equal(cal_time_weekday(d), 6); /* a Saturday */
    assert_int_equal(cal_days_in_month(2, 2028), 29);
    assert_true(cal_time_is_valid(d));
    d.day = 30;
    assert_false(cal_time_is_valid(d));
}

static void test_edit_rrule_reads_and_writes_our_struct(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    struct cal_doc *d = parse(a, SERIES, false);
    struct cal_node *m = cal_doc_master(d);
    struct cal_rrule r;
    assert_true(cal_prop_rrule(cal_prop_first(m, CAL_PROP_RRULE), &r));
    assert_int_equal(r.freq, CAL_FREQ_MONTHLY);
    assert_int_equal(r.interval, 1);
    assert_int_equal(r.count, 4);
    assert_false(r.has_until);
    assert_int_equal(r.week_start, 0); /* WKST=SU */
    assert_int_equal(r.nday, 2);
    assert_true(r.day[0].weekday == 1 && r.day[0].pos == 0 && r.day[1].weekday == 2);
    assert_int_equal(r.nsetpos, 1);
    assert_int_equal(r.setpos[0], -1);
    assert_int_equal(r.nother, 0);
    assert_false(cal_prop_rrule(cal_prop_first(m, CAL_PROP_SUMMARY), &r));

    /* written back from the struct: the same rule text */
    struct cal_node *ev = cal_node_new(CAL_NODE_VEVENT);
    struct cal_rrule w;
    cal_rrule_init(&w);
    w.freq = CAL_FREQ_YEARLY;
    w.interval = 2;
    w.has_until = true;
    w.until = (struct cal_time){.year = 2030, .month = 1, .day = 1, .is_utc = true};
    w.nmonth = 1;
    w.month[0] = 3;
    w.nday = 1;
    w.day[0] = (struct cal_rrule_day){-1, 0};
    struct cal_prop *p = cal_prop_add_rrule(ev, &w);
    assert_non_null(p);
    assert_string_equal(cal_prop_value(p, a),
                        "FREQ=YEARLY;UNTIL=20300101T000000Z;INTERVAL=2;BYDAY=-1SU;BYMONTH=3");
    struct cal_rrule back;
    assert_true(cal_prop_rrule(p, &back));
    assert_true(back.freq == CAL_FREQ_YEARLY && back.interval == 2 && back.has_until &&
                back.until.is_utc && back.until.year == 2030 && back.week_start == 1 &&
                back.day[0].pos == -1 && back.day[0].weekday == 0 && back.month[0] == 3);
    w.nother = 1; /* BYHOUR and the like: the struct cannot write them */
    assert_null(cal_prop_add_rrule(ev, &w));
    assert_int_equal(cal_prop_count(ev, CAL_PROP_RRULE), 1);
    cal_node_free(ev);
    cal_doc_free(d);
    arena_destroy(&a);
}

static int collect(void *ctx, struct cal_time local, int64_t utc)
{
    int64_t *v = ctx;
    (void)local;
    v[++v[0]] = utc;
    return v[0] == 3 ? 7 : 0;
}

static void test_edit_walks_instances_and_edits_a_document(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    struct cal_doc *d = parse(a, SERIES, false);
    struct cal_node *root = cal_doc_root(d);
    struct cal_node *m = cal_doc_master(d);
    /* the last Monday or Tuesday of each month at 11:00 Berlin (DTSTART, which the rule
     * does not match, is not the walk's); fn stops at the third */
    int64_t seen[8] = {0};
    assert_int_equal(cal_node_instances(d, m, collect, seen), 7);
    assert_int_equal(seen[0], 3);
    assert_int_equal(seen[1], 1769508000); /* 2026-01-27: the rule's own instances */
    assert_int_equal(seen[2], 1771927200); /* 2026-02-24 */
    assert_int_equal(seen[3], 1774947600); /* 2026-03-31, summer time */
    struct cal_node *ov = cal_node_first(root, CAL_NODE_VEVENT) == m
                              ? cal_node_next(root, CAL_NODE_VEVENT)
                              : cal_node_first(root, CAL_NODE_VEVENT);
    assert_int_equal(cal_node_instances(d, ov, collect, seen), -1); /* no RRULE */

    /* move Bob from the master to the override, keeping his parameters */
    struct cal_prop *bob = cal_prop_first(m, CAL_PROP_ATTENDEE);
    cal_prop_take(m, bob);
    cal_prop_put(ov, bob);
    cal_prop_set_param(bob, CAL_PARAM_PARTSTAT, "DECLINED");
    cal_prop_set_param(bob, CAL_PARAM_RSVP, NULL);
    cal_prop_set_param(bob, CAL_PARAM_CN, "Bob; \"B\"");
    assert_int_equal(cal_prop_count(m, CAL_PROP_ATTENDEE), 1);
    assert_int_equal(cal_prop_count(ov, CAL_PROP_ATTENDEE), 1);
    assert_string_equal(cal_prop_param(bob, CAL_PARAM_CN), "Bob; \"B\"");
    assert_string_equal(cal_prop_param(bob, CAL_PARAM_ROLE), "OPT-PARTICIPANT");
    assert_null(cal_prop_param(bob, CAL_PARAM_RSVP));
    /* replace texts, X- properties and times */
    cal_prop_remove_all(m, CAL_PROP_SUMMARY);
    cal_prop_add_text(m, CAL_PROP_SUMMARY, "New, text; here");
    cal_prop_remove_x(m, "x-alt-desc");
    assert_null(cal_prop_x(m, "X-ALT-DESC"));
    cal_prop_add_x(m, "X-EAS-TEST", "1");
    cal_prop_remove_all(m, CAL_PROP_STATUS);
    cal_prop_add_text(m, CAL_PROP_STATUS, "CANCELLED");
    assert_string_equal(cal_prop_text(cal_prop_first(m, CAL_PROP_STATUS)), "CANCELLED");
    cal_prop_remove_all(m, CAL_PROP_GEO);
    cal_prop_add_geo(m, -33.5, 151.25);
    struct cal_time ex = {.year = 2026, .month = 4, .day = 28, .hour = 11};
    cal_prop_add_time(m, CAL_PROP_EXDATE, ex, "Europe/Berlin");
    cal_prop_add_time(m, CAL_PROP_DTSTAMP, cal_time_of(1767607200, NULL), "ignored");
    struct cal_node *al = cal_node_first(m, CAL_NODE_VALARM);
    cal_prop_remove_all(al, CAL_PROP_TRIGGER);
    cal_prop_add_trigger(al, -3600);
    /* a new alarm on the override, then the override cloned and removed */
    struct cal_node *al2 = cal_node_new(CAL_NODE_VALARM);
    cal_prop_add_text(al2, CAL_PROP_ACTION, "AUDIO");
    cal_prop_add_trigger(al2, 0);
    cal_node_add(ov, al2);
    struct cal_node *copy = cal_node_clone(ov);
    cal_node_remove(root, ov);
    assert_ptr_equal(cal_node_first(root, CAL_NODE_VEVENT), m);
    assert_null(cal_node_next(root, CAL_NODE_VEVENT));
    cal_node_set_uid(copy, "other@x");
    cal_node_add(root, copy);

    struct slice out;
    cal_doc_text(d, a, &out);
    assert_non_null(strstr(out.ptr, "SUMMARY:New\\, text\\; here\r\n"));
    assert_non_null(strstr(out.ptr, "X-EAS-TEST:1\r\n"));
    assert_non_null(strstr(out.ptr, "STATUS:CANCELLED\r\n"));
    assert_non_null(strstr(out.ptr, "GEO:-33.5"));
    assert_non_null(strstr(out.ptr, "EXDATE;TZID=Europe/Berlin:20260428T110000\r\n"));
    assert_non_null(strstr(out.ptr, "DTSTAMP:20260105T100000Z\r\n"));
    assert_non_null(strstr(out.ptr, "TRIGGER:-PT1H\r\n"));
    assert_non_null(strstr(out.ptr, "ACTION:AUDIO\r\n"));
    assert_non_null(strstr(out.ptr, "UID:other@x\r\n"));
    assert_non_null(strstr(out.ptr, "PARTSTAT=DECLINED"));
    assert_non_null(strstr(out.ptr, "CN=\"Bob; "));
    assert_null(strstr(out.ptr, "RSVP=TRUE"));
    assert_null(strstr(out.ptr, "X-ALT-DESC"));
    cal_doc_free(d);

    /* a new document: zones added, screened and pruned when nothing names them */
    d = cal_doc_new("-//Almanac tests//EN");
    root = cal_doc_root(d);
    struct cal_node *ev = cal_node_new(CAL_NODE_VEVENT);
    cal_node_add(root, ev);
    cal_node_set_uid(ev, "n@x");
    struct err e;
    err_init(&e);
    assert_false(cal_doc_has_zone(d, "Europe/Berlin"));
    assert_int_equal(cal_doc_add_zone(d, BERLIN, &e), 0);
    assert_true(cal_doc_has_zone(d, "Europe/Berlin"));
    struct cal_zone *z = cal_doc_zone(d, "Europe/Berlin");
    assert_non_null(z);
    struct cal_time st = cal_time_of(1783245600, z);
    cal_prop_add_time(ev, CAL_PROP_DTSTART, st, "Europe/Berlin");
    cal_prop_add_time(ev, CAL_PROP_DTSTAMP, cal_time_of(1767607200, NULL), NULL);
    struct cal_prop *sp = cal_prop_first(ev, CAL_PROP_DTSTART);
    assert_non_null(cal_prop_zone(d, sp)); /* the doc's zone or its shared copy in the cache */
    assert_int_equal(cal_time_to_unix(st, cal_prop_zone(d, sp)), 1783245600);
    assert_int_equal(cal_doc_add_zone(d,
                                      "BEGIN:VTIMEZONE\r\nTZID:Unused\r\nBEGIN:STANDARD\r\n"
                                      "TZOFFSETFROM:+0300\r\nTZOFFSETTO:+0300\r\n"
                                      "DTSTART:19700101T000000\r\nEND:STANDARD\r\n"
                                      "END:VTIMEZONE\r\n",
                                      &e),
                     0);
    assert_int_equal(cal_doc_add_zone(d, "BEGIN:VEVENT\r\nEND:VEVENT\r\n", &e), -1);
    assert_ptr_equal(e.cond, &cal_cond_valid_calendar_data);
    cal_doc_prune_zones(d);
    assert_true(cal_doc_has_zone(d, "Europe/Berlin"));
    assert_false(cal_doc_has_zone(d, "Unused"));
    cal_doc_text(d, a, &out);
    assert_non_null(strstr(out.ptr, "DTSTART;TZID=Europe/Berlin:20260705T120000\r\n"));
    assert_non_null(strstr(out.ptr, "PRODID:-//Almanac tests//EN\r\n"));
    struct cal_info info;
    err_init(&e);
    assert_int_equal(cal_parse_object(out, CAL_COMP_VEVENT, a, &info, &e), 0);
    assert_int_equal(info.dtstart_utc, 1783245600);
    cal_doc_free(d);
    arena_destroy(&a);
}

static void test_edit_integers_rules_and_times_in_place(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    struct cal_doc *d = cal_doc_new("-//Almanac tests//EN");
    struct cal_node *ev = cal_node_new(CAL_NODE_VEVENT);
    cal_node_add(cal_doc_root(d), ev);
    cal_node_set_uid(ev, "i@x");
    /* RDATE and EXDATE as UTC DATE-TIMEs, without a VALUE parameter */
    cal_prop_add_time(ev, CAL_PROP_RDATE, cal_time_of(1767607200, NULL), NULL);
    cal_prop_add_time(ev, CAL_PROP_EXDATE, cal_time_of(1767607200, NULL), NULL);
    struct cal_prop *seq = cal_prop_add_int(ev, CAL_PROP_SEQUENCE, 7);
    int64_t v = 0;
    assert_true(cal_prop_int(seq, &v));
    assert_int_equal(v, 7);
    assert_false(cal_prop_int(cal_prop_first(ev, CAL_PROP_RDATE), &v));
    assert_non_null(cal_prop_add_rule(ev, CAL_PROP_EXRULE, "FREQ=WEEKLY;COUNT=2"));
    assert_null(cal_prop_add_rule(ev, CAL_PROP_RRULE, "COUNT=2"));
    assert_null(cal_prop_add_rule(ev, CAL_PROP_RRULE, "FREQ=SOMETIMES"));
    assert_int_equal(cal_prop_count(ev, CAL_PROP_RRULE), 0);
    /* a DTSTART rewritten in place: TZID kept, VALUE=DATE only for a date */
    struct cal_prop *sp =
        cal_prop_add_time(ev, CAL_PROP_DTSTART,
                          (struct cal_time){2026, 1, 5, 11, 0, 0, false, false}, "Europe/Berlin");
    cal_prop_set_time(sp, (struct cal_time){.year = 2026, .month = 1, .day = 6, .is_date = true});
    assert_string_equal(cal_prop_param(sp, CAL_PARAM_VALUE), "DATE");
    cal_prop_set_param(sp, CAL_PARAM_TZID, NULL);
    struct slice out;
    cal_doc_text(d, a, &out);
    assert_non_null(strstr(out.ptr, "RDATE:20260105T100000Z\r\n"));
    assert_non_null(strstr(out.ptr, "EXDATE:20260105T100000Z\r\n"));
    assert_non_null(strstr(out.ptr, "SEQUENCE:7\r\n"));
    assert_non_null(strstr(out.ptr, "EXRULE:FREQ=WEEKLY;COUNT=2\r\n"));
    assert_non_null(strstr(out.ptr, "DTSTART;VALUE=DATE:20260106\r\n"));
    cal_prop_set_time(sp, (struct cal_time){2026, 1, 6, 9, 30, 0, false, true});
    assert_null(cal_prop_param(sp, CAL_PARAM_VALUE));
    cal_doc_text(d, a, &out);
    assert_non_null(strstr(out.ptr, "DTSTART:20260106T093000Z\r\n"));
    cal_doc_free(d);

    /* RANGE, a zone's place and its VTIMEZONE text */
    d = parse(a,
              HEAD BERLIN "BEGIN:VEVENT\r\nUID:r@x\r\nDTSTAMP:20260101T000000Z\r\n"
                          "RECURRENCE-ID;RANGE=THISANDFUTURE;TZID=Europe/Berlin:20260105T110000\r\n"
                          "DTSTART;TZID=Europe/Berlin:20260105T120000\r\nEND:VEVENT\r\n" TAIL,
              false);
    struct cal_node *c = cal_node_first(cal_doc_root(d), CAL_NODE_VEVENT);
    assert_string_equal(cal_prop_param(cal_prop_first(c, CAL_PROP_RECURRENCEID), CAL_PARAM_RANGE),
                        "THISANDFUTURE");
    struct cal_zone *z = cal_prop_zone(d, cal_prop_first(c, CAL_PROP_DTSTART));
    const char *text = cal_zone_text(z, a);
    assert_non_null(text);
    assert_non_null(strstr(text, "BEGIN:VTIMEZONE"));
    assert_non_null(strstr(text, "TZOFFSETTO:+0200"));
    assert_string_equal(cal_zone_place(cal_zone_named("America/New_York")), "America/New_York");
    cal_doc_free(d);
    arena_destroy(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_edit_reads_components_texts_and_parameters),
        cmocka_unit_test(test_edit_times_convert_through_the_objects_zones),
        cmocka_unit_test(test_edit_rrule_reads_and_writes_our_struct),
        cmocka_unit_test(test_edit_walks_instances_and_edits_a_document),
        cmocka_unit_test(test_edit_integers_rules_and_times_in_place),
    };
    cal_init();
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    cal_shutdown();
    return rc;
}
