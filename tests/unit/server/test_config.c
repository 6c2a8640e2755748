/* tests/unit/server/test_config.c: the configuration table (server/config.c): defaults,
 * the file syntax and its errors (file:line: key), bounds, size suffixes, strings that must
 * fit, --print-config reading back, and docs/config.md holding exactly the generated table
 * (found through ALMANAC_SOURCE_DIR, which ctest sets to the source root). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/config.h"
#include "util/err.h"

struct fixture {
    char dir[64];   /* mkdtemp */
    char path[128]; /* dir/almanac.conf */
};

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/almanac-config-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    int n = snprintf(fx->path, sizeof(fx->path), "%s/almanac.conf", fx->dir);
    assert_true(n > 0 && (size_t)n < sizeof(fx->path));
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    unlink(fx->path);
    rmdir(fx->dir);
    free(fx);
    return 0;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

/* Loads `text` over the defaults; returns config_load_file's result, err in *e. */
static int load_text(const struct fixture *fx, const char *text, struct config *c, struct err *e)
{
    write_file(fx->path, text);
    config_defaults(c);
    err_init(e);
    return config_load_file(c, fx->path, e);
}

static int set1(struct config *c, const char *key, const char *value)
{
    struct err e;
    err_init(&e);
    int rc = config_set(c, key, value, &e);
    assert_true(rc == 0 ? e.cond == NULL : e.cond == &err_cond_bad_request);
    return rc;
}

static void test_config_defaults_match_the_header(void **state)
{
    (void)state;
    struct config c;
    config_defaults(&c);
    assert_string_equal(c.listen, "127.0.0.1:8008");
    assert_string_equal(c.data_dir, "./data");
    assert_int_equal(c.workers, 16);
    assert_string_equal(c.log_level, "info");
    assert_string_equal(c.realm, "Almanac");
    assert_int_equal(c.max_connections, 1024);
    assert_int_equal(c.per_ip_connections, 256);
    assert_int_equal(c.idle_timeout, 120);
    assert_int_equal(c.shutdown_grace, 10);
    assert_int_equal(c.max_header_bytes, 32768);
    assert_int_equal(c.max_path_bytes, 4096);
    assert_int_equal(c.xml_max_body, (size_t)512 << 20);
    assert_int_equal(c.xml_max_depth, 64);
    assert_int_equal(c.xml_max_elements, 4000000);
    assert_int_equal(c.xml_max_text, (size_t)1 << 20);
    assert_int_equal(c.max_resource_size, (size_t)10 << 20);
    assert_int_equal(c.max_dead_props, 256);
    assert_int_equal(c.max_multiget_hrefs, 100000);
    assert_int_equal(c.auth_cache_ttl, 300);
    assert_int_equal(c.auth_fail_window, 900);
    assert_int_equal(c.auth_fail_addr_limit, 10);
    assert_int_equal(c.auth_fail_user_limit, 5);
    assert_int_equal(c.auth_fail_max_delay, 300);
    assert_int_equal(c.eas_protocol_16, 0);
    assert_int_equal(c.eas_provisioning, 1);
    assert_int_equal(c.eas_ping_min_heartbeat, 60);
    assert_int_equal(c.eas_ping_max_heartbeat, 3540);
    assert_int_equal(c.eas_max_folders, 300);
    assert_int_equal(c.eas_max_devices, 100);
    assert_int_equal(c.eas_max_body, (size_t)16 << 20);
    assert_int_equal(c.eas_window_bytes, (size_t)1 << 20);
    assert_string_equal(c.eas_mail_domain, "localhost");
}

