/* tests/unit/eas/test_calmap.c: iCalendar <-> ActiveSync calendar items (eas/calmap.h;
 * activesync.md §4, MS-ASCAL, MS-ASDTYPE 2.7.6). A corpus of client exports in
 * tests/data/eas/ goes ics -> EAS -> ics, and the round trip must keep the meaning: the same
 * instances (both objects expanded by cal_expand over 2023-2028 and compared as UTC start/end
 * sets), summary, location, description, attendee set and alarm offset. EAS-level answers
 * (Timezone blob bytes, Recurrence fields, Exceptions) are asserted exactly, as are ghosting
 * (§3.3.7), 16.x single-instance changes and the errors of invalid client data. */
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
#include "cal/edit.h"
#include "eas/calmap.h"
#include "eas/calmap_int.h"
#include "util/arena.h"
#include "util/err.h"
#include "util/sec.h"
#include "util/timeutil.h"

#define RANGE_START INT64_C(1672531200) /* 2023-01-01T00:00:00Z */
#define RANGE_END   INT64_C(1830297600) /* 2028-01-01T00:00:00Z */
#define NOW         INT64_C(1714521600) /* 2024-05-01T00:00:00Z: fixes the rule year */

static struct slice load(struct arena *a, const char *name)
{
    const char *root = getenv("ALMANAC_SOURCE_DIR");
    char path[512];
    int n = snprintf(path, sizeof(path), "%s/tests/data/eas/%s", root ? root : ".", name);
    assert_true(n > 0 && (size_t)n < sizeof(path));
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = arena_alloc(a, 65536);
    size_t len = fread(buf, 1, 65535, f);
    fclose(f);
    buf[len] = '\0';
    return (struct slice){buf, len};
}

/* ---------------------------------------------------------------------------------------- */
/* Meaning of an object: instances and master properties */

struct inst {
    int64_t start, end;
};

static int cmp_inst(const void *a, const void *b)
{
    const struct inst *x = a, *y = b;
    if (x->start != y->start) {
        return x->start < y->start ? -1 : 1;
    }
    return x->end < y->end ? -1 : x->end > y->end;
}

/* Every instance of `ics` in the range, as UTC seconds (DATE: midnight UTC), sorted; a
 * cancelled override (STATUS:CANCELLED) is no instance, as for EAS (§4.6). */
static size_t instances(struct arena *a, struct slice ics, struct inst *out, size_t cap)
{
    struct slice exp;
    struct err e;
    err_init(&e);
    assert_int_equal(cal_expand(ics, RANGE_START, RANGE_END, a, &exp, &e), 0);
    icalcomponent *root = icalparser_parse_string(exp.ptr);
    assert_non_null(root);
    icaltimezone *utc = icaltimezone_get_utc_timezone();
    size_t n = 0;
    for (icalcomponent *c = icalcomponent_get_first_component(root, ICAL_VEVENT_COMPONENT); c;
         c = icalcomponent_get_next_component(root, ICAL_VEVENT_COMPONENT)) {
        icalproperty *sp = icalcomponent_get_first_property(c, ICAL_STATUS_PROPERTY);
        if (sp && icalproperty_get_status(sp) == ICAL_STATUS_CANCELLED) {
            continue;
        }
        assert_true(n < cap);
        struct icaltimetype s = icalcomponent_get_dtstart(c);
        struct icaltimetype en = icalcomponent_get_dtend(c);
        out[n].start = (int64_t)icaltime_as_timet_with_zone(s, utc);
        out[n].end = icaltime_is_null_time(en) ? out[n].start
                                               : (int64_t)icaltime_as_timet_with_zone(en, utc);
        n++;
    }
    icalcomponent_free(root);
    qsort(out, n, sizeof(*out), cmp_inst);
    return n;
}

static icalcomponent *parse(struct slice ics)
{
    char *s = malloc(ics.len + 1);
    assert_non_null(s);
    memcpy(s, ics.ptr, ics.len);
    s[ics.len] = '\0';
    icalcomponent *root = icalparser_parse_string(s);
    free(s);
    assert_non_null(root);
    return root;
}

static icalcomponent *master_of(icalcomponent *root)
{
    for (icalcomponent *c = icalcomponent_get_first_component(root, ICAL_VEVENT_COMPONENT); c;
         c = icalcomponent_get_next_component(root, ICAL_VEVENT_COMPONENT)) {
        if (!icalcomponent_get_first_property(c, ICAL_RECURRENCEID_PROPERTY)) {
            return c;
        }
    }
    return NULL;
}

static const char *text(icalcomponent *c, icalproperty_kind k)
{
    icalproperty *p = icalcomponent_get_first_property(c, k);
    if (!p) {
        return "";
    }
    const char *v = icalvalue_as_ical_string(icalproperty_get_value(p));
    return v ? v : "";
}

/* Attendees as "email/PARTSTAT" sorted and joined, into buf. */
static void attendee_set(icalcomponent *c, char *buf, size_t cap)
{
    char items[32][128];
    size_t n = 0;
    for (icalproperty *p = icalcomponent_get_first_property(c, ICAL_ATTENDEE_PROPERTY); p;
         p = icalcomponent_get_next_property(c, ICAL_ATTENDEE_PROPERTY)) {
        icalparameter *ps = icalproperty_get_first_parameter(p, ICAL_PARTSTAT_PARAMETER);
        const char *st =
            ps ? icalparameter_enum_to_string(icalparameter_get_partstat(ps)) : "NEEDS-ACTION";
        assert_true(n < 32);
        snprintf(items[n++], sizeof(items[0]), "%s/%s", icalproperty_get_attendee(p), st);
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t j = i + 1; j < n; j++) {
            if (strcmp(items[j], items[i]) < 0) {
                char t[128];
                memcpy(t, items[i], sizeof(t));
                memcpy(items[i], items[j], sizeof(t));
                memcpy(items[j], t, sizeof(t));
            }
        }
    }
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(buf + o, cap - o, "%s;", items[i]);
        assert_true(w > 0 && (size_t)w < cap - o);
        o += (size_t)w;
    }
}

/* Seconds before the start of the first DISPLAY alarm, or -1. */
static int alarm_offset(icalcomponent *c)
{
    icaltimezone *utc = icaltimezone_get_utc_timezone();
    for (icalcomponent *a = icalcomponent_get_first_component(c, ICAL_VALARM_COMPONENT); a;
         a = icalcomponent_get_next_component(c, ICAL_VALARM_COMPONENT)) {
        icalproperty *ap = icalcomponent_get_first_property(a, ICAL_ACTION_PROPERTY);
        if (!ap || icalproperty_get_action(ap) != ICAL_ACTION_DISPLAY) {
            continue;
        }
        struct icaltriggertype tr =
            icalproperty_get_trigger(icalcomponent_get_first_property(a, ICAL_TRIGGER_PROPERTY));
        if (!icaltime_is_null_time(tr.time)) {
            struct icaltimetype s = icalcomponent_get_dtstart(c);
            return (int)((int64_t)icaltime_as_timet_with_zone(s, utc) -
                         (int64_t)icaltime_as_timet_with_zone(tr.time, utc));
        }
        return -icaldurationtype_as_int(tr.duration);
    }
    return -1;
}

/* ---------------------------------------------------------------------------------------- */
/* The corpus round trip */

struct corpus_case {
    const char *file;
    size_t ninstances; /* in 2023-2028 */
    bool alarm_exact;  /* the alarm offset survives exactly (relative DISPLAY trigger) */
};

static const struct corpus_case corpus[] = {
    {"outlook_weekly.ics", 48, true},
    {"google_override.ics", 9, true},
    {"apple_berlin.ics", 1, true},
    {"apple_allday.ics", 1, true},
    {"monthly_nth.ics", 10, false},
    {"monthly_setpos.ics", 12, false},
    {"yearly_allday.ics", 4, false},
    {"yearly_nth.ics", 4, false},
    {"daily_count.ics", 5, false},
    {"cancelled_instances.ics", 22, false},
    {"floating.ics", 1, false},
    {"sydney.ics", 20, false},
    {"tokyo.ics", 12, false},
    {"attendees.ics", 1, true},
    /* shapes rather than clients: no DTEND and RELATED=END; DURATION on a DATE; an
     * override written in another zone than its master */
    {"edge_instant_related_end.ics", 3, true},
    {"edge_allday_duration.ics", 1, false},
    {"edge_override_other_zone.ics", 4, false},
};

static void same_str(const char *what, const char *x, const char *y)
{
    if (strcmp(x ? x : "(null)", y ? y : "(null)") != 0) {
        fail_msg("%s: '%s' became '%s'", what, x ? x : "(null)", y ? y : "(null)");
    }
}

/* The EAS view is stable: EAS -> ics -> EAS gives the same item. */
static void assert_same_event(const struct eas_calmap_event *x, const struct eas_calmap_event *y)
{
    assert_int_equal(x->present, y->present);
    same_str("Timezone", x->timezone, y->timezone);
    same_str("StartTime", x->start_time, y->start_time);
    same_str("EndTime", x->end_time, y->end_time);
    same_str("DtStamp", x->dtstamp, y->dtstamp);
    same_str("Subject", x->subject, y->subject);
    same_str("Location", x->location, y->location);
    same_str("Body", x->body, y->body);
    same_str("UID", x->uid, y->uid);
    same_str("OrganizerEmail", x->organizer_email, y->organizer_email);
    assert_int_equal(x->all_day, y->all_day);
    assert_int_equal(x->busy_status, y->busy_status);
    assert_int_equal(x->sensitivity, y->sensitivity);
    assert_int_equal(x->reminder, y->reminder);
    assert_int_equal(x->meeting_status, y->meeting_status);
    assert_int_equal(x->response_type, y->response_type);
    assert_int_equal(x->nattendees, y->nattendees);
    for (size_t i = 0; i < x->nattendees; i++) {
        same_str("Attendee", x->attendees[i].email, y->attendees[i].email);
        same_str("Attendee Name", x->attendees[i].name, y->attendees[i].name);
        assert_int_equal(x->attendees[i].status, y->attendees[i].status);
        assert_int_equal(x->attendees[i].type, y->attendees[i].type);
    }
    assert_int_equal(x->ncategories, y->ncategories);
    for (size_t i = 0; i < x->ncategories; i++) {
        same_str("Category", x->categories[i], y->categories[i]);
    }
    const struct eas_calmap_recurrence *r = &x->recurrence, *q = &y->recurrence;
    assert_int_equal(r->present, q->present);
    assert_int_equal(r->type, q->type);
    assert_int_equal(r->interval, q->interval);
    assert_int_equal(r->occurrences, q->occurrences);
    same_str("Until", r->until, q->until);
    assert_int_equal(r->day_of_week, q->day_of_week);
    assert_int_equal(r->day_of_month, q->day_of_month);
    assert_int_equal(r->week_of_month, q->week_of_month);
    assert_int_equal(r->month_of_year, q->month_of_year);
    assert_int_equal(r->first_day_of_week, q->first_day_of_week);
    assert_int_equal(x->nexceptions, y->nexceptions);
    for (size_t i = 0; i < x->nexceptions; i++) {
        const struct eas_calmap_exception *a = &x->exceptions[i], *b = &y->exceptions[i];
        assert_int_equal(a->deleted, b->deleted);
        assert_int_equal(a->present, b->present);
        same_str("ExceptionStartTime", a->exception_start_time, b->exception_start_time);
        same_str("Exception StartTime", a->start_time, b->start_time);
        same_str("Exception EndTime", a->end_time, b->end_time);
        same_str("Exception Subject", a->subject, b->subject);
    }
}

