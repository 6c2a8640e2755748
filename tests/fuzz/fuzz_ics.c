/* tests/fuzz/fuzz_ics.c: whole calendar files through cal/ics.h (the import of `almanac
 * import` and of the web page's upload, issue 15). Each input is split; every object made is
 * split again and must give back exactly one object with the same UID and components, and
 * the file joined from the objects made (cal_join_*) must split into the same UIDs with the
 * same components. Violations abort(). Seeds are in tests/fuzz/corpus/ics/. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cal/ics.h"
#include "util/buf.h"
#include "util/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
    MAX_OBJECTS = 64, /* objects checked per input; the split itself has no such limit */
};

struct made {
    char *uid;
    size_t ncomps;
};

static void check_object(const struct cal_split_obj *o)
{
    struct cal_split *again = NULL;
    struct err err;
    err_init(&err);
    if (cal_split_open(o->ics, &again, &err) != 0) {
        abort(); /* what the split made is a file */
    }
    struct cal_split_obj p;
    if (!cal_split_next(again, &p) || p.why || strcmp(p.uid, o->uid) != 0 ||
        p.ncomps != o->ncomps || p.ics.len != o->ics.len ||
        memcmp(p.ics.ptr, o->ics.ptr, o->ics.len) != 0) {
        abort(); /* an object splits into itself, byte for byte */
    }
    if (cal_split_next(again, &p)) {
        abort();
    }
    cal_split_free(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cal_split *sp = NULL;
    struct err err;
    err_init(&err);
    if (cal_split_open((struct slice){(const char *)data, size}, &sp, &err) != 0) {
        if (err.cond == NULL || sp != NULL) {
            abort();
        }
        return 0;
    }
    struct made made[MAX_OBJECTS];
    size_t nmade = 0;
    struct cal_join *j = cal_join_new(1 << 16);
    struct buf joined;
    buf_init(&joined, (size_t)1 << 30);
    if (cal_join_head(j, "fuzz", &joined) != 0) {
        abort();
    }
    struct cal_split_obj o;
    while (nmade < MAX_OBJECTS && cal_split_next(sp, &o)) {
        if (o.why) {
            continue;
        }
        if (!o.uid) {
            abort(); /* an object made has its UID */
        }
        check_object(&o);
        if (cal_join_object(j, o.ics, &joined) != 0) {
            abort();
        }
        made[nmade].uid = strdup(o.uid);
        made[nmade].ncomps = o.ncomps;
        nmade++;
    }
    cal_split_free(&sp);
    if (cal_join_tail(j, &joined) != 0) {
        abort();
    }
    cal_join_free(&j);

    /* The joined file holds the same objects: each UID once, with its components. */
    struct cal_split *back = NULL;
    if (cal_split_open(buf_slice(&joined), &back, &err) != 0) {
        abort();
    }
    size_t n = 0;
    while (cal_split_next(back, &o)) {
        if (o.why || !o.uid || n >= nmade || strcmp(o.uid, made[n].uid) != 0 ||
            o.ncomps != made[n].ncomps) {
            abort();
        }
        n++;
    }
    if (n != nmade) {
        abort();
    }
    cal_split_free(&back);
    for (size_t i = 0; i < nmade; i++) {
        free(made[i].uid);
    }
    buf_deinit(&joined);
    return 0;
}
