/* eas/eas_int.h: what the files of the eas layer share: the app, the per-request state, the
 * command table, the push hub, and helpers for statuses, keys and ids. */
#ifndef ALMANAC_EAS_EAS_INT_H
#define ALMANAC_EAS_EAS_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "calstore/calstore.h"
#include "eas/calmap.h"
#include "eas/eas.h"
#include "eas/tree.h"
#include "eas/wbxml.h"
#include "store/store_req.h"
#include "util/buf.h"
#include "util/err.h"

enum {
    EAS_DEVICE_ID_MAX = 32,     /* MS-ASHTTP: DeviceId is at most 32 characters */
    EAS_DEVICE_TYPE_MAX = 64,   /* free text, bounded for the registry */
    EAS_KEY_MAX = 64,           /* SyncKey, ServerId, ClientId lengths (MS-ASCMD) */
    EAS_WINDOW_DEFAULT = 100,   /* Sync WindowSize when omitted */
    EAS_WINDOW_MAX = 512,       /* largest WindowSize (MS-ASCMD 2.2.3.199) */
    EAS_ESTIMATE_CAP = 1000000, /* GetItemEstimate counts stop here */
    EAS_RESPONSE_MAX = 8 << 20, /* bytes of one WBXML answer at least (eas_response_limit) */
};

/* The push hub: suspended Pings waiting for a change in one of their collections or for
 * their heartbeat to expire. One mutex, one timer thread; O(waiters) per change, which is
 * cheap next to the write that caused it. */
enum eas_wake {
    EAS_WAKE_NONE = 0,
    EAS_WAKE_CHANGE,
    EAS_WAKE_TIMEOUT,
    EAS_WAKE_SHUTDOWN,
};

struct eas_waiter {
    struct eas_waiter *prev, *next;
    struct http_request *req;
    const uint64_t *colls; /* collections watched */
    size_t ncolls;
    int64_t deadline_ms; /* monotonic */
    enum eas_wake wake;  /* set by the hub when it resumes the request */
    bool linked;         /* in the hub's list */
    bool fired;          /* resumed by the hub and not yet done (app->answering counts it) */
    bool deferred;       /* hub_done() is tied to the request's arena */
};

/* A device's last request that wrote nothing (seen.c); device 0 marks a free slot. */
struct eas_seen_slot {
    uint64_t device;
    int64_t when; /* unix seconds */
};

enum {
    EAS_SEEN_FLUSH_MS = 5 * 60 * 1000, /* how often the noted last_seen stamps are stored */
    /* After a crowd of at least EAS_TRIM_CROWD waiting long polls has mostly been woken (a
     * quarter left), the timer gives the freed heap back to the system (malloc_trim) once
     * every woken request has finished, at least EAS_TRIM_DELAY_MS later (push.c). */
    EAS_TRIM_CROWD = 1000,
    EAS_TRIM_DELAY_MS = 2000,
};

struct eas_app {
    struct eas_config cfg;
    struct store_pool *pool;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct eas_waiter *waiters;
    unsigned nwaiting;
    bool stopping;
    pthread_t timer;
    unsigned crowd_peak; /* most waiters since the last trim */
    unsigned answering;  /* requests the hub resumed that have not finished yet */
    int64_t trim_at_ms;  /* monotonic time of the next malloc_trim, 0 when none is due */
    /* last_seen stamps not stored yet (seen.c): an open-addressing table, at most half full */
    pthread_mutex_t seen_mu;
    struct eas_seen_slot *seen;
    size_t seen_cap, seen_n;
};

/* What admit() found of the device's row, and so what the request's first write transaction
 * must also write (route.c): nothing, its changed type/user agent/protocol, or the row. */
enum eas_dev_write {
    EAS_DEV_SAME = 0,
    EAS_DEV_CHANGED,
    EAS_DEV_NEW,
};

enum eas_cmd {
    EAS_CMD_SYNC,
    EAS_CMD_SENDMAIL,
    EAS_CMD_SMARTFORWARD,
    EAS_CMD_SMARTREPLY,
    EAS_CMD_GETATTACHMENT,
    EAS_CMD_FOLDERSYNC,
    EAS_CMD_FOLDERCREATE,
    EAS_CMD_FOLDERDELETE,
    EAS_CMD_FOLDERUPDATE,
    EAS_CMD_MOVEITEMS,
    EAS_CMD_GETITEMESTIMATE,
    EAS_CMD_MEETINGRESPONSE,
    EAS_CMD_SEARCH,
    EAS_CMD_SETTINGS,
    EAS_CMD_PING,
    EAS_CMD_ITEMOPERATIONS,
    EAS_CMD_PROVISION,
    EAS_CMD_RESOLVERECIPIENTS,
    EAS_CMD_VALIDATECERT,
    EAS_CMD_COUNT
};

