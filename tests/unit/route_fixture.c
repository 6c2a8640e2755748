/* tests/unit/route_fixture.c: see route_fixture.h. */
#include "route_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "caldav/caldav.h"
#include "repl/repl.h"

enum {
    RF_CHUNK = 7, /* body bytes per body() call */
};

int rf_setup(void **state)
{
    struct route_fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/almanac-route-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(store_pool_create(f->dir, 4, &f->pool), STORE_OK);
    f->a = arena_create();
    struct store *s = store_pool_acquire(f->pool);
    assert_non_null(s);
    assert_int_equal(store_begin_write(s), STORE_OK);
    struct store_principal p;
    assert_int_equal(store_principal_add(s, "alice", "-", f->a, &p), STORE_OK);
    assert_int_equal(store_principal_add(s, "bob", "-", f->a, &p), STORE_OK);
    assert_int_equal(store_commit(s), STORE_OK);
    store_pool_release(f->pool, s);

    f->dav = (struct dav_app){
        .pool = f->pool,
        .limits =
            {
                .xml_max_body = 16u << 20,
                .xml_max_depth = 64,
                .xml_max_elements = 100000,
                .xml_max_text = 1u << 20,
                .max_resource_size = 1u << 20,
                .max_dead_props = 32,
                .max_multiget_hrefs = 1000,
            },
        .ext = {caldav_ext(), repl_ext()},
        .next = 2,
    };
    struct eas_config ec = {
        .protocol_16 = false,
        .provisioning = false,
        .ping_min = 60,
        .ping_max = 3540,
        .max_folders = 100,
        .max_devices = 10,
        .max_body = 1u << 20,
        .max_window_bytes = 1u << 20,
        .max_item_bytes = 1u << 20,
        .mail_domain = "example.com",
    };
    assert_int_equal(eas_app_start(&ec, f->pool, &f->eas), 0);
    store_pool_set_change_hook(f->pool, eas_app_change, f->eas);
    f->dav_route = dav_route("/", &f->dav);
    f->exchange_route = dav_route("/exchange", &f->dav);
    f->eas_route = eas_route("/Microsoft-Server-ActiveSync", f->eas);
    *state = f;
    return 0;
}

int rf_teardown(void **state)
{
    struct route_fixture *f = *state;
    rf_store_done(f);
    eas_app_stop(f->eas);
    store_pool_set_change_hook(f->pool, NULL, NULL);
    eas_app_destroy(&f->eas);
    store_pool_destroy(&f->pool);
    arena_destroy(&f->a);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

struct http_test_resp rf_run_n(struct route_fixture *f,
                               const char *user,
                               const char *method,
                               const char *target,
                               const char *const *headers,
                               const char *body,
                               size_t n)
{
    const struct http_route *r = &f->dav_route;
    if (strncmp(target, "/exchange", 9) == 0) {
        r = &f->exchange_route;
    } else if (strncmp(target, "/Microsoft-Server-ActiveSync", 28) == 0) {
        r = &f->eas_route;
    }
    struct http_test_req in = {
        .method = method,
        .target = target,
        .user = user,
        .headers = headers,
        .body = body,
        .body_len = n,
        .chunk = RF_CHUNK,
    };
    struct http_test_resp out;
    assert_int_equal(http_test_run(r, &in, f->a, &out), 0);
    assert_false(out.stream_failed);
    return out;
}

struct http_test_resp rf_run(struct route_fixture *f,
                             const char *user,
                             const char *method,
                             const char *target,
                             const char *const *headers,
                             const char *body)
{
    return rf_run_n(f, user, method, target, headers, body, body ? strlen(body) : 0);
}

void rf_show(const char *what, const struct http_test_resp *r)
{
    if (!getenv("RF_SHOW")) {
        return;
    }
    printf("== %s: %u cond=%s\n", what, r->status, r->cond ? r->cond : "-");
    for (size_t i = 0; i < r->nheaders; i++) {
        printf("  %s: %s\n", r->headers[i].name, r->headers[i].value);
    }
    printf("%s\n", r->body);
}

struct store *rf_store(struct route_fixture *f)
{
    if (!f->s) {
        f->s = store_pool_acquire(f->pool);
        assert_non_null(f->s);
        assert_int_equal(store_begin_read(f->s), STORE_OK);
    }
    return f->s;
}

void rf_store_done(struct route_fixture *f)
{
    if (f->s) {
        store_rollback(f->s);
        store_pool_release(f->pool, f->s);
        f->s = NULL;
    }
}

int rf_run_tests(const char *name, const struct CMUnitTest *tests, size_t n)
{
    if (!http_test_available()) {
        printf("%s: skipped, this build has no in-process request seam (ALMANAC_FAULTS off)\n",
               name);
        return 0;
    }
    return _cmocka_run_group_tests(name, tests, n, NULL, NULL);
}
