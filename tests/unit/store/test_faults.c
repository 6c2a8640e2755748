/* tests/unit/store/test_faults.c: the store under injected faults (store/store_fault.h; issue
 * #11 item 5, issue #14). For every write of store.h, on a real store in a temporary directory
 * holding items, a tombstone, dead properties, collections and ActiveSync state: the Nth
 * fault point fails, for N = 1, 2, ... until the write runs to its commit without reaching N.
 * Each failing run must return the error class the fault maps to (STORE_IO for I/O and a full
 * disk, STORE_BUSY for busy and locked steps, STORE_IO for any failed statement fetch), end
 * with no transaction open after the caller's rollback, and leave the committed store equal,
 * table by table and row by row, to what it was before: no partial write. The last run then
 * succeeds and changes it. Reads (cursors, listings) fail cleanly mid-stream; a failed WAL
 * fsync poisons the commit barrier. Talks SQL only to dump the committed state. Skipped
 * (exit 0 with a message) when the build has no seam (ALMANAC_FAULTS off). */
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
#include "store/store_fault.h"
#include "util/buf.h"

struct fixture {
    char dir[64];
    struct store *s;
    struct arena *a;
    struct store_principal p;   /* alice */
    uint64_t cal, cal2;         /* calendars "cal" (items a.ics, b.ics, a tombstone), "cal2" */
    uint64_t plain, sub;        /* plain collections "dir" and "dir/sub" */
    uint64_t item_a;            /* a.ics's id */
    uint64_t dev;               /* alice's device DEV1, with sync state and members in cal */
    struct store_principal bob; /* holds a read grant on cal */
};

/* Every item has a span and two instance boxes, so that each write also writes, moves or
 * deletes its boxes in the interval index (schema/010_item_spans.sql) under the faults. */
static const struct store_box two_boxes[] = {{1000, 1060}, {5000, 5060}};

static struct store_item_in item_in(const char *content, const char *uid)
{
    struct store_item_in in = {.content = content,
                               .size = strlen(content),
                               .content_type = "text/calendar; charset=utf-8",
                               .cal = {.uid = uid,
                                       .has_span = true,
                                       .dtstart_utc = 1000,
                                       .dtend_utc = 5060,
                                       .comp = 1,
                                       .is_recurring = true,
                                       .boxes = two_boxes,
                                       .nboxes = 2}};
    return in;
}

