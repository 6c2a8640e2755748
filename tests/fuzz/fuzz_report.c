/* tests/fuzz/fuzz_report.c: REPORT bodies (calendar-query, calendar-multiget, sync-collection,
 * free-busy-query; RFC 4791 §7.8-7.10, RFC 6578 §3.2) through caldav/report.c's own reader,
 * without a server (davbody.h). Each input is read whole and in pieces: both reads must
 * reach the same verdict with the same condition and, when accepted, the same calendar-data
 * options (expand, limit-recurrence-set, the component and property selection). Accepted
 * options must be usable: an expand or limit range is not reversed, and the selection applies
 * to a stored calendar object (cal_select) without failing. Violations abort(). Seeds are in
 * tests/fuzz/corpus/report/. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "caldav/caldav.h"
#include "caldav/caldav_int.h"
#include "chunks.h"
#include "davbody.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A stored object: a weekly series with an override, a time zone and an alarm. */
static const char stored[] = "BEGIN:VCALENDAR\r\n"
                             "VERSION:2.0\r\n"
                             "PRODID:-//fuzz//EN\r\n"
                             "BEGIN:VTIMEZONE\r\n"
                             "TZID:Europe/Berlin\r\n"
                             "BEGIN:STANDARD\r\n"
                             "DTSTART:19701025T030000\r\n"
                             "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\n"
                             "TZOFFSETFROM:+0200\r\n"
                             "TZOFFSETTO:+0100\r\n"
                             "END:STANDARD\r\n"
                             "BEGIN:DAYLIGHT\r\n"
                             "DTSTART:19700329T020000\r\n"
                             "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\n"
                             "TZOFFSETFROM:+0100\r\n"
                             "TZOFFSETTO:+0200\r\n"
                             "END:DAYLIGHT\r\n"
                             "END:VTIMEZONE\r\n"
                             "BEGIN:VEVENT\r\n"
                             "UID:weekly@fuzz\r\n"
                             "DTSTAMP:20260101T000000Z\r\n"
                             "DTSTART;TZID=Europe/Berlin:20260105T100000\r\n"
                             "DURATION:PT1H\r\n"
                             "RRULE:FREQ=WEEKLY;COUNT=10\r\n"
                             "SUMMARY:Standup\r\n"
                             "BEGIN:VALARM\r\n"
                             "ACTION:DISPLAY\r\n"
                             "TRIGGER:-PT5M\r\n"
                             "END:VALARM\r\n"
                             "END:VEVENT\r\n"
                             "BEGIN:VEVENT\r\n"
                             "UID:weekly@fuzz\r\n"
                             "DTSTAMP:20260101T000000Z\r\n"
                             "RECURRENCE-ID;TZID=Europe/Berlin:20260112T100000\r\n"
                             "DTSTART;TZID=Europe/Berlin:20260112T110000\r\n"
                             "DURATION:PT1H\r\n"
                             "SUMMARY:Standup (moved)\r\n"
                             "END:VEVENT\r\n"
                             "END:VCALENDAR\r\n";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    cal_init();
    /* caldav keeps a REPORT's calendar-data options in its state slot */
    fuzz_dav_app.ext[0] = caldav_ext();
    fuzz_dav_app.next = 1;
    return 0;
}

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    const unsigned char *u = p;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ u[i]) * 0x100000001b3ULL;
    }
    return (h ^ 0x1ff) * 0x100000001b3ULL;
}

static uint64_t mix_str(uint64_t h, const char *s)
{
    return s ? mix(h, s, strlen(s)) : mix(h, "\xff", 1);
}

/* Hashes a selection tree (depth-first), checking its shape. */
static uint64_t selection(uint64_t h, const struct cal_select *s, unsigned depth)
{
    if (depth > 16) {
        abort(); /* the reader bounds the nesting */
    }
    for (; s; s = s->next) {
        h = mix_str(h, s->name);
        h = mix(h, &s->allprop, sizeof(s->allprop));
        h = mix(h, &s->allcomp, sizeof(s->allcomp));
        if (s->nprops && !s->props) {
            abort();
        }
        for (size_t i = 0; i < s->nprops; i++) {
            h = mix_str(h, s->props[i]);
        }
        h = selection(h, s->comps, depth + 1);
        h = mix(h, ")", 1);
    }
    return h;
}

static uint64_t options(const struct caldav_data_opts *o, struct arena *a)
{
    if ((o->expand && o->start >= o->end) || (o->limit && o->limit_start >= o->limit_end)) {
        abort(); /* the reader refuses a reversed range */
    }
    uint64_t h = mix(0xcbf29ce484222325ULL, &o->expand, sizeof(o->expand));
    h = mix(h, &o->limit, sizeof(o->limit));
    if (o->expand) {
        h = mix(h, &o->start, sizeof(o->start));
        h = mix(h, &o->end, sizeof(o->end));
    }
    if (o->limit) {
        h = mix(h, &o->limit_start, sizeof(o->limit_start));
        h = mix(h, &o->limit_end, sizeof(o->limit_end));
    }
    h = selection(h, o->select, 0);
    if (o->select || o->limit) {
        struct slice out;
        struct err e;
        err_init(&e);
        if (cal_select(slice_from_cstr(stored), o->select, o->limit, o->limit_start, o->limit_end,
                       a, &out, &e) != 0) {
            abort(); /* an accepted selection fails on a valid object */
        }
    }
    return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct err_cond *cond[2];
    int rc[2];
    char msg[2][sizeof(((struct err *)0)->msg)];
    uint64_t h[2] = {0, 0};
    for (uint64_t salt = 0; salt < 2; salt++) {
        struct arena *a = arena_create();
        struct dav_req *dr;
        struct err e;
        rc[salt] = fuzz_dav_read(&caldav_report, data, size, salt, a, &dr, &e);
        cond[salt] = e.cond;
        snprintf(msg[salt], sizeof(msg[salt]), "%s", e.cond ? e.msg : "accepted");
        if (rc[salt] == 0) {
            h[salt] = options(caldav_req(dr)->data, a);
        }
        arena_destroy(&a);
    }
    if (rc[0] != rc[1] || cond[0] != cond[1] || h[0] != h[1]) {
        fprintf(stderr, "fuzz_report: whole: %s\nfuzz_report: in pieces: %s\n", msg[0], msg[1]);
        abort(); /* the pieces the body arrived in changed what was read */
    }
    return 0;
}
