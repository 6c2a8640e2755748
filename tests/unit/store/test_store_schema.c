/* tests/unit/store/test_store_schema.c: the SQLite engine's schema. Migrations: a store made
 * by an older build (its schema built by the real migration scripts up to that version,
 * versioned by PRAGMA user_version only, with items, content and tombstones written as that
 * build wrote them) opens with its data intact; a store newer than the build is refused.
 * Integrity: deletes through store.h leave no orphan row behind. Talks SQL only to make old
 * stores and to count rows store.h cannot see. */
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
#include "store/store_schema.h"

enum {
    BIG_ITEM_BYTES = 20000, /* several overflow pages: the move to item_content copies them */
};

struct fixture {
    char dir[64];
    char path[96];
    struct arena *a;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/almanac-migrate-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/almanac.db", f->dir);
    f->a = arena_create();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    arena_destroy(&f->a);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void exec_ok(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        fail_msg("sql failed: %s", msg ? msg : "?");
    }
}

/* Data as an older build wrote it: alice's home (1) and calendar (2, modseq 4) holding
 * a.ics (modseq 2, a span, 5 bytes), big.ics (modseq 3, BIG_ITEM_BYTES) and the tombstone of
 * gone.ics, whose id 3 was the newest one given. */
static const char legacy_rows[] =
    "INSERT INTO principals(id, name, pwhash, home_id) VALUES (1, 'alice', 'h', 1);"
    "INSERT INTO collections(id, owner, parent, kind, name, modseq, epoch, change_guid, "
    "tomb_horizon, created, updated) VALUES "
    "(1, 1, NULL, 0, '', 2, 7, zeroblob(16), 0, 0, 0), "
    "(2, 1, 1, 2, 'cal', 4, 7, zeroblob(16), 0, 0, 0);"
    "INSERT INTO items(id, coll, name, uid, content_type, size, modseq, created_modseq, mtime, "
    "dtstart, dtend, content) VALUES "
    "(1, 2, 'a.ics', 'ua', 'text/calendar', 5, 2, 2, 0, 100, 200, CAST('hello' AS BLOB)), "
    "(2, 2, 'big.ics', 'ub', 'text/calendar', 20000, 3, 3, 0, NULL, NULL, "
    "randomblob(20000)), "
    "(3, 2, 'gone.ics', 'uc', 'text/calendar', 1, 1, 1, 0, NULL, NULL, X'00');"
    "DELETE FROM items WHERE id = 3;"
    "INSERT INTO tombstones(coll, item_id, name, modseq, created_modseq, deleted_at) "
    "VALUES (2, 3, 'gone.ics', 4, 1, 0);";

/* Builds the store as the build whose newest migration was `version` left it, and returns
 * a copy of big.ics's content into *big_out (BIG_ITEM_BYTES, caller frees). */