/* One request. Lives in the request arena. */
struct eas_req {
    struct eas_app *app;
    struct http_request *http;
    struct arena *arena;
    const struct eas_command *cmd;
    unsigned version; /* protocol version x 10: 121, 140, 141, 160, 161 */
    const char *user; /* authenticated name */
    const char *device_id;
    const char *device_type;
    bool has_policy_key;
    uint32_t policy_key;
    struct store *store; /* from the pool, released with the arena or before a long poll */
    struct store_req sr; /* manages `store` (store_req.h) */
    struct store_principal principal;
    struct store_eas_device device; /* id 0 while a new device's row is not written */
    enum eas_dev_write dev_write;   /* left for the first write transaction to write */
    /* request body: the decoder and the tree live in an arena of their own, which a Ping
     * frees before it waits (eas_body_release), so a waiting Ping holds only its state */
    struct arena *body_arena;
    size_t body_len;
    struct eas_wbxml_dec *dec;
    struct eas_tree *tree;
    const struct eas_node *root; /* NULL for an empty body */
    /* answer */
    struct buf out;
    struct eas_wbxml_enc enc;
    /* Sync's first pass (cmd_sync.c): in a read transaction, it stops with needs_write set
     * at the first thing it would have to write, and the write pass runs instead */
    bool read_only;
    bool needs_write;
    /* the principal's e-mail addresses (eas_item_from_ical), read when admitted */
    const char *const *emails;
    size_t nemails;
    bool emails_read;
    /* long poll */
    struct eas_waiter waiter;
    void *poll; /* the command's state across a suspension */
};

typedef int eas_cmd_fn(struct eas_req *er, struct err *err);

struct eas_command {
    const char *name; /* Cmd= value and the root element's name */
    unsigned code;    /* the base64 query's command code */
    unsigned root;    /* root tag (page << 8 | token), 0 when it takes no body */
    bool policy;      /* needs a valid policy key (HTTP 449 otherwise) */
    bool listed;      /* in MS-ASProtocolCommands */
    eas_cmd_fn *run;
    eas_cmd_fn *resumed; /* after a suspension (long polls), or NULL */
};

extern const struct eas_command eas_commands[EAS_CMD_COUNT];

/* Commands (cmd_*.c). */
int eas_cmd_provision(struct eas_req *er, struct err *err);
int eas_cmd_foldersync(struct eas_req *er, struct err *err);
int eas_cmd_foldercreate(struct eas_req *er, struct err *err);
int eas_cmd_folderchange(struct eas_req *er, struct err *err);
int eas_cmd_sync(struct eas_req *er, struct err *err);
int eas_cmd_sync_resumed(struct eas_req *er, struct err *err);
int eas_cmd_getitemestimate(struct eas_req *er, struct err *err);
int eas_cmd_ping(struct eas_req *er, struct err *err);
int eas_cmd_ping_resumed(struct eas_req *er, struct err *err);
int eas_cmd_settings(struct eas_req *er, struct err *err);
int eas_cmd_itemoperations(struct eas_req *er, struct err *err);
int eas_cmd_meetingresponse(struct eas_req *er, struct err *err);
int eas_cmd_resolverecipients(struct eas_req *er, struct err *err);
int eas_cmd_minimal(struct eas_req *er, struct err *err);

/* Store access (route.c): one pooled connection per request, released with the arena.
 * Store results map to conditions; STORE_OK returns 0. */
struct store *eas_store(struct eas_req *er);
/* Gives the connection back to the pool (a suspended long poll must not hold one); the next
 * eas_store() takes one again. */
void eas_store_release(struct eas_req *er);
int eas_store_err(struct eas_req *er, enum store_rc rc, struct err *err);
int eas_begin_read(struct eas_req *er, struct err *err);
/* A write transaction; its first statements register a new device, or store the changed
 * type, user agent or protocol of a known one (so a request that writes nothing never
 * writes those, and a refused or failed one leaves no trace). STORE_LIMIT of the device cap
 * is eas_cond_device_limit. */
int eas_begin_write(struct eas_req *er, struct err *err);
int eas_commit(struct eas_req *er, struct err *err);

/* Last-seen stamps of requests that wrote nothing (seen.c). note: thread-safe, O(1)
 * amortized; device 0 (not registered yet) is ignored. flush: stores every stamp noted so far
 * in one write transaction on a pooled connection and forgets them; returns how many were
 * stored (0 when the store failed: they are dropped and logged). Timer thread and
 * eas_app_destroy() only. */
void eas_seen_note(struct eas_app *app, uint64_t device, int64_t when);
size_t eas_seen_flush(struct eas_app *app);

/* Frees the request's body (decoder, tree: er->root becomes NULL); for a command that keeps
 * what it needs of it elsewhere before a long wait. */
void eas_body_release(struct eas_req *er);

