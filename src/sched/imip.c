/* sched/imip.c: iMIP messages (RFC 6047) built and read (imip.h). Building: RFC 5322 headers,
 * a multipart/alternative of a text/plain summary and the text/calendar part (RFC 6047 §2.4),
 * RFC 2047 encoded words for a non-ASCII subject, RFC 5545 §3.1 line folding. Reading: the
 * From address and the first text/calendar entity of a message, the walk of RFC 2045-2046
 * that repl/mime.c does for /exchange bodies (which lives in repl, a layer that
 * `almanac imip-deliver` may not use; the two could share one module below both). Never
 * touches the store or the network. */
#include "sched/imip.h"

#include <string.h>
#include <strings.h>
#include <time.h>

#include "util/buf.h"
#include "util/sec.h"

enum {
    FOLD_OCTETS = 75,  /* RFC 5545 §3.1: lines SHOULD NOT be longer than 75 octets */
    B64_LINE = 76,     /* RFC 2045 §6.8: encoded lines of at most 76 characters */
    WORD_RAW = 45,     /* bytes of subject text per RFC 2047 encoded word (60 in base64) */
    SUBJECT_MAX = 200, /* bytes of the summary put into the subject */
    HDR_MAX = 999,     /* a header value kept for parsing: RFC 5322 §2.1.1 line limit */
    MAX_BOUNDARY = 70, /* RFC 2046 §5.1.1 */
};

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static char upper(char c)
{
    return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

const char *sched_imip_mailbox(const char *addr, struct arena *arena)
{
    struct slice a = slice_from_cstr(addr ? addr : "");
    if (a.len < 8 || !slice_eq_ci((struct slice){a.ptr, 7}, SLICE_LIT("mailto:"))) {
        return NULL;
    }
    const char *box = addr + 7;
    const char *at = strrchr(box, '@');
    if (!at || at == box || at[1] == '\0' || strchr(box, '@') != at || strlen(box) > 254) {
        return NULL;
    }
    for (const char *p = box; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= ' ' || c == 0x7f || c == '<' || c == '>' || c == '(' || c == ')' || c == ',' ||
            c == ';' || c == '"' || c == '\\') {
            return NULL;
        }
    }
    return arena_strdup(arena, box);
}

/* ---------------------------------------------------------------------------------------- */
/* Building */

static bool is_ascii(struct slice s)
{
    for (size_t i = 0; i < s.len; i++) {
        if ((unsigned char)s.ptr[i] >= 0x80) {
            return false;
        }
    }
    return true;
}

/* Length of the UTF-8 sequence that starts with `c` (1 for a stray byte). */
static size_t utf8_len(unsigned char c)
{
    return c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
}

/* The value of the first `name` property (e.g. "SUMMARY") of the first component of `ics`
 * that has one, unfolded and unescaped (RFC 5545 §3.3.11), in the arena; NULL when none.
 * `param` (may be NULL) receives the value of that line's parameter of that name. */
