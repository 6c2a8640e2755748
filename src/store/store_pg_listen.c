/* store/store_pg_listen.c: the PostgreSQL engine's change listener (issue #10 item 3), how a
 * write through one almanacd node wakes the long polls waiting on every other node.
 *
 * The sending half is in store_pg.c: a write transaction that bumped collections sends, in
 * the round trip of its COMMIT, one NOTIFY on channel STORE_PG_CHANNEL whose payload names
 * the sending node and the collections with their new modseqs (store_pg_int.h). PostgreSQL
 * delivers it to every session listening on the channel when, and only if, the transaction
 * commits.
 *
 * This half: one thread per pool that has a change hook, on a connection of its own outside
 * the pool (application_name almanac-listen). It LISTENs, then waits with poll() on that
 * connection's socket and on a pipe (a byte on the pipe stops it), reads what arrived with
 * PQconsumeInput() and calls the hook once per collection of each notification sent by
 * another node. The pool's own writes already reached the hook in process, on the committing
 * thread, after their commit (store_hook.c), so notifications carrying the pool's own node id
 * are skipped: a local write wakes its waiters once.
 *
 * A lost connection (the database restarted or failed over, the network cut, which TCP
 * keepalives notice within about 25 s) is reconnected at once, then every 100 ms doubling up
 * to 2 s, and LISTENed again; then the hook is called with collection 0 and modseq 0
 * (store.h: every collection), because notifications sent while the listener was away are
 * lost. So is the first LISTEN, which may come after the server began to take long polls. Every
 * waiter then looks at the change log again, which is in the database and complete, and answers if
 * something changed for it: nothing is missed. LISTEN is in force before that wake-up, so a write
 * committed after it is notified, and one committed before it is seen by the waiters' look.
 *
 * Memory: O(1); the thread holds one connection and one notification at a time. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "store/store.h"
#include "store/store_pg_int.h"
#include "util/log.h"
#include "util/sec.h"

enum {
    LISTEN_CONNECT_TIMEOUT_MS = 10000, /* one connection attempt, LISTEN included */
    LISTEN_RETRY_FIRST_MS = 100,       /* the wait after a first failed attempt ... */
    LISTEN_RETRY_MAX_MS = 2000,        /* ... doubling up to this */
};

struct store_pg_listener {
    pthread_t thread;
    int wake[2]; /* pipe: a byte written to wake[1] stops the thread */
    char *uri;
    uint64_t node; /* the pool's node id: notifications from it are skipped */
    store_change_fn *fn;
    void *ctx;
};

/* Waits until `fd` (none when < 0) is ready for `events`, or the stop pipe is readable, for
 * at most timeout_ms (-1: no limit). 1 ready, 0 timed out, -1 asked to stop. */
static int wait_fd(struct store_pg_listener *l, int fd, short events, int timeout_ms)
{
    struct pollfd pf[2] = {{.fd = l->wake[0], .events = POLLIN}, {.fd = fd, .events = events}};
    for (;;) {
        int r = poll(pf, fd >= 0 ? 2 : 1, timeout_ms);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (pf[0].revents) {
            return -1;
        }
        return r > 0 ? 1 : 0; /* poll failing otherwise (EINVAL, ENOMEM): as a timeout */
    }
}

/* Calls the hook for each (collection, modseq) pair of a payload from another node; skips
 * the pool's own and anything malformed (a payload is "<node hex> <coll> <modseq>...",
 * store_pg_int.h). */
static void deliver(struct store_pg_listener *l, const char *payload)
{
    char *end = NULL;
    uint64_t node = strtoull(payload, &end, 16);
    if (end == payload || node == l->node) {
        return;
    }
    const char *p = end;
    for (;;) {
        uint64_t coll = strtoull(p, &end, 10);
        if (end == p) {
            return;
        }
        p = end;
        uint64_t modseq = strtoull(p, &end, 10);
        if (end == p) {
            return;
        }
        p = end;
        l->fn(l->ctx, coll, modseq);
    }
}

/* Reads the results of the query sent last until it is done. true when each succeeded. */
static bool read_results(struct store_pg_listener *l, PGconn *c, bool *stop)
{
    bool ok = true;
    for (;;) {
        while (PQisBusy(c)) {
            int r = wait_fd(l, PQsocket(c), POLLIN, LISTEN_CONNECT_TIMEOUT_MS);
            if (r <= 0) {
                *stop = r < 0;
                return false;
            }
            if (!PQconsumeInput(c)) {
                return false;
            }
        }
        PGresult *res = PQgetResult(c);
        if (!res) {
            return ok;
        }
        ok = ok && PQresultStatus(res) == PGRES_COMMAND_OK;
        PQclear(res);
    }
}

/* libpq's notices and asynchronous errors on the listener's connection ("terminating
 * connection due to administrator command"), which it would print on stderr: to the log at
 * debug level (the loss itself is logged when it is seen). */
static void on_notice(void *arg, const char *msg)
{
    (void)arg;
    log_debug("store listener notice engine=postgresql msg=\"%.*s\"", (int)strcspn(msg, "\n"), msg);
}

/* A connection listening on the channel, or NULL (*stop set when asked to stop meanwhile).
 * Connects without blocking, so that a stop is never held up by an unreachable server. The
 * URI's settings hold, with the application name and TCP keepalives added (a dead peer
 * is noticed in 10 + 3 * 5 s; keepalives do not apply to a Unix socket, where a server
 * that goes away closes it). `quiet`: failures only at debug level (an outage is logged
 * once). */
