/* tests/unit/calstore/test_calstore_access.c: calstore's access rule (issue 12) on a real store
 * in a temporary directory: the owner may do everything, a read sharee nothing, a read-write
 * sharee write members but not the collection itself, a stranger nothing; a refusal names
 * the privilege. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "calstore/calstore.h"
#include "store/store.h"
#include "util/sec.h"

struct fixture {
    char dir[64];
    struct store *s;
    struct arena *a;
    struct store_principal alice, bob, carol;
    uint64_t work, home_cal, bobs;
};

static uint64_t make_cal(struct fixture *f, const struct store_principal *p, const char *name)
{
    struct store_coll c;
    assert_int_equal(store_coll_create(f->s, p->home_id, name, STORE_COLL_CALENDAR, f->a, &c),
                     STORE_OK);
    return c.id;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/almanac-access-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(store_open(f->dir, &f->s, NULL), STORE_OK);
    f->a = arena_create();
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    assert_int_equal(store_principal_add(f->s, "alice", "h1", f->a, &f->alice), STORE_OK);
    assert_int_equal(store_principal_add(f->s, "bob", "h2", f->a, &f->bob), STORE_OK);
    assert_int_equal(store_principal_add(f->s, "carol", "h3", f->a, &f->carol), STORE_OK);
    f->work = make_cal(f, &f->alice, "work");
    f->home_cal = make_cal(f, &f->alice, "home");
    f->bobs = make_cal(f, &f->bob, "bobs");
    assert_int_equal(store_commit(f->s), STORE_OK);
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

static void test_calstore_access_follows_grant(void **state)
{
    struct fixture *f = *state;
    struct store_coll work;
    enum calstore_access a;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    assert_int_equal(store_coll_get(f->s, f->work, f->a, &work), STORE_OK);
    assert_int_equal(calstore_access(f->s, f->alice.id, &work, &a), STORE_OK);
    assert_int_equal(a, CALSTORE_ACCESS_OWNER);
    assert_int_equal(calstore_access(f->s, f->bob.id, &work, &a), STORE_OK);
    assert_int_equal(a, CALSTORE_ACCESS_NONE);
    assert_int_equal(
        store_share_set(f->s, f->work, f->bob.id, STORE_SHARE_READ, NULL, f->a, NULL, NULL),
        STORE_OK);
    assert_int_equal(calstore_access(f->s, f->bob.id, &work, &a), STORE_OK);
    assert_int_equal(a, CALSTORE_ACCESS_READ);

    struct calstore_writer w = {.store = f->s, .arena = f->a, .principal = f->bob.id};
    struct calstore_res res;
    struct err err;
    err_init(&err);
    assert_int_equal(calstore_check_write(&w, CALSTORE_OP_PUT, &work, &res, &err), CALSTORE_DENIED);
    assert_ptr_equal(err.cond, &calstore_cond_need_privileges);
    assert_non_null(strstr(err.msg, "write-content"));

    assert_int_equal(
        store_share_set(f->s, f->work, f->bob.id, STORE_SHARE_READ_WRITE, NULL, f->a, NULL, NULL),
        STORE_OK);
    assert_int_equal(calstore_access(f->s, f->bob.id, &work, &a), STORE_OK);
    assert_int_equal(a, CALSTORE_ACCESS_READ_WRITE);

    static const enum calstore_op item_ops[] = {CALSTORE_OP_PUT, CALSTORE_OP_DELETE,
                                                CALSTORE_OP_COPY, CALSTORE_OP_MOVE,
                                                CALSTORE_OP_ITEM_PROPS};

    for (size_t i = 0; i < sizeof(item_ops) / sizeof(item_ops[0]); i++) {
        assert_int_equal(calstore_check_write(&w, item_ops[i], &work, &res, &err), CALSTORE_OK);
    }

    static const enum calstore_op coll_ops[] = {CALSTORE_OP_COLL_PROPS, CALSTORE_OP_COLL_CREATE,
                                                CALSTORE_OP_COLL_DELETE};

    for (size_t i = 0; i < sizeof(coll_ops) / sizeof(coll_ops[0]); i++) {
        assert_int_equal(calstore_check_write(&w, coll_ops[i], &work, &res, &err), CALSTORE_DENIED);
    }
    struct calstore_writer carol = {.store = f->s, .arena = f->a, .principal = f->carol.id};
    assert_int_equal(calstore_check_write(&carol, CALSTORE_OP_PUT, &work, &res, &err),
                     CALSTORE_DENIED);
    assert_int_equal(store_rollback(f->s), STORE_OK);
}

int main(void)
{
    assert_int_equal(sec_init(), 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_calstore_access_follows_grant, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
