/* dav/ext.h: the dav module's interface for its own files and for the protocol layers above
 * it (caldav, repl): the request as extensions see it (its accessors and each extension's
 * state slot; the core's own state is private, dav/dav_int.h), resolved resources, methods,
 * the live-property registry, the multistatus writer, and struct dav_ext, through which a
 * layer plugs in its properties, methods and hooks (Cyrus's meth_params, made explicit),
 * among them the writes of calendars' items, which go through src/calstore. */
#ifndef ALMANAC_DAV_EXT_H
#define ALMANAC_DAV_EXT_H

#include <stdbool.h>
#include <stdint.h>

#include "dav/dav.h"
#include "util/buf.h"
#include "xml/xmlin.h"

/* Namespaces with fixed prefixes on output (declared on every multistatus and error root). */
#define DAV_NS         "DAV:"
#define DAV_NS_CALDAV  "urn:ietf:params:xml:ns:caldav"
#define DAV_NS_CS      "http://calendarserver.org/ns/"
#define DAV_NS_ALMANAC "urn:x-almanac:"
#define DAV_NS_DT      "urn:uuid:c2f41010-65b3-11d1-a29f-00aa00c14882/" /* Exchange's dt:dt */
#define DAV_XMLNS                                               \
  " xmlns:D=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:caldav\"" \
  " xmlns:CS=\"http://calendarserver.org/ns/\" xmlns:A=\"urn:x-almanac:\""

/* Limits of the dav module that are not configuration keys. */
enum {
    DAV_MAX_SEGMENTS = 32,          /* path depth below a home */
    DAV_MAX_PROPS_REQUESTED = 1024, /* properties named in one PROPFIND/PROPPATCH */
};

struct dav_req;

/* Bytes one <D:response> may take while a multistatus streams: room for the largest object
 * max_resource_size lets in as calendar-data, escaped at worst ('&' and CR take five bytes
 * each as &amp; and &#13;), plus its properties. */
size_t dav_row_limit(const struct dav_req *dr);

enum dav_kind {
    DAV_RES_NONE = 0,   /* nothing there (has_parent tells whether the parent exists) */
    DAV_RES_ROOT,       /* "/" */
    DAV_RES_PRINCIPALS, /* "/principals/" */
    DAV_RES_PRINCIPAL,  /* "/principals/<user>/" */
    DAV_RES_CALROOT,    /* "/calendars/" */
    DAV_RES_COLL,       /* a store collection (a home, calendar or plain collection) */
    DAV_RES_ITEM,       /* a store item */
};

/* What the authenticated principal may do with a store resource (issue 12): the owner
 * everything; a sharee what the grant says (calstore/calstore.h has the rule: a read-write
 * sharee writes members, never the collection itself). */
enum dav_access {
    DAV_ACCESS_NONE = 0,
    DAV_ACCESS_READ,
    DAV_ACCESS_READ_WRITE,
    DAV_ACCESS_OWNER,
};

/* The writes an access check guards, one per calstore_op (calstore/calstore.h): the core
 * cannot see calstore, so the extension that owns calendars maps them (check_write). */
enum dav_write_op {
    DAV_OP_PUT,         /* create or replace a member */
    DAV_OP_DELETE,      /* delete a member */
    DAV_OP_COPY,        /* a copy arrives */
    DAV_OP_MOVE,        /* a member leaves or arrives by MOVE */
    DAV_OP_ITEM_PROPS,  /* dead properties of a member */
    DAV_OP_COLL_PROPS,  /* properties of the collection itself */
    DAV_OP_COLL_CREATE, /* a collection made inside it */
    DAV_OP_COLL_DELETE, /* the collection itself deleted, moved or replaced */
};

/* A path of the sharee's home that passes through a share (issue 12): the grant's member
 * of /calendars/<sharee>/ (or /exchange/<sharee>/) maps to the owner's collection. */
struct dav_share {
    uint64_t coll;     /* the shared collection */
    uint64_t owner_id; /* its owner's principal id */
    const char *owner; /* its owner's name */
    const char *name;  /* the share's name in the sharee's home */
    const char *href;  /* the share's href in the sharee's home (ends with '/') */
};

