/* calstore/import.h: a whole iCalendar file into a calendar (issue 15): the admin CLI's
 * `almanac import` and the web page's upload both come here. The file is split into one
 * object per UID (cal/ics.h); each object is validated outside any transaction, then written
 * in batches, one write transaction per batch: a crash loses at most the batch being written,
 * and a re-run finishes the job. An object whose UID the calendar holds replaces it under its
 * name; the same bytes are not written again, so importing a file twice changes nothing the
 * second time (sync tokens included). */
#ifndef ALMANAC_CALSTORE_IMPORT_H
#define ALMANAC_CALSTORE_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "util/err.h"
#include "util/slice.h"

enum {
    CALSTORE_IMPORT_BATCH = 256, /* objects per write transaction */
};

struct calstore_import_opts {
    size_t max_object;  /* bytes of one object (max_resource_size); 0: 10 MiB */
    uint64_t principal; /* who writes (calstore_check_write); 0: the calendar's owner */
    /* Called for each object not imported: the file's line of its first component, its UID
     * (NULL when it had none) and why. May be NULL. */
    void (*refused)(void *ctx, size_t line, const char *uid, const char *why);
    /* Called after each object with the objects done and the total. May be NULL. */
    void (*progress)(void *ctx, size_t done, size_t total);
    void *ctx;
};

struct calstore_import_result {
    size_t total;     /* objects (distinct UIDs and components without one) in the file */
    size_t added;     /* new items */
    size_t replaced;  /* items whose content changed */
    size_t unchanged; /* items that held these bytes already */
    size_t refused;   /* not imported (reported through opts->refused) */
};

/* Imports `file` into the calendar `coll_id` (which the caller checked: a calendar the
 * principal may write) on `s`, a connection with no transaction open. Returns 0 when the
 * whole file was read (some objects may have been refused: see res->refused); -1 with
 * cal_cond_valid_calendar_data when the file is not iCalendar (nothing written), with
 * calstore_cond_need_privileges when the principal may not write the calendar, or with
 * err_cond_unavailable when the store is busy or failed, err_cond_store_unavailable when its
 * database cannot be reached (the batches before were written and are counted in *res). */
int calstore_import(struct store *s,
                    uint64_t coll_id,
                    struct slice file,
                    const struct calstore_import_opts *opts,
                    struct calstore_import_result *res,
                    struct err *err);

#endif
