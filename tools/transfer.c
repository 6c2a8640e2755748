/* tools/transfer.c: `almanac import` and `almanac export` (see transfer.h). The file is split
 * by cal/ics.h; each object is validated by cal_parse_object outside any transaction (so the
 * store's write lock is held only for writing), then a batch of them is written in one
 * transaction: a crash loses at most the batch being written, and a re-run finishes the job
 * (objects are matched by UID and the same bytes are not written again, so importing a file
 * twice changes nothing the second time). */
#include "tools/transfer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cal/cal.h"
#include "cal/ics.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/sec.h"

enum {
    IMPORT_BATCH = 256,                   /* objects per write transaction */
    IMPORT_MAX_STDIN = 1 << 30,           /* bytes read from stdin */
    IMPORT_MAX_OBJECT = 10 * 1024 * 1024, /* bytes of one object: max_resource_size */
    IMPORT_NAME_UID_MAX = 200,            /* a UID this long or shorter names its item */
    EXPORT_ZONE_BYTES = 64 * 1024,        /* TZIDs remembered by the join */
    EXPORT_FLUSH = 256 * 1024,            /* bytes buffered before a write */
    ALL_COMPS = CAL_COMP_VEVENT | CAL_COMP_VTODO | CAL_COMP_VJOURNAL,
};

static const char content_type[] = "text/calendar; charset=utf-8";

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

/* The item name for `uid`: the UID itself when it is a short run of characters safe in a
 * URL segment, else the hex of its hash (stable: the same UID always gets the same name). */
static const char *item_name(struct arena *a, const char *uid)
{
    size_t n = strlen(uid);
    bool plain = n > 0 && n <= IMPORT_NAME_UID_MAX && uid[0] != '.';
    for (size_t i = 0; plain && i < n; i++) {
        char c = uid[i];
        plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '.' || c == '_' || c == '-' || c == '@';
    }
    if (plain) {
        return arena_printf(a, "%s.ics", uid);
    }
    uint8_t h[32];
    sec_hash(NULL, 0, uid, n, h);
    char hex[2 * 16 + 1];
    sec_hex(h, 16, hex);
    return arena_printf(a, "%s.ics", hex);
}

struct pending {
    const char *uid;
    const char *ics; /* a copy, in the batch arena */
    size_t size;
    size_t line;
    struct cal_info info;
};

struct import {
    struct store *s;
    const char *user;
    const char *calendar;
    struct store_coll coll;
    size_t total, done, added, replaced, unchanged, refused;
    bool bar;
    int last_pct;
};

static void refuse(struct import *im, size_t line, const char *uid, const char *why)
{
    im->refused++;
    fprintf(stderr, "almanac: line %zu%s%.200s%s: refused: %s\n", line, uid ? ", UID '" : "",
            uid ? uid : "", uid ? "'" : "", why);
}

static void show_progress(struct import *im, bool last)
{
    if (!im->bar || im->total == 0) {
        return;
    }
    int pct = (int)(im->done * 100 / im->total);
    if (pct == im->last_pct && !last) {
        return;
    }
    im->last_pct = pct;
    char bar[41];
    int full = pct * 40 / 100;
    memset(bar, '#', (size_t)full);
    memset(bar + full, '.', (size_t)(40 - full));
    bar[40] = '\0';
    fprintf(stderr, "\rimporting [%s] %3d%% %zu/%zu", bar, pct, im->done, im->total);
    if (last) {
        fputc('\n', stderr);
    }
    fflush(stderr);
}

/* Finds or creates the calendar (a write transaction of its own). */
static int open_calendar(struct import *im)
{
    struct arena *a = arena_create();
    struct store_principal p;
    enum store_rc rc = store_begin_write(im->s);
    if (rc == STORE_OK) {
        rc = store_principal_get(im->s, im->user, a, &p);
        if (rc == STORE_NOTFOUND) {
            fprintf(stderr, "almanac: user '%s' not found\n", im->user);
        }
    }
    bool created = false;
    if (rc == STORE_OK) {
        rc = store_coll_lookup(im->s, p.home_id, im->calendar, a, &im->coll);
        if (rc == STORE_NOTFOUND) {
            rc = store_coll_create(im->s, p.home_id, im->calendar, STORE_COLL_CALENDAR, a,
                                   &im->coll);
            created = rc == STORE_OK;
        } else if (rc == STORE_OK && im->coll.kind != STORE_COLL_CALENDAR) {
            fprintf(stderr, "almanac: '%s' of user '%s' is not a calendar\n", im->calendar,
                    im->user);
            rc = STORE_CONFLICT;
        }
    }
    if (rc == STORE_OK) {
        rc = store_commit(im->s);
    }
    if (rc != STORE_OK) {
        if (rc != STORE_NOTFOUND && rc != STORE_CONFLICT) {
            fprintf(stderr, "almanac: cannot open calendar '%s': %s\n", im->calendar,
                    store_last_error(im->s));
        }
        store_rollback(im->s);
    } else if (created) {
        fprintf(stderr, "almanac: created calendar '%s' of user '%s'\n", im->calendar, im->user);
    }
    im->coll.name = NULL; /* the arena goes */
    arena_destroy(&a);
    return rc == STORE_OK ? 0 : -1;
}

