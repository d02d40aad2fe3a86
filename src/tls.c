/*
 * tls: TLS over OpenSSL 3.  A context is made from the tls_* settings,
 * reading every file itself so that each problem can be named with its
 * file (and, through the settings' keys, its calcd.conf line).  Contexts
 * are reference-counted: a slot holds the one new handshakes use, each
 * session holds the one it started with, so a reload never disturbs an
 * open connection.  A session talks to its socket through a small BIO of
 * calcd's own (recv, send with MSG_NOSIGNAL, and bytes read ahead of it,
 * as after a PROXY header), never blocks, and turns OpenSSL's error queue
 * into one reason and one line of text.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "conf.h"
#include "tls.h"

/* A certificate, key, CA or CRL file bigger than this is not one. */
#define TLS_FILE_MAX		(1024L * 1024)
/* How many first bytes are looked at to name what a non-TLS client is. */
#define TLS_SNIFF_LEN		8

struct tls_context {
	atomic_uint	 refs;
	SSL_CTX		*ssl_ctx;
	unsigned	 client_cas;	/* CA certificates trusted for clients; 0: none asked */
	bool		 client_crl;
};

struct tls_slot {
	pthread_mutex_t		 lock;
	struct tls_context	*ctx;
};

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

/* --- errors ------------------------------------------------------------------ */

static void	tls_set_error(struct tls_error *, enum tls_setting, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

static void
tls_set_error(struct tls_error *err, enum tls_setting setting, const char *fmt, ...)
{
	va_list ap;

	err->setting = setting;
	va_start(ap, fmt);
	(void)vsnprintf(err->message, sizeof err->message, fmt, ap);
	va_end(ap);
}

/* The most telling line of OpenSSL's error queue, which is then emptied. */
static const char *
tls_openssl_reason(void)
{
	unsigned long	 e = ERR_peek_last_error();
	const char	*why = e != 0 ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	return why != NULL ? why : "unknown OpenSSL error";
}

const char *
tls_setting_name(enum tls_setting setting)
{
	switch (setting) {
	case TLS_SETTING_CERTIFICATE:	return "tls_certificate";
	case TLS_SETTING_KEY:		return "tls_key";
	case TLS_SETTING_CLIENT_CA:	return "tls_client_ca";
	case TLS_SETTING_CLIENT_CRL:	return "tls_client_crl";
	case TLS_SETTING_CIPHERS:	return "tls_ciphers";
	case TLS_SETTING_CIPHERSUITES:	return "tls_ciphersuites";
	case TLS_SETTING_MIN_VERSION:	return "tls_min_version";
	case TLS_SETTING_NONE:		break;
	}
	return "";
}

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

/* --- files ------------------------------------------------------------------- */

/* A whole file in memory, NUL-terminated (for the PEM sniffing), cleansed when freed. */
struct tls_file {
	char	*data;
	size_t	 len;
};

static void
tls_file_free(struct tls_file *f)
{
	if (f->data != NULL) {
		OPENSSL_cleanse(f->data, f->len);
		free(f->data);
	}
	f->data = NULL;
	f->len = 0;
}

static int
tls_file_read(const char *path, enum tls_setting setting, struct tls_file *f,
    struct tls_error *err)
{
	struct stat	st;
	ssize_t		n;
	int		fd;

	f->data = NULL;
	f->len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0) {
		tls_set_error(err, setting, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0) {
		tls_set_error(err, setting, "cannot stat %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		tls_set_error(err, setting, "%s is not a regular file", path);
		close(fd);
		return -1;
	}
	if (st.st_size > TLS_FILE_MAX) {
		tls_set_error(err, setting, "%s is too large (over %ld bytes) to be a PEM file",
		    path, TLS_FILE_MAX);
		close(fd);
		return -1;
	}
	if ((f->data = malloc((size_t)st.st_size + 1)) == NULL) {
		tls_set_error(err, setting, "out of memory reading %s", path);
		close(fd);
		return -1;
	}
	/* Read to the end, in case it grew: at most the cap. */
	while (f->len < (size_t)st.st_size) {
		n = read(fd, f->data + f->len, (size_t)st.st_size - f->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			tls_set_error(err, setting, "cannot read %s: %s", path, strerror(errno));
			close(fd);
			tls_file_free(f);
			return -1;
		}
		if (n == 0)
			break;
		f->len += (size_t)n;
	}
	close(fd);
	f->data[f->len] = '\0';
	if (f->len == 0) {
		tls_set_error(err, setting, "%s is empty", path);
		tls_file_free(f);
		return -1;
	}
	return 0;
}

/* Never ask for a passphrase: an encrypted key is a configuration error. */
static int
tls_no_passphrase(char *buf, int size, int rwflag, void *arg)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)arg;
	return -1;
}

