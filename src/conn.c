/*
 * conn: serving one connection.  Each read lands in the worker's scratch
 * buffer and is decoded in place; only the tail of a message that hasn't
 * fully arrived is copied into the connection's own input buffer.  The
 * replies to everything decoded from one read go out with one write.
 * While a peer's unsent replies pass max_output_buffer, calcd stops
 * decoding and reading it, so memory stays bounded whatever it sends.
 *
 * Also here: a connection's start and close, its timeouts (one sweep per
 * worker) and its events.  Its PROXY header is conn_proxy.c's; how it
 * ends at a stop, lingering, and shedding are conn_end.c's.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "conn_private.h"
#include "log.h"
#include "request.h"
#include "tls.h"
#include "sock.h"

static struct log_ratelimit conn_bad_input_rl;
struct log_ratelimit conn_error_rl;

static void	conn_on_read(evutil_socket_t, short, void *);
static void	conn_schedule_sweep(struct conn_loop *);
static void	conn_on_write(evutil_socket_t, short, void *);

void
conn_format_address(const struct sockaddr *sa, char *out, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";

	switch (sa->sa_family) {
	case AF_INET: {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof host);
		(void)snprintf(out, len, "%s:%u", host, ntohs(sin->sin_port));
		break;
	}
	case AF_INET6: {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof host);
		(void)snprintf(out, len, "[%s]:%u", host, ntohs(sin6->sin6_port));
		break;
	}
	default:
		(void)snprintf(out, len, "unix");
		break;
	}
}

/* A failed read or write: the peer went away (reset, pipe), or something else did. */
static enum metrics_close_reason
conn_io_close_reason(int err)
{
	return err == ECONNRESET || err == EPIPE || err == ETIMEDOUT ?
	    METRICS_CLOSE_CLIENT : METRICS_CLOSE_ERROR;
}

/* Monotonic nanoseconds, for call durations. */
static uint64_t
conn_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Count one answered message: its transport, protocol, method and outcome. */
static void
conn_count_call(struct metrics_block *m, const struct request_result *res, uint64_t ns)
{
	static const enum metrics_outcome outcomes[] = {
		[DISPATCH_OUTCOME_OK] = METRICS_OK,
		[DISPATCH_OUTCOME_EXCEPTION] = METRICS_EXCEPTION,
		[DISPATCH_OUTCOME_ERROR] = METRICS_ERROR,
	};
	enum metrics_transport transport = res->message.kind == TRANSPORT_FRAMED ?
	    METRICS_FRAMED : res->message.kind == TRANSPORT_HEADER ? METRICS_HEADER :
	    METRICS_BUFFERED;
	enum metrics_protocol protocol = res->message.proto == &proto_compact ?
	    METRICS_COMPACT : METRICS_BINARY;

	metrics_add(&m->requests[transport][protocol], 1);
	if (res->message.refusal == NULL)
		metrics_count_call(m, res->call.method_index, outcomes[res->call.outcome], ns);
}

/* Monotonic milliseconds, coarse (a vDSO read): timeouts don't need better. */
static uint64_t
conn_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * This thread's clock for its event loop's pass under way: read at the
 * first need in the pass (after the wait for events), then the same for
 * every recv and send in it, however many connections it serves.
 * Outside a pass (conn_loop_pass_begin to conn_loop_pass_end), every
 * call reads the clock.
 */
static __thread bool	 conn_in_pass;
static __thread uint64_t conn_pass_ms;

void
conn_loop_pass_begin(void)
{
	conn_in_pass = true;
	conn_pass_ms = 0;
}

void
conn_loop_pass_end(void)
{
	conn_in_pass = false;
}

uint64_t
conn_activity_ms(void)
{
	if (!conn_in_pass)
		return conn_now_ms();
	if (conn_pass_ms == 0)
		conn_pass_ms = conn_now_ms();
	return conn_pass_ms;
}

/*
 * The timeouts of every connection are checked by one periodic sweep per
 * worker rather than a timer per connection, so serving a call never
 * touches a timer: idle_timeout (nothing read or written),
 * message_timeout (a message started and not finished) and
 * tls_handshake_timeout (a TLS handshake begun and not finished).
 */
