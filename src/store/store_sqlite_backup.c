/* store/store_sqlite_backup.c: the SQLite engine's administrative copies: a backup of a live
 * store into one file (SQLite's online backup API, a consistent snapshot taken while almanacd
 * keeps writing), the integrity check, and a restore of such a file into a data directory.
 *
 * Why the backup is a snapshot: sqlite3_backup_step(-1) copies every page inside one read
 * transaction of the source connection. In WAL mode a read transaction sees the database as of
 * its first read and never blocks writers, so the copy holds exactly the commits made before
 * it started, whatever almanacd commits meanwhile, and almanacd is not slowed beyond the
 * shared disk. (Stepping a few pages at a time instead would restart the copy on every
 * commit of another connection: under steady load it might never finish.)
 *
 * Why a restore refuses a store in use: a running almanacd keeps the store's GUID and secret
 * and the ActiveSync push state in memory, so a database replaced beneath it would answer with
 * tokens of one history and rows of another. Every connection to a WAL database holds a shared
 * lock on it from its first read until it closes (a pool keeps one connection open for its
 * whole life), and a connection in EXCLUSIVE locking mode can read a WAL database only once it
 * holds the exclusive lock (sqlite.org/wal.html, "Use of WAL Without Shared-Memory"). So the
 * restore asks for that lock without waiting: it fails while any other process has the store
 * open, and once granted it is held until the restore is done, so no almanacd can open the
 * store half-restored. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"
#include "store/store_sqlite_int.h"
#include "util/timeutil.h"

enum {
    BACKUP_BUSY_RETRIES = 100, /* 100 ms apart: a checkpoint or recovery holding the source */
    BACKUP_BUSY_SLEEP_MS = 100,
    PATH_MAX_BYTES = 4096,
};

/* Formats a message into a STORE_MSG_MAX buffer; returns rc. */
static enum store_rc msg_fail(char *msg, enum store_rc rc, const char *fmt, ...) ALM_PRINTF(3, 4);

static enum store_rc msg_fail(char *msg, enum store_rc rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, STORE_MSG_MAX, fmt, ap); /* may cut: a message */
    va_end(ap);
    return rc;
}

static enum store_rc map_sqlite(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return STORE_BUSY;
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
        return STORE_CONFLICT;
    default:
        return STORE_IO;
    }
}

bool store_is_present(const char *dir)
{
    char path[PATH_MAX_BYTES];
    int n = snprintf(path, sizeof(path), "%s/almanac.db", dir);
    struct stat st;
    return n > 0 && (size_t)n < sizeof(path) && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* PRAGMA integrity_check then PRAGMA foreign_key_check on `db`: STORE_OK, or STORE_CONFLICT
 * with the first problem in msg (STORE_MSG_MAX bytes), or the error of the check itself. */
static enum store_rc check_db(sqlite3 *db, char *msg)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL);
    enum store_rc out = STORE_OK;
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            const char *first = (const char *)sqlite3_column_text(st, 0);
            if (!first || strcmp(first, "ok") != 0) {
                out = msg_fail(msg, STORE_CONFLICT, "integrity check: %s", first ? first : "?");
            }
            rc = SQLITE_DONE;
        }
    }
    sqlite3_finalize(st);
    st = NULL;
    if (rc == SQLITE_DONE && out == STORE_OK) {
        rc = sqlite3_prepare_v2(db, "PRAGMA foreign_key_check", -1, &st, NULL);
        if (rc == SQLITE_OK) {
            rc = sqlite3_step(st);
            if (rc == SQLITE_ROW) {
                const char *table = (const char *)sqlite3_column_text(st, 0);
                out = msg_fail(msg, STORE_CONFLICT, "foreign key check: a row of %s has no parent",
                               table ? table : "?");
                rc = SQLITE_DONE;
            }
        }
        sqlite3_finalize(st);
    }
    if (rc != SQLITE_DONE) {
        return msg_fail(msg, map_sqlite(rc), "integrity check failed: %s", sqlite3_errmsg(db));
    }
    return out;
}

