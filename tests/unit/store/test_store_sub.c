/* tests/unit/store/test_store_sub.c: subscription URLs of store.h on a real store in a
 * temporary directory: a token is 32 characters of the URL-safe alphabet, distinct each time,
 * names its calendar and owner; a wrong, short or revoked token is not found; revoking takes
 * every token of one calendar and no other's; a list is the owner's only, by calendar name;
 * deleting the calendar or its owner takes its tokens (no row left behind). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store/store.h"
#include "util/sec.h"

struct fixture {
    char dir[64];
    struct store *s;
    struct arena *a;
    struct store_principal alice, bob;
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
    snprintf(f->dir, sizeof(f->dir), "/tmp/almanac-sub-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(store_open(f->dir, &f->s, NULL), STORE_OK);
    f->a = arena_create();
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    assert_int_equal(store_principal_add(f->s, "alice", "h1", f->a, &f->alice), STORE_OK);
    assert_int_equal(store_principal_add(f->s, "bob", "h2", f->a, &f->bob), STORE_OK);
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

static long long count_subs(struct fixture *f)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/almanac.db", f->dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM subscriptions", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long long n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static struct store_sub create(struct fixture *f, uint64_t coll)
{
    struct store_sub sub;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    assert_int_equal(store_sub_create(f->s, coll, f->a, &sub), STORE_OK);
    assert_int_equal(store_commit(f->s), STORE_OK);
    return sub;
}

static enum store_rc get(struct fixture *f, const char *token, struct store_sub *out)
{
    assert_int_equal(store_begin_read(f->s), STORE_OK);
    enum store_rc rc = store_sub_get(f->s, token, f->a, out);
    store_rollback(f->s);
    return rc;
}

static void test_sub_create_and_get(void **state)
{
    struct fixture *f = *state;
    struct store_sub a = create(f, f->work);
    assert_int_equal(strlen(a.token), STORE_SUB_TOKEN_LEN);
    assert_int_equal(strspn(a.token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                     "0123456789-_"),
                     STORE_SUB_TOKEN_LEN);
    assert_int_equal(a.coll, f->work);
    assert_int_equal(a.owner, f->alice.id);
    assert_string_equal(a.coll_name, "work");
    struct store_sub b = create(f, f->work);
    assert_string_not_equal(a.token, b.token);

    struct store_sub got;
    assert_int_equal(get(f, a.token, &got), STORE_OK);
    assert_string_equal(got.token, a.token);
    assert_int_equal(got.coll, f->work);
    assert_int_equal(got.owner, f->alice.id);
    assert_string_equal(got.coll_name, "work");
    assert_int_equal(got.created, a.created);

    char wrong[STORE_SUB_TOKEN_LEN + 1];
    memcpy(wrong, a.token, sizeof(wrong));
    wrong[0] = wrong[0] == 'A' ? 'B' : 'A';
    assert_int_equal(get(f, wrong, &got), STORE_NOTFOUND);
    assert_int_equal(get(f, "", &got), STORE_NOTFOUND);
    assert_int_equal(get(f, "short", &got), STORE_NOTFOUND);

    struct store_sub none;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    assert_int_equal(store_sub_create(f->s, 999999, f->a, &none), STORE_NOTFOUND);
    store_rollback(f->s);
}

static int collect(void *ctx, const struct store_sub *sub)
{
    char *out = ctx;
    size_t n = strlen(out);
    snprintf(out + n, 256 - n, "%s,", sub->coll_name);
    return 0;
}

static void test_sub_revoke_and_list(void **state)
{
    struct fixture *f = *state;
    struct store_sub w1 = create(f, f->work);
    struct store_sub w2 = create(f, f->work);
    struct store_sub h1 = create(f, f->home_cal);
    struct store_sub b1 = create(f, f->bobs);
    char names[256] = "";
    assert_int_equal(store_begin_read(f->s), STORE_OK);
    assert_int_equal(store_sub_list(f->s, f->alice.id, collect, names), STORE_OK);
    store_rollback(f->s);
    assert_string_equal(names, "home,work,work,");

    assert_int_equal(store_begin_write(f->s), STORE_OK);
    assert_int_equal(store_sub_revoke(f->s, f->work), STORE_OK);
    assert_int_equal(store_sub_revoke(f->s, f->work), STORE_NOTFOUND);
    assert_int_equal(store_commit(f->s), STORE_OK);
    struct store_sub got;
    assert_int_equal(get(f, w1.token, &got), STORE_NOTFOUND);
    assert_int_equal(get(f, w2.token, &got), STORE_NOTFOUND);
    assert_int_equal(get(f, h1.token, &got), STORE_OK);
    assert_int_equal(get(f, b1.token, &got), STORE_OK);
    assert_int_equal(count_subs(f), 2);
}

static void test_sub_goes_with_calendar_and_owner(void **state)
{
    struct fixture *f = *state;
    struct store_sub h = create(f, f->home_cal);
    create(f, f->work);
    create(f, f->bobs);
    assert_int_equal(count_subs(f), 3);
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    assert_int_equal(store_coll_delete(f->s, f->home_cal), STORE_OK);
    assert_int_equal(store_commit(f->s), STORE_OK);
    struct store_sub got;
    assert_int_equal(get(f, h.token, &got), STORE_NOTFOUND);
    assert_int_equal(count_subs(f), 2);
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    assert_int_equal(store_principal_del(f->s, "alice"), STORE_OK);
    assert_int_equal(store_commit(f->s), STORE_OK);
    assert_int_equal(count_subs(f), 1);
}

int main(void)
{
    assert_int_equal(sec_init(), 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sub_create_and_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sub_revoke_and_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sub_goes_with_calendar_and_owner, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
