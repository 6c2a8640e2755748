/* eas/cmd_resolve.c: ResolveRecipients (MS-ASCMD 2.2.1.15) for the users of this server:
 * each To names a user (by SMTP address, as scheduling resolves addresses, or by user name),
 * answered as a GAL entry with its address, and, from protocol 14.0 on when Availability is
 * asked, their free/busy over the span as MergedFreeBusy (2.2.3.107): one digit a 30-minute
 * slot, 0 free, 1 tentative, 2 busy, the highest in the slot winning. Names that are no user
 * here are not resolved (Status 4): there is no directory beyond the users. Certificates and
 * pictures are not kept, so none are returned. Limits as Exchange 2010 has them: at most 100
 * To elements with Availability (more: Availability Status 160), a span of 30 minutes to 42
 * days (else Status 5). */
#include <string.h>

#include "calstore/busy.h"
#include "eas/calmap_int.h"
#include "eas/eas_int.h"

enum {
    RR_OK = 1,
    RR_PROTOCOL = 5,       /* the request: a bad or out-of-range Availability span */
    RR_NOT_FOUND = 4,      /* Response: the recipient could not be resolved */
    RR_AV_TOO_MANY = 160,  /* Availability: more than RR_MAX_AV_TO recipients asked */
    RR_AV_TEMP_FAIL = 162, /* Availability: the data could not be had this time */
    RR_TYPE_GAL = 1,       /* Recipient Type: a global address list entry */
    RR_MAX_TO = 1000,      /* To elements a request may carry (more: Status 5) */
    RR_MAX_TO_LEN = 256,   /* characters of a To */
    RR_MAX_AV_TO = 100,    /* To elements with Availability */
    RR_SLOT = 1800,        /* seconds a MergedFreeBusy digit stands for */
    RR_MAX_SPAN = 42 * 86400,
    RR_DEFAULT_SPAN = 7 * 86400,
};

struct span {
    int64_t start;
    int64_t end;
    char *slots; /* one digit a slot, NUL-terminated */
    size_t n;
};

static int mark_busy(void *ctx, int64_t start, int64_t end, enum cal_fbtype type)
{
    struct span *sp = ctx;
    char digit = type == CAL_FB_TENTATIVE ? '1' : '2';
    size_t first = (size_t)((start - sp->start) / RR_SLOT);
    size_t last = (size_t)((end - sp->start + RR_SLOT - 1) / RR_SLOT);
    for (size_t i = first; i < last && i < sp->n; i++) {
        if (sp->slots[i] < digit) {
            sp->slots[i] = digit;
        }
    }
    return 0;
}

/* The span of an Availability element into *sp: 0, or -1 when it is missing or out of
 * range (Status 5). */
static int read_span(const struct eas_node *av, struct arena *arena, struct span *sp)
{
    const char *st = eas_node_text(eas_node_child(av, EAS_RR_STARTTIME), NULL);
    const char *en = eas_node_text(eas_node_child(av, EAS_RR_ENDTIME), NULL);
    if (eas_calmap_parse_time(st, &sp->start) != 0) {
        return -1;
    }
    sp->end = sp->start + RR_DEFAULT_SPAN; /* 2.2.3.61.1: no EndTime, seven days */
    if (en && eas_calmap_parse_time(en, &sp->end) != 0) {
        return -1;
    }
    if (sp->end < sp->start + RR_SLOT || sp->end - sp->start > RR_MAX_SPAN) {
        return -1;
    }
    sp->n = (size_t)((sp->end - sp->start + RR_SLOT - 1) / RR_SLOT);
    sp->slots = arena_alloc(arena, sp->n + 1);
    return 0;
}

/* One Response: the To, its status, and the recipient when it is a user here. Returns the
 * encoder's status, or -1 with *src set when the store failed. */