static const struct store_prop prop_color = {"urn:x-test:", "color", "<x>red</x>", 10};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    /* tmpfs when there is one: a fixture per write and class makes a few hundred commits, and
     * what is tested here is what the store holds, not how long fsync takes */
    snprintf(f->dir, sizeof(f->dir), "%s/almanac-faults-XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(store_open(f->dir, &f->s, NULL), STORE_OK);
    f->a = arena_create();
    struct store *s = f->s;
    struct store_coll c;
    struct store_item it;
    assert_int_equal(store_begin_write(s), STORE_OK);
    assert_int_equal(store_principal_add(s, "alice", "hash1", f->a, &f->p), STORE_OK);
    assert_int_equal(store_coll_create(s, f->p.home_id, "cal", STORE_COLL_CALENDAR, f->a, &c),
                     STORE_OK);
    f->cal = c.id;
    assert_int_equal(store_coll_create(s, f->p.home_id, "cal2", STORE_COLL_CALENDAR, f->a, &c),
                     STORE_OK);
    f->cal2 = c.id;
    assert_int_equal(store_coll_create(s, f->p.home_id, "dir", STORE_COLL_PLAIN, f->a, &c),
                     STORE_OK);
    f->plain = c.id;
    assert_int_equal(store_coll_create(s, f->plain, "sub", STORE_COLL_PLAIN, f->a, &c), STORE_OK);
    f->sub = c.id;
    struct store_item_in a = item_in("BEGIN:VCALENDAR\r\nA\r\nEND:VCALENDAR\r\n", "uid-a");
    struct store_item_in b = item_in("BEGIN:VCALENDAR\r\nB\r\nEND:VCALENDAR\r\n", "uid-b");
    struct store_item_in g = item_in("BEGIN:VCALENDAR\r\nG\r\nEND:VCALENDAR\r\n", "uid-g");
    assert_int_equal(store_item_put(s, f->cal, "a.ics", &a, f->a, &it, NULL), STORE_OK);
    f->item_a = it.id;
    assert_int_equal(store_item_put(s, f->cal, "b.ics", &b, f->a, NULL, NULL), STORE_OK);
    assert_int_equal(store_item_put(s, f->cal, "gone.ics", &g, f->a, NULL, NULL), STORE_OK);
    assert_int_equal(store_item_delete(s, f->cal, "gone.ics"), STORE_OK);
    assert_int_equal(store_prop_set(s, STORE_RES_ITEM, f->item_a, &prop_color), STORE_OK);
    assert_int_equal(store_prop_set(s, STORE_RES_COLL, f->cal, &prop_color), STORE_OK);
    struct store_eas_device d;
    assert_int_equal(
        store_eas_device_touch(s, f->p.id, "DEV1", "phone", "ua", "14.1", 1000, 0, f->a, &d),
        STORE_OK);
    f->dev = d.id;
    struct store_eas_sync st = {.device = f->dev,
                                .coll = f->cal,
                                .key_cur = "2",
                                .key_prev = "1",
                                .cursor = 3,
                                .coll_epoch = 1,
                                .updated = 1000};
    assert_int_equal(store_eas_sync_put(s, &st), STORE_OK);
    assert_int_equal(store_eas_member_put(s, f->dev, f->cal, f->item_a, 3), STORE_OK);
    assert_int_equal(store_eas_blob_put(s, f->dev, "ping", "abc", 3), STORE_OK);
    assert_int_equal(store_principal_add(s, "bob", "hashb", f->a, &f->bob), STORE_OK);
    assert_int_equal(
        store_share_set(s, f->cal, f->bob.id, STORE_SHARE_READ, NULL, f->a, NULL, NULL), STORE_OK);
    assert_int_equal(store_sched_addr_add(s, f->p.id, "mailto:alice@example.org", f->a), STORE_OK);
    assert_int_equal(store_commit(s), STORE_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    store_fault_disarm();
    store_close(&f->s);
    arena_destroy(&f->a);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* The committed state, every row of every table, through a connection of its own */

static void dump_table(sqlite3 *db, const char *table, struct buf *out)
{
    char sql[160];
    snprintf(sql, sizeof(sql), "SELECT * FROM \"%s\"", table);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(buf_appendf(out, "[%s]\n", table), 0);
    while (sqlite3_step(st) == SQLITE_ROW) {
        for (int i = 0; i < sqlite3_column_count(st); i++) {
            int t = sqlite3_column_type(st, i);
            if (t == SQLITE_NULL) {
                assert_int_equal(buf_append_cstr(out, "NULL|"), 0);
            } else if (t == SQLITE_INTEGER) {
                assert_int_equal(buf_appendf(out, "%lld|", sqlite3_column_int64(st, i)), 0);
            } else {
                const unsigned char *p = sqlite3_column_blob(st, i);
                int n = sqlite3_column_bytes(st, i);
                for (int k = 0; k < n; k++) {
                    assert_int_equal(buf_appendf(out, "%02x", p[k]), 0);
                }
                assert_int_equal(buf_putc(out, '|'), 0);
            }
        }
        assert_int_equal(buf_putc(out, '\n'), 0);
    }
    sqlite3_finalize(st);
}

/* A malloc'd text of the whole committed store; the caller frees it. */
static char *dump(struct fixture *f)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/almanac.db", f->dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT name FROM sqlite_master WHERE type = 'table' "
                                        "ORDER BY name",
                                        -1, &st, NULL),
                     SQLITE_OK);
    struct buf out;
    buf_init(&out, 16u << 20);
    while (sqlite3_step(st) == SQLITE_ROW) {
        dump_table(db, (const char *)sqlite3_column_text(st, 0), &out);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    char *text = strdup(out.data ? out.data : "");
    buf_deinit(&out);
    return text;
}

/* ---------------------------------------------------------------------------------------- */
/* The writes of store.h, each as one caller would run it inside its write transaction */

typedef enum store_rc write_fn(struct fixture *f);

static enum store_rc put_create(struct fixture *f)
{
    struct store_item_in in = item_in("BEGIN:VCALENDAR\r\nN\r\nEND:VCALENDAR\r\n", "uid-n");
    bool created = false;
    struct store_item out;
    return store_item_put(f->s, f->cal, "new.ics", &in, f->a, &out, &created);
}

