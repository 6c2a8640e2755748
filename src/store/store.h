/* store/store.h: the one storage interface (DESIGN.md "Data model and the change log").
 * Speaks principals, collections, items, dead properties and modseqs; never iCalendar, never a
 * protocol. No engine type appears here, so store_sqlite.c and a future store_pg.c fit behind
 * it unchanged.
 *
 * Model
 * - principal: a user (name, argon2id hash computed by the caller).
 * - collection: a tree per principal. The principal's home (/calendars/<user>/) is the root
 *   collection (kind STORE_COLL_HOME, parent 0, name ""); calendars and plain WebDAV
 *   collections hang below it, and plain collections may nest (litmus needs that).
 *   Each collection has `modseq`, a counter every write to its members increments inside the
 *   writing transaction, `epoch` and a 16-byte `change_guid` that both change when history
 *   is cut, and `tomb_horizon`: tokens whose watermark is below it are too old.
 * - item: one resource in a collection. `id` is store-wide, assigned at creation, never
 *   reused (< 2^47), and kept across MOVE. `modseq` is the collection modseq of its last
 *   write, `created_modseq` the modseq at which it appeared in its current collection.
 * - tombstone: deleting or moving an item away leaves {collection, item id, last name,
 *   modseq of the delete, created_modseq} in a table of its own, indexed by
 *   (collection, modseq) like the items.
 * - dead property: (resource, namespace URI, local name) -> serialized XML value.
 *
 * Transactions: every call below except store_open/close/last_error runs inside a transaction
 * the caller opened with store_begin_read() or store_begin_write() on the same handle, and
 * ended with store_commit() or store_rollback(). A read transaction is one snapshot (SQLite
 * WAL), so a long streamed answer stays consistent while writers continue. Writes are durable
 * once store_commit() returns STORE_OK: it waits for an fsync of the log that began after the
 * commit, and concurrent writers of one pool share that fsync (group commit). STORE_IO from
 * the commit of a write means its durability is unknown (the fsync failed).
 *
 * Threads: a `struct store` is one connection, used by one thread at a time. A `struct
 * store_pool` (thread-safe, one mutex) hands connections to request workers.
 *
 * Strings returned in structs live in the `arena` the caller passes, or for cursor rows are
 * borrowed until the next store_cursor_next() or store_cursor_close(). */
#ifndef ALMANAC_STORE_STORE_H
#define ALMANAC_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/arena.h"
#include "util/compiler.h"

struct store;
struct store_pool;
struct store_cursor;

enum store_rc {
    STORE_OK = 0,
    STORE_NOTFOUND, /* no such principal, collection, item or property */
    STORE_EXISTS,   /* name taken (principal, collection or live item) */
    STORE_CONFLICT, /* constraint: uid taken in the collection, parent missing, not empty */
    STORE_BUSY,     /* the database stayed locked past the busy timeout */
    STORE_LIMIT,    /* a store-enforced limit (e.g. name length) */
    STORE_IO,       /* I/O error, corruption, or a bug: detail in store_last_error() */
};

/* Store-wide limits, enforced by the engine whatever the caller checked. */
enum {
    STORE_NAME_MAX = 255,    /* bytes of a collection or item name (one path segment) */
    STORE_USER_MAX = 64,     /* bytes of a principal name */
    STORE_GUID_BYTES = 16,   /* store GUID and change GUIDs */
    STORE_SECRET_BYTES = 32, /* the store's secret, see store_secret() */
};

/* ---------------------------------------------------------------------------------------- */
/* Opening, pools, transactions */

/* Opens (creating if absent) the SQLite store `dir`/almanac.db, applies pending migrations,
 * turns on WAL and foreign keys, and prepares statements. Caller closes with store_close().
 * Returns STORE_OK or STORE_IO (message in *errmsg_out if not NULL, static or NULL). */
enum store_rc store_open(const char *dir, struct store **out, const char **errmsg_out);
void store_close(struct store **s);

/* Detail of the last non-OK result on this handle (borrowed until the next call). */
const char *store_last_error(const struct store *s);

/* The store's GUID: 16 random bytes made when the store was created. */
void store_guid(const struct store *s, uint8_t out[STORE_GUID_BYTES]);

