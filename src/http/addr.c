/* http/addr.c: address lists and the forwarded client address (see addr.h). */
#include "http/addr.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct addr_net {
    int family;        /* AF_INET or AF_INET6 */
    uint8_t bytes[16]; /* network order; 4 used for IPv4 */
    unsigned bits;     /* prefix length */
};

struct http_addr_list {
    size_t n;
    struct addr_net nets[];
};

/* Parses one address (no prefix) from `s` into family and bytes. IPv4-mapped IPv6
 * addresses are taken as IPv4, as addr_text() in http.c writes them. */
static bool parse_ip(struct slice s, int *family_out, uint8_t bytes_out[16])
{
    char tmp[HTTP_ADDR_TEXT];
    if (s.len == 0 || s.len >= sizeof(tmp)) {
        return false;
    }
    memcpy(tmp, s.ptr, s.len);
    tmp[s.len] = '\0';
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, tmp, &a4) == 1) {
        *family_out = AF_INET;
        memcpy(bytes_out, &a4, 4);
        return true;
    }
    if (inet_pton(AF_INET6, tmp, &a6) == 1) {
        if (IN6_IS_ADDR_V4MAPPED(&a6)) {
            *family_out = AF_INET;
            memcpy(bytes_out, &a6.s6_addr[12], 4);
        } else {
            *family_out = AF_INET6;
            memcpy(bytes_out, &a6, 16);
        }
        return true;
    }
    return false;
}

static bool net_has(const struct addr_net *n, int family, const uint8_t bytes[16])
{
    if (n->family != family) {
        return false;
    }
    unsigned full = n->bits / 8, rest = n->bits % 8;
    if (memcmp(n->bytes, bytes, full) != 0) {
        return false;
    }
    if (rest == 0) {
        return true;
    }
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (n->bytes[full] & mask) == (bytes[full] & mask);
}

static bool is_sep(char c)
{
    return c == ',' || c == ' ' || c == '\t';
}

int http_addr_list_parse(const char *key,
                         const char *text,
                         struct http_addr_list **out,
                         struct err *err)
{
    struct http_addr_list *l = calloc(1, sizeof(*l) + HTTP_ADDR_LIST_MAX * sizeof(struct addr_net));
    if (!l) {
        abort();
    }
    const char *p = text ? text : "";
    while (*p) {
        while (is_sep(*p)) {
            p++;
        }
        const char *start = p;
        while (*p && !is_sep(*p)) {
            p++;
        }
        struct slice item = {start, (size_t)(p - start)};
        if (item.len == 0) {
            continue;
        }
        if (l->n == HTTP_ADDR_LIST_MAX) {
            free(l);
            return err_set(err, &err_cond_bad_request, "%s: more than %d entries", key,
                           HTTP_ADDR_LIST_MAX);
        }
        struct addr_net *n = &l->nets[l->n];
        const char *slash = memchr(item.ptr, '/', item.len);
        struct slice ip = {item.ptr, slash ? (size_t)(slash - item.ptr) : item.len};
        bool ok = parse_ip(ip, &n->family, n->bytes);
        unsigned max = n->family == AF_INET ? 32 : 128;
        n->bits = max;
        if (ok && slash) {
            unsigned bits = 0;
            size_t digits = 0;
            for (const char *d = slash + 1; d < item.ptr + item.len; d++, digits++) {
                ok = ok && *d >= '0' && *d <= '9' && digits < 3;
                bits = bits * 10 + (unsigned)(*d - '0');
            }
            ok = ok && digits > 0 && bits <= max;
            n->bits = bits;
        }
        if (!ok) {
            free(l);
            return err_set(err, &err_cond_bad_request,
                           "%s: '%.*s' is not an address or ADDRESS/PREFIX", key, (int)item.len,
                           item.ptr);
        }
        l->n++;
    }
    *out = l;
    return 0;
}

void http_addr_list_destroy(struct http_addr_list **l)
{
    free(*l);
    *l = NULL;
}

bool http_addr_list_is_empty(const struct http_addr_list *l)
{
    return !l || l->n == 0;
}

static bool list_has(const struct http_addr_list *l, int family, const uint8_t bytes[16])
{
    for (size_t i = 0; l && i < l->n; i++) {
        if (net_has(&l->nets[i], family, bytes)) {
            return true;
        }
    }
    return false;
}

bool http_addr_list_has(const struct http_addr_list *l, struct slice addr)
{
    int family;
    uint8_t bytes[16];
    return parse_ip(addr, &family, bytes) && list_has(l, family, bytes);
}

/* Writes family/bytes as canonical text. */
static void ip_text(int family, const uint8_t bytes[16], char out[HTTP_ADDR_TEXT])
{
    if (!inet_ntop(family, bytes, out, HTTP_ADDR_TEXT)) {
        memcpy(out, "-", 2);
    }
}

void http_addr_client(const struct http_addr_list *proxies,
                      const char *peer,
                      const char *xff,
                      char out[HTTP_ADDR_TEXT])
{
    size_t plen = strlen(peer);
    memcpy(out, peer, plen < HTTP_ADDR_TEXT ? plen + 1 : 2);
    if (plen >= HTTP_ADDR_TEXT) {
        memcpy(out, "-", 2);
    }
    if (!xff || !http_addr_list_has(proxies, slice_from_cstr(peer))) {
        return;
    }
    /* Right to left: each hop appended the address it received from. */
    const char *end = xff + strlen(xff);
    while (end > xff) {
        const char *start = end;
        while (start > xff && start[-1] != ',') {
            start--;
        }
        struct slice item = slice_trim((struct slice){start, (size_t)(end - start)});
        end = start > xff ? start - 1 : xff;
        int family;
        uint8_t bytes[16];
        if (!parse_ip(item, &family, bytes)) {
            return; /* malformed: keep the last address known good */
        }
        ip_text(family, bytes, out);
        if (!list_has(proxies, family, bytes)) {
            return;
        }
    }
}
