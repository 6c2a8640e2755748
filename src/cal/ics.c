/* cal/ics.c: calendar files split into objects and objects joined into files, on the text
 * (see ics.h). A content line (RFC 5545 §3.1) is a physical line and the lines after it that
 * begin with a space or a tab; only BEGIN, END, UID and TZID are read from it, unfolded when
 * it is folded. Conditions: cal_cond_valid_calendar_data (a file that is not iCalendar). */
#include "cal/ics.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cal/cal.h"
#include "util/strset.h"

enum {
    ICS_MAX_LINE = 1 << 20, /* one unfolded content line */
    ICS_MAX_DEPTH = 16,     /* nesting of components */
};

/* One content line of `text` from *pos: its bytes with the folded continuations (`raw`, line
 * ends included) and the unfolded text (`line`, into `scratch` when folded). */
struct ics_line {
    struct slice raw;
    struct slice line;
    size_t lineno;  /* of its first physical line */
    bool long_line; /* `line` was cut at ICS_MAX_LINE */
};

struct ics_reader {
    struct slice text;
    size_t pos;
    size_t lineno; /* physical lines read so far */
    struct buf scratch;
};

/* The physical line at r->pos without its line end; *next is where the one after begins. */
static struct slice physical(struct ics_reader *r, size_t *next)
{
    const char *p = r->text.ptr + r->pos;
    size_t rest = r->text.len - r->pos;
    const char *nl = memchr(p, '\n', rest);
    size_t n = nl ? (size_t)(nl - p) : rest;
    *next = r->pos + n + (nl != NULL);
    if (n > 0 && p[n - 1] == '\r') {
        n--;
    }
    return (struct slice){p, n};
}

/* 1 with *out set, 0 at the end. The unfolded text keeps at most ICS_MAX_LINE bytes
 * (`long_line` then says it was cut); `raw` always has the whole content line. */
static int read_line(struct ics_reader *r, struct ics_line *out)
{
    if (r->pos >= r->text.len) {
        return 0;
    }
    size_t start = r->pos, next;
    struct slice first = physical(r, &next);
    r->pos = next;
    out->lineno = ++r->lineno;
    out->line = first;
    out->long_line = first.len > ICS_MAX_LINE;
    bool folded = false;
    while (r->pos < r->text.len && (r->text.ptr[r->pos] == ' ' || r->text.ptr[r->pos] == '\t')) {
        struct slice more = physical(r, &next);
        if (!folded) {
            buf_reset(&r->scratch);
            out->long_line |= buf_append_slice(&r->scratch, first) != 0;
            folded = true;
        }
        if (more.len > 1 && !out->long_line) {
            out->long_line = buf_append(&r->scratch, more.ptr + 1, more.len - 1) != 0;
        }
        r->pos = next;
        r->lineno++;
    }
    if (folded) {
        out->line = buf_slice(&r->scratch);
    }
    out->raw = (struct slice){r->text.ptr + start, r->pos - start};
    return 1;
}

/* The property name of a content line: up to ';' or ':'. */
static struct slice prop_name(struct slice line)
{
    size_t i = 0;
    while (i < line.len && line.ptr[i] != ';' && line.ptr[i] != ':') {
        i++;
    }
    return (struct slice){line.ptr, i};
}

static bool name_is(struct slice name, const char *want)
{
    return slice_eq_ci(name, slice_from_cstr(want));
}

/* BEGIN:X or END:X: the component name X, or an empty slice for any other line. */
static struct slice begin_end(struct slice line, bool *is_begin)
{
    struct slice name = prop_name(line);
    bool b = name_is(name, "BEGIN");
    if ((!b && !name_is(name, "END")) || name.len >= line.len || line.ptr[name.len] != ':') {
        return (struct slice){line.ptr, 0};
    }
    *is_begin = b;
    return slice_trim((struct slice){line.ptr + name.len + 1, line.len - name.len - 1});
}

/* The value of a content line: after the first ':' outside a quoted parameter value. */
static struct slice prop_value(struct slice line)
{
    bool quoted = false;
    for (size_t i = 0; i < line.len; i++) {
        if (line.ptr[i] == '"') {
            quoted = !quoted;
        } else if (line.ptr[i] == ':' && !quoted) {
            return (struct slice){line.ptr + i + 1, line.len - i - 1};
        }
    }
    return (struct slice){line.ptr + line.len, 0};
}

