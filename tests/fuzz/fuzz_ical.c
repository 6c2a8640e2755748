/* tests/fuzz/fuzz_ical.c: the iCalendar validation path under libFuzzer (issue 18). Each input
 * is a calendar object resource as a PUT would bring it: cal_parse_object() validates it for a
 * collection that accepts every component, and an object it accepts then goes through what a
 * stored object meets later: cal_expand(), cal_busy() and cal_filter_match() with a
 * time-range filter over 2024-2028, and cal_instances_match() on its instance index. A valid
 * object must stay valid on every later path, so a -1 from any of them after a success is a
 * bug, reported by abort(). Run with -timeout=1 (scripts/fuzz.sh), so an input that keeps
 * libical busy is a failure like a crash: the server runs the same calls on a worker thread.
 * Seeds are in tests/fuzz/corpus/ical/; under gcc this file links with replay.c instead. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "cal/cal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
    RANGE_START = 1704067200, /* 2024-01-01T00:00:00Z */
    RANGE_END = 1830297600,   /* 2028-01-01T00:00:00Z */
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    cal_init();
    return 0;
}

/* cal_busy()'s callback: every period lies inside the query range and is not reversed. */
static int check_period(void *ctx, int64_t start, int64_t end, enum cal_fbtype type)
{
    (void)ctx;
    (void)type;
    if (start > end || start < RANGE_START || end > RANGE_END) {
        abort();
    }
    return 0;
}

/* The filter of a calendar-query for components of type `comp` overlapping the range
 * (RFC 4791 §9.9), in `a`. */
static struct cal_filter *range_filter(struct arena *a, enum cal_comp comp)
{
    struct cal_filter *inner = arena_zalloc(a, sizeof(*inner));
    inner->kind = CAL_FILTER_COMP;
    inner->name = comp == CAL_COMP_VTODO      ? "VTODO"
                  : comp == CAL_COMP_VJOURNAL ? "VJOURNAL"
                                              : "VEVENT";
    inner->has_range = true;
    inner->start = RANGE_START;
    inner->end = RANGE_END;
    struct cal_filter *root = arena_zalloc(a, sizeof(*root));
    root->kind = CAL_FILTER_COMP;
    root->name = "VCALENDAR";
    root->children = inner;
    return root;
}

/* Runs the paths a stored object meets; each must accept what cal_parse_object() accepted. */
static void exercise_valid(struct slice ics, const struct cal_info *info, struct arena *a)
{
    struct err e;
    err_init(&e);
    struct slice expanded;
    if (cal_expand(ics, RANGE_START, RANGE_END, a, &expanded, &e) != 0) {
        abort();
    }
    err_init(&e);
    if (cal_busy(ics, RANGE_START, RANGE_END, a, check_period, NULL, &e) != 0) {
        abort();
    }
    err_init(&e);
    if (cal_filter_match(ics, range_filter(a, info->comp), a, &e) < 0) {
        abort();
    }
    if (info->has_instances &&
        cal_instances_match(info->instances, info->instances_size, RANGE_START, RANGE_END) < 0) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct slice ics = {(const char *)data, size};
    struct arena *a = arena_create();
    struct err e;
    err_init(&e);
    struct cal_info info;
    if (cal_parse_object(ics, CAL_COMP_VEVENT | CAL_COMP_VTODO | CAL_COMP_VJOURNAL, a, &info, &e) ==
        0) {
        if (info.comp == CAL_COMP_NONE || !info.uid || !info.uid[0]) {
            abort();
        }
        if (info.has_span && info.dtstart_utc > info.dtend_utc) {
            abort();
        }
        exercise_valid(ics, &info, a);
    } else if (!e.cond) {
        abort(); /* a refusal always names its condition */
    }
    arena_destroy(&a);
    return 0;
}
