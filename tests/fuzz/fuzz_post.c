/* tests/fuzz/fuzz_post.c: CalDAV POST bodies through the "/" route in process, over a real
 * store (routes.h): Apple's sharing (caldav/share.c reads CS:share and CS:invite-reply) and
 * the schedule outbox's free-busy request (caldav/sched.c, sched_freebusy_request). The
 * first byte of an input picks the request: 0, CS:share to alice's calendar; 1,
 * CS:invite-reply to alice's home; 2, a text/calendar free-busy request to alice's outbox;
 * 3, a text/calendar body to her calendar (not an outbox: 405). The rest is the body. Each
 * input must hold:
 * - never a 5xx nor a cut stream: client bytes are a 4xx with a named condition, or a 2xx;
 * - the free-busy kinds (2, 3) run twice, the body whole and in pieces of 1 to 16 bytes,
 *   with the same status and condition, and never write (the fingerprint of alice's data
 *   is unchanged). The sharing kinds change grants (bob's home, not alice's data), so their
 *   second run may rightly differ and only the first invariant holds.
 * Violations abort(). Seeds are in tests/fuzz/corpus/post/. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chunks.h"
#include "routes.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t fingerprint;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_routes_open();
    fingerprint = fuzz_routes_fingerprint();
    return 0;
}

static void check_answer(const struct http_test_resp *r)
{
    if (r->status >= 500 || r->stream_failed) {
        fprintf(stderr, "fuzz_post: %u %s\n%s\n", r->status, r->cond ? r->cond : "-", r->body);
        abort(); /* client bytes are never a server error, nor a cut stream */
    }
    if (r->status >= 300 && !r->cond) {
        fprintf(stderr, "fuzz_post: %u without a condition\n", r->status);
        abort(); /* a refusal names its condition */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }

    static const struct {
        const char *target;
        const char *type;
        bool reads; /* never writes: runs twice, whole and in pieces */
    } kinds[] = {
        {"/calendars/alice/cal/", "text/xml; charset=\"utf-8\"", false},
        {"/calendars/alice/", "text/xml; charset=\"utf-8\"", false},
        {"/calendars/alice/outbox/", "text/calendar; charset=utf-8", true},
        {"/calendars/alice/cal/", "text/calendar; charset=utf-8", true},
    };

    unsigned k = data[0] % 4;
    const char *const headers[] = {"Content-Type", kinds[k].type, NULL};
    struct arena *a = arena_create();
    struct http_test_resp whole =
        fuzz_routes_run("POST", kinds[k].target, headers, data + 1, size - 1, 0, a);
    check_answer(&whole);
    if (getenv("FUZZ_SHOW")) {
        fprintf(stderr, "fuzz_post: %s %u %s\n", kinds[k].target, whole.status,
                whole.cond ? whole.cond : "");
    }
    if (kinds[k].reads) {
        struct fuzz_chunks c;
        fuzz_chunks_init(&c, data, size, 1);
        size_t piece = (size_t)(fuzz_chunks_rand(&c) % 16) + 1;
        struct http_test_resp cut =
            fuzz_routes_run("POST", kinds[k].target, headers, data + 1, size - 1, piece, a);
        check_answer(&cut);
        if (whole.status != cut.status || (whole.cond == NULL) != (cut.cond == NULL) ||
            (whole.cond && strcmp(whole.cond, cut.cond) != 0)) {
            fprintf(stderr, "fuzz_post: whole %u %s, in pieces of %zu %u %s\n", whole.status,
                    whole.cond ? whole.cond : "-", piece, cut.status, cut.cond ? cut.cond : "-");
            abort(); /* the pieces a body arrives in changed the answer */
        }
        if (fuzz_routes_fingerprint() != fingerprint) {
            abort(); /* a free-busy request wrote to the store */
        }
    }
    arena_destroy(&a);
    return 0;
}
