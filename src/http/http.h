/* http/http.h: libmicrohttpd glue. Owns the daemon (thread pool + epoll), the request life
 * cycle, Basic authentication (through a hook), percent-decoding and normalisation of paths,
 * routing by path prefix, body chunks in and pulled response bodies out, and the access log.
 * Knows nothing of XML: error bodies come from the route's render_error hook. No MHD type
 * crosses this header.
 *
 * Life of a request: headers arrive -> path decoded -> authenticated -> route's begin() ->
 * body() per chunk -> end() builds the response -> it is sent (a streamed body is pulled by
 * MHD at the socket's pace) -> the request arena is destroyed, running its defers. A hook
 * that fails returns -1 with `err` set; the layer then answers err->cond->http_status with
 * the body render_error() produces, after discarding the rest of the upload. */
#ifndef ALMANAC_HTTP_HTTP_H
#define ALMANAC_HTTP_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/arena.h"
#include "util/compiler.h"
#include "util/err.h"
#include "util/slice.h"

#define ERR_COND(sym, name, ns, http, eas) ERR_COND_DECLARE(sym, name, ns, http, eas)
#include "http/conds.def"
#undef ERR_COND

struct http_server;
struct http_request;

enum http_method {
    HTTP_M_OTHER = 0,
    HTTP_M_OPTIONS,
    HTTP_M_GET,
    HTTP_M_HEAD,
    HTTP_M_POST,
    HTTP_M_PUT,
    HTTP_M_DELETE,
    HTTP_M_PROPFIND,
    HTTP_M_PROPPATCH,
    HTTP_M_MKCOL,
    HTTP_M_MKCALENDAR,
    HTTP_M_COPY,
    HTTP_M_MOVE,
    HTTP_M_REPORT,
    HTTP_M_SEARCH,
    HTTP_M_LOCK,
    HTTP_M_UNLOCK,
    HTTP_M_COUNT
};

/* A route's hooks. `app` is the pointer given with the route. All run on the connection's
 * worker thread. */
struct http_route {
    const char *prefix; /* decoded path prefix, e.g. "/" or "/Microsoft-Server-ActiveSync" */
    void *app;
    /* No authentication: the path itself is the credential (a subscription URL's secret
     * token); http_req_user() is NULL. */
    bool is_public;
    /* The `protocol` label of this route's requests in /metrics ("caldav", "exchange",
     * "activesync"); NULL counts them as "other". */
    const char *protocol;
    /* Headers are in and the user is authenticated (http_req_user() is set unless the route
     * is public). Validate headers and set up state (http_req_set_state()). */
    int (*begin)(void *app, struct http_request *req, struct err *err);
    /* The next chunk of the body; never called with n == 0. */
    int (*body)(void *app, struct http_request *req, const char *p, size_t n, struct err *err);
    /* The body is complete: set the response with http_resp_*(). */
    int (*end)(void *app, struct http_request *req, struct err *err);
    /* Sets an error body (http_resp_body + Content-Type) for `e`; the status is set already. */
    void (*render_error)(void *app, struct http_request *req, const struct err *e);
    /* A request that end() (or an earlier resumed()) suspended was resumed: build the
     * response now, or suspend again. NULL when the route never suspends. */
    int (*resumed)(void *app, struct http_request *req, struct err *err);
};

/* Checks a user name and password; 0 when they are valid (-1 when not, 1 when they cannot be
 * checked now: a 503 service-unavailable, not a failed login; 2 likewise because the store's
 * database cannot be reached: a 503 store-unavailable), with *gen_out set to the user's
 * credential generation read in the same transaction as the hash it verified (a value that
 * changes whenever the user's password does, and that a user deleted and made again never
 * has twice). Called rarely: the layer keeps a cache of recently verified credentials
 * (keyed hash, never the password), so argon2id runs once per user per auth_cache_ttl.
 * Thread-safe. */
