/* http/http.c: the libmicrohttpd daemon and the request life cycle (see http.h). Owns MHD's
 * access handler and completion callback, Basic authentication with its credential cache,
 * routing and the access log, and the framing MHD leaves to its user: which
 * Transfer-Encodings are taken, how a failure during an upload is answered, and how slow
 * clients are cut off (a body below min_body_rate here; headers past header_timeout and idle
 * connections crowding out new ones in http/watch.c). Never parses a body or writes XML. */
#include "http/http.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "http/addr.h"
#include "http/auth_throttle.h"
#include "http/http_int.h"
#include "http/metrics.h"
#include "http/tls.h"
#include "http/watch.h"
#include "util/buf.h"
#include "util/deadline.h"
#include "util/log.h"
#include "util/parse.h"
#include "util/sec.h"
#include "util/timeutil.h"

#define ERR_COND(sym, name, ns, http, eas) ERR_COND_DEFINE(sym, name, ns, http, eas)
#include "http/conds.def"
#undef ERR_COND

enum {
    AUTH_CACHE_SLOTS = 1024,  /* verified credentials remembered (power of two) */
    AUTH_MAX_HEADER = 1024,   /* bytes of an Authorization header we decode */
    STREAM_BLOCK = 64 * 1024, /* MHD's buffer for a pulled body */
    LOG_FIELDS_LIMIT = 1024,  /* extra key=value bytes on an access line */
    /* A failure while the body arrives is answered once it has ended: MHD cannot queue a
     * response during an upload (microhttpd.h, MHD_AccessHandlerCallback). Past
     * EARLY_ANSWER_AFTER more bytes the answer is written ahead of MHD (early_answer()),
     * so a client that reads while it sends stops; past DISCARD_LIMIT the connection is
     * closed, as nginx's lingering close does after its lingering_time. */
    EARLY_ANSWER_AFTER = 1 << 20,
    DISCARD_LIMIT = 64 << 20,
    IGNORED_BODY_MAX = 64 * 1024, /* body bytes a route without a body hook reads */
    EARLY_ANSWER_MAX = 16 * 1024, /* bytes of an early answer: one write into the socket */
    /* Idle connections are closed, oldest first, while fewer than max_connections / 64
     * (at least one) are free (http/watch.h): 16 of the default 1024 keep room for the
     * clients that arrive in one watchdog tick. */
    IDLE_RESERVE_DIVISOR = 64,
    METRICS_MAX = 1 << 20, /* bytes of a /metrics answer */
    XFF_MAX = 2048,        /* bytes of X-Forwarded-For read (the right-most hops matter) */
    HTTP_PAGE = 4096,      /* the connection pool's rounding (listener_start) */
};

struct auth_slot {
    uint8_t key[32]; /* keyed BLAKE2b of "user\0password" */
    int64_t expires; /* unix seconds; 0 = empty */
    uint64_t gen;    /* the user's credential generation when the password was verified */
};

/* One listening daemon: plain HTTP or HTTPS. */
struct listener {
    struct http_server *srv; /* the callbacks' closure is the listener */
    bool is_tls;
    struct MHD_Daemon *daemon; /* NULL: not configured */
    uint16_t port;
    MHD_socket listen_sock; /* the listen socket MHD_quiesce_daemon() handed back, closed
                               after MHD_stop_daemon(); MHD_INVALID_SOCKET when none */
};

struct http_server {
    struct listener plain;
    struct listener tls;
    struct http_tls *creds; /* tls's certificate and key, NULL without HTTPS */
    const struct http_route *routes;
    size_t nroutes;
    struct http_config cfg;
    atomic_uint_fast64_t next_id;
    atomic_uint inflight;
    bool is_quiesced; /* http_server_drain() ran: no new connections are accepted */
    pthread_mutex_t auth_lock;
    pthread_mutex_t suspend_lock; /* the suspension flags of every request */
    struct http_watch *watch;     /* header deadlines and room for new clients */
    uint8_t auth_key[32];
    struct auth_slot *auth;
    struct auth_throttle *throttle; /* failed logins per address and user name */
    struct http_addr_list *proxies; /* trusted_proxies */
    struct http_addr_list *metrics_allow;
    uint8_t metrics_token_hash[32]; /* sec_hash(auth_key, metrics_token) when one is set */
    struct http_metrics *metrics;
};

static const char *const method_names[HTTP_M_COUNT] = {
    [HTTP_M_OTHER] = "",
    [HTTP_M_OPTIONS] = "OPTIONS",
    [HTTP_M_GET] = "GET",
    [HTTP_M_HEAD] = "HEAD",
    [HTTP_M_POST] = "POST",
    [HTTP_M_PUT] = "PUT",
    [HTTP_M_DELETE] = "DELETE",
    [HTTP_M_PROPFIND] = "PROPFIND",
    [HTTP_M_PROPPATCH] = "PROPPATCH",
    [HTTP_M_MKCOL] = "MKCOL",
    [HTTP_M_MKCALENDAR] = "MKCALENDAR",
    [HTTP_M_COPY] = "COPY",
    [HTTP_M_MOVE] = "MOVE",
    [HTTP_M_REPORT] = "REPORT",
    [HTTP_M_SEARCH] = "SEARCH",
    [HTTP_M_LOCK] = "LOCK",
    [HTTP_M_UNLOCK] = "UNLOCK",
};

enum http_method http_method_from_name(const char *name)
{
    for (int m = 1; m < HTTP_M_COUNT; m++) {
        if (strcmp(name, method_names[m]) == 0) {
            return (enum http_method)m;
        }
    }
    return HTTP_M_OTHER;
}

/* ---------------------------------------------------------------------------------------- */
/* Authentication */

static size_t auth_slot_of(const uint8_t key[32])
{
    size_t h = 0;
    memcpy(&h, key, sizeof(h));
    return h & (AUTH_CACHE_SLOTS - 1);
}

static void
auth_key_of(const struct http_server *srv, const char *user, const char *password, uint8_t out[32])
{
    struct buf b;
    buf_init(&b, 2 * AUTH_MAX_HEADER);
    if (buf_append_cstr(&b, user) == 0 && buf_putc(&b, '\0') == 0 &&
        buf_append_cstr(&b, password) == 0) {
        sec_hash(srv->auth_key, sizeof(srv->auth_key), b.data, b.len, out);
    } else {
        memset(out, 0, 32);
    }
    buf_deinit(&b);
}

/* True when `key` (auth_key_of) was verified within auth_cache_ttl and the user's credential
 * generation is still the one verified then. The generation is read through the auth_gen
 * hook on every hit, outside the lock: a password changed or a user deleted by another
 * process (the admin CLI) stops matching at the next request, with one indexed store read
 * instead of argon2id. A stale entry is dropped. */
static bool
auth_cache_hit(struct http_server *srv, const char *user, const uint8_t key[32], uint64_t *gen_out)
{
    if (srv->cfg.auth_cache_ttl == 0 || !srv->cfg.auth_gen) {
        return false;
    }
    size_t i = auth_slot_of(key);
    pthread_mutex_lock(&srv->auth_lock);
    bool hit = srv->auth[i].expires > time_now() && memcmp(srv->auth[i].key, key, 32) == 0;
    uint64_t gen = srv->auth[i].gen;
    pthread_mutex_unlock(&srv->auth_lock);
    if (!hit) {
        return false;
    }
    uint64_t now_gen = 0;
    if (srv->cfg.auth_gen(srv->cfg.auth_ctx, user, &now_gen) == 0 && now_gen == gen) {
        *gen_out = gen;
        return true;
    }
    pthread_mutex_lock(&srv->auth_lock);
    if (memcmp(srv->auth[i].key, key, 32) == 0) {
        srv->auth[i].expires = 0;
    }
    pthread_mutex_unlock(&srv->auth_lock);
    return false;
}

