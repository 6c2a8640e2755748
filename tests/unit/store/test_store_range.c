/* tests/unit/store/test_store_range.c: the range cursor (store_items_in_range_open) over the
 * interval index of schema/010_item_spans.sql, against a brute-force scan of a model. A
 * seeded generator puts, replaces, moves, copies and deletes items of three calendars of
 * two principals, with spans of every shape the calendar layer makes (minute-aligned,
 * second-precise, all-day, zero-length, before 1970, past 2038 and past the year 6053 where
 * the index's 32-bit minutes saturate, no start, no end) and up to STORE_ITEM_BOXES_MAX
 * instance boxes; deletes a calendar and a principal on the way. After each step, random
 * ranges (some of them edges of the items' own times) must give exactly the model's items
 * in the model's order, by span and by instance: a miss or an extra item fails. At the end
 * the index holds no box of an item that is gone. Talks SQL only to count the boxes. */
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

enum {
    MAX_ITEMS = 1000, /* model slots */
    N_COLLS = 3,      /* alice's "a" and "b", bob's "c" */
    MAX_BOXES = 8,    /* boxes a generated series gets (the store takes up to 63) */
    STEPS = 700,      /* writes */
    QUERIES = 6,      /* ranges checked after each write, per collection and kind */
};

struct mitem {
    bool live;
    int coll; /* index in colls[] */
    char name[24];
    uint64_t id;
    struct store_cal_index cal;
    struct store_box boxes[STORE_ITEM_BOXES_MAX];
};

struct fixture {
    char dir[64];
    struct store *s;
    struct arena *a;
    struct store_principal alice, bob;
    uint64_t colls[N_COLLS];
    bool coll_gone[N_COLLS];
    struct mitem items[MAX_ITEMS];
    size_t n;
    uint64_t rng;
    unsigned serial;
};

/* splitmix64: the sequence is the seed's, on every platform. */
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

/* A time of one of the shapes the calendar layer stores. */
static int64_t some_time(struct fixture *f)
{
    switch (rnd(f) % 8) {
    case 0:
        return pick(f, -3000000000, 0); /* before 1970 (1875-1970) */
    case 1:
        return pick(f, 2147483648, 40000000000); /* past 2038 (int32 seconds would wrap) */
    case 2:
        return pick(f, 128849018000, 200000000000); /* the index's minutes saturate */
    case 3:
        return pick(f, 1700000000, 1800000000) / 86400 * 86400; /* a day (all-day) */
    case 4:
        return pick(f, 1700000000, 1800000000); /* to the second */
    default:
        return pick(f, 1700000000, 1800000000) / 60 * 60; /* to the minute */
    }
}