static int answer_one(
    struct eas_req *er, const char *to, const struct span *want, bool too_many, enum store_rc *src)
{
    struct eas_wbxml_enc *e = &er->enc;
    struct store *s = er->store;
    struct store_principal pr;
    const char *email = NULL;
    *src = calstore_recipient(s, to, er->arena, &pr, &email);
    if (*src != STORE_OK && *src != STORE_NOTFOUND) {
        return -1;
    }
    int rc = eas_enc_start(e, EAS_RR_RESPONSE) | eas_enc_cstr(e, EAS_RR_TO, to);
    if (*src == STORE_NOTFOUND) {
        *src = STORE_OK;
        rc |= eas_enc_uint(e, EAS_RR_STATUS, RR_NOT_FOUND);
        rc |= eas_enc_uint(e, EAS_RR_RECIPIENTCOUNT, 0);
        return rc | eas_enc_end(e);
    }
    rc |= eas_enc_uint(e, EAS_RR_STATUS, RR_OK) | eas_enc_uint(e, EAS_RR_RECIPIENTCOUNT, 1);
    rc |= eas_enc_start(e, EAS_RR_RECIPIENT) | eas_enc_uint(e, EAS_RR_TYPE, RR_TYPE_GAL);
    rc |= eas_enc_cstr(e, EAS_RR_DISPLAYNAME, pr.name);
    rc |= eas_enc_cstr(e, EAS_RR_EMAILADDRESS, email ? email : to);
    if (want) {
        rc |= eas_enc_start(e, EAS_RR_AVAILABILITY);
        struct span sp = *want;
        int w = 0;
        if (!too_many) {
            memset(sp.slots, '0', sp.n);
            sp.slots[sp.n] = '\0';
            struct err berr;
            err_init(&berr);
            w = calstore_busy(s, pr.id, sp.start, sp.end, er->arena, mark_busy, &sp, src, &berr);
            if (w != 0 && *src != STORE_OK) {
                return -1;
            }
        }
        /* the time budget spent: this recipient's data could not be had this time */
        rc |= eas_enc_uint(e, EAS_RR_STATUS,
                           too_many ? RR_AV_TOO_MANY
                           : w      ? RR_AV_TEMP_FAIL
                                    : RR_OK);
        if (!too_many && w == 0) {
            rc |= eas_enc_cstr(e, EAS_RR_MERGEDFREEBUSY, sp.slots);
        }
        rc |= eas_enc_end(e);
    }
    return rc | eas_enc_end(e) | eas_enc_end(e);
}

int eas_cmd_resolverecipients(struct eas_req *er, struct err *err)
{
    const struct eas_node *root = er->root;
    const struct eas_node *opts = eas_node_child(root, EAS_RR_OPTIONS);
    const struct eas_node *av =
        er->version >= 140 ? eas_node_child(opts, EAS_RR_AVAILABILITY) : NULL;
    size_t nto = 0;
    bool bad = !root;
    for (const struct eas_node *t = eas_node_child(root, EAS_RR_TO); t;
         t = eas_node_next(t, EAS_RR_TO)) {
        const char *to = eas_node_text(t, "");
        nto++;
        bad |= to[0] == '\0' || strlen(to) > RR_MAX_TO_LEN;
    }
    struct span sp = {0};
    bad |= nto == 0 || nto > RR_MAX_TO || (av && read_span(av, er->arena, &sp) != 0);
    if (eas_out_begin(er, err) != 0) {
        return -1;
    }
    struct eas_wbxml_enc *e = &er->enc;
    int rc = eas_enc_start(e, EAS_RR_RESOLVERECIPIENTS);
    if (bad) {
        rc |= eas_enc_uint(e, EAS_RR_STATUS, RR_PROTOCOL) | eas_enc_end(e);
        return rc ? eas_out_err(err) : eas_send(er, err);
    }
    if (eas_begin_read(er, err) != 0) {
        return -1;
    }
    rc |= eas_enc_uint(e, EAS_RR_STATUS, RR_OK);
    for (const struct eas_node *t = eas_node_child(root, EAS_RR_TO); t && !rc;
         t = eas_node_next(t, EAS_RR_TO)) {
        enum store_rc src = STORE_OK;
        int w = answer_one(er, eas_node_text(t, ""), av ? &sp : NULL, nto > RR_MAX_AV_TO, &src);
        if (w == -1 && src != STORE_OK) {
            store_rollback(er->store);
            return eas_store_err(er, src, err);
        }
        rc |= w;
    }
    store_rollback(er->store);
    rc |= eas_enc_end(e);
    return rc ? eas_out_err(err) : eas_send(er, err);
}