static void auth_cache_put(struct http_server *srv, const uint8_t key[32], uint64_t gen)
{
    if (srv->cfg.auth_cache_ttl == 0 || !srv->cfg.auth_gen) {
        return;
    }
    size_t i = auth_slot_of(key);
    pthread_mutex_lock(&srv->auth_lock);
    memcpy(srv->auth[i].key, key, 32);
    srv->auth[i].expires = time_now() + (int64_t)srv->cfg.auth_cache_ttl;
    srv->auth[i].gen = gen;
    pthread_mutex_unlock(&srv->auth_lock);
}

void http_server_flush_auth(struct http_server *srv)
{
    pthread_mutex_lock(&srv->auth_lock);
    memset(srv->auth, 0, sizeof(*srv->auth) * AUTH_CACHE_SLOTS);
    pthread_mutex_unlock(&srv->auth_lock);
}

/* A client's address `sa` (may be NULL) as text ("192.0.2.1", "2001:db8::1"), or "-" when
 * unknown. An IPv4 client of an IPv6 socket is written as IPv4, so it is counted and logged
 * as one address whichever way it came in. */
static void addr_text(const struct sockaddr *sa, char out[INET6_ADDRSTRLEN])
{
    const char *ok = NULL;
    if (sa && sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;
        ok = inet_ntop(AF_INET, &s4->sin_addr, out, INET6_ADDRSTRLEN);
    } else if (sa && sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;
        ok = IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)
                 ? inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], out, INET6_ADDRSTRLEN)
                 : inet_ntop(AF_INET6, &s6->sin6_addr, out, INET6_ADDRSTRLEN);
    }
    if (!ok) {
        memcpy(out, "-", 2);
    }
}

/* Joins the X-Forwarded-For header lines, in order, with ", " (XFF_MAX bytes at most: what
 * does not fit of the left-most hops is dropped, the right-most are the ones believed). */
static enum MHD_Result
xff_collect(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    struct buf *b = cls;
    if (key && value && slice_eq_ci(slice_from_cstr(key), SLICE_LIT("X-Forwarded-For"))) {
        if ((b->len > 0 && buf_append_cstr(b, ", ") != 0) || buf_append_cstr(b, value) != 0) {
            buf_reset(b); /* too long: keep only what follows */
            if (buf_append_cstr(b, value) != 0) {
                buf_reset(b);
            }
        }
    }
    return MHD_YES;
}

/* Sets req->client: the peer's address, or the one a trusted proxy forwarded (addr.h). */
static void client_init(struct http_request *req)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char peer[INET6_ADDRSTRLEN];
    addr_text(ci ? ci->client_addr : NULL, peer);
    if (http_addr_list_is_empty(req->srv->proxies)) {
        memcpy(req->client, peer, sizeof(peer));
        return;
    }
    struct buf xff;
    buf_init(&xff, XFF_MAX);
    (void)MHD_get_connection_values(req->conn, MHD_HEADER_KIND, xff_collect, &xff);
    http_addr_client(req->srv->proxies, peer, xff.len ? buf_cstr(&xff) : NULL, req->client);
    buf_deinit(&xff);
    if (http_addr_list_has(req->srv->proxies, slice_from_cstr(peer))) {
        const char *proto = http_req_header(req, "X-Forwarded-Proto");
        req->is_https = req->is_https || (proto && slice_eq_ci(slice_trim(slice_from_cstr(proto)),
                                                               SLICE_LIT("https")));
    }
}

const char *http_req_client(const struct http_request *req)
{
    return req->client;
}

/* Checks decoded credentials: refuses an attempt the failed-login throttle says must wait
 * (http_cond_auth_throttled, 429 with Retry-After; no password is checked), answers from
 * the credential cache, or asks the authenticate hook. A failure is counted and logged
 * (README "Failed logins" documents the line for fail2ban). Returns 0 with *gen_out set to the
 * user's credential generation, or -1 with err set. */
static int check_credentials(struct http_request *req,
                             const char *user,
                             const char *password,
                             uint64_t *gen_out,
                             struct err *err)
{
    struct http_server *srv = req->srv;
    const char *addr = req->client;
    char clean_user[160];
    log_sanitize(user, strlen(user), clean_user, sizeof(clean_user));
    struct slice a = slice_from_cstr(addr), u = slice_from_cstr(user);
    unsigned wait = auth_throttle_wait(srv->throttle, a, u, time_now());
    if (wait > 0) {
        http_metrics_auth_throttled(srv->metrics);
        log_warn("auth throttled addr=%s user=%s retry_after=%u", addr, clean_user, wait);
        http_resp_error_header(req, MHD_HTTP_HEADER_RETRY_AFTER,
                               arena_printf(req->arena, "%u", wait));
        return err_set(err, &http_cond_auth_throttled, "too many failed logins; retry after %u s",
                       wait);
    }
    uint8_t key[32];
    auth_key_of(srv, user, password, key);
    if (auth_cache_hit(srv, user, key, gen_out)) {
        return 0;
    }
    uint64_t gen = 0;
    /* A user name is text: one that is not UTF-8 names nobody (and PostgreSQL's text would
     * refuse the lookup), so it fails like an unknown user without asking the store. */
    int rc = srv->cfg.authenticate && parse_utf8_ok(u)
                 ? srv->cfg.authenticate(srv->cfg.auth_ctx, user, password, &gen)
                 : -1;
    if (rc == 0) {
        auth_cache_put(srv, key, gen);
        *gen_out = gen;
        return 0;
    }
    if (rc == 2) {
        return err_set(err, &err_cond_store_unavailable,
                       "the store's database cannot be reached to check credentials; retry later");
    }
    if (rc > 0) {
        return err_set(err, &err_cond_unavailable, "cannot check credentials now; retry later");
    }
    auth_throttle_fail(srv->throttle, a, u, time_now());
    http_metrics_auth_failed(srv->metrics);
    log_warn("auth failed addr=%s user=%s", addr, clean_user);
    return err_set(err, &http_cond_unauthenticated, "bad user name or password");
}

/* Decodes "Basic base64(user:password)" and checks it (check_credentials). Returns 0 and
 * sets req->user, or -1 with http_cond_unauthenticated, or http_cond_auth_throttled. */
static int authenticate(struct http_request *req, struct err *err)
{
    const char *h =
        MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h) {
        return err_set(err, &http_cond_unauthenticated, "no credentials");
    }
    struct slice v = slice_trim(slice_from_cstr(h));
    if (v.len < 6 || !slice_eq_ci((struct slice){v.ptr, 6}, SLICE_LIT("Basic "))) {
        return err_set(err, &http_cond_unauthenticated, "only basic authentication is supported");
    }
    v = slice_trim((struct slice){v.ptr + 6, v.len - 6});
    if (v.len > AUTH_MAX_HEADER) {
        return err_set(err, &http_cond_unauthenticated, "credentials too long");
    }
    char *plain = arena_alloc(req->arena, v.len + 1);
    long n = sec_unbase64(v, plain, v.len);
    if (n < 0) {
        return err_set(err, &http_cond_unauthenticated, "malformed basic credentials");
    }
    plain[n] = '\0';
    char *colon = memchr(plain, ':', (size_t)n);
    if (!colon || memchr(plain, '\0', (size_t)n)) {
        return err_set(err, &http_cond_unauthenticated, "malformed basic credentials");
    }
    *colon = '\0';
    const char *user = plain;
    const char *password = colon + 1;
    uint64_t gen = 0;
    int rc = check_credentials(req, user, password, &gen, err);
    if (rc == 0) {
        req->user = arena_strdup(req->arena, user);
    }
    sec_memzero(plain, (size_t)n);
    return rc;
}

