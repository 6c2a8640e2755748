/* caldav/sched.c: CalDAV's side of implicit scheduling (RFC 6638; docs/scheduling.md): the
 * principal's scheduling properties (§2.4.1 calendar-user-address-set, §2.2 and §2.1 the
 * schedule inbox and outbox URLs, §9.2 schedule-default-calendar-URL), the schedule-tag
 * property (§3.2.10, read from the item's dead property sched keeps), and the
 * If-Schedule-Tag-Match precondition of PUT and DELETE (§8.3), and POST of a free-busy
 * request to the schedule outbox (§3.3). The scheduling itself runs in calstore's write hook,
 * whatever protocol wrote. Conditions: sched_cond_schedule_tag (412), and POST's below. */
#include "sched/sched.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "caldav/caldav_int.h"
#include "calstore/busy.h"
#include "util/timeutil.h"
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

/* RFC 6638 §3.2.10: a GET or HEAD of a scheduling object resource carries its
 * Schedule-Tag (a PUT's own answer sets it in cal_put). */
enum store_rc caldav_item_headers(struct dav_req *dr,
                                  const struct store_coll *coll,
                                  uint64_t item_id,
                                  uint64_t modseq,
                                  bool deleted,
                                  bool error)
{
    (void)modseq;
    enum http_method m = http_req_method(dr->http);
    if (deleted || error || coll->kind != STORE_COLL_CALENDAR ||
        (m != HTTP_M_GET && m != HTTP_M_HEAD)) {
        return STORE_OK;
    }
    const char *tag;
    enum store_rc rc = sched_tag_get(dr->store, item_id, dr->arena, &tag);
    if (rc == STORE_OK) {
        http_resp_header(dr->http, "Schedule-Tag", tag);
    }
    return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

/* RFC 6638 §2.2, §2.1: the schedule inbox and outbox are typed as such. */
const char *caldav_resourcetype(struct dav_req *dr, const struct dav_res *r)
{
    (void)dr;
    if (r->kind != DAV_RES_COLL || r->coll.kind != STORE_COLL_PLAIN || !r->coll.name ||
        !r->in_home) {
        return NULL;
    }
    if (strcmp(r->coll.name, "inbox") == 0) {
        return "<C:schedule-inbox/>";
    }
    if (strcmp(r->coll.name, "outbox") == 0) {
        return "<C:schedule-outbox/>";
    }
    return NULL;
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

/* ---------------------------------------------------------------------------------------- */
/* POST of a free-busy request to the schedule outbox (RFC 6638 §3.3, §6.1.4) */

enum {
    FB_UTC_LEN = 64, /* an iCalendar UTC date-time with room for any int */
};

/* "YYYYMMDDTHHMMSSZ" of t. */
static void fb_utc(int64_t t, char out[FB_UTC_LEN])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    snprintf(out, FB_UTC_LEN, "%04d%02d%02dT%02d%02d%02dZ", (tm.tm_year + 1900) % 10000,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

struct fb_stream {
    struct dav_req *dr;
    struct sched_fb_request req;
    size_t i;                 /* the attendee being answered */
    bool open;                /* its <C:response> is open (a local user's busy time follows) */
    uint64_t *cals;           /* its calendars, */
    size_t ncals, ci;         /* how many, the next to open */
    struct store_cursor *cur; /* the open calendar's items in the range */
};

static void fb_close(void *p)
{
    store_cursor_close(&((struct fb_stream *)p)->cur);
}

/* A FREEBUSY line (ASCII, nothing to escape in XML). */
static int fb_period(void *ctx, int64_t start, int64_t end, enum cal_fbtype type)
{
    struct buf *out = ctx;
    static const char *const types[] = {"BUSY", "BUSY-TENTATIVE", "BUSY-UNAVAILABLE"};
    char a[FB_UTC_LEN], b[FB_UTC_LEN];
    fb_utc(start, a);
    fb_utc(end, b);
    return buf_appendf(out, "FREEBUSY;FBTYPE=%s:%s/%s\r\n", types[type], a, b) == 0 ? 0 : -1;
}

/* The calendars of principal `p` (their ids, in the arena). */
static enum store_rc fb_calendars(struct fb_stream *s, uint64_t p)
{
    s->ci = 0;
    return calstore_calendars_of(s->dr->store, p, s->dr->arena, &s->cals, &s->ncals);
}

/* Opens the answer for attendee s->i: the recipient and status, and for a local user the
 * head of their VFREEBUSY reply (s->open). */
static int fb_start(struct fb_stream *s, struct buf *out)
{
    struct dav_req *dr = s->dr;
    const char *addr = s->req.attendees[s->i];
    uint64_t p = 0;
    bool in_domain = false;
    enum store_rc rc = sched_addr_resolve(dr->store, addr, dr->arena, &p, &in_domain);
    if (rc != STORE_OK && rc != STORE_NOTFOUND) {
        return -1;
    }
    if (rc == STORE_OK && fb_calendars(s, p) != STORE_OK) {
        return -1;
    }
    int w = buf_append_cstr(out, "<C:response><C:recipient>");
    w |= href(out, addr);
    w |= buf_append_cstr(out, "</C:recipient><C:request-status>");
    if (rc != STORE_OK) {
        /* RFC 6638 §3.2.9's codes: an unknown user of ours, or one we cannot reach */
        w |= buf_append_cstr(out, in_domain ? "3.7;Invalid calendar user"
                                            : "5.3;No scheduling support for user");
        w |= buf_append_cstr(out, "</C:request-status></C:response>");
        s->i++;
        return w == 0 ? 1 : -1;
    }
    char a[FB_UTC_LEN], b[FB_UTC_LEN], now[FB_UTC_LEN];
    fb_utc(s->req.start, a);
    fb_utc(s->req.end, b);
    fb_utc(time_now(), now);
    w |= buf_append_cstr(out, "2.0;Success</C:request-status><C:calendar-data>");
    const char *head = arena_printf(
        dr->arena,
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Almanac//Scheduling//EN\r\nMETHOD:REPLY\r\n"
        "BEGIN:VFREEBUSY\r\n%s%s%sDTSTAMP:%s\r\nDTSTART:%s\r\nDTEND:%s\r\nORGANIZER:%s\r\n"
        "ATTENDEE:%s\r\n",
        s->req.uid ? "UID:" : "", s->req.uid ? s->req.uid : "", s->req.uid ? "\r\n" : "", now, a, b,
        s->req.organizer, addr);
    w |= xmlout_text(out, slice_from_cstr(head));
    s->open = true;
    return w == 0 ? 1 : -1;
}

/* Busy time of the next item of the open calendar, or the next calendar, or the end of the
 * attendee's answer. */
static int fb_items(struct fb_stream *s, struct buf *out)
{
    struct dav_req *dr = s->dr;
    for (;;) {
        if (!s->cur) {
            if (s->ci == s->ncals) {
                s->open = false;
                s->i++;
                int w = xmlout_text(out, SLICE_LIT("END:VFREEBUSY\r\nEND:VCALENDAR\r\n"));
                w |= buf_append_cstr(out, "</C:calendar-data></C:response>");
                return w == 0 ? 1 : -1;
            }
            if (store_items_in_range_open(dr->store, s->cals[s->ci++], s->req.start, s->req.end,
                                          STORE_RANGE_INSTANCES | STORE_RANGE_CONTENT,
                                          &s->cur) != STORE_OK) {
                return -1;
            }
        }
        struct store_item it;
        enum store_rc rc = store_cursor_next_item(s->cur, &it);
        if (rc == STORE_NOTFOUND) {
            store_cursor_close(&s->cur);
            continue;
        }
        if (rc != STORE_OK) {
            return -1;
        }
        if (it.cal.comp != 0 && !(it.cal.comp & CAL_COMP_VEVENT)) {
            continue;
        }
        struct arena_mark m = arena_mark(dr->arena);
        struct store_item full;
        struct err e;
        err_init(&e);
        size_t before = out->len;
        int w = 0;
        if (store_item_get(dr->store, it.coll, it.name, STORE_ITEM_CONTENT, dr->arena, &full) ==
            STORE_OK) {
            /* busy times only: no summary, no location (RFC 6638 §3.3) */
            w = cal_busy((struct slice){full.content, full.size}, s->req.start, s->req.end,
                         dr->arena, fb_period, out, &e);
        }
        arena_rewind(dr->arena, m);
        if (w < 0 && out->len == before && e.cond && e.cond != &err_cond_time_budget) {
            continue; /* a stored object that no longer parses blocks no time */
        }
        if (w != 0) {
            return -1;
        }
        if (out->len > before) {
            return 1;
        }
    }
}

static int fb_next(void *ctx, struct buf *out)
{
    struct fb_stream *s = ctx;
    if (s->open) {
        return fb_items(s, out);
    }
    if (s->i == s->req.nattendees) {
        return 0;
    }
    return fb_start(s, out);
}

/* POST to the user's own schedule outbox: a VFREEBUSY request answered for each attendee
 * from their calendars (local users; others get a request-status), streamed attendee by
 * attendee. Conditions: dav_cond_method_not_allowed (405) elsewhere,
 * sched_cond_valid_scheduling_message, sched_cond_organizer_allowed and
 * sched_cond_max_attendees (403). */
static int post_run(struct dav_req *dr, struct err *err)
{
    const char *path = http_req_path(dr->http);
    const char *home = dav_child_href(dr->arena, "/calendars/", dr->user, true);
    const char *outbox = dav_child_href(dr->arena, home, "outbox", true);
    size_t n = strlen(outbox);
    if (strcmp(path, outbox) != 0 &&
        !(strlen(path) == n - 1 && strncmp(path, outbox, n - 1) == 0)) {
        return err_set(err, &dav_cond_method_not_allowed,
                       "POST takes a free-busy request at your schedule outbox, %s", outbox);
    }
    struct fb_stream *s = arena_zalloc(dr->arena, sizeof(*s));
    s->dr = dr;
    if (sched_freebusy_request(buf_slice(dav_req_body(dr)), dr->arena, &s->req, err) != 0) {
        return -1;
    }
    unsigned max = sched_config()->max_attendees;
    if (s->req.nattendees > max) {
        return err_set(err, &sched_cond_max_attendees,
                       "the request names %zu attendees; this server answers at most %u",
                       s->req.nattendees, max);
    }
    if (dav_begin_read(dr, err) != 0) {
        return -1;
    }
    struct store_principal me;
    uint64_t org = 0;
    enum store_rc rc = self(dr, &me) == 0
                           ? sched_addr_resolve(dr->store, s->req.organizer, dr->arena, &org, NULL)
                           : STORE_IO;
    if (rc != STORE_OK && rc != STORE_NOTFOUND) {
        return dav_store_err(dr, rc, err);
    }
    if (rc == STORE_NOTFOUND || org != me.id) {
        return err_set(err, &sched_cond_organizer_allowed,
                       "the ORGANIZER %s is not one of your addresses", s->req.organizer);
    }
    arena_defer(dr->arena, fb_close, s);
    dav_stream(dr, 200, "application/xml; charset=utf-8",
               "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<C:schedule-response "
               "xmlns:D=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:caldav\">",
               "</C:schedule-response>\n", fb_next, s);
    return 0;
}

const struct dav_method caldav_outbox_post = {.run = post_run, .raw_body = true};
