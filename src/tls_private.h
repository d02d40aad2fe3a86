/*
 * tls_private: the tls module's own header (tls.c, tls_load.c,
 * tls_session.c), not for other modules — error helpers and names shared
 * by the context's files, the SSL_CTX a session is made from, and the
 * loaders that read the files the settings name.
 */
#ifndef CALCD_TLS_PRIVATE_H
#define CALCD_TLS_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "tls.h"

/* --- tls.c ---------------------------------------------------------------------- */

void		 tls_set_error(struct tls_error *, enum tls_setting, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
/* The most telling line of OpenSSL's error queue, which is then emptied. */
const char	*tls_openssl_reason(void);
/* A name as RFC 2253 text ("CN=a,O=b"), "" if there is none; safe to log. */
void		 tls_format_name(const X509_NAME *, char *out, size_t len);
/* The OpenSSL context sessions made from ctx use. */
SSL_CTX		*tls_context_ssl_ctx(const struct tls_context *);

/* --- tls_load.c: each problem blamed on its setting, in *err ----------------------- */

/* The certificate and its chain into ssl_ctx; the certificate (to free), or NULL. */
X509		*tls_load_certificate(SSL_CTX *, const char *path, struct tls_error *);
/* The key: tls_key, or the certificate's own file when tls_key is not set; 0 or -1. */
int		 tls_load_key(SSL_CTX *, X509 *leaf, const struct tls_settings *,
		    struct tls_error *);
/* The client CAs in path, required of clients; *cas counts them.  0 or -1. */
int		 tls_load_client_ca(SSL_CTX *, const char *path, unsigned *cas,
		    struct tls_error *);
/* The CRLs in path, checked for clients' certificates; 0 or -1. */
int		 tls_load_client_crl(SSL_CTX *, const char *path, struct tls_error *);

#endif
