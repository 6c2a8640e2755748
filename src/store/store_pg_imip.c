/* store/store_pg_imip.c: the iMIP outbox on PostgreSQL (schema_pg/013_imip.sql, store.h "The
 * iMIP outbox"), as store_sqlite_imip.c: keeps message bytes and delivery state; knows
 * nothing of SMTP, MIME or iTIP. A missing message is found by the rows a statement changed,
 * never by an error (which would abort the caller's transaction). */
#include <string.h>

#include <libpq-fe.h>

#include "store/store.h"
#include "store/store_pg_int.h"
#include "util/arena.h"
#include "util/timeutil.h"

#define IMIP_COLS                                                                        \
  "id, created, principal, mail_from, rcpt_to, method, uid, attendee, state, attempts, " \
  "next_try, last_error"

static bool filled(const char *v)
{
    return v && *v;
}

enum store_rc
store_pg_imip_enqueue(struct store *s, const struct store_imip_in *in, uint64_t *id_out)
{
    if (!filled(in->mail_from) || !filled(in->rcpt_to) || !filled(in->method) || !filled(in->uid) ||
        !in->message || !in->size) {
        return store_pg_fail_msg(s, STORE_LIMIT, "an imip message lacks a field");
    }
    struct store_pg_params p = {0};
    store_pg_p_i64(&p, time_now());
    if (in->principal) {
        store_pg_p_u64(&p, in->principal);
    } else {
        store_pg_p_text(&p, NULL);
    }
    store_pg_p_text(&p, in->mail_from);
    store_pg_p_text(&p, in->rcpt_to);
    store_pg_p_text(&p, in->method);
    store_pg_p_text(&p, in->uid);
    store_pg_p_text(&p, in->attendee);
    store_pg_p_bytes(&p, in->message, in->size);
    store_pg_p_i64(&p, in->next_try);
    PGresult *res = NULL;
    enum store_rc rc = store_pg_exec(s,
                                     "INSERT INTO imip_queue(created, principal, mail_from, "
                                     "rcpt_to, method, uid, attendee, message, next_try) VALUES "
                                     "($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
                                     &p, &res);
    if (rc == STORE_OK && id_out) {
        *id_out = store_pg_col_u64(res, 0, 0);
    }
    PQclear(res);
    return rc;
}

/* Decodes IMIP_COLS of `row`; strings as store_pg_col_text(). */
static void read_msg(const PGresult *res, int row, struct arena *arena, struct store_imip_msg *out)
{
    memset(out, 0, sizeof(*out));
    out->id = store_pg_col_u64(res, row, 0);
    out->created = store_pg_col_i64(res, row, 1);
    out->principal = store_pg_col_u64(res, row, 2);
    out->mail_from = store_pg_col_text(res, row, 3, arena);
    out->rcpt_to = store_pg_col_text(res, row, 4, arena);
    out->method = store_pg_col_text(res, row, 5, arena);
    out->uid = store_pg_col_text(res, row, 6, arena);
    out->attendee = store_pg_col_text(res, row, 7, arena);
    out->state = (enum store_imip_state)store_pg_col_i64(res, row, 8);
    out->attempts = (unsigned)store_pg_col_i64(res, row, 9);
    out->next_try = store_pg_col_i64(res, row, 10);
    out->last_error = store_pg_col_text(res, row, 11, arena);
}

enum store_rc store_pg_imip_next_due(struct store *s,
                                     int64_t now,
                                     struct arena *arena,
                                     struct store_imip_msg *out)
{
    struct store_pg_params p = {0};
    store_pg_p_i64(&p, now);
    PGresult *res = NULL;
    enum store_rc rc = store_pg_exec(s,
                                     "SELECT " IMIP_COLS ", message FROM imip_queue WHERE state = "
                                     "0 AND next_try <= $1 ORDER BY next_try, id LIMIT 1",
                                     &p, &res);
    if (rc == STORE_OK && PQntuples(res) == 0) {
        rc = STORE_NOTFOUND;
    }
    if (rc == STORE_OK) {
        read_msg(res, 0, arena, out);
        out->size = (size_t)PQgetlength(res, 0, 12);
        out->message = arena_memdup(arena, PQgetvalue(res, 0, 12), out->size);
    }
    PQclear(res);
    return rc;
}

