/* tests/unit/sched/test_imip.c: iMIP messages (sched/imip.h; RFC 6047): the message built
 * for an outside calendar user (RFC 5322 headers, multipart/alternative of text/plain and
 * text/calendar with charset and method, RFC 6047 §2.4; CRLF lines; lines folded at 75
 * octets without splitting UTF-8, RFC 5545 §3.1; an RFC 2047 subject and base64 parts when
 * not ASCII; the subject by method and PARTSTAT), read back by the parser; the parser's
 * table of valid inputs (7bit, quoted-printable, base64, nested multipart, an mbox "From "
 * line, a display name) and invalid ones (each with the reason it gives); mailbox()'s
 * accepted and refused addresses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sched/imip.h"
#include "util/sec.h"

#define HEAD "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Almanac tests//EN\r\n"
#define TAIL "END:VCALENDAR\r\n"

static const char REQUEST[] =
    HEAD "METHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:u1@example.org\r\nDTSTAMP:20270101T000000Z\r\n"
         "SEQUENCE:0\r\nDTSTART:20270105T100000Z\r\nSUMMARY:Sync\\, weekly\r\n"
         "LOCATION:Room 1\r\nORGANIZER:mailto:alice@example.org\r\n"
         "ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:x@outside.test\r\nEND:VEVENT\r\n" TAIL;

struct fixture {
    struct arena *a;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->a = arena_create();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    arena_destroy(&f->a);
    free(f);
    return 0;
}

static struct slice build(struct fixture *f, enum sched_method m, const char *ics)
{
    struct sched_imip_out out = {
        .from = "mailto:alice@example.org",
        .to = "mailto:X@Outside.test",
        .sender = "calendar@example.org",
        .method = m,
        .ics = slice_from_cstr(ics),
        .date = 1798761600, /* 2027-01-01 */
    };
    struct slice msg;
    struct err e;
    err_init(&e);
    assert_int_equal(sched_imip_build(&out, f->a, &msg, &e), 0);
    return msg;
}

static bool has(struct slice s, const char *needle)
{
    return slice_contains(s, slice_from_cstr(needle));
}

/* Every line ends in CRLF, no bare LF or CR anywhere. */
static void assert_crlf_only(struct slice s)
{
    for (size_t i = 0; i < s.len; i++) {
        if (s.ptr[i] == '\n') {
            assert_true(i > 0 && s.ptr[i - 1] == '\r');
        }
        if (s.ptr[i] == '\r') {
            assert_true(i + 1 < s.len && s.ptr[i + 1] == '\n');
        }
    }
}

/* RFC 6047 §2.4: multipart/alternative of text/plain and text/calendar; method=... */
static void test_imip_request_message_structure(void **state)
{
    struct fixture *f = *state;
    struct slice msg = build(f, SCHED_REQUEST, REQUEST);
    assert_crlf_only(msg);
    assert_true(has(msg, "From: <alice@example.org>\r\n"));
    assert_true(has(msg, "Sender: <calendar@example.org>\r\n"));
    assert_true(has(msg, "Reply-To: <alice@example.org>\r\n"));
    assert_true(has(msg, "To: <X@Outside.test>\r\n"));
    assert_true(has(msg, "Subject: Invitation: Sync, weekly\r\n"));
    assert_true(has(msg, "Date: Fri, 01 Jan 2027 00:00:00 +0000\r\n"));
    assert_true(has(msg, ".imip@example.org>\r\n")); /* Message-ID in the sender's domain */
    assert_true(has(msg, "MIME-Version: 1.0\r\n"));
    assert_true(has(msg, "Content-Type: multipart/alternative; boundary=\"=_almanac_"));
    const char *plain = strstr(msg.ptr, "Content-Type: text/plain; charset=UTF-8\r\n");
    const char *cal =
        strstr(msg.ptr, "Content-Type: text/calendar; charset=UTF-8; method=REQUEST\r\n"
                        "Content-Transfer-Encoding: 7bit\r\n\r\n" HEAD "METHOD:REQUEST\r\n");
    assert_non_null(plain);
    assert_non_null(cal);
    assert_true(plain < cal);
    assert_true(has(msg, "Invitation: Sync, weekly\r\nFrom: alice@example.org\r\n"
                         "When: 20270105T100000Z\r\nWhere: Room 1\r\n"));
    /* the close delimiter ends the message */
    const char *b = strstr(msg.ptr, "boundary=\"") + 10;
    char close[64];
    snprintf(close, sizeof(close), "--%.*s--\r\n", (int)strcspn(b, "\""), b);
    assert_int_equal(strlen(close) <= msg.len, 1);
    assert_string_equal(msg.ptr + msg.len - strlen(close), close);
    /* read back: the calendar as it was, From and method */
    struct sched_imip_in in;
    struct err e;
    err_init(&e);
    assert_int_equal(sched_imip_parse(msg, f->a, &in, &e), 0);
    assert_string_equal(in.from, "alice@example.org");
    assert_string_equal(in.method, "REQUEST");
    assert_int_equal(in.ics.len, strlen(REQUEST));
    assert_memory_equal(in.ics.ptr, REQUEST, in.ics.len);
}

