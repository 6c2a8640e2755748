/* tests/unit/sched/test_itip.c: iTIP as implicit scheduling uses it (sched/sched.h; RFC 6638
 * §3.2, RFC 5546 §3.2): the messages of an organizer's write (requests with each attendee's
 * copy, an attendee of one instance only, cancels for removed attendees and a delete, nothing
 * for an attendee whose copy did not change), a request applied to an attendee's copy (their
 * PARTSTAT and alarms kept, PARTSTAT reset by a time change, their declined instances kept),
 * an attendee's reply (whole series, one instance by override, one by EXDATE), a reply
 * applied to the organizer's copy (that attendee only, per instance, an override made), and
 * the attendee's write rule (RFC 6638 §3.2.2.1). Objects are compared by what a reader sees:
 * parsed again through cal/edit.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cal/cal.h"
#include "cal/edit.h"
#include "sched/sched.h"
#include "util/buf.h"

#define HEAD "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Almanac tests//EN\r\n"
#define TAIL "END:VCALENDAR\r\n"

#define ORG   "ORGANIZER:mailto:alice@example.org\r\n"
#define BOB   "mailto:bob@example.org"
#define CAROL "mailto:carol@example.org"

/* A weekly meeting: alice organizes, bob and carol attend, the third instance moved. */
#define MASTER(extra)                                                                    \
  "BEGIN:VEVENT\r\nUID:m1@example.org\r\nDTSTAMP:20260101T000000Z\r\n"                   \
  "DTSTART:20260105T100000Z\r\nDTEND:20260105T110000Z\r\nRRULE:FREQ=WEEKLY;COUNT=5\r\n"  \
  "SUMMARY:Sync\r\n" ORG "ATTENDEE;PARTSTAT=ACCEPTED:mailto:alice@example.org\r\n"       \
  "ATTENDEE;PARTSTAT=NEEDS-ACTION:" BOB "\r\n"                                           \
  "ATTENDEE;PARTSTAT=NEEDS-ACTION:" CAROL "\r\n" extra                                   \
  "BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:org\r\nTRIGGER:-PT5M\r\nEND:VALARM\r\n" \
  "END:VEVENT\r\n"

static const char SERIES[] = HEAD MASTER("") TAIL;

/* the same with one more instance moved, which only bob attends (carol is not invited) */
static const char SERIES_OVERRIDE[] = HEAD MASTER(
    "") "BEGIN:VEVENT\r\nUID:m1@example.org\r\nDTSTAMP:20260101T000000Z\r\n"
        "RECURRENCE-ID:20260119T100000Z\r\nDTSTART:20260119T140000Z\r\nDTEND:20260119T150000Z\r\n"
        "SUMMARY:Sync (moved)\r\n" ORG "ATTENDEE;PARTSTAT=ACCEPTED:mailto:alice@example.org\r\n"
        "ATTENDEE;PARTSTAT=NEEDS-ACTION:" BOB "\r\nEND:VEVENT\r\n" TAIL;

/* an extra invitee, dave, to one instance only */
static const char SERIES_DAVE[] = HEAD MASTER(
    "") "BEGIN:VEVENT\r\nUID:m1@example.org\r\nDTSTAMP:20260101T000000Z\r\n"
        "RECURRENCE-ID:20260112T100000Z\r\nDTSTART:20260112T100000Z\r\nDTEND:20260112T110000Z\r\n"
        "SUMMARY:Sync\r\n" ORG "ATTENDEE:mailto:alice@example.org\r\n"
        "ATTENDEE:" BOB "\r\nATTENDEE:" CAROL "\r\nATTENDEE:mailto:dave@example.org\r\n"
        "END:VEVENT\r\n" TAIL;

static struct slice S(const char *s) {
    return (struct slice){s, s ? strlen(s) : 0};
}

struct fx {
    struct arena *a;
    struct err e;
};

static int setup(void **state)
{
    static struct fx f;
    f.a = arena_create();
    err_init(&f.e);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    arena_destroy(&f->a);
    return 0;
}

static void doc_free(void *d)
{
    cal_doc_free(d);
}

/* `s` parsed, freed with the fixture's arena. */
static struct cal_doc *doc(struct fx *f, struct slice s)
{
    struct cal_doc *d = cal_doc_parse(s, f->a, &f->e);
    assert_non_null(d);
    arena_defer(f->a, doc_free, d);
    return d;
}

