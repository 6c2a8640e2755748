/* repl/search.c: Exchange SEARCH (exchange-replication.md §1.3-1.6, §3): the request body
 * streams into the SQL text, the collblob and a compact tag set (never a DOM, never an IN
 * list). A replication SEARCH (with R:repl) answers the manifest of §3.9 from the collection's
 * change log; a plain SEARCH answers the resources matching the query now, the WHERE time
 * window served by the span index, sorted by ORDER BY (a bounded sort) and paged by
 * Range: rows (§3.6). Both stream from store cursors inside one read snapshot.
 * Conditions: repl_cond_invalid_collblob (475), repl_cond_sql_* (400/422),
 * repl_cond_too_many_tags (413), repl_cond_not_xml (415), repl_cond_bad_range (400),
 * repl_cond_range_not_satisfiable (416), repl_cond_limit (422), dav_cond_bad_request (400),
 * dav_cond_not_found (404).
 * This file: the method (scope, dispatch, the streamed answer) and the plain SEARCH (candidates,
 * ORDER BY, expansion, folders, Range); the request body and the query are in search_body.c,
 * the row values and rows in search_eval.c, the manifest and the collblob in
 * search_manifest.c, what they share in search_int.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dav/ext.h"
#include "repl/props.h"
#include "repl/repl.h"
#include "repl/repl_int.h"
#include "repl/search_int.h"
#include "repl/where.h"
#include "util/deadline.h"

/* ---------------------------------------------------------------------------------------- */
/* Plain SEARCH: rows */

/* Counts a matching row and writes it when it is inside the range (never when `out` is
 * NULL: a counting pass). 1 written, 0 not, -1 failed. */
static int emit_row(struct search *s, struct row *r, struct buf *out)
{
    bool in = !s->ranged || s->pos >= s->first;
    s->pos++;
    if (!out || !in) {
        return 0;
    }
    return search_write_row(r, false, out) == 0 ? 1 : -1;
}

/* Starts expanding the series `it`: its row is kept in exp_arena, its occurrences in the
 * window in s->exp. */
static int start_series(struct search *s, const struct store_item *it)
{
    struct dav_req *dr = s->dr;
    arena_destroy(&s->exp_arena);
    s->exp_arena = arena_create();
    s->exp_item = *it;
    s->exp_item.name = arena_strdup(s->exp_arena, it->name);
    s->exp_item.content_type =
        it->content_type ? arena_strdup(s->exp_arena, it->content_type) : NULL;
    s->exp_item.cal.uid = it->cal.uid ? arena_strdup(s->exp_arena, it->cal.uid) : NULL;
    struct arena_mark m = arena_mark(dr->arena);
    struct store_item full;
    enum store_rc rc =
        store_item_get(dr->store, s->coll.coll.id, it->name, STORE_ITEM_CONTENT, dr->arena, &full);
    struct err e;
    err_init(&e);
    const struct repl_ex_self *self = NULL;
    if (rc == STORE_OK && search_self(s, &self) != 0) {
        rc = STORE_IO;
    }
    bool ok = rc == STORE_OK || rc == STORE_NOTFOUND;
    if (rc == STORE_OK && repl_ex_instances_open((struct slice){full.content, full.size}, self,
                                                 s->wstart, s->wend, dr->arena, &s->exp, &e) != 0) {
        /* an object that no longer parses has no occurrences (its master row still shows);
         * one whose expansion ran out of request_time_budget stops the search, which must
         * not be answered as if its occurrences were not there */
        ok = e.cond != &err_cond_time_budget;
    }
    arena_rewind(dr->arena, m);
    return ok ? 0 : -1;
}

/* The next occurrence row of the current series: 1 written, 0 none written (counted, outside
 * the range or not matching), 2 when the series is done, -1 failed. */
