/* tests/unit/store/test_store.c: the SQLite engine behind store.h, on a real store in a
 * temporary directory (no mock). Principals, the collection tree, items and the change log
 * (modseq, created_modseq, tombstones, moves), cursors, dead properties, persistence and the
 * pool. */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/store.h"

struct fixture {
    char dir[64];
    struct store *s;
    struct arena *a;
    struct store_principal p;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/almanac-store-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(store_open(f->dir, &f->s, NULL), STORE_OK);
    f->a = arena_create();
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    assert_int_equal(store_principal_add(f->s, "alice", "hash1", f->a, &f->p), STORE_OK);
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

static struct store_item_in text_item(const char *content, const char *uid)
{
    struct store_item_in in = {
        .content = content, .size = strlen(content), .content_type = "text/plain", .cal.uid = uid};
    return in;
}

static uint64_t make_coll(struct fixture *f, uint64_t parent, const char *name)
{
    struct store_coll c;
    assert_int_equal(store_coll_create(f->s, parent, name, STORE_COLL_CALENDAR, f->a, &c),
                     STORE_OK);
    return c.id;
}

static void test_store_principals_add_get_list_passwd_del(void **state)
{
    struct fixture *f = *state;
    struct store_principal p;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    assert_int_equal(store_principal_add(f->s, "alice", "x", f->a, &p), STORE_EXISTS);
    assert_int_equal(store_principal_add(f->s, "bob", "hb", f->a, &p), STORE_OK);
    assert_int_equal(store_principal_set_pwhash(f->s, "bob", "hb2"), STORE_OK);
    assert_int_equal(store_principal_set_pwhash(f->s, "nobody", "x"), STORE_NOTFOUND);
    assert_int_equal(store_principal_get(f->s, "bob", f->a, &p), STORE_OK);
    assert_string_equal(p.pwhash, "hb2");
    struct store_coll home;
    assert_int_equal(store_coll_get(f->s, p.home_id, f->a, &home), STORE_OK);
    assert_int_equal(home.kind, STORE_COLL_HOME);
    assert_int_equal(home.parent, 0);
    assert_int_equal(store_principal_del(f->s, "bob"), STORE_OK);
    assert_int_equal(store_principal_get(f->s, "bob", f->a, &p), STORE_NOTFOUND);
    assert_int_equal(store_coll_get(f->s, home.id, f->a, &home), STORE_NOTFOUND);
    assert_int_equal(store_principal_del(f->s, "bob"), STORE_NOTFOUND);
    char longname[STORE_USER_MAX + 2];
    memset(longname, 'x', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_int_equal(store_principal_add(f->s, longname, "x", f->a, &p), STORE_LIMIT);
    assert_int_equal(store_commit(f->s), STORE_OK);
}

/* Issue 14 item 8: a password change or a delete must be visible to a process that cached a
 * verified password, through one read of the credential generation. */
static void test_store_cred_gen_changes_with_passwd_and_recreation_issue_14(void **state)
{
    struct fixture *f = *state;
    struct store_principal p;
    uint64_t g0 = 0, g1 = 0, g2 = 0, g3 = 0;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    assert_int_equal(store_principal_add(f->s, "bob", "hb", f->a, &p), STORE_OK);
    assert_int_equal(store_principal_cred_gen(f->s, "bob", &g0), STORE_OK);
    assert_int_equal(p.cred_gen, g0);
    assert_int_equal(store_principal_set_pwhash(f->s, "bob", "hb"), STORE_OK);
    assert_int_equal(store_principal_cred_gen(f->s, "bob", &g1), STORE_OK);
    assert_true(g1 != g0); /* even the same hash: a new credential */
    assert_int_equal(store_principal_get(f->s, "bob", f->a, &p), STORE_OK);
    assert_int_equal(p.cred_gen, g1);
    assert_int_equal(store_principal_del(f->s, "bob"), STORE_OK);
    assert_int_equal(store_principal_cred_gen(f->s, "bob", &g2), STORE_NOTFOUND);
    assert_int_equal(store_principal_add(f->s, "bob", "hb", f->a, &p), STORE_OK);
    assert_int_equal(store_principal_cred_gen(f->s, "bob", &g3), STORE_OK);
    assert_true(g3 != g0 && g3 != g1);
    /* alice (from the fixture) keeps hers */
    assert_int_equal(store_principal_get(f->s, "alice", f->a, &p), STORE_OK);
    assert_true(p.cred_gen != g0 && p.cred_gen != g1 && p.cred_gen != g3);
    assert_int_equal(store_commit(f->s), STORE_OK);
}

/* RFC 4791 §5.2.3: the component set a MKCALENDAR asked for is kept with the collection */
static void test_store_coll_comps_default_to_zero_and_persist_issue_14(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    uint64_t a = make_coll(f, f->p.home_id, "a");
    struct store_coll c;
    assert_int_equal(store_coll_get(f->s, a, f->a, &c), STORE_OK);
    assert_int_equal(c.comps, 0);
    uint64_t modseq = c.modseq;
    assert_int_equal(store_coll_set_comps(f->s, a, 2), STORE_OK);
    assert_int_equal(store_coll_set_comps(f->s, 999999, 2), STORE_NOTFOUND);
    assert_int_equal(store_commit(f->s), STORE_OK);
    assert_int_equal(store_begin_read(f->s), STORE_OK);
    assert_int_equal(store_coll_lookup(f->s, f->p.home_id, "a", f->a, &c), STORE_OK);
    assert_int_equal(c.comps, 2);
    assert_int_equal(c.modseq, modseq);
    store_rollback(f->s);
}

/* store_coll_usage counts live items and their bytes, not tombstones, nor other collections'. */
static void test_store_coll_usage_counts_live_items(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    uint64_t a = make_coll(f, f->p.home_id, "a");
    uint64_t b = make_coll(f, f->p.home_id, "b");
    uint64_t items = 99, bytes = 99;
    assert_int_equal(store_coll_usage(f->s, a, &items, &bytes), STORE_OK);
    assert_int_equal(items, 0);
    assert_int_equal(bytes, 0);
    struct store_item_in one = text_item("12345", NULL);
    struct store_item_in two = text_item("1234567", NULL);
    assert_int_equal(store_item_put(f->s, a, "one", &one, f->a, NULL, NULL), STORE_OK);
    assert_int_equal(store_item_put(f->s, a, "two", &two, f->a, NULL, NULL), STORE_OK);
    assert_int_equal(store_item_put(f->s, a, "gone", &two, f->a, NULL, NULL), STORE_OK);
    assert_int_equal(store_item_delete(f->s, a, "gone"), STORE_OK);
    assert_int_equal(store_item_put(f->s, b, "other", &two, f->a, NULL, NULL), STORE_OK);
    assert_int_equal(store_coll_usage(f->s, a, &items, &bytes), STORE_OK);
    assert_int_equal(items, 2);
    assert_int_equal(bytes, 12);
    assert_int_equal(store_coll_usage(f->s, 999999, &items, &bytes), STORE_OK);
    assert_int_equal(items, 0);
    assert_int_equal(store_commit(f->s), STORE_OK);
}

static void test_store_collections_nest_and_refuse_clashes(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    uint64_t a = make_coll(f, f->p.home_id, "a");
    uint64_t b = make_coll(f, a, "b");
    struct store_coll c;
    assert_int_equal(store_coll_create(f->s, a, "b", STORE_COLL_PLAIN, f->a, &c), STORE_EXISTS);
    assert_int_equal(store_coll_create(f->s, 999999, "x", STORE_COLL_PLAIN, f->a, &c),
                     STORE_NOTFOUND);
    struct store_item_in in = text_item("x", NULL);
    assert_int_equal(store_item_put(f->s, a, "file", &in, f->a, NULL, NULL), STORE_OK);
    assert_int_equal(store_coll_create(f->s, a, "file", STORE_COLL_PLAIN, f->a, &c), STORE_EXISTS);
    assert_int_equal(store_item_put(f->s, a, "b", &in, f->a, NULL, NULL), STORE_EXISTS);
    assert_int_equal(store_coll_lookup(f->s, a, "b", f->a, &c), STORE_OK);
    assert_int_equal(c.id, b);
    assert_int_equal(c.parent, a);
    assert_int_equal(c.modseq, 1);
    /* cycles and homes */
    assert_int_equal(store_coll_move(f->s, a, b, "loop"), STORE_CONFLICT);
    assert_int_equal(store_coll_move(f->s, a, a, "self"), STORE_CONFLICT);
    assert_int_equal(store_coll_delete(f->s, f->p.home_id), STORE_CONFLICT);
    assert_int_equal(store_coll_move(f->s, b, f->p.home_id, "top"), STORE_OK);
    assert_int_equal(store_coll_lookup(f->s, f->p.home_id, "top", f->a, &c), STORE_OK);
    assert_int_equal(store_commit(f->s), STORE_OK);
}

static void test_store_put_bumps_modseq_and_keeps_created_modseq(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    uint64_t cal = make_coll(f, f->p.home_id, "cal");
    struct store_item_in in = text_item("v1", "uid-1");
    struct store_item it;
    bool created = false;
    assert_int_equal(store_item_put(f->s, cal, "e.ics", &in, f->a, &it, &created), STORE_OK);
    assert_true(created);
    assert_int_equal(it.modseq, 2);
    assert_int_equal(it.created_modseq, 2);
    uint64_t id = it.id;
    in = text_item("v2", "uid-1");
    assert_int_equal(store_item_put(f->s, cal, "e.ics", &in, f->a, &it, &created), STORE_OK);
    assert_false(created);
    assert_int_equal(it.id, id);
    assert_int_equal(it.modseq, 3);
    assert_int_equal(it.created_modseq, 2);
    struct store_coll c;
    assert_int_equal(store_coll_get(f->s, cal, f->a, &c), STORE_OK);
    assert_int_equal(c.modseq, 3);
    assert_int_equal(store_item_get(f->s, cal, "e.ics", STORE_ITEM_CONTENT, f->a, &it), STORE_OK);
    assert_int_equal(it.size, 2);
    assert_memory_equal(it.content, "v2", 2);
    assert_string_equal(it.cal.uid, "uid-1");
    assert_int_equal(store_item_get_by_uid(f->s, cal, "uid-1", f->a, &it), STORE_OK);
    assert_string_equal(it.name, "e.ics");
    /* no-uid-conflict: another name with the same uid */
    in = text_item("v3", "uid-1");
    assert_int_equal(store_item_put(f->s, cal, "other.ics", &in, f->a, &it, NULL), STORE_CONFLICT);
    assert_int_equal(store_commit(f->s), STORE_OK);
}

struct change {
    char name[32];
    uint64_t id, modseq, created;
    bool tomb;
};

static size_t
read_changes(struct fixture *f, uint64_t coll, uint64_t since, struct change *out, size_t max)
{
    struct store_cursor *cur = NULL;
    assert_int_equal(store_changes_open(f->s, coll, since, &cur), STORE_OK);
    size_t n = 0;
    struct store_item it;
    enum store_rc rc;
    while ((rc = store_cursor_next_item(cur, &it)) == STORE_OK) {
        assert_true(n < max);
        snprintf(out[n].name, sizeof(out[n].name), "%s", it.name);
        out[n].id = it.id;
        out[n].modseq = it.modseq;
        out[n].created = it.created_modseq;
        out[n].tomb = it.is_tombstone;
        n++;
    }
    assert_int_equal(rc, STORE_NOTFOUND);
    store_cursor_close(&cur);
    return n;
}

static void test_store_changes_since_merge_items_and_tombstones(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    uint64_t cal = make_coll(f, f->p.home_id, "cal"); /* modseq 1 */
    struct store_item_in in = text_item("x", NULL);
    struct store_item a, b;
    assert_int_equal(store_item_put(f->s, cal, "a", &in, f->a, &a, NULL), STORE_OK); /* 2 */
    assert_int_equal(store_item_put(f->s, cal, "b", &in, f->a, &b, NULL), STORE_OK); /* 3 */
    assert_int_equal(store_item_delete(f->s, cal, "a"), STORE_OK);                   /* 4 */
    assert_int_equal(store_item_delete(f->s, cal, "a"), STORE_NOTFOUND);
    assert_int_equal(store_item_put(f->s, cal, "a", &in, f->a, NULL, NULL), STORE_OK); /* 5 */
    assert_int_equal(store_commit(f->s), STORE_OK);

    assert_int_equal(store_begin_read(f->s), STORE_OK);
    struct change ch[8];
    size_t n = read_changes(f, cal, 0, ch, 8);
    assert_int_equal(n, 3);
    assert_string_equal(ch[0].name, "b");
    assert_int_equal(ch[0].modseq, 3);
    assert_true(ch[1].tomb);
    assert_string_equal(ch[1].name, "a");
    assert_int_equal(ch[1].id, a.id);
    assert_int_equal(ch[1].modseq, 4);
    assert_int_equal(ch[1].created, 2);
    assert_false(ch[2].tomb);
    assert_int_equal(ch[2].modseq, 5);
    assert_true(ch[2].id != a.id); /* a new resource at the same name: a new id */
    /* `since` is exclusive */
    n = read_changes(f, cal, 4, ch, 8);
    assert_int_equal(n, 1);
    assert_int_equal(ch[0].modseq, 5);
    assert_int_equal(read_changes(f, cal, 5, ch, 8), 0);
    assert_int_equal(store_commit(f->s), STORE_OK);
}

static void test_store_move_keeps_id_and_props_and_leaves_a_tombstone(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    uint64_t c1 = make_coll(f, f->p.home_id, "c1");
    uint64_t c2 = make_coll(f, f->p.home_id, "c2");
    struct store_item_in in = text_item("x", "u");
    struct store_item it;
    assert_int_equal(store_item_put(f->s, c1, "a", &in, f->a, &it, NULL), STORE_OK);
    struct store_prop p = {"urn:z", "color", "blue", 4};
    assert_int_equal(store_prop_set(f->s, STORE_RES_ITEM, it.id, &p), STORE_OK);
    assert_int_equal(store_item_put(f->s, c2, "taken", &in, f->a, NULL, NULL), STORE_OK);
    assert_int_equal(store_item_move(f->s, c1, "a", c2, "taken"), STORE_EXISTS);
    assert_int_equal(store_item_move(f->s, c1, "a", c2, "b"), STORE_CONFLICT); /* uid clash */
    assert_int_equal(store_item_delete(f->s, c2, "taken"), STORE_OK);
    assert_int_equal(store_item_move(f->s, c1, "a", c2, "b"), STORE_OK);
    struct store_item moved;
    assert_int_equal(store_item_get(f->s, c2, "b", STORE_ITEM_META, f->a, &moved), STORE_OK);
    assert_int_equal(moved.id, it.id);
    assert_int_equal(moved.created_modseq, moved.modseq);
    struct store_prop got;
    assert_int_equal(store_prop_get(f->s, STORE_RES_ITEM, it.id, "urn:z", "color", f->a, &got),
                     STORE_OK);
    assert_string_equal(got.value, "blue");
    struct change ch[8];
    size_t n = read_changes(f, c1, 0, ch, 8);
    assert_int_equal(n, 1);
    assert_true(ch[0].tomb);
    assert_int_equal(ch[0].id, it.id);
    assert_int_equal(store_commit(f->s), STORE_OK);
}

static void test_store_range_cursor_uses_overlap_semantics(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    uint64_t cal = make_coll(f, f->p.home_id, "cal");

    static const struct {
        const char *name;
        int64_t start, end;
    } spans[] = {{"before", 0, 100},
                 {"touching", 50, 200},
                 {"inside", 250, 260},
                 {"after", 500, 600},
                 {"endless", 10, INT64_MAX}};

    for (size_t i = 0; i < sizeof(spans) / sizeof(spans[0]); i++) {
        struct store_item_in in = {.content = "x",
                                   .size = 1,
                                   .content_type = "text/calendar",
                                   .cal.has_span = true,
                                   .cal.dtstart_utc = spans[i].start,
                                   .cal.dtend_utc = spans[i].end,
                                   .cal.comp = 1,
                                   .cal.is_recurring = spans[i].end == INT64_MAX};
        assert_int_equal(store_item_put(f->s, cal, spans[i].name, &in, f->a, NULL, NULL), STORE_OK);
    }
    struct store_item_in nospan = text_item("x", NULL);
    assert_int_equal(store_item_put(f->s, cal, "nospan", &nospan, f->a, NULL, NULL), STORE_OK);
    struct store_cursor *cur = NULL;
    assert_int_equal(store_items_in_range_open(f->s, cal, 200, 500, STORE_RANGE_SPAN, &cur),
                     STORE_OK);
    char got[128] = "";
    size_t used = 0;
    struct store_item it;
    while (store_cursor_next_item(cur, &it) == STORE_OK) {
        int w = snprintf(got + used, sizeof(got) - used, "%s ", it.name);
        assert_true(w > 0 && (size_t)w < sizeof(got) - used);
        used += (size_t)w;
    }
    store_cursor_close(&cur);
    /* [200, 500): "touching" ends at 200 (exclusive), "after" starts at 500 */
    assert_string_equal(got, "endless inside ");
    /* the component and recurrence index fields come back as written */
    assert_int_equal(store_item_get(f->s, cal, "endless", STORE_ITEM_META, f->a, &it), STORE_OK);
    assert_int_equal(it.cal.comp, 1);
    assert_true(it.cal.is_recurring);
    assert_int_equal(store_item_get(f->s, cal, "nospan", STORE_ITEM_META, f->a, &it), STORE_OK);
    assert_int_equal(it.cal.comp, 0);
    assert_false(it.cal.is_recurring);
    assert_int_equal(store_commit(f->s), STORE_OK);
}

static int count_prop(void *ctx, const struct store_prop *p)
{
    (void)p;
    (*(int *)ctx)++;
    return 0;
}

static void test_store_dead_props_set_replace_list_copy_and_go_with_the_item(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    uint64_t cal = make_coll(f, f->p.home_id, "cal");
    struct store_item_in in = text_item("x", NULL);
    struct store_item it, it2;
    assert_int_equal(store_item_put(f->s, cal, "a", &in, f->a, &it, NULL), STORE_OK);
    assert_int_equal(store_item_put(f->s, cal, "b", &in, f->a, &it2, NULL), STORE_OK);
    struct store_prop p1 = {"urn:z", "p", "1", 1};
    struct store_prop p2 = {"", "nons", "<x/>", 4};
    assert_int_equal(store_prop_set(f->s, STORE_RES_ITEM, it.id, &p1), STORE_OK);
    p1.value = "22";
    p1.value_len = 2;
    assert_int_equal(store_prop_set(f->s, STORE_RES_ITEM, it.id, &p1), STORE_OK);
    assert_int_equal(store_prop_set(f->s, STORE_RES_ITEM, it.id, &p2), STORE_OK);
    int n = 0;
    assert_int_equal(store_prop_list(f->s, STORE_RES_ITEM, it.id, count_prop, &n), STORE_OK);
    assert_int_equal(n, 2);
    struct store_prop got;
    assert_int_equal(store_prop_get(f->s, STORE_RES_ITEM, it.id, "urn:z", "p", f->a, &got),
                     STORE_OK);
    assert_int_equal(got.value_len, 2);
    assert_string_equal(got.value, "22");
    assert_int_equal(store_prop_copy(f->s, STORE_RES_ITEM, it.id, STORE_RES_ITEM, it2.id),
                     STORE_OK);
    assert_int_equal(store_prop_get(f->s, STORE_RES_ITEM, it2.id, "", "nons", f->a, &got),
                     STORE_OK);
    assert_int_equal(store_prop_del(f->s, STORE_RES_ITEM, it.id, "urn:z", "p"), STORE_OK);
    assert_int_equal(store_prop_del(f->s, STORE_RES_ITEM, it.id, "urn:z", "p"), STORE_OK);
    assert_int_equal(store_prop_get(f->s, STORE_RES_ITEM, it.id, "urn:z", "p", f->a, &got),
                     STORE_NOTFOUND);
    assert_int_equal(store_item_delete(f->s, cal, "b"), STORE_OK);
    assert_int_equal(store_prop_get(f->s, STORE_RES_ITEM, it2.id, "", "nons", f->a, &got),
                     STORE_NOTFOUND);
    assert_int_equal(store_commit(f->s), STORE_OK);
}

static void test_store_rollback_leaves_nothing_and_commit_survives_reopen(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    uint64_t cal = make_coll(f, f->p.home_id, "kept");
    assert_int_equal(store_commit(f->s), STORE_OK);
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    make_coll(f, f->p.home_id, "dropped");
    struct store_item_in in = text_item("x", NULL);
    assert_int_equal(store_item_put(f->s, cal, "a", &in, f->a, NULL, NULL), STORE_OK);
    assert_int_equal(store_rollback(f->s), STORE_OK);
    uint8_t guid1[STORE_GUID_BYTES], guid2[STORE_GUID_BYTES];
    uint8_t secret1[STORE_SECRET_BYTES], secret2[STORE_SECRET_BYTES];
    store_guid(f->s, guid1);
    store_secret(f->s, secret1);
    store_close(&f->s);
    assert_int_equal(store_open(f->dir, &f->s, NULL), STORE_OK);
    store_guid(f->s, guid2);
    store_secret(f->s, secret2);
    assert_memory_equal(guid1, guid2, STORE_GUID_BYTES);
    assert_memory_equal(secret1, secret2, STORE_SECRET_BYTES);
    assert_memory_not_equal(secret1, guid1, STORE_GUID_BYTES);
    struct store_coll c;
    assert_int_equal(store_begin_read(f->s), STORE_OK);
    assert_int_equal(store_coll_lookup(f->s, f->p.home_id, "kept", f->a, &c), STORE_OK);
    assert_int_equal(c.modseq, 1);
    assert_int_equal(store_coll_lookup(f->s, f->p.home_id, "dropped", f->a, &c), STORE_NOTFOUND);
    struct store_item it;
    assert_int_equal(store_item_get(f->s, cal, "a", STORE_ITEM_META, f->a, &it), STORE_NOTFOUND);
    assert_int_equal(store_commit(f->s), STORE_OK);
}

/* A location names the engine: "sqlite:DIR" is DIR's SQLite store (alice is there), and a
 * PostgreSQL URI goes to the PostgreSQL engine: one that cannot be reached fails, saying why
 * (test_store_pg.c covers a reachable one). */
static void test_store_open_takes_a_location_and_sends_postgresql_to_its_engine(void **state)
{
    struct fixture *f = *state;
    char where[80];
    snprintf(where, sizeof(where), "sqlite:%s", f->dir);
    struct store *s = NULL;
    assert_int_equal(store_open(where, &s, NULL), STORE_OK);
    struct store_principal p;
    assert_int_equal(store_begin_read(s), STORE_OK);
    assert_int_equal(store_principal_get(s, "alice", f->a, &p), STORE_OK);
    assert_int_equal(p.id, f->p.id);
    assert_int_equal(store_rollback(s), STORE_OK);
    store_close(&s);
    assert_null(s);
    const char *msg = NULL;
    assert_int_equal(store_open("postgresql://almanac@127.0.0.1:1/almanac", &s, &msg), STORE_IO);
    assert_null(s);
    assert_string_equal(msg, "cannot connect to the PostgreSQL database (see log)");
    struct store_pool *pool = NULL;
    assert_int_equal(store_pool_create("postgres://almanac@127.0.0.1:1/almanac", 2, &pool),
                     STORE_IO);
    assert_null(pool);
}

static void test_store_delete_collection_removes_subtree(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    uint64_t a = make_coll(f, f->p.home_id, "a");
    uint64_t b = make_coll(f, a, "b");
    struct store_item_in in = text_item("x", NULL);
    struct store_item it;
    assert_int_equal(store_item_put(f->s, b, "deep", &in, f->a, &it, NULL), STORE_OK);
    struct store_prop p = {"urn:z", "p", "1", 1};
    assert_int_equal(store_prop_set(f->s, STORE_RES_ITEM, it.id, &p), STORE_OK);
    assert_int_equal(store_prop_set(f->s, STORE_RES_COLL, b, &p), STORE_OK);
    assert_int_equal(store_coll_delete(f->s, a), STORE_OK);
    struct store_coll c;
    assert_int_equal(store_coll_get(f->s, b, f->a, &c), STORE_NOTFOUND);
    struct store_prop got;
    assert_int_equal(store_prop_get(f->s, STORE_RES_ITEM, it.id, "urn:z", "p", f->a, &got),
                     STORE_NOTFOUND);
    assert_int_equal(store_prop_get(f->s, STORE_RES_COLL, b, "urn:z", "p", f->a, &got),
                     STORE_NOTFOUND);
    assert_int_equal(store_commit(f->s), STORE_OK);
}

static void test_store_history_reset_and_tombstone_pruning(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    uint64_t cal = make_coll(f, f->p.home_id, "cal");
    struct store_item_in in = text_item("x", NULL);
    assert_int_equal(store_item_put(f->s, cal, "a", &in, f->a, NULL, NULL), STORE_OK);
    assert_int_equal(store_item_delete(f->s, cal, "a"), STORE_OK); /* modseq 3 */
    struct store_coll before, after;
    assert_int_equal(store_coll_get(f->s, cal, f->a, &before), STORE_OK);
    /* nothing older than the epoch start: prune drops nothing */
    assert_int_equal(store_coll_prune_tombstones(f->s, cal, 0), STORE_OK);
    struct change ch[4];
    assert_int_equal(read_changes(f, cal, 0, ch, 4), 1);
    assert_int_equal(store_coll_prune_tombstones(f->s, cal, INT64_MAX), STORE_OK);
    assert_int_equal(read_changes(f, cal, 0, ch, 4), 0);
    assert_int_equal(store_coll_get(f->s, cal, f->a, &after), STORE_OK);
    assert_int_equal(after.tomb_horizon, 3); /* tokens >= 3 saw the pruned delete */
    assert_int_equal(store_coll_reset_history(f->s, cal), STORE_OK);
    assert_int_equal(store_coll_get(f->s, cal, f->a, &after), STORE_OK);
    assert_true(after.epoch != before.epoch);
    assert_memory_not_equal(after.change_guid, before.change_guid, STORE_GUID_BYTES);
    assert_int_equal(after.tomb_horizon, after.modseq);
    assert_int_equal(store_commit(f->s), STORE_OK);
}

static void *pool_worker(void *arg)
{
    struct store_pool *pool = arg;
    for (int i = 0; i < 20; i++) {
        struct store *s = store_pool_acquire(pool);
        if (store_begin_read(s) != STORE_OK) {
            return (void *)1;
        }
        store_pool_release(pool, s); /* rolls back */
    }
    return NULL;
}

/* A calendar "cal" in the fixture's home, committed, and a pool of `max` connections to the
 * fixture's store. */
static struct store_pool *pool_with_cal(struct fixture *f, unsigned max, uint64_t *cal_out)
{
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    *cal_out = make_coll(f, f->p.home_id, "cal");
    assert_int_equal(store_commit(f->s), STORE_OK);
    struct store_pool *pool = NULL;
    assert_int_equal(store_pool_create(f->dir, max, &pool), STORE_OK);
    return pool;
}

static void test_store_pool_serves_two_threads(void **state)
{
    struct fixture *f = *state;
    struct store_pool *pool = NULL;
    assert_int_equal(store_pool_create(f->dir, 1, &pool), STORE_OK);
    pthread_t t1, t2;
    void *r1, *r2;
    pthread_create(&t1, NULL, pool_worker, pool);
    pthread_create(&t2, NULL, pool_worker, pool);
    pthread_join(t1, &r1);
    pthread_join(t2, &r2);
    assert_null(r1);
    assert_null(r2);
    store_pool_destroy(&pool);
    assert_null(pool);
}

struct name_list {
    char names[256];
    size_t used;
    int stop_after; /* stop the listing after this many calls; 0: never */
    int calls;
};

static int list_principal(void *ctx, const struct store_principal *p)
{
    struct name_list *l = ctx;
    int w = snprintf(l->names + l->used, sizeof(l->names) - l->used, "%s ", p->name);
    assert_true(w > 0 && (size_t)w < sizeof(l->names) - l->used);
    l->used += (size_t)w;
    l->calls++;
    return l->stop_after != 0 && l->calls >= l->stop_after;
}

static void test_store_principal_list_is_in_name_order_and_stops_early(void **state)
{
    struct fixture *f = *state;
    struct store_principal p;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    assert_int_equal(store_principal_add(f->s, "carol", "h", f->a, &p), STORE_OK);
    assert_int_equal(store_principal_add(f->s, "bob", "h", f->a, &p), STORE_OK);
    assert_int_equal(store_principal_add(f->s, "", "h", f->a, &p), STORE_LIMIT);
    struct name_list all = {.stop_after = 0};
    assert_int_equal(store_principal_list(f->s, list_principal, &all), STORE_OK);
    assert_string_equal(all.names, "alice bob carol ");
    struct name_list first = {.stop_after = 1};
    assert_int_equal(store_principal_list(f->s, list_principal, &first), STORE_OK);
    assert_string_equal(first.names, "alice ");
    assert_int_equal(store_commit(f->s), STORE_OK);
}

static void test_store_principal_del_takes_collections_items_and_props(void **state)
{
    struct fixture *f = *state;
    struct store_principal bob;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    assert_int_equal(store_principal_add(f->s, "bob", "h", f->a, &bob), STORE_OK);
    uint64_t cal = make_coll(f, bob.home_id, "cal");
    struct store_item_in in = text_item("x", "u1");
    struct store_item it;
    assert_int_equal(store_item_put(f->s, cal, "a", &in, f->a, &it, NULL), STORE_OK);
    assert_int_equal(store_item_delete(f->s, cal, "a"), STORE_OK);
    assert_int_equal(store_item_put(f->s, cal, "b", &in, f->a, &it, NULL), STORE_OK);
    struct store_prop p = {"urn:z", "p", "1", 1};
    assert_int_equal(store_prop_set(f->s, STORE_RES_ITEM, it.id, &p), STORE_OK);
    assert_int_equal(store_prop_set(f->s, STORE_RES_COLL, cal, &p), STORE_OK);
    assert_int_equal(store_principal_del(f->s, "bob"), STORE_OK);
    struct store_coll c;
    assert_int_equal(store_coll_get(f->s, cal, f->a, &c), STORE_NOTFOUND);
    assert_int_equal(store_item_get(f->s, cal, "b", STORE_ITEM_CONTENT, f->a, &it), STORE_NOTFOUND);
    struct store_prop got;
    assert_int_equal(store_prop_get(f->s, STORE_RES_ITEM, it.id, "urn:z", "p", f->a, &got),
                     STORE_NOTFOUND);
    assert_int_equal(store_prop_get(f->s, STORE_RES_COLL, cal, "urn:z", "p", f->a, &got),
                     STORE_NOTFOUND);
    /* alice is untouched */
    struct store_principal alice;
    assert_int_equal(store_principal_get(f->s, "alice", f->a, &alice), STORE_OK);
    assert_int_equal(store_coll_get(f->s, f->p.home_id, f->a, &c), STORE_OK);
    assert_int_equal(store_commit(f->s), STORE_OK);
}

static uint64_t coll_modseq(struct fixture *f, uint64_t id)
{
    struct store_coll c;
    assert_int_equal(store_coll_get(f->s, id, f->a, &c), STORE_OK);
    return c.modseq;
}

static void test_store_collection_writes_bump_the_parents_modseq(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    uint64_t home = f->p.home_id;
    assert_int_equal(coll_modseq(f, home), 1);
    uint64_t a = make_coll(f, home, "a");
    assert_int_equal(coll_modseq(f, home), 2);
    uint64_t b = make_coll(f, home, "b");
    assert_int_equal(coll_modseq(f, home), 3);
    uint64_t sub = make_coll(f, a, "sub");
    assert_int_equal(coll_modseq(f, a), 2);
    /* a move bumps both parents, not the moved collection */
    assert_int_equal(store_coll_move(f->s, sub, b, "moved"), STORE_OK);
    assert_int_equal(coll_modseq(f, a), 3);
    assert_int_equal(coll_modseq(f, b), 2);
    assert_int_equal(coll_modseq(f, sub), 1);
    /* a rename in place bumps the parent once */
    assert_int_equal(store_coll_move(f->s, sub, b, "renamed"), STORE_OK);
    assert_int_equal(coll_modseq(f, b), 3);
    struct store_coll c;
    assert_int_equal(store_coll_lookup(f->s, b, "moved", f->a, &c), STORE_NOTFOUND);
    assert_int_equal(store_coll_lookup(f->s, b, "renamed", f->a, &c), STORE_OK);
    assert_int_equal(c.id, sub);
    uint64_t m = 0;
    assert_int_equal(store_coll_touch(f->s, sub, &m), STORE_OK);
    assert_int_equal(m, 2);
    assert_int_equal(store_coll_touch(f->s, 999999, &m), STORE_NOTFOUND);
    assert_int_equal(store_coll_delete(f->s, b), STORE_OK);
    assert_int_equal(coll_modseq(f, home), 4);
    assert_int_equal(store_coll_delete(f->s, b), STORE_NOTFOUND);
    assert_int_equal(store_commit(f->s), STORE_OK);
}

static void test_store_one_name_is_either_a_collection_or_an_item(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    uint64_t a = make_coll(f, f->p.home_id, "a");
    uint64_t child = make_coll(f, a, "child");
    struct store_item_in in = text_item("x", NULL);
    assert_int_equal(store_item_put(f->s, a, "item", &in, f->a, NULL, NULL), STORE_OK);
    assert_int_equal(store_item_put(f->s, f->p.home_id, "other", &in, f->a, NULL, NULL), STORE_OK);
    uint64_t before = coll_modseq(f, a);
    /* item onto a collection's name, collection onto an item's name */
    assert_int_equal(store_item_move(f->s, f->p.home_id, "other", a, "child"), STORE_EXISTS);
    uint64_t b = make_coll(f, f->p.home_id, "b");
    assert_int_equal(store_coll_move(f->s, b, a, "item"), STORE_EXISTS);
    assert_int_equal(store_coll_move(f->s, b, a, "child"), STORE_EXISTS);
    assert_int_equal(coll_modseq(f, a), before); /* refused writes wrote nothing */
    (void)child;
    /* names are one segment of 1..STORE_NAME_MAX bytes */
    char longname[STORE_NAME_MAX + 2];
    memset(longname, 'n', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    struct store_coll c;
    assert_int_equal(store_coll_create(f->s, a, longname, STORE_COLL_PLAIN, f->a, &c), STORE_LIMIT);
    assert_int_equal(store_coll_create(f->s, a, "", STORE_COLL_PLAIN, f->a, &c), STORE_LIMIT);
    assert_int_equal(store_item_put(f->s, a, longname, &in, f->a, NULL, NULL), STORE_LIMIT);
    longname[STORE_NAME_MAX] = '\0';
    assert_int_equal(store_item_put(f->s, a, longname, &in, f->a, NULL, NULL), STORE_OK);
    assert_int_equal(store_commit(f->s), STORE_OK);
}

static void test_store_put_into_missing_collection_is_notfound(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    struct store_item_in in = text_item("x", "u");
    assert_int_equal(store_item_put(f->s, 999999, "a", &in, f->a, NULL, NULL), STORE_NOTFOUND);
    assert_true(strlen(store_last_error(f->s)) > 0);
    assert_int_equal(store_commit(f->s), STORE_OK);
}

static void test_store_items_without_uid_never_conflict(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    uint64_t cal = make_coll(f, f->p.home_id, "cal");
    struct store_item_in in = text_item("x", NULL);
    assert_int_equal(store_item_put(f->s, cal, "a", &in, f->a, NULL, NULL), STORE_OK);
    assert_int_equal(store_item_put(f->s, cal, "b", &in, f->a, NULL, NULL), STORE_OK);
    /* a uid may move from one item to another once the first lets it go */
    in = text_item("x", "u");
    assert_int_equal(store_item_put(f->s, cal, "a", &in, f->a, NULL, NULL), STORE_OK);
    assert_int_equal(store_item_put(f->s, cal, "b", &in, f->a, NULL, NULL), STORE_CONFLICT);
    struct store_item_in none = text_item("y", NULL);
    assert_int_equal(store_item_put(f->s, cal, "a", &none, f->a, NULL, NULL), STORE_OK);
    assert_int_equal(store_item_put(f->s, cal, "b", &in, f->a, NULL, NULL), STORE_OK);
    struct store_item it;
    assert_int_equal(store_item_get_by_uid(f->s, cal, "u", f->a, &it), STORE_OK);
    assert_string_equal(it.name, "b");
    assert_int_equal(store_item_get_by_uid(f->s, cal, "nope", f->a, &it), STORE_NOTFOUND);
    assert_int_equal(store_commit(f->s), STORE_OK);
}

static void test_store_empty_content_round_trips(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    uint64_t cal = make_coll(f, f->p.home_id, "cal");
    struct store_item_in in = {.content = NULL, .size = 0, .content_type = "text/plain"};
    assert_int_equal(store_item_put(f->s, cal, "empty", &in, f->a, NULL, NULL), STORE_OK);
    struct store_item it;
    assert_int_equal(store_item_get(f->s, cal, "empty", STORE_ITEM_CONTENT, f->a, &it), STORE_OK);
    assert_int_equal(it.size, 0);
    assert_non_null(it.content);
    assert_string_equal(it.content_type, "text/plain");
    assert_null(it.cal.uid);
    assert_false(it.cal.has_span);
    /* metadata reads never load content */
    assert_int_equal(store_item_get(f->s, cal, "empty", STORE_ITEM_META, f->a, &it), STORE_OK);
    assert_null(it.content);
    assert_int_equal(store_commit(f->s), STORE_OK);
}

static void test_store_item_ids_are_never_reused(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    uint64_t cal = make_coll(f, f->p.home_id, "cal");
    struct store_item_in in = text_item("x", NULL);
    struct store_item a;
    struct store_item b;
    assert_int_equal(store_item_put(f->s, cal, "a", &in, f->a, &a, NULL), STORE_OK);
    assert_int_equal(store_item_delete(f->s, cal, "a"), STORE_OK);
    assert_int_equal(store_commit(f->s), STORE_OK);
    /* exchange-replication.md §1.2: a new resource at the same URL gets a new repl-uid, even
     * when the newest id was deleted and the store reopened */
    store_close(&f->s);
    assert_int_equal(store_open(f->dir, &f->s, NULL), STORE_OK);
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    assert_int_equal(store_item_put(f->s, cal, "a", &in, f->a, &b, NULL), STORE_OK);
    assert_true(b.id > a.id);
    assert_true(b.id < (UINT64_C(1) << 47));
    assert_int_equal(store_commit(f->s), STORE_OK);
}

static void test_store_changes_since_skips_older_modseq(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    uint64_t cal = make_coll(f, f->p.home_id, "cal"); /* modseq 1 */
    struct store_item_in in = text_item("x", NULL);
    char name[16];
    for (int i = 0; i < 10; i++) { /* modseqs 2..11 */
        snprintf(name, sizeof(name), "i%d", i);
        assert_int_equal(store_item_put(f->s, cal, name, &in, f->a, NULL, NULL), STORE_OK);
    }
    assert_int_equal(store_item_put(f->s, cal, "i3", &in, f->a, NULL, NULL), STORE_OK); /* 12 */
    assert_int_equal(store_item_delete(f->s, cal, "i5"), STORE_OK);                     /* 13 */
    assert_int_equal(store_item_touch(f->s, cal, "i0"), STORE_OK);                      /* 14 */
    assert_int_equal(store_commit(f->s), STORE_OK);

    assert_int_equal(store_begin_read(f->s), STORE_OK);
    struct change ch[16];
    size_t n = read_changes(f, cal, 0, ch, 16);
    assert_int_equal(n, 10); /* 9 live rows and one tombstone, each at its last write */
    for (size_t i = 1; i < n; i++) {
        assert_true(ch[i - 1].modseq < ch[i].modseq);
    }
    n = read_changes(f, cal, 11, ch, 16);
    assert_int_equal(n, 3);
    assert_string_equal(ch[0].name, "i3");
    assert_int_equal(ch[0].modseq, 12);
    assert_int_equal(ch[0].created, 5); /* the replace kept its created_modseq */
    assert_string_equal(ch[1].name, "i5");
    assert_true(ch[1].tomb);
    assert_int_equal(ch[1].modseq, 13);
    assert_int_equal(ch[1].created, 7);
    assert_string_equal(ch[2].name, "i0");
    assert_int_equal(ch[2].modseq, 14);
    assert_int_equal(ch[2].created, 2);
    assert_int_equal(read_changes(f, cal, 14, ch, 16), 0);
    assert_int_equal(store_commit(f->s), STORE_OK);
}

static void test_store_touch_bumps_modseq_and_keeps_content(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    uint64_t cal = make_coll(f, f->p.home_id, "cal");
    struct store_item_in in = text_item("body", "u");
    struct store_item before;
    struct store_item after;
    assert_int_equal(store_item_put(f->s, cal, "a", &in, f->a, &before, NULL), STORE_OK);
    assert_int_equal(store_item_touch(f->s, cal, "a"), STORE_OK);
    assert_int_equal(store_item_get(f->s, cal, "a", STORE_ITEM_CONTENT, f->a, &after), STORE_OK);
    assert_int_equal(after.id, before.id);
    assert_int_equal(after.modseq, before.modseq + 1);
    assert_int_equal(after.created_modseq, before.created_modseq);
    assert_int_equal(after.size, 4);
    assert_memory_equal(after.content, "body", 4);
    uint64_t m = coll_modseq(f, cal);
    assert_int_equal(store_item_touch(f->s, cal, "missing"), STORE_NOTFOUND);
    assert_int_equal(coll_modseq(f, cal), m); /* a refused touch wrote nothing */
    assert_int_equal(store_commit(f->s), STORE_OK);
}

static void test_store_move_within_a_collection_renames_with_a_tombstone(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    uint64_t cal = make_coll(f, f->p.home_id, "cal"); /* 1 */
    struct store_item_in in = text_item("x", "u");
    struct store_item it;
    assert_int_equal(store_item_put(f->s, cal, "old", &in, f->a, &it, NULL), STORE_OK); /* 2 */
    assert_int_equal(store_item_move(f->s, cal, "old", cal, "new"), STORE_OK);          /* 3, 4 */
    struct change ch[4];
    size_t n = read_changes(f, cal, 2, ch, 4);
    assert_int_equal(n, 2);
    assert_true(ch[0].tomb);
    assert_string_equal(ch[0].name, "old");
    assert_int_equal(ch[0].id, it.id);
    assert_int_equal(ch[0].modseq, 3);
    assert_int_equal(ch[0].created, 2);
    assert_false(ch[1].tomb);
    assert_string_equal(ch[1].name, "new");
    assert_int_equal(ch[1].id, it.id);
    assert_int_equal(ch[1].modseq, 4);
    assert_int_equal(ch[1].created, 4);
    struct store_item got;
    assert_int_equal(store_item_get(f->s, cal, "new", STORE_ITEM_CONTENT, f->a, &got), STORE_OK);
    assert_memory_equal(got.content, "x", 1);
    assert_string_equal(got.cal.uid, "u"); /* its own uid is no clash */
    assert_int_equal(store_item_get(f->s, cal, "old", STORE_ITEM_META, f->a, &got), STORE_NOTFOUND);
    assert_int_equal(store_commit(f->s), STORE_OK);
}

static void test_store_refused_move_writes_nothing(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    uint64_t cal = make_coll(f, f->p.home_id, "cal");
    struct store_item_in in = text_item("x", NULL);
    assert_int_equal(store_item_put(f->s, cal, "a", &in, f->a, NULL, NULL), STORE_OK);
    uint64_t m = coll_modseq(f, cal);
    assert_int_equal(store_item_move(f->s, cal, "a", 999999, "a"), STORE_NOTFOUND);
    assert_int_equal(store_item_move(f->s, cal, "missing", cal, "b"), STORE_NOTFOUND);
    assert_int_equal(store_item_move(f->s, cal, "a", cal, ""), STORE_LIMIT);
    assert_int_equal(coll_modseq(f, cal), m);
    struct change ch[4];
    assert_int_equal(read_changes(f, cal, m, ch, 4), 0);
    assert_int_equal(store_commit(f->s), STORE_OK);
}

struct seen {
    size_t items;
    size_t colls;
};

static void test_store_two_cursors_stream_at_once(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    uint64_t cal = make_coll(f, f->p.home_id, "cal");
    make_coll(f, cal, "sub1");
    make_coll(f, cal, "sub2");
    struct store_item_in in = text_item("x", NULL);
    assert_int_equal(store_item_put(f->s, cal, "i1", &in, f->a, NULL, NULL), STORE_OK);
    assert_int_equal(store_item_put(f->s, cal, "i2", &in, f->a, NULL, NULL), STORE_OK);
    assert_int_equal(store_item_put(f->s, cal, "i3", &in, f->a, NULL, NULL), STORE_OK);
    assert_int_equal(store_commit(f->s), STORE_OK);

    assert_int_equal(store_begin_read(f->s), STORE_OK);
    /* twice: the second round reuses the statements the first one's cursors gave back */
    for (int round = 0; round < 2; round++) {
        struct store_cursor *colls = NULL;
        struct store_cursor *items = NULL;
        struct store_cursor *items2 = NULL;
        assert_int_equal(store_children_open(f->s, cal, &colls), STORE_OK);
        assert_int_equal(store_items_open(f->s, cal, STORE_ORDER_NAME, &items), STORE_OK);
        assert_int_equal(store_items_open(f->s, cal, STORE_ORDER_NAME, &items2), STORE_OK);
        struct seen seen = {0, 0};
        struct store_coll c;
        struct store_item it;
        struct store_item it2;
        /* interleaved: each cursor keeps its own position */
        while (store_cursor_next_coll(colls, &c) == STORE_OK) {
            seen.colls++;
            assert_int_equal(store_cursor_next_item(items, &it), STORE_OK);
            seen.items++;
        }
        while (store_cursor_next_item(items, &it) == STORE_OK) {
            seen.items++;
        }
        assert_int_equal(store_cursor_next_item(items2, &it2), STORE_OK);
        assert_string_equal(it2.name, "i1");
        assert_false(it2.is_tombstone);
        assert_int_equal(seen.colls, 2);
        assert_int_equal(seen.items, 3);
        /* a collection cursor gives no items, and the reverse */
        assert_int_equal(store_cursor_next_item(colls, &it), STORE_IO);
        assert_int_equal(store_cursor_next_coll(items, &c), STORE_IO);
        store_cursor_close(&colls);
        store_cursor_close(&items);
        store_cursor_close(&items2);
        assert_null(items);
        store_cursor_close(&items); /* closing NULL is a no-op */
    }
    struct store_cursor *all = NULL;
    assert_int_equal(store_all_colls_open(f->s, &all), STORE_OK);
    size_t n = 0;
    struct store_coll c;
    uint64_t last = 0;
    while (store_cursor_next_coll(all, &c) == STORE_OK) {
        assert_true(c.id > last);
        last = c.id;
        n++;
    }
    store_cursor_close(&all);
    assert_int_equal(n, 4); /* home, cal, sub1, sub2 */
    assert_int_equal(store_commit(f->s), STORE_OK);
}

static void test_store_items_cursor_orders_by_name_or_modseq(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    uint64_t cal = make_coll(f, f->p.home_id, "cal");
    struct store_item_in in = text_item("x", NULL);
    static const char *const names[] = {"b", "c", "a"};
    for (size_t i = 0; i < ALM_ARRAY_LEN(names); i++) {
        assert_int_equal(store_item_put(f->s, cal, names[i], &in, f->a, NULL, NULL), STORE_OK);
    }
    assert_int_equal(store_item_touch(f->s, cal, "b"), STORE_OK);

    static const struct {
        enum store_order order;
        const char *want;
    } cases[] = {{STORE_ORDER_NAME, "abc"}, {STORE_ORDER_MODSEQ, "cab"}};

    for (size_t k = 0; k < ALM_ARRAY_LEN(cases); k++) {
        struct store_cursor *cur = NULL;
        assert_int_equal(store_items_open(f->s, cal, cases[k].order, &cur), STORE_OK);
        char got[8] = "";
        size_t n = 0;
        struct store_item it;
        while (store_cursor_next_item(cur, &it) == STORE_OK) {
            assert_true(n < sizeof(got) - 1);
            got[n++] = it.name[0];
            assert_null(it.content); /* cursors never load content */
        }
        got[n] = '\0';
        store_cursor_close(&cur);
        assert_string_equal(got, cases[k].want);
    }
    assert_int_equal(store_commit(f->s), STORE_OK);
}

/* A listing cursor (STORE_COLS_LISTING) gives the rows of the full cursor of the same query,
 * in the same order, with their id, coll, name, modseq (and for changes created_modseq and
 * the tombstone flag), and nothing else of the item (issue 16); STORE_COLS_NAMES the same
 * without the id, which this engine leaves zero. */
static void test_store_listing_cursors_match_the_full_ones_issue_16(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    uint64_t other = make_coll(f, f->p.home_id, "other");
    uint64_t cal = make_coll(f, f->p.home_id, "cal");
    static const char *const names[] = {"b.ics", "c.ics", "a.ics", "d & e.ics", "f.ics"};
    for (size_t i = 0; i < ALM_ARRAY_LEN(names); i++) {
        char uid[16];
        snprintf(uid, sizeof(uid), "uid-%zu", i);
        struct store_item_in in = text_item("body", uid);
        assert_int_equal(store_item_put(f->s, cal, names[i], &in, f->a, NULL, NULL), STORE_OK);
        assert_int_equal(store_item_put(f->s, other, names[i], &in, f->a, NULL, NULL), STORE_OK);
    }
    assert_int_equal(store_item_touch(f->s, cal, "b.ics"), STORE_OK);
    assert_int_equal(store_item_delete(f->s, cal, "c.ics"), STORE_OK);
    assert_int_equal(store_item_move(f->s, cal, "f.ics", cal, "g.ics"), STORE_OK);
    assert_int_equal(store_commit(f->s), STORE_OK);

    assert_int_equal(store_begin_read(f->s), STORE_OK);
    for (int k = 0; k < 8; k++) {
        /* k < 4: STORE_COLS_LISTING; k >= 4: the same four with STORE_COLS_NAMES, no id */
        enum store_item_cols cols = k < 4 ? STORE_COLS_LISTING : STORE_COLS_NAMES;
        struct store_cursor *full = NULL;
        struct store_cursor *list = NULL;
        if (k % 4 < 2) {
            enum store_order order = k % 4 == 0 ? STORE_ORDER_NAME : STORE_ORDER_MODSEQ;
            assert_int_equal(store_items_open(f->s, cal, order, &full), STORE_OK);
            assert_int_equal(store_items_open_cols(f->s, cal, order, cols, &list), STORE_OK);
        } else {
            uint64_t since = k % 4 == 2 ? 0 : 6;
            assert_int_equal(store_changes_open(f->s, cal, since, &full), STORE_OK);
            assert_int_equal(store_changes_open_cols(f->s, cal, since, cols, &list), STORE_OK);
        }
        size_t n = 0;
        size_t tombs = 0;
        struct store_item a;
        struct store_item b;
        enum store_rc rc;
        while ((rc = store_cursor_next_item(full, &a)) == STORE_OK) {
            assert_int_equal(store_cursor_next_item(list, &b), STORE_OK);
            assert_int_equal(b.id, cols == STORE_COLS_LISTING ? a.id : 0);
            assert_int_equal(b.coll, cal);
            assert_string_equal(b.name, a.name);
            assert_int_equal(b.modseq, a.modseq);
            assert_int_equal(b.is_tombstone, a.is_tombstone);
            if (k % 4 >= 2) {
                assert_int_equal(b.created_modseq, a.created_modseq);
            }
            if (!a.is_tombstone) {
                assert_non_null(a.content_type);
                assert_non_null(a.cal.uid);
            }
            assert_null(b.content_type); /* the rest is not read */
            assert_null(b.cal.uid);
            assert_int_equal(b.size, 0);
            tombs += a.is_tombstone;
            n++;
        }
        assert_int_equal(rc, STORE_NOTFOUND);
        assert_int_equal(store_cursor_next_item(list, &b), STORE_NOTFOUND);
        /* by name (a, b, d & e, g) or modseq (a, d & e, b, g): the 4 live; changes since 0:
         * the 4 live and 2 tombstones (c, f); since 6 (the put of f): the touch of b, the
         * delete of c, and the move's two rows */
        assert_int_equal(n, k % 4 < 2 ? 4 : k % 4 == 2 ? 6 : 4);
        assert_int_equal(tombs, k % 4 < 2 ? 0 : 2);
        store_cursor_close(&full);
        store_cursor_close(&list);
    }
    assert_int_equal(store_commit(f->s), STORE_OK);
}

static void test_store_dead_props_need_their_resource(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    struct store_prop p = {"urn:z", "p", "1", 1};
    assert_int_equal(store_prop_set(f->s, STORE_RES_ITEM, 999999, &p), STORE_NOTFOUND);
    assert_int_equal(store_prop_set(f->s, STORE_RES_COLL, 999999, &p), STORE_NOTFOUND);
    assert_int_equal(store_prop_set(f->s, STORE_RES_COLL, f->p.home_id, &p), STORE_OK);
    assert_int_equal(store_prop_copy(f->s, STORE_RES_COLL, f->p.home_id, STORE_RES_ITEM, 999999),
                     STORE_NOTFOUND);
    /* a collection's and an item's properties never mix, even when their ids are equal */
    uint64_t cal = make_coll(f, f->p.home_id, "cal");
    struct store_item_in in = text_item("x", NULL);
    struct store_item it;
    assert_int_equal(store_item_put(f->s, cal, "a", &in, f->a, &it, NULL), STORE_OK);
    assert_int_equal(store_prop_copy(f->s, STORE_RES_COLL, f->p.home_id, STORE_RES_ITEM, it.id),
                     STORE_OK);
    struct store_prop got;
    assert_int_equal(store_prop_get(f->s, STORE_RES_ITEM, it.id, "urn:z", "p", f->a, &got),
                     STORE_OK);
    assert_string_equal(got.value, "1");
    assert_int_equal(store_item_delete(f->s, cal, "a"), STORE_OK);
    assert_int_equal(store_prop_get(f->s, STORE_RES_ITEM, it.id, "urn:z", "p", f->a, &got),
                     STORE_NOTFOUND);
    assert_int_equal(store_prop_get(f->s, STORE_RES_COLL, f->p.home_id, "urn:z", "p", f->a, &got),
                     STORE_OK);
    assert_int_equal(store_commit(f->s), STORE_OK);
}

static void test_store_read_snapshot_ignores_later_commits(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    uint64_t cal = make_coll(f, f->p.home_id, "cal");
    assert_int_equal(store_commit(f->s), STORE_OK);
    struct store *reader = NULL;
    assert_int_equal(store_open(f->dir, &reader, NULL), STORE_OK);
    assert_int_equal(store_begin_read(reader), STORE_OK);
    assert_true(store_in_txn(reader));
    struct store_coll c;
    assert_int_equal(store_coll_get(reader, cal, f->a, &c), STORE_OK); /* the snapshot starts */
    /* a writer on another connection commits meanwhile (WAL: readers never block it) */
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    struct store_item_in in = text_item("x", NULL);
    assert_int_equal(store_item_put(f->s, cal, "a", &in, f->a, NULL, NULL), STORE_OK);
    assert_int_equal(store_commit(f->s), STORE_OK);
    struct store_item it;
    assert_int_equal(store_item_get(reader, cal, "a", STORE_ITEM_META, f->a, &it), STORE_NOTFOUND);
    assert_int_equal(store_coll_get(reader, cal, f->a, &c), STORE_OK);
    assert_int_equal(c.modseq, 1);
    assert_int_equal(store_commit(reader), STORE_OK);
    assert_false(store_in_txn(reader));
    assert_int_equal(store_begin_read(reader), STORE_OK);
    assert_int_equal(store_item_get(reader, cal, "a", STORE_ITEM_META, f->a, &it), STORE_OK);
    assert_int_equal(store_begin_read(reader), STORE_IO); /* no nesting */
    assert_int_equal(store_rollback(reader), STORE_OK);
    assert_int_equal(store_rollback(reader), STORE_OK); /* none open: still fine */
    store_close(&reader);
    assert_null(reader);
}

struct pool_writer {
    struct store_pool *pool;
    uint64_t coll;
    int id;
    int failures;
};

/* Each round: one committed put, and one put left open for the pool to roll back. */
static void *pool_writer_main(void *arg)
{
    struct pool_writer *w = arg;
    struct store_item_in in = text_item("x", NULL);
    char name[32];
    for (int i = 0; i < 10; i++) {
        struct store *s = store_pool_acquire(w->pool);
        snprintf(name, sizeof(name), "w%d-%d", w->id, i);
        if (store_begin_write(s) != STORE_OK ||
            store_item_put(s, w->coll, name, &in, NULL, NULL, NULL) != STORE_OK ||
            store_commit(s) != STORE_OK) {
            w->failures++;
        }
        store_pool_release(w->pool, s);
        s = store_pool_acquire(w->pool);
        snprintf(name, sizeof(name), "dropped%d-%d", w->id, i);
        if (store_begin_write(s) != STORE_OK ||
            store_item_put(s, w->coll, name, &in, NULL, NULL, NULL) != STORE_OK) {
            w->failures++;
        }
        store_pool_release(w->pool, s); /* rolls back */
    }
    return NULL;
}

static void test_store_pool_writers_commit_and_release_rolls_back(void **state)
{
    struct fixture *f = *state;
    uint64_t cal = 0;
    struct store_pool *pool = pool_with_cal(f, 2, &cal);
    struct pool_writer w[2] = {{pool, cal, 0, 0}, {pool, cal, 1, 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_create(&t[i], NULL, pool_writer_main, &w[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(w[i].failures, 0);
    }
    store_pool_destroy(&pool);
    assert_int_equal(store_begin_read(f->s), STORE_OK);
    struct store_cursor *cur = NULL;
    assert_int_equal(store_items_open(f->s, cal, STORE_ORDER_MODSEQ, &cur), STORE_OK);
    size_t n = 0;
    uint64_t last = 0;
    struct store_item it;
    while (store_cursor_next_item(cur, &it) == STORE_OK) {
        assert_true(it.name[0] == 'w');
        assert_true(it.modseq > last);
        last = it.modseq;
        n++;
    }
    store_cursor_close(&cur);
    assert_int_equal(n, 20);
    assert_int_equal(coll_modseq(f, cal), 21); /* rolled-back puts left no modseq behind */
    assert_int_equal(store_commit(f->s), STORE_OK);
}

/* The lowest file descriptor number free now: the number the next open would return (an
 * RLIMIT_NOFILE of it makes every open fail, whatever higher numbers are in use). */
static long lowest_free_fd(void)
{
    int fd = open("/dev/null", O_RDONLY);
    if (fd >= 0) {
        close(fd);
    }
    return fd;
}

/* Issue 14: a connection the pool cannot open later (out of file descriptors here) is a NULL
 * the caller answers 503 with, not an abort of the daemon; the pool then goes on with the
 * connections it has. The first connection (and the migrations) open at create. */
static void test_store_pool_open_failure_is_not_fatal(void **state)
{
    struct fixture *f = *state;
    struct store_pool *pool = NULL;
    assert_int_equal(store_pool_create(f->dir, 2, &pool), STORE_OK);
    struct store *first = store_pool_acquire(pool);
    assert_non_null(first);
    struct rlimit saved;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
    long fds = lowest_free_fd();
    assert_true(fds > 2);
    struct rlimit tight = {(rlim_t)fds, saved.rlim_max};
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &tight), 0);
    struct store *second = store_pool_acquire(pool); /* needs a new file: refused */
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
    assert_null(second);
    store_pool_release(pool, first);
    struct store *again = store_pool_acquire(pool); /* the free one, at once */
    assert_ptr_equal(again, first);
    assert_int_equal(store_begin_read(again), STORE_OK);
    assert_int_equal(store_rollback(again), STORE_OK);
    struct store *more = store_pool_acquire(pool); /* files again: a second one opens */
    assert_non_null(more);
    /* without migrating, it still knows the store's secret (collblob MACs) and GUID */
    uint8_t k1[STORE_SECRET_BYTES];
    uint8_t k2[STORE_SECRET_BYTES];
    store_secret(again, k1);
    store_secret(more, k2);
    assert_memory_equal(k1, k2, sizeof(k1));
    uint8_t zero[STORE_SECRET_BYTES] = {0};
    assert_memory_not_equal(k1, zero, sizeof(k1));
    uint8_t g1[STORE_GUID_BYTES];
    uint8_t g2[STORE_GUID_BYTES];
    store_guid(again, g1);
    store_guid(more, g2);
    assert_memory_equal(g1, g2, sizeof(g1));
    store_pool_release(pool, more);
    store_pool_release(pool, again);
    store_pool_destroy(&pool);
    /* a directory that cannot hold the store fails at create, not at the first request */
    assert_int_equal(store_pool_create("/nonexistent/almanac-pool", 2, &pool), STORE_IO);
    assert_null(pool);
}

/* The range cursor returns each item's instance index bytes as written; a replace without
 * them clears them, a delete takes them along. */
static void test_store_range_cursor_returns_instance_index(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    uint64_t cal = make_coll(f, f->p.home_id, "cal");
    static const char idx[] = "0123456789abcdefghijklmn"; /* opaque to the store */
    struct store_item_in in = {.content = "x",
                               .size = 1,
                               .content_type = "text/calendar",
                               .cal.has_span = true,
                               .cal.dtstart_utc = 100,
                               .cal.dtend_utc = 300,
                               .cal.comp = 1,
                               .cal.is_recurring = true,
                               .cal.has_instances = true,
                               .cal.instances = idx,
                               .cal.instances_size = 24};
    assert_int_equal(store_item_put(f->s, cal, "series", &in, f->a, NULL, NULL), STORE_OK);
    struct store_item_in empty = in;
    empty.cal.instances = NULL;
    empty.cal.instances_size = 0; /* a finite series with no instance left */
    assert_int_equal(store_item_put(f->s, cal, "empty", &empty, f->a, NULL, NULL), STORE_OK);
    struct store_item_in plain = in;
    plain.cal.has_instances = false;
    assert_int_equal(store_item_put(f->s, cal, "plain", &plain, f->a, NULL, NULL), STORE_OK);

    struct store_cursor *cur = NULL;
    struct store_item it;
    assert_int_equal(store_items_in_range_open(f->s, cal, 0, 1000, STORE_RANGE_SPAN, &cur),
                     STORE_OK);
    int seen = 0;
    while (store_cursor_next_item(cur, &it) == STORE_OK) {
        if (strcmp(it.name, "series") == 0) {
            assert_true(it.cal.has_instances);
            assert_int_equal(it.cal.instances_size, 24);
            assert_memory_equal(it.cal.instances, idx, 24);
        } else if (strcmp(it.name, "empty") == 0) {
            assert_true(it.cal.has_instances);
            assert_int_equal(it.cal.instances_size, 0);
            assert_non_null(it.cal.instances);
        } else {
            assert_string_equal(it.name, "plain");
            assert_false(it.cal.has_instances);
        }
        seen++;
    }
    store_cursor_close(&cur);
    assert_int_equal(seen, 3);

    /* store_item_get returns it on request only (what COPY carries over) */
    struct store_item got;
    assert_int_equal(store_item_get(f->s, cal, "series", STORE_ITEM_META, f->a, &got), STORE_OK);
    assert_false(got.cal.has_instances);
    assert_int_equal(store_item_get(f->s, cal, "series", STORE_ITEM_INSTANCES, f->a, &got),
                     STORE_OK);
    assert_true(got.cal.has_instances);
    assert_int_equal(got.cal.instances_size, 24);
    assert_memory_equal(got.cal.instances, idx, 24);
    assert_int_equal(store_item_get(f->s, cal, "empty", STORE_ITEM_INSTANCES, f->a, &got),
                     STORE_OK);
    assert_true(got.cal.has_instances);
    assert_int_equal(got.cal.instances_size, 0);
    assert_int_equal(
        store_item_get(f->s, cal, "plain", STORE_ITEM_CONTENT | STORE_ITEM_INSTANCES, f->a, &got),
        STORE_OK);
    assert_false(got.cal.has_instances);
    assert_int_equal(got.size, 1);

    /* other cursors never carry it */
    assert_int_equal(store_items_open(f->s, cal, STORE_ORDER_NAME, &cur), STORE_OK);
    while (store_cursor_next_item(cur, &it) == STORE_OK) {
        assert_false(it.cal.has_instances);
    }
    store_cursor_close(&cur);

    /* replacing the series by a single clears its index; deleting "empty" removes its row */
    assert_int_equal(store_item_put(f->s, cal, "series", &plain, f->a, NULL, NULL), STORE_OK);
    assert_int_equal(store_item_delete(f->s, cal, "empty"), STORE_OK);
    assert_int_equal(store_items_in_range_open(f->s, cal, 0, 1000, STORE_RANGE_SPAN, &cur),
                     STORE_OK);
    seen = 0;
    while (store_cursor_next_item(cur, &it) == STORE_OK) {
        assert_false(it.cal.has_instances);
        seen++;
    }
    store_cursor_close(&cur);
    assert_int_equal(seen, 2);
    assert_int_equal(store_commit(f->s), STORE_OK);
}

/* Group commit: a write's commit returns only after a WAL flush it led or shared; read
 * transactions and rollbacks never flush. One connection at a time: exactly one flush per
 * committed write. */
static void test_store_pool_commit_of_a_write_waits_for_a_flush(void **state)
{
    struct fixture *f = *state;
    uint64_t cal = 0;
    struct store_pool *pool = pool_with_cal(f, 1, &cal);
    struct store *s = store_pool_acquire(pool);
    assert_int_equal(store_pool_flush_count(pool), 0);
    struct store_item_in in = text_item("x", NULL);
    assert_int_equal(store_begin_write(s), STORE_OK);
    assert_int_equal(store_item_put(s, cal, "a", &in, NULL, NULL, NULL), STORE_OK);
    assert_int_equal(store_commit(s), STORE_OK);
    assert_int_equal(store_pool_flush_count(pool), 1);
    assert_int_equal(store_begin_read(s), STORE_OK);
    assert_int_equal(store_commit(s), STORE_OK);
    assert_int_equal(store_pool_flush_count(pool), 1); /* a read does not wait */
    assert_int_equal(store_begin_write(s), STORE_OK);
    assert_int_equal(store_item_put(s, cal, "b", &in, NULL, NULL, NULL), STORE_OK);
    assert_int_equal(store_rollback(s), STORE_OK);
    assert_int_equal(store_pool_flush_count(pool), 1); /* nor does a rollback */
    assert_int_equal(store_begin_write(s), STORE_OK);
    assert_int_equal(store_item_put(s, cal, "c", &in, NULL, NULL, NULL), STORE_OK);
    store_pool_release(pool, s); /* rolls back */
    assert_int_equal(store_pool_flush_count(pool), 1);
    s = store_pool_acquire(pool);
    assert_int_equal(store_begin_write(s), STORE_OK);
    assert_int_equal(store_item_put(s, cal, "d", &in, NULL, NULL, NULL), STORE_OK);
    assert_int_equal(store_commit(s), STORE_OK);
    assert_int_equal(store_pool_flush_count(pool), 2);
    store_pool_release(pool, s);
    store_pool_destroy(&pool);
    assert_int_equal(store_begin_read(f->s), STORE_OK);
    struct store_item it;
    assert_int_equal(store_item_get(f->s, cal, "a", STORE_ITEM_META, f->a, &it), STORE_OK);
    assert_int_equal(store_item_get(f->s, cal, "b", STORE_ITEM_META, f->a, &it), STORE_NOTFOUND);
    assert_int_equal(store_item_get(f->s, cal, "c", STORE_ITEM_META, f->a, &it), STORE_NOTFOUND);
    assert_int_equal(store_item_get(f->s, cal, "d", STORE_ITEM_META, f->a, &it), STORE_OK);
    assert_int_equal(store_commit(f->s), STORE_OK);
}

struct flush_writer {
    struct store_pool *pool;
    uint64_t coll;
    int id;
    int failures;
};

static void *flush_writer_main(void *arg)
{
    struct flush_writer *w = arg;
    struct store_item_in in = text_item("x", NULL);
    char name[32];
    for (int i = 0; i < 25; i++) {
        struct store *s = store_pool_acquire(w->pool);
        snprintf(name, sizeof(name), "g%d-%d", w->id, i);
        if (store_begin_write(s) != STORE_OK ||
            store_item_put(s, w->coll, name, &in, NULL, NULL, NULL) != STORE_OK ||
            store_commit(s) != STORE_OK) {
            w->failures++;
        }
        store_pool_release(w->pool, s);
    }
    return NULL;
}

/* Eight writers on eight connections: all 200 commits land, none waits forever, and the
 * flushes are at most one per commit (fewer when commits overlap; by how much depends on the
 * disk, so only printed). */
static void test_store_pool_concurrent_writers_commit_through_the_barrier(void **state)
{
    enum {
        WRITERS = 8
    };
    struct fixture *f = *state;
    uint64_t cal = 0;
    struct store_pool *pool = pool_with_cal(f, WRITERS, &cal);
    struct flush_writer w[WRITERS];
    pthread_t t[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        w[i] = (struct flush_writer){pool, cal, i, 0};
        assert_int_equal(pthread_create(&t[i], NULL, flush_writer_main, &w[i]), 0);
    }
    for (int i = 0; i < WRITERS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(w[i].failures, 0);
    }
    uint64_t flushes = store_pool_flush_count(pool);
    print_message("200 commits, %llu WAL flushes\n", (unsigned long long)flushes);
    assert_true(flushes >= 1 && flushes <= 200);
    store_pool_destroy(&pool);
    assert_int_equal(store_begin_read(f->s), STORE_OK);
    assert_int_equal(coll_modseq(f, cal), 201);
    assert_int_equal(store_commit(f->s), STORE_OK);
}

/* Issue 16 item 3: every write of a pool goes through one connection, the pool's writer, whose
 * page cache only sees its own commits. Three handles writing in turn, with a read on each in
 * between, used to begin every write on a cache SQLite had emptied (another connection had
 * committed since), and read its pages again (about ten a write here); through the writer
 * they read next to none. Each handle still reads its own connection, and sees the writes. */
static void test_store_pool_writes_go_through_one_warm_connection(void **state)
{
    enum {
        HANDLES = 3,
        ROUNDS = 20
    };
    struct fixture *f = *state;
    uint64_t cal = 0;
    struct store_pool *pool = pool_with_cal(f, HANDLES, &cal);
    struct store *h[HANDLES];
    for (int i = 0; i < HANDLES; i++) {
        h[i] = store_pool_acquire(pool);
        assert_non_null(h[i]);
    }
    char name[32];
    struct store_item_in in = text_item("BEGIN:VCALENDAR", NULL);
    /* warm-up: the writer's cache learns the pages */
    for (int i = 0; i < HANDLES; i++) {
        snprintf(name, sizeof(name), "warm%d", i);
        assert_int_equal(store_begin_write(h[i]), STORE_OK);
        assert_int_equal(store_item_put(h[i], cal, name, &in, NULL, NULL, NULL), STORE_OK);
        assert_int_equal(store_commit(h[i]), STORE_OK);
    }
    struct store_pool_stats before;
    store_pool_stats(pool, &before);
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < HANDLES; i++) {
            snprintf(name, sizeof(name), "r%d-%d", r, i);
            assert_int_equal(store_begin_write(h[i]), STORE_OK);
            assert_int_equal(store_item_put(h[i], cal, name, &in, NULL, NULL, NULL), STORE_OK);
            assert_int_equal(store_commit(h[i]), STORE_OK);
            /* the next handle reads what this one wrote, on its own connection */
            struct store *next = h[(i + 1) % HANDLES];
            struct store_item it;
            assert_int_equal(store_begin_read(next), STORE_OK);
            assert_int_equal(store_item_get(next, cal, name, 0, f->a, &it), STORE_OK);
            assert_int_equal(store_rollback(next), STORE_OK);
        }
    }
    struct store_pool_stats after;
    store_pool_stats(pool, &after);
    uint64_t reads = after.write_page_reads - before.write_page_reads;
    print_message("%d writes read %llu pages past the cache\n", ROUNDS * HANDLES,
                  (unsigned long long)reads);
    assert_true(reads <= ROUNDS * HANDLES / 2);
    for (int i = 0; i < HANDLES; i++) {
        store_pool_release(pool, h[i]);
    }
    store_pool_destroy(&pool);
    assert_int_equal(store_begin_read(f->s), STORE_OK);
    assert_int_equal(coll_modseq(f, cal), 1 + HANDLES + ROUNDS * HANDLES);
    assert_int_equal(store_commit(f->s), STORE_OK);
}

struct gate_writer {
    struct store_pool *pool;
    uint64_t coll;
    atomic_int committed;
};

static void *gate_writer_main(void *arg)
{
    struct gate_writer *w = arg;
    struct store *s = store_pool_acquire(w->pool);
    struct store_item_in in = text_item("second", NULL);
    if (s && store_begin_write(s) == STORE_OK &&
        store_item_put(s, w->coll, "second", &in, NULL, NULL, NULL) == STORE_OK &&
        store_commit(s) == STORE_OK) {
        atomic_store(&w->committed, 1);
    }
    if (s) {
        store_pool_release(w->pool, s);
    }
    return NULL;
}

/* A cursor opened in a write and still open after its commit belongs to the writer's
 * connection: it goes on reading it, and the next writer waits until it is closed (its
 * statement must not run on the writer while another transaction does). Then the handle has
 * its own connection back, and sees the other writer's commit. */
static void test_store_pool_cursor_open_after_a_write_keeps_the_writer(void **state)
{
    struct fixture *f = *state;
    uint64_t cal = 0;
    struct store_pool *pool = pool_with_cal(f, 2, &cal);
    struct store *s = store_pool_acquire(pool);
    assert_non_null(s);
    struct store_item_in in = text_item("first", NULL);
    assert_int_equal(store_begin_write(s), STORE_OK);
    assert_int_equal(store_item_put(s, cal, "first", &in, NULL, NULL, NULL), STORE_OK);
    struct store_cursor *cur = NULL;
    assert_int_equal(store_items_open(s, cal, STORE_ORDER_NAME, &cur), STORE_OK);
    assert_int_equal(store_commit(s), STORE_OK);
    struct gate_writer w = {pool, cal, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, gate_writer_main, &w), 0);
    struct timespec nap = {0, 100 * 1000 * 1000};
    nanosleep(&nap, NULL);
    assert_int_equal(atomic_load(&w.committed), 0); /* waits for the cursor */
    struct store_item it;
    assert_int_equal(store_cursor_next_item(cur, &it), STORE_OK);
    assert_string_equal(it.name, "first");
    assert_int_equal(store_cursor_next_item(cur, &it), STORE_NOTFOUND);
    store_cursor_close(&cur);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(atomic_load(&w.committed), 1);
    assert_int_equal(store_begin_read(s), STORE_OK);
    assert_int_equal(store_item_get(s, cal, "second", 0, f->a, &it), STORE_OK);
    assert_int_equal(store_items_open(s, cal, STORE_ORDER_NAME, &cur), STORE_OK);
    int n = 0;
    while (store_cursor_next_item(cur, &it) == STORE_OK) {
        n++;
    }
    store_cursor_close(&cur);
    assert_int_equal(n, 2);
    assert_int_equal(store_rollback(s), STORE_OK);
    store_pool_release(pool, s);
    store_pool_destroy(&pool);
}

static void test_store_reopen_keeps_data_and_does_not_rerun_migrations(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    uint64_t cal = make_coll(f, f->p.home_id, "cal");
    struct store_item_in in = text_item("persisted", "u");
    assert_int_equal(store_item_put(f->s, cal, "a", &in, f->a, NULL, NULL), STORE_OK);
    struct store_prop p = {"urn:z", "p", "v", 1};
    assert_int_equal(store_prop_set(f->s, STORE_RES_COLL, cal, &p), STORE_OK);
    assert_int_equal(store_commit(f->s), STORE_OK);
    /* a migration run twice would fail (CREATE TABLE of an existing table) and so would the
     * open */
    for (int i = 0; i < 2; i++) {
        store_close(&f->s);
        const char *msg = "unset";
        assert_int_equal(store_open(f->dir, &f->s, &msg), STORE_OK);
        assert_null(msg);
    }
    assert_int_equal(store_begin_read(f->s), STORE_OK);
    struct store_principal pr;
    assert_int_equal(store_principal_get(f->s, "alice", f->a, &pr), STORE_OK);
    assert_string_equal(pr.pwhash, "hash1");
    struct store_item it;
    assert_int_equal(store_item_get(f->s, cal, "a", STORE_ITEM_CONTENT, f->a, &it), STORE_OK);
    assert_int_equal(it.size, 9);
    assert_memory_equal(it.content, "persisted", 9);
    struct store_prop got;
    assert_int_equal(store_prop_get(f->s, STORE_RES_COLL, cal, "urn:z", "p", f->a, &got), STORE_OK);
    assert_int_equal(store_commit(f->s), STORE_OK);
}

static void test_store_open_fails_cleanly_on_a_missing_directory(void **state)
{
    (void)state;
    struct store *s = NULL;
    const char *msg = NULL;
    assert_int_equal(store_open("/nonexistent/almanac-test-dir", &s, &msg), STORE_IO);
    assert_null(s);
    assert_non_null(msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_store_principals_add_get_list_passwd_del, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_store_cred_gen_changes_with_passwd_and_recreation_issue_14, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_coll_usage_counts_live_items, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_coll_comps_default_to_zero_and_persist_issue_14,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_collections_nest_and_refuse_clashes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_put_bumps_modseq_and_keeps_created_modseq, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_changes_since_merge_items_and_tombstones, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_move_keeps_id_and_props_and_leaves_a_tombstone,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_range_cursor_uses_overlap_semantics, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_store_dead_props_set_replace_list_copy_and_go_with_the_item, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_store_rollback_leaves_nothing_and_commit_survives_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_store_open_takes_a_location_and_sends_postgresql_to_its_engine, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_delete_collection_removes_subtree, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_history_reset_and_tombstone_pruning, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_pool_serves_two_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_principal_list_is_in_name_order_and_stops_early,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_principal_del_takes_collections_items_and_props,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_collection_writes_bump_the_parents_modseq, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_one_name_is_either_a_collection_or_an_item,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_put_into_missing_collection_is_notfound, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_items_without_uid_never_conflict, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_empty_content_round_trips, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_item_ids_are_never_reused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_changes_since_skips_older_modseq, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_touch_bumps_modseq_and_keeps_content, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_store_move_within_a_collection_renames_with_a_tombstone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_refused_move_writes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_two_cursors_stream_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_items_cursor_orders_by_name_or_modseq, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_listing_cursors_match_the_full_ones_issue_16,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_dead_props_need_their_resource, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_read_snapshot_ignores_later_commits, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_pool_writers_commit_and_release_rolls_back,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_pool_open_failure_is_not_fatal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_range_cursor_returns_instance_index, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_pool_commit_of_a_write_waits_for_a_flush, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_store_pool_concurrent_writers_commit_through_the_barrier, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_pool_writes_go_through_one_warm_connection,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_pool_cursor_open_after_a_write_keeps_the_writer,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_reopen_keeps_data_and_does_not_rerun_migrations,
                                        setup, teardown),
        cmocka_unit_test(test_store_open_fails_cleanly_on_a_missing_directory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
