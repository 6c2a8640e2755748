/* tests/fuzz/fuzz_path.c: request targets through http_path_decode() (http/path.c; RFC 3986
 * §2.1, §5.2.4), which every request and every href in a body (multiget, If header
 * Resource-Tags) passes. Each input is one raw target. A refusal names http_cond_bad_path or,
 * past the length limit, http_cond_path_too_long. An accepted path is what http.h promises:
 * it starts with '/', has no empty, "." or ".." segment except a trailing '/', no NUL, is not
 * longer than its input plus the slash, ends with '/' exactly when the trailing flag says
 * so, and is a fixed point: each segment encoded with http_path_encode_segment() and decoded
 * again gives the same path. Violations abort(). Seeds are in tests/fuzz/corpus/path/. */
#include <stdlib.h>
#include <string.h>

#include "http/http.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
    MAX_PATH = 4096 /* the decoder's length limit here (max_path_bytes) */
};

/* The path's shape, as http_req_path() documents it. */
static void check_shape(const char *path, size_t raw_len, bool trailing)
{
    size_t n = strlen(path);
    if (n == 0 || path[0] != '/' || n > raw_len + 1) {
        abort();
    }
    if ((path[n - 1] == '/') != trailing) {
        abort();
    }
    const char *seg = path + 1;
    while (*seg) {
        const char *end = strchr(seg, '/');
        size_t len = end ? (size_t)(end - seg) : strlen(seg);
        if (len == 0 || (len == 1 && seg[0] == '.') ||
            (len == 2 && seg[0] == '.' && seg[1] == '.')) {
            abort(); /* an empty or dot segment survived */
        }
        if (!end) {
            break;
        }
        seg = end + 1;
    }
}

/* Encodes every segment of `path` and decodes the result: the same path. */
static void check_round_trip(const char *path, bool trailing, struct arena *a)
{
    struct buf b;
    buf_init(&b, 4 * MAX_PATH);
    int rc = 0;
    const char *seg = path + 1;
    while (*seg && rc == 0) {
        const char *end = strchr(seg, '/');
        size_t len = end ? (size_t)(end - seg) : strlen(seg);
        rc = buf_putc(&b, '/') | http_path_encode_segment(&b, (struct slice){seg, len});
        seg = end ? end + 1 : seg + len;
    }
    if (rc == 0 && (trailing || b.len == 0)) {
        rc = buf_putc(&b, '/');
    }
    if (rc != 0) {
        abort();
    }
    const char *again = NULL;
    bool trailing_again = false;
    struct err e;
    err_init(&e);
    if (http_path_decode(buf_slice(&b), b.len, a, &again, &trailing_again, &e) != 0 ||
        strcmp(again, path) != 0 || trailing_again != trailing) {
        abort(); /* encoding and decoding disagree */
    }
    buf_deinit(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct arena *a = arena_create();
    struct slice raw = {(const char *)data, size};
    const char *path = NULL;
    bool trailing = false;
    struct err e;
    err_init(&e);
    if (http_path_decode(raw, MAX_PATH, a, &path, &trailing, &e) == 0) {
        check_shape(path, size, trailing);
        check_round_trip(path, trailing, a);
    } else if (e.cond != &http_cond_bad_path &&
               (e.cond != &http_cond_path_too_long || size <= MAX_PATH)) {
        abort();
    }
    arena_destroy(&a);
    return 0;
}