int http_verify_password(struct http_request *req,
                         const char *user,
                         const char *password,
                         uint64_t *gen_out,
                         struct err *err)
{
    if (strlen(user) > AUTH_MAX_HEADER || strlen(password) > AUTH_MAX_HEADER) {
        return err_set(err, &http_cond_unauthenticated, "credentials too long");
    }
    uint64_t gen = 0;
    if (check_credentials(req, user, password, &gen, err) != 0) {
        return -1;
    }
    if (gen_out) {
        *gen_out = gen;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Request accessors */

enum http_method http_req_method(const struct http_request *req)
{
    return req->method;
}

const char *http_method_token(enum http_method m)
{
    return m > HTTP_M_OTHER && m < HTTP_M_COUNT ? method_names[m] : NULL;
}

const char *http_req_method_name(const struct http_request *req)
{
    return req->method_name;
}

const char *http_req_path(const struct http_request *req)
{
    return req->path;
}

bool http_req_trailing_slash(const struct http_request *req)
{
    return req->trailing_slash;
}

const char *http_req_header(const struct http_request *req, const char *name)
{
#if ALMANAC_FAULTS
    if (req->test) {
        return http_test_header(req->test, name);
    }
#endif
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *http_req_user(const struct http_request *req)
{
    return req->user;
}

int64_t http_req_content_length(const struct http_request *req)
{
    const char *cl = http_req_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
    uint64_t v;
    if (!cl || parse_u64(slice_trim(slice_from_cstr(cl)), &v) != 0 || v > INT64_MAX) {
        return -1;
    }
    return (int64_t)v;
}

struct arena *http_req_arena(const struct http_request *req)
{
    return req->arena;
}

uint64_t http_req_id(const struct http_request *req)
{
    return req->id;
}

const char *http_req_origin(const struct http_request *req)
{
    const char *host = http_req_header(req, MHD_HTTP_HEADER_HOST);
    /* (an in-process request has no server: it always has a Host, http/http_test.h) */
    if ((!host || !*host || strpbrk(host, " /\\\"<>")) && !req->test) {
        return arena_printf(req->arena, "%s://127.0.0.1:%u", req->is_https ? "https" : "http",
                            (unsigned)(req->is_tls ? req->srv->tls.port : req->srv->plain.port));
    }
    return arena_printf(req->arena, "%s://%s", req->is_https ? "https" : "http", host);
}

static enum MHD_Result
add_query_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    struct buf *b = cls;
    if ((b->len > 0 && buf_putc(b, '&') != 0) || buf_append_cstr(b, key) != 0 ||
        (value && (buf_putc(b, '=') != 0 || buf_append_cstr(b, value) != 0))) {
        return MHD_NO;
    }
    return MHD_YES;
}

const char *http_req_query(const struct http_request *req)
{
    /* MHD splits the query into arguments (kept raw by no_unescape); joining them again
     * gives the string as sent, which protocols with their own encoding need (the base64
     * query of ActiveSync). */
#if ALMANAC_FAULTS
    if (req->test) {
        return http_test_query(req->test);
    }
#endif
    struct buf b;
    buf_init(&b, req->srv->cfg.max_path_bytes);
    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, add_query_arg, &b);
    char *q = arena_strndup(req->arena, b.data ? b.data : "", b.len);
    buf_deinit(&b);
    return q;
}

void http_req_suspend(struct http_request *req)
{
    pthread_mutex_lock(&req->srv->suspend_lock);
    req->want_suspend = true;
    pthread_mutex_unlock(&req->srv->suspend_lock);
}

void http_req_resume(struct http_request *req)
{
    struct http_server *srv = req->srv;
    pthread_mutex_lock(&srv->suspend_lock);
    if (req->suspended) {
        req->suspended = false;
        req->resuming = true;
        MHD_resume_connection(req->conn);
    } else {
        req->resume_pending = true;
    }
    pthread_mutex_unlock(&srv->suspend_lock);
}

/* After end() or resumed() asked to suspend: suspends the connection, unless a resume came
 * first. Returns true when suspended, false when resumed() is due at once. */
static bool suspend_now(struct http_request *req)
{
    struct http_server *srv = req->srv;
    bool done;
    pthread_mutex_lock(&srv->suspend_lock);
    req->want_suspend = false;
    if (req->resume_pending) {
        req->resume_pending = false;
        done = false;
    } else {
        req->suspended = true;
        MHD_suspend_connection(req->conn);
        done = true;
    }
    pthread_mutex_unlock(&srv->suspend_lock);
    return done;
}

void http_req_set_state(struct http_request *req, void *state)
{
    req->state = state;
}

void *http_req_state(const struct http_request *req)
{
    return req->state;
}

void http_req_log_field(struct http_request *req, const char *key, const char *value)
{
    char clean[128];
    log_sanitize(value, strlen(value), clean, sizeof(clean));
    if (buf_appendf(&req->log_fields, " %s=%s", key, clean) != 0) {
        return; /* the access line keeps what fits */
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Response */

void http_resp_status(struct http_request *req, unsigned status)
{
    req->status = status;
}

void http_resp_header(struct http_request *req, const char *name, const char *value)
{
    struct resp_header *h = arena_alloc(req->arena, sizeof(*h));
    h->name = arena_strdup(req->arena, name);
    h->value = arena_strdup(req->arena, value);
    h->next = req->headers;
    req->headers = h;
}

void http_resp_error_header(struct http_request *req, const char *name, const char *value)
{
    struct resp_header *h = arena_alloc(req->arena, sizeof(*h));
    h->name = arena_strdup(req->arena, name);
    h->value = arena_strdup(req->arena, value);
    h->next = req->err_headers;
    req->err_headers = h;
}

void http_resp_body(struct http_request *req, const void *p, size_t n)
{
    req->body = arena_memdup(req->arena, p, n);
    req->body_len = n;
    req->read = NULL;
}

void http_resp_stream(struct http_request *req, http_read_fn *read, void *ctx)
{
    req->read = read;
    req->read_ctx = ctx;
    req->body = NULL;
    req->body_len = 0;
}

/* The time budget of one piece of work for a request (util/deadline.h), in microseconds. */
static int64_t work_budget_us(const struct http_server *srv)
{
    return (int64_t)srv->cfg.request_time_budget * 1000000;
}

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct http_request *req = cls;
    int64_t saved = deadline_start(work_budget_us(req->srv));
    ssize_t n = req->read(req->read_ctx, buf, max);
    bool late = n < 0 && deadline_passed();
    deadline_restore(saved);
    if (n > 0) {
        req->bytes_out += (uint64_t)n;
        return n;
    }
    if (n == 0) {
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    if (late) {
        /* The status line is sent: the only way to say "incomplete" is to cut the stream. */
        log_error("response abandoned req=%llu path=%s: one chunk took longer than "
                  "request_time_budget=%us",
                  (unsigned long long)req->id, req->path, req->srv->cfg.request_time_budget);
    } else {
        log_error("response aborted req=%llu path=%s", (unsigned long long)req->id, req->path);
    }
    return MHD_CONTENT_READER_END_WITH_ERROR;
}

static enum MHD_Result queue_response(struct http_request *req)
{
    struct MHD_Response *r;
    if (req->read) {
        r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK, stream_reader, req,
                                              NULL);
    } else {
        /* The body lives in the request arena, which outlives the response. */
        r = MHD_create_response_from_buffer(req->body_len, (void *)(uintptr_t)req->body,
                                            MHD_RESPMEM_PERSISTENT);
        req->bytes_out = req->body_len;
    }
    if (!r) {
        return MHD_NO;
    }
    for (struct resp_header *h = req->headers; h; h = h->next) {
        MHD_add_response_header(r, h->name, h->value);
    }
    req->queued = true;
    enum MHD_Result rc = MHD_queue_response(req->conn, req->status ? req->status : 200, r);
    MHD_destroy_response(r);
    return rc;
}

void http_set_error_response(struct http_request *req)
{
    const struct err_cond *c = req->err.cond ? req->err.cond : &err_cond_internal;
    req->headers = req->err_headers;
    req->read = NULL;
    req->body = NULL;
    req->body_len = 0;
    req->status = c->http_status;
    if (c->http_status >= 500) {
        log_error("request failed req=%llu path=%s cond=%s msg=\"%s\"", (unsigned long long)req->id,
                  req->path ? req->path : "-", c->name, req->err.msg);
    }
    if (c == &http_cond_unauthenticated) {
        char *v = arena_printf(req->arena, "Basic realm=\"%s\", charset=\"UTF-8\"",
                               req->srv && req->srv->cfg.realm ? req->srv->cfg.realm : "Almanac");
        http_resp_header(req, MHD_HTTP_HEADER_WWW_AUTHENTICATE, v);
    }
    if (req->route && req->route->render_error) {
        req->route->render_error(req->route->app, req, &req->err);
    } else {
        const char *text = arena_printf(req->arena, "%s: %s\n", c->name, req->err.msg);
        http_resp_header(req, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
        http_resp_body(req, text, strlen(text));
    }
}

static enum MHD_Result queue_error(struct http_request *req)
{
    http_set_error_response(req);
    return queue_response(req);
}

/* ---------------------------------------------------------------------------------------- */
/* MHD callbacks */

static const struct http_route *route_for(const struct http_server *srv, const char *path)
{
    const struct http_route *best = NULL;
    size_t best_len = 0;
    struct slice p = slice_from_cstr(path);
    for (size_t i = 0; i < srv->nroutes; i++) {
        struct slice pre = slice_from_cstr(srv->routes[i].prefix);
        if (slice_has_prefix(p, pre) && (!best || pre.len > best_len)) {
            best = &srv->routes[i];
            best_len = pre.len;
        }
    }
    return best;
}

static struct http_request *request_new(struct http_server *srv,
                                        bool is_tls,
                                        struct MHD_Connection *conn,
                                        const char *url,
                                        const char *method)
{
    struct arena *a = arena_create();
    struct http_request *req = arena_zalloc(a, sizeof(*req));
    req->srv = srv;
    req->conn = conn;
    req->arena = a;
    req->id = atomic_fetch_add(&srv->next_id, 1);
    req->method = http_method_from_name(method);
    req->method_name = arena_strdup(a, method);
    req->start_us = time_mono_us();
    req->is_tls = is_tls;
    req->is_https = is_tls;
    client_init(req);
    err_init(&req->err);
    buf_init(&req->log_fields, LOG_FIELDS_LIMIT);
    atomic_fetch_add(&srv->inflight, 1);
    (void)url;
    return req;
}

/* The Transfer-Encoding header lines of a request, joined with ", ". */
struct te_collect {
    struct buf list;
    bool seen;
};

static enum MHD_Result
te_collect_one(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    struct te_collect *t = cls;
    if (key && value && slice_eq_ci(slice_from_cstr(key), SLICE_LIT("Transfer-Encoding"))) {
        int rc = t->seen ? buf_append_cstr(&t->list, ", ") : 0;
        if ((rc | buf_append_cstr(&t->list, value)) != 0) {
            return MHD_NO; /* over the header limit: checked by the caller */
        }
        t->seen = true;
    }
    return MHD_YES;
}

/* RFC 9112 §6.1, §6.3: the only transfer coding understood is chunked, once, and last.
 * Returns 0 when there is no Transfer-Encoding or it is exactly chunked; -1 with
 * http_cond_bad_transfer_encoding (400) when chunked is not the final coding or occurs
 * twice (the body's length cannot be known: §6.3 says 400 and close), or
 * http_cond_unsupported_transfer_coding (501, §6.1) for another coding before a final
 * chunked. Without this, MHD reads a body of unknown coding until the client closes, and
 * the client waits for an answer that never comes. Answered from the first call, so MHD
 * closes the connection after the answer without reading the body. */
static int check_transfer_encoding(struct http_request *req, struct err *err)
{
    struct te_collect t = {.seen = false};
    buf_init(&t.list, req->srv->cfg.max_header_bytes + 1);
    (void)MHD_get_connection_values(req->conn, MHD_HEADER_KIND, te_collect_one, &t);
    struct slice rest = buf_slice(&t.list);
    const char *other = NULL; /* the first coding other than chunked */
    unsigned chunked = 0;
    bool chunked_last = false;
    int rc = 0;
    while (t.seen && rest.len > 0) {
        const char *comma = memchr(rest.ptr, ',', rest.len);
        size_t len = comma ? (size_t)(comma - rest.ptr) : rest.len;
        struct slice item = {rest.ptr, len};
        rest.ptr += comma ? len + 1 : len;
        rest.len -= comma ? len + 1 : len;
        const char *semi = memchr(item.ptr, ';', item.len);
        struct slice name =
            slice_trim((struct slice){item.ptr, semi ? (size_t)(semi - item.ptr) : item.len});
        if (name.len == 0) {
            continue; /* RFC 9110 §5.6.1: empty list elements do not count */
        }
        chunked_last = slice_eq_ci(name, SLICE_LIT("chunked")) && !semi;
        if (chunked_last) {
            chunked++;
        } else if (!other) {
            other = arena_slicedup(req->arena, name);
        }
    }
    const char *first = http_req_header(req, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    if (t.seen && (!chunked_last || chunked != 1)) {
        rc = err_set(err, &http_cond_bad_transfer_encoding,
                     "transfer-encoding must end with chunked, once (rfc 9112 section 6.3)");
    } else if (other) {
        rc = err_set(err, &http_cond_unsupported_transfer_coding,
                     "transfer coding %s is not implemented; only chunked is", other);
    } else if (t.seen && !slice_eq_ci(slice_from_cstr(first), SLICE_LIT("chunked"))) {
        /* a list MHD would not take for chunked (", chunked"): it reads such a body until
         * the connection closes */
        rc = err_set(err, &http_cond_bad_transfer_encoding,
                     "transfer-encoding must be exactly chunked");
    }
    buf_deinit(&t.list);
    return rc;
}

/* An HTTP-date (RFC 9110 §5.6.7) for `t`, in C locale whatever the process's. */
static void http_date(time_t t, char out[32])
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    gmtime_r(&t, &tm);
    int n =
        snprintf(out, 32, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7], tm.tm_mday,
                 months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    assert(n > 0 && n < 32);
    (void)n;
}

/* Writes the error answer of a request whose body is still arriving straight to the socket,
 * ahead of MHD, with Connection: close (see EARLY_ANSWER_AFTER). The route renders it as
 * for queue_error(). True when the whole answer went out in one non-blocking write (the
 * send buffer is empty: MHD reads a request only once the previous answer is sent); false
 * when it could not, and the connection is then simply closed. On the HTTPS listener the
 * socket carries TLS records that only MHD can write, so there the connection is closed. */
static bool early_answer(struct http_request *req)
{
    http_set_error_response(req);
    if (req->is_tls) {
        return false;
    }
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    const char *reason = MHD_get_reason_phrase_for(req->status);
    char date[32];
    http_date(time(NULL), date);
    struct buf b;
    buf_init(&b, EARLY_ANSWER_MAX);
    int rc = buf_appendf(&b, "HTTP/1.1 %u %s\r\nDate: %s\r\nConnection: close\r\n", req->status,
                         reason && *reason ? reason : "Error", date);
    for (struct resp_header *h = req->headers; h; h = h->next) {
        rc |= buf_appendf(&b, "%s: %s\r\n", h->name, h->value);
    }
    size_t body_len = req->read ? 0 : req->body_len;
    rc |= buf_appendf(&b, "Content-Length: %zu\r\n\r\n", body_len);
    rc |= body_len ? buf_append(&b, req->body, body_len) : 0;
    bool sent = false;
    if (rc == 0 && ci) {
        ssize_t n = send(ci->connect_fd, b.data, b.len, MSG_NOSIGNAL | MSG_DONTWAIT);
        sent = n == (ssize_t)b.len;
        req->bytes_out = n > 0 ? (uint64_t)n : 0;
    }
    buf_deinit(&b);
    return sent;
}

/* Whether the headers announce a body: a Content-Length above 0, or a Transfer-Encoding
 * (check_transfer_encoding() lets only chunked through). */
static bool expects_body(const struct http_request *req)
{
    return http_req_content_length(req) > 0 ||
           http_req_header(req, MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL;
}

/* The seconds a connection may stay silent while a body arrives: a body silent for a whole
 * rate window is below any rate, so the window bounds the silence when it is the shorter. */
static unsigned body_silence_limit(const struct http_config *cfg)
{
    return cfg->body_rate_window < cfg->idle_timeout ? cfg->body_rate_window : cfg->idle_timeout;
}

/* Starts the min_body_rate watch once the headers are in, when a body follows: the first
 * window begins, and MHD's silence limit for the connection drops to body_silence_limit()
 * (MHD then ends the connection with TIMEOUT_REACHED and on_completed() answers 408). */
static void body_watch_begin(struct http_request *req)
{
    const struct http_config *cfg = &req->srv->cfg;
    if (cfg->min_body_rate == 0 || !expects_body(req)) {
        return;
    }
    req->in_body = true;
    req->window_start_us = time_mono_us();
    req->window_bytes = 0;
    if (body_silence_limit(cfg) != cfg->idle_timeout) {
        MHD_set_connection_option(req->conn, MHD_CONNECTION_OPTION_TIMEOUT,
                                  body_silence_limit(cfg));
    }
}

/* The body has ended: idle_timeout governs the connection again. */
static void body_watch_end(struct http_request *req)
{
    const struct http_config *cfg = &req->srv->cfg;
    if (!req->in_body) {
        return;
    }
    req->in_body = false;
    if (body_silence_limit(cfg) != cfg->idle_timeout) {
        MHD_set_connection_option(req->conn, MHD_CONNECTION_OPTION_TIMEOUT, cfg->idle_timeout);
    }
}

/* min_body_rate, judged as each chunk of `n` bytes arrives: once the current window is
 * body_rate_window old, the bytes received in it must average min_body_rate, and a new
 * window begins. The first window is the grace of a slow start (TCP's, a phone waking its
 * radio). Returns true, with req->err set to http_cond_body_too_slow unless an earlier
 * failure is already there to be answered, when the body is too slow. */
static bool body_too_slow(struct http_request *req, size_t n)
{
    const struct http_config *cfg = &req->srv->cfg;
    if (!req->in_body) {
        return false;
    }
    req->window_bytes += n;
    int64_t now = time_mono_us();
    int64_t span_ms = (now - req->window_start_us) / 1000;
    if (span_ms < (int64_t)cfg->body_rate_window * 1000) {
        return false;
    }
    /* at most 2^32 B/s times about 2^23 ms (two windows of an hour): no overflow */
    uint64_t need = (uint64_t)cfg->min_body_rate * (uint64_t)span_ms / 1000;
    if (req->window_bytes >= need) {
        req->window_start_us = now;
        req->window_bytes = 0;
        return false;
    }
    err_set(&req->err, &http_cond_body_too_slow,
            "the body arrived at %llu bytes/s over %lld ms, below min_body_rate=%u",
            (unsigned long long)(req->window_bytes * 1000 / (uint64_t)span_ms), (long long)span_ms,
            cfg->min_body_rate);
    return true;
}

/* Answers a request whose body is too slow ahead of MHD (early_answer()), once, and logs
 * the client; the caller then has the connection closed. */
static void answer_slow_body(struct http_request *req)
{
    if (!req->early_answered) {
        req->early_answered = true;
        (void)early_answer(req);
    }
    log_warn("slow client closed addr=%s req=%llu status=%u cond=%s msg=\"%s\"",
             req->wconn ? http_watch_conn_addr(req->wconn) : "-", (unsigned long long)req->id,
             req->status, req->err.cond ? req->err.cond->name : "-", req->err.msg);
}

/* Whether the client may read /metrics (http_config.metrics_allow, metrics_token). Returns
 * 0, or -1 with http_cond_not_found when /metrics is off, http_cond_metrics_forbidden when
 * the address or the token is wrong. */
static int metrics_access(struct http_request *req, struct err *err)
{
    struct http_server *srv = req->srv;
    bool has_token = srv->cfg.metrics_token && *srv->cfg.metrics_token;
    if (!has_token && http_addr_list_is_empty(srv->metrics_allow)) {
        return err_set(err, &http_cond_not_found, "/metrics is off: no metrics_allow, no token");
    }
    if (!http_addr_list_is_empty(srv->metrics_allow) &&
        !http_addr_list_has(srv->metrics_allow, slice_from_cstr(req->client))) {
        return err_set(err, &http_cond_metrics_forbidden, "client %s is not in metrics_allow",
                       req->client);
    }
    if (has_token) {
        const char *h = http_req_header(req, MHD_HTTP_HEADER_AUTHORIZATION);
        struct slice v = slice_trim(slice_from_cstr(h ? h : ""));
        uint8_t got[32];
        bool ok = v.len > 7 && slice_eq_ci((struct slice){v.ptr, 7}, SLICE_LIT("Bearer "));
        if (ok) {
            struct slice tok = slice_trim((struct slice){v.ptr + 7, v.len - 7});
            sec_hash(srv->auth_key, sizeof(srv->auth_key), tok.ptr, tok.len, got);
            ok = memcmp(got, srv->metrics_token_hash, sizeof(got)) == 0;
        }
        if (!ok) {
            return err_set(err, &http_cond_metrics_forbidden,
                           "/metrics needs Authorization: Bearer with metrics_token");
        }
    }
    return 0;
}

/* /healthz and /metrics: checks the method and the access; the answer is built by
 * internal_end() once the (ignored) body is read. Returns 0 or -1 with err set. */
static int internal_begin(struct http_request *req, struct err *err)
{
    if (req->method != HTTP_M_GET && req->method != HTTP_M_HEAD) {
        http_resp_error_header(req, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
        return err_set(err, &http_cond_method_not_allowed, "%s takes GET or HEAD", req->path);
    }
    return req->internal == INTERNAL_METRICS ? metrics_access(req, err) : 0;
}

static int internal_end(struct http_request *req, struct err *err)
{
    struct http_server *srv = req->srv;
    http_resp_header(req, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (req->internal == INTERNAL_HEALTH) {
        if (srv->cfg.health && srv->cfg.health(srv->cfg.hook_ctx) != 0) {
            return err_set(err, &http_cond_health_failed, "the store does not answer");
        }
        http_resp_header(req, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
        http_resp_body(req, "ok\n", 3);
        return 0;
    }
    struct buf b;
    buf_init(&b, METRICS_MAX);
    int rc = http_metrics_render(srv->metrics, &b);
    rc |= buf_appendf(&b,
                      "# HELP almanac_http_requests_in_flight Requests begun and not yet "
                      "answered (suspended ActiveSync Pings included).\n"
                      "# TYPE almanac_http_requests_in_flight gauge\n"
                      "almanac_http_requests_in_flight %u\n",
                      atomic_load(&srv->inflight));
    if (rc == 0 && srv->cfg.metrics) {
        rc = srv->cfg.metrics(srv->cfg.hook_ctx, &b);
    }
    if (rc != 0) {
        buf_deinit(&b);
        return err_set(err, &err_cond_internal, "metrics exceed %d bytes", METRICS_MAX);
    }
    http_resp_header(req, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
    http_resp_body(req, b.data, b.len);
    buf_deinit(&b);
    return 0;
}

/* First call: headers are in. Returns 0 to go on reading the body, -1 when req->err is set. */
static int request_begin(struct http_request *req, const char *url)
{
    struct http_server *srv = req->srv;
    /* Errors before the path is known are rendered by the root route. */
    req->route = route_for(srv, "/");
    if (check_transfer_encoding(req, &req->err) != 0) {
        return -1;
    }
    if (http_path_decode(slice_from_cstr(url), srv->cfg.max_path_bytes, req->arena, &req->path,
                         &req->trailing_slash, &req->err) != 0) {
        return -1;
    }
    if (strcmp(req->path, "/healthz") == 0 || strcmp(req->path, "/metrics") == 0) {
        req->internal = req->path[1] == 'h' ? INTERNAL_HEALTH : INTERNAL_METRICS;
        return internal_begin(req, &req->err);
    }
    req->route = route_for(srv, req->path);
    if (!(req->route && req->route->is_public) && authenticate(req, &req->err) != 0) {
        return -1;
    }
    if (!req->route) {
        return err_set(&req->err, &http_cond_not_found, "no route");
    }
    if (req->route->begin && req->route->begin(req->route->app, req, &req->err) != 0) {
        return -1;
    }
    req->began = true;
    return 0;
}

static enum MHD_Result access_run(struct http_server *srv,
                                  bool is_tls,
                                  struct MHD_Connection *conn,
                                  const char *url,
                                  const char *method,
                                  const char *upload_data,
                                  size_t *upload_data_size,
                                  void **con_cls)
{
    struct http_request *req = *con_cls;
    if (!req) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        struct http_watch_conn *wc = ci ? ci->socket_context : NULL;
        if (wc && !http_watch_request_begin(srv->watch, wc)) {
            return MHD_NO; /* the watchdog answered 408 header-timeout and closed it */
        }
        req = request_new(srv, is_tls, conn, url, method);
        req->wconn = wc;
        *con_cls = req;
        if (request_begin(req, url) != 0) {
            return queue_error(req);
        }
        body_watch_begin(req);
        return MHD_YES;
    }
    if (req->queued) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        req->bytes_in += n;
        *upload_data_size = 0;
        if (body_too_slow(req, n)) {
            answer_slow_body(req);
            return MHD_NO;
        }
        if (req->err.cond) {
            /* Failed already: discard the rest, but not without end (EARLY_ANSWER_AFTER). */
            req->discarded += n;
            if (!req->early_answered && req->discarded > EARLY_ANSWER_AFTER) {
                req->early_answered = true;
                if (!early_answer(req)) {
                    return MHD_NO;
                }
            }
            return req->discarded > DISCARD_LIMIT ? MHD_NO : MHD_YES;
        }
        /* A failure is answered once the upload is read: libmicrohttpd cannot send a
         * response while a request body is still arriving. */
        if (!req->internal && req->route->body) {
            req->route->body(req->route->app, req, upload_data, n, &req->err);
        } else if (req->bytes_in > IGNORED_BODY_MAX) {
            err_set(&req->err, &http_cond_body_too_large,
                    "a body of more than %d bytes on a path that reads none", IGNORED_BODY_MAX);
        }
        return MHD_YES;
    }
    body_watch_end(req);
    if (req->early_answered) {
        return MHD_NO; /* answered already, outside MHD: only closing is left */
    }
    if (req->err.cond) {
        return queue_error(req);
    }
    pthread_mutex_lock(&srv->suspend_lock);
    bool resuming = req->resuming;
    req->resuming = false;
    pthread_mutex_unlock(&srv->suspend_lock);
    int rc = 0;
    if (req->internal) {
        rc = internal_end(req, &req->err);
    } else if (resuming) {
        rc = req->route->resumed
                 ? req->route->resumed(req->route->app, req, &req->err)
                 : err_set(&req->err, &err_cond_internal, "resumed a route that cannot resume");
    } else if (req->route->end) {
        rc = req->route->end(req->route->app, req, &req->err);
    }
    /* A resume that beat the suspension: run resumed() now, as often as it asks again. */
    while (rc == 0 && req->want_suspend && !suspend_now(req)) {
        rc = req->route->resumed
                 ? req->route->resumed(req->route->app, req, &req->err)
                 : err_set(&req->err, &err_cond_internal, "resumed a route that cannot resume");
    }
    if (rc != 0) {
        return queue_error(req);
    }
    pthread_mutex_lock(&srv->suspend_lock);
    bool suspended = req->suspended || req->resuming;
    pthread_mutex_unlock(&srv->suspend_lock);
    if (suspended) {
        return MHD_YES;
    }
    return queue_response(req);
}

/* Each call a route's hooks run in (headers, one body chunk, building the answer, a resume)
 * has request_time_budget to finish; work that checks the deadline (src/cal's expansion)
 * gives up past it with err_cond_time_budget, a 503 logged by queue_error(). */
static enum MHD_Result on_access(void *cls,
                                 struct MHD_Connection *conn,
                                 const char *url,
                                 const char *method,
                                 const char *version,
                                 const char *upload_data,
                                 size_t *upload_data_size,
                                 void **con_cls)
{
    (void)version;
    struct listener *l = cls;
    struct http_server *srv = l->srv;
    int64_t saved = deadline_start(work_budget_us(srv));
    enum MHD_Result rc =
        access_run(srv, l->is_tls, conn, url, method, upload_data, upload_data_size, con_cls);
    deadline_restore(saved);
    return rc;
}

static void on_completed(void *cls,
                         struct MHD_Connection *conn,
                         void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    struct http_server *srv = ((struct listener *)cls)->srv;
    struct http_request *req = *con_cls;
    if (!req) {
        return;
    }
    *con_cls = NULL;
    if (toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED && req->in_body && !req->early_answered) {
        /* MHD gave up on a silent body (body_watch_begin()); the socket is still open */
        err_set(&req->err, &http_cond_body_too_slow, "no body byte for %us, below min_body_rate=%u",
                body_silence_limit(&srv->cfg), srv->cfg.min_body_rate);
        answer_slow_body(req);
    }
    if (req->wconn) {
        http_watch_request_end(srv->watch, req->wconn);
    }
    unsigned status = req->queued || req->early_answered ? (req->status ? req->status : 200) : 0;
    int64_t us = time_mono_us() - req->start_us;
    http_metrics_request(srv->metrics, req->internal || !req->route ? NULL : req->route->protocol,
                         req->method, status, us);
    if (log_enabled(LOG_INFO)) {
        char path[256];
        const char *p = req->path ? req->path : "-";
        log_sanitize(p, strlen(p), path, sizeof(path));
        log_write(LOG_INFO,
                  "request id=%llu addr=%s%s method=%s path=%s user=%s status=%u cond=%s "
                  "bytes_in=%llu bytes_out=%llu ms=%.1f arena=%zu%s%s",
                  (unsigned long long)req->id, req->client, req->is_tls ? " tls=1" : "",
                  req->method_name, path, req->user ? req->user : "-", status,
                  req->err.cond ? req->err.cond->name : "-", (unsigned long long)req->bytes_in,
                  (unsigned long long)req->bytes_out, (double)us / 1000.0,
                  arena_high_water(req->arena), buf_cstr(&req->log_fields),
                  toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " aborted=1");
    }
    buf_deinit(&req->log_fields);
    struct arena *a = req->arena;
    arena_destroy(&a);
    atomic_fetch_sub(&srv->inflight, 1);
}

/* MHD's NOTIFY_CONNECTION: each connection gets its watchdog record, as its socket context,
 * from accept until just before its socket is closed. */
static void on_connection(void *cls,
                          struct MHD_Connection *conn,
                          void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct listener *l = cls;
    struct http_server *srv = l->srv;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *fd =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        const union MHD_ConnectionInfo *addr =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        char text[INET6_ADDRSTRLEN];
        addr_text(addr ? addr->client_addr : NULL, text);
        *socket_context =
            fd ? http_watch_conn_open(srv->watch, fd->connect_fd, text, l->is_tls) : NULL;
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        struct http_watch_conn *c = *socket_context;
        http_watch_conn_close(srv->watch, &c);
        *socket_context = NULL;
    }
}

/* Keeps the request target as sent: http_path_decode decodes it exactly once. */
static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return strlen(s);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    if (n < 0) {
        return;
    }
    size_t len = strlen(line);
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) {
        line[--len] = '\0';
    }
    log_debug("mhd msg=\"%s\"", line);
}

/* ---------------------------------------------------------------------------------------- */
/* Daemon */

static int parse_listen(const char *listen, struct sockaddr_storage *ss, struct err *err)
{
    memset(ss, 0, sizeof(*ss));
    const char *colon = strrchr(listen, ':');
    if (!colon) {
        return err_set(err, &err_cond_bad_request, "listen address %s lacks :PORT", listen);
    }
    uint64_t port;
    if (parse_u64(slice_from_cstr(colon + 1), &port) != 0 || port > 65535) {
        return err_set(err, &err_cond_bad_request, "bad port in listen address %s", listen);
    }
    char host[128];
    size_t hlen = (size_t)(colon - listen);
    if (hlen >= sizeof(host)) {
        return err_set(err, &err_cond_bad_request, "listen address too long");
    }
    memcpy(host, listen, hlen);
    host[hlen] = '\0';
    if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
        host[hlen - 1] = '\0';
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1) {
            return err_set(err, &err_cond_bad_request, "bad IPv6 address in %s", listen);
        }
        return 0;
    }
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)port);
    if (strcmp(host, "localhost") == 0) {
        s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        return 0;
    }
    if (inet_pton(AF_INET, host, &s4->sin_addr) != 1) {
        return err_set(err, &err_cond_bad_request, "bad IPv4 address in %s", listen);
    }
    return 0;
}

