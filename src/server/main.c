/* server/main.c: almanacd. Reads the configuration (file, then flags), opens the store pool,
 * wires the routes to the HTTP daemon and waits for signals: SIGTERM/SIGINT drain in-flight
 * requests and exit 0 within shutdown_grace (plus a margin) even when a worker never returns
 * (the shutdown watchdog), SIGHUP re-reads the configuration file (log level; other keys
 * apply at the next start), the TLS certificate and key, and forgets cached credentials;
 * between signals it prunes old tombstones (tombstone_max_age, every prune_interval). It also
 * feeds /healthz (a store read) and /metrics (store pool and ActiveSync) to the HTTP layer. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cal/cal.h"
#include "caldav/caldav.h"
#include "dav/dav.h"
#include "eas/eas.h"
#include "http/http.h"
#include "repl/repl.h"
#include "sched/sched.h"
#include "server/config.h"
#include "server/faults.h"
#include "server/imip_send.h"
#include "server/notify.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/sec.h"
#include "util/timeutil.h"
#include "web/web.h"

struct server_opts {
    const char *config_path;
    const char *port_file;
    bool print_config;
    enum config_store_kind store_kind; /* set once the configuration is read */
};

static const char usage_text[] =
    "usage: almanacd [OPTIONS]\n"
    "Serves CalDAV, WebDAV, Exchange-style replication and ActiveSync over the store in the\n"
    "data directory, in the foreground (systemd: Type=notify; logs on stderr).\n"
    "  -c, --config FILE     read the configuration file first; the options below override it\n"
    "  -l, --listen ADDR:PORT  address to serve on (listen; default 127.0.0.1:8008)\n"
    "  -d, --data DIR        the store's directory (data_dir; default ./data); it must hold a\n"
    "                        store: `almanac --data DIR init` or `user add` makes one\n"
    "  -s, --store URI       where the store is (store): sqlite:DIR (as --data DIR) or a\n"
    "                        postgresql://USER@HOST:PORT/DB URI (libpq; the database must\n"
    "                        exist; the schema is made or migrated at start)\n"
    "  -w, --workers N       worker threads (workers)\n"
    "      --log-level LEVEL error, warn, info or debug (log_level)\n"
    "      --port-file FILE  write the port served on to FILE once listening\n"
    "      --print-config    print every key's value in force and exit\n"
    "      --print-config-doc  print the table of keys of docs/config.md and exit\n"
    "  -h, --help            this text\n"
    "  -V, --version         the version\n"
    "Signals: SIGTERM/SIGINT stop after in-flight requests (shutdown_grace); SIGHUP re-reads\n"
    "the configuration file. Every key: docs/config.md; every error: docs/errors.md.\n";

static void usage(FILE *f)
{
    fputs(usage_text, f);
}

enum server_opt {
    OPT_CONFIG = 'c',
    OPT_LISTEN = 'l',
    OPT_DATA = 'd',
    OPT_STORE = 's',
    OPT_WORKERS = 'w',
    OPT_HELP = 'h',
    OPT_VERSION = 'V',
    OPT_LOG_LEVEL = 256,
    OPT_PORT_FILE,
    OPT_PRINT_CONFIG,
    OPT_PRINT_CONFIG_DOC,
};

static const struct option long_opts[] = {
    {"config", required_argument, NULL, OPT_CONFIG},
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"data", required_argument, NULL, OPT_DATA},
    {"store", required_argument, NULL, OPT_STORE},
    {"workers", required_argument, NULL, OPT_WORKERS},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"port-file", required_argument, NULL, OPT_PORT_FILE},
    {"print-config", no_argument, NULL, OPT_PRINT_CONFIG},
    {"print-config-doc", no_argument, NULL, OPT_PRINT_CONFIG_DOC},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};
static const char short_opts[] = "c:l:d:s:w:hV";

/* The config key an option sets, or NULL. */
static const char *opt_key(int c)
{
    switch (c) {
    case OPT_LISTEN:
        return "listen";
    case OPT_DATA:
        return "data_dir";
    case OPT_STORE:
        return "store";
    case OPT_WORKERS:
        return "workers";
    case OPT_LOG_LEVEL:
        return "log_level";
    default:
        return NULL;
    }
}

