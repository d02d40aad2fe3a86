/*
 * calcctl_net: calcctl's one TCP connection under a deadline — resolving,
 * connecting to each address in turn, sending, receiving with poll(),
 * over TLS when given a calcctl_tls client — and the hex dumps of -v.
 * Knows nothing of Thrift.
 */
#ifndef CALCD_CALCCTL_NET_H
#define CALCD_CALCCTL_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "buf.h"

#define CALCCTL_NET_ERROR_LEN	512

struct calcctl_tls;

struct calcctl_net {
	const char	*host;
	const char	*port;
	int64_t		 timeout;	/* milliseconds, for messages */
	int64_t		 deadline;	/* CLOCK_MONOTONIC, in milliseconds */
	bool		 verbose;
	int		 fd;
	struct calcctl_tls *tls;	/* NULL: plain TCP; else the caller's, used once connected */
	bool		 timed_out;	/* the last failure was the deadline */
	char		 error[CALCCTL_NET_ERROR_LEN];	/* why the last call failed */
};

/* Milliseconds on the monotonic clock. */
int64_t	calcctl_net_now(void);

/* Set up n for host and port with timeout_ms for everything that follows. */
void	calcctl_net_init(struct calcctl_net *, const char *host, const char *port,
	    int64_t timeout_ms, bool verbose);
/*
 * Connect to the first of host's addresses that answers, then, with
 * n->tls set, make the TLS handshake on that connection; -1 with n->error
 * ("TLS handshake failed: ...").
 */
int	calcctl_net_connect(struct calcctl_net *);
int	calcctl_net_send(struct calcctl_net *, const void *, size_t);
/* Stop sending: the peer sees end of file (after a TLS close_notify). */
int	calcctl_net_shutdown(struct calcctl_net *);
/*
 * Append what arrives to in: the number of bytes read, 0 at end of file,
 * -1 with n->error on error, timeout, or when in is full.
 */
ssize_t	calcctl_net_recv(struct calcctl_net *, struct buf *in);
void	calcctl_net_close(struct calcctl_net *);

/* Hex and ASCII, 16 bytes a line, each line starting with prefix. */
void	calcctl_net_hexdump(FILE *, const char *prefix, const uint8_t *, size_t);

#endif