static void round_trip(struct arena *a, const struct corpus_case *cc, unsigned version)
{
    struct slice ics = load(a, cc->file);
    struct err e;
    err_init(&e);
    struct cal_info stored; /* the input is a stored object: one cal accepted on PUT */
    if (cal_parse_object(ics, CAL_COMP_VEVENT, a, &stored, &e) != 0) {
        fail_msg("%s: %s", cc->file, e.msg);
    }
    struct eas_calmap_opts o = {.version = version, .now = NOW};
    struct eas_calmap_event ev;
    assert_int_equal(eas_calmap_from_ical_opts(ics, &o, a, &ev, &e), 0);
    assert_false(ev.is_flattened);
    struct slice back;
    if (eas_calmap_to_ical(&ev, (struct slice){NULL, 0}, 0, NULL, a, &back, &e) != 0) {
        fail_msg("%s v%u: %s", cc->file, version, e.msg);
    }
    struct cal_info info;
    assert_int_equal(cal_parse_object(back, CAL_COMP_VEVENT, a, &info, &e), 0);
    struct eas_calmap_event again;
    assert_int_equal(eas_calmap_from_ical_opts(back, &o, a, &again, &e), 0);
    assert_same_event(&ev, &again);

    static struct inst i1[512], i2[512];
    size_t n1 = instances(a, ics, i1, 512);
    size_t n2 = instances(a, back, i2, 512);
    if (n1 != cc->ninstances || n2 != n1) {
        fail_msg("%s v%u: %zu instances, back %zu, expected %zu\n%s", cc->file, version, n1, n2,
                 cc->ninstances, back.ptr);
    }
    for (size_t i = 0; i < n1; i++) {
        if (i1[i].start != i2[i].start || i1[i].end != i2[i].end) {
            fail_msg("%s v%u: instance %zu %lld-%lld became %lld-%lld\n%s", cc->file, version, i,
                     (long long)i1[i].start, (long long)i1[i].end, (long long)i2[i].start,
                     (long long)i2[i].end, back.ptr);
        }
    }
    icalcomponent *r1 = parse(ics), *r2 = parse(back);
    icalcomponent *m1 = master_of(r1), *m2 = master_of(r2);
    assert_string_equal(text(m1, ICAL_SUMMARY_PROPERTY), text(m2, ICAL_SUMMARY_PROPERTY));
    assert_string_equal(text(m1, ICAL_LOCATION_PROPERTY), text(m2, ICAL_LOCATION_PROPERTY));
    assert_string_equal(text(m1, ICAL_DESCRIPTION_PROPERTY), text(m2, ICAL_DESCRIPTION_PROPERTY));
    assert_string_equal(text(m1, ICAL_UID_PROPERTY), text(m2, ICAL_UID_PROPERTY));
    char s1[2048], s2[2048];
    attendee_set(m1, s1, sizeof(s1));
    attendee_set(m2, s2, sizeof(s2));
    assert_string_equal(s1, s2);
    if (cc->alarm_exact) {
        assert_int_equal(alarm_offset(m1), alarm_offset(m2));
    }
    icalcomponent_free(r1);
    icalcomponent_free(r2);
}

static void test_eas_calmap_corpus_round_trips_keep_meaning(void **state)
{
    (void)state;
    static const unsigned versions[] = {121, 141, 161};
    for (size_t i = 0; i < sizeof(corpus) / sizeof(corpus[0]); i++) {
        for (size_t v = 0; v < 3; v++) {
            struct arena *a = arena_create();
            round_trip(a, &corpus[i], versions[v]);
            arena_destroy(&a);
        }
    }
}

/* ---------------------------------------------------------------------------------------- */
/* The Timezone blob (MS-ASDTYPE 2.7.6; activesync.md §4.3) */

static void blob_bytes(const char *b64, uint8_t out[EAS_CALMAP_TZ_BLOB_LEN])
{
    long n = sec_unbase64(slice_from_cstr(b64), out, EAS_CALMAP_TZ_BLOB_LEN);
    assert_int_equal(n, EAS_CALMAP_TZ_BLOB_LEN);
}

static void test_eas_calmap_tz_new_york_blob(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    struct err e;
    err_init(&e);
    struct eas_calmap_tz tz;
    assert_int_equal(eas_calmap_tz_from_tzid("America/New_York", 2024, &tz, &e), 0);
    assert_int_equal(tz.bias, 300);
    assert_int_equal(tz.standard_bias, 0);
    assert_int_equal(tz.daylight_bias, -60);
    /* StandardDate: first Sunday of November 02:00; DaylightDate: second Sunday of March */
    assert_int_equal(tz.standard_date.year, 0);
    assert_int_equal(tz.standard_date.month, 11);
    assert_int_equal(tz.standard_date.day_of_week, 0);
    assert_int_equal(tz.standard_date.day, 1);
    assert_int_equal(tz.standard_date.hour, 2);
    assert_int_equal(tz.standard_date.minute, 0);
    assert_int_equal(tz.daylight_date.month, 3);
    assert_int_equal(tz.daylight_date.day_of_week, 0);
    assert_int_equal(tz.daylight_date.day, 2);
    assert_int_equal(tz.daylight_date.hour, 2);
    assert_string_equal(tz.standard_name, "Eastern Standard Time");
    const char *b64 = eas_calmap_tz_encode(&tz, a);
    assert_int_equal(strlen(b64), 232);
    assert_string_equal(b64 + strlen(b64) - 8, "xP///w==");
    struct eas_calmap_tz anon = tz;
    anon.standard_name[0] = anon.daylight_name[0] = '\0';
    assert_memory_equal(eas_calmap_tz_encode(&anon, a), "LAEAAAAA", 8); /* §4.3 worked example */
    uint8_t b[EAS_CALMAP_TZ_BLOB_LEN];
    blob_bytes(b64, b);
    static const uint8_t bias[4] = {0x2c, 0x01, 0, 0};
    assert_memory_equal(b, bias, 4);
    static const uint8_t std[16] = {0, 0, 11, 0, 0, 0, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0};
    static const uint8_t dst[16] = {0, 0, 3, 0, 0, 0, 2, 0, 2, 0, 0, 0, 0, 0, 0, 0};
    assert_memory_equal(b + 68, std, 16);
    assert_memory_equal(b + 152, dst, 16);
    static const uint8_t dbias[4] = {0xc4, 0xff, 0xff, 0xff};
    assert_memory_equal(b + 168, dbias, 4);
    /* "Eastern Standard Time" in UTF-16LE */
    assert_int_equal(b[4], 'E');
    assert_int_equal(b[5], 0);
    assert_int_equal(b[6], 'a');
    arena_destroy(&a);
}

/* activesync.md §4.3: the full Berlin blob with empty names. */
static void test_eas_calmap_tz_berlin_blob_matches_the_brief(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    struct err e;
    err_init(&e);
    struct eas_calmap_tz tz;
    assert_int_equal(eas_calmap_tz_from_tzid("Europe/Berlin", 2024, &tz, &e), 0);
    tz.standard_name[0] = tz.daylight_name[0] = '\0';
    uint8_t b[EAS_CALMAP_TZ_BLOB_LEN], want[EAS_CALMAP_TZ_BLOB_LEN];
    blob_bytes(eas_calmap_tz_encode(&tz, a), b);
    memset(want, 0, sizeof(want));
    static const uint8_t m60[4] = {0xc4, 0xff, 0xff, 0xff};
    memcpy(want, m60, 4);
    static const uint8_t std[16] = {0, 0, 10, 0, 0, 0, 5, 0, 3, 0, 0, 0, 0, 0, 0, 0};
    static const uint8_t dst[16] = {0, 0, 3, 0, 0, 0, 5, 0, 2, 0, 0, 0, 0, 0, 0, 0};
    memcpy(want + 68, std, 16);
    memcpy(want + 152, dst, 16);
    memcpy(want + 168, m60, 4);
    assert_memory_equal(b, want, sizeof(want));
    /* the Windows-named zone of an Outlook export gives the same rules */
    struct eas_calmap_tz w;
    assert_int_equal(eas_calmap_tz_from_tzid("W. Europe Standard Time", 2024, &w, &e), 0);
    assert_string_equal(w.standard_name, "W. Europe Standard Time");
    w.standard_name[0] = w.daylight_name[0] = '\0';
    assert_string_equal(eas_calmap_tz_encode(&w, a), eas_calmap_tz_encode(&tz, a));
    arena_destroy(&a);
}

static void test_eas_calmap_tz_utc_is_all_zero(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    struct err e;
    err_init(&e);
    struct eas_calmap_tz tz;
    assert_int_equal(eas_calmap_tz_from_tzid("UTC", 2024, &tz, &e), 0);
    const char *b64 = eas_calmap_tz_encode(&tz, a);
    char want[233];
    memset(want, 'A', 230);
    memcpy(want + 230, "==", 3);
    assert_string_equal(b64, want);
    const char *tzid;
    struct slice vtz;
    eas_calmap_tz_to_vtimezone(&tz, 2024, a, &tzid, &vtz);
    assert_string_equal(tzid, "UTC");
    assert_int_equal(vtz.len, 0);
    arena_destroy(&a);
}

/* MS-ASDTYPE 2.7.6: StandardName and DaylightName are arrays of 32 WCHARs with unused ones
 * zero, so a name may fill all 32 with no NUL. It decodes whole and encodes back to the same
 * bytes (found by fuzz_eas_tz: the 32nd unit was lost; corpus/eas_tz/11-name-of-32-units). */
static void test_eas_calmap_tz_name_of_32_units_round_trips(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    uint8_t b[EAS_CALMAP_TZ_BLOB_LEN];
    memset(b, 0, sizeof(b));
    static const char name[] = "Thirty-two UTF-16 units, exactly"; /* 32 characters */
    _Static_assert(sizeof(name) == 33, "32 characters");
    for (size_t i = 0; i < 32; i++) {
        b[4 + 2 * i] = (uint8_t)name[i];
        b[88 + 2 * i] = (uint8_t)name[31 - i];
    }
    b[88 + 2 * 31] = 0xac; /* U+20AC, three bytes of UTF-8, in the last unit */
    b[88 + 2 * 31 + 1] = 0x20;
    char b64[256];
    sec_base64(b, sizeof(b), b64, sizeof(b64));
    struct eas_calmap_tz tz;
    struct err e;
    err_init(&e);
    assert_int_equal(eas_calmap_tz_decode(slice_from_cstr(b64), &tz, &e), 0);
    assert_string_equal(tz.standard_name, name);
    assert_int_equal(strlen(tz.daylight_name), 31 + 3);
    assert_memory_equal(tz.daylight_name + 31, "\xe2\x82\xac", 3);
    uint8_t again[EAS_CALMAP_TZ_BLOB_LEN];
    blob_bytes(eas_calmap_tz_encode(&tz, a), again);
    assert_memory_equal(again, b, sizeof(b));
    /* a longer UTF-8 name is cut at 32 units, never written over StandardDate */
    struct eas_calmap_tz longer = tz;
    memcpy(longer.standard_name, "0123456789012345678901234567890123456789", 41);
    blob_bytes(eas_calmap_tz_encode(&longer, a), again);
    assert_memory_equal(again + 4,
                        "0\0"
                        "1\0",
                        4);
    assert_int_equal(again[4 + 2 * 31], '1');
    assert_memory_equal(again + 68, b + 68, 16);
    arena_destroy(&a);
}

/* Southern hemisphere: DaylightDate in October, StandardDate in April (§4.3). */
static void test_eas_calmap_tz_sydney_and_tokyo(void **state)
{
    (void)state;
    struct err e;
    err_init(&e);
    struct eas_calmap_tz tz;
    assert_int_equal(eas_calmap_tz_from_tzid("Australia/Sydney", 2024, &tz, &e), 0);
    assert_int_equal(tz.bias, -600);
    assert_int_equal(tz.daylight_bias, -60);
    assert_int_equal(tz.daylight_date.month, 10);
    assert_int_equal(tz.daylight_date.day, 1);
    assert_int_equal(tz.daylight_date.day_of_week, 0);
    assert_int_equal(tz.daylight_date.hour, 2);
    assert_int_equal(tz.standard_date.month, 4);
    assert_int_equal(tz.standard_date.day, 1);
    assert_int_equal(tz.standard_date.hour, 3);
    assert_int_equal(eas_calmap_tz_from_tzid("Asia/Tokyo", 2024, &tz, &e), 0);
    assert_int_equal(tz.bias, -540);
    assert_int_equal(tz.daylight_bias, 0);
    assert_int_equal(tz.standard_date.month, 0);
    assert_int_equal(tz.daylight_date.month, 0);
    assert_int_equal(eas_calmap_tz_from_tzid("Mars/Olympus_Mons", 2024, &tz, &e), -1);
    assert_ptr_equal(e.cond, &eas_cond_calmap_invalid);
}

