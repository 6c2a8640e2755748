/* store/store_migrate.h: copying a whole store from one engine to another (issue #10 item 4,
 * `almanac migrate-store`; docs/migrate-store.md). A header of its own beside store.h so that
 * the one storage interface stays about one store; the copy is the store layer's because it
 * needs SQL on both engines (store_migrate.c).
 *
 * What is kept: every row of every table of the schema with its ids, modseqs, epochs,
 * change GUIDs, tombstones and horizons, dead properties, ActiveSync device state, shares,
 * subscription URLs, calendar user addresses and the iMIP outbox, and the store's GUID and
 * secret (meta), which key the replication collblobs, sync tokens and SyncKeys: a client
 * continues where it was, without a resync. The target's id sequences and credential
 * generation counter are moved past the copied values, so new rows never collide. */
#ifndef ALMANAC_STORE_STORE_MIGRATE_H
#define ALMANAC_STORE_STORE_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

enum {
    STORE_MIGRATE_TABLES_MAX = 24, /* tables a report can list (the schema has 17) */
};

/* One table's rows in the source's snapshot and in the target before its commit. */
struct store_migrate_table {
    const char *name; /* static */
    uint64_t source_rows;
    uint64_t target_rows;
};

/* What store_migrate() did, filled as far as it got (ntables 0 when it stopped before the
 * count): the per-table counts of the verification and the schema version of both. */
struct store_migrate_report {
    struct store_migrate_table tables[STORE_MIGRATE_TABLES_MAX];
    size_t ntables;
    int schema_version;
    uint64_t rows;       /* all tables' source rows */
    bool target_counted; /* target_rows are filled (the verification ran) */
};

/* Called as the copy goes: `table` is the table being copied, `table_done` of `table_rows`
 * its rows sent, `done` of `total` all tables' rows. At most every STORE_MIGRATE_STEP rows of
 * a table and once at its end; the callback decides how often to show it. After the rows,
 * `table` "indexes" counts the indexes and foreign keys built again (table_done of
 * table_rows; done and total stay). */
typedef void store_migrate_progress_fn(void *ctx,
                                       const char *table,
                                       uint64_t table_done,
                                       uint64_t table_rows,
                                       uint64_t done,
                                       uint64_t total);
#define STORE_MIGRATE_STEP 4096u

/* Copies the SQLite store in `from` ("sqlite:DIR" or DIR) into the PostgreSQL database `to`
 * (a postgresql:// URI), whose schema store_open makes or migrates first.
 *
 * The source is opened read-only and read in one snapshot transaction; it is never written
 * (a running almanacd on it must be stopped first: a write during the copy is detected,
 * PRAGMA data_version, and refused). The target is written in one transaction that first
 * locks every table against writers: a refusal or a failure at any point leaves it as it was
 * (an empty schema). Rows stream through COPY FROM STDIN in PostgreSQL's binary format, a
 * bounded buffer at a time, so memory does not grow with the store.
 *
 * Returns STORE_OK with the counts equal table by table (report filled); otherwise, with a
 * sentence in msg_out and the target untouched:
 *   STORE_NOTFOUND  no store in the source directory;
 *   STORE_EXISTS    the target database already holds a store's rows (principals, items...);
 *   STORE_CONFLICT  the source's schema version is not this build's (or not the target's),
 *                   the schema has a table or column this copy does not know, the source
 *                   changed during the copy, or the verification counts differ;
 *   STORE_LIMIT     `from` or `to` is not of the kind above;
 *   STORE_IO        the source or the target cannot be opened, read or written. */
enum store_rc store_migrate(const char *from,
                            const char *to,
                            store_migrate_progress_fn *progress,
                            void *ctx,
                            struct store_migrate_report *report,
                            char msg_out[STORE_MSG_MAX]);

#endif
