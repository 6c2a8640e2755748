/* store/store_pg.c: the PostgreSQL engine (issue #10; see store_pg_int.h for how it keeps
 * store.h's semantics): connection, errors, statements, migrations, transactions, the pool,
 * checks, and the ops table. store.c sends it every postgresql:// location.
 *
 * Faults (issue #10 item 5): a server that goes away in the middle of a statement fails it
 * with STORE_UNAVAILABLE (fail_result), which the routes answer 503 store-unavailable with
 * Retry-After; the broken connection is dropped when released, and an idle pooled one whose
 * server went away meanwhile is found so and replaced when next acquired (conn_alive), so a
 * node recovers by itself when the server is back. A statement past the pool's statement
 * timeout is cancelled by the server and fails with STORE_BUSY (503 store-busy). */
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <libpq-fe.h>

#include "store/store.h"
#include "store/store_pg_int.h"
#include "store/store_schema.h"
#include "util/log.h"
#include "util/sec.h"
#include "util/timeutil.h"

/* The advisory lock the node that migrates holds (pg_advisory_lock: session level, waits):
 * "almanac" in ASCII. Nodes starting together migrate one after the other; the later ones
 * find the schema current. */
#define STORE_PG_MIGRATE_LOCK INT64_C(0x616c6d616e6163)

/* ---------------------------------------------------------------------------------------- */
/* Errors, parameters, statements */

enum store_rc store_pg_fail_msg(struct store *s, enum store_rc rc, const char *msg)
{
    snprintf(s->errmsg, sizeof(s->errmsg), "%s", msg);
    return rc;
}

/* Makes `msg` one line for the log: libpq's messages of a lost or refused connection span
 * several (a hint on a tab-indented line); newlines and tabs become single spaces. */
static void one_line(char *msg)
{
    size_t n = 0;
    for (size_t i = 0; msg[i]; i++) {
        char c = msg[i] == '\n' || msg[i] == '\t' ? ' ' : msg[i];
        if (c != ' ' || (n > 0 && msg[n - 1] != ' ')) {
            msg[n++] = c;
        }
    }
    while (n > 0 && msg[n - 1] == ' ') {
        n--;
    }
    msg[n] = '\0';
}

/* True when the server went away: libpq found the connection broken (CONNECTION_BAD: the
 * socket closed, or nothing to send on), or the server said so before it closed it (SQLSTATE
 * class 08, connection exception; 57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot
 * connect now). */
static bool server_gone(const struct store *s, const char *state)
{
    if (PQstatus(((const struct store_pg *)s)->conn) == CONNECTION_BAD) {
        return true;
    }
    return state && (strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 ||
                     strcmp(state, "57P02") == 0 || strcmp(state, "57P03") == 0);
}

/* While the database is away every request fails to open a connection the same way: such
 * lines are written at most once a second each, with the count of those not written
 * (not_logged=). A statement that fails on a connection which was open is logged each time
 * (at most one per pooled connection per outage: the pool then drops it). */
#define LOST_LOG_MS 1000u

/* Records the result's (or the connection's) error and maps its SQLSTATE: a server gone
 * (server_gone) -> STORE_UNAVAILABLE, unique violation -> STORE_EXISTS, other integrity
 * violations and text that is not UTF-8 -> STORE_CONFLICT, serialization failure, deadlock, lock or
 * statement timeout -> STORE_BUSY, program limit -> STORE_LIMIT, anything else STORE_IO. The lost
 * connection and the cancelled statement are logged here (the routes answer them with a 503 whose
 * message hides the detail). */
static enum store_rc fail_result(struct store *s, const PGresult *res)
{
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (!msg) {
        msg = PQerrorMessage(pgc(s)->conn);
    }
    if (s->injected) {
        s->injected = false; /* a fault the seam caused (fault_point): its message stays */
    } else {
        snprintf(s->errmsg, sizeof(s->errmsg), "%s", msg && msg[0] ? msg : "PostgreSQL error");
    }
    one_line(s->errmsg);
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (server_gone(s, state)) {
        log_warn("store connection lost engine=postgresql sqlstate=%s msg=\"%s\"",
                 state ? state : "-", s->errmsg);
        return STORE_UNAVAILABLE;
    }
    if (!state) {
        return STORE_IO;
    }
    if (strcmp(state, "23505") == 0) {
        return STORE_EXISTS;
    }
    if (strncmp(state, "23", 2) == 0) {
        return STORE_CONFLICT;
    }
    if (strcmp(state, "22021") == 0 || strcmp(state, "22P05") == 0) {
        /* text the database cannot hold (bytes that are not UTF-8): the routes refuse such
         * input before the store (issue #10); one they miss stays the client's error, not a
         * 503 that a client would retry for ever */
        return STORE_CONFLICT;
    }
    if (strcmp(state, "57014") == 0) {
        log_warn("store statement cancelled engine=postgresql msg=\"%s\"", s->errmsg);
        return STORE_BUSY;
    }
    if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 || strcmp(state, "55P03") == 0) {
        return STORE_BUSY;
    }
    if (strncmp(state, "54", 2) == 0) {
        return STORE_LIMIT;
    }
    return STORE_IO;
}

/* The fault seam's statement point (store_fault.h): STORE_OK to send the statement, or the
 * injected failure instead (its message recorded). A lost connection is not pretended: the
 * socket is shut down and the statement sent, so that it fails as on a real one. Not a point
 * while the connection is being opened (migrations, session settings), nor a cursor's CLOSE
 * (whose failure nobody sees: SQLite's finalize is no point either). */