/* A blob of the short list decodes to its IANA zone; the names pick between equal rules. */
static void test_eas_calmap_tz_decode_prefers_named_builtin(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    struct err e;
    err_init(&e);
    struct eas_calmap_tz tz, back;
    assert_int_equal(eas_calmap_tz_from_tzid("Europe/Paris", 2024, &tz, &e), 0);
    assert_int_equal(eas_calmap_tz_decode(slice_from_cstr(eas_calmap_tz_encode(&tz, a)), &back, &e),
                     0);
    assert_string_equal(back.standard_name, "Romance Standard Time");
    const char *tzid;
    struct slice vtz;
    eas_calmap_tz_to_vtimezone(&back, 2024, a, &tzid, &vtz);
    assert_string_equal(tzid, "Europe/Paris");
    back.standard_name[0] = back.daylight_name[0] = '\0';
    eas_calmap_tz_to_vtimezone(&back, 2024, a, &tzid, &vtz);
    assert_string_equal(tzid, "Europe/Berlin"); /* first of the list with these rules */
    assert_non_null(strstr(vtz.ptr, "TZID:Europe/Berlin\r\n"));
    assert_non_null(strstr(vtz.ptr, "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\n"));
    assert_non_null(strstr(vtz.ptr, "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\n"));
    arena_destroy(&a);
}

/* An event with a time zone blob, a start, an end, a subject and a UID, nothing else. */
static struct eas_calmap_event zoned_event(
    const char *tz_b64, const char *start, const char *end, const char *subject, const char *uid)
{
    struct eas_calmap_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.present = EAS_CALMAP_TIMEZONE | EAS_CALMAP_STARTTIME | EAS_CALMAP_ENDTIME |
                 EAS_CALMAP_SUBJECT | EAS_CALMAP_UID;
    ev.timezone = tz_b64;
    ev.start_time = start;
    ev.end_time = end;
    ev.subject = subject;
    ev.uid = uid;
    return ev;
}

/* A StartTime years ahead (fuzz_eas: the year 4052) is matched and converted by the rules of
 * next year, which are the zone's from then on unless its database has scheduled a change:
 * asking libical for a far year's offsets walked every zone of the short list to 2582 through
 * ICU, seconds of CPU for one Add (tests/fuzz/corpus/eas/far-year-zone-match-baadc852 is the
 * input; the fuzz smoke times it out without the fix). */
static void test_eas_calmap_tz_far_year_uses_next_years_rules(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    struct err e;
    err_init(&e);
    int next = cal_time_of(time_now(), NULL).year + 1;
    struct eas_calmap_tz far, near;
    assert_int_equal(eas_calmap_tz_from_tzid("Europe/Paris", 4052, &far, &e), 0);
    assert_int_equal(eas_calmap_tz_from_tzid("Europe/Paris", next, &near, &e), 0);
    assert_true(eas_calmap_tz_equal(&far, &near));
    const char *tzid;
    struct slice vtz;
    eas_calmap_tz_to_vtimezone(&far, 4052, a, &tzid, &vtz);
    assert_string_equal(tzid, "Europe/Paris");

    /* an Add in February 2400, Paris time (+0100): 10:00Z is 11:00 there */
    struct eas_calmap_event ev = zoned_event(eas_calmap_tz_encode(&far, a), "24000210T100000Z",
                                             "24000210T110000Z", "far", "far-1");
    struct slice ics;
    if (eas_calmap_to_ical(&ev, (struct slice){NULL, 0}, 0, NULL, a, &ics, &e) != 0) {
        fail_msg("%s", e.msg);
    }
    assert_non_null(strstr(ics.ptr, "DTSTART;TZID=Europe/Paris:24000210T110000\r\n"));
    /* one in 4052, past what libical's times reach (2582), is refused as invalid data */
    ev.start_time = "40520210T100000Z";
    ev.end_time = "40520210T110000Z";
    err_init(&e);
    assert_int_not_equal(eas_calmap_to_ical(&ev, (struct slice){NULL, 0}, 0, NULL, a, &ics, &e), 0);
    assert_ptr_equal(e.cond, &eas_cond_calmap_invalid);
    arena_destroy(&a);
}

/* A zone outside the list: Newfoundland (UTC-3:30, DST second Sunday of March to first
 * Sunday of November at 02:00) becomes a custom VTIMEZONE whose instances are right. */
static void test_eas_calmap_tz_unknown_zone_gives_custom_vtimezone(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    struct err e;
    err_init(&e);
    struct eas_calmap_tz tz;
    memset(&tz, 0, sizeof(tz));
    tz.bias = 210;
    tz.daylight_bias = -60;
    tz.standard_date = (struct eas_calmap_systime){0, 11, 0, 1, 2, 0, 0, 0};
    tz.daylight_date = (struct eas_calmap_systime){0, 3, 0, 2, 2, 0, 0, 0};
    const char *b64 = eas_calmap_tz_encode(&tz, a);
    const char *tzid;
    struct slice vtz;
    eas_calmap_tz_to_vtimezone(&tz, 2024, a, &tzid, &vtz);
    assert_memory_equal(tzid, "EAS-", 4);
    assert_int_equal(strlen(tzid), 12);
    assert_non_null(strstr(vtz.ptr, "TZOFFSETTO:-0330\r\n"));
    assert_non_null(strstr(vtz.ptr, "TZOFFSETTO:-0230\r\n"));
    assert_non_null(strstr(vtz.ptr, "RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU\r\n"));
    assert_non_null(strstr(vtz.ptr, "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU\r\n"));

    /* weekly from Monday 2024-10-28 09:30 local (12:00Z in NDT); after 2024-11-03 09:30 NST
     * is 13:00Z */
    struct eas_calmap_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.present = EAS_CALMAP_TIMEZONE | EAS_CALMAP_STARTTIME | EAS_CALMAP_ENDTIME |
                 EAS_CALMAP_SUBJECT | EAS_CALMAP_UID | EAS_CALMAP_RECURRENCE;
    ev.timezone = b64;
    ev.start_time = "20241028T120000Z";
    ev.end_time = "20241028T130000Z";
    ev.subject = "St. John's";
    ev.uid = "nl-1";
    ev.recurrence.type = 1;
    ev.recurrence.present = EAS_CALMAP_R_DAYOFWEEK | EAS_CALMAP_R_OCCURRENCES;
    ev.recurrence.day_of_week = 2;
    ev.recurrence.occurrences = 3;
    struct slice ics;
    if (eas_calmap_to_ical(&ev, (struct slice){NULL, 0}, 0, NULL, a, &ics, &e) != 0) {
        fail_msg("%s", e.msg);
    }
    assert_non_null(strstr(ics.ptr, "DTSTART;TZID=EAS-"));
    assert_non_null(strstr(ics.ptr, ":20241028T093000\r\n"));
    struct inst in[8];
    assert_int_equal(instances(a, ics, in, 8), 3);
    assert_int_equal(in[0].start, 1730116800); /* 2024-10-28T12:00:00Z */
    assert_int_equal(in[1].start, 1730725200); /* 2024-11-04T13:00:00Z */
    assert_int_equal(in[2].start, 1731330000); /* 2024-11-11T13:00:00Z */
    assert_int_equal(in[2].end - in[2].start, 3600);
    arena_destroy(&a);
}

/* The absolute form of a rule (wYear set, MS-ASDTYPE 2.7.6) on 29 February: its observance
 * starts in 1972, since 1970 has none, so the VTIMEZONE is one our own parser takes (fuzz
 * finding eas_tz-feb29-b2526232, now corpus/eas_tz/). A day no month has (31 April) is the
 * codec's refusal. */
static void test_eas_calmap_tz_absolute_29_february(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    struct err e;
    err_init(&e);
    struct eas_calmap_tz tz;
    memset(&tz, 0, sizeof(tz));
    tz.bias = -60;
    tz.daylight_bias = -60;
    tz.standard_date = (struct eas_calmap_systime){2024, 10, 0, 1, 3, 0, 0, 0};
    tz.daylight_date = (struct eas_calmap_systime){2024, 2, 0, 29, 2, 0, 0, 0};
    const char *b64 = eas_calmap_tz_encode(&tz, a);
    struct eas_calmap_tz back;
    assert_int_equal(eas_calmap_tz_decode(slice_from_cstr(b64), &back, &e), 0);
    const char *tzid;
    struct slice vtz;
    eas_calmap_tz_to_vtimezone(&back, 2024, a, &tzid, &vtz);
    assert_non_null(strstr(vtz.ptr, "DTSTART:19720229T020000\r\n"
                                    "RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29\r\n"));
    assert_non_null(strstr(vtz.ptr, "DTSTART:19701001T030000\r\n"));

    /* 1 March 2024 12:00 local is summer time (+0200): 10:00Z */
    struct eas_calmap_event ev =
        zoned_event(b64, "20240301T100000Z", "20240301T110000Z", "leap", "leap-1");
    struct slice ics;
    if (eas_calmap_to_ical(&ev, (struct slice){NULL, 0}, 0, NULL, a, &ics, &e) != 0) {
        fail_msg("%s", e.msg);
    }
    assert_non_null(strstr(ics.ptr, ":20240301T120000\r\n"));
    struct inst in[2];
    assert_int_equal(instances(a, ics, in, 2), 1);
    assert_int_equal(in[0].start, 1709287200); /* 2024-03-01T10:00:00Z */

    tz.standard_date = (struct eas_calmap_systime){2024, 4, 0, 31, 3, 0, 0, 0};
    err_init(&e);
    assert_int_not_equal(
        eas_calmap_tz_decode(slice_from_cstr(eas_calmap_tz_encode(&tz, a)), &back, &e), 0);
    assert_ptr_equal(e.cond, &eas_cond_calmap_invalid);
    arena_destroy(&a);
}

/* ---------------------------------------------------------------------------------------- */
/* EAS-level answers (activesync.md §4.2-§4.7) */

static void from_file(struct arena *a,
                      const char *file,
                      unsigned version,
                      const char *principal,
                      const char *default_tz,
                      struct eas_calmap_event *ev)
{
    struct err e;
    err_init(&e);
    struct eas_calmap_opts o = {
        .version = version, .principal = principal, .default_tz = default_tz, .now = NOW};
    if (eas_calmap_from_ical_opts(load(a, file), &o, a, ev, &e) != 0) {
        fail_msg("%s: %s", file, e.msg);
    }
}

static void assert_tz(struct arena *a, const char *b64, const char *tzid)
{
    struct err e;
    err_init(&e);
    struct eas_calmap_tz want, got;
    assert_int_equal(eas_calmap_tz_from_tzid(tzid, 2024, &want, &e), 0);
    assert_int_equal(eas_calmap_tz_decode(slice_from_cstr(b64), &got, &e), 0);
    assert_string_equal(eas_calmap_tz_encode(&got, a), eas_calmap_tz_encode(&want, a));
}

