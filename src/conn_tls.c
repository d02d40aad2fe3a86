/*
 * conn_tls: a connection on a listener marked "tls" — its session (begun
 * at the accept, or once the PROXY header is done, with the bytes read
 * past it), the handshake driven by the socket's events and bounded by
 * tls_handshake_timeout, reads and writes through the session (a read
 * that must write first waits for writability, a write that must read
 * first for readability), and a close_notify at the end where it costs
 * nothing.  conn.c calls in here only where c->tls is set, so
 * connections in the clear pay nothing.
 */
#include <errno.h>
#include <stdint.h>

#include "conn_private.h"
#include "tls.h"

static struct log_ratelimit conn_tls_rl;

/* Count a failed handshake, log one line naming the peer, and close c. */
static void
conn_tls_fail(struct conn *c, enum tls_failure failure, const char *why)
{
	struct metrics_block	*m = c->env->metrics;
	bool			 quiet = failure == TLS_FAIL_EOF || failure == TLS_FAIL_IO;

	if (m != NULL && (unsigned)failure < METRICS_TLS_FAILURES)
		metrics_add(&m->tls_handshake_failures[failure], 1);
	log_limited(&conn_tls_rl, quiet ? LOG_LEVEL_INFO : LOG_LEVEL_WARNING,
	    "%s: closing connection: TLS handshake failed (%s): %s", c->peer,
	    tls_failure_name(failure), why);
	conn_close(c, METRICS_CLOSE_TLS_HANDSHAKE);
}

int
conn_tls_start(struct conn *c, const uint8_t *already, size_t len)
{
	struct tls_context *ctx = c->env->limits.tls != NULL ? tls_slot_get(c->env->limits.tls) :
	    NULL;

	if (ctx == NULL) {
		/* calcd -t and a reload refuse a tls line without a certificate: not expected. */
		conn_tls_fail(c, TLS_FAIL_INTERNAL, "no TLS certificate is configured");
		return -1;
	}
	c->tls = tls_session_new(ctx, c->fd, already, len);
	tls_context_unref(ctx);
	if (c->tls == NULL) {
		conn_tls_fail(c, TLS_FAIL_INTERNAL, "out of memory");
		return -1;
	}
	c->handshaking = true;
	/* tls_handshake_timeout counts from here (the accept, or the PROXY header's end). */
	c->message_started_ms = conn_activity_ms();
	return 0;
}

int
conn_tls_handshake(struct conn *c)
{
	char subject[256];

	switch (tls_session_handshake(c->tls)) {
	case TLS_IO_DONE:
		break;
	case TLS_IO_WANT_READ:
		conn_set_writing(c, false);
		conn_set_reading(c, true);
		return 0;
	case TLS_IO_WANT_WRITE:
		conn_set_reading(c, false);
		conn_set_writing(c, true);
		return 0;
	case TLS_IO_CLOSED:
		/* Connected and gone without a byte: a port check, not a failure. */
		log_debug("%s: closed before a TLS handshake", c->peer);
		conn_close(c, METRICS_CLOSE_CLIENT);
		return -1;
	case TLS_IO_ERROR:
	default:
		conn_tls_fail(c, tls_session_failure(c->tls), tls_session_error(c->tls));
		return -1;
	}
	c->handshaking = false;
	c->last_active_ms = conn_activity_ms();
	if (c->env->metrics != NULL)
		metrics_add(&c->env->metrics->tls_handshakes, 1);
	tls_session_peer(c->tls, subject, sizeof subject);
	log_debug("%s: TLS handshake done: %s, %s%s%s", c->peer, tls_session_version(c->tls),
	    tls_session_cipher(c->tls), subject[0] ? ", client " : "", subject);
	conn_set_writing(c, false);
	conn_set_reading(c, true);
	/* The first request may have come with the last handshake message: read it now. */
	event_active(&c->read_ev, EV_READ, 1);
	return 0;
}

/* After an error on an established session: one line, and the errno conn.c closes by. */
static void
conn_tls_log_error(struct conn *c, const char *what)
{
	enum tls_failure failure = tls_session_failure(c->tls);

	log_limited(&conn_error_rl, LOG_LEVEL_INFO, "%s: TLS %s failed (%s): %s", c->peer, what,
	    tls_failure_name(failure), tls_session_error(c->tls));
	errno = failure == TLS_FAIL_IO || failure == TLS_FAIL_EOF ? ECONNRESET : EPROTO;
}

