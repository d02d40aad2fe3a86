/*
 * calcctl_tls: calcctl's TLS client (see calcctl_tls.h).  One context and
 * one session per run; the socket stays non-blocking and the caller waits
 * for it between steps.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "calcctl_tls.h"

struct calcctl_tls {
	SSL_CTX	*ctx;
	SSL	*ssl;
	bool	 sent_certificate;	/* --cert was given */
	char	 error[CALCCTL_TLS_ERROR_LEN];
};

static void
calcctl_tls_set_error(char *out, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
calcctl_tls_set_error(char *out, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(out, len, fmt, ap);	/* cut short if need be */
	va_end(ap);
}

/* OpenSSL's reason for the oldest error queued, or fallback; the queue is emptied. */
static const char *
calcctl_tls_reason(const char *fallback)
{
	unsigned long	 e = ERR_get_error();
	const char	*reason = e != 0 ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	return reason != NULL ? reason : fallback;
}

/* Never ask for a passphrase on the terminal: an encrypted key is an error. */
static int
calcctl_tls_no_passphrase(char *buf, int size, int rwflag, void *data)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)data;
	return 0;
}

/* Can the file be opened?  Else say why, as "OPTION FILE: reason". */
static bool
calcctl_tls_readable(const char *option, const char *path, char *error, size_t len)
{
	FILE *f = fopen(path, "r");

	if (f == NULL) {
		calcctl_tls_set_error(error, len, "%s %s: %s", option, path, strerror(errno));
		return false;
	}
	(void)fclose(f);	/* opened for reading only: nothing to lose */
	return true;
}

static bool
calcctl_tls_load(SSL_CTX *ctx, const struct calcctl_tls_config *config, char *error,
    size_t len)
{
	const char *key = config->key != NULL ? config->key : config->cert;

	if (config->ca != NULL) {
		if (!calcctl_tls_readable("--ca", config->ca, error, len))
			return false;
		if (SSL_CTX_load_verify_file(ctx, config->ca) != 1) {
			calcctl_tls_set_error(error, len, "--ca %s: no PEM certificate in it (%s)",
			    config->ca, calcctl_tls_reason("unreadable"));
			return false;
		}
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		calcctl_tls_set_error(error, len, "cannot load the system's CA certificates: %s",
		    calcctl_tls_reason("unknown error"));
		return false;
	}
	if (config->cert == NULL)
		return true;
	if (!calcctl_tls_readable("--cert", config->cert, error, len))
		return false;
	if (SSL_CTX_use_certificate_chain_file(ctx, config->cert) != 1) {
		calcctl_tls_set_error(error, len, "--cert %s: no usable PEM certificate in it (%s)",
		    config->cert, calcctl_tls_reason("unreadable"));
		return false;
	}
	if (!calcctl_tls_readable("--key", key, error, len))
		return false;
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		const char *reason = calcctl_tls_reason("unreadable");

		if (strcmp(reason, "key values mismatch") == 0)
			calcctl_tls_set_error(error, len, "--key %s: does not match the "
			    "certificate of --cert %s", key, config->cert);
		else
			calcctl_tls_set_error(error, len, "--key %s: no usable unencrypted PEM "
			    "key in it (%s)", key, reason);
		return false;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		calcctl_tls_set_error(error, len, "--key %s: does not match the certificate of "
		    "--cert %s", key, config->cert);
		ERR_clear_error();
		return false;
	}
	return true;
}

