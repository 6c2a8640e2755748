/* eas/route.c: the /Microsoft-Server-ActiveSync route (MS-ASHTTP). Reads the request line in
 * both query forms (plain `Cmd=…&DeviceId=…` and the base64 form of 12.1+), the protocol
 * version and policy key headers; feeds the WBXML body to the streaming decoder as it
 * arrives; registers the device; enforces provisioning (HTTP 449); dispatches to the command
 * and sends its WBXML answer. Errors that the protocol reports at HTTP level (400, 401, 449,
 * 503) leave with an empty body and the ActiveSync headers. */
#include <ctype.h>
#include <string.h>
#include <time.h>

#include "eas/eas_int.h"
#include "util/log.h"
#include "util/parse.h"
#include "util/sec.h"

static const char *const CONTENT_TYPE = "application/vnd.ms-sync.wbxml";
static const char *const SERVER_VERSION = "14.1";

/* Command codes of the base64 query (activesync.md §1.2) are the enum's order. */
const struct eas_command eas_commands[EAS_CMD_COUNT] = {
    [EAS_CMD_SYNC] = {"Sync", 0, EAS_AS_SYNC, true, true, eas_cmd_sync, eas_cmd_sync_resumed},
    [EAS_CMD_SENDMAIL] = {"SendMail", 1, 0, true, false, eas_cmd_minimal, NULL},
    [EAS_CMD_SMARTFORWARD] = {"SmartForward", 2, 0, true, false, eas_cmd_minimal, NULL},
    [EAS_CMD_SMARTREPLY] = {"SmartReply", 3, 0, true, false, eas_cmd_minimal, NULL},
    [EAS_CMD_GETATTACHMENT] = {"GetAttachment", 4, 0, true, false, eas_cmd_minimal, NULL},
    [EAS_CMD_FOLDERSYNC] = {"FolderSync", 9, EAS_FH_FOLDERSYNC, true, true, eas_cmd_foldersync,
                            NULL},
    [EAS_CMD_FOLDERCREATE] = {"FolderCreate", 10, EAS_FH_FOLDERCREATE, true, true,
                              eas_cmd_foldercreate, NULL},
    [EAS_CMD_FOLDERDELETE] = {"FolderDelete", 11, EAS_FH_FOLDERDELETE, true, true,
                              eas_cmd_folderchange, NULL},
    [EAS_CMD_FOLDERUPDATE] = {"FolderUpdate", 12, EAS_FH_FOLDERUPDATE, true, true,
                              eas_cmd_folderchange, NULL},
    [EAS_CMD_MOVEITEMS] = {"MoveItems", 13, 0, true, false, eas_cmd_minimal, NULL},
    [EAS_CMD_GETITEMESTIMATE] = {"GetItemEstimate", 14, EAS_GIE_GETITEMESTIMATE, true, true,
                                 eas_cmd_getitemestimate, NULL},
    [EAS_CMD_MEETINGRESPONSE] = {"MeetingResponse", 15, EAS_MR_MEETINGRESPONSE, true, true,
                                 eas_cmd_meetingresponse, NULL},
    [EAS_CMD_SEARCH] = {"Search", 16, 0, true, false, eas_cmd_minimal, NULL},
    [EAS_CMD_SETTINGS] = {"Settings", 17, EAS_SET_SETTINGS, false, true, eas_cmd_settings, NULL},
    [EAS_CMD_PING] = {"Ping", 18, EAS_PING_PING, false, true, eas_cmd_ping, eas_cmd_ping_resumed},
    [EAS_CMD_ITEMOPERATIONS] = {"ItemOperations", 19, EAS_IO_ITEMOPERATIONS, true, true,
                                eas_cmd_itemoperations, NULL},
    [EAS_CMD_PROVISION] = {"Provision", 20, EAS_PROV_PROVISION, false, true, eas_cmd_provision,
                           NULL},
    [EAS_CMD_RESOLVERECIPIENTS] = {"ResolveRecipients", 21, EAS_RR_RESOLVERECIPIENTS, true, true,
                                   eas_cmd_resolverecipients, NULL},
    [EAS_CMD_VALIDATECERT] = {"ValidateCert", 22, 0, true, false, eas_cmd_minimal, NULL},
};