struct dav_res {
    enum dav_kind kind;
    const char *user;       /* the authenticated user, for resources of their tree; the
                               owner, for an owner's principal a sharee sees (issue 12) */
    struct store_coll coll; /* COLL: the collection; ITEM, NONE: the parent (if has_parent) */
    bool has_parent;        /* NONE/ITEM: coll holds an existing parent collection */
    bool in_home;           /* the path is below /calendars/<user>/ */
    bool foreign;           /* the path is in another user's tree: answer as for nothing */
    struct store_item item; /* ITEM */
    const char *name;       /* last segment, decoded */
    const char *href;       /* encoded absolute path; collections end with '/' */
    const char *parent_href;
    enum dav_access access;        /* COLL, ITEM, NONE with has_parent: the requester's access
                                      to `coll` */
    const struct dav_share *share; /* the share the path passes through, or NULL */
};

struct dav_req;
struct dav_core;
struct dav_propupdate;

/* One WebDAV method. begin() checks headers and sets up the body reader; run() executes once
 * the body is in. Handlers list the conditions they raise in their file's comment. */
struct dav_method {
    int (*begin)(struct dav_req *dr, struct err *err);
    int (*run)(struct dav_req *dr, struct err *err);
    bool raw_body; /* the body is kept whole (PUT), bounded by max_resource_size */
    bool no_body;  /* a body is refused with 415 (MKCOL, RFC 4918 §9.3) */
};

/* One WebDAV request as the extensions see it. The core sets every field but mstate (an
 * extension's own method keeps its state there); extensions read them. The core's own state
 * (method table, body readers, the store glue, the extensions' state slots) is struct
 * dav_core, private to src/dav (dav/dav_int.h). */
struct dav_req {
    struct http_request *http;
    struct arena *arena;
    const char *user;
    uint64_t principal;              /* the user's principal id, once dav_resolve found
                                        their home */
    struct store *store;             /* acquired lazily by dav_store(); released with the
                                        arena */
    const struct dav_limits *limits; /* the app's */
    void *mstate;                    /* the method's own state */
    bool stored_differs;             /* a PUT's cal_put stored other bytes than the body (the
                                        server's SCHEDULE-STATUS): no ETag (RFC 4791 §5.3.4) */
    struct dav_core *core;           /* the core's (dav_int.h) */
};

/* For a method whose begin decides which method the request is (POST: by its body's type):
 * makes `m` the request's method, sets up its body handling and runs its begin. Called from
 * the deciding method's begin only, before any body arrives. 0, or -1 with err set. */
int dav_use_method(struct dav_req *dr, const struct dav_method *m, struct err *err);

/* The body of a raw_body method (PUT), as received. */
struct buf *dav_req_body(struct dav_req *dr);
/* A PUT's body as its pre_put hooks are to validate it: the text a pre_unwrap_put hook
 * offered (dav_req_offer_put_body: the calendar it will store instead of the body) with its
 * type, else the body as received with the request's Content-Type (NULL when none). */
struct slice dav_req_put_body(struct dav_req *dr, const char **content_type_out);
/* `text` (which must outlive the request; in its arena) with `content_type` is what a
 * pre_unwrap_put hook's unwrap_put will store in place of the body when the target is a
 * calendar: the pre_put hooks validate it rather than the body. */
void dav_req_offer_put_body(struct dav_req *dr, struct slice text, const char *content_type);

/* Each extension's own state for one request: a pointer, NULL when the request begins, for
 * what lives across an extension's hooks within a request (caldav: a REPORT's calendar-data
 * options for its property getter, a PUT body's prepared object from pre_put to cal_put;
 * repl: the parsed values of the item a PROPFIND row writes). get returns NULL and set does
 * nothing for an extension not registered with the request's app. */
void *dav_ext_state(const struct dav_req *dr, const struct dav_ext *ext);
void dav_ext_set_state(struct dav_req *dr, const struct dav_ext *ext, void *state);

