/* http/metrics.c: the HTTP layer's request counters and latency histograms (see metrics.h). */
#include "http/metrics.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_int.h"
#include "util/buf.h"
#include "util/compiler.h"

enum proto {
    PROTO_CALDAV,
    PROTO_EXCHANGE,
    PROTO_ACTIVESYNC,
    PROTO_WEB,
    PROTO_OTHER,
    PROTO_COUNT
};

static const char *const proto_names[PROTO_COUNT] = {"caldav", "exchange", "activesync", "web",
                                                     "other"};

/* The status codes counted one by one; any other is counted as "other". 0 is a request that
 * got no answer (the connection closed first). */
static const unsigned codes[] = {0,   100, 200, 201, 204, 206, 207, 301, 302, 304, 400, 401,
                                 403, 404, 405, 406, 408, 409, 411, 412, 413, 414, 415, 416,
                                 422, 423, 424, 429, 449, 451, 500, 501, 502, 503, 507};

enum {
    NCODES = ALM_ARRAY_LEN(codes) + 1
};

/* Upper bounds of the latency buckets in microseconds (Prometheus's default buckets, with
 * 1 ms below and 30 s, 60 s and 300 s above for long polls and big syncs); +Inf follows. */
static const int64_t bucket_us[] = {1000,    5000,     10000,    25000,    50000,
                                    100000,  250000,   500000,   1000000,  2500000,
                                    5000000, 10000000, 30000000, 60000000, 300000000};

enum {
    NBUCKETS = ALM_ARRAY_LEN(bucket_us) + 1
};

struct histogram {
    atomic_uint_fast64_t buckets[NBUCKETS]; /* not cumulative: each request counts once */
    atomic_uint_fast64_t sum_us;
};

struct http_metrics {
    uint8_t code_index[600]; /* status -> index into codes, NCODES - 1 for "other" */
    atomic_uint_fast64_t requests[PROTO_COUNT][HTTP_M_COUNT][NCODES];
    struct histogram latency[PROTO_COUNT];
    atomic_uint_fast64_t auth_failed;
    atomic_uint_fast64_t auth_throttled;
};

struct http_metrics *http_metrics_create(void)
{
    struct http_metrics *m = calloc(1, sizeof(*m));
    if (!m) {
        abort();
    }
    memset(m->code_index, NCODES - 1, sizeof(m->code_index));
    for (size_t i = 0; i < ALM_ARRAY_LEN(codes); i++) {
        m->code_index[codes[i]] = (uint8_t)i;
    }
    return m; /* calloc's zeros are valid initial values of the atomics (C17 7.17.2.1) */
}

void http_metrics_destroy(struct http_metrics **m)
{
    free(*m);
    *m = NULL;
}

static enum proto proto_of(const char *name)
{
    for (int p = 0; name && p < PROTO_OTHER; p++) {
        if (strcmp(name, proto_names[p]) == 0) {
            return (enum proto)p;
        }
    }
    return PROTO_OTHER;
}

void http_metrics_request(struct http_metrics *m,
                          const char *protocol,
                          enum http_method method,
                          unsigned status,
                          int64_t us)
{
    enum proto p = proto_of(protocol);
    unsigned c = status < sizeof(m->code_index) ? m->code_index[status] : NCODES - 1;
    atomic_fetch_add_explicit(&m->requests[p][method][c], 1, memory_order_relaxed);
    struct histogram *h = &m->latency[p];
    size_t b = 0;
    while (b < ALM_ARRAY_LEN(bucket_us) && us > bucket_us[b]) {
        b++;
    }
    atomic_fetch_add_explicit(&h->buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, us > 0 ? (uint64_t)us : 0, memory_order_relaxed);
}

void http_metrics_auth_failed(struct http_metrics *m)
{
    atomic_fetch_add_explicit(&m->auth_failed, 1, memory_order_relaxed);
}