enum store_rc store_sqlite_check(struct store *s)
{
    if (store_in_txn(s)) {
        return store_db_fail_msg(s, STORE_IO, "store_check inside a transaction");
    }
    char msg[STORE_MSG_MAX] = "";
    enum store_rc rc = check_db(sq(s)->c.db, msg);
    if (rc != STORE_OK) {
        store_db_fail_msg(s, rc, msg);
    }
    return rc;
}

/* Copies all of `from` into `to` in one step (see the file comment), retrying while the
 * source is busy (a checkpoint, a recovery). Returns SQLITE_OK or the error. */
static int copy_all(sqlite3 *to, sqlite3 *from)
{
    sqlite3_backup *b = sqlite3_backup_init(to, "main", from, "main");
    if (!b) {
        return sqlite3_errcode(to);
    }
    int rc = sqlite3_backup_step(b, -1);
    for (int i = 0; i < BACKUP_BUSY_RETRIES && (rc == SQLITE_BUSY || rc == SQLITE_LOCKED); i++) {
        sqlite3_sleep(BACKUP_BUSY_SLEEP_MS);
        rc = sqlite3_backup_step(b, -1);
    }
    int fin = sqlite3_backup_finish(b);
    if (rc == SQLITE_DONE) {
        rc = fin;
    }
    return rc;
}

/* Runs one statement without rows to read on `db`. */
static int exec_db(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* fsync of a file or directory by path. Returns 0 or -1 (errno set). */
static int sync_path(const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

/* The directory part of `path` into dir (PATH_MAX_BYTES): "." when it has none. */
static void dir_of(const char *path, char *dir)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(dir, PATH_MAX_BYTES, ".");
    } else if (slash == path) {
        snprintf(dir, PATH_MAX_BYTES, "/");
    } else {
        snprintf(dir, PATH_MAX_BYTES, "%.*s", (int)(slash - path), path);
    }
}

/* Writes the backup into the new file `tmp` (already created, empty, mode 0600): the copy,
 * switched to a rollback journal so it is one self-contained file, then checked. */
static enum store_rc write_backup(struct store *s, const char *tmp, char *msg)
{
    sqlite3 *to = NULL;
    int rc = sqlite3_open_v2(tmp, &to, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        enum store_rc r = msg_fail(msg, STORE_IO, "cannot open %s: %s", tmp,
                                   to ? sqlite3_errmsg(to) : sqlite3_errstr(rc));
        sqlite3_close(to);
        return r;
    }
    enum store_rc out = STORE_OK;
    rc = copy_all(to, sq(s)->c.db);
    if (rc != SQLITE_OK) {
        out = msg_fail(msg, map_sqlite(rc), "copy failed: %s", sqlite3_errstr(rc));
    } else if ((rc = exec_db(to, "PRAGMA journal_mode = DELETE")) != SQLITE_OK) {
        out =
            msg_fail(msg, map_sqlite(rc), "cannot set the copy's journal: %s", sqlite3_errmsg(to));
    } else {
        out = check_db(to, msg);
    }
    if (sqlite3_close(to) != SQLITE_OK && out == STORE_OK) {
        out = msg_fail(msg, STORE_IO, "cannot close the copy");
    }
    return out;
}