/* Writes the validated batch in one transaction. -1 when the store failed (nothing of the
 * batch written). */
static int write_batch(struct import *im, struct pending *p, size_t n, struct arena *a)
{
    size_t added = 0, replaced = 0, unchanged = 0;
    enum store_rc rc = store_begin_write(im->s);
    for (size_t i = 0; i < n && rc == STORE_OK; i++) {
        struct store_item old;
        const char *name = NULL;
        rc = store_item_get_by_uid(im->s, im->coll.id, p[i].uid, a, &old);
        if (rc == STORE_OK && old.size == p[i].size) {
            /* the same bytes again: nothing to write, so a re-run changes nothing */
            struct store_item full;
            rc = store_item_get(im->s, im->coll.id, old.name, STORE_ITEM_CONTENT, a, &full);
            if (rc == STORE_OK && memcmp(full.content, p[i].ics, p[i].size) == 0) {
                unchanged++;
                continue;
            }
        }
        if (rc == STORE_OK) {
            name = old.name;
        } else if (rc == STORE_NOTFOUND) {
            name = item_name(a, p[i].uid);
            rc = STORE_OK;
        }
        if (rc != STORE_OK) {
            break;
        }
        struct store_item_in in = {
            .content = p[i].ics,
            .size = p[i].size,
            .content_type = content_type,
            .uid = p[i].info.uid,
            .has_span = p[i].info.has_span,
            .dtstart_utc = p[i].info.dtstart_utc,
            .dtend_utc = p[i].info.dtend_utc,
            .comp = p[i].info.comp,
            .is_recurring = p[i].info.is_recurring,
            .has_instances = p[i].info.has_instances,
            .instances = p[i].info.instances,
            .instances_size = p[i].info.instances_size,
        };
        bool created = false;
        rc = store_item_put(im->s, im->coll.id, name, &in, a, NULL, &created);
        if (rc == STORE_EXISTS) {
            /* a collection has the name the UID would give: the hashed name then */
            uint8_t h[32];
            char hex[2 * 16 + 1];
            sec_hash(NULL, 0, p[i].uid, strlen(p[i].uid), h);
            sec_hex(h, 16, hex);
            rc = store_item_put(im->s, im->coll.id, arena_printf(a, "%s.ics", hex), &in, a, NULL,
                                &created);
        }
        added += rc == STORE_OK && created;
        replaced += rc == STORE_OK && !created;
    }
    if (rc == STORE_OK) {
        rc = store_commit(im->s);
    }
    if (rc != STORE_OK) {
        fprintf(stderr, "almanac: writing objects failed: %s (nothing of the last %zu written)\n",
                store_last_error(im->s), n);
        store_rollback(im->s);
        return -1;
    }
    im->added += added;
    im->replaced += replaced;
    im->unchanged += unchanged;
    return 0;
}

