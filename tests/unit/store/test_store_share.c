/* tests/unit/store/test_store_share.c: shared calendars of store.h (issue 12) on a real store
 * in a temporary directory: a grant names its calendar, owner and sharee and gets a name in
 * the sharee's home that no member has; changing the access keeps the name; the sharee's home
 * modseq moves with every grant change and when the calendar or its owner goes; names of
 * shares and of the sharee's own members never meet (either way); an owner, a home, a
 * missing calendar or sharee are refused; the lists walk each direction in order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

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
    snprintf(f->dir, sizeof(f->dir), "/tmp/almanac-share-XXXXXX");
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

static uint64_t home_modseq(struct fixture *f, const struct store_principal *p)
{
    struct store_coll c;
    assert_int_equal(store_coll_get(f->s, p->home_id, NULL, &c), STORE_OK);
    return c.modseq;
}

static void test_grant_names_and_access(void **state)
{
    struct fixture *f = *state;
    struct store_share sh;
    bool created = false;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    uint64_t before = home_modseq(f, &f->bob);
    assert_int_equal(
        store_share_set(f->s, f->work, f->bob.id, STORE_SHARE_READ, NULL, f->a, &sh, &created),
        STORE_OK);
    assert_true(created);
    assert_string_equal(sh.name, "alice-work");
    assert_string_equal(sh.coll_name, "work");
    assert_string_equal(sh.owner_name, "alice");
    assert_string_equal(sh.sharee_name, "bob");
    assert_int_equal(sh.owner, f->alice.id);
    assert_int_equal(sh.access, STORE_SHARE_READ);
    uint64_t after_grant = home_modseq(f, &f->bob);
    assert_true(after_grant > before);

    /* changing the access keeps the name and moves the home again; the same access does not */
    assert_int_equal(store_share_set(f->s, f->work, f->bob.id, STORE_SHARE_READ_WRITE, "other",
                                     f->a, &sh, &created),
                     STORE_OK);
    assert_false(created);
    assert_string_equal(sh.name, "alice-work");
    assert_int_equal(sh.access, STORE_SHARE_READ_WRITE);
    uint64_t after_change = home_modseq(f, &f->bob);
    assert_true(after_change > after_grant);
    assert_int_equal(store_share_set(f->s, f->work, f->bob.id, STORE_SHARE_READ_WRITE, NULL, f->a,
                                     &sh, &created),
                     STORE_OK);
    assert_int_equal(home_modseq(f, &f->bob), after_change);

    /* lookups both ways */
    assert_int_equal(store_share_get(f->s, f->work, f->bob.id, f->a, &sh), STORE_OK);
    assert_int_equal(store_share_lookup(f->s, f->bob.id, "alice-work", f->a, &sh), STORE_OK);
    assert_int_equal(sh.coll, f->work);
    assert_int_equal(store_share_lookup(f->s, f->carol.id, "alice-work", f->a, &sh),
                     STORE_NOTFOUND);
    assert_int_equal(store_share_get(f->s, f->work, f->alice.id, f->a, &sh), STORE_NOTFOUND);

    /* refusals */
    assert_int_equal(
        store_share_set(f->s, f->work, f->alice.id, STORE_SHARE_READ, NULL, f->a, &sh, NULL),
        STORE_CONFLICT);
    assert_int_equal(
        store_share_set(f->s, f->alice.home_id, f->bob.id, STORE_SHARE_READ, NULL, f->a, &sh, NULL),
        STORE_CONFLICT);
    assert_int_equal(
        store_share_set(f->s, 999999, f->bob.id, STORE_SHARE_READ, NULL, f->a, &sh, NULL),
        STORE_NOTFOUND);
    assert_int_equal(
        store_share_set(f->s, f->work, 999999, STORE_SHARE_READ, NULL, f->a, &sh, NULL),
        STORE_NOTFOUND);
    assert_int_equal(store_share_set(f->s, f->work, f->carol.id, (enum store_share_access)3, NULL,
                                     f->a, &sh, NULL),
                     STORE_LIMIT);

    /* revoke */
    assert_int_equal(store_share_del(f->s, f->work, f->bob.id), STORE_OK);
    assert_true(home_modseq(f, &f->bob) > after_change);
    assert_int_equal(store_share_del(f->s, f->work, f->bob.id), STORE_NOTFOUND);
    assert_int_equal(store_share_lookup(f->s, f->bob.id, "alice-work", f->a, &sh), STORE_NOTFOUND);
    assert_int_equal(store_commit(f->s), STORE_OK);
}