static int next_occurrence(struct search *s, struct buf *out)
{
    struct dav_req *dr = s->dr;
    struct arena_mark m = arena_mark(dr->arena);
    struct row r;
    search_row_init(&r, s, &s->exp_item);
    int w = 2;
    if (repl_ex_instances_next(s->exp, dr->arena, r.cal) == 1) {
        r.tried = r.loaded = true;
        char when[32];
        repl_time_format(r.cal[REPL_EX_RECURRENCEID].i, when);
        /* §3.8 [A]: master href + ?instance= + the recurrence id as YYYYMMDDTHHMMSSZ */
        r.href =
            arena_printf(dr->arena, "%s?instance=%.4s%.2s%.2sT%.2s%.2s%.2sZ", search_href_of(&r),
                         when, when + 5, when + 8, when + 11, when + 14, when + 17);
        int mt = search_matches(&r);
        w = mt < 0 ? -1 : mt == 1 ? emit_row(s, &r, out) : 0;
    } else {
        repl_ex_instances_close(&s->exp);
    }
    arena_rewind(dr->arena, m);
    return w;
}

/* Rows of an expansion query (§3.8): a single event, or a series master followed by its
 * occurrences in the window, each tested with its own values. `out` NULL counts only. */
static int next_expansion_row(struct search *s, struct buf *out)
{
    struct dav_req *dr = s->dr;
    for (;;) {
        if (deadline_passed()) {
            return -1; /* request_time_budget: the answer stops (503, or cut off and logged) */
        }
        if (out && (s->range_none || (s->ranged && s->pos > s->last))) {
            return 0;
        }
        if (s->exp) {
            int w = next_occurrence(s, out);
            if (w == 1 || w < 0) {
                return w;
            }
            continue;
        }
        struct store_item it;
        enum store_rc rc = store_cursor_next_item(s->cur, &it);
        if (rc == STORE_NOTFOUND) {
            return 0;
        }
        if (rc != STORE_OK) {
            return -1;
        }
        const struct store_item *row_item = &it;
        if (it.cal.is_recurring) {
            if (start_series(s, &it) != 0) {
                return -1;
            }
            row_item = &s->exp_item;
        }
        struct arena_mark m = arena_mark(dr->arena);
        struct row r;
        search_row_init(&r, s, row_item);
        int mt = search_matches(&r);
        int w = mt < 0 ? -1 : mt == 1 ? emit_row(s, &r, out) : 0;
        arena_rewind(dr->arena, m);
        if (w != 0) {
            return w;
        }
    }
}

