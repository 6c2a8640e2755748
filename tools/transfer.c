/* tools/transfer.c: `almanac import` and `almanac export` (see transfer.h): the file in and
 * out, the messages and the progress bar; the import itself is calstore_import's. */
#include "tools/transfer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cal/ics.h"
#include "calstore/export.h"
#include "calstore/import.h"
#include "util/arena.h"
#include "util/buf.h"

enum {
    IMPORT_MAX_STDIN = 1 << 30, /* bytes read from stdin */
    EXPORT_FLUSH = 256 * 1024,  /* bytes buffered before a write */
};

/* The file's bytes: mapped, or read from stdin into `b`. */
struct file_bytes {
    struct slice s;
    void *map;
    size_t map_len;
    struct buf b;
};

static int read_file(const char *path, struct file_bytes *f)
{
    memset(f, 0, sizeof(*f));
    buf_init(&f->b, IMPORT_MAX_STDIN);
    if (strcmp(path, "-") == 0) {
        char chunk[65536];
        size_t n;
        while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0) {
            if (buf_append(&f->b, chunk, n) != 0) {
                fprintf(stderr, "almanac: standard input is larger than %d bytes\n",
                        IMPORT_MAX_STDIN);
                return -1;
            }
        }
        if (ferror(stdin)) {
            fprintf(stderr, "almanac: cannot read standard input: %s\n", strerror(errno));
            return -1;
        }
        f->s = buf_slice(&f->b);
        return 0;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "almanac: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        fprintf(stderr, "almanac: %s is not a regular file\n", path);
        close(fd);
        return -1;
    }
    if (st.st_size > 0) {
        f->map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (f->map == MAP_FAILED) {
            fprintf(stderr, "almanac: cannot map %s: %s\n", path, strerror(errno));
            f->map = NULL;
            close(fd);
            return -1;
        }
        f->map_len = (size_t)st.st_size;
        f->s = (struct slice){f->map, f->map_len};
    }
    close(fd);
    return 0;
}

static void free_file(struct file_bytes *f)
{
    if (f->map) {
        munmap(f->map, f->map_len);
    }
    buf_deinit(&f->b);
}

static void on_refused(void *ctx, size_t line, const char *uid, const char *why)
{
    (void)ctx;
    fprintf(stderr, "almanac: line %zu%s%.200s%s: refused: %s\n", line, uid ? ", UID '" : "",
            uid ? uid : "", uid ? "'" : "", why);
}

/* A bar of 40 characters on stderr, redrawn when the percentage changes. */
static void on_progress(void *ctx, size_t done, size_t total)
{
    int *last_pct = ctx;
    if (total == 0) {
        return;
    }
    int pct = (int)(done * 100 / total);
    if (pct == *last_pct) {
        return;
    }
    *last_pct = pct;
    char bar[41];
    int full = pct * 40 / 100;
    memset(bar, '#', (size_t)full);
    memset(bar + full, '.', (size_t)(40 - full));
    bar[40] = '\0';
    fprintf(stderr, "\rimporting [%s] %3d%% %zu/%zu%s", bar, pct, done, total,
            done == total ? "\n" : "");
    fflush(stderr);
}

/* Finds or creates the calendar (a write transaction of its own); its id in *id. */
static int open_calendar(struct store *s, const char *user, const char *calendar, uint64_t *id)
{
    struct arena *a = arena_create();
    struct store_principal p;
    struct store_coll coll;
    enum store_rc rc = store_begin_write(s);
    if (rc == STORE_OK) {
        rc = store_principal_get(s, user, a, &p);
        if (rc == STORE_NOTFOUND) {
            fprintf(stderr, "almanac: user '%s' not found\n", user);
        }
    }
    bool created = false;
    if (rc == STORE_OK) {
        rc = store_coll_lookup(s, p.home_id, calendar, a, &coll);
        if (rc == STORE_NOTFOUND) {
            rc = store_coll_create(s, p.home_id, calendar, STORE_COLL_CALENDAR, a, &coll);
            created = rc == STORE_OK;
        } else if (rc == STORE_OK && coll.kind != STORE_COLL_CALENDAR) {
            fprintf(stderr, "almanac: '%s' of user '%s' is not a calendar\n", calendar, user);
            rc = STORE_CONFLICT;
        }
    }
    if (rc == STORE_OK) {
        rc = store_commit(s);
    }
    if (rc != STORE_OK) {
        if (rc != STORE_NOTFOUND && rc != STORE_CONFLICT) {
            fprintf(stderr, "almanac: cannot open calendar '%s': %s\n", calendar,
                    store_last_error(s));
        }
        store_rollback(s);
    } else {
        *id = coll.id;
        if (created) {
            fprintf(stderr, "almanac: created calendar '%s' of user '%s'\n", calendar, user);
        }
    }
    arena_destroy(&a);
    return rc == STORE_OK ? 0 : -1;
}

