/* repl/search_manifest.c: the replication SEARCH (exchange-replication.md §1.3, §3.5-3.6,
 * §3.9): the collblob (its key, the query hash, the checks of §1.3), the manifest from the
 * collection's change log (each candidate classified new/change/delete against the client's
 * watermark and tags) and its Range; and a sliding date window (docs/replication.md): a
 * version 2 collblob whose WHERE differs from the request's only in the bounds of its
 * dtstart/dtend comparisons continues, the strips of the span index between the old and the
 * new bounds read before the change log. Conditions: repl_cond_invalid_collblob (475),
 * repl_cond_range_not_satisfiable (416), repl_cond_sql_unsupported (422). */
#include <string.h>

#include "dav/ext.h"
#include "repl/search_int.h"
#include "repl/tokens.h"
#include "util/sec.h"

_Static_assert((int)REPL_WHERE_MAX_BOUNDS == (int)REPL_COLLBLOB_BOUNDS,
               "a collblob carries every bound");

/* The canonical query of §1.3: collection, depth and the folded WHERE in normal form; with
 * `shape`, the WHERE's slidable bounds written as $1.. (docs/replication.md). */
static int query_hash(const struct search *s, bool shape, uint8_t out[16])
{
    struct buf b;
    buf_init(&b, SEARCH_SQL_MAX * 2);
    int rc = buf_appendf(&b, "coll=%llu depth=%d %s=", (unsigned long long)s->coll.coll.id,
                         (int)s->q.depth, shape ? "shape" : "where");
    rc |= shape ? repl_where_print_shape(s->where, &b) : repl_where_print(s->where, &b);
    repl_query_hash(buf_slice(&b), out);
    buf_deinit(&b);
    return rc == 0 ? 0 : -1;
}

static void collblob_key(struct dav_req *dr, uint8_t key[REPL_KEY_BYTES])
{
    uint8_t secret[STORE_SECRET_BYTES];
    store_secret(dr->store, secret);
    static const char label[] = "almanac collblob v1";
    sec_hash(secret, sizeof(secret), label, sizeof(label) - 1, key);
    sec_memzero(secret, sizeof(secret));
}

/* Whether collblob `b` was made for this request's query: version 1 by the hash of the
 * canonical query; version 2 by the hash of its shape and the number of bounds (which may
 * then differ: a slide). */
static bool same_query(const struct search *s, const struct repl_collblob *b, struct err *err)
{
    uint8_t qh[16];
    if (b->version != 2) {
        if (query_hash(s, false, qh) != 0) {
            err_set(err, &repl_cond_sql_unsupported, "query too long to hash");
            return false;
        }
        return memcmp(b->query_hash, qh, 16) == 0;
    }
    if (s->nbounds == 0 || b->nbounds != s->nbounds) {
        return false;
    }
    if (query_hash(s, true, qh) != 0) {
        err_set(err, &repl_cond_sql_unsupported, "query too long to hash");
        return false;
    }
    return memcmp(b->query_hash, qh, 16) == 0;
}

/* The strips of a slide: for each bound that moved, [min - 1, max + 1) between its old and
 * new value (a comparison's truth can change only for a row whose dtstart or dtend lies
 * between them, inclusive, and the store's overlap test is dtstart < hi AND dtend > lo);
 * sorted and merged, so they are disjoint and ascending. */
static void make_strips(struct search *s)
{
    s->nstrips = 0;
    for (size_t i = 0; i < s->nbounds; i++) {
        int64_t a = s->old_bounds[i];
        int64_t b = s->bounds[i];
        if (a == b) {
            continue;
        }
        int64_t lo = a < b ? a : b;
        int64_t hi = a < b ? b : a;
        lo = lo == INT64_MIN ? lo : lo - 1;
        hi = hi == INT64_MAX ? hi : hi + 1;
        size_t k = s->nstrips++;
        while (k > 0 && s->strips[k - 1].lo > lo) { /* insertion by lo */
            s->strips[k] = s->strips[k - 1];
            k--;
        }
        s->strips[k].lo = lo;
        s->strips[k].hi = hi;
    }
    size_t n = 0;
    for (size_t i = 0; i < s->nstrips; i++) {
        if (n > 0 && s->strips[i].lo <= s->strips[n - 1].hi) {
            if (s->strips[i].hi > s->strips[n - 1].hi) {
                s->strips[n - 1].hi = s->strips[i].hi;
            }
        } else {
            s->strips[n++] = s->strips[i];
        }
    }
    s->nstrips = n;
}

/* §1.3: the checks in order; the first failure is 475 with its reason. A version 2
 * collblob whose bounds differ from the request's sets s->slide (docs/replication.md). */
