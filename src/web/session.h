/* web/session.h: the web page's session, held by the browser in one cookie and checked
 * without a server-side table:
 *
 *     almanac_session=<user>.<expiry>.<cred_gen>.<mac>
 *
 * <user> is the principal name percent-encoded (bytes outside A-Z a-z 0-9 - _ . ~ @ +),
 * <expiry> unix seconds, <cred_gen> the principal's credential generation when the password
 * was checked (store.h), <mac> the hex of HMAC-SHA-512-256 over everything before the last
 * dot, keyed by a key derived from the store's secret (so every node sharing the store
 * accepts it, and nobody without the secret can make one). The cookie stops working when it
 * expires, when the password changes (a new cred_gen) and when the user is deleted (no
 * cred_gen); signing out only clears the browser's copy (docs/web.md says so).
 *
 * CSRF: every form that changes something carries web_csrf_token() of the cookie, a MAC
 * under another key derived from the secret; a forged page on another site can neither read
 * the cookie nor compute the token, and SameSite=Strict keeps the browser from sending the
 * cookie with its POST in the first place. */
#ifndef ALMANAC_WEB_SESSION_H
#define ALMANAC_WEB_SESSION_H

#include <stdint.h>

#include "store/store.h"
#include "util/arena.h"
#include "util/sec.h"
#include "util/slice.h"

#define WEB_SESSION_COOKIE "almanac_session"

enum {
    WEB_SESSION_TTL = 12 * 3600,      /* seconds a sign-in lasts */
    WEB_SESSION_MAX = 512,            /* bytes of a cookie value we look at */
    WEB_CSRF_HEX = 2 * SEC_MAC_BYTES, /* characters of a CSRF token */
};

/* The two keys, derived from the store's secret (store_secret) with their own labels. */
struct web_keys {
    uint8_t session[SEC_MAC_KEYBYTES];
    uint8_t csrf[SEC_MAC_KEYBYTES];
};

void web_keys_derive(const uint8_t secret[STORE_SECRET_BYTES], struct web_keys *out);

/* A session as the cookie says. */
struct web_session {
    const char *user; /* in the arena */
    int64_t expires;  /* unix seconds */
    uint64_t gen;     /* credential generation */
};

/* The cookie value for `user` (in `arena`). */
const char *web_session_make(
    const struct web_keys *k, const char *user, int64_t expires, uint64_t gen, struct arena *arena);

/* Parses and authenticates a cookie value: 0 with *out filled (strings in `arena`) when the
 * MAC is right and `now` is before the expiry, else -1 with *why_out (static) saying which
 * check failed ("malformed", "bad MAC", "expired"). The credential generation is not checked
 * here: web_session_verify() does, against the store. */
int web_session_parse(const struct web_keys *k,
                      struct slice cookie,
                      int64_t now,
                      struct arena *arena,
                      struct web_session *out,
                      const char **why_out);

/* web_session_parse, then the principal's current credential generation read on `s` (in a
 * transaction of the caller's): -1 with *why_out "password changed" or "no such user" when
 * it is not the cookie's, or "store" when the store failed (*rc_out, which may be NULL, has
 * the store's answer; STORE_OK otherwise). */
int web_session_verify(const struct web_keys *k,
                       struct store *s,
                       struct slice cookie,
                       int64_t now,
                       struct arena *arena,
                       struct web_session *out,
                       const char **why_out,
                       enum store_rc *rc_out);

/* The CSRF token of a cookie value: WEB_CSRF_HEX hex digits and a NUL into out. */
void web_csrf_token(const struct web_keys *k, struct slice cookie, char out[WEB_CSRF_HEX + 1]);

/* 0 when `token` is the cookie's CSRF token (compared in constant time), else -1. */
int web_csrf_check(const struct web_keys *k, struct slice cookie, struct slice token);

/* The value of cookie `name` in a Cookie request header (RFC 6265 §5.4: "a=b; c=d"), or the
 * empty slice with ptr NULL when absent. Borrowed from `header`. */
struct slice web_cookie_get(const char *header, const char *name);

#endif
