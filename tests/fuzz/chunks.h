/* tests/fuzz/chunks.h: how the fuzz targets of streaming parsers cut an input into the pieces
 * a request body arrives in. The cuts are drawn from a generator seeded by a hash of the whole
 * input, so every input (a plain seed file included) replays with the same cuts, and the
 * fuzzer explores cuts as it explores bytes. Sizes are mostly small (1-16 bytes: boundaries
 * inside names, references, varints) with an occasional large piece. */
#ifndef ALMANAC_TESTS_FUZZ_CHUNKS_H
#define ALMANAC_TESTS_FUZZ_CHUNKS_H

#include <stddef.h>
#include <stdint.h>

struct fuzz_chunks {
    uint64_t state; /* xorshift64 state, never 0 */
    size_t left;    /* bytes not yet handed out */
};

/* Starts cutting `size` bytes; `salt` gives a second, different cutting of the same input. */
void fuzz_chunks_init(struct fuzz_chunks *c, const uint8_t *data, size_t size, uint64_t salt);

/* The length of the next piece (1..left), or 0 once every byte has been handed out. */
size_t fuzz_chunks_next(struct fuzz_chunks *c);

/* A pseudo-random number from the same generator (for targets that need other choices). */
uint64_t fuzz_chunks_rand(struct fuzz_chunks *c);

#endif
