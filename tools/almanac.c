/* tools/almanac.c: the admin CLI. Users (argon2id hashes through util/sec) and calendars,
 * each operation in one store transaction. Exit codes: 0 done, 1 usage error, 2 the
 * operation failed (message on stderr naming what). Never prints a password except the one
 * --generate-password made, once. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/store.h"
#include "util/buf.h"
#include "util/parse.h"
#include "util/sec.h"
#include "util/timeutil.h"

enum {
    EXIT_USAGE = 1,
    EXIT_FAILED = 2,
    PASSWORD_MAX = 1024,
    GENERATED_LEN = 20
};

static const char usage_text[] =
    "usage: almanac [--data DIR] COMMAND\n"
    "  user add NAME (--password-stdin | --generate-password)\n"
    "  user passwd NAME (--password-stdin | --generate-password)\n"
    "  user del NAME\n"
    "  user list\n"
    "  calendar add USER NAME [--displayname TEXT]\n"
    "  calendar list USER\n"
    "  prune [--days N]   drop tombstones older than N days (default 90); sync clients\n"
    "                     holding older state are told to start over\n"
    "DIR defaults to ./data and is created if missing.\n";

static int usage(void)
{
    fputs(usage_text, stderr);
    return EXIT_USAGE;
}

static int failed(struct store *s, const char *what, enum store_rc rc)
{
    static const char *const names[] = {"ok",         "not found", "exists",   "conflict",
                                        "store busy", "limit",     "i/o error"};
    fprintf(stderr, "almanac: %s: %s%s%s\n", what, names[rc], s ? ": " : "",
            s ? store_last_error(s) : "");
    return EXIT_FAILED;
}

/* 1..64 of [A-Za-z0-9._-], not starting with '.': safe as a URL segment and a file name. */
static bool valid_user(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > STORE_USER_MAX || name[0] == '.') {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok) {
            return false;
        }
    }
    return true;
}

static bool valid_calendar(const char *name)
{
    size_t n = strlen(name);
    return n > 0 && n <= STORE_NAME_MAX && !strchr(name, '/') && strcmp(name, ".") != 0 &&
           strcmp(name, "..") != 0;
}

/* Reads the password: one line of stdin without its line end, or a generated one. */
static int get_password(const char *mode, char *out, size_t size, bool *generated)
{
    *generated = false;
    if (strcmp(mode, "--generate-password") == 0) {
        static const char alphabet[] =
            "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789-_";
        unsigned char raw[GENERATED_LEN];
        sec_random(raw, sizeof(raw));
        for (size_t i = 0; i < GENERATED_LEN; i++) {
            out[i] = alphabet[raw[i] % (sizeof(alphabet) - 1)];
        }
        out[GENERATED_LEN] = '\0';
        *generated = true;
        return 0;
    }
    if (strcmp(mode, "--password-stdin") != 0) {
        return -1;
    }
    if (!fgets(out, (int)size, stdin)) {
        out[0] = '\0';
    }
    size_t n = strlen(out);
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r')) {
        out[--n] = '\0';
    }
    if (n == 0) {
        fputs("almanac: empty password\n", stderr);
        return -1;
    }
    return 0;
}

static int user_set(struct store *s, const char *name, const char *mode, bool add)
{
    if (!valid_user(name)) {
        fprintf(stderr, "almanac: bad user name '%s' (1-64 of A-Z a-z 0-9 . _ -)\n", name);
        return EXIT_USAGE;
    }
    char password[PASSWORD_MAX];
    bool generated;
    if (get_password(mode, password, sizeof(password), &generated) != 0) {
        return EXIT_USAGE;
    }
    char hash[SEC_PWHASH_STRBYTES];
    if (sec_pwhash(password, strlen(password), hash) != 0) {
        fputs("almanac: cannot hash the password (out of memory?)\n", stderr);
        return EXIT_FAILED;
    }
    struct arena *a = arena_create();
    enum store_rc rc = store_begin_write(s);
    if (rc == STORE_OK) {
        rc = add ? store_principal_add(s, name, hash, a, NULL)
                 : store_principal_set_pwhash(s, name, hash);
    }
    rc = rc == STORE_OK ? store_commit(s) : (store_rollback(s), rc);
    arena_destroy(&a);
    if (rc != STORE_OK) {
        char what[128];
        snprintf(what, sizeof(what), "user '%s'", name);
        sec_memzero(password, sizeof(password));
        return failed(s, what, rc);
    }
    if (generated) {
        printf("%s\n", password);
    }
    sec_memzero(password, sizeof(password));
    return 0;
}