static PGconn *connect_listen(struct store_pg_listener *l, bool quiet, bool *stop)
{
    static const char *const keys[] = {"dbname",
                                       "application_name",
                                       "keepalives",
                                       "keepalives_idle",
                                       "keepalives_interval",
                                       "keepalives_count",
                                       NULL};
    const char *const values[] = {l->uri, "almanac-listen", "1", "10", "5", "3", NULL};
    PGconn *c = PQconnectStartParams(keys, values, 1 /* dbname is the URI */);
    if (!c) {
        abort(); /* STYLE.md §3.3: allocation failure aborts */
    }
    PQsetNoticeProcessor(c, on_notice, NULL);
    PostgresPollingStatusType st =
        PQstatus(c) == CONNECTION_BAD ? PGRES_POLLING_FAILED : PGRES_POLLING_WRITING;
    while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
        int r = wait_fd(l, PQsocket(c), st == PGRES_POLLING_READING ? POLLIN : POLLOUT,
                        LISTEN_CONNECT_TIMEOUT_MS);
        if (r <= 0) {
            *stop = r < 0;
            st = PGRES_POLLING_FAILED;
            break;
        }
        st = PQconnectPoll(c);
    }
    bool ok = st == PGRES_POLLING_OK && PQsendQuery(c, "LISTEN " STORE_PG_CHANNEL) &&
              read_results(l, c, stop);
    if (!ok) {
        if (!*stop) {
            const char *msg = PQerrorMessage(c);
            size_t n = strcspn(msg, "\n");
            if (quiet) {
                log_debug("store listener cannot connect engine=postgresql msg=\"%.*s\"", (int)n,
                          msg);
            } else {
                log_warn("store listener cannot connect engine=postgresql msg=\"%.*s\"", (int)n,
                         msg);
            }
        }
        PQfinish(c);
        return NULL;
    }
    return c;
}

/* Delivers notifications until the connection is lost (false) or the thread is asked to
 * stop (true). */
static bool serve(struct store_pg_listener *l, PGconn *c)
{
    for (;;) {
        PGnotify *n;
        while ((n = PQnotifies(c)) != NULL) {
            deliver(l, n->extra);
            PQfreemem(n);
        }
        int r = wait_fd(l, PQsocket(c), POLLIN, -1);
        if (r < 0) {
            return true;
        }
        if (!PQconsumeInput(c) || PQstatus(c) != CONNECTION_OK) {
            const char *msg = PQerrorMessage(c);
            log_warn("store listener lost its connection engine=postgresql msg=\"%.*s\"; "
                     "reconnecting",
                     (int)strcspn(msg, "\n"), msg);
            return false;
        }
    }
}

static void *listen_main(void *arg)
{
    struct store_pg_listener *l = arg;
    /* is_deaf: the thread did not listen for a while (its first LISTEN included: the server
     * may already serve when it starts), so notifications may have gone by */
    bool is_deaf = true, has_listened = false, stop = false;
    int retry_ms = 0;
    while (!stop) {
        PGconn *c = connect_listen(l, retry_ms > LISTEN_RETRY_FIRST_MS, &stop);
        if (!c) {
            is_deaf = true;
            retry_ms = retry_ms == 0 ? LISTEN_RETRY_FIRST_MS
                                     : (retry_ms * 2 > LISTEN_RETRY_MAX_MS ? LISTEN_RETRY_MAX_MS
                                                                           : retry_ms * 2);
            if (!stop && wait_fd(l, -1, 0, retry_ms) < 0) {
                stop = true;
            }
            continue;
        }
        retry_ms = 0;
        if (is_deaf) {
            /* notifications sent while away are lost: every waiter looks again (store.h) */
            if (has_listened) {
                log_info("store listener listening again engine=postgresql; waking every "
                         "waiter");
            } else {
                log_debug("store listener listening engine=postgresql channel=" STORE_PG_CHANNEL);
            }
            l->fn(l->ctx, 0, 0);
            is_deaf = false;
            has_listened = true;
        }
        stop = serve(l, c);
        is_deaf = true;
        PQfinish(c);
    }
    return NULL;
}

enum store_rc store_pg_listener_start(
    const char *uri, uint64_t node, store_change_fn *fn, void *ctx, struct store_pg_listener **out)
{
    struct store_pg_listener *l = calloc(1, sizeof(*l));
    if (!l) {
        abort();
    }
    l->uri = strdup(uri);
    if (!l->uri) {
        abort();
    }
    l->node = node;
    l->fn = fn;
    l->ctx = ctx;
    if (pipe(l->wake) != 0) {
        log_error("store listener cannot make a pipe msg=\"%s\"", strerror(errno));
        free(l->uri);
        free(l);
        return STORE_IO;
    }
    fcntl(l->wake[0], F_SETFD, FD_CLOEXEC);
    fcntl(l->wake[1], F_SETFD, FD_CLOEXEC);
    if (pthread_create(&l->thread, NULL, listen_main, l) != 0) {
        log_error("store listener cannot start its thread");
        close(l->wake[0]);
        close(l->wake[1]);
        free(l->uri);
        free(l);
        return STORE_IO;
    }
    *out = l;
    return STORE_OK;
}

void store_pg_listener_stop(struct store_pg_listener **lp)
{
    struct store_pg_listener *l = *lp;
    if (!l) {
        return;
    }
    char b = 0;
    while (write(l->wake[1], &b, 1) < 0 && errno == EINTR) {
    }
    pthread_join(l->thread, NULL);
    close(l->wake[0]);
    close(l->wake[1]);
    sec_memzero(l->uri, strlen(l->uri)); /* it may carry a password */
    free(l->uri);
    free(l);
    *lp = NULL;
}