/* ---------------------------------------------------------------------------------------- */
/* Store access */

/* The route's mapping of store results (store_req.h). */
static int map_store_err(const struct store_req *r, enum store_rc rc, struct err *err)
{
    switch (rc) {
    case STORE_OK:
        return 0;
    case STORE_BUSY:
        return err_set(err, &eas_cond_busy, "store busy, retry");
    /* STYLE §3.3: only I/O failures are internal. The others reach here when the state
     * changed under the request (a collection deleted by another client) or when client
     * input is past a store bound the command did not check first. */
    case STORE_NOTFOUND:
        return err_set(err, &eas_cond_not_found, "the store has no such object (any more)");
    case STORE_EXISTS:
    case STORE_CONFLICT:
        return err_set(err, &eas_cond_conflict, "conflict: %s", store_req_last_error(r));
    case STORE_LIMIT:
        return err_set(err, &eas_cond_store_limit, "a value is over a store limit");
    case STORE_UNAVAILABLE:
        /* The database server went away: 503 with Retry-After as for eas-busy, under the
         * reason every route gives a lost database (store-unavailable). */
        return err_set(err, &err_cond_store_unavailable,
                       "the store's database cannot be reached now; retry later");
    case STORE_IO:
        break;
    }
    /* I/O, a full disk, a failed fsync: 503 with Retry-After, which a phone retries
     * (issue #14), never a 500; the detail goes to the log only. */
    return err_set(err, &eas_cond_store_failed, "store: %s", store_req_last_error(r));
}

struct store *eas_store(struct eas_req *er)
{
    return store_req_store(&er->sr);
}

void eas_store_release(struct eas_req *er)
{
    store_req_release(&er->sr);
}

int eas_store_err(struct eas_req *er, enum store_rc rc, struct err *err)
{
    return map_store_err(&er->sr, rc, err);
}

/* The user's e-mail addresses (eas_item_from_ical), read by admit() for the commands that
 * answer items: before the row loops whose arena marks would free them. STORE_OK, or the
 * store's failure (the request then fails as any other read would). */
static enum store_rc read_emails(struct eas_req *er)
{
    bool items =
        er->cmd == &eas_commands[EAS_CMD_SYNC] || er->cmd == &eas_commands[EAS_CMD_ITEMOPERATIONS];
    if (!items || er->emails_read) {
        return STORE_OK;
    }
    enum store_rc rc = calstore_user_emails(er->store, er->principal.id, er->principal.name,
                                            er->arena, &er->emails, &er->nemails);
    er->emails_read = rc == STORE_OK;
    return rc;
}

int eas_begin_read(struct eas_req *er, struct err *err)
{
    return store_req_begin_read(&er->sr, err);
}

static int device_write(struct eas_req *er, struct err *err);

int eas_begin_write(struct eas_req *er, struct err *err)
{
    if (store_req_begin_write(&er->sr, err) != 0) {
        return -1;
    }
    if (er->dev_write != EAS_DEV_SAME && device_write(er, err) != 0) {
        store_rollback(er->store);
        return -1;
    }
    return 0;
}