static enum store_rc put_replace(struct fixture *f)
{
    struct store_item_in in = item_in("BEGIN:VCALENDAR\r\nA2\r\nEND:VCALENDAR\r\n", "uid-a");
    return store_item_put(f->s, f->cal, "a.ics", &in, f->a, NULL, NULL);
}

static enum store_rc item_delete(struct fixture *f)
{
    return store_item_delete(f->s, f->cal, "a.ics");
}

static enum store_rc item_rename(struct fixture *f)
{
    return store_item_move(f->s, f->cal, "a.ics", f->cal, "c.ics");
}

static enum store_rc item_move_away(struct fixture *f)
{
    return store_item_move(f->s, f->cal, "a.ics", f->cal2, "a.ics");
}

static enum store_rc item_touch(struct fixture *f)
{
    return store_item_touch(f->s, f->cal, "b.ics");
}

/* COPY as dav/copymove.c runs it: the new item, then its dead properties. */
static enum store_rc item_copy(struct fixture *f)
{
    struct store_item it;
    enum store_rc rc = store_item_get(f->s, f->cal, "a.ics", STORE_ITEM_CONTENT, f->a, &it);
    struct store_item_in in = item_in("", NULL);
    in.content = it.content;
    in.size = it.size;
    struct store_item copy;
    if (rc == STORE_OK) {
        rc = store_item_put(f->s, f->cal2, "a.ics", &in, f->a, &copy, NULL);
    }
    if (rc == STORE_OK) {
        rc = store_prop_copy(f->s, STORE_RES_ITEM, it.id, STORE_RES_ITEM, copy.id);
    }
    return rc;
}

static enum store_rc coll_create(struct fixture *f)
{
    struct store_coll c;
    enum store_rc rc = store_coll_create(f->s, f->p.home_id, "cal3", STORE_COLL_CALENDAR, f->a, &c);
    return rc == STORE_OK ? store_coll_set_comps(f->s, c.id, 1) : rc;
}

static enum store_rc coll_delete(struct fixture *f)
{
    return store_coll_delete(f->s, f->cal);
}

static enum store_rc coll_move(struct fixture *f)
{
    return store_coll_move(f->s, f->sub, f->p.home_id, "sub2");
}

static enum store_rc coll_touch(struct fixture *f)
{
    uint64_t modseq = 0;
    return store_coll_touch(f->s, f->cal, &modseq);
}

static enum store_rc coll_reset(struct fixture *f)
{
    return store_coll_reset_history(f->s, f->cal);
}

static enum store_rc coll_prune(struct fixture *f)
{
    return store_coll_prune_tombstones(f->s, f->cal, INT64_MAX);
}

/* PROPPATCH as dav/proppatch.c runs it: set, remove, then the modseq bump. */
static enum store_rc proppatch(struct fixture *f)
{
    static const struct store_prop p = {"urn:x-test:", "shade", "<x>dark</x>", 11};
    enum store_rc rc = store_prop_set(f->s, STORE_RES_ITEM, f->item_a, &p);
    if (rc == STORE_OK) {
        rc = store_prop_del(f->s, STORE_RES_ITEM, f->item_a, "urn:x-test:", "color");
    }
    return rc == STORE_OK ? store_item_touch(f->s, f->cal, "a.ics") : rc;
}

static enum store_rc principal_add(struct fixture *f)
{
    struct store_principal p;
    return store_principal_add(f->s, "carol", "hash3", f->a, &p);
}

static enum store_rc principal_passwd(struct fixture *f)
{
    return store_principal_set_pwhash(f->s, "alice", "hash2");
}

static enum store_rc principal_del(struct fixture *f)
{
    return store_principal_del(f->s, "alice");
}

static enum store_rc share_grant(struct fixture *f)
{
    return store_share_set(f->s, f->cal2, f->bob.id, STORE_SHARE_READ_WRITE, NULL, f->a, NULL,
                           NULL);
}

static enum store_rc share_change(struct fixture *f)
{
    return store_share_set(f->s, f->cal, f->bob.id, STORE_SHARE_READ_WRITE, NULL, f->a, NULL, NULL);
}