/* dav.c */
struct store *dav_store(struct dav_req *dr);
int dav_store_err(struct dav_req *dr, enum store_rc rc, struct err *err);
int dav_begin_read(struct dav_req *dr, struct err *err);
int dav_begin_write(struct dav_req *dr, struct err *err);
int dav_commit(struct dav_req *dr, struct err *err);
int dav_resolve(struct dav_req *dr, const char *path, struct dav_res *out, struct err *err);
int dav_depth(struct dav_req *dr, int dflt, int *depth_out, struct err *err);
void dav_xml_body(struct dav_req *dr, const struct xmlin_handler *h, void *ctx);
int dav_xml_finish(struct dav_req *dr, struct err *err);
/* An item's or collection's ETag, quoted: hex(change GUID || modseq48)
 * (exchange-replication.md §1.2), DAV_ETAG_LEN bytes. dav_etag returns it in the arena;
 * dav_etag_append appends it to out (it needs no XML escaping) and returns 0 or -1. */
#define DAV_ETAG_LEN (2 * (STORE_GUID_BYTES + 6) + 2)
const char *dav_etag(struct arena *a, const struct store_coll *c, uint64_t modseq);
int dav_etag_append(struct buf *out, const struct store_coll *c, uint64_t modseq) ALM_NODISCARD;
/* The same ETag into `out` (DAV_ETAG_LEN bytes, no terminator). */
void dav_etag_format(char out[DAV_ETAG_LEN], const struct store_coll *c, uint64_t modseq);
const char *dav_child_href(struct arena *a, const char *parent_href, const char *name, bool coll);
/* True when dav_child_href(parent_href, name, ...) needs no XML escaping, `parent_plain`
 * being xmlout_text_is_plain(parent_href): of the name, percent-encoding leaves only pchar
 * bytes and '%', of which '&' alone is escaped in XML text. */
bool dav_child_href_is_plain(bool parent_plain, const char *name);
/* RFC 9110 §13.1.1/§13.1.2 on the current ETag (NULL when the resource does not exist), then
 * the If header (dav_if_check, its grammar in ifheader.c) against `res`. */
int dav_check_preconditions(struct dav_req *dr,
                            const struct dav_res *res,
                            const char *etag,
                            struct err *err);
/* The If header alone: 0 when absent or true, -1 with 400 (malformed) or 412 (false). */
int dav_if_check(struct dav_req *dr, const struct dav_res *res, const char *etag, struct err *err);
/* dav_if_check against the resolved request target `res` with its current ETag (items have
 * one; collections and missing resources none). RFC 4918 §10.4 applies the If header to every
 * method: the methods that have no other precondition (OPTIONS, PROPFIND, REPORT, SEARCH,
 * MKCOL, MKCALENDAR, GET of a collection) call this right after resolving their target, inside
 * the transaction that then answers. Same returns as dav_if_check. */
int dav_if_check_target(struct dav_req *dr, const struct dav_res *res, struct err *err);

/* The access check of every write of the core and the extensions (issue 12): the first
 * extension's check_write hook (caldav's: calstore_check_write), else the owner alone.
 * 0 when allowed; -1 with dav_cond_need_privileges naming `href` (the resource the privilege
 * is needed on) and the privilege (RFC 3744 §7.1.1), or with the store's failure. */
int dav_check_write(struct dav_req *dr,
                    const struct store_coll *coll,
                    const char *href,
                    enum dav_write_op op,
                    struct err *err);
/* Sets err (replacing what it held) to dav_cond_need_privileges for `privilege` (a DAV: local
 * name) on `href` (in the request arena); returns -1. The error body is RFC 3744 §7.1.1's. */
int dav_need_privileges(struct dav_req *dr,
                        const char *href,
                        const char *privilege,
                        struct err *err);

/* The member collections of a collection, merged by name (RFC 4918 ordering is free, but
 * replication's folder listing is by name): its children in the store and, for the
 * authenticated principal's own home, the shares they hold (issue 12), which the store keeps
 * apart in name. The shares are read when it opens (O(shares) memory, in the arena). */
struct dav_members {
    struct dav_req *dr;
    const struct dav_res *parent;
    struct store_cursor *cur;
    struct dav_res *shares; /* the home's shares, by name */
    size_t nshares;
    size_t next_share;
    bool has_held; /* `held` is the cursor's next row, not yet returned */
    bool cur_done;
    struct store_coll held;
    struct buf held_name;
};

/* Opens the walk over `parent` (a DAV_RES_COLL kept alive by the caller); 0, or -1 with err. */
int dav_members_open(struct dav_req *dr,
                     const struct dav_res *parent,
                     struct dav_members *m,
                     struct err *err);
/* The next member as a resolved resource (kind DAV_RES_COLL, href and name in the arena):
 * 1, 0 after the last, -1 on a store failure. */