int transfer_import(
    struct store *s, const char *user, const char *calendar, const char *path, bool progress)
{
    struct import im = {.s = s, .user = user, .calendar = calendar, .last_pct = -1};
    im.bar = progress && isatty(STDERR_FILENO);
    struct file_bytes f;
    if (read_file(path, &f) != 0) {
        free_file(&f);
        return 2;
    }
    struct cal_split *sp = NULL;
    struct err err;
    err_init(&err);
    if (cal_split_open(f.s, &sp, &err) != 0) {
        fprintf(stderr, "almanac: %s: %s\n", path, err.msg);
        free_file(&f);
        return 2;
    }
    if (open_calendar(&im) != 0) {
        cal_split_free(&sp);
        free_file(&f);
        return 2;
    }
    im.total = cal_split_objects(sp);
    struct arena *a = arena_create();
    struct pending *batch = calloc(IMPORT_BATCH, sizeof(*batch));
    if (batch == NULL) {
        abort();
    }
    size_t nb = 0;
    int status = 0;
    unsigned allowed = im.coll.comps ? im.coll.comps : ALL_COMPS;
    struct cal_split_obj o;
    bool more = true;
    while (more && status == 0) {
        more = cal_split_next(sp, &o);
        if (more) {
            im.done++;
            if (o.why) {
                refuse(&im, o.line, o.uid, o.why);
            } else if (o.ics.len > IMPORT_MAX_OBJECT) {
                refuse(&im, o.line, o.uid, "larger than max_resource_size (10 MiB)");
            } else {
                struct pending *p = &batch[nb];
                err_init(&err);
                if (cal_parse_object(o.ics, allowed, a, &p->info, &err) != 0) {
                    refuse(&im, o.line, o.uid, err.msg);
                } else {
                    p->uid = arena_strdup(a, o.uid);
                    p->ics = arena_memdup(a, o.ics.ptr, o.ics.len);
                    p->size = o.ics.len;
                    p->line = o.line;
                    nb++;
                }
            }
        }
        if (nb == IMPORT_BATCH || (!more && nb > 0)) {
            if (write_batch(&im, batch, nb, a) != 0) {
                status = 2;
            }
            nb = 0;
            arena_destroy(&a);
            a = arena_create();
        }
        show_progress(&im, !more);
    }
    free(batch);
    arena_destroy(&a);
    cal_split_free(&sp);
    free_file(&f);
    printf("imported %zu of %zu objects into calendar '%s' of user '%s': %zu new, %zu "
           "replaced, %zu unchanged, %zu refused\n",
           im.added + im.replaced + im.unchanged, im.total, calendar, user, im.added, im.replaced,
           im.unchanged, im.refused);
    if (status != 0) {
        return status;
    }
    return im.refused ? TRANSFER_PARTIAL : 0;
}

int transfer_export(struct store *s, const char *user, const char *calendar, FILE *out)
{
    struct arena *a = arena_create();
    struct store_principal p;
    struct store_coll c;
    struct store_cursor *cur = NULL;
    struct cal_join *j = cal_join_new(EXPORT_ZONE_BYTES);
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
    if (rc == STORE_OK) {
        rc = store_items_open(s, c.id, STORE_ORDER_NAME, &cur);
    }
    if (rc == STORE_OK && cal_join_head(j, calendar, &b) != 0) {
        rc = STORE_LIMIT;
    }
    size_t n = 0;
    while (rc == STORE_OK) {
        struct store_item it;
        rc = store_cursor_next_item(cur, &it);
        if (rc == STORE_NOTFOUND) {
            rc = STORE_OK;
            break;
        }
        if (rc != STORE_OK) {
            break;
        }
        struct arena_mark m = arena_mark(a);
        struct store_item full;
        rc = store_item_get(s, c.id, it.name, STORE_ITEM_CONTENT, a, &full);
        if (rc == STORE_OK && cal_join_object(j, (struct slice){full.content, full.size}, &b)) {
            rc = STORE_LIMIT;
        }
        arena_rewind(a, m);
        n++;
        if (rc == STORE_OK && b.len >= EXPORT_FLUSH) {
            if (fwrite(b.data, 1, b.len, out) != b.len) {
                fprintf(stderr, "almanac: writing the file failed: %s\n", strerror(errno));
                status = 2;
                break;
            }
            buf_reset(&b);
        }
    }
    if (rc == STORE_OK && status == 0 && cal_join_tail(j, &b) != 0) {
        rc = STORE_LIMIT;
    }
    if (rc == STORE_OK && status == 0 &&
        ((b.len && fwrite(b.data, 1, b.len, out) != b.len) || fflush(out) != 0)) {
        fprintf(stderr, "almanac: writing the file failed: %s\n", strerror(errno));
        status = 2;
    }
    if (rc != STORE_OK && status == 0) {
        fprintf(stderr, "almanac: export failed: %s\n", store_last_error(s));
        status = 2;
    }
    if (status == 0) {
        fprintf(stderr, "almanac: exported %zu objects\n", n);
    }
    store_cursor_close(&cur);
    store_rollback(s);
    cal_join_free(&j);
    buf_deinit(&b);
    arena_destroy(&a);
    return status;
}