typedef int http_auth_fn(void *ctx, const char *user, const char *password, uint64_t *gen_out);
/* Reads the user's current credential generation into *gen_out: 0, or -1 when there is no
 * such user (or it cannot be read). Called on every cache hit, so it must be cheap (one
 * indexed read, no hashing): it is what makes a password change or a delete, made by
 * another process (the admin CLI), take effect at the next request. Thread-safe. */
typedef int http_auth_gen_fn(void *ctx, const char *user, uint64_t *gen_out);

/* /healthz: 0 when the service can answer (the store answers a trivial read), -1 when not
 * (503). Called for each probe, on a worker, without authentication: it must be cheap.
 * Thread-safe. */
typedef int http_health_fn(void *ctx);
/* /metrics: appends the caller's own metric families, in the Prometheus text exposition
 * format (# HELP, # TYPE, samples), to `out`. Returns 0, or -1 when `out` is full (the scrape
 * then fails with a 500 and a log line). Thread-safe. */
struct buf;
typedef int http_metrics_fn(void *ctx, struct buf *out);

struct http_config {
    const char *listen; /* plain HTTP: "127.0.0.1:8008", "[::1]:8008", port 0 = any
                           free port; "" = no plain listener */
    /* HTTPS (http/tls.h): a second listener, served with the PEM chain tls_cert and key
     * tls_key, TLS 1.2 and 1.3 only; "" = none. Needs both files. */
    const char *tls_listen;
    const char *tls_cert;
    const char *tls_key;
    /* Peers whose X-Forwarded-For is believed (a list of addresses and CIDRs, separated by
     * commas or spaces; "" = none): the client address of a request from one of them is the
     * right-most address of that header that is not itself a trusted proxy. It is the
     * address of the access log, the failed-login throttle and metrics_allow. Their
     * X-Forwarded-Proto: https makes http_req_origin() https. */
    const char *trusted_proxies;
    /* /metrics is answered to a client whose address is in metrics_allow (a list as
     * trusted_proxies; "" = any address) and that sends "Authorization: Bearer
     * metrics_token" (when not ""); with both "", /metrics is off (404). Others: 403. */
    const char *metrics_allow;
    const char *metrics_token;
    http_health_fn *health;   /* NULL: /healthz always answers 200 */
    http_metrics_fn *metrics; /* NULL: only the HTTP layer's own families */
    void *hook_ctx;           /* for health and metrics */
    unsigned workers;         /* threads in MHD's pool */
    unsigned max_connections; /* total */
    unsigned per_ip_connections;
    unsigned idle_timeout;        /* seconds a connection may stay silent */
    unsigned header_timeout;      /* seconds from a request's first byte to the end of its
                                     headers (http/watch.h); then 408 header-timeout */
    unsigned min_body_rate;       /* bytes/s a body must average over each body_rate_window,
                                     else 408 body-too-slow; 0 = unchecked */
    unsigned body_rate_window;    /* seconds; the first window is the grace of a slow start */
    size_t max_header_bytes;      /* per-connection memory for the request line and headers */
    size_t max_path_bytes;        /* request target length */
    unsigned auth_cache_ttl;      /* seconds a verified credential is remembered; 0 = never */
    unsigned request_time_budget; /* seconds one call into a route may compute (util/deadline.h);
                                     0 = unbounded */
    const char *realm;            /* WWW-Authenticate realm */
    http_auth_fn *authenticate;
    http_auth_gen_fn *auth_gen; /* NULL: nothing is cached */
    void *auth_ctx;
    /* Failed logins (http/auth_throttle.h): a failure is remembered auth_fail_window seconds
     * (0: no throttling); past auth_fail_addr_limit failures an address, and past
     * auth_fail_user_limit failures of a user name an address that failed too, waits
     * (429 with Retry-After) 1 s doubling per failure up to auth_fail_max_delay. */
    unsigned auth_fail_window;
    unsigned auth_fail_addr_limit;
    unsigned auth_fail_user_limit;
    unsigned auth_fail_max_delay;
};

