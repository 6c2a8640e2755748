/* server/config.c: the one table of configuration keys (after Redis's static_configs[]):
 * name, type, field, default, bounds and a one-line doc. The file parser, config_set, the
 * --print-config output and docs/config.md all come from it. */
#include "server/config.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "util/log.h"
#include "util/parse.h"

enum key_type {
    K_STR,
    K_UINT,
    K_SIZE,
    K_LEVEL
};

struct key {
    const char *name;
    enum key_type type;
    size_t offset;   /* of the field in struct config */
    size_t str_size; /* K_STR, K_LEVEL: the field's capacity */
    const char *dflt;
    uint64_t min;
    uint64_t max;
    const char *doc;
};

#define STR(f, d, doc) \
#  f, K_STR, offsetof(struct config, f), sizeof(((struct config *)0)->f), d, 0, 0, doc
#define NUM(t, f, d, lo, hi, doc) #f, t, offsetof(struct config, f), 0, d, lo, hi, doc

static const struct key keys[] = {
    {STR(listen,
         "127.0.0.1:8008",
         "address and port to serve on (ADDR:PORT, [V6]:PORT; port 0 picks a free one)")},
    {STR(data_dir, "./data", "directory of the SQLite store (almanac.db), created if missing")},
    {NUM(K_UINT,
         workers,
         "4",
         1,
         256,
         "HTTP worker threads (libmicrohttpd thread pool with epoll)")},
    {"log_level", K_LEVEL, offsetof(struct config, log_level),
     sizeof(((struct config *)0)->log_level), "info", 0, 0,
     "error, warn, info (one line per request) or debug"},
    {STR(realm, "Almanac", "realm of the Basic authentication challenge")},
    {NUM(K_UINT,
         max_connections,
         "1024",
         1,
         65536,
         "connections served at once; more wait in the listen queue")},
    {NUM(K_UINT, per_ip_connections, "256", 1, 65536, "connections from one client address")},
    {NUM(K_UINT,
         idle_timeout,
         "120",
         1,
         86400,
         "seconds a connection may stay silent before it is closed")},
    {NUM(K_UINT, shutdown_grace, "10", 0, 3600, "seconds SIGTERM waits for in-flight requests")},
    {NUM(K_SIZE,
         max_header_bytes,
         "32K",
         4096,
         1 << 20,
         "bytes of request line and headers per connection (larger: refused by libmicrohttpd)")},
    {NUM(K_SIZE,
         max_path_bytes,
         "4096",
         256,
         65536,
         "bytes of a request target (larger: 414 path-too-long)")},
    {NUM(
        K_SIZE,
        xml_max_body,
        "512M",
        1024,
        (uint64_t)4 << 30,
        "bytes of one XML request body; 1,000,000 resourcetags fit (larger: 413 xml-body-too-large)")},
    {NUM(K_UINT,
         xml_max_depth,
         "64",
         8,
         1024,
         "element nesting of an XML body (deeper: 413 xml-too-deep)")},
    {NUM(K_SIZE,
         xml_max_elements,
         "4000000",
         16,
         100000000,
         "elements in one XML body (more: 413 xml-too-many-elements)")},
    {NUM(K_SIZE,
         xml_max_text,
         "1M",
         1024,
         1 << 30,
         "bytes of character data in one XML element (more: 413 xml-text-too-long)")},
    {NUM(K_SIZE,
         max_resource_size,
         "10M",
         1024,
         1 << 30,
         "bytes of one PUT body (more: 413 max-resource-size)")},
    {NUM(K_UINT,
         max_dead_props,
         "256",
         1,
         100000,
         "dead properties per resource (more: 507 in PROPPATCH)")},
    {NUM(K_UINT,
         auth_cache_ttl,
         "300",
         0,
         86400,
         "seconds a verified credential is remembered (0: argon2id on every request)")},
};

#undef STR
#undef NUM

static const struct key *find_key(const char *name)
{
    for (size_t i = 0; i < ALM_ARRAY_LEN(keys); i++) {
        if (strcmp(keys[i].name, name) == 0) {
            return &keys[i];
        }
    }
    return NULL;
}

/* Parses a size: digits with an optional binary suffix K, M or G. */
static int parse_size(const char *v, uint64_t *out)
{
    size_t n = strlen(v);
    uint64_t mult = 1;
    if (n > 0) {
        switch (v[n - 1]) {
        case 'K':
        case 'k':
            mult = 1024;
            break;
        case 'M':
        case 'm':
            mult = 1024 * 1024;
            break;
        case 'G':
        case 'g':
            mult = 1024 * 1024 * 1024;
            break;
        default:
            break;
        }
    }
    struct slice digits = {v, mult == 1 ? n : n - 1};
    uint64_t x;
    if (parse_u64(digits, &x) != 0 || x > UINT64_MAX / mult) {
        return -1;
    }
    *out = x * mult;
    return 0;
}