static int check_collblob(struct search *s, const uint8_t key[REPL_KEY_BYTES], struct err *err)
{
    const char *reason = NULL;
    struct repl_collblob b;
    const struct store_coll *c = &s->coll.coll;
    if (s->blob_too_long) {
        reason = "bad-encoding";
    } else if (repl_collblob_decode(slice_from_cstr(s->collblob), key, NULL, &b, &reason) != 0) {
        /* reason set */
    } else if (b.principal != s->principal) {
        reason = "wrong-principal";
    } else if (b.coll != c->id) {
        reason = "wrong-collection";
    } else if (b.epoch != c->epoch) {
        reason = "epoch-changed";
    } else if (b.watermark < c->tomb_horizon) {
        reason = "history-pruned";
    } else if (b.watermark > c->modseq) {
        reason = "bad-mac";
    } else if (!same_query(s, &b, err)) {
        if (err->cond) {
            return -1;
        }
        reason = "query-mismatch";
    }
    if (reason) {
        return err_set(err, &repl_cond_invalid_collblob,
                       "invalid collblob (%s): start over with an empty collblob", reason);
    }
    s->w = b.watermark;
    s->in_blob = b;
    if (b.version == 2 && memcmp(b.bounds, s->bounds, s->nbounds * sizeof(int64_t)) != 0) {
        s->slide = true;
        memcpy(s->old_bounds, b.bounds, s->nbounds * sizeof(int64_t));
        make_strips(s);
        http_req_log_field(s->dr->http, "window", "slide"); /* the access line says so */
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Candidates: the strips of a slide, then the change log above W */

static enum store_rc strip_open(struct search *s)
{
    struct dav_req *dr = s->dr;
    return store_items_in_range_open(dr->store, s->coll.coll.id, s->strips[s->strip].lo,
                                     s->strips[s->strip].hi, STORE_RANGE_SPAN | STORE_RANGE_CONTENT,
                                     &s->cur);
}

/* Opens the manifest's candidates from the start (each pass over the same snapshot). */
static enum store_rc candidates_open(struct search *s)
{
    struct dav_req *dr = s->dr;
    store_cursor_close(&s->cur);
    s->strip = 0;
    s->in_changes = !s->slide || s->nstrips == 0;
    return s->in_changes ? store_changes_open(dr->store, s->coll.coll.id, s->w, &s->cur)
                         : strip_open(s);
}

/* Whether `it` overlaps a strip read before the current one (it was a candidate there). */
static bool in_earlier_strip(const struct search *s, const struct store_item *it)
{
    for (size_t j = 0; j < s->strip; j++) {
        if (it->cal.dtstart_utc < s->strips[j].hi && it->cal.dtend_utc > s->strips[j].lo) {
            return true;
        }
    }
    return false;
}

/* The next candidate (borrowed until the next call): STORE_OK, STORE_NOTFOUND at the end, or
 * a store error. *strip tells a strip candidate: an item unchanged since W (changed ones
 * come from the change log), each once however many strips it overlaps. */
static enum store_rc candidates_next(struct search *s, struct store_item *it, bool *strip)
{
    struct dav_req *dr = s->dr;
    for (;;) {
        enum store_rc rc = store_cursor_next_item(s->cur, it);
        if (rc == STORE_NOTFOUND && !s->in_changes) {
            store_cursor_close(&s->cur);
            if (++s->strip < s->nstrips) {
                rc = strip_open(s);
            } else {
                s->in_changes = true;
                rc = store_changes_open(dr->store, s->coll.coll.id, s->w, &s->cur);
            }
            if (rc != STORE_OK) {
                return rc;
            }
            continue;
        }
        if (rc != STORE_OK) {
            return rc;
        }
        *strip = !s->in_changes;
        if (*strip && (it->modseq > s->w || in_earlier_strip(s, it))) {
            continue;
        }
        return STORE_OK;
    }
}

/* A strip candidate (unchanged since W) against the old and the new bounds: "delete" when
 * it left the window, "new" when it entered (folded or "change" per a listed tag, §1.6),
 * NULL when its membership did not change. */
static const char *classify_strip(struct search *s, struct row *r, bool *failed)
{
    int now = search_matches(r);
    repl_where_set_bounds(s->where, s->old_bounds, s->nbounds);
    int before = search_matches(r);
    repl_where_set_bounds(s->where, s->bounds, s->nbounds);
    if (now < 0 || before < 0) {
        *failed = true;
        return NULL;
    }
    if (now == before) {
        return NULL;
    }
    uint64_t listed = 0;
    bool is_listed = repl_tagset_get(s->tags, r->it->id, &listed);
    if (before) {
        return is_listed ? NULL : "delete"; /* §1.6: a listed item outside the query: no row */
    }
    if (is_listed) {
        return listed == r->it->modseq ? NULL : "change";
    }
    return "new";
}

/* §3.9: the changetype of a manifest candidate, or NULL when it makes no row; -1 in *failed
 * when the row's values could not be read. */
static const char *classify(struct search *s, struct row *r, bool *failed)
{
    const struct store_item *c = r->it;
    uint64_t listed = 0;
    bool is_listed = repl_tagset_get(s->tags, c->id, &listed);
    if (c->is_tombstone) {
        if (s->initial || (c->created_modseq > s->w && !is_listed)) {
            return NULL; /* the client never saw it */
        }
        return "delete";
    }
    int m = search_matches(r);
    if (m < 0) {
        *failed = true;
        return NULL;
    }
    if (!m) {
        /* live but outside the query: it may have matched before */
        if (s->initial || is_listed || c->created_modseq > s->w) {
            return NULL;
        }
        return "delete";
    }
    if (is_listed && listed == c->modseq) {
        return NULL; /* folded: the client holds this state */
    }
    if (is_listed) {
        return "change";
    }
    return s->initial || c->created_modseq > s->w ? "new" : "change";
}

/* The next row of a manifest from the change cursor, within the range: 1 written, 0 at the
 * end, -1 failed. */
int search_next_manifest_row(struct search *s, struct buf *out)
{
    struct dav_req *dr = s->dr;
    for (;;) {
        if (s->range_none || (s->ranged && s->pos > s->last)) {
            return 0;
        }
        struct store_item it;
        bool strip = false;
        enum store_rc rc = candidates_next(s, &it, &strip);
        if (rc == STORE_NOTFOUND) {
            return 0;
        }
        if (rc != STORE_OK) {
            return -1;
        }
        struct arena_mark m = arena_mark(dr->arena);
        struct row r;
        search_row_init(&r, s, &it);
        bool failed = false;
        r.changetype = strip ? classify_strip(s, &r, &failed) : classify(s, &r, &failed);
        int w = failed ? -1 : 1;
        bool emit = r.changetype && (!s->ranged || s->pos >= s->first);
        if (r.changetype) {
            s->pos++;
        }
        if (emit) {
            bool deleted = it.is_tombstone || strcmp(r.changetype, "delete") == 0;
            w = search_write_row(&r, deleted, out) == 0 ? 1 : -1;
        }
        arena_rewind(dr->arena, m);
        if (w < 0 || emit) {
            return w;
        }
    }
}

/* One pass over the manifest (same snapshot, same tags): counts its rows into *count and,
 * when row number `stop_at` exists, stops there with its modseq in *modseq_at. */
static int scan_manifest(
    struct search *s, uint64_t stop_at, uint64_t *count, uint64_t *modseq_at, struct err *err)
{
    struct dav_req *dr = s->dr;
    *count = 0;
    enum store_rc rc = candidates_open(s);
    if (rc != STORE_OK) {
        return dav_store_err(dr, rc, err);
    }
    for (;;) {
        struct store_item it;
        bool strip = false;
        rc = candidates_next(s, &it, &strip);
        if (rc == STORE_NOTFOUND) {
            return 0;
        }
        if (rc != STORE_OK) {
            return dav_store_err(dr, rc, err);
        }
        struct arena_mark m = arena_mark(dr->arena);
        struct row r;
        search_row_init(&r, s, &it);
        bool failed = false;
        bool is_row = (strip ? classify_strip(s, &r, &failed) : classify(s, &r, &failed)) != NULL;
        arena_rewind(dr->arena, m);
        if (failed) {
            return dav_store_err(dr, STORE_IO, err);
        }
        if (is_row && *count == stop_at) {
            *modseq_at = it.modseq;
            return 0;
        }
        *count += is_row;
    }
}

/* §3.6 on a manifest: the rows first..last (relative to the collblob's watermark), the
 * collblob that covers exactly what is returned (nb), and Content-Range in the client's
 * numbering (from the collblob's page hint when it continues from there). No watermark ever
 * passes a row the client did not receive. */
static int
manifest_range(struct search *s, const struct range *r, struct repl_collblob *nb, struct err *err)
{
    struct dav_req *dr = s->dr;
    uint64_t hint = !s->initial && (s->in_blob.flags & REPL_COLLBLOB_PARTIAL) ? s->in_blob.page : 0;
    uint64_t base = !r->suffix && hint && r->a == hint ? hint : 0;
    uint64_t n = 0;
    uint64_t unused = 0;
    if (!s->empty && scan_manifest(s, UINT64_MAX, &n, &unused, err) != 0) {
        return -1;
    }
    bool keep_input = false;
    s->ranged = true;
    s->range_none = n == 0 || (r->suffix && r->b == 0); /* -0: fast-forward to S (§3.5) */
    if (r->suffix) {
        s->first = n > r->b ? n - r->b : 0;
        keep_input = s->first > 0;
    } else {
        if (n > 0 && r->a - base >= n) {
            http_resp_error_header(
                dr->http, "Content-Range",
                arena_printf(dr->arena, "total=%llu", (unsigned long long)(base + n)));
            return err_set(err, &repl_cond_range_not_satisfiable,
                           "Range starts at row %llu of %llu", (unsigned long long)r->a,
                           (unsigned long long)(base + n));
        }
        s->first = r->a - base;
        keep_input = base == 0 && r->a > 0; /* offsets over a changing collection */
    }
    s->last = r->suffix || r->open || r->b - base >= n ? n - 1 : r->b - base;
    if (s->slide && !s->range_none && (s->first != 0 || s->last + 1 < n)) {
        /* docs/replication.md: a slide is answered whole (its strip rows have no place in
         * change order, so no partial collblob could cover them) */
        return err_set(err, &repl_cond_invalid_collblob,
                       "invalid collblob (query-mismatch): this Range would cut the sliding "
                       "window's %llu rows; start over with an empty collblob, or send the "
                       "SEARCH without Range",
                       (unsigned long long)n);
    }
    if (s->range_none) {
        http_resp_header(dr->http, "Content-Range",
                         arena_printf(dr->arena, "total=%llu", (unsigned long long)(base + n)));
        return 0;
    }
    http_resp_header(
        dr->http, "Content-Range",
        arena_printf(dr->arena, "rows %llu-%llu; total=%llu", (unsigned long long)(base + s->first),
                     (unsigned long long)(base + s->last), (unsigned long long)(base + n)));
    if (keep_input) {
        nb->watermark = s->initial ? 0 : s->w; /* the input state, no advance, no hint */
    } else if (s->last + 1 < n) {
        uint64_t next_modseq = 0;
        uint64_t seen = 0;
        if (scan_manifest(s, s->last + 1, &seen, &next_modseq, err) != 0) {
            return -1;
        }
        nb->watermark = next_modseq - 1;
        nb->flags = REPL_COLLBLOB_PARTIAL;
        nb->page = (uint32_t)(base + s->last + 1);
    }
    return 0;
}

int search_replication(struct search *s, struct err *err)
{
    struct dav_req *dr = s->dr;
    if (s->q.depth == REPL_DEPTH_HIERARCHICAL) {
        return err_set(err, &repl_cond_sql_unsupported,
                       "hierarchical traversal in a replication SEARCH");
    }
    if (s->coll.coll.kind != STORE_COLL_CALENDAR) {
        return err_set(err, &repl_cond_sql_unsupported,
                       "a replication SEARCH needs a calendar as its scope");
    }
    struct range r;
    if (search_parse_range(http_req_header(dr->http, "Range"), &r, err) != 0) {
        return -1;
    }
    s->nbounds = repl_where_bounds(s->where, s->bounds, REPL_WHERE_MAX_BOUNDS);
    if (s->nbounds > REPL_WHERE_MAX_BOUNDS) {
        s->nbounds = 0; /* too many bounds to carry: a version 1 collblob, never a slide */
    }
    uint8_t key[REPL_KEY_BYTES];
    collblob_key(dr, key);
    s->initial = s->collblob == NULL;
    if (!s->initial && check_collblob(s, key, err) != 0) {
        sec_memzero(key, sizeof(key));
        return -1;
    }
    s->s = s->coll.coll.modseq;
    s->empty = !s->initial && s->s == s->w && !s->slide;
    struct repl_collblob nb = {
        .principal = s->principal,
        .coll = s->coll.coll.id,
        .epoch = s->coll.coll.epoch,
        .watermark = s->s,
        .nbounds = (uint8_t)s->nbounds,
    };
    memcpy(nb.bounds, s->bounds, s->nbounds * sizeof(int64_t));
    if (query_hash(s, s->nbounds > 0, nb.query_hash) != 0) {
        sec_memzero(key, sizeof(key));
        return err_set(err, &repl_cond_sql_unsupported, "query too long to hash");
    }
    if (r.set && manifest_range(s, &r, &nb, err) != 0) {
        sec_memzero(key, sizeof(key));
        return -1;
    }
    char *blob = arena_alloc(dr->arena, REPL_COLLBLOB_B64 + 1);
    repl_collblob_encode(&nb, key, blob);
    s->new_blob = blob;
    sec_memzero(key, sizeof(key));
    enum store_rc rc = candidates_open(s);
    return rc == STORE_OK ? 0 : dav_store_err(dr, rc, err);
}
