/*
 * calcctl_net: calcctl's connection (see calcctl_net.h).  The socket is
 * non-blocking and every wait is a poll() bounded by the one deadline the
 * whole call has, TLS handshakes, reads and writes included.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "calcctl_net.h"
#include "calcctl_tls.h"

#define CALCCTL_NET_READ_SIZE	65536

int64_t
calcctl_net_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
calcctl_net_init(struct calcctl_net *n, const char *host, const char *port,
    int64_t timeout_ms, bool verbose)
{
	memset(n, 0, sizeof *n);
	n->host = host;
	n->port = port;
	n->timeout = timeout_ms;
	n->deadline = calcctl_net_now() + timeout_ms;
	n->verbose = verbose;
	n->fd = -1;
}

static int
calcctl_net_fail(struct calcctl_net *n, bool timed_out, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
calcctl_net_fail(struct calcctl_net *n, bool timed_out, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(n->error, sizeof n->error, fmt, ap);	/* cut short if need be */
	va_end(ap);
	n->timed_out = timed_out;
	return -1;
}

/* Wait for events on n->fd: 1 when ready, 0 at the deadline, -1 on error. */
static int
calcctl_net_wait(struct calcctl_net *n, short events)
{
	struct pollfd	pfd = { .fd = n->fd, .events = events };
	int64_t		left;
	int		rc;

	for (;;) {
		if ((left = n->deadline - calcctl_net_now()) <= 0)
			return 0;
		rc = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (rc > 0)
			return 1;
		if (rc < 0 && errno != EINTR)
			return -1;
	}
}

/* "127.0.0.1" or "[::1]", for messages. */
static void
calcctl_net_format(const struct sockaddr *sa, char *out, size_t size)
{
	char text[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, text,
		    sizeof text);
		(void)snprintf(out, size, "[%s]", text);
	} else {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, text,
		    sizeof text);
		(void)snprintf(out, size, "%s", text);
	}
}

/* One address: 0 with n->fd connected, else an errno (ETIMEDOUT at the deadline). */
static int
calcctl_net_try(struct calcctl_net *n, const struct addrinfo *ai)
{
	socklen_t	len = sizeof(int);
	int		fd, err = 0, rc;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    ai->ai_protocol);
	if (fd == -1)
		return errno;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
		n->fd = fd;
		return 0;
	}
	if (errno != EINPROGRESS && errno != EINTR) {
		err = errno;
		close(fd);
		return err;
	}
	n->fd = fd;
	rc = calcctl_net_wait(n, POLLOUT);
	if (rc == 0)
		err = ETIMEDOUT;
	else if (rc < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	if (err != 0) {
		close(fd);
		n->fd = -1;
	}
	return err;
}

/* Wait as a TLS step asks: 1 when ready, else -1 with n->error ("timed out ... WHILE"). */
static int
calcctl_net_tls_wait(struct calcctl_net *n, enum calcctl_tls_io io, const char *during)
{
	int rc = calcctl_net_wait(n, io == CALCCTL_TLS_WANT_WRITE ? POLLOUT : POLLIN);

	if (rc == 0)
		return calcctl_net_fail(n, true, "timed out after %g s%s%s",
		    (double)n->timeout / 1000.0, *during != '\0' ? " " : "", during);
	if (rc < 0)
		return calcctl_net_fail(n, false, "poll: %s", strerror(errno));
	return 1;
}

/* The TLS handshake on n->fd, connected: 0, or -1 with n->error. */
static int
calcctl_net_handshake(struct calcctl_net *n)
{
	enum calcctl_tls_io	io;
	char			text[256];

	if (calcctl_tls_attach(n->tls, n->fd) != 0)
		return calcctl_net_fail(n, false, "%s", calcctl_tls_error(n->tls));
	while ((io = calcctl_tls_handshake(n->tls)) != CALCCTL_TLS_DONE) {
		if (io == CALCCTL_TLS_ERROR)
			return calcctl_net_fail(n, false, "TLS handshake failed: %s",
			    calcctl_tls_error(n->tls));
		if (calcctl_net_tls_wait(n, io, "in the TLS handshake") < 0)
			return -1;
	}
	if (n->verbose) {
		calcctl_tls_describe(n->tls, text, sizeof text);
		fprintf(stderr, "calcctl: TLS: %s\n", text);
	}
	return 0;
}

int
calcctl_net_connect(struct calcctl_net *n)
{
	struct addrinfo	 hints, *res, *ai;
	char		 addr[INET6_ADDRSTRLEN + 2], tried[CALCCTL_NET_ERROR_LEN / 2] = "";
	size_t		 used = 0;
	unsigned	 count = 0;
	int		 rc, err = 0;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	hints.ai_flags = AI_NUMERICSERV;
	if ((rc = getaddrinfo(n->host, n->port, &hints, &res)) != 0)
		return calcctl_net_fail(n, false, "cannot resolve the host: %s",
		    rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		count++;
		calcctl_net_format(ai->ai_addr, addr, sizeof addr);
		if (n->verbose)
			fprintf(stderr, "calcctl: connecting to %s port %s\n", addr, n->port);
		if ((err = calcctl_net_try(n, ai)) == 0) {
			if (n->verbose)
				fprintf(stderr, "calcctl: connected to %s port %s\n", addr, n->port);
			freeaddrinfo(res);
			return n->tls != NULL ? calcctl_net_handshake(n) : 0;
		}
		if (n->verbose)
			fprintf(stderr, "calcctl: %s port %s: %s\n", addr, n->port, strerror(err));
		if (err == ETIMEDOUT && calcctl_net_now() >= n->deadline) {
			freeaddrinfo(res);
			return calcctl_net_fail(n, true, "timed out after %g s connecting to %s",
			    (double)n->timeout / 1000.0, addr);
		}
		if (used < sizeof tried) {
			rc = snprintf(tried + used, sizeof tried - used, "%s%s: %s",
			    used ? "; " : "", addr, strerror(err));
			used += rc > 0 ? (size_t)rc : 0;
		}
	}
	freeaddrinfo(res);
	if (count == 1)
		return calcctl_net_fail(n, false, "cannot connect: %s", strerror(err));
	return calcctl_net_fail(n, false, "cannot connect to any of its %u addresses: %s",
	    count, tried);
}

