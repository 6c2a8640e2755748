/* repl/sql.c: tokenizer and recursive-descent parser of the SEARCH SQL subset
 * (exchange-replication.md §3.2). Every error names the byte offset and the token. Keywords
 * are case-insensitive; "" and '' inside strings stand for one quote. */
#include "repl/sql.h"

#include <string.h>

#define ERR_COND(sym, name, ns, http, eas) ERR_COND_DEFINE(sym, name, ns, http, eas)
#include "repl/conds.def"
#undef ERR_COND

enum {
    SQL_TOKEN_SHOWN = 64,
    SQL_MAX_DEPTH = 64,       /* nesting of ( ) and NOT */
    SQL_MAX_CONDITIONS = 1024 /* predicates in one WHERE: an AND/OR chain is a left-deep tree
                                 that compiling and evaluating it recurse through, so its
                                 length is a depth too */
};

enum tok_kind {
    T_END,
    T_WORD,
    T_DQ,
    T_SQ,
    T_NUM,
    T_PUNCT
};

struct tok {
    enum tok_kind kind;
    const char *text; /* decoded string, or the raw word/number/punctuation (in the arena) */
    struct slice raw; /* as written, for messages */
    size_t off;       /* byte offset in the query */
};

struct parser {
    struct slice src;
    size_t pos;
    size_t base; /* offset of src in the whole query (a SCOPE body is parsed on its own) */
    struct tok cur;
    struct arena *a;
    struct err *err;
    unsigned depth;      /* nesting of ( ) and NOT, bounded */
    unsigned conditions; /* predicates so far, bounded */
};

/* Words outside the subset that are worth naming (422, not 400). */
static const char *const unsupported_words[] = {
    "CONTAINS", "FREETEXT", "GROUP", "RANK",  "IN",     "BETWEEN",  "COUNT", "SUM",    "AVG",
    "MIN",      "MAX",      "JOIN",  "UNION", "HAVING", "DISTINCT", "TOP",   "EXISTS",
};

static bool word_is(const struct tok *t, const char *kw)
{
    return t->kind == T_WORD && slice_eq_ci(t->raw, slice_from_cstr(kw));
}

static int syntax(struct parser *p, const char *what)
{
    size_t n = p->cur.raw.len > SQL_TOKEN_SHOWN ? SQL_TOKEN_SHOWN : p->cur.raw.len;
    return err_set(p->err, &repl_cond_sql_syntax, "sql syntax error at offset %zu near '%.*s': %s",
                   p->base + p->cur.off, (int)n, p->cur.kind == T_END ? "" : p->cur.raw.ptr, what);
}