/* The store's secret: 32 random bytes made with the store, never sent anywhere. Protocols
 * derive the keys of their authenticated tokens from it (the replication collblob MAC), so
 * every node sharing the store verifies the same tokens. */
void store_secret(const struct store *s, uint8_t out[STORE_SECRET_BYTES]);

enum store_rc store_begin_read(struct store *s);
enum store_rc store_begin_write(struct store *s); /* BEGIN IMMEDIATE: one writer at a time */
enum store_rc store_commit(struct store *s);
enum store_rc store_rollback(struct store *s); /* safe to call with no transaction open */
bool store_in_txn(const struct store *s);

/* A pool of up to `max` connections to `dir`; thread-safe. Connections are opened lazily.
 * acquire blocks while all `max` are in use. */
enum store_rc store_pool_create(const char *dir, unsigned max, struct store_pool **out);
void store_pool_destroy(struct store_pool **p);
struct store *store_pool_acquire(struct store_pool *p);
/* Returns a connection; rolls back any transaction the borrower left open. */
void store_pool_release(struct store_pool *p, struct store *s);
/* Log fsyncs made so far for commits of this pool's connections (statistics, tests): with
 * concurrent writers, fewer than their commits. */
uint64_t store_pool_flush_count(struct store_pool *p);

/* ---------------------------------------------------------------------------------------- */
/* Principals */

struct store_principal {
    uint64_t id;
    const char *name;   /* in the caller's arena */
    const char *pwhash; /* argon2id encoded string, in the caller's arena */
    uint64_t home_id;   /* the principal's home collection */
};

/* Creates the principal and its home collection. STORE_EXISTS if the name is taken,
 * STORE_LIMIT if longer than STORE_USER_MAX. */
enum store_rc store_principal_add(struct store *s,
                                  const char *name,
                                  const char *pwhash,
                                  struct arena *arena,
                                  struct store_principal *out);
enum store_rc store_principal_get(struct store *s,
                                  const char *name,
                                  struct arena *arena,
                                  struct store_principal *out);
enum store_rc store_principal_set_pwhash(struct store *s, const char *name, const char *pwhash);
/* Deletes the principal, its collections, items, tombstones and properties. */
enum store_rc store_principal_del(struct store *s, const char *name);

typedef int store_principal_fn(void *ctx, const struct store_principal *p);
/* Calls fn for every principal in name order (strings borrowed for the call); stops early
 * and returns STORE_OK when fn returns non-zero. */
enum store_rc store_principal_list(struct store *s, store_principal_fn *fn, void *ctx);

/* ---------------------------------------------------------------------------------------- */
/* Collections */

enum store_coll_kind {
    STORE_COLL_HOME = 0,     /* a principal's root */
    STORE_COLL_PLAIN = 1,    /* a generic WebDAV collection */
    STORE_COLL_CALENDAR = 2, /* a calendar collection */
};

struct store_coll {
    uint64_t id;
    uint64_t owner;  /* principal id */
    uint64_t parent; /* 0 for a home */
    enum store_coll_kind kind;
    const char *name; /* last path segment, "" for a home */
    uint64_t modseq;  /* bumped by every write to the collection or its members */
    uint64_t epoch;
    uint8_t change_guid[STORE_GUID_BYTES];
    uint64_t tomb_horizon; /* tokens below this modseq are too old */
    int64_t created;       /* unix seconds */
    int64_t updated;       /* unix seconds of the last write */
};

/* Creates a child of `parent` (which must belong to `owner`); modseq starts at 1 and a fresh
 * epoch and change GUID are drawn. Bumps the parent's modseq. STORE_EXISTS if a collection or
 * live item of that name exists in the parent; STORE_NOTFOUND if the parent does not. */
enum store_rc store_coll_create(struct store *s,
                                uint64_t parent,
                                const char *name,
                                enum store_coll_kind kind,
                                struct arena *arena,
                                struct store_coll *out);
enum store_rc
store_coll_get(struct store *s, uint64_t id, struct arena *arena, struct store_coll *out);
/* The child collection `name` of `parent`. */
enum store_rc store_coll_lookup(struct store *s,
                                uint64_t parent,
                                const char *name,
                                struct arena *arena,
                                struct store_coll *out);