/* Frees what http_server_start() set up, in reverse; each part may be missing. */
static void server_free(struct http_server *srv)
{
    if (srv->watch) {
        http_watch_destroy(&srv->watch); /* after MHD_stop_daemon(): every connection closed */
    }
    http_tls_destroy(&srv->creds);
    http_addr_list_destroy(&srv->proxies);
    http_addr_list_destroy(&srv->metrics_allow);
    http_metrics_destroy(&srv->metrics);
    pthread_mutex_destroy(&srv->suspend_lock);
    pthread_mutex_destroy(&srv->auth_lock);
    auth_throttle_destroy(&srv->throttle);
    free(srv->auth);
    free(srv);
}

/* Why the listener at `ss` cannot be had, found by binding it the way MHD does
 * (SO_REUSEADDR): "address already in use", "permission denied"... as strerror says it,
 * lower-cased, so the start-up error names the problem. */
static void bind_failure(const struct sockaddr_storage *ss, char *out, size_t cap)
{
    snprintf(out, cap, "reason unknown (see the log at debug level)");
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(out, cap, "%s", strerror(errno));
    } else {
        int on = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
        socklen_t len =
            ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
        if (bind(fd, (const struct sockaddr *)ss, len) != 0) {
            snprintf(out, cap, "%s", strerror(errno));
        }
        close(fd);
    }
    if (out[0] >= 'A' && out[0] <= 'Z') {
        out[0] = (char)(out[0] - 'A' + 'a');
    }
}

