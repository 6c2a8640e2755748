/* server/faults.c: arming the store's fault seam from the environment (server/faults.h). The
 * per-request hooks only wrap the routes' own: they read and delete the fault file, arm the
 * plan for the worker thread, and forward every call with the route's own `app`. Costs nothing
 * unless ALMANAC_STORE_FAULT_FILE is set in a build with the seam. */
#include "server/faults.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store_fault.h"
#include "util/log.h"

static const char *fault_file; /* ALMANAC_STORE_FAULT_FILE, NULL when unset or not built in */

static struct wrapped_route {
    struct http_route orig;
} wrapped[SERVER_FAULTS_MAX_ROUTES];

int server_faults_init(void)
{
    const char *spec = getenv("ALMANAC_STORE_FAULT");
    const char *file = getenv("ALMANAC_STORE_FAULT_FILE");
    if (!store_fault_available()) {
        if (spec || file) {
            log_warn("ALMANAC_STORE_FAULT and ALMANAC_STORE_FAULT_FILE ignored: this build has "
                     "no store fault seam (ALMANAC_FAULTS=OFF)");
        }
        return 0;
    }
    if (spec && *spec) {
        struct store_fault_plan plan;
        if (store_fault_parse(spec, &plan) != 0) {
            log_error("ALMANAC_STORE_FAULT does not parse spec=\"%.80s\"", spec);
            return -1;
        }
        store_fault_arm(&plan);
        log_warn("store fault armed for the process spec=\"%.80s\"", spec);
    }
    if (file && *file) {
        fault_file = file;
        log_warn("store faults armed per request from file=%s", file);
    }
    return 0;
}

/* Disarms the request's own plan: by the time a request's arena goes, the client may have
 * armed and sent the next request, whose plan (a later generation) stays armed. */
static void disarm(void *p)
{
    store_fault_disarm_if((uint64_t)(uintptr_t)p);
}

/* Reads and deletes the fault file; a plan in it is armed for this request's thread until
 * the request's arena goes (its response has been sent). */
static void arm_for_request(struct http_request *req)
{
    int fd = open(fault_file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT) {
            log_warn("cannot read the store fault file=%s errno=%d", fault_file, errno);
        }
        return;
    }
    char text[128];
    ssize_t n = read(fd, text, sizeof(text) - 1);
    close(fd);
    unlink(fault_file);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' ' || text[n - 1] == '\r')) {
        n--;
    }
    text[n > 0 ? n : 0] = '\0';
    struct store_fault_plan plan;
    if (store_fault_parse(text, &plan) != 0) {
        log_warn("store fault file does not parse spec=\"%s\"", text);
        return;
    }
    plan.this_thread = true;
    store_fault_arm(&plan);
    arena_defer(http_req_arena(req), disarm, (void *)(uintptr_t)store_fault_generation());
    log_info("store fault armed req=%llu spec=\"%s\"", (unsigned long long)http_req_id(req), text);
}

static int w_begin(void *app, struct http_request *req, struct err *err)
{
    struct wrapped_route *w = app;
    arm_for_request(req);
    return w->orig.begin ? w->orig.begin(w->orig.app, req, err) : 0;
}

static int w_body(void *app, struct http_request *req, const char *p, size_t n, struct err *err)
{
    struct wrapped_route *w = app;
    return w->orig.body(w->orig.app, req, p, n, err);
}

static int w_end(void *app, struct http_request *req, struct err *err)
{
    struct wrapped_route *w = app;
    return w->orig.end(w->orig.app, req, err);
}

static void w_render_error(void *app, struct http_request *req, const struct err *e)
{
    struct wrapped_route *w = app;
    w->orig.render_error(w->orig.app, req, e);
}

static int w_resumed(void *app, struct http_request *req, struct err *err)
{
    struct wrapped_route *w = app;
    return w->orig.resumed(w->orig.app, req, err);
}

int server_faults_wrap_routes(struct http_route *routes, size_t n)
{
    if (!fault_file) {
        return 0;
    }
    if (n > SERVER_FAULTS_MAX_ROUTES) {
        log_error("too many routes to wrap for store faults n=%zu", n);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        struct http_route *r = &routes[i];
        wrapped[i].orig = *r;
        r->app = &wrapped[i];
        r->begin = w_begin;
        r->body = r->body ? w_body : NULL;
        r->end = r->end ? w_end : NULL;
        r->render_error = r->render_error ? w_render_error : NULL;
        r->resumed = r->resumed ? w_resumed : NULL;
    }
    return 0;
}
