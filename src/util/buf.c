/* util/buf.c: bounded growable buffers. */
#include "util/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b, size_t limit)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->limit = limit;
}

void buf_deinit(struct buf *b)
{
    free(b->data);
    buf_init(b, b->limit);
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->data) {
        b->data[0] = '\0';
    }
}

static void buf_reserve(struct buf *b, size_t need)
{
    if (need + 1 <= b->cap) {
        return;
    }
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need + 1) {
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (!p) {
        abort();
    }
    b->data = p;
    b->cap = cap;
}

int buf_append_grow(struct buf *b, const void *p, size_t n)
{
    if (n > b->limit - b->len) {
        return -1;
    }
    buf_reserve(b, b->len + n);
    if (n > 0) {
        memcpy(b->data + b->len, p, n);
    }
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

char *buf_room(struct buf *b, size_t n)
{
    if (n > b->limit - b->len) {
        return NULL;
    }
    buf_reserve(b, b->len + n);
    return b->data + b->len;
}

int buf_append_slice(struct buf *b, struct slice s)
{
    return buf_append(b, s.ptr, s.len);
}

int buf_putc(struct buf *b, char c)
{
    return buf_append(b, &c, 1);
}

int buf_vappendf(struct buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0 || (size_t)n > b->limit - b->len) {
        return -1;
    }
    buf_reserve(b, b->len + (size_t)n);
    int m = vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    if (m != n) {
        b->data[b->len] = '\0';
        return -1;
    }
    b->len += (size_t)n;
    return 0;
}

int buf_appendf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vappendf(b, fmt, ap);
    va_end(ap);
    return rc;
}

struct slice buf_slice(const struct buf *b)
{
    struct slice s = {b->data ? b->data : "", b->len};
    return s;
}

const char *buf_cstr(const struct buf *b)
{
    return b->data ? b->data : "";
}