static void make_legacy_store(struct fixture *f, int version, unsigned char **big_out)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    exec_ok(db, "PRAGMA journal_mode = WAL; BEGIN");
    for (unsigned i = 0; i < store_migration_count; i++) {
        if (store_migrations[i].version <= version) {
            exec_ok(db, store_migrations[i].sql);
        }
    }
    exec_ok(db, legacy_rows);
    char pragma[64];
    snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", version);
    exec_ok(db, pragma);
    exec_ok(db, "COMMIT");
    sqlite3_stmt *st = NULL;
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT content FROM items WHERE id = 2", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_bytes(st, 0), BIG_ITEM_BYTES);
    *big_out = malloc(BIG_ITEM_BYTES);
    memcpy(*big_out, sqlite3_column_blob(st, 0), BIG_ITEM_BYTES);
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static void check_legacy_data(struct fixture *f, struct store *s, const unsigned char *big)
{
    struct store_item it;
    assert_int_equal(store_begin_write(s), STORE_OK);
    assert_int_equal(store_item_get(s, 2, "a.ics", STORE_ITEM_CONTENT, f->a, &it), STORE_OK);
    assert_int_equal(it.id, 1);
    assert_int_equal(it.size, 5);
    assert_memory_equal(it.content, "hello", 5);
    assert_string_equal(it.cal.uid, "ua");
    assert_true(it.cal.has_span);
    assert_int_equal(it.cal.dtstart_utc, 100);
    assert_int_equal(it.cal.dtend_utc, 200);
    assert_int_equal(it.modseq, 2);
    assert_int_equal(store_item_get(s, 2, "big.ics", STORE_ITEM_CONTENT, f->a, &it), STORE_OK);
    assert_int_equal(it.size, BIG_ITEM_BYTES);
    assert_memory_equal(it.content, big, BIG_ITEM_BYTES);
    /* the change log survived: both live items, then the tombstone */
    struct store_cursor *cur = NULL;
    assert_int_equal(store_changes_open(s, 2, 0, &cur), STORE_OK);
    uint64_t ids[4];
    size_t n = 0;
    while (store_cursor_next_item(cur, &it) == STORE_OK) {
        assert_true(n < 4);
        ids[n++] = it.id;
    }
    store_cursor_close(&cur);
    assert_int_equal(n, 3);
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[1], 2);
    assert_int_equal(ids[2], 3);
    /* 010: the interval index was filled from the rows: a.ics (span 100-200) is found by a
     * range inside its span, by span and by instance, and not by a range after it */
    for (int by = STORE_RANGE_SPAN; by <= STORE_RANGE_INSTANCES; by++) {
        assert_int_equal(store_items_in_range_open(s, 2, 150, 160, by, &cur), STORE_OK);
        assert_int_equal(store_cursor_next_item(cur, &it), STORE_OK);
        assert_int_equal(it.id, 1);
        assert_int_equal(store_cursor_next_item(cur, &it), STORE_NOTFOUND);
        store_cursor_close(&cur);
        assert_int_equal(store_items_in_range_open(s, 2, 200, 300, by, &cur), STORE_OK);
        assert_int_equal(store_cursor_next_item(cur, &it), STORE_NOTFOUND);
        store_cursor_close(&cur);
    }
    /* 007: a principal from before the credential generation has one, and a principal
     * added after the migration gets another */
    struct store_principal pa, pb;
    assert_int_equal(store_principal_get(s, "alice", f->a, &pa), STORE_OK);
    assert_int_equal(store_principal_add(s, "bob", "hb", f->a, &pb), STORE_OK);
    assert_true(pa.cred_gen != 0 && pb.cred_gen != 0 && pa.cred_gen != pb.cred_gen);
    /* exchange-replication.md §1.2: ids are never reused, across the migration too */
    struct store_item_in in = {.content = "new", .size = 3, .content_type = "text/calendar"};
    assert_int_equal(store_item_put(s, 2, "new.ics", &in, f->a, &it, NULL), STORE_OK);
    assert_true(it.id > 3);
    assert_int_equal(it.modseq, 5);
    /* deleting an item takes its content along (no orphan blocks a later id) */
    assert_int_equal(store_item_delete(s, 2, "big.ics"), STORE_OK);
    assert_int_equal(store_commit(s), STORE_OK);
}

static void test_store_migrates_a_store_from_each_older_schema(void **state)
{
    static const int legacy_versions[] = {1, 2};

    for (size_t i = 0; i < sizeof(legacy_versions) / sizeof(legacy_versions[0]); i++) {
        struct fixture *f = *state;
        unlink(f->path);
        char side[128];
        snprintf(side, sizeof(side), "%s-wal", f->path);
        unlink(side);
        snprintf(side, sizeof(side), "%s-shm", f->path);
        unlink(side);
        unsigned char *big = NULL;
        make_legacy_store(f, legacy_versions[i], &big);
        struct store *s = NULL;
        const char *msg = NULL;
        assert_int_equal(store_open(f->dir, &s, &msg), STORE_OK);
        check_legacy_data(f, s, big);
        store_close(&s);
        /* and again: nothing is migrated twice */
        assert_int_equal(store_open(f->dir, &s, &msg), STORE_OK);
        struct store_item it;
        assert_int_equal(store_begin_read(s), STORE_OK);
        assert_int_equal(store_item_get(s, 2, "new.ics", STORE_ITEM_CONTENT, f->a, &it), STORE_OK);
        assert_memory_equal(it.content, "new", 3);
        assert_int_equal(store_commit(s), STORE_OK);
        store_close(&s);
        free(big);
    }
}

static void test_store_refuses_a_schema_newer_than_the_build(void **state)
{
    struct fixture *f = *state;
    struct store *s = NULL;
    assert_int_equal(store_open(f->dir, &s, NULL), STORE_OK);
    store_close(&s);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    exec_ok(db, "INSERT INTO schema_version(version, applied_at) VALUES (999, 0)");
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    const char *msg = NULL;
    assert_int_equal(store_open(f->dir, &s, &msg), STORE_IO);
    assert_null(s);
    assert_non_null(msg);
}

