/* dav/dav.c: the WebDAV route: per-request state, the method table, body dispatch (XML to the
 * streaming reader, PUT bodies to a bounded buffer), path resolution against the store,
 * conditional requests and <D:error> bodies. Never touches SQL; method logic lives in one
 * file per method.
 * One-way order: dav.c -> ifheader.c (the If header's grammar, dav_if_eval): dav_if_check
 * here answers its conditions (Resource-Tags resolved, state tokens asked of the extensions,
 * entity tags against the resource's ETag); ifheader.c uses nothing of this file. */
#include "dav/dav.h"

#include <string.h>

#include "dav/dav_int.h"
#include "dav/ext.h"
#include "dav/ifheader.h"
#include "util/log.h"
#include "util/sec.h"
#include "xml/xmlout.h"

/* Seconds a 503 (store busy or failed, no connection, time budget) asks the client to wait,
 * as the ActiveSync route does. */
#define DAV_RETRY_AFTER "30"

static const struct dav_method *const methods[HTTP_M_COUNT] = {
    [HTTP_M_OPTIONS] = &dav_options,
    [HTTP_M_PROPFIND] = &dav_propfind,
    [HTTP_M_PROPPATCH] = &dav_proppatch,
    [HTTP_M_MKCOL] = &dav_mkcol,
    [HTTP_M_GET] = &dav_get,
    [HTTP_M_HEAD] = &dav_head,
    [HTTP_M_PUT] = &dav_put,
    [HTTP_M_DELETE] = &dav_delete,
    [HTTP_M_COPY] = &dav_copy,
    [HTTP_M_MOVE] = &dav_move,
};

/* ---------------------------------------------------------------------------------------- */
/* Store access */

size_t dav_row_limit(const struct dav_req *dr)
{
    return dr->core->app->limits.max_resource_size * 6 + (64u << 10);
}

/* The route's mapping of store results (store_req.h). */
static int map_store_err(const struct store_req *r, enum store_rc rc, struct err *err)
{
    switch (rc) {
    case STORE_OK:
        return 0;
    case STORE_NOTFOUND:
        return err_set(err, &dav_cond_not_found, "not found");
    case STORE_EXISTS:
        return err_set(err, &dav_cond_method_not_allowed, "a resource of that name exists");
    case STORE_CONFLICT:
        return err_set(err, &dav_cond_store_conflict, "conflict: %s", store_req_last_error(r));
    case STORE_BUSY:
        return err_set(err, &dav_cond_busy, "store busy, retry");
    case STORE_LIMIT:
        return err_set(err, &dav_cond_forbidden, "name too long");
    case STORE_UNAVAILABLE:
        /* The database server went away (PostgreSQL restarted): a 503 the client retries
         * while the pool reconnects; the detail is in the log (the engine logs it). */
        return err_set(err, &err_cond_store_unavailable,
                       "the store's database cannot be reached now; retry later");
    case STORE_IO:
        break;
    }
    /* I/O, a full disk, a failed fsync: the server's trouble and maybe a passing one, so a
     * 503 the client retries (issue #14), never a 500; the detail goes to the log only. */
    return err_set(err, &dav_cond_store_failed, "store: %s", store_req_last_error(r));
}

struct store *dav_store(struct dav_req *dr)
{
    return store_req_store(&dr->core->sr);
}

/* Maps a store result to a condition; STORE_OK returns 0. */
int dav_store_err(struct dav_req *dr, enum store_rc rc, struct err *err)
{
    return map_store_err(&dr->core->sr, rc, err);
}

int dav_begin_read(struct dav_req *dr, struct err *err)
{
    return store_req_begin_read(&dr->core->sr, err);
}

int dav_begin_write(struct dav_req *dr, struct err *err)
{
    return store_req_begin_write(&dr->core->sr, err);
}

int dav_commit(struct dav_req *dr, struct err *err)
{
    return store_req_commit(&dr->core->sr, err);
}

/* ---------------------------------------------------------------------------------------- */
/* Paths and resources */

const char *dav_child_href(struct arena *a, const char *parent_href, const char *name, bool coll)
{
    /* Straight into the arena (a Depth-1 PROPFIND makes one per row, issue 16): room for
     * every byte of the name percent-encoded, the rest given back by the row's rewind. */
    size_t plen = strlen(parent_href);
    struct slice seg = slice_from_cstr(name);
    char *r = arena_alloc(a, plen + 3 * seg.len + 2);
    memcpy(r, parent_href, plen);
    size_t n = plen + http_path_encode_segment_to(r + plen, seg);
    if (coll) {
        r[n++] = '/';
    }
    if (n > BUF_LIMIT_HREF * 2) {
        return arena_strdup(a, parent_href);
    }
    r[n] = '\0';
    return r;
}

