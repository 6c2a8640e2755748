/* calstore/calstore.h: the one calendar write path every protocol uses (DESIGN.md). CalDAV
 * (PUT, COPY, MOVE, DELETE), /exchange (PROPPATCH and PUT) and ActiveSync (Sync's Add, Change
 * and Delete) create, replace, copy, move and delete calendar objects through these calls
 * only; tests/lint/test_checksrc.sh fails when a store item write appears anywhere else but
 * in the plain-collection paths it names.
 *
 * A write has two halves:
 *  - calstore_prepare(), BEFORE the write transaction (so before the pool's write gate): the
 *    costly part, cal_parse_object()'s parse, validation, recurrence and time-zone
 *    expansion and instance index, under the calendar limits of src/cal. Its verdict, good or
 *    bad, is kept in a struct calstore_obj.
 *  - calstore_put() / _copy() / _move() / _delete(), INSIDE the write transaction: the
 *    access check (calstore_check_write), the verdict, the collection's component set, the
 *    UID conflict, the store write with the index fields (struct store_cal_index, filled
 *    here and nowhere else), and the place the scheduling hook will take.
 *
 * Results are protocol-neutral: CALSTORE_UID_CONFLICT names the item that holds the UID
 * (CalDAV answers no-uid-conflict with its href, ActiveSync the item's Status, /exchange its
 * 403/409), CALSTORE_STORE carries the store's result for the protocol's own mapping, and
 * validation and access refusals come as conditions in `err` (cal_cond_*,
 * calstore_cond_need_privileges).
 *
 * Hook points (issues 12 and 13), each a call every write above passes through:
 *  - access: calstore_check_write(), called first by every write with the operation and the
 *    collection(s) it changes. The owner may do everything, a read-write sharee write the
 *    collection's members, a read sharee nothing (calstore_access, issue 12).
 *  - scheduling: calstore_written(), called after every successful store write with the
 *    operation, the collection, the item's name and its index before and after, counts the
 *    write (calstore_stats) and runs implicit scheduling (RFC 6638; calstore/deliver.h,
 *    docs/scheduling.md): a PUT or DELETE of a scheduling object by its organizer delivers
 *    each local attendee's copy, an attendee's reply updates the organizer's copy, all
 *    inside the writer's transaction. So calstore_put and calstore_delete may also answer
 *    CALSTORE_DENIED with sched_cond_allowed_attendee_change or sched_cond_max_attendees
 *    (403), and CALSTORE_STORE when a delivery's store write failed. */
#ifndef ALMANAC_CALSTORE_CALSTORE_H
#define ALMANAC_CALSTORE_CALSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "util/err.h"
#include "util/slice.h"

#define ERR_COND(sym, name, ns, http, eas) ERR_COND_DECLARE(sym, name, ns, http, eas)
#include "calstore/conds.def"
#undef ERR_COND

/* Who writes, and where: a connection inside a write transaction, the request's arena and
 * the principal the request authenticated as. */
struct calstore_writer {
    struct store *store;
    struct arena *arena;
    uint64_t principal; /* struct store_principal.id */
    bool no_sched;      /* schedule nothing (RFC 6638): a scheduling delivery itself, so it
                           never schedules again, or an import of a file */
};

/* A calendar object validated for writing (calstore_prepare). Borrows the content. */
struct calstore_obj {
    const void *content;
    size_t size;
    const char *content_type;
    unsigned allowed; /* the component set it was validated against */
    int rc;           /* 0: valid; -1: refused, err says why */
    struct err err;
    struct store_cal_index index; /* when valid: uid, span, component, instance index */
};

/* Parses and validates `ics` as one calendar object resource of the component types
 * `allowed` (cal_comp bits; 0 for every type the store keeps), with its recurrence and
 * time-zone expansion and instance index, and keeps the verdict in *obj (strings and index
 * in `arena`). Returns obj->rc; on -1, err (may be NULL) gets obj->err too. Meant to run
 * outside any transaction; never touches the store. */
int calstore_prepare(struct slice ics,
                     const char *content_type,
                     unsigned allowed,
                     struct arena *arena,
                     struct calstore_obj *obj,
                     struct err *err);

/* True when `obj` was prepared on exactly these bytes (a protocol that prepared early and
 * then changed the body must prepare again). */
bool calstore_prepared_on(const struct calstore_obj *obj, const void *content, size_t size);

