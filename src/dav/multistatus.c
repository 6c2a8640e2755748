/* dav/multistatus.c: the streamed 207 Multi-Status (RFC 4918 §13). A state machine pulled by
 * the HTTP layer: head, then one row at a time from the caller's next() (which reads a store
 * cursor), then tail. It carries over at most one row, so memory is O(1) in rows. */
#include <stdio.h>
#include <string.h>

#include "dav/ext.h"
#include "util/log.h"
#include "xml/xmlout.h"

enum ms_phase {
    MS_HEAD,
    MS_ROWS,
    MS_TAIL,
    MS_DONE
};

struct ms_stream {
    struct dav_req *dr;
    const char *head; /* written before the rows */
    const char *tail; /* written after them */
    dav_ms_next_fn *next;
    void *ctx;
    enum ms_phase phase;
    struct buf pending; /* bytes produced and not yet handed to the socket */
    size_t off;         /* bytes of pending already handed out */
    size_t rows;
};

const char *dav_status_line(unsigned status)
{
    switch (status) {
    case 200:
        return "HTTP/1.1 200 OK";
    case 201:
        return "HTTP/1.1 201 Created";
    case 204:
        return "HTTP/1.1 204 No Content";
    case 400:
        return "HTTP/1.1 400 Bad Request";
    case 403:
        return "HTTP/1.1 403 Forbidden";
    case 404:
        return "HTTP/1.1 404 Not Found";
    case 409:
        return "HTTP/1.1 409 Conflict";
    case 412:
        return "HTTP/1.1 412 Precondition Failed";
    case 415:
        return "HTTP/1.1 415 Unsupported Media Type";
    case 422:
        return "HTTP/1.1 422 Unprocessable Content";
    case 423:
        return "HTTP/1.1 423 Locked";
    case 424:
        return "HTTP/1.1 424 Failed Dependency";
    case 507:
        return "HTTP/1.1 507 Insufficient Storage";
    default:
        return "HTTP/1.1 500 Internal Server Error";
    }
}

int dav_write_status(struct buf *out, const char *href, unsigned status)
{
    int rc = buf_append_cstr(out, "<D:response><D:href>");
    rc |= xmlout_text(out, slice_from_cstr(href));
    rc |= buf_append_cstr(out, "</D:href><D:status>");
    rc |= buf_append_cstr(out, dav_status_line(status));
    rc |= buf_append_cstr(out, "</D:status></D:response>\n");
    return rc == 0 ? 0 : -1;
}

/* Refills pending; returns 0, or -1 on failure. */
static int ms_fill(struct ms_stream *s)
{
    buf_reset(&s->pending);
    s->off = 0;
    switch (s->phase) {
    case MS_HEAD:
        s->phase = MS_ROWS;
        return buf_append_cstr(&s->pending, s->head) == 0 ? 0 : -1;
    case MS_ROWS: {
        int rc = s->next(s->ctx, &s->pending);
        if (rc < 0) {
            return -1;
        }
        if (rc == 0) {
            s->phase = MS_TAIL;
        } else {
            s->rows += (size_t)rc;
        }
        return 0;
    }
    case MS_TAIL: {
        s->phase = MS_DONE;
        char rows[24];
        if (snprintf(rows, sizeof(rows), "%zu", s->rows) > 0) {
            http_req_log_field(s->dr->http, "rows", rows);
        }
        return buf_append_cstr(&s->pending, s->tail) == 0 ? 0 : -1;
    }
    case MS_DONE:
        break;
    }
    return 0;
}

/* Fills as much of MHD's buffer as rows allow: one row per call would cost a chunk header and
 * a send() per row. Returns 0 only when everything was handed out. */
static ssize_t ms_read(void *ctx, char *dst, size_t max)
{
    struct ms_stream *s = ctx;
    size_t written = 0;
    while (written < max) {
        if (s->off == s->pending.len) {
            if (s->phase == MS_DONE) {
                break;
            }
            if (ms_fill(s) != 0) {
                return -1;
            }
            continue;
        }
        size_t n = s->pending.len - s->off;
        if (n > max - written) {
            n = max - written;
        }
        memcpy(dst + written, s->pending.data + s->off, n);
        s->off += n;
        written += n;
    }
    return (ssize_t)written;
}

static void ms_destroy(void *p)
{
    struct ms_stream *s = p;
    buf_deinit(&s->pending);
}

void dav_stream(struct dav_req *dr,
                unsigned status,
                const char *content_type,
                const char *head,
                const char *tail,
                dav_ms_next_fn *next,
                void *ctx)
{
    struct ms_stream *s = arena_zalloc(dr->arena, sizeof(*s));
    s->dr = dr;
    s->head = head;
    s->tail = tail;
    s->next = next;
    s->ctx = ctx;
    s->phase = MS_HEAD;
    buf_init(&s->pending, dav_row_limit(dr) + DAV_MS_BATCH);
    arena_defer(dr->arena, ms_destroy, s);
    http_resp_status(dr->http, status);
    http_resp_header(dr->http, "Content-Type", content_type);
    http_resp_stream(dr->http, ms_read, s);
}

void dav_ms_stream(struct dav_req *dr, dav_ms_next_fn *next, void *ctx)
{
    dav_stream(dr, 207, "application/xml; charset=utf-8",
               "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:multistatus" DAV_XMLNS ">\n",
               "</D:multistatus>\n", next, ctx);
}
