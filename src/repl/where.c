/* repl/where.c: typing, folding, canonical printing and three-valued evaluation of a SEARCH
 * WHERE clause (exchange-replication.md §1.3, §3.3). Literals are converted once, when the
 * query is compiled; evaluation only compares numbers and strings. */
#include "repl/where.h"

#include <string.h>

#include "util/parse.h"

/* SQL truth values (§3.3: NULL makes a comparison UNKNOWN). */
enum tv {
    TV_FALSE = 0,
    TV_TRUE = 1,
    TV_UNKNOWN = 2
};

struct repl_cond {
    enum repl_expr_kind kind;
    struct repl_cond *a; /* AND, OR: left; NOT: operand (NULL: NOT TRUE) */
    struct repl_cond *b; /* AND, OR: right */
    enum repl_cmp op;
    struct repl_prop prop;  /* CMP (left side after normalisation), NULL, LIKE */
    bool rhs_prop;          /* CMP: the right side is prop2 */
    struct repl_prop prop2; /* CMP */
    bool lit_null;          /* CMP: the literal has no type (the property is unknown) */
    struct repl_ex_value lit;
    const char *lit_text; /* canonical text of the literal */
    bool negated;         /* IS NOT NULL, NOT LIKE */
    const char *pattern;  /* LIKE */
};

/* ---------------------------------------------------------------------------------------- */
/* Dates */

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's civil algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* Reads exactly `n` digits at s[*i]. */
static bool digits(const char *s, size_t *i, size_t n, unsigned *v)
{
    *v = 0;
    for (size_t k = 0; k < n; k++) {
        char c = s[*i + k];
        if (c < '0' || c > '9') {
            return false;
        }
        *v = *v * 10 + (unsigned)(c - '0');
    }
    *i += n;
    return true;
}

int repl_parse_date(const char *s, int64_t *t)
{
    size_t i = 0;
    unsigned y, mo, d, h = 0, mi = 0, se = 0;
    if (!digits(s, &i, 4, &y) || (s[i] != '-' && s[i] != '/')) {
        return -1;
    }
    char sep = s[i++];
    if (!digits(s, &i, 2, &mo) || s[i++] != sep || !digits(s, &i, 2, &d)) {
        return -1;
    }
    int64_t offset = 0;
    if (s[i] == 'T' || s[i] == ' ') {
        bool iso = s[i] == 'T' && sep == '-';
        i++;
        if (!digits(s, &i, 2, &h) || s[i++] != ':' || !digits(s, &i, 2, &mi) || s[i++] != ':' ||
            !digits(s, &i, 2, &se)) {
            return -1;
        }
        if (iso && s[i] == '.') {
            for (i++; s[i] >= '0' && s[i] <= '9'; i++) {
            }
        }
        if (iso && s[i] == 'Z') {
            i++;
        } else if (iso && (s[i] == '+' || s[i] == '-')) {
            int sign = s[i++] == '-' ? -1 : 1;
            unsigned oh, om;
            if (!digits(s, &i, 2, &oh) || s[i++] != ':' || !digits(s, &i, 2, &om) || oh > 23 ||
                om > 59) {
                return -1;
            }
            offset = sign * (int64_t)(oh * 3600 + om * 60);
        }
    }
    static const unsigned mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (s[i] != '\0' || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
        (mo == 2 && d == 29 && !leap) || h > 23 || mi > 59 || se > 60) {
        return -1;
    }
    *t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - offset;
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Typing (§3.3) */

static enum repl_ex_type scalar_of(enum repl_ex_type t)
{
    return t == REPL_EX_MV_STRING ? REPL_EX_STRING : t == REPL_EX_MV_TIME ? REPL_EX_TIME : t;
}

static bool parse_bool_text(const char *s, int64_t *v)
{
    static const char *const t[] = {"t", "true", "1"};
    static const char *const f[] = {"f", "false", "0"};
    for (size_t i = 0; i < 3; i++) {
        if (slice_eq_ci(slice_from_cstr(s), slice_from_cstr(t[i]))) {
            *v = 1;
            return true;
        }
        if (slice_eq_ci(slice_from_cstr(s), slice_from_cstr(f[i]))) {
            *v = 0;
            return true;
        }
    }
    return false;
}

static bool parse_int_text(const char *s, int64_t *v)
{
    bool neg = s[0] == '-';
    uint64_t u;
    if (parse_u64(slice_from_cstr(s + neg), &u) != 0 || u > (uint64_t)INT64_MAX) {
        return false;
    }
    *v = neg ? -(int64_t)u : (int64_t)u;
    return true;
}

static int type_error(const struct repl_prop *p, const struct repl_operand *o, struct err *err)
{
    return err_set(err, &repl_cond_sql_type,
                   "sql literal at offset %zu ('%.64s') does not convert to the type of %.200s",
                   o->offset, o->text ? o->text : (o->boolean ? "TRUE" : "FALSE"), p->uri);
}

/* Appends the SQL text of a string literal, quotes doubled. */
static const char *quote(struct arena *a, const char *s)
{
    size_t n = strlen(s);
    char *out = arena_alloc(a, 2 * n + 3);
    size_t k = 0;
    out[k++] = '\'';
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\'') {
            out[k++] = '\'';
        }
        out[k++] = s[i];
    }
    out[k++] = '\'';
    out[k] = '\0';
    return out;
}

