/* repl/search_int.h: what the files of Exchange SEARCH share (search.c the method and the
 * plain SEARCH, search_body.c the request body and the query, search_eval.c the row values
 * and rows, search_manifest.c the replication manifest and its collblob). Internal to repl. */
#ifndef ALMANAC_REPL_SEARCH_INT_H
#define ALMANAC_REPL_SEARCH_INT_H

#include "dav/ext.h"
#include "repl/props.h"
#include "repl/repl.h"
#include "repl/sql.h"
#include "repl/tokens.h"
#include "repl/where.h"

enum {
    SEARCH_SQL_MAX = 64 * 1024, /* bytes of D:sql */
    SEARCH_TEXT_MAX = REPL_COLLBLOB_TEXT_MAX + 64,
    /* search_max_sort_rows: rows a plain SEARCH with ORDER BY sorts in memory (§3.7 lets an
     * implementation sort beyond the indexed orders with a documented bound); about 130 bytes
     * each plus the sort keys, so ~15 MB at most per request. Past it: 422 A:limit. */
    SEARCH_MAX_SORT_ROWS = 100000,
    /* search_max_expansion_days (§3.8: Exchange refused windows over 732 days; the brief's
     * default is 3660): a longer expansion window is 422 A:limit */
    SEARCH_MAX_EXPANSION_DAYS = 3660,
};

/* One selected property (§3.4) and its AS alias (§3.3). */
struct sel_item {
    struct repl_prop p;
    const char *alias;
};

/* One ORDER BY key (§3.7). */
struct order_key {
    struct repl_prop p;
    bool desc;
};

/* A matching row of a sorted plain SEARCH, in the sort arena. */
struct sorted_row {
    const char *name;
    uint64_t id;
    struct repl_ex_value *keys; /* one per ORDER BY key, strings copied */
    const struct search *s;     /* for the comparator (qsort has no context) */
};

/* Range: rows=... (§3.6), resolved against the row count. */
struct range {
    bool set;
    bool suffix; /* -n: the last n rows */
    bool open;   /* a-: to the end */
    uint64_t a;
    uint64_t b;
};

enum capture {
    CAP_NONE,
    CAP_SQL,
    CAP_BLOB,
    CAP_TAG
};

struct search {
    struct dav_req *dr;
    struct dav_res coll; /* the Request-URI's collection, resolved when headers arrive */
    uint64_t principal;
    uint8_t guid[REPL_GUID_BYTES];
    unsigned depth;
    bool root_ok;
    bool in_repl;
    bool has_repl;
    bool in_list;
    bool https; /* the request spelled the repl namespace with https:// */
    enum capture cap;
    struct buf sql;
    struct buf text;
    const char *collblob; /* trimmed text, NULL when absent or empty */
    bool blob_too_long;
    struct repl_tagset *tags;
    size_t tags_total;
    size_t tags_dropped; /* malformed or foreign */
    /* answer */
    struct repl_query q;
    struct sel_item *sel;
    size_t nsel;
    bool sel_content; /* a selected property is read from the iCalendar */
    struct repl_cond *where;
    struct order_key *order;
    size_t norder;
    bool plain;
    bool folders;               /* hierarchical traversal of the mailbox root: rows are calendars */
    struct dav_members members; /* folders: the child collections and the home's shares */
    bool has_members;
    /* an expansion query (§3.8): series expand into their occurrences in the window */
    bool expansion;
    struct arena *exp_arena;  /* the current series' row, kept across next() calls */
    struct arena *self_arena; /* the principal's addresses (search_self), read once */
    struct repl_ex_self self;
    struct store_item exp_item;    /* the current series (name in exp_arena) */
    struct repl_ex_instances *exp; /* its occurrences still to write */
    bool window;                   /* the WHERE bounds dtstart/dtend: read the span index */
    int64_t wstart;
    int64_t wend;
    struct arena *sort_arena;
    struct sorted_row *rows; /* a sorted plain SEARCH: the result */
    size_t nrows;
    size_t next_row;
    bool ranged;     /* write only positions first..last */
    bool range_none; /* the range selects nothing */
    uint64_t first;
    uint64_t last;
    uint64_t pos; /* position of the next matching row */
    bool initial;
    uint64_t w;                   /* the client's watermark */
    struct repl_collblob in_blob; /* the client's collblob, when not initial */
    uint64_t s;                   /* the snapshot's collection modseq */
    const char *new_blob;
    /* a sliding date window (docs/replication.md): the WHERE's bounds, the collblob's, and
     * the strips of the span index between them that the manifest reads first */
    size_t nbounds; /* slidable bounds of this WHERE; 0 when none or too many */
    int64_t bounds[REPL_WHERE_MAX_BOUNDS];
    bool slide; /* the collblob's bounds differ from this request's */
    int64_t old_bounds[REPL_WHERE_MAX_BOUNDS];