static enum store_rc share_revoke(struct fixture *f)
{
    return store_share_del(f->s, f->cal, f->bob.id);
}

static enum store_rc addr_add(struct fixture *f)
{
    return store_sched_addr_add(f->s, f->bob.id, "mailto:Bob@Example.org", f->a);
}

static enum store_rc addr_del(struct fixture *f)
{
    return store_sched_addr_del(f->s, f->p.id, "mailto:alice@example.org", f->a);
}

static enum store_rc device_touch_known(struct fixture *f)
{
    struct store_eas_device d;
    return store_eas_device_touch(f->s, f->p.id, "dev1", "phone2", "ua2", "16.1", 2000, 5, f->a,
                                  &d);
}

static enum store_rc device_touch_new(struct fixture *f)
{
    struct store_eas_device d;
    return store_eas_device_touch(f->s, f->p.id, "DEV2", "tablet", NULL, NULL, 2000, 5, f->a, &d);
}

/* Provision and Settings: the policy keys, then the DeviceInformation. */
static enum store_rc device_provision(struct fixture *f)
{
    struct store_eas_device info = {.model = "m", .os = "os", .friendly_name = "phone"};
    enum store_rc rc = store_eas_device_set_policy(f->s, f->dev, 7, 0);
    return rc == STORE_OK ? store_eas_device_set_info(f->s, f->dev, &info) : rc;
}

static enum store_rc device_del(struct fixture *f)
{
    return store_eas_device_del(f->s, f->p.id, "DEV1");
}

static enum store_rc blobs(struct fixture *f)
{
    enum store_rc rc = store_eas_blob_put(f->s, f->dev, "hierarchy", "xyz", 3);
    return rc == STORE_OK ? store_eas_blob_del(f->s, f->dev, "ping") : rc;
}

/* A Sync round as eas/cmd_sync.c commits it: members, then the new state. */
static enum store_rc sync_round(struct fixture *f)
{
    struct store_eas_sync st = {.device = f->dev,
                                .coll = f->cal,
                                .key_cur = "3",
                                .key_prev = "2",
                                .cursor = 5,
                                .coll_epoch = 1,
                                .answer = "answer",
                                .answer_len = 6,
                                .updated = 2000};
    struct store_item b;
    enum store_rc rc = store_item_get(f->s, f->cal, "b.ics", STORE_ITEM_META, f->a, &b);
    if (rc == STORE_OK) {
        rc = store_eas_member_put(f->s, f->dev, f->cal, b.id, b.modseq);
    }
    if (rc == STORE_OK) {
        rc = store_eas_member_del(f->s, f->dev, f->cal, f->item_a);
    }
    return rc == STORE_OK ? store_eas_sync_put(f->s, &st) : rc;
}

static enum store_rc sync_new_and_reset(struct fixture *f)
{
    struct store_eas_sync st = {
        .device = f->dev, .coll = f->cal2, .key_cur = "1", .cursor = 0, .updated = 2000};
    enum store_rc rc = store_eas_sync_put(f->s, &st);
    return rc == STORE_OK ? store_eas_sync_reset(f->s, f->dev, f->cal) : rc;
}

/* ---------------------------------------------------------------------------------------- */
/* The loop */

static enum store_rc expected_rc(enum store_fault_err err, bool at_prepare)
{
    if (at_prepare) {
        return STORE_IO; /* a statement that cannot be had is an I/O failure, whatever the class */
    }
    return err == STORE_FAULT_BUSY || err == STORE_FAULT_LOCKED ? STORE_BUSY : STORE_IO;
}

/* Runs `fn` in a write transaction with fault N armed, for N = 1, 2, ... (see the file
 * comment); returns how many runs failed. With `persist`, every point from N on fails. */
