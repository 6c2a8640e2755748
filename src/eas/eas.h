/* eas/eas.h: Exchange ActiveSync (MS-ASHTTP, MS-ASCMD, MS-ASCAL) over the one store: the
 * /Microsoft-Server-ActiveSync route, its commands, device state and push. The server wires
 * it: eas_app_start() with a configuration and the store pool, eas_route() into the HTTP
 * daemon, eas_app_change() as the store's change hook (so a write through any protocol wakes
 * the Pings watching that calendar), eas_app_stop() before the daemon stops and
 * eas_app_destroy() after. */
#ifndef ALMANAC_EAS_EAS_H
#define ALMANAC_EAS_EAS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http.h"
#include "store/store.h"

struct eas_config {
    bool protocol_16;  /* advertise 16.0 and 16.1 besides 12.1, 14.0, 14.1 */
    bool provisioning; /* false: never answer 449, accept any policy key */
    bool keep_alive;   /* false: every answer says Connection: close */
    unsigned ping_min; /* heartbeat bounds in seconds (Ping and Sync) */
    unsigned ping_max;
    unsigned max_folders;    /* folders one Ping may watch */
    unsigned max_devices;    /* devices per user (Status 177 past it) */
    size_t max_body;         /* bytes of one WBXML request */
    size_t max_window_bytes; /* a Sync window stops growing past this many bytes */
    size_t max_item_bytes;   /* the largest calendar object the store takes (max_resource_size):
                                an answer always has room for a window plus one such item */
    const char *mail_domain; /* Settings UserInformation: user@mail_domain */
};

struct eas_app;

/* Starts the push timer thread. `cfg` is borrowed until eas_app_stop(), `pool` until
 * eas_app_destroy() (which stores the last_seen stamps still in memory). */
int eas_app_start(const struct eas_config *cfg, struct store_pool *pool, struct eas_app **out);
/* Answers every waiting Ping at once (as expired), and every later one too, and stops the
 * timer thread; call before http_server_stop() so the drain does not wait for long polls. */
void eas_app_stop(struct eas_app *app);
/* Stores the last_seen stamps still in memory and frees the app, after http_server_stop()
 * and after the change hook was removed, before the pool is destroyed. */
void eas_app_destroy(struct eas_app **app);
/* The store change hook (store_change_fn): wakes the long polls watching `coll`, or every
 * long poll for coll 0 (each then looks at the change log again). */
void eas_app_change(void *app, uint64_t coll, uint64_t modseq);

/* The route for `prefix` ("/Microsoft-Server-ActiveSync"). */
struct http_route eas_route(const char *prefix, struct eas_app *app);

/* Number of long polls suspended now (tests and benchmarks). */
unsigned eas_app_waiting(struct eas_app *app);

#endif
