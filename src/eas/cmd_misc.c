/* eas/cmd_misc.c: GetItemEstimate (§3.4), Settings (§3.6), ItemOperations Fetch (§3.7), and
 * the answer to commands a calendar server does not carry out (§3.8). */
#include <string.h>

#include "eas/eas_int.h"

enum {
    GIE_OK = 1,
    GIE_BAD_COLLECTION = 2,
    GIE_NOT_PRIMED = 3,
    GIE_BAD_KEY = 4,
    SET_OK = 1,
    SET_PROTOCOL = 2,
    IO_OK = 1,
    IO_PROTOCOL = 2,
    IO_NOT_FOUND = 6,
    IO_CONVERSION = 14,
    IO_UNSUPPORTED = 156,
};

/* ---------------------------------------------------------------------------------------- */
/* GetItemEstimate: counted by the change-log index after the device's cursor, capped; the
 * count may include rows the device will not get (tombstones of items it never held). */

static int estimate_one(struct eas_req *er, const struct eas_node *c, struct eas_wbxml_enc *e)
{
    const char *id = eas_node_text(eas_node_child(c, EAS_GIE_COLLECTIONID), "");
    const char *key = eas_node_text(eas_node_child(c, EAS_AS_SYNCKEY), NULL);
    struct store_coll coll;
    unsigned status = GIE_OK;
    uint64_t count = 0;
    struct store_eas_sync st;
    struct err fe;
    err_init(&fe);
    int found = eas_calendar_of(er, id, &coll, &fe);
    if (found < 0) {
        return -1; /* the store failed */
    }
    if (found > 0) {
        status = eas_dummy_folder(id) ? GIE_OK : GIE_BAD_COLLECTION;
    } else if (!key || strcmp(key, "0") == 0) {
        status = GIE_NOT_PRIMED;
    } else {
        enum store_rc rc = store_eas_sync_get(er->store, er->device.id, coll.id, er->arena, &st);
        if (rc == STORE_NOTFOUND) {
            status = GIE_NOT_PRIMED;
        } else if (rc != STORE_OK) {
            return -1;
        } else if (strcmp(key, st.key_cur) != 0 &&
                   !(st.key_prev && strcmp(key, st.key_prev) == 0)) {
            status = GIE_BAD_KEY;
        } else if (store_changes_count(er->store, coll.id, st.cursor, EAS_ESTIMATE_CAP, &count) !=
                   STORE_OK) {
            return -1;
        }
    }
    int rc = eas_enc_start(e, EAS_GIE_RESPONSE);
    rc |= eas_enc_uint(e, EAS_GIE_STATUS, status);
    rc |= eas_enc_start(e, EAS_GIE_COLLECTION);
    rc |= eas_enc_cstr(e, EAS_GIE_COLLECTIONID, id);
    if (status == GIE_OK) {
        rc |= eas_enc_uint(e, EAS_GIE_ESTIMATE, count);
    }
    rc |= eas_enc_end(e) | eas_enc_end(e);
    return rc ? -2 : 0;
}

int eas_cmd_getitemestimate(struct eas_req *er, struct err *err)
{
    const struct eas_node *colls = eas_node_child(er->root, EAS_GIE_COLLECTIONS);
    if (eas_out_begin(er, err) != 0 || eas_begin_read(er, err) != 0) {
        return -1;
    }
    struct eas_wbxml_enc *e = &er->enc;
    int bad = eas_enc_start(e, EAS_GIE_GETITEMESTIMATE);
    const struct eas_node *first = eas_node_child(colls, EAS_GIE_COLLECTION);
    if (!first) {
        /* MS-ASCMD 2.2.3.177.6: no collection named (an empty body, or no Collection) is
         * "a collection was invalid"; an answer without any Status would tell nothing. */
        bad |= eas_enc_start(e, EAS_GIE_RESPONSE);
        bad |= eas_enc_uint(e, EAS_GIE_STATUS, GIE_BAD_COLLECTION);
        bad |= eas_enc_end(e);
    }
    for (const struct eas_node *c = first; c && !bad; c = eas_node_next(c, EAS_GIE_COLLECTION)) {
        int rc = estimate_one(er, c, e);
        if (rc == -1) {
            store_rollback(er->store);
            return eas_store_err(er, STORE_IO, err);
        }
        bad |= rc;
    }
    store_rollback(er->store);
    bad |= eas_enc_end(e);
    return bad ? eas_out_err(err) : eas_send(er, err);
}

