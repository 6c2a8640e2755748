/* tests/unit/repl/test_exwrite.c: PROPPATCH edits of appointments and MIME unwrapping
 * (repl/exwrite.c, repl/mime.c; exchange-replication.md §2.5, §4.4, §4.7). Every edit is read
 * back through repl/exprops.c, so the write and read halves of the mapping agree; failures
 * name their instruction and condition; created objects validate with cal_parse_object(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cal/cal.h"
#include "repl/exprops.h"
#include "repl/exwrite.h"

#define HEAD "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Almanac tests//EN\r\n"
#define TAIL "END:VCALENDAR\r\n"
#define EVENT                                                                         \
  HEAD "BEGIN:VEVENT\r\nUID:e-1\r\nDTSTAMP:20260101T000000Z\r\n"                      \
       "DTSTART:20260105T100000Z\r\nDTEND:20260105T110000Z\r\nSUMMARY:old\r\n"        \
       "END:VEVENT\r\nBEGIN:VEVENT\r\nUID:e-1\r\nRECURRENCE-ID:20260106T100000Z\r\n"  \
       "DTSTAMP:20260101T000000Z\r\nDTSTART:20260106T120000Z\r\nSUMMARY:override\r\n" \
       "END:VEVENT\r\n" TAIL

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

static struct repl_ex_edit set_s(enum repl_exprop p, const char *s)
{
    return (struct repl_ex_edit){.prop = p, .value = {.present = true, .s = s}};
}

static struct repl_ex_edit set_i(enum repl_exprop p, int64_t i)
{
    return (struct repl_ex_edit){.prop = p, .value = {.present = true, .i = i}};
}

static struct repl_ex_edit del(enum repl_exprop p)
{
    return (struct repl_ex_edit){.prop = p, .remove = true};
}

/* Applies the edits to `ics` (NULL: create), validates the result and reads it back. */
static void apply_ok(const char *ics, struct repl_ex_edit *e, size_t n, struct repl_ex_value *v)
{
    struct err err;
    err_init(&err);
    struct slice out;
    struct slice in = ics ? slice_from_cstr(ics) : (struct slice){NULL, 0};
    assert_int_equal(repl_ex_apply(in, NULL, e, n, arena, &out, &err), 0);
    struct cal_info info;
    assert_int_equal(cal_parse_object(out, CAL_COMP_VEVENT, arena, &info, &err), 0);
    assert_int_equal(repl_exprops_read(out, NULL, arena, v, &err), 0);
}

static void test_exwrite_edits_read_back_through_exprops(void **state)
{
    (void)state;
    const char *kw[] = {"Work", "Blue"};
    struct repl_ex_edit e[] = {
        set_i(REPL_EX_DTSTART, 1769936400), /* 2026-02-01T09:00:00Z */
        set_i(REPL_EX_DTEND, 1769941800),   /* +1h30 */
        set_s(REPL_EX_LOCATION, "Room 1"),
        set_s(REPL_EX_BUSYSTATUS, "tentative"),
        set_i(REPL_EX_ALLDAYEVENT, 1),
        set_s(REPL_EX_SUBJECT, "new"),
        set_s(REPL_EX_TEXTDESCRIPTION, "two\nlines"),
        set_s(REPL_EX_MEETINGSTATUS, "confirmed"),
        set_i(REPL_EX_PRIORITY, 5),
        set_i(REPL_EX_SENSITIVITY, 1),
        set_i(REPL_EX_TIMEZONEID, 4),
        set_i(REPL_EX_REMINDEROFFSET, 600),
        {.prop = REPL_EX_KEYWORDS, .value = {.present = true, .mv_s = kw, .n = 2}},
    };
    struct repl_ex_value v[REPL_EX_COUNT];
    apply_ok(EVENT, e, ALM_ARRAY_LEN(e), v);
    assert_int_equal(v[REPL_EX_DTSTART].i, 1769936400);
    assert_int_equal(v[REPL_EX_DTEND].i, 1769941800);
    assert_int_equal(v[REPL_EX_DURATION].i, 5400);
    assert_string_equal(v[REPL_EX_LOCATION].s, "Room 1");
    assert_string_equal(v[REPL_EX_BUSYSTATUS].s, "TENTATIVE");
    assert_string_equal(v[REPL_EX_TRANSPARENT].s, "OPAQUE");
    assert_int_equal(v[REPL_EX_ALLDAYEVENT].i, 1);
    assert_string_equal(v[REPL_EX_SUBJECT].s, "new");
    assert_string_equal(v[REPL_EX_TEXTDESCRIPTION].s, "two\nlines");
    assert_string_equal(v[REPL_EX_MEETINGSTATUS].s, "CONFIRMED");
    assert_int_equal(v[REPL_EX_PRIORITY].i, 5);
    assert_int_equal(v[REPL_EX_SENSITIVITY].i, 2); /* §4.5: 1 has no form, becomes PRIVATE */
    assert_int_equal(v[REPL_EX_TIMEZONEID].i, 4);
    assert_int_equal(v[REPL_EX_REMINDEROFFSET].i, 600);
    assert_int_equal(v[REPL_EX_KEYWORDS].n, 2);
    assert_string_equal(v[REPL_EX_KEYWORDS].mv_s[1], "Blue");
    assert_string_equal(v[REPL_EX_UID].s, "e-1");
}

