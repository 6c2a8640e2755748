/* repl/sql.h: the SQL subset of Exchange's WebDAV SEARCH (exchange-replication.md §3.2), parsed
 * into a tree in the request arena. Knows names and syntax only: typing literals against
 * property types and executing the query belong to the manifest code. Never buffers more than
 * the query text, which the caller bounds. */
#ifndef ALMANAC_REPL_SQL_H
#define ALMANAC_REPL_SQL_H

#include <stdbool.h>
#include <stddef.h>

#include "util/arena.h"
#include "util/err.h"
#include "util/slice.h"

#define ERR_COND(sym, name, ns, http, eas) ERR_COND_DECLARE(sym, name, ns, http, eas)
#include "repl/conds.def"
#undef ERR_COND

enum repl_depth {
    REPL_DEPTH_SHALLOW,
    REPL_DEPTH_DEEP,
    REPL_DEPTH_HIERARCHICAL
};

struct repl_select_item {
    const char *prop;  /* property URI as written, e.g. "urn:schemas:calendar:dtstart" */
    const char *alias; /* AS alias, or NULL */
};

enum repl_operand_kind {
    REPL_OPD_PROP,   /* a property ("…" in WHERE and ORDER BY) */
    REPL_OPD_STRING, /* '…' */
    REPL_OPD_NUMBER, /* text of the number */
    REPL_OPD_BOOL,
    REPL_OPD_CAST, /* CAST(value AS 'type'); value_is_dq tells how the value was quoted */
};

struct repl_operand {
    enum repl_operand_kind kind;
    const char *text;      /* property URI, string, number or cast value */
    bool boolean;          /* REPL_OPD_BOOL */
    const char *cast_type; /* REPL_OPD_CAST: lower-cased, one of §3.3's types */
    bool value_is_dq;      /* REPL_OPD_CAST: the value was double-quoted (maybe a property) */
    size_t offset;         /* byte offset in the query, for errors */
};

enum repl_expr_kind {
    REPL_EXPR_AND,
    REPL_EXPR_OR,
    REPL_EXPR_NOT,
    REPL_EXPR_CMP,
    REPL_EXPR_NULL, /* IS [NOT] NULL */
    REPL_EXPR_LIKE, /* [NOT] LIKE */
};

enum repl_cmp {
    REPL_EQ,
    REPL_NE,
    REPL_LT,
    REPL_GT,
    REPL_LE,
    REPL_GE
};

struct repl_expr {
    enum repl_expr_kind kind;
    struct repl_expr *a;       /* AND, OR: left; NOT: operand */
    struct repl_expr *b;       /* AND, OR: right */
    enum repl_cmp op;          /* CMP */
    struct repl_operand left;  /* CMP, NULL, LIKE: the property (NULL, LIKE) */
    struct repl_operand right; /* CMP */
    bool negated;              /* IS NOT NULL, NOT LIKE */
    const char *pattern;       /* LIKE */
    size_t offset;
};

struct repl_order_item {
    const char *prop;
    bool desc;
    size_t offset;
};

struct repl_query {
    bool select_all;
    struct repl_select_item *items;
    size_t nitems;
    const char *scope;       /* the URL in FROM "…" or SCOPE('… "…"'), "" = Request-URI */
    enum repl_depth depth;   /* FROM "…" is shallow; SCOPE without a depth is deep */
    struct repl_expr *where; /* NULL without WHERE */
    struct repl_order_item *order;
    size_t norder;
};

/* Parses `sql`. Returns 0 with *out filled (strings in `arena`), or -1 with err set to
 * repl_cond_sql_syntax (400) or repl_cond_sql_unsupported (422), the message naming the byte
 * offset and the offending token (first 64 bytes). */
int repl_sql_parse(struct slice sql, struct arena *arena, struct repl_query *out, struct err *err);

#endif