static void test_config_booleans_take_words_and_digits(void **state)
{
    (void)state;
    struct config c;
    config_defaults(&c);

    static const struct {
        const char *text;
        unsigned value;
    } ok[] = {{"true", 1}, {"false", 0}, {"yes", 1}, {"no", 0},
              {"on", 1},   {"off", 0},   {"1", 1},   {"0", 0}};

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct err e;
        err_init(&e);
        assert_int_equal(config_set(&c, "eas_protocol_16", ok[i].text, &e), 0);
        assert_int_equal(c.eas_protocol_16, ok[i].value);
    }
    static const char *const bad[] = {"", "TRUE", "2", "maybe", "true "};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct err e;
        err_init(&e);
        assert_int_equal(config_set(&c, "eas_provisioning", bad[i], &e), -1);
        assert_non_null(strstr(e.msg, "is not true or false"));
        assert_int_equal(c.eas_provisioning, 1);
    }
}

static void test_config_file_skips_comments_blanks_and_sections_and_trims(void **state)
{
    struct config c;
    struct err e;
    const char *text = "# almanac.conf\n"
                       "\n"
                       "[server]\n"
                       "  listen\t=  0.0.0.0:9000   # every address\n"
                       "workers=8\r\n"
                       "\t\n"
                       "  [ limits ]  \n"
                       "xml_max_body = 1G\n"
                       "realm = Team calendars\n"
                       "workers = 9\n" /* the last one wins */
                       "max_dead_props = 10";
    assert_int_equal(load_text(*state, text, &c, &e), 0);
    assert_null(e.cond);
    assert_string_equal(c.listen, "0.0.0.0:9000");
    assert_int_equal(c.workers, 9);
    assert_int_equal(c.xml_max_body, (size_t)1 << 30);
    assert_string_equal(c.realm, "Team calendars");
    assert_int_equal(c.max_dead_props, 10);
    assert_string_equal(c.data_dir, "./data"); /* untouched keys keep their defaults */
}

