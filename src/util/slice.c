/* util/slice.c: byte views. */
#include "util/slice.h"

#include <string.h>

struct slice slice_from_cstr(const char *s)
{
    struct slice r = {s ? s : "", s ? strlen(s) : 0};
    return r;
}

bool slice_eq(struct slice a, struct slice b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static char ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

bool slice_eq_ci(struct slice a, struct slice b)
{
    if (a.len != b.len) {
        return false;
    }
    for (size_t i = 0; i < a.len; i++) {
        if (ascii_lower(a.ptr[i]) != ascii_lower(b.ptr[i])) {
            return false;
        }
    }
    return true;
}

bool slice_has_prefix(struct slice s, struct slice prefix)
{
    return s.len >= prefix.len && (prefix.len == 0 || memcmp(s.ptr, prefix.ptr, prefix.len) == 0);
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

struct slice slice_trim(struct slice s)
{
    while (s.len > 0 && is_ws(s.ptr[0])) {
        s.ptr++;
        s.len--;
    }
    while (s.len > 0 && is_ws(s.ptr[s.len - 1])) {
        s.len--;
    }
    return s;
}

static bool contains(struct slice hay, struct slice needle, bool ci)
{
    if (needle.len == 0) {
        return true;
    }
    for (size_t i = 0; i + needle.len <= hay.len; i++) {
        struct slice at = {hay.ptr + i, needle.len};
        if (ci ? slice_eq_ci(at, needle) : slice_eq(at, needle)) {
            return true;
        }
    }
    return false;
}

bool slice_contains(struct slice hay, struct slice needle)
{
    return contains(hay, needle, false);
}

bool slice_contains_ci(struct slice hay, struct slice needle)
{
    return contains(hay, needle, true);
}
