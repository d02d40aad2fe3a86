/*
 * bench_tls: calcd-bench's TLS client (OpenSSL 3): the run's client
 * context, a blocking full handshake per connection, then non-blocking
 * SSL_read/SSL_write with OpenSSL's "want read/write" mapped to EAGAIN,
 * and what the first handshake negotiated, for the report.
 */
#include "bench_tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

struct bench_tls {
	SSL	*ssl;
};

static SSL_CTX		*bench_tls_ctx;
static const char	*bench_tls_host;
static bool		 bench_tls_verify;
static pthread_mutex_t	 bench_tls_seen_lock = PTHREAD_MUTEX_INITIALIZER;
static bool		 bench_tls_seen;
static char		 bench_tls_version[32], bench_tls_cipher[96], bench_tls_group[48],
			 bench_tls_key[48];
static _Thread_local char bench_tls_error_text[256];

/* The reason for OpenSSL's last error on this thread, into buf. */
static void
bench_tls_reason(char *buf, size_t len, const char *what)
{
	unsigned long	e = ERR_peek_last_error();
	char		reason[200];

	if (e != 0)
		ERR_error_string_n(e, reason, sizeof reason);
	else
		snprintf(reason, sizeof reason, "%s", errno ? strerror(errno) : "no reason given");
	snprintf(buf, len, "%s: %s", what, reason);
	ERR_clear_error();
}

int
bench_tls_init(const char *ca_file, const char *cert_file, const char *key_file,
    const char *host, char *err, size_t err_len)
{
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		bench_tls_reason(err, err_len, "SSL_CTX_new");
		return -1;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* Every handshake a full one: no session is kept to resume. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (ca_file != NULL) {
		if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
			bench_tls_reason(err, err_len, ca_file);
			SSL_CTX_free(ctx);
			return -1;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		bench_tls_verify = true;
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}
	if (cert_file != NULL) {
		if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
			bench_tls_reason(err, err_len, cert_file);
			SSL_CTX_free(ctx);
			return -1;
		}
		if (SSL_CTX_use_PrivateKey_file(ctx, key_file != NULL ? key_file : cert_file,
		    SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
			bench_tls_reason(err, err_len, key_file != NULL ? key_file : cert_file);
			SSL_CTX_free(ctx);
			return -1;
		}
	}
	bench_tls_ctx = ctx;
	bench_tls_host = host;
	return 0;
}

/* Note what this handshake negotiated, the first time only. */
static void
bench_tls_note(SSL *ssl)
{
	X509		*peer;
	EVP_PKEY	*key;
	int		 group;

	pthread_mutex_lock(&bench_tls_seen_lock);
	if (!bench_tls_seen) {
		bench_tls_seen = true;
		snprintf(bench_tls_version, sizeof bench_tls_version, "%s", SSL_get_version(ssl));
		snprintf(bench_tls_cipher, sizeof bench_tls_cipher, "%s",
		    SSL_get_cipher_name(ssl));
		group = SSL_get_negotiated_group(ssl);
		snprintf(bench_tls_group, sizeof bench_tls_group, "%s",
		    group != 0 && SSL_group_to_name(ssl, group) != NULL ?
		    SSL_group_to_name(ssl, group) : "unknown");
		peer = SSL_get0_peer_certificate(ssl);
		key = peer != NULL ? X509_get0_pubkey(peer) : NULL;
		if (key != NULL)
			snprintf(bench_tls_key, sizeof bench_tls_key, "%s-%d",
			    EVP_PKEY_get0_type_name(key) != NULL ?
			    EVP_PKEY_get0_type_name(key) : "unknown", EVP_PKEY_get_bits(key));
		else
			snprintf(bench_tls_key, sizeof bench_tls_key, "none");
	}
	pthread_mutex_unlock(&bench_tls_seen_lock);
}