/* Flags override the file; each keyed flag is a config key. Two passes of getopt_long: the
 * first finds --config (and answers --help, --version, --print-config-doc, and usage errors),
 * the second applies the other flags over the file's values, wherever they appear. Returns 0,
 * 1 to exit 0, -1 on error (said on stderr). */
static int parse_args(int argc, char **argv, struct config *cfg, struct server_opts *o)
{
    int c;
    bool has_data = false;
    bool has_store = false;
    optind = 1;
    while ((c = getopt_long(argc, argv, short_opts, long_opts, NULL)) != -1) {
        switch (c) {
        case OPT_CONFIG:
            o->config_path = optarg;
            break;
        case OPT_DATA:
            has_data = true;
            break;
        case OPT_STORE:
            has_store = true;
            break;
        case OPT_HELP:
            usage(stdout);
            return 1;
        case OPT_VERSION:
            puts("almanacd " ALMANAC_VERSION);
            return 1;
        case OPT_PRINT_CONFIG_DOC:
            config_print_markdown(stdout); /* the table of docs/config.md */
            return 1;
        case '?': /* getopt_long said what: an unknown option or a missing value */
            usage(stderr);
            return -1;
        default:
            break;
        }
    }
    if (has_data && has_store) {
        fputs("almanacd: --data and --store both name the store; give one\n", stderr);
        usage(stderr);
        return -1;
    }
    if (optind < argc) {
        fprintf(stderr, "almanacd: unexpected argument '%s' (almanacd takes options only)\n",
                argv[optind]);
        usage(stderr);
        return -1;
    }
    struct err e;
    err_init(&e);
    if (o->config_path && config_load_file(cfg, o->config_path, &e) != 0) {
        fprintf(stderr, "almanacd: %s\n", e.msg);
        return -1;
    }
    optind = 1;
    while ((c = getopt_long(argc, argv, short_opts, long_opts, NULL)) != -1) {
        const char *key = opt_key(c);
        if (key && config_set(cfg, key, optarg, &e) != 0) {
            fprintf(stderr, "almanacd: --%s: %s\n", key, e.msg);
            return -1;
        }
        if (c == OPT_DATA) {
            cfg->store[0] =
                '\0'; /* --data DIR is the SQLite shorthand: it overrides the file's store */
        }
        if (c == OPT_PORT_FILE) {
            o->port_file = optarg;
        } else if (c == OPT_PRINT_CONFIG) {
            o->print_config = true;
        }
    }
    return 0;
}

/* almanacd serves a store that exists: a missing one is a mistyped --data or data_dir, or a
 * store not made yet, and creating an empty one would serve nobody. Returns 0 or -1 (said). */
static int check_store_present(const struct config *cfg)
{
    if (store_is_present(cfg->data_dir)) {
        return 0;
    }
    fprintf(stderr,
            "almanacd: no store at %s (create one with `almanac --data %s init` or "
            "`almanac --data %s user add NAME`)\n",
            cfg->data_dir, cfg->data_dir, cfg->data_dir);
    return -1;
}

/* Basic credentials against the store (argon2id); the HTTP layer caches successes with the
 * credential generation read in the same transaction as the hash (http_auth_fn). */
static int check_password(void *ctx, const char *user, const char *password, uint64_t *gen_out)
{
    struct store_pool *pool = ctx;
    struct store *s = store_pool_acquire(pool);
    if (!s) {
        return 2; /* the database cannot be reached now: 503, not a failed login */
    }
    struct arena *a = arena_create();
    struct store_principal p;
    int ok = 1; /* a store that fails cannot check: 503, never a failed login (a 401 makes
                   clients ask for the password again, and the throttle would count it) */
    const char *hash = NULL; /* in `a` */
    enum store_rc rc = store_begin_read(s);
    if (rc == STORE_OK) {
        rc = store_principal_get(s, user, a, &p);
        if (rc == STORE_OK && p.pwhash) {
            hash = p.pwhash;
            *gen_out = p.cred_gen;
        } else if (rc == STORE_OK || rc == STORE_NOTFOUND) {
            ok = -1;
        }
        store_rollback(s);
    }
    if (rc == STORE_UNAVAILABLE) {
        ok = 2; /* the database went away: store-unavailable */
    }
    /* verified after the connection is back: a verification may wait for its turn
     * (sec_pwhash_verify) and must not hold a connection meanwhile */
    store_pool_release(pool, s);
    if (hash) {
        ok = sec_pwhash_verify(hash, password, strlen(password));
    }
    arena_destroy(&a);
    return ok;
}