/* ---------------------------------------------------------------------------------------- */
/* Settings */

int eas_cmd_settings(struct eas_req *er, struct err *err)
{
    const struct eas_node *root = er->root;
    const struct eas_node *dev = eas_node_child(root, EAS_SET_DEVICEINFORMATION);
    const struct eas_node *ui = eas_node_child(root, EAS_SET_USERINFORMATION);
    const struct eas_node *oof = eas_node_child(root, EAS_SET_OOF);
    const struct eas_node *pw = eas_node_child(root, EAS_SET_DEVICEPASSWORD);
    const struct eas_node *set = eas_node_child(dev, EAS_SET_SET);
    int devinfo_status = set ? eas_store_device_info(er, set, err) : EAS_DEVINFO_PROTOCOL;
    if (devinfo_status < 0) {
        return -1;
    }
    if (eas_out_begin(er, err) != 0) {
        return -1;
    }
    struct eas_wbxml_enc *e = &er->enc;
    int rc = eas_enc_start(e, EAS_SET_SETTINGS);
    rc |= eas_enc_uint(e, EAS_SET_STATUS, root ? SET_OK : SET_PROTOCOL);
    if (oof) {
        rc |= eas_enc_start(e, EAS_SET_OOF) | eas_enc_uint(e, EAS_SET_STATUS, SET_OK);
        if (eas_node_child(oof, EAS_SET_GET)) {
            rc |= eas_enc_start(e, EAS_SET_GET) | eas_enc_uint(e, EAS_SET_OOFSTATE, 0) |
                  eas_enc_end(e);
        }
        rc |= eas_enc_end(e);
    }
    if (dev) {
        rc |= eas_enc_start(e, EAS_SET_DEVICEINFORMATION) |
              eas_enc_uint(e, EAS_SET_STATUS, (unsigned)devinfo_status) | eas_enc_end(e);
    }
    if (pw) {
        rc |= eas_enc_start(e, EAS_SET_DEVICEPASSWORD) | eas_enc_uint(e, EAS_SET_STATUS, SET_OK) |
              eas_enc_end(e);
    }
    if (ui) {
        const char *mail = arena_printf(er->arena, "%s@%s", er->user, er->app->cfg.mail_domain);
        rc |= eas_enc_start(e, EAS_SET_USERINFORMATION) | eas_enc_uint(e, EAS_SET_STATUS, SET_OK);
        rc |= eas_enc_start(e, EAS_SET_GET);
        if (er->version >= 141) {
            rc |= eas_enc_start(e, EAS_SET_ACCOUNTS) | eas_enc_start(e, EAS_SET_ACCOUNT);
            rc |= eas_enc_cstr(e, EAS_SET_USERDISPLAYNAME, er->user);
            rc |= eas_enc_start(e, EAS_SET_EMAILADDRESSES);
            rc |= eas_enc_cstr(e, EAS_SET_PRIMARYSMTPADDRESS, mail);
            rc |= eas_enc_end(e) | eas_enc_end(e) | eas_enc_end(e);
        } else {
            rc |= eas_enc_start(e, EAS_SET_EMAILADDRESSES);
            rc |= eas_enc_cstr(e, EAS_SET_SMTPADDRESS, mail);
            rc |= eas_enc_end(e);
        }
        rc |= eas_enc_end(e) | eas_enc_end(e);
    }
    rc |= eas_enc_end(e);
    return rc ? eas_out_err(err) : eas_send(er, err);
}

/* ---------------------------------------------------------------------------------------- */
/* ItemOperations: Fetch of a calendar item by CollectionId + ServerId. */

enum {
    FETCH_STORE_FAILED = -2
};

