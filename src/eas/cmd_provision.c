/* eas/cmd_provision.c: Provision (MS-ASPROV; activesync.md §3.1). Almanac enforces no device
 * policy, but runs the two-step handshake every client expects: a request gets a permissive
 * EASProvisionDoc and a temporary key; the acknowledgement of that key gets the final key,
 * which later requests must carry (HTTP 449 otherwise, route.c). Keys are random non-zero
 * uint32s kept in the device registry, so they survive restarts. DeviceInformation sent
 * inside Provision (14.1+) is stored as Settings would. */
#include <string.h>

#include "eas/eas_int.h"
#include "util/sec.h"

static const char POLICY_TYPE[] = "MS-EAS-Provisioning-WBXML";

enum {
    PROV_OK = 1,
    PROV_PROTOCOL_ERROR = 2,
    POLICY_OK = 1,
    POLICY_UNKNOWN_TYPE = 3,
    POLICY_WRONG_KEY = 5,
};

static uint32_t new_key(void)
{
    uint32_t k = 0;
    while (k == 0) {
        sec_random(&k, sizeof(k));
    }
    return k;
}

/* The permissive policy of activesync.md §3.1. */
static int write_policy_doc(struct eas_wbxml_enc *e)
{
    static const struct {
        unsigned tag;
        unsigned value;
    } doc[] = {
        {EAS_PROV_DEVICEPASSWORDENABLED, 0},
        {EAS_PROV_ALPHANUMERICDEVICEPASSWORDREQUIRED, 0},
        {EAS_PROV_PASSWORDRECOVERYENABLED, 0},
        {EAS_PROV_REQUIRESTORAGECARDENCRYPTION, 0},
        {EAS_PROV_ATTACHMENTSENABLED, 1},
        {EAS_PROV_MINDEVICEPASSWORDLENGTH, 1},
        {EAS_PROV_MAXINACTIVITYTIMEDEVICELOCK, 900},
        {EAS_PROV_MAXDEVICEPASSWORDFAILEDATTEMPTS, 8},
        {EAS_PROV_ALLOWSIMPLEDEVICEPASSWORD, 1},
        {EAS_PROV_DEVICEPASSWORDEXPIRATION, 0},
        {EAS_PROV_DEVICEPASSWORDHISTORY, 0},
        {EAS_PROV_ALLOWCAMERA, 1},
        {EAS_PROV_MAXCALENDARAGEFILTER, 0},
    };

    int rc = eas_enc_start(e, EAS_PROV_DATA) | eas_enc_start(e, EAS_PROV_EASPROVISIONDOC);
    for (size_t i = 0; i < ALM_ARRAY_LEN(doc); i++) {
        rc |= eas_enc_uint(e, doc[i].tag, doc[i].value);
    }
    return rc | eas_enc_end(e) | eas_enc_end(e);
}

/* Opens the request's write transaction unless *open says it is open already. */
static int write_open(struct eas_req *er, bool *open, struct err *err)
{
    if (*open) {
        return 0;
    }
    if (eas_begin_write(er, err) != 0) {
        return -1;
    }
    *open = true;
    return 0;
}

/* Records the device's temporary and final policy keys, inside the write transaction. */
static int
set_policy(struct eas_req *er, bool *open, uint32_t pending, uint32_t final_key, struct err *err)
{
    if (write_open(er, open, err) != 0) {
        return -1;
    }
    enum store_rc rc = store_eas_device_set_policy(er->store, er->device.id, pending, final_key);
    return rc == STORE_OK ? 0 : eas_store_err(er, rc, err);
}

/* Reads DeviceInformation/Set into `info` (strings borrowed from the request tree):
 * EAS_DEVINFO_OK, or EAS_DEVINFO_INVALID when a field is too long to keep. */
static int device_info_read(const struct eas_node *set, struct store_eas_device *info)
{
    memset(info, 0, sizeof(*info));
    info->model = eas_node_text(eas_node_child(set, EAS_SET_MODEL), NULL);
    info->friendly_name = eas_node_text(eas_node_child(set, EAS_SET_FRIENDLYNAME), NULL);
    info->os = eas_node_text(eas_node_child(set, EAS_SET_OS), NULL);
    info->os_language = eas_node_text(eas_node_child(set, EAS_SET_OSLANGUAGE), NULL);
    info->mobile_operator = eas_node_text(eas_node_child(set, EAS_SET_MOBILEOPERATOR), NULL);
    /* IMEI and phone number are personal data that nothing here needs: not stored. */
    const char *fields[] = {info->model, info->friendly_name, info->os, info->os_language,
                            info->mobile_operator};
    for (size_t i = 0; i < ALM_ARRAY_LEN(fields); i++) {
        /* MS-ASCMD 2.2.3.177.15: a value the server cannot keep is Invalid arguments (5),
         * not a server error; the store bounds each field at STORE_EAS_TEXT_MAX bytes. */
        if (fields[i] && strlen(fields[i]) > STORE_EAS_TEXT_MAX) {
            return EAS_DEVINFO_INVALID;
        }
    }
    return EAS_DEVINFO_OK;
}

/* Stores DeviceInformation inside the write transaction (opened here when needed); the
 * Status to answer, or -1 with `err` set. */