static const char *
prop_value(struct slice ics, const char *name, const char *pname, struct arena *a, char **param)
{
    size_t nlen = strlen(name);
    for (size_t i = 0; i < ics.len;) {
        const char *nl = memchr(ics.ptr + i, '\n', ics.len - i);
        size_t end = nl ? (size_t)(nl - ics.ptr) : ics.len;
        bool match = end - i > nlen && strncasecmp(ics.ptr + i, name, nlen) == 0 &&
                     (ics.ptr[i + nlen] == ':' || ics.ptr[i + nlen] == ';');
        if (!match) {
            i = end + 1;
            continue;
        }
        /* unfold the logical line */
        struct buf b;
        buf_init(&b, SCHED_IMIP_MAX_MESSAGE);
        size_t j = i;
        for (;;) {
            const char *n2 = memchr(ics.ptr + j, '\n', ics.len - j);
            size_t e = n2 ? (size_t)(n2 - ics.ptr) : ics.len;
            size_t l = e - j;
            if (l && ics.ptr[j + l - 1] == '\r') {
                l--;
            }
            if (buf_append_grow(&b, ics.ptr + j, l) != 0) {
                break; /* past the limit: the value is cut there */
            }
            j = e + 1;
            if (j >= ics.len || (ics.ptr[j] != ' ' && ics.ptr[j] != '\t')) {
                break;
            }
            j++;
        }
        const char *line = buf_cstr(&b);
        /* the value starts after the first ':' outside a quoted parameter value */
        bool q = false;
        const char *colon = NULL;
        for (const char *p = line; *p && !colon; p++) {
            if (*p == '"') {
                q = !q;
            } else if (*p == ':' && !q) {
                colon = p;
            }
        }
        if (param && pname) {
            *param = NULL;
            size_t pl = strlen(pname);
            for (const char *p = line; colon && p < colon; p++) {
                if (*p == ';' && strncasecmp(p + 1, pname, pl) == 0 && p[1 + pl] == '=') {
                    const char *v = p + 2 + pl;
                    size_t vl = strcspn(v, ";:");
                    *param = arena_strndup(a, v, vl);
                    break;
                }
            }
        }
        char *out = NULL;
        if (colon) {
            out = arena_alloc(a, strlen(colon) + 1);
            size_t n = 0;
            for (const char *p = colon + 1; *p; p++) {
                if (*p == '\\' && p[1]) {
                    p++;
                    out[n++] = (*p == 'n' || *p == 'N') ? '\n' : *p;
                } else {
                    out[n++] = *p;
                }
            }
            out[n] = '\0';
        }
        buf_deinit(&b);
        return out;
    }
    return NULL;
}

/* Appends `s` as base64 in lines of B64_LINE characters. */
static int put_base64(struct buf *b, struct slice s)
{
    size_t per = B64_LINE / 4 * 3; /* 57 bytes a line */
    char line[B64_LINE + 4];
    for (size_t i = 0; i < s.len; i += per) {
        size_t n = s.len - i < per ? s.len - i : per;
        sec_base64(s.ptr + i, n, line, sizeof(line));
        if (buf_appendf(b, "%s\r\n", line) != 0) {
            return -1;
        }
    }
    return 0;
}

/* Appends `s` with CRLF line ends, each line folded at FOLD_OCTETS octets (RFC 5545 §3.1),
 * never inside a UTF-8 sequence; a line already folded stays as it is. */
static int put_folded(struct buf *b, struct slice s)
{
    size_t i = 0;
    while (i < s.len) {
        const char *nl = memchr(s.ptr + i, '\n', s.len - i);
        size_t end = nl ? (size_t)(nl - s.ptr) : s.len;
        size_t l = end - i;
        if (l && s.ptr[i + l - 1] == '\r') {
            l--;
        }
        size_t col = 0;
        for (size_t k = 0; k < l;) {
            size_t n = utf8_len((unsigned char)s.ptr[i + k]);
            if (k + n > l) {
                n = l - k;
            }
            if (col + n > FOLD_OCTETS) {
                if (buf_append_slice(b, SLICE_LIT("\r\n ")) != 0) {
                    return -1;
                }
                col = 1;
            }
            if (buf_append_grow(b, s.ptr + i + k, n) != 0) {
                return -1;
            }
            col += n;
            k += n;
        }
        if (l && buf_append_slice(b, SLICE_LIT("\r\n")) != 0) {
            return -1;
        }
        i = end + 1;
    }
    return 0;
}

/* Appends text `s` (LF or CRLF lines) as CRLF lines. */
static int put_crlf(struct buf *b, struct slice s)
{
    for (size_t i = 0; i < s.len; i++) {
        if (s.ptr[i] == '\r') {
            continue;
        }
        if (s.ptr[i] == '\n' ? buf_append_slice(b, SLICE_LIT("\r\n")) : buf_putc(b, s.ptr[i])) {
            return -1;
        }
    }
    return 0;
}