/* Converts literal `o` to the scalar type of `p` into c->lit and c->lit_text. */
static int type_literal(struct repl_cond *c,
                        const struct repl_prop *p,
                        const struct repl_operand *o,
                        struct arena *a,
                        struct err *err)
{
    enum repl_ex_type t = scalar_of(p->type);
    bool cast_date = o->kind == REPL_OPD_CAST && strncmp(o->cast_type, "datetime", 8) == 0;
    const char *text = o->kind == REPL_OPD_BOOL ? (o->boolean ? "TRUE" : "FALSE") : o->text;
    c->lit.present = true;
    if (p->src == REPL_SRC_UNKNOWN) {
        c->lit_null = true;
        c->lit_text =
            o->kind == REPL_OPD_NUMBER || o->kind == REPL_OPD_BOOL ? text : quote(a, text);
        return 0;
    }
    if (cast_date && t != REPL_EX_TIME) {
        return type_error(p, o, err);
    }
    switch (t) {
    case REPL_EX_STRING:
        c->lit.s = o->kind == REPL_OPD_BOOL ? (o->boolean ? "true" : "false") : text;
        c->lit_text = quote(a, c->lit.s);
        return 0;
    case REPL_EX_INT:
        if (o->kind == REPL_OPD_BOOL ? (c->lit.i = o->boolean, false)
                                     : !parse_int_text(text, &c->lit.i)) {
            return type_error(p, o, err);
        }
        c->lit_text = arena_printf(a, "%lld", (long long)c->lit.i);
        return 0;
    case REPL_EX_BOOL:
        if (o->kind == REPL_OPD_BOOL) {
            c->lit.i = o->boolean;
        } else if (!parse_bool_text(text, &c->lit.i)) {
            return type_error(p, o, err);
        }
        c->lit_text = c->lit.i ? "TRUE" : "FALSE";
        return 0;
    case REPL_EX_TIME: {
        if (o->kind == REPL_OPD_NUMBER || o->kind == REPL_OPD_BOOL ||
            repl_parse_date(text, &c->lit.i) != 0) {
            return type_error(p, o, err);
        }
        char when[32];
        repl_time_format(c->lit.i, when);
        /* §1.3: dates print as YYYY-MM-DDTHH:MM:SSZ, without the milliseconds */
        c->lit_text = arena_printf(a, "'%.19sZ'", when);
        return 0;
    }
    default:
        break;
    }
    return type_error(p, o, err);
}

/* Whether operand `o` names a property (a double-quoted CAST value naming a known one, §3.3). */
static bool operand_prop(const struct repl_operand *o, struct arena *a, struct repl_prop *p)
{
    if (o->kind == REPL_OPD_PROP) {
        repl_prop_resolve(o->text, a, p);
        return true;
    }
    if (o->kind == REPL_OPD_CAST && o->value_is_dq) {
        repl_prop_resolve(o->text, a, p);
        return p->src != REPL_SRC_UNKNOWN;
    }
    return false;
}

static enum repl_cmp flip(enum repl_cmp op)
{
    switch (op) {
    case REPL_LT:
        return REPL_GT;
    case REPL_GT:
        return REPL_LT;
    case REPL_LE:
        return REPL_GE;
    case REPL_GE:
        return REPL_LE;
    default:
        return op;
    }
}

/* §3.3: TRUE for every resource of a calendar collection. */
static bool folds_true(const struct repl_cond *c)
{
    if (c->kind != REPL_EXPR_CMP || c->op != REPL_EQ || c->rhs_prop || c->lit_null ||
        c->prop.src != REPL_SRC_ROW) {
        return false;
    }
    if (c->prop.id == REPL_RP_CONTENTCLASS) {
        return slice_eq_ci(slice_from_cstr(c->lit.s), SLICE_LIT("urn:content-classes:appointment"));
    }
    return (c->prop.id == REPL_RP_ISFOLDER || c->prop.id == REPL_RP_ISHIDDEN) && c->lit.i == 0;
}

