/* calstore/export.h: a calendar as one iCalendar file (issue 15), pulled piece by piece: the
 * one exporter behind CalDAV's GET of a calendar, the subscription URLs and the web page's
 * export link. A cursor over the calendar's objects by name, one object in memory at a time,
 * joined by cal/ics.h (each VTIMEZONE once). Knows no protocol: its two pull functions have
 * the shapes of dav_ms_next_fn and http_read_fn, so a caller hands them on unchanged. */
#ifndef ALMANAC_CALSTORE_EXPORT_H
#define ALMANAC_CALSTORE_EXPORT_H

#include <stddef.h>
#include <sys/types.h>

#include "store/store.h"
#include "util/arena.h"
#include "util/buf.h"

enum {
    CALSTORE_EXPORT_ZONE_BYTES = 64 * 1024, /* TZIDs remembered; past it a zone repeats */
};

struct calstore_export;

/* Opens an exporter over calendar `coll` (copied) on `s`, which must be in a read
 * transaction that stays open until the file has been read (one snapshot: the file is
 * consistent while writers continue; with SQLite the snapshot is the one of the
 * transaction's first read, which callers make when they look the calendar up). The exporter lives
 * in `arena`, which also holds each object while it is joined (marked and rewound around it); its
 * cursor and joiner are closed by an arena defer. `href` names the calendar in log lines (borrowed
 * for the arena's life). `max_pending` bounds what calstore_export_read keeps between calls: one
 * object joined with its time zones, so at least twice the largest object. Returns the exporter, or
 * NULL when the store cannot open the cursor (store_last_error(s) says why). */
struct calstore_export *calstore_export_open(struct store *s,
                                             const struct store_coll *coll,
                                             const char *href,
                                             size_t max_pending,
                                             struct arena *arena);

/* Appends the next piece of the file to `out` (ctx is the exporter): the head, then one or
 * more objects, then the tail. Returns 1 with bytes appended, 0 at the end, -1 when the
 * store or the joiner failed (logged; the caller aborts the response). A dav_ms_next_fn. */
int calstore_export_next(void *ctx, struct buf *out);

/* The objects joined so far (the whole calendar's once calstore_export_next returned 0). */
size_t calstore_export_objects(const struct calstore_export *x);

/* The same file handed out in slices of at most `max` bytes (ctx is the exporter): the
 * bytes written (> 0), 0 at the end, -1 on a failure. An http_read_fn. */
ssize_t calstore_export_read(void *ctx, char *dst, size_t max);

#endif