/* "Subject: " and `text` (one line), as RFC 2047 "B" encoded words when not ASCII. */
static int put_subject(struct buf *b, const char *text)
{
    struct slice t = slice_from_cstr(text);
    if (is_ascii(t)) {
        return buf_appendf(b, "Subject: %s\r\n", text);
    }
    if (buf_append_slice(b, SLICE_LIT("Subject:")) != 0) {
        return -1;
    }
    for (size_t i = 0; i < t.len;) {
        size_t n = 0;
        while (i + n < t.len) {
            size_t c = utf8_len((unsigned char)t.ptr[i + n]);
            c = c < t.len - i - n ? c : t.len - i - n;
            if (n + c > WORD_RAW) {
                break;
            }
            n += c;
        }
        if (n == 0) {
            n = 1;
        }
        char enc[2 * WORD_RAW + 8];
        sec_base64(t.ptr + i, n, enc, sizeof(enc));
        if (buf_appendf(b, "%s=?UTF-8?B?%s?=", i ? "\r\n " : " ", enc) != 0) {
            return -1;
        }
        i += n;
    }
    return buf_append_slice(b, SLICE_LIT("\r\n"));
}

/* A body part: headers, blank line, content as 7bit (ASCII) or base64; calendar text folded. */
static int
put_part(struct buf *b, const char *boundary, const char *type, struct slice body, bool fold)
{
    bool ascii = is_ascii(body);
    if (buf_appendf(b, "--%s\r\nContent-Type: %s\r\nContent-Transfer-Encoding: %s\r\n\r\n",
                    boundary, type, ascii ? "7bit" : "base64") != 0) {
        return -1;
    }
    /* RFC 2046 §5.1.1: the CRLF before the next delimiter belongs to it, so one more keeps
     * the body's own last line end */
    if (ascii) {
        int rc = fold ? put_folded(b, body) : put_crlf(b, body);
        return rc == 0 ? buf_append_slice(b, SLICE_LIT("\r\n")) : rc;
    }
    struct buf tmp;
    buf_init(&tmp, SCHED_IMIP_MAX_MESSAGE);
    int rc = fold ? put_folded(&tmp, body) : put_crlf(&tmp, body);
    if (rc == 0) {
        rc = put_base64(b, buf_slice(&tmp));
    }
    if (rc == 0) {
        rc = buf_append_slice(b, SLICE_LIT("\r\n"));
    }
    buf_deinit(&tmp);
    return rc;
}

/* The subject's lead and the summary's first line, by method (and PARTSTAT for a reply). */
static const char *lead_of(const struct sched_imip_out *m, struct arena *a)
{
    switch (m->method) {
    case SCHED_CANCEL:
        return "Cancelled";
    case SCHED_REPLY: {
        char *partstat = NULL;
        (void)prop_value(m->ics, "ATTENDEE", "PARTSTAT", a, &partstat);
        if (partstat && strcasecmp(partstat, "ACCEPTED") == 0) {
            return "Accepted";
        }
        if (partstat && strcasecmp(partstat, "DECLINED") == 0) {
            return "Declined";
        }
        if (partstat && strcasecmp(partstat, "TENTATIVE") == 0) {
            return "Tentative";
        }
        return "Reply";
    }
    case SCHED_REQUEST:
        break;
    }
    const char *seq = prop_value(m->ics, "SEQUENCE", NULL, a, NULL);
    return seq && strcmp(seq, "0") != 0 ? "Updated invitation" : "Invitation";
}

/* A summary as one subject line: controls become spaces, cut at SUBJECT_MAX bytes on a
 * UTF-8 boundary. */
static const char *one_line(const char *s, struct arena *a)
{
    size_t n = strlen(s);
    size_t cut = 0;
    while (cut < n) {
        size_t c = utf8_len((unsigned char)s[cut]);
        c = c < n - cut ? c : n - cut; /* a lead byte at the end names bytes that are not */
        if (cut + c > SUBJECT_MAX) {
            break;
        }
        cut += c;
    }
    char *o = arena_strndup(a, s, cut);
    for (char *p = o; *p; p++) {
        if ((unsigned char)*p < ' ') {
            *p = ' ';
        }
    }
    return o;
}

