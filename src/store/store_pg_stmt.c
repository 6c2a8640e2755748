/* store/store_pg_stmt.c: how the PostgreSQL engine sends its statements, in as few round trips
 * as it can (issue #10).
 *
 * - Prepared statements: every statement of the engine's own files (string literals, a few
 *   hundred at most) is prepared once per connection, lazily, at its first use, under a name
 *   of this connection's table (keyed by the statement's text), and executed by name after
 *   that: the server parses and plans it once, not at every call. The preparing travels in
 *   the same round trip as the first execution (a pipeline). Statements whose text varies
 *   (a cursor's name in it) go unprepared (store_pg_exec_once), and so does any statement
 *   past the table's STMT_MAX. A table belongs to one server session: when the backend's PID
 *   changes (a reset connection), it is emptied.
 * - Deferred statements: BEGIN (store_begin_read, store_begin_write) and CLOSE of a cursor
 *   are statements whose answer nobody waits for. They are queued on the connection and sent
 *   in front of the next statement, in its round trip (a pipeline of several statements and
 *   one Sync: the server runs them one after the other, each with its own snapshot in READ
 *   COMMITTED exactly as in separate round trips, and an error aborts the ones after it).
 *   COMMIT or ROLLBACK of a transaction in which nothing was sent sends nothing; a queued
 *   CLOSE is dropped by them (the transaction's end closes its cursors). A read transaction's
 *   ROLLBACK is sent and its answer read before the connection's next statement
 *   (store_pg_settle): nobody waits for it either.
 * - Several statements of one operation go in one round trip (store_pg_exec_n), e.g. the
 *   collection row lock and the write that must follow it: the write still starts after the
 *   lock is held, so checks it makes see every write committed before.
 * - Repeats within a read transaction (store_pg_exec_snap): a read transaction is one
 *   snapshot (REPEATABLE READ READ ONLY) in which nothing changes, so a plain SELECT of the
 *   tables answers the same rows every time it runs with the same parameters. The upper
 *   layers look the same principal, collection or item up several times in one request (a
 *   multiget once per href); the second and later lookups are answered from a copy of the
 *   first answer, kept until the transaction ends (at most MEMO_MAX answers, of at most
 *   MEMO_BYTES of values each; when full, one not used since the clock hand last passed it is
 *   forgotten). A hash index over the keys finds an answer without a scan. Write transactions (READ
 * COMMITTED: each statement its own snapshot) and statements outside a transaction always go to the
 * server. A lookup may bring the answer of the lookup that usually follows it in the same round
 * trip (store_pg_exec_snap_also): a path's last segment looked up as a collection, then as an item.
 * Never included outside src/store. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "store/store.h"
#include "store/store_pg_int.h"

enum {
    STMT_MAX = 512,    /* prepared statements of one connection; more go unprepared */
    STMT_SLOTS = 1024, /* hash slots (open addressing), twice STMT_MAX */
    MEMO_MAX = 2 * STORE_PREFETCH_MAX + 32, /* answers kept in one read transaction: a
                                             * prefetch's two per name, and 32 others */
    MEMO_BYTES = 4096,    /* values of one kept answer, at most (item content is not kept) */
    MEMO_SLOTS = 1024,    /* the memo's hash index (open addressing), over 2 * MEMO_MAX */
    MEMO_TOMB = 0xffff,   /* an index slot whose answer was forgotten */
    MEMO_NONE = MEMO_MAX, /* no position (struct store_pg_stmts.last) */
    STMT_RECENT = 16,     /* stmt_of's cache by address (a power of 2) */
};

/* An answer kept in a read transaction: the statement's number and its parameters (the
 * key), and a copy of the result. */
struct memo {
    unsigned char *key;
    size_t key_len;
    uint64_t key_hash; /* FNV-1a of the key: compared before the bytes */
    PGresult *res;
    bool is_used; /* used since the clock hand last passed it: kept one more turn */
};

_Static_assert(2 * MEMO_MAX < MEMO_SLOTS && MEMO_MAX < MEMO_TOMB, "the memo's index fits");

struct stmt {
    char *sql;      /* its text (owned), NULL: an empty slot */
    uint64_t hash;  /* of the text */
    bool is_ready;  /* prepared on the server (as "a<index>") */
    unsigned index; /* its name's number */
};

struct store_pg_stmts {
    int backend_pid; /* the server session the statements were prepared in */
    unsigned n;
    struct stmt slots[STMT_SLOTS];

