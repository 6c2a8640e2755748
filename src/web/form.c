/* web/form.c: see form.h. */
#include "web/form.h"

#include <string.h>

#include "util/parse.h"
#include "web/web.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Decodes one urlencoded name or value into the arena (NUL-terminated; the slice's length
 * excludes it). */
static int form_decode(struct slice s, struct arena *arena, struct slice *out)
{
    char *d = arena_alloc(arena, s.len + 1);
    size_t n = 0;
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        if (c == '+') {
            d[n++] = ' ';
        } else if (c == '%') {
            if (i + 2 >= s.len) {
                return -1;
            }
            int hi = hexval(s.ptr[i + 1]), lo = hexval(s.ptr[i + 2]);
            if (hi < 0 || lo < 0) {
                return -1;
            }
            d[n++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            d[n++] = c;
        }
    }
    d[n] = '\0';
    *out = (struct slice){d, n};
    return 0;
}

int web_form_urlencoded(struct slice body,
                        struct arena *arena,
                        struct web_form *out,
                        struct err *err)
{
    out->n = 0;
    size_t i = 0;
    while (i < body.len) {
        const char *amp = memchr(body.ptr + i, '&', body.len - i);
        size_t end = amp ? (size_t)(amp - body.ptr) : body.len;
        struct slice pair = {body.ptr + i, end - i};
        i = end + 1;
        if (pair.len == 0) {
            continue;
        }
        if (out->n == WEB_FORM_MAX_FIELDS) {
            return err_set(err, &web_cond_bad_form, "more than %d form fields",
                           WEB_FORM_MAX_FIELDS);
        }
        const char *eq = memchr(pair.ptr, '=', pair.len);
        struct slice name = {pair.ptr, eq ? (size_t)(eq - pair.ptr) : pair.len};
        struct slice value =
            eq ? (struct slice){eq + 1, pair.len - name.len - 1} : (struct slice){"", 0};
        struct slice dn, dv;
        if (form_decode(name, arena, &dn) != 0 || form_decode(value, arena, &dv) != 0) {
            return err_set(err, &web_cond_bad_form, "a bad percent-escape in the form");
        }
        out->fields[out->n++] = (struct web_field){.name = dn.ptr, .filename = NULL, .value = dv};
    }
    return 0;
}

/* Case-insensitive prefix test on a slice. */
static bool has_prefix_ci(struct slice s, struct slice p)
{
    return s.len >= p.len && slice_eq_ci((struct slice){s.ptr, p.len}, p);
}

/* The value of parameter `param` in a header value's "; a=b; c="d"" list (quoted or not),
 * in the arena; NULL when absent or malformed. */
static const char *header_param(struct slice v, const char *param, struct arena *arena)
{
    size_t plen = strlen(param);
    size_t i = 0;
    while (i < v.len) {
        const char *semi = memchr(v.ptr + i, ';', v.len - i);
        if (!semi) {
            return NULL;
        }
        i = (size_t)(semi - v.ptr) + 1;
        struct slice rest = slice_trim((struct slice){v.ptr + i, v.len - i});
        if (rest.len > plen && rest.ptr[plen] == '=' &&
            slice_eq_ci((struct slice){rest.ptr, plen}, (struct slice){param, plen})) {
            const char *p = rest.ptr + plen + 1;
            const char *end = rest.ptr + rest.len;
            if (p < end && *p == '"') {
                /* a quoted-string; a browser escapes '"' in a filename as %22, never '\' */
                const char *q = memchr(p + 1, '"', (size_t)(end - p - 1));
                if (!q) {
                    return NULL;
                }
                return arena_strndup(arena, p + 1, (size_t)(q - p - 1));
            }
            const char *q = p;
            while (q < end && *q != ';' && *q != ' ' && *q != '\t') {
                q++;
            }
            return arena_strndup(arena, p, (size_t)(q - p));
        }
    }
    return NULL;
}

int web_multipart_boundary(const char *content_type,
                           struct arena *arena,
                           const char **boundary_out,
                           struct err *err)
{
    struct slice ct = slice_trim(slice_from_cstr(content_type));
    if (!has_prefix_ci(ct, SLICE_LIT("multipart/form-data"))) {
        return err_set(err, &web_cond_bad_form,
                       "the import form must be sent as multipart/form-data");
    }
    const char *b = header_param(ct, "boundary", arena);
    if (!b || !*b || strlen(b) > WEB_FORM_MAX_BOUNDARY) {
        return err_set(err, &web_cond_bad_form, "multipart/form-data without a usable boundary");
    }
    *boundary_out = b;
    return 0;
}

/* The first occurrence of `needle` in `hay` at or after `from`, or SIZE_MAX. */
static size_t find(struct slice hay, size_t from, struct slice needle)
{
    if (needle.len == 0 || hay.len < needle.len) {
        return SIZE_MAX;
    }
    for (size_t i = from; i + needle.len <= hay.len; i++) {
        const char *p = memchr(hay.ptr + i, needle.ptr[0], hay.len - needle.len - i + 1);
        if (!p) {
            return SIZE_MAX;
        }
        i = (size_t)(p - hay.ptr);
        if (memcmp(p, needle.ptr, needle.len) == 0) {
            return i;
        }
    }
    return SIZE_MAX;
}