/* The credential generation of a cached credential's user: one indexed read, so a password
 * changed or a user deleted by `almanac user passwd/del` is refused at the next request. One
 * statement outside a transaction (store.h allows it for this call): on PostgreSQL one round
 * trip, where BEGIN, the read and ROLLBACK took two. */
static int check_cred_gen(void *ctx, const char *user, uint64_t *gen_out)
{
    struct store_pool *pool = ctx;
    struct store *s = store_pool_acquire(pool);
    if (!s) {
        return -1; /* a cache miss: the full check then answers 503 */
    }
    int ok = store_principal_cred_gen(s, user, gen_out) == STORE_OK ? 0 : -1;
    store_pool_release(pool, s);
    return ok;
}

/* What /healthz and /metrics read. */
struct monitor {
    struct store_pool *pool;
    struct eas_app *eas;
};

/* /healthz: the store answers a trivial read (an indexed lookup of a user that need not
 * exist) on a pooled connection. The pool has a connection for every HTTP connection, so
 * the probe never waits for one behind other requests. */
static int health_check(void *ctx)
{
    struct monitor *m = ctx;
    struct store *s = store_pool_acquire(m->pool);
    if (!s) {
        return -1;
    }
    uint64_t gen = 0;
    enum store_rc rc = store_principal_cred_gen(s, "-", &gen); /* one statement, no transaction */
    int ok = rc == STORE_OK || rc == STORE_NOTFOUND ? 0 : -1;
    store_pool_release(m->pool, s);
    return ok;
}

/* One store_timing as a Prometheus histogram `name` (seconds). */
static int
put_timing(struct buf *b, const char *name, const char *help, const struct store_timing *t)
{
    int rc = buf_appendf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (size_t i = 0; i <= STORE_TIMING_BUCKETS; i++) {
        cum += t->buckets[i];
        if (i < STORE_TIMING_BUCKETS) {
            uint64_t us = store_timing_bound_us(i);
            rc |= buf_appendf(b, "%s_bucket{le=\"%llu.%06llu\"} %llu\n", name,
                              (unsigned long long)(us / 1000000),
                              (unsigned long long)(us % 1000000), (unsigned long long)cum);
        } else {
            rc |= buf_appendf(b, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
        }
    }
    rc |= buf_appendf(b, "%s_sum %llu.%06llu\n%s_count %llu\n", name,
                      (unsigned long long)(t->sum_us / 1000000),
                      (unsigned long long)(t->sum_us % 1000000), name, (unsigned long long)cum);
    return rc;
}

/* /metrics beyond the HTTP layer's own: waiting Pings, the store pool, commits, fsyncs. */
static int metrics_extra(void *ctx, struct buf *b)
{
    struct monitor *m = ctx;
    struct store_pool_stats st;
    store_pool_stats(m->pool, &st);
    int rc = buf_appendf(
        b,
        "# HELP almanac_activesync_pings_waiting ActiveSync Ping and Sync long polls waiting "
        "for a change now.\n# TYPE almanac_activesync_pings_waiting gauge\n"
        "almanac_activesync_pings_waiting %u\n"
        "# HELP almanac_store_connections Store connections of the pool, by state.\n"
        "# TYPE almanac_store_connections gauge\n"
        "almanac_store_connections{state=\"max\"} %u\n"
        "almanac_store_connections{state=\"open\"} %u\n"
        "almanac_store_connections{state=\"in_use\"} %u\n"
        "# HELP almanac_store_connection_waiters Threads waiting for a store connection.\n"
        "# TYPE almanac_store_connection_waiters gauge\n"
        "almanac_store_connection_waiters %u\n"
        "# HELP almanac_store_fsync_failed 1 once a log fsync failed: writes fail until a "
        "restart.\n# TYPE almanac_store_fsync_failed gauge\n"
        "almanac_store_fsync_failed %d\n"
        "# HELP almanac_store_connections_lost_total Store connections dropped because the "
        "database server went away (PostgreSQL).\n"
        "# TYPE almanac_store_connections_lost_total counter\n"
        "almanac_store_connections_lost_total %llu\n"
        "# HELP almanac_store_connect_failures_total Store connections that could not be "
        "opened (PostgreSQL unreachable).\n"
        "# TYPE almanac_store_connect_failures_total counter\n"
        "almanac_store_connect_failures_total %llu\n"
        "# HELP almanac_store_write_page_reads_total Pages write transactions read past their "
        "connection's cache (SQLite).\n"
        "# TYPE almanac_store_write_page_reads_total counter\n"
        "almanac_store_write_page_reads_total %llu\n",
        eas_app_waiting(m->eas), st.max, st.open, st.in_use, st.waiting, st.is_poisoned ? 1 : 0,
        (unsigned long long)st.lost, (unsigned long long)st.open_failed,
        (unsigned long long)st.write_page_reads);
    rc |= put_timing(b, "almanac_store_commit_duration_seconds",
                     "Write transactions from COMMIT until durable (group commit wait included).",
                     &st.commit);
    rc |= put_timing(b, "almanac_store_fsync_duration_seconds",
                     "Write-ahead log fsyncs; one covers every commit waiting for it.", &st.fsync);
    return rc == 0 ? 0 : -1;
}

static int write_port_file(const char *path, uint16_t port, uint16_t tls_port)
{
    char tmp[1024];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
        return -1;
    }
    FILE *f = fopen(tmp, "w");
    if (!f) {
        return -1;
    }
    /* The plain port (0 when there is none), then the HTTPS port when there is one. */
    fprintf(f, "%u\n", (unsigned)port);
    if (tls_port) {
        fprintf(f, "%u\n", (unsigned)tls_port);
    }
    if (fclose(f) != 0) {
        return -1;
    }
    return rename(tmp, path);
}