int dav_members_next(struct dav_members *m, struct dav_res *out);
void dav_members_close(struct dav_members *m);

/* props.c: live properties */
enum dav_prop_flags {
    DAV_PROP_ALLPROP = 1,   /* returned by allprop */
    DAV_PROP_PROTECTED = 2, /* PROPPATCH refuses it */
    DAV_PROP_EXPENSIVE = 4, /* reads more than the row (calendar-data): never probed for propname */
    /* For an item, reads only its id, name and modseq: a listing's row is enough
     * (dav_propsel_cols, store_items_open_cols); unflagged getters get the whole row. */
    DAV_PROP_LISTING = 8,
    /* An Exchange data type written as dt:dt (exchange-replication.md §4.1), one of: */
    DAV_PROP_DT_INT = 1 << 4,
    DAV_PROP_DT_BOOLEAN = 2 << 4,
    DAV_PROP_DT_DATETIME = 3 << 4, /* dateTime.tz */
    DAV_PROP_DT_MV_STRING = 4 << 4,
    DAV_PROP_DT_MV_DATETIME = 5 << 4,
    DAV_PROP_DT_MASK = 7 << 4,
};

struct dav_live_prop {
    const char *ns;
    const char *name;
    unsigned flags;
    /* Appends the value (inner XML) for `res`; 0 when written, 1 when the property does not
     * apply to this resource (then a dead property of that name may answer). */
    int (*get)(struct dav_req *dr, const struct dav_res *res, struct buf *out);
};

/* The registry: the core table, then the extension's. */
const struct dav_live_prop *
dav_live_prop_find(const struct dav_req *dr, struct slice ns, struct slice name);
size_t dav_live_prop_count(const struct dav_req *dr);
const struct dav_live_prop *dav_live_prop_at(const struct dav_req *dr, size_t i);