int config_set(struct config *c, const char *key, const char *value, struct err *err)
{
    const struct key *k = find_key(key);
    if (!k) {
        return err_set(err, &err_cond_bad_request, "unknown key %s", key);
    }
    char *field = (char *)c + k->offset;
    if (k->type == K_STR || k->type == K_LEVEL) {
        enum log_level lvl;
        if (k->type == K_LEVEL && log_level_parse(value, &lvl) != 0) {
            return err_set(err, &err_cond_bad_request, "%s must be error, warn, info or debug",
                           key);
        }
        if (strlen(value) >= k->str_size) {
            return err_set(err, &err_cond_bad_request, "%s is longer than %zu bytes", key,
                           k->str_size - 1);
        }
        memcpy(field, value, strlen(value) + 1);
        return 0;
    }
    uint64_t v;
    int rc = k->type == K_SIZE ? parse_size(value, &v) : parse_u64(slice_from_cstr(value), &v);
    if (rc != 0) {
        return err_set(err, &err_cond_bad_request, "%s: '%s' is not a %s", key, value,
                       k->type == K_SIZE ? "size (bytes, or with K, M, G)" : "number");
    }
    if (v < k->min || v > k->max) {
        return err_set(err, &err_cond_bad_request, "%s=%s is outside [%llu, %llu]", key, value,
                       (unsigned long long)k->min, (unsigned long long)k->max);
    }
    if (k->type == K_UINT) {
        unsigned u = (unsigned)v;
        memcpy(field, &u, sizeof(u));
    } else {
        size_t z = (size_t)v;
        memcpy(field, &z, sizeof(z));
    }
    return 0;
}

void config_defaults(struct config *c)
{
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < ALM_ARRAY_LEN(keys); i++) {
        struct err e;
        err_init(&e);
        int rc = config_set(c, keys[i].name, keys[i].dflt, &e);
        (void)rc; /* the table's defaults are checked by tests/unit/server/test_config.c */
    }
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n')) {
        s[--n] = '\0';
    }
    return s;
}

int config_load_file(struct config *c, const char *path, struct err *err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        return err_set(err, &err_cond_bad_request, "%s: cannot open (errno %d)", path, errno);
    }
    char line[1024];
    unsigned lineno = 0;
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), f)) {
        lineno++;
        if (!strchr(line, '\n') && !feof(f)) {
            rc = err_set(err, &err_cond_bad_request, "%s:%u: line too long", path, lineno);
            break;
        }
        char *hash = strchr(line, '#');
        if (hash) {
            *hash = '\0';
        }
        char *s = trim(line);
        if (*s == '\0' || *s == '[') {
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq) {
            rc = err_set(err, &err_cond_bad_request, "%s:%u: expected key = value", path, lineno);
            break;
        }
        *eq = '\0';
        char *key = trim(s);
        char *value = trim(eq + 1);
        struct err inner;
        err_init(&inner);
        if (config_set(c, key, value, &inner) != 0) {
            rc = err_set(err, inner.cond, "%s:%u: %s", path, lineno, inner.msg);
        }
    }
    fclose(f);
    return rc;
}

static void value_of(const struct config *c, const struct key *k, char *out, size_t size)
{
    const char *field = (const char *)c + k->offset;
    if (k->type == K_STR || k->type == K_LEVEL) {
        snprintf(out, size, "%s", field);
    } else if (k->type == K_UINT) {
        unsigned u;
        memcpy(&u, field, sizeof(u));
        snprintf(out, size, "%u", u);
    } else {
        size_t z;
        memcpy(&z, field, sizeof(z));
        snprintf(out, size, "%zu", z);
    }
}

void config_print(const struct config *c, FILE *f)
{
    for (size_t i = 0; i < ALM_ARRAY_LEN(keys); i++) {
        char v[CONFIG_STR_MAX + 32];
        value_of(c, &keys[i], v, sizeof(v));
        fprintf(f, "%s = %s  # %s\n", keys[i].name, v, keys[i].doc);
    }
}

void config_print_markdown(FILE *f)
{
    fputs("| key | default | bounds | meaning |\n| --- | --- | --- | --- |\n", f);
    for (size_t i = 0; i < ALM_ARRAY_LEN(keys); i++) {
        const struct key *k = &keys[i];
        char bounds[64] = "-";
        if (k->type == K_UINT || k->type == K_SIZE) {
            snprintf(bounds, sizeof(bounds), "%llu .. %llu", (unsigned long long)k->min,
                     (unsigned long long)k->max);
        }
        fprintf(f, "| `%s` | `%s` | %s | %s |\n", k->name, k->dflt, bounds, k->doc);
    }
}