static void random_index(struct fixture *f, struct mitem *m)
{
    memset(&m->cal, 0, sizeof(m->cal));
    m->cal.uid = NULL;
    if (rnd(f) % 10 == 0) {
        return; /* no span: never in a range */
    }
    m->cal.has_span = true;
    m->cal.comp = 1;
    int64_t s = rnd(f) % 25 == 0 ? INT64_MIN : some_time(f);
    int64_t e;
    switch (rnd(f) % 6) {
    case 0:
        e = INT64_MAX; /* unbounded */
        break;
    case 1:
        e = s; /* zero length */
        break;
    case 2:
        e = s == INT64_MIN ? some_time(f) : s + 86400; /* all day */
        break;
    default:
        e = s == INT64_MIN ? some_time(f) : s + pick(f, 1, 400 * 86400);
        break;
    }
    if (e < s) {
        e = INT64_MAX;
    }
    m->cal.dtstart_utc = s;
    m->cal.dtend_utc = e;
    if (rnd(f) % 3 == 0 && s != INT64_MIN && e != INT64_MAX && e - s > 3600) {
        /* a series: boxes inside the span, ascending, disjoint (as cal makes them) */
        m->cal.is_recurring = true;
        size_t n = 1 + rnd(f) % MAX_BOXES;
        int64_t step = (e - s) / (int64_t)n;
        for (size_t i = 0; i < n; i++) {
            int64_t b0 = s + (int64_t)i * step + pick(f, 0, step / 3);
            int64_t b1 = b0 + pick(f, 0, step / 3);
            m->boxes[i] = (struct store_box){b0, b1};
        }
        m->boxes[0].start = s;
        m->boxes[n - 1].end = e > m->boxes[n - 1].end ? e : m->boxes[n - 1].end;
        m->cal.boxes = m->boxes;
        m->cal.nboxes = n;
    }
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/almanac-range-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(store_open(f->dir, &f->s, NULL), STORE_OK);
    f->a = arena_create();
    f->rng = 16;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    assert_int_equal(store_principal_add(f->s, "alice", "h1", f->a, &f->alice), STORE_OK);
    assert_int_equal(store_principal_add(f->s, "bob", "h2", f->a, &f->bob), STORE_OK);
    static const char *const names[N_COLLS] = {"a", "b", "c"};
    for (int i = 0; i < N_COLLS; i++) {
        struct store_coll c;
        uint64_t home = i < 2 ? f->alice.home_id : f->bob.home_id;
        assert_int_equal(store_coll_create(f->s, home, names[i], STORE_COLL_CALENDAR, f->a, &c),
                         STORE_OK);
        f->colls[i] = c.id;
    }
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

static void put(struct fixture *f, struct mitem *m)
{
    struct store_item_in in = {
        .content = "x", .size = 1, .content_type = "text/calendar", .cal = m->cal};
    struct store_item out;
    assert_int_equal(store_item_put(f->s, f->colls[m->coll], m->name, &in, f->a, &out, NULL),
                     STORE_OK);
    m->id = out.id;
    m->live = true;
}

/* The index's minute of `t`, as the store documents it: rounded down or up, 32 bits. */
static int64_t minute(int64_t t, bool up)
{
    if (t <= (int64_t)INT32_MIN * 60) {
        return INT32_MIN;
    }
    if (t >= (int64_t)INT32_MAX * 60) {
        return INT32_MAX;
    }
    int64_t q = t / 60;
    int64_t r = t % 60;
    return q + (up && r > 0) - (!up && r < 0);
}

/* The brute-force answer for one item. */
static bool model_in_range(const struct mitem *m, int64_t a, int64_t b, enum store_range_by by)
{
    const struct store_cal_index *c = &m->cal;
    /* RFC 4791 §9.9: an instant at the range's start is in; a series may end with one */
    bool instant = c->dtend_utc == a && (c->dtstart_utc == c->dtend_utc || c->is_recurring);
    if (!m->live || !c->has_span || !(c->dtstart_utc < b && (c->dtend_utc > a || instant))) {
        return false;
    }
    if (by == STORE_RANGE_SPAN || m->cal.nboxes == 0) {
        return true;
    }
    for (size_t i = 0; i < m->cal.nboxes; i++) {
        if (minute(m->boxes[i].start, false) <= minute(b, true) &&
            minute(m->boxes[i].end, true) >= minute(a, false)) {
            return true;
        }
    }
    return false;
}

static const struct mitem *sort_items;

static int cmp_model(const void *x, const void *y)
{
    const struct mitem *p = &sort_items[*(const size_t *)x];
    const struct mitem *q = &sort_items[*(const size_t *)y];
    if (p->cal.dtstart_utc != q->cal.dtstart_utc) {
        return p->cal.dtstart_utc < q->cal.dtstart_utc ? -1 : 1;
    }
    if (p->cal.dtend_utc != q->cal.dtend_utc) {
        return p->cal.dtend_utc < q->cal.dtend_utc ? -1 : 1;
    }
    return (p->id > q->id) - (p->id < q->id);
}

/* One range bound: an item's own time (or next to it), a random time, or no bound. */
static int64_t some_bound(struct fixture *f)
{
    uint64_t r = rnd(f) % 10;
    if (r < 4 && f->n > 0) {
        const struct mitem *m = &f->items[rnd(f) % f->n];
        if (m->cal.nboxes && rnd(f) % 2) { /* about a box's edge: the minutes' rounding */
            const struct store_box *b = &m->boxes[rnd(f) % m->cal.nboxes];
            return (rnd(f) % 2 ? b->start : b->end) + pick(f, -90, 90);
        }
        int64_t t = rnd(f) % 2 ? m->cal.dtstart_utc : m->cal.dtend_utc;
        int64_t d = pick(f, -1, 1);
        return (t == INT64_MIN || t == INT64_MAX) ? t : t + d;
    }
    if (r == 4) {
        return rnd(f) % 2 ? INT64_MIN : INT64_MAX;
    }
    return some_time(f);
}

static size_t checked_rows;

static void check_range(struct fixture *f, int ci, int64_t a, int64_t b, enum store_range_by by)
{
    size_t want[MAX_ITEMS];
    size_t nwant = 0;
    for (size_t i = 0; i < f->n; i++) {
        if (f->items[i].coll == ci && model_in_range(&f->items[i], a, b, by)) {
            want[nwant++] = i;
        }
    }
    sort_items = f->items;
    qsort(want, nwant, sizeof(*want), cmp_model);
    struct store_cursor *cur = NULL;
    assert_int_equal(store_items_in_range_open(f->s, f->colls[ci], a, b, by, &cur), STORE_OK);
    size_t got = 0;
    struct store_item it;
    enum store_rc rc;
    while ((rc = store_cursor_next_item(cur, &it)) == STORE_OK) {
        if (got >= nwant || it.id != f->items[want[got]].id) {
            fail_msg("range [%lld, %lld) by %s of coll %d: row %zu is item %llu (%s), the scan "
                     "says %s",
                     (long long)a, (long long)b, by == STORE_RANGE_SPAN ? "span" : "instance", ci,
                     got, (unsigned long long)it.id, it.name,
                     got < nwant ? f->items[want[got]].name : "no more rows");
        }
        assert_int_equal(it.cal.dtstart_utc, f->items[want[got]].cal.dtstart_utc);
        got++;
    }
    assert_int_equal(rc, STORE_NOTFOUND);
    store_cursor_close(&cur);
    if (got != nwant) {
        fail_msg("range [%lld, %lld) by %s of coll %d: %zu rows, the scan says %zu (first "
                 "missed: %s)",
                 (long long)a, (long long)b, by == STORE_RANGE_SPAN ? "span" : "instance", ci, got,
                 nwant, f->items[want[got]].name);
    }
    checked_rows += got;
}

static void check_all(struct fixture *f)
{
    assert_int_equal(store_begin_read(f->s), STORE_OK);
    for (int ci = 0; ci < N_COLLS; ci++) {
        if (f->coll_gone[ci]) {
            continue;
        }
        for (int q = 0; q < QUERIES; q++) {
            int64_t a = some_bound(f);
            int64_t b = rnd(f) % 3 == 0 && a < INT64_MAX - 7 * 86400 && a != INT64_MIN
                            ? a + 7 * 86400 /* a week */
                            : some_bound(f);
            if (a > b) {
                int64_t t = a;
                a = b;
                b = t;
            }
            check_range(f, ci, a, b, STORE_RANGE_SPAN);
            check_range(f, ci, a, b, STORE_RANGE_INSTANCES);
        }
    }
    assert_int_equal(store_commit(f->s), STORE_OK);
}

static long long count_boxes(struct fixture *f)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/almanac.db", f->dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM item_spans", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long long n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static long long model_boxes(const struct fixture *f)
{
    long long n = 0;
    for (size_t i = 0; i < f->n; i++) {
        const struct mitem *m = &f->items[i];
        if (m->live && m->cal.has_span) {
            n += 1 + (long long)m->cal.nboxes;
        }
    }
    return n;
}

/* A live item of a calendar that still exists, or NULL. */
static struct mitem *some_live(struct fixture *f)
{
    for (int tries = 0; tries < 20 && f->n > 0; tries++) {
        struct mitem *m = &f->items[rnd(f) % f->n];
        if (m->live) {
            return m;
        }
    }
    return NULL;
}

static int live_coll(struct fixture *f)
{
    for (;;) {
        int ci = (int)(rnd(f) % N_COLLS);
        if (!f->coll_gone[ci]) {
            return ci;
        }
    }
}

static void step(struct fixture *f, unsigned i)
{
    struct mitem *m = some_live(f);
    uint64_t op = rnd(f) % 10;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    if (op < 5 || !m) { /* a new item */
        assert_true(f->n < MAX_ITEMS);
        struct mitem *n = &f->items[f->n++];
        n->coll = live_coll(f);
        snprintf(n->name, sizeof(n->name), "i%u.ics", f->serial++);
        random_index(f, n);
        put(f, n);
    } else if (op == 5) { /* replaced: a new span, boxes or none */
        random_index(f, m);
        put(f, m);
    } else if (op == 6) { /* deleted */
        assert_int_equal(store_item_delete(f->s, f->colls[m->coll], m->name), STORE_OK);
        m->live = false;
    } else if (op == 7) { /* moved, to another calendar or renamed in its own */
        int to = live_coll(f);
        char name[24];
        snprintf(name, sizeof(name), "m%u.ics", f->serial++);
        assert_int_equal(store_item_move(f->s, f->colls[m->coll], m->name, f->colls[to], name),
                         STORE_OK);
        m->coll = to;
        memcpy(m->name, name, sizeof(name));
    } else { /* copied (calstore_copy puts the source's index again) */
        assert_true(f->n < MAX_ITEMS);
        struct mitem *n = &f->items[f->n++];
        *n = *m;
        n->cal.boxes = n->boxes;
        n->coll = live_coll(f);
        snprintf(n->name, sizeof(n->name), "c%u.ics", f->serial++);
        put(f, n);
    }
    if (i == STEPS / 2) { /* calendar "b" goes, with everything in it */
        assert_int_equal(store_coll_delete(f->s, f->colls[1]), STORE_OK);
        f->coll_gone[1] = true;
        for (size_t k = 0; k < f->n; k++) {
            if (f->items[k].coll == 1) {
                f->items[k].live = false;
            }
        }
    }
    assert_int_equal(store_commit(f->s), STORE_OK);
}

static void test_store_range_equals_brute_force(void **state)
{
    struct fixture *f = *state;
    for (unsigned i = 0; i < STEPS; i++) {
        step(f, i);
        check_all(f);
        if (i % 100 == 0) {
            assert_int_equal(count_boxes(f), model_boxes(f));
        }
    }
    assert_int_equal(count_boxes(f), model_boxes(f));
    /* bob goes: his calendar's boxes with him, alice's stay */
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    assert_int_equal(store_principal_del(f->s, "bob"), STORE_OK);
    assert_int_equal(store_commit(f->s), STORE_OK);
    f->coll_gone[2] = true;
    for (size_t k = 0; k < f->n; k++) {
        if (f->items[k].coll == 2) {
            f->items[k].live = false;
        }
    }
    assert_int_equal(count_boxes(f), model_boxes(f));
    check_all(f);
    print_message("range: %zu items written, %zu rows checked, %lld boxes left\n", f->n,
                  checked_rows, count_boxes(f));
}

/* Past the bound, a put is refused before it writes anything. */
static void test_store_range_refuses_too_many_boxes(void **state)
{
    struct fixture *f = *state;
    struct store_box boxes[STORE_ITEM_BOXES_MAX + 1];
    for (size_t i = 0; i < STORE_ITEM_BOXES_MAX + 1; i++) {
        boxes[i] = (struct store_box){(int64_t)i * 600, (int64_t)i * 600 + 10};
    }
    struct store_item_in in = {.content = "x",
                               .size = 1,
                               .content_type = "text/calendar",
                               .cal = {.has_span = true,
                                       .dtstart_utc = 0,
                                       .dtend_utc = 100000,
                                       .comp = 1,
                                       .boxes = boxes,
                                       .nboxes = STORE_ITEM_BOXES_MAX + 1}};
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    assert_int_equal(store_item_put(f->s, f->colls[0], "x.ics", &in, f->a, NULL, NULL),
                     STORE_LIMIT);
    in.cal.nboxes = STORE_ITEM_BOXES_MAX;
    assert_int_equal(store_item_put(f->s, f->colls[0], "x.ics", &in, f->a, NULL, NULL), STORE_OK);
    assert_int_equal(store_commit(f->s), STORE_OK);
    assert_int_equal(count_boxes(f), STORE_ITEM_BOXES_MAX + 1);
    /* minutes 32-33 lie between the boxes of minutes 30-31 and 40-41: outside the
     * instances, inside the span */
    assert_int_equal(store_begin_read(f->s), STORE_OK);
    struct store_cursor *cur = NULL;
    struct store_item it;
    assert_int_equal(
        store_items_in_range_open(f->s, f->colls[0], 1920, 1980, STORE_RANGE_INSTANCES, &cur),
        STORE_OK);
    assert_int_equal(store_cursor_next_item(cur, &it), STORE_NOTFOUND);
    store_cursor_close(&cur);
    assert_int_equal(
        store_items_in_range_open(f->s, f->colls[0], 1920, 1980, STORE_RANGE_SPAN, &cur), STORE_OK);
    assert_int_equal(store_cursor_next_item(cur, &it), STORE_OK);
    assert_string_equal(it.name, "x.ics");
    store_cursor_close(&cur);
    assert_int_equal(store_commit(f->s), STORE_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_store_range_equals_brute_force, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_range_refuses_too_many_boxes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