static int
device_info_write(struct eas_req *er, const struct eas_node *set, bool *open, struct err *err)
{
    struct store_eas_device info;
    if (device_info_read(set, &info) != EAS_DEVINFO_OK) {
        return EAS_DEVINFO_INVALID;
    }
    if (write_open(er, open, err) != 0) {
        return -1;
    }
    enum store_rc rc = store_eas_device_set_info(er->store, er->device.id, &info);
    return rc == STORE_OK ? EAS_DEVINFO_OK : eas_store_err(er, rc, err);
}

int eas_store_device_info(struct eas_req *er, const struct eas_node *set, struct err *err)
{
    bool open = false;
    int status = device_info_write(er, set, &open, err);
    if (status < 0) {
        store_rollback(er->store);
        return -1;
    }
    return open && eas_commit(er, err) != 0 ? -1 : status;
}

/* Commits what the Provision wrote, then sends the answer `bad` says was encoded whole. */
static int provision_end(struct eas_req *er, bool open, int bad, struct err *err)
{
    if (bad) {
        store_rollback(er->store);
        return eas_out_err(err);
    }
    if (open && eas_commit(er, err) != 0) {
        return -1;
    }
    return eas_send(er, err);
}

int eas_cmd_provision(struct eas_req *er, struct err *err)
{
    const struct eas_node *root = er->root;
    const struct eas_node *policy =
        eas_node_child(eas_node_child(root, EAS_PROV_POLICIES), EAS_PROV_POLICY);
    const struct eas_node *devinfo = eas_node_child(root, EAS_SET_DEVICEINFORMATION);
    const struct eas_node *set = eas_node_child(devinfo, EAS_SET_SET);
    const struct eas_node *wipe = eas_node_child(root, EAS_PROV_REMOTEWIPE);
    /* One write transaction for the device information and the policy key, committed
     * before the answer: a Provision that fails leaves neither (nor a new device's row). */
    bool open = false;
    int devinfo_status = set ? device_info_write(er, set, &open, err) : EAS_DEVINFO_OK;
    if (devinfo_status < 0) {
        store_rollback(er->store);
        return -1;
    }
    if (eas_out_begin(er, err) != 0) {
        return -1;
    }
    struct eas_wbxml_enc *e = &er->enc;
    int rc = eas_enc_start(e, EAS_PROV_PROVISION);
    if (devinfo) {
        /* The device information is not needed for the policy: the handshake goes on when
         * it was refused, as Status 5 says. */
        rc |= eas_enc_start(e, EAS_SET_DEVICEINFORMATION);
        rc |= eas_enc_uint(e, EAS_SET_STATUS, (unsigned)devinfo_status);
        rc |= eas_enc_end(e);
    }
    if (!policy) {
        /* A RemoteWipe acknowledgement (we never ask for one) or no policy at all. */
        rc |= eas_enc_uint(e, EAS_PROV_STATUS, wipe ? PROV_OK : PROV_PROTOCOL_ERROR);
        rc |= eas_enc_end(e);
        return provision_end(er, open, rc, err);
    }
    const char *type = eas_node_text(eas_node_child(policy, EAS_PROV_POLICYTYPE), "");
    const struct eas_node *keyn = eas_node_child(policy, EAS_PROV_POLICYKEY);
    rc |= eas_enc_uint(e, EAS_PROV_STATUS, PROV_OK);
    rc |= eas_enc_start(e, EAS_PROV_POLICIES);
    rc |= eas_enc_start(e, EAS_PROV_POLICY);
    rc |= eas_enc_cstr(e, EAS_PROV_POLICYTYPE, type);
    if (strcmp(type, POLICY_TYPE) != 0) {
        rc |= eas_enc_uint(e, EAS_PROV_STATUS, POLICY_UNKNOWN_TYPE);
    } else if (!keyn) {
        /* Step 2: a temporary key with the policy document. */
        uint32_t pending = new_key();
        if (set_policy(er, &open, pending, er->device.policy_key, err) != 0) {
            store_rollback(er->store);
            return -1;
        }
        rc |= eas_enc_uint(e, EAS_PROV_STATUS, POLICY_OK);
        rc |= eas_enc_uint(e, EAS_PROV_POLICYKEY, pending);
        rc |= write_policy_doc(e);
    } else {
        /* Step 3: the acknowledgement of the temporary key gets the final key. Statuses 1-4
         * from the device (applied, partly, not, externally managed) are all accepted. */
        uint64_t acked = 0;
        if (eas_node_uint(keyn, UINT32_MAX, &acked) != 0 || acked == 0 ||
            acked != er->device.policy_pending) {
            rc |= eas_enc_uint(e, EAS_PROV_STATUS, POLICY_WRONG_KEY);
        } else {
            uint32_t final_key = new_key();
            if (set_policy(er, &open, 0, final_key, err) != 0) {
                store_rollback(er->store);
                return -1;
            }
            rc |= eas_enc_uint(e, EAS_PROV_STATUS, POLICY_OK);
            rc |= eas_enc_uint(e, EAS_PROV_POLICYKEY, final_key);
        }
    }
    rc |= eas_enc_end(e) | eas_enc_end(e) | eas_enc_end(e);
    return provision_end(er, open, rc, err);
}