static int
compile_cmp(const struct repl_expr *e, struct arena *a, struct repl_cond *c, struct err *err)
{
    const struct repl_operand *l = &e->left;
    const struct repl_operand *r = &e->right;
    c->op = e->op;
    struct repl_prop pl, pr;
    bool lp = operand_prop(l, a, &pl);
    bool rp = operand_prop(r, a, &pr);
    if (!lp) {
        /* literal op property: written as property flip(op) literal */
        const struct repl_operand *t = l;
        l = r;
        r = t;
        pl = pr;
        rp = false;
        c->op = flip(c->op);
    }
    c->prop = pl;
    if (rp) {
        c->rhs_prop = true;
        c->prop2 = pr;
        if (pl.src != REPL_SRC_UNKNOWN && pr.src != REPL_SRC_UNKNOWN &&
            scalar_of(pl.type) != scalar_of(pr.type)) {
            return err_set(err, &repl_cond_sql_type,
                           "sql comparison at offset %zu of %.200s and %.200s: different types",
                           e->offset, pl.uri, pr.uri);
        }
        return 0;
    }
    return type_literal(c, &pl, r, a, err);
}

static int compile(
    const struct repl_expr *e, bool fold, struct arena *a, struct repl_cond **out, struct err *err)
{
    struct repl_cond *c = arena_zalloc(a, sizeof(*c));
    c->kind = e->kind;
    *out = c;
    switch (e->kind) {
    case REPL_EXPR_AND:
    case REPL_EXPR_OR:
        if (compile(e->a, fold, a, &c->a, err) != 0 || compile(e->b, fold, a, &c->b, err) != 0) {
            return -1;
        }
        if (!c->a || !c->b) {
            /* TRUE AND x = x; TRUE OR x = TRUE */
            *out = e->kind == REPL_EXPR_AND ? (c->a ? c->a : c->b) : NULL;
        }
        return 0;
    case REPL_EXPR_NOT:
        if (compile(e->a, fold, a, &c->a, err) != 0) {
            return -1;
        }
        /* NOT of a predicate that folds to TRUE has no folded form (NULL is TRUE, and there
         * is no FALSE): keep the operand, so that the canonical text stays a query rather
         * than "(NOT TRUE)", which does not parse (found by tests/fuzz/fuzz_sql.c). */
        return c->a ? 0 : compile(e->a, false, a, &c->a, err);
    case REPL_EXPR_NULL:
        repl_prop_resolve(e->left.text, a, &c->prop);
        c->negated = e->negated;
        return 0;
    case REPL_EXPR_LIKE:
        repl_prop_resolve(e->left.text, a, &c->prop);
        c->negated = e->negated;
        c->pattern = e->pattern;
        if (c->prop.src != REPL_SRC_UNKNOWN && scalar_of(c->prop.type) != REPL_EX_STRING) {
            return err_set(err, &repl_cond_sql_type,
                           "sql LIKE at offset %zu on %.200s, which is not a string", e->offset,
                           c->prop.uri);
        }
        return 0;
    case REPL_EXPR_CMP:
        if (compile_cmp(e, a, c, err) != 0) {
            return -1;
        }
        if (fold && folds_true(c)) {
            *out = NULL;
        }
        return 0;
    }
    return -1;
}

int repl_where_compile(const struct repl_expr *e,
                       bool fold,
                       struct arena *arena,
                       struct repl_cond **out,
                       struct err *err)
{
    *out = NULL;
    return e ? compile(e, fold, arena, out, err) : 0;
}

/* ---------------------------------------------------------------------------------------- */
/* The index window, the content need, the canonical text */

static bool is_time_bound(const struct repl_cond *c)
{
    return c->kind == REPL_EXPR_CMP && !c->rhs_prop && !c->lit_null &&
           c->prop.src == REPL_SRC_CAL &&
           (c->prop.id == REPL_EX_DTSTART || c->prop.id == REPL_EX_DTEND);
}

