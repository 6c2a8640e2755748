/* tests/unit/repl/test_sql.c: the SEARCH SQL subset (repl/sql.c, exchange-replication.md
 * §3.2). Valid queries from the brief's table of client shapes are checked through a dump of
 * the tree; invalid ones by condition and byte offset; every prefix of every valid query must
 * parse or fail with a condition (never crash or leak). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "repl/sql.h"
#include "util/buf.h"

static const char *const cmp_names[] = {"=", "<>", "<", ">", "<=", ">="};

static void dump_operand(struct buf *b, const struct repl_operand *o)
{
    int rc = 0;
    switch (o->kind) {
    case REPL_OPD_PROP:
        rc = buf_appendf(b, "p\"%s\"", o->text);
        break;
    case REPL_OPD_STRING:
        rc = buf_appendf(b, "s'%s'", o->text);
        break;
    case REPL_OPD_NUMBER:
        rc = buf_appendf(b, "n%s", o->text);
        break;
    case REPL_OPD_BOOL:
        rc = buf_appendf(b, "%s", o->boolean ? "true" : "false");
        break;
    case REPL_OPD_CAST:
        rc = buf_appendf(b, "cast(%s%s as %s)", o->value_is_dq ? "dq:" : "", o->text, o->cast_type);
        break;
    }
    assert_int_equal(rc, 0);
}

static void dump_expr(struct buf *b, const struct repl_expr *e)
{
    switch (e->kind) {
    case REPL_EXPR_AND:
    case REPL_EXPR_OR:
        assert_int_equal(buf_appendf(b, "(%s ", e->kind == REPL_EXPR_AND ? "and" : "or"), 0);
        dump_expr(b, e->a);
        assert_int_equal(buf_putc(b, ' '), 0);
        dump_expr(b, e->b);
        assert_int_equal(buf_putc(b, ')'), 0);
        break;
    case REPL_EXPR_NOT:
        assert_int_equal(buf_append_cstr(b, "(not "), 0);
        dump_expr(b, e->a);
        assert_int_equal(buf_putc(b, ')'), 0);
        break;
    case REPL_EXPR_CMP:
        assert_int_equal(buf_putc(b, '('), 0);
        dump_operand(b, &e->left);
        assert_int_equal(buf_appendf(b, " %s ", cmp_names[e->op]), 0);
        dump_operand(b, &e->right);
        assert_int_equal(buf_putc(b, ')'), 0);
        break;
    case REPL_EXPR_NULL:
        assert_int_equal(buf_putc(b, '('), 0);
        dump_operand(b, &e->left);
        assert_int_equal(buf_append_cstr(b, e->negated ? " is not null)" : " is null)"), 0);
        break;
    case REPL_EXPR_LIKE:
        assert_int_equal(buf_putc(b, '('), 0);
        dump_operand(b, &e->left);
        assert_int_equal(buf_appendf(b, " %slike '%s')", e->negated ? "not " : "", e->pattern), 0);
        break;
    }
}

static void dump(struct buf *b, const struct repl_query *q)
{
    static const char *const depths[] = {"shallow", "deep", "hierarchical"};
    assert_int_equal(buf_append_cstr(b, "select"), 0);
    if (q->select_all) {
        assert_int_equal(buf_append_cstr(b, " *"), 0);
    }
    for (size_t i = 0; i < q->nitems; i++) {
        assert_int_equal(buf_appendf(b, " [%s%s%s]", q->items[i].prop,
                                     q->items[i].alias ? " as " : "",
                                     q->items[i].alias ? q->items[i].alias : ""),
                         0);
    }
    assert_int_equal(buf_appendf(b, " from %s \"%s\"", depths[q->depth], q->scope), 0);
    if (q->where) {
        assert_int_equal(buf_append_cstr(b, " where "), 0);
        dump_expr(b, q->where);
    }
    for (size_t i = 0; i < q->norder; i++) {
        assert_int_equal(
            buf_appendf(b, " order %s %s", q->order[i].prop, q->order[i].desc ? "desc" : "asc"), 0);
    }
}

struct good {
    const char *sql;
    const char *tree;
};

static const struct good good[] = {
    /* SDK replication sample: single-quoted names, SCOPE with a depth */
    {"SELECT 'DAV:displayname', 'http://schemas.microsoft.com/repl/resourcetag' FROM "
     "SCOPE('SHALLOW TRAVERSAL OF \"/exchange/alice/calendar/\"')",
     "select [DAV:displayname] [http://schemas.microsoft.com/repl/resourcetag] from shallow "
     "\"/exchange/alice/calendar/\""},
    /* DavMail / Connector: WHERE with CAST, AND, NOT, != */
    {"select \"urn:schemas:calendar:dtstart\", \"DAV:href\" from scope('deep traversal of \"\"') "
     "where \"DAV:contentclass\" = 'urn:content-classes:appointment' AND "
     "\"urn:schemas:calendar:dtend\" > CAST(\"2005-01-01T00:00:00Z\" as 'dateTime.tz') AND "
     "NOT \"urn:schemas:calendar:instancetype\" = 2 AND NOT \"urn:schemas:calendar:instancetype\" != 3",
     "select [urn:schemas:calendar:dtstart] [DAV:href] from deep \"\" where (and (and (and "
     "(p\"DAV:contentclass\" = s'urn:content-classes:appointment') "
     "(p\"urn:schemas:calendar:dtend\" > cast(dq:2005-01-01T00:00:00Z as datetime.tz))) "
     "(not (p\"urn:schemas:calendar:instancetype\" = n2))) "
     "(not (p\"urn:schemas:calendar:instancetype\" <> n3)))"},
    /* RSS script: FROM "url", AS alias, IS NULL, OR, parentheses, ORDER BY */
    {"SELECT \"urn:schemas:httpmail:subject\" AS subject, \"urn:schemas:calendar:location\" AS \"loc\" "
     "FROM \"\" WHERE (\"urn:schemas:calendar:busystatus\" IS NULL OR "
     "\"urn:schemas:calendar:busystatus\" <> 'FREE') ORDER BY \"urn:schemas:calendar:dtstart\" DESC;",
     "select [urn:schemas:httpmail:subject as subject] [urn:schemas:calendar:location as loc] "
     "from shallow \"\" where (or (p\"urn:schemas:calendar:busystatus\" is null) "
     "(p\"urn:schemas:calendar:busystatus\" <> s'FREE')) order urn:schemas:calendar:dtstart desc"},
    /* SELECT *, LIKE, NOT LIKE, IS NOT NULL, booleans, literal on the left, a scope with no depth
     */
    {"SELECT * FROM SCOPE('\"/exchange/alice/cal/\"') WHERE \"DAV:displayname\" LIKE '%x_%' "
     "and \"DAV:href\" not like 'a%' and \"DAV:isfolder\" = False and 5 <= \"x:y\" "
     "and \"x:z\" is not null",
     "select * from deep \"/exchange/alice/cal/\" where (and (and (and (and "
     "(p\"DAV:displayname\" like '%x_%') (p\"DAV:href\" not like 'a%')) "
     "(p\"DAV:isfolder\" = false)) (n5 <= p\"x:y\")) (p\"x:z\" is not null))"},
    /* quotes doubled inside strings, numbers with sign and fraction, HIERARCHICAL, whitespace */
    {"SELECT\t\"a\"\"b\"\r\nFROM SCOPE('hierarchical traversal of \"/x/\"')\nWHERE \"p\" = 'it''s' "
     "OR \"q\" >= -1.5 ORDER BY \"p\" ASC, \"q\"",
     "select [a\"b] from hierarchical \"/x/\" where (or (p\"p\" = s'it's') (p\"q\" >= n-1.5)) "
     "order p asc order q asc"},
    /* bare date string (SDK calendar sample), CAST with a single-quoted value */
    {"SELECT \"DAV:href\" FROM \"/c/\" WHERE \"urn:schemas:calendar:dtstart\" > '2003/06/01 00:00:00' "
     "AND \"urn:schemas:calendar:dtend\" < CAST('2003-07-01' AS \"dateTime\")",
     "select [DAV:href] from shallow \"/c/\" where (and (p\"urn:schemas:calendar:dtstart\" > "
     "s'2003/06/01 00:00:00') (p\"urn:schemas:calendar:dtend\" < cast(2003-07-01 as datetime)))"},
};