/* Starts listener `l` on `addr`: HTTPS when l->is_tls (srv->creds loaded). 0, or -1 with err. */
static int
listener_start(struct http_server *srv, struct listener *l, const char *addr, struct err *err)
{
    const struct http_config *cfg = &srv->cfg;
    struct sockaddr_storage ss;
    if (parse_listen(addr, &ss, err) != 0) {
        return -1;
    }
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6) {
        flags |= MHD_USE_IPv6;
    }
    /* Each connection's memory pool (request line, headers, MHD's buffers): max_header_bytes
     * in whole pages, plus one. Past 32 KiB libmicrohttpd maps a pool on pages of its own
     * instead of malloc'ing it, so an idle or suspended connection (a waiting Ping) holds
     * only the two pages it wrote (its read buffer at one end, the header table at the
     * other), and the pages go back to the system when the connection closes (issue 16). */
    size_t conn_pool_bytes_total =
        (cfg->max_header_bytes + HTTP_PAGE - 1) / HTTP_PAGE * HTTP_PAGE + HTTP_PAGE;
    /* The same options for both; HTTPS adds its certificate callback and priorities (MHD
     * ignores HTTPS options without MHD_USE_TLS without consuming their argument, so they cannot
     * simply be passed to both). */
#define LISTENER_OPTIONS                                                                         \
  MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE,                     \
      (unsigned)(cfg->workers ? cfg->workers : 1), MHD_OPTION_CONNECTION_LIMIT,                  \
      cfg->max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->per_ip_connections,         \
      MHD_OPTION_CONNECTION_TIMEOUT, cfg->idle_timeout, MHD_OPTION_CONNECTION_MEMORY_LIMIT,      \
      conn_pool_bytes_total, MHD_OPTION_NOTIFY_COMPLETED, on_completed, l,                       \
      MHD_OPTION_NOTIFY_CONNECTION, on_connection, l, MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, \
      NULL, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL
    if (l->is_tls) {
        l->daemon = MHD_start_daemon(flags | MHD_USE_TLS, 0, NULL, NULL, on_access, l,
                                     MHD_OPTION_HTTPS_CERT_CALLBACK, &http_tls_retrieve,
                                     MHD_OPTION_HTTPS_PRIORITIES, HTTP_TLS_PRIORITIES,
                                     LISTENER_OPTIONS, MHD_OPTION_END);
    } else {
        l->daemon =
            MHD_start_daemon(flags, 0, NULL, NULL, on_access, l, LISTENER_OPTIONS, MHD_OPTION_END);
    }
