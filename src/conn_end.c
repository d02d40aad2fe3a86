/*
 * conn_end: how connections end — lingering after the last reply (input
 * read and dropped after the sending side is shut, because closing a
 * socket with unread input makes the kernel send RST, and a RST destroys
 * replies the peer has not read), the drain and finish of a stop, and
 * which connection is closed to admit a new one under pressure.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn_private.h"

/* --- the end of a connection: close, or linger ------------------------------ */

/*
 * Read and drop what the peer sends, now that calcd answers no more:
 * closing with it unread would reset the connection.  Closes c at EOF
 * (or a reset: nothing left to protect).  -1 if c is gone.
 */
int
conn_discard(struct conn *c)
{
	for (int i = 0; i < 16; i++) {
		ssize_t n = recv(c->fd, c->env->scratch, c->env->scratch_len, 0);

		if (n > 0)
			continue;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		log_debug("%s: closed after lingering", c->peer);
		conn_close(c, METRICS_CLOSE_SHUTDOWN);
		return -1;
	}
	return 0;
}

/*
 * Every reply is sent: shut the sending side (the peer reads EOF after
 * the last reply) and drop input until the peer closes.  -1 if c is gone.
 */
static int
conn_linger(struct conn *c)
{
	c->lingering = true;
	c->paused = false;
	buf_free(&c->in);
	conn_set_writing(c, false);
	if (c->tls != NULL)
		conn_tls_shutdown(c);	/* close_notify, then the TCP FIN */
	if (shutdown(c->fd, SHUT_WR) != 0) {
		log_debug("%s: shutdown: %s", c->peer, strerror(errno));
		conn_close(c, METRICS_CLOSE_SHUTDOWN);
		return -1;
	}
	conn_set_reading(c, true);
	return conn_discard(c);
}

/*
 * Nothing more will be answered and every reply is out: after the peer's
 * EOF nothing is left unread, so close; else linger.  -1 if c is gone.
 */
int
conn_end(struct conn *c)
{
	if (c->in.len > 0)
		log_info("%s: closed with %zu bytes of an unfinished %s", c->peer, c->in.len,
		    c->proxy_header ? "PROXY header" : "message");
	if (c->eof) {
		conn_close(c, METRICS_CLOSE_CLIENT);
		return -1;
	}
	return conn_linger(c);
}

/* --- admission under pressure: which connection makes room ----------------- */

static enum shed_class
conn_shed_class(struct shed_link *link, void *arg)
{
	const struct conn *c = (const struct conn *)(const void *)
	    ((const char *)link - offsetof(struct conn, shed));

	(void)arg;
	if (c->out.len > 0 || c->paused || c->writing)
		return SHED_BUSY;
	return c->in.len > 0 ? SHED_PARTIAL : SHED_IDLE;
}

bool
conn_shed_one(struct conn_loop *env)
{
	struct shed_link	*victim;
	struct conn		*c;
	enum shed_class		 class;

	if ((victim = shed_pick(&env->shed, conn_shed_class, NULL, &class)) == NULL)
		return false;
	c = (struct conn *)(void *)((char *)victim - offsetof(struct conn, shed));
	log_debug("%s: closed to admit a new connection (%s, %u from its address here)",
	    c->peer, class == SHED_IDLE ? "idle" : "partial message", shed_peer_count(victim));
	shed_note_shed(victim, class);
	conn_close(c, METRICS_CLOSE_SHED);
	return true;
}

void
conn_refuse(struct conn_loop *env, int fd, const struct sockaddr *sa)
{
	close(fd);
	shed_note_refused(sa);
	if (env->metrics != NULL) {
		metrics_add(&env->metrics->accepted, 1);
		metrics_add(&env->metrics->closed[METRICS_CLOSE_LIMIT], 1);
	}
}

void
conn_drain_all(struct conn_loop *env)
{
	env->draining = true;
}

size_t
conn_socket_queued(const struct conn *c)
{
	int queued = 0;

	return ioctl(c->fd, FIONREAD, &queued) != 0 || queued < 0 ? 0 : (size_t)queued;
}

/* Answer what c has received, by now, then end it (conn_end). */
static void
conn_finish(struct conn *c)
{
	size_t queued;

	if (c->finishing || c->lingering)
		return;
	c->finishing = true;
	/* Bytes in the socket now were sent before the end: they get answered. */
	queued = c->eof ? 0 : conn_socket_queued(c);
	c->input_left = queued;
	/*
	 * TLS: the socket's bytes are records, not plaintext.  Read until the
	 * session wants more than has arrived (conn_tls_read then ends the
	 * input); a handshake not yet done is not finished.
	 */
	if (c->tls != NULL)
		c->input_left = c->handshaking || (queued == 0 && !conn_tls_pending(c)) ? 0 :
		    SIZE_MAX;
	(void)conn_flush(c);
}

void
conn_finish_all(struct conn_loop *env)
{
	struct conn *c, *next;

	for (c = env->head; c != NULL; c = next) {
		next = c->next;
		conn_finish(c);
	}
}
