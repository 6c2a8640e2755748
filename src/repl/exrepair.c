/* repl/exrepair.c: the repairs after which the /exchange tree answers 210 Content Different
 * (exchange-replication.md §2.2): a UID for components that have none and a DTSTAMP where one
 * is missing. Works on the text, inserting lines after a component's BEGIN line, so every
 * other byte the client sent is stored as sent; validation stays with cal_parse_object(). */
#include <string.h>
#include <time.h>

#include "repl/exwrite.h"
#include "util/buf.h"
#include "util/sec.h"
#include "util/timeutil.h"

enum {
    REPAIR_UID_BYTES = 16, /* random bytes of a generated UID, written as 32 hex digits */
};

/* One content line: [start, end) without its line break; `next` is where the next one starts. */
struct line {
    size_t start;
    size_t end;
    size_t next;
    bool crlf;
};

static struct line line_at(struct slice s, size_t i)
{
    struct line l = {.start = i};
    const char *nl = memchr(s.ptr + i, '\n', s.len - i);
    l.end = nl ? (size_t)(nl - s.ptr) : s.len;
    l.next = nl ? l.end + 1 : s.len;
    if (l.end > i && s.ptr[l.end - 1] == '\r') {
        l.end--;
        l.crlf = true;
    }
    return l;
}

/* Whether the line is property `name` (followed by ':' or ';'), case-insensitively. */
static bool is_prop(struct slice s, const struct line *l, const char *name)
{
    size_t n = strlen(name);
    if (l->end - l->start <= n) {
        return false;
    }
    struct slice head = {s.ptr + l->start, n};
    char c = s.ptr[l->start + n];
    return slice_eq_ci(head, (struct slice){name, n}) && (c == ':' || c == ';');
}

static bool is_line(struct slice s, const struct line *l, const char *text)
{
    return slice_eq_ci((struct slice){s.ptr + l->start, l->end - l->start}, slice_from_cstr(text));
}

static bool is_object_begin(struct slice s, const struct line *l)
{
    return is_line(s, l, "BEGIN:VEVENT") || is_line(s, l, "BEGIN:VTODO") ||
           is_line(s, l, "BEGIN:VJOURNAL");
}

static bool is_begin(struct slice s, const struct line *l)
{
    return l->end - l->start > 6 &&
           slice_eq_ci((struct slice){s.ptr + l->start, 6}, SLICE_LIT("BEGIN:"));
}

static bool is_end(struct slice s, const struct line *l)
{
    return l->end - l->start > 4 &&
           slice_eq_ci((struct slice){s.ptr + l->start, 4}, SLICE_LIT("END:"));
}

/* What one top-level component lacks. */
struct comp_need {
    size_t begin_next; /* where the line after its BEGIN starts: the insertion point */
    bool crlf;
    bool has_uid;
    bool has_dtstamp;
};

/* The UID value of the first component that has one, copied into the arena, or NULL. */
static const char *first_uid(struct slice s, struct arena *arena)
{
    int depth = 0;
    for (size_t i = 0; i < s.len;) {
        struct line l = line_at(s, i);
        if (is_begin(s, &l)) {
            depth++;
        } else if (is_end(s, &l)) {
            depth--;
        } else if (depth == 2 && is_prop(s, &l, "UID")) {
            const char *colon = memchr(s.ptr + l.start, ':', l.end - l.start);
            if (colon && (size_t)(colon + 1 - s.ptr) < l.end) {
                return arena_strndup(arena, colon + 1, l.end - (size_t)(colon + 1 - s.ptr));
            }
        }
        i = l.next;
    }
    return NULL;
}

int repl_ex_repair(struct slice ics,
                   size_t limit,
                   struct arena *arena,
                   struct slice *out,
                   unsigned *changed,
                   const char **uid_out)
{
    *out = ics;
    *changed = 0;
    *uid_out = NULL;
    const char *uid = NULL;
    char stamp[32];
    int64_t now = time_now();
    time_t tt = (time_t)now;
    struct tm tm;
    gmtime_r(&tt, &tm);
    if (strftime(stamp, sizeof(stamp), "DTSTAMP:%Y%m%dT%H%M%SZ", &tm) == 0) {
        return 0;
    }
    struct buf b;
    buf_init(&b, limit);
    int rc = 0;
    int depth = 0;
    size_t copied = 0;
    struct comp_need cur = {0};
    bool in_comp = false;
    for (size_t i = 0; i < ics.len;) {
        struct line l = line_at(ics, i);
        if (l.start == l.end || ics.ptr[l.start] == ' ' || ics.ptr[l.start] == '\t') {
            i = l.next; /* folded continuation or empty line */
            continue;
        }
        if (is_begin(ics, &l)) {
            depth++;
            if (depth == 2 && is_object_begin(ics, &l)) {
                in_comp = true;
                cur = (struct comp_need){.begin_next = l.next, .crlf = l.crlf};
            }
        } else if (is_end(ics, &l)) {
            if (depth == 2 && in_comp) {
                in_comp = false;
                if (!cur.has_uid || !cur.has_dtstamp) {
                    const char *eol = cur.crlf ? "\r\n" : "\n";
                    if (!cur.has_uid && !uid) {
                        uid = first_uid(ics, arena);
                        if (!uid) {
                            uint8_t raw[REPAIR_UID_BYTES];
                            sec_random(raw, sizeof(raw));
                            char *hex = arena_alloc(arena, 2 * sizeof(raw) + 1);
                            sec_hex(raw, sizeof(raw), hex);
                            uid = hex;
                        }
                    }
                    rc |= buf_append(&b, ics.ptr + copied, cur.begin_next - copied);
                    copied = cur.begin_next;
                    if (!cur.has_uid) {
                        rc |= buf_appendf(&b, "UID:%s%s", uid, eol);
                        *changed |= REPL_EX_REPAIRED_UID;
                    }
                    if (!cur.has_dtstamp) {
                        rc |= buf_appendf(&b, "%s%s", stamp, eol);
                        *changed |= REPL_EX_REPAIRED_DTSTAMP;
                    }
                }
            }
            depth--;
        } else if (depth == 2 && in_comp) {
            cur.has_uid |= is_prop(ics, &l, "UID");
            cur.has_dtstamp |= is_prop(ics, &l, "DTSTAMP");
        }
        i = l.next;
    }
    if (*changed) {
        rc |= buf_append(&b, ics.ptr + copied, ics.len - copied);
        if (rc != 0) {
            buf_deinit(&b);
            *changed = 0;
            return -1;
        }
        out->ptr = arena_strndup(arena, b.data, b.len);
        out->len = b.len;
        *uid_out = (*changed & REPL_EX_REPAIRED_UID) ? uid : NULL;
    }
    buf_deinit(&b);
    return 0;
}