#undef LISTENER_OPTIONS
    if (!l->daemon) {
        char why[128];
        bind_failure(&ss, why, sizeof(why));
        return err_set(err, &err_cond_unavailable, "cannot listen on %s: %s", addr, why);
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(l->daemon, MHD_DAEMON_INFO_BIND_PORT);
    l->port = info ? info->port : 0;
    return 0;
}

static void listener_quiesce(struct listener *l)
{
    if (l->daemon && l->listen_sock == MHD_INVALID_SOCKET) {
        l->listen_sock = MHD_quiesce_daemon(l->daemon);
    }
}

static void listener_stop(struct listener *l)
{
    if (l->daemon) {
        MHD_stop_daemon(l->daemon);
        l->daemon = NULL;
    }
    if (l->listen_sock != MHD_INVALID_SOCKET) {
        close(l->listen_sock);
        l->listen_sock = MHD_INVALID_SOCKET;
    }
}

int http_server_start(const struct http_config *cfg,
                      const struct http_route *routes,
                      size_t nroutes,
                      struct http_server **out,
                      struct err *err)
{
    bool has_plain = cfg->listen && *cfg->listen;
    bool has_tls = cfg->tls_listen && *cfg->tls_listen;
    if (!has_plain && !has_tls) {
        return err_set(err, &err_cond_bad_request, "neither listen nor tls_listen is set");
    }
    bool has_cert = cfg->tls_cert && *cfg->tls_cert, has_key = cfg->tls_key && *cfg->tls_key;
    if (has_tls && (!has_cert || !has_key)) {
        return err_set(err, &http_cond_tls_credentials, "tls_listen=%s needs tls_cert and tls_key",
                       cfg->tls_listen);
    }
    if (!has_tls && (has_cert || has_key)) {
        return err_set(err, &http_cond_tls_credentials,
                       "tls_cert/tls_key are set but tls_listen is not: say where to serve HTTPS");
    }
    if (has_tls && MHD_is_feature_supported(MHD_FEATURE_HTTPS_CERT_CALLBACK) != MHD_YES) {
        return err_set(err, &http_cond_tls_credentials,
                       "this libmicrohttpd was built without TLS (certificate callback)");
    }
    struct http_server *srv = calloc(1, sizeof(*srv));
    if (!srv) {
        abort();
    }
    srv->routes = routes;
    srv->nroutes = nroutes;
    srv->cfg = *cfg;
    srv->plain = (struct listener){.srv = srv, .listen_sock = MHD_INVALID_SOCKET};
    srv->tls = (struct listener){.srv = srv, .is_tls = true, .listen_sock = MHD_INVALID_SOCKET};
    srv->auth = calloc(AUTH_CACHE_SLOTS, sizeof(*srv->auth));
    if (!srv->auth) {
        abort();
    }
    sec_random(srv->auth_key, sizeof(srv->auth_key));
    struct auth_throttle_config tc = {.window = cfg->auth_fail_window,
                                      .addr_limit = cfg->auth_fail_addr_limit,
                                      .user_limit = cfg->auth_fail_user_limit,
                                      .max_delay = cfg->auth_fail_max_delay};
    srv->throttle = auth_throttle_create(&tc);
    srv->metrics = http_metrics_create();
    pthread_mutex_init(&srv->auth_lock, NULL);
    pthread_mutex_init(&srv->suspend_lock, NULL);
    atomic_init(&srv->next_id, 1);
    atomic_init(&srv->inflight, 0);
    if (cfg->metrics_token && *cfg->metrics_token) {
        sec_hash(srv->auth_key, sizeof(srv->auth_key), cfg->metrics_token,
                 strlen(cfg->metrics_token), srv->metrics_token_hash);
    }
    if (http_addr_list_parse("trusted_proxies", cfg->trusted_proxies, &srv->proxies, err) != 0 ||
        http_addr_list_parse("metrics_allow", cfg->metrics_allow, &srv->metrics_allow, err) != 0 ||
        (has_tls && http_tls_create(cfg->tls_cert, cfg->tls_key, &srv->creds, err) != 0)) {
        server_free(srv);
        return -1;
    }
    /* max_connections is per listener: the watchdog keeps room among all of them. */
    unsigned listeners = (has_plain ? 1u : 0u) + (has_tls ? 1u : 0u);
    unsigned reserve = cfg->max_connections / IDLE_RESERVE_DIVISOR;
    struct http_watch_config wc = {
        .header_timeout = cfg->header_timeout,
        .max_connections = cfg->max_connections * listeners,
        .reserve = (reserve ? reserve : 1) * listeners,
    };
    if (http_watch_create(&wc, &srv->watch) != 0) {
        srv->watch = NULL;
        server_free(srv);
        return err_set(err, &err_cond_unavailable, "cannot start the connection watchdog");
    }
    if ((has_plain && listener_start(srv, &srv->plain, cfg->listen, err) != 0) ||
        (has_tls && listener_start(srv, &srv->tls, cfg->tls_listen, err) != 0)) {
        listener_stop(&srv->plain);
        listener_stop(&srv->tls);
        server_free(srv);
        return -1;
    }
    *out = srv;
    return 0;
}