#if ALMANAC_FAULTS
enum store_rc store_pg_fault_point(struct store *s, const char *sql)
{
    enum store_fault_err err = STORE_FAULT_IO;
    if (!atomic_load_explicit(&store_fault_on, memory_order_relaxed) || pgc(s)->opening ||
        strncmp(sql, "CLOSE ", 6) == 0 ||
        !store_fault_fire(s, STORE_FAULT_STMT, sql, false, &err)) {
        return STORE_OK;
    }
    switch (err) {
    case STORE_FAULT_LOST:
        shutdown(PQsocket(pgc(s)->conn), SHUT_RDWR);
        return STORE_OK; /* fail_result keeps the injected message (s->injected) */
    case STORE_FAULT_BUSY:
    case STORE_FAULT_LOCKED:
        s->injected = false;
        return STORE_BUSY;
    case STORE_FAULT_IO:
    case STORE_FAULT_FULL:
        break;
    }
    s->injected = false;
    return STORE_IO;
}
#endif

enum store_rc store_pg_fail_result(struct store *s, const PGresult *res)
{
    return fail_result(s, res);
}

static void param(struct store_pg_params *p, const char *v, int len, int format)
{
    if (p->n >= STORE_PG_PARAMS_MAX) {
        abort(); /* a statement of this file with too many parameters: a bug */
    }
    p->values[p->n] = v;
    p->lengths[p->n] = len;
    p->formats[p->n] = format;
    p->n++;
}

/* `v` in decimal, after a '-' when `negative`, into out[24]: snprintf was 4% of a multiget's
 * CPU (perf), every lookup formatting its ids. */
static void put_decimal(char *out, bool negative, uint64_t v)
{
    char digits[20];
    int n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    if (negative) {
        *out++ = '-';
    }
    while (n > 0) {
        *out++ = digits[--n];
    }
    *out = '\0';
}

void store_pg_p_u64(struct store_pg_params *p, uint64_t v)
{
    param(p, NULL, 0, 0);
    put_decimal(p->nums[p->n - 1], false, v);
    p->values[p->n - 1] = p->nums[p->n - 1];
}

void store_pg_p_i64(struct store_pg_params *p, int64_t v)
{
    param(p, NULL, 0, 0);
    put_decimal(p->nums[p->n - 1], v < 0, v < 0 ? 0 - (uint64_t)v : (uint64_t)v);
    p->values[p->n - 1] = p->nums[p->n - 1];
}

void store_pg_p_text(struct store_pg_params *p, const char *v)
{
    param(p, v, 0, 0);
}

void store_pg_p_bytes(struct store_pg_params *p, const void *v, size_t n)
{
    if (n > INT32_MAX) {
        abort(); /* the callers bound sizes far below */
    }
    param(p, v ? (const char *)v : "", (int)n, 1);
}

void store_pg_p_bound(struct store_pg_params *p, int64_t v)
{
    if (v == INT64_MIN || v == INT64_MAX) {
        store_pg_p_text(p, NULL);
    } else {
        store_pg_p_i64(p, v);
    }
}

/* Prepared on first use, sent with what is queued (store_pg_stmt.c). */
enum store_rc
store_pg_exec(struct store *s, const char *sql, const struct store_pg_params *p, PGresult **res_out)
{
    return store_pg_exec_n(s, &(struct store_pg_op){.sql = sql, .p = p, .res_out = res_out}, 1);
}

enum store_rc store_pg_run(struct store *s,
                           const char *sql,
                           const struct store_pg_params *p,
                           uint64_t *changed_out)
{
    PGresult *res = NULL;
    enum store_rc rc = store_pg_exec(s, sql, p, &res);
    if (rc == STORE_OK && changed_out) {
        const char *n = PQcmdTuples(res);
        *changed_out = n[0] ? strtoull(n, NULL, 10) : 0;
    }
    PQclear(res);
    return rc;
}

/* Runs one or more statements without parameters (the simple query protocol), for the
 * migrations and session settings. */
static enum store_rc exec_script(struct store *s, const char *sql)
{
    enum store_rc settled = store_pg_settle(s);
    if (settled != STORE_OK) {
        return settled;
    }
    PGresult *res = PQexec(pgc(s)->conn, sql);
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    enum store_rc rc = STORE_OK;
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        rc = fail_result(s, res);
    }
    PQclear(res);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Result columns (binary format: integers in network order, text and bytea as they are,
 * libpq adding a NUL after every value) */

uint64_t store_pg_col_u64(const PGresult *res, int row, int col)
{
    return (uint64_t)store_pg_col_i64(res, row, col);
}

int64_t store_pg_col_i64(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col)) {
        return 0;
    }
    const unsigned char *v = (const unsigned char *)PQgetvalue(res, row, col);
    int len = PQgetlength(res, row, col);
    uint64_t u = 0;
    for (int i = 0; i < len && i < 8; i++) {
        u = u << 8 | v[i];
    }
    if (len == 4) {
        return (int32_t)(uint32_t)u;
    }
    if (len == 2) {
        return (int16_t)(uint16_t)u;
    }
    return (int64_t)u;
}

const char *store_pg_col_text(const PGresult *res, int row, int col, struct arena *arena)
{
    if (PQgetisnull(res, row, col)) {
        return NULL;
    }
    const char *v = PQgetvalue(res, row, col);
    return arena ? arena_strndup(arena, v, (size_t)PQgetlength(res, row, col)) : v;
}

