/* tests/unit/util/test_log.c: logging (util/log.c): log_sanitize escapes client bytes for a
 * log line and truncates with "..." to the space given; events below the level are not
 * written; each event is one line with a timestamp and the level. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "util/compiler.h"
#include "util/log.h"
#include "util/slice.h"

struct sanitize_case {
    struct slice in;
    const char *out;
};

#define S(s)           \
  {                    \
    (s), sizeof(s) - 1 \
  }

static const struct sanitize_case escapes[] = {
    {S(""), ""},
    {S("GET"), "GET"},
    {S("/calendars/alice/home/"), "/calendars/alice/home/"},
    {S("a b"), "a\\x20b"},
    {S("say \"hi\""), "say\\x20\\x22hi\\x22"},
    {S("back\\slash"), "back\\x5cslash"},
    {S("line\r\nnext"), "line\\x0d\\x0anext"},
    {S("nul\0x"), "nul\\x00x"},
    {S("\x7f\x80\xff"), "\\x7f\\x80\\xff"},
    {S("caf\xC3\xA9"), "caf\\xc3\\xa9"},
    {S("key=value&x=1"), "key=value&x=1"},
};

static void test_log_sanitize_escapes_everything_but_printable_ascii(void **state)
{
    (void)state;
    for (size_t i = 0; i < ALM_ARRAY_LEN(escapes); i++) {
        char out[256];
        char *r = log_sanitize(escapes[i].in.ptr, escapes[i].in.len, out, sizeof(out));
        assert_ptr_equal(r, out);
        if (strcmp(out, escapes[i].out) != 0) {
            fail_msg("case %zu: got \"%s\", want \"%s\"", i, out, escapes[i].out);
        }
    }
}

/* Longer than fits: as much as fits with "..." after it, never more than size - 1 bytes,
 * and never half an escape. */
static void test_log_sanitize_truncates_with_an_ellipsis(void **state)
{
    (void)state;

    static const struct {
        struct slice in;
        size_t size;
        const char *out;
    } cases[] = {
        {S("abcdefghij"), 8, "abcd..."},        {S("abcdefghij"), 4, "..."},
        {S("abcdefghij"), 5, "a..."},           {S("ab cdefghij"), 9, "ab..."},
        {S("ab cdefghij"), 10, "ab\\x20..."},   {S("ab cdefghij"), 11, "ab\\x20c..."},
        {S("\n\n\n\n\n"), 12, "\\x0a\\x0a..."},
    };

    for (size_t i = 0; i < ALM_ARRAY_LEN(cases); i++) {
        char out[64];
        memset(out, '#', sizeof(out));
        log_sanitize(cases[i].in.ptr, cases[i].in.len, out, cases[i].size);
        if (strcmp(out, cases[i].out) != 0) {
            fail_msg("case %zu: got \"%s\", want \"%s\"", i, out, cases[i].out);
        }
        assert_true(strlen(out) < cases[i].size);
        assert_int_equal(out[cases[i].size], '#'); /* nothing written past size */
    }
    /* A long input in a typical field. */
    char big[5000];
    memset(big, 'z', sizeof(big));
    char out[128];
    log_sanitize(big, sizeof(big), out, sizeof(out));
    assert_int_equal(strlen(out), sizeof(out) - 1);
    assert_string_equal(out + sizeof(out) - 4, "...");
}

static void test_log_level_names_parse(void **state)
{
    (void)state;

    static const struct {
        const char *name;
        int rc;
        enum log_level level;
    } cases[] = {
        {"error", 0, LOG_ERROR}, {"warn", 0, LOG_WARN},   {"info", 0, LOG_INFO},
        {"debug", 0, LOG_DEBUG}, {"DEBUG", -1, LOG_INFO}, {"warning", -1, LOG_INFO},
        {"", -1, LOG_INFO},      {"info ", -1, LOG_INFO},
    };

    for (size_t i = 0; i < ALM_ARRAY_LEN(cases); i++) {
        enum log_level l = LOG_INFO;
        assert_int_equal(log_level_parse(cases[i].name, &l), cases[i].rc);
        assert_int_equal(l, cases[i].level);
    }
}

