/* dav/ifheader.c: the If request header (RFC 4918 §10.4), implemented once for every method:
 * untagged and tagged lists, Not, state tokens in <...> and entity tags in [...]. State tokens
 * are answered by the protocol extensions (replication's rt:/rid:); any other token never
 * matches, since no locks are taken. The header is true when any list is true; a list when
 * all its conditions are. Malformed syntax is 400; a false header is 412. The grammar
 * (dav_if_eval, ifheader.h) knows nothing of the store; dav_if_check (dav.c) answers its
 * conditions through the callbacks of struct dav_if_ops.
 * One-way order: dav.c -> ifheader.c; this file uses nothing of dav.c (only the condition
 * dav_cond_bad_request, defined in conds.c and declared in dav.h). */
#include "dav/ifheader.h"

#include <string.h>

#include "dav/dav.h"

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
