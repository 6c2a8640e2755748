/* store/store_sqlite_imip.c: the iMIP outbox in the SQLite engine (schema/013_imip.sql,
 * store.h "The iMIP outbox"). Its statements are its own table below, cached per connection
 * in the connection's imip_stmts. Keeps message bytes and delivery state; knows nothing of SMTP,
 * MIME or iTIP. */
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store/store.h"
#include "store/store_sqlite_int.h"
#include "util/arena.h"
#include "util/timeutil.h"

enum imip_stmt_id {
    M_INSERT,
    M_DUE,
    M_NEXT_TIME,
    M_GET,
    M_TRIED,
    M_CLAIM,
    M_RETRY,
    M_LIST,
    M_COUNT
};

#define IMIP_COLS                                                                        \
  "id, created, principal, mail_from, rcpt_to, method, uid, attendee, state, attempts, " \
  "next_try, last_error"

static const char *const imip_sql[M_COUNT] = {
    [M_INSERT] = "INSERT INTO imip_queue(created, principal, mail_from, rcpt_to, method, uid, "
                 "attendee, message, next_try) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [M_DUE] = "SELECT " IMIP_COLS ", message FROM imip_queue WHERE state = 0 AND next_try <= ?1 "
              "ORDER BY next_try, id LIMIT 1",
    [M_NEXT_TIME] = "SELECT min(next_try) FROM imip_queue WHERE state = 0",
    [M_GET] = "SELECT " IMIP_COLS " FROM imip_queue WHERE id = ?1",
    [M_TRIED] = "UPDATE imip_queue SET state = ?2, attempts = attempts + 1, next_try = ?3, "
                "last_error = ?4, done = CASE WHEN ?2 = 0 THEN NULL ELSE ?5 END WHERE id = ?1",
    [M_CLAIM] = "UPDATE imip_queue SET next_try = ?3 WHERE id = ?1 AND state = 0 AND "
                "next_try <= ?2",
    [M_RETRY] = "UPDATE imip_queue SET state = 0, attempts = 0, next_try = ?2, created = ?2, "
                "done = NULL WHERE id = ?1",
    [M_LIST] = "SELECT " IMIP_COLS " FROM imip_queue ORDER BY id",
};

static sqlite3_stmt *imip_stmt(struct store *s, enum imip_stmt_id id)
{
    if (!sq(s)->c.imip_stmts) {
        sq(s)->c.imip_stmts = calloc(M_COUNT, sizeof(*sq(s)->c.imip_stmts));
        if (!sq(s)->c.imip_stmts) {
            abort(); /* STYLE.md §3.3: allocation failure aborts */
        }
    }
    return store_db_stmt_cached(s, &sq(s)->c.imip_stmts[id], imip_sql[id]);
}

void store_db_imip_free(struct store *s)
{
    if (!sq(s)->c.imip_stmts) {
        return;
    }
    for (int i = 0; i < M_COUNT; i++) {
        sqlite3_finalize(sq(s)->c.imip_stmts[i]);
    }
    free(sq(s)->c.imip_stmts);
    sq(s)->c.imip_stmts = NULL;
}

static bool filled(const char *v)
{
    return v && *v;
}

enum store_rc
store_sqlite_imip_enqueue(struct store *s, const struct store_imip_in *in, uint64_t *id_out)
{
    if (!filled(in->mail_from) || !filled(in->rcpt_to) || !filled(in->method) || !filled(in->uid) ||
        !in->message || !in->size) {
        return store_db_fail_msg(s, STORE_LIMIT, "an imip message lacks a field");
    }
    sqlite3_stmt *st = imip_stmt(s, M_INSERT);
    if (!st) {
        return STORE_IO;
    }
    sqlite3_bind_int64(st, 1, time_now());
    if (in->principal) {
        store_db_bind_u64(st, 2, in->principal);
    } else {
        sqlite3_bind_null(st, 2);
    }
    store_db_bind_text(st, 3, in->mail_from);
    store_db_bind_text(st, 4, in->rcpt_to);
    store_db_bind_text(st, 5, in->method);
    store_db_bind_text(st, 6, in->uid);
    store_db_bind_text(st, 7, in->attendee);
    sqlite3_bind_blob64(st, 8, in->message, in->size, SQLITE_STATIC);
    sqlite3_bind_int64(st, 9, in->next_try);
    enum store_rc rc = store_db_exec(s, st);
    if (rc == STORE_OK && id_out) {
        *id_out = (uint64_t)sqlite3_last_insert_rowid(sq(s)->c.db);
    }
    return rc;
}

