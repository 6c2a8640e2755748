/* caldav/share.c: Apple's calendar sharing (CalendarServer's caldav-sharing draft, what macOS
 * and iOS use to share from the client) over the grants of issue 12: the properties that
 * describe a shared calendar (CS:invite, CS:allowed-sharing-modes, CS:shared-url) and POST
 * with a CS:share body on the owner's calendar, which grants, changes and revokes through
 * store_share_set/del, or a CS:invite-reply on the sharee's home. Invitations are accepted
 * at once (a grant is a member of the sharee's home as soon as it exists): an accepting
 * invite-reply answers where the calendar is, a declining one revokes the sharee's grant.
 * A sharee is named by a principal URL (/principals/<user>/, absolute or not) or by
 * mailto:<user>@<any domain>, whose local part is the user name (Almanac keeps no mail
 * addresses; docs/sharing.md).
 * Conditions: caldav_cond_valid_share (403: a CS:share naming no other user of this server,
 * an invite-reply naming no grant of the requester), dav_cond_need_privileges (403
 * DAV:write-acl: only the owner shares), dav_cond_not_found (404), dav_cond_forbidden (403:
 * not a calendar), dav_cond_bad_request (400: not one of the two bodies),
 * dav_cond_unsupported_media (415: not XML). */
#include <string.h>

#include "caldav/caldav.h"
#include "caldav/caldav_int.h"
#include "sched/sched.h"
#include "xml/xmlin.h"
#include "xml/xmlout.h"

/* ---------------------------------------------------------------------------------------- */
/* Properties */

static bool is_calendar(const struct dav_res *r)
{
    return r->kind == DAV_RES_COLL && r->coll.kind == STORE_COLL_CALENDAR;
}

/* The share itself as its sharee sees it (not a collection below it). */
static bool is_share_root(const struct dav_res *r)
{
    return r->kind == DAV_RES_COLL && r->share && r->share->coll == r->coll.id;
}

static int principal_href(struct dav_req *dr, struct buf *out, const char *user)
{
    int rc = buf_append_cstr(out, "<D:href>");
    rc |= xmlout_text(out, slice_from_cstr(dav_child_href(dr->arena, "/principals/", user, true)));
    rc |= buf_append_cstr(out, "</D:href><CS:common-name>");
    rc |= xmlout_text(out, slice_from_cstr(user));
    rc |= buf_append_cstr(out, "</CS:common-name>");
    return rc;
}

static int invite_user(struct dav_req *dr, struct buf *out, const char *user, bool rw)
{
    int rc = buf_append_cstr(out, "<CS:user>");
    rc |= principal_href(dr, out, user);
    rc |= buf_append_cstr(out, "<CS:invite-accepted/><CS:access>");
    rc |= buf_append_cstr(out, rw ? "<CS:read-write/>" : "<CS:read/>");
    rc |= buf_append_cstr(out, "</CS:access></CS:user>");
    return rc;
}

struct invite_ctx {
    struct dav_req *dr;
    struct buf *out;
    size_t n;
    int rc;
};

static int invite_row(void *ctx, const struct store_share *sh)
{
    struct invite_ctx *c = ctx;
    c->rc |= invite_user(c->dr, c->out, sh->sharee_name, sh->access == STORE_SHARE_READ_WRITE);
    c->n++;
    return 0;
}

/* CS:invite: the owner sees every sharee of a shared calendar (none: not shared, the
 * property is absent); a sharee the owner and their own entry. */
int caldav_get_invite(struct dav_req *dr, const struct dav_res *r, struct buf *out)
{
    if (!is_calendar(r)) {
        return 1;
    }
    if (r->access == DAV_ACCESS_OWNER && !r->share) {
        size_t mark = out->len;
        int rc = buf_append_cstr(out, "<CS:organizer>");
        rc |= principal_href(dr, out, dr->user);
        rc |= buf_append_cstr(out, "</CS:organizer>");
        struct invite_ctx c = {dr, out, 0, 0};
        if (rc != 0 ||
            store_share_list_of_coll(dr->store, r->coll.id, invite_row, &c) != STORE_OK ||
            c.rc != 0) {
            return -1;
        }
        if (c.n == 0) {
            out->len = mark;
            out->data[mark] = '\0';
            return 1;
        }
        return 0;
    }
    if (!is_share_root(r)) {
        return 1;
    }
    int rc = buf_append_cstr(out, "<CS:organizer>");
    rc |= principal_href(dr, out, r->share->owner);
    rc |= buf_append_cstr(out, "</CS:organizer>");
    rc |= invite_user(dr, out, dr->user, r->access == DAV_ACCESS_READ_WRITE);
    return rc == 0 ? 0 : -1;
}

