/* repl/mime.c: the calendar inside a message/rfc822 PUT body (exchange-replication.md §2.5,
 * RFC 2045-2046): headers unfolded, Content-Type and Content-Transfer-Encoding read, multipart
 * bodies split at their boundary, the first text/calendar entity decoded. A bounded walk over
 * a borrowed buffer: nothing is copied but the decoded result. */
#include <string.h>
#include <strings.h>

#include "repl/exwrite.h"
#include "util/sec.h"

enum {
    MIME_MAX_DEPTH = 8,     /* nested multiparts searched */
    MIME_MAX_PARTS = 1000,  /* body parts looked at, in all */
    MIME_MAX_BOUNDARY = 70, /* RFC 2046 §5.1.1 */
    MIME_MAX_PARAM = 999,   /* a header value kept for parsing: RFC 5322 §2.1.1 line limit */
};

/* One entity: its two headers of interest and its body. */
struct mime_entity {
    char type[MIME_MAX_PARAM]; /* lowercase "type/subtype", default text/plain */
    char boundary[MIME_MAX_BOUNDARY + 1];
    char encoding[MIME_MAX_PARAM]; /* lowercase, default 7bit */
    struct slice body;
};

struct mime_walk {
    struct arena *arena;
    size_t parts;
    struct err *err;
};

