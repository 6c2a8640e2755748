/* tests/unit/repl/test_where.c: WHERE typing, folding, canonical text, index windows and
 * three-valued evaluation (repl/where.c, exchange-replication.md §1.3, §3.3, §3.8), from
 * tables with exact results: every query is parsed by repl/sql.c first, then compiled. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "repl/where.h"

#define Q(w) "SELECT \"DAV:href\" FROM \"\" WHERE " w

enum {
    WHERE_AT = 32 /* offset of the WHERE condition in Q() */
};

#define C   "urn:schemas:calendar:"
#define H   "urn:schemas:httpmail:"
#define KEY "urn:schemas-microsoft-com:office:office#Keywords"

static struct arena *arena;

static int setup(void **state)
{
    (void)state;
    arena = arena_create();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    arena_destroy(&arena);
    return 0;
}

static int compile_q(const char *sql, struct repl_cond **c, struct err *e)
{
    struct repl_query q;
    err_init(e);
    assert_int_equal(repl_sql_parse(slice_from_cstr(sql), arena, &q, e), 0);
    return repl_where_compile(q.where, true, arena, c, e);
}

/* The row every evaluation case sees: a weekly series on 2026-01-05 10:00-11:00 UTC. */
static int row_value(void *ctx, const struct repl_prop *p, struct repl_ex_value *v)
{
    (void)ctx;
    static const char *const keywords[] = {"Work", "Blue"};
    memset(v, 0, sizeof(*v));
    if (p->src == REPL_SRC_ROW) {
        v->present = true;
        switch (p->id) {
        case REPL_RP_CONTENTCLASS:
            v->s = "urn:content-classes:appointment";
            break;
        case REPL_RP_GETCONTENTLENGTH:
            v->i = 321;
            break;
        case REPL_RP_DISPLAYNAME:
            v->s = "standup.ics";
            break;
        case REPL_RP_ISFOLDER:
            v->i = 0;
            break;
        default:
            v->present = false;
        }
        return 0;
    }
    v->present = true;
    switch (p->id) {
    case REPL_EX_DTSTART:
        v->i = 1767607200;
        break;
    case REPL_EX_DTEND:
        v->i = 1767610800;
        break;
    case REPL_EX_LOCATION:
        v->s = "Room 4.12";
        break;
    case REPL_EX_BUSYSTATUS:
        v->s = "BUSY";
        break;
    case REPL_EX_INSTANCETYPE:
        v->i = 1;
        break;
    case REPL_EX_ALLDAYEVENT:
        v->i = 0;
        break;
    case REPL_EX_KEYWORDS:
        v->mv_s = keywords;
        v->n = 2;
        break;
    default:
        v->present = false; /* e.g. H:subject: NULL */
    }
    return 0;
}

struct eval_case {
    const char *sql;
    int want;
};

static const struct eval_case evals[] = {
    {Q("\"" C "dtstart\" >= CAST(\"2026-01-05T00:00:00Z\" AS 'dateTime.tz')"), 1},
    {Q("\"" C "dtstart\" > '2026-01-05T10:00:00Z'"), 0},
    {Q("\"" C "dtstart\" >= '2026/01/05 10:00:00'"), 1},
    {Q("\"" C "dtend\" <= '2026-01-05T12:00:00+01:00'"), 1},
    {Q("\"" C "dtend\" < '2026-01-05T11:00:00.000Z'"), 0},
    {Q("'2026-01-06' > \"" C "dtstart\""), 1},
    {Q("\"" C "location\" = 'room 4.12'"), 1},
    {Q("\"" C "location\" <> 'Room 4.12'"), 0},
    {Q("\"" C "location\" LIKE '%4._2'"), 1},
    {Q("\"" C "location\" LIKE 'Room'"), 0},
    {Q("\"" C "location\" NOT LIKE '%lyon%'"), 1},
    {Q("\"" C "busystatus\" = 'busy' AND \"" C "instancetype\" = 1"), 1},
    {Q("NOT \"" C "instancetype\" = 2 AND NOT \"" C "instancetype\" = 3"), 1},
    {Q("\"" C "instancetype\" = '1'"), 1},
    {Q("\"" C "alldayevent\" = false"), 1},
    {Q("\"" C "alldayevent\" = 't'"), 0},
    {Q("\"DAV:getcontentlength\" > 300"), 1},
    {Q("\"" KEY "\" = 'blue'"), 1},
    {Q("\"" KEY "\" = 'green'"), 0},
    /* NULL: comparisons are UNKNOWN, NOT UNKNOWN is UNKNOWN, IS NULL is TRUE */
    {Q("\"" H "subject\" = 'x'"), 0},
    {Q("NOT \"" H "subject\" = 'x'"), 0},
    {Q("\"" H "subject\" IS NULL"), 1},
    {Q("\"" H "subject\" IS NOT NULL"), 0},
    {Q("\"" H "subject\" = 'x' OR \"" C "instancetype\" = 1"), 1},
    {Q("\"urn:x-unknown:prop\" = 'x' OR \"" C "instancetype\" = 2"), 0},
    {Q("\"urn:x-unknown:prop\" IS NULL"), 1},
    /* two properties of one type */
    {Q("\"" C "dtstart\" < \"" C "dtend\""), 1},
    {Q("\"" C "location\" = \"" C "busystatus\""), 0},
    /* folded constants and what is left */
    {Q("\"DAV:contentclass\" = 'urn:content-classes:appointment' AND \"DAV:isfolder\" = false"), 1},
    {Q("\"DAV:isfolder\" = true"), 0},
    {Q("NOT \"DAV:ishidden\" = false"), 0},
};

