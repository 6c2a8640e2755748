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
 * Transactions: every call below except store_open/close/last_error (and
 * store_principal_cred_gen, see there) runs inside a transaction
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
 * borrowed until the next store_cursor_next() or store_cursor_close().
 *
 * Time ranges: an engine answers store_items_in_range_open() from an interval index of the
 * items' spans and instance boxes, so a query for one week costs what that week holds, not
 * the calendar's history. SQLite keeps them in an R*Tree (schema/010_item_spans.sql);
 * PostgreSQL, when store_pg.c lands, needs the equivalent: a GiST index on (collection,
 * int8range of the box), btree_gist for the collection column, kept by the same writes. */
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
    /* The database server cannot be reached (PostgreSQL: the connection was lost or refused):
     * the open transaction is gone, uncommitted (unless COMMIT itself was cut off: then it may
     * have committed); retry later, the pool reconnects (store_pool_acquire). */
    STORE_UNAVAILABLE,
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

/* Opens the store at `dir`, a location: a directory or "sqlite:DIR" (SQLite: opens, creating
 * if absent, DIR/almanac.db, applies pending migrations, turns on WAL and foreign keys, and
 * prepares statements), or a postgresql:// (postgres://) libpq URI (PostgreSQL: connects,
 * applies pending migrations under an advisory lock, refuses a newer schema than this build
 * knows). Caller closes with store_close().
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

/* A pool of up to `max` connections to `dir` (a location, as store_open); thread-safe. The first
 * connection opens, and migrates the schema, in store_pool_create (STORE_IO when it cannot); the
 * others open lazily, without migrations. acquire blocks while all `max` are in use, and returns
 * NULL (logged) when a new connection cannot be opened now: the caller answers 503. A pooled
 * connection whose server went away (PostgreSQL restarted) is reconnected when it is next
 * acquired, or dropped when that fails, so the pool recovers once the server is back. */
enum store_rc store_pool_create(const char *dir, unsigned max, struct store_pool **out);
void store_pool_destroy(struct store_pool **p);
struct store *store_pool_acquire(struct store_pool *p);
/* Returns a connection; rolls back any transaction the borrower left open. */
void store_pool_release(struct store_pool *p, struct store *s);
/* Log fsyncs made so far for commits of this pool's connections (statistics, tests): with
 * concurrent writers, fewer than their commits. */
uint64_t store_pool_flush_count(struct store_pool *p);
/* PostgreSQL: a statement of a pooled connection that runs longer than `ms` milliseconds (a
 * lock wait included) is cancelled and fails with STORE_BUSY; 0 (the default) sets no limit.
 * Applies to each connection when it is next acquired. The SQLite engine ignores it: its lock
 * waits are bounded by its busy timeout, and its statements do not wait on a server. */
void store_pool_set_statement_timeout(struct store_pool *p, unsigned ms);

/* Monitoring (/metrics): how the pool is used and how long commits and log fsyncs take. */
enum {
    STORE_TIMING_BUCKETS = 12
};

/* A latency histogram: buckets[i] counts the events of at most store_timing_bound_us(i)
 * microseconds and more than the bound before; buckets[STORE_TIMING_BUCKETS], the rest. */
struct store_timing {
    uint64_t count;
    uint64_t sum_us;
    uint64_t buckets[STORE_TIMING_BUCKETS + 1];
};

/* The upper bound of bucket i < STORE_TIMING_BUCKETS, in microseconds (100 us to 10 s). */
uint64_t store_timing_bound_us(size_t i);

struct store_pool_stats {
    unsigned max;               /* connections at most */
    unsigned open;              /* connections opened so far */
    unsigned in_use;            /* connections handed out now */
    unsigned waiting;           /* threads waiting in store_pool_acquire() */
    bool is_poisoned;           /* a log fsync failed: commits fail until a restart */
    uint64_t lost;              /* connections dropped since the start because their database
                                   server went away (PostgreSQL; 0 on SQLite) */
    uint64_t open_failed;       /* attempts to open a connection that failed (PostgreSQL
                                   unreachable; 0 on SQLite) */
    uint64_t write_page_reads;  /* pages write transactions read from the database or its
                                   log, not found in their connection's cache (SQLite; 0 on
                                   PostgreSQL): a few a write while the writer's cache holds
                                   what writes touch */
    struct store_timing commit; /* write transactions, COMMIT until durable (group commit
                                   wait included) */
    struct store_timing fsync;  /* log fsyncs (one may cover many commits) */
};

/* A snapshot of the counters; thread-safe, one lock held for O(free connections). */
void store_pool_stats(struct store_pool *p, struct store_pool_stats *out);

/* Backup, restore and checks (store_sqlite_backup.c). None runs inside a transaction. */
enum {
    STORE_MSG_MAX = 256
}; /* bytes of a message buffer, NUL included */