/* CS:allowed-sharing-modes: the owner's calendars can be shared (not published). */
int caldav_get_allowed_sharing_modes(struct dav_req *dr, const struct dav_res *r, struct buf *out)
{
    (void)dr;
    if (!is_calendar(r) || r->access != DAV_ACCESS_OWNER || r->share) {
        return 1;
    }
    return buf_append_cstr(out, "<CS:can-be-shared/>") == 0 ? 0 : -1;
}

/* The URL of `coll` in its owner's tree, /calendars/<owner>/<name>/ (its parents walked up
 * to the home for a calendar below a plain collection), in the arena; NULL when the store
 * failed. */
static const char *owner_url(struct dav_req *dr, const struct store_coll *coll, const char *owner)
{
    const char *segs[DAV_MAX_SEGMENTS];
    int n = 0;
    struct store_coll c = *coll;
    while (c.parent != 0 && n < DAV_MAX_SEGMENTS) {
        segs[n++] = c.name;
        if (store_coll_get(dr->store, c.parent, dr->arena, &c) != STORE_OK) {
            return NULL;
        }
    }
    const char *href = dav_child_href(dr->arena, "/calendars/", owner, true);
    while (n > 0) {
        href = dav_child_href(dr->arena, href, segs[--n], true);
    }
    return href;
}

/* CS:shared-url, on the sharee's share: the calendar's URL in its owner's tree (which the
 * sharee cannot reach; clients use it to tell shares apart). */
int caldav_get_shared_url(struct dav_req *dr, const struct dav_res *r, struct buf *out)
{
    if (!is_share_root(r)) {
        return 1;
    }
    const char *href = owner_url(dr, &r->coll, r->share->owner);
    if (!href) {
        return -1;
    }
    int rc = buf_append_cstr(out, "<D:href>");
    rc |= xmlout_text(out, slice_from_cstr(href));
    rc |= buf_append_cstr(out, "</D:href>");
    return rc == 0 ? 0 : -1;
}

/* ---------------------------------------------------------------------------------------- */
/* POST: CS:share and CS:invite-reply */

struct share_entry {
    struct share_entry *next;
    bool remove;
    bool rw;
    const char *href;
};

enum post_root {
    POST_NONE,
    POST_SHARE,
    POST_REPLY,
};

struct post_state {
    struct arena *arena;
    enum post_root root;
    unsigned depth;
    struct share_entry *head;
    struct share_entry **tail;
    struct share_entry *cur; /* the CS:set or CS:remove being read */
    bool in_href;
    bool in_hosturl;
    struct buf text;     /* the D:href being read */
    const char *hosturl; /* invite-reply */
    bool accepted;       /* invite-reply: CS:invite-accepted */
    bool declined;       /* invite-reply: CS:invite-declined */
};

static bool is_ns(struct slice ns, struct slice name, const char *want_ns, const char *want)
{
    return slice_eq(ns, slice_from_cstr(want_ns)) && slice_eq(name, slice_from_cstr(want));
}