/* The component of `d` whose RECURRENCE-ID text is `rid` (NULL: the master). */
static struct cal_node *comp(struct cal_doc *d, const char *rid, struct arena *a)
{
    struct cal_node *root = cal_doc_root(d);
    for (struct cal_node *c = cal_node_first(root, CAL_NODE_VEVENT); c;
         c = cal_node_next(root, CAL_NODE_VEVENT)) {
        struct cal_prop *r = cal_prop_first(c, CAL_PROP_RECURRENCEID);
        if (!rid && !r) {
            return c;
        }
        if (rid && r && strcmp(cal_prop_value(r, a), rid) == 0) {
            return c;
        }
    }
    return NULL;
}

static size_t ncomps(struct cal_doc *d)
{
    size_t n = 0;
    struct cal_node *root = cal_doc_root(d);
    for (struct cal_node *c = cal_node_first(root, CAL_NODE_VEVENT); c;
         c = cal_node_next(root, CAL_NODE_VEVENT)) {
        n++;
    }
    return n;
}

static const char *param_of(struct cal_node *c, const char *addr, enum cal_param k)
{
    for (struct cal_prop *p = cal_prop_first(c, CAL_PROP_ATTENDEE); p;
         p = cal_prop_next(c, CAL_PROP_ATTENDEE)) {
        if (sched_addr_eq(cal_prop_text(p), addr)) {
            const char *v = cal_prop_param(p, k);
            return v ? v : "";
        }
    }
    return NULL;
}

static const char *method_of(struct cal_doc *d, struct arena *a)
{
    struct cal_prop *m = cal_prop_first(cal_doc_root(d), CAL_PROP_METHOD);
    return m ? cal_prop_value(m, a) : NULL;
}

static const struct sched_msg *msg_to(const struct sched_msg *v, size_t n, const char *addr)
{
    for (size_t i = 0; i < n; i++) {
        if (sched_addr_eq(v[i].attendee, addr)) {
            return &v[i];
        }
    }
    return NULL;
}

/* Replaces the first `from` of `s` by `to`, into the arena. */
static const char *edit(struct arena *a, const char *s, const char *from, const char *to)
{
    const char *p = strstr(s, from);
    assert_non_null(p);
    return arena_printf(a, "%.*s%s%s", (int)(p - s), s, to, p + strlen(from));
}

/* ---------------------------------------------------------------------------------------- */

static void test_sched_info_names_organizer_and_attendees(void **state)
{
    struct fx *f = *state;
    struct sched_info in;
    assert_int_equal(sched_info(S(SERIES_DAVE), f->a, &in, &f->e), 0);
    assert_string_equal(in.uid, "m1@example.org");
    assert_string_equal(in.organizer, "mailto:alice@example.org");
    assert_int_equal(in.nattendees, 3); /* bob, carol, dave; the organizer's line left out */
    assert_string_equal(in.attendees[2], "mailto:dave@example.org");
    assert_int_equal(in.max_per_instance, 4);
    assert_int_equal(sched_info(S(""), f->a, &in, &f->e), 0);
    assert_null(in.organizer);
    const char *org = "x";
    assert_int_equal(sched_organizer(S(SERIES_DAVE), f->a, &org, &f->e), 0);
    assert_string_equal(org, "mailto:alice@example.org");
    assert_int_equal(sched_organizer(S(HEAD "BEGIN:VEVENT\r\nUID:x\r\nDTSTAMP:20260101T000000Z\r\n"
                                            "DTSTART:20260101T000000Z\r\nEND:VEVENT\r\n" TAIL),
                                     f->a, &org, &f->e),
                     0);
    assert_null(org);
}

/* RFC 6638 §3.2.1: a new meeting sends every attendee a REQUEST with their copy. */
static void test_sched_new_meeting_requests_each_attendee(void **state)
{
    struct fx *f = *state;
    struct sched_msg *m;
    size_t n;
    assert_int_equal(sched_organizer_msgs(S(""), S(SERIES), f->a, &m, &n, &f->e), 0);
    assert_int_equal(n, 2);
    const struct sched_msg *b = msg_to(m, n, BOB);
    assert_non_null(b);
    assert_int_equal(b->method, SCHED_REQUEST);
    struct cal_doc *d = doc(f, b->ics);
    assert_string_equal(method_of(d, f->a), "REQUEST");
    struct cal_node *c = comp(d, NULL, f->a);
    assert_non_null(c);
    assert_string_equal(cal_prop_text(cal_prop_first(c, CAL_PROP_SUMMARY)), "Sync");
    /* the organizer's alarm is the organizer's */
    assert_null(cal_node_first(c, CAL_NODE_VALARM));
    assert_non_null(msg_to(m, n, CAROL));
    assert_null(msg_to(m, n, "mailto:alice@example.org"));
}

