/* http/watch.c: the connection watchdog (see watch.h): a record per open connection, a list
 * of the waiting ones oldest first, and one thread enforcing the header deadline and keeping
 * room for new clients. Never calls into libmicrohttpd: it acts on sockets only, and MHD
 * notices the hang-up. */
#include "http/watch.h"

#include <assert.h>
#include <linux/tcp.h> /* struct tcp_info, whole, without _DEFAULT_SOURCE */
#include <malloc.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "http/http.h"
#include "util/log.h"
#include "util/timeutil.h"

enum {
    ANSWER_MAX = 512, /* bytes of the 408 written by the watchdog */
};

struct http_watch_conn {
    struct http_watch_conn *prev; /* in the waiting list, oldest wait first, or in the busy */
    struct http_watch_conn *next; /* list, oldest request first; NULL at either end */
    int fd;
    bool is_waiting;     /* between requests (or before the first): in the waiting list */
    bool is_busy;        /* in a request: in the busy list */
    bool is_closing;     /* the watchdog answered or shut the socket down; MHD closes it */
    bool is_tls;         /* TLS records: closed without a plaintext 408 */
    int64_t wait_us;     /* monotonic time it began to wait */
    uint64_t wait_bytes; /* bytes the socket had received then (tcpi_bytes_received) */
    int64_t request_us;  /* when bytes of the next request were first seen; 0 = none yet */
    int64_t busy_us;     /* when its current request's headers were complete */
    char addr[HTTP_WATCH_ADDR_MAX];
};

struct http_watch {
    struct http_watch_config cfg;
    pthread_mutex_t lock; /* everything below, and every record */
    pthread_cond_t wake;  /* signalled to stop the thread */
    pthread_t thread;
    bool is_stopping;
    struct http_watch_conn *head; /* the waiting connections, by wait_us */
    struct http_watch_conn *tail;
    struct http_watch_conn *busy_head; /* the connections in a request, by busy_us */
    struct http_watch_conn *busy_tail;
    unsigned open;    /* records */
    unsigned closing; /* records with is_closing set */
    unsigned peak;    /* most records at once since the last trim */
    unsigned trims;   /* malloc_trim calls after a crowd */
};

/* The connection lists: `head`/`tail` of the waiting list or of the busy list. A
 * connection is in at most one, through the same links. */
static void
list_append(struct http_watch_conn **head, struct http_watch_conn **tail, struct http_watch_conn *c)
{
    c->prev = *tail;
    c->next = NULL;
    if (*tail) {
        (*tail)->next = c;
    } else {
        *head = c;
    }
    *tail = c;
}

static void
list_remove(struct http_watch_conn **head, struct http_watch_conn **tail, struct http_watch_conn *c)
{
    if (c->prev) {
        c->prev->next = c->next;
    } else {
        *head = c->next;
    }
    if (c->next) {
        c->next->prev = c->prev;
    } else {
        *tail = c->prev;
    }
    c->prev = NULL;
    c->next = NULL;
}

static void waiting_append(struct http_watch *w, struct http_watch_conn *c)
{
    list_append(&w->head, &w->tail, c);
    c->is_waiting = true;
}

static void waiting_remove(struct http_watch *w, struct http_watch_conn *c)
{
    if (c->is_waiting) {
        list_remove(&w->head, &w->tail, c);
        c->is_waiting = false;
    }
}

static void busy_append(struct http_watch *w, struct http_watch_conn *c, int64_t now_us)
{
    c->busy_us = now_us;
    list_append(&w->busy_head, &w->busy_tail, c);
    c->is_busy = true;
}

static void busy_remove(struct http_watch *w, struct http_watch_conn *c)
{
    if (c->is_busy) {
        list_remove(&w->busy_head, &w->busy_tail, c);
        c->is_busy = false;
    }
}

/* The bytes `fd` has received since it was opened (TCP_INFO tcpi_bytes_received, Linux 4.1
 * and later), into *out. Returns 0, or -1 when the kernel cannot say. */
static int bytes_received(int fd, uint64_t *out)
{
    struct tcp_info ti;
    socklen_t len = sizeof(ti);
    memset(&ti, 0, sizeof(ti));
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 ||
        len < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof(ti.tcpi_bytes_received)) {
        return -1;
    }
    *out = ti.tcpi_bytes_received;
    return 0;
}

