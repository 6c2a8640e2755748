/* tests/fuzz/routes.c: see routes.h. The wiring follows tests/unit/route_fixture.c, without
 * cmocka: a failure of the set-up is the harness's, so it abort()s. */
#include "routes.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "caldav/caldav.h"
#include "dav/dav.h"
#include "eas/eas.h"
#include "repl/repl.h"
#include "store/store.h"
#include "util/log.h"

static struct {
    bool open;
    char dir[4096];
    struct store_pool *pool;
    struct dav_app dav;
    struct eas_app *eas;
    struct http_route dav_route;      /* "/" */
    struct http_route exchange_route; /* "/exchange" */
    struct http_route eas_route;      /* "/Microsoft-Server-ActiveSync" */
    uint64_t cal_id;
} fx;

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz routes: set-up failed: %s\n", what);
        abort();
    }
}

static void close_routes(void)
{
    if (!fx.open) {
        return;
    }
    fx.open = false;
    eas_app_stop(fx.eas);
    store_pool_set_change_hook(fx.pool, NULL, NULL);
    eas_app_destroy(&fx.eas);
    store_pool_destroy(&fx.pool);
    char cmd[4200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx.dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "fuzz routes: could not remove %s\n", fx.dir);
    }
}

static void put_event(struct arena *a, const char *name, const char *extra)
{
    const char *ics = arena_printf(
        a,
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//fuzz//EN\r\nBEGIN:VEVENT\r\nUID:%s\r\n"
        "DTSTAMP:20260101T000000Z\r\nDTSTART:20260105T100000Z\r\nDTEND:20260105T110000Z\r\n"
        "SUMMARY:event %s\r\n%sEND:VEVENT\r\nEND:VCALENDAR\r\n",
        name, name, extra);
    static const char *const h[] = {"Content-Type", "text/calendar", NULL};
    struct http_test_resp r = fuzz_routes_run(
        "PUT", arena_printf(a, "/calendars/alice/cal/%s.ics", name), h, ics, strlen(ics), 0, a);
    check(r.status == 201, "PUT of an event");
}

void fuzz_routes_reset(void)
{
    close_routes();
    fuzz_routes_open();
}