/* RFC 6638 §3.2.6: an attendee of one instance only gets that instance; an attendee of the
 * series not invited to an override gets an EXDATE there. */
static void test_sched_override_goes_to_its_attendees_only(void **state)
{
    struct fx *f = *state;
    struct sched_msg *m;
    size_t n;
    assert_int_equal(sched_organizer_msgs(S(""), S(SERIES_DAVE), f->a, &m, &n, &f->e), 0);
    const struct sched_msg *dv = msg_to(m, n, "mailto:dave@example.org");
    assert_non_null(dv);
    struct cal_doc *d = doc(f, dv->ics);
    assert_int_equal(ncomps(d), 1);
    assert_null(comp(d, NULL, f->a));
    assert_non_null(comp(d, "20260112T100000Z", f->a));

    assert_int_equal(sched_organizer_msgs(S(""), S(SERIES_OVERRIDE), f->a, &m, &n, &f->e), 0);
    const struct sched_msg *c = msg_to(m, n, CAROL);
    d = doc(f, c->ics);
    assert_int_equal(ncomps(d), 1);
    struct cal_prop *ex = cal_prop_first(comp(d, NULL, f->a), CAL_PROP_EXDATE);
    assert_non_null(ex);
    assert_string_equal(cal_prop_value(ex, f->a), "20260119T100000Z");
    d = doc(f, msg_to(m, n, BOB)->ics);
    assert_int_equal(ncomps(d), 2);
}

/* Removed attendees get CANCEL; unchanged ones get nothing; a delete cancels everyone. */
static void test_sched_changes_cancels_and_deletes(void **state)
{
    struct fx *f = *state;
    struct sched_msg *m;
    size_t n;
    /* nothing changed but DTSTAMP: no message */
    const char *same = edit(f->a, SERIES, "DTSTAMP:20260101T000000Z", "DTSTAMP:20260102T000000Z");
    assert_int_equal(sched_organizer_msgs(S(SERIES), S(same), f->a, &m, &n, &f->e), 0);
    assert_int_equal(n, 0);
    /* carol removed: she is cancelled, bob's copy (the attendee list) updated */
    const char *nocarol = edit(f->a, SERIES, "ATTENDEE;PARTSTAT=NEEDS-ACTION:" CAROL "\r\n", "");
    assert_int_equal(sched_organizer_msgs(S(SERIES), S(nocarol), f->a, &m, &n, &f->e), 0);
    assert_int_equal(n, 2);
    assert_int_equal(msg_to(m, n, BOB)->method, SCHED_REQUEST);
    const struct sched_msg *cc = msg_to(m, n, CAROL);
    assert_int_equal(cc->method, SCHED_CANCEL);
    struct cal_doc *d = doc(f, cc->ics);
    assert_string_equal(method_of(d, f->a), "CANCEL");
    assert_string_equal(cal_prop_text(cal_prop_first(comp(d, NULL, f->a), CAL_PROP_STATUS)),
                        "CANCELLED");
    /* deleted */
    assert_int_equal(sched_organizer_msgs(S(SERIES), S(""), f->a, &m, &n, &f->e), 0);
    assert_int_equal(n, 2);
    assert_int_equal(m[0].method, SCHED_CANCEL);
    assert_int_equal(m[1].method, SCHED_CANCEL);
    /* SCHEDULE-AGENT=CLIENT: the client schedules that one (RFC 6638 §7.1) */
    const char *client = edit(f->a, SERIES, "ATTENDEE;PARTSTAT=NEEDS-ACTION:" CAROL,
                              "ATTENDEE;SCHEDULE-AGENT=CLIENT:" CAROL);
    assert_int_equal(sched_organizer_msgs(S(""), S(client), f->a, &m, &n, &f->e), 0);
    assert_int_equal(n, 1);
    assert_string_equal(m[0].attendee, BOB);
}

