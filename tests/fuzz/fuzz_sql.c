/* tests/fuzz/fuzz_sql.c: the SQL subset of Exchange's SEARCH (repl/sql.c) and its WHERE
 * compiler (repl/where.c), exchange-replication.md §1.3, §3.2-3.3. SEARCH reads D:sql with
 * its request in hand (the collection is resolved first), so the text is fuzzed here alone:
 * the streaming reader in front of it is fuzz_xmlin's. Each input is one query. A refusal
 * names one of the parser's two conditions. An accepted query is compiled twice, with and
 * without the calendar folding of §3.3; a failure there is a 422 condition. Compiled
 * conditions must agree: on rows of a calendar (content class appointment, not a folder, not
 * hidden; the other values drawn from the input's hash) the folded and the unfolded
 * condition give the same verdict. The canonical text (§1.3, which collblobs compare) must be
 * a fixed point: parsed, compiled and printed again, it prints the same (unless it nests
 * deeper than the parser takes), and so do the shape and the bounds of a sliding collblob
 * (docs/replication.md). Violations
 * abort(). Seeds are in tests/fuzz/corpus/sql/. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chunks.h"
#include "repl/where.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One row: every property's value comes from `rng`, fixed for the whole evaluation. */
struct row {
    uint64_t seed;
};

static const char *const strings[] = {
    "", "BUSY", "Room 4.12", "urn:content-classes:appointment", "a%b_c", "standup.ics", "Work",
};
static const int64_t ints[] = {0, 1, 2, 3, -1, 321, 1767607200};

static int row_value(void *ctx, const struct repl_prop *p, struct repl_ex_value *v)
{
    const struct row *r = ctx;
    memset(v, 0, sizeof(*v));
    if (p->src == REPL_SRC_ROW && p->id == REPL_RP_CONTENTCLASS) {
        v->present = true;
        v->s = "urn:content-classes:appointment";
        return 0;
    }
    if (p->src == REPL_SRC_ROW && (p->id == REPL_RP_ISFOLDER || p->id == REPL_RP_ISHIDDEN)) {
        v->present = true;
        v->i = 0;
        return 0;
    }
    struct fuzz_chunks c = {.state = (r->seed ^ ((uint64_t)p->src << 32 | (unsigned)p->id)) | 1};
    uint64_t x = fuzz_chunks_rand(&c);
    v->present = (x & 3) != 0;
    if (!v->present) {
        return 0;
    }
    static const char *const mv[] = {"Work", "Blue"};
    static const int64_t mvt[] = {1767607200, 1767610800};
    switch (p->type) {
    case REPL_EX_STRING:
        v->s = strings[(x >> 8) % (sizeof(strings) / sizeof(strings[0]))];
        break;
    case REPL_EX_INT:
    case REPL_EX_TIME:
        v->i = ints[(x >> 8) % (sizeof(ints) / sizeof(ints[0]))];
        break;
    case REPL_EX_BOOL:
        v->i = (x >> 8) & 1;
        break;
    case REPL_EX_MV_STRING:
        v->mv_s = mv;
        v->n = 1 + ((x >> 8) & 1);
        break;
    case REPL_EX_MV_TIME:
        v->mv_t = mvt;
        v->n = 1 + ((x >> 8) & 1);
        break;
    }
    return 0;
}

static int parse_compile(struct slice sql,
                         bool fold,
                         struct arena *a,
                         struct repl_query *q,
                         struct repl_cond **c,
                         struct err *e)
{
    err_init(e);
    if (repl_sql_parse(sql, a, q, e) != 0) {
        if (e->cond != &repl_cond_sql_syntax && e->cond != &repl_cond_sql_unsupported) {
            abort();
        }
        return -1;
    }
    if (!q->scope || (q->nitems && !q->items) || (q->norder && !q->order)) {
        abort();
    }
    for (size_t i = 0; i < q->nitems; i++) {
        if (!q->items[i].prop) {
            abort();
        }
    }
    if (repl_where_compile(q->where, fold, a, c, e) != 0) {
        if (e->cond != &repl_cond_sql_type && e->cond != &repl_cond_sql_unsupported) {
            abort();
        }
        return -2;
    }
    return 0;
}

