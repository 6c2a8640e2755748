/* web/html.c: see html.h. */
#include "web/html.h"

#include <string.h>

#include "http/http.h"

int web_html_escape(struct buf *b, struct slice s)
{
    int rc = 0;
    size_t run = 0; /* bytes copied as they are, flushed before each escape */
    for (size_t i = 0; i < s.len && rc == 0; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        const char *rep = NULL;
        switch (c) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&#39;";
            break;
        default:
            if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) {
                rep = "\xef\xbf\xbd"; /* U+FFFD */
            }
            break;
        }
        if (!rep) {
            run++;
            continue;
        }
        rc |= buf_append(b, s.ptr + i - run, run);
        run = 0;
        rc |= buf_append_cstr(b, rep);
    }
    if (rc == 0) {
        rc |= buf_append(b, s.ptr + s.len - run, run);
    }
    return rc == 0 ? 0 : -1;
}

int web_html_text(struct buf *b, const char *s)
{
    return web_html_escape(b, slice_from_cstr(s));
}

int web_html_segment(struct buf *b, const char *s)
{
    struct buf seg;
    buf_init(&seg, BUF_LIMIT_HREF);
    int rc = http_path_encode_segment(&seg, slice_from_cstr(s));
    if (rc == 0) {
        rc = web_html_escape(b, buf_slice(&seg));
    }
    buf_deinit(&seg);
    return rc;
}

int web_html_size(struct buf *b, uint64_t bytes)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
    if (bytes < 1024) {
        return buf_appendf(b, "%llu B", (unsigned long long)bytes);
    }
    double v = (double)bytes / 1024.0;
    size_t u = 0;
    while (v >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
        v /= 1024.0;
        u++;
    }
    return buf_appendf(b, "%.1f %s", v, units[u]);
}