static void test_exwrite_edits_only_the_master(void **state)
{
    (void)state;
    struct repl_ex_edit e[] = {set_s(REPL_EX_SUBJECT, "master"), del(REPL_EX_DTEND)};
    struct err err;
    err_init(&err);
    struct slice out;
    assert_int_equal(repl_ex_apply(slice_from_cstr(EVENT), NULL, e, 2, arena, &out, &err), 0);
    assert_non_null(strstr(out.ptr, "SUMMARY:override"));
    assert_non_null(strstr(out.ptr, "SUMMARY:master"));
    assert_null(strstr(out.ptr, "DTEND"));
}

static void test_exwrite_busystatus_free_is_transparent(void **state)
{
    (void)state;
    struct repl_ex_edit e[] = {set_s(REPL_EX_BUSYSTATUS, "FREE")};
    struct repl_ex_value v[REPL_EX_COUNT];
    apply_ok(EVENT, e, 1, v);
    assert_string_equal(v[REPL_EX_BUSYSTATUS].s, "FREE");
    assert_string_equal(v[REPL_EX_TRANSPARENT].s, "TRANSPARENT");
}

static void test_exwrite_date_start_stays_a_date_at_midnight(void **state)
{
    (void)state;
    const char *ics = HEAD "BEGIN:VEVENT\r\nUID:d\r\nDTSTAMP:20260101T000000Z\r\n"
                           "DTSTART;VALUE=DATE:20260105\r\nDTEND;VALUE=DATE:20260106\r\n"
                           "END:VEVENT\r\n" TAIL;
    struct repl_ex_edit e[] = {set_i(REPL_EX_DTSTART, 1767744000)}; /* 2026-01-07 */
    struct err err;
    err_init(&err);
    struct slice out;
    assert_int_equal(repl_ex_apply(slice_from_cstr(ics), NULL, e, 1, arena, &out, &err), 1);
    assert_ptr_equal(e[0].cond, &repl_cond_ex_conflict); /* ends before it starts */
    struct repl_ex_edit e2[] = {set_i(REPL_EX_DTEND, 1767916800),
                                set_i(REPL_EX_DTSTART, 1767744000)};
    assert_int_equal(repl_ex_apply(slice_from_cstr(ics), NULL, e2, 2, arena, &out, &err), 0);
    assert_non_null(strstr(out.ptr, "DTSTART;VALUE=DATE:20260107"));
    assert_non_null(strstr(out.ptr, "DTEND;VALUE=DATE:20260109"));
    /* a start that is no midnight turns both into DATE-TIMEs */
    struct repl_ex_edit e3[] = {set_i(REPL_EX_DTSTART, 1767600000)}; /* 2026-01-05T08:00Z */
    assert_int_equal(repl_ex_apply(slice_from_cstr(ics), NULL, e3, 1, arena, &out, &err), 0);
    assert_non_null(strstr(out.ptr, "DTSTART:20260105T080000Z"));
    assert_non_null(strstr(out.ptr, "DTEND:20260106T000000Z"));
}

