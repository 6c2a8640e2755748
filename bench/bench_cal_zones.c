/* bench/bench_cal_zones.c: what one calendar object costs the cal layer (issue 18). Parses N
 * objects that carry an Outlook-style VTIMEZONE (yearly rules from 1601), each a fresh tree
 * as a PUT or a query brings it, and prints the mean time per object; then times the
 * validation of the pathological objects of tests/fuzz/corpus/ical/ given on the command line.
 * Built against the release libraries: make build && make -C bench, then
 *   build-bench/bench_cal_zones 1000 tests/fuzz/corpus/ical/0*.ics */
#include <stdio.h>
#include <stdlib.h>

#include "cal/cal.h"
#include "util/timeutil.h"

static int parse_zoned(int i)
{
    char buf[2048];
    int m = 1 + i % 9;
    snprintf(
        buf, sizeof(buf),
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\nBEGIN:VTIMEZONE\r\n"
        "TZID:W. Europe Standard Time\r\nBEGIN:STANDARD\r\nDTSTART:16010101T030000\r\n"
        "TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nRRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\r\n"
        "END:STANDARD\r\nBEGIN:DAYLIGHT\r\nDTSTART:16010101T020000\r\nTZOFFSETFROM:+0100\r\n"
        "TZOFFSETTO:+0200\r\nRRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3\r\nEND:DAYLIGHT\r\n"
        "END:VTIMEZONE\r\nBEGIN:VEVENT\r\nUID:e%d\r\nDTSTAMP:20260101T000000Z\r\n"
        "DTSTART;TZID=W. Europe Standard Time:20260%d0%dT100000\r\n"
        "DTEND;TZID=W. Europe Standard Time:20260%d0%dT110000\r\nRRULE:FREQ=WEEKLY;COUNT=20\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n",
        i, m, m, m, m);
    struct arena *a = arena_create();
    struct cal_info info;
    struct err e;
    err_init(&e);
    int rc = cal_parse_object(slice_from_cstr(buf), CAL_COMP_VEVENT, a, &info, &e);
    if (rc != 0) {
        fprintf(stderr, "refused: %s\n", e.msg);
    }
    arena_destroy(&a);
    return rc;
}

static void time_file(const char *path)
{
    static char buf[8 << 20];
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return;
    }
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    struct arena *a = arena_create();
    struct cal_info info;
    struct err e;
    err_init(&e);
    int64_t t0 = time_mono_us();
    int rc =
        cal_parse_object((struct slice){buf, n}, CAL_COMP_VEVENT | CAL_COMP_VTODO, a, &info, &e);
    int64_t t1 = time_mono_us();
    struct slice out;
    err_init(&e);
    int xrc = rc == 0 ? cal_expand((struct slice){buf, n}, 1767225600, 1767225600 + 31 * 86400, a,
                                   &out, &e)
                      : 0;
    int64_t t2 = time_mono_us();
    printf(
        "{\"file\": \"%s\", \"validate_ms\": %.1f, \"accepted\": %s, \"expand_month_ms\": %.1f%s}\n",
        path, (double)(t1 - t0) / 1000.0, rc == 0 ? "true" : "false", (double)(t2 - t1) / 1000.0,
        xrc == 0 ? "" : ", \"expand_failed\": true");
    arena_destroy(&a);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 1000;
    cal_init();
    int64_t t0 = time_mono_us();
    for (int i = 0; i < n; i++) {
        if (parse_zoned(i) != 0) {
            return 1;
        }
    }
    printf("{\"bench\": \"zoned_object_parse\", \"objects\": %d, \"ms_per_object\": %.3f}\n", n,
           (double)(time_mono_us() - t0) / 1000.0 / n);
    for (int i = 2; i < argc; i++) {
        time_file(argv[i]);
    }
    cal_shutdown();
    return 0;
}