/* The canonical text of `c`, printed, parsed, compiled and printed again, is the same. */
static void check_fixed_point(const struct repl_cond *c, bool fold, struct arena *a)
{
    if (!c) {
        return; /* TRUE: no WHERE to write */
    }
    struct buf t1;
    buf_init(&t1, 1 << 20);
    struct buf t2;
    buf_init(&t2, 1 << 20);
    if (buf_append_cstr(&t1, "SELECT * FROM \"\" WHERE ") != 0) {
        abort();
    }
    size_t at = t1.len;
    if (repl_where_print(c, &t1) == 0) {
        struct repl_query q;
        struct repl_cond *c2;
        struct err e;
        int rc = parse_compile(buf_slice(&t1), fold, a, &q, &c2, &e);
        if (rc == -1 && e.cond == &repl_cond_sql_unsupported) {
            /* every binary node is parenthesized, so a chain of more than 64 terms prints
             * deeper than the parser's 64 levels: a text to compare, not to parse */
            buf_deinit(&t1);
            buf_deinit(&t2);
            return;
        }
        if (rc != 0 || repl_where_print(c2, &t2) != 0 ||
            !slice_eq(buf_slice(&t2), (struct slice){t1.data + at, t1.len - at})) {
            fprintf(stderr, "fuzz_sql: printed %s\nfuzz_sql: then %s (%s)\n", buf_cstr(&t1),
                    buf_cstr(&t2), e.msg);
            abort(); /* the canonical text is not canonical */
        }
        /* docs/replication.md: the shape and the bounds a sliding collblob carries survive
         * the same round trip, and the shape names exactly the bounds it abstracts */
        int64_t b1[REPL_WHERE_MAX_BOUNDS + 1] = {0};
        int64_t b2[REPL_WHERE_MAX_BOUNDS + 1] = {0};
        size_t n1 = repl_where_bounds(c, b1, REPL_WHERE_MAX_BOUNDS + 1);
        size_t n2 = repl_where_bounds(c2, b2, REPL_WHERE_MAX_BOUNDS + 1);
        buf_reset(&t1);
        buf_reset(&t2);
        if (n1 != n2 || memcmp(b1, b2, sizeof(b1)) != 0 || repl_where_print_shape(c, &t1) != 0 ||
            repl_where_print_shape(c2, &t2) != 0 || !slice_eq(buf_slice(&t1), buf_slice(&t2))) {
            abort();
        }
        char last[32];
        snprintf(last, sizeof(last), "$%zu", n1);
        if (n1 > 0 && !strstr(buf_cstr(&t1), last)) {
            abort(); /* every bound is a placeholder */
        }
    }
    buf_deinit(&t1);
    buf_deinit(&t2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct slice sql = {(const char *)data, size};
    struct arena *a = arena_create();
    struct repl_query q;
    struct repl_cond *folded;
    struct repl_cond *plain;
    struct err e;
    int rc = parse_compile(sql, true, a, &q, &folded, &e);
    if (rc == 0) {
        if (parse_compile(sql, false, a, &q, &plain, &e) != 0) {
            abort(); /* folding decides nothing about validity */
        }
        struct fuzz_chunks c;
        fuzz_chunks_init(&c, data, size, 0);
        for (int i = 0; i < 8; i++) {
            struct row r = {fuzz_chunks_rand(&c)};
            int x = repl_where_eval(folded, row_value, &r);
            int y = repl_where_eval(plain, row_value, &r);
            if (x < 0 || y < 0 || x != y) {
                abort(); /* folding changed a calendar row's verdict */
            }
        }
        int64_t start;
        int64_t end;
        repl_where_window(folded, &start, &end);
        (void)repl_where_needs_content(folded);
        check_fixed_point(folded, true, a);
        check_fixed_point(plain, false, a);
    }
    arena_destroy(&a);
    return 0;
}
