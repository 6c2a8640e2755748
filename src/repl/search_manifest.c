/* repl/search_manifest.c: the replication SEARCH (exchange-replication.md §1.3, §3.5-3.6,
 * §3.9): the collblob (its key, the query hash, the checks of §1.3), the manifest from the
 * collection's change log (each candidate classified new/change/delete against the client's
 * watermark and tags) and its Range. Conditions: repl_cond_invalid_collblob (475),
 * repl_cond_range_not_satisfiable (416), repl_cond_sql_unsupported (422). */
#include <string.h>

#include "dav/ext.h"
#include "repl/search_int.h"
#include "repl/tokens.h"
#include "util/sec.h"

/* The canonical query of §1.3: collection, depth and the folded WHERE in normal form. */
static int query_hash(const struct search *s, uint8_t out[16])
{
    struct buf b;
    buf_init(&b, SEARCH_SQL_MAX * 2);
    int rc = buf_appendf(&b, "coll=%llu depth=%d where=", (unsigned long long)s->coll.coll.id,
                         (int)s->q.depth);
    rc |= repl_where_print(s->where, &b);
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

/* §1.3: the checks in order; the first failure is 475 with its reason. */
static int check_collblob(struct search *s, const uint8_t key[REPL_KEY_BYTES], struct err *err)
{
    const char *reason = NULL;
    struct repl_collblob b;
    uint8_t qh[16];
    if (query_hash(s, qh) != 0) {
        return err_set(err, &repl_cond_sql_unsupported, "query too long to hash");
    }
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
    } else if (memcmp(b.query_hash, qh, 16) != 0) {
        reason = "query-mismatch";
    }
    if (reason) {
        return err_set(err, &repl_cond_invalid_collblob,
                       "invalid collblob (%s): start over with an empty collblob", reason);
    }
    s->w = b.watermark;
    s->in_blob = b;
    return 0;
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
        enum store_rc rc = store_cursor_next_item(s->cur, &it);
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
        r.changetype = classify(s, &r, &failed);
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
    store_cursor_close(&s->cur);
    enum store_rc rc = store_changes_open(dr->store, s->coll.coll.id, s->w, &s->cur);
    if (rc != STORE_OK) {
        return dav_store_err(dr, rc, err);
    }
    for (;;) {
        struct store_item it;
        rc = store_cursor_next_item(s->cur, &it);
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
        bool is_row = classify(s, &r, &failed) != NULL;
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
    uint8_t key[REPL_KEY_BYTES];
    collblob_key(dr, key);
    s->initial = s->collblob == NULL;
    if (!s->initial && check_collblob(s, key, err) != 0) {
        sec_memzero(key, sizeof(key));
        return -1;
    }
    s->s = s->coll.coll.modseq;
    s->empty = !s->initial && s->s == s->w;
    struct repl_collblob nb = {
        .principal = s->principal,
        .coll = s->coll.coll.id,
        .epoch = s->coll.coll.epoch,
        .watermark = s->s,
    };
    if (query_hash(s, nb.query_hash) != 0) {
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
    store_cursor_close(&s->cur);
    enum store_rc rc = store_changes_open(dr->store, s->coll.coll.id, s->w, &s->cur);
    return rc == STORE_OK ? 0 : dav_store_err(dr, rc, err);
}