struct bad {
    const char *sql;
    const struct err_cond *cond;
    size_t offset;
};

static const struct bad bad[] = {
    {"", &repl_cond_sql_syntax, 0},
    {"SELEKT \"a\" FROM \"\"", &repl_cond_sql_syntax, 0},
    {"SELECT FROM \"\"", &repl_cond_sql_syntax, 7},
    {"SELECT \"a\" FROM", &repl_cond_sql_syntax, 15},
    {"SELECT \"a\" FROM \"\" WHERE", &repl_cond_sql_syntax, 24},
    {"SELECT \"a\" FROM \"\" WHERE \"a\" = ", &repl_cond_sql_syntax, 31},
    {"SELECT \"a\" FROM \"\" WHERE \"a\" = 'x", &repl_cond_sql_syntax, 31},
    {"SELECT \"a\" FROM \"\" WHERE 1 = 2", &repl_cond_sql_syntax, 25},
    {"SELECT \"a\" FROM \"\" WHERE (\"a\" = 1", &repl_cond_sql_syntax, 33},
    {"SELECT \"a\" FROM \"\" WHERE \"a\" = 1 garbage", &repl_cond_sql_syntax, 33},
    {"SELECT \"a\" FROM \"\" WHERE \"a\" # 1", &repl_cond_sql_syntax, 29},
    {"SELECT \"a\" FROM SCOPE('SIDEWAYS TRAVERSAL OF \"/\"')", &repl_cond_sql_syntax, 23},
    {"SELECT \"a\" FROM \"\" WHERE CONTAINS(\"a\", 'x')", &repl_cond_sql_unsupported, 25},
    {"SELECT \"a\" FROM \"\" WHERE FREETEXT('x')", &repl_cond_sql_unsupported, 25},
    {"SELECT \"a\" FROM \"\" WHERE \"a\" IN ('x')", &repl_cond_sql_unsupported, 29},
    {"SELECT \"a\" FROM \"\" WHERE \"a\" BETWEEN 1 AND 2", &repl_cond_sql_unsupported, 29},
    {"SELECT \"a\" FROM \"\" GROUP BY \"a\"", &repl_cond_sql_unsupported, 19},
    {"SELECT COUNT(\"a\") FROM \"\"", &repl_cond_sql_unsupported, 7},
    {"SELECT \"a\" FROM SCOPE('\"/a/\"', '\"/b/\"')", &repl_cond_sql_unsupported, 29},
    {"SELECT \"a\" FROM SCOPE('DEEP TRAVERSAL OF \"/a/\", DEEP TRAVERSAL OF \"/b/\"')",
     &repl_cond_sql_unsupported, 46},
    {"SELECT \"a\" FROM \"\" WHERE \"a\" > CAST('x' AS 'float')", &repl_cond_sql_unsupported, 43},
};

