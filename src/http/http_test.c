/* http/http_test.c: an in-process request through a route (see http_test.h). Reuses the
 * layer's request (http/http_int.h) and its error answer, http_set_error_response(); only
 * what a socket supplies, the headers and the query, comes from struct http_test_ctx. */
#include "http/http_test.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http/http_int.h"
#include "util/buf.h"
#include "util/slice.h"

#if ALMANAC_FAULTS

enum {
    TEST_MAX_PATH = 8192, /* the default max_path_bytes */
    TEST_LOG_FIELDS = 1024,
    TEST_PULL = 16 * 1024, /* bytes per read() of a pulled body */
};

struct http_test_ctx {
    const struct http_test_req *in;
    const char *query;
    char content_length[24];
};

static atomic_uint_fast64_t next_test_id = 1;

bool http_test_available(void)
{
    return true;
}

const char *http_test_header(const struct http_test_ctx *t, const char *name)
{
    const char *found = NULL;
    for (const char *const *h = t->in->headers; h && h[0] && h[1]; h += 2) {
        if (strcasecmp(h[0], name) == 0) {
            found = h[1];
        }
    }
    if (found) {
        return found;
    }
    if (strcasecmp(name, "Host") == 0) {
        return "localhost";
    }
    if (strcasecmp(name, "Content-Length") == 0 && t->in->body) {
        return t->content_length;
    }
    return NULL;
}

const char *http_test_query(const struct http_test_ctx *t)
{
    return t->query;
}

/* Copies the response under construction (headers are kept newest first) into `out`. */
static void collect(struct http_request *req, struct arena *a, struct http_test_resp *out)
{
    out->status = req->status ? req->status : 200;
    out->cond = req->err.cond ? arena_strdup(a, req->err.cond->name) : NULL;
    size_t n = 0;
    for (const struct resp_header *h = req->headers; h; h = h->next) {
        n++;
    }
    out->headers = arena_zalloc(a, (n ? n : 1) * sizeof(*out->headers));
    out->nheaders = n;
    size_t i = n;
    for (const struct resp_header *h = req->headers; h; h = h->next) {
        i--;
        out->headers[i].name = arena_strdup(a, h->name);
        out->headers[i].value = arena_strdup(a, h->value);
    }
    if (!req->read) {
        out->body = arena_alloc(a, req->body_len + 1);
        if (req->body_len) {
            memcpy(out->body, req->body, req->body_len);
        }
        out->body[req->body_len] = '\0';
        out->body_len = req->body_len;
        return;
    }
    out->is_streamed = true;
    struct buf b;
    buf_init(&b, SIZE_MAX / 2);
    char *chunk = arena_alloc(req->arena, TEST_PULL);
    for (;;) {
        ssize_t got = req->read(req->read_ctx, chunk, TEST_PULL);
        if (got < 0) {
            out->stream_failed = true;
            break;
        }
        if (got == 0 || buf_append(&b, chunk, (size_t)got) != 0) {
            break;
        }
    }
    out->body = arena_strndup(a, b.data ? b.data : "", b.len);
    out->body_len = b.len;
    buf_deinit(&b);
}

/* A hook returned -1: with its condition, or as http.c answers one without, a 500. */
static void failed(struct http_request *req)
{
    if (!req->err.cond) {
        err_set(&req->err, &err_cond_internal, "a hook failed without a condition");
    }
}

int http_test_run(const struct http_route *route,
                  const struct http_test_req *in,
                  struct arena *a,
                  struct http_test_resp *out)
{
    memset(out, 0, sizeof(*out));
    struct arena *ra = arena_create();
    struct http_request *req = arena_zalloc(ra, sizeof(*req));
    struct http_test_ctx *t = arena_zalloc(ra, sizeof(*t));
    t->in = in;
    snprintf(t->content_length, sizeof(t->content_length), "%zu", in->body_len);
    req->test = t;
    req->arena = ra;
    req->id = atomic_fetch_add(&next_test_id, 1);
    req->method = http_method_from_name(in->method);
    req->method_name = arena_strdup(ra, in->method);
    snprintf(req->client, sizeof(req->client), "127.0.0.1");
    req->user = in->user ? arena_strdup(ra, in->user) : NULL;
    req->route = route;
    err_init(&req->err);
    buf_init(&req->log_fields, TEST_LOG_FIELDS);

    const char *q = strchr(in->target, '?');
    struct slice raw = slice_from_cstr(in->target);
    if (q) {
        raw.len = (size_t)(q - in->target);
        t->query = arena_strdup(ra, q + 1);
    } else {
        t->query = "";
    }
    int rc = 0;
    if (http_path_decode(raw, TEST_MAX_PATH, ra, &req->path, &req->trailing_slash, &req->err) !=
        0) {
        rc = -1;
    } else if (route->begin && route->begin(route->app, req, &req->err) != 0) {
        failed(req);
    } else {
        req->began = true;
        size_t step = in->chunk ? in->chunk : (in->body_len ? in->body_len : 1);
        for (size_t off = 0; in->body && off < in->body_len && !req->err.cond; off += step) {
            size_t n = in->body_len - off < step ? in->body_len - off : step;
            req->bytes_in += n;
            if (route->body) {
                route->body(route->app, req, in->body + off, n, &req->err);
            }
        }
        if (!req->err.cond && route->end && route->end(route->app, req, &req->err) != 0) {
            failed(req);
        }
        if (!req->err.cond && req->want_suspend) {
            err_set(&req->err, &err_cond_internal, "the route suspended (not driven in tests)");
        }
    }
    if (req->err.cond) {
        http_set_error_response(req);
    }
    collect(req, a, out);
    buf_deinit(&req->log_fields);
    arena_destroy(&ra);
    return rc;
}

#else

bool http_test_available(void)
{
    return false;
}

int http_test_run(const struct http_route *route,
                  const struct http_test_req *in,
                  struct arena *a,
                  struct http_test_resp *out)
{
    (void)route;
    (void)in;
    (void)a;
    memset(out, 0, sizeof(*out));
    return -1;
}

#endif

const char *http_test_resp_header(const struct http_test_resp *r, const char *name)
{
    const char *v = NULL;
    for (size_t i = 0; i < r->nheaders; i++) {
        if (strcasecmp(r->headers[i].name, name) == 0) {
            v = r->headers[i].value;
        }
    }
    return v;
}