/* What a protocol layer adds to the WebDAV core. Every member may be empty. */
struct dav_ext {
    const struct dav_live_prop *props; /* live properties beyond the core's */
    size_t nprops;
    const struct dav_method *methods[HTTP_M_COUNT]; /* added or replaced methods */
    /* A PUT, before the write transaction (so before the write gate) and before the target
     * is known: may do the costly part of validating the body (dav_req_body: parse, recurrence
     * and time-zone expansion: calstore_prepare) and keep the result in its state slot
     * (dav_ext_state), for cal_put to use when the body is still that one. Never fails: a verdict
     * is only acted on by cal_put, once the target is known to be a calendar. */
    void (*pre_put)(struct dav_req *dr);
    /* A PUT, before the pre_put hooks: may make what its unwrap_put will store (a calendar
     * unwrapped or repaired; keeping it, or its refusal, in its state slot) and offer it
     * (dav_req_offer_put_body) for the pre_put hooks to validate before the write gate.
     * Never fails: a refusal is unwrap_put's to answer, once the target is known. */
    void (*pre_unwrap_put)(struct dav_req *dr);
    /* The writes of items of calendar collections (STORE_COLL_CALENDAR). The core never
     * writes such an item itself (dav/items.c): the extension that owns calendars does,
     * through src/calstore, the one calendar write path. Inside the write transaction; each
     * returns 0, or -1 with err set to the condition the client gets. */
    /* PUT of `in` (content, size and type as sent, or as unwrap_put left them) as item
     * target->name of the calendar target->coll; fills *out and *created. */
    int (*cal_put)(struct dav_req *dr,
                   const struct dav_res *target,
                   const struct store_item_in *in,
                   struct store_item *out,
                   bool *created,
                   struct err *err);
    /* Deletes item `name` of calendar `coll` (DELETE, or the item a COPY/MOVE replaces). */
    int (*cal_delete)(struct dav_req *dr,
                      const struct store_coll *coll,
                      const char *name,
                      struct err *err);
    /* Deletes calendar `coll` itself (DELETE, a COPY/MOVE that overwrites it), scheduling
     * its meetings as their own deletes would (calstore_coll_delete); may be NULL. */
    int (*cal_coll_delete)(struct dav_req *dr, const struct store_coll *coll, struct err *err);
    /* COPY of item `name` of `from` as `to_name` (free) into calendar `to`, or MOVE (`move`)
     * of it when `from` or `to` is a calendar. `to_href` is the href of `to` when known (for
     * a condition naming another member), else NULL. */
    int (*cal_transfer)(struct dav_req *dr,
                        bool move,
                        const struct store_coll *from,
                        const char *name,
                        const struct store_coll *to,
                        const char *to_name,
                        const char *to_href,
                        struct err *err);
    /* A COPY or MOVE of `src` (an item or a collection) to `target`, whose parent is a
     * collection of kind STORE_COLL_CALENDAR, before anything is written: 0 to go on, or -1
     * with err set when the calendar cannot hold it (RFC 4791 §5.3.2.1 preconditions). */
    int (*accept_copy)(struct dav_req *dr,
                       const struct dav_res *src,
                       const struct dav_res *target,
                       struct err *err);
    /* More children of DAV:resourcetype for collection `r` (XML in the core's prefixes,
     * e.g. "<C:schedule-inbox/>"), or NULL. */
    const char *(*resourcetype)(struct dav_req *dr, const struct dav_res *r);
    const char *compliance; /* appended to the DAV: header, e.g. "calendar-access" */
    const char *allow;      /* appended to Allow, e.g. "REPORT, MKCALENDAR" */
    /* The truth of an If-header state token (RFC 4918 §10.4) for `res` (which exists):
     * 1 true, 0 false, -1 not a token of this extension. */
    int (*state_token)(struct dav_req *dr, const struct dav_res *res, struct slice token);
    /* After a successful GET/HEAD/PUT/PROPPATCH of an item, or DELETE (then `modseq` is the
     * tombstone's): adds response headers naming the item's state (replication's
     * ResourceTag, Repl-UID; CalDAV's Schedule-Tag); `error`: they go on an error answer (a
     * 412 of the If header). STORE_OK, or the store's failure when a header needed a read
     * (a GET then answers it instead of the item). */
    enum store_rc (*item_headers)(struct dav_req *dr,
                                  const struct store_coll *coll,
                                  uint64_t item_id,
                                  uint64_t modseq,
                                  bool deleted,
                                  bool error);
    /* A PUT into a calendar collection, before cal_put: may set in->content/size/
     * content_type to the calendar the body wraps (replication's message/rfc822,
     * exchange-replication.md §2.5; the text its pre_unwrap_put offered, so that pre_put's
     * verdict on it holds), or refuse the type. When it changed the calendar content it sets
     * *modified to an XML body (in the arena): the PUT then answers 210 Content Different with it
     * (exchange-replication.md §2.2) instead of 201/204. Inside the write transaction; 0, or -1
     * with err set. */
    int (*unwrap_put)(struct dav_req *dr,
                      const struct dav_res *target,
                      struct store_item_in *in,
                      const char **modified,
                      struct err *err);
    /* The access check of a write (issue 12), by the one rule of calstore_check_write:
     * 0 when the authenticated principal (dr->principal) may do `op` to `coll`; 1 when not,
     * with *privilege_out the RFC 3744 privilege it needs (a local name in DAV:); -1 with err
     * set when the store failed. Inside the write transaction. */
    int (*check_write)(struct dav_req *dr,
                       const struct store_coll *coll,
                       enum dav_write_op op,
                       const char **privilege_out,
                       struct err *err);
    /* PROPPATCH on an item, or on an unmapped URL whose parent collection exists (kind
     * DAV_RES_NONE), inside the write transaction after the If check. Claims the
     * instructions it owns (dav_propupdate_claim) and, when all of them succeed, writes the
     * item itself (through calstore: its one modseq bump) and fills *written; the core then
     * applies the unclaimed ones as dead properties of that item. Returns 0 when it wrote,
     * 1 when it claims nothing here, 2 when a claimed instruction failed (nothing written;
     * the core answers the 207 with 424 for the rest), or -1 with err set. */
    int (*proppatch)(struct dav_req *dr,
                     const struct dav_res *res,
                     struct dav_propupdate *pu,
                     struct store_item *written,
                     struct err *err);
};

/* items.c: every item write of the WebDAV core. An item of a calendar collection is written
 * by the extension's cal_* hooks (through calstore), any other by the store directly; each
 * returns 0, or -1 with err set. */
int dav_item_put(struct dav_req *dr,
                 const struct dav_res *target,
                 const struct store_item_in *in,
                 struct store_item *out,
                 bool *created,
                 struct err *err);
