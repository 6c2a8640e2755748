/* dav/propsel.c: the requested properties of a PROPFIND (propfind.c) or a CalDAV REPORT
 * (caldav/report.c): one list of (namespace, name), grown in the request arena, each with
 * its live property resolved.
 * Conditions: dav_cond_bad_request (400, more than DAV_MAX_PROPS_REQUESTED names). */
#include <string.h>

#include "dav/ext.h"

int dav_propsel_add(struct dav_propsel *sel,
                    const struct dav_req *dr,
                    struct slice ns,
                    struct slice name,
                    struct err *err)
{
    struct arena *a = dr->arena;
    if (sel->n == DAV_MAX_PROPS_REQUESTED) {
        return err_set(err, &dav_cond_bad_request, "more than %d properties requested",
                       DAV_MAX_PROPS_REQUESTED);
    }
    if (sel->n == sel->cap) {
        size_t cap = sel->cap ? sel->cap * 2 : 16;
        struct dav_propname *names = arena_alloc(a, cap * sizeof(*names));
        if (sel->n) {
            memcpy(names, sel->names, sel->n * sizeof(*names));
        }
        sel->names = names;
        sel->cap = cap;
    }
    sel->names[sel->n].ns = arena_slicedup(a, ns);
    sel->names[sel->n].name = arena_slicedup(a, name);
    /* looked up and its tags written once here rather than for every row of the answer */
    struct dav_propname *pn = &sel->names[sel->n];
    pn->live = dav_live_prop_find(dr, ns, name);
    pn->open_tag = pn->close_tag = NULL;
    pn->open_len = pn->close_len = 0;
    if (pn->live) {
        struct buf t;
        buf_init(&t, BUF_LIMIT_HREF); /* the registry's own names: a few dozen bytes */
        if (dav_prop_open_typed(&t, pn->live->ns, pn->live->name, pn->live->flags) == 0) {
            pn->open_len = t.len;
            pn->open_tag = arena_strndup(a, t.data, t.len);
        }
        buf_reset(&t);
        if (dav_prop_close(&t, pn->live->ns, pn->live->name) == 0) {
            pn->close_len = t.len;
            pn->close_tag = arena_strndup(a, t.data, t.len);
        }
        buf_deinit(&t);
    }
    sel->n++;
    return 0;
}

const struct dav_propname *dav_propsel_etag_only(const struct dav_propsel *sel)
{
    if (sel->mode != DAV_SEL_PROP || sel->n != 1) {
        return NULL;
    }
    const struct dav_propname *pn = &sel->names[0];
    if (!pn->live || !pn->open_tag || !pn->close_tag || strcmp(pn->live->name, "getetag") != 0 ||
        strcmp(pn->live->ns, DAV_NS) != 0) {
        return NULL;
    }
    return pn;
}

enum store_item_cols dav_propsel_cols(const struct dav_propsel *sel)
{
    if (sel->mode != DAV_SEL_PROP) {
        return STORE_COLS_ALL;
    }
    if (dav_propsel_etag_only(sel)) {
        return STORE_COLS_NAMES; /* an ETag is the collection's and the modseq's */
    }
    for (size_t i = 0; i < sel->n; i++) {
        const struct dav_live_prop *lp = sel->names[i].live;
        if (lp && !(lp->flags & DAV_PROP_LISTING)) {
            return STORE_COLS_ALL;
        }
    }
    return STORE_COLS_LISTING;
}
