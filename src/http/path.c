/* http/path.c: request-target decoding (RFC 3986 §2.1, §5.2.4) and segment encoding. A path
 * is decoded exactly once; "%2F" is refused because it would silently change the segment
 * structure, and "%00" because store names are C strings. Dot segments are resolved, and a
 * ".." above the root is an error rather than being clamped, so no path escapes a home. */
#include <stdint.h>
#include <string.h>

#include "http/http.h"
#include "util/buf.h"
#include "util/parse.h"

/* Drops "scheme://authority" from an absolute URI and the query/fragment from any target. */
static struct slice path_part(struct slice raw)
{
    const char *p = raw.ptr;
    const char *end = raw.ptr + raw.len;
    const char *sep = NULL;
    for (const char *q = p; q + 2 < end; q++) {
        if (q[0] == ':' && q[1] == '/' && q[2] == '/') {
            sep = q;
            break;
        }
        if (*q == '/') {
            break;
        }
    }
    if (sep) {
        const char *slash = memchr(sep + 3, '/', (size_t)(end - (sep + 3)));
        if (!slash) {
            return SLICE_LIT("/");
        }
        p = slash;
    }
    for (const char *q = p; q < end; q++) {
        if (*q == '?') {
            end = q;
            break;
        }
    }
    struct slice s = {p, (size_t)(end - p)};
    return s;
}

int http_path_decode(struct slice raw,
                     size_t max_bytes,
                     struct arena *arena,
                     const char **path_out,
                     bool *trailing_slash_out,
                     struct err *err)
{
    if (raw.len > max_bytes) {
        return err_set(err, &http_cond_path_too_long,
                       "path of %zu bytes exceeds max_path_bytes=%zu", raw.len, max_bytes);
    }
    struct slice p = path_part(raw);
    if (memchr(p.ptr, '#', p.len)) {
        /* RFC 9112 §3.2: a request target has no fragment; guessing what was meant could
         * act on the wrong resource (DELETE /coll/#frag must not delete /coll/). */
        return err_set(err, &http_cond_bad_path, "fragment in request target");
    }
    if (p.len == 0 || p.ptr[0] != '/') {
        return err_set(err, &http_cond_bad_path, "path must be absolute");
    }
    /* Decode into a scratch copy; '/' in the output only ever comes from a literal '/'. */
    char *dec = arena_alloc(arena, p.len + 1);
    size_t n = 0;
    for (size_t i = 0; i < p.len; i++) {
        char c = p.ptr[i];
        if (c == '%') {
            if (i + 2 >= p.len) {
                return err_set(err, &http_cond_bad_path, "truncated percent escape");
            }
            int hi = parse_hexdigit(p.ptr[i + 1]);
            int lo = parse_hexdigit(p.ptr[i + 2]);
            if (hi < 0 || lo < 0) {
                return err_set(err, &http_cond_bad_path, "bad percent escape");
            }
            c = (char)(hi * 16 + lo);
            if (c == '\0') {
                return err_set(err, &http_cond_bad_path, "%%00 in path");
            }
            if (c == '/') {
                return err_set(err, &http_cond_bad_path, "encoded '/' in path");
            }
            i += 2;
        } else if (c == '\0') {
            return err_set(err, &http_cond_bad_path, "NUL in path");
        }
        dec[n++] = c;
    }
    dec[n] = '\0';
    if (!parse_utf8_ok((struct slice){dec, n})) {
        /* Names are UTF-8 text (RFC 3986 §2.5, RFC 4918 §8.3.1): PostgreSQL's text refuses
         * other bytes, SQLite would keep a name no client could show (issue #10). */
        return err_set(err, &http_cond_bad_path, "path is not UTF-8 once percent-decoded");
    }
    bool trailing = n > 0 && dec[n - 1] == '/';

    /* Resolve segments into out[], which never grows past the decoded length. */
    char *out = arena_alloc(arena, n + 2);
    size_t o = 0;
    size_t i = 0;
    while (i < n) {
        while (i < n && dec[i] == '/') {
            i++;
        }
        size_t start = i;
        while (i < n && dec[i] != '/') {
            i++;
        }
        size_t len = i - start;
        if (len == 0 || (len == 1 && dec[start] == '.')) {
            continue;
        }
        if (len == 2 && dec[start] == '.' && dec[start + 1] == '.') {
            if (o == 0) {
                return err_set(err, &http_cond_bad_path, "'..' above the root");
            }
            while (o > 0 && out[o - 1] != '/') {
                o--;
            }
            o--; /* the '/' before the dropped segment */
            continue;
        }
        out[o++] = '/';
        memcpy(out + o, dec + start, len);
        o += len;
    }
    if (o == 0 || trailing) {
        out[o++] = '/';
    }
    out[o] = '\0';
    *path_out = out;
    if (trailing_slash_out) {
        *trailing_slash_out = trailing || o == 1;
    }
    return 0;
}

/* RFC 3986 pchar minus '/' (unreserved, sub-delims, ':' and '@'), one byte per byte value
 * (from 0x80 on, zero): "!$&'()*+,-." then the digits and ":;=" in 0x20-0x3f, "@", A-Z and
 * "_" in 0x40-0x5f, a-z and "~" in 0x60-0x7f. A constant, so worker threads share it with no
 * first-use initialisation to race on; a load and a test per byte, where a bit table took
 * a shift more (each href of a Depth-1 PROPFIND goes through here, issue 16). */
static const unsigned char pchar_byte[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 1, 0, 0, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 0,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1,
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 0,
};

/* The end of the run of pchar bytes from p: eight bytes a test while they last (a name is
 * most often one run; a byte a test was 7 instructions a byte, 7% of a Depth-1 PROPFIND). */
static const unsigned char *pchar_run(const unsigned char *p, const unsigned char *end)
{
    while (end - p >= 8 &&
           (pchar_byte[p[0]] & pchar_byte[p[1]] & pchar_byte[p[2]] & pchar_byte[p[3]] &
            pchar_byte[p[4]] & pchar_byte[p[5]] & pchar_byte[p[6]] & pchar_byte[p[7]])) {
        p += 8;
    }
    while (p < end && pchar_byte[*p]) {
        p++;
    }
    return p;
}

size_t http_path_encode_segment_to(char *dst, struct slice segment)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = (const unsigned char *)segment.ptr;
    const unsigned char *end = p + segment.len;
    char *o = dst;
    while (p < end) {
        /* a run of bytes kept as they are (a whole name, most often), copied at once: a
         * store per byte was 7% of a Depth-1 PROPFIND's instructions (issue 16) */
        const unsigned char *run = p;
        p = pchar_run(p, end);
        memcpy(o, run, (size_t)(p - run));
        o += p - run;
        if (p < end) {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
            p++;
        }
    }
    return (size_t)(o - dst);
}

int http_path_encode_segment(struct buf *b, struct slice segment)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = (const unsigned char *)segment.ptr;
    size_t run = 0;
    for (size_t i = 0; i < segment.len; i++) {
        if (pchar_byte[p[i]]) {
            continue;
        }
        char esc[3] = {'%', hex[p[i] >> 4], hex[p[i] & 15]};
        if (buf_append(b, p + run, i - run) != 0 || buf_append(b, esc, 3) != 0) {
            return -1;
        }
        run = i + 1;
    }
    return buf_append(b, p + run, segment.len - run);
}