enum store_rc store_pg_imip_next_time(struct store *s, int64_t *out)
{
    PGresult *res = NULL;
    enum store_rc rc =
        store_pg_exec(s, "SELECT min(next_try) FROM imip_queue WHERE state = 0", NULL, &res);
    if (rc == STORE_OK && (PQntuples(res) == 0 || PQgetisnull(res, 0, 0))) {
        rc = STORE_NOTFOUND;
    }
    if (rc == STORE_OK) {
        *out = store_pg_col_i64(res, 0, 0);
    }
    PQclear(res);
    return rc;
}

enum store_rc
store_pg_imip_get(struct store *s, uint64_t id, struct arena *arena, struct store_imip_msg *out)
{
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, id);
    PGresult *res = NULL;
    enum store_rc rc =
        store_pg_exec(s, "SELECT " IMIP_COLS " FROM imip_queue WHERE id = $1", &p, &res);
    if (rc == STORE_OK && PQntuples(res) == 0) {
        rc = store_pg_fail_msg(s, STORE_NOTFOUND, "no such imip message");
    }
    if (rc == STORE_OK) {
        read_msg(res, 0, arena, out);
    }
    PQclear(res);
    return rc;
}

/* STORE_NOTFOUND with a message when the statement changed no row. */
static enum store_rc changed_one(struct store *s, enum store_rc rc, uint64_t n)
{
    if (rc == STORE_OK && n == 0) {
        return store_pg_fail_msg(s, STORE_NOTFOUND, "no such imip message");
    }
    return rc;
}

enum store_rc store_pg_imip_tried(struct store *s,
                                  uint64_t id,
                                  enum store_imip_state state,
                                  int64_t now,
                                  int64_t next_try,
                                  const char *error)
{
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, id);
    store_pg_p_i64(&p, (int64_t)state);
    store_pg_p_i64(&p, next_try);
    store_pg_p_text(&p, error);
    store_pg_p_i64(&p, now);
    uint64_t n = 0;
    enum store_rc rc = store_pg_run(
        s,
        "UPDATE imip_queue SET state = $2::integer, attempts = attempts + 1, next_try = "
        "$3::bigint, last_error = $4::text, done = CASE WHEN $2::integer = 0 THEN NULL ELSE "
        "$5::bigint END WHERE id = $1::bigint",
        &p, &n);
    return changed_one(s, rc, n);
}

/* Two nodes that read the same message as due both try this UPDATE: the second waits for the
 * first's row lock, then (READ COMMITTED) evaluates the WHERE again on the row the first
 * committed, whose next_try is now in the future, and changes nothing: STORE_NOTFOUND. */
enum store_rc store_pg_imip_claim(struct store *s, uint64_t id, int64_t now, int64_t until)
{
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, id);
    store_pg_p_i64(&p, now);
    store_pg_p_i64(&p, until);
    uint64_t n = 0;
    enum store_rc rc = store_pg_run(s,
                                    "UPDATE imip_queue SET next_try = $3::bigint WHERE id = "
                                    "$1::bigint AND state = 0 AND next_try <= $2::bigint",
                                    &p, &n);
    return changed_one(s, rc, n);
}

enum store_rc store_pg_imip_retry(struct store *s, uint64_t id, int64_t now)
{
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, id);
    store_pg_p_i64(&p, now);
    uint64_t n = 0;
    enum store_rc rc = store_pg_run(s,
                                    "UPDATE imip_queue SET state = 0, attempts = 0, next_try = "
                                    "$2::bigint, created = $2::bigint, done = NULL WHERE id = "
                                    "$1::bigint",
                                    &p, &n);
    return changed_one(s, rc, n);
}

/* The outbox is read by an admin (almanac imip queue), its rows without their bytes: one
 * result, as the other listings of this engine. */
enum store_rc store_pg_imip_list(struct store *s, store_imip_fn *fn, void *ctx)
{
    PGresult *res = NULL;
    enum store_rc rc =
        store_pg_exec(s, "SELECT " IMIP_COLS " FROM imip_queue ORDER BY id", NULL, &res);
    for (int i = 0; rc == STORE_OK && i < PQntuples(res); i++) {
        struct store_imip_msg m;
        read_msg(res, i, NULL, &m);
        if (fn(ctx, &m) != 0) {
            break;
        }
    }
    PQclear(res);
    return rc;
}
