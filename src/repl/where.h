/* repl/where.h: the WHERE clause of an Exchange SEARCH, typed and evaluated
 * (exchange-replication.md §3.3): literals converted to the property's type once per request
 * (422 sql-type when one cannot be), constant predicates of a calendar folded away, the
 * time window on C:dtstart/C:dtend that a store index can serve, the canonical text of §1.3,
 * and SQL three-valued evaluation against one row through a value callback. Knows nothing of
 * the store or of XML. */
#ifndef ALMANAC_REPL_WHERE_H
#define ALMANAC_REPL_WHERE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "repl/props.h"
#include "repl/sql.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/err.h"

struct repl_cond;

/* Types the tree of `e` (NULL: no WHERE) against the properties of appointments and, when
 * `fold` (rows are a calendar's resources), folds the predicates that are TRUE for every
 * resource of a calendar (§3.3: contentclass = appointment, isfolder = false, ishidden =
 * false). *out is NULL when the whole condition folds to TRUE. Returns 0, or -1 with err set to
 * repl_cond_sql_type (422) naming the property, the literal and its offset, or
 * repl_cond_sql_unsupported (422) for a comparison of two properties of different types. The tree
 * is in `arena`. */
int repl_where_compile(const struct repl_expr *e,
                       bool fold,
                       struct arena *arena,
                       struct repl_cond **out,
                       struct err *err);

/* The window [*start, *end) (Unix seconds) outside which no row can satisfy `c`, from the
 * comparisons on C:dtstart and C:dtend of its top-level conjunction: a row whose span does not
 * overlap it is FALSE (every row's dtstart <= dtend). INT64_MIN/INT64_MAX when unbounded.
 * Returns true when some bound was found. */
bool repl_where_window(const struct repl_cond *c, int64_t *start, int64_t *end);

/* Appends the normal form of §1.3 (keywords upper case, one space between tokens, the repl
 * namespace in its http:// spelling, dates as YYYY-MM-DDTHH:MM:SSZ, every binary node in
 * parentheses); "TRUE" for NULL. 0, or -1 past the buffer's limit. */
int repl_where_print(const struct repl_cond *c, struct buf *out);

/* The date bounds a sliding collblob may move (docs/replication.md, "Sliding date
 * windows"): the conjuncts of the top-level conjunction of `c` (AND nodes from the root,
 * never below NOT or OR) that compare C:dtstart or C:dtend with <, <=, > or >= to a date
 * literal (a bare date string or a CAST to dateTime / dateTime.tz; typing made them one). */
enum {
    REPL_WHERE_MAX_BOUNDS = 4, /* a WHERE with more slides no bound: its collblob is v1 */
};

/* The values (Unix seconds) of those bounds in print order into vals[0..max); returns how
 * many there are (which may exceed max: the caller then treats the query as not sliding). */
size_t repl_where_bounds(const struct repl_cond *c, int64_t *vals, size_t max);

/* Sets the first n bounds (print order) to vals: the same tree evaluates the query of an
 * older collblob, then is set back. n must not exceed repl_where_bounds(c). */
void repl_where_set_bounds(struct repl_cond *c, const int64_t *vals, size_t n);

/* repl_where_print with the literal of each bound written as $1, $2, ... (no literal of the
 * normal form prints so: strings are quoted, numbers have no '$'): the shape that two
 * queries differing only in their bounds share. */
int repl_where_print_shape(const struct repl_cond *c, struct buf *out);

/* Whether evaluating `c` needs an iCalendar-derived value other than C:dtstart/C:dtend
 * (which WHERE reads from the row's span, §3.8). */
bool repl_where_needs_content(const struct repl_cond *c);

/* Fills *v with the value of `p` for the current row for a WHERE comparison (present = false
 * for NULL); 0, or -1 on a store failure (evaluation then fails). */
typedef int repl_value_fn(void *ctx, const struct repl_prop *p, struct repl_ex_value *v);

/* 1 when `c` is TRUE for the row, 0 when FALSE or UNKNOWN (§3.3: a row is returned only when
 * the whole condition is TRUE), -1 when fn failed. NULL is TRUE. */
int repl_where_eval(const struct repl_cond *c, repl_value_fn *fn, void *ctx);

/* §3.3 date forms: YYYY-MM-DDTHH:MM:SS[.fff][Z|+-HH:MM], YYYY-MM-DD HH:MM:SS,
 * YYYY/MM/DD HH:MM:SS, YYYY-MM-DD, YYYY/MM/DD; without an offset UTC. 0 with *t set, or -1. */
int repl_parse_date(const char *s, int64_t *t);

#endif