void store_pg_col_bytes(const PGresult *res, int row, int col, void *out, size_t n)
{
    memset(out, 0, n);
    if (!PQgetisnull(res, row, col) && (size_t)PQgetlength(res, row, col) == n) {
        memcpy(out, PQgetvalue(res, row, col), n);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Migrations */

static int newest_known_version(void)
{
    return store_pg_migrations_count ? store_pg_migrations[store_pg_migrations_count - 1].version
                                     : 0;
}

/* The newest applied migration, 0 for an empty database. */
static enum store_rc schema_version(struct store *s, int64_t *out)
{
    PGresult *res = NULL;
    enum store_rc rc = store_pg_exec(
        s, "SELECT coalesce(max(version), 0)::bigint FROM schema_version", NULL, &res);
    if (rc == STORE_OK) {
        *out = store_pg_col_i64(res, 0, 0);
    }
    PQclear(res);
    return rc;
}

/* Applies migration `m` with its schema_version row, in one transaction. */
static enum store_rc schema_apply(struct store *s, const struct store_migration *m)
{
    enum store_rc rc = exec_script(s, "BEGIN");
    if (rc == STORE_OK) {
        rc = exec_script(s, m->sql);
    }
    if (rc == STORE_OK) {
        struct store_pg_params p = {0};
        store_pg_p_i64(&p, m->version);
        store_pg_p_i64(&p, time_now());
        rc = store_pg_run(s, "INSERT INTO schema_version(version, applied_at) VALUES ($1, $2)", &p,
                          NULL);
    }
    if (rc != STORE_OK) {
        log_error("store migration failed engine=postgresql version=%d msg=\"%s\"", m->version,
                  s->errmsg);
        exec_script(s, "ROLLBACK");
        return rc;
    }
    return exec_script(s, "COMMIT");
}

/* Reads meta `key` into out[n], made from random bytes by the first node that needed it
 * (INSERT ... ON CONFLICT DO NOTHING, then read back: every node gets the same bytes). */
static enum store_rc meta_random(struct store *s, const char *key, uint8_t *out, size_t n)
{
    uint8_t fresh[64];
    if (n > sizeof(fresh)) {
        abort();
    }
    sec_random(fresh, n);
    struct store_pg_params p = {0};
    store_pg_p_text(&p, key);
    store_pg_p_bytes(&p, fresh, n);
    enum store_rc rc = store_pg_run(
        s, "INSERT INTO meta(key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING", &p, NULL);
    PGresult *res = NULL;
    if (rc == STORE_OK) {
        p.n = 1;
        rc = store_pg_exec(s, "SELECT value FROM meta WHERE key = $1", &p, &res);
    }
    if (rc == STORE_OK && (PQntuples(res) != 1 || (size_t)PQgetlength(res, 0, 0) != n)) {
        rc = store_pg_fail_msg(s, STORE_IO, "meta holds a value of the wrong size");
    }
    if (rc == STORE_OK) {
        memcpy(out, PQgetvalue(res, 0, 0), n);
    }
    PQclear(res);
    sec_memzero(fresh, sizeof(fresh));
    return rc;
}

/* Brings the schema up to date under the advisory lock (one node at a time), refusing a
 * database whose schema is newer than this build's, then reads (or makes) the store's GUID
 * and secret. */
static enum store_rc migrate(struct store *s)
{
    char lock[96];
    snprintf(lock, sizeof(lock), "SELECT pg_advisory_lock(%" PRId64 ")", STORE_PG_MIGRATE_LOCK);
    enum store_rc rc = exec_script(s, lock);
    if (rc != STORE_OK) {
        return rc;
    }
    rc = exec_script(s, "CREATE TABLE IF NOT EXISTS schema_version ("
                        "version integer PRIMARY KEY, applied_at bigint NOT NULL)");
    int64_t current = 0;
    if (rc == STORE_OK) {
        rc = schema_version(s, &current);
    }
    if (rc == STORE_OK && current > newest_known_version()) {
        snprintf(s->errmsg, sizeof(s->errmsg),
                 "store schema version %lld is newer than this build's %d", (long long)current,
                 newest_known_version());
        rc = STORE_IO;
    }
    for (unsigned i = 0; rc == STORE_OK && i < store_pg_migrations_count; i++) {
        if (store_pg_migrations[i].version > current) {
            rc = schema_apply(s, &store_pg_migrations[i]);
        }
    }
    if (rc == STORE_OK) {
        rc = meta_random(s, "guid", s->guid, sizeof(s->guid));
    }
    if (rc == STORE_OK) {
        rc = meta_random(s, "secret", s->secret, sizeof(s->secret));
    }
    snprintf(lock, sizeof(lock), "SELECT pg_advisory_unlock(%" PRId64 ")", STORE_PG_MIGRATE_LOCK);
    enum store_rc unlock = exec_script(s, lock);
    return rc != STORE_OK ? rc : unlock;
}

/* ---------------------------------------------------------------------------------------- */
/* Open, close */

static void pg_free(struct store *s)
{
    if (!s) {
        return;
    }
    PQfinish(pgc(s)->conn);
    store_pg_stmts_free(pgc(s));
    store_db_changes_free(s);
    free(pgc(s));
}

static enum store_rc open_failed(const char **errmsg_out, const char *msg)
{
    if (errmsg_out) {
        *errmsg_out = msg;
    }
    return STORE_IO;
}

/* Session settings of every connection: acknowledged means committed (whatever the server's
 * default), and no NOTICE chatter (CREATE ... IF NOT EXISTS) in the log. */
static const char session_sql[] = "SET synchronous_commit = on; "
                                  "SET client_min_messages = warning; "
                                  "SET TIME ZONE 'UTC'";

/* Sets the session's statement_timeout to `ms` (0: none) unless it has it already. */
static enum store_rc set_statement_timeout(struct store *s, unsigned ms)
{
    if (pgc(s)->timeout_ms == ms) {
        return STORE_OK;
    }
    char sql[64];
    snprintf(sql, sizeof(sql), "SET statement_timeout = %u", ms);
    enum store_rc rc = exec_script(s, sql);
    if (rc == STORE_OK) {
        pgc(s)->timeout_ms = ms;
    }
    return rc;
}

/* Seconds libpq waits for a server to answer a connection attempt, unless the URI says
 * otherwise (connect_timeout): libpq's default waits as long as TCP does, which would hold a
 * request, and the pool's acquire behind it, for minutes while the server's host is down. */
#define STORE_PG_CONNECT_TIMEOUT "10"

/* A connection to `uri`; with `migrate_schema`, brings the schema up to date first. The
 * libpq message (which names host and database, never the password) goes to the log. */
static enum store_rc
open_conn(const char *uri, bool migrate_schema, struct store **out, const char **errmsg_out)
{
    if (sec_init() != 0) {
        return open_failed(errmsg_out, "libsodium failed to initialise");
    }
    struct store_pg *q = calloc(1, sizeof(*q));
    if (!q) {
        abort();
    }
    struct store *s = &q->base;
    s->ops = &store_pg_ops;
    sec_random(&q->node, sizeof(q->node)); /* a lone connection is a node of its own */
    /* The URI is expanded in place of dbname, after these defaults: its own settings win.
     * Over TCP, a peer that went silent (its host down, a network cut) is noticed by the
     * keepalives of an idle pooled connection within about 60 s, and by tcp_user_timeout
     * within 30 s of a statement sent and never acknowledged, instead of TCP's minutes to
     * hours: the statement then fails as a lost connection (503 store-unavailable) and the
     * pool reconnects. Both are ignored on a Unix socket. */
    const char *const keys[] = {
        "connect_timeout",  "keepalives",       "keepalives_idle", "keepalives_interval",
        "keepalives_count", "tcp_user_timeout", "dbname",          NULL};
    const char *const values[] = {
        STORE_PG_CONNECT_TIMEOUT, "1", "30", "10", "3", "30000", uri, NULL};
    q->opening = true;
    q->conn = PQconnectdbParams(keys, values, 1);
    if (!q->conn || PQstatus(q->conn) != CONNECTION_OK) {
        char why[STORE_DB_ERRMSG_MAX];
        snprintf(why, sizeof(why), "%s", q->conn ? PQerrorMessage(q->conn) : "out of memory");
        one_line(why);
        static struct log_every every;
        log_every_write(&every, LOST_LOG_MS, LOG_ERROR,
                        "store connect failed engine=postgresql msg=\"%s\"", why);
        pg_free(s);
        return open_failed(errmsg_out, "cannot connect to the PostgreSQL database (see log)");
    }
    if (exec_script(s, session_sql) != STORE_OK || (migrate_schema && migrate(s) != STORE_OK)) {
        log_error("store initialisation failed engine=postgresql msg=\"%s\"", s->errmsg);
        bool newer = strstr(s->errmsg, "is newer than this build") != NULL;
        pg_free(s);
        return open_failed(errmsg_out, newer ? "the database's schema is newer than this build's"
                                             : "cannot initialise the PostgreSQL store (see log)");
    }
    if (errmsg_out) {
        *errmsg_out = NULL;
    }
    q->opening = false;
    *out = s;
    return STORE_OK;
}

enum store_rc store_pg_open(const char *uri, struct store **out, const char **errmsg_out)
{
    return open_conn(uri, true, out, errmsg_out);
}

static void store_pg_close(struct store **sp)
{
    pg_free(*sp);
    *sp = NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Transactions */

enum store_rc store_pg_settle(struct store *s)
{
    struct store_pg *q = pgc(s);
    if (!q->is_unsettled) {
        return STORE_OK;
    }
    q->is_unsettled = false;
    enum store_rc rc = STORE_OK;
    PGresult *res = NULL;
    while ((res = PQgetResult(q->conn)) != NULL) {
        if (rc == STORE_OK && PQresultStatus(res) != PGRES_COMMAND_OK) {
            rc = fail_result(s, res);
        }
        PQclear(res);
    }
    if (rc == STORE_OK && PQtransactionStatus(q->conn) != PQTRANS_IDLE) {
        rc = fail_result(s, NULL); /* the connection broke before the answer came */
    }
    return rc;
}

/* A broken connection (PQTRANS_UNKNOWN) has no transaction: a rollback has nothing to do, and
 * a statement on it reports the lost server (STORE_UNAVAILABLE). A BEGIN is queued and sent
 * with the transaction's first statement (store_pg_stmt.c): the transaction is open from
 * store_begin_* on, for the server from that statement on (its snapshot, in REPEATABLE READ,
 * from that statement). */
static bool store_pg_in_txn(const struct store *s)
{
    if (((const struct store_pg *)s)->is_unsettled) {
        return store_pg_begin_deferred(s); /* the last one's ROLLBACK is on its way */
    }
    PGTransactionStatusType st = PQtransactionStatus(((const struct store_pg *)s)->conn);
    return st == PQTRANS_ACTIVE || st == PQTRANS_INTRANS || st == PQTRANS_INERROR ||
           store_pg_begin_deferred(s);
}

/* What a BEGIN would meet, though it is only queued (store_pg_defer): the fault seam's point,
 * and a connection already known lost, which answers STORE_UNAVAILABLE now rather than at the
 * transaction's first statement. */
static enum store_rc begin_point(struct store *s)
{
    if (PQstatus(pgc(s)->conn) != CONNECTION_OK) {
        return store_pg_fail_msg(s, STORE_UNAVAILABLE, "the connection to the database is lost");
    }
    return store_pg_fault_point(s, "BEGIN");
}

static enum store_rc store_pg_begin_read(struct store *s)
{
    if (store_pg_in_txn(s)) {
        return store_pg_fail_msg(s, STORE_IO, "a transaction is already open");
    }
    enum store_rc fault = begin_point(s);
    if (fault != STORE_OK) {
        return fault;
    }
    store_pg_defer(s, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    return STORE_OK;
}

/* READ COMMITTED: the collection row lock of store_pg_bump orders the writers of one
 * collection (store_pg_int.h). */
static enum store_rc store_pg_begin_write(struct store *s)
{
    if (store_pg_in_txn(s)) {
        return store_pg_fail_msg(s, STORE_IO, "a transaction is already open");
    }
    enum store_rc rc = begin_point(s);
    if (rc == STORE_OK) {
        store_pg_defer(s, "BEGIN ISOLATION LEVEL READ COMMITTED");
    }
    pgc(s)->writing = rc == STORE_OK;
    pgc(s)->n_notify = 0;
    pgc(s)->is_notify_all = false;
    return rc;
}

/* Records that the open transaction moved `coll` to `modseq`, for the NOTIFY its commit
 * sends (STORE_PG_CHANNEL), newest first as store_hook.c does. */
static void note_notify(struct store_pg *q, uint64_t coll, uint64_t modseq)
{
    for (unsigned i = q->n_notify; i > 0; i--) {
        if (q->notify[i - 1].coll == coll) {
            q->notify[i - 1].modseq = modseq; /* bumps only grow */
            return;
        }
    }
    if (q->n_notify == STORE_PG_NOTIFY_MAX) {
        q->is_notify_all = true;
        return;
    }
    q->notify[q->n_notify].coll = coll;
    q->notify[q->n_notify].modseq = modseq;
    q->n_notify++;
}

/* The COMMIT of the open transaction, preceded by the NOTIFY of the collections it bumped
 * (written into buf[size], STORE_PG_CHANNEL's payload), in one string: one round trip, and
 * PostgreSQL delivers the notification to the listening nodes only if the COMMIT succeeds. A
 * transaction an error aborted gets the COMMIT alone (which rolls it back). */
static const char *commit_sql(struct store_pg *q, char *buf, size_t size)
{
    if ((q->n_notify == 0 && !q->is_notify_all) ||
        PQtransactionStatus(q->conn) != PQTRANS_INTRANS) {
        return "COMMIT";
    }
    size_t n = (size_t)snprintf(buf, size, "NOTIFY " STORE_PG_CHANNEL ", '%" PRIx64, q->node);
    for (unsigned i = 0; i < (q->is_notify_all ? 1 : q->n_notify); i++) {
        uint64_t coll = q->is_notify_all ? 0 : q->notify[i].coll;
        uint64_t modseq = q->is_notify_all ? 0 : q->notify[i].modseq;
        n += (size_t)snprintf(buf + n, size - n, " %" PRIu64 " %" PRIu64, coll, modseq);
    }
    snprintf(buf + n, size - n, "'; COMMIT");
    return buf;
}

/* COMMIT of a transaction an error aborted answers ROLLBACK: that is a failure here. A
 * NOTIFY that failed (PostgreSQL's queue full) left the transaction aborted, and is rolled
 * back: the write fails rather than go unannounced. A transaction that sent nothing has
 * nothing to commit; the CLOSEs still queued are the COMMIT's to do. A write transaction's
 * COMMIT is timed for /metrics (synchronous_commit = on: it returns once the server's log is
 * durable), as SQLite's from COMMIT until its fsync. */
static enum store_rc store_pg_commit(struct store *s)
{
    bool is_empty = store_pg_begin_deferred(s);
    bool is_timed = pgc(s)->writing && pgc(s)->timings && !is_empty;
    int64_t t0 = is_timed ? time_mono_us() : 0;
    enum store_rc rc =
        store_pg_fault_point(s, "COMMIT"); /* failed: not sent, the caller rolls back */
    store_pg_txn_end(s);
    PGresult *res = NULL;
    if (rc == STORE_OK && !is_empty) {
        rc = store_pg_settle(s);
    }
    if (rc == STORE_OK && !is_empty) {
        char sql[64 + STORE_PG_NOTIFY_MAX * 48];
        res = PQexec(pgc(s)->conn, commit_sql(pgc(s), sql, sizeof(sql)));
        if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
            rc = fail_result(s, res);
        } else if (strcmp(PQcmdStatus(res), "COMMIT") != 0) {
            rc = store_pg_fail_msg(s, STORE_IO, "the transaction was rolled back after an error");
        }
    }
    PQclear(res);
    if (rc != STORE_OK && PQtransactionStatus(pgc(s)->conn) == PQTRANS_INERROR) {
        PQclear(PQexec(pgc(s)->conn, "ROLLBACK"));
    }
    if (is_timed && rc == STORE_OK) {
        store_flush_note_commit(pgc(s)->timings, time_mono_us() - t0);
    }
    pgc(s)->writing = false;
    pgc(s)->n_notify = 0;
    pgc(s)->is_notify_all = false;
    store_db_changes_end(s, rc == STORE_OK);
    return rc;
}

/* A read transaction's ROLLBACK is sent without waiting for its answer, which the next use of
 * the connection reads first (store_pg_settle), usually a request later, when it has long
 * arrived: a read-only request is one round trip shorter. The server ends the transaction (and
 * lets its snapshot go) as soon as the ROLLBACK arrives, as when its answer is awaited; a
 * ROLLBACK that fails can only mean a lost connection, found by that next use (or by the
 * pool's acquire, which then opens a new one). A write transaction's ROLLBACK is awaited. */
static enum store_rc store_pg_rollback(struct store *s)
{
    enum store_rc rc = STORE_OK;
    bool is_read = !pgc(s)->writing;
    store_pg_txn_end(s);
    if (store_pg_in_txn(s)) {
        if (is_read && PQsendQuery(pgc(s)->conn, "ROLLBACK") == 1) {
            pgc(s)->is_unsettled = true;
        } else {
            rc = exec_script(s, "ROLLBACK");
        }
    }
    pgc(s)->writing = false;
    pgc(s)->n_notify = 0;
    pgc(s)->is_notify_all = false;
    store_db_changes_end(s, false);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Pool: connections opened lazily up to `max`; no write gate (PostgreSQL's row locks order
 * the writers) and no flush barrier (the server's synchronous commit). */

struct store_pg_pool {
    struct store_pool base;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    char *uri;
    unsigned max, open, waiting;
    uint64_t lost, open_failed; /* store_pool_stats */
    unsigned timeout_ms;        /* statement_timeout of every connection (store_pool_set_...) */
    struct store *free;
    struct store_change_hook change_hook;
    struct store_flush timings; /* commit timings only: no log fsyncs of this engine's own */
    uint8_t guid[STORE_GUID_BYTES];
    uint8_t secret[STORE_SECRET_BYTES];
    /* Other nodes' writes (store_pg_listen.c): this pool's node id, which every connection
     * of it puts in its NOTIFYs, and the listener, running while a change hook is set. */
    uint64_t node;
    struct store_pg_listener *listener;
};

static struct store_pg_pool *pg_pool(struct store_pool *pool)
{
    return (struct store_pg_pool *)pool;
}

static void store_pg_pool_destroy(struct store_pool **pp)
{
    struct store_pg_pool *p = pg_pool(*pp);
    store_pg_listener_stop(&p->listener);
    while (p->free) {
        struct store *s = p->free;
        p->free = pgc(s)->next_free;
        pg_free(s);
    }
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    store_flush_destroy(&p->timings);
    sec_memzero(p->uri, strlen(p->uri));
    free(p->uri);
    free(p);
    *pp = NULL;
}

enum store_rc store_pg_pool_create(const char *uri, unsigned max, struct store_pool **out)
{
    struct store_pg_pool *p = calloc(1, sizeof(*p));
    if (!p) {
        abort();
    }
    p->base.ops = &store_pg_ops;
    p->uri = strdup(uri);
    if (!p->uri) {
        abort();
    }
    p->max = max ? max : 1;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    store_flush_init(&p->timings);
    struct store *first = NULL;
    const char *msg = NULL;
    if (open_conn(p->uri, true, &first, &msg) != STORE_OK) {
        log_error("store pool cannot open engine=postgresql msg=\"%s\"", msg ? msg : "");
        struct store_pool *pool = &p->base;
        store_pg_pool_destroy(&pool);
        return STORE_IO;
    }
    first->hook = &p->change_hook;
    p->node = pgc(first)->node; /* random (open_conn): the pool's connections share it */
    pgc(first)->timings = &p->timings;
    memcpy(p->guid, first->guid, sizeof(p->guid));
    memcpy(p->secret, first->secret, sizeof(p->secret));
    p->open = 1;
    p->free = first;
    *out = &p->base;
    return STORE_OK;
}

/* Also (re)starts the listener for other nodes' writes, after stopping the one of the hook
 * before: once this returns, the old hook is called by no thread of the listener's. */
static void store_pg_pool_set_change_hook(struct store_pool *pool, store_change_fn *fn, void *ctx)
{
    struct store_pg_pool *p = pg_pool(pool);
    store_pg_listener_stop(&p->listener);
    pthread_mutex_lock(&p->lock);
    p->change_hook.fn = fn;
    p->change_hook.ctx = ctx;
    pthread_mutex_unlock(&p->lock);
    if (fn && store_pg_listener_start(p->uri, p->node, fn, ctx, &p->listener) != STORE_OK) {
        log_error("store listener not started engine=postgresql: other nodes' writes will not "
                  "wake this node's long polls");
    }
}

static void store_pg_pool_set_statement_timeout(struct store_pool *pool, unsigned ms)
{
    struct store_pg_pool *p = pg_pool(pool);
    pthread_mutex_lock(&p->lock);
    p->timeout_ms = ms;
    pthread_mutex_unlock(&p->lock);
}

/* Whether an idle pooled connection still has its server. An idle session receives nothing
 * unasked but notifications; when its server shuts down or restarts, the server sends a
 * FATAL error and closes the socket. So a readable socket is read (PQconsumeInput, which does
 * not block): the close makes the connection CONNECTION_BAD. The error message may arrive a
 * little before the close, hence the few rounds. One poll() without waiting when nothing
 * arrived, the usual case. */
static bool conn_alive(struct store *s)
{
    PGconn *conn = pgc(s)->conn;
    if (store_pg_settle(s) != STORE_OK) {
        return false;
    }
    for (int round = 0; round < 4; round++) {
        if (PQstatus(conn) != CONNECTION_OK) {
            return false;
        }
        struct pollfd pfd = {.fd = PQsocket(conn), .events = POLLIN};
        if (pfd.fd < 0) {
            return false;
        }
        int n = poll(&pfd, 1, round == 0 ? 0 : 10);
        if (n <= 0) {
            return true; /* nothing (more) arrived; an interrupted poll proves nothing */
        }
        if (!PQconsumeInput(conn)) {
            return false;
        }
    }
    return PQstatus(conn) == CONNECTION_OK;
}

/* Opens a connection for the pool (no migrations: store_pg_pool_create ran them), with the
 * pool's hook, GUID and secret. NULL when the server cannot be reached (logged). */
static struct store *pool_open(struct store_pg_pool *p)
{
    struct store *s = NULL;
    const char *msg = NULL;
    if (open_conn(p->uri, false, &s, &msg) != STORE_OK) {
        pthread_mutex_lock(&p->lock);
        p->open_failed++;
        pthread_mutex_unlock(&p->lock);
        static struct log_every every;
        log_every_write(&every, LOST_LOG_MS, LOG_ERROR,
                        "store pool cannot open a connection engine=postgresql msg=\"%s\"",
                        msg ? msg : "");
        return NULL;
    }
    s->hook = &p->change_hook;
    pgc(s)->node = p->node; /* the pool's own writes are not heard back from its listener */
    pgc(s)->timings = &p->timings;
    memcpy(s->guid, p->guid, sizeof(p->guid));
    memcpy(s->secret, p->secret, sizeof(p->secret));
    return s;
}

/* A free connection if there is one, else a new one while fewer than `max` are open, else
 * waits. A free connection whose server went away (conn_alive) is dropped and replaced by a
 * new one, so the pool recovers by itself once the server is back; while it is away, the new
 * one fails and the caller answers 503. The pool's statement timeout is set on the connection
 * before it is handed out. */
static struct store *store_pg_pool_acquire(struct store_pool *pool)
{
    struct store_pg_pool *p = pg_pool(pool);
    pthread_mutex_lock(&p->lock);
    for (;;) {
        unsigned timeout_ms = p->timeout_ms;
        struct store *s = NULL;
        if (p->free) {
            s = p->free;
            p->free = pgc(s)->next_free;
            pthread_mutex_unlock(&p->lock);
            if (!conn_alive(s)) {
                pthread_mutex_lock(&p->lock);
                p->lost++;
                pthread_mutex_unlock(&p->lock);
                static struct log_every every;
                log_every_write(&every, LOST_LOG_MS, LOG_WARN,
                                "store connection lost engine=postgresql: %s", "reconnecting");
                pg_free(s);
                s = pool_open(p);
            }
        } else if (p->open < p->max) {
            p->open++;
            pthread_mutex_unlock(&p->lock);
            s = pool_open(p);
        } else {
            p->waiting++;
            pthread_cond_wait(&p->cond, &p->lock);
            p->waiting--;
            continue;
        }
        if (s && set_statement_timeout(s, timeout_ms) == STORE_OK) {
            return s;
        }
        if (s) {
            log_error("store connection cannot be set up engine=postgresql msg=\"%s\"", s->errmsg);
            pg_free(s);
        }
        pthread_mutex_lock(&p->lock);
        p->open--;
        pthread_cond_signal(&p->cond);
        pthread_mutex_unlock(&p->lock);
        return NULL;
    }
}

/* A connection that lost its server is closed rather than pooled: the next acquire opens a
 * fresh one (or answers NULL, a 503, while the server is away). */
static void store_pg_pool_release(struct store_pool *pool, struct store *s)
{
    struct store_pg_pool *p = pg_pool(pool);
    store_rollback(s);
    bool is_lost = PQstatus(pgc(s)->conn) != CONNECTION_OK;
    if (is_lost) {
        pg_free(s);
    }
    pthread_mutex_lock(&p->lock);
    if (is_lost) {
        p->open--;
        p->lost++;
    } else {
        pgc(s)->next_free = p->free;
        p->free = s;
    }
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

/* No log fsyncs of its own: the server's. */
static uint64_t store_pg_pool_flush_count(struct store_pool *pool)
{
    (void)pool;
    return 0;
}

static void store_pg_pool_stats(struct store_pool *pool, struct store_pool_stats *out)
{
    struct store_pg_pool *p = pg_pool(pool);
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&p->lock);
    unsigned idle = 0;
    for (struct store *s = p->free; s; s = pgc(s)->next_free) {
        idle++;
    }
    out->max = p->max;
    out->open = p->open;
    out->in_use = p->open - idle;
    out->waiting = p->waiting;
    out->lost = p->lost;
    out->open_failed = p->open_failed;
    pthread_mutex_unlock(&p->lock);
    store_flush_timings(&p->timings, &out->fsync, &out->commit);
}

/* ---------------------------------------------------------------------------------------- */
/* The change log's counter */

void store_pg_note_bump(struct store *s, uint64_t coll, uint64_t modseq)
{
    store_db_note_change(s, coll, modseq);
    note_notify(pgc(s), coll, modseq);
}

enum store_rc store_pg_bump(struct store *s, uint64_t coll, uint64_t *modseq_out)
{
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, coll);
    store_pg_p_i64(&p, time_now());
    PGresult *res = NULL;
    enum store_rc rc = store_pg_exec(
        s,
        "UPDATE collections SET modseq = modseq + 1, updated = $2 WHERE id = $1 RETURNING modseq",
        &p, &res);
    if (rc == STORE_OK && PQntuples(res) != 1) {
        rc = store_pg_fail_msg(s, STORE_NOTFOUND, "no such collection");
    }
    if (rc == STORE_OK) {
        uint64_t modseq = store_pg_col_u64(res, 0, 0);
        store_pg_note_bump(s, coll, modseq);
        if (modseq_out) {
            *modseq_out = modseq;
        }
    }
    PQclear(res);
    return rc;
}

enum store_rc store_pg_lock_coll(struct store *s, uint64_t id)
{
    struct store_pg_params p = {0};
    store_pg_p_u64(&p, id);
    PGresult *res = NULL;
    enum store_rc rc = store_pg_exec(s, STORE_PG_LOCK_SQL, &p, &res);
    if (rc == STORE_OK && PQntuples(res) == 0) {
        rc = store_pg_fail_msg(s, STORE_NOTFOUND, "no such collection");
    }
    PQclear(res);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Checks and backups */

/* PostgreSQL keeps the foreign keys itself; what it cannot know are the store's own
 * invariants, each a query whose first row is a problem, in one snapshot. */
static enum store_rc store_pg_check(struct store *s)
{
    static const struct {
        const char *sql, *problem;
    } checks[] = {
        {"SELECT p.id FROM principals p LEFT JOIN collections c ON c.id = p.home_id WHERE "
         "c.id IS NULL OR c.owner <> p.id OR c.kind <> 0 OR c.parent IS NOT NULL LIMIT 1",
         "a principal without its home"},
        {"SELECT i.id FROM items i LEFT JOIN item_content x ON x.id = i.id WHERE x.id IS NULL "
         "LIMIT 1",
         "an item without content"},
        {"SELECT i.id FROM items i JOIN collections c ON c.id = i.coll WHERE i.modseq > c.modseq "
         "OR i.created_modseq > i.modseq LIMIT 1",
         "an item above its collection's modseq"},
        {"SELECT t.item_id FROM tombstones t JOIN collections c ON c.id = t.coll WHERE "
         "t.modseq > c.modseq LIMIT 1",
         "a tombstone above its collection's modseq"},
        {"SELECT r.item FROM item_spans r JOIN items i ON i.id = r.item WHERE r.coll <> i.coll "
         "LIMIT 1",
         "an interval box in another collection than its item"},
        {"SELECT c.id FROM collections c JOIN collections p ON p.id = c.parent WHERE "
         "p.owner <> c.owner LIMIT 1",
         "a collection below another principal's"},
    };

    if (store_pg_in_txn(s)) {
        return store_pg_fail_msg(s, STORE_IO, "store_check inside a transaction");
    }
    enum store_rc rc = store_pg_begin_read(s);
    for (size_t i = 0; rc == STORE_OK && i < sizeof(checks) / sizeof(checks[0]); i++) {
        PGresult *res = NULL;
        rc = store_pg_exec(s, checks[i].sql, NULL, &res);
        if (rc == STORE_OK && PQntuples(res) > 0) {
            snprintf(s->errmsg, sizeof(s->errmsg), "%s (id %" PRIu64 ")", checks[i].problem,
                     store_pg_col_u64(res, 0, 0));
            rc = STORE_CONFLICT;
        }
        PQclear(res);
    }
    enum store_rc end = store_pg_rollback(s);
    return rc == STORE_OK ? end : rc;
}

/* A PostgreSQL store is the database's to back up, consistently while nodes write:
 * pg_dump, or a base backup with WAL archiving for point-in-time recovery. This engine
 * writes no file of its own. */
static enum store_rc store_pg_backup(struct store *s, const char *dest_path)
{
    (void)dest_path;
    return store_pg_fail_msg(s, STORE_CONFLICT,
                             "a PostgreSQL store is backed up with pg_dump or PostgreSQL's "
                             "point-in-time recovery, not by almanac backup");
}

/* Every call of store.h. */
const struct store_ops store_pg_ops = {
    .close = store_pg_close,
    .begin_read = store_pg_begin_read,
    .begin_write = store_pg_begin_write,
    .commit = store_pg_commit,
    .rollback = store_pg_rollback,
    .in_txn = store_pg_in_txn,
    .pool_destroy = store_pg_pool_destroy,
    .pool_acquire = store_pg_pool_acquire,
    .pool_release = store_pg_pool_release,
    .pool_flush_count = store_pg_pool_flush_count,
    .pool_stats = store_pg_pool_stats,
    .pool_set_statement_timeout = store_pg_pool_set_statement_timeout,
    .pool_set_change_hook = store_pg_pool_set_change_hook,
    .check = store_pg_check,
    .backup = store_pg_backup,
    .principal_add = store_pg_principal_add,
    .principal_get = store_pg_principal_get,
    .principal_get_by_id = store_pg_principal_get_by_id,
    .principal_set_pwhash = store_pg_principal_set_pwhash,
    .principal_cred_gen = store_pg_principal_cred_gen,
    .principal_del = store_pg_principal_del,
    .principal_list = store_pg_principal_list,
    .coll_create = store_pg_coll_create,
    .coll_get = store_pg_coll_get,
    .coll_set_comps = store_pg_coll_set_comps,
    .coll_usage = store_pg_coll_usage,
    .coll_lookup = store_pg_coll_lookup,
    .coll_delete = store_pg_coll_delete,
    .coll_move = store_pg_coll_move,
    .coll_touch = store_pg_coll_touch,
    .coll_reset_history = store_pg_coll_reset_history,
    .coll_prune_tombstones = store_pg_coll_prune_tombstones,
    .prune_all_tombstones = store_pg_prune_all_tombstones,
    .item_get = store_pg_item_get,
    .item_prefetch = store_pg_item_prefetch,
    .path_prefetch = store_pg_path_prefetch,
    .item_get_by_uid = store_pg_item_get_by_uid,
    .item_get_by_id = store_pg_item_get_by_id,
    .item_put = store_pg_item_put,
    .item_delete = store_pg_item_delete,
    .item_move = store_pg_item_move,
    .item_touch = store_pg_item_touch,
    .changes_count = store_pg_changes_count,
    .prop_set = store_pg_prop_set,
    .prop_del = store_pg_prop_del,
    .prop_get = store_pg_prop_get,
    .prop_list = store_pg_prop_list,
    .prop_copy = store_pg_prop_copy,
    .items_open = store_pg_items_open,
    .changes_open = store_pg_changes_open,
    .items_in_range_open = store_pg_items_in_range_open,
    .children_open = store_pg_children_open,
    .all_colls_open = store_pg_all_colls_open,
    .cursor_next_item = store_pg_cursor_next_item,
    .cursor_next_coll = store_pg_cursor_next_coll,
    .cursor_close = store_pg_cursor_close,
    .sub_create = store_pg_sub_create,
    .sub_get = store_pg_sub_get,
    .sub_revoke = store_pg_sub_revoke,
    .sub_list = store_pg_sub_list,
    .sched_addr_add = store_pg_sched_addr_add,
    .sched_addr_del = store_pg_sched_addr_del,
    .sched_addr_lookup = store_pg_sched_addr_lookup,
    .sched_addr_list = store_pg_sched_addr_list,
    .share_set = store_pg_share_set,
    .share_del = store_pg_share_del,
    .share_get = store_pg_share_get,
    .share_lookup = store_pg_share_lookup,
    .share_list_of_sharee = store_pg_share_list_of_sharee,
    .share_list_of_coll = store_pg_share_list_of_coll,
    .share_list_of_owner = store_pg_share_list_of_owner,
    .eas_device_touch = store_pg_eas_device_touch,
    .eas_device_get = store_pg_eas_device_get,
    .eas_device_seen = store_pg_eas_device_seen,
    .eas_device_set_policy = store_pg_eas_device_set_policy,
    .eas_device_set_info = store_pg_eas_device_set_info,
    .eas_device_list = store_pg_eas_device_list,
    .eas_device_del = store_pg_eas_device_del,
    .eas_blob_put = store_pg_eas_blob_put,
    .eas_blob_get = store_pg_eas_blob_get,
    .eas_blob_del = store_pg_eas_blob_del,
    .eas_sync_get = store_pg_eas_sync_get,
    .eas_sync_cursor = store_pg_eas_sync_cursor,
    .eas_sync_put = store_pg_eas_sync_put,
    .eas_sync_reset = store_pg_eas_sync_reset,
    .eas_member_get = store_pg_eas_member_get,
    .eas_member_put = store_pg_eas_member_put,
    .eas_member_del = store_pg_eas_member_del,
    .eas_member_count = store_pg_eas_member_count,
    .eas_members_aged_open = store_pg_eas_members_aged_open,
    .items_open_cols = store_pg_items_open_cols,
    .changes_open_cols = store_pg_changes_open_cols,
    .imip_enqueue = store_pg_imip_enqueue,
    .imip_next_due = store_pg_imip_next_due,
    .imip_claim = store_pg_imip_claim,
    .imip_next_time = store_pg_imip_next_time,
    .imip_get = store_pg_imip_get,
    .imip_tried = store_pg_imip_tried,
    .imip_retry = store_pg_imip_retry,
    .imip_list = store_pg_imip_list,
};
