/* util/sec.c: libsodium wrappers. */
#include "util/sec.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

int sec_init(void)
{
    return sodium_init() < 0 ? -1 : 0;
}

void sec_random(void *p, size_t n)
{
    randombytes_buf(p, n);
}

void sec_memzero(void *p, size_t n)
{
    sodium_memzero(p, n);
}

uint64_t sec_random_u64(void)
{
    uint64_t v;
    randombytes_buf(&v, sizeof(v));
    return v;
}

void sec_hex(const void *p, size_t n, char *out)
{
    sodium_bin2hex(out, 2 * n + 1, p, n);
}

int sec_unhex(struct slice hex, void *out, size_t n)
{
    if (hex.len != 2 * n) {
        return -1;
    }
    size_t got = 0;
    const char *end = NULL;
    if (sodium_hex2bin(out, n, hex.ptr, hex.len, NULL, &got, &end) != 0 || got != n ||
        end != hex.ptr + hex.len) {
        return -1;
    }
    return 0;
}

size_t sec_base64_len(size_t n)
{
    return sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
}

void sec_base64(const void *p, size_t n, char *out, size_t out_size)
{
    sodium_bin2base64(out, out_size, p, n, sodium_base64_VARIANT_ORIGINAL);
}

long sec_unbase64(struct slice b64, void *out, size_t out_size)
{
    size_t got = 0;
    const char *end = NULL;
    if (sodium_base642bin(out, out_size, b64.ptr, b64.len, " \t\r\n", &got, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != b64.ptr + b64.len) {
        return -1;
    }
    return (long)got;
}

int sec_pwhash(const char *password, size_t len, char out[SEC_PWHASH_STRBYTES])
{
    _Static_assert(SEC_PWHASH_STRBYTES == crypto_pwhash_STRBYTES, "argon2id string size");
    return crypto_pwhash_str_alg(out, password, len, 2, 19u << 20, crypto_pwhash_ALG_ARGON2ID13);
}

/* Verifications at once: each takes 19 MiB for its run, so the threads that may verify (the
 * HTTP workers, each with a login to check) do not decide the process's peak; one per core,
 * at most SEC_PWHASH_MAX_CONCURRENT, since a verification keeps its core busy anyway. */
static struct {
    pthread_once_t once;
    pthread_mutex_t lock;
    pthread_cond_t freed;
    unsigned limit;
    unsigned running;
    atomic_uint peak; /* the most running at once, for tests (sec_pwhash_peak) */
} verifying = {.once = PTHREAD_ONCE_INIT,
               .lock = PTHREAD_MUTEX_INITIALIZER,
               .freed = PTHREAD_COND_INITIALIZER};

static void verifying_init(void)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    verifying.limit = cores < 1                           ? 1
                      : cores > SEC_PWHASH_MAX_CONCURRENT ? SEC_PWHASH_MAX_CONCURRENT
                                                          : (unsigned)cores;
}

unsigned sec_pwhash_concurrency(void)
{
    pthread_once(&verifying.once, verifying_init);
    return verifying.limit;
}

unsigned sec_pwhash_peak(void)
{
    return atomic_load(&verifying.peak);
}

int sec_pwhash_verify(const char *hash, const char *password, size_t len)
{
    unsigned limit = sec_pwhash_concurrency();
    pthread_mutex_lock(&verifying.lock);
    while (verifying.running == limit) {
        pthread_cond_wait(&verifying.freed, &verifying.lock);
    }
    unsigned now = ++verifying.running;
    if (now > atomic_load(&verifying.peak)) {
        atomic_store(&verifying.peak, now);
    }
    pthread_mutex_unlock(&verifying.lock);
    int rc = crypto_pwhash_str_verify(hash, password, len) == 0 ? 0 : -1;
    pthread_mutex_lock(&verifying.lock);
    verifying.running--;
    pthread_cond_signal(&verifying.freed);
    pthread_mutex_unlock(&verifying.lock);
    return rc;
}

void sec_mac(const uint8_t key[SEC_MAC_KEYBYTES],
             const void *p,
             size_t n,
             uint8_t out[SEC_MAC_BYTES])
{
    _Static_assert(SEC_MAC_KEYBYTES == crypto_auth_KEYBYTES, "mac key size");
    _Static_assert(SEC_MAC_BYTES == crypto_auth_BYTES, "mac size");
    crypto_auth(out, p, n, key);
}

int sec_mac_verify(const uint8_t key[SEC_MAC_KEYBYTES],
                   const void *p,
                   size_t n,
                   const uint8_t mac[SEC_MAC_BYTES])
{
    return crypto_auth_verify(mac, p, n, key) == 0 ? 0 : -1;
}

void sec_hash(const uint8_t *key, size_t keylen, const void *p, size_t n, uint8_t out[32])
{
    crypto_generichash(out, 32, p, n, key, keylen);
}

uint64_t sec_shorthash(const uint8_t key[SEC_SHORTHASH_KEYBYTES], const void *p, size_t n)
{
    _Static_assert(SEC_SHORTHASH_KEYBYTES == crypto_shorthash_KEYBYTES, "siphash key size");
    unsigned char out[crypto_shorthash_BYTES];
    crypto_shorthash(out, p, n, key);
    uint64_t v = 0;
    for (size_t i = 0; i < sizeof(out); i++) {
        v = v << 8 | out[i];
    }
    return v;
}
