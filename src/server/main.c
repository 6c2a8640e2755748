/* server/main.c: almanacd. Reads the configuration (file, then flags), opens the store pool,
 * wires the routes to the HTTP daemon and waits for signals: SIGTERM/SIGINT drain in-flight
 * requests and exit 0 within shutdown_grace (plus a margin) even when a worker never returns
 * (the shutdown watchdog), SIGHUP re-reads the configuration file (log level; other keys
 * apply at the next start) and forgets cached credentials; between signals it prunes old
 * tombstones (tombstone_max_age, every prune_interval). */
#include <errno.h>
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
#include "server/config.h"
#include "store/store.h"
#include "util/log.h"
#include "util/sec.h"
#include "util/timeutil.h"
#include "web/web.h"

struct server_opts {
    const char *config_path;
    const char *port_file;
    bool print_config;
};

static void usage(FILE *f)
{
    fputs("usage: almanacd [--listen ADDR:PORT] [--data DIR] [--config FILE] [--workers N]\n"
          "                [--port-file FILE] [--log-level LEVEL] [--print-config]\n"
          "Serves WebDAV/CalDAV over the store in DIR. See docs/config.md for every key.\n",
          f);
}

/* Flags override the file; each flag is a config key. Returns 0, 1 to exit 0, -1 on error. */
static int parse_args(int argc, char **argv, struct config *cfg, struct server_opts *o)
{
    static const struct {
        const char *flag;
        const char *key;
    } keyed[] = {{"--listen", "listen"},
                 {"--data", "data_dir"},
                 {"--workers", "workers"},
                 {"--log-level", "log_level"}};

    /* The config file comes first so flags override it wherever they appear. */
    for (int i = 1; i < argc - 1; i++) {
        if (strcmp(argv[i], "--config") == 0) {
            o->config_path = argv[i + 1];
        }
    }
    struct err e;
    err_init(&e);
    if (o->config_path && config_load_file(cfg, o->config_path, &e) != 0) {
        fprintf(stderr, "almanacd: %s\n", e.msg);
        return -1;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 1;
        }
        if (strcmp(a, "--print-config") == 0) {
            o->print_config = true;
            continue;
        }
        if (strcmp(a, "--print-config-doc") == 0) {
            config_print_markdown(stdout); /* the table of docs/config.md */
            return 1;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "almanacd: %s needs a value\n", a);
            usage(stderr);
            return -1;
        }
        const char *v = argv[++i];
        if (strcmp(a, "--config") == 0) {
            continue;
        }
        if (strcmp(a, "--port-file") == 0) {
            o->port_file = v;
            continue;
        }
        const char *key = NULL;
        for (size_t k = 0; k < ALM_ARRAY_LEN(keyed); k++) {
            if (strcmp(a, keyed[k].flag) == 0) {
                key = keyed[k].key;
            }
        }
        if (!key) {
            fprintf(stderr, "almanacd: unknown option %s\n", a);
            usage(stderr);
            return -1;
        }
        if (config_set(cfg, key, v, &e) != 0) {
            fprintf(stderr, "almanacd: %s: %s\n", a, e.msg);
            return -1;
        }
    }
    return 0;
}

/* Basic credentials against the store (argon2id); the HTTP layer caches successes with the
 * credential generation read in the same transaction as the hash (http_auth_fn). */
static int check_password(void *ctx, const char *user, const char *password, uint64_t *gen_out)
{
    struct store_pool *pool = ctx;
    struct store *s = store_pool_acquire(pool);
    if (!s) {
        return 1; /* cannot check now: 503, not a failed login */
    }
    struct arena *a = arena_create();
    struct store_principal p;
    int ok = -1;
    if (store_begin_read(s) == STORE_OK) {
        if (store_principal_get(s, user, a, &p) == STORE_OK && p.pwhash) {
            ok = sec_pwhash_verify(p.pwhash, password, strlen(password));
            *gen_out = p.cred_gen;
        }
        store_rollback(s);
    }
    store_pool_release(pool, s);
    arena_destroy(&a);
    return ok;
}