static unsigned run_faults(
    struct fixture *f, const char *name, write_fn *fn, enum store_fault_err err, bool persist)
{
    char *before = dump(f);
    unsigned failed_runs = 0;
    for (uint64_t n = 1;; n++) {
        if (n > 500) {
            fail_msg("%s: still faulting after 500 points", name);
        }
        struct store_fault_plan plan = {
            .op = STORE_FAULT_STMT, .nth = n, .err = err, .persist = persist};
        store_fault_arm(&plan);
        enum store_rc rc = store_begin_write(f->s);
        if (rc == STORE_OK) {
            rc = fn(f);
            if (rc == STORE_OK) {
                rc = store_commit(f->s);
            }
            if (rc != STORE_OK) {
                store_rollback(f->s);
            }
        }
        uint64_t fired = store_fault_fired();
        bool at_prepare = store_fault_fired_at_prepare();
        store_fault_disarm();
        if (store_in_txn(f->s)) {
            fail_msg("%s: fault %llu left a transaction open", name, (unsigned long long)n);
        }
        if (fired == 0) {
            if (rc != STORE_OK) {
                fail_msg("%s: no fault at %llu yet rc=%d (%s)", name, (unsigned long long)n,
                         (int)rc, store_last_error(f->s));
            }
            break;
        }
        failed_runs++;
        if (rc != expected_rc(err, at_prepare)) {
            fail_msg("%s: fault %llu (%s) returned rc=%d, want %d (%s)", name,
                     (unsigned long long)n, at_prepare ? "prepare" : "step", (int)rc,
                     (int)expected_rc(err, at_prepare), store_last_error(f->s));
        }
        char *after = dump(f);
        if (strcmp(before, after) != 0) {
            fail_msg("%s: fault %llu left a partial write:\nbefore:\n%s\nafter:\n%s", name,
                     (unsigned long long)n, before, after);
        }
        free(after);
    }
    char *done = dump(f);
    if (strcmp(before, done) == 0) {
        fail_msg("%s: the run without a fault changed nothing", name);
    }
    free(done);
    free(before);
    return failed_runs;
}

static const struct {
    const char *name;
    write_fn *fn;
    bool sample; /* also run for the classes that map like another (full disk, locked) */
} writes[] = {
    {"item put (create)", put_create, true},
    {"item put (replace)", put_replace, false},
    {"item delete", item_delete, true},
    {"item move (rename)", item_rename, false},
    {"item move (to another collection)", item_move_away, true},
    {"item touch", item_touch, false},
    {"item copy with properties", item_copy, false},
    {"collection create", coll_create, false},
    {"collection delete", coll_delete, true},
    {"collection move", coll_move, false},
    {"collection touch", coll_touch, false},
    {"collection history reset", coll_reset, false},
    {"collection tombstone prune", coll_prune, false},
    {"dead properties set, remove, touch", proppatch, false},
    {"principal add", principal_add, false},
    {"principal password", principal_passwd, false},
    {"principal delete", principal_del, false},
    {"share grant", share_grant, true},
    {"share access change", share_change, false},
    {"share revoke", share_revoke, false},
    {"calendar user address add", addr_add, true},
    {"calendar user address delete", addr_del, false},
    {"ActiveSync device touch (known)", device_touch_known, false},
    {"ActiveSync device touch (new)", device_touch_new, true},
    {"ActiveSync policy and device information", device_provision, false},
    {"ActiveSync device delete", device_del, false},
    {"ActiveSync blobs", blobs, false},
    {"ActiveSync sync round", sync_round, true},
    {"ActiveSync sync state create and reset", sync_new_and_reset, false},
};

/* Every write (or with `sample` the sampled ones), each on a fresh fixture (a successful run
 * changes it). */
static void check_writes(enum store_fault_err err, bool persist, bool sample)
{
    for (size_t i = 0; i < ALM_ARRAY_LEN(writes); i++) {
        if (sample && !writes[i].sample) {
            continue;
        }
        void *state = NULL;
        setup(&state);
        unsigned runs = run_faults(state, writes[i].name, writes[i].fn, err, persist);
        /* at least BEGIN, the write's statements and COMMIT failed once each */
        if (runs < 4) {
            fail_msg("%s: only %u fault points", writes[i].name, runs);
        }
        teardown(&state);
    }
}

static void test_store_faults_io_leave_no_partial_write(void **state)
{
    (void)state;
    check_writes(STORE_FAULT_IO, false, false);
}

/* SQLITE_FULL maps as SQLITE_IOERR does (store_db_fail), and SQLITE_LOCKED as SQLITE_BUSY: a
 * sample of the writes shows it, the whole list runs for I/O and busy. */
static void test_store_faults_full_disk_leave_no_partial_write(void **state)
{
    (void)state;
    check_writes(STORE_FAULT_FULL, false, true);
}