static void
conn_on_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct conn_loop			*env = arg;
	const struct conn_limits	*limits = &env->limits;
	struct conn			*c, *next;
	uint64_t			 now = conn_now_ms();

	(void)fd;
	(void)what;
	for (c = env->head; c != NULL; c = next) {
		next = c->next;
		if (conn_proxy_overdue(c, now))
			continue;
		if (c->tls != NULL && c->handshaking) {
			(void)conn_tls_overdue(c, now);
			continue;
		}
		if (c->in.len > 0 && !c->paused && limits->message_timeout_ms != 0 &&
		    now - c->message_started_ms >= limits->message_timeout_ms) {
			log_limited(&conn_bad_input_rl, LOG_LEVEL_WARNING,
			    "%s: closing connection: message not finished within "
			    "message_timeout (%zu bytes of it arrived)", c->peer, c->in.len);
			conn_close(c, METRICS_CLOSE_MESSAGE_TIMEOUT);
		} else if (limits->idle_timeout_ms != 0 &&
		    now - c->last_active_ms >= limits->idle_timeout_ms) {
			log_info("%s: %s for idle_timeout, closing", c->peer, c->out.len > 0 ?
			    "not reading its replies" : "idle");
			conn_close(c, METRICS_CLOSE_IDLE_TIMEOUT);
		}
	}
}

/* Sweep often enough that a timeout is late by at most a quarter (and 1 s). */
static void
conn_schedule_sweep(struct conn_loop *env)
{
	const struct conn_limits	*limits = &env->limits;
	uint64_t			 every = 1000;
	struct timeval			 tv;

	if (env->sweep_ev == NULL)
		return;
	event_del(env->sweep_ev);
	if (limits->idle_timeout_ms == 0 && limits->message_timeout_ms == 0 && limits->tls == NULL)
		return;
	if (limits->idle_timeout_ms != 0 && limits->idle_timeout_ms / 4 < every)
		every = limits->idle_timeout_ms / 4;
	if (limits->message_timeout_ms != 0 && limits->message_timeout_ms / 4 < every)
		every = limits->message_timeout_ms / 4;
	if (limits->tls != NULL && limits->tls_handshake_timeout_ms != 0 &&
	    limits->tls_handshake_timeout_ms / 4 < every)
		every = limits->tls_handshake_timeout_ms / 4;
	if (every < 10)
		every = 10;
	tv.tv_sec = (time_t)(every / 1000);
	tv.tv_usec = (suseconds_t)(every % 1000 * 1000);
	event_add(env->sweep_ev, &tv);
}

/*
 * The one place a connection's peer address is set: at accept, before the
 * per-peer table (shed) tracks it, and again from a PROXY header, when the
 * table counts it under the client's address from then on.  Logs name
 * c->peer.
 */
void
conn_set_peer(struct conn *c, const struct sockaddr *sa, socklen_t salen, bool tracked)
{
	if (salen > sizeof c->peer_addr)
		salen = sizeof c->peer_addr;
	memset(&c->peer_addr, 0, sizeof c->peer_addr);
	memcpy(&c->peer_addr, sa, salen);
	c->peer_addrlen = salen;
	conn_format_address(sa, c->peer, sizeof c->peer);
	if (tracked)
		shed_rekey(&c->env->shed, &c->shed, sa);
}

