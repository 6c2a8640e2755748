/* dav/ifheader.c: the If request header (RFC 4918 §10.4), implemented once for every method:
 * untagged and tagged lists, Not, state tokens in <...> and entity tags in [...]. State tokens
 * are answered by the protocol extensions (replication's rt:/rid:); any other token never
 * matches, since no locks are taken. The header is true when any list is true; a list when
 * all its conditions are. Malformed syntax is 400; a false header is 412. */
#include <string.h>

#include "dav/ext.h"

enum {
    IF_MAX_CONDITIONS = 64
}; /* conditions evaluated in one header */

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

/* A state token's truth for `res`: the extensions decide; unknown tokens are false. */
static bool token_matches(struct dav_req *dr, const struct dav_res *res, struct slice token)
{
    for (size_t e = 0; e < dr->app->next; e++) {
        if (dr->app->ext[e]->state_token) {
            int m = dr->app->ext[e]->state_token(dr, res, token);
            if (m >= 0) {
                return m == 1;
            }
        }
    }
    return false;
}

/* One list "( ... )" at pos: sets *truth; returns 0 or -1 on bad syntax. */
static int eval_list(struct dav_req *dr,
                     struct if_parser *p,
                     const struct dav_res *res,
                     const char *etag,
                     unsigned *budget,
                     bool *truth)
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
            holds = res->kind != DAV_RES_NONE && token_matches(dr, res, v);
        } else if (c == '[') {
            if (read_delimited(p, ']', &v) != 0) {
                return -1;
            }
            struct slice tag = slice_trim(v);
            holds = etag && slice_eq(tag, slice_from_cstr(etag));
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

int dav_if_check(struct dav_req *dr, const struct dav_res *res, const char *etag, struct err *err)
{
    const char *h = http_req_header(dr->http, "If");
    if (!h) {
        return 0;
    }
    struct if_parser p = {slice_from_cstr(h), 0};
    unsigned budget = IF_MAX_CONDITIONS;
    bool any_true = false;
    bool any_list = false;
    const struct dav_res *target = res;
    struct dav_res tagged;
    for (;;) {
        skip_ws(&p);
        if (p.pos >= p.s.len) {
            break;
        }
        char c = p.s.ptr[p.pos];
        if (c == '<') {
            /* a Resource-Tag: the following lists apply to that resource */
            struct slice ref;
            const char *path = NULL;
            struct err e;
            err_init(&e);
            if (read_delimited(&p, '>', &ref) != 0 ||
                http_path_decode(ref, BUF_LIMIT_HREF, dr->arena, &path, NULL, &e) != 0) {
                return err_set(err, &dav_cond_bad_request, "malformed If header");
            }
            if (dav_resolve(dr, path, &tagged, err) != 0) {
                return -1;
            }
            target = &tagged;
            continue;
        }
        if (c != '(') {
            return err_set(err, &dav_cond_bad_request, "malformed If header");
        }
        bool truth = false;
        const char *tag_etag = target == res
                                   ? etag
                                   : (target->kind == DAV_RES_ITEM
                                          ? dav_etag(dr->arena, &target->coll, target->item.modseq)
                                          : NULL);
        if (eval_list(dr, &p, target, tag_etag, &budget, &truth) != 0) {
            return err_set(err, &dav_cond_bad_request, "malformed If header");
        }
        any_list = true;
        any_true = any_true || truth;
    }
    if (!any_list) {
        return err_set(err, &dav_cond_bad_request, "malformed If header");
    }
    if (!any_true) {
        if (res->kind == DAV_RES_ITEM) {
            /* exchange-replication.md §2.1: the current state, so the client can refetch */
            if (etag) {
                http_resp_error_header(dr->http, "ETag", etag);
            }
            dr->error_headers = true;
            dav_ext_item_headers(dr, &res->coll, res->item.id, res->item.modseq, false);
            dr->error_headers = false;
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
