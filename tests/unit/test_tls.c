/*
 * test_tls: the tls module against a real OpenSSL client over a
 * socketpair, both sides non-blocking and stepped in turn (every loop
 * bounded): handshakes, data both ways, pending plaintext, bytes read
 * ahead by the caller, client certificates accepted and refused, version
 * and cipher refusals, plain clients on a TLS port, every file problem a
 * context reports, reloads, and the tls_* keys of calcd.conf with their
 * FILE:LINE errors.  Certificates come from tests/tls/make-certs.sh, run
 * once into a temporary directory.
 */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "conf.h"
#include "tls.h"

#ifndef TEST_TLS_MAKE_CERTS
#define TEST_TLS_MAKE_CERTS "tests/tls/make-certs.sh"
#endif

#define ROUNDS	400	/* steps of a handshake or a transfer, at most */

static char certs_dir[64];	/* /tmp/test_tls.XXXXXX */

/* DIR/name, in one of a few rotating buffers (enough for one call's arguments). */
static const char *
cert(const char *name)
{
	static char	bufs[8][PATH_MAX];
	static unsigned	next;
	char		*b = bufs[next++ % 8];

	(void)snprintf(b, PATH_MAX, "%s/%s", certs_dir, name);
	return b;
}

/* --- the two ends -------------------------------------------------------------------- */

struct pair {
	int			 sv[2];		/* [0] calcd's end, [1] the client's */
	struct tls_context	*ctx;
	struct tls_session	*server;
	SSL_CTX			*client_ctx;
	SSL			*client;
};

static struct tls_context *
server_context(const char *certificate, const char *key, const char *client_ca,
    const char *client_crl, unsigned min_version)
{
	struct tls_settings	 set = {
		.certificate = certificate, .key = key, .client_ca = client_ca,
		.client_crl = client_crl, .min_version = min_version,
	};
	struct tls_error	 err;
	struct tls_context	*ctx = tls_context_new(&set, &err);

	if (ctx == NULL)
		ck_abort_msg("tls_context_new: %s: %s", tls_setting_name(err.setting), err.message);
	return ctx;
}

/* A client that trusts ca (and checks calcd's certificate is for 127.0.0.1). */
static SSL_CTX *
client_context(const char *ca, const char *certificate, const char *key, int max_version)
{
	SSL_CTX *c = SSL_CTX_new(TLS_client_method());

	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(SSL_CTX_load_verify_locations(c, ca, NULL), 1);
	SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
	if (certificate != NULL) {
		ck_assert_int_eq(SSL_CTX_use_certificate_chain_file(c, certificate), 1);
		ck_assert_int_eq(SSL_CTX_use_PrivateKey_file(c, key, SSL_FILETYPE_PEM), 1);
	}
	if (max_version != 0) {
		if (max_version < TLS1_2_VERSION)
			SSL_CTX_set_security_level(c, 0);	/* else OpenSSL 3 won't speak it */
		ck_assert_int_eq(SSL_CTX_set_min_proto_version(c, max_version < TLS1_2_VERSION ?
		    TLS1_VERSION : 0), 1);
		ck_assert_int_eq(SSL_CTX_set_max_proto_version(c, max_version), 1);
	}
	return c;
}

static void
pair_open(struct pair *p, struct tls_context *ctx, SSL_CTX *client_ctx)
{
	memset(p, 0, sizeof *p);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	    p->sv), 0);
	p->ctx = ctx;
	p->client_ctx = client_ctx;
	if (ctx != NULL) {
		p->server = tls_session_new(ctx, p->sv[0], NULL, 0);
		ck_assert_ptr_nonnull(p->server);
	}
	if (client_ctx != NULL) {
		p->client = SSL_new(client_ctx);
		ck_assert_ptr_nonnull(p->client);
		ck_assert_int_eq(SSL_set_fd(p->client, p->sv[1]), 1);
		SSL_set_connect_state(p->client);
		ck_assert_int_eq(X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(p->client),
		    "127.0.0.1"), 1);
	}
}

static void
pair_close(struct pair *p)
{
	tls_session_free(p->server);
	SSL_free(p->client);
	SSL_CTX_free(p->client_ctx);
	tls_context_unref(p->ctx);
	if (p->sv[0] >= 0)
		close(p->sv[0]);
	if (p->sv[1] >= 0)
		close(p->sv[1]);
}

struct outcome {
	enum tls_io	server;		/* DONE, ERROR or CLOSED; WANT_* if it never ended */
	int		client;		/* 1 done, 0 still waiting, -1 failed */
};

/*
 * Step both handshakes until both have ended.  When calcd's side fails
 * its end of the socket is shut, as conn would close it, so the client
 * learns of it.
 */
static struct outcome
handshake(struct pair *p)
{
	struct outcome	o = { TLS_IO_WANT_READ, 0 };
	int		rc;

	for (int i = 0; i < ROUNDS && (o.client == 0 || o.server == TLS_IO_WANT_READ ||
	    o.server == TLS_IO_WANT_WRITE); i++) {
		if (o.server == TLS_IO_WANT_READ || o.server == TLS_IO_WANT_WRITE) {
			o.server = tls_session_handshake(p->server);
			if (o.server == TLS_IO_ERROR || o.server == TLS_IO_CLOSED)
				(void)shutdown(p->sv[0], SHUT_RDWR);
		}
		if (o.client == 0) {
			ERR_clear_error();
			rc = SSL_do_handshake(p->client);
			if (rc == 1)
				o.client = 1;
			else if (SSL_get_error(p->client, rc) != SSL_ERROR_WANT_READ &&
			    SSL_get_error(p->client, rc) != SSL_ERROR_WANT_WRITE)
				o.client = -1;
		}
	}
	ERR_clear_error();
	return o;
}

/* The client writes all of data (calcd reads nothing meanwhile: keep it small). */
static void
client_write(struct pair *p, const void *data, size_t len)
{
	size_t n;

	ck_assert_int_eq(SSL_write_ex(p->client, data, len, &n), 1);
	ck_assert_uint_eq(n, len);
}

/* What the client reads within a few tries: bytes, 0 at a clean close, -1 on error. */
static int
client_read(struct pair *p, char *buf, size_t len, size_t *got)
{
	int rc;

	*got = 0;
	for (int i = 0; i < ROUNDS; i++) {
		ERR_clear_error();
		rc = SSL_read_ex(p->client, buf, len, got);
		if (rc == 1)
			return 1;
		switch (SSL_get_error(p->client, rc)) {
		case SSL_ERROR_WANT_READ:
		case SSL_ERROR_WANT_WRITE:
			continue;
		case SSL_ERROR_ZERO_RETURN:
			return 0;
		default:
			ERR_clear_error();
			return -1;
		}
	}
	return -1;
}

/* calcd's side reads exactly len bytes (they have all been sent). */
static void
server_read_exactly(struct pair *p, uint8_t *buf, size_t len)
{
	size_t	total = 0, got;

	for (int i = 0; i < ROUNDS && total < len; i++) {
		enum tls_io io = tls_session_read(p->server, buf + total, len - total, &got);

		ck_assert_msg(io == TLS_IO_DONE || io == TLS_IO_WANT_READ,
		    "read: %d: %s", io, tls_session_error(p->server));
		total += got;
	}
	ck_assert_uint_eq(total, len);
}

static void
assert_echo(struct pair *p)
{
	uint8_t	buf[64];
	char	reply[64];
	size_t	written, got;

	client_write(p, "ping", 4);
	server_read_exactly(p, buf, 4);
	ck_assert_int_eq(memcmp(buf, "ping", 4), 0);
	ck_assert_int_eq(tls_session_write(p->server, (const uint8_t *)"pong!", 5, &written),
	    TLS_IO_DONE);
	ck_assert_uint_eq(written, 5);
	ck_assert_int_eq(client_read(p, reply, sizeof reply, &got), 1);
	ck_assert_uint_eq(got, 5);
	ck_assert_int_eq(memcmp(reply, "pong!", 5), 0);
}

/* The CN of the certificate calcd showed the client. */
static void
assert_server_cn(struct pair *p, const char *cn)
{
	X509	*peer = SSL_get0_peer_certificate(p->client);
	char	 buf[128];

	ck_assert_ptr_nonnull(peer);
	ck_assert_int_gt(X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName,
	    buf, sizeof buf), 0);
	ck_assert_str_eq(buf, cn);
}

/* --- first bytes -------------------------------------------------------------------------- */