/* Decodes IMIP_COLS; strings as store_db_col_text(). */
static void read_msg(sqlite3_stmt *st, struct arena *arena, struct store_imip_msg *out)
{
    memset(out, 0, sizeof(*out));
    out->id = store_db_col_u64(st, 0);
    out->created = sqlite3_column_int64(st, 1);
    out->principal = store_db_col_u64(st, 2);
    out->mail_from = store_db_col_text(st, 3, arena);
    out->rcpt_to = store_db_col_text(st, 4, arena);
    out->method = store_db_col_text(st, 5, arena);
    out->uid = store_db_col_text(st, 6, arena);
    out->attendee = store_db_col_text(st, 7, arena);
    out->state = (enum store_imip_state)sqlite3_column_int(st, 8);
    out->attempts = (unsigned)sqlite3_column_int(st, 9);
    out->next_try = sqlite3_column_int64(st, 10);
    out->last_error = store_db_col_text(st, 11, arena);
}

enum store_rc store_sqlite_imip_next_due(struct store *s,
                                         int64_t now,
                                         struct arena *arena,
                                         struct store_imip_msg *out)
{
    sqlite3_stmt *st = imip_stmt(s, M_DUE);
    if (!st) {
        return STORE_IO;
    }
    sqlite3_bind_int64(st, 1, now);
    enum store_rc rc = store_db_step_one(s, st);
    if (rc == STORE_OK) {
        read_msg(st, arena, out);
        out->size = (size_t)sqlite3_column_bytes(st, 12);
        out->message = arena_memdup(arena, sqlite3_column_blob(st, 12), out->size);
    }
    store_db_reset(st);
    return rc;
}

enum store_rc store_sqlite_imip_next_time(struct store *s, int64_t *out)
{
    sqlite3_stmt *st = imip_stmt(s, M_NEXT_TIME);
    if (!st) {
        return STORE_IO;
    }
    enum store_rc rc = store_db_step_one(s, st);
    if (rc == STORE_OK) {
        if (sqlite3_column_type(st, 0) == SQLITE_NULL) {
            rc = STORE_NOTFOUND;
        } else {
            *out = sqlite3_column_int64(st, 0);
        }
    }
    store_db_reset(st);
    return rc;
}

enum store_rc
store_sqlite_imip_get(struct store *s, uint64_t id, struct arena *arena, struct store_imip_msg *out)
{
    sqlite3_stmt *st = imip_stmt(s, M_GET);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_u64(st, 1, id);
    enum store_rc rc = store_db_step_one(s, st);
    if (rc == STORE_OK) {
        read_msg(st, arena, out);
    } else if (rc == STORE_NOTFOUND) {
        store_db_fail_msg(s, rc, "no such imip message");
    }
    store_db_reset(st);
    return rc;
}

/* STORE_NOTFOUND with a message when the last statement changed no row. */
static enum store_rc changed_one(struct store *s, enum store_rc rc)
{
    if (rc == STORE_OK && sqlite3_changes(sq(s)->c.db) == 0) {
        return store_db_fail_msg(s, STORE_NOTFOUND, "no such imip message");
    }
    return rc;
}

enum store_rc store_sqlite_imip_claim(struct store *s, uint64_t id, int64_t now, int64_t until)
{
    sqlite3_stmt *st = imip_stmt(s, M_CLAIM);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_u64(st, 1, id);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_int64(st, 3, until);
    return changed_one(s, store_db_exec(s, st));
}

enum store_rc store_sqlite_imip_tried(struct store *s,
                                      uint64_t id,
                                      enum store_imip_state state,
                                      int64_t now,
                                      int64_t next_try,
                                      const char *error)
{
    sqlite3_stmt *st = imip_stmt(s, M_TRIED);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_u64(st, 1, id);
    sqlite3_bind_int(st, 2, (int)state);
    sqlite3_bind_int64(st, 3, next_try);
    store_db_bind_text(st, 4, error);
    sqlite3_bind_int64(st, 5, now);
    return changed_one(s, store_db_exec(s, st));
}

enum store_rc store_sqlite_imip_retry(struct store *s, uint64_t id, int64_t now)
{
    sqlite3_stmt *st = imip_stmt(s, M_RETRY);
    if (!st) {
        return STORE_IO;
    }
    store_db_bind_u64(st, 1, id);
    sqlite3_bind_int64(st, 2, now);
    return changed_one(s, store_db_exec(s, st));
}

struct list_ctx {
    store_imip_fn *fn;
    void *ctx;
};

static int list_row(sqlite3_stmt *st, void *cb)
{
    struct list_ctx *l = cb;
    struct store_imip_msg m;
    read_msg(st, NULL, &m);
    return l->fn(l->ctx, &m);
}

enum store_rc store_sqlite_imip_list(struct store *s, store_imip_fn *fn, void *ctx)
{
    sqlite3_stmt *st = imip_stmt(s, M_LIST);
    if (!st) {
        return STORE_IO;
    }
    struct list_ctx l = {fn, ctx};
    return store_db_each_row(s, st, list_row, &l);
}