/* One Fetch answered into `e`: 0, non-zero when the encoder failed, or FETCH_STORE_FAILED. */
static int fetch_one(struct eas_req *er, const struct eas_node *f, struct eas_wbxml_enc *e)
{
    const char *cid = eas_node_text(eas_node_child(f, EAS_AS_COLLECTIONID), "");
    const char *sid = eas_node_text(eas_node_child(f, EAS_AS_SERVERID), "");
    struct eas_bodypref bp = {1, 0};
    const struct eas_node *pref =
        eas_node_child(eas_node_child(f, EAS_IO_OPTIONS), EAS_ASB_BODYPREFERENCE);
    uint64_t v;
    if (pref && eas_node_uint(eas_node_child(pref, EAS_ASB_TYPE), 4, &v) == 0) {
        bp.type = v == 2 ? 2 : 1;
    }
    if (pref && eas_node_uint(eas_node_child(pref, EAS_ASB_TRUNCATIONSIZE), UINT32_MAX, &v) == 0) {
        bp.truncation = (size_t)v;
    }
    struct store_coll coll;
    struct store_item it;
    uint64_t c, id;
    unsigned status = IO_OK;
    struct eas_calmap_event ev;
    struct err fe;
    err_init(&fe);
    int found = eas_calendar_of(er, cid, &coll, &fe);
    enum store_rc src = STORE_NOTFOUND;
    if (found == 0 && eas_item_parse(sid, &c, &id) == 0 && c == coll.id) {
        src = store_item_get_by_id(er->store, coll.id, id, STORE_ITEM_CONTENT, er->arena, &it);
    }
    if (found < 0 || (src != STORE_OK && src != STORE_NOTFOUND)) {
        return FETCH_STORE_FAILED; /* not "no such item": the device would believe it */
    }
    if (src != STORE_OK) {
        status = IO_NOT_FOUND;
    } else {
        struct err ce;
        err_init(&ce);
        if (eas_item_from_ical(er, (struct slice){it.content, it.size}, &ev, &ce) != 0) {
            status = IO_CONVERSION;
        }
    }
    int rc = eas_enc_start(e, EAS_IO_FETCH);
    rc |= eas_enc_uint(e, EAS_IO_STATUS, status);
    rc |= eas_enc_cstr(e, EAS_AS_COLLECTIONID, cid);
    rc |= eas_enc_cstr(e, EAS_AS_SERVERID, sid);
    if (status == IO_OK) {
        rc |= eas_enc_cstr(e, EAS_AS_CLASS, "Calendar");
        rc |= eas_enc_start(e, EAS_IO_PROPERTIES);
        rc |= eas_item_write(e, er->version, &bp, &ev);
        rc |= eas_enc_end(e);
    }
    return rc | eas_enc_end(e);
}

int eas_cmd_itemoperations(struct eas_req *er, struct err *err)
{
    if (eas_out_begin(er, err) != 0 || eas_begin_read(er, err) != 0) {
        return -1;
    }
    struct eas_wbxml_enc *e = &er->enc;
    int rc = eas_enc_start(e, EAS_IO_ITEMOPERATIONS);
    rc |= eas_enc_uint(e, EAS_IO_STATUS, er->root ? IO_OK : IO_PROTOCOL);
    if (er->root) {
        rc |= eas_enc_start(e, EAS_IO_RESPONSE);
        for (const struct eas_node *op = er->root->child; op && !rc; op = op->next) {
            if (op->tag == EAS_IO_FETCH) {
                int f = fetch_one(er, op, e);
                if (f == FETCH_STORE_FAILED) {
                    store_rollback(er->store);
                    return eas_store_err(er, STORE_IO, err);
                }
                rc |= f;
            } else {
                /* EmptyFolderContents, Move: not for a calendar. */
                rc |= eas_enc_start(e, op->tag);
                rc |= eas_enc_uint(e, EAS_IO_STATUS, IO_UNSUPPORTED);
                rc |= eas_enc_end(e);
            }
        }
        rc |= eas_enc_end(e);
    }
    store_rollback(er->store);
    rc |= eas_enc_end(e);
    return rc ? eas_out_err(err) : eas_send(er, err);
}

/* ---------------------------------------------------------------------------------------- */
/* Mail submission, search, recipients, certificates, moves: not carried
 * out by a calendar server; not listed in OPTIONS, and refused with a named reason. */

int eas_cmd_minimal(struct eas_req *er, struct err *err)
{
    return err_set(err, &eas_cond_unsupported, "%s is not supported by this server", er->cmd->name);
}