/* The TZID parameter of a content line (RFC 5545 §3.2.19), quotes removed; empty when none. */
static struct slice tzid_param(struct slice line)
{
    size_t i = prop_name(line).len;
    while (i < line.len && line.ptr[i] == ';') {
        size_t n0 = ++i;
        while (i < line.len && line.ptr[i] != '=' && line.ptr[i] != ':' && line.ptr[i] != ';') {
            i++;
        }
        struct slice pname = {line.ptr + n0, i - n0};
        if (i >= line.len || line.ptr[i] != '=') {
            break;
        }
        i++;
        size_t v0 = i, v1;
        if (i < line.len && line.ptr[i] == '"') {
            v0 = ++i;
            while (i < line.len && line.ptr[i] != '"') {
                i++;
            }
            v1 = i;
            i += i < line.len;
        } else {
            while (i < line.len && line.ptr[i] != ';' && line.ptr[i] != ':') {
                i++;
            }
            v1 = i;
        }
        while (i < line.len && line.ptr[i] != ';' && line.ptr[i] != ':') {
            i++; /* the rest of a multi-valued parameter */
        }
        if (name_is(pname, "TZID")) {
            return (struct slice){line.ptr + v0, v1 - v0};
        }
    }
    return (struct slice){line.ptr, 0};
}

