/*
 * tls_load: reading the files the tls_* settings name — each one whole,
 * checked first (a regular file, not empty, at most TLS_FILE_MAX)
 * and cleansed once used — and loading what they hold into an SSL_CTX:
 * the certificate and its chain, the key (never asking for a passphrase),
 * the client CAs and CRLs.  Every problem names its file and the setting
 * at fault.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "tls.h"
#include "tls_private.h"

/* A certificate, key, CA or CRL file bigger than this is not one. */
#define TLS_FILE_MAX		(1024L * 1024)

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

/* --- the loaders ------------------------------------------------------------- */

/* The certificate and its chain: the first PEM certificate is calcd's, the rest its chain. */
X509 *
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
int
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
int
tls_load_client_ca(SSL_CTX *ssl_ctx, const char *path, unsigned *cas, struct tls_error *err)
{
	struct tls_file		 f;
	BIO			*bio;
	STACK_OF(X509_INFO)	*infos = NULL;
	STACK_OF(X509_NAME)	*names = NULL;
	X509_STORE		*store = SSL_CTX_get_cert_store(ssl_ctx);
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
		(*cas)++;
	}
	if (*cas == 0) {
		tls_set_error(err, TLS_SETTING_CLIENT_CA,
		    "no certificate in %s (want -----BEGIN CERTIFICATE-----)", path);
		goto done;
	}
	SSL_CTX_set_client_CA_list(ssl_ctx, names);
	names = NULL;
	SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	rc = 0;
done:
	sk_X509_NAME_pop_free(names, X509_NAME_free);
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	BIO_free(bio);
	tls_file_free(&f);
	return rc;
}

/* Revoked client certificates: each CRL in path, checked for the client's own certificate. */
int
tls_load_client_crl(SSL_CTX *ssl_ctx, const char *path, struct tls_error *err)
{
	struct tls_file		 f;
	BIO			*bio;
	STACK_OF(X509_INFO)	*infos = NULL;
	X509_STORE		*store = SSL_CTX_get_cert_store(ssl_ctx);
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
	rc = 0;
done:
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	BIO_free(bio);
	tls_file_free(&f);
	return rc;
}