#define STORE_RESTORE_FORCE 1u /* store_restore: replace a store that has users */
/* True when `dir` holds a store (almanac.db), which store_open would otherwise create. */
bool store_is_present(const char *dir);
/* The engine's integrity check: STORE_OK, or STORE_CONFLICT naming the first problem. */
enum store_rc store_check(struct store *s);
/* Writes a consistent snapshot of the store, taken while others keep writing, into the new
 * file `dest_path` (mode 0600; STORE_EXISTS if it exists), checked before it gets that name. */
enum store_rc store_backup(struct store *s, const char *dest_path);
/* Replaces the store in `dir` (created if missing) by the checked backup `src_path` and cuts
 * every collection's history (clients start over). STORE_BUSY while another process has the
 * store open, STORE_EXISTS if it has users and `flags` lacks STORE_RESTORE_FORCE. */
enum store_rc
store_restore(const char *src_path, const char *dir, unsigned flags, char msg_out[STORE_MSG_MAX]);

/* ---------------------------------------------------------------------------------------- */
/* Principals */

struct store_principal {
    uint64_t id;
    const char *name;   /* in the caller's arena */
    const char *pwhash; /* argon2id encoded string, in the caller's arena */
    uint64_t home_id;   /* the principal's home collection */
    uint64_t cred_gen;  /* credential generation: a value of a store-wide counter taken anew
                           by add and by every set_pwhash, never reused, so it differs from
                           every earlier credential of this name (even one deleted and made
                           again) */
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
/* Replaces the password hash and gives the principal a new cred_gen. STORE_NOTFOUND when
 * there is no such principal. Needs a write transaction. */
enum store_rc store_principal_set_pwhash(struct store *s, const char *name, const char *pwhash);
/* The principal's credential generation (struct store_principal.cred_gen), for a caller that
 * cached a verified password and must know it still stands: one indexed read, no hashing.
 * STORE_NOTFOUND when there is no such principal (it was deleted). The one call that may also
 * run outside a transaction: a single statement, its own snapshot (a request's credential
 * check and /healthz then cost one round trip on PostgreSQL, not BEGIN ... ROLLBACK). */
enum store_rc store_principal_cred_gen(struct store *s, const char *name, uint64_t *gen_out);
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
    unsigned comps;        /* component types the collection accepts, as the caller's bits
                              (store_coll_set_comps); 0 = no restriction */
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
/* Records the component types collection `id` accepts (struct store_coll.comps; the store
 * keeps the bits and never checks them). Bumps no modseq. STORE_NOTFOUND when the collection
 * does not exist. */
enum store_rc store_coll_set_comps(struct store *s, uint64_t id, unsigned comps);
/* The number of live items of collection `id` and the sum of their sizes, counted by the
 * store in one statement (no row reaches the caller). 0 and 0 for a missing collection. */
enum store_rc
store_coll_usage(struct store *s, uint64_t id, uint64_t *items_out, uint64_t *bytes_out);
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
/* store_coll_prune_tombstones over every collection, each in a write transaction of its own
 * (a writer waits for one collection's prune, never for all); called outside a transaction.
 * *colls_out (may be NULL) receives the number of collections visited. */
enum store_rc store_prune_all_tombstones(struct store *s, int64_t older_than, size_t *colls_out);

/* ---------------------------------------------------------------------------------------- */
/* Items */

/* One interval of an item's instance boxes (struct store_cal_index.boxes). */
struct store_box {
    int64_t start; /* unix seconds; INT64_MIN when unbounded */
    int64_t end;   /* unix seconds, >= start; INT64_MAX when unbounded */
};

enum {
    STORE_ITEM_BOXES_MAX = 63, /* instance boxes per item: a series of many instances is
                                  covered by this many intervals, cut at its widest gaps */
};

/* The calendar index of an item: what the calendar layer (src/calstore, the one place that
 * fills it) computed from a calendar object for queries and UID conflicts. The store keeps
 * the fields and never reads the object; all zero for a non-calendar resource. */
struct store_cal_index {
    const char *uid;     /* NULL for non-calendar resources */
    bool has_span;       /* dtstart_utc/dtend_utc are set */
    int64_t dtstart_utc; /* start of the first instance, unix seconds */
    int64_t dtend_utc;   /* end of the last instance; INT64_MAX when unbounded */
    unsigned comp;       /* the caller's component type (a bit), 0 when none */
    bool is_recurring;   /* the object has RRULE or RDATE */
    /* Opaque index bytes the caller computed for the item (a series' instance index), kept
     * with it and returned by the range cursor; has_instances false clears them. On a
     * struct store_item, only from the range cursor (borrowed like the row) and from
     * store_item_get with STORE_ITEM_INSTANCES (in the arena); has_instances false when it
     * has none. */
    bool has_instances;
    const void *instances;
    size_t instances_size;
    /* Instance boxes: closed intervals of unix seconds (start <= end) that together cover
     * every instance a range query by instances must find (store_items_in_range_open with
     * STORE_RANGE_INSTANCES), at most STORE_ITEM_BOXES_MAX of them. nboxes 0: the span
     * stands for the instances. Written by store_item_put (only with has_span); never
     * returned on a struct store_item (NULL, 0). */
    const struct store_box *boxes;
    size_t nboxes;
};

/* What a caller writes. */
struct store_item_in {
    const void *content;
    size_t size;
    const char *content_type;   /* e.g. "text/calendar; charset=utf-8" */
    struct store_cal_index cal; /* zero for non-calendar resources */
};

struct store_item {
    uint64_t id;
    uint64_t coll;
    const char *name;
    const char *content_type; /* never NULL for a live item */
    size_t size;
    const void *content; /* NULL unless loaded (store_item_get with want_content) */
    uint64_t modseq;
    uint64_t created_modseq;
    int64_t mtime;              /* unix seconds of the last write */
    struct store_cal_index cal; /* as written in store_item_in (uid NULL if none) */
    bool is_tombstone;          /* only from change cursors: no content, type or uid */
};

enum store_item_flags {
    STORE_ITEM_META = 0,      /* everything but the content */
    STORE_ITEM_CONTENT = 1,   /* load the content into the arena too */
    STORE_ITEM_INSTANCES = 2, /* and the instance index (store_item.cal.instances) */
};

/* The live item `name` in `coll`. */
enum store_rc store_item_get(struct store *s,
                             uint64_t coll,
                             const char *name,
                             enum store_item_flags flags,
                             struct arena *arena,
                             struct store_item *out);

/* A hint in a read transaction: items of these names (at most STORE_PREFETCH_MAX are
 * read; a name with '/' is skipped) in `coll`, and its sub-collections of these names, are
 * looked up next, each by name (a calendar-multiget's hrefs). An engine whose lookups cost a
 * round trip each (PostgreSQL) reads them all in one and answers those lookups from it, in
 * the same snapshot; SQLite, in the process, has nothing to save and does nothing. STORE_OK,
 * or the engine's failure (a lost connection). The names are not kept. */
enum {
    STORE_PREFETCH_MAX = 128
};
enum store_rc
store_item_prefetch(struct store *s, uint64_t coll, const char *const *names, size_t n);
/* A hint in a read transaction: a path is walked next, from principal `principal` (looked up
 * by name), its home, then the home's member names[0] and that one's member names[1] (n <= 2),
 * each looked up as a collection, the last also as an item. An engine whose lookups cost a
 * round trip each (PostgreSQL) reads them all in one and answers those lookups from it, in the
 * same snapshot; SQLite does nothing. STORE_OK, or the engine's failure (a lost connection).
 * Nothing is kept of the arguments. */
enum store_rc
store_path_prefetch(struct store *s, const char *principal, const char *const *names, size_t n);
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

/* What of an item a cursor's rows carry. A listing (a Depth-1 PROPFIND or a sync-collection
 * asking only for ETags) reads a fraction of the row: reading all of it was most of the cost
 * of such an answer (issue 16). */
enum store_item_cols {
    STORE_COLS_ALL,     /* every field of struct store_item but the content */
    STORE_COLS_LISTING, /* id, coll, name and modseq (a change cursor's also created_modseq
                           and is_tombstone); the other fields are zero (content_type and
                           cal.uid NULL) */
    STORE_COLS_NAMES,   /* STORE_COLS_LISTING but the id, which may be zero: what a listing of
                           ETags alone reads (an engine may give the id too) */
};

/* store_items_open with the columns `cols`. */
enum store_rc store_items_open_cols(struct store *s,
                                    uint64_t coll,
                                    enum store_order order,
                                    enum store_item_cols cols,
                                    struct store_cursor **out);
/* Live items and tombstones of `coll` with modseq > since, merged in strictly ascending
 * modseq. Every write to a collection takes a fresh modseq and leaves at most one row at it,
 * and writers commit one at a time, so no two rows share a modseq and a committed row never
 * appears below a modseq some reader has already passed. Each live item appears once, at the
 * modseq of its last write; each tombstone row once. One item id can appear as a tombstone and
 * then as a live row (renamed within the collection, or moved away and back), the tombstone
 * first. So a walk that resumes with `since` = the modseq of the last row it consumed sees
 * every later change exactly once (ActiveSync windows, activesync.md §3.3.4), provided
 * `since` is not below the collection's tomb_horizon. O(log n) to open, O(1) per row. */
enum store_rc
store_changes_open(struct store *s, uint64_t coll, uint64_t since, struct store_cursor **out);
/* store_changes_open with the columns `cols`. */
enum store_rc store_changes_open_cols(struct store *s,
                                      uint64_t coll,
                                      uint64_t since,
                                      enum store_item_cols cols,
                                      struct store_cursor **out);

/* What a range cursor compares with its range. */
enum store_range_by {
    STORE_RANGE_SPAN,      /* the items whose span overlaps the range */
    STORE_RANGE_INSTANCES, /* those of them whose instance boxes (store_cal_index.boxes), when
                              the item was written with some, meet the closed range
                              [start, end]: a superset of the items with an instance in
                              [start, end), which the caller tells apart exactly (the boxes
                              are the cal layer's cover of its instance index) */
    /* A flag OR'd into either: the reader loads each row's content next (store_item_get
     * with STORE_ITEM_CONTENT), so an engine with a round trip per lookup (PostgreSQL)
     * brings it with the row; without it the rows come without, and a reader that still
     * loads some row's content pays that lookup (a calendar-query for getetag loads none,
     * or only a series' without an instance index). */
    STORE_RANGE_CONTENT = 0x100,
};

/* Live items of `coll` whose span overlaps [start, end) (unix seconds: dtstart_utc < end and
 * dtend_utc > start; dtend_utc = start also for an instant, dtstart_utc = dtend_utc, which RFC
 * 4791 §9.9 matches when start <= DTSTART, and for a series, whose last instance may be one:
 * the caller decides a series by its instances), narrowed by `by`, ordered by (dtstart_utc,
 * dtend_utc, id), each with its instance index bytes (store_item.cal.instances) when it has them.
 * By an interval index of spans and instance boxes (schema/010_item_spans.sql; a GiST range index
 * will play its part on PostgreSQL): O(log n + m log m) for m matching items, whatever the history
 * before or after the range, plus the series whose span or box covers it. */
enum store_rc store_items_in_range_open(struct store *s,
                                        uint64_t coll,
                                        int64_t start,
                                        int64_t end,
                                        enum store_range_by by,
                                        struct store_cursor **out);
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

/* ---------------------------------------------------------------------------------------- */
/* Items by id, change counts, change notification (used by ActiveSync, protocol-neutral) */

/* The live item with store id `id`, if it is in `coll` (ActiveSync ServerIds carry the id).
 * STORE_NOTFOUND when no live item has that id, or it lives in another collection; a deleted
 * or moved-away item is not found (only its tombstone is left). O(log n). */
enum store_rc store_item_get_by_id(struct store *s,
                                   uint64_t coll,
                                   uint64_t id,
                                   enum store_item_flags flags,
                                   struct arena *arena,
                                   struct store_item *out);

/* The number of change rows (live items + tombstones) of `coll` with modseq > since, counted
 * up to `cap`: *n_out = min(count, cap). By the two (coll, modseq) indexes, O(log n +
 * min(count, cap)), so a GetItemEstimate never walks a 100k-row history (activesync.md §3.4).
 * cap 0 counts nothing; UINT64_MAX means no cap. */
enum store_rc
store_changes_count(struct store *s, uint64_t coll, uint64_t since, uint64_t cap, uint64_t *n_out);

/* Change notification: `fn` is called after every successful write commit, once per
 * collection whose modseq changed in that transaction (members written, moved, deleted,
 * touched, and parents bumped by collection create/delete/move), with the collection's
 * modseq as committed. A collection created in the transaction is reported only if it was
 * also bumped; a deleted one is seen through its parent's bump. Not called after a rollback,
 * a failed commit, or a read transaction. It runs on the committing thread after COMMIT
 * returned and after the pool's write gate is released (outside any store lock); it must be
 * cheap (wake a waiter) and must not call back into the store. Order of the calls within one
 * commit is unspecified. Memory: O(collections bumped) per transaction.
 * `coll` 0 (no collection has id 0; modseq 0 then) means "every collection": changes may have
 * been missed, so whoever waits for any collection must look at the change log again. */
typedef void store_change_fn(void *ctx, uint64_t coll, uint64_t modseq);
/* For every connection of the pool, opened before or after the call. Call it at start-up,
 * before the pool hands out connections (changing it while they commit is a data race).
 * fn NULL turns notification off.
 * On PostgreSQL it is also called for the writes other processes commit to the same database
 * (other almanacd nodes, the admin CLI), from a listener thread of the pool's (LISTEN/NOTIFY),
 * concurrently with the committing threads: fn must be thread-safe. Each time that thread
 * begins to listen (once it started, and after it lost its database connection and has it
 * again) it calls fn(ctx, 0, 0). Once the call that replaces
 * or removes a hook returns, no thread calls the old one any more. */
void store_pool_set_change_hook(struct store_pool *p, store_change_fn *fn, void *ctx);
/* For one connection (tools, tests), replacing the pool's hook for it; call outside a
 * transaction. fn NULL turns notification off for this connection. */
void store_set_change_hook(struct store *s, store_change_fn *fn, void *ctx);

/* ---------------------------------------------------------------------------------------- */
/* ActiveSync device state (activesync.md §3.1, §3.3.3-3.3.5, §3.5, §3.6). The store keeps
 * numbers and opaque bytes; it never knows WBXML or a command. Every row below hangs off a
 * device, and a device off its principal: deleting a principal or a device deletes all of
 * its state (ON DELETE CASCADE), and deleting a collection deletes every device's sync state
 * and membership of it. Calls run inside the caller's transactions like the rest of this
 * header; the getters work in read transactions, everything else needs a write one. */

enum {
    STORE_EAS_ID_MAX = 128,       /* bytes of a DeviceId or DeviceType (MS-ASHTTP says 32;
                                     some clients send more) */
    STORE_EAS_TEXT_MAX = 1024,    /* bytes of a user agent, protocol or DeviceInformation field */
    STORE_EAS_KEY_MAX = 64,       /* bytes of a SyncKey (MS-ASCMD: at most 64 characters) */
    STORE_EAS_BLOB_NAME_MAX = 64, /* bytes of a blob name */
};

/* ActiveSync devices: (principal, device_id) with device_id compared case-insensitively
 * (ASCII only): the store keys the upper-case form and keeps the form first seen for
 * display. */
struct store_eas_device {
    uint64_t id;             /* store-wide, never reused */
    uint64_t principal;      /* the owning principal's id */
    const char *device_id;   /* as first seen */
    const char *device_type; /* as last seen */
    const char *user_agent;  /* as last seen, NULL when never sent */
    const char *protocol;    /* MS-ASProtocolVersion last used, e.g. "14.1"; NULL when none */
    int64_t first_seen;      /* unix seconds */
    int64_t last_seen;       /* unix seconds */
    uint32_t policy_key;     /* final key acknowledged by the device; 0 = none */
    uint32_t policy_pending; /* temporary key handed out, awaiting the ack; 0 = none */
    /* DeviceInformation (Settings or Provision, §3.6), NULL when unknown. */
    const char *model, *friendly_name, *os, *os_language, *imei, *phone_number, *mobile_operator;
};

/* Upsert on every request: creates the device (first_seen = last_seen = now, no policy, no
 * information) or updates device_type, user_agent, protocol and last_seen; a NULL
 * device_type/user_agent/protocol keeps the stored value. Fills `out` (may be NULL) with the
 * whole row as written, strings in `arena`. STORE_LIMIT when device_id is empty or a string is
 * over its limit, or when the device is new and the principal already has `max_devices`
 * other devices (MS-ASCMD status 177); max_devices 0 means no cap, and a known device is
 * never refused. STORE_NOTFOUND when the principal does not exist. O(log n), plus O(the
 * principal's devices) to count them when the device is new. */
enum store_rc store_eas_device_touch(struct store *s,
                                     uint64_t principal,
                                     const char *device_id,
                                     const char *device_type,
                                     const char *user_agent,
                                     const char *protocol,
                                     int64_t now,
                                     unsigned max_devices,
                                     struct arena *arena,
                                     struct store_eas_device *out);
/* The device (device_id in any case), strings in `arena`. STORE_NOTFOUND when unknown. */
enum store_rc store_eas_device_get(struct store *s,
                                   uint64_t principal,
                                   const char *device_id,
                                   struct arena *arena,
                                   struct store_eas_device *out);
/* Moves last_seen forward to `when` (never back), for the batched stamps of requests that
 * wrote nothing (eas/seen.c). STORE_OK also when the device is gone or was seen later. */
enum store_rc store_eas_device_seen(struct store *s, uint64_t device, int64_t when);
/* Sets both policy keys (§3.1: pending after the first Provision, final and pending 0 after
 * the ack). STORE_NOTFOUND when the device does not exist. */
enum store_rc
store_eas_device_set_policy(struct store *s, uint64_t device, uint32_t pending, uint32_t final_key);
/* Sets the DeviceInformation fields model..mobile_operator of `info` (its other fields are
 * ignored); NULL fields are left unchanged. STORE_LIMIT when one is over STORE_EAS_TEXT_MAX,
 * STORE_NOTFOUND when the device does not exist. */
enum store_rc
store_eas_device_set_info(struct store *s, uint64_t device, const struct store_eas_device *info);
typedef int store_eas_device_fn(void *ctx, const struct store_eas_device *d);
/* Calls fn for every device of the principal, by upper-cased device_id (strings borrowed for
 * the call); stops early and returns STORE_OK when fn returns non-zero. STORE_OK with no call
 * when the principal has none (or does not exist). */
enum store_rc
store_eas_device_list(struct store *s, uint64_t principal, store_eas_device_fn *fn, void *ctx);
/* Deletes the device and all its state: blobs, sync states, membership (cascade).
 * STORE_NOTFOUND when unknown. */
enum store_rc store_eas_device_del(struct store *s, uint64_t principal, const char *device_id);

/* Named per-device blobs (cached Sync request, Ping parameters, hierarchy state): opaque
 * bytes, replaced whole. A name is 1..STORE_EAS_BLOB_NAME_MAX bytes (else STORE_LIMIT). put:
 * STORE_NOTFOUND when the device does not exist. get: *p_out in `arena` (a non-NULL pointer
 * even for 0 bytes), STORE_NOTFOUND when absent. del: STORE_OK whether or not it existed. */
enum store_rc
store_eas_blob_put(struct store *s, uint64_t device, const char *name, const void *p, size_t n);
enum store_rc store_eas_blob_get(struct store *s,
                                 uint64_t device,
                                 const char *name,
                                 struct arena *arena,
                                 const void **p_out,
                                 size_t *n_out);
enum store_rc store_eas_blob_del(struct store *s, uint64_t device, const char *name);

/* Per (device, collection) sync state: the two slots of the brief's state machine (§3.3.3). */
struct store_eas_sync {
    uint64_t device, coll;
    const char *key_cur;  /* opaque key, 1..STORE_EAS_KEY_MAX bytes */
    const char *key_prev; /* opaque key, <= STORE_EAS_KEY_MAX bytes, NULL when none */
    uint64_t cursor;      /* change-log watermark (modseq) of key_cur */
    uint64_t coll_epoch;  /* the collection's epoch when the state was made */
    const void *options;  /* opaque (eas-encoded) sticky Options; NULL when options_len 0 */
    size_t options_len;
    const void *answer; /* the response that carried key_cur, for a retransmitted key_prev;
                           NULL when answer_len 0 */
    size_t answer_len;
    int64_t updated; /* unix seconds, as the caller wrote it */
};

/* The state of (device, coll), strings and bytes in `arena`. STORE_NOTFOUND when none. */
enum store_rc store_eas_sync_get(struct store *s,
                                 uint64_t device,
                                 uint64_t coll,
                                 struct arena *arena,
                                 struct store_eas_sync *out);
/* Only the cursor of the state of (device, coll): what Ping compares with the change log,
 * without reading the stored answer. STORE_NOTFOUND when none. */
enum store_rc
store_eas_sync_cursor(struct store *s, uint64_t device, uint64_t coll, uint64_t *cursor_out);
/* Upsert of the whole state; an update keeps the membership. STORE_LIMIT when a key is out of
 * bounds, STORE_NOTFOUND when the device or the collection does not exist. */
enum store_rc store_eas_sync_put(struct store *s, const struct store_eas_sync *st);
/* Key 0: forget the state and the membership of (device, coll). STORE_OK whether or not
 * there was one. O(members). */
enum store_rc store_eas_sync_reset(struct store *s, uint64_t device, uint64_t coll);

/* Membership (§3.3.5): the items the device holds in that collection, with the item modseq it
 * last received. Membership belongs to the sync state of (device, coll): member_put needs
 * one (store_eas_sync_put first; STORE_NOTFOUND without it), and goes with it (sync_reset,
 * device or collection delete). Members are not tied to live items: a deleted item stays a
 * member until the caller deletes it (the tombstone tells the window walk to send Delete).
 * get/put/del are O(log n). */
/* STORE_NOTFOUND when `item` is not a member. */
enum store_rc store_eas_member_get(
    struct store *s, uint64_t device, uint64_t coll, uint64_t item, uint64_t *modseq_out);
/* Upsert. Also records the end of the span the live item has now (its dtend_utc), for
 * store_eas_members_aged_open. */
enum store_rc store_eas_member_put(
    struct store *s, uint64_t device, uint64_t coll, uint64_t item, uint64_t modseq);
/* STORE_OK whether or not it was a member. */
enum store_rc store_eas_member_del(struct store *s, uint64_t device, uint64_t coll, uint64_t item);
/* O(members) by the key's prefix (no row is read). */
enum store_rc
store_eas_member_count(struct store *s, uint64_t device, uint64_t coll, uint64_t *n_out);

/* Members whose live item's span ends before `cutoff` (unix seconds; FilterType ageing,
 * §3.3.5), by that end ascending, at most `limit` rows; rows are the live items (metadata, as
 * store_cursor_next_item gives them). Items without a span or with an unbounded one
 * (dtend_utc INT64_MAX) never age; deleted or moved-away items are not returned (their
 * tombstone is in the change feed). A member is found by the span end its item had when
 * store_eas_member_put last wrote it, through an index on (device, coll, that end): the cost
 * is O(log n + members ending before the cutoff), so members already soft-deleted and
 * removed are never touched again, however long the calendar's history (§5). An item whose
 * span changed after its member_put is therefore judged by its old end (and returned only
 * if both ends are before the cutoff); its change row is after the device's cursor, and the
 * window walk sends its Change or SoftDelete. */
enum store_rc store_eas_members_aged_open(struct store *s,
                                          uint64_t device,
                                          uint64_t coll,
                                          int64_t cutoff,
                                          unsigned limit,
                                          struct store_cursor **out);

/* ---------------------------------------------------------------------------------------- */
/* Subscription URLs (issue 15; schema/008_subscriptions.sql): a secret token that names one
 * calendar, read without signing in. */

enum {
    STORE_SUB_TOKEN_LEN = 32, /* characters of A-Z a-z 0-9 - _: 192 random bits */
};

struct store_sub {
    const char *token;
    uint64_t coll;         /* the calendar */
    uint64_t owner;        /* its owner's principal id */
    const char *coll_name; /* its name in the owner's home */
    int64_t created;       /* unix seconds */
};

/* A new token for collection `coll` (a calendar's tokens coexist until revoked), drawn from
 * libsodium's random bytes; *out in the arena. STORE_NOTFOUND when the collection does not
 * exist. */
enum store_rc
store_sub_create(struct store *s, uint64_t coll, struct arena *arena, struct store_sub *out);
/* The subscription `token` names: STORE_NOTFOUND for any string that is not a live token
 * (never told apart: a revoked token, a wrong one and garbage answer alike). */
enum store_rc
store_sub_get(struct store *s, const char *token, struct arena *arena, struct store_sub *out);
/* Revokes every token of collection `coll`; STORE_NOTFOUND when it had none. */
enum store_rc store_sub_revoke(struct store *s, uint64_t coll);
/* Every token of `owner`'s calendars, by calendar name then creation; strings borrowed for
 * the call. A non-zero return from fn stops the walk. */
typedef int store_sub_fn(void *ctx, const struct store_sub *sub);
enum store_rc store_sub_list(struct store *s, uint64_t owner, store_sub_fn *fn, void *ctx);

/* ---------------------------------------------------------------------------------------- */
/* Shared calendars (issue 12; schema/009_shares.sql): a grant gives one principal (the
 * sharee) read or read-write access to one collection of another (the owner). The sharee
 * sees it as a member of their own home under the grant's name, which the store keeps apart
 * from the names of the sharee's own home members (store_coll_create and store_coll_move
 * into a home answer STORE_EXISTS for a share's name, and a grant never takes a member's
 * name). Every change of a grant bumps the sharee's home modseq, and so does deleting a
 * shared collection or its owner, so a sharee's view of their home changes with it. */

enum store_share_access {
    STORE_SHARE_READ = 1,
    STORE_SHARE_READ_WRITE = 2,
};

struct store_share {
    uint64_t coll;   /* the shared collection */
    uint64_t owner;  /* its owner's principal id */
    uint64_t sharee; /* the sharee's principal id */
    enum store_share_access access;
    const char *name;        /* the share's name in the sharee's home */
    const char *coll_name;   /* the collection's name in the owner's tree */
    const char *owner_name;  /* the owner principal's name */
    const char *sharee_name; /* the sharee principal's name */
    int64_t created;         /* unix seconds */
};

/* Grants `sharee` `access` to collection `coll`, or changes the access of the grant that
 * exists (its name kept; *created_out false). `name` is the share's name in the sharee's
 * home; NULL makes one from the owner's and the collection's names ("alice-team", then
 * "alice-team-2"...) that no member or share of the sharee's home has. STORE_NOTFOUND when
 * the collection or the sharee does not exist; STORE_CONFLICT when the sharee owns the
 * collection or it is a home; STORE_EXISTS when the given name is taken in the sharee's home;
 * STORE_LIMIT when it is not a valid name. *out (may be NULL) in the arena. */
enum store_rc store_share_set(struct store *s,
                              uint64_t coll,
                              uint64_t sharee,
                              enum store_share_access access,
                              const char *name,
                              struct arena *arena,
                              struct store_share *out,
                              bool *created_out);
/* Revokes `sharee`'s grant on `coll`; STORE_NOTFOUND when there is none. */
enum store_rc store_share_del(struct store *s, uint64_t coll, uint64_t sharee);
/* `sharee`'s grant on `coll`: STORE_NOTFOUND when there is none (the owner has none). */
enum store_rc store_share_get(
    struct store *s, uint64_t coll, uint64_t sharee, struct arena *arena, struct store_share *out);
/* The grant `sharee` sees as `name` in their home; STORE_NOTFOUND when none. */
enum store_rc store_share_lookup(struct store *s,
                                 uint64_t sharee,
                                 const char *name,
                                 struct arena *arena,
                                 struct store_share *out);
/* Walks grants, strings borrowed for the call; a non-zero return from fn stops the walk.
 *  - _of_sharee: every grant `sharee` holds, by share name;
 *  - _of_coll: every grant on collection `coll`, by sharee name;
 *  - _of_owner: every grant on `owner`'s collections, by collection then sharee name. */
typedef int store_share_fn(void *ctx, const struct store_share *sh);
enum store_rc
store_share_list_of_sharee(struct store *s, uint64_t sharee, store_share_fn *fn, void *ctx);
enum store_rc
store_share_list_of_coll(struct store *s, uint64_t coll, store_share_fn *fn, void *ctx);
enum store_rc
store_share_list_of_owner(struct store *s, uint64_t owner, store_share_fn *fn, void *ctx);

/* ---------------------------------------------------------------------------------------- */
/* Calendar user addresses (issue 13; schema/011_sched.sql): addresses an admin gives a
 * principal for scheduling (RFC 6638 §2.4.1), besides the ones scheduling derives from the
 * principal's name. An address belongs to one principal at most; addresses compare ASCII
 * case-insensitively (kept lower-cased). */

enum {
    STORE_ADDR_MAX = 320, /* bytes of an address: "mailto:" and RFC 5321's 64 + 1 + 255 */
};

/* The principal with id `id` (as store_principal_get), strings in the arena. */
enum store_rc store_principal_get_by_id(struct store *s,
                                        uint64_t id,
                                        struct arena *arena,
                                        struct store_principal *out);
/* Gives `principal` the address `addr`. STORE_EXISTS when the address belongs to a
 * principal already (this one or another); STORE_NOTFOUND when there is no such principal;
 * STORE_LIMIT when `addr` is empty or longer than STORE_ADDR_MAX. Needs a write
 * transaction. */
enum store_rc
store_sched_addr_add(struct store *s, uint64_t principal, const char *addr, struct arena *arena);
/* Takes `addr` from `principal`; STORE_NOTFOUND when it is not theirs. */
enum store_rc
store_sched_addr_del(struct store *s, uint64_t principal, const char *addr, struct arena *arena);
/* The principal `addr` was given to; STORE_NOTFOUND when none. One indexed read. */
enum store_rc store_sched_addr_lookup(struct store *s,
                                      const char *addr,
                                      struct arena *arena,
                                      uint64_t *principal_out);
/* Calls fn for every address of `principal`, in order (strings borrowed for the call); a
 * non-zero return stops the walk. */
typedef int store_sched_addr_fn(void *ctx, const char *addr);
enum store_rc
store_sched_addr_list(struct store *s, uint64_t principal, store_sched_addr_fn *fn, void *ctx);

/* ---------------------------------------------------------------------------------------- */
/* The iMIP outbox (issue 13 item 5, RFC 6047; schema/013_imip.sql; docs/scheduling.md):
 * messages to calendar users outside this server, queued in the transaction of the write
 * that made them and sent later by almanacd's sender thread. The store keeps each message's
 * bytes (a whole RFC 5322 message built by sched) and its delivery state; it never parses
 * them. */

enum store_imip_state {
    STORE_IMIP_QUEUED = 0, /* waiting for its next try */
    STORE_IMIP_SENT = 1,   /* the relay took it */
    STORE_IMIP_FAILED = 2, /* given up (imip_max_age passed, or the relay refused it for good) */
};

/* A message to queue. Strings borrowed for the call. */
struct store_imip_in {
    uint64_t principal;    /* the local user it speaks for (0: none) */
    const char *mail_from; /* SMTP envelope sender, a bare address */
    const char *rcpt_to;   /* SMTP envelope recipient, a bare address */
    const char *method;    /* "REQUEST", "CANCEL", "REPLY" */
    const char *uid;       /* the calendar object's UID */
    const char *attendee;  /* the ATTENDEE address whose status a failure updates, or NULL */
    const char *message;   /* the message bytes */
    size_t size;
    int64_t next_try; /* Unix seconds of the first try */
};

/* A queued message as read back. Strings in the caller's arena (or borrowed for a walk's
 * callback); `message` only from store_imip_next_due(). */
struct store_imip_msg {
    uint64_t id;
    int64_t created;
    uint64_t principal;
    const char *mail_from, *rcpt_to, *method, *uid, *attendee;
    const char *message; /* NULL in listings */
    size_t size;
    enum store_imip_state state;
    unsigned attempts;
    int64_t next_try;
    const char *last_error; /* NULL when none */
};

/* Queues `in`, its id into *id_out (may be NULL). Needs a write transaction (the caller's
 * calendar write). STORE_LIMIT when a string is empty. */
enum store_rc store_imip_enqueue(struct store *s, const struct store_imip_in *in, uint64_t *id_out);
/* The queued message due first (next_try <= now, oldest next_try, then id) into *out with
 * its bytes; STORE_NOTFOUND when none is due. One indexed read. */
enum store_rc
store_imip_next_due(struct store *s, int64_t now, struct arena *arena, struct store_imip_msg *out);
/* Claims message `id`, due (next_try <= now) and queued, for one sender: its next_try moves
 * to `until`, so that no other sender (another almanacd node on the same database) finds it
 * due before then; the claimer then sends it and records the try (store_imip_tried). A
 * sender that dies before recording leaves it due again at `until`: sent at least once.
 * STORE_NOTFOUND when another sender claimed it first. Needs a write transaction. */
enum store_rc store_imip_claim(struct store *s, uint64_t id, int64_t now, int64_t until);
/* The earliest next_try of a queued message into *out; STORE_NOTFOUND when none is queued. */
enum store_rc store_imip_next_time(struct store *s, int64_t *out);
/* Message `id` without its bytes; STORE_NOTFOUND when there is none. */
enum store_rc
store_imip_get(struct store *s, uint64_t id, struct arena *arena, struct store_imip_msg *out);
/* Records a try of message `id` at `now`: `state` STORE_IMIP_SENT, STORE_IMIP_QUEUED (again
 * at `next_try`) or STORE_IMIP_FAILED; `error` (may be NULL) becomes its last error.
 * STORE_NOTFOUND when there is no such message. Needs a write transaction. */
enum store_rc store_imip_tried(struct store *s,
                               uint64_t id,
                               enum store_imip_state state,
                               int64_t now,
                               int64_t next_try,
                               const char *error);
/* An admin's retry: message `id` queued again, due at `now`, its tries counted from zero
 * and its age from `now` (a failed message gets a new imip_max_age). STORE_NOTFOUND when
 * there is no such message. Needs a write transaction. */
enum store_rc store_imip_retry(struct store *s, uint64_t id, int64_t now);
/* Calls fn for every message, by id (rows borrowed for the call); non-zero stops. */
typedef int store_imip_fn(void *ctx, const struct store_imip_msg *m);
enum store_rc store_imip_list(struct store *s, store_imip_fn *fn, void *ctx);

#endif
