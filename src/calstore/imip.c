/* calstore/imip.c: iMIP messages that come in, and the status of those that could not go
 * out (calstore/imip.h). Reads the message with sched's iMIP reader, checks that it comes
 * from whom it speaks for, and delivers it with the write hook's own functions (deliver.h),
 * as the recipient with scheduling off: an incoming message never schedules again. */
#include "calstore/imip.h"

#include <string.h>

#include "calstore/deliver.h"
#include "sched/imip.h"
#include "sched/sched.h"

_Static_assert((int)CALSTORE_IMIP_MAX_MESSAGE == (int)SCHED_IMIP_MAX_MESSAGE, "one limit");

void calstore_imip_configure(const char *mail_domain, const char *imip_from, unsigned max_attendees)
{
    sched_configure(&(struct sched_config){
        .mail_domain = mail_domain, .imip_from = imip_from, .max_attendees = max_attendees});
}

static enum calstore_rc store_failed(struct calstore_res *res, enum store_rc rc)
{
    res->store_rc = rc;
    return CALSTORE_STORE;
}

/* The METHOD property of `ics` (the first line starting "METHOD:"), upper-cased, or NULL. */
static const char *method_of(struct slice ics, struct arena *a)
{
    for (size_t i = 0; i < ics.len;) {
        const char *nl = memchr(ics.ptr + i, '\n', ics.len - i);
        size_t end = nl ? (size_t)(nl - ics.ptr) : ics.len;
        struct slice line = {ics.ptr + i, end - i};
        if (line.len && line.ptr[line.len - 1] == '\r') {
            line.len--;
        }
        if (line.len > 7 && slice_eq_ci((struct slice){line.ptr, 7}, SLICE_LIT("METHOD:"))) {
            char *m = arena_strndup(a, line.ptr + 7, line.len - 7);
            for (char *p = m; *p; p++) {
                *p = (*p >= 'a' && *p <= 'z') ? (char)(*p - 'a' + 'A') : *p;
            }
            return m;
        }
        i = end + 1;
    }
    return NULL;
}

/* True when calendar user address `addr` is mailto:`from`. */
static bool is_from(const char *addr, const char *from, struct arena *a)
{
    const char *box = sched_imip_mailbox(addr, a);
    return box && slice_eq_ci(slice_from_cstr(box), slice_from_cstr(from));
}

static enum calstore_rc receive_reply(const struct calstore_writer *w,
                                      const struct sched_info *info,
                                      struct slice ics,
                                      const char *from,
                                      struct calstore_imip_result *out,
                                      struct calstore_res *res,
                                      struct err *err)
{
    if (info->nattendees == 0) {
        err_set(err, &sched_cond_imip_bad_message, "the REPLY names no ATTENDEE");
        return CALSTORE_INVALID;
    }
    for (size_t i = 0; i < info->nattendees; i++) {
        if (!is_from(info->attendees[i], from, w->arena)) {
            err_set(err, &sched_cond_imip_sender,
                    "the reply of %.80s comes from %.80s: a reply is taken only from the attendee",
                    info->attendees[i], from);
            return CALSTORE_DENIED;
        }
    }
    uint64_t org = 0;
    enum store_rc rc = sched_addr_resolve(w->store, info->organizer, w->arena, &org, NULL);
    if (rc == STORE_NOTFOUND) {
        err_set(err, &sched_cond_imip_no_recipient, "the organizer %.80s is no user here",
                info->organizer);
        return CALSTORE_DENIED;
    }
    if (rc != STORE_OK) {
        return store_failed(res, rc);
    }
    struct store_principal p;
    rc = store_principal_get_by_id(w->store, org, w->arena, &p);
    if (rc != STORE_OK) {
        return store_failed(res, rc);
    }
    struct store_coll coll;
    struct store_item item;
    rc = deliver_lookup_copy(w, &p, info->uid, &coll, &item);
    if (rc != STORE_OK && rc != STORE_NOTFOUND) {
        return store_failed(res, rc);
    }
    if (rc == STORE_NOTFOUND) {
        err_set(err, &sched_cond_imip_no_recipient, "the organizer %.80s has no event %.80s",
                info->organizer, info->uid);
        return CALSTORE_DENIED;
    }
    struct deliver_plan plan = {
        .role = DELIVER_ATTENDEE,
        .uid = info->uid,
        .org_addr = info->organizer,
        .self = info->attendees[0],
        .reply = ics,
        .organizer = org,
    };
    enum calstore_rc crc = deliver_reply(w, &plan, res, err);
    out->delivered = crc == CALSTORE_OK;
    return crc;
}