struct conn *
conn_new(struct conn_loop *env, int fd, const struct sockaddr *sa, socklen_t salen,
    unsigned flags)
{
	struct conn	*c;
	int		 one = 1;

	if ((c = calloc(1, sizeof *c)) == NULL) {
		log_limited(&conn_error_rl, LOG_LEVEL_ERROR, "out of memory for a connection");
		close(fd);
		return NULL;
	}
	c->env = env;
	c->fd = fd;
	c->proxy_header = (flags & CONN_PROXY) != 0;
	c->tls_after_proxy = c->proxy_header && (flags & CONN_TLS) != 0;
	conn_set_peer(c, sa, salen, false);
	/* Replies are whole messages: send them now, not after a delayed ACK. */
	if (sa->sa_family == AF_INET || sa->sa_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	buf_init(&c->in, env->limits.dispatch.max_message_size + env->scratch_len);
	buf_init(&c->out, env->reply.limit);
	event_assign(&c->read_ev, env->base, fd, EV_READ | EV_PERSIST, conn_on_read, c);
	event_assign(&c->write_ev, env->base, fd, EV_WRITE | EV_PERSIST, conn_on_write, c);
	c->last_active_ms = conn_now_ms();
	/* The PROXY header is due within message_timeout of the accept. */
	c->message_started_ms = c->last_active_ms;
	if (event_add(&c->read_ev, NULL) != 0) {
		log_limited(&conn_error_rl, LOG_LEVEL_ERROR, "%s: cannot watch the connection",
		    c->peer);
		close(fd);
		free(c);
		return NULL;
	}
	c->reading = true;
	c->next = env->head;
	if (env->head != NULL)
		env->head->prev = c;
	env->head = c;
	env->count++;
	shed_track(&env->shed, &c->shed, sa);
	if (env->metrics != NULL)
		metrics_add(&env->metrics->accepted, 1);
	log_debug("%s: connected", c->peer);
	if ((flags & CONN_TLS) != 0 && !c->proxy_header && conn_tls_start(c, NULL, 0) != 0)
		return NULL;
	return c;
}

void
conn_close(struct conn *c, enum metrics_close_reason reason)
{
	struct conn_loop *env = c->env;

	if (env->metrics != NULL)
		metrics_add(&env->metrics->closed[reason], 1);

	event_del(&c->read_ev);
	event_del(&c->write_ev);
	if (c->tls != NULL)
		conn_tls_free(c);
	close(c->fd);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		env->head = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	env->count--;
	shed_untrack(&env->shed, &c->shed);
	transport_free(&c->transport);
	buf_free(&c->in);
	buf_free(&c->out);
	log_debug("%s: closed", c->peer);
	free(c);
	if (env->on_close != NULL)
		env->on_close(env->on_close_arg);
}

void
conn_close_all(struct conn_loop *env)
{
	while (env->head != NULL)
		conn_close(env->head, METRICS_CLOSE_SHUTDOWN);
}

int
conn_loop_init(struct conn_loop *env, struct event_base *base, struct metrics_block *metrics,
    const struct conn_limits *limits)
{
	enum { CONN_SCRATCH_LEN = 64 * 1024 };

	memset(env, 0, sizeof *env);
	env->base = base;
	env->metrics_block = metrics;
	env->scratch_len = CONN_SCRATCH_LEN;
	if ((env->scratch = malloc(CONN_SCRATCH_LEN)) == NULL)
		return -1;
	buf_init(&env->reply, 0);
	shed_table_init(&env->shed);
	env->sweep_ev = event_new(base, -1, EV_PERSIST, conn_on_sweep, env);
	if (env->sweep_ev == NULL)
		return -1;
	conn_loop_set_limits(env, limits);
	return 0;
}

void
conn_loop_free(struct conn_loop *env)
{
	buf_free(&env->reply);
	shed_table_free(&env->shed);
	free(env->scratch);
	env->scratch = NULL;
	if (env->sweep_ev != NULL)
		event_free(env->sweep_ev);
	env->sweep_ev = NULL;
}

void
conn_loop_set_limits(struct conn_loop *env, const struct conn_limits *limits)
{
	env->limits = *limits;
	/* Counting costs a little per call: only while someone can read the counts. */
	env->metrics = limits->count_metrics ? env->metrics_block : NULL;
	/* A read's replies stop being gathered past max_output_buffer, plus one reply. */
	env->reply.limit = limits->max_output_buffer + limits->dispatch.max_message_size + 65536;
	conn_schedule_sweep(env);
}

void
conn_set_reading(struct conn *c, bool on)
{
	if (on == c->reading)
		return;
	if (on)
		event_add(&c->read_ev, NULL);
	else
		event_del(&c->read_ev);
	c->reading = on;
}

void
conn_set_writing(struct conn *c, bool on)
{
	if (on == c->writing)
		return;
	if (on)
		event_add(&c->write_ev, NULL);
	else
		event_del(&c->write_ev);
	c->writing = on;
}

/* Write what the socket takes now; -1 if the connection is dead. */
static int
conn_write_some(struct conn *c, const uint8_t *data, size_t len, size_t *written)
{
	ssize_t	n;
	int	err;

	*written = 0;
	if (c->tls != NULL)
		return conn_tls_write(c, data, len, written);
	while (*written < len) {
		n = sock_send(c->fd, data + *written, len - *written, MSG_NOSIGNAL);
		if (n > 0) {
			*written += (size_t)n;
			c->last_active_ms = conn_activity_ms();
			if (c->env->metrics != NULL)
				metrics_add(&c->env->metrics->bytes_sent, (uint64_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		err = n < 0 ? errno : EPIPE;
		log_limited(&conn_error_rl, LOG_LEVEL_INFO, "%s: write failed: %s", c->peer,
		    strerror(err));
		errno = err;	/* for the caller's close reason */
		return -1;
	}
	return 0;
}

/*
 * Send the replies gathered in env->reply behind any backlog and keep
 * what the socket won't take.  -1 if c is gone.
 */
static int
conn_send_replies(struct conn *c)
{
	struct buf	*reply = &c->env->reply;
	size_t		 written = 0;

	if (c->out.len == 0 && reply->len > 0) {
		if (conn_write_some(c, reply->data, reply->len, &written) != 0) {
			reply->len = 0;
			conn_close(c, conn_io_close_reason(errno));
			return -1;
		}
	}
	c->out.limit = reply->limit;
	if (written < reply->len && buf_append(&c->out, reply->data + written,
	    reply->len - written) != 0) {
		log_limited(&conn_error_rl, LOG_LEVEL_WARNING,
		    "%s: output backlog over its limit, closing", c->peer);
		reply->len = 0;
		conn_close(c, METRICS_CLOSE_LIMIT);
		return -1;
	}
	reply->len = 0;
	buf_shrink(reply, 1 << 20);
	return 0;
}

/* Send the replies, then decide whether to read on, wait, or end.  -1 if c is gone. */
int
conn_flush(struct conn *c)
{
	if (conn_send_replies(c) != 0)
		return -1;
	if (c->out.len == 0 && !c->paused && conn_input_done(c))
		return conn_end(c);
	conn_set_writing(c, c->out.len > 0);
	conn_set_reading(c, !conn_input_done(c) && !c->paused &&
	    c->out.len < c->env->limits.max_output_buffer);
	if (c->tls != NULL)
		conn_tls_kick(c);
	return 0;
}

/*
 * Close c after bad input, sending the replies to the good messages before
 * it and, where the bad one's call can be named, an error for it.
 */
static void
conn_fail(struct conn *c, const struct request_result *res, enum metrics_close_reason reason,
    const char *why)
{
	char	method[CONN_METHOD_LEN + 1];
	size_t	written;

	if (res != NULL && res->call.method_len > 0)
		log_limited(&conn_bad_input_rl, LOG_LEVEL_WARNING,
		    "%s: closing connection (%s, method '%s'): %s", c->peer,
		    transport_name(&c->transport), proto_text(res->call.method,
		    res->call.method_len, method, sizeof method), why);
	else
		log_limited(&conn_bad_input_rl, LOG_LEVEL_WARNING,
		    "%s: closing connection (%s): %s", c->peer,
		    transport_name(&c->transport), why);
	if (res != NULL)
		(void)request_error_reply(res, &c->env->reply);
	if (c->out.len == 0 && c->env->reply.len > 0)
		(void)conn_write_some(c, c->env->reply.data, c->env->reply.len, &written);
	c->env->reply.len = 0;
	conn_close(c, reason);
}

/* Hold on to input until its message is complete; at most one message and a read. */
static int
conn_keep_input(struct conn *c, const uint8_t *data, size_t len)
{
	c->in.limit = c->env->limits.dispatch.max_message_size + c->env->scratch_len;
	return buf_append(&c->in, data, len);
}

/*
 * Decode and answer the messages in data[0..len), which lies where `input`
 * says, keep what is left over, and flush.  -1 if c is gone.
 */
int
conn_process(struct conn *c, enum conn_input input, const uint8_t *data, size_t len)
{
	struct conn_loop		*env = c->env;
	struct request_result	 res;
	const char		*error = NULL;
	size_t			 off = 0, took;
	unsigned		 calls;
	uint64_t		 started_ns = 0;

	c->paused = false;
	c->need = 0;
	if (env->metrics != NULL)
		started_ns = conn_now_ns();
	while (off < len) {
		/*
		 * Replies past max_output_buffer go to the socket now; only
		 * if it won't take them does decoding wait for it to drain.
		 */
		if (c->out.len + env->reply.len >= env->limits.max_output_buffer) {
			if (conn_send_replies(c) != 0)
				return -1;
			if (c->out.len >= env->limits.max_output_buffer) {
				c->paused = true;
				break;
			}
			if (env->metrics != NULL)
				started_ns = conn_now_ns();	/* the send is not the next call's time */
		}
		if (c->transport.kind == TRANSPORT_UNKNOWN) {
			enum proto_status st = transport_detect(data + off, len - off,
			    &c->transport, &error);

			if (st == PROTO_NEED_MORE)
				break;
			if (st != PROTO_OK) {
				if (c->tls == NULL && tls_detect_hello(data + off, len - off) ==
				    TLS_HELLO_YES)
					error = "a TLS handshake on a port without TLS (its listen "
					    "line does not say 'tls')";
				conn_fail(c, NULL, METRICS_CLOSE_PROTOCOL_ERROR, error);
				return -1;
			}
			log_debug("%s: speaks %s", c->peer, transport_name(&c->transport));
		}
		/* As many calls as come whole, or one at a time when each is timed. */
		calls = request_run(&c->transport, data + off, len - off, &env->limits.dispatch,
		    &env->reply, env->limits.max_output_buffer - c->out.len,
		    env->metrics != NULL ? 1 : UINT_MAX, &took, &res);
		off += took;
		env->requests += calls;
		if (env->metrics != NULL && calls > 0) {
			/* One clock read per call: each call starts where the last one ended. */
			uint64_t now_ns = conn_now_ns();

			conn_count_call(env->metrics, &res, now_ns - started_ns);
			started_ns = now_ns;
		}
		if (res.status == PROTO_NEED_MORE) {
			c->need = res.need;
			break;
		}
		if (res.status != PROTO_OK) {
			conn_fail(c, &res, res.status == PROTO_TOO_BIG ? METRICS_CLOSE_LIMIT :
			    METRICS_CLOSE_PROTOCOL_ERROR, res.error ? res.error : "malformed message");
			return -1;
		}
	}
	if (off > 0)
		shed_touch(&env->shed, &c->shed);	/* a call completed: the newest */

	/* Keep the unfinished tail; the scratch buffer is reused by the next read. */
	if (input == CONN_INPUT_KEPT) {
		buf_consume(&c->in, off);
	} else if (off < len && conn_keep_input(c, data + off, len - off) != 0) {
		conn_fail(c, NULL, METRICS_CLOSE_LIMIT, "input over its limit");
		return -1;
	}
	if (c->in.len == 0) {
		buf_shrink(&c->in, 0);
	} else if (off > 0 || input == CONN_INPUT_SCRATCH) {
		/* A new unfinished message: message_timeout counts from now. */
		c->message_started_ms = c->last_active_ms;
	}
	return conn_flush(c);
}

static void
conn_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;

	(void)what;
	if (c->tls != NULL && conn_tls_on_read(c))
		return;
	(void)conn_read(c, fd);
}

int
conn_read(struct conn *c, int fd)
{
	struct conn_loop	*env = c->env;
	size_t		 want = env->scratch_len;
	ssize_t		 n;

	if (c->lingering)
		return conn_discard(c) < 0 ? -1 : 0;
	if (c->tls != NULL && c->handshaking)
		return conn_tls_handshake(c);
	if (c->finishing && c->input_left < want) {
		if (c->input_left == 0)
			return 0;
		want = c->input_left;
	}
	if (c->tls == NULL) {
		n = sock_recv(fd, env->scratch, want, 0);
	} else if ((n = conn_tls_read(c, env->scratch, want)) == CONN_TLS_FAILED) {
		conn_close(c, errno == EPROTO ? METRICS_CLOSE_PROTOCOL_ERROR :
		    conn_io_close_reason(errno));
		return -1;
	}
	if (n > 0) {
		c->last_active_ms = conn_activity_ms();
		if (c->finishing)
			c->input_left -= (size_t)n;
		if (env->metrics != NULL)
			metrics_add(&env->metrics->bytes_received, (uint64_t)n);
	}
	if (n < 0) {
		int err = errno;

		if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR)
			return c->tls == NULL || !conn_input_done(c) || conn_flush(c) == 0 ? 0 : -1;
		log_limited(&conn_error_rl, LOG_LEVEL_INFO, "%s: read failed: %s", c->peer,
		    strerror(err));
		conn_close(c, conn_io_close_reason(err));
		return -1;
	}
	if (n == 0) {
		/* Half-close: answer what has arrived, then close. */
		c->eof = true;
		conn_set_reading(c, false);
		return conn_flush(c);
	}
	if (c->proxy_header)
		return conn_proxy_input(c, env->scratch, (size_t)n);
	if (c->in.len == 0)
		return conn_process(c, CONN_INPUT_SCRATCH, env->scratch, (size_t)n) == 0 ? 1 : -1;
	if (conn_keep_input(c, env->scratch, (size_t)n) != 0) {
		conn_fail(c, NULL, METRICS_CLOSE_LIMIT, "input over its limit");
		return -1;
	}
	if (c->in.len < c->need)
		return !conn_input_done(c) || conn_flush(c) == 0 ? 1 : -1;
	return conn_process(c, CONN_INPUT_KEPT, c->in.data, c->in.len) == 0 ? 1 : -1;
}


static void
conn_on_write(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;
	size_t		 written;

	(void)fd;
	(void)what;
	if (c->tls != NULL && conn_tls_on_write(c))
		return;
	if (conn_write_some(c, c->out.data, c->out.len, &written) != 0) {
		conn_close(c, conn_io_close_reason(errno));
		return;
	}
	buf_consume(&c->out, written);
	if (c->out.len == 0)
		buf_shrink(&c->out, 0);
	if (c->paused && c->out.len < c->env->limits.max_output_buffer) {
		(void)conn_process(c, CONN_INPUT_KEPT, c->in.data, c->in.len);
		return;
	}
	(void)conn_flush(c);
}
