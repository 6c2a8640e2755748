/* server/faults.h: how a test arms the store's fault seam (store/store_fault.h) in a running
 * almanacd. Two environment variables, read once at start:
 *
 * - ALMANAC_STORE_FAULT="stmt=N,err=io" (store_fault_parse syntax): a plan armed for the whole
 *   process from the start, counting every thread's points.
 * - ALMANAC_STORE_FAULT_FILE=PATH: per request. When a request reaches its route (after
 *   authentication), the server reads PATH if it exists and deletes it; its text arms a plan
 *   for that request alone (on its worker thread, so no other request's work counts), and the
 *   plan is disarmed when the request's response has been sent. A request that finds no file
 *   runs without faults. The test writes the file, sends the request, and learns whether the
 *   fault fired from the log ("store fault injected"): no restart between faults, the request
 *   under test is byte for byte what a client sends, and the follow-up read is never faulted.
 *
 * Both work only in a build with the seam (ALMANAC_FAULTS); a release almanacd ignores them
 * and logs a warning when either is set. Main thread, before the routes start. */
#ifndef ALMANAC_SERVER_FAULTS_H
#define ALMANAC_SERVER_FAULTS_H

#include <stddef.h>

#include "http/http.h"

/* Reads the variables and arms the process-wide plan. 0, or -1 (logged) when
 * ALMANAC_STORE_FAULT does not parse in a build that has the seam. */
int server_faults_init(void);

/* With ALMANAC_STORE_FAULT_FILE set (and the seam built in), replaces the hooks of each of
 * `routes` by ones that arm the request's plan and then call the route's own; the originals
 * are kept in a static table (at most SERVER_FAULTS_MAX_ROUTES routes, else -1). Otherwise
 * leaves them alone. */
enum {
    SERVER_FAULTS_MAX_ROUTES = 8
};

int server_faults_wrap_routes(struct http_route *routes, size_t n);

#endif