static void test_store_faults_busy_map_to_store_busy(void **state)
{
    (void)state;
    check_writes(STORE_FAULT_BUSY, false, false);
}

static void test_store_faults_locked_map_to_store_busy(void **state)
{
    (void)state;
    check_writes(STORE_FAULT_LOCKED, false, true);
}

/* SQLite's "persistent" faultsim: once the disk fails it keeps failing, the rollback aside. */
static void test_store_faults_persistent_io_leave_no_partial_write(void **state)
{
    (void)state;
    check_writes(STORE_FAULT_IO, true, false);
}

/* ---------------------------------------------------------------------------------------- */
/* Reads */

struct count_ctx {
    unsigned n;
};

static int count_prop(void *ctx, const struct store_prop *p)
{
    (void)p;
    ((struct count_ctx *)ctx)->n++;
    return 0;
}

/* Everything a PROPFIND, a sync-collection REPORT, a time-range REPORT and an ActiveSync
 * window read: cursors walked to their end, an item with content, a property listing.
 * STORE_OK when all ran. */
static enum store_rc read_all(struct fixture *f, unsigned *rows_out)
{
    struct store_cursor *c = NULL;
    enum store_rc rc = store_begin_read(f->s);
    if (rc == STORE_OK) {
        rc = store_changes_open(f->s, f->cal, 0, &c);
    }
    unsigned rows = 0;
    struct store_item it;
    while (rc == STORE_OK && (rc = store_cursor_next_item(c, &it)) == STORE_OK) {
        rows++;
    }
    store_cursor_close(&c);
    if (rc == STORE_NOTFOUND) {
        rc = store_items_in_range_open(f->s, f->cal, 0, 2000, STORE_RANGE_INSTANCES, &c);
    }
    while (rc == STORE_OK && (rc = store_cursor_next_item(c, &it)) == STORE_OK) {
        rows++;
    }
    store_cursor_close(&c);
    if (rc == STORE_NOTFOUND) {
        rc = store_item_get(f->s, f->cal, "a.ics", STORE_ITEM_CONTENT, f->a, &it);
    }
    struct count_ctx props = {0};
    if (rc == STORE_OK) {
        rc = store_prop_list(f->s, STORE_RES_ITEM, it.id, count_prop, &props);
    }
    if (rc == STORE_OK) {
        rc = store_commit(f->s);
    }
    store_rollback(f->s);
    *rows_out = rows;
    return rc;
}

static void test_store_faults_fail_reads_cleanly_mid_stream(void **state)
{
    struct fixture *f = *state;
    char *before = dump(f);
    for (uint64_t n = 1;; n++) {
        assert_true(n < 200);
        struct store_fault_plan plan = {
            .op = STORE_FAULT_STMT, .nth = n, .err = STORE_FAULT_IO, .persist = false};
        store_fault_arm(&plan);
        unsigned rows = 0;
        enum store_rc rc = read_all(f, &rows);
        uint64_t fired = store_fault_fired();
        store_fault_disarm();
        assert_false(store_in_txn(f->s));
        if (fired == 0) {
            assert_int_equal(rc, STORE_OK);
            /* a.ics, b.ics and gone.ics's tombstone; a.ics and b.ics in range */
            assert_int_equal(rows, 5);
            break;
        }
        assert_int_equal(rc, STORE_IO);
        assert_true(rows <= 5);
    }
    char *after = dump(f);
    assert_string_equal(before, after);
    free(before);
    free(after);
}

/* ---------------------------------------------------------------------------------------- */
/* The seam itself */