static int build(const struct sched_imip_out *m,
                 const char *from,
                 const char *to,
                 struct arena *a,
                 struct buf *b)
{
    const char *summary = prop_value(m->ics, "SUMMARY", NULL, a, NULL);
    if (!summary && m->about.len) {
        summary = prop_value(m->about, "SUMMARY", NULL, a, NULL);
    }
    const char *subj = one_line(summary ? summary : "(no title)", a);
    const char *lead = lead_of(m, a);
    uint8_t rnd[12];
    char hex[2 * sizeof(rnd) + 1];
    sec_random(rnd, sizeof(rnd));
    sec_hex(rnd, sizeof(rnd), hex);
    const char *sender = m->sender && *m->sender ? m->sender : from;
    const char *domain = strrchr(sender, '@') + 1;
    char date[64];
    time_t t = (time_t)m->date;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
    const char *boundary = arena_printf(a, "=_almanac_%s", hex);
    int rc = buf_appendf(b, "From: <%s>\r\n", from);
    if (rc == 0 && strcasecmp(sender, from) != 0) {
        rc = buf_appendf(b, "Sender: <%s>\r\n", sender);
    }
    if (rc == 0) {
        rc = buf_appendf(b, "Reply-To: <%s>\r\nTo: <%s>\r\n", from, to);
    }
    if (rc == 0) {
        rc = put_subject(b, arena_printf(a, "%s: %s", lead, subj));
    }
    if (rc == 0) {
        rc = buf_appendf(b,
                         "Date: %s\r\nMessage-ID: <%s.imip@%s>\r\nMIME-Version: 1.0\r\n"
                         "Content-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n"
                         "This is an iCalendar scheduling message (RFC 6047).\r\n",
                         date, hex, domain, boundary);
    }
    struct slice src =
        m->about.len && !prop_value(m->ics, "DTSTART", NULL, a, NULL) ? m->about : m->ics;
    const char *when = prop_value(src, "DTSTART", NULL, a, NULL);
    const char *where = prop_value(src, "LOCATION", NULL, a, NULL);
    const char *text =
        arena_printf(a, "%s: %s\nFrom: %s\n%s%s%s%s%s", lead, summary ? summary : "(no title)",
                     from, when ? "When: " : "", when ? when : "", when ? "\n" : "",
                     where ? "Where: " : "", where ? where : "");
    if (where) {
        text = arena_printf(a, "%s\n", text);
    }
    if (rc == 0) {
        rc = put_part(b, boundary, "text/plain; charset=UTF-8", slice_from_cstr(text), false);
    }
    if (rc == 0) {
        rc = put_part(b, boundary,
                      arena_printf(a, "text/calendar; charset=UTF-8; method=%s",
                                   sched_method_name(m->method)),
                      m->ics, true);
    }
    if (rc == 0) {
        rc = buf_appendf(b, "--%s--\r\n", boundary);
    }
    return rc;
}

