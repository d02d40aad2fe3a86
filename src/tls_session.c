/*
 * tls_session: one connection's TLS session.  It talks to its socket
 * through a small BIO of calcd's own (recv, send with MSG_NOSIGNAL, and
 * bytes read ahead of it, as after a PROXY header), never blocks, checks
 * that the first bytes are a TLS handshake before OpenSSL sees them, and
 * turns OpenSSL's error queue into one reason (tls_failure) and one line
 * of text.  Also what the first bytes of a connection are, before any
 * session.  The session holds a reference to the context it started with.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "tls.h"
#include "tls_private.h"

/* How many first bytes are looked at to name what a non-TLS client is. */
#define TLS_SNIFF_LEN		8

struct tls_session {
	SSL			*ssl;
	struct tls_context	*ctx;
	int			 fd;
	uint8_t			*already;	/* read off fd by the caller, not yet by OpenSSL */
	size_t			 already_len;
	size_t			 already_off;
	int			 io_errno;	/* the socket's error, once it failed */
	bool			 eof;		/* recv returned 0 */
	bool			 checked;	/* the first bytes looked like TLS */
	bool			 established;
	bool			 closed;	/* the peer closed */
	bool			 failed;	/* ERROR returned: no more calls into OpenSSL */
	bool			 shut;		/* close_notify sent */
	enum tls_failure	 failure;
	char			 error[TLS_ERROR_LEN];
};

/* --- failure reasons ---------------------------------------------------------------- */

const char *
tls_failure_name(enum tls_failure failure)
{
	static const char *const names[TLS_FAIL_COUNT] = {
		[TLS_FAIL_NONE] = "none",
		[TLS_FAIL_NOT_TLS] = "not_tls",
		[TLS_FAIL_VERSION] = "version",
		[TLS_FAIL_CIPHER] = "cipher",
		[TLS_FAIL_NO_CERTIFICATE] = "no_certificate",
		[TLS_FAIL_BAD_CERTIFICATE] = "bad_certificate",
		[TLS_FAIL_ALERT] = "alert",
		[TLS_FAIL_PROTOCOL] = "protocol",
		[TLS_FAIL_EOF] = "eof",
		[TLS_FAIL_IO] = "io",
		[TLS_FAIL_TIMEOUT] = "timeout",
		[TLS_FAIL_INTERNAL] = "internal",
	};

	return (unsigned)failure < TLS_FAIL_COUNT ? names[failure] : "unknown";
}

/* --- the socket BIO ------------------------------------------------------------------ */

static BIO_METHOD	*tls_bio_method;
static pthread_once_t	 tls_bio_once = PTHREAD_ONCE_INIT;

static int
tls_bio_read(BIO *bio, char *buf, size_t len, size_t *got)
{
	struct tls_session	*s = BIO_get_data(bio);
	ssize_t			 n;

	BIO_clear_retry_flags(bio);
	*got = 0;
	if (len == 0)
		return 0;
	if (s->already_off < s->already_len) {
		n = (ssize_t)(s->already_len - s->already_off < len ?
		    s->already_len - s->already_off : len);
		memcpy(buf, s->already + s->already_off, (size_t)n);
		s->already_off += (size_t)n;
		*got = (size_t)n;
		if (s->already_off == s->already_len) {
			free(s->already);
			s->already = NULL;
			s->already_len = s->already_off = 0;
		}
		return 1;
	}
	for (;;) {
		n = recv(s->fd, buf, len, 0);
		if (n > 0) {
			*got = (size_t)n;
			return 1;
		}
		if (n == 0) {
			s->eof = true;
			return 0;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			BIO_set_retry_read(bio);
			return 0;
		}
		s->io_errno = errno;
		return 0;
	}
}

static int
tls_bio_write(BIO *bio, const char *data, size_t len, size_t *written)
{
	struct tls_session	*s = BIO_get_data(bio);
	ssize_t			 n;

	BIO_clear_retry_flags(bio);
	*written = 0;
	for (;;) {
		/* MSG_NOSIGNAL: a peer gone is an error to report, not a SIGPIPE. */
		n = send(s->fd, data, len, MSG_NOSIGNAL);
		if (n >= 0) {
			*written = (size_t)n;
			return 1;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			BIO_set_retry_write(bio);
			return 0;
		}
		s->io_errno = errno;
		return 0;
	}
}

