/* eas/cmd_meeting.c: MeetingResponse (MS-ASCMD 2.2.1.11), an attendee accepting, tentatively
 * accepting or declining a meeting from the phone. Each Request names the meeting by
 * CollectionId (one of the user's calendars, or one shared with them) and RequestId (the
 * calendar item's ServerId), and from 14.1 on may name one instance of a recurring meeting
 * by InstanceId (its start, a dateTime or Compact DateTime in UTC). The answer is written
 * by calstore_respond(), the one calendar write path, whose scheduling hook sends the REPLY
 * to the organizer exactly as for any attendee's write (docs/scheduling.md). A meeting
 * declined as a whole leaves the attendee's calendar (Exchange deletes it too), so its
 * Result has no CalendarId; an accepted or tentative one answers its ServerId.
 *
 * Invitations are items of the calendar, not of the Inbox: this server's Inbox is the empty
 * folder every client needs (activesync.md §3.2.4), so a RequestId there names nothing and
 * gets Status 2, as does LongId (Search is not served). Each Request has its own write
 * transaction: one refused leaves the others written; a store failure fails the command
 * (503) with the Requests before it committed. */
#include <string.h>

#include "eas/calmap_int.h"
#include "eas/eas_int.h"

enum {
    MR_OK = 1,
    MR_INVALID = 2,        /* invalid meeting request: not one the user attends, no such item */
    MR_BAD_DATETIME = 104, /* InstanceId that is no date-time (MS-ASCMD 2.2.2, common status) */
    MR_NOT_RECURRING = 146 /* InstanceId of a meeting that does not recur */
};

/* The item `rid` of the calendar `cid` answered with `answer` (and `instance`): a Status, and
 * *calendar_id the item's ServerId when it stays. -1 with err set when the store failed. */
static int respond_one(struct eas_req *er,
                       const char *cid,
                       const char *rid,
                       enum calstore_answer answer,
                       const int64_t *instance,
                       unsigned *status,
                       const char **calendar_id,
                       struct err *err)
{
    *status = MR_INVALID;
    *calendar_id = NULL;
    if (eas_begin_write(er, err) != 0) {
        return -1;
    }
    struct store_coll coll;
    enum calstore_access access;
    int found = eas_calendar_access(er, cid, &coll, &access, err);
    if (found < 0) {
        store_rollback(er->store);
        return -1;
    }
    uint64_t c, id;
    struct store_item it;
    enum store_rc src = STORE_NOTFOUND;
    if (found == 0 && eas_item_parse(rid, &c, &id) == 0 && c == coll.id) {
        src = store_item_get_by_id(er->store, coll.id, id, STORE_ITEM_META, er->arena, &it);
    }
    if (src != STORE_OK) {
        store_rollback(er->store);
        return src == STORE_NOTFOUND ? 0 : eas_store_err(er, src, err);
    }
    struct calstore_writer w = {
        .store = er->store, .arena = er->arena, .principal = er->principal.id};
    struct calstore_res res;
    struct err ce;
    err_init(&ce);
    enum calstore_rc rc = calstore_respond(&w, &coll, it.name, answer, instance, &res, &ce);
    if (rc == CALSTORE_STORE && res.store_rc != STORE_NOTFOUND) {
        store_rollback(er->store);
        return eas_store_err(er, res.store_rc, err);
    }
    if (rc != CALSTORE_OK) {
        /* not a meeting the user attends, an instance that is not theirs, a calendar they
         * may only read, an item gone meanwhile: Status 2, "stop sending the item" */
        store_rollback(er->store);
        *status = ce.cond == &calstore_cond_not_recurring ? MR_NOT_RECURRING : MR_INVALID;
        return 0;
    }
    if (eas_commit(er, err) != 0) {
        return -1;
    }
    *status = MR_OK;
    if (res.item.id) {
        *calendar_id = eas_item_id(er->arena, coll.id, res.item.id);
    }
    return 0;
}

int eas_cmd_meetingresponse(struct eas_req *er, struct err *err)
{
    if (eas_out_begin(er, err) != 0) {
        return -1;
    }
    const struct eas_node *first = er->root ? eas_node_child(er->root, EAS_MR_REQUEST) : NULL;
    if (!first) {
        return err_set(err, &eas_cond_bad_request, "a MeetingResponse without a Request");
    }
    struct eas_wbxml_enc *e = &er->enc;
    int rc = eas_enc_start(e, EAS_MR_MEETINGRESPONSE);
    for (const struct eas_node *r = er->root ? er->root->child : NULL; r && !rc; r = r->next) {
        if (r->tag != EAS_MR_REQUEST) {
            continue;
        }
        const char *cid = eas_node_text(eas_node_child(r, EAS_MR_COLLECTIONID), "");
        const char *rid = eas_node_text(eas_node_child(r, EAS_MR_REQUESTID), "");
        const char *iid = eas_node_text(eas_node_child(r, EAS_MR_INSTANCEID), NULL);
        uint64_t ur = 0;
        unsigned status = MR_INVALID;
        const char *calendar_id = NULL;
        int64_t at;
        if (eas_node_uint(eas_node_child(r, EAS_MR_USERRESPONSE), 3, &ur) != 0 || ur == 0) {
            status = MR_INVALID;
        } else if (iid && (er->version == 121 || er->version == 140)) {
            status = MR_INVALID; /* MS-ASCMD 2.2.3.92.1: InstanceId is 14.1 and later */
        } else if (iid && eas_calmap_parse_time(iid, &at) != 0) {
            status = MR_BAD_DATETIME;
        } else {
            static const enum calstore_answer answers[] = {
                [1] = CALSTORE_ACCEPT, [2] = CALSTORE_TENTATIVE, [3] = CALSTORE_DECLINE};

            if (respond_one(er, cid, rid, answers[ur], iid ? &at : NULL, &status, &calendar_id,
                            err) != 0) {
                return -1;
            }
        }
        rc |= eas_enc_start(e, EAS_MR_RESULT);
        rc |= eas_enc_cstr(e, EAS_MR_REQUESTID, rid);
        rc |= eas_enc_uint(e, EAS_MR_STATUS, status);
        if (calendar_id) {
            rc |= eas_enc_cstr(e, EAS_MR_CALENDARID, calendar_id);
        }
        rc |= eas_enc_end(e);
    }
    rc |= eas_enc_end(e);
    return rc ? eas_out_err(err) : eas_send(er, err);
}