static void test_eas_calmap_outlook_weekly_fields(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    struct eas_calmap_event ev;
    from_file(a, "outlook_weekly.ics", 141, NULL, NULL, &ev);
    assert_string_equal(ev.start_time, "20240108T083000Z");
    assert_string_equal(ev.end_time, "20240108T090000Z");
    assert_string_equal(ev.dtstamp, "20240102T081500Z");
    assert_false(ev.all_day);
    assert_true(ev.present & EAS_CALMAP_TIMEZONE);
    assert_tz(a, ev.timezone, "W. Europe Standard Time");
    struct eas_calmap_tz tz;
    struct err e;
    err_init(&e);
    assert_int_equal(eas_calmap_tz_decode(slice_from_cstr(ev.timezone), &tz, &e), 0);
    assert_string_equal(tz.standard_name, "W. Europe Standard Time");
    assert_int_equal(tz.bias, -60);
    assert_string_equal(ev.subject, "Platform sync");
    assert_string_equal(ev.location, "Room 4.12");
    assert_string_equal(ev.body, "Weekly sync of the platform team.\n\nAgenda in the wiki.");
    assert_string_equal(ev.organizer_email, "anna@example.com");
    assert_string_equal(ev.organizer_name, "Anna Schmidt");
    assert_int_equal(ev.nattendees, 2);
    assert_string_equal(ev.attendees[0].email, "ben@example.com");
    assert_string_equal(ev.attendees[0].name, "Ben Weber");
    assert_int_equal(ev.attendees[0].status, EAS_CALMAP_STATUS_ACCEPTED);
    assert_int_equal(ev.attendees[0].type, EAS_CALMAP_TYPE_REQUIRED);
    assert_int_equal(ev.attendees[1].status, EAS_CALMAP_STATUS_NOT_RESPONDED);
    assert_int_equal(ev.attendees[1].type, EAS_CALMAP_TYPE_OPTIONAL);
    assert_int_equal(ev.busy_status, 2);
    assert_true(ev.present & EAS_CALMAP_SENSITIVITY);
    assert_int_equal(ev.sensitivity, 0);
    assert_true(ev.present & EAS_CALMAP_REMINDER);
    assert_int_equal(ev.reminder, 15);
    assert_int_equal(ev.meeting_status, 1);
    assert_int_equal(ev.response_type, 1);
    assert_true(ev.response_requested);
    assert_true(ev.present & EAS_CALMAP_DISALLOWNEWTIMEPROPOSAL);
    assert_false(ev.disallow_new_time_proposal);
    /* Recurrence of a weekly rule (§4.5) */
    assert_true(ev.present & EAS_CALMAP_RECURRENCE);
    assert_int_equal(ev.recurrence.type, 1);
    assert_int_equal(ev.recurrence.interval, 1);
    assert_int_equal(ev.recurrence.day_of_week, 2 | 8); /* Monday, Wednesday */
    assert_true(ev.recurrence.present & EAS_CALMAP_R_UNTIL);
    assert_false(ev.recurrence.present & EAS_CALMAP_R_OCCURRENCES);
    assert_string_equal(ev.recurrence.until, "20240624T073000Z");
    assert_true(ev.recurrence.present & EAS_CALMAP_R_FIRSTDAYOFWEEK);
    assert_int_equal(ev.recurrence.first_day_of_week, 1);
    /* EXDATE -> a deleted Exception at the original start in UTC (§4.6) */
    assert_int_equal(ev.nexceptions, 1);
    assert_true(ev.exceptions[0].deleted);
    assert_string_equal(ev.exceptions[0].exception_start_time, "20240401T073000Z");
    /* 12.1 knows no FirstDayOfWeek, ResponseType, DisallowNewTimeProposal */
    from_file(a, "outlook_weekly.ics", 121, NULL, NULL, &ev);
    assert_false(ev.recurrence.present & EAS_CALMAP_R_FIRSTDAYOFWEEK);
    assert_false(ev.present & (EAS_CALMAP_RESPONSETYPE | EAS_CALMAP_DISALLOWNEWTIMEPROPOSAL));
    arena_destroy(&a);
}

static void test_eas_calmap_google_override_is_an_exception(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    struct eas_calmap_event ev;
    from_file(a, "google_override.ics", 141, "tom@example.org", NULL, &ev);
    assert_tz(a, ev.timezone, "UTC");
    assert_int_equal(ev.recurrence.type, 1);
    assert_int_equal(ev.recurrence.day_of_week, 2);
    assert_string_equal(ev.recurrence.until, "20240311T150000Z");
    assert_int_equal(ev.reminder, 10);
    assert_int_equal(ev.meeting_status, 3); /* received: tom is an attendee */
    assert_int_equal(ev.response_type, 2);  /* his PARTSTAT=TENTATIVE */
    assert_int_equal(ev.nexceptions, 1);
    const struct eas_calmap_exception *x = &ev.exceptions[0];
    assert_false(x->deleted);
    assert_string_equal(x->exception_start_time, "20240129T150000Z");
    assert_string_equal(x->start_time, "20240130T160000Z");
    assert_string_equal(x->end_time, "20240130T163000Z");
    /* only what differs from the master */
    assert_int_equal(x->present, EAS_CALMAP_STARTTIME | EAS_CALMAP_ENDTIME | EAS_CALMAP_SUBJECT);
    assert_string_equal(x->subject, "1:1 Priya / Tom (moved to Tuesday)");
    arena_destroy(&a);
}

static void test_eas_calmap_recurrence_types(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    struct eas_calmap_event ev;
    from_file(a, "monthly_nth.ics", 141, NULL, NULL, &ev);
    assert_string_equal(ev.start_time, "20240109T190000Z");
    assert_tz(a, ev.timezone, "America/New_York");
    assert_int_equal(ev.sensitivity, 3);
    assert_int_equal(ev.recurrence.type, 3);
    assert_int_equal(ev.recurrence.day_of_week, 4); /* Tuesday */
    assert_int_equal(ev.recurrence.week_of_month, 2);
    assert_int_equal(ev.recurrence.occurrences, 10);

    from_file(a, "monthly_setpos.ics", 141, NULL, NULL, &ev);
    assert_tz(a, ev.timezone, "America/Chicago");
    assert_int_equal(ev.sensitivity, 1); /* personal, via X-EAS-SENSITIVITY */
    assert_int_equal(ev.recurrence.type, 3);
    assert_int_equal(ev.recurrence.day_of_week, 62); /* weekdays */
    assert_int_equal(ev.recurrence.week_of_month, 5);
    assert_string_equal(ev.recurrence.until, "20241231T223000Z");

    from_file(a, "yearly_nth.ics", 141, NULL, NULL, &ev);
    assert_int_equal(ev.recurrence.type, 6);
    assert_int_equal(ev.recurrence.month_of_year, 11);
    assert_int_equal(ev.recurrence.day_of_week, 16); /* Thursday */
    assert_int_equal(ev.recurrence.week_of_month, 4);

    from_file(a, "daily_count.ics", 141, NULL, NULL, &ev);
    assert_int_equal(ev.recurrence.type, 0);
    assert_int_equal(ev.recurrence.interval, 2);
    assert_int_equal(ev.recurrence.occurrences, 5);
    assert_string_equal(ev.start_time, "20240205T070000Z");
    assert_string_equal(ev.end_time, "20240205T074500Z");
    assert_int_equal(ev.ncategories, 1);
    assert_string_equal(ev.categories[0], "Health");
    assert_false(ev.present & EAS_CALMAP_REMINDER);

    from_file(a, "sydney.ics", 141, NULL, NULL, &ev);
    assert_string_equal(ev.start_time, "20240303T213000Z");
    assert_tz(a, ev.timezone, "Australia/Sydney");
    assert_int_equal(ev.busy_status, 1);
    assert_int_equal(ev.recurrence.type, 1);
    assert_int_equal(ev.recurrence.interval, 2);
    assert_int_equal(ev.recurrence.day_of_week, 2);
    assert_int_equal(ev.recurrence.occurrences, 20);

    from_file(a, "tokyo.ics", 141, NULL, NULL, &ev);
    assert_string_equal(ev.start_time, "20240125T100000Z");
    assert_tz(a, ev.timezone, "Asia/Tokyo");
    assert_int_equal(ev.busy_status, 3);
    assert_int_equal(ev.recurrence.type, 2);
    assert_int_equal(ev.recurrence.day_of_month, 25);
    assert_string_equal(ev.recurrence.until, "20241225T100000Z");

    from_file(a, "cancelled_instances.ics", 141, NULL, NULL, &ev);
    assert_int_equal(ev.nexceptions, 3);
    assert_true(ev.exceptions[0].deleted && ev.exceptions[1].deleted && ev.exceptions[2].deleted);
    assert_string_equal(ev.exceptions[0].exception_start_time, "20240312T093000Z");
    assert_string_equal(ev.exceptions[1].exception_start_time, "20240329T093000Z");
    assert_string_equal(ev.exceptions[2].exception_start_time, "20240401T083000Z"); /* BST */
    arena_destroy(&a);
}

/* §4.4: 16.x all-day is the date at T000000Z without Timezone; ≤14.1 is local midnight in
 * the default zone with that zone's blob. */
static void test_eas_calmap_all_day_by_version(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    struct eas_calmap_event ev;
    from_file(a, "yearly_allday.ics", 161, NULL, "Europe/Berlin", &ev);
    assert_true(ev.all_day);
    assert_false(ev.present & EAS_CALMAP_TIMEZONE);
    assert_string_equal(ev.start_time, "20240615T000000Z");
    assert_string_equal(ev.end_time, "20240616T000000Z");
    assert_int_equal(ev.recurrence.type, 5);
    assert_int_equal(ev.recurrence.month_of_year, 6);
    assert_int_equal(ev.recurrence.day_of_month, 15);
    assert_int_equal(ev.reminder, 900); /* absolute trigger 09:00Z the day before */
    assert_int_equal(ev.busy_status, 0);

    from_file(a, "yearly_allday.ics", 141, NULL, "Europe/Berlin", &ev);
    assert_string_equal(ev.start_time, "20240614T220000Z");
    assert_string_equal(ev.end_time, "20240615T220000Z");
    assert_tz(a, ev.timezone, "Europe/Berlin");
    struct slice back;
    struct err e;
    err_init(&e);
    assert_int_equal(eas_calmap_to_ical(&ev, (struct slice){NULL, 0}, 0, NULL, a, &back, &e), 0);
    assert_non_null(strstr(back.ptr, "DTSTART;VALUE=DATE:20240615\r\n"));
    assert_non_null(strstr(back.ptr, "DTEND;VALUE=DATE:20240616\r\n"));
    assert_null(strstr(back.ptr, "VTIMEZONE")); /* no DATE-TIME needs it */

    from_file(a, "apple_allday.ics", 161, NULL, NULL, &ev);
    assert_string_equal(ev.start_time, "20240520T000000Z");
    assert_string_equal(ev.end_time, "20240524T000000Z");
    assert_int_equal(ev.ncategories, 2);
    assert_string_equal(ev.categories[1], "Work");

    /* a 16.x client Add: date part of T000000Z, no Timezone */
    struct eas_calmap_event in;
    memset(&in, 0, sizeof(in));
    in.present = EAS_CALMAP_ALLDAY | EAS_CALMAP_STARTTIME | EAS_CALMAP_ENDTIME | EAS_CALMAP_SUBJECT;
    in.all_day = true;
    in.start_time = "20241224T000000Z";
    in.end_time = "20241227T000000Z";
    in.subject = "Holidays";
    assert_int_equal(eas_calmap_to_ical(&in, (struct slice){NULL, 0}, 0, "new-uid-1", a, &back, &e),
                     0);
    assert_non_null(strstr(back.ptr, "DTSTART;VALUE=DATE:20241224\r\n"));
    assert_non_null(strstr(back.ptr, "DTEND;VALUE=DATE:20241227\r\n"));
    assert_non_null(strstr(back.ptr, "UID:new-uid-1\r\n"));
    arena_destroy(&a);
}