/* The next matching row of a plain SEARCH within the range: 1 written, 0 at the end. */
static int next_plain_row(struct search *s, struct buf *out)
{
    struct dav_req *dr = s->dr;
    for (;;) {
        if (s->range_none || (s->ranged && s->pos > s->last)) {
            return 0;
        }
        struct store_item it;
        enum store_rc rc;
        struct arena_mark m = arena_mark(dr->arena); /* O(1) memory per row */
        if (s->rows) {
            if (s->next_row == s->nrows) {
                return 0;
            }
            const struct sorted_row *sr = &s->rows[s->next_row++];
            rc = store_item_get(dr->store, s->coll.coll.id, sr->name, STORE_ITEM_META, dr->arena,
                                &it);
        } else {
            rc = store_cursor_next_item(s->cur, &it);
        }
        if (rc == STORE_NOTFOUND) {
            return 0;
        }
        if (rc != STORE_OK) {
            return -1;
        }
        struct row r;
        search_row_init(&r, s, &it);
        int w = s->rows ? 1 : search_matches(&r); /* a sorted result is already filtered */
        bool emit = w == 1 && (!s->ranged || s->pos >= s->first);
        if (w == 1) {
            s->pos++;
        }
        if (emit) {
            w = search_write_row(&r, false, out) == 0 ? 1 : -1;
        }
        arena_rewind(dr->arena, m);
        if (w < 0 || emit) {
            return w;
        }
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Folder rows: hierarchical traversal of the mailbox root (§3.3, §4.6) */

struct folder_row {
    struct search *s;
    const struct store_coll *c;
    const char *href;
    const char *name; /* the folder's name in the scope (a share's in the sharee's home) */
    int readonly;     /* the requester may not write its members */
};

/* repl_value_fn for a child collection of the scope. */
static int folder_value(void *ctx, const struct repl_prop *p, struct repl_ex_value *v)
{
    struct folder_row *f = ctx;
    struct arena *a = f->s->dr->arena;
    bool cal = f->c->kind == STORE_COLL_CALENDAR;
    memset(v, 0, sizeof(*v));
    if (p->src != REPL_SRC_ROW) {
        return 0;
    }
    switch ((enum repl_rowprop)p->id) {
    case REPL_RP_HREF:
        search_set_s(v, f->href);
        break;
    case REPL_RP_GETETAG:
        search_set_s(v, dav_etag(a, f->c, f->c->modseq));
        break;
    case REPL_RP_CONTENTCLASS:
        search_set_s(v, cal ? "urn:content-classes:calendarfolder" : "urn:content-classes:folder");
        break;
    case REPL_RP_ISFOLDER:
    case REPL_RP_ISCOLLECTION:
        search_set_i(v, 1);
        break;
    case REPL_RP_ISHIDDEN:
        search_set_i(v, 0);
        break;
    case REPL_RP_ISREADONLY:
        search_set_i(v, f->readonly); /* issue 12: a share the sharee may only read */
        break;
    case REPL_RP_DISPLAYNAME:
        search_set_s(v, f->name);
        break;
    case REPL_RP_GETLASTMODIFIED:
        search_set_i(v, f->c->updated);
        break;
    case REPL_RP_PARENTNAME:
        search_set_s(v, arena_printf(a, "%s%s", f->s->origin, f->s->coll.href));
        break;
    case REPL_RP_CONTENTTAG:
        search_set_s(v, repl_contenttag(a, f->c));
        break;
    case REPL_RP_OUTLOOKFOLDERCLASS:
        search_set_s(v, cal ? "IPF.Appointment" : NULL);
        break;
    default:
        break; /* item properties */
    }
    return 0;
}

/* The next child collection matching the WHERE within the range: 1 written, 0 at the end. */
static int next_folder_row(struct search *s, struct buf *out)
{
    struct dav_req *dr = s->dr;
    for (;;) {
        if (s->range_none || (s->ranged && s->pos > s->last)) {
            return 0;
        }
        struct arena_mark m = arena_mark(dr->arena);
        struct dav_res c;
        int mr = dav_members_next(&s->members, &c);
        if (mr <= 0) {
            arena_rewind(dr->arena, m);
            return mr;
        }
        struct folder_row f = {s, &c.coll, NULL, c.name, c.access < DAV_ACCESS_READ_WRITE};
        f.href = arena_printf(dr->arena, "%s%s", s->origin, c.href);
        int w = repl_where_eval(s->where, folder_value, &f);
        bool emit = w == 1 && (!s->ranged || s->pos >= s->first);
        if (w == 1) {
            s->pos++;
        }
        if (emit) {
            struct buf found, missing;
            buf_init(&found, dav_row_limit(s->dr));
            buf_init(&missing, dav_row_limit(s->dr));
            w = search_collect_props(s, folder_value, &f, false, &found, &missing) == 0 &&
                        search_write_response(f.href, &found, &missing, out) == 0
                    ? 1
                    : -1;
            buf_deinit(&found);
            buf_deinit(&missing);
        }
        arena_rewind(dr->arena, m);
        if (w < 0 || emit) {
            return w;
        }
    }
}

static int search_next(void *ctx, struct buf *out)
{
    struct search *s = ctx;
    if (s->plain) {
        return s->folders     ? next_folder_row(s, out)
               : s->expansion ? next_expansion_row(s, out)
                              : next_plain_row(s, out);
    }
    if (!s->repl_written) {
        s->repl_written = true;
        if (s->empty) {
            return buf_append_cstr(out, "<R:repl/>\n") == 0 ? 1 : -1;
        }
        int rc = buf_append_cstr(out, "<R:repl><R:collblob>");
        rc |= buf_append_cstr(out, s->new_blob);
        rc |= buf_append_cstr(out, "</R:collblob></R:repl>\n");
        return rc == 0 ? 1 : -1;
    }
    return s->empty ? 0 : search_next_manifest_row(s, out);
}

/* ---------------------------------------------------------------------------------------- */
/* Plain SEARCH: candidates, ORDER BY, Range */

static int open_candidates(struct search *s, struct err *err)
{
    struct dav_req *dr = s->dr;
    store_cursor_close(&s->cur);
    enum store_rc rc =
        s->window ? store_items_in_range_open(dr->store, s->coll.coll.id, s->wstart, s->wend,
                                              STORE_RANGE_SPAN | STORE_RANGE_CONTENT, &s->cur)
                  : store_items_open(dr->store, s->coll.coll.id, STORE_ORDER_NAME, &s->cur);
    return rc == STORE_OK ? 0 : dav_store_err(dr, rc, err);
}

static int
cmp_key(const struct repl_prop *p, const struct repl_ex_value *a, const struct repl_ex_value *b)
{
    if (!a->present || !b->present) {
        return (int)a->present - (int)b->present; /* NULLs first */
    }
    if (p->type == REPL_EX_STRING) {
        return strcmp(a->s, b->s);
    }
    return a->i < b->i ? -1 : a->i > b->i;
}

static int cmp_rows(const void *x, const void *y)
{
    const struct sorted_row *a = x;
    const struct sorted_row *b = y;
    const struct search *s = a->s;
    for (size_t i = 0; i < s->norder; i++) {
        int c = cmp_key(&s->order[i].p, &a->keys[i], &b->keys[i]);
        if (c) {
            return s->order[i].desc ? -c : c;
        }
    }
    return a->id < b->id ? -1 : a->id > b->id; /* §3.7: ties broken by item id */
}

/* Adds the current candidate to the sort array with copies of its keys. */
static int keep_row(struct search *s, struct row *r, size_t *cap, struct err *err)
{
    if (s->nrows == SEARCH_MAX_SORT_ROWS) {
        return err_set(err, &repl_cond_limit,
                       "ORDER BY would sort more than search_max_sort_rows=%d rows; narrow the "
                       "WHERE clause",
                       SEARCH_MAX_SORT_ROWS);
    }
    if (s->nrows == *cap) {
        *cap = *cap ? *cap * 2 : 256;
        struct sorted_row *n = arena_alloc(s->sort_arena, *cap * sizeof(*n));
        if (s->nrows) {
            memcpy(n, s->rows, s->nrows * sizeof(*n));
        }
        s->rows = n;
    }
    struct sorted_row *sr = &s->rows[s->nrows++];
    sr->name = arena_strdup(s->sort_arena, r->it->name);
    sr->id = r->it->id;
    sr->s = s;
    sr->keys = arena_zalloc(s->sort_arena, s->norder * sizeof(*sr->keys) + 1);
    r->for_where = true; /* dtstart/dtend sort by the indexed span (§3.7) */
    for (size_t i = 0; i < s->norder; i++) {
        struct repl_ex_value v;
        if (search_row_value(r, &s->order[i].p, &v) != 0) {
            return dav_store_err(s->dr, STORE_IO, err);
        }
        sr->keys[i] = v;
        if (v.present && s->order[i].p.type == REPL_EX_STRING) {
            sr->keys[i].s = arena_strdup(s->sort_arena, v.s);
        }
    }
    return 0;
}

/* One pass over the candidates: counts the matching rows (*total) and, with ORDER BY, keeps
 * them for the sort. Same snapshot as the answer. */
static int scan_candidates(struct search *s, bool keep, uint64_t *total, struct err *err)
{
    struct dav_req *dr = s->dr;
    size_t cap = 0;
    *total = 0;
    if (open_candidates(s, err) != 0) {
        return -1;
    }
    for (;;) {
        struct store_item it;
        enum store_rc rc = store_cursor_next_item(s->cur, &it);
        if (rc == STORE_NOTFOUND) {
            break;
        }
        if (rc != STORE_OK) {
            return dav_store_err(dr, rc, err);
        }
        struct arena_mark m = arena_mark(dr->arena);
        struct row r;
        search_row_init(&r, s, &it);
        int ok = search_matches(&r);
        if (ok == 1) {
            (*total)++;
            ok = keep ? (keep_row(s, &r, &cap, err) == 0 ? 1 : -1) : 1;
        }
        arena_rewind(dr->arena, m);
        if (ok < 0) {
            return err->cond ? -1 : dav_store_err(dr, STORE_IO, err);
        }
    }
    /* No row kept leaves s->rows NULL, and qsort's pointer must not be NULL even for 0
     * elements (C17 §7.22.5): the sanitizer build aborts on it. */
    if (keep && s->nrows > 1) {
        qsort(s->rows, s->nrows, sizeof(*s->rows), cmp_rows);
    }
    return 0;
}

/* Positions first..last of `total` rows, Content-Range (§3.6), or 416. */
static int apply_range(struct search *s, const struct range *r, uint64_t total, struct err *err)
{
    struct dav_req *dr = s->dr;
    s->ranged = true;
    if (r->suffix) {
        s->range_none = r->b == 0 || total == 0;
        s->first = total > r->b ? total - r->b : 0;
    } else {
        if (total > 0 && r->a >= total) {
            http_resp_error_header(
                dr->http, "Content-Range",
                arena_printf(dr->arena, "total=%llu", (unsigned long long)total));
            return err_set(err, &repl_cond_range_not_satisfiable,
                           "Range starts at row %llu of %llu", (unsigned long long)r->a,
                           (unsigned long long)total);
        }
        s->range_none = total == 0;
        s->first = r->a;
    }
    s->last = r->suffix || r->open || r->b >= total ? total - 1 : r->b;
    const char *cr =
        s->range_none
            ? arena_printf(dr->arena, "total=%llu", (unsigned long long)total)
            : arena_printf(dr->arena, "rows %llu-%llu; total=%llu", (unsigned long long)s->first,
                           (unsigned long long)s->last, (unsigned long long)total);
    http_resp_header(dr->http, "Content-Range", cr);
    return 0;
}

/* A plain SEARCH on a calendar (§3.1 table): rows matching now, in ORDER BY order. */
/* An expansion query: the window bound, then (with Range) a counting pass over the same
 * rows, then the rows. ORDER BY is not served with expansion yet. */
static int expansion_search(struct search *s, const struct range *r, struct err *err)
{
    struct dav_req *dr = s->dr;
    uint64_t days = ((uint64_t)s->wend - (uint64_t)s->wstart) / 86400;
    if (days > SEARCH_MAX_EXPANSION_DAYS) {
        return err_set(err, &repl_cond_limit,
                       "expansion window of %llu days exceeds search_max_expansion_days=%d",
                       (unsigned long long)days, SEARCH_MAX_EXPANSION_DAYS);
    }
    if (s->norder) {
        return err_set(err, &repl_cond_sql_unsupported,
                       "sql feature not supported at offset %zu ('%.64s'): ORDER BY in an "
                       "expansion query",
                       s->q.order[0].offset, s->q.order[0].prop);
    }
    s->exp_arena = arena_create();
    if (r->set) {
        if (open_candidates(s, err) != 0) {
            return -1;
        }
        int w;
        while ((w = next_expansion_row(s, NULL)) > 0) {
        }
        if (w < 0 && deadline_passed()) {
            return err_set(err, &err_cond_time_budget,
                           "counting the rows of an expansion query took longer than "
                           "request_time_budget");
        }
        if (w < 0) {
            return dav_store_err(dr, STORE_IO, err);
        }
        uint64_t total = s->pos;
        s->pos = 0;
        repl_ex_instances_close(&s->exp);
        if (apply_range(s, r, total, err) != 0) {
            return -1;
        }
    }
    return open_candidates(s, err);
}

static int plain_search(struct search *s, struct err *err)
{
    struct dav_req *dr = s->dr;
    struct range r;
    if (search_parse_range(http_req_header(dr->http, "Range"), &r, err) != 0) {
        return -1;
    }
    bool sort = s->norder > 0;
    s->window = repl_where_window(s->where, &s->wstart, &s->wend);
    /* §3.8: a lower and an upper bound on dtstart/dtend make an expansion query */
    s->expansion = s->window && s->wstart != INT64_MIN && s->wend != INT64_MAX;
    if (s->expansion) {
        return expansion_search(s, &r, err);
    }
    uint64_t total = 0;
    if (sort) {
        s->sort_arena = arena_create();
    }
    if ((sort || r.set) && scan_candidates(s, sort, &total, err) != 0) {
        return -1;
    }
    if (r.set && apply_range(s, &r, total, err) != 0) {
        return -1;
    }
    return sort ? 0 : open_candidates(s, err);
}

/* ---------------------------------------------------------------------------------------- */
/* The method */

/* Folder discovery (§3.3: hierarchical traversal of the mailbox root): the child
 * collections by name; ORDER BY may only ask for that order. */
static int folder_search(struct search *s, struct err *err)
{
    struct dav_req *dr = s->dr;
    for (size_t i = 0; i < s->norder; i++) {
        const struct repl_prop *p = &s->order[i].p;
        bool by_name =
            p->src == REPL_SRC_ROW && (p->id == REPL_RP_DISPLAYNAME || p->id == REPL_RP_HREF);
        if (!by_name || s->order[i].desc) {
            return err_set(err, &repl_cond_sql_unsupported,
                           "sql feature not supported at offset %zu ('%.64s'): folders are "
                           "listed by name only",
                           s->q.order[i].offset, s->q.order[i].prop);
        }
    }
    struct range r;
    if (search_parse_range(http_req_header(dr->http, "Range"), &r, err) != 0) {
        return -1;
    }
    if (r.set) {
        uint64_t total = 0;
        if (dav_members_open(dr, &s->coll, &s->members, err) != 0) {
            return -1;
        }
        int mr;
        for (;;) {
            struct arena_mark m = arena_mark(dr->arena);
            struct dav_res c;
            mr = dav_members_next(&s->members, &c);
            if (mr == 1) {
                struct folder_row f = {s, &c.coll, NULL, c.name, c.access < DAV_ACCESS_READ_WRITE};
                f.href = arena_printf(dr->arena, "%s%s", s->origin, c.href);
                total += repl_where_eval(s->where, folder_value, &f) == 1;
            }
            arena_rewind(dr->arena, m);
            if (mr != 1) {
                break;
            }
        }
        dav_members_close(&s->members);
        if (mr < 0) {
            return dav_store_err(dr, STORE_IO, err);
        }
        if (apply_range(s, &r, total, err) != 0) {
            return -1;
        }
    }
    if (dav_members_open(dr, &s->coll, &s->members, err) != 0) {
        return -1;
    }
    s->has_members = true;
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* The method */

/* §3.3 Scope: an absolute URL of this server, an absolute path, a path relative to the
 * Request-URI, or "" (the Request-URI). It must name the Request-URI or a collection below
 * it (else 409 DAV:search-scope-valid); the search then runs on that collection. */
static int resolve_scope(struct search *s, struct err *err)
{
    struct dav_req *dr = s->dr;
    struct slice scope = slice_from_cstr(s->q.scope);
    if (scope.len == 0) {
        return 0;
    }
    const char *origin = http_req_origin(dr->http);
    if (origin && slice_has_prefix(scope, slice_from_cstr(origin))) {
        scope.ptr += strlen(origin);
        scope.len -= strlen(origin);
    } else if (slice_has_prefix(scope, SLICE_LIT("http://")) ||
               slice_has_prefix(scope, SLICE_LIT("https://"))) {
        return err_set(err, &repl_cond_search_scope_valid, "scope %.200s is on another server",
                       s->q.scope);
    }
    const char *joined =
        scope.len && scope.ptr[0] == '/'
            ? arena_slicedup(dr->arena, scope)
            : arena_printf(dr->arena, "%s%.*s", s->coll.href, (int)scope.len, scope.ptr);
    const char *path = NULL;
    struct err e;
    err_init(&e);
    struct dav_res res;
    if (http_path_decode(slice_from_cstr(joined), BUF_LIMIT_HREF, dr->arena, &path, NULL, &e) !=
        0) {
        return err_set(err, &repl_cond_search_scope_valid, "scope %.200s is not a valid path",
                       s->q.scope);
    }
    if (dav_resolve(dr, path, &res, err) != 0) {
        return -1;
    }
    if (res.kind != DAV_RES_COLL ||
        !slice_has_prefix(slice_from_cstr(res.href), slice_from_cstr(s->coll.href))) {
        return err_set(err, &repl_cond_search_scope_valid,
                       "scope %.200s is not the Request-URI or a collection below it", s->q.scope);
    }
    s->coll = res;
    return 0;
}

static int search_run(struct dav_req *dr, struct err *err)
{
    struct search *s = dr->mstate;
    int body = dav_xml_finish(dr, err);
    if (body < 0) {
        return -1;
    }
    if (body == 1 || !s->root_ok) {
        return err_set(err, &dav_cond_bad_request, "SEARCH needs a DAV:searchrequest body");
    }
    if (s->sql.len == 0) {
        return err_set(err, &dav_cond_bad_request, "SEARCH needs exactly one DAV:sql");
    }
    if (repl_sql_parse(buf_slice(&s->sql), dr->arena, &s->q, err) != 0 ||
        resolve_scope(s, err) != 0) {
        return -1;
    }
    s->plain = !s->has_repl;
    s->origin = http_req_origin(dr->http);
    bool calendar = s->coll.coll.kind == STORE_COLL_CALENDAR;
    /* §3.3: hierarchical traversal lists child collections (a calendar has none) */
    s->folders = s->plain && !calendar && s->q.depth == REPL_DEPTH_HIERARCHICAL;
    if (search_prepare_query(s, err) != 0) {
        return -1;
    }
    if (s->plain && !calendar && s->q.depth == REPL_DEPTH_DEEP) {
        return err_set(err, &repl_cond_sql_unsupported,
                       "deep traversal of a collection other than a calendar is not served yet");
    }
    int rc = 0;
    if (s->folders) {
        rc = folder_search(s, err);
    } else if (s->plain && (!calendar || s->q.depth == REPL_DEPTH_HIERARCHICAL)) {
        s->range_none = true; /* §3.3: the mailbox root's shallow rows; a calendar's folders */
    } else {
        rc = s->plain ? plain_search(s, err) : search_replication(s, err);
    }
    if (rc != 0) {
        return -1;
    }
    char n[64];
    snprintf(n, sizeof(n), "%zu/%zu", s->tags_total, s->tags_dropped);
    http_req_log_field(dr->http, "tags", n);
    if (s->tags_dropped) {
        snprintf(n, sizeof(n), "%zu", s->tags_dropped);
        http_resp_header(dr->http, "X-Almanac-Ignored-Tags", n);
    }
    http_resp_header(dr->http, "Accept-Ranges", "rows");
    const char *head =
        arena_printf(dr->arena, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:multistatus%s>\n",
                     repl_props_xmlns(s->https));
    dav_stream(dr, 207, "text/xml; charset=\"utf-8\"", head, "</D:multistatus>\n", search_next, s);
    return 0;
}

const struct dav_method repl_search = {.begin = search_begin, .run = search_run};