enum calstore_rc {
    CALSTORE_OK = 0,
    CALSTORE_INVALID,      /* the object is refused: err holds a cal_cond_* condition */
    CALSTORE_DENIED,       /* calstore_check_write refused: err set */
    CALSTORE_UID_CONFLICT, /* another item of the target calendar has the UID: res->holder */
    CALSTORE_STORE,        /* the store failed: res->store_rc, for the protocol's mapping */
};

struct calstore_res {
    enum store_rc store_rc;   /* CALSTORE_STORE */
    const char *uid;          /* CALSTORE_UID_CONFLICT: the UID, */
    const char *holder;       /* and the name of the item of the target calendar holding it */
    struct store_item item;   /* CALSTORE_OK of put, copy: the item as written */
    bool created;             /* CALSTORE_OK of put: the name was new */
    const char *schedule_tag; /* CALSTORE_OK of put: the item's new Schedule-Tag (RFC 6638
                                 §3.2.10; in the arena), NULL when the write gave none */
    bool content_changed;     /* CALSTORE_OK of put: the stored bytes are not the object's
                                 (scheduling added SCHEDULE-STATUS parameters) */
};

enum calstore_op {
    CALSTORE_OP_PUT,         /* create or replace an object */
    CALSTORE_OP_DELETE,      /* delete one */
    CALSTORE_OP_COPY,        /* a copy of an object arrives */
    CALSTORE_OP_MOVE,        /* an object leaves (`coll` the source) or arrives (the target) */
    CALSTORE_OP_ITEM_PROPS,  /* dead properties of a member object change */
    CALSTORE_OP_COLL_PROPS,  /* properties of the collection itself change */
    CALSTORE_OP_COLL_CREATE, /* a collection is made inside `coll` */
    CALSTORE_OP_COLL_DELETE, /* the collection itself is deleted, moved or renamed */
};

/* What a principal may do with a collection (issue 12): its owner everything; a sharee what
 * the grant says; anyone else nothing. */
enum calstore_access {
    CALSTORE_ACCESS_NONE = 0,
    CALSTORE_ACCESS_READ,       /* read: the collection, its members and their properties */
    CALSTORE_ACCESS_READ_WRITE, /* and create, change and delete its members (DAV:bind,
                                   unbind, write-content, and items' write-properties); the
                                   collection's own properties and existence stay the owner's */
    CALSTORE_ACCESS_OWNER,
};

/* `principal`'s access to `coll` into *out: STORE_OK, or the store's failure. Runs inside
 * any transaction (a read suffices). */
enum store_rc calstore_access(struct store *store,
                              uint64_t principal,
                              const struct store_coll *coll,
                              enum calstore_access *out);

/* True when access `a` allows `op` on the collection. */
bool calstore_access_allows(enum calstore_access a, enum calstore_op op);

/* The RFC 3744 privilege (local name in DAV:) `op` needs on the collection: "bind",
 * "unbind", "write-content" or "write-properties" (for a 403 need-privileges body). */
const char *calstore_op_privilege(enum calstore_op op);

/* The access check every write makes first, once per collection it changes: CALSTORE_OK;
 * CALSTORE_DENIED with calstore_cond_need_privileges in err (the message names the
 * privilege); or CALSTORE_STORE with res->store_rc when the store failed to answer. */
enum calstore_rc calstore_check_write(const struct calstore_writer *w,
                                      enum calstore_op op,
                                      const struct store_coll *coll,
                                      struct calstore_res *res,
                                      struct err *err);

/* Creates or replaces item `name` of the calendar `coll` with the prepared object: access,
 * the verdict, coll's component set (obj may have been prepared for more), the UID no other
 * item of coll has, the write. A name held by a collection is the store's STORE_EXISTS. */
enum calstore_rc calstore_put(const struct calstore_writer *w,
                              const struct store_coll *coll,
                              const char *name,
                              const struct calstore_obj *obj,
                              struct calstore_res *res,
                              struct err *err);

/* Deletes item `name` of calendar `coll` (a tombstone stays). STORE_NOTFOUND when absent. */
enum calstore_rc calstore_delete(const struct calstore_writer *w,
                                 const struct store_coll *coll,
                                 const char *name,
                                 struct calstore_res *res,
                                 struct err *err);

/* Copies item `name` of `from` (content, index, dead properties) as `to_name` into calendar
 * `to`, which must not hold that name: the object was validated when it was written into a
 * calendar (the protocol checks that `from` is one and that `to` takes its component). A
 * scheduling object (an ORGANIZER) is not copied into a calendar home that already holds its
 * UID (any copy of one made in its own home): CALSTORE_DENIED with
 * calstore_cond_unique_sched (RFC 6638 §3.2.4.1). A copy schedules nothing. */