    /* The entries last found, by the text's address: the same few statements are run for
     * every href of a multiget, and hashing their text each time was most of stmt_of's cost
     * (perf). A hit is confirmed by comparing the text (a buffer reused for another text at
     * the same address misses). */
    struct {
        const char *sql;
        struct stmt *e;
    } recent[STMT_RECENT];

    unsigned nmemo;
    unsigned hand; /* the clock hand: the next answer memo_victim() looks at */
    unsigned last; /* the answer found or kept last (never the victim), or MEMO_NONE */
    unsigned ntomb;
    struct memo memo[MEMO_MAX]; /* of the open read transaction */
    uint16_t index[MEMO_SLOTS]; /* 1 + a memo's position, 0 (free) or MEMO_TOMB */
};

static void memo_clear(struct store_pg_stmts *t)
{
    for (unsigned i = 0; i < t->nmemo; i++) {
        free(t->memo[i].key);
        PQclear(t->memo[i].res);
    }
    t->nmemo = 0;
    t->hand = 0;
    t->last = MEMO_NONE;
    t->ntomb = 0;
    memset(t->index, 0, sizeof(t->index));
}

/* FNV-1a of the text. */
static uint64_t text_hash(const char *sql)
{
    uint64_t h = UINT64_C(14695981039346656037);
    for (const unsigned char *c = (const unsigned char *)sql; *c; c++) {
        h = (h ^ *c) * UINT64_C(1099511628211);
    }
    return h;
}

void store_pg_stmts_free(struct store_pg *q)
{
    if (!q->stmts) {
        return;
    }
    for (size_t i = 0; i < STMT_SLOTS; i++) {
        free(q->stmts->slots[i].sql);
    }
    memo_clear(q->stmts);
    free(q->stmts);
    q->stmts = NULL;
}

/* The table's entry for `sql`, made (not yet prepared) when there is room; NULL when the
 * table is full. */