static int
calcctl_net_tls_send(struct calcctl_net *n, const uint8_t *p, size_t len)
{
	enum calcctl_tls_io	io;
	size_t			w;

	while (len > 0) {
		if ((io = calcctl_tls_write(n->tls, p, len, &w)) == CALCCTL_TLS_DONE) {
			p += w;
			len -= w;
		} else if (io == CALCCTL_TLS_ERROR) {
			return calcctl_net_fail(n, false, "cannot send the call: %s",
			    calcctl_tls_error(n->tls));
		} else if (calcctl_net_tls_wait(n, io, "sending the call") < 0) {
			return -1;
		}
	}
	return 0;
}

int
calcctl_net_send(struct calcctl_net *n, const void *data, size_t len)
{
	const uint8_t	*p = data;
	ssize_t		 w;
	int		 rc;

	if (n->tls != NULL)
		return calcctl_net_tls_send(n, p, len);
	while (len > 0) {
		if ((w = send(n->fd, p, len, MSG_NOSIGNAL)) >= 0) {
			p += w;
			len -= (size_t)w;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return calcctl_net_fail(n, false, "cannot send the call: %s",
			    strerror(errno));
		if ((rc = calcctl_net_wait(n, POLLOUT)) == 0)
			return calcctl_net_fail(n, true, "timed out after %g s sending the call",
			    (double)n->timeout / 1000.0);
		if (rc < 0)
			return calcctl_net_fail(n, false, "poll: %s", strerror(errno));
	}
	return 0;
}

int
calcctl_net_shutdown(struct calcctl_net *n)
{
	enum calcctl_tls_io io;

	while (n->tls != NULL && (io = calcctl_tls_shutdown(n->tls)) != CALCCTL_TLS_DONE) {
		if (io == CALCCTL_TLS_ERROR || io == CALCCTL_TLS_CLOSED)
			return calcctl_net_fail(n, false, "cannot close: %s",
			    calcctl_tls_error(n->tls));
		if (calcctl_net_tls_wait(n, io, "sending the TLS close_notify") < 0)
			return -1;
	}
	/*
	 * ENOTCONN: the server has already reset the connection (a TLS server
	 * that refused our certificate after our call was sent, say).  What it
	 * sent before the reset is still to be read, and the read says why.
	 */
	if (shutdown(n->fd, SHUT_WR) != 0 && errno != ENOTCONN)
		return calcctl_net_fail(n, false, "shutdown: %s", strerror(errno));
	return 0;
}

static ssize_t
calcctl_net_tls_recv(struct calcctl_net *n, struct buf *in, size_t room)
{
	enum calcctl_tls_io	io;
	size_t			got;

	for (;;) {
		io = calcctl_tls_read(n->tls, in->data + in->len, room, &got);
		if (io == CALCCTL_TLS_DONE) {
			in->len += got;
			return (ssize_t)got;
		}
		if (io == CALCCTL_TLS_CLOSED)
			return 0;
		if (io == CALCCTL_TLS_ERROR)
			return calcctl_net_fail(n, false, "%s", calcctl_tls_error(n->tls));
		if (calcctl_net_tls_wait(n, io, "") < 0)
			return -1;
	}
}

ssize_t
calcctl_net_recv(struct calcctl_net *n, struct buf *in)
{
	size_t	room;
	ssize_t	r;
	int	rc;

	if (in->len >= in->limit)
		return calcctl_net_fail(n, false, "more than %zu bytes arrived", in->limit);
	room = in->limit - in->len;
	if (room > CALCCTL_NET_READ_SIZE)
		room = CALCCTL_NET_READ_SIZE;
	if (buf_reserve(in, room) != 0)
		return calcctl_net_fail(n, false, "out of memory");
	if (n->tls != NULL)
		return calcctl_net_tls_recv(n, in, room);
	for (;;) {
		if ((r = recv(n->fd, in->data + in->len, room, 0)) >= 0) {
			in->len += (size_t)r;
			return r;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return calcctl_net_fail(n, false, "%s", strerror(errno));
		if ((rc = calcctl_net_wait(n, POLLIN)) == 0)
			return calcctl_net_fail(n, true, "timed out after %g s",
			    (double)n->timeout / 1000.0);
		if (rc < 0)
			return calcctl_net_fail(n, false, "poll: %s", strerror(errno));
	}
}

void
calcctl_net_close(struct calcctl_net *n)
{
	if (n->fd != -1)
		close(n->fd);
	n->fd = -1;
}

void
calcctl_net_hexdump(FILE *f, const char *prefix, const uint8_t *p, size_t len)
{
	for (size_t off = 0; off < len; off += 16) {
		size_t	count = len - off < 16 ? len - off : 16;
		char	text[17];

		fprintf(f, "%s %04zx ", prefix, off);
		for (size_t i = 0; i < 16; i++) {
			if (i < count)
				fprintf(f, " %02x", p[off + i]);
			else
				fputs("   ", f);
		}
		for (size_t i = 0; i < count; i++) {
			if (p[off + i] >= 0x20 && p[off + i] < 0x7f)
				text[i] = (char)p[off + i];
			else
				text[i] = '.';
		}
		text[count] = '\0';
		fprintf(f, "  |%s|\n", text);
	}
}
