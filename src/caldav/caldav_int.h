/* caldav/caldav_int.h: what caldav.c and report.c share. */
#ifndef ALMANAC_CALDAV_CALDAV_INT_H
#define ALMANAC_CALDAV_CALDAV_INT_H

#include "cal/cal.h"
#include "dav/ext.h"

/* Sync tokens (RFC 6578 §3.2) are URIs: collection id, epoch, modseq. A token names a point of
 * the collection's change log; the epoch makes tokens from before a history cut invalid. */
#define CALDAV_TOKEN_PREFIX "urn:x-almanac:sync:"

/* The token of `c` at `modseq`, in the arena. */
const char *caldav_sync_token(struct arena *a, const struct store_coll *c, uint64_t modseq);

/* How calendar-data is returned in this request (RFC 4791 §9.6), set by REPORT. */
struct caldav_data_opts {
    bool expand; /* §9.6.5: instances of [start, end) in UTC */
    int64_t start;
    int64_t end;
    bool limit; /* §9.6.6: only overrides that touch [limit_start, limit_end) */
    int64_t limit_start;
    int64_t limit_end;
    struct cal_select *select; /* §9.6.1: the components and properties asked for, or NULL */
};

/* caldav's state for one request (its dav_ext_state slot). */
struct calstore_obj;

struct caldav_req {
    const struct caldav_data_opts *data; /* a REPORT's, for the calendar-data getter */
    struct calstore_obj *put;            /* pre_put's verdict on the PUT body, for cal_put */
};

/* The request's caldav state, made (zeroed, in the arena) on first use. */
struct caldav_req *caldav_req(struct dav_req *dr);

/* REPORT: calendar-multiget, calendar-query, sync-collection (report.c). */
extern const struct dav_method caldav_report;

/* GET and HEAD: a calendar collection as one iCalendar file when asked (export.c); every
 * other GET as the WebDAV core answers it. */
extern const struct dav_method caldav_get;

/* POST (caldav.c) goes to one of two methods by the body's type: a text/calendar body is a
 * free-busy request for the schedule outbox (sched.c), any other Apple's calendar sharing
 * (share.c). */
extern const struct dav_method caldav_post;

/* Apple's calendar sharing (share.c): POST of CS:share / CS:invite-reply, and the
 * properties that describe a share (live-property getters). */
extern const struct dav_method caldav_share_post;
int caldav_get_invite(struct dav_req *dr, const struct dav_res *r, struct buf *out);
int caldav_get_allowed_sharing_modes(struct dav_req *dr, const struct dav_res *r, struct buf *out);
int caldav_get_shared_url(struct dav_req *dr, const struct dav_res *r, struct buf *out);

/* Implicit scheduling (sched.c; RFC 6638): live property getters, as dav_live_prop's. */
int caldav_get_user_address_set(struct dav_req *dr, const struct dav_res *r, struct buf *out);
int caldav_get_schedule_inbox_url(struct dav_req *dr, const struct dav_res *r, struct buf *out);
int caldav_get_schedule_outbox_url(struct dav_req *dr, const struct dav_res *r, struct buf *out);
int caldav_get_default_calendar_url(struct dav_req *dr, const struct dav_res *r, struct buf *out);
int caldav_get_schedule_tag(struct dav_req *dr, const struct dav_res *r, struct buf *out);

/* POST to the schedule outbox: a free-busy request (RFC 6638 §3.3; sched.c). */
extern const struct dav_method caldav_outbox_post;

/* RFC 6638 §8.3: when the request has If-Schedule-Tag-Match, the item `name` of `coll` must
 * exist with that Schedule-Tag. 0, or -1 with sched_cond_schedule_tag (412) or the store's
 * condition. Inside the write transaction, before the write. */
/* The dav_ext hooks of scheduling (sched.c): Schedule-Tag on GET/HEAD of an item, and
 * the inbox's and outbox's resourcetype. */
enum store_rc caldav_item_headers(struct dav_req *dr,
                                  const struct store_coll *coll,
                                  uint64_t item_id,
                                  uint64_t modseq,
                                  bool deleted,
                                  bool error);
const char *caldav_resourcetype(struct dav_req *dr, const struct dav_res *r);
int caldav_schedule_tag_match(struct dav_req *dr,
                              const struct store_coll *coll,
                              const char *name,
                              struct err *err);

#endif
