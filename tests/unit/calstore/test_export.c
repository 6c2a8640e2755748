/* tests/unit/calstore/test_export.c: the one exporter (calstore/export.h) on a real store in
 * a temporary directory: the file pulled piece by piece (calstore_export_next) and the same
 * file handed out in slices of every small size (calstore_export_read) are byte for byte
 * equal; it holds every object once, in name order, with a shared VTIMEZONE once; an empty
 * calendar is a head and a tail; the export reads one snapshot, so a write made after it
 * opened is not in the file; memory per object is rewound (arena high-water bounded). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "calstore/export.h"
#include "store/store.h"

enum {
    N_ITEMS = 200,
};

static const char zone[] =
    "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:STANDARD\r\nTZOFFSETFROM:+0200\r\n"
    "TZOFFSETTO:+0100\r\nTZNAME:CET\r\nDTSTART:19701025T030000\r\n"
    "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n";

struct fixture {
    char dir[64];
    struct store *s, *writer;
    struct arena *a;
    struct store_coll cal, empty;
};

static void put(struct fixture *f, struct store *s, int i)
{
    char uid[64], name[64], body[2048];
    snprintf(uid, sizeof(uid), "u%03d@test", i);
    snprintf(name, sizeof(name), "e%03d.ics", i);
    int n = snprintf(body, sizeof(body),
                     "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n%sBEGIN:VEVENT\r\n"
                     "UID:%s\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Europe/Berlin:"
                     "20260105T100000\r\nSUMMARY:Event %d\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
                     zone, uid, i);
    struct store_item_in in = {.content = body,
                               .size = (size_t)n,
                               .content_type = "text/calendar; charset=utf-8",
                               .cal = {.uid = uid}};
    assert_int_equal(store_item_put(s, f->cal.id, name, &in, f->a, NULL, NULL), STORE_OK);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/almanac-export-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(store_open(f->dir, &f->s, NULL), STORE_OK);
    assert_int_equal(store_open(f->dir, &f->writer, NULL), STORE_OK);
    f->a = arena_create();
    struct store_principal p;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    assert_int_equal(store_principal_add(f->s, "alice", "h", f->a, &p), STORE_OK);
    assert_int_equal(store_coll_create(f->s, p.home_id, "work", STORE_COLL_CALENDAR, f->a, &f->cal),
                     STORE_OK);
    assert_int_equal(
        store_coll_create(f->s, p.home_id, "empty", STORE_COLL_CALENDAR, f->a, &f->empty),
        STORE_OK);
    for (int i = N_ITEMS - 1; i >= 0; i--) {
        put(f, f->s, i);
    }
    assert_int_equal(store_commit(f->s), STORE_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    store_close(&f->s);
    store_close(&f->writer);
    arena_destroy(&f->a);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* The whole file by calstore_export_next, in a fresh arena; *objects_out counts objects. */
static void
export_all(struct fixture *f, const struct store_coll *c, struct buf *out, size_t *objects_out)
{
    struct arena *a = arena_create();
    assert_int_equal(store_begin_read(f->s), STORE_OK);
    struct calstore_export *x = calstore_export_open(f->s, c, c->name, 0, a);
    assert_non_null(x);
    int rc;
    while ((rc = calstore_export_next(x, out)) > 0) {
    }
    assert_int_equal(rc, 0);
    assert_int_equal(calstore_export_next(x, out), 0); /* stays at the end */
    *objects_out = calstore_export_objects(x);
    arena_destroy(&a);
    store_rollback(f->s);
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) {
        n++;
    }
    return n;
}

static void test_export_holds_every_object_once_in_name_order(void **state)
{
    struct fixture *f = *state;
    struct buf b;
    buf_init(&b, SIZE_MAX);
    size_t objects = 0;
    export_all(f, &f->cal, &b, &objects);
    const char *s = buf_cstr(&b);
    assert_int_equal(objects, N_ITEMS);
    assert_int_equal(strncmp(s, "BEGIN:VCALENDAR\r\n", 17), 0);
    assert_int_equal(count(s, "BEGIN:VCALENDAR"), 1);
    assert_int_equal(count(s, "END:VCALENDAR\r\n"), 1);
    assert_int_equal(count(s, "BEGIN:VEVENT"), N_ITEMS);
    assert_int_equal(count(s, "TZID:Europe/Berlin\r\n"), 1); /* the shared zone once */
    const char *prev = s;
    for (int i = 0; i < N_ITEMS; i++) {
        char uid[64];
        snprintf(uid, sizeof(uid), "UID:u%03d@test\r\n", i);
        const char *at = strstr(s, uid);
        assert_non_null(at);
        assert_true(at > prev); /* by item name */
        prev = at;
    }
    buf_deinit(&b);
}