static void test_where_eval_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(evals) / sizeof(evals[0]); i++) {
        struct repl_cond *c;
        struct err e;
        if (compile_q(evals[i].sql, &c, &e) != 0) {
            fail_msg("%s: %s", evals[i].sql, e.msg);
        }
        int got = repl_where_eval(c, row_value, NULL);
        if (got != evals[i].want) {
            fail_msg("%s: got %d, want %d", evals[i].sql, got, evals[i].want);
        }
    }
}

struct print_case {
    const char *sql;
    const char *canonical;
};

static const struct print_case prints[] = {
    {Q("\"DAV:contentclass\" = 'urn:content-classes:appointment' AND \"DAV:isfolder\" = false"),
     "TRUE"},
    {Q("\"DAV:isfolder\" = 0 and \"" C "dtend\" > cast(\"2024-01-01T00:00:00Z\" as 'dateTime.tz')"),
     "\"" C "dtend\" > '2024-01-01T00:00:00Z'"},
    /* a bare date, an offset and a CAST all print the same instant */
    {Q("\"" C "dtend\" > '2024/01/01 01:00:00'"), "\"" C "dtend\" > '2024-01-01T01:00:00Z'"},
    {Q("\"" C "dtend\" > '2024-01-01T02:00:00+01:00'"), "\"" C "dtend\" > '2024-01-01T01:00:00Z'"},
    {Q("'it''s' = \"" C "location\""), "\"" C "location\" = 'it''s'"},
    {Q("NOT \"" C "instancetype\" = 2 OR \"" H "subject\" IS NOT NULL"),
     "((NOT \"" C "instancetype\" = 2) OR \"" H "subject\" IS NOT NULL)"},
    /* NOT TRUE is no query: the folded operand stays (found by fuzz_sql) */
    {Q("NOT \"DAV:contentclass\" = 'urn:content-classes:appointment'"),
     "(NOT \"DAV:contentclass\" = 'urn:content-classes:appointment')"},
    {Q("\"https://schemas.microsoft.com/repl/repl-uid\" LIKE 'rid:%'"),
     "\"http://schemas.microsoft.com/repl/repl-uid\" LIKE 'rid:%'"},
};

static void test_where_prints_the_canonical_form(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(prints) / sizeof(prints[0]); i++) {
        struct repl_cond *c;
        struct err e;
        if (compile_q(prints[i].sql, &c, &e) != 0) {
            fail_msg("%s: %s", prints[i].sql, e.msg);
        }
        struct buf b;
        buf_init(&b, 4096);
        assert_int_equal(repl_where_print(c, &b), 0);
        assert_string_equal(b.data, prints[i].canonical);
        buf_deinit(&b);
    }
}

/* docs/replication.md "Sliding date windows": the bounds a collblob may slide and the shape
 * that two queries differing only in them share. */
struct shape_case {
    const char *sql;
    const char *shape;
    size_t nbounds;
    int64_t first; /* the first bound's value */
};