static size_t line_end(struct slice s, size_t i)
{
    const char *nl = memchr(s.ptr + i, '\n', s.len - i);
    return nl ? (size_t)(nl - s.ptr) : s.len;
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Copies a header value, unfolded (CR/LF dropped) and trimmed, into out (truncated). */
static void copy_value(struct slice v, char *out, size_t size, bool lowercase)
{
    size_t n = 0;
    for (size_t i = 0; i < v.len && n + 1 < size; i++) {
        char c = v.ptr[i];
        if (c == '\r' || c == '\n') {
            continue;
        }
        if (c == '\t') {
            c = ' ';
        }
        if (n == 0 && c == ' ') {
            continue;
        }
        out[n++] = lowercase ? lower(c) : c;
    }
    while (n > 0 && out[n - 1] == ' ') {
        n--;
    }
    out[n] = '\0';
}

/* The boundary parameter of a Content-Type value (quoted or not), case kept. */
static void boundary_of(const char *ct_raw, char *out)
{
    out[0] = '\0';
    const char *p = ct_raw;
    while ((p = strchr(p, ';')) != NULL) {
        p++;
        while (*p == ' ') {
            p++;
        }
        if (strncasecmp(p, "boundary", 8) != 0) {
            continue;
        }
        p += 8;
        while (*p == ' ') {
            p++;
        }
        if (*p != '=') {
            continue;
        }
        p++;
        while (*p == ' ') {
            p++;
        }
        bool quoted = *p == '"';
        p += quoted;
        size_t n = 0;
        while (*p && n < MIME_MAX_BOUNDARY && (quoted ? *p != '"' : *p != ';' && *p != ' ')) {
            out[n++] = *p++;
        }
        out[n] = '\0';
        return;
    }
}

/* Parses the header block of `s`. 0, or -1 with repl_cond_ex_bad_mime. */
static int parse_entity(struct mime_walk *mw, struct slice s, struct mime_entity *e)
{
    memset(e, 0, sizeof(*e));
    char ct_raw[MIME_MAX_PARAM] = "";
    size_t i = 0;
    for (;;) {
        if (i >= s.len) {
            return err_set(mw->err, &repl_cond_ex_bad_mime, "message headers do not end");
        }
        size_t end = line_end(s, i);
        struct slice line = {s.ptr + i, end - i};
        if (line.len > 0 && line.ptr[line.len - 1] == '\r') {
            line.len--;
        }
        /* the header's continuation lines (RFC 5322 §2.2.3) */
        size_t next = end < s.len ? end + 1 : end;
        while (line.len > 0 && next < s.len && (s.ptr[next] == ' ' || s.ptr[next] == '\t')) {
            end = line_end(s, next);
            line.len = end - i;
            if (line.ptr[line.len - 1] == '\r') {
                line.len--;
            }
            next = end < s.len ? end + 1 : end;
        }
        i = next;
        if (line.len == 0) {
            break;
        }
        const char *colon = memchr(line.ptr, ':', line.len);
        if (!colon) {
            return err_set(mw->err, &repl_cond_ex_bad_mime, "a message header without ':'");
        }
        struct slice name = slice_trim((struct slice){line.ptr, (size_t)(colon - line.ptr)});
        struct slice value = {colon + 1, line.len - (size_t)(colon + 1 - line.ptr)};
        if (slice_eq_ci(name, SLICE_LIT("Content-Type"))) {
            copy_value(value, ct_raw, sizeof(ct_raw), false);
        } else if (slice_eq_ci(name, SLICE_LIT("Content-Transfer-Encoding"))) {
            copy_value(value, e->encoding, sizeof(e->encoding), true);
        }
    }
    size_t tlen = strcspn(ct_raw, "; ");
    for (size_t k = 0; k < tlen; k++) {
        e->type[k] = lower(ct_raw[k]);
    }
    e->type[tlen] = '\0';
    if (!e->type[0]) {
        memcpy(e->type, "text/plain", 11);
    }
    if (!e->encoding[0]) {
        memcpy(e->encoding, "7bit", 5);
    }
    boundary_of(ct_raw, e->boundary);
    e->body = (struct slice){s.ptr + i, s.len - i};
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = lower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* RFC 2045 §6.7: "=XX" octets and "=" soft line breaks; a malformed "=" stays as it is. */
static struct slice decode_qp(struct slice in, struct arena *arena)
{
    char *out = arena_alloc(arena, in.len + 1);
    size_t n = 0;
    for (size_t i = 0; i < in.len; i++) {
        char c = in.ptr[i];
        if (c != '=') {
            out[n++] = c;
            continue;
        }
        if (i + 2 < in.len && in.ptr[i + 1] == '\r' && in.ptr[i + 2] == '\n') {
            i += 2;
            continue;
        }
        if (i + 1 < in.len && in.ptr[i + 1] == '\n') {
            i += 1;
            continue;
        }
        int hi = i + 1 < in.len ? hexval(in.ptr[i + 1]) : -1;
        int lo = i + 2 < in.len ? hexval(in.ptr[i + 2]) : -1;
        if (hi >= 0 && lo >= 0) {
            out[n++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[n++] = c;
        }
    }
    out[n] = '\0';
    return (struct slice){out, n};
}

static int decode(struct mime_walk *mw, const struct mime_entity *e, struct slice *out)
{
    if (strcmp(e->encoding, "7bit") == 0 || strcmp(e->encoding, "8bit") == 0 ||
        strcmp(e->encoding, "binary") == 0) {
        char *c = arena_alloc(mw->arena, e->body.len + 1);
        memcpy(c, e->body.ptr, e->body.len);
        c[e->body.len] = '\0';
        *out = (struct slice){c, e->body.len};
        return 0;
    }
    if (strcmp(e->encoding, "quoted-printable") == 0) {
        *out = decode_qp(e->body, mw->arena);
        return 0;
    }
    if (strcmp(e->encoding, "base64") == 0) {
        char *c = arena_alloc(mw->arena, e->body.len + 1);
        long n = sec_unbase64(e->body, c, e->body.len);
        if (n < 0) {
            return err_set(mw->err, &repl_cond_ex_bad_mime,
                           "the calendar part is not valid base64");
        }
        c[n] = '\0';
        *out = (struct slice){c, (size_t)n};
        return 0;
    }
    return err_set(mw->err, &repl_cond_ex_no_calendar, "unsupported Content-Transfer-Encoding %s",
                   e->encoding);
}

/* Where the delimiter line "--boundary" next starts at a line start at or after `from`. */
static size_t find_delim(struct slice body, size_t from, const char *b, size_t blen)
{
    for (size_t i = from; i + 2 + blen <= body.len; i++) {
        if ((i == 0 || body.ptr[i - 1] == '\n') && body.ptr[i] == '-' && body.ptr[i + 1] == '-' &&
            memcmp(body.ptr + i + 2, b, blen) == 0) {
            return i;
        }
    }
    return body.len;
}

/* 0 with *out when `s` or one of its parts is a calendar, 1 when none is, -1 with err. */
static int walk(struct mime_walk *mw, struct slice s, unsigned depth, struct slice *out)
{
    struct mime_entity e;
    if (parse_entity(mw, s, &e) != 0) {
        return -1;
    }
    if (strcmp(e.type, "text/calendar") == 0) {
        return decode(mw, &e, out);
    }
    if (strncmp(e.type, "multipart/", 10) != 0 || depth == MIME_MAX_DEPTH) {
        return 1;
    }
    if (!e.boundary[0]) {
        return err_set(mw->err, &repl_cond_ex_bad_mime, "a multipart body without a boundary");
    }
    size_t blen = strlen(e.boundary);
    size_t d = find_delim(e.body, 0, e.boundary, blen);
    while (d < e.body.len) {
        size_t after = d + 2 + blen;
        if (after + 2 <= e.body.len && e.body.ptr[after] == '-' && e.body.ptr[after + 1] == '-') {
            break; /* the close delimiter */
        }
        size_t start = line_end(e.body, after);
        start = start < e.body.len ? start + 1 : start;
        size_t next = find_delim(e.body, start, e.boundary, blen);
        size_t end = next;
        /* the CRLF before a delimiter belongs to it (RFC 2046 §5.1.1) */
        if (end > start && e.body.ptr[end - 1] == '\n') {
            end--;
            if (end > start && e.body.ptr[end - 1] == '\r') {
                end--;
            }
        }
        if (++mw->parts > MIME_MAX_PARTS) {
            return err_set(mw->err, &repl_cond_ex_bad_mime, "more than %d message parts",
                           MIME_MAX_PARTS);
        }
        int rc = walk(mw, (struct slice){e.body.ptr + start, end - start}, depth + 1, out);
        if (rc <= 0) {
            return rc;
        }
        d = next;
    }
    return 1;
}

int repl_mime_unwrap(struct slice msg, struct arena *arena, struct slice *out, struct err *err)
{
    struct mime_walk mw = {.arena = arena, .err = err};
    int rc = walk(&mw, msg, 0, out);
    if (rc == 1) {
        return err_set(err, &repl_cond_ex_no_calendar, "the message carries no text/calendar part");
    }
    return rc;
}
