/* repl/search_eval.c: the rows of Exchange SEARCH (exchange-replication.md §3.3-3.4, §3.8):
 * a candidate's property values (from the item, the span index or the iCalendar read once),
 * its test against the WHERE tree, and the <D:response> it writes. */
#include <string.h>

#include "dav/ext.h"
#include "repl/props.h"
#include "repl/repl_int.h"
#include "repl/search_int.h"
#include "repl/tokens.h"
#include "xml/xmlout.h"

/* ---------------------------------------------------------------------------------------- */
/* Row values */

static int load_cal(struct row *r)
{
    if (r->tried) {
        return 0;
    }
    r->tried = true;
    struct dav_req *dr = r->s->dr;
    struct store_item full;
    enum store_rc rc = store_item_get(dr->store, r->s->coll.coll.id, r->it->name,
                                      STORE_ITEM_CONTENT, dr->arena, &full);
    if (rc == STORE_NOTFOUND) {
        return 0;
    }
    if (rc != STORE_OK) {
        return -1;
    }
    struct err e;
    err_init(&e);
    const struct repl_ex_self *self;
    if (search_self(r->s, &self) != 0) {
        return -1;
    }
    r->loaded = repl_exprops_read((struct slice){full.content, full.size}, self, dr->arena, r->cal,
                                  &e) == 0;
    return 0;
}

void search_row_init(struct row *r, struct search *s, const struct store_item *it)
{
    /* every field but cal[] (2 KB, filled by load_cal when needed): manifests touch every
     * candidate, most of which never read the object */
    r->s = s;
    r->it = it;
    r->href = NULL;
    r->changetype = NULL;
    r->for_where = r->tried = r->loaded = false;
}

/* §3.4: rows name resources by absolute URL; built only for rows that are written. */
const char *search_href_of(struct row *r)
{
    if (!r->href) {
        struct arena *a = r->s->dr->arena;
        r->href = arena_printf(a, "%s%s", r->s->origin,
                               dav_child_href(a, r->s->coll.href, r->it->name, false));
    }
    return r->href;
}

static void row_prop(struct row *r, int id, struct repl_ex_value *v)
{
    struct search *s = r->s;
    struct arena *a = s->dr->arena;
    const struct store_item *it = r->it;
    char text[REPL_TAG_LEN + 1];
    switch ((enum repl_rowprop)id) {
    case REPL_RP_HREF:
        search_set_s(v, search_href_of(r));
        return;
    case REPL_RP_GETETAG:
        search_set_s(v, dav_etag(a, &s->coll.coll, it->modseq));
        return;
    case REPL_RP_CONTENTCLASS:
        search_set_s(v, "urn:content-classes:appointment");
        return;
    case REPL_RP_ISFOLDER:
    case REPL_RP_ISCOLLECTION:
    case REPL_RP_ISHIDDEN:
    case REPL_RP_ISREADONLY:
        search_set_i(v, 0);
        return;
    case REPL_RP_GETCONTENTTYPE:
        search_set_s(v, it->content_type);
        return;
    case REPL_RP_GETCONTENTLENGTH:
        search_set_i(v, (int64_t)it->size);
        return;
    case REPL_RP_DISPLAYNAME:
        search_set_s(v, it->name);
        return;
    case REPL_RP_GETLASTMODIFIED:
        search_set_i(v, it->mtime);
        return;
    case REPL_RP_PARENTNAME:
        search_set_s(v, arena_printf(a, "%s%s", s->origin, s->coll.href));
        return;
    case REPL_RP_REPL_UID:
        repl_uid_format(s->guid, it->id, text);
        search_set_s(v, arena_strdup(a, text));
        return;
    case REPL_RP_RESOURCETAG:
        repl_tag_format(s->guid, it->id, s->coll.coll.change_guid, it->modseq, text);
        search_set_s(v, arena_strdup(a, text));
        return;
    case REPL_RP_CHANGETYPE:
        search_set_s(v, r->for_where ? NULL : r->changetype);
        return;
    case REPL_RP_CONTENTTAG:
    case REPL_RP_OUTLOOKFOLDERCLASS:
    case REPL_RP_COUNT:
        break; /* collections only */
    }
}