static bool
tls_is_pem(const struct tls_file *f)
{
	return strstr(f->data, "-----BEGIN ") != NULL;
}

/* --- the context --------------------------------------------------------------- */

/* The certificate and its chain: the first PEM certificate is calcd's, the rest its chain. */
static X509 *
tls_load_certificate(SSL_CTX *ssl_ctx, const char *path, struct tls_error *err)
{
	struct tls_file	 f;
	BIO		*bio;
	X509		*leaf, *extra;
	unsigned long	 e;

	if (tls_file_read(path, TLS_SETTING_CERTIFICATE, &f, err) != 0)
		return NULL;
	if ((bio = BIO_new_mem_buf(f.data, (int)f.len)) == NULL) {
		tls_set_error(err, TLS_SETTING_NONE, "out of memory");
		tls_file_free(&f);
		return NULL;
	}
	ERR_clear_error();
	if ((leaf = PEM_read_bio_X509_AUX(bio, NULL, tls_no_passphrase, NULL)) == NULL) {
		if (!tls_is_pem(&f))
			tls_set_error(err, TLS_SETTING_CERTIFICATE, "%s is not a PEM file "
			    "(want -----BEGIN CERTIFICATE-----; a DER one converts with "
			    "openssl x509 -inform der)", path);
		else if (strstr(f.data, "-----BEGIN CERTIFICATE-----") == NULL)
			tls_set_error(err, TLS_SETTING_CERTIFICATE,
			    "no certificate in %s (want -----BEGIN CERTIFICATE-----)", path);
		else
			tls_set_error(err, TLS_SETTING_CERTIFICATE,
			    "cannot read the certificate in %s: %s", path, tls_openssl_reason());
		goto fail;
	}
	if (SSL_CTX_use_certificate(ssl_ctx, leaf) != 1) {
		tls_set_error(err, TLS_SETTING_CERTIFICATE, "the certificate in %s is refused: %s",
		    path, tls_openssl_reason());
		goto fail;
	}
	for (unsigned n = 2;; n++) {
		ERR_clear_error();
		if ((extra = PEM_read_bio_X509(bio, NULL, tls_no_passphrase, NULL)) == NULL) {
			e = ERR_peek_last_error();
			if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
				ERR_clear_error();
				break;
			}
			tls_set_error(err, TLS_SETTING_CERTIFICATE,
			    "cannot read certificate %u in %s: %s", n, path, tls_openssl_reason());
			goto fail;
		}
		if (SSL_CTX_add0_chain_cert(ssl_ctx, extra) != 1) {
			X509_free(extra);
			tls_set_error(err, TLS_SETTING_CERTIFICATE,
			    "certificate %u in %s is refused: %s", n, path, tls_openssl_reason());
			goto fail;
		}
	}
	BIO_free(bio);
	tls_file_free(&f);
	return leaf;

fail:
	X509_free(leaf);
	BIO_free(bio);
	tls_file_free(&f);
	return NULL;
}

/* The key: tls_key, or the certificate's own file when tls_key is not set. */
static int
tls_load_key(SSL_CTX *ssl_ctx, X509 *leaf, const struct tls_settings *set,
    struct tls_error *err)
{
	bool		 own_file = set->key != NULL && set->key[0] != '\0';
	const char	*path = own_file ? set->key : set->certificate;
	enum tls_setting setting = own_file ? TLS_SETTING_KEY : TLS_SETTING_CERTIFICATE;
	struct tls_file	 f;
	BIO		*bio;
	EVP_PKEY	*pkey;
	int		 rc = -1;