/* Deletes collection `coll` with everything below it: a calendar through the extension's
 * cal_coll_delete (so its meetings schedule), any other with store_coll_delete. */
int dav_coll_delete(struct dav_req *dr, const struct store_coll *coll, struct err *err);
int dav_item_delete(struct dav_req *dr,
                    const struct store_coll *coll,
                    const char *name,
                    struct err *err);
/* COPY (dead properties along) or MOVE of item `name` of `from` to (`to`, `to_name`). */
int dav_item_transfer(struct dav_req *dr,
                      bool move,
                      const struct store_coll *from,
                      const char *name,
                      const struct store_coll *to,
                      const char *to_name,
                      const char *to_href,
                      struct err *err);

/* Calls every extension's item_headers hook: STORE_OK, or the first failure. */
enum store_rc dav_ext_item_headers(struct dav_req *dr,
                                   const struct store_coll *coll,
                                   uint64_t item_id,
                                   uint64_t modseq,
                                   bool deleted,
                                   bool error);

/* XML names of properties on output: known namespaces use their prefix, others declare one. */
int dav_prop_open(struct buf *b, const char *ns, const char *name);
int dav_prop_close(struct buf *b, const char *ns, const char *name);
int dav_prop_empty(struct buf *b, const char *ns, const char *name);
/* dav_prop_open() with the dt:dt attribute `flags` name (DAV_PROP_DT_*), if any. */
int dav_prop_open_typed(struct buf *b, const char *ns, const char *name, unsigned flags);

/* multistatus.c: a streamed 207. next() appends the next response(s) to `out` and returns how
 * many it wrote (at least 1), 0 when there are no more, or -1 (the connection is then aborted
 * and the failure logged). `out` is empty at each call; it holds up to DAV_MS_BATCH bytes of
 * rows and then one more row of up to dav_row_limit() bytes, so a writer of many short rows
 * a call (dav_etag_row) stops once `out` reaches DAV_MS_BATCH. */
enum {
    DAV_MS_BATCH = 32 * 1024
};

typedef int dav_ms_next_fn(void *ctx, struct buf *out);
void dav_ms_stream(struct dav_req *dr, dav_ms_next_fn *next, void *ctx);
/* The same pulled writer for any body: `head`, then next()'s rows, then `tail` (static). */
void dav_stream(struct dav_req *dr,
                unsigned status,
                const char *content_type,
                const char *head,
                const char *tail,
                dav_ms_next_fn *next,
                void *ctx);

/* One <D:response> with propstats for `res`, as selected by a PROPFIND. */
enum dav_propsel_mode {
    DAV_SEL_ALLPROP,
    DAV_SEL_PROPNAME,
    DAV_SEL_PROP
};

struct dav_propname {
    const char *ns; /* "" for no namespace */
    const char *name;
    const struct dav_live_prop *live; /* its row in the live-property registry, or NULL */
    /* live only: its opening tag (with the dt:dt of an Exchange type) and closing tag, as
     * dav_prop_open_typed and dav_prop_close write them, made once when the name is added
     * (each NULL if it could not be) */
    const char *open_tag;
    const char *close_tag;
    size_t open_len;
    size_t close_len;
};

struct dav_propsel {
    enum dav_propsel_mode mode;
    struct dav_propname *names; /* DAV_SEL_PROP: requested; ALLPROP: D:include extras */
    size_t n;
    size_t cap;
};

/* dav/propsel.c: adds (ns, name), copied into `a`, to the names of `sel` (a <prop> or
 * <include> child of a PROPFIND or REPORT body); past DAV_MAX_PROPS_REQUESTED names it is
 * dav_cond_bad_request (400). */
int dav_propsel_add(struct dav_propsel *sel,
                    const struct dav_req *dr,
                    struct slice ns,
                    struct slice name,
                    struct err *err);

/* What of each item row a listing answering `sel` needs: STORE_COLS_NAMES when `sel` is
 * DAV:getetag alone; STORE_COLS_LISTING when `sel` names properties (not allprop or propname)
 * and each live one has DAV_PROP_LISTING (a dead one needs only the item's id); else
 * STORE_COLS_ALL. */
enum store_item_cols dav_propsel_cols(const struct dav_propsel *sel);