int sched_imip_build(const struct sched_imip_out *m,
                     struct arena *arena,
                     struct slice *out,
                     struct err *err)
{
    const char *from = sched_imip_mailbox(m->from, arena);
    const char *to = sched_imip_mailbox(m->to, arena);
    if (!from || !to) {
        return err_set(err, &sched_cond_imip_bad_message, "%s is not a mailto: address",
                       from ? "the recipient" : "the sender");
    }
    if (m->sender && *m->sender && !strchr(m->sender, '@')) {
        return err_set(err, &sched_cond_imip_bad_message, "imip_from has no domain");
    }
    struct buf b;
    buf_init(&b, SCHED_IMIP_MAX_MESSAGE);
    int rc = build(m, from, to, arena, &b);
    if (rc == 0) {
        struct slice s = buf_slice(&b);
        char *c = arena_alloc(arena, s.len + 1);
        memcpy(c, s.ptr, s.len);
        c[s.len] = '\0';
        *out = (struct slice){c, s.len};
    }
    buf_deinit(&b);
    if (rc != 0) {
        return err_set(err, &sched_cond_imip_bad_message, "the message would pass %d bytes",
                       SCHED_IMIP_MAX_MESSAGE);
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Reading */

struct entity {
    char type[HDR_MAX]; /* lowercase "type/subtype", default text/plain */
    char ct_raw[HDR_MAX];
    char boundary[MAX_BOUNDARY + 1];
    char encoding[HDR_MAX]; /* lowercase, default 7bit */
    char from[HDR_MAX];     /* the From: value (top level only) */
    struct slice body;
};

struct walk {
    struct arena *arena;
    size_t parts;
    struct err *err;
};

static size_t line_end(struct slice s, size_t i)
{
    const char *nl = memchr(s.ptr + i, '\n', s.len - i);
    return nl ? (size_t)(nl - s.ptr) : s.len;
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

/* Parameter `name` of a header value (quoted or not), case kept, into out. */
static void param_of(const char *raw, const char *name, char *out, size_t size)
{
    out[0] = '\0';
    size_t nl = strlen(name);
    const char *p = raw;
    while ((p = strchr(p, ';')) != NULL) {
        p++;
        while (*p == ' ') {
            p++;
        }
        if (strncasecmp(p, name, nl) != 0) {
            continue;
        }
        p += nl;
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
        while (*p && n + 1 < size && (quoted ? *p != '"' : *p != ';' && *p != ' ')) {
            out[n++] = *p++;
        }
        out[n] = '\0';
        return;
    }
}

static int parse_entity(struct walk *w, struct slice s, struct entity *e)
{
    memset(e, 0, sizeof(*e));
    size_t i = 0;
    for (bool first = true;; first = false) {
        if (i >= s.len) {
            return err_set(w->err, &sched_cond_imip_bad_message, "message headers do not end");
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
            if (first && line.len > 5 && memcmp(line.ptr, "From ", 5) == 0) {
                continue; /* an mbox "From " envelope line some MTAs put first */
            }
            return err_set(w->err, &sched_cond_imip_bad_message, "a message header without ':'");
        }
        struct slice name = slice_trim((struct slice){line.ptr, (size_t)(colon - line.ptr)});
        struct slice value = {colon + 1, line.len - (size_t)(colon + 1 - line.ptr)};
        if (slice_eq_ci(name, SLICE_LIT("Content-Type"))) {
            copy_value(value, e->ct_raw, sizeof(e->ct_raw), false);
        } else if (slice_eq_ci(name, SLICE_LIT("Content-Transfer-Encoding"))) {
            copy_value(value, e->encoding, sizeof(e->encoding), true);
        } else if (slice_eq_ci(name, SLICE_LIT("From"))) {
            copy_value(value, e->from, sizeof(e->from), false);
        }
    }
    size_t tlen = strcspn(e->ct_raw, "; ");
    for (size_t k = 0; k < tlen; k++) {
        e->type[k] = lower(e->ct_raw[k]);
    }
    e->type[tlen] = '\0';
    if (!e->type[0]) {
        memcpy(e->type, "text/plain", 11);
    }
    if (!e->encoding[0]) {
        memcpy(e->encoding, "7bit", 5);
    }
    param_of(e->ct_raw, "boundary", e->boundary, sizeof(e->boundary));
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

static int decode(struct walk *w, const struct entity *e, struct slice *out)
{
    if (strcmp(e->encoding, "7bit") == 0 || strcmp(e->encoding, "8bit") == 0 ||
        strcmp(e->encoding, "binary") == 0) {
        /* copied whole: the body may hold NUL bytes, which strndup would stop at */
        char *c = arena_alloc(w->arena, e->body.len + 1);
        memcpy(c, e->body.ptr, e->body.len);
        c[e->body.len] = '\0';
        *out = (struct slice){c, e->body.len};
        return 0;
    }
    if (strcmp(e->encoding, "quoted-printable") == 0) {
        *out = decode_qp(e->body, w->arena);
        return 0;
    }
    if (strcmp(e->encoding, "base64") == 0) {
        char *c = arena_alloc(w->arena, e->body.len + 1);
        long n = sec_unbase64(e->body, c, e->body.len);
        if (n < 0) {
            return err_set(w->err, &sched_cond_imip_bad_message,
                           "the calendar part is not valid base64");
        }
        c[n] = '\0';
        *out = (struct slice){c, (size_t)n};
        return 0;
    }
    return err_set(w->err, &sched_cond_imip_bad_message, "unsupported Content-Transfer-Encoding %s",
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

/* 0 with *out (and *method) when `e` or one of its parts is a calendar, 1 when none is, -1
 * with err. */
static int
walk(struct walk *w, const struct entity *e, unsigned depth, struct slice *out, char *method)
{
    if (strcmp(e->type, "text/calendar") == 0) {
        param_of(e->ct_raw, "method", method, 32);
        return decode(w, e, out);
    }
    if (strncmp(e->type, "multipart/", 10) != 0 || depth == SCHED_IMIP_MAX_DEPTH) {
        return 1;
    }
    if (!e->boundary[0]) {
        return err_set(w->err, &sched_cond_imip_bad_message, "a multipart body without a boundary");
    }
    size_t blen = strlen(e->boundary);
    size_t d = find_delim(e->body, 0, e->boundary, blen);
    while (d < e->body.len) {
        size_t after = d + 2 + blen;
        if (after + 2 <= e->body.len && e->body.ptr[after] == '-' &&
            e->body.ptr[after + 1] == '-') {
            break; /* the close delimiter */
        }
        size_t start = line_end(e->body, after);
        start = start < e->body.len ? start + 1 : start;
        size_t next = find_delim(e->body, start, e->boundary, blen);
        size_t end = next;
        /* the CRLF before a delimiter belongs to it (RFC 2046 §5.1.1) */
        if (end > start && e->body.ptr[end - 1] == '\n') {
            end--;
            if (end > start && e->body.ptr[end - 1] == '\r') {
                end--;
            }
        }
        if (++w->parts > SCHED_IMIP_MAX_PARTS) {
            return err_set(w->err, &sched_cond_imip_bad_message, "more than %d message parts",
                           SCHED_IMIP_MAX_PARTS);
        }
        struct entity *sub = arena_alloc(w->arena, sizeof(*sub));
        if (parse_entity(w, (struct slice){e->body.ptr + start, end - start}, sub) != 0) {
            return -1;
        }
        int rc = walk(w, sub, depth + 1, out, method);
        if (rc <= 0) {
            return rc;
        }
        d = next;
    }
    return 1;
}

/* The addr-spec of a From: value: inside "<...>" when there is one, else the value itself
 * (with a "(comment)" dropped); lower-cased, in the arena. NULL when it has no '@'. */
static const char *addr_spec(const char *v, struct arena *a)
{
    const char *lt = strrchr(v, '<');
    size_t n;
    if (lt) {
        v = lt + 1;
        n = strcspn(v, ">");
    } else {
        n = strcspn(v, " (");
    }
    char *o = arena_strndup(a, v, n);
    for (char *p = o; *p; p++) {
        *p = lower(*p);
    }
    return strchr(o, '@') ? o : NULL;
}

int sched_imip_parse(struct slice msg,
                     struct arena *arena,
                     struct sched_imip_in *out,
                     struct err *err)
{
    memset(out, 0, sizeof(*out));
    if (msg.len > SCHED_IMIP_MAX_MESSAGE) {
        return err_set(err, &sched_cond_imip_bad_message, "the message passes %d bytes",
                       SCHED_IMIP_MAX_MESSAGE);
    }
    struct walk w = {.arena = arena, .err = err};
    struct entity *top = arena_alloc(arena, sizeof(*top));
    if (parse_entity(&w, msg, top) != 0) {
        return -1;
    }
    out->from = addr_spec(top->from, arena);
    if (!out->from) {
        return err_set(err, &sched_cond_imip_bad_message, "the message has no From address");
    }
    char method[32] = "";
    int rc = walk(&w, top, 0, &out->ics, method);
    if (rc == 1) {
        return err_set(err, &sched_cond_imip_bad_message,
                       "the message carries no text/calendar part");
    }
    if (rc != 0) {
        return -1;
    }
    if (method[0]) {
        for (char *p = method; *p; p++) {
            *p = upper(*p);
        }
        out->method = arena_strdup(arena, method);
    }
    return 0;
}