/* RFC 6638 §3.2.8: the attendee's PARTSTAT and alarms survive an update of the summary, a
 * time change resets PARTSTAT to NEEDS-ACTION. */
static void test_sched_request_keeps_partstat_unless_time_moves(void **state)
{
    struct fx *f = *state;
    struct sched_msg *m;
    size_t n;
    assert_int_equal(sched_organizer_msgs(S(""), S(SERIES), f->a, &m, &n, &f->e), 0);
    struct slice copy;
    assert_int_equal(sched_apply_request(S(""), msg_to(m, n, BOB)->ics, BOB, f->a, &copy, &f->e),
                     0);
    struct cal_doc *d = doc(f, copy);
    assert_null(method_of(d, f->a)); /* a stored object carries no METHOD (RFC 4791 §4.1) */
    assert_string_equal(param_of(comp(d, NULL, f->a), BOB, CAL_PARAM_PARTSTAT), "NEEDS-ACTION");

    /* bob accepts and adds an alarm in his copy */
    const char *mine = edit(f->a, copy.ptr, "PARTSTAT=NEEDS-ACTION:" BOB, "PARTSTAT=ACCEPTED:" BOB);
    mine = edit(f->a, mine, "END:VEVENT",
                "BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:bob\r\nTRIGGER:-PT30M\r\n"
                "END:VALARM\r\nEND:VEVENT");
    /* the organizer renames it */
    const char *renamed = edit(f->a, SERIES, "SUMMARY:Sync", "SUMMARY:Weekly sync");
    assert_int_equal(sched_organizer_msgs(S(SERIES), S(renamed), f->a, &m, &n, &f->e), 0);
    assert_int_equal(sched_apply_request(S(mine), msg_to(m, n, BOB)->ics, BOB, f->a, &copy, &f->e),
                     0);
    d = doc(f, copy);
    struct cal_node *c = comp(d, NULL, f->a);
    assert_string_equal(cal_prop_text(cal_prop_first(c, CAL_PROP_SUMMARY)), "Weekly sync");
    assert_string_equal(param_of(c, BOB, CAL_PARAM_PARTSTAT), "ACCEPTED");
    struct cal_node *al = cal_node_first(c, CAL_NODE_VALARM);
    assert_non_null(al);
    assert_string_equal(cal_prop_text(cal_prop_first(al, CAL_PROP_DESCRIPTION)), "bob");

    /* the organizer moves it an hour */
    const char *moved = edit(f->a, renamed, "DTSTART:20260105T100000Z", "DTSTART:20260105T090000Z");
    assert_int_equal(sched_organizer_msgs(S(renamed), S(moved), f->a, &m, &n, &f->e), 0);
    assert_int_equal(
        sched_apply_request(S(copy.ptr), msg_to(m, n, BOB)->ics, BOB, f->a, &copy, &f->e), 0);
    d = doc(f, copy);
    assert_string_equal(param_of(comp(d, NULL, f->a), BOB, CAL_PARAM_PARTSTAT), "NEEDS-ACTION");
}

/* RFC 5546 §3.2.3: a REPLY when the attendee's PARTSTAT changes, per instance. */
static void test_sched_attendee_reply_per_instance(void **state)
{
    struct fx *f = *state;
    struct slice r;
    /* nothing changed */
    assert_int_equal(sched_attendee_reply(S(SERIES), S(SERIES), BOB, f->a, &r, &f->e), 0);
    assert_int_equal(r.len, 0);
    /* the whole series accepted */
    const char *acc = edit(f->a, SERIES, "PARTSTAT=NEEDS-ACTION:" BOB, "PARTSTAT=ACCEPTED:" BOB);
    assert_int_equal(sched_attendee_reply(S(SERIES), S(acc), BOB, f->a, &r, &f->e), 0);
    struct cal_doc *d = doc(f, r);
    assert_string_equal(method_of(d, f->a), "REPLY");
    struct cal_node *c = comp(d, NULL, f->a);
    assert_string_equal(param_of(c, BOB, CAL_PARAM_PARTSTAT), "ACCEPTED");
    assert_null(param_of(c, CAROL, CAL_PARAM_PARTSTAT)); /* only the replying attendee */
    assert_non_null(cal_prop_first(c, CAL_PROP_ORGANIZER));
    /* one instance declined by an override */
    const char *ov = edit(f->a, acc, TAIL,
                          "BEGIN:VEVENT\r\nUID:m1@example.org\r\nDTSTAMP:20260101T000000Z\r\n"
                          "RECURRENCE-ID:20260112T100000Z\r\nDTSTART:20260112T100000Z\r\n"
                          "DTEND:20260112T110000Z\r\nSUMMARY:Sync\r\n" ORG
                          "ATTENDEE;PARTSTAT=DECLINED:" BOB "\r\nEND:VEVENT\r\n" TAIL);
    assert_int_equal(sched_attendee_reply(S(acc), S(ov), BOB, f->a, &r, &f->e), 0);
    d = doc(f, r);
    assert_int_equal(ncomps(d), 1);
    c = comp(d, "20260112T100000Z", f->a);
    assert_non_null(c);
    assert_string_equal(param_of(c, BOB, CAL_PARAM_PARTSTAT), "DECLINED");
    /* one instance declined by an EXDATE */
    const char *ex = edit(f->a, acc, "RRULE:", "EXDATE:20260126T100000Z\r\nRRULE:");
    assert_int_equal(sched_attendee_reply(S(acc), S(ex), BOB, f->a, &r, &f->e), 0);
    d = doc(f, r);
    c = comp(d, "20260126T100000Z", f->a);
    assert_non_null(c);
    assert_string_equal(param_of(c, BOB, CAL_PARAM_PARTSTAT), "DECLINED");
}