	if (tls_file_read(path, setting, &f, err) != 0)
		return -1;
	if ((bio = BIO_new_mem_buf(f.data, (int)f.len)) == NULL) {
		tls_set_error(err, TLS_SETTING_NONE, "out of memory");
		tls_file_free(&f);
		return -1;
	}
	ERR_clear_error();
	pkey = PEM_read_bio_PrivateKey(bio, NULL, tls_no_passphrase, NULL);
	if (pkey == NULL) {
		if (strstr(f.data, "ENCRYPTED") != NULL)
			tls_set_error(err, setting, "the key in %s is encrypted, and calcd cannot "
			    "ask for a passphrase: store it unencrypted, readable only by calcd "
			    "(openssl pkey -in ENCRYPTED -out PLAIN)", path);
		else if (strstr(f.data, "PRIVATE KEY-----") == NULL)
			tls_set_error(err, setting, "no private key in %s (want -----BEGIN PRIVATE "
			    "KEY-----)%s", path, own_file ? "" : "; set tls_key, or add the key "
			    "to this file");
		else
			tls_set_error(err, setting, "cannot read the key in %s: %s", path,
			    tls_openssl_reason());
		goto done;
	}
	ERR_clear_error();
	if (X509_check_private_key(leaf, pkey) != 1) {
		ERR_clear_error();
		tls_set_error(err, setting, "the key in %s does not match the certificate in %s",
		    path, set->certificate);
		goto done;
	}
	if (SSL_CTX_use_PrivateKey(ssl_ctx, pkey) != 1 || SSL_CTX_check_private_key(ssl_ctx) != 1) {
		tls_set_error(err, setting, "the key in %s is refused: %s", path,
		    tls_openssl_reason());
		goto done;
	}
	rc = 0;
done:
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	tls_file_free(&f);
	return rc;
}

/*
 * Client certificates: trust the CAs in path, name them to clients (so a
 * client with several certificates picks the right one), and require a
 * certificate that verifies.
 */