int transfer_import(
    struct store *s, const char *user, const char *calendar, const char *path, bool progress)
{
    struct file_bytes f;
    if (read_file(path, &f) != 0) {
        free_file(&f);
        return 2;
    }
    int last_pct = -1;
    struct calstore_import_opts opts = {.refused = on_refused,
                                        .progress =
                                            progress && isatty(STDERR_FILENO) ? on_progress : NULL,
                                        .ctx = &last_pct};
    struct calstore_import_result res;
    struct err err;
    err_init(&err);
    /* a file that is not iCalendar is refused before the calendar is made */
    struct cal_split *sp = NULL;
    if (cal_split_open(f.s, &sp, &err) != 0) {
        fprintf(stderr, "almanac: %s: %s\n", path, err.msg);
        free_file(&f);
        return 2;
    }
    cal_split_free(&sp);
    uint64_t coll = 0;
    if (open_calendar(s, user, calendar, &coll) != 0) {
        free_file(&f);
        return 2;
    }
    int rc = calstore_import(s, coll, f.s, &opts, &res, &err);
    free_file(&f);
    printf("imported %zu of %zu objects into calendar '%s' of user '%s': %zu new, %zu "
           "replaced, %zu unchanged, %zu refused\n",
           res.added + res.replaced + res.unchanged, res.total, calendar, user, res.added,
           res.replaced, res.unchanged, res.refused);
    if (rc != 0) {
        fprintf(stderr, "almanac: %s: %s\n", path, err.msg);
        return 2;
    }
    return res.refused ? TRANSFER_PARTIAL : 0;
}

int transfer_export(struct store *s, const char *user, const char *calendar, FILE *out)
{
    struct arena *a = arena_create();
    struct store_principal p;
    struct store_coll c;
    struct buf b;
    buf_init(&b, SIZE_MAX);
    int status = 0;
    enum store_rc rc = store_begin_read(s);
    if (rc == STORE_OK) {
        rc = store_principal_get(s, user, a, &p);
        if (rc == STORE_NOTFOUND) {
            fprintf(stderr, "almanac: user '%s' not found\n", user);
            status = 2;
        }
    }
    if (rc == STORE_OK) {
        rc = store_coll_lookup(s, p.home_id, calendar, a, &c);
        if (rc == STORE_NOTFOUND || (rc == STORE_OK && c.kind != STORE_COLL_CALENDAR)) {
            fprintf(stderr, "almanac: calendar '%s' of user '%s' not found\n", calendar, user);
            rc = STORE_NOTFOUND;
            status = 2;
        }
    }
    struct calstore_export *x = NULL;
    if (rc == STORE_OK) {
        /* the one exporter (calstore/export.h), pulled here into a file */
        x = calstore_export_open(s, &c, calendar, 0, a);
        rc = x ? STORE_OK : STORE_IO;
    }
    int more = rc == STORE_OK ? 1 : 0;
    while (more > 0) {
        more = calstore_export_next(x, &b);
        if (more < 0) {
            rc = STORE_IO;
            break;
        }
        if (b.len >= EXPORT_FLUSH || (more == 0 && b.len > 0)) {
            if (fwrite(b.data, 1, b.len, out) != b.len) {
                fprintf(stderr, "almanac: writing the file failed: %s\n", strerror(errno));
                status = 2;
                break;
            }
            buf_reset(&b);
        }
    }
    if (rc == STORE_OK && status == 0 && fflush(out) != 0) {
        fprintf(stderr, "almanac: writing the file failed: %s\n", strerror(errno));
        status = 2;
    }
    if (rc != STORE_OK && status == 0) {
        fprintf(stderr, "almanac: export failed: %s\n", store_last_error(s));
        status = 2;
    }
    if (status == 0) {
        fprintf(stderr, "almanac: exported %zu objects\n", calstore_export_objects(x));
    }
    buf_deinit(&b);
    arena_destroy(&a); /* closes the exporter's cursor */
    store_rollback(s);
    return status;
}

static int print_sub(void *ctx, const struct store_sub *sub)
{
    (void)ctx;
    char when[32];
    time_t t = (time_t)sub->created;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    printf("%s\t/subscribe/%s.ics\t%s\n", sub->coll_name, sub->token, when);
    return 0;
}

int transfer_sub(struct store *s, enum transfer_sub_op op, const char *user, const char *calendar)
{
    struct arena *a = arena_create();
    struct store_principal p;
    struct store_coll c;
    struct store_sub sub;
    enum store_rc rc = op == TRANSFER_SUB_LIST ? store_begin_read(s) : store_begin_write(s);
    const char *what = NULL;
    if (rc == STORE_OK) {
        rc = store_principal_get(s, user, a, &p);
        what = rc == STORE_NOTFOUND ? arena_printf(a, "user '%s' not found", user) : NULL;
    }
    if (rc == STORE_OK && op != TRANSFER_SUB_LIST) {
        rc = store_coll_lookup(s, p.home_id, calendar, a, &c);
        if (rc == STORE_NOTFOUND || (rc == STORE_OK && c.kind != STORE_COLL_CALENDAR)) {
            what = arena_printf(a, "calendar '%s' of user '%s' not found", calendar, user);
            rc = STORE_NOTFOUND;
        }
    }
    if (rc == STORE_OK) {
        switch (op) {
        case TRANSFER_SUB_ADD:
            rc = store_sub_create(s, c.id, a, &sub);
            break;
        case TRANSFER_SUB_DEL:
            rc = store_sub_revoke(s, c.id);
            if (rc == STORE_NOTFOUND) {
                what = arena_printf(a, "calendar '%s' of user '%s' has no subscription URL",
                                    calendar, user);
            }
            break;
        case TRANSFER_SUB_LIST:
            rc = store_sub_list(s, p.id, print_sub, NULL);
            break;
        }
    }
    if (rc == STORE_OK && op != TRANSFER_SUB_LIST) {
        rc = store_commit(s);
    }
    if (rc != STORE_OK) {
        fprintf(stderr, "almanac: %s\n", what ? what : store_last_error(s));
    } else if (op == TRANSFER_SUB_ADD) {
        printf("/subscribe/%s.ics\n", sub.token);
    }
    store_rollback(s);
    arena_destroy(&a);
    return rc == STORE_OK ? 0 : 2;
}