static void apply_log_level(const struct config *cfg)
{
    enum log_level lvl = LOG_INFO;
    if (log_level_parse(cfg->log_level, &lvl) == 0) {
        log_set_level(lvl);
    }
}

static void reload(const struct server_opts *o, struct config *cfg, struct http_server *srv)
{
    http_server_flush_auth(srv);
    /* Certificates first: a renewal (certbot's deploy hook) needs nothing else. */
    char desc[512];
    struct err te;
    err_init(&te);
    if (http_server_reload_tls(srv, &te) != 0) {
        log_error("reload tls failed msg=\"%s\" note=\"the previous certificate is still "
                  "served\"",
                  te.msg);
    } else if (cfg->tls_listen[0]) {
        http_server_tls_describe(srv, desc, sizeof(desc));
        log_info("reload tls cert=%s %s", cfg->tls_cert, desc);
    }
    if (!o->config_path) {
        log_info("reload config=- auth_cache=flushed");
        return;
    }
    struct config next;
    config_defaults(&next);
    struct err e;
    err_init(&e);
    if (config_load_file(&next, o->config_path, &e) != 0) {
        log_error("reload failed config=%s msg=\"%s\"", o->config_path, e.msg);
        return;
    }
    snprintf(cfg->log_level, sizeof(cfg->log_level), "%s", next.log_level);
    apply_log_level(cfg);
    log_info("reload config=%s auth_cache=flushed note=\"log_level applied; other keys apply "
             "at restart\"",
             o->config_path);
}

static int64_t mono_ms(void)
{
    return time_mono_us() / 1000;
}

/* The change log's housekeeping: drops tombstones older than tombstone_max_age in every
 * collection (store_prune_all_tombstones), on the main thread between signals, with a pooled
 * connection. A failure is logged and retried at the next run. */
static void prune_history(const struct config *cfg, struct store_pool *pool)
{
    if (cfg->tombstone_max_age == 0) {
        return;
    }
    struct store *s = store_pool_acquire(pool);
    if (!s) {
        log_warn("prune skipped msg=\"no store connection\"");
        return;
    }
    size_t n = 0;
    int64_t t0 = mono_ms();
    enum store_rc rc =
        store_prune_all_tombstones(s, time_now() - (int64_t)cfg->tombstone_max_age, &n);
    if (rc == STORE_BUSY) {
        /* on PostgreSQL, another node holds the pruning lock: its run does this one's work */
        log_info("prune skipped msg=\"%s\"", store_last_error(s));
    } else if (rc != STORE_OK) {
        log_error("prune failed rc=%d msg=\"%s\"", (int)rc, store_last_error(s));
    } else {
        log_info("prune collections=%zu max_age=%u ms=%lld", n, cfg->tombstone_max_age,
                 (long long)(mono_ms() - t0));
    }
    store_pool_release(pool, s);
}

