/* http/tls.c: the HTTPS listener's credentials (see tls.h): PEM files read into a GnuTLS
 * certificate chain and private key, checked against each other, and served to each
 * handshake through an atomically swapped pointer. */
#include "http/tls.h"

#include <assert.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/http.h"

enum {
    TLS_FILE_MAX = 1 << 20, /* bytes of one PEM file: a chain of 16 large certificates fits */
    TLS_CHAIN_MAX = 16,     /* certificates in tls_cert: a leaf and its intermediates */
};

/* One loaded certificate chain and key; immutable once published. */
struct tls_set {
    struct tls_set *older; /* the set this one replaced, kept until destroy (tls.h) */
    gnutls_pcert_st pcerts[TLS_CHAIN_MAX];
    unsigned npcerts;
    gnutls_privkey_t key;
};

struct http_tls {
    char *cert_path;
    char *key_path;
    pthread_mutex_t lock; /* serialises reloads; handshakes never take it */
    struct tls_set *sets; /* every set ever loaded, newest first (the current one) */
};

/* What the retrieve function serves: the current set of the one http_tls, or NULL. */
static _Atomic(struct tls_set *) current_set;
static atomic_bool instance_exists;

int http_tls_retrieve(gnutls_session_t session,
                      const gnutls_datum_t *req_ca_rdn,
                      int nreqs,
                      const gnutls_pk_algorithm_t *pk_algos,
                      int pk_algos_length,
                      gnutls_pcert_st **pcert,
                      unsigned int *pcert_length,
                      gnutls_privkey_t *privkey)
{
    (void)session;
    (void)req_ca_rdn;
    (void)nreqs;
    (void)pk_algos;
    (void)pk_algos_length;
    struct tls_set *s = atomic_load_explicit(&current_set, memory_order_acquire);
    if (!s) {
        return -1; /* the handshake fails: no credentials (cannot happen while serving) */
    }
    *pcert = s->pcerts;
    *pcert_length = s->npcerts;
    *privkey = s->key;
    return 0;
}

/* Reads the whole file at `path` into a malloc'd buffer (caller frees *out). `what` names the
 * config key in the error. */
static int read_file(const char *what, const char *path, gnutls_datum_t *out, struct err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return err_set(err, &http_cond_tls_credentials, "%s %s: cannot open: %s", what, path,
                       strerror(errno));
    }
    unsigned char *buf = malloc(TLS_FILE_MAX + 1);
    if (!buf) {
        abort();
    }
    size_t n = fread(buf, 1, TLS_FILE_MAX + 1, f);
    int rc = 0;
    if (ferror(f)) {
        rc = err_set(err, &http_cond_tls_credentials, "%s %s: cannot read: %s", what, path,
                     strerror(errno));
    } else if (n > TLS_FILE_MAX) {
        rc = err_set(err, &http_cond_tls_credentials, "%s %s: larger than %d bytes", what, path,
                     TLS_FILE_MAX);
    } else if (n == 0) {
        rc = err_set(err, &http_cond_tls_credentials, "%s %s: the file is empty", what, path);
    }
    fclose(f);
    if (rc != 0) {
        free(buf);
        return rc;
    }
    buf[n] = '\0';
    out->data = buf;
    out->size = (unsigned)n;
    return 0;
}

static void set_free(struct tls_set *s)
{
    for (unsigned i = 0; i < s->npcerts; i++) {
        gnutls_pcert_deinit(&s->pcerts[i]);
    }
    if (s->key) {
        gnutls_privkey_deinit(s->key);
    }
    free(s);
}

/* Checks that the key belongs to the leaf certificate the way GnuTLS itself does when it is
 * given a fixed key pair (gnutls_certificate_set_x509_key_mem2 refuses a mismatch), so the
 * mistake is found at start or reload, not at the first handshake. */
static int check_pair(const struct http_tls *t,
                      const gnutls_datum_t *cert,
                      const gnutls_datum_t *key,
                      struct err *err)
{
    gnutls_certificate_credentials_t cred;
    if (gnutls_certificate_allocate_credentials(&cred) != GNUTLS_E_SUCCESS) {
        abort();
    }
    int rc = gnutls_certificate_set_x509_key_mem2(cred, cert, key, GNUTLS_X509_FMT_PEM, NULL, 0);
    gnutls_certificate_free_credentials(cred);
    if (rc == GNUTLS_E_CERTIFICATE_KEY_MISMATCH) {
        return err_set(err, &http_cond_tls_credentials,
                       "tls_key %s does not match the certificate in tls_cert %s", t->key_path,
                       t->cert_path);
    }
    if (rc < 0) {
        return err_set(err, &http_cond_tls_credentials, "tls_cert %s with tls_key %s: unusable: %s",
                       t->cert_path, t->key_path, gnutls_strerror(rc));
    }
    return 0;
}