static int print_user(void *ctx, const struct store_principal *p)
{
    (void)ctx;
    printf("%s\n", p->name);
    return 0;
}

static int user_cmd(struct store *s, int argc, char **argv)
{
    if (argc < 1) {
        return usage();
    }
    const char *sub = argv[0];
    if (strcmp(sub, "list") == 0 && argc == 1) {
        enum store_rc rc = store_begin_read(s);
        if (rc == STORE_OK) {
            rc = store_principal_list(s, print_user, NULL);
        }
        store_rollback(s);
        return rc == STORE_OK ? 0 : failed(s, "user list", rc);
    }
    if ((strcmp(sub, "add") == 0 || strcmp(sub, "passwd") == 0) && argc == 3) {
        return user_set(s, argv[1], argv[2], strcmp(sub, "add") == 0);
    }
    if (strcmp(sub, "del") == 0 && argc == 2) {
        enum store_rc rc = store_begin_write(s);
        if (rc == STORE_OK) {
            rc = store_principal_del(s, argv[1]);
        }
        rc = rc == STORE_OK ? store_commit(s) : (store_rollback(s), rc);
        if (rc != STORE_OK) {
            char what[128];
            snprintf(what, sizeof(what), "user '%.64s'", argv[1]);
            return failed(s, what, rc);
        }
        return 0;
    }
    return usage();
}

/* The XML-escaped text of a displayname, as PROPPATCH would store it. */
static int escape_text(struct buf *b, const char *t)
{
    int rc = 0;
    for (; *t && rc == 0; t++) {
        switch (*t) {
        case '&':
            rc = buf_append_cstr(b, "&amp;");
            break;
        case '<':
            rc = buf_append_cstr(b, "&lt;");
            break;
        case '>':
            rc = buf_append_cstr(b, "&gt;");
            break;
        default:
            rc = buf_putc(b, *t);
        }
    }
    return rc;
}

static int calendar_add(struct store *s, const char *user, const char *name, const char *display)
{
    if (!valid_calendar(name)) {
        fprintf(stderr, "almanac: bad calendar name '%s'\n", name);
        return EXIT_USAGE;
    }
    struct arena *a = arena_create();
    struct store_principal p;
    struct store_coll c;
    struct buf value;
    buf_init(&value, BUF_LIMIT_PROP_VALUE);
    const char *what = "user";
    enum store_rc rc = store_begin_write(s);
    if (rc == STORE_OK) {
        rc = store_principal_get(s, user, a, &p);
    }
    if (rc == STORE_OK) {
        what = "calendar";
        rc = store_coll_create(s, p.home_id, name, STORE_COLL_CALENDAR, a, &c);
    }
    if (rc == STORE_OK && display) {
        if (escape_text(&value, display) != 0) {
            rc = STORE_LIMIT;
        } else {
            struct store_prop prop = {"DAV:", "displayname", buf_cstr(&value), value.len};
            rc = store_prop_set(s, STORE_RES_COLL, c.id, &prop);
        }
    }
    rc = rc == STORE_OK ? store_commit(s) : (store_rollback(s), rc);
    buf_deinit(&value);
    arena_destroy(&a);
    if (rc != STORE_OK) {
        char msg[512];
        snprintf(msg, sizeof(msg), "%s '%s'", what, strcmp(what, "user") == 0 ? user : name);
        return failed(s, msg, rc);
    }
    return 0;
}

static int calendar_list(struct store *s, const char *user)
{
    struct arena *a = arena_create();
    struct store_principal p;
    struct store_cursor *cur = NULL;
    enum store_rc rc = store_begin_read(s);
    if (rc == STORE_OK) {
        rc = store_principal_get(s, user, a, &p);
    }
    bool user_found = rc == STORE_OK;
    if (rc == STORE_OK) {
        rc = store_children_open(s, p.home_id, &cur);
    }
    while (rc == STORE_OK) {
        struct store_coll c;
        rc = store_cursor_next_coll(cur, &c);
        if (rc != STORE_OK) {
            break;
        }
        size_t items = 0;
        struct store_cursor *ic = NULL;
        struct store_item it;
        char *name = strdup(c.name);
        uint64_t modseq = c.modseq;
        enum store_coll_kind kind = c.kind;
        enum store_rc irc = store_items_open(s, c.id, STORE_ORDER_NAME, &ic);
        while (irc == STORE_OK && (irc = store_cursor_next_item(ic, &it)) == STORE_OK) {
            items++;
        }
        store_cursor_close(&ic);
        printf("%s\t%s\tmodseq=%llu\titems=%zu\n", name ? name : "?",
               kind == STORE_COLL_CALENDAR ? "calendar" : "collection", (unsigned long long)modseq,
               items);
        free(name);
    }
    store_cursor_close(&cur);
    store_rollback(s);
    arena_destroy(&a);
    if (!user_found && rc == STORE_NOTFOUND) {
        char msg[128];
        snprintf(msg, sizeof(msg), "user '%.64s'", user);
        return failed(s, msg, rc);
    }
    return rc == STORE_NOTFOUND ? 0 : failed(s, "calendar list", rc);
}