static void test_export_read_slices_equal_the_pieces(void **state)
{
    struct fixture *f = *state;
    struct buf whole;
    buf_init(&whole, SIZE_MAX);
    size_t objects = 0;
    export_all(f, &f->cal, &whole, &objects);
    static const size_t sizes[] = {1, 2, 7, 64, 1000, 65536};
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        struct arena *a = arena_create();
        assert_int_equal(store_begin_read(f->s), STORE_OK);
        struct calstore_export *x = calstore_export_open(f->s, &f->cal, "work", 1 << 20, a);
        assert_non_null(x);
        struct buf got;
        buf_init(&got, SIZE_MAX);
        char slice[65536];
        ssize_t n;
        while ((n = calstore_export_read(x, slice, sizes[k])) > 0) {
            assert_true((size_t)n <= sizes[k]);
            assert_int_equal(buf_append(&got, slice, (size_t)n), 0);
        }
        assert_int_equal(n, 0);
        assert_int_equal(got.len, whole.len);
        assert_memory_equal(got.data, whole.data, whole.len);
        buf_deinit(&got);
        arena_destroy(&a);
        store_rollback(f->s);
    }
    buf_deinit(&whole);
}

static void test_export_of_an_empty_calendar_is_head_and_tail(void **state)
{
    struct fixture *f = *state;
    struct buf b;
    buf_init(&b, SIZE_MAX);
    size_t objects = 1;
    export_all(f, &f->empty, &b, &objects);
    assert_int_equal(objects, 0);
    assert_int_equal(strncmp(buf_cstr(&b), "BEGIN:VCALENDAR\r\n", 17), 0);
    assert_non_null(strstr(buf_cstr(&b), "X-WR-CALNAME:empty\r\n"));
    assert_int_equal(count(buf_cstr(&b), "BEGIN:V"), 1);
    assert_int_equal(count(buf_cstr(&b), "END:VCALENDAR\r\n"), 1);
    buf_deinit(&b);
}

static void test_export_reads_one_snapshot_in_bounded_memory(void **state)
{
    struct fixture *f = *state;
    struct arena *a = arena_create();
    assert_int_equal(store_begin_read(f->s), STORE_OK);
    /* as every caller does, the calendar is read in the transaction first: with SQLite the
     * snapshot is taken at a transaction's first read */
    struct store_coll c;
    assert_int_equal(store_coll_get(f->s, f->cal.id, a, &c), STORE_OK);
    struct calstore_export *x = calstore_export_open(f->s, &c, "work", 0, a);
    assert_non_null(x);
    struct buf b;
    buf_init(&b, SIZE_MAX);
    assert_int_equal(calstore_export_next(x, &b), 1);
    /* another connection adds an item and commits while the export runs */
    assert_int_equal(store_begin_write(f->writer), STORE_OK);
    put(f, f->writer, N_ITEMS);
    assert_int_equal(store_commit(f->writer), STORE_OK);
    size_t high = 0;
    int rc;
    while ((rc = calstore_export_next(x, &b)) > 0) {
        size_t hw = arena_high_water(a);
        high = hw > high ? hw : high;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(calstore_export_objects(x), N_ITEMS);
    assert_null(strstr(buf_cstr(&b), "u200@test"));
    /* one object (about 600 bytes) at a time, whatever the calendar's size */
    assert_true(high < 64 * 1024);
    buf_deinit(&b);
    arena_destroy(&a);
    store_rollback(f->s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_export_holds_every_object_once_in_name_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_export_read_slices_equal_the_pieces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_export_of_an_empty_calendar_is_head_and_tail, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_export_reads_one_snapshot_in_bounded_memory, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