/* Starts the listeners with `routes` (borrowed until destroy; longest prefix wins): plain
 * HTTP on cfg->listen and HTTPS on cfg->tls_listen, each with its own thread pool of
 * cfg->workers and cfg->max_connections. Returns 0 or -1 with err set: a bad or busy listen
 * address, no listener at all, tls_cert/tls_key unreadable, not PEM or not a pair
 * (http_cond_tls_credentials, naming the file), or a bad trusted_proxies/metrics_allow entry.
 * The bound ports are http_server_port() and http_server_tls_port(). */
int http_server_start(const struct http_config *cfg,
                      const struct http_route *routes,
                      size_t nroutes,
                      struct http_server **out,
                      struct err *err);
uint16_t http_server_port(const struct http_server *srv);
/* The HTTPS listener's port, 0 when there is none. */
uint16_t http_server_tls_port(const struct http_server *srv);
/* Reads tls_cert and tls_key again (SIGHUP): handshakes from now on get the new certificate,
 * connections already open keep theirs (http/tls.h). 0 (also when there is no HTTPS
 * listener), or -1 with err set and the old certificate still served. */
int http_server_reload_tls(struct http_server *srv, struct err *err);
/* The certificate served now, for the log: subject, expiry and chain length; "-" without
 * HTTPS. */
void http_server_tls_describe(struct http_server *srv, char *out, size_t n);
/* Stops accepting connections and waits up to `grace_ms` for the requests in flight to
 * complete. Returns how many are still running then (0: all finished). May be called again,
 * and before http_server_stop(); main thread only. */
unsigned http_server_drain(struct http_server *srv, unsigned grace_ms);
/* Drains for up to `grace_ms` (http_server_drain), then stops the daemon, closes every
 * connection and frees the server, setting *srv to NULL. MHD_stop_daemon() joins the worker
 * threads, so this returns only once every handler has returned, however long that takes:
 * a process that must exit by a deadline needs its own watchdog (server/main.c). */
void http_server_stop(struct http_server **srv, unsigned grace_ms);
/* Forgets every cached credential (SIGHUP). A password change or a delete needs no flush:
 * every cache hit compares the credential generation (http_auth_gen_fn). */
void http_server_flush_auth(struct http_server *srv);
/* Connections open now (for drain and tests). */
unsigned http_server_connections(const struct http_server *srv);

/* ---------------------------------------------------------------------------------------- */
/* The request (valid from begin() until the response is sent) */

/* Checks a user name and password given some other way than Basic (the web page's sign-in
 * form) exactly as a Basic login is checked: the failed-login throttle first
 * (http_cond_auth_throttled, 429; Retry-After is queued for an error answer), then the
 * credential cache, then the authenticate hook; a failure is counted and logged like a Basic
 * one (http_cond_unauthenticated; err_cond_unavailable or err_cond_store_unavailable when the
 * store cannot check now).
 * Returns 0 with *gen_out (may be NULL) set to the user's credential generation, or -1 with
 * err set. Does not make the request authenticated (http_req_user() is unchanged). */
int http_verify_password(struct http_request *req,
                         const char *user,
                         const char *password,
                         uint64_t *gen_out,
                         struct err *err);

enum http_method http_req_method(const struct http_request *req);
const char *http_req_method_name(const struct http_request *req);
/* Decoded, normalised path: starts with '/', no "." or ".." segments, no empty segments
 * except a trailing '/', no NUL. In the request arena. */
const char *http_req_path(const struct http_request *req);
/* True when the request target ended with '/'. */
bool http_req_trailing_slash(const struct http_request *req);
/* A request header by case-insensitive name, or NULL (borrowed for the request). */
const char *http_req_header(const struct http_request *req, const char *name);
/* The authenticated user (in the request arena), or NULL. */
const char *http_req_user(const struct http_request *req);
/* Content-Length, or -1 when absent (chunked). */
int64_t http_req_content_length(const struct http_request *req);
/* The request's arena: destroyed after the response has been sent. */
struct arena *http_req_arena(const struct http_request *req);
/* The client's address ("192.0.2.1", "2001:db8::1"; X-Forwarded-For only from a trusted
 * proxy, see http_config.trusted_proxies), borrowed for the request; "-" when unknown. */
