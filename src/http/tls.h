/* http/tls.h: the certificate and key the HTTPS listener serves, read from PEM files and
 * re-read on demand (SIGHUP) without touching a connection.
 *
 * libmicrohttpd hands GnuTLS a certificate retrieve function (MHD_OPTION_HTTPS_CERT_CALLBACK)
 * instead of a fixed certificate: GnuTLS calls it during each handshake, and it answers with
 * the credentials current at that moment, one pointer read with acquire ordering. A reload
 * builds a complete new set (chain and key, checked against each other) and then swaps the
 * pointer with release ordering, so a handshake sees the old set whole or the new set whole,
 * never a mixture. Connections whose handshake is done keep their session keys and are not
 * touched. A replaced set is not freed until http_tls_destroy(): GnuTLS keeps pointers to the
 * chain and key a handshake was given for the rest of that session (gnutls_certificate_get_ours,
 * a client-initiated renegotiation), and no MHD callback says when the last session that
 * could hold them has ended. That keeps a few kilobytes per reload until the process stops,
 * which an operator's reloads never make noticeable.
 *
 * The retrieve function gets no context pointer from GnuTLS, so the current set is a
 * process-wide pointer: one http_tls exists at a time (asserted). Thread-safe. */
#ifndef ALMANAC_HTTP_TLS_H
#define ALMANAC_HTTP_TLS_H

#include <gnutls/abstract.h>
#include <stddef.h>

#include "util/err.h"

struct http_tls;

/* Priorities of the HTTPS listener: TLS 1.2 and 1.3 only, GnuTLS's NORMAL ciphers. */
#define HTTP_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

/* Reads the chain at `cert_path` (PEM, leaf first, then intermediates) and the key at
 * `key_path` (PEM, PKCS#1 or PKCS#8, unencrypted). Both paths are copied for
 * http_tls_reload(). Returns 0, or -1 with http_cond_tls_credentials naming the file and the
 * problem: it cannot be read, holds no certificate or key, or the key does not match the
 * certificate. The caller frees with http_tls_destroy(). */
int http_tls_create(const char *cert_path,
                    const char *key_path,
                    struct http_tls **out,
                    struct err *err);
/* Reads both files again; new handshakes get the new set once it has loaded whole. On a
 * failure the current set stays in use and err says why. */
int http_tls_reload(struct http_tls *t, struct err *err);
/* Frees every set, current and replaced; no handshake may run (the daemon is stopped). */
void http_tls_destroy(struct http_tls **t);
/* The retrieve function to give MHD_OPTION_HTTPS_CERT_CALLBACK: the current set. */
gnutls_certificate_retrieve_function2 http_tls_retrieve;
/* Subject and expiry of the leaf now served, for the log line of a (re)load, in `out`. */
void http_tls_describe(struct http_tls *t, char *out, size_t n);

#endif
