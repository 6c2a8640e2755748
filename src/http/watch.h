/* http/watch.h: the connection watchdog. Keeps one record per open TCP connection and a
 * thread that wakes every HTTP_WATCH_TICK_MS to act on the connections that are waiting for
 * a request (between requests, or before the first): one whose request has begun to arrive
 * but whose headers are not complete header_timeout seconds later is answered 408
 * header-timeout and closed; and when the open connections come within `reserve` of
 * max_connections, the connections that have been idle longest (no byte of a next request)
 * are closed, oldest first, so that new clients find room; when none is idle, the
 * connections whose request headers are still arriving after a second are answered 408
 * header-timeout and closed, slowest first (a client trickling its headers would otherwise
 * hold its connection for the whole header_timeout), each request that began less than a
 * second ago sparing one of them (it is most likely about to be idle). A connection inside a
 * request (headers in, until its answer is sent; a suspended ActiveSync Ping among them) is never
 * touched: the request's own limits apply to it.
 *
 * libmicrohttpd tells nothing of a request before its headers are complete, so whether bytes
 * of a request have arrived is asked of the kernel (TCP_INFO tcpi_bytes_received: Linux).
 * The watchdog answers and closes by writing to the socket and shutting it down; MHD then
 * sees the hang-up and releases the connection. Knows no MHD type: the glue in http.c feeds
 * it the socket and the request boundaries.
 *
 * Thread-safe: every record is under the watchdog's one mutex, which is held while the
 * thread writes to or shuts down a socket, and taken by http_watch_conn_close() before MHD
 * closes that socket, so a descriptor is never used after it could be reused. */
#ifndef ALMANAC_HTTP_WATCH_H
#define ALMANAC_HTTP_WATCH_H

#include <stdbool.h>

enum {
    /* the watchdog's period: its deadlines are this late at most */
    HTTP_WATCH_TICK_MS = 250,
    /* a connection idle for less is not reclaimed: its first request may be on the wire */
    HTTP_WATCH_RECLAIM_MIN_IDLE_MS = 1000,
    /* bytes of the client's address kept for the log (INET6_ADDRSTRLEN is 46) */
    HTTP_WATCH_ADDR_MAX = 64,
    /* the default of http_watch_config.trim_crowd */
    HTTP_WATCH_TRIM_CROWD = 1000,
};

struct http_watch;
struct http_watch_conn;

struct http_watch_config {
    unsigned header_timeout;  /* seconds from a request's first byte to its last header byte */
    unsigned max_connections; /* libmicrohttpd's limit */
    unsigned reserve;    /* idle connections, then slow headers, are closed while fewer are free;
                            0 = never */
    unsigned trim_crowd; /* once this many connections were open at once and three quarters of
                            them have closed since, the heap's free pages go back to the system
                            (malloc_trim); 0: HTTP_WATCH_TRIM_CROWD */
};

/* Starts the watchdog thread. `cfg` is copied. Returns 0, or -1 when the thread cannot be
 * created. The caller frees with http_watch_destroy(). */
int http_watch_create(const struct http_watch_config *cfg, struct http_watch **out);
/* Stops the thread and frees the watchdog, setting *w to NULL. Every connection must have
 * been closed (http_watch_conn_close) before: MHD_stop_daemon() does that. */
void http_watch_destroy(struct http_watch **w);

/* How many times the watchdog gave the heap back after a crowd (trim_crowd). */
unsigned http_watch_trims(struct http_watch *w);

/* A connection was accepted (MHD's NOTIFY_CONNECTION STARTED): socket `fd`, client address
 * `addr` (copied, truncated to HTTP_WATCH_ADDR_MAX). It starts waiting for its first request. The
 * record is the watchdog's until http_watch_conn_close(). Any thread.
 *
 * `is_tls`: the socket carries TLS records, which only MHD can write, so the watchdog closes
 * such a connection without the 408. Its TLS handshake is bytes received, so for the first
 * request header_timeout counts from the ClientHello: the handshake and the headers must both
 * be in within it (nginx's client_header_timeout also runs from the accept for a first
 * request); later requests are timed as on plain connections. */
struct http_watch_conn *
http_watch_conn_open(struct http_watch *w, int fd, const char *addr, bool is_tls);
/* The connection is about to be closed by MHD (NOTIFY_CONNECTION CLOSED, before close(2)):
 * forgets it and sets *c to NULL. Any thread. */
void http_watch_conn_close(struct http_watch *w, struct http_watch_conn **c);
/* A request's headers are complete: the connection is inside a request until
 * http_watch_request_end(). Returns false when the watchdog has already answered and closed
 * the connection (its header deadline passed, or it was reclaimed): the request must not run. */
bool http_watch_request_begin(struct http_watch *w, struct http_watch_conn *c);
/* The request's answer has been sent (or it was abandoned): the connection waits for the next
 * request, idle, from now. */
void http_watch_request_end(struct http_watch *w, struct http_watch_conn *c);
/* The client's address as recorded at open, sanitized for a log line; borrowed until
 * http_watch_conn_close(). */
const char *http_watch_conn_addr(const struct http_watch_conn *c);

#endif