ssize_t
conn_tls_read(struct conn *c, uint8_t *buf, size_t len)
{
	size_t got;

	if (c->tls_write_wants_read) {
		/* This read may finish what a write waits for: that write tries again. */
		c->tls_write_wants_read = false;
		conn_set_writing(c, true);
	}
	switch (tls_session_read(c->tls, buf, len, &got)) {
	case TLS_IO_DONE:
		if (c->finishing && !tls_session_pending(c->tls) && conn_socket_queued(c) == 0)
			c->input_left = got;	/* all that had come is read: conn_read counts it down to 0 */
		return (ssize_t)got;
	case TLS_IO_CLOSED:
		return 0;
	case TLS_IO_WANT_WRITE:
		/* The session must send before it reads on (a key update): wait to write. */
		c->tls_read_wants_write = true;
		conn_set_writing(c, true);
		/* FALLTHROUGH */
	case TLS_IO_WANT_READ:
		/* At a stop, what had arrived is read: nothing more will be answered. */
		if (c->finishing)
			c->input_left = 0;
		errno = EAGAIN;
		return -1;
	case TLS_IO_ERROR:
	default:
		conn_tls_log_error(c, "read");
		return CONN_TLS_FAILED;
	}
}

int
conn_tls_write(struct conn *c, const uint8_t *data, size_t len, size_t *written)
{
	switch (tls_session_write(c->tls, data, len, written)) {
	case TLS_IO_WANT_READ:
		/*
		 * The session must read before it writes on: SSL_write first
		 * finishes a handshake message the peer has begun (SSL_get_error(3):
		 * a write may want to read).  A TLS 1.3 KeyUpdate split over two
		 * records, the second not here yet, does it; so would a TLS 1.2
		 * ClientHello split the same way where OpenSSL reads one whole
		 * before refusing it (renegotiation is off, see tls.c; OpenSSL 3.0
		 * refuses at its first bytes, newer versions read it all first).
		 * The socket is writable all along: waiting to write would spin.
		 * Wait to read: conn_tls_kick sets the events, conn_tls_on_read
		 * tries the write again.
		 */
		if (!c->tls_write_wants_read)
			log_debug("%s: TLS: the reply waits for the client to finish a handshake "
			    "message", c->peer);
		c->tls_write_wants_read = true;
		/* FALLTHROUGH */
	case TLS_IO_DONE:
	case TLS_IO_WANT_WRITE:
		/* What was not taken stays in c->out: the same bytes go again when writable. */
		if (*written > 0) {
			c->last_active_ms = conn_activity_ms();
			if (c->env->metrics != NULL)
				metrics_add(&c->env->metrics->bytes_sent, *written);
		}
		return 0;
	case TLS_IO_CLOSED:
		errno = EPIPE;
		return -1;
	case TLS_IO_ERROR:
	default:
		conn_tls_log_error(c, "write");
		return -1;
	}
}

bool
conn_tls_on_write(struct conn *c)
{
	if (c->handshaking) {
		(void)conn_tls_handshake(c);
		return true;
	}
	if (c->tls_read_wants_write) {
		c->tls_read_wants_write = false;
		if (c->out.len == 0)
			conn_set_writing(c, false);
		return conn_read(c, c->fd) < 0 || c->out.len == 0;
	}
	return false;
}

bool
conn_tls_on_read(struct conn *c)
{
	if (!c->tls_write_wants_read)
		return false;
	/*
	 * What the write waited for has come: the write goes first, and reads
	 * it.  (Within this pass of the loop, before the socket is polled again;
	 * should it want to read still, it has read the socket dry.)
	 */
	c->tls_write_wants_read = false;
	event_active(&c->write_ev, EV_WRITE, 1);
	return true;
}

void
conn_tls_kick(struct conn *c)
{
	if (c->tls_write_wants_read) {
		/*
		 * A write waits to read: readable, not writable, says when to try
		 * again, whatever conn_flush decided (a full backlog, the peer's
		 * input done: the rest of the message must still be read).  No
		 * read is scheduled for bytes the session holds: the write that
		 * stopped has seen them, and would stop again at once.
		 */
		conn_set_writing(c, c->tls_read_wants_write);
		conn_set_reading(c, true);
		return;
	}
	/* Plaintext already inside the session: the socket will not say so. */
	if (c->reading && !c->handshaking && tls_session_pending(c->tls))
		event_active(&c->read_ev, EV_READ, 1);
}

bool
conn_tls_pending(const struct conn *c)
{
	return tls_session_pending(c->tls);
}

bool
conn_tls_overdue(struct conn *c, uint64_t now)
{
	uint64_t limit = c->env->limits.tls_handshake_timeout_ms;

	if (limit == 0 || now - c->message_started_ms < limit)
		return false;
	conn_tls_fail(c, TLS_FAIL_TIMEOUT, "not finished within tls_handshake_timeout");
	return true;
}

void
conn_tls_shutdown(struct conn *c)
{
	if (!c->handshaking)
		(void)tls_session_shutdown(c->tls);
}

void
conn_tls_free(struct conn *c)
{
	conn_tls_shutdown(c);
	tls_session_free(c->tls);
	c->tls = NULL;
}
