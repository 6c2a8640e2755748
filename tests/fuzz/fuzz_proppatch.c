/* tests/fuzz/fuzz_proppatch.c: PROPPATCH bodies (RFC 4918 §9.2) through dav/proppatch.c's
 * property update reader (also MKCALENDAR's and extended MKCOL's), without a server
 * (davbody.h). Each input is read whole and in pieces: both reads must reach the same verdict
 * with the same condition and, when accepted, the same instructions (dav_propupdate_get:
 * operation, name, text, child values, dt:dt). Every instruction has a name, and the value a
 * set instruction stores (dav_propupdate_take: serialized XML, written back verbatim inside
 * PROPFIND answers) must itself be well-formed XML, which the streaming reader checks.
 * Violations abort(). Seeds are in tests/fuzz/corpus/proppatch/. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chunks.h"
#include "davbody.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t mix(uint64_t h, const char *s)
{
    for (const char *p = s; *p; p++) {
        h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
    }
    return (h ^ 0xff) * 0x100000001b3ULL; /* a separator no string byte equals */
}

/* A stored value reads back as XML: wrapped in one element, as a PROPFIND writes it. */
static void check_value(const char *value)
{
    static const struct xmlin_handler none = {0};
    const struct xmlin_limits lim = {
        .max_bytes = 8 << 20,
        .max_depth = 256,
        .max_elements = 1 << 20,
        .max_text = 8 << 20,
    };
    struct xmlin *r = xmlin_create(&lim, &none, NULL);
    struct err e;
    err_init(&e);
    int rc = xmlin_feed(r, "<w xmlns:D=\"DAV:\">", 18, &e);
    rc = rc ? rc : xmlin_feed(r, value, strlen(value), &e);
    rc = rc ? rc : xmlin_feed(r, "</w>", 4, &e);
    rc = rc ? rc : xmlin_finish(r, &e);
    xmlin_destroy(&r);
    if (rc != 0) {
        abort(); /* a stored value that is not XML */
    }
}

/* Hashes the instructions, checking each. */
static uint64_t instructions(struct dav_propupdate *pu)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    struct dav_pp_instr in;
    for (size_t i = 0; dav_propupdate_get(pu, i, &in); i++) {
        if (!in.ns || !in.name || !in.name[0] || !in.text || in.claimed ||
            (in.nvalues && !in.values)) {
            abort();
        }
        h = mix(h, in.remove ? "-" : "+");
        h = mix(h, in.ns);
        h = mix(h, in.name);
        h = mix(h, in.text);
        h = mix(h, in.dt ? in.dt : "(none)");
        for (size_t k = 0; k < in.nvalues; k++) {
            h = mix(h, in.values[k]);
        }
        if (!in.remove) {
            const char *v = dav_propupdate_take(pu, in.ns, in.name);
            if (!v) {
                abort(); /* a set instruction without its value */
            }
            check_value(v);
        }
    }
    return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct err_cond *cond[2];
    int rc[2];
    char msg[2][sizeof(((struct err *)0)->msg)];
    uint64_t h[2] = {0, 0};
    for (uint64_t salt = 0; salt < 2; salt++) {
        struct arena *a = arena_create();
        struct dav_req *dr;
        struct err e;
        rc[salt] = fuzz_dav_read(&dav_proppatch, data, size, salt, a, &dr, &e);
        cond[salt] = e.cond;
        snprintf(msg[salt], sizeof(msg[salt]), "%s", e.cond ? e.msg : "accepted");
        if (rc[salt] == 0) {
            h[salt] = instructions(dr->mstate);
        }
        arena_destroy(&a);
    }
    if (rc[0] != rc[1] || cond[0] != cond[1] || h[0] != h[1]) {
        fprintf(stderr, "fuzz_proppatch: whole: %s\nfuzz_proppatch: in pieces: %s\n", msg[0],
                msg[1]);
        abort(); /* the pieces the body arrived in changed what was read */
    }
    return 0;
}
