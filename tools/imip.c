/* tools/imip.c: `almanac imip queue|retry` and `almanac imip-deliver` (see imip.h). The queue
 * is the store's (store_imip_*); what an incoming message does is calstore's. */
#include "tools/imip.h"

#include <string.h>

#include "calstore/imip.h"
#include "util/arena.h"
#include "util/timeutil.h"

static const char *state_name(enum store_imip_state st)
{
    switch (st) {
    case STORE_IMIP_QUEUED:
        return "queued";
    case STORE_IMIP_SENT:
        return "sent";
    case STORE_IMIP_FAILED:
        return "failed";
    }
    return "?";
}

/* A field for a tab-separated line: tabs and line ends become spaces. */
static void put_field(const char *v)
{
    for (const char *p = v ? v : ""; *p; p++) {
        putchar(*p == '\t' || *p == '\n' || *p == '\r' ? ' ' : *p);
    }
}

static int print_row(void *ctx, const struct store_imip_msg *m)
{
    (void)ctx;
    char next[32] = "-";
    if (m->state == STORE_IMIP_QUEUED) {
        time_rfc3339(m->next_try, next, sizeof(next));
    }
    printf("%llu\t%s\t%s\t%u\t%s\t%s\t", (unsigned long long)m->id, m->rcpt_to, m->method,
           m->attempts, next, state_name(m->state));
    put_field(m->last_error ? m->last_error : "-");
    putchar('\n');
    return 0;
}

int imip_queue_list(struct store *s)
{
    enum store_rc rc = store_begin_read(s);
    if (rc == STORE_OK) {
        printf("id\trecipient\tmethod\tattempts\tnext_try\tstate\tlast_error\n");
        rc = store_imip_list(s, print_row, NULL);
    }
    if (rc != STORE_OK) {
        fprintf(stderr, "almanac: %s\n", store_last_error(s));
    }
    store_rollback(s);
    return rc == STORE_OK ? 0 : 2;
}

int imip_retry(struct store *s, uint64_t id)
{
    enum store_rc rc = store_begin_write(s);
    if (rc == STORE_OK) {
        rc = store_imip_retry(s, id, time_now());
    }
    if (rc == STORE_OK) {
        rc = store_commit(s);
    }
    if (rc == STORE_NOTFOUND) {
        fprintf(stderr, "almanac: no imip message %llu\n", (unsigned long long)id);
    } else if (rc != STORE_OK) {
        fprintf(stderr, "almanac: %s\n", store_last_error(s));
    }
    store_rollback(s);
    if (rc == STORE_OK) {
        printf("imip message %llu queued, due now\n", (unsigned long long)id);
    }
    return rc == STORE_OK ? 0 : 2;
}

/* The exit code of a refusal: the condition's documented name says which. */
static int refusal_code(enum calstore_rc rc, const struct err *e)
{
    if (rc == CALSTORE_DENIED && e->cond && strcmp(e->cond->name, "imip-sender-mismatch") == 0) {
        return TOOLS_EX_NOPERM;
    }
    if (rc == CALSTORE_DENIED && e->cond && strcmp(e->cond->name, "imip-no-recipient") == 0) {
        return TOOLS_EX_NOUSER;
    }
    return TOOLS_EX_DATAERR;
}

int imip_deliver(struct store *s, FILE *in)
{
    struct arena *a = arena_create();
    char *msg = arena_alloc(a, CALSTORE_IMIP_MAX_MESSAGE + 1);
    size_t n = fread(msg, 1, CALSTORE_IMIP_MAX_MESSAGE + 1, in);
    int status = 0;
    if (ferror(in)) {
        fprintf(stderr, "almanac: imip-deliver: cannot read the message\n");
        status = TOOLS_EX_TEMPFAIL;
    } else if (n > CALSTORE_IMIP_MAX_MESSAGE) {
        fprintf(stderr, "almanac: imip-deliver: the message passes %d bytes\n",
                CALSTORE_IMIP_MAX_MESSAGE);
        status = TOOLS_EX_DATAERR;
    }
    if (status != 0) {
        arena_destroy(&a);
        return status;
    }
    struct calstore_imip_result r;
    struct calstore_res res;
    struct err e;
    err_init(&e);
    enum store_rc src = store_begin_write(s);
    enum calstore_rc rc = CALSTORE_STORE;
    if (src == STORE_OK) {
        rc = calstore_imip_receive(s, (struct slice){msg, n}, a, &r, &res, &e);
        src = rc == CALSTORE_STORE ? res.store_rc : STORE_OK;
    }
    if (rc == CALSTORE_OK) {
        src = store_commit(s);
        rc = src == STORE_OK ? CALSTORE_OK : CALSTORE_STORE;
    }
    if (rc == CALSTORE_STORE) {
        fprintf(stderr, "almanac: imip-deliver: the store %s, try again later: %s\n",
                src == STORE_BUSY          ? "is busy"
                : src == STORE_UNAVAILABLE ? "cannot be reached"
                                           : "failed",
                store_last_error(s));
        status = TOOLS_EX_TEMPFAIL;
    } else if (rc != CALSTORE_OK) {
        fprintf(stderr, "almanac: imip-deliver: refused (%s): %s\n",
                e.cond ? e.cond->name : "invalid", e.msg);
        status = refusal_code(rc, &e);
    } else {
        printf("imip %s %s from %s: delivered to %zu user(s)\n", r.method, r.uid, r.from,
               r.delivered);
    }
    store_rollback(s);
    arena_destroy(&a);
    return status;
}