static void window_of(const struct repl_cond *c, int64_t *start, int64_t *end, bool *any)
{
    if (!c) {
        return;
    }
    if (c->kind == REPL_EXPR_AND) {
        window_of(c->a, start, end, any);
        window_of(c->b, start, end, any);
        return;
    }
    if (!is_time_bound(c) || c->op == REPL_NE) {
        return;
    }
    int64_t v = c->lit.i;
    /* the store's overlap test is dtstart < end AND dtend > start: widen by one second so a
     * closed bound stays inside */
    if (c->op == REPL_GT || c->op == REPL_GE || c->op == REPL_EQ) {
        int64_t lo = v == INT64_MIN ? v : v - 1;
        *start = lo > *start ? lo : *start;
        *any = true;
    }
    if (c->op == REPL_LT || c->op == REPL_LE || c->op == REPL_EQ) {
        int64_t hi = v == INT64_MAX ? v : v + 1;
        *end = hi < *end ? hi : *end;
        *any = true;
    }
}

bool repl_where_window(const struct repl_cond *c, int64_t *start, int64_t *end)
{
    bool any = false;
    *start = INT64_MIN;
    *end = INT64_MAX;
    window_of(c, start, end, &any);
    return any;
}

static bool needs(const struct repl_prop *p)
{
    return p->src == REPL_SRC_CAL && p->id != REPL_EX_DTSTART && p->id != REPL_EX_DTEND;
}

bool repl_where_needs_content(const struct repl_cond *c)
{
    if (!c) {
        return false;
    }
    switch (c->kind) {
    case REPL_EXPR_AND:
    case REPL_EXPR_OR:
        return repl_where_needs_content(c->a) || repl_where_needs_content(c->b);
    case REPL_EXPR_NOT:
        return repl_where_needs_content(c->a);
    case REPL_EXPR_CMP:
        return needs(&c->prop) || (c->rhs_prop && needs(&c->prop2));
    default:
        return needs(&c->prop);
    }
}

static int print_prop(struct buf *out, const struct repl_prop *p)
{
    const char *u = p->uri;
    int rc = buf_putc(out, '"');
    if (strncmp(u, REPL_NS_HTTPS, strlen(REPL_NS_HTTPS)) == 0) {
        rc |= buf_append_cstr(out, REPL_NS);
        u += strlen(REPL_NS_HTTPS);
    }
    for (; *u; u++) {
        rc |= *u == '"' ? buf_append_cstr(out, "\"\"") : buf_putc(out, *u);
    }
    return rc | buf_putc(out, '"');
}

/* A bound a sliding collblob may move: a date comparison <, <=, >, >= (see where.h). */
static bool is_slide_bound(const struct repl_cond *c)
{
    return is_time_bound(c) &&
           (c->op == REPL_LT || c->op == REPL_LE || c->op == REPL_GT || c->op == REPL_GE);
}

/* The bounds of the top-level conjunction in print order (left, then right). */
static void bounds_get(const struct repl_cond *c, int64_t *vals, size_t max, size_t *n)
{
    if (c && c->kind == REPL_EXPR_AND) {
        bounds_get(c->a, vals, max, n);
        bounds_get(c->b, vals, max, n);
    } else if (c && is_slide_bound(c)) {
        if (*n < max) {
            vals[*n] = c->lit.i;
        }
        (*n)++;
    }
}

static void bounds_set(struct repl_cond *c, const int64_t *vals, size_t max, size_t *n)
{
    if (c && c->kind == REPL_EXPR_AND) {
        bounds_set(c->a, vals, max, n);
        bounds_set(c->b, vals, max, n);
    } else if (c && is_slide_bound(c)) {
        if (*n < max) {
            c->lit.i = vals[*n];
        }
        (*n)++;
    }
}

size_t repl_where_bounds(const struct repl_cond *c, int64_t *vals, size_t max)
{
    size_t n = 0;
    bounds_get(c, vals, max, &n);
    return n;
}

void repl_where_set_bounds(struct repl_cond *c, const int64_t *vals, size_t n)
{
    size_t k = 0;
    bounds_set(c, vals, n, &k);
}

/* top: c is the root or reached from it through AND nodes only; *k counts the bounds
 * printed as $k (NULL: print literals). */