bool dav_child_href_is_plain(bool parent_plain, const char *name)
{
    return parent_plain && !strchr(name, '&');
}

/* Splits a decoded path into segments in the arena; returns the count or -1 if too deep. */
static int split_path(struct arena *a, const char *path, const char **segs, int max)
{
    int n = 0;
    const char *p = path;
    while (*p) {
        while (*p == '/') {
            p++;
        }
        if (!*p) {
            break;
        }
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (n == max) {
            return -1;
        }
        segs[n++] = arena_strndup(a, p, len);
        p += len;
    }
    return n;
}

/* Member `name` of the authenticated principal's home `home` (resolved so far) as a share:
 * STORE_OK with the owner's collection in *coll_out and home's share and access set;
 * STORE_NOTFOUND when no grant has that name. */
static enum store_rc resolve_share(struct dav_req *dr,
                                   const char *name,
                                   struct dav_res *home,
                                   struct store_coll *coll_out)
{
    struct store_share sh;
    enum store_rc rc = store_share_lookup(dr->store, dr->principal, name, dr->arena, &sh);
    if (rc != STORE_OK) {
        return rc;
    }
    rc = store_coll_get(dr->store, sh.coll, dr->arena, coll_out);
    if (rc != STORE_OK) {
        return rc;
    }
    struct dav_share *share = arena_zalloc(dr->arena, sizeof(*share));
    share->coll = sh.coll;
    share->owner_id = sh.owner;
    share->owner = sh.owner_name;
    share->name = sh.name;
    share->href = dav_child_href(dr->arena, home->href, name, true);
    home->share = share;
    home->access = sh.access == STORE_SHARE_READ_WRITE ? DAV_ACCESS_READ_WRITE : DAV_ACCESS_READ;
    return STORE_OK;
}

struct owner_match {
    const char *owner;
    bool found;
};

static int match_owner(void *ctx, const struct store_share *sh)
{
    struct owner_match *m = ctx;
    m->found = strcmp(sh->owner_name, m->owner) == 0;
    return m->found ? 1 : 0;
}

/* /principals/<owner>/ for a user who holds a grant of `owner` (issue 12): a principal
 * resource of that user; for anyone else it stays foreign. */
static int
resolve_owner_principal(struct dav_req *dr, const char *owner, struct dav_res *out, struct err *err)
{
    struct store_principal p;
    enum store_rc rc = store_principal_get(dr->store, dr->user, dr->arena, &p);
    struct owner_match m = {owner, false};
    if (rc == STORE_OK) {
        rc = store_share_list_of_sharee(dr->store, p.id, match_owner, &m);
    }
    if (rc != STORE_OK && rc != STORE_NOTFOUND) {
        return dav_store_err(dr, rc, err);
    }
    if (m.found) {
        out->foreign = false;
        out->kind = DAV_RES_PRINCIPAL;
        out->user = owner;
        out->href = dav_child_href(dr->arena, "/principals/", owner, true);
    }
    return 0;
}

/* Resolves `path` (decoded, normalised) inside the current transaction. A path in another
 * user's tree resolves to DAV_RES_NONE with no parent, exactly like a missing one. */
