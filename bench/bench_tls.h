/*
 * bench_tls: the TLS client side of calcd-bench (OpenSSL).  One client
 * context for the run; a blocking handshake on a connected socket, then
 * non-blocking reads and writes on it, where "would block" (OpenSSL's
 * WANT_READ or WANT_WRITE) is EAGAIN: try again on the next event.
 * Knows nothing of Thrift.
 */
#ifndef BENCH_TLS_H
#define BENCH_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct bench_tls;

/*
 * Make the run's client context: verify the server against ca_file (its
 * certificate must name host) if ca_file is set, else verify nothing;
 * present cert_file/key_file if set.  0, or -1 with the reason in err.
 */
int	bench_tls_init(const char *ca_file, const char *cert_file, const char *key_file,
	    const char *host, char *err, size_t err_len);

/*
 * A full handshake (never a resumed session) on fd, a connected blocking
 * socket; the socket may be made non-blocking afterwards.  The new
 * connection, or NULL with errno EPROTO and bench_tls_error() saying why.
 */
struct bench_tls *bench_tls_handshake(int fd);

/* Like send(2)/recv(2): bytes moved; -1 with errno EAGAIN to try again on
 * the next event; recv 0 at the server's close; -1 with errno EPROTO on a
 * TLS error, which bench_tls_error() then describes. */
ssize_t	bench_tls_send(struct bench_tls *t, const void *buf, size_t len);
ssize_t	bench_tls_recv(struct bench_tls *t, void *buf, size_t len);

/* Whether t holds received bytes a recv would return without reading the
 * socket, which epoll does not report (decrypted, or read ahead). */
bool	bench_tls_pending(const struct bench_tls *t);

/* The calling thread's last TLS error, or strerror(errno) if none. */
const char *bench_tls_error(void);

/* Send close_notify (without waiting for the server's) and free t; the
 * caller closes the socket. */
void	bench_tls_close(struct bench_tls *t);

/* What the first handshake negotiated, for the report: "TLSv1.3
 * TLS_AES_256_GCM_SHA384 X25519, server key EC 256 bits, verified" (spaces
 * inside) or as key=value words for --kv. */
void	bench_tls_describe(char *text, size_t len, bool kv);

#endif
