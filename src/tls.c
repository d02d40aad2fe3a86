/*
 * tls: TLS over OpenSSL 3 — the context half.  A context is made from the
 * tls_* settings (tls_load.c reads every file itself, so that each
 * problem can be named with its file and, through the settings' keys,
 * its calcd.conf line), described for the log and checked for calcd -t.
 * Contexts are reference-counted: a slot holds the one new handshakes
 * use, each session (tls_session.c) holds the one it started with, so a
 * reload never disturbs an open connection.
 */
#include "config.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "conf.h"
#include "tls.h"
#include "tls_private.h"

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

/* --- errors ------------------------------------------------------------------ */

void
tls_set_error(struct tls_error *err, enum tls_setting setting, const char *fmt, ...)
{
	va_list ap;

	err->setting = setting;
	va_start(ap, fmt);
	(void)vsnprintf(err->message, sizeof err->message, fmt, ap);
	va_end(ap);
}

const char *
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

/* --- the context --------------------------------------------------------------- */

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
	/*
	 * Writes: whatever fits, from a buffer that may move between retries.
	 * An idle session gives back its record buffers (about 24 KiB a
	 * connection otherwise: 1000 idle TLS clients would hold 24 MiB).
	 */
	SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
	    SSL_MODE_RELEASE_BUFFERS);
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
	    tls_load_client_ca(c, set->client_ca, &ctx->client_cas, err) != 0)
		return -1;
	if (set->client_crl != NULL && set->client_crl[0] != '\0') {
		if (tls_load_client_crl(c, set->client_crl, err) != 0)
			return -1;
		ctx->client_crl = true;
	}
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

SSL_CTX *
tls_context_ssl_ctx(const struct tls_context *ctx)
{
	return ctx->ssl_ctx;
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

void
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
