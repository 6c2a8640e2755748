/* tests/fuzz/fuzz_eas.c: the ActiveSync commands (eas/cmd_*.c, sync_*.c: each reads the
 * decoded WBXML tree of its request) through the ActiveSync route in process, over a real
 * store (routes.h: alice's calendar "cal" with three events), as device FUZZ of alice. An
 * input is one command byte (Sync, FolderSync, FolderCreate, FolderUpdate, FolderDelete,
 * GetItemEstimate, ItemOperations, Settings, Provision, Ping, MeetingResponse,
 * ResolveRecipients), one protocol
 * version byte (12.1, 14.0, 14.1, 16.0, 16.1), then the WBXML body, fed in pieces of 1 to 64
 * bytes. State a fuzzer cannot guess is written as placeholders the target fills in: "%C"
 * becomes the calendar's CollectionId, "%F" the device's FolderSync key and "%K" its Sync key
 * of the calendar, each got by a FolderSync and a Sync from key 0 just before the input.
 * What must hold:
 * - never a 5xx (a store failure is the only one allowed, and none is injected here);
 * - a 200 with a body is WBXML (application/vnd.ms-sync.wbxml) that decodes, with a Status;
 * - any other answer is a 4xx naming its condition;
 * - a refused request (not a 200, or no Status 1 anywhere in the answer) leaves alice's
 *   calendar data as it was (routes.h's fingerprint);
 * - nothing waits: the set-up refuses every heartbeat (routes.c), as the seam cannot drive a
 *   long poll.
 * The store is made afresh every RESET_EVERY inputs, so that what inputs write does not pile
 * up (an input replayed alone runs on a fresh store).
 * Violations abort(). Seeds, from the requests of tests/unit/eas/test_commands.c and
 * tests/integration/easclient.py, are in tests/fuzz/corpus/eas/. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chunks.h"
#include "eas/wbxml.h"
#include "routes.h"
#include "util/buf.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const commands[] = {
    "Sync",           "FolderSync",      "FolderCreate",
    "FolderUpdate",   "FolderDelete",    "GetItemEstimate",
    "ItemOperations", "Settings",        "Provision",
    "Ping",           "MeetingResponse", "ResolveRecipients",
};
static const char *const versions[] = {"12.1", "14.0", "14.1", "16.0", "16.1"};

enum {
    MAX_ANSWER = 8u << 20, /* bytes of an answer's XML dump */
    /* Inputs between fresh stores: accepted FolderCreates and Sync Adds would otherwise pile
     * up for the whole run, and every later input would meet them. */
    RESET_EVERY = 500,
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_routes_open();
    return 0;
}

static struct http_test_resp command(const char *cmd,
                                     const char *version,
                                     const void *body,
                                     size_t len,
                                     size_t chunk,
                                     struct arena *a)
{
    const char *target = arena_printf(
        a, "/Microsoft-Server-ActiveSync?Cmd=%s&User=alice&DeviceId=FUZZ&DeviceType=FuzzPhone",
        cmd);
    const char *const headers[] = {"Content-Type",
                                   "application/vnd.ms-sync.wbxml",
                                   "MS-ASProtocolVersion",
                                   version,
                                   "User-Agent",
                                   "Almanac-FuzzPhone/1.0",
                                   NULL};
    return fuzz_routes_run("POST", target, headers, body, len, chunk, a);
}

/* The answer's XML dump (eas_wbxml_to_xml) in `a`, or NULL when it does not decode. */
static char *dump(const struct http_test_resp *r, struct arena *a, struct err *e)
{
    struct buf x;
    buf_init(&x, MAX_ANSWER);
    char *out = NULL;
    if (eas_wbxml_to_xml(r->body, r->body_len, &x, e) == 0) {
        out = arena_strdup(a, buf_cstr(&x));
    }
    buf_deinit(&x);
    return out;
}

/* The text of the first <SyncKey> of a 200 answer, or "0". */
static const char *key_of(const struct http_test_resp *r, struct arena *a)
{
    struct err e;
    err_init(&e);
    char *x = r->status == 200 && r->body_len ? dump(r, a, &e) : NULL;
    const char *p = x ? strstr(x, "<SyncKey>") : NULL;
    if (!p) {
        return "0";
    }
    p += strlen("<SyncKey>");
    return arena_strndup(a, p, strcspn(p, "<"));
}

/* A FolderSync or Sync request from key 0, built with the encoder. */
static const char *initial_key(bool folders, const char *coll, struct arena *a)
{
    struct buf b;
    buf_init(&b, 4096);
    struct eas_wbxml_enc e;
    bool ok = eas_enc_begin(&e, &b) == 0;
    if (folders) {
        ok = ok && eas_enc_start(&e, EAS_FH_FOLDERSYNC) == 0 &&
             eas_enc_cstr(&e, EAS_FH_SYNCKEY, "0") == 0 && eas_enc_end(&e) == 0;
    } else {
        ok = ok && eas_enc_start(&e, EAS_AS_SYNC) == 0 &&
             eas_enc_start(&e, EAS_AS_COLLECTIONS) == 0 &&
             eas_enc_start(&e, EAS_AS_COLLECTION) == 0 &&
             eas_enc_cstr(&e, EAS_AS_SYNCKEY, "0") == 0 &&
             eas_enc_cstr(&e, EAS_AS_COLLECTIONID, coll) == 0 && eas_enc_end(&e) == 0 &&
             eas_enc_end(&e) == 0 && eas_enc_end(&e) == 0;
    }
    if (!ok || eas_enc_finish(&e) != 0) {
        abort();
    }
    struct http_test_resp r = command(folders ? "FolderSync" : "Sync", "14.1", b.data, b.len, 0, a);
    buf_deinit(&b);
    if (r.status != 200) {
        fprintf(stderr, "fuzz_eas: the initial %s failed: %u\n", folders ? "FolderSync" : "Sync",
                r.status);
        abort();
    }
    return key_of(&r, a);
}

