/* http/metrics.h: the HTTP layer's counters for /metrics: requests by protocol, method and
 * status code, a latency histogram per protocol, and failed logins. Every counter is a C11
 * atomic incremented with relaxed ordering, so counting costs a few uncontended atomic adds
 * per request and never a lock; a scrape reads them one by one (a request completing during
 * a scrape may be in one family and not yet in another). Thread-safe. */
#ifndef ALMANAC_HTTP_METRICS_H
#define ALMANAC_HTTP_METRICS_H

#include <stdint.h>

#include "http/http.h"

struct http_metrics;
struct buf;

struct http_metrics *http_metrics_create(void);
void http_metrics_destroy(struct http_metrics **m);

/* A request ended: `protocol` is its route's label (NULL or unknown: "other"), `status`
 * the status sent (0: none, the connection was closed), `us` its duration. */
void http_metrics_request(struct http_metrics *m,
                          const char *protocol,
                          enum http_method method,
                          unsigned status,
                          int64_t us);
/* A login failed (wrong credentials), or was refused by the throttle unchecked. */
void http_metrics_auth_failed(struct http_metrics *m);
void http_metrics_auth_throttled(struct http_metrics *m);

/* Appends every family in the Prometheus text exposition format (version 0.0.4). Returns 0,
 * or -1 when `out` is full. */
int http_metrics_render(struct http_metrics *m, struct buf *out);

#endif