static void test_store_faults_parse_plans(void **state)
{
    (void)state;
    struct store_fault_plan p;
    assert_int_equal(store_fault_parse("stmt=3", &p), 0);
    assert_int_equal(p.op, STORE_FAULT_STMT);
    assert_int_equal(p.nth, 3);
    assert_int_equal(p.err, STORE_FAULT_IO);
    assert_false(p.persist);
    assert_int_equal(store_fault_parse("err=busy,stmt=12,persist", &p), 0);
    assert_int_equal(p.nth, 12);
    assert_int_equal(p.err, STORE_FAULT_BUSY);
    assert_true(p.persist);
    assert_int_equal(store_fault_parse("fsync=1", &p), 0);
    assert_int_equal(p.op, STORE_FAULT_FSYNC);
    assert_int_equal(store_fault_parse("stmt=2,err=full", &p), 0);
    assert_int_equal(p.err, STORE_FAULT_FULL);
    assert_int_equal(store_fault_parse("stmt=2,err=locked", &p), 0);
    assert_int_equal(p.err, STORE_FAULT_LOCKED);
    static const char *const bad[] = {"",        "stmt",           "stmt=",     "stmt=x",
                                      "stmt=-1", "stmt=1,err=odd", "err=io",    "stmt=1,fsync=2",
                                      "what=1",  "stmt=1,",        "persist=1", "stmt=1x"};
    for (size_t i = 0; i < ALM_ARRAY_LEN(bad); i++) {
        if (store_fault_parse(bad[i], &p) == 0) {
            fail_msg("parsed \"%s\"", bad[i]);
        }
    }
}

/* A plan with N = 0 counts the points and fails none: the measure of an operation. */
static void test_store_faults_count_points_without_failing(void **state)
{
    struct fixture *f = *state;
    struct store_fault_plan plan = {
        .op = STORE_FAULT_STMT, .nth = 0, .err = STORE_FAULT_IO, .persist = false};
    store_fault_arm(&plan);
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    assert_int_equal(put_create(f), STORE_OK);
    assert_int_equal(store_commit(f->s), STORE_OK);
    uint64_t points = store_fault_points();
    store_fault_disarm();
    assert_int_equal(store_fault_fired(), 0);
    /* BEGIN and COMMIT (fetch and step each), and at least the name, uid, bump, upsert and
     * content statements in between */
    assert_true(points >= 4 + 10);
    /* disarmed: nothing counts */
    assert_int_equal(store_begin_read(f->s), STORE_OK);
    assert_int_equal(store_rollback(f->s), STORE_OK);
    assert_int_equal(store_fault_points(), points);
}

/* A failed fsync of the log poisons the barrier (store_flush.h): the commit whose flush failed
 * and every later one report STORE_IO; the data is committed but not known durable, and a new
 * connection (a restarted server) reads it. */
static void test_store_faults_failed_fsync_poisons_commits(void **state)
{
    struct fixture *f = *state;
    struct store_fault_plan plan = {
        .op = STORE_FAULT_FSYNC, .nth = 1, .err = STORE_FAULT_IO, .persist = false};
    store_fault_arm(&plan);
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    assert_int_equal(put_create(f), STORE_OK);
    assert_int_equal(store_commit(f->s), STORE_IO);
    assert_non_null(strstr(store_last_error(f->s), "fsync"));
    assert_int_equal(store_fault_fired(), 1);
    store_fault_disarm();
    assert_false(store_in_txn(f->s));
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    assert_int_equal(item_touch(f), STORE_OK);
    assert_int_equal(store_commit(f->s), STORE_IO);
    /* reads still work on the poisoned connection */
    struct store_item it;
    assert_int_equal(store_begin_read(f->s), STORE_OK);
    assert_int_equal(store_item_get(f->s, f->cal, "new.ics", STORE_ITEM_META, f->a, &it), STORE_OK);
    assert_int_equal(store_rollback(f->s), STORE_OK);
    store_close(&f->s);
    assert_int_equal(store_open(f->dir, &f->s, NULL), STORE_OK);
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    assert_int_equal(item_touch(f), STORE_OK);
    assert_int_equal(store_commit(f->s), STORE_OK);
}

int main(void)
{
    if (!store_fault_available()) {
        puts("test_faults: skipped, this build has no fault seam (ALMANAC_FAULTS=OFF)");
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_faults_parse_plans),
        cmocka_unit_test_setup_teardown(test_store_faults_count_points_without_failing, setup,
                                        teardown),
        cmocka_unit_test(test_store_faults_io_leave_no_partial_write),
        cmocka_unit_test(test_store_faults_full_disk_leave_no_partial_write),
        cmocka_unit_test(test_store_faults_busy_map_to_store_busy),
        cmocka_unit_test(test_store_faults_locked_map_to_store_busy),
        cmocka_unit_test(test_store_faults_persistent_io_leave_no_partial_write),
        cmocka_unit_test_setup_teardown(test_store_faults_fail_reads_cleanly_mid_stream, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_faults_failed_fsync_poisons_commits, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