    struct {
        int64_t lo, hi; /* [lo, hi) in the store's overlap test, disjoint, ascending */
    } strips[REPL_WHERE_MAX_BOUNDS];

    size_t nstrips;
    size_t strip;    /* the strip the cursor reads */
    bool in_changes; /* the cursor reads the change log */
    bool empty;
    bool repl_written;
    struct store_cursor *cur;
    const char *origin;
};

/* One candidate row and what has been read for it (in the request arena, rewound per row). */
struct row {
    struct search *s;
    const struct store_item *it;
    const char *href;
    const char *changetype; /* replication rows */
    bool for_where;         /* C:dtstart/C:dtend read from the span (§3.8) */
    bool tried;             /* the content was read (or could not be) */
    bool loaded;            /* cal holds the iCalendar-derived values */
    struct repl_ex_value cal[REPL_EX_COUNT];
};

static inline void search_set_s(struct repl_ex_value *v, const char *s)
{
    v->present = s != NULL;
    v->s = s;
}

static inline void search_set_i(struct repl_ex_value *v, int64_t i)
{
    v->present = true;
    v->i = i;
}

/* search_body.c */

/* The method's begin: checks the Content-Type, opens the snapshot, resolves the collection
 * and starts the SEARCH body reader. */
int search_begin(struct dav_req *dr, struct err *err);
/* Resolves the select list and the ORDER BY keys, types the WHERE (§3.3, §3.7). */
int search_prepare_query(struct search *s, struct err *err);
/* §3.6: Range: rows=a-b | a- | -n (the first of a list); other units are ignored. */
int search_parse_range(const char *h, struct range *r, struct err *err);

/* search_eval.c */

void search_row_init(struct row *r, struct search *s, const struct store_item *it);

/* The principal's addresses for the rows' C:isorganizer and C:responsestatus, read at the
 * first row that needs them and kept for the search (an arena of their own, so rows'
 * rewinds leave them): 0 with *out, or -1 when the store failed. */
int search_self(struct search *s, const struct repl_ex_self **out);
/* §3.4: rows name resources by absolute URL; built only for rows that are written. */
const char *search_href_of(struct row *r);
/* repl_value_fn: the value of `p` for the row (§3.3; §3.8 for dtstart/dtend in WHERE). */
int search_row_value(void *ctx, const struct repl_prop *p, struct repl_ex_value *v);
/* The row against the WHERE: 1 matches, 0 not, -1 failed. */
int search_matches(struct row *r);
/* The selected properties of one row into `found` and `missing` (see search_eval.c). */
int search_collect_props(struct search *s,
                         repl_value_fn *fn,
                         void *ctx,
                         bool deleted,
                         struct buf *found,
                         struct buf *missing);
/* <D:response> with the 200 and 404 propstats that have content. */
int search_write_response(const char *href,
                          const struct buf *found,
                          const struct buf *missing,
                          struct buf *out);
/* One resource row (§3.4); a manifest row also carries R:repl-uid and R:changetype, once. */
int search_write_row(struct row *r, bool deleted, struct buf *out);

/* search_manifest.c */

/* A replication SEARCH (§3.9): checks the collblob, resolves the Range, makes the new
 * collblob and opens the change cursor. */
int search_replication(struct search *s, struct err *err);
/* The next row of a manifest from the change cursor, within the range: 1 written, 0 at the
 * end, -1 failed. */
int search_next_manifest_row(struct search *s, struct buf *out);

#endif