/* RFC 5546 §3.2.3: the organizer's copy takes that attendee's PARTSTAT and SCHEDULE-STATUS
 * only; a reply for an instance without override makes one from the master. */
static void test_sched_apply_reply_updates_only_that_attendee(void **state)
{
    struct fx *f = *state;
    struct slice r, out;
    bool changed;
    const char *acc = edit(f->a, SERIES, "PARTSTAT=NEEDS-ACTION:" BOB, "PARTSTAT=ACCEPTED:" BOB);
    assert_int_equal(sched_attendee_reply(S(SERIES), S(acc), BOB, f->a, &r, &f->e), 0);
    assert_int_equal(sched_apply_reply(S(SERIES), r, BOB, "2.0", f->a, &out, &changed, &f->e), 0);
    assert_true(changed);
    struct cal_doc *d = doc(f, out);
    struct cal_node *c = comp(d, NULL, f->a);
    assert_string_equal(param_of(c, BOB, CAL_PARAM_PARTSTAT), "ACCEPTED");
    assert_string_equal(param_of(c, BOB, CAL_PARAM_SCHEDULE_STATUS), "2.0");
    assert_string_equal(param_of(c, CAROL, CAL_PARAM_PARTSTAT), "NEEDS-ACTION");
    /* the organizer's alarm stays */
    assert_non_null(cal_node_first(c, CAL_NODE_VALARM));
    /* applied twice: nothing changes */
    assert_int_equal(sched_apply_reply(out, r, BOB, "2.0", f->a, &out, &changed, &f->e), 0);
    assert_false(changed);

    /* bob declines the 2026-01-26 instance by EXDATE: the organizer gets an override */
    const char *ex = edit(f->a, acc, "RRULE:", "EXDATE:20260126T100000Z\r\nRRULE:");
    assert_int_equal(sched_attendee_reply(S(acc), S(ex), BOB, f->a, &r, &f->e), 0);
    assert_int_equal(sched_apply_reply(out, r, BOB, "2.0", f->a, &out, &changed, &f->e), 0);
    assert_true(changed);
    d = doc(f, out);
    assert_int_equal(ncomps(d), 2);
    c = comp(d, "20260126T100000Z", f->a);
    assert_non_null(c);
    assert_string_equal(param_of(c, BOB, CAL_PARAM_PARTSTAT), "DECLINED");
    assert_string_equal(param_of(c, CAROL, CAL_PARAM_PARTSTAT), "NEEDS-ACTION");
    assert_null(cal_prop_first(c, CAL_PROP_RRULE));
    assert_string_equal(cal_prop_value(cal_prop_first(c, CAL_PROP_DTSTART), f->a),
                        "20260126T100000Z");
    assert_string_equal(cal_prop_value(cal_prop_first(c, CAL_PROP_DTEND), f->a),
                        "20260126T110000Z");
    /* the master still says ACCEPTED */
    assert_string_equal(param_of(comp(d, NULL, f->a), BOB, CAL_PARAM_PARTSTAT), "ACCEPTED");
    /* a reply from someone who is not invited changes nothing */
    assert_int_equal(
        sched_apply_reply(out, r, "mailto:eve@example.org", "2.0", f->a, &out, &changed, &f->e), 0);
    assert_false(changed);
}