/* RFC 5545 §3.1: folded at 75 octets, never inside a UTF-8 sequence; RFC 2047 subject;
 * base64 parts when not ASCII, read back to the same text */
static void test_imip_folds_and_encodes_non_ascii(void **state)
{
    struct fixture *f = *state;
    char summary[400];
    for (int i = 0; i < 40; i++) {
        memcpy(summary + 2 * i, "\xc3\xa9", 2); /* é, 2 octets each: 80 octets */
    }
    summary[80] = '\0';
    char ics[2048];
    snprintf(ics, sizeof(ics),
             HEAD "METHOD:CANCEL\nBEGIN:VEVENT\nUID:u2@example.org\nSEQUENCE:3\n"
                  "SUMMARY:%s\nORGANIZER:mailto:alice@example.org\n"
                  "ATTENDEE:mailto:x@outside.test\nEND:VEVENT\n" TAIL,
             summary);
    struct slice msg = build(f, SCHED_CANCEL, ics);
    assert_crlf_only(msg);
    assert_true(has(msg, "Subject: =?UTF-8?B?"));
    assert_true(has(msg, "?=\r\n =?UTF-8?B?")); /* more than one encoded word, folded */
    assert_true(has(msg, "method=CANCEL\r\nContent-Transfer-Encoding: base64\r\n"));
    struct sched_imip_in in;
    struct err e;
    err_init(&e);
    assert_int_equal(sched_imip_parse(msg, f->a, &in, &e), 0);
    assert_string_equal(in.method, "CANCEL");
    /* every line at most 75 octets, continuation lines start with a space, UTF-8 intact */
    size_t col = 0;
    bool folded = false;
    for (size_t i = 0; i < in.ics.len; i++) {
        if (in.ics.ptr[i] == '\r') {
            assert_true(col <= 75);
            assert_int_equal(in.ics.ptr[i + 1], '\n');
            folded |= in.ics.ptr[i + 2] == ' ';
            if (in.ics.ptr[i + 2] == ' ') {
                /* never before a UTF-8 continuation byte */
                assert_true(((unsigned char)in.ics.ptr[i + 3] & 0xc0) != 0x80);
            }
            col = 0;
            i++;
            continue;
        }
        col++;
    }
    assert_true(folded);
    assert_true(has(in.ics, "\r\nUID:u2@example.org\r\n"));
}

/* The subject says what the message is: an update by SEQUENCE, a reply by PARTSTAT, and a
 * reply without SUMMARY takes it from `about` */
static void test_imip_subject_by_method(void **state)
{
    struct fixture *f = *state;
    static const char update[] =
        HEAD "METHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:u3\r\nSEQUENCE:2\r\nSUMMARY:Sync\r\n"
             "ORGANIZER:mailto:alice@example.org\r\nEND:VEVENT\r\n" TAIL;
    assert_true(has(build(f, SCHED_REQUEST, update), "Subject: Updated invitation: Sync\r\n"));
    static const char reply[] =
        HEAD "METHOD:REPLY\r\nBEGIN:VEVENT\r\nUID:u3\r\nORGANIZER:mailto:x@outside.test\r\n"
             "ATTENDEE;PARTSTAT=DECLINED:mailto:alice@example.org\r\nEND:VEVENT\r\n" TAIL;
    assert_true(has(build(f, SCHED_REPLY, reply), "Subject: Declined: (no title)\r\n"));
    struct sched_imip_out out = {
        .from = "mailto:alice@example.org",
        .to = "mailto:x@outside.test",
        .method = SCHED_REPLY,
        .ics = slice_from_cstr(reply),
        .about = slice_from_cstr(update),
        .date = 0,
    };
    struct slice msg;
    struct err e;
    err_init(&e);
    assert_int_equal(sched_imip_build(&out, f->a, &msg, &e), 0);
    assert_true(has(msg, "Subject: Declined: Sync\r\n"));
    assert_false(has(msg, "Sender:")); /* no sender: From alone */
}