enum store_rc store_sqlite_backup(struct store *s, const char *dest_path)
{
    if (store_in_txn(s)) {
        return store_db_fail_msg(s, STORE_IO, "store_backup inside a transaction");
    }
    char msg[STORE_MSG_MAX] = "";
    struct stat st;
    if (lstat(dest_path, &st) == 0) {
        return store_db_fail_msg(s, STORE_EXISTS, "the destination exists");
    }
    /* A unique file beside the destination, mode 0600 (a backup holds password hashes and the
     * store's secret), renamed into place only once written, synced and checked. */
    char tmp[PATH_MAX_BYTES];
    int n = snprintf(tmp, sizeof(tmp), "%s.XXXXXX", dest_path);
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        return store_db_fail_msg(s, STORE_LIMIT, "destination path too long");
    }
    int fd = mkstemp(tmp);
    if (fd < 0) {
        msg_fail(msg, STORE_IO, "cannot create %.200s: %s", tmp, strerror(errno));
        return store_db_fail_msg(s, STORE_IO, msg);
    }
    close(fd);
    enum store_rc rc = write_backup(s, tmp, msg);
    if (rc == STORE_OK && sync_path(tmp, O_RDONLY) != 0) {
        rc = msg_fail(msg, STORE_IO, "cannot sync %s: %s", tmp, strerror(errno));
    }
    /* link() refuses an existing name, so a destination made meanwhile is never replaced. */
    if (rc == STORE_OK && link(tmp, dest_path) != 0) {
        rc = msg_fail(msg, errno == EEXIST ? STORE_EXISTS : STORE_IO, "cannot create %s: %s",
                      dest_path, strerror(errno));
    }
    unlink(tmp);
    char dir[PATH_MAX_BYTES];
    dir_of(dest_path, dir);
    if (rc == STORE_OK && sync_path(dir, O_RDONLY | O_DIRECTORY) != 0) {
        rc = msg_fail(msg, STORE_IO, "cannot sync %s: %s", dir, strerror(errno));
    }
    if (rc != STORE_OK) {
        store_db_fail_msg(s, rc, msg);
    }
    return rc;
}

/* One integer from a query without parameters; -1 on error. */
static int64_t query_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return v;
}