static int
tls_load_client_ca(struct tls_context *ctx, const char *path, struct tls_error *err)
{
	struct tls_file		 f;
	BIO			*bio;
	STACK_OF(X509_INFO)	*infos = NULL;
	STACK_OF(X509_NAME)	*names = NULL;
	X509_STORE		*store = SSL_CTX_get_cert_store(ctx->ssl_ctx);
	int			 rc = -1;

	if (tls_file_read(path, TLS_SETTING_CLIENT_CA, &f, err) != 0)
		return -1;
	if (!tls_is_pem(&f)) {
		tls_set_error(err, TLS_SETTING_CLIENT_CA,
		    "%s is not a PEM file (want -----BEGIN CERTIFICATE-----)", path);
		tls_file_free(&f);
		return -1;
	}
	if ((bio = BIO_new_mem_buf(f.data, (int)f.len)) == NULL ||
	    (names = sk_X509_NAME_new_null()) == NULL) {
		tls_set_error(err, TLS_SETTING_NONE, "out of memory");
		goto done;
	}
	ERR_clear_error();
	if ((infos = PEM_X509_INFO_read_bio(bio, NULL, tls_no_passphrase, NULL)) == NULL) {
		tls_set_error(err, TLS_SETTING_CLIENT_CA, "cannot read %s: %s", path,
		    tls_openssl_reason());
		goto done;
	}
	for (int i = 0; i < sk_X509_INFO_num(infos); i++) {
		X509		*x = sk_X509_INFO_value(infos, i)->x509;
		X509_NAME	*name;

		if (x == NULL)
			continue;
		if (X509_STORE_add_cert(store, x) != 1) {
			tls_set_error(err, TLS_SETTING_CLIENT_CA, "certificate %d in %s is refused: %s",
			    i + 1, path, tls_openssl_reason());
			goto done;
		}
		if ((name = X509_NAME_dup(X509_get_subject_name(x))) == NULL ||
		    sk_X509_NAME_push(names, name) <= 0) {
			X509_NAME_free(name);
			tls_set_error(err, TLS_SETTING_NONE, "out of memory");
			goto done;
		}
		ctx->client_cas++;
	}
	if (ctx->client_cas == 0) {
		tls_set_error(err, TLS_SETTING_CLIENT_CA,
		    "no certificate in %s (want -----BEGIN CERTIFICATE-----)", path);
		goto done;
	}
	SSL_CTX_set_client_CA_list(ctx->ssl_ctx, names);
	names = NULL;
	SSL_CTX_set_verify(ctx->ssl_ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	rc = 0;
done:
	sk_X509_NAME_pop_free(names, X509_NAME_free);
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	BIO_free(bio);
	tls_file_free(&f);
	return rc;
}

/* Revoked client certificates: each CRL in path, checked for the client's own certificate. */
static int
tls_load_client_crl(struct tls_context *ctx, const char *path, struct tls_error *err)
{
	struct tls_file		 f;
	BIO			*bio;
	STACK_OF(X509_INFO)	*infos = NULL;
	X509_STORE		*store = SSL_CTX_get_cert_store(ctx->ssl_ctx);
	unsigned		 crls = 0;
	int			 rc = -1;

	if (tls_file_read(path, TLS_SETTING_CLIENT_CRL, &f, err) != 0)
		return -1;
	if (!tls_is_pem(&f)) {
		tls_set_error(err, TLS_SETTING_CLIENT_CRL,
		    "%s is not a PEM file (want -----BEGIN X509 CRL-----)", path);
		tls_file_free(&f);
		return -1;
	}
	if ((bio = BIO_new_mem_buf(f.data, (int)f.len)) == NULL) {
		tls_set_error(err, TLS_SETTING_NONE, "out of memory");
		goto done;
	}
	ERR_clear_error();
	if ((infos = PEM_X509_INFO_read_bio(bio, NULL, tls_no_passphrase, NULL)) == NULL) {
		tls_set_error(err, TLS_SETTING_CLIENT_CRL, "cannot read %s: %s", path,
		    tls_openssl_reason());
		goto done;
	}
	for (int i = 0; i < sk_X509_INFO_num(infos); i++) {
		X509_CRL *crl = sk_X509_INFO_value(infos, i)->crl;

		if (crl == NULL)
			continue;
		if (X509_STORE_add_crl(store, crl) != 1) {
			tls_set_error(err, TLS_SETTING_CLIENT_CRL, "CRL %u in %s is refused: %s",
			    crls + 1, path, tls_openssl_reason());
			goto done;
		}
		crls++;
	}
	if (crls == 0) {
		tls_set_error(err, TLS_SETTING_CLIENT_CRL,
		    "no CRL in %s (want -----BEGIN X509 CRL-----)", path);
		goto done;
	}
	X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
	ctx->client_crl = true;
	rc = 0;
done:
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	BIO_free(bio);
	tls_file_free(&f);
	return rc;
}

static int
tls_configure(struct tls_context *ctx, const struct tls_settings *set, struct tls_error *err)
{
	SSL_CTX		*c = ctx->ssl_ctx;
	X509		*leaf;
	int		 version, rc;
	static const unsigned char session_context[] = "calcd";

	switch (set->min_version) {
	case CONF_TLS_1_2:
		version = TLS1_2_VERSION;
		break;
	case CONF_TLS_1_3:
		version = TLS1_3_VERSION;
		break;
	default:
		tls_set_error(err, TLS_SETTING_MIN_VERSION, "unknown TLS version 0x%04x",
		    set->min_version);
		return -1;
	}
	if (SSL_CTX_set_min_proto_version(c, version) != 1) {
		tls_set_error(err, TLS_SETTING_MIN_VERSION, "OpenSSL refuses it: %s",
		    tls_openssl_reason());
		return -1;
	}
	/*
	 * No compression (CRIME), no renegotiation (nothing needs it, and a
	 * client could make calcd redo handshakes at will).  A client that
	 * closes without close_notify has simply closed: Thrift's own framing
	 * tells a cut-off message, so truncation is no attack here.
	 */
	SSL_CTX_set_options(c, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_IGNORE_UNEXPECTED_EOF);
	/* Writes: whatever fits, from a buffer that may move between retries. */
	SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_clear_mode(c, SSL_MODE_AUTO_RETRY);
	/* Take in several small records per recv: one syscall for a burst of calls. */
	SSL_CTX_set_read_ahead(c, 1);
	/*
	 * Resumption by stateless tickets only (their key is the context's,
	 * shared by the workers; a reload makes a new one); no server-side
	 * cache to lock and grow.  One ticket per handshake is enough for a
	 * client that reconnects.  The session ID context is what lets a
	 * client with a verified certificate resume.
	 */
	SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(c, 1);
	(void)SSL_CTX_set_session_id_context(c, session_context, sizeof session_context - 1);
	/* DHE for TLS 1.2 clients without ECDHE, with parameters sized to the key. */
	SSL_CTX_set_dh_auto(c, 1);

	ERR_clear_error();
	if (set->ciphers != NULL && set->ciphers[0] != '\0' &&
	    SSL_CTX_set_cipher_list(c, set->ciphers) != 1) {
		ERR_clear_error();
		tls_set_error(err, TLS_SETTING_CIPHERS, "no cipher in '%s' is known to OpenSSL "
		    "(see openssl ciphers -v)", set->ciphers);
		return -1;
	}
	if (set->ciphersuites != NULL && set->ciphersuites[0] != '\0' &&
	    SSL_CTX_set_ciphersuites(c, set->ciphersuites) != 1) {
		ERR_clear_error();
		tls_set_error(err, TLS_SETTING_CIPHERSUITES, "'%s' is not a list of TLS 1.3 "
		    "suites OpenSSL knows (see openssl ciphers -v -tls1_3)", set->ciphersuites);
		return -1;
	}

	if (set->certificate == NULL || set->certificate[0] == '\0') {
		tls_set_error(err, TLS_SETTING_CERTIFICATE, "no certificate set");
		return -1;
	}
	if ((leaf = tls_load_certificate(c, set->certificate, err)) == NULL)
		return -1;
	rc = tls_load_key(c, leaf, set, err);
	X509_free(leaf);
	if (rc != 0)
		return -1;

	if (set->client_crl != NULL && set->client_crl[0] != '\0' &&
	    (set->client_ca == NULL || set->client_ca[0] == '\0')) {
		tls_set_error(err, TLS_SETTING_CLIENT_CRL, "needs tls_client_ca");
		return -1;
	}
	if (set->client_ca != NULL && set->client_ca[0] != '\0' &&
	    tls_load_client_ca(ctx, set->client_ca, err) != 0)
		return -1;
	if (set->client_crl != NULL && set->client_crl[0] != '\0' &&
	    tls_load_client_crl(ctx, set->client_crl, err) != 0)
		return -1;
	return 0;
}

struct tls_context *
tls_context_new(const struct tls_settings *set, struct tls_error *err)
{
	struct tls_context *ctx;

	memset(err, 0, sizeof *err);
	ERR_clear_error();
	if ((ctx = calloc(1, sizeof *ctx)) == NULL ||
	    (ctx->ssl_ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		free(ctx);
		tls_set_error(err, TLS_SETTING_NONE, "cannot create a TLS context: %s",
		    tls_openssl_reason());
		return NULL;
	}
	atomic_init(&ctx->refs, 1);
	if (tls_configure(ctx, set, err) != 0) {
		ERR_clear_error();
		SSL_CTX_free(ctx->ssl_ctx);
		free(ctx);
		return NULL;
	}
	return ctx;
}

struct tls_context *
tls_context_ref(struct tls_context *ctx)
{
	atomic_fetch_add_explicit(&ctx->refs, 1, memory_order_relaxed);
	return ctx;
}

void
tls_context_unref(struct tls_context *ctx)
{
	if (ctx == NULL)
		return;
	if (atomic_fetch_sub_explicit(&ctx->refs, 1, memory_order_acq_rel) != 1)
		return;
	SSL_CTX_free(ctx->ssl_ctx);
	free(ctx);
}

static void
tls_format_name(const X509_NAME *name, char *out, size_t len)
{
	BIO	*bio;
	char	*text;
	long	 n;

	if (len == 0)
		return;
	out[0] = '\0';
	if (name == NULL || (bio = BIO_new(BIO_s_mem())) == NULL)
		return;
	/* RFC 2253 escapes controls and non-ASCII: safe to log whatever a peer put there. */
	if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) >= 0 &&
	    (n = BIO_get_mem_data(bio, &text)) > 0)
		(void)snprintf(out, len, "%.*s", (int)n, text);
	BIO_free(bio);
}