/* Loads both files into a new set (*out), or fails naming the file and the problem. */
static int set_load(const struct http_tls *t, struct tls_set **out, struct err *err)
{
    gnutls_datum_t cert = {NULL, 0}, key = {NULL, 0};
    struct tls_set *s = NULL;
    int rc = -1;
    if (read_file("tls_cert", t->cert_path, &cert, err) != 0 ||
        read_file("tls_key", t->key_path, &key, err) != 0) {
        goto out;
    }
    s = calloc(1, sizeof(*s));
    if (!s) {
        abort();
    }
    unsigned n = TLS_CHAIN_MAX;
    int g = gnutls_pcert_list_import_x509_raw(s->pcerts, &n, &cert, GNUTLS_X509_FMT_PEM, 0);
    if (g == GNUTLS_E_SHORT_MEMORY_BUFFER) {
        err_set(err, &http_cond_tls_credentials, "tls_cert %s: more than %d certificates",
                t->cert_path, TLS_CHAIN_MAX);
        goto out;
    }
    if (g < 0 || n == 0) {
        err_set(err, &http_cond_tls_credentials, "tls_cert %s: no PEM certificate in it: %s",
                t->cert_path, g < 0 ? gnutls_strerror(g) : "empty");
        goto out;
    }
    s->npcerts = n;
    if (gnutls_privkey_init(&s->key) != GNUTLS_E_SUCCESS) {
        abort();
    }
    g = gnutls_privkey_import_x509_raw(s->key, &key, GNUTLS_X509_FMT_PEM, NULL, 0);
    if (g < 0) {
        err_set(err, &http_cond_tls_credentials,
                "tls_key %s: no unencrypted PEM private key in it: %s", t->key_path,
                gnutls_strerror(g));
        goto out;
    }
    if (check_pair(t, &cert, &key, err) != 0) {
        goto out;
    }
    *out = s;
    s = NULL;
    rc = 0;
out:
    if (s) {
        set_free(s);
    }
    if (key.data) {
        memset(key.data, 0, key.size);
    }
    free(key.data);
    free(cert.data);
    return rc;
}

int http_tls_create(const char *cert_path,
                    const char *key_path,
                    struct http_tls **out,
                    struct err *err)
{
    struct http_tls *t = calloc(1, sizeof(*t));
    if (!t) {
        abort();
    }
    t->cert_path = strdup(cert_path);
    t->key_path = strdup(key_path);
    if (!t->cert_path || !t->key_path) {
        abort();
    }
    pthread_mutex_init(&t->lock, NULL);
    if (set_load(t, &t->sets, err) != 0) {
        http_tls_destroy(&t);
        return -1;
    }
    bool was = atomic_exchange(&instance_exists, true);
    assert(!was); /* the retrieve function has no context: one http_tls per process */
    (void)was;
    atomic_store_explicit(&current_set, t->sets, memory_order_release);
    *out = t;
    return 0;
}

int http_tls_reload(struct http_tls *t, struct err *err)
{
    struct tls_set *s = NULL;
    if (set_load(t, &s, err) != 0) {
        return -1;
    }
    pthread_mutex_lock(&t->lock);
    s->older = t->sets;
    t->sets = s;
    atomic_store_explicit(&current_set, s, memory_order_release);
    pthread_mutex_unlock(&t->lock);
    return 0;
}

void http_tls_destroy(struct http_tls **tp)
{
    struct http_tls *t = *tp;
    if (!t) {
        return;
    }
    if (t->sets) {
        atomic_store_explicit(&current_set, NULL, memory_order_release);
        atomic_store(&instance_exists, false);
    }
    while (t->sets) {
        struct tls_set *s = t->sets;
        t->sets = s->older;
        set_free(s);
    }
    pthread_mutex_destroy(&t->lock);
    free(t->cert_path);
    free(t->key_path);
    free(t);
    *tp = NULL;
}

void http_tls_describe(struct http_tls *t, char *out, size_t n)
{
    snprintf(out, n, "-");
    pthread_mutex_lock(&t->lock);
    gnutls_x509_crt_t crt;
    if (t->sets && gnutls_x509_crt_init(&crt) == GNUTLS_E_SUCCESS) {
        gnutls_datum_t dn = {NULL, 0};
        if (gnutls_x509_crt_import(crt, &t->sets->pcerts[0].cert, GNUTLS_X509_FMT_DER) >= 0 &&
            gnutls_x509_crt_get_dn3(crt, &dn, 0) >= 0) {
            time_t exp = gnutls_x509_crt_get_expiration_time(crt);
            struct tm tm;
            char when[32] = "-";
            if (exp != (time_t)-1 && gmtime_r(&exp, &tm)) {
                strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
            }
            snprintf(out, n, "subject=\"%s\" expires=%s chain=%u", (const char *)dn.data, when,
                     t->sets->npcerts);
            gnutls_free(dn.data);
        }
        gnutls_x509_crt_deinit(crt);
    }
    pthread_mutex_unlock(&t->lock);
}