static void test_config_file_errors_name_file_line_and_key(void **state)
{
    const struct fixture *fx = *state;

    static const struct {
        const char *text;
        unsigned line;
        const char *says; /* a substring of the message after "path:line: " */
    } cases[] = {
        {"workers = 2\nno_such_key = 1\n", 2, "unknown key no_such_key"},
        {"# c\n\nworkers = many\n", 3, "workers: 'many' is not a number"},
        {"[limits]\nxml_max_depth = 7\n", 2, "xml_max_depth=7 is outside [8, 1024]"},
        {"xml_max_body = 5G\n", 1, "xml_max_body=5G is outside"},
        {"max_resource_size = 10 MB\n", 1, "max_resource_size: '10 MB' is not a size"},
        {"log_level = verbose\n", 1, "log_level must be error, warn, info or debug"},
        {"realm =\n", 1, "realm must be 1 to 127 bytes, not 0"},
        {"workers 4\n", 1, "expected key = value"},
        {"= 4\n", 1, "expected a key before '='"},
        {"[limits\n", 1, "expected [section]"},
        {"workers = 4\n\n\n[x]\n   xml_max_text = 1K  \nidle_timeout = 0\n", 6, "idle_timeout=0"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct config c;
        struct err e;
        assert_int_equal(load_text(fx, cases[i].text, &c, &e), -1);
        assert_ptr_equal(e.cond, &err_cond_bad_request);
        char prefix[160];
        snprintf(prefix, sizeof(prefix), "%s:%u: ", fx->path, cases[i].line);
        if (strncmp(e.msg, prefix, strlen(prefix)) != 0 || !strstr(e.msg, cases[i].says)) {
            fail_msg("case %zu: got \"%s\", want \"%s%s...\"", i, e.msg, prefix, cases[i].says);
        }
    }
}

static void test_config_file_rejects_an_overlong_line(void **state)
{
    const struct fixture *fx = *state;
    char text[1200];
    memset(text, ' ', sizeof(text));
    memcpy(text, "# long\nrealm = x", 16);
    text[sizeof(text) - 2] = '\n';
    text[sizeof(text) - 1] = '\0';
    struct config c;
    struct err e;
    assert_int_equal(load_text(fx, text, &c, &e), -1);
    assert_non_null(strstr(e.msg, ":2: line longer than"));
}

static void test_config_missing_file_is_an_error(void **state)
{
    (void)state;
    struct config c;
    config_defaults(&c);
    struct err e;
    err_init(&e);
    assert_int_equal(config_load_file(&c, "/nonexistent/almanac.conf", &e), -1);
    assert_ptr_equal(e.cond, &err_cond_bad_request);
    assert_non_null(strstr(e.msg, "/nonexistent/almanac.conf: cannot open"));
}

static void test_config_numbers_are_bounded_inclusively(void **state)
{
    (void)state;
    struct config c;
    config_defaults(&c);

    static const struct {
        const char *key;
        const char *value;
        int rc;
    } cases[] = {
        {"workers", "1", 0},
        {"workers", "256", 0},
        {"workers", "0", -1},
        {"workers", "257", -1},
        {"shutdown_grace", "0", 0},
        {"auth_cache_ttl", "0", 0},
        {"auth_cache_ttl", "86401", -1},
        {"auth_fail_window", "0", 0},
        {"auth_fail_addr_limit", "0", -1},
        {"auth_fail_max_delay", "86401", -1},
        {"max_header_bytes", "4096", 0},
        {"max_header_bytes", "4095", -1},
        {"max_header_bytes", "1M", 0},
        {"max_header_bytes", "1048577", -1},
        {"xml_max_body", "4G", 0},
        {"xml_max_body", "4294967297", -1},
        {"xml_max_elements", "100000000", 0},
        {"xml_max_elements", "100000001", -1},
        {"xml_max_elements", "15", -1},
        {"max_dead_props", "100000", 0},
        {"max_dead_props", "0", -1},
        {"max_multiget_hrefs", "10000000", 0},
        {"max_multiget_hrefs", "10000001", -1},
        {"max_multiget_hrefs", "0", -1},
        {"workers", "4294967297", -1}, /* past unsigned: refused, never truncated */
        {"workers", "18446744073709551616", -1},
        {"workers", "-1", -1},
        {"workers", "+4", -1},
        {"workers", " 4", -1},
        {"workers", "", -1},
        {"workers", "0x10", -1},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (set1(&c, cases[i].key, cases[i].value) != cases[i].rc) {
            fail_msg("case %zu: %s = '%s' should %s", i, cases[i].key, cases[i].value,
                     cases[i].rc == 0 ? "pass" : "fail");
        }
    }
    assert_int_equal(c.workers, 256); /* refused values left the last accepted one */
    assert_int_equal(c.xml_max_body, (size_t)4 << 30);
}

static void test_config_sizes_take_binary_suffixes(void **state)
{
    (void)state;
    struct config c;
    config_defaults(&c);
    assert_int_equal(set1(&c, "xml_max_text", "2048"), 0);
    assert_int_equal(c.xml_max_text, 2048);
    assert_int_equal(set1(&c, "xml_max_text", "3K"), 0);
    assert_int_equal(c.xml_max_text, 3 * 1024);
    assert_int_equal(set1(&c, "xml_max_text", "3k"), 0);
    assert_int_equal(c.xml_max_text, 3 * 1024);
    assert_int_equal(set1(&c, "max_resource_size", "20M"), 0);
    assert_int_equal(c.max_resource_size, (size_t)20 << 20);
    assert_int_equal(set1(&c, "max_resource_size", "1g"), 0);
    assert_int_equal(c.max_resource_size, (size_t)1 << 30);
    static const char *const bad[] = {"K",           "1.5M", "1KB", "1KiB", "1T",
                                      "M1",          "-1K",  " 1K", "1K ",  "18446744073709551615K",
                                      "17179869184G"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (set1(&c, "max_resource_size", bad[i]) != -1) {
            fail_msg("size '%s' should be refused", bad[i]);
        }
    }
    assert_int_equal(c.max_resource_size, (size_t)1 << 30);
    /* Counts and seconds are numbers of things, not bytes: no suffixes. */
    assert_int_equal(set1(&c, "xml_max_elements", "4M"), -1);
    assert_int_equal(set1(&c, "max_dead_props", "1K"), -1);
    assert_int_equal(set1(&c, "idle_timeout", "1K"), -1);
}

static void test_config_strings_must_fit(void **state)
{
    (void)state;
    struct config c;
    config_defaults(&c);
    char s[600];
    memset(s, 'r', sizeof(s));
    s[127] = '\0';
    assert_int_equal(set1(&c, "realm", s), 0);
    assert_int_equal(strlen(c.realm), 127);
    s[127] = 'r';
    s[128] = '\0';
    assert_int_equal(set1(&c, "realm", s), -1);
    assert_int_equal(strlen(c.realm), 127);
    memset(s, 'd', sizeof(s));
    s[CONFIG_STR_MAX - 1] = '\0';
    assert_int_equal(set1(&c, "data_dir", s), 0);
    s[CONFIG_STR_MAX - 1] = 'd';
    s[CONFIG_STR_MAX] = '\0';
    assert_int_equal(set1(&c, "data_dir", s), -1);
    assert_int_equal(set1(&c, "data_dir", ""), -1);
    assert_int_equal(set1(&c, "data_dir", "/var/lib/a\nworkers = 1"), -1);
    assert_int_equal(set1(&c, "data_dir", "/var/lib/#1"), -1);
    /* RFC 7617 §2: the realm is a quoted-string. */
    assert_int_equal(set1(&c, "realm", "say \"hi\""), -1);
    assert_int_equal(set1(&c, "realm", "back\\slash"), -1);
    assert_int_equal(set1(&c, "realm", "Team calendars"), 0);
    assert_int_equal(set1(&c, "log_level", "debug"), 0);
    assert_string_equal(c.log_level, "debug");
    assert_int_equal(set1(&c, "log_level", "verbose"), -1);
    assert_int_equal(set1(&c, "log_level", ""), -1);
    assert_string_equal(c.log_level, "debug");
    assert_int_equal(set1(&c, "no_such_key", "1"), -1);
}

/* Reads the rest of `f` into a NUL-terminated string (caller frees). */
static char *slurp(FILE *f)
{
    size_t cap = 4096;
    size_t len = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    size_t n;
    while ((n = fread(text + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len - 1 == 0) {
            cap *= 2;
            text = realloc(text, cap);
            assert_non_null(text);
        }
    }
    assert_false(ferror(f));
    text[len] = '\0';
    return text;
}

/* Runs `print` into a string (caller frees). */
static char *print_to_string(void (*print)(const struct config *c, FILE *f), const struct config *c)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    print(c, f);
    rewind(f);
    char *text = slurp(f);
    assert_int_equal(fclose(f), 0);
    return text;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++) {
        n += *s == '\n';
    }
    return n;
}