/* Reads one part's headers (hdrs, without the blank line) into *f. */
static int
part_headers(struct slice hdrs, struct arena *arena, struct web_field *f, struct err *err)
{
    bool seen = false;
    size_t i = 0;
    while (i < hdrs.len) {
        size_t end = find(hdrs, i, SLICE_LIT("\r\n"));
        if (end == SIZE_MAX) {
            end = hdrs.len;
        }
        struct slice line = {hdrs.ptr + i, end - i};
        i = end + 2;
        if (!has_prefix_ci(line, SLICE_LIT("content-disposition:"))) {
            continue; /* Content-Type of the file, which the import does not need */
        }
        struct slice v = slice_trim((struct slice){line.ptr + 20, line.len - 20});
        if (!has_prefix_ci(v, SLICE_LIT("form-data"))) {
            return err_set(err, &web_cond_bad_form, "a part that is not form-data");
        }
        f->name = header_param(v, "name", arena);
        f->filename = header_param(v, "filename", arena);
        seen = true;
    }
    if (!seen || !f->name) {
        return err_set(err, &web_cond_bad_form, "a part without a Content-Disposition name");
    }
    return 0;
}

int web_multipart_parse(struct slice body,
                        const char *boundary,
                        struct arena *arena,
                        struct web_form *out,
                        struct err *err)
{
    out->n = 0;
    /* RFC 2046 §5.1.1: each delimiter is CRLF "--" boundary; the first may open the body */
    const char *delim = arena_printf(arena, "\r\n--%s", boundary);
    struct slice d = slice_from_cstr(delim);
    size_t pos;
    if (body.len >= d.len - 2 && memcmp(body.ptr, d.ptr + 2, d.len - 2) == 0) {
        pos = d.len - 2;
    } else {
        size_t at = find(body, 0, d);
        if (at == SIZE_MAX) {
            return err_set(err, &web_cond_bad_form, "the multipart body has no boundary");
        }
        pos = at + d.len;
    }
    bool have_file = false;
    for (;;) {
        /* after a delimiter: "--" closes, else optional whitespace then CRLF */
        if (body.len - pos >= 2 && memcmp(body.ptr + pos, "--", 2) == 0) {
            return 0;
        }
        while (pos < body.len && (body.ptr[pos] == ' ' || body.ptr[pos] == '\t')) {
            pos++;
        }
        if (body.len - pos < 2 || memcmp(body.ptr + pos, "\r\n", 2) != 0) {
            return err_set(err, &web_cond_bad_form, "a multipart delimiter not followed by CRLF");
        }
        pos += 2;
        size_t hend = find(body, pos, SLICE_LIT("\r\n\r\n"));
        size_t hlen;
        if (body.len - pos >= 2 && memcmp(body.ptr + pos, "\r\n", 2) == 0) {
            hend = pos; /* no headers at all */
            hlen = 0;
        } else if (hend == SIZE_MAX) {
            return err_set(err, &web_cond_bad_form,
                           "a multipart part without the end of its headers");
        } else {
            hlen = hend - pos;
        }
        if (hlen > WEB_FORM_MAX_HEADER) {
            return err_set(err, &web_cond_bad_form, "a multipart part's headers pass %d bytes",
                           WEB_FORM_MAX_HEADER);
        }
        if (out->n == WEB_FORM_MAX_FIELDS) {
            return err_set(err, &web_cond_bad_form, "more than %d form fields",
                           WEB_FORM_MAX_FIELDS);
        }
        struct web_field *f = &out->fields[out->n];
        *f = (struct web_field){0};
        if (part_headers((struct slice){body.ptr + pos, hlen}, arena, f, err) != 0) {
            return -1;
        }
        size_t vstart = (hlen == 0 ? pos : hend) + (hlen == 0 ? 2 : 4);
        size_t next = find(body, vstart, d);
        if (next == SIZE_MAX) {
            return err_set(err, &web_cond_bad_form,
                           "the multipart body ends without its closing boundary");
        }
        f->value = (struct slice){body.ptr + vstart, next - vstart};
        if (f->filename) {
            if (have_file) {
                return err_set(err, &web_cond_bad_form, "more than one file in the form");
            }
            have_file = true;
        }
        out->n++;
        pos = next + d.len;
    }
}

const struct web_field *web_form_get(const struct web_form *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++) {
        if (strcmp(f->fields[i].name, name) == 0) {
            return &f->fields[i];
        }
    }
    return NULL;
}

char *web_form_text(const struct web_form *f, const char *name, struct arena *arena)
{
    const struct web_field *x = web_form_get(f, name);
    if (!x || !parse_utf8_ok(x->value)) { /* NUL included */
        return NULL;
    }
    return arena_strndup(arena, x->value.ptr, x->value.len);
}