static void test_exwrite_failures_name_their_instruction(void **state)
{
    (void)state;

    static const struct {
        struct repl_ex_edit e;
        const struct err_cond *cond;
    } cases[] = {
        {{.prop = REPL_EX_BUSYSTATUS, .value = {.present = true, .s = "asleep"}},
         &repl_cond_ex_value},
        {{.prop = REPL_EX_TRANSPARENT, .value = {.present = true, .s = "x"}}, &repl_cond_ex_value},
        {{.prop = REPL_EX_MEETINGSTATUS, .value = {.present = true, .s = "x"}},
         &repl_cond_ex_value},
        {{.prop = REPL_EX_PRIORITY, .value = {.present = true, .i = 10}}, &repl_cond_ex_value},
        {{.prop = REPL_EX_SEQUENCE, .value = {.present = true, .i = -1}}, &repl_cond_ex_value},
        {{.prop = REPL_EX_SENSITIVITY, .value = {.present = true, .i = 4}}, &repl_cond_ex_value},
        {{.prop = REPL_EX_DURATION, .value = {.present = true, .i = -5}}, &repl_cond_ex_value},
        {{.prop = REPL_EX_MESSAGECLASS, .value = {.present = true, .s = "IPM.Note"}},
         &repl_cond_ex_value},
        {{.prop = REPL_EX_DTEND, .value = {.present = true, .i = 0}}, &repl_cond_ex_conflict},
        {{.prop = REPL_EX_DTSTART, .remove = true}, &repl_cond_ex_conflict},
    };

    const char *bad_rule = "FREQ=SOMETIMES";
    for (size_t i = 0; i < ALM_ARRAY_LEN(cases) + 1; i++) {
        struct repl_ex_edit e[2] = {set_s(REPL_EX_LOCATION, "ok")};
        e[1] = i < ALM_ARRAY_LEN(cases)
                   ? cases[i].e
                   : (struct repl_ex_edit){.prop = REPL_EX_RRULE,
                                           .value = {.present = true, .mv_s = &bad_rule, .n = 1}};
        struct err err;
        err_init(&err);
        struct slice out = {NULL, 0};
        assert_int_equal(repl_ex_apply(slice_from_cstr(EVENT), NULL, e, 2, arena, &out, &err), 1);
        assert_null(e[0].cond);
        assert_ptr_equal(e[1].cond, i < ALM_ARRAY_LEN(cases) ? cases[i].cond : &repl_cond_ex_value);
        assert_non_null(e[1].msg);
        assert_null(out.ptr);
        assert_null(err.cond);
    }
}

static void test_exwrite_create_fills_uid_dtstamp_and_dtend(void **state)
{
    (void)state;
    struct repl_ex_edit e[] = {set_s(REPL_EX_SUBJECT, "created"),
                               set_i(REPL_EX_DTSTART, 1769936400)};
    struct repl_ex_value v[REPL_EX_COUNT];
    apply_ok(NULL, e, 2, v);
    assert_int_equal(strlen(v[REPL_EX_UID].s), 32);
    assert_true(v[REPL_EX_DTSTAMP].present);
    assert_int_equal(v[REPL_EX_DTEND].i, 1769936400);
    struct repl_ex_edit u[] = {set_s(REPL_EX_UID, "mine"), set_i(REPL_EX_DTSTART, 1769936400),
                               set_i(REPL_EX_DURATION, 60)};
    apply_ok(NULL, u, 3, v);
    assert_string_equal(v[REPL_EX_UID].s, "mine");
    assert_int_equal(v[REPL_EX_DTEND].i, 1769936460);
}

static void test_exwrite_create_needs_dtstart(void **state)
{
    (void)state;
    struct repl_ex_edit e[] = {set_s(REPL_EX_SUBJECT, "x")};
    struct err err;
    err_init(&err);
    struct slice out;
    assert_int_equal(repl_ex_apply((struct slice){NULL, 0}, NULL, e, 1, arena, &out, &err), -1);
    assert_ptr_equal(err.cond, &repl_cond_ex_dtstart_required);
}

static void test_exwrite_refuses_objects_without_vevent(void **state)
{
    (void)state;
    struct repl_ex_edit e[] = {set_s(REPL_EX_SUBJECT, "x")};
    struct err err;
    err_init(&err);
    struct slice out;
    const char *todo =
        HEAD "BEGIN:VTODO\r\nUID:t\r\nDTSTAMP:20260101T000000Z\r\nEND:VTODO\r\n" TAIL;
    assert_int_equal(repl_ex_apply(slice_from_cstr(todo), NULL, e, 1, arena, &out, &err), -1);
    assert_ptr_equal(err.cond, &cal_cond_valid_object);
}