struct bench_tls *
bench_tls_handshake(int fd)
{
	char			*err = bench_tls_error_text;
	size_t			 err_len = sizeof bench_tls_error_text;
	struct bench_tls	*t;
	struct in6_addr		 addr;
	bool			 numeric;
	int			 rc;

	if ((t = calloc(1, sizeof *t)) == NULL || (t->ssl = SSL_new(bench_tls_ctx)) == NULL) {
		bench_tls_reason(err, err_len, "SSL_new");
		free(t);
		errno = EPROTO;
		return NULL;
	}
	numeric = inet_pton(AF_INET, bench_tls_host, &addr) == 1 ||
	    inet_pton(AF_INET6, bench_tls_host, &addr) == 1;
	if (!numeric)
		(void)SSL_set_tlsext_host_name(t->ssl, bench_tls_host);
	if (bench_tls_verify && (numeric ?
	    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), bench_tls_host) :
	    SSL_set1_host(t->ssl, bench_tls_host)) != 1) {
		bench_tls_reason(err, err_len, "setting the name to verify");
		goto failed;
	}
	if (SSL_set_fd(t->ssl, fd) != 1) {
		bench_tls_reason(err, err_len, "SSL_set_fd");
		goto failed;
	}
	ERR_clear_error();
	errno = 0;
	while ((rc = SSL_connect(t->ssl)) != 1) {
		int e = SSL_get_error(t->ssl, rc);

		if (e == SSL_ERROR_SYSCALL && errno == EINTR)
			continue;
		if (SSL_get_verify_result(t->ssl) != X509_V_OK) {
			snprintf(err, err_len, "TLS handshake: certificate verify failed: %s",
			    X509_verify_cert_error_string(SSL_get_verify_result(t->ssl)));
			ERR_clear_error();
		} else if (ERR_peek_last_error() == 0) {
			snprintf(err, err_len, "TLS handshake: %s", errno ? strerror(errno) :
			    "the server closed the connection (a port without TLS?)");
		} else {
			bench_tls_reason(err, err_len, "TLS handshake");
		}
		goto failed;
	}
	bench_tls_note(t->ssl);
	return t;

failed:
	SSL_free(t->ssl);
	free(t);
	errno = EPROTO;
	return NULL;
}

/* What an SSL_read or SSL_write that returned n <= 0 means, as send/recv would say. */
static ssize_t
bench_tls_result(struct bench_tls *t, int n, const char *what)
{
	switch (SSL_get_error(t->ssl, n)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_last_error() == 0) {
			if (errno == 0)
				return 0;
			snprintf(bench_tls_error_text, sizeof bench_tls_error_text, "%s: %s",
			    what, strerror(errno));
			return -1;
		}
		/* FALLTHROUGH */
	default:
		bench_tls_reason(bench_tls_error_text, sizeof bench_tls_error_text, what);
		errno = EPROTO;
		return -1;
	}
}

ssize_t
bench_tls_send(struct bench_tls *t, const void *buf, size_t len)
{
	int n;

	ERR_clear_error();
	errno = 0;
	n = SSL_write(t->ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
	return n > 0 ? n : bench_tls_result(t, n, "SSL_write");
}

ssize_t
bench_tls_recv(struct bench_tls *t, void *buf, size_t len)
{
	int n;

	ERR_clear_error();
	errno = 0;
	n = SSL_read(t->ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
	return n > 0 ? n : bench_tls_result(t, n, "SSL_read");
}

bool
bench_tls_pending(const struct bench_tls *t)
{
	return SSL_has_pending(t->ssl) == 1;
}

const char *
bench_tls_error(void)
{
	if (errno == EPROTO && bench_tls_error_text[0] != '\0')
		return bench_tls_error_text;
	return strerror(errno);
}

void
bench_tls_close(struct bench_tls *t)
{
	if (t == NULL)
		return;
	ERR_clear_error();
	(void)SSL_shutdown(t->ssl);	/* close_notify; the server's is not awaited */
	ERR_clear_error();
	SSL_free(t->ssl);
	free(t);
}

void
bench_tls_describe(char *text, size_t len, bool kv)
{
	pthread_mutex_lock(&bench_tls_seen_lock);
	if (!bench_tls_seen)
		snprintf(text, len, kv ? "tls=1" : "no handshake finished");
	else if (kv)
		snprintf(text, len, "tls=1 tls_version=%s tls_cipher=%s tls_group=%s "
		    "tls_server_key=%s tls_verified=%d", bench_tls_version, bench_tls_cipher,
		    bench_tls_group, bench_tls_key, bench_tls_verify);
	else
		snprintf(text, len, "%s %s, key exchange %s, server key %s bits, %s",
		    bench_tls_version, bench_tls_cipher, bench_tls_group, bench_tls_key,
		    bench_tls_verify ? "verified" : "NOT verified (no --ca)");
	pthread_mutex_unlock(&bench_tls_seen_lock);
}