static void print_markdown(const struct config *c, FILE *f)
{
    (void)c;
    config_print_markdown(f);
}

static void test_config_print_reads_back_as_a_file(void **state)
{
    const struct fixture *fx = *state;
    struct config c;
    config_defaults(&c);
    assert_int_equal(set1(&c, "listen", "[::1]:0"), 0);
    assert_int_equal(set1(&c, "realm", "Team calendars"), 0);
    assert_int_equal(set1(&c, "log_level", "warn"), 0);
    assert_int_equal(set1(&c, "workers", "17"), 0);
    assert_int_equal(set1(&c, "xml_max_body", "3G"), 0);
    assert_int_equal(set1(&c, "xml_max_elements", "12345"), 0);
    assert_int_equal(set1(&c, "max_dead_props", "99"), 0);
    char *text = print_to_string(config_print, &c);
    /* one `key = value  # doc` line per key, as many as the markdown table has rows */
    char *md = print_to_string(print_markdown, NULL);
    assert_int_equal(count_lines(text), count_lines(md) - 2);
    for (const char *line = text; *line; line = strchr(line, '\n') + 1) {
        const char *eq = strstr(line, " = ");
        const char *doc = strstr(line, "  # ");
        const char *end = strchr(line, '\n');
        assert_true(eq && doc && end && eq < doc && doc < end && doc + 4 < end);
    }
    struct config back;
    struct err e;
    assert_int_equal(load_text(fx, text, &back, &e), 0);
    assert_string_equal(back.listen, "[::1]:0");
    assert_string_equal(back.realm, "Team calendars");
    assert_string_equal(back.log_level, "warn");
    assert_int_equal(back.workers, 17);
    assert_int_equal(back.xml_max_body, (size_t)3 << 30);
    assert_int_equal(back.xml_max_elements, 12345);
    assert_int_equal(back.max_dead_props, 99);
    char *again = print_to_string(config_print, &back);
    assert_string_equal(again, text);
    free(again);
    free(md);
    free(text);
}