static void
tls_format_time(const ASN1_TIME *t, char *out, size_t len)
{
	struct tm tm;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1 ||
	    strftime(out, len, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		(void)snprintf(out, len, "?");
}

/* 0 inside its validity, <0 not yet valid, >0 expired. */
static int
tls_validity(X509 *cert)
{
	if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0)
		return -1;
	if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0)
		return 1;
	return 0;
}

bool
tls_context_expired(const struct tls_context *ctx)
{
	X509 *cert = SSL_CTX_get0_certificate(ctx->ssl_ctx);

	return cert != NULL && tls_validity(cert) != 0;
}

void
tls_context_describe(const struct tls_context *ctx, char *out, size_t len)
{
	X509	*cert = SSL_CTX_get0_certificate(ctx->ssl_ctx);
	char	 subject[256], when[64], clients[64];
	int	 validity;

	if (cert == NULL) {
		(void)snprintf(out, len, "no certificate");
		return;
	}
	tls_format_name(X509_get_subject_name(cert), subject, sizeof subject);
	validity = tls_validity(cert);
	tls_format_time(validity < 0 ? X509_get0_notBefore(cert) : X509_get0_notAfter(cert),
	    when, sizeof when);
	if (ctx->client_cas == 0)
		(void)snprintf(clients, sizeof clients, "no client certificates");
	else
		(void)snprintf(clients, sizeof clients, "client certificates required (%u CA%s%s)",
		    ctx->client_cas, ctx->client_cas == 1 ? "" : "s",
		    ctx->client_crl ? ", with a CRL" : "");
	(void)snprintf(out, len, "certificate %s, %s %s, %s", subject,
	    validity < 0 ? "NOT VALID before" : validity > 0 ? "EXPIRED since" : "valid until",
	    when, clients);
}

