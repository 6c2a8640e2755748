/* tests/unit/store/test_store_imip.c: the iMIP outbox of store.h (issue 13 item 5;
 * schema/013_imip.sql) on a real store in a temporary directory: a queued message comes back
 * with its bytes when due and not before, in next_try order; a try is recorded (sent, queued
 * again later, failed), an admin's retry queues any message again from zero; the listing
 * shows every message without its bytes; unknown ids and empty fields are refused; the
 * queue outlives its principal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/store.h"
#include "util/sec.h"

struct fixture {
    char dir[64];
    struct store *s;
    struct arena *a;
    struct store_principal alice;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/almanac-imip-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(store_open(f->dir, &f->s, NULL), STORE_OK);
    f->a = arena_create();
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    assert_int_equal(store_principal_add(f->s, "alice", "h1", f->a, &f->alice), STORE_OK);
    assert_int_equal(store_commit(f->s), STORE_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    store_close(&f->s);
    arena_destroy(&f->a);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static uint64_t enqueue(struct fixture *f, const char *rcpt, const char *msg, int64_t next_try)
{
    struct store_imip_in in = {
        .principal = f->alice.id,
        .mail_from = "calendar@example.org",
        .rcpt_to = rcpt,
        .method = "REQUEST",
        .uid = "u1@example.org",
        .attendee = "mailto:x@outside.test",
        .message = msg,
        .size = strlen(msg),
        .next_try = next_try,
    };
    uint64_t id = 0;
    assert_int_equal(store_imip_enqueue(f->s, &in, &id), STORE_OK);
    assert_true(id > 0);
    return id;
}

static void test_store_imip_due_in_next_try_order_with_bytes(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    uint64_t late = enqueue(f, "late@outside.test", "Subject: late\r\n\r\nB\r\n", 2000);
    uint64_t early = enqueue(f, "early@outside.test", "Subject: early\r\n\r\nA\r\n", 1000);
    assert_int_equal(store_commit(f->s), STORE_OK);
    struct store_imip_msg m;
    int64_t t = 0;
    assert_int_equal(store_begin_read(f->s), STORE_OK);
    assert_int_equal(store_imip_next_due(f->s, 999, f->a, &m), STORE_NOTFOUND);
    assert_int_equal(store_imip_next_time(f->s, &t), STORE_OK);
    assert_int_equal(t, 1000);
    assert_int_equal(store_imip_next_due(f->s, 5000, f->a, &m), STORE_OK);
    assert_int_equal(m.id, early);
    assert_string_equal(m.rcpt_to, "early@outside.test");
    assert_string_equal(m.mail_from, "calendar@example.org");
    assert_string_equal(m.attendee, "mailto:x@outside.test");
    assert_int_equal(m.principal, f->alice.id);
    assert_int_equal(m.size, strlen("Subject: early\r\n\r\nA\r\n"));
    assert_memory_equal(m.message, "Subject: early\r\n\r\nA\r\n", m.size);
    assert_int_equal(m.state, STORE_IMIP_QUEUED);
    assert_int_equal(m.attempts, 0);
    assert_null(m.last_error);
    store_rollback(f->s);
    /* sent: no longer due; the late one is next */
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    assert_int_equal(store_imip_tried(f->s, early, STORE_IMIP_SENT, 1001, 1001, NULL), STORE_OK);
    assert_int_equal(store_imip_next_due(f->s, 5000, f->a, &m), STORE_OK);
    assert_int_equal(m.id, late);
    /* a failed try: queued again at 3000, the error kept, one attempt counted */
    assert_int_equal(
        store_imip_tried(f->s, late, STORE_IMIP_QUEUED, 2001, 3000, "connection refused"),
        STORE_OK);
    assert_int_equal(store_imip_next_due(f->s, 2999, f->a, &m), STORE_NOTFOUND);
    assert_int_equal(store_imip_next_due(f->s, 3000, f->a, &m), STORE_OK);
    assert_int_equal(m.attempts, 1);
    assert_string_equal(m.last_error, "connection refused");
    /* given up: never due again */
    assert_int_equal(store_imip_tried(f->s, late, STORE_IMIP_FAILED, 3001, 3001, "too old"),
                     STORE_OK);
    assert_int_equal(store_imip_next_due(f->s, INT64_MAX, f->a, &m), STORE_NOTFOUND);
    assert_int_equal(store_imip_next_time(f->s, &t), STORE_NOTFOUND);
    assert_int_equal(store_imip_get(f->s, late, f->a, &m), STORE_OK);
    assert_int_equal(m.state, STORE_IMIP_FAILED);
    assert_int_equal(m.attempts, 2);
    assert_null(m.message);
    /* the admin's retry: due at once, counted from zero */
    assert_int_equal(store_imip_retry(f->s, late, 4000), STORE_OK);
    assert_int_equal(store_imip_next_due(f->s, 4000, f->a, &m), STORE_OK);
    assert_int_equal(m.id, late);
    assert_int_equal(m.attempts, 0);
    assert_int_equal(m.created, 4000);
    assert_int_equal(store_commit(f->s), STORE_OK);
}