int eas_commit(struct eas_req *er, struct err *err)
{
    if (store_req_commit(&er->sr, err) != 0) {
        return -1;
    }
    er->dev_write = EAS_DEV_SAME; /* a rolled-back transaction leaves it for the next one */
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Ids and keys */

static const char *const dummy_folders[] = {"inbox",  "drafts",   "deleted", "sent",
                                            "outbox", "contacts", "tasks"};

bool eas_dummy_folder(const char *id)
{
    for (size_t i = 0; i < ALM_ARRAY_LEN(dummy_folders); i++) {
        if (strcmp(id, dummy_folders[i]) == 0) {
            return true;
        }
    }
    return false;
}

const char *eas_folder_id(struct arena *a, uint64_t coll)
{
    return arena_printf(a, "c%llu", (unsigned long long)coll);
}

int eas_folder_parse(const char *id, uint64_t *coll_out)
{
    if (!id || id[0] != 'c' || !isdigit((unsigned char)id[1])) {
        return -1;
    }
    return parse_u64(slice_from_cstr(id + 1), coll_out);
}

const char *eas_item_id(struct arena *a, uint64_t coll, uint64_t item)
{
    return arena_printf(a, "%llu:%llu", (unsigned long long)coll, (unsigned long long)item);
}

int eas_item_parse(const char *id, uint64_t *coll_out, uint64_t *item_out)
{
    const char *colon = id ? strchr(id, ':') : NULL;
    if (!colon) {
        return -1;
    }
    if (parse_u64((struct slice){id, (size_t)(colon - id)}, coll_out) != 0) {
        return -1;
    }
    return parse_u64(slice_from_cstr(colon + 1), item_out);
}

int eas_calendar_access(struct eas_req *er,
                        const char *id,
                        struct store_coll *out,
                        enum calstore_access *access_out,
                        struct err *err)
{
    uint64_t coll;
    *access_out = CALSTORE_ACCESS_NONE;
    if (eas_folder_parse(id, &coll) != 0) {
        return 1;
    }
    enum store_rc rc = store_coll_get(er->store, coll, er->arena, out);
    if (rc == STORE_NOTFOUND) {
        return 1;
    }
    if (rc != STORE_OK) {
        return eas_store_err(er, rc, err);
    }
    if (out->kind != STORE_COLL_CALENDAR) {
        return 1;
    }
    /* the owner, or a sharee (calstore's one access rule); anyone else's calendar is unknown,
     * exactly like a missing one */
    rc = calstore_access(er->store, er->principal.id, out, access_out);
    if (rc != STORE_OK) {
        return eas_store_err(er, rc, err);
    }
    return *access_out == CALSTORE_ACCESS_NONE ? 1 : 0;
}

int eas_calendar_of(struct eas_req *er, const char *id, struct store_coll *out, struct err *err)
{
    enum calstore_access access;
    return eas_calendar_access(er, id, out, &access, err);
}

static const uint64_t KEY_GEN = 1000000000000ULL;

const char *eas_key_first(struct arena *a)
{
    uint32_t r;
    sec_random(&r, sizeof(r));
    /* six digits, never fewer: every key is 18 characters (a leading generation under
     * 100000 made 13- to 17-character keys, one in ten) */
    uint64_t gen = 100000 + r % 900000;
    return arena_printf(a, "%llu", (unsigned long long)(gen * KEY_GEN + 1));
}

const char *eas_key_next(struct arena *a, const char *key)
{
    uint64_t v;
    if (!key || parse_u64(slice_from_cstr(key), &v) != 0) {
        return eas_key_first(a);
    }
    uint64_t gen = v / KEY_GEN;
    uint64_t n = v % KEY_GEN + 1;
    if (n >= KEY_GEN) {
        n = 1;
    }
    return arena_printf(a, "%llu", (unsigned long long)(gen * KEY_GEN + n));
}

/* ---------------------------------------------------------------------------------------- */
/* The answer */

size_t eas_response_limit(const struct eas_app *app)
{
    /* a window stops growing past max_window_bytes, so it ends with at most one more item,
     * which may be as large as the store lets an object be (its WBXML: the same strings,
     * an HTML body at most twice the text) */
    size_t need = app->cfg.max_window_bytes + 2 * app->cfg.max_item_bytes + (64u << 10);
    return need > EAS_RESPONSE_MAX ? need : EAS_RESPONSE_MAX;
}

int eas_out_err(struct err *err)
{
    return err_set(err, &eas_cond_response_too_large,
                   "the answer exceeds its limit (a window plus twice max_resource_size)");
}

int eas_out_begin(struct eas_req *er, struct err *err)
{
    buf_reset(&er->out);
    if (eas_enc_begin(&er->enc, &er->out) != 0) {
        return eas_out_err(err);
    }
    return 0;
}

static void common_headers(struct http_request *req, const struct eas_app *app)
{
    http_resp_header(req, "MS-Server-ActiveSync", SERVER_VERSION);
    http_resp_header(req, "Cache-Control", "private");
    if (!app->cfg.keep_alive) {
        /* the next request (a Ping, sooner or later) comes on a fresh connection, whose
         * memory pool libmicrohttpd has not zeroed whole yet (eas_keep_alive, config.c) */
        http_resp_header(req, "Connection", "close");
    }
}

int eas_send(struct eas_req *er, struct err *err)
{
    if (eas_enc_finish(&er->enc) != 0) {
        return err_set(err, &err_cond_internal, "unbalanced answer");
    }
    http_resp_status(er->http, 200);
    common_headers(er->http, er->app);
    http_resp_header(er->http, "Content-Type", CONTENT_TYPE);
    http_resp_body(er->http, er->out.data, er->out.len);
    return 0;
}

static void free_out(void *p)
{
    buf_deinit(p);
}

void eas_body_release(struct eas_req *er)
{
    arena_destroy(&er->body_arena);
    er->dec = NULL;
    er->tree = NULL;
    er->root = NULL;
}

static void free_body(void *p)
{
    eas_body_release(p);
}

/* ---------------------------------------------------------------------------------------- */
/* The request line */

static const char *versions_list(const struct eas_app *app)
{
    return app->cfg.protocol_16 ? "12.1,14.0,14.1,16.0,16.1" : "12.1,14.0,14.1";
}

static bool version_ok(const struct eas_app *app, unsigned v)
{
    return v == 121 || v == 140 || v == 141 || (app->cfg.protocol_16 && (v == 160 || v == 161));
}

/* "14.1" -> 141. */
static int parse_version(const char *s, unsigned *out)
{
    if (!s || !isdigit((unsigned char)s[0])) {
        return -1;
    }
    unsigned major = 0;
    const char *p = s;
    while (isdigit((unsigned char)*p) && major < 100) {
        major = major * 10 + (unsigned)(*p++ - '0');
    }
    if (*p != '.' || !isdigit((unsigned char)p[1]) || p[2] != '\0') {
        return -1;
    }
    *out = major * 10 + (unsigned)(p[1] - '0');
    return 0;
}

/* Percent-decodes `s[0..n)` into the arena; NULL on a bad escape or a NUL. */
static char *pct_decode(struct arena *a, const char *s, size_t n)
{
    char *out = arena_alloc(a, n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            if (i + 2 >= n) {
                return NULL;
            }
            int h = parse_hexdigit(s[i + 1]);
            int l = parse_hexdigit(s[i + 2]);
            if (h < 0 || l < 0 || (h == 0 && l == 0)) {
                return NULL;
            }
            out[o++] = (char)(h * 16 + l);
            i += 2;
        } else if (s[i] == '+') {
            out[o++] = ' ';
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

static const struct eas_command *command_named(const char *name)
{
    for (size_t i = 0; i < EAS_CMD_COUNT; i++) {
        if (eas_commands[i].name && strcmp(eas_commands[i].name, name) == 0) {
            return &eas_commands[i];
        }
    }
    return NULL;
}

static const struct eas_command *command_coded(unsigned code)
{
    for (size_t i = 0; i < EAS_CMD_COUNT; i++) {
        if (eas_commands[i].name && eas_commands[i].code == code) {
            return &eas_commands[i];
        }
    }
    return NULL;
}

static bool device_id_ok(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > EAS_DEVICE_ID_MAX * 2) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!isalnum((unsigned char)id[i]) && id[i] != '-' && id[i] != '_') {
            return false;
        }
    }
    return true;
}