static const struct shape_case shapes[] = {
    {Q("\"" C "dtend\" >= cast(\"2026-03-01T00:00:00Z\" as 'dateTime.tz')"), "\"" C "dtend\" >= $1",
     1, 1772323200},
    {Q("\"DAV:isfolder\" = false AND \"" C "dtstart\" >= '2026-03-01' AND \"" H
       "subject\" = 'x' AND \"" C "dtend\" <= '2026/03/02'"),
     "((\"" C "dtstart\" >= $1 AND \"" H "subject\" = 'x') AND \"" C "dtend\" <= $2)", 2,
     1772323200},
    /* below OR or NOT, with =, <> or another property: part of the shape, not a bound */
    {Q("(\"" C "dtstart\" < '2026-03-01' OR \"" C "location\" = 'x') AND \"" C
       "dtstart\" = '2026-03-01' AND NOT \"" C "dtend\" < '2026-03-01' AND \"" C
       "dtstamp\" > '2026-03-01'"),
     "((((\"" C "dtstart\" < '2026-03-01T00:00:00Z' OR \"" C "location\" = 'x') AND \"" C
     "dtstart\" = '2026-03-01T00:00:00Z') AND (NOT \"" C "dtend\" < '2026-03-01T00:00:00Z')) "
     "AND \"" C "dtstamp\" > '2026-03-01T00:00:00Z')",
     0, 0},
    /* a string that looks like a placeholder stays a quoted string */
    {Q("\"" H "subject\" = '$1' AND \"" C "dtstart\" < '1970-01-02'"),
     "(\"" H "subject\" = '$1' AND \"" C "dtstart\" < $1)", 1, 86400},
};

static void test_where_shape_abstracts_the_top_level_date_bounds(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        struct repl_cond *c;
        struct err e;
        if (compile_q(shapes[i].sql, &c, &e) != 0) {
            fail_msg("%s: %s", shapes[i].sql, e.msg);
        }
        struct buf b;
        buf_init(&b, 4096);
        assert_int_equal(repl_where_print_shape(c, &b), 0);
        assert_string_equal(b.data, shapes[i].shape);
        buf_deinit(&b);
        int64_t v[REPL_WHERE_MAX_BOUNDS] = {0};
        assert_int_equal(repl_where_bounds(c, v, REPL_WHERE_MAX_BOUNDS), shapes[i].nbounds);
        if (shapes[i].nbounds) {
            assert_true(v[0] == shapes[i].first);
        }
    }
    /* set_bounds moves what evaluation sees, not the canonical text */
    struct repl_cond *c;
    struct err e;
    assert_int_equal(compile_q(Q("\"" C "dtstart\" >= '2026-01-06'"), &c, &e), 0);
    assert_int_equal(repl_where_eval(c, row_value, NULL), 0); /* the row starts 2026-01-05 */
    int64_t earlier = 1767225600;                             /* 2026-01-01 */
    repl_where_set_bounds(c, &earlier, 1);
    assert_int_equal(repl_where_eval(c, row_value, NULL), 1);
    struct buf b;
    buf_init(&b, 4096);
    assert_int_equal(repl_where_print(c, &b), 0);
    assert_string_equal(b.data, "\"" C "dtstart\" >= '2026-01-06T00:00:00Z'");
    buf_deinit(&b);
}

struct bad_case {
    const char *sql;
    const struct err_cond *cond;
    const char *msg; /* a substring of the message: the offset and the literal */
};

static const struct bad_case bads[] = {
    {Q("\"" C "instancetype\" = 'abc'"), &repl_cond_sql_type, "offset 70 ('abc')"},
    {Q("\"" C "dtstart\" > 5"), &repl_cond_sql_type, "offset 65 ('5')"},
    {Q("\"" C "dtstart\" > '2026-02-30'"), &repl_cond_sql_type, "('2026-02-30')"},
    {Q("\"" C "dtstart\" > '2026-01-05T10:00'"), &repl_cond_sql_type, "('2026-01-05T10:00')"},
    {Q("\"" C "alldayevent\" = 'maybe'"), &repl_cond_sql_type, "('maybe')"},
    {Q("\"" C "location\" > CAST('2026-01-01' AS 'dateTime')"), &repl_cond_sql_type, "offset 66"},
    {Q("\"" C "instancetype\" = 1.5"), &repl_cond_sql_type, "('1.5')"},
    {Q("\"" C "dtstart\" LIKE '2026%'"), &repl_cond_sql_type, "not a string"},
    {Q("\"" C "dtstart\" = \"" C "location\""), &repl_cond_sql_type, "different types"},
};

static void test_where_rejects_literals_that_do_not_convert(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
        struct repl_cond *c;
        struct err e;
        assert_int_equal(compile_q(bads[i].sql, &c, &e), -1);
        assert_ptr_equal(e.cond, bads[i].cond);
        if (!strstr(e.msg, bads[i].msg)) {
            fail_msg("%s: message '%s' lacks '%s'", bads[i].sql, e.msg, bads[i].msg);
        }
    }
}

struct window_case {
    const char *sql;
    bool any;
    int64_t start;
    int64_t end;
};