/* A claim moves a due message out of every sender's way until its lease ends; a second
 * claim, or a claim of a message not due or not queued, changes nothing. */
static void test_store_imip_claim_takes_a_due_message_once(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    uint64_t id = enqueue(f, "claim@outside.test", "Subject: c\r\n\r\nC\r\n", 1000);
    assert_int_equal(store_imip_claim(f->s, id, 999, 2000), STORE_NOTFOUND); /* not due yet */
    assert_int_equal(store_imip_claim(f->s, id, 1000, 1300), STORE_OK);
    assert_int_equal(store_imip_claim(f->s, id, 1000, 1600), STORE_NOTFOUND); /* taken */
    struct store_imip_msg m;
    assert_int_equal(store_imip_next_due(f->s, 1299, f->a, &m), STORE_NOTFOUND);
    assert_int_equal(store_imip_next_due(f->s, 1300, f->a, &m), STORE_OK); /* the lease ended */
    assert_int_equal(m.id, id);
    assert_int_equal(m.attempts, 0); /* a claim is not a try */
    assert_int_equal(store_imip_tried(f->s, id, STORE_IMIP_SENT, 1301, 1301, NULL), STORE_OK);
    assert_int_equal(store_imip_claim(f->s, id, 5000, 6000), STORE_NOTFOUND); /* sent */
    assert_int_equal(store_imip_claim(f->s, id + 1, 5000, 6000), STORE_NOTFOUND);
    assert_int_equal(store_commit(f->s), STORE_OK);
}

struct list {
    char text[512];
};

static int add_row(void *ctx, const struct store_imip_msg *m)
{
    struct list *l = ctx;
    size_t n = strlen(l->text);
    snprintf(l->text + n, sizeof(l->text) - n, "%llu %s %s %d %u %s;", (unsigned long long)m->id,
             m->rcpt_to, m->method, (int)m->state, m->attempts,
             m->last_error ? m->last_error : "-");
    assert_null(m->message);
    return 0;
}

static void test_store_imip_lists_refuses_and_outlives_principal(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_begin_write(f->s), STORE_OK);
    uint64_t a = enqueue(f, "a@outside.test", "x", 10);
    uint64_t b = enqueue(f, "b@outside.test", "y", 10);
    assert_int_equal(store_imip_tried(f->s, b, STORE_IMIP_QUEUED, 11, 20, "421 busy"), STORE_OK);
    assert_int_equal(store_imip_tried(f->s, 999999, STORE_IMIP_SENT, 11, 11, NULL), STORE_NOTFOUND);
    assert_int_equal(store_imip_retry(f->s, 999999, 11), STORE_NOTFOUND);
    struct store_imip_in empty = {.mail_from = "c@example.org",
                                  .rcpt_to = "",
                                  .method = "REPLY",
                                  .uid = "u",
                                  .message = "m",
                                  .size = 1};
    assert_int_equal(store_imip_enqueue(f->s, &empty, NULL), STORE_LIMIT);
    struct list l = {""};
    assert_int_equal(store_imip_list(f->s, add_row, &l), STORE_OK);
    char want[256];
    snprintf(want, sizeof(want),
             "%llu a@outside.test REQUEST 0 0 -;%llu b@outside.test REQUEST 0 1 421 busy;",
             (unsigned long long)a, (unsigned long long)b);
    assert_string_equal(l.text, want);
    /* the principal goes, its messages stay (they may still be owed to someone outside) */
    assert_int_equal(store_principal_del(f->s, "alice"), STORE_OK);
    struct store_imip_msg m;
    assert_int_equal(store_imip_get(f->s, a, f->a, &m), STORE_OK);
    assert_int_equal(m.principal, 0);
    assert_int_equal(store_commit(f->s), STORE_OK);
}

int main(void)
{
    assert_int_equal(sec_init(), 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_store_imip_due_in_next_try_order_with_bytes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_imip_claim_takes_a_due_message_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_imip_lists_refuses_and_outlives_principal, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