static void test_exwrite_writable_matches_the_brief(void **state)
{
    (void)state;
    assert_false(repl_exprop_writable(REPL_EX_UID, false));
    assert_true(repl_exprop_writable(REPL_EX_UID, true));
    assert_false(repl_exprop_writable(REPL_EX_INSTANCETYPE, true));
    assert_false(repl_exprop_writable(REPL_EX_DTSTAMP, false));
    assert_false(repl_exprop_writable(REPL_EX_HTMLDESCRIPTION, false));
    assert_true(repl_exprop_writable(REPL_EX_DTSTART, false));
    assert_true(repl_exprop_writable(REPL_EX_SUBJECT, false));
}

/* ---------------------------------------------------------------------------------------- */
/* Meetings: H:to, H:cc, C:isorganizer, C:responsestatus */

#define MEETING                                                                        \
  "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:m\r\n"     \
  "DTSTAMP:20260101T000000Z\r\nDTSTART:20260201T090000Z\r\nDTEND:20260201T100000Z\r\n" \
  "ORGANIZER;CN=Alice:mailto:alice@example.org\r\n"                                    \
  "ATTENDEE;PARTSTAT=ACCEPTED:mailto:alice@example.org\r\n"                            \
  "ATTENDEE;CN=Bob;PARTSTAT=ACCEPTED:mailto:bob@example.org\r\n"                       \
  "ATTENDEE;ROLE=OPT-PARTICIPANT;PARTSTAT=TENTATIVE:mailto:carol@example.org\r\n"      \
  "END:VEVENT\r\nEND:VCALENDAR\r\n"

static void test_exprops_meeting_reads_for_each_principal(void **state)
{
    (void)state;
    struct err err;
    err_init(&err);
    struct repl_ex_value v[REPL_EX_COUNT];
    const char *alice[] = {"Alice@Example.org"};
    const char *carol[] = {"robert@corp.example", "carol@example.org"};
    struct repl_ex_self as_alice = {alice, 1}, as_carol = {carol, 2};
    assert_int_equal(repl_exprops_read(slice_from_cstr(MEETING), &as_alice, arena, v, &err), 0);
    assert_string_equal(v[REPL_EX_TO].s, "\"Bob\" <bob@example.org>");
    assert_string_equal(v[REPL_EX_CC].s, "carol@example.org");
    assert_int_equal(v[REPL_EX_ISORGANIZER].i, 1);
    assert_int_equal(v[REPL_EX_RESPONSESTATUS].i, 1); /* organized */
    assert_int_equal(repl_exprops_read(slice_from_cstr(MEETING), &as_carol, arena, v, &err), 0);
    assert_int_equal(v[REPL_EX_ISORGANIZER].i, 0);
    assert_int_equal(v[REPL_EX_RESPONSESTATUS].i, 2); /* tentative */
    /* no meeting: no attendees, organizer of it, no response */
    assert_int_equal(repl_exprops_read(slice_from_cstr(EVENT), &as_carol, arena, v, &err), 0);
    assert_false(v[REPL_EX_TO].present);
    assert_int_equal(v[REPL_EX_ISORGANIZER].i, 1);
    assert_int_equal(v[REPL_EX_RESPONSESTATUS].i, 0);
}

/* `s` with its folded lines joined (RFC 5545 §3.1), in the arena. */
static const char *unfold(struct slice s)
{
    char *o = arena_zalloc(arena, s.len + 1);
    size_t n = 0;
    for (size_t i = 0; i < s.len; i++) {
        if (s.ptr[i] == '\r' && i + 2 < s.len && s.ptr[i + 1] == '\n' && s.ptr[i + 2] == ' ') {
            i += 2;
            continue;
        }
        o[n++] = s.ptr[i];
    }
    return o;
}