/* The credential generation of a cached credential's user: one indexed read, so a password
 * changed or a user deleted by `almanac user passwd/del` is refused at the next request. */
static int check_cred_gen(void *ctx, const char *user, uint64_t *gen_out)
{
    struct store_pool *pool = ctx;
    struct store *s = store_pool_acquire(pool);
    if (!s) {
        return -1; /* a cache miss: the full check then answers 503 */
    }
    int ok = -1;
    if (store_begin_read(s) == STORE_OK) {
        ok = store_principal_cred_gen(s, user, gen_out) == STORE_OK ? 0 : -1;
        store_rollback(s);
    }
    store_pool_release(pool, s);
    return ok;
}

static int write_port_file(const char *path, uint16_t port)
{
    char tmp[1024];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
        return -1;
    }
    FILE *f = fopen(tmp, "w");
    if (!f) {
        return -1;
    }
    fprintf(f, "%u\n", (unsigned)port);
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
    if (rc != STORE_OK) {
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

static int serve(const struct server_opts *o, struct config *cfg)
{
    if (mkdir(cfg->data_dir, 0700) != 0 && errno != EEXIST) {
        log_error("cannot create data dir=%s errno=%d", cfg->data_dir, errno);
        return 1;
    }
    /* Open once up front: migrations run here, and a bad store fails the start, not a request. */
    struct store *probe = NULL;
    const char *msg = NULL;
    if (store_open(cfg->data_dir, &probe, &msg) != STORE_OK) {
        log_error("cannot open store dir=%s msg=\"%s\"", cfg->data_dir, msg ? msg : "");
        return 1;
    }
    store_close(&probe);
    struct store_pool *pool = NULL;
    /* One store connection per HTTP connection at most (opened lazily), and one for the
     * pruning job: a request never waits for a connection that only another request whose
     * answer is still streaming could give back (with fewer, max_connections slow readers
     * of long multistatus answers would stall every worker thread in store_pool_acquire). */
    if (store_pool_create(cfg->data_dir, cfg->max_connections + 1, &pool) != STORE_OK) {
        log_error("cannot create store pool dir=%s", cfg->data_dir);
        return 1;
    }
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
    struct web_app web = {
        .cfg = {.max_import_size = cfg->max_import_size,
                .max_object = cfg->max_resource_size,
                .mail_domain = cfg->eas_mail_domain,
                .object_budget_us = (int64_t)cfg->request_time_budget * 1000000},
        .pool = pool,
    };
    /* Clients hard-code the ActiveSync path; some lower-case it. */
    struct http_route routes[] = {dav_route("/", &dav),
                                  caldav_wellknown_route(),
                                  caldav_subscribe_route(&dav),
                                  web_route(&web),
                                  eas_route("/Microsoft-Server-ActiveSync", eas),
                                  eas_route("/microsoft-server-activesync", eas)};
    struct http_config hc = {
        .listen = cfg->listen,
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
        log_error("cannot start listen=%s msg=\"%s\"", cfg->listen, e.msg);
        store_pool_set_change_hook(pool, NULL, NULL);
        eas_app_destroy(&eas);
        store_pool_destroy(&pool);
        return 1;
    }
    log_info("listening addr=%s port=%u data=%s workers=%u", cfg->listen,
             (unsigned)http_server_port(srv), cfg->data_dir, cfg->workers);
    if (o->port_file && write_port_file(o->port_file, http_server_port(srv)) != 0) {
        log_error("cannot write port file=%s", o->port_file);
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
    apply_log_level(&cfg);
    cal_init();
    cal_set_max_tz_transitions(cfg.max_tz_transitions);
    rc = serve(&o, &cfg);
    cal_shutdown();
    return rc;
}
