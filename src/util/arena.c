/* util/arena.c: chunked bump allocator with mark/rewind and deferred destructors. Chunks are
 * kept in a list; a rewind frees chunks allocated after the mark. Large allocations get a
 * chunk of their own. The first chunk is small (ARENA_FIRST_CHUNK): a request that waits
 * long, an ActiveSync Ping, holds its arena all that time, and uses less than 2 KiB of it
 * (issue 16); requests that need more go on in ARENA_CHUNK chunks. */
#include "util/arena.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    ARENA_CHUNK = 8192,
    ARENA_FIRST_CHUNK = 2048,
    ARENA_ALIGN = 16
};

struct arena_chunk {
    struct arena_chunk *prev;
    size_t size; /* usable bytes in data[] */
    size_t used;
    _Alignas(16) unsigned char data[];
};

struct arena_deferred {
    struct arena_deferred *prev;
    arena_defer_fn *fn;
    void *p;
};

struct arena {
    struct arena_chunk *chunk; /* current (newest) chunk */
    struct arena_deferred *defer;
    size_t held; /* bytes in chunks now */
    size_t high; /* peak of held */
};

static struct arena_chunk *chunk_new(size_t size)
{
    struct arena_chunk *c = malloc(sizeof(*c) + size);
    if (!c) {
        abort();
    }
    c->prev = NULL;
    c->size = size;
    c->used = 0;
    return c;
}

struct arena *arena_create(void)
{
    struct arena *a = calloc(1, sizeof(*a));
    if (!a) {
        abort();
    }
    return a;
}

static void run_defers(struct arena *a, struct arena_deferred *until)
{
    while (a->defer && a->defer != until) {
        struct arena_deferred *d = a->defer;
        a->defer = d->prev;
        d->fn(d->p);
    }
}

void arena_destroy(struct arena **ap)
{
    struct arena *a = *ap;
    if (!a) {
        return;
    }
    run_defers(a, NULL);
    while (a->chunk) {
        struct arena_chunk *c = a->chunk;
        a->chunk = c->prev;
        free(c);
    }
    free(a);
    *ap = NULL;
}

void *arena_alloc(struct arena *a, size_t n)
{
    /* Rounding up, or the chunk header, would wrap a size near SIZE_MAX to a small one; no
     * allocation that large can succeed, so it fails as every other one does: abort. */
    if (n > SIZE_MAX - ARENA_ALIGN - sizeof(struct arena_chunk)) {
        abort();
    }
    size_t need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (need == 0) {
        need = ARENA_ALIGN;
    }
    struct arena_chunk *c = a->chunk;
    if (!c || c->size - c->used < need) {
        size_t base = c ? ARENA_CHUNK : ARENA_FIRST_CHUNK;
        size_t size = need > base / 2 ? need : base;
        struct arena_chunk *nc = chunk_new(size);
        nc->prev = c;
        a->chunk = nc;
        a->held += size;
        if (a->held > a->high) {
            a->high = a->held;
        }
        c = nc;
    }
    void *p = c->data + c->used;
    c->used += need;
    return p;
}

void *arena_zalloc(struct arena *a, size_t n)
{
    void *p = arena_alloc(a, n);
    memset(p, 0, n);
    return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n == SIZE_MAX ? n : n + 1); /* SIZE_MAX aborts, never wraps */
    if (n > 0) {
        memcpy(p, s, n);
    }
    p[n] = '\0';
    return p;
}

char *arena_strdup(struct arena *a, const char *s)
{
    return arena_strndup(a, s, strlen(s));
}

char *arena_slicedup(struct arena *a, struct slice s)
{
    return arena_strndup(a, s.ptr, s.len);
}

void *arena_memdup(struct arena *a, const void *p, size_t n)
{
    void *q = arena_alloc(a, n);
    if (n > 0) {
        memcpy(q, p, n);
    }
    return q;
}

char *arena_printf(struct arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        abort();
    }
    char *p = arena_alloc(a, (size_t)n + 1);
    va_start(ap, fmt);
    int m = vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    if (m != n) {
        abort();
    }
    return p;
}

void arena_defer(struct arena *a, arena_defer_fn *fn, void *p)
{
    struct arena_deferred *d = arena_alloc(a, sizeof(*d));
    d->fn = fn;
    d->p = p;
    d->prev = a->defer;
    a->defer = d;
}

struct arena_mark arena_mark(struct arena *a)
{
    struct arena_mark m = {a->chunk, a->chunk ? a->chunk->used : 0, a->defer};
    return m;
}

void arena_rewind(struct arena *a, struct arena_mark m)
{
    run_defers(a, m.defer);
    while (a->chunk && a->chunk != m.chunk) {
        struct arena_chunk *c = a->chunk;
        a->chunk = c->prev;
        a->held -= c->size;
        free(c);
    }
    if (a->chunk) {
        a->chunk->used = m.used;
    }
}

size_t arena_high_water(const struct arena *a)
{
    return a->high;
}