static void test_exwrite_recipients_and_response(void **state)
{
    (void)state;
    struct err err;
    err_init(&err);
    struct slice out;
    struct repl_ex_value v[REPL_EX_COUNT];
    const char *alice[] = {"alice@example.org"};
    struct repl_ex_self as_alice = {alice, 1};
    /* H:to replaces the required attendees: bob stays with his answer, dave is invited, the
     * optional carol and the organizer's own line are left alone */
    struct repl_ex_edit e[] = {
        set_s(REPL_EX_TO, "bob@example.org, \"Dave, D.\" <dave@example.org>")};
    assert_int_equal(repl_ex_apply(slice_from_cstr(MEETING), &as_alice, e, 1, arena, &out, &err),
                     0);
    assert_non_null(
        strstr(unfold(out), "ATTENDEE;CN=Bob;PARTSTAT=ACCEPTED;ROLE=REQ-PARTICIPANT:mailto:bob@"));
    assert_non_null(
        strstr(unfold(out), "ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:dave@"));
    assert_non_null(strstr(unfold(out), "carol@example.org"));
    assert_int_equal(repl_exprops_read(out, &as_alice, arena, v, &err), 0);
    assert_string_equal(v[REPL_EX_TO].s,
                        "\"Bob\" <bob@example.org>, \"Dave, D.\" <dave@example.org>");
    /* H:cc removed: carol goes */
    struct repl_ex_edit e2[] = {del(REPL_EX_CC)};
    assert_int_equal(repl_ex_apply(out, &as_alice, e2, 1, arena, &out, &err), 0);
    assert_null(strstr(unfold(out), "carol@example.org"));
    /* recipients on an event without ORGANIZER make the principal its organizer */
    struct repl_ex_edit e3[] = {set_s(REPL_EX_TO, "bob@example.org")};
    assert_int_equal(repl_ex_apply(slice_from_cstr(EVENT), &as_alice, e3, 1, arena, &out, &err), 0);
    assert_non_null(strstr(unfold(out), "ORGANIZER:mailto:alice@example.org"));
    /* responsestatus: an attendee's answer; the organizer has none to give */
    const char *bob[] = {"bob@example.org"};
    struct repl_ex_self as_bob = {bob, 1};
    struct repl_ex_edit e4[] = {set_i(REPL_EX_RESPONSESTATUS, 4)};
    assert_int_equal(repl_ex_apply(slice_from_cstr(MEETING), &as_bob, e4, 1, arena, &out, &err), 0);
    assert_non_null(strstr(unfold(out), "PARTSTAT=DECLINED:mailto:bob@example.org"));
    assert_int_equal(repl_ex_apply(slice_from_cstr(MEETING), &as_alice, e4, 1, arena, &out, &err),
                     1);
    assert_ptr_equal(e4[0].cond, &repl_cond_ex_value);
    struct repl_ex_edit e5[] = {set_i(REPL_EX_RESPONSESTATUS, 1)};
    assert_int_equal(repl_ex_apply(slice_from_cstr(MEETING), &as_bob, e5, 1, arena, &out, &err), 1);
    struct repl_ex_edit e6[] = {set_s(REPL_EX_CC, "\"No address\"")};
    assert_int_equal(repl_ex_apply(slice_from_cstr(MEETING), &as_bob, e6, 1, arena, &out, &err), 1);
    assert_false(repl_exprop_writable(REPL_EX_ISORGANIZER, false));
}

/* ---------------------------------------------------------------------------------------- */
/* MIME (§2.5) */

#define CAL_BODY "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n"

static void test_mime_unwraps_valid_messages(void **state)
{
    (void)state;

    static const struct {
        const char *msg;
        const char *want;
    } cases[] = {
        {"Content-Type: text/calendar\r\n\r\n" CAL_BODY, CAL_BODY},
        {"content-type: TEXT/Calendar; method=REQUEST\n\n" CAL_BODY, CAL_BODY},
        {"Subject: x\r\nContent-Type: text/calendar\r\nContent-Transfer-Encoding: BASE64\r\n\r\n"
         "QkVHSU46VkNBTEVOREFSDQpWRVJTSU9OOjIuMA0KRU5EOlZD\r\nQUxFTkRBUg0K\r\n",
         CAL_BODY},
        {"Content-Type: text/calendar\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
         "BEGIN:VCAL=\r\nENDAR=0D=0AVERSION:2.0=0D=0AEND:VCALENDAR=0D=0A",
         CAL_BODY},
        {"Content-Type: multipart/mixed;\r\n boundary=\"b\"\r\n\r\n--b\r\n"
         "Content-Type: text/plain\r\n\r\nhi\r\n--b\r\nContent-Type: text/calendar\r\n\r\n" CAL_BODY
         "\r\n--b--\r\n",
         CAL_BODY},
        {"Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\n"
         "Content-Type: multipart/alternative; boundary=i\r\n\r\n--i\r\n"
         "Content-Type: text/calendar\r\n\r\nfirst\r\n--i--\r\n--o\r\n"
         "Content-Type: text/calendar\r\n\r\nsecond\r\n--o--\r\n",
         "first"},
    };

    for (size_t i = 0; i < ALM_ARRAY_LEN(cases); i++) {
        struct err err;
        err_init(&err);
        struct slice out;
        struct slice msg = slice_from_cstr(cases[i].msg);
        assert_int_equal(repl_mime_unwrap(msg, arena, &out, &err), 0);
        assert_true(out.len <= msg.len);
        assert_int_equal(out.len, strlen(cases[i].want));
        assert_memory_equal(out.ptr, cases[i].want, out.len);
    }
}