static void test_imip_build_refuses_bad_addresses(void **state)
{
    struct fixture *f = *state;
    static const char *const bad[] = {"bob@example.org", "mailto:",          "mailto:a b@x.org",
                                      "mailto:a@b@c",    "mailto:<a@x.org>", "/principals/bob/",
                                      "mailto:@x.org",   "mailto:a@"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_null(sched_imip_mailbox(bad[i], f->a));
        struct sched_imip_out out = {.from = "mailto:a@example.org",
                                     .to = bad[i],
                                     .method = SCHED_REQUEST,
                                     .ics = slice_from_cstr(REQUEST)};
        struct slice msg;
        struct err e;
        err_init(&e);
        assert_int_equal(sched_imip_build(&out, f->a, &msg, &e), -1);
        assert_ptr_equal(e.cond, &sched_cond_imip_bad_message);
    }
    assert_string_equal(sched_imip_mailbox("MAILTO:Bob@Example.org", f->a), "Bob@Example.org");
}

struct parse_case {
    const char *msg;
    const char *from; /* NULL: refused */
    const char *ics_or_reason;
};

#define CAL "BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nEND:VCALENDAR\r\n"

static const struct parse_case parse_cases[] = {
    {"From: x@outside.test\r\nContent-Type: text/calendar; method=reply\r\n\r\n" CAL,
     "x@outside.test", CAL},
    {"From Mallory Sat Jan  1 00:00:00 2027\r\nFrom: \"X, Y\" <X@Outside.Test>\r\n"
     "Content-Type: multipart/mixed; boundary=\"o\"\r\n\r\npreamble\r\n--o\r\n"
     "Content-Type: multipart/alternative; boundary=i\r\n\r\n--i\r\n"
     "Content-Type: text/plain\r\n\r\nhello\r\n--i\r\nContent-Type: text/calendar\r\n"
     "Content-Transfer-Encoding: quoted-printable\r\n\r\nBEGIN:VCALENDAR=0D=0AMETHOD:REPLY=\r\n"
     "=0D=0AEND:VCALENDAR=0D=0A\r\n--i--\r\n--o--\r\n",
     "x@outside.test", CAL},
    {"from: y@outside.test (Y)\r\nContent-Type: text/calendar\r\n"
     "Content-Transfer-Encoding: BASE64\r\n\r\n"
     "QkVHSU46VkNBTEVOREFSDQpNRVRIT0Q6UkVQTFkNCkVORDpWQ0FMRU5EQVINCg==\r\n",
     "y@outside.test", CAL},
    {"Content-Type: text/calendar\r\n\r\n" CAL, NULL, "no From address"},
    {"From: x@outside.test\r\nSubject: hi\r\n\r\nhello\r\n", NULL, "no text/calendar part"},
    {"From: x@outside.test\r\nContent-Type: text/calendar\r\n", NULL, "headers do not end"},
    {"From: x@outside.test\r\nbroken header\r\n\r\n", NULL, "without ':'"},
    {"From: x@outside.test\r\nContent-Type: text/calendar\r\n"
     "Content-Transfer-Encoding: x-uuencode\r\n\r\nabc\r\n",
     NULL, "unsupported Content-Transfer-Encoding x-uuencode"},
    {"From: x@outside.test\r\nContent-Type: text/calendar\r\n"
     "Content-Transfer-Encoding: base64\r\n\r\n!!!!\r\n",
     NULL, "not valid base64"},
    {"From: x@outside.test\r\nContent-Type: multipart/mixed\r\n\r\n--\r\n", NULL,
     "without a boundary"},
};

static void test_imip_parse_table(void **state)
{
    struct fixture *f = *state;
    for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
        const struct parse_case *c = &parse_cases[i];
        struct sched_imip_in in;
        struct err e;
        err_init(&e);
        int rc = sched_imip_parse(slice_from_cstr(c->msg), f->a, &in, &e);
        if (c->from) {
            if (rc != 0) {
                fail_msg("case %zu: %s", i, e.msg);
            }
            assert_string_equal(in.from, c->from);
            assert_int_equal(in.ics.len, strlen(c->ics_or_reason));
            assert_memory_equal(in.ics.ptr, c->ics_or_reason, in.ics.len);
        } else {
            assert_int_equal(rc, -1);
            assert_ptr_equal(e.cond, &sched_cond_imip_bad_message);
            if (!strstr(e.msg, c->ics_or_reason)) {
                fail_msg("case %zu: '%s' does not say '%s'", i, e.msg, c->ics_or_reason);
            }
        }
    }
}

int main(void)
{
    assert_int_equal(sec_init(), 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_imip_request_message_structure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_imip_folds_and_encodes_non_ascii, setup, teardown),
        cmocka_unit_test_setup_teardown(test_imip_subject_by_method, setup, teardown),
        cmocka_unit_test_setup_teardown(test_imip_build_refuses_bad_addresses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_imip_parse_table, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