enum {
    SHUTDOWN_MARGIN_MS = 1000, /* past shutdown_grace, for the orderly part of the stop
                                  (closing connections, joining idle workers, closing the
                                  store) before the watchdog gives up on it */
};

/* The shutdown watchdog. MHD_stop_daemon() joins the worker threads, so a handler that never
 * returns (issue 18: libical expanding an unbounded rule) would keep the daemon from ever
 * exiting after SIGTERM. The watchdog starts when the shutdown signal arrives; if the orderly
 * stop has not finished shutdown_grace + SHUTDOWN_MARGIN_MS later, it logs one line and ends
 * the process with _exit(0), without waiting for the busy workers.
 *
 * Why that is safe: a write is acknowledged only after store_commit() returned, and a commit
 * that returned is on disk (store_sqlite.c, "Durability"). What a busy worker has not
 * committed is not acknowledged: with SQLite in WAL mode, frames without a commit mark are
 * ignored when the next process opens the database, and the locks die with the process;
 * PostgreSQL rolls back the transaction of a connection that went away. A client whose request
 * was cut off sees its connection close before a complete answer (a Content-Length or chunked
 * body that ends early), never a truncated answer that looks whole. _exit() skips atexit
 * handlers and stdio flushing; the log line is written and flushed before it (log_write). */
struct shutdown_watch {
    pthread_mutex_t lock;
    pthread_cond_t cond;      /* signalled when the orderly stop has finished */
    bool is_done;             /* the orderly stop finished: the watchdog returns quietly */
    struct timespec deadline; /* CLOCK_MONOTONIC */
    unsigned grace;           /* shutdown_grace in seconds, for the log line */
    atomic_uint inflight;     /* requests running, as the main thread last counted them */
    pthread_t thread;
};

static void *shutdown_watch_run(void *p)
{
    struct shutdown_watch *w = p;
    int rc = 0;
    pthread_mutex_lock(&w->lock);
    while (!w->is_done && rc != ETIMEDOUT) {
        rc = pthread_cond_timedwait(&w->cond, &w->lock, &w->deadline);
    }
    bool is_expired = !w->is_done;
    pthread_mutex_unlock(&w->lock);
    if (is_expired) {
        log_error("shutdown grace=%us expired inflight=%u: exiting without waiting for busy "
                  "workers",
                  w->grace, atomic_load(&w->inflight));
        _exit(0);
    }
    return NULL;
}

/* Arms the watchdog `grace` seconds (plus the margin) from now. Returns 0, or -1 when the
 * thread cannot start (the stop then proceeds unguarded, as before the watchdog existed). */
static int shutdown_watch_start(struct shutdown_watch *w, unsigned grace, unsigned inflight)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&w->lock, NULL);
    w->is_done = false;
    w->grace = grace;
    atomic_init(&w->inflight, inflight);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t ms = (int64_t)grace * 1000 + SHUTDOWN_MARGIN_MS;
    int64_t ns = (int64_t)now.tv_nsec + (ms % 1000) * 1000000;
    w->deadline.tv_sec = now.tv_sec + (time_t)(ms / 1000 + ns / 1000000000);
    w->deadline.tv_nsec = (long)(ns % 1000000000);
    if (pthread_create(&w->thread, NULL, shutdown_watch_run, w) != 0) {
        log_error("cannot start the shutdown watchdog");
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->lock);
        return -1;
    }
    return 0;
}

/* The orderly stop finished in time: the watchdog returns, and is joined. */
static void shutdown_watch_finish(struct shutdown_watch *w)
{
    pthread_mutex_lock(&w->lock);
    w->is_done = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
}

/* The first line of `path` into `out` (size `n`), its line end dropped. 0, or -1 (logged). */
static int read_secret_file(const char *path, char *out, size_t n)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        log_error("cannot read imip_smtp_password_file=%s errno=%d", path, errno);
        return -1;
    }
    bool ok = fgets(out, (int)n, f) != NULL;
    fclose(f);
    if (!ok) {
        log_error("imip_smtp_password_file=%s is empty", path);
        return -1;
    }
    out[strcspn(out, "\r\n")] = '\0';
    return 0;
}

/* Starts the iMIP sender when imip_from and imip_smtp_host are set (docs/scheduling.md
 * "iMIP"); *out stays NULL otherwise. 0, or -1 (logged) on a bad setting. */