static int calendar_cmd(struct store *s, int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[0], "add") == 0) {
        const char *display = NULL;
        if (argc == 5 && strcmp(argv[3], "--displayname") == 0) {
            display = argv[4];
        } else if (argc != 3) {
            return usage();
        }
        return calendar_add(s, argv[1], argv[2], display);
    }
    if (argc == 2 && strcmp(argv[0], "list") == 0) {
        return calendar_list(s, argv[1]);
    }
    return usage();
}

/* Drops tombstones older than `days` in every collection, one transaction; the collections'
 * tombstone horizons rise, so tokens from before answer "start over" (403 valid-sync-token,
 * 475 history-pruned). */
static int prune_cmd(struct store *s, int argc, char **argv)
{
    uint64_t days = 90;
    if (argc == 2 && strcmp(argv[0], "--days") == 0) {
        if (parse_u64(slice_from_cstr(argv[1]), &days) != 0 || days > 36500) {
            return usage();
        }
    } else if (argc != 0) {
        return usage();
    }
    /* "older than 0 days" includes what was deleted this very second */
    int64_t older_than = time_now() - (int64_t)days * 86400 + (days == 0 ? 1 : 0);
    struct store_cursor *cur = NULL;
    size_t n = 0;
    size_t ids_cap = 0;
    uint64_t *ids = NULL;
    enum store_rc rc = store_begin_write(s);
    if (rc == STORE_OK) {
        rc = store_all_colls_open(s, &cur);
    }
    while (rc == STORE_OK) {
        struct store_coll c;
        rc = store_cursor_next_coll(cur, &c);
        if (rc != STORE_OK) {
            break;
        }
        if (n == ids_cap) {
            ids_cap = ids_cap ? ids_cap * 2 : 64;
            uint64_t *grown = realloc(ids, ids_cap * sizeof(*ids));
            if (!grown) {
                abort();
            }
            ids = grown;
        }
        ids[n++] = c.id;
    }
    store_cursor_close(&cur);
    if (rc == STORE_NOTFOUND) {
        rc = STORE_OK;
    }
    for (size_t i = 0; i < n && rc == STORE_OK; i++) {
        rc = store_coll_prune_tombstones(s, ids[i], older_than);
    }
    free(ids);
    rc = rc == STORE_OK ? store_commit(s) : (store_rollback(s), rc);
    if (rc != STORE_OK) {
        return failed(s, "prune", rc);
    }
    printf("pruned tombstones older than %llu days in %zu collections\n", (unsigned long long)days,
           n);
    return 0;
}

int main(int argc, char **argv)
{
    const char *data = "./data";
    int i = 1;
    if (i < argc && (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (i + 1 < argc && strcmp(argv[i], "--data") == 0) {
        data = argv[i + 1];
        i += 2;
    }
    if (i >= argc) {
        return usage();
    }
    if (sec_init() != 0) {
        fputs("almanac: libsodium failed to initialise\n", stderr);
        return EXIT_FAILED;
    }
    if (mkdir(data, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "almanac: cannot create %s: %s\n", data, strerror(errno));
        return EXIT_FAILED;
    }
    struct store *s = NULL;
    const char *msg = NULL;
    if (store_open(data, &s, &msg) != STORE_OK) {
        fprintf(stderr, "almanac: cannot open store in %s: %s\n", data, msg ? msg : "");
        return EXIT_FAILED;
    }
    int rc;
    if (strcmp(argv[i], "user") == 0) {
        rc = user_cmd(s, argc - i - 1, argv + i + 1);
    } else if (strcmp(argv[i], "calendar") == 0) {
        rc = calendar_cmd(s, argc - i - 1, argv + i + 1);
    } else if (strcmp(argv[i], "prune") == 0) {
        rc = prune_cmd(s, argc - i - 1, argv + i + 1);
    } else {
        rc = usage();
    }
    store_close(&s);
    return rc;
}