static struct stmt *stmt_of(struct store_pg *q, const char *sql)
{
    int pid = PQbackendPID(q->conn);
    if (q->stmts && q->stmts->backend_pid != pid) {
        store_pg_stmts_free(q); /* another session: nothing is prepared there */
    }
    if (!q->stmts) {
        q->stmts = calloc(1, sizeof(*q->stmts));
        if (!q->stmts) {
            abort();
        }
        q->stmts->backend_pid = pid;
        q->stmts->last = MEMO_NONE;
    }
    struct store_pg_stmts *t = q->stmts;
    size_t r = ((uintptr_t)sql >> 3) & (STMT_RECENT - 1);
    if (t->recent[r].sql == sql && strcmp(t->recent[r].e->sql, sql) == 0) {
        return t->recent[r].e;
    }
    uint64_t h = text_hash(sql);
    for (size_t i = (size_t)(h % STMT_SLOTS);; i = (i + 1) % STMT_SLOTS) {
        struct stmt *e = &t->slots[i];
        if (!e->sql) {
            if (t->n >= STMT_MAX) {
                return NULL;
            }
            e->sql = strdup(sql);
            if (!e->sql) {
                abort();
            }
            e->hash = h;
            e->index = t->n++;
        } else if (e->hash != h || strcmp(e->sql, sql) != 0) {
            continue;
        }
        t->recent[r].sql = sql;
        t->recent[r].e = e;
        return e;
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Deferred statements */

void store_pg_defer(struct store *s, const char *sql)
{
    struct store_pg *q = pgc(s);
    if (q->ndeferred >= STORE_PG_DEFERRED_MAX || strlen(sql) >= sizeof(q->deferred[0])) {
        /* full: send what is queued, with this one, now */
        store_pg_exec_n(s, &(struct store_pg_op){.sql = sql, .is_once = true}, 1);
        return;
    }
    snprintf(q->deferred[q->ndeferred++], sizeof(q->deferred[0]), "%s", sql);
}

bool store_pg_begin_deferred(const struct store *s)
{
    const struct store_pg *q = (const struct store_pg *)s;
    return q->ndeferred > 0 && strncmp(q->deferred[0], "BEGIN", 5) == 0;
}

void store_pg_txn_end(struct store *s)
{
    struct store_pg *q = pgc(s);
    q->ndeferred = 0;
    if (q->stmts) {
        memo_clear(q->stmts);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Execution */

/* The mapped error of `res` (NULL: the connection's). */
static enum store_rc fail(struct store *s, const PGresult *res)
{
    return store_pg_fail_result(s, res);
}

static bool result_ok(const PGresult *res)
{
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    return st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK;
}

/* One statement, nothing deferred, prepared already or not to be: the plain calls. */
static enum store_rc exec_one(struct store *s, const struct store_pg_op *op, struct stmt *e)
{
    struct store_pg *q = pgc(s);
    const struct store_pg_params *p = op->p;
    PGresult *res = NULL;
    if (e) {
        char name[16];
        snprintf(name, sizeof(name), "a%u", e->index);
        res = PQexecPrepared(q->conn, name, p ? p->n : 0, p ? p->values : NULL,
                             p ? p->lengths : NULL, p ? p->formats : NULL, 1);
    } else {
        res = PQexecParams(q->conn, op->sql, p ? p->n : 0, NULL, p ? p->values : NULL,
                           p ? p->lengths : NULL, p ? p->formats : NULL, 1);
    }
    if (!result_ok(res)) {
        enum store_rc rc = fail(s, res);
        PQclear(res);
        return rc;
    }
    if (op->res_out) {
        *op->res_out = res;
    } else {
        PQclear(res);
    }
    return STORE_OK;
}

/* What was sent in the pipeline, in order, to read the answers back. */
struct sent {
    enum {
        SENT_DEFERRED,
        SENT_PREPARE,
        SENT_OP
    } kind;

    int op;         /* SENT_OP, SENT_PREPARE: the op's index */
    struct stmt *e; /* SENT_PREPARE: the entry that becomes ready */
};

/* Reads the next statement's answer (one result, then the NULL that ends it). NULL when
 * the connection broke. */
static PGresult *next_answer(PGconn *conn)
{
    PGresult *res = PQgetResult(conn);
    if (!res) {
        return NULL;
    }
    PGresult *extra = NULL;
    while ((extra = PQgetResult(conn)) != NULL) {
        PQclear(extra); /* a statement of this engine answers once */
    }
    return res;
}

enum store_rc store_pg_exec_n(struct store *s, const struct store_pg_op *ops, int n)
{
    struct store_pg *q = pgc(s);
    struct stmt *entries[STORE_PG_OPS_MAX];
    if (n < 1 || n > STORE_PG_OPS_MAX) {
        abort(); /* a caller of this file with too many statements: a bug */
    }
    for (int i = 0; i < n; i++) {
        if (ops[i].res_out) {
            *ops[i].res_out = NULL;
        }
    }
    enum store_rc settled = store_pg_settle(s);
    if (settled != STORE_OK) {
        return settled;
    }
    int messages = q->ndeferred;
    for (int i = 0; i < n; i++) {
        /* each statement is a fault point (the queued BEGIN was one at store_begin_*) */
        enum store_rc fault = store_pg_fault_point(s, ops[i].sql);
        if (fault != STORE_OK) {
            return fault;
        }
        entries[i] = ops[i].is_once ? NULL : stmt_of(q, ops[i].sql);
        messages += 1 + (entries[i] && !entries[i]->is_ready);
    }
    if (messages == 1) {
        return exec_one(s, &ops[0], entries[0]);
    }

    struct sent sent[STORE_PG_DEFERRED_MAX + 2 * STORE_PG_OPS_MAX];
    int nsent = 0;
    bool is_sent = PQenterPipelineMode(q->conn) == 1;
    for (int i = 0; is_sent && i < q->ndeferred; i++) {
        is_sent = PQsendQueryParams(q->conn, q->deferred[i], 0, NULL, NULL, NULL, NULL, 1) == 1;
        sent[nsent++] = (struct sent){.kind = SENT_DEFERRED};
    }
    for (int i = 0; is_sent && i < n; i++) {
        const struct store_pg_params *p = ops[i].p;
        struct stmt *e = entries[i];
        char name[16];
        if (e) {
            snprintf(name, sizeof(name), "a%u", e->index);
        }
        if (e && !e->is_ready) {
            is_sent = PQsendPrepare(q->conn, name, ops[i].sql, p ? p->n : 0, NULL) == 1;
            sent[nsent++] = (struct sent){.kind = SENT_PREPARE, .op = i, .e = e};
        }
        if (is_sent && e) {
            is_sent = PQsendQueryPrepared(q->conn, name, p ? p->n : 0, p ? p->values : NULL,
                                          p ? p->lengths : NULL, p ? p->formats : NULL, 1) == 1;
        } else if (is_sent) {
            is_sent =
                PQsendQueryParams(q->conn, ops[i].sql, p ? p->n : 0, NULL, p ? p->values : NULL,
                                  p ? p->lengths : NULL, p ? p->formats : NULL, 1) == 1;
        }
        sent[nsent++] = (struct sent){.kind = SENT_OP, .op = i};
    }
    q->ndeferred = 0; /* sent (or lost with the connection) */
    if (is_sent) {
        is_sent = PQpipelineSync(q->conn) == 1;
    }
    if (!is_sent) {
        enum store_rc rc = fail(s, NULL);
        PQexitPipelineMode(q->conn);
        return rc;
    }

    /* The answers, in order: the first failure is the operation's; the statements after it
     * answer PGRES_PIPELINE_ABORTED. */
    enum store_rc rc = STORE_OK;
    bool is_broken = false;
    for (int k = 0; k < nsent && !is_broken; k++) {
        PGresult *res = next_answer(q->conn);
        if (!res) {
            is_broken = true;
            if (rc == STORE_OK) {
                rc = fail(s, NULL);
            }
            break;
        }
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_PIPELINE_ABORTED) {
            PQclear(res);
            continue;
        }
        if (!result_ok(res)) {
            if (rc == STORE_OK) {
                rc = fail(s, res);
            }
            PQclear(res);
            continue;
        }
        if (sent[k].kind == SENT_PREPARE) {
            sent[k].e->is_ready = true;
        }
        if (sent[k].kind == SENT_OP && ops[sent[k].op].res_out) {
            *ops[sent[k].op].res_out = res;
        } else {
            PQclear(res);
        }
    }
    if (!is_broken) {
        PGresult *sync = PQgetResult(q->conn); /* PGRES_PIPELINE_SYNC */
        if (!sync || PQresultStatus(sync) != PGRES_PIPELINE_SYNC) {
            is_broken = true;
            if (rc == STORE_OK) {
                rc = fail(s, sync);
            }
        }
        PQclear(sync);
    }
    if (PQexitPipelineMode(q->conn) != 1 && rc == STORE_OK) {
        rc = fail(s, NULL);
    }
    if (rc != STORE_OK) {
        for (int i = 0; i < n; i++) {
            if (ops[i].res_out) {
                PQclear(*ops[i].res_out);
                *ops[i].res_out = NULL;
            }
        }
    }
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Repeats within a read transaction */

static bool is_reading(const struct store_pg *q)
{
    if (q->ndeferred > 0) {
        return strstr(q->deferred[0], "READ ONLY") != NULL;
    }
    return !q->writing && PQtransactionStatus(q->conn) == PQTRANS_INTRANS;
}

/* The statement's number and every parameter (length, or -1 for NULL, format, bytes) in
 * one malloc'd key. */
static unsigned char *memo_key(const struct stmt *e, const struct store_pg_params *p, size_t *n_out)
{
    size_t n = sizeof(e->index);
    int np = p ? p->n : 0;
    for (int i = 0; i < np; i++) {
        n += 2 * sizeof(int) +
             (p->values[i] ? (p->formats[i] ? (size_t)p->lengths[i] : strlen(p->values[i])) : 0);
    }
    unsigned char *key = malloc(n);
    if (!key) {
        abort();
    }
    size_t at = 0;
    memcpy(key, &e->index, sizeof(e->index));
    at += sizeof(e->index);
    for (int i = 0; i < np; i++) {
        int len = !p->values[i] ? -1 : p->formats[i] ? p->lengths[i] : (int)strlen(p->values[i]);
        memcpy(key + at, &len, sizeof(len));
        at += sizeof(len);
        memcpy(key + at, &p->formats[i], sizeof(int));
        at += sizeof(int);
        if (len > 0) {
            memcpy(key + at, p->values[i], (size_t)len);
            at += (size_t)len;
        }
    }
    *n_out = n;
    return key;
}

/* The values of `res` fit MEMO_BYTES. */
static bool is_small(const PGresult *res)
{
    size_t n = 0;
    for (int r = 0; r < PQntuples(res); r++) {
        for (int c = 0; c < PQnfields(res); c++) {
            n += (size_t)PQgetlength(res, r, c);
        }
    }
    return n <= MEMO_BYTES;
}

bool store_pg_is_reading(const struct store *s)
{
    return is_reading((const struct store_pg *)s);
}

/* FNV-1a of a memo key. */
static uint64_t key_hash(const unsigned char *key, size_t n)
{
    uint64_t h = UINT64_C(14695981039346656037);
    for (size_t i = 0; i < n; i++) {
        h = (h ^ key[i]) * UINT64_C(1099511628211);
    }
    return h;
}

/* The index slot of answer `at` (present): probed from its hash as memo_find does. */
static unsigned memo_slot_of(const struct store_pg_stmts *t, unsigned at)
{
    unsigned i = (unsigned)(t->memo[at].key_hash & (MEMO_SLOTS - 1));
    while (t->index[i] != at + 1) {
        i = (i + 1) & (MEMO_SLOTS - 1);
    }
    return i;
}

/* Puts answer `at` in the index, in the first free or forgotten slot of its probe. */
static void memo_index_add(struct store_pg_stmts *t, unsigned at)
{
    unsigned i = (unsigned)(t->memo[at].key_hash & (MEMO_SLOTS - 1));
    while (t->index[i] != 0 && t->index[i] != MEMO_TOMB) {
        i = (i + 1) & (MEMO_SLOTS - 1);
    }
    if (t->index[i] == MEMO_TOMB) {
        t->ntomb--;
    }
    t->index[i] = (uint16_t)(at + 1);
}

/* Takes answer `at` out of the index (a tombstone, so later probes go on past it); the
 * index is made again once a quarter of it is tombstones. */
static void memo_index_remove(struct store_pg_stmts *t, unsigned at)
{
    t->index[memo_slot_of(t, at)] = MEMO_TOMB;
    if (++t->ntomb > MEMO_SLOTS / 4) {
        memset(t->index, 0, sizeof(t->index));
        t->ntomb = 0;
        for (unsigned i = 0; i < t->nmemo; i++) {
            if (i != at) {
                memo_index_add(t, i);
            }
        }
    }
}

/* The kept answer of `key` (now marked used), or NULL. */
static PGresult *memo_find(struct store_pg_stmts *t, const unsigned char *key, size_t n)
{
    uint64_t h = key_hash(key, n);
    for (unsigned i = (unsigned)(h & (MEMO_SLOTS - 1)); t->index[i] != 0;
         i = (i + 1) & (MEMO_SLOTS - 1)) {
        if (t->index[i] == MEMO_TOMB) {
            continue;
        }
        struct memo *m = &t->memo[t->index[i] - 1];
        if (m->key_hash == h && m->key_len == n && memcmp(m->key, key, n) == 0) {
            m->is_used = true;
            t->last = (unsigned)(m - t->memo);
            return m->res;
        }
    }
    return NULL;
}

/* The answer to forget when the memo is full: the first the clock hand finds unused since
 * it last passed (clearing the marks it passes), never the one found or kept last (its
 * PGresult may be lent right now: store_pg_exec_snap_also keeps a second answer after
 * lending the first). */
static unsigned memo_victim(struct store_pg_stmts *t)
{
    for (;;) {
        unsigned i = t->hand;
        t->hand = (t->hand + 1) % MEMO_MAX;
        if (i == t->last) {
            continue;
        }
        if (t->memo[i].is_used) {
            t->memo[i].is_used = false;
            continue;
        }
        return i;
    }
}

/* Keeps `res` under `key` (taken) when it is small and `key` has no answer yet, in place of
 * memo_victim()'s answer when MEMO_MAX are kept (a multiget keeps its principal and
 * collection, used for every href, and forgets the hrefs' answers once used): true when `res`
 * is the memo's now; false, `res` still the caller's, when not. */
static bool memo_keep(struct store_pg_stmts *t, unsigned char *key, size_t n, PGresult *res)
{
    if (!is_small(res) || memo_find(t, key, n)) {
        free(key);
        return false;
    }
    unsigned at = t->nmemo;
    if (at == MEMO_MAX) {
        at = memo_victim(t);
        memo_index_remove(t, at);
        free(t->memo[at].key);
        PQclear(t->memo[at].res);
    } else {
        t->nmemo++;
    }
    t->memo[at] = (struct memo){key, n, key_hash(key, n), res, true};
    memo_index_add(t, at);
    t->last = at;
    return true;
}

/* Whether `res` is a kept answer (lent by store_pg_exec_snap_also). */
static bool memo_owns(const struct store_pg_stmts *t, const PGresult *res)
{
    for (unsigned i = 0; t && i < t->nmemo; i++) {
        if (t->memo[i].res == res) {
            return true;
        }
    }
    return false;
}

void store_pg_snap_clear(struct store *s, PGresult *res)
{
    if (res && !memo_owns(pgc(s)->stmts, res)) {
        PQclear(res);
    }
}

enum store_rc store_pg_exec_snap(struct store *s,
                                 const char *sql,
                                 const struct store_pg_params *p,
                                 PGresult **res_out)
{
    return store_pg_exec_snap_also(s, sql, p, res_out, NULL, NULL);
}

enum store_rc store_pg_exec_snap_also(struct store *s,
                                      const char *sql,
                                      const struct store_pg_params *p,
                                      PGresult **res_out,
                                      const char *also_sql,
                                      const struct store_pg_params *also_p)
{
    struct store_pg *q = pgc(s);
    struct stmt *e = is_reading(q) ? stmt_of(q, sql) : NULL;
    if (!e) {
        return store_pg_exec(s, sql, p, res_out);
    }
    size_t key_len = 0;
    unsigned char *key = memo_key(e, p, &key_len);
    PGresult *kept = memo_find(q->stmts, key, key_len);
    if (kept) {
        free(key);
        *res_out = kept; /* lent: store_pg_snap_clear */
        return STORE_OK;
    }
    /* the other statement in the same round trip, unless its answer is kept already */
    struct stmt *also = also_sql ? stmt_of(q, also_sql) : NULL;
    size_t also_len = 0;
    unsigned char *also_key = also ? memo_key(also, also_p, &also_len) : NULL;
    if (also_key && memo_find(q->stmts, also_key, also_len)) {
        free(also_key);
        also_key = NULL;
    }
    PGresult *also_res = NULL;
    const struct store_pg_op ops[] = {
        {.sql = sql, .p = p, .res_out = res_out},
        {.sql = also_sql, .p = also_p, .res_out = &also_res},
    };
    struct store_pg_stmts *t = q->stmts;
    enum store_rc rc = store_pg_exec_n(s, ops, also_key ? 2 : 1);
    if (rc == STORE_OK && t == q->stmts) {
        /* kept, the answer is lent (no copy), else the caller's: store_pg_snap_clear */
        memo_keep(t, key, key_len, *res_out);
        key = NULL;
        if (also_key && memo_keep(t, also_key, also_len, also_res)) {
            also_res = NULL;
        }
        also_key = NULL;
    }
    PQclear(also_res);
    free(key);
    free(also_key);
    return rc;
}

PGresult *store_pg_row_result(struct store *s, const PGresult *src, int row, const int *cols, int n)
{
    PGresAttDesc attrs[STORE_PG_ROW_COLS_MAX];
    if (n > STORE_PG_ROW_COLS_MAX) {
        abort();
    }
    for (int i = 0; i < n; i++) {
        attrs[i] = (PGresAttDesc){
            .name = PQfname(src, cols[i]),
            .tableid = PQftable(src, cols[i]),
            .columnid = PQftablecol(src, cols[i]),
            .format = PQfformat(src, cols[i]),
            .typid = PQftype(src, cols[i]),
            .typlen = PQfsize(src, cols[i]),
            .atttypmod = PQfmod(src, cols[i]),
        };
    }
    PGresult *res = PQmakeEmptyPGresult(pgc(s)->conn, PGRES_TUPLES_OK);
    if (!res || !PQsetResultAttrs(res, n, attrs)) {
        abort();
    }
    for (int i = 0; i < n && row >= 0; i++) {
        bool is_null = PQgetisnull(src, row, cols[i]);
        if (!PQsetvalue(res, 0, i, is_null ? NULL : PQgetvalue(src, row, cols[i]),
                        is_null ? -1 : PQgetlength(src, row, cols[i]))) {
            abort();
        }
    }
    return res;
}

bool store_pg_is_kept(struct store *s, const char *sql, const struct store_pg_params *p)
{
    struct store_pg *q = pgc(s);
    struct stmt *e = is_reading(q) ? stmt_of(q, sql) : NULL;
    if (!e) {
        return false;
    }
    size_t key_len = 0;
    unsigned char *key = memo_key(e, p, &key_len);
    bool kept = memo_find(q->stmts, key, key_len) != NULL;
    free(key);
    return kept;
}

void store_pg_keep_answer(struct store *s,
                          const char *sql,
                          const struct store_pg_params *p,
                          PGresult *res)
{
    struct store_pg *q = pgc(s);
    struct stmt *e = is_reading(q) ? stmt_of(q, sql) : NULL;
    if (e) {
        size_t key_len = 0;
        unsigned char *key = memo_key(e, p, &key_len);
        if (memo_keep(q->stmts, key, key_len, res)) {
            return;
        }
    }
    PQclear(res);
}
