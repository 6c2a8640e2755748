/* web/session.c: see session.h. */
#include "web/session.h"

#include <inttypes.h>
#include <string.h>

#include "util/buf.h"
#include "util/parse.h"

void web_keys_derive(const uint8_t secret[STORE_SECRET_BYTES], struct web_keys *out)
{
    static const char session_label[] = "almanac web session v1";
    static const char csrf_label[] = "almanac web csrf v1";
    sec_hash(secret, STORE_SECRET_BYTES, session_label, sizeof(session_label) - 1, out->session);
    sec_hash(secret, STORE_SECRET_BYTES, csrf_label, sizeof(csrf_label) - 1, out->csrf);
}

static bool keeps_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~' || c == '@' || c == '+';
}

const char *web_session_make(
    const struct web_keys *k, const char *user, int64_t expires, uint64_t gen, struct arena *arena)
{
    struct buf b;
    buf_init(&b, WEB_SESSION_MAX);
    int rc = 0;
    for (const char *p = user; *p; p++) {
        unsigned char c = (unsigned char)*p;
        rc |= keeps_byte(c) ? buf_putc(&b, (char)c) : buf_appendf(&b, "%%%02X", c);
    }
    rc |= buf_appendf(&b, ".%" PRId64 ".%" PRIu64, expires, gen);
    uint8_t mac[SEC_MAC_BYTES];
    sec_mac(k->session, b.data, b.len, mac);
    char hex[2 * SEC_MAC_BYTES + 1];
    sec_hex(mac, sizeof(mac), hex);
    rc |= buf_appendf(&b, ".%s", hex);
    const char *out = rc == 0 ? arena_strdup(arena, buf_cstr(&b)) : NULL;
    buf_deinit(&b);
    return out;
}

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

/* The last '.' in s, or NULL. */
static const char *last_dot(struct slice s)
{
    for (size_t i = s.len; i > 0; i--) {
        if (s.ptr[i - 1] == '.') {
            return s.ptr + i - 1;
        }
    }
    return NULL;
}