struct calcctl_tls *
calcctl_tls_new(const struct calcctl_tls_config *config, const char *host, char *error,
    size_t len)
{
	struct calcctl_tls	*tls;
	X509_VERIFY_PARAM	*param;
	unsigned char		 addr[sizeof(struct in6_addr)];
	bool			 is_ip;

	/*
	 * OpenSSL writes with write(2): a server that has closed the
	 * connection must be an error to report, not SIGPIPE.  calcctl has
	 * one thread and no other use for the signal.
	 */
	(void)signal(SIGPIPE, SIG_IGN);
	if ((tls = calloc(1, sizeof *tls)) == NULL) {
		calcctl_tls_set_error(error, len, "out of memory");
		return NULL;
	}
	ERR_clear_error();
	if ((tls->ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    SSL_CTX_set_min_proto_version(tls->ctx, TLS1_2_VERSION) != 1) {
		calcctl_tls_set_error(error, len, "cannot set up TLS: %s",
		    calcctl_tls_reason("out of memory"));
		goto fail;
	}
	SSL_CTX_set_default_passwd_cb(tls->ctx, calcctl_tls_no_passphrase);
	SSL_CTX_set_verify(tls->ctx, SSL_VERIFY_PEER, NULL);
	/* A server that closes without close_notify: end of file (replies carry their length). */
	SSL_CTX_set_options(tls->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_COMPRESSION);
	if (!calcctl_tls_load(tls->ctx, config, error, len))
		goto fail;
	tls->sent_certificate = config->cert != NULL;
	if ((tls->ssl = SSL_new(tls->ctx)) == NULL) {
		calcctl_tls_set_error(error, len, "cannot set up TLS: %s",
		    calcctl_tls_reason("out of memory"));
		goto fail;
	}
	is_ip = inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
	param = SSL_get0_param(tls->ssl);
	X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host) != 1 :
	    SSL_set1_host(tls->ssl, host) != 1 || SSL_set_tlsext_host_name(tls->ssl, host) != 1) {
		calcctl_tls_set_error(error, len, "cannot check the server's certificate "
		    "against '%s': %s", host, calcctl_tls_reason("not a usable name"));
		goto fail;
	}
	return tls;
fail:
	calcctl_tls_free(tls);
	return NULL;
}

void
calcctl_tls_free(struct calcctl_tls *tls)
{
	if (tls == NULL)
		return;
	SSL_free(tls->ssl);
	SSL_CTX_free(tls->ctx);
	free(tls);
}

int
calcctl_tls_attach(struct calcctl_tls *tls, int fd)
{
	if (SSL_set_fd(tls->ssl, fd) != 1) {
		calcctl_tls_set_error(tls->error, sizeof tls->error, "cannot set up TLS: %s",
		    calcctl_tls_reason("out of memory"));
		return -1;
	}
	SSL_set_connect_state(tls->ssl);
	return 0;
}

/* A hint after OpenSSL's reason, for the failures an operator meets. */
static const char *
calcctl_tls_hint(const struct calcctl_tls *tls, const char *reason)
{
	if (strstr(reason, "wrong version number") != NULL ||
	    strstr(reason, "packet length too long") != NULL ||
	    strstr(reason, "record layer failure") != NULL)
		return " (is the server speaking TLS on this port?)";
	if (strstr(reason, "certificate required") != NULL ||
	    (!tls->sent_certificate && strstr(reason, "handshake failure") != NULL))
		return tls->sent_certificate ? "" :
		    " (the server wants a client certificate: --cert and --key)";
	if (tls->sent_certificate && (strstr(reason, "bad certificate") != NULL ||
	    strstr(reason, "unknown ca") != NULL ||
	    strstr(reason, "certificate revoked") != NULL ||
	    strstr(reason, "certificate expired") != NULL))
		return " (the server refused calcctl's client certificate)";
	return "";
}

/* What ret (from an SSL_* call) means; fills tls->error on ERROR. */
static enum calcctl_tls_io
calcctl_tls_result(struct calcctl_tls *tls, int ret, const char *what)
{
	const char	*reason;
	long		 verify;
	int		 err = errno;

	switch (SSL_get_error(tls->ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		return CALCCTL_TLS_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return CALCCTL_TLS_WANT_WRITE;
	case SSL_ERROR_ZERO_RETURN:
		ERR_clear_error();
		return CALCCTL_TLS_CLOSED;
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_error() == 0) {
			if (err == 0)
				return CALCCTL_TLS_CLOSED;
			calcctl_tls_set_error(tls->error, sizeof tls->error, "%s%s",
			    what, strerror(err));
			return CALCCTL_TLS_ERROR;
		}
		break;
	default:
		break;
	}
	verify = SSL_get_verify_result(tls->ssl);
	reason = calcctl_tls_reason("unknown error");
	if (strstr(reason, "certificate verify failed") != NULL && verify != X509_V_OK)
		calcctl_tls_set_error(tls->error, sizeof tls->error, "%s%s: %s", what, reason,
		    X509_verify_cert_error_string(verify));
	else
		calcctl_tls_set_error(tls->error, sizeof tls->error, "%s%s%s", what, reason,
		    calcctl_tls_hint(tls, reason));
	return CALCCTL_TLS_ERROR;
}