/* repl_value_fn: the value of `p` for the row (§3.3; §3.8 for dtstart/dtend in WHERE). */
int search_row_value(void *ctx, const struct repl_prop *p, struct repl_ex_value *v)
{
    struct row *r = ctx;
    memset(v, 0, sizeof(*v));
    if (p->src == REPL_SRC_ROW) {
        row_prop(r, p->id, v);
        return 0;
    }
    if (p->src != REPL_SRC_CAL) {
        return 0;
    }
    /* §3.8: outside expansion queries a series is tested by its span; in one, each row by its
     * own times (a single event's span is its own) */
    bool own = r->s->expansion && r->it->cal.is_recurring;
    if (r->for_where && !own && (p->id == REPL_EX_DTSTART || p->id == REPL_EX_DTEND)) {
        if (r->it->cal.has_span) {
            search_set_i(v,
                         p->id == REPL_EX_DTSTART ? r->it->cal.dtstart_utc : r->it->cal.dtend_utc);
        }
        return 0;
    }
    if (p->id == REPL_EX_UID && r->it->cal.uid) {
        search_set_s(v, r->it->cal.uid); /* indexed: no need to read the object */
        return 0;
    }
    if (load_cal(r) != 0) {
        return -1;
    }
    if (r->loaded) {
        *v = r->cal[p->id];
    }
    if (p->id == REPL_EX_LASTMODIFIED && !v->present) {
        search_set_i(v, r->it->mtime); /* §4.4: else the item's mtime */
    }
    return 0;
}

int search_matches(struct row *r)
{
    r->for_where = true;
    int m = repl_where_eval(r->s->where, search_row_value, r);
    r->for_where = false;
    return m;
}

/* ---------------------------------------------------------------------------------------- */
/* Rows */

static bool is_repl(const struct repl_prop *p, const char *local)
{
    return p->src == REPL_SRC_ROW && strcmp(p->ns, REPL_NS) == 0 && strcmp(p->local, local) == 0;
}

/* The selected properties of one row into `found` (with values) and `missing` (empty
 * elements for the 404 propstat). A manifest row skips R:repl-uid and R:changetype (written
 * once by the caller); a delete row has no value but R:resourcetag. */
int search_collect_props(struct search *s,
                         repl_value_fn *fn,
                         void *ctx,
                         bool deleted,
                         struct buf *found,
                         struct buf *missing)
{
    int rc = 0;
    for (size_t i = 0; i < s->nsel && rc == 0; i++) {
        const struct sel_item *si = &s->sel[i];
        if (!s->plain && (is_repl(&si->p, "repl-uid") || is_repl(&si->p, "changetype"))) {
            continue;
        }
        struct repl_ex_value v = {0};
        if ((!deleted || is_repl(&si->p, "resourcetag")) && fn(ctx, &si->p, &v) != 0) {
            return -1;
        }
        rc = v.present ? repl_prop_write(found, &si->p, si->alias, &v)
                       : repl_prop_write_empty(missing, &si->p, si->alias);
    }
    return rc;
}

/* <D:response> with the 200 and 404 propstats that have content. */
int search_write_response(const char *href,
                          const struct buf *found,
                          const struct buf *missing,
                          struct buf *out)
{
    int rc = buf_append_cstr(out, "<D:response><D:href>");
    rc |= xmlout_text(out, slice_from_cstr(href));
    rc |= buf_append_cstr(out, "</D:href>");
    if (found->len) {
        rc |= buf_append_cstr(out, "<D:propstat><D:prop>");
        rc |= buf_append_slice(out, buf_slice(found));
        rc |= buf_append_cstr(out, "</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>");
    }
    if (missing->len) {
        rc |= buf_append_cstr(out, "<D:propstat><D:prop>");
        rc |= buf_append_slice(out, buf_slice(missing));
        rc |= buf_append_cstr(out, "</D:prop><D:status>HTTP/1.1 404 Not Found</D:status>"
                                   "</D:propstat>");
    }
    rc |= buf_append_cstr(out, "</D:response>\n");
    return rc == 0 ? 0 : -1;
}

/* One resource row (§3.4); a manifest row also carries R:repl-uid and R:changetype, once. */
int search_write_row(struct row *r, bool deleted, struct buf *out)
{
    struct search *s = r->s;
    struct buf missing;
    buf_init(&missing, dav_row_limit(s->dr));
    struct buf found;
    buf_init(&found, dav_row_limit(s->dr));
    int rc = search_collect_props(s, search_row_value, r, deleted, &found, &missing);
    if (rc == 0 && !s->plain) {
        struct repl_ex_value v = {0};
        row_prop(r, REPL_RP_REPL_UID, &v);
        rc |= buf_appendf(&found, "<R:repl-uid>%s</R:repl-uid>", v.s);
        rc |= buf_appendf(&found, "<R:changetype>%s</R:changetype>", r->changetype);
    }
    rc = rc == 0 ? search_write_response(search_href_of(r), &found, &missing, out) : -1;
    buf_deinit(&found);
    buf_deinit(&missing);
    return rc;
}