/* Opens `src` read-only and checks it is an Almanac store that passes the integrity check. */
static enum store_rc open_source(const char *src, sqlite3 **out, char *msg)
{
    struct stat st;
    if (stat(src, &st) != 0) {
        return msg_fail(msg, STORE_NOTFOUND, "%s: %s", src, strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) {
        return msg_fail(msg, STORE_CONFLICT, "%s is not a file", src);
    }
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(src, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    enum store_rc r = STORE_OK;
    if (rc != SQLITE_OK) {
        r = msg_fail(msg, STORE_IO, "cannot open %s: %s", src,
                     db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    } else if (query_int(db,
                         "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND "
                         "name IN ('principals', 'collections', 'items', 'schema_version')") != 4) {
        r = msg_fail(msg, STORE_CONFLICT, "%s is not an Almanac store backup", src);
    } else {
        r = check_db(db, msg);
    }
    if (r != STORE_OK) {
        sqlite3_close(db);
        return r;
    }
    *out = db;
    return STORE_OK;
}

/* Takes the store at `path` for this connection alone (see the file comment): STORE_BUSY when
 * another process has it open. */
static enum store_rc lock_target(const char *path, sqlite3 **out, char *msg)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(
        path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        enum store_rc r = msg_fail(msg, STORE_IO, "cannot open %s: %s", path,
                                   db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return r;
    }
    sqlite3_busy_timeout(db, 0);
    rc = exec_db(db, "PRAGMA locking_mode = EXCLUSIVE");
    if (rc == SQLITE_OK) {
        rc = exec_db(db, "BEGIN EXCLUSIVE; SELECT count(*) FROM sqlite_schema; COMMIT");
    }
    if (rc != SQLITE_OK) {
        enum store_rc r = map_sqlite(rc);
        if (r == STORE_BUSY) {
            msg_fail(msg, r, "the store is in use by another process (stop almanacd first)");
        } else {
            msg_fail(msg, r, "cannot lock %s: %s", path, sqlite3_errmsg(db));
        }
        sqlite3_close(db);
        return r;
    }
    *out = db;
    return STORE_OK;
}

/* Cuts the history of every collection of the restored store, as store_coll_reset_history
 * does for one: new epoch and change GUID, tombstones dropped. Clients that synced after the
 * backup was taken hold tokens, collblobs, SyncKeys and ETags of a history the restored store
 * never had; with new epochs and change GUIDs each protocol tells them to start over instead
 * of trusting state that no longer matches. */
static enum store_rc cut_history(sqlite3 *db, char *msg)
{
    int rc = exec_db(db, "BEGIN IMMEDIATE");
    sqlite3_stmt *ids = NULL;
    sqlite3_stmt *upd = NULL;
    if (rc == SQLITE_OK) {
        rc = sqlite3_prepare_v2(db, "SELECT id FROM collections", -1, &ids, NULL);
    }
    if (rc == SQLITE_OK) {
        rc = sqlite3_prepare_v2(db,
                                "UPDATE collections SET epoch = ?2, change_guid = ?3, "
                                "tomb_horizon = modseq, updated = ?4 WHERE id = ?1",
                                -1, &upd, NULL);
    }
    /* the ids are read first: the cursor would otherwise read the rows the updates write */
    uint64_t *list = NULL;
    size_t n = 0;
    size_t cap = 0;
    while (rc == SQLITE_OK) {
        rc = sqlite3_step(ids);
        if (rc != SQLITE_ROW) {
            break;
        }
        rc = SQLITE_OK;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            list = realloc(list, cap * sizeof(*list));
            if (!list) {
                abort();
            }
        }
        list[n++] = store_db_col_u64(ids, 0);
    }
    if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
    }
    int64_t now = time_now();
    for (size_t i = 0; i < n && rc == SQLITE_OK; i++) {
        uint8_t guid[STORE_GUID_BYTES];
        store_db_fresh_guid(guid);
        store_db_bind_u64(upd, 1, list[i]);
        store_db_bind_u64(upd, 2, store_db_fresh_epoch());
        sqlite3_bind_blob(upd, 3, guid, STORE_GUID_BYTES, SQLITE_TRANSIENT);
        sqlite3_bind_int64(upd, 4, now);
        rc = sqlite3_step(upd);
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
        sqlite3_reset(upd);
    }
    free(list);
    sqlite3_finalize(ids);
    sqlite3_finalize(upd);
    if (rc == SQLITE_OK) {
        rc = exec_db(db, "DELETE FROM tombstones; COMMIT");
    }
    if (rc != SQLITE_OK) {
        enum store_rc r = msg_fail(msg, map_sqlite(rc), "cannot reset the restored history: %s",
                                   sqlite3_errmsg(db));
        exec_db(db, "ROLLBACK");
        return r;
    }
    return STORE_OK;
}

enum store_rc
store_restore(const char *src_path, const char *dir, unsigned flags, char msg_out[STORE_MSG_MAX])
{
    msg_out[0] = '\0';
    char path[PATH_MAX_BYTES];
    int n = snprintf(path, sizeof(path), "%s/almanac.db", dir);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        return msg_fail(msg_out, STORE_LIMIT, "data directory path too long");
    }
    sqlite3 *from = NULL;
    enum store_rc rc = open_source(src_path, &from, msg_out);
    if (rc != STORE_OK) {
        return rc;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        rc = msg_fail(msg_out, STORE_IO, "cannot create %s: %s", dir, strerror(errno));
        sqlite3_close(from);
        return rc;
    }
    sqlite3 *to = NULL;
    rc = lock_target(path, &to, msg_out);
    if (rc == STORE_OK && !(flags & STORE_RESTORE_FORCE)) {
        /* a store without users (a fresh `almanac init`, an empty file) holds nothing to lose */
        bool has_table =
            query_int(to, "SELECT count(*) FROM sqlite_schema WHERE name = 'principals'") > 0;
        if (has_table && query_int(to, "SELECT count(*) FROM principals") != 0) {
            rc = msg_fail(msg_out, STORE_EXISTS,
                          "%s holds a store with users (--force replaces it)", dir);
        }
    }
    if (rc == STORE_OK) {
        int src = copy_all(to, from);
        if (src != SQLITE_OK) {
            rc = msg_fail(msg_out, map_sqlite(src), "copy failed: %s", sqlite3_errstr(src));
        }
    }
    if (rc == STORE_OK) {
        rc = cut_history(to, msg_out);
    }
    if (rc == STORE_OK) {
        rc = check_db(to, msg_out);
    }
    sqlite3_close(to);
    sqlite3_close(from);
    return rc;
}