static int unsupported(struct parser *p, const char *what)
{
    size_t n = p->cur.raw.len > SQL_TOKEN_SHOWN ? SQL_TOKEN_SHOWN : p->cur.raw.len;
    return err_set(p->err, &repl_cond_sql_unsupported,
                   "sql feature not supported at offset %zu ('%.*s'): %s", p->base + p->cur.off,
                   (int)n, p->cur.raw.ptr ? p->cur.raw.ptr : "", what);
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* A quoted string starting at p->pos (the quote); doubled quotes stand for one. */
static int lex_string(struct parser *p, char q)
{
    const char *s = p->src.ptr;
    size_t i = p->pos + 1;
    char *out = arena_alloc(p->a, p->src.len - p->pos);
    size_t n = 0;
    for (;;) {
        if (i >= p->src.len) {
            p->cur.raw = (struct slice){s + p->pos, p->src.len - p->pos};
            return syntax(p, "unterminated string");
        }
        if (s[i] == q) {
            if (i + 1 < p->src.len && s[i + 1] == q) {
                out[n++] = q;
                i += 2;
                continue;
            }
            i++;
            break;
        }
        out[n++] = s[i++];
    }
    out[n] = '\0';
    p->cur.kind = q == '"' ? T_DQ : T_SQ;
    p->cur.text = out;
    p->cur.raw = (struct slice){s + p->pos, i - p->pos};
    p->pos = i;
    return 0;
}

static int next(struct parser *p)
{
    const char *s = p->src.ptr;
    while (p->pos < p->src.len && is_space(s[p->pos])) {
        p->pos++;
    }
    p->cur.off = p->pos;
    p->cur.text = NULL;
    if (p->pos >= p->src.len) {
        p->cur.kind = T_END;
        p->cur.raw = (struct slice){"", 0};
        return 0;
    }
    char c = s[p->pos];
    if (c == '"' || c == '\'') {
        return lex_string(p, c);
    }
    size_t start = p->pos;
    if (is_digit(c) || (c == '-' && p->pos + 1 < p->src.len && is_digit(s[p->pos + 1]))) {
        p->pos++;
        while (p->pos < p->src.len && is_digit(s[p->pos])) {
            p->pos++;
        }
        if (p->pos + 1 < p->src.len && s[p->pos] == '.' && is_digit(s[p->pos + 1])) {
            p->pos++;
            while (p->pos < p->src.len && is_digit(s[p->pos])) {
                p->pos++;
            }
        }
        p->cur.kind = T_NUM;
    } else if (is_alpha(c)) {
        while (p->pos < p->src.len &&
               (is_alpha(s[p->pos]) || is_digit(s[p->pos]) || s[p->pos] == '_')) {
            p->pos++;
        }
        p->cur.kind = T_WORD;
    } else {
        static const char *const two[] = {"<>", "!=", "<=", ">="};
        p->cur.kind = T_PUNCT;
        p->pos++;
        for (size_t i = 0; i < ALM_ARRAY_LEN(two); i++) {
            if (start + 1 < p->src.len && s[start] == two[i][0] && s[start + 1] == two[i][1]) {
                p->pos++;
                break;
            }
        }
        if (p->pos - start == 1 && !strchr("(),*;=<>", c)) {
            p->cur.raw = (struct slice){s + start, 1};
            return syntax(p, "unexpected character");
        }
    }
    p->cur.raw = (struct slice){s + start, p->pos - start};
    p->cur.text = arena_slicedup(p->a, p->cur.raw);
    return 0;
}

static bool punct_is(const struct tok *t, const char *s)
{
    return t->kind == T_PUNCT && slice_eq(t->raw, slice_from_cstr(s));
}

static int expect_punct(struct parser *p, const char *s)
{
    if (!punct_is(&p->cur, s)) {
        return syntax(p, s[0] == '('   ? "expected '('"
                         : s[0] == ')' ? "expected ')'"
                                       : "expected punctuation");
    }
    return next(p);
}

/* A word outside the subset that is known: 422 naming it; else a syntax error. */
static int bad_word(struct parser *p, const char *what)
{
    if (p->cur.kind == T_WORD) {
        for (size_t i = 0; i < ALM_ARRAY_LEN(unsupported_words); i++) {
            if (word_is(&p->cur, unsupported_words[i])) {
                return unsupported(p, "outside the SQL subset of SEARCH");
            }
        }
    }
    return syntax(p, what);
}

static const char *const keywords[] = {
    "SELECT", "FROM",  "SCOPE",   "WHERE", "AND",          "OR",        "NOT", "LIKE",
    "IS",     "NULL",  "ORDER",   "BY",    "ASC",          "DESC",      "AS",  "CAST",
    "TRUE",   "FALSE", "SHALLOW", "DEEP",  "HIERARCHICAL", "TRAVERSAL", "OF",
};

static bool is_keyword(const struct tok *t)
{
    for (size_t i = 0; i < ALM_ARRAY_LEN(keywords); i++) {
        if (word_is(t, keywords[i])) {
            return true;
        }
    }
    return false;
}

/* ---------------------------------------------------------------------------------------- */
/* SELECT and FROM */

static int parse_select(struct parser *p, struct repl_query *q)
{
    if (!word_is(&p->cur, "SELECT")) {
        return syntax(p, "expected SELECT");
    }
    if (next(p) != 0) {
        return -1;
    }
    if (punct_is(&p->cur, "*")) {
        q->select_all = true;
        return next(p);
    }
    size_t cap = 0;
    for (;;) {
        if (p->cur.kind != T_DQ && p->cur.kind != T_SQ) {
            return bad_word(p, "expected a quoted property name");
        }
        if (q->nitems == cap) {
            cap = cap ? cap * 2 : 8;
            struct repl_select_item *items = arena_alloc(p->a, cap * sizeof(*items));
            if (q->nitems) {
                memcpy(items, q->items, q->nitems * sizeof(*items));
            }
            q->items = items;
        }
        struct repl_select_item *it = &q->items[q->nitems++];
        it->prop = p->cur.text;
        it->alias = NULL;
        if (next(p) != 0) {
            return -1;
        }
        if (word_is(&p->cur, "AS")) {
            if (next(p) != 0) {
                return -1;
            }
            if (p->cur.kind == T_DQ || (p->cur.kind == T_WORD && !is_keyword(&p->cur))) {
                it->alias = p->cur.text;
            } else {
                return syntax(p, "expected an alias after AS");
            }
            if (next(p) != 0) {
                return -1;
            }
        }
        if (!punct_is(&p->cur, ",")) {
            return 0;
        }
        if (next(p) != 0) {
            return -1;
        }
    }
}

/* The text of SCOPE('…'): [SHALLOW|DEEP|HIERARCHICAL TRAVERSAL OF] "url". */
static int parse_scope_body(struct parser *outer, const struct tok *sq, struct repl_query *q)
{
    struct parser p = {
        .src = slice_from_cstr(sq->text),
        .base = outer->base + sq->off + 1,
        .a = outer->a,
        .err = outer->err,
    };
    q->depth = REPL_DEPTH_DEEP; /* a scope without a depth is deep [doc] */
    if (next(&p) != 0) {
        return -1;
    }
    if (p.cur.kind == T_WORD) {
        if (word_is(&p.cur, "SHALLOW")) {
            q->depth = REPL_DEPTH_SHALLOW;
        } else if (word_is(&p.cur, "DEEP")) {
            q->depth = REPL_DEPTH_DEEP;
        } else if (word_is(&p.cur, "HIERARCHICAL")) {
            q->depth = REPL_DEPTH_HIERARCHICAL;
        } else {
            return syntax(&p, "expected SHALLOW, DEEP or HIERARCHICAL");
        }
        if (next(&p) != 0) {
            return -1;
        }
        if (!word_is(&p.cur, "TRAVERSAL")) {
            return syntax(&p, "expected TRAVERSAL");
        }
        if (next(&p) != 0) {
            return -1;
        }
        if (!word_is(&p.cur, "OF")) {
            return syntax(&p, "expected OF");
        }
        if (next(&p) != 0) {
            return -1;
        }
    }
    if (p.cur.kind != T_DQ) {
        return syntax(&p, "expected a double-quoted scope URL");
    }
    q->scope = p.cur.text;
    if (next(&p) != 0) {
        return -1;
    }
    if (punct_is(&p.cur, ",")) {
        return unsupported(&p, "more than one scope");
    }
    if (p.cur.kind != T_END) {
        return syntax(&p, "unexpected text after the scope URL");
    }
    return 0;
}

static int parse_from(struct parser *p, struct repl_query *q)
{
    if (!word_is(&p->cur, "FROM")) {
        return bad_word(p, "expected FROM");
    }
    if (next(p) != 0) {
        return -1;
    }
    if (p->cur.kind == T_DQ) {
        q->scope = p->cur.text;
        q->depth = REPL_DEPTH_SHALLOW; /* FROM "url" is a shallow traversal */
        return next(p);
    }
    if (!word_is(&p->cur, "SCOPE")) {
        return syntax(p, "expected SCOPE or a double-quoted URL");
    }
    if (next(p) != 0 || expect_punct(p, "(") != 0) {
        return -1;
    }
    if (p->cur.kind != T_SQ) {
        return syntax(p, "expected a single-quoted scope");
    }
    struct tok sq = p->cur;
    if (parse_scope_body(p, &sq, q) != 0 || next(p) != 0) {
        return -1;
    }
    if (punct_is(&p->cur, ",")) {
        return unsupported(p, "more than one scope");
    }
    return expect_punct(p, ")");
}

/* ---------------------------------------------------------------------------------------- */
/* WHERE */

static int parse_condition(struct parser *p, struct repl_expr **out);

static const char *const cast_types[] = {"datetime", "datetime.tz", "string", "int",
                                         "i2",       "i4",          "i8",     "boolean"};

static int parse_operand(struct parser *p, struct repl_operand *o)
{
    memset(o, 0, sizeof(*o));
    o->offset = p->base + p->cur.off;
    switch (p->cur.kind) {
    case T_DQ:
        o->kind = REPL_OPD_PROP;
        o->text = p->cur.text;
        return next(p);
    case T_SQ:
        o->kind = REPL_OPD_STRING;
        o->text = p->cur.text;
        return next(p);
    case T_NUM:
        o->kind = REPL_OPD_NUMBER;
        o->text = p->cur.text;
        return next(p);
    case T_WORD:
        if (word_is(&p->cur, "TRUE") || word_is(&p->cur, "FALSE")) {
            o->kind = REPL_OPD_BOOL;
            o->boolean = word_is(&p->cur, "TRUE");
            return next(p);
        }
        if (!word_is(&p->cur, "CAST")) {
            return bad_word(p, "expected a property or a literal");
        }
        break;
    default:
        return syntax(p, "expected a property or a literal");
    }
    o->kind = REPL_OPD_CAST;
    if (next(p) != 0 || expect_punct(p, "(") != 0) {
        return -1;
    }
    if (p->cur.kind != T_SQ && p->cur.kind != T_DQ) {
        return syntax(p, "expected a quoted value in CAST");
    }
    o->text = p->cur.text;
    o->value_is_dq = p->cur.kind == T_DQ;
    if (next(p) != 0) {
        return -1;
    }
    if (!word_is(&p->cur, "AS")) {
        return syntax(p, "expected AS in CAST");
    }
    if (next(p) != 0) {
        return -1;
    }
    if (p->cur.kind != T_SQ && p->cur.kind != T_DQ) {
        return syntax(p, "expected a quoted type in CAST");
    }
    char *type = arena_strdup(p->a, p->cur.text);
    for (char *c = type; *c; c++) {
        if (*c >= 'A' && *c <= 'Z') {
            *c = (char)(*c - 'A' + 'a');
        }
    }
    bool known = false;
    for (size_t i = 0; i < ALM_ARRAY_LEN(cast_types); i++) {
        known = known || strcmp(type, cast_types[i]) == 0;
    }
    if (!known) {
        return unsupported(p, "CAST to this type");
    }
    o->cast_type = type;
    if (next(p) != 0) {
        return -1;
    }
    return expect_punct(p, ")");
}

static bool comp_op(const struct tok *t, enum repl_cmp *op)
{
    static const struct {
        const char *s;
        enum repl_cmp op;
    } ops[] = {{"=", REPL_EQ}, {"<>", REPL_NE}, {"!=", REPL_NE}, {"<", REPL_LT},
               {">", REPL_GT}, {"<=", REPL_LE}, {">=", REPL_GE}};

    for (size_t i = 0; i < ALM_ARRAY_LEN(ops); i++) {
        if (punct_is(t, ops[i].s)) {
            *op = ops[i].op;
            return true;
        }
    }
    return false;
}

static int parse_predicate(struct parser *p, struct repl_expr **out)
{
    struct repl_expr *e = arena_zalloc(p->a, sizeof(*e));
    e->offset = p->base + p->cur.off;
    if (parse_operand(p, &e->left) != 0) {
        return -1;
    }
    bool prop = e->left.kind == REPL_OPD_PROP;
    if (prop && word_is(&p->cur, "IS")) {
        e->kind = REPL_EXPR_NULL;
        if (next(p) != 0) {
            return -1;
        }
        if (word_is(&p->cur, "NOT")) {
            e->negated = true;
            if (next(p) != 0) {
                return -1;
            }
        }
        if (!word_is(&p->cur, "NULL")) {
            return syntax(p, "expected NULL");
        }
        *out = e;
        return next(p);
    }
    if (prop && (word_is(&p->cur, "LIKE") || word_is(&p->cur, "NOT"))) {
        e->kind = REPL_EXPR_LIKE;
        if (word_is(&p->cur, "NOT")) {
            e->negated = true;
            if (next(p) != 0) {
                return -1;
            }
            if (!word_is(&p->cur, "LIKE")) {
                return bad_word(p, "expected LIKE");
            }
        }
        if (next(p) != 0) {
            return -1;
        }
        if (p->cur.kind != T_SQ) {
            return syntax(p, "expected a single-quoted LIKE pattern");
        }
        e->pattern = p->cur.text;
        *out = e;
        return next(p);
    }
    e->kind = REPL_EXPR_CMP;
    if (!comp_op(&p->cur, &e->op)) {
        return bad_word(p, "expected a comparison");
    }
    if (next(p) != 0 || parse_operand(p, &e->right) != 0) {
        return -1;
    }
    if (!prop && e->right.kind != REPL_OPD_PROP) {
        p->cur.off = e->offset - p->base;
        return syntax(p, "a comparison needs a property on one side");
    }
    *out = e;
    return 0;
}

static int parse_not(struct parser *p, struct repl_expr **out)
{
    if (++p->depth > SQL_MAX_DEPTH) {
        return unsupported(p, "conditions nested deeper than 64");
    }
    int rc;
    if (word_is(&p->cur, "NOT")) {
        struct repl_expr *e = arena_zalloc(p->a, sizeof(*e));
        e->kind = REPL_EXPR_NOT;
        e->offset = p->base + p->cur.off;
        rc = next(p) != 0 ? -1 : parse_not(p, &e->a);
        *out = e;
    } else if (punct_is(&p->cur, "(")) {
        rc = next(p) != 0 || parse_condition(p, out) != 0 ? -1 : expect_punct(p, ")");
    } else if (++p->conditions > SQL_MAX_CONDITIONS) {
        rc = unsupported(p, "more than 1024 conditions");
    } else {
        rc = parse_predicate(p, out);
    }
    p->depth--;
    return rc;
}

static int parse_binary(struct parser *p, struct repl_expr **out, bool is_or)
{
    struct repl_expr *left;
    int rc = is_or ? parse_binary(p, &left, false) : parse_not(p, &left);
    if (rc != 0) {
        return -1;
    }
    while (word_is(&p->cur, is_or ? "OR" : "AND")) {
        struct repl_expr *e = arena_zalloc(p->a, sizeof(*e));
        e->kind = is_or ? REPL_EXPR_OR : REPL_EXPR_AND;
        e->offset = p->base + p->cur.off;
        e->a = left;
        if (next(p) != 0) {
            return -1;
        }
        rc = is_or ? parse_binary(p, &e->b, false) : parse_not(p, &e->b);
        if (rc != 0) {
            return -1;
        }
        left = e;
    }
    *out = left;
    return 0;
}

static int parse_condition(struct parser *p, struct repl_expr **out)
{
    return parse_binary(p, out, true);
}

/* ---------------------------------------------------------------------------------------- */
/* ORDER BY and the query */

static int parse_order(struct parser *p, struct repl_query *q)
{
    if (next(p) != 0) {
        return -1;
    }
    if (!word_is(&p->cur, "BY")) {
        return syntax(p, "expected BY");
    }
    if (next(p) != 0) {
        return -1;
    }
    size_t cap = 0;
    for (;;) {
        if (p->cur.kind != T_DQ) {
            return bad_word(p, "expected a double-quoted property in ORDER BY");
        }
        if (q->norder == cap) {
            cap = cap ? cap * 2 : 4;
            struct repl_order_item *o = arena_alloc(p->a, cap * sizeof(*o));
            if (q->norder) {
                memcpy(o, q->order, q->norder * sizeof(*o));
            }
            q->order = o;
        }
        struct repl_order_item *it = &q->order[q->norder++];
        it->prop = p->cur.text;
        it->desc = false;
        it->offset = p->base + p->cur.off;
        if (next(p) != 0) {
            return -1;
        }
        if (word_is(&p->cur, "ASC") || word_is(&p->cur, "DESC")) {
            it->desc = word_is(&p->cur, "DESC");
            if (next(p) != 0) {
                return -1;
            }
        }
        if (!punct_is(&p->cur, ",")) {
            return 0;
        }
        if (next(p) != 0) {
            return -1;
        }
    }
}

int repl_sql_parse(struct slice sql, struct arena *arena, struct repl_query *out, struct err *err)
{
    memset(out, 0, sizeof(*out));
    struct parser p = {.src = sql, .a = arena, .err = err};
    if (next(&p) != 0 || parse_select(&p, out) != 0 || parse_from(&p, out) != 0) {
        return -1;
    }
    if (word_is(&p.cur, "WHERE")) {
        if (next(&p) != 0 || parse_condition(&p, &out->where) != 0) {
            return -1;
        }
    }
    if (word_is(&p.cur, "ORDER") && parse_order(&p, out) != 0) {
        return -1;
    }
    if (punct_is(&p.cur, ";") && next(&p) != 0) {
        return -1;
    }
    if (p.cur.kind != T_END) {
        return bad_word(&p, "unexpected text after the query");
    }
    return 0;
}