/* Whether bytes of a next request have arrived since c began to wait: its socket received
 * more than it had then. A count, not a time, so a request line that came with the
 * connection, or just after the last answer, counts however long ago. False when the
 * kernel cannot say (the connection is then taken as idle). */
static bool has_request_begun(const struct http_watch_conn *c)
{
    uint64_t n;
    return bytes_received(c->fd, &n) == 0 && n > c->wait_bytes;
}

static void mark_closing(struct http_watch *w, struct http_watch_conn *c)
{
    /* Both ways: MHD's next read sees the end and it releases the connection, which it
     * would not do for a half-close while the client keeps sending. */
    (void)shutdown(c->fd, SHUT_RDWR);
    c->is_closing = true;
    w->closing++;
}

/* RFC 9110 §15.5.9: 408, the request did not arrive in the time the server was prepared to
 * wait; with Connection: close (RFC 9112 §9.6). There is no route to render it (no request
 * exists), so the body is the plain "condition: message" line. The send buffer is empty:
 * MHD reads a request only once the previous answer is sent. `crowded`: the headers were
 * still arriving when the server ran short of connections (reclaim_slow_headers), rather
 * than past header_timeout. */
static void
answer_header_timeout(struct http_watch *w, struct http_watch_conn *c, int64_t now_us, bool crowded)
{
    char date[TIME_HTTPDATE_LEN];
    time_httpdate(time_now(), date);
    char body[160];
    int blen = crowded ? snprintf(body, sizeof(body),
                                  "%s: request headers still arriving while the server is out of "
                                  "connections (max_connections)\n",
                                  http_cond_header_timeout.name)
                       : snprintf(body, sizeof(body),
                                  "%s: request headers not complete within header_timeout=%us\n",
                                  http_cond_header_timeout.name, w->cfg.header_timeout);
    char msg[ANSWER_MAX];
    int n = -1;
    if (blen > 0 && (size_t)blen < sizeof(body)) {
        n = snprintf(msg, sizeof(msg),
                     "HTTP/1.1 408 Request Timeout\r\nDate: %s\r\nConnection: close\r\n"
                     "Content-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n\r\n%s",
                     date, blen, body);
    }
    ssize_t sent = -1;
    if (n > 0 && (size_t)n < sizeof(msg) && !c->is_tls) {
        sent = send(c->fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    mark_closing(w, c);
    log_warn("slow client closed addr=%s status=408 cond=%s reason=%s header_timeout=%u "
             "waited_ms=%lld answered=%d",
             c->addr, http_cond_header_timeout.name, crowded ? "server-full" : "deadline",
             w->cfg.header_timeout, (long long)((now_us - c->request_us) / 1000),
             sent == n ? 1 : 0);
}

/* A connection still receiving its request's headers, and how fast they come. */
struct slow_headers {
    struct http_watch_conn *c;
    uint64_t rate; /* bytes of the request received per second since its first byte */
};

static int slowest_first(const void *pa, const void *pb)
{
    const struct slow_headers *a = pa;
    const struct slow_headers *b = pb;
    if (a->rate != b->rate) {
        return a->rate < b->rate ? -1 : 1;
    }
    return a->c->request_us < b->c->request_us ? -1 : a->c->request_us > b->c->request_us;
}

/* Closes up to `excess` connections whose request headers are still arriving after
 * HTTP_WATCH_RECLAIM_MIN_IDLE_MS, slowest first (fewest bytes per second since the request's
 * first byte; the oldest of equals), each answered 408 header-timeout. Called only when no
 * idle connection is left to close: a client trickling its headers would otherwise hold its
 * connection for the whole header_timeout while new clients wait for one, and a real client
 * sends its headers in one go. A connection whose headers are complete is no longer waiting
 * (http_watch_request_begin), so a request being handled, a suspended Ping among them, is
 * never a candidate. O(waiting) getsockopt calls and one sort; runs only when the server is
 * full. */
static void reclaim_slow_headers(struct http_watch *w, int64_t now_us, unsigned excess)
{
    size_t n = 0;
    for (struct http_watch_conn *c = w->head; c; c = c->next) {
        n += !c->is_closing && c->request_us != 0 &&
             now_us - c->request_us >= (int64_t)HTTP_WATCH_RECLAIM_MIN_IDLE_MS * 1000;
    }
    if (n == 0) {
        return;
    }
    struct slow_headers *v = malloc(n * sizeof(*v));
    if (!v) {
        abort();
    }
    size_t k = 0;
    for (struct http_watch_conn *c = w->head; c && k < n; c = c->next) {
        if (c->is_closing || c->request_us == 0 ||
            now_us - c->request_us < (int64_t)HTTP_WATCH_RECLAIM_MIN_IDLE_MS * 1000) {
            continue;
        }
        uint64_t got = 0;
        (void)bytes_received(c->fd, &got); /* 0 when the kernel cannot say: slowest */
        uint64_t bytes = got > c->wait_bytes ? got - c->wait_bytes : 0;
        v[k].c = c;
        v[k].rate = bytes * 1000000 / (uint64_t)(now_us - c->request_us);
        k++;
    }
    qsort(v, k, sizeof(*v), slowest_first);
    for (size_t i = 0; i < k && excess > 0; i++, excess--) {
        answer_header_timeout(w, v[i].c, now_us, true);
    }
    free(v);
}

/* Closes the longest idle connections while fewer than cfg.reserve connections are free.
 * A connection idle for less than HTTP_WATCH_RECLAIM_MIN_IDLE_MS is left alone (its first
 * request may be on its way), and so is one whose next request has begun to arrive. The
 * list is in order of wait_us, so the walk stops at the first one too young. When no idle
 * connection is left, young ones included, and room is still short, the slowest of those
 * receiving headers go (reclaim_slow_headers). */
static void reclaim(struct http_watch *w, int64_t now_us)
{
    unsigned max = w->cfg.max_connections;
    unsigned keep = max > w->cfg.reserve ? max - w->cfg.reserve : 0;
    if (w->cfg.reserve == 0 || w->open - w->closing <= keep) {
        return;
    }
    unsigned excess = w->open - w->closing - keep;
    struct http_watch_conn *c = w->head;
    for (; c && excess > 0; c = c->next) {
        if (now_us - c->wait_us < (int64_t)HTTP_WATCH_RECLAIM_MIN_IDLE_MS * 1000) {
            break;
        }
        if (c->is_closing || c->request_us != 0) {
            continue;
        }
        if (has_request_begun(c)) {
            c->request_us = now_us;
            continue;
        }
        log_info("idle connection reclaimed addr=%s idle_ms=%lld open=%u max_connections=%u",
                 c->addr, (long long)((now_us - c->wait_us) / 1000), w->open - w->closing, max);
        mark_closing(w, c);
        excess--;
    }
    /* An idle connection too young to close now will be closable within a second: wait for
     * it rather than cut short a request on its way. watch_tick() has marked every waiting
     * connection whose request has begun, so request_us == 0 is idle. */
    for (; c; c = c->next) {
        if (!c->is_closing && c->request_us == 0) {
            return;
        }
    }
    /* So will, most likely, a connection whose request began less than a second ago (most
     * are answered in milliseconds, and it waits again): one such connection spares one
     * request still arriving. A request older than that, a waiting Ping among them, is not
     * counted. The busy list is in order of busy_us: walked from its young end. */
    for (struct http_watch_conn *b = w->busy_tail; b && excess > 0; b = b->prev) {
        if (now_us - b->busy_us >= (int64_t)HTTP_WATCH_RECLAIM_MIN_IDLE_MS * 1000) {
            break;
        }
        excess -= !b->is_closing;
    }
    if (excess > 0) {
        reclaim_slow_headers(w, now_us, excess);
    }
}

/* One turn of the watchdog, under the lock. O(waiting connections) getsockopt calls. */
static void watch_tick(struct http_watch *w)
{
    int64_t now_us = time_mono_us();
    int64_t limit_us = (int64_t)w->cfg.header_timeout * 1000000;
    for (struct http_watch_conn *c = w->head; c; c = c->next) {
        if (c->is_closing) {
            continue;
        }
        if (c->request_us == 0 && has_request_begun(c)) {
            /* the first byte came within the last tick: the deadline starts now */
            c->request_us = now_us;
        }
        if (c->request_us != 0 && now_us - c->request_us >= limit_us) {
            answer_header_timeout(w, c, now_us, false);
        }
    }
    reclaim(w, now_us);
}

static void *watch_main(void *arg)
{
    struct http_watch *w = arg;
    pthread_mutex_lock(&w->lock);
    while (!w->is_stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += (long)HTTP_WATCH_TICK_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        (void)pthread_cond_timedwait(&w->wake, &w->lock, &ts);
        if (!w->is_stopping) {
            watch_tick(w);
        }
        if (w->peak >= w->cfg.trim_crowd && w->open <= w->peak / 4) {
            /* A crowd of connections has gone (10,000 ActiveSync Pings answered and closed):
             * the memory of their buffers is free in the heap, which keeps it (49 MB of RSS
             * after 10,000, bench/eas_ping.py) unless told. Not under the lock: a trim of a
             * large heap takes a while. */
            w->peak = w->open;
            w->trims++;
            pthread_mutex_unlock(&w->lock);
            malloc_trim(0);
            pthread_mutex_lock(&w->lock);
        }
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

int http_watch_create(const struct http_watch_config *cfg, struct http_watch **out)
{
    struct http_watch *w = calloc(1, sizeof(*w));
    if (!w) {
        abort();
    }
    w->cfg = *cfg;
    w->cfg.trim_crowd = cfg->trim_crowd ? cfg->trim_crowd : HTTP_WATCH_TRIM_CROWD;
    pthread_mutex_init(&w->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->wake, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&w->thread, NULL, watch_main, w) != 0) {
        pthread_cond_destroy(&w->wake);
        pthread_mutex_destroy(&w->lock);
        free(w);
        return -1;
    }
    *out = w;
    return 0;
}

unsigned http_watch_trims(struct http_watch *w)
{
    pthread_mutex_lock(&w->lock);
    unsigned n = w->trims;
    pthread_mutex_unlock(&w->lock);
    return n;
}

void http_watch_destroy(struct http_watch **wp)
{
    struct http_watch *w = *wp;
    if (!w) {
        return;
    }
    pthread_mutex_lock(&w->lock);
    w->is_stopping = true;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    assert(w->open == 0);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    free(w);
    *wp = NULL;
}

struct http_watch_conn *
http_watch_conn_open(struct http_watch *w, int fd, const char *addr, bool is_tls)
{
    struct http_watch_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        abort();
    }
    c->fd = fd;
    c->is_tls = is_tls;
    log_sanitize(addr, strlen(addr), c->addr, sizeof(c->addr));
    pthread_mutex_lock(&w->lock);
    c->wait_us = time_mono_us(); /* under the lock: the list stays in order of wait_us */
    waiting_append(w, c);
    w->open++;
    w->peak = w->open > w->peak ? w->open : w->peak;
    pthread_mutex_unlock(&w->lock);
    return c;
}

void http_watch_conn_close(struct http_watch *w, struct http_watch_conn **cp)
{
    struct http_watch_conn *c = *cp;
    if (!c) {
        return;
    }
    pthread_mutex_lock(&w->lock);
    waiting_remove(w, c);
    busy_remove(w, c);
    w->open--;
    w->closing -= c->is_closing ? 1 : 0;
    pthread_mutex_unlock(&w->lock);
    free(c);
    *cp = NULL;
}

bool http_watch_request_begin(struct http_watch *w, struct http_watch_conn *c)
{
    pthread_mutex_lock(&w->lock);
    bool ok = !c->is_closing;
    waiting_remove(w, c);
    if (ok && !c->is_busy) {
        busy_append(w, c, time_mono_us());
    }
    pthread_mutex_unlock(&w->lock);
    return ok;
}

void http_watch_request_end(struct http_watch *w, struct http_watch_conn *c)
{
    /* Bytes of a pipelined request already here count as the old request's: MHD reads
     * them at once, and the watchdog sees any byte that follows. */
    uint64_t received = 0;
    (void)bytes_received(c->fd, &received);
    pthread_mutex_lock(&w->lock);
    busy_remove(w, c);
    if (!c->is_waiting && !c->is_closing) {
        c->wait_us = time_mono_us();
        c->wait_bytes = received;
        c->request_us = 0;
        waiting_append(w, c);
    }
    pthread_mutex_unlock(&w->lock);
}

const char *http_watch_conn_addr(const struct http_watch_conn *c)
{
    return c->addr;
}
