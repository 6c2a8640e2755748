/* tests/unit/store/test_store_migrate.c: store_migrate() (store_migrate.h), a SQLite store
 * copied into PostgreSQL 15: run under ctest, the binary re-executes itself through
 * tests/integration/pgcluster.py, which starts a private cluster and passes its URI in
 * ALMANAC_PG_URI; each test copies into a database of its own. Covers: ids, modseqs, epochs,
 * change GUIDs, horizons, tombstones, dead properties, the GUID and secret kept; the id
 * sequences past an id a deleted last item held (SQLite's AUTOINCREMENT) and the credential
 * generation past the source's counter; the interval index turned from SQLite's R*Tree
 * minutes into PostgreSQL's boxes (a box's own range finds its item, and PostgreSQL never
 * answers an item SQLite would not); the refusals: a non-empty target, an unknown column,
 * a source written during the copy, a missing source, a target of the wrong kind, each
 * leaving the target empty. */
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

#include "pg_cluster.h"
#include "store/store.h"
#include "store/store_migrate.h"
#include "store/store_pg_int.h"
#include "store/store_schema.h"

enum {
    N_ITEMS = 60,
    N_RANGES = 300,
};

static const char *base_uri;
static unsigned db_serial;

struct fixture {
    char dir[64];
    char uri[1024];
    struct store *s; /* the SQLite source */
    struct arena *a;
    uint64_t rng;
    bool wrote; /* write_source ran */
};