static bool text_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
            return false;
        }
    }
    return true;
}

/* Plain form: Cmd=Sync&User=alice&DeviceId=ABC&DeviceType=iPhone[&more]. */
static int parse_plain_query(struct eas_req *er, const char *q, struct err *err)
{
    const char *cmd = NULL;
    while (*q) {
        const char *amp = strchr(q, '&');
        size_t len = amp ? (size_t)(amp - q) : strlen(q);
        const char *eq = memchr(q, '=', len);
        if (eq) {
            size_t klen = (size_t)(eq - q);
            char *v = pct_decode(er->arena, eq + 1, len - klen - 1);
            if (!v) {
                return err_set(err, &eas_cond_bad_query, "bad percent-escape in the query");
            }
            if (klen == 3 && memcmp(q, "Cmd", 3) == 0) {
                cmd = v;
            } else if (klen == 8 && memcmp(q, "DeviceId", 8) == 0) {
                er->device_id = v;
            } else if (klen == 10 && memcmp(q, "DeviceType", 10) == 0) {
                er->device_type = v;
            }
        }
        q += len + (amp ? 1 : 0);
    }
    if (!cmd) {
        return err_set(err, &eas_cond_bad_query, "no Cmd in the query");
    }
    er->cmd = command_named(cmd);
    if (!er->cmd) {
        return err_set(err, &eas_cond_unknown_command, "unknown command %s", cmd);
    }
    const char *pv = http_req_header(er->http, "MS-ASProtocolVersion");
    if (!pv) {
        er->version = 121;
    } else if (parse_version(pv, &er->version) != 0) {
        return err_set(err, &eas_cond_bad_version, "unreadable MS-ASProtocolVersion");
    }
    const char *pk = http_req_header(er->http, "X-MS-PolicyKey");
    uint64_t key;
    if (pk && *pk) {
        if (parse_u64(slice_trim(slice_from_cstr(pk)), &key) != 0 || key > UINT32_MAX) {
            return err_set(err, &eas_cond_bad_query, "X-MS-PolicyKey is not a uint32");
        }
        er->has_policy_key = true;
        er->policy_key = (uint32_t)key;
    }
    return 0;
}