static int start_imip(const struct config *cfg, struct store_pool *pool, struct imip_sender **out)
{
    *out = NULL;
    enum imip_starttls tls;
    if (imip_starttls_parse(cfg->imip_smtp_starttls, &tls) != 0) {
        log_error("imip_smtp_starttls=%s is not required, optional or off",
                  cfg->imip_smtp_starttls);
        return -1;
    }
    if (!cfg->imip_from[0] || !cfg->imip_smtp_host[0]) {
        if (cfg->imip_from[0]) {
            log_warn("imip_from is set but imip_smtp_host is not: messages stay queued");
        }
        return 0;
    }
    if (!strchr(cfg->imip_from, '@')) {
        log_error("imip_from=%s is not an address (name@domain)", cfg->imip_from);
        return -1;
    }
    char password[512] = "";
    if (cfg->imip_smtp_password_file[0] &&
        read_secret_file(cfg->imip_smtp_password_file, password, sizeof(password)) != 0) {
        return -1;
    }
    struct imip_send_config ic = {
        .host = cfg->imip_smtp_host,
        .port = cfg->imip_smtp_port,
        .starttls = tls,
        .cafile = cfg->imip_smtp_cafile,
        .user = cfg->imip_smtp_user,
        .password = password,
        .from = cfg->imip_from,
        .retry_base = cfg->imip_retry_base,
        .retry_max = cfg->imip_retry_max,
        .max_age = cfg->imip_max_age,
        .timeout = cfg->imip_smtp_timeout,
    };
    struct err e;
    err_init(&e);
    int rc = imip_sender_start(&ic, pool, out, &e);
    sec_memzero(password, sizeof(password));
    if (rc != 0) {
        log_error("%s", e.msg);
        return -1;
    }
    log_info("imip relay=%s port=%u starttls=%s from=%s", cfg->imip_smtp_host, cfg->imip_smtp_port,
             cfg->imip_smtp_starttls, cfg->imip_from);
    return 0;
}