static enum calstore_rc receive_request(const struct calstore_writer *w,
                                        const struct sched_info *info,
                                        enum sched_method method,
                                        struct slice ics,
                                        const char *from,
                                        struct calstore_imip_result *out,
                                        struct calstore_res *res,
                                        struct err *err)
{
    uint64_t org = 0;
    enum store_rc rc = sched_addr_resolve(w->store, info->organizer, w->arena, &org, NULL);
    if (rc == STORE_OK) {
        err_set(err, &sched_cond_imip_sender,
                "the organizer %.80s is a user here: their meetings do not come by mail",
                info->organizer);
        return CALSTORE_DENIED;
    }
    if (rc != STORE_NOTFOUND) {
        return store_failed(res, rc);
    }
    if (!is_from(info->organizer, from, w->arena)) {
        err_set(err, &sched_cond_imip_sender,
                "the %s of %.80s comes from %.80s: it is taken only from the organizer",
                sched_method_name(method), info->organizer, from);
        return CALSTORE_DENIED;
    }
    /* the bound of one write's deliveries, as for a local organizer (RFC 4791 §5.3.2.1) */
    unsigned max = sched_config()->max_attendees;
    if (info->max_per_instance > max) {
        err_set(err, &sched_cond_max_attendees,
                "an instance has %zu attendees; this server schedules at most %u",
                info->max_per_instance, max);
        return CALSTORE_DENIED;
    }
    struct deliver_plan plan = {
        .role = DELIVER_ORGANIZER, .uid = info->uid, .org_addr = info->organizer};
    for (size_t i = 0; i < info->nattendees; i++) {
        uint64_t to = 0;
        rc = sched_addr_resolve(w->store, info->attendees[i], w->arena, &to, NULL);
        if (rc == STORE_NOTFOUND) {
            continue;
        }
        if (rc != STORE_OK) {
            return store_failed(res, rc);
        }
        struct sched_msg m = {.attendee = info->attendees[i], .method = method, .ics = ics};
        enum calstore_rc crc = deliver_request(w, &plan, &m, to, res, err);
        if (crc != CALSTORE_OK) {
            return crc;
        }
        out->delivered++;
    }
    if (!out->delivered) {
        err_set(err, &sched_cond_imip_no_recipient, "no ATTENDEE of %.80s is a user here",
                info->uid);
        return CALSTORE_DENIED;
    }
    return CALSTORE_OK;
}

enum calstore_rc calstore_imip_receive(struct store *s,
                                       struct slice msg,
                                       struct arena *arena,
                                       struct calstore_imip_result *out,
                                       struct calstore_res *res,
                                       struct err *err)
{
    memset(out, 0, sizeof(*out));
    memset(res, 0, sizeof(*res));
    struct sched_imip_in in;
    if (sched_imip_parse(msg, arena, &in, err) != 0) {
        return CALSTORE_INVALID;
    }
    out->from = in.from;
    const char *method = method_of(in.ics, arena);
    if (!method) {
        err_set(err, &sched_cond_imip_bad_message, "the calendar part has no METHOD");
        return CALSTORE_INVALID;
    }
    out->method = method;
    enum sched_method m;
    if (strcmp(method, "REPLY") == 0) {
        m = SCHED_REPLY;
    } else if (strcmp(method, "REQUEST") == 0) {
        m = SCHED_REQUEST;
    } else if (strcmp(method, "CANCEL") == 0) {
        m = SCHED_CANCEL;
    } else {
        err_set(err, &sched_cond_imip_bad_message,
                "METHOD:%.40s is not taken by mail (REQUEST, CANCEL and REPLY are)", method);
        return CALSTORE_INVALID;
    }
    struct sched_info info;
    if (sched_info(in.ics, arena, &info, err) != 0) {
        return CALSTORE_INVALID;
    }
    if (!info.organizer || !info.uid) {
        err_set(err, &sched_cond_imip_bad_message, "the %s has no ORGANIZER or no UID", method);
        return CALSTORE_INVALID;
    }
    out->uid = info.uid;
    struct calstore_writer w = {.store = s, .arena = arena, .no_sched = true};
    if (m == SCHED_REPLY) {
        return receive_reply(&w, &info, in.ics, in.from, out, res, err);
    }
    return receive_request(&w, &info, m, in.ics, in.from, out, res, err);
}

struct one_status {
    const char *attendee;
    const char *status;
};

static const char *status_of(void *ctx, const char *attendee)
{
    struct one_status *o = ctx;
    return sched_addr_eq(attendee, o->attendee) ? o->status : NULL;
}

enum calstore_rc calstore_imip_status(struct store *s,
                                      uint64_t principal,
                                      const char *uid,
                                      const char *attendee,
                                      const char *status,
                                      struct arena *arena,
                                      struct calstore_res *res,
                                      struct err *err)
{
    memset(res, 0, sizeof(*res));
    struct calstore_writer w = {.store = s, .arena = arena, .no_sched = true};
    struct store_principal p;
    enum store_rc rc = store_principal_get_by_id(s, principal, arena, &p);
    if (rc == STORE_NOTFOUND) {
        return CALSTORE_OK;
    }
    if (rc != STORE_OK) {
        return store_failed(res, rc);
    }
    struct store_coll coll;
    struct store_item item;
    rc = deliver_lookup_copy(&w, &p, uid, &coll, &item);
    if (rc != STORE_OK) {
        return rc == STORE_NOTFOUND ? CALSTORE_OK : store_failed(res, rc);
    }
    struct store_item full;
    rc = store_item_get(s, coll.id, item.name, STORE_ITEM_CONTENT, arena, &full);
    if (rc != STORE_OK) {
        return store_failed(res, rc);
    }
    struct one_status o = {attendee, status};
    struct slice text;
    if (sched_set_status((struct slice){full.content, full.size}, status_of, &o, arena, &text,
                         err) != 0) {
        return CALSTORE_INVALID;
    }
    return deliver_put_copy(&w, principal, &coll, item.name, text, false, NULL, NULL, res, err);
}
