/* tests/unit/store/test_store_eas.c: the ActiveSync device state of store.h on a real store in
 * a temporary directory (no mock): devices (case-insensitive ids, the per-user cap, policy
 * keys, DeviceInformation, listing, delete), blobs, the two-slot sync state and membership
 * (activesync.md §3.3.3-3.3.5), aged members, items by id, the capped change count, the
 * change log's order as the window walk uses it, the change hook, durability, and the
 * cascades from principal, device and collection deletes. Talks SQL only to count rows
 * store.h cannot see. */
#include <pthread.h>
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

struct fixture {
    char dir[64];
    struct store *s;
    struct arena *a;
    struct store_principal p; /* alice */
    uint64_t cal;             /* alice's calendar "cal" */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/almanac-eas-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(store_open(f->dir, &f->s, NULL), STORE_OK);
    f->a = arena_create();
    struct store_coll c;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    assert_int_equal(store_principal_add(f->s, "alice", "hash1", f->a, &f->p), STORE_OK);
    assert_int_equal(store_coll_create(f->s, f->p.home_id, "cal", STORE_COLL_CALENDAR, f->a, &c),
                     STORE_OK);
    assert_int_equal(store_commit(f->s), STORE_OK);
    f->cal = c.id;
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

/* Rows of `table` in the committed store, through a connection of its own. */
static long long count_rows(struct fixture *f, const char *table)
{
    char path[128];
    char sql[128];
    snprintf(path, sizeof(path), "%s/almanac.db", f->dir);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long long n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static struct store_eas_device touch(struct fixture *f, const char *id, int64_t now)
{
    struct store_eas_device d;
    assert_int_equal(store_eas_device_touch(f->s, f->p.id, id, "iPhone", "Apple-iPhone/1", "14.1",
                                            now, 0, f->a, &d),
                     STORE_OK);
    return d;
}

/* A calendar item "name" whose span ends at `dtend` (no span when has_span is false). */
static struct store_item
put_span(struct fixture *f, uint64_t coll, const char *name, bool has_span, int64_t dtend)
{
    struct store_item_in in = {.content = "BEGIN:VCALENDAR",
                               .size = 15,
                               .content_type = "text/calendar",
                               .cal.has_span = has_span,
                               .cal.dtstart_utc = has_span && dtend != INT64_MAX ? dtend - 10 : 0,
                               .cal.dtend_utc = dtend};
    struct store_item it;
    assert_int_equal(store_item_put(f->s, coll, name, &in, f->a, &it, NULL), STORE_OK);
    return it;
}

/* A sync state for (device, coll) with key "k1" and no previous key. */
static void put_state(struct fixture *f, uint64_t device, uint64_t coll)
{
    struct store_eas_sync st = {.device = device, .coll = coll, .key_cur = "k1", .updated = 1};
    assert_int_equal(store_eas_sync_put(f->s, &st), STORE_OK);
}

/* ---------------------------------------------------------------------------------------- */
/* Devices */

static void test_store_eas_device_touch_creates_then_updates(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    struct store_eas_device d = touch(f, "ApplF17XK2", 1000);
    assert_true(d.id > 0);
    assert_int_equal(d.principal, f->p.id);
    assert_string_equal(d.device_id, "ApplF17XK2");
    assert_string_equal(d.device_type, "iPhone");
    assert_string_equal(d.user_agent, "Apple-iPhone/1");
    assert_string_equal(d.protocol, "14.1");
    assert_int_equal(d.first_seen, 1000);
    assert_int_equal(d.last_seen, 1000);
    assert_int_equal(d.policy_key, 0);
    assert_int_equal(d.policy_pending, 0);
    assert_null(d.model);
    assert_null(d.friendly_name);
    assert_null(d.mobile_operator);

    struct store_eas_device u;
    assert_int_equal(store_eas_device_touch(f->s, f->p.id, "ApplF17XK2", "iPad", "Apple-iPad/2",
                                            "16.1", 2000, 0, f->a, &u),
                     STORE_OK);
    assert_int_equal(u.id, d.id);
    assert_string_equal(u.device_type, "iPad");
    assert_string_equal(u.user_agent, "Apple-iPad/2");
    assert_string_equal(u.protocol, "16.1");
    assert_int_equal(u.first_seen, 1000);
    assert_int_equal(u.last_seen, 2000);
    /* NULL keeps what is stored */
    assert_int_equal(
        store_eas_device_touch(f->s, f->p.id, "ApplF17XK2", NULL, NULL, NULL, 3000, 0, f->a, &u),
        STORE_OK);
    assert_string_equal(u.device_type, "iPad");
    assert_string_equal(u.user_agent, "Apple-iPad/2");
    assert_string_equal(u.protocol, "16.1");
    assert_int_equal(u.last_seen, 3000);
    assert_int_equal(store_eas_device_get(f->s, f->p.id, "ApplF17XK2", f->a, &u), STORE_OK);
    assert_int_equal(u.id, d.id);
    assert_int_equal(u.last_seen, 3000);
    assert_int_equal(store_eas_device_get(f->s, f->p.id, "other", f->a, &u), STORE_NOTFOUND);
    assert_int_equal(store_commit(f->s), STORE_OK);
}

static void test_store_eas_device_id_is_case_insensitive_and_keeps_the_first_form(void **state)
{
    struct fixture *f = *state;
    struct store_principal bob;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    assert_int_equal(store_principal_add(f->s, "bob", "h", f->a, &bob), STORE_OK);
    struct store_eas_device d = touch(f, "androidC0ffee", 10);
    struct store_eas_device u = touch(f, "ANDROIDc0FFEE", 20);
    assert_int_equal(u.id, d.id);
    assert_string_equal(u.device_id, "androidC0ffee");
    assert_int_equal(u.first_seen, 10);
    assert_int_equal(u.last_seen, 20);
    assert_int_equal(store_eas_device_get(f->s, f->p.id, "AndroidC0FFEE", f->a, &u), STORE_OK);
    assert_int_equal(u.id, d.id);
    /* only ASCII letters fold: the key of "é" stays itself */
    struct store_eas_device e = touch(f, "dev\xc3\xa9", 30);
    assert_int_equal(store_eas_device_get(f->s, f->p.id, "DEV\xc3\xa9", f->a, &u), STORE_OK);
    assert_int_equal(u.id, e.id);
    assert_int_equal(store_eas_device_get(f->s, f->p.id, "DEV\xc3\x89", f->a, &u), STORE_NOTFOUND);
    /* the same id under another principal is another device */
    struct store_eas_device b;
    assert_int_equal(store_eas_device_touch(f->s, bob.id, "ANDROIDC0FFEE", "Android", NULL, "14.0",
                                            40, 0, f->a, &b),
                     STORE_OK);
    assert_int_not_equal(b.id, d.id);
    assert_string_equal(b.device_id, "ANDROIDC0FFEE");
    assert_null(b.user_agent);
    assert_int_equal(store_commit(f->s), STORE_OK);
}

static void test_store_eas_device_cap_and_limits(void **state)
{
    struct fixture *f = *state;
    struct store_eas_device d;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    assert_int_equal(store_eas_device_touch(f->s, f->p.id, "one", "t", NULL, NULL, 1, 2, f->a, &d),
                     STORE_OK);
    assert_int_equal(store_eas_device_touch(f->s, f->p.id, "two", "t", NULL, NULL, 1, 2, f->a, &d),
                     STORE_OK);
    /* activesync.md §3.0 status 177: a third device is refused, and nothing is written */
    assert_int_equal(
        store_eas_device_touch(f->s, f->p.id, "three", "t", NULL, NULL, 1, 2, f->a, &d),
        STORE_LIMIT);
    assert_int_equal(store_eas_device_get(f->s, f->p.id, "three", f->a, &d), STORE_NOTFOUND);
    /* known devices are never refused, even past a lowered cap */
    assert_int_equal(store_eas_device_touch(f->s, f->p.id, "ONE", "t", NULL, NULL, 2, 1, f->a, &d),
                     STORE_OK);
    /* 0: no cap */
    assert_int_equal(
        store_eas_device_touch(f->s, f->p.id, "three", "t", NULL, NULL, 1, 0, f->a, &d), STORE_OK);
    /* string limits */
    char id[STORE_EAS_ID_MAX + 2];
    memset(id, 'x', sizeof(id) - 1);
    id[sizeof(id) - 1] = '\0';
    assert_int_equal(store_eas_device_touch(f->s, f->p.id, id, "t", NULL, NULL, 1, 0, f->a, &d),
                     STORE_LIMIT);
    id[STORE_EAS_ID_MAX] = '\0';
    assert_int_equal(store_eas_device_touch(f->s, f->p.id, id, "t", NULL, NULL, 1, 0, f->a, &d),
                     STORE_OK);
    assert_int_equal(store_eas_device_touch(f->s, f->p.id, "", "t", NULL, NULL, 1, 0, f->a, &d),
                     STORE_LIMIT);
    char ua[STORE_EAS_TEXT_MAX + 2];
    memset(ua, 'u', sizeof(ua) - 1);
    ua[sizeof(ua) - 1] = '\0';
    assert_int_equal(store_eas_device_touch(f->s, f->p.id, "one", "t", ua, NULL, 1, 0, f->a, &d),
                     STORE_LIMIT);
    /* no such principal */
    assert_int_equal(store_eas_device_touch(f->s, 999999, "one", "t", NULL, NULL, 1, 0, f->a, &d),
                     STORE_NOTFOUND);
    assert_int_equal(store_commit(f->s), STORE_OK);
    assert_int_equal(count_rows(f, "eas_devices"), 4);
}

static void test_store_eas_policy_keys_and_device_information(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    struct store_eas_device d = touch(f, "dev1", 1);
    /* activesync.md §3.1: the temporary key first, then the final one after the ack */
    assert_int_equal(store_eas_device_set_policy(f->s, d.id, 3942784117u, 0), STORE_OK);
    struct store_eas_device g;
    assert_int_equal(store_eas_device_get(f->s, f->p.id, "dev1", f->a, &g), STORE_OK);
    assert_int_equal(g.policy_pending, 3942784117u);
    assert_int_equal(g.policy_key, 0);
    assert_int_equal(store_eas_device_set_policy(f->s, d.id, 0, 1307350128u), STORE_OK);
    g = touch(f, "dev1", 2); /* touch returns the policy too */
    assert_int_equal(g.policy_pending, 0);
    assert_int_equal(g.policy_key, 1307350128u);
    assert_int_equal(store_eas_device_set_policy(f->s, 999999, 1, 1), STORE_NOTFOUND);

    struct store_eas_device info = {.model = "iPhone15C2", .os = "iOS 17.4"};
    assert_int_equal(store_eas_device_set_info(f->s, d.id, &info), STORE_OK);
    struct store_eas_device more = {.friendly_name = "Ann's phone",
                                    .os_language = "English",
                                    .imei = "3569",
                                    .phone_number = "+4412",
                                    .mobile_operator = "Op"};
    assert_int_equal(store_eas_device_set_info(f->s, d.id, &more), STORE_OK);
    assert_int_equal(store_eas_device_get(f->s, f->p.id, "DEV1", f->a, &g), STORE_OK);
    assert_string_equal(g.model, "iPhone15C2"); /* NULL fields left unchanged */
    assert_string_equal(g.os, "iOS 17.4");
    assert_string_equal(g.friendly_name, "Ann's phone");
    assert_string_equal(g.os_language, "English");
    assert_string_equal(g.imei, "3569");
    assert_string_equal(g.phone_number, "+4412");
    assert_string_equal(g.mobile_operator, "Op");
    assert_string_equal(g.device_type, "iPhone"); /* other fields of `info` are ignored */
    char big[STORE_EAS_TEXT_MAX + 2];
    memset(big, 'm', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    struct store_eas_device too_long = {.model = big};
    assert_int_equal(store_eas_device_set_info(f->s, d.id, &too_long), STORE_LIMIT);
    assert_int_equal(store_eas_device_set_info(f->s, 999999, &info), STORE_NOTFOUND);
    assert_int_equal(store_commit(f->s), STORE_OK);
}

struct listed {
    char ids[8][32];
    uint64_t dev[8];
    size_t n;
    size_t stop_after; /* 0: never */
};

static int list_cb(void *ctx, const struct store_eas_device *d)
{
    struct listed *l = ctx;
    assert_true(l->n < 8);
    snprintf(l->ids[l->n], sizeof(l->ids[l->n]), "%s", d->device_id);
    l->dev[l->n] = d->id;
    l->n++;
    return l->stop_after && l->n == l->stop_after;
}

static void test_store_eas_device_list_is_in_id_order_and_stops_early(void **state)
{
    struct fixture *f = *state;
    struct store_principal bob;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    assert_int_equal(store_principal_add(f->s, "bob", "h", f->a, &bob), STORE_OK);
    touch(f, "zeta", 1);
    touch(f, "Alpha", 2);
    touch(f, "beta", 3);
    assert_int_equal(store_commit(f->s), STORE_OK);

    assert_int_equal(store_begin_read(f->s), STORE_OK);
    struct listed l = {0};
    assert_int_equal(store_eas_device_list(f->s, f->p.id, list_cb, &l), STORE_OK);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.ids[0], "Alpha"); /* ALPHA < BETA < ZETA, shown as first seen */
    assert_string_equal(l.ids[1], "beta");
    assert_string_equal(l.ids[2], "zeta");
    struct listed first = {.stop_after = 1};
    assert_int_equal(store_eas_device_list(f->s, f->p.id, list_cb, &first), STORE_OK);
    assert_int_equal(first.n, 1);
    struct listed none = {0};
    assert_int_equal(store_eas_device_list(f->s, bob.id, list_cb, &none), STORE_OK);
    assert_int_equal(none.n, 0);
    assert_int_equal(store_commit(f->s), STORE_OK);
}

/* A device holding a blob, a sync state with two members in `cal`, and a second state. */
static uint64_t device_with_state(struct fixture *f, const char *id, uint64_t other_coll)
{
    struct store_eas_device d = touch(f, id, 1);
    assert_int_equal(store_eas_blob_put(f->s, d.id, "ping", "abc", 3), STORE_OK);
    put_state(f, d.id, f->cal);
    assert_int_equal(store_eas_member_put(f->s, d.id, f->cal, 11, 5), STORE_OK);
    assert_int_equal(store_eas_member_put(f->s, d.id, f->cal, 12, 6), STORE_OK);
    put_state(f, d.id, other_coll);
    assert_int_equal(store_eas_member_put(f->s, d.id, other_coll, 13, 7), STORE_OK);
    return d.id;
}

static void test_store_eas_device_delete_takes_all_its_state(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    struct store_coll c2;
    assert_int_equal(store_coll_create(f->s, f->p.home_id, "cal2", STORE_COLL_CALENDAR, f->a, &c2),
                     STORE_OK);
    uint64_t gone = device_with_state(f, "gone", c2.id);
    uint64_t kept = device_with_state(f, "kept", c2.id);
    assert_int_equal(store_commit(f->s), STORE_OK);
    assert_int_equal(count_rows(f, "eas_members"), 6);

    assert_int_equal(store_begin_write(f->s), STORE_OK);
    assert_int_equal(store_eas_device_del(f->s, f->p.id, "GONE"), STORE_OK);
    assert_int_equal(store_eas_device_del(f->s, f->p.id, "gone"), STORE_NOTFOUND);
    assert_int_equal(store_eas_device_del(f->s, f->p.id, ""), STORE_LIMIT);
    assert_int_equal(store_commit(f->s), STORE_OK);

    assert_int_equal(count_rows(f, "eas_devices"), 1);
    assert_int_equal(count_rows(f, "eas_blobs"), 1);
    assert_int_equal(count_rows(f, "eas_sync"), 2);
    assert_int_equal(count_rows(f, "eas_members"), 3);
    assert_int_equal(store_begin_read(f->s), STORE_OK);
    struct store_eas_sync st;
    const void *p = NULL;
    size_t n = 0;
    uint64_t m = 0;
    assert_int_equal(store_eas_sync_get(f->s, gone, f->cal, f->a, &st), STORE_NOTFOUND);
    assert_int_equal(store_eas_member_get(f->s, gone, f->cal, 11, &m), STORE_NOTFOUND);
    assert_int_equal(store_eas_blob_get(f->s, gone, "ping", f->a, &p, &n), STORE_NOTFOUND);
    assert_int_equal(store_eas_sync_get(f->s, kept, f->cal, f->a, &st), STORE_OK);
    assert_int_equal(store_eas_member_get(f->s, kept, f->cal, 11, &m), STORE_OK);
    assert_int_equal(m, 5);
    assert_int_equal(store_eas_blob_get(f->s, kept, "ping", f->a, &p, &n), STORE_OK);
    assert_int_equal(store_commit(f->s), STORE_OK);
}

static void test_store_eas_principal_delete_takes_its_devices_and_state(void **state)
{
    struct fixture *f = *state;
    struct store_principal bob;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    assert_int_equal(store_principal_add(f->s, "bob", "h", f->a, &bob), STORE_OK);
    struct store_coll c2;
    assert_int_equal(store_coll_create(f->s, f->p.home_id, "cal2", STORE_COLL_CALENDAR, f->a, &c2),
                     STORE_OK);
    device_with_state(f, "phone", c2.id);
    struct store_eas_device b;
    assert_int_equal(store_eas_device_touch(f->s, bob.id, "phone", "t", NULL, NULL, 1, 0, f->a, &b),
                     STORE_OK);
    assert_int_equal(store_commit(f->s), STORE_OK);

    assert_int_equal(store_begin_write(f->s), STORE_OK);
    assert_int_equal(store_principal_del(f->s, "alice"), STORE_OK);
    assert_int_equal(store_commit(f->s), STORE_OK);
    assert_int_equal(count_rows(f, "eas_devices"), 1); /* bob's */
    assert_int_equal(count_rows(f, "eas_blobs"), 0);
    assert_int_equal(count_rows(f, "eas_sync"), 0);
    assert_int_equal(count_rows(f, "eas_members"), 0);
}

static void test_store_eas_collection_delete_drops_its_sync_state_and_members(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    struct store_coll c2;
    assert_int_equal(store_coll_create(f->s, f->p.home_id, "cal2", STORE_COLL_CALENDAR, f->a, &c2),
                     STORE_OK);
    uint64_t dev = device_with_state(f, "phone", c2.id);
    assert_int_equal(store_commit(f->s), STORE_OK);

    assert_int_equal(store_begin_write(f->s), STORE_OK);
    assert_int_equal(store_coll_delete(f->s, f->cal), STORE_OK);
    assert_int_equal(store_commit(f->s), STORE_OK);
    assert_int_equal(count_rows(f, "eas_sync"), 1);
    assert_int_equal(count_rows(f, "eas_members"), 1);
    assert_int_equal(store_begin_read(f->s), STORE_OK);
    struct store_eas_sync st;
    uint64_t m = 0;
    assert_int_equal(store_eas_sync_get(f->s, dev, f->cal, f->a, &st), STORE_NOTFOUND);
    assert_int_equal(store_eas_sync_get(f->s, dev, c2.id, f->a, &st), STORE_OK);
    uint64_t cursor = 0;
    assert_int_equal(store_eas_sync_cursor(f->s, dev, c2.id, &cursor), STORE_OK);
    assert_int_equal(cursor, st.cursor);
    assert_int_equal(store_eas_sync_cursor(f->s, dev, f->cal, &cursor), STORE_NOTFOUND);
    assert_int_equal(store_eas_member_get(f->s, dev, c2.id, 13, &m), STORE_OK);
    assert_int_equal(m, 7);
    assert_int_equal(store_commit(f->s), STORE_OK);

    /* the cursor alone, as Ping reads it, follows every put of the state */
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    st.cursor = 4242;
    assert_int_equal(store_eas_sync_put(f->s, &st), STORE_OK);
    assert_int_equal(store_eas_sync_cursor(f->s, dev, c2.id, &cursor), STORE_OK);
    assert_int_equal(cursor, 4242);
    assert_int_equal(store_commit(f->s), STORE_OK);
}

/* ---------------------------------------------------------------------------------------- */
/* Blobs */

static void test_store_eas_blobs_put_get_replace_delete(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    struct store_eas_device d = touch(f, "dev", 1);
    static const unsigned char bin[] = {0x03, 0x01, 0x6a, 0x00, 0x45, 0x00};
    const void *p = NULL;
    size_t n = 99;
    assert_int_equal(store_eas_blob_get(f->s, d.id, "sync", f->a, &p, &n), STORE_NOTFOUND);
    assert_int_equal(store_eas_blob_put(f->s, d.id, "sync", bin, sizeof(bin)), STORE_OK);
    assert_int_equal(store_eas_blob_get(f->s, d.id, "sync", f->a, &p, &n), STORE_OK);
    assert_int_equal(n, sizeof(bin));
    assert_memory_equal(p, bin, sizeof(bin));
    assert_int_equal(store_eas_blob_put(f->s, d.id, "sync", "xy", 2), STORE_OK); /* replaced */
    assert_int_equal(store_eas_blob_get(f->s, d.id, "sync", f->a, &p, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_memory_equal(p, "xy", 2);
    assert_int_equal(store_eas_blob_put(f->s, d.id, "empty", NULL, 0), STORE_OK);
    assert_int_equal(store_eas_blob_get(f->s, d.id, "empty", f->a, &p, &n), STORE_OK);
    assert_non_null(p);
    assert_int_equal(n, 0);
    assert_int_equal(store_eas_blob_del(f->s, d.id, "sync"), STORE_OK);
    assert_int_equal(store_eas_blob_get(f->s, d.id, "sync", f->a, &p, &n), STORE_NOTFOUND);
    assert_int_equal(store_eas_blob_del(f->s, d.id, "sync"), STORE_OK); /* absent: still OK */
    assert_int_equal(store_eas_blob_get(f->s, d.id, "empty", f->a, &p, &n), STORE_OK);
    /* limits and a missing device */
    char name[STORE_EAS_BLOB_NAME_MAX + 2];
    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    assert_int_equal(store_eas_blob_put(f->s, d.id, name, "x", 1), STORE_LIMIT);
    assert_int_equal(store_eas_blob_put(f->s, d.id, "", "x", 1), STORE_LIMIT);
    name[STORE_EAS_BLOB_NAME_MAX] = '\0';
    assert_int_equal(store_eas_blob_put(f->s, d.id, name, "x", 1), STORE_OK);
    assert_int_equal(store_eas_blob_put(f->s, 999999, "sync", "x", 1), STORE_NOTFOUND);
    assert_int_equal(store_commit(f->s), STORE_OK);
}

/* ---------------------------------------------------------------------------------------- */
/* Sync state and membership */

static void test_store_eas_sync_state_put_get_update_reset(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    struct store_eas_device d = touch(f, "dev", 1);
    struct store_eas_sync st;
    assert_int_equal(store_eas_sync_get(f->s, d.id, f->cal, f->a, &st), STORE_NOTFOUND);
    /* activesync.md §3.3.3: key 0 made the first key, no previous one */
    struct store_eas_sync in = {.device = d.id,
                                .coll = f->cal,
                                .key_cur = "417000000000001",
                                .cursor = 0,
                                .coll_epoch = 77,
                                .options = "\x01\x02",
                                .options_len = 2,
                                .updated = 500};
    assert_int_equal(store_eas_sync_put(f->s, &in), STORE_OK);
    assert_int_equal(store_eas_sync_get(f->s, d.id, f->cal, f->a, &st), STORE_OK);
    assert_int_equal(st.device, d.id);
    assert_int_equal(st.coll, f->cal);
    assert_string_equal(st.key_cur, "417000000000001");
    assert_null(st.key_prev);
    assert_int_equal(st.cursor, 0);
    assert_int_equal(st.coll_epoch, 77);
    assert_int_equal(st.options_len, 2);
    assert_memory_equal(st.options, "\x01\x02", 2);
    assert_null(st.answer);
    assert_int_equal(st.answer_len, 0);
    assert_int_equal(st.updated, 500);

    /* a window: members written, then cur -> prev and a new cur with the answer */
    assert_int_equal(store_eas_member_put(f->s, d.id, f->cal, 8842, 9), STORE_OK);
    in.key_prev = "417000000000001";
    in.key_cur = "417000000000002";
    in.cursor = 9;
    in.answer = "\x03\x01\x6a\x00";
    in.answer_len = 4;
    in.options = NULL;
    in.options_len = 0;
    in.updated = 600;
    assert_int_equal(store_eas_sync_put(f->s, &in), STORE_OK);
    assert_int_equal(store_eas_sync_get(f->s, d.id, f->cal, f->a, &st), STORE_OK);
    assert_string_equal(st.key_cur, "417000000000002");
    assert_string_equal(st.key_prev, "417000000000001");
    assert_int_equal(st.cursor, 9);
    assert_null(st.options);
    assert_int_equal(st.options_len, 0);
    assert_int_equal(st.answer_len, 4);
    assert_memory_equal(st.answer, "\x03\x01\x6a\x00", 4);
    assert_int_equal(st.updated, 600);
    uint64_t n = 0;
    assert_int_equal(store_eas_member_count(f->s, d.id, f->cal, &n), STORE_OK);
    assert_int_equal(n, 1); /* an update keeps the membership */

    /* key 0 again: state and membership forgotten */
    assert_int_equal(store_eas_sync_reset(f->s, d.id, f->cal), STORE_OK);
    assert_int_equal(store_eas_sync_get(f->s, d.id, f->cal, f->a, &st), STORE_NOTFOUND);
    assert_int_equal(store_eas_member_count(f->s, d.id, f->cal, &n), STORE_OK);
    assert_int_equal(n, 0);
    assert_int_equal(store_eas_sync_reset(f->s, d.id, f->cal), STORE_OK); /* none: still OK */

    /* limits, a missing device or collection */
    char key[STORE_EAS_KEY_MAX + 2];
    memset(key, '9', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    in.key_cur = key;
    assert_int_equal(store_eas_sync_put(f->s, &in), STORE_LIMIT);
    in.key_cur = "1";
    in.key_prev = key;
    assert_int_equal(store_eas_sync_put(f->s, &in), STORE_LIMIT);
    key[STORE_EAS_KEY_MAX] = '\0';
    assert_int_equal(store_eas_sync_put(f->s, &in), STORE_OK);
    in.key_cur = "";
    assert_int_equal(store_eas_sync_put(f->s, &in), STORE_LIMIT);
    in.key_cur = NULL;
    assert_int_equal(store_eas_sync_put(f->s, &in), STORE_LIMIT);
    in.key_cur = "1";
    in.coll = 999999;
    assert_int_equal(store_eas_sync_put(f->s, &in), STORE_NOTFOUND);
    in.coll = f->cal;
    in.device = 999999;
    assert_int_equal(store_eas_sync_put(f->s, &in), STORE_NOTFOUND);
    assert_int_equal(store_commit(f->s), STORE_OK);
}

static void test_store_eas_members_put_get_delete_count(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    struct store_eas_device d = touch(f, "dev", 1);
    uint64_t m = 0;
    /* membership belongs to a sync state */
    assert_int_equal(store_eas_member_put(f->s, d.id, f->cal, 1, 2), STORE_NOTFOUND);
    put_state(f, d.id, f->cal);
    assert_int_equal(store_eas_member_get(f->s, d.id, f->cal, 1, &m), STORE_NOTFOUND);
    assert_int_equal(store_eas_member_put(f->s, d.id, f->cal, 1, 2), STORE_OK);
    assert_int_equal(store_eas_member_put(f->s, d.id, f->cal, 2, 3), STORE_OK);
    assert_int_equal(store_eas_member_put(f->s, d.id, f->cal, 3, 4), STORE_OK);
    assert_int_equal(store_eas_member_put(f->s, d.id, f->cal, 1, 8), STORE_OK); /* a Change */
    assert_int_equal(store_eas_member_get(f->s, d.id, f->cal, 1, &m), STORE_OK);
    assert_int_equal(m, 8);
    assert_int_equal(store_eas_member_get(f->s, d.id, f->cal, 2, &m), STORE_OK);
    assert_int_equal(m, 3);
    uint64_t n = 0;
    assert_int_equal(store_eas_member_count(f->s, d.id, f->cal, &n), STORE_OK);
    assert_int_equal(n, 3);
    assert_int_equal(store_eas_member_del(f->s, d.id, f->cal, 2), STORE_OK);
    assert_int_equal(store_eas_member_del(f->s, d.id, f->cal, 2), STORE_OK); /* absent: OK */
    assert_int_equal(store_eas_member_get(f->s, d.id, f->cal, 2, &m), STORE_NOTFOUND);
    assert_int_equal(store_eas_member_count(f->s, d.id, f->cal, &n), STORE_OK);
    assert_int_equal(n, 2);
    /* another device's membership of the same collection is its own */
    struct store_eas_device e = touch(f, "dev2", 1);
    put_state(f, e.id, f->cal);
    assert_int_equal(store_eas_member_get(f->s, e.id, f->cal, 1, &m), STORE_NOTFOUND);
    assert_int_equal(store_eas_member_count(f->s, e.id, f->cal, &n), STORE_OK);
    assert_int_equal(n, 0);
    assert_int_equal(store_commit(f->s), STORE_OK);
}

/* Reads the aged cursor into names[]; returns the row count. */
static size_t read_aged(
    struct fixture *f, uint64_t dev, int64_t cutoff, unsigned limit, char names[][16], size_t max)
{
    struct store_cursor *cur = NULL;
    assert_int_equal(store_eas_members_aged_open(f->s, dev, f->cal, cutoff, limit, &cur), STORE_OK);
    struct store_item it;
    enum store_rc rc;
    size_t n = 0;
    while ((rc = store_cursor_next_item(cur, &it)) == STORE_OK) {
        assert_true(n < max);
        assert_int_equal(it.coll, f->cal);
        assert_false(it.is_tombstone);
        snprintf(names[n++], 16, "%s", it.name);
    }
    assert_int_equal(rc, STORE_NOTFOUND);
    store_cursor_close(&cur);
    return n;
}

static void test_store_eas_aged_members_are_found_by_span_end(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    struct store_coll c2;
    assert_int_equal(store_coll_create(f->s, f->p.home_id, "cal2", STORE_COLL_CALENDAR, f->a, &c2),
                     STORE_OK);
    struct store_eas_device d = touch(f, "dev", 1);
    struct store_eas_device other = touch(f, "other", 1);
    put_state(f, d.id, f->cal);
    put_state(f, other.id, f->cal);
    struct store_item items[] = {
        put_span(f, f->cal, "b", true, 200),     put_span(f, f->cal, "a", true, 100),
        put_span(f, f->cal, "c", true, 300),     put_span(f, f->cal, "endless", true, INT64_MAX),
        put_span(f, f->cal, "nospan", false, 0),
    };
    for (size_t i = 0; i < ALM_ARRAY_LEN(items); i++) {
        assert_int_equal(store_eas_member_put(f->s, d.id, f->cal, items[i].id, items[i].modseq),
                         STORE_OK);
    }
    put_span(f, f->cal, "old", true, 50); /* ended long ago, but never on the device */
    struct store_item o = put_span(f, f->cal, "others", true, 60);
    assert_int_equal(store_eas_member_put(f->s, other.id, f->cal, o.id, o.modseq), STORE_OK);
    assert_int_equal(store_commit(f->s), STORE_OK);

    assert_int_equal(store_begin_read(f->s), STORE_OK);
    char names[8][16];
    assert_int_equal(read_aged(f, d.id, 250, 10, names, 8), 2);
    assert_string_equal(names[0], "a"); /* by span end */
    assert_string_equal(names[1], "b");
    assert_int_equal(read_aged(f, d.id, 250, 1, names, 8), 1); /* the limit */
    assert_string_equal(names[0], "a");
    assert_int_equal(read_aged(f, d.id, 100, 10, names, 8), 0); /* "before": strictly */
    assert_int_equal(read_aged(f, d.id, 101, 10, names, 8), 1);
    /* unbounded and span-less items never age */
    assert_int_equal(read_aged(f, d.id, INT64_MAX, 10, names, 8), 3);
    assert_string_equal(names[2], "c");
    assert_int_equal(store_commit(f->s), STORE_OK);

    /* deleted and moved-away items are left to their tombstones */
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    assert_int_equal(store_item_delete(f->s, f->cal, "a"), STORE_OK);
    assert_int_equal(store_item_move(f->s, f->cal, "b", c2.id, "b"), STORE_OK);
    assert_int_equal(read_aged(f, d.id, 250, 10, names, 8), 0);
    /* a span that changed after member_put: judged by both ends until the next member_put */
    struct store_item c = put_span(f, f->cal, "c", true, 150); /* now ends before 250 */
    assert_int_equal(read_aged(f, d.id, 250, 10, names, 8), 0);
    assert_int_equal(store_eas_member_put(f->s, d.id, f->cal, c.id, c.modseq), STORE_OK);
    assert_int_equal(read_aged(f, d.id, 250, 10, names, 8), 1);
    assert_string_equal(names[0], "c");
    put_span(f, f->cal, "c", true, 1000); /* moved into the future: no longer aged */
    assert_int_equal(read_aged(f, d.id, 250, 10, names, 8), 0);
    assert_int_equal(store_commit(f->s), STORE_OK);
}

/* ---------------------------------------------------------------------------------------- */
/* Items by id, change counts, the change log's order */

static void test_store_item_get_by_id_finds_live_items_in_their_collection(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    struct store_coll c2;
    assert_int_equal(store_coll_create(f->s, f->p.home_id, "cal2", STORE_COLL_CALENDAR, f->a, &c2),
                     STORE_OK);
    struct store_item a = put_span(f, f->cal, "a.ics", true, 100);
    struct store_item b = put_span(f, f->cal, "b.ics", false, 0);
    struct store_item it;
    assert_int_equal(store_item_get_by_id(f->s, f->cal, a.id, STORE_ITEM_META, f->a, &it),
                     STORE_OK);
    assert_string_equal(it.name, "a.ics");
    assert_int_equal(it.modseq, a.modseq);
    assert_int_equal(it.cal.dtend_utc, 100);
    assert_null(it.content);
    assert_int_equal(store_item_get_by_id(f->s, f->cal, b.id, STORE_ITEM_CONTENT, f->a, &it),
                     STORE_OK);
    assert_string_equal(it.name, "b.ics");
    assert_int_equal(it.size, 15);
    assert_memory_equal(it.content, "BEGIN:VCALENDAR", 15);
    assert_int_equal(store_item_get_by_id(f->s, c2.id, a.id, STORE_ITEM_META, f->a, &it),
                     STORE_NOTFOUND); /* wrong collection */
    assert_int_equal(store_item_get_by_id(f->s, f->cal, 999999, STORE_ITEM_META, f->a, &it),
                     STORE_NOTFOUND);
    assert_int_equal(store_item_delete(f->s, f->cal, "a.ics"), STORE_OK);
    assert_int_equal(store_item_get_by_id(f->s, f->cal, a.id, STORE_ITEM_META, f->a, &it),
                     STORE_NOTFOUND); /* a tombstone is not live */
    assert_int_equal(store_item_move(f->s, f->cal, "b.ics", c2.id, "moved.ics"), STORE_OK);
    assert_int_equal(store_item_get_by_id(f->s, f->cal, b.id, STORE_ITEM_META, f->a, &it),
                     STORE_NOTFOUND);
    assert_int_equal(store_item_get_by_id(f->s, c2.id, b.id, STORE_ITEM_META, f->a, &it), STORE_OK);
    assert_string_equal(it.name, "moved.ics");
    assert_int_equal(store_commit(f->s), STORE_OK);
}

static void test_store_changes_count_counts_live_and_tombstones_up_to_the_cap(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    static const char *const names[] = {"a", "b", "c", "d", "e"};
    for (size_t i = 0; i < ALM_ARRAY_LEN(names); i++) {
        put_span(f, f->cal, names[i], false, 0); /* modseq 2..6 */
    }
    assert_int_equal(store_item_delete(f->s, f->cal, "a"), STORE_OK); /* 7 */
    assert_int_equal(store_item_delete(f->s, f->cal, "b"), STORE_OK); /* 8 */
    assert_int_equal(store_commit(f->s), STORE_OK);

    assert_int_equal(store_begin_read(f->s), STORE_OK);

    static const struct {
        uint64_t since, cap, want;
    } cases[] = {
        {0, 100, 5}, {0, 5, 5},   {0, 3, 3},   {0, 1, 1},   {0, 0, 0}, {0, UINT64_MAX, 5},
        {4, 100, 4}, {6, 100, 2}, {7, 100, 1}, {8, 100, 0}, {6, 1, 1}, {0, INT64_MAX, 5},
    };

    for (size_t i = 0; i < ALM_ARRAY_LEN(cases); i++) {
        uint64_t n = 99;
        assert_int_equal(store_changes_count(f->s, f->cal, cases[i].since, cases[i].cap, &n),
                         STORE_OK);
        if (n != cases[i].want) {
            fail_msg("since %llu cap %llu: %llu rows, want %llu",
                     (unsigned long long)cases[i].since, (unsigned long long)cases[i].cap,
                     (unsigned long long)n, (unsigned long long)cases[i].want);
        }
    }
    uint64_t n = 99;
    assert_int_equal(store_changes_count(f->s, 999999, 0, 100, &n), STORE_OK);
    assert_int_equal(n, 0);
    assert_int_equal(store_commit(f->s), STORE_OK);
}

struct row {
    uint64_t id, modseq;
    bool tomb;
};

/* Up to `max` change rows of f->cal after `since` into out[]; returns how many. */
static size_t
read_changes(struct fixture *f, uint64_t since, size_t max, struct row *out, size_t out_max)
{
    struct store_cursor *cur = NULL;
    assert_int_equal(store_changes_open(f->s, f->cal, since, &cur), STORE_OK);
    struct store_item it;
    size_t n = 0;
    enum store_rc rc = STORE_OK;
    while (n < max && (rc = store_cursor_next_item(cur, &it)) == STORE_OK) {
        assert_true(n < out_max);
        out[n++] = (struct row){it.id, it.modseq, it.is_tombstone};
    }
    if (n < max) {
        assert_int_equal(rc, STORE_NOTFOUND);
    }
    store_cursor_close(&cur);
    return n;
}

/* activesync.md §3.3.4: a window is a prefix of the change feed, the next cursor the last row
 * sent; so the feed must be strictly ascending with each row once. */
static void test_store_changes_cursor_is_strictly_ascending_with_each_row_once(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    struct store_coll c2;
    assert_int_equal(store_coll_create(f->s, f->p.home_id, "cal2", STORE_COLL_CALENDAR, f->a, &c2),
                     STORE_OK);
    struct store_item a = put_span(f, f->cal, "a", false, 0);
    struct store_item b = put_span(f, f->cal, "b", false, 0);
    put_span(f, f->cal, "c", false, 0);
    put_span(f, f->cal, "a", false, 0);                                           /* a again */
    assert_int_equal(store_item_move(f->s, f->cal, "b", f->cal, "b2"), STORE_OK); /* rename */
    assert_int_equal(store_item_move(f->s, f->cal, "a", c2.id, "a"), STORE_OK);   /* away */
    assert_int_equal(store_item_move(f->s, c2.id, "a", f->cal, "a"), STORE_OK);   /* and back */
    assert_int_equal(store_item_touch(f->s, f->cal, "c"), STORE_OK);
    assert_int_equal(store_item_delete(f->s, f->cal, "c"), STORE_OK);
    put_span(f, f->cal, "c", false, 0); /* a new item under the old name */
    assert_int_equal(store_commit(f->s), STORE_OK);

    assert_int_equal(store_begin_read(f->s), STORE_OK);
    struct row all[16];
    size_t n = read_changes(f, 0, 16, all, 16);
    /* live: b2, a, new c; tombstones: b (rename), a (moved away), c (deleted) */
    assert_int_equal(n, 6);
    size_t live_a = 0;
    size_t tomb_a = 0;
    size_t live_b = 0;
    size_t tomb_b = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0) {
            assert_true(all[i].modseq > all[i - 1].modseq);
        }
        for (size_t j = 0; j < i; j++) {
            assert_false(all[j].id == all[i].id && all[j].tomb == all[i].tomb);
        }
        if (all[i].id == a.id) {
            *(all[i].tomb ? &tomb_a : &live_a) = i + 1;
        } else if (all[i].id == b.id) {
            *(all[i].tomb ? &tomb_b : &live_b) = i + 1;
        }
    }
    /* each id's tombstone comes before its later live row */
    assert_true(tomb_a > 0 && live_a > tomb_a);
    assert_true(tomb_b > 0 && live_b > tomb_b);
    /* windows of 1, 2 and 4 resumed from the last row's modseq give the same feed */
    for (size_t w = 1; w <= 4; w *= 2) {
        struct row walked[16];
        size_t got = 0;
        uint64_t cursor = 0;
        for (;;) {
            size_t k = read_changes(f, cursor, w, walked + got, 16 - got);
            if (k == 0) {
                break;
            }
            got += k;
            cursor = walked[got - 1].modseq;
        }
        assert_int_equal(got, n);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(walked[i].id, all[i].id);
            assert_int_equal(walked[i].modseq, all[i].modseq);
            assert_int_equal(walked[i].tomb, all[i].tomb);
        }
    }
    assert_int_equal(store_commit(f->s), STORE_OK);
}

/* ---------------------------------------------------------------------------------------- */
/* The change hook */

struct seen {
    struct store *s; /* the committing connection, to check the commit is over */
    size_t n;
    uint64_t coll[8];
    uint64_t modseq[8];
    bool in_txn; /* store_in_txn() during any call */
};

static void on_change(void *ctx, uint64_t coll, uint64_t modseq)
{
    struct seen *w = ctx;
    assert_true(w->n < 8);
    w->coll[w->n] = coll;
    w->modseq[w->n] = modseq;
    w->n++;
    if (w->s && store_in_txn(w->s)) {
        w->in_txn = true;
    }
}

/* The modseq reported for `coll`, failing unless exactly one call named it. */
static uint64_t seen_modseq(const struct seen *w, uint64_t coll)
{
    size_t hits = 0;
    uint64_t m = 0;
    for (size_t i = 0; i < w->n; i++) {
        if (w->coll[i] == coll) {
            hits++;
            m = w->modseq[i];
        }
    }
    assert_int_equal(hits, 1);
    return m;
}

static void test_store_change_hook_fires_once_per_collection_after_commit(void **state)
{
    struct fixture *f = *state;
    struct seen w = {.s = f->s};
    store_set_change_hook(f->s, on_change, &w);

    assert_int_equal(store_begin_write(f->s), STORE_OK);
    struct store_coll c2;
    assert_int_equal(store_coll_create(f->s, f->p.home_id, "cal2", STORE_COLL_CALENDAR, f->a, &c2),
                     STORE_OK);
    put_span(f, f->cal, "a", false, 0);
    put_span(f, f->cal, "b", false, 0);
    put_span(f, f->cal, "a", false, 0);
    assert_int_equal(store_item_move(f->s, f->cal, "b", c2.id, "b"), STORE_OK);
    struct store_eas_device d = touch(f, "dev", 1); /* device state bumps nothing */
    put_state(f, d.id, f->cal);
    assert_int_equal(w.n, 0); /* nothing before the commit */
    assert_int_equal(store_commit(f->s), STORE_OK);
    assert_int_equal(w.n, 3);
    assert_false(w.in_txn);
    struct store_coll c;
    assert_int_equal(store_begin_read(f->s), STORE_OK);
    assert_int_equal(store_coll_get(f->s, f->cal, f->a, &c), STORE_OK);
    assert_int_equal(seen_modseq(&w, f->cal), 5); /* 1 + three puts + the move's tombstone */
    assert_int_equal(c.modseq, 5);
    assert_int_equal(store_coll_get(f->s, c2.id, f->a, &c), STORE_OK);
    assert_int_equal(seen_modseq(&w, c2.id), 2); /* the move in */
    assert_int_equal(c.modseq, 2);
    assert_int_equal(store_coll_get(f->s, f->p.home_id, f->a, &c), STORE_OK);
    assert_int_equal(seen_modseq(&w, f->p.home_id), c.modseq); /* the create's parent bump */
    assert_int_equal(store_commit(f->s), STORE_OK);
    assert_int_equal(w.n, 3); /* a read transaction reports nothing */

    /* a rollback reports nothing, and its bumps do not leak into the next commit */
    w.n = 0;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    put_span(f, c2.id, "x", false, 0);
    assert_int_equal(store_rollback(f->s), STORE_OK);
    assert_int_equal(w.n, 0);
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    assert_int_equal(store_item_touch(f->s, f->cal, "a"), STORE_OK);
    assert_int_equal(store_commit(f->s), STORE_OK);
    assert_int_equal(w.n, 1);
    assert_int_equal(seen_modseq(&w, f->cal), 6);

    /* a write transaction that bumps nothing reports nothing; NULL turns the hook off */
    w.n = 0;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    touch(f, "dev", 2);
    assert_int_equal(store_commit(f->s), STORE_OK);
    assert_int_equal(w.n, 0);
    store_set_change_hook(f->s, NULL, NULL);
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    assert_int_equal(store_item_touch(f->s, f->cal, "a"), STORE_OK);
    assert_int_equal(store_commit(f->s), STORE_OK);
    assert_int_equal(w.n, 0);
}

struct pool_seen {
    pthread_mutex_t lock;
    struct seen w;
};

static void on_pool_change(void *ctx, uint64_t coll, uint64_t modseq)
{
    struct pool_seen *ps = ctx;
    pthread_mutex_lock(&ps->lock);
    on_change(&ps->w, coll, modseq);
    pthread_mutex_unlock(&ps->lock);
}

static void test_store_pool_change_hook_covers_every_connection(void **state)
{
    struct fixture *f = *state;
    struct pool_seen ps = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct store_pool *pool = NULL;
    assert_int_equal(store_pool_create(f->dir, 2, &pool), STORE_OK);
    store_pool_set_change_hook(pool, on_pool_change, &ps);
    struct store *s1 = store_pool_acquire(pool);
    struct store *s2 = store_pool_acquire(pool);
    struct store_item_in in = {.content = "x", .size = 1, .content_type = "text/plain"};
    assert_int_equal(store_begin_write(s1), STORE_OK);
    assert_int_equal(store_item_put(s1, f->cal, "one", &in, f->a, NULL, NULL), STORE_OK);
    assert_int_equal(store_commit(s1), STORE_OK);
    assert_int_equal(store_begin_write(s2), STORE_OK);
    assert_int_equal(store_item_put(s2, f->cal, "two", &in, f->a, NULL, NULL), STORE_OK);
    assert_int_equal(store_commit(s2), STORE_OK);
    /* a transaction the pool rolls back on release reports nothing */
    assert_int_equal(store_begin_write(s2), STORE_OK);
    assert_int_equal(store_item_put(s2, f->cal, "three", &in, f->a, NULL, NULL), STORE_OK);
    store_pool_release(pool, s2);
    store_pool_release(pool, s1);
    store_pool_destroy(&pool);
    assert_int_equal(ps.w.n, 2);
    assert_int_equal(ps.w.coll[0], f->cal);
    assert_int_equal(ps.w.modseq[0], 2);
    assert_int_equal(ps.w.coll[1], f->cal);
    assert_int_equal(ps.w.modseq[1], 3);
}

/* ---------------------------------------------------------------------------------------- */
/* Durability */

static void test_store_eas_state_survives_close_and_reopen(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    struct store_item it = put_span(f, f->cal, "a", true, 100);
    struct store_eas_device d = touch(f, "Phone1", 42);
    assert_int_equal(store_eas_device_set_policy(f->s, d.id, 0, 1307350128u), STORE_OK);
    struct store_eas_device info = {.model = "SM-G991B", .friendly_name = "Galaxy S21"};
    assert_int_equal(store_eas_device_set_info(f->s, d.id, &info), STORE_OK);
    assert_int_equal(store_eas_blob_put(f->s, d.id, "ping", "\x00\x01", 2), STORE_OK);
    struct store_eas_sync in = {.device = d.id,
                                .coll = f->cal,
                                .key_cur = "2",
                                .key_prev = "1",
                                .cursor = it.modseq,
                                .coll_epoch = 5,
                                .options = "opt",
                                .options_len = 3,
                                .answer = "ans",
                                .answer_len = 3,
                                .updated = 43};
    assert_int_equal(store_eas_sync_put(f->s, &in), STORE_OK);
    assert_int_equal(store_eas_member_put(f->s, d.id, f->cal, it.id, it.modseq), STORE_OK);
    assert_int_equal(store_commit(f->s), STORE_OK);
    store_close(&f->s);
    assert_int_equal(store_open(f->dir, &f->s, NULL), STORE_OK);

    assert_int_equal(store_begin_read(f->s), STORE_OK);
    struct store_eas_device g;
    assert_int_equal(store_eas_device_get(f->s, f->p.id, "phone1", f->a, &g), STORE_OK);
    assert_int_equal(g.id, d.id);
    assert_string_equal(g.device_id, "Phone1");
    assert_int_equal(g.first_seen, 42);
    assert_int_equal(g.policy_key, 1307350128u);
    assert_string_equal(g.model, "SM-G991B");
    assert_string_equal(g.friendly_name, "Galaxy S21");
    const void *p = NULL;
    size_t n = 0;
    assert_int_equal(store_eas_blob_get(f->s, d.id, "ping", f->a, &p, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_memory_equal(p, "\x00\x01", 2);
    struct store_eas_sync st;
    assert_int_equal(store_eas_sync_get(f->s, d.id, f->cal, f->a, &st), STORE_OK);
    assert_string_equal(st.key_cur, "2");
    assert_string_equal(st.key_prev, "1");
    assert_int_equal(st.cursor, it.modseq);
    assert_int_equal(st.coll_epoch, 5);
    assert_memory_equal(st.options, "opt", 3);
    assert_memory_equal(st.answer, "ans", 3);
    assert_int_equal(st.updated, 43);
    uint64_t m = 0;
    assert_int_equal(store_eas_member_get(f->s, d.id, f->cal, it.id, &m), STORE_OK);
    assert_int_equal(m, it.modseq);
    char names[2][16];
    assert_int_equal(read_aged(f, d.id, 101, 10, names, 2), 1);
    assert_string_equal(names[0], "a");
    assert_int_equal(store_commit(f->s), STORE_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_store_eas_device_touch_creates_then_updates, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_store_eas_device_id_is_case_insensitive_and_keeps_the_first_form, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_eas_device_cap_and_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_eas_policy_keys_and_device_information, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_eas_device_list_is_in_id_order_and_stops_early,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_eas_device_delete_takes_all_its_state, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_eas_principal_delete_takes_its_devices_and_state,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_store_eas_collection_delete_drops_its_sync_state_and_members, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_eas_blobs_put_get_replace_delete, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_eas_sync_state_put_get_update_reset, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_eas_members_put_get_delete_count, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_eas_aged_members_are_found_by_span_end, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_store_item_get_by_id_finds_live_items_in_their_collection, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_store_changes_count_counts_live_and_tombstones_up_to_the_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_store_changes_cursor_is_strictly_ascending_with_each_row_once, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_store_change_hook_fires_once_per_collection_after_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_pool_change_hook_covers_every_connection, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_eas_state_survives_close_and_reopen, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