int dav_resolve(struct dav_req *dr, const char *path, struct dav_res *out, struct err *err)
{
    memset(out, 0, sizeof(*out));
    const char *segs[DAV_MAX_SEGMENTS + 2];
    int n = split_path(dr->arena, path, segs, DAV_MAX_SEGMENTS + 2);
    if (n < 0) {
        return err_set(err, &dav_cond_forbidden, "path deeper than %d segments", DAV_MAX_SEGMENTS);
    }
    out->href = "/";
    if (n == 0) {
        out->kind = DAV_RES_ROOT;
        return 0;
    }
    bool principals = strcmp(segs[0], "principals") == 0;
    /* /exchange/<user>/... is a second view of the same homes (exchange-replication.md) */
    bool exchange = strcmp(segs[0], "exchange") == 0;
    bool calendars = exchange || strcmp(segs[0], "calendars") == 0;
    if (!principals && !calendars) {
        out->kind = DAV_RES_NONE;
        out->name = segs[0];
        return 0;
    }
    out->href = principals ? "/principals/" : exchange ? "/exchange/" : "/calendars/";
    if (n == 1) {
        out->kind = principals ? DAV_RES_PRINCIPALS : DAV_RES_CALROOT;
        return 0;
    }
    out->kind = DAV_RES_NONE;
    out->name = segs[n - 1];
    if (strcmp(segs[1], dr->user) != 0) {
        out->foreign = true; /* someone else's tree: indistinguishable from nothing */
        if (principals && n == 2) {
            /* ... but the principal of an owner who shares a calendar with the user, so a
             * client can show whose it is (DAV:owner names it) */
            return resolve_owner_principal(dr, segs[1], out, err);
        }
        return 0;
    }
    out->user = dr->user;
    out->href = dav_child_href(dr->arena, out->href, segs[1], true);
    if (principals) {
        if (n == 2) {
            out->kind = DAV_RES_PRINCIPAL;
        }
        return 0;
    }
    out->in_home = true;
    /* the walk below in one round trip where lookups cost one each (PostgreSQL) */
    enum store_rc rc =
        n <= 4 ? store_path_prefetch(dr->store, dr->user, segs + 2, (size_t)(n - 2)) : STORE_OK;
    if (rc != STORE_OK) {
        return dav_store_err(dr, rc, err);
    }
    struct store_principal p;
    rc = store_principal_get(dr->store, dr->user, dr->arena, &p);
    if (rc == STORE_NOTFOUND) {
        return 0;
    }
    if (rc != STORE_OK) {
        return dav_store_err(dr, rc, err);
    }
    dr->principal = p.id;
    rc = store_coll_get(dr->store, p.home_id, dr->arena, &out->coll);
    if (rc != STORE_OK) {
        return dav_store_err(dr, rc, err);
    }
    out->kind = DAV_RES_COLL;
    out->access = DAV_ACCESS_OWNER;
    for (int i = 2; i < n; i++) {
        struct store_coll child;
        rc = store_coll_lookup(dr->store, out->coll.id, segs[i], dr->arena, &child);
        if (rc == STORE_NOTFOUND && i == 2) {
            /* a member of the home that is a share maps to the owner's collection */
            rc = resolve_share(dr, segs[i], out, &child);
        }
        if (rc == STORE_OK) {
            out->parent_href = out->href;
            out->href = dav_child_href(dr->arena, out->href, segs[i], true);
            out->coll = child;
            continue;
        }
        if (rc != STORE_NOTFOUND) {
            return dav_store_err(dr, rc, err);
        }
        out->parent_href = out->href;
        if (i < n - 1) {
            out->kind = DAV_RES_NONE; /* an intermediate segment is missing */
            out->has_parent = false;
            return 0;
        }
        out->has_parent = true;
        rc = store_item_get(dr->store, out->coll.id, segs[i], STORE_ITEM_META, dr->arena,
                            &out->item);
        if (rc == STORE_OK) {
            out->kind = DAV_RES_ITEM;
            out->href = dav_child_href(dr->arena, out->href, segs[i], false);
            return 0;
        }
        if (rc != STORE_NOTFOUND) {
            return dav_store_err(dr, rc, err);
        }
        out->kind = DAV_RES_NONE;
        out->href =
            dav_child_href(dr->arena, out->parent_href, segs[i], http_req_trailing_slash(dr->http));
        return 0;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Access (issue 12) */

int dav_need_privileges(struct dav_req *dr,
                        const char *href,
                        const char *privilege,
                        struct err *err)
{
    err_replace(err, &dav_cond_need_privileges, "DAV:%s is not granted on %s", privilege, href);
    err->href = href;
    dr->core->need_priv = privilege;
    return -1;
}

int dav_check_write(struct dav_req *dr,
                    const struct store_coll *coll,
                    const char *href,
                    enum dav_write_op op,
                    struct err *err)
{
    for (size_t e = 0; e < dr->core->app->next; e++) {
        const struct dav_ext *ext = dr->core->app->ext[e];
        if (ext->check_write) {
            const char *privilege = "write";
            int rc = ext->check_write(dr, coll, op, &privilege, err);
            if (rc == 1) {
                return dav_need_privileges(dr, href, privilege, err);
            }
            return rc;
        }
    }
    /* no extension knows the rule: the owner alone writes */
    return coll->owner == dr->principal ? 0 : dav_need_privileges(dr, href, "write", err);
}

/* ---------------------------------------------------------------------------------------- */
/* Members of a collection: children and, in the principal's home, shares */

struct share_list {
    struct dav_req *dr;
    const struct dav_res *home;
    struct dav_res *v;
    size_t n;
    size_t cap;
    enum store_rc rc;
};

static int add_share(void *ctx, const struct store_share *sh)
{
    struct share_list *l = ctx;
    struct dav_req *dr = l->dr;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        struct dav_res *v = arena_alloc(dr->arena, cap * sizeof(*v));
        if (l->n) {
            memcpy(v, l->v, l->n * sizeof(*v));
        }
        l->v = v;
        l->cap = cap;
    }
    struct dav_res *r = &l->v[l->n];
    memset(r, 0, sizeof(*r));
    struct dav_share *share = arena_zalloc(dr->arena, sizeof(*share));
    share->coll = sh->coll;
    share->owner_id = sh->owner;
    share->owner = arena_strdup(dr->arena, sh->owner_name);
    share->name = arena_strdup(dr->arena, sh->name);
    share->href = dav_child_href(dr->arena, l->home->href, share->name, true);
    r->kind = DAV_RES_COLL;
    r->user = dr->user;
    r->in_home = true;
    r->name = share->name;
    r->href = share->href;
    r->parent_href = l->home->href;
    r->share = share;
    r->access = sh->access == STORE_SHARE_READ_WRITE ? DAV_ACCESS_READ_WRITE : DAV_ACCESS_READ;
    l->n++;
    return 0;
}

int dav_members_open(struct dav_req *dr,
                     const struct dav_res *parent,
                     struct dav_members *m,
                     struct err *err)
{
    memset(m, 0, sizeof(*m));
    m->dr = dr;
    m->parent = parent;
    buf_init(&m->held_name, BUF_LIMIT_HREF);
    if (parent->coll.kind == STORE_COLL_HOME && !parent->share && parent->in_home &&
        parent->coll.owner == dr->principal) {
        struct share_list l = {.dr = dr, .home = parent};
        enum store_rc rc = store_share_list_of_sharee(dr->store, dr->principal, add_share, &l);
        for (size_t i = 0; rc == STORE_OK && i < l.n; i++) {
            /* the collection itself (strings in the arena: it lives across the cursor) */
            rc = store_coll_get(dr->store, l.v[i].share->coll, dr->arena, &l.v[i].coll);
        }
        if (rc != STORE_OK) {
            dav_members_close(m);
            return dav_store_err(dr, rc, err);
        }
        m->shares = l.v;
        m->nshares = l.n;
    }
    enum store_rc rc = store_children_open(dr->store, parent->coll.id, &m->cur);
    if (rc != STORE_OK) {
        dav_members_close(m);
        return dav_store_err(dr, rc, err);
    }
    return 0;
}

int dav_members_next(struct dav_members *m, struct dav_res *out)
{
    struct dav_req *dr = m->dr;
    if (!m->has_held && !m->cur_done) {
        enum store_rc rc = store_cursor_next_coll(m->cur, &m->held);
        if (rc == STORE_NOTFOUND) {
            m->cur_done = true;
        } else if (rc != STORE_OK) {
            return -1;
        } else {
            /* the row's strings live until the next step: keep the name the merge compares */
            buf_reset(&m->held_name);
            if (buf_append_cstr(&m->held_name, m->held.name) != 0) {
                return -1;
            }
            m->held.name = buf_cstr(&m->held_name);
            m->has_held = true;
        }
    }
    bool share_next = m->next_share < m->nshares &&
                      (!m->has_held || strcmp(m->shares[m->next_share].name, m->held.name) < 0);
    if (share_next) {
        *out = m->shares[m->next_share++];
        return 1;
    }
    if (!m->has_held) {
        return 0;
    }
    m->has_held = false;
    memset(out, 0, sizeof(*out));
    out->kind = DAV_RES_COLL;
    out->user = dr->user;
    out->in_home = true;
    out->coll = m->held;
    out->coll.name = arena_strdup(dr->arena, m->held.name);
    out->name = out->coll.name;
    out->href = dav_child_href(dr->arena, m->parent->href, out->name, true);
    out->parent_href = m->parent->href;
    out->access = m->parent->access;
    out->share = m->parent->share;
    return 1;
}

void dav_members_close(struct dav_members *m)
{
    store_cursor_close(&m->cur);
    buf_deinit(&m->held_name);
}

/* Depth header (RFC 4918 §10.2): 0, 1 or infinity; absent gives `dflt`. -1 means infinity. */
int dav_depth(struct dav_req *dr, int dflt, int *depth_out, struct err *err)
{
    const char *d = http_req_header(dr->http, "Depth");
    if (!d) {
        *depth_out = dflt;
        return 0;
    }
    struct slice s = slice_trim(slice_from_cstr(d));
    if (slice_eq(s, SLICE_LIT("0"))) {
        *depth_out = 0;
    } else if (slice_eq(s, SLICE_LIT("1"))) {
        *depth_out = 1;
    } else if (slice_eq_ci(s, SLICE_LIT("infinity"))) {
        *depth_out = -1;
    } else {
        return err_set(err, &dav_cond_bad_depth, "bad Depth header");
    }
    return 0;
}

/* exchange-replication.md §1.2: hex(change GUID || modseq48), quoted, into out (DAV_ETAG_LEN
 * bytes, no NUL). Not sec_hex(): an ETag is no secret, so a table lookup per nibble rather
 * than libsodium's constant-time encoder, which cost a Depth-1 PROPFIND 5% (issue 16). */
void dav_etag_format(char out[DAV_ETAG_LEN], const struct store_coll *c, uint64_t modseq)
{
    /* the two digits of each byte value, one copy per byte */
#define H4(h) \
  h "0" h "1" h "2" h "3" h "4" h "5" h "6" h "7" h "8" h "9" h "a" h "b" h "c" h "d" h "e" h "f"
    static const char pairs[] = H4("0") H4("1") H4("2") H4("3") H4("4") H4("5") H4("6") H4("7")
        H4("8") H4("9") H4("a") H4("b") H4("c") H4("d") H4("e") H4("f");
#undef H4

    /* The GUID's hex is the same for every row of a listing: this thread keeps the last
     * one it wrote (22 pairs per row were 7% of a Depth-1 PROPFIND's instructions). */
    static _Thread_local struct {
        bool set;
        unsigned char guid[STORE_GUID_BYTES];
        char hex[2 * STORE_GUID_BYTES];
    } last;

    if (!last.set || memcmp(last.guid, c->change_guid, STORE_GUID_BYTES) != 0) {
        for (size_t i = 0; i < STORE_GUID_BYTES; i++) {
            memcpy(last.hex + 2 * i, pairs + 2 * c->change_guid[i], 2);
        }
        memcpy(last.guid, c->change_guid, STORE_GUID_BYTES);
        last.set = true;
    }
    out[0] = '"';
    char *o = out + 1;
    memcpy(o, last.hex, sizeof(last.hex));
    o += sizeof(last.hex);
    for (int i = 5; i >= 0; i--, o += 2) {
        memcpy(o, pairs + 2 * (uint8_t)(modseq >> (8 * i)), 2);
    }
    *o = '"';
}

const char *dav_etag(struct arena *a, const struct store_coll *c, uint64_t modseq)
{
    char *etag = arena_alloc(a, DAV_ETAG_LEN + 1);
    dav_etag_format(etag, c, modseq);
    etag[DAV_ETAG_LEN] = '\0';
    return etag;
}

int dav_etag_append(struct buf *out, const struct store_coll *c, uint64_t modseq)
{
    char etag[DAV_ETAG_LEN];
    dav_etag_format(etag, c, modseq);
    return buf_append(out, etag, sizeof(etag));
}

/* True when the list header value `h` (comma-separated entity tags or "*") matches `etag`.
 * Weak tags (W/) never match: these are strong comparisons (RFC 9110 §8.8.3.2). */
static bool etag_list_matches(const char *h, const char *etag)
{
    struct slice rest = slice_from_cstr(h);
    while (rest.len > 0) {
        const char *comma = memchr(rest.ptr, ',', rest.len);
        size_t len = comma ? (size_t)(comma - rest.ptr) : rest.len;
        struct slice tag = slice_trim((struct slice){rest.ptr, len});
        if (slice_eq(tag, SLICE_LIT("*"))) {
            return etag != NULL;
        }
        if (etag && slice_eq(tag, slice_from_cstr(etag))) {
            return true;
        }
        rest.ptr += comma ? len + 1 : len;
        rest.len -= comma ? len + 1 : len;
    }
    return false;
}

/* ---------------------------------------------------------------------------------------- */
/* The If header's conditions against the store (the grammar is ifheader.c's) */

/* dav_if_check's answers: the lists apply to the request target until a Resource-Tag names
 * another resource (resolved into `tagged`). */
struct if_check {
    struct dav_req *dr;
    const struct dav_res *target; /* the resource the current lists apply to */
    const char *target_etag;      /* its current ETag, or NULL (collections, nothing there) */
    struct dav_res tagged;
};

static int check_tag(void *ctx, struct slice ref, struct err *err)
{
    struct if_check *c = ctx;
    const char *path = NULL;
    struct err e;
    err_init(&e);
    if (http_path_decode(ref, BUF_LIMIT_HREF, c->dr->arena, &path, NULL, &e) != 0) {
        return err_set(err, &dav_cond_bad_request, "malformed If header");
    }
    if (dav_resolve(c->dr, path, &c->tagged, err) != 0) {
        return -1;
    }
    c->target = &c->tagged;
    c->target_etag = c->tagged.kind == DAV_RES_ITEM
                         ? dav_etag(c->dr->arena, &c->tagged.coll, c->tagged.item.modseq)
                         : NULL;
    return 0;
}

/* A state token's truth for the current resource: the extensions decide; unknown tokens and
 * resources that do not exist are false. */
static bool check_token(void *ctx, struct slice token)
{
    struct if_check *c = ctx;
    if (c->target->kind == DAV_RES_NONE) {
        return false;
    }
    for (size_t e = 0; e < c->dr->core->app->next; e++) {
        if (c->dr->core->app->ext[e]->state_token) {
            int m = c->dr->core->app->ext[e]->state_token(c->dr, c->target, token);
            if (m >= 0) {
                return m == 1;
            }
        }
    }
    return false;
}

static bool check_etag(void *ctx, struct slice etag)
{
    struct if_check *c = ctx;
    return c->target_etag && slice_eq(etag, slice_from_cstr(c->target_etag));
}

static const struct dav_if_ops check_ops = {check_tag, check_token, check_etag};

int dav_if_check(struct dav_req *dr, const struct dav_res *res, const char *etag, struct err *err)
{
    const char *h = http_req_header(dr->http, "If");
    if (!h) {
        return 0;
    }
    struct if_check c = {.dr = dr, .target = res, .target_etag = etag};
    bool truth = false;
    if (dav_if_eval(slice_from_cstr(h), &check_ops, &c, &truth, err) != 0) {
        return -1;
    }
    if (!truth) {
        if (res->kind == DAV_RES_ITEM) {
            /* exchange-replication.md §2.1: the current state, so the client can refetch */
            if (etag) {
                http_resp_error_header(dr->http, "ETag", etag);
            }
            (void)dav_ext_item_headers(dr, &res->coll, res->item.id, res->item.modseq, false, true);
        }
        return err_set(err, &dav_cond_precondition_failed, "If header evaluates to false");
    }
    return 0;
}

int dav_if_check_target(struct dav_req *dr, const struct dav_res *res, struct err *err)
{
    if (!http_req_header(dr->http, "If")) {
        return 0;
    }
    const char *etag =
        res->kind == DAV_RES_ITEM ? dav_etag(dr->arena, &res->coll, res->item.modseq) : NULL;
    return dav_if_check(dr, res, etag, err);
}

int dav_check_preconditions(struct dav_req *dr,
                            const struct dav_res *res,
                            const char *etag,
                            struct err *err)
{
    if (dav_if_check(dr, res, etag && strcmp(etag, "*") != 0 ? etag : NULL, err) != 0) {
        return -1;
    }
    const char *im = http_req_header(dr->http, "If-Match");
    if (im && !etag_list_matches(im, etag)) {
        return err_set(err, &dav_cond_precondition_failed, "If-Match does not match");
    }
    const char *inm = http_req_header(dr->http, "If-None-Match");
    if (inm && etag_list_matches(inm, etag)) {
        enum http_method m = http_req_method(dr->http);
        if (m == HTTP_M_GET || m == HTTP_M_HEAD) {
            return err_set(err, &dav_cond_not_modified, "not modified");
        }
        return err_set(err, &dav_cond_precondition_failed, "If-None-Match matches");
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Bodies */

void dav_xml_body(struct dav_req *dr, const struct xmlin_handler *h, void *ctx)
{
    struct xmlin_limits lim = {
        .max_bytes = dr->core->app->limits.xml_max_body,
        .max_depth = dr->core->app->limits.xml_max_depth,
        .max_elements = dr->core->app->limits.xml_max_elements,
        .max_text = dr->core->app->limits.xml_max_text,
    };
    dr->core->xml = xmlin_create(&lim, h, ctx);
}

/* Completes the XML body. Returns 1 when there was no body at all, 0 when it parsed, -1. */
int dav_xml_finish(struct dav_req *dr, struct err *err)
{
    if (!dr->core->xml_seen) {
        return 1;
    }
    return xmlin_finish(dr->core->xml, err);
}

static void destroy_xml(void *p)
{
    struct dav_req *dr = p;
    xmlin_destroy(&dr->core->xml);
}

static void destroy_raw(void *p)
{
    struct dav_req *dr = p;
    buf_deinit(&dr->core->raw);
}

/* ---------------------------------------------------------------------------------------- */
/* Route hooks */

/* Prepares the body handling of dr->core->method (raw, none, or what its begin sets up) and
 * runs its begin. */
static int method_start(struct dav_req *dr, struct err *err)
{
    struct http_request *req = dr->http;
    if (dr->core->method->raw_body) {
        int64_t cl = http_req_content_length(req);
        if (cl > 0 && (uint64_t)cl > dr->core->app->limits.max_resource_size) {
            return err_set(err, &dav_cond_resource_too_large,
                           "body of %lld bytes exceeds max_resource_size=%zu", (long long)cl,
                           dr->core->app->limits.max_resource_size);
        }
        buf_init(&dr->core->raw, dr->core->app->limits.max_resource_size);
        arena_defer(dr->arena, destroy_raw, dr);
    }
    if (dr->core->method->no_body && http_req_content_length(req) > 0) {
        return err_set(err, &dav_cond_unsupported_media, "%s takes no body",
                       http_req_method_name(req));
    }
    if (dr->core->method->begin && dr->core->method->begin(dr, err) != 0) {
        return -1;
    }
    return 0;
}

int dav_use_method(struct dav_req *dr, const struct dav_method *m, struct err *err)
{
    dr->core->method = m;
    return method_start(dr, err);
}

static int route_begin(void *app, struct http_request *req, struct err *err)
{
    struct arena *a = http_req_arena(req);
    struct dav_req *dr = arena_zalloc(a, sizeof(*dr));
    dr->core = arena_zalloc(a, sizeof(*dr->core));
    dr->core->app = app;
    dr->http = req;
    dr->arena = a;
    dr->user = http_req_user(req);
    dr->limits = &dr->core->app->limits;
    store_req_init(&dr->core->sr, dr->core->app->pool, a, map_store_err, &dr->store);
    http_req_set_state(req, dr);
    enum http_method m = http_req_method(req);
    dr->core->method = methods[m];
    for (size_t e = 0; e < dr->core->app->next; e++) {
        if (dr->core->app->ext[e]->methods[m]) {
            dr->core->method = dr->core->app->ext[e]->methods[m];
            break;
        }
    }
    if (!dr->core->method) {
        if (m == HTTP_M_LOCK || m == HTTP_M_UNLOCK || m == HTTP_M_POST || m == HTTP_M_REPORT ||
            m == HTTP_M_SEARCH || m == HTTP_M_MKCALENDAR) {
            return err_set(err, &dav_cond_method_not_allowed, "%s is not supported here",
                           http_req_method_name(req));
        }
        return err_set(err, &dav_cond_not_implemented, "unknown method");
    }
    if (method_start(dr, err) != 0) {
        return -1;
    }
    if (dr->core->xml) {
        arena_defer(a, destroy_xml, dr);
        int64_t cl = http_req_content_length(req);
        if (cl > 0 && (uint64_t)cl > dr->core->app->limits.xml_max_body) {
            return err_set(err, &xml_cond_too_large, "body of %lld bytes exceeds xml_max_body=%zu",
                           (long long)cl, dr->core->app->limits.xml_max_body);
        }
    }
    return 0;
}

static int route_body(void *app, struct http_request *req, const char *p, size_t n, struct err *err)
{
    (void)app;
    struct dav_req *dr = http_req_state(req);
    if (dr->core->method->no_body) {
        return err_set(err, &dav_cond_unsupported_media, "%s takes no body",
                       http_req_method_name(req));
    }
    if (dr->core->method->raw_body) {
        if (buf_append(&dr->core->raw, p, n) != 0) {
            return err_set(err, &dav_cond_resource_too_large, "body exceeds max_resource_size=%zu",
                           dr->core->app->limits.max_resource_size);
        }
        return 0;
    }
    if (dr->core->xml) {
        dr->core->xml_seen = true;
        return xmlin_feed(dr->core->xml, p, n, err);
    }
    /* a body on a method that ignores it (GET, DELETE...): read, but not without end */
    dr->core->ignored_body += n;
    if (dr->core->ignored_body > dr->core->app->limits.xml_max_body) {
        return err_set(err, &http_cond_body_too_large,
                       "an ignored body of more than xml_max_body=%zu bytes",
                       dr->core->app->limits.xml_max_body);
    }
    return 0;
}

static int route_end(void *app, struct http_request *req, struct err *err)
{
    (void)app;
    struct dav_req *dr = http_req_state(req);
    int rc = dr->core->method->run(dr, err);
    if (rc != 0 && dr->store) {
        store_rollback(dr->store);
    }
    return rc;
}

static void render_error(void *app, struct http_request *req, const struct err *e)
{
    (void)app;
    const struct err_cond *c = e->cond ? e->cond : &err_cond_internal;
    if (c->http_status == 304) {
        return; /* no body on 304 */
    }
    struct buf b;
    buf_init(&b, BUF_LIMIT_ERROR_BODY);
    int rc = xmlout_decl(&b);
    rc |= buf_append_cstr(&b, "<D:error" DAV_XMLNS ">");
    struct dav_req *dr = http_req_state(req);
    if (c->ns && strcmp(c->ns, DAV_NS) == 0 && strcmp(c->name, "need-privileges") == 0) {
        /* RFC 3744 §7.1.1: the resource and the privilege it needs */
        const char *priv = dr && dr->core->need_priv ? dr->core->need_priv : "write";
        rc |= buf_append_cstr(&b, "<D:need-privileges><D:resource><D:href>");
        rc |= xmlout_text(&b, slice_from_cstr(e->href ? e->href : http_req_path(req)));
        rc |= buf_appendf(&b,
                          "</D:href><D:privilege><D:%s/></D:privilege></D:resource>"
                          "</D:need-privileges>",
                          priv);
    } else if (c->ns && strcmp(c->ns, DAV_NS) == 0) {
        rc |= buf_appendf(&b, "<D:%s/>", c->name);
    } else if (c->ns) {
        rc |= buf_appendf(&b, "<P:%s xmlns:P=\"", c->name);
        rc |= xmlout_attr(&b, slice_from_cstr(c->ns));
        rc |= buf_append_cstr(&b, e->href ? "\">" : "\"/>");
        if (e->href) {
            rc |= buf_append_cstr(&b, "<D:href>");
            rc |= xmlout_text(&b, slice_from_cstr(e->href));
            rc |= buf_appendf(&b, "</D:href></P:%s>", c->name);
        }
    }
    rc |= buf_appendf(&b, "<A:reason>%s</A:reason><A:message>", c->name);
    bool hide = c->http_status == 500 || c == &dav_cond_store_failed; /* docs/errors.md */
    rc |= xmlout_text(&b, slice_from_cstr(hide ? "internal error" : e->msg));
    rc |= buf_appendf(&b, "</A:message><A:request-id>%llu</A:request-id></D:error>\n",
                      (unsigned long long)http_req_id(req));
    if (rc == 0) {
        http_resp_header(req, "Content-Type", "application/xml; charset=utf-8");
        if (c->http_status == 503) {
            http_resp_header(req, "Retry-After", DAV_RETRY_AFTER);
        }
        http_resp_body(req, b.data, b.len);
    }
    buf_deinit(&b);
}

enum store_rc dav_ext_item_headers(struct dav_req *dr,
                                   const struct store_coll *coll,
                                   uint64_t item_id,
                                   uint64_t modseq,
                                   bool deleted,
                                   bool error)
{
    enum store_rc rc = STORE_OK;
    for (size_t e = 0; e < dr->core->app->next; e++) {
        if (dr->core->app->ext[e]->item_headers) {
            enum store_rc r =
                dr->core->app->ext[e]->item_headers(dr, coll, item_id, modseq, deleted, error);
            rc = rc == STORE_OK ? r : rc;
        }
    }
    return rc;
}

struct buf *dav_req_body(struct dav_req *dr)
{
    return &dr->core->raw;
}

struct slice dav_req_put_body(struct dav_req *dr, const char **content_type_out)
{
    if (dr->core->put_offer.ptr) {
        *content_type_out = dr->core->put_offer_type;
        return dr->core->put_offer;
    }
    *content_type_out = http_req_header(dr->http, "Content-Type");
    return buf_slice(&dr->core->raw);
}

void dav_req_offer_put_body(struct dav_req *dr, struct slice text, const char *content_type)
{
    dr->core->put_offer = text;
    dr->core->put_offer_type = content_type;
}

/* The index of `ext` in the app's table, or DAV_MAX_EXT when it is not there. */
static size_t ext_index(const struct dav_req *dr, const struct dav_ext *ext)
{
    size_t e = 0;
    while (e < dr->core->app->next && dr->core->app->ext[e] != ext) {
        e++;
    }
    return e < dr->core->app->next ? e : DAV_MAX_EXT;
}

void *dav_ext_state(const struct dav_req *dr, const struct dav_ext *ext)
{
    size_t e = ext_index(dr, ext);
    return e < DAV_MAX_EXT ? dr->core->ext_state[e] : NULL;
}

void dav_ext_set_state(struct dav_req *dr, const struct dav_ext *ext, void *state)
{
    size_t e = ext_index(dr, ext);
    if (e < DAV_MAX_EXT) {
        dr->core->ext_state[e] = state;
    }
}

void dav_xml_answer(struct dav_req *dr, unsigned status, const struct buf *body)
{
    http_resp_status(dr->http, status);
    http_resp_header(dr->http, "Content-Type", "application/xml; charset=utf-8");
    http_resp_body(dr->http, buf_cstr(body), body->len);
}

struct http_route dav_route(const char *prefix, struct dav_app *app)
{
    struct http_route r = {
        .prefix = prefix,
        .app = app,
        .begin = route_begin,
        .body = route_body,
        .end = route_end,
        .render_error = render_error,
    };
    return r;
}