static long
tls_bio_ctrl(BIO *bio, int cmd, long num, void *ptr)
{
	struct tls_session *s = BIO_get_data(bio);

	(void)num;
	(void)ptr;
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_CTRL_EOF:
		return s != NULL && s->eof;
	default:
		return 0;
	}
}

static void
tls_bio_init(void)
{
	int		 index = BIO_get_new_index();
	BIO_METHOD	*m;

	if (index == -1 || (m = BIO_meth_new(index | BIO_TYPE_SOURCE_SINK, "calcd socket")) == NULL)
		return;
	if (BIO_meth_set_read_ex(m, tls_bio_read) != 1 ||
	    BIO_meth_set_write_ex(m, tls_bio_write) != 1 ||
	    BIO_meth_set_ctrl(m, tls_bio_ctrl) != 1) {
		BIO_meth_free(m);
		return;
	}
	tls_bio_method = m;
}

/* --- sessions ------------------------------------------------------------------------- */

static void	tls_session_fail(struct tls_session *, enum tls_failure, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

static void
tls_session_fail(struct tls_session *s, enum tls_failure failure, const char *fmt, ...)
{
	va_list ap;

	s->failed = true;
	s->failure = failure;
	va_start(ap, fmt);
	(void)vsnprintf(s->error, sizeof s->error, fmt, ap);
	va_end(ap);
	ERR_clear_error();
}

struct tls_session *
tls_session_new(struct tls_context *ctx, int fd, const uint8_t *already, size_t already_len)
{
	struct tls_session	*s;
	BIO			*bio;

	(void)pthread_once(&tls_bio_once, tls_bio_init);
	if (tls_bio_method == NULL || (s = calloc(1, sizeof *s)) == NULL)
		return NULL;
	s->fd = fd;
	if (already_len > 0) {
		if ((s->already = malloc(already_len)) == NULL) {
			free(s);
			return NULL;
		}
		memcpy(s->already, already, already_len);
		s->already_len = already_len;
	}
	ERR_clear_error();
	if ((s->ssl = SSL_new(tls_context_ssl_ctx(ctx))) == NULL || (bio = BIO_new(tls_bio_method)) == NULL) {
		ERR_clear_error();
		SSL_free(s->ssl);
		free(s->already);
		free(s);
		return NULL;
	}
	BIO_set_data(bio, s);
	BIO_set_init(bio, 1);
	SSL_set_bio(s->ssl, bio, bio);
	SSL_set_accept_state(s->ssl);
	s->ctx = tls_context_ref(ctx);
	return s;
}

void
tls_session_free(struct tls_session *s)
{
	if (s == NULL)
		return;
	SSL_free(s->ssl);	/* and the BIO, which never closes fd */
	tls_context_unref(s->ctx);
	free(s->already);
	free(s);
}

/* The client's last alert, named, and whether it means it refused calcd's certificate. */
static void
tls_session_fail_alert(struct tls_session *s, int alert)
{
	bool refused = alert == SSL_AD_BAD_CERTIFICATE || alert == SSL_AD_UNSUPPORTED_CERTIFICATE ||
	    alert == SSL_AD_CERTIFICATE_REVOKED || alert == SSL_AD_CERTIFICATE_EXPIRED ||
	    alert == SSL_AD_CERTIFICATE_UNKNOWN || alert == SSL_AD_UNKNOWN_CA;

	tls_session_fail(s, TLS_FAIL_ALERT, "the client ended the TLS handshake with alert '%s'%s",
	    SSL_alert_desc_string_long(alert),
	    refused ? ": it does not accept calcd's certificate" : "");
}

/* SSL_ERROR_SSL: name the reason from OpenSSL's error queue. */
static void
tls_session_fail_ssl(struct tls_session *s)
{
	unsigned long	 e = ERR_peek_last_error();
	int		 reason = ERR_GET_REASON(e);
	const char	*text = e != 0 ? ERR_reason_error_string(e) : NULL;
	const char	*stage = s->established ? "TLS" : "TLS handshake";
	long		 verify;

	if (text == NULL)
		text = "unknown error";
	if (e == 0) {
		tls_session_fail(s, TLS_FAIL_INTERNAL, "%s failed without a reason", stage);
		return;
	}
	if (ERR_GET_LIB(e) != ERR_LIB_SSL) {
		tls_session_fail(s, TLS_FAIL_PROTOCOL, "%s failed: %s", stage, text);
		return;
	}
	if (reason >= SSL_AD_REASON_OFFSET && reason < SSL_AD_REASON_OFFSET + 256) {
		tls_session_fail_alert(s, reason - SSL_AD_REASON_OFFSET);
		return;
	}
	switch (reason) {
	case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
		tls_session_fail(s, TLS_FAIL_NO_CERTIFICATE,
		    "the client sent no certificate, and tls_client_ca requires one");
		return;
	case SSL_R_CERTIFICATE_VERIFY_FAILED:
		verify = SSL_get_verify_result(s->ssl);
		tls_session_fail(s, TLS_FAIL_BAD_CERTIFICATE,
		    "the client's certificate is refused: %s",
		    verify != X509_V_OK ? X509_verify_cert_error_string(verify) : text);
		return;
	case SSL_R_UNSUPPORTED_PROTOCOL:
	case SSL_R_UNSUPPORTED_SSL_VERSION:
	case SSL_R_VERSION_TOO_LOW:
	case SSL_R_NO_PROTOCOLS_AVAILABLE:
		tls_session_fail(s, TLS_FAIL_VERSION, "no TLS version in common: the client "
		    "offers none from tls_min_version (%s) up",
		    SSL_CTX_get_min_proto_version(tls_context_ssl_ctx(s->ctx)) == TLS1_3_VERSION ?
		    "1.3" : "1.2");
		return;
	case SSL_R_NO_SHARED_CIPHER:
	case SSL_R_NO_SHARED_GROUPS:
	case SSL_R_NO_SUITABLE_KEY_SHARE:
	case SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM:
	case SSL_R_NO_SUITABLE_DIGEST_ALGORITHM:
	case SSL_R_NO_SUITABLE_GROUPS:
		tls_session_fail(s, TLS_FAIL_CIPHER, "nothing in common with the client: %s", text);
		return;
	case SSL_R_HTTP_REQUEST:
	case SSL_R_HTTPS_PROXY_REQUEST:
		tls_session_fail(s, TLS_FAIL_NOT_TLS, "an HTTP request on a TLS port");
		return;
	default:
		tls_session_fail(s, TLS_FAIL_PROTOCOL, "%s failed: %s", stage, text);
		return;
	}
}

/* What an OpenSSL call that returned rc <= 0 means for the caller. */
static enum tls_io
tls_session_result(struct tls_session *s, int rc)
{
	switch (SSL_get_error(s->ssl, rc)) {
	case SSL_ERROR_WANT_READ:
		ERR_clear_error();
		return TLS_IO_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		ERR_clear_error();
		return TLS_IO_WANT_WRITE;
	case SSL_ERROR_ZERO_RETURN:
		/* close_notify, or (SSL_OP_IGNORE_UNEXPECTED_EOF) the end of the stream. */
		if (!s->established) {
			tls_session_fail(s, TLS_FAIL_EOF,
			    "the client closed the connection during the TLS handshake");
			return TLS_IO_ERROR;
		}
		ERR_clear_error();
		s->closed = true;
		return TLS_IO_CLOSED;
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_last_error() != 0) {
			tls_session_fail_ssl(s);
		} else if (s->io_errno != 0) {
			tls_session_fail(s, TLS_FAIL_IO, "%s: %s", s->established ?
			    "TLS connection failed" : "TLS handshake failed", strerror(s->io_errno));
		} else if (s->established) {
			s->closed = true;
			return TLS_IO_CLOSED;
		} else {
			tls_session_fail(s, TLS_FAIL_EOF,
			    "the client closed the connection during the TLS handshake");
		}
		return TLS_IO_ERROR;
	case SSL_ERROR_SSL:
		tls_session_fail_ssl(s);
		return TLS_IO_ERROR;
	default:
		tls_session_fail(s, TLS_FAIL_INTERNAL, "TLS failed: unexpected OpenSSL state");
		return TLS_IO_ERROR;
	}
}

