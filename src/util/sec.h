/* util/sec.h: everything of libsodium the project uses (util alone includes sodium.h):
 * random bytes, hex and base64, argon2id password hashes, keyed MACs and hashes. */
#ifndef ALMANAC_UTIL_SEC_H
#define ALMANAC_UTIL_SEC_H

#include <stddef.h>
#include <stdint.h>

#include "util/compiler.h"
#include "util/slice.h"

enum {
    SEC_PWHASH_STRBYTES = 128, /* argon2id encoded hash incl. NUL */
    SEC_MAC_KEYBYTES = 32,
    SEC_MAC_BYTES = 32,
    SEC_SHORTHASH_KEYBYTES = 16,
};

/* Initialises libsodium once; returns 0 or -1. Thread-safe. */
int sec_init(void);

void sec_random(void *p, size_t n);

/* Wipes secrets (passwords) in a way the compiler cannot drop. */
void sec_memzero(void *p, size_t n);
uint64_t sec_random_u64(void);

/* Lowercase hex of n bytes into out (2n+1 bytes, NUL-terminated). */
void sec_hex(const void *p, size_t n, char *out);

/* Decodes exactly 2*n hex digits (either case) into out[n]; returns 0 or -1. */
int sec_unhex(struct slice hex, void *out, size_t n);

/* Standard base64 with padding. encode: out needs sec_base64_len(n) bytes incl. NUL. */
size_t sec_base64_len(size_t n);
void sec_base64(const void *p, size_t n, char *out, size_t out_size);

/* Decodes base64 (whitespace ignored) into out (at most out_size); returns the decoded
 * length, or -1 when malformed or too long. */
long sec_unbase64(struct slice b64, void *out, size_t out_size);

/* argon2id hash of a password (opslimit 2, 19 MiB: OWASP's minimum for argon2id, chosen to
 * keep a verification cheap enough for Basic auth behind the auth cache). Returns 0 or -1. */
int sec_pwhash(const char *password, size_t len, char out[SEC_PWHASH_STRBYTES]);

/* 0 when `password` matches `hash`, -1 otherwise. At most sec_pwhash_concurrency()
 * verifications run at once in the process (each needs 19 MiB); a caller beyond waits. */
int sec_pwhash_verify(const char *hash, const char *password, size_t len);

enum {
    SEC_PWHASH_MAX_CONCURRENT = 4
};

/* The bound: one per online core, at most SEC_PWHASH_MAX_CONCURRENT. */
unsigned sec_pwhash_concurrency(void);
/* The most verifications that ran at once so far (tests). */
unsigned sec_pwhash_peak(void);

/* HMAC-SHA-512-256 (crypto_auth) of p under key. */
void sec_mac(const uint8_t key[SEC_MAC_KEYBYTES],
             const void *p,
             size_t n,
             uint8_t out[SEC_MAC_BYTES]);
/* Constant-time check of a MAC; 0 when it matches. */
int sec_mac_verify(const uint8_t key[SEC_MAC_KEYBYTES],
                   const void *p,
                   size_t n,
                   const uint8_t mac[SEC_MAC_BYTES]);

/* SipHash-2-4 (crypto_shorthash) of p under key: for hash tables whose keys a client
 * chooses, so that nobody can make them collide without knowing the key. */
uint64_t sec_shorthash(const uint8_t key[SEC_SHORTHASH_KEYBYTES], const void *p, size_t n);

/* BLAKE2b-256 of p, optionally keyed (key may be NULL). */
void sec_hash(const uint8_t *key, size_t keylen, const void *p, size_t n, uint8_t out[32]);

#endif
