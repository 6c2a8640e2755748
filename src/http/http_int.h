/* http/http_int.h: the HTTP layer's own view of a request, shared by http.c, which drives
 * requests off libmicrohttpd's sockets, and http_test.c, which drives one in process for the
 * unit tests (http/http_test.h). Nothing outside src/http includes it. */
#ifndef ALMANAC_HTTP_HTTP_INT_H
#define ALMANAC_HTTP_HTTP_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "http/addr.h"
#include "http/http.h"
#include "util/buf.h"

struct MHD_Connection;
struct http_server;
struct http_watch_conn;
struct http_test_ctx;

/* Paths the HTTP layer answers itself, before authentication and routing. */
enum internal_path {
    INTERNAL_NONE = 0,
    INTERNAL_HEALTH,  /* /healthz */
    INTERNAL_METRICS, /* /metrics */
};

struct resp_header {
    struct resp_header *next;
    const char *name;
    const char *value;
};

struct http_request {
    struct http_server *srv;
    struct MHD_Connection *conn;
    struct arena *arena;
    uint64_t id;
    bool is_tls;                 /* came in on the HTTPS listener */
    bool is_https;               /* is_tls, or a trusted proxy sent X-Forwarded-Proto: https */
    enum internal_path internal; /* /healthz or /metrics, answered by this layer */
    char client[HTTP_ADDR_TEXT]; /* http_req_client() */
    enum http_method method;
    const char *method_name;
    const char *path;
    bool trailing_slash;
    const char *user;
    const struct http_route *route;
    void *state;
    struct err err;
    bool began;  /* route's begin() ran and succeeded */
    bool queued; /* a response was queued */
    /* Long polls, under srv->suspend_lock: a hook asked to suspend; the connection is
     * suspended; a resume arrived before the suspension took effect; resumed() is due. */
    bool want_suspend;
    bool suspended;
    bool resume_pending;
    bool resuming;
    int64_t start_us;
    uint64_t bytes_in;
    uint64_t bytes_out;
    uint64_t discarded;  /* body bytes read after a failure */
    bool early_answered; /* the error was written ahead of MHD (early_answer()), or that
                            failed: either way the connection closes without another */
    /* The connection's watchdog record (borrowed from MHD's socket context), and the
     * min_body_rate watch: in_body from the headers until the body ends, if one comes. */
    struct http_watch_conn *wconn;
    bool in_body;
    int64_t window_start_us; /* the current rate window began (monotonic) */
    uint64_t window_bytes;   /* body bytes received in it */
    /* the response under construction */
    unsigned status;
    struct resp_header *headers;
    struct resp_header *err_headers; /* kept when the answer becomes an error */
    const void *body;
    size_t body_len;
    http_read_fn *read;
    void *read_ctx;
    struct buf log_fields;
    /* An in-process request (http/http_test.h): headers and query come from here, there is
     * no connection and no server. NULL for every request off a socket. */
    const struct http_test_ctx *test;
};

/* The method named `name` ("PROPFIND"), HTTP_M_OTHER for one the layer does not know. */
enum http_method http_method_from_name(const char *name);
/* The token of a known method ("PROPFIND"), NULL for HTTP_M_OTHER (metrics.c labels it). */
const char *http_method_token(enum http_method m);
/* Turns req->err into the response under construction: the status from its condition, the
 * error headers only, the body from the route's render_error (text otherwise). */
void http_set_error_response(struct http_request *req);

#if ALMANAC_FAULTS
/* The in-process request's header `name` (case-insensitive) and query (http_test.c). */
const char *http_test_header(const struct http_test_ctx *t, const char *name);
const char *http_test_query(const struct http_test_ctx *t);
#endif

#endif
