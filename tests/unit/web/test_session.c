/* tests/unit/web/test_session.c: the web session cookie (web/session.h) against a real store
 * in a temporary directory: a cookie made for a user verifies until it expires; a forged MAC,
 * another user's name under a valid MAC, another store's key, a changed password (new
 * cred_gen) and a deleted user are refused; CSRF tokens belong to one cookie; the Cookie
 * header parser finds the value among others. */
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
#include "web/session.h"

enum {
    NOW = 1800000000,
};

struct fixture {
    char dir[64];
    struct store *s;
    struct arena *a;
    struct web_keys k;
    struct store_principal alice, bob;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/almanac-websess-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(store_open(f->dir, &f->s, NULL), STORE_OK);
    f->a = arena_create();
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    assert_int_equal(store_principal_add(f->s, "alice", "h1", f->a, &f->alice), STORE_OK);
    assert_int_equal(store_principal_add(f->s, "bob.x y", "h2", f->a, &f->bob), STORE_OK);
    assert_int_equal(store_commit(f->s), STORE_OK);
    uint8_t secret[STORE_SECRET_BYTES];
    store_secret(f->s, secret);
    web_keys_derive(secret, &f->k);
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

/* web_session_verify in a read transaction; returns its result, *why set. */
static int verify(struct fixture *f, const char *cookie, int64_t now, const char **why)
{
    struct web_session ws;
    assert_int_equal(store_begin_read(f->s), STORE_OK);
    int rc = web_session_verify(&f->k, f->s, slice_from_cstr(cookie), now, f->a, &ws, why, NULL);
    store_rollback(f->s);
    if (rc == 0) {
        assert_non_null(ws.user);
    }
    return rc;
}

static void test_session_made_cookie_verifies(void **state)
{
    struct fixture *f = *state;
    const char *c = web_session_make(&f->k, "alice", NOW + 60, f->alice.cred_gen, f->a);
    assert_non_null(c);
    struct web_session ws;
    const char *why = NULL;
    assert_int_equal(web_session_parse(&f->k, slice_from_cstr(c), NOW, f->a, &ws, &why), 0);
    assert_string_equal(ws.user, "alice");
    assert_int_equal(ws.expires, NOW + 60);
    assert_int_equal(ws.gen, f->alice.cred_gen);
    assert_int_equal(verify(f, c, NOW, &why), 0);
    /* a user name with a dot and a space survives the encoding (parsed from the right) */
    c = web_session_make(&f->k, "bob.x y", NOW + 60, f->bob.cred_gen, f->a);
    assert_null(strchr(c, ' '));
    assert_int_equal(web_session_parse(&f->k, slice_from_cstr(c), NOW, f->a, &ws, &why), 0);
    assert_string_equal(ws.user, "bob.x y");
    assert_int_equal(verify(f, c, NOW, &why), 0);
}

static void test_session_expired_cookie_refused(void **state)
{
    struct fixture *f = *state;
    const char *c = web_session_make(&f->k, "alice", NOW + 60, f->alice.cred_gen, f->a);
    const char *why = NULL;
    assert_int_equal(verify(f, c, NOW + 59, &why), 0);
    assert_int_equal(verify(f, c, NOW + 60, &why), -1);
    assert_string_equal(why, "expired");
}

static void test_session_forged_cookie_refused(void **state)
{
    struct fixture *f = *state;
    const char *c = web_session_make(&f->k, "alice", NOW + 60, f->alice.cred_gen, f->a);
    const char *why = NULL;
    /* one flipped MAC digit */
    char *bad = strdup(c);
    size_t n = strlen(bad);
    bad[n - 1] = bad[n - 1] == '0' ? '1' : '0';
    assert_int_equal(verify(f, bad, NOW, &why), -1);
    assert_string_equal(why, "bad MAC");
    free(bad);
    /* a later expiry under the old MAC */
    const char *mac = strrchr(c, '.');
    char longer[512];
    snprintf(longer, sizeof(longer), "alice.%d.%llu%s", NOW + 999999,
             (unsigned long long)f->alice.cred_gen, mac);
    assert_int_equal(verify(f, longer, NOW, &why), -1);
    assert_string_equal(why, "bad MAC");
    /* garbage of every shape */
    static const char *const junk[] = {
        "",
        "alice",
        "alice.1.2.3",
        "....",
        "alice.x.y.zz",
        "%00.1.1.0000000000000000000000000000000000000000000000000000000000000000"};
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        assert_int_equal(verify(f, junk[i], NOW, &why), -1);
    }
    /* a cookie made under another store's secret */
    struct web_keys other;
    uint8_t secret[STORE_SECRET_BYTES];
    sec_random(secret, sizeof(secret));
    web_keys_derive(secret, &other);
    const char *foreign = web_session_make(&other, "alice", NOW + 60, f->alice.cred_gen, f->a);
    assert_int_equal(verify(f, foreign, NOW, &why), -1);
    assert_string_equal(why, "bad MAC");
}

