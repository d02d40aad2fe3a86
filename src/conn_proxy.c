/*
 * conn_proxy: a connection's PROXY protocol header, on a listener marked
 * "proxy": collected (at most PROXY_V2_MAX_LEN bytes, within
 * message_timeout of the accept) before anything else, the client's
 * address taken from it, then what followed it served (or, on a "tls"
 * line too, handed to the TLS session as the start of its stream).
 */
#include <stdio.h>
#include <string.h>

#include "conn_private.h"
#include "proxy.h"

static struct log_ratelimit conn_proxy_rl;

/*
 * Collect the PROXY header in c->in; once it is whole, take the client's
 * address from it, drop it and serve what came after it.  One log line
 * for a header that is not one.  -1 if c is gone.
 */
int
conn_proxy_input(struct conn *c, const uint8_t *data, size_t len)
{
	struct proxy_result	res;
	char			via[CONN_PEER_LEN];

	/* The parser turns BAD past PROXY_V2_MAX_LEN; this holds one read more. */
	c->in.limit = PROXY_V2_MAX_LEN + c->env->scratch_len;
	if (buf_append(&c->in, data, len) != 0) {
		log_limited(&conn_error_rl, LOG_LEVEL_ERROR,
		    "%s: out of memory for a PROXY header, closing", c->peer);
		conn_close(c, METRICS_CLOSE_ERROR);
		return -1;
	}
	switch (proxy_parse(c->in.data, c->in.len, &res)) {
	case PROXY_NEED_MORE:
		return !conn_input_done(c) || conn_flush(c) == 0 ? 1 : -1;
	case PROXY_BAD:
		log_limited(&conn_proxy_rl, LOG_LEVEL_WARNING,
		    "%s: closing connection: bad PROXY protocol header: %s", c->peer, res.error);
		conn_close(c, METRICS_CLOSE_PROTOCOL_ERROR);
		return -1;
	case PROXY_DONE:
		break;
	}
	c->proxy_header = false;
	buf_consume(&c->in, res.len);
	if (res.addresses) {
		(void)snprintf(via, sizeof via, "%s", c->peer);
		conn_set_peer(c, (const struct sockaddr *)&res.src, res.addr_len, true);
		log_debug("%s: connected through %s (PROXY v%u)", c->peer, via, res.version);
	} else {
		log_debug("%s: PROXY v%u %s header, no client address", c->peer, res.version,
		    res.command == PROXY_CMD_LOCAL ? "LOCAL" : "PROXY");
	}
	if (c->tls_after_proxy) {
		/* What followed the header begins the TLS stream: the session takes it. */
		if (conn_tls_start(c, c->in.data, c->in.len) != 0)
			return -1;
		buf_consume(&c->in, c->in.len);
		buf_shrink(&c->in, 0);
		return conn_tls_handshake(c) == 0 ? 1 : -1;
	}
		if (c->in.len == 0) {
		buf_shrink(&c->in, 0);
		return conn_flush(c) == 0 ? 1 : -1;
	}
	/* What followed the header starts the first message now. */
	c->message_started_ms = c->last_active_ms;
	return conn_process(c, CONN_INPUT_KEPT, c->in.data, c->in.len) == 0 ? 1 : -1;
}

/* For the sweep: close c if its PROXY header is overdue (message_timeout from the accept). */
bool
conn_proxy_overdue(struct conn *c, uint64_t now)
{
	uint64_t limit = c->env->limits.message_timeout_ms;

	if (!c->proxy_header || limit == 0 || now - c->message_started_ms < limit)
		return false;
	log_limited(&conn_proxy_rl, LOG_LEVEL_WARNING,
	    "%s: closing connection: no whole PROXY protocol header within message_timeout "
	    "(%zu bytes of it arrived)", c->peer, c->in.len);
	conn_close(c, METRICS_CLOSE_MESSAGE_TIMEOUT);
	return true;
}