uint16_t http_server_port(const struct http_server *srv)
{
    return srv->plain.port;
}

uint16_t http_server_tls_port(const struct http_server *srv)
{
    return srv->tls.port;
}

int http_server_reload_tls(struct http_server *srv, struct err *err)
{
    return srv->creds ? http_tls_reload(srv->creds, err) : 0;
}

void http_server_tls_describe(struct http_server *srv, char *out, size_t n)
{
    if (srv->creds) {
        http_tls_describe(srv->creds, out, n);
    } else {
        snprintf(out, n, "-");
    }
}

unsigned http_server_connections(const struct http_server *srv)
{
    return atomic_load(&srv->inflight);
}

unsigned http_server_drain(struct http_server *srv, unsigned grace_ms)
{
    /* The listen socket is ours once quiesced, but the worker threads take it out of their
     * epoll sets on their next turn: closing it before MHD_stop_daemon() lets that
     * epoll_ctl(DEL) fail, and libmicrohttpd aborts ("Failed to remove listen FD from epoll
     * set"), as the MHD_quiesce_daemon() documentation warns. So it is kept until stop. */
    if (!srv->is_quiesced) {
        listener_quiesce(&srv->plain);
        listener_quiesce(&srv->tls);
        srv->is_quiesced = true;
    }
    for (unsigned waited = 0; waited < grace_ms && atomic_load(&srv->inflight) > 0; waited += 10) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return atomic_load(&srv->inflight);
}

void http_server_stop(struct http_server **sp, unsigned grace_ms)
{
    struct http_server *srv = *sp;
    if (!srv) {
        return;
    }
    http_server_drain(srv, grace_ms);
    listener_stop(&srv->plain);
    listener_stop(&srv->tls);
    server_free(srv);
    *sp = NULL;
}