void fuzz_routes_open(void)
{
    static bool registered;
    if (fx.open) {
        return;
    }
    fx.open = true;
    /* A refused request logs a line at info; millions of them say nothing (FUZZ_SHOW keeps
     * them). */
    log_set_level(getenv("FUZZ_SHOW") ? LOG_INFO : LOG_ERROR);
    /* libFuzzer ends a timed run without running atexit handlers, so scripts/fuzz.sh names a
     * directory it removes itself (FUZZ_STORE_DIR); the replayer returns from main. */
    const char *parent = getenv("FUZZ_STORE_DIR");
    if (parent && *parent) {
        (void)mkdir(parent, 0700);
    } else {
        parent = "/tmp";
    }
    int n = snprintf(fx.dir, sizeof(fx.dir), "%s/almanac-fuzz-XXXXXX", parent);
    check(n > 0 && (size_t)n < sizeof(fx.dir), "FUZZ_STORE_DIR is too long");
    check(mkdtemp(fx.dir) != NULL, "mkdtemp");
    check(store_pool_create(fx.dir, 2, &fx.pool) == STORE_OK, "store_pool_create");
    struct arena *a = arena_create();
    struct store *s = store_pool_acquire(fx.pool);
    check(s != NULL, "store_pool_acquire");
    check(store_begin_write(s) == STORE_OK, "store_begin_write");
    struct store_principal p;
    check(store_principal_add(s, "alice", "-", a, &p) == STORE_OK, "alice");
    check(store_principal_add(s, "bob", "-", a, &p) == STORE_OK, "bob");
    check(store_commit(s) == STORE_OK, "store_commit");
    store_pool_release(fx.pool, s);
    fx.dav = (struct dav_app){
        .pool = fx.pool,
        .limits =
            {
                .xml_max_body = 1u << 20,
                .xml_max_depth = 64,
                .xml_max_elements = 10000,
                .xml_max_text = 1u << 16,
                .max_resource_size = 1u << 20,
                .max_dead_props = 32,
                .max_multiget_hrefs = 1000,
            },
        .ext = {caldav_ext(), repl_ext()},
        .next = 2,
    };
    /* ping_min above ping_max: every heartbeat is refused (Status 5), so no Ping or Sync
     * ever waits, which the seam could not drive; everything before that check, the whole
     * request reader included, still runs. */
    static const struct eas_config ec = {
        .protocol_16 = true,
        .provisioning = false,
        .ping_min = 60,
        .ping_max = 59,
        .max_folders = 20,
        .max_devices = 1000000,
        .max_body = 1u << 20,
        .max_window_bytes = 1u << 18,
        .max_item_bytes = 1u << 20,
        .mail_domain = "example.com",
    };
    check(eas_app_start(&ec, fx.pool, &fx.eas) == 0, "eas_app_start");
    store_pool_set_change_hook(fx.pool, eas_app_change, fx.eas);
    fx.dav_route = dav_route("/", &fx.dav);
    fx.exchange_route = dav_route("/exchange", &fx.dav);
    fx.eas_route = eas_route("/Microsoft-Server-ActiveSync", fx.eas);
    if (!registered) {
        atexit(close_routes);
        registered = true;
    }

    check(fuzz_routes_run("MKCALENDAR", "/calendars/alice/cal/", NULL, NULL, 0, 0, a).status == 201,
          "MKCALENDAR");
    put_event(a, "e1", "");
    put_event(a, "e2", "RRULE:FREQ=WEEKLY;COUNT=5\r\nLOCATION:room\r\n");
    put_event(a, "e3",
              "ORGANIZER:mailto:alice@example.com\r\nATTENDEE;PARTSTAT=NEEDS-ACTION:"
              "mailto:bob@example.com\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT15M\r\n"
              "DESCRIPTION:x\r\nEND:VALARM\r\n");
    s = store_pool_acquire(fx.pool);
    check(s && store_begin_read(s) == STORE_OK, "read");
    struct store_coll c;
    check(store_principal_get(s, "alice", a, &p) == STORE_OK &&
              store_coll_lookup(s, p.home_id, "cal", a, &c) == STORE_OK,
          "the calendar");
    fx.cal_id = c.id;
    store_rollback(s);
    store_pool_release(fx.pool, s);
    arena_destroy(&a);
}

struct http_test_resp fuzz_routes_run(const char *method,
                                      const char *target,
                                      const char *const *headers,
                                      const void *body,
                                      size_t len,
                                      size_t chunk,
                                      struct arena *a)
{
    const struct http_route *r = &fx.dav_route;
    if (strncmp(target, "/exchange", 9) == 0) {
        r = &fx.exchange_route;
    } else if (strncmp(target, "/Microsoft-Server-ActiveSync", 28) == 0) {
        r = &fx.eas_route;
    }
    struct http_test_req in = {
        .method = method,
        .target = target,
        .user = "alice",
        .headers = headers,
        .body = body,
        .body_len = len,
        .chunk = chunk,
    };
    struct http_test_resp out;
    check(http_test_run(r, &in, a, &out) == 0, "http_test_run (a build without ALMANAC_FAULTS?)");
    return out;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        h = (h ^ ((v >> (8 * i)) & 0xff)) * 0x100000001b3ULL;
    }
    return h;
}

uint64_t fuzz_routes_fingerprint(void)
{
    struct arena *a = arena_create();
    struct store *s = store_pool_acquire(fx.pool);
    check(s && store_begin_read(s) == STORE_OK, "read");
    struct store_principal p;
    struct store_coll home;
    check(store_principal_get(s, "alice", a, &p) == STORE_OK, "alice");
    uint64_t h = 0xcbf29ce484222325ULL;
    struct store_cursor *cur = NULL;
    check(store_children_open(s, p.home_id, &cur) == STORE_OK, "children");
    enum store_rc rc;
    while ((rc = store_cursor_next_coll(cur, &home)) == STORE_OK) {
        h = mix(mix(h, home.id), home.modseq);
    }
    check(rc == STORE_NOTFOUND, "children cursor");
    store_cursor_close(&cur);
    store_rollback(s);
    store_pool_release(fx.pool, s);
    arena_destroy(&a);
    return h;
}

uint64_t fuzz_routes_cal_id(void)
{
    return fx.cal_id;
}

unsigned fuzz_routes_eas_waiting(void)
{
    return eas_app_waiting(fx.eas);
}