/* RFC 6638 §3.2.2.1: what an attendee may and may not change. */
static void test_sched_attendee_may_change_only_participation(void **state)
{
    struct fx *f = *state;
    const char *acc =
        edit(f->a, SERIES, "PARTSTAT=NEEDS-ACTION:" BOB, "PARTSTAT=ACCEPTED;RSVP=FALSE:" BOB);
    assert_int_equal(sched_attendee_check(S(SERIES), S(acc), BOB, f->a, &f->e), 0);
    const char *alarm = edit(f->a, acc, "TRIGGER:-PT5M", "TRIGGER:-PT1H");
    alarm = edit(f->a, alarm, "SUMMARY:Sync",
                 "TRANSP:TRANSPARENT\r\nX-MOZ-GENERATION:3\r\n"
                 "SUMMARY:Sync");
    assert_int_equal(sched_attendee_check(S(SERIES), S(alarm), BOB, f->a, &f->e), 0);
    const char *ex = edit(f->a, acc, "RRULE:", "EXDATE:20260126T100000Z\r\nRRULE:");
    assert_int_equal(sched_attendee_check(S(SERIES), S(ex), BOB, f->a, &f->e), 0);

    static const struct {
        const char *from, *to;
    } refused[] = {
        {"SUMMARY:Sync", "SUMMARY:Party"},
        {"DTSTART:20260105T100000Z", "DTSTART:20260105T120000Z"},
        {"PARTSTAT=NEEDS-ACTION:" CAROL, "PARTSTAT=ACCEPTED:" CAROL},
        {"ATTENDEE;PARTSTAT=NEEDS-ACTION:" CAROL "\r\n", ""},
        {"SUMMARY:Sync", "SUMMARY:Sync\r\nLOCATION:Moon"},
    };

    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        err_init(&f->e);
        const char *bad = edit(f->a, SERIES, refused[i].from, refused[i].to);
        assert_int_equal(sched_attendee_check(S(SERIES), S(bad), BOB, f->a, &f->e), -1);
        assert_ptr_equal(f->e.cond, &sched_cond_allowed_attendee_change);
        assert_int_equal(f->e.cond->http_status, 403);
    }
    /* removing an override without declining it */
    err_init(&f->e);
    assert_int_equal(sched_attendee_check(S(SERIES_OVERRIDE), S(SERIES), BOB, f->a, &f->e), -1);
    assert_ptr_equal(f->e.cond, &sched_cond_allowed_attendee_change);
}

/* SCHEDULE-STATUS on the organizer's lines (RFC 6638 §3.2.9). */
static const char *status_fn(void *ctx, const char *att)
{
    (void)ctx;
    return sched_addr_eq(att, BOB) ? "1.2" : (sched_addr_eq(att, CAROL) ? "3.7" : NULL);
}

static void test_sched_set_status_marks_lines(void **state)
{
    struct fx *f = *state;
    struct slice out;
    assert_int_equal(sched_set_status(S(SERIES), status_fn, NULL, f->a, &out, &f->e), 0);
    struct cal_doc *d = doc(f, out);
    struct cal_node *c = comp(d, NULL, f->a);
    assert_string_equal(param_of(c, BOB, CAL_PARAM_SCHEDULE_STATUS), "1.2");
    assert_string_equal(param_of(c, CAROL, CAL_PARAM_SCHEDULE_STATUS), "3.7");
    assert_string_equal(param_of(c, "mailto:alice@example.org", CAL_PARAM_SCHEDULE_STATUS), "");
}

/* One write to 1,000 attendees costs memory in proportion to them, not to them times the
 * object (each copy holds every ATTENDEE line): attendees of the same components share one
 * copy. */