/* The name of `sel` when it is DAV:getetag alone (with its tags made), else NULL. */
const struct dav_propname *dav_propsel_etag_only(const struct dav_propsel *sel);

/* The rows of a listing whose selection is DAV:getetag alone (what a syncing client asks of
 * every member): written without a struct dav_res or an href in the arena (issue 16 item 1).
 * Set up once per answer for the collection `coll` (kept, with sel, for the answer's life);
 * parent_plain also serves the answer's other rows (dav_child_href_is_plain). */
struct dav_etag_rows {
    const struct dav_propname *pn; /* NULL: every row takes the general path */
    struct slice parent;           /* coll's href */
    bool parent_plain;             /* it needs no XML escaping (xmlout_text_is_plain) */
    const struct store_coll *coll;
};

void dav_etag_rows_init(struct dav_etag_rows *w,
                        const struct dav_propsel *sel,
                        const struct dav_res *coll);
/* The row of coll's item `name` at `modseq`: 0 when written, the same bytes
 * dav_write_response writes; 1 when not (not such a selection, a name the XML text must
 * escape, or near a limit): the caller writes it with dav_write_response. */
int dav_etag_row(const struct dav_etag_rows *w, const char *name, uint64_t modseq, struct buf *out);

int dav_write_response(struct dav_req *dr,
                       const struct dav_res *res,
                       const struct dav_propsel *sel,
                       struct buf *out);
/* dav_write_response for a row whose href the caller knows needs no XML escaping
 * (dav_child_href_is_plain): written as it is, not scanned (a Depth-1 PROPFIND's rows). */
int dav_write_response_plain_href(struct dav_req *dr,
                                  const struct dav_res *res,
                                  const struct dav_propsel *sel,
                                  struct buf *out);
/* A response-level status for an href (404 rows, COPY/DELETE failures). */
int dav_write_status(struct buf *out, const char *href, unsigned status);
const char *dav_status_line(unsigned status);

/* Method handlers (one file each). */
extern const struct dav_method dav_options, dav_propfind, dav_proppatch, dav_mkcol, dav_get,
    dav_head, dav_put, dav_delete, dav_copy, dav_move;

/* A DAV property update body (<propertyupdate>, <C:mkcalendar>, extended <D:mkcol>), read
 * by the streaming reader: set/remove instructions with values kept as serialized XML. */
/* Sets up the body reader expecting root element {root_ns}root_name; in the request arena. */
struct dav_propupdate *dav_propupdate_begin(struct dav_req *dr,
                                            const char *root_ns,
                                            const char *root_name,
                                            const struct err_cond *wrong_root);
/* The value of a set instruction for {ns}name, marking it consumed (not stored as a dead
 * property); NULL when absent. */
const char *dav_propupdate_take(struct dav_propupdate *pu, const char *ns, const char *name);

/* One instruction as an extension's PROPPATCH hook reads it; strings in the request arena. */
struct dav_pp_instr {
    bool remove;
    bool claimed; /* already claimed (consumed) */
    const char *ns;
    const char *name;
    const char *text;          /* character data directly inside the property element */
    const char *const *values; /* the text of each child element (<v:v> of an mv. value) */
    size_t nvalues;
    const char *dt; /* the dt:dt attribute of the property element, or NULL */
};

/* The i-th instruction in document order: true with *out set, false past the last. O(i). */
bool dav_propupdate_get(struct dav_propupdate *pu, size_t i, struct dav_pp_instr *out);
/* Marks the i-th instruction consumed by the extension: succeeded when `cond` is NULL, else
 * failed with cond's status and `msg` (copied into the request arena) in its propstat. */
void dav_propupdate_claim(struct dav_propupdate *pu,
                          size_t i,
                          const struct err_cond *cond,
                          const char *msg);
/* Applies the unconsumed instructions to `res` as dead properties, inside the caller's write
 * transaction; -1 with dav_cond_cannot_modify_protected when one names a protected property. */
int dav_propupdate_apply(struct dav_req *dr,
                         struct dav_propupdate *pu,
                         const struct dav_res *res,
                         struct err *err);

/* Answers `status` with `body` as XML (small answers built whole, e.g. PROPPATCH). */
void dav_xml_answer(struct dav_req *dr, unsigned status, const struct buf *body);

#endif