/*
 * Before OpenSSL reads anything: are the first bytes a TLS handshake?
 * Looks at what the caller read ahead, then peeks at the socket.  Only a
 * definite no fails; too few bytes to tell go on to OpenSSL, so a client
 * sending one byte at a time cannot make this spin on a readable socket.
 */
static enum tls_io
tls_session_check_first(struct tls_session *s)
{
	uint8_t	 head[TLS_SNIFF_LEN];
	size_t	 n = 0;
	ssize_t	 r;
	char	 hex[3 * TLS_SNIFF_LEN + 1];

	if (s->already_len > s->already_off) {
		n = s->already_len - s->already_off;
		if (n > sizeof head)
			n = sizeof head;
		memcpy(head, s->already + s->already_off, n);
	}
	while (n < sizeof head) {
		r = recv(s->fd, head + n, sizeof head - n, MSG_PEEK);
		if (r > 0) {
			n += (size_t)r;
			break;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (n == 0)
				return TLS_IO_WANT_READ;
			break;
		}
		if (r < 0) {
			tls_session_fail(s, TLS_FAIL_IO, "TLS handshake failed: %s", strerror(errno));
			return TLS_IO_ERROR;
		}
		if (n == 0) {
			/* Connected and closed without a byte: a port check, not a failed handshake. */
			s->closed = true;
			return TLS_IO_CLOSED;
		}
		break;
	}
	if (tls_detect_hello(head, n) == TLS_HELLO_NO) {
		hex[0] = '\0';
		for (size_t i = 0; i < n; i++)
			(void)snprintf(hex + (i ? 3 * i - 1 : 0), sizeof hex - (i ? 3 * i - 1 : 0),
			    "%s%02x", i ? " " : "", head[i]);
		tls_session_fail(s, TLS_FAIL_NOT_TLS, "%s (first bytes %s)",
		    tls_describe_plain(head, n), hex);
		return TLS_IO_ERROR;
	}
	s->checked = true;
	return TLS_IO_DONE;
}

