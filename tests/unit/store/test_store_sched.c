/* tests/unit/store/test_store_sched.c: calendar user addresses of store.h (issue 13) on a
 * real store in a temporary directory: an address belongs to one principal, compares ASCII
 * case-insensitively, is listed in order, taken back, refused when empty, too long, taken
 * or given to nobody, and goes with its principal; principals are found by id. */
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
    struct store_principal alice, bob;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/almanac-sched-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(store_open(f->dir, &f->s, NULL), STORE_OK);
    f->a = arena_create();
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    assert_int_equal(store_principal_add(f->s, "alice", "h1", f->a, &f->alice), STORE_OK);
    assert_int_equal(store_principal_add(f->s, "bob", "h2", f->a, &f->bob), STORE_OK);
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

struct list {
    char text[256];
};

static int add_to_list(void *ctx, const char *addr)
{
    struct list *l = ctx;
    size_t n = strlen(l->text);
    snprintf(l->text + n, sizeof(l->text) - n, "%s;", addr);
    return 0;
}

static void test_addresses_belong_to_one_principal(void **state)
{
    struct fixture *f = *state;
    uint64_t who = 0;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    assert_int_equal(store_sched_addr_add(f->s, f->alice.id, "mailto:Alice@Example.ORG", f->a),
                     STORE_OK);
    assert_int_equal(store_sched_addr_add(f->s, f->alice.id, "mailto:boss@example.org", f->a),
                     STORE_OK);
    /* taken, whatever the case, by alice herself or by bob */
    assert_int_equal(store_sched_addr_add(f->s, f->bob.id, "MAILTO:alice@example.org", f->a),
                     STORE_EXISTS);
    assert_int_equal(store_sched_addr_add(f->s, f->alice.id, "mailto:boss@example.org", f->a),
                     STORE_EXISTS);
    assert_int_equal(store_sched_addr_lookup(f->s, "mailto:ALICE@example.org", f->a, &who),
                     STORE_OK);
    assert_int_equal(who, f->alice.id);
    assert_int_equal(store_sched_addr_lookup(f->s, "mailto:carol@example.org", f->a, &who),
                     STORE_NOTFOUND);
    struct list l = {""};
    assert_int_equal(store_sched_addr_list(f->s, f->alice.id, add_to_list, &l), STORE_OK);
    assert_string_equal(l.text, "mailto:alice@example.org;mailto:boss@example.org;");
    /* only the owner takes it back */
    assert_int_equal(store_sched_addr_del(f->s, f->bob.id, "mailto:boss@example.org", f->a),
                     STORE_NOTFOUND);
    assert_int_equal(store_sched_addr_del(f->s, f->alice.id, "mailto:Boss@example.org", f->a),
                     STORE_OK);
    assert_int_equal(store_sched_addr_add(f->s, f->bob.id, "mailto:boss@example.org", f->a),
                     STORE_OK);
    assert_int_equal(store_sched_addr_lookup(f->s, "mailto:boss@example.org", f->a, &who),
                     STORE_OK);
    assert_int_equal(who, f->bob.id);
    assert_int_equal(store_commit(f->s), STORE_OK);
}

static void test_addresses_refused_and_gone_with_principal(void **state)
{
    struct fixture *f = *state;
    uint64_t who = 0;
    char longaddr[STORE_ADDR_MAX + 2];
    memset(longaddr, 'a', sizeof(longaddr) - 1);
    longaddr[sizeof(longaddr) - 1] = '\0';
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    assert_int_equal(store_sched_addr_add(f->s, f->alice.id, "", f->a), STORE_LIMIT);
    assert_int_equal(store_sched_addr_add(f->s, f->alice.id, longaddr, f->a), STORE_LIMIT);
    longaddr[STORE_ADDR_MAX] = '\0';
    assert_int_equal(store_sched_addr_add(f->s, f->alice.id, longaddr, f->a), STORE_OK);
    assert_int_equal(store_sched_addr_add(f->s, 999999, "mailto:x@example.org", f->a),
                     STORE_NOTFOUND);
    assert_int_equal(store_sched_addr_add(f->s, f->bob.id, "mailto:bob@example.org", f->a),
                     STORE_OK);
    struct store_principal p;
    assert_int_equal(store_principal_get_by_id(f->s, f->bob.id, f->a, &p), STORE_OK);
    assert_string_equal(p.name, "bob");
    assert_int_equal(p.home_id, f->bob.home_id);
    assert_int_equal(store_principal_del(f->s, "bob"), STORE_OK);
    assert_int_equal(store_principal_get_by_id(f->s, f->bob.id, f->a, &p), STORE_NOTFOUND);
    assert_int_equal(store_sched_addr_lookup(f->s, "mailto:bob@example.org", f->a, &who),
                     STORE_NOTFOUND);
    assert_int_equal(store_commit(f->s), STORE_OK);
}

int main(void)
{
    assert_int_equal(sec_init(), 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_addresses_belong_to_one_principal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_addresses_refused_and_gone_with_principal, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