void http_metrics_auth_throttled(struct http_metrics *m)
{
    atomic_fetch_add_explicit(&m->auth_throttled, 1, memory_order_relaxed);
}

static uint64_t get(atomic_uint_fast64_t *a)
{
    return atomic_load_explicit(a, memory_order_relaxed);
}

static const char *method_label(enum http_method m)
{
    const char *token = http_method_token(m);
    return token ? token : "other";
}

/* Writes microseconds as seconds with six decimals. */
static int put_seconds(struct buf *out, uint64_t us)
{
    return buf_appendf(out, "%llu.%06llu", (unsigned long long)(us / 1000000),
                       (unsigned long long)(us % 1000000));
}

int http_metrics_render(struct http_metrics *m, struct buf *out)
{
    int rc = buf_append_cstr(out, "# HELP almanac_http_requests_total Requests answered, by "
                                  "protocol, method and status code (code 0: no answer, the "
                                  "connection closed first).\n"
                                  "# TYPE almanac_http_requests_total counter\n");
    for (int p = 0; p < PROTO_COUNT; p++) {
        for (int meth = 0; meth < HTTP_M_COUNT; meth++) {
            for (int c = 0; c < NCODES; c++) {
                uint64_t v = get(&m->requests[p][meth][c]);
                if (v == 0) {
                    continue; /* a series appears with its first request */
                }
                char code[8];
                if (c < NCODES - 1) {
                    snprintf(code, sizeof(code), "%u", codes[c]);
                } else {
                    memcpy(code, "other", 6);
                }
                rc |= buf_appendf(out,
                                  "almanac_http_requests_total{protocol=\"%s\",method=\"%s\","
                                  "code=\"%s\"} %llu\n",
                                  proto_names[p], method_label((enum http_method)meth), code,
                                  (unsigned long long)v);
            }
        }
    }
    rc |= buf_append_cstr(out, "# HELP almanac_http_request_duration_seconds Time from a "
                               "request's headers to the end of its answer, by protocol "
                               "(ActiveSync Pings include their wait).\n"
                               "# TYPE almanac_http_request_duration_seconds histogram\n");
    for (int p = 0; p < PROTO_COUNT; p++) {
        struct histogram *h = &m->latency[p];
        uint64_t cum = 0;
        for (int b = 0; b < NBUCKETS; b++) {
            cum += get(&h->buckets[b]);
            rc |= buf_appendf(out,
                              "almanac_http_request_duration_seconds_bucket{protocol=\"%s\","
                              "le=\"",
                              proto_names[p]);
            if (b < NBUCKETS - 1) {
                rc |= put_seconds(out, (uint64_t)bucket_us[b]);
            } else {
                rc |= buf_append_cstr(out, "+Inf");
            }
            rc |= buf_appendf(out, "\"} %llu\n", (unsigned long long)cum);
        }
        rc |= buf_appendf(out, "almanac_http_request_duration_seconds_sum{protocol=\"%s\"} ",
                          proto_names[p]);
        rc |= put_seconds(out, get(&h->sum_us));
        rc |= buf_appendf(out,
                          "\nalmanac_http_request_duration_seconds_count{protocol=\"%s\"} %llu\n",
                          proto_names[p], (unsigned long long)cum);
    }
    rc |= buf_appendf(out,
                      "# HELP almanac_auth_failures_total Logins refused: wrong user name or "
                      "password.\n# TYPE almanac_auth_failures_total counter\n"
                      "almanac_auth_failures_total %llu\n"
                      "# HELP almanac_auth_throttled_total Logins refused unchecked by the "
                      "failed-login throttle (429).\n# TYPE almanac_auth_throttled_total counter\n"
                      "almanac_auth_throttled_total %llu\n",
                      (unsigned long long)get(&m->auth_failed),
                      (unsigned long long)get(&m->auth_throttled));
    return rc == 0 ? 0 : -1;
}