static void test_names_never_meet(void **state)
{
    struct fixture *f = *state;
    struct store_share sh;
    struct store_coll c;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    /* bob already has a member called alice-work: the grant takes the next free name */
    make_cal(f, &f->bob, "alice-work");
    assert_int_equal(
        store_share_set(f->s, f->work, f->bob.id, STORE_SHARE_READ, NULL, f->a, &sh, NULL),
        STORE_OK);
    assert_string_equal(sh.name, "alice-work-2");
    /* a named grant cannot take a member's or another share's name */
    assert_int_equal(
        store_share_set(f->s, f->home_cal, f->bob.id, STORE_SHARE_READ, "bobs", f->a, &sh, NULL),
        STORE_EXISTS);
    assert_int_equal(store_share_set(f->s, f->home_cal, f->bob.id, STORE_SHARE_READ, "alice-work-2",
                                     f->a, &sh, NULL),
                     STORE_EXISTS);
    assert_int_equal(
        store_share_set(f->s, f->home_cal, f->bob.id, STORE_SHARE_READ, "a/b", f->a, &sh, NULL),
        STORE_OK); /* names are checked for length only; the protocols escape */
    /* and a member cannot take a share's name: a calendar, a move, an item */
    assert_int_equal(
        store_coll_create(f->s, f->bob.home_id, "alice-work-2", STORE_COLL_CALENDAR, f->a, &c),
        STORE_EXISTS);
    assert_int_equal(store_coll_move(f->s, f->bobs, f->bob.home_id, "alice-work-2"), STORE_EXISTS);
    struct store_item_in in = {.content = "x", .size = 1, .content_type = "text/plain"};
    struct store_item it;
    assert_int_equal(store_item_put(f->s, f->bob.home_id, "alice-work-2", &in, f->a, &it, NULL),
                     STORE_EXISTS);
    /* the same name elsewhere is fine: carol's home, and inside bob's calendar */
    assert_int_equal(
        store_coll_create(f->s, f->carol.home_id, "alice-work-2", STORE_COLL_CALENDAR, f->a, &c),
        STORE_OK);
    assert_int_equal(store_item_put(f->s, f->bobs, "alice-work-2", &in, f->a, &it, NULL), STORE_OK);
    assert_int_equal(store_commit(f->s), STORE_OK);
}

struct seen {
    char lines[8][96];
    int n;
};

static int note(void *ctx, const struct store_share *sh)
{
    struct seen *s = ctx;
    assert_true(s->n < 8);
    snprintf(s->lines[s->n++], sizeof(s->lines[0]), "%s/%s>%s:%s:%d", sh->owner_name, sh->coll_name,
             sh->sharee_name, sh->name, sh->access);
    return 0;
}

static void test_lists(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    assert_int_equal(
        store_share_set(f->s, f->work, f->carol.id, STORE_SHARE_READ, NULL, f->a, NULL, NULL),
        STORE_OK);
    assert_int_equal(
        store_share_set(f->s, f->work, f->bob.id, STORE_SHARE_READ_WRITE, NULL, f->a, NULL, NULL),
        STORE_OK);
    assert_int_equal(
        store_share_set(f->s, f->home_cal, f->bob.id, STORE_SHARE_READ, NULL, f->a, NULL, NULL),
        STORE_OK);
    assert_int_equal(
        store_share_set(f->s, f->bobs, f->alice.id, STORE_SHARE_READ, NULL, f->a, NULL, NULL),
        STORE_OK);
    assert_int_equal(store_commit(f->s), STORE_OK);

    assert_int_equal(store_begin_read(f->s), STORE_OK);
    struct seen s = {.n = 0};
    assert_int_equal(store_share_list_of_owner(f->s, f->alice.id, note, &s), STORE_OK);
    assert_int_equal(s.n, 3); /* by calendar name, then sharee */
    assert_string_equal(s.lines[0], "alice/home>bob:alice-home:1");
    assert_string_equal(s.lines[1], "alice/work>bob:alice-work:2");
    assert_string_equal(s.lines[2], "alice/work>carol:alice-work:1");
    s.n = 0;
    assert_int_equal(store_share_list_of_sharee(f->s, f->bob.id, note, &s), STORE_OK);
    assert_int_equal(s.n, 2); /* by share name */
    assert_string_equal(s.lines[0], "alice/home>bob:alice-home:1");
    assert_string_equal(s.lines[1], "alice/work>bob:alice-work:2");
    s.n = 0;
    assert_int_equal(store_share_list_of_coll(f->s, f->work, note, &s), STORE_OK);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.lines[0], "alice/work>bob:alice-work:2");
    assert_string_equal(s.lines[1], "alice/work>carol:alice-work:1");
    s.n = 0;
    assert_int_equal(store_share_list_of_sharee(f->s, f->alice.id, note, &s), STORE_OK);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.lines[0], "bob/bobs>alice:bob-bobs:1");
    assert_int_equal(store_rollback(f->s), STORE_OK);
}

static void test_grants_go_with_calendar_and_owner(void **state)
{
    struct fixture *f = *state;
    struct store_share sh;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    assert_int_equal(
        store_share_set(f->s, f->work, f->bob.id, STORE_SHARE_READ, NULL, f->a, NULL, NULL),
        STORE_OK);
    assert_int_equal(
        store_share_set(f->s, f->home_cal, f->carol.id, STORE_SHARE_READ, NULL, f->a, NULL, NULL),
        STORE_OK);
    uint64_t bob_before = home_modseq(f, &f->bob);
    uint64_t carol_before = home_modseq(f, &f->carol);
    assert_int_equal(store_coll_delete(f->s, f->work), STORE_OK);
    assert_true(home_modseq(f, &f->bob) > bob_before);
    assert_int_equal(home_modseq(f, &f->carol), carol_before);
    assert_int_equal(store_share_lookup(f->s, f->bob.id, "alice-work", f->a, &sh), STORE_NOTFOUND);
    /* the name is free again in bob's home */
    make_cal(f, &f->bob, "alice-work");
    assert_int_equal(store_principal_del(f->s, "alice"), STORE_OK);
    assert_true(home_modseq(f, &f->carol) > carol_before);
    assert_int_equal(store_share_lookup(f->s, f->carol.id, "alice-home", f->a, &sh),
                     STORE_NOTFOUND);
    assert_int_equal(store_commit(f->s), STORE_OK);
}

int main(void)
{
    assert_int_equal(sec_init(), 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_grant_names_and_access, setup, teardown),
        cmocka_unit_test_setup_teardown(test_names_never_meet, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_grants_go_with_calendar_and_owner, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