static int post_start(void *ctx,
                      struct slice ns,
                      struct slice name,
                      const struct xmlin_attr *attrs,
                      size_t nattrs,
                      struct err *err)
{
    (void)attrs;
    (void)nattrs;
    struct post_state *p = ctx;
    p->depth++;
    if (p->depth == 1) {
        if (is_ns(ns, name, DAV_NS_CS, "share")) {
            p->root = POST_SHARE;
        } else if (is_ns(ns, name, DAV_NS_CS, "invite-reply")) {
            p->root = POST_REPLY;
        } else {
            return err_set(err, &dav_cond_bad_request,
                           "POST takes a CS:share or CS:invite-reply body");
        }
        return 0;
    }
    if (p->root == POST_SHARE && p->depth == 2) {
        bool set = is_ns(ns, name, DAV_NS_CS, "set");
        if (set || is_ns(ns, name, DAV_NS_CS, "remove")) {
            struct share_entry *e = arena_zalloc(p->arena, sizeof(*e));
            e->remove = !set;
            *p->tail = e;
            p->tail = &e->next;
            p->cur = e;
        }
        return 0;
    }
    if (p->root == POST_SHARE && p->depth == 3 && p->cur) {
        if (is_ns(ns, name, DAV_NS, "href")) {
            p->in_href = true;
            buf_reset(&p->text);
        } else if (is_ns(ns, name, DAV_NS_CS, "read-write")) {
            p->cur->rw = true;
        }
        return 0;
    }
    if (p->root == POST_REPLY) {
        if (p->depth == 2 && is_ns(ns, name, DAV_NS_CS, "invite-accepted")) {
            p->accepted = true;
        } else if (p->depth == 2 && is_ns(ns, name, DAV_NS_CS, "invite-declined")) {
            p->declined = true;
        } else if (p->depth == 2 && is_ns(ns, name, DAV_NS_CS, "hosturl")) {
            p->in_hosturl = true;
        } else if (p->depth == 3 && p->in_hosturl && is_ns(ns, name, DAV_NS, "href")) {
            p->in_href = true;
            buf_reset(&p->text);
        }
    }
    return 0;
}

static int post_text(void *ctx, struct slice text, struct err *err)
{
    struct post_state *p = ctx;
    if (p->in_href && buf_append(&p->text, text.ptr, text.len) != 0) {
        return err_set(err, &dav_cond_bad_request, "a DAV:href longer than %d bytes",
                       BUF_LIMIT_HREF);
    }
    return 0;
}

static int post_end(void *ctx, struct slice ns, struct slice name, struct err *err)
{
    (void)ns;
    (void)name;
    (void)err;
    struct post_state *p = ctx;
    if (p->in_href && p->depth == 3) {
        p->in_href = false;
        const char *href = arena_slicedup(p->arena, slice_trim(buf_slice(&p->text)));
        if (p->root == POST_SHARE && p->cur) {
            p->cur->href = href;
        } else if (p->root == POST_REPLY) {
            p->hosturl = href;
        }
    }
    if (p->depth == 2) {
        p->cur = NULL;
        p->in_hosturl = false;
    }
    p->depth--;
    return 0;
}

static const struct xmlin_handler post_handler = {
    .start = post_start, .end = post_end, .text = post_text};

static void post_free(void *ctx)
{
    struct post_state *p = ctx;
    buf_deinit(&p->text);
}

static int post_begin(struct dav_req *dr, struct err *err)
{
    const char *ct = http_req_header(dr->http, "Content-Type");
    if (!ct || (!strstr(ct, "/xml") && !strstr(ct, "+xml"))) {
        return err_set(err, &dav_cond_unsupported_media,
                       "POST takes an XML CS:share or CS:invite-reply body");
    }
    struct post_state *p = arena_zalloc(dr->arena, sizeof(*p));
    p->arena = dr->arena;
    p->tail = &p->head;
    buf_init(&p->text, BUF_LIMIT_HREF);
    arena_defer(dr->arena, post_free, p);
    dr->mstate = p;
    dav_xml_body(dr, &post_handler, p);
    return 0;
}

/* The user a sharee href names by its form alone: mailto:<user>@..., or /principals/<user>/
 * (absolute URL or path); NULL when it names none. */