static int serve(const struct server_opts *o, struct config *cfg)
{
    /* Where the store is: a libpq URI, or the SQLite directory (made if missing: its store
     * was checked present); the label is what logs show of it (no password). */
    bool is_pg = o->store_kind == CONFIG_STORE_POSTGRESQL;
    const char *where = is_pg ? cfg->store : cfg->data_dir;
    char label[CONFIG_STR_MAX];
    config_store_label(where, label, sizeof(label));
    if (!is_pg && mkdir(cfg->data_dir, 0700) != 0 && errno != EEXIST) {
        log_error("cannot create data dir=%s errno=%d", cfg->data_dir, errno);
        return 1;
    }
    /* Open once up front: migrations run here, and a bad store fails the start, not a request. */
    struct store *probe = NULL;
    const char *msg = NULL;
    if (store_open(where, &probe, &msg) != STORE_OK) {
        log_error("cannot open store at=%s msg=\"%s\"", label, msg ? msg : "");
        return 1;
    }
    store_close(&probe);
    struct store_pool *pool = NULL;
    /* One store connection per HTTP connection at most (opened lazily), and one for the
     * pruning job: a request never waits for a connection that only another request whose
     * answer is still streaming could give back (with fewer, max_connections slow readers
     * of long multistatus answers would stall every worker thread in store_pool_acquire);
     * and one for the iMIP sender. max_connections is per listener. */
    unsigned listeners = (cfg->listen[0] ? 1u : 0u) + (cfg->tls_listen[0] ? 1u : 0u);
    if (store_pool_create(where, cfg->max_connections * listeners + 2, &pool) != STORE_OK) {
        log_error("cannot create store pool at=%s", label);
        return 1;
    }
    store_pool_set_statement_timeout(pool, cfg->store_statement_timeout * 1000u);
    struct dav_app dav = {
        .pool = pool,
        .limits =
            {
                .xml_max_body = cfg->xml_max_body,
                .xml_max_depth = cfg->xml_max_depth,
                .xml_max_elements = cfg->xml_max_elements,
                .xml_max_text = cfg->xml_max_text,
                .max_resource_size = cfg->max_resource_size,
                .max_dead_props = cfg->max_dead_props,
                .max_multiget_hrefs = cfg->max_multiget_hrefs,
            },
        .ext = {caldav_ext(), repl_ext()},
        .next = 2,
    };
    struct eas_config ec = {
        .protocol_16 = cfg->eas_protocol_16 != 0,
        .provisioning = cfg->eas_provisioning != 0,
        .keep_alive = cfg->eas_keep_alive != 0,
        .ping_min = cfg->eas_ping_min_heartbeat,
        .ping_max = cfg->eas_ping_max_heartbeat,
        .max_folders = cfg->eas_max_folders,
        .max_devices = cfg->eas_max_devices,
        .max_body = cfg->eas_max_body,
        .max_window_bytes = cfg->eas_window_bytes,
        .max_item_bytes = cfg->max_resource_size,
        .mail_domain = cfg->eas_mail_domain,
    };
    struct eas_app *eas = NULL;
    if (eas_app_start(&ec, pool, &eas) != 0) {
        log_error("cannot start the ActiveSync push thread");
        store_pool_destroy(&pool);
        return 1;
    }
    store_pool_set_change_hook(pool, eas_app_change, eas);
    struct imip_sender *imip = NULL;
    if (start_imip(cfg, pool, &imip) != 0) {
        store_pool_set_change_hook(pool, NULL, NULL);
        eas_app_destroy(&eas);
        store_pool_destroy(&pool);
        return 1;
    }
    struct web_app web = {
        .cfg = {.max_import_size = cfg->max_import_size,
                .max_object = cfg->max_resource_size,
                .mail_domain = cfg->eas_mail_domain,
                .object_budget_us = (int64_t)cfg->request_time_budget * 1000000},
        .pool = pool,
    };
    /* Clients hard-code the ActiveSync path; some lower-case it. */
    /* "/exchange" is the same DAV app, routed apart only to label its requests in /metrics. */
    struct http_route routes[] = {dav_route("/", &dav),
                                  dav_route("/exchange", &dav),
                                  caldav_wellknown_route(),
                                  caldav_subscribe_route(&dav),
                                  web_route(&web),
                                  eas_route("/Microsoft-Server-ActiveSync", eas),
                                  eas_route("/microsoft-server-activesync", eas)};
    static const char *const protocols[ALM_ARRAY_LEN(routes)] = {
        "caldav", "exchange", "caldav", "caldav", "web", "activesync", "activesync"};
    for (size_t i = 0; i < ALM_ARRAY_LEN(routes); i++) {
        routes[i].protocol = protocols[i];
    }
    struct monitor mon = {.pool = pool, .eas = eas};
    /* tests only: store faults armed per request (server/faults.h) */
    if (server_faults_init() != 0 ||
        server_faults_wrap_routes(routes, ALM_ARRAY_LEN(routes)) != 0) {
        imip_sender_destroy(&imip);
        store_pool_set_change_hook(pool, NULL, NULL);
        eas_app_destroy(&eas);
        store_pool_destroy(&pool);
        return 1;
    }
    struct http_config hc = {
        .listen = cfg->listen,
        .tls_listen = cfg->tls_listen,
        .tls_cert = cfg->tls_cert,
        .tls_key = cfg->tls_key,
        .trusted_proxies = cfg->trusted_proxies,
        .metrics_allow = cfg->metrics_allow,
        .metrics_token = cfg->metrics_token,
        .health = health_check,
        .metrics = metrics_extra,
        .hook_ctx = &mon,
        .workers = cfg->workers,
        .max_connections = cfg->max_connections,
        .per_ip_connections = cfg->per_ip_connections,
        .idle_timeout = cfg->idle_timeout,
        .header_timeout = cfg->header_timeout,
        .min_body_rate = cfg->min_body_rate,
        .body_rate_window = cfg->body_rate_window,
        .max_header_bytes = cfg->max_header_bytes,
        .max_path_bytes = cfg->max_path_bytes,
        .auth_cache_ttl = cfg->auth_cache_ttl,
        .auth_fail_window = cfg->auth_fail_window,
        .auth_fail_addr_limit = cfg->auth_fail_addr_limit,
        .auth_fail_user_limit = cfg->auth_fail_user_limit,
        .auth_fail_max_delay = cfg->auth_fail_max_delay,
        .request_time_budget = cfg->request_time_budget,
        .realm = cfg->realm,
        .authenticate = check_password,
        .auth_gen = check_cred_gen,
        .auth_ctx = pool,
    };
    struct http_server *srv = NULL;
    struct err e;
    err_init(&e);
    if (http_server_start(&hc, routes, ALM_ARRAY_LEN(routes), &srv, &e) != 0) {
        log_error("cannot start listen=%s tls_listen=%s msg=\"%s\"", cfg->listen, cfg->tls_listen,
                  e.msg);
        imip_sender_destroy(&imip);
        store_pool_set_change_hook(pool, NULL, NULL);
        eas_app_destroy(&eas);
        store_pool_destroy(&pool);
        return 1;
    }
    if (cfg->listen[0]) {
        log_info("listening addr=%s port=%u store=%s workers=%u", cfg->listen,
                 (unsigned)http_server_port(srv), label, cfg->workers);
    }
    if (cfg->tls_listen[0]) {
        char desc[512];
        http_server_tls_describe(srv, desc, sizeof(desc));
        log_info("listening tls addr=%s port=%u cert=%s %s", cfg->tls_listen,
                 (unsigned)http_server_tls_port(srv), cfg->tls_cert, desc);
    }
    if (o->port_file &&
        write_port_file(o->port_file, http_server_port(srv), http_server_tls_port(srv)) != 0) {
        log_error("cannot write port file=%s", o->port_file);
    }
    if (notify_send("READY=1\nSTATUS=serving") < 0) { /* systemd Type=notify readiness */
        log_warn("cannot notify the service manager msg=\"%s\"", strerror(errno));
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    int64_t next_prune = mono_ms();
    for (;;) {
        int64_t now = mono_ms();
        if (now >= next_prune) {
            prune_history(cfg, pool);
            now = mono_ms();
            next_prune = now + (int64_t)cfg->prune_interval * 1000;
        }
        int64_t wait = next_prune - now;
        struct timespec ts = {(time_t)(wait / 1000), (long)(wait % 1000) * 1000000L};
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig < 0) {
            continue; /* the timeout (EAGAIN) or EINTR */
        }
        if (sig == SIGHUP) {
            reload(o, cfg, srv);
            continue;
        }
        log_info("shutdown signal=%d inflight=%u", sig, http_server_connections(srv));
        notify_send("STOPPING=1");
        break;
    }
    struct shutdown_watch watch;
    bool is_watched =
        shutdown_watch_start(&watch, cfg->shutdown_grace, http_server_connections(srv)) == 0;
    eas_app_stop(eas); /* waiting Pings answer now, so the drain does not wait for them */
    unsigned busy = http_server_drain(srv, cfg->shutdown_grace * 1000);
    if (is_watched) {
        atomic_store(&watch.inflight, busy);
    }
    http_server_stop(&srv, 0); /* joins the workers: blocks while a handler is still busy */
    imip_sender_destroy(&imip);
    store_pool_set_change_hook(pool, NULL, NULL);
    eas_app_destroy(&eas);
    store_pool_destroy(&pool);
    if (is_watched) {
        shutdown_watch_finish(&watch);
    }
    log_info("stopped");
    return 0;
}