/* Deletes a collection with everything below it (members, sub-collections, tombstones,
 * properties); bumps the parent's modseq. A home cannot be deleted (STORE_CONFLICT). */
enum store_rc store_coll_delete(struct store *s, uint64_t id);
/* Moves/renames a collection under `new_parent` as `new_name` (same owner). STORE_EXISTS if
 * the target name is taken, STORE_CONFLICT if new_parent is the collection or below it.
 * Bumps both parents' modseqs. */
enum store_rc
store_coll_move(struct store *s, uint64_t id, uint64_t new_parent, const char *new_name);
/* Bumps the collection's modseq (a property change on the collection itself). */
enum store_rc store_coll_touch(struct store *s, uint64_t id, uint64_t *modseq_out);
/* Cuts history: new epoch and change GUID, tomb_horizon = modseq, tombstones dropped. */
enum store_rc store_coll_reset_history(struct store *s, uint64_t id);
/* Drops tombstones whose delete happened before `older_than` (unix seconds) and raises
 * tomb_horizon to the newest dropped one's modseq: a token below it may have missed a delete
 * that is no longer recorded. */
enum store_rc store_coll_prune_tombstones(struct store *s, uint64_t id, int64_t older_than);

/* ---------------------------------------------------------------------------------------- */
/* Items */

/* What a caller writes. The caller (cal/dav) computed uid and the index fields. */
struct store_item_in {
    const void *content;
    size_t size;
    const char *content_type; /* e.g. "text/calendar; charset=utf-8" */
    const char *uid;          /* NULL for non-calendar resources */
    bool has_span;            /* dtstart_utc/dtend_utc are set */
    int64_t dtstart_utc;      /* start of the first instance, unix seconds */
    int64_t dtend_utc;        /* end of the last instance; INT64_MAX when unbounded */
    unsigned comp;            /* the caller's component type (a bit), 0 when none */
    bool is_recurring;        /* the object has RRULE or RDATE */
    /* Opaque index bytes the caller computed for the item (a series' instance index), kept
     * with it and returned by the range cursor; has_instances false clears them. */
    bool has_instances;
    const void *instances;
    size_t instances_size;
};

struct store_item {
    uint64_t id;
    uint64_t coll;
    const char *name;
    const char *uid;          /* NULL if none */
    const char *content_type; /* never NULL for a live item */
    size_t size;
    const void *content; /* NULL unless loaded (store_item_get with want_content) */
    uint64_t modseq;
    uint64_t created_modseq;
    int64_t mtime; /* unix seconds of the last write */
    bool has_span;
    int64_t dtstart_utc;
    int64_t dtend_utc;
    unsigned comp;     /* as written in store_item_in */
    bool is_recurring; /* as written in store_item_in */
    bool is_tombstone; /* only from change cursors: no content, type or uid */
    /* Only from the range cursor: the item's store_item_in.instances (borrowed like the
     * row), has_instances false when it has none. */
    bool has_instances;
    const void *instances;
    size_t instances_size;
};

enum store_item_flags {
    STORE_ITEM_META = 0,    /* everything but the content */
    STORE_ITEM_CONTENT = 1, /* load the content into the arena too */
};

/* The live item `name` in `coll`. */
enum store_rc store_item_get(struct store *s,
                             uint64_t coll,
                             const char *name,
                             enum store_item_flags flags,
                             struct arena *arena,
                             struct store_item *out);
/* The live item with `uid` in `coll` (for no-uid-conflict). */
enum store_rc store_item_get_by_uid(
    struct store *s, uint64_t coll, const char *uid, struct arena *arena, struct store_item *out);

/* Creates or replaces the live item `name` in `coll`, bumping the collection's modseq; the
 * item's modseq becomes the new collection modseq (and created_modseq too when created).
 * `*created_out` (may be NULL) tells which. STORE_CONFLICT if another live item in `coll`
 * has the same uid; STORE_EXISTS if a child collection has that name; STORE_NOTFOUND if
 * `coll` does not exist. `out` (may be NULL) receives the metadata as written. */
enum store_rc store_item_put(struct store *s,
                             uint64_t coll,
                             const char *name,
                             const struct store_item_in *in,
                             struct arena *arena,
                             struct store_item *out,
                             bool *created_out);
