/* tests/unit/calstore/test_calstore.c: the one calendar write path (calstore.h) on a real
 * SQLite store in a temporary directory (no mock): create, replace, UID conflict, copy and
 * move into a calendar, delete, and refusals (validation, component set, access) that leave
 * the store as it was. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cal/cal.h"
#include "calstore/calstore.h"

#define HEAD     "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Almanac tests//EN\r\n"
#define TAIL     "END:VCALENDAR\r\n"
#define EV(body) "BEGIN:VEVENT\r\nDTSTAMP:20260101T000000Z\r\n" body "END:VEVENT\r\n"

/* 2026-01-05T10:00:00Z = 1767607200 */
static const char event_a[] =
    HEAD EV("UID:a@x\r\nSUMMARY:one\r\nDTSTART:20260105T100000Z\r\nDTEND:20260105T110000Z\r\n")
        TAIL;
static const char event_a2[] =
    HEAD EV("UID:a@x\r\nSUMMARY:two\r\nDTSTART:20260105T120000Z\r\nDTEND:20260105T130000Z\r\n")
        TAIL;
static const char series_b[] =
    HEAD EV("UID:b@x\r\nDTSTART:20260105T100000Z\r\nDURATION:PT1H\r\nRRULE:FREQ=DAILY;COUNT=3\r\n")
        TAIL;
static const char todo_c[] = HEAD "BEGIN:VTODO\r\nDTSTAMP:20260101T000000Z\r\nUID:c@x\r\n"
                                  "DUE:20260105T100000Z\r\nEND:VTODO\r\n" TAIL;
static const char broken[] = HEAD "BEGIN:VEVENT\r\nUID:x\r\nDTSTART:not-a-date\r\n" TAIL;

static const char ctype[] = "text/calendar; charset=utf-8";

struct fixture {
    char dir[64];
    struct store *s;
    struct arena *a;
    struct store_principal p;
    struct store_coll cal, cal2, todos, plain;
    struct calstore_writer w;
};