/* The number of rows `sql` counts. */
static int64_t count_rows(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

static void test_store_deletes_leave_no_orphan_rows(void **state)
{
    struct fixture *f = *state;
    struct store *s = NULL;
    assert_int_equal(store_open(f->dir, &s, NULL), STORE_OK);
    assert_int_equal(store_begin_write(s), STORE_OK);
    struct store_principal bob;
    struct store_principal carol;
    assert_int_equal(store_principal_add(s, "bob", "h", f->a, &bob), STORE_OK);
    assert_int_equal(store_principal_add(s, "carol", "h", f->a, &carol), STORE_OK);
    struct store_coll tree;
    struct store_coll leaf;
    struct store_coll kept;
    assert_int_equal(store_coll_create(s, bob.home_id, "tree", STORE_COLL_PLAIN, f->a, &tree),
                     STORE_OK);
    assert_int_equal(store_coll_create(s, tree.id, "leaf", STORE_COLL_CALENDAR, f->a, &leaf),
                     STORE_OK);
    assert_int_equal(store_coll_create(s, carol.home_id, "kept", STORE_COLL_CALENDAR, f->a, &kept),
                     STORE_OK);
    struct store_prop p = {"urn:z", "p", "v", 1};
    const uint64_t colls[] = {tree.id, leaf.id, kept.id, carol.home_id};
    char name[16];
    for (size_t c = 0; c < sizeof(colls) / sizeof(colls[0]); c++) {
        assert_int_equal(store_prop_set(s, STORE_RES_COLL, colls[c], &p), STORE_OK);
        for (int i = 0; i < 50; i++) {
            snprintf(name, sizeof(name), "i%d", i);
            struct store_item_in in = {.content = name, .size = strlen(name), .content_type = "x"};
            struct store_item it;
            assert_int_equal(store_item_put(s, colls[c], name, &in, f->a, &it, NULL), STORE_OK);
            assert_int_equal(store_prop_set(s, STORE_RES_ITEM, it.id, &p), STORE_OK);
        }
        assert_int_equal(store_item_delete(s, colls[c], "i0"), STORE_OK); /* a tombstone */
    }
    assert_int_equal(store_item_delete(s, kept.id, "i1"), STORE_OK);
    assert_int_equal(store_coll_delete(s, tree.id), STORE_OK); /* with leaf below it */
    assert_int_equal(store_principal_del(s, "bob"), STORE_OK);
    assert_int_equal(store_commit(s), STORE_OK);
    store_close(&s);

    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);

    static const struct {
        const char *what;
        const char *sql;
        int64_t want;
    } checks[] = {
        {"content without item",
         "SELECT count(*) FROM item_content WHERE id NOT IN (SELECT id FROM items)", 0},
        {"item without content",
         "SELECT count(*) FROM items WHERE id NOT IN (SELECT id FROM item_content)", 0},
        {"item props without item",
         "SELECT count(*) FROM props WHERE res_kind = 1 AND res_id NOT IN (SELECT id FROM items)",
         0},
        {"collection props without collection",
         "SELECT count(*) FROM props WHERE res_kind = 0 AND res_id NOT IN "
         "(SELECT id FROM collections)",
         0},
        {"tombstones without collection",
         "SELECT count(*) FROM tombstones WHERE coll NOT IN (SELECT id FROM collections)", 0},
        /* carol's home and "kept": 49 + 48 items, their 3 tombstones, 2 + 97 properties */
        {"collections left", "SELECT count(*) FROM collections", 2},
        {"items left", "SELECT count(*) FROM items", 97},
        {"tombstones left", "SELECT count(*) FROM tombstones", 3},
        {"props left", "SELECT count(*) FROM props", 99},
    };

    for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
        int64_t n = count_rows(db, checks[i].sql);
        if (n != checks[i].want) {
            fail_msg("%s: %lld rows, want %lld", checks[i].what, (long long)n,
                     (long long)checks[i].want);
        }
    }
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_store_migrates_a_store_from_each_older_schema, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_refuses_a_schema_newer_than_the_build, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_deletes_leave_no_orphan_rows, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