static void test_sched_many_attendees_share_one_copy(void **state)
{
    struct fx *f = *state;
    struct buf b;
    buf_init(&b, 1u << 20);
    assert_int_equal(buf_append_cstr(&b, HEAD
                                     "BEGIN:VEVENT\r\nUID:big\r\nDTSTAMP:20260101T000000Z\r\n"
                                     "DTSTART:20260105T100000Z\r\nDTEND:20260105T110000Z\r\n" ORG),
                     0);
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(buf_appendf(&b, "ATTENDEE:mailto:p%d@example.org\r\n", i), 0);
    }
    assert_int_equal(buf_append_cstr(&b, "END:VEVENT\r\n" TAIL), 0);
    struct arena *a = arena_create();
    struct sched_msg *m;
    size_t n;
    assert_int_equal(sched_organizer_msgs(S(""), buf_slice(&b), a, &m, &n, &f->e), 0);
    assert_int_equal(n, 1000);
    assert_ptr_equal(m[0].ics.ptr, m[999].ics.ptr);
    /* and deleting it cancels them all with one message */
    assert_int_equal(sched_organizer_msgs(buf_slice(&b), S(""), a, &m, &n, &f->e), 0);
    assert_int_equal(n, 1000);
    assert_int_equal(m[999].method, SCHED_CANCEL);
    assert_ptr_equal(m[0].ics.ptr, m[999].ics.ptr);
    /* the object is ~40 KB: a copy each would be 40 MB */
    assert_true(arena_high_water(a) < (size_t)4 << 20);
    arena_destroy(&a);
    buf_deinit(&b);
}

/* RFC 6638 §3.3: a free-busy request read, and refused when it is not one. */
#define FB(method, body)                                                       \
  HEAD method "BEGIN:VFREEBUSY\r\nUID:fb\r\nDTSTAMP:20260101T000000Z\r\n" body \
              "END:VFREEBUSY\r\n" TAIL

static void test_sched_freebusy_request_read_and_refused(void **state)
{
    struct fx *f = *state;
    struct sched_fb_request r;
    static const char ok[] =
        FB("METHOD:REQUEST\r\n", "DTSTART:20260301T000000Z\r\nDTEND:20260302T000000Z\r\n" ORG
                                 "ATTENDEE:" BOB "\r\nATTENDEE:" CAROL "\r\nATTENDEE:" BOB "\r\n");
    assert_int_equal(sched_freebusy_request(S(ok), f->a, &r, &f->e), 0);
    assert_string_equal(r.organizer, "mailto:alice@example.org");
    assert_int_equal(r.nattendees, 2);
    assert_string_equal(r.attendees[1], CAROL);
    assert_int_equal(r.start, 1772323200);
    assert_int_equal(r.end, 1772323200 + 86400);
    static const char *const bad[] = {
        "not a calendar",
        FB("METHOD:PUBLISH\r\n",
           "DTSTART:20260301T000000Z\r\nDTEND:20260302T000000Z\r\n" ORG "ATTENDEE:" BOB "\r\n"),
        FB("METHOD:REQUEST\r\n", "DTSTART:20260301T000000Z\r\nDTEND:20260302T000000Z\r\n" ORG),
        FB("METHOD:REQUEST\r\n", "DTSTART:20260301T000000Z\r\nDTEND:20260302T000000Z\r\n"
                                 "ATTENDEE:" BOB "\r\n"),
        FB("METHOD:REQUEST\r\n",
           "DTSTART:20260302T000000Z\r\nDTEND:20260301T000000Z\r\n" ORG "ATTENDEE:" BOB "\r\n"),
        HEAD "METHOD:REQUEST\r\n" MASTER("") TAIL,
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err_init(&f->e);
        assert_int_equal(sched_freebusy_request(S(bad[i]), f->a, &r, &f->e), -1);
        assert_ptr_equal(f->e.cond, &sched_cond_valid_scheduling_message);
    }
}

static void test_sched_addr_eq_ignores_ascii_case(void **state)
{
    (void)state;
    assert_true(sched_addr_eq("MAILTO:Bob@Example.org", BOB));
    assert_false(sched_addr_eq(BOB, CAROL));
    assert_false(sched_addr_eq(NULL, BOB));
}

int main(void)
{
    cal_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sched_info_names_organizer_and_attendees, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sched_new_meeting_requests_each_attendee, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sched_override_goes_to_its_attendees_only, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sched_changes_cancels_and_deletes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sched_request_keeps_partstat_unless_time_moves, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sched_attendee_reply_per_instance, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sched_apply_reply_updates_only_that_attendee, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sched_attendee_may_change_only_participation, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sched_set_status_marks_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sched_freebusy_request_read_and_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sched_many_attendees_share_one_copy, setup, teardown),
        cmocka_unit_test(test_sched_addr_eq_ignores_ascii_case),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    cal_shutdown();
    return rc;
}
