/* eas/sync_int.h: what the files of Sync share (cmd_sync.c the command and each
 * collection's answer, sync_state.c the sticky Options, the stored answer fragments and the
 * SyncKey state, sync_client.c the client's Add/Change/Delete/Fetch, sync_window.c the
 * server's window of changes). Internal to eas. */
#ifndef ALMANAC_EAS_SYNC_INT_H
#define ALMANAC_EAS_SYNC_INT_H

#include "calstore/calstore.h"
#include "eas/eas_int.h"

enum {
    SYNC_OK = 1,
    SYNC_BAD_KEY = 3,
    SYNC_PROTOCOL = 4,
    SYNC_SERVER = 5,
    SYNC_CONVERSION = 6,
    SYNC_CONFLICT = 7,
    SYNC_NOT_FOUND = 8,
    SYNC_HIERARCHY = 12,
    SYNC_NO_CACHE = 13,
    SYNC_BAD_WAIT = 14,
    SYNC_TOO_MANY = 15,
    MAX_COLLECTIONS = 100,   /* collections in one Sync */
    MAX_RESPONSES = 4096,    /* client commands per collection per request */
    OPTIONS_MAX = 256,       /* bytes of the sticky Options record */
    FRAGMENT_MAX = 16 << 20, /* bytes of one Collection's answer */
};

/* The sticky Options of a (device, collection), stored as "f=5 t=1 s=32768 c=1 g=HEX". */
struct sync_opts {
    unsigned filter; /* FilterType 0 (all), 4-7 */
    struct eas_bodypref body;
    unsigned conflict; /* 1 server wins (default), 0 client wins */
    uint32_t keep;     /* ghosting: bits kept from the stored item when a Change omits them */
};

/* One element encoded on its own (sync_state.c), spliced into the answer. */
struct frag {
    struct buf buf;
    struct eas_wbxml_enc enc;
};

enum resp_kind {
    RESP_ADD,
    RESP_CHANGE,
    RESP_DELETE,
    RESP_FETCH,
};

struct resp {
    enum resp_kind kind;
    const char *client_id;
    const char *server_id;
    unsigned status;
    uint64_t item;   /* Fetch: the item to send */
    const char *uid; /* Add in 16.x: the UID the server chose, sent back (MS-ASCMD ClientUid) */
};

/* An item whose client Change or Delete was refused (a read-only shared calendar, issue 12):
 * the window sends the server's version back first, as a Change (the device still holds its
 * edited copy) or an Add (it deleted its copy), so the device's copy matches the store's. */
struct resend {
    uint64_t item;
    uint64_t modseq;
    bool add;
};

struct coll_job {
    struct eas_req *er;
    struct store_coll coll;
    enum calstore_access access; /* the user's: OWNER, or a sharee's READ / READ_WRITE */
    struct resend *resends;      /* as many as resps can hold */
    size_t nresends;
    struct store_eas_sync st;
    struct sync_opts opts;
    struct resp *resps;
    size_t nresps;
    int64_t cutoff;
    bool wrote; /* a client command changed the store: the key must advance (§3.3.3) */
    struct add_preps *preps;
};

/* A client Add converted to iCalendar and validated (calstore_prepare) before Sync's write
 * transaction, so before the write gate: neither needs the store. client_add() finds it by its
 * command node. */
struct add_prep {
    const struct eas_node *cmd;
    int rc; /* 0: converted, obj holds calstore's verdict; -1: `cond` says why not */
    const struct err_cond *cond;
    const char *same; /* the UID a device re-adding an event sends (its UID, or ClientUid) */
    struct calstore_obj obj;
};

/* The prepared Adds of one Sync, in the order the commands come. */
struct add_preps {
    struct add_prep *v;
    size_t n;
    size_t next; /* commands are met in order: the search starts here */
};

/* sync_state.c */

void sync_opts_default(struct sync_opts *o);
/* The stored Options of a state (defaults when absent or unreadable). */
int sync_opts_load(const struct store_eas_sync *st, struct sync_opts *o);
/* Applies a request's Options element over `o`. Returns 0 or -1 (protocol error). */
int sync_opts_read(const struct eas_node *n, struct sync_opts *o);
/* A new fragment (encoder and buffer of at most FRAGMENT_MAX bytes) in the request arena. */
struct frag *sync_frag_new(struct eas_req *er);
/* The fragment's bytes after the document header, with its final page in front. */
struct slice sync_frag_bytes(struct frag *f);
/* Appends stored fragment bytes (final page first) to the answer. */
int sync_splice(struct eas_wbxml_enc *e, struct slice stored);
/* True when the state holds j->opts already (a save would change only its time). */
bool sync_opts_stored(struct coll_job *j);
/* Stores the state of key `key` (previous `prev`): cursor, Options and the answer. */
int sync_save_state(struct coll_job *j,
                    const char *key,
                    const char *prev,
                    uint64_t cursor,
                    struct slice answer,
                    struct err *err);

/* sync_client.c */

/* Converts and validates the Adds of every collection of the request, outside any
 * transaction. */
void sync_prepare_adds(struct eas_req *er,
                       const struct eas_node *const *list,
                       size_t ncoll,
                       struct add_preps *out);
/* Applies the client's commands of one collection, collecting their Responses. */
int sync_client_commands(struct coll_job *j, const struct eas_node *cmds, struct err *err);
/* The Responses element of the collection's answer (none when there is no Response). */
int sync_write_responses(struct coll_job *j, struct eas_wbxml_enc *e);

/* sync_window.c */

/* FilterType -> the earliest end an item may have to be on the device (0 = no window). */
int64_t sync_filter_cutoff(unsigned filter);
/* The refused items' server versions (struct resend) into the open Commands element of
 * `cmds`, counted in *sent; stops when the fragment passes max_window_bytes. 0 or -1. */
int sync_write_resends(struct coll_job *j, struct frag *cmds, unsigned *sent, struct err *err);
/* One item's ApplicationData: 0, 1 skipped, -1 failed write, -2 with `fault` (see there). */
int sync_write_item_data(struct coll_job *j,
                         struct eas_wbxml_enc *e,
                         uint64_t id,
                         struct err *fault);
/* The window: time-driven SoftDeletes, then change rows after the cursor; the number of
 * items sent or -1. */
int sync_build_window(struct coll_job *j,
                      unsigned window,
                      struct frag *cmds,
                      bool *more,
                      uint64_t *cursor,
                      struct err *err);

#endif