/* Base64 form (activesync.md §1.2): version, command, locale, device id, policy key, device
 * type, then tagged parameters. */
static int parse_base64_query(struct eas_req *er, const char *q, struct err *err)
{
    char *raw = pct_decode(er->arena, q, strlen(q));
    if (!raw) {
        return err_set(err, &eas_cond_bad_query, "bad percent-escape in the query");
    }
    for (char *p = raw; *p; p++) {
        if (*p == ' ') {
            *p = '+'; /* a '+' of base64 that a client did not escape */
        }
    }
    size_t rlen = strlen(raw);
    uint8_t *b = arena_alloc(er->arena, rlen + 1);
    long n = sec_unbase64(slice_from_cstr(raw), b, rlen + 1);
    if (n < 7) {
        return err_set(err, &eas_cond_bad_query, "the query is neither Cmd=… nor base64");
    }
    size_t len = (size_t)n, at = 0;
    er->version = b[at++];
    unsigned code = b[at++];
    at += 2; /* locale */
    size_t dlen = b[at++];
    if (at + dlen + 1 > len || dlen == 0) {
        return err_set(err, &eas_cond_bad_query, "base64 query: bad device id length");
    }
    bool text = true;
    for (size_t i = 0; i < dlen; i++) {
        text = text && isalnum(b[at + i]);
    }
    if (text) {
        er->device_id = arena_strndup(er->arena, (const char *)b + at, dlen);
    } else {
        char *hex = arena_alloc(er->arena, dlen * 2 + 1);
        sec_hex(b + at, dlen, hex);
        er->device_id = hex;
    }
    at += dlen;
    size_t plen = b[at++];
    if (plen != 0 && plen != 4) {
        return err_set(err, &eas_cond_bad_query, "base64 query: policy key of %zu bytes", plen);
    }
    if (at + plen + 1 > len) {
        return err_set(err, &eas_cond_bad_query, "base64 query: truncated");
    }
    if (plen == 4) {
        er->has_policy_key = true;
        er->policy_key = (uint32_t)b[at] | (uint32_t)b[at + 1] << 8 | (uint32_t)b[at + 2] << 16 |
                         (uint32_t)b[at + 3] << 24;
        at += 4;
    }
    size_t tlen = b[at++];
    if (at + tlen > len) {
        return err_set(err, &eas_cond_bad_query, "base64 query: truncated device type");
    }
    er->device_type = arena_strndup(er->arena, (const char *)b + at, tlen);
    at += tlen;
    while (at < len) { /* parameters: tag, length, value; none matters for calendars */
        if (at + 2 > len || at + 2 + b[at + 1] > len) {
            return err_set(err, &eas_cond_bad_query, "base64 query: truncated parameter");
        }
        at += 2 + b[at + 1];
    }
    er->cmd = command_coded(code);
    if (!er->cmd) {
        return err_set(err, &eas_cond_unknown_command, "unknown command code %u", code);
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Route hooks */

static int route_begin(void *app_, struct http_request *req, struct err *err)
{
    struct eas_app *app = app_;
    struct arena *a = http_req_arena(req);
    struct eas_req *er = arena_zalloc(a, sizeof(*er));
    er->app = app;
    er->http = req;
    er->arena = a;
    store_req_init(&er->sr, app->pool, a, map_store_err, &er->store);
    er->user = http_req_user(req);
    buf_init(&er->out, eas_response_limit(app));
    arena_defer(a, free_out, &er->out);
    http_req_set_state(req, er);
    enum http_method m = http_req_method(req);
    if (m == HTTP_M_OPTIONS) {
        return 0;
    }
    if (m != HTTP_M_POST) {
        return err_set(err, &eas_cond_method, "ActiveSync takes OPTIONS and POST");
    }
    const char *q = http_req_query(req);
    int rc = strstr(q, "Cmd=") ? parse_plain_query(er, q, err) : parse_base64_query(er, q, err);
    if (rc != 0) {
        return -1;
    }
    if (!version_ok(app, er->version)) {
        return err_set(err, &eas_cond_bad_version, "protocol version %u.%u is not offered",
                       er->version / 10, er->version % 10);
    }
    if (!er->device_id || !device_id_ok(er->device_id)) {
        return err_set(err, &eas_cond_bad_device_id, "DeviceId missing or invalid");
    }
    if (!er->device_type || !text_ok(er->device_type, EAS_DEVICE_TYPE_MAX)) {
        return err_set(err, &eas_cond_bad_device_type, "DeviceType missing or invalid");
    }
    int64_t cl = http_req_content_length(req);
    if (cl > 0 && (uint64_t)cl > app->cfg.max_body) {
        return err_set(err, &eas_cond_body_too_large, "body of %lld bytes exceeds eas_max_body",
                       (long long)cl);
    }
    if (er->cmd->root == 0) {
        return 0; /* refused in end(); its body (MIME for SendMail) is only counted */
    }
    struct eas_wbxml_limits lim;
    eas_wbxml_limits_default(&lim);
    er->body_arena = arena_create();
    arena_defer(a, free_body, er);
    er->tree = eas_tree_new(er->body_arena, NULL, NULL);
    er->dec = eas_wbxml_dec_new(er->body_arena, &lim, eas_tree_handler(), er->tree);
    return 0;
}

static int
route_body(void *app_, struct http_request *req, const char *p, size_t n, struct err *err)
{
    struct eas_app *app = app_;
    struct eas_req *er = http_req_state(req);
    er->body_len += n;
    if (er->body_len > app->cfg.max_body) {
        return err_set(err, &eas_cond_body_too_large, "body exceeds eas_max_body (%zu bytes)",
                       app->cfg.max_body);
    }
    return er->dec ? eas_wbxml_feed(er->dec, p, n, err) : 0;
}

static int options(struct eas_req *er)
{
    struct http_request *req = er->http;
    http_resp_status(req, 200);
    common_headers(req, er->app);
    http_resp_header(req, "Allow", "OPTIONS,POST");
    http_resp_header(req, "MS-ASProtocolVersions", versions_list(er->app));
    char list[512];
    size_t at = 0;
    for (size_t i = 0; i < EAS_CMD_COUNT; i++) {
        if (eas_commands[i].listed) {
            int w =
                snprintf(list + at, sizeof(list) - at, "%s%s", at ? "," : "", eas_commands[i].name);
            if (w > 0 && (size_t)w < sizeof(list) - at) {
                at += (size_t)w;
            }
        }
    }
    http_resp_header(req, "MS-ASProtocolCommands", list);
    http_resp_header(req, "Content-Type", CONTENT_TYPE);
    http_resp_body(req, "", 0);
    return 0;
}

/* The User-Agent as the device registry keeps it: at most STORE_EAS_TEXT_MAX bytes, cut
 * before a UTF-8 continuation byte, in the request arena. It is only shown by `almanac
 * device list`, so a longer one is shortened, not refused (the store would answer
 * STORE_LIMIT, which is otherwise the device cap). */
static const char *stored_user_agent(struct eas_req *er)
{
    const char *ua = http_req_header(er->http, "User-Agent");
    size_t n = ua ? strlen(ua) : 0;
    if (n <= STORE_EAS_TEXT_MAX) {
        return ua ? ua : "";
    }
    n = STORE_EAS_TEXT_MAX;
    while (n > 0 && ((unsigned char)ua[n] & 0xC0) == 0x80) {
        n--;
    }
    return arena_strndup(er->arena, ua, n);
}

/* The protocol version as the device registry keeps it ("14.1"), in the request arena. */
static const char *stored_version(struct eas_req *er)
{
    return arena_printf(er->arena, "%u.%u", er->version / 10, er->version % 10);
}

static bool same_text(const char *stored, const char *now)
{
    return strcmp(stored ? stored : "", now ? now : "") == 0;
}

/* Registers a new device, or stores what changed of a known one, with last_seen, inside the
 * request's first write transaction (eas_begin_write): so with the command's own writes,
 * never for a request that writes nothing, and gone with a command that fails. */
static int device_write(struct eas_req *er, struct err *err)
{
    enum store_rc rc = store_eas_device_touch(
        er->store, er->principal.id, er->device_id, er->device_type, stored_user_agent(er),
        stored_version(er), (int64_t)time(NULL), er->app->cfg.max_devices, er->arena, &er->device);
    if (rc == STORE_LIMIT) {
        return err_set(err, &eas_cond_device_limit, "user has %u devices already (eas_max_devices)",
                       er->app->cfg.max_devices);
    }
    return eas_store_err(er, rc, err);
}

static int count_device(void *ctx, const struct store_eas_device *d)
{
    (void)d;
    (*(unsigned *)ctx)++;
    return 0;
}

/* Reads the principal and the device in one read transaction and checks the policy key.
 * Writes nothing (issue 16): a new device's row, or a known one's changed type, user agent
 * or protocol, is left to the command's first write transaction (device_write), and
 * last_seen to the batched stamps of seen.c. A new device over the cap is refused here, as
 * before, and again by the store when its row is written (two first requests at once). */
static int admit(struct eas_req *er, struct err *err)
{
    if (eas_begin_read(er, err) != 0) {
        return -1;
    }
    enum store_rc rc = store_principal_get(er->store, er->user, er->arena, &er->principal);
    if (rc != STORE_OK) {
        store_rollback(er->store);
        return rc == STORE_NOTFOUND ? err_set(err, &eas_cond_denied, "no such user")
                                    : eas_store_err(er, rc, err);
    }
    rc = read_emails(er);
    if (rc != STORE_OK) {
        store_rollback(er->store);
        return eas_store_err(er, rc, err);
    }
    rc = store_eas_device_get(er->store, er->principal.id, er->device_id, er->arena, &er->device);
    unsigned devices = 0;
    if (rc == STORE_NOTFOUND) {
        memset(&er->device, 0, sizeof(er->device));
        er->dev_write = EAS_DEV_NEW;
        rc = er->app->cfg.max_devices
                 ? store_eas_device_list(er->store, er->principal.id, count_device, &devices)
                 : STORE_OK;
    } else if (rc == STORE_OK && (!same_text(er->device.device_type, er->device_type) ||
                                  !same_text(er->device.user_agent, stored_user_agent(er)) ||
                                  !same_text(er->device.protocol, stored_version(er)))) {
        er->dev_write = EAS_DEV_CHANGED;
    }
    store_rollback(er->store);
    if (rc != STORE_OK) {
        return eas_store_err(er, rc, err);
    }
    if (er->dev_write == EAS_DEV_NEW && er->app->cfg.max_devices &&
        devices >= er->app->cfg.max_devices) {
        return err_set(err, &eas_cond_device_limit, "user has %u devices already (eas_max_devices)",
                       er->app->cfg.max_devices);
    }
    if (er->cmd->policy && er->app->cfg.provisioning &&
        (er->device.policy_key == 0 || !er->has_policy_key ||
         er->policy_key != er->device.policy_key)) {
        return err_set(err, &eas_cond_provision, "device %s must provision (policy key %s)",
                       er->device_id, er->has_policy_key ? "stale" : "missing");
    }
    eas_seen_note(er->app, er->device.id, (int64_t)time(NULL));
    return 0;
}

static int route_end(void *app_, struct http_request *req, struct err *err)
{
    (void)app_;
    struct eas_req *er = http_req_state(req);
    if (http_req_method(req) == HTTP_M_OPTIONS) {
        return options(er);
    }
    if (er->body_len > 0 && er->dec) {
        if (eas_wbxml_finish(er->dec, err) != 0) {
            return -1;
        }
        er->root = eas_tree_root(er->tree);
        if (!er->root || er->root->tag != er->cmd->root) {
            return err_set(err, &eas_cond_wrong_root, "the body is not a %s request",
                           er->cmd->name);
        }
    }
    http_req_log_field(req, "eas_cmd", er->cmd->name);
    http_req_log_field(req, "device", er->device_id);
    if (admit(er, err) != 0) {
        return -1;
    }
    int rc = er->cmd->run(er, err);
    /* Every answer is one buffer: the connection goes back to the pool before it is sent, so
     * answered requests whose bytes are still on their way hold none. */
    eas_store_release(er);
    return rc;
}

static int route_resumed(void *app_, struct http_request *req, struct err *err)
{
    (void)app_;
    struct eas_req *er = http_req_state(req);
    if (!er->cmd->resumed) {
        return err_set(err, &err_cond_internal, "%s cannot resume", er->cmd->name);
    }
    int rc = er->cmd->resumed(er, err);
    eas_store_release(er);
    return rc;
}

static void route_render_error(void *app_, struct http_request *req, const struct err *e)
{
    struct eas_app *app = app_;
    common_headers(req, app);
    if (e->cond == &http_cond_unauthenticated) {
        http_resp_header(req, "MS-ASProtocolVersions", versions_list(app));
    }
    if (e->cond == &eas_cond_method) {
        http_resp_header(req, "Allow", "OPTIONS,POST");
    }
    if (e->cond->http_status == 503) {
        http_resp_header(req, "Retry-After", "30");
    }
    http_resp_header(req, "X-Almanac-Reason", e->cond->name);
    log_info("eas refused cond=%s msg=\"%s\"", e->cond->name, e->msg);
    http_resp_body(req, "", 0);
}

struct http_route eas_route(const char *prefix, struct eas_app *app)
{
    return (struct http_route){
        .prefix = prefix,
        .app = app,
        .begin = route_begin,
        .body = route_body,
        .end = route_end,
        .render_error = route_render_error,
        .resumed = route_resumed,
    };
}
