/* bench/bench_cal_zones.c: what one calendar object costs the cal layer (issues 18 and 19).
 *   bench_cal_zones N [FILE.ics...]  parses N objects that carry an Outlook-style VTIMEZONE
 *       (yearly rules from 1601), each a fresh tree as a PUT or a query brings it, and prints
 *       the mean time per object; then times the validation (and a month's expansion) of
 *       each FILE, e.g. the pathological seeds of tests/fuzz/corpus/ical/.
 *   bench_cal_zones --dir DIR  the user CPU per object of validating, expanding a month and
 *       free-busy of a month over every file of DIR, best of 3 passes (bench/cal_zones.sh
 *       writes bench/peers.py's zoned mix and the same events in UTC into two such DIRs).
 * Built against the release libraries: make build && make -C bench. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

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

static double user_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
}

static int count_period(void *ctx, int64_t start, int64_t end, enum cal_fbtype type)
{
    (void)start;
    (void)end;
    (void)type;
    (*(size_t *)ctx)++;
    return 0;
}

enum {
    DIR_MAX_FILES = 100000,
};

/* --dir: user CPU per object of three operations over the files of `dir`, best of 3. */
static int time_dir(const char *dir)
{
    static struct slice files[DIR_MAX_FILES];
    size_t n = 0;
    DIR *d = opendir(dir);
    if (!d) {
        perror(dir);
        return 1;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL && n < DIR_MAX_FILES) {
        if (de->d_name[0] == '.') {
            continue;
        }
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        FILE *f = fopen(path, "rb");
        if (!f) {
            continue;
        }
        char *buf = malloc(1 << 20);
        size_t len = buf ? fread(buf, 1, 1 << 20, f) : 0;
        fclose(f);
        files[n++] = (struct slice){buf, len};
    }
    closedir(d);
    const int64_t march = 1772323200; /* 2026-03-01 */
    const int64_t april = 1775001600;
    static const char *const names[] = {"validate", "expand_month", "freebusy_month"};
    printf("{\"dir\": \"%s\", \"objects\": %zu", dir, n);
    for (int op = 0; op < 3; op++) {
        double best = 1e9;
        for (int pass = 0; pass < 3; pass++) {
            double t0 = user_cpu_s();
            for (size_t i = 0; i < n; i++) {
                struct arena *a = arena_create();
                struct err e;
                err_init(&e);
                struct cal_info info;
                struct slice out;
                size_t periods = 0;
                if (op == 0) {
                    (void)cal_parse_object(files[i], CAL_COMP_VEVENT, a, &info, &e);
                } else if (op == 1) {
                    (void)cal_expand(files[i], march, april, a, &out, &e);
                } else {
                    (void)cal_busy(files[i], march, april, a, count_period, &periods, &e);
                }
                arena_destroy(&a);
            }
            double t = user_cpu_s() - t0;
            best = t < best ? t : best;
        }
        printf(", \"%s_us\": %.1f", names[op], best * 1e6 / (double)(n ? n : 1));
    }
    printf("}\n");
    for (size_t i = 0; i < n; i++) {
        free((void *)(uintptr_t)files[i].ptr);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--dir") == 0) {
        cal_init();
        int rc = time_dir(argv[2]);
        cal_shutdown();
        return rc;
    }
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