enum tls_io
tls_session_handshake(struct tls_session *s)
{
	enum tls_io	io;
	int		rc;

	if (s->failed)
		return TLS_IO_ERROR;
	if (s->established)
		return TLS_IO_DONE;
	if (s->closed)
		return TLS_IO_CLOSED;
	if (!s->checked && (io = tls_session_check_first(s)) != TLS_IO_DONE)
		return io;
	ERR_clear_error();
	if ((rc = SSL_do_handshake(s->ssl)) == 1) {
		s->established = true;
		return TLS_IO_DONE;
	}
	return tls_session_result(s, rc);
}

bool
tls_session_established(const struct tls_session *s)
{
	return s->established;
}

enum tls_io
tls_session_read(struct tls_session *s, uint8_t *buf, size_t len, size_t *got)
{
	enum tls_io	io;
	size_t		n;
	int		rc;

	*got = 0;
	if (s->failed)
		return TLS_IO_ERROR;
	if (s->closed)
		return TLS_IO_CLOSED;
	if (!s->established && (io = tls_session_handshake(s)) != TLS_IO_DONE)
		return io;
	/*
	 * Fill buf from what the session holds, like one recv would: read on
	 * while OpenSSL (or the bytes read before the handshake) holds more,
	 * but not into a recv that would only say EAGAIN (the socket's read
	 * event says when more has come).
	 */
	while (*got < len) {
		ERR_clear_error();
		rc = SSL_read_ex(s->ssl, buf + *got, len - *got, &n);
		if (rc == 1) {
			*got += n;
			if (!tls_session_pending(s))
				break;
			continue;
		}
		io = tls_session_result(s, rc);
		/* Bytes first: a close or error after them shows at the next call. */
		return *got > 0 ? TLS_IO_DONE : io;
	}
	return TLS_IO_DONE;
}

bool
tls_session_pending(const struct tls_session *s)
{
	if (s->failed || s->closed)
		return false;
	return SSL_pending(s->ssl) > 0 || SSL_has_pending(s->ssl) ||
	    s->already_off < s->already_len;
}