enum calcctl_tls_io
calcctl_tls_handshake(struct calcctl_tls *tls)
{
	enum calcctl_tls_io	io;
	int			ret;

	ERR_clear_error();
	errno = 0;
	if ((ret = SSL_do_handshake(tls->ssl)) == 1)
		return CALCCTL_TLS_DONE;
	io = calcctl_tls_result(tls, ret, "");
	if (io == CALCCTL_TLS_CLOSED) {
		calcctl_tls_set_error(tls->error, sizeof tls->error, "the server closed the "
		    "connection (is it speaking TLS on this port?)");
		io = CALCCTL_TLS_ERROR;
	}
	return io;
}

enum calcctl_tls_io
calcctl_tls_read(struct calcctl_tls *tls, void *buf, size_t len, size_t *got)
{
	int ret;

	*got = 0;
	ERR_clear_error();
	errno = 0;
	if ((ret = SSL_read_ex(tls->ssl, buf, len, got)) == 1)
		return CALCCTL_TLS_DONE;
	*got = 0;
	return calcctl_tls_result(tls, ret, "TLS: ");
}

/*
 * After a write (data or close_notify) the socket refused (reset, broken
 * pipe): a server that refuses the client certificate after a TLS 1.3
 * handshake sends its alert and closes, and the alert may still be waiting
 * to be read.  True, with the error, if it is.
 */
static bool
calcctl_tls_alert(struct calcctl_tls *tls)
{
	const char	*reason;
	uint8_t		 buf[256];
	size_t		 got;
	int		 ret;

	ERR_clear_error();
	errno = 0;
	if ((ret = SSL_read_ex(tls->ssl, buf, sizeof buf, &got)) == 1 ||
	    SSL_get_error(tls->ssl, ret) != SSL_ERROR_SSL ||
	    (reason = ERR_reason_error_string(ERR_peek_error())) == NULL ||
	    strstr(reason, "alert") == NULL) {
		ERR_clear_error();
		return false;
	}
	(void)calcctl_tls_result(tls, ret, "TLS: ");
	return true;
}

enum calcctl_tls_io
calcctl_tls_write(struct calcctl_tls *tls, const void *data, size_t len, size_t *written)
{
	enum calcctl_tls_io	io;
	int			ret;

	*written = 0;
	ERR_clear_error();
	errno = 0;
	if ((ret = SSL_write_ex(tls->ssl, data, len, written)) == 1)
		return CALCCTL_TLS_DONE;
	*written = 0;
	if (SSL_get_error(tls->ssl, ret) == SSL_ERROR_SYSCALL && calcctl_tls_alert(tls))
		return CALCCTL_TLS_ERROR;
	if ((io = calcctl_tls_result(tls, ret, "TLS: ")) == CALCCTL_TLS_CLOSED) {
		calcctl_tls_set_error(tls->error, sizeof tls->error,
		    "TLS: the server closed the connection");
		io = CALCCTL_TLS_ERROR;
	}
	return io;
}

enum calcctl_tls_io
calcctl_tls_shutdown(struct calcctl_tls *tls)
{
	int ret;

	ERR_clear_error();
	errno = 0;
	/* 0: close_notify sent, the server's not yet seen; 1: both.  Either will do. */
	if ((ret = SSL_shutdown(tls->ssl)) >= 0)
		return CALCCTL_TLS_DONE;
	if (SSL_get_error(tls->ssl, ret) == SSL_ERROR_SYSCALL && calcctl_tls_alert(tls))
		return CALCCTL_TLS_ERROR;
	return calcctl_tls_result(tls, ret, "TLS: ");
}

const char *
calcctl_tls_error(const struct calcctl_tls *tls)
{
	return tls->error;
}

void
calcctl_tls_describe(const struct calcctl_tls *tls, char *out, size_t len)
{
	X509		*peer = SSL_get0_peer_certificate(tls->ssl);
	BIO		*bio;
	char		 subject[256] = "?";
	int		 n;

	if (peer != NULL && (bio = BIO_new(BIO_s_mem())) != NULL) {
		if (X509_NAME_print_ex(bio, X509_get_subject_name(peer), 0, XN_FLAG_RFC2253) >= 0 &&
		    (n = BIO_read(bio, subject, (int)sizeof subject - 1)) > 0)
			subject[n] = '\0';
		BIO_free(bio);
	}
	(void)snprintf(out, len, "%s, %s, server certificate %s verified", SSL_get_version(tls->ssl),
	    SSL_get_cipher_name(tls->ssl), subject);
}