static void test_config_print_hides_the_store_password(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"postgresql://almanac:s3cret@db.example:5432/cal",
         "store = postgresql://almanac:***@db.example:5432/cal  # "},
        {"postgresql://almanac@db.example/cal", "store = postgresql://almanac@db.example/cal  # "},
        {"postgresql:///cal?host=/run/pg", "store = postgresql:///cal?host=/run/pg  # "},
        {"postgresql://db/cal?x=a:b@c", "store = postgresql://db/cal?x=a:b@c  # "},
        {"sqlite:/var/lib/almanac", "store = sqlite:/var/lib/almanac  # "},
        {"postgresql://db/cal?password=s3cret&sslmode=require",
         "store = postgresql://db/cal?***  # "},
        {"postgresql://u:s3cret@db/cal?sslmode=require&password=s3cret",
         "store = postgresql://u:***@db/cal?***  # "},
        {"postgresql://u:s3cret@db/cal?sslmode=require",
         "store = postgresql://u:***@db/cal?sslmode=require  # "},
    };
    for (size_t i = 0; i < ALM_ARRAY_LEN(cases); i++) {
        struct config c;
        config_defaults(&c);
        assert_int_equal(set1(&c, "store", cases[i][0]), 0);
        char *text = print_to_string(config_print, &c);
        const char *line = strstr(text, "\nstore = ");
        assert_non_null(line);
        if (strncmp(line + 1, cases[i][1], strlen(cases[i][1])) != 0) {
            fail_msg("%s printed as %.80s", cases[i][0], line + 1);
        }
        assert_null(strstr(text, "s3cret"));
        free(text);
    }
}

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fail_msg("cannot open %s", path);
    }
    char *text = slurp(f);
    fclose(f);
    return text;
}

static void test_config_docs_hold_exactly_the_generated_table(void **state)
{
    (void)state;
    const char *root = getenv("ALMANAC_SOURCE_DIR");
    if (!root) {
        fail_msg("ALMANAC_SOURCE_DIR is not set (ctest sets it to the source root)");
    }
    char path[1024];
    int n = snprintf(path, sizeof(path), "%s/docs/config.md", root);
    assert_true(n > 0 && (size_t)n < sizeof(path));
    char *doc = read_all(path);
    char *table = print_to_string(print_markdown, NULL);
    /* The table starts at its header row and runs to the end of the file. */
    const char *start = strstr(doc, "\n| key |");
    assert_non_null(start);
    if (strcmp(start + 1, table) != 0) {
        fail_msg("docs/config.md differs from config_print_markdown(); regenerate its table "
                 "with `almanacd --print-config-doc`:\n%s",
                 table);
    }
    free(table);
    free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_defaults_match_the_header),
        cmocka_unit_test_setup_teardown(
            test_config_file_skips_comments_blanks_and_sections_and_trims, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_file_errors_name_file_line_and_key, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_config_file_rejects_an_overlong_line, setup, teardown),
        cmocka_unit_test(test_config_missing_file_is_an_error),
        cmocka_unit_test(test_config_numbers_are_bounded_inclusively),
        cmocka_unit_test(test_config_sizes_take_binary_suffixes),
        cmocka_unit_test(test_config_booleans_take_words_and_digits),
        cmocka_unit_test(test_config_strings_must_fit),
        cmocka_unit_test_setup_teardown(test_config_print_reads_back_as_a_file, setup, teardown),
        cmocka_unit_test(test_config_print_hides_the_store_password),
        cmocka_unit_test(test_config_docs_hold_exactly_the_generated_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
