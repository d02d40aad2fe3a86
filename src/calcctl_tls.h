/*
 * calcctl_tls: calcctl's TLS client, over OpenSSL 3 — the client context
 * made from --ca, --cert and --key (the server's certificate verified
 * against --ca or the system's store, and its name or address checked
 * against the host calcctl was given), and the one session over the
 * connected, non-blocking socket.  Each call is one step: it says
 * whether to wait for the socket before calling again, so the caller
 * keeps its one deadline.  Knows nothing of Thrift.
 */
#ifndef CALCD_CALCCTL_TLS_H
#define CALCD_CALCCTL_TLS_H

#include <stdbool.h>
#include <stddef.h>

#define CALCCTL_TLS_ERROR_LEN	384

/* The options, as given; a NULL file is not given. */
struct calcctl_tls_config {
	const char	*ca;	/* PEM CA certificates to trust; NULL: the system's store */
	const char	*cert;	/* PEM client certificate (and chain); NULL: none */
	const char	*key;	/* its PEM key, unencrypted; NULL: in cert's file */
};

struct calcctl_tls;

/* What a step did: WANT_*: wait for the socket, then make the same call again. */
enum calcctl_tls_io {
	CALCCTL_TLS_DONE = 0,
	CALCCTL_TLS_WANT_READ,
	CALCCTL_TLS_WANT_WRITE,
	CALCCTL_TLS_CLOSED,	/* the server closed the connection (close_notify or end of file) */
	CALCCTL_TLS_ERROR,	/* calcctl_tls_error says why */
};

/*
 * A client for host (a name: checked against the certificate's DNS names
 * and sent as SNI; an IPv4 or IPv6 address: checked against its IP
 * addresses), its files read now: NULL with error filled ("--ca FILE:
 * ...") when one cannot be used.
 */
struct calcctl_tls *calcctl_tls_new(const struct calcctl_tls_config *, const char *host,
		    char *error, size_t len);
void		 calcctl_tls_free(struct calcctl_tls *);

/* Start a session on fd (connected; stays the caller's to close): -1 with the error. */
int		 calcctl_tls_attach(struct calcctl_tls *, int fd);
/* One step of the handshake; DONE once the server's certificate is verified. */
enum calcctl_tls_io calcctl_tls_handshake(struct calcctl_tls *);
/* Up to len bytes: DONE with *got > 0, or WANT_*, CLOSED, ERROR with *got = 0. */
enum calcctl_tls_io calcctl_tls_read(struct calcctl_tls *, void *buf, size_t len, size_t *got);
/* Some of data[0..len): DONE with *written > 0, or WANT_* (retry with the same bytes), ERROR. */
enum calcctl_tls_io calcctl_tls_write(struct calcctl_tls *, const void *data, size_t len,
		    size_t *written);
/* Send close_notify: DONE, WANT_* or ERROR.  Reading goes on after it. */
enum calcctl_tls_io calcctl_tls_shutdown(struct calcctl_tls *);

/* Why the last step failed: "certificate verify failed: ...". */
const char	*calcctl_tls_error(const struct calcctl_tls *);
/* For -v, once the handshake is done: "TLSv1.3 TLS_AES_256_GCM_SHA384, server CN=..." */
void		 calcctl_tls_describe(const struct calcctl_tls *, char *out, size_t len);

#endif