static void test_eas_calmap_attendees_and_meeting_status(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    struct eas_calmap_event ev;
    from_file(a, "attendees.ics", 141, "sam@example.com", NULL, &ev);
    assert_int_equal(ev.nattendees, 6);
    assert_int_equal(ev.attendees[0].type, EAS_CALMAP_TYPE_REQUIRED); /* CHAIR */
    assert_int_equal(ev.attendees[3].status, EAS_CALMAP_STATUS_DECLINED);
    assert_int_equal(ev.attendees[3].type, EAS_CALMAP_TYPE_OPTIONAL);
    assert_int_equal(ev.attendees[5].type, EAS_CALMAP_TYPE_RESOURCE); /* CUTYPE=ROOM */
    assert_int_equal(ev.meeting_status, 3);
    assert_int_equal(ev.response_type, 2);
    assert_true(ev.response_requested);
    from_file(a, "attendees.ics", 141, "olga@example.com", NULL, &ev);
    assert_int_equal(ev.meeting_status, 1);
    assert_int_equal(ev.response_type, 1);
    from_file(a, "apple_berlin.ics", 141, NULL, NULL, &ev);
    assert_int_equal(ev.meeting_status, 0);
    assert_int_equal(ev.reminder, 60); /* the DISPLAY alarm wins over the AUDIO one */
    assert_string_equal(ev.location, "Markthalle Neun\nEisenbahnstraße 42/43, Berlin");

    /* the round trip keeps parameters EAS does not carry */
    struct slice back;
    struct err e;
    err_init(&e);
    assert_int_equal(eas_calmap_to_ical(&ev, load(a, "apple_berlin.ics"), 0, NULL, a, &back, &e),
                     0);
    assert_non_null(strstr(back.ptr, "X-APPLE-TRAVEL-ADVISORY-BEHAVIOR:AUTOMATIC"));
    assert_non_null(strstr(back.ptr, "ACTION:AUDIO"));
    from_file(a, "attendees.ics", 141, NULL, NULL, &ev);
    assert_int_equal(eas_calmap_to_ical(&ev, load(a, "attendees.ics"), 0, NULL, a, &back, &e), 0);
    assert_non_null(strstr(back.ptr, "ROLE=CHAIR"));
    assert_non_null(strstr(back.ptr, "CUTYPE=ROOM"));
    arena_destroy(&a);
}

static void test_eas_calmap_floating_uses_default_zone(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    struct eas_calmap_event ev;
    from_file(a, "floating.ics", 141, NULL, NULL, &ev);
    assert_string_equal(ev.start_time, "20240601T090000Z");
    assert_tz(a, ev.timezone, "UTC");
    from_file(a, "floating.ics", 141, NULL, "America/New_York", &ev);
    assert_string_equal(ev.start_time, "20240601T130000Z");
    assert_string_equal(ev.end_time, "20240601T143000Z");
    assert_tz(a, ev.timezone, "America/New_York");
    arena_destroy(&a);
}

/* §4.5: rules EAS cannot express, and more than 256 exceptions (§4.6), are flattened. */
static void test_eas_calmap_flattens_what_eas_cannot_say(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    struct err e;
    err_init(&e);
    struct eas_calmap_event ev;
    const char *two_days = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\n"
                           "UID:f1\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:20240101T100000Z\r\n"
                           "RRULE:FREQ=MONTHLY;BYMONTHDAY=1,15\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    assert_int_equal(eas_calmap_from_ical(slice_from_cstr(two_days), 141, a, &ev, &e), 0);
    assert_true(ev.is_flattened);
    assert_false(ev.present & (EAS_CALMAP_RECURRENCE | EAS_CALMAP_EXCEPTIONS));
    assert_string_equal(ev.start_time, "20240101T100000Z");

    /* 2024-01-01T10:00Z daily, 257 EXDATEs: one more Exception than an item may carry */
    static char big[32768];
    size_t o = (size_t)snprintf(big, sizeof(big), "%s",
                                "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\n"
                                "UID:f2\r\nDTSTAMP:20240101T000000Z\r\n"
                                "DTSTART:20240101T100000Z\r\nRRULE:FREQ=DAILY;COUNT=400\r\n");
    for (int i = 0; i < 257; i++) {
        time_t t = (time_t)(1704103200 + (int64_t)i * 86400);
        struct tm tm;
        gmtime_r(&t, &tm);
        o += strftime(big + o, sizeof(big) - o, "EXDATE:%Y%m%dT%H%M%SZ\r\n", &tm);
    }
    o += (size_t)snprintf(big + o, sizeof(big) - o, "END:VEVENT\r\nEND:VCALENDAR\r\n");
    assert_true(o < sizeof(big) - 1);
    assert_int_equal(eas_calmap_from_ical(slice_from_cstr(big), 141, a, &ev, &e), 0);
    assert_true(ev.is_flattened);
    assert_false(ev.present & (EAS_CALMAP_RECURRENCE | EAS_CALMAP_EXCEPTIONS));
    /* 256 are fine */
    char *cut = strstr(big, "EXDATE:20240913");
    assert_non_null(cut);
    memmove(cut, cut + strlen("EXDATE:20240913T100000Z\r\n"),
            strlen(cut + strlen("EXDATE:20240913T100000Z\r\n")) + 1);
    assert_int_equal(eas_calmap_from_ical(slice_from_cstr(big), 141, a, &ev, &e), 0);
    assert_false(ev.is_flattened);
    assert_int_equal(ev.nexceptions, 256);
    arena_destroy(&a);
}

/* ---------------------------------------------------------------------------------------- */
/* Client data into iCalendar */

static bool has_line(struct slice ics, const char *line)
{
    char *want = malloc(strlen(line) + 3);
    assert_non_null(want);
    memcpy(want, line, strlen(line));
    memcpy(want + strlen(line), "\r\n", 3);
    bool found = strstr(ics.ptr, want) != NULL;
    free(want);
    return found;
}

/* §3.3.7: a Change carrying only Subject keeps what is ghosted and removes what is not. */
static void test_eas_calmap_change_ghosting(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    struct err e;
    err_init(&e);
    struct slice stored = load(a, "attendees.ics");
    struct eas_calmap_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.present = EAS_CALMAP_SUBJECT;
    ev.subject = "Design review (v2)";
    struct slice out;
    assert_int_equal(eas_calmap_to_ical(&ev, stored, EAS_CALMAP_ALL, NULL, a, &out, &e), 0);
    assert_true(has_line(out, "SUMMARY:Design review (v2)"));
    assert_non_null(strstr(out.ptr, "ATTENDEE;CN=Ravi Kumar"));
    assert_true(has_line(out, "DESCRIPTION:Bring the prototypes."));
    assert_true(has_line(out, "TRIGGER;RELATED=START:-PT5M"));
    assert_true(has_line(out, "LOCATION:Big room"));
    assert_true(has_line(out, "CATEGORIES:Design"));
    assert_true(has_line(out, "DTSTART:20240502T130000Z"));
    assert_true(has_line(out, "UID:design-review-2024-05@example.com"));

    assert_int_equal(eas_calmap_to_ical(&ev, stored, 0, NULL, a, &out, &e), 0);
    assert_true(has_line(out, "SUMMARY:Design review (v2)"));
    assert_null(strstr(out.ptr, "ATTENDEE"));
    assert_null(strstr(out.ptr, "DESCRIPTION:Bring"));
    assert_null(strstr(out.ptr, "BEGIN:VALARM"));
    assert_null(strstr(out.ptr, "LOCATION"));
    assert_null(strstr(out.ptr, "ORGANIZER"));
    /* StartTime, EndTime and UID are never removed */
    assert_true(has_line(out, "DTSTART:20240502T130000Z"));
    assert_true(has_line(out, "DTEND:20240502T143000Z"));
    assert_true(has_line(out, "UID:design-review-2024-05@example.com"));

    /* Outlook's series echoed without Exceptions: the EXDATE stays; a new Subject reaches
     * the overrides that did not override it */
    struct eas_calmap_event full;
    struct eas_calmap_opts o = {.version = 141, .now = NOW};
    struct slice outlook = load(a, "outlook_weekly.ics");
    assert_int_equal(eas_calmap_from_ical_opts(outlook, &o, a, &full, &e), 0);
    full.present &= ~(uint32_t)EAS_CALMAP_EXCEPTIONS;
    assert_int_equal(eas_calmap_to_ical(&full, outlook, EAS_CALMAP_ALL, NULL, a, &out, &e), 0);
    assert_true(has_line(out, "EXDATE;TZID=W. Europe Standard Time:20240401T093000"));
    assert_true(has_line(out, "X-MS-OLK-AUTOFILLLOCATION:FALSE"));
    struct slice google = load(a, "google_override.ics"), g2;
    struct eas_calmap_exception x;
    memset(&x, 0, sizeof(x));
    x.present = EAS_CALMAP_LOCATION;
    x.location = "Cafe";
    if (eas_calmap_apply_instance(google, "20240205T150000Z", &x, a, &g2, &e) != 0) {
        fail_msg("%s", e.msg);
    }
    ev.subject = "Weekly 1:1";
    assert_int_equal(eas_calmap_to_ical(&ev, g2, EAS_CALMAP_ALL, NULL, a, &out, &e), 0);
    assert_true(has_line(out, "SUMMARY:1:1 Priya / Tom (moved to Tuesday)"));
    assert_int_equal(eas_calmap_from_ical_opts(out, &o, a, &full, &e), 0);
    assert_int_equal(full.nexceptions, 2);
    assert_string_equal(full.exceptions[1].exception_start_time, "20240205T150000Z");
    assert_int_equal(full.exceptions[1].present,
                     EAS_CALMAP_STARTTIME | EAS_CALMAP_ENDTIME | EAS_CALMAP_LOCATION);
    assert_string_equal(full.subject, "Weekly 1:1");

    /* an HTML body travels as X-ALT-DESC beside the plain DESCRIPTION (§4.8) */
    struct eas_calmap_event html;
    memset(&html, 0, sizeof(html));
    html.present = EAS_CALMAP_BODY;
    html.body = "Agenda";
    html.body_html = "<p>Agenda</p>";
    assert_int_equal(eas_calmap_to_ical(&html, stored, EAS_CALMAP_ALL, NULL, a, &out, &e), 0);
    assert_true(has_line(out, "X-ALT-DESC;FMTTYPE=text/html:<p>Agenda</p>"));
    assert_int_equal(eas_calmap_from_ical_opts(out, &o, a, &full, &e), 0);
    assert_string_equal(full.body, "Agenda");
    assert_string_equal(full.body_html, "<p>Agenda</p>");

    /* 16.x B:Location: LocationUri as ALTREP, Latitude/Longitude as GEO */
    struct eas_calmap_event loc;
    memset(&loc, 0, sizeof(loc));
    loc.present = EAS_CALMAP_LOCATION;
    loc.location = "Konzerthaus";
    loc.location_uri = "https://maps.example.com/?q=konzerthaus";
    loc.latitude = "52.513611";
    loc.longitude = "13.391667";
    assert_int_equal(eas_calmap_to_ical(&loc, stored, EAS_CALMAP_ALL, NULL, a, &out, &e), 0);
    assert_true(has_line(out, "GEO:52.513611;13.391667"));
    assert_non_null(strstr(out.ptr, "LOCATION;ALTREP=\"https://maps.example.com/?q=konzerthaus\""));
    struct eas_calmap_opts o16 = {.version = 161, .now = NOW};
    assert_int_equal(eas_calmap_from_ical_opts(out, &o16, a, &full, &e), 0);
    assert_string_equal(full.location, "Konzerthaus");
    assert_string_equal(full.location_uri, "https://maps.example.com/?q=konzerthaus");
    assert_string_equal(full.latitude, "52.513611");
    assert_string_equal(full.longitude, "13.391667");
    assert_int_equal(eas_calmap_from_ical_opts(out, &o, a, &full, &e), 0);
    assert_null(full.latitude); /* 14.1 has C:Location only */
    loc.latitude = "91";
    err_init(&e);
    assert_int_equal(eas_calmap_to_ical(&loc, stored, EAS_CALMAP_ALL, NULL, a, &out, &e), -1);
    assert_ptr_equal(e.cond, &eas_cond_calmap_invalid);
    err_init(&e);

    /* the other B:Location children live in X-EAS-LOCATION (JSON), escapes and all */
    loc.latitude = "52.513611";
    loc.loc[EAS_CALMAP_LOC_STREET] = "Gendarmenmarkt \"2\"\\";
    loc.loc[EAS_CALMAP_LOC_CITY] = "Berlin\tMitte";
    loc.loc[EAS_CALMAP_LOC_ALTITUDE] = "34.5";
    assert_int_equal(eas_calmap_to_ical(&loc, stored, EAS_CALMAP_ALL, NULL, a, &out, &e), 0);
    assert_non_null(strstr(out.ptr, "X-EAS-LOCATION:"));
    assert_int_equal(eas_calmap_from_ical_opts(out, &o16, a, &full, &e), 0);
    assert_string_equal(full.loc[EAS_CALMAP_LOC_STREET], "Gendarmenmarkt \"2\"\\");
    assert_string_equal(full.loc[EAS_CALMAP_LOC_CITY], "Berlin\tMitte");
    assert_string_equal(full.loc[EAS_CALMAP_LOC_ALTITUDE], "34.5");
    assert_null(full.loc[EAS_CALMAP_LOC_ANNOTATION]);
    assert_int_equal(eas_calmap_from_ical_opts(out, &o, a, &full, &e), 0);
    assert_null(full.loc[EAS_CALMAP_LOC_STREET]); /* 14.1: the display name only */
    loc.loc[EAS_CALMAP_LOC_ALTITUDE] = "high";
    assert_int_equal(eas_calmap_to_ical(&loc, stored, EAS_CALMAP_ALL, NULL, a, &out, &e), -1);
    assert_ptr_equal(e.cond, &eas_cond_calmap_invalid);
    err_init(&e);
    /* a 16.x container without the rest clears GEO and X-EAS-LOCATION */
    memset(&loc, 0, sizeof(loc));
    loc.present = EAS_CALMAP_LOCATION;
    loc.location = "Annex";
    loc.location_full = true;
    struct slice prev = out;
    assert_int_equal(eas_calmap_to_ical(&loc, prev, EAS_CALMAP_ALL, NULL, a, &out, &e), 0);
    assert_null(strstr(out.ptr, "GEO:"));
    assert_null(strstr(out.ptr, "X-EAS-LOCATION"));

    /* keep_absent per field: only Body ghosted */
    assert_int_equal(eas_calmap_to_ical(&ev, stored, EAS_CALMAP_BODY, NULL, a, &out, &e), 0);
    assert_true(has_line(out, "DESCRIPTION:Bring the prototypes."));
    assert_null(strstr(out.ptr, "ATTENDEE"));
    arena_destroy(&a);
}