enum tls_io
tls_session_write(struct tls_session *s, const uint8_t *data, size_t len, size_t *written)
{
	enum tls_io	io;
	size_t		n;
	int		rc;

	*written = 0;
	/* Writing after the peer's close_notify is allowed: answer what it sent before. */
	if (s->failed)
		return TLS_IO_ERROR;
	if (!s->established && (io = tls_session_handshake(s)) != TLS_IO_DONE)
		return io;
	while (*written < len) {
		ERR_clear_error();
		rc = SSL_write_ex(s->ssl, data + *written, len - *written, &n);
		if (rc == 1) {
			*written += n;
			continue;
		}
		io = tls_session_result(s, rc);
		/* The peer's close seen while writing: what it still reads is up to it. */
		if (io == TLS_IO_CLOSED)
			s->closed = true;
		return io;
	}
	return TLS_IO_DONE;
}

enum tls_io
tls_session_shutdown(struct tls_session *s)
{
	int rc;

	if (s->failed || !s->established || s->shut)
		return TLS_IO_DONE;
	ERR_clear_error();
	rc = SSL_shutdown(s->ssl);
	if (rc >= 0) {
		s->shut = true;
		return TLS_IO_DONE;
	}
	switch (SSL_get_error(s->ssl, rc)) {
	case SSL_ERROR_WANT_WRITE:
		ERR_clear_error();
		return TLS_IO_WANT_WRITE;
	case SSL_ERROR_WANT_READ:
		ERR_clear_error();
		return TLS_IO_WANT_READ;
	default:
		/* Nothing more to say to this peer; the caller closes the socket. */
		ERR_clear_error();
		s->shut = true;
		return TLS_IO_ERROR;
	}
}

enum tls_failure
tls_session_failure(const struct tls_session *s)
{
	return s->failure;
}

const char *
tls_session_error(const struct tls_session *s)
{
	return s->error;
}

const char *
tls_session_version(const struct tls_session *s)
{
	return s->established ? SSL_get_version(s->ssl) : "";
}

const char *
tls_session_cipher(const struct tls_session *s)
{
	const char *name;

	if (!s->established || (name = SSL_get_cipher_name(s->ssl)) == NULL)
		return "";
	return name;
}

void
tls_session_peer(const struct tls_session *s, char *out, size_t len)
{
	X509 *peer = s->established ? SSL_get0_peer_certificate(s->ssl) : NULL;

	if (len == 0)
		return;
	out[0] = '\0';
	if (peer != NULL)
		tls_format_name(X509_get_subject_name(peer), out, len);
}

/* --- first bytes ------------------------------------------------------------------------ */

enum tls_hello
tls_detect_hello(const uint8_t *data, size_t len)
{
	/* A handshake record: type 22, then the record version 3.0 .. 3.4. */
	if (len == 0)
		return TLS_HELLO_MAYBE;
	if (data[0] != 0x16)
		return TLS_HELLO_NO;
	if (len == 1)
		return TLS_HELLO_MAYBE;
	if (data[1] != 0x03)
		return TLS_HELLO_NO;
	if (len == 2)
		return TLS_HELLO_MAYBE;
	return data[2] <= 0x04 ? TLS_HELLO_YES : TLS_HELLO_NO;
}

const char *
tls_describe_plain(const uint8_t *data, size_t len)
{
	static const char *const http_methods[] = {
		"GET ", "POST", "PUT ", "HEAD", "DELE", "OPTI", "PATC", "CONN", "TRAC", "PRI ",
	};
	static const uint8_t proxy_v2[] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d };

	if (len >= 1 && (data[0] == 0x80 || data[0] == 0x82))
		return "a plain Thrift client (unframed) on a TLS port";
	if (len >= 6 && data[0] < 0x80 && data[4] == 0x0f && data[5] == 0xff)
		return "a plain Thrift client (THeader) on a TLS port";
	if (len >= 5 && data[0] < 0x80 && (data[4] == 0x80 || data[4] == 0x82))
		return "a plain Thrift client (framed) on a TLS port";
	for (size_t i = 0; len >= 4 && i < sizeof http_methods / sizeof http_methods[0]; i++)
		if (memcmp(data, http_methods[i], 4) == 0)
			return "an HTTP request on a TLS port";
	if ((len >= 6 && memcmp(data, "PROXY ", 6) == 0) ||
	    (len >= sizeof proxy_v2 && memcmp(data, proxy_v2, sizeof proxy_v2) == 0))
		return "a PROXY protocol header on a TLS port that does not expect one";
	return "not a TLS handshake";
}