static struct store_coll make_coll(struct fixture *f, const char *name, enum store_coll_kind k)
{
    struct store_coll c;
    assert_int_equal(store_coll_create(f->s, f->p.home_id, name, k, f->a, &c), STORE_OK);
    return c;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/almanac-calstore-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(store_open(f->dir, &f->s, NULL), STORE_OK);
    f->a = arena_create();
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    assert_int_equal(store_principal_add(f->s, "alice", "hash1", f->a, &f->p), STORE_OK);
    f->cal = make_coll(f, "cal", STORE_COLL_CALENDAR);
    f->cal2 = make_coll(f, "cal2", STORE_COLL_CALENDAR);
    f->todos = make_coll(f, "todos", STORE_COLL_CALENDAR);
    assert_int_equal(store_coll_set_comps(f->s, f->todos.id, CAL_COMP_VTODO), STORE_OK);
    f->todos.comps = CAL_COMP_VTODO;
    f->plain = make_coll(f, "plain", STORE_COLL_PLAIN);
    assert_int_equal(store_commit(f->s), STORE_OK);
    f->w = (struct calstore_writer){.store = f->s, .arena = f->a, .principal = f->p.id};
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    store_close(&f->s);
    arena_destroy(&f->a);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* Prepares `ics` (outside any transaction, as the protocols do) and asserts it is valid. */
static void prepare_ok(struct fixture *f, const char *ics, struct calstore_obj *obj)
{
    struct err e;
    err_init(&e);
    assert_false(store_in_txn(f->s));
    assert_int_equal(calstore_prepare(slice_from_cstr(ics), ctype, 0, f->a, obj, &e), 0);
    assert_null(e.cond);
    assert_true(calstore_prepared_on(obj, ics, strlen(ics)));
}

/* Puts `ics` as `name` of `coll` in a transaction of its own; returns calstore's result. */
static enum calstore_rc put(struct fixture *f,
                            const struct store_coll *coll,
                            const char *name,
                            const char *ics,
                            struct calstore_res *res,
                            struct err *e)
{
    struct calstore_obj obj;
    prepare_ok(f, ics, &obj);
    err_init(e);
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    enum calstore_rc rc = calstore_put(&f->w, coll, name, &obj, res, e);
    if (rc == CALSTORE_OK) {
        assert_int_equal(store_commit(f->s), STORE_OK);
    } else {
        assert_int_equal(store_rollback(f->s), STORE_OK);
    }
    return rc;
}

/* The live item `name` of `coll` (with content and instances), or STORE_NOTFOUND. */
static enum store_rc get(struct fixture *f, uint64_t coll, const char *name, struct store_item *out)
{
    assert_int_equal(store_begin_read(f->s), STORE_OK);
    enum store_rc rc =
        store_item_get(f->s, coll, name, STORE_ITEM_CONTENT | STORE_ITEM_INSTANCES, f->a, out);
    assert_int_equal(store_commit(f->s), STORE_OK);
    return rc;
}

static uint64_t coll_modseq(struct fixture *f, uint64_t id)
{
    struct store_coll c;
    assert_int_equal(store_begin_read(f->s), STORE_OK);
    assert_int_equal(store_coll_get(f->s, id, f->a, &c), STORE_OK);
    assert_int_equal(store_commit(f->s), STORE_OK);
    return c.modseq;
}

static void test_create_fills_the_index(void **state)
{
    struct fixture *f = *state;
    struct calstore_stats before, after;
    calstore_stats(&before);
    struct calstore_res res;
    struct err e;
    assert_int_equal(put(f, &f->cal, "a.ics", event_a, &res, &e), CALSTORE_OK);
    assert_true(res.created);
    assert_string_equal(res.item.cal.uid, "a@x");
    struct store_item it;
    assert_int_equal(get(f, f->cal.id, "a.ics", &it), STORE_OK);
    assert_int_equal(it.id, res.item.id);
    assert_int_equal(it.size, strlen(event_a));
    assert_memory_equal(it.content, event_a, it.size);
    assert_string_equal(it.content_type, ctype);
    assert_string_equal(it.cal.uid, "a@x");
    assert_int_equal(it.cal.comp, CAL_COMP_VEVENT);
    assert_true(it.cal.has_span);
    assert_int_equal(it.cal.dtstart_utc, 1767607200);
    assert_int_equal(it.cal.dtend_utc, 1767610800);
    assert_false(it.cal.is_recurring);
    assert_false(it.cal.has_instances);
    /* a series keeps its instance index */
    assert_int_equal(put(f, &f->cal, "b.ics", series_b, &res, &e), CALSTORE_OK);
    assert_int_equal(get(f, f->cal.id, "b.ics", &it), STORE_OK);
    assert_true(it.cal.is_recurring);
    assert_true(it.cal.has_instances);
    assert_true(it.cal.instances_size > 0);
    assert_int_equal(it.cal.dtend_utc, 1767607200 + 2 * 86400 + 3600);
    /* both writes passed the scheduling hook's call site */
    calstore_stats(&after);
    assert_true(after.put >= before.put + 2);
}

static void test_replace_keeps_the_item(void **state)
{
    struct fixture *f = *state;
    struct calstore_res first, second;
    struct err e;
    assert_int_equal(put(f, &f->cal, "a.ics", event_a, &first, &e), CALSTORE_OK);
    assert_int_equal(put(f, &f->cal, "a.ics", event_a2, &second, &e), CALSTORE_OK);
    assert_false(second.created);
    assert_int_equal(second.item.id, first.item.id);
    assert_true(second.item.modseq > first.item.modseq);
    struct store_item it;
    assert_int_equal(get(f, f->cal.id, "a.ics", &it), STORE_OK);
    assert_memory_equal(it.content, event_a2, strlen(event_a2));
    assert_int_equal(it.cal.dtstart_utc, 1767607200 + 7200);
}

static void test_uid_conflict_names_the_holder(void **state)
{
    struct fixture *f = *state;
    struct calstore_res res;
    struct err e;
    assert_int_equal(put(f, &f->cal, "a.ics", event_a, &res, &e), CALSTORE_OK);
    uint64_t modseq = coll_modseq(f, f->cal.id);
    assert_int_equal(put(f, &f->cal, "other.ics", event_a2, &res, &e), CALSTORE_UID_CONFLICT);
    assert_string_equal(res.holder, "a.ics");
    assert_string_equal(res.uid, "a@x");
    struct store_item it;
    assert_int_equal(get(f, f->cal.id, "other.ics", &it), STORE_NOTFOUND);
    assert_int_equal(coll_modseq(f, f->cal.id), modseq);
    /* the same UID in another calendar is no conflict */
    assert_int_equal(put(f, &f->cal2, "other.ics", event_a2, &res, &e), CALSTORE_OK);
}

static void test_copy_into_a_calendar(void **state)
{
    struct fixture *f = *state;
    struct calstore_res res;
    struct err e;
    assert_int_equal(put(f, &f->cal, "b.ics", series_b, &res, &e), CALSTORE_OK);
    uint64_t src_id = res.item.id;
    struct store_prop p = {.ns = "urn:t", .name = "color", .value = "red", .value_len = 3};
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    assert_int_equal(store_prop_set(f->s, STORE_RES_ITEM, src_id, &p), STORE_OK);
    err_init(&e);
    assert_int_equal(calstore_copy(&f->w, &f->cal, "b.ics", &f->cal2, "copy.ics", &res, &e),
                     CALSTORE_OK);
    assert_int_equal(store_commit(f->s), STORE_OK);
    assert_true(res.item.id != src_id);
    struct store_item it;
    assert_int_equal(get(f, f->cal2.id, "copy.ics", &it), STORE_OK);
    assert_memory_equal(it.content, series_b, strlen(series_b));
    assert_string_equal(it.cal.uid, "b@x");
    assert_true(it.cal.is_recurring);
    assert_true(it.cal.has_instances);
    struct store_prop got;
    assert_int_equal(store_begin_read(f->s), STORE_OK);
    assert_int_equal(store_prop_get(f->s, STORE_RES_ITEM, it.id, "urn:t", "color", f->a, &got),
                     STORE_OK);
    assert_int_equal(store_commit(f->s), STORE_OK);
    assert_string_equal(got.value, "red");
    /* the source stays; a second copy with the same UID conflicts with the first */
    assert_int_equal(get(f, f->cal.id, "b.ics", &it), STORE_OK);
    uint64_t modseq = coll_modseq(f, f->cal2.id);
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    assert_int_equal(calstore_copy(&f->w, &f->cal, "b.ics", &f->cal2, "again.ics", &res, &e),
                     CALSTORE_UID_CONFLICT);
    assert_string_equal(res.holder, "copy.ics");
    assert_int_equal(store_rollback(f->s), STORE_OK);
    assert_int_equal(coll_modseq(f, f->cal2.id), modseq);
}

static void test_move_into_a_calendar(void **state)
{
    struct fixture *f = *state;
    struct calstore_res res;
    struct err e;
    assert_int_equal(put(f, &f->cal, "a.ics", event_a, &res, &e), CALSTORE_OK);
    uint64_t id = res.item.id;
    assert_int_equal(put(f, &f->cal2, "held.ics", event_a2, &res, &e), CALSTORE_OK);
    /* into a calendar where the UID is held: refused, nothing moved */
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    err_init(&e);
    assert_int_equal(calstore_move(&f->w, &f->cal, "a.ics", &f->cal2, "a.ics", &res, &e),
                     CALSTORE_UID_CONFLICT);
    assert_string_equal(res.holder, "held.ics");
    assert_int_equal(store_rollback(f->s), STORE_OK);
    struct store_item it;
    assert_int_equal(get(f, f->cal.id, "a.ics", &it), STORE_OK);
    /* a rename inside its calendar keeps the UID without conflict, and the id */
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    assert_int_equal(calstore_move(&f->w, &f->cal, "a.ics", &f->cal, "renamed.ics", &res, &e),
                     CALSTORE_OK);
    assert_int_equal(res.item.id, id);
    /* into another calendar: same id, gone from the source */
    assert_int_equal(calstore_move(&f->w, &f->cal, "renamed.ics", &f->todos, "x.ics", &res, &e),
                     CALSTORE_OK);
    assert_int_equal(store_commit(f->s), STORE_OK);
    assert_int_equal(get(f, f->todos.id, "x.ics", &it), STORE_OK);
    assert_int_equal(it.id, id);
    assert_string_equal(it.cal.uid, "a@x");
    assert_int_equal(get(f, f->cal.id, "renamed.ics", &it), STORE_NOTFOUND);
}

static void test_delete(void **state)
{
    struct fixture *f = *state;
    struct calstore_res res;
    struct err e;
    assert_int_equal(put(f, &f->cal, "a.ics", event_a, &res, &e), CALSTORE_OK);
    uint64_t modseq = coll_modseq(f, f->cal.id);
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    err_init(&e);
    assert_int_equal(calstore_delete(&f->w, &f->cal, "a.ics", &res, &e), CALSTORE_OK);
    assert_int_equal(calstore_delete(&f->w, &f->cal, "a.ics", &res, &e), CALSTORE_STORE);
    assert_int_equal(res.store_rc, STORE_NOTFOUND);
    assert_int_equal(store_commit(f->s), STORE_OK);
    struct store_item it;
    assert_int_equal(get(f, f->cal.id, "a.ics", &it), STORE_NOTFOUND);
    assert_true(coll_modseq(f, f->cal.id) > modseq);
    /* its UID is free again */
    assert_int_equal(put(f, &f->cal, "b.ics", event_a2, &res, &e), CALSTORE_OK);
}

static void test_refusals_leave_the_store_untouched(void **state)
{
    struct fixture *f = *state;
    uint64_t modseq = coll_modseq(f, f->cal.id);
    struct calstore_obj obj;
    struct err e;
    err_init(&e);
    /* invalid data: refused by prepare, and by put with the same verdict */
    assert_int_equal(calstore_prepare(slice_from_cstr(broken), ctype, 0, f->a, &obj, &e), -1);
    assert_ptr_equal(e.cond, &cal_cond_valid_calendar_data);
    struct calstore_res res;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    err_init(&e);
    assert_int_equal(calstore_put(&f->w, &f->cal, "bad.ics", &obj, &res, &e), CALSTORE_INVALID);
    assert_ptr_equal(e.cond, &cal_cond_valid_calendar_data);
    assert_int_equal(store_rollback(f->s), STORE_OK);
    /* a component the calendar does not take */
    prepare_ok(f, event_a, &obj);
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    err_init(&e);
    assert_int_equal(calstore_put(&f->w, &f->todos, "a.ics", &obj, &res, &e), CALSTORE_INVALID);
    assert_ptr_equal(e.cond, &cal_cond_supported_component);
    /* a collection of another principal: the access check */
    struct calstore_writer intruder = f->w;
    intruder.principal = f->p.id + 1;
    err_init(&e);
    assert_int_equal(calstore_put(&intruder, &f->cal, "a.ics", &obj, &res, &e), CALSTORE_DENIED);
    assert_ptr_equal(e.cond, &calstore_cond_need_privileges);
    assert_int_equal(store_rollback(f->s), STORE_OK);
    struct store_item it;
    assert_int_equal(get(f, f->cal.id, "bad.ics", &it), STORE_NOTFOUND);
    assert_int_equal(get(f, f->todos.id, "a.ics", &it), STORE_NOTFOUND);
    assert_int_equal(get(f, f->cal.id, "a.ics", &it), STORE_NOTFOUND);
    assert_int_equal(coll_modseq(f, f->cal.id), modseq);
    /* a VTODO goes where VTODOs are taken */
    assert_int_equal(put(f, &f->todos, "c.ics", todo_c, &res, &e), CALSTORE_OK);
    assert_int_equal(res.item.cal.comp, CAL_COMP_VTODO);
}

static void test_access_checked_on_every_write(void **state)
{
    struct fixture *f = *state;
    struct calstore_res res;
    struct err e;
    assert_int_equal(put(f, &f->cal, "a.ics", event_a, &res, &e), CALSTORE_OK);
    struct calstore_writer intruder = f->w;
    intruder.principal = f->p.id + 1;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    err_init(&e);
    assert_int_equal(calstore_delete(&intruder, &f->cal, "a.ics", &res, &e), CALSTORE_DENIED);
    err_init(&e);
    assert_int_equal(calstore_copy(&intruder, &f->cal, "a.ics", &f->cal2, "a.ics", &res, &e),
                     CALSTORE_DENIED);
    err_init(&e);
    assert_int_equal(calstore_move(&intruder, &f->cal, "a.ics", &f->cal2, "a.ics", &res, &e),
                     CALSTORE_DENIED);
    assert_ptr_equal(e.cond, &calstore_cond_need_privileges);
    assert_int_equal(store_commit(f->s), STORE_OK);
    struct store_item it;
    assert_int_equal(get(f, f->cal.id, "a.ics", &it), STORE_OK);
    assert_int_equal(get(f, f->cal2.id, "a.ics", &it), STORE_NOTFOUND);
}

int main(void)
{
    cal_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_fills_the_index, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replace_keeps_the_item, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uid_conflict_names_the_holder, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copy_into_a_calendar, setup, teardown),
        cmocka_unit_test_setup_teardown(test_move_into_a_calendar, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals_leave_the_store_untouched, setup, teardown),
        cmocka_unit_test_setup_teardown(test_access_checked_on_every_write, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