/* A ≤14.1 client Add: Berlin blob, weekly Recurrence, one deleted and one moved instance. */
static void test_eas_calmap_client_add_with_exceptions(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    struct err e;
    err_init(&e);
    struct eas_calmap_tz tz;
    assert_int_equal(eas_calmap_tz_from_tzid("Europe/Berlin", 2024, &tz, &e), 0);
    struct eas_calmap_exception x[2];
    memset(x, 0, sizeof(x));
    x[0].deleted = true;
    x[0].exception_start_time = "20240918T070000Z";
    x[1].exception_start_time = "20240925T070000Z";
    x[1].present = EAS_CALMAP_STARTTIME | EAS_CALMAP_ENDTIME | EAS_CALMAP_SUBJECT;
    x[1].start_time = "20240926T120000Z";
    x[1].end_time = "20240926T130000Z";
    x[1].subject = "Retro (moved)";
    struct eas_calmap_attendee att[1] = {{"kim@example.com", "Kim", 3, 2}};
    struct eas_calmap_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.present = EAS_CALMAP_TIMEZONE | EAS_CALMAP_STARTTIME | EAS_CALMAP_ENDTIME |
                 EAS_CALMAP_SUBJECT | EAS_CALMAP_UID | EAS_CALMAP_RECURRENCE |
                 EAS_CALMAP_EXCEPTIONS | EAS_CALMAP_REMINDER | EAS_CALMAP_BUSYSTATUS |
                 EAS_CALMAP_SENSITIVITY | EAS_CALMAP_ATTENDEES | EAS_CALMAP_BODY |
                 EAS_CALMAP_DTSTAMP | EAS_CALMAP_ALLDAY;
    ev.timezone = eas_calmap_tz_encode(&tz, a);
    ev.start_time = "20240904T070000Z";
    ev.end_time = "20240904T080000Z";
    ev.dtstamp = "2024-09-01T10:00:00.000Z"; /* dateTime form, accepted on input (§4.1) */
    ev.subject = "Retro";
    ev.uid = "retro-1";
    ev.reminder = 10;
    ev.busy_status = 3;
    ev.sensitivity = 2;
    ev.body = "Line one\nLine two";
    ev.attendees = att;
    ev.nattendees = 1;
    ev.recurrence.type = 1;
    ev.recurrence.present =
        EAS_CALMAP_R_INTERVAL | EAS_CALMAP_R_DAYOFWEEK | EAS_CALMAP_R_OCCURRENCES;
    ev.recurrence.interval = 1;
    ev.recurrence.day_of_week = 8;
    ev.recurrence.occurrences = 6;
    ev.exceptions = x;
    ev.nexceptions = 2;
    struct slice out;
    if (eas_calmap_to_ical(&ev, (struct slice){NULL, 0}, 0, NULL, a, &out, &e) != 0) {
        fail_msg("%s", e.msg);
    }
    assert_true(has_line(out, "TZID:Europe/Berlin"));
    assert_true(has_line(out, "DTSTART;TZID=Europe/Berlin:20240904T090000"));
    assert_true(has_line(out, "DTEND;TZID=Europe/Berlin:20240904T100000"));
    assert_true(has_line(out, "RRULE:FREQ=WEEKLY;COUNT=6;BYDAY=WE"));
    assert_true(has_line(out, "EXDATE;TZID=Europe/Berlin:20240918T090000"));
    assert_true(has_line(out, "RECURRENCE-ID;TZID=Europe/Berlin:20240925T090000"));
    assert_true(has_line(out, "DTSTART;TZID=Europe/Berlin:20240926T140000"));
    assert_true(has_line(out, "SUMMARY:Retro (moved)"));
    assert_true(has_line(out, "DTSTAMP:20240901T100000Z"));
    assert_true(has_line(out, "TRIGGER:-PT10M"));
    assert_true(has_line(out, "X-MICROSOFT-CDO-BUSYSTATUS:OOF"));
    assert_true(has_line(out, "TRANSP:OPAQUE"));
    assert_true(has_line(out, "CLASS:PRIVATE"));
    assert_true(has_line(out, "DESCRIPTION:Line one\\nLine two"));
    assert_non_null(
        strstr(out.ptr, "ATTENDEE;CN=Kim;PARTSTAT=ACCEPTED;ROLE=OPT-PARTICIPANT:mailto:"));
    struct inst in[16];
    assert_int_equal(instances(a, out, in, 16), 5);
    assert_int_equal(in[0].start, 1725433200); /* 2024-09-04T07:00:00Z */
    assert_int_equal(in[2].start, 1727352000); /* 09-18 deleted, 09-25 moved to 09-26 12:00Z */
    assert_int_equal(in[2].end, 1727352000 + 3600);
    assert_int_equal(in[4].start, 1728457200); /* 2024-10-09T07:00:00Z */

    /* and back to EAS: the same Exceptions */
    struct eas_calmap_event back;
    struct eas_calmap_opts o = {.version = 141, .now = NOW};
    assert_int_equal(eas_calmap_from_ical_opts(out, &o, a, &back, &e), 0);
    assert_int_equal(back.nexceptions, 2);
    assert_true(back.exceptions[0].deleted);
    assert_string_equal(back.exceptions[0].exception_start_time, "20240918T070000Z");
    assert_string_equal(back.exceptions[1].exception_start_time, "20240925T070000Z");
    assert_string_equal(back.exceptions[1].start_time, "20240926T120000Z");
    assert_int_equal(back.exceptions[1].present,
                     EAS_CALMAP_STARTTIME | EAS_CALMAP_ENDTIME | EAS_CALMAP_SUBJECT);
    assert_string_equal(back.timezone, ev.timezone);
    assert_int_equal(back.sensitivity, 2);
    assert_int_equal(back.busy_status, 3);

    /* a Change that moves the series drops the exceptions it no longer has (§4.6) */
    struct eas_calmap_event mv;
    memset(&mv, 0, sizeof(mv));
    mv.present = EAS_CALMAP_STARTTIME | EAS_CALMAP_ENDTIME;
    mv.start_time = "20240905T070000Z";
    mv.end_time = "20240905T080000Z";
    struct slice moved;
    assert_int_equal(eas_calmap_to_ical(&mv, out, EAS_CALMAP_ALL, NULL, a, &moved, &e), 0);
    assert_null(strstr(moved.ptr, "RECURRENCE-ID"));
    assert_null(strstr(moved.ptr, "EXDATE"));
    assert_true(has_line(moved, "RRULE:FREQ=WEEKLY;COUNT=6;BYDAY=WE"));
    /* the client echoing the same times keeps them */
    struct slice same;
    struct eas_calmap_event echo = back;
    echo.present &= ~(uint32_t)EAS_CALMAP_EXCEPTIONS;
    assert_int_equal(eas_calmap_to_ical(&echo, out, EAS_CALMAP_ALL, NULL, a, &same, &e), 0);
    assert_non_null(strstr(same.ptr, "RECURRENCE-ID"));
    assert_non_null(strstr(same.ptr, "EXDATE"));
    arena_destroy(&a);
}