/* The body with its placeholders filled in, in `a`; *len_out its length. */
static const uint8_t *fill(const uint8_t *p, size_t n, struct arena *a, size_t *len_out)
{
    bool want_f = false, want_k = false, any = false;
    for (size_t i = 0; i + 1 < n; i++) {
        if (p[i] == '%' && (p[i + 1] == 'C' || p[i + 1] == 'F' || p[i + 1] == 'K')) {
            any = true;
            want_f = want_f || p[i + 1] == 'F' || p[i + 1] == 'K';
            want_k = want_k || p[i + 1] == 'K';
        }
    }
    if (!any) {
        *len_out = n;
        return p;
    }
    const char *coll = arena_printf(a, "c%llu", (unsigned long long)fuzz_routes_cal_id());
    const char *fkey = want_f ? initial_key(true, NULL, a) : "0";
    const char *skey = want_k ? initial_key(false, coll, a) : "0";
    struct buf b;
    buf_init(&b, 4 * n + 64);
    for (size_t i = 0; i < n; i++) {
        int rc;
        if (p[i] == '%' && i + 1 < n && (p[i + 1] == 'C' || p[i + 1] == 'F' || p[i + 1] == 'K')) {
            rc = buf_append_cstr(&b, p[i + 1] == 'C' ? coll : p[i + 1] == 'F' ? fkey : skey);
            i++;
        } else {
            rc = buf_putc(&b, (char)p[i]);
        }
        if (rc != 0) {
            abort();
        }
    }
    uint8_t *out = arena_alloc(a, b.len + 1);
    memcpy(out, b.data, b.len);
    *len_out = b.len;
    buf_deinit(&b);
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) {
        return 0;
    }
    static unsigned runs;
    if (++runs % RESET_EVERY == 0) {
        fuzz_routes_reset();
    }
    const char *cmd = commands[data[0] % (sizeof(commands) / sizeof(commands[0]))];
    const char *version = versions[data[1] % (sizeof(versions) / sizeof(versions[0]))];
    struct arena *a = arena_create();
    size_t len;
    const uint8_t *body = fill(data + 2, size - 2, a, &len);
    struct fuzz_chunks c;
    fuzz_chunks_init(&c, data, size, 2);
    size_t piece = (size_t)(fuzz_chunks_rand(&c) % 64) + 1;
    uint64_t before = fuzz_routes_fingerprint();
    struct http_test_resp r = command(cmd, version, body, len, piece, a);
    if (r.status >= 500 || r.stream_failed) {
        fprintf(stderr, "fuzz_eas: %s: %u %s\n", cmd, r.status, r.cond ? r.cond : "-");
        abort(); /* client bytes are never a server error, nor a cut stream */
    }
    if (getenv("FUZZ_SHOW")) {
        fprintf(stderr, "fuzz_eas: %s %u %s\n", cmd, r.status, r.cond ? r.cond : "");
    }
    bool accepted = false;
    if (r.status == 200 && r.body_len > 0) {
        const char *ct = http_test_resp_header(&r, "Content-Type");
        struct err e;
        err_init(&e);
        char *x = dump(&r, a, &e);
        if (!ct || strcmp(ct, "application/vnd.ms-sync.wbxml") != 0 || !x) {
            fprintf(stderr, "fuzz_eas: %s: an answer that is not WBXML: %s\n", cmd, e.msg);
            abort();
        }
        if (!strstr(x, "<Status>")) {
            fprintf(stderr, "fuzz_eas: %s: an answer without a Status: %s\n", cmd, x);
            abort();
        }
        accepted = strstr(x, "<Status>1</Status>") != NULL;
    } else if (r.status == 200) {
        accepted = strcmp(cmd, "Sync") == 0; /* an empty Sync answer: nothing to say */
    } else if (r.status < 400 || !r.cond) {
        fprintf(stderr, "fuzz_eas: %s: %u without a condition\n", cmd, r.status);
        abort(); /* a refusal names its condition */
    }
    if (!accepted && fuzz_routes_fingerprint() != before) {
        fprintf(stderr, "fuzz_eas: %s: refused (%u) but the store changed\n", cmd, r.status);
        abort();
    }
    if (fuzz_routes_eas_waiting() != 0) {
        abort(); /* a long poll waits: the set-up should have refused its heartbeat */
    }
    arena_destroy(&a);
    return 0;
}