/* The answer (route.c): starts the WBXML document; eas_send() sets it as the response. */
int eas_out_begin(struct eas_req *er, struct err *err);
int eas_send(struct eas_req *er, struct err *err);
/* Bytes one WBXML answer may take: EAS_RESPONSE_MAX, or more when a window plus one item as
 * large as max_resource_size needs it. */
size_t eas_response_limit(const struct eas_app *app);

/* A refused write to the answer buffer: only past eas_response_limit(). */
int eas_out_err(struct err *err);

/* Folder and item ids. Calendars are "c<collection id>", items "<collection id>:<item id>";
 * the dummy mail/contacts/tasks folders have fixed names. Parsers return -1 on anything
 * else. */
const char *eas_folder_id(struct arena *a, uint64_t coll);
int eas_folder_parse(const char *id, uint64_t *coll_out);
const char *eas_item_id(struct arena *a, uint64_t coll, uint64_t item);
int eas_item_parse(const char *id, uint64_t *coll_out, uint64_t *item_out);
/* The collection of folder `id` if it is one of the requesting user's calendars or a calendar
 * shared with them (issue 12): 0; 1 when it is not (unknown, gone, another user's not shared
 * with them, not a calendar: all alike, so a stranger learns nothing); -1 with `err` set when
 * the store failed, which the caller must not answer as an unknown folder (the device would
 * drop it and resync the hierarchy over a passing fault). */
int eas_calendar_of(struct eas_req *er, const char *id, struct store_coll *out, struct err *err);
/* The same, with the user's access to it in *access_out (OWNER, READ or READ_WRITE when 0 is
 * returned). */
int eas_calendar_access(struct eas_req *er,
                        const char *id,
                        struct store_coll *out,
                        enum calstore_access *access_out,
                        struct err *err);
/* True if `id` names one of the fixed dummy folders. */
bool eas_dummy_folder(const char *id);

/* Body preference of one request (AirSyncBase:BodyPreference): Type and TruncationSize. */
struct eas_bodypref {
    unsigned type;     /* 1 plain text, 2 HTML; 0 = none asked */
    size_t truncation; /* 0 = whole body */
};

/* Calendar items (item.c). eas_item_write() writes the children of ApplicationData or
 * Properties for `version`; eas_item_read() reads a client's ApplicationData into `ev` with
 * a presence bit per property (strings in `a`), -1 with eas_cond_item_invalid on bad values;
 * eas_item_field_of() maps a Supported child to its ghosting bit. */
int eas_item_write(struct eas_wbxml_enc *e,
                   unsigned version,
                   const struct eas_bodypref *bp,
                   const struct eas_calmap_event *ev);
int eas_item_read(const struct eas_node *data,
                  struct arena *a,
                  struct eas_calmap_event *ev,
                  struct err *err);
uint32_t eas_item_field_of(unsigned tag);
/* The stored object `ics` as the requesting user's calendar item (eas_calmap_from_ical_opts
 * for the request's version, with the user's addresses, so that a meeting they attend reads
 * MeetingStatus 3 and their own ResponseType): 0, or -1 with err set. The addresses are
 * read when the request is admitted (Sync and ItemOperations only). */
int eas_item_from_ical(struct eas_req *er,
                       struct slice ics,
                       struct eas_calmap_event *ev,
                       struct err *err);
/* True when the ApplicationData's Body says Truncated: the device holds only part of it, so a
 * Change must keep the stored body (eas_item_read leaves such a body out). */
bool eas_item_body_truncated(const struct eas_node *data);

/* DeviceInformation Status values (MS-ASCMD 2.2.3.177.15; Provision answers with the same
 * settings:Status, MS-ASPROV 2.2.2.53). */
enum {
    EAS_DEVINFO_OK = 1,
    EAS_DEVINFO_PROTOCOL = 2,
    EAS_DEVINFO_INVALID = 5, /* Invalid arguments */
};

/* Stores DeviceInformation/Set (Settings and Provision) in its own write transaction.
 * Returns the DeviceInformation Status to answer: EAS_DEVINFO_OK once stored, or
 * EAS_DEVINFO_INVALID, storing nothing, when a field is longer than STORE_EAS_TEXT_MAX
 * bytes; -1 with `err` set when the store fails. */
int eas_store_device_info(struct eas_req *er, const struct eas_node *set, struct err *err);

/* Sync keys: digit strings gen * 10^12 + counter (activesync.md §3.3.3). */
const char *eas_key_first(struct arena *a);
const char *eas_key_next(struct arena *a, const char *key);

/* Push hub (push.c). eas_hub_wait() registers the waiter of `er` (its colls, deadline set
 * by the caller) and suspends the request; the hub resumes it with waiter.wake set. */
void eas_hub_wait(struct eas_req *er);
/* Resumes the waiter of `er` at once if it still waits (a change seen after registering). */
void eas_hub_fire(struct eas_req *er);

/* Now in milliseconds on the monotonic clock. */
int64_t eas_now_ms(void);

#endif