static int print_cond(const struct repl_cond *c, struct buf *out, bool top, size_t *k)
{
    static const char *const ops[] = {
        [REPL_EQ] = "=", [REPL_NE] = "<>", [REPL_LT] = "<",
        [REPL_GT] = ">", [REPL_LE] = "<=", [REPL_GE] = ">=",
    };
    if (!c) {
        return buf_append_cstr(out, "TRUE");
    }
    int rc = 0;
    switch (c->kind) {
    case REPL_EXPR_AND:
    case REPL_EXPR_OR:
        rc |= buf_putc(out, '(');
        rc |= print_cond(c->a, out, top && c->kind == REPL_EXPR_AND, k);
        rc |= buf_append_cstr(out, c->kind == REPL_EXPR_AND ? " AND " : " OR ");
        rc |= print_cond(c->b, out, top && c->kind == REPL_EXPR_AND, k);
        return rc | buf_putc(out, ')');
    case REPL_EXPR_NOT:
        rc |= buf_append_cstr(out, "(NOT ");
        rc |= print_cond(c->a, out, false, k);
        return rc | buf_putc(out, ')');
    case REPL_EXPR_NULL:
        rc |= print_prop(out, &c->prop);
        return rc | buf_append_cstr(out, c->negated ? " IS NOT NULL" : " IS NULL");
    case REPL_EXPR_LIKE:
        rc |= print_prop(out, &c->prop);
        rc |= buf_append_cstr(out, c->negated ? " NOT LIKE '" : " LIKE '");
        for (const char *p = c->pattern; *p; p++) {
            rc |= *p == '\'' ? buf_append_cstr(out, "''") : buf_putc(out, *p);
        }
        return rc | buf_putc(out, '\'');
    case REPL_EXPR_CMP:
        rc |= print_prop(out, &c->prop);
        rc |= buf_appendf(out, " %s ", ops[c->op]);
        if (k && top && is_slide_bound(c)) {
            return rc | buf_appendf(out, "$%zu", ++*k);
        }
        return rc | (c->rhs_prop ? print_prop(out, &c->prop2) : buf_append_cstr(out, c->lit_text));
    }
    return -1;
}

int repl_where_print(const struct repl_cond *c, struct buf *out)
{
    return print_cond(c, out, true, NULL);
}

int repl_where_print_shape(const struct repl_cond *c, struct buf *out)
{
    size_t k = 0;
    return print_cond(c, out, true, &k);
}

/* ---------------------------------------------------------------------------------------- */
/* Evaluation */