/* --- from calcd.conf ------------------------------------------------------------ */

bool
tls_conf_enabled(const struct conf *conf)
{
	return conf->tls_certificate[0] != '\0';
}

void
tls_settings_from_conf(const struct conf *conf, struct tls_settings *set)
{
	memset(set, 0, sizeof *set);
	set->certificate = conf->tls_certificate;
	set->key = conf->tls_key;
	set->client_ca = conf->tls_client_ca;
	set->client_crl = conf->tls_client_crl;
	set->ciphers = conf->tls_ciphers;
	set->ciphersuites = conf->tls_ciphersuites;
	set->min_version = conf->tls_min_version;
}

static void	tls_conf_report(FILE *, const char *, const struct conf *, const char *,
		    const char *, ...) __attribute__((format(printf, 5, 6)));

/* "FILE:LINE: key: message", or "FILE: key: message" when the file did not set key. */
static void
tls_conf_report(FILE *errors, const char *path, const struct conf *conf, const char *key,
    const char *fmt, ...)
{
	unsigned	line = conf_key_line(conf, key);
	va_list		ap;

	if (errors == NULL)
		return;
	if (line != 0)
		fprintf(errors, "%s:%u: %s: ", path, line, key);
	else
		fprintf(errors, "%s: %s: ", path, key);
	va_start(ap, fmt);
	vfprintf(errors, fmt, ap);
	va_end(ap);
	fputc('\n', errors);
}

