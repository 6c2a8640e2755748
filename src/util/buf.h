/* util/buf.h: a growable, NUL-terminated byte buffer with a hard limit given at init (after
 * curl's dynbuf). Appends past the limit fail with -1 and leave the contents unchanged.
 * Allocation failure aborts: limits, not malloc, bound memory. */
#ifndef ALMANAC_UTIL_BUF_H
#define ALMANAC_UTIL_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include "util/compiler.h"
#include "util/slice.h"

/* Named limits of buffers that are not configuration keys. */
enum {
    BUF_LIMIT_HREF = 8192,          /* one href or path, encoded */
    BUF_LIMIT_PROP_VALUE = 1 << 20, /* one dead property value, serialized XML */
    BUF_LIMIT_ERROR_BODY = 4096,    /* one <D:error> body */
};

struct buf {
    char *data;   /* heap, NUL-terminated when non-NULL; NULL until the first append */
    size_t len;   /* bytes used, excluding the NUL */
    size_t cap;   /* bytes allocated */
    size_t limit; /* len never exceeds this */
};

void buf_init(struct buf *b, size_t limit);
void buf_deinit(struct buf *b);

/* Empties the buffer, keeping its allocation. */
void buf_reset(struct buf *b);

/* Appends; returns 0, or -1 when the result would exceed the limit (nothing appended). */
int buf_append_slice(struct buf *b, struct slice s) ALM_NODISCARD;
int buf_putc(struct buf *b, char c) ALM_NODISCARD;

/* buf_append's path when the buffer must grow, or the limit would be passed. */
int buf_append_grow(struct buf *b, const void *p, size_t n) ALM_NODISCARD;

/* Inline, because a multistatus row is dozens of appends of a few bytes each (issue 16): when
 * the bytes fit in what is allocated, a copy; otherwise buf_append_grow(). */
ALM_NODISCARD static inline int buf_append(struct buf *b, const void *p, size_t n)
{
    if (n < b->cap - b->len && n <= b->limit - b->len) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
        b->data[b->len] = '\0';
        return 0;
    }
    return buf_append_grow(b, p, n);
}

/* Inline too, so that the length of a string literal is known at compile time. */
ALM_NODISCARD static inline int buf_append_cstr(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

/* Room for up to n bytes at the end, for a writer that knows a bound of what it writes but
 * not its length: where to write, or NULL when n bytes would pass the limit (nothing changes).
 * buf_advance(b, used), used <= n, then counts what was written. */
char *buf_room(struct buf *b, size_t n) ALM_NODISCARD;

static inline void buf_advance(struct buf *b, size_t used)
{
    b->len += used;
    b->data[b->len] = '\0';
}

int buf_appendf(struct buf *b, const char *fmt, ...) ALM_PRINTF(2, 3) ALM_NODISCARD;
int buf_vappendf(struct buf *b, const char *fmt, va_list ap) ALM_PRINTF(2, 0) ALM_NODISCARD;

/* The contents as a slice (borrowed until the next change) and as a C string ("" if empty). */
struct slice buf_slice(const struct buf *b);
const char *buf_cstr(const struct buf *b);

#endif