static int fold_ascii(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* §3.3: strings compare case-insensitively (ASCII letters; other bytes as they are). */
static int cmp_text(const char *a, const char *b)
{
    for (;; a++, b++) {
        int x = fold_ascii((unsigned char)*a);
        int y = fold_ascii((unsigned char)*b);
        if (x != y || !x) {
            return x < y ? -1 : x > y;
        }
    }
}

static bool holds(enum repl_cmp op, int c)
{
    switch (op) {
    case REPL_EQ:
        return c == 0;
    case REPL_NE:
        return c != 0;
    case REPL_LT:
        return c < 0;
    case REPL_GT:
        return c > 0;
    case REPL_LE:
        return c <= 0;
    case REPL_GE:
        return c >= 0;
    }
    return false;
}

/* Element i of `v` (scalar: i = 0) against `w`'s first value, of scalar type `t`. */
static int
cmp_at(enum repl_ex_type t, const struct repl_ex_value *v, size_t i, const struct repl_ex_value *w)
{
    if (t == REPL_EX_MV_STRING) {
        return cmp_text(v->mv_s[i], w->s ? w->s : "");
    }
    if (t == REPL_EX_STRING) {
        return cmp_text(v->s ? v->s : "", w->s ? w->s : "");
    }
    int64_t x = t == REPL_EX_MV_TIME ? v->mv_t[i] : v->i;
    return x < w->i ? -1 : x > w->i;
}

/* The scalar value of element 0 of a possibly multi-valued `w` (property on the right). */
static struct repl_ex_value first_of(enum repl_ex_type t, const struct repl_ex_value *w)
{
    struct repl_ex_value f = *w;
    if (t == REPL_EX_MV_STRING) {
        f.s = w->mv_s[0];
    } else if (t == REPL_EX_MV_TIME) {
        f.i = w->mv_t[0];
    }
    return f;
}

/* '%' any run, '_' one UTF-8 character, ASCII case-insensitive (§3.3). Backtracks to the
 * last '%' only, so the cost is O(len(s) x len(pattern)). */
static bool like(const char *s, const char *p)
{
    const char *star = NULL;
    const char *resume = NULL;
    while (*s) {
        if (*p == '%') {
            star = ++p;
            resume = s;
        } else if (*p == '_' ||
                   (*p && fold_ascii((unsigned char)*p) == fold_ascii((unsigned char)*s))) {
            if (*p == '_') {
                for (s++; ((unsigned char)*s & 0xC0) == 0x80; s++) {
                }
            } else {
                s++;
            }
            p++;
        } else if (star) {
            p = star;
            for (resume++; ((unsigned char)*resume & 0xC0) == 0x80; resume++) {
            }
            s = resume;
        } else {
            return false;
        }
    }
    while (*p == '%') {
        p++;
    }
    return *p == '\0';
}

static enum tv eval(const struct repl_cond *c, repl_value_fn *fn, void *ctx, bool *failed);

static enum tv eval_cmp(const struct repl_cond *c, repl_value_fn *fn, void *ctx, bool *failed)
{
    struct repl_ex_value v, w;
    if (c->lit_null || c->prop.src == REPL_SRC_UNKNOWN) {
        return TV_UNKNOWN;
    }
    if (fn(ctx, &c->prop, &v) != 0) {
        *failed = true;
        return TV_UNKNOWN;
    }
    if (c->rhs_prop) {
        if (c->prop2.src == REPL_SRC_UNKNOWN) {
            return TV_UNKNOWN;
        }
        if (fn(ctx, &c->prop2, &w) != 0) {
            *failed = true;
            return TV_UNKNOWN;
        }
        if (!w.present) {
            return TV_UNKNOWN;
        }
        w = first_of(c->prop2.type, &w);
    } else {
        w = c->lit;
    }
    if (!v.present) {
        return TV_UNKNOWN;
    }
    bool mv = c->prop.type == REPL_EX_MV_STRING || c->prop.type == REPL_EX_MV_TIME;
    size_t n = mv ? v.n : 1;
    for (size_t i = 0; i < n; i++) {
        if (holds(c->op, cmp_at(c->prop.type, &v, i, &w))) {
            return TV_TRUE; /* §3.3: multi-valued: TRUE when it holds for any value */
        }
    }
    return TV_FALSE;
}

static enum tv eval_leaf(const struct repl_cond *c, repl_value_fn *fn, void *ctx, bool *failed)
{
    struct repl_ex_value v = {0};
    if (c->prop.src != REPL_SRC_UNKNOWN && fn(ctx, &c->prop, &v) != 0) {
        *failed = true;
        return TV_UNKNOWN;
    }
    if (c->kind == REPL_EXPR_NULL) {
        return v.present == c->negated ? TV_TRUE : TV_FALSE;
    }
    if (!v.present) {
        return TV_UNKNOWN;
    }
    bool m = false;
    if (c->prop.type == REPL_EX_MV_STRING) {
        for (size_t i = 0; i < v.n && !m; i++) {
            m = like(v.mv_s[i], c->pattern);
        }
    } else {
        m = like(v.s ? v.s : "", c->pattern);
    }
    return m != c->negated ? TV_TRUE : TV_FALSE;
}

static enum tv eval(const struct repl_cond *c, repl_value_fn *fn, void *ctx, bool *failed)
{
    if (!c) {
        return TV_TRUE;
    }
    switch (c->kind) {
    case REPL_EXPR_AND: {
        enum tv x = eval(c->a, fn, ctx, failed);
        if (x == TV_FALSE) {
            return TV_FALSE;
        }
        enum tv y = eval(c->b, fn, ctx, failed);
        return y == TV_FALSE ? TV_FALSE : (x == TV_TRUE && y == TV_TRUE ? TV_TRUE : TV_UNKNOWN);
    }
    case REPL_EXPR_OR: {
        enum tv x = eval(c->a, fn, ctx, failed);
        if (x == TV_TRUE) {
            return TV_TRUE;
        }
        enum tv y = eval(c->b, fn, ctx, failed);
        return y == TV_TRUE ? TV_TRUE : (x == TV_FALSE && y == TV_FALSE ? TV_FALSE : TV_UNKNOWN);
    }
    case REPL_EXPR_NOT: {
        enum tv x = eval(c->a, fn, ctx, failed);
        return x == TV_UNKNOWN ? TV_UNKNOWN : (x == TV_TRUE ? TV_FALSE : TV_TRUE);
    }
    case REPL_EXPR_CMP:
        return eval_cmp(c, fn, ctx, failed);
    case REPL_EXPR_NULL:
    case REPL_EXPR_LIKE:
        return eval_leaf(c, fn, ctx, failed);
    }
    return TV_UNKNOWN;
}

int repl_where_eval(const struct repl_cond *c, repl_value_fn *fn, void *ctx)
{
    bool failed = false;
    enum tv t = eval(c, fn, ctx, &failed);
    return failed ? -1 : t == TV_TRUE;
}