START_TEST(test_detect_hello)
{
	static const struct {
		const char	*bytes;
		size_t		 len;
		enum tls_hello	 want;
	} cases[] = {
		{ "", 0, TLS_HELLO_MAYBE },
		{ "\x16", 1, TLS_HELLO_MAYBE },
		{ "\x16\x03", 2, TLS_HELLO_MAYBE },
		{ "\x16\x03\x01", 3, TLS_HELLO_YES },
		{ "\x16\x03\x03\x00\x10", 5, TLS_HELLO_YES },
		{ "\x16\x03\x00", 3, TLS_HELLO_YES },
		{ "\x16\x03\x04", 3, TLS_HELLO_YES },
		{ "\x16\x03\x05", 3, TLS_HELLO_NO },
		{ "\x16\x02\x01", 3, TLS_HELLO_NO },
		{ "\x17\x03\x03", 3, TLS_HELLO_NO },
		{ "\x80\x01\x00\x01", 4, TLS_HELLO_NO },
		{ "\x82", 1, TLS_HELLO_NO },
		{ "\x00\x00\x00\x10\x80", 5, TLS_HELLO_NO },
		{ "GET / HTTP/1.1", 14, TLS_HELLO_NO },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		ck_assert_msg(tls_detect_hello((const uint8_t *)cases[i].bytes, cases[i].len) ==
		    cases[i].want, "case %zu", i);
}
END_TEST

START_TEST(test_describe_plain)
{
	static const struct {
		const char	*bytes;
		size_t		 len;
		const char	*want;
	} cases[] = {
		{ "\x80\x01\x00\x01\x00\x00\x00\x04", 8, "a plain Thrift client (unframed) on a TLS port" },
		{ "\x82\x21\x00\x04", 4, "a plain Thrift client (unframed) on a TLS port" },
		{ "\x00\x00\x00\x11\x80\x01\x00\x01", 8, "a plain Thrift client (framed) on a TLS port" },
		{ "\x00\x00\x00\x11\x82\x21", 6, "a plain Thrift client (framed) on a TLS port" },
		{ "\x00\x00\x00\x20\x0f\xff\x00\x00", 8, "a plain Thrift client (THeader) on a TLS port" },
		{ "GET / HT", 8, "an HTTP request on a TLS port" },
		{ "PRI * HT", 8, "an HTTP request on a TLS port" },
		{ "PROXY TC", 8, "a PROXY protocol header on a TLS port that does not expect one" },
		{ "\r\n\r\n\x00\r\nQ", 8, "a PROXY protocol header on a TLS port that does not expect one" },
		{ "SSH-2.0-", 8, "not a TLS handshake" },
		{ "", 0, "not a TLS handshake" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		ck_assert_str_eq(tls_describe_plain((const uint8_t *)cases[i].bytes, cases[i].len),
		    cases[i].want);
}
END_TEST

/* --- handshakes ------------------------------------------------------------------------- */

START_TEST(test_handshake_and_echo)
{
	struct pair	p;
	struct outcome	o;
	uint8_t		buf[16];
	size_t		got;
	char		peer[64] = "x";

	pair_open(&p, server_context(cert("server.pem"), cert("server.key"), NULL, NULL,
	    CONF_TLS_1_2), client_context(cert("ca.pem"), NULL, NULL, 0));
	ck_assert(!tls_session_established(p.server));
	ck_assert_str_eq(tls_session_version(p.server), "");
	/* Nothing sent yet: calcd waits for the socket. */
	ck_assert_int_eq(tls_session_handshake(p.server), TLS_IO_WANT_READ);
	ck_assert_int_eq(tls_session_read(p.server, buf, sizeof buf, &got), TLS_IO_WANT_READ);
	ck_assert_uint_eq(got, 0);

	o = handshake(&p);
	ck_assert_int_eq(o.server, TLS_IO_DONE);
	ck_assert_int_eq(o.client, 1);
	ck_assert(tls_session_established(p.server));
	/* The client verified the chain through the intermediate calcd sent. */
	ck_assert_int_eq(SSL_get_verify_result(p.client), X509_V_OK);
	assert_server_cn(&p, "calcd-test-server");
	ck_assert_str_eq(tls_session_version(p.server), "TLSv1.3");
	ck_assert_str_ne(tls_session_cipher(p.server), "");
	ck_assert_int_eq(tls_session_failure(p.server), TLS_FAIL_NONE);
	ck_assert_str_eq(tls_session_error(p.server), "");
	tls_session_peer(p.server, peer, sizeof peer);
	ck_assert_str_eq(peer, "");
	/* The handshake is done; nothing has been sent yet. */
	ck_assert_int_eq(tls_session_read(p.server, buf, sizeof buf, &got), TLS_IO_WANT_READ);
	assert_echo(&p);
	assert_echo(&p);

	/* The client's close_notify: CLOSED, and again after. */
	ck_assert_int_eq(SSL_shutdown(p.client), 0);
	ck_assert_int_eq(tls_session_read(p.server, buf, sizeof buf, &got), TLS_IO_CLOSED);
	ck_assert_int_eq(tls_session_read(p.server, buf, sizeof buf, &got), TLS_IO_CLOSED);
	ck_assert_int_eq(tls_session_failure(p.server), TLS_FAIL_NONE);
	/* calcd's own close_notify reaches the client. */
	ck_assert_int_eq(tls_session_shutdown(p.server), TLS_IO_DONE);
	ck_assert_int_eq(tls_session_shutdown(p.server), TLS_IO_DONE);
	ck_assert_int_eq(client_read(&p, (char *)buf, sizeof buf, &got), 0);
	pair_close(&p);
}
END_TEST

/* A client that sends its first request with its Finished: calcd reads it at once. */
START_TEST(test_request_with_finished)
{
	struct pair	p;
	uint8_t		buf[16];
	size_t		got;
	enum tls_io	io = TLS_IO_WANT_READ;
	int		rc = 0;

	pair_open(&p, server_context(cert("server.pem"), cert("server.key"), NULL, NULL,
	    CONF_TLS_1_2), client_context(cert("ca.pem"), NULL, NULL, 0));
	/* The client writes as soon as its side is done, before calcd's step that ends it. */
	for (int i = 0; i < ROUNDS && rc != 1; i++) {
		io = tls_session_handshake(p.server);
		rc = SSL_do_handshake(p.client);
	}
	ck_assert_int_eq(rc, 1);
	ck_assert_int_eq(io, TLS_IO_WANT_READ);
	client_write(&p, "early", 5);
	ck_assert_int_eq(tls_session_handshake(p.server), TLS_IO_DONE);
	/* No wait for the socket: the request already sits in the session or the socket. */
	ck_assert_int_eq(tls_session_read(p.server, buf, sizeof buf, &got), TLS_IO_DONE);
	ck_assert_uint_eq(got, 5);
	ck_assert_int_eq(memcmp(buf, "early", 5), 0);
	pair_close(&p);
}
END_TEST

/* A server that allows TLS 1.2 and a TLS 1.2 client, their handshake done. */
static void
tls12_pair_open(struct pair *p)
{
	struct outcome o;

	pair_open(p, server_context(cert("server.pem"), cert("server.key"), NULL, NULL,
	    CONF_TLS_1_2), client_context(cert("ca.pem"), NULL, NULL, TLS1_2_VERSION));
	o = handshake(p);
	ck_assert_int_eq(o.server, TLS_IO_DONE);
	ck_assert_int_eq(o.client, 1);
	ck_assert_str_eq(tls_session_version(p->server), "TLSv1.2");
}

START_TEST(test_tls12_client)
{
	struct pair	p;

	tls12_pair_open(&p);
	assert_echo(&p);
	pair_close(&p);
}
END_TEST

START_TEST(test_min_version_13_refuses_12)
{
	struct pair	p;
	struct outcome	o;

	pair_open(&p, server_context(cert("server.pem"), cert("server.key"), NULL, NULL,
	    CONF_TLS_1_3), client_context(cert("ca.pem"), NULL, NULL, TLS1_2_VERSION));
	o = handshake(&p);
	ck_assert_int_eq(o.server, TLS_IO_ERROR);
	ck_assert_int_eq(o.client, -1);
	ck_assert_int_eq(tls_session_failure(p.server), TLS_FAIL_VERSION);
	ck_assert_str_eq(tls_session_error(p.server),
	    "no TLS version in common: the client offers none from tls_min_version (1.3) up");
	ck_assert_str_eq(tls_failure_name(tls_session_failure(p.server)), "version");
	/* Once failed, always failed. */
	ck_assert_int_eq(tls_session_handshake(p.server), TLS_IO_ERROR);
	pair_close(&p);
}
END_TEST

START_TEST(test_default_min_version_refuses_11)
{
	struct pair	p;
	struct outcome	o;

	pair_open(&p, server_context(cert("server.pem"), cert("server.key"), NULL, NULL,
	    CONF_TLS_1_2), client_context(cert("ca.pem"), NULL, NULL, TLS1_1_VERSION));
	o = handshake(&p);
	ck_assert_int_eq(o.server, TLS_IO_ERROR);
	ck_assert_int_eq(o.client, -1);
	ck_assert_int_eq(tls_session_failure(p.server), TLS_FAIL_VERSION);
	ck_assert_str_eq(tls_session_error(p.server),
	    "no TLS version in common: the client offers none from tls_min_version (1.2) up");
	pair_close(&p);
}
END_TEST

/* A client that trusts another CA gives up with an alert: calcd names it. */
START_TEST(test_client_refuses_server_certificate)
{
	struct pair	p;
	struct outcome	o;

	pair_open(&p, server_context(cert("server.pem"), cert("server.key"), NULL, NULL,
	    CONF_TLS_1_2), client_context(cert("other-ca.pem"), NULL, NULL, 0));
	o = handshake(&p);
	ck_assert_int_eq(o.client, -1);
	ck_assert_int_eq(o.server, TLS_IO_ERROR);
	ck_assert_int_eq(tls_session_failure(p.server), TLS_FAIL_ALERT);
	ck_assert_str_eq(tls_session_error(p.server), "the client ended the TLS handshake with "
	    "alert 'unknown CA': it does not accept calcd's certificate");
	pair_close(&p);
}
END_TEST

START_TEST(test_no_shared_cipher)
{
	struct pair		 p;
	struct outcome		 o;
	struct tls_settings	 set = {
		.certificate = cert("server.pem"), .key = cert("server.key"),
		.ciphers = "ECDHE-ECDSA-AES256-GCM-SHA384", .min_version = CONF_TLS_1_2,
	};
	struct tls_error	 err;
	SSL_CTX			*c = client_context(cert("ca.pem"), NULL, NULL, TLS1_2_VERSION);
	struct tls_context	*ctx = tls_context_new(&set, &err);

	ck_assert_ptr_nonnull(ctx);
	ck_assert_int_eq(SSL_CTX_set_cipher_list(c, "ECDHE-ECDSA-AES128-GCM-SHA256"), 1);
	pair_open(&p, ctx, c);
	o = handshake(&p);
	ck_assert_int_eq(o.server, TLS_IO_ERROR);
	ck_assert_int_eq(o.client, -1);
	ck_assert_int_eq(tls_session_failure(p.server), TLS_FAIL_CIPHER);
	ck_assert_str_eq(tls_session_error(p.server), "nothing in common with the client: "
	    "no shared cipher");
	pair_close(&p);
}
END_TEST

/* --- client certificates ---------------------------------------------------------------- */

static struct tls_context *
mtls_context(bool crl)
{
	return server_context(cert("server.pem"), cert("server.key"), cert("ca.pem"),
	    crl ? cert("crl.pem") : NULL, CONF_TLS_1_2);
}

START_TEST(test_mtls_accepted)
{
	struct pair	p;
	struct outcome	o;
	char		peer[128];
	int		version = _i == 0 ? 0 : TLS1_2_VERSION;

	pair_open(&p, mtls_context(true), client_context(cert("ca.pem"), cert("client.pem"),
	    cert("client.key"), version));
	o = handshake(&p);
	ck_assert_int_eq(o.server, TLS_IO_DONE);
	ck_assert_int_eq(o.client, 1);
	tls_session_peer(p.server, peer, sizeof peer);
	ck_assert_str_eq(peer, "CN=calcd-test-client,O=calcd tests");
	/* calcd named the CA it wants to clients. */
	ck_assert_int_eq(sk_X509_NAME_num(SSL_get_client_CA_list(p.client)), 1);
	assert_echo(&p);
	pair_close(&p);
}
END_TEST

/* The client is refused; in TLS 1.3 it finds out at its first read. */
static void
assert_mtls_refused(const char *client_cert, const char *client_key, int version,
    enum tls_failure want, const char *error)
{
	struct pair	p;
	struct outcome	o;
	char		buf[16];
	size_t		got;

	pair_open(&p, mtls_context(true), client_context(cert("ca.pem"),
	    client_cert != NULL ? cert(client_cert) : NULL,
	    client_key != NULL ? cert(client_key) : NULL, version));
	o = handshake(&p);
	ck_assert_int_eq(o.server, TLS_IO_ERROR);
	ck_assert_int_eq(tls_session_failure(p.server), want);
	ck_assert_str_eq(tls_session_error(p.server), error);
	if (o.client == 1)
		ck_assert_int_eq(client_read(&p, buf, sizeof buf, &got), -1);
	pair_close(&p);
}

START_TEST(test_mtls_refused)
{
	int version = _i == 0 ? 0 : TLS1_2_VERSION;

	assert_mtls_refused(NULL, NULL, version, TLS_FAIL_NO_CERTIFICATE,
	    "the client sent no certificate, and tls_client_ca requires one");
	assert_mtls_refused("other-client.pem", "other-client.key", version,
	    TLS_FAIL_BAD_CERTIFICATE,
	    "the client's certificate is refused: unable to get local issuer certificate");
	assert_mtls_refused("revoked.pem", "revoked.key", version, TLS_FAIL_BAD_CERTIFICATE,
	    "the client's certificate is refused: certificate revoked");
	assert_mtls_refused("expired.pem", "expired.key", version, TLS_FAIL_BAD_CERTIFICATE,
	    "the client's certificate is refused: certificate has expired");
	/* A server certificate from the right CA is no client certificate. */
	assert_mtls_refused("server2.pem", "server2.key", version, TLS_FAIL_BAD_CERTIFICATE,
	    "the client's certificate is refused: unsuitable certificate purpose");
}
END_TEST

/* Without a CRL, revoked.pem is just a certificate from the right CA. */
START_TEST(test_mtls_without_crl)
{
	struct pair	p;
	struct outcome	o;

	pair_open(&p, mtls_context(false), client_context(cert("ca.pem"), cert("revoked.pem"),
	    cert("revoked.key"), 0));
	o = handshake(&p);
	ck_assert_int_eq(o.server, TLS_IO_DONE);
	assert_echo(&p);
	pair_close(&p);
}
END_TEST

/* --- not TLS, and ends ----------------------------------------------------------------------- */

static void
assert_not_tls(const char *bytes, size_t len, const char *error)
{
	struct pair p;

	pair_open(&p, server_context(cert("server.pem"), cert("server.key"), NULL, NULL,
	    CONF_TLS_1_2), NULL);
	ck_assert_int_eq(write(p.sv[1], bytes, len), (ssize_t)len);
	ck_assert_int_eq(tls_session_handshake(p.server), TLS_IO_ERROR);
	ck_assert_int_eq(tls_session_failure(p.server), TLS_FAIL_NOT_TLS);
	ck_assert_str_eq(tls_session_error(p.server), error);
	ck_assert_str_eq(tls_failure_name(TLS_FAIL_NOT_TLS), "not_tls");
	/* Nothing was sent back: a plain client gets no TLS alert to misread. */
	{
		char	c;

		ck_assert_int_eq(read(p.sv[1], &c, 1), -1);
		ck_assert_int_eq(errno, EAGAIN);
	}
	pair_close(&p);
}

START_TEST(test_plain_client_on_tls_port)
{
	assert_not_tls("\x80\x01\x00\x01\x00\x00\x00\x04ping\x00\x00\x00\x00\x00", 17,
	    "a plain Thrift client (unframed) on a TLS port (first bytes 80 01 00 01 00 00 00 04)");
	assert_not_tls("\x00\x00\x00\x11\x80\x01\x00\x01\x00\x00\x00\x04ping", 16,
	    "a plain Thrift client (framed) on a TLS port (first bytes 00 00 00 11 80 01 00 01)");
	assert_not_tls("GET / HTTP/1.1\r\n\r\n", 18,
	    "an HTTP request on a TLS port (first bytes 47 45 54 20 2f 20 48 54)");
	assert_not_tls("\x80", 1, "a plain Thrift client (unframed) on a TLS port (first bytes 80)");
	assert_not_tls("SSH-2.0-x\r\n", 11, "not a TLS handshake (first bytes 53 53 48 2d 32 2e 30 2d)");
}
END_TEST

/* A client that connects and closes: CLOSED, not a failed handshake. */
START_TEST(test_closed_before_a_byte)
{
	struct pair p;

	pair_open(&p, server_context(cert("server.pem"), cert("server.key"), NULL, NULL,
	    CONF_TLS_1_2), NULL);
	ck_assert_int_eq(tls_session_handshake(p.server), TLS_IO_WANT_READ);
	ck_assert_int_eq(shutdown(p.sv[1], SHUT_WR), 0);
	ck_assert_int_eq(tls_session_handshake(p.server), TLS_IO_CLOSED);
	ck_assert_int_eq(tls_session_failure(p.server), TLS_FAIL_NONE);
	ck_assert_int_eq(tls_session_handshake(p.server), TLS_IO_CLOSED);
	pair_close(&p);
}
END_TEST

/* The bytes a client sends first: its ClientHello. */
static size_t
client_hello(uint8_t *buf, size_t len)
{
	struct pair	q;
	ssize_t		n;

	pair_open(&q, NULL, client_context(cert("ca.pem"), NULL, NULL, 0));
	ck_assert_int_eq(SSL_do_handshake(q.client), -1);
	n = read(q.sv[0], buf, len);
	ck_assert_int_gt(n, 5);
	ERR_clear_error();
	pair_close(&q);
	return (size_t)n;
}

START_TEST(test_eof_in_handshake)
{
	struct pair	p;
	uint8_t		hello[4096];
	size_t		len = client_hello(hello, sizeof hello);
	enum tls_io	io = TLS_IO_WANT_READ;

	pair_open(&p, server_context(cert("server.pem"), cert("server.key"), NULL, NULL,
	    CONF_TLS_1_2), NULL);
	ck_assert_int_eq(write(p.sv[1], hello, len / 2), (ssize_t)(len / 2));
	ck_assert_int_eq(tls_session_handshake(p.server), TLS_IO_WANT_READ);
	ck_assert_int_eq(shutdown(p.sv[1], SHUT_WR), 0);
	for (int i = 0; i < 4 && io == TLS_IO_WANT_READ; i++)
		io = tls_session_handshake(p.server);
	ck_assert_int_eq(io, TLS_IO_ERROR);
	ck_assert_int_eq(tls_session_failure(p.server), TLS_FAIL_EOF);
	ck_assert_str_eq(tls_session_error(p.server),
	    "the client closed the connection during the TLS handshake");
	pair_close(&p);
}
END_TEST

/* A garbled record after a good start: a protocol error, named. */
START_TEST(test_garbage_after_record_header)
{
	struct pair	p;
	enum tls_io	io = TLS_IO_WANT_READ;
	static const uint8_t junk[] = {
		0x16, 0x03, 0x01, 0x00, 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	};

	pair_open(&p, server_context(cert("server.pem"), cert("server.key"), NULL, NULL,
	    CONF_TLS_1_2), NULL);
	ck_assert_int_eq(write(p.sv[1], junk, sizeof junk), (ssize_t)sizeof junk);
	for (int i = 0; i < 4 && io == TLS_IO_WANT_READ; i++)
		io = tls_session_handshake(p.server);
	ck_assert_int_eq(io, TLS_IO_ERROR);
	ck_assert_int_eq(tls_session_failure(p.server), TLS_FAIL_PROTOCOL);
	ck_assert_msg(strncmp(tls_session_error(p.server), "TLS handshake failed: ", 22) == 0,
	    "%s", tls_session_error(p.server));
	pair_close(&p);
}
END_TEST

/*
 * The caller read part of the stream itself (a PROXY header and what came
 * with it): the bytes after the header go to tls_session_new.
 */
START_TEST(test_bytes_read_ahead)
{
	static const char	 header[] = "PROXY TCP4 192.0.2.1 192.0.2.2 5000 9443\r\n";
	struct pair		 p;
	struct outcome		 o;
	uint8_t			 buf[8192];
	ssize_t			 n;
	size_t			 keep = _i == 0 ? 1 : _i == 1 ? 7 : SIZE_MAX;

	pair_open(&p, NULL, client_context(cert("ca.pem"), NULL, NULL, 0));
	p.ctx = server_context(cert("server.pem"), cert("server.key"), NULL, NULL, CONF_TLS_1_2);
	ck_assert_int_eq(write(p.sv[1], header, sizeof header - 1), (ssize_t)sizeof header - 1);
	ck_assert_int_eq(SSL_do_handshake(p.client), -1);
	/* The caller read the header and keep bytes of the hello (all: SIZE_MAX). */
	if (keep == SIZE_MAX)
		keep = sizeof buf - (sizeof header - 1);
	n = read(p.sv[0], buf, sizeof header - 1 + keep);
	ck_assert_int_gt(n, (ssize_t)(sizeof header - 1));
	ck_assert_int_eq(memcmp(buf, header, sizeof header - 1), 0);
	p.server = tls_session_new(p.ctx, p.sv[0], buf + sizeof header - 1,
	    (size_t)n - (sizeof header - 1));
	ck_assert_ptr_nonnull(p.server);
	ck_assert(tls_session_pending(p.server));
	o = handshake(&p);
	ck_assert_int_eq(o.server, TLS_IO_DONE);
	ck_assert_int_eq(o.client, 1);
	assert_echo(&p);
	pair_close(&p);
}
END_TEST

/* --- data ---------------------------------------------------------------------------------- */

/*
 * Small records read with a small buffer: after the first read, what is
 * left sits in the session, not the socket, and tls_session_pending says so.
 */
START_TEST(test_pending)
{
	struct pair	p;
	struct outcome	o;
	uint8_t		msg[300], buf[50], all[300];
	size_t		got, total = 0;
	int		reads = 0;

	pair_open(&p, server_context(cert("server.pem"), cert("server.key"), NULL, NULL,
	    CONF_TLS_1_2), client_context(cert("ca.pem"), NULL, NULL, 0));
	o = handshake(&p);
	ck_assert_int_eq(o.server, TLS_IO_DONE);
	for (size_t i = 0; i < sizeof msg; i++)
		msg[i] = (uint8_t)(i * 7);
	for (int r = 0; r < 3; r++)
		client_write(&p, msg + 100 * r, 100);	/* three records */
	ck_assert(!tls_session_pending(p.server));
	do {
		ck_assert_int_eq(tls_session_read(p.server, buf, sizeof buf, &got), TLS_IO_DONE);
		ck_assert_uint_eq(got, sizeof buf);
		ck_assert_uint_le(total + got, sizeof all);
		memcpy(all + total, buf, got);
		total += got;
		reads++;
	} while (tls_session_pending(p.server) && reads < 20);
	ck_assert_uint_eq(total, sizeof msg);
	ck_assert_int_eq(memcmp(all, msg, sizeof msg), 0);
	ck_assert_int_eq(tls_session_read(p.server, buf, sizeof buf, &got), TLS_IO_WANT_READ);
	/* A buffer big enough takes all three records in one call. */
	for (int r = 0; r < 3; r++)
		client_write(&p, msg + 100 * r, 100);
	ck_assert_int_eq(tls_session_read(p.server, all, sizeof all, &got), TLS_IO_DONE);
	ck_assert_uint_eq(got, sizeof msg);
	ck_assert(!tls_session_pending(p.server));
	pair_close(&p);
}
END_TEST

/*
 * A megabyte each way through socket buffers much smaller: calcd's writes
 * stop with WANT_WRITE and go on with the rest from a buffer that moved.
 */
START_TEST(test_large_transfer)
{
	enum { LEN = 1 << 20 };
	struct pair	 p;
	struct outcome	 o;
	uint8_t		*data = malloc(LEN), *in = malloc(LEN), *pending = NULL;
	size_t		 sent = 0, received = 0, got, written, n;
	int		 want_writes = 0, rc;

	ck_assert_ptr_nonnull(data);
	ck_assert_ptr_nonnull(in);
	for (size_t i = 0; i < LEN; i++)
		data[i] = (uint8_t)(i ^ (i >> 8) ^ (i >> 16));
	pair_open(&p, server_context(cert("server.pem"), cert("server.key"), NULL, NULL,
	    CONF_TLS_1_2), client_context(cert("ca.pem"), NULL, NULL, 0));
	o = handshake(&p);
	ck_assert_int_eq(o.server, TLS_IO_DONE);

	/* calcd -> client */
	for (int i = 0; i < 20000 && received < LEN; i++) {
		if (sent < LEN) {
			/* The unsent rest, copied anew each time: it moves, as conn's backlog may. */
			free(pending);
			pending = malloc(LEN - sent);
			ck_assert_ptr_nonnull(pending);
			memcpy(pending, data + sent, LEN - sent);
			enum tls_io io = tls_session_write(p.server, pending, LEN - sent, &written);

			ck_assert_msg(io == TLS_IO_DONE || io == TLS_IO_WANT_WRITE, "write: %d", io);
			want_writes += io == TLS_IO_WANT_WRITE;
			sent += written;
		}
		ERR_clear_error();
		rc = SSL_read_ex(p.client, in + received, LEN - received, &n);
		if (rc == 1)
			received += n;
		else
			ck_assert_int_eq(SSL_get_error(p.client, rc), SSL_ERROR_WANT_READ);
	}
	ck_assert_uint_eq(received, LEN);
	ck_assert_int_eq(memcmp(in, data, LEN), 0);
	ck_assert_int_gt(want_writes, 0);

	/* client -> calcd */
	sent = received = 0;
	memset(in, 0, LEN);
	for (int i = 0; i < 20000 && received < LEN; i++) {
		if (sent < LEN) {
			ERR_clear_error();
			rc = SSL_write_ex(p.client, data + sent, LEN - sent, &n);
			if (rc == 1)
				sent += n;
			else
				ck_assert_int_eq(SSL_get_error(p.client, rc), SSL_ERROR_WANT_WRITE);
		}
		enum tls_io io = tls_session_read(p.server, in + received, 4096, &got);

		ck_assert_msg(io == TLS_IO_DONE || io == TLS_IO_WANT_READ, "read: %d", io);
		received += got;
	}
	ck_assert_uint_eq(received, LEN);
	ck_assert_int_eq(memcmp(in, data, LEN), 0);
	free(pending);
	free(data);
	free(in);
	pair_close(&p);
}
END_TEST

/*
 * A TLS 1.2 client asks to renegotiate: calcd refuses (SSL_OP_NO_RENEGOTIATION,
 * tls.c; OpenSSL 3 also refuses by default, without SSL_OP_ALLOW_CLIENT_
 * RENEGOTIATION) with a warning alert and carries on.  The client's
 * renegotiation fails with no_renegotiation; calcd's session records no
 * failure, and its reply goes out at once.  Were renegotiation allowed,
 * that write would wait to read the renegotiation through.
 */
START_TEST(test_renegotiation_refused)
{
	struct pair	p;
	uint8_t		buf[16];
	size_t		got, written;
	int		rc = -1;

	tls12_pair_open(&p);

	client_write(&p, "ping", 4);
	ck_assert_int_eq(SSL_renegotiate(p.client), 1);
	ERR_clear_error();
	rc = SSL_do_handshake(p.client);	/* sends its ClientHello, waits for an answer */
	ck_assert_int_eq(rc, -1);
	ck_assert_int_eq(SSL_get_error(p.client, rc), SSL_ERROR_WANT_READ);

	server_read_exactly(&p, buf, 4);
	ck_assert_int_eq(memcmp(buf, "ping", 4), 0);
	/* The ClientHello is refused: nothing to read, no failure, and the reply goes. */
	ck_assert_int_eq(tls_session_read(p.server, buf, sizeof buf, &got), TLS_IO_WANT_READ);
	ck_assert_uint_eq(got, 0);
	ck_assert_int_eq(tls_session_failure(p.server), TLS_FAIL_NONE);
	ck_assert_int_eq(tls_session_write(p.server, (const uint8_t *)"pong", 4, &written),
	    TLS_IO_DONE);
	ck_assert_uint_eq(written, 4);

	for (int i = 0; i < ROUNDS; i++) {
		ERR_clear_error();
		rc = SSL_do_handshake(p.client);
		if (rc == 1 || SSL_get_error(p.client, rc) != SSL_ERROR_WANT_READ)
			break;
	}
	ck_assert_int_eq(SSL_get_error(p.client, rc), SSL_ERROR_SSL);
	ck_assert_int_eq(ERR_GET_REASON(ERR_peek_last_error()), SSL_R_NO_RENEGOTIATION);
	ERR_clear_error();
	pair_close(&p);
}
END_TEST

/* The peer's socket is gone: a write fails with the reason, and no SIGPIPE kills us. */
START_TEST(test_write_to_closed_peer)
{
	struct pair	p;
	struct outcome	o;
	uint8_t		data[4096] = { 0 };
	size_t		written;
	enum tls_io	io = TLS_IO_DONE;

	signal(SIGPIPE, SIG_DFL);
	pair_open(&p, server_context(cert("server.pem"), cert("server.key"), NULL, NULL,
	    CONF_TLS_1_2), client_context(cert("ca.pem"), NULL, NULL, 0));
	o = handshake(&p);
	ck_assert_int_eq(o.server, TLS_IO_DONE);
	close(p.sv[1]);
	p.sv[1] = -1;
	for (int i = 0; i < 4 && io == TLS_IO_DONE; i++)
		io = tls_session_write(p.server, data, sizeof data, &written);
	ck_assert_int_eq(io, TLS_IO_ERROR);
	ck_assert_int_eq(tls_session_failure(p.server), TLS_FAIL_IO);
	ck_assert_str_eq(tls_session_error(p.server), "TLS connection failed: Broken pipe");
	pair_close(&p);
}
END_TEST

/* --- contexts ---------------------------------------------------------------------------------- */

/* tls_context_new fails on settings, blaming setting with exactly message. */
static void
assert_context_error(const struct tls_settings *set, enum tls_setting setting,
    const char *message)
{
	struct tls_error	 err;
	struct tls_context	*ctx = tls_context_new(set, &err);

	ck_assert_msg(ctx == NULL, "a context from bad settings (%s)", message);
	ck_assert_msg(err.setting == setting, "setting %d, want %d: %s", err.setting, setting,
	    err.message);
	ck_assert_str_eq(err.message, message);
	ck_assert_int_eq(ERR_peek_error(), 0);	/* OpenSSL's queue left empty */
}

static char *
write_file(const char *name, const char *text, mode_t mode)
{
	char	*path = strdup(cert(name));
	FILE	*f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(path, mode), 0);
	return path;
}

START_TEST(test_context_file_errors)
{
	struct tls_settings	 set;
	char			 want[2 * PATH_MAX + 200];
	char			*empty = write_file("empty.pem", "", 0644);
	char			*junk = write_file("junk.pem", "not a certificate\n", 0644);

#define SET(c, k, ca, crl) do { memset(&set, 0, sizeof set); set.certificate = (c); \
	set.key = (k); set.client_ca = (ca); set.client_crl = (crl); \
	set.min_version = CONF_TLS_1_2; } while (0)

	SET(cert("missing.pem"), cert("server.key"), NULL, NULL);
	(void)snprintf(want, sizeof want, "cannot open %s: No such file or directory",
	    cert("missing.pem"));
	assert_context_error(&set, TLS_SETTING_CERTIFICATE, want);

	SET(certs_dir, cert("server.key"), NULL, NULL);
	(void)snprintf(want, sizeof want, "%s is not a regular file", certs_dir);
	assert_context_error(&set, TLS_SETTING_CERTIFICATE, want);

	SET(empty, cert("server.key"), NULL, NULL);
	(void)snprintf(want, sizeof want, "%s is empty", empty);
	assert_context_error(&set, TLS_SETTING_CERTIFICATE, want);

	SET(junk, cert("server.key"), NULL, NULL);
	(void)snprintf(want, sizeof want, "%s is not a PEM file (want -----BEGIN CERTIFICATE-----; "
	    "a DER one converts with openssl x509 -inform der)", junk);
	assert_context_error(&set, TLS_SETTING_CERTIFICATE, want);

	/* A key where the certificate should be. */
	SET(cert("server.key"), cert("server.key"), NULL, NULL);
	(void)snprintf(want, sizeof want, "no certificate in %s (want -----BEGIN CERTIFICATE-----)",
	    cert("server.key"));
	assert_context_error(&set, TLS_SETTING_CERTIFICATE, want);

	SET(cert("server.pem"), cert("missing.key"), NULL, NULL);
	(void)snprintf(want, sizeof want, "cannot open %s: No such file or directory",
	    cert("missing.key"));
	assert_context_error(&set, TLS_SETTING_KEY, want);

	/* The key of another certificate. */
	SET(cert("server.pem"), cert("server2.key"), NULL, NULL);
	(void)snprintf(want, sizeof want, "the key in %s does not match the certificate in %s",
	    cert("server2.key"), cert("server.pem"));
	assert_context_error(&set, TLS_SETTING_KEY, want);

	SET(cert("server.pem"), cert("server-encrypted.key"), NULL, NULL);
	(void)snprintf(want, sizeof want, "the key in %s is encrypted, and calcd cannot ask for a "
	    "passphrase: store it unencrypted, readable only by calcd (openssl pkey -in "
	    "ENCRYPTED -out PLAIN)", cert("server-encrypted.key"));
	assert_context_error(&set, TLS_SETTING_KEY, want);

	/* A certificate where the key should be. */
	SET(cert("server.pem"), cert("ca.pem"), NULL, NULL);
	(void)snprintf(want, sizeof want, "no private key in %s (want -----BEGIN PRIVATE KEY-----)",
	    cert("ca.pem"));
	assert_context_error(&set, TLS_SETTING_KEY, want);

	/* No tls_key: the key must be in the certificate's file. */
	SET(cert("server.pem"), NULL, NULL, NULL);
	(void)snprintf(want, sizeof want, "no private key in %s (want -----BEGIN PRIVATE KEY-----); "
	    "set tls_key, or add the key to this file", cert("server.pem"));
	assert_context_error(&set, TLS_SETTING_CERTIFICATE, want);

	SET(cert("server.pem"), cert("server.key"), cert("missing-ca.pem"), NULL);
	(void)snprintf(want, sizeof want, "cannot open %s: No such file or directory",
	    cert("missing-ca.pem"));
	assert_context_error(&set, TLS_SETTING_CLIENT_CA, want);

	SET(cert("server.pem"), cert("server.key"), cert("server.key"), NULL);
	(void)snprintf(want, sizeof want, "no certificate in %s (want -----BEGIN CERTIFICATE-----)",
	    cert("server.key"));
	assert_context_error(&set, TLS_SETTING_CLIENT_CA, want);

	SET(cert("server.pem"), cert("server.key"), junk, NULL);
	(void)snprintf(want, sizeof want, "%s is not a PEM file (want -----BEGIN CERTIFICATE-----)",
	    junk);
	assert_context_error(&set, TLS_SETTING_CLIENT_CA, want);

	SET(cert("server.pem"), cert("server.key"), cert("ca.pem"), junk);
	(void)snprintf(want, sizeof want, "%s is not a PEM file (want -----BEGIN X509 CRL-----)",
	    junk);
	assert_context_error(&set, TLS_SETTING_CLIENT_CRL, want);

	SET(cert("server.pem"), cert("server.key"), NULL, cert("crl.pem"));
	assert_context_error(&set, TLS_SETTING_CLIENT_CRL, "needs tls_client_ca");

	SET(cert("server.pem"), cert("server.key"), cert("ca.pem"), cert("ca.pem"));
	(void)snprintf(want, sizeof want, "no CRL in %s (want -----BEGIN X509 CRL-----)",
	    cert("ca.pem"));
	assert_context_error(&set, TLS_SETTING_CLIENT_CRL, want);

	SET(cert("server.pem"), cert("server.key"), NULL, NULL);
	set.ciphers = "NO-SUCH-CIPHER";
	assert_context_error(&set, TLS_SETTING_CIPHERS, "no cipher in 'NO-SUCH-CIPHER' is known "
	    "to OpenSSL (see openssl ciphers -v)");

	SET(cert("server.pem"), cert("server.key"), NULL, NULL);
	set.ciphersuites = "TLS_NO_SUCH_SUITE";
	assert_context_error(&set, TLS_SETTING_CIPHERSUITES, "'TLS_NO_SUCH_SUITE' is not a list "
	    "of TLS 1.3 suites OpenSSL knows (see openssl ciphers -v -tls1_3)");

	SET(cert("server.pem"), cert("server.key"), NULL, NULL);
	set.min_version = 0x0302;
	assert_context_error(&set, TLS_SETTING_MIN_VERSION, "unknown TLS version 0x0302");

	SET(NULL, NULL, NULL, NULL);
	assert_context_error(&set, TLS_SETTING_CERTIFICATE, "no certificate set");
#undef SET
	free(empty);
	free(junk);
}
END_TEST

/*
 * An unreadable key names the reason.  Root reads anything, so as root
 * the test becomes nobody first (in the child Check forks for it).
 */
START_TEST(test_context_unreadable_key)
{
	struct tls_settings	 set = {
		.certificate = cert("server.pem"), .min_version = CONF_TLS_1_2,
	};
	char			 want[PATH_MAX + 64];
	char			*key = write_file("unreadable.key", "", 0600);
	const char		*fork_mode = getenv("CK_FORK");

	if (geteuid() == 0) {
		if (fork_mode != NULL && strcmp(fork_mode, "no") == 0) {
			fprintf(stderr, "test_tls: root without CK_FORK: skipping "
			    "test_context_unreadable_key\n");
			free(key);
			return;
		}
		/* nobody must reach the files, and read server.pem but not the key. */
		ck_assert_int_eq(chmod(certs_dir, 0755), 0);
		ck_assert_int_eq(chmod(key, 0600), 0);
		ck_assert_int_eq(setgid(65534), 0);
		ck_assert_int_eq(setuid(65534), 0);
	} else {
		ck_assert_int_eq(chmod(key, 0), 0);
	}
	set.key = key;
	(void)snprintf(want, sizeof want, "cannot open %s: Permission denied", key);
	assert_context_error(&set, TLS_SETTING_KEY, want);
	free(key);
}
END_TEST

START_TEST(test_context_good_settings)
{
	struct tls_settings	 set = {
		.certificate = cert("server-combined.pem"), .min_version = CONF_TLS_1_3,
		.ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305",
		.ciphersuites = "TLS_AES_128_GCM_SHA256",
	};
	struct tls_error	 err;
	struct tls_context	*ctx;
	char			 text[512];

	/* Certificate and key in one file, no tls_key. */
	ctx = tls_context_new(&set, &err);
	ck_assert_msg(ctx != NULL, "%s", err.message);
	tls_context_describe(ctx, text, sizeof text);
	ck_assert_msg(strncmp(text, "certificate CN=calcd-test-server,O=calcd tests, valid until ",
	    60) == 0, "%s", text);
	ck_assert_msg(strstr(text, " UTC, no client certificates") != NULL, "%s", text);
	ck_assert(!tls_context_expired(ctx));
	tls_context_unref(ctx);

	set.certificate = cert("server.pem");
	set.key = cert("server.key");
	set.client_ca = cert("ca.pem");
	set.client_crl = cert("crl.pem");
	ctx = tls_context_new(&set, &err);
	ck_assert_msg(ctx != NULL, "%s", err.message);
	tls_context_describe(ctx, text, sizeof text);
	ck_assert_msg(strstr(text, " UTC, client certificates required (1 CA, with a CRL)") != NULL,
	    "%s", text);
	ck_assert_ptr_eq(tls_context_ref(ctx), ctx);
	tls_context_unref(ctx);
	tls_context_unref(ctx);
	tls_context_unref(NULL);

	/* An expired certificate is served (calcd -t warns about it). */
	set.certificate = cert("expired.pem");
	set.key = cert("expired.key");
	set.client_ca = set.client_crl = NULL;
	ctx = tls_context_new(&set, &err);
	ck_assert_msg(ctx != NULL, "%s", err.message);
	ck_assert(tls_context_expired(ctx));
	tls_context_describe(ctx, text, sizeof text);
	ck_assert_str_eq(text, "certificate CN=calcd-test-expired,O=calcd tests, EXPIRED since "
	    "2001-01-01 00:00:00 UTC, no client certificates");
	tls_context_unref(ctx);
}
END_TEST

/* --- reload --------------------------------------------------------------------------------- */

static struct tls_session *
session_from_slot(struct tls_slot *slot, int fd)
{
	struct tls_context *ctx = tls_slot_get(slot);
	struct tls_session *s;

	ck_assert_ptr_nonnull(ctx);
	s = tls_session_new(ctx, fd, NULL, 0);
	tls_context_unref(ctx);
	ck_assert_ptr_nonnull(s);
	return s;
}

static void
open_from_slot(struct pair *p, struct tls_slot *slot)
{
	pair_open(p, NULL, client_context(cert("ca.pem"), NULL, NULL, 0));
	p->server = session_from_slot(slot, p->sv[0]);
	ck_assert_int_eq(handshake(p).server, TLS_IO_DONE);
}

START_TEST(test_reload)
{
	struct tls_settings	 set = {
		.certificate = cert("server.pem"), .key = cert("server.key"),
		.min_version = CONF_TLS_1_2,
	};
	struct tls_error	 err;
	struct tls_slot		*slot = tls_slot_new(server_context(set.certificate, set.key,
				    NULL, NULL, CONF_TLS_1_2));
	struct pair		 before, kept, after;
	char			 want[PATH_MAX + 64];

	ck_assert_ptr_nonnull(slot);
	open_from_slot(&before, slot);
	assert_server_cn(&before, "calcd-test-server");

	/* A bad new file: the slot keeps what it has. */
	set.certificate = cert("server2.pem");
	set.key = cert("missing.key");
	ck_assert_int_eq(tls_slot_reload(slot, &set, &err), -1);
	ck_assert_int_eq(err.setting, TLS_SETTING_KEY);
	(void)snprintf(want, sizeof want, "cannot open %s: No such file or directory",
	    cert("missing.key"));
	ck_assert_str_eq(err.message, want);
	open_from_slot(&kept, slot);
	assert_server_cn(&kept, "calcd-test-server");

	/* A good one: new handshakes use it, open connections go on with the old. */
	set.key = cert("server2.key");
	ck_assert_int_eq(tls_slot_reload(slot, &set, &err), 0);
	open_from_slot(&after, slot);
	assert_server_cn(&after, "calcd-test-server-2");
	assert_echo(&before);
	assert_echo(&kept);
	assert_echo(&after);
	/* Empty the slot: sessions still hold their contexts. */
	tls_slot_set(slot, NULL);
	ck_assert_ptr_null(tls_slot_get(slot));
	assert_echo(&before);
	assert_echo(&after);
	pair_close(&before);
	pair_close(&kept);
	pair_close(&after);
	tls_slot_free(slot);
}
END_TEST

/* --- calcd.conf ------------------------------------------------------------------------------- */

struct loaded {
	struct conf	 conf;
	char		*path;
	int		 n;
	char		*errs;
};

static char	*normalize(char *, const char *);

static void
load(struct loaded *l, const char *text)
{
	size_t	 len = 0;
	FILE	*errors;
	char	 name[64];
	static unsigned serial;

	(void)snprintf(name, sizeof name, "calcd-%u.conf", serial++);
	l->path = write_file(name, text, 0644);
	l->errs = NULL;
	ck_assert_ptr_nonnull(errors = open_memstream(&l->errs, &len));
	conf_defaults(&l->conf);
	l->n = conf_load(&l->conf, l->path, errors);
	fclose(errors);
	l->errs = normalize(l->errs, l->path);
}

static void
unload(struct loaded *l)
{
	free(l->path);
	free(l->errs);
}

/* raw, freed, with every path shown as "calcd.conf", so expectations are literal. */
static char *
normalize(char *raw, const char *path)
{
	size_t		 plen = strlen(path);
	char		*out = calloc(1, strlen(raw) + 1), *o = out, *hit;
	const char	*s;

	ck_assert_ptr_nonnull(out);
	for (s = raw; (hit = strstr(s, path)) != NULL; s = hit + plen) {
		memcpy(o, s, (size_t)(hit - s));
		o += hit - s;
		memcpy(o, "calcd.conf", 10);
		o += 10;
	}
	strcpy(o, s);
	free(raw);
	return out;
}

/* tls_conf_check's count and output. */
static int
check_conf(struct loaded *l, bool required, char **out)
{
	char	*raw = NULL;
	size_t	 len = 0;
	FILE	*errors;
	int	 n;

	ck_assert_ptr_nonnull(errors = open_memstream(&raw, &len));
	n = tls_conf_check(&l->conf, l->path, required, errors);
	fclose(errors);
	*out = normalize(raw, l->path);
	return n;
}

START_TEST(test_conf_keys)
{
	struct loaded l;

	load(&l, "");
	ck_assert_int_eq(l.n, 0);
	ck_assert_uint_eq(l.conf.tls_min_version, CONF_TLS_1_2);
	ck_assert_uint_eq(l.conf.tls_handshake_timeout_ms, 10000);
	ck_assert_str_eq(l.conf.tls_certificate, "");
	ck_assert_str_eq(l.conf.tls_key, "");
	ck_assert_str_eq(l.conf.tls_client_ca, "");
	ck_assert_str_eq(l.conf.tls_client_crl, "");
	ck_assert_str_eq(l.conf.tls_ciphers, "");
	ck_assert_str_eq(l.conf.tls_ciphersuites, "");
	ck_assert(!tls_conf_enabled(&l.conf));
	ck_assert_uint_eq(conf_key_line(&l.conf, "tls_certificate"), 0);
	unload(&l);

	load(&l,
	    "# TLS\n"
	    "tls_certificate = /etc/calcd/cert.pem\n"
	    "tls_key = /etc/calcd/key.pem\n"
	    "\n"
	    "tls_client_ca = /etc/calcd/ca.pem\n"
	    "tls_client_crl = /etc/calcd/crl.pem\n"
	    "tls_min_version = 1.3\n"
	    "tls_handshake_timeout = 2500ms\n"
	    "tls_ciphers = ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256\n"
	    "tls_ciphersuites = TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256\n");
	ck_assert_str_eq(l.errs, "");
	ck_assert_str_eq(l.conf.tls_certificate, "/etc/calcd/cert.pem");
	ck_assert_str_eq(l.conf.tls_key, "/etc/calcd/key.pem");
	ck_assert_str_eq(l.conf.tls_client_ca, "/etc/calcd/ca.pem");
	ck_assert_str_eq(l.conf.tls_client_crl, "/etc/calcd/crl.pem");
	ck_assert_uint_eq(l.conf.tls_min_version, CONF_TLS_1_3);
	ck_assert_uint_eq(l.conf.tls_handshake_timeout_ms, 2500);
	ck_assert_str_eq(l.conf.tls_ciphers, "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256");
	ck_assert_str_eq(l.conf.tls_ciphersuites, "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256");
	ck_assert(tls_conf_enabled(&l.conf));
	ck_assert_uint_eq(conf_key_line(&l.conf, "tls_certificate"), 2);
	ck_assert_uint_eq(conf_key_line(&l.conf, "tls_client_ca"), 5);
	ck_assert_uint_eq(conf_key_line(&l.conf, "tls_ciphersuites"), 10);
	ck_assert_uint_eq(conf_key_line(&l.conf, "listen"), 0);
	ck_assert_uint_eq(conf_key_line(&l.conf, "no_such_key"), 0);
	unload(&l);

	load(&l,
	    "tls_min_version = 1.1\n"
	    "tls_handshake_timeout = 50ms\n"
	    "tls_certificate = cert.pem\n"
	    "tls_ciphers = HIGH MEDIUM\n"
	    "tls_handshake_timeout = 11m\n"
	    "tls_ciphersuites =\n"
	    "tls_min_version = TLSv1.3\n");
	ck_assert_int_eq(l.n, 7);
	ck_assert_str_eq(l.errs,
	    "calcd.conf:1: tls_min_version: unknown value '1.1' (1.2|1.3)\n"
	    "calcd.conf:2: tls_handshake_timeout: value out of range (100ms .. 10m)\n"
	    "calcd.conf:3: tls_certificate: must be an absolute path\n"
	    "calcd.conf:4: tls_ciphers: space or control character in value\n"
	    "calcd.conf:5: tls_handshake_timeout: duplicate key (first set on line 2)\n"
	    "calcd.conf:6: tls_ciphersuites: empty value\n"
	    "calcd.conf:7: tls_min_version: duplicate key (first set on line 1)\n");
	unload(&l);
}
END_TEST

START_TEST(test_conf_check)
{
	struct loaded	 l;
	char		*out, *text, *want;
	size_t		 len = 4 * PATH_MAX;

	ck_assert_ptr_nonnull(text = malloc(len));
	ck_assert_ptr_nonnull(want = malloc(len));

	/* No TLS configured, none needed: nothing read, nothing said. */
	load(&l, "listen = 127.0.0.1:9090\n");
	ck_assert_int_eq(check_conf(&l, false, &out), 0);
	ck_assert_str_eq(out, "");
	free(out);
	ck_assert_int_eq(check_conf(&l, true, &out), 1);
	ck_assert_str_eq(out, "calcd.conf:1: listen: a tls listen line needs tls_certificate "
	    "(and tls_key)\n");
	free(out);
	unload(&l);

	/* Keys without tls_certificate. */
	(void)snprintf(text, len, "log_level = info\ntls_key = %s\ntls_client_ca = %s\n",
	    cert("server.key"), cert("ca.pem"));
	load(&l, text);
	ck_assert_int_eq(check_conf(&l, false, &out), 2);
	ck_assert_str_eq(out, "calcd.conf:2: tls_key: set without tls_certificate\n"
	    "calcd.conf:3: tls_client_ca: set without tls_certificate\n");
	free(out);
	unload(&l);

	/* A good set. */
	(void)snprintf(text, len, "tls_certificate = %s\ntls_key = %s\ntls_client_ca = %s\n"
	    "tls_client_crl = %s\n", cert("server.pem"), cert("server.key"), cert("ca.pem"),
	    cert("crl.pem"));
	load(&l, text);
	ck_assert_int_eq(check_conf(&l, true, &out), 0);
	ck_assert_str_eq(out, "");
	free(out);
	unload(&l);

	/* The key that does not match is on line 5. */
	(void)snprintf(text, len, "# calcd\ntls_certificate = %s\nworkers = 2\n\ntls_key = %s\n",
	    cert("server.pem"), cert("server2.key"));
	load(&l, text);
	ck_assert_int_eq(check_conf(&l, false, &out), 1);
	(void)snprintf(want, len, "calcd.conf:5: tls_key: the key in %s does not match the "
	    "certificate in %s\n", cert("server2.key"), cert("server.pem"));
	ck_assert_str_eq(out, want);
	free(out);
	unload(&l);

	/* A missing CA file, on its line. */
	(void)snprintf(text, len, "tls_certificate = %s\ntls_key = %s\n\n\ntls_client_ca = %s\n",
	    cert("server.pem"), cert("server.key"), cert("nowhere.pem"));
	load(&l, text);
	ck_assert_int_eq(check_conf(&l, false, &out), 1);
	(void)snprintf(want, len, "calcd.conf:5: tls_client_ca: cannot open %s: No such file or "
	    "directory\n", cert("nowhere.pem"));
	ck_assert_str_eq(out, want);
	free(out);
	unload(&l);

	/* A bad cipher list. */
	(void)snprintf(text, len, "tls_certificate = %s\ntls_key = %s\ntls_ciphers = BOGUS\n",
	    cert("server.pem"), cert("server.key"));
	load(&l, text);
	ck_assert_int_eq(check_conf(&l, false, &out), 1);
	ck_assert_str_eq(out, "calcd.conf:3: tls_ciphers: no cipher in 'BOGUS' is known to "
	    "OpenSSL (see openssl ciphers -v)\n");
	free(out);
	unload(&l);

	/* Warnings, not errors: an expired certificate, a key every user can read. */
	{
		char *open_key = write_file("expired-open.key", "", 0644), *copy;
		FILE *in = fopen(cert("expired.key"), "r"), *o = fopen(open_key, "w");
		int c;

		ck_assert_ptr_nonnull(in);
		ck_assert_ptr_nonnull(o);
		while ((c = getc(in)) != EOF)
			putc(c, o);
		fclose(in);
		fclose(o);
		ck_assert_int_eq(chmod(open_key, 0644), 0);
		(void)snprintf(text, len, "tls_certificate = %s\ntls_key = %s\n",
		    cert("expired.pem"), open_key);
		load(&l, text);
		ck_assert_int_eq(check_conf(&l, true, &out), 0);
		copy = strdup(open_key);
		(void)snprintf(want, len, "calcd.conf:1: tls_certificate: warning: the certificate in "
		    "%s expired on 2001-01-01 00:00:00 UTC\ncalcd.conf:2: tls_key: warning: %s is "
		    "readable by every user (mode 0644): chmod o-r it\n", cert("expired.pem"), copy);
		ck_assert_str_eq(out, want);
		free(out);
		free(copy);
		unload(&l);
		free(open_key);
	}
	free(text);
	free(want);
}
END_TEST

START_TEST(test_conf_context)
{
	struct loaded		 l;
	struct tls_context	*ctx;
	char			*text, *raw = NULL, describe[512];
	size_t			 len = 0;
	FILE			*errors;

	ck_assert_ptr_nonnull(text = malloc(4 * PATH_MAX));
	(void)snprintf(text, 4 * PATH_MAX, "tls_certificate = %s\ntls_client_ca = %s\n",
	    cert("server-combined.pem"), cert("ca.pem"));
	load(&l, text);
	ck_assert_int_eq(l.n, 0);
	ck_assert_ptr_nonnull(errors = open_memstream(&raw, &len));
	ctx = tls_conf_context(&l.conf, l.path, errors);
	fclose(errors);
	ck_assert_str_eq(raw, "");
	ck_assert_ptr_nonnull(ctx);
	tls_context_describe(ctx, describe, sizeof describe);
	ck_assert_msg(strstr(describe, "client certificates required (1 CA)") != NULL, "%s",
	    describe);
	tls_context_unref(ctx);
	free(raw);
	unload(&l);

	/* No certificate configured: no context, and nothing said. */
	load(&l, "");
	raw = NULL;
	ck_assert_ptr_nonnull(errors = open_memstream(&raw, &len));
	ck_assert_ptr_null(tls_conf_context(&l.conf, l.path, errors));
	fclose(errors);
	ck_assert_str_eq(raw, "");
	free(raw);
	unload(&l);
	free(text);
}
END_TEST

static Suite *
tls_suite(void)
{
	Suite	*s = suite_create("tls");
	TCase	*tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_detect_hello);
	tcase_add_test(tc, test_describe_plain);
	tcase_add_test(tc, test_handshake_and_echo);
	tcase_add_test(tc, test_request_with_finished);
	tcase_add_test(tc, test_tls12_client);
	tcase_add_test(tc, test_min_version_13_refuses_12);
	tcase_add_test(tc, test_default_min_version_refuses_11);
	tcase_add_test(tc, test_client_refuses_server_certificate);
	tcase_add_test(tc, test_no_shared_cipher);
	tcase_add_loop_test(tc, test_mtls_accepted, 0, 2);	/* TLS 1.3, TLS 1.2 */
	tcase_add_loop_test(tc, test_mtls_refused, 0, 2);
	tcase_add_test(tc, test_mtls_without_crl);
	tcase_add_test(tc, test_plain_client_on_tls_port);
	tcase_add_test(tc, test_closed_before_a_byte);
	tcase_add_test(tc, test_eof_in_handshake);
	tcase_add_test(tc, test_garbage_after_record_header);
	tcase_add_loop_test(tc, test_bytes_read_ahead, 0, 3);
	tcase_add_test(tc, test_pending);
	tcase_add_test(tc, test_large_transfer);
	tcase_add_test(tc, test_write_to_closed_peer);
	tcase_add_test(tc, test_renegotiation_refused);
	tcase_add_test(tc, test_context_file_errors);
	tcase_add_test(tc, test_context_unreadable_key);
	tcase_add_test(tc, test_context_good_settings);
	tcase_add_test(tc, test_reload);
	tcase_add_test(tc, test_conf_keys);
	tcase_add_test(tc, test_conf_check);
	tcase_add_test(tc, test_conf_context);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner		*sr;
	const char	*script = getenv("CALCD_TEST_DIR") != NULL ? NULL : TEST_TLS_MAKE_CERTS;
	char		 path[PATH_MAX], cmd[3 * PATH_MAX];
	int		 failed;

	/* make check says where the sources are; else the build's own path. */
	if (script == NULL) {
		(void)snprintf(path, sizeof path, "%s/tls/make-certs.sh", getenv("CALCD_TEST_DIR"));
		script = path;
	}
	(void)snprintf(certs_dir, sizeof certs_dir, "/tmp/test_tls.XXXXXX");
	if (mkdtemp(certs_dir) == NULL) {
		perror("test_tls: mkdtemp");
		return 99;
	}
	(void)snprintf(cmd, sizeof cmd, "sh '%s' '%s'", script, certs_dir);
	if (system(cmd) != 0) {
		fprintf(stderr, "test_tls: %s failed (is openssl(1) installed?)\n", cmd);
		return 99;
	}
	/* A test's own client writes through a plain fd: its SIGPIPE is no failure. */
	signal(SIGPIPE, SIG_IGN);
	sr = srunner_create(tls_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	(void)snprintf(cmd, sizeof cmd, "rm -rf '%s'", certs_dir);
	(void)system(cmd);
	return failed == 0 ? 0 : 1;
}