/* Deletes the live item, leaving a tombstone at the new modseq. Its properties go too. */
enum store_rc store_item_delete(struct store *s, uint64_t coll, const char *name);
/* Moves the live item to (`to_coll`, `to_name`) keeping its id and properties: a tombstone
 * in the source, a new modseq (and created_modseq) in the target. STORE_EXISTS if the target
 * name is taken (the caller deletes first when overwriting), STORE_CONFLICT on a uid clash. */
enum store_rc store_item_move(
    struct store *s, uint64_t coll, const char *name, uint64_t to_coll, const char *to_name);

/* ---------------------------------------------------------------------------------------- */
/* Cursors: rows stream from the current read transaction, O(1) memory per row. */

enum store_order {
    STORE_ORDER_NAME,   /* by name, bytewise */
    STORE_ORDER_MODSEQ, /* by modseq ascending */
};

/* Live items of `coll` (metadata only). */
enum store_rc
store_items_open(struct store *s, uint64_t coll, enum store_order order, struct store_cursor **out);
/* Live items and tombstones of `coll` with modseq > since, merged in ascending modseq. */
enum store_rc
store_changes_open(struct store *s, uint64_t coll, uint64_t since, struct store_cursor **out);
/* Live items of `coll` whose span overlaps [start, end) (unix seconds), by the index, each
 * with its instance index bytes (store_item.instances) when it has them. */
enum store_rc store_items_in_range_open(
    struct store *s, uint64_t coll, int64_t start, int64_t end, struct store_cursor **out);
/* Child collections of `coll`, by name. */
enum store_rc store_children_open(struct store *s, uint64_t coll, struct store_cursor **out);
/* Every collection of every principal, by id (maintenance: tombstone pruning). */
enum store_rc store_all_colls_open(struct store *s, struct store_cursor **out);

/* Advances: STORE_OK with *row_out set (borrowed until the next call), STORE_NOTFOUND at the
 * end, or an error. Exactly one of item/coll is filled, by the cursor's kind. */
enum store_rc store_cursor_next_item(struct store_cursor *c, struct store_item *row_out);
enum store_rc store_cursor_next_coll(struct store_cursor *c, struct store_coll *row_out);
void store_cursor_close(struct store_cursor **c);

/* ---------------------------------------------------------------------------------------- */
/* Dead properties (RFC 4918 §4.2). A resource is a collection or an item. */

enum store_res_kind {
    STORE_RES_COLL = 0,
    STORE_RES_ITEM = 1
};

struct store_prop {
    const char *ns;    /* namespace URI ("" for no namespace) */
    const char *name;  /* local name */
    const char *value; /* serialized XML content of the property element */
    size_t value_len;
};

/* Sets (creates or replaces) a dead property. Does not bump any modseq by itself: the caller
 * does (store_coll_touch, or re-putting the item) so it can batch a whole PROPPATCH. */
enum store_rc
store_prop_set(struct store *s, enum store_res_kind kind, uint64_t id, const struct store_prop *p);
/* STORE_OK whether or not it existed (RFC 4918: removing an absent property succeeds). */
enum store_rc store_prop_del(
    struct store *s, enum store_res_kind kind, uint64_t id, const char *ns, const char *name);
enum store_rc store_prop_get(struct store *s,
                             enum store_res_kind kind,
                             uint64_t id,
                             const char *ns,
                             const char *name,
                             struct arena *arena,
                             struct store_prop *out);
typedef int store_prop_fn(void *ctx, const struct store_prop *p);
/* Every dead property of the resource, by (ns, name); strings borrowed for the call. */
enum store_rc store_prop_list(
    struct store *s, enum store_res_kind kind, uint64_t id, store_prop_fn *fn, void *ctx);
/* Copies every dead property of one resource onto another (COPY). */
enum store_rc store_prop_copy(struct store *s,
                              enum store_res_kind from_kind,
                              uint64_t from_id,
                              enum store_res_kind to_kind,
                              uint64_t to_id);
/* Bumps the item's modseq (a dead-property change on it), keeping content. */
enum store_rc store_item_touch(struct store *s, uint64_t coll, const char *name);

#endif
