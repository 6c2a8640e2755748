/* tools/transfer.h: a calendar file in and out of the store (issue 15): `almanac import` and
 * `almanac export`. */
#ifndef ALMANAC_TOOLS_TRANSFER_H
#define ALMANAC_TOOLS_TRANSFER_H

#include <stdbool.h>
#include <stdio.h>

#include "store/store.h"

enum {
    TRANSFER_PARTIAL = 3, /* exit status: imported, but some objects were refused */
};

/* Imports the iCalendar file `path` ("-" for stdin) into `user`'s calendar `calendar`
 * (created when missing): one object per UID, each validated as a PUT is, an object whose
 * UID the calendar holds replacing it under its name. Refusals are reported on stderr with
 * the file's line and the reason; a progress bar goes to stderr when it is a terminal and
 * `progress` is set; a summary line to stdout. Returns 0, TRANSFER_PARTIAL, or 2 after
 * printing why nothing (more) could be imported. */
int transfer_import(
    struct store *s, const char *user, const char *calendar, const char *path, bool progress);

/* Writes `user`'s calendar `calendar` to `out` as one iCalendar file, from one snapshot.
 * Returns 0 or 2 after printing why. */
int transfer_export(struct store *s, const char *user, const char *calendar, FILE *out);

/* Subscription URLs: `add` prints the path of a new one (/subscribe/TOKEN.ics) for `user`'s
 * calendar, `del` revokes every one of that calendar, `list` prints each of `user`'s as
 * calendar, path and creation time (UTC), tab-separated. Returns 0 or 2 after printing why. */
enum transfer_sub_op {
    TRANSFER_SUB_ADD,
    TRANSFER_SUB_DEL,
    TRANSFER_SUB_LIST,
};

int transfer_sub(struct store *s, enum transfer_sub_op op, const char *user, const char *calendar);

#endif