/* Invalid client data gives eas_cond_calmap_invalid (400, EAS Status 6), never a crash. */
static void test_eas_calmap_invalid_client_data(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    struct eas_calmap_event base;
    memset(&base, 0, sizeof(base));
    base.present = EAS_CALMAP_STARTTIME | EAS_CALMAP_ENDTIME | EAS_CALMAP_SUBJECT | EAS_CALMAP_UID;
    base.start_time = "20240301T100000Z";
    base.end_time = "20240301T110000Z";
    base.subject = "x";
    base.uid = "u1";
    static const char *const bad_times[] = {
        "2024-13-01",
        "20241301T100000Z",
        "20240230T100000Z",
        "20240301T250000Z",
        "20240301T1000Z",
        "20240301T100000ZZ",
        "",
        "2024-03-01T10:00:00.Z",
    };
    struct slice out;
    for (size_t i = 0; i < sizeof(bad_times) / sizeof(bad_times[0]); i++) {
        struct err e;
        err_init(&e);
        struct eas_calmap_event ev = base;
        ev.start_time = bad_times[i];
        assert_int_equal(eas_calmap_to_ical(&ev, (struct slice){NULL, 0}, 0, NULL, a, &out, &e),
                         -1);
        assert_ptr_equal(e.cond, &eas_cond_calmap_invalid);
        assert_int_equal(e.cond->http_status, 400);
        assert_int_equal(e.cond->eas_status, 6);
        assert_non_null(strstr(e.msg, "StartTime"));
    }
    struct err e;
    struct eas_calmap_event ev = base;
    ev.end_time = "20240301T090000Z";
    err_init(&e);
    assert_int_equal(eas_calmap_to_ical(&ev, (struct slice){NULL, 0}, 0, NULL, a, &out, &e), -1);
    assert_ptr_equal(e.cond, &eas_cond_calmap_invalid);
    assert_non_null(strstr(e.msg, "EndTime"));

    ev = base;
    ev.present |= EAS_CALMAP_RECURRENCE;
    ev.recurrence.type = 4;
    err_init(&e);
    assert_int_equal(eas_calmap_to_ical(&ev, (struct slice){NULL, 0}, 0, NULL, a, &out, &e), -1);
    assert_ptr_equal(e.cond, &eas_cond_calmap_invalid);
    assert_non_null(strstr(e.msg, "Recurrence Type 4"));
    ev.recurrence.type = 9;
    err_init(&e);
    assert_int_equal(eas_calmap_to_ical(&ev, (struct slice){NULL, 0}, 0, NULL, a, &out, &e), -1);
    ev.recurrence.type = 3; /* without WeekOfMonth */
    ev.recurrence.present = EAS_CALMAP_R_DAYOFWEEK;
    ev.recurrence.day_of_week = 4;
    err_init(&e);
    assert_int_equal(eas_calmap_to_ical(&ev, (struct slice){NULL, 0}, 0, NULL, a, &out, &e), -1);
    assert_non_null(strstr(e.msg, "WeekOfMonth"));
    ev.recurrence.type = 1;
    ev.recurrence.present = EAS_CALMAP_R_CALENDARTYPE;
    ev.recurrence.calendar_type = 6; /* Hijri */
    err_init(&e);
    assert_int_equal(eas_calmap_to_ical(&ev, (struct slice){NULL, 0}, 0, NULL, a, &out, &e), -1);
    assert_non_null(strstr(e.msg, "CalendarType"));

    static const char *const bad_blobs[] = {
        "not base64!", "AAAA", "", /* base64 of 3 bytes; empty */
    };
    for (size_t i = 0; i < sizeof(bad_blobs) / sizeof(bad_blobs[0]); i++) {
        ev = base;
        ev.present |= EAS_CALMAP_TIMEZONE;
        ev.timezone = bad_blobs[i];
        err_init(&e);
        assert_int_equal(eas_calmap_to_ical(&ev, (struct slice){NULL, 0}, 0, NULL, a, &out, &e),
                         -1);
        assert_ptr_equal(e.cond, &eas_cond_calmap_invalid);
        assert_non_null(strstr(e.msg, "Timezone"));
    }
    /* 172 bytes whose rule says month 13 */
    struct eas_calmap_tz tz;
    memset(&tz, 0, sizeof(tz));
    tz.standard_date.month = 13;
    tz.daylight_date.month = 3;
    tz.daylight_date.day = 2;
    ev = base;
    ev.present |= EAS_CALMAP_TIMEZONE;
    ev.timezone = eas_calmap_tz_encode(&tz, a);
    err_init(&e);
    assert_int_equal(eas_calmap_to_ical(&ev, (struct slice){NULL, 0}, 0, NULL, a, &out, &e), -1);
    assert_non_null(strstr(e.msg, "Timezone"));

    ev = base; /* no UID anywhere */
    ev.present &= ~(uint32_t)EAS_CALMAP_UID;
    err_init(&e);
    assert_int_equal(eas_calmap_to_ical(&ev, (struct slice){NULL, 0}, 0, NULL, a, &out, &e), -1);
    assert_non_null(strstr(e.msg, "UID"));
    ev = base; /* no StartTime on an Add */
    ev.present &= ~(uint32_t)EAS_CALMAP_STARTTIME;
    err_init(&e);
    assert_int_equal(eas_calmap_to_ical(&ev, (struct slice){NULL, 0}, 0, NULL, a, &out, &e), -1);
    assert_non_null(strstr(e.msg, "StartTime"));
    ev = base;
    ev.present |= EAS_CALMAP_SENSITIVITY;
    ev.sensitivity = 7;
    err_init(&e);
    assert_int_equal(eas_calmap_to_ical(&ev, (struct slice){NULL, 0}, 0, NULL, a, &out, &e), -1);
    assert_non_null(strstr(e.msg, "Sensitivity"));
    /* a stored object that does not parse */
    err_init(&e);
    assert_int_equal(eas_calmap_to_ical(&base, SLICE_LIT("garbage"), 0, NULL, a, &out, &e), -1);
    assert_ptr_equal(e.cond, &cal_cond_valid_calendar_data);
    struct eas_calmap_event got;
    err_init(&e);
    assert_int_equal(eas_calmap_from_ical(SLICE_LIT("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n"
                                                    "BEGIN:VTODO\r\nUID:t\r\nEND:VTODO\r\n"
                                                    "END:VCALENDAR\r\n"),
                                          141, a, &got, &e),
                     -1);
    assert_ptr_equal(e.cond, &eas_cond_calmap_unsupported);
    arena_destroy(&a);
}

/* 16.x Change/Delete of one occurrence by InstanceId (MS-ASCMD 2.2.3.87). */
static void test_eas_calmap_apply_instance(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    struct err e;
    err_init(&e);
    struct slice stored = load(a, "outlook_weekly.ics");
    struct slice out;
    /* delete Wednesday 2024-01-10 09:30 Berlin = 08:30Z */
    assert_int_equal(eas_calmap_apply_instance(stored, "20240110T083000Z", NULL, a, &out, &e), 0);
    assert_non_null(strstr(out.ptr, "EXDATE;TZID=W. Europe Standard Time:20240110T093000"));
    static struct inst i1[128], i2[128];
    size_t n1 = instances(a, stored, i1, 128);
    assert_int_equal(instances(a, out, i2, 128), n1 - 1);

    /* change Monday 2024-01-15: later and renamed */
    struct eas_calmap_exception x;
    memset(&x, 0, sizeof(x));
    x.present = EAS_CALMAP_STARTTIME | EAS_CALMAP_ENDTIME | EAS_CALMAP_SUBJECT;
    x.start_time = "20240115T100000Z";
    x.end_time = "20240115T110000Z";
    x.subject = "Platform sync (late)";
    struct slice ch;
    assert_int_equal(eas_calmap_apply_instance(out, "20240115T083000Z", &x, a, &ch, &e), 0);
    assert_non_null(strstr(ch.ptr, "RECURRENCE-ID;TZID=W. Europe Standard Time:20240115T093000"));
    assert_non_null(strstr(ch.ptr, "SUMMARY:Platform sync (late)"));
    assert_int_equal(instances(a, ch, i2, 128), n1 - 1);
    struct eas_calmap_event ev;
    struct eas_calmap_opts o = {.version = 161, .now = NOW};
    assert_int_equal(eas_calmap_from_ical_opts(ch, &o, a, &ev, &e), 0);
    assert_int_equal(ev.nexceptions, 3);
    assert_string_equal(ev.exceptions[0].exception_start_time, "20240110T083000Z");
    assert_true(ev.exceptions[0].deleted);
    assert_string_equal(ev.exceptions[1].exception_start_time, "20240115T083000Z");
    assert_string_equal(ev.exceptions[1].start_time, "20240115T100000Z");
    assert_string_equal(ev.exceptions[1].subject, "Platform sync (late)");
    /* changing it again updates the same override; deleting it leaves an EXDATE only */
    x.present = EAS_CALMAP_LOCATION;
    x.location = "Room 5.01";
    assert_int_equal(eas_calmap_apply_instance(ch, "20240115T083000Z", &x, a, &out, &e), 0);
    assert_non_null(strstr(out.ptr, "LOCATION:Room 5.01"));
    assert_non_null(strstr(out.ptr, "SUMMARY:Platform sync (late)"));
    assert_int_equal(eas_calmap_apply_instance(out, "20240115T083000Z", NULL, a, &ch, &e), 0);
    assert_null(strstr(ch.ptr, "RECURRENCE-ID"));
    assert_int_equal(instances(a, ch, i2, 128), n1 - 2);

    /* an InstanceId that names no instance, a bad one, a non-recurring item */
    err_init(&e);
    assert_int_equal(eas_calmap_apply_instance(stored, "20240111T083000Z", NULL, a, &out, &e), -1);
    assert_ptr_equal(e.cond, &eas_cond_calmap_invalid);
    err_init(&e);
    assert_int_equal(eas_calmap_apply_instance(stored, "yesterday", NULL, a, &out, &e), -1);
    assert_ptr_equal(e.cond, &eas_cond_calmap_invalid);
    err_init(&e);
    assert_int_equal(
        eas_calmap_apply_instance(load(a, "floating.ics"), "20240601T090000Z", NULL, a, &out, &e),
        -1);
    assert_ptr_equal(e.cond, &eas_cond_calmap_invalid);

    /* an all-day series: InstanceId is the date at T000000Z (§4.4) */
    err_init(&e);
    assert_int_equal(eas_calmap_apply_instance(load(a, "yearly_allday.ics"), "20250615T000000Z",
                                               NULL, a, &out, &e),
                     0);
    assert_non_null(strstr(out.ptr, "EXDATE;VALUE=DATE:20250615"));
    arena_destroy(&a);
}

/* §4.3.1 step 2: the blob carries the rules of the event's year, or of "now" for a series
 * still running. New York's DST began on the first Sunday of April until 2006. */
static void test_eas_calmap_blob_rule_year(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    struct err e;
    err_init(&e);
    struct eas_calmap_opts o = {.version = 141, .now = NOW};
    struct eas_calmap_event ev;
    struct eas_calmap_tz tz;
    const char *single = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:y1\r\n"
                         "DTSTAMP:20060101T000000Z\r\n"
                         "DTSTART;TZID=America/New_York:20060501T100000\r\n"
                         "DURATION:PT1H\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    assert_int_equal(eas_calmap_from_ical_opts(slice_from_cstr(single), &o, a, &ev, &e), 0);
    assert_string_equal(ev.start_time, "20060501T140000Z");
    assert_int_equal(eas_calmap_tz_decode(slice_from_cstr(ev.timezone), &tz, &e), 0);
    assert_int_equal(tz.daylight_date.month, 4);
    assert_int_equal(tz.daylight_date.day, 1);
    assert_int_equal(tz.standard_date.month, 10);
    assert_int_equal(tz.standard_date.day, 5);
    const char *running = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\n"
                          "UID:y2\r\nDTSTAMP:20060101T000000Z\r\n"
                          "DTSTART;TZID=America/New_York:20060501T100000\r\n"
                          "DURATION:PT1H\r\nRRULE:FREQ=WEEKLY\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    assert_int_equal(eas_calmap_from_ical_opts(slice_from_cstr(running), &o, a, &ev, &e), 0);
    assert_int_equal(eas_calmap_tz_decode(slice_from_cstr(ev.timezone), &tz, &e), 0);
    assert_int_equal(tz.daylight_date.month, 3);
    assert_int_equal(tz.daylight_date.day, 2);
    assert_int_equal(tz.standard_date.month, 11);
    assert_int_equal(tz.standard_date.day, 1);
    assert_false(ev.recurrence.present & (EAS_CALMAP_R_UNTIL | EAS_CALMAP_R_OCCURRENCES));
    /* the client echoes the blob of a zone stored by name only: the TZID stays and gets
     * no one-year VTIMEZONE, so 2006 keeps its April rule */
    struct slice out;
    assert_int_equal(
        eas_calmap_to_ical(&ev, slice_from_cstr(running), EAS_CALMAP_ALL, NULL, a, &out, &e), 0);
    assert_true(has_line(out, "DTSTART;TZID=America/New_York:20060501T100000"));
    assert_null(strstr(out.ptr, "BEGIN:VTIMEZONE"));
    /* a sub-daily rule EAS cannot say */
    const char *hourly = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\n"
                         "UID:y3\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:20240101T100000Z\r\n"
                         "RRULE:FREQ=HOURLY;COUNT=3\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    assert_int_equal(eas_calmap_from_ical_opts(slice_from_cstr(hourly), &o, a, &ev, &e), 0);
    assert_true(ev.is_flattened);
    arena_destroy(&a);
}

/* Every byte of a real blob changed to 0x00 and 0xff: the item is refused with
 * eas_cond_calmap_invalid or becomes an object cal accepts, never a crash. */
