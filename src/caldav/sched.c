/* caldav/sched.c: CalDAV's side of implicit scheduling (RFC 6638; docs/scheduling.md): the
 * principal's scheduling properties (§2.4.1 calendar-user-address-set, §2.2 and §2.1 the
 * schedule inbox and outbox URLs, §9.2 schedule-default-calendar-URL), the schedule-tag
 * property (§3.2.10, read from the item's dead property sched keeps), and the
 * If-Schedule-Tag-Match precondition of PUT and DELETE (§8.3). The scheduling itself runs in
 * calstore's write hook, whatever protocol wrote. Conditions: sched_cond_schedule_tag (412). */
#include "sched/sched.h"

#include <string.h>

#include "caldav/caldav_int.h"
#include "xml/xmlout.h"

static int href(struct buf *out, const char *h)
{
    int rc = buf_append_cstr(out, "<D:href>");
    rc |= xmlout_text(out, slice_from_cstr(h));
    rc |= buf_append_cstr(out, "</D:href>");
    return rc == 0 ? 0 : -1;
}

/* The authenticated user's principal (dr->principal is set only once a path resolved into
 * their home, not for /principals/). */
static int self(struct dav_req *dr, struct store_principal *p)
{
    return store_principal_get(dr->store, dr->user, dr->arena, p) == STORE_OK ? 0 : -1;
}

struct addr_ctx {
    struct buf *out;
    int rc;
};

static int add_addr(void *ctx, const char *addr)
{
    struct addr_ctx *c = ctx;
    c->rc |= href(c->out, addr);
    return c->rc;
}

/* RFC 6638 §2.4.1: mailto:USER@mail_domain, the addresses an admin gave, the principal URL. */
int caldav_get_user_address_set(struct dav_req *dr, const struct dav_res *r, struct buf *out)
{
    if (r->kind != DAV_RES_PRINCIPAL) {
        return 1;
    }
    struct addr_ctx c = {out, 0};
    struct store_principal p;
    if (self(dr, &p) != 0 ||
        sched_addr_list(dr->store, p.id, dr->user, dr->arena, add_addr, &c) != STORE_OK) {
        return -1;
    }
    return c.rc == 0 ? 0 : -1;
}

static int box_url(struct dav_req *dr, const struct dav_res *r, struct buf *out, const char *box)
{
    if (r->kind != DAV_RES_PRINCIPAL) {
        return 1;
    }
    const char *home = dav_child_href(dr->arena, "/calendars/", dr->user, true);
    return href(out, dav_child_href(dr->arena, home, box, true));
}

/* RFC 6638 §2.2.1 */
int caldav_get_schedule_inbox_url(struct dav_req *dr, const struct dav_res *r, struct buf *out)
{
    return box_url(dr, r, out, "inbox");
}

/* RFC 6638 §2.1.1 */
int caldav_get_schedule_outbox_url(struct dav_req *dr, const struct dav_res *r, struct buf *out)
{
    return box_url(dr, r, out, "outbox");
}

/* RFC 6638 §9.2: on the inbox, and (as clients also ask there) on the principal. */
int caldav_get_default_calendar_url(struct dav_req *dr, const struct dav_res *r, struct buf *out)
{
    bool inbox = r->kind == DAV_RES_COLL && r->coll.kind == STORE_COLL_PLAIN && r->coll.name &&
                 strcmp(r->coll.name, "inbox") == 0 && r->in_home;
    if (r->kind != DAV_RES_PRINCIPAL && !inbox) {
        return 1;
    }
    struct store_principal p;
    struct store_coll c;
    if (self(dr, &p) != 0) {
        return -1;
    }
    enum store_rc rc = sched_default_calendar(dr->store, p.home_id, 0, dr->arena, &c);
    if (rc == STORE_NOTFOUND) {
        return 0; /* empty: the first invitation makes one */
    }
    if (rc != STORE_OK) {
        return -1;
    }
    const char *home = dav_child_href(dr->arena, "/calendars/", dr->user, true);
    return href(out, dav_child_href(dr->arena, home, c.name, true));
}

/* RFC 6638 §3.2.10 */
int caldav_get_schedule_tag(struct dav_req *dr, const struct dav_res *r, struct buf *out)
{
    if (r->kind != DAV_RES_ITEM || !r->item.cal.uid) {
        return 1;
    }
    const char *tag;
    enum store_rc rc = sched_tag_get(dr->store, r->item.id, dr->arena, &tag);
    if (rc == STORE_NOTFOUND) {
        return 1;
    }
    if (rc != STORE_OK) {
        return -1;
    }
    return xmlout_text(out, slice_from_cstr(tag)) == 0 ? 0 : -1;
}

int caldav_schedule_tag_match(struct dav_req *dr,
                              const struct store_coll *coll,
                              const char *name,
                              struct err *err)
{
    const char *want = http_req_header(dr->http, "If-Schedule-Tag-Match");
    if (!want) {
        return 0;
    }
    struct store_item it;
    enum store_rc rc = store_item_get(dr->store, coll->id, name, STORE_ITEM_META, dr->arena, &it);
    if (rc == STORE_NOTFOUND) {
        return err_set(err, &sched_cond_schedule_tag,
                       "If-Schedule-Tag-Match on a resource that does not exist");
    }
    if (rc != STORE_OK) {
        return dav_store_err(dr, rc, err);
    }
    const char *tag = NULL;
    rc = sched_tag_get(dr->store, it.id, dr->arena, &tag);
    if (rc != STORE_OK && rc != STORE_NOTFOUND) {
        return dav_store_err(dr, rc, err);
    }
    struct slice w = slice_trim(slice_from_cstr(want));
    if (!tag || !slice_eq(w, slice_from_cstr(tag))) {
        return err_set(err, &sched_cond_schedule_tag,
                       "the Schedule-Tag is %s, not %.*s: the organizer changed the event",
                       tag ? tag : "none", (int)(w.len > 64 ? 64 : w.len), w.ptr);
    }
    return 0;
}