static const char *sharee_user(struct dav_req *dr, const char *href)
{
    if (!href) {
        return NULL;
    }
    struct slice h = slice_from_cstr(href);
    if (h.len > 7 && slice_eq_ci((struct slice){h.ptr, 7}, SLICE_LIT("mailto:"))) {
        const char *local = h.ptr + 7;
        const char *at = strchr(local, '@');
        size_t len = at ? (size_t)(at - local) : strlen(local);
        return len ? arena_strndup(dr->arena, local, len) : NULL;
    }
    const char *path = NULL;
    struct err e;
    err_init(&e);
    if (http_path_decode(h, BUF_LIMIT_HREF, dr->arena, &path, NULL, &e) != 0 ||
        strncmp(path, "/principals/", strlen("/principals/")) != 0) {
        return NULL;
    }
    const char *user = path + strlen("/principals/");
    size_t len = strcspn(user, "/");
    if (len == 0 || (user[len] == '/' && user[len + 1] != '\0')) {
        return NULL;
    }
    return arena_strndup(dr->arena, user, len);
}

/* The principal a sharee href names: a calendar user address of scheduling's (an address an
 * admin gave, mailto:<user>@<mail_domain>, the principal URL; sched_addr_resolve), else by
 * its form alone (sharee_user: any mailto:'s part before '@'). STORE_NOTFOUND when none. */
static enum store_rc sharee_of(struct dav_req *dr, const char *href, struct store_principal *out)
{
    if (!href) {
        return STORE_NOTFOUND;
    }
    uint64_t id = 0;
    enum store_rc rc = sched_addr_resolve(dr->store, href, dr->arena, &id, NULL);
    if (rc == STORE_OK) {
        return store_principal_get_by_id(dr->store, id, dr->arena, out);
    }
    if (rc != STORE_NOTFOUND) {
        return rc;
    }
    const char *user = sharee_user(dr, href);
    return user ? store_principal_get(dr->store, user, dr->arena, out) : STORE_NOTFOUND;
}

static int share_run(struct dav_req *dr, struct post_state *p, struct dav_res *res, struct err *err)
{
    if (res->kind != DAV_RES_COLL || res->coll.kind == STORE_COLL_HOME) {
        return err_set(err, &dav_cond_forbidden, "only a calendar is shared");
    }
    if (res->access != DAV_ACCESS_OWNER || res->share) {
        return dav_need_privileges(dr, res->href, "write-acl", err);
    }
    if (res->coll.kind != STORE_COLL_CALENDAR) {
        return err_set(err, &dav_cond_forbidden, "only a calendar is shared");
    }
    for (struct share_entry *e = p->head; e; e = e->next) {
        struct store_principal sp;
        enum store_rc rc = sharee_of(dr, e->href, &sp);
        if (rc == STORE_NOTFOUND && e->remove) {
            continue; /* no such user holds no grant */
        }
        if (rc == STORE_NOTFOUND || (rc == STORE_OK && sp.id == res->coll.owner)) {
            return err_set(err, &caldav_cond_valid_share, "%s names no other user of this server",
                           e->href ? e->href : "a sharee without DAV:href");
        }
        if (rc != STORE_OK) {
            return dav_store_err(dr, rc, err);
        }
        if (e->remove) {
            rc = store_share_del(dr->store, res->coll.id, sp.id);
            rc = rc == STORE_NOTFOUND ? STORE_OK : rc;
        } else {
            rc = store_share_set(dr->store, res->coll.id, sp.id,
                                 e->rw ? STORE_SHARE_READ_WRITE : STORE_SHARE_READ, NULL, dr->arena,
                                 NULL, NULL);
        }
        if (rc != STORE_OK) {
            return dav_store_err(dr, rc, err);
        }
    }
    if (dav_commit(dr, err) != 0) {
        return -1;
    }
    http_resp_status(dr->http, 200);
    http_resp_body(dr->http, "", 0);
    return 0;
}

struct held_share {
    struct held_share *next;
    uint64_t coll;
    const char *owner;
    const char *name;
};

struct held_list {
    struct arena *arena;
    struct held_share *head;
};

static int hold_share(void *ctx, const struct store_share *sh)
{
    struct held_list *l = ctx;
    struct held_share *h = arena_zalloc(l->arena, sizeof(*h));
    h->coll = sh->coll;
    h->owner = arena_strdup(l->arena, sh->owner_name);
    h->name = arena_strdup(l->arena, sh->name);
    h->next = l->head;
    l->head = h;
    return 0;
}

/* `path` without its trailing '/'s, in the arena. */
static const char *no_slash(struct arena *a, const char *path)
{
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/') {
        len--;
    }
    return arena_strndup(a, path, len);
}

