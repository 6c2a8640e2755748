/* tests/fuzz/fuzz_eas_tz.c: the ActiveSync Timezone blob (eas/calmap_tz.c; MS-ASDTYPE 2.7.6,
 * activesync.md §4.3) as a Sync Add or Change brings it. Each input is tried as the blob's
 * base64 text and, when it is long enough, its first 172 bytes as the blob itself. A refusal
 * is eas_cond_calmap_invalid. A decoded blob must survive its own encoding (decode(encode(tz))
 * is tz), and the VTIMEZONE made of it for the year the input picks (calmap_write.c's
 * pick_zone) must be usable: an event in that zone, weekly for a year, passes the PUT
 * validation (cal_parse_object), since the client's item is refused otherwise. Violations
 * abort(). Seeds are in tests/fuzz/corpus/eas_tz/. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cal/cal.h"
#include "eas/calmap.h"
#include "util/sec.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    cal_init();
    return 0;
}

static bool same_time(const struct eas_calmap_systime *a, const struct eas_calmap_systime *b)
{
    return a->year == b->year && a->month == b->month && a->day_of_week == b->day_of_week &&
           a->day == b->day && a->hour == b->hour && a->minute == b->minute &&
           a->second == b->second && a->ms == b->ms;
}

/* A name survives the encoding whole, one that fills all 32 UTF-16 units included
 * (MS-ASDTYPE 2.7.6; corpus/eas_tz/name-of-32-units, once a finding). */
static bool name_kept(const char *a, const char *b)
{
    return strcmp(a, b) == 0;
}

static bool same_tz(const struct eas_calmap_tz *a, const struct eas_calmap_tz *b)
{
    return a->bias == b->bias && a->standard_bias == b->standard_bias &&
           a->daylight_bias == b->daylight_bias && name_kept(a->standard_name, b->standard_name) &&
           name_kept(a->daylight_name, b->daylight_name) &&
           same_time(&a->standard_date, &b->standard_date) &&
           same_time(&a->daylight_date, &b->daylight_date);
}

static void check_blob(struct slice b64, int year)
{
    struct arena *a = arena_create();
    struct eas_calmap_tz tz;
    struct err e;
    err_init(&e);
    if (eas_calmap_tz_decode(b64, &tz, &e) != 0) {
        if (e.cond != &eas_cond_calmap_invalid) {
            abort();
        }
        arena_destroy(&a);
        return;
    }
    struct eas_calmap_tz again;
    if (eas_calmap_tz_decode(slice_from_cstr(eas_calmap_tz_encode(&tz, a)), &again, &e) != 0 ||
        !same_tz(&tz, &again)) {
        fprintf(stderr, "fuzz_eas_tz: %d/%d/%d \"%s\" \"%s\" became %d/%d/%d \"%s\" \"%s\"\n",
                (int)tz.bias, (int)tz.standard_bias, (int)tz.daylight_bias, tz.standard_name,
                tz.daylight_name, (int)again.bias, (int)again.standard_bias,
                (int)again.daylight_bias, again.standard_name, again.daylight_name);
        abort(); /* the blob does not survive its own encoding */
    }
    const char *tzid = NULL;
    struct slice vtz = {NULL, 0};
    eas_calmap_tz_to_vtimezone(&tz, year, a, &tzid, &vtz);
    if (!tzid || !vtz.ptr || vtz.ptr[vtz.len] != '\0') {
        abort();
    }
    if (strcmp(tzid, "UTC") != 0) {
        char *ics = arena_printf(a,
                                 "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//fuzz//EN\r\n%s"
                                 "BEGIN:VEVENT\r\nUID:tz@fuzz\r\nDTSTAMP:20260101T000000Z\r\n"
                                 "DTSTART;TZID=%s:%04d0105T100000\r\nDURATION:PT1H\r\n"
                                 "RRULE:FREQ=WEEKLY;COUNT=53\r\nSUMMARY:x\r\nEND:VEVENT\r\n"
                                 "END:VCALENDAR\r\n",
                                 vtz.ptr, tzid, year);
        struct cal_info info;
        err_init(&e);
        if (cal_parse_object(slice_from_cstr(ics), CAL_COMP_VEVENT, a, &info, &e) != 0) {
            fprintf(stderr, "fuzz_eas_tz: %s\n%s", e.msg, vtz.ptr);
            abort(); /* the zone made of an accepted blob is refused */
        }
    }
    arena_destroy(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int year = size ? 1990 + data[0] % 60 : 2026;
    check_blob((struct slice){(const char *)data, size}, year);
    if (size >= EAS_CALMAP_TZ_BLOB_LEN) {
        char b64[256];
        sec_base64(data, EAS_CALMAP_TZ_BLOB_LEN, b64, sizeof(b64));
        check_blob(slice_from_cstr(b64), year);
    }
    return 0;
}
