/* calstore/deliver.h: implicit scheduling inside the one calendar write path (calstore's
 * own; docs/scheduling.md). calstore_put and calstore_delete plan a write's scheduling before
 * the store write (refusals, the organizer's SCHEDULE-STATUS) and deliver after it, in the
 * same transaction: the organizer's write and every local attendee's copy commit together
 * or not at all. */
#ifndef ALMANAC_CALSTORE_DELIVER_H
#define ALMANAC_CALSTORE_DELIVER_H

#include "calstore/calstore.h"
#include "sched/sched.h"

enum deliver_role {
    DELIVER_NONE,      /* not a scheduling object of the calendar's owner, or no scheduling */
    DELIVER_ORGANIZER, /* the owner organizes it: requests and cancels go out */
    DELIVER_ATTENDEE,  /* the owner attends it: a reply may go out */
};

/* One write's scheduling, between its two halves; in the writer's arena. */
struct deliver_plan {
    enum deliver_role role;
    const char *uid;
    const char *org_addr;   /* the ORGANIZER's address */
    struct sched_msg *msgs; /* organizer: the messages, */
    uint64_t *to;           /* and each one's local principal (0: not local) */
    bool *by_mail;          /* and whether it goes out by iMIP (an outside mailto:) */
    size_t nmsgs;
    uint64_t owner;     /* the calendar's owner, whom the write speaks for */
    const char *self;   /* attendee: the owner's address in the object, */
    struct slice reply; /* the reply (empty: none), */
    struct slice copy;  /* the attendee's copy as written (the mail's summary), */
    uint64_t organizer; /* and the organizer's local principal (0: not local), */
    bool org_outside;   /* and whether they are outside (not of mail_domain): the reply
                           then goes by iMIP when it is a mailto: */
    bool tag;           /* the written item gets a new Schedule-Tag */
};

/* Plans the scheduling of a write of calendar `coll` from `before` (the stored object, an
 * empty slice when none) to *content (an empty slice for a delete): the role, the messages
 * or the reply, and for an organizer *content replaced by the object with SCHEDULE-STATUS
 * on its ATTENDEE lines (RFC 6638 §3.2.1). CALSTORE_OK; CALSTORE_DENIED with
 * sched_cond_allowed_attendee_change or sched_cond_max_attendees in err;
 * CALSTORE_STORE with res->store_rc; CALSTORE_INVALID when an object no longer parses. */
enum calstore_rc deliver_plan(const struct calstore_writer *w,
                              const struct store_coll *coll,
                              struct slice before,
                              struct slice *content,
                              struct deliver_plan *plan,
                              struct calstore_res *res,
                              struct err *err);

/* Carries out `plan` after the store write of item `item` (0 for a delete) at `modseq`:
 * the Schedule-Tag, then each local recipient's copy written, replaced or deleted through
 * calstore as that recipient with scheduling off, and a notice in their schedule inbox.
 * Same returns as deliver_plan; a store failure fails the whole write. */
enum calstore_rc deliver_run(const struct calstore_writer *w,
                             const struct deliver_plan *plan,
                             uint64_t item,
                             uint64_t modseq,
                             struct calstore_res *res,
                             struct err *err);

/* The parts of the delivery that iMIP's incoming messages reuse (calstore/imip.c), inside
 * the caller's write transaction:
 *  - deliver_request: the REQUEST or CANCEL `m` delivered to local principal `to` as
 *    deliver_run does for a local organizer (plan->uid and plan->org_addr are read);
 *  - deliver_reply: plan->reply from plan->self merged into the organizer plan->organizer's
 *    copy of plan->uid (PARTSTAT, SCHEDULE-STATUS 2.0), and the notice in their inbox;
 *  - deliver_lookup_copy: where principal `p`'s copy of `uid` is, among their calendars;
 *    STORE_NOTFOUND when none holds it (nothing is made);
 *  - deliver_find_copy: the same (*found), or when none holds it their default calendar
 *    taking `comp` (sched_default_calendar), made ("calendar") when they have none;
 *  - deliver_put_copy: `text` written as item `name` of `coll` as principal `p`, scheduling
 *    off (`tag`: a new Schedule-Tag; `like`, `prepared` may be NULL). */
enum calstore_rc deliver_request(const struct calstore_writer *w,
                                 const struct deliver_plan *plan,
                                 const struct sched_msg *m,
                                 uint64_t to,
                                 struct calstore_res *res,
                                 struct err *err);
enum calstore_rc deliver_reply(const struct calstore_writer *w,
                               const struct deliver_plan *plan,
                               struct calstore_res *res,
                               struct err *err);
enum store_rc deliver_lookup_copy(const struct calstore_writer *w,
                                  const struct store_principal *p,
                                  const char *uid,
                                  struct store_coll *coll,
                                  struct store_item *item);
enum store_rc deliver_find_copy(const struct calstore_writer *w,
                                const struct store_principal *p,
                                const char *uid,
                                unsigned comp,
                                struct store_coll *coll,
                                struct store_item *item,
                                bool *found);
enum calstore_rc deliver_put_copy(const struct calstore_writer *w,
                                  uint64_t p,
                                  const struct store_coll *coll,
                                  const char *name,
                                  struct slice text,
                                  bool tag,
                                  const struct calstore_obj *like,
                                  struct calstore_obj *prepared,
                                  struct calstore_res *res,
                                  struct err *err);

#endif
