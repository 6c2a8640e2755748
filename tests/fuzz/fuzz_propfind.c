/* tests/fuzz/fuzz_propfind.c: PROPFIND bodies (RFC 4918 §9.1) through dav/propfind.c's own
 * reader and the streaming XML reader, without a server (davbody.h). Each input is read
 * whole and in pieces; both reads must reach the same verdict with the same condition, and a
 * refusal must name one. The selection itself is private to propfind.c; what it does with a
 * store is the integration tests' part. Seeds are in tests/fuzz/corpus/propfind/. */
#include <stdio.h>
#include <stdlib.h>

#include "chunks.h"
#include "davbody.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct err_cond *cond[2];
    int rc[2];
    char msg[2][sizeof(((struct err *)0)->msg)];
    for (uint64_t salt = 0; salt < 2; salt++) {
        struct arena *a = arena_create();
        struct dav_req *dr;
        struct err e;
        rc[salt] = fuzz_dav_read(&dav_propfind, data, size, salt, a, &dr, &e);
        cond[salt] = e.cond;
        snprintf(msg[salt], sizeof(msg[salt]), "%s", e.cond ? e.msg : "accepted");
        arena_destroy(&a);
    }
    if (rc[0] != rc[1] || cond[0] != cond[1]) {
        fprintf(stderr, "fuzz_propfind: whole: %s\nfuzz_propfind: in pieces: %s\n", msg[0], msg[1]);
        abort(); /* the pieces the body arrived in changed the verdict */
    }
    return 0;
}