static void test_session_other_user_name_refused(void **state)
{
    struct fixture *f = *state;
    /* bob's valid cookie with alice's name put in: the MAC covers the name */
    const char *c = web_session_make(&f->k, "bob.x y", NOW + 60, f->bob.cred_gen, f->a);
    const char *rest = strchr(c, '.');
    rest = strchr(rest + 1, '.'); /* skip the dot inside "bob.x%20y" */
    char swapped[512];
    snprintf(swapped, sizeof(swapped), "alice%s", rest);
    const char *why = NULL;
    assert_int_equal(verify(f, swapped, NOW, &why), -1);
    assert_string_equal(why, "bad MAC");
    /* and alice's generation in a cookie for bob does not match bob's */
    const char *mixed = web_session_make(&f->k, "bob.x y", NOW + 60, f->alice.cred_gen, f->a);
    assert_int_equal(verify(f, mixed, NOW, &why), -1);
    assert_string_equal(why, "password changed");
}

static void test_session_password_change_or_delete_ends_it(void **state)
{
    struct fixture *f = *state;
    const char *c = web_session_make(&f->k, "alice", NOW + 60, f->alice.cred_gen, f->a);
    const char *why = NULL;
    assert_int_equal(verify(f, c, NOW, &why), 0);
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    assert_int_equal(store_principal_set_pwhash(f->s, "alice", "h3"), STORE_OK);
    assert_int_equal(store_commit(f->s), STORE_OK);
    assert_int_equal(verify(f, c, NOW, &why), -1);
    assert_string_equal(why, "password changed");
    const char *b = web_session_make(&f->k, "bob.x y", NOW + 60, f->bob.cred_gen, f->a);
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    assert_int_equal(store_principal_del(f->s, "bob.x y"), STORE_OK);
    assert_int_equal(store_commit(f->s), STORE_OK);
    assert_int_equal(verify(f, b, NOW, &why), -1);
    assert_string_equal(why, "no such user");
}

static void test_session_csrf_token_belongs_to_its_cookie(void **state)
{
    struct fixture *f = *state;
    const char *c1 = web_session_make(&f->k, "alice", NOW + 60, f->alice.cred_gen, f->a);
    const char *c2 = web_session_make(&f->k, "alice", NOW + 61, f->alice.cred_gen, f->a);
    char t1[WEB_CSRF_HEX + 1], t2[WEB_CSRF_HEX + 1];
    web_csrf_token(&f->k, slice_from_cstr(c1), t1);
    web_csrf_token(&f->k, slice_from_cstr(c2), t2);
    assert_int_equal(strlen(t1), WEB_CSRF_HEX);
    assert_string_not_equal(t1, t2);
    assert_int_equal(web_csrf_check(&f->k, slice_from_cstr(c1), slice_from_cstr(t1)), 0);
    assert_int_equal(web_csrf_check(&f->k, slice_from_cstr(c1), slice_from_cstr(t2)), -1);
    assert_int_equal(web_csrf_check(&f->k, slice_from_cstr(c1), SLICE_LIT("")), -1);
    assert_int_equal(web_csrf_check(&f->k, slice_from_cstr(c1), SLICE_LIT("zz")), -1);
    /* the token is not the session MAC: knowing one tells nothing of the other */
    assert_null(strstr(c1, t1));
}

static void test_session_cookie_header_parsing(void **state)
{
    (void)state;
    struct slice v = web_cookie_get("a=1; almanac_session=abc.1.2.ff; b=2", "almanac_session");
    assert_int_equal(v.len, 10);
    assert_memory_equal(v.ptr, "abc.1.2.ff", 10);
    v = web_cookie_get("xalmanac_session=no;almanac_session=\"q\"", "almanac_session");
    assert_int_equal(v.len, 1);
    assert_memory_equal(v.ptr, "q", 1);
    assert_null(web_cookie_get("a=1", "almanac_session").ptr);
    assert_null(web_cookie_get(NULL, "almanac_session").ptr);
    assert_null(web_cookie_get("almanac_session", "almanac_session").ptr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_session_made_cookie_verifies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_expired_cookie_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_forged_cookie_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_other_user_name_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_password_change_or_delete_ends_it, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_session_csrf_token_belongs_to_its_cookie, setup,
                                        teardown),
        cmocka_unit_test(test_session_cookie_header_parsing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