/* Everything written to the sink since it was opened. */
static size_t read_sink(FILE *f, char *out, size_t size)
{
    assert_int_equal(fflush(f), 0);
    rewind(f);
    size_t n = fread(out, 1, size - 1, f);
    out[n] = '\0';
    return n;
}

static void test_log_writes_one_line_per_event_at_or_above_the_level(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    assert_non_null(f);
    log_init(f, LOG_WARN);
    assert_true(log_enabled(LOG_ERROR));
    assert_true(log_enabled(LOG_WARN));
    assert_false(log_enabled(LOG_INFO));
    log_info("not written %d", 1);
    log_debug("not written %d", 2);
    log_warn("disk nearly full free=%d%%", 3);
    log_error("store failed rc=%s", "busy");
    char text[8192];
    read_sink(f, text, sizeof(text));
    /* "YYYY-MM-DDTHH:MM:SS.mmmZ level message\n", twice. */
    char *second = strchr(text, '\n');
    assert_non_null(second);
    second++;
    assert_int_equal(second - text, 24 + 1 + 4 + 1 + strlen("disk nearly full free=3%") + 1);
    assert_int_equal(text[4], '-');
    assert_int_equal(text[10], 'T');
    assert_int_equal(text[23], 'Z');
    assert_memory_equal(text + 24, " warn disk nearly full free=3%\n", 31);
    assert_memory_equal(second + 24, " error store failed rc=busy\n", 28);
    assert_int_equal(strlen(second), 24 + 28);
    /* Raised to debug, everything is written. */
    log_set_level(LOG_DEBUG);
    assert_true(log_enabled(LOG_DEBUG));
    log_debug("now %s", "written");
    read_sink(f, text, sizeof(text));
    assert_non_null(strstr(text, " debug now written\n"));
    assert_int_equal(fclose(f), 0);
    log_init(NULL, LOG_INFO);
}

/* An over-long event is cut, but stays one line. */
static void test_log_long_events_stay_one_line(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    assert_non_null(f);
    log_init(f, LOG_INFO);
    char big[5000];
    memset(big, 'q', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    log_info("big=%s", big);
    char text[8192];
    size_t n = read_sink(f, text, sizeof(text));
    assert_true(n > 1000 && n <= 2048);
    assert_int_equal(text[n - 1], '\n');
    assert_ptr_equal(strchr(text, '\n'), text + n - 1);
    assert_int_equal(fclose(f), 0);
    log_init(NULL, LOG_INFO);
}

/* A repeated event: the first occurrence is written, those within the interval are counted
 * and the next one written after it says how many were dropped. */
static void test_log_every_writes_once_per_interval_and_counts_the_rest(void **state)
{
    (void)state;
    static struct log_every e;
    unsigned long long dropped = 99;
    assert_true(log_every(&e, 200, &dropped));
    assert_int_equal(dropped, 0);
    for (int i = 0; i < 5; i++) {
        assert_false(log_every(&e, 200, &dropped));
    }
    struct timespec pause = {0, 250 * 1000000L};
    nanosleep(&pause, NULL);
    assert_true(log_every(&e, 200, &dropped));
    assert_int_equal(dropped, 5);
    assert_false(log_every(&e, 200, &dropped));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_sanitize_escapes_everything_but_printable_ascii),
        cmocka_unit_test(test_log_sanitize_truncates_with_an_ellipsis),
        cmocka_unit_test(test_log_level_names_parse),
        cmocka_unit_test(test_log_writes_one_line_per_event_at_or_above_the_level),
        cmocka_unit_test(test_log_long_events_stay_one_line),
        cmocka_unit_test(test_log_every_writes_once_per_interval_and_counts_the_rest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
