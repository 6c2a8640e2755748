/* util/arena.h: the request arena, an alloc-only region freed at once (Dovecot's per-request
 * pool, h2o's h2o_mem_pool_t). Row loops bracket each row with arena_mark()/arena_rewind() so
 * memory stays O(1) in rows. arena_defer() ties non-memory resources (parsers, cursors,
 * libical components) to the arena's lifetime; they run in reverse order at destroy.
 * Not thread-safe: one arena belongs to one request at a time. */
#ifndef ALMANAC_UTIL_ARENA_H
#define ALMANAC_UTIL_ARENA_H

#include <stddef.h>

#include "util/compiler.h"
#include "util/slice.h"

struct arena;

/* A position to rewind to; opaque to callers. */
struct arena_mark {
    void *chunk;
    size_t used;
    void *defer;
};

typedef void arena_defer_fn(void *p);

/* Creates an arena; caller frees with arena_destroy(), which sets *a to NULL. */
struct arena *arena_create(void);
void arena_destroy(struct arena **a);

/* `n` bytes aligned for any type, in the arena. Aborts on allocation failure. */
void *arena_alloc(struct arena *a, size_t n);
void *arena_zalloc(struct arena *a, size_t n);

/* NUL-terminated copies in the arena. */
char *arena_strdup(struct arena *a, const char *s);
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_slicedup(struct arena *a, struct slice s);
void *arena_memdup(struct arena *a, const void *p, size_t n);
char *arena_printf(struct arena *a, const char *fmt, ...) ALM_PRINTF(2, 3);

/* Runs fn(p) when the arena is destroyed or rewound past this point. */
void arena_defer(struct arena *a, arena_defer_fn *fn, void *p);

/* Mark / rewind: everything allocated (and deferred) after the mark is released. */
struct arena_mark arena_mark(struct arena *a);
void arena_rewind(struct arena *a, struct arena_mark m);

/* Peak bytes held by the arena's chunks since creation (for the access log and tests). */
size_t arena_high_water(const struct arena *a);

#endif