const char *http_req_client(const struct http_request *req);
/* Request id for logs and error bodies. */
uint64_t http_req_id(const struct http_request *req);
/* "http://host:port" as the client addressed us (Host header), in the request arena;
 * "https://" on the HTTPS listener, or when a trusted proxy (http_config.trusted_proxies)
 * sends X-Forwarded-Proto: https. */
const char *http_req_origin(const struct http_request *req);

/* The query string as sent ("a=1&b=%20x", no '?'), not percent-decoded, "" when absent; in
 * the request arena. Arguments keep their order; a bare "key" stays bare. */
const char *http_req_query(const struct http_request *req);

/* Long polls (DESIGN.md "Concurrency"). Called from end() or resumed() when the answer is
 * not ready: once the hook returns, the connection is suspended and holds no worker thread.
 * http_req_resume() (any thread, at most once per suspension; a resume that arrives before
 * the suspension took effect is kept) makes the layer call the route's resumed() on a
 * worker. The request stays valid until its response has been sent, so a resumer must
 * forget the request once it has called http_req_resume(). */
void http_req_suspend(struct http_request *req);
void http_req_resume(struct http_request *req);

void http_req_set_state(struct http_request *req, void *state);
void *http_req_state(const struct http_request *req);
/* Adds a field to this request's access-log line, e.g. ("items", "1000"). */
void http_req_log_field(struct http_request *req, const char *key, const char *value);

/* ---------------------------------------------------------------------------------------- */
/* The response */

void http_resp_status(struct http_request *req, unsigned status);
/* Adds a header; both strings are copied. */
void http_resp_header(struct http_request *req, const char *name, const char *value);
/* Adds a header sent only if the request ends as an error answer (queue_error drops every
 * other header): the current state on a 412, Content-Range on a 416. Strings are copied. */
void http_resp_error_header(struct http_request *req, const char *name, const char *value);
/* A body held in memory (copied into the arena); Content-Length is set. */
void http_resp_body(struct http_request *req, const void *p, size_t n);

/* A pulled body: read() writes up to `max` bytes into `dst` and returns how many (> 0),
 * 0 at the end, or -1 on a failure after the status went out (the connection is aborted,
 * so the client never takes a truncated body for a whole one). Sent chunked. Called on the
 * worker thread at the socket's pace; cleanup belongs in arena_defer() on the request arena. */
typedef ssize_t http_read_fn(void *ctx, char *dst, size_t max);
void http_resp_stream(struct http_request *req, http_read_fn *read, void *ctx);

/* ---------------------------------------------------------------------------------------- */
/* Paths */

/* Percent-decodes `raw` (a path, or an absolute URI whose scheme and authority are dropped)
 * once and normalises it as http_req_path() describes. *trailing_slash_out (may be NULL) is
 * set when raw ended with '/'. Returns 0 or -1 with http_cond_bad_path (400) for %00, bad
 * escapes, bytes that are not UTF-8 once decoded, ".." above the root, or
 * http_cond_path_too_long for a path longer than max_bytes. */
int http_path_decode(struct slice raw,
                     size_t max_bytes,
                     struct arena *arena,
                     const char **path_out,
                     bool *trailing_slash_out,
                     struct err *err);

/* Appends the percent-encoding of one path segment (RFC 3986 pchar, '/' encoded). */
struct buf;
int http_path_encode_segment(struct buf *b, struct slice segment) ALM_NODISCARD;
/* The same into dst, which has room for 3 * segment.len bytes; returns the bytes written (no
 * NUL). */
size_t http_path_encode_segment_to(char *dst, struct slice segment);

#endif