static void test_eas_calmap_mutated_blobs_never_crash(void **state)
{
    (void)state;
    struct err e;
    err_init(&e);
    struct eas_calmap_tz ny;
    assert_int_equal(eas_calmap_tz_from_tzid("America/New_York", 2024, &ny, &e), 0);
    struct arena *a0 = arena_create();
    uint8_t blob[EAS_CALMAP_TZ_BLOB_LEN];
    blob_bytes(eas_calmap_tz_encode(&ny, a0), blob);
    arena_destroy(&a0);
    static const uint8_t values[] = {0x00, 0xff};
    size_t ok = 0, refused = 0;
    for (size_t i = 0; i < sizeof(blob); i++) {
        for (size_t v = 0; v < sizeof(values); v++) {
            struct arena *a = arena_create();
            uint8_t m[EAS_CALMAP_TZ_BLOB_LEN];
            memcpy(m, blob, sizeof(m));
            m[i] = values[v];
            char b64[240];
            sec_base64(m, sizeof(m), b64, sizeof(b64));
            struct eas_calmap_event ev;
            memset(&ev, 0, sizeof(ev));
            ev.present = EAS_CALMAP_TIMEZONE | EAS_CALMAP_STARTTIME | EAS_CALMAP_ENDTIME |
                         EAS_CALMAP_UID | EAS_CALMAP_RECURRENCE;
            ev.timezone = b64;
            ev.start_time = "20240310T120000Z";
            ev.end_time = "20240310T130000Z";
            ev.uid = "m";
            ev.recurrence.type = 0;
            ev.recurrence.present = EAS_CALMAP_R_OCCURRENCES;
            ev.recurrence.occurrences = 3;
            struct slice out;
            err_init(&e);
            if (eas_calmap_to_ical(&ev, (struct slice){NULL, 0}, 0, NULL, a, &out, &e) == 0) {
                struct cal_info info;
                assert_int_equal(cal_parse_object(out, CAL_COMP_VEVENT, a, &info, &e), 0);
                /* the first instance is the instant sent, whatever the zone */
                assert_int_equal(info.dtstart_utc, 1710072000);
                ok++;
            } else {
                assert_ptr_equal(e.cond, &eas_cond_calmap_invalid);
                refused++;
            }
            arena_destroy(&a);
        }
    }
    assert_int_equal(ok + refused, 2 * sizeof(blob));
    assert_true(ok > refused); /* names and padding bytes do not matter */
}

/* MeetingStatus 5/7 cancel the meeting (STATUS:CANCELLED); a null list is refused. */
static void test_eas_calmap_meeting_status_and_bad_lists(void **state)
{
    (void)state;
    struct arena *a = arena_create();
    struct err e;
    err_init(&e);
    struct eas_calmap_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.present = EAS_CALMAP_MEETINGSTATUS;
    ev.meeting_status = 5;
    struct slice stored = load(a, "attendees.ics"), out;
    assert_int_equal(eas_calmap_to_ical(&ev, stored, EAS_CALMAP_ALL, NULL, a, &out, &e), 0);
    assert_true(has_line(out, "STATUS:CANCELLED"));
    struct eas_calmap_event got;
    struct eas_calmap_opts o = {.version = 141, .now = NOW};
    assert_int_equal(eas_calmap_from_ical_opts(out, &o, a, &got, &e), 0);
    assert_int_equal(got.meeting_status, 5);
    o.principal = "ravi@example.com";
    assert_int_equal(eas_calmap_from_ical_opts(out, &o, a, &got, &e), 0);
    assert_int_equal(got.meeting_status, 7);
    ev.meeting_status = 1;
    assert_int_equal(eas_calmap_to_ical(&ev, out, EAS_CALMAP_ALL, NULL, a, &out, &e), 0);
    assert_null(strstr(out.ptr, "STATUS:CANCELLED"));

    ev.present = EAS_CALMAP_ATTENDEES;
    ev.nattendees = 2;
    ev.attendees = NULL;
    assert_int_equal(eas_calmap_to_ical(&ev, stored, EAS_CALMAP_ALL, NULL, a, &out, &e), -1);
    assert_ptr_equal(e.cond, &eas_cond_calmap_invalid);
    ev.present = EAS_CALMAP_REMINDER;
    ev.nattendees = 0;
    ev.reminder = EAS_CALMAP_MAX_REMINDER + 1;
    err_init(&e);
    assert_int_equal(eas_calmap_to_ical(&ev, stored, EAS_CALMAP_ALL, NULL, a, &out, &e), -1);
    assert_non_null(strstr(e.msg, "Reminder"));
    arena_destroy(&a);
}

/* §4.5 inbound: each Recurrence shape gives one exact RRULE (series from Monday
 * 2024-01-01 08:00Z in UTC, or all-day on that date). */
static void test_eas_calmap_recurrence_to_rrule_table(void **state)
{
    (void)state;

    static const struct {
        struct eas_calmap_recurrence rec;
        bool all_day;
        const char *rrule;
    } rows[] = {
        {{EAS_CALMAP_R_INTERVAL, 0, 3, NULL, 0, 0, 0, 0, 0, 0, 0, false},
         false,
         "RRULE:FREQ=DAILY;INTERVAL=3"},
        /* SOGo's Type 0 with DayOfWeek 62: every weekday */
        {{EAS_CALMAP_R_DAYOFWEEK, 0, 0, NULL, 0, 62, 0, 0, 0, 0, 0, false},
         false,
         "RRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"},
        {{EAS_CALMAP_R_DAYOFWEEK | EAS_CALMAP_R_UNTIL, 1, 0, "20240630T080000Z", 0, 10, 0, 0, 0, 0,
          0, false},
         false,
         "RRULE:FREQ=WEEKLY;UNTIL=20240630T080000Z;BYDAY=MO,WE"},
        {{EAS_CALMAP_R_FIRSTDAYOFWEEK | EAS_CALMAP_R_INTERVAL, 1, 2, NULL, 0, 0, 0, 0, 0, 0, 0,
          false},
         false,
         "RRULE:FREQ=WEEKLY;INTERVAL=2;WKST=SU"},
        {{EAS_CALMAP_R_DAYOFMONTH | EAS_CALMAP_R_OCCURRENCES, 2, 0, NULL, 12, 0, 15, 0, 0, 0, 0,
          false},
         false,
         "RRULE:FREQ=MONTHLY;COUNT=12;BYMONTHDAY=15"},
        {{EAS_CALMAP_R_DAYOFWEEK | EAS_CALMAP_R_WEEKOFMONTH, 3, 0, NULL, 0, 4, 0, 2, 0, 0, 0,
          false},
         false,
         "RRULE:FREQ=MONTHLY;BYDAY=2TU"},
        {{EAS_CALMAP_R_DAYOFWEEK | EAS_CALMAP_R_WEEKOFMONTH, 3, 0, NULL, 0, 32, 0, 5, 0, 0, 0,
          false},
         false,
         "RRULE:FREQ=MONTHLY;BYDAY=-1FR"},
        {{EAS_CALMAP_R_DAYOFWEEK | EAS_CALMAP_R_WEEKOFMONTH, 3, 0, NULL, 0, 62, 0, 5, 0, 0, 0,
          false},
         false,
         "RRULE:FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1"},
        {{EAS_CALMAP_R_DAYOFWEEK | EAS_CALMAP_R_WEEKOFMONTH, 3, 0, NULL, 0, 127, 0, 5, 0, 0, 0,
          false},
         false,
         "RRULE:FREQ=MONTHLY;BYMONTHDAY=-1"},
        {{EAS_CALMAP_R_DAYOFMONTH | EAS_CALMAP_R_MONTHOFYEAR | EAS_CALMAP_R_UNTIL, 5, 0,
          "20291231T000000Z", 0, 0, 15, 0, 6, 0, 0, false},
         true,
         "RRULE:FREQ=YEARLY;UNTIL=20291231;BYMONTHDAY=15;BYMONTH=6"},
        {{EAS_CALMAP_R_DAYOFWEEK | EAS_CALMAP_R_WEEKOFMONTH | EAS_CALMAP_R_MONTHOFYEAR, 6, 0, NULL,
          0, 16, 0, 4, 11, 0, 0, false},
         true,
         "RRULE:FREQ=YEARLY;BYDAY=4TH;BYMONTH=11"},
        {{EAS_CALMAP_R_CALENDARTYPE, 1, 0, NULL, 0, 0, 0, 0, 0, 0, 1, false},
         false,
         "RRULE:FREQ=WEEKLY"},
    };

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct arena *a = arena_create();
        struct err e;
        err_init(&e);
        struct eas_calmap_event ev;
        memset(&ev, 0, sizeof(ev));
        ev.present = EAS_CALMAP_STARTTIME | EAS_CALMAP_ENDTIME | EAS_CALMAP_UID |
                     EAS_CALMAP_RECURRENCE | EAS_CALMAP_ALLDAY;
        ev.all_day = rows[i].all_day;
        ev.start_time = rows[i].all_day ? "20240101T000000Z" : "20240101T080000Z";
        ev.end_time = rows[i].all_day ? "20240102T000000Z" : "20240101T090000Z";
        ev.uid = "r";
        ev.recurrence = rows[i].rec;
        struct slice out;
        if (eas_calmap_to_ical(&ev, (struct slice){NULL, 0}, 0, NULL, a, &out, &e) != 0) {
            fail_msg("row %zu: %s", i, e.msg);
        }
        if (!has_line(out, rows[i].rrule)) {
            fail_msg("row %zu: want %s in\n%s", i, rows[i].rrule, out.ptr);
        }
        /* and back: the same Recurrence */
        struct eas_calmap_event back;
        struct eas_calmap_opts o = {.version = 161, .now = NOW};
        assert_int_equal(eas_calmap_from_ical_opts(out, &o, a, &back, &e), 0);
        assert_int_equal(back.recurrence.type,
                         rows[i].rec.type == 0 && rows[i].rec.day_of_week ? 1 : rows[i].rec.type);
        if (rows[i].rec.present & EAS_CALMAP_R_DAYOFWEEK) {
            assert_int_equal(back.recurrence.day_of_week, rows[i].rec.day_of_week);
        }
        if (rows[i].rec.present & EAS_CALMAP_R_WEEKOFMONTH) {
            assert_int_equal(back.recurrence.week_of_month, rows[i].rec.week_of_month);
        }
        if (rows[i].rec.present & EAS_CALMAP_R_UNTIL) {
            assert_string_equal(back.recurrence.until, rows[i].rec.until);
        }
        arena_destroy(&a);
    }
}

int main(void)
{
    cal_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eas_calmap_corpus_round_trips_keep_meaning),
        cmocka_unit_test(test_eas_calmap_tz_new_york_blob),
        cmocka_unit_test(test_eas_calmap_tz_berlin_blob_matches_the_brief),
        cmocka_unit_test(test_eas_calmap_tz_utc_is_all_zero),
        cmocka_unit_test(test_eas_calmap_tz_sydney_and_tokyo),
        cmocka_unit_test(test_eas_calmap_tz_name_of_32_units_round_trips),
        cmocka_unit_test(test_eas_calmap_tz_decode_prefers_named_builtin),
        cmocka_unit_test(test_eas_calmap_tz_unknown_zone_gives_custom_vtimezone),
        cmocka_unit_test(test_eas_calmap_tz_absolute_29_february),
        cmocka_unit_test(test_eas_calmap_tz_far_year_uses_next_years_rules),
        cmocka_unit_test(test_eas_calmap_outlook_weekly_fields),
        cmocka_unit_test(test_eas_calmap_google_override_is_an_exception),
        cmocka_unit_test(test_eas_calmap_recurrence_types),
        cmocka_unit_test(test_eas_calmap_all_day_by_version),
        cmocka_unit_test(test_eas_calmap_attendees_and_meeting_status),
        cmocka_unit_test(test_eas_calmap_floating_uses_default_zone),
        cmocka_unit_test(test_eas_calmap_flattens_what_eas_cannot_say),
        cmocka_unit_test(test_eas_calmap_change_ghosting),
        cmocka_unit_test(test_eas_calmap_client_add_with_exceptions),
        cmocka_unit_test(test_eas_calmap_invalid_client_data),
        cmocka_unit_test(test_eas_calmap_apply_instance),
        cmocka_unit_test(test_eas_calmap_blob_rule_year),
        cmocka_unit_test(test_eas_calmap_mutated_blobs_never_crash),
        cmocka_unit_test(test_eas_calmap_meeting_status_and_bad_lists),
        cmocka_unit_test(test_eas_calmap_recurrence_to_rrule_table),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    cal_shutdown();
    return rc;
}
