/* tests/fuzz/chunks.c: the input cutter of chunks.h. */
#include "chunks.h"

void fuzz_chunks_init(struct fuzz_chunks *c, const uint8_t *data, size_t size, uint64_t salt)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ salt; /* FNV-1a */
    for (size_t i = 0; i < size; i++) {
        h = (h ^ data[i]) * 0x100000001b3ULL;
    }
    c->state = h ? h : 1;
    c->left = size;
}

uint64_t fuzz_chunks_rand(struct fuzz_chunks *c)
{
    c->state ^= c->state << 13;
    c->state ^= c->state >> 7;
    c->state ^= c->state << 17;
    return c->state;
}

size_t fuzz_chunks_next(struct fuzz_chunks *c)
{
    if (c->left == 0) {
        return 0;
    }
    uint64_t r = fuzz_chunks_rand(c);
    size_t n = (r & 7) == 0 ? (size_t)(r >> 8) % 4096 + 1 : (size_t)(r >> 8) % 16 + 1;
    if (n > c->left) {
        n = c->left;
    }
    c->left -= n;
    return n;
}