/* Appends a content line's bytes with each physical line ended by CRLF. */
static int put_raw(struct buf *out, struct slice raw)
{
    size_t i = 0;
    while (i < raw.len) {
        const char *nl = memchr(raw.ptr + i, '\n', raw.len - i);
        size_t n = nl ? (size_t)(nl - (raw.ptr + i)) : raw.len - i;
        size_t keep = n > 0 && raw.ptr[i + n - 1] == '\r' ? n - 1 : n;
        if (buf_append(out, raw.ptr + i, keep) != 0 || buf_append(out, "\r\n", 2) != 0) {
            return -1;
        }
        i += n + (nl != NULL);
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Split */

struct comp {
    size_t start, end; /* bytes of the file, BEGIN to END lines included */
    size_t line;
    size_t index; /* order in the file among components */
    const char *uid;
    const char *tzid;  /* VTIMEZONE: its TZID */
    const char **refs; /* TZIDs its lines name, distinct */
    size_t nrefs;
};

struct group {
    size_t index; /* of its first component in the file */
    size_t start; /* in comps; the run ends where the next uid begins */
};

struct cal_split {
    struct slice file;
    struct arena *arena;
    struct comp *comps; /* events, to-dos, journals...: sorted by uid, then index */
    size_t ncomps, cap;
    struct comp *zones; /* VTIMEZONEs: sorted by tzid, then index */
    size_t nzones, zcap;
    struct slice head[3]; /* the first VCALENDAR's VERSION, PRODID, CALSCALE lines (raw) */
    struct group *groups; /* each object's run in comps, in the order of the file */
    size_t ngroups, next;
    struct buf out;
};

static int grow(struct comp **v, size_t *cap, size_t n)
{
    if (n < *cap) {
        return 0;
    }
    size_t ncap = *cap ? *cap * 2 : 64;
    struct comp *nv = realloc(*v, ncap * sizeof(**v));
    if (nv == NULL) {
        abort(); /* limits, not malloc, bound memory (util/buf.h) */
    }
    *v = nv;
    *cap = ncap;
    return 0;
}

static int cmp_str(const char *a, const char *b)
{
    return a == NULL ? (b == NULL ? 0 : -1) : b == NULL ? 1 : strcmp(a, b);
}

static int by_uid(const void *pa, const void *pb)
{
    const struct comp *a = pa, *b = pb;
    int c = cmp_str(a->uid, b->uid);
    return c ? c : (a->index > b->index) - (a->index < b->index);
}

static int by_tzid(const void *pa, const void *pb)
{
    const struct comp *a = pa, *b = pb;
    int c = cmp_str(a->tzid, b->tzid);
    return c ? c : (a->index > b->index) - (a->index < b->index);
}

static const struct comp *zone_find(const struct cal_split *sp, const char *tzid)
{
    size_t lo = 0, hi = sp->nzones;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cmp_str(sp->zones[mid].tzid, tzid) < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < sp->nzones && cmp_str(sp->zones[lo].tzid, tzid) == 0 ? &sp->zones[lo] : NULL;
}

static void add_ref(struct arena *a, struct comp *c, struct slice tzid)
{
    for (size_t i = 0; i < c->nrefs; i++) {
        if (strlen(c->refs[i]) == tzid.len && memcmp(c->refs[i], tzid.ptr, tzid.len) == 0) {
            return;
        }
    }
    if ((c->nrefs & (c->nrefs - 1)) == 0) { /* 0, 1, 2, 4, ...: double */
        const char **nr = arena_alloc(a, (c->nrefs ? c->nrefs * 2 : 1) * sizeof(*nr));
        if (c->nrefs) {
            memcpy(nr, c->refs, c->nrefs * sizeof(*nr));
        }
        c->refs = nr;
    }
    c->refs[c->nrefs++] = arena_slicedup(a, tzid);
}

static int split_fail(struct err *err, size_t line, const char *what)
{
    return err_set(err, &cal_cond_valid_calendar_data, "not an iCalendar file: %s at line %zu",
                   what, line);
}

/* Reads the structure: the components at depth 2 of each VCALENDAR with their UID and zones. */
static int split_scan(struct cal_split *sp, struct err *err)
{
    struct ics_reader r = {.text = sp->file};
    buf_init(&r.scratch, ICS_MAX_LINE);
    struct slice stack[ICS_MAX_DEPTH];
    size_t depth = 0, nseen = 0, ncal = 0;
    struct comp cur = {0};
    bool is_zone = false;
    struct ics_line l;
    const char *fail = NULL;
    size_t fail_line = 0;
    while (read_line(&r, &l) == 1) {
        bool begin = false;
        struct slice comp = begin_end(l.line, &begin);
        if (slice_trim(l.line).len == 0) {
            continue;
        }
        if (comp.len > 0 && begin) {
            if (depth == ICS_MAX_DEPTH) {
                fail = "components nested too deep";
            } else if (depth == 0 && !name_is(comp, "VCALENDAR")) {
                fail = "BEGIN of something other than VCALENDAR";
            } else if (depth == 1 && name_is(comp, "VCALENDAR")) {
                fail = "VCALENDAR inside VCALENDAR";
            }
            if (fail) {
                fail_line = l.lineno;
                break;
            }
            ncal += depth == 0;
            if (depth == 1) {
                cur = (struct comp){.start = (size_t)(l.raw.ptr - sp->file.ptr),
                                    .line = l.lineno,
                                    .index = nseen++};
                is_zone = name_is(comp, "VTIMEZONE");
            }
            /* a copy: a folded line's unfolded text is gone with the next one */
            stack[depth++] = (struct slice){arena_slicedup(sp->arena, comp), comp.len};
            continue;
        }
        if (comp.len > 0) {
            if (depth == 0 || !slice_eq_ci(comp, stack[depth - 1])) {
                fail = "END that does not match its BEGIN";
                fail_line = l.lineno;
                break;
            }
            if (--depth == 1) {
                cur.end = (size_t)(l.raw.ptr - sp->file.ptr) + l.raw.len;
                if (is_zone) {
                    grow(&sp->zones, &sp->zcap, sp->nzones);
                    sp->zones[sp->nzones++] = cur;
                } else {
                    grow(&sp->comps, &sp->cap, sp->ncomps);
                    sp->comps[sp->ncomps++] = cur;
                }
            }
            continue;
        }
        struct slice name = prop_name(l.line);
        if (l.long_line && (name_is(name, "UID") || name_is(name, "TZID"))) {
            fail = "a UID or TZID longer than 1 MiB";
            fail_line = l.lineno;
            break;
        }
        if (depth == 0) {
            fail = "content outside VCALENDAR";
            fail_line = l.lineno;
            break;
        }
        if (depth == 1) {
            int slot = name_is(name, "VERSION")    ? 0
                       : name_is(name, "PRODID")   ? 1
                       : name_is(name, "CALSCALE") ? 2
                                                   : -1;
            if (slot >= 0 && ncal == 1 && sp->head[slot].len == 0) {
                sp->head[slot] = l.raw;
            }
            continue;
        }
        if (depth == 2 && !is_zone && name_is(name, "UID") && cur.uid == NULL) {
            cur.uid = arena_slicedup(sp->arena, slice_trim(prop_value(l.line)));
        } else if (depth == 2 && is_zone && name_is(name, "TZID") && cur.tzid == NULL) {
            cur.tzid = arena_slicedup(sp->arena, slice_trim(prop_value(l.line)));
        } else if (!is_zone) {
            struct slice tz = tzid_param(l.line);
            if (tz.len > 0) {
                add_ref(sp->arena, &cur, tz);
            }
        }
    }
    buf_deinit(&r.scratch);
    if (fail) {
        return split_fail(err, fail_line, fail);
    }
    if (depth > 0) {
        return split_fail(err, r.lineno, "the file ends inside a component");
    }
    if (ncal == 0) {
        return split_fail(err, r.lineno, "no VCALENDAR");
    }
    return 0;
}

/* Objects: runs of one UID in comps (each component without UID its own), ordered by the
 * first component of each (the first of a run, comps being sorted by uid, then index). */
static int by_index(const void *pa, const void *pb)
{
    const struct group *a = pa, *b = pb;
    return (a->index > b->index) - (a->index < b->index);
}

int cal_split_open(struct slice file, struct cal_split **out, struct err *err)
{
    struct cal_split *sp = calloc(1, sizeof(*sp));
    if (sp == NULL) {
        abort();
    }
    sp->file = file;
    sp->arena = arena_create();
    buf_init(&sp->out, SIZE_MAX);
    *out = NULL;
    if (split_scan(sp, err) != 0) {
        cal_split_free(&sp);
        return -1;
    }
    if (sp->ncomps) {
        qsort(sp->comps, sp->ncomps, sizeof(*sp->comps), by_uid);
    }
    if (sp->nzones) {
        qsort(sp->zones, sp->nzones, sizeof(*sp->zones), by_tzid);
    }
    sp->groups = arena_alloc(sp->arena, (sp->ncomps + 1) * sizeof(*sp->groups));
    for (size_t i = 0; i < sp->ncomps; i++) {
        if (i == 0 || sp->comps[i].uid == NULL ||
            cmp_str(sp->comps[i].uid, sp->comps[i - 1].uid) != 0) {
            sp->groups[sp->ngroups++] = (struct group){sp->comps[i].index, i};
        }
    }
    if (sp->ngroups) {
        qsort(sp->groups, sp->ngroups, sizeof(*sp->groups), by_index);
    }
    *out = sp;
    return 0;
}

bool cal_split_next(struct cal_split *sp, struct cal_split_obj *out)
{
    if (sp->next >= sp->ngroups) {
        return false;
    }
    const struct group *g = &sp->groups[sp->next++];
    size_t end = g->start + 1;
    if (sp->comps[g->start].uid != NULL) {
        while (end < sp->ncomps && cmp_str(sp->comps[end].uid, sp->comps[g->start].uid) == 0) {
            end++;
        }
    }
    *out = (struct cal_split_obj){
        .uid = sp->comps[g->start].uid, .ncomps = end - g->start, .line = sp->comps[g->start].line};
    if (out->uid == NULL) {
        out->why = "a component without UID";
        return true;
    }
    struct buf *b = &sp->out;
    buf_reset(b);
    int rc = buf_append_cstr(b, "BEGIN:VCALENDAR\r\n");
    rc |= sp->head[0].len ? put_raw(b, sp->head[0]) : buf_append_cstr(b, "VERSION:2.0\r\n");
    rc |= sp->head[1].len ? put_raw(b, sp->head[1])
                          : buf_append_cstr(b, "PRODID:-//Almanac//Almanac//EN\r\n");
    if (sp->head[2].len) {
        rc |= put_raw(b, sp->head[2]);
    }
    /* Each zone once, in the order the components first name them. */
    for (size_t i = g->start; i < end && rc == 0; i++) {
        const struct comp *c = &sp->comps[i];
        for (size_t k = 0; k < c->nrefs && rc == 0; k++) {
            bool dup = false;
            for (size_t j = g->start; j <= i && !dup; j++) {
                for (size_t m = 0; m < (j < i ? sp->comps[j].nrefs : k) && !dup; m++) {
                    dup = strcmp(sp->comps[j].refs[m], c->refs[k]) == 0;
                }
            }
            if (dup) {
                continue;
            }
            const struct comp *z = zone_find(sp, c->refs[k]);
            if (z == NULL) {
                out->why =
                    arena_printf(sp->arena, "TZID \"%s\" has no VTIMEZONE in the file", c->refs[k]);
                return true;
            }
            rc |= put_raw(b, (struct slice){sp->file.ptr + z->start, z->end - z->start});
        }
    }
    for (size_t i = g->start; i < end && rc == 0; i++) {
        const struct comp *c = &sp->comps[i];
        rc |= put_raw(b, (struct slice){sp->file.ptr + c->start, c->end - c->start});
    }
    rc |= buf_append_cstr(b, "END:VCALENDAR\r\n");
    if (rc != 0) {
        out->why = "larger than this machine's memory allows";
        return true;
    }
    out->ics = buf_slice(b);
    return true;
}

size_t cal_split_components(const struct cal_split *sp)
{
    return sp->ncomps;
}

size_t cal_split_objects(const struct cal_split *sp)
{
    return sp->ngroups;
}

void cal_split_free(struct cal_split **psp)
{
    struct cal_split *sp = *psp;
    if (sp == NULL) {
        return;
    }
    free(sp->comps);
    free(sp->zones);
    buf_deinit(&sp->out);
    arena_destroy(&sp->arena);
    free(sp);
    *psp = NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Join */

struct cal_join {
    struct strset *zones; /* TZIDs written */
    struct buf zone;      /* the VTIMEZONE being read, until its TZID is known */
};

struct cal_join *cal_join_new(size_t max_zone_bytes)
{
    struct cal_join *j = calloc(1, sizeof(*j));
    if (j == NULL) {
        abort();
    }
    j->zones = strset_create(max_zone_bytes);
    buf_init(&j->zone, SIZE_MAX);
    return j;
}

void cal_join_free(struct cal_join **pj)
{
    struct cal_join *j = *pj;
    if (j == NULL) {
        return;
    }
    strset_destroy(&j->zones);
    buf_deinit(&j->zone);
    free(j);
    *pj = NULL;
}

int cal_join_head(struct cal_join *j, const char *name, struct buf *out)
{
    (void)j;
    int rc = buf_append_cstr(out, "BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"
                                  "PRODID:-//Almanac//Almanac//EN\r\nCALSCALE:GREGORIAN\r\n");
    if (name != NULL && rc == 0) {
        /* X-WR-CALNAME is TEXT: escape what RFC 5545 §3.3.11 says, drop control bytes. */
        rc |= buf_append_cstr(out, "X-WR-CALNAME:");
        for (const char *p = name; *p && rc == 0; p++) {
            unsigned char ch = (unsigned char)*p;
            if (ch == '\\' || ch == ';' || ch == ',') {
                rc |= buf_putc(out, '\\');
                rc |= buf_putc(out, (char)ch);
            } else if (ch >= 0x20 && ch != 0x7f) {
                rc |= buf_putc(out, (char)ch);
            }
        }
        rc |= buf_append_cstr(out, "\r\n");
    }
    return rc ? -1 : 0;
}

int cal_join_object(struct cal_join *j, struct slice stored, struct buf *out)
{
    struct ics_reader r = {.text = stored};
    buf_init(&r.scratch, ICS_MAX_LINE);
    size_t depth = 0;
    bool in_zone = false, zone_known = false, zone_keep = true;
    struct ics_line l;
    int rc = 0;
    while (rc == 0 && read_line(&r, &l) == 1) {
        bool begin = false;
        struct slice comp = begin_end(l.line, &begin);
        if (comp.len > 0 && begin) {
            depth++;
            if (depth == 2 && name_is(comp, "VTIMEZONE")) {
                in_zone = true;
                zone_known = false;
                zone_keep = true;
                buf_reset(&j->zone);
            }
        } else if (comp.len > 0 && depth > 0) {
            depth--;
        }
        bool inside =
            depth >= 2 || (depth == 1 && comp.len > 0 && !begin && !name_is(comp, "VCALENDAR"));
        if (!inside) {
            continue; /* VCALENDAR's lines and properties */
        }
        if (in_zone) {
            if (!zone_known && depth == 2 && name_is(prop_name(l.line), "TZID")) {
                struct slice tzid = slice_trim(prop_value(l.line));
                zone_known = true;
                zone_keep = strset_add(j->zones, tzid) != 0; /* new, or past the limit */
            }
            rc |= put_raw(&j->zone, l.raw);
            if (depth == 1) { /* its END */
                in_zone = false;
                if (zone_keep) {
                    rc |= buf_append_slice(out, buf_slice(&j->zone));
                }
            }
            continue;
        }
        rc |= put_raw(out, l.raw);
    }
    buf_deinit(&r.scratch);
    return rc ? -1 : 0;
}

int cal_join_tail(struct cal_join *j, struct buf *out)
{
    (void)j;
    return buf_append_cstr(out, "END:VCALENDAR\r\n");
}