/* 2024-01-01T00:00:00Z = 1704067200, 2024-02-01T00:00:00Z = 1706745600 */
static const struct window_case windows[] = {
    {Q("\"" C "dtend\" > '2024-01-01' AND \"" C "dtstart\" < '2024-02-01'"), true, 1704067199,
     1706745601},
    {Q("\"" C "dtstart\" >= '2024-01-01' AND \"" C "dtend\" <= '2024-02-01' AND \"DAV:isfolder\""
       " = false"),
     true, 1704067199, 1706745601},
    {Q("\"" C "dtstart\" = '2024-01-01'"), true, 1704067199, 1704067201},
    {Q("\"" C "dtend\" > '2024-01-01' OR \"" C "dtstart\" < '2024-02-01'"), false, INT64_MIN,
     INT64_MAX},
    {Q("NOT \"" C "dtend\" > '2024-01-01'"), false, INT64_MIN, INT64_MAX},
    {Q("\"" C "dtstart\" <> '2024-01-01'"), false, INT64_MIN, INT64_MAX},
    {Q("\"" C "location\" = 'x' AND \"" C "dtend\" > '2024-01-01'"), true, 1704067199, INT64_MAX},
};

static void test_where_windows_for_the_span_index(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(windows) / sizeof(windows[0]); i++) {
        struct repl_cond *c;
        struct err e;
        assert_int_equal(compile_q(windows[i].sql, &c, &e), 0);
        int64_t s, t;
        assert_int_equal(repl_where_window(c, &s, &t), windows[i].any);
        assert_int_equal(s, windows[i].start);
        assert_int_equal(t, windows[i].end);
    }
    struct repl_cond *c;
    struct err e;
    assert_int_equal(compile_q(Q("\"" C "dtend\" > '2024-01-01'"), &c, &e), 0);
    assert_false(repl_where_needs_content(c));
    assert_int_equal(compile_q(Q("\"" C "location\" = 'x'"), &c, &e), 0);
    assert_true(repl_where_needs_content(c));
}

/* Folder rows (hierarchical traversal) are not appointments: nothing folds. */
static void test_where_does_not_fold_for_folder_rows(void **state)
{
    (void)state;
    struct repl_query q;
    struct err e;
    err_init(&e);
    assert_int_equal(repl_sql_parse(SLICE_LIT(Q("\"DAV:isfolder\" = false")), arena, &q, &e), 0);
    struct repl_cond *c;
    assert_int_equal(repl_where_compile(q.where, false, arena, &c, &e), 0);
    assert_non_null(c);
    struct buf b;
    buf_init(&b, 256);
    assert_int_equal(repl_where_print(c, &b), 0);
    assert_string_equal(b.data, "\"DAV:isfolder\" = FALSE");
    buf_deinit(&b);
}

static void test_where_parses_the_date_forms(void **state)
{
    (void)state;

    static const struct {
        const char *s;
        int64_t t; /* -1: invalid */
    } dates[] = {
        {"2024-01-01T00:00:00Z", 1704067200},
        {"2024-01-01T00:00:00.123Z", 1704067200},
        {"2024-01-01T01:00:00+01:00", 1704067200},
        {"2023-12-31T19:00:00-05:00", 1704067200},
        {"2024-01-01 00:00:00", 1704067200},
        {"2024/01/01 00:00:00", 1704067200},
        {"2024-01-01", 1704067200},
        {"2024/01/01", 1704067200},
        {"2024-02-29", 1709164800},
        {"1969-12-31T23:59:59Z", -1},
        {"2023-02-29", -2},
        {"2024-13-01", -2},
        {"2024-01-01T24:00:00Z", -2},
        {"2024/01-01", -2},
        {"2024-01-01Z", -2},
        {"2024-01-01T00:00:00Zx", -2},
        {"", -2},
    };

    for (size_t i = 0; i < sizeof(dates) / sizeof(dates[0]); i++) {
        int64_t t = 0;
        int rc = repl_parse_date(dates[i].s, &t);
        if (dates[i].t == -2) {
            assert_int_equal(rc, -1);
        } else {
            assert_int_equal(rc, 0);
            assert_int_equal(t, dates[i].t);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_where_eval_table),
        cmocka_unit_test(test_where_prints_the_canonical_form),
        cmocka_unit_test(test_where_shape_abstracts_the_top_level_date_bounds),
        cmocka_unit_test(test_where_rejects_literals_that_do_not_convert),
        cmocka_unit_test(test_where_windows_for_the_span_index),
        cmocka_unit_test(test_where_does_not_fold_for_folder_rows),
        cmocka_unit_test(test_where_parses_the_date_forms),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