static void test_sql_parses_the_shapes_clients_send(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1 << 16);
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct arena *a = arena_create();
        struct repl_query q;
        struct err e;
        err_init(&e);
        if (repl_sql_parse(slice_from_cstr(good[i].sql), a, &q, &e) != 0) {
            fail_msg("case %zu: %s", i, e.msg);
        }
        buf_reset(&b);
        dump(&b, &q);
        assert_string_equal(buf_cstr(&b), good[i].tree);
        arena_destroy(&a);
    }
    buf_deinit(&b);
}

static void test_sql_errors_name_condition_and_offset(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct arena *a = arena_create();
        struct repl_query q;
        struct err e;
        err_init(&e);
        if (repl_sql_parse(slice_from_cstr(bad[i].sql), a, &q, &e) != -1) {
            fail_msg("case %zu parsed: %s", i, bad[i].sql);
        }
        if (e.cond != bad[i].cond) {
            fail_msg("case %zu: %s (%s), want %s", i, e.cond->name, e.msg, bad[i].cond->name);
        }
        char want[32];
        snprintf(want, sizeof(want), "offset %zu", bad[i].offset);
        if (!strstr(e.msg, want)) {
            fail_msg("case %zu: '%s' lacks '%s'", i, e.msg, want);
        }
        arena_destroy(&a);
    }
}

static void test_sql_every_prefix_parses_or_fails_with_a_condition(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        size_t len = strlen(good[i].sql);
        for (size_t cut = 0; cut <= len; cut++) {
            struct arena *a = arena_create();
            struct repl_query q;
            struct err e;
            err_init(&e);
            int rc = repl_sql_parse((struct slice){good[i].sql, cut}, a, &q, &e);
            assert_true(rc == 0 ||
                        (e.cond == &repl_cond_sql_syntax || e.cond == &repl_cond_sql_unsupported));
            arena_destroy(&a);
        }
    }
}

static void test_sql_deep_nesting_is_bounded(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1 << 16);
    assert_int_equal(buf_append_cstr(&b, "SELECT \"a\" FROM \"\" WHERE "), 0);
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(buf_append_cstr(&b, "NOT ("), 0);
    }
    struct arena *a = arena_create();
    struct repl_query q;
    struct err e;
    err_init(&e);
    assert_int_equal(repl_sql_parse(buf_slice(&b), a, &q, &e), -1);
    assert_ptr_equal(e.cond, &repl_cond_sql_unsupported);
    arena_destroy(&a);
    buf_deinit(&b);
}

/* An AND/OR chain is as deep a tree as its length: 1,024 predicates parse, one more is
 * 422 sql-unsupported (issue 14: chains went past the nesting bound). */
static void test_sql_long_chains_are_bounded(void **state)
{
    (void)state;
    for (int n = 1024; n <= 1025; n++) {
        struct buf b;
        buf_init(&b, 1 << 16);
        assert_int_equal(buf_append_cstr(&b, "SELECT \"a\" FROM \"\" WHERE \"p\" = 0"), 0);
        for (int i = 1; i < n; i++) {
            assert_int_equal(buf_appendf(&b, i % 2 ? " OR \"p\" = %d" : " AND \"p\" = %d", i), 0);
        }
        struct arena *a = arena_create();
        struct repl_query q;
        struct err e;
        err_init(&e);
        int rc = repl_sql_parse(buf_slice(&b), a, &q, &e);
        if (n == 1024) {
            assert_int_equal(rc, 0);
        } else {
            assert_int_equal(rc, -1);
            assert_ptr_equal(e.cond, &repl_cond_sql_unsupported);
            assert_non_null(strstr(e.msg, "1024 conditions"));
        }
        arena_destroy(&a);
        buf_deinit(&b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sql_long_chains_are_bounded),
        cmocka_unit_test(test_sql_parses_the_shapes_clients_send),
        cmocka_unit_test(test_sql_errors_name_condition_and_offset),
        cmocka_unit_test(test_sql_every_prefix_parses_or_fails_with_a_condition),
        cmocka_unit_test(test_sql_deep_nesting_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
