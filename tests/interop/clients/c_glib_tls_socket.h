/*
 * calcd interop client over TLS, C GLib: what tests/tls/interop.sh's C GLib
 * TLS client uses in place of c_glib_client.c's ThriftSocket: a
 * ThriftSSLSocket (libthrift-c-glib).  It is built from c_glib_client.c with
 * its `g_object_new(THRIFT_TYPE_SOCKET, "hostname", host, "port", port, NULL)`
 * replaced by calcd_tls_socket(host, port) and this header force-included
 * (gcc -include).
 *
 * The TLS settings come from the environment:
 *   CALCD_TLS_CA     PEM file of the CA that signed calcd's certificate (required)
 *   CALCD_TLS_CERT   the client's certificate, for mutual TLS (with CALCD_TLS_KEY)
 *   CALCD_TLS_KEY    its key
 * The library has no call for a client certificate, so it goes into the
 * socket's own SSL_CTX.  Its authorization checks OpenSSL's verification of
 * calcd's chain and then asks a manager callback, which checks the
 * certificate names HOST.  The library's newest protocol (LATEST) is TLS 1.2.
 */
#ifndef CALCD_INTEROP_C_GLIB_TLS_SOCKET_H
#define CALCD_INTEROP_C_GLIB_TLS_SOCKET_H

#include <stdio.h>
#include <stdlib.h>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <thrift/c_glib/transport/thrift_ssl_socket.h>

static const char *calcd_tls_host;

static gboolean
calcd_tls_authorize(ThriftTransport *transport, X509 *cert, struct sockaddr_storage *addr,
    GError **error)
{
	(void)transport;
	(void)addr;
	if (X509_check_ip_asc(cert, calcd_tls_host, 0) == 1 ||
	    X509_check_host(cert, calcd_tls_host, 0, 0, NULL) == 1)
		return TRUE;
	g_set_error(error, THRIFT_TRANSPORT_ERROR, THRIFT_SSL_SOCKET_ERROR_SSL_CERT_VALIDATION_FAILED,
	    "calcd's certificate is not for %s", calcd_tls_host);
	return FALSE;
}

static ThriftSocket *
calcd_tls_socket(const char *host, int port)
{
	const char	*ca = getenv("CALCD_TLS_CA");
	const char	*cert = getenv("CALCD_TLS_CERT");
	const char	*key = getenv("CALCD_TLS_KEY");
	GError		*error = NULL;
	ThriftSSLSocket	*sock;

	if (ca == NULL || *ca == '\0') {
		printf("FAIL: CALCD_TLS_CA is not set\n");
		exit(2);
	}
	calcd_tls_host = host;
	thrift_ssl_socket_initialize_openssl();
	sock = thrift_ssl_socket_new_with_host(LATEST, (gchar *)host, (guint)port, &error);
	if (sock == NULL) {
		printf("FAIL: TLS setup: %s\n", error != NULL ? error->message : "no socket");
		exit(1);
	}
	if (!thrift_ssl_load_cert_from_file(sock, ca)) {
		printf("FAIL: TLS setup: cannot load %s\n", ca);
		exit(1);
	}
	/* Fail in the handshake on a bad chain, not only in the check after it. */
	SSL_CTX_set_verify(sock->ctx, SSL_VERIFY_PEER, NULL);
	if (cert != NULL && *cert != '\0' &&
	    (SSL_CTX_use_certificate_chain_file(sock->ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(sock->ctx, key, SSL_FILETYPE_PEM) != 1)) {
		printf("FAIL: TLS setup: cannot load %s or %s\n", cert, key);
		exit(1);
	}
	thrift_ssl_socket_set_manager(sock, calcd_tls_authorize);
	return THRIFT_SOCKET(sock);
}

#endif