static int decode_user(struct slice enc, struct arena *arena, const char **user_out)
{
    char *u = arena_alloc(arena, enc.len + 1);
    size_t n = 0;
    for (size_t i = 0; i < enc.len; i++) {
        char c = enc.ptr[i];
        if (c == '%') {
            if (i + 2 >= enc.len) {
                return -1;
            }
            int hi = hexval(enc.ptr[i + 1]), lo = hexval(enc.ptr[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                return -1;
            }
            u[n++] = (char)(hi * 16 + lo);
            i += 2;
        } else if (keeps_byte((unsigned char)c)) {
            u[n++] = c;
        } else {
            return -1;
        }
    }
    if (n == 0 || n > STORE_USER_MAX) {
        return -1;
    }
    u[n] = '\0';
    *user_out = u;
    return 0;
}

int web_session_parse(const struct web_keys *k,
                      struct slice cookie,
                      int64_t now,
                      struct arena *arena,
                      struct web_session *out,
                      const char **why_out)
{
    *why_out = "malformed";
    if (!cookie.ptr || cookie.len == 0 || cookie.len > WEB_SESSION_MAX) {
        return -1;
    }
    const char *d3 = last_dot(cookie);
    if (!d3 || (size_t)(cookie.ptr + cookie.len - d3 - 1) != 2 * SEC_MAC_BYTES) {
        return -1;
    }
    struct slice signed_part = {cookie.ptr, (size_t)(d3 - cookie.ptr)};
    uint8_t mac[SEC_MAC_BYTES];
    if (sec_unhex((struct slice){d3 + 1, 2 * SEC_MAC_BYTES}, mac, sizeof(mac)) != 0) {
        return -1;
    }
    if (sec_mac_verify(k->session, signed_part.ptr, signed_part.len, mac) != 0) {
        *why_out = "bad MAC";
        return -1;
    }
    /* authenticated from here: what follows only reads what this server wrote */
    const char *d2 = last_dot(signed_part);
    if (!d2) {
        return -1;
    }
    struct slice gen_s = {d2 + 1, (size_t)(signed_part.ptr + signed_part.len - d2 - 1)};
    struct slice rest = {signed_part.ptr, (size_t)(d2 - signed_part.ptr)};
    const char *d1 = last_dot(rest);
    if (!d1) {
        return -1;
    }
    struct slice exp_s = {d1 + 1, (size_t)(rest.ptr + rest.len - d1 - 1)};
    struct slice user_s = {rest.ptr, (size_t)(d1 - rest.ptr)};
    uint64_t exp = 0, gen = 0;
    if (parse_u64(exp_s, &exp) != 0 || parse_u64(gen_s, &gen) != 0 || exp > INT64_MAX) {
        return -1;
    }
    const char *user = NULL;
    if (decode_user(user_s, arena, &user) != 0) {
        return -1;
    }
    if ((int64_t)exp <= now) {
        *why_out = "expired";
        return -1;
    }
    *out = (struct web_session){.user = user, .expires = (int64_t)exp, .gen = gen};
    *why_out = NULL;
    return 0;
}

int web_session_verify(const struct web_keys *k,
                       struct store *s,
                       struct slice cookie,
                       int64_t now,
                       struct arena *arena,
                       struct web_session *out,
                       const char **why_out,
                       enum store_rc *rc_out)
{
    if (rc_out) {
        *rc_out = STORE_OK;
    }
    if (web_session_parse(k, cookie, now, arena, out, why_out) != 0) {
        return -1;
    }
    uint64_t gen = 0;
    enum store_rc rc = store_principal_cred_gen(s, out->user, &gen);
    if (rc == STORE_NOTFOUND) {
        *why_out = "no such user";
        return -1;
    }
    if (rc != STORE_OK) {
        *why_out = "store";
        if (rc_out) {
            *rc_out = rc;
        }
        return -1;
    }
    if (gen != out->gen) {
        *why_out = "password changed";
        return -1;
    }
    return 0;
}

static void csrf_mac(const struct web_keys *k, struct slice cookie, uint8_t mac[SEC_MAC_BYTES])
{
    sec_mac(k->csrf, cookie.ptr ? cookie.ptr : "", cookie.len, mac);
}

void web_csrf_token(const struct web_keys *k, struct slice cookie, char out[WEB_CSRF_HEX + 1])
{
    uint8_t mac[SEC_MAC_BYTES];
    csrf_mac(k, cookie, mac);
    sec_hex(mac, sizeof(mac), out);
}

int web_csrf_check(const struct web_keys *k, struct slice cookie, struct slice token)
{
    uint8_t mac[SEC_MAC_BYTES];
    if (token.len != WEB_CSRF_HEX || sec_unhex(token, mac, sizeof(mac)) != 0) {
        return -1;
    }
    return sec_mac_verify(k->csrf, cookie.ptr ? cookie.ptr : "", cookie.len, mac);
}

struct slice web_cookie_get(const char *header, const char *name)
{
    struct slice none = {NULL, 0};
    if (!header) {
        return none;
    }
    size_t nlen = strlen(name);
    const char *p = header;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ';') {
            p++;
        }
        const char *end = strchr(p, ';');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        struct slice pair = slice_trim((struct slice){p, n});
        if (pair.len > nlen && memcmp(pair.ptr, name, nlen) == 0 && pair.ptr[nlen] == '=') {
            struct slice v = slice_trim((struct slice){pair.ptr + nlen + 1, pair.len - nlen - 1});
            if (v.len >= 2 && v.ptr[0] == '"' && v.ptr[v.len - 1] == '"') {
                v = (struct slice){v.ptr + 1, v.len - 2};
            }
            return v;
        }
        p += n;
    }
    return none;
}