enum calstore_rc calstore_copy(const struct calstore_writer *w,
                               const struct store_coll *from,
                               const char *name,
                               const struct store_coll *to,
                               const char *to_name,
                               struct calstore_res *res,
                               struct err *err);

/* Moves item `name` of `from` to `to` as `to_name` (ids and properties kept), either of them
 * a calendar: access to both, and the UID when `to` is a calendar. A scheduling object keeps
 * its scheduling state and sends nothing; moved into a home that holds its UID in another
 * item, CALSTORE_DENIED with calstore_cond_unique_sched (RFC 6638 §3.2.4.1). */
enum calstore_rc calstore_move(const struct calstore_writer *w,
                               const struct store_coll *from,
                               const char *name,
                               const struct store_coll *to,
                               const char *to_name,
                               struct calstore_res *res,
                               struct err *err);

/* Meetings a calendar may hold and still be deleted with calstore_coll_delete: each is
 * parsed and delivered inside the deleting transaction, so the bound keeps that transaction
 * (and the write gate it holds) short. */
enum {
    CALSTORE_COLL_SCHED_MAX = 500
};

/* Deletes collection `coll` with everything below it (store_coll_delete), scheduling first
 * (RFC 6638 §3.2.1.3 and §3.2.2.3) each scheduling object resource of it when it is a
 * calendar, as its own calstore_delete would: the organizer's meetings cancelled for their
 * attendees, the owner's copies of others' meetings answered DECLINED to their organizers.
 * Items with an ORGANIZER are those looked at (the others are deleted with the collection).
 * CALSTORE_DENIED with calstore_cond_too_many_meetings when the calendar holds more than
 * CALSTORE_COLL_SCHED_MAX of them (nothing is deleted), the others as calstore_delete. The
 * calendars below a plain collection are deleted without scheduling. Inside the write
 * transaction, after the protocol's own access check (the owner's: COLL_DELETE). */
enum calstore_rc calstore_coll_delete(const struct calstore_writer *w,
                                      const struct store_coll *coll,
                                      struct calstore_res *res,
                                      struct err *err);

/* An attendee's answer to a meeting (ActiveSync MeetingResponse; docs/scheduling.md). */
enum calstore_answer {
    CALSTORE_ACCEPT,
    CALSTORE_TENTATIVE,
    CALSTORE_DECLINE,
};

/* The owner of calendar `coll` answers the meeting held by its item `name`, their copy:
 * their PARTSTAT (ACCEPTED, TENTATIVE, DECLINED) set in it, for the whole meeting or, with
 * `instance` (the Unix seconds of an instance's RECURRENCE-ID), one instance, and the copy
 * written through calstore_put, so the hook sends the REPLY to the organizer as for any
 * attendee's write. A decline leaves the attendee's calendar, as Exchange does: the whole
 * meeting declined deletes the copy (calstore_delete, whose hook replies DECLINED), one
 * instance declined becomes an EXDATE. Returns CALSTORE_OK with res->item the copy as
 * written (res->item.id 0 when it was deleted); CALSTORE_INVALID with
 * calstore_cond_not_attendee (not a meeting, the owner organizes it, is not among its
 * attendees, or no such instance of theirs) or calstore_cond_not_recurring (an instance of
 * a meeting without RRULE); the others as calstore_put (CALSTORE_STORE with STORE_NOTFOUND
 * when there is no such item). Inside the write transaction. */
enum calstore_rc calstore_respond(const struct calstore_writer *w,
                                  const struct store_coll *coll,
                                  const char *name,
                                  enum calstore_answer answer,
                                  const int64_t *instance,
                                  struct calstore_res *res,
                                  struct err *err);

/* The e-mail addresses (mailto: addresses without the scheme) that are principal `id`'s
 * (named `name`) as a calendar user (docs/scheduling.md "Addresses": the derived one of
 * mail_domain first, then those an admin gave), for a protocol that tells "me" from others
 * in a meeting (ActiveSync's MeetingStatus and ResponseType). *out and *n in the arena (*n
 * 0 when none). Inside any transaction. */
enum store_rc calstore_user_emails(struct store *s,
                                   uint64_t id,
                                   const char *name,
                                   struct arena *arena,
                                   const char *const **out,
                                   size_t *n);

/* Writes that reached calstore_written() since start-up (all threads): the scheduling hook's
 * call site, counted so tests see every path pass through it. */
struct calstore_stats {
    uint64_t put, deleted, copied, moved;
};

void calstore_stats(struct calstore_stats *out);

#endif