/* CS:invite-reply on the sharee's home: the grant whose calendar the hosturl names (its URL
 * in the owner's tree, as CS:shared-url gives it); accepted, it answers CS:shared-as;
 * declined, the grant is revoked. */
static int reply_run(struct dav_req *dr, struct post_state *p, struct dav_res *res, struct err *err)
{
    if (res->kind != DAV_RES_COLL || res->coll.kind != STORE_COLL_HOME || res->share) {
        return err_set(err, &dav_cond_forbidden, "an invite-reply goes to the sharee's home");
    }

    struct {
        uint64_t id;
        const char *name;
    } f = {0, NULL};

    const char *path = NULL;
    struct err e;
    err_init(&e);
    if (p->hosturl && http_path_decode(slice_from_cstr(p->hosturl), BUF_LIMIT_HREF, dr->arena,
                                       &path, NULL, &e) == 0) {
        struct held_list l = {dr->arena, NULL};
        enum store_rc rc = store_share_list_of_sharee(dr->store, dr->principal, hold_share, &l);
        if (rc != STORE_OK) {
            return dav_store_err(dr, rc, err);
        }
        path = no_slash(dr->arena, path);
        for (struct held_share *h = l.head; h && !f.name; h = h->next) {
            struct store_coll c;
            rc = store_coll_get(dr->store, h->coll, dr->arena, &c);
            const char *url = rc == STORE_OK ? owner_url(dr, &c, h->owner) : NULL;
            if (!url) {
                return dav_store_err(dr, rc == STORE_OK ? STORE_IO : rc, err);
            }
            if (strcmp(no_slash(dr->arena, url), path) == 0) {
                f.id = h->coll;
                f.name = h->name;
            }
        }
    }
    if (!f.name || p->accepted == p->declined) {
        return err_set(err, &caldav_cond_valid_share,
                       "the invite-reply names no calendar shared with %s, or neither accepts "
                       "nor declines",
                       dr->user);
    }
    if (p->declined) {
        enum store_rc rc = store_share_del(dr->store, f.id, dr->principal);
        if (rc != STORE_OK) {
            return dav_store_err(dr, rc, err);
        }
        if (dav_commit(dr, err) != 0) {
            return -1;
        }
        http_resp_status(dr->http, 200);
        http_resp_body(dr->http, "", 0);
        return 0;
    }
    store_rollback(dr->store); /* accepted when granted: nothing to write */
    struct buf b;
    buf_init(&b, BUF_LIMIT_ERROR_BODY);
    int rc = xmlout_decl(&b);
    rc |= buf_append_cstr(&b, "<CS:shared-as" DAV_XMLNS "><D:href>");
    rc |= xmlout_text(&b, slice_from_cstr(dav_child_href(dr->arena, res->href, f.name, true)));
    rc |= buf_append_cstr(&b, "</D:href></CS:shared-as>\n");
    if (rc == 0) {
        dav_xml_answer(dr, 200, &b);
    }
    buf_deinit(&b);
    return rc == 0 ? 0 : err_set(err, &dav_cond_bad_request, "answer too large");
}

static int post_run(struct dav_req *dr, struct err *err)
{
    struct post_state *p = dr->mstate;
    int body = dav_xml_finish(dr, err);
    if (body < 0) {
        return -1;
    }
    if (body == 1 || p->root == POST_NONE) {
        return err_set(err, &dav_cond_bad_request, "POST takes a CS:share or CS:invite-reply body");
    }
    struct dav_res res;
    if (dav_begin_write(dr, err) != 0 || dav_resolve(dr, http_req_path(dr->http), &res, err)) {
        return -1;
    }
    if (res.kind == DAV_RES_NONE) {
        return err_set(err, &dav_cond_not_found, "no such resource");
    }
    if (dav_if_check_target(dr, &res, err) != 0) {
        return -1;
    }
    return p->root == POST_SHARE ? share_run(dr, p, &res, err) : reply_run(dr, p, &res, err);
}

const struct dav_method caldav_share_post = {.begin = post_begin, .run = post_run};
