/* dav/ifheader.c: the If request header (RFC 4918 §10.4), implemented once for every method:
 * untagged and tagged lists, Not, state tokens in <...> and entity tags in [...]. State tokens
 * are answered by the protocol extensions (replication's rt:/rid:); any other token never
 * matches, since no locks are taken. The header is true when any list is true; a list when
 * all its conditions are. Malformed syntax is 400; a false header is 412. The grammar
 * (dav_if_eval, ifheader.h) knows nothing of the store; dav_if_check answers its conditions. */
#include "dav/ifheader.h"

#include <string.h>

#include "dav/dav_int.h"
#include "dav/ext.h"

struct if_parser {
    struct slice s;
    size_t pos;
};

static void skip_ws(struct if_parser *p)
{
    while (p->pos < p->s.len && (p->s.ptr[p->pos] == ' ' || p->s.ptr[p->pos] == '\t')) {
        p->pos++;
    }
}

/* Reads text up to `close` (exclusive) after the opening character at pos; -1 if unclosed. */
static int read_delimited(struct if_parser *p, char close, struct slice *out)
{
    size_t start = ++p->pos;
    while (p->pos < p->s.len && p->s.ptr[p->pos] != close) {
        p->pos++;
    }
    if (p->pos >= p->s.len) {
        return -1;
    }
    *out = (struct slice){p->s.ptr + start, p->pos - start};
    p->pos++;
    return 0;
}

/* One list "( ... )" at pos: sets *truth; returns 0 or -1 on bad syntax. */
static int eval_list(
    struct if_parser *p, const struct dav_if_ops *ops, void *ctx, unsigned *budget, bool *truth)
{
    p->pos++; /* '(' */
    bool all = true;
    bool any_condition = false;
    for (;;) {
        skip_ws(p);
        if (p->pos >= p->s.len) {
            return -1;
        }
        char c = p->s.ptr[p->pos];
        if (c == ')') {
            p->pos++;
            break;
        }
        bool negate = false;
        if (p->s.len - p->pos >= 3 &&
            slice_eq_ci((struct slice){p->s.ptr + p->pos, 3}, SLICE_LIT("Not"))) {
            negate = true;
            p->pos += 3;
            skip_ws(p);
            if (p->pos >= p->s.len) {
                return -1;
            }
            c = p->s.ptr[p->pos];
        }
        if (*budget == 0) {
            return -1;
        }
        (*budget)--;
        struct slice v;
        bool holds;
        if (c == '<') {
            if (read_delimited(p, '>', &v) != 0) {
                return -1;
            }
            holds = ops->token(ctx, v);
        } else if (c == '[') {
            if (read_delimited(p, ']', &v) != 0) {
                return -1;
            }
            holds = ops->etag(ctx, slice_trim(v));
        } else {
            return -1;
        }
        any_condition = true;
        all = all && (holds != negate);
    }
    if (!any_condition) {
        return -1;
    }
    *truth = all;
    return 0;
}

int dav_if_eval(
    struct slice h, const struct dav_if_ops *ops, void *ctx, bool *truth_out, struct err *err)
{
    struct if_parser p = {h, 0};
    unsigned budget = DAV_IF_MAX_CONDITIONS;
    bool any_true = false;
    bool any_list = false;
    for (;;) {
        skip_ws(&p);
        if (p.pos >= p.s.len) {
            break;
        }
        char c = p.s.ptr[p.pos];
        if (c == '<') {
            /* a Resource-Tag: the following lists apply to that resource */
            struct slice ref;
            if (read_delimited(&p, '>', &ref) != 0) {
                return err_set(err, &dav_cond_bad_request, "malformed If header");
            }
            if (ops->tag(ctx, ref, err) != 0) {
                return -1;
            }
            continue;
        }
        if (c != '(') {
            return err_set(err, &dav_cond_bad_request, "malformed If header");
        }
        bool truth = false;
        if (eval_list(&p, ops, ctx, &budget, &truth) != 0) {
            return err_set(err, &dav_cond_bad_request, "malformed If header");
        }
        any_list = true;
        any_true = any_true || truth;
    }
    if (!any_list) {
        return err_set(err, &dav_cond_bad_request, "malformed If header");
    }
    *truth_out = any_true;
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* The conditions against the store */

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
            dav_ext_item_headers(dr, &res->coll, res->item.id, res->item.modseq, false, true);
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