static uint64_t rnd(struct fixture *f)
{
    uint64_t z = (f->rng += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static int64_t pick(struct fixture *f, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(rnd(f) % (uint64_t)(hi - lo + 1));
}

static int64_t pg_i64(struct store *s, const char *sql)
{
    PGresult *res = NULL;
    assert_int_equal(store_pg_exec(s, sql, NULL, &res), STORE_OK);
    int64_t v = store_pg_col_i64(res, 0, 0);
    PQclear(res);
    return v;
}

/* A fresh database in the test's cluster, and its URI in f->uri. */
static void new_database(struct fixture *f)
{
    struct store *admin = NULL;
    const char *msg = NULL;
    assert_int_equal(store_open(base_uri, &admin, &msg), STORE_OK);
    char sql[64];
    snprintf(sql, sizeof(sql), "CREATE DATABASE mig%u", ++db_serial);
    assert_int_equal(store_pg_run(admin, sql, NULL, NULL), STORE_OK);
    store_close(&admin);
    const char *slash = strstr(base_uri, "@/");
    const char *query = strchr(base_uri, '?');
    assert_non_null(slash);
    assert_non_null(query);
    snprintf(f->uri, sizeof(f->uri), "%.*s@/mig%u%s", (int)(slash - base_uri), base_uri, db_serial,
             query);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/almanac-mig-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    const char *msg = NULL;
    assert_int_equal(store_open(f->dir, &f->s, &msg), STORE_OK);
    f->a = arena_create();
    f->rng = 20261206;
    new_database(f);
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

static struct store *open_target(struct fixture *f)
{
    struct store *t = NULL;
    const char *msg = NULL;
    assert_int_equal(store_open(f->uri, &t, &msg), STORE_OK);
    return t;
}

static void put(struct store *s,
                struct arena *a,
                uint64_t coll,
                const char *name,
                const struct store_cal_index *cal,
                struct store_item *out)
{
    struct store_item_in in = {.content = "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
                               .size = 31,
                               .content_type = "text/calendar",
                               .cal = *cal};
    bool created = false;
    assert_int_equal(store_item_put(s, coll, name, &in, a, out, &created), STORE_OK);
}

/* What a migration kept: everything the clients' state is keyed by. */
static void test_migrate_keeps_ids_modseqs_history_and_secret(void **state)
{
    struct fixture *f = *state;
    struct store *s = f->s;
    struct store_principal alice, bob;
    struct store_coll cal, cal2;
    struct store_item it[4];
    assert_int_equal(store_begin_write(s), STORE_OK);
    assert_int_equal(store_principal_add(s, "alice", "$argon2id$a", f->a, &alice), STORE_OK);
    assert_int_equal(store_principal_add(s, "bob", "$argon2id$b", f->a, &bob), STORE_OK);
    assert_int_equal(store_coll_create(s, alice.home_id, "work", STORE_COLL_CALENDAR, f->a, &cal),
                     STORE_OK);
    assert_int_equal(store_coll_create(s, alice.home_id, "more", STORE_COLL_CALENDAR, f->a, &cal2),
                     STORE_OK);
    for (int i = 0; i < 4; i++) {
        char name[32], uid[32];
        snprintf(name, sizeof(name), "i%d.ics", i);
        snprintf(uid, sizeof(uid), "uid-%d", i);
        struct store_cal_index ci = {.uid = uid,
                                     .has_span = true,
                                     .dtstart_utc = 1800000000 + i * 3600,
                                     .dtend_utc = 1800000000 + i * 3600 + 1800};
        put(s, f->a, cal.id, name, &ci, &it[i]);
    }
    struct store_prop p = {.ns = "urn:z", .name = "color", .value = "teal", .value_len = 4};
    assert_int_equal(store_prop_set(s, STORE_RES_ITEM, it[0].id, &p), STORE_OK);
    assert_int_equal(store_item_delete(s, cal.id, "i3.ics"), STORE_OK); /* the newest id */
    assert_int_equal(store_principal_set_pwhash(s, "bob", "$argon2id$b2"), STORE_OK);
    assert_int_equal(store_commit(s), STORE_OK);
    struct store_coll before;
    assert_int_equal(store_begin_read(s), STORE_OK);
    assert_int_equal(store_coll_get(s, cal.id, f->a, &before), STORE_OK);
    struct store_principal bob2;
    assert_int_equal(store_principal_get(s, "bob", f->a, &bob2), STORE_OK);
    assert_int_equal(store_rollback(s), STORE_OK);
    uint8_t guid[STORE_GUID_BYTES], secret[STORE_SECRET_BYTES];
    store_guid(s, guid);
    store_secret(s, secret);

    struct store_migrate_report r;
    char msg[STORE_MSG_MAX];
    char from[sizeof(f->dir) + 8];
    snprintf(from, sizeof(from), "sqlite:%s", f->dir);
    assert_int_equal(store_migrate(from, f->uri, NULL, NULL, &r, msg), STORE_OK);
    assert_true(r.target_counted);
    assert_int_equal(r.schema_version, store_migrations[store_migration_count - 1].version);
    for (size_t i = 0; i < r.ntables; i++) {
        assert_int_equal(r.tables[i].source_rows, r.tables[i].target_rows);
    }

    struct store *t = open_target(f);
    uint8_t g2[STORE_GUID_BYTES], k2[STORE_SECRET_BYTES];
    store_guid(t, g2);
    store_secret(t, k2);
    assert_memory_equal(guid, g2, sizeof(guid));
    assert_memory_equal(secret, k2, sizeof(secret));
    assert_int_equal(store_begin_read(t), STORE_OK);
    struct store_coll after;
    assert_int_equal(store_coll_get(t, cal.id, f->a, &after), STORE_OK);
    assert_int_equal(after.modseq, before.modseq);
    assert_int_equal(after.epoch, before.epoch);
    assert_memory_equal(after.change_guid, before.change_guid, STORE_GUID_BYTES);
    assert_int_equal(after.tomb_horizon, before.tomb_horizon);
    for (int i = 0; i < 3; i++) {
        struct store_item got;
        char name[32];
        snprintf(name, sizeof(name), "i%d.ics", i);
        assert_int_equal(store_item_get(t, cal.id, name, 0, f->a, &got), STORE_OK);
        assert_int_equal(got.id, it[i].id);
        assert_int_equal(got.modseq, it[i].modseq);
        assert_int_equal(got.created_modseq, it[i].created_modseq);
    }
    struct store_prop got_p;
    assert_int_equal(store_prop_get(t, STORE_RES_ITEM, it[0].id, "urn:z", "color", f->a, &got_p),
                     STORE_OK);
    assert_int_equal(got_p.value_len, 4);
    assert_int_equal(pg_i64(t, "SELECT count(*) FROM tombstones"), 1);
    struct store_principal bob3;
    assert_int_equal(store_principal_get(t, "bob", f->a, &bob3), STORE_OK);
    assert_int_equal(bob3.cred_gen, bob2.cred_gen);
    assert_string_equal(bob3.pwhash, "$argon2id$b2");
    assert_int_equal(store_rollback(t), STORE_OK);

    /* new rows: past every id the source gave, the deleted i3's included */
    assert_int_equal(store_begin_write(t), STORE_OK);
    struct store_cal_index ci = {.uid = "uid-new"};
    struct store_item fresh;
    put(t, f->a, cal.id, "new.ics", &ci, &fresh);
    assert_true(fresh.id > it[3].id);
    assert_true(fresh.modseq > before.modseq);
    struct store_principal carol;
    assert_int_equal(store_principal_add(t, "carol", "$argon2id$c", f->a, &carol), STORE_OK);
    assert_true(carol.id > bob.id);
    assert_true(carol.cred_gen > bob2.cred_gen);
    struct store_coll c3;
    assert_int_equal(store_coll_create(t, alice.home_id, "third", STORE_COLL_CALENDAR, f->a, &c3),
                     STORE_OK);
    assert_true(c3.id > cal2.id);
    assert_int_equal(store_commit(t), STORE_OK);
    store_close(&t);
}

/* The ids of the range query on `s`, in the cursor's order, into ids[] (count returned). */
static size_t range_ids(struct store *s,
                        uint64_t coll,
                        int64_t lo,
                        int64_t hi,
                        enum store_range_by by,
                        uint64_t *ids,
                        size_t max)
{
    struct store_cursor *c = NULL;
    assert_int_equal(store_items_in_range_open(s, coll, lo, hi, by, &c), STORE_OK);
    size_t n = 0;
    struct store_item row;
    enum store_rc rc;
    while ((rc = store_cursor_next_item(c, &row)) == STORE_OK) {
        assert_true(n < max);
        ids[n++] = row.id;
    }
    assert_int_equal(rc, STORE_NOTFOUND);
    store_cursor_close(&c);
    return n;
}

static bool has_id(const uint64_t *ids, size_t n, uint64_t id)
{
    for (size_t i = 0; i < n; i++) {
        if (ids[i] == id) {
            return true;
        }
    }
    return false;
}

/* The interval index: SQLite's minute boxes become PostgreSQL's; each box's own range still
 * finds its item by instance, and PostgreSQL answers no item SQLite would not. */
static void test_migrate_turns_the_rtree_into_postgresql_boxes(void **state)
{
    struct fixture *f = *state;
    struct store *s = f->s;
    struct store_principal alice;
    struct store_coll cal;
    struct store_box boxes[N_ITEMS][4];
    struct store_cal_index cals[N_ITEMS];
    uint64_t ids[N_ITEMS];
    assert_int_equal(store_begin_write(s), STORE_OK);
    assert_int_equal(store_principal_add(s, "alice", "h", f->a, &alice), STORE_OK);
    assert_int_equal(store_coll_create(s, alice.home_id, "c", STORE_COLL_CALENDAR, f->a, &cal),
                     STORE_OK);
    for (int i = 0; i < N_ITEMS; i++) {
        /* second-precise starts, some before 1970, some past the minutes' 32 bits, some
         * series without an end */
        int64_t base = i % 7 == 0   ? pick(f, -3000000000, 0)
                       : i % 7 == 1 ? pick(f, 128849018000, 200000000000)
                                    : pick(f, 1700000000, 1800000000);
        int64_t end = i % 5 == 0 ? INT64_MAX : base + pick(f, 0, 90 * 86400);
        struct store_cal_index *ci = &cals[i];
        memset(ci, 0, sizeof(*ci));
        ci->has_span = true;
        ci->dtstart_utc = base;
        ci->dtend_utc = end;
        ci->is_recurring = i % 2 == 0;
        if (ci->is_recurring) {
            int64_t at = base;
            for (int b = 0; b < 4; b++) {
                boxes[i][b].start = at;
                boxes[i][b].end = at + pick(f, 0, 7200);
                at = boxes[i][b].end + pick(f, 86400, 7 * 86400);
            }
            if (end == INT64_MAX) {
                boxes[i][3].end = INT64_MAX;
            } else if (boxes[i][3].end > end) {
                ci->dtend_utc = boxes[i][3].end;
            }
            ci->boxes = boxes[i];
            ci->nboxes = 4;
        }
        char name[32];
        snprintf(name, sizeof(name), "r%d.ics", i);
        struct store_item out;
        put(s, f->a, cal.id, name, ci, &out);
        ids[i] = out.id;
    }
    assert_int_equal(store_commit(s), STORE_OK);

    char from[sizeof(f->dir) + 8];
    snprintf(from, sizeof(from), "sqlite:%s", f->dir);
    struct store_migrate_report r;
    char msg[STORE_MSG_MAX];
    assert_int_equal(store_migrate(from, f->uri, NULL, NULL, &r, msg), STORE_OK);
    struct store *t = open_target(f);
    assert_int_equal(store_begin_read(t), STORE_OK);
    assert_int_equal(store_begin_read(s), STORE_OK);
    uint64_t got[N_ITEMS], ref[N_ITEMS];
    /* every box's own range finds its item, by instance */
    for (int i = 0; i < N_ITEMS; i++) {
        for (size_t b = 0; b < cals[i].nboxes; b++) {
            int64_t lo = boxes[i][b].start;
            int64_t hi = boxes[i][b].end == INT64_MAX ? INT64_MAX : boxes[i][b].end + 1;
            size_t n = range_ids(t, cal.id, lo, hi, STORE_RANGE_INSTANCES, got, N_ITEMS);
            assert_true(has_id(got, n, ids[i]));
        }
    }
    /* random ranges: what PostgreSQL answers, SQLite answers too */
    for (int q = 0; q < N_RANGES; q++) {
        int64_t lo = q % 3 == 0 ? pick(f, -3000000000, 0) : pick(f, 1700000000, 1800000000);
        int64_t hi = lo + pick(f, 1, 30 * 86400);
        for (int by = 0; by < 2; by++) {
            size_t n = range_ids(t, cal.id, lo, hi, (enum store_range_by)by, got, N_ITEMS);
            size_t m = range_ids(s, cal.id, lo, hi, (enum store_range_by)by, ref, N_ITEMS);
            for (size_t k = 0; k < n; k++) {
                assert_true(has_id(ref, m, got[k]));
            }
            if (by == STORE_RANGE_SPAN) { /* exact on both: items.dtstart/dtend */
                assert_int_equal(n, m);
            }
        }
    }
    store_rollback(s);
    store_rollback(t);
    store_close(&t);
}

static int64_t target_rows(struct fixture *f, const char *sql)
{
    struct store *t = open_target(f);
    int64_t n = pg_i64(t, sql);
    store_close(&t);
    return n;
}

/* A progress callback that writes to the source once, as a running almanacd would. */
static void
write_source(void *ctx, const char *table, uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
    (void)a, (void)b, (void)c, (void)d;
    struct fixture *f = ctx;
    if (strcmp(table, "items") != 0 || f->wrote) {
        return;
    }
    f->wrote = true;
    struct store_principal p;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    assert_int_equal(store_principal_add(f->s, "late", "h", f->a, &p), STORE_OK);
    assert_int_equal(store_commit(f->s), STORE_OK);
}

static void test_migrate_refusals_leave_the_target_empty(void **state)
{
    struct fixture *f = *state;
    struct store_principal alice;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    assert_int_equal(store_principal_add(f->s, "alice", "h", f->a, &alice), STORE_OK);
    assert_int_equal(store_commit(f->s), STORE_OK);
    char from[sizeof(f->dir) + 8];
    snprintf(from, sizeof(from), "sqlite:%s", f->dir);
    struct store_migrate_report r;
    char msg[STORE_MSG_MAX];

    /* kinds and a missing source */
    assert_int_equal(store_migrate(f->uri, f->uri, NULL, NULL, &r, msg), STORE_LIMIT);
    assert_int_equal(store_migrate(from, from, NULL, NULL, &r, msg), STORE_LIMIT);
    assert_int_equal(store_migrate("sqlite:/nonexistent/dir", f->uri, NULL, NULL, &r, msg),
                     STORE_NOTFOUND);

    /* written during the copy: refused, nothing committed */
    assert_int_equal(store_migrate(from, f->uri, write_source, f, &r, msg), STORE_CONFLICT);
    assert_non_null(strstr(msg, "written during the copy"));
    assert_true(f->wrote);
    assert_int_equal(target_rows(f, "SELECT count(*) FROM principals"), 0);

    /* a column this build does not copy: refused before anything is written */
    sqlite3 *db = NULL;
    char path[128];
    snprintf(path, sizeof(path), "%s/almanac.db", f->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "ALTER TABLE items ADD COLUMN extra TEXT", NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(store_migrate(from, f->uri, NULL, NULL, &r, msg), STORE_CONFLICT);
    assert_non_null(strstr(msg, "extra"));
    assert_int_equal(target_rows(f, "SELECT count(*) FROM principals"), 0);
    assert_int_equal(sqlite3_exec(db, "ALTER TABLE items DROP COLUMN extra", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);

    /* once; then the target is not empty */
    assert_int_equal(store_migrate(from, f->uri, NULL, NULL, &r, msg), STORE_OK);
    assert_int_equal(target_rows(f, "SELECT count(*) FROM principals"), 2);
    assert_int_equal(store_migrate(from, f->uri, NULL, NULL, &r, msg), STORE_EXISTS);
    assert_non_null(strstr(msg, "not empty"));
    assert_false(r.target_counted);
    assert_int_equal(target_rows(f, "SELECT count(*) FROM principals"), 2);
}

int main(int argc, char **argv)
{
    (void)argc;
    base_uri = getenv("ALMANAC_PG_URI");
    if (!base_uri) {
        return pg_cluster_reexec("test_store_migrate", argv);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migrate_keeps_ids_modseqs_history_and_secret, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_migrate_turns_the_rtree_into_postgresql_boxes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_migrate_refusals_leave_the_target_empty, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
