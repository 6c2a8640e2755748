/* dav/ifheader.h: the grammar of the If request header (RFC 4918 §10.4), apart from what its
 * conditions mean: untagged and tagged lists, Not, state tokens in <...> and entity tags in
 * [...]. The caller answers each condition for the resource the lists apply to; dav_if_check()
 * in ext.h does so against the store. Separate so that the grammar can be tested and fuzzed
 * without a request (tests/fuzz/fuzz_ifheader.c). */
#ifndef ALMANAC_DAV_IFHEADER_H
#define ALMANAC_DAV_IFHEADER_H

#include <stdbool.h>

#include "util/err.h"
#include "util/slice.h"

enum {
    DAV_IF_MAX_CONDITIONS = 64 /* conditions evaluated in one header */
};

/* What the conditions of an If header mean; every slice is borrowed from the header for the
 * duration of the call. */
struct dav_if_ops {
    /* A Resource-Tag (the text between '<' and '>', not decoded): the lists after it, until
     * the next one, apply to that resource. 0, or -1 with err set to stop. */
    int (*tag)(void *ctx, struct slice resource_tag, struct err *err);
    /* The truth of a state token (between '<' and '>') for the current resource. */
    bool (*token)(void *ctx, struct slice token);
    /* The truth of an entity tag (between '[' and ']', trimmed) for the current resource. */
    bool (*etag)(void *ctx, struct slice etag);
};

/* Evaluates the If header `h`: true when any list is true, a list when all its conditions
 * are (RFC 4918 §10.4.2). Every list is read, so a syntax error anywhere is one; at most
 * DAV_IF_MAX_CONDITIONS conditions. Returns 0 with *truth_out set, or -1 with err set to
 * dav_cond_bad_request (400, malformed, no list, too many conditions) or what tag() set.
 * O(length of h). */
int dav_if_eval(
    struct slice h, const struct dav_if_ops *ops, void *ctx, bool *truth_out, struct err *err);

#endif