/* The checks tls_conf_check and tls_conf_context share; *nerrors counts what was reported. */
static struct tls_context *
tls_conf_build(const struct conf *conf, const char *path, bool required, FILE *errors,
    int *nerrors)
{
	static const char *const need_certificate[] = { "tls_key", "tls_client_ca", "tls_client_crl" };
	struct tls_settings	 set;
	struct tls_error	 err;
	struct tls_context	*ctx;
	struct stat		 st;
	char			 when[64];
	X509			*cert;

	*nerrors = 0;
	if (!tls_conf_enabled(conf)) {
		for (size_t i = 0; i < sizeof need_certificate / sizeof need_certificate[0]; i++) {
			if (conf_key_line(conf, need_certificate[i]) == 0)
				continue;
			tls_conf_report(errors, path, conf, need_certificate[i],
			    "set without tls_certificate");
			(*nerrors)++;
		}
		if (required) {
			tls_conf_report(errors, path, conf, "listen",
			    "a tls listen line needs tls_certificate (and tls_key)");
			(*nerrors)++;
		}
		return NULL;
	}
	tls_settings_from_conf(conf, &set);
	if ((ctx = tls_context_new(&set, &err)) == NULL) {
		tls_conf_report(errors, path, conf, err.setting == TLS_SETTING_NONE ?
		    "tls_certificate" : tls_setting_name(err.setting), "%s", err.message);
		(*nerrors)++;
		return NULL;
	}
	/* Warnings, not errors: calcd serves such a certificate, but someone should know. */
	cert = SSL_CTX_get0_certificate(ctx->ssl_ctx);
	if (cert != NULL && tls_validity(cert) != 0) {
		int validity = tls_validity(cert);

		tls_format_time(validity < 0 ? X509_get0_notBefore(cert) :
		    X509_get0_notAfter(cert), when, sizeof when);
		tls_conf_report(errors, path, conf, "tls_certificate",
		    "warning: the certificate in %s %s %s", conf->tls_certificate,
		    validity < 0 ? "is not valid before" : "expired on", when);
	}
	if (conf->tls_key[0] != '\0' && stat(conf->tls_key, &st) == 0 && (st.st_mode & S_IROTH))
		tls_conf_report(errors, path, conf, "tls_key",
		    "warning: %s is readable by every user (mode %04o): chmod o-r it",
		    conf->tls_key, (unsigned)(st.st_mode & 07777));
	return ctx;
}

int
tls_conf_check(const struct conf *conf, const char *conf_path, bool required, FILE *errors)
{
	int nerrors;

	tls_context_unref(tls_conf_build(conf, conf_path, required, errors, &nerrors));
	return nerrors;
}

struct tls_context *
tls_conf_context(const struct conf *conf, const char *conf_path, FILE *errors)
{
	int nerrors;

	return tls_conf_build(conf, conf_path, false, errors, &nerrors);
}

/* --- the slot ----------------------------------------------------------------------- */

struct tls_slot *
tls_slot_new(struct tls_context *ctx)
{
	struct tls_slot *slot;

	if ((slot = calloc(1, sizeof *slot)) == NULL)
		return NULL;
	if (pthread_mutex_init(&slot->lock, NULL) != 0) {
		free(slot);
		return NULL;
	}
	slot->ctx = ctx;
	return slot;
}

struct tls_context *
tls_slot_get(struct tls_slot *slot)
{
	struct tls_context *ctx;

	pthread_mutex_lock(&slot->lock);
	ctx = slot->ctx != NULL ? tls_context_ref(slot->ctx) : NULL;
	pthread_mutex_unlock(&slot->lock);
	return ctx;
}

void
tls_slot_set(struct tls_slot *slot, struct tls_context *ctx)
{
	struct tls_context *old;

	pthread_mutex_lock(&slot->lock);
	old = slot->ctx;
	slot->ctx = ctx;
	pthread_mutex_unlock(&slot->lock);
	/* Outside the lock: the last reference frees an SSL_CTX, which takes a while. */
	tls_context_unref(old);
}

int
tls_slot_reload(struct tls_slot *slot, const struct tls_settings *set, struct tls_error *err)
{
	struct tls_context *ctx;

	if ((ctx = tls_context_new(set, err)) == NULL)
		return -1;
	tls_slot_set(slot, ctx);
	return 0;
}

void
tls_slot_free(struct tls_slot *slot)
{
	if (slot == NULL)
		return;
	tls_context_unref(slot->ctx);
	pthread_mutex_destroy(&slot->lock);
	free(slot);
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
	if ((s->ssl = SSL_new(ctx->ssl_ctx)) == NULL || (bio = BIO_new(tls_bio_method)) == NULL) {
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
		    SSL_CTX_get_min_proto_version(s->ctx->ssl_ctx) == TLS1_3_VERSION ?
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
	/* Fill buf from what the socket and the session hold, like one recv would. */
	while (*got < len) {
		ERR_clear_error();
		rc = SSL_read_ex(s->ssl, buf + *got, len - *got, &n);
		if (rc == 1) {
			*got += n;
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