int main(int argc, char **argv)
{
    log_init(stderr, LOG_INFO);
    if (sec_init() != 0) {
        fputs("almanacd: libsodium failed to initialise\n", stderr);
        return 1;
    }
    /* Signals are taken by sigwait() in this thread only: block them before threads exist. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct config cfg;
    config_defaults(&cfg);
    struct server_opts o = {0};
    int rc = parse_args(argc, argv, &cfg, &o);
    if (rc != 0) {
        return rc > 0 ? 0 : 2;
    }
    if (o.print_config) {
        config_print(&cfg, stdout);
        return 0;
    }
    enum config_store_kind kind;
    struct err e;
    err_init(&e);
    if (config_store(&cfg, &kind, &e) != 0) {
        fprintf(stderr, "almanacd: %s\n", e.msg);
        return 2;
    }
    o.store_kind = kind;
    if (kind == CONFIG_STORE_SQLITE && check_store_present(&cfg) != 0) {
        return 1;
    }
    apply_log_level(&cfg);
    cal_init();
    cal_set_max_tz_transitions(cfg.max_tz_transitions);
    sched_configure(&(struct sched_config){.mail_domain = cfg.mail_domain,
                                           .max_attendees = cfg.sched_max_attendees,
                                           .default_calendar_name = cfg.sched_default_calendar,
                                           .imip_from = cfg.imip_from});
    rc = serve(&o, &cfg);
    cal_shutdown();
    return rc;
}