static void test_mime_refuses_messages_without_a_usable_calendar(void **state)
{
    (void)state;

    static const struct {
        const char *msg;
        const struct err_cond *cond;
    } cases[] = {
        {"", &repl_cond_ex_bad_mime},
        {"Content-Type: text/calendar", &repl_cond_ex_bad_mime},
        {"no colon here\r\n\r\nbody", &repl_cond_ex_bad_mime},
        {"Content-Type: text/plain\r\n\r\nhello", &repl_cond_ex_no_calendar},
        {"\r\nno headers: text/plain by default", &repl_cond_ex_no_calendar},
        {"Content-Type: text/calendar\r\nContent-Transfer-Encoding: x-uue\r\n\r\nx",
         &repl_cond_ex_no_calendar},
        {"Content-Type: text/calendar\r\nContent-Transfer-Encoding: base64\r\n\r\n%%%",
         &repl_cond_ex_bad_mime},
        {"Content-Type: multipart/mixed\r\n\r\n--x\r\n", &repl_cond_ex_bad_mime},
        {"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n"
         "\r\nhi\r\n--x--\r\n",
         &repl_cond_ex_no_calendar},
    };

    for (size_t i = 0; i < ALM_ARRAY_LEN(cases); i++) {
        struct err err;
        err_init(&err);
        struct slice out;
        assert_int_equal(repl_mime_unwrap(slice_from_cstr(cases[i].msg), arena, &out, &err), -1);
        assert_ptr_equal(err.cond, cases[i].cond);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Repairs (§2.2) */

static void test_repair_leaves_a_complete_object_alone(void **state)
{
    (void)state;
    struct slice in = slice_from_cstr(EVENT), out;
    unsigned changed = 99;
    const char *uid = "x";
    assert_int_equal(repl_ex_repair(in, 1 << 20, arena, &out, &changed, &uid), 0);
    assert_int_equal(changed, 0);
    assert_ptr_equal(out.ptr, in.ptr);
    assert_null(uid);
}

static void test_repair_inserts_uid_and_dtstamp_keeping_every_other_byte(void **state)
{
    (void)state;
    const char *in =
        HEAD "BEGIN:VEVENT\r\nDTSTART:20260105T100000Z\r\nSUMMARY:a long\r\n  "
             "folded UID:no\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\nUID:alarm\r\n"
             "TRIGGER:-PT5M\r\nDESCRIPTION:r\r\nEND:VALARM\r\nEND:VEVENT\r\n"
             "BEGIN:VEVENT\r\nUID:e-2\r\nRECURRENCE-ID:20260106T100000Z\r\n"
             "DTSTAMP:20260101T000000Z\r\nDTSTART:20260106T100000Z\r\nEND:VEVENT\r\n" TAIL;
    struct slice out;
    unsigned changed;
    const char *uid;
    assert_int_equal(repl_ex_repair(slice_from_cstr(in), 1 << 20, arena, &out, &changed, &uid), 0);
    assert_int_equal(changed, REPL_EX_REPAIRED_UID | REPL_EX_REPAIRED_DTSTAMP);
    assert_string_equal(uid, "e-2"); /* the other component's, so that one object has one UID */
    const char *ins = strstr(out.ptr, "BEGIN:VEVENT\r\nUID:e-2\r\nDTSTAMP:");
    assert_non_null(ins);
    /* removing the two inserted lines gives back the input byte for byte */
    size_t head = (size_t)(ins - out.ptr) + strlen("BEGIN:VEVENT\r\n");
    const char *rest = strstr(ins + strlen("BEGIN:VEVENT\r\nUID:e-2\r\n"), "\r\n") + 2;
    assert_int_equal(out.len - (size_t)(rest - out.ptr) + head, strlen(in));
    assert_memory_equal(out.ptr, in, head);
    assert_memory_equal(rest, in + head, strlen(in) - head);
    struct cal_info info;
    struct err err;
    err_init(&err);
    assert_int_equal(cal_parse_object(out, CAL_COMP_VEVENT, arena, &info, &err), 0);
}

static void test_repair_generates_a_uid_with_lf_line_ends_and_respects_the_limit(void **state)
{
    (void)state;
    const char *in = "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//t//EN\nBEGIN:VTODO\n"
                     "DTSTAMP:20260101T000000Z\nEND:VTODO\nEND:VCALENDAR\n";
    struct slice out;
    unsigned changed;
    const char *uid;
    assert_int_equal(repl_ex_repair(slice_from_cstr(in), 1 << 20, arena, &out, &changed, &uid), 0);
    assert_int_equal(changed, REPL_EX_REPAIRED_UID);
    assert_int_equal(strlen(uid), 32);
    assert_non_null(strstr(out.ptr, "BEGIN:VTODO\nUID:"));
    assert_null(strstr(out.ptr, "\r"));
    assert_int_equal(
        repl_ex_repair(slice_from_cstr(in), strlen(in) + 10, arena, &out, &changed, &uid), -1);
}

/* Every prefix of a message, and deterministic byte mutations of it, unwrap to 0 or -1 with
 * a condition, never past the input (ASan checks the reads); the same inputs through
 * repl_ex_repair() keep within the limit. */
static void test_mime_and_repair_survive_truncation_and_mutation(void **state)
{
    (void)state;
    static const char msg[] =
        "Content-Type: multipart/mixed;\r\n boundary=\"b\"\r\n\r\n--b\r\n"
        "Content-Type: text/plain\r\n\r\nhi\r\n--b\r\nContent-Type: text/calendar\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n\r\nBEGIN:VCALENDAR=0D=0A"
        "BEGIN:VEVENT=\r\n\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n--b--\r\n";
    char buf[sizeof(msg)];
    uint32_t seed = 12345;
    for (size_t round = 0; round < 3000; round++) {
        size_t len = sizeof(msg) - 1;
        memcpy(buf, msg, len);
        if (round < len) {
            len = round; /* every prefix */
        } else {
            for (int k = 0; k < 4; k++) {
                seed = seed * 1103515245u + 12345u;
                size_t at = (seed >> 8) % len;
                static const char pick[] = "-\r\n=:; \"bB\x00\xff";
                buf[at] = pick[(seed >> 20) % (sizeof(pick) - 1)];
            }
        }
        char *heap = malloc(len ? len : 1); /* exact size, so ASan sees any overread */
        memcpy(heap, buf, len);
        struct slice in = {heap, len};
        struct err err;
        err_init(&err);
        struct slice out;
        int rc = repl_mime_unwrap(in, arena, &out, &err);
        assert_true(rc == 0 || (rc == -1 && err.cond));
        if (rc == 0) {
            assert_true(out.len <= len);
        }
        unsigned changed;
        const char *uid;
        rc = repl_ex_repair(in, len + 200, arena, &out, &changed, &uid);
        assert_true(rc == 0 || rc == -1);
        if (rc == 0) {
            assert_true(out.len <= len + 200);
        }
        free(heap);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exwrite_edits_read_back_through_exprops),
        cmocka_unit_test(test_exwrite_edits_only_the_master),
        cmocka_unit_test(test_exwrite_busystatus_free_is_transparent),
        cmocka_unit_test(test_exwrite_date_start_stays_a_date_at_midnight),
        cmocka_unit_test(test_exwrite_failures_name_their_instruction),
        cmocka_unit_test(test_exwrite_create_fills_uid_dtstamp_and_dtend),
        cmocka_unit_test(test_exwrite_create_needs_dtstart),
        cmocka_unit_test(test_exwrite_refuses_objects_without_vevent),
        cmocka_unit_test(test_exwrite_writable_matches_the_brief),
        cmocka_unit_test(test_exprops_meeting_reads_for_each_principal),
        cmocka_unit_test(test_exwrite_recipients_and_response),
        cmocka_unit_test(test_mime_unwraps_valid_messages),
        cmocka_unit_test(test_mime_refuses_messages_without_a_usable_calendar),
        cmocka_unit_test(test_mime_and_repair_survive_truncation_and_mutation),
        cmocka_unit_test(test_repair_leaves_a_complete_object_alone),
        cmocka_unit_test(test_repair_inserts_uid_and_dtstamp_keeping_every_other_byte),
        cmocka_unit_test(test_repair_generates_a_uid_with_lf_line_ends_and_respects_the_limit),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
